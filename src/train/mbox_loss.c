/* T1-T3: Caffe's MultiBoxLossLayer (multibox_loss_layer.cpp) forward and backward on the host,
 * with ssd_pascal.py's settings: share_location, background_label_id 0, use_prior_for_matching,
 * PER_PREDICTION matching at 0.5, CENTER_SIZE encoding, SmoothL1 (beta 1) localization, SOFTMAX
 * confidence, MAX_NEGATIVE mining at 3:1 with neg_overlap 0.5, normalization VALID.
 *
 * Everything after the inputs is summed in double: this is the reference the device version
 * is measured against, and the finite-difference test needs a loss smooth to ~1e-12. */
#include <math.h>
#include <string.h>

#include "train.h"

void clssd__mbox_loss_defaults(clssd_mbox_loss_params *p, int32_t n_classes)
{
    memset(p, 0, sizeof *p);
    p->n_classes = n_classes;
    p->background_label = 0;
    p->overlap_threshold = 0.5f;
    p->neg_pos_ratio = 3.0f;
    p->neg_overlap = 0.5f;
    p->loc_weight = 1.0f;
    p->use_difficult_gt = 1;
}

/* log(sum_c exp(z_c)) with the maximum taken out, so large logits cannot overflow; with it
 * -log softmax(z)[c] = lse - z_c never needs Caffe's FLT_MIN clamp to stay finite. */
static double log_sum_exp(const float *z, size_t n)
{
    double m = (double)z[0];
    for (size_t c = 1; c < n; c++)
        if ((double)z[c] > m) m = (double)z[c];
    double s = 0.0;
    for (size_t c = 0; c < n; c++)
        s += exp((double)z[c] - m);
    return m + log(s);
}

/* Adds the softmax cross-entropy of one prior's logits against label to *sum and, when
 * dz is given, its gradient scaled by inv_n: (softmax - onehot) / N. */
static void softmax_ce(const float *z, size_t n, size_t label, double inv_n, double *sum, float *dz)
{
    const double lse = log_sum_exp(z, n);
    *sum += lse - (double)z[label];
    if (!dz) return;
    for (size_t c = 0; c < n; c++) {
        const double prob = exp((double)z[c] - lse);
        dz[c] = (float)((prob - (c == label ? 1.0 : 0.0)) * inv_n);
    }
}

typedef struct loss_scratch {
    clssd_train_gt *img_gt; /* one image's GTs, in gt[] order */
    int32_t *match;         /* [batch][P]: index into that image's GT list, or -1 */
    float *overlap;         /* [P] */
    double *bg_loss;        /* [P] */
    uint8_t *neg;           /* [batch][P] */
} loss_scratch;

static void scratch_free(loss_scratch *s)
{
    clssd__free(s->img_gt);
    clssd__free(s->match);
    clssd__free(s->overlap);
    clssd__free(s->bg_loss);
    clssd__free(s->neg);
}

static clssd_status check_args(const clssd_mbox_loss_params *p, size_t batch, size_t n_priors,
                               const float *loc, const float *conf, const float *priors,
                               const float *variances, const clssd_train_gt *gt, size_t n_gt,
                               const double *loss)
{
    if (!p || !loss || (n_gt > 0 && !gt)) return CLSSD_ERR_INVALID_ARG;
    if (batch > 0 && n_priors > 0 && (!loc || !conf || !priors || !variances))
        return CLSSD_ERR_INVALID_ARG;
    if (p->n_classes < 2 || p->background_label < 0 || p->background_label >= p->n_classes)
        return CLSSD_ERR_INVALID_ARG;
    if (!(p->neg_pos_ratio >= 0.0f) || !(p->overlap_threshold >= 0.0f) || batch > INT32_MAX)
        return CLSSD_ERR_INVALID_ARG;
    for (size_t k = 0; k < n_gt; k++)
        if (gt[k].image < 0 || (size_t)gt[k].image >= batch || gt[k].label < 0 ||
            gt[k].label >= p->n_classes || gt[k].label == p->background_label)
            return CLSSD_ERR_INVALID_ARG;
    return CLSSD_OK;
}

clssd_status clssd__mbox_loss_ref(const clssd_mbox_loss_params *p, size_t batch, size_t n_priors,
                                  const float *loc, const float *conf, const float *priors,
                                  const float *variances, const clssd_train_gt *gt, size_t n_gt,
                                  double *loss, float *dloc, float *dconf,
                                  clssd_mbox_loss_stats *stats)
{
    CLSSD_TRY(check_args(p, batch, n_priors, loc, conf, priors, variances, gt, n_gt, loss));
    const size_t C = (size_t)p->n_classes, bg = (size_t)p->background_label;
    size_t n_all, n_loc, n_conf;
    if (!clssd__mul_size(batch, n_priors, &n_all) || !clssd__mul_size(n_all, 4, &n_loc) ||
        !clssd__mul_size(n_all, C, &n_conf))
        return CLSSD_ERR_INVALID_ARG;
    *loss = 0.0;
    if (stats) memset(stats, 0, sizeof *stats);
    /* unused priors get exactly zero gradient */
    if (dloc && n_loc) memset(dloc, 0, n_loc * sizeof *dloc);
    if (dconf && n_conf) memset(dconf, 0, n_conf * sizeof *dconf);
    if (n_all == 0) return CLSSD_OK;

    loss_scratch s = {0};
    s.img_gt = clssd__malloc((n_gt ? n_gt : 1) * sizeof *s.img_gt);
    s.match = clssd__malloc(n_all * sizeof *s.match);
    s.overlap = clssd__malloc(n_priors * sizeof *s.overlap);
    s.bg_loss = clssd__malloc(n_priors * sizeof *s.bg_loss);
    s.neg = clssd__malloc(n_all);
    if (!s.img_gt || !s.match || !s.overlap || !s.bg_loss || !s.neg) {
        scratch_free(&s);
        return CLSSD_ERR_OUT_OF_MEMORY;
    }

    /* Pass 1, per image: match (T1), then mine (T3) on the background loss of every prior.
     * The positives of the whole batch are needed before any gradient can be scaled. */
    size_t n_pos = 0, n_neg = 0;
    clssd_status st = CLSSD_OK;
    for (size_t b = 0; b < batch && st == CLSSD_OK; b++) {
        size_t g = 0;
        for (size_t k = 0; k < n_gt; k++)
            if ((size_t)gt[k].image == b) s.img_gt[g++] = gt[k];
        int32_t *match = s.match + b * n_priors;
        st = clssd__match_bbox(priors, n_priors, s.img_gt, g, p->overlap_threshold,
                               p->use_difficult_gt, match, s.overlap);
        if (st != CLSSD_OK) break;
        for (size_t i = 0; i < n_priors; i++) {
            const float *z = conf + (b * n_priors + i) * C;
            s.bg_loss[i] = log_sum_exp(z, C) - (double)z[bg];
            if (match[i] > -1) n_pos++;
        }
        size_t img_neg = 0;
        st = clssd__mine_hard_examples(n_priors, match, s.overlap, s.bg_loss, p->neg_pos_ratio,
                                       p->neg_overlap, s.neg + b * n_priors, &img_neg);
        n_neg += img_neg;
    }
    if (st != CLSSD_OK) {
        scratch_free(&s);
        return st;
    }

    /* Pass 2: the terms. Normalization VALID: Caffe's GetNormalizer returns
     * max(1, num_matches) for both the loc and the conf loss, so with no positive (hence no
     * mined negative either) the loss is 0 and nothing is divided by 0. */
    const double inv_n = 1.0 / (double)(n_pos > 0 ? n_pos : 1);
    double loc_sum = 0.0, conf_sum = 0.0;
    for (size_t b = 0; b < batch && st == CLSSD_OK; b++) {
        size_t g = 0;
        for (size_t k = 0; k < n_gt; k++)
            if ((size_t)gt[k].image == b) s.img_gt[g++] = gt[k];
        const int32_t *match = s.match + b * n_priors;
        for (size_t i = 0; i < n_priors; i++) {
            const size_t at = b * n_priors + i;
            const float *z = conf + at * C;
            float *dz = dconf ? dconf + at * C : NULL;
            if (match[i] > -1) {
                const clssd_train_gt *m = &s.img_gt[match[i]];
                softmax_ce(z, C, (size_t)m->label, inv_n, &conf_sum, dz);
                float target[4];
                st = clssd__encode_bbox(priors + 4 * i, variances + 4 * i, m->box, target);
                if (st != CLSSD_OK) break;
                for (size_t d = 0; d < 4; d++) {
                    const double x = (double)loc[4 * at + d] - (double)target[d];
                    const double ax = fabs(x);
                    loc_sum += ax < 1.0 ? 0.5 * x * x : ax - 0.5;
                    if (dloc) {
                        const double dx = ax < 1.0 ? x : (x > 0.0 ? 1.0 : -1.0);
                        dloc[4 * at + d] = (float)((double)p->loc_weight * dx * inv_n);
                    }
                }
            } else if (s.neg[at]) {
                softmax_ce(z, C, bg, inv_n, &conf_sum, dz);
            }
        }
    }
    scratch_free(&s);
    if (st != CLSSD_OK) return st;

    *loss = (conf_sum + (double)p->loc_weight * loc_sum) * inv_n;
    if (stats) {
        stats->n_pos = n_pos;
        stats->n_neg = n_neg;
        stats->loc_loss = loc_sum;
        stats->conf_loss = conf_sum;
    }
    return CLSSD_OK;
}
