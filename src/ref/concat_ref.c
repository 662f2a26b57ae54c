/* Reference CONCAT. axis 1: each input (per image) is a flat run of c*h*w values and the
 * runs are placed one after the other. axis 2 (priors): every input is [2, L_i] (boxes, then
 * variances) and the output keeps the two rows apart: [boxes of all inputs, variances of all
 * inputs], which is Caffe's concat of prior blobs on axis 2. Batch-constant concats (priors)
 * hold one copy. */
#include <string.h>

#include "clssd_internal.h"

clssd_status clssd__concat_ref(const clssd_ref_args *a)
{
    const clssd_node *n = a->node;
    if (a->n_src < 1 || a->n_src > CLSSD_MAX_SRC || !a->dst || a->batch < 1)
        return CLSSD_ERR_INVALID_ARG;
    const int32_t axis = n->p.concat.axis;
    if (axis != 1 && axis != 2) return CLSSD_ERR_INVALID_ARG;
    size_t len[CLSSD_MAX_SRC], total = 0;
    for (int32_t i = 0; i < a->n_src; i++) {
        const clssd_shape *s = &a->src_shape[i];
        if (!a->src[i]) return CLSSD_ERR_INVALID_ARG;
        if (axis == 2) {
            if (s->c != 2 || s->h <= 0 || s->w <= 0) return CLSSD_ERR_INVALID_ARG;
            len[i] = (size_t)s->h * (size_t)s->w;
        } else {
            len[i] = clssd__shape_count(s);
            if (len[i] == 0) return CLSSD_ERR_INVALID_ARG;
        }
        total += len[i];
    }
    const size_t rows = axis == 2 ? 2 : 1; /* rows per image */
    if (clssd__shape_count(&n->out) != rows * total) return CLSSD_ERR_INVALID_ARG;
    const int32_t copies = n->batch_const ? 1 : a->batch;
    for (int32_t b = 0; b < copies; b++) {
        float *y = a->dst + (size_t)b * rows * total;
        size_t off = 0;
        for (int32_t i = 0; i < a->n_src; i++) {
            const float *x = a->src[i] + (size_t)b * rows * len[i];
            for (size_t r = 0; r < rows; r++)
                memcpy(y + r * total + off, x + r * len[i], len[i] * sizeof(float));
            off += len[i];
        }
    }
    return CLSSD_OK;
}
