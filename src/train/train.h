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

#endif
