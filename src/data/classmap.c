/* Class-name maps for evaluation (dataset.h): the built-in "coco-voc" and map files. */
#include <stdio.h>
#include <string.h>

#include "data/data_internal.h"

/* COCO's names as the default model (models/coco-ssdlite-mobilenet-v2.clssd, the labels of
 * src/import/tfjs_import.c) prints them -> VOC; then the VOC names that differ from their
 * COCO counterpart, mapped to themselves. */
static const char *const coco_voc[][2] = {
    {"airplane", "aeroplane"},
    {"bicycle", "bicycle"},
    {"bird", "bird"},
    {"boat", "boat"},
    {"bottle", "bottle"},
    {"bus", "bus"},
    {"car", "car"},
    {"cat", "cat"},
    {"chair", "chair"},
    {"cow", "cow"},
    {"dining table", "diningtable"},
    {"dog", "dog"},
    {"horse", "horse"},
    {"motorcycle", "motorbike"},
    {"person", "person"},
    {"potted plant", "pottedplant"},
    {"sheep", "sheep"},
    {"couch", "sofa"},
    {"train", "train"},
    {"tv", "tvmonitor"},
    {"aeroplane", "aeroplane"},
    {"diningtable", "diningtable"},
    {"motorbike", "motorbike"},
    {"pottedplant", "pottedplant"},
    {"sofa", "sofa"},
    {"tvmonitor", "tvmonitor"},
};

void clssd__class_map_free(clssd_class_map *m)
{
    if (!m) return;
    clssd__data_free_strings(m->from, m->n);
    clssd__data_free_strings(m->to, m->n);
    memset(m, 0, sizeof *m);
}

const char *clssd__class_map_apply(const clssd_class_map *m, const char *name)
{
    if (!name) return NULL;
    if (!m) return name;
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->from[i], name) == 0) return m->to[i];
    return m->exclusive ? NULL : name;
}

/* Appends one entry (copies); the arrays have room for cap entries. */
static clssd_status add_entry(clssd_class_map *m, size_t *cap, const char *f, size_t fl,
                              const char *t, size_t tl)
{
    if (m->n == *cap) {
        const size_t nc = *cap ? *cap * 2 : 32;
        size_t bytes;
        if (!clssd__mul_size(nc, sizeof *m->from, &bytes)) return CLSSD_ERR_OUT_OF_MEMORY;
        char **nf = clssd__realloc(m->from, bytes);
        if (!nf) return CLSSD_ERR_OUT_OF_MEMORY;
        m->from = nf;
        char **nt = clssd__realloc(m->to, bytes);
        if (!nt) return CLSSD_ERR_OUT_OF_MEMORY;
        m->to = nt;
        *cap = nc;
    }
    char *a = clssd__data_strndup(f, fl), *b = clssd__data_strndup(t, tl);
    if (!a || !b) {
        clssd__free(a);
        clssd__free(b);
        return CLSSD_ERR_OUT_OF_MEMORY;
    }
    m->from[m->n] = a;
    m->to[m->n] = b;
    m->n++;
    return CLSSD_OK;
}

static void trim_blank(const char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\t'))
        (*s)++, (*n)--;
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

/* The entries of a map file's text[0..len) into out (zeroed, exclusive set); spec names the
 * file in messages. out is freed on failure. */
static clssd_status parse_map(const char *text, size_t len, const char *spec, clssd_class_map *out,
                              char *err, size_t errcap)
{
    size_t cap = 0;
    clssd_status s = CLSSD_OK;
    clssd__strtab seen = {0};
    size_t line = 0, i = 0;
    const char *ln;
    size_t ll;
    while (clssd__data_next_line(text, len, &i, &ln, &ll)) {
        line++;
        trim_blank(&ln, &ll);
        if (!ll || ln[0] == '#') continue;
        for (size_t k = 0; k < ll; k++)
            if ((unsigned char)ln[k] < 0x20 && ln[k] != '\t') {
                s = clssd__data_fail(err, errcap, CLSSD_ERR_BAD_MODEL,
                                     "%s: line %zu: control character", spec, line);
                goto fail;
            }
        const char *sep = memchr(ln, '\t', ll);
        if (!sep) sep = memchr(ln, '=', ll);
        if (!sep) {
            s = clssd__data_fail(err, errcap, CLSSD_ERR_BAD_MODEL,
                                 "%s: line %zu: expected \"from<TAB>to\" or \"from = to\"", spec,
                                 line);
            goto fail;
        }
        const char *f = ln, *t = sep + 1;
        size_t fl = (size_t)(sep - ln), tl = ll - fl - 1;
        trim_blank(&f, &fl);
        trim_blank(&t, &tl);
        if (!fl || !tl || fl > CLSSD_DATA_MAX_NAME || tl > CLSSD_DATA_MAX_NAME) {
            s = clssd__data_fail(err, errcap, CLSSD_ERR_BAD_MODEL,
                                 "%s: line %zu: empty or too long class name", spec, line);
            goto fail;
        }
        if (memchr(f, '\0', fl) || memchr(t, '\0', tl)) {
            s = clssd__data_fail(err, errcap, CLSSD_ERR_BAD_MODEL, "%s: line %zu: NUL byte", spec,
                                 line);
            goto fail;
        }
        if (clssd__strtab_get(&seen, f, fl) >= 0) {
            s = clssd__data_fail(err, errcap, CLSSD_ERR_BAD_MODEL,
                                 "%s: line %zu: \"%.*s\" mapped twice", spec, line, (int)fl, f);
            goto fail;
        }
        if (out->n >= CLSSD_DATA_MAX_CLASSES) {
            s = clssd__data_fail(err, errcap, CLSSD_ERR_BAD_MODEL, "%s: more than %d entries", spec,
                                 CLSSD_DATA_MAX_CLASSES);
            goto fail;
        }
        s = add_entry(out, &cap, f, fl, t, tl);
        if (s == CLSSD_OK)
            s = clssd__strtab_put(&seen, out->from[out->n - 1], fl, (int32_t)out->n - 1, NULL);
        if (s != CLSSD_OK) {
            s = clssd__data_fail(err, errcap, s, "%s: out of memory", spec);
            goto fail;
        }
    }
    clssd__strtab_free(&seen);
    return CLSSD_OK;
fail:
    clssd__strtab_free(&seen);
    clssd__class_map_free(out);
    return s;
}

clssd_status clssd__class_map_load(const char *spec, clssd_class_map *out, char *err, size_t errcap)
{
    if (err && errcap) err[0] = '\0';
    if (!out) return clssd__data_fail(err, errcap, CLSSD_ERR_INVALID_ARG, "NULL output");
    memset(out, 0, sizeof *out);
    if (!spec) return clssd__data_fail(err, errcap, CLSSD_ERR_INVALID_ARG, "no class map given");
    size_t cap = 0;
    clssd_status s = CLSSD_OK;
    out->exclusive = 1;
    if (strcmp(spec, "coco-voc") == 0) {
        for (size_t i = 0; i < sizeof coco_voc / sizeof coco_voc[0] && s == CLSSD_OK; i++)
            s = add_entry(out, &cap, coco_voc[i][0], strlen(coco_voc[i][0]), coco_voc[i][1],
                          strlen(coco_voc[i][1]));
        if (s != CLSSD_OK) {
            clssd__class_map_free(out);
            return clssd__data_fail(err, errcap, s, "class map coco-voc: out of memory");
        }
        return CLSSD_OK;
    }
    char *text;
    size_t len;
    s = clssd__data_read_file(spec, &text, &len, err, errcap);
    if (s == CLSSD_ERR_IO) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", err ? err : "");
        return clssd__data_fail(err, errcap, s, "%s (the built-in class map is \"coco-voc\")", msg);
    }
    if (s != CLSSD_OK) return s;
    s = parse_map(text, len, spec, out, err, errcap);
    clssd__free(text);
    return s;
}

clssd_status clssd__class_map_load_mem(const char *text, size_t len, const char *name,
                                       clssd_class_map *out, char *err, size_t errcap)
{
    if (err && errcap) err[0] = '\0';
    if (!out) return clssd__data_fail(err, errcap, CLSSD_ERR_INVALID_ARG, "NULL output");
    memset(out, 0, sizeof *out);
    if (!text && len) return clssd__data_fail(err, errcap, CLSSD_ERR_INVALID_ARG, "NULL text");
    out->exclusive = 1;
    return parse_map(text ? text : "", len, clssd__data_name(name), out, err, errcap);
}
