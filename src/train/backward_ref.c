/* Backward references (issue 6, design-notes 10): dL/dx, and dL/dweights, dL/dbias where the
 * op has them, for ReLU, pooling, L2Norm and Conv2d, in plain C. They are the ground truth for
 * a later backward_cl, so they favour plainness over speed: direct loops, sums in double, one
 * rounding to float at the end. Conventions at the non-differentiable points are documented in
 * train.h; each follows what Caffe's backward does (or, where Caffe has no such layer, keeps
 * the same rule: the clamped side owns the tie). */
#include <float.h>
#include <math.h>
#include <string.h>

#include "train/train.h"

/* Same validation as the forward references: the backward runs on the forward's arguments,
 * so it must refuse what the forward refuses. */
static int counts(const clssd_ref_args *a, size_t *in, size_t *out)
{
    if (!a || !a->node || a->n_src < 1 || !a->src[0] || a->batch < 1) return 0;
    const size_t ci = clssd__shape_count(&a->src_shape[0]), co = clssd__shape_count(&a->node->out);
    if (ci == 0 || co == 0) return 0;
    return clssd__mul_size(ci, (size_t)a->batch, in) && clssd__mul_size(co, (size_t)a->batch, out);
}

/* ---------------------------------------------------------------- ReLU */

clssd_status clssd__relu_backward_ref(const clssd_ref_args *a, const float *dy, float *dx)
{
    size_t n_in, n_out;
    if (!counts(a, &n_in, &n_out) || n_in != n_out || !dy || !dx) return CLSSD_ERR_INVALID_ARG;
    const float slope = a->node->p.relu.negative_slope, max = a->node->p.relu.max;
    if (!(max >= 0.0f)) return CLSSD_ERR_INVALID_ARG;
    const float *x = a->src[0];
    for (size_t i = 0; i < n_in; i++) {
        /* Caffe relu_layer.cpp: (x > 0) + slope * (x <= 0), so x == 0 takes the slope */
        const float v = x[i] > 0.0f ? x[i] : x[i] * slope;
        const float d = x[i] > 0.0f ? 1.0f : slope;
        /* the cap: flat where the forward clamps and also at v == max exactly (TensorFlow's
         * Relu6Grad passes only 0 < x < 6) -- the same side-of-the-tie rule as at 0 */
        dx[i] = max > 0.0f && v >= max ? 0.0f : dy[i] * d;
    }
    return CLSSD_OK;
}

/* ---------------------------------------------------------------- pooling */

clssd_status clssd__pool_backward_ref(const clssd_ref_args *a, const float *dy, float *dx)
{
    size_t n_in, n_out;
    if (!counts(a, &n_in, &n_out) || !dy || !dx) return CLSSD_ERR_INVALID_ARG;
    const clssd_node *n = a->node;
    const __typeof__(n->p.pool) *p = &n->p.pool;
    clssd_pool_geom q;
    CLSSD_TRY(clssd__pool_ref_geom(a, &q)); /* refuses what the forward refuses */
    const int32_t C = q.C, H = q.H, W = q.W, Ho = q.Ho, Wo = q.Wo;

    /* windows overlap when stride < kernel: gradients add up, so start from zero */
    memset(dx, 0, n_in * sizeof(float));
    const size_t planes = (size_t)a->batch * (size_t)C;
    for (size_t pl = 0; pl < planes; pl++) {
        const float *x = a->src[0] + pl * (size_t)H * (size_t)W;
        const float *g = dy + pl * (size_t)Ho * (size_t)Wo;
        float *d = dx + pl * (size_t)H * (size_t)W;
        for (int32_t i = 0; i < Ho; i++)
            for (int32_t j = 0; j < Wo; j++) {
                int32_t hs, he, ws, we, pool_size;
                clssd__pool_window(&q, i, j, &hs, &he, &ws, &we, &pool_size);
                const float gij = g[(size_t)i * Wo + j];
                if (p->method == CLSSD_POOL_MAX) {
                    /* the forward's scan: row-major, strict >, from -FLT_MAX. Ties go to the
                     * first in scan order (Caffe's mask does the same); a window of only
                     * -inf / -FLT_MAX / NaN has no argmax and passes no gradient. */
                    float v = -FLT_MAX;
                    size_t arg = SIZE_MAX;
                    for (int32_t u = hs; u < he; u++)
                        for (int32_t t = ws; t < we; t++)
                            if (x[(size_t)u * W + t] > v) {
                                v = x[(size_t)u * W + t];
                                arg = (size_t)u * W + t;
                            }
                    if (arg != SIZE_MAX) d[arg] += gij;
                } else {
                    /* the forward's divisor (padding cells counted); only the cells inside
                     * the image get gradient */
                    const float share = gij / (float)pool_size;
                    for (int32_t u = hs; u < he; u++)
                        for (int32_t t = ws; t < we; t++)
                            d[(size_t)u * W + t] += share;
                }
            }
    }
    return CLSSD_OK;
}

/* ---------------------------------------------------------------- L2Norm */

/* One normalization group: n values x[k * stride] for k < n, scale index per element given by
 * the channel (k / per_c) -- per_c = 1 for across_spatial 0 (one value per channel), HW for
 * across_spatial 1 (the image in channel-major order). With y = s * x / N, N = sqrt(sum x^2 +
 * eps):  dx_k = s_k g_k / N - x_k (sum_j s_j g_j x_j) / N^3,  ds_k += g_k x_k / N. */
static void l2norm_group(const float *x, const float *g, const float *scale, int shared, size_t n,
                         size_t stride, size_t per_c, double eps, float *dx, double *ds)
{
    double ss = 0.0, dot = 0.0;
    for (size_t k = 0; k < n; k++) {
        const double xk = x[k * stride];
        ss += xk * xk;
    }
    for (size_t k = 0; k < n; k++) {
        const size_t c = shared ? 0 : k / per_c;
        dot += (double)scale[c] * (double)g[k * stride] * (double)x[k * stride];
    }
    const double norm = sqrt(ss + eps), n3 = norm * norm * norm;
    for (size_t k = 0; k < n; k++) {
        const size_t c = shared ? 0 : k / per_c;
        const double xk = x[k * stride], gk = g[k * stride];
        if (dx) dx[k * stride] = (float)((double)scale[c] * gk / norm - xk * dot / n3);
        if (ds) ds[c] += gk * xk / norm;
    }
}

clssd_status clssd__l2norm_backward_ref(const clssd_ref_args *a, const float *dy, float *dx,
                                        float *dscale)
{
    size_t n_in, n_out;
    if (!counts(a, &n_in, &n_out) || n_in != n_out || !dy || !a->weight)
        return CLSSD_ERR_INVALID_ARG;
    const __typeof__(a->node->p.l2norm) *p = &a->node->p.l2norm;
    const clssd_shape *xs = &a->src_shape[0];
    if (!(p->eps >= 0.0f)) return CLSSD_ERR_INVALID_ARG;
    const size_t C = (size_t)xs->c, HW = (size_t)xs->h * (size_t)xs->w, img = C * HW;
    const size_t n_scale = p->channel_shared ? 1 : C;
    if (clssd__shape_count(&a->weight_shape) != 0 &&
        clssd__shape_count(&a->weight_shape) != n_scale)
        return CLSSD_ERR_INVALID_ARG;
    double *ds = NULL;
    if (dscale) {
        ds = clssd__calloc(n_scale, sizeof(double));
        if (!ds) return CLSSD_ERR_OUT_OF_MEMORY;
    }
    for (int32_t b = 0; b < a->batch; b++) {
        const size_t o = (size_t)b * img;
        float *dxb = dx ? dx + o : NULL;
        if (p->across_spatial)
            l2norm_group(a->src[0] + o, dy + o, a->weight, p->channel_shared, img, 1, HW, p->eps,
                         dxb, ds);
        else
            for (size_t k = 0; k < HW; k++)
                l2norm_group(a->src[0] + o + k, dy + o + k, a->weight, p->channel_shared, C, HW, 1,
                             p->eps, dxb ? dxb + k : NULL, ds);
    }
    if (dscale)
        for (size_t c = 0; c < n_scale; c++)
            dscale[c] = (float)ds[c];
    clssd__free(ds);
    return CLSSD_OK;
}

/* ---------------------------------------------------------------- Conv2d */


clssd_status clssd__conv2d_backward_ref(const clssd_ref_args *a, const float *dy, float *dx,
                                        float *dweight, float *dbias)
{
    size_t n_in, n_out;
    if (!counts(a, &n_in, &n_out) || !dy || !a->weight) return CLSSD_ERR_INVALID_ARG;
    const clssd_node *n = a->node;
    const __typeof__(n->p.conv) *p = &n->p.conv;
    const clssd_shape *xs = &a->src_shape[0];
    if (p->cout <= 0 || p->groups <= 0 || p->kh <= 0 || p->kw <= 0 || p->sh <= 0 || p->sw <= 0 ||
        p->dh <= 0 || p->dw <= 0 || p->ph < 0 || p->pw < 0 || p->ph_extra < 0 || p->pw_extra < 0 ||
        xs->c % p->groups != 0 || p->cout % p->groups != 0 || !(p->relu_max >= 0.0f))
        return CLSSD_ERR_INVALID_ARG;
    const int32_t C = xs->c, H = xs->h, W = xs->w, M = p->cout, G = p->groups;
    const int32_t Cg = C / G, Mg = M / G;
    const int32_t Ho = clssd__conv_out(H, p->kh, p->sh, p->ph, p->ph_extra, p->dh);
    const int32_t Wo = clssd__conv_out(W, p->kw, p->sw, p->pw, p->pw_extra, p->dw);
    if (Ho <= 0 || Wo <= 0 || n->out.c != M || n->out.h != Ho || n->out.w != Wo)
        return CLSSD_ERR_INVALID_ARG;
    const size_t K = (size_t)Cg * (size_t)p->kh * (size_t)p->kw, n_w = (size_t)M * K;
    if (clssd__shape_count(&a->weight_shape) != 0 && clssd__shape_count(&a->weight_shape) != n_w)
        return CLSSD_ERR_INVALID_ARG;

    /* The fused activation's mask needs the pre-activation z. It is taken from the forward
     * reference itself (relu switched off), so the mask agrees bit for bit with the float
     * forward: gradient passes where 0 < z (and z < relu_max when capped). z == 0 and
     * z == relu_max pass nothing, as clssd__relu_backward_ref. */
    float *z = NULL;
    double *gdx = NULL, *gdw = NULL, *gdb = NULL;
    clssd_status st = CLSSD_ERR_OUT_OF_MEMORY;
    if (p->relu) {
        clssd_node plain = *n;
        plain.p.conv.relu = 0;
        plain.p.conv.relu_max = 0.0f;
        clssd_ref_args fa = *a;
        fa.node = &plain;
        z = clssd__malloc(n_out * sizeof(float)); /* counts() bounded n_out * 4 by memory */
        if (!z) goto done;
        fa.dst = z;
        st = clssd__conv2d_ref(&fa);
        if (st != CLSSD_OK) goto done;
        st = CLSSD_ERR_OUT_OF_MEMORY;
    }
    if ((dx && !(gdx = clssd__calloc(n_in, sizeof(double)))) ||
        (dweight && !(gdw = clssd__calloc(n_w, sizeof(double)))) ||
        (dbias && !(gdb = clssd__calloc((size_t)M, sizeof(double)))))
        goto done;

    const size_t HW = (size_t)H * (size_t)W, HWo = (size_t)Ho * (size_t)Wo;
    for (int32_t b = 0; b < a->batch; b++) {
        const float *x = a->src[0] + (size_t)b * (size_t)C * HW;
        const size_t yo = (size_t)b * (size_t)M * HWo;
        for (int32_t o = 0; o < M; o++) {
            const int32_t g = o / Mg;
            const float *w = a->weight + (size_t)o * K;
            for (int32_t oh = 0; oh < Ho; oh++)
                for (int32_t ow = 0; ow < Wo; ow++) {
                    const size_t yi = yo + (size_t)o * HWo + (size_t)oh * (size_t)Wo + (size_t)ow;
                    if (z && (!(z[yi] > 0.0f) || (p->relu_max > 0.0f && z[yi] >= p->relu_max)))
                        continue;
                    const double gz = dy[yi];
                    if (gdb) gdb[o] += gz;
                    for (int32_t c = 0; c < Cg; c++) {
                        const size_t xc = (size_t)(g * Cg + c) * HW;
                        for (int32_t u = 0; u < p->kh; u++) {
                            /* zero padding (ph_extra, pw_extra included) contributes to no
                             * weight: only taps that land inside the image count */
                            const int32_t ih = oh * p->sh - p->ph + u * p->dh;
                            if (ih < 0 || ih >= H) continue;
                            for (int32_t v = 0; v < p->kw; v++) {
                                const int32_t iw = ow * p->sw - p->pw + v * p->dw;
                                if (iw < 0 || iw >= W) continue;
                                const size_t xi = xc + (size_t)ih * (size_t)W + (size_t)iw;
                                const size_t wi =
                                    ((size_t)c * (size_t)p->kh + (size_t)u) * (size_t)p->kw +
                                    (size_t)v;
                                if (gdw) gdw[(size_t)o * K + wi] += gz * (double)x[xi];
                                if (gdx) gdx[(size_t)b * (size_t)C * HW + xi] += gz * (double)w[wi];
                            }
                        }
                    }
                }
        }
    }
    if (dx)
        for (size_t i = 0; i < n_in; i++)
            dx[i] = (float)gdx[i];
    if (dweight)
        for (size_t i = 0; i < n_w; i++)
            dweight[i] = (float)gdw[i];
    if (dbias)
        for (int32_t o = 0; o < M; o++)
            dbias[o] = (float)gdb[o];
    st = CLSSD_OK;
done:
    clssd__free(z);
    clssd__free(gdx);
    clssd__free(gdw);
    clssd__free(gdb);
    return st;
}
