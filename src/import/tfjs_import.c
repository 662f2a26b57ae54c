/* TF.js graph model of a TensorFlow Object Detection API SSD -> libclssd graph.
 *
 * The graph is evaluated symbolically from the two tensors the post-processor consumes
 * (the concatenated box encodings and class logits) back to the image placeholder. Every
 * TF tensor on the way gets a value: the image (with the resize and pixel affine the
 * Preprocessor applies to it), a network tensor (a libclssd node, NCHW), a flattened head
 * output (NHWC order, with its TF shape), a constant, or a small int vector (shapes).
 * Constant Mul/Add/BiasAdd/FusedBatchNorm are folded into the convolution before them and
 * Relu/Relu6 fused into it when nothing else reads the intermediate tensor; otherwise they
 * become SCALE/RELU nodes. The post-processor itself is not executed but recognised: its
 * anchors constant, the decode's scale factors and the sigmoid score converter become a
 * CONST prior node, a DECODE and a SIGMOID, followed by per-class NMS.
 *
 * TF's box coder works in (y, x, h, w) order with corner anchors (ymin, xmin, ymax, xmax);
 * libclssd's DECODE is Caffe's CENTER_SIZE in (x, y, w, h) order. The two are the same
 * arithmetic, so the converter swaps the box predictor convolutions' output channels
 * (ty,tx,th,tw -> tx,ty,tw,th), reorders the anchors to (xmin, ymin, xmax, ymax), and
 * passes the scale factors as variances (1/10, 1/10, 1/5, 1/5 for the usual coder). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "json.h"
#include "tfjs.h"

#define MAX_JSON_BYTES ((size_t)64 << 20)     /* model.json; real ones are < 1 MB */
#define MAX_WEIGHT_BYTES ((size_t)1 << 30)    /* all shards together */
#define MAX_TF_NODES 200000
#define MAX_DEPTH 4000 /* evaluation recursion; a MobileNet SSD needs ~400 */
#define MAX_RANK 6
#define MAX_INTS 8

const char *const clssd__coco91_labels[91] = {
    "background", "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train",
    "truck", "boat", "traffic light", "fire hydrant", "street sign", "stop sign",
    "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear",
    "zebra", "giraffe", "hat", "backpack", "umbrella", "shoe", "eye glasses", "handbag", "tie",
    "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite", "baseball bat",
    "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle", "plate",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich",
    "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "mirror", "dining table", "window", "desk", "toilet", "door", "tv",
    "laptop", "mouse", "remote", "keyboard", "cell phone", "microwave", "oven", "toaster",
    "sink", "refrigerator", "blender", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush"};

/* ---------------------------------------------------------------- data */
typedef struct tfweight {
    const char *name;
    int64_t shape[MAX_RANK];
    int rank;
    size_t count;
    int is_int;
    float *f;    /* float tensors (dequantized) */
    int64_t *i;  /* int tensors */
} tfweight;

typedef struct tfnode {
    const char *name, *op;
    const clssd_json *attr;
    int32_t *in;   /* producer node index per data input */
    int32_t *port; /* producer output index */
    int32_t n_in;
    int32_t users; /* data consumers other than Shape */
    int32_t w;     /* Const: weight index, else -1 */
} tfnode;

enum { V_UNSET, V_BUSY, V_IMAGE, V_NET, V_FLAT, V_CONST };

typedef struct tval {
    int kind;
    int32_t node;            /* V_NET / V_FLAT: libclssd node */
    int64_t dims[MAX_RANK];  /* V_FLAT: TF shape, dims[0] = -1 (batch) */
    int rank;
    int32_t w;               /* V_CONST */
    /* V_IMAGE: pixel value v becomes a*v + b after an optional resize */
    int resized, mode;
    int32_t out_w, out_h;
    double a, b;
} tval;

typedef struct importer {
    clssd_graph *g;
    const clssd_json *root;
    tfweight *w;
    int32_t n_w;
    tfnode *n;
    int32_t n_n;
    tval *v;             /* per TF node, output 0 */
    int32_t *name_hash;  /* open addressing over node names, cap_hash slots, -1 empty */
    size_t cap_hash;
    int32_t *users;      /* per libclssd node: consumers so far */
    int32_t cap_users;
    int32_t input;       /* the INPUT node, -1 until the image reaches a convolution */
    tval input_image;
    int depth;
    char *err;
    size_t err_size;
} importer;

static clssd_status fail(importer *im, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static clssd_status fail(importer *im, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(im->err, im->err_size, fmt, ap);
    va_end(ap);
    return CLSSD_ERR_BAD_MODEL;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static int32_t find_node(const importer *im, const char *name, size_t len)
{
    char buf[1024];
    if (len >= sizeof buf) return -1;
    memcpy(buf, name, len);
    buf[len] = '\0';
    for (size_t h = fnv1a(buf) & (im->cap_hash - 1);; h = (h + 1) & (im->cap_hash - 1)) {
        int32_t i = im->name_hash[h];
        if (i < 0) return -1;
        if (strcmp(im->n[i].name, buf) == 0) return i;
    }
}

static const char *tf_name(const importer *im, int32_t i) { return im->n[i].name; }

/* ---------------------------------------------------------------- attributes */
static const clssd_json *attr(const importer *im, int32_t i, const char *key)
{
    return clssd__json_get(im->n[i].attr, key);
}

/* {"s": [bytes...]} (older converters) or {"s": "base64"} -> NUL-terminated text. */
static int attr_str(const importer *im, int32_t i, const char *key, char *out, size_t size)
{
    const clssd_json *a = clssd__json_get(attr(im, i, key), "s");
    out[0] = '\0';
    if (!a) return 0;
    if (a->type == CLSSD_JSON_ARRAY) {
        if (a->n_items >= size) return 0;
        for (size_t k = 0; k < a->n_items; k++) {
            int64_t b;
            if (!clssd__json_int(&a->items[k], &b) || b < 1 || b > 255) return 0;
            out[k] = (char)b;
        }
        out[a->n_items] = '\0';
        return 1;
    }
    if (a->type != CLSSD_JSON_STRING) return 0;
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    for (const char *p = a->string; *p && *p != '='; p++) {
        const char *q = strchr(b64, *p);
        if (!q) return 0;
        acc = (acc << 6) | (uint32_t)(q - b64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n + 1 >= size) return 0;
            out[n++] = (char)((acc >> bits) & 0xffu);
        }
    }
    out[n] = '\0';
    return 1;
}

/* {"list": {"i": ["1", "2", ...]}}: int64 values given as strings or numbers. */
static int attr_ints(const importer *im, int32_t i, const char *key, int64_t *out, int cap)
{
    const clssd_json *l = clssd__json_get(clssd__json_get(attr(im, i, key), "list"), "i");
    if (!l || l->type != CLSSD_JSON_ARRAY || l->n_items > (size_t)cap) return -1;
    for (size_t k = 0; k < l->n_items; k++) {
        const clssd_json *e = &l->items[k];
        if (e->type == CLSSD_JSON_STRING) {
            char *end;
            errno = 0;
            long long v = strtoll(e->string, &end, 10);
            if (errno || end == e->string || *end) return -1;
            out[k] = v;
        } else if (!clssd__json_int(e, &out[k])) {
            return -1;
        }
    }
    return (int)l->n_items;
}

static int attr_int(const importer *im, int32_t i, const char *key, int64_t def, int64_t *out)
{
    const clssd_json *a = clssd__json_get(attr(im, i, key), "i");
    *out = def;
    if (!a) return 1;
    if (a->type == CLSSD_JSON_STRING) {
        char *end;
        errno = 0;
        long long v = strtoll(a->string, &end, 10);
        if (errno || end == a->string || *end) return 0;
        *out = v;
        return 1;
    }
    return clssd__json_int(a, out);
}

static int attr_bool(const importer *im, int32_t i, const char *key, int def)
{
    const clssd_json *a = clssd__json_get(attr(im, i, key), "b");
    return a && a->type == CLSSD_JSON_BOOL ? a->boolean : def;
}

static double attr_float(const importer *im, int32_t i, const char *key, double def)
{
    const clssd_json *a = clssd__json_get(attr(im, i, key), "f");
    return a && a->type == CLSSD_JSON_NUMBER ? a->number : def;
}

/* ---------------------------------------------------------------- weights */
static float half_to_float(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    float f;
    if (exp == 0) {
        f = ldexpf((float)man, -24); /* zero and subnormals */
        return sign ? -f : f;
    }
    uint32_t bits = exp == 31 ? sign | 0x7f800000u | (man << 13)
                              : sign | ((exp + 112u) << 23) | (man << 13);
    memcpy(&f, &bits, sizeof f);
    return f;
}

static uint32_t rd_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Walks the manifest: shapes and dtypes of every weight, their data from the concatenated
 * shards, dequantized to float (float tensors) or widened to int64 (int tensors). */
static clssd_status load_weights(importer *im, const clssd_json *manifest, const uint8_t *data,
                                 size_t len)
{
    if (!manifest || manifest->type != CLSSD_JSON_ARRAY)
        return fail(im, "model.json has no weightsManifest array");
    size_t total = 0;
    for (size_t gi = 0; gi < manifest->n_items; gi++) {
        const clssd_json *ws = clssd__json_get(&manifest->items[gi], "weights");
        if (!ws || ws->type != CLSSD_JSON_ARRAY)
            return fail(im, "weightsManifest[%zu] has no weights array", gi);
        total += ws->n_items;
        if (total > MAX_TF_NODES) return fail(im, "more than %d weights", MAX_TF_NODES);
    }
    im->w = clssd__calloc(total ? total : 1, sizeof *im->w);
    if (!im->w) return CLSSD_ERR_OUT_OF_MEMORY;
    size_t off = 0;
    for (size_t gi = 0; gi < manifest->n_items; gi++) {
        const clssd_json *ws = clssd__json_get(&manifest->items[gi], "weights");
        for (size_t k = 0; k < ws->n_items; k++) {
            const clssd_json *e = &ws->items[k];
            const clssd_json *name = clssd__json_get(e, "name"), *shape = clssd__json_get(e, "shape"),
                             *dt = clssd__json_get(e, "dtype"), *q = clssd__json_get(e, "quantization");
            if (!name || name->type != CLSSD_JSON_STRING || !shape || shape->type != CLSSD_JSON_ARRAY ||
                !dt || dt->type != CLSSD_JSON_STRING)
                return fail(im, "weightsManifest[%zu].weights[%zu]: needs name, shape and dtype", gi, k);
            /* counted before its data is allocated, so that importer_free frees that data
             * when a check below fails (a non-finite value) */
            tfweight *w = &im->w[im->n_w++];
            w->name = name->string;
            if (shape->n_items > MAX_RANK)
                return fail(im, "weight '%s': rank %zu (at most %d)", w->name, shape->n_items, MAX_RANK);
            w->rank = (int)shape->n_items;
            w->count = 1;
            for (int d = 0; d < w->rank; d++) {
                if (!clssd__json_int(&shape->items[d], &w->shape[d]) || w->shape[d] < 0 ||
                    w->shape[d] > INT32_MAX || !clssd__mul_size(w->count, (size_t)w->shape[d], &w->count) ||
                    w->count > ((size_t)1 << 28))
                    return fail(im, "weight '%s': bad shape", w->name);
            }
            /* the stored form: dtype, or the quantization's dtype */
            const char *stored = dt->string;
            double scale = 1.0, minv = 0.0;
            if (q) {
                const clssd_json *qd = clssd__json_get(q, "dtype"), *qs = clssd__json_get(q, "scale"),
                                 *qm = clssd__json_get(q, "min");
                if (!qd || qd->type != CLSSD_JSON_STRING)
                    return fail(im, "weight '%s': quantization without a dtype", w->name);
                stored = qd->string;
                if (strcmp(stored, "float16") != 0) {
                    if (!qs || qs->type != CLSSD_JSON_NUMBER || !qm || qm->type != CLSSD_JSON_NUMBER)
                        return fail(im, "weight '%s': quantization needs scale and min", w->name);
                    scale = qs->number;
                    minv = qm->number;
                }
            }
            size_t esize;
            if (!strcmp(stored, "float32") || !strcmp(stored, "int32"))
                esize = 4;
            else if (!strcmp(stored, "uint16") || !strcmp(stored, "float16"))
                esize = 2;
            else if (!strcmp(stored, "uint8") || !strcmp(stored, "bool"))
                esize = 1;
            else
                return fail(im, "weight '%s': dtype '%.20s' is not supported", w->name, stored);
            if (strcmp(dt->string, "float32") && strcmp(dt->string, "int32"))
                return fail(im, "weight '%s': dtype '%.20s' is not supported (float32, int32)",
                            w->name, dt->string);
            w->is_int = !strcmp(dt->string, "int32");
            size_t bytes;
            if (!clssd__mul_size(w->count, esize, &bytes) || bytes > len - off)
                return fail(im, "weight '%s' (%zu values) runs past the end of the weight data "
                            "(%zu bytes): a shard is missing or truncated", w->name, w->count, len);
            const uint8_t *p = data + off;
            off += bytes;
            if (w->is_int) {
                if (esize != 4) return fail(im, "weight '%s': quantized int32 is not supported", w->name);
                w->i = clssd__malloc((w->count ? w->count : 1) * sizeof *w->i);
                if (!w->i) return CLSSD_ERR_OUT_OF_MEMORY;
                for (size_t t = 0; t < w->count; t++) w->i[t] = (int32_t)rd_u32(p + 4 * t);
            } else {
                w->f = clssd__malloc((w->count ? w->count : 1) * sizeof *w->f);
                if (!w->f) return CLSSD_ERR_OUT_OF_MEMORY;
                for (size_t t = 0; t < w->count; t++) {
                    if (!strcmp(stored, "float32")) {
                        uint32_t b = rd_u32(p + 4 * t);
                        memcpy(&w->f[t], &b, sizeof b);
                    } else if (!strcmp(stored, "float16")) {
                        w->f[t] = half_to_float((uint16_t)(p[2 * t] | p[2 * t + 1] << 8));
                    } else if (esize == 2) {
                        w->f[t] = (float)((double)(p[2 * t] | p[2 * t + 1] << 8) * scale + minv);
                    } else {
                        w->f[t] = (float)((double)p[t] * scale + minv);
                    }
                    if (!isfinite(w->f[t]))
                        return fail(im, "weight '%s' holds a non-finite value at %zu", w->name, t);
                }
            }
        }
    }
    if (off != len)
        return fail(im, "the weight files hold %zu bytes, the manifest describes %zu", len, off);
    return CLSSD_OK;
}

/* ---------------------------------------------------------------- the TF graph */
static const char *const known_ops[] = {
    "Const", "Placeholder", "Identity", "Cast", "Conv2D", "DepthwiseConv2dNative",
    "FusedBatchNorm", "FusedBatchNormV3", "BiasAdd", "Add", "AddV2", "AddN", "Sub", "Mul",
    "RealDiv", "Relu", "Relu6", "Reshape", "Squeeze", "ExpandDims", "ConcatV2", "Sigmoid",
    "Shape", "StridedSlice", "Pack", "Unpack", "Slice", "Tile", "Transpose", "Exp",
    "ResizeBilinear",
    /* the Preprocessor's and Postprocessor's per-image while loops */
    "Enter", "Exit", "Merge", "Switch", "NextIteration", "LoopCond", "Less", "Range",
    "TensorArrayV3", "TensorArrayScatterV3", "TensorArrayReadV3", "TensorArrayWriteV3",
    "TensorArrayGatherV3", "TensorArraySizeV3"};

static clssd_status read_nodes(importer *im)
{
    const clssd_json *topo = clssd__json_get(im->root, "modelTopology");
    const clssd_json *nodes = clssd__json_get(topo, "node");
    if (!nodes || nodes->type != CLSSD_JSON_ARRAY || nodes->n_items == 0)
        return fail(im, "model.json has no modelTopology.node array (is it a TF.js graph model?)");
    if (nodes->n_items > MAX_TF_NODES) return fail(im, "more than %d nodes", MAX_TF_NODES);
    im->n_n = (int32_t)nodes->n_items;
    im->n = clssd__calloc((size_t)im->n_n, sizeof *im->n);
    im->v = clssd__calloc((size_t)im->n_n, sizeof *im->v);
    im->cap_hash = 16;
    while (im->cap_hash < 2 * (size_t)im->n_n) im->cap_hash *= 2;
    im->name_hash = clssd__malloc(im->cap_hash * sizeof *im->name_hash);
    if (!im->n || !im->v || !im->name_hash) return CLSSD_ERR_OUT_OF_MEMORY;
    for (size_t h = 0; h < im->cap_hash; h++) im->name_hash[h] = -1;
    for (int32_t i = 0; i < im->n_n; i++) {
        const clssd_json *e = &nodes->items[i];
        const clssd_json *name = clssd__json_get(e, "name"), *op = clssd__json_get(e, "op");
        if (!name || name->type != CLSSD_JSON_STRING || !name->string[0] || !op ||
            op->type != CLSSD_JSON_STRING)
            return fail(im, "node %d has no name or op", i);
        im->n[i].name = name->string;
        im->n[i].op = op->string;
        im->n[i].attr = clssd__json_get(e, "attr");
        im->n[i].w = -1;
        size_t h = fnv1a(name->string) & (im->cap_hash - 1);
        for (; im->name_hash[h] >= 0; h = (h + 1) & (im->cap_hash - 1))
            if (strcmp(im->n[im->name_hash[h]].name, name->string) == 0)
                return fail(im, "two nodes are named '%s'", name->string);
        im->name_hash[h] = i;
        size_t k;
        for (k = 0; k < sizeof known_ops / sizeof known_ops[0]; k++)
            if (strcmp(op->string, known_ops[k]) == 0) break;
        if (k == sizeof known_ops / sizeof known_ops[0])
            return fail(im, "node '%s': op '%.40s' is not supported by the TF.js importer",
                        name->string, op->string);
    }
    for (int32_t i = 0; i < im->n_n; i++) {
        const clssd_json *in = clssd__json_get(&nodes->items[i], "input");
        tfnode *n = &im->n[i];
        if (!in) continue;
        if (in->type != CLSSD_JSON_ARRAY || in->n_items > 100000)
            return fail(im, "node '%s': bad input list", n->name);
        n->in = clssd__malloc((in->n_items ? in->n_items : 1) * sizeof *n->in);
        n->port = clssd__malloc((in->n_items ? in->n_items : 1) * sizeof *n->port);
        if (!n->in || !n->port) return CLSSD_ERR_OUT_OF_MEMORY;
        for (size_t k = 0; k < in->n_items; k++) {
            const clssd_json *s = &in->items[k];
            if (s->type != CLSSD_JSON_STRING) return fail(im, "node '%s': input %zu is not a name", n->name, k);
            if (s->string[0] == '^') continue; /* control dependency: no data */
            const char *colon = strrchr(s->string, ':');
            size_t len = colon ? (size_t)(colon - s->string) : s->string_len;
            long port = 0;
            if (colon) {
                char *end;
                port = strtol(colon + 1, &end, 10);
                if (*end || end == colon + 1 || port < 0 || port > 1000)
                    return fail(im, "node '%s': bad input '%s'", n->name, s->string);
            }
            int32_t src = find_node(im, s->string, len);
            if (src < 0) return fail(im, "node '%s': input '%s' is not a node", n->name, s->string);
            n->in[n->n_in] = src;
            n->port[n->n_in++] = (int32_t)port;
        }
    }
    /* each weight to the node of its name (the first weight of a name wins), through the
     * node-name index: linear, where a search per Const is quadratic on hostile files */
    for (int32_t k = 0; k < im->n_w; k++) {
        int32_t i = find_node(im, im->w[k].name, strlen(im->w[k].name));
        if (i >= 0 && im->n[i].w < 0) im->n[i].w = k;
    }
    for (int32_t i = 0; i < im->n_n; i++) {
        if (strcmp(im->n[i].op, "Shape") == 0) continue; /* reads the shape only */
        for (int32_t k = 0; k < im->n[i].n_in; k++) im->n[im->n[i].in[k]].users++;
        if (strcmp(im->n[i].op, "Const") == 0) {
            if (im->n[i].w < 0)
                return fail(im, "Const node '%s' has no data in the weights manifest", im->n[i].name);
        }
    }
    return CLSSD_OK;
}

/* ---------------------------------------------------------------- libclssd nodes */
/* A node or tensor name from a TF name: the longest run of trailing '/' components that
 * fits in `room` bytes, made unique with a _2, _3... suffix. */
static void short_name(const importer *im, const char *tf, size_t room, int tensor, char *out)
{
    const char *p = tf;
    while (strlen(p) > room) {
        const char *slash = strchr(p, '/');
        if (!slash) {
            p += strlen(p) - room;
            break;
        }
        p = slash + 1;
    }
    snprintf(out, CLSSD_NAME_LEN, "%s", p);
    for (int k = 2; k < 100000; k++) {
        if ((tensor ? clssd__graph_find_tensor(im->g, out) : clssd__graph_find_node(im->g, out)) < 0)
            return;
        char tmp[CLSSD_NAME_LEN + 16];
        snprintf(tmp, sizeof tmp, "%.*s_%d", (int)(room > 8 ? room - 7 : room), p, k);
        memcpy(out, tmp, CLSSD_NAME_LEN - 1);
        out[CLSSD_NAME_LEN - 1] = '\0';
    }
}

static clssd_status add_node(importer *im, const char *tf, clssd_op op, const clssd_op_params *p,
                             const int32_t *src, int32_t n_src, int32_t weight, int32_t bias,
                             int32_t *out)
{
    char name[CLSSD_NAME_LEN];
    short_name(im, tf, 50, 0, name);
    int32_t id = clssd__graph_add(im->g, name, op, p, src, n_src);
    if (id < 0) return CLSSD_ERR_OUT_OF_MEMORY;
    if (id >= im->cap_users) {
        int32_t cap = im->cap_users ? im->cap_users * 2 : 256;
        int32_t *u = clssd__realloc(im->users, (size_t)cap * sizeof *u);
        if (!u) return CLSSD_ERR_OUT_OF_MEMORY;
        memset(u + im->cap_users, 0, (size_t)(cap - im->cap_users) * sizeof *u);
        im->users = u;
        im->cap_users = cap;
    }
    for (int32_t k = 0; k < n_src; k++) im->users[src[k]]++;
    clssd_node *n = &im->g->nodes[id];
    n->weight = weight;
    n->bias = bias;
    if (op == CLSSD_OP_INPUT) return (*out = id), CLSSD_OK;
    char why[256] = "";
    clssd_status s = clssd__ops[op].infer(im->g, n, why, sizeof why);
    if (s != CLSSD_OK) return fail(im, "node '%s' -> %s: %s", tf, clssd__ops[op].name, why);
    *out = id;
    return CLSSD_OK;
}

static clssd_status add_tensor(importer *im, const char *tf, const char *suffix, clssd_shape s,
                               int32_t *out)
{
    char base[CLSSD_NAME_LEN], name[CLSSD_NAME_LEN + 16];
    short_name(im, tf, 50, 1, base);
    snprintf(name, sizeof name, "%s%s", base, suffix);
    *out = clssd__graph_add_tensor(im->g, name, s);
    if (*out >= 0) return CLSSD_OK;
    /* shapes come from the file: one past the tensor size limit is a bad model */
    const size_t count = clssd__shape_count(&s);
    if (count == 0 || count > CLSSD_GRAPH_MAX_WEIGHT_FLOATS)
        return fail(im, "'%s': tensor %dx%dx%dx%d is empty or over the limit of %zu weights",
                    tf, s.n, s.c, s.h, s.w, CLSSD_GRAPH_MAX_WEIGHT_FLOATS);
    return CLSSD_ERR_OUT_OF_MEMORY;
}

/* ---------------------------------------------------------------- evaluation */
static clssd_status eval(importer *im, int32_t i, int32_t port, const tval **out);

static clssd_status input_of(importer *im, int32_t i, int32_t k, const tval **out)
{
    if (k >= im->n[i].n_in)
        return fail(im, "node '%s' (%s) needs at least %d inputs", tf_name(im, i), im->n[i].op, k + 1);
    return eval(im, im->n[i].in[k], im->n[i].port[k], out);
}

/* Small int vectors: shapes, axes, slice bounds. -1 in a Shape result is the batch. */
static clssd_status ints_of(importer *im, int32_t i, int32_t port, int64_t *out, int *n)
{
    const tfnode *t = &im->n[i];
    if (++im->depth > MAX_DEPTH) return fail(im, "graph is nested too deeply at '%s'", t->name);
    clssd_status s = CLSSD_OK;
    if (port != 0) {
        s = fail(im, "'%s': output %d of a %s is not supported as a shape", t->name, port, t->op);
    } else if (!strcmp(t->op, "Const")) {
        const tfweight *w = &im->w[t->w];
        if (w->count > MAX_INTS) {
            s = fail(im, "'%s': %zu values where a short int vector was expected", t->name, w->count);
        } else {
            for (size_t k = 0; k < w->count; k++) {
                if (w->is_int) {
                    out[k] = w->i[k];
                } else {
                    if (w->f[k] != floorf(w->f[k]) || fabsf(w->f[k]) > 1e9f) {
                        s = fail(im, "'%s': a non-integer where an int was expected", t->name);
                        break;
                    }
                    out[k] = (int64_t)w->f[k];
                }
            }
            *n = (int)w->count;
        }
    } else if (!strcmp(t->op, "Shape")) {
        const tval *v;
        s = input_of(im, i, 0, &v);
        if (s == CLSSD_OK) {
            if (v->kind == V_NET) {
                const clssd_shape *o = &im->g->nodes[v->node].out;
                out[0] = -1, out[1] = o->h, out[2] = o->w, out[3] = o->c;
                *n = 4;
            } else if (v->kind == V_FLAT) {
                memcpy(out, v->dims, (size_t)v->rank * sizeof *out);
                *n = v->rank;
            } else {
                s = fail(im, "'%s': Shape of this tensor is not supported", t->name);
            }
        }
    } else if (!strcmp(t->op, "StridedSlice")) {
        int64_t x[MAX_INTS], b[MAX_INTS], e[MAX_INTS], st[MAX_INTS], bm, em, sm, elm, nam;
        int nx, nb, ne, ns;
        if (t->n_in != 4) return fail(im, "'%s': StridedSlice needs 4 inputs", t->name);
        s = ints_of(im, t->in[0], t->port[0], x, &nx);
        if (s == CLSSD_OK) s = ints_of(im, t->in[1], t->port[1], b, &nb);
        if (s == CLSSD_OK) s = ints_of(im, t->in[2], t->port[2], e, &ne);
        if (s == CLSSD_OK) s = ints_of(im, t->in[3], t->port[3], st, &ns);
        if (s == CLSSD_OK) {
            if (!attr_int(im, i, "begin_mask", 0, &bm) || !attr_int(im, i, "end_mask", 0, &em) ||
                !attr_int(im, i, "shrink_axis_mask", 0, &sm) ||
                !attr_int(im, i, "ellipsis_mask", 0, &elm) || !attr_int(im, i, "new_axis_mask", 0, &nam) ||
                nb != 1 || ne != 1 || ns != 1 || st[0] != 1 || elm || nam)
                return fail(im, "'%s': only a 1-D StridedSlice with stride 1 is supported", t->name);
            int64_t lo = bm & 1 ? 0 : b[0], hi = em & 1 ? nx : e[0];
            if (lo < 0) lo += nx;
            if (hi < 0) hi += nx;
            if (sm & 1) hi = lo + 1;
            if (lo < 0 || hi > nx || lo >= hi) return fail(im, "'%s': slice out of range", t->name);
            for (int64_t k = lo; k < hi; k++) out[k - lo] = x[k];
            *n = (int)(hi - lo);
        }
    } else if (!strcmp(t->op, "Pack")) {
        if (t->n_in > MAX_INTS) return fail(im, "'%s': Pack of %d values", t->name, t->n_in);
        for (int32_t k = 0; k < t->n_in && s == CLSSD_OK; k++) {
            int64_t one[MAX_INTS];
            int m;
            s = ints_of(im, t->in[k], t->port[k], one, &m);
            if (s == CLSSD_OK && m != 1) s = fail(im, "'%s': Pack of non-scalars", t->name);
            if (s == CLSSD_OK) out[k] = one[0];
        }
        *n = t->n_in;
    } else if (!strcmp(t->op, "Identity") && t->n_in >= 1) {
        s = ints_of(im, t->in[0], t->port[0], out, n);
    } else {
        s = fail(im, "'%s': %s is not supported where a shape is computed", t->name, t->op);
    }
    im->depth--;
    return s;
}

/* A constant as a per-channel vector of C values: a scalar, [C], or [1,..,1,C]. */
static clssd_status chan_vec(importer *im, int32_t node, const tval *c, int32_t C, double *out)
{
    const tfweight *w = &im->w[c->w];
    if (w->is_int) return fail(im, "'%s': int constant in float arithmetic", tf_name(im, node));
    for (int d = 0; d + 1 < w->rank; d++)
        if (w->shape[d] != 1) goto bad;
    if (w->count != 1 && w->count != (size_t)C) goto bad;
    for (int32_t k = 0; k < C; k++) out[k] = w->f[w->count == 1 ? 0 : k];
    return CLSSD_OK;
bad:
    return fail(im, "'%s': constant '%s' (%zu values) does not broadcast over %d channels",
                tf_name(im, node), w->name, w->count, C);
}

static int scalar_of(const importer *im, const tval *c, double *out)
{
    const tfweight *w = &im->w[c->w];
    if (c->kind != V_CONST || w->count != 1) return 0;
    *out = w->is_int ? (double)w->i[0] : (double)w->f[0];
    return 1;
}

/* The convolution a per-channel affine can be folded into: v's node when it is a
 * convolution with nothing fused after it that nobody else reads yet, and the TF tensor
 * has no other consumer. */
static int foldable_conv(const importer *im, const tval *v, int32_t tf_src)
{
    if (v->kind != V_NET || im->n[tf_src].users != 1 || im->users[v->node] != 0) return 0;
    const clssd_node *n = &im->g->nodes[v->node];
    return n->op == CLSSD_OP_CONV2D && !n->p.conv.relu && n->bias >= 0;
}

/* y = x * s + b per channel: folded into the convolution producing x, or a SCALE node. */
static clssd_status affine(importer *im, int32_t i, int32_t tf_src, const tval *x,
                           const double *s, const double *b, tval *res)
{
    *res = *x;
    if (foldable_conv(im, x, tf_src)) {
        clssd_node *n = &im->g->nodes[x->node];
        clssd_tensor *w = &im->g->tensors[n->weight], *bias = &im->g->tensors[n->bias];
        const size_t per = clssd__shape_count(&w->shape) / (size_t)n->p.conv.cout;
        for (int32_t o = 0; o < n->p.conv.cout; o++) {
            for (size_t k = 0; k < per; k++) w->data[(size_t)o * per + k] *= (float)s[o];
            bias->data[o] = (float)((double)bias->data[o] * s[o] + b[o]);
        }
        return CLSSD_OK;
    }
    /* a constant added after a residual sum: into the bias of a convolution feeding it */
    if (x->kind == V_NET && im->n[tf_src].users == 1 && im->users[x->node] == 0) {
        const clssd_node *e = &im->g->nodes[x->node];
        int only_add = 1;
        for (int32_t o = 0; o < e->out.c; o++) only_add &= s[o] == 1.0;
        if (only_add && e->op == CLSSD_OP_ELTWISE && e->p.eltwise.method == CLSSD_ELTWISE_SUM &&
            e->p.eltwise.n_coeff == 0) {
            for (int32_t k = 0; k < e->n_src; k++) {
                const clssd_node *c = &im->g->nodes[e->src[k]];
                if (c->op != CLSSD_OP_CONV2D || c->p.conv.relu || c->bias < 0 || im->users[e->src[k]] != 1)
                    continue;
                clssd_tensor *bias = &im->g->tensors[c->bias];
                for (int32_t o = 0; o < c->p.conv.cout; o++)
                    bias->data[o] = (float)((double)bias->data[o] + b[o]);
                return CLSSD_OK;
            }
        }
    }
    if (x->kind != V_NET) return fail(im, "'%s': per-channel arithmetic on a non-feature-map", tf_name(im, i));
    const int32_t C = im->g->nodes[x->node].out.c;
    int32_t ts, tb, id;
    CLSSD_TRY(add_tensor(im, tf_name(im, i), ".scale", (clssd_shape){1, C, 1, 1}, &ts));
    CLSSD_TRY(add_tensor(im, tf_name(im, i), ".bias", (clssd_shape){1, C, 1, 1}, &tb));
    for (int32_t o = 0; o < C; o++) {
        im->g->tensors[ts].data[o] = (float)s[o];
        im->g->tensors[tb].data[o] = (float)b[o];
    }
    CLSSD_TRY(add_node(im, tf_name(im, i), CLSSD_OP_SCALE, NULL, &x->node, 1, ts, tb, &id));
    res->node = id;
    return CLSSD_OK;
}

/* The image reaches the network: the INPUT node, with the preprocessing recorded. */
static clssd_status materialize_input(importer *im, int32_t i, const tval *img, int32_t *out)
{
    if (!img->resized)
        return fail(im, "'%s': the graph feeds the image to the network without resizing it "
                    "(only graphs with a ResizeBilinear preprocessor are supported)", tf_name(im, i));
    if (img->a == 0.0 || !isfinite(img->a) || !isfinite(img->b))
        return fail(im, "'%s': degenerate pixel scaling", tf_name(im, i));
    if (im->input >= 0) {
        if (memcmp(&im->input_image, img, sizeof *img) != 0)
            return fail(im, "'%s': the image reaches the network twice, preprocessed differently",
                        tf_name(im, i));
        *out = im->input;
        return CLSSD_OK;
    }
    int32_t id;
    CLSSD_TRY(add_node(im, "image", CLSSD_OP_INPUT, NULL, NULL, 0, -1, -1, &id));
    im->g->nodes[id].out = (clssd_shape){1, 3, img->out_h, img->out_w};
    im->g->input = id;
    memset(&im->g->pre, 0, sizeof im->g->pre);
    im->g->pre.pre.out_w = img->out_w;
    im->g->pre.pre.out_h = img->out_h;
    im->g->pre.pre.resize = img->mode;
    /* a*v + b == (v - mean) * scale with scale = a, mean = -b/a */
    im->g->pre.pre.scale = (float)img->a;
    for (int c = 0; c < 3; c++) im->g->pre.pre.mean[c] = (float)(-img->b / img->a);
    im->g->pre.pre.bgr = 0; /* TF graphs take RGB */
    im->input = id;
    im->input_image = *img;
    *out = id;
    return CLSSD_OK;
}

static clssd_status conv(importer *im, int32_t i, tval *res)
{
    const tfnode *t = &im->n[i];
    const int depthwise = !strcmp(t->op, "DepthwiseConv2dNative");
    const tval *x = NULL, *wv = NULL;
    CLSSD_TRY(input_of(im, i, 0, &x));
    CLSSD_TRY(input_of(im, i, 1, &wv));
    int32_t src;
    if (x->kind == V_IMAGE) {
        CLSSD_TRY(materialize_input(im, i, x, &src));
    } else if (x->kind == V_NET) {
        src = x->node;
    } else {
        return fail(im, "'%s': convolution input is not a feature map", t->name);
    }
    if (wv->kind != V_CONST || im->w[wv->w].rank != 4 || im->w[wv->w].is_int)
        return fail(im, "'%s': the filter must be a 4-D float constant", t->name);
    const tfweight *w = &im->w[wv->w];
    char fmt[16], pad[16];
    int64_t strides[4], dil[4] = {1, 1, 1, 1};
    if (attr_str(im, i, "data_format", fmt, sizeof fmt) && strcmp(fmt, "NHWC") != 0)
        return fail(im, "'%s': data_format %s (only NHWC)", t->name, fmt);
    if (!attr_str(im, i, "padding", pad, sizeof pad) || (strcmp(pad, "SAME") && strcmp(pad, "VALID")))
        return fail(im, "'%s': padding '%s' (SAME or VALID)", t->name, pad);
    if (attr_ints(im, i, "strides", strides, 4) != 4 || strides[0] != 1 || strides[3] != 1 ||
        strides[1] < 1 || strides[2] < 1 || strides[1] > 64 || strides[2] > 64)
        return fail(im, "'%s': bad strides", t->name);
    int nd = attr_ints(im, i, "dilations", dil, 4);
    if (nd != -1 && (nd != 4 || dil[0] != 1 || dil[3] != 1 || dil[1] < 1 || dil[2] < 1 ||
                     dil[1] > 64 || dil[2] > 64))
        return fail(im, "'%s': bad dilations", t->name);
    if (nd == -1) dil[1] = dil[2] = 1;
    const clssd_shape in = im->g->nodes[src].out;
    const int64_t kh = w->shape[0], kw = w->shape[1], cin = w->shape[2], m = w->shape[3];
    if (kh < 1 || kw < 1 || kh > 64 || kw > 64 || cin != in.c || m < 1)
        return fail(im, "'%s': filter %lldx%lldx%lldx%lld does not fit %d input channels", t->name,
                    (long long)kh, (long long)kw, (long long)cin, (long long)m, in.c);
    const int64_t cout = depthwise ? cin * m : m;
    if (cout > 65536) return fail(im, "'%s': %lld output channels", t->name, (long long)cout);
    clssd_op_params p;
    memset(&p, 0, sizeof p);
    p.conv.cout = (int32_t)cout;
    p.conv.kh = (int32_t)kh, p.conv.kw = (int32_t)kw;
    p.conv.sh = (int32_t)strides[1], p.conv.sw = (int32_t)strides[2];
    p.conv.dh = (int32_t)dil[1], p.conv.dw = (int32_t)dil[2];
    p.conv.groups = depthwise ? (int32_t)cin : 1;
    if (!strcmp(pad, "SAME")) {
        /* TF: out = ceil(in / stride); the total padding is split with the odd one at the
         * bottom / right */
        const int64_t ekh = (kh - 1) * dil[1] + 1, ekw = (kw - 1) * dil[2] + 1;
        const int64_t oh = (in.h + strides[1] - 1) / strides[1], ow = (in.w + strides[2] - 1) / strides[2];
        int64_t th = (oh - 1) * strides[1] + ekh - in.h, tw = (ow - 1) * strides[2] + ekw - in.w;
        if (th < 0) th = 0;
        if (tw < 0) tw = 0;
        p.conv.ph = (int32_t)(th / 2), p.conv.ph_extra = (int32_t)(th % 2);
        p.conv.pw = (int32_t)(tw / 2), p.conv.pw_extra = (int32_t)(tw % 2);
    }
    /* the layer's name: the filter's scope ("…/expand" for "…/expand/Conv2D/merged_input") */
    char scope[512];
    snprintf(scope, sizeof scope, "%s", w->name);
    char *slash = strrchr(scope, '/');
    if (slash) *slash = '\0';
    size_t sl = strlen(scope);
    if (sl > 7 && !strcmp(scope + sl - 7, "/Conv2D")) scope[sl - 7] = '\0';
    int32_t tw_, tb;
    const int64_t per = depthwise ? kh * kw : cin * kh * kw;
    CLSSD_TRY(add_tensor(im, scope, ".weight",
                         (clssd_shape){(int32_t)cout, depthwise ? 1 : (int32_t)cin, (int32_t)kh, (int32_t)kw},
                         &tw_));
    CLSSD_TRY(add_tensor(im, scope, ".bias", (clssd_shape){1, (int32_t)cout, 1, 1}, &tb));
    float *dst = im->g->tensors[tw_].data;
    /* TF filters are HWIO (depthwise: H, W, in, multiplier with output channel in*m + j);
     * libclssd's are OIHW */
    for (int64_t y = 0; y < kh; y++)
        for (int64_t xx = 0; xx < kw; xx++)
            for (int64_t c = 0; c < cin; c++)
                for (int64_t j = 0; j < m; j++) {
                    const float v = w->f[((y * kw + xx) * cin + c) * m + j];
                    if (depthwise)
                        dst[(c * m + j) * per + y * kw + xx] = v;
                    else
                        dst[j * per + (c * kh + y) * kw + xx] = v;
                }
    int32_t id;
    CLSSD_TRY(add_node(im, scope, CLSSD_OP_CONV2D, &p, &src, 1, tw_, tb, &id));
    memset(res, 0, sizeof *res);
    res->kind = V_NET;
    res->node = id;
    return CLSSD_OK;
}

/* Const folding into the image's affine: Mul/Add/Sub/RealDiv by a scalar. */
static clssd_status image_arith(importer *im, int32_t i, const tval *a, const tval *b, tval *res)
{
    const char *op = im->n[i].op;
    const int img_first = a->kind == V_IMAGE;
    const tval *img = img_first ? a : b, *c = img_first ? b : a;
    double k;
    if (!scalar_of(im, c, &k))
        return fail(im, "'%s': only scalar constants may scale the image", tf_name(im, i));
    *res = *img;
    if (!strcmp(op, "Mul")) {
        res->a *= k, res->b *= k;
    } else if (!strcmp(op, "RealDiv") && img_first && k != 0.0) {
        res->a /= k, res->b /= k;
    } else if (!strcmp(op, "Add") || !strcmp(op, "AddV2")) {
        res->b += k;
    } else if (!strcmp(op, "Sub")) {
        if (img_first) {
            res->b -= k;
        } else {
            res->a = -res->a, res->b = k - res->b;
        }
    } else {
        return fail(im, "'%s': %s on the image is not supported", tf_name(im, i), op);
    }
    return CLSSD_OK;
}

/* Follows Enter/Identity to the TensorArrayV3 a handle comes from, or -1. */
static int32_t array_of(const importer *im, int32_t i)
{
    for (int hops = 0; hops < 64 && i >= 0; hops++) {
        const tfnode *t = &im->n[i];
        if (!strcmp(t->op, "TensorArrayV3")) return i;
        if ((strcmp(t->op, "Enter") && strcmp(t->op, "Identity")) || t->n_in < 1) return -1;
        i = t->in[0];
    }
    return -1;
}

/* The one node of type `op` whose input `k` is a handle of TensorArray `arr`. */
static int32_t array_user(const importer *im, const char *op, int32_t k, int32_t arr)
{
    int32_t found = -1;
    for (int32_t j = 0; j < im->n_n; j++) {
        if (strcmp(im->n[j].op, op) || im->n[j].n_in <= k || array_of(im, im->n[j].in[k]) != arr) continue;
        if (found >= 0) return -2;
        found = j;
    }
    return found;
}

static clssd_status flat_of(importer *im, int32_t i, const tval *x, int32_t *node, int64_t *count)
{
    if (x->kind == V_NET) {
        const clssd_shape *o = &im->g->nodes[x->node].out;
        *count = (int64_t)o->c * o->h * o->w;
        /* NCHW -> NHWC: TF's element order */
        char name[600];
        snprintf(name, sizeof name, "%s", tf_name(im, i));
        return add_node(im, name, CLSSD_OP_PERMUTE, NULL, &x->node, 1, -1, -1, node);
    }
    if (x->kind == V_FLAT) {
        *node = x->node;
        *count = 1;
        for (int d = 1; d < x->rank; d++) *count *= x->dims[d];
        return CLSSD_OK;
    }
    return fail(im, "'%s': reshape of a tensor that is not a feature map", tf_name(im, i));
}

static clssd_status eval_node(importer *im, int32_t i, tval *res)
{
    const tfnode *t = &im->n[i];
    const char *op = t->op;
    const tval *a = NULL, *b = NULL;
    memset(res, 0, sizeof *res);

    if (!strcmp(op, "Const")) {
        res->kind = V_CONST;
        res->w = t->w;
        return CLSSD_OK;
    }
    if (!strcmp(op, "Placeholder")) {
        int64_t dims[8];
        const clssd_json *shp = clssd__json_get(clssd__json_get(attr(im, i, "shape"), "shape"), "dim");
        if (shp && shp->type == CLSSD_JSON_ARRAY) {
            if (shp->n_items != 4) return fail(im, "'%s': the image input must be [batch, H, W, 3]", t->name);
            for (int d = 0; d < 4; d++) {
                const clssd_json *sz = clssd__json_get(&shp->items[d], "size");
                dims[d] = -1;
                if (sz && sz->type == CLSSD_JSON_STRING) dims[d] = strtoll(sz->string, NULL, 10);
                else if (sz) clssd__json_int(sz, &dims[d]);
            }
            if (dims[3] != 3 && dims[3] != -1)
                return fail(im, "'%s': the image input has %lld channels, not 3", t->name, (long long)dims[3]);
        }
        res->kind = V_IMAGE;
        res->a = 1.0;
        return CLSSD_OK;
    }
    if (!strcmp(op, "Identity") || !strcmp(op, "Cast") || !strcmp(op, "ExpandDims") ||
        !strcmp(op, "Squeeze")) {
        CLSSD_TRY(input_of(im, i, 0, &a));
        *res = *a;
        if (a->kind == V_IMAGE || !strcmp(op, "Identity")) return CLSSD_OK; /* per-image views */
        if (!strcmp(op, "Squeeze") && a->kind == V_FLAT) {
            int64_t sq[MAX_RANK];
            int ns = attr_ints(im, i, "squeeze_dims", sq, MAX_RANK);
            if (ns < 0) ns = 0;
            res->rank = 0;
            for (int d = 0; d < a->rank; d++) {
                int drop = 0;
                for (int k = 0; k < ns; k++) drop |= sq[k] == d || sq[k] + a->rank == d;
                if (ns == 0) drop = d > 0 && a->dims[d] == 1;
                if (drop && a->dims[d] != 1)
                    return fail(im, "'%s': squeezes a dimension of size %lld", t->name, (long long)a->dims[d]);
                if (!drop) res->dims[res->rank++] = a->dims[d];
            }
            return CLSSD_OK;
        }
        return fail(im, "'%s': %s of this tensor is not supported", t->name, op);
    }
    if (!strcmp(op, "TensorArrayGatherV3")) {
        /* The Preprocessor's map over the batch: the image each iteration writes into this
         * array is the per-image result. */
        int32_t arr = t->n_in ? array_of(im, t->in[0]) : -1;
        int32_t wr = arr >= 0 ? array_user(im, "TensorArrayWriteV3", 0, arr) : -1;
        if (wr < 0) return fail(im, "'%s': cannot find the one TensorArrayWriteV3 filling it", t->name);
        CLSSD_TRY(input_of(im, wr, 2, &a));
        if (a->kind != V_IMAGE) return fail(im, "'%s': only images are mapped over the batch", t->name);
        *res = *a;
        return CLSSD_OK;
    }
    if (!strcmp(op, "TensorArrayReadV3")) {
        int32_t arr = t->n_in ? array_of(im, t->in[0]) : -1;
        int32_t sc = arr >= 0 ? array_user(im, "TensorArrayScatterV3", 0, arr) : -1;
        if (sc < 0) return fail(im, "'%s': cannot find the one TensorArrayScatterV3 filling it", t->name);
        CLSSD_TRY(input_of(im, sc, 2, &a));
        if (a->kind != V_IMAGE) return fail(im, "'%s': only images are mapped over the batch", t->name);
        *res = *a;
        return CLSSD_OK;
    }
    if (!strcmp(op, "ResizeBilinear")) {
        int64_t size[MAX_INTS];
        int n;
        CLSSD_TRY(input_of(im, i, 0, &a));
        if (t->n_in < 2) return fail(im, "'%s': needs a size", t->name);
        CLSSD_TRY(ints_of(im, t->in[1], t->port[1], size, &n));
        if (a->kind != V_IMAGE || a->resized) return fail(im, "'%s': resizes something other than the input image", t->name);
        if (n != 2 || size[0] < 8 || size[1] < 8 || size[0] > 4096 || size[1] > 4096)
            return fail(im, "'%s': bad output size", t->name);
        if (attr_bool(im, i, "align_corners", 0))
            return fail(im, "'%s': align_corners=true is not supported", t->name);
        *res = *a;
        res->resized = 1;
        res->out_h = (int32_t)size[0];
        res->out_w = (int32_t)size[1];
        res->mode = attr_bool(im, i, "half_pixel_centers", 0) ? CLSSD_RESIZE_HALF_PIXEL
                                                              : CLSSD_RESIZE_TF_LEGACY;
        return CLSSD_OK;
    }
    if (!strcmp(op, "Conv2D") || !strcmp(op, "DepthwiseConv2dNative")) return conv(im, i, res);

    if (!strcmp(op, "Relu") || !strcmp(op, "Relu6")) {
        CLSSD_TRY(input_of(im, i, 0, &a));
        if (a->kind != V_NET) return fail(im, "'%s': %s of a non-feature-map", t->name, op);
        *res = *a;
        const float mx = !strcmp(op, "Relu6") ? 6.0f : 0.0f;
        clssd_node *n = &im->g->nodes[a->node];
        if (n->op == CLSSD_OP_CONV2D && !n->p.conv.relu && im->users[a->node] == 0 &&
            im->n[t->in[0]].users == 1) {
            n->p.conv.relu = 1;
            n->p.conv.relu_max = mx;
            return CLSSD_OK;
        }
        clssd_op_params p;
        memset(&p, 0, sizeof p);
        p.relu.max = mx;
        return add_node(im, t->name, CLSSD_OP_RELU, &p, &a->node, 1, -1, -1, &res->node);
    }
    if (!strcmp(op, "FusedBatchNorm") || !strcmp(op, "FusedBatchNormV3")) {
        if (t->n_in < 5) return fail(im, "'%s': needs 5 inputs", t->name);
        if (attr_bool(im, i, "is_training", 0)) return fail(im, "'%s': is_training=true", t->name);
        CLSSD_TRY(input_of(im, i, 0, &a));
        if (a->kind != V_NET) return fail(im, "'%s': batch norm of a non-feature-map", t->name);
        const int32_t C = im->g->nodes[a->node].out.c;
        double *buf = clssd__malloc((size_t)C * 6 * sizeof *buf);
        if (!buf) return CLSSD_ERR_OUT_OF_MEMORY;
        clssd_status s = CLSSD_OK;
        for (int k = 0; k < 4 && s == CLSSD_OK; k++) {
            const tval *c;
            s = input_of(im, i, k + 1, &c);
            if (s == CLSSD_OK && c->kind != V_CONST) s = fail(im, "'%s': parameters must be constants", t->name);
            if (s == CLSSD_OK) s = chan_vec(im, i, c, C, buf + (size_t)k * (size_t)C);
        }
        const double eps = attr_float(im, i, "epsilon", 1e-3);
        for (int32_t o = 0; o < C && s == CLSSD_OK; o++) {
            const double g_ = buf[o], beta = buf[C + o], mean = buf[2 * C + o], var = buf[3 * C + o];
            if (var + eps <= 0.0) s = fail(im, "'%s': variance + epsilon <= 0", t->name);
            const double sc = g_ / sqrt(var + eps);
            buf[4 * C + o] = sc;
            buf[5 * C + o] = beta - mean * sc;
        }
        if (s == CLSSD_OK) s = affine(im, i, t->in[0], a, buf + 4 * (size_t)C, buf + 5 * (size_t)C, res);
        clssd__free(buf);
        return s;
    }
    if (!strcmp(op, "Mul") || !strcmp(op, "Add") || !strcmp(op, "AddV2") || !strcmp(op, "BiasAdd") ||
        !strcmp(op, "Sub") || !strcmp(op, "RealDiv")) {
        CLSSD_TRY(input_of(im, i, 0, &a));
        CLSSD_TRY(input_of(im, i, 1, &b));
        if (a->kind == V_IMAGE || b->kind == V_IMAGE) return image_arith(im, i, a, b, res);
        if (a->kind == V_NET && b->kind == V_NET && (!strcmp(op, "Add") || !strcmp(op, "AddV2"))) {
            clssd_op_params p;
            memset(&p, 0, sizeof p);
            p.eltwise.method = CLSSD_ELTWISE_SUM;
            int32_t src[2] = {a->node, b->node};
            res->kind = V_NET;
            return add_node(im, t->name, CLSSD_OP_ELTWISE, &p, src, 2, -1, -1, &res->node);
        }
        const int net_first = a->kind == V_NET;
        const tval *x = net_first ? a : b, *c = net_first ? b : a;
        if (x->kind != V_NET || c->kind != V_CONST ||
            (!net_first && (!strcmp(op, "Sub") || !strcmp(op, "RealDiv") || !strcmp(op, "BiasAdd"))))
            return fail(im, "'%s': %s of these operands is not supported", t->name, op);
        const int32_t C = im->g->nodes[x->node].out.c;
        double *buf = clssd__malloc((size_t)C * 3 * sizeof *buf);
        if (!buf) return CLSSD_ERR_OUT_OF_MEMORY;
        clssd_status s = chan_vec(im, i, c, C, buf);
        for (int32_t o = 0; o < C && s == CLSSD_OK; o++) {
            const double k = buf[o];
            double *sc = &buf[C + o], *bi = &buf[2 * C + o];
            *sc = 1.0, *bi = 0.0;
            if (!strcmp(op, "Mul")) *sc = k;
            else if (!strcmp(op, "RealDiv")) *sc = 1.0 / k;
            else if (!strcmp(op, "Sub")) *bi = -k;
            else *bi = k;
            if (!isfinite(*sc)) s = fail(im, "'%s': division by zero", t->name);
        }
        if (s == CLSSD_OK) s = affine(im, i, t->in[net_first ? 0 : 1], x, buf + C, buf + 2 * (size_t)C, res);
        clssd__free(buf);
        return s;
    }
    if (!strcmp(op, "AddN")) {
        if (t->n_in < 1 || t->n_in > CLSSD_MAX_SRC) return fail(im, "'%s': AddN of %d tensors", t->name, t->n_in);
        int32_t src[CLSSD_MAX_SRC];
        for (int32_t k = 0; k < t->n_in; k++) {
            CLSSD_TRY(input_of(im, i, k, &a));
            if (a->kind != V_NET) return fail(im, "'%s': AddN of a non-feature-map", t->name);
            src[k] = a->node;
        }
        clssd_op_params p;
        memset(&p, 0, sizeof p);
        p.eltwise.method = CLSSD_ELTWISE_SUM;
        res->kind = V_NET;
        return add_node(im, t->name, CLSSD_OP_ELTWISE, &p, src, t->n_in, -1, -1, &res->node);
    }
    if (!strcmp(op, "Reshape")) {
        int64_t shape[MAX_INTS], count = 0;
        int n;
        CLSSD_TRY(input_of(im, i, 0, &a));
        if (t->n_in < 2) return fail(im, "'%s': needs a shape", t->name);
        CLSSD_TRY(ints_of(im, t->in[1], t->port[1], shape, &n));
        if (n < 2 || n > MAX_RANK) return fail(im, "'%s': reshape to rank %d", t->name, n);
        int32_t node = -1;
        CLSSD_TRY(flat_of(im, i, a, &node, &count));
        /* the batch stays first; one other -1 is inferred */
        if (shape[0] != -1 && shape[0] != 1 && !(n >= 1 && shape[0] == -1))
            return fail(im, "'%s': reshape must keep the batch first", t->name);
        int64_t known = 1;
        int infer = -1;
        for (int d = 1; d < n; d++) {
            if (shape[d] == -1 && infer < 0) infer = d;
            else if (shape[d] < 1 || shape[d] > INT32_MAX || known > INT64_MAX / shape[d])
                return fail(im, "'%s': bad reshape target", t->name);
            else known *= shape[d];
        }
        if (infer >= 0) {
            if (known == 0 || count % known) return fail(im, "'%s': cannot infer the reshape", t->name);
            shape[infer] = count / known;
            known = count;
        }
        if (known != count)
            return fail(im, "'%s': reshape of %lld values per image into %lld", t->name,
                        (long long)count, (long long)known);
        res->kind = V_FLAT;
        res->node = node;
        res->rank = n;
        res->dims[0] = -1;
        for (int d = 1; d < n; d++) res->dims[d] = shape[d];
        return CLSSD_OK;
    }
    if (!strcmp(op, "ConcatV2")) {
        if (t->n_in < 2 || t->n_in - 1 > CLSSD_MAX_SRC) return fail(im, "'%s': concat of %d tensors", t->name, t->n_in - 1);
        int64_t axis;
        int na;
        CLSSD_TRY(ints_of(im, t->in[t->n_in - 1], t->port[t->n_in - 1], &axis, &na));
        int32_t src[CLSSD_MAX_SRC];
        const tval *first = NULL;
        int64_t total = 0;
        for (int32_t k = 0; k + 1 < t->n_in; k++) {
            CLSSD_TRY(input_of(im, i, k, &a));
            if (!first) first = a;
            src[k] = a->node;
            if (a->kind != first->kind) return fail(im, "'%s': concat of mixed tensors", t->name);
            if (a->kind == V_FLAT) {
                if (a->rank != first->rank || (axis != 1 && axis != 1 - a->rank))
                    return fail(im, "'%s': only concatenation along axis 1 is supported", t->name);
                for (int d = 2; d < a->rank; d++)
                    if (a->dims[d] != first->dims[d]) return fail(im, "'%s': inner shapes differ", t->name);
                total += a->dims[1];
            } else if (a->kind == V_NET) {
                const clssd_shape *o = &im->g->nodes[a->node].out, *f = &im->g->nodes[first->node].out;
                if ((axis != 3 && axis != -1) || o->h != f->h || o->w != f->w)
                    return fail(im, "'%s': feature maps concatenate along channels only", t->name);
            } else {
                return fail(im, "'%s': concat of this tensor is not supported", t->name);
            }
        }
        *res = *first;
        if (first->kind == V_FLAT) res->dims[1] = total;
        clssd_op_params p;
        memset(&p, 0, sizeof p);
        p.concat.axis = 1;
        return add_node(im, t->name, CLSSD_OP_CONCAT, &p, src, t->n_in - 1, -1, -1, &res->node);
    }
    if (!strcmp(op, "Sigmoid")) {
        CLSSD_TRY(input_of(im, i, 0, &a));
        if (a->kind != V_NET && a->kind != V_FLAT) return fail(im, "'%s': sigmoid of a constant", t->name);
        *res = *a;
        return add_node(im, t->name, CLSSD_OP_SIGMOID, NULL, &a->node, 1, -1, -1, &res->node);
    }
    return fail(im, "node '%s': op %s is not supported here", t->name, op);
}

static clssd_status eval(importer *im, int32_t i, int32_t port, const tval **out)
{
    if (port != 0)
        return fail(im, "'%s': output %d of a %s is not supported", tf_name(im, i), port, im->n[i].op);
    tval *v = &im->v[i];
    if (v->kind == V_BUSY) return fail(im, "'%s' depends on itself", tf_name(im, i));
    if (v->kind == V_UNSET) {
        if (++im->depth > MAX_DEPTH) return fail(im, "graph is nested too deeply at '%s'", tf_name(im, i));
        v->kind = V_BUSY;
        tval r;
        clssd_status s = eval_node(im, i, &r);
        im->depth--;
        if (s != CLSSD_OK) {
            v->kind = V_UNSET;
            return s;
        }
        im->v[i] = r;
    }
    *out = &im->v[i];
    return CLSSD_OK;
}

/* ---------------------------------------------------------------- post-processor */
static int32_t consumer(const importer *im, const char *op, int32_t src, int32_t port, int32_t after)
{
    for (int32_t j = after + 1; j < im->n_n; j++) {
        if (strcmp(im->n[j].op, op)) continue;
        for (int32_t k = 0; k < im->n[j].n_in; k++)
            if (im->n[j].in[k] == src && im->n[j].port[k] == port) return j;
    }
    return -1;
}

/* Follows the view ops above an Unpack to where its data comes from. */
static int32_t view_source(const importer *im, int32_t i)
{
    static const char *const views[] = {"Transpose", "Reshape", "Squeeze", "ExpandDims", "Tile", "Identity"};
    for (int hops = 0; hops < 32; hops++) {
        const tfnode *t = &im->n[i];
        size_t k;
        for (k = 0; k < sizeof views / sizeof views[0]; k++)
            if (!strcmp(t->op, views[k])) break;
        if (k == sizeof views / sizeof views[0] || t->n_in < 1) return i;
        i = t->in[0];
    }
    return -1;
}

static clssd_status postprocessor(importer *im, const tfjs_import_options *o)
{
    /* scores: the sigmoid score converter and the class logits it reads */
    int32_t sig = -1;
    for (int32_t j = 0; j < im->n_n; j++)
        if (!strcmp(im->n[j].op, "Sigmoid")) {
            if (sig >= 0) return fail(im, "more than one Sigmoid: cannot tell the score converter");
            sig = j;
        }
    if (sig < 0) return fail(im, "no Sigmoid score converter (only SIGMOID score conversion is supported)");
    /* the decode: two Unpack(num=4), one of the box encodings, one of the anchors */
    int32_t enc = -1, anc = -1, enc_src = -1, anc_src = -1;
    for (int32_t j = 0; j < im->n_n; j++) {
        int64_t num;
        if (strcmp(im->n[j].op, "Unpack") || !attr_int(im, j, "num", 0, &num) || num != 4 || im->n[j].n_in < 1)
            continue;
        int32_t src = view_source(im, im->n[j].in[0]);
        if (src < 0) continue;
        if (!strcmp(im->n[src].op, "Const")) {
            if (anc >= 0) return fail(im, "two anchor constants ('%s', '%s')", tf_name(im, anc_src), tf_name(im, src));
            anc = j, anc_src = src;
        } else {
            if (enc >= 0) return fail(im, "two box-encoding unpacks ('%s', '%s')", tf_name(im, enc), tf_name(im, j));
            enc = j, enc_src = src;
        }
    }
    if (enc < 0 || anc < 0)
        return fail(im, "no TF Object Detection API box decoding (an Unpack of the box encodings "
                    "and one of a constant anchor tensor) was found");
    /* the anchors are corners (ymin, xmin, ymax, xmax): sizes are ymax-ymin and xmax-xmin */
    int32_t h_sub = -1, w_sub = -1;
    for (int32_t j = 0; j < im->n_n; j++) {
        if (strcmp(im->n[j].op, "Sub") || im->n[j].n_in != 2 || im->n[j].in[0] != anc || im->n[j].in[1] != anc) continue;
        if (im->n[j].port[0] == 2 && im->n[j].port[1] == 0) h_sub = j;
        if (im->n[j].port[0] == 3 && im->n[j].port[1] == 1) w_sub = j;
    }
    if (h_sub < 0 || w_sub < 0)
        return fail(im, "anchor decoding not recognised: expected (ymin, xmin, ymax, xmax) corners");
    int n_exp = 0;
    for (int32_t j = 0; j < im->n_n; j++) n_exp += !strcmp(im->n[j].op, "Exp");
    if (n_exp != 2) return fail(im, "box decoding not recognised: %d Exp nodes (expected 2)", n_exp);
    /* the scale factors: each encoding component is multiplied by 1/scale (or divided) */
    double inv[4];
    for (int32_t k = 0; k < 4; k++) {
        int32_t m = -1;
        double v = 0.0;
        for (int32_t after = -1;;) {
            int32_t mm = consumer(im, "Mul", enc, k, after), dd = consumer(im, "RealDiv", enc, k, after);
            int32_t j = mm >= 0 && (dd < 0 || mm < dd) ? mm : dd;
            if (j < 0) break;
            after = j;
            const tval *c;
            int32_t other = im->n[j].in[0] == enc ? 1 : 0;
            if (im->n[j].n_in != 2 || strcmp(im->n[im->n[j].in[other]].op, "Const")) continue;
            CLSSD_TRY(eval(im, im->n[j].in[other], 0, &c));
            if (!scalar_of(im, c, &v) || v == 0.0) continue;
            if (!strcmp(im->n[j].op, "RealDiv")) v = 1.0 / v;
            m = j;
            break;
        }
        if (m < 0) return fail(im, "box decoding not recognised: no scale factor for component %d", k);
        inv[k] = v;
    }

    const tval *boxes, *logits;
    CLSSD_TRY(eval(im, enc_src, 0, &boxes));
    CLSSD_TRY(input_of(im, sig, 0, &logits));
    if (boxes->kind != V_FLAT || boxes->dims[boxes->rank - 1] != 4)
        return fail(im, "'%s': box encodings are not [batch, anchors, (1,) 4]", tf_name(im, enc_src));
    if (logits->kind != V_FLAT || logits->rank != 3)
        return fail(im, "'%s': class logits are not [batch, anchors, classes]", tf_name(im, sig));
    const int64_t P = logits->dims[1], C = logits->dims[2];
    int64_t bp = 1;
    for (int d = 1; d + 1 < boxes->rank; d++) bp *= boxes->dims[d];
    const tfweight *aw = &im->w[im->n[anc_src].w];
    if (bp != P || aw->is_int || aw->count != (size_t)P * 4 || aw->shape[aw->rank - 1] != 4)
        return fail(im, "%lld box encodings, %lld score rows and %zu anchor values do not agree",
                    (long long)bp, (long long)P, aw->count);
    if (C < 2 || C > 10000) return fail(im, "%lld classes", (long long)C);

    /* TF (ty, tx, th, tw) -> libclssd (tx, ty, tw, th): swap the box predictors' channels */
    const clssd_node *cat = &im->g->nodes[boxes->node];
    int32_t perms[CLSSD_MAX_SRC], n_perm = 0;
    if (cat->op == CLSSD_OP_CONCAT) {
        for (int32_t k = 0; k < cat->n_src; k++) perms[n_perm++] = cat->src[k];
    } else {
        perms[n_perm++] = boxes->node;
    }
    for (int32_t k = 0; k < n_perm; k++) {
        const clssd_node *pn = &im->g->nodes[perms[k]];
        const int32_t cid = pn->op == CLSSD_OP_PERMUTE ? pn->src[0] : -1;
        const clssd_node *c = cid >= 0 ? &im->g->nodes[cid] : NULL;
        if (!c || c->op != CLSSD_OP_CONV2D || im->users[cid] != 1 || c->p.conv.cout % 4 || c->p.conv.relu)
            return fail(im, "box encodings do not come straight from convolutions ('%s')", pn->name);
        clssd_tensor *w = &im->g->tensors[c->weight], *bias = &im->g->tensors[c->bias];
        const size_t per = clssd__shape_count(&w->shape) / (size_t)c->p.conv.cout;
        for (int32_t a4 = 0; a4 < c->p.conv.cout; a4 += 4)
            for (int32_t pair = 0; pair < 4; pair += 2) {
                float *r0 = w->data + (size_t)(a4 + pair) * per, *r1 = r0 + per;
                for (size_t q = 0; q < per; q++) {
                    float tmp = r0[q];
                    r0[q] = r1[q];
                    r1[q] = tmp;
                }
                float tmp = bias->data[a4 + pair];
                bias->data[a4 + pair] = bias->data[a4 + pair + 1];
                bias->data[a4 + pair + 1] = tmp;
            }
    }

    /* anchors -> priors in PriorBox layout [1, 2, P*4]: (xmin, ymin, xmax, ymax), then the
     * variances (the decode's 1/scale per component, in x, y, w, h order) */
    int32_t tp, pri, dec, scores, out;
    CLSSD_TRY(add_tensor(im, "anchors", "", (clssd_shape){1, 2, (int32_t)(P * 4), 1}, &tp));
    float *pd = im->g->tensors[tp].data;
    for (int64_t q = 0; q < P; q++) {
        const float *s = aw->f + 4 * q;
        pd[4 * q + 0] = s[1], pd[4 * q + 1] = s[0], pd[4 * q + 2] = s[3], pd[4 * q + 3] = s[2];
        float *v = pd + 4 * P + 4 * q;
        v[0] = (float)inv[1], v[1] = (float)inv[0], v[2] = (float)inv[3], v[3] = (float)inv[2];
    }
    CLSSD_TRY(add_node(im, "anchors", CLSSD_OP_CONST, NULL, NULL, 0, tp, -1, &pri));
    int32_t dsrc[2] = {boxes->node, pri};
    CLSSD_TRY(add_node(im, "decode", CLSSD_OP_DECODE, NULL, dsrc, 2, -1, -1, &dec));
    CLSSD_TRY(add_node(im, "scores", CLSSD_OP_SIGMOID, NULL, &logits->node, 1, -1, -1, &scores));
    /* background: the post-processor slices class 0 off the scores */
    int32_t bg = -1, sl = consumer(im, "Slice", sig, 0, -1);
    if (sl >= 0 && im->n[sl].n_in == 3) {
        int64_t begin[MAX_INTS];
        int nb;
        CLSSD_TRY(ints_of(im, im->n[sl].in[1], im->n[sl].port[1], begin, &nb));
        if (nb == 3 && begin[0] == 0 && begin[1] == 0 && begin[2] == 1) bg = 0;
    }
    /* The TF OD API's own settings: per-class NMS at IoU 0.6, 100 per class and 100 in
     * all; the score floor is SSD's evaluation threshold (0.01). */
    clssd_op_params p;
    memset(&p, 0, sizeof p);
    p.nms.n_classes = (int32_t)C;
    p.nms.background = bg;
    p.nms.top_k = 100;
    p.nms.keep_top_k = 100;
    p.nms.conf_thresh = 0.01f;
    p.nms.nms_thresh = 0.6f;
    int32_t nsrc[2] = {dec, scores};
    CLSSD_TRY(add_node(im, "detection_out", CLSSD_OP_NMS, &p, nsrc, 2, -1, -1, &out));
    im->g->output = out;

    const char *name = o && o->name ? o->name : C == 91 ? "coco_ssd" : "tfjs_ssd";
    snprintf(im->g->name, sizeof im->g->name, "%s", name);
    if (C == 91 && bg == 0) {
        im->g->labels = clssd__calloc(91, sizeof(char *));
        if (!im->g->labels) return CLSSD_ERR_OUT_OF_MEMORY;
        im->g->n_labels = 91;
        for (int k = 0; k < 91; k++) {
            size_t len = strlen(clssd__coco91_labels[k]) + 1;
            im->g->labels[k] = clssd__malloc(len);
            if (!im->g->labels[k]) return CLSSD_ERR_OUT_OF_MEMORY;
            memcpy(im->g->labels[k], clssd__coco91_labels[k], len);
        }
    }
    return CLSSD_OK;
}

/* ---------------------------------------------------------------- entry points */
void tfjs_import_options_init(tfjs_import_options *o)
{
    if (o) memset(o, 0, sizeof *o);
}

static void importer_free(importer *im)
{
    for (int32_t k = 0; k < im->n_w; k++) {
        clssd__free(im->w[k].f);
        clssd__free(im->w[k].i);
    }
    clssd__free(im->w);
    if (im->n)
        for (int32_t k = 0; k < im->n_n; k++) {
            clssd__free(im->n[k].in);
            clssd__free(im->n[k].port);
        }
    clssd__free(im->n);
    clssd__free(im->v);
    clssd__free(im->name_hash);
    clssd__free(im->users);
}

static clssd_status import_parsed(const clssd_json *root, const void *weights, size_t weights_len,
                                  const tfjs_import_options *o, clssd_graph *g, char *err,
                                  size_t err_size)
{
    importer im;
    memset(&im, 0, sizeof im);
    im.g = g;
    im.root = root;
    im.input = -1;
    im.err = err;
    im.err_size = err_size;
    g->input = g->output = -1;
    clssd_status s = load_weights(&im, clssd__json_get(root, "weightsManifest"), weights, weights_len);
    if (s == CLSSD_OK) s = read_nodes(&im);
    if (s == CLSSD_OK) s = postprocessor(&im, o);
    if (s == CLSSD_OK && g->input < 0) s = fail(&im, "the network never reads the image");
    if (s == CLSSD_OK) {
        char why[256] = "";
        s = clssd__graph_infer(g, why, sizeof why);
        if (s != CLSSD_OK) snprintf(err, err_size, "%s", why);
    }
    if (s == CLSSD_ERR_OUT_OF_MEMORY) snprintf(err, err_size, "out of memory");
    importer_free(&im);
    return s;
}

clssd_status tfjs_import(const char *json, size_t json_len, const void *weights,
                         size_t weights_len, const tfjs_import_options *o, clssd_graph *g,
                         char *err, size_t err_size)
{
    if (!json || !g || (!weights && weights_len)) return CLSSD_ERR_INVALID_ARG;
    clssd__graph_init(g);
    clssd_json *root = NULL;
    char why[512] = "";
    clssd_status s = clssd__json_parse(json, json_len, &root, why, sizeof why);
    if (s != CLSSD_OK) {
        snprintf(err, err_size, "model.json: %s", why);
        return s;
    }
    s = import_parsed(root, weights, weights_len, o, g, err, err_size);
    clssd__json_free(root);
    if (s != CLSSD_OK) clssd__graph_free(g);
    return s;
}

/* Reads a whole file, at most `limit` bytes, appending to *buf. */
static clssd_status append_file(const char *path, size_t limit, uint8_t **buf, size_t *len,
                                char *err, size_t err_size)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_size, "%s: %s", path, strerror(errno));
        return CLSSD_ERR_IO;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        snprintf(err, err_size, "%s: not a regular file", path);
        return CLSSD_ERR_IO;
    }
    if ((uint64_t)st.st_size > limit - *len) {
        fclose(f);
        snprintf(err, err_size, "%s: too large (%lld bytes)", path, (long long)st.st_size);
        return CLSSD_ERR_BAD_MODEL;
    }
    const size_t size = (size_t)st.st_size;
    uint8_t *grown = clssd__realloc(*buf, *len + size + 1);
    if (!grown) {
        fclose(f);
        snprintf(err, err_size, "%s: out of memory", path);
        return CLSSD_ERR_OUT_OF_MEMORY;
    }
    *buf = grown;
    size_t got = size ? fread(grown + *len, 1, size, f) : 0;
    int bad = ferror(f);
    fclose(f);
    if (got != size || bad) {
        snprintf(err, err_size, "%s: read error", path);
        return CLSSD_ERR_IO;
    }
    *len += size;
    grown[*len] = 0;
    return CLSSD_OK;
}

clssd_status tfjs_load_graph(const char *model_json_path, const tfjs_import_options *o,
                             clssd_graph *g, char *err, size_t err_size)
{
    if (!model_json_path || !g) return CLSSD_ERR_INVALID_ARG;
    clssd__graph_init(g);
    uint8_t *text = NULL, *data = NULL;
    size_t text_len = 0, data_len = 0;
    clssd_json *root = NULL;
    char why[512] = "";
    clssd_status s = append_file(model_json_path, MAX_JSON_BYTES, &text, &text_len, err, err_size);
    if (s == CLSSD_OK) {
        s = clssd__json_parse((const char *)text, text_len, &root, why, sizeof why);
        if (s != CLSSD_OK) snprintf(err, err_size, "%s: %s", model_json_path, why);
    }
    /* the shards sit beside model.json */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", model_json_path);
    char *slash = strrchr(dir, '/');
    if (slash) slash[1] = '\0';
    else dir[0] = '\0';
    const clssd_json *man = root ? clssd__json_get(root, "weightsManifest") : NULL;
    for (size_t gi = 0; s == CLSSD_OK && man && man->type == CLSSD_JSON_ARRAY && gi < man->n_items; gi++) {
        const clssd_json *paths = clssd__json_get(&man->items[gi], "paths");
        if (!paths || paths->type != CLSSD_JSON_ARRAY) {
            snprintf(err, err_size, "%s: weightsManifest[%zu] has no paths", model_json_path, gi);
            s = CLSSD_ERR_BAD_MODEL;
            break;
        }
        for (size_t k = 0; s == CLSSD_OK && k < paths->n_items; k++) {
            const clssd_json *pth = &paths->items[k];
            /* shard names are plain file names: no way out of the model's folder */
            if (pth->type != CLSSD_JSON_STRING || !pth->string[0] || strchr(pth->string, '/') ||
                strchr(pth->string, '\\') || !strcmp(pth->string, ".") || !strcmp(pth->string, "..") ||
                strlen(dir) + pth->string_len >= 4096) {
                snprintf(err, err_size, "%s: weightsManifest[%zu].paths[%zu] is not a plain file name",
                         model_json_path, gi, k);
                s = CLSSD_ERR_BAD_MODEL;
                break;
            }
            char path[8192];
            snprintf(path, sizeof path, "%s%s", dir, pth->string);
            s = append_file(path, MAX_WEIGHT_BYTES, &data, &data_len, err, err_size);
        }
    }
    if (s == CLSSD_OK) {
        s = import_parsed(root, data, data_len, o, g, why, sizeof why);
        if (s != CLSSD_OK) snprintf(err, err_size, "%s: %s", model_json_path, why);
    }
    clssd__json_free(root);
    clssd__free(text);
    clssd__free(data);
    if (s != CLSSD_OK) clssd__graph_free(g);
    return s;
}

clssd_status clssd_model_load_tfjs(clssd_context *ctx, const char *model_json_path,
                                   clssd_model **out)
{
    if (!out) return CLSSD_ERR_INVALID_ARG;
    *out = NULL;
    if (!ctx || !model_json_path) return CLSSD_ERR_INVALID_ARG;
    clssd_graph g;
    clssd__graph_init(&g);
    char err[600] = "";
    clssd_status s = tfjs_load_graph(model_json_path, NULL, &g, err, sizeof err);
    if (s != CLSSD_OK) return CLSSD_FAIL(ctx, s, "%s", err);
    return clssd__model_from_graph(ctx, &g, out);
}
