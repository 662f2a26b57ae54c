/* Helpers shared by the readers of src/data (not part of dataset.h's interface). */
#ifndef CLSSD_DATA_INTERNAL_H
#define CLSSD_DATA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "clssd_internal.h"
#include "data/dataset.h"

/* Writes a one-line message into err (NULL / 0 ok) and returns s. */
clssd_status clssd__data_fail(char *err, size_t errcap, clssd_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* Inside a reader with locals `s` (status), `err`, `errcap`, `path` and a `fail:` label: record
 * "path: what" as CLSSD_ERR_BAD_MODEL (or out of memory) and jump to the cleanup. */
#define CLSSD__DATA_BAD(...)                                                                       \
    do {                                                                                           \
        char m_[200];                                                                              \
        snprintf(m_, sizeof m_, __VA_ARGS__);                                                      \
        s = clssd__data_fail(err, errcap, CLSSD_ERR_BAD_MODEL, "%s: %s", path, m_);                \
        goto fail;                                                                                 \
    } while (0)
#define CLSSD__DATA_OOM()                                                                          \
    do {                                                                                           \
        s = clssd__data_fail(err, errcap, CLSSD_ERR_OUT_OF_MEMORY, "%s: out of memory", path);     \
        goto fail;                                                                                 \
    } while (0)

/* Reads a whole file (at most CLSSD_DATA_MAX_FILE bytes) into a NUL-terminated buffer from
 * clssd__malloc. CLSSD_ERR_IO "path: cannot open: reason", CLSSD_ERR_BAD_MODEL when too big. */
clssd_status clssd__data_read_file(const char *path, char **out, size_t *len, char *err,
                                   size_t errcap);

/* Reads and parses a JSON file (src/import/json.h); err gets "path: line L, column C: ..." */
struct clssd_json;
clssd_status clssd__data_read_json(const char *path, struct clssd_json **out, char *err,
                                   size_t errcap);
/* The same for text[0..len) held in memory (the _mem entry points); name (NULL ok) stands for
 * the path in messages. */
clssd_status clssd__data_parse_json(const char *text, size_t len, const char *name,
                                    struct clssd_json **out, char *err, size_t errcap);

/* What a _mem reader calls its input in messages: name, or "(memory)" when NULL. */
static inline const char *clssd__data_name(const char *name)
{
    return name ? name : "(memory)";
}

/* A decimal number s[0..n) ([+-]digits[.digits][e[+-]digits], no inf/nan/hex), read
 * independently of the locale; 1 ok (finite), 0 malformed or out of range. */
int clssd__data_number(const char *s, size_t n, double *out);
/* An exact integer in [lo, hi] written as a number (e.g. "500" or "500.0"); 1 ok. */
int clssd__data_int(const char *s, size_t n, int64_t lo, int64_t hi, int64_t *out);
/* s[0..n) all decimal digits (1..18 of them): 1 and the value; else 0. */
int clssd__data_digits(const char *s, size_t n, int64_t *out);

/* The next line of text[0..len) from *pos: *ln, *ll = its start and length without the '\n'
 * and a trailing '\r'; *pos moves past it. 0 when no line is left. */
int clssd__data_next_line(const char *text, size_t len, size_t *pos, const char **ln,
                          size_t *ll);

/* A copy of s[0..n) with a NUL, from clssd__malloc (NULL when out of memory). */
char *clssd__data_strndup(const char *s, size_t n);

/* Open-addressing hash table of strings (not owned: keys must outlive it) -> int32 >= 0. */
typedef struct clssd__strtab_slot {
    const char *key; /* NULL: empty */
    size_t len;
    uint64_t hash;
    int32_t val;
} clssd__strtab_slot;
typedef struct clssd__strtab {
    clssd__strtab_slot *slots;
    size_t cap, n; /* cap: 0 or a power of two */
} clssd__strtab;
int32_t clssd__strtab_get(const clssd__strtab *t, const char *s, size_t len); /* -1: none */
/* Inserts key -> val unless key is present; *old (may be NULL) gets the present value or -1. */
clssd_status clssd__strtab_put(clssd__strtab *t, const char *key, size_t len, int32_t val,
                               int32_t *old);
void clssd__strtab_free(clssd__strtab *t); /* zeroes it */

/* The same for int64 keys. */
typedef struct clssd__i64tab_slot {
    int64_t key;
    int32_t val; /* -1: empty */
} clssd__i64tab_slot;
typedef struct clssd__i64tab {
    clssd__i64tab_slot *slots;
    size_t cap, n;
} clssd__i64tab;
int32_t clssd__i64tab_get(const clssd__i64tab *t, int64_t key);
clssd_status clssd__i64tab_put(clssd__i64tab *t, int64_t key, int32_t val, int32_t *old);
void clssd__i64tab_free(clssd__i64tab *t);

/* A ground-truth set under construction, for the VOC readers: images keyed by id, objects
 * with cls = index of their name among the distinct names seen. */
typedef struct clssd__gt_builder {
    clssd_gt_image *images;
    size_t n_images, cap_images;
    clssd__strtab image_ids;
    clssd_gt_object *objects;
    size_t n_objects, cap_objects;
    char **names;
    size_t n_names, cap_names;
    clssd__strtab name_tab;
} clssd__gt_builder;
/* Appends an image (id copied; file taken over, may be NULL, freed on failure too); *index
 * gets its index. A duplicate id: CLSSD_ERR_BAD_MODEL with *index the earlier one. */
clssd_status clssd__gtb_add_image(clssd__gt_builder *b, const char *id, size_t id_len, char *file,
                                  int32_t width, int32_t height, int32_t *index);
/* The distinct-name index of name (added when new). */
clssd_status clssd__gtb_intern(clssd__gt_builder *b, const char *name, size_t len, int32_t *index);
/* Appends an object: box as VOC 1-based inclusive (x1 = xmin - 1 is applied here). */
clssd_status clssd__gtb_add_object(clssd__gt_builder *b, int32_t image, int32_t name_index,
                                   const double voc_box[4], uint8_t difficult);
/* Decides the classes, groups objects by image (stable), numbers them 1.., builds the index
 * and hands everything to a new set; the builder is freed in every case. */
clssd_status clssd__gtb_finish(clssd__gt_builder *b, clssd_gt_set **out);
void clssd__gtb_free(clssd__gt_builder *b);

/* The image / class lookups over an index-less set (linear). */
int32_t clssd__gt_find_image_linear(const clssd_gt_set *g, const char *name);

/* Basename of a path ('/' and '\\' separate). */
const char *clssd__data_basename(const char *path);

/* Reads an ImageSets-style list: the first whitespace-separated token of each non-blank line.
 * *ids is an array of *n strings (clssd__malloc'd, each one and the array). Ids must be at
 * most CLSSD_DATA_MAX_NAME bytes; no_slash rejects ids with '/' or '\\' or equal to "." /
 * "..". Duplicates are errors. */
clssd_status clssd__data_read_id_list(const char *path, int no_slash, char ***ids, size_t *n,
                                      char *err, size_t errcap);
/* The same for a list held in text[0..len); name (NULL ok) stands for the path in messages. */
clssd_status clssd__data_parse_id_list(const char *text, size_t len, const char *name,
                                       int no_slash, char ***ids, size_t *n, char *err,
                                       size_t errcap);
void clssd__data_free_strings(char **v, size_t n);

#endif /* CLSSD_DATA_INTERNAL_H */
