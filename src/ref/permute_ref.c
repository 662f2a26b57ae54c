/* Reference PERMUTE: NCHW -> NHWC (Caffe Permute order 0,2,3,1), then flattened, so that
 * the values of one prior are consecutive in the heads (N3). */
#include "clssd_internal.h"

clssd_status clssd__permute_ref(const clssd_ref_args *a)
{
    if (a->n_src < 1 || !a->src[0] || !a->dst || a->batch < 1) return CLSSD_ERR_INVALID_ARG;
    const clssd_shape *xs = &a->src_shape[0];
    if (xs->c <= 0 || xs->h <= 0 || xs->w <= 0) return CLSSD_ERR_INVALID_ARG;
    const size_t C = (size_t)xs->c, HW = (size_t)xs->h * (size_t)xs->w, img = C * HW;
    if (clssd__shape_count(&a->node->out) != img) return CLSSD_ERR_INVALID_ARG;
    for (int32_t b = 0; b < a->batch; b++) {
        const float *x = a->src[0] + (size_t)b * img;
        float *y = a->dst + (size_t)b * img;
        for (size_t c = 0; c < C; c++)
            for (size_t k = 0; k < HW; k++) y[k * C + c] = x[c * HW + k];
    }
    return CLSSD_OK;
}
