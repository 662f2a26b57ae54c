/* Program build and the per-device binary cache.
 *
 * Lookup order: the context's memory table, then <cache_dir>/<key>.clbin, then a build
 * from the embedded source. The key is SHA-256 over a format tag, the source hash, the
 * build options and the platform/device/driver identity, so a change to any of them
 * gives a new file and stale binaries are never read. Files are written to a temporary
 * name and renamed into place, which is atomic: processes can share the directory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clssd_internal.h"

#define CACHE_MAGIC "CLSSDBIN"
#define CACHE_FORMAT 1u
#define MAX_BINARY (256u << 20)

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* CRC-32 (IEEE), to reject torn or corrupted cache files before the driver sees them. */
static uint32_t crc32_bytes(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return ~c;
}

static void cache_key(clssd_context *ctx, const clssd_cl_source *src, char hex[65])
{
    char head[1024];
    snprintf(head, sizeof head, "clssd-bin-v1\n%s\n%s\n%s", src->stem, src->sha256_hex,
             ctx->build_options);
    clssd__device_key(ctx->platform, ctx->device, head, hex);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get_u64(const uint8_t *p)
{
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

#define HDR_SIZE (8 + 4 + 32 + 8)

/* Reads a cache file; returns a malloc'd payload or NULL (missing, short, corrupt). */
static uint8_t *cache_read(const char *path, const char *key_hex, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    uint8_t hdr[HDR_SIZE];
    uint8_t *payload = NULL;
    if (fread(hdr, 1, HDR_SIZE, f) != HDR_SIZE) goto bad;
    if (memcmp(hdr, CACHE_MAGIC, 8) != 0 || get_u32(hdr + 8) != CACHE_FORMAT) goto bad;
    uint8_t key[32];
    for (int i = 0; i < 32; i++) {
        unsigned v = 0;
        sscanf(key_hex + 2 * i, "%2x", &v);
        key[i] = (uint8_t)v;
    }
    if (memcmp(hdr + 12, key, 32) != 0) goto bad;
    uint64_t n = get_u64(hdr + 44);
    if (n == 0 || n > MAX_BINARY) goto bad;
    payload = clssd__malloc((size_t)n + 4);
    if (!payload) { /* no memory now says nothing about the entry: keep it */
        fclose(f);
        return NULL;
    }
    if (fread(payload, 1, (size_t)n + 4, f) != (size_t)n + 4) goto bad;
    if (crc32_bytes(payload, (size_t)n) != get_u32(payload + n)) goto bad;
    fclose(f);
    *size = (size_t)n;
    return payload;
bad:
    clssd__free(payload);
    fclose(f);
    remove(path); /* a bad entry is rebuilt and rewritten */
    return NULL;
}

static void cache_write(const char *path, const char *key_hex, const uint8_t *bin, size_t n)
{
    char tmp[640];
    clssd__tmp_name(tmp, sizeof tmp, path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return;
    uint8_t hdr[HDR_SIZE];
    memcpy(hdr, CACHE_MAGIC, 8);
    put_u32(hdr + 8, CACHE_FORMAT);
    for (int i = 0; i < 32; i++) {
        unsigned v = 0;
        sscanf(key_hex + 2 * i, "%2x", &v);
        hdr[12 + i] = (uint8_t)v;
    }
    put_u64(hdr + 44, (uint64_t)n);
    uint8_t crc[4];
    put_u32(crc, crc32_bytes(bin, n));
    int ok = fwrite(hdr, 1, HDR_SIZE, f) == HDR_SIZE && fwrite(bin, 1, n, f) == n &&
             fwrite(crc, 1, 4, f) == 4;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) remove(tmp);
}

static const clssd_cl_source *find_source(const char *stem)
{
    for (size_t i = 0; i < clssd__cl_n_sources; i++)
        if (strcmp(clssd__cl_sources[i].stem, stem) == 0) return &clssd__cl_sources[i];
    return NULL;
}

/* Development mode: CLSSD_KERNEL_DIR=<repo>/cl loads common.clh + <stem>.cl from disk. */
static char *load_dev_source(const char *stem)
{
    const char *dir = getenv("CLSSD_KERNEL_DIR");
    if (!dir || !*dir) return NULL;
    const char *names[2] = {"common.clh", stem};
    char *out = NULL;
    size_t len = 0;
    for (int i = 0; i < 2; i++) {
        char path[600];
        snprintf(path, sizeof path, i ? "%s/%s.cl" : "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "rb");
        if (!f) goto fail;
        fseek(f, 0, SEEK_END);
        long sz = ftell(f);
        fseek(f, 0, SEEK_SET);
        char *grown = sz >= 0 ? clssd__realloc(out, len + (size_t)sz + 1) : NULL;
        if (!grown) {
            fclose(f);
            goto fail;
        }
        out = grown;
        size_t got = fread(out + len, 1, (size_t)sz, f);
        fclose(f);
        len += got;
        out[len] = 0;
    }
    return out;
fail:
    clssd__free(out);
    return NULL;
}

static clssd_status build_log_fail(clssd_context *ctx, cl_program prog, const char *stem,
                                   cl_int e)
{
    char log[768] = "";
    size_t n = 0;
    clGetProgramBuildInfo(prog, ctx->device, CL_PROGRAM_BUILD_LOG, sizeof log - 1, log, &n);
    log[sizeof log - 1] = 0;
    return CLSSD_FAIL(ctx, CLSSD_ERR_KERNEL_BUILD, "clBuildProgram(%s) -> %s; log: %s", stem,
                      clssd__cl_error_name(e), log);
}

clssd_status clssd__program(clssd_context *ctx, const char *stem, cl_program *out)
{
    *out = NULL;
    for (int i = 0; i < ctx->n_programs; i++)
        if (strcmp(ctx->programs[i].stem, stem) == 0) {
            *out = ctx->programs[i].program;
            return CLSSD_OK;
        }
    if (ctx->n_programs >= (int)(sizeof ctx->programs / sizeof ctx->programs[0]))
        return CLSSD_FAIL(ctx, CLSSD_ERR_OUT_OF_MEMORY, "program table full");
    const clssd_cl_source *src = find_source(stem);
    if (!src) return CLSSD_FAIL(ctx, CLSSD_ERR_INVALID_ARG, "no embedded program '%s'", stem);

    double t0 = now_ms();
    char *dev_src = load_dev_source(stem);
    char key[65];
    char path[640] = "";
    cl_int e = CL_SUCCESS;
    cl_program prog = NULL;
    if (!dev_src && ctx->cache_dir[0]) {
        cache_key(ctx, src, key);
        snprintf(path, sizeof path, "%s/%s.clbin", ctx->cache_dir, key);
        size_t n = 0;
        uint8_t *bin = cache_read(path, key, &n);
        if (bin) {
            const unsigned char *bins[1] = {bin};
            cl_int st = CL_SUCCESS;
            prog = clCreateProgramWithBinary(ctx->cl, 1, &ctx->device, &n, bins, &st, &e);
            clssd__free(bin);
            if (e == CL_SUCCESS && st == CL_SUCCESS &&
                clBuildProgram(prog, 1, &ctx->device, ctx->build_options, NULL, NULL) ==
                    CL_SUCCESS) {
                ctx->cache_hits++;
            } else {
                if (prog) clReleaseProgram(prog);
                prog = NULL;
                remove(path);
            }
        }
    }
    if (!prog) {
        const char *text = dev_src ? dev_src : (const char *)src->text;
        prog = clCreateProgramWithSource(ctx->cl, 1, &text, NULL, &e);
        if (e != CL_SUCCESS) {
            clssd__free(dev_src);
            return CLSSD_FAIL(ctx, (clssd_status)e, "clCreateProgramWithSource(%s) -> %s", stem,
                              clssd__cl_error_name(e));
        }
        e = clBuildProgram(prog, 1, &ctx->device, ctx->build_options, NULL, NULL);
        if (e != CL_SUCCESS) {
            clssd_status s = build_log_fail(ctx, prog, stem, e);
            clReleaseProgram(prog);
            clssd__free(dev_src);
            return s;
        }
        ctx->cache_misses++;
        if (!dev_src && path[0]) {
            /* Some drivers compile lazily: create the kernels first so the binary is final. */
            cl_uint nk = 0;
            if (clCreateKernelsInProgram(prog, 0, NULL, &nk) == CL_SUCCESS && nk > 0 && nk < 64) {
                cl_kernel ks[64];
                if (clCreateKernelsInProgram(prog, nk, ks, NULL) == CL_SUCCESS)
                    for (cl_uint i = 0; i < nk; i++) clReleaseKernel(ks[i]);
            }
            size_t bsize = 0;
            if (clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof bsize, &bsize, NULL) ==
                    CL_SUCCESS &&
                bsize > 0 && bsize <= MAX_BINARY) {
                unsigned char *bin = clssd__malloc(bsize);
                if (bin && clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof bin, &bin, NULL) ==
                               CL_SUCCESS)
                    cache_write(path, key, bin, bsize);
                clssd__free(bin);
            }
        }
    }
    clssd__free(dev_src);
    ctx->build_ms_total += now_ms() - t0;
    snprintf(ctx->programs[ctx->n_programs].stem, sizeof ctx->programs[0].stem, "%s", stem);
    ctx->programs[ctx->n_programs].program = prog;
    ctx->n_programs++;
    *out = prog;
    return CLSSD_OK;
}

clssd_status clssd__kernel(clssd_context *ctx, const char *stem, const char *kernel_name,
                           cl_kernel *out)
{
    cl_program prog;
    *out = NULL;
    CLSSD_TRY(clssd__program(ctx, stem, &prog));
    cl_int e = CL_SUCCESS;
    *out = clCreateKernel(prog, kernel_name, &e);
    if (e != CL_SUCCESS)
        return CLSSD_FAIL(ctx, (clssd_status)e, "clCreateKernel(%s/%s) -> %s", stem, kernel_name,
                          clssd__cl_error_name(e));
    return CLSSD_OK;
}

clssd_status clssd__set_args(clssd_context *ctx, cl_kernel k, int n, ...)
{
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        size_t size = va_arg(ap, size_t);
        const void *ptr = va_arg(ap, const void *);
        cl_int e = clSetKernelArg(k, (cl_uint)i, size, ptr);
        if (e != CL_SUCCESS) {
            va_end(ap);
            return CLSSD_FAIL(ctx, (clssd_status)e, "clSetKernelArg(%d) -> %s", i,
                              clssd__cl_error_name(e));
        }
    }
    va_end(ap);
    return CLSSD_OK;
}

clssd_status clssd__enqueue(clssd_context *ctx, cl_kernel k, cl_uint dims, const size_t *global,
                            const size_t *local)
{
    size_t g[3];
    for (cl_uint i = 0; i < dims; i++) {
        size_t l = local ? local[i] : 1;
        g[i] = global[i] == 0 ? 0 : (global[i] + l - 1) / l * l;
        if (g[i] == 0) return CLSSD_OK; /* nothing to do */
    }
    CLSSD_CL(ctx, clEnqueueNDRangeKernel(ctx->queue, k, dims, NULL, g, local, 0, NULL,
                                         clssd__prof_slot(ctx)));
    return CLSSD_OK;
}

clssd_status clssd_context_fill_cache(clssd_context *ctx)
{
    if (!ctx) return CLSSD_ERR_INVALID_ARG;
    for (size_t i = 0; i < clssd__cl_n_sources; i++) {
        cl_program p;
        CLSSD_TRY(clssd__program(ctx, clssd__cl_sources[i].stem, &p));
    }
    return CLSSD_OK;
}
