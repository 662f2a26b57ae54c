/* RELU (leaky with negative_slope, capped at max when max > 0: ReLU6) on the device. */
#include <float.h>
#include <stdio.h>

#include "clssd_internal.h"

clssd_status clssd__relu_infer(const clssd_graph *g, clssd_node *n, char *err, size_t err_size)
{
    if (n->n_src != 1) {
        snprintf(err, err_size, "needs 1 input");
        return CLSSD_ERR_BAD_MODEL;
    }
    /* NaN, negative or infinite bounds are refused rather than given a meaning */
    if (!(n->p.relu.max >= 0.0f && n->p.relu.max <= FLT_MAX)) {
        snprintf(err, err_size, "bad max %g (0 = none, else a finite bound > 0)",
                 (double)n->p.relu.max);
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
    const float slope = n->p.relu.negative_slope, max = n->p.relu.max;
    clssd_status s = clssd__set_args(ex->ctx, k, 5, sizeof x, &x, sizeof y, &y, sizeof count,
                                     &count, sizeof slope, &slope, sizeof max, &max);
    const size_t gsz = (size_t)count, lsz = 64;
    if (s == CLSSD_OK) s = clssd__enqueue(ex->ctx, k, 1, &gsz, &lsz);
    clReleaseKernel(k);
    return s;
}
