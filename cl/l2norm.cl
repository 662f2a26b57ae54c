/* Caffe Normalize with across_spatial = false: one work-item per (image, pixel). The norm
 * keeps eps inside the square root (sqrt(sum x^2 + eps)), as the reference does. */
__kernel void clssd_l2norm_pixel(__global const float *x, __global float *y, const int B,
                                 const int C, const int HW, __global const float *scale,
                                 const int channel_shared, const float eps)
{
    const int i = get_global_id(0);
    if (i >= B * HW) return;
    const int b = i / HW, p = i % HW;
    __global const float *xi = x + (size_t)b * (size_t)(C * HW) + p;
    __global float *yi = y + (size_t)b * (size_t)(C * HW) + p;
    float ss = 0.0f;
    for (int c = 0; c < C; c++) ss += xi[c * HW] * xi[c * HW];
    const float norm = sqrt(ss + eps);
    for (int c = 0; c < C; c++) yi[c * HW] = xi[c * HW] / norm * scale[channel_shared ? 0 : c];
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
