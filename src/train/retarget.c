/* Retargeting a model's classification heads to a new class count (issue 6: fine-tuning a
 * converted model such as the yufacedetectnet face detector on another dataset).
 *
 * The surgery works on a copy of the graph and builds a fresh model from it with
 * clssd__model_from_graph (shape inference, plan, tuning) before anything of the caller's
 * model changes: a failure at any point leaves the model exactly as it was. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "clssd_internal.h"
#include "train/trainer.h"

/* Deep copy of src's nodes, tensors (with data) and labels into dst (initialised, empty). */
static clssd_status graph_copy(const clssd_graph *src, clssd_graph *dst)
{
    clssd__graph_init(dst);
    dst->input = src->input;
    dst->output = src->output;
    dst->pre = src->pre;
    memcpy(dst->name, src->name, sizeof dst->name);
    if (src->n_nodes > 0) {
        dst->nodes = clssd__malloc((size_t)src->n_nodes * sizeof *dst->nodes);
        if (!dst->nodes) return CLSSD_ERR_OUT_OF_MEMORY;
        memcpy(dst->nodes, src->nodes, (size_t)src->n_nodes * sizeof *dst->nodes);
        dst->n_nodes = dst->cap_nodes = src->n_nodes;
    }
    if (src->n_tensors > 0) {
        dst->tensors = clssd__calloc((size_t)src->n_tensors, sizeof *dst->tensors);
        if (!dst->tensors) return CLSSD_ERR_OUT_OF_MEMORY;
        dst->cap_tensors = src->n_tensors;
        for (int32_t t = 0; t < src->n_tensors; t++) {
            const clssd_tensor *s = &src->tensors[t];
            clssd_tensor *d = &dst->tensors[t];
            memcpy(d->name, s->name, sizeof d->name);
            d->shape = s->shape;
            /* counted before the copy so that graph_free frees exactly what was allocated */
            dst->n_tensors = t + 1;
            const size_t cnt = clssd__shape_count(&s->shape);
            if (!s->data || cnt == 0) continue;
            d->data = clssd__malloc(cnt * sizeof(float));
            if (!d->data) return CLSSD_ERR_OUT_OF_MEMORY;
            memcpy(d->data, s->data, cnt * sizeof(float));
        }
    }
    return CLSSD_OK;
}

static clssd_status set_labels(clssd_graph *g, int32_t n, const char *const *labels)
{
    g->labels = clssd__calloc((size_t)n, sizeof *g->labels);
    if (!g->labels) return CLSSD_ERR_OUT_OF_MEMORY;
    for (int32_t i = 0; i < n; i++) {
        char gen[32];
        const char *s = labels ? labels[i] : NULL;
        if (!s) {
            /* no names given: the background first, then placeholders the caller may rename */
            if (i == 0)
                snprintf(gen, sizeof gen, "background");
            else
                snprintf(gen, sizeof gen, "class%d", (int)i);
            s = gen;
        }
        const size_t len = strlen(s) + 1;
        g->labels[i] = clssd__malloc(len);
        if (!g->labels[i]) return CLSSD_ERR_OUT_OF_MEMORY;
        memcpy(g->labels[i], s, len);
        g->n_labels = i + 1;
    }
    return CLSSD_OK;
}

/* Finds the conf head convolutions: everything between the SOFTMAX feeding the NMS and the
 * CONV2D nodes whose outputs reach it through PERMUTE / CONCAT only. Marks path[] (the layout
 * nodes and the heads) and head[] (the convolutions). */
static clssd_status find_conf_heads(clssd_context *ctx, const clssd_graph *g, int32_t softmax,
                                    int32_t c_old, uint8_t *path, uint8_t *head,
                                    int32_t *stack)
{
    int32_t sp = 0;
    stack[sp++] = g->nodes[softmax].src[0];
    while (sp > 0) {
        const int32_t i = stack[--sp];
        if (path[i]) continue; /* a layout node reached twice: already walked */
        const clssd_node *n = &g->nodes[i];
        path[i] = 1;
        if (n->op == CLSSD_OP_PERMUTE || n->op == CLSSD_OP_CONCAT) {
            if (n->op == CLSSD_OP_CONCAT && n->p.concat.axis != 1)
                return CLSSD_FAIL(ctx, CLSSD_ERR_UNSUPPORTED,
                                  "retarget: concat '%s' on the scores' path joins along axis "
                                  "%d, not the per-image axis 1",
                                  n->name, n->p.concat.axis);
            for (int32_t k = 0; k < n->n_src; k++) stack[sp++] = n->src[k];
            continue;
        }
        if (n->op != CLSSD_OP_CONV2D)
            return CLSSD_FAIL(ctx, CLSSD_ERR_UNSUPPORTED,
                              "retarget: '%s' (%s) sits between the conf heads and the softmax; "
                              "only permute / concat are understood there",
                              n->name, clssd__ops[n->op].name);
        /* groups 1 keeps the weight layout [cout][cin][kh][kw]; a head whose output channels
         * do not split into priors x classes is not a class head */
        if (n->p.conv.groups != 1 || n->weight < 0 || n->p.conv.cout % c_old != 0)
            return CLSSD_FAIL(ctx, CLSSD_ERR_UNSUPPORTED,
                              "retarget: conf head '%s' has %d output channels, groups %d: not "
                              "priors x %d classes",
                              n->name, n->p.conv.cout, n->p.conv.groups, c_old);
        head[i] = 1;
    }
    /* Changing a head's width is only safe when nothing but the scores' path reads it, and
     * its weight / bias tensors belong to it alone. */
    for (int32_t j = 0; j < g->n_nodes; j++) {
        const clssd_node *n = &g->nodes[j];
        if (j == softmax || path[j]) {
            if (!head[j]) continue;
        } else {
            for (int32_t k = 0; k < n->n_src; k++)
                if (path[n->src[k]])
                    return CLSSD_FAIL(ctx, CLSSD_ERR_UNSUPPORTED,
                                      "retarget: '%s' also reads '%s' of the scores' path",
                                      n->name, g->nodes[n->src[k]].name);
        }
        for (int32_t h = 0; h < g->n_nodes; h++) {
            if (!head[h] || h == j) continue;
            const clssd_node *hn = &g->nodes[h];
            if ((n->weight >= 0 && (n->weight == hn->weight || n->weight == hn->bias)) ||
                (n->bias >= 0 && (n->bias == hn->weight || n->bias == hn->bias)))
                return CLSSD_FAIL(ctx, CLSSD_ERR_UNSUPPORTED,
                                  "retarget: '%s' shares a weight tensor with conf head '%s'",
                                  n->name, hn->name);
        }
    }
    return CLSSD_OK;
}

/* Gives head node i of g A * c_new output channels with fresh weights: Caffe's xavier
 * (uniform +-sqrt(3 / fan_in), what the SSD builder's conf heads get) and zero biases. */
static clssd_status resize_head(clssd_graph *g, int32_t i, int32_t c_old, int32_t c_new,
                                clssd_rng *rng)
{
    clssd_node *n = &g->nodes[i];
    const int32_t anchors = n->p.conv.cout / c_old;
    if ((int64_t)anchors * c_new > INT32_MAX / 2) return CLSSD_ERR_INVALID_ARG;
    const int32_t cout = anchors * c_new;
    clssd_tensor *w = &g->tensors[n->weight];
    clssd_shape ws = w->shape;
    ws.n = cout;
    const size_t cnt = clssd__shape_count(&ws);
    float *wd = cnt ? clssd__malloc(cnt * sizeof(float)) : NULL;
    if (!wd) return cnt ? CLSSD_ERR_OUT_OF_MEMORY : CLSSD_ERR_BAD_MODEL;
    const float fan_in = (float)ws.c * (float)ws.h * (float)ws.w;
    const float a = sqrtf(3.0f / (fan_in > 0.0f ? fan_in : 1.0f));
    for (size_t k = 0; k < cnt; k++) wd[k] = clssd__rng_range(rng, -a, a);
    float *bd = NULL;
    clssd_shape bs = {0, 0, 0, 0};
    if (n->bias >= 0) {
        /* keep the bias's own layout ({1, cout, 1, 1} or {cout, 1, 1, 1}): the dimension that
         * held the old width gets the new one */
        bs = g->tensors[n->bias].shape;
        const int32_t old = n->p.conv.cout;
        if (bs.c == old)
            bs.c = cout;
        else if (bs.n == old)
            bs.n = cout;
        else if (bs.w == old)
            bs.w = cout;
        else
            bs.h = cout;
        bd = clssd__calloc((size_t)cout, sizeof(float));
        if (!bd) {
            clssd__free(wd);
            return CLSSD_ERR_OUT_OF_MEMORY;
        }
    }
    clssd__free(w->data);
    w->data = wd;
    w->shape = ws;
    if (n->bias >= 0) {
        clssd_tensor *b = &g->tensors[n->bias];
        clssd__free(b->data);
        b->data = bd;
        b->shape = bs;
    }
    n->p.conv.cout = cout;
    return CLSSD_OK;
}

clssd_status clssd__model_retarget_classes(clssd_model *m, int32_t n_classes,
                                           const char *const *labels, uint64_t seed)
{
    if (!m) return CLSSD_ERR_INVALID_ARG;
    clssd_context *ctx = m->ctx;
    if (n_classes < 2)
        return CLSSD_FAIL(ctx, CLSSD_ERR_INVALID_ARG,
                          "retarget: %d classes; need at least 2 (background + one)",
                          (int)n_classes);
    const clssd_graph *g = &m->g;
    if (g->output < 0 || g->nodes[g->output].op != CLSSD_OP_NMS || g->nodes[g->output].n_src < 2)
        return CLSSD_FAIL(ctx, CLSSD_ERR_UNSUPPORTED, "retarget: the model has no NMS output");
    const clssd_node *nms = &g->nodes[g->output];
    const int32_t softmax = nms->src[1];
    const clssd_node *sm = &g->nodes[softmax];
    if (sm->op != CLSSD_OP_SOFTMAX || sm->n_src != 1)
        return CLSSD_FAIL(ctx, CLSSD_ERR_UNSUPPORTED,
                          "retarget: the NMS scores '%s' come from a %s, not a softmax: only "
                          "Caffe-style SSD graphs (softmax over background + classes) can be "
                          "retargeted; sigmoid-scored models such as the TF SSDLite are not "
                          "supported",
                          sm->name, clssd__ops[sm->op].name);
    const int32_t c_old = sm->p.softmax.group;
    if (c_old < 2 || nms->p.nms.n_classes != c_old)
        return CLSSD_FAIL(ctx, CLSSD_ERR_UNSUPPORTED,
                          "retarget: softmax group %d and NMS n_classes %d disagree", c_old,
                          nms->p.nms.n_classes);
    for (int32_t i = 0; labels && i < n_classes; i++)
        if (!labels[i])
            return CLSSD_FAIL(ctx, CLSSD_ERR_INVALID_ARG, "retarget: label %d is NULL", (int)i);

    const size_t nn = (size_t)g->n_nodes;
    uint8_t *path = clssd__calloc(nn, 1), *head = clssd__calloc(nn, 1);
    /* every node pushes at most CLSSD_MAX_SRC sources, and each is walked once */
    int32_t *stack = clssd__malloc((nn * CLSSD_MAX_SRC + 1) * sizeof *stack);
    clssd_graph g2;
    clssd__graph_init(&g2);
    clssd_status s = path && head && stack ? CLSSD_OK : CLSSD_ERR_OUT_OF_MEMORY;
    if (s == CLSSD_OK) s = find_conf_heads(ctx, g, softmax, c_old, path, head, stack);
    if (s == CLSSD_OK) s = graph_copy(g, &g2);
    if (s == CLSSD_OK) s = set_labels(&g2, n_classes, labels);
    if (s == CLSSD_OK) {
        clssd_rng rng;
        clssd__rng_seed(&rng, seed);
        for (int32_t i = 0; i < g2.n_nodes && s == CLSSD_OK; i++)
            if (head[i]) s = resize_head(&g2, i, c_old, n_classes, &rng);
        if (s == CLSSD_ERR_INVALID_ARG)
            s = CLSSD_FAIL(ctx, s, "retarget: %d classes make a head too wide", (int)n_classes);
        else if (s == CLSSD_ERR_BAD_MODEL)
            s = CLSSD_FAIL(ctx, s, "retarget: a conf head has an empty weight tensor");
    }
    if (s == CLSSD_OK) {
        g2.nodes[softmax].p.softmax.group = n_classes;
        g2.nodes[g2.output].p.nms.n_classes = n_classes;
    }
    clssd__free(path);
    clssd__free(head);
    clssd__free(stack);
    if (s != CLSSD_OK) {
        clssd__graph_free(&g2);
        return s;
    }
    /* infer checks every shape again (the permutes and concats grow with the heads) and the
     * new plan and tuning cover the new widths; g2 is consumed either way */
    clssd_model *nm = NULL;
    s = clssd__model_from_graph(ctx, &g2, &nm);
    if (s != CLSSD_OK) return s;
    /* Move the new model's contents into *m so the caller's handle stays valid. The plan
     * points at its graph: re-point it at the graph's new home. */
    clssd__exec_destroy(m->ex);
    clssd__graph_free(&m->g);
    m->g = nm->g;
    m->ex = nm->ex;
    if (m->ex) m->ex->g = &m->g;
    m->prior_node = nm->prior_node;
    clssd__free(nm);
    return CLSSD_OK;
}
