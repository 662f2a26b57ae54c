/* Image -> network input on the device. The images are packed into ex->image_u8 and
 * described in ex->image_desc by the detect call; this op only launches the kernel. */
#include <stdio.h>

#include "clssd_internal.h"

clssd_status clssd__preprocess_infer(const clssd_graph *g, clssd_node *n, char *err,
                                     size_t err_size)
{
    (void)g;
    if (n->p.pre.out_w <= 0 || n->p.pre.out_h <= 0 || n->p.pre.out_w > 16384 ||
        n->p.pre.out_h > 16384 || !(n->p.pre.scale == n->p.pre.scale)) {
        snprintf(err, err_size, "bad output size %dx%d", n->p.pre.out_w, n->p.pre.out_h);
        return CLSSD_ERR_BAD_MODEL;
    }
    if (n->p.pre.resize != CLSSD_RESIZE_HALF_PIXEL && n->p.pre.resize != CLSSD_RESIZE_TF_LEGACY) {
        snprintf(err, err_size, "unknown resize mode %d (0 half-pixel, 1 TensorFlow legacy)",
                 n->p.pre.resize);
        return CLSSD_ERR_BAD_MODEL;
    }
    n->out = (clssd_shape){1, 3, n->p.pre.out_h, n->p.pre.out_w};
    return CLSSD_OK;
}

/* Writes into the buffer of node `dst` (the INPUT) rather than its own: preprocessing is
 * not part of the graph, the detect call runs it with a node made from g->pre. */
clssd_status clssd__preprocess_run(clssd_exec *ex, const clssd_op_params *pre, cl_mem dst)
{
    /* g->pre is not a graph node, so infer never saw it: an unknown mode is refused here */
    if (pre->pre.resize != CLSSD_RESIZE_HALF_PIXEL && pre->pre.resize != CLSSD_RESIZE_TF_LEGACY)
        return CLSSD_FAIL(ex->ctx, CLSSD_ERR_BAD_MODEL, "preprocess: unknown resize mode %d",
                          pre->pre.resize);
    cl_kernel k;
    CLSSD_TRY(clssd__kernel(ex->ctx, "preprocess", "clssd_preprocess_bilinear", &k));
    const cl_int B = ex->batch, ow = pre->pre.out_w, oh = pre->pre.out_h, bgr = pre->pre.bgr,
                 tf = pre->pre.resize == CLSSD_RESIZE_TF_LEGACY;
    const float m0 = pre->pre.mean[0], m1 = pre->pre.mean[1], m2 = pre->pre.mean[2],
                sc = pre->pre.scale;
    clssd_status s = clssd__set_args(ex->ctx, k, 12, sizeof(cl_mem), &ex->image_u8,
                                     sizeof(cl_mem), &ex->image_desc, sizeof dst, &dst, sizeof B,
                                     &B, sizeof ow, &ow, sizeof oh, &oh, sizeof m0, &m0,
                                     sizeof m1, &m1, sizeof m2, &m2, sizeof sc, &sc, sizeof bgr,
                                     &bgr, sizeof tf, &tf);
    const size_t gsz[3] = {(size_t)ow, (size_t)oh, (size_t)B}, lsz[3] = {16, 4, 1};
    if (s == CLSSD_OK) s = clssd__enqueue(ex->ctx, k, 3, gsz, lsz);
    clReleaseKernel(k);
    return s;
}

clssd_status clssd__preprocess_cl(clssd_exec *ex, const clssd_node *n)
{
    return clssd__preprocess_run(ex, &n->p, ex->bufs[n - ex->g->nodes]);
}
