/* T3: Caffe's MineHardExamples, mining_type MAX_NEGATIVE, one image at a time. */
#include <math.h>
#include <stdlib.h>

#include "train.h"

typedef struct mine_cand {
    double loss;
    size_t prior;
} mine_cand;

/* Larger loss first; equal losses by prior index so the choice never depends on qsort
 * (Caffe's std::sort leaves ties in an unspecified order). */
static int by_loss_desc(const void *pa, const void *pb)
{
    const mine_cand *a = pa, *b = pb;
    if (a->loss != b->loss) return a->loss > b->loss ? -1 : 1;
    return a->prior < b->prior ? -1 : (a->prior > b->prior ? 1 : 0);
}

clssd_status clssd__mine_hard_examples(size_t n_priors, const int32_t *match_index,
                                       const float *match_overlap, const double *bg_loss,
                                       float neg_pos_ratio, float neg_overlap, uint8_t *is_neg,
                                       size_t *n_neg)
{
    if (!n_neg || (n_priors > 0 && (!match_index || !match_overlap || !bg_loss || !is_neg)))
        return CLSSD_ERR_INVALID_ARG;
    if (!(neg_pos_ratio >= 0.0f)) return CLSSD_ERR_INVALID_ARG;
    *n_neg = 0;
    size_t n_pos = 0, n_cand = 0;
    for (size_t i = 0; i < n_priors; i++) {
        is_neg[i] = 0;
        if (match_index[i] > -1)
            n_pos++;
        else if (match_overlap[i] < neg_overlap)
            n_cand++;
    }
    /* Caffe: num_sel = min(static_cast<int>(num_pos * neg_pos_ratio), candidates); an image
     * without positives therefore gives no negatives. */
    const double want = floor((double)n_pos * (double)neg_pos_ratio);
    size_t n_sel = want < (double)n_cand ? (size_t)want : n_cand;
    if (n_sel == 0) return CLSSD_OK;

    mine_cand *cand = clssd__malloc(n_cand * sizeof *cand);
    if (!cand) return CLSSD_ERR_OUT_OF_MEMORY;
    for (size_t i = 0, c = 0; i < n_priors; i++)
        if (match_index[i] == -1 && match_overlap[i] < neg_overlap) {
            cand[c].loss = bg_loss[i];
            cand[c].prior = i;
            c++;
        }
    qsort(cand, n_cand, sizeof *cand, by_loss_desc);
    for (size_t c = 0; c < n_sel; c++)
        is_neg[cand[c].prior] = 1;
    *n_neg = n_sel;
    clssd__free(cand);
    return CLSSD_OK;
}
