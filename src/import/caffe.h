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

/* ---- conversion to a libclssd graph (caffe_import.c) ---- */
typedef struct caffe_import_options {
    int32_t input_w, input_h; /* 0: the prototxt's input size */
    float mean[3];            /* subtracted, network channel order; default 0 */
    float scale;              /* multiplied after the mean; default 1 */
    int bgr;                  /* network channel order is BGR (Caffe's); default 1 */
    const char *name;         /* model name; NULL: the prototxt's */
} caffe_import_options;

void caffe_import_options_init(caffe_import_options *o);
/* deploy: the parsed prototxt; weights: the parsed caffemodel, or NULL for zero tensors of
 * the right shapes (the caller initialises them). Writes a message naming the layer/blob. */
clssd_status caffe_import(const caffe_msg *deploy, const caffe_msg *weights,
                          const caffe_import_options *o, clssd_graph *g, char *err,
                          size_t err_size);
/* The whole path from files to an inferred graph: parse the prototxt (and the caffemodel
 * unless weights_path is NULL, in which case the weights are seeded random), convert, add
 * labels from labelmap_path (may be NULL). Messages name the file. */
clssd_status caffe_load_graph(const char *deploy_path, const char *weights_path,
                              const caffe_import_options *o, const char *labelmap_path,
                              uint64_t seed, clssd_graph *g, char *err, size_t err_size);

/* Labels from a labelmap prototxt (item { name label display_name }), by label index. */
clssd_status caffe_import_labelmap(const caffe_msg *labelmap, clssd_graph *g, char *err,
                                   size_t err_size);

/* ---------------------------------------------------------------- additions
 * Legacy V1 layers (NetParameter.layers, binary or text): `type` is given back as the
 * LayerParameter type name in a CAFFE_STRING ("Convolution" for CONVOLUTION / 4), so the
 * converter reads both generations alike; a number or identifier outside the V1 enum stays
 * CAFFE_INT / CAFFE_IDENT; a renamed type keeps its V1 number in `i`, and
 * caffe_get_enum(layer, "V1LayerParameter", "type", ...) gives it. Binary
 * BlobProto.double_data is converted to float and given back as "data" (CAFFE_FLOATS) like
 * the float data. */

/* The number an enum field holds: CAFFE_INT as stored (binary files, numbers in text);
 * CAFFE_IDENT looked up in the built-in schema's enum for msg_type.name, e.g.
 * caffe_get_enum(pool, "PoolingParameter", "pool", 0, 0): MAX -> 0, AVE -> 1. def when the
 * field is absent, of another kind, or an identifier that enum does not have. */
int64_t caffe_get_enum(const caffe_msg *m, const char *msg_type, const char *name, size_t index,
                       int64_t def);
/* LayerParameter type name for a V1LayerParameter.LayerType number (4 -> "Convolution"),
 * or NULL for a number outside the enum. */
const char *caffe_v1_type_name(int64_t v);

/* Limits on hostile input: message nesting, and fields in one parsed tree. */
#define CAFFE_MAX_DEPTH 64
#define CAFFE_MAX_FIELDS ((size_t)1 << 20)

/* Internals shared by caffe_text.c, caffe_wire.c and caffe_msg.c. */
caffe_msg *clssd__caffe_msg_new(void);
/* Appends a zeroed field; `name` must be a clssd__caffe_static_name() pointer or a string
 * allocated with clssd__malloc that the message then owns. NULL when out of memory. */
caffe_field *clssd__caffe_add(caffe_msg *m, const char *name, caffe_kind kind);
/* The schema's own copy of a field name (len bytes, not NUL-terminated), or NULL. Names
 * are freed unless they are such a pointer. */
const char *clssd__caffe_static_name(const char *name, size_t len);
/* V1LayerParameter.LayerType identifier (CONVOLUTION) -> number; 0 when unknown. */
int clssd__caffe_v1_type_from_ident(const char *ident, int64_t *out);
/* Consistency of the built-in schema (sorted names, valid references); 1 when sound. */
int clssd__caffe_schema_ok(char *err, size_t err_size);

#endif
