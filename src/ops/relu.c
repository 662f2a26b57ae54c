#include <stdio.h>

#include "clssd_internal.h"

clssd_status clssd__relu_infer(const clssd_graph *g, clssd_node *n, char *err, size_t err_size)
{
    if (n->n_src != 1) {
        snprintf(err, err_size, "needs 1 input");
        return CLSSD_ERR_BAD_MODEL;
    }
    n->out = g->nodes[n->src[0]].out;
    return CLSSD_OK;
}

clssd_status clssd__relu_cl(clssd_exec *ex, const clssd_node *n)
{
    cl_kernel k;
    CLSSD_TRY(clssd__kernel(ex->ctx, "eltwise", "clssd_relu", &k));
    cl_mem x = ex->bufs[n->src[0]], y = ex->bufs[n - ex->g->nodes];
    const cl_int count = (cl_int)(clssd__shape_count(&n->out) * (size_t)ex->batch);
    const float slope = n->p.relu.negative_slope;
    clssd_status s = clssd__set_args(ex->ctx, k, 4, sizeof x, &x, sizeof y, &y, sizeof count,
                                     &count, sizeof slope, &slope);
    const size_t gsz = (size_t)count, lsz = 64;
    if (s == CLSSD_OK) s = clssd__enqueue(ex->ctx, k, 1, &gsz, &lsz);
    clReleaseKernel(k);
    return s;
}
