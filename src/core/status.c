/* Status strings and the per-context error record. */
#include <stdio.h>
#include <string.h>

#include "clssd_internal.h"

const char *clssd_status_string(clssd_status s)
{
    switch (s) {
    case CLSSD_OK: return "ok";
    case CLSSD_ERR_INVALID_ARG: return "invalid argument";
    case CLSSD_ERR_OUT_OF_MEMORY: return "out of memory";
    case CLSSD_ERR_NO_DEVICE: return "no OpenCL device";
    case CLSSD_ERR_UNSUPPORTED: return "unsupported on this device";
    case CLSSD_ERR_KERNEL_BUILD: return "OpenCL kernel build failed";
    case CLSSD_ERR_IO: return "I/O error";
    case CLSSD_ERR_BAD_MODEL: return "bad model";
    case CLSSD_ERR_BUFFER_TOO_SMALL: return "buffer too small";
    case CLSSD_ERR_BAD_IMAGE: return "bad image";
    }
    if ((int)s <= -1000 && (int)s > -3000) return "CLBlast error";
    if ((int)s < 0 && (int)s > -1000) return clssd__cl_error_name((cl_int)s);
    return "unknown status";
}

const char *clssd_version_string(void)
{
    return "0.1.0";
}

const char *clssd__cl_error_name(cl_int e)
{
    switch (e) {
#define C(x) case x: return #x;
    C(CL_SUCCESS) C(CL_DEVICE_NOT_FOUND) C(CL_DEVICE_NOT_AVAILABLE) C(CL_COMPILER_NOT_AVAILABLE)
    C(CL_MEM_OBJECT_ALLOCATION_FAILURE) C(CL_OUT_OF_RESOURCES) C(CL_OUT_OF_HOST_MEMORY)
    C(CL_PROFILING_INFO_NOT_AVAILABLE) C(CL_MEM_COPY_OVERLAP) C(CL_BUILD_PROGRAM_FAILURE)
    C(CL_MAP_FAILURE) C(CL_INVALID_VALUE) C(CL_INVALID_DEVICE_TYPE) C(CL_INVALID_PLATFORM)
    C(CL_INVALID_DEVICE) C(CL_INVALID_CONTEXT) C(CL_INVALID_QUEUE_PROPERTIES)
    C(CL_INVALID_COMMAND_QUEUE) C(CL_INVALID_HOST_PTR) C(CL_INVALID_MEM_OBJECT)
    C(CL_INVALID_BINARY) C(CL_INVALID_BUILD_OPTIONS) C(CL_INVALID_PROGRAM)
    C(CL_INVALID_PROGRAM_EXECUTABLE) C(CL_INVALID_KERNEL_NAME) C(CL_INVALID_KERNEL_DEFINITION)
    C(CL_INVALID_KERNEL) C(CL_INVALID_ARG_INDEX) C(CL_INVALID_ARG_VALUE) C(CL_INVALID_ARG_SIZE)
    C(CL_INVALID_KERNEL_ARGS) C(CL_INVALID_WORK_DIMENSION) C(CL_INVALID_WORK_GROUP_SIZE)
    C(CL_INVALID_WORK_ITEM_SIZE) C(CL_INVALID_GLOBAL_OFFSET) C(CL_INVALID_EVENT_WAIT_LIST)
    C(CL_INVALID_EVENT) C(CL_INVALID_OPERATION) C(CL_INVALID_BUFFER_SIZE)
    C(CL_INVALID_GLOBAL_WORK_SIZE)
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
#undef C
    default: return "CL error";
    }
}

clssd_status clssd__fail(clssd_context *ctx, clssd_status s, const char *file, int line,
                         const char *fmt, ...)
{
    if (!ctx) return s;
    /* Only the file's base name: the build directory says nothing to a user. */
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    int n = snprintf(ctx->err, sizeof ctx->err, "%s:%d: ", base, line);
    if (n < 0) n = 0;
    if ((size_t)n < sizeof ctx->err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctx->err + n, sizeof ctx->err - (size_t)n, fmt, ap);
        va_end(ap);
    }
    if (ctx->log) ctx->log(CLSSD_LOG_ERROR, ctx->err, ctx->log_user);
    return s;
}

void clssd__log(const clssd_context *ctx, int level, const char *fmt, ...)
{
    if (!ctx || !ctx->log) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ctx->log(level, msg, ctx->log_user);
}

const char *clssd_last_error(const clssd_context *ctx)
{
    return ctx ? ctx->err : "no context";
}
