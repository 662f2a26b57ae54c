/* libFuzzer harness: the detection readers (clssd__dets_load_detect_json_mem,
 * clssd__dets_load_coco_results_mem) against small fixed ground truths, then the metrics.
 * The first input byte picks the case: bit 0 the reader (clssd-detect JSON / COCO results),
 * bit 1 the ground truth (COCO / VOC TSV, whose images and classes are matched differently),
 * bit 2 the built-in coco-voc class map (clssd-detect JSON only). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_data_util.h"

/* Image ids, file names and sizes, and class names and ids, that the seeds refer to: COCO
 * names the coco-voc map knows, an id that is not a file stem, a file in a directory. */
static const char coco_gt_json[] =
    "{\"images\": ["
    "{\"id\": 1, \"file_name\": \"000001.jpg\", \"width\": 353, \"height\": 500},"
    "{\"id\": 42, \"file_name\": \"dir/dog.png\", \"width\": 640, \"height\": 480},"
    "{\"id\": 7, \"file_name\": \"000004.jpg\"}],"
    "\"categories\": [{\"id\": 1, \"name\": \"person\"}, {\"id\": 18, \"name\": \"dog\"},"
    "{\"id\": 5, \"name\": \"airplane\"}, {\"id\": 63, \"name\": \"couch\"},"
    "{\"id\": 0, \"name\": \"dining table\"}],"
    "\"annotations\": ["
    "{\"id\": 1, \"image_id\": 1, \"category_id\": 18, \"bbox\": [47, 239, 148, 132]},"
    "{\"id\": 2, \"image_id\": 1, \"category_id\": 1, \"bbox\": [7, 11, 345, 487], \"area\": 9000},"
    "{\"id\": 3, \"image_id\": 42, \"category_id\": 5, \"bbox\": [0, 0, 10, 10], \"iscrowd\": 1},"
    "{\"id\": 4, \"image_id\": 42, \"category_id\": 63, \"bbox\": [5, 5, 100, 50]},"
    "{\"id\": 0, \"image_id\": 7, \"category_id\": 0, \"bbox\": [1.5, 2.5, 3, 4], \"ignore\": 1}]}";

static const char voc_gt_tsv[] =
    "# image_id\twidth\theight\tclass\txmin\tymin\txmax\tymax\tdifficult\n"
    "000001\t353\t500\tdog\t48\t240\t195\t371\t0\n"
    "000001\t353\t500\tperson\t8\t12\t352\t498\t0\n"
    "000002\t335\t500\ttrain\t139\t200\t207\t301\t0\n"
    "000004\t500\t406\tcar\t13\t311\t84\t362\t1\n"
    "000004\t500\t406\tcar\t362\t330\t500\t389\t0\n";

static clssd_gt_set *fixed_gt[2];
static clssd_class_map coco_voc;

/* Built once: the replay driver calls no initializer, so the first input does it. */
static void setup(void)
{
    if (fixed_gt[0]) return;
    char err[FUZZ_ERR_CAP];
    if (clssd__gt_load_coco_mem(coco_gt_json, sizeof coco_gt_json - 1, "gt.json", &fixed_gt[0], err,
                                sizeof err) != CLSSD_OK ||
        clssd__gt_load_voc_tsv_mem(voc_gt_tsv, sizeof voc_gt_tsv - 1, "gt.tsv", NULL, 0,
                                   &fixed_gt[1], err, sizeof err) != CLSSD_OK ||
        clssd__class_map_load("coco-voc", &coco_voc, err, sizeof err) != CLSSD_OK)
        abort(); /* the harness itself is broken */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    if (size == 0) return 0;
    const long live = clssd__alloc_live();
    const unsigned mode = data[0];
    const char *text = (const char *)data + 1;
    const size_t len = size - 1;
    const clssd_gt_set *gt = fixed_gt[(mode >> 1) & 1];
    char err[FUZZ_ERR_CAP] = "";
    clssd_det_set dets;
    clssd_status s;
    if (mode & 1)
        s = clssd__dets_load_coco_results_mem(text, len, "results.json", gt, &dets, err,
                                              sizeof err);
    else
        s = clssd__dets_load_detect_json_mem(text, len, "detections.json", gt,
                                             (mode & 4) ? &coco_voc : NULL, &dets, err, sizeof err);
    fuzz_check_failure(s, err);
    if (s == CLSSD_OK) {
        for (size_t i = 0; i < dets.n; i++) {
            const clssd_det *d = &dets.dets[i];
            if (d->image < 0 || (size_t)d->image >= gt->n_images || d->cls < 0 ||
                (size_t)d->cls >= gt->n_classes)
                __builtin_trap();
        }
        fuzz_evaluate(gt, &dets, fuzz_wants_coco(size));
    } else if (dets.n || dets.dets) {
        __builtin_trap(); /* a failed load leaves the set zeroed */
    }
    clssd__dets_free(&dets);
    fuzz_check_no_leak(live);
    return 0;
}
