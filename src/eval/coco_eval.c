/* COCO's AP@[.5:.95] family, as pycocotools' COCOeval computes it for iouType "bbox" with
 * useCats = 1 (_prepare, computeIoU, evaluateImg, accumulate, summarize); see eval.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clssd_internal.h"
#include "eval/eval.h"

void clssd__coco_params_default(clssd_coco_params *p)
{
    if (!p) return;
    p->max_dets[0] = 1;
    p->max_dets[1] = 10;
    p->max_dets[2] = 100;
    /* areaRng = [[0 ** 2, 1e5 ** 2], [0 ** 2, 32 ** 2], [32 ** 2, 96 ** 2], [96 ** 2, 1e5 ** 2]] */
    p->area_rng[0][0] = 0.0;
    p->area_rng[0][1] = 1e10;
    p->area_rng[1][0] = 0.0;
    p->area_rng[1][1] = 32.0 * 32.0;
    p->area_rng[2][0] = 32.0 * 32.0;
    p->area_rng[2][1] = 96.0 * 96.0;
    p->area_rng[3][0] = 96.0 * 96.0;
    p->area_rng[3][1] = 1e10;
}

void clssd__coco_result_free(clssd_coco_result *r)
{
    if (!r) return;
    clssd__free(r->precision);
    clssd__free(r->recall);
    clssd__free(r->class_ap);
    clssd__free(r->class_ap50);
    memset(r, 0, sizeof *r);
}

/* numpy.linspace(start, stop, num): step = (stop - start) / (num - 1), y[i] = i * step + start,
 * y[num - 1] = stop. */
static void linspace(double start, double stop, int num, double *y)
{
    double step = (stop - start) / (double)(num - 1);
    for (int i = 0; i < num; i++) y[i] = (double)i * step + start;
    y[num - 1] = stop;
}

/* numpy's float64 add.reduce of a contiguous 1-D array, which np.mean uses: pairwise
 * summation (8-way unrolled blocks of up to 128) within chunks of the iterator's buffer
 * size (8192), the chunks added in order to the identity 0. Reproduces pycocotools'
 * np.mean to the last bit with numpy 1.x (numpy 2.2 changed the chunking, which can move
 * the last bit of a mean over more than 8192 entries). */
static double pairwise_sum(const double *a, size_t n)
{
    if (n < 8) {
        double res = 0.0;
        for (size_t i = 0; i < n; i++) res += a[i];
        return res;
    }
    if (n <= 128) {
        double r[8], res;
        size_t i;
        for (int j = 0; j < 8; j++) r[j] = a[j];
        for (i = 8; i < n - (n % 8); i += 8)
            for (int j = 0; j < 8; j++) r[j] += a[i + (size_t)j];
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) res += a[i];
        return res;
    }
    size_t n2 = n / 2;
    n2 -= n2 % 8;
    return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
}

static double np_mean(const double *a, size_t n)
{
    double s = 0.0;
    for (size_t off = 0; off < n; off += 8192) {
        size_t c = n - off < 8192 ? n - off : 8192;
        s += pairwise_sum(a + off, c);
    }
    return s / (double)n;
}

typedef struct coco_gkey {
    int32_t cls, rank; /* rank: the image's place in sorted(imgIds) */
    size_t idx;
} coco_gkey;

typedef struct coco_dkey {
    int32_t cls, rank;
    double score;
    size_t idx;
} coco_dkey;

typedef struct score_key {
    double score;
    size_t idx;
} score_key;

typedef struct img_key {
    int64_t id;
    size_t idx;
} img_key;

static int cmp_img(const void *pa, const void *pb)
{
    const img_key *a = pa, *b = pb;
    if (a->id != b->id) return a->id < b->id ? -1 : 1;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

/* score descending, NaN last (numpy's argsort(-score) puts NaN at the end), then idx */
static int cmp_score(double sa, size_t ia, double sb, size_t ib)
{
    int na = isnan(sa), nb = isnan(sb);
    if (na != nb) return na - nb;
    if (!na) {
        if (sa > sb) return -1;
        if (sa < sb) return 1;
    }
    return (ia > ib) - (ia < ib);
}

static int cmp_gkey(const void *pa, const void *pb)
{
    const coco_gkey *a = pa, *b = pb;
    if (a->cls != b->cls) return a->cls < b->cls ? -1 : 1;
    if (a->rank != b->rank) return a->rank < b->rank ? -1 : 1;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

static int cmp_dkey(const void *pa, const void *pb)
{
    const coco_dkey *a = pa, *b = pb;
    if (a->cls != b->cls) return a->cls < b->cls ? -1 : 1;
    if (a->rank != b->rank) return a->rank < b->rank ? -1 : 1;
    return cmp_score(a->score, a->idx, b->score, b->idx);
}

static int cmp_score_key(const void *pa, const void *pb)
{
    const score_key *a = pa, *b = pb;
    return cmp_score(a->score, a->idx, b->score, b->idx);
}

/* maskApi.c bbIou on [x, y, w, h] boxes derived from [x1, y1, x2, y2]. */
static double bb_iou(const double *db, const double *gb, int crowd)
{
    double dx = db[0], dy = db[1], dw = db[2] - db[0], dh = db[3] - db[1];
    double gx = gb[0], gy = gb[1], gw = gb[2] - gb[0], gh = gb[3] - gb[1];
    double ga = gw * gh, da = dw * dh;
    double w = fmin(dw + dx, gw + gx) - fmax(dx, gx);
    if (w <= 0) return 0.0;
    double h = fmin(dh + dy, gh + gy) - fmax(dy, gy);
    if (h <= 0) return 0.0;
    double i = w * h;
    double u = crowd ? da : da + ga - i;
    return i / u;
}

static double det_area(const clssd_det *d)
{
    return (d->box[2] - d->box[0]) * (d->box[3] - d->box[1]);
}

/* Crowd under COCO: iscrowd; for a VOC ground truth also difficult (see eval.h).
 * pycocotools' _prepare sets ignore := iscrowd, so COCO's own "ignore" (stored as
 * difficult) has no effect there, nor here. */
static int gt_crowd(const clssd_gt_set *gt, const clssd_gt_object *o)
{
    return o->iscrowd || (!gt->is_coco && o->difficult);
}

static int mul3(size_t a, size_t b, size_t c, size_t *out)
{
    size_t t;
    return clssd__mul_size(a, b, &t) && clssd__mul_size(t, c, out);
}

clssd_status clssd__eval_coco(const clssd_gt_set *gt, const clssd_det_set *dets,
                              const clssd_coco_params *p, clssd_coco_result *out)
{
    enum { T = CLSSD_COCO_T, R = CLSSD_COCO_R, A = CLSSD_COCO_A, M = CLSSD_COCO_M };
    if (!out) return CLSSD_ERR_INVALID_ARG;
    memset(out, 0, sizeof *out);
    if (!gt || (gt->n_objects && !gt->objects) || (dets && dets->n && !dets->dets) ||
        (gt->n_images && !gt->images) || gt->n_images > (size_t)INT32_MAX ||
        gt->n_classes > (size_t)INT32_MAX)
        return CLSSD_ERR_INVALID_ARG;
    clssd_coco_params defp;
    if (!p) {
        clssd__coco_params_default(&defp);
        p = &defp;
    }
    /* pycocotools sorts maxDets; here they must come sorted (the m index is their order) */
    for (int m = 0; m < M; m++)
        if (p->max_dets[m] < 0 || (m > 0 && p->max_dets[m] < p->max_dets[m - 1]))
            return CLSSD_ERR_INVALID_ARG;
    const size_t K = gt->n_classes, I = gt->n_images, n_obj = gt->n_objects;
    const size_t ND = dets ? dets->n : 0;
    for (size_t i = 0; i < n_obj; i++) {
        const clssd_gt_object *o = &gt->objects[i];
        if (o->cls < 0 || (size_t)o->cls >= K || o->image < 0 || (size_t)o->image >= I)
            return CLSSD_ERR_INVALID_ARG;
    }
    for (size_t i = 0; i < ND; i++) {
        const clssd_det *d = &dets->dets[i];
        if (d->cls < 0 || (size_t)d->cls >= K || d->image < 0 || (size_t)d->image >= I)
            return CLSSD_ERR_INVALID_ARG;
    }
    const size_t max_det_last = (size_t)p->max_dets[M - 1];

    clssd_status st = CLSSD_ERR_OUT_OF_MEMORY;
    img_key *ik = NULL;
    int32_t *rank = NULL;
    coco_gkey *gk = NULL;
    coco_dkey *dk = NULL;
    size_t *used_off = NULL, *used_cnt = NULL; /* per used image of a class */
    double *scores = NULL, *ious = NULL, *rc = NULL, *pr = NULL, *gather = NULL;
    uint8_t *dtm = NULL, *dtig = NULL; /* [A][N * T] */
    uint8_t *g_ig = NULL, *g_crowd = NULL, *gtm = NULL;
    size_t *g_perm = NULL;
    score_key *sk = NULL;
    size_t bytes, n_prec, n_rec;

    out->n_classes = K;
    linspace(0.5, 0.95, T, out->iou_thrs);
    linspace(0.0, 1.0, R, out->rec_thrs);
    for (int s = 0; s < 12; s++) out->stats[s] = -1.0;

    if (!mul3((size_t)T * R * A * M, K, sizeof(double), &bytes)) goto fail;
    n_prec = bytes / sizeof(double);
    out->precision = clssd__malloc(bytes);
    if (!mul3((size_t)T * A * M, K, sizeof(double), &bytes)) goto fail;
    n_rec = bytes / sizeof(double);
    out->recall = clssd__malloc(bytes);
    out->class_ap = clssd__calloc(K, sizeof(double));
    out->class_ap50 = clssd__calloc(K, sizeof(double));
    if (!out->precision || !out->recall || !out->class_ap || !out->class_ap50) goto fail;
    for (size_t i = 0; i < n_prec; i++) out->precision[i] = -1.0;
    for (size_t i = 0; i < n_rec; i++) out->recall[i] = -1.0;

    /* p.imgIds = sorted(imgIds) */
    ik = clssd__calloc(I, sizeof *ik);
    rank = clssd__calloc(I, sizeof *rank);
    gk = clssd__calloc(n_obj, sizeof *gk);
    dk = clssd__calloc(ND, sizeof *dk);
    if (!ik || !rank || !gk || !dk) goto fail;
    for (size_t i = 0; i < I; i++) {
        ik[i].id = gt->images[i].coco_id;
        ik[i].idx = i;
    }
    qsort(ik, I, sizeof *ik, cmp_img);
    for (size_t i = 0; i < I; i++) rank[ik[i].idx] = (int32_t)i;
    for (size_t i = 0; i < n_obj; i++) {
        gk[i].cls = gt->objects[i].cls;
        gk[i].rank = rank[gt->objects[i].image];
        gk[i].idx = i;
    }
    qsort(gk, n_obj, sizeof *gk, cmp_gkey);
    for (size_t i = 0; i < ND; i++) {
        dk[i].cls = dets->dets[i].cls;
        dk[i].rank = rank[dets->dets[i].image];
        dk[i].score = dets->dets[i].score;
        dk[i].idx = i;
    }
    qsort(dk, ND, sizeof *dk, cmp_dkey);

    /* Sizes: per class, N = the kept detections (at most maxDets[-1] per image), U = the
     * images with ground truth or detections; per image, G and D. */
    size_t max_n = 0, max_u = 0, max_g = 0, max_d = 0;
    {
        size_t gi = 0, di = 0;
        while (gi < n_obj || di < ND) {
            int32_t c;
            if (gi < n_obj && (di >= ND || gk[gi].cls <= dk[di].cls))
                c = gk[gi].cls;
            else
                c = dk[di].cls;
            size_t n = 0, u = 0;
            for (;;) {
                int gin = gi < n_obj && gk[gi].cls == c, din = di < ND && dk[di].cls == c;
                if (!gin && !din) break;
                int32_t r;
                if (gin && (!din || gk[gi].rank <= dk[di].rank))
                    r = gk[gi].rank;
                else
                    r = dk[di].rank;
                size_t g = 0, d = 0;
                while (gi < n_obj && gk[gi].cls == c && gk[gi].rank == r) gi++, g++;
                while (di < ND && dk[di].cls == c && dk[di].rank == r) di++, d++;
                if (d > max_det_last) d = max_det_last;
                n += d;
                u++;
                if (g > max_g) max_g = g;
                if (d > max_d) max_d = d;
            }
            if (n > max_n) max_n = n;
            if (u > max_u) max_u = u;
        }
    }
    used_off = clssd__calloc(max_u, sizeof(size_t));
    used_cnt = clssd__calloc(max_u, sizeof(size_t));
    scores = clssd__calloc(max_n, sizeof(double));
    rc = clssd__calloc(max_n, sizeof(double));
    pr = clssd__calloc(max_n, sizeof(double));
    sk = clssd__calloc(max_n, sizeof *sk);
    if (!mul3(max_n, T, A, &bytes)) goto fail;
    dtm = clssd__calloc(bytes, 1);
    dtig = clssd__calloc(bytes, 1);
    if (!mul3(max_d, max_g, sizeof(double), &bytes)) goto fail;
    ious = clssd__malloc(bytes);
    g_ig = clssd__calloc(max_g, 1);
    g_crowd = clssd__calloc(max_g, 1);
    gtm = clssd__calloc(max_g, 1);
    g_perm = clssd__calloc(max_g, sizeof(size_t));
    if (!mul3((size_t)T * R, K, sizeof(double), &bytes)) goto fail;
    gather = clssd__malloc(bytes);
    if (!used_off || !used_cnt || !scores || !rc || !pr || !sk || !dtm || !dtig || !ious ||
        !g_ig || !g_crowd || !gtm || !g_perm || !gather)
        goto fail;

    size_t gi = 0, di = 0;
    for (size_t k = 0; k < K; k++) {
        size_t npig[A] = {0};
        size_t n = 0, u = 0;
        /* ------------------------------------------------ evaluateImg for each image */
        for (;;) {
            int gin = gi < n_obj && gk[gi].cls == (int32_t)k;
            int din = di < ND && dk[di].cls == (int32_t)k;
            if (!gin && !din) break;
            int32_t r;
            if (gin && (!din || gk[gi].rank <= dk[di].rank))
                r = gk[gi].rank;
            else
                r = dk[di].rank;
            const coco_gkey *gg = gk + gi;
            const coco_dkey *dd = dk + di;
            size_t G = 0, D = 0;
            while (gi < n_obj && gk[gi].cls == (int32_t)k && gk[gi].rank == r) gi++, G++;
            while (di < ND && dk[di].cls == (int32_t)k && dk[di].rank == r) di++, D++;
            if (D > max_det_last) D = max_det_last;
            used_off[u] = n;
            used_cnt[u] = D;
            u++;
            for (size_t d = 0; d < D; d++) scores[n + d] = dd[d].score;
            /* computeIoU: ious[d, g] in the ground truths' file order */
            for (size_t d = 0; d < D; d++)
                for (size_t g = 0; g < G; g++) {
                    const clssd_gt_object *o = &gt->objects[gg[g].idx];
                    ious[d * G + g] =
                        bb_iou(dets->dets[dd[d].idx].box, o->box, gt_crowd(gt, o));
                }
            for (int a = 0; a < A; a++) {
                const double lo = p->area_rng[a][0], hi = p->area_rng[a][1];
                /* _ignore, and the ground truths sorted with ignored ones last (stable) */
                size_t ng = 0;
                for (int pass = 0; pass < 2; pass++)
                    for (size_t g = 0; g < G; g++) {
                        const clssd_gt_object *o = &gt->objects[gg[g].idx];
                        int crowd = gt_crowd(gt, o);
                        int ig = crowd || o->area < lo || o->area > hi;
                        if (ig != pass) continue;
                        g_perm[ng] = g;
                        g_ig[ng] = (uint8_t)ig;
                        g_crowd[ng] = (uint8_t)crowd;
                        ng++;
                        if (!ig) npig[a]++;
                    }
                uint8_t *m_a = dtm + (size_t)a * max_n * T, *ig_a = dtig + (size_t)a * max_n * T;
                for (int t = 0; t < T; t++) {
                    memset(gtm, 0, G);
                    for (size_t d = 0; d < D; d++) {
                        double iou = fmin(out->iou_thrs[t], 1 - 1e-10);
                        long mm = -1;
                        for (size_t g = 0; g < G; g++) {
                            if (gtm[g] && !g_crowd[g]) continue;
                            if (mm > -1 && g_ig[(size_t)mm] == 0 && g_ig[g] == 1) break;
                            double v = ious[d * G + g_perm[g]];
                            if (v < iou) continue;
                            iou = v;
                            mm = (long)g;
                        }
                        size_t at = (n + d) * T + (size_t)t;
                        if (mm == -1) {
                            m_a[at] = 0;
                            ig_a[at] = 0;
                        } else {
                            ig_a[at] = g_ig[(size_t)mm];
                            m_a[at] = 1;
                            gtm[(size_t)mm] = 1;
                        }
                    }
                }
                /* unmatched detections outside the area range are ignored */
                for (size_t d = 0; d < D; d++) {
                    double ar = det_area(&dets->dets[dd[d].idx]);
                    int out_rng = ar < lo || ar > hi;
                    for (int t = 0; t < T; t++) {
                        size_t at = (n + d) * T + (size_t)t;
                        if (!m_a[at] && out_rng) ig_a[at] = 1;
                    }
                }
            }
            n += D;
        }
        if (u == 0) continue; /* no image has ground truth or detections of k */
        /* ------------------------------------------------ accumulate */
        for (int a = 0; a < A; a++) {
            if (npig[a] == 0) continue;
            const uint8_t *m_a = dtm + (size_t)a * max_n * T, *ig_a = dtig + (size_t)a * max_n * T;
            for (int m = 0; m < M; m++) {
                size_t md = (size_t)p->max_dets[m], nd = 0;
                for (size_t e = 0; e < u; e++) {
                    size_t c = used_cnt[e] < md ? used_cnt[e] : md;
                    for (size_t j = 0; j < c; j++) {
                        sk[nd].idx = used_off[e] + j; /* increasing in concatenation order */
                        sk[nd].score = scores[used_off[e] + j];
                        nd++;
                    }
                }
                qsort(sk, nd, sizeof *sk, cmp_score_key);
                for (int t = 0; t < T; t++) {
                    double tp = 0.0, fp = 0.0;
                    for (size_t i = 0; i < nd; i++) {
                        size_t at = sk[i].idx * T + (size_t)t;
                        if (!ig_a[at]) {
                            if (m_a[at])
                                tp += 1.0;
                            else
                                fp += 1.0;
                        }
                        rc[i] = tp / (double)npig[a];
                        pr[i] = tp / (fp + tp + 2.220446049250313e-16); /* np.spacing(1) */
                    }
                    out->recall[(((size_t)t * K + k) * A + (size_t)a) * M + (size_t)m] =
                        nd ? rc[nd - 1] : 0.0;
                    for (size_t i = nd; i-- > 1;)
                        if (pr[i] > pr[i - 1]) pr[i - 1] = pr[i];
                    size_t pi = 0; /* searchsorted(rc, recThrs, 'left'): rc non-decreasing */
                    for (int ri = 0; ri < R; ri++) {
                        while (pi < nd && rc[pi] < out->rec_thrs[ri]) pi++;
                        double q = pi < nd ? pr[pi] : 0.0; /* past the end: stays 0 */
                        out->precision[((((size_t)t * R + (size_t)ri) * K + k) * A + (size_t)a) *
                                           M +
                                       (size_t)m] = q;
                    }
                }
            }
        }
    }

    /* ------------------------------------------------ summarize */
    {
        /* AP over all T (or one t), all R, all K, one area, one maxDets; AR likewise */
        for (int s = 0; s < 12; s++) {
            int is_ap = s < 6;
            int t_only = -1, a = 0, m = M - 1;
            switch (s) {
            case 1: t_only = 0; break;
            case 2: t_only = 5; break; /* iouThrs[5] == 0.75 */
            case 3: case 9: a = 1; break;
            case 4: case 10: a = 2; break;
            case 5: case 11: a = 3; break;
            case 6: m = 0; break;
            case 7: m = 1; break;
            default: break;
            }
            size_t cnt = 0;
            for (int t = 0; t < T; t++) {
                if (t_only >= 0 && t != t_only) continue;
                if (is_ap) {
                    for (int ri = 0; ri < R; ri++)
                        for (size_t k = 0; k < K; k++) {
                            double v = out->precision[((((size_t)t * R + (size_t)ri) * K + k) *
                                                           A +
                                                       (size_t)a) *
                                                          M +
                                                      (size_t)m];
                            if (v > -1) gather[cnt++] = v;
                        }
                } else {
                    for (size_t k = 0; k < K; k++) {
                        double v = out->recall[(((size_t)t * K + k) * A + (size_t)a) * M +
                                               (size_t)m];
                        if (v > -1) gather[cnt++] = v;
                    }
                }
            }
            out->stats[s] = cnt ? np_mean(gather, cnt) : -1.0;
        }
        for (size_t k = 0; k < K; k++) {
            for (int pass = 0; pass < 2; pass++) {
                size_t cnt = 0;
                for (int t = 0; t < (pass ? 1 : T); t++)
                    for (int ri = 0; ri < R; ri++) {
                        double v =
                            out->precision[((((size_t)t * R + (size_t)ri) * K + k) * A + 0) * M +
                                           (size_t)(M - 1)];
                        if (v > -1) gather[cnt++] = v;
                    }
                double mean = cnt ? np_mean(gather, cnt) : -1.0;
                if (pass)
                    out->class_ap50[k] = mean;
                else
                    out->class_ap[k] = mean;
            }
        }
    }
    st = CLSSD_OK;
    goto done;
fail:
    clssd__coco_result_free(out);
done:
    clssd__free(ik);
    clssd__free(rank);
    clssd__free(gk);
    clssd__free(dk);
    clssd__free(used_off);
    clssd__free(used_cnt);
    clssd__free(scores);
    clssd__free(rc);
    clssd__free(pr);
    clssd__free(sk);
    clssd__free(dtm);
    clssd__free(dtig);
    clssd__free(ious);
    clssd__free(g_ig);
    clssd__free(g_crowd);
    clssd__free(gtm);
    clssd__free(g_perm);
    clssd__free(gather);
    return st;
}
