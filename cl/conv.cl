/* Convolution helpers around the CLBlast GEMM: im2col and the bias + activation epilogue. */

/* col[(c*kh + u)*kw + v][r*Wo + j] for output rows r in [row0, row0 + rows): one work-item
 * per column element. Zero where the dilated window falls into the padding. The extra
 * bottom/right padding (TensorFlow "SAME") needs no argument: it lies at y >= H or xx >= W,
 * which read as zero here; the host only sized Wo and the rows for it. */
__kernel void clssd_im2col(__global const float *x, const int x_off, const int H, const int W,
                           const int C, const int kh, const int kw, const int sh, const int sw,
                           const int ph, const int pw, const int dh, const int dw, const int Wo,
                           const int row0, const int rows, __global float *col)
{
    const int n_cols = rows * Wo;
    const int j = get_global_id(0); /* column inside the chunk */
    const int k = get_global_id(1); /* (c, u, v) */
    if (j >= n_cols || k >= C * kh * kw) return;
    const int v = k % kw;
    const int u = (k / kw) % kh;
    const int c = k / (kw * kh);
    const int r = row0 + j / Wo;
    const int q = j % Wo;
    const int y = r * sh - ph + u * dh;
    const int xx = q * sw - pw + v * dw;
    float val = 0.0f;
    if (y >= 0 && y < H && xx >= 0 && xx < W) val = x[x_off + (c * H + y) * W + xx];
    col[k * n_cols + j] = val;
}

/* y[b][c][i] += bias[c]; then ReLU when relu != 0, capped at relu_max when that is > 0
 * (ReLU6). max/min do not round, so this matches the reference bit for bit. */
__kernel void clssd_bias_act(__global float *y, const int n_total, const int C, const int HW,
                             __global const float *bias, const int has_bias, const int relu,
                             const float relu_max)
{
    const int i = get_global_id(0);
    if (i >= n_total) return;
    float v = y[i];
    if (has_bias) v += bias[(i / HW) % C];
    if (relu) {
        v = fmax(v, 0.0f);
        if (relu_max > 0.0f) v = fmin(v, relu_max);
    }
    y[i] = v;
}
