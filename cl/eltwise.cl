/* Element-wise ops. */
__kernel void clssd_relu(__global const float *x, __global float *y, const int n,
                         const float slope)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float v = x[i];
    y[i] = v > 0.0f ? v : v * slope;
}
