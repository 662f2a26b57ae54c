/* The generic message tree both Caffe parsers build, its lookups, and file reading. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "caffe.h"

caffe_msg *clssd__caffe_msg_new(void)
{
    return clssd__calloc(1, sizeof(caffe_msg));
}

caffe_field *clssd__caffe_add(caffe_msg *m, const char *name, caffe_kind kind)
{
    if (m->n_fields == m->cap_fields) {
        size_t cap = m->cap_fields ? m->cap_fields * 2 : 8, bytes;
        if (!clssd__mul_size(cap, sizeof(caffe_field), &bytes)) return NULL;
        caffe_field *grown = clssd__realloc(m->fields, bytes);
        if (!grown) return NULL;
        m->fields = grown;
        m->cap_fields = cap;
    }
    caffe_field *f = &m->fields[m->n_fields++];
    memset(f, 0, sizeof *f);
    f->name = name;
    f->kind = kind;
    return f;
}

/* Iterative over the fields, recursive over nesting, which the parsers bound by
 * CAFFE_MAX_DEPTH. */
void caffe_msg_free(caffe_msg *m)
{
    if (!m) return;
    for (size_t i = 0; i < m->n_fields; i++) {
        caffe_field *f = &m->fields[i];
        /* Schema names are shared; only names the text parser had to copy are owned. */
        if (f->name && clssd__caffe_static_name(f->name, strlen(f->name)) != f->name)
            clssd__free((char *)f->name);
        clssd__free(f->s);
        clssd__free(f->floats);
        caffe_msg_free(f->m);
    }
    clssd__free(m->fields);
    clssd__free(m);
}

const caffe_field *caffe_msg_get(const caffe_msg *m, const char *name, size_t index)
{
    if (!m || !name) return NULL;
    for (size_t i = 0; i < m->n_fields; i++) {
        if (strcmp(m->fields[i].name, name) == 0) {
            if (index == 0) return &m->fields[i];
            index--;
        }
    }
    return NULL;
}

size_t caffe_msg_count(const caffe_msg *m, const char *name)
{
    size_t n = 0;
    if (!m || !name) return 0;
    for (size_t i = 0; i < m->n_fields; i++)
        if (strcmp(m->fields[i].name, name) == 0) n++;
    return n;
}

/* The spellings protobuf's text format accepts for bools. */
static int ident_bool(const char *s, int64_t *out)
{
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "t")) {
        *out = 1;
        return 1;
    }
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "f")) {
        *out = 0;
        return 1;
    }
    return 0;
}

int64_t caffe_get_int(const caffe_msg *m, const char *name, size_t index, int64_t def)
{
    const caffe_field *f = caffe_msg_get(m, name, index);
    if (!f) return def;
    int64_t v;
    switch (f->kind) {
    case CAFFE_INT:
        return f->i;
    case CAFFE_FLOAT:
        /* Only whole numbers in range: 2.5 for an integer field is an error to the caller,
         * not 2. The upper bound is 2^63, exclusive. */
        if (isfinite(f->f) && f->f == floor(f->f) && f->f >= -9223372036854775808.0 &&
            f->f < 9223372036854775808.0)
            return (int64_t)f->f;
        return def;
    case CAFFE_IDENT:
        return ident_bool(f->s, &v) ? v : def;
    default:
        return def;
    }
}

double caffe_get_float(const caffe_msg *m, const char *name, size_t index, double def)
{
    const caffe_field *f = caffe_msg_get(m, name, index);
    if (!f) return def;
    if (f->kind == CAFFE_FLOAT) return f->f;
    if (f->kind == CAFFE_INT) return (double)f->i;
    return def;
}

const char *caffe_get_str(const caffe_msg *m, const char *name, size_t index, const char *def)
{
    const caffe_field *f = caffe_msg_get(m, name, index);
    if (f && (f->kind == CAFFE_STRING || f->kind == CAFFE_IDENT)) return f->s;
    return def;
}

const caffe_msg *caffe_get_msg(const caffe_msg *m, const char *name, size_t index)
{
    const caffe_field *f = caffe_msg_get(m, name, index);
    return f && f->kind == CAFFE_MSG ? f->m : NULL;
}

#define CAFFE_MAX_FILE ((size_t)2 << 30)

clssd_status caffe_parse_file(const char *path, int binary, caffe_msg **out, char *err,
                              size_t err_size)
{
    if (err && err_size) err[0] = '\0';
    if (out) *out = NULL;
    if (!path || !out) {
        if (err && err_size) snprintf(err, err_size, "caffe_parse_file: invalid arguments");
        return CLSSD_ERR_INVALID_ARG;
    }
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        if (err && err_size) snprintf(err, err_size, "cannot open '%s': %s", path, strerror(errno));
        return CLSSD_ERR_IO;
    }
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        if (err && err_size) snprintf(err, err_size, "'%s' is not a regular file", path);
        fclose(fp);
        return CLSSD_ERR_IO;
    }
    if ((uint64_t)st.st_size > CAFFE_MAX_FILE) {
        if (err && err_size)
            snprintf(err, err_size, "'%s' is larger than 2 GiB (%lld bytes)", path,
                     (long long)st.st_size);
        fclose(fp);
        return CLSSD_ERR_BAD_MODEL;
    }
    size_t size = (size_t)st.st_size;
    uint8_t *buf = clssd__malloc(size ? size : 1);
    if (!buf) {
        if (err && err_size)
            snprintf(err, err_size, "out of memory reading '%s' (%zu bytes)", path, size);
        fclose(fp);
        return CLSSD_ERR_OUT_OF_MEMORY;
    }
    size_t got = size ? fread(buf, 1, size, fp) : 0;
    int read_error = ferror(fp);
    fclose(fp);
    if (got != size || read_error) {
        if (err && err_size)
            snprintf(err, err_size, "reading '%s' failed after %zu of %zu bytes", path, got, size);
        clssd__free(buf);
        return CLSSD_ERR_IO;
    }
    clssd_status s;
    if (binary)
        s = caffe_parse_binary(buf, size, "NetParameter", out, err, err_size);
    else
        s = caffe_parse_text((const char *)buf, size, out, err, err_size);
    clssd__free(buf);
    /* The parsers' messages do not name the file; the caller may not either. */
    if (s != CLSSD_OK && err && err_size) {
        char tmp[1024];
        snprintf(tmp, sizeof tmp, "%s", err);
        snprintf(err, err_size, "%s: %s", path, tmp);
    }
    return s;
}
