/* Ground-truth sets: shared helpers of the readers (files, numbers, hash tables, the VOC set
 * builder), clssd__gt_free and the lookups (dataset.h). */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"

const char *const clssd__voc_classes[20] = {
    "aeroplane", "bicycle",     "bird",  "boat",        "bottle", "bus",      "car",
    "cat",       "chair",       "cow",   "diningtable", "dog",    "horse",    "motorbike",
    "person",    "pottedplant", "sheep", "sofa",        "train",  "tvmonitor"};

/* ---------------------------------------------------------------- messages, files */
clssd_status clssd__data_fail(char *err, size_t errcap, clssd_status s, const char *fmt, ...)
{
    if (err && errcap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errcap, fmt, ap);
        va_end(ap);
        /* one line: control characters from file names or contents become spaces */
        for (char *p = err; *p; p++)
            if ((unsigned char)*p < 0x20) *p = ' ';
    }
    return s;
}

clssd_status clssd__data_read_file(const char *path, char **out, size_t *len, char *err,
                                   size_t errcap)
{
    *out = NULL;
    *len = 0;
    if (!path) return clssd__data_fail(err, errcap, CLSSD_ERR_INVALID_ARG, "no file name given");
    FILE *f = fopen(path, "rb");
    if (!f)
        return clssd__data_fail(err, errcap, CLSSD_ERR_IO, "%s: cannot open: %s", path,
                                strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = clssd__malloc(cap);
    clssd_status s = CLSSD_OK;
    if (!buf) {
        s = clssd__data_fail(err, errcap, CLSSD_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        goto done;
    }
    for (;;) {
        if (cap - n < 2) {
            if (cap > CLSSD_DATA_MAX_FILE) {
                s = clssd__data_fail(err, errcap, CLSSD_ERR_BAD_MODEL,
                                     "%s: larger than the %zu-byte limit", path,
                                     (size_t)CLSSD_DATA_MAX_FILE);
                goto done;
            }
            char *nb = clssd__realloc(buf, cap * 2);
            if (!nb) {
                s = clssd__data_fail(err, errcap, CLSSD_ERR_OUT_OF_MEMORY, "%s: out of memory",
                                     path);
                goto done;
            }
            buf = nb;
            cap *= 2;
        }
        const size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) {
                s = clssd__data_fail(err, errcap, CLSSD_ERR_IO, "%s: read error: %s", path,
                                     strerror(errno));
                goto done;
            }
            break;
        }
    }
    if (n > CLSSD_DATA_MAX_FILE) {
        s = clssd__data_fail(err, errcap, CLSSD_ERR_BAD_MODEL, "%s: larger than the %zu-byte limit",
                             path, (size_t)CLSSD_DATA_MAX_FILE);
        goto done;
    }
    buf[n] = '\0';
done:
    fclose(f);
    if (s != CLSSD_OK) {
        clssd__free(buf);
        return s;
    }
    *out = buf;
    *len = n;
    return CLSSD_OK;
}

int clssd__data_next_line(const char *text, size_t len, size_t *pos, const char **ln,
                          size_t *ll)
{
    size_t i = *pos;
    if (i >= len) return 0;
    size_t e = i;
    while (e < len && text[e] != '\n')
        e++;
    *ln = text + i;
    *ll = e - i;
    if (*ll && (*ln)[*ll - 1] == '\r') (*ll)--;
    *pos = e + 1;
    return 1;
}

char *clssd__data_strndup(const char *s, size_t n)
{
    size_t sz;
    if (!clssd__add_size(n, 1, &sz)) return NULL;
    char *c = clssd__malloc(sz);
    if (!c) return NULL;
    if (n) memcpy(c, s, n);
    c[n] = '\0';
    return c;
}

const char *clssd__data_basename(const char *path)
{
    const char *b = path;
    for (const char *p = path; *p; p++)
        if (*p == '/' || *p == '\\') b = p + 1;
    return b;
}

void clssd__data_free_strings(char **v, size_t n)
{
    if (!v) return;
    for (size_t i = 0; i < n; i++)
        clssd__free(v[i]);
    clssd__free(v);
}

/* ---------------------------------------------------------------- numbers */
static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

int clssd__data_number(const char *s, size_t n, double *out)
{
    size_t i = 0, digits = 0;
    if (i < n && (s[i] == '+' || s[i] == '-')) i++;
    while (i < n && is_digit(s[i]))
        i++, digits++;
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && is_digit(s[i]))
            i++, digits++;
    }
    if (!digits) return 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        size_t ed = 0;
        while (i < n && is_digit(s[i]))
            i++, ed++;
        if (!ed) return 0;
    }
    if (i != n) return 0;
    /* strtod on a NUL-terminated copy in which '.' is the locale's decimal point */
    const struct lconv *lc = localeconv();
    const char *dp = lc && lc->decimal_point && lc->decimal_point[0] ? lc->decimal_point : ".";
    const size_t dpl = strlen(dp);
    char buf[352];
    size_t k = 0;
    for (size_t j = 0; j < n; j++) {
        if (s[j] == '.') {
            if (k + dpl >= sizeof buf) return 0;
            memcpy(buf + k, dp, dpl);
            k += dpl;
        } else {
            if (k + 1 >= sizeof buf) return 0;
            buf[k++] = s[j];
        }
    }
    buf[k] = '\0';
    char *end = NULL;
    const double d = strtod(buf, &end);
    if (end != buf + k || !isfinite(d)) return 0;
    *out = d;
    return 1;
}

int clssd__data_int(const char *s, size_t n, int64_t lo, int64_t hi, int64_t *out)
{
    double d;
    if (!clssd__data_number(s, n, &d)) return 0;
    if (d != floor(d) || d < (double)lo || d > (double)hi || fabs(d) > 9007199254740992.0) return 0;
    *out = (int64_t)d;
    return 1;
}

int clssd__data_digits(const char *s, size_t n, int64_t *out)
{
    if (n == 0 || n > 18) return 0;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i])) return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

/* ---------------------------------------------------------------- hash tables */
static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

static uint64_t hash_i64(int64_t k)
{
    uint64_t z = (uint64_t)k + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

int32_t clssd__strtab_get(const clssd__strtab *t, const char *s, size_t len)
{
    if (!t->cap) return -1;
    const uint64_t h = hash_bytes(s, len);
    for (size_t i = (size_t)h & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
        const clssd__strtab_slot *e = &t->slots[i];
        if (!e->key) return -1;
        if (e->hash == h && e->len == len && memcmp(e->key, s, len) == 0) return e->val;
    }
}

static void strtab_insert(clssd__strtab_slot *slots, size_t cap, const clssd__strtab_slot *e)
{
    size_t i = (size_t)e->hash & (cap - 1);
    while (slots[i].key)
        i = (i + 1) & (cap - 1);
    slots[i] = *e;
}

clssd_status clssd__strtab_put(clssd__strtab *t, const char *key, size_t len, int32_t val,
                               int32_t *old)
{
    const int32_t have = clssd__strtab_get(t, key, len);
    if (old) *old = have;
    if (have >= 0) return CLSSD_OK;
    if ((t->n + 1) * 2 > t->cap) {
        const size_t ncap = t->cap ? t->cap * 2 : 16;
        if (ncap > ((size_t)1 << 40) / sizeof(clssd__strtab_slot)) return CLSSD_ERR_OUT_OF_MEMORY;
        clssd__strtab_slot *ns = clssd__calloc(ncap, sizeof *ns);
        if (!ns) return CLSSD_ERR_OUT_OF_MEMORY;
        for (size_t i = 0; i < t->cap; i++)
            if (t->slots[i].key) strtab_insert(ns, ncap, &t->slots[i]);
        clssd__free(t->slots);
        t->slots = ns;
        t->cap = ncap;
    }
    const clssd__strtab_slot e = {key, len, hash_bytes(key, len), val};
    strtab_insert(t->slots, t->cap, &e);
    t->n++;
    return CLSSD_OK;
}

void clssd__strtab_free(clssd__strtab *t)
{
    clssd__free(t->slots);
    memset(t, 0, sizeof *t);
}

int32_t clssd__i64tab_get(const clssd__i64tab *t, int64_t key)
{
    if (!t->cap) return -1;
    for (size_t i = (size_t)hash_i64(key) & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
        const clssd__i64tab_slot *e = &t->slots[i];
        if (e->val < 0) return -1;
        if (e->key == key) return e->val;
    }
}

static void i64tab_insert(clssd__i64tab_slot *slots, size_t cap, clssd__i64tab_slot e)
{
    size_t i = (size_t)hash_i64(e.key) & (cap - 1);
    while (slots[i].val >= 0)
        i = (i + 1) & (cap - 1);
    slots[i] = e;
}

clssd_status clssd__i64tab_put(clssd__i64tab *t, int64_t key, int32_t val, int32_t *old)
{
    const int32_t have = clssd__i64tab_get(t, key);
    if (old) *old = have;
    if (have >= 0) return CLSSD_OK;
    if ((t->n + 1) * 2 > t->cap) {
        const size_t ncap = t->cap ? t->cap * 2 : 16;
        if (ncap > ((size_t)1 << 40) / sizeof(clssd__i64tab_slot)) return CLSSD_ERR_OUT_OF_MEMORY;
        clssd__i64tab_slot *ns = clssd__malloc(ncap * sizeof *ns);
        if (!ns) return CLSSD_ERR_OUT_OF_MEMORY;
        for (size_t i = 0; i < ncap; i++)
            ns[i].val = -1, ns[i].key = 0;
        for (size_t i = 0; i < t->cap; i++)
            if (t->slots[i].val >= 0) i64tab_insert(ns, ncap, t->slots[i]);
        clssd__free(t->slots);
        t->slots = ns;
        t->cap = ncap;
    }
    const clssd__i64tab_slot e = {key, val};
    i64tab_insert(t->slots, t->cap, e);
    t->n++;
    return CLSSD_OK;
}

void clssd__i64tab_free(clssd__i64tab *t)
{
    clssd__free(t->slots);
    memset(t, 0, sizeof *t);
}

/* ---------------------------------------------------------------- the set and its index */
struct clssd_gt_index {
    clssd__strtab ids, files, classes; /* keys point into the set's strings */
    clssd__i64tab image_coco, class_coco;
    /* what it was built for: a set changed since (e.g. clssd__gt_keep_images) is looked up
     * linearly instead, and the keys, which may point at freed strings, are not read */
    const void *images_at, *classes_at;
    size_t n_images, n_classes;
};

static const struct clssd_gt_index *valid_index(const clssd_gt_set *g)
{
    const struct clssd_gt_index *x = g->index;
    if (x && x->images_at == (const void *)g->images && x->classes_at == (const void *)g->classes &&
        x->n_images == g->n_images && x->n_classes == g->n_classes)
        return x;
    return NULL;
}

static void index_free(struct clssd_gt_index *x)
{
    if (!x) return;
    clssd__strtab_free(&x->ids);
    clssd__strtab_free(&x->files);
    clssd__strtab_free(&x->classes);
    clssd__i64tab_free(&x->image_coco);
    clssd__i64tab_free(&x->class_coco);
    clssd__free(x);
}

clssd_status clssd__gt_index(clssd_gt_set *g)
{
    if (!g) return CLSSD_ERR_INVALID_ARG;
    index_free(g->index);
    g->index = NULL;
    if (g->n_images > INT32_MAX || g->n_classes > INT32_MAX) return CLSSD_ERR_INVALID_ARG;
    struct clssd_gt_index *x = clssd__calloc(1, sizeof *x);
    if (!x) return CLSSD_ERR_OUT_OF_MEMORY;
    clssd_status s = CLSSD_OK;
    for (size_t i = 0; i < g->n_images && s == CLSSD_OK; i++) {
        const clssd_gt_image *im = &g->images[i];
        if (im->id) s = clssd__strtab_put(&x->ids, im->id, strlen(im->id), (int32_t)i, NULL);
        if (s == CLSSD_OK && im->file) {
            const char *b = clssd__data_basename(im->file);
            s = clssd__strtab_put(&x->files, b, strlen(b), (int32_t)i, NULL);
        }
        if (s == CLSSD_OK) s = clssd__i64tab_put(&x->image_coco, im->coco_id, (int32_t)i, NULL);
    }
    for (size_t i = 0; i < g->n_classes && s == CLSSD_OK; i++) {
        const clssd_gt_class *c = &g->classes[i];
        if (c->name) s = clssd__strtab_put(&x->classes, c->name, strlen(c->name), (int32_t)i, NULL);
        if (s == CLSSD_OK) s = clssd__i64tab_put(&x->class_coco, c->coco_id, (int32_t)i, NULL);
    }
    if (s != CLSSD_OK) {
        index_free(x);
        return s;
    }
    x->images_at = g->images;
    x->classes_at = g->classes;
    x->n_images = g->n_images;
    x->n_classes = g->n_classes;
    g->index = x;
    return CLSSD_OK;
}

void clssd__gt_free(clssd_gt_set *g)
{
    if (!g) return;
    for (size_t i = 0; g->images && i < g->n_images; i++) {
        clssd__free(g->images[i].id);
        clssd__free(g->images[i].file);
    }
    clssd__free(g->images);
    for (size_t i = 0; g->classes && i < g->n_classes; i++)
        clssd__free(g->classes[i].name);
    clssd__free(g->classes);
    clssd__free(g->objects);
    index_free(g->index);
    clssd__free(g);
}

/* Length of the basename's stem (up to its last '.', all of it when it has none). */
static size_t stem_len(const char *base)
{
    const char *dot = strrchr(base, '.');
    return dot && dot != base ? (size_t)(dot - base) : strlen(base);
}

int32_t clssd__gt_find_image_linear(const clssd_gt_set *g, const char *name)
{
    const size_t n = g->n_images > INT32_MAX ? (size_t)INT32_MAX : g->n_images;
    for (size_t i = 0; i < n; i++)
        if (g->images[i].id && strcmp(g->images[i].id, name) == 0) return (int32_t)i;
    const char *base = clssd__data_basename(name);
    const size_t sl = stem_len(base);
    for (size_t i = 0; i < n; i++) {
        const char *id = g->images[i].id;
        if (id && strlen(id) == sl && memcmp(id, base, sl) == 0) return (int32_t)i;
    }
    for (size_t i = 0; i < n; i++)
        if (g->images[i].file && strcmp(clssd__data_basename(g->images[i].file), base) == 0)
            return (int32_t)i;
    return -1;
}

int32_t clssd__gt_find_image(const clssd_gt_set *g, const char *name_or_path)
{
    if (!g || !name_or_path) return -1;
    const struct clssd_gt_index *x = valid_index(g);
    if (!x) return clssd__gt_find_image_linear(g, name_or_path);
    int32_t r = clssd__strtab_get(&x->ids, name_or_path, strlen(name_or_path));
    if (r >= 0) return r;
    const char *base = clssd__data_basename(name_or_path);
    r = clssd__strtab_get(&x->ids, base, stem_len(base));
    if (r >= 0) return r;
    return clssd__strtab_get(&x->files, base, strlen(base));
}

int32_t clssd__gt_find_class(const clssd_gt_set *g, const char *name)
{
    if (!g || !name) return -1;
    const struct clssd_gt_index *x = valid_index(g);
    if (x) return clssd__strtab_get(&x->classes, name, strlen(name));
    const size_t n = g->n_classes > INT32_MAX ? (size_t)INT32_MAX : g->n_classes;
    for (size_t i = 0; i < n; i++)
        if (g->classes[i].name && strcmp(g->classes[i].name, name) == 0) return (int32_t)i;
    return -1;
}

int32_t clssd__gt_find_image_coco(const clssd_gt_set *g, int64_t coco_id)
{
    if (!g) return -1;
    const struct clssd_gt_index *x = valid_index(g);
    if (x) return clssd__i64tab_get(&x->image_coco, coco_id);
    const size_t n = g->n_images > INT32_MAX ? (size_t)INT32_MAX : g->n_images;
    for (size_t i = 0; i < n; i++)
        if (g->images[i].coco_id == coco_id) return (int32_t)i;
    return -1;
}

int32_t clssd__gt_find_class_coco(const clssd_gt_set *g, int64_t coco_id)
{
    if (!g) return -1;
    const struct clssd_gt_index *x = valid_index(g);
    if (x) return clssd__i64tab_get(&x->class_coco, coco_id);
    const size_t n = g->n_classes > INT32_MAX ? (size_t)INT32_MAX : g->n_classes;
    for (size_t i = 0; i < n; i++)
        if (g->classes[i].coco_id == coco_id) return (int32_t)i;
    return -1;
}

/* ---------------------------------------------------------------- the VOC set builder */
/* Grows *v (elements of size sz, *cap of them) to hold at least need; limit in elements. */
static clssd_status grow(void **v, size_t *cap, size_t need, size_t sz, size_t limit)
{
    if (need <= *cap) return CLSSD_OK;
    if (need > limit) return CLSSD_ERR_BAD_MODEL;
    size_t ncap = *cap ? *cap : 16;
    while (ncap < need)
        ncap = ncap > limit / 2 ? limit : ncap * 2;
    size_t bytes;
    if (!clssd__mul_size(ncap, sz, &bytes)) return CLSSD_ERR_OUT_OF_MEMORY;
    void *nv = clssd__realloc(*v, bytes);
    if (!nv) return CLSSD_ERR_OUT_OF_MEMORY;
    *v = nv;
    *cap = ncap;
    return CLSSD_OK;
}

clssd_status clssd__gtb_add_image(clssd__gt_builder *b, const char *id, size_t id_len, char *file,
                                  int32_t width, int32_t height, int32_t *index)
{
    int32_t old = clssd__strtab_get(&b->image_ids, id, id_len);
    if (old >= 0) {
        clssd__free(file);
        *index = old;
        return CLSSD_ERR_BAD_MODEL;
    }
    clssd_status s = grow((void **)&b->images, &b->cap_images, b->n_images + 1, sizeof *b->images,
                          CLSSD_DATA_MAX_IMAGES);
    char *idc = s == CLSSD_OK ? clssd__data_strndup(id, id_len) : NULL;
    if (s == CLSSD_OK && !idc) s = CLSSD_ERR_OUT_OF_MEMORY;
    if (s == CLSSD_OK)
        s = clssd__strtab_put(&b->image_ids, idc, id_len, (int32_t)b->n_images, NULL);
    if (s != CLSSD_OK) {
        clssd__free(idc);
        clssd__free(file);
        return s;
    }
    clssd_gt_image *im = &b->images[b->n_images];
    memset(im, 0, sizeof *im);
    im->id = idc;
    im->file = file;
    im->width = width;
    im->height = height;
    int64_t num;
    im->coco_id = clssd__data_digits(idc, id_len, &num) ? num : (int64_t)b->n_images;
    *index = (int32_t)b->n_images++;
    return CLSSD_OK;
}

clssd_status clssd__gtb_intern(clssd__gt_builder *b, const char *name, size_t len, int32_t *index)
{
    int32_t old = clssd__strtab_get(&b->name_tab, name, len);
    if (old >= 0) {
        *index = old;
        return CLSSD_OK;
    }
    clssd_status s = grow((void **)&b->names, &b->cap_names, b->n_names + 1, sizeof *b->names,
                          CLSSD_DATA_MAX_CLASSES);
    if (s != CLSSD_OK) return s;
    char *c = clssd__data_strndup(name, len);
    if (!c) return CLSSD_ERR_OUT_OF_MEMORY;
    s = clssd__strtab_put(&b->name_tab, c, len, (int32_t)b->n_names, NULL);
    if (s != CLSSD_OK) {
        clssd__free(c);
        return s;
    }
    b->names[b->n_names] = c;
    *index = (int32_t)b->n_names++;
    return CLSSD_OK;
}

clssd_status clssd__gtb_add_object(clssd__gt_builder *b, int32_t image, int32_t name_index,
                                   const double voc_box[4], uint8_t difficult)
{
    clssd_status s = grow((void **)&b->objects, &b->cap_objects, b->n_objects + 1,
                          sizeof *b->objects, CLSSD_DATA_MAX_OBJECTS);
    if (s != CLSSD_OK) return s;
    clssd_gt_object *o = &b->objects[b->n_objects++];
    memset(o, 0, sizeof *o);
    o->image = image;
    o->cls = name_index;
    o->box[0] = voc_box[0] - 1.0;
    o->box[1] = voc_box[1] - 1.0;
    o->box[2] = voc_box[2];
    o->box[3] = voc_box[3];
    o->difficult = difficult;
    return CLSSD_OK;
}

void clssd__gtb_free(clssd__gt_builder *b)
{
    for (size_t i = 0; i < b->n_images; i++) {
        clssd__free(b->images[i].id);
        clssd__free(b->images[i].file);
    }
    clssd__free(b->images);
    clssd__strtab_free(&b->image_ids);
    clssd__free(b->objects);
    clssd__data_free_strings(b->names, b->n_names);
    clssd__strtab_free(&b->name_tab);
    memset(b, 0, sizeof *b);
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int voc_index(const char *name)
{
    for (int i = 0; i < 20; i++)
        if (strcmp(clssd__voc_classes[i], name) == 0) return i;
    return -1;
}

clssd_status clssd__gtb_finish(clssd__gt_builder *b, clssd_gt_set **out)
{
    *out = NULL;
    clssd_status s = CLSSD_ERR_OUT_OF_MEMORY;
    int32_t *remap = NULL;
    size_t *start = NULL;
    clssd_gt_object *objs = NULL;
    clssd_gt_set *g = clssd__calloc(1, sizeof *g);
    if (!g) goto fail;

    /* classes */
    int all_voc = 1;
    for (size_t i = 0; i < b->n_names && all_voc; i++)
        all_voc = voc_index(b->names[i]) >= 0;
    remap = clssd__calloc(b->n_names, sizeof *remap); /* calloc: checked n * size */
    const size_t nc = all_voc ? 20 : b->n_names;
    g->classes = clssd__calloc(nc, sizeof *g->classes);
    if (!remap || !g->classes) goto fail;
    g->n_classes = nc;
    if (all_voc) {
        for (size_t k = 0; k < 20; k++) {
            g->classes[k].name =
                clssd__data_strndup(clssd__voc_classes[k], strlen(clssd__voc_classes[k]));
            if (!g->classes[k].name) goto fail;
            g->classes[k].coco_id = (int64_t)k + 1;
        }
        for (size_t i = 0; i < b->n_names; i++)
            remap[i] = voc_index(b->names[i]);
    } else {
        char **sorted = clssd__calloc(b->n_names, sizeof *sorted);
        if (!sorted) goto fail;
        memcpy(sorted, b->names, b->n_names * sizeof *sorted);
        qsort(sorted, b->n_names, sizeof *sorted, cmp_str_ptr);
        for (size_t k = 0; k < b->n_names; k++) {
            const int32_t old = clssd__strtab_get(&b->name_tab, sorted[k], strlen(sorted[k]));
            remap[old] = (int32_t)k;
            g->classes[k].coco_id = (int64_t)k + 1;
        }
        /* hand the strings over */
        for (size_t k = 0; k < b->n_names; k++)
            g->classes[k].name = sorted[k];
        clssd__free(sorted);
        clssd__strtab_free(&b->name_tab);
        clssd__free(b->names);
        b->names = NULL;
        b->n_names = 0;
    }

    /* objects grouped by image, stable */
    start = clssd__calloc(b->n_images + 1, sizeof *start);
    objs = clssd__calloc(b->n_objects, sizeof *objs);
    if (!start || !objs) goto fail;
    for (size_t i = 0; i < b->n_objects; i++)
        start[b->objects[i].image + 1]++;
    for (size_t i = 0; i < b->n_images; i++)
        start[i + 1] += start[i];
    for (size_t i = 0; i < b->n_objects; i++) {
        clssd_gt_object o = b->objects[i];
        o.cls = remap[o.cls];
        o.area = (o.box[2] - o.box[0]) * (o.box[3] - o.box[1]);
        objs[start[o.image]++] = o;
    }
    for (size_t i = 0; i < b->n_objects; i++)
        objs[i].id = (int64_t)i + 1;
    g->objects = objs;
    objs = NULL;
    g->n_objects = b->n_objects;
    g->images = b->images;
    g->n_images = b->n_images;
    b->images = NULL;
    b->n_images = 0;
    s = clssd__gt_index(g);
    if (s != CLSSD_OK) goto fail;
    clssd__free(remap);
    clssd__free(start);
    clssd__gtb_free(b);
    *out = g;
    return CLSSD_OK;
fail:
    clssd__free(remap);
    clssd__free(start);
    clssd__free(objs);
    clssd__gt_free(g);
    clssd__gtb_free(b);
    return s;
}

/* ---------------------------------------------------------------- id lists */
static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

clssd_status clssd__data_read_id_list(const char *path, int no_slash, char ***ids, size_t *n,
                                      char *err, size_t errcap)
{
    *ids = NULL;
    *n = 0;
    char *text;
    size_t len;
    clssd_status s = clssd__data_read_file(path, &text, &len, err, errcap);
    if (s != CLSSD_OK) return s;
    s = clssd__data_parse_id_list(text, len, path, no_slash, ids, n, err, errcap);
    clssd__free(text);
    return s;
}

clssd_status clssd__data_parse_id_list(const char *text, size_t len, const char *name,
                                       int no_slash, char ***ids, size_t *n, char *err,
                                       size_t errcap)
{
    *ids = NULL;
    *n = 0;
    const char *path = clssd__data_name(name);
    clssd_status s = CLSSD_OK;
    char **v = NULL;
    size_t nv = 0, cap = 0, line = 0;
    clssd__strtab seen = {0};
    size_t i = 0;
    const char *ln;
    size_t ll;
    while (clssd__data_next_line(text, len, &i, &ln, &ll)) {
        line++;
        /* the first token: class-specific lists add " 1" / "-1" after the id */
        size_t a = 0;
        while (a < ll && is_space(ln[a]))
            a++;
        size_t z = a;
        while (z < ll && !is_space(ln[z]))
            z++;
        if (z == a) continue;
        const size_t tl = z - a;
        const char *t = ln + a;
        if (tl > CLSSD_DATA_MAX_NAME) {
            s = clssd__data_fail(err, errcap, CLSSD_ERR_BAD_MODEL, "%s: line %zu: id too long",
                                 path, line);
            goto fail;
        }
        if (memchr(t, '\0', tl)) {
            s = clssd__data_fail(err, errcap, CLSSD_ERR_BAD_MODEL, "%s: line %zu: NUL byte", path,
                                 line);
            goto fail;
        }
        if (no_slash && (memchr(t, '/', tl) || memchr(t, '\\', tl) || (tl == 1 && t[0] == '.') ||
                         (tl == 2 && t[0] == '.' && t[1] == '.'))) {
            s = clssd__data_fail(err, errcap, CLSSD_ERR_BAD_MODEL,
                                 "%s: line %zu: image id \"%.*s\" is not a plain name", path, line,
                                 (int)tl, t);
            goto fail;
        }
        if (clssd__strtab_get(&seen, t, tl) >= 0) {
            s = clssd__data_fail(err, errcap, CLSSD_ERR_BAD_MODEL,
                                 "%s: line %zu: image id \"%.*s\" listed twice", path, line,
                                 (int)tl, t);
            goto fail;
        }
        s = grow((void **)&v, &cap, nv + 1, sizeof *v, CLSSD_DATA_MAX_IMAGES);
        if (s == CLSSD_ERR_BAD_MODEL) {
            s = clssd__data_fail(err, errcap, s, "%s: more than %d images", path,
                                 CLSSD_DATA_MAX_IMAGES);
            goto fail;
        }
        char *c = s == CLSSD_OK ? clssd__data_strndup(t, tl) : NULL;
        if (c) {
            s = clssd__strtab_put(&seen, c, tl, (int32_t)nv, NULL);
            if (s == CLSSD_OK)
                v[nv++] = c;
            else
                clssd__free(c);
        } else {
            s = CLSSD_ERR_OUT_OF_MEMORY;
        }
        if (s != CLSSD_OK) {
            s = clssd__data_fail(err, errcap, s, "%s: out of memory", path);
            goto fail;
        }
    }
    clssd__strtab_free(&seen);
    *ids = v;
    *n = nv;
    return CLSSD_OK;
fail:
    clssd__strtab_free(&seen);
    clssd__data_free_strings(v, nv);
    return s;
}
