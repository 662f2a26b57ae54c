/* Reference DECODE: Caffe's DecodeBBox with code_type CENTER_SIZE and
 * variance_encoded_in_target = false (D1), variances read per prior from the prior blob
 * (P7). Boxes are not clipped (D2). Float throughout, in the order of the formulas in
 * docs/ops.md, so that the device (FP_CONTRACT OFF) rounds the same way. */
#include <math.h>

#include "clssd_internal.h"

clssd_status clssd__decode_ref(const clssd_ref_args *a)
{
    if (a->n_src < 2 || !a->src[0] || !a->src[1] || !a->dst || a->batch < 1)
        return CLSSD_ERR_INVALID_ARG;
    const size_t n_loc = clssd__shape_count(&a->src_shape[0]);
    if (n_loc == 0 || n_loc % 4 != 0 || clssd__shape_count(&a->src_shape[1]) != 2 * n_loc ||
        clssd__shape_count(&a->node->out) != n_loc)
        return CLSSD_ERR_INVALID_ARG;
    const size_t P = n_loc / 4;
    const float *prior = a->src[1], *var = a->src[1] + n_loc; /* batch-constant */
    for (int32_t b = 0; b < a->batch; b++) {
        const float *loc = a->src[0] + (size_t)b * n_loc;
        float *y = a->dst + (size_t)b * n_loc;
        for (size_t i = 0; i < P; i++) {
            const float *pr = prior + 4 * i, *v = var + 4 * i, *l = loc + 4 * i;
            const float pw = pr[2] - pr[0], ph = pr[3] - pr[1];
            const float pcx = (pr[0] + pr[2]) / 2.0f, pcy = (pr[1] + pr[3]) / 2.0f;
            const float cx = v[0] * l[0] * pw + pcx, cy = v[1] * l[1] * ph + pcy;
            const float w = expf(v[2] * l[2]) * pw, h = expf(v[3] * l[3]) * ph;
            y[4 * i] = cx - w / 2.0f;
            y[4 * i + 1] = cy - h / 2.0f;
            y[4 * i + 2] = cx + w / 2.0f;
            y[4 * i + 3] = cy + h / 2.0f;
        }
    }
    return CLSSD_OK;
}
