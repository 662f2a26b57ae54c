/* Reference NMS: Caffe's DetectionOutput CPU path with share_location = true and eta = 1
 * (D3, D4, D5, D7). Per class: candidates with score > conf_thresh, stable descending sort
 * (ties: lower prior index), top_k, greedy NMS keeping a box whose IoU with every kept box
 * of the class is <= nms_thresh. Then keep_top_k over all classes by score (ties: lower
 * label, then lower prior index), output grouped by ascending label. The device must
 * reproduce this exactly, so every order is total. */
#include <stdlib.h>
#include <string.h>

#include "clssd_internal.h"

typedef struct nms_det {
    float score;
    int32_t label, idx;
} nms_det;

/* score descending, then label, then prior index ascending: a total order, so qsort's
 * instability cannot show. Within one class it is Caffe's stable_sort on the score. */
static int by_score(const void *pa, const void *pb)
{
    const nms_det *a = pa, *b = pb;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    if (a->label != b->label) return a->label < b->label ? -1 : 1;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

/* the output order: label ascending, then the NMS order inside the label */
static int by_label(const void *pa, const void *pb)
{
    const nms_det *a = pa, *b = pb;
    if (a->label != b->label) return a->label < b->label ? -1 : 1;
    return by_score(pa, pb);
}

/* Caffe's BBoxSize for normalized boxes: no +1, empty when inverted. */
static float box_area(const float *b)
{
    if (b[2] < b[0] || b[3] < b[1]) return 0.0f;
    return (b[2] - b[0]) * (b[3] - b[1]);
}

/* Caffe's JaccardOverlap on normalized floats (the form of its GPU helper, docs/ops.md). */
static float box_iou(const float *a, const float *b)
{
    if (b[0] > a[2] || b[2] < a[0] || b[1] > a[3] || b[3] < a[1]) return 0.0f;
    const float x1 = a[0] > b[0] ? a[0] : b[0], y1 = a[1] > b[1] ? a[1] : b[1];
    const float x2 = a[2] < b[2] ? a[2] : b[2], y2 = a[3] < b[3] ? a[3] : b[3];
    const float inter = (x2 - x1) * (y2 - y1);
    return inter / (box_area(a) + box_area(b) - inter);
}

clssd_status clssd__nms_ref(const clssd_ref_args *a)
{
    const clssd_node *n = a->node;
    const __typeof__(n->p.nms) *p = &n->p.nms;
    if (a->n_src < 2 || !a->src[0] || !a->src[1] || !a->dst || a->batch < 1)
        return CLSSD_ERR_INVALID_ARG;
    /* keep_top_k < 0 (Caffe: unlimited) would leave the output unbounded; the row count is
     * part of the node's shape, so it must be given */
    if (p->n_classes < 1 || p->background < -1 || p->background >= p->n_classes ||
        p->keep_top_k < 1)
        return CLSSD_ERR_INVALID_ARG;
    const size_t n_box = clssd__shape_count(&a->src_shape[0]);
    if (n_box == 0 || n_box % 4 != 0 || n_box / 4 > INT32_MAX) return CLSSD_ERR_INVALID_ARG;
    const size_t P = n_box / 4, C = (size_t)p->n_classes;
    size_t n_conf;
    if (!clssd__mul_size(P, C, &n_conf) || clssd__shape_count(&a->src_shape[1]) != n_conf)
        return CLSSD_ERR_INVALID_ARG;
    const size_t rows = (size_t)p->keep_top_k + 1, per = rows * CLSSD_NMS_ROW;
    if (clssd__shape_count(&n->out) != per) return CLSSD_ERR_INVALID_ARG;

    /* at most min(top_k, P) survivors per class */
    const size_t per_class = p->top_k >= 0 && (size_t)p->top_k < P ? (size_t)p->top_k : P;
    const size_t n_cls = C - (p->background >= 0 ? 1u : 0u);
    size_t cap;
    if (!clssd__mul_size(per_class, n_cls, &cap) || !clssd__mul_size(cap, sizeof(nms_det), &cap))
        return CLSSD_ERR_OUT_OF_MEMORY;
    nms_det *cand = clssd__malloc(P * sizeof *cand);
    nms_det *dets = clssd__malloc(cap);
    if (!cand || !dets) {
        clssd__free(cand);
        clssd__free(dets);
        return CLSSD_ERR_OUT_OF_MEMORY;
    }

    for (int32_t b = 0; b < a->batch; b++) {
        const float *boxes = a->src[0] + (size_t)b * n_box;
        const float *conf = a->src[1] + (size_t)b * n_conf;
        float *out = a->dst + (size_t)b * per;
        size_t n_det = 0;
        for (size_t c = 0; c < C; c++) {
            if ((int32_t)c == p->background) continue;
            size_t n_cand = 0;
            for (size_t i = 0; i < P; i++) {
                const float s = conf[i * C + c];
                if (s > p->conf_thresh) cand[n_cand++] = (nms_det){s, (int32_t)c, (int32_t)i};
            }
            qsort(cand, n_cand, sizeof *cand, by_score);
            if (n_cand > per_class) n_cand = per_class;
            const size_t first = n_det; /* this class's kept boxes are dets[first..n_det) */
            for (size_t k = 0; k < n_cand; k++) {
                const float *bk = boxes + 4 * (size_t)cand[k].idx;
                int keep = 1;
                for (size_t j = first; j < n_det && keep; j++)
                    keep = box_iou(bk, boxes + 4 * (size_t)dets[j].idx) <= p->nms_thresh;
                if (keep) dets[n_det++] = cand[k];
            }
        }
        if (n_det > (size_t)p->keep_top_k) {
            qsort(dets, n_det, sizeof *dets, by_score);
            n_det = (size_t)p->keep_top_k;
            qsort(dets, n_det, sizeof *dets, by_label);
        }
        memset(out, 0, per * sizeof(float));
        out[0] = (float)n_det;
        for (size_t k = 0; k < n_det; k++) {
            float *row = out + (k + 1) * CLSSD_NMS_ROW;
            const float *bx = boxes + 4 * (size_t)dets[k].idx;
            row[0] = (float)dets[k].label;
            row[1] = dets[k].score;
            row[2] = bx[0];
            row[3] = bx[1];
            row[4] = bx[2];
            row[5] = bx[3];
            row[6] = (float)dets[k].idx;
        }
    }
    clssd__free(cand);
    clssd__free(dets);
    return CLSSD_OK;
}
