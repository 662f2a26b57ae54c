/* Pooling with Caffe's output-size rule: ceil, then drop a last window that would start
 * inside the padding. This is why SSD300 gets 38x38 after pool3 (75 -> 38). */
#include <stdio.h>

#include "clssd_internal.h"

clssd_status clssd__pool_infer(const clssd_graph *g, clssd_node *n, char *err, size_t err_size)
{
    __typeof__(n->p.pool) *p = &n->p.pool;
    if (n->n_src != 1) {
        snprintf(err, err_size, "needs 1 input");
        return CLSSD_ERR_BAD_MODEL;
    }
    const clssd_shape *x = &g->nodes[n->src[0]].out;
    if (p->global) {
        p->kh = x->h;
        p->kw = x->w;
        p->sh = p->sw = 1;
        p->ph = p->pw = 0;
    }
    if (p->kh <= 0 || p->kw <= 0 || p->sh <= 0 || p->sw <= 0 || p->ph < 0 || p->pw < 0 ||
        p->ph >= p->kh || p->pw >= p->kw || (p->method != CLSSD_POOL_MAX && p->method != CLSSD_POOL_AVE) ||
        (int64_t)x->h + 2 * (int64_t)p->ph < p->kh || (int64_t)x->w + 2 * (int64_t)p->pw < p->kw) {
        snprintf(err, err_size, "bad pooling %dx%d stride %dx%d pad %dx%d on %dx%d", p->kh, p->kw,
                 p->sh, p->sw, p->ph, p->pw, x->h, x->w);
        return CLSSD_ERR_BAD_MODEL;
    }
    /* int64: a hostile model's padding and stride may be anything up to INT32_MAX */
    int64_t ho = ((int64_t)x->h + 2 * (int64_t)p->ph - p->kh + p->sh - 1) / p->sh + 1;
    int64_t wo = ((int64_t)x->w + 2 * (int64_t)p->pw - p->kw + p->sw - 1) / p->sw + 1;
    if (p->ph > 0 && (ho - 1) * p->sh >= (int64_t)x->h + p->ph) ho--;
    if (p->pw > 0 && (wo - 1) * p->sw >= (int64_t)x->w + p->pw) wo--;
    return clssd__spatial_out(x->c, ho, wo, &n->out, err, err_size);
}

clssd_status clssd__pool_cl(clssd_exec *ex, const clssd_node *n)
{
    const __typeof__(n->p.pool) *p = &n->p.pool;
    const clssd_shape *x = &ex->g->nodes[n->src[0]].out;
    cl_kernel k;
    CLSSD_TRY(clssd__kernel(ex->ctx, "pool", "clssd_pool", &k));
    cl_mem in = ex->bufs[n->src[0]], out = ex->bufs[n - ex->g->nodes];
    /* one work-item per output row (cl/pool.cl) */
    const cl_int count = (cl_int)((size_t)n->out.c * (size_t)n->out.h * (size_t)ex->batch);
    const cl_int C = x->c, H = x->h, W = x->w, Ho = n->out.h, Wo = n->out.w, kh = p->kh,
                 kw = p->kw, sh = p->sh, sw = p->sw, ph = p->ph, pw = p->pw, m = p->method;
    clssd_status s = clssd__set_args(ex->ctx, k, 15, sizeof in, &in, sizeof out, &out,
                                     sizeof count, &count, sizeof C, &C, sizeof H, &H, sizeof W,
                                     &W, sizeof Ho, &Ho, sizeof Wo, &Wo, sizeof kh, &kh, sizeof kw,
                                     &kw, sizeof sh, &sh, sizeof sw, &sw, sizeof ph, &ph,
                                     sizeof pw, &pw, sizeof m, &m);
    const size_t gsz = (size_t)count, lsz = 8;
    if (s == CLSSD_OK) s = clssd__enqueue(ex->ctx, k, 1, &gsz, &lsz);
    clReleaseKernel(k);
    return s;
}
