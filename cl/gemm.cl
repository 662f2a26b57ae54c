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
                      const int relu, const float relu_max)
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
        const float16 bb = (float16)(has_bias ? bias[bias_off + row0 + r] : 0.0f);
        __global float *crow = Cm + c_off + (size_t)(row0 + r) * (size_t)ldc + (size_t)col;
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
              relu_max);
}

__kernel void clssd_gemm_packed16(__global const float *Ap, const ulong a_off,
                                  __global const float *Bp, const ulong b_off,
                                  __global float *Cm, const ulong c_off, const int M,
                                  const int N, const int K, const int ldc,
                                  __global const float *bias, const int bias_off,
                                  const int has_bias, const int relu, const float relu_max)
{
    gemm_tile(16, Ap, a_off, Bp, b_off, Cm, c_off, M, N, K, ldc, bias, bias_off, has_bias, relu,
              relu_max);
}
