/* CONST: a stored tensor as a node output, the same for every image (batch_const), e.g. the
 * anchors of a TensorFlow SSD in PriorBox's [1, 2, P*4] layout feeding DECODE. Like
 * PRIORBOX it runs once when the execution plan is made (src/model/exec.c). */
#include <stdio.h>

#include "clssd_internal.h"

clssd_status clssd__const_infer(const clssd_graph *g, clssd_node *n, char *err, size_t err_size)
{
    if (n->n_src != 0 || n->weight < 0) {
        snprintf(err, err_size, "needs no inputs and a weight tensor (inputs %d)", n->n_src);
        return CLSSD_ERR_BAD_MODEL;
    }
    const clssd_shape *t = &g->tensors[n->weight].shape;
    const int64_t c = (int64_t)t->n * t->c;
    /* node shapes are per image (n = 1): a leading n > 1 is folded into the channels, which
     * leaves the memory layout unchanged */
    if (c > INT32_MAX || clssd__shape_count(t) == 0 || clssd__shape_count(t) > INT32_MAX) {
        snprintf(err, err_size, "tensor '%s' is too large", g->tensors[n->weight].name);
        return CLSSD_ERR_BAD_MODEL;
    }
    n->out = (clssd_shape){1, (int32_t)c, t->h, t->w};
    n->batch_const = 1;
    return CLSSD_OK;
}

clssd_status clssd__const_cl(clssd_exec *ex, const clssd_node *n)
{
    cl_mem src = ex->weights[n->weight], dst = ex->bufs[n - ex->g->nodes];
    const size_t bytes = clssd__shape_count(&n->out) * sizeof(float);
    CLSSD_CL(ex->ctx, clEnqueueCopyBuffer(ex->ctx->queue, src, dst, 0, 0, bytes, 0, NULL,
                                          clssd__prof_slot(ex->ctx)));
    return CLSSD_OK;
}
