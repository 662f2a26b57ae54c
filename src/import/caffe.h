/* Caffe model files without a protobuf library.
 *
 * Both the text format (deploy .prototxt, labelmap .prototxt) and the binary wire format
 * (.caffemodel = serialized NetParameter) parse into one generic message tree. Binary fields
 * get their names from a built-in subset of caffe.proto (weiliu89/caffe ssd branch), so the
 * converter reads both the same way: caffe_msg_get(layer, "convolution_param", 0).
 * Unknown fields are kept (text) or skipped (binary, no name known). */
#ifndef CLSSD_CAFFE_H
#define CLSSD_CAFFE_H

#include <stddef.h>
#include <stdint.h>

#include "clssd_internal.h"

typedef enum caffe_kind {
    CAFFE_INT,    /* varint / fixed ints, bools; text integers */
    CAFFE_FLOAT,  /* float/double scalars; text numbers with '.', 'e', inf, nan */
    CAFFE_STRING, /* quoted strings and bytes */
    CAFFE_IDENT,  /* text-format enum identifiers (MAX, CENTER_SIZE, true); binary enums are INT */
    CAFFE_MSG,    /* nested message */
    CAFFE_FLOATS  /* packed or repeated float data of a BlobProto (binary), one field */
} caffe_kind;

typedef struct caffe_msg caffe_msg;

typedef struct caffe_field {
    const char *name; /* schema name (binary) or identifier (text); never NULL */
    caffe_kind kind;
    int64_t i;
    double f;
    char *s;           /* STRING / IDENT, NUL-terminated, owned */
    caffe_msg *m;      /* MSG, owned */
    float *floats;     /* FLOATS, owned */
    size_t n_floats;
} caffe_field;

struct caffe_msg {
    caffe_field *fields; /* in file order */
    size_t n_fields, cap_fields;
};

/* Parsers. On failure return CLSSD_ERR_BAD_MODEL (or CLSSD_ERR_IO / OUT_OF_MEMORY) and write
 * a message naming the line (text) or byte offset and field path (binary) into err. */
clssd_status caffe_parse_text(const char *text, size_t len, caffe_msg **out, char *err,
                              size_t err_size);
/* `root` names the top-level message type: "NetParameter" for .caffemodel files. */
clssd_status caffe_parse_binary(const uint8_t *data, size_t len, const char *root,
                                caffe_msg **out, char *err, size_t err_size);
/* Reads a whole file (limit 2 GiB) and parses it; text when binary == 0. */
clssd_status caffe_parse_file(const char *path, int binary, caffe_msg **out, char *err,
                              size_t err_size);
void caffe_msg_free(caffe_msg *m);

/* Lookups: the index-th field called `name` (0-based), or NULL. */
const caffe_field *caffe_msg_get(const caffe_msg *m, const char *name, size_t index);
size_t caffe_msg_count(const caffe_msg *m, const char *name);
/* Typed getters with defaults; numbers convert between INT and FLOAT; IDENT "true"/"false"
 * read as 1/0 with caffe_get_int. */
int64_t caffe_get_int(const caffe_msg *m, const char *name, size_t index, int64_t def);
double caffe_get_float(const caffe_msg *m, const char *name, size_t index, double def);
/* STRING or IDENT text, or def. */
const char *caffe_get_str(const caffe_msg *m, const char *name, size_t index, const char *def);
const caffe_msg *caffe_get_msg(const caffe_msg *m, const char *name, size_t index);

#endif
