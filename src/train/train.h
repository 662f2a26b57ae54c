/* Training, host reference (issue 6): Caffe's MultiBoxLoss pieces in plain C, rules T1-T3 and
 * T5 of shared/docs/conformance.md. Names follow weiliu89/caffe's bbox_util (design-notes 10):
 * match.c = MatchBBox, encode.c = EncodeBBox, hard_mine.c = MineHardExamples,
 * mbox_loss.c = MultiBoxLossLayer. No OpenCL: a later device version is checked against these.
 *
 * Boxes are [xmin, ymin, xmax, ymax] in normalized image coordinates; priors and variances use
 * the layout of the PRIORBOX blob, [P][4] each (the variance half starts at blob + 4 * P). */
#ifndef CLSSD_TRAIN_H
#define CLSSD_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "clssd_internal.h"

/* One ground-truth box, Caffe's 8-float annotation row minus instance_id. */
typedef struct clssd_train_gt {
    int32_t image; /* item_id: the batch entry it belongs to, 0 .. batch-1 */
    int32_t label; /* 1 .. n_classes-1 (never the background label) */
    float box[4];  /* xmin, ymin, xmax, ymax, normalized */
    uint8_t difficult;
} clssd_train_gt;

/* Caffe's JaccardOverlap on normalized floats: exactly the formula of src/ref/nms_ref.c (no
 * +1; 0 when the boxes do not touch; an inverted box has area 0). */
float clssd__train_iou(const float *a, const float *b);

/* T1: MatchBBox with match_type PER_PREDICTION, use_prior_for_matching, label -1 (every GT).
 * For each of the n_priors priors writes match_index[i] (index into gt[], or -1) and
 * match_overlap[i]: the IoU with the matched GT, or for an unmatched prior its largest IoU
 * with any used GT (0 when none exceeds 1e-6) -- the value hard negative mining reads.
 * GTs with difficult set are skipped unless use_difficult_gt (T5: training uses them).
 * (a) bipartite: repeatedly the largest remaining IoU > 1e-6 over (unmatched prior, unused
 *     GT) pairs is assigned and the GT is used up; ties: lower prior index, then lower GT
 *     index (Caffe's scan order with a strict >);
 * (b) per prediction: every still-unmatched prior takes the GT with its largest IoU if that
 *     IoU >= overlap_threshold (GTs already used in (a) included); ties: lower GT index.
 * Fails with CLSSD_ERR_INVALID_ARG on NULL arrays, CLSSD_ERR_OUT_OF_MEMORY. */
clssd_status clssd__match_bbox(const float *priors, size_t n_priors, const clssd_train_gt *gt,
                               size_t n_gt, float overlap_threshold, int use_difficult_gt,
                               int32_t *match_index, float *match_overlap);

/* T2: EncodeBBox, code_type CENTER_SIZE, variance_encoded_in_target = false: the inverse of
 * src/ref/decode_ref.c. out = [(gcx - pcx) / pw / v0, (gcy - pcy) / ph / v1,
 * log(gw / pw) / v2, log(gh / ph) / v3]. CLSSD_ERR_INVALID_ARG when a prior or box has a
 * width or height <= 0 or a variance is 0 (Caffe CHECKs the same). */
clssd_status clssd__encode_bbox(const float prior[4], const float var[4], const float box[4],
                                float out[4]);

/* T3: MineHardExamples, mining_type MAX_NEGATIVE, for one image. Candidates: priors with
 * match_index -1 and match_overlap < neg_overlap. Keeps the floor(num_pos * neg_pos_ratio)
 * (at most all candidates) with the largest bg_loss; ties: lower prior index first (Caffe's
 * std::sort leaves ties unspecified). Sets is_neg[i] to 1 for the kept ones, 0 elsewhere;
 * *n_neg = how many. */
clssd_status clssd__mine_hard_examples(size_t n_priors, const int32_t *match_index,
                                       const float *match_overlap, const double *bg_loss,
                                       float neg_pos_ratio, float neg_overlap, uint8_t *is_neg,
                                       size_t *n_neg);

/* MultiBoxLoss settings; clssd__mbox_loss_defaults gives ssd_pascal.py's. */
typedef struct clssd_mbox_loss_params {
    int32_t n_classes;        /* C, background included */
    int32_t background_label; /* 0 */
    float overlap_threshold;  /* 0.5: T1 per-prediction threshold */
    float neg_pos_ratio;      /* 3 */
    float neg_overlap;        /* 0.5 */
    float loc_weight;         /* 1 (alpha) */
    int use_difficult_gt;     /* 1 (T5) */
} clssd_mbox_loss_params;
void clssd__mbox_loss_defaults(clssd_mbox_loss_params *p, int32_t n_classes);

typedef struct clssd_mbox_loss_stats {
    size_t n_pos, n_neg;        /* matched priors / mined negatives over the batch */
    double loc_loss, conf_loss; /* the two sums before the division by max(1, n_pos) */
} clssd_mbox_loss_stats;

/* T1-T3: MultiBoxLoss forward and backward for one batch on the host.
 * loc [batch][P][4] predicted offsets, conf [batch][P][C] logits, priors/variances [P][4],
 * gt[n_gt] in any order (gt[k].image says where it belongs; n_gt may be 0).
 *   loss = (sum over positives and mined negatives of -log softmax(conf)[label]
 *           + loc_weight * sum over positives of SmoothL1(loc - encode(gt, prior))) / N
 * with N = max(1, n_pos) (normalization VALID); label = the GT's for a positive, background
 * for a negative. dloc and dconf (same shapes as loc, conf; either may be NULL) receive
 * d loss / d input: (softmax - onehot) / N on the used priors' logits, loc_weight *
 * SmoothL1'(diff) / N on the positives' offsets, 0 everywhere else. Sums in double.
 * stats may be NULL. */
clssd_status clssd__mbox_loss_ref(const clssd_mbox_loss_params *p, size_t batch, size_t n_priors,
                                  const float *loc, const float *conf, const float *priors,
                                  const float *variances, const clssd_train_gt *gt, size_t n_gt,
                                  double *loss, float *dloc, float *dconf,
                                  clssd_mbox_loss_stats *stats);

/* ---------------------------------------------------------------- T4: augmentation (augment.c)
 * Caffe's SSD data augmentation (ssd_pascal.py's train_transform_param, batch_sampler and the
 * AnnotatedDataLayer order): distort -> expand -> batch sample + crop -> flip. Host C, u8
 * images, every random draw from an explicit clssd_rng, so a seed fixes the whole result.
 * Resizing to the network input is not part of this step (preprocess does it). */

/* An interleaved RGB u8 image: pixel (x, y) channel c at data[y * stride + 3 * x + c];
 * stride >= 3 * w bytes. Images that augment.c allocates are packed (stride = 3 * w) and are
 * released with clssd__free(img.data). */
typedef struct clssd_aug_image {
    uint8_t *data;
    int32_t w, h;
    size_t stride;
} clssd_aug_image;

/* Caffe's DistortionParameter (the fields ssd_pascal.py sets). */
typedef struct clssd_aug_distort_params {
    float brightness_prob, brightness_delta;                   /* 0.5, 32 */
    float contrast_prob, contrast_lower, contrast_upper;       /* 0.5, 0.5, 1.5 */
    float hue_prob, hue_delta;                                 /* 0.5, 18 (units of 2 degrees) */
    float saturation_prob, saturation_lower, saturation_upper; /* 0.5, 0.5, 1.5 */
    float random_order_prob;                                   /* 0 in ssd_pascal.py */
} clssd_aug_distort_params;

/* The single photometric steps, in place, each as Caffe's Adjust* does it on an 8-bit
 * cv::Mat: every result is rounded half to even and saturated to [0, 255] (cv::saturate_cast),
 * and the HSV ones go through OpenCV's 8-bit RGB<->HSV (H in [0, 180), S and V in [0, 255])
 * with the adjusted channel itself saturated to [0, 255] before converting back.
 *   brightness: v + delta (skipped when delta == 0, as Caffe)
 *   contrast:   v * delta (skipped when |delta - 1| <= 1e-3, as Caffe)
 *   saturation: S * delta (never skipped: Caffe's test is "!= 1e-3", always true)
 *   hue:        H + delta (skipped when delta == 0). H is saturated, not wrapped: H + delta
 *               < 0 gives 0, while 180..255 wraps round in the HSV->RGB step -- Caffe's
 *               behaviour, kept.
 * CLSSD_ERR_INVALID_ARG on a bad image. */
clssd_status clssd__aug_brightness(clssd_aug_image *img, float delta);
clssd_status clssd__aug_contrast(clssd_aug_image *img, float delta);
clssd_status clssd__aug_saturation(clssd_aug_image *img, float delta);
clssd_status clssd__aug_hue(clssd_aug_image *img, float delta);

void clssd__aug_distort_defaults(clssd_aug_distort_params *p);
/* Caffe's ApplyDistort, in place: one draw picks the order (> 0.5: brightness, contrast,
 * saturation, hue; else brightness, saturation, hue, contrast), then each step fires with its
 * probability and draws its delta uniformly; last the channel shuffle (random_order_prob). */
clssd_status clssd__aug_distort(clssd_aug_image *img, const clssd_aug_distort_params *p,
                                clssd_rng *rng);

/* ExpandImage with a given ratio and offset: the canvas is (int)(w * ratio) x
 * (int)(h * ratio) (Caffe's truncation), filled with mean (RGB, rounded and saturated to u8
 * as cv::Mat::setTo does), the source copied with its top-left at (x_off, y_off). dst->data
 * is allocated (packed; free with clssd__free). Boxes in gt[0..n_gt) are remapped in place:
 * x' = (x * w + x_off) / W', y' = (y * h + y_off) / H' (computed in double, rounded once).
 * CLSSD_ERR_INVALID_ARG when ratio < 1 or the offset puts the image outside the canvas. */
clssd_status clssd__aug_expand_at(const clssd_aug_image *src, float ratio, int32_t x_off,
                                  int32_t y_off, const float mean[3], clssd_aug_image *dst,
                                  clssd_train_gt *gt, size_t n_gt);

/* One BatchSampler of Caffe's sampler.proto. A jaccard bound < 0 means "not set"; with
 * neither set the sample is always accepted (Caffe's default). max_sample 0: no limit. */
typedef struct clssd_aug_sampler {
    float min_scale, max_scale;   /* side scale of the patch: sqrt(area), normalized */
    float min_aspect, max_aspect; /* patch width / height, normalized */
    float min_jaccard, max_jaccard;
    int32_t max_trials, max_sample;
} clssd_aug_sampler;

#define CLSSD_AUG_SSD_N_SAMPLERS 7
/* ssd_pascal.py's batch_sampler list: the whole image (scale 1, aspect 1, 1 trial, no
 * constraint), then min_jaccard 0.1, 0.3, 0.5, 0.7, 0.9 and max_jaccard 1.0, each scale
 * [0.3, 1], aspect [0.5, 2], 50 trials, max_sample 1. Fills out[0..7). */
void clssd__aug_ssd_samplers(clssd_aug_sampler out[CLSSD_AUG_SSD_N_SAMPLERS]);

/* SampleBBox: scale ~ U[min, max), aspect ~ U[min, max) clamped to [scale^2, 1/scale^2] so
 * the patch fits, width = scale * sqrt(aspect), height = scale / sqrt(aspect) (each at most
 * 1), offset ~ U[0, 1 - size). patch = xmin, ymin, xmax, ymax, clipped to [0, 1]. */
void clssd__aug_sample_bbox(const clssd_aug_sampler *s, clssd_rng *rng, float patch[4]);

/* SatisfySampleConstraint for the jaccard bounds: 1 when the sampler has no bound, else 1 when
 * ANY gt box has min_jaccard <= IoU <= max_jaccard (unset bounds ignored). No gt: 0. */
int clssd__aug_sample_ok(const clssd_aug_sampler *s, const float patch[4], const clssd_train_gt *gt,
                         size_t n_gt);

/* GenerateBatchSamples: for each sampler in order, up to max_trials draws, stopping after
 * max_sample accepted ones; accepted patches go to patches[4 * k] while k < cap. *n_out = how
 * many were stored. */
clssd_status clssd__aug_batch_sample(const clssd_aug_sampler *samplers, size_t n_samplers,
                                     const clssd_train_gt *gt, size_t n_gt, clssd_rng *rng,
                                     float *patches, size_t cap, size_t *n_out);

/* The box half of Caffe's crop with emit_type CENTER: a box is kept when its centre lies in
 * patch (bounds inclusive) and it overlaps the patch; it is then expressed in the patch's
 * normalized frame, (x - xmin) / (xmax - xmin), clipped to [0, 1], and dropped if the clipped
 * area is 0 (Caffe's ProjectBBox). Kept boxes are written to out in input order, label,
 * difficult and image copied; out may equal gt (filtering in place). Returns how many. */
size_t clssd__aug_crop_boxes(const float patch[4], const clssd_train_gt *gt, size_t n_gt,
                             clssd_train_gt *out);

/* CropImage: patch is clipped to [0, 1] and scaled to pixels with Caffe's truncations
 * (x0 = (int)(xmin * w), cw = (int)(xmax * w - xmin * w), at least 1 pixel, inside the
 * image). The boxes are then cropped with clssd__aug_crop_boxes against the pixel rectangle
 * actually cut, x0 / w .. (x0 + cw) / w -- not the unrounded patch as Caffe does, so boxes and
 * pixels agree exactly. dst->data is allocated (packed); gt_out has room for n_gt entries
 * (may equal gt); *n_out = boxes kept. */
clssd_status clssd__aug_crop(const clssd_aug_image *src, const float patch[4],
                             const clssd_train_gt *gt, size_t n_gt, clssd_aug_image *dst,
                             clssd_train_gt *gt_out, size_t *n_out);

/* Horizontal mirror, in place: pixel x <-> w - 1 - x; boxes xmin' = 1 - xmax,
 * xmax' = 1 - xmin. */
clssd_status clssd__aug_flip(clssd_aug_image *img, clssd_train_gt *gt, size_t n_gt);

#define CLSSD_AUG_MAX_SAMPLERS 16
typedef struct clssd_aug_params {
    int distort; /* 1: apply distort_params */
    clssd_aug_distort_params distort_params;
    float expand_prob, max_expand_ratio; /* 0.5, 4 */
    float mean[3];                       /* expand fill, RGB: 123, 117, 104 */
    clssd_aug_sampler samplers[CLSSD_AUG_MAX_SAMPLERS];
    size_t n_samplers; /* 0: no sampling/crop step */
    float flip_prob;   /* 0.5 */
} clssd_aug_params;
/* ssd_pascal.py's training augmentation. */
void clssd__aug_defaults(clssd_aug_params *p);

/* The whole T4 chain before resize: distort -> expand (p = expand_prob, ratio ~ U[1, max),
 * offsets floor(U[0, W' - w)), floor(U[0, H' - h))) -> batch sample, one of the accepted
 * patches drawn uniformly (none: the whole image), crop -> flip (p = flip_prob).
 * src and gt are not modified. out->data is allocated (packed; the caller frees it with
 * clssd__free); gt_out is the caller's, with room for n_gt entries (no step adds a box);
 * *n_out = boxes left. On error out->data is NULL and nothing is left allocated. */
clssd_status clssd__augment(const clssd_aug_params *p, clssd_rng *rng, const clssd_aug_image *src,
                            const clssd_train_gt *gt, size_t n_gt, clssd_aug_image *out,
                            clssd_train_gt *gt_out, size_t *n_out);

/* ---------------------------------------------------------------- backward references
 * (backward_ref.c) Plain-C gradients of the forward references in src/ref, batch-aware like
 * them. Each takes the forward's clssd_ref_args (node with params and out set by infer, batch,
 * src[0] / src_shape[0], weight, bias, weight_shape; dst is not read) and dy = dL/dy, laid out
 * as the forward's output, and overwrites (does not accumulate into) the gradients it is given.
 * L2Norm and Conv2d sum in double and round to float once; pooling adds the few overlapping
 * windows' shares in float. Weight and bias gradients are summed over the batch.
 * CLSSD_ERR_INVALID_ARG where the forward would refuse the arguments or a required pointer is
 * NULL; CLSSD_ERR_OUT_OF_MEMORY.
 *
 * ReLU: dx = dy where x > 0, negative_slope * dy where x <= 0 (Caffe's ReLU backward: x == 0
 *   takes the slope), and 0 where the capped op (max > 0) clamps, v >= max with v the leaky
 *   output -- exactly at the cap the gradient is 0 (TensorFlow's Relu6Grad; the same rule as
 *   at 0: the flat side owns the tie). dx is required. */
clssd_status clssd__relu_backward_ref(const clssd_ref_args *a, const float *dy, float *dx);

/* Pooling, Caffe's ceil output rule as the forward. MAX: all of an output's gradient goes to
 * its window's argmax (padding excluded), found by the forward's own scan -- row-major, strict
 * >, from -FLT_MAX -- so ties go to the first in scan order (Caffe's max-pool mask does the
 * same); a window holding only -inf / -FLT_MAX / NaN passes none. AVE: dy / pool_size to each
 * in-image cell of the window, pool_size counting the padding cells up to H + ph, W + pw as
 * the forward divides. Overlapping windows add. dx is required. */
clssd_status clssd__pool_backward_ref(const clssd_ref_args *a, const float *dy, float *dx);

/* L2Norm (Normalize), across_spatial 0 or 1, channel_shared or not: with N = sqrt(sum x^2 +
 * eps) over the group (one position's channels / the whole image),
 *   dx_k = s_k dy_k / N - x_k (sum_j s_j dy_j x_j) / N^3,   dscale_c = sum dy_k x_k / N
 * over the elements using scale c (every element when channel_shared) and the batch.
 * dx or dscale (1 or C floats) may be NULL to skip it. */
clssd_status clssd__l2norm_backward_ref(const clssd_ref_args *a, const float *dy, float *dx,
                                        float *dscale);

/* Conv2d with stride, padding (ph_extra / pw_extra included), dilation, groups, bias and the
 * fused ReLU / ReLU6: the pre-activation z is recomputed with clssd__conv2d_ref (activation
 * off) and dy passes where z > 0 and, when relu_max > 0, z < relu_max (ties pass nothing, as
 * clssd__relu_backward_ref). Then dx = sum over outputs of dz * W, dweight [cout][C/groups]
 * [kh][kw] = sum of dz * x over the taps that land in the image, dbias [cout] = sum of dz.
 * dx, dweight, dbias may each be NULL to skip it; a->bias is not needed. */
clssd_status clssd__conv2d_backward_ref(const clssd_ref_args *a, const float *dy, float *dx,
                                        float *dweight, float *dbias);

#endif
