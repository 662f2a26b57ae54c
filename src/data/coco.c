/* COCO instances JSON ground truth (dataset.h), read with the strict parser of
 * src/import/json.c. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "data/data_internal.h"
#include "json.h"

/* A member that must be an exact integer; 0 with a message when it is not. */
static int get_int(const clssd_json *obj, const char *key, int64_t *v)
{
    const clssd_json *m = clssd__json_get(obj, key);
    return m && clssd__json_int(m, v);
}

/* Optional 0/1 flag: a number (!= 0) or a boolean; absent = 0. -1 when malformed. */
static int get_flag(const clssd_json *obj, const char *key)
{
    const clssd_json *m = clssd__json_get(obj, key);
    if (!m || m->type == CLSSD_JSON_NULL) return 0;
    if (m->type == CLSSD_JSON_BOOL) return m->boolean != 0;
    if (m->type == CLSSD_JSON_NUMBER) return m->number != 0.0;
    return -1;
}

static const clssd_json *get_array(const clssd_json *root, const char *key)
{
    const clssd_json *m = clssd__json_get(root, key);
    return m && m->type == CLSSD_JSON_ARRAY ? m : NULL;
}

clssd_status clssd__data_parse_json(const char *text, size_t len, const char *name,
                                   clssd_json **out, char *err, size_t errcap)
{
    *out = NULL;
    char msg[256] = "";
    const clssd_status s = clssd__json_parse(text, len, out, msg, sizeof msg);
    if (s != CLSSD_OK)
        return clssd__data_fail(err, errcap, s, "%s: %s", clssd__data_name(name), msg);
    return CLSSD_OK;
}

clssd_status clssd__data_read_json(const char *path, clssd_json **out, char *err, size_t errcap)
{
    *out = NULL;
    char *text;
    size_t len;
    clssd_status s = clssd__data_read_file(path, &text, &len, err, errcap);
    if (s != CLSSD_OK) return s;
    s = clssd__data_parse_json(text, len, path, out, err, errcap);
    clssd__free(text);
    return s;
}

static int good_name(const char *s, size_t n)
{
    if (n > CLSSD_DATA_MAX_NAME) return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20) return 0;
    return 1;
}

/* The set described by a parsed COCO document; root is freed in every case. path names the
 * document in messages. */
static clssd_status coco_from_json(clssd_json *root, const char *path, clssd_gt_set **out,
                                   char *err, size_t errcap)
{
    clssd_status s = CLSSD_OK;
    clssd_gt_set *g = NULL;
    clssd__i64tab img_ids = {0}, cat_ids = {0};
    clssd__strtab cat_names = {0};
    size_t *start = NULL;
    clssd_gt_object *objs = NULL;

    if (root->type != CLSSD_JSON_OBJECT) CLSSD__DATA_BAD("the top level is not an object");
    const clssd_json *images = get_array(root, "images");
    const clssd_json *anns = get_array(root, "annotations");
    const clssd_json *cats = get_array(root, "categories");
    if (!images) CLSSD__DATA_BAD("no \"images\" array");
    if (!anns) CLSSD__DATA_BAD("no \"annotations\" array");
    if (!cats) CLSSD__DATA_BAD("no \"categories\" array");
    if (images->n_items > CLSSD_DATA_MAX_IMAGES)
        CLSSD__DATA_BAD("more than %d images", CLSSD_DATA_MAX_IMAGES);
    if (anns->n_items > CLSSD_DATA_MAX_OBJECTS)
        CLSSD__DATA_BAD("more than %d annotations", CLSSD_DATA_MAX_OBJECTS);
    if (cats->n_items > CLSSD_DATA_MAX_CLASSES)
        CLSSD__DATA_BAD("more than %d categories", CLSSD_DATA_MAX_CLASSES);

    g = clssd__calloc(1, sizeof *g);
    if (!g) CLSSD__DATA_OOM();
    g->is_coco = 1;
    g->images = clssd__calloc(images->n_items, sizeof *g->images);
    g->classes = clssd__calloc(cats->n_items, sizeof *g->classes);
    if (!g->images || !g->classes) CLSSD__DATA_OOM();

    for (size_t i = 0; i < images->n_items; i++) {
        const clssd_json *e = &images->items[i];
        if (e->type != CLSSD_JSON_OBJECT) CLSSD__DATA_BAD("images[%zu]: not an object", i);
        int64_t id, w = 0, h = 0;
        if (!get_int(e, "id", &id)) CLSSD__DATA_BAD("images[%zu]: \"id\" must be an integer", i);
        const clssd_json *m = clssd__json_get(e, "width");
        if (m && m->type != CLSSD_JSON_NULL && (!clssd__json_int(m, &w) || w < 0 || w > INT32_MAX))
            CLSSD__DATA_BAD("images[%zu]: \"width\" must be an integer >= 0", i);
        m = clssd__json_get(e, "height");
        if (m && m->type != CLSSD_JSON_NULL && (!clssd__json_int(m, &h) || h < 0 || h > INT32_MAX))
            CLSSD__DATA_BAD("images[%zu]: \"height\" must be an integer >= 0", i);
        const clssd_json *fn = clssd__json_get(e, "file_name");
        if (fn && fn->type != CLSSD_JSON_NULL &&
            (fn->type != CLSSD_JSON_STRING || !good_name(fn->string, fn->string_len)))
            CLSSD__DATA_BAD("images[%zu]: \"file_name\" must be a string of at most %d bytes", i,
                            CLSSD_DATA_MAX_NAME);
        int32_t old;
        s = clssd__i64tab_put(&img_ids, id, (int32_t)i, &old);
        if (s != CLSSD_OK) CLSSD__DATA_OOM();
        if (old >= 0)
            CLSSD__DATA_BAD("images[%zu]: id %lld already used by images[%d]", i, (long long)id,
                            (int)old);
        clssd_gt_image *im = &g->images[i];
        char idbuf[32];
        snprintf(idbuf, sizeof idbuf, "%lld", (long long)id);
        im->id = clssd__data_strndup(idbuf, strlen(idbuf));
        if (!im->id) CLSSD__DATA_OOM();
        g->n_images = i + 1;
        if (fn && fn->type == CLSSD_JSON_STRING) {
            im->file = clssd__data_strndup(fn->string, fn->string_len);
            if (!im->file) CLSSD__DATA_OOM();
        }
        im->coco_id = id;
        im->width = (int32_t)w;
        im->height = (int32_t)h;
    }

    for (size_t i = 0; i < cats->n_items; i++) {
        const clssd_json *e = &cats->items[i];
        if (e->type != CLSSD_JSON_OBJECT) CLSSD__DATA_BAD("categories[%zu]: not an object", i);
        int64_t id;
        if (!get_int(e, "id", &id))
            CLSSD__DATA_BAD("categories[%zu]: \"id\" must be an integer", i);
        const clssd_json *nm = clssd__json_get(e, "name");
        if (!nm || nm->type != CLSSD_JSON_STRING || !nm->string_len ||
            !good_name(nm->string, nm->string_len))
            CLSSD__DATA_BAD(
                "categories[%zu]: \"name\" must be a non-empty string of at most %d bytes", i,
                CLSSD_DATA_MAX_NAME);
        int32_t old;
        s = clssd__i64tab_put(&cat_ids, id, (int32_t)i, &old);
        if (s != CLSSD_OK) CLSSD__DATA_OOM();
        if (old >= 0)
            CLSSD__DATA_BAD("categories[%zu]: id %lld already used by categories[%d]", i,
                            (long long)id, (int)old);
        s = clssd__strtab_put(&cat_names, nm->string, nm->string_len, (int32_t)i, &old);
        if (s != CLSSD_OK) CLSSD__DATA_OOM();
        if (old >= 0)
            CLSSD__DATA_BAD("categories[%zu]: name \"%.64s\" already used by categories[%d]", i,
                            nm->string, (int)old);
        g->classes[i].name = clssd__data_strndup(nm->string, nm->string_len);
        if (!g->classes[i].name) CLSSD__DATA_OOM();
        g->n_classes = i + 1;
        g->classes[i].coco_id = id;
    }

    const size_t na = anns->n_items;
    g->objects = clssd__calloc(na, sizeof *g->objects);
    if (!g->objects) CLSSD__DATA_OOM();
    for (size_t i = 0; i < na; i++) {
        const clssd_json *e = &anns->items[i];
        if (e->type != CLSSD_JSON_OBJECT) CLSSD__DATA_BAD("annotations[%zu]: not an object", i);
        clssd_gt_object *o = &g->objects[i];
        int64_t img, cat;
        if (!get_int(e, "id", &o->id))
            CLSSD__DATA_BAD("annotations[%zu]: \"id\" must be an integer", i);
        if (!get_int(e, "image_id", &img))
            CLSSD__DATA_BAD("annotations[%zu]: \"image_id\" must be an integer", i);
        if (!get_int(e, "category_id", &cat))
            CLSSD__DATA_BAD("annotations[%zu]: \"category_id\" must be an integer", i);
        o->image = clssd__i64tab_get(&img_ids, img);
        if (o->image < 0)
            CLSSD__DATA_BAD("annotations[%zu]: image_id %lld is not in \"images\"", i,
                            (long long)img);
        o->cls = clssd__i64tab_get(&cat_ids, cat);
        if (o->cls < 0)
            CLSSD__DATA_BAD("annotations[%zu]: category_id %lld is not in \"categories\"", i,
                            (long long)cat);
        const clssd_json *bb = clssd__json_get(e, "bbox");
        if (!bb || bb->type != CLSSD_JSON_ARRAY || bb->n_items != 4)
            CLSSD__DATA_BAD("annotations[%zu]: bbox must be 4 numbers", i);
        double v[4];
        for (int k = 0; k < 4; k++) {
            if (bb->items[k].type != CLSSD_JSON_NUMBER)
                CLSSD__DATA_BAD("annotations[%zu]: bbox must be 4 numbers", i);
            v[k] = bb->items[k].number;
        }
        o->box[0] = v[0];
        o->box[1] = v[1];
        o->box[2] = v[0] + v[2];
        o->box[3] = v[1] + v[3];
        if (!isfinite(o->box[2]) || !isfinite(o->box[3]))
            CLSSD__DATA_BAD("annotations[%zu]: bbox out of range", i);
        const clssd_json *ar = clssd__json_get(e, "area");
        if (ar && ar->type != CLSSD_JSON_NULL) {
            if (ar->type != CLSSD_JSON_NUMBER)
                CLSSD__DATA_BAD("annotations[%zu]: \"area\" must be a number", i);
            o->area = ar->number;
        } else {
            o->area = v[2] * v[3];
        }
        const int crowd = get_flag(e, "iscrowd"), ign = get_flag(e, "ignore");
        if (crowd < 0)
            CLSSD__DATA_BAD("annotations[%zu]: \"iscrowd\" must be a number or boolean", i);
        if (ign < 0) CLSSD__DATA_BAD("annotations[%zu]: \"ignore\" must be a number or boolean", i);
        o->iscrowd = (uint8_t)crowd;
        o->difficult = (uint8_t)ign;
    }
    g->n_objects = na;

    /* group by image, stable */
    start = clssd__calloc(g->n_images + 1, sizeof *start);
    objs = clssd__calloc(na, sizeof *objs); /* calloc: checked n * size */
    if (!start || !objs) CLSSD__DATA_OOM();
    for (size_t i = 0; i < na; i++)
        start[g->objects[i].image + 1]++;
    for (size_t i = 0; i < g->n_images; i++)
        start[i + 1] += start[i];
    for (size_t i = 0; i < na; i++)
        objs[start[g->objects[i].image]++] = g->objects[i];
    clssd__free(g->objects);
    g->objects = objs;
    objs = NULL;

    s = clssd__gt_index(g);
    if (s != CLSSD_OK) CLSSD__DATA_OOM();
    clssd__free(start);
    clssd__i64tab_free(&img_ids);
    clssd__i64tab_free(&cat_ids);
    clssd__strtab_free(&cat_names);
    clssd__json_free(root);
    *out = g;
    return CLSSD_OK;
fail:
    clssd__free(start);
    clssd__free(objs);
    clssd__i64tab_free(&img_ids);
    clssd__i64tab_free(&cat_ids);
    clssd__strtab_free(&cat_names);
    clssd__json_free(root);
    clssd__gt_free(g);
    return s;
}

clssd_status clssd__gt_load_coco(const char *path, clssd_gt_set **out, char *err, size_t errcap)
{
    if (err && errcap) err[0] = '\0';
    if (!out) return clssd__data_fail(err, errcap, CLSSD_ERR_INVALID_ARG, "NULL output");
    *out = NULL;
    clssd_json *root;
    const clssd_status s = clssd__data_read_json(path, &root, err, errcap);
    if (s != CLSSD_OK) return s;
    return coco_from_json(root, path, out, err, errcap);
}

clssd_status clssd__gt_load_coco_mem(const char *text, size_t len, const char *name,
                                     clssd_gt_set **out, char *err, size_t errcap)
{
    if (err && errcap) err[0] = '\0';
    if (!out) return clssd__data_fail(err, errcap, CLSSD_ERR_INVALID_ARG, "NULL output");
    *out = NULL;
    name = clssd__data_name(name);
    clssd_json *root;
    const clssd_status s = clssd__data_parse_json(text, len, name, &root, err, errcap);
    if (s != CLSSD_OK) return s;
    return coco_from_json(root, name, out, err, errcap);
}
