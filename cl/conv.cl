/* Convolution helpers around the CLBlast GEMM: im2col and the bias + activation epilogue. */

/* col[col_off + ((c*kh + u)*kw + v)*n_cols + (r - row0)*Wo + j] for output rows r in
 * [row0, row0 + rows): one work-item
 * per column element. Zero where the dilated window falls into the padding. The extra
 * bottom/right padding (TensorFlow "SAME") needs no argument: it lies at y >= H or xx >= W,
 * which read as zero here; the host only sized Wo and the rows for it. */
__kernel void clssd_im2col(__global const float *x, const int x_off, const int H, const int W,
                           const int C, const int kh, const int kw, const int sh, const int sw,
                           const int ph, const int pw, const int dh, const int dw, const int Wo,
                           const int row0, const int rows, __global float *col,
                           const ulong col_off)
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
    col[col_off + (size_t)k * (size_t)n_cols + (size_t)j] = val;
}

/* The convolution epilogue, shared by the kernels that fuse it: + bias[o], then ReLU when
 * relu != 0, capped at relu_max when that is > 0. Same operations as clssd_bias_act. */
inline float conv_epilogue(float v, __global const float *bias, const int o, const int has_bias,
                           const int relu, const float relu_max)
{
    if (has_bias) v += bias[o];
    if (relu) {
        v = fmax(v, 0.0f);
        if (relu_max > 0.0f) v = fmin(v, relu_max);
    }
    return v;
}
inline float16 conv_epilogue16(float16 v, __global const float *bias, const int o,
                               const int has_bias, const int relu, const float relu_max)
{
    if (has_bias) v += (float16)(bias[o]);
    if (relu) {
        v = fmax(v, (float16)(0.0f));
        if (relu_max > 0.0f) v = fmin(v, (float16)(relu_max));
    }
    return v;
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
                                const int dh, const int dw, __global const float *bias,
                                const int has_bias, const int relu, const float relu_max)
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
        conv_epilogue(acc, bias, o, has_bias, relu, relu_max);
}

/* Depthwise (one input channel per group, any multiplier M): each work-item computes one
 * output row, CLSSD_DW_TILE = 16 outputs at a time as one float16. Taps whose 16 inputs all
 * lie inside the input row are one vector load (strides 1 and 2, MobileNet's); only tiles at
 * the row's borders gather lane by lane, reading out-of-range taps as zero. The generic
 * kernel above (one output per work-item) ran MobileNetV2's depthwise layers at ~2.5 GFLOP/s
 * on PoCL. The sum runs over (ky, kx) in the reference's order, multiply then add. */
#define CLSSD_DW_TILE 16
/* Its arguments are clssd_conv_direct's, so one host call sets either; Cg is 1 here. */
__kernel void clssd_conv_dw(__global const float *x, __global const float *w,
                            __global float *y, const int BC, const int C, const int H,
                            const int W, const int Cout, const int Ho, const int Wo,
                            const int Cg, const int M,
                            const int kh, const int kw, const int sh, const int sw,
                            const int ph, const int pw, const int dh, const int dw,
                            __global const float *bias, const int has_bias, const int relu,
                            const float relu_max)
{
    const int oy = get_global_id(0), bo = get_global_id(1);
    if (oy >= Ho || bo >= BC) return;
    const int b = bo / Cout, o = bo - b * Cout, ci = o / M;
    __global const float *xc = x + ((size_t)b * (size_t)C + (size_t)ci) * (size_t)H * (size_t)W;
    __global const float *wo = w + (size_t)o * (size_t)(kh * kw);
    __global float *yo = y + ((size_t)b * (size_t)Cout + (size_t)o) * (size_t)Ho * (size_t)Wo +
                         (size_t)oy * (size_t)Wo;
    for (int ox0 = 0; ox0 < Wo; ox0 += CLSSD_DW_TILE) {
        float16 acc = (float16)(0.0f);
        for (int ky = 0; ky < kh; ky++) {
            const int iy = oy * sh - ph + ky * dh;
            if (iy < 0 || iy >= H) continue;
            __global const float *row = xc + (size_t)iy * (size_t)W;
            for (int kx = 0; kx < kw; kx++) {
                const float wv = wo[ky * kw + kx];
                const int ix0 = ox0 * sw - pw + kx * dw;
                float16 v;
                if (sw == 1 && ix0 >= 0 && ix0 + 15 < W) {
                    v = vload16(0, row + ix0);
                } else if (sw == 2 && ix0 >= 0 && ix0 + 31 < W) {
                    /* two halves, no float16 built from two float8s (PoCL made that slow) */
                    const float16 lo = vload16(0, row + ix0), hi = vload16(0, row + ix0 + 16);
                    acc.lo = acc.lo + wv * lo.even;
                    acc.hi = acc.hi + wv * hi.even;
                    continue;
                } else {
                    float tap[CLSSD_DW_TILE];
                    for (int t = 0; t < CLSSD_DW_TILE; t++) {
                        const int ix = ix0 + t * sw;
                        tap[t] = (ix >= 0 && ix < W) ? row[ix] : 0.0f;
                    }
                    v = vload16(0, tap);
                }
                acc = acc + wv * v;
            }
        }
        acc = conv_epilogue16(acc, bias, o, has_bias, relu, relu_max);
        if (ox0 + CLSSD_DW_TILE <= Wo) {
            vstore16(acc, 0, yo + ox0);
        } else {
            float out[CLSSD_DW_TILE];
            vstore16(acc, 0, out);
            for (int t = 0; ox0 + t < Wo; t++) yo[ox0 + t] = out[t];
        }
    }
}
