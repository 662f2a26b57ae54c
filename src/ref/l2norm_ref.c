/* Reference Normalize (Caffe normalize_layer.cpp): y = x / sqrt(sum x^2 + eps) * scale, eps
 * inside the square root (N2). The sum runs over the channels of one position
 * (across_spatial = 0, SSD's conv4_3_norm) or over the whole image (across_spatial = 1, the
 * proto default). scale has one value per channel, or one for all (channel_shared). */
#include <math.h>

#include "clssd_internal.h"

clssd_status clssd__l2norm_ref(const clssd_ref_args *a)
{
    const clssd_node *n = a->node;
    const __typeof__(n->p.l2norm) *p = &n->p.l2norm;
    if (a->n_src < 1 || !a->src[0] || !a->dst || !a->weight || a->batch < 1)
        return CLSSD_ERR_INVALID_ARG;
    const clssd_shape *xs = &a->src_shape[0];
    if (xs->c <= 0 || xs->h <= 0 || xs->w <= 0 || !(p->eps >= 0.0f)) return CLSSD_ERR_INVALID_ARG;
    const size_t C = (size_t)xs->c, HW = (size_t)xs->h * (size_t)xs->w, img = C * HW;
    const size_t n_scale = p->channel_shared ? 1 : C;
    if (clssd__shape_count(&a->weight_shape) != 0 &&
        clssd__shape_count(&a->weight_shape) != n_scale)
        return CLSSD_ERR_INVALID_ARG;
    const float *scale = a->weight;

    for (int32_t b = 0; b < a->batch; b++) {
        const float *x = a->src[0] + (size_t)b * img;
        float *y = a->dst + (size_t)b * img;
        if (p->across_spatial) {
            /* per-channel partial sums keep the float error of a long sum small */
            float ss = 0.0f;
            for (size_t c = 0; c < C; c++) {
                float part = 0.0f;
                for (size_t k = 0; k < HW; k++) part += x[c * HW + k] * x[c * HW + k];
                ss += part;
            }
            const float norm = sqrtf(ss + p->eps);
            for (size_t c = 0; c < C; c++) {
                const float s = scale[p->channel_shared ? 0 : c];
                for (size_t k = 0; k < HW; k++) y[c * HW + k] = x[c * HW + k] / norm * s;
            }
        } else {
            for (size_t k = 0; k < HW; k++) {
                float ss = 0.0f;
                for (size_t c = 0; c < C; c++) ss += x[c * HW + k] * x[c * HW + k];
                const float norm = sqrtf(ss + p->eps);
                for (size_t c = 0; c < C; c++)
                    y[c * HW + k] = x[c * HW + k] / norm * scale[p->channel_shared ? 0 : c];
            }
        }
    }
    return CLSSD_OK;
}
