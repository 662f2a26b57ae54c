/* SOFTMAX over groups of p.softmax.group consecutive values (classes per prior). */
#include <stdio.h>

#include "clssd_internal.h"

clssd_status clssd__softmax_infer(const clssd_graph *g, clssd_node *n, char *err,
                                  size_t err_size)
{
    if (n->n_src != 1) {
        snprintf(err, err_size, "needs 1 input");
        return CLSSD_ERR_BAD_MODEL;
    }
    const clssd_shape *x = &g->nodes[n->src[0]].out;
    const size_t cnt = clssd__shape_count(x);
    const int32_t G = n->p.softmax.group;
    if (G < 1 || cnt == 0 || cnt % (size_t)G != 0 || cnt > (size_t)INT32_MAX) {
        snprintf(err, err_size, "%zu values do not split into groups of %d", cnt, G);
        return CLSSD_ERR_BAD_MODEL;
    }
    n->out = *x;
    n->out.n = 1;
    /* a constant input gives a constant output: computed once, one copy */
    n->batch_const = g->nodes[n->src[0]].batch_const;
    return CLSSD_OK;
}

clssd_status clssd__softmax_cl(clssd_exec *ex, const clssd_node *n)
{
    const cl_int G = n->p.softmax.group;
    const size_t per = clssd__shape_count(&n->out) / (size_t)G;
    const size_t images = n->batch_const ? 1 : (size_t)ex->batch;
    const cl_int groups = (cl_int)(per * images);
    cl_mem in = ex->bufs[n->src[0]], out = ex->bufs[n - ex->g->nodes];
    cl_kernel k;
    CLSSD_TRY(clssd__kernel(ex->ctx, "softmax", "clssd_softmax", &k));
    clssd_status s = clssd__set_args(ex->ctx, k, 4, sizeof in, &in, sizeof out, &out,
                                     sizeof groups, &groups, sizeof G, &G);
    const size_t gsz = (size_t)groups, lsz = ex->ctx->max_wg < 64 ? ex->ctx->max_wg : 64;
    if (s == CLSSD_OK) s = clssd__enqueue(ex->ctx, k, 1, &gsz, &lsz);
    clReleaseKernel(k);
    return s;
}
