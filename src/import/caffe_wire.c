/* Protobuf binary (wire format) decoder for .caffemodel files, with a built-in subset of
 * caffe.proto.
 *
 * Field numbers, types and enum values are taken from the SSD branch of Caffe
 * (weiliu89/caffe "ssd"; read from src/caffe/proto/caffe.proto of the ByeonghakYim/Hanyang_SSD
 * fork, which carries that branch's proto unchanged in the parts used here: LayerParameter
 * permute_param = 202, prior_box_param = 203, detection_output_param = 204, norm_param = 206).
 * Fields outside the subset are skipped by wire type, as protobuf itself does with unknown
 * fields; so is a known field that arrives with an unexpected wire type, since Caffe forks
 * reuse numbers (the YuFaceDetectNet models carry varints at 145..148, which are messages
 * in the SSD proto) and protobuf would treat those as unknown too. */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "caffe.h"

_Static_assert(sizeof(float) == 4 && FLT_MANT_DIG == 24, "floats must be IEEE-754 binary32");
_Static_assert(sizeof(double) == 8 && DBL_MANT_DIG == 53, "doubles must be IEEE-754 binary64");

/* ---------------------------------------------------------------- names
 * Every field name of the schema exists once, here, in byte order: the text parser shares
 * these pointers, and caffe_msg_free tells them from allocated names by identity. */
/* clang-format off */
#define CAFFE_NAMES(X)                                                                           \
    X(across_spatial) X(aspect_ratio) X(axis) X(background_label_id) X(batch_norm_param)         \
    X(bias_param) X(bias_term) X(blobs) X(bottom) X(channel_shared) X(channels) X(clip)          \
    X(code_type) X(coeff) X(concat_dim) X(concat_param) X(confidence_threshold)                  \
    X(convolution_param) X(data) X(detection_output_param) X(dilation) X(dim) X(dropout_param)   \
    X(dropout_ratio) X(eltwise_param) X(end_axis) X(engine) X(eps) X(eta) X(exclude)             \
    X(flatten_param) X(flip) X(force_nd_im2col) X(global_pooling) X(group) X(height) X(img_h)    \
    X(img_size) X(img_w) X(include) X(inner_product_param) X(input) X(input_dim)                 \
    X(input_param) X(input_shape) X(keep_top_k) X(kernel_h) X(kernel_size) X(kernel_w) X(layer)  \
    X(layers) X(max_level) X(max_size) X(min_level) X(min_size) X(moving_average_fraction)       \
    X(name) X(negative_slope) X(nms_param) X(nms_threshold) X(norm_param) X(not_stage) X(num)    \
    X(num_axes) X(num_classes) X(num_output) X(offset) X(operation) X(order) X(pad) X(pad_h)     \
    X(pad_w) X(permute_param) X(phase) X(pool) X(pooling_param) X(power) X(power_param)          \
    X(prior_box_param) X(relu_param) X(reshape_param) X(scale) X(scale_param) X(shape)           \
    X(share_location) X(shift) X(softmax_param) X(stable_prod_grad) X(stage) X(step) X(step_h)   \
    X(step_w) X(stride) X(stride_h) X(stride_w) X(top) X(top_k) X(transpose) X(type)             \
    X(use_global_stats) X(variance) X(variance_encoded_in_target) X(visualize)                   \
    X(visualize_threshold) X(width)
/* clang-format on */

#define X_ENUM(n) N_##n,
enum { CAFFE_NAMES(X_ENUM) N_COUNT };
#undef X_ENUM
#define X_STR(n) #n,
static const char *const names[N_COUNT] = {CAFFE_NAMES(X_STR)};
#undef X_STR

static int name_cmp(const char *s, size_t len, const char *name)
{
    size_t nl = strlen(name);
    int c = memcmp(s, name, len < nl ? len : nl);
    if (c) return c;
    return len < nl ? -1 : len > nl ? 1 : 0;
}

const char *clssd__caffe_static_name(const char *name, size_t len)
{
    size_t lo = 0, hi = N_COUNT;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = name_cmp(name, len, names[mid]);
        if (c == 0) return names[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* ---------------------------------------------------------------- enums */
typedef struct senum_val {
    const char *ident;
    int32_t value;
} senum_val;

typedef struct senum {
    const char *name;
    const senum_val *vals;
    size_t n;
} senum;

enum { E_NONE, E_PHASE, E_POOL, E_ENGINE, E_ELTWISE, E_CODE, E_COUNT };

static const senum_val ev_phase[] = {{"TRAIN", 0}, {"TEST", 1}};
static const senum_val ev_pool[] = {{"MAX", 0}, {"AVE", 1}, {"STOCHASTIC", 2}};
static const senum_val ev_engine[] = {{"DEFAULT", 0}, {"CAFFE", 1}, {"CUDNN", 2}};
static const senum_val ev_eltwise[] = {{"PROD", 0}, {"SUM", 1}, {"MAX", 2}};
static const senum_val ev_code[] = {{"CORNER", 1}, {"CENTER_SIZE", 2}, {"CORNER_SIZE", 3}};

/* clang-format off */
#define ENUM_ENTRY(name, vals) {name, vals, sizeof vals / sizeof vals[0]}
/* clang-format on */
static const senum enums[E_COUNT] = {
    {"", NULL, 0},
    ENUM_ENTRY("Phase", ev_phase),
    ENUM_ENTRY("PoolingParameter.PoolMethod", ev_pool),
    ENUM_ENTRY("Engine", ev_engine),
    ENUM_ENTRY("EltwiseParameter.EltwiseOp", ev_eltwise),
    ENUM_ENTRY("PriorBoxParameter.CodeType", ev_code),
};

/* V1LayerParameter.LayerType, with the LayerParameter type names Caffe's
 * UpgradeV1LayerType gives them. */
typedef struct v1_type {
    int32_t value;
    const char *ident, *name;
} v1_type;

static const v1_type v1_types[] = {
    {0, "NONE", ""},
    {1, "ACCURACY", "Accuracy"},
    {2, "BNLL", "BNLL"},
    {3, "CONCAT", "Concat"},
    {4, "CONVOLUTION", "Convolution"},
    {5, "DATA", "Data"},
    {6, "DROPOUT", "Dropout"},
    {7, "EUCLIDEAN_LOSS", "EuclideanLoss"},
    {8, "FLATTEN", "Flatten"},
    {9, "HDF5_DATA", "HDF5Data"},
    {10, "HDF5_OUTPUT", "HDF5Output"},
    {11, "IM2COL", "Im2col"},
    {12, "IMAGE_DATA", "ImageData"},
    {13, "INFOGAIN_LOSS", "InfogainLoss"},
    {14, "INNER_PRODUCT", "InnerProduct"},
    {15, "LRN", "LRN"},
    {16, "MULTINOMIAL_LOGISTIC_LOSS", "MultinomialLogisticLoss"},
    {17, "POOLING", "Pooling"},
    {18, "RELU", "ReLU"},
    {19, "SIGMOID", "Sigmoid"},
    {20, "SOFTMAX", "Softmax"},
    {21, "SOFTMAX_LOSS", "SoftmaxWithLoss"},
    {22, "SPLIT", "Split"},
    {23, "TANH", "TanH"},
    {24, "WINDOW_DATA", "WindowData"},
    {25, "ELTWISE", "Eltwise"},
    {26, "POWER", "Power"},
    {27, "SIGMOID_CROSS_ENTROPY_LOSS", "SigmoidCrossEntropyLoss"},
    {28, "HINGE_LOSS", "HingeLoss"},
    {29, "MEMORY_DATA", "MemoryData"},
    {30, "ARGMAX", "ArgMax"},
    {31, "THRESHOLD", "Threshold"},
    {32, "DUMMY_DATA", "DummyData"},
    {33, "SLICE", "Slice"},
    {34, "MVN", "MVN"},
    {35, "ABSVAL", "AbsVal"},
    {36, "SILENCE", "Silence"},
    {37, "CONTRASTIVE_LOSS", "ContrastiveLoss"},
    {38, "EXP", "Exp"},
    {39, "DECONVOLUTION", "Deconvolution"},
};
#define N_V1_TYPES (sizeof v1_types / sizeof v1_types[0])

const char *caffe_v1_type_name(int64_t v)
{
    /* The table is indexed by value (checked by clssd__caffe_schema_ok). */
    if (v < 0 || (uint64_t)v >= N_V1_TYPES) return NULL;
    return v1_types[v].name;
}

int clssd__caffe_v1_type_from_ident(const char *ident, int64_t *out)
{
    for (size_t i = 0; i < N_V1_TYPES; i++) {
        if (strcmp(v1_types[i].ident, ident) == 0) {
            *out = v1_types[i].value;
            return 1;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- messages */
typedef enum skind {
    S_STR,
    S_I32,
    S_I64,
    S_U32,
    S_U64,
    S_BOOL,
    S_ENUM,
    S_F32,
    S_F64,
    S_MSG,
    S_DATA,   /* BlobProto.data: packed floats -> one CAFFE_FLOATS field */
    S_DDATA,  /* BlobProto.double_data: packed doubles -> the same "data" field */
    S_V1TYPE, /* V1LayerParameter.type: enum -> type name */
} skind;

typedef struct sfield {
    uint32_t number;
    uint8_t name; /* N_* */
    uint8_t kind; /* skind */
    uint8_t repeated;
    uint8_t ref; /* M_* for S_MSG, E_* for S_ENUM */
} sfield;

typedef struct smsg {
    const char *name;
    const sfield *fields; /* ascending numbers */
    size_t n;
} smsg;

enum {
    M_NET,
    M_LAYER,
    M_V1LAYER,
    M_BLOB,
    M_SHAPE,
    M_RULE,
    M_CONV,
    M_POOL,
    M_RELU,
    M_ELTWISE,
    M_CONCAT,
    M_SOFTMAX,
    M_BN,
    M_SCALE,
    M_BIAS,
    M_NORM,
    M_PERMUTE,
    M_FLATTEN,
    M_RESHAPE,
    M_PRIOR,
    M_DETOUT,
    M_NMS,
    M_INPUT,
    M_DROPOUT,
    M_IP,
    M_POWER,
    M_COUNT
};

/* clang-format off */
#define F(num, nm, kind) {num, N_##nm, kind, 0, 0}
#define R(num, nm, kind) {num, N_##nm, kind, 1, 0}
#define FM(num, nm, msg) {num, N_##nm, S_MSG, 0, msg}
#define RM(num, nm, msg) {num, N_##nm, S_MSG, 1, msg}
#define FE(num, nm, en) {num, N_##nm, S_ENUM, 0, en}
/* clang-format on */

static const sfield f_net[] = {
    F(1, name, S_STR),      RM(2, layers, M_V1LAYER),    R(3, input, S_STR),
    R(4, input_dim, S_I32), RM(8, input_shape, M_SHAPE), RM(100, layer, M_LAYER),
};
static const sfield f_layer[] = {
    F(1, name, S_STR),
    F(2, type, S_STR),
    R(3, bottom, S_STR),
    R(4, top, S_STR),
    RM(7, blobs, M_BLOB),
    RM(8, include, M_RULE),
    RM(9, exclude, M_RULE),
    FE(10, phase, E_PHASE),
    FM(104, concat_param, M_CONCAT),
    FM(106, convolution_param, M_CONV),
    FM(108, dropout_param, M_DROPOUT),
    FM(110, eltwise_param, M_ELTWISE),
    FM(117, inner_product_param, M_IP),
    FM(121, pooling_param, M_POOL),
    FM(122, power_param, M_POWER),
    FM(123, relu_param, M_RELU),
    FM(125, softmax_param, M_SOFTMAX),
    FM(133, reshape_param, M_RESHAPE),
    FM(135, flatten_param, M_FLATTEN),
    FM(139, batch_norm_param, M_BN),
    FM(141, bias_param, M_BIAS),
    FM(142, scale_param, M_SCALE),
    FM(143, input_param, M_INPUT),
    FM(202, permute_param, M_PERMUTE),
    FM(203, prior_box_param, M_PRIOR),
    FM(204, detection_output_param, M_DETOUT),
    FM(206, norm_param, M_NORM),
};
static const sfield f_v1layer[] = {
    R(2, bottom, S_STR),
    R(3, top, S_STR),
    F(4, name, S_STR),
    F(5, type, S_V1TYPE),
    RM(6, blobs, M_BLOB),
    FM(9, concat_param, M_CONCAT),
    FM(10, convolution_param, M_CONV),
    FM(12, dropout_param, M_DROPOUT),
    FM(17, inner_product_param, M_IP),
    FM(19, pooling_param, M_POOL),
    FM(21, power_param, M_POWER),
    FM(24, eltwise_param, M_ELTWISE),
    FM(30, relu_param, M_RELU),
    RM(32, include, M_RULE),
    RM(33, exclude, M_RULE),
    FM(39, softmax_param, M_SOFTMAX),
};
static const sfield f_blob[] = {
    F(1, num, S_I32),   F(2, channels, S_I32), F(3, height, S_I32), F(4, width, S_I32),
    F(5, data, S_DATA), FM(7, shape, M_SHAPE), F(8, data, S_DDATA),
};
static const sfield f_shape[] = {R(1, dim, S_I64)};
static const sfield f_rule[] = {
    FE(1, phase, E_PHASE), F(2, min_level, S_I32), F(3, max_level, S_I32),
    R(4, stage, S_STR),    R(5, not_stage, S_STR),
};
static const sfield f_conv[] = {
    F(1, num_output, S_U32),  F(2, bias_term, S_BOOL), R(3, pad, S_U32),
    R(4, kernel_size, S_U32), F(5, group, S_U32),      R(6, stride, S_U32),
    F(9, pad_h, S_U32),       F(10, pad_w, S_U32),     F(11, kernel_h, S_U32),
    F(12, kernel_w, S_U32),   F(13, stride_h, S_U32),  F(14, stride_w, S_U32),
    FE(15, engine, E_ENGINE), F(16, axis, S_I32),      F(17, force_nd_im2col, S_BOOL),
    R(18, dilation, S_U32),
};
static const sfield f_pool[] = {
    FE(1, pool, E_POOL),   F(2, kernel_size, S_U32), F(3, stride, S_U32),
    F(4, pad, S_U32),      F(5, kernel_h, S_U32),    F(6, kernel_w, S_U32),
    F(7, stride_h, S_U32), F(8, stride_w, S_U32),    F(9, pad_h, S_U32),
    F(10, pad_w, S_U32),   FE(11, engine, E_ENGINE), F(12, global_pooling, S_BOOL),
};
static const sfield f_relu[] = {F(1, negative_slope, S_F32), FE(2, engine, E_ENGINE)};
static const sfield f_eltwise[] = {
    {1, N_operation, S_ENUM, 0, E_ELTWISE},
    R(2, coeff, S_F32),
    F(3, stable_prod_grad, S_BOOL),
};
static const sfield f_concat[] = {F(1, concat_dim, S_U32), F(2, axis, S_I32)};
static const sfield f_softmax[] = {FE(1, engine, E_ENGINE), F(2, axis, S_I32)};
static const sfield f_bn[] = {
    F(1, use_global_stats, S_BOOL),
    F(2, moving_average_fraction, S_F32),
    F(3, eps, S_F32),
};
static const sfield f_scale[] = {F(1, axis, S_I32), F(2, num_axes, S_I32), F(4, bias_term, S_BOOL)};
static const sfield f_bias[] = {F(1, axis, S_I32), F(2, num_axes, S_I32)};
static const sfield f_norm[] = {
    F(1, across_spatial, S_BOOL),
    F(3, channel_shared, S_BOOL),
    F(4, eps, S_F32),
};
static const sfield f_permute[] = {R(1, order, S_U32)};
static const sfield f_flatten[] = {F(1, axis, S_I32), F(2, end_axis, S_I32)};
static const sfield f_reshape[] = {FM(1, shape, M_SHAPE), F(2, axis, S_I32), F(3, num_axes, S_I32)};
static const sfield f_prior[] = {
    R(1, min_size, S_F32), R(2, max_size, S_F32), R(3, aspect_ratio, S_F32), F(4, flip, S_BOOL),
    F(5, clip, S_BOOL),    R(6, variance, S_F32), F(7, img_size, S_U32),     F(8, img_h, S_U32),
    F(9, img_w, S_U32),    F(10, step, S_F32),    F(11, step_h, S_F32),      F(12, step_w, S_F32),
    F(13, offset, S_F32),
};
static const sfield f_detout[] = {
    F(1, num_classes, S_U32),
    F(2, share_location, S_BOOL),
    F(3, background_label_id, S_I32),
    FM(4, nms_param, M_NMS),
    FE(6, code_type, E_CODE),
    F(7, keep_top_k, S_I32),
    F(8, variance_encoded_in_target, S_BOOL),
    F(9, confidence_threshold, S_F32),
    F(10, visualize, S_BOOL),
    F(11, visualize_threshold, S_F32),
};
static const sfield f_nms[] = {F(1, nms_threshold, S_F32), F(2, top_k, S_I32), F(3, eta, S_F32)};
static const sfield f_input[] = {RM(1, shape, M_SHAPE)};
static const sfield f_dropout[] = {F(1, dropout_ratio, S_F32)};
static const sfield f_ip[] = {
    F(1, num_output, S_U32),
    F(2, bias_term, S_BOOL),
    F(5, axis, S_I32),
    F(6, transpose, S_BOOL),
};
static const sfield f_power[] = {F(1, power, S_F32), F(2, scale, S_F32), F(3, shift, S_F32)};

/* clang-format off */
#define MSG_ENTRY(name, f) {name, f, sizeof f / sizeof f[0]}
/* clang-format on */
static const smsg msgs[M_COUNT] = {
    MSG_ENTRY("NetParameter", f_net),
    MSG_ENTRY("LayerParameter", f_layer),
    MSG_ENTRY("V1LayerParameter", f_v1layer),
    MSG_ENTRY("BlobProto", f_blob),
    MSG_ENTRY("BlobShape", f_shape),
    MSG_ENTRY("NetStateRule", f_rule),
    MSG_ENTRY("ConvolutionParameter", f_conv),
    MSG_ENTRY("PoolingParameter", f_pool),
    MSG_ENTRY("ReLUParameter", f_relu),
    MSG_ENTRY("EltwiseParameter", f_eltwise),
    MSG_ENTRY("ConcatParameter", f_concat),
    MSG_ENTRY("SoftmaxParameter", f_softmax),
    MSG_ENTRY("BatchNormParameter", f_bn),
    MSG_ENTRY("ScaleParameter", f_scale),
    MSG_ENTRY("BiasParameter", f_bias),
    MSG_ENTRY("NormalizeParameter", f_norm),
    MSG_ENTRY("PermuteParameter", f_permute),
    MSG_ENTRY("FlattenParameter", f_flatten),
    MSG_ENTRY("ReshapeParameter", f_reshape),
    MSG_ENTRY("PriorBoxParameter", f_prior),
    MSG_ENTRY("DetectionOutputParameter", f_detout),
    MSG_ENTRY("NonMaximumSuppressionParameter", f_nms),
    MSG_ENTRY("InputParameter", f_input),
    MSG_ENTRY("DropoutParameter", f_dropout),
    MSG_ENTRY("InnerProductParameter", f_ip),
    MSG_ENTRY("PowerParameter", f_power),
};

static const smsg *msg_by_name(const char *name)
{
    for (size_t i = 0; i < M_COUNT; i++)
        if (strcmp(msgs[i].name, name) == 0) return &msgs[i];
    return NULL;
}

static const sfield *field_by_number(const smsg *m, uint64_t number)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->fields[mid].number == number) return &m->fields[mid];
        if (m->fields[mid].number < number)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int64_t caffe_get_enum(const caffe_msg *m, const char *msg_type, const char *name, size_t index,
                       int64_t def)
{
    const caffe_field *f = caffe_msg_get(m, name, index);
    if (!f) return def;
    if (f->kind == CAFFE_INT) return f->i;
    if ((f->kind != CAFFE_IDENT && f->kind != CAFFE_STRING) || !msg_type) return def;
    const smsg *sm = msg_by_name(msg_type);
    if (!sm) return def;
    for (size_t i = 0; i < sm->n; i++) {
        const sfield *sf = &sm->fields[i];
        if (strcmp(names[sf->name], name) != 0) continue;
        if (sf->kind == S_V1TYPE) {
            /* Both parsers keep the number of a type they renamed in i. */
            if (f->kind == CAFFE_STRING) return caffe_v1_type_name(f->i) ? f->i : def;
            int64_t v;
            return clssd__caffe_v1_type_from_ident(f->s, &v) ? v : def;
        }
        if (sf->kind != S_ENUM || f->kind != CAFFE_IDENT) return def;
        const senum *e = &enums[sf->ref];
        for (size_t k = 0; k < e->n; k++)
            if (strcmp(e->vals[k].ident, f->s) == 0) return e->vals[k].value;
        return def;
    }
    return def;
}

int clssd__caffe_schema_ok(char *err, size_t err_size)
{
    for (size_t i = 1; i < N_COUNT; i++) {
        if (strcmp(names[i - 1], names[i]) >= 0) {
            snprintf(err, err_size, "names not sorted at '%s'", names[i]);
            return 0;
        }
    }
    for (size_t i = 0; i < M_COUNT; i++) {
        for (size_t k = 0; k < msgs[i].n; k++) {
            const sfield *f = &msgs[i].fields[k];
            if (k && f->number <= msgs[i].fields[k - 1].number) {
                snprintf(err, err_size, "%s: field numbers not ascending at %u", msgs[i].name,
                         (unsigned)f->number);
                return 0;
            }
            if ((f->kind == S_MSG && f->ref >= M_COUNT) ||
                (f->kind == S_ENUM && (f->ref == E_NONE || f->ref >= E_COUNT))) {
                snprintf(err, err_size, "%s.%s: bad reference", msgs[i].name, names[f->name]);
                return 0;
            }
        }
    }
    for (size_t i = 0; i < N_V1_TYPES; i++) {
        if (v1_types[i].value != (int32_t)i) {
            snprintf(err, err_size, "V1 type table not indexed by value at %zu", i);
            return 0;
        }
    }
    return 1;
}

/* ---------------------------------------------------------------- decoder */
typedef struct frame {
    const caffe_msg *parent; /* the field lives at parent->fields[pos] */
    size_t pos;
    int repeated;
} frame;

typedef struct dec {
    const uint8_t *base;
    size_t n_fields;
    frame stack[CAFFE_MAX_DEPTH + 1];
    int depth;
    char *err;
    size_t err_size;
    clssd_status status; /* of the first failure */
} dec;

static int host_is_le(void)
{
    const uint32_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static uint32_t load_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t load_u64(const uint8_t *p)
{
    return (uint64_t)load_u32(p) | (uint64_t)load_u32(p + 4) << 32;
}

static float f32_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static double f64_from_bits(uint64_t u)
{
    double d;
    memcpy(&d, &u, 8);
    return d;
}

/* A double outside float's range converts with undefined behaviour in C, so it saturates to
 * the infinity of its sign first, which is what IEEE-754 rounding would give. */
static float narrow(double d)
{
    if (isnan(d)) return NAN;
    if (d > FLT_MAX) return INFINITY;
    if (d < -FLT_MAX) return -INFINITY;
    return (float)d;
}

/* Two's complement reinterpretation without implementation-defined conversions. */
static int64_t as_i64(uint64_t v)
{
    return v <= INT64_MAX ? (int64_t)v : -(int64_t)(~v) - 1;
}

/* Varints longer than 10 bytes, or a 10th byte above 1 (bits past 64), are rejected rather
 * than truncated: protobuf never writes them. */
static int read_varint(const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
    const uint8_t *p = *pp;
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) {
        if (p >= end) return 0;
        uint8_t b = *p++;
        if (i == 9 && b > 1) return 0;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *pp = p;
            *out = v;
            return 1;
        }
    }
    return 0;
}

/* "layer[12] 'conv3_2' > blobs[0] > " for the frames open now. */
static size_t format_path(const dec *d, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 1; i <= d->depth && n + 1 < size; i++) {
        const frame *fr = &d->stack[i];
        const caffe_field *f = &fr->parent->fields[fr->pos];
        int w;
        if (fr->repeated) {
            size_t idx = 0;
            for (size_t k = 0; k < fr->pos; k++)
                if (fr->parent->fields[k].name == f->name) idx++;
            w = snprintf(buf + n, size - n, "%s[%zu]", f->name, idx);
        } else {
            w = snprintf(buf + n, size - n, "%s", f->name);
        }
        if (w < 0) break;
        n += (size_t)w;
        const char *nm = caffe_get_str(f->m, "name", 0, NULL);
        if (nm && n + 1 < size) {
            w = snprintf(buf + n, size - n, " '%.64s'", nm);
            if (w < 0) break;
            n += (size_t)w;
        }
        if (n + 1 < size) {
            w = snprintf(buf + n, size - n, " > ");
            if (w < 0) break;
            n += (size_t)w;
        }
    }
    return n < size ? n : size - 1;
}

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static clssd_status
fail(dec *d, clssd_status s, const char *what, const char *fmt, ...)
{
    d->status = s;
    if (!d->err || !d->err_size) return s;
    char path[512];
    format_path(d, path, sizeof path);
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(d->err, d->err_size, "%s%s: %s", path, what, msg);
    return s;
}

static size_t off(const dec *d, const uint8_t *p)
{
    return (size_t)(p - d->base);
}

static caffe_field *add(dec *d, caffe_msg *m, const char *name, caffe_kind kind, const char *what)
{
    if (d->n_fields >= CAFFE_MAX_FIELDS) {
        fail(d, CLSSD_ERR_BAD_MODEL, what, "more than %zu fields in the file", CAFFE_MAX_FIELDS);
        return NULL;
    }
    caffe_field *f = clssd__caffe_add(m, name, kind);
    if (!f) {
        fail(d, CLSSD_ERR_OUT_OF_MEMORY, what, "out of memory");
        return NULL;
    }
    d->n_fields++;
    return f;
}

static clssd_status add_int(dec *d, caffe_msg *m, const sfield *sf, uint64_t v)
{
    int64_t i;
    switch ((skind)sf->kind) {
    case S_I32:
    case S_ENUM: /* protobuf enums are int32; negative values arrive sign-extended */
        i = (int64_t)(int32_t)as_i64(v & 0xffffffffu);
        break;
    case S_U32:
        i = (int64_t)(v & 0xffffffffu);
        break;
    case S_BOOL:
        i = v != 0;
        break;
    default:
        i = as_i64(v);
        break;
    }
    caffe_field *f = add(d, m, names[sf->name], CAFFE_INT, names[sf->name]);
    if (!f) return d->status;
    f->i = i;
    return CLSSD_OK;
}

static clssd_status add_float(dec *d, caffe_msg *m, const sfield *sf, double v)
{
    caffe_field *f = add(d, m, names[sf->name], CAFFE_FLOAT, names[sf->name]);
    if (!f) return d->status;
    f->f = v;
    return CLSSD_OK;
}

/* The "data" field of the BlobProto being decoded, which packed runs, single values and
 * double_data all append to. cap grows geometrically so unpacked data (one value per field)
 * stays linear; a single packed run, what Caffe writes, is allocated exactly. */
typedef struct blob_acc {
    size_t pos; /* index in the message, SIZE_MAX before the first value */
    size_t cap;
    skind kind; /* S_DATA or S_DDATA once seen */
} blob_acc;

/* Appends n values (4-byte floats for S_DATA, 8-byte doubles for S_DDATA) at p. */
static clssd_status append_data(dec *d, caffe_msg *m, blob_acc *acc, skind kind, const uint8_t *p,
                                size_t n)
{
    /* Caffe reads double_data instead of data when both exist; a mix is not worth guessing. */
    if (acc->pos != SIZE_MAX && acc->kind != kind)
        return fail(d, CLSSD_ERR_BAD_MODEL, "data",
                    "blob holds both float data and double_data (offset %zu)", off(d, p));
    caffe_field *f;
    if (acc->pos == SIZE_MAX) {
        f = add(d, m, names[N_data], CAFFE_FLOATS, "data");
        if (!f) return d->status;
        acc->pos = m->n_fields - 1;
        acc->cap = 0;
        acc->kind = kind;
    } else {
        f = &m->fields[acc->pos];
    }
    /* an empty packed run: the field exists, with no values and maybe no buffer yet */
    if (n == 0) return CLSSD_OK;
    size_t total;
    if (!clssd__add_size(f->n_floats, n, &total))
        return fail(d, CLSSD_ERR_BAD_MODEL, "data", "too many values");
    if (total > acc->cap) {
        size_t cap = acc->cap && total < acc->cap * 2 ? acc->cap * 2 : total, bytes;
        if (!clssd__mul_size(cap, sizeof(float), &bytes))
            return fail(d, CLSSD_ERR_BAD_MODEL, "data", "too many values");
        float *grown = clssd__realloc(f->floats, bytes);
        if (!grown)
            return fail(d, CLSSD_ERR_OUT_OF_MEMORY, "data", "out of memory for %zu floats", cap);
        f->floats = grown;
        acc->cap = cap;
    }
    float *dst = f->floats + f->n_floats;
    if (kind == S_DDATA) {
        for (size_t k = 0; k < n; k++)
            dst[k] = narrow(f64_from_bits(load_u64(p + 8 * k)));
    } else if (host_is_le()) {
        memcpy(dst, p, n * sizeof(float));
    } else {
        for (size_t k = 0; k < n; k++)
            dst[k] = f32_from_bits(load_u32(p + 4 * k));
    }
    f->n_floats = total;
    return CLSSD_OK;
}

static int is_int_kind(skind k)
{
    return k == S_I32 || k == S_I64 || k == S_U32 || k == S_U64 || k == S_BOOL || k == S_ENUM;
}

static clssd_status decode(dec *d, const smsg *type, const uint8_t *p, const uint8_t *end,
                           caffe_msg *out);

/* The failing field for messages: "layer[37]" (the index the field would have taken),
 * "name", or "field 12345" for numbers outside the schema. Built only on failure, since
 * counting siblings costs a pass over the message. */
static const char *field_label(const caffe_msg *out, const sfield *sf, uint64_t number,
                               char buf[64])
{
    if (!sf) {
        snprintf(buf, 64, "field %llu", (unsigned long long)number);
    } else if (sf->repeated && sf->kind == S_MSG) {
        size_t idx = 0;
        for (size_t i = 0; i < out->n_fields; i++)
            if (out->fields[i].name == names[sf->name]) idx++;
        snprintf(buf, 64, "%s[%zu]", names[sf->name], idx);
    } else {
        snprintf(buf, 64, "%s", names[sf->name]);
    }
    return buf;
}

static clssd_status decode_len(dec *d, caffe_msg *out, const sfield *sf, const uint8_t *p,
                               size_t len, blob_acc *acc)
{
    const char *nm = names[sf->name];
    skind k = (skind)sf->kind;
    if (k == S_STR) {
        char *s = clssd__malloc(len + 1);
        if (!s) return fail(d, CLSSD_ERR_OUT_OF_MEMORY, nm, "out of memory");
        memcpy(s, p, len);
        s[len] = '\0';
        caffe_field *f = add(d, out, nm, CAFFE_STRING, nm);
        if (!f) {
            clssd__free(s);
            return d->status;
        }
        f->s = s;
        return CLSSD_OK;
    }
    if (k == S_MSG) {
        if (d->depth >= CAFFE_MAX_DEPTH)
            return fail(d, CLSSD_ERR_BAD_MODEL, nm, "messages nested deeper than %d at offset %zu",
                        CAFFE_MAX_DEPTH, off(d, p));
        caffe_msg *sub = clssd__caffe_msg_new();
        if (!sub) return fail(d, CLSSD_ERR_OUT_OF_MEMORY, nm, "out of memory");
        caffe_field *f = add(d, out, nm, CAFFE_MSG, nm);
        if (!f) {
            caffe_msg_free(sub);
            return d->status;
        }
        f->m = sub;
        frame *fr = &d->stack[++d->depth];
        fr->parent = out;
        fr->pos = out->n_fields - 1;
        fr->repeated = sf->repeated;
        clssd_status s = decode(d, &msgs[sf->ref], p, p + len, sub);
        if (s == CLSSD_OK) d->depth--;
        return s;
    }
    if (k == S_DATA || k == S_DDATA) {
        size_t width = k == S_DATA ? 4 : 8;
        if (len % width)
            return fail(d, CLSSD_ERR_BAD_MODEL, k == S_DATA ? "data" : "double_data",
                        "packed length %zu is not a multiple of %zu at offset %zu", len, width,
                        off(d, p));
        return append_data(d, out, acc, k, p, len / width);
    }
    /* Packed repeated scalars: one field per element. */
    const uint8_t *q = p, *qend = p + len;
    if (is_int_kind(k)) {
        while (q < qend) {
            uint64_t v;
            const uint8_t *at = q;
            if (!read_varint(&q, qend, &v))
                return fail(d, CLSSD_ERR_BAD_MODEL, nm, "malformed packed varint at offset %zu",
                            off(d, at));
            CLSSD_TRY(add_int(d, out, sf, v));
        }
        return CLSSD_OK;
    }
    if (k == S_F32 || k == S_F64) {
        size_t width = k == S_F32 ? 4 : 8;
        if (len % width)
            return fail(d, CLSSD_ERR_BAD_MODEL, nm,
                        "packed length %zu is not a multiple of %zu at offset %zu", len, width,
                        off(d, p));
        for (; q < qend; q += width)
            CLSSD_TRY(add_float(d, out, sf,
                                width == 4 ? (double)f32_from_bits(load_u32(q))
                                           : f64_from_bits(load_u64(q))));
        return CLSSD_OK;
    }
    return CLSSD_OK; /* S_V1TYPE packed: not something Caffe writes; ignored like protobuf */
}

static clssd_status decode(dec *d, const smsg *type, const uint8_t *p, const uint8_t *end,
                           caffe_msg *out)
{
    blob_acc acc = {SIZE_MAX, 0, S_DATA};
    while (p < end) {
        const uint8_t *at = p;
        uint64_t key;
        if (!read_varint(&p, end, &key))
            return fail(d, CLSSD_ERR_BAD_MODEL, "field key",
                        "malformed varint at offset %zu (%zu bytes left)", off(d, at),
                        (size_t)(end - at));
        uint64_t number = key >> 3;
        unsigned wt = (unsigned)(key & 7);
        if (number == 0 || number > 536870911u)
            return fail(d, CLSSD_ERR_BAD_MODEL, "field key",
                        "invalid field number %llu at offset %zu", (unsigned long long)number,
                        off(d, at));
        const sfield *sf = field_by_number(type, number);
        char lb[64]; /* field_label() */
        skind k = sf ? (skind)sf->kind : S_MSG;
        switch (wt) {
        case 0: {
            uint64_t v;
            if (!read_varint(&p, end, &v))
                return fail(d, CLSSD_ERR_BAD_MODEL, field_label(out, sf, number, lb),
                            "malformed varint at offset %zu", off(d, p));
            if (!sf) break;
            if (is_int_kind(k)) {
                CLSSD_TRY(add_int(d, out, sf, v));
            } else if (k == S_V1TYPE) {
                int64_t t = as_i64(v);
                const char *tn = caffe_v1_type_name(t);
                caffe_field *f =
                    add(d, out, names[sf->name], tn ? CAFFE_STRING : CAFFE_INT, names[sf->name]);
                if (!f) return d->status;
                f->i = t;
                if (tn) {
                    size_t n = strlen(tn);
                    if (!(f->s = clssd__malloc(n + 1)))
                        return fail(d, CLSSD_ERR_OUT_OF_MEMORY, field_label(out, sf, number, lb),
                                    "out of memory");
                    memcpy(f->s, tn, n + 1);
                }
            }
            break;
        }
        case 1:
            if ((size_t)(end - p) < 8)
                return fail(d, CLSSD_ERR_BAD_MODEL, field_label(out, sf, number, lb),
                            "8-byte value exceeds the %zu bytes left at offset %zu",
                            (size_t)(end - p), off(d, p));
            if (sf && k == S_F64) {
                CLSSD_TRY(add_float(d, out, sf, f64_from_bits(load_u64(p))));
            } else if (sf && k == S_DDATA) {
                CLSSD_TRY(append_data(d, out, &acc, k, p, 1));
            }
            p += 8;
            break;
        case 2: {
            uint64_t len;
            const uint8_t *lat = p;
            if (!read_varint(&p, end, &len))
                return fail(d, CLSSD_ERR_BAD_MODEL, field_label(out, sf, number, lb),
                            "malformed length at offset %zu", off(d, lat));
            if (len > (uint64_t)(end - p))
                return fail(d, CLSSD_ERR_BAD_MODEL, field_label(out, sf, number, lb),
                            "length %llu exceeds the %zu bytes left at offset %zu",
                            (unsigned long long)len, (size_t)(end - p), off(d, p));
            if (sf) CLSSD_TRY(decode_len(d, out, sf, p, (size_t)len, &acc));
            p += len;
            break;
        }
        case 5:
            if ((size_t)(end - p) < 4)
                return fail(d, CLSSD_ERR_BAD_MODEL, field_label(out, sf, number, lb),
                            "4-byte value exceeds the %zu bytes left at offset %zu",
                            (size_t)(end - p), off(d, p));
            if (sf && k == S_F32) {
                CLSSD_TRY(add_float(d, out, sf, (double)f32_from_bits(load_u32(p))));
            } else if (sf && k == S_DATA) {
                CLSSD_TRY(append_data(d, out, &acc, k, p, 1));
            }
            p += 4;
            break;
        default:
            /* 3/4 are proto1 groups, which caffe.proto never uses; 6/7 do not exist. */
            return fail(d, CLSSD_ERR_BAD_MODEL, field_label(out, sf, number, lb),
                        "unsupported wire type %u at offset %zu", wt, off(d, at));
        }
    }
    return CLSSD_OK;
}

clssd_status caffe_parse_binary(const uint8_t *data, size_t len, const char *root, caffe_msg **out,
                                char *err, size_t err_size)
{
    if (err && err_size) err[0] = '\0';
    if (out) *out = NULL;
    if (!out || (!data && len) || !root) {
        if (err && err_size) snprintf(err, err_size, "caffe_parse_binary: invalid arguments");
        return CLSSD_ERR_INVALID_ARG;
    }
    const smsg *type = msg_by_name(root);
    if (!type) {
        if (err && err_size) snprintf(err, err_size, "unknown root message type '%s'", root);
        return CLSSD_ERR_INVALID_ARG;
    }
    caffe_msg *m = clssd__caffe_msg_new();
    if (!m) {
        if (err && err_size) snprintf(err, err_size, "out of memory");
        return CLSSD_ERR_OUT_OF_MEMORY;
    }
    const uint8_t *p = data ? data : (const uint8_t *)"";
    dec d;
    d.base = p;
    d.n_fields = 0;
    d.depth = 0;
    d.err = err;
    d.err_size = err_size;
    d.status = CLSSD_OK;
    clssd_status s = decode(&d, type, p, p + len, m);
    if (s != CLSSD_OK) {
        caffe_msg_free(m);
        return s;
    }
    *out = m;
    return CLSSD_OK;
}
