/* Reference ReLU with Caffe's negative_slope (leaky when non-zero), capped at max when
 * max > 0 (ReLU6). */
#include "clssd_internal.h"

clssd_status clssd__relu_ref(const clssd_ref_args *a)
{
    if (a->n_src < 1 || !a->src[0] || !a->dst || a->batch < 1) return CLSSD_ERR_INVALID_ARG;
    size_t count;
    if (!clssd__mul_size(clssd__shape_count(&a->src_shape[0]), (size_t)a->batch, &count))
        return CLSSD_ERR_INVALID_ARG;
    if (clssd__shape_count(&a->node->out) != clssd__shape_count(&a->src_shape[0]))
        return CLSSD_ERR_INVALID_ARG;
    const float slope = a->node->p.relu.negative_slope, max = a->node->p.relu.max;
    if (!(max >= 0.0f)) return CLSSD_ERR_INVALID_ARG;
    const float *x = a->src[0];
    for (size_t i = 0; i < count; i++) {
        const float v = x[i] > 0.0f ? x[i] : x[i] * slope;
        a->dst[i] = max > 0.0f && v > max ? max : v;
    }
    return CLSSD_OK;
}
