/* Device enumeration and context lifetime. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <errno.h>

#include "clssd_internal.h"
#include "clssd_cl.h"

#include <clblast_c.h>

#define MAX_PLATFORMS 16
#define MAX_DEVICES 64

typedef struct found_device {
    cl_platform_id platform;
    cl_device_id device;
    int p, d;
} found_device;

/* Lists every device of every platform, in platform order. */
static size_t enumerate(found_device *out, size_t cap)
{
    cl_uint np = 0;
    cl_platform_id plats[MAX_PLATFORMS];
    if (clGetPlatformIDs(MAX_PLATFORMS, plats, &np) != CL_SUCCESS) return 0;
    if (np > MAX_PLATFORMS) np = MAX_PLATFORMS;
    size_t n = 0;
    for (cl_uint p = 0; p < np; p++) {
        cl_uint nd = 0;
        cl_device_id devs[MAX_DEVICES];
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, MAX_DEVICES, devs, &nd) != CL_SUCCESS)
            continue;
        if (nd > MAX_DEVICES) nd = MAX_DEVICES;
        for (cl_uint d = 0; d < nd && n < cap; d++) {
            out[n].platform = plats[p];
            out[n].device = devs[d];
            out[n].p = (int)p;
            out[n].d = (int)d;
            n++;
        }
    }
    return n;
}

static void fill_info(const found_device *f, clssd_device_info *info)
{
    memset(info, 0, sizeof *info);
    info->platform = f->p;
    info->device = f->d;
    clGetPlatformInfo(f->platform, CL_PLATFORM_NAME, sizeof info->platform_name - 1,
                      info->platform_name, NULL);
    clGetDeviceInfo(f->device, CL_DEVICE_NAME, sizeof info->device_name - 1, info->device_name,
                    NULL);
    clGetDeviceInfo(f->device, CL_DRIVER_VERSION, sizeof info->driver_version - 1,
                    info->driver_version, NULL);
    cl_device_type t = 0;
    clGetDeviceInfo(f->device, CL_DEVICE_TYPE, sizeof t, &t, NULL);
    info->is_gpu = (t & CL_DEVICE_TYPE_GPU) != 0;
    cl_uint cu = 0;
    clGetDeviceInfo(f->device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL);
    info->compute_units = cu;
    cl_ulong mem = 0;
    clGetDeviceInfo(f->device, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof mem, &mem, NULL);
    info->global_mem_bytes = mem;
}

clssd_status clssd_device_list(clssd_device_info *out, size_t cap, size_t *n)
{
    if (!n || (cap && !out)) return CLSSD_ERR_INVALID_ARG;
    found_device f[MAX_DEVICES];
    size_t nf = enumerate(f, MAX_DEVICES);
    *n = nf;
    for (size_t i = 0; i < nf && i < cap; i++) fill_info(&f[i], &out[i]);
    if (nf > cap) return CLSSD_ERR_BUFFER_TOO_SMALL;
    return CLSSD_OK;
}

void clssd_context_params_init(clssd_context_params *p)
{
    if (!p) return;
    memset(p, 0, sizeof *p);
    p->struct_size = (uint32_t)sizeof *p;
    p->platform = -1;
    p->device = -1;
}

/* "P:D" in CLSSD_DEVICE, or CLSSD_PLATFORM + CLSSD_DEVICE as plain indices. */
static void env_device(int *p, int *d)
{
    const char *dev = getenv("CLSSD_DEVICE");
    const char *plat = getenv("CLSSD_PLATFORM");
    if (dev && strchr(dev, ':')) {
        sscanf(dev, "%d:%d", p, d);
        return;
    }
    if (plat) *p = atoi(plat);
    if (dev) *d = atoi(dev);
}

static void default_cache_dir(char *out, size_t size)
{
    const char *env = getenv("CLSSD_CACHE_DIR");
    if (env) {
        snprintf(out, size, "%s", env);
        return;
    }
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (xdg && *xdg)
        snprintf(out, size, "%s/clssd", xdg);
    else if (home && *home)
        snprintf(out, size, "%s/.cache/clssd", home);
    else
        out[0] = 0;
}

/* mkdir -p; a failure only disables the cache. */
static int make_dirs(const char *path)
{
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *c = tmp + 1; *c; c++) {
        if (*c != '/') continue;
        *c = 0;
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return 0;
        *c = '/';
    }
    return mkdir(tmp, 0755) == 0 || errno == EEXIST;
}

static clssd_status finish_context(clssd_context *ctx, const clssd_context_params *p)
{
    cl_int e = CL_SUCCESS;
    cl_command_queue_properties props =
        (p && (p->flags & CLSSD_CTX_PROFILING)) ? CL_QUEUE_PROFILING_ENABLE : 0;
    if (!ctx->queue) {
        ctx->queue = clCreateCommandQueue(ctx->cl, ctx->device, props, &e);
        if (e != CL_SUCCESS)
            return CLSSD_FAIL(ctx, (clssd_status)e, "clCreateCommandQueue -> %s",
                              clssd__cl_error_name(e));
    }
    clGetDeviceInfo(ctx->device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof ctx->max_wg,
                    &ctx->max_wg, NULL);
    clGetDeviceInfo(ctx->device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof ctx->max_alloc,
                    &ctx->max_alloc, NULL);
    clGetDeviceInfo(ctx->device, CL_DEVICE_LOCAL_MEM_SIZE, sizeof ctx->local_mem,
                    &ctx->local_mem, NULL);
    if (ctx->max_wg == 0) ctx->max_wg = 1;
    size_t wg = 1;
    while (wg * 2 <= ctx->max_wg && wg < 256) wg *= 2;
    ctx->max_wg = wg;

    /* OpenCL C 3.0 devices may omit 1.2 features only when asked for 3.0; we use 1.2. */
    snprintf(ctx->build_options, sizeof ctx->build_options, "-cl-std=CL1.2 -DCLSSD_WG=%zu", wg);
    const char *extra = getenv("CLSSD_BUILD_OPTIONS");
    if (extra && *extra) {
        size_t len = strlen(ctx->build_options);
        snprintf(ctx->build_options + len, sizeof ctx->build_options - len, " %s", extra);
    }

    char dir[512];
    if (p && p->cache_dir)
        snprintf(dir, sizeof dir, "%s", p->cache_dir);
    else
        default_cache_dir(dir, sizeof dir);
    if (strcmp(dir, "off") == 0 || !dir[0] || !make_dirs(dir))
        ctx->cache_dir[0] = 0;
    else
        snprintf(ctx->cache_dir, sizeof ctx->cache_dir, "%s", dir);
    /* CLBlast parameters tuned for this device, if the cache directory holds any */
    return clssd__clblast_tune_apply(ctx);
}

clssd_status clssd__clblast_tune_dir_for(int platform, int device, char *out, size_t size)
{
    if (!out || size == 0) return CLSSD_ERR_INVALID_ARG;
    out[0] = 0;
    found_device f[MAX_DEVICES];
    const size_t nf = enumerate(f, MAX_DEVICES);
    for (size_t i = 0; i < nf; i++) {
        if (f[i].p != platform || f[i].d != device) continue;
        char dir[512];
        default_cache_dir(dir, sizeof dir);
        if (dir[0] && strcmp(dir, "off") != 0)
            clssd__clblast_tune_dir(dir, f[i].platform, f[i].device, out, size);
        return CLSSD_OK;
    }
    return CLSSD_ERR_NO_DEVICE;
}

clssd_status clssd_context_create(const clssd_context_params *p, clssd_context **out)
{
    if (!out) return CLSSD_ERR_INVALID_ARG;
    *out = NULL;
    if (p && p->struct_size != sizeof *p) return CLSSD_ERR_INVALID_ARG;
    int want_p = p ? p->platform : -1, want_d = p ? p->device : -1;
    if (want_p < 0 && want_d < 0) env_device(&want_p, &want_d);

    found_device f[MAX_DEVICES];
    size_t nf = enumerate(f, MAX_DEVICES);
    if (nf == 0) return CLSSD_ERR_NO_DEVICE;
    long pick = -1;
    if (want_p >= 0 || want_d >= 0) {
        if (want_p < 0) want_p = 0;
        if (want_d < 0) want_d = 0;
        for (size_t i = 0; i < nf; i++)
            if (f[i].p == want_p && f[i].d == want_d) pick = (long)i;
        if (pick < 0) return CLSSD_ERR_NO_DEVICE;
    } else {
        for (size_t i = 0; i < nf && pick < 0; i++) {
            cl_device_type t = 0;
            clGetDeviceInfo(f[i].device, CL_DEVICE_TYPE, sizeof t, &t, NULL);
            if (t & CL_DEVICE_TYPE_GPU) pick = (long)i;
        }
        if (pick < 0) pick = 0;
    }

    clssd_context *ctx = clssd__calloc(1, sizeof *ctx);
    if (!ctx) return CLSSD_ERR_OUT_OF_MEMORY;
    ctx->prof_node = -1;
    ctx->platform = f[pick].platform;
    ctx->device = f[pick].device;
    ctx->owns_cl = 1;
    fill_info(&f[pick], &ctx->info);
    if (p) {
        ctx->flags = p->flags;
        ctx->log = p->log;
        ctx->log_user = p->log_user;
    }
    cl_int e = CL_SUCCESS;
    cl_context_properties cprops[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)ctx->platform,
                                      0};
    ctx->cl = clCreateContext(cprops, 1, &ctx->device, NULL, NULL, &e);
    clssd_status s = (clssd_status)e;
    if (e != CL_SUCCESS) goto fail;
    s = finish_context(ctx, p);
    if (s != CLSSD_OK) goto fail;
    *out = ctx;
    return CLSSD_OK;
fail:
    clssd_context_destroy(ctx);
    return s;
}

void clssd__device_key(cl_platform_id platform, cl_device_id device, const char *head,
                       char hex[65])
{
    char buf[2048];
    char pn[256] = "", pv[256] = "", dn[256] = "", dv[256] = "", drv[256] = "";
    clGetPlatformInfo(platform, CL_PLATFORM_NAME, sizeof pn - 1, pn, NULL);
    clGetPlatformInfo(platform, CL_PLATFORM_VERSION, sizeof pv - 1, pv, NULL);
    clGetDeviceInfo(device, CL_DEVICE_NAME, sizeof dn - 1, dn, NULL);
    clGetDeviceInfo(device, CL_DEVICE_VERSION, sizeof dv - 1, dv, NULL);
    clGetDeviceInfo(device, CL_DRIVER_VERSION, sizeof drv - 1, drv, NULL);
    int n = snprintf(buf, sizeof buf, "%s\n%s\n%s\n%s\n%s\n%s", head, pn, pv, dn, dv, drv);
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof buf) n = (int)sizeof buf - 1;
    clssd__sha256_hex(buf, (size_t)n, hex);
}

void clssd_context_destroy(clssd_context *ctx)
{
    if (!ctx) return;
    clssd__prof_clear(ctx);
    clssd__free(ctx->prof);
    for (int i = 0; i < ctx->n_programs; i++)
        if (ctx->programs[i].program) clReleaseProgram(ctx->programs[i].program);
    if (ctx->queue) {
        clFinish(ctx->queue);
        /* CLBlast caches programs per (context, device); drop ours before the context goes. */
        CLBlastClearCache();
        clReleaseCommandQueue(ctx->queue);
    }
    if (ctx->cl) clReleaseContext(ctx->cl);
    if (ctx->device && !ctx->owns_cl) clReleaseDevice(ctx->device);
    clssd__free(ctx);
}

clssd_status clssd_context_device(const clssd_context *ctx, clssd_device_info *out)
{
    if (!ctx || !out) return CLSSD_ERR_INVALID_ARG;
    *out = ctx->info;
    return CLSSD_OK;
}

clssd_status clssd__buffer_for(clssd_context *ctx, size_t bytes, cl_mem_flags flags, cl_mem *out,
                               const char *what)
{
    *out = NULL;
    if (bytes == 0) bytes = 16;
    /* Checked here rather than left to clCreateBuffer: drivers differ in what they do with an
     * oversized request (CL_INVALID_BUFFER_SIZE, a later CL_MEM_OBJECT_ALLOCATION_FAILURE, or
     * PoCL trying to commit it), and none of them says which buffer it was. */
    if (bytes > ctx->max_alloc)
        return CLSSD_FAIL(ctx, CLSSD_ERR_UNSUPPORTED,
                          "%s: %zu bytes exceed the device's largest allocation "
                          "(CL_DEVICE_MAX_MEM_ALLOC_SIZE = %llu)",
                          what, bytes, (unsigned long long)ctx->max_alloc);
    cl_int e = CL_SUCCESS;
    *out = clCreateBuffer(ctx->cl, flags, bytes, NULL, &e);
    if (e != CL_SUCCESS) {
        *out = NULL;
        return CLSSD_FAIL(ctx, (clssd_status)e, "%s: clCreateBuffer(%zu bytes) -> %s", what,
                          bytes, clssd__cl_error_name(e));
    }
    return CLSSD_OK;
}

clssd_status clssd__buffer(clssd_context *ctx, size_t bytes, cl_mem_flags flags, cl_mem *out)
{
    return clssd__buffer_for(ctx, bytes, flags, out, "device buffer");
}

clssd_status clssd_context_create_from_cl(cl_context context, cl_device_id device,
                                          cl_command_queue queue,
                                          const clssd_context_params *params, clssd_context **out)
{
    if (!out) return CLSSD_ERR_INVALID_ARG;
    *out = NULL;
    if (!context || !device || !queue || (params && params->struct_size != sizeof *params))
        return CLSSD_ERR_INVALID_ARG;
    cl_context qctx = NULL;
    cl_device_id qdev = NULL;
    if (clGetCommandQueueInfo(queue, CL_QUEUE_CONTEXT, sizeof qctx, &qctx, NULL) != CL_SUCCESS ||
        clGetCommandQueueInfo(queue, CL_QUEUE_DEVICE, sizeof qdev, &qdev, NULL) != CL_SUCCESS ||
        qctx != context || qdev != device)
        return CLSSD_ERR_INVALID_ARG;
    clssd_context *ctx = clssd__calloc(1, sizeof *ctx);
    if (!ctx) return CLSSD_ERR_OUT_OF_MEMORY;
    ctx->prof_node = -1;
    found_device f;
    memset(&f, 0, sizeof f);
    f.device = device;
    clGetDeviceInfo(device, CL_DEVICE_PLATFORM, sizeof f.platform, &f.platform, NULL);
    f.p = f.d = -1;
    clRetainContext(context);
    clRetainDevice(device);
    clRetainCommandQueue(queue);
    ctx->cl = context;
    ctx->device = device;
    ctx->queue = queue;
    ctx->platform = f.platform;
    ctx->owns_cl = 0;
    fill_info(&f, &ctx->info);
    if (params) {
        ctx->flags = params->flags;
        ctx->log = params->log;
        ctx->log_user = params->log_user;
    }
    clssd_status s = finish_context(ctx, params);
    if (s != CLSSD_OK) {
        clssd_context_destroy(ctx);
        return s;
    }
    *out = ctx;
    return CLSSD_OK;
}

clssd_status clssd_context_get_cl(const clssd_context *ctx, cl_context *context,
                                  cl_device_id *device, cl_command_queue *queue)
{
    if (!ctx) return CLSSD_ERR_INVALID_ARG;
    if (context) *context = ctx->cl;
    if (device) *device = ctx->device;
    if (queue) *queue = ctx->queue;
    return CLSSD_OK;
}
