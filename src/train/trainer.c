/* Device training step (issue 6): see trainer.h for the contract. The forward is the
 * inference plan's; the loss runs on the host (priors x GT is mostly matching and sorting,
 * design-notes 10); the backward walks the nodes in reverse index order, which is a reverse
 * topological order because a node's sources always precede it (clssd__graph_add). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "train/backward.h"
#include "train/trainer.h"

void clssd__trainer_params_defaults(clssd_trainer_params *p, int32_t max_batch)
{
    memset(p, 0, sizeof *p);
    p->max_batch = max_batch;
    clssd__mbox_loss_defaults(&p->loss, 0);
    p->loss.n_classes = 0;
    p->momentum = 0.9f;
    p->weight_decay = 5e-4f;
    p->weight_lr_mult = 1.0f;
    p->weight_decay_mult = 1.0f;
    p->bias_lr_mult = 2.0f;
    p->bias_decay_mult = 0.0f;
    p->scale_lr_mult = 1.0f;
    p->scale_decay_mult = 1.0f;
}

float clssd__lr_multistep(float base_lr, float gamma, const int64_t *steps, size_t n_steps,
                          int64_t iter)
{
    float lr = base_lr;
    for (size_t i = 0; i < n_steps && steps && iter >= steps[i]; i++)
        lr *= gamma;
    return lr;
}

static void release(cl_mem *m)
{
    if (*m) clReleaseMemObject(*m);
    *m = NULL;
}

static size_t node_floats(const clssd_node *n, int32_t batch)
{
    size_t c = clssd__shape_count(&n->out), r;
    return clssd__mul_size(c, n->batch_const ? 1 : (size_t)batch, &r) ? r : 0;
}

static int is_packed(int algo)
{
    return algo == CLSSD_CONV_PACKED || algo == CLSSD_CONV_PACKED16;
}

/* ---------------------------------------------------------------- create / destroy */

void clssd__trainer_destroy(clssd_trainer *t)
{
    if (!t) return;
    clssd_context *ctx = t->ctx;
    clssd_model *m = t->m;
    if (ctx->queue) clFinish(ctx->queue);
    /* Leave the model detecting with the trained weights. */
    if (t->ex && t->n_blobs > 0 && clssd__trainer_sync(t) != CLSSD_OK)
        clssd__log(ctx, CLSSD_LOG_WARN, "trainer: weights not copied back into the model");
    if (t->dbufs)
        for (int32_t i = 0; i < m->g.n_nodes; i++)
            release(&t->dbufs[i]);
    for (int32_t b = 0; t->blobs && b < t->n_blobs; b++) {
        release(&t->blobs[b].grad);
        release(&t->blobs[b].hist);
    }
    release(&t->scratch_x);
    release(&t->scratch_w);
    release(&t->scratch_b);
    clssd__bwd_ws_release(&t->ws);
    clssd__exec_destroy(t->ex);
    clssd__free(t->dbufs);
    clssd__free(t->blobs);
    clssd__free(t->blob_of_tensor);
    clssd__free(t->need);
    clssd__free(t->fresh);
    clssd__free(t->priors);
    clssd__free(t->h_loc);
    clssd__free(t->h_conf);
    clssd__free(t->h_dloc);
    clssd__free(t->h_dconf);
    clssd__free(t);
}

/* The loss inputs: loc = DECODE's first source, priors = its second, conf = the SOFTMAX
 * input feeding NMS (the logits). */
static clssd_status find_heads(clssd_trainer *t)
{
    clssd_context *ctx = t->ctx;
    const clssd_graph *g = &t->m->g;
    if (g->output < 0 || g->nodes[g->output].op != CLSSD_OP_NMS || g->nodes[g->output].n_src < 2)
        return CLSSD_FAIL(ctx, CLSSD_ERR_UNSUPPORTED, "trainer: the model has no NMS output");
    const clssd_node *nms = &g->nodes[g->output];
    const clssd_node *dec = &g->nodes[nms->src[0]], *sm = &g->nodes[nms->src[1]];
    if (dec->op != CLSSD_OP_DECODE || dec->n_src < 2)
        return CLSSD_FAIL(ctx, CLSSD_ERR_UNSUPPORTED,
                          "trainer: NMS '%s' is not fed by a DECODE node", nms->name);
    if (sm->op != CLSSD_OP_SOFTMAX || sm->n_src != 1)
        return CLSSD_FAIL(ctx, CLSSD_ERR_UNSUPPORTED,
                          "trainer: the scores '%s' are %s, not a softmax: MultiBoxLoss needs "
                          "softmax logits",
                          sm->name, clssd__ops[sm->op].name);
    t->loc_node = dec->src[0];
    t->prior_node = dec->src[1];
    t->conf_node = sm->src[0];
    t->n_classes = sm->p.softmax.group;
    const clssd_node *loc = &g->nodes[t->loc_node], *conf = &g->nodes[t->conf_node],
                     *pri = &g->nodes[t->prior_node];
    const size_t nl = clssd__shape_count(&loc->out);
    t->n_priors = nl / 4;
    if (t->n_classes < 2 || nl == 0 || nl % 4 != 0 || loc->batch_const || conf->batch_const ||
        !pri->batch_const || clssd__shape_count(&pri->out) != 8 * t->n_priors ||
        clssd__shape_count(&conf->out) != t->n_priors * (size_t)t->n_classes)
        return CLSSD_FAIL(ctx, CLSSD_ERR_UNSUPPORTED,
                          "trainer: head shapes do not agree (loc '%s', conf '%s', priors '%s')",
                          loc->name, conf->name, pri->name);
    t->last_node = t->loc_node > t->conf_node ? t->loc_node : t->conf_node;
    return CLSSD_OK;
}

static int trainable(const clssd_node *n)
{
    return (n->op == CLSSD_OP_CONV2D || n->op == CLSSD_OP_L2NORM) && n->weight >= 0;
}

static int has_backward(const clssd_node *n)
{
    switch (n->op) {
    case CLSSD_OP_CONV2D:
    case CLSSD_OP_RELU:
    case CLSSD_OP_POOL:
    case CLSSD_OP_L2NORM:
    case CLSSD_OP_PERMUTE:
        return 1;
    case CLSSD_OP_CONCAT:
        return n->p.concat.axis == 1;
    default:
        return 0;
    }
}

/* need[i]: node i lies on a path from the loss back to a trainable weight, i.e. its output
 * gradient is used. Nodes whose every ancestor is weight-free (the input, the first
 * convolution's input) get none. */
static clssd_status plan_backward(clssd_trainer *t)
{
    clssd_context *ctx = t->ctx;
    const clssd_graph *g = &t->m->g;
    const int32_t N = g->n_nodes;
    uint8_t *up = clssd__calloc((size_t)N, 1), *down = clssd__calloc((size_t)N, 1);
    if (!up || !down) {
        clssd__free(up);
        clssd__free(down);
        return CLSSD_ERR_OUT_OF_MEMORY;
    }
    for (int32_t i = 0; i < N; i++) {
        const clssd_node *n = &g->nodes[i];
        up[i] = (uint8_t)trainable(n);
        for (int32_t k = 0; k < n->n_src; k++)
            up[i] |= up[n->src[k]];
    }
    down[t->loc_node] = down[t->conf_node] = 1;
    clssd_status s = CLSSD_OK;
    for (int32_t i = N - 1; i >= 0 && s == CLSSD_OK; i--) {
        const clssd_node *n = &g->nodes[i];
        if (!down[i] || !up[i]) continue;
        if (!has_backward(n)) {
            s = CLSSD_FAIL(ctx, CLSSD_ERR_UNSUPPORTED,
                           "trainer: node '%s' (%s%s) lies between the loss and trainable "
                           "weights but has no backward pass",
                           n->name, clssd__ops[n->op].name,
                           n->op == CLSSD_OP_CONCAT ? ", axis != 1" : "");
            break;
        }
        t->need[i] = 1;
        for (int32_t k = 0; k < n->n_src; k++)
            down[n->src[k]] = 1;
    }
    clssd__free(up);
    clssd__free(down);
    return s;
}

/* Blobs of the trainable nodes on the path, with their Caffe multipliers. */
static clssd_status make_blobs(clssd_trainer *t)
{
    const clssd_graph *g = &t->m->g;
    t->blob_of_tensor =
        clssd__malloc((size_t)(g->n_tensors > 0 ? g->n_tensors : 1) * sizeof(int32_t));
    t->blobs = clssd__calloc((size_t)(2 * g->n_nodes + 1), sizeof *t->blobs);
    if (!t->blob_of_tensor || !t->blobs) return CLSSD_ERR_OUT_OF_MEMORY;
    for (int32_t k = 0; k < g->n_tensors; k++)
        t->blob_of_tensor[k] = -1;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const clssd_node *n = &g->nodes[i];
        if (!t->need[i] || !trainable(n)) continue;
        const int32_t ts[2] = {n->weight, n->op == CLSSD_OP_CONV2D ? n->bias : -1};
        for (int k = 0; k < 2; k++) {
            if (ts[k] < 0 || t->blob_of_tensor[ts[k]] >= 0) continue;
            clssd_train_blob *b = &t->blobs[t->n_blobs];
            b->tensor = ts[k];
            b->node = i;
            b->count = clssd__shape_count(&g->tensors[ts[k]].shape);
            if (n->op == CLSSD_OP_L2NORM) {
                b->lr_mult = t->p.scale_lr_mult;
                b->decay_mult = t->p.scale_decay_mult;
            } else if (k == 0) {
                b->lr_mult = t->p.weight_lr_mult;
                b->decay_mult = t->p.weight_decay_mult;
            } else {
                b->lr_mult = t->p.bias_lr_mult;
                b->decay_mult = t->p.bias_decay_mult;
            }
            t->blob_of_tensor[ts[k]] = t->n_blobs++;
        }
    }
    return CLSSD_OK;
}

static clssd_status zero_buffer(clssd_context *ctx, cl_mem m, size_t floats)
{
    const float zero = 0.0f;
    CLSSD_CL(ctx, clEnqueueFillBuffer(ctx->queue, m, &zero, sizeof zero, 0, floats * sizeof(float),
                                      0, NULL, NULL));
    return CLSSD_OK;
}

/* Device buffers: per-node gradients, scratch, per-blob grad / history, and read-write
 * copies of the trainable weights (the plan uploads them read-only). */
static clssd_status make_buffers(clssd_trainer *t)
{
    clssd_context *ctx = t->ctx;
    const clssd_graph *g = &t->m->g;
    size_t max_x = 1, max_w = 1;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        if (!t->need[i]) continue;
        const size_t n = node_floats(&g->nodes[i], t->p.max_batch);
        if (n == 0) return CLSSD_FAIL(ctx, CLSSD_ERR_OUT_OF_MEMORY, "trainer: size overflow");
        CLSSD_TRY(clssd__buffer(ctx, n * sizeof(float), CL_MEM_READ_WRITE, &t->dbufs[i]));
        if (n > max_x) max_x = n;
    }
    for (int32_t b = 0; b < t->n_blobs; b++) {
        clssd_train_blob *bl = &t->blobs[b];
        const size_t bytes = bl->count * sizeof(float);
        if (bl->count > max_w) max_w = bl->count;
        CLSSD_TRY(clssd__buffer(ctx, bytes, CL_MEM_READ_WRITE, &bl->grad));
        CLSSD_TRY(clssd__buffer(ctx, bytes, CL_MEM_READ_WRITE, &bl->hist));
        CLSSD_TRY(zero_buffer(ctx, bl->grad, bl->count));
        CLSSD_TRY(zero_buffer(ctx, bl->hist, bl->count));
        cl_mem rw = NULL;
        CLSSD_TRY(clssd__buffer(ctx, bytes, CL_MEM_READ_WRITE, &rw));
        cl_int e = clEnqueueCopyBuffer(ctx->queue, t->ex->weights[bl->tensor], rw, 0, 0, bytes, 0,
                                       NULL, NULL);
        if (e != CL_SUCCESS) {
            clReleaseMemObject(rw);
            return CLSSD_FAIL(ctx, (clssd_status)e, "trainer: weight copy -> %s",
                              clssd__cl_error_name(e));
        }
        /* the in-order queue finishes the copy before any later use of either buffer, and
         * OpenCL keeps the old one alive until then */
        clReleaseMemObject(t->ex->weights[bl->tensor]);
        t->ex->weights[bl->tensor] = rw;
    }
    CLSSD_TRY(clssd__buffer(ctx, max_x * sizeof(float), CL_MEM_READ_WRITE, &t->scratch_x));
    CLSSD_TRY(clssd__buffer(ctx, max_w * sizeof(float), CL_MEM_READ_WRITE, &t->scratch_w));
    CLSSD_TRY(clssd__buffer(ctx, max_w * sizeof(float), CL_MEM_READ_WRITE, &t->scratch_b));
    CLSSD_CL(ctx, clFinish(ctx->queue));
    return CLSSD_OK;
}

static clssd_status create_inner(clssd_trainer *t)
{
    clssd_context *ctx = t->ctx;
    clssd_graph *g = &t->m->g;
    const size_t N = (size_t)g->n_nodes;
    CLSSD_TRY(find_heads(t));
    if (t->p.loss.n_classes == 0) t->p.loss.n_classes = t->n_classes;
    if (t->p.loss.n_classes != t->n_classes)
        return CLSSD_FAIL(ctx, CLSSD_ERR_INVALID_ARG, "trainer: loss has %d classes, the model %d",
                          t->p.loss.n_classes, t->n_classes);
    t->need = clssd__calloc(N, 1);
    t->fresh = clssd__calloc(N, 1);
    t->dbufs = clssd__calloc(N, sizeof(cl_mem));
    if (!t->need || !t->fresh || !t->dbufs) return CLSSD_ERR_OUT_OF_MEMORY;
    CLSSD_TRY(plan_backward(t));
    CLSSD_TRY(make_blobs(t));
    /* The plan keeps the tuned algorithms: packed convolutions read weights packed at
     * prepare time, which repack() refreshes from the device weights after each update. */
    CLSSD_TRY(clssd__exec_create(ctx, g, t->p.max_batch, &t->ex));
    CLSSD_TRY(make_buffers(t));
    const size_t P = t->n_priors, C = (size_t)t->n_classes, B = (size_t)t->p.max_batch;
    t->priors = clssd__malloc(8 * P * sizeof(float));
    t->h_loc = clssd__malloc(B * P * 4 * sizeof(float));
    t->h_dloc = clssd__malloc(B * P * 4 * sizeof(float));
    t->h_conf = clssd__malloc(B * P * C * sizeof(float));
    t->h_dconf = clssd__malloc(B * P * C * sizeof(float));
    if (!t->priors || !t->h_loc || !t->h_dloc || !t->h_conf || !t->h_dconf)
        return CLSSD_ERR_OUT_OF_MEMORY;
    /* priors are batch-constant: computed once by exec_create */
    CLSSD_CL(ctx, clEnqueueReadBuffer(ctx->queue, t->ex->bufs[t->prior_node], CL_TRUE, 0,
                                      8 * P * sizeof(float), t->priors, 0, NULL, NULL));
    return CLSSD_OK;
}

clssd_status clssd__trainer_create(clssd_model *m, const clssd_trainer_params *p,
                                   clssd_trainer **out)
{
    if (!out) return CLSSD_ERR_INVALID_ARG;
    *out = NULL;
    if (!m || !p) return CLSSD_ERR_INVALID_ARG;
    clssd_context *ctx = m->ctx;
    if (p->max_batch < 1 || p->max_batch > 4096 || !(p->momentum >= 0.0f) ||
        !(p->weight_decay >= 0.0f))
        return CLSSD_FAIL(ctx, CLSSD_ERR_INVALID_ARG,
                          "trainer: max_batch %d (1..4096), momentum %g, weight_decay %g",
                          p->max_batch, (double)p->momentum, (double)p->weight_decay);
    clssd_trainer *t = clssd__calloc(1, sizeof *t);
    if (!t) return CLSSD_ERR_OUT_OF_MEMORY;
    t->m = m;
    t->ctx = ctx;
    t->p = *p;
    t->loc_node = t->conf_node = t->prior_node = -1;
    clssd_status s = create_inner(t);
    if (s != CLSSD_OK) {
        /* nothing trained yet: no sync, only the algorithm choices to put back */
        clssd_exec *ex = t->ex;
        t->ex = NULL; /* keeps destroy from syncing */
        clssd__exec_destroy(ex);
        clssd__trainer_destroy(t);
        return s;
    }
    *out = t;
    return CLSSD_OK;
}

/* ---------------------------------------------------------------- forward + loss */

static clssd_status forward_loss(clssd_trainer *t, const float *input, int32_t batch,
                                 const clssd_train_gt *gt, size_t n_gt, double *loss,
                                 clssd_mbox_loss_stats *stats, int want_grad)
{
    clssd_context *ctx = t->ctx;
    clssd_exec *ex = t->ex;
    const clssd_graph *g = &t->m->g;
    if (!input || !loss || (n_gt && !gt) || batch < 1 || batch > t->p.max_batch)
        return CLSSD_FAIL(ctx, CLSSD_ERR_INVALID_ARG, "trainer: batch %d (1..%d) or NULL input",
                          batch, t->p.max_batch);
    for (size_t k = 0; k < n_gt; k++)
        if (gt[k].image < 0 || gt[k].image >= batch)
            return CLSSD_FAIL(ctx, CLSSD_ERR_INVALID_ARG, "trainer: gt %zu image %d outside 0..%d",
                              k, gt[k].image, batch - 1);
    const size_t in_floats = node_floats(&g->nodes[g->input], batch);
    CLSSD_CL(ctx, clEnqueueWriteBuffer(ctx->queue, ex->bufs[g->input], CL_TRUE, 0,
                                       in_floats * sizeof(float), input, 0, NULL, NULL));
    ex->batch = batch;
    CLSSD_TRY(clssd__exec_run(ex, 0, t->last_node));
    const size_t P = t->n_priors, C = (size_t)t->n_classes, B = (size_t)batch;
    CLSSD_CL(ctx, clEnqueueReadBuffer(ctx->queue, ex->bufs[t->loc_node], CL_FALSE, 0,
                                      B * P * 4 * sizeof(float), t->h_loc, 0, NULL, NULL));
    CLSSD_CL(ctx, clEnqueueReadBuffer(ctx->queue, ex->bufs[t->conf_node], CL_TRUE, 0,
                                      B * P * C * sizeof(float), t->h_conf, 0, NULL, NULL));
    clssd_status s = clssd__mbox_loss_ref(
        &t->p.loss, B, P, t->h_loc, t->h_conf, t->priors, t->priors + 4 * P, gt, n_gt, loss,
        want_grad ? t->h_dloc : NULL, want_grad ? t->h_dconf : NULL, stats);
    if (s != CLSSD_OK) return CLSSD_FAIL(ctx, s, "trainer: MultiBoxLoss failed");
    return CLSSD_OK;
}

clssd_status clssd__trainer_loss(clssd_trainer *t, const float *input, int32_t batch,
                                 const clssd_train_gt *gt, size_t n_gt, double *loss,
                                 clssd_mbox_loss_stats *stats)
{
    if (!t) return CLSSD_ERR_INVALID_ARG;
    return forward_loss(t, input, batch, gt, n_gt, loss, stats, 0);
}

/* ---------------------------------------------------------------- backward */

static clssd_status enqueue1(clssd_context *ctx, cl_kernel k, size_t n)
{
    const size_t gsz = n, lsz = 64;
    return clssd__enqueue(ctx, k, 1, &gsz, &lsz);
}

static clssd_status grad_add(clssd_context *ctx, cl_mem dst, cl_mem src, size_t n)
{
    cl_kernel k;
    CLSSD_TRY(clssd__kernel(ctx, "backward", "clssd_grad_add", &k));
    const cl_int cn = (cl_int)n;
    clssd_status s = clssd__set_args(ctx, k, 3, sizeof dst, &dst, sizeof src, &src, sizeof cn, &cn);
    if (s == CLSSD_OK) s = enqueue1(ctx, k, n);
    clReleaseKernel(k);
    return s;
}

/* Where a gradient for node i goes: its own buffer when it is the first contribution of this
 * pass (overwrite), else the scratch buffer, to be added by finish_dx. NULL: not needed. */
static cl_mem dx_target(clssd_trainer *t, int32_t i)
{
    if (!t->need[i]) return NULL;
    return t->fresh[i] ? t->scratch_x : t->dbufs[i];
}

static clssd_status finish_dx(clssd_trainer *t, int32_t i, int32_t batch)
{
    if (!t->need[i]) return CLSSD_OK;
    if (t->fresh[i])
        return grad_add(t->ctx, t->dbufs[i], t->scratch_x, node_floats(&t->m->g.nodes[i], batch));
    t->fresh[i] = 1;
    return CLSSD_OK;
}

/* Blob gradients accumulate over sub-batches the same way, with their own scratch. */
static cl_mem dw_target(clssd_trainer *t, int32_t tensor, cl_mem scratch)
{
    if (tensor < 0 || t->blob_of_tensor[tensor] < 0) return NULL;
    clssd_train_blob *b = &t->blobs[t->blob_of_tensor[tensor]];
    return b->fresh ? scratch : b->grad;
}

static clssd_status finish_dw(clssd_trainer *t, int32_t tensor, cl_mem scratch)
{
    if (tensor < 0 || t->blob_of_tensor[tensor] < 0) return CLSSD_OK;
    clssd_train_blob *b = &t->blobs[t->blob_of_tensor[tensor]];
    if (b->fresh) return grad_add(t->ctx, b->grad, scratch, b->count);
    b->fresh = 1;
    return CLSSD_OK;
}

/* In the layout kernels the accumulate flag replaces the scratch round trip. */
static clssd_status layout_dx(clssd_trainer *t, int32_t i, cl_mem *dst, cl_int *acc)
{
    *dst = t->dbufs[i];
    *acc = t->fresh[i];
    t->fresh[i] = 1;
    return CLSSD_OK;
}

static clssd_status permute_backward(clssd_trainer *t, const clssd_node *n, cl_mem dy,
                                     int32_t batch)
{
    const int32_t src = n->src[0];
    if (!t->need[src]) return CLSSD_OK;
    const clssd_shape *x = &t->m->g.nodes[src].out;
    const size_t total = node_floats(&t->m->g.nodes[src], batch);
    cl_mem dx;
    cl_int acc;
    CLSSD_TRY(layout_dx(t, src, &dx, &acc));
    cl_kernel k;
    CLSSD_TRY(clssd__kernel(t->ctx, "backward", "clssd_permute_nhwc_backward", &k));
    const cl_int cn = (cl_int)total, C = x->c, HW = x->h * x->w;
    clssd_status s = clssd__set_args(t->ctx, k, 6, sizeof dy, &dy, sizeof dx, &dx, sizeof cn, &cn,
                                     sizeof C, &C, sizeof HW, &HW, sizeof acc, &acc);
    if (s == CLSSD_OK) s = enqueue1(t->ctx, k, total);
    clReleaseKernel(k);
    return s;
}

static clssd_status concat_backward(clssd_trainer *t, const clssd_node *n, cl_mem dy, int32_t batch)
{
    const clssd_graph *g = &t->m->g;
    const cl_int total = (cl_int)clssd__shape_count(&n->out);
    cl_int off = 0;
    cl_kernel k;
    CLSSD_TRY(clssd__kernel(t->ctx, "backward", "clssd_concat_backward", &k));
    clssd_status s = CLSSD_OK;
    for (int32_t i = 0; i < n->n_src && s == CLSSD_OK; i++) {
        const int32_t src = n->src[i];
        const cl_int len = (cl_int)clssd__shape_count(&g->nodes[src].out);
        if (t->need[src]) {
            cl_mem dx;
            cl_int acc;
            s = layout_dx(t, src, &dx, &acc);
            const size_t cnt = (size_t)len * (size_t)batch;
            const cl_int cn = (cl_int)cnt;
            if (s == CLSSD_OK)
                s = clssd__set_args(t->ctx, k, 7, sizeof dy, &dy, sizeof total, &total, sizeof off,
                                    &off, sizeof dx, &dx, sizeof len, &len, sizeof cn, &cn,
                                    sizeof acc, &acc);
            if (s == CLSSD_OK) s = enqueue1(t->ctx, k, cnt);
        }
        off += len;
    }
    clReleaseKernel(k);
    return s;
}

static clssd_status node_backward(clssd_trainer *t, int32_t j, int32_t batch)
{
    clssd_context *ctx = t->ctx;
    const clssd_graph *g = &t->m->g;
    const clssd_node *n = &g->nodes[j];
    cl_mem dy = t->dbufs[j];
    switch (n->op) {
    case CLSSD_OP_PERMUTE:
        return permute_backward(t, n, dy, batch);
    case CLSSD_OP_CONCAT:
        return concat_backward(t, n, dy, batch);
    default:
        break;
    }
    const int32_t src = n->src[0];
    clssd_bwd_args a;
    memset(&a, 0, sizeof a);
    a.node = n;
    a.batch = batch;
    a.x_shape = g->nodes[src].out;
    a.x = t->ex->bufs[src];
    a.ws = &t->ws;
    cl_mem dx = dx_target(t, src);
    switch (n->op) {
    case CLSSD_OP_RELU:
        if (!dx) return CLSSD_OK;
        CLSSD_TRY(clssd__relu_backward(ctx, &a, dy, dx));
        break;
    case CLSSD_OP_POOL:
        if (!dx) return CLSSD_OK;
        CLSSD_TRY(clssd__pool_backward(ctx, &a, dy, dx));
        break;
    case CLSSD_OP_L2NORM: {
        a.weight = t->ex->weights[n->weight];
        a.weight_shape = g->tensors[n->weight].shape;
        cl_mem ds = dw_target(t, n->weight, t->scratch_w);
        if (!dx && !ds) return CLSSD_OK;
        CLSSD_TRY(clssd__l2norm_backward(ctx, &a, dy, dx, ds));
        if (ds) CLSSD_TRY(finish_dw(t, n->weight, t->scratch_w));
        break;
    }
    case CLSSD_OP_CONV2D: {
        a.y = t->ex->bufs[j];
        a.weight = t->ex->weights[n->weight];
        a.weight_shape = g->tensors[n->weight].shape;
        cl_mem dw = dw_target(t, n->weight, t->scratch_w), db = dw_target(t, n->bias, t->scratch_b);
        if (!dx && !dw && !db) return CLSSD_OK;
        CLSSD_TRY(clssd__conv2d_backward(ctx, &a, dy, dx, dw, db));
        if (dw) CLSSD_TRY(finish_dw(t, n->weight, t->scratch_w));
        if (db) CLSSD_TRY(finish_dw(t, n->bias, t->scratch_b));
        break;
    }
    default:
        return CLSSD_FAIL(ctx, CLSSD_ERR_UNSUPPORTED, "trainer: no backward for '%s' (%s)", n->name,
                          clssd__ops[n->op].name);
    }
    return dx ? finish_dx(t, src, batch) : CLSSD_OK;
}

clssd_status clssd__trainer_forward_backward(clssd_trainer *t, const float *input, int32_t batch,
                                             const clssd_train_gt *gt, size_t n_gt, double *loss,
                                             clssd_mbox_loss_stats *stats)
{
    if (!t) return CLSSD_ERR_INVALID_ARG;
    clssd_context *ctx = t->ctx;
    CLSSD_TRY(forward_loss(t, input, batch, gt, n_gt, loss, stats, 1));
    const size_t P = t->n_priors, C = (size_t)t->n_classes, B = (size_t)batch;
    memset(t->fresh, 0, (size_t)t->m->g.n_nodes);
    /* the host arrays are the trainer's and are not touched again before the next blocking
     * read, which the in-order queue puts after these writes */
    if (t->need[t->loc_node]) {
        CLSSD_CL(ctx, clEnqueueWriteBuffer(ctx->queue, t->dbufs[t->loc_node], CL_FALSE, 0,
                                           B * P * 4 * sizeof(float), t->h_dloc, 0, NULL, NULL));
        t->fresh[t->loc_node] = 1;
    }
    if (t->need[t->conf_node]) {
        CLSSD_CL(ctx, clEnqueueWriteBuffer(ctx->queue, t->dbufs[t->conf_node], CL_FALSE, 0,
                                           B * P * C * sizeof(float), t->h_dconf, 0, NULL, NULL));
        t->fresh[t->conf_node] = 1;
    }
    /* CLSSD_TRAIN_PROFILE=1: wait after every node and print its backward time to stderr
     * (slower; a developer's tool for finding where the time goes, off unless asked for) */
    const char *pe = getenv("CLSSD_TRAIN_PROFILE");
    const int prof = pe && *pe && strcmp(pe, "0") != 0;
    if (prof) clFinish(ctx->queue);
    for (int32_t j = t->last_node; j >= 0; j--) {
        if (!t->need[j] || !t->fresh[j]) continue; /* no gradient reached it: zero */
        struct timespec t0, t1;
        if (prof) clock_gettime(CLOCK_MONOTONIC, &t0);
        clssd_status s = node_backward(t, j, batch);
        if (prof) {
            clFinish(ctx->queue);
            clock_gettime(CLOCK_MONOTONIC, &t1);
            const clssd_node *n = &t->m->g.nodes[j];
            fprintf(stderr, "backward %-24s %-8s %7.3f ms\n", n->name, clssd__ops[n->op].name,
                    (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-6);
        }
        if (s != CLSSD_OK) {
            clFinish(ctx->queue);
            return s;
        }
    }
    t->n_accum++;
    return CLSSD_OK;
}

void clssd__trainer_zero_grad(clssd_trainer *t)
{
    if (!t) return;
    for (int32_t b = 0; b < t->n_blobs; b++)
        t->blobs[b].fresh = 0;
    t->n_accum = 0;
}

/* ---------------------------------------------------------------- SGD */

/* The packed forward weights of the convolutions whose weight is a blob, from the device
 * weights (after an update or a write): once per update, not per image. */
static clssd_status repack(clssd_trainer *t, int32_t only_blob)
{
    const clssd_graph *g = &t->m->g;
    for (int32_t b = 0; b < t->n_blobs; b++) {
        if (only_blob >= 0 && b != only_blob) continue;
        const clssd_node *n = &g->nodes[t->blobs[b].node];
        if (n->op == CLSSD_OP_CONV2D && t->blobs[b].tensor == n->weight &&
            is_packed(clssd__conv2d_algo(t->ctx, g, n)))
            CLSSD_TRY(clssd__conv2d_repack(t->ex, n));
    }
    return CLSSD_OK;
}

clssd_status clssd__trainer_update(clssd_trainer *t, float lr)
{
    if (!t) return CLSSD_ERR_INVALID_ARG;
    clssd_context *ctx = t->ctx;
    if (t->n_accum < 1)
        return CLSSD_FAIL(ctx, CLSSD_ERR_INVALID_ARG, "trainer: update without gradients");
    if (!(lr >= 0.0f)) return CLSSD_FAIL(ctx, CLSSD_ERR_INVALID_ARG, "trainer: lr %g", (double)lr);
    cl_kernel k;
    CLSSD_TRY(clssd__kernel(ctx, "backward", "clssd_sgd_update", &k));
    clssd_status s = CLSSD_OK;
    const float scale = 1.0f / (float)t->n_accum, momentum = t->p.momentum;
    for (int32_t b = 0; b < t->n_blobs && s == CLSSD_OK; b++) {
        clssd_train_blob *bl = &t->blobs[b];
        /* a blob no gradient reached this time holds an older sum: it counts as zero */
        if (!bl->fresh) s = zero_buffer(ctx, bl->grad, bl->count);
        cl_mem w = t->ex->weights[bl->tensor];
        const cl_int n = (cl_int)bl->count;
        const float decay = t->p.weight_decay * bl->decay_mult, rate = lr * bl->lr_mult;
        if (s == CLSSD_OK)
            s = clssd__set_args(ctx, k, 8, sizeof w, &w, sizeof bl->grad, &bl->grad,
                                sizeof bl->hist, &bl->hist, sizeof n, &n, sizeof scale, &scale,
                                sizeof decay, &decay, sizeof momentum, &momentum, sizeof rate,
                                &rate);
        if (s == CLSSD_OK) s = enqueue1(ctx, k, bl->count);
    }
    clReleaseKernel(k);
    if (s == CLSSD_OK) s = repack(t, -1);
    if (s != CLSSD_OK) {
        clFinish(ctx->queue);
        return s;
    }
    clssd__trainer_zero_grad(t);
    t->iter++;
    return CLSSD_OK;
}

clssd_status clssd__trainer_step(clssd_trainer *t, const float *input, int32_t batch,
                                 int32_t iter_size, const clssd_train_gt *gt, size_t n_gt, float lr,
                                 double *loss)
{
    if (!t || !input || !loss || (n_gt && !gt)) return CLSSD_ERR_INVALID_ARG;
    clssd_context *ctx = t->ctx;
    if (iter_size < 1 || iter_size > 1024 || batch < 1 || batch > t->p.max_batch)
        return CLSSD_FAIL(ctx, CLSSD_ERR_INVALID_ARG, "trainer: iter_size %d, batch %d", iter_size,
                          batch);
    for (size_t k = 0; k < n_gt; k++)
        if (gt[k].image < 0 || gt[k].image >= iter_size * batch)
            return CLSSD_FAIL(ctx, CLSSD_ERR_INVALID_ARG, "trainer: gt %zu image %d outside 0..%d",
                              k, gt[k].image, iter_size * batch - 1);
    const clssd_graph *g = &t->m->g;
    const size_t per_image = clssd__shape_count(&g->nodes[g->input].out);
    clssd_train_gt *sub = clssd__malloc((n_gt ? n_gt : 1) * sizeof *sub);
    if (!sub) return CLSSD_ERR_OUT_OF_MEMORY;
    clssd__trainer_zero_grad(t);
    double sum = 0.0;
    clssd_status s = CLSSD_OK;
    for (int32_t it = 0; it < iter_size && s == CLSSD_OK; it++) {
        size_t n_sub = 0;
        for (size_t k = 0; k < n_gt; k++)
            if (gt[k].image / batch == it) {
                sub[n_sub] = gt[k];
                sub[n_sub++].image -= it * batch;
            }
        double l = 0.0;
        s = clssd__trainer_forward_backward(t, input + (size_t)it * (size_t)batch * per_image,
                                            batch, sub, n_sub, &l, NULL);
        sum += l;
    }
    clssd__free(sub);
    if (s == CLSSD_OK) s = clssd__trainer_update(t, lr);
    if (s == CLSSD_OK) *loss = sum / (double)iter_size;
    return s;
}

/* ---------------------------------------------------------------- access */

int32_t clssd__trainer_find_blob(const clssd_trainer *t, const char *tensor_name)
{
    if (!t || !tensor_name) return -1;
    const int32_t k = clssd__graph_find_tensor(&t->m->g, tensor_name);
    return k < 0 ? -1 : t->blob_of_tensor[k];
}

clssd_status clssd__trainer_read_grad(clssd_trainer *t, int32_t b, float *host)
{
    if (!t || !host || b < 0 || b >= t->n_blobs) return CLSSD_ERR_INVALID_ARG;
    clssd_context *ctx = t->ctx;
    const clssd_train_blob *bl = &t->blobs[b];
    if (!bl->fresh) {
        memset(host, 0, bl->count * sizeof(float));
        return CLSSD_OK;
    }
    CLSSD_CL(ctx, clEnqueueReadBuffer(ctx->queue, bl->grad, CL_TRUE, 0, bl->count * sizeof(float),
                                      host, 0, NULL, NULL));
    return CLSSD_OK;
}

clssd_status clssd__trainer_read_weights(clssd_trainer *t, int32_t b, float *host)
{
    if (!t || !host || b < 0 || b >= t->n_blobs) return CLSSD_ERR_INVALID_ARG;
    clssd_context *ctx = t->ctx;
    const clssd_train_blob *bl = &t->blobs[b];
    CLSSD_CL(ctx, clEnqueueReadBuffer(ctx->queue, t->ex->weights[bl->tensor], CL_TRUE, 0,
                                      bl->count * sizeof(float), host, 0, NULL, NULL));
    return CLSSD_OK;
}

clssd_status clssd__trainer_write_weights(clssd_trainer *t, int32_t b, const float *host)
{
    if (!t || !host || b < 0 || b >= t->n_blobs) return CLSSD_ERR_INVALID_ARG;
    clssd_context *ctx = t->ctx;
    const clssd_train_blob *bl = &t->blobs[b];
    CLSSD_CL(ctx, clEnqueueWriteBuffer(ctx->queue, t->ex->weights[bl->tensor], CL_TRUE, 0,
                                       bl->count * sizeof(float), host, 0, NULL, NULL));
    return repack(t, b);
}

clssd_status clssd__trainer_sync(clssd_trainer *t)
{
    if (!t || !t->ex) return CLSSD_ERR_INVALID_ARG;
    clssd_context *ctx = t->ctx;
    clssd_model *m = t->m;
    for (int32_t b = 0; b < t->n_blobs; b++) {
        const clssd_train_blob *bl = &t->blobs[b];
        float *host = m->g.tensors[bl->tensor].data;
        CLSSD_CL(ctx, clEnqueueReadBuffer(ctx->queue, t->ex->weights[bl->tensor], CL_TRUE, 0,
                                          bl->count * sizeof(float), host, 0, NULL, NULL));
        if (m->ex && m->ex->weights && m->ex->weights[bl->tensor])
            CLSSD_CL(ctx, clEnqueueWriteBuffer(ctx->queue, m->ex->weights[bl->tensor], CL_TRUE, 0,
                                               bl->count * sizeof(float), host, 0, NULL, NULL));
    }
    /* the model's packed convolutions (used again after destroy) pack from the host copy */
    if (m->ex)
        for (int32_t b = 0; b < t->n_blobs; b++) {
            const clssd_node *n = &m->g.nodes[t->blobs[b].node];
            if (n->op == CLSSD_OP_CONV2D && t->blobs[b].tensor == n->weight)
                CLSSD_TRY(clssd__conv2d_prepare(m->ex, n));
        }
    return CLSSD_OK;
}
