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

/* Grouped convolutions with few inputs per group (depthwise: one): one direct sum per
 * output beats one GEMM call per group (MobileNet's 960 groups of K = 9). Zero padding,
 * the extra bottom/right row of TF's SAME included, is the skipped out-of-range taps.
 * y[b][o][oy][ox]; output channel o belongs to group o / M and reads channels
 * (o / M) * Cg ... + Cg - 1; weights [Cout][Cg][kh][kw]. */
__kernel void clssd_conv_direct(__global const float *x, __global const float *w,
                                __global float *y, const int BC, const int C, const int H,
                                const int W, const int Cout, const int Ho, const int Wo,
                                const int Cg, const int M, const int kh, const int kw,
                                const int sh, const int sw, const int ph, const int pw,
                                const int dh, const int dw)
{
    const int ox = get_global_id(0), oy = get_global_id(1), bo = get_global_id(2);
    if (ox >= Wo || oy >= Ho || bo >= BC) return;
    const int b = bo / Cout, o = bo - b * Cout, grp = o / M;
    __global const float *wo = w + (size_t)o * (size_t)(Cg * kh * kw);
    float acc = 0.0f;
    for (int ci = 0; ci < Cg; ci++) {
        __global const float *xc =
            x + ((size_t)b * (size_t)C + (size_t)(grp * Cg + ci)) * (size_t)H * (size_t)W;
        for (int ky = 0; ky < kh; ky++) {
            const int iy = oy * sh - ph + ky * dh;
            if (iy < 0 || iy >= H) continue;
            for (int kx = 0; kx < kw; kx++) {
                const int ix = ox * sw - pw + kx * dw;
                if (ix < 0 || ix >= W) continue;
                acc += wo[(ci * kh + ky) * kw + kx] * xc[iy * W + ix];
            }
        }
    }
    y[((size_t)b * (size_t)Cout + (size_t)o) * (size_t)Ho * (size_t)Wo + (size_t)(oy * Wo + ox)] =
        acc;
}
