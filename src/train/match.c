/* T1: Caffe's MatchBBox (bbox_util.cpp), match_type PER_PREDICTION, for the host reference
 * of training. The scan orders below are Caffe's, so its tie-breaking (first pair found with a
 * strictly larger overlap wins) is reproduced rather than left to chance. */
#include "train.h"

/* Caffe keeps only overlaps above this in its sparse map: a pair at or below it does not
 * exist for either matching step (and leaves match_overlap at 0). */
#define MATCH_MIN_OVERLAP 1e-6f

static float box_area(const float *b)
{
    if (b[2] < b[0] || b[3] < b[1]) return 0.0f;
    return (b[2] - b[0]) * (b[3] - b[1]);
}

/* The same expression, operand for operand, as box_iou in src/ref/nms_ref.c, so that an IoU
 * right at a threshold rounds the same way in training and in detection. */
float clssd__train_iou(const float *a, const float *b)
{
    if (b[0] > a[2] || b[2] < a[0] || b[1] > a[3] || b[3] < a[1]) return 0.0f;
    const float x1 = a[0] > b[0] ? a[0] : b[0], y1 = a[1] > b[1] ? a[1] : b[1];
    const float x2 = a[2] < b[2] ? a[2] : b[2], y2 = a[3] < b[3] ? a[3] : b[3];
    const float inter = (x2 - x1) * (y2 - y1);
    return inter / (box_area(a) + box_area(b) - inter);
}

clssd_status clssd__match_bbox(const float *priors, size_t n_priors, const clssd_train_gt *gt,
                               size_t n_gt, float overlap_threshold, int use_difficult_gt,
                               int32_t *match_index, float *match_overlap)
{
    if ((n_priors > 0 && (!priors || !match_index || !match_overlap)) || (n_gt > 0 && !gt))
        return CLSSD_ERR_INVALID_ARG;
    if (n_gt > (size_t)INT32_MAX) return CLSSD_ERR_INVALID_ARG; /* indices are int32 */
    for (size_t i = 0; i < n_priors; i++) {
        match_index[i] = -1;
        match_overlap[i] = 0.0f;
    }

    /* the GTs taking part, in gt[] order (Caffe's GetGroundTruth drops difficult ones when
     * use_difficult_gt is false, before matching) */
    size_t n_used = 0;
    for (size_t j = 0; j < n_gt; j++)
        if (use_difficult_gt || !gt[j].difficult) n_used++;
    if (n_used == 0 || n_priors == 0) return CLSSD_OK;

    size_t n_cells;
    if (!clssd__mul_size(n_priors, n_used, &n_cells)) return CLSSD_ERR_OUT_OF_MEMORY;
    size_t *used = clssd__malloc(n_used * sizeof *used);
    float *iou = clssd__malloc(n_cells * sizeof *iou); /* [prior][used GT] */
    uint8_t *gt_free = clssd__malloc(n_used);          /* still in Caffe's gt_pool */
    if (!used || !iou || !gt_free) {
        clssd__free(used);
        clssd__free(iou);
        clssd__free(gt_free);
        return CLSSD_ERR_OUT_OF_MEMORY;
    }
    for (size_t j = 0, k = 0; j < n_gt; j++)
        if (use_difficult_gt || !gt[j].difficult) used[k++] = j;

    for (size_t i = 0; i < n_priors; i++)
        for (size_t k = 0; k < n_used; k++) {
            const float o = clssd__train_iou(priors + 4 * i, gt[used[k]].box);
            iou[i * n_used + k] = o;
            if (o > MATCH_MIN_OVERLAP && o > match_overlap[i]) match_overlap[i] = o;
        }

    /* (a) bipartite: each round the largest overlap among unmatched priors and free GTs.
     * Priors ascending, GTs ascending, strict '>': a tie goes to the lower prior index, then
     * to the lower GT index. A round with no pair above 1e-6 ends the step, as in Caffe. */
    for (size_t k = 0; k < n_used; k++)
        gt_free[k] = 1;
    for (size_t round = 0; round < n_used; round++) {
        size_t best_i = 0, best_k = 0;
        float best = -1.0f;
        for (size_t i = 0; i < n_priors; i++) {
            if (match_index[i] != -1) continue;
            for (size_t k = 0; k < n_used; k++) {
                const float o = iou[i * n_used + k];
                if (gt_free[k] && o > MATCH_MIN_OVERLAP && o > best) {
                    best = o;
                    best_i = i;
                    best_k = k;
                }
            }
        }
        if (best < 0.0f) break;
        match_index[best_i] = (int32_t)used[best_k];
        match_overlap[best_i] = best;
        gt_free[best_k] = 0;
    }

    /* (b) per prediction: the rest take their best GT at or above the threshold; every GT
     * counts here, used up in (a) or not. Ties: lower GT index (strict '>'). */
    for (size_t i = 0; i < n_priors; i++) {
        if (match_index[i] != -1) continue;
        size_t best_k = 0;
        float best = -1.0f;
        for (size_t k = 0; k < n_used; k++) {
            const float o = iou[i * n_used + k];
            if (o > MATCH_MIN_OVERLAP && o >= overlap_threshold && o > best) {
                best = o;
                best_k = k;
            }
        }
        if (best >= 0.0f) {
            match_index[i] = (int32_t)used[best_k];
            match_overlap[i] = best;
        }
    }

    clssd__free(used);
    clssd__free(iou);
    clssd__free(gt_free);
    return CLSSD_OK;
}
