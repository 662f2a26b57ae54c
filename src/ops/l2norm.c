/* Caffe's Normalize (conv4_3_norm): per-pixel L2 norm over channels, learned scale. */
#include <stdio.h>

#include "clssd_internal.h"

clssd_status clssd__l2norm_infer(const clssd_graph *g, clssd_node *n, char *err,
                                 size_t err_size)
{
    if (n->n_src != 1 || n->weight < 0) {
        snprintf(err, err_size, "needs 1 input and a scale tensor");
        return CLSSD_ERR_BAD_MODEL;
    }
    const clssd_shape *x = &g->nodes[n->src[0]].out;
    size_t want = n->p.l2norm.channel_shared ? 1 : (size_t)x->c;
    size_t have = clssd__shape_count(&g->tensors[n->weight].shape);
    if (have != want || !(n->p.l2norm.eps >= 0.0f)) {
        snprintf(err, err_size, "scale '%s' has %zu values, expected %zu (eps %g)",
                 g->tensors[n->weight].name, have, want, (double)n->p.l2norm.eps);
        return CLSSD_ERR_BAD_MODEL;
    }
    n->out = *x;
    return CLSSD_OK;
}

clssd_status clssd__l2norm_cl(clssd_exec *ex, const clssd_node *n)
{
    const clssd_shape *x = &ex->g->nodes[n->src[0]].out;
    cl_mem in = ex->bufs[n->src[0]], out = ex->bufs[n - ex->g->nodes], sc = ex->weights[n->weight];
    const cl_int B = ex->batch, C = x->c, HW = x->h * x->w, shared = n->p.l2norm.channel_shared;
    const float eps = n->p.l2norm.eps;
    cl_kernel k;
    clssd_status s;
    if (!n->p.l2norm.across_spatial) {
        CLSSD_TRY(clssd__kernel(ex->ctx, "l2norm", "clssd_l2norm_pixel", &k));
        s = clssd__set_args(ex->ctx, k, 8, sizeof in, &in, sizeof out, &out, sizeof B, &B,
                            sizeof C, &C, sizeof HW, &HW, sizeof sc, &sc, sizeof shared, &shared,
                            sizeof eps, &eps);
        /* a work-item per 16 pixels (cl/l2norm.cl) */
        const size_t gsz = (size_t)B * (((size_t)HW + 15) / 16), lsz = 8;
        if (s == CLSSD_OK) s = clssd__enqueue(ex->ctx, k, 1, &gsz, &lsz);
    } else {
        CLSSD_TRY(clssd__kernel(ex->ctx, "l2norm", "clssd_l2norm_image", &k));
        s = clssd__set_args(ex->ctx, k, 7, sizeof in, &in, sizeof out, &out, sizeof C, &C,
                            sizeof HW, &HW, sizeof sc, &sc, sizeof shared, &shared, sizeof eps,
                            &eps);
        const size_t lsz = ex->ctx->max_wg, gsz = lsz * (size_t)B;
        if (s == CLSSD_OK) s = clssd__enqueue(ex->ctx, k, 1, &gsz, &lsz);
    }
    clReleaseKernel(k);
    return s;
}
