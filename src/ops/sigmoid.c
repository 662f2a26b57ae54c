/* SIGMOID: the logistic function, element-wise (SSD heads trained with sigmoid class scores,
 * e.g. TensorFlow's SSDLite). The kernel lives with the other element-wise ops in
 * cl/eltwise.cl. */
#include <stdio.h>

#include "clssd_internal.h"

clssd_status clssd__sigmoid_infer(const clssd_graph *g, clssd_node *n, char *err,
                                  size_t err_size)
{
    if (n->n_src != 1) {
        snprintf(err, err_size, "needs 1 input, has %d", n->n_src);
        return CLSSD_ERR_BAD_MODEL;
    }
    const clssd_node *x = &g->nodes[n->src[0]];
    n->out = x->out;
    /* the same function of the same values: constant inputs give a constant output */
    n->batch_const = x->batch_const;
    return CLSSD_OK;
}

clssd_status clssd__sigmoid_cl(clssd_exec *ex, const clssd_node *n)
{
    cl_kernel k;
    CLSSD_TRY(clssd__kernel(ex->ctx, "eltwise", "clssd_sigmoid", &k));
    cl_mem x = ex->bufs[n->src[0]], y = ex->bufs[n - ex->g->nodes];
    const size_t images = n->batch_const ? 1 : (size_t)ex->batch;
    const cl_int count = (cl_int)(clssd__shape_count(&n->out) * images);
    clssd_status s =
        clssd__set_args(ex->ctx, k, 3, sizeof x, &x, sizeof y, &y, sizeof count, &count);
    const size_t gsz = (size_t)count, lsz = 64;
    if (s == CLSSD_OK) s = clssd__enqueue(ex->ctx, k, 1, &gsz, &lsz);
    clReleaseKernel(k);
    return s;
}
