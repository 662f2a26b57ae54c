/* The network input: its shape is declared by the builder or the model file. */
#include <stdio.h>

#include "clssd_internal.h"

clssd_status clssd__input_infer(const clssd_graph *g, clssd_node *n, char *err, size_t err_size)
{
    (void)g;
    if (n->n_src != 0 || n->out.c <= 0 || n->out.h <= 0 || n->out.w <= 0 || n->out.c > 4096 ||
        n->out.h > 16384 || n->out.w > 16384) {
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
