/* The network graph: nodes in topological order plus named weight tensors. */
#include <stdio.h>
#include <string.h>

#include "clssd_internal.h"

void clssd__graph_init(clssd_graph *g)
{
    memset(g, 0, sizeof *g);
    g->input = -1;
    g->output = -1;
}

void clssd__graph_free(clssd_graph *g)
{
    if (!g) return;
    for (int32_t i = 0; i < g->n_tensors; i++) clssd__free(g->tensors[i].data);
    for (int32_t i = 0; i < g->n_labels; i++) clssd__free(g->labels[i]);
    clssd__free(g->labels);
    clssd__free(g->tensors);
    clssd__free(g->nodes);
    clssd__graph_init(g);
}

int32_t clssd__graph_add(clssd_graph *g, const char *name, clssd_op op,
                         const clssd_op_params *p, const int32_t *src, int32_t n_src)
{
    if ((int)op < 0 || op >= CLSSD_OP_COUNT || n_src < 0 || n_src > CLSSD_MAX_SRC || !name ||
        strlen(name) >= CLSSD_NAME_LEN)
        return -1;
    for (int32_t i = 0; i < n_src; i++)
        if (src[i] < 0 || src[i] >= g->n_nodes) return -1; /* sources come first */
    if (g->n_nodes == g->cap_nodes) {
        int32_t cap = g->cap_nodes ? g->cap_nodes * 2 : 64;
        clssd_node *grown = clssd__realloc(g->nodes, (size_t)cap * sizeof *grown);
        if (!grown) return -1;
        g->nodes = grown;
        g->cap_nodes = cap;
    }
    clssd_node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    snprintf(n->name, sizeof n->name, "%s", name);
    n->op = op;
    if (p) n->p = *p;
    for (int32_t i = 0; i < n_src; i++) n->src[i] = src[i];
    n->n_src = n_src;
    n->weight = -1;
    n->bias = -1;
    return g->n_nodes++;
}

int32_t clssd__graph_add_tensor(clssd_graph *g, const char *name, clssd_shape shape)
{
    if (!name || strlen(name) >= CLSSD_NAME_LEN) return -1;
    const size_t count = clssd__shape_count(&shape);
    if (count == 0 || count > CLSSD_GRAPH_MAX_WEIGHT_FLOATS) return -1;
    if (g->n_tensors == g->cap_tensors) {
        int32_t cap = g->cap_tensors ? g->cap_tensors * 2 : 64;
        clssd_tensor *grown = clssd__realloc(g->tensors, (size_t)cap * sizeof *grown);
        if (!grown) return -1;
        g->tensors = grown;
        g->cap_tensors = cap;
    }
    clssd_tensor *t = &g->tensors[g->n_tensors];
    memset(t, 0, sizeof *t);
    t->data = clssd__calloc(count, sizeof(float));
    if (!t->data) return -1;
    snprintf(t->name, sizeof t->name, "%s", name);
    t->shape = shape;
    return g->n_tensors++;
}

int32_t clssd__graph_find_node(const clssd_graph *g, const char *name)
{
    for (int32_t i = 0; i < g->n_nodes; i++)
        if (strcmp(g->nodes[i].name, name) == 0) return i;
    return -1;
}

int32_t clssd__graph_find_tensor(const clssd_graph *g, const char *name)
{
    for (int32_t i = 0; i < g->n_tensors; i++)
        if (strcmp(g->tensors[i].name, name) == 0) return i;
    return -1;
}

clssd_status clssd__graph_infer(clssd_graph *g, char *err, size_t err_size)
{
    if (g->n_nodes == 0) {
        snprintf(err, err_size, "graph has no nodes");
        return CLSSD_ERR_BAD_MODEL;
    }
    for (int32_t i = 0; i < g->n_nodes; i++) {
        clssd_node *n = &g->nodes[i];
        if ((int)n->op < 0 || n->op >= CLSSD_OP_COUNT) {
            snprintf(err, err_size, "node '%s': unknown op %d", n->name, (int)n->op);
            return CLSSD_ERR_BAD_MODEL;
        }
        for (int32_t s = 0; s < n->n_src; s++)
            if (n->src[s] < 0 || n->src[s] >= i) {
                snprintf(err, err_size, "node '%s': source %d is not an earlier node", n->name,
                         n->src[s]);
                return CLSSD_ERR_BAD_MODEL;
            }
        if ((n->weight >= g->n_tensors) || (n->bias >= g->n_tensors)) {
            snprintf(err, err_size, "node '%s': weight index out of range", n->name);
            return CLSSD_ERR_BAD_MODEL;
        }
        char why[256] = "";
        clssd_status s = clssd__ops[n->op].infer(g, n, why, sizeof why);
        if (s != CLSSD_OK) {
            snprintf(err, err_size, "node '%s' (%s): %s", n->name, clssd__ops[n->op].name, why);
            return s;
        }
        if (clssd__shape_count(&n->out) == 0) {
            snprintf(err, err_size, "node '%s' (%s): empty output shape %dx%dx%dx%d", n->name,
                     clssd__ops[n->op].name, n->out.n, n->out.c, n->out.h, n->out.w);
            return CLSSD_ERR_BAD_MODEL;
        }
    }
    return CLSSD_OK;
}
