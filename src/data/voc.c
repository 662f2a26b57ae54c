/* PASCAL VOC ground truth: a small strict XML reader for annotation files, the VOC directory
 * layout and the TSV of shared/data/voc2007_test (dataset.h). Inputs may be hostile: the XML
 * reader is iterative with a bounded stack, checks every index against the length, and never
 * reads past text[len). */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"

#define XML_MAX_DEPTH 64
#define XML_MAX_NAME 256

/* ---------------------------------------------------------------- XML */
enum role {
    R_OTHER,
    R_ROOT,
    R_SIZE,
    R_OBJECT,
    R_BNDBOX,
    /* fields: elements whose text is read */
    R_FILENAME,
    R_WIDTH,
    R_HEIGHT,
    R_NAME,
    R_DIFFICULT,
    R_XMIN,
    R_YMIN,
    R_XMAX,
    R_YMAX
};

typedef struct xml_elem {
    const char *name;
    size_t len;
    enum role role;
    int has_child;
} xml_elem;

typedef struct xp {
    const char *s;
    size_t n, i;
    char *err;
    size_t errcap;
    xml_elem stack[XML_MAX_DEPTH];
    int depth;
    char text[CLSSD_DATA_MAX_NAME + 1];
    size_t text_len;
    clssd_voc_annotation *a;
    size_t cap_objects;
    /* the object being read */
    int in_object, have_name, have_diff, have_box[4];
} xp;

static clssd_status xfail(xp *p, clssd_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static clssd_status xfail(xp *p, clssd_status st, const char *fmt, ...)
{
    if (p->err && p->errcap) {
        size_t line = 1;
        const size_t end = p->i < p->n ? p->i : p->n;
        for (size_t k = 0; k < end; k++)
            line += p->s[k] == '\n';
        char msg[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        clssd__data_fail(p->err, p->errcap, st, "line %zu: %s", line, msg);
    }
    return st;
}

static clssd_status xbad(xp *p, const char *what)
{
    return xfail(p, CLSSD_ERR_BAD_MODEL, "%s", what);
}

static int starts(const xp *p, const char *lit)
{
    const size_t l = strlen(lit);
    return p->n - p->i >= l && memcmp(p->s + p->i, lit, l) == 0;
}

static int xml_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void skip_space(xp *p)
{
    while (p->i < p->n && xml_space(p->s[p->i]))
        p->i++;
}

/* Advances past the next occurrence of lit; 0 when there is none. */
static int skip_past(xp *p, const char *lit)
{
    const size_t l = strlen(lit);
    while (p->n - p->i >= l) {
        if (memcmp(p->s + p->i, lit, l) == 0) {
            p->i += l;
            return 1;
        }
        p->i++;
    }
    p->i = p->n;
    return 0;
}

static int name_start(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == ':' || c >= 0x80;
}

static int name_char(unsigned char c)
{
    return name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

static clssd_status read_name(xp *p, const char **name, size_t *len)
{
    if (p->i >= p->n || !name_start((unsigned char)p->s[p->i]))
        return xbad(p, "expected an element or attribute name");
    const size_t a = p->i;
    while (p->i < p->n && name_char((unsigned char)p->s[p->i]))
        p->i++;
    if (p->i - a > XML_MAX_NAME) return xbad(p, "name longer than 256 bytes");
    *name = p->s + a;
    *len = p->i - a;
    return CLSSD_OK;
}

static int name_is(const char *name, size_t len, const char *lit)
{
    return strlen(lit) == len && memcmp(name, lit, len) == 0;
}

static int is_field(enum role r)
{
    return r >= R_FILENAME;
}

static const char *role_tag(enum role r)
{
    static const char *const tags[] = {"?",        "annotation", "size",   "object", "bndbox",
                                       "filename", "width",      "height", "name",   "difficult",
                                       "xmin",     "ymin",       "xmax",   "ymax"};
    return tags[r];
}

/* Appends decoded text (already checked) to the current field's buffer. */
static clssd_status put_text(xp *p, const char *t, size_t l)
{
    if (p->depth == 0) return CLSSD_OK;
    const enum role r = p->stack[p->depth - 1].role;
    if (!is_field(r)) return CLSSD_OK;
    if (l > CLSSD_DATA_MAX_NAME - p->text_len)
        return xfail(p, CLSSD_ERR_BAD_MODEL, "<%s> text longer than %d bytes", role_tag(r),
                     CLSSD_DATA_MAX_NAME);
    memcpy(p->text + p->text_len, t, l);
    p->text_len += l;
    return CLSSD_OK;
}

/* A run of character data up to '<' or '&' (or the end), checked: UTF-8, no control
 * characters other than tab / newline / carriage return. */
static clssd_status char_data(xp *p)
{
    const size_t a = p->i;
    while (p->i < p->n) {
        const unsigned char c = (unsigned char)p->s[p->i];
        if (c == '<' || c == '&') break;
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
            return xbad(p, "control character in text");
        if (c >= 0x80) {
            const size_t l = clssd__utf8_len((const unsigned char *)p->s + p->i, p->n - p->i);
            if (!l) return xbad(p, "invalid UTF-8 in text");
            p->i += l;
        } else {
            p->i++;
        }
    }
    if (p->depth == 0) {
        for (size_t k = a; k < p->i; k++)
            if (!xml_space(p->s[k])) {
                p->i = k;
                return xbad(p, "text outside the root element");
            }
        return CLSSD_OK;
    }
    return put_text(p, p->s + a, p->i - a);
}

/* &...; at p->i */
static clssd_status entity(xp *p)
{
    const size_t a = p->i + 1;
    size_t e = a;
    while (e < p->n && e - a < 12 && p->s[e] != ';')
        e++;
    if (e >= p->n || p->s[e] != ';') return xbad(p, "'&' not starting an entity (write &amp;)");
    const char *t = p->s + a;
    const size_t l = e - a;
    char buf[4];
    size_t bl = 0;
    if (name_is(t, l, "lt"))
        buf[0] = '<', bl = 1;
    else if (name_is(t, l, "gt"))
        buf[0] = '>', bl = 1;
    else if (name_is(t, l, "amp"))
        buf[0] = '&', bl = 1;
    else if (name_is(t, l, "quot"))
        buf[0] = '"', bl = 1;
    else if (name_is(t, l, "apos"))
        buf[0] = '\'', bl = 1;
    else if (l >= 1 && t[0] == '#') {
        uint32_t cp = 0;
        const int hex = t[1] == 'x';
        size_t k = hex ? 2 : 1;
        if (k >= l) return xbad(p, "empty character reference");
        for (; k < l; k++) {
            const char c = t[k];
            uint32_t d;
            if (c >= '0' && c <= '9')
                d = (uint32_t)(c - '0');
            else if (hex && c >= 'a' && c <= 'f')
                d = (uint32_t)(c - 'a' + 10);
            else if (hex && c >= 'A' && c <= 'F')
                d = (uint32_t)(c - 'A' + 10);
            else
                return xbad(p, "bad character reference");
            cp = cp * (hex ? 16u : 10u) + d;
            if (cp > 0x10FFFF) return xbad(p, "character reference beyond U+10FFFF");
        }
        if ((cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') ||
            (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE || cp == 0xFFFF)
            return xbad(p, "character reference to a character XML does not allow");
        bl = clssd__utf8_put(buf, cp);
    } else {
        return xbad(p, "unknown entity (only &lt; &gt; &amp; &quot; &apos; and &#..; are known)");
    }
    if (p->depth == 0) return xbad(p, "text outside the root element");
    p->i = e + 1;
    return put_text(p, buf, bl);
}

/* Attributes up to '>' or '/>'; *empty set for '/>'. */
static clssd_status attributes(xp *p, int *empty)
{
    for (;;) {
        const size_t before = p->i;
        skip_space(p);
        if (p->i >= p->n) return xbad(p, "unterminated tag");
        if (p->s[p->i] == '>') {
            p->i++;
            *empty = 0;
            return CLSSD_OK;
        }
        if (starts(p, "/>")) {
            p->i += 2;
            *empty = 1;
            return CLSSD_OK;
        }
        if (p->i == before) return xbad(p, "expected space, '>' or '/>' in a tag");
        const char *an;
        size_t al;
        CLSSD_TRY(read_name(p, &an, &al));
        skip_space(p);
        if (p->i >= p->n || p->s[p->i] != '=')
            return xbad(p, "expected '=' after an attribute name");
        p->i++;
        skip_space(p);
        if (p->i >= p->n || (p->s[p->i] != '"' && p->s[p->i] != '\''))
            return xbad(p, "expected a quoted attribute value");
        const char q = p->s[p->i++];
        while (p->i < p->n && p->s[p->i] != q) {
            if (p->s[p->i] == '<') return xbad(p, "'<' in an attribute value");
            p->i++;
        }
        if (p->i >= p->n) return xbad(p, "unterminated attribute value");
        p->i++;
    }
}

static enum role child_role(enum role parent, const char *name, size_t len)
{
    switch (parent) {
    case R_ROOT:
        if (name_is(name, len, "filename")) return R_FILENAME;
        if (name_is(name, len, "size")) return R_SIZE;
        if (name_is(name, len, "object")) return R_OBJECT;
        return R_OTHER;
    case R_SIZE:
        if (name_is(name, len, "width")) return R_WIDTH;
        if (name_is(name, len, "height")) return R_HEIGHT;
        return R_OTHER;
    case R_OBJECT:
        if (name_is(name, len, "name")) return R_NAME;
        if (name_is(name, len, "difficult")) return R_DIFFICULT;
        if (name_is(name, len, "bndbox")) return R_BNDBOX;
        return R_OTHER;
    case R_BNDBOX:
        if (name_is(name, len, "xmin")) return R_XMIN;
        if (name_is(name, len, "ymin")) return R_YMIN;
        if (name_is(name, len, "xmax")) return R_XMAX;
        if (name_is(name, len, "ymax")) return R_YMAX;
        return R_OTHER;
    default:
        return R_OTHER;
    }
}

static clssd_status open_elem(xp *p, const char *name, size_t len)
{
    enum role r;
    if (p->depth == 0) {
        if (!name_is(name, len, "annotation")) return xbad(p, "root element is not <annotation>");
        r = R_ROOT;
    } else {
        xml_elem *parent = &p->stack[p->depth - 1];
        if (is_field(parent->role))
            return xfail(p, CLSSD_ERR_BAD_MODEL, "<%s> must hold text only",
                         role_tag(parent->role));
        parent->has_child = 1;
        r = child_role(parent->role, name, len);
    }
    if (p->depth >= XML_MAX_DEPTH) return xbad(p, "elements nested deeper than 64");
    if (r == R_OBJECT) {
        clssd_voc_annotation *a = p->a;
        if (a->n_objects >= p->cap_objects) {
            if (a->n_objects >= CLSSD_DATA_MAX_OBJECTS) return xbad(p, "too many objects");
            const size_t nc = p->cap_objects ? p->cap_objects * 2 : 8;
            size_t bytes;
            void *no = clssd__mul_size(nc, sizeof *a->objects, &bytes)
                           ? clssd__realloc(a->objects, bytes)
                           : NULL;
            if (!no) return xfail(p, CLSSD_ERR_OUT_OF_MEMORY, "out of memory");
            a->objects = no;
            p->cap_objects = nc;
        }
        memset(&a->objects[a->n_objects], 0, sizeof *a->objects);
        a->n_objects++;
        p->have_name = p->have_diff = 0;
        memset(p->have_box, 0, sizeof p->have_box);
    }
    xml_elem *e = &p->stack[p->depth++];
    e->name = name;
    e->len = len;
    e->role = r;
    e->has_child = 0;
    p->text_len = 0;
    return CLSSD_OK;
}

static void trim(const char **t, size_t *l)
{
    while (*l && xml_space((*t)[0]))
        (*t)++, (*l)--;
    while (*l && xml_space((*t)[*l - 1]))
        (*l)--;
}

static clssd_status close_field(xp *p, enum role r)
{
    const char *t = p->text;
    size_t l = p->text_len;
    trim(&t, &l);
    clssd_voc_annotation *a = p->a;
    struct clssd_voc_object *o = a->n_objects ? &a->objects[a->n_objects - 1] : NULL;
    int64_t v;
    double d;
    switch (r) {
    case R_FILENAME:
        if (a->filename) return xbad(p, "<filename> given twice");
        a->filename = clssd__data_strndup(t, l);
        if (!a->filename) return xfail(p, CLSSD_ERR_OUT_OF_MEMORY, "out of memory");
        return CLSSD_OK;
    case R_WIDTH:
    case R_HEIGHT: {
        int32_t *dst = r == R_WIDTH ? &a->width : &a->height;
        if (*dst) return xfail(p, CLSSD_ERR_BAD_MODEL, "<%s> given twice", role_tag(r));
        if (!clssd__data_int(t, l, 0, INT32_MAX, &v))
            return xfail(p, CLSSD_ERR_BAD_MODEL, "<%s> is not a size in pixels", role_tag(r));
        *dst = (int32_t)v;
        return CLSSD_OK;
    }
    case R_NAME:
        if (p->have_name) return xbad(p, "<object> with two <name>s");
        if (!l) return xbad(p, "empty <name>");
        o->name = clssd__data_strndup(t, l);
        if (!o->name) return xfail(p, CLSSD_ERR_OUT_OF_MEMORY, "out of memory");
        p->have_name = 1;
        return CLSSD_OK;
    case R_DIFFICULT:
        if (p->have_diff) return xbad(p, "<object> with two <difficult>s");
        if (!clssd__data_number(t, l, &d)) return xbad(p, "<difficult> is not a number");
        o->difficult = d != 0.0;
        p->have_diff = 1;
        return CLSSD_OK;
    default: {
        const int k = (int)r - (int)R_XMIN;
        if (p->have_box[k])
            return xfail(p, CLSSD_ERR_BAD_MODEL, "<bndbox> with two <%s>s", role_tag(r));
        if (!clssd__data_number(t, l, &d))
            return xfail(p, CLSSD_ERR_BAD_MODEL, "<%s> is not a number", role_tag(r));
        double *dst[4] = {&o->xmin, &o->ymin, &o->xmax, &o->ymax};
        *dst[k] = d;
        p->have_box[k] = 1;
        return CLSSD_OK;
    }
    }
}

static clssd_status close_elem(xp *p)
{
    const xml_elem *e = &p->stack[p->depth - 1];
    const enum role r = e->role;
    if (is_field(r)) CLSSD_TRY(close_field(p, r));
    if (r == R_OBJECT) {
        if (!p->have_name) return xbad(p, "<object> without <name>");
        if (!(p->have_box[0] && p->have_box[1] && p->have_box[2] && p->have_box[3]))
            return xbad(p, "<object> without a complete <bndbox> (xmin, ymin, xmax, ymax)");
    }
    p->depth--;
    p->text_len = 0;
    return CLSSD_OK;
}

/* Comments, processing instructions and white space (the prolog and what follows the root). */
static clssd_status misc(xp *p, int prolog)
{
    for (;;) {
        skip_space(p);
        if (starts(p, "<!--")) {
            p->i += 4;
            if (!skip_past(p, "-->")) return xbad(p, "unterminated comment");
        } else if (starts(p, "<?")) {
            p->i += 2;
            if (!skip_past(p, "?>")) return xbad(p, "unterminated <?...?>");
        } else if (prolog && starts(p, "<!DOCTYPE")) {
            while (p->i < p->n && p->s[p->i] != '>') {
                if (p->s[p->i] == '[') return xbad(p, "<!DOCTYPE> with an internal subset");
                p->i++;
            }
            if (p->i >= p->n) return xbad(p, "unterminated <!DOCTYPE>");
            p->i++;
        } else {
            return CLSSD_OK;
        }
    }
}

static clssd_status parse_doc(xp *p)
{
    if (p->n >= 3 && memcmp(p->s, "\xEF\xBB\xBF", 3) == 0) p->i = 3;
    CLSSD_TRY(misc(p, 1));
    if (p->i >= p->n || p->s[p->i] != '<' || starts(p, "</") || starts(p, "<!"))
        return xbad(p, "expected the <annotation> element");
    do {
        if (p->i >= p->n) return xbad(p, "unexpected end of input inside an element");
        if (p->s[p->i] == '&') {
            CLSSD_TRY(entity(p));
        } else if (p->s[p->i] != '<') {
            CLSSD_TRY(char_data(p));
        } else if (starts(p, "<!--")) {
            p->i += 4;
            if (!skip_past(p, "-->")) return xbad(p, "unterminated comment");
        } else if (starts(p, "<![CDATA[")) {
            p->i += 9;
            const size_t a = p->i;
            if (!skip_past(p, "]]>")) return xbad(p, "unterminated CDATA section");
            const size_t z = p->i - 3;
            for (size_t k = a; k < z;) {
                const unsigned char c = (unsigned char)p->s[k];
                if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
                    p->i = k;
                    return xbad(p, "control character in CDATA");
                }
                const size_t l =
                    c < 0x80 ? 1 : clssd__utf8_len((const unsigned char *)p->s + k, z - k);
                if (!l) {
                    p->i = k;
                    return xbad(p, "invalid UTF-8 in CDATA");
                }
                k += l;
            }
            CLSSD_TRY(put_text(p, p->s + a, z - a));
        } else if (starts(p, "<?")) {
            p->i += 2;
            if (!skip_past(p, "?>")) return xbad(p, "unterminated <?...?>");
        } else if (starts(p, "</")) {
            p->i += 2;
            const char *name;
            size_t len;
            CLSSD_TRY(read_name(p, &name, &len));
            skip_space(p);
            if (p->i >= p->n || p->s[p->i] != '>') return xbad(p, "expected '>' after an end tag");
            const xml_elem *e = &p->stack[p->depth - 1];
            if (e->len != len || memcmp(e->name, name, len) != 0)
                return xfail(p, CLSSD_ERR_BAD_MODEL, "</%.*s> does not close <%.*s>", (int)len,
                             name, (int)e->len, e->name);
            p->i++;
            CLSSD_TRY(close_elem(p));
        } else if (starts(p, "<!")) {
            return xbad(p, "unexpected '<!' (only comments and CDATA are allowed here)");
        } else {
            p->i++;
            const char *name;
            size_t len;
            int empty = 0;
            CLSSD_TRY(read_name(p, &name, &len));
            CLSSD_TRY(attributes(p, &empty));
            CLSSD_TRY(open_elem(p, name, len));
            if (empty) CLSSD_TRY(close_elem(p));
        }
    } while (p->depth > 0);
    CLSSD_TRY(misc(p, 0));
    if (p->i < p->n) return xbad(p, "content after the root element");
    return CLSSD_OK;
}

clssd_status clssd__voc_parse_xml(const char *text, size_t len, clssd_voc_annotation *out,
                                  char *err, size_t errcap)
{
    if (err && errcap) err[0] = '\0';
    if (!out || (!text && len))
        return clssd__data_fail(err, errcap, CLSSD_ERR_INVALID_ARG,
                                "clssd__voc_parse_xml: NULL argument");
    memset(out, 0, sizeof *out);
    if (len > CLSSD_DATA_MAX_FILE)
        return clssd__data_fail(err, errcap, CLSSD_ERR_BAD_MODEL, "larger than the %zu-byte limit",
                                (size_t)CLSSD_DATA_MAX_FILE);
    xp *p = clssd__malloc(sizeof *p);
    if (!p) return clssd__data_fail(err, errcap, CLSSD_ERR_OUT_OF_MEMORY, "out of memory");
    memset(p, 0, sizeof *p);
    p->s = text ? text : "";
    p->n = len;
    p->err = err;
    p->errcap = errcap;
    p->a = out;
    clssd_status s = parse_doc(p);
    clssd__free(p);
    if (s != CLSSD_OK) clssd__voc_annotation_free(out);
    return s;
}

void clssd__voc_annotation_free(clssd_voc_annotation *a)
{
    if (!a) return;
    clssd__free(a->filename);
    for (size_t i = 0; a->objects && i < a->n_objects; i++)
        clssd__free(a->objects[i].name);
    clssd__free(a->objects);
    memset(a, 0, sizeof *a);
}

/* ---------------------------------------------------------------- VOC directory */
static char *join3(const char *a, const char *b, const char *c)
{
    const size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
    size_t n;
    if (!clssd__add_size(la, lb, &n) || !clssd__add_size(n, lc, &n) || !clssd__add_size(n, 1, &n))
        return NULL;
    char *r = clssd__malloc(n);
    if (!r) return NULL;
    memcpy(r, a, la);
    memcpy(r + la, b, lb);
    memcpy(r + la + lb, c, lc);
    r[la + lb + lc] = '\0';
    return r;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every <dir>/Annotations/ *.xml, ids sorted bytewise. */
static clssd_status list_annotations(const char *dir, char ***ids, size_t *n, char *err,
                                     size_t errcap)
{
    *ids = NULL;
    *n = 0;
    char *adir = join3(dir, "/Annotations", "");
    if (!adir) return clssd__data_fail(err, errcap, CLSSD_ERR_OUT_OF_MEMORY, "out of memory");
    DIR *d = opendir(adir);
    if (!d) {
        clssd_status s = clssd__data_fail(err, errcap, CLSSD_ERR_IO, "%s: cannot open: %s", adir,
                                          strerror(errno));
        clssd__free(adir);
        return s;
    }
    char **v = NULL;
    size_t nv = 0, cap = 0;
    clssd_status s = CLSSD_OK;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const size_t l = strlen(de->d_name);
        if (l <= 4 || strcmp(de->d_name + l - 4, ".xml") != 0) continue;
        if (l - 4 > CLSSD_DATA_MAX_NAME) continue;
        if (nv == cap) {
            if (nv >= CLSSD_DATA_MAX_IMAGES) {
                s = clssd__data_fail(err, errcap, CLSSD_ERR_BAD_MODEL, "%s: more than %d files",
                                     adir, CLSSD_DATA_MAX_IMAGES);
                break;
            }
            const size_t nc = cap ? cap * 2 : 64;
            size_t bytes;
            char **nvp =
                clssd__mul_size(nc, sizeof *nvp, &bytes) ? clssd__realloc(v, bytes) : NULL;
            if (!nvp) {
                s = CLSSD_ERR_OUT_OF_MEMORY;
                break;
            }
            v = nvp;
            cap = nc;
        }
        char *c = clssd__data_strndup(de->d_name, l - 4);
        if (!c) {
            s = CLSSD_ERR_OUT_OF_MEMORY;
            break;
        }
        v[nv++] = c;
    }
    closedir(d);
    if (s == CLSSD_ERR_OUT_OF_MEMORY) clssd__data_fail(err, errcap, s, "%s: out of memory", adir);
    clssd__free(adir);
    if (s != CLSSD_OK) {
        clssd__data_free_strings(v, nv);
        return s;
    }
    if (!nv) {
        clssd__free(v);
        return clssd__data_fail(err, errcap, CLSSD_ERR_IO, "%s/Annotations: no .xml files", dir);
    }
    qsort(v, nv, sizeof *v, cmp_str);
    *ids = v;
    *n = nv;
    return CLSSD_OK;
}

clssd_status clssd__gt_load_voc_dir(const char *dir, const char *image_set, clssd_gt_set **out,
                                    char *err, size_t errcap)
{
    if (err && errcap) err[0] = '\0';
    if (!out) return clssd__data_fail(err, errcap, CLSSD_ERR_INVALID_ARG, "NULL output");
    *out = NULL;
    if (!dir) return clssd__data_fail(err, errcap, CLSSD_ERR_INVALID_ARG, "no directory given");
    char **ids = NULL;
    size_t n_ids = 0;
    clssd_status s;
    if (image_set) {
        if (!*image_set || strchr(image_set, '/') || strchr(image_set, '\\'))
            return clssd__data_fail(err, errcap, CLSSD_ERR_INVALID_ARG,
                                    "image set \"%s\" is not a plain name", image_set);
        char *list = join3(dir, "/ImageSets/Main/", image_set);
        char *list_txt = list ? join3(list, ".txt", "") : NULL;
        clssd__free(list);
        if (!list_txt)
            return clssd__data_fail(err, errcap, CLSSD_ERR_OUT_OF_MEMORY, "out of memory");
        s = clssd__data_read_id_list(list_txt, 1, &ids, &n_ids, err, errcap);
        clssd__free(list_txt);
    } else {
        s = list_annotations(dir, &ids, &n_ids, err, errcap);
    }
    if (s != CLSSD_OK) return s;

    clssd__gt_builder b;
    memset(&b, 0, sizeof b);
    char *path = NULL, *text = NULL;
    clssd_voc_annotation a;
    memset(&a, 0, sizeof a);
    for (size_t i = 0; i < n_ids; i++) {
        path = join3(dir, "/Annotations/", ids[i]);
        char *xml = path ? join3(path, ".xml", "") : NULL;
        clssd__free(path);
        path = xml;
        if (!path) {
            s = clssd__data_fail(err, errcap, CLSSD_ERR_OUT_OF_MEMORY, "out of memory");
            goto fail;
        }
        size_t len;
        s = clssd__data_read_file(path, &text, &len, err, errcap);
        if (s != CLSSD_OK) goto fail;
        char msg[320];
        s = clssd__voc_parse_xml(text, len, &a, msg, sizeof msg);
        clssd__free(text);
        text = NULL;
        if (s != CLSSD_OK) {
            clssd__data_fail(err, errcap, s, "%s: %s", path, msg);
            goto fail;
        }
        char *file = join3(dir, "/JPEGImages/", ids[i]);
        char *jpg = file ? join3(file, ".jpg", "") : NULL;
        clssd__free(file);
        int32_t im = -1;
        if (!jpg) {
            s = CLSSD_ERR_OUT_OF_MEMORY;
        } else {
            s = clssd__gtb_add_image(&b, ids[i], strlen(ids[i]), jpg, a.width, a.height, &im);
            if (s == CLSSD_ERR_BAD_MODEL) {
                clssd__data_fail(err, errcap, s, "%s: image id \"%s\" given twice", path, ids[i]);
                goto fail;
            }
        }
        for (size_t k = 0; s == CLSSD_OK && k < a.n_objects; k++) {
            const struct clssd_voc_object *o = &a.objects[k];
            int32_t ni;
            s = clssd__gtb_intern(&b, o->name, strlen(o->name), &ni);
            const double box[4] = {o->xmin, o->ymin, o->xmax, o->ymax};
            if (s == CLSSD_OK) s = clssd__gtb_add_object(&b, im, ni, box, o->difficult);
        }
        if (s == CLSSD_ERR_BAD_MODEL) {
            clssd__data_fail(err, errcap, s, "%s: more objects or classes than the limits allow",
                             path);
            goto fail;
        }
        if (s != CLSSD_OK) {
            clssd__data_fail(err, errcap, s, "%s: out of memory", path);
            goto fail;
        }
        clssd__voc_annotation_free(&a);
        clssd__free(path);
        path = NULL;
    }
    clssd__data_free_strings(ids, n_ids);
    ids = NULL;
    s = clssd__gtb_finish(&b, out);
    if (s != CLSSD_OK) return clssd__data_fail(err, errcap, s, "%s: out of memory", dir);
    return CLSSD_OK;
fail:
    clssd__voc_annotation_free(&a);
    clssd__free(text);
    clssd__free(path);
    clssd__data_free_strings(ids, n_ids);
    clssd__gtb_free(&b);
    return s;
}

/* ---------------------------------------------------------------- TSV */
enum { C_ID, C_W, C_H, C_CLASS, C_XMIN, C_YMIN, C_XMAX, C_YMAX, C_DIFF, C_COUNT };
static const char *const tsv_cols[C_COUNT] = {"image_id", "width", "height", "class",    "xmin",
                                              "ymin",     "xmax",  "ymax",   "difficult"};
#define TSV_MAX_COLS 64

/* Splits line[0..n) at tabs into at most TSV_MAX_COLS fields; returns the count, or
 * TSV_MAX_COLS + 1 when there are more. */
static size_t split_tabs(const char *line, size_t n, const char **f, size_t *fl)
{
    size_t k = 0, a = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || line[i] == '\t') {
            if (k == TSV_MAX_COLS) return TSV_MAX_COLS + 1;
            f[k] = line + a;
            fl[k] = i - a;
            k++;
            a = i + 1;
        }
    }
    return k;
}

static void trim_spaces(const char **t, size_t *l)
{
    while (*l && (**t == ' '))
        (*t)++, (*l)--;
    while (*l && ((*t)[*l - 1] == ' '))
        (*l)--;
}

/* The TSV text[0..len) (path names it in messages); ids: the n_ids image ids of the list named
 * list_name, when list_name is not NULL. Frees ids in every case. */
static clssd_status tsv_parse(const char *text, size_t len, const char *path, char **ids,
                              size_t n_ids, const char *list_name, clssd_gt_set **out, char *err,
                              size_t errcap)
{
    clssd_status s = CLSSD_OK;
    clssd__gt_builder b;
    memset(&b, 0, sizeof b);
    for (size_t i = 0; i < n_ids; i++) {
        int32_t im;
        s = clssd__gtb_add_image(&b, ids[i], strlen(ids[i]), NULL, 0, 0, &im);
        if (s != CLSSD_OK) {
            clssd__data_fail(err, errcap, s, "%s: out of memory", list_name);
            goto fail;
        }
    }
    clssd__data_free_strings(ids, n_ids);
    ids = NULL;

    int col[C_COUNT]; /* field index of each column, -1 absent */
    for (int c = 0; c < C_COUNT; c++)
        col[c] = c;
    size_t n_cols = C_COUNT;
    int have_header = 0;
    const char *f[TSV_MAX_COLS];
    size_t fl[TSV_MAX_COLS];
    size_t line = 0, i = 0;
    int first = 1;
    const char *ln;
    size_t ll;
    while (clssd__data_next_line(text, len, &i, &ln, &ll)) {
        line++;
        if (memchr(ln, '\0', ll)) {
            s = clssd__data_fail(err, errcap, CLSSD_ERR_BAD_MODEL, "%s: line %zu: NUL byte", path,
                                 line);
            goto fail;
        }
        if (ll && ln[0] == '#') {
            if (first && !have_header) {
                /* the column names */
                const char *h = ln + 1;
                size_t hl = ll - 1;
                while (hl && *h == ' ')
                    h++, hl--;
                n_cols = split_tabs(h, hl, f, fl);
                if (n_cols > TSV_MAX_COLS) {
                    s = clssd__data_fail(err, errcap, CLSSD_ERR_BAD_MODEL,
                                         "%s: line %zu: more than %d columns", path, line,
                                         TSV_MAX_COLS);
                    goto fail;
                }
                for (int c = 0; c < C_COUNT; c++)
                    col[c] = -1;
                for (size_t k = 0; k < n_cols; k++) {
                    trim_spaces(&f[k], &fl[k]);
                    for (int c = 0; c < C_COUNT; c++)
                        if (name_is(f[k], fl[k], tsv_cols[c])) {
                            if (col[c] >= 0) {
                                s = clssd__data_fail(err, errcap, CLSSD_ERR_BAD_MODEL,
                                                     "%s: line %zu: column %s named twice", path,
                                                     line, tsv_cols[c]);
                                goto fail;
                            }
                            col[c] = (int)k;
                        }
                }
                static const int required[] = {C_ID, C_CLASS, C_XMIN, C_YMIN, C_XMAX, C_YMAX};
                for (size_t r = 0; r < sizeof required / sizeof required[0]; r++)
                    if (col[required[r]] < 0) {
                        s = clssd__data_fail(err, errcap, CLSSD_ERR_BAD_MODEL,
                                             "%s: line %zu: the column header (first comment "
                                             "line) names no column %s",
                                             path, line, tsv_cols[required[r]]);
                        goto fail;
                    }
                have_header = 1;
            }
            first = 0;
            continue;
        }
        first = 0;
        size_t k = 0;
        while (k < ll && (ln[k] == ' ' || ln[k] == '\t'))
            k++;
        if (k == ll) continue; /* blank */
        const size_t nf = split_tabs(ln, ll, f, fl);
        if (nf != n_cols) {
            s = clssd__data_fail(err, errcap, CLSSD_ERR_BAD_MODEL,
                                 "%s: line %zu: %zu tab-separated fields, expected %zu", path, line,
                                 nf > TSV_MAX_COLS ? (size_t)TSV_MAX_COLS + 1 : nf, n_cols);
            goto fail;
        }
        for (size_t q = 0; q < nf; q++)
            trim_spaces(&f[q], &fl[q]);
        const char *id = f[col[C_ID]], *cls = f[col[C_CLASS]];
        const size_t idl = fl[col[C_ID]], clsl = fl[col[C_CLASS]];
        if (!idl || idl > CLSSD_DATA_MAX_NAME || !clsl || clsl > CLSSD_DATA_MAX_NAME) {
            s = clssd__data_fail(err, errcap, CLSSD_ERR_BAD_MODEL,
                                 "%s: line %zu: empty or too long image id or class", path, line);
            goto fail;
        }
        for (size_t q = 0; q < clsl; q++)
            if ((unsigned char)cls[q] < 0x20) {
                s = clssd__data_fail(err, errcap, CLSSD_ERR_BAD_MODEL,
                                     "%s: line %zu: control character in the class", path, line);
                goto fail;
            }
        double box[4];
        int64_t wh[2] = {0, 0}, diff = 0;
        static const int bc[4] = {C_XMIN, C_YMIN, C_XMAX, C_YMAX};
        for (int q = 0; q < 4; q++)
            if (!clssd__data_number(f[col[bc[q]]], fl[col[bc[q]]], &box[q])) {
                s = clssd__data_fail(err, errcap, CLSSD_ERR_BAD_MODEL,
                                     "%s: line %zu: %s is not a number", path, line,
                                     tsv_cols[bc[q]]);
                goto fail;
            }
        for (int q = 0; q < 2; q++) {
            const int c = q ? col[C_H] : col[C_W];
            if (c >= 0 && !clssd__data_int(f[c], fl[c], 0, INT32_MAX, &wh[q])) {
                s = clssd__data_fail(err, errcap, CLSSD_ERR_BAD_MODEL,
                                     "%s: line %zu: %s is not a size in pixels", path, line,
                                     q ? "height" : "width");
                goto fail;
            }
        }
        if (col[C_DIFF] >= 0 &&
            !clssd__data_int(f[col[C_DIFF]], fl[col[C_DIFF]], INT32_MIN, INT32_MAX, &diff)) {
            s = clssd__data_fail(err, errcap, CLSSD_ERR_BAD_MODEL,
                                 "%s: line %zu: difficult is not an integer", path, line);
            goto fail;
        }
        int32_t ni;
        s = clssd__gtb_intern(&b, cls, clsl, &ni);
        if (s != CLSSD_OK) goto fail_limits;
        int32_t im = clssd__strtab_get(&b.image_ids, id, idl);
        if (im < 0) {
            if (list_name) continue; /* not listed: dropped */
            s = clssd__gtb_add_image(&b, id, idl, NULL, (int32_t)wh[0], (int32_t)wh[1], &im);
            if (s != CLSSD_OK) goto fail_limits;
        } else {
            clssd_gt_image *g = &b.images[im];
            for (int q = 0; q < 2; q++) {
                int32_t *dst = q ? &g->height : &g->width;
                if (!wh[q]) continue;
                if (!*dst)
                    *dst = (int32_t)wh[q];
                else if (*dst != wh[q]) {
                    s = clssd__data_fail(err, errcap, CLSSD_ERR_BAD_MODEL,
                                         "%s: line %zu: image %.*s has %s %d on an earlier line",
                                         path, line, (int)idl, id, q ? "height" : "width",
                                         (int)*dst);
                    goto fail;
                }
            }
        }
        s = clssd__gtb_add_object(&b, im, ni, box, diff != 0);
        if (s != CLSSD_OK) goto fail_limits;
    }
    s = clssd__gtb_finish(&b, out);
    if (s != CLSSD_OK) return clssd__data_fail(err, errcap, s, "%s: out of memory", path);
    return CLSSD_OK;
fail_limits:
    if (s == CLSSD_ERR_BAD_MODEL)
        clssd__data_fail(err, errcap, s,
                         "%s: line %zu: more images, objects or classes than the "
                         "limits allow",
                         path, line);
    else
        clssd__data_fail(err, errcap, s, "%s: out of memory", path);
fail:
    clssd__data_free_strings(ids, n_ids);
    clssd__gtb_free(&b);
    return s;
}

clssd_status clssd__gt_load_voc_tsv(const char *path, const char *image_list, clssd_gt_set **out,
                                    char *err, size_t errcap)
{
    if (err && errcap) err[0] = '\0';
    if (!out) return clssd__data_fail(err, errcap, CLSSD_ERR_INVALID_ARG, "NULL output");
    *out = NULL;
    char **ids = NULL;
    size_t n_ids = 0;
    clssd_status s;
    if (image_list) {
        s = clssd__data_read_id_list(image_list, 0, &ids, &n_ids, err, errcap);
        if (s != CLSSD_OK) return s;
    }
    char *text = NULL;
    size_t len;
    s = clssd__data_read_file(path, &text, &len, err, errcap);
    if (s != CLSSD_OK) {
        clssd__data_free_strings(ids, n_ids);
        return s;
    }
    s = tsv_parse(text, len, path, ids, n_ids, image_list, out, err, errcap);
    clssd__free(text);
    return s;
}

clssd_status clssd__gt_load_voc_tsv_mem(const char *text, size_t len, const char *name,
                                        const char *list, size_t list_len, clssd_gt_set **out,
                                        char *err, size_t errcap)
{
    if (err && errcap) err[0] = '\0';
    if (!out) return clssd__data_fail(err, errcap, CLSSD_ERR_INVALID_ARG, "NULL output");
    *out = NULL;
    if (!text && len) return clssd__data_fail(err, errcap, CLSSD_ERR_INVALID_ARG, "NULL text");
    const char *list_name = list ? "(image list)" : NULL;
    char **ids = NULL;
    size_t n_ids = 0;
    if (list) {
        const clssd_status s =
            clssd__data_parse_id_list(list, list_len, list_name, 0, &ids, &n_ids, err, errcap);
        if (s != CLSSD_OK) return s;
    }
    return tsv_parse(text ? text : "", len, clssd__data_name(name), ids, n_ids, list_name, out,
                     err, errcap);
}
