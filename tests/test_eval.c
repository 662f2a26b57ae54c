/* Tests of the VOC and COCO metrics (src/eval, rules E1-E4 of shared/docs/conformance.md).
 *
 * Every expected number is worked out by hand in the comment beside it, from the rules of
 * VOCdevkit's VOCevaldet.m / VOCap.m and pycocotools' COCOeval, not by running the code under
 * test. Ground truth and detections are built in memory here (plain malloc / free), not with
 * the dataset loaders.
 *
 * COCO precision values are tp / (fp + tp + eps) with eps = np.spacing(1) = 2^-52, so "1" is
 * really 1 / (1 + 2^-52) = 1 - 2^-52; those checks use a tolerance of 1e-12.
 *
 * For leak checking run:  CK_FORK=no valgrind --leak-check=full ./test_eval */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clssd_internal.h"
#include "eval/eval.h"

#define TOL 1e-12

/* ---------------------------------------------------------------- building sets */
typedef struct tset {
    clssd_gt_set g;
    clssd_det_set d;
} tset;

static void set_init(tset *s, size_t n_images, size_t n_classes, int is_coco)
{
    memset(s, 0, sizeof *s);
    s->g.n_images = n_images;
    s->g.n_classes = n_classes;
    s->g.is_coco = is_coco;
    s->g.images = calloc(n_images ? n_images : 1, sizeof *s->g.images);
    s->g.classes = calloc(n_classes ? n_classes : 1, sizeof *s->g.classes);
    ck_assert(s->g.images && s->g.classes);
    for (size_t i = 0; i < n_images; i++) s->g.images[i].coco_id = (int64_t)i + 1;
    for (size_t i = 0; i < n_classes; i++) s->g.classes[i].coco_id = (int64_t)i + 1;
}

static void set_free(tset *s)
{
    free(s->g.images);
    free(s->g.classes);
    free(s->g.objects);
    free(s->d.dets);
    memset(s, 0, sizeof *s);
}

/* A ground truth on 0-based continuous pixels. */
static void add_gt(tset *s, int img, int cls, double x1, double y1, double x2, double y2,
                   int difficult, int iscrowd)
{
    clssd_gt_object *o = realloc(s->g.objects, (s->g.n_objects + 1) * sizeof *o);
    ck_assert(o != NULL);
    s->g.objects = o;
    o += s->g.n_objects++;
    memset(o, 0, sizeof *o);
    o->image = img;
    o->cls = cls;
    o->box[0] = x1;
    o->box[1] = y1;
    o->box[2] = x2;
    o->box[3] = y2;
    o->area = (x2 - x1) * (y2 - y1);
    o->id = (int64_t)s->g.n_objects;
    o->difficult = (uint8_t)difficult;
    o->iscrowd = (uint8_t)iscrowd;
}

/* A ground truth in VOC 1-based inclusive pixels, stored as the readers do (dataset.h). */
static void add_voc_gt(tset *s, int img, int cls, double xmin, double ymin, double xmax,
                       double ymax, int difficult)
{
    add_gt(s, img, cls, xmin - 1, ymin - 1, xmax, ymax, difficult, 0);
}

static void add_det(tset *s, int img, int cls, double score, double x1, double y1, double x2,
                    double y2)
{
    clssd_det *d = realloc(s->d.dets, (s->d.n + 1) * sizeof *d);
    ck_assert(d != NULL);
    s->d.dets = d;
    d += s->d.n++;
    d->image = img;
    d->cls = cls;
    d->score = score;
    d->box[0] = x1;
    d->box[1] = y1;
    d->box[2] = x2;
    d->box[3] = y2;
}

static void add_voc_det(tset *s, int img, int cls, double score, double xmin, double ymin,
                        double xmax, double ymax)
{
    add_det(s, img, cls, score, xmin - 1, ymin - 1, xmax, ymax);
}

static clssd_voc_result run_voc(const tset *s, int use07, int ge)
{
    clssd_voc_params p;
    clssd__voc_params_default(&p);
    p.use_07_metric = use07;
    p.iou_ge = ge;
    clssd_voc_result r;
    ck_assert_int_eq(clssd__eval_voc(&s->g, &s->d, &p, &r), CLSSD_OK);
    return r;
}

static clssd_coco_result run_coco(const tset *s, const clssd_coco_params *p)
{
    clssd_coco_result r;
    ck_assert_int_eq(clssd__eval_coco(&s->g, &s->d, p, &r), CLSSD_OK);
    return r;
}

/* precision[t, r, k, a, m] */
static double prec_at(const clssd_coco_result *r, int t, int ri, size_t k, int a, int m)
{
    return r->precision[((((size_t)t * CLSSD_COCO_R + (size_t)ri) * r->n_classes + k) *
                             CLSSD_COCO_A +
                         (size_t)a) *
                            CLSSD_COCO_M +
                        (size_t)m];
}

static double rec_at(const clssd_coco_result *r, int t, size_t k, int a, int m)
{
    return r->recall[(((size_t)t * r->n_classes + k) * CLSSD_COCO_A + (size_t)a) * CLSSD_COCO_M +
                     (size_t)m];
}

/* ================================================================ VOC: AP definitions */

/* The 0:0.1:1 quirk: MATLAB's t(4) is 3 * 0.1 = 0.30000000000000004, so a recall of exactly
 * 3/10 = 0.3 (0.299999999999999988898 as a double) does NOT reach it.
 * rec = [1/10, 2/10, 3/10], prec = [1, 1, 1]:
 *   t = 0, 0.1 (1*0.1 == 1/10), 0.2 (2*0.1 == 2/10): p = 1;  t = 0.30000000000000004 .. 1: none
 *   AP = 3/11 = 0.272727... (thresholds 0.3 "as written" would give 4/11). */
START_TEST(test_ap_11pt_quirk)
{
    const double rec[3] = {1.0 / 10, 2.0 / 10, 3.0 / 10}, prec[3] = {1, 1, 1};
    ck_assert(3 * 0.1 > 3.0 / 10); /* the premise */
    ck_assert_double_eq_tol(clssd__voc_ap_11pt(rec, prec, 3), 3.0 / 11, TOL);
    /* recall reaching 4/10 = 0.4 == 4 * 0.1 covers t = 0.3 as well: 5/11 */
    const double rec4[4] = {0.1, 0.2, 0.3, 0.4}, prec4[4] = {1, 1, 1, 1};
    ck_assert(4 * 0.1 == 0.4);
    ck_assert_double_eq_tol(clssd__voc_ap_11pt(rec4, prec4, 4), 5.0 / 11, TOL);
    /* empty curve: 0 under both */
    ck_assert(clssd__voc_ap_11pt(NULL, NULL, 0) == 0.0);
    ck_assert(clssd__voc_ap_area(NULL, NULL, 0) == 0.0);

    /* The same through the evaluator: 10 disjoint ground truths, 3 exact detections. */
    tset s;
    set_init(&s, 1, 1, 0);
    for (int i = 0; i < 10; i++) add_voc_gt(&s, 0, 0, 1 + 20 * i, 1, 10 + 20 * i, 10, 0);
    for (int i = 0; i < 3; i++)
        add_voc_det(&s, 0, 0, 0.9 - 0.1 * i, 1 + 20 * i, 1, 10 + 20 * i, 10);
    clssd_voc_result r = run_voc(&s, 1, 0);
    ck_assert_uint_eq(r.classes[0].npos, 10);
    ck_assert(r.classes[0].recall[2] == 3.0 / 10);
    ck_assert_double_eq_tol(r.classes[0].ap, 3.0 / 11, TOL);
    ck_assert_double_eq_tol(r.map, 3.0 / 11, TOL);
    clssd__voc_result_free(&r);
    ck_assert(r.classes == NULL && r.n_classes == 0);
    /* area AP: envelope 1 up to recall 0.3, then 0: 0.3 */
    r = run_voc(&s, 0, 0);
    ck_assert_double_eq_tol(r.classes[0].ap, 0.3, TOL);
    clssd__voc_result_free(&r);
    set_free(&s);
}
END_TEST

/* A small curve, npos = 4, detections TP FP TP FP(duplicate) TP:
 *   tp = 1 1 2 2 3, fp = 0 1 1 2 2;  rec = .25 .25 .5 .5 .75;  prec = 1 .5 2/3 .5 .6
 * VOC07: t=0,.1,.2: 1; t=.3,.4,.5 (0.5 is MATLAB's middle element, reached by rec .5): 2/3;
 *        t=.6,.7 (1-0.3...=0.7 <= .75): .6; t=.8,.9,1: none -> 0
 *        AP = (3 + 3*2/3 + 2*.6) / 11 = 6.2/11 = 0.563636...
 * area:  envelope 1, 2/3, 2/3, .6, .6; steps .25*1 + .25*2/3 + .25*.6 (+ .25*0 to recall 1)
 *        = .25 + 1/6 + .15 = 17/30 = 0.566666... */
START_TEST(test_ap_small_curve)
{
    const double rec[5] = {.25, .25, .5, .5, .75};
    const double prec[5] = {1, .5, 2.0 / 3, .5, .6};
    ck_assert_double_eq_tol(clssd__voc_ap_11pt(rec, prec, 5), 6.2 / 11, TOL);
    ck_assert_double_eq_tol(clssd__voc_ap_area(rec, prec, 5), 17.0 / 30, TOL);

    /* through the evaluator: 4 ground truths, the duplicate is the 4th detection */
    tset s;
    set_init(&s, 1, 1, 0);
    for (int i = 0; i < 4; i++) add_voc_gt(&s, 0, 0, 1 + 20 * i, 1, 10 + 20 * i, 10, 0);
    add_voc_det(&s, 0, 0, 0.9, 1, 1, 10, 10);       /* TP on gt 0 */
    add_voc_det(&s, 0, 0, 0.8, 200, 200, 210, 210); /* FP: overlaps nothing */
    add_voc_det(&s, 0, 0, 0.7, 21, 1, 30, 10);      /* TP on gt 1 */
    add_voc_det(&s, 0, 0, 0.6, 1, 1, 10, 10);       /* FP: gt 0 again (duplicate) */
    add_voc_det(&s, 0, 0, 0.5, 41, 1, 50, 10);      /* TP on gt 2 */
    clssd_voc_result r = run_voc(&s, 1, 0);
    const clssd_voc_class_result *c = &r.classes[0];
    ck_assert_uint_eq(c->npos, 4);
    ck_assert_uint_eq(c->n_dets, 5);
    ck_assert_uint_eq(c->n_tp, 3);
    ck_assert_uint_eq(c->n_fp, 2);
    for (int i = 0; i < 5; i++) {
        ck_assert(c->recall[i] == rec[i]);
        ck_assert_double_eq_tol(c->precision[i], prec[i], TOL);
    }
    ck_assert_double_eq_tol(c->ap, 6.2 / 11, TOL);
    clssd__voc_result_free(&r);
    r = run_voc(&s, 0, 0);
    ck_assert_double_eq_tol(r.classes[0].ap, 17.0 / 30, TOL);
    clssd__voc_result_free(&r);
    set_free(&s);
}
END_TEST

/* Equal scores keep file order (MATLAB's stable sort). npos = 1.
 * File order FP, TP (same score): prec 0, 1/2; rec 0, 1 -> area AP = 1 * 1/2 = 0.5,
 *   VOC07: every t reached only by the 2nd point: 11 * (1/2) / 11 = 0.5.
 * File order TP, FP: rec 1, 1; prec 1, 1/2 -> AP 1 under both.
 * With 50 tied FPs before the TP: the TP is 51st, prec 1/51 -> area AP = 1/51; an unstable
 * sort would almost surely move it. */
START_TEST(test_voc_ties)
{
    for (int order = 0; order < 2; order++) {
        tset s;
        set_init(&s, 1, 1, 0);
        add_voc_gt(&s, 0, 0, 1, 1, 10, 10, 0);
        if (order == 0) add_voc_det(&s, 0, 0, 0.5, 100, 100, 110, 110);
        add_voc_det(&s, 0, 0, 0.5, 1, 1, 10, 10);
        if (order == 1) add_voc_det(&s, 0, 0, 0.5, 100, 100, 110, 110);
        for (int m = 0; m < 2; m++) {
            clssd_voc_result r = run_voc(&s, m, 0);
            ck_assert_double_eq_tol(r.classes[0].ap, order == 0 ? 0.5 : 1.0, TOL);
            clssd__voc_result_free(&r);
        }
        set_free(&s);
    }
    tset s;
    set_init(&s, 1, 1, 0);
    add_voc_gt(&s, 0, 0, 1, 1, 10, 10, 0);
    add_voc_det(&s, 0, 0, 0.7, 300, 300, 310, 310); /* higher score: first */
    for (int i = 0; i < 50; i++) add_voc_det(&s, 0, 0, 0.5, 100 + i, 100, 110 + i, 110);
    add_voc_det(&s, 0, 0, 0.5, 1, 1, 10, 10);
    add_voc_det(&s, 0, 0, NAN, 1, 1, 10, 10); /* NaN sorts last (duplicate then: FP) */
    clssd_voc_result r = run_voc(&s, 0, 0);
    /* TP is the 52nd detection: prec 1/52, rec 1; the NaN one after it: FP */
    ck_assert_double_eq_tol(r.classes[0].ap, 1.0 / 52, TOL);
    ck_assert(r.classes[0].recall[50] == 0.0 && r.classes[0].recall[51] == 1.0);
    ck_assert_uint_eq(r.classes[0].n_fp, 52);
    clssd__voc_result_free(&r);
    set_free(&s);
}
END_TEST

/* IoU exactly 1/2 on VOC pixels: GT [1,1,10,10] (10 x 10 = 100 px), detection [1,4,10,14]
 * (10 x 11 = 110 px); intersection columns 1..10, rows 4..10: iw = 10-1+1 = 10,
 * ih = 10-4+1 = 7, 70 px; ua = 110 + 100 - 70 = 140; ov = 70/140 = 0.5 exactly.
 * (Taking the 1-based numbers as continuous without the +1 would give 9*6/(81+90-54) = 54/117.)
 * '>' (default): FP, AP 0;  '>=' (iou_ge): TP, AP 1. */
START_TEST(test_voc_iou_half)
{
    tset s;
    set_init(&s, 1, 1, 0);
    add_voc_gt(&s, 0, 0, 1, 1, 10, 10, 0);
    add_voc_det(&s, 0, 0, 0.9, 1, 4, 10, 14);
    for (int m = 0; m < 2; m++) {
        clssd_voc_result r = run_voc(&s, m, 0);
        ck_assert_uint_eq(r.classes[0].n_tp, 0);
        ck_assert_uint_eq(r.classes[0].n_fp, 1);
        ck_assert(r.classes[0].ap == 0.0);
        clssd__voc_result_free(&r);
        r = run_voc(&s, m, 1);
        ck_assert_uint_eq(r.classes[0].n_tp, 1);
        ck_assert_double_eq_tol(r.classes[0].ap, 1.0, TOL);
        clssd__voc_result_free(&r);
    }
    /* Largest overlap wins, ties to the first ground truth (strict '>'), and a taken one is
     * not passed over: two identical GTs and two exact detections -> both detections pick
     * gt 0, the second is a duplicate FP although gt 1 is free (as in the devkit). */
    set_free(&s);
    set_init(&s, 1, 1, 0);
    add_voc_gt(&s, 0, 0, 1, 1, 10, 10, 0);
    add_voc_gt(&s, 0, 0, 1, 1, 10, 10, 0);
    add_voc_det(&s, 0, 0, 0.9, 1, 1, 10, 10);
    add_voc_det(&s, 0, 0, 0.8, 1, 1, 10, 10);
    clssd_voc_result r = run_voc(&s, 0, 0);
    /* npos 2; TP then FP: rec .5 .5, prec 1 .5 -> area AP = .5 * 1 = .5 */
    ck_assert_uint_eq(r.classes[0].n_tp, 1);
    ck_assert_uint_eq(r.classes[0].n_fp, 1);
    ck_assert_double_eq_tol(r.classes[0].ap, 0.5, TOL);
    clssd__voc_result_free(&r);
    set_free(&s);
}
END_TEST

/* Difficult objects: npos counts only non-difficult ones; a detection whose best match is
 * difficult is neither TP nor FP, even twice. One image: A non-difficult [1,1,10,10],
 * B difficult [51,1,60,10] (and C: iscrowd on a VOC set counts as difficult too).
 * dets: .9 on B, .85 on B again, .8 on A, .7 on C.
 *   npos = 1; tp = 0 0 1 1, fp = 0 0 0 0: rec 0 0 1 1; prec NaN NaN 1 1 (0/0, kept as the
 *   devkit's cumsums give it)
 *   VOC07: every t (incl. t=0, max ignores NaN) -> 1: AP 1; area: envelope 1, step 0->1: 1. */
START_TEST(test_voc_difficult)
{
    tset s;
    set_init(&s, 1, 1, 0);
    add_voc_gt(&s, 0, 0, 1, 1, 10, 10, 0);
    add_voc_gt(&s, 0, 0, 51, 1, 60, 10, 1);
    add_gt(&s, 0, 0, 100, 0, 110, 10, 0, 1);
    add_voc_det(&s, 0, 0, 0.9, 51, 1, 60, 10);
    add_voc_det(&s, 0, 0, 0.85, 51, 1, 60, 10);
    add_voc_det(&s, 0, 0, 0.8, 1, 1, 10, 10);
    add_voc_det(&s, 0, 0, 0.7, 101, 1, 110, 10);
    for (int m = 0; m < 2; m++) {
        clssd_voc_result r = run_voc(&s, m, 0);
        const clssd_voc_class_result *c = &r.classes[0];
        ck_assert_uint_eq(c->npos, 1);
        ck_assert_uint_eq(c->n_tp, 1);
        ck_assert_uint_eq(c->n_fp, 0);
        ck_assert(isnan(c->precision[0]) && isnan(c->precision[1]));
        ck_assert(c->precision[2] == 1.0 && c->recall[3] == 1.0);
        ck_assert_double_eq_tol(c->ap, 1.0, TOL);
        clssd__voc_result_free(&r);
    }
    /* Only difficult matches: MATLAB's max over [NaN] would be NaN; here 0 (voc_eval.py). */
    set_free(&s);
    set_init(&s, 1, 1, 0);
    add_voc_gt(&s, 0, 0, 1, 1, 10, 10, 0);
    add_voc_gt(&s, 0, 0, 51, 1, 60, 10, 1);
    add_voc_det(&s, 0, 0, 0.9, 51, 1, 60, 10);
    for (int m = 0; m < 2; m++) {
        clssd_voc_result r = run_voc(&s, m, 0);
        ck_assert(r.classes[0].ap == 0.0);
        clssd__voc_result_free(&r);
    }
    set_free(&s);
}
END_TEST

/* Three classes over two images (image 1 has no ground truth at all):
 *   class 0: gt [1,1,10,10] in image 0; dets .9 exact (TP), .8 on image 1 (FP: no GT there)
 *            rec 1 1, prec 1 .5 -> AP 1 (both metrics)
 *   class 1: gt in image 0, no detections -> AP 0, counted in the mean
 *   class 2: no gt, one detection -> AP NaN, left out; its detection is an FP
 *   mAP = (1 + 0) / 2 = 0.5 over 2 classes. */
START_TEST(test_voc_map)
{
    tset s;
    set_init(&s, 2, 3, 0);
    add_voc_gt(&s, 0, 0, 1, 1, 10, 10, 0);
    add_voc_gt(&s, 0, 1, 1, 1, 10, 10, 0);
    add_voc_det(&s, 0, 0, 0.9, 1, 1, 10, 10);
    add_voc_det(&s, 1, 0, 0.8, 1, 1, 10, 10);
    add_voc_det(&s, 0, 2, 0.8, 1, 1, 10, 10);
    for (int m = 0; m < 2; m++) {
        clssd_voc_result r = run_voc(&s, m, 0);
        ck_assert_uint_eq(r.n_classes, 3);
        ck_assert_double_eq_tol(r.classes[0].ap, 1.0, TOL);
        ck_assert_uint_eq(r.classes[0].n_fp, 1);
        ck_assert(r.classes[0].precision[1] == 0.5);
        ck_assert(r.classes[1].ap == 0.0);
        ck_assert(r.classes[1].recall == NULL && r.classes[1].n_dets == 0);
        ck_assert(isnan(r.classes[2].ap));
        ck_assert(r.classes[2].recall == NULL && r.classes[2].precision == NULL);
        ck_assert_uint_eq(r.classes[2].n_fp, 1);
        ck_assert_uint_eq(r.n_classes_in_map, 2);
        ck_assert_double_eq_tol(r.map, 0.5, TOL);
        clssd__voc_result_free(&r);
    }
    /* no ground truth at all: mAP NaN */
    tset e;
    set_init(&e, 1, 1, 0);
    clssd_voc_result r = run_voc(&e, 1, 0);
    ck_assert(isnan(r.map) && r.n_classes_in_map == 0);
    clssd__voc_result_free(&r);
    set_free(&e);
    /* bad indices are refused */
    s.d.dets[0].image = 2;
    ck_assert_int_eq(clssd__eval_voc(&s.g, &s.d, NULL, &r), CLSSD_ERR_INVALID_ARG);
    ck_assert_int_eq(clssd__eval_coco(&s.g, &s.d, NULL, &(clssd_coco_result){0}),
                     CLSSD_ERR_INVALID_ARG);
    s.d.dets[0].image = 0;
    s.d.dets[0].cls = -1;
    ck_assert_int_eq(clssd__eval_voc(&s.g, &s.d, NULL, &r), CLSSD_ERR_INVALID_ARG);
    set_free(&s);
}
END_TEST

/* ================================================================ COCO */

/* linspace as numpy: iouThrs[0] = .5, [5] == .75 (AP75 reads index 5), [9] = .95;
 * recThrs[i] = i * 0.01, [100] = 1. */
START_TEST(test_coco_thresholds)
{
    tset s;
    set_init(&s, 1, 1, 1);
    clssd_coco_result r = run_coco(&s, NULL);
    ck_assert(r.iou_thrs[0] == 0.5 && r.iou_thrs[5] == 0.75 && r.iou_thrs[9] == 0.95);
    ck_assert(r.iou_thrs[1] == 1 * ((0.95 - 0.5) / 9) + 0.5);
    ck_assert(r.rec_thrs[0] == 0.0 && r.rec_thrs[100] == 1.0);
    ck_assert(r.rec_thrs[3] == 3 * 0.01 && r.rec_thrs[57] == 57 * 0.01);
    /* no ground truth, no detections: everything undefined */
    for (int i = 0; i < 12; i++) ck_assert(r.stats[i] == -1.0);
    ck_assert(r.class_ap[0] == -1.0 && r.class_ap50[0] == -1.0);
    ck_assert(prec_at(&r, 0, 0, 0, 0, 2) == -1.0 && rec_at(&r, 0, 0, 0, 2) == -1.0);
    clssd__coco_result_free(&r);
    ck_assert(r.precision == NULL && r.n_classes == 0);
    set_free(&s);
}
END_TEST

/* One medium ground truth [10,10,60,60] (area 2500 in (32^2, 96^2)) and one exact detection.
 * IoU 1 >= every threshold; precision 1/(1+eps) everywhere defined.
 *   AP = AP50 = AP75 = APm = 1; APs = APl = -1 (no GT in those ranges: npig = 0)
 *   AR1 = AR10 = AR100 = ARm = 1; ARs = ARl = -1. */
START_TEST(test_coco_perfect)
{
    tset s;
    set_init(&s, 1, 1, 1);
    add_gt(&s, 0, 0, 10, 10, 60, 60, 0, 0);
    add_det(&s, 0, 0, 0.9, 10, 10, 60, 60);
    clssd_coco_result r = run_coco(&s, NULL);
    const double want[12] = {1, 1, 1, -1, 1, -1, 1, 1, 1, -1, 1, -1};
    for (int i = 0; i < 12; i++) ck_assert_double_eq_tol(r.stats[i], want[i], TOL);
    ck_assert(prec_at(&r, 3, 40, 0, 0, 2) == 1.0 / (1.0 + 2.220446049250313e-16));
    ck_assert_double_eq_tol(r.class_ap[0], 1, TOL);
    ck_assert_double_eq_tol(r.class_ap50[0], 1, TOL);
    clssd__coco_result_free(&r);
    set_free(&s);
}
END_TEST

/* A crowd ground truth absorbs several detections. Image: A [0,0,100,100] (area 10000:
 * large), crowd C [200,0,400,200]. Detections: .95 [210,10,260,60] and .9 [300,100,350,150]
 * inside C (crowd IoU = intersection / detection area = 1), .8 exactly A, .6 far away.
 *   all areas: sorted C-ig, C-ig, TP, FP: tp 0 0 1 1, fp 0 0 0 1, npig 1: rc 0 0 1 1,
 *   pr 0 0 1 1/2 -> envelope 1 1 1 1/2; every recThr finds index 0 (r=0) or 2: AP = 1.
 *   AR100 = 1; APl = 1 (the far one, area 2500, unmatched and outside large: ignored);
 *   APm = APs = -1 (no medium / small non-crowd ground truth). */
START_TEST(test_coco_crowd)
{
    tset s;
    set_init(&s, 1, 1, 1);
    add_gt(&s, 0, 0, 0, 0, 100, 100, 0, 0);
    add_gt(&s, 0, 0, 200, 0, 400, 200, 0, 1);
    add_det(&s, 0, 0, 0.95, 210, 10, 260, 60);
    add_det(&s, 0, 0, 0.9, 300, 100, 350, 150);
    add_det(&s, 0, 0, 0.8, 0, 0, 100, 100);
    add_det(&s, 0, 0, 0.6, 500, 500, 550, 550);
    clssd_coco_result r = run_coco(&s, NULL);
    ck_assert_double_eq_tol(r.stats[0], 1, TOL);
    ck_assert_double_eq_tol(r.stats[5], 1, TOL);
    ck_assert(r.stats[3] == -1 && r.stats[4] == -1);
    ck_assert_double_eq_tol(r.stats[8], 1, TOL);
    clssd__coco_result_free(&r);

    /* Clear the crowd flag: C is an ordinary ground truth (area 40000: large, npig 2); the
     * two inside it get IoU 2500/40000 < .5: FPs. rc 0 0 .5 .5, pr 0 0 1/3 1/4:
     * envelope 1/3 1/3 1/3 1/4; r <= .5 -> 1/3 (51 values), r > .5 -> 0: AP = 51/303. */
    s.g.objects[1].iscrowd = 0;
    r = run_coco(&s, NULL);
    ck_assert_double_eq_tol(r.stats[0], 51.0 / 303, TOL);
    ck_assert_double_eq_tol(r.stats[8], 0.5, TOL);
    clssd__coco_result_free(&r);

    /* A VOC ground truth's difficult flag counts as crowd (eval.h) ... */
    s.g.is_coco = 0;
    s.g.objects[1].difficult = 1;
    r = run_coco(&s, NULL);
    ck_assert_double_eq_tol(r.stats[0], 1, TOL);
    clssd__coco_result_free(&r);
    /* ... a COCO one's (its "ignore") does not: pycocotools' _prepare sets ignore := iscrowd */
    s.g.is_coco = 1;
    r = run_coco(&s, NULL);
    ck_assert_double_eq_tol(r.stats[0], 51.0 / 303, TOL);
    clssd__coco_result_free(&r);
    set_free(&s);
}
END_TEST

/* Area ranges. Ground truths S [0,0,20,20] (400: small), Mg [100,100,150,150] (2500: medium),
 * L [200,200,320,320] (14400: large). Detections: .95 [400,400,410,410] (area 100, matches
 * nothing), .9 exactly S, .8 exactly L.
 *   all:    npig 3; FP, TP, TP: rc 0 1/3 2/3, pr 0 1/2 2/3 -> envelope 2/3 2/3 2/3;
 *           r_i = i*0.01 <= 2/3 for i = 0..66 (67 values) -> 2/3, the other 34 -> 0:
 *           AP = 67 * (2/3) / 101 = 134/303; AR100 = 2/3
 *   small:  npig 1 (M, L ignored); FP (area 100 is small), TP, L-det matched to ignored L:
 *           ignored. rc 0 1 1, pr 0 1/2 1/2 -> AP 1/2, AR 1
 *   medium: npig 1; FP-det (100, outside) ignored, S-det and L-det matched to ignored GTs:
 *           ignored -> no TP: AP 0, AR 0
 *   large:  npig 1; FP-det ignored, S-det ignored, L-det TP: rc 0 0 1, pr 0 0 1 -> AP 1,
 *           AR 1. */
START_TEST(test_coco_areas)
{
    tset s;
    set_init(&s, 1, 1, 1);
    add_gt(&s, 0, 0, 0, 0, 20, 20, 0, 0);
    add_gt(&s, 0, 0, 100, 100, 150, 150, 0, 0);
    add_gt(&s, 0, 0, 200, 200, 320, 320, 0, 0);
    add_det(&s, 0, 0, 0.95, 400, 400, 410, 410);
    add_det(&s, 0, 0, 0.9, 0, 0, 20, 20);
    add_det(&s, 0, 0, 0.8, 200, 200, 320, 320);
    clssd_coco_result r = run_coco(&s, NULL);
    ck_assert_double_eq_tol(r.stats[0], 134.0 / 303, TOL);
    ck_assert_double_eq_tol(r.stats[1], 134.0 / 303, TOL);
    ck_assert_double_eq_tol(r.stats[3], 0.5, TOL);
    ck_assert(r.stats[4] == 0.0);
    ck_assert_double_eq_tol(r.stats[5], 1, TOL);
    ck_assert_double_eq_tol(r.stats[8], 2.0 / 3, TOL);
    ck_assert_double_eq_tol(r.stats[9], 1, TOL);
    ck_assert(r.stats[10] == 0.0);
    ck_assert_double_eq_tol(r.stats[11], 1, TOL);
    ck_assert_double_eq_tol(prec_at(&r, 0, 66, 0, 0, 2), 2.0 / 3, TOL);
    ck_assert(prec_at(&r, 0, 67, 0, 0, 2) == 0.0);
    clssd__coco_result_free(&r);
    set_free(&s);
}
END_TEST

/* maxDets. Ground truths G1 [0,0,50,50], G2 [100,0,150,50]; detections .95 FP far away,
 * .9 exactly G1, .8 exactly G2.
 *   maxDets 1: only the FP per image -> recall 0: AR1 = 0
 *   maxDets 10, 100: all three -> recall 1: AR10 = AR100 = 1
 *   AP (100): FP, TP, TP: rc 0 .5 1, pr 0 1/2 2/3 -> envelope 2/3 everywhere -> 2/3.
 * With maxDets (1, 2, 2): the third detection is cut off per image (computeIoU and
 *   evaluateImg keep maxDets[-1]): recall .5 at m = 1, 2; AP: rc 0 .5, pr 0 1/2 ->
 *   envelope 1/2 1/2; r <= .5 (51 values) -> 1/2, above -> 0: 51/202. */
START_TEST(test_coco_maxdets)
{
    tset s;
    set_init(&s, 1, 1, 1);
    add_gt(&s, 0, 0, 0, 0, 50, 50, 0, 0);
    add_gt(&s, 0, 0, 100, 0, 150, 50, 0, 0);
    add_det(&s, 0, 0, 0.95, 300, 300, 350, 350);
    add_det(&s, 0, 0, 0.9, 0, 0, 50, 50);
    add_det(&s, 0, 0, 0.8, 100, 0, 150, 50);
    clssd_coco_result r = run_coco(&s, NULL);
    ck_assert(r.stats[6] == 0.0);
    ck_assert_double_eq_tol(r.stats[7], 1, TOL);
    ck_assert_double_eq_tol(r.stats[8], 1, TOL);
    ck_assert_double_eq_tol(r.stats[0], 2.0 / 3, TOL);
    clssd__coco_result_free(&r);

    clssd_coco_params p;
    clssd__coco_params_default(&p);
    p.max_dets[1] = 2;
    p.max_dets[2] = 2;
    r = run_coco(&s, &p);
    ck_assert(r.stats[6] == 0.0);
    ck_assert_double_eq_tol(r.stats[7], 0.5, TOL);
    ck_assert_double_eq_tol(r.stats[8], 0.5, TOL);
    ck_assert_double_eq_tol(r.stats[0], 51.0 / 202, TOL);
    clssd__coco_result_free(&r);
    p.max_dets[0] = -1;
    ck_assert_int_eq(clssd__eval_coco(&s.g, &s.d, &p, &r), CLSSD_ERR_INVALID_ARG);
    p.max_dets[0] = 3; /* not sorted */
    ck_assert_int_eq(clssd__eval_coco(&s.g, &s.d, &p, &r), CLSSD_ERR_INVALID_ARG);
    set_free(&s);
}
END_TEST

/* The 101-point interpolation, worked by hand. Four ground truths in two images (sorted by
 * image id, then merged by score), detections TP FP TP FP TP by score:
 *   tp 1 1 2 2 3, fp 0 1 1 2 2, npig 4: rc .25 .25 .5 .5 .75;
 *   pr 1 1/2 2/3 1/2 3/5 -> envelope 1 2/3 2/3 3/5 3/5
 *   r_i = i*0.01: i = 0..25 (r <= .25; 25*0.01 rounds to exactly .25) -> index 0: 1
 *                 i = 26..50 -> first rc >= r is index 2: 2/3
 *                 i = 51..75 -> index 4: 3/5
 *                 i = 76..100 -> beyond the end: 0
 *   AP = (26 + 25*2/3 + 25*3/5) / 101 = (26 + 50/3 + 15) / 101 = 173/303 = 0.570957...
 * (VOC's area under the envelope would be .25 + .25*2/3 + .25*.6 = 17/30 instead.)
 * An IoU of exactly 0.5 matches at t = .5 only (ious < t is what fails); the last TP is
 * such a one, so for t >= .55 it is an FP. */
START_TEST(test_coco_101pt)
{
    tset s;
    set_init(&s, 2, 1, 1);
    /* image ids: image 0 has coco id 7, image 1 id 3 -> image 1 is evaluated first */
    s.g.images[0].coco_id = 7;
    s.g.images[1].coco_id = 3;
    add_gt(&s, 1, 0, 0, 0, 10, 10, 0, 0);
    add_gt(&s, 1, 0, 20, 0, 30, 10, 0, 0);
    add_gt(&s, 0, 0, 0, 0, 10, 10, 0, 0);
    add_gt(&s, 0, 0, 20, 0, 30, 10, 0, 0);
    add_det(&s, 1, 0, 0.9, 0, 0, 10, 10);     /* TP */
    add_det(&s, 0, 0, 0.8, 50, 50, 60, 60);   /* FP */
    add_det(&s, 0, 0, 0.7, 0, 0, 10, 10);     /* TP */
    add_det(&s, 1, 0, 0.6, 50, 50, 60, 60);   /* FP */
    add_det(&s, 0, 0, 0.5, 20, 0, 30, 5);     /* IoU 50/100 = .5 with [20,0,30,10] */
    clssd_coco_result r = run_coco(&s, NULL);
    ck_assert_double_eq_tol(r.stats[1], 173.0 / 303, TOL); /* AP50 */
    ck_assert_double_eq_tol(prec_at(&r, 0, 25, 0, 0, 2), 1, TOL);
    ck_assert_double_eq_tol(prec_at(&r, 0, 26, 0, 0, 2), 2.0 / 3, TOL);
    ck_assert_double_eq_tol(prec_at(&r, 0, 75, 0, 0, 2), 0.6, TOL);
    ck_assert(prec_at(&r, 0, 76, 0, 0, 2) == 0.0);
    ck_assert(rec_at(&r, 0, 0, 0, 2) == 0.75);
    /* t >= .55: TP FP TP FP FP: rc .25 .25 .5 .5 .5, pr 1 1/2 2/3 1/2 2/5 ->
     * envelope 1 2/3 2/3 1/2 2/5; 26 values 1, 25 values 2/3, the rest 0:
     * (26 + 50/3) / 101 = 128/303. AP75 = 128/303; AP = (173 + 9*128)/303/10 = 1325/3030 */
    ck_assert_double_eq_tol(r.stats[2], 128.0 / 303, TOL);
    ck_assert_double_eq_tol(r.stats[0], 1325.0 / 3030, TOL);
    ck_assert(rec_at(&r, 1, 0, 0, 2) == 0.5);
    /* AR100 = mean over t of recall = (.75 + 9*.5) / 10 = .525 */
    ck_assert_double_eq_tol(r.stats[8], 0.525, TOL);
    ck_assert_double_eq_tol(r.class_ap[0], 1325.0 / 3030, TOL);
    ck_assert_double_eq_tol(r.class_ap50[0], 173.0 / 303, TOL);
    clssd__coco_result_free(&r);
    set_free(&s);
}
END_TEST

/* -1 for undefined: class 1 has detections but no ground truth (npig 0): its precision and
 * recall stay -1 and it is left out of every mean; class 0 has a perfect detection; class 2
 * has neither. AP = 1 (class 0 only). */
START_TEST(test_coco_undefined)
{
    tset s;
    set_init(&s, 2, 3, 1);
    add_gt(&s, 0, 0, 0, 0, 40, 40, 0, 0);
    add_det(&s, 0, 0, 0.9, 0, 0, 40, 40);
    add_det(&s, 0, 1, 0.9, 0, 0, 40, 40);
    add_det(&s, 1, 1, 0.8, 0, 0, 40, 40);
    clssd_coco_result r = run_coco(&s, NULL);
    ck_assert_uint_eq(r.n_classes, 3);
    ck_assert_double_eq_tol(r.stats[0], 1, TOL);
    ck_assert_double_eq_tol(r.stats[8], 1, TOL);
    ck_assert(r.class_ap[1] == -1 && r.class_ap[2] == -1 && r.class_ap50[1] == -1);
    ck_assert(prec_at(&r, 0, 0, 1, 0, 2) == -1 && rec_at(&r, 0, 1, 0, 2) == -1);
    ck_assert(prec_at(&r, 9, 100, 2, 3, 0) == -1);
    clssd__coco_result_free(&r);
    set_free(&s);
}
END_TEST

/* ================================================================ robustness */

/* A mixed set used for the allocation-failure loop: 6 images, 3 classes, pseudo-random
 * boxes from a fixed LCG, some difficult / crowd. */
static unsigned long lcg_state;
static unsigned long lcg(void)
{
    lcg_state = (lcg_state * 1103515245ul + 12345ul) & 0xfffffffful;
    return lcg_state >> 8 & 0xffff;
}

static void build_mixed(tset *s)
{
    set_init(s, 6, 3, 0);
    lcg_state = 12345;
#define RND() lcg()
    for (int i = 0; i < 40; i++) {
        double x1 = (double)(RND() % 200), y1 = (double)(RND() % 200);
        double w = 5 + (double)(RND() % 120), h = 5 + (double)(RND() % 120);
        add_gt(s, (int)(RND() % 5), (int)(RND() % 3), x1, y1, x1 + w, y1 + h,
               RND() % 7 == 0, RND() % 11 == 0);
    }
    for (size_t i = 0; i < s->g.n_objects; i++) {
        const clssd_gt_object *o = &s->g.objects[i];
        int j = (int)(RND() % 4);
        add_det(s, o->image, o->cls, (double)(RND() % 50) / 50.0, o->box[0] + j, o->box[1],
                o->box[2] + j, o->box[3] - j);
    }
    for (int i = 0; i < 30; i++) {
        double x1 = (double)(RND() % 200), y1 = (double)(RND() % 200);
        add_det(s, (int)(RND() % 6), (int)(RND() % 3), (double)(RND() % 50) / 50.0, x1, y1,
                x1 + 30, y1 + 40);
    }
#undef RND
}

START_TEST(test_alloc_failures)
{
    tset s;
    build_mixed(&s);
    clssd_voc_result ref_v;
    clssd_coco_result ref_c;
    ck_assert_int_eq(clssd__eval_voc(&s.g, &s.d, NULL, &ref_v), CLSSD_OK);
    ck_assert_int_eq(clssd__eval_coco(&s.g, &s.d, NULL, &ref_c), CLSSD_OK);
    ck_assert(ref_v.map > 0 && ref_v.map < 1);
    ck_assert(ref_c.stats[0] > 0 && ref_c.stats[0] < 1);

    int done = 0;
    long n;
    for (n = 1; !done && n < 1000; n++) {
        clssd_voc_result r;
        clssd__alloc_fail_after(n);
        clssd_status st = clssd__eval_voc(&s.g, &s.d, NULL, &r);
        clssd__alloc_fail_after(0);
        if (st == CLSSD_OK) {
            done = 1;
            ck_assert(r.map == ref_v.map);
            for (size_t c = 0; c < 3; c++)
                ck_assert(r.classes[c].ap == ref_v.classes[c].ap ||
                          (isnan(r.classes[c].ap) && isnan(ref_v.classes[c].ap)));
            clssd__voc_result_free(&r);
        } else {
            ck_assert_int_eq(st, CLSSD_ERR_OUT_OF_MEMORY);
            ck_assert(r.classes == NULL && r.n_classes == 0);
        }
    }
    ck_assert(done && n > 3);
    done = 0;
    for (n = 1; !done && n < 1000; n++) {
        clssd_coco_result r;
        clssd__alloc_fail_after(n);
        clssd_status st = clssd__eval_coco(&s.g, &s.d, NULL, &r);
        clssd__alloc_fail_after(0);
        if (st == CLSSD_OK) {
            done = 1;
            ck_assert(memcmp(r.stats, ref_c.stats, sizeof r.stats) == 0);
            clssd__coco_result_free(&r);
        } else {
            ck_assert_int_eq(st, CLSSD_ERR_OUT_OF_MEMORY);
            ck_assert(r.precision == NULL && r.class_ap == NULL);
        }
    }
    ck_assert(done && n > 10);
    /* the area AP's allocation-free fallback gives the same value up to rounding */
    const double rec[5] = {.25, .25, .5, .5, .75}, prec[5] = {1, .5, 2.0 / 3, .5, .6};
    clssd__alloc_fail_after(1);
    double ap = clssd__voc_ap_area(rec, prec, 5);
    clssd__alloc_fail_after(0);
    ck_assert_double_eq_tol(ap, 17.0 / 30, TOL);

    clssd__voc_result_free(&ref_v);
    clssd__coco_result_free(&ref_c);
    set_free(&s);
}
END_TEST

/* NULL arguments and empty sets. */
START_TEST(test_edges)
{
    clssd_voc_result rv;
    clssd_coco_result rc;
    ck_assert_int_eq(clssd__eval_voc(NULL, NULL, NULL, &rv), CLSSD_ERR_INVALID_ARG);
    ck_assert_int_eq(clssd__eval_voc(NULL, NULL, NULL, NULL), CLSSD_ERR_INVALID_ARG);
    ck_assert_int_eq(clssd__eval_coco(NULL, NULL, NULL, &rc), CLSSD_ERR_INVALID_ARG);
    clssd__voc_result_free(NULL);
    clssd__coco_result_free(NULL);
    tset s;
    set_init(&s, 0, 0, 0);
    ck_assert_int_eq(clssd__eval_voc(&s.g, NULL, NULL, &rv), CLSSD_OK);
    ck_assert(rv.n_classes == 0 && isnan(rv.map));
    clssd__voc_result_free(&rv);
    ck_assert_int_eq(clssd__eval_coco(&s.g, NULL, NULL, &rc), CLSSD_OK);
    ck_assert(rc.stats[0] == -1);
    clssd__coco_result_free(&rc);
    set_free(&s);
}
END_TEST

static Suite *eval_suite(void)
{
    Suite *s = suite_create("eval");
    TCase *tc = tcase_create("voc");
    tcase_add_test(tc, test_ap_11pt_quirk);
    tcase_add_test(tc, test_ap_small_curve);
    tcase_add_test(tc, test_voc_ties);
    tcase_add_test(tc, test_voc_iou_half);
    tcase_add_test(tc, test_voc_difficult);
    tcase_add_test(tc, test_voc_map);
    suite_add_tcase(s, tc);
    tc = tcase_create("coco");
    tcase_add_test(tc, test_coco_thresholds);
    tcase_add_test(tc, test_coco_perfect);
    tcase_add_test(tc, test_coco_crowd);
    tcase_add_test(tc, test_coco_areas);
    tcase_add_test(tc, test_coco_maxdets);
    tcase_add_test(tc, test_coco_101pt);
    tcase_add_test(tc, test_coco_undefined);
    suite_add_tcase(s, tc);
    tc = tcase_create("robustness");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_alloc_failures);
    tcase_add_test(tc, test_edges);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(eval_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
