/* Backward passes on the device (issue 6, design-notes 10): the host side of cl/backward.cl
 * plus cl/gemm.cl's packed GEMM for the convolution's two GEMMs (on PoCL it runs about ten
 * times faster than CLBlast, whose per-call helper kernels also cost more than the small
 * layers' arithmetic). The references in backward_ref.c define the
 * results; this file only validates like them and launches. */
#include <stdint.h>
#include <string.h>

#include "train/backward.h"

/* Chunk budget for the convolution's packed operands and column gradient. On the tiny SSD at
 * 128 px (PoCL, 2 cores) 2, 8 and 32 MB timed the same within noise and 1 MB about 1.5x
 * slower (more chunks, each re-reading dweight); 8 MB keeps the temporaries small. */
#define COL_BYTES_DEFAULT ((size_t)8 << 20)

/* cl/gemm.cl's panel width (CLSSD_GEMM_NR) */
#define GEMM_NR 32

#define BAD(ctx, ...) CLSSD_FAIL((ctx), CLSSD_ERR_INVALID_ARG, __VA_ARGS__)

/* Elements of x and y over the batch, as the references count them; 0 when the shapes are
 * empty or overflow. The kernels index with int, so both must also fit one. */
static int counts(const clssd_bwd_args *a, size_t *in, size_t *out)
{
    if (!a || !a->node || !a->x || a->batch < 1) return 0;
    const size_t ci = clssd__shape_count(&a->x_shape), co = clssd__shape_count(&a->node->out);
    if (ci == 0 || co == 0) return 0;
    return clssd__mul_size(ci, (size_t)a->batch, in) &&
           clssd__mul_size(co, (size_t)a->batch, out) && *in <= INT32_MAX && *out <= INT32_MAX;
}

/* A buffer holding at least n floats: the kernels trust the shapes, so a smaller buffer is
 * refused here instead of being written past. */
static int holds(cl_mem m, size_t n)
{
    size_t size = 0;
    if (!m || clGetMemObjectInfo(m, CL_MEM_SIZE, sizeof size, &size, NULL) != CL_SUCCESS)
        return 0;
    return n <= size / sizeof(float);
}

static void release(cl_mem *m)
{
    if (*m) clReleaseMemObject(*m);
    *m = NULL;
}

/* ---------------------------------------------------------------- ReLU */

/* Shared by ReLU and the convolution's fused activation (on y, slope 0). */
static clssd_status relu_launch(clssd_context *ctx, cl_mem x, cl_mem dy, cl_mem dx, size_t n,
                                float slope, float max)
{
    cl_kernel k;
    CLSSD_TRY(clssd__kernel(ctx, "backward", "clssd_relu_backward", &k));
    const cl_int count = (cl_int)n;
    clssd_status s = clssd__set_args(ctx, k, 6, sizeof x, &x, sizeof dy, &dy, sizeof dx, &dx,
                                     sizeof count, &count, sizeof slope, &slope, sizeof max, &max);
    const size_t gsz = n, lsz = 64;
    if (s == CLSSD_OK) s = clssd__enqueue(ctx, k, 1, &gsz, &lsz);
    clReleaseKernel(k);
    return s;
}

clssd_status clssd__relu_backward(clssd_context *ctx, const clssd_bwd_args *a, cl_mem dy,
                                  cl_mem dx)
{
    if (!ctx) return CLSSD_ERR_INVALID_ARG;
    size_t n_in, n_out;
    if (!counts(a, &n_in, &n_out) || n_in != n_out || a->node->op != CLSSD_OP_RELU)
        return BAD(ctx, "relu backward: bad node or shapes");
    const float slope = a->node->p.relu.negative_slope, max = a->node->p.relu.max;
    if (!(max >= 0.0f)) return BAD(ctx, "relu backward: bad max %g", (double)max);
    if (!holds(a->x, n_in) || !holds(dy, n_in) || !holds(dx, n_in))
        return BAD(ctx, "relu backward: a buffer is missing or smaller than %zu floats", n_in);
    return relu_launch(ctx, a->x, dy, dx, n_in, slope, max);
}

/* ---------------------------------------------------------------- pooling */

clssd_status clssd__pool_backward(clssd_context *ctx, const clssd_bwd_args *a, cl_mem dy,
                                  cl_mem dx)
{
    if (!ctx) return CLSSD_ERR_INVALID_ARG;
    size_t n_in, n_out;
    if (!counts(a, &n_in, &n_out) || a->node->op != CLSSD_OP_POOL)
        return BAD(ctx, "pool backward: bad node or shapes");
    /* the reference's own geometry (global pooling resolved, output size checked) */
    clssd_ref_args ra;
    memset(&ra, 0, sizeof ra);
    ra.node = a->node;
    ra.batch = a->batch;
    ra.src_shape[0] = a->x_shape;
    ra.n_src = 1;
    clssd_pool_geom q;
    if (clssd__pool_ref_geom(&ra, &q) != CLSSD_OK)
        return BAD(ctx, "pool backward: geometry does not match the node's output %dx%dx%d",
                   a->node->out.c, a->node->out.h, a->node->out.w);
    if (!holds(a->x, n_in) || !holds(dy, n_out) || !holds(dx, n_in))
        return BAD(ctx, "pool backward: a buffer is missing or too small");
    cl_kernel k;
    if (a->node->p.pool.method == 0 && q.kh <= q.sh && q.kw <= q.sw && q.ph < q.sh &&
        q.pw < q.sw && (int64_t)q.Ho * q.sh - q.ph >= q.H && (int64_t)q.Wo * q.sw - q.pw >= q.W) {
        /* non-overlapping windows whose cells cover the input: one work-item per output */
        CLSSD_TRY(clssd__kernel(ctx, "backward", "clssd_pool_backward_max_cells", &k));
        const cl_int no = (cl_int)n_out;
        clssd_status s = clssd__set_args(
            ctx, k, 14, sizeof(cl_mem), &a->x, sizeof dy, &dy, sizeof dx, &dx, sizeof no, &no,
            sizeof q.H, &q.H, sizeof q.W, &q.W, sizeof q.Ho, &q.Ho, sizeof q.Wo, &q.Wo,
            sizeof q.kh, &q.kh, sizeof q.kw, &q.kw, sizeof q.sh, &q.sh, sizeof q.sw, &q.sw,
            sizeof q.ph, &q.ph, sizeof q.pw, &q.pw);
        const size_t gsz = n_out, lsz = 64;
        if (s == CLSSD_OK) s = clssd__enqueue(ctx, k, 1, &gsz, &lsz);
        clReleaseKernel(k);
        return s;
    }
    CLSSD_TRY(clssd__kernel(ctx, "backward", "clssd_pool_backward", &k));
    const cl_int n = (cl_int)n_in, method = a->node->p.pool.method;
    clssd_status s = clssd__set_args(
        ctx, k, 15, sizeof(cl_mem), &a->x, sizeof dy, &dy, sizeof dx, &dx, sizeof n, &n,
        sizeof q.H, &q.H, sizeof q.W, &q.W, sizeof q.Ho, &q.Ho, sizeof q.Wo, &q.Wo, sizeof q.kh,
        &q.kh, sizeof q.kw, &q.kw, sizeof q.sh, &q.sh, sizeof q.sw, &q.sw, sizeof q.ph, &q.ph,
        sizeof q.pw, &q.pw, sizeof method, &method);
    const size_t gsz = n_in, lsz = 64;
    if (s == CLSSD_OK) s = clssd__enqueue(ctx, k, 1, &gsz, &lsz);
    clReleaseKernel(k);
    return s;
}

/* ---------------------------------------------------------------- L2Norm */

clssd_status clssd__l2norm_backward(clssd_context *ctx, const clssd_bwd_args *a, cl_mem dy,
                                    cl_mem dx, cl_mem dscale)
{
    if (!ctx) return CLSSD_ERR_INVALID_ARG;
    size_t n_in, n_out;
    if (!counts(a, &n_in, &n_out) || n_in != n_out || a->node->op != CLSSD_OP_L2NORM ||
        (!dx && !dscale))
        return BAD(ctx, "l2norm backward: bad node, shapes or no output");
    const __typeof__(a->node->p.l2norm) *p = &a->node->p.l2norm;
    if (!(p->eps >= 0.0f)) return BAD(ctx, "l2norm backward: bad eps %g", (double)p->eps);
    const cl_int B = a->batch, C = a->x_shape.c, HW = a->x_shape.h * a->x_shape.w;
    const size_t n_scale = p->channel_shared ? 1 : (size_t)C;
    if (clssd__shape_count(&a->weight_shape) != 0 &&
        clssd__shape_count(&a->weight_shape) != n_scale)
        return BAD(ctx, "l2norm backward: scale has %zu values, expected %zu",
                   clssd__shape_count(&a->weight_shape), n_scale);
    if (!holds(a->x, n_in) || !holds(dy, n_in) || !holds(a->weight, n_scale) ||
        (dx && !holds(dx, n_in)) || (dscale && !holds(dscale, n_scale)))
        return BAD(ctx, "l2norm backward: a buffer is missing or too small");

    /* 1 / N per normalization group, written by the dx pass and read by the dscale pass */
    const size_t n_groups = p->across_spatial ? (size_t)B : (size_t)B * (size_t)HW;
    cl_mem inv_norm = NULL;
    cl_kernel k = NULL;
    CLSSD_TRY(clssd__buffer(ctx, n_groups * sizeof(float), CL_MEM_READ_WRITE, &inv_norm));
    const cl_int shared = p->channel_shared, across = p->across_spatial, want_dx = dx != NULL;
    const float eps = p->eps;
    cl_mem dx_arg = dx ? dx : inv_norm; /* not written when want_dx is 0 */
    clssd_status s;
    if (!p->across_spatial) {
        s = clssd__kernel(ctx, "backward", "clssd_l2norm_backward_pixel", &k);
        if (s == CLSSD_OK)
            s = clssd__set_args(ctx, k, 11, sizeof(cl_mem), &a->x, sizeof dy, &dy,
                                sizeof(cl_mem), &a->weight, sizeof shared, &shared, sizeof eps,
                                &eps, sizeof B, &B, sizeof C, &C, sizeof HW, &HW, sizeof dx_arg,
                                &dx_arg, sizeof want_dx, &want_dx, sizeof inv_norm, &inv_norm);
        const size_t gsz = n_groups, lsz = 64;
        if (s == CLSSD_OK) s = clssd__enqueue(ctx, k, 1, &gsz, &lsz);
    } else {
        s = clssd__kernel(ctx, "backward", "clssd_l2norm_backward_image", &k);
        if (s == CLSSD_OK)
            s = clssd__set_args(ctx, k, 10, sizeof(cl_mem), &a->x, sizeof dy, &dy,
                                sizeof(cl_mem), &a->weight, sizeof shared, &shared, sizeof eps,
                                &eps, sizeof C, &C, sizeof HW, &HW, sizeof dx_arg, &dx_arg,
                                sizeof want_dx, &want_dx, sizeof inv_norm, &inv_norm);
        /* one work-group of CLSSD_WG (= ctx->max_wg, the build option) per image */
        const size_t lsz = ctx->max_wg, gsz = lsz * (size_t)B;
        if (s == CLSSD_OK) s = clssd__enqueue(ctx, k, 1, &gsz, &lsz);
    }
    if (k) clReleaseKernel(k);
    k = NULL;
    if (s == CLSSD_OK && dscale) {
        s = clssd__kernel(ctx, "backward", "clssd_l2norm_dscale", &k);
        if (s == CLSSD_OK)
            s = clssd__set_args(ctx, k, 9, sizeof(cl_mem), &a->x, sizeof dy, &dy,
                                sizeof inv_norm, &inv_norm, sizeof across, &across,
                                sizeof shared, &shared, sizeof B, &B, sizeof C, &C, sizeof HW,
                                &HW, sizeof dscale, &dscale);
        /* one work-group per scale value */
        const size_t lsz = ctx->max_wg, gsz = lsz * n_scale;
        if (s == CLSSD_OK) s = clssd__enqueue(ctx, k, 1, &gsz, &lsz);
        if (k) clReleaseKernel(k);
    }
    release(&inv_norm); /* the queued kernels keep it alive until they are done */
    return s;
}

/* ---------------------------------------------------------------- Conv2d */

static int is_pointwise(const clssd_node *n)
{
    const __typeof__(n->p.conv) *c = &n->p.conv;
    return c->kh == 1 && c->kw == 1 && c->sh == 1 && c->sw == 1 && c->ph == 0 && c->pw == 0 &&
           c->ph_extra == 0 && c->pw_extra == 0;
}

/* dbias[o] = sum of dz over the batch and the positions (cl/backward.cl, two passes); with
 * y (a fused ReLU) the first pass also writes the masked dz. partial: B * M * nch floats. */
#define BIAS_CHUNK 256 /* CLSSD_BIAS_CHUNK */
static size_t bias_partials(cl_int B, cl_int M, cl_int HW)
{
    return (size_t)B * (size_t)M * (size_t)((HW + BIAS_CHUNK - 1) / BIAS_CHUNK);
}

static clssd_status bias_launch(clssd_context *ctx, cl_mem y, float relu_max, cl_mem dy,
                                cl_mem dz, cl_int B, cl_int M, cl_int HW, cl_mem partial,
                                cl_mem dbias)
{
    cl_kernel k1 = NULL, k2 = NULL;
    const cl_int nch = (HW + BIAS_CHUNK - 1) / BIAS_CHUNK, relu = y != NULL;
    cl_mem ya = y ? y : dy, za = dz ? dz : dy; /* not read / written without relu */
    clssd_status s = clssd__kernel(ctx, "backward", "clssd_bias_partial", &k1);
    if (s == CLSSD_OK) s = clssd__kernel(ctx, "backward", "clssd_bias_sum", &k2);
    if (s == CLSSD_OK)
        s = clssd__set_args(ctx, k1, 8, sizeof ya, &ya, sizeof dy, &dy, sizeof relu, &relu,
                            sizeof relu_max, &relu_max, sizeof za, &za, sizeof HW, &HW,
                            sizeof nch, &nch, sizeof partial, &partial);
    const size_t g1[2] = {(size_t)nch, (size_t)B * (size_t)M}, l1[2] = {1, 1};
    if (s == CLSSD_OK) s = clssd__enqueue(ctx, k1, 2, g1, l1);
    if (s == CLSSD_OK)
        s = clssd__set_args(ctx, k2, 5, sizeof partial, &partial, sizeof B, &B, sizeof M, &M,
                            sizeof nch, &nch, sizeof dbias, &dbias);
    const size_t g2 = (size_t)M, l2 = 16;
    if (s == CLSSD_OK) s = clssd__enqueue(ctx, k2, 1, &g2, &l2);
    if (k1) clReleaseKernel(k1);
    if (k2) clReleaseKernel(k2);
    return s;
}

clssd_status clssd__conv2d_backward(clssd_context *ctx, const clssd_bwd_args *a, cl_mem dy,
                                    cl_mem dx, cl_mem dweight, cl_mem dbias)
{
    return clssd__conv2d_backward_ex(ctx, a, dy, dx, dweight, dbias, 0);
}

/* Temporaries: from the caller's workspace when it has one (grown, never shrunk), else
 * created here and released at the end of the call. */
void clssd__bwd_ws_release(clssd_bwd_ws *ws)
{
    if (!ws) return;
    for (int i = 0; i < CLSSD_BWD_WS_SLOTS; i++) release(&ws->buf[i]);
    memset(ws, 0, sizeof *ws);
}

static clssd_status ws_get(clssd_context *ctx, clssd_bwd_ws *ws, int slot, size_t bytes,
                           cl_mem *out)
{
    if (bytes == 0) bytes = sizeof(float);
    if (!ws->buf[slot] || ws->bytes[slot] < bytes) {
        /* the in-order queue runs work already enqueued on the old buffer first, and OpenCL
         * keeps it alive until then */
        release(&ws->buf[slot]);
        ws->bytes[slot] = 0;
        CLSSD_TRY(clssd__buffer(ctx, bytes, CL_MEM_READ_WRITE, &ws->buf[slot]));
        ws->bytes[slot] = bytes;
    }
    *out = ws->buf[slot];
    return CLSSD_OK;
}

enum { WS_MASKED, WS_PACK_A, WS_PACK_B, WS_DCOL, WS_PACK_WT, WS_PARTIAL };

/* Tile height of clssd_gemm_packed_acc (cl/gemm.cl). 12, not 16, even where 16 would pad
 * less (32..256 channels): in the backward's GEMMs 16 ran about 1.5x slower on PoCL (the
 * tiny SSD at 128 px, all layers), likely register spills with the accumulate epilogue. */
#define BWD_MR 12

static clssd_status gemm_launch(clssd_context *ctx, cl_kernel k, cl_mem ap, cl_ulong a_off,
                                cl_mem bp, cl_ulong b_off, cl_mem c, cl_ulong c_off, cl_int M,
                                cl_int N, cl_int K, cl_int ldc, cl_int accumulate, cl_int mr)
{
    CLSSD_TRY(clssd__set_args(ctx, k, 11, sizeof ap, &ap, sizeof a_off, &a_off, sizeof bp, &bp,
                              sizeof b_off, &b_off, sizeof c, &c, sizeof c_off, &c_off, sizeof M,
                              &M, sizeof N, &N, sizeof K, &K, sizeof ldc, &ldc,
                              sizeof accumulate, &accumulate));
    /* work-group size 1: a work-item is a whole register tile (cl/gemm.cl) */
    const size_t gg[2] = {(size_t)((N + GEMM_NR - 1) / GEMM_NR), (size_t)((M + mr - 1) / mr)},
                 lg[2] = {1, 1};
    return clssd__enqueue(ctx, k, 2, gg, lg);
}

clssd_status clssd__conv2d_backward_ex(clssd_context *ctx, const clssd_bwd_args *a, cl_mem dy,
                                       cl_mem dx, cl_mem dweight, cl_mem dbias,
                                       size_t col_bytes)
{
    if (!ctx) return CLSSD_ERR_INVALID_ARG;
    size_t n_in, n_out;
    if (!counts(a, &n_in, &n_out) || a->node->op != CLSSD_OP_CONV2D)
        return BAD(ctx, "conv2d backward: bad node or shapes");
    const clssd_node *n = a->node;
    const __typeof__(n->p.conv) *p = &n->p.conv;
    const clssd_shape *xs = &a->x_shape;
    /* the reference's checks */
    if (p->cout <= 0 || p->groups <= 0 || p->kh <= 0 || p->kw <= 0 || p->sh <= 0 || p->sw <= 0 ||
        p->dh <= 0 || p->dw <= 0 || p->ph < 0 || p->pw < 0 || p->ph_extra < 0 || p->pw_extra < 0 ||
        xs->c % p->groups != 0 || p->cout % p->groups != 0 || !(p->relu_max >= 0.0f))
        return BAD(ctx, "conv2d backward: bad parameters");
    const int32_t G = p->groups, Cg = xs->c / G, Mg = p->cout / G;
    const int32_t Ho = clssd__conv_out(xs->h, p->kh, p->sh, p->ph, p->ph_extra, p->dh);
    const int32_t Wo = clssd__conv_out(xs->w, p->kw, p->sw, p->pw, p->pw_extra, p->dw);
    if (Ho <= 0 || Wo <= 0 || n->out.c != p->cout || n->out.h != Ho || n->out.w != Wo)
        return BAD(ctx, "conv2d backward: output %dx%dx%d does not match the convolution's "
                        "%dx%dx%d", n->out.c, n->out.h, n->out.w, p->cout, Ho, Wo);
    size_t K, n_w, row_floats; /* overflow-checked: the parameters are any int32 */
    if (!clssd__mul_size((size_t)Cg * (size_t)p->kh, (size_t)p->kw, &K) ||
        !clssd__mul_size((size_t)p->cout, K, &n_w) ||
        !clssd__mul_size(K * (size_t)G + (size_t)p->cout, (size_t)Wo + GEMM_NR, &row_floats) ||
        n_w > (size_t)INT32_MAX || K * (size_t)G > (size_t)INT32_MAX / 64)
        return CLSSD_FAIL(ctx, CLSSD_ERR_UNSUPPORTED, "conv2d backward: layer too large");
    if (clssd__shape_count(&a->weight_shape) != 0 && clssd__shape_count(&a->weight_shape) != n_w)
        return BAD(ctx, "conv2d backward: weights have %zu values, expected %zu",
                   clssd__shape_count(&a->weight_shape), n_w);
    const size_t HW = (size_t)xs->h * (size_t)xs->w, HWo = (size_t)Ho * (size_t)Wo;
    const size_t in_img = (size_t)xs->c * HW, out_img = (size_t)p->cout * HWo;
    const size_t budget = (col_bytes ? col_bytes : COL_BYTES_DEFAULT) / sizeof(float);
    if (!holds(dy, n_out) || !holds(a->weight, n_w) || (p->relu && !holds(a->y, n_out)) ||
        (dx && !holds(dx, n_in)) || (dweight && !holds(dweight, n_w)) ||
        (dbias && !holds(dbias, (size_t)p->cout)))
        return BAD(ctx, "conv2d backward: a buffer is missing or too small");

    clssd_bwd_ws own;
    memset(&own, 0, sizeof own);
    clssd_bwd_ws *ws = a->ws ? a->ws : &own;
    cl_mem dz = dy;
    cl_kernel k_pa = NULL, k_pb = NULL, k_gemm = NULL, k_c2i = NULL;
    clssd_status s = CLSSD_OK;
    /* The fused activation's mask, from the forward output y (slope 0, cap relu_max). */
    if (dbias) {
        /* with a fused ReLU the bias pass also writes the masked dz: one pass over dy */
        cl_mem part;
        s = ws_get(ctx, ws, WS_PARTIAL,
                   bias_partials(a->batch, p->cout, (cl_int)HWo) * sizeof(float), &part);
        if (s == CLSSD_OK && p->relu) s = ws_get(ctx, ws, WS_MASKED, n_out * sizeof(float), &dz);
        if (s == CLSSD_OK)
            s = bias_launch(ctx, p->relu ? a->y : NULL, p->relu_max, dy, p->relu ? dz : NULL,
                            a->batch, p->cout, (cl_int)HWo, part, dbias);
    } else if (p->relu) {
        s = ws_get(ctx, ws, WS_MASKED, n_out * sizeof(float), &dz);
        if (s == CLSSD_OK) s = relu_launch(ctx, a->y, dy, dz, n_out, 0.0f, p->relu_max);
    }
    if (s != CLSSD_OK) goto done;
    const cl_int C = xs->c, H = xs->h, W = xs->w, kh = p->kh, kw = p->kw, sh = p->sh,
                 sw = p->sw, ph = p->ph, pw = p->pw, dh = p->dh, dw = p->dw, cHo = Ho, cWo = Wo,
                 cG = G, cMg = Mg, cKg = (cl_int)K, cHWo = (cl_int)HWo;

    if (dweight) {
        /* dW_g [Mg x Kg] = dz_g . col_g^T with the reduction over every position of the
         * batch, q = b*HWo + p, in chunks of positions whose packed dz and col^T panels fit
         * the budget; chunks after the first add up in the GEMM (accumulate) */
        const cl_int mr = BWD_MR, Mp = (Mg + mr - 1) / mr,
                     Np = (cl_int)((K + GEMM_NR - 1) / GEMM_NR);
        const size_t per_q = (size_t)G * ((size_t)Mp * (size_t)mr + (size_t)Np * GEMM_NR);
        const size_t Q = (size_t)a->batch * HWo;
        size_t nq_max = budget / per_q;
        if (nq_max < 1) nq_max = 1;
        if (nq_max > Q) nq_max = Q;
        cl_mem pa, pb;
        s = ws_get(ctx, ws, WS_PACK_A, nq_max * (size_t)G * (size_t)Mp * (size_t)mr * sizeof(float), &pa);
        if (s == CLSSD_OK)
            s = ws_get(ctx, ws, WS_PACK_B, nq_max * (size_t)G * (size_t)Np * GEMM_NR * sizeof(float), &pb);
        if (s == CLSSD_OK) s = clssd__kernel(ctx, "gemm", "clssd_pack_dz", &k_pa);
        if (s == CLSSD_OK) s = clssd__kernel(ctx, "gemm", "clssd_pack_cols_t", &k_pb);
        if (s == CLSSD_OK) s = clssd__kernel(ctx, "gemm", "clssd_gemm_packed_acc", &k_gemm);
        for (size_t q = 0; q < Q && s == CLSSD_OK; q += nq_max) {
            const cl_int q0 = (cl_int)q, nq = (cl_int)(Q - q < nq_max ? Q - q : nq_max);
            s = clssd__set_args(ctx, k_pa, 9, sizeof dz, &dz, sizeof cMg, &cMg, sizeof cG, &cG,
                                sizeof cHWo, &cHWo, sizeof q0, &q0, sizeof nq, &nq, sizeof mr,
                                &mr, sizeof Mp, &Mp, sizeof pa, &pa);
            const size_t ga[2] = {(size_t)nq, (size_t)(G * Mp)}, la[2] = {16, 1};
            if (s == CLSSD_OK) s = clssd__enqueue(ctx, k_pa, 2, ga, la);
            if (s == CLSSD_OK)
                s = clssd__set_args(ctx, k_pb, 19, sizeof(cl_mem), &a->x, sizeof C, &C, sizeof H,
                                    &H, sizeof W, &W, sizeof cG, &cG, sizeof kh, &kh, sizeof kw,
                                    &kw, sizeof sh, &sh, sizeof sw, &sw, sizeof ph, &ph,
                                    sizeof pw, &pw, sizeof dh, &dh, sizeof dw, &dw, sizeof cHo,
                                    &cHo, sizeof cWo, &cWo, sizeof q0, &q0, sizeof nq, &nq,
                                    sizeof Np, &Np, sizeof pb, &pb);
            const size_t gb[2] = {(size_t)nq, (size_t)(G * Np)}, lb[2] = {16, 1};
            if (s == CLSSD_OK) s = clssd__enqueue(ctx, k_pb, 2, gb, lb);
            for (int32_t g = 0; g < G && s == CLSSD_OK; g++) {
                const cl_ulong gi = (cl_ulong)g, nqu = (cl_ulong)nq;
                s = gemm_launch(ctx, k_gemm, pa, gi * (cl_ulong)(Mp * mr) * nqu, pb,
                                gi * (cl_ulong)Np * GEMM_NR * nqu, dweight,
                                gi * (cl_ulong)Mg * (cl_ulong)K, cMg, cKg, nq, cKg, q > 0, mr);
            }
        }
        if (k_pa) clReleaseKernel(k_pa);
        if (k_pb) clReleaseKernel(k_pb);
        if (k_gemm) clReleaseKernel(k_gemm);
        k_pa = k_pb = k_gemm = NULL;
        if (s != CLSSD_OK) goto done;
    }

    const int transposable = p->sh == 1 && p->sw == 1 && p->ph_extra == 0 && p->pw_extra == 0 &&
                             p->ph <= (p->kh - 1) * p->dh && p->pw <= (p->kw - 1) * p->dw;
    if (dx && transposable) {
        /* Stride 1: dx is the convolution of dz with the flipped, channel-swapped weights W'
         * (pad (k-1)*d - p, same dilation, output H x W), run as the forward's packed path:
         * W' packed once per call, then per image and chunk of dx's columns a
         * clssd_pack_cols of dz and one GEMM per group straight into dx -- no column
         * gradient and no col2im. */
        const cl_int mr = BWD_MR, Cp = (Cg + mr - 1) / mr, Kt = Mg * kh * kw;
        const cl_int phT = (kh - 1) * dh - ph, pwT = (kw - 1) * dw - pw;
        const size_t n_wt = (size_t)G * (size_t)Cp * (size_t)mr * (size_t)Kt;
        const size_t taps = (size_t)Kt * (size_t)G; /* packed rows per column, all groups */
        size_t cols_per = budget / taps / GEMM_NR * GEMM_NR;
        if (cols_per < GEMM_NR) cols_per = GEMM_NR;
        if (cols_per > (HW + GEMM_NR - 1) / GEMM_NR * GEMM_NR)
            cols_per = (HW + GEMM_NR - 1) / GEMM_NR * GEMM_NR;
        cl_mem wt, pb;
        s = n_wt > (size_t)INT32_MAX ? CLSSD_FAIL(ctx, CLSSD_ERR_UNSUPPORTED,
                                                 "conv2d backward: layer too large")
                                     : CLSSD_OK;
        if (s == CLSSD_OK) s = ws_get(ctx, ws, WS_PACK_WT, n_wt * sizeof(float), &wt);
        if (s == CLSSD_OK) s = ws_get(ctx, ws, WS_PACK_B, taps * cols_per * sizeof(float), &pb);
        if (s == CLSSD_OK) s = clssd__kernel(ctx, "gemm", "clssd_pack_weights_flip", &k_pa);
        if (s == CLSSD_OK) s = clssd__kernel(ctx, "gemm", "clssd_pack_cols", &k_pb);
        if (s == CLSSD_OK) s = clssd__kernel(ctx, "gemm", "clssd_gemm_packed_acc", &k_gemm);
        const cl_int GCp = G * Cp, cCg = Cg, Cout = p->cout, one = 1;
        if (s == CLSSD_OK)
            s = clssd__set_args(ctx, k_pa, 9, sizeof(cl_mem), &a->weight, sizeof cMg, &cMg,
                                sizeof cCg, &cCg, sizeof kh, &kh, sizeof kw, &kw, sizeof mr, &mr,
                                sizeof Cp, &Cp, sizeof GCp, &GCp, sizeof wt, &wt);
        const size_t gw[2] = {(size_t)Kt, (size_t)GCp}, lw[2] = {16, 1};
        if (s == CLSSD_OK) s = clssd__enqueue(ctx, k_pa, 2, gw, lw);
        for (int32_t b = 0; b < a->batch && s == CLSSD_OK; b++)
            for (size_t col0 = 0; col0 < HW && s == CLSSD_OK; col0 += cols_per) {
                const cl_ulong z_off = (cl_ulong)b * (cl_ulong)out_img;
                const cl_int c0 = (cl_int)col0,
                             ncol = (cl_int)(col0 + cols_per > HW ? HW - col0 : cols_per),
                             npanels = (ncol + GEMM_NR - 1) / GEMM_NR;
                s = clssd__set_args(ctx, k_pb, 19, sizeof dz, &dz, sizeof z_off, &z_off,
                                    sizeof cHo, &cHo, sizeof cWo, &cWo, sizeof Cout, &Cout,
                                    sizeof kh, &kh, sizeof kw, &kw, sizeof one, &one, sizeof one,
                                    &one, sizeof phT, &phT, sizeof pwT, &pwT, sizeof dh, &dh,
                                    sizeof dw, &dw, sizeof W, &W, sizeof c0, &c0, sizeof ncol,
                                    &ncol, sizeof Kt, &Kt, sizeof npanels, &npanels, sizeof pb,
                                    &pb);
                const size_t gp[2] = {taps, (size_t)npanels}, lp[2] = {16, 1};
                if (s == CLSSD_OK) s = clssd__enqueue(ctx, k_pb, 2, gp, lp);
                for (int32_t g = 0; g < G && s == CLSSD_OK; g++) {
                    const cl_ulong gi = (cl_ulong)g;
                    s = gemm_launch(ctx, k_gemm, wt, gi * (cl_ulong)Cp * (cl_ulong)mr * (cl_ulong)Kt,
                                    pb, gi * (cl_ulong)npanels * GEMM_NR * (cl_ulong)Kt, dx,
                                    (cl_ulong)b * (cl_ulong)in_img + gi * (cl_ulong)Cg * (cl_ulong)HW +
                                        (cl_ulong)col0,
                                    cCg, ncol, Kt, (cl_int)HW, 0, mr);
                }
            }
    } else if (dx) {
        /* dcol_g [Kg x ncol] = W_g^T . dz_g per image and chunk of output rows: W^T packed as
         * A panels once per call, dz's columns packed as B panels (a 1x1 clssd_pack_cols),
         * then col2im; a pointwise convolution's dcol is dx itself. */
        const int pointwise = is_pointwise(n);
        const cl_int mr = BWD_MR, Jp = (cl_int)((K + (size_t)mr - 1) / (size_t)mr);
        size_t rows_per = budget / row_floats;
        if (rows_per < 1) rows_per = 1;
        if (rows_per > (size_t)Ho) rows_per = (size_t)Ho;
        const size_t ncol_max = rows_per * (size_t)Wo,
                     np_max = (ncol_max + GEMM_NR - 1) / GEMM_NR;
        cl_mem wt, pb, dcol = NULL;
        const size_t n_wt = (size_t)G * (size_t)Jp * (size_t)mr * (size_t)Mg;
        s = ws_get(ctx, ws, WS_PACK_WT, n_wt * sizeof(float), &wt);
        if (s == CLSSD_OK)
            s = ws_get(ctx, ws, WS_PACK_B, (size_t)p->cout * np_max * GEMM_NR * sizeof(float), &pb);
        if (s == CLSSD_OK && !pointwise)
            s = ws_get(ctx, ws, WS_DCOL, K * (size_t)G * ncol_max * sizeof(float), &dcol);
        if (s == CLSSD_OK) s = clssd__kernel(ctx, "gemm", "clssd_pack_weights_t", &k_pa);
        if (s == CLSSD_OK) s = clssd__kernel(ctx, "gemm", "clssd_pack_cols", &k_pb);
        if (s == CLSSD_OK) s = clssd__kernel(ctx, "gemm", "clssd_gemm_packed_acc", &k_gemm);
        if (s == CLSSD_OK && !pointwise) s = clssd__kernel(ctx, "backward", "clssd_col2im", &k_c2i);
        if (s != CLSSD_OK) goto done;
        const cl_int GJp = G * Jp;
        s = clssd__set_args(ctx, k_pa, 7, sizeof(cl_mem), &a->weight, sizeof cMg, &cMg,
                            sizeof cKg, &cKg, sizeof mr, &mr, sizeof Jp, &Jp, sizeof GJp, &GJp,
                            sizeof wt, &wt);
        const size_t gw[2] = {(size_t)Mg, (size_t)GJp}, lw[2] = {16, 1};
        if (s == CLSSD_OK) s = clssd__enqueue(ctx, k_pa, 2, gw, lw);
        const cl_int one = 1, zero = 0, Cout = p->cout;
        for (int32_t b = 0; b < a->batch && s == CLSSD_OK; b++)
            for (int32_t r0 = 0; r0 < Ho && s == CLSSD_OK; r0 += (int32_t)rows_per) {
                const cl_int row0 = r0,
                             rows = Ho - r0 < (int32_t)rows_per ? Ho - r0 : (cl_int)rows_per;
                const cl_int ncol = rows * Wo, col0 = r0 * Wo,
                             npanels = (ncol + GEMM_NR - 1) / GEMM_NR;
                const cl_ulong z_off = (cl_ulong)b * (cl_ulong)out_img;
                /* B panels of dz's columns [col0, col0 + ncol): a 1x1 im2col, all groups */
                s = clssd__set_args(ctx, k_pb, 19, sizeof dz, &dz, sizeof z_off, &z_off,
                                    sizeof cHo, &cHo, sizeof cWo, &cWo, sizeof Cout, &Cout,
                                    sizeof one, &one, sizeof one, &one, sizeof one, &one,
                                    sizeof one, &one, sizeof zero, &zero, sizeof zero, &zero,
                                    sizeof one, &one, sizeof one, &one, sizeof cWo, &cWo,
                                    sizeof col0, &col0, sizeof ncol, &ncol, sizeof cMg, &cMg,
                                    sizeof npanels, &npanels, sizeof pb, &pb);
                const size_t gp[2] = {(size_t)Cout, (size_t)npanels}, lp[2] = {16, 1};
                if (s == CLSSD_OK) s = clssd__enqueue(ctx, k_pb, 2, gp, lp);
                for (int32_t g = 0; g < G && s == CLSSD_OK; g++) {
                    const cl_ulong gi = (cl_ulong)g, Ku = (cl_ulong)K;
                    const cl_ulong a_off = gi * (cl_ulong)Jp * (cl_ulong)mr * (cl_ulong)Mg,
                                   b_off = gi * (cl_ulong)npanels * GEMM_NR * (cl_ulong)Mg;
                    if (pointwise) /* dx rows g*Kg.., columns col0.. of image b */
                        s = gemm_launch(ctx, k_gemm, wt, a_off, pb, b_off, dx,
                                        (cl_ulong)b * (cl_ulong)in_img + gi * Ku * (cl_ulong)HW +
                                            (cl_ulong)col0,
                                        cKg, ncol, cMg, (cl_int)HW, 0, mr);
                    else
                        s = gemm_launch(ctx, k_gemm, wt, a_off, pb, b_off, dcol,
                                        gi * Ku * (cl_ulong)ncol, cKg, ncol, cMg, ncol, 0, mr);
                }
                if (s != CLSSD_OK || pointwise) continue;
                /* the first chunk writes every input row (zeros where it does not reach);
                 * later ones add to the rows their taps can reach */
                cl_int y0 = 0, ny = H;
                const cl_int accumulate = r0 > 0;
                if (accumulate) {
                    const int32_t lo = r0 * sh - ph, hi = (r0 + rows - 1) * sh - ph + (kh - 1) * dh;
                    y0 = lo > 0 ? lo : 0;
                    ny = (hi < H - 1 ? hi : H - 1) - y0 + 1;
                }
                const cl_ulong col_off = 0, x_off = (cl_ulong)b * (cl_ulong)in_img;
                if (ny > 0) {
                    s = clssd__set_args(ctx, k_c2i, 21, sizeof dcol, &dcol, sizeof col_off,
                                        &col_off, sizeof C, &C, sizeof H, &H, sizeof W, &W,
                                        sizeof kh, &kh, sizeof kw, &kw, sizeof sh, &sh, sizeof sw,
                                        &sw, sizeof ph, &ph, sizeof pw, &pw, sizeof dh, &dh,
                                        sizeof dw, &dw, sizeof cWo, &cWo, sizeof row0, &row0,
                                        sizeof rows, &rows, sizeof y0, &y0, sizeof ny, &ny,
                                        sizeof dx, &dx, sizeof x_off, &x_off, sizeof accumulate,
                                        &accumulate);
                    const size_t gsz = (size_t)C * (size_t)ny * (size_t)W, lsz = 64;
                    if (s == CLSSD_OK) s = clssd__enqueue(ctx, k_c2i, 1, &gsz, &lsz);
                }
            }
    }
done:
    if (k_pa) clReleaseKernel(k_pa);
    if (k_pb) clReleaseKernel(k_pb);
    if (k_gemm) clReleaseKernel(k_gemm);
    if (k_c2i) clReleaseKernel(k_c2i);
    /* a temporary's queued commands keep it alive until they have run */
    clssd__bwd_ws_release(&own);
    return s;
}

/* ---------------------------------------------------------------- packed forward weights */

clssd_status clssd__conv2d_repack(clssd_exec *ex, const clssd_node *n)
{
    if (!ex || !n || n->op != CLSSD_OP_CONV2D) return CLSSD_ERR_INVALID_ARG;
    clssd_context *ctx = ex->ctx;
    const int algo = clssd__conv2d_algo(ctx, ex->g, n);
    if (algo != CLSSD_CONV_PACKED && algo != CLSSD_CONV_PACKED16) return CLSSD_OK;
    const int32_t self = (int32_t)(n - ex->g->nodes);
    const clssd_shape *xs = &ex->g->nodes[n->src[0]].out;
    const cl_int mr = algo == CLSSD_CONV_PACKED16 ? 16 : 12, G = n->p.conv.groups,
                 M = n->p.conv.cout / G, K = xs->c / G * n->p.conv.kh * n->p.conv.kw,
                 Mp = (M + mr - 1) / mr;
    const size_t count = (size_t)G * (size_t)Mp * (size_t)mr * (size_t)K;
    cl_mem w = ex->weights[n->weight], ap = ex->aux[self];
    /* prepare made the buffer at plan time; only its contents change */
    if (!ap || !holds(ap, count) || count > (size_t)INT32_MAX)
        return CLSSD_FAIL(ctx, CLSSD_ERR_INVALID_ARG, "node '%s': no packed weights to refresh",
                          n->name);
    cl_kernel k;
    CLSSD_TRY(clssd__kernel(ctx, "gemm", "clssd_pack_weights", &k));
    const cl_int GMp = G * Mp;
    clssd_status s = clssd__set_args(ctx, k, 7, sizeof w, &w, sizeof M, &M, sizeof K, &K,
                                     sizeof mr, &mr, sizeof Mp, &Mp, sizeof GMp, &GMp, sizeof ap,
                                     &ap);
    const size_t gsz[2] = {(size_t)K, (size_t)GMp}, lsz[2] = {16, 1};
    if (s == CLSSD_OK) s = clssd__enqueue(ctx, k, 2, gsz, lsz);
    clReleaseKernel(k);
    return s;
}
