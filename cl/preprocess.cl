/* u8 RGB images -> network input [B, 3, H, W]: bilinear resize, channel order, mean, scale.
 * desc[b] = {byte offset, width, height, stride} of image b inside `pix`. tf_legacy selects
 * the source coordinate: 0 = half-pixel centres (OpenCV INTER_LINEAR, Caffe-SSD's warp),
 * 1 = TensorFlow's ResizeBilinear without align_corners / half_pixel_centers (src = dst *
 * in / out: the image is sampled from its top-left corner). Everything after the source
 * coordinate is shared. */
__kernel void clssd_preprocess_bilinear(__global const uchar *pix, __global const int4 *desc,
                                        __global float *y, const int B, const int out_w,
                                        const int out_h, const float m0, const float m1,
                                        const float m2, const float scale, const int bgr,
                                        const int tf_legacy)
{
    const int x = get_global_id(0), yy = get_global_id(1), b = get_global_id(2);
    if (x >= out_w || yy >= out_h || b >= B) return;
    const int4 d = desc[b];
    const int in_w = d.y, in_h = d.z, stride = d.w;
    float sx, sy;
    if (tf_legacy) {
        /* never negative, so no clamp below */
        sx = (float)x * ((float)in_w / (float)out_w);
        sy = (float)yy * ((float)in_h / (float)out_h);
    } else {
        sx = ((float)x + 0.5f) * ((float)in_w / (float)out_w) - 0.5f;
        sy = ((float)yy + 0.5f) * ((float)in_h / (float)out_h) - 0.5f;
        sx = fmax(sx, 0.0f);
        sy = fmax(sy, 0.0f);
    }
    int x0 = min((int)floor(sx), in_w - 1), y0 = min((int)floor(sy), in_h - 1);
    const int x1 = min(x0 + 1, in_w - 1), y1 = min(y0 + 1, in_h - 1);
    const float fx = sx - (float)x0, fy = sy - (float)y0;
    __global const uchar *r0 = pix + d.x + y0 * stride;
    __global const uchar *r1 = pix + d.x + y1 * stride;
    const int plane = out_w * out_h;
    __global float *out = y + (size_t)b * (size_t)(3 * plane) + yy * out_w + x;
    const float mean[3] = {m0, m1, m2};
    for (int ch = 0; ch < 3; ch++) {
        const float p00 = (float)r0[x0 * 3 + ch], p01 = (float)r0[x1 * 3 + ch];
        const float p10 = (float)r1[x0 * 3 + ch], p11 = (float)r1[x1 * 3 + ch];
        const float v = (1.0f - fy) * ((1.0f - fx) * p00 + fx * p01) +
                        fy * ((1.0f - fx) * p10 + fx * p11);
        const int k = bgr ? 2 - ch : ch; /* network channel of RGB channel ch */
        out[k * plane] = (v - mean[k]) * scale;
    }
}
