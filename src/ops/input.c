/* The network input: its shape is declared by the builder or the model file. */
#include <stdio.h>

#include "clssd_internal.h"

clssd_status clssd__input_infer(const clssd_graph *g, clssd_node *n, char *err, size_t err_size)
{
    (void)g;
    /* Each dim up to 2^24 (head tensors are [1, P*C, 1, 1]), 2^28 values in all. */
    if (n->n_src != 0 || n->out.c <= 0 || n->out.h <= 0 || n->out.w <= 0 ||
        n->out.c > (1 << 24) || n->out.h > (1 << 24) || n->out.w > (1 << 24) ||
        (int64_t)n->out.c * n->out.h * n->out.w > ((int64_t)1 << 28)) {
        snprintf(err, err_size, "bad input shape %dx%dx%d", n->out.c, n->out.h, n->out.w);
        return CLSSD_ERR_BAD_MODEL;
    }
    n->out.n = 1;
    return CLSSD_OK;
}

/* The input buffer is filled by the caller (upload or PREPROCESS). */
clssd_status clssd__input_cl(clssd_exec *ex, const clssd_node *n)
{
    (void)ex;
    (void)n;
    return CLSSD_OK;
}
