/* T2: Caffe's EncodeBBox, code_type CENTER_SIZE, variance_encoded_in_target = false. Float
 * arithmetic in the operand order of bbox_util.cpp, which is also the inverse, step by step,
 * of src/ref/decode_ref.c (decode: cx = v0 * l0 * pw + pcx; here l0 = (cx - pcx) / pw / v0). */
#include <math.h>

#include "train.h"

clssd_status clssd__encode_bbox(const float prior[4], const float var[4], const float box[4],
                                float out[4])
{
    if (!prior || !var || !box || !out) return CLSSD_ERR_INVALID_ARG;
    const float pw = prior[2] - prior[0], ph = prior[3] - prior[1];
    const float bw = box[2] - box[0], bh = box[3] - box[1];
    /* Caffe CHECK_GTs the widths; a zero variance would divide by zero. The negated tests
     * also reject NaN. */
    if (!(pw > 0.0f) || !(ph > 0.0f) || !(bw > 0.0f) || !(bh > 0.0f)) return CLSSD_ERR_INVALID_ARG;
    if (var[0] == 0.0f || var[1] == 0.0f || var[2] == 0.0f || var[3] == 0.0f)
        return CLSSD_ERR_INVALID_ARG;
    const float pcx = (prior[0] + prior[2]) / 2.0f, pcy = (prior[1] + prior[3]) / 2.0f;
    const float bcx = (box[0] + box[2]) / 2.0f, bcy = (box[1] + box[3]) / 2.0f;
    out[0] = (bcx - pcx) / pw / var[0];
    out[1] = (bcy - pcy) / ph / var[1];
    out[2] = logf(bw / pw) / var[2];
    out[3] = logf(bh / ph) / var[3];
    return CLSSD_OK;
}
