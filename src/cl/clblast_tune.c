/* CLBlast's own tuning, applied per device (docs/tuning.md).
 *
 * CLBlast's tuners (Debian: clblast-utils; scripts/tune-clblast.sh runs them) write their best
 * parameters as JSON: "kernel_family" ("xgemm_2", "xgemm_direct_1", "copy", ...), "precision"
 * ("32"), "best_time" (ms), "best_parameters" ("GEMMK=0 KREG=1 KWG=32 ... PRECISION=32 ...")
 * and the device's "device" name. CLBlast's built-in database lacks many devices, so the files
 * of a context's device, <cache_dir>/clblast/<key>/ *.json, are handed to
 * CLBlastOverrideParameters when the context is created.
 *
 * An override lives in CLBlast's process-wide database entry for (device, kernel, precision),
 * and the next routine call compiles with it. CLBlast's C API can neither read nor reset that
 * entry (RetrieveParameters is C++ only; CLBlastClearCache drops compiled programs, not
 * parameters), so a set cannot be taken back once applied. Hence:
 *  - only the kernels of CLBlast's GEMM routines are applied (Xgemm, XgemmDirect, Copy, Pad,
 *    Transpose, Padtranspose, GemmRoutine), in single precision: what libclssd runs. Any other
 *    file, and any file that does not parse, is skipped with a warning. CLBlast itself refuses
 *    a set that lacks one of the kernel's parameters; a name it does not know it ignores, and
 *    such names are reported;
 *  - of several files for one kernel (xgemm_1, _2, _11 and _12 of one tuner run) the lowest
 *    best_time wins, as in CLBlast's own database script;
 *  - after applying, CLBlastSgemm is checked once against the host on each of its two paths:
 *    the direct kernel (below XGEMM_MIN_INDIRECT_SIZE^3 multiply-adds) at 67x45x33, and the
 *    indirect kernel with its copy/pad/transpose helpers at the smallest odd cube that takes it
 *    (about XGEMM_MIN_INDIRECT_SIZE: 897 with CLBlast 1.5.3 on PoCL; a device's own switch
 *    point grows with its speed, so the check costs about the same everywhere), with
 *    small-integer data so the expected result is exact. A set that fails to build or run, or
 *    computes wrong, fails context creation with CLSSD_ERR_KERNEL_BUILD and a message naming
 *    its files, which are renamed to *.json.rejected: the next process starts on CLBlast's own
 *    parameters. While a *.rejected file is there the check runs even when nothing was applied,
 *    so a later context of the process that still holds the bad set fails too, never computes
 *    wrong.
 * No cache directory, or no tuning directory for the device: nothing but one opendir(). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <clblast_c.h>

#include "clssd_internal.h"
#include "json.h"

#define MAX_FILES 64
#define MAX_PARAMS 32
#define NAME_LEN 48               /* a parameter name */
#define FILE_LEN 256              /* a file name in the tuning directory */
#define MAX_FILE_BYTES (8L << 20) /* the tuner's files with every result are ~150 KB */
#define MAX_CHECK_CUBE 2049       /* largest indirect-path check, 2049^3 multiply-adds */

enum { PATH_DIRECT = 0, PATH_INDIRECT = 1, PATH_NONE = 2 };

typedef struct kernel_map {
    const char *family; /* the tuner's kernel_family, less a "_<variation>" suffix */
    const char *kernel; /* CLBlast's kernel name for CLBlastOverrideParameters */
    int path;           /* the SGEMM path whose check covers it */
} kernel_map;

static const kernel_map kernels[] = {
    {"xgemm", "Xgemm", PATH_INDIRECT},
    {"xgemm_direct", "XgemmDirect", PATH_DIRECT},
    {"copy", "Copy", PATH_INDIRECT},
    {"pad", "Pad", PATH_INDIRECT},
    {"transpose", "Transpose", PATH_INDIRECT},
    {"padtranspose", "Padtranspose", PATH_INDIRECT},
    {"gemm_routine", "GemmRoutine", PATH_NONE}, /* picks the path; both are checked */
};
#define N_KERNELS (sizeof kernels / sizeof kernels[0])

typedef struct param_set {
    int used;
    char file[FILE_LEN];
    double best_time; /* ms; 1e300 when the file has none */
    size_t n;
    char names[MAX_PARAMS][NAME_LEN];
    size_t values[MAX_PARAMS];
} param_set;

void clssd__clblast_tune_dir(const char *cache_dir, cl_platform_id platform, cl_device_id device,
                             char *out, size_t size)
{
    char hex[65];
    clssd__device_key(platform, device, "clssd-clblast-v1", hex);
    snprintf(out, size, "%s/clblast/%s", cache_dir, hex);
}

static const char *blast_status_name(int st)
{
    switch (st) {
    case CLBlastOpenCLBuildProgramFailure:
        return "the kernels do not build";
    case CLBlastOpenCLOutOfResources:
        return "out of resources (CL_OUT_OF_RESOURCES)";
    case CLBlastInvalidLocalThreadsTotal:
        return "too many work-items per group";
    case CLBlastInvalidLocalThreadsDim:
        return "a work-group dimension is too large";
    case CLBlastInvalidLocalMemUsage:
        return "not enough local memory";
    case CLBlastMissingOverrideParameter:
        return "a parameter of the kernel is missing (misspelt, or another CLBlast version)";
    case CLBlastInvalidOverrideKernel:
        return "not a kernel CLBlast can override";
    default:
        return "CLBlast error";
    }
}

/* ---------------------------------------------------------------- reading one file */
static const char *json_string(const clssd_json *root, const char *key)
{
    const clssd_json *v = clssd__json_get(root, key);
    return v && v->type == CLSSD_JSON_STRING ? v->string : NULL;
}

/* A non-negative decimal ("0.04", "12") as the tuner writes it, locale-independent. */
static int parse_ms(const char *s, double *out)
{
    double v = 0, scale = 1;
    int digits = 0, frac = 0;
    for (; *s; s++) {
        if (*s == '.' && !frac) {
            frac = 1;
            continue;
        }
        if (*s < '0' || *s > '9') return 0;
        if (frac) {
            scale /= 10;
            v += scale * (*s - '0');
        } else {
            v = v * 10 + (*s - '0');
        }
        digits++;
    }
    if (!digits) return 0;
    *out = v;
    return 1;
}

/* "NAME=VALUE NAME=VALUE ..." into set (PRECISION dropped: it is the tuner's, no kernel's).
 * Returns 0 with why filled when it does not parse. */
static int parse_params(const char *s, param_set *set, char *why, size_t why_size)
{
    static const char name_chars[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_";
    set->n = 0;
    for (const char *p = s;;) {
        while (*p == ' ')
            p++;
        if (!*p) break;
        const char *name = p;
        const size_t nl = strspn(name, name_chars);
        if (nl == 0 || nl >= NAME_LEN || name[nl] != '=') {
            snprintf(why, why_size, "best_parameters: expected NAME=VALUE at \"%.24s\"", name);
            return 0;
        }
        const char *v = name + nl + 1;
        const size_t vl = strspn(v, "0123456789");
        if (vl == 0 || vl > 9 || (v[vl] && v[vl] != ' ')) {
            snprintf(why, why_size, "best_parameters: %.*s needs a whole number up to 9 digits",
                     (int)nl, name);
            return 0;
        }
        size_t value = 0;
        for (size_t i = 0; i < vl; i++)
            value = value * 10 + (size_t)(v[i] - '0');
        p = v + vl;
        if (nl == 9 && !strncmp(name, "PRECISION", 9)) continue;
        for (size_t i = 0; i < set->n; i++)
            if (strlen(set->names[i]) == nl && !strncmp(set->names[i], name, nl)) {
                snprintf(why, why_size, "best_parameters: %s given twice", set->names[i]);
                return 0;
            }
        if (set->n == MAX_PARAMS) {
            snprintf(why, why_size, "best_parameters: more than %d parameters", MAX_PARAMS);
            return 0;
        }
        memcpy(set->names[set->n], name, nl);
        set->names[set->n][nl] = '\0';
        set->values[set->n] = value;
        set->n++;
    }
    if (set->n == 0) {
        snprintf(why, why_size, "best_parameters: no parameters");
        return 0;
    }
    return 1;
}

/* Reads <dir>/<name> into set and *kernel. Returns CLSSD_OK with *kernel = -1 when the file is
 * skipped (and logged); only running out of memory is an error. */
static clssd_status read_set(clssd_context *ctx, const char *dir, const char *name, param_set *set,
                             int *kernel)
{
    char path[1024], why[320] = "";
    char *text = NULL;
    clssd_json *root = NULL;
    clssd_status s = CLSSD_OK;
    *kernel = -1;
    memset(set, 0, sizeof *set);
    snprintf(set->file, sizeof set->file, "%s", name);
    snprintf(path, sizeof path, "%s/%s", dir, name);

    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(why, sizeof why, "not a readable file");
        goto skip;
    }
    if (st.st_size > MAX_FILE_BYTES) {
        snprintf(why, sizeof why, "larger than %ld bytes", MAX_FILE_BYTES);
        goto skip;
    }
    const size_t len = (size_t)st.st_size;
    text = clssd__malloc(len + 1);
    if (!text) return CLSSD_ERR_OUT_OF_MEMORY;
    FILE *f = fopen(path, "rb");
    const size_t got = f ? fread(text, 1, len, f) : 0;
    if (f) fclose(f);
    if (!f || got != len) {
        snprintf(why, sizeof why, "cannot be read");
        goto skip;
    }
    char jerr[200] = "";
    s = clssd__json_parse(text, len, &root, jerr, sizeof jerr);
    if (s == CLSSD_ERR_OUT_OF_MEMORY) goto done;
    s = CLSSD_OK;
    if (!root) {
        snprintf(why, sizeof why, "not JSON: %s", jerr);
        goto skip;
    }
    if (root->type != CLSSD_JSON_OBJECT) {
        snprintf(why, sizeof why, "not a JSON object");
        goto skip;
    }

    /* kernel_family: "xgemm_12" is Xgemm, tuner variation 12 */
    const char *family = json_string(root, "kernel_family");
    if (!family) {
        snprintf(why, sizeof why, "no \"kernel_family\" string");
        goto skip;
    }
    size_t flen = strlen(family), base = flen;
    while (base > 0 && family[base - 1] >= '0' && family[base - 1] <= '9')
        base--;
    if (base < flen && base > 1 && family[base - 1] == '_') flen = base - 1;
    int k = -1;
    for (size_t i = 0; i < N_KERNELS && k < 0; i++)
        if (strlen(kernels[i].family) == flen && !strncmp(kernels[i].family, family, flen))
            k = (int)i;
    if (k < 0) {
        snprintf(why, sizeof why,
                 "kernel family \"%.60s\" is none libclssd applies (xgemm, xgemm_direct, copy, "
                 "pad, transpose, padtranspose, gemm_routine)",
                 family);
        goto skip;
    }

    /* precision: "32" (the tuner writes a string), or the number */
    const clssd_json *prec = clssd__json_get(root, "precision");
    int64_t pbits = 0;
    if (prec && prec->type == CLSSD_JSON_STRING) {
        char *end = NULL;
        const long v = strtol(prec->string, &end, 10);
        if (end && end != prec->string && !*end) pbits = v;
    } else if (prec) {
        clssd__json_int(prec, &pbits);
    }
    if (pbits != 32) {
        snprintf(why, sizeof why, "precision %lld: libclssd runs single precision (32) only",
                 (long long)pbits);
        goto skip;
    }

    /* tuned on this device? (the directory says so; a file copied by hand may not) */
    const char *tuned_on = json_string(root, "device");
    if (tuned_on) {
        char dn[256] = "";
        clGetDeviceInfo(ctx->device, CL_DEVICE_NAME, sizeof dn - 1, dn, NULL);
        if (strcmp(tuned_on, dn) != 0) {
            snprintf(why, sizeof why, "tuned on \"%.80s\", this device is \"%.80s\"", tuned_on, dn);
            goto skip;
        }
    }

    const char *params = json_string(root, "best_parameters");
    if (!params) {
        snprintf(why, sizeof why, "no \"best_parameters\" string");
        goto skip;
    }
    if (!parse_params(params, set, why, sizeof why)) goto skip;

    set->best_time = 1e300;
    const clssd_json *bt = clssd__json_get(root, "best_time");
    if (bt && bt->type == CLSSD_JSON_NUMBER && bt->number >= 0)
        set->best_time = bt->number;
    else if (bt && bt->type == CLSSD_JSON_STRING)
        parse_ms(bt->string, &set->best_time);
    set->used = 1;
    *kernel = k;
    goto done;
skip:
    clssd__log(ctx, CLSSD_LOG_WARN, "CLBlast tuning: %s/%s skipped: %s", dir, name, why);
done:
    clssd__json_free(root);
    clssd__free(text);
    return s;
}

/* ---------------------------------------------------------------- applying */
static int apply_set(clssd_context *ctx, const char *dir, int k, const param_set *set)
{
    const char *names[MAX_PARAMS];
    size_t values[MAX_PARAMS];
    for (size_t i = 0; i < set->n; i++)
        names[i] = set->names[i];
    CLBlastStatusCode st = CLBlastOverrideParameters(
        ctx->device, kernels[k].kernel, CLBlastPrecisionSingle, set->n, names, set->values);
    if (st != CLBlastSuccess) {
        clssd__log(ctx, CLSSD_LOG_WARN,
                   "CLBlast tuning: %s/%s skipped: CLBlast refuses it for %s: %s (%d)", dir,
                   set->file, kernels[k].kernel, blast_status_name(st), (int)st);
        return 0;
    }
    /* CLBlast ignores names its kernel does not have. One is found by leaving it out: the
     * call still succeeds (and sets the same values again); leaving out a real one fails
     * with a missing parameter and changes nothing. */
    for (size_t skip = 0; skip < set->n && set->n > 1; skip++) {
        size_t m = 0;
        for (size_t i = 0; i < set->n; i++) {
            if (i == skip) continue;
            names[m] = set->names[i];
            values[m] = set->values[i];
            m++;
        }
        if (CLBlastOverrideParameters(ctx->device, kernels[k].kernel, CLBlastPrecisionSingle, m,
                                      names, values) == CLBlastSuccess)
            clssd__log(ctx, CLSSD_LOG_WARN,
                       "CLBlast tuning: %s/%s: %s is no parameter of CLBlast's %s: ignored", dir,
                       set->file, set->names[skip], kernels[k].kernel);
    }
    return 1;
}

/* ---------------------------------------------------------------- the check */
/* Whether CLBlastSgemm takes the indirect path for an m x n x k row-major product: the
 * indirect path pads odd sizes and so needs a temporary buffer, the direct one never does. */
static clssd_status takes_indirect(clssd_context *ctx, size_t m, size_t n, size_t k, int *out)
{
    size_t temp = 0;
    CLBlastStatusCode st =
        CLBlastSGemmTempBufferSize(CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeNo, m,
                                   n, k, 0, k, 0, n, 0, n, &ctx->queue, &temp);
    if (st != CLBlastSuccess)
        return CLSSD_FAIL(ctx, (clssd_status)st, "CLBlastSGemmTempBufferSize -> %d", (int)st);
    *out = temp > 0;
    return CLSSD_OK;
}

/* C = A B through CLBlastSgemm (row-major; A m x k, B k x n, entries in -2..2 so every sum is
 * exact) against the host: all of C when small, else its border rows and columns and 4096
 * random entries. CLSSD_ERR_KERNEL_BUILD with why filled when CLBlast fails or is wrong; any
 * other failure is one of the check itself (memory, transfers). */
static clssd_status check_gemm(clssd_context *ctx, size_t m, size_t n, size_t k, const char *path,
                               char *why, size_t why_size)
{
    size_t na = 0, nb = 0, nc = 0, bytes_a = 0, bytes_b = 0, bytes_c = 0;
    if (!clssd__mul_size(m, k, &na) || !clssd__mul_size(k, n, &nb) || !clssd__mul_size(m, n, &nc) ||
        !clssd__mul_size(na, sizeof(float), &bytes_a) ||
        !clssd__mul_size(nb, sizeof(float), &bytes_b) ||
        !clssd__mul_size(nc, sizeof(float), &bytes_c))
        return CLSSD_ERR_OUT_OF_MEMORY;
    float *a = clssd__malloc(bytes_a), *b = clssd__malloc(bytes_b), *c = clssd__malloc(bytes_c);
    cl_mem da = NULL, db = NULL, dc = NULL;
    clssd_status s = CLSSD_OK;
    if (!a || !b || !c) {
        s = CLSSD_ERR_OUT_OF_MEMORY;
        goto done;
    }
    clssd_rng rng;
    clssd__rng_seed(&rng, 0x5eedc1b1a57ull + m * 31 + n * 7 + k);
    for (size_t i = 0; i < na; i++)
        a[i] = (float)((int)(clssd__rng_u64(&rng) % 5) - 2);
    for (size_t i = 0; i < nb; i++)
        b[i] = (float)((int)(clssd__rng_u64(&rng) % 5) - 2);
    for (size_t i = 0; i < nc; i++)
        c[i] = 7777.0f; /* left there by an unwritten tile */
    if ((s = clssd__buffer(ctx, bytes_a, CL_MEM_READ_WRITE, &da)) != CLSSD_OK ||
        (s = clssd__buffer(ctx, bytes_b, CL_MEM_READ_WRITE, &db)) != CLSSD_OK ||
        (s = clssd__buffer(ctx, bytes_c, CL_MEM_READ_WRITE, &dc)) != CLSSD_OK)
        goto done;
    cl_int e = clEnqueueWriteBuffer(ctx->queue, da, CL_FALSE, 0, bytes_a, a, 0, NULL, NULL);
    if (e == CL_SUCCESS)
        e = clEnqueueWriteBuffer(ctx->queue, db, CL_FALSE, 0, bytes_b, b, 0, NULL, NULL);
    if (e == CL_SUCCESS)
        e = clEnqueueWriteBuffer(ctx->queue, dc, CL_TRUE, 0, bytes_c, c, 0, NULL, NULL);
    if (e != CL_SUCCESS) {
        s = CLSSD_FAIL(ctx, (clssd_status)e, "clEnqueueWriteBuffer -> %s", clssd__cl_error_name(e));
        goto done;
    }
    CLBlastStatusCode st =
        CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeNo, m, n, k, 1.0f,
                     da, 0, k, db, 0, n, 0.0f, dc, 0, n, &ctx->queue, NULL);
    if (st == CLBlastTempBufferAllocFailure || st == CLBlastOpenCLOutOfHostMemory) {
        s = CLSSD_FAIL(ctx, (clssd_status)st, "CLBlastSgemm %zux%zux%zu -> %d", m, n, k, (int)st);
        goto done;
    }
    if (st != CLBlastSuccess) {
        snprintf(why, why_size, "CLBlastSgemm %zux%zux%zu (%s path): %s (%d)", m, n, k, path,
                 blast_status_name(st), (int)st);
        s = CLSSD_ERR_KERNEL_BUILD;
        goto done;
    }
    e = clEnqueueReadBuffer(ctx->queue, dc, CL_TRUE, 0, bytes_c, c, 0, NULL, NULL);
    if (e != CL_SUCCESS) {
        /* a kernel that faults shows here (NVIDIA: CL_OUT_OF_RESOURCES) */
        snprintf(why, why_size, "CLBlastSgemm %zux%zux%zu (%s path): reading the result -> %s", m,
                 n, k, path, clssd__cl_error_name(e));
        s = CLSSD_ERR_KERNEL_BUILD;
        goto done;
    }
    const int all = nc <= ((size_t)1 << 24) / k; /* host work m*n*k up to 16 M */
    const size_t n_checks = all ? nc : 2 * (m + n) + 4096;
    for (size_t t = 0; t < n_checks; t++) {
        size_t i, j;
        if (all) {
            i = t / n;
            j = t % n;
        } else if (t < 2 * n) { /* first and last row */
            i = t < n ? 0 : m - 1;
            j = t % n;
        } else if (t < 2 * (m + n)) { /* first and last column */
            i = (t - 2 * n) % m;
            j = t - 2 * n < m ? 0 : n - 1;
        } else {
            i = (size_t)(clssd__rng_u64(&rng) % m);
            j = (size_t)(clssd__rng_u64(&rng) % n);
        }
        float want = 0.0f;
        for (size_t q = 0; q < k; q++)
            want += a[i * k + q] * b[q * n + j];
        const float got = c[i * n + j], d = got - want;
        if (!(d <= 0.25f && d >= -0.25f)) {
            snprintf(why, why_size,
                     "CLBlastSgemm %zux%zux%zu (%s path) computes wrong: "
                     "C[%zu][%zu] = %g, expected %g",
                     m, n, k, path, i, j, (double)got, (double)want);
            s = CLSSD_ERR_KERNEL_BUILD;
            goto done;
        }
    }
done:
    if (da) clReleaseMemObject(da);
    if (db) clReleaseMemObject(db);
    if (dc) clReleaseMemObject(dc);
    clssd__free(a);
    clssd__free(b);
    clssd__free(c);
    return s;
}

/* Checks both SGEMM paths; on CLSSD_ERR_KERNEL_BUILD *failed is the path and why says how.
 * shapes_out describes what was checked. */
static clssd_status check_paths(clssd_context *ctx, int *failed, char *why, size_t why_size,
                                char *shapes_out, size_t shapes_size)
{
    shapes_out[0] = '\0';
    size_t used = 0;
    /* direct: 67x45x33, or a smaller one when even that is indirect */
    static const size_t direct[2][3] = {{67, 45, 33}, {7, 5, 3}};
    for (int i = 0; i < 2; i++) {
        int ind = 0;
        CLSSD_TRY(takes_indirect(ctx, direct[i][0], direct[i][1], direct[i][2], &ind));
        if (ind) continue;
        clssd_status s =
            check_gemm(ctx, direct[i][0], direct[i][1], direct[i][2], "direct", why, why_size);
        if (s == CLSSD_ERR_KERNEL_BUILD) *failed = PATH_DIRECT;
        if (s != CLSSD_OK) return s;
        int w = snprintf(shapes_out, shapes_size, "%zux%zux%zu (direct)", direct[i][0],
                         direct[i][1], direct[i][2]);
        if (w > 0) used = (size_t)w;
        break;
    }
    /* indirect: the smallest odd cube s = 2i+1 that takes it, s <= MAX_CHECK_CUBE */
    size_t lo = 0, hi = (MAX_CHECK_CUBE - 1) / 2;
    int ind = 0;
    CLSSD_TRY(takes_indirect(ctx, 2 * hi + 1, 2 * hi + 1, 2 * hi + 1, &ind));
    if (!ind) {
        if (used < shapes_size)
            snprintf(shapes_out + used, shapes_size - used,
                     "%sthe indirect path is not used below %d^3", used ? ", " : "",
                     MAX_CHECK_CUBE);
        return CLSSD_OK;
    }
    while (lo < hi) {
        const size_t mid = lo + (hi - lo) / 2, sz = 2 * mid + 1;
        CLSSD_TRY(takes_indirect(ctx, sz, sz, sz, &ind));
        if (ind)
            hi = mid;
        else
            lo = mid + 1;
    }
    const size_t sz = 2 * hi + 1;
    clssd_status s = check_gemm(ctx, sz, sz, sz, "indirect", why, why_size);
    if (s == CLSSD_ERR_KERNEL_BUILD) *failed = PATH_INDIRECT;
    if (s != CLSSD_OK) return s;
    if (used < shapes_size)
        snprintf(shapes_out + used, shapes_size - used, "%s%zux%zux%zu (indirect)",
                 used ? ", " : "", sz, sz, sz);
    return CLSSD_OK;
}

/* ---------------------------------------------------------------- the directory */
static int cmp_names(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static int ends_with(const char *s, const char *tail)
{
    const size_t n = strlen(s), t = strlen(tail);
    return n > t && !strcmp(s + n - t, tail);
}

clssd_status clssd__clblast_tune_apply(clssd_context *ctx)
{
    ctx->clblast_overrides = 0;
    if (!ctx->cache_dir[0]) return CLSSD_OK;
    char dir[700];
    clssd__clblast_tune_dir(ctx->cache_dir, ctx->platform, ctx->device, dir, sizeof dir);
    DIR *d = opendir(dir);
    if (!d) return CLSSD_OK;

    char(*files)[FILE_LEN] = clssd__calloc(MAX_FILES, FILE_LEN);
    param_set *sets = clssd__calloc(N_KERNELS, sizeof *sets);
    param_set *cand = clssd__calloc(1, sizeof *cand);
    clssd_status s = CLSSD_OK;
    if (!files || !sets || !cand) {
        closedir(d);
        s = CLSSD_ERR_OUT_OF_MEMORY;
        goto done;
    }
    int n_files = 0, n_rejected = 0;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        const char *name = ent->d_name;
        if (name[0] == '.') continue;
        if (ends_with(name, ".json.rejected")) n_rejected++;
        if (!ends_with(name, ".json")) continue;
        if (strlen(name) >= FILE_LEN || n_files == MAX_FILES) {
            clssd__log(ctx, CLSSD_LOG_WARN, "CLBlast tuning: %s/%.*s skipped: %s", dir,
                       FILE_LEN - 1, name,
                       n_files == MAX_FILES ? "more than 64 files" : "name too long");
            continue;
        }
        snprintf(files[n_files++], FILE_LEN, "%s", name);
    }
    closedir(d);
    qsort(files, (size_t)n_files, FILE_LEN, cmp_names);

    for (int f = 0; f < n_files; f++) {
        int k = -1;
        s = read_set(ctx, dir, files[f], cand, &k);
        if (s != CLSSD_OK) goto done;
        if (k < 0) continue;
        param_set *have = &sets[k];
        if (have->used && have->best_time <= cand->best_time) {
            clssd__log(ctx, CLSSD_LOG_INFO,
                       "CLBlast tuning: %s/%s not applied: %s is faster (%g ms against %g ms)", dir,
                       cand->file, have->file, have->best_time, cand->best_time);
            continue;
        }
        if (have->used)
            clssd__log(ctx, CLSSD_LOG_INFO,
                       "CLBlast tuning: %s/%s not applied: %s is faster (%g ms against %g ms)", dir,
                       have->file, cand->file, cand->best_time, have->best_time);
        *have = *cand;
    }

    char applied[512] = "";
    size_t used = 0;
    for (size_t k = 0; k < N_KERNELS; k++) {
        if (!sets[k].used) continue;
        if (!apply_set(ctx, dir, (int)k, &sets[k])) {
            sets[k].used = 0;
            continue;
        }
        ctx->clblast_overrides++;
        int w = used < sizeof applied ? snprintf(applied + used, sizeof applied - used, "%s%s (%s)",
                                                 used ? ", " : "", kernels[k].kernel, sets[k].file)
                                      : 0;
        if (w > 0) used += (size_t)w;
    }
    if (ctx->clblast_overrides == 0 && n_rejected == 0) goto done;

    int failed = PATH_NONE;
    char why[400] = "", shapes[160] = "";
    s = check_paths(ctx, &failed, why, sizeof why, shapes, sizeof shapes);
    if (s == CLSSD_OK) {
        if (ctx->clblast_overrides)
            clssd__log(ctx, CLSSD_LOG_INFO,
                       "CLBlast tuning: applied %s from %s; CLBlastSgemm checked at %s", applied,
                       dir, shapes);
        else
            clssd__log(ctx, CLSSD_LOG_INFO,
                       "CLBlast tuning: %s holds rejected files; CLBlast's own parameters pass "
                       "the check (%s): delete the *.rejected files to skip it",
                       dir, shapes);
        goto done;
    }
    if (s != CLSSD_ERR_KERNEL_BUILD) goto done; /* the check itself failed: ctx->err says */

    /* Rename the files of the failing path out of the way: the next process runs without. */
    char renamed[512] = "";
    used = 0;
    for (size_t k = 0; k < N_KERNELS; k++) {
        if (!sets[k].used || kernels[k].path != failed) continue;
        char from[1024], to[1040];
        snprintf(from, sizeof from, "%s/%s", dir, sets[k].file);
        snprintf(to, sizeof to, "%s.rejected", from);
        const int ok = rename(from, to) == 0;
        int w = used < sizeof renamed
                    ? snprintf(renamed + used, sizeof renamed - used, "%s%s%s", used ? ", " : "",
                               sets[k].file, ok ? "" : " (could not rename it)")
                    : 0;
        if (w > 0) used += (size_t)w;
    }
    if (renamed[0])
        s = CLSSD_FAIL(ctx, CLSSD_ERR_KERNEL_BUILD,
                       "CLBlast tuning in %s fails its check: %s. Renamed %s to *.rejected; "
                       "CLBlast keeps the parameters until this process ends",
                       dir, why, renamed);
    else /* nothing of this path applied here, yet it fails: */
        s = CLSSD_FAIL(ctx, CLSSD_ERR_KERNEL_BUILD,
                       "CLBlast tuning in %s: %s, with no file of that path applied. CLBlast "
                       "still holds parameters rejected earlier in this process (its C API "
                       "cannot reset them: restart it), or fails on this device by itself",
                       dir, why);
done:
    clssd__free(files);
    clssd__free(sets);
    clssd__free(cand);
    return s;
}
