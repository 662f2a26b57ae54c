/* Per-node device time from OpenCL profiling events, for clssd-bench --profile.
 * Every enqueue inside a node's forward pass takes its event from clssd__prof_slot(); when
 * profiling is off that is NULL and the enqueue asks for no event, so the normal path pays
 * nothing. Events (not markers) are used so that a node's time is the sum of its own kernels
 * and not the gaps between them. */
#include "clssd_internal.h"

#define PROF_MAX_EVENTS ((size_t)1 << 16)

cl_event *clssd__prof_slot(clssd_context *ctx)
{
    if (!(ctx->flags & CLSSD_CTX_PROFILING) || ctx->prof_node < 0) return NULL;
    /* A program that turns profiling on but never collects (there is no public collect)
     * would otherwise grow this list for ever; clssd-bench collects after every run. */
    if (ctx->n_prof >= PROF_MAX_EVENTS) return NULL;
    if (ctx->n_prof == ctx->cap_prof) {
        size_t cap = ctx->cap_prof ? 2 * ctx->cap_prof : 256;
        struct clssd_prof_event *p = clssd__realloc(ctx->prof, cap * sizeof *p);
        if (!p) return NULL;
        ctx->prof = p;
        ctx->cap_prof = cap;
    }
    struct clssd_prof_event *e = &ctx->prof[ctx->n_prof++];
    e->node = ctx->prof_node;
    e->ev = NULL; /* stays NULL if the enqueue fails; collect skips it */
    return &e->ev;
}

void clssd__prof_clear(clssd_context *ctx)
{
    for (size_t i = 0; i < ctx->n_prof; i++)
        if (ctx->prof[i].ev) clReleaseEvent(ctx->prof[i].ev);
    ctx->n_prof = 0;
}

clssd_status clssd__prof_collect(clssd_context *ctx, double *node_ms, int32_t n_nodes)
{
    cl_int e = clFinish(ctx->queue);
    clssd_status s = CLSSD_OK;
    if (e != CL_SUCCESS)
        s = CLSSD_FAIL(ctx, (clssd_status)e, "clFinish -> %s", clssd__cl_error_name(e));
    for (size_t i = 0; i < ctx->n_prof && s == CLSSD_OK; i++) {
        const struct clssd_prof_event *r = &ctx->prof[i];
        if (!r->ev || r->node < 0 || r->node >= n_nodes) continue;
        cl_ulong t0 = 0, t1 = 0;
        e = clGetEventProfilingInfo(r->ev, CL_PROFILING_COMMAND_START, sizeof t0, &t0, NULL);
        if (e == CL_SUCCESS)
            e = clGetEventProfilingInfo(r->ev, CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL);
        if (e != CL_SUCCESS)
            s = CLSSD_FAIL(ctx, (clssd_status)e,
                           "clGetEventProfilingInfo -> %s (a wrapped queue needs "
                           "CL_QUEUE_PROFILING_ENABLE)", clssd__cl_error_name(e));
        else if (t1 > t0)
            node_ms[r->node] += (double)(t1 - t0) * 1e-6;
    }
    clssd__prof_clear(ctx);
    return s;
}
