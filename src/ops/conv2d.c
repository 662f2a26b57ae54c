/* Convolution on the device: im2col into the shared workspace, then CLBlast SGEMM per image
 * and group; 1x1 stride-1 unpadded convolutions use the input directly as the GEMM's B.
 * The extra bottom/right padding of TensorFlow's "SAME" (ph_extra, pw_extra) needs no work
 * in im2col: those rows and columns lie past H and W, where it already writes zeros; it only
 * makes the output larger (and so rules out the pointwise path).
 * The im2col buffer is filled in chunks of output rows so that the workspace stays bounded
 * (SSD512's conv1_2 would otherwise need 600 MB). */
#include <float.h>
#include <stdio.h>

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
    n->out = (clssd_shape){1, c->cout, (int32_t)ho, (int32_t)wo};
    return CLSSD_OK;
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

size_t clssd__conv2d_workspace(const clssd_graph *g, const clssd_node *n, int32_t batch)
{
    (void)batch;
    if (is_pointwise(n)) return 0;
    const clssd_shape *x = &g->nodes[n->src[0]].out;
    size_t k = (size_t)x->c * (size_t)n->p.conv.kh * (size_t)n->p.conv.kw;
    return k * (size_t)chunk_rows(n, x->c) * (size_t)n->out.w * sizeof(float);
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

/* Grouped convolutions whose groups reduce over at most this many values run the direct
 * kernel instead of im2col + one GEMM per group. */
#define DIRECT_MAX_K 64

clssd_status clssd__conv2d_cl(clssd_exec *ex, const clssd_node *n)
{
    clssd_context *ctx = ex->ctx;
    const clssd_graph *g = ex->g;
    const __typeof__(n->p.conv) *c = &n->p.conv;
    const clssd_shape *x = &g->nodes[n->src[0]].out;
    const int32_t self = (int32_t)(n - g->nodes);
    cl_mem in = ex->bufs[n->src[0]], out = ex->bufs[self], w = ex->weights[n->weight];
    const size_t G = (size_t)c->groups;
    const size_t M = (size_t)c->cout / G;                         /* outputs per group */
    const size_t K = (size_t)(x->c / c->groups) * (size_t)c->kh * (size_t)c->kw;
    const size_t HWo = (size_t)n->out.h * (size_t)n->out.w;
    const size_t in_img = (size_t)x->c * (size_t)x->h * (size_t)x->w;
    const size_t out_img = (size_t)c->cout * HWo;
    clssd_status s = CLSSD_OK;
    cl_kernel k_col = NULL, k_bias = NULL;

    if (G > 1 && K <= DIRECT_MAX_K) {
        /* depthwise and other thin groups: one direct sum per output (see cl/conv.cl) */
        s = clssd__kernel(ctx, "conv", "clssd_conv_direct", &k_col);
        if (s != CLSSD_OK) goto done;
        const cl_int BC = ex->batch * c->cout, C = x->c, H = x->h, W = x->w, Cout = c->cout,
                     Ho = n->out.h, Wo = n->out.w, Cg = x->c / c->groups, Mg = (cl_int)M,
                     kh = c->kh, kw = c->kw, sh = c->sh, sw = c->sw, ph = c->ph, pw = c->pw,
                     dh = c->dh, dw = c->dw;
        s = clssd__set_args(ctx, k_col, 20, sizeof in, &in, sizeof w, &w, sizeof out, &out,
                            sizeof BC, &BC, sizeof C, &C, sizeof H, &H, sizeof W, &W,
                            sizeof Cout, &Cout, sizeof Ho, &Ho, sizeof Wo, &Wo, sizeof Cg, &Cg,
                            sizeof Mg, &Mg, sizeof kh, &kh, sizeof kw, &kw, sizeof sh, &sh,
                            sizeof sw, &sw, sizeof ph, &ph, sizeof pw, &pw, sizeof dh, &dh,
                            sizeof dw, &dw);
        if (s != CLSSD_OK) goto done;
        const size_t gsz[3] = {(size_t)Wo, (size_t)Ho, (size_t)BC}, lsz[3] = {16, 4, 1};
        s = clssd__enqueue(ctx, k_col, 3, gsz, lsz);
        if (s != CLSSD_OK) goto done;
    } else if (is_pointwise(n)) {
        for (int32_t b = 0; b < ex->batch; b++)
            for (size_t gi = 0; gi < G; gi++) {
                s = blast(ctx, CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo,
                                            CLBlastTransposeNo, M, HWo, K, 1.0f, w, gi * M * K,
                                            K, in, b * in_img + gi * K * HWo, HWo, 0.0f, out,
                                            b * out_img + gi * M * HWo, HWo, &ctx->queue, NULL),
                          n->name);
                if (s != CLSSD_OK) goto done;
            }
    } else {
        s = clssd__kernel(ctx, "conv", "clssd_im2col", &k_col);
        if (s != CLSSD_OK) goto done;
        const int32_t rows_per = chunk_rows(n, x->c);
        const cl_int H = x->h, W = x->w, C = x->c, kh = c->kh, kw = c->kw, sh = c->sh,
                     sw = c->sw, ph = c->ph, pw = c->pw, dh = c->dh, dw = c->dw,
                     Wo = n->out.w;
        for (int32_t b = 0; b < ex->batch; b++)
            for (int32_t r0 = 0; r0 < n->out.h; r0 += rows_per) {
                const cl_int row0 = r0, rows = r0 + rows_per > n->out.h ? n->out.h - r0 : rows_per;
                const cl_int x_off = (cl_int)((size_t)b * in_img);
                const size_t ncol = (size_t)rows * (size_t)Wo;
                s = clssd__set_args(ctx, k_col, 17, sizeof in, &in, sizeof x_off, &x_off,
                                    sizeof H, &H, sizeof W, &W, sizeof C, &C, sizeof kh, &kh,
                                    sizeof kw, &kw, sizeof sh, &sh, sizeof sw, &sw, sizeof ph, &ph,
                                    sizeof pw, &pw, sizeof dh, &dh, sizeof dw, &dw, sizeof Wo, &Wo,
                                    sizeof row0, &row0, sizeof rows, &rows, sizeof(cl_mem),
                                    &ex->workspace);
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
                                                HWo, &ctx->queue, NULL),
                              n->name);
                    if (s != CLSSD_OK) goto done;
                }
            }
    }
    if (n->bias >= 0 || c->relu) {
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
