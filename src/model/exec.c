/* Execution plan: one device buffer per node output, sized for max_batch, one shared
 * workspace sized by the most demanding node, weights uploaded once. A forward pass
 * enqueues every node in order on the context's queue with no host round trip. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clssd_internal.h"

void clssd__exec_destroy(clssd_exec *ex)
{
    if (!ex) return;
    if (ex->ctx && ex->ctx->queue) clFinish(ex->ctx->queue);
    if (ex->bufs)
        for (int32_t i = 0; i < ex->g->n_nodes; i++)
            if (ex->bufs[i]) clReleaseMemObject(ex->bufs[i]);
    if (ex->weights)
        for (int32_t i = 0; i < ex->g->n_tensors; i++)
            if (ex->weights[i]) clReleaseMemObject(ex->weights[i]);
    if (ex->aux)
        for (int32_t i = 0; i < ex->g->n_nodes; i++)
            if (ex->aux[i]) clReleaseMemObject(ex->aux[i]);
    clssd__free(ex->aux);
    if (ex->workspace) clReleaseMemObject(ex->workspace);
    if (ex->image_u8) clReleaseMemObject(ex->image_u8);
    if (ex->image_desc) clReleaseMemObject(ex->image_desc);
    clssd__free(ex->bufs);
    clssd__free(ex->weights);
    clssd__free(ex);
}

clssd_status clssd__exec_create(clssd_context *ctx, const clssd_graph *g, int32_t max_batch,
                                clssd_exec **out)
{
    *out = NULL;
    if (max_batch < 1) return CLSSD_FAIL(ctx, CLSSD_ERR_INVALID_ARG, "batch %d < 1", max_batch);
    clssd_status s = CLSSD_OK;
    clssd_exec *ex = clssd__calloc(1, sizeof *ex);
    if (!ex) return CLSSD_FAIL(ctx, CLSSD_ERR_OUT_OF_MEMORY, "execution plan: out of memory");
    ex->ctx = ctx;
    ex->g = g;
    ex->max_batch = max_batch;
    ex->batch = max_batch;
    /* CLSSD_CONV_FUSE=0 turns off sibling fusion (src/ops/conv2d.c), for A/B timings */
    const char *fuse = getenv("CLSSD_CONV_FUSE");
    ex->no_fuse = fuse && !strcmp(fuse, "0");
    ex->bufs = clssd__calloc((size_t)g->n_nodes, sizeof(cl_mem));
    ex->weights = clssd__calloc((size_t)(g->n_tensors > 0 ? g->n_tensors : 1), sizeof(cl_mem));
    ex->aux = clssd__calloc((size_t)g->n_nodes, sizeof(cl_mem));
    if (!ex->bufs || !ex->weights || !ex->aux) {
        s = CLSSD_FAIL(ctx, CLSSD_ERR_OUT_OF_MEMORY, "execution plan of %d nodes: out of memory",
                       g->n_nodes);
        goto fail;
    }
    size_t ws = 16;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const clssd_node *n = &g->nodes[i];
        size_t bytes;
        size_t per = clssd__shape_count(&n->out);
        if (!clssd__mul_size(per, n->batch_const ? 1 : (size_t)max_batch, &bytes) ||
            !clssd__mul_size(bytes, sizeof(float), &bytes)) {
            s = CLSSD_FAIL(ctx, CLSSD_ERR_OUT_OF_MEMORY, "node '%s': size overflow", n->name);
            goto fail;
        }
        char what[CLSSD_NAME_LEN + 48];
        snprintf(what, sizeof what, "output of node '%s' at batch %d", n->name,
                 n->batch_const ? 1 : max_batch);
        s = clssd__buffer_for(ctx, bytes, CL_MEM_READ_WRITE, &ex->bufs[i], what);
        if (s != CLSSD_OK) goto fail;
        if (clssd__ops[n->op].workspace) {
            size_t w = clssd__ops[n->op].workspace(g, n, max_batch);
            if (w > ws) ws = w;
        }
    }
    s = clssd__buffer_for(ctx, ws, CL_MEM_READ_WRITE, &ex->workspace, "shared workspace");
    if (s != CLSSD_OK) goto fail;
    ex->ws_bytes = ws;
    for (int32_t t = 0; t < g->n_tensors; t++) {
        size_t bytes = clssd__shape_count(&g->tensors[t].shape) * sizeof(float);
        char what[CLSSD_NAME_LEN + 16];
        snprintf(what, sizeof what, "weights '%s'", g->tensors[t].name);
        s = clssd__buffer_for(ctx, bytes, CL_MEM_READ_ONLY, &ex->weights[t], what);
        if (s != CLSSD_OK) goto fail;
        cl_int e = clEnqueueWriteBuffer(ctx->queue, ex->weights[t], CL_FALSE, 0, bytes,
                                        g->tensors[t].data, 0, NULL, NULL);
        if (e != CL_SUCCESS) {
            s = CLSSD_FAIL(ctx, (clssd_status)e, "upload of '%s' -> %s", g->tensors[t].name,
                           clssd__cl_error_name(e));
            goto fail;
        }
    }
    for (int32_t i = 0; i < g->n_nodes; i++)
        if (clssd__ops[g->nodes[i].op].prepare) {
            s = clssd__ops[g->nodes[i].op].prepare(ex, &g->nodes[i]);
            if (s != CLSSD_OK) goto fail;
        }
    /* Constant nodes (priors) are computed once here, not on every forward. */
    for (int32_t i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].batch_const) {
            s = clssd__ops[g->nodes[i].op].forward_cl(ex, &g->nodes[i]);
            if (s != CLSSD_OK) goto fail;
        }
    cl_int e = clFinish(ctx->queue);
    if (e != CL_SUCCESS) {
        s = CLSSD_FAIL(ctx, (clssd_status)e, "clFinish -> %s", clssd__cl_error_name(e));
        goto fail;
    }
    *out = ex;
    return CLSSD_OK;
fail:
    clssd__exec_destroy(ex);
    return s;
}

clssd_status clssd__exec_run(clssd_exec *ex, int32_t first, int32_t last)
{
    if (ex->batch < 1 || ex->batch > ex->max_batch)
        return CLSSD_FAIL(ex->ctx, CLSSD_ERR_INVALID_ARG, "batch %d outside 1..%d", ex->batch,
                          ex->max_batch);
    if (last >= ex->g->n_nodes) last = ex->g->n_nodes - 1;
    for (int32_t i = first < 0 ? 0 : first; i <= last; i++) {
        const clssd_node *n = &ex->g->nodes[i];
        if (n->batch_const) continue;
        ex->ctx->prof_node = i;
        clssd_status s = clssd__ops[n->op].forward_cl(ex, n);
        ex->ctx->prof_node = -1;
        if (s != CLSSD_OK) return s;
    }
    return CLSSD_OK;
}
