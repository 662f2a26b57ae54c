/* Reference pooling, Caffe's rules: output size rounds up (then drops a window that would
 * start inside the bottom/right padding), MAX ignores padding, AVE divides by the window
 * size clipped to the padded input, not to the image. */
#include <float.h>

#include "clssd_internal.h"

/* Caffe's pooled size: ceil division, then the last window must start inside the image or
 * the top/left padding. */
static int32_t pooled(int32_t in, int32_t k, int32_t s, int32_t p)
{
    if (in + 2 * p < k) return -1;
    int32_t o = (in + 2 * p - k + s - 1) / s + 1;
    if (p > 0 && (o - 1) * s >= in + p) o--;
    return o;
}

clssd_status clssd__pool_ref_geom(const clssd_ref_args *a, clssd_pool_geom *q)
{
    const clssd_node *n = a->node;
    const __typeof__(n->p.pool) *p = &n->p.pool;
    const clssd_shape *xs = &a->src_shape[0];
    *q = (clssd_pool_geom){.C = xs->c, .H = xs->h, .W = xs->w, .kh = p->kh, .kw = p->kw,
                           .sh = p->sh, .sw = p->sw, .ph = p->ph, .pw = p->pw};
    if (p->global) {
        q->kh = q->H;
        q->kw = q->W;
        q->sh = q->sw = 1;
        q->ph = q->pw = 0;
    }
    if (q->C <= 0 || q->H <= 0 || q->W <= 0 || q->kh <= 0 || q->kw <= 0 || q->sh <= 0 ||
        q->sw <= 0 || q->ph < 0 || q->pw < 0 || q->ph >= q->kh || q->pw >= q->kw ||
        (p->method != CLSSD_POOL_MAX && p->method != CLSSD_POOL_AVE))
        return CLSSD_ERR_INVALID_ARG;
    q->Ho = pooled(q->H, q->kh, q->sh, q->ph);
    q->Wo = pooled(q->W, q->kw, q->sw, q->pw);
    if (q->Ho <= 0 || q->Wo <= 0 || n->out.c != q->C || n->out.h != q->Ho || n->out.w != q->Wo)
        return CLSSD_ERR_INVALID_ARG;
    return CLSSD_OK;
}

void clssd__pool_window(const clssd_pool_geom *q, int32_t i, int32_t j, int32_t *hs,
                        int32_t *he, int32_t *ws, int32_t *we, int32_t *pool_size)
{
    int32_t h0 = i * q->sh - q->ph, w0 = j * q->sw - q->pw;
    /* AVE's divisor: the window clipped to the padded input (Caffe), not to the image */
    const int32_t h1 = h0 + q->kh < q->H + q->ph ? h0 + q->kh : q->H + q->ph;
    const int32_t w1 = w0 + q->kw < q->W + q->pw ? w0 + q->kw : q->W + q->pw;
    *pool_size = (h1 - h0) * (w1 - w0);
    *hs = h0 > 0 ? h0 : 0;
    *ws = w0 > 0 ? w0 : 0;
    *he = h1 < q->H ? h1 : q->H;
    *we = w1 < q->W ? w1 : q->W;
}

clssd_status clssd__pool_ref(const clssd_ref_args *a)
{
    const clssd_node *n = a->node;
    const __typeof__(n->p.pool) *p = &n->p.pool;
    if (a->n_src < 1 || !a->src[0] || !a->dst || a->batch < 1) return CLSSD_ERR_INVALID_ARG;
    clssd_pool_geom q;
    CLSSD_TRY(clssd__pool_ref_geom(a, &q));
    const int32_t C = q.C, H = q.H, W = q.W, Ho = q.Ho, Wo = q.Wo;

    const size_t planes = (size_t)a->batch * (size_t)C;
    for (size_t pl = 0; pl < planes; pl++) {
        const float *x = a->src[0] + pl * (size_t)H * (size_t)W;
        float *y = a->dst + pl * (size_t)Ho * (size_t)Wo;
        for (int32_t i = 0; i < Ho; i++)
            for (int32_t j = 0; j < Wo; j++) {
                int32_t hs, he, ws, we, pool_size;
                clssd__pool_window(&q, i, j, &hs, &he, &ws, &we, &pool_size);
                float v;
                if (p->method == CLSSD_POOL_MAX) {
                    v = -FLT_MAX;
                    for (int32_t u = hs; u < he; u++)
                        for (int32_t t = ws; t < we; t++)
                            if (x[(size_t)u * W + t] > v) v = x[(size_t)u * W + t];
                } else {
                    v = 0.0f;
                    for (int32_t u = hs; u < he; u++)
                        for (int32_t t = ws; t < we; t++) v += x[(size_t)u * W + t];
                    v /= (float)pool_size;
                }
                y[(size_t)i * Wo + j] = v;
            }
    }
    return CLSSD_OK;
}
