/* DECODE: loc offsets + priors (boxes and variances) -> corner boxes, CENTER_SIZE. */
#include <stdio.h>

#include "clssd_internal.h"

clssd_status clssd__decode_infer(const clssd_graph *g, clssd_node *n, char *err,
                                 size_t err_size)
{
    if (n->n_src != 2) {
        snprintf(err, err_size, "needs 2 inputs (loc, priors)");
        return CLSSD_ERR_BAD_MODEL;
    }
    const clssd_shape *loc = &g->nodes[n->src[0]].out, *pri = &g->nodes[n->src[1]].out;
    const size_t nl = clssd__shape_count(loc), np = clssd__shape_count(pri);
    /* priors are [1, 2, P*4, 1]: boxes, then variances */
    if (nl == 0 || nl % 4 != 0 || np != 2 * nl || nl > (size_t)INT32_MAX / 2) {
        snprintf(err, err_size, "loc has %zu values, priors %zu (expected P*4 and 2*P*4)", nl,
                 np);
        return CLSSD_ERR_BAD_MODEL;
    }
    n->out = (clssd_shape){1, 1, (int32_t)nl, 1};
    return CLSSD_OK;
}

clssd_status clssd__decode_cl(clssd_exec *ex, const clssd_node *n)
{
    const clssd_node *pn = &ex->g->nodes[n->src[1]];
    const size_t nl = clssd__shape_count(&n->out);
    const cl_int P = (cl_int)(nl / 4), total = P * ex->batch;
    /* one copy of batch-constant priors serves every image */
    const cl_int prior_stride = pn->batch_const ? 0 : 2 * (cl_int)nl;
    cl_mem loc = ex->bufs[n->src[0]], pri = ex->bufs[n->src[1]], out = ex->bufs[n - ex->g->nodes];
    cl_kernel k;
    CLSSD_TRY(clssd__kernel(ex->ctx, "decode", "clssd_decode", &k));
    clssd_status s = clssd__set_args(ex->ctx, k, 6, sizeof loc, &loc, sizeof pri, &pri,
                                     sizeof out, &out, sizeof P, &P, sizeof total, &total,
                                     sizeof prior_stride, &prior_stride);
    const size_t gsz = (size_t)total, lsz = ex->ctx->max_wg < 64 ? ex->ctx->max_wg : 64;
    if (s == CLSSD_OK) s = clssd__enqueue(ex->ctx, k, 1, &gsz, &lsz);
    clReleaseKernel(k);
    return s;
}
