/* Reference convolution: per-image im2col (in chunks of output rows) and a cache-blocked
 * SGEMM in plain C. It is the ground truth for the device convolution and also carries whole
 * SSD300/SSD512 forwards in the tests, so it has to be reasonably fast: the inner loops have
 * compile-time trip counts because GCC's -O2 cost model (very-cheap) only vectorises loops
 * that need no scalar epilogue. Accumulation is in float, like the device. */
#include <string.h>

#include "clssd_internal.h"

/* Columns of C (and of the im2col panel) per block: a C row segment and the B panel rows
 * used with it stay in L1/L2 while every row of A streams past. */
#define GEMM_NB 256
/* Rows of B per block: GEMM_KB x GEMM_NB floats (128 KiB) stay in L2. */
#define GEMM_KB 128
/* Width of the fixed-size inner loop; a multiple of every SIMD width we care about. */
#define GEMM_VW 16
/* Output columns per im2col chunk (rounded to whole output rows): bounds the temporary
 * buffer (SSD512 conv1_2 would need 600 MB unchunked) while keeping the GEMM's N large. */
#define IM2COL_COLS 512

/* c[0..n) += a0*b0 + a1*b1 + a2*b2 + a3*b3: four rows of B per pass over C, so each load
 * and store of C carries eight flops instead of two. */
static void row_k4(size_t n, float *restrict c, const float a[4], const float *restrict b0,
                   const float *restrict b1, const float *restrict b2, const float *restrict b3)
{
    const float a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];
    size_t j = 0;
    for (; j + GEMM_VW <= n; j += GEMM_VW) {
        float *restrict cc = c + j;
        const float *restrict p0 = b0 + j, *restrict p1 = b1 + j, *restrict p2 = b2 + j,
                              *restrict p3 = b3 + j;
        for (int q = 0; q < GEMM_VW; q++)
            cc[q] = cc[q] + a0 * p0[q] + a1 * p1[q] + a2 * p2[q] + a3 * p3[q];
    }
    for (; j < n; j++) c[j] = c[j] + a0 * b0[j] + a1 * b1[j] + a2 * b2[j] + a3 * b3[j];
}

static void row_k1(size_t n, float *restrict c, float a0, const float *restrict b0)
{
    size_t j = 0;
    for (; j + GEMM_VW <= n; j += GEMM_VW) {
        float *restrict cc = c + j;
        const float *restrict p0 = b0 + j;
        for (int q = 0; q < GEMM_VW; q++) cc[q] = cc[q] + a0 * p0[q];
    }
    for (; j < n; j++) c[j] = c[j] + a0 * b0[j];
}

/* C[M x N] += A[M x K] * B[K x N], all row-major with the given row strides. */
static void sgemm_acc(size_t M, size_t N, size_t K, const float *A, size_t lda, const float *B,
                      size_t ldb, float *C, size_t ldc)
{
    for (size_t j0 = 0; j0 < N; j0 += GEMM_NB) {
        const size_t nb = N - j0 < GEMM_NB ? N - j0 : GEMM_NB;
        for (size_t k0 = 0; k0 < K; k0 += GEMM_KB) {
            const size_t kb = K - k0 < GEMM_KB ? K - k0 : GEMM_KB;
            const float *Bp = B + k0 * ldb + j0;
            for (size_t i = 0; i < M; i++) {
                float *c = C + i * ldc + j0;
                const float *a = A + i * lda + k0;
                size_t k = 0;
                for (; k + 4 <= kb; k += 4)
                    row_k4(nb, c, a + k, Bp + k * ldb, Bp + (k + 1) * ldb, Bp + (k + 2) * ldb,
                           Bp + (k + 3) * ldb);
                for (; k < kb; k++) row_k1(nb, c, a[k], Bp + k * ldb);
            }
        }
    }
}

typedef struct conv_geom {
    int32_t C, H, W;        /* input, per image */
    int32_t Cg, Mg, G;      /* input / output channels per group, groups */
    int32_t Ho, Wo;
    int32_t kh, kw, sh, sw, ph, pw, dh, dw;
} conv_geom;

/* im2col of one group's channels for output rows [oh0, oh0 + rows): row (c, u, v) of the
 * panel, in the weight's [Cg][kh][kw] order, holds x[c, oh*sh - ph + u*dh, ow*sw - pw + v*dw]
 * for every output position of the chunk (0 outside the image). The extra bottom/right
 * padding (ph_extra, pw_extra) is covered by the same test: it only adds output rows and
 * columns whose window reaches past H or W. */
static void im2col_rows(const conv_geom *q, const float *x, int32_t oh0, int32_t rows,
                        float *col)
{
    const size_t nc = (size_t)rows * (size_t)q->Wo;
    size_t r = 0;
    for (int32_t c = 0; c < q->Cg; c++) {
        const float *xc = x + (size_t)c * (size_t)q->H * (size_t)q->W;
        for (int32_t u = 0; u < q->kh; u++)
            for (int32_t v = 0; v < q->kw; v++, r++) {
                float *dst = col + r * nc;
                for (int32_t oh = oh0; oh < oh0 + rows; oh++, dst += q->Wo) {
                    const int32_t ih = oh * q->sh - q->ph + u * q->dh;
                    if (ih < 0 || ih >= q->H) {
                        memset(dst, 0, (size_t)q->Wo * sizeof(float));
                        continue;
                    }
                    const float *xr = xc + (size_t)ih * (size_t)q->W;
                    int32_t iw = v * q->dw - q->pw;
                    for (int32_t ow = 0; ow < q->Wo; ow++, iw += q->sw)
                        dst[ow] = iw >= 0 && iw < q->W ? xr[iw] : 0.0f;
                }
            }
    }
}

int32_t clssd__conv_out(int32_t in, int32_t k, int32_t s, int32_t p, int32_t extra, int32_t d)
{
    const int64_t ek = (int64_t)d * (k - 1) + 1,
                  span = (int64_t)in + 2 * (int64_t)p + (int64_t)extra;
    if (span < ek) return -1;
    const int64_t o = (span - ek) / s + 1;
    return o > INT32_MAX ? -1 : (int32_t)o;
}

clssd_status clssd__conv2d_ref(const clssd_ref_args *a)
{
    const clssd_node *n = a->node;
    const __typeof__(n->p.conv) *p = &n->p.conv;
    if (a->n_src < 1 || !a->src[0] || !a->weight || !a->dst || a->batch < 1)
        return CLSSD_ERR_INVALID_ARG;
    const clssd_shape *xs = &a->src_shape[0];
    if (xs->c <= 0 || xs->h <= 0 || xs->w <= 0 || p->cout <= 0 || p->groups <= 0 ||
        p->kh <= 0 || p->kw <= 0 || p->sh <= 0 || p->sw <= 0 || p->dh <= 0 || p->dw <= 0 ||
        p->ph < 0 || p->pw < 0 || p->ph_extra < 0 || p->pw_extra < 0 ||
        xs->c % p->groups != 0 || p->cout % p->groups != 0 || !(p->relu_max >= 0.0f))
        return CLSSD_ERR_INVALID_ARG;
    conv_geom q = {.C = xs->c, .H = xs->h, .W = xs->w, .G = p->groups,
                   .Cg = xs->c / p->groups, .Mg = p->cout / p->groups,
                   .kh = p->kh, .kw = p->kw, .sh = p->sh, .sw = p->sw, .ph = p->ph, .pw = p->pw,
                   .dh = p->dh, .dw = p->dw};
    q.Ho = clssd__conv_out(q.H, q.kh, q.sh, q.ph, p->ph_extra, q.dh);
    q.Wo = clssd__conv_out(q.W, q.kw, q.sw, q.pw, p->pw_extra, q.dw);
    /* dst was sized from n->out: refuse to write a different shape into it */
    if (q.Ho <= 0 || q.Wo <= 0 || n->out.c != p->cout || n->out.h != q.Ho || n->out.w != q.Wo)
        return CLSSD_ERR_INVALID_ARG;
    const size_t K = (size_t)q.Cg * (size_t)q.kh * (size_t)q.kw;
    if (clssd__shape_count(&a->weight_shape) != 0 &&
        clssd__shape_count(&a->weight_shape) != (size_t)p->cout * K)
        return CLSSD_ERR_INVALID_ARG;

    const size_t HW = (size_t)q.H * (size_t)q.W, HWo = (size_t)q.Ho * (size_t)q.Wo;
    const size_t in_img = (size_t)q.C * HW, out_img = (size_t)p->cout * HWo;
    /* extra padding makes the output larger than the input: not a plain GEMM on x */
    const int pointwise = q.kh == 1 && q.kw == 1 && q.sh == 1 && q.sw == 1 && q.ph == 0 &&
                          q.pw == 0 && p->ph_extra == 0 && p->pw_extra == 0;
    int32_t rows_per = IM2COL_COLS / q.Wo;
    if (rows_per < 1) rows_per = 1;
    if (rows_per > q.Ho) rows_per = q.Ho;
    float *col = NULL;
    if (!pointwise) {
        size_t bytes;
        if (!clssd__mul_size(K, (size_t)rows_per * (size_t)q.Wo, &bytes) ||
            !clssd__mul_size(bytes, sizeof(float), &bytes))
            return CLSSD_ERR_OUT_OF_MEMORY;
        col = clssd__malloc(bytes);
        if (!col) return CLSSD_ERR_OUT_OF_MEMORY;
    }

    for (int32_t b = 0; b < a->batch; b++) {
        const float *x = a->src[0] + (size_t)b * in_img;
        float *y = a->dst + (size_t)b * out_img;
        /* the GEMM accumulates, so the output starts as the bias */
        for (int32_t o = 0; o < p->cout; o++) {
            float *yo = y + (size_t)o * HWo;
            const float bo = a->bias ? a->bias[o] : 0.0f;
            for (size_t k = 0; k < HWo; k++) yo[k] = bo;
        }
        for (int32_t g = 0; g < q.G; g++) {
            const float *wg = a->weight + (size_t)g * (size_t)q.Mg * K;
            const float *xg = x + (size_t)g * (size_t)q.Cg * HW;
            float *yg = y + (size_t)g * (size_t)q.Mg * HWo;
            if (pointwise) {
                sgemm_acc((size_t)q.Mg, HWo, K, wg, K, xg, HW, yg, HWo);
                continue;
            }
            for (int32_t oh0 = 0; oh0 < q.Ho; oh0 += rows_per) {
                const int32_t rows = q.Ho - oh0 < rows_per ? q.Ho - oh0 : rows_per;
                const size_t nc = (size_t)rows * (size_t)q.Wo;
                im2col_rows(&q, xg, oh0, rows, col);
                sgemm_acc((size_t)q.Mg, nc, K, wg, K, col, nc, yg + (size_t)oh0 * (size_t)q.Wo,
                          HWo);
            }
        }
        if (p->relu) {
            for (size_t k = 0; k < out_img; k++) y[k] = y[k] > 0.0f ? y[k] : 0.0f;
            const float m = p->relu_max;
            if (m > 0.0f) /* ReLU6 */
                for (size_t k = 0; k < out_img; k++) y[k] = y[k] < m ? y[k] : m;
        }
    }
    clssd__free(col);
    return CLSSD_OK;
}
