/* PERMUTE (NCHW -> NHWC flatten) and CONCAT, the glue of the multibox heads. */
#include <stdio.h>

#include "clssd_internal.h"

clssd_status clssd__permute_infer(const clssd_graph *g, clssd_node *n, char *err,
                                  size_t err_size)
{
    if (n->n_src != 1) {
        snprintf(err, err_size, "needs 1 input");
        return CLSSD_ERR_BAD_MODEL;
    }
    const clssd_shape *x = &g->nodes[n->src[0]].out;
    size_t count = clssd__shape_count(x);
    if (count > INT32_MAX) {
        snprintf(err, err_size, "too large");
        return CLSSD_ERR_BAD_MODEL;
    }
    n->out = (clssd_shape){1, 1, 1, (int32_t)count};
    return CLSSD_OK;
}

clssd_status clssd__permute_cl(clssd_exec *ex, const clssd_node *n)
{
    const clssd_shape *x = &ex->g->nodes[n->src[0]].out;
    cl_kernel k;
    CLSSD_TRY(clssd__kernel(ex->ctx, "layout", "clssd_permute_nhwc", &k));
    cl_mem in = ex->bufs[n->src[0]], out = ex->bufs[n - ex->g->nodes];
    const cl_int total = (cl_int)(clssd__shape_count(x) * (size_t)ex->batch), C = x->c,
                 HW = x->h * x->w;
    clssd_status s = clssd__set_args(ex->ctx, k, 5, sizeof in, &in, sizeof out, &out,
                                     sizeof total, &total, sizeof C, &C, sizeof HW, &HW);
    const size_t gsz = (size_t)total, lsz = 64;
    if (s == CLSSD_OK) s = clssd__enqueue(ex->ctx, k, 1, &gsz, &lsz);
    clReleaseKernel(k);
    return s;
}

clssd_status clssd__concat_infer(const clssd_graph *g, clssd_node *n, char *err, size_t err_size)
{
    if (n->n_src < 1) {
        snprintf(err, err_size, "needs inputs");
        return CLSSD_ERR_BAD_MODEL;
    }
    const int32_t axis = n->p.concat.axis;
    int64_t total = 0;
    const uint8_t bc = g->nodes[n->src[0]].batch_const;
    for (int32_t i = 0; i < n->n_src; i++) {
        const clssd_node *s = &g->nodes[n->src[i]];
        if (s->batch_const != bc) {
            snprintf(err, err_size, "mixes per-image and constant inputs");
            return CLSSD_ERR_BAD_MODEL;
        }
        if (axis == 1) {
            total += (int64_t)clssd__shape_count(&s->out);
        } else if (axis == 2) {
            if (s->out.c != 2) {
                snprintf(err, err_size, "axis 2 input '%s' has %d channels, expected 2", s->name,
                         s->out.c);
                return CLSSD_ERR_BAD_MODEL;
            }
            total += (int64_t)s->out.h * s->out.w;
        } else {
            snprintf(err, err_size, "axis %d not supported (1 or 2)", axis);
            return CLSSD_ERR_BAD_MODEL;
        }
    }
    if (total > INT32_MAX / 2) {
        snprintf(err, err_size, "too large");
        return CLSSD_ERR_BAD_MODEL;
    }
    n->batch_const = bc;
    n->out = axis == 1 ? (clssd_shape){1, (int32_t)total, 1, 1}
                       : (clssd_shape){1, 2, (int32_t)total, 1};
    /* Feature maps of one size concatenated along channels stay feature maps (Caffe's
     * channel concat feeding a convolution); the memory layout is the same either way. */
    const clssd_shape *s0 = &g->nodes[n->src[0]].out;
    int same = axis == 1 && (int64_t)s0->h * s0->w > 1;
    for (int32_t i = 1; i < n->n_src && same; i++)
        same = g->nodes[n->src[i]].out.h == s0->h && g->nodes[n->src[i]].out.w == s0->w;
    if (same) n->out = (clssd_shape){1, (int32_t)(total / ((int64_t)s0->h * s0->w)), s0->h, s0->w};
    return CLSSD_OK;
}

clssd_status clssd__concat_cl(clssd_exec *ex, const clssd_node *n)
{
    cl_kernel k;
    CLSSD_TRY(clssd__kernel(ex->ctx, "layout", "clssd_copy_rows", &k));
    cl_mem out = ex->bufs[n - ex->g->nodes];
    const int axis2 = n->p.concat.axis == 2;
    const cl_int rows = axis2 ? 2 : (n->batch_const ? 1 : ex->batch);
    const cl_int dst_len = (cl_int)(axis2 ? (size_t)n->out.h : clssd__shape_count(&n->out));
    cl_int off = 0;
    clssd_status s = CLSSD_OK;
    for (int32_t i = 0; i < n->n_src && s == CLSSD_OK; i++) {
        const clssd_node *src = &ex->g->nodes[n->src[i]];
        cl_mem in = ex->bufs[n->src[i]];
        const cl_int len =
            (cl_int)(axis2 ? (size_t)src->out.h * (size_t)src->out.w : clssd__shape_count(&src->out));
        s = clssd__set_args(ex->ctx, k, 6, sizeof in, &in, sizeof out, &out, sizeof rows, &rows,
                            sizeof len, &len, sizeof dst_len, &dst_len, sizeof off, &off);
        const size_t gsz = (size_t)rows * (size_t)len, lsz = 64;
        if (s == CLSSD_OK) s = clssd__enqueue(ex->ctx, k, 1, &gsz, &lsz);
        off += len;
    }
    clReleaseKernel(k);
    return s;
}
