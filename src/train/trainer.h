/* Device training step for a model's graph (issue 6): forward on the device, Caffe's
 * MultiBoxLoss on the host (clssd__mbox_loss_ref), backward through the graph on the device
 * (src/train/backward.h plus the layout ops), gradient accumulation over sub-batches
 * (Caffe's iter_size) and Caffe's SGD with momentum, weight decay and per-blob
 * lr_mult / decay_mult. Internal for now; the public clssd_train.h wraps it later
 * (design-notes 10).
 *
 * What trains: every CONV2D weight and bias and every L2NORM scale on a path from the input
 * to the loss. The loss reads the loc predictions (the DECODE node's first input), the conf
 * LOGITS (the input of the SOFTMAX that feeds the NMS node: training needs them before the
 * softmax) and the priors (DECODE's second input, a batch-constant node). Backward supports
 * CONV2D (fused ReLU / ReLU6 included), RELU, POOL, L2NORM, PERMUTE and CONCAT (axis 1);
 * any other op on a path that leads to trainable weights makes create fail with
 * CLSSD_ERR_UNSUPPORTED and a message naming the node. Ops off those paths (INPUT, the prior
 * boxes, SOFTMAX / DECODE / NMS after the heads) are never run backwards.
 *
 * The trainer owns its own execution plan (sized for max_batch) whose trainable weight
 * buffers are read-write and hold the current weights; the model's own plan and host
 * tensors are updated by clssd__trainer_sync (and by destroy). The plan keeps the model's
 * tuned convolution algorithms; the PACKED ones read weights packed at plan time, which the
 * trainer re-packs on the device (clssd__conv2d_repack) after each update and weight write.
 * Use one trainer per model at a time, from one thread. */
#ifndef CLSSD_TRAIN_TRAINER_H
#define CLSSD_TRAIN_TRAINER_H

#include "train/backward.h"
#include "train/train.h"

typedef struct clssd_trainer_params {
    int32_t max_batch;           /* images per forward (sub-batch), >= 1 */
    clssd_mbox_loss_params loss; /* n_classes 0: taken from the model's softmax */
    float momentum;              /* 0.9 (ssd_pascal.py) */
    float weight_decay;          /* 5e-4 */
    /* lr_mult / decay_mult per kind of blob: ssd_pascal.py gives conv weights 1 / 1 and conv
     * biases 2 / 0; Normalize's scale has Caffe's defaults 1 / 1. */
    float weight_lr_mult, weight_decay_mult;
    float bias_lr_mult, bias_decay_mult;
    float scale_lr_mult, scale_decay_mult;
} clssd_trainer_params;

/* ssd_pascal.py's solver and loss settings for max_batch images per forward. */
void clssd__trainer_params_defaults(clssd_trainer_params *p, int32_t max_batch);

/* One trainable tensor. */
typedef struct clssd_train_blob {
    int32_t tensor, node;      /* graph tensor and the node that uses it */
    float lr_mult, decay_mult; /* may be changed between create and the first update */
    size_t count;
    cl_mem grad;   /* sum of d loss / d w over the sub-batches since the update */
    cl_mem hist;   /* momentum history (Caffe's history_) */
    uint8_t fresh; /* grad holds this accumulation's first contribution */
} clssd_train_blob;

typedef struct clssd_trainer {
    clssd_model *m;
    clssd_context *ctx;
    clssd_exec *ex; /* the trainer's own plan */
    clssd_trainer_params p;
    int32_t loc_node, conf_node, prior_node, last_node;
    size_t n_priors;
    int32_t n_classes;
    float *priors;         /* host copy of the prior node: [P][4] boxes, [P][4] vars */
    float *h_loc, *h_conf; /* max_batch * P * 4, max_batch * P * C */
    float *h_dloc, *h_dconf;
    uint8_t *need;                          /* per node: its output gradient is wanted */
    uint8_t *fresh;                         /* per node, during one backward: gradient written */
    cl_mem *dbufs;                          /* per node with need: d loss / d output */
    cl_mem scratch_x, scratch_w, scratch_b; /* second contributions before their add */
    clssd_bwd_ws ws;                        /* the convolution backward's temporaries */
    clssd_train_blob *blobs;
    int32_t n_blobs;
    int32_t *blob_of_tensor; /* per graph tensor: index into blobs, or -1 */
    int32_t n_accum;         /* sub-batches accumulated since the last update */
    int64_t iter;            /* updates done */
} clssd_trainer;

/* Creates a trainer for m (m must outlive it). Errors: CLSSD_ERR_INVALID_ARG (bad params),
 * CLSSD_ERR_UNSUPPORTED (no loc / conf-logits / prior nodes found, or an op without backward
 * on a trainable path; the message names it), OpenCL / memory errors. */
clssd_status clssd__trainer_create(clssd_model *m, const clssd_trainer_params *p,
                                   clssd_trainer **out);
/* Syncs the weights into the model (clssd__trainer_sync, best effort: it also re-packs the
 * model plan's packed convolutions) and frees everything. NULL is fine. */
void clssd__trainer_destroy(clssd_trainer *t);

/* Forward of `batch` (1..max_batch) preprocessed images, float NCHW as the INPUT node
 * expects ([batch][3][S][S], the PREPROCESS output: mean subtracted, network channel order),
 * and the host loss against gt (gt[k].image in 0..batch-1). No backward. stats may be NULL. */
clssd_status clssd__trainer_loss(clssd_trainer *t, const float *input, int32_t batch,
                                 const clssd_train_gt *gt, size_t n_gt, double *loss,
                                 clssd_mbox_loss_stats *stats);
/* The same, then backward: adds d loss / d w of this sub-batch to every blob's grad. */
clssd_status clssd__trainer_forward_backward(clssd_trainer *t, const float *input, int32_t batch,
                                             const clssd_train_gt *gt, size_t n_gt, double *loss,
                                             clssd_mbox_loss_stats *stats);
/* Drops the gradients accumulated since the last update. */
void clssd__trainer_zero_grad(clssd_trainer *t);
/* Caffe's SGD update of every blob with the accumulated gradients scaled by 1 / (sub-batches
 * since the last update), learning rate lr (times each blob's lr_mult); then the next
 * forward_backward starts a new accumulation. CLSSD_ERR_INVALID_ARG without gradients. */
clssd_status clssd__trainer_update(clssd_trainer *t, float lr);
/* One iteration: iter_size sub-batches of `batch` images each, input holding
 * iter_size * batch images back to back and gt[k].image in 0 .. iter_size * batch - 1;
 * forward_backward on each, then update. *loss = mean of the sub-batch losses. */
clssd_status clssd__trainer_step(clssd_trainer *t, const float *input, int32_t batch,
                                 int32_t iter_size, const clssd_train_gt *gt, size_t n_gt, float lr,
                                 double *loss);

/* Reads blob b's accumulated (unscaled) gradient into host[count]; zeros if none arrived. */
clssd_status clssd__trainer_read_grad(clssd_trainer *t, int32_t b, float *host);
/* Blob index of a graph tensor name, or -1. */
int32_t clssd__trainer_find_blob(const clssd_trainer *t, const char *tensor_name);
/* Copies the current weights into the graph's host tensors and the model's own plan, so
 * clssd_detect and clssd__file_save see them. */
clssd_status clssd__trainer_sync(clssd_trainer *t);
/* Writes host[count] into blob b's device weights (tests: finite differences). */
clssd_status clssd__trainer_write_weights(clssd_trainer *t, int32_t b, const float *host);
clssd_status clssd__trainer_read_weights(clssd_trainer *t, int32_t b, float *host);

/* Retargets a Caffe-style SSD (conf heads -> PERMUTE -> CONCAT -> SOFTMAX -> NMS) to
 * n_classes classes (background included) for fine-tuning on another dataset: every CONV2D conf
 * head gets A * n_classes output channels (A = its priors per cell) with fresh weights (Caffe
 * xavier from seed, zero biases); the softmax group, the NMS's n_classes and the labels follow.
 * The base, the extra layers, the loc heads and the priors are kept bit for bit. labels: NULL
 * ("background", "class1", ...) or n_classes names, [0] the background. The model's plan is
 * rebuilt; call it with no trainer on m. On failure m is unchanged. Errors:
 * CLSSD_ERR_INVALID_ARG (n_classes < 2, a NULL label), CLSSD_ERR_UNSUPPORTED (scores not a
 * softmax, e.g. the sigmoid-scored TF SSDLite, or heads it cannot identify; the message says
 * which), memory / OpenCL errors. (src/train/retarget.c) */
clssd_status clssd__model_retarget_classes(clssd_model *m, int32_t n_classes,
                                           const char *const *labels, uint64_t seed);

/* Caffe's "multistep" policy: base_lr * gamma ^ (number of steps[i] <= iter); steps
 * ascending. */
float clssd__lr_multistep(float base_lr, float gamma, const int64_t *steps, size_t n_steps,
                          int64_t iter);

#endif
