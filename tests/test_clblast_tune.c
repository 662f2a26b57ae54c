/* CLBlast's tuning files in the cache directory (src/cl/clblast_tune.c, docs/tuning.md): no
 * directory does nothing; malformed, foreign and misspelt files are skipped with a warning; a
 * tuner's file (tests/data/clblast_xgemm_pocl.json, from scripts/tune-clblast.sh --quick on
 * PoCL, trimmed) is applied on both context paths and CLBlast still computes right; a set that
 * computes wrong fails context creation, is renamed away, and the next process runs clean.
 *
 * CLBlast keeps overrides for the whole process, so the tests run in this order in one process
 * and the one that applies a bad set comes last. */
#include <check.h>
#include <clblast_c.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clssd_cl.h"
#include "testutil.h"

static char g_dir[256];   /* the cache directory */
static char g_self[1024]; /* this program, for the child process of test_bad_set */
static char g_log[32768];
static int g_warns;

static void log_cb(int level, const char *msg, void *user)
{
    (void)user;
    if (level == CLSSD_LOG_WARN) g_warns++;
    if (getenv("CLSSD_TEST_LOG")) fprintf(stderr, "log %d: %s\n", level, msg);
    const size_t used = strlen(g_log);
    snprintf(g_log + used, sizeof g_log - used, "%d %s\n", level, msg);
}

static void log_reset(void)
{
    g_log[0] = '\0';
    g_warns = 0;
}

static clssd_status create(const char *cache_dir, clssd_context **ctx)
{
    clssd_context_params p;
    clssd_context_params_init(&p);
    p.cache_dir = cache_dir;
    p.log = log_cb;
    return clssd_context_create(&p, ctx);
}

static clssd_context *ctx_ok(void)
{
    clssd_context *ctx = NULL;
    clssd_status s = create(g_dir, &ctx);
    ck_assert_msg(s == CLSSD_OK, "context: %s; log:\n%s", clssd_status_string(s), g_log);
    return ctx;
}

/* The same device through the wrap-existing-queue path. */
static clssd_context *wrap(const clssd_context *ctx)
{
    clssd_context_params p;
    clssd_context_params_init(&p);
    p.cache_dir = g_dir;
    p.log = log_cb;
    clssd_context *w = NULL;
    ck_assert_int_eq(clssd_context_create_from_cl(ctx->cl, ctx->device, ctx->queue, &p, &w),
                     CLSSD_OK);
    return w;
}

static void tune_dir(const clssd_context *ctx, char *out, size_t size)
{
    clssd__clblast_tune_dir(g_dir, ctx->platform, ctx->device, out, size);
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

static int exists(const char *dir, const char *name)
{
    char path[1200];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

static void run(const char *cmd)
{
    ck_assert_msg(system(cmd) == 0, "%s", cmd);
}

static void empty_dir(const char *dir)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%.500s' && mkdir -p '%.500s'", dir, dir);
    run(cmd);
}

/* Whether CLBlastSgemm runs m x n x k through its indirect kernel (it pads odd sizes). */
static int indirect(clssd_context *ctx, size_t m, size_t n, size_t k)
{
    size_t temp = 0;
    ck_assert_int_eq(CLBlastSGemmTempBufferSize(CLBlastLayoutRowMajor, CLBlastTransposeNo,
                                                CLBlastTransposeNo, m, n, k, 0, k, 0, n, 0, n,
                                                &ctx->queue, &temp),
                     CLBlastSuccess);
    return temp > 0;
}

/* CLBlastSgemm on the context's queue against a host GEMM, random data. */
static void gemm_matches(clssd_context *ctx, size_t m, size_t n, size_t k)
{
    float *a = malloc(m * k * sizeof *a), *b = malloc(k * n * sizeof *b);
    float *c = malloc(m * n * sizeof *c);
    ck_assert(a && b && c);
    clssd_rng r;
    clssd__rng_seed(&r, m * 1000003u + n * 1009u + k);
    for (size_t i = 0; i < m * k; i++)
        a[i] = clssd__rng_range(&r, -1.0f, 1.0f);
    for (size_t i = 0; i < k * n; i++)
        b[i] = clssd__rng_range(&r, -1.0f, 1.0f);
    cl_int e = CL_SUCCESS;
    cl_mem da = clCreateBuffer(ctx->cl, CL_MEM_COPY_HOST_PTR, m * k * 4, a, &e);
    ck_assert_int_eq(e, CL_SUCCESS);
    cl_mem db = clCreateBuffer(ctx->cl, CL_MEM_COPY_HOST_PTR, k * n * 4, b, &e);
    ck_assert_int_eq(e, CL_SUCCESS);
    cl_mem dc = clCreateBuffer(ctx->cl, CL_MEM_READ_WRITE, m * n * 4, NULL, &e);
    ck_assert_int_eq(e, CL_SUCCESS);
    ck_assert_int_eq(CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeNo, m,
                                  n, k, 1.0f, da, 0, k, db, 0, n, 0.0f, dc, 0, n, &ctx->queue,
                                  NULL),
                     CLBlastSuccess);
    ck_assert_int_eq(clEnqueueReadBuffer(ctx->queue, dc, CL_TRUE, 0, m * n * 4, c, 0, NULL, NULL),
                     CL_SUCCESS);
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            double want = 0;
            for (size_t q = 0; q < k; q++)
                want += (double)a[i * k + q] * b[q * n + j];
            ck_assert_msg(fabs(c[i * n + j] - want) <= 1e-4 * (double)k,
                          "%zux%zux%zu: C[%zu][%zu] = %g, expected %g", m, n, k, i, j,
                          (double)c[i * n + j], want);
        }
    clReleaseMemObject(da);
    clReleaseMemObject(db);
    clReleaseMemObject(dc);
    free(a);
    free(b);
    free(c);
}

/* The parameters of tests/data/clblast_xgemm_pocl.json, for hand-made variants. */
static const char *const xgemm_params[] = {
    "GEMMK=0", "KREG=1", "KWG=32", "KWI=2", "MDIMA=32", "MDIMC=32", "MWG=128", "NDIMB=16",
    "NDIMC=8", "NWG=64", "SA=0",   "SB=0",  "STRM=0",   "STRN=1",   "VWM=2",   "VWN=2"};

/* A tuner-like file for Xgemm; `replace` ("MDIMC=32 ...") overrides listed parameters and
 * `extra` is appended. */
static void xgemm_file(const char *dir, const char *name, const char *family, const char *time,
                       const char *replace, const char *extra)
{
    char params[512] = "";
    for (size_t i = 0; i < sizeof xgemm_params / sizeof *xgemm_params; i++) {
        char key[16];
        snprintf(key, sizeof key, "%.*s=", (int)strcspn(xgemm_params[i], "="), xgemm_params[i]);
        const char *r = replace ? strstr(replace, key) : NULL;
        const size_t used = strlen(params);
        snprintf(params + used, sizeof params - used, "%s%.*s", used ? " " : "",
                 r ? (int)strcspn(r, " ") : (int)strlen(xgemm_params[i]), r ? r : xgemm_params[i]);
    }
    char text[1024];
    snprintf(text, sizeof text,
             "{\"kernel_family\": \"%s\", \"precision\": \"32\", \"best_kernel\": \"Xgemm\",\n"
             " \"best_time\": \"%s\", \"best_parameters\": \"%s PRECISION=32%s%s\"}\n",
             family, time, params, extra ? " " : "", extra ? extra : "");
    write_file(dir, name, text);
}

/* No tuning directory, or no cache directory: nothing is applied, nothing is said. */
START_TEST(test_no_dir)
{
    log_reset();
    clssd_context *ctx = ctx_ok();
    ck_assert_int_eq(ctx->clblast_overrides, 0);
    char dir[512];
    tune_dir(ctx, dir, sizeof dir);
    struct stat st;
    ck_assert_int_ne(stat(dir, &st), 0);
    /* CLBlast's own switch point is above 101^3 on every device its database knows (>= 128) */
    ck_assert(!indirect(ctx, 101, 101, 101));
    clssd_context *w = wrap(ctx);
    ck_assert_int_eq(w->clblast_overrides, 0);
    clssd_context_destroy(w);
    clssd_context_destroy(ctx);

    clssd_context *off = NULL;
    ck_assert_int_eq(create("off", &off), CLSSD_OK);
    ck_assert_int_eq(off->clblast_overrides, 0);
    clssd_context_destroy(off);
    ck_assert_int_eq(g_warns, 0);
}
END_TEST

/* Every bad file is skipped with a warning that names it; the context works. */
START_TEST(test_bad_files)
{
    clssd_context *probe = ctx_ok();
    char dir[512];
    tune_dir(probe, dir, sizeof dir);
    clssd_context_destroy(probe);
    empty_dir(dir);
    static const struct {
        const char *name, *text;
    } bad[] = {
        {"a_syntax.json", "{\"kernel_family\": \"xgemm_1\", \"precision\": \"32\",}"},
        {"b_family.json", "{\"kernel_family\": \"xfoo_1\", \"precision\": \"32\", "
                          "\"best_parameters\": \"KWG=16\"}"},
        {"d_double.json", "{\"kernel_family\": \"xgemm_1\", \"precision\": \"64\", "
                          "\"best_parameters\": \"KWG=16\"}"},
        {"e_otherdev.json", "{\"kernel_family\": \"xgemm_1\", \"precision\": \"32\", "
                            "\"device\": \"not this device\", \"best_parameters\": \"KWG=16\"}"},
        {"f_noparams.json", "{\"kernel_family\": \"xgemm_1\", \"precision\": \"32\"}"},
        {"g_badvalue.json", "{\"kernel_family\": \"xgemm_1\", \"precision\": \"32\", "
                            "\"best_parameters\": \"KWG=abc\"}"},
        {"h_array.json", "[1, 2]"},
        {"i_empty.json", ""},
        {"k_twice.json", "{\"kernel_family\": \"gemm_routine\", \"precision\": \"32\", "
                         "\"best_parameters\": \"XGEMM_MIN_INDIRECT_SIZE=64 "
                         "XGEMM_MIN_INDIRECT_SIZE=65\"}"},
    };
    const size_t n_bad = sizeof bad / sizeof bad[0];
    for (size_t i = 0; i < n_bad; i++)
        write_file(dir, bad[i].name, bad[i].text);
    /* KWG misspelt: every other name is right, CLBlast misses KWG and refuses the set */
    xgemm_file(dir, "c_misspelt.json", "xgemm_1", "1.0", "KWG=32", NULL);
    {
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "sed -i 's/KWG=32/KWGX=32/' '%s/c_misspelt.json'", dir);
        run(cmd);
    }
    write_file(dir, "notes.txt", "not a .json file: not read\n");
    {
        char sub[1100];
        snprintf(sub, sizeof sub, "%s/j_dir.json", dir);
        ck_assert_int_eq(mkdir(sub, 0755), 0);
    }

    log_reset();
    clssd_context *ctx = ctx_ok();
    ck_assert_int_eq(ctx->clblast_overrides, 0);
    ck_assert_msg(g_warns == (int)n_bad + 2, "%d warnings:\n%s", g_warns, g_log);
    for (size_t i = 0; i < n_bad; i++)
        ck_assert_msg(strstr(g_log, bad[i].name), "no warning names %s:\n%s", bad[i].name, g_log);
    ck_assert_msg(strstr(g_log, "c_misspelt.json skipped: CLBlast refuses"), "%s", g_log);
    ck_assert_msg(strstr(g_log, "j_dir.json skipped: not a readable file"), "%s", g_log);
    ck_assert_msg(strstr(g_log, "not JSON: line 1"), "%s", g_log);
    ck_assert_msg(strstr(g_log, "\"xfoo_1\" is none libclssd applies"), "%s", g_log);
    ck_assert_msg(strstr(g_log, "tuned on \"not this device\""), "%s", g_log);
    ck_assert(!strstr(g_log, "notes.txt"));
    ck_assert(!indirect(ctx, 101, 101, 101)); /* k_twice did not get through */
    gemm_matches(ctx, 67, 45, 33);

    log_reset();
    clssd_context *w = wrap(ctx);
    ck_assert_int_eq(w->clblast_overrides, 0);
    ck_assert_int_eq(g_warns, (int)n_bad + 2);
    clssd_context_destroy(w);
    clssd_context_destroy(ctx);
    empty_dir(dir);
}
END_TEST

/* A tuner's Xgemm file is applied; with a GemmRoutine file beside it CLBlast's switch point
 * moves (seen through CLBlastSGemmTempBufferSize), and both SGEMM paths compute right. */
START_TEST(test_valid)
{
    clssd_context *probe = ctx_ok();
    char dir[512], cmd[2400];
    tune_dir(probe, dir, sizeof dir);
    clssd_context_destroy(probe);
    empty_dir(dir);
    snprintf(cmd, sizeof cmd,
             "cp '%s/tests/data/clblast_xgemm_pocl.json' '%s/clblast_xgemm_2_32.json'",
             CLSSD_SOURCE_DIR, dir);
    run(cmd);

    log_reset();
    clssd_context *ctx = ctx_ok();
    ck_assert_msg(ctx->clblast_overrides == 1, "%d overrides; log:\n%s", ctx->clblast_overrides,
                  g_log);
    ck_assert_msg(g_warns == 0, "%s", g_log);
    ck_assert_msg(strstr(g_log, "applied Xgemm (clblast_xgemm_2_32.json)"), "%s", g_log);
    ck_assert_msg(strstr(g_log, "(indirect)"), "the indirect path was not checked:\n%s", g_log);
    gemm_matches(ctx, 67, 45, 33);
    clssd_context_destroy(ctx);

    /* + the switch point at 100 (and a name CLBlast does not know, which it ignores), + a
     * slower Xgemm result, which loses to the faster one */
    write_file(dir, "clblast_routine_gemm_32.json",
               "{\"kernel_family\": \"gemm_routine\", \"precision\": \"32\", \"best_time\": \"1\","
               " \"best_parameters\": \"XGEMM_MIN_INDIRECT_SIZE=100 FOO=1\"}");
    xgemm_file(dir, "clblast_xgemm_1_32.json", "xgemm_1", "99.5", "MWG=64", NULL);
    log_reset();
    ctx = ctx_ok();
    ck_assert_msg(ctx->clblast_overrides == 2, "%d overrides; log:\n%s", ctx->clblast_overrides,
                  g_log);
    ck_assert_msg(g_warns == 1 && strstr(g_log, "FOO is no parameter of CLBlast's GemmRoutine"),
                  "%s", g_log);
    ck_assert_msg(strstr(g_log, "clblast_xgemm_1_32.json not applied: clblast_xgemm_2_32.json "
                                "is faster"),
                  "%s", g_log);
    ck_assert_msg(strstr(g_log, "101x101x101 (indirect)"), "%s", g_log);
    ck_assert(indirect(ctx, 101, 101, 101));
    ck_assert(!indirect(ctx, 99, 99, 99));
    gemm_matches(ctx, 131, 97, 83); /* indirect: the tuned Xgemm with padding */
    gemm_matches(ctx, 37, 21, 9);   /* direct */
    clssd_context *w = wrap(ctx);
    ck_assert_int_eq(w->clblast_overrides, 2);
    gemm_matches(w, 131, 97, 83);
    clssd_context_destroy(w);
    clssd_context_destroy(ctx);
}
END_TEST

/* A set CLBlast accepts but that computes wrong (a tile MWG = 16 wide for MDIMC = 32 work-items
 * across: no work-item has a whole column to compute): context creation fails naming the file,
 * which becomes *.rejected; a second context in this process, whose CLBlast still holds the set,
 * fails too; a new process runs on CLBlast's own parameters. */
START_TEST(test_bad_set)
{
    clssd_context *probe = ctx_ok();
    char dir[512];
    tune_dir(probe, dir, sizeof dir);
    clssd_context_destroy(probe);
    empty_dir(dir);
    xgemm_file(dir, "clblast_xgemm_2_32.json", "xgemm_2", "0.1", "MDIMC=32 MDIMA=32 MWG=16", NULL);
    /* with the switch point at 100 the indirect check is cheap */
    write_file(dir, "clblast_routine_gemm_32.json",
               "{\"kernel_family\": \"gemm_routine\", \"precision\": \"32\", "
               "\"best_parameters\": \"XGEMM_MIN_INDIRECT_SIZE=100\"}");

    log_reset();
    clssd_context *ctx = NULL;
    ck_assert_int_eq(create(g_dir, &ctx), CLSSD_ERR_KERNEL_BUILD);
    ck_assert_ptr_null(ctx);
    ck_assert_msg(strstr(g_log, "fails its check") && strstr(g_log, "(indirect path)") &&
                      strstr(g_log, "Renamed clblast_xgemm_2_32.json to *.rejected"),
                  "%s", g_log);
    ck_assert(!exists(dir, "clblast_xgemm_2_32.json"));
    ck_assert(exists(dir, "clblast_xgemm_2_32.json.rejected"));
    ck_assert(exists(dir, "clblast_routine_gemm_32.json")); /* not to blame */

    log_reset();
    ck_assert_int_eq(create(g_dir, &ctx), CLSSD_ERR_KERNEL_BUILD);
    ck_assert_msg(strstr(g_log, "rejected earlier in this process"), "%s", g_log);

    /* A new process: GemmRoutine applied, the rejected Xgemm not, and CLBlast right. */
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "'%s' --child-create '%s'", g_self, g_dir);
    run(cmd);
}
END_TEST

/* The child of test_bad_set: a context on the cache directory argv[2] must come up with the
 * GemmRoutine file alone applied and compute right. */
static int child_create(const char *cache_dir)
{
    clssd_context *ctx = NULL;
    clssd_status s = create(cache_dir, &ctx);
    if (s != CLSSD_OK) {
        fprintf(stderr, "child: %s\n%s", clssd_status_string(s), g_log);
        return 1;
    }
    const int overrides = ctx->clblast_overrides;
    clssd_context_destroy(ctx);
    if (overrides != 1 || !strstr(g_log, "applied GemmRoutine")) {
        fprintf(stderr, "child: %d overrides\n%s", overrides, g_log);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--child-create")) return child_create(argv[2]);
    clssd_device_info devs[4];
    if (test_devices(devs, 4) == 0) {
        printf("no OpenCL device found: CLBlast tuning tests skipped\n");
        return 77;
    }
    const ssize_t n = readlink("/proc/self/exe", g_self, sizeof g_self - 1);
    if (n > 0)
        g_self[n] = '\0';
    else
        snprintf(g_self, sizeof g_self, "%s", argv[0]);
    snprintf(g_dir, sizeof g_dir, "/tmp/clssd-clblast-test-%ld", (long)getpid());
    if (mkdir(g_dir, 0755) != 0) return 1;
    Suite *s = suite_create("clblast_tune");
    TCase *tc = tcase_create("clblast_tune");
    tcase_set_timeout(tc, 600);
    /* in this order: CLBlast keeps overrides for the process, test_bad_set's bad ones last */
    tcase_add_test(tc, test_no_dir);
    tcase_add_test(tc, test_bad_files);
    tcase_add_test(tc, test_valid);
    tcase_add_test(tc, test_bad_set);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    return failed ? 1 : 0;
}
