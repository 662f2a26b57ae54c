/* Reference SIGMOID y = 1 / (1 + exp(-x)). expf() is only called on -|x| <= 0, so it never
 * overflows: for x < 0 the equivalent e / (1 + e), e = exp(x), is used, which also keeps the
 * tiny results of very negative x instead of rounding 1 / (1 + huge) to 0. Same branches and
 * operation order as the kernel in cl/eltwise.cl. */
#include <math.h>

#include "clssd_internal.h"

clssd_status clssd__sigmoid_ref(const clssd_ref_args *a)
{
    const clssd_node *n = a->node;
    if (a->n_src < 1 || !a->src[0] || !a->dst || a->batch < 1) return CLSSD_ERR_INVALID_ARG;
    if (clssd__shape_count(&n->out) != clssd__shape_count(&a->src_shape[0]))
        return CLSSD_ERR_INVALID_ARG;
    size_t count;
    if (!clssd__mul_size(clssd__shape_count(&n->out), n->batch_const ? 1u : (size_t)a->batch,
                         &count))
        return CLSSD_ERR_INVALID_ARG;
    const float *x = a->src[0];
    for (size_t i = 0; i < count; i++) {
        const float v = x[i];
        const float e = expf(-fabsf(v));
        a->dst[i] = v >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
    }
    return CLSSD_OK;
}
