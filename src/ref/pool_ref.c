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

clssd_status clssd__pool_ref(const clssd_ref_args *a)
{
    const clssd_node *n = a->node;
    const __typeof__(n->p.pool) *p = &n->p.pool;
    if (a->n_src < 1 || !a->src[0] || !a->dst || a->batch < 1) return CLSSD_ERR_INVALID_ARG;
    const clssd_shape *xs = &a->src_shape[0];
    const int32_t C = xs->c, H = xs->h, W = xs->w;
    int32_t kh = p->kh, kw = p->kw, sh = p->sh, sw = p->sw, ph = p->ph, pw = p->pw;
    if (p->global) {
        kh = H;
        kw = W;
        sh = sw = 1;
        ph = pw = 0;
    }
    if (C <= 0 || H <= 0 || W <= 0 || kh <= 0 || kw <= 0 || sh <= 0 || sw <= 0 || ph < 0 ||
        pw < 0 || ph >= kh || pw >= kw ||
        (p->method != CLSSD_POOL_MAX && p->method != CLSSD_POOL_AVE))
        return CLSSD_ERR_INVALID_ARG;
    const int32_t Ho = pooled(H, kh, sh, ph), Wo = pooled(W, kw, sw, pw);
    if (Ho <= 0 || Wo <= 0 || n->out.c != C || n->out.h != Ho || n->out.w != Wo)
        return CLSSD_ERR_INVALID_ARG;

    const size_t planes = (size_t)a->batch * (size_t)C;
    for (size_t pl = 0; pl < planes; pl++) {
        const float *x = a->src[0] + pl * (size_t)H * (size_t)W;
        float *y = a->dst + pl * (size_t)Ho * (size_t)Wo;
        for (int32_t i = 0; i < Ho; i++)
            for (int32_t j = 0; j < Wo; j++) {
                int32_t hs = i * sh - ph, ws = j * sw - pw;
                float v;
                if (p->method == CLSSD_POOL_MAX) {
                    const int32_t he = hs + kh < H ? hs + kh : H, we = ws + kw < W ? ws + kw : W;
                    hs = hs > 0 ? hs : 0;
                    ws = ws > 0 ? ws : 0;
                    v = -FLT_MAX;
                    for (int32_t u = hs; u < he; u++)
                        for (int32_t t = ws; t < we; t++)
                            if (x[(size_t)u * W + t] > v) v = x[(size_t)u * W + t];
                } else {
                    int32_t he = hs + kh < H + ph ? hs + kh : H + ph;
                    int32_t we = ws + kw < W + pw ? ws + kw : W + pw;
                    const int32_t pool_size = (he - hs) * (we - ws);
                    hs = hs > 0 ? hs : 0;
                    ws = ws > 0 ? ws : 0;
                    he = he < H ? he : H;
                    we = we < W ? we : W;
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
