/* Accuracy metrics (issue 7): PASCAL VOC AP (VOC2007 11-point and VOC2010+ area) and the COCO
 * API's AP@[.5:.95] family, computed exactly as the official tools do; rules E1-E7 of
 * shared/docs/conformance.md. Plain C, no OpenCL; inputs are the sets of src/data/dataset.h.
 *
 * VOC, as VOCdevkit's VOCevaldet.m (and VOCap.m / the VOC2007 11-point loop):
 *   - per class, detections sorted by score, highest first; equal scores keep file order
 *     (MATLAB's sort is stable);
 *   - each detection takes the ground truth of its image and class with the largest IoU,
 *     IoU computed on VOC pixels: boxes [x1 + 1, y1 + 1, x2, y2] of dataset.h's continuous
 *     boxes, widths x2 - x1 + 1, intersection counted only when iw > 0 and ih > 0, ties to
 *     the first ground truth (a strict > scan);
 *   - a match needs IoU > 0.5 (the VOC criterion text and voc_eval.py), or >= 0.5 with
 *     iou_ge (what VOCevaldet.m's `ovmax >= VOCopts.minoverlap` does);
 *   - matched to a difficult ground truth: neither TP nor FP; to one already taken: FP
 *     (duplicate); no match: FP. Difficult (or crowd) objects are not counted in npos;
 *   - VOC07: 11 thresholds t built as MATLAB's 0:0.1:1 builds them (k*0.1 for k <= 5,
 *     1 - (10-k)*0.1 above), AP = mean over t of max(precision at recall >= t), 0 if none;
 *     VOC2010+: area under the monotone precision envelope at the recall steps.
 *   - a class with npos = 0 has no AP (NaN) and is left out of the mean.
 *   - precision is tp / (fp + tp) as the devkit forms it, so points before the first TP or
 *     FP (only difficult matches so far) hold NaN (0/0); both AP definitions skip NaN as
 *     MATLAB's max does. Where every point is NaN, MATLAB's 11-point AP would be NaN; here it
 *     is 0 (voc_eval.py's value; the area AP is 0 there anyway).
 *   - a detection's image / class and a ground truth's must be valid indices
 *     (CLSSD_ERR_INVALID_ARG otherwise); NaN scores sort last (MATLAB and numpy both do).
 *
 * COCO, as pycocotools' COCOeval (iouType bbox, useCats 1):
 *   - IoU on continuous boxes (no +1); for a crowd ground truth the union is the detection's
 *     area; iouThrs = linspace(.5, .95, 10), recThrs = linspace(0, 1, 101) as numpy builds
 *     them; maxDets 1/10/100 per image and category; areaRng all/small/medium/large =
 *     [0, 1e10], [0, 32^2], [32^2, 96^2], [96^2, 1e10] on the ground truth's "area" and the
 *     detection's w*h;
 *   - matching per threshold, detections by score (stable), ground truths with ignored ones
 *     last, a crowd ground truth may match many detections, a match to an ignored ground
 *     truth ignores the detection, unmatched detections outside the area range are ignored;
 *   - precision envelope, then precision at each recall threshold by searchsorted(left);
 *     recall = final recall; averages over entries > -1 (-1: no ground truth).
 *   - crowd (iscrowd for the IoU, and ignored): a ground truth's iscrowd; on a VOC ground
 *     truth (is_coco == 0) also its difficult flag, as voc07_test_iscrowd_is_difficult.json
 *     converts VOC for the COCO API. On a COCO ground truth, difficult (its "ignore") has no
 *     effect: pycocotools' _prepare overwrites ignore with iscrowd;
 *   - images in ascending coco_id (p.imgIds = sorted ids; it orders score ties across
 *     images); each image's detections by score (stable), cut to maxDets[-1] before IoU;
 *   - max_dets must be non-negative and non-decreasing (pycocotools sorts them);
 *     CLSSD_ERR_INVALID_ARG otherwise. stats[0..5] and [8..11], class_ap and class_ap50 read
 *     the last maxDets entry (pycocotools looks up the entry equal to 100: the same with the
 *     defaults);
 *   - the means reproduce np.mean's float64 summation (pairwise within 8192-element chunks,
 *     numpy 1.x), so stats match pycocotools to the last bit there.
 *   - Difference, on purpose: pycocotools treats a ground-truth annotation id of 0 as
 *     "unmatched" (dtm == 0); here matching is a flag, so an id of 0 is an ordinary id. */
#ifndef CLSSD_EVAL_H
#define CLSSD_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "clssd.h"
#include "data/dataset.h"

/* ------------------------------------------------------------------ VOC */
typedef struct clssd_voc_params {
    int use_07_metric; /* 1: VOC2007 11-point; 0: VOC2010+ area */
    int iou_ge;        /* 1: a match needs IoU >= thresh (VOCevaldet.m); 0: > thresh */
    double iou_thresh; /* 0.5 */
} clssd_voc_params;
void clssd__voc_params_default(clssd_voc_params *p); /* 07 metric, >, 0.5 */

typedef struct clssd_voc_class_result {
    double ap;       /* NaN when npos == 0 */
    size_t npos;     /* non-difficult ground truths */
    size_t n_dets;   /* detections of this class */
    size_t n_tp, n_fp; /* over all detections (difficult matches are neither) */
    /* The PR curve: one point per detection in ranked order, difficult matches included
     * (their precision/recall repeat the previous point, as in the devkit's cumsums). */
    double *recall, *precision; /* n_dets each; NULL when n_dets == 0 or npos == 0 */
} clssd_voc_class_result;

typedef struct clssd_voc_result {
    size_t n_classes;                 /* = gt->n_classes */
    clssd_voc_class_result *classes;
    double map;                       /* mean AP over classes with npos > 0; NaN if none */
    size_t n_classes_in_map;
} clssd_voc_result;

clssd_status clssd__eval_voc(const clssd_gt_set *gt, const clssd_det_set *dets,
                             const clssd_voc_params *p, clssd_voc_result *out);
void clssd__voc_result_free(clssd_voc_result *r); /* zeroes it */

/* Exposed for known-answer tests: the two AP definitions on a PR curve of n points. */
double clssd__voc_ap_11pt(const double *recall, const double *precision, size_t n);
double clssd__voc_ap_area(const double *recall, const double *precision, size_t n);

/* ------------------------------------------------------------------ COCO */
#define CLSSD_COCO_T 10  /* IoU thresholds .50:.05:.95 */
#define CLSSD_COCO_R 101 /* recall thresholds 0:.01:1 */
#define CLSSD_COCO_A 4   /* area ranges: all, small, medium, large */
#define CLSSD_COCO_M 3   /* maxDets: 1, 10, 100 */

typedef struct clssd_coco_params {
    int max_dets[CLSSD_COCO_M];               /* 1, 10, 100 */
    double area_rng[CLSSD_COCO_A][2];          /* see above */
} clssd_coco_params;
void clssd__coco_params_default(clssd_coco_params *p);

typedef struct clssd_coco_result {
    /* COCOeval.stats: AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl
     * (-1 where undefined, as pycocotools prints). */
    double stats[12];
    size_t n_classes;
    /* precision[((t * R + r) * K + k) * A * M + a * M + m], as COCOeval.eval['precision']
     * [T, R, K, A, M]; -1 where the class has no ground truth in that area range. */
    double *precision;
    /* recall[((t * K + k) * A + a) * M + m], as eval['recall'] [T, K, A, M]. */
    double *recall;
    double *class_ap; /* per class: AP@[.5:.95], all areas, maxDets 100; -1 when undefined */
    double *class_ap50;
    double iou_thrs[CLSSD_COCO_T], rec_thrs[CLSSD_COCO_R];
} clssd_coco_result;

clssd_status clssd__eval_coco(const clssd_gt_set *gt, const clssd_det_set *dets,
                              const clssd_coco_params *p, clssd_coco_result *out);
void clssd__coco_result_free(clssd_coco_result *r); /* zeroes it */

#endif /* CLSSD_EVAL_H */
