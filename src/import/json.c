/* Strict RFC 8259 JSON reader (see json.h).
 *
 * Recursive descent, with the nesting depth bounded so hostile input cannot exhaust the C
 * stack. The elements of every open container wait on one shared value stack (object keys on
 * a parallel key stack), both grown geometrically; when a container closes it moves its
 * elements into one allocation of exactly the right size. Each value is thus copied a bounded
 * number of times and the parse stays linear in the input. Until then the stacks own what was
 * pushed, so a failure anywhere is cleaned up by freeing whatever is left on them. */
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clssd_internal.h"
#include "json.h"

typedef struct jp {
    const char *base; /* line 1, column 1: after a byte order mark */
    const char *p, *end;
    char *err;
    size_t err_size;
    const char *dp; /* the locale's decimal point, for strtod */
    size_t dp_len;
    clssd_json *vals; /* elements of the open containers, innermost last */
    size_t n_vals, cap_vals;
    char **keys; /* keys of the open objects' members, innermost last */
    size_t n_keys, cap_keys;
} jp;

/* ---------------------------------------------------------------- errors */
static void report(jp *j, const char *at, const char *fmt, va_list ap)
{
    if (!j->err || j->err_size == 0) return;
    /* Found only on failure, so the success path never tracks lines. */
    size_t line = 1;
    const char *line_start = j->base, *q = j->base, *nl;
    while (q < at && (nl = memchr(q, '\n', (size_t)(at - q))) != NULL) {
        line++;
        q = line_start = nl + 1;
    }
    char what[192];
    vsnprintf(what, sizeof what, fmt, ap);
    snprintf(j->err, j->err_size, "line %zu, column %zu: %s", line, (size_t)(at - line_start) + 1,
             what);
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static clssd_status
fail_at(jp *j, const char *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(j, at, fmt, ap);
    va_end(ap);
    return CLSSD_ERR_BAD_MODEL;
}

static clssd_status oom(jp *j)
{
    fail_at(j, j->p, "out of memory");
    return CLSSD_ERR_OUT_OF_MEMORY;
}

/* Names the byte at p for a message; raw non-ASCII or control bytes would garble it. */
static void describe(const jp *j, const char *p, char buf[24])
{
    if (p == j->end) {
        snprintf(buf, 24, "end of input");
        return;
    }
    unsigned char u = (unsigned char)*p;
    if (u >= 0x20 && u < 0x7F)
        snprintf(buf, 24, "character '%c'", *p);
    else
        snprintf(buf, 24, "byte 0x%02X", u);
}

static clssd_status unexpected(jp *j, const char *expected)
{
    char what[24];
    describe(j, j->p, what);
    return fail_at(j, j->p, "unexpected %s, expected %s", what, expected);
}

/* ---------------------------------------------------------------- tree */
static void free_contents(clssd_json *v)
{
    clssd__free(v->string);
    for (size_t i = 0; i < v->n_items; i++) {
        free_contents(&v->items[i]);
        if (v->keys) clssd__free(v->keys[i]);
    }
    clssd__free(v->items);
    clssd__free(v->keys);
}

void clssd__json_free(clssd_json *v)
{
    if (!v) return;
    free_contents(v);
    clssd__free(v);
}

/* A stack of `elem`-byte entries with room for at least one more, or NULL (out of memory). */
static void *grow(void *buf, size_t *cap, size_t elem)
{
    size_t n, bytes;
    if (!clssd__mul_size(*cap ? *cap : 32, 2, &n) || !clssd__mul_size(n, elem, &bytes)) return NULL;
    void *nb = clssd__realloc(buf, bytes);
    if (nb) *cap = n;
    return nb;
}

static int push_val(jp *j, const clssd_json *v)
{
    if (j->n_vals == j->cap_vals) {
        clssd_json *nv = grow(j->vals, &j->cap_vals, sizeof *nv);
        if (!nv) return 0;
        j->vals = nv;
    }
    j->vals[j->n_vals++] = *v;
    return 1;
}

static int push_key(jp *j, char *key)
{
    if (j->n_keys == j->cap_keys) {
        char **nk = grow(j->keys, &j->cap_keys, sizeof *nk);
        if (!nk) return 0;
        j->keys = nk;
    }
    j->keys[j->n_keys++] = key;
    return 1;
}

/* ---------------------------------------------------------------- lexing */
static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static void skip_ws(jp *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int at_char(const jp *j, char c)
{
    return j->p < j->end && *j->p == c;
}

static int starts_with(const char *p, const char *end, const char *word)
{
    size_t n = strlen(word);
    return (size_t)(end - p) >= n && memcmp(p, word, n) == 0;
}

static int hex4(const char *p, const char *end, uint32_t *out)
{
    if (end - p < 4) return 0;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        uint32_t d;
        if (c >= '0' && c <= '9')
            d = (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (uint32_t)(c - 'A' + 10);
        else
            return 0;
        v = v << 4 | d;
    }
    *out = v;
    return 1;
}

/* The character a one-letter escape (\n, \" ...) stands for; 0 if c makes no such escape. */
static int simple_escape(char c, uint32_t *cp)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *hit = c ? strchr(from, c) : NULL;
    if (!hit) return 0;
    *cp = (unsigned char)to[hit - from];
    return 1;
}

/* The string whose opening quote is at j->p, decoded into dst, or only validated and measured
 * when dst is NULL: the first pass finds the exact size, so hostile input cannot make the
 * parser allocate more than the decoded string. Sets *after past the closing quote. */
static clssd_status string_body(jp *j, char *dst, size_t *len, const char **after)
{
    const char *open = j->p, *p = open + 1, *end = j->end;
    size_t n = 0;
    for (;;) {
        if (p == end) return fail_at(j, open, "unterminated string");
        unsigned char c = (unsigned char)*p;
        if (c == '"') break;
        if (c < 0x20)
            return fail_at(j, p, "control character 0x%02X in a string (it must be escaped)", c);
        if (c >= 0x80) {
            size_t k = clssd__utf8_len((const unsigned char *)p, (size_t)(end - p));
            if (!k) return fail_at(j, p, "invalid UTF-8 sequence starting with byte 0x%02X", c);
            if (dst) memcpy(dst + n, p, k);
            n += k;
            p += k;
            continue;
        }
        if (c != '\\') {
            if (dst) dst[n] = (char)c;
            n++;
            p++;
            continue;
        }
        const char *esc = p;
        if (end - p < 2) return fail_at(j, open, "unterminated string");
        uint32_t cp;
        if (p[1] == 'u') {
            if (!hex4(p + 2, end, &cp))
                return fail_at(j, esc, "\\u must be followed by 4 hex digits");
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return fail_at(j, esc, "lone low surrogate \\u%04X", (unsigned)cp);
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                uint32_t lo;
                if (end - p < 12 || p[6] != '\\' || p[7] != 'u' || !hex4(p + 8, end, &lo) ||
                    lo < 0xDC00 || lo > 0xDFFF)
                    return fail_at(j, esc, "high surrogate \\u%04X not followed by a low surrogate",
                                   (unsigned)cp);
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p += 6;
            }
            if (cp == 0) return fail_at(j, esc, "\\u0000 is not supported in strings");
            p += 4;
        } else if (!simple_escape(p[1], &cp)) {
            char what[24];
            describe(j, p + 1, what);
            return fail_at(j, esc, "invalid escape: backslash followed by %s", what);
        }
        p += 2;
        n += clssd__utf8_put(dst ? dst + n : NULL, cp);
    }
    *len = n;
    *after = p + 1;
    return CLSSD_OK;
}

static clssd_status parse_string(jp *j, char **out, size_t *len)
{
    const char *after;
    CLSSD_TRY(string_body(j, NULL, len, &after));
    char *s = clssd__malloc(*len + 1);
    if (!s) return oom(j);
    (void)string_body(j, s, len, &after); /* validated above: cannot fail */
    s[*len] = '\0';
    j->p = after;
    *out = s;
    return CLSSD_OK;
}

/* A number at j->p, checked against RFC 8259's grammar before strtod sees it. */
static clssd_status parse_number(jp *j, clssd_json *out)
{
    const char *s = j->p, *q = s, *end = j->end;
    if (*q == '-') q++;
    if (starts_with(q, end, "Infinity"))
        return fail_at(j, s, "NaN and Infinity are not allowed in JSON");
    if (q < end && *q == '0') {
        q++;
        if (q < end && is_digit(*q)) return fail_at(j, s, "numbers may not have leading zeros");
    } else if (q < end && is_digit(*q)) {
        while (q < end && is_digit(*q))
            q++;
    } else {
        return fail_at(j, q, "digit expected after '-'");
    }
    if (q < end && *q == '.') {
        q++;
        if (q == end || !is_digit(*q)) return fail_at(j, q, "digit expected after '.'");
        while (q < end && is_digit(*q))
            q++;
    }
    if (q < end && (*q == 'e' || *q == 'E')) {
        q++;
        if (q < end && (*q == '+' || *q == '-')) q++;
        if (q == end || !is_digit(*q)) return fail_at(j, q, "digit expected in the exponent");
        while (q < end && is_digit(*q))
            q++;
    }

    /* strtod needs a NUL-terminated copy anyway (the input need not be terminated); in the
     * copy '.' becomes the locale's decimal point, so setlocale() cannot change the value. */
    size_t n = (size_t)(q - s), k = 0;
    char small[64], *buf = small;
    if (n + j->dp_len + 1 > sizeof small) {
        buf = clssd__malloc(n + j->dp_len + 1);
        if (!buf) return oom(j);
    }
    for (const char *c = s; c < q; c++) {
        if (*c == '.') {
            memcpy(buf + k, j->dp, j->dp_len);
            k += j->dp_len;
        } else {
            buf[k++] = *c;
        }
    }
    buf[k] = '\0';
    char *stop;
    double d = strtod(buf, &stop);
    int whole = stop == buf + k;
    if (buf != small) clssd__free(buf);
    if (!whole) return fail_at(j, s, "number not understood by strtod");
    if (isinf(d)) return fail_at(j, s, "number out of the range of a double");
    out->type = CLSSD_JSON_NUMBER;
    out->number = d;
    j->p = q;
    return CLSSD_OK;
}

static clssd_status literal(jp *j, const char *word)
{
    if (!starts_with(j->p, j->end, word))
        return fail_at(j, j->p, "invalid literal (true, false or null expected)");
    j->p += strlen(word);
    return CLSSD_OK;
}

/* ---------------------------------------------------------------- grammar */
static clssd_status parse_value(jp *j, int depth, clssd_json *out);

static clssd_status parse_array(jp *j, int depth, clssd_json *out)
{
    if (depth >= CLSSD_JSON_MAX_DEPTH)
        return fail_at(j, j->p, "nesting deeper than %d levels", CLSSD_JSON_MAX_DEPTH);
    out->type = CLSSD_JSON_ARRAY;
    size_t mark = j->n_vals;
    j->p++;
    skip_ws(j);
    if (at_char(j, ']')) {
        j->p++;
        return CLSSD_OK;
    }
    for (;;) {
        clssd_json v;
        CLSSD_TRY(parse_value(j, depth + 1, &v));
        if (!push_val(j, &v)) {
            free_contents(&v);
            return oom(j);
        }
        skip_ws(j);
        if (at_char(j, ']')) break;
        if (!at_char(j, ',')) return unexpected(j, "',' or ']' after an array element");
        j->p++;
        skip_ws(j);
        if (at_char(j, ']')) return fail_at(j, j->p, "trailing comma before ']'");
    }
    j->p++;
    size_t n = j->n_vals - mark;
    clssd_json *items = clssd__malloc(n * sizeof *items); /* no overflow: the stack holds n */
    if (!items) return oom(j);
    memcpy(items, j->vals + mark, n * sizeof *items);
    j->n_vals = mark;
    out->items = items;
    out->n_items = n;
    return CLSSD_OK;
}

static clssd_status parse_object(jp *j, int depth, clssd_json *out)
{
    if (depth >= CLSSD_JSON_MAX_DEPTH)
        return fail_at(j, j->p, "nesting deeper than %d levels", CLSSD_JSON_MAX_DEPTH);
    out->type = CLSSD_JSON_OBJECT;
    size_t vmark = j->n_vals, kmark = j->n_keys;
    j->p++;
    skip_ws(j);
    if (at_char(j, '}')) {
        j->p++;
        return CLSSD_OK;
    }
    for (;;) {
        if (!at_char(j, '"')) return unexpected(j, "a string key");
        char *key;
        size_t key_len;
        CLSSD_TRY(parse_string(j, &key, &key_len));
        if (!push_key(j, key)) {
            clssd__free(key);
            return oom(j);
        }
        skip_ws(j);
        if (!at_char(j, ':')) return unexpected(j, "':' after an object key");
        j->p++;
        skip_ws(j);
        clssd_json v;
        CLSSD_TRY(parse_value(j, depth + 1, &v));
        if (!push_val(j, &v)) {
            free_contents(&v);
            return oom(j);
        }
        skip_ws(j);
        if (at_char(j, '}')) break;
        if (!at_char(j, ',')) return unexpected(j, "',' or '}' after an object member");
        j->p++;
        skip_ws(j);
        if (at_char(j, '}')) return fail_at(j, j->p, "trailing comma before '}'");
    }
    j->p++;
    size_t n = j->n_vals - vmark;
    clssd_json *items = clssd__malloc(n * sizeof *items);
    char **keys = clssd__malloc(n * sizeof *keys);
    if (!items || !keys) {
        clssd__free(items);
        clssd__free(keys);
        return oom(j);
    }
    memcpy(items, j->vals + vmark, n * sizeof *items);
    memcpy(keys, j->keys + kmark, n * sizeof *keys);
    j->n_vals = vmark;
    j->n_keys = kmark;
    out->items = items;
    out->keys = keys;
    out->n_items = n;
    return CLSSD_OK;
}

/* A value at j->p (whitespace skipped); `depth` containers enclose it. Nothing in *out is
 * owned unless this returns CLSSD_OK. */
static clssd_status parse_value(jp *j, int depth, clssd_json *out)
{
    memset(out, 0, sizeof *out);
    if (j->p == j->end) return unexpected(j, "a value");
    switch (*j->p) {
    case '{':
        return parse_object(j, depth, out);
    case '[':
        return parse_array(j, depth, out);
    case '"': {
        char *s;
        size_t n;
        CLSSD_TRY(parse_string(j, &s, &n));
        out->type = CLSSD_JSON_STRING;
        out->string = s;
        out->string_len = n;
        return CLSSD_OK;
    }
    case 't':
        out->type = CLSSD_JSON_BOOL;
        out->boolean = 1;
        return literal(j, "true");
    case 'f':
        out->type = CLSSD_JSON_BOOL;
        return literal(j, "false");
    case 'n':
        out->type = CLSSD_JSON_NULL;
        return literal(j, "null");
    /* Common non-JSON spellings get a message that says what is wrong with them. */
    case '/':
        return fail_at(j, j->p, "comments are not allowed in JSON");
    case '\'':
        return fail_at(j, j->p, "strings must be in double quotes");
    default:
        if (*j->p == '-' || is_digit(*j->p)) return parse_number(j, out);
        if (starts_with(j->p, j->end, "NaN") || starts_with(j->p, j->end, "Infinity"))
            return fail_at(j, j->p, "NaN and Infinity are not allowed in JSON");
        return unexpected(j, "a value");
    }
}

/* ---------------------------------------------------------------- API */
clssd_status clssd__json_parse(const char *text, size_t len, clssd_json **out, char *err,
                               size_t err_size)
{
    if (err && err_size) err[0] = '\0';
    if (out) *out = NULL;
    if (!out || (!text && len)) {
        if (err && err_size) snprintf(err, err_size, "clssd__json_parse: NULL argument");
        return CLSSD_ERR_INVALID_ARG;
    }
    if (!text) text = "";

    jp j;
    memset(&j, 0, sizeof j);
    j.base = j.p = j.end = text;
    j.err = err;
    j.err_size = err_size;
    if (len >= CLSSD_JSON_MAX_LEN)
        return fail_at(&j, j.p, "input of %zu bytes is over the 1 GiB limit", len);
    j.end = text + len;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) j.base = j.p = text + 3;
    const struct lconv *lc = localeconv();
    j.dp = lc && lc->decimal_point && lc->decimal_point[0] ? lc->decimal_point : ".";
    j.dp_len = strlen(j.dp);

    clssd_json v;
    skip_ws(&j);
    clssd_status s = parse_value(&j, 0, &v);
    if (s == CLSSD_OK) {
        skip_ws(&j);
        if (j.p != j.end) {
            char what[24];
            describe(&j, j.p, what);
            s = fail_at(&j, j.p, "unexpected %s after the top-level value", what);
            free_contents(&v);
        }
    }
    if (s == CLSSD_OK) {
        clssd_json *root = clssd__malloc(sizeof *root);
        if (root) {
            *root = v;
            *out = root;
        } else {
            free_contents(&v);
            s = oom(&j);
        }
    }
    /* Empty after a success; after a failure, the elements of the containers left open. */
    for (size_t i = 0; i < j.n_vals; i++)
        free_contents(&j.vals[i]);
    for (size_t i = 0; i < j.n_keys; i++)
        clssd__free(j.keys[i]);
    clssd__free(j.vals);
    clssd__free(j.keys);
    return s;
}

const clssd_json *clssd__json_get(const clssd_json *v, const char *key)
{
    if (!v || v->type != CLSSD_JSON_OBJECT || !key) return NULL;
    for (size_t i = 0; i < v->n_items; i++)
        if (strcmp(v->keys[i], key) == 0) return &v->items[i];
    return NULL;
}

int clssd__json_int(const clssd_json *v, int64_t *out)
{
    if (!v || v->type != CLSSD_JSON_NUMBER || !out) return 0;
    double d = v->number;
    /* Both bounds are powers of two, exact as doubles; inside them the cast is defined. NaN
     * fails the comparison (the parser never makes one, but a caller's tree might hold it). */
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) return 0;
    int64_t i = (int64_t)d;
    if ((double)i != d) return 0;
    *out = i;
    return 1;
}
