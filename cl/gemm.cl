/* A GEMM for CPU-class OpenCL devices (PoCL, Intel/AMD CPU runtimes), with its packing;
 * two tile heights (MR = 12 or 16 rows, clssd_gemm_packed / _packed16).
 *
 * C[M][N] = A[M][K] * B[K][N] as BLIS does it: A (the weights, packed once at model load)
 * and B (the im2col matrix, packed by clssd_pack_cols as it is built) are stored as panels
 * so that the inner loop reads both contiguously:
 *   A panel i: A[i*MR + r][k] at Ap[(i*K + k)*MR + r]   (rows past M are zero)
 *   B panel p: B[k][p*NR + l] at Bp[(p*K + k)*NR + l]   (columns past N are zero)
 * One work-item computes one MR x NR tile over the whole K in MR x NR/16 float16
 * accumulators, which the CPU compilers keep in vector registers (12 x 2 = 24 of the 32
 * AVX-512 registers, plus 2 for B). The work-group size is 1: a work-item is already a full
 * register tile, and PoCL then runs no work-item loop around it. On GPUs this kernel is a
 * poor fit; the per-layer algorithm choice (src/model/tune.c) measures it and picks CLBlast.
 * Measured on a 2-core Zen 5 under PoCL 3.1: 330-400 GFLOP/s on the SSD300 layer shapes,
 * OpenBLAS (SkylakeX kernels) 290-380 on the same shapes. */

#define CLSSD_GEMM_MR_MAX 16
#define CLSSD_GEMM_NV 2
#define CLSSD_GEMM_NR (16 * CLSSD_GEMM_NV)

/* The im2col matrix of one image (group-major rows kk = g*Kg + k, k = (c*kh + u)*kw + v),
 * columns [col0, col0 + ncol) of the output plane, written as NR-wide panels per group:
 * out[((g*npanels + p)*Kg + k)*NR + l] = column col0 + p*NR + l. One work-item writes one
 * panel row (NR contiguous floats), split into runs that stay in one output row, so that
 * each run is a plain strided copy the compiler vectorizes (a division per element made
 * this 2x slower on PoCL). Taps in the padding, the extra bottom/right padding of TF's SAME
 * included (y >= H or x >= W), and columns past ncol are zero. */
__kernel void clssd_pack_cols(__global const float *x, const ulong x_off, const int H,
                              const int W, const int C, const int kh, const int kw,
                              const int sh, const int sw, const int ph, const int pw,
                              const int dh, const int dw, const int Wo, const int col0,
                              const int ncol, const int Kg, const int npanels,
                              __global float *out)
{
    const int kk = get_global_id(0), p = get_global_id(1);
    if (kk >= C * kh * kw || p >= npanels) return;
    const int g = kk / Kg, k = kk - g * Kg;
    const int c = kk / (kh * kw), uv = kk - c * (kh * kw), u = uv / kw, v = uv - u * kw;
    __global const float *xc = x + x_off + (size_t)c * (size_t)H * (size_t)W;
    __global float *dst = out + ((size_t)(g * npanels + p) * (size_t)Kg + (size_t)k) * CLSSD_GEMM_NR;
    const int first = p * CLSSD_GEMM_NR, last = min(first + CLSSD_GEMM_NR, ncol);
    int oy = (col0 + first) / Wo, ox = (col0 + first) - oy * Wo, l = 0;
    {
        /* the common case, a whole panel inside one output row and inside the input row at
         * stride 1: two vector copies (or zeros in the top/bottom padding) */
        const int y = oy * sh - ph + u * dh, x0 = ox * sw - pw + v * dw;
        if (sw == 1 && last - first == CLSSD_GEMM_NR && Wo - ox >= CLSSD_GEMM_NR && x0 >= 0 &&
            x0 + CLSSD_GEMM_NR <= W) {
            if (y < 0 || y >= H) {
                vstore16((float16)(0.0f), 0, dst);
                vstore16((float16)(0.0f), 1, dst);
            } else {
                __global const float *src = xc + (size_t)y * (size_t)W + (size_t)x0;
                vstore16(vload16(0, src), 0, dst);
                vstore16(vload16(1, src), 1, dst);
            }
            return;
        }
    }
    while (first + l < last) {
        const int run = min(last - first - l, Wo - ox); /* columns left in this output row */
        const int y = oy * sh - ph + u * dh;
        if (y < 0 || y >= H) {
            for (int i = 0; i < run; i++) dst[l + i] = 0.0f;
        } else {
            __global const float *row = xc + (size_t)y * (size_t)W;
            const int x0 = ox * sw - pw + v * dw;
            for (int i = 0; i < run; i++) {
                const int xx = x0 + i * sw;
                dst[l + i] = (xx >= 0 && xx < W) ? row[xx] : 0.0f;
            }
        }
        l += run;
        ox = 0;
        oy++;
    }
    for (; l < CLSSD_GEMM_NR; l++) dst[l] = 0.0f;
}

/* One mr x NR tile of C (row stride ldc, starting at c_off) from A panel get_global_id(1)
 * and B panel get_global_id(0), then the convolution's epilogue: + bias[bias_off + row],
 * ReLU when relu != 0, capped at relu_max when that is > 0 (as clssd_bias_act).
 * mr is a constant at each call (12 or 16): after inlining, the loops over it unroll fully
 * and the accumulators live in registers. 16 rows use all 32 AVX-512 registers and waste no
 * rows when M is a multiple of 16 but not of 12; which wins depends on the CPU and the layer
 * (alone, 64x90000x576 ran 10-15% faster with 16; inside the chunked convolution 12 won on
 * that layer and 16 only on the 16-channel heads), so both are candidates for the tuner. */
inline void gemm_tile(const int mr, __global const float *Ap, const ulong a_off,
                      __global const float *Bp, const ulong b_off, __global float *Cm,
                      const ulong c_off, const int M, const int N, const int K, const int ldc,
                      __global const float *bias, const int bias_off, const int has_bias,
                      const int relu, const float relu_max, const int accumulate)
{
    const int jp = get_global_id(0), ip = get_global_id(1);
    __global const float *a = Ap + a_off + (size_t)ip * (size_t)K * (size_t)mr;
    __global const float16 *b =
        (__global const float16 *)(Bp + b_off + (size_t)jp * (size_t)K * CLSSD_GEMM_NR);
    float16 acc[CLSSD_GEMM_MR_MAX][CLSSD_GEMM_NV];
#pragma unroll
    for (int r = 0; r < mr; r++)
#pragma unroll
        for (int v = 0; v < CLSSD_GEMM_NV; v++) acc[r][v] = (float16)(0.0f);
    for (int k = 0; k < K; k++) {
        float16 bv[CLSSD_GEMM_NV];
#pragma unroll
        for (int v = 0; v < CLSSD_GEMM_NV; v++) bv[v] = b[k * CLSSD_GEMM_NV + v];
#pragma unroll
        for (int r = 0; r < mr; r++) {
            const float16 av = (float16)(a[k * mr + r]);
#pragma unroll
            for (int v = 0; v < CLSSD_GEMM_NV; v++) acc[r][v] = fma(av, bv[v], acc[r][v]);
        }
    }
    const int row0 = ip * mr, col = jp * CLSSD_GEMM_NR;
#pragma unroll
    for (int r = 0; r < mr; r++) {
        if (row0 + r >= M) break;
        __global float *crow = Cm + c_off + (size_t)(row0 + r) * (size_t)ldc + (size_t)col;
        if (accumulate) {
            /* C += A.B (the backward's weight gradient over chunks of positions): its callers
             * pass no bias and no activation */
            if (col + CLSSD_GEMM_NR <= N) {
#pragma unroll
                for (int v = 0; v < CLSSD_GEMM_NV; v++)
                    vstore16(acc[r][v] + vload16(v, crow), v, crow);
            } else {
                float tail[CLSSD_GEMM_NR];
#pragma unroll
                for (int v = 0; v < CLSSD_GEMM_NV; v++) vstore16(acc[r][v], v, tail);
                for (int l = 0; col + l < N; l++) crow[l] += tail[l];
            }
            continue;
        }
        const float16 bb = (float16)(has_bias ? bias[bias_off + row0 + r] : 0.0f);
        float16 out[CLSSD_GEMM_NV];
#pragma unroll
        for (int v = 0; v < CLSSD_GEMM_NV; v++) {
            out[v] = acc[r][v] + bb;
            if (relu) {
                out[v] = fmax(out[v], (float16)(0.0f));
                if (relu_max > 0.0f) out[v] = fmin(out[v], (float16)(relu_max));
            }
        }
        if (col + CLSSD_GEMM_NR <= N) {
#pragma unroll
            for (int v = 0; v < CLSSD_GEMM_NV; v++) vstore16(out[v], 0, crow + 16 * v);
        } else { /* the last, partial panel: vector components need constant indices */
            float tail[CLSSD_GEMM_NR];
#pragma unroll
            for (int v = 0; v < CLSSD_GEMM_NV; v++) vstore16(out[v], v, tail);
            for (int l = 0; col + l < N; l++) crow[l] = tail[l];
        }
    }
}

__kernel void clssd_gemm_packed(__global const float *Ap, const ulong a_off,
                                __global const float *Bp, const ulong b_off, __global float *Cm,
                                const ulong c_off, const int M, const int N, const int K,
                                const int ldc, __global const float *bias, const int bias_off,
                                const int has_bias, const int relu, const float relu_max)
{
    gemm_tile(12, Ap, a_off, Bp, b_off, Cm, c_off, M, N, K, ldc, bias, bias_off, has_bias, relu,
              relu_max, 0);
}

__kernel void clssd_gemm_packed16(__global const float *Ap, const ulong a_off,
                                  __global const float *Bp, const ulong b_off,
                                  __global float *Cm, const ulong c_off, const int M,
                                  const int N, const int K, const int ldc,
                                  __global const float *bias, const int bias_off,
                                  const int has_bias, const int relu, const float relu_max)
{
    gemm_tile(16, Ap, a_off, Bp, b_off, Cm, c_off, M, N, K, ldc, bias, bias_off, has_bias, relu,
              relu_max, 0);
}

/* C (+)= A.B with accumulate (1: add to C, no bias or activation then), for the backward
 * passes (src/train/backward.c); the rest as clssd_gemm_packed (12-row tiles). */
__kernel void clssd_gemm_packed_acc(__global const float *Ap, const ulong a_off,
                                    __global const float *Bp, const ulong b_off,
                                    __global float *Cm, const ulong c_off, const int M,
                                    const int N, const int K, const int ldc,
                                    const int accumulate)
{
    gemm_tile(12, Ap, a_off, Bp, b_off, Cm, c_off, M, N, K, ldc, Cm, 0, 0, 0, 0.0f, accumulate);
}

/* ---------------------------------------------------------------- packing for training */
/* The A and B panel layouts above, filled from device buffers (src/train/backward.c and the
 * trainer, which re-packs its weights after each SGD update instead of on the host). */

/* The weight packs below run on a 2-D range, (reduction index k, panel g*P + i), and each
 * work-item writes its mr contiguous floats: one division per element (the first version)
 * made re-packing the tiny SSD's 2.2 M weights take 17 ms on PoCL. */

/* A panels of a row-major weight matrix per group, W[g*M + m][k] (k < K), rows past M zero:
 * out[((g*Mp + i)*K + k)*mr + r] = W[(g*M + i*mr + r)*K + k] -- clssd__conv2d_prepare's layout.
 * Range (K, G*Mp). */
__kernel void clssd_pack_weights(__global const float *w, const int M, const int K,
                                 const int mr, const int Mp, const int GMp,
                                 __global float *out)
{
    const int k = get_global_id(0), gi = get_global_id(1);
    if (k >= K || gi >= GMp) return;
    const int g = gi / Mp, m0 = (gi - g * Mp) * mr;
    __global const float *src = w + (size_t)(g * M + m0) * (size_t)K + (size_t)k;
    __global float *dst = out + ((size_t)gi * (size_t)K + (size_t)k) * (size_t)mr;
    for (int r = 0; r < mr; r++) dst[r] = m0 + r < M ? src[(size_t)r * (size_t)K] : 0.0f;
}

/* A panels of each group's transposed weights W_g^T [Kg][Mg] (Kg = Cg*kh*kw taps), for the
 * input gradient dcol = W^T . dz: out[((g*Jp + i)*Mg + m)*mr + r] = W[(g*Mg + m)*Kg + i*mr + r],
 * taps past Kg zero. Range (Mg, G*Jp). */
__kernel void clssd_pack_weights_t(__global const float *w, const int Mg, const int Kg,
                                   const int mr, const int Jp, const int GJp,
                                   __global float *out)
{
    const int m = get_global_id(0), gi = get_global_id(1);
    if (m >= Mg || gi >= GJp) return;
    const int g = gi / Jp, j0 = (gi - g * Jp) * mr;
    __global const float *src = w + (size_t)(g * Mg + m) * (size_t)Kg + (size_t)j0;
    __global float *dst = out + ((size_t)gi * (size_t)Mg + (size_t)m) * (size_t)mr;
    for (int r = 0; r < mr; r++) dst[r] = j0 + r < Kg ? src[r] : 0.0f;
}

/* A panels of the stride-1 input gradient as a convolution of dz: dx_g = W'_g * dz_g with
 * W'[c][m][u'][v'] = W[m][c][kh-1-u'][kw-1-v'] (channels swapped, taps flipped), per group
 * Cg rows of K' = Mg*kh*kw taps: out[((g*Cp + i)*K' + k)*mr + r] = W'_g[i*mr + r][k] for
 * k = (m*kh + u')*kw + v', rows past Cg zero. Range (K', G*Cp). */
__kernel void clssd_pack_weights_flip(__global const float *w, const int Mg, const int Cg,
                                      const int kh, const int kw, const int mr, const int Cp,
                                      const int GCp, __global float *out)
{
    const int k = get_global_id(0), gi = get_global_id(1), khw = kh * kw, Kt = Mg * khw;
    if (k >= Kt || gi >= GCp) return;
    const int g = gi / Cp, c0 = (gi - g * Cp) * mr;
    const int m = k / khw, uv = khw - 1 - (k - m * khw); /* (kh-1-u')*kw + (kw-1-v') */
    __global const float *src =
        w + ((size_t)(g * Mg + m) * (size_t)Cg + (size_t)c0) * (size_t)khw + (size_t)uv;
    __global float *dst = out + ((size_t)gi * (size_t)Kt + (size_t)k) * (size_t)mr;
    for (int r = 0; r < mr; r++) dst[r] = c0 + r < Cg ? src[(size_t)r * (size_t)khw] : 0.0f;
}

/* A panels of the output gradient dz for the weight gradient dW_g = dz_g . col_g^T, whose
 * reduction runs over the positions q of the whole batch (q = b*HW + p, the chunk
 * q0 .. q0 + nq - 1): out[((g*Mp + i)*nq + k)*mr + r] = dz[b][g*Mg + i*mr + r][p] for
 * q = q0 + k, rows past Mg zero. dz is [B][G*Mg][HW]. One work-item per (k, g*Mp + i). */
__kernel void clssd_pack_dz(__global const float *dz, const int Mg, const int G, const int HW,
                            const int q0, const int nq, const int mr, const int Mp,
                            __global float *out)
{
    const int k = get_global_id(0), gi = get_global_id(1);
    if (k >= nq || gi >= G * Mp) return;
    const int q = q0 + k, b = q / HW, p = q - b * HW;
    const int g = gi / Mp, m0 = (gi - g * Mp) * mr;
    __global const float *src =
        dz + ((size_t)b * (size_t)(G * Mg) + (size_t)(g * Mg + m0)) * (size_t)HW + (size_t)p;
    __global float *dst = out + ((size_t)gi * (size_t)nq + (size_t)k) * (size_t)mr;
    for (int r = 0; r < mr; r++) dst[r] = m0 + r < Mg ? src[(size_t)r * (size_t)HW] : 0.0f;
}

/* B panels of col_g^T for the same GEMM: the im2col matrix of the batch with positions as
 * rows and taps as columns, out[((g*Np + pn)*nq + k)*NR + l] = col_g[pn*NR + l][q0 + k] with
 * col_g[j][q] = x[b][g*Cg + c][oy*sh - ph + u*dh][ox*sw - pw + v*dw] for the tap
 * j = (c*kh + u)*kw + v < Kg and the position q = b*Ho*Wo + oy*Wo + ox; zero in the padding
 * and past Kg. One work-item per (k, g*Np + pn) writes one NR-float panel row. */
__kernel void clssd_pack_cols_t(__global const float *x, const int C, const int H, const int W,
                                const int G, const int kh, const int kw, const int sh,
                                const int sw, const int ph, const int pw, const int dh,
                                const int dw, const int Ho, const int Wo, const int q0,
                                const int nq, const int Np, __global float *out)
{
    const int k = get_global_id(0), gp = get_global_id(1);
    if (k >= nq || gp >= G * Np) return;
    const int Cg = C / G, khw = kh * kw, Kg = Cg * khw;
    const int q = q0 + k, HWo = Ho * Wo, b = q / HWo, p = q - b * HWo;
    const int oy = p / Wo, ox = p - oy * Wo, y0 = oy * sh - ph, x0 = ox * sw - pw;
    const int g = gp / Np, j0 = (gp - g * Np) * CLSSD_GEMM_NR;
    __global const float *xb = x + ((size_t)b * (size_t)C + (size_t)(g * Cg)) * (size_t)H * (size_t)W;
    __global float *dst = out + ((size_t)gp * (size_t)nq + (size_t)k) * CLSSD_GEMM_NR;
    int c = j0 / khw, uv = j0 - c * khw, u = uv / kw, v = uv - u * kw;
    /* x offset of tap (c, u, v) from (y0, x0), stepped along with the tap instead of
     * recomputed: + dw per v, + dh*W per u, + H*W per c */
    const int HWi = H * W;
    int off = c * HWi + u * dh * W + v * dw;
    const int du = dh * W - kw * dw, dc = HWi - kh * dh * W;
    if (y0 >= 0 && y0 + (kh - 1) * dh < H && x0 >= 0 && x0 + (kw - 1) * dw < W) {
        /* an interior position: no bounds to check, only the taps past Kg (zero) */
        __global const float *xq = xb + (size_t)y0 * (size_t)W + (size_t)x0;
        const int nl = min(CLSSD_GEMM_NR, Kg - j0);
        for (int l = nl; l < CLSSD_GEMM_NR; l++) dst[l] = 0.0f;
        for (int l = 0; l < nl; l++) {
            dst[l] = xq[off];
            off += dw;
            if (++v == kw) {
                v = 0;
                off += du;
                if (++u == kh) {
                    u = 0;
                    off += dc;
                }
            }
        }
        return;
    }
    for (int l = 0; l < CLSSD_GEMM_NR; l++) {
        float val = 0.0f;
        if (c < Cg) {
            const int yy = y0 + u * dh, xx = x0 + v * dw;
            if (yy >= 0 && yy < H && xx >= 0 && xx < W)
                val = xb[((size_t)c * (size_t)H + (size_t)yy) * (size_t)W + (size_t)xx];
        }
        dst[l] = val;
        if (++v == kw) {
            v = 0;
            if (++u == kh) {
                u = 0;
                c++;
            }
        }
    }
}
