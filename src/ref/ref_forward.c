/* Plain-C forward of a whole graph, node by node in index order (the graph is
 * topologically ordered). It calls the reference ops directly rather than through the op
 * table so that the reference does not depend on the device half of the library. */
#include <string.h>

#include "clssd_internal.h"

static clssd_status run_ref(clssd_op op, const clssd_ref_args *a)
{
    switch (op) {
    case CLSSD_OP_INPUT: return clssd__input_ref(a);
    case CLSSD_OP_CONV2D: return clssd__conv2d_ref(a);
    case CLSSD_OP_RELU: return clssd__relu_ref(a);
    case CLSSD_OP_POOL: return clssd__pool_ref(a);
    case CLSSD_OP_L2NORM: return clssd__l2norm_ref(a);
    case CLSSD_OP_PERMUTE: return clssd__permute_ref(a);
    case CLSSD_OP_CONCAT: return clssd__concat_ref(a);
    case CLSSD_OP_SOFTMAX: return clssd__softmax_ref(a);
    case CLSSD_OP_PRIORBOX: return clssd__priorbox_ref(a);
    case CLSSD_OP_DECODE: return clssd__decode_ref(a);
    case CLSSD_OP_NMS: return clssd__nms_ref(a);
    case CLSSD_OP_PREPROCESS: return clssd__preprocess_ref(a);
    case CLSSD_OP_ELTWISE: return clssd__eltwise_ref(a);
    case CLSSD_OP_SCALE: return clssd__scale_ref(a);
    case CLSSD_OP_SIGMOID: return clssd__sigmoid_ref(a);
    case CLSSD_OP_CONST: return clssd__const_ref(a);
    case CLSSD_OP_COUNT: break;
    }
    return CLSSD_ERR_INVALID_ARG;
}

void clssd__ref_outputs_free(const clssd_graph *g, float **out)
{
    if (!out) return;
    for (int32_t i = 0; i < g->n_nodes; i++) clssd__free(out[i]);
    clssd__free(out);
}

/* Fills an INPUT node: the images through the graph's preprocessing when given (the
 * network input node only), else the next values of `input`, which holds the data of every
 * INPUT node in index order (one node in a real network). */
static clssd_status fill_input(const clssd_graph *g, int32_t i, int32_t batch,
                               const clssd_image *images, const float *input, size_t *consumed,
                               float *dst, size_t count)
{
    const clssd_node *n = &g->nodes[i];
    int32_t net_input = g->input;
    for (int32_t k = 0; k < g->n_nodes && net_input < 0; k++)
        if (g->nodes[k].op == CLSSD_OP_INPUT) net_input = k;
    if (images && g->pre.pre.out_w > 0 && i == net_input) {
        if (n->out.c != 3 || n->out.h != g->pre.pre.out_h || n->out.w != g->pre.pre.out_w ||
            n->batch_const)
            return CLSSD_ERR_INVALID_ARG;
        clssd_node pre;
        memset(&pre, 0, sizeof pre);
        pre.op = CLSSD_OP_PREPROCESS;
        pre.p = g->pre;
        pre.out = n->out;
        pre.weight = pre.bias = -1;
        clssd_ref_args a;
        memset(&a, 0, sizeof a);
        a.node = &pre;
        a.batch = batch;
        a.images = images;
        a.dst = dst;
        return clssd__preprocess_ref(&a);
    }
    if (!input) return CLSSD_ERR_INVALID_ARG;
    memcpy(dst, input + *consumed, count * sizeof(float));
    *consumed += count;
    return CLSSD_OK;
}

clssd_status clssd__ref_forward(const clssd_graph *g, int32_t batch, const clssd_image *images,
                                const float *input, float ***out)
{
    if (!out) return CLSSD_ERR_INVALID_ARG;
    *out = NULL;
    if (!g || g->n_nodes <= 0 || batch < 1 || (!images && !input)) return CLSSD_ERR_INVALID_ARG;
    float **bufs = clssd__calloc((size_t)g->n_nodes, sizeof *bufs);
    if (!bufs) return CLSSD_ERR_OUT_OF_MEMORY;
    clssd_status s = CLSSD_OK;
    size_t consumed = 0;
    for (int32_t i = 0; i < g->n_nodes && s == CLSSD_OK; i++) {
        const clssd_node *n = &g->nodes[i];
        size_t count, bytes;
        if ((int)n->op < 0 || n->op >= CLSSD_OP_COUNT || n->n_src < 0 ||
            n->n_src > CLSSD_MAX_SRC) {
            s = CLSSD_ERR_INVALID_ARG;
            break;
        }
        count = clssd__shape_count(&n->out);
        if (count == 0 || !clssd__mul_size(count, n->batch_const ? 1u : (size_t)batch, &count) ||
            !clssd__mul_size(count, sizeof(float), &bytes)) {
            s = CLSSD_ERR_INVALID_ARG;
            break;
        }
        bufs[i] = clssd__malloc(bytes);
        if (!bufs[i]) {
            s = CLSSD_ERR_OUT_OF_MEMORY;
            break;
        }
        if (n->op == CLSSD_OP_INPUT) {
            s = fill_input(g, i, batch, images, input, &consumed, bufs[i], count);
            continue;
        }
        clssd_ref_args a;
        memset(&a, 0, sizeof a);
        a.node = n;
        a.batch = batch;
        a.n_src = n->n_src;
        for (int32_t k = 0; k < n->n_src; k++) {
            const int32_t src = n->src[k];
            if (src < 0 || src >= i) {
                s = CLSSD_ERR_INVALID_ARG;
                break;
            }
            a.src[k] = bufs[src];
            a.src_shape[k] = g->nodes[src].out;
        }
        if (s != CLSSD_OK) break;
        if (n->weight >= g->n_tensors || n->bias >= g->n_tensors) {
            s = CLSSD_ERR_INVALID_ARG;
            break;
        }
        if (n->weight >= 0) {
            a.weight = g->tensors[n->weight].data;
            a.weight_shape = g->tensors[n->weight].shape;
        }
        if (n->bias >= 0) a.bias = g->tensors[n->bias].data;
        a.dst = bufs[i];
        a.images = images;
        s = run_ref(n->op, &a);
    }
    if (s != CLSSD_OK) {
        clssd__ref_outputs_free(g, bufs);
        return s;
    }
    *out = bufs;
    return CLSSD_OK;
}
