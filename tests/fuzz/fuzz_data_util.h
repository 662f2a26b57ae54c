/* Shared by the dataset fuzz harnesses (fuzz_voc_xml, fuzz_coco_gt, fuzz_dets, fuzz_voc_tsv):
 * the leak check over the library's allocation counter, and the evaluation every reader's
 * output feeds in clssd-eval (an input a reader accepts must be one the metrics can take).
 * Header-only: each harness is one translation unit. */
#ifndef CLSSD_FUZZ_DATA_UTIL_H
#define CLSSD_FUZZ_DATA_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "clssd_internal.h"
#include "data/dataset.h"
#include "eval/eval.h"

/* Room for the readers' "path: line L: what" messages. */
#define FUZZ_ERR_CAP 512

/* A reader that fails must say why: a non-OK status with an empty message is a bug. */
static inline void fuzz_check_failure(clssd_status s, const char *err)
{
    if (s != CLSSD_OK && err[0] == '\0') __builtin_trap();
}

/* Leak check by the library's own count of live blocks (src/core/alloc.c), which also sees
 * blocks still reachable from a static: take it before an input, compare after. */
static inline void fuzz_check_no_leak(long live_before)
{
    if (clssd__alloc_live() != live_before) __builtin_trap();
}

/* The metrics' cost grows with classes x images x objects (COCO keeps 10*101*4*3 doubles per
 * class); beyond these sizes an input only slows the fuzzer down without reaching new code. */
#define FUZZ_EVAL_MAX_CLASSES 32
#define FUZZ_EVAL_MAX_IMAGES 256
#define FUZZ_EVAL_MAX_ITEMS 2048

/* The COCO metrics cost about 2 ms per set of 20 classes (their tables hold 10*101*4*3
 * doubles per class), some 50 times what a reader takes; run on every input they would hold
 * the fuzzers near 500 executions a second. They run on one input in 8, picked by its length
 * so that the fuzzer can still steer inputs into them. */
static inline int fuzz_wants_coco(size_t input_size)
{
    return input_size % 8 == 0;
}

/* VOC (both AP definitions, > and >=) and, when coco, COCO metrics of dets against gt; on the
 * sizes a fuzzer makes both must succeed (the readers guarantee valid indices). */
static inline void fuzz_evaluate(const clssd_gt_set *gt, const clssd_det_set *dets, int coco)
{
    if (gt->n_classes > FUZZ_EVAL_MAX_CLASSES || gt->n_images > FUZZ_EVAL_MAX_IMAGES ||
        gt->n_objects > FUZZ_EVAL_MAX_ITEMS || dets->n > FUZZ_EVAL_MAX_ITEMS)
        return;
    for (int variant = 0; variant < 2; variant++) {
        clssd_voc_params vp;
        clssd__voc_params_default(&vp);
        vp.use_07_metric = variant == 0;
        vp.iou_ge = variant == 1;
        clssd_voc_result vr;
        memset(&vr, 0, sizeof vr);
        if (clssd__eval_voc(gt, dets, &vp, &vr) != CLSSD_OK) __builtin_trap();
        clssd__voc_result_free(&vr);
    }
    if (!coco) return;
    clssd_coco_result cr;
    memset(&cr, 0, sizeof cr);
    if (clssd__eval_coco(gt, dets, NULL, &cr) != CLSSD_OK) __builtin_trap();
    clssd__coco_result_free(&cr);
}

/* The ground truth scored against itself: every object becomes a detection (scores spread so
 * that the ranking, ties and duplicates all occur), then the metrics run. */
static inline void fuzz_evaluate_self(const clssd_gt_set *gt, int coco)
{
    if (gt->n_objects > FUZZ_EVAL_MAX_ITEMS) return;
    clssd_det_set dets;
    memset(&dets, 0, sizeof dets);
    for (size_t i = 0; i < gt->n_objects; i++) {
        const clssd_gt_object *o = &gt->objects[i];
        clssd_det d;
        d.image = o->image;
        d.cls = o->cls;
        d.score = (double)(i % 7) / 7.0;
        memcpy(d.box, o->box, sizeof d.box);
        if (clssd__dets_push(&dets, &d) != CLSSD_OK) __builtin_trap();
    }
    fuzz_evaluate(gt, &dets, coco);
    clssd__dets_free(&dets);
}

/* Every image and class is found again by the lookups the detection readers use. */
static inline void fuzz_check_lookups(const clssd_gt_set *gt)
{
    for (size_t i = 0; i < gt->n_images; i++) {
        const clssd_gt_image *im = &gt->images[i];
        if (im->id && clssd__gt_find_image(gt, im->id) < 0) __builtin_trap();
        if (im->file) (void)clssd__gt_find_image(gt, im->file);
        if (clssd__gt_find_image_coco(gt, im->coco_id) < 0) __builtin_trap();
    }
    for (size_t k = 0; k < gt->n_classes; k++) {
        const clssd_gt_class *c = &gt->classes[k];
        if (c->name && clssd__gt_find_class(gt, c->name) != (int32_t)k) __builtin_trap();
        if (clssd__gt_find_class_coco(gt, c->coco_id) < 0) __builtin_trap();
    }
}

/* What the evaluator does with a set loaded from an input of input_size bytes: (re)index it,
 * look everything up, score it. */
static inline void fuzz_use_gt(clssd_gt_set *gt, size_t input_size)
{
    if (clssd__gt_index(gt) != CLSSD_OK) __builtin_trap();
    fuzz_check_lookups(gt);
    fuzz_evaluate_self(gt, fuzz_wants_coco(input_size));
}

#endif /* CLSSD_FUZZ_DATA_UTIL_H */
