/* Caffe net (prototxt + caffemodel) -> libclssd graph.
 *
 * Blobs are tracked by name with their Caffe shape, so that the layout-only layers
 * (Flatten, Reshape, Split, Dropout, identity Permute) become aliases of the node that
 * produced the data and Softmax/Concat can be checked against what they really do.
 * Convolution + in-place ReLU fuse; BatchNorm and Scale fold into the convolution before
 * them when nothing else reads it, and otherwise become a SCALE node. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "caffe.h"

#define MAX_BLOBS 4096

typedef struct blob {
    char name[CLSSD_NAME_LEN];
    int32_t node;
    int64_t dims[4];
    int nd;
} blob;

typedef struct importer {
    clssd_graph *g;
    const caffe_msg *weights;
    blob *blobs;
    int n_blobs;
    char *err;
    size_t err_size;
    const char *layer; /* name of the layer being converted, for messages */
    size_t weight_floats; /* in the graph's tensors: at most CLSSD_GRAPH_MAX_WEIGHT_FLOATS */
} importer;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static clssd_status fail(importer *im, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(im->err, im->err_size, "layer '%s': %s", im->layer ? im->layer : "?", what);
    return CLSSD_ERR_BAD_MODEL;
}

void caffe_import_options_init(caffe_import_options *o)
{
    memset(o, 0, sizeof *o);
    o->scale = 1.0f;
    o->bgr = 1;
}

static blob *find_blob(importer *im, const char *name)
{
    for (int i = im->n_blobs - 1; i >= 0; i--)
        if (strcmp(im->blobs[i].name, name) == 0) return &im->blobs[i];
    return NULL;
}

/* Binds a top name to a node (in-place layers rebind their bottom's name). */
static clssd_status set_blob(importer *im, const char *name, int32_t node, const int64_t *dims,
                             int nd)
{
    if (strlen(name) >= CLSSD_NAME_LEN) return fail(im, "blob name '%s' too long", name);
    blob *b = find_blob(im, name);
    if (!b) {
        if (im->n_blobs >= MAX_BLOBS) return fail(im, "too many blobs");
        b = &im->blobs[im->n_blobs++];
        snprintf(b->name, sizeof b->name, "%s", name);
    }
    b->node = node;
    b->nd = nd;
    for (int i = 0; i < 4; i++) b->dims[i] = i < nd ? dims[i] : 1;
    return CLSSD_OK;
}

static void node_dims(const clssd_node *n, int64_t dims[4])
{
    dims[0] = 1;
    dims[1] = n->out.c;
    dims[2] = n->out.h;
    dims[3] = n->out.w;
}

/* Product of dims [from, nd), or -1 when a dim is negative or the product overflows: blob
 * dims come from hostile files (Reshape) as well as from inferred shapes. */
static int64_t count_dims(const int64_t *d, int from, int nd)
{
    int64_t c = 1;
    for (int i = from; i < nd; i++) {
        if (d[i] < 0 || (d[i] > 0 && c > INT64_MAX / d[i])) return -1;
        c *= d[i];
    }
    return c;
}

/* ---------------------------------------------------------------- weights */
static const caffe_msg *weight_layer(importer *im, const char *name)
{
    if (!im->weights) return NULL;
    static const char *const fields[2] = {"layer", "layers"};
    for (int f = 0; f < 2; f++) {
        size_t n = caffe_msg_count(im->weights, fields[f]);
        for (size_t i = 0; i < n; i++) {
            const caffe_msg *l = caffe_get_msg(im->weights, fields[f], i);
            if (l && strcmp(caffe_get_str(l, "name", 0, ""), name) == 0) return l;
        }
    }
    return NULL;
}

/* Copies blob `index` of the layer into dst (count floats) after checking its size. With no
 * caffemodel the tensor keeps its zeros. */
static clssd_status load_blob(importer *im, size_t index, float *dst, size_t count,
                              const char *what)
{
    if (!im->weights) return CLSSD_OK;
    const caffe_msg *l = weight_layer(im, im->layer);
    if (!l) return fail(im, "no weights for this layer in the caffemodel");
    const caffe_msg *b = caffe_get_msg(l, "blobs", index);
    if (!b)
        return fail(im, "caffemodel has no blob %zu (%s)", index, what);
    size_t have = 0;
    const caffe_field *data = caffe_msg_get(b, "data", 0);
    if (data && data->kind == CAFFE_FLOATS) {
        have = data->n_floats;
        if (have == count) memcpy(dst, data->floats, count * sizeof(float));
    } else {
        /* unpacked or double data: one field per value */
        static const char *const names[2] = {"data", "double_data"};
        for (int k = 0; k < 2 && !have; k++) {
            have = caffe_msg_count(b, names[k]);
            if (have == count)
                for (size_t i = 0; i < count; i++)
                    dst[i] = (float)caffe_get_float(b, names[k], i, 0.0);
        }
    }
    if (have != count) {
        char msg[160];
        snprintf(msg, sizeof msg, "blob %zu (%s) has %zu values, the layer needs %zu", index,
                 what, have, count);
        return fail(im, "%s", msg);
    }
    for (size_t i = 0; i < count; i++)
        if (!isfinite(dst[i])) return fail(im, "blob (%s) holds a non-finite value", what);
    return CLSSD_OK;
}

/* A zeroed weight tensor of the layer. Sizes come from the prototxt, which without a
 * caffemodel is not bounded by any data, so the graph's total is limited here: a shape past
 * the limit is a bad model, not an allocation failure. */
static clssd_status add_tensor(importer *im, const char *suffix, clssd_shape s, int32_t *out)
{
    char name[CLSSD_NAME_LEN + 16];
    snprintf(name, sizeof name, "%s.%s", im->layer, suffix);
    if (strlen(name) >= CLSSD_NAME_LEN) snprintf(name, CLSSD_NAME_LEN, "t%d.%s", im->g->n_tensors, suffix);
    const size_t count = clssd__shape_count(&s);
    if (count == 0 || count > CLSSD_GRAPH_MAX_WEIGHT_FLOATS - im->weight_floats)
        return fail(im, "%s tensor %dx%dx%dx%d is empty or over the limit of %zu weights in all",
                    suffix, s.n, s.c, s.h, s.w, CLSSD_GRAPH_MAX_WEIGHT_FLOATS);
    *out = clssd__graph_add_tensor(im->g, name, s);
    if (*out < 0) return CLSSD_ERR_OUT_OF_MEMORY;
    im->weight_floats += count;
    return CLSSD_OK;
}

/* ---------------------------------------------------------------- helpers */
/* An enum field (a number in binary files, an identifier in prototxt), through the schema's
 * enum tables: def when absent, -1 when present but not a value of that enum. */
static int64_t get_enum(const caffe_msg *p, const char *msg_type, const char *field, int64_t def)
{
    if (!p || !caffe_msg_count(p, field)) return def;
    return caffe_get_enum(p, msg_type, field, 0, -1);
}
static int consumed_after(const clssd_graph *g, int32_t node)
{
    for (int32_t i = node + 1; i < g->n_nodes; i++)
        for (int32_t s = 0; s < g->nodes[i].n_src; s++)
            if (g->nodes[i].src[s] == node) return 1;
    return 0;
}

static clssd_status add_node(importer *im, clssd_op op, const clssd_op_params *p,
                             const int32_t *src, int32_t n_src, int32_t *out)
{
    char name[CLSSD_NAME_LEN];
    snprintf(name, sizeof name, "%s", im->layer);
    if (clssd__graph_find_node(im->g, name) >= 0)
        snprintf(name, sizeof name, "n%d_%.40s", im->g->n_nodes, im->layer);
    int32_t id = clssd__graph_add(im->g, name, op, p, src, n_src);
    if (id < 0) return CLSSD_ERR_OUT_OF_MEMORY;
    *out = id;
    return CLSSD_OK;
}

static clssd_status infer_node(importer *im, int32_t id)
{
    char why[256] = "";
    clssd_node *n = &im->g->nodes[id];
    if (clssd__ops[n->op].infer(im->g, n, why, sizeof why) != CLSSD_OK)
        return fail(im, "%s", why);
    return CLSSD_OK;
}

/* Caffe's repeated-or-single geometry fields: kernel_size / kernel_h / kernel_w etc. */
static int32_t geom(const caffe_msg *p, const char *many, const char *one, int axis, int32_t def)
{
    if (caffe_msg_count(p, one)) return (int32_t)caffe_get_int(p, one, 0, def);
    size_t n = caffe_msg_count(p, many);
    if (n == 0) return def;
    return (int32_t)caffe_get_int(p, many, n == 1 ? 0 : (size_t)axis, def);
}

/* Applies y = a[c] x + b[c] to the node `src` produced: folded into a convolution or a SCALE
 * that nothing else reads, else a new SCALE node. Returns the node that holds y. */
static clssd_status apply_affine(importer *im, int32_t src, const float *a, const float *b,
                                 int32_t C, int32_t *out)
{
    clssd_graph *g = im->g;
    clssd_node *n = &g->nodes[src];
    /* Not past an activation: a*relu(y)+b is not relu(a*y+b). The extra "SAME" padding
     * is zeros like the rest, so padding does not matter. */
    if ((n->op == CLSSD_OP_CONV2D && !n->p.conv.relu && n->out.c == C) || n->op == CLSSD_OP_SCALE) {
        if (!consumed_after(g, src)) {
            if (n->bias < 0) {
                int32_t t;
                CLSSD_TRY(add_tensor(im, "bias", (clssd_shape){1, C, 1, 1}, &t));
                n = &g->nodes[src];
                n->bias = t;
            }
            float *w = g->tensors[n->weight].data, *bias = g->tensors[n->bias].data;
            const size_t per = clssd__shape_count(&g->tensors[n->weight].shape) / (size_t)C;
            for (int32_t c = 0; c < C; c++) {
                for (size_t k = 0; k < per; k++) w[(size_t)c * per + k] *= a[c];
                bias[c] = bias[c] * a[c] + b[c];
            }
            *out = src;
            return CLSSD_OK;
        }
    }
    int32_t id;
    CLSSD_TRY(add_node(im, CLSSD_OP_SCALE, NULL, &src, 1, &id));
    int32_t ts, tb;
    CLSSD_TRY(add_tensor(im, "scale", (clssd_shape){1, C, 1, 1}, &ts));
    CLSSD_TRY(add_tensor(im, "shift", (clssd_shape){1, C, 1, 1}, &tb));
    memcpy(g->tensors[ts].data, a, (size_t)C * sizeof(float));
    memcpy(g->tensors[tb].data, b, (size_t)C * sizeof(float));
    g->nodes[id].weight = ts;
    g->nodes[id].bias = tb;
    CLSSD_TRY(infer_node(im, id));
    *out = id;
    return CLSSD_OK;
}

/* ---------------------------------------------------------------- layers */
static clssd_status get_bottom(importer *im, const caffe_msg *l, size_t i, blob **out)
{
    const char *name = caffe_get_str(l, "bottom", i, NULL);
    if (!name) return fail(im, "missing bottom %ld", (long)i);
    *out = find_blob(im, name);
    if (!*out) return fail(im, "bottom '%s' is not produced by an earlier layer", name);
    return CLSSD_OK;
}

static clssd_status top_is(importer *im, const caffe_msg *l, int32_t node)
{
    int64_t d[4];
    node_dims(&im->g->nodes[node], d);
    size_t n = caffe_msg_count(l, "top");
    for (size_t i = 0; i < n; i++) CLSSD_TRY(set_blob(im, caffe_get_str(l, "top", i, ""), node, d, 4));
    return CLSSD_OK;
}

static clssd_status top_alias(importer *im, const caffe_msg *l, const blob *b, const int64_t *d,
                              int nd)
{
    size_t n = caffe_msg_count(l, "top");
    int32_t node = b->node;
    for (size_t i = 0; i < n; i++) CLSSD_TRY(set_blob(im, caffe_get_str(l, "top", i, ""), node, d, nd));
    return CLSSD_OK;
}

static clssd_status conv_layer(importer *im, const caffe_msg *l)
{
    blob *x;
    CLSSD_TRY(get_bottom(im, l, 0, &x));
    const caffe_msg *p = caffe_get_msg(l, "convolution_param", 0);
    if (!p) return fail(im, "no convolution_param");
    clssd_op_params op;
    memset(&op, 0, sizeof op);
    op.conv.cout = (int32_t)caffe_get_int(p, "num_output", 0, 0);
    op.conv.kh = geom(p, "kernel_size", "kernel_h", 0, 0);
    op.conv.kw = geom(p, "kernel_size", "kernel_w", 1, 0);
    op.conv.sh = geom(p, "stride", "stride_h", 0, 1);
    op.conv.sw = geom(p, "stride", "stride_w", 1, 1);
    op.conv.ph = geom(p, "pad", "pad_h", 0, 0);
    op.conv.pw = geom(p, "pad", "pad_w", 1, 0);
    op.conv.dh = geom(p, "dilation", "dilation_h", 0, 1);
    op.conv.dw = geom(p, "dilation", "dilation_w", 1, 1);
    op.conv.groups = (int32_t)caffe_get_int(p, "group", 0, 1);
    const int bias_term = (int)caffe_get_int(p, "bias_term", 0, 1);
    const clssd_shape xs = im->g->nodes[x->node].out;
    if (op.conv.cout <= 0 || op.conv.kh <= 0 || op.conv.kw <= 0 || op.conv.groups <= 0 ||
        xs.c % op.conv.groups != 0)
        return fail(im, "bad convolution_param (num_output, kernel or group)");
    int32_t id;
    CLSSD_TRY(add_node(im, CLSSD_OP_CONV2D, &op, &x->node, 1, &id));
    const clssd_shape ws = {op.conv.cout, xs.c / op.conv.groups, op.conv.kh, op.conv.kw};
    int32_t tw;
    CLSSD_TRY(add_tensor(im, "weight", ws, &tw));
    im->g->nodes[id].weight = tw;
    CLSSD_TRY(load_blob(im, 0, im->g->tensors[tw].data, clssd__shape_count(&ws), "weights"));
    if (bias_term) {
        int32_t tb;
        CLSSD_TRY(add_tensor(im, "bias", (clssd_shape){1, op.conv.cout, 1, 1}, &tb));
        im->g->nodes[id].bias = tb;
        CLSSD_TRY(load_blob(im, 1, im->g->tensors[tb].data, (size_t)op.conv.cout, "bias"));
    }
    CLSSD_TRY(infer_node(im, id));
    return top_is(im, l, id);
}

static clssd_status relu_layer(importer *im, const caffe_msg *l)
{
    blob *x;
    CLSSD_TRY(get_bottom(im, l, 0, &x));
    const caffe_msg *p = caffe_get_msg(l, "relu_param", 0);
    const float slope = p ? (float)caffe_get_float(p, "negative_slope", 0, 0.0) : 0.0f;
    clssd_node *src = &im->g->nodes[x->node];
    /* Fuse into the convolution when nothing has read its pre-activation output yet. A
     * relu_max left on a conv without relu means nothing until relu is set, so such a conv
     * is not fused into (it would become a ReLU6). */
    if (slope == 0.0f && src->op == CLSSD_OP_CONV2D && !src->p.conv.relu &&
        src->p.conv.relu_max == 0.0f && !consumed_after(im->g, x->node)) {
        src->p.conv.relu = 1;
        return top_alias(im, l, x, x->dims, x->nd);
    }
    clssd_op_params op;
    memset(&op, 0, sizeof op);
    op.relu.negative_slope = slope;
    int32_t id;
    CLSSD_TRY(add_node(im, CLSSD_OP_RELU, &op, &x->node, 1, &id));
    CLSSD_TRY(infer_node(im, id));
    return top_alias(im, l, &(blob){.node = id}, x->dims, x->nd);
}

static clssd_status pool_layer(importer *im, const caffe_msg *l)
{
    blob *x;
    CLSSD_TRY(get_bottom(im, l, 0, &x));
    const caffe_msg *p = caffe_get_msg(l, "pooling_param", 0);
    if (!p) return fail(im, "no pooling_param");
    clssd_op_params op;
    memset(&op, 0, sizeof op);
    const int64_t method = get_enum(p, "PoolingParameter", "pool", 0);
    if (method != 0 && method != 1) return fail(im, "pooling method %ld is not supported (MAX, AVE)", (long)method);
    /* round_mode is a fork's field (not in the schema): only its CEIL, Caffe's rule, is ours */
    const caffe_field *rm = caffe_msg_get(p, "round_mode", 0);
    if (rm && !(rm->kind == CAFFE_INT ? rm->i == 0 : rm->s && strcmp(rm->s, "CEIL") == 0))
        return fail(im, "round_mode FLOOR is not supported");
    op.pool.method = method == 0 ? CLSSD_POOL_MAX : CLSSD_POOL_AVE;
    op.pool.global = (uint8_t)caffe_get_int(p, "global_pooling", 0, 0);
    op.pool.kh = geom(p, "kernel_size", "kernel_h", 0, 0);
    op.pool.kw = geom(p, "kernel_size", "kernel_w", 1, 0);
    op.pool.sh = geom(p, "stride", "stride_h", 0, 1);
    op.pool.sw = geom(p, "stride", "stride_w", 1, 1);
    op.pool.ph = geom(p, "pad", "pad_h", 0, 0);
    op.pool.pw = geom(p, "pad", "pad_w", 1, 0);
    int32_t id;
    CLSSD_TRY(add_node(im, CLSSD_OP_POOL, &op, &x->node, 1, &id));
    CLSSD_TRY(infer_node(im, id));
    return top_is(im, l, id);
}

static clssd_status norm_layer(importer *im, const caffe_msg *l)
{
    blob *x;
    CLSSD_TRY(get_bottom(im, l, 0, &x));
    const caffe_msg *p = caffe_get_msg(l, "norm_param", 0);
    clssd_op_params op;
    memset(&op, 0, sizeof op);
    /* proto defaults: across_spatial and channel_shared are true (conformance N2) */
    op.l2norm.across_spatial = (uint8_t)(p ? caffe_get_int(p, "across_spatial", 0, 1) : 1);
    op.l2norm.channel_shared = (uint8_t)(p ? caffe_get_int(p, "channel_shared", 0, 1) : 1);
    op.l2norm.eps = p ? (float)caffe_get_float(p, "eps", 0, 1e-10) : 1e-10f;
    int32_t id;
    CLSSD_TRY(add_node(im, CLSSD_OP_L2NORM, &op, &x->node, 1, &id));
    const int32_t C = op.l2norm.channel_shared ? 1 : im->g->nodes[x->node].out.c;
    int32_t t;
    CLSSD_TRY(add_tensor(im, "scale", (clssd_shape){1, C, 1, 1}, &t));
    im->g->nodes[id].weight = t;
    if (!im->weights)
        for (int32_t c = 0; c < C; c++) im->g->tensors[t].data[c] = 20.0f; /* scale_filler */
    CLSSD_TRY(load_blob(im, 0, im->g->tensors[t].data, (size_t)C, "scale"));
    CLSSD_TRY(infer_node(im, id));
    return top_is(im, l, id);
}

static clssd_status permute_layer(importer *im, const caffe_msg *l)
{
    blob *x;
    CLSSD_TRY(get_bottom(im, l, 0, &x));
    const caffe_msg *p = caffe_get_msg(l, "permute_param", 0);
    int64_t order[4] = {0, 1, 2, 3};
    size_t n = p ? caffe_msg_count(p, "order") : 0;
    for (size_t i = 0; i < n && i < 4; i++) order[i] = caffe_get_int(p, "order", i, 0);
    if (order[0] == 0 && order[1] == 1 && order[2] == 2 && order[3] == 3)
        return top_alias(im, l, x, x->dims, x->nd);
    if (!(order[0] == 0 && order[1] == 2 && order[2] == 3 && order[3] == 1) || x->nd != 4)
        return fail(im, "only the NCHW->NHWC permute (order 0 2 3 1) is supported");
    int32_t id;
    CLSSD_TRY(add_node(im, CLSSD_OP_PERMUTE, NULL, &x->node, 1, &id));
    CLSSD_TRY(infer_node(im, id));
    const int64_t d[4] = {1, x->dims[2], x->dims[3], x->dims[1]};
    return top_alias(im, l, &(blob){.node = id}, d, 4);
}

static clssd_status flatten_layer(importer *im, const caffe_msg *l)
{
    blob *x;
    CLSSD_TRY(get_bottom(im, l, 0, &x));
    const caffe_msg *p = caffe_get_msg(l, "flatten_param", 0);
    if (p && (caffe_get_int(p, "axis", 0, 1) != 1 || caffe_get_int(p, "end_axis", 0, -1) != -1))
        return fail(im, "only Flatten from axis 1 to the end is supported");
    const int64_t d[2] = {1, count_dims(x->dims, 1, x->nd)};
    if (d[1] < 1 || d[1] > INT32_MAX) return fail(im, "Flatten of %lld values", (long long)d[1]);
    return top_alias(im, l, x, d, 2);
}

static clssd_status reshape_layer(importer *im, const caffe_msg *l)
{
    blob *x;
    CLSSD_TRY(get_bottom(im, l, 0, &x));
    const caffe_msg *p = caffe_get_msg(l, "reshape_param", 0);
    const caffe_msg *s = p ? caffe_get_msg(p, "shape", 0) : NULL;
    if (!s || caffe_get_int(p, "axis", 0, 0) != 0 || caffe_get_int(p, "num_axes", 0, -1) != -1)
        return fail(im, "Reshape needs a shape (axis 0, all axes)");
    const size_t nd = caffe_msg_count(s, "dim");
    if (nd < 1 || nd > 4) return fail(im, "Reshape to %ld dims is not supported", (long)nd);
    int64_t d[4];
    int infer_at = -1;
    const int64_t total = count_dims(x->dims, 0, x->nd);
    int64_t known = 1;
    for (size_t i = 0; i < nd; i++) {
        d[i] = caffe_get_int(s, "dim", i, 0);
        if (d[i] == 0) d[i] = (int)i < x->nd ? x->dims[i] : 1;
        if (d[i] == -1) {
            if (infer_at >= 0) return fail(im, "two -1 dims");
            infer_at = (int)i;
            continue;
        }
        /* dims stay int32 like every shape, and the product must fit */
        if (d[i] <= 0 || d[i] > INT32_MAX || known > INT64_MAX / d[i]) return fail(im, "bad dim");
        known *= d[i];
    }
    if (total < 1) return fail(im, "Reshape of an input of unknown size");
    if (infer_at >= 0) d[infer_at] = total / known;
    if (count_dims(d, 0, (int)nd) != total || (infer_at >= 0 && d[infer_at] > INT32_MAX))
        return fail(im, "Reshape changes the element count");
    return top_alias(im, l, x, d, (int)nd);
}

static clssd_status concat_layer(importer *im, const caffe_msg *l)
{
    const caffe_msg *p = caffe_get_msg(l, "concat_param", 0);
    int64_t axis = p ? caffe_get_int(p, "axis", 0, caffe_get_int(p, "concat_dim", 0, 1)) : 1;
    size_t n = caffe_msg_count(l, "bottom");
    if (n < 1 || n > CLSSD_MAX_SRC) return fail(im, "%ld inputs (1..8 supported)", (long)n);
    int32_t src[CLSSD_MAX_SRC];
    blob *b0 = NULL;
    int64_t d[4] = {0};
    int nd = 0;
    for (size_t i = 0; i < n; i++) {
        blob *b;
        CLSSD_TRY(get_bottom(im, l, i, &b));
        if (i == 0) {
            b0 = b;
            nd = b->nd;
            if (axis < 0) axis += nd;
            /* checked before it indexes d[]; the op itself takes only 1 or 2 (below) */
            if (axis < 0 || axis >= nd) return fail(im, "concat axis %ld of a %d-d input", (long)axis, nd);
            for (int k = 0; k < 4; k++) d[k] = b->dims[k];
            d[axis] = 0;
        }
        if (b->nd != nd) return fail(im, "inputs of different ranks");
        d[axis] += b->dims[axis];
        src[i] = b->node;
    }
    const int is_prior = im->g->nodes[b0->node].batch_const;
    if (!((axis == 1 && !is_prior) || (axis == 2 && is_prior && nd == 3)))
        return fail(im, "concat along axis %ld of these inputs is not supported", (long)axis);
    clssd_op_params op;
    memset(&op, 0, sizeof op);
    op.concat.axis = (int32_t)axis;
    int32_t id;
    CLSSD_TRY(add_node(im, CLSSD_OP_CONCAT, &op, src, (int32_t)n, &id));
    CLSSD_TRY(infer_node(im, id));
    return top_alias(im, l, &(blob){.node = id}, d, nd);
}

static clssd_status softmax_layer(importer *im, const caffe_msg *l)
{
    blob *x;
    CLSSD_TRY(get_bottom(im, l, 0, &x));
    const caffe_msg *p = caffe_get_msg(l, "softmax_param", 0);
    int64_t axis = p ? caffe_get_int(p, "axis", 0, 1) : 1;
    if (axis < 0) axis += x->nd;
    if (axis < 1 || axis >= x->nd || count_dims(x->dims, (int)axis + 1, x->nd) != 1)
        return fail(im, "softmax over axis %ld with values after it is not supported", (long)axis);
    clssd_op_params op;
    memset(&op, 0, sizeof op);
    op.softmax.group = (int32_t)x->dims[axis];
    int32_t id;
    CLSSD_TRY(add_node(im, CLSSD_OP_SOFTMAX, &op, &x->node, 1, &id));
    CLSSD_TRY(infer_node(im, id));
    return top_alias(im, l, &(blob){.node = id}, x->dims, x->nd);
}

static clssd_status eltwise_layer(importer *im, const caffe_msg *l)
{
    const caffe_msg *p = caffe_get_msg(l, "eltwise_param", 0);
    clssd_op_params op;
    memset(&op, 0, sizeof op);
    op.eltwise.method = (int32_t)get_enum(p, "EltwiseParameter", "operation", 1);
    if (op.eltwise.method < 0) return fail(im, "unknown Eltwise operation");
    size_t n = caffe_msg_count(l, "bottom"), nc = p ? caffe_msg_count(p, "coeff") : 0;
    if (n < 2 || n > CLSSD_MAX_SRC || (nc && nc != n))
        return fail(im, "Eltwise with %ld inputs or mismatched coefficients", (long)n);
    op.eltwise.n_coeff = (int32_t)nc;
    for (size_t i = 0; i < nc; i++) op.eltwise.coeff[i] = (float)caffe_get_float(p, "coeff", i, 1.0);
    int32_t src[CLSSD_MAX_SRC];
    blob *b = NULL;
    for (size_t i = 0; i < n; i++) {
        CLSSD_TRY(get_bottom(im, l, i, &b));
        src[i] = b->node;
    }
    int32_t id;
    CLSSD_TRY(add_node(im, CLSSD_OP_ELTWISE, &op, src, (int32_t)n, &id));
    CLSSD_TRY(infer_node(im, id));
    return top_is(im, l, id);
}

static clssd_status batchnorm_layer(importer *im, const caffe_msg *l, int is_scale)
{
    blob *x;
    CLSSD_TRY(get_bottom(im, l, 0, &x));
    const int32_t C = im->g->nodes[x->node].out.c;
    float *a = clssd__calloc((size_t)C, sizeof(float)), *b = clssd__calloc((size_t)C, sizeof(float));
    float *m = clssd__calloc((size_t)C, sizeof(float)), *v = clssd__calloc((size_t)C, sizeof(float));
    clssd_status s = (a && b && m && v) ? CLSSD_OK : CLSSD_ERR_OUT_OF_MEMORY;
    if (s == CLSSD_OK && is_scale) {
        const caffe_msg *p = caffe_get_msg(l, "scale_param", 0);
        const int bias = p ? (int)caffe_get_int(p, "bias_term", 0, 0) : 0;
        for (int32_t c = 0; c < C; c++) a[c] = 1.0f;
        s = load_blob(im, 0, a, (size_t)C, "scale");
        if (s == CLSSD_OK && bias) s = load_blob(im, 1, b, (size_t)C, "bias");
    } else if (s == CLSSD_OK) {
        /* Caffe keeps running sums: mean = blob0 / f, var = blob1 / f, f = blob2[0]. */
        const caffe_msg *p = caffe_get_msg(l, "batch_norm_param", 0);
        const float eps = p ? (float)caffe_get_float(p, "eps", 0, 1e-5) : 1e-5f;
        float f = 1.0f;
        for (int32_t c = 0; c < C; c++) v[c] = 1.0f;
        s = load_blob(im, 0, m, (size_t)C, "mean");
        if (s == CLSSD_OK) s = load_blob(im, 1, v, (size_t)C, "variance");
        if (s == CLSSD_OK && im->weights) s = load_blob(im, 2, &f, 1, "moving average factor");
        const float inv_f = f == 0.0f ? 0.0f : 1.0f / f;
        for (int32_t c = 0; c < C && s == CLSSD_OK; c++) {
            const float var = v[c] * inv_f;
            if (!(var + eps > 0.0f)) {
                s = fail(im, "negative variance");
                break;
            }
            a[c] = 1.0f / sqrtf(var + eps);
            b[c] = -m[c] * inv_f * a[c];
        }
    }
    int32_t id = -1;
    if (s == CLSSD_OK) s = apply_affine(im, x->node, a, b, C, &id);
    clssd__free(a);
    clssd__free(b);
    clssd__free(m);
    clssd__free(v);
    CLSSD_TRY(s);
    return top_alias(im, l, &(blob){.node = id}, x->dims, x->nd);
}

static clssd_status priorbox_layer(importer *im, const caffe_msg *l)
{
    blob *f, *img;
    CLSSD_TRY(get_bottom(im, l, 0, &f));
    CLSSD_TRY(get_bottom(im, l, 1, &img));
    const caffe_msg *p = caffe_get_msg(l, "prior_box_param", 0);
    if (!p) return fail(im, "no prior_box_param");
    clssd_op_params op;
    memset(&op, 0, sizeof op);
    __typeof__(op.prior) *q = &op.prior;
    size_t n_min = caffe_msg_count(p, "min_size"), n_max = caffe_msg_count(p, "max_size");
    size_t n_ar = caffe_msg_count(p, "aspect_ratio"), n_var = caffe_msg_count(p, "variance");
    if (n_min < 1 || n_min > 4 || n_max > 4 || n_ar > 6 || (n_var != 0 && n_var != 1 && n_var != 4))
        return fail(im, "PriorBox with %ld min sizes or too many max sizes, ratios or variances", (long)n_min);
    q->n_min = (int32_t)n_min;
    q->n_max = (int32_t)n_max;
    q->n_ar = (int32_t)n_ar;
    q->n_var = (int32_t)n_var;
    for (size_t i = 0; i < n_min; i++) q->min_size[i] = (float)caffe_get_float(p, "min_size", i, 0);
    for (size_t i = 0; i < n_max; i++) q->max_size[i] = (float)caffe_get_float(p, "max_size", i, 0);
    for (size_t i = 0; i < n_ar; i++) q->ar[i] = (float)caffe_get_float(p, "aspect_ratio", i, 1);
    for (size_t i = 0; i < n_var; i++) q->var[i] = (float)caffe_get_float(p, "variance", i, 0.1);
    q->flip = (uint8_t)caffe_get_int(p, "flip", 0, 1);
    q->clip = (uint8_t)caffe_get_int(p, "clip", 0, 0);
    q->offset = (float)caffe_get_float(p, "offset", 0, 0.5);
    const float step = (float)caffe_get_float(p, "step", 0, 0.0);
    q->step_w = (float)caffe_get_float(p, "step_w", 0, step);
    q->step_h = (float)caffe_get_float(p, "step_h", 0, step);
    const int32_t isz = (int32_t)caffe_get_int(p, "img_size", 0, 0);
    q->img_w = (int32_t)caffe_get_int(p, "img_w", 0, isz);
    q->img_h = (int32_t)caffe_get_int(p, "img_h", 0, isz);
    const int32_t src[2] = {f->node, img->node};
    int32_t id;
    CLSSD_TRY(add_node(im, CLSSD_OP_PRIORBOX, &op, src, 2, &id));
    CLSSD_TRY(infer_node(im, id));
    const int64_t d[3] = {1, 2, im->g->nodes[id].out.h};
    return top_alias(im, l, &(blob){.node = id}, d, 3);
}

static clssd_status detection_layer(importer *im, const caffe_msg *l)
{
    blob *loc, *conf, *prior;
    CLSSD_TRY(get_bottom(im, l, 0, &loc));
    CLSSD_TRY(get_bottom(im, l, 1, &conf));
    CLSSD_TRY(get_bottom(im, l, 2, &prior));
    const caffe_msg *p = caffe_get_msg(l, "detection_output_param", 0);
    if (!p) return fail(im, "no detection_output_param");
    /* proto default CORNER (1); the SSD scripts write CENTER_SIZE (2) (conformance D1) */
    if (get_enum(p, "DetectionOutputParameter", "code_type", 1) != 2) return fail(im, "code_type other than CENTER_SIZE is not supported");
    if (!caffe_get_int(p, "share_location", 0, 1) || caffe_get_int(p, "variance_encoded_in_target", 0, 0))
        return fail(im, "share_location false or variance_encoded_in_target true is not supported");
    const caffe_msg *nms = caffe_get_msg(p, "nms_param", 0);
    clssd_op_params op;
    memset(&op, 0, sizeof op);
    op.nms.n_classes = (int32_t)caffe_get_int(p, "num_classes", 0, 0);
    op.nms.background = (int32_t)caffe_get_int(p, "background_label_id", 0, 0);
    op.nms.nms_thresh = nms ? (float)caffe_get_float(nms, "nms_threshold", 0, 0.3) : 0.3f;
    op.nms.top_k = nms ? (int32_t)caffe_get_int(nms, "top_k", 0, -1) : -1;
    op.nms.keep_top_k = (int32_t)caffe_get_int(p, "keep_top_k", 0, -1);
    /* absent threshold: Caffe keeps every score (-FLT_MAX) */
    op.nms.conf_thresh = (float)caffe_get_float(p, "confidence_threshold", 0, -3.0e38);
    int32_t did, id;
    const int32_t dsrc[2] = {loc->node, prior->node};
    /* the DECODE node is named <layer>_decode; messages about it say so */
    const char *layer = im->layer;
    char dname[CLSSD_NAME_LEN];
    snprintf(dname, sizeof dname, "%.50s_decode", layer);
    im->layer = dname;
    clssd_status s = add_node(im, CLSSD_OP_DECODE, NULL, dsrc, 2, &did);
    if (s == CLSSD_OK) s = infer_node(im, did);
    im->layer = layer;
    CLSSD_TRY(s);
    const int32_t nsrc[2] = {did, conf->node};
    CLSSD_TRY(add_node(im, CLSSD_OP_NMS, &op, nsrc, 2, &id));
    CLSSD_TRY(infer_node(im, id));
    im->g->output = id;
    return top_is(im, l, id);
}

static clssd_status input_shape(importer *im, const caffe_msg *net, const caffe_msg *layer,
                                const caffe_import_options *o)
{
    int64_t d[4] = {1, 3, 0, 0};
    const caffe_msg *shape = NULL;
    if (layer) {
        const caffe_msg *ip = caffe_get_msg(layer, "input_param", 0);
        shape = ip ? caffe_get_msg(ip, "shape", 0) : NULL;
    } else {
        shape = caffe_get_msg(net, "input_shape", 0);
    }
    if (shape) {
        size_t n = caffe_msg_count(shape, "dim");
        for (size_t i = 0; i < n && i < 4; i++) d[i] = caffe_get_int(shape, "dim", i, 0);
    } else if (!layer && caffe_msg_count(net, "input_dim") == 4) {
        for (size_t i = 0; i < 4; i++) d[i] = caffe_get_int(net, "input_dim", i, 0);
    }
    if (o->input_w > 0) d[3] = o->input_w;
    if (o->input_h > 0) d[2] = o->input_h;
    if (d[1] != 3 || d[2] <= 0 || d[3] <= 0 || d[2] > 8192 || d[3] > 8192)
        return fail(im, "input must be 3 x H x W (got %lld channels or no size)", (long long)d[1]);
    int32_t id = clssd__graph_add(im->g, "data", CLSSD_OP_INPUT, NULL, NULL, 0);
    if (id < 0) return CLSSD_ERR_OUT_OF_MEMORY;
    im->g->nodes[id].out = (clssd_shape){1, 3, (int32_t)d[2], (int32_t)d[3]};
    im->g->input = id;
    CLSSD_TRY(infer_node(im, id));
    const char *name = layer ? caffe_get_str(layer, "top", 0, "data") : caffe_get_str(net, "input", 0, "data");
    d[0] = 1;
    return set_blob(im, name, id, d, 4);
}

static int skipped_in_test(const caffe_msg *l)
{
    /* include { phase: TRAIN } layers are not part of the deploy net */
    const caffe_msg *inc = caffe_get_msg(l, "include", 0);
    if (!inc) return 0;
    const caffe_field *ph = caffe_msg_get(inc, "phase", 0);
    if (!ph) return 0;
    if (ph->kind == CAFFE_IDENT) return strcmp(ph->s, "TRAIN") == 0;
    return ph->kind == CAFFE_INT && ph->i == 0;
}

/* V1 `layers` carry the type as an enum; the text format writes it as an identifier. */
static const char *layer_type(const caffe_msg *l, int v1)
{
    const caffe_field *t = caffe_msg_get(l, "type", 0);
    if (!t) return "";
    if (t->kind == CAFFE_STRING || t->kind == CAFFE_IDENT) {
        if (!v1) return t->s;
        static const struct { const char *v1, *name; } map[] = {
            {"CONVOLUTION", "Convolution"}, {"RELU", "ReLU"}, {"POOLING", "Pooling"},
            {"CONCAT", "Concat"}, {"SOFTMAX", "Softmax"}, {"ELTWISE", "Eltwise"},
            {"FLATTEN", "Flatten"}, {"DROPOUT", "Dropout"}, {"SPLIT", "Split"}};
        for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
            if (strcmp(t->s, map[i].v1) == 0) return map[i].name;
        return t->s;
    }
    static const struct { int64_t id; const char *name; } ids[] = {
        {3, "Concat"}, {4, "Convolution"}, {6, "Dropout"}, {8, "Flatten"}, {17, "Pooling"},
        {18, "ReLU"}, {20, "Softmax"}, {22, "Split"}, {25, "Eltwise"}};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (ids[i].id == t->i) return ids[i].name;
    return "unknown V1 layer type";
}

clssd_status caffe_import(const caffe_msg *deploy, const caffe_msg *weights,
                          const caffe_import_options *o, clssd_graph *g, char *err,
                          size_t err_size)
{
    caffe_import_options defaults;
    caffe_import_options_init(&defaults);
    if (!o) o = &defaults;
    importer im = {g, weights, NULL, 0, err, err_size, NULL, 0};
    im.blobs = clssd__calloc(MAX_BLOBS, sizeof(blob));
    if (!im.blobs) return CLSSD_ERR_OUT_OF_MEMORY;
    clssd_status s = CLSSD_OK;
    const int v1 = caffe_msg_count(deploy, "layer") == 0 && caffe_msg_count(deploy, "layers") > 0;
    const char *field = v1 ? "layers" : "layer";
    const size_t n_layers = caffe_msg_count(deploy, field);
    if (caffe_msg_count(deploy, "input")) s = input_shape(&im, deploy, NULL, o);
    for (size_t i = 0; i < n_layers && s == CLSSD_OK; i++) {
        const caffe_msg *l = caffe_get_msg(deploy, field, i);
        if (!l || skipped_in_test(l)) continue;
        im.layer = caffe_get_str(l, "name", 0, "?");
        const char *type = layer_type(l, v1);
        if (!strcmp(type, "Input")) s = input_shape(&im, deploy, l, o);
        else if (!strcmp(type, "Convolution") || !strcmp(type, "DepthwiseConvolution")) s = conv_layer(&im, l);
        else if (!strcmp(type, "ReLU")) s = relu_layer(&im, l);
        else if (!strcmp(type, "Pooling")) s = pool_layer(&im, l);
        else if (!strcmp(type, "Normalize")) s = norm_layer(&im, l);
        else if (!strcmp(type, "Permute")) s = permute_layer(&im, l);
        else if (!strcmp(type, "Flatten")) s = flatten_layer(&im, l);
        else if (!strcmp(type, "Reshape")) s = reshape_layer(&im, l);
        else if (!strcmp(type, "Concat")) s = concat_layer(&im, l);
        else if (!strcmp(type, "Softmax")) s = softmax_layer(&im, l);
        else if (!strcmp(type, "Eltwise")) s = eltwise_layer(&im, l);
        else if (!strcmp(type, "BatchNorm")) s = batchnorm_layer(&im, l, 0);
        else if (!strcmp(type, "Scale")) s = batchnorm_layer(&im, l, 1);
        else if (!strcmp(type, "PriorBox")) s = priorbox_layer(&im, l);
        else if (!strcmp(type, "DetectionOutput")) s = detection_layer(&im, l);
        else if (!strcmp(type, "Dropout") || !strcmp(type, "Split") || !strcmp(type, "Silence")) {
            blob *x = NULL;
            s = caffe_msg_count(l, "bottom") ? get_bottom(&im, l, 0, &x) : CLSSD_OK;
            if (s == CLSSD_OK && x) s = top_alias(&im, l, x, x->dims, x->nd);
        } else {
            s = fail(&im, "layer type '%s' is not supported", type);
        }
        if (s == CLSSD_ERR_OUT_OF_MEMORY) snprintf(err, err_size, "layer '%s': out of memory", im.layer);
        if (s == CLSSD_OK && g->input < 0)
            s = fail(&im, "the net declares no input before its first layer");
    }
    im.layer = NULL;
    if (s == CLSSD_OK && g->output < 0) {
        snprintf(err, err_size, "the net has no DetectionOutput layer");
        s = CLSSD_ERR_BAD_MODEL;
    }
    if (s == CLSSD_OK) {
        memset(&g->pre, 0, sizeof g->pre);
        g->pre.pre.out_w = g->nodes[g->input].out.w;
        g->pre.pre.out_h = g->nodes[g->input].out.h;
        memcpy(g->pre.pre.mean, o->mean, sizeof o->mean);
        g->pre.pre.scale = o->scale;
        g->pre.pre.bgr = (uint8_t)(o->bgr != 0);
        snprintf(g->name, sizeof g->name, "%s", o->name ? o->name : caffe_get_str(deploy, "name", 0, "caffe_ssd"));
    }
    clssd__free(im.blobs);
    return s;
}

clssd_status caffe_import_labelmap(const caffe_msg *labelmap, clssd_graph *g, char *err,
                                   size_t err_size)
{
    const size_t n = caffe_msg_count(labelmap, "item");
    int64_t max_label = -1;
    for (size_t i = 0; i < n; i++) {
        const caffe_msg *it = caffe_get_msg(labelmap, "item", i);
        int64_t lab = it ? caffe_get_int(it, "label", 0, -1) : -1;
        if (lab < 0 || lab > 100000) {
            snprintf(err, err_size, "labelmap item %zu: bad label %lld", i, (long long)lab);
            return CLSSD_ERR_BAD_MODEL;
        }
        if (lab > max_label) max_label = lab;
    }
    if (max_label < 0) {
        snprintf(err, err_size, "labelmap has no items");
        return CLSSD_ERR_BAD_MODEL;
    }
    char **labels = clssd__calloc((size_t)max_label + 1, sizeof(char *));
    if (!labels) return CLSSD_ERR_OUT_OF_MEMORY;
    for (size_t i = 0; i < n; i++) {
        const caffe_msg *it = caffe_get_msg(labelmap, "item", i);
        const int64_t lab = caffe_get_int(it, "label", 0, -1);
        const char *name = caffe_get_str(it, "display_name", 0, caffe_get_str(it, "name", 0, ""));
        size_t len = strlen(name) + 1;
        clssd__free(labels[lab]);
        labels[lab] = clssd__malloc(len);
        if (!labels[lab]) {
            for (int64_t k = 0; k <= max_label; k++) clssd__free(labels[k]);
            clssd__free(labels);
            return CLSSD_ERR_OUT_OF_MEMORY;
        }
        memcpy(labels[lab], name, len);
    }
    for (int64_t k = 0; k <= max_label; k++)
        if (!labels[k]) {
            labels[k] = clssd__malloc(1);
            if (labels[k]) labels[k][0] = 0;
        }
    for (int32_t i = 0; i < g->n_labels; i++) clssd__free(g->labels[i]);
    clssd__free(g->labels);
    g->labels = labels;
    g->n_labels = (int32_t)max_label + 1;
    return CLSSD_OK;
}

clssd_status caffe_load_graph(const char *deploy_path, const char *weights_path,
                              const caffe_import_options *o, const char *labelmap_path,
                              uint64_t seed, clssd_graph *g, char *err, size_t err_size)
{
    caffe_msg *deploy = NULL, *weights = NULL, *labelmap = NULL;
    char why[512] = "";
    const char *file = deploy_path;
    clssd_status s = caffe_parse_file(deploy_path, 0, &deploy, why, sizeof why);
    if (s == CLSSD_OK && weights_path) {
        file = weights_path;
        s = caffe_parse_file(weights_path, 1, &weights, why, sizeof why);
    }
    if (s == CLSSD_OK) {
        file = deploy_path;
        s = caffe_import(deploy, weights, o, g, why, sizeof why);
    }
    if (s == CLSSD_OK && !weights_path) clssd__graph_init_weights(g, seed, CLSSD_INIT_MSRA);
    if (s == CLSSD_OK && labelmap_path) {
        file = labelmap_path;
        s = caffe_parse_file(labelmap_path, 0, &labelmap, why, sizeof why);
        if (s == CLSSD_OK) s = caffe_import_labelmap(labelmap, g, why, sizeof why);
    }
    if (s == CLSSD_OK) {
        file = deploy_path;
        s = clssd__graph_infer(g, why, sizeof why);
    }
    /* caffe_parse_file already leads with the path; the other steps do not */
    if (s != CLSSD_OK)
        snprintf(err, err_size, "%s%s%s", strncmp(why, file, strlen(file)) ? file : "",
                 strncmp(why, file, strlen(file)) ? ": " : "", why);
    caffe_msg_free(deploy);
    caffe_msg_free(weights);
    caffe_msg_free(labelmap);
    if (s != CLSSD_OK) clssd__graph_free(g);
    return s;
}

void clssd_caffe_params_init(clssd_caffe_params *p)
{
    if (!p) return;
    memset(p, 0, sizeof *p);
    p->struct_size = (uint32_t)sizeof *p;
    p->scale = 1.0f;
    p->bgr = 1;
}

clssd_status clssd_model_load_caffe(clssd_context *ctx, const char *deploy_path,
                                    const char *weights_path, const clssd_caffe_params *p,
                                    clssd_model **out)
{
    if (!out) return CLSSD_ERR_INVALID_ARG;
    *out = NULL;
    if (!ctx || !deploy_path || (p && p->struct_size != sizeof *p)) return CLSSD_ERR_INVALID_ARG;
    clssd_caffe_params defaults;
    clssd_caffe_params_init(&defaults);
    if (!p) p = &defaults;
    caffe_import_options o;
    caffe_import_options_init(&o);
    o.input_w = p->input_width;
    o.input_h = p->input_height;
    memcpy(o.mean, p->mean, sizeof o.mean);
    o.scale = p->scale;
    o.bgr = p->bgr;
    o.name = p->name;
    clssd_graph g;
    clssd__graph_init(&g);
    char err[600] = "";
    clssd_status s = caffe_load_graph(deploy_path, weights_path, &o, p->labelmap_path, 1, &g, err,
                                      sizeof err);
    if (s != CLSSD_OK) return CLSSD_FAIL(ctx, s, "%s", err);
    return clssd__model_from_graph(ctx, &g, out);
}
