/* Reference PREPROCESS: u8 RGB -> bilinear resize, channel order, mean, scale. The source
 * coordinate follows pre.resize: half-pixel centres (OpenCV INTER_LINEAR, as Caffe-SSD warps
 * its test images) or TensorFlow's legacy ResizeBilinear (src = dst * in / out). The
 * arithmetic is float in the same order as the kernel, so both round alike. */
#include <math.h>

#include "clssd_internal.h"

/* Source column (or row) of output position o: the two neighbours and the weight of the
 * second one. */
static void bilinear_src(int32_t o, int32_t in, int32_t out, int tf_legacy, int32_t *i0,
                         int32_t *i1, float *f)
{
    float s;
    if (tf_legacy) {
        s = (float)o * ((float)in / (float)out); /* never negative */
    } else {
        s = ((float)o + 0.5f) * ((float)in / (float)out) - 0.5f;
        s = s > 0.0f ? s : 0.0f;
    }
    int32_t k = (int32_t)floorf(s);
    k = k < in - 1 ? k : in - 1;
    *i0 = k;
    *i1 = k + 1 < in - 1 ? k + 1 : in - 1;
    *f = s - (float)k;
}

clssd_status clssd__preprocess_ref(const clssd_ref_args *a)
{
    const __typeof__(a->node->p.pre) *p = &a->node->p.pre;
    if (!a->images || !a->dst || a->batch < 1) return CLSSD_ERR_INVALID_ARG;
    const int32_t ow = p->out_w, oh = p->out_h;
    if (ow <= 0 || oh <= 0 || !(p->scale == p->scale) ||
        (p->resize != CLSSD_RESIZE_HALF_PIXEL && p->resize != CLSSD_RESIZE_TF_LEGACY))
        return CLSSD_ERR_INVALID_ARG;
    const int tf = p->resize == CLSSD_RESIZE_TF_LEGACY;
    const size_t plane = (size_t)ow * (size_t)oh;
    if (clssd__shape_count(&a->node->out) != 3 * plane) return CLSSD_ERR_INVALID_ARG;
    for (int32_t b = 0; b < a->batch; b++) {
        const clssd_image *im = &a->images[b];
        if (!im->rgb || im->width <= 0 || im->height <= 0 ||
            (int64_t)im->stride < 3 * (int64_t)im->width)
            return CLSSD_ERR_BAD_IMAGE;
        float *y = a->dst + (size_t)b * 3 * plane;
        for (int32_t yy = 0; yy < oh; yy++) {
            int32_t y0, y1;
            float fy;
            bilinear_src(yy, im->height, oh, tf, &y0, &y1, &fy);
            const uint8_t *r0 = im->rgb + (size_t)y0 * (size_t)im->stride;
            const uint8_t *r1 = im->rgb + (size_t)y1 * (size_t)im->stride;
            for (int32_t x = 0; x < ow; x++) {
                int32_t x0, x1;
                float fx;
                bilinear_src(x, im->width, ow, tf, &x0, &x1, &fx);
                for (int ch = 0; ch < 3; ch++) {
                    const float p00 = (float)r0[3 * x0 + ch], p01 = (float)r0[3 * x1 + ch];
                    const float p10 = (float)r1[3 * x0 + ch], p11 = (float)r1[3 * x1 + ch];
                    const float v = (1.0f - fy) * ((1.0f - fx) * p00 + fx * p01) +
                                    fy * ((1.0f - fx) * p10 + fx * p11);
                    const int k = p->bgr ? 2 - ch : ch; /* network channel of RGB channel ch */
                    y[(size_t)k * plane + (size_t)yy * (size_t)ow + (size_t)x] =
                        (v - p->mean[k]) * p->scale;
                }
            }
        }
    }
    return CLSSD_OK;
}
