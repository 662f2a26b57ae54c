/* Protobuf text format (.prototxt) parser, without a schema: every field is kept, and the
 * value's spelling decides its kind (quoted: STRING, identifier: IDENT, number with '.', an
 * exponent, an 'f' suffix, inf or nan: FLOAT, other numbers: INT, braces: MSG).
 *
 * Accepted beyond the plain `name: value` / `name { ... }`: `name: { ... }`, angle brackets
 * `name < ... >`, short repeated lists `name: [1, 2]`, ',' or ';' after a value, '#'
 * comments, adjacent string literals (concatenated), single or double quotes, C escapes
 * (\n \t \r \a \b \f \v \\ \' \" \? \xHH \ooo \uXXXX \UXXXXXXXX), hex (0x1F) and octal (017)
 * integers, and -inf / inf / infinity / nan in any letter case, as protobuf's own tokenizer
 * does. Columns count bytes from 1. */
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caffe.h"

typedef struct tp {
    const char *p, *end;
    const char *line_start;
    long line;
    size_t n_fields;
    int depth;
    char *err;
    size_t err_size;
    clssd_status status;
    const char *dp; /* the locale's decimal point, for strtod */
    size_t dp_len;
} tp;

static long col_of(const tp *t, const char *at)
{
    return (long)(at - t->line_start) + 1;
}

#if defined(__GNUC__)
__attribute__((format(printf, 5, 6)))
#endif
static clssd_status
fail_at(tp *t, clssd_status s, long line, long col, const char *fmt, ...)
{
    t->status = s;
    if (!t->err || !t->err_size) return s;
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(t->err, t->err_size, "line %ld, column %ld: %s", line, col, msg);
    return s;
}

#define FAIL(t, at, ...)                                                                           \
    fail_at((t), CLSSD_ERR_BAD_MODEL, (t)->line, col_of((t), (at)), __VA_ARGS__)

/* Where a value began, kept because whitespace inside it (after '-', between adjacent
 * strings) may move the parser to a later line before the value is complete. */
typedef struct tpos {
    long line, col;
} tpos;

static tpos pos_of(const tp *t, const char *at)
{
    tpos r = {t->line, col_of(t, at)};
    return r;
}

#define FAIL_AT(t, pos, ...) fail_at((t), CLSSD_ERR_BAD_MODEL, (pos).line, (pos).col, __VA_ARGS__)

static int ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int ident_char(char c)
{
    return ident_start(c) || (c >= '0' && c <= '9');
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* What the parser found at `at`, for messages: a word, a character, a byte or the end. */
static void describe(const tp *t, const char *at, char *buf, size_t size)
{
    if (at >= t->end) {
        snprintf(buf, size, "end of file");
    } else if (ident_char(*at)) {
        size_t n = 0;
        while (at + n < t->end && ident_char(at[n]) && n < 32)
            n++;
        snprintf(buf, size, "'%.*s'", (int)n, at);
    } else if ((unsigned char)*at >= 0x20 && (unsigned char)*at < 0x7f) {
        snprintf(buf, size, "'%c'", *at);
    } else {
        snprintf(buf, size, "byte 0x%02X", (unsigned)(unsigned char)*at);
    }
}

static void skip_ws(tp *t)
{
    while (t->p < t->end) {
        char c = *t->p;
        if (c == '\n') {
            t->p++;
            t->line++;
            t->line_start = t->p;
        } else if (c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f') {
            t->p++;
        } else if (c == '#') {
            while (t->p < t->end && *t->p != '\n')
                t->p++;
        } else {
            break;
        }
    }
}

/* Appends a field named by the len bytes at nm: the schema's copy of the name when it has
 * one, otherwise an owned copy. */
static caffe_field *new_field(tp *t, caffe_msg *m, const char *nm, size_t len, caffe_kind kind,
                              tpos at)
{
    if (t->n_fields >= CAFFE_MAX_FIELDS) {
        FAIL_AT(t, at, "more than %zu fields in the file", CAFFE_MAX_FIELDS);
        return NULL;
    }
    const char *name = clssd__caffe_static_name(nm, len);
    char *own = NULL;
    if (!name) {
        own = clssd__malloc(len + 1);
        if (!own) {
            fail_at(t, CLSSD_ERR_OUT_OF_MEMORY, at.line, at.col, "out of memory");
            return NULL;
        }
        memcpy(own, nm, len);
        own[len] = '\0';
        name = own;
    }
    caffe_field *f = clssd__caffe_add(m, name, kind);
    if (!f) {
        clssd__free(own);
        fail_at(t, CLSSD_ERR_OUT_OF_MEMORY, at.line, at.col, "out of memory");
        return NULL;
    }
    t->n_fields++;
    return f;
}

/* ---------------------------------------------------------------- strings */
enum {
    STR_OK,
    STR_UNTERMINATED,
    STR_NEWLINE,
    STR_BAD_ESCAPE,
    STR_BAD_HEX,
    STR_BAD_OCTAL,
    STR_BAD_UNICODE
};

/* Decodes the literal body starting after the opening quote q[-1]. With dst NULL it only
 * counts, so the caller can allocate the exact size first. *stop: the closing quote, or where
 * decoding failed. */
static int unescape(const char *q, const char *end, char quote, char *dst, size_t *n_out,
                    const char **stop)
{
    size_t n = 0;
    while (q < end && *q != quote) {
        char c = *q;
        if (c == '\n') {
            *stop = q;
            return STR_NEWLINE;
        }
        if (c != '\\') {
            if (dst) dst[n] = c;
            n++;
            q++;
            continue;
        }
        const char *esc = q++;
        if (q >= end) {
            *stop = q;
            return STR_UNTERMINATED;
        }
        c = *q++;
        unsigned v = 0;
        switch (c) {
        case 'n':
            v = '\n';
            break;
        case 't':
            v = '\t';
            break;
        case 'r':
            v = '\r';
            break;
        case 'a':
            v = '\a';
            break;
        case 'b':
            v = '\b';
            break;
        case 'f':
            v = '\f';
            break;
        case 'v':
            v = '\v';
            break;
        case '\\':
        case '\'':
        case '"':
        case '?':
            v = (unsigned char)c;
            break;
        case 'x':
        case 'X': {
            int digits = 0;
            while (digits < 2 && q < end && hex_value(*q) >= 0) {
                v = v * 16 + (unsigned)hex_value(*q++);
                digits++;
            }
            if (!digits) {
                *stop = esc;
                return STR_BAD_HEX;
            }
            break;
        }
        case 'u':
        case 'U': {
            int want = c == 'u' ? 4 : 8;
            uint32_t cp = 0;
            for (int i = 0; i < want; i++) {
                if (q >= end || hex_value(*q) < 0) {
                    *stop = esc;
                    return STR_BAD_UNICODE;
                }
                cp = cp * 16 + (uint32_t)hex_value(*q++);
            }
            if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
                *stop = esc;
                return STR_BAD_UNICODE;
            }
            n += clssd__utf8_put(dst ? dst + n : NULL, cp);
            continue;
        }
        default:
            if (c >= '0' && c <= '7') {
                v = (unsigned)(c - '0');
                for (int i = 1; i < 3 && q < end && *q >= '0' && *q <= '7'; i++)
                    v = v * 8 + (unsigned)(*q++ - '0');
                if (v > 255) {
                    *stop = esc;
                    return STR_BAD_OCTAL;
                }
                break;
            }
            *stop = esc;
            return STR_BAD_ESCAPE;
        }
        if (dst) dst[n] = (char)(unsigned char)v;
        n++;
    }
    *stop = q;
    if (q >= end) return STR_UNTERMINATED;
    *n_out = n;
    return STR_OK;
}

/* One literal at t->p; appends its bytes to *buf (length *len, NUL-terminated). */
static clssd_status parse_string(tp *t, char **buf, size_t *len)
{
    const char *open = t->p;
    char quote = *t->p;
    size_t n = 0;
    const char *stop;
    int r = unescape(open + 1, t->end, quote, NULL, &n, &stop);
    if (r != STR_OK) {
        switch (r) {
        case STR_UNTERMINATED:
            return FAIL(t, open, "unterminated string (no closing %c before the end of file)",
                        quote);
        case STR_NEWLINE:
            return FAIL(t, open, "unterminated string (no closing %c before the end of the line)",
                        quote);
        case STR_BAD_HEX:
            return FAIL(t, stop, "\\x escape without hex digits");
        case STR_BAD_OCTAL:
            return FAIL(t, stop, "octal escape above \\377");
        case STR_BAD_UNICODE:
            return FAIL(t, stop,
                        "malformed \\u or \\U escape (4 or 8 hex digits of a Unicode "
                        "scalar value)");
        default:
            return FAIL(t, stop, "unknown escape '\\%c'",
                        stop + 1 < t->end && stop[1] >= 0x20 && stop[1] < 0x7f ? stop[1] : '?');
        }
    }
    size_t total;
    if (!clssd__add_size(*len, n, &total) || total == SIZE_MAX)
        return FAIL(t, open, "string too long");
    char *grown = clssd__realloc(*buf, total + 1);
    if (!grown)
        return fail_at(t, CLSSD_ERR_OUT_OF_MEMORY, t->line, col_of(t, open), "out of memory");
    *buf = grown;
    size_t n2 = 0;
    unescape(open + 1, t->end, quote, grown + *len, &n2, &stop);
    grown[total] = '\0';
    *len = total;
    t->p = stop + 1;
    return CLSSD_OK;
}

/* ---------------------------------------------------------------- numbers */
/* Case-insensitive in ASCII only: tolower() would follow the locale (Turkish 'I'). */
static int ieq(const char *s, size_t n, const char *word)
{
    if (strlen(word) != n) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] - 'A' + 'a') : s[i];
        if (c != word[i]) return 0;
    }
    return 1;
}

/* strtod on text the caller has checked against the decimal grammar, with '.' swapped for
 * the locale's decimal point so an application's setlocale() does not change the result. */
static int to_double(tp *t, int neg, const char *s, size_t n, double *out)
{
    char buf[320];
    size_t k = 0;
    if (neg) buf[k++] = '-';
    for (size_t i = 0; i < n; i++) {
        if (k + t->dp_len + 1 >= sizeof buf) return 0;
        if (s[i] == '.') {
            memcpy(buf + k, t->dp, t->dp_len);
            k += t->dp_len;
        } else {
            buf[k++] = s[i];
        }
    }
    buf[k] = '\0';
    char *e;
    *out = strtod(buf, &e);
    return *e == '\0';
}

/* A number at t->p (after an optional '-'); `at` is where the value began. */
static clssd_status parse_number(tp *t, int neg, tpos at, caffe_field *f)
{
    const char *s = t->p, *q = s;
    if (s + 1 < t->end && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        uint64_t v = 0;
        int digits = 0, overflow = 0;
        for (q = s + 2; q < t->end && hex_value(*q) >= 0; q++, digits++) {
            if (v > UINT64_MAX >> 4) overflow = 1;
            v = v << 4 | (uint64_t)hex_value(*q);
        }
        if (!digits) return FAIL_AT(t, at, "malformed hex number");
        if (q < t->end && (ident_char(*q) || *q == '.'))
            return FAIL_AT(t, at, "malformed number: %s follows it", "a letter or '.'");
        if (overflow || v > (uint64_t)INT64_MAX + (uint64_t)neg)
            return FAIL_AT(t, at, "integer out of range of int64");
        f->kind = CAFFE_INT;
        f->i = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
        t->p = q;
        return CLSSD_OK;
    }
    int is_float = 0;
    while (q < t->end && is_digit(*q))
        q++;
    if (q < t->end && *q == '.') {
        is_float = 1;
        q++;
        while (q < t->end && is_digit(*q))
            q++;
    }
    if (q < t->end && (*q == 'e' || *q == 'E')) {
        is_float = 1;
        q++;
        if (q < t->end && (*q == '+' || *q == '-')) q++;
        if (q >= t->end || !is_digit(*q)) return FAIL_AT(t, at, "malformed exponent");
        while (q < t->end && is_digit(*q))
            q++;
    }
    const char *num_end = q;
    if (q < t->end && (*q == 'f' || *q == 'F')) {
        is_float = 1;
        q++;
    }
    if (q < t->end && (ident_char(*q) || *q == '.')) {
        char what[48];
        describe(t, q, what, sizeof what);
        return FAIL_AT(t, at, "malformed number: %s follows it", what);
    }
    t->p = q;
    size_t n = (size_t)(num_end - s);
    if (!is_float) {
        uint64_t v = 0;
        int overflow = 0;
        if (n > 1 && s[0] == '0') { /* octal, as protobuf reads a leading zero */
            for (size_t i = 1; i < n; i++) {
                if (s[i] > '7') return FAIL_AT(t, at, "malformed octal number");
                if (v > UINT64_MAX >> 3) overflow = 1;
                v = v << 3 | (uint64_t)(s[i] - '0');
            }
            if (overflow || v > (uint64_t)INT64_MAX + (uint64_t)neg)
                return FAIL_AT(t, at, "integer out of range of int64");
        } else {
            for (size_t i = 0; i < n; i++) {
                unsigned d = (unsigned)(s[i] - '0');
                if (v > (UINT64_MAX - d) / 10) overflow = 1;
                v = v * 10 + d;
            }
        }
        if (!overflow && v <= (uint64_t)INT64_MAX + (uint64_t)neg) {
            f->kind = CAFFE_INT;
            f->i = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
            return CLSSD_OK;
        }
        /* Beyond int64 a decimal integer is still a valid float literal. */
    }
    double d;
    if (!to_double(t, neg, s, n, &d)) return FAIL_AT(t, at, "malformed or overlong number");
    f->kind = CAFFE_FLOAT;
    f->f = d;
    return CLSSD_OK;
}

/* ---------------------------------------------------------------- values, messages */
static clssd_status parse_body(tp *t, caffe_msg *m, char closer, long open_line, long open_col);

static clssd_status parse_msg_value(tp *t, caffe_msg *m, const char *nm, size_t nlen)
{
    const char *open = t->p;
    char closer = *open == '{' ? '}' : '>';
    if (t->depth >= CAFFE_MAX_DEPTH)
        return FAIL(t, open, "messages nested deeper than %d", CAFFE_MAX_DEPTH);
    caffe_msg *sub = clssd__caffe_msg_new();
    if (!sub) return fail_at(t, CLSSD_ERR_OUT_OF_MEMORY, t->line, col_of(t, open), "out of memory");
    caffe_field *f = new_field(t, m, nm, nlen, CAFFE_MSG, pos_of(t, open));
    if (!f) {
        caffe_msg_free(sub);
        return t->status;
    }
    f->m = sub;
    long line = t->line, col = col_of(t, open);
    t->p++;
    t->depth++;
    CLSSD_TRY(parse_body(t, sub, closer, line, col));
    t->depth--;
    return CLSSD_OK;
}

static clssd_status parse_scalar(tp *t, caffe_msg *m, const char *nm, size_t nlen)
{
    tpos at = pos_of(t, t->p);
    char c = *t->p;
    if (c == '"' || c == '\'') {
        char *s = NULL;
        size_t len = 0;
        do {
            clssd_status st = parse_string(t, &s, &len);
            if (st != CLSSD_OK) {
                clssd__free(s);
                return st;
            }
            skip_ws(t);
        } while (t->p < t->end && (*t->p == '"' || *t->p == '\''));
        caffe_field *f = new_field(t, m, nm, nlen, CAFFE_STRING, at);
        if (!f) {
            clssd__free(s);
            return t->status;
        }
        f->s = s;
        return CLSSD_OK;
    }
    int neg = 0;
    if (c == '-') {
        neg = 1;
        t->p++;
        skip_ws(t);
    }
    if (t->p < t->end &&
        (is_digit(*t->p) || (*t->p == '.' && t->p + 1 < t->end && is_digit(t->p[1])))) {
        caffe_field tmp;
        memset(&tmp, 0, sizeof tmp);
        CLSSD_TRY(parse_number(t, neg, at, &tmp));
        caffe_field *f = new_field(t, m, nm, nlen, tmp.kind, at);
        if (!f) return t->status;
        f->i = tmp.i;
        f->f = tmp.f;
        return CLSSD_OK;
    }
    if (t->p < t->end && ident_start(*t->p)) {
        const char *w = t->p;
        while (t->p < t->end && ident_char(*t->p))
            t->p++;
        size_t wl = (size_t)(t->p - w);
        int inf = ieq(w, wl, "inf") || ieq(w, wl, "infinity"), nan = ieq(w, wl, "nan");
        if (inf || nan) {
            caffe_field *f = new_field(t, m, nm, nlen, CAFFE_FLOAT, at);
            if (!f) return t->status;
            f->f = nan ? NAN : neg ? -INFINITY : INFINITY;
            return CLSSD_OK;
        }
        if (neg) return FAIL_AT(t, at, "expected a number after '-', found '%.*s'", (int)wl, w);
        char *s = clssd__malloc(wl + 1);
        if (!s) return fail_at(t, CLSSD_ERR_OUT_OF_MEMORY, at.line, at.col, "out of memory");
        memcpy(s, w, wl);
        s[wl] = '\0';
        caffe_field *f = new_field(t, m, nm, nlen, CAFFE_IDENT, at);
        if (!f) {
            clssd__free(s);
            return t->status;
        }
        f->s = s;
        return CLSSD_OK;
    }
    char what[48];
    describe(t, t->p, what, sizeof what);
    return FAIL(t, t->p, "expected a value for '%.*s', found %s", (int)nlen, nm, what);
}

static clssd_status parse_value(tp *t, caffe_msg *m, const char *nm, size_t nlen)
{
    if (*t->p == '{' || *t->p == '<') return parse_msg_value(t, m, nm, nlen);
    return parse_scalar(t, m, nm, nlen);
}

/* `name: [v, v, ...]`: each element becomes a field of that name. */
static clssd_status parse_list(tp *t, caffe_msg *m, const char *nm, size_t nlen)
{
    long line = t->line, col = col_of(t, t->p);
    t->p++;
    skip_ws(t);
    if (t->p < t->end && *t->p == ']') {
        t->p++;
        return CLSSD_OK;
    }
    for (;;) {
        skip_ws(t);
        if (t->p >= t->end) break;
        CLSSD_TRY(parse_value(t, m, nm, nlen));
        skip_ws(t);
        if (t->p >= t->end) break;
        if (*t->p == ']') {
            t->p++;
            return CLSSD_OK;
        }
        if (*t->p != ',') {
            char what[48];
            describe(t, t->p, what, sizeof what);
            return FAIL(t, t->p, "expected ',' or ']' in the list of '%.*s', found %s", (int)nlen,
                        nm, what);
        }
        t->p++;
    }
    return FAIL(t, t->p, "end of file inside the list '[' opened at line %ld, column %ld", line,
                col);
}

static clssd_status parse_body(tp *t, caffe_msg *m, char closer, long open_line, long open_col)
{
    for (;;) {
        skip_ws(t);
        if (t->p >= t->end) {
            if (!closer) return CLSSD_OK;
            return FAIL(t, t->p,
                        "end of file inside a message: '%c' opened at line %ld, "
                        "column %ld is never closed",
                        closer == '}' ? '{' : '<', open_line, open_col);
        }
        char c = *t->p;
        if (closer && c == closer) {
            t->p++;
            return CLSSD_OK;
        }
        if (!ident_start(c)) {
            char what[48];
            describe(t, t->p, what, sizeof what);
            if ((c == '}' || c == '>') && closer)
                return FAIL(t, t->p,
                            "found %s where '%c' should close the '%c' opened at line %ld, "
                            "column %ld",
                            what, closer, closer == '}' ? '{' : '<', open_line, open_col);
            if (c == '}' || c == '>') return FAIL(t, t->p, "unmatched %s", what);
            return FAIL(t, t->p, "expected a field name, found %s", what);
        }
        const char *nm = t->p;
        while (t->p < t->end && ident_char(*t->p))
            t->p++;
        size_t nlen = (size_t)(t->p - nm);
        skip_ws(t);
        int colon = 0;
        if (t->p < t->end && *t->p == ':') {
            colon = 1;
            t->p++;
            skip_ws(t);
        }
        if (t->p < t->end && (*t->p == '{' || *t->p == '<')) {
            CLSSD_TRY(parse_msg_value(t, m, nm, nlen));
        } else if (!colon) {
            char what[48];
            describe(t, t->p, what, sizeof what);
            return FAIL(t, t->p, "expected ':' or '{' after '%.*s', found %s", (int)nlen, nm, what);
        } else if (t->p >= t->end) {
            return FAIL(t, t->p, "expected a value for '%.*s', found end of file", (int)nlen, nm);
        } else if (*t->p == '[') {
            CLSSD_TRY(parse_list(t, m, nm, nlen));
        } else {
            CLSSD_TRY(parse_scalar(t, m, nm, nlen));
        }
        skip_ws(t);
        if (t->p < t->end && (*t->p == ',' || *t->p == ';')) t->p++;
    }
}

/* V1 `layers { type: CONVOLUTION }` -> type "Convolution", as caffe.h promises. */
static clssd_status upgrade_v1_types(caffe_msg *root)
{
    for (size_t i = 0; i < root->n_fields; i++) {
        caffe_field *lf = &root->fields[i];
        if (lf->kind != CAFFE_MSG || strcmp(lf->name, "layers") != 0) continue;
        for (size_t k = 0; k < lf->m->n_fields; k++) {
            caffe_field *f = &lf->m->fields[k];
            int64_t v;
            if (f->kind != CAFFE_IDENT || strcmp(f->name, "type") != 0 ||
                !clssd__caffe_v1_type_from_ident(f->s, &v))
                continue;
            const char *tn = caffe_v1_type_name(v);
            size_t n = strlen(tn);
            char *s = clssd__malloc(n + 1);
            if (!s) return CLSSD_ERR_OUT_OF_MEMORY;
            memcpy(s, tn, n + 1);
            clssd__free(f->s);
            f->s = s;
            f->kind = CAFFE_STRING;
            f->i = v;
        }
    }
    return CLSSD_OK;
}

clssd_status caffe_parse_text(const char *text, size_t len, caffe_msg **out, char *err,
                              size_t err_size)
{
    if (err && err_size) err[0] = '\0';
    if (out) *out = NULL;
    if (!out || (!text && len)) {
        if (err && err_size) snprintf(err, err_size, "caffe_parse_text: invalid arguments");
        return CLSSD_ERR_INVALID_ARG;
    }
    if (!text) text = "";
    tp t;
    memset(&t, 0, sizeof t);
    t.p = text;
    t.end = text + len;
    t.line_start = text;
    t.line = 1;
    t.err = err;
    t.err_size = err_size;
    const char *dp = localeconv()->decimal_point;
    t.dp = dp && *dp ? dp : ".";
    t.dp_len = strlen(t.dp);
    /* A UTF-8 byte order mark, as some editors save. */
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) t.p += 3;

    caffe_msg *m = clssd__caffe_msg_new();
    if (!m) {
        if (err && err_size) snprintf(err, err_size, "out of memory");
        return CLSSD_ERR_OUT_OF_MEMORY;
    }
    clssd_status s = parse_body(&t, m, 0, 0, 0);
    if (s == CLSSD_OK) {
        s = upgrade_v1_types(m);
        if (s != CLSSD_OK && err && err_size) snprintf(err, err_size, "out of memory");
    }
    if (s != CLSSD_OK) {
        caffe_msg_free(m);
        return s;
    }
    *out = m;
    return CLSSD_OK;
}
