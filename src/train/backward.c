/* Backward passes on the device (issue 6, design-notes 10): the host side of cl/backward.cl
 * plus CLBlast for the convolution's two GEMMs. The references in backward_ref.c define the
 * results; this file only validates like them and launches. */
#include <stdint.h>
#include <string.h>

#include "train/backward.h"

#include <clblast_c.h>

/* Column chunk budget, as the forward's im2col workspace (src/ops/conv2d.c, CONV_WS_CAP). */
#define COL_BYTES_DEFAULT ((size_t)64 << 20)

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

static clssd_status blast(clssd_context *ctx, CLBlastStatusCode st, const char *what)
{
    if (st == CLBlastSuccess) return CLSSD_OK;
    return CLSSD_FAIL(ctx, (clssd_status)st, "CLBlastSgemm (%s) -> status %d", what, (int)st);
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

/* dbias[o] = sum of dz over the batch and the positions. */
static clssd_status bias_launch(clssd_context *ctx, cl_mem dz, cl_int B, cl_int M, cl_int HW,
                                cl_mem dbias)
{
    cl_kernel k;
    CLSSD_TRY(clssd__kernel(ctx, "backward", "clssd_bias_backward", &k));
    clssd_status s = clssd__set_args(ctx, k, 5, sizeof dz, &dz, sizeof B, &B, sizeof M, &M,
                                     sizeof HW, &HW, sizeof dbias, &dbias);
    const size_t lsz = ctx->max_wg, gsz = lsz * (size_t)M;
    if (s == CLSSD_OK) s = clssd__enqueue(ctx, k, 1, &gsz, &lsz);
    clReleaseKernel(k);
    return s;
}

clssd_status clssd__conv2d_backward(clssd_context *ctx, const clssd_bwd_args *a, cl_mem dy,
                                    cl_mem dx, cl_mem dweight, cl_mem dbias)
{
    return clssd__conv2d_backward_ex(ctx, a, dy, dx, dweight, dbias, 0);
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
        !clssd__mul_size(K * (size_t)G, (size_t)Wo, &row_floats) || n_w > (size_t)INT32_MAX)
        return CLSSD_FAIL(ctx, CLSSD_ERR_UNSUPPORTED, "conv2d backward: layer too large");
    if (clssd__shape_count(&a->weight_shape) != 0 && clssd__shape_count(&a->weight_shape) != n_w)
        return BAD(ctx, "conv2d backward: weights have %zu values, expected %zu",
                   clssd__shape_count(&a->weight_shape), n_w);
    const size_t HW = (size_t)xs->h * (size_t)xs->w, HWo = (size_t)Ho * (size_t)Wo;
    const size_t in_img = (size_t)xs->c * HW, out_img = (size_t)p->cout * HWo;
    /* Output rows per column chunk: K * G * rows * Wo floats within the budget (at least
     * one row). A pointwise convolution needs no column buffer: one chunk, the whole image. */
    const int pointwise = is_pointwise(n);
    size_t rows_per = (col_bytes ? col_bytes : COL_BYTES_DEFAULT) / sizeof(float) / row_floats;
    if (rows_per < 1) rows_per = 1;
    if (pointwise || rows_per > (size_t)Ho) rows_per = (size_t)Ho;
    const size_t n_col = row_floats * rows_per; /* one chunk's column matrix, all groups */
    if (n_col > (size_t)INT32_MAX)
        return CLSSD_FAIL(ctx, CLSSD_ERR_UNSUPPORTED, "conv2d backward: column matrix too large");
    if (!holds(dy, n_out) || !holds(a->weight, n_w) || (p->relu && !holds(a->y, n_out)) ||
        (dx && !holds(dx, n_in)) || (dweight && !holds(dweight, n_w)) ||
        (dbias && !holds(dbias, (size_t)p->cout)))
        return BAD(ctx, "conv2d backward: a buffer is missing or too small");

    cl_mem dz = dy, masked = NULL, col = NULL, dcol = NULL;
    cl_kernel k_col = NULL, k_c2i = NULL;
    clssd_status s = CLSSD_OK;
    /* The fused activation's mask, from the forward output y (slope 0, cap relu_max). */
    if (p->relu) {
        s = clssd__buffer(ctx, n_out * sizeof(float), CL_MEM_READ_WRITE, &masked);
        if (s == CLSSD_OK) s = relu_launch(ctx, a->y, dy, masked, n_out, 0.0f, p->relu_max);
        if (s != CLSSD_OK) goto done;
        dz = masked;
    }
    if (dbias) {
        s = bias_launch(ctx, dz, a->batch, p->cout, (cl_int)HWo, dbias);
        if (s != CLSSD_OK) goto done;
    }
    if (!dx && !dweight) goto done;

    if (!pointwise) {
        if (dweight) {
            s = clssd__buffer(ctx, n_col * sizeof(float), CL_MEM_READ_WRITE, &col);
            if (s == CLSSD_OK) s = clssd__kernel(ctx, "conv", "clssd_im2col", &k_col);
            if (s != CLSSD_OK) goto done;
        }
        if (dx) {
            s = clssd__buffer(ctx, n_col * sizeof(float), CL_MEM_READ_WRITE, &dcol);
            if (s == CLSSD_OK) s = clssd__kernel(ctx, "backward", "clssd_col2im", &k_c2i);
            if (s != CLSSD_OK) goto done;
        }
    }
    const cl_int H = xs->h, W = xs->w, C = xs->c, kh = p->kh, kw = p->kw, sh = p->sh,
                 sw = p->sw, ph = p->ph, pw = p->pw, dh = p->dh, dw = p->dw, cWo = Wo;
    const size_t Ks = K, Ms = (size_t)Mg;
    for (int32_t b = 0; b < a->batch; b++)
        for (int32_t r0 = 0; r0 < Ho; r0 += (int32_t)rows_per) {
            const cl_int row0 = r0, rows = Ho - r0 < (int32_t)rows_per ? Ho - r0 : (cl_int)rows_per;
            const size_t ncol = (size_t)rows * (size_t)Wo;
            const size_t x_img = (size_t)b * in_img;
            const size_t z_off = (size_t)b * out_img + (size_t)r0 * (size_t)Wo; /* + g*Mg*HWo */
            if (dweight) {
                /* the chunk's column matrix: x itself for a pointwise convolution */
                cl_mem cm = a->x;
                size_t c_off = x_img;
                if (!pointwise) {
                    const cl_int x_off = (cl_int)x_img;
                    const cl_ulong col_off = 0;
                    s = clssd__set_args(ctx, k_col, 18, sizeof(cl_mem), &a->x, sizeof x_off,
                                        &x_off, sizeof H, &H, sizeof W, &W, sizeof C, &C,
                                        sizeof kh, &kh, sizeof kw, &kw, sizeof sh, &sh, sizeof sw,
                                        &sw, sizeof ph, &ph, sizeof pw, &pw, sizeof dh, &dh,
                                        sizeof dw, &dw, sizeof cWo, &cWo, sizeof row0, &row0,
                                        sizeof rows, &rows, sizeof col, &col, sizeof col_off,
                                        &col_off);
                    const size_t gsz[2] = {ncol, K * (size_t)G}, lsz[2] = {64, 1};
                    if (s == CLSSD_OK) s = clssd__enqueue(ctx, k_col, 2, gsz, lsz);
                    if (s != CLSSD_OK) goto done;
                    cm = col;
                    c_off = 0;
                }
                /* dW_g [Mg x K] (+)= dz_g [Mg x ncol] . col_g^T; images and chunks after the
                 * first add up through beta */
                const float beta = b == 0 && r0 == 0 ? 0.0f : 1.0f;
                for (int32_t g = 0; g < G; g++) {
                    const size_t gi = (size_t)g;
                    s = blast(ctx,
                              CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo,
                                           CLBlastTransposeYes, Ms, Ks, ncol, 1.0f, dz,
                                           z_off + gi * Ms * HWo, HWo, cm, c_off + gi * Ks * ncol,
                                           ncol, beta, dweight, gi * Ms * Ks, Ks, &ctx->queue,
                                           clssd__prof_slot(ctx)),
                              "conv2d backward dweight");
                    if (s != CLSSD_OK) goto done;
                }
            }
            if (dx) {
                /* dcol_g [K x ncol] = W_g^T . dz_g; a pointwise convolution's dcol is dx */
                cl_mem dm = pointwise ? dx : dcol;
                const size_t d_off = pointwise ? x_img : 0;
                for (int32_t g = 0; g < G; g++) {
                    const size_t gi = (size_t)g;
                    s = blast(ctx,
                              CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeYes,
                                           CLBlastTransposeNo, Ks, ncol, Ms, 1.0f, a->weight,
                                           gi * Ms * Ks, Ks, dz, z_off + gi * Ms * HWo, HWo, 0.0f,
                                           dm, d_off + gi * Ks * ncol, ncol, &ctx->queue,
                                           clssd__prof_slot(ctx)),
                              "conv2d backward dx");
                    if (s != CLSSD_OK) goto done;
                }
                if (!pointwise) {
                    /* the first chunk writes every input row (zeros where it does not
                     * reach); later ones add to the rows their taps can reach */
                    cl_int y0 = 0, ny = H;
                    const cl_int accumulate = r0 > 0;
                    if (accumulate) {
                        const int32_t lo = r0 * sh - ph, hi = (r0 + rows - 1) * sh - ph + (kh - 1) * dh;
                        y0 = lo > 0 ? lo : 0;
                        ny = (hi < H - 1 ? hi : H - 1) - y0 + 1;
                    }
                    const cl_ulong col_off = 0, x_off = (cl_ulong)x_img;
                    if (ny > 0) {
                        s = clssd__set_args(ctx, k_c2i, 21, sizeof dcol, &dcol, sizeof col_off,
                                            &col_off, sizeof C, &C, sizeof H, &H, sizeof W, &W,
                                            sizeof kh, &kh, sizeof kw, &kw, sizeof sh, &sh,
                                            sizeof sw, &sw, sizeof ph, &ph, sizeof pw, &pw,
                                            sizeof dh, &dh, sizeof dw, &dw, sizeof cWo, &cWo,
                                            sizeof row0, &row0, sizeof rows, &rows, sizeof y0,
                                            &y0, sizeof ny, &ny, sizeof dx, &dx, sizeof x_off,
                                            &x_off, sizeof accumulate, &accumulate);
                        const size_t gsz = (size_t)C * (size_t)ny * (size_t)W, lsz = 64;
                        if (s == CLSSD_OK) s = clssd__enqueue(ctx, k_c2i, 1, &gsz, &lsz);
                        if (s != CLSSD_OK) goto done;
                    }
                }
            }
        }
done:
    if (k_col) clReleaseKernel(k_col);
    if (k_c2i) clReleaseKernel(k_c2i);
    /* the queued commands keep these alive until they have run */
    release(&masked);
    release(&col);
    release(&dcol);
    return s;
}
