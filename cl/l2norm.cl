/* Caffe Normalize with across_spatial = false. The norm keeps eps inside the square root
 * (sqrt(sum x^2 + eps)), as the reference does. One work-item per (image, 16 consecutive
 * pixels): the channel loop then reads 64 contiguous bytes per channel instead of one float
 * 16 KB from the last (SSD512's conv4_3: a page per channel per pixel, 10.5 ms on PoCL). The
 * last, partial group of pixels takes the scalar path, with the same arithmetic. */
__kernel void clssd_l2norm_pixel(__global const float *x, __global float *y, const int B,
                                 const int C, const int HW, __global const float *scale,
                                 const int channel_shared, const float eps)
{
    const int groups = (HW + 15) / 16;
    const int i = get_global_id(0);
    if (i >= B * groups) return;
    const int b = i / groups, p0 = (i - b * groups) * 16;
    __global const float *xi = x + (size_t)b * (size_t)C * (size_t)HW + (size_t)p0;
    __global float *yi = y + (size_t)b * (size_t)C * (size_t)HW + (size_t)p0;
    if (p0 + 16 <= HW) {
        float16 ss = (float16)(0.0f);
        for (int c = 0; c < C; c++) {
            const float16 v = vload16(0, xi + (size_t)c * (size_t)HW);
            ss += v * v;
        }
        const float16 norm = sqrt(ss + (float16)(eps));
        for (int c = 0; c < C; c++) {
            const float16 v = vload16(0, xi + (size_t)c * (size_t)HW);
            vstore16(v / norm * (float16)(scale[channel_shared ? 0 : c]), 0,
                     yi + (size_t)c * (size_t)HW);
        }
        return;
    }
    for (int p = 0; p < HW - p0; p++) {
        float ss = 0.0f;
        for (int c = 0; c < C; c++) ss += xi[(size_t)c * (size_t)HW + p] * xi[(size_t)c * (size_t)HW + p];
        const float norm = sqrt(ss + eps);
        for (int c = 0; c < C; c++)
            yi[(size_t)c * (size_t)HW + p] =
                xi[(size_t)c * (size_t)HW + p] / norm * scale[channel_shared ? 0 : c];
    }
}

/* across_spatial = true: one work-group per image reduces over C*H*W. */
__kernel void clssd_l2norm_image(__global const float *x, __global float *y, const int C,
                                 const int HW, __global const float *scale,
                                 const int channel_shared, const float eps)
{
    __local float part[CLSSD_WG];
    const int b = get_group_id(0), lid = get_local_id(0), n = C * HW;
    __global const float *xi = x + (size_t)b * (size_t)n;
    __global float *yi = y + (size_t)b * (size_t)n;
    float ss = 0.0f;
    for (int k = lid; k < n; k += CLSSD_WG) ss += xi[k] * xi[k];
    part[lid] = ss;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = CLSSD_WG / 2; s > 0; s >>= 1) {
        if (lid < s) part[lid] += part[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float norm = sqrt(part[0] + eps);
    for (int k = lid; k < n; k += CLSSD_WG)
        yi[k] = xi[k] / norm * scale[channel_shared ? 0 : k / HW];
}
