/* Convolution on the device, in one of three algorithms (clssd_conv_algo), chosen per layer
 * and device by src/model/tune.c:
 * - IM2COL_CLBLAST: im2col into the shared workspace, then CLBlast SGEMM per image and group;
 *   1x1 stride-1 unpadded convolutions use the input directly as the GEMM's B. Bias and
 *   activation follow as one more pass. GPUs.
 * - PACKED: im2col written as GEMM panels, then cl/gemm.cl against weights packed once at
 *   plan time, bias and activation in the GEMM's epilogue. CPU-class devices (PoCL).
 * - DIRECT: one direct sum per output; thin groups (depthwise), where the other two would make
 *   one tiny GEMM per group.
 * The extra bottom/right padding of TensorFlow's "SAME" (ph_extra, pw_extra) needs no work
 * in im2col: those rows and columns lie past H and W, where it already writes zeros; it only
 * makes the output larger (and so rules out the pointwise path).
 * The im2col buffer is filled in chunks of output rows so that the workspace stays bounded
 * (SSD512's conv1_2 would otherwise need 600 MB). */
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clssd_internal.h"

#include <clblast_c.h>

#define CONV_WS_CAP ((size_t)64 << 20) /* bytes of im2col per chunk */

static int is_pointwise(const clssd_node *n)
{
    const __typeof__(n->p.conv) *c = &n->p.conv;
    return c->kh == 1 && c->kw == 1 && c->sh == 1 && c->sw == 1 && c->ph == 0 && c->pw == 0 &&
           c->ph_extra == 0 && c->pw_extra == 0;
}

clssd_status clssd__conv2d_infer(const clssd_graph *g, clssd_node *n, char *err, size_t err_size)
{
    const __typeof__(n->p.conv) *c = &n->p.conv;
    if (n->n_src != 1) {
        snprintf(err, err_size, "needs 1 input, has %d", n->n_src);
        return CLSSD_ERR_BAD_MODEL;
    }
    const clssd_shape *x = &g->nodes[n->src[0]].out;
    if (c->cout <= 0 || c->kh <= 0 || c->kw <= 0 || c->sh <= 0 || c->sw <= 0 || c->ph < 0 ||
        c->pw < 0 || c->ph_extra < 0 || c->pw_extra < 0 || c->dh <= 0 || c->dw <= 0 ||
        c->groups <= 0 || x->c % c->groups != 0 || c->cout % c->groups != 0) {
        snprintf(err, err_size, "bad parameters (cout %d, kernel %dx%d, stride %dx%d, pad %dx%d, "
                 "extra pad %dx%d, dilation %dx%d, groups %d, input channels %d)", c->cout, c->kh,
                 c->kw, c->sh, c->sw, c->ph, c->pw, c->ph_extra, c->pw_extra, c->dh, c->dw,
                 c->groups, x->c);
        return CLSSD_ERR_BAD_MODEL;
    }
    /* NaN, negative or infinite bounds are refused rather than given a meaning */
    if (!(c->relu_max >= 0.0f && c->relu_max <= FLT_MAX)) {
        snprintf(err, err_size, "bad relu_max %g (0 = none, else a finite bound > 0)",
                 (double)c->relu_max);
        return CLSSD_ERR_BAD_MODEL;
    }
    int64_t ekh = (int64_t)c->dh * (c->kh - 1) + 1, ekw = (int64_t)c->dw * (c->kw - 1) + 1;
    const int64_t span_h = (int64_t)x->h + 2 * (int64_t)c->ph + c->ph_extra;
    const int64_t span_w = (int64_t)x->w + 2 * (int64_t)c->pw + c->pw_extra;
    int64_t ho = (span_h - ekh) / c->sh + 1;
    int64_t wo = (span_w - ekw) / c->sw + 1;
    if (span_h < ekh || span_w < ekw || ho > INT32_MAX || wo > INT32_MAX) {
        snprintf(err, err_size, "kernel %lldx%lld larger than padded input %dx%d",
                 (long long)ekh, (long long)ekw, x->h, x->w);
        return CLSSD_ERR_BAD_MODEL;
    }
    if (n->weight < 0) {
        snprintf(err, err_size, "has no weight tensor");
        return CLSSD_ERR_BAD_MODEL;
    }
    const clssd_shape *ws = &g->tensors[n->weight].shape;
    if (ws->n != c->cout || ws->c != x->c / c->groups || ws->h != c->kh || ws->w != c->kw) {
        snprintf(err, err_size, "weight '%s' is %dx%dx%dx%d, expected %dx%dx%dx%d",
                 g->tensors[n->weight].name, ws->n, ws->c, ws->h, ws->w, c->cout,
                 x->c / c->groups, c->kh, c->kw);
        return CLSSD_ERR_BAD_MODEL;
    }
    if (n->bias >= 0 && clssd__shape_count(&g->tensors[n->bias].shape) != (size_t)c->cout) {
        snprintf(err, err_size, "bias '%s' has %zu values, expected %d",
                 g->tensors[n->bias].name, clssd__shape_count(&g->tensors[n->bias].shape),
                 c->cout);
        return CLSSD_ERR_BAD_MODEL;
    }
    return clssd__spatial_out(c->cout, ho, wo, &n->out, err, err_size);
}

/* Output rows per im2col chunk so that K * rows * Wo floats fit CONV_WS_CAP. */
static int32_t chunk_rows(const clssd_node *n, int32_t cin)
{
    const __typeof__(n->p.conv) *c = &n->p.conv;
    size_t k = (size_t)(cin / c->groups) * (size_t)c->groups * (size_t)c->kh * (size_t)c->kw;
    size_t row_bytes = k * (size_t)n->out.w * sizeof(float);
    size_t rows = row_bytes ? CONV_WS_CAP / row_bytes : 1;
    if (rows < 1) rows = 1;
    if (rows > (size_t)n->out.h) rows = (size_t)n->out.h;
    return (int32_t)rows;
}

/* tile rows of clssd_gemm_packed / _packed16, and CLSSD_GEMM_NR, in cl/gemm.cl */
static size_t gemm_mr(int algo)
{
    return algo == CLSSD_CONV_PACKED16 ? 16 : 12;
}
#define GEMM_NR 32

/* Packed panels per chunk are kept to a few MB: the GEMM then reads them back from the
 * cache they were just written to (on PoCL the pack ran at 6.7 GB/s into 207 MB for SSD300's
 * conv1_2, 11.8 GB/s into 8 MB). */
#define PACK_CHUNK_BYTES ((size_t)4 << 20)

/* Output columns per packed chunk: a multiple of NR whose panels fit PACK_CHUNK_BYTES. */
static size_t chunk_cols(const clssd_node *n, int32_t cin)
{
    const __typeof__(n->p.conv) *c = &n->p.conv;
    const size_t k = (size_t)cin * (size_t)c->kh * (size_t)c->kw; /* all groups */
    const size_t hw = (size_t)n->out.h * (size_t)n->out.w;
    const size_t all = (hw + GEMM_NR - 1) / GEMM_NR * GEMM_NR;
    size_t cols = PACK_CHUNK_BYTES / (k * sizeof(float)) / GEMM_NR * GEMM_NR;
    if (cols < GEMM_NR) cols = GEMM_NR;
    return cols < all ? cols : all;
}

size_t clssd__conv2d_workspace(const clssd_graph *g, const clssd_node *n, int32_t batch)
{
    /* sized for every algorithm, so that the tuner can switch without a new plan */
    const clssd_shape *x = &g->nodes[n->src[0]].out;
    size_t k = (size_t)x->c * (size_t)n->p.conv.kh * (size_t)n->p.conv.kw;
    size_t im2col = is_pointwise(n) ? 0
                                    : k * (size_t)chunk_rows(n, x->c) * (size_t)n->out.w * sizeof(float);
    size_t packed = k * chunk_cols(n, x->c) * sizeof(float);
    size_t ws = im2col > packed ? im2col : packed;
    /* every image's im2col at once (the strided-batched GEMM), where that stays small */
    size_t all = k * (size_t)n->out.h * (size_t)n->out.w * (size_t)batch * sizeof(float);
    if (!is_pointwise(n) && batch > 1 && all <= CONV_WS_CAP && all > ws) ws = all;
    return ws;
}

/* ---------------------------------------------------------------- algorithm choice */

static const char *const algo_names[CLSSD_CONV_ALGO_COUNT] = {"auto", "im2col", "packed",
                                                              "direct", "packed16"};

const char *clssd__conv2d_algo_name(int algo)
{
    return algo >= 0 && algo < CLSSD_CONV_ALGO_COUNT ? algo_names[algo] : "?";
}

int clssd__conv2d_algo_from_name(const char *name)
{
    for (int a = 0; name && a < CLSSD_CONV_ALGO_COUNT; a++)
        if (!strcmp(name, algo_names[a])) return a;
    return -1;
}

/* Grouped convolutions whose groups reduce over at most this many values may run the direct
 * kernel; beyond it a direct sum per output loses to any GEMM. */
#define DIRECT_MAX_K 64

static size_t conv_k(const clssd_graph *g, const clssd_node *n)
{
    const clssd_shape *x = &g->nodes[n->src[0]].out;
    return (size_t)(x->c / n->p.conv.groups) * (size_t)n->p.conv.kh * (size_t)n->p.conv.kw;
}

int clssd__conv2d_algo_ok(const clssd_graph *g, const clssd_node *n, int algo)
{
    const size_t K = conv_k(g, n);
    switch (algo) {
    case CLSSD_CONV_IM2COL_CLBLAST:
    case CLSSD_CONV_PACKED:
    case CLSSD_CONV_PACKED16: return 1;
    case CLSSD_CONV_DIRECT: return K <= DIRECT_MAX_K;
    default: return 0;
    }
}

int clssd__conv2d_algo(const clssd_context *ctx, const clssd_graph *g, const clssd_node *n)
{
    if (n->algo != CLSSD_CONV_AUTO && clssd__conv2d_algo_ok(g, n, n->algo)) return n->algo;
    int forced = clssd__conv2d_algo_from_name(getenv("CLSSD_CONV_ALGO"));
    if (forced > CLSSD_CONV_AUTO && clssd__conv2d_algo_ok(g, n, forced)) return forced;
    /* Thin groups: one GEMM per group would be hundreds of launches of K <= 64. */
    if (n->p.conv.groups > 1 && clssd__conv2d_algo_ok(g, n, CLSSD_CONV_DIRECT))
        return CLSSD_CONV_DIRECT;
    return ctx->info.is_gpu ? CLSSD_CONV_IM2COL_CLBLAST : CLSSD_CONV_PACKED;
}

/* Weights [Cout][K] of each group as MR-row panels (cl/gemm.cl's A layout; MR = 12 or 16 by
 * algorithm), rows past the group's M zero: Ap[((g*Mp + i)*K + k)*MR + r] = W[g*M + i*MR + r][k]. */
clssd_status clssd__conv2d_prepare(clssd_exec *ex, const clssd_node *n)
{
    clssd_context *ctx = ex->ctx;
    const int32_t self = (int32_t)(n - ex->g->nodes);
    if (ex->aux[self]) {
        clReleaseMemObject(ex->aux[self]);
        ex->aux[self] = NULL;
    }
    const int algo = clssd__conv2d_algo(ctx, ex->g, n);
    if (algo != CLSSD_CONV_PACKED && algo != CLSSD_CONV_PACKED16) return CLSSD_OK;
    const size_t MR = gemm_mr(algo);
    const size_t G = (size_t)n->p.conv.groups, M = (size_t)n->p.conv.cout / G,
                 K = conv_k(ex->g, n), Mp = (M + MR - 1) / MR;
    size_t count;
    if (!clssd__mul_size(G * Mp * MR, K, &count))
        return CLSSD_FAIL(ctx, CLSSD_ERR_OUT_OF_MEMORY, "node '%s': packed size overflow", n->name);
    float *pk = clssd__calloc(count, sizeof(float));
    if (!pk)
        return CLSSD_FAIL(ctx, CLSSD_ERR_OUT_OF_MEMORY, "node '%s': packed weights: out of memory",
                          n->name);
    const float *w = ex->g->tensors[n->weight].data;
    for (size_t gi = 0; gi < G; gi++)
        for (size_t m = 0; m < M; m++) {
            const float *src = w + (gi * M + m) * K;
            float *dst = pk + ((gi * Mp + m / MR) * K) * MR + m % MR;
            for (size_t k = 0; k < K; k++) dst[k * MR] = src[k];
        }
    clssd_status s = clssd__buffer(ctx, count * sizeof(float), CL_MEM_READ_ONLY, &ex->aux[self]);
    if (s == CLSSD_OK) {
        cl_int e = clEnqueueWriteBuffer(ctx->queue, ex->aux[self], CL_TRUE, 0,
                                        count * sizeof(float), pk, 0, NULL, NULL);
        if (e != CL_SUCCESS)
            s = CLSSD_FAIL(ctx, (clssd_status)e, "node '%s': packed weights upload -> %s",
                           n->name, clssd__cl_error_name(e));
    }
    clssd__free(pk);
    return s;
}

double clssd__conv2d_flops(const clssd_graph *g, const clssd_node *n)
{
    const clssd_shape *x = &g->nodes[n->src[0]].out;
    return 2.0 * (double)n->out.c * (double)n->out.h * (double)n->out.w * (double)(x->c / n->p.conv.groups) *
           (double)n->p.conv.kh * (double)n->p.conv.kw;
}

static clssd_status blast(clssd_context *ctx, CLBlastStatusCode st, const char *what)
{
    if (st == CLBlastSuccess) return CLSSD_OK;
    return CLSSD_FAIL(ctx, (clssd_status)st, "CLBlastSgemm (%s) -> status %d", what, (int)st);
}

/* ---------------------------------------------------------------- sibling fusion */

/* Two packed convolutions of the same input with the same geometry (SSD's loc and conf heads)
 * pack the same im2col panels: the first packs once and runs both GEMMs, the second's forward
 * is then empty. Both are pure functions of the graph and the chosen algorithms, so nothing
 * is stored; the tuner turns fusion off (ex->no_fuse) while it times single nodes. */
static int is_packed(int algo)
{
    return algo == CLSSD_CONV_PACKED || algo == CLSSD_CONV_PACKED16;
}

static int fusable(const clssd_exec *ex, const clssd_node *a, const clssd_node *b)
{
    const __typeof__(a->p.conv) *p = &a->p.conv, *q = &b->p.conv;
    return a->op == CLSSD_OP_CONV2D && b->op == CLSSD_OP_CONV2D && a->src[0] == b->src[0] &&
           p->kh == q->kh && p->kw == q->kw && p->sh == q->sh && p->sw == q->sw &&
           p->ph == q->ph && p->pw == q->pw && p->ph_extra == q->ph_extra &&
           p->pw_extra == q->pw_extra && p->dh == q->dh && p->dw == q->dw && p->groups == 1 &&
           q->groups == 1 && is_packed(clssd__conv2d_algo(ex->ctx, ex->g, a)) &&
           is_packed(clssd__conv2d_algo(ex->ctx, ex->g, b));
}

static int32_t first_match_after(const clssd_exec *ex, int32_t i)
{
    for (int32_t j = i + 1; j < ex->g->n_nodes; j++)
        if (fusable(ex, &ex->g->nodes[i], &ex->g->nodes[j])) return j;
    return -1;
}

/* The node whose forward also computes node j, or -1. Pairs only: a leader takes the first
 * later match, and a follower leads nothing. */
static int32_t fusion_leader(const clssd_exec *ex, int32_t j)
{
    if (ex->no_fuse) return -1;
    for (int32_t i = j - 1; i >= 0; i--)
        if (fusable(ex, &ex->g->nodes[i], &ex->g->nodes[j]) && first_match_after(ex, i) == j &&
            fusion_leader(ex, i) < 0)
            return i;
    return -1;
}

static int32_t fusion_follower(const clssd_exec *ex, int32_t i)
{
    if (ex->no_fuse || fusion_leader(ex, i) >= 0) return -1;
    const int32_t j = first_match_after(ex, i);
    return j >= 0 && fusion_leader(ex, j) == i ? j : -1;
}

/* ---------------------------------------------------------------- packed path */

/* The GEMMs of node n (one per group) for image b, columns [col0, col0 + ncol), against the
 * panels clssd_pack_cols left in the workspace. */
static clssd_status packed_gemms(clssd_exec *ex, const clssd_node *n, cl_kernel k_gemm,
                                 int algo, int32_t b, size_t col0, cl_int ncol, cl_int npanels)
{
    clssd_context *ctx = ex->ctx;
    const __typeof__(n->p.conv) *c = &n->p.conv;
    const int32_t self = (int32_t)(n - ex->g->nodes);
    cl_mem out = ex->bufs[self], ap = ex->aux[self];
    if (!ap) return CLSSD_FAIL(ctx, CLSSD_ERR_INVALID_ARG, "node '%s': not prepared", n->name);
    const cl_int G = c->groups, M = c->cout / c->groups, K = (cl_int)conv_k(ex->g, n);
    const cl_int MR = (cl_int)gemm_mr(algo), Mp = (M + MR - 1) / MR;
    const size_t HWo = (size_t)n->out.h * (size_t)n->out.w;
    const cl_int ldc = (cl_int)HWo, has_bias = n->bias >= 0, relu = c->relu;
    const float relu_max = c->relu_max;
    cl_mem bias = has_bias ? ex->weights[n->bias] : out;
    clssd_status s = CLSSD_OK;
    for (cl_int gi = 0; gi < G && s == CLSSD_OK; gi++) {
        const cl_ulong a_off = (cl_ulong)gi * (cl_ulong)(Mp * MR) * (cl_ulong)K,
                       b_off = (cl_ulong)gi * (cl_ulong)npanels * GEMM_NR * (cl_ulong)K,
                       c_off = ((cl_ulong)b * (cl_ulong)c->cout + (cl_ulong)(gi * M)) *
                                   (cl_ulong)HWo + (cl_ulong)col0;
        const cl_int bias_off = gi * M;
        s = clssd__set_args(ctx, k_gemm, 15, sizeof ap, &ap, sizeof a_off, &a_off,
                            sizeof(cl_mem), &ex->workspace, sizeof b_off, &b_off, sizeof out,
                            &out, sizeof c_off, &c_off, sizeof M, &M, sizeof ncol, &ncol,
                            sizeof K, &K, sizeof ldc, &ldc, sizeof bias, &bias, sizeof bias_off,
                            &bias_off, sizeof has_bias, &has_bias, sizeof relu, &relu,
                            sizeof relu_max, &relu_max);
        if (s != CLSSD_OK) break;
        /* work-group size 1: each work-item is a whole register tile (cl/gemm.cl) */
        const size_t gg[2] = {(size_t)npanels, (size_t)Mp}, lg[2] = {1, 1};
        s = clssd__enqueue(ctx, k_gemm, 2, gg, lg);
    }
    return s;
}

static const char *gemm_kernel(int algo)
{
    return algo == CLSSD_CONV_PACKED16 ? "clssd_gemm_packed16" : "clssd_gemm_packed";
}

/* Packed path: per image and chunk of output columns, one clssd_pack_cols launch for all
 * groups, then the GEMMs (bias and activation fused) of this node and of its fused sibling. */
static clssd_status conv_packed(clssd_exec *ex, const clssd_node *n, int algo)
{
    clssd_context *ctx = ex->ctx;
    const clssd_graph *g = ex->g;
    const __typeof__(n->p.conv) *c = &n->p.conv;
    const clssd_shape *x = &g->nodes[n->src[0]].out;
    const int32_t self = (int32_t)(n - g->nodes);
    if (fusion_leader(ex, self) >= 0) return CLSSD_OK; /* computed with its sibling */
    const int32_t sib = fusion_follower(ex, self);
    const clssd_node *ns = sib >= 0 ? &g->nodes[sib] : NULL;
    const int algo_s = ns ? clssd__conv2d_algo(ctx, g, ns) : 0;
    cl_mem in = ex->bufs[n->src[0]];
    const cl_int K = (cl_int)conv_k(g, n), G = c->groups;
    const size_t HWo = (size_t)n->out.h * (size_t)n->out.w;
    const size_t cols_per = chunk_cols(n, x->c);
    const cl_int H = x->h, W = x->w, C = x->c, kh = c->kh, kw = c->kw, sh = c->sh, sw = c->sw,
                 ph = c->ph, pw = c->pw, dh = c->dh, dw = c->dw, Wo = n->out.w;
    cl_kernel k_pack = NULL, k_gemm = NULL, k_gemm_s = NULL;
    clssd_status s = clssd__kernel(ctx, "gemm", "clssd_pack_cols", &k_pack);
    if (s == CLSSD_OK) s = clssd__kernel(ctx, "gemm", gemm_kernel(algo), &k_gemm);
    if (s == CLSSD_OK && ns) s = clssd__kernel(ctx, "gemm", gemm_kernel(algo_s), &k_gemm_s);
    for (int32_t b = 0; b < ex->batch && s == CLSSD_OK; b++)
        for (size_t col0 = 0; col0 < HWo && s == CLSSD_OK; col0 += cols_per) {
            const cl_ulong x_off = (cl_ulong)b * (cl_ulong)C * (cl_ulong)H * (cl_ulong)W;
            const cl_int c0 = (cl_int)col0,
                         ncol = (cl_int)(col0 + cols_per > HWo ? HWo - col0 : cols_per),
                         npanels = (ncol + GEMM_NR - 1) / GEMM_NR;
            s = clssd__set_args(ctx, k_pack, 19, sizeof in, &in, sizeof x_off, &x_off, sizeof H,
                                &H, sizeof W, &W, sizeof C, &C, sizeof kh, &kh, sizeof kw, &kw,
                                sizeof sh, &sh, sizeof sw, &sw, sizeof ph, &ph, sizeof pw, &pw,
                                sizeof dh, &dh, sizeof dw, &dw, sizeof Wo, &Wo, sizeof c0, &c0,
                                sizeof ncol, &ncol, sizeof K, &K, sizeof npanels, &npanels,
                                sizeof(cl_mem), &ex->workspace);
            if (s != CLSSD_OK) break;
            const size_t gp[2] = {(size_t)K * (size_t)G, (size_t)npanels}, lp[2] = {16, 1};
            s = clssd__enqueue(ctx, k_pack, 2, gp, lp);
            if (s == CLSSD_OK) s = packed_gemms(ex, n, k_gemm, algo, b, col0, ncol, npanels);
            if (s == CLSSD_OK && ns)
                s = packed_gemms(ex, ns, k_gemm_s, algo_s, b, col0, ncol, npanels);
        }
    if (k_pack) clReleaseKernel(k_pack);
    if (k_gemm) clReleaseKernel(k_gemm);
    if (k_gemm_s) clReleaseKernel(k_gemm_s);
    return s;
}

clssd_status clssd__conv2d_cl(clssd_exec *ex, const clssd_node *n)
{
    clssd_context *ctx = ex->ctx;
    const clssd_graph *g = ex->g;
    const __typeof__(n->p.conv) *c = &n->p.conv;
    const clssd_shape *x = &g->nodes[n->src[0]].out;
    const int32_t self = (int32_t)(n - g->nodes);
    const int algo = clssd__conv2d_algo(ctx, g, n);
    if (algo == CLSSD_CONV_PACKED || algo == CLSSD_CONV_PACKED16) return conv_packed(ex, n, algo);
    cl_mem in = ex->bufs[n->src[0]], out = ex->bufs[self], w = ex->weights[n->weight];
    const size_t G = (size_t)c->groups;
    const size_t M = (size_t)c->cout / G;                         /* outputs per group */
    const size_t K = (size_t)(x->c / c->groups) * (size_t)c->kh * (size_t)c->kw;
    const size_t HWo = (size_t)n->out.h * (size_t)n->out.w;
    const size_t in_img = (size_t)x->c * (size_t)x->h * (size_t)x->w;
    const size_t out_img = (size_t)c->cout * HWo;
    clssd_status s = CLSSD_OK;
    cl_kernel k_col = NULL, k_bias = NULL;

    if (algo == CLSSD_CONV_DIRECT) {
        /* thin groups: one direct sum per output (cl/conv.cl); depthwise (one input channel
         * per group) has its own kernel, an output row per work-item */
        const int depthwise = x->c == c->groups;
        s = clssd__kernel(ctx, "conv", depthwise ? "clssd_conv_dw" : "clssd_conv_direct", &k_col);
        if (s != CLSSD_OK) goto done;
        const cl_int BC = ex->batch * c->cout, C = x->c, H = x->h, W = x->w, Cout = c->cout,
                     Ho = n->out.h, Wo = n->out.w, Cg = x->c / c->groups, Mg = (cl_int)M,
                     kh = c->kh, kw = c->kw, sh = c->sh, sw = c->sw, ph = c->ph, pw = c->pw,
                     dh = c->dh, dw = c->dw;
        const cl_int has_bias = n->bias >= 0, relu = c->relu;
        const float relu_max = c->relu_max;
        cl_mem bias = has_bias ? ex->weights[n->bias] : out;
        /* clssd_conv_dw takes clssd_conv_direct's arguments */
        s = clssd__set_args(ctx, k_col, 24, sizeof in, &in, sizeof w, &w, sizeof out, &out,
                            sizeof BC, &BC, sizeof C, &C, sizeof H, &H, sizeof W, &W,
                            sizeof Cout, &Cout, sizeof Ho, &Ho, sizeof Wo, &Wo, sizeof Cg, &Cg,
                            sizeof Mg, &Mg, sizeof kh, &kh, sizeof kw, &kw, sizeof sh, &sh,
                            sizeof sw, &sw, sizeof ph, &ph, sizeof pw, &pw, sizeof dh, &dh,
                            sizeof dw, &dw, sizeof bias, &bias, sizeof has_bias, &has_bias,
                            sizeof relu, &relu, sizeof relu_max, &relu_max);
        if (s != CLSSD_OK) goto done;
        if (depthwise) {
            /* a work-item per output row (cl/conv.cl) */
            const size_t gsz[2] = {(size_t)Ho, (size_t)BC}, lsz[2] = {8, 8};
            s = clssd__enqueue(ctx, k_col, 2, gsz, lsz);
        } else {
            const size_t gsz[3] = {(size_t)Wo, (size_t)Ho, (size_t)BC}, lsz[3] = {16, 4, 1};
            s = clssd__enqueue(ctx, k_col, 3, gsz, lsz);
        }
        if (s != CLSSD_OK) goto done;
    } else if (is_pointwise(n)) {
        /* The input is the B matrix as it stands; more than one image is one strided-batched
         * call per group (the weights, A, have stride 0) instead of one call per image. */
        for (size_t gi = 0; gi < G; gi++) {
            CLBlastStatusCode st;
            if (ex->batch > 1)
                st = CLBlastSgemmStridedBatched(
                    CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeNo, M, HWo, K,
                    1.0f, w, gi * M * K, K, 0, in, gi * K * HWo, HWo, in_img, 0.0f, out,
                    gi * M * HWo, HWo, out_img, (size_t)ex->batch, &ctx->queue,
                    clssd__prof_slot(ctx));
            else
                st = CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeNo,
                                  M, HWo, K, 1.0f, w, gi * M * K, K, in, gi * K * HWo, HWo, 0.0f,
                                  out, gi * M * HWo, HWo, &ctx->queue, clssd__prof_slot(ctx));
            s = blast(ctx, st, n->name);
            if (s != CLSSD_OK) goto done;
        }
    } else {
        s = clssd__kernel(ctx, "conv", "clssd_im2col", &k_col);
        if (s != CLSSD_OK) goto done;
        const int32_t rows_per = chunk_rows(n, x->c);
        const cl_int H = x->h, W = x->w, C = x->c, kh = c->kh, kw = c->kw, sh = c->sh,
                     sw = c->sw, ph = c->ph, pw = c->pw, dh = c->dh, dw = c->dw,
                     Wo = n->out.w;
        const cl_ulong col_off0 = 0;
        /* More than one image whose im2col matrices all fit the workspace: im2col each, then
         * one strided-batched GEMM per group for all of them (GPUs: batch x the work per
         * launch for the late, small layers). Otherwise per image, in chunks of rows. */
        const size_t per_img = K * G * HWo;
        if (ex->batch > 1 && per_img * (size_t)ex->batch * sizeof(float) <= ex->ws_bytes) {
            const cl_int row0 = 0, rows = n->out.h;
            for (int32_t b = 0; b < ex->batch; b++) {
                const cl_int x_off = (cl_int)((size_t)b * in_img);
                const cl_ulong col_off = (cl_ulong)b * (cl_ulong)per_img;
                s = clssd__set_args(ctx, k_col, 18, sizeof in, &in, sizeof x_off, &x_off,
                                    sizeof H, &H, sizeof W, &W, sizeof C, &C, sizeof kh, &kh,
                                    sizeof kw, &kw, sizeof sh, &sh, sizeof sw, &sw, sizeof ph,
                                    &ph, sizeof pw, &pw, sizeof dh, &dh, sizeof dw, &dw,
                                    sizeof Wo, &Wo, sizeof row0, &row0, sizeof rows, &rows,
                                    sizeof(cl_mem), &ex->workspace, sizeof col_off, &col_off);
                if (s != CLSSD_OK) goto done;
                const size_t gsz[2] = {HWo, K * G}, lsz[2] = {64, 1};
                s = clssd__enqueue(ctx, k_col, 2, gsz, lsz);
                if (s != CLSSD_OK) goto done;
            }
            for (size_t gi = 0; gi < G; gi++) {
                s = blast(ctx,
                          CLBlastSgemmStridedBatched(
                              CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeNo, M,
                              HWo, K, 1.0f, w, gi * M * K, K, 0, ex->workspace, gi * K * HWo,
                              HWo, per_img, 0.0f, out, gi * M * HWo, HWo, out_img,
                              (size_t)ex->batch, &ctx->queue, clssd__prof_slot(ctx)),
                          n->name);
                if (s != CLSSD_OK) goto done;
            }
        } else {
            for (int32_t b = 0; b < ex->batch; b++)
                for (int32_t r0 = 0; r0 < n->out.h; r0 += rows_per) {
                    const cl_int row0 = r0, rows = r0 + rows_per > n->out.h ? n->out.h - r0 : rows_per;
                    const cl_int x_off = (cl_int)((size_t)b * in_img);
                    const size_t ncol = (size_t)rows * (size_t)Wo;
                    s = clssd__set_args(ctx, k_col, 18, sizeof in, &in, sizeof x_off, &x_off,
                                        sizeof H, &H, sizeof W, &W, sizeof C, &C, sizeof kh, &kh,
                                        sizeof kw, &kw, sizeof sh, &sh, sizeof sw, &sw, sizeof ph, &ph,
                                        sizeof pw, &pw, sizeof dh, &dh, sizeof dw, &dw, sizeof Wo, &Wo,
                                        sizeof row0, &row0, sizeof rows, &rows, sizeof(cl_mem),
                                        &ex->workspace, sizeof col_off0, &col_off0);
                    if (s != CLSSD_OK) goto done;
                    const size_t gsz[2] = {ncol, K * G};
                    const size_t lsz[2] = {64, 1};
                    s = clssd__enqueue(ctx, k_col, 2, gsz, lsz);
                    if (s != CLSSD_OK) goto done;
                    for (size_t gi = 0; gi < G; gi++) {
                        s = blast(ctx, CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo,
                                                    CLBlastTransposeNo, M, ncol, K, 1.0f, w,
                                                    gi * M * K, K, ex->workspace, gi * K * ncol, ncol,
                                                    0.0f, out,
                                                    b * out_img + gi * M * HWo + (size_t)r0 * (size_t)Wo,
                                                    HWo, &ctx->queue, clssd__prof_slot(ctx)),
                                  n->name);
                        if (s != CLSSD_OK) goto done;
                    }
                }
        }
    }
    /* the direct kernels fuse bias and activation; the GEMM path needs this pass */
    if (algo == CLSSD_CONV_IM2COL_CLBLAST && (n->bias >= 0 || c->relu)) {
        s = clssd__kernel(ctx, "conv", "clssd_bias_act", &k_bias);
        if (s != CLSSD_OK) goto done;
        const cl_int total = (cl_int)(out_img * (size_t)ex->batch), C = c->cout,
                     HW = (cl_int)HWo, has_bias = n->bias >= 0, relu = c->relu;
        const float relu_max = c->relu_max;
        cl_mem bias = n->bias >= 0 ? ex->weights[n->bias] : out;
        s = clssd__set_args(ctx, k_bias, 8, sizeof out, &out, sizeof total, &total, sizeof C, &C,
                            sizeof HW, &HW, sizeof bias, &bias, sizeof has_bias, &has_bias,
                            sizeof relu, &relu, sizeof relu_max, &relu_max);
        if (s != CLSSD_OK) goto done;
        const size_t gsz = (size_t)total, lsz = 64;
        s = clssd__enqueue(ctx, k_bias, 1, &gsz, &lsz);
    }
done:
    if (k_col) clReleaseKernel(k_col);
    if (k_bias) clReleaseKernel(k_bias);
    return s;
}
