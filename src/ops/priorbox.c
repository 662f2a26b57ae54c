/* Caffe PriorBox (prior_box_layer.cpp): anchor boxes for one source layer, batch-constant.
 * The per-prior widths and heights are computed here, once, with the exact rules of the
 * reference (integer min/max sizes, sqrt of the integer product, float sqrtf(ar)); the kernel
 * only places them on the grid. The aspect-ratio list and the priors per cell come from the
 * helpers in src/ref/priorbox_ref.c, so infer, launcher and reference agree on the order. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "clssd_internal.h"

#define PRIOR_MAX_AR 6 /* entries of p.prior.ar */
#define PRIOR_MAX_SIZES 4

static int32_t clamp_i32(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Widths and heights of the priors of one cell, in cell order (docs/ops.md). Returns the
 * count; sizes holds 2 floats per prior (at most 4 * 13 + 4 = 56 priors). */
static int32_t prior_sizes(const clssd_node *n, float *sizes)
{
    float ars[16];
    const int32_t n_ar = clssd__prior_aspect_ratios(n, ars); /* -1: refused by infer */
    int32_t k = 0;
    for (int32_t s = 0; s < clamp_i32(n->p.prior.n_min, 0, PRIOR_MAX_SIZES); s++) {
        const int32_t ms = (int32_t)n->p.prior.min_size[s]; /* integer cast (P4) */
        sizes[2 * k] = sizes[2 * k + 1] = (float)ms;
        k++;
        if (n->p.prior.n_max > 0) {
            const int32_t mx = (int32_t)n->p.prior.max_size[s];
            const float side = (float)sqrt((double)ms * (double)mx);
            sizes[2 * k] = sizes[2 * k + 1] = side;
            k++;
        }
        for (int32_t a = 0; a < n_ar; a++) {
            if (fabs((double)ars[a] - 1.0) < 1e-6) continue;
            const float r = sqrtf(ars[a]);
            sizes[2 * k] = (float)ms * r;
            sizes[2 * k + 1] = (float)ms / r;
            k++;
        }
    }
    return k;
}

static int finite_pos(float v)
{
    return v > 0.0f && v <= 1e30f;
}

clssd_status clssd__priorbox_infer(const clssd_graph *g, clssd_node *n, char *err,
                                   size_t err_size)
{
    const clssd_op_params *u = &n->p;
    if (n->n_src != 2) {
        snprintf(err, err_size, "needs 2 inputs (feature map, network input)");
        return CLSSD_ERR_BAD_MODEL;
    }
    const clssd_shape *f = &g->nodes[n->src[0]].out, *img = &g->nodes[n->src[1]].out;
    const int32_t n_min = u->prior.n_min, n_max = u->prior.n_max;
    if (n_min < 1 || n_min > PRIOR_MAX_SIZES || (n_max != 0 && n_max != n_min) ||
        u->prior.n_ar < 0 || u->prior.n_ar > PRIOR_MAX_AR ||
        (u->prior.n_var != 0 && u->prior.n_var != 1 && u->prior.n_var != 4)) {
        snprintf(err, err_size, "bad counts: %d min sizes, %d max sizes, %d ratios, %d variances",
                 n_min, n_max, u->prior.n_ar, u->prior.n_var);
        return CLSSD_ERR_BAD_MODEL;
    }
    for (int32_t s = 0; s < n_min; s++) {
        /* Caffe: min > 0, max > min; the bound keeps the int casts defined */
        const float mn = u->prior.min_size[s], mx = u->prior.max_size[s];
        if (!(mn > 0.0f && mn < 1e6f) || (n_max > 0 && !(mx > mn && mx < 1e6f))) {
            snprintf(err, err_size, "bad min/max size %g/%g", (double)mn,
                     n_max > 0 ? (double)mx : 0.0);
            return CLSSD_ERR_BAD_MODEL;
        }
    }
    for (int32_t i = 0; i < u->prior.n_ar; i++)
        if (!finite_pos(u->prior.ar[i])) {
            snprintf(err, err_size, "bad aspect ratio %g", (double)u->prior.ar[i]);
            return CLSSD_ERR_BAD_MODEL;
        }
    for (int32_t i = 0; i < u->prior.n_var; i++)
        if (!finite_pos(u->prior.var[i])) {
            snprintf(err, err_size, "bad variance %g", (double)u->prior.var[i]);
            return CLSSD_ERR_BAD_MODEL;
        }
    /* Caffe: the input's size unless both img_w and img_h are given */
    const int img_given = u->prior.img_w > 0 && u->prior.img_h > 0;
    const int32_t img_w = img_given ? u->prior.img_w : img->w;
    const int32_t img_h = img_given ? u->prior.img_h : img->h;
    const float sw = u->prior.step_w, sh = u->prior.step_h, off = u->prior.offset;
    if (f->h < 1 || f->w < 1 || img_w < 1 || img_h < 1 || u->prior.img_w < 0 ||
        u->prior.img_h < 0 || !(sw >= 0.0f && sw <= 1e30f) || !(sh >= 0.0f && sh <= 1e30f) ||
        !(off >= 0.0f && off <= 1.0f)) {
        snprintf(err, err_size, "bad geometry: layer %dx%d, image %dx%d, step %gx%g, offset %g",
                 f->w, f->h, img_w, img_h, (double)sw, (double)sh, (double)off);
        return CLSSD_ERR_BAD_MODEL;
    }
    const int32_t np = clssd__prior_per_cell(n);
    if (np < 1) {
        snprintf(err, err_size, "bad prior parameters");
        return CLSSD_ERR_BAD_MODEL;
    }
    const int64_t count = (int64_t)f->h * f->w * np * 4;
    if (count > INT32_MAX / 2) {
        snprintf(err, err_size, "too many priors (%lld values)", (long long)count);
        return CLSSD_ERR_BAD_MODEL;
    }
    n->out = (clssd_shape){1, 2, (int32_t)count, 1};
    n->batch_const = 1;
    return CLSSD_OK;
}

clssd_status clssd__priorbox_cl(clssd_exec *ex, const clssd_node *n)
{
    const clssd_op_params *u = &n->p;
    const clssd_shape *f = &ex->g->nodes[n->src[0]].out, *img = &ex->g->nodes[n->src[1]].out;
    float sizes[2 * 64];
    const cl_int np = prior_sizes(n, sizes);
    const cl_int W = f->w, H = f->h, clip = u->prior.clip ? 1 : 0;
    const int img_given = u->prior.img_w > 0 && u->prior.img_h > 0;
    const int32_t iw = img_given ? u->prior.img_w : img->w;
    const int32_t ih = img_given ? u->prior.img_h : img->h;
    const float img_w = (float)iw, img_h = (float)ih;
    /* Caffe: step = float(img) / layer size unless both steps are given */
    const int given = u->prior.step_w > 0.0f && u->prior.step_h > 0.0f;
    const float step_w = given ? u->prior.step_w : img_w / (float)W;
    const float step_h = given ? u->prior.step_h : img_h / (float)H;
    const float offset = u->prior.offset;
    cl_float4 var;
    /* P7: one variance is broadcast; none means Caffe's default 0.1 */
    for (int i = 0; i < 4; i++)
        var.s[i] = u->prior.n_var == 0 ? 0.1f : u->prior.var[u->prior.n_var == 1 ? 0 : i];
    cl_mem out = ex->bufs[n - ex->g->nodes];

    /* The sizes go in a small read-only buffer: up to 112 floats are too many for kernel
     * arguments. Released right after the enqueue; OpenCL keeps it alive until the kernel
     * has run. PRIORBOX runs once per exec plan, so the allocation is not on a hot path. */
    cl_int e = CL_SUCCESS;
    cl_mem sz = clCreateBuffer(ex->ctx->cl, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                               (size_t)np * 2 * sizeof(float), sizes, &e);
    if (e != CL_SUCCESS)
        return CLSSD_FAIL(ex->ctx, (clssd_status)e, "clCreateBuffer(prior sizes) -> %s",
                          clssd__cl_error_name(e));
    cl_kernel k;
    clssd_status s = clssd__kernel(ex->ctx, "priorbox", "clssd_priorbox", &k);
    if (s == CLSSD_OK) {
        s = clssd__set_args(ex->ctx, k, 12, sizeof out, &out, sizeof W, &W, sizeof H, &H,
                            sizeof np, &np, sizeof sz, &sz, sizeof img_w, &img_w, sizeof img_h,
                            &img_h, sizeof step_w, &step_w, sizeof step_h, &step_h,
                            sizeof offset, &offset, sizeof clip, &clip, sizeof var, &var);
        const size_t gsz = (size_t)W * (size_t)H * (size_t)np;
        const size_t lsz = ex->ctx->max_wg < 64 ? ex->ctx->max_wg : 64;
        if (s == CLSSD_OK) s = clssd__enqueue(ex->ctx, k, 1, &gsz, &lsz);
        clReleaseKernel(k);
    }
    clReleaseMemObject(sz);
    return s;
}
