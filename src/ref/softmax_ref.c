/* Reference SOFTMAX over consecutive groups of G values (the classes of one prior after
 * PERMUTE + CONCAT), with Caffe's max subtraction. */
#include <math.h>

#include "clssd_internal.h"

clssd_status clssd__softmax_ref(const clssd_ref_args *a)
{
    const int32_t G = a->node->p.softmax.group;
    if (a->n_src < 1 || !a->src[0] || !a->dst || a->batch < 1 || G <= 0)
        return CLSSD_ERR_INVALID_ARG;
    const size_t K = clssd__shape_count(&a->src_shape[0]);
    if (K == 0 || K % (size_t)G != 0) return CLSSD_ERR_INVALID_ARG;
    if (clssd__shape_count(&a->node->out) != K) return CLSSD_ERR_INVALID_ARG;
    const size_t groups = K / (size_t)G * (size_t)a->batch;
    for (size_t q = 0; q < groups; q++) {
        const float *x = a->src[0] + q * (size_t)G;
        float *y = a->dst + q * (size_t)G;
        float mx = x[0];
        for (int32_t k = 1; k < G; k++) mx = x[k] > mx ? x[k] : mx;
        float sum = 0.0f;
        for (int32_t k = 0; k < G; k++) sum += (y[k] = expf(x[k] - mx));
        for (int32_t k = 0; k < G; k++) y[k] /= sum;
    }
    return CLSSD_OK;
}
