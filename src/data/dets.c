/* Detection sets: clssd-detect's JSON and COCO results JSON (dataset.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "data/data_internal.h"
#include "json.h"

static clssd_status dets_reserve(clssd_det_set *d, size_t need)
{
    if (need <= d->cap) return CLSSD_OK;
    if (need > CLSSD_DATA_MAX_OBJECTS) return CLSSD_ERR_OUT_OF_MEMORY;
    size_t bytes;
    if (!clssd__mul_size(need, sizeof *d->dets, &bytes)) return CLSSD_ERR_OUT_OF_MEMORY;
    clssd_det *nd = clssd__realloc(d->dets, bytes);
    if (!nd) return CLSSD_ERR_OUT_OF_MEMORY;
    d->dets = nd;
    d->cap = need;
    return CLSSD_OK;
}

clssd_status clssd__dets_push(clssd_det_set *out, const clssd_det *d)
{
    if (!out || !d) return CLSSD_ERR_INVALID_ARG;
    if (out->n >= out->cap) {
        const size_t base = out->n > out->cap ? out->n : out->cap;
        size_t want = base ? base * 2 : 64;
        if (want > CLSSD_DATA_MAX_OBJECTS) want = CLSSD_DATA_MAX_OBJECTS;
        if (want <= out->n) return CLSSD_ERR_OUT_OF_MEMORY;
        CLSSD_TRY(dets_reserve(out, want));
    }
    out->dets[out->n++] = *d;
    return CLSSD_OK;
}

void clssd__dets_free(clssd_det_set *d)
{
    if (!d) return;
    clssd__free(d->dets);
    memset(d, 0, sizeof *d);
}

static int box4(const clssd_json *b, double v[4])
{
    if (!b || b->type != CLSSD_JSON_ARRAY || b->n_items != 4) return 0;
    for (int k = 0; k < 4; k++) {
        if (b->items[k].type != CLSSD_JSON_NUMBER) return 0;
        v[k] = b->items[k].number;
    }
    return 1;
}

/* The readers of a parsed document: fill out (zeroed by the caller) and free root in every
 * case. path names the document in messages. */
static clssd_status detect_from_json(clssd_json *root, const char *path, const clssd_gt_set *gt,
                                     const clssd_class_map *map, clssd_det_set *out, char *err,
                                     size_t errcap)
{
    clssd_status s = CLSSD_OK;
    if (root->type != CLSSD_JSON_OBJECT) CLSSD__DATA_BAD("the top level is not an object");
    const clssd_json *images = clssd__json_get(root, "images");
    if (!images || images->type != CLSSD_JSON_ARRAY) CLSSD__DATA_BAD("no \"images\" array");
    /* validate the layout and count first, so the array is allocated once */
    size_t total = 0;
    for (size_t i = 0; i < images->n_items; i++) {
        const clssd_json *e = &images->items[i];
        if (e->type != CLSSD_JSON_OBJECT) CLSSD__DATA_BAD("images[%zu]: not an object", i);
        const clssd_json *f = clssd__json_get(e, "file");
        if (!f || f->type != CLSSD_JSON_STRING)
            CLSSD__DATA_BAD("images[%zu]: \"file\" must be a string", i);
        const clssd_json *er = clssd__json_get(e, "error");
        if (er && er->type != CLSSD_JSON_NULL) continue;
        const clssd_json *dl = clssd__json_get(e, "detections");
        if (!dl || dl->type != CLSSD_JSON_ARRAY)
            CLSSD__DATA_BAD("images[%zu]: \"detections\" must be an array (or \"error\" given)", i);
        total += dl->n_items;
    }
    if (total > CLSSD_DATA_MAX_OBJECTS)
        CLSSD__DATA_BAD("more than %d detections", CLSSD_DATA_MAX_OBJECTS);
    if (total && dets_reserve(out, total) != CLSSD_OK) CLSSD__DATA_OOM();

    for (size_t i = 0; i < images->n_items; i++) {
        const clssd_json *e = &images->items[i];
        const clssd_json *er = clssd__json_get(e, "error");
        if (er && er->type != CLSSD_JSON_NULL) continue;
        const char *file = clssd__json_get(e, "file")->string;
        const clssd_json *dl = clssd__json_get(e, "detections");
        int64_t fw = 0, fh = 0;
        const clssd_json *m = clssd__json_get(e, "width");
        if (m && m->type != CLSSD_JSON_NULL && (!clssd__json_int(m, &fw) || fw < 0))
            CLSSD__DATA_BAD("images[%zu]: \"width\" must be an integer >= 0", i);
        m = clssd__json_get(e, "height");
        if (m && m->type != CLSSD_JSON_NULL && (!clssd__json_int(m, &fh) || fh < 0))
            CLSSD__DATA_BAD("images[%zu]: \"height\" must be an integer >= 0", i);
        const int32_t gi = clssd__gt_find_image(gt, file);
        double sx = 1.0, sy = 1.0;
        if (gi >= 0) {
            const clssd_gt_image *im = &gt->images[gi];
            if (fw > 0 && im->width > 0 && fw != im->width) sx = (double)im->width / (double)fw;
            if (fh > 0 && im->height > 0 && fh != im->height) sy = (double)im->height / (double)fh;
        }
        for (size_t k = 0; k < dl->n_items; k++) {
            const clssd_json *d = &dl->items[k];
            if (d->type != CLSSD_JSON_OBJECT)
                CLSSD__DATA_BAD("images[%zu].detections[%zu]: not an object", i, k);
            const clssd_json *nm = clssd__json_get(d, "name");
            if (!nm || nm->type != CLSSD_JSON_STRING)
                CLSSD__DATA_BAD("images[%zu].detections[%zu]: \"name\" must be a string", i, k);
            const clssd_json *sc = clssd__json_get(d, "score");
            if (!sc || sc->type != CLSSD_JSON_NUMBER)
                CLSSD__DATA_BAD("images[%zu].detections[%zu]: \"score\" must be a number", i, k);
            double b[4];
            if (!box4(clssd__json_get(d, "box"), b))
                CLSSD__DATA_BAD("images[%zu].detections[%zu]: box must be 4 numbers", i, k);
            if (gi < 0) {
                out->n_unmatched_image++;
                continue;
            }
            const char *cn = map ? clssd__class_map_apply(map, nm->string) : nm->string;
            const int32_t ci = cn ? clssd__gt_find_class(gt, cn) : -1;
            if (ci < 0) {
                out->n_unmatched_class++;
                continue;
            }
            clssd_det det;
            det.image = gi;
            det.cls = ci;
            det.score = sc->number;
            det.box[0] = b[0] * sx;
            det.box[1] = b[1] * sy;
            det.box[2] = b[2] * sx;
            det.box[3] = b[3] * sy;
            /* scaling to the ground truth's size may overflow a finite box */
            if (!isfinite(det.box[0]) || !isfinite(det.box[1]) || !isfinite(det.box[2]) ||
                !isfinite(det.box[3]))
                CLSSD__DATA_BAD("images[%zu].detections[%zu]: box out of range", i, k);
            if (clssd__dets_push(out, &det) != CLSSD_OK) CLSSD__DATA_OOM();
        }
    }
    clssd__json_free(root);
    return CLSSD_OK;
fail:
    clssd__json_free(root);
    clssd__dets_free(out);
    return s;
}

static clssd_status coco_results_from_json(clssd_json *root, const char *path,
                                           const clssd_gt_set *gt, clssd_det_set *out, char *err,
                                           size_t errcap)
{
    clssd_status s = CLSSD_OK;
    if (root->type != CLSSD_JSON_ARRAY) CLSSD__DATA_BAD("the top level is not an array");
    if (root->n_items > CLSSD_DATA_MAX_OBJECTS)
        CLSSD__DATA_BAD("more than %d detections", CLSSD_DATA_MAX_OBJECTS);
    if (root->n_items && dets_reserve(out, root->n_items) != CLSSD_OK) CLSSD__DATA_OOM();
    for (size_t i = 0; i < root->n_items; i++) {
        const clssd_json *e = &root->items[i];
        if (e->type != CLSSD_JSON_OBJECT) CLSSD__DATA_BAD("[%zu]: not an object", i);
        int64_t img, cat;
        const clssd_json *m = clssd__json_get(e, "image_id");
        if (!m || !clssd__json_int(m, &img))
            CLSSD__DATA_BAD("[%zu]: \"image_id\" must be an integer", i);
        m = clssd__json_get(e, "category_id");
        if (!m || !clssd__json_int(m, &cat))
            CLSSD__DATA_BAD("[%zu]: \"category_id\" must be an integer", i);
        double b[4];
        if (!box4(clssd__json_get(e, "bbox"), b))
            CLSSD__DATA_BAD("[%zu]: bbox must be 4 numbers", i);
        const clssd_json *sc = clssd__json_get(e, "score");
        if (!sc || sc->type != CLSSD_JSON_NUMBER)
            CLSSD__DATA_BAD("[%zu]: \"score\" must be a number", i);
        const int32_t gi = clssd__gt_find_image_coco(gt, img);
        if (gi < 0) {
            out->n_unmatched_image++;
            continue;
        }
        const int32_t ci = clssd__gt_find_class_coco(gt, cat);
        if (ci < 0) {
            out->n_unmatched_class++;
            continue;
        }
        clssd_det det;
        det.image = gi;
        det.cls = ci;
        det.score = sc->number;
        det.box[0] = b[0];
        det.box[1] = b[1];
        det.box[2] = b[0] + b[2];
        det.box[3] = b[1] + b[3];
        if (!isfinite(det.box[2]) || !isfinite(det.box[3]))
            CLSSD__DATA_BAD("[%zu]: bbox out of range", i);
        if (clssd__dets_push(out, &det) != CLSSD_OK) CLSSD__DATA_OOM();
    }
    clssd__json_free(root);
    return CLSSD_OK;
fail:
    clssd__json_free(root);
    clssd__dets_free(out);
    return s;
}

/* What every entry point does first: check the arguments, clear err and out. */
static clssd_status dets_begin(const clssd_gt_set *gt, clssd_det_set *out, char *err,
                               size_t errcap)
{
    if (err && errcap) err[0] = '\0';
    if (!out || !gt) return clssd__data_fail(err, errcap, CLSSD_ERR_INVALID_ARG, "NULL argument");
    memset(out, 0, sizeof *out);
    return CLSSD_OK;
}

clssd_status clssd__dets_load_detect_json(const char *path, const clssd_gt_set *gt,
                                          const clssd_class_map *map, clssd_det_set *out, char *err,
                                          size_t errcap)
{
    clssd_json *root = NULL;
    clssd_status s = dets_begin(gt, out, err, errcap);
    if (s == CLSSD_OK) s = clssd__data_read_json(path, &root, err, errcap);
    if (s != CLSSD_OK) return s;
    return detect_from_json(root, path, gt, map, out, err, errcap);
}

clssd_status clssd__dets_load_detect_json_mem(const char *text, size_t len, const char *name,
                                              const clssd_gt_set *gt, const clssd_class_map *map,
                                              clssd_det_set *out, char *err, size_t errcap)
{
    clssd_json *root = NULL;
    clssd_status s = dets_begin(gt, out, err, errcap);
    if (s == CLSSD_OK) s = clssd__data_parse_json(text, len, name, &root, err, errcap);
    if (s != CLSSD_OK) return s;
    return detect_from_json(root, clssd__data_name(name), gt, map, out, err, errcap);
}

clssd_status clssd__dets_load_coco_results(const char *path, const clssd_gt_set *gt,
                                           clssd_det_set *out, char *err, size_t errcap)
{
    clssd_json *root = NULL;
    clssd_status s = dets_begin(gt, out, err, errcap);
    if (s == CLSSD_OK) s = clssd__data_read_json(path, &root, err, errcap);
    if (s != CLSSD_OK) return s;
    return coco_results_from_json(root, path, gt, out, err, errcap);
}

clssd_status clssd__dets_load_coco_results_mem(const char *text, size_t len, const char *name,
                                               const clssd_gt_set *gt, clssd_det_set *out,
                                               char *err, size_t errcap)
{
    clssd_json *root = NULL;
    clssd_status s = dets_begin(gt, out, err, errcap);
    if (s == CLSSD_OK) s = clssd__data_parse_json(text, len, name, &root, err, errcap);
    if (s != CLSSD_OK) return s;
    return coco_results_from_json(root, clssd__data_name(name), gt, out, err, errcap);
}
