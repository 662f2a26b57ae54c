/* A strict RFC 8259 JSON reader, for TensorFlow.js model.json files (which may be hostile).
 *
 * Strict: no comments, trailing commas, single quotes, NaN/Infinity, leading zeros or raw
 * control characters in strings; exactly one top-level value with only whitespace around it.
 * A leading UTF-8 byte order mark is skipped. The input must be valid UTF-8; \uXXXX escapes
 * (surrogate pairs included) become UTF-8, and lone surrogates are rejected. Numbers whose
 * magnitude overflows a double (1e400) are rejected, since JSON cannot mean an infinity;
 * ones that underflow read as strtod gives them (0 or a subnormal).
 *
 * Error messages read "line L, column C: what"; lines end at '\n' and columns count bytes
 * from 1 (after the byte order mark on line 1). */
#ifndef CLSSD_JSON_H
#define CLSSD_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "clssd.h"

typedef enum clssd_json_type {
    CLSSD_JSON_NULL,
    CLSSD_JSON_BOOL,
    CLSSD_JSON_NUMBER,
    CLSSD_JSON_STRING,
    CLSSD_JSON_ARRAY,
    CLSSD_JSON_OBJECT
} clssd_json_type;

typedef struct clssd_json clssd_json;
struct clssd_json {
    clssd_json_type type;
    int boolean;   /* BOOL */
    double number; /* NUMBER (strtod semantics, locale-independent) */
    char *string;  /* STRING: UTF-8, NUL-terminated; strings containing \u0000 are rejected */
    size_t string_len;
    clssd_json *items; /* ARRAY elements / OBJECT values, n_items of them, in document order */
    char **keys;       /* OBJECT: the n_items keys (NUL-terminated) */
    size_t n_items;
};
/* Fields a type does not use are 0 / NULL; so are items and keys of an empty container.
 * A STRING's string is never NULL. */

#define CLSSD_JSON_MAX_DEPTH 256
#define CLSSD_JSON_MAX_LEN ((size_t)1 << 30)

/* Parses text[0..len) (need not be NUL-terminated). On failure *out is NULL and err holds
 * "line L, column C: what" . Limits: nesting depth 256, len < 1 GiB. */
clssd_status clssd__json_parse(const char *text, size_t len, clssd_json **out, char *err,
                               size_t err_size);
void clssd__json_free(clssd_json *v); /* NULL is a no-op; frees the whole tree */
/* Member of an object by key (first match), or NULL if v is not an object or has no such key. */
const clssd_json *clssd__json_get(const clssd_json *v, const char *key);
/* Convenience: the number as an int64 if v is a NUMBER holding an exact integer in range, else 0
 * return. */
int clssd__json_int(const clssd_json *v, int64_t *out); /* 1 ok, 0 not an exact integer */
/* clssd__json_parse returns CLSSD_ERR_BAD_MODEL for malformed input, CLSSD_ERR_OUT_OF_MEMORY,
 * or CLSSD_ERR_INVALID_ARG when out is NULL or text is NULL with len > 0; err may be NULL.
 * clssd__json_int judges the parsed double: an integer literal beyond 2^53 was already rounded
 * to the nearest double; *out is left alone when it returns 0. */

#endif /* CLSSD_JSON_H */
