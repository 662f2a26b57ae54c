/* Layout ops for the multibox heads. */

/* NCHW -> NHWC, flattened: y[b][(h*W + w)*C + c] = x[b][c][h][w]. One work-item per output. */
__kernel void clssd_permute_nhwc(__global const float *x, __global float *y, const int n_total,
                                 const int C, const int HW)
{
    const int i = get_global_id(0);
    if (i >= n_total) return;
    const int c = i % C;
    const int p = (i / C) % HW;
    const int b = i / (C * HW);
    y[i] = x[((size_t)b * (size_t)C + (size_t)c) * (size_t)HW + (size_t)p];
}

/* Concat as a strided row copy: `rows` rows of `len` floats from x (row stride len) into y at
 * column `dst_off` of rows of `dst_len` floats. */
__kernel void clssd_copy_rows(__global const float *x, __global float *y, const int rows,
                              const int len, const int dst_len, const int dst_off)
{
    const int i = get_global_id(0);
    if (i >= rows * len) return;
    const int r = i / len, k = i % len;
    y[(size_t)r * (size_t)dst_len + (size_t)dst_off + (size_t)k] = x[i];
}
