/* PASCAL VOC average precision, as VOCdevkit's VOCevaldet.m and VOCap.m compute it (rules
 * E1-E4 of shared/docs/conformance.md; see eval.h for the rules themselves). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clssd_internal.h"
#include "eval/eval.h"

void clssd__voc_params_default(clssd_voc_params *p)
{
    if (!p) return;
    p->use_07_metric = 1;
    p->iou_ge = 0;
    p->iou_thresh = 0.5;
}

/* MATLAB's max over a vector ignores NaN; fmax does the same for two values. */
double clssd__voc_ap_11pt(const double *recall, const double *precision, size_t n)
{
    double ap = 0.0;
    for (int k = 0; k <= 10; k++) {
        /* 0:0.1:1 as MATLAB's colon builds it: from the start below the middle, from the
         * end above it, the middle as (a + b) / 2. */
        double t;
        if (k < 5)
            t = (double)k * 0.1;
        else if (k == 5)
            t = (0.0 + 1.0) / 2.0;
        else
            t = 1.0 - (double)(10 - k) * 0.1;
        double p = NAN;
        int any = 0;
        for (size_t i = 0; i < n; i++) {
            if (recall[i] >= t) {
                any = 1;
                p = fmax(p, precision[i]);
            }
        }
        /* Empty: 0 (the devkit). All NaN (every detection so far matched a difficult
         * object, 0/0): MATLAB would give NaN; 0 here, as voc_eval.py (see eval.h). */
        if (!any || isnan(p)) p = 0.0;
        ap = ap + p / 11.0;
    }
    return ap;
}

/* VOCap.m: mrec = [0; rec; 1], mpre = [0; prec; 0]; mpre(i) = max(mpre(i), mpre(i + 1)) from
 * the right; sum over the recall steps of (mrec(i) - mrec(i-1)) * mpre(i), added left to
 * right. env: n doubles of workspace for the envelope at the n points (NULL: the same sum
 * formed right to left, equal up to rounding; used only when no workspace could be had). */
static double ap_area(const double *recall, const double *precision, size_t n, double *env)
{
    double ap = 0.0;
    if (!env) {
        double e = 0.0; /* mpre(n + 2) */
        double next_rec = 1.0;
        for (size_t i = n; i-- > 0;) {
            /* the padding point after i: its term uses mrec(i+1) vs recall[i] */
            if (next_rec != recall[i]) ap = ap + (next_rec - recall[i]) * e;
            e = fmax(e, precision[i]);
            next_rec = recall[i];
        }
        if (next_rec != 0.0) ap = ap + (next_rec - 0.0) * e;
        return ap;
    }
    double e = 0.0;
    for (size_t i = n; i-- > 0;) {
        e = fmax(e, precision[i]); /* fmax, as MATLAB's max, ignores NaN (0/0 points) */
        env[i] = e;
    }
    double prev = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (recall[i] != prev) ap = ap + (recall[i] - prev) * env[i];
        prev = recall[i];
    }
    if (1.0 != prev) ap = ap + (1.0 - prev) * 0.0;
    return ap;
}

double clssd__voc_ap_area(const double *recall, const double *precision, size_t n)
{
    size_t bytes;
    double *env = NULL;
    if (n > 0 && clssd__mul_size(n, sizeof(double), &bytes)) env = clssd__malloc(bytes);
    double ap = ap_area(recall, precision, n, env);
    clssd__free(env);
    return ap;
}

/* ------------------------------------------------------------------ matching */
typedef struct voc_key {
    double score;
    size_t idx;
} voc_key;

/* Score descending, NaN last (MATLAB's sort(-confidence) and numpy's argsort put NaN at the
 * end), equal scores in input order: a stable order from an unstable qsort. */
static int cmp_score_desc(const void *pa, const void *pb)
{
    const voc_key *a = pa, *b = pb;
    int na = isnan(a->score), nb = isnan(b->score);
    if (na != nb) return na - nb;
    if (!na) {
        if (a->score > b->score) return -1;
        if (a->score < b->score) return 1;
    }
    return (a->idx > b->idx) - (a->idx < b->idx);
}

/* Ground-truth objects ordered by (class, image, file position). */
typedef struct voc_gkey {
    int32_t cls, image;
    size_t idx;
} voc_gkey;

static int cmp_gkey(const void *pa, const void *pb)
{
    const voc_gkey *a = pa, *b = pb;
    if (a->cls != b->cls) return a->cls < b->cls ? -1 : 1;
    if (a->image != b->image) return a->image < b->image ? -1 : 1;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

/* [lo, hi) of the sorted keys holding class c, image img. */
static void gt_range(const voc_gkey *g, size_t n, int32_t c, int32_t img, size_t *lo,
                     size_t *hi)
{
    size_t a = 0, b = n;
    while (a < b) { /* first with (cls, image) >= (c, img) */
        size_t m = a + (b - a) / 2;
        if (g[m].cls < c || (g[m].cls == c && g[m].image < img))
            a = m + 1;
        else
            b = m;
    }
    *lo = a;
    b = n;
    while (a < b) { /* first with (cls, image) > (c, img) */
        size_t m = a + (b - a) / 2;
        if (g[m].cls < c || (g[m].cls == c && g[m].image <= img))
            a = m + 1;
        else
            b = m;
    }
    *hi = a;
}

void clssd__voc_result_free(clssd_voc_result *r)
{
    if (!r) return;
    if (r->classes) {
        for (size_t c = 0; c < r->n_classes; c++) {
            clssd__free(r->classes[c].recall);
            clssd__free(r->classes[c].precision);
        }
        clssd__free(r->classes);
    }
    memset(r, 0, sizeof *r);
}

static int gt_is_difficult(const clssd_gt_object *o)
{
    return o->difficult || o->iscrowd;
}

/* The devkit's overlap of detection box bb with ground truth gt, both already on VOC
 * pixels [x1 + 1, y1 + 1, x2, y2]; 0 when they do not intersect (iw or ih <= 0). */
static int voc_overlap(const double *bb, const double *bbgt, double *ov)
{
    double bi0 = bb[0] > bbgt[0] ? bb[0] : bbgt[0];
    double bi1 = bb[1] > bbgt[1] ? bb[1] : bbgt[1];
    double bi2 = bb[2] < bbgt[2] ? bb[2] : bbgt[2];
    double bi3 = bb[3] < bbgt[3] ? bb[3] : bbgt[3];
    double iw = bi2 - bi0 + 1.0;
    double ih = bi3 - bi1 + 1.0;
    if (!(iw > 0.0 && ih > 0.0)) return 0;
    double ua = (bb[2] - bb[0] + 1.0) * (bb[3] - bb[1] + 1.0) +
                (bbgt[2] - bbgt[0] + 1.0) * (bbgt[3] - bbgt[1] + 1.0) - iw * ih;
    *ov = iw * ih / ua;
    return 1;
}

static void to_voc_pixels(const double *box, double *bb)
{
    bb[0] = box[0] + 1.0;
    bb[1] = box[1] + 1.0;
    bb[2] = box[2];
    bb[3] = box[3];
}

clssd_status clssd__eval_voc(const clssd_gt_set *gt, const clssd_det_set *dets,
                             const clssd_voc_params *p, clssd_voc_result *out)
{
    if (!out) return CLSSD_ERR_INVALID_ARG;
    memset(out, 0, sizeof *out);
    if (!gt || (gt->n_objects && !gt->objects) || (dets && dets->n && !dets->dets))
        return CLSSD_ERR_INVALID_ARG;
    clssd_voc_params defp;
    if (!p) {
        clssd__voc_params_default(&defp);
        p = &defp;
    }
    const size_t n_dets_all = dets ? dets->n : 0;
    const size_t K = gt->n_classes;
    for (size_t i = 0; i < gt->n_objects; i++) {
        const clssd_gt_object *o = &gt->objects[i];
        if (o->cls < 0 || (size_t)o->cls >= K || o->image < 0 ||
            (size_t)o->image >= gt->n_images)
            return CLSSD_ERR_INVALID_ARG;
    }
    for (size_t i = 0; i < n_dets_all; i++) {
        const clssd_det *d = &dets->dets[i];
        if (d->cls < 0 || (size_t)d->cls >= K || d->image < 0 ||
            (size_t)d->image >= gt->n_images)
            return CLSSD_ERR_INVALID_ARG;
    }

    clssd_status st = CLSSD_ERR_OUT_OF_MEMORY;
    voc_gkey *gk = NULL;
    const size_t n_obj = gt->n_objects;
    voc_key *keys = NULL;
    size_t *det_off = NULL; /* K + 1 offsets into keys, by class */
    uint8_t *taken = NULL;  /* gt(i).det */
    double *env = NULL;
    size_t bytes;

    out->n_classes = K;
    out->map = NAN;
    if (K) {
        if (!clssd__mul_size(K, sizeof *out->classes, &bytes)) goto fail;
        out->classes = clssd__calloc(K, sizeof *out->classes);
        if (!out->classes) goto fail;
    }
    if (!clssd__mul_size(n_obj, sizeof *gk, &bytes)) goto fail;
    gk = clssd__malloc(bytes);
    taken = clssd__calloc(gt->n_objects, 1);
    if (!clssd__mul_size(n_dets_all, sizeof(voc_key), &bytes)) goto fail;
    keys = clssd__malloc(bytes);
    det_off = clssd__calloc(K + 1, sizeof(size_t));
    if (!gk || !taken || !keys || !det_off) goto fail;

    for (size_t i = 0; i < n_obj; i++) {
        gk[i].cls = gt->objects[i].cls;
        gk[i].image = gt->objects[i].image;
        gk[i].idx = i;
    }
    qsort(gk, n_obj, sizeof *gk, cmp_gkey);

    /* detections grouped by class (counting sort, stable), then by score within a class */
    for (size_t i = 0; i < n_dets_all; i++) det_off[(size_t)dets->dets[i].cls + 1]++;
    for (size_t c = 0; c < K; c++) det_off[c + 1] += det_off[c];
    {
        size_t *fill = NULL;
        if (K) {
            fill = clssd__malloc(K * sizeof(size_t)); /* K <= K + 1 was allocated above */
            if (!fill) goto fail;
            memcpy(fill, det_off, K * sizeof(size_t));
        }
        for (size_t i = 0; i < n_dets_all; i++) {
            size_t c = (size_t)dets->dets[i].cls;
            keys[fill[c]].score = dets->dets[i].score;
            keys[fill[c]].idx = i;
            fill[c]++;
        }
        clssd__free(fill);
    }
    size_t max_nd = 0;
    for (size_t c = 0; c < K; c++) {
        size_t nd = det_off[c + 1] - det_off[c];
        if (nd > max_nd) max_nd = nd;
        qsort(keys + det_off[c], nd, sizeof *keys, cmp_score_desc);
    }
    if (max_nd) {
        if (!clssd__mul_size(max_nd, sizeof(double), &bytes)) goto fail;
        env = clssd__malloc(bytes);
        if (!env) goto fail;
    }

    double ap_sum = 0.0;
    for (size_t c = 0; c < K; c++) {
        clssd_voc_class_result *cr = &out->classes[c];
        const size_t lo_c = det_off[c], nd = det_off[c + 1] - det_off[c];
        /* npos */
        size_t glo, ghi;
        gt_range(gk, n_obj, (int32_t)c, 0, &glo, &ghi);
        size_t npos = 0;
        for (size_t j = glo; j < n_obj && gk[j].cls == (int32_t)c; j++)
            if (!gt_is_difficult(&gt->objects[gk[j].idx])) npos++;
        cr->npos = npos;
        cr->n_dets = nd;
        if (nd && npos) {
            if (!clssd__mul_size(nd, sizeof(double), &bytes)) goto fail;
            cr->recall = clssd__malloc(bytes);
            cr->precision = clssd__malloc(bytes);
            if (!cr->recall || !cr->precision) goto fail;
        }
        double tp = 0.0, fp = 0.0; /* cumsum(tp), cumsum(fp) */
        for (size_t d = 0; d < nd; d++) {
            const clssd_det *det = &dets->dets[keys[lo_c + d].idx];
            double bb[4];
            to_voc_pixels(det->box, bb);
            gt_range(gk, n_obj, (int32_t)c, det->image, &glo, &ghi);
            double ovmax = -INFINITY;
            size_t jmax = 0;
            int found = 0;
            for (size_t j = glo; j < ghi; j++) {
                double bbgt[4], ov;
                to_voc_pixels(gt->objects[gk[j].idx].box, bbgt);
                if (voc_overlap(bb, bbgt, &ov) && ov > ovmax) {
                    ovmax = ov;
                    jmax = gk[j].idx;
                    found = 1;
                }
            }
            /* found: the devkit's jmax exists (a threshold of -inf would otherwise "match"
             * a detection that overlaps nothing, where MATLAB stops with an error) */
            int match = found && (p->iou_ge ? ovmax >= p->iou_thresh : ovmax > p->iou_thresh);
            if (match) {
                if (!gt_is_difficult(&gt->objects[jmax])) {
                    if (!taken[jmax]) {
                        tp += 1.0;
                        cr->n_tp++;
                        taken[jmax] = 1;
                    } else {
                        fp += 1.0; /* duplicate */
                        cr->n_fp++;
                    }
                } /* difficult: neither */
            } else {
                fp += 1.0;
                cr->n_fp++;
            }
            if (cr->recall) {
                cr->recall[d] = tp / (double)npos;
                cr->precision[d] = tp / (fp + tp);
            }
        }
        if (npos == 0) {
            cr->ap = NAN;
            continue;
        }
        if (p->use_07_metric)
            cr->ap = clssd__voc_ap_11pt(cr->recall, cr->precision, cr->recall ? nd : 0);
        else
            cr->ap = ap_area(cr->recall, cr->precision, cr->recall ? nd : 0, env);
        ap_sum += cr->ap;
        out->n_classes_in_map++;
    }
    if (out->n_classes_in_map) out->map = ap_sum / (double)out->n_classes_in_map;
    st = CLSSD_OK;
    goto done;
fail:
    clssd__voc_result_free(out);
done:
    clssd__free(gk);
    clssd__free(taken);
    clssd__free(keys);
    clssd__free(det_off);
    clssd__free(env);
    return st;
}
