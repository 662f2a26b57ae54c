/* Tests of the Caffe readers (src/import/caffe_text.c, caffe_wire.c, caffe_msg.c).
 *
 * Expected values for the real files in shared/models were found independently of this
 * library: layer counts and parameters by reading the prototxt files, and blob shapes, byte
 * offsets, float values and checksums with a separate protobuf wire-format walker written in
 * Python (struct.unpack on the raw bytes). Raw-byte checks here decode the file themselves
 * at those offsets. Hand-made binary messages come from a small encoder in this file.
 *
 * For leak checking run:  CK_FORK=no valgrind --leak-check=full ./test_caffe_parse */
#include <check.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "caffe.h"

#ifndef CLSSD_SHARED_DIR
#error "CLSSD_SHARED_DIR must name the shared/ directory"
#endif
#define MODELS CLSSD_SHARED_DIR "/models/"

/* ---------------------------------------------------------------- helpers */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint8_t *read_all(const char *path, size_t *size)
{
    FILE *fp = fopen(path, "rb");
    ck_assert_msg(fp != NULL, "cannot open %s", path);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    ck_assert(n >= 0);
    uint8_t *b = malloc((size_t)n + 1);
    ck_assert(b != NULL);
    ck_assert_uint_eq(fread(b, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *size = (size_t)n;
    return b;
}

static caffe_msg *load(const char *rel, int binary)
{
    char path[512], err[512];
    snprintf(path, sizeof path, "%s%s", MODELS, rel);
    caffe_msg *m = NULL;
    clssd_status s = caffe_parse_file(path, binary, &m, err, sizeof err);
    ck_assert_msg(s == CLSSD_OK, "%s: status %d: %s", rel, (int)s, err);
    ck_assert(m != NULL);
    return m;
}

static caffe_msg *text(const char *src)
{
    char err[512];
    caffe_msg *m = NULL;
    clssd_status s = caffe_parse_text(src, strlen(src), &m, err, sizeof err);
    ck_assert_msg(s == CLSSD_OK, "status %d: %s\n--- input:\n%s", (int)s, err, src);
    return m;
}

/* The text parser's error for src, which must fail with BAD_MODEL. */
static void text_error(const char *src, size_t len, char *err, size_t err_size)
{
    caffe_msg *m = (caffe_msg *)1;
    clssd_status s = caffe_parse_text(src, len, &m, err, err_size);
    ck_assert_msg(s == CLSSD_ERR_BAD_MODEL, "expected BAD_MODEL, got %d for: %.*s", (int)s,
                  (int)len, src);
    ck_assert(m == NULL);
    ck_assert(err[0] != '\0');
}

static const caffe_msg *find_layer(const caffe_msg *net, const char *field, const char *name)
{
    for (size_t i = 0; i < caffe_msg_count(net, field); i++) {
        const caffe_msg *l = caffe_get_msg(net, field, i);
        const char *n = caffe_get_str(l, "name", 0, NULL);
        if (n && strcmp(n, name) == 0) return l;
    }
    ck_abort_msg("layer '%s' not found", name);
    return NULL;
}

static float le_f32(const uint8_t *p)
{
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static int same_bits(float a, float b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

/* Shape of blob `bi` of `layer` as dims[], returns the number of dims. */
static size_t blob_dims(const caffe_msg *layer, size_t bi, int64_t dims[8])
{
    const caffe_msg *blob = caffe_get_msg(layer, "blobs", bi);
    ck_assert(blob != NULL);
    const caffe_msg *shape = caffe_get_msg(blob, "shape", 0);
    ck_assert(shape != NULL);
    size_t n = caffe_msg_count(shape, "dim");
    ck_assert(n <= 8);
    for (size_t i = 0; i < n; i++)
        dims[i] = caffe_get_int(shape, "dim", i, -99);
    return n;
}

static const caffe_field *blob_data(const caffe_msg *layer, size_t bi)
{
    const caffe_msg *blob = caffe_get_msg(layer, "blobs", bi);
    ck_assert(blob != NULL);
    const caffe_field *f = caffe_msg_get(blob, "data", 0);
    ck_assert(f != NULL);
    ck_assert_int_eq(f->kind, CAFFE_FLOATS);
    ck_assert_uint_eq(caffe_msg_count(blob, "data"), 1);
    return f;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) /* xorshift64: the same sequence every run */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* ---------------------------------------------------------------- a protobuf encoder */
typedef struct pb {
    uint8_t *p;
    size_t n, cap;
} pb;

static void pb_bytes(pb *b, const void *src, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        ck_assert(b->p != NULL);
    }
    if (n) memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void pb_varint(pb *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        tmp[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v) tmp[n] |= 0x80;
        n++;
    } while (v);
    pb_bytes(b, tmp, n);
}

static void pb_key(pb *b, uint32_t num, unsigned wt)
{
    pb_varint(b, (uint64_t)num << 3 | wt);
}

static void pb_int(pb *b, uint32_t num, int64_t v)
{
    pb_key(b, num, 0);
    pb_varint(b, (uint64_t)v);
}

static void pb_f32(pb *b, uint32_t num, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    uint8_t t[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
    pb_key(b, num, 5);
    pb_bytes(b, t, 4);
}

static void pb_f64(pb *b, uint32_t num, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    uint8_t t[8];
    for (int i = 0; i < 8; i++)
        t[i] = (uint8_t)(u >> (8 * i));
    pb_key(b, num, 1);
    pb_bytes(b, t, 8);
}

static void pb_str(pb *b, uint32_t num, const char *s)
{
    pb_key(b, num, 2);
    pb_varint(b, strlen(s));
    pb_bytes(b, s, strlen(s));
}

/* Appends sub as field num and empties it. */
static void pb_msg(pb *b, uint32_t num, pb *sub)
{
    pb_key(b, num, 2);
    pb_varint(b, sub->n);
    pb_bytes(b, sub->p, sub->n);
    sub->n = 0;
}

static void pb_packed_f32(pb *b, uint32_t num, const float *v, size_t n)
{
    uint8_t *bytes = malloc(n * 4 + 1);
    ck_assert(bytes != NULL);
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        for (int k = 0; k < 4; k++)
            bytes[4 * i + (size_t)k] = (uint8_t)(u >> (8 * k));
    }
    pb_key(b, num, 2);
    pb_varint(b, n * 4);
    pb_bytes(b, bytes, n * 4);
    free(bytes);
}

static void pb_packed_varints(pb *b, uint32_t num, const int64_t *v, size_t n)
{
    pb tmp = {0};
    for (size_t i = 0; i < n; i++)
        pb_varint(&tmp, (uint64_t)v[i]);
    pb_msg(b, num, &tmp);
    free(tmp.p);
}

static caffe_msg *bin(const pb *b)
{
    char err[512];
    caffe_msg *m = NULL;
    clssd_status s = caffe_parse_binary(b->p, b->n, "NetParameter", &m, err, sizeof err);
    ck_assert_msg(s == CLSSD_OK, "status %d: %s", (int)s, err);
    return m;
}

static void bin_error(const pb *b, const char *want)
{
    char err[512];
    caffe_msg *m = (caffe_msg *)1;
    clssd_status s = caffe_parse_binary(b->p, b->n, "NetParameter", &m, err, sizeof err);
    ck_assert_msg(s == CLSSD_ERR_BAD_MODEL, "expected BAD_MODEL, got %d (%s)", (int)s, err);
    ck_assert(m == NULL);
    ck_assert_msg(strstr(err, want) != NULL, "error '%s' lacks '%s'", err, want);
}

/* A NetParameter that touches every decoding path: V2 and V1 layers, packed, unpacked and
 * double blob data, legacy blob dims, packed repeated ints, negative int32, nested params,
 * and unknown fields of all four wire types. */
static void build_handmade(pb *net)
{
    pb layer = {0}, blob = {0}, shape = {0}, sub = {0}, nms = {0};
    pb_str(net, 1, "hand");
    pb_str(net, 3, "data");
    pb_int(net, 4, -1); /* input_dim, int32 -1: a 10-byte varint */
    pb_int(net, 4, 3);

    pb_str(&layer, 1, "c");
    pb_str(&layer, 2, "Convolution");
    pb_str(&layer, 3, "data");
    pb_str(&layer, 4, "c");
    pb_int(&layer, 10, 1);       /* phase TEST */
    pb_int(&layer, 145, 1);      /* a fork's varint at a number the SSD proto uses for a message */
    pb_f64(&layer, 9999, 2.5);   /* unknown fixed64 */
    pb_f32(&layer, 9998, 1.0f);  /* unknown fixed32 */
    pb_str(&layer, 9997, "zzz"); /* unknown length-delimited */
    pb_int(&layer, 9996, 77);    /* unknown varint */
    {
        int64_t dims[] = {2, 3};
        float data[] = {1, 2, 3, 4, 5, 6};
        pb_packed_varints(&shape, 1, dims, 2);
        pb_msg(&blob, 7, &shape);
        pb_packed_f32(&blob, 5, data, 6);
        pb_msg(&layer, 7, &blob);
    }
    { /* double_data, in two packed runs and one single value */
        pb_int(&blob, 1, 1);
        pb_int(&blob, 2, 2);
        pb_int(&blob, 3, 1);
        pb_int(&blob, 4, 2);
        pb tmp = {0};
        double d[] = {0.5, -2.0, 1e300};
        for (int i = 0; i < 2; i++) {
            uint64_t u;
            memcpy(&u, &d[i], 8);
            for (int k = 0; k < 8; k++) {
                uint8_t c = (uint8_t)(u >> (8 * k));
                pb_bytes(&tmp, &c, 1);
            }
        }
        pb_msg(&blob, 8, &tmp);
        pb_f64(&blob, 8, d[2]);
        free(tmp.p);
        pb_msg(&layer, 7, &blob);
    }
    { /* unpacked float data */
        pb_f32(&blob, 5, 7.0f);
        pb_f32(&blob, 5, -8.0f);
        pb_f32(&blob, 5, 9.5f);
        pb_msg(&layer, 7, &blob);
    }
    {
        int64_t pads[] = {1, 2};
        pb_int(&sub, 1, 7);
        pb_packed_varints(&sub, 3, pads, 2);
        pb_int(&sub, 4, 3);
        pb_int(&sub, 5, 1);
        pb_str(&sub, 7, "xavier-filler-ignored");
        pb_msg(&layer, 106, &sub);
    }
    pb_msg(net, 100, &layer);

    pb_str(&layer, 1, "det");
    pb_str(&layer, 2, "DetectionOutput");
    pb_int(&sub, 1, 21);
    pb_int(&sub, 3, -1);
    pb_f32(&nms, 1, 0.45f);
    pb_int(&nms, 2, 400);
    pb_msg(&sub, 4, &nms);
    pb_int(&sub, 6, 2);
    pb_f32(&sub, 9, 0.01f);
    pb_msg(&layer, 204, &sub);
    pb_msg(net, 100, &layer);

    pb_str(&layer, 4, "old"); /* V1: name is 4 */
    pb_int(&layer, 5, 4);     /* CONVOLUTION */
    pb_str(&layer, 2, "data");
    pb_str(&layer, 3, "old");
    pb_int(&sub, 1, 5);
    pb_msg(&layer, 10, &sub); /* V1 convolution_param */
    pb_f32(&blob, 5, 0.25f);
    pb_msg(&layer, 6, &blob); /* V1 blobs */
    pb_msg(net, 2, &layer);

    pb_int(&layer, 5, 21); /* SOFTMAX_LOSS */
    pb_msg(net, 2, &layer);
    pb_int(&layer, 5, 99); /* outside the enum */
    pb_msg(net, 2, &layer);

    free(layer.p);
    free(blob.p);
    free(shape.p);
    free(sub.p);
    free(nms.p);
}

/* ---------------------------------------------------------------- schema, getters */
START_TEST(test_schema)
{
    char err[256] = "";
    ck_assert_msg(clssd__caffe_schema_ok(err, sizeof err), "%s", err);
    ck_assert_str_eq(caffe_v1_type_name(4), "Convolution");
    ck_assert_str_eq(caffe_v1_type_name(21), "SoftmaxWithLoss");
    ck_assert_str_eq(caffe_v1_type_name(39), "Deconvolution");
    ck_assert(caffe_v1_type_name(40) == NULL);
    ck_assert(caffe_v1_type_name(-1) == NULL);
}
END_TEST

START_TEST(test_getters)
{
    caffe_msg *m = text("i: 2 f: 2.0 g: 2.5 t: true F: False s: 'x' e: MAX m { a: 1 } big: 1e300");
    ck_assert_int_eq(caffe_get_int(m, "i", 0, -1), 2);
    ck_assert_int_eq(caffe_get_int(m, "f", 0, -1), 2);
    ck_assert_int_eq(caffe_get_int(m, "g", 0, -1), -1); /* not whole */
    ck_assert_int_eq(caffe_get_int(m, "big", 0, -1), -1);
    ck_assert_int_eq(caffe_get_int(m, "t", 0, -1), 1);
    ck_assert_int_eq(caffe_get_int(m, "F", 0, -1), 0);
    ck_assert_int_eq(caffe_get_int(m, "s", 0, -1), -1);
    ck_assert_int_eq(caffe_get_int(m, "e", 0, -1), -1);
    ck_assert_int_eq(caffe_get_int(m, "i", 1, -1), -1);
    ck_assert(caffe_get_float(m, "i", 0, 0) == 2.0);
    ck_assert(caffe_get_float(m, "g", 0, 0) == 2.5);
    ck_assert(caffe_get_float(m, "s", 0, -3) == -3);
    ck_assert_str_eq(caffe_get_str(m, "s", 0, NULL), "x");
    ck_assert_str_eq(caffe_get_str(m, "e", 0, NULL), "MAX");
    ck_assert(caffe_get_str(m, "i", 0, NULL) == NULL);
    ck_assert(caffe_get_msg(m, "s", 0) == NULL);
    ck_assert_int_eq(caffe_get_int(caffe_get_msg(m, "m", 0), "a", 0, 0), 1);
    ck_assert_int_eq(caffe_get_enum(m, "PoolingParameter", "e", 0, -1), -1); /* field is "pool" */
    ck_assert_int_eq(caffe_get_enum(m, "PoolingParameter", "i", 0, -1), 2);
    ck_assert_uint_eq(caffe_msg_count(m, "i"), 1);
    ck_assert_uint_eq(caffe_msg_count(m, "nope"), 0);
    ck_assert(caffe_msg_get(NULL, "i", 0) == NULL);
    ck_assert_int_eq(caffe_get_int(NULL, "i", 0, 5), 5);
    ck_assert_uint_eq(caffe_msg_count(NULL, "i"), 0);
    caffe_msg_free(m);
    caffe_msg_free(NULL);

    m = text("pool: AVE operation: MAX code_type: CENTER_SIZE phase: TEST engine: CUDNN x: FOO");
    ck_assert_int_eq(caffe_get_enum(m, "PoolingParameter", "pool", 0, -1), 1);
    ck_assert_int_eq(caffe_get_enum(m, "EltwiseParameter", "operation", 0, -1), 2);
    ck_assert_int_eq(caffe_get_enum(m, "DetectionOutputParameter", "code_type", 0, -1), 2);
    ck_assert_int_eq(caffe_get_enum(m, "NetStateRule", "phase", 0, -1), 1);
    ck_assert_int_eq(caffe_get_enum(m, "LayerParameter", "phase", 0, -1), 1);
    ck_assert_int_eq(caffe_get_enum(m, "ConvolutionParameter", "engine", 0, -1), 2);
    ck_assert_int_eq(caffe_get_enum(m, "PoolingParameter", "x", 0, -1), -1);
    ck_assert_int_eq(caffe_get_enum(m, "NoSuchMessage", "pool", 0, -1), -1);
    caffe_msg_free(m);
}
END_TEST

/* ---------------------------------------------------------------- real prototxt files */
typedef struct text_case {
    const char *rel, *net_name;
    size_t layers, items;
} text_case;

/* Layer counts from `grep -c '^layer {'`, item counts likewise. */
static const text_case text_cases[] = {
    {"ssd_vgg16_caffe_defs/VGG_VOC0712_SSD_300x300_deploy.prototxt",
     "VGG_VOC0712_SSD_300x300_deploy", 101, 0},
    {"ssd_vgg16_caffe_defs/VGG_VOC0712_SSD_300x300_deploy_release_variant.prototxt", NULL, 101, 0},
    {"ssd_vgg16_caffe_defs/VGG_VOC0712_SSD_512x512_deploy.prototxt", NULL, 112, 0},
    {"ssd_vgg16_caffe_defs/VGG_coco_SSD_300x300_deploy.prototxt", NULL, 101, 0},
    {"ssd_vgg16_caffe_defs/VGG_coco_SSD_512x512_deploy.prototxt", NULL, 112, 0},
    {"ssd_vgg16_caffe_defs/labelmap_voc.prototxt", NULL, 0, 21},
    {"ssd_vgg16_caffe_defs/labelmap_coco.prototxt", NULL, 0, 81},
    {"mobilenet_ssd_caffe_defs/MobileNetSSD_deploy.prototxt", "MobileNet-SSD", 119, 0},
    {"mobilenet_ssd_caffe_defs/MobileNetSSD_deploy_bn.prototxt", NULL, 189, 0},
    {"opencv_face_detector_res10_ssd/res10_300x300_ssd_deploy.prototxt", NULL, 112, 0},
    {"yufacedetectnet_caffe_ssd/yufacedetectnet-open-v1.prototxt", "YuFaceDetectNet", 76, 0},
    {"yufacedetectnet_caffe_ssd/yufacedetectnet-open-v2.prototxt", NULL, 76, 0},
    {"ultraface_rfb320_slim320/caffe/RFB-320.prototxt", NULL, 111, 0},
    {"ultraface_rfb320_slim320/caffe/slim-320.prototxt", NULL, 96, 0},
};
#define N_TEXT_CASES (sizeof text_cases / sizeof text_cases[0])

START_TEST(test_text_files)
{
    const text_case *c = &text_cases[_i];
    caffe_msg *net = load(c->rel, 0);
    ck_assert_uint_eq(caffe_msg_count(net, "layer"), c->layers);
    ck_assert_uint_eq(caffe_msg_count(net, "item"), c->items);
    ck_assert_uint_eq(caffe_msg_count(net, "layers"), 0);
    if (c->net_name) ck_assert_str_eq(caffe_get_str(net, "name", 0, ""), c->net_name);
    for (size_t i = 0; i < c->layers; i++) {
        const caffe_msg *l = caffe_get_msg(net, "layer", i);
        ck_assert(l != NULL);
        ck_assert(caffe_msg_get(l, "name", 0)->kind == CAFFE_STRING);
        ck_assert(caffe_msg_get(l, "type", 0)->kind == CAFFE_STRING);
    }
    caffe_msg_free(net);
}
END_TEST

START_TEST(test_text_vgg300)
{
    caffe_msg *net = load("ssd_vgg16_caffe_defs/VGG_VOC0712_SSD_300x300_deploy.prototxt", 0);
    ck_assert_str_eq(caffe_get_str(net, "input", 0, ""), "data");
    const caffe_msg *shape = caffe_get_msg(net, "input_shape", 0);
    ck_assert_uint_eq(caffe_msg_count(shape, "dim"), 4);
    ck_assert_int_eq(caffe_get_int(shape, "dim", 2, 0), 300);

    const caffe_msg *l = find_layer(net, "layer", "conv1_1");
    ck_assert_str_eq(caffe_get_str(l, "type", 0, ""), "Convolution");
    ck_assert_str_eq(caffe_get_str(l, "bottom", 0, ""), "data");
    ck_assert_uint_eq(caffe_msg_count(l, "param"), 2);
    ck_assert(caffe_get_float(caffe_get_msg(l, "param", 1), "lr_mult", 0, 0) == 2);
    const caffe_msg *cp = caffe_get_msg(l, "convolution_param", 0);
    ck_assert_int_eq(caffe_get_int(cp, "num_output", 0, 0), 64);
    ck_assert_int_eq(caffe_get_int(cp, "pad", 0, 0), 1);
    ck_assert_int_eq(caffe_get_int(cp, "kernel_size", 0, 0), 3);
    ck_assert_str_eq(caffe_get_str(caffe_get_msg(cp, "weight_filler", 0), "type", 0, ""), "xavier");

    cp = caffe_get_msg(find_layer(net, "layer", "fc6"), "convolution_param", 0);
    ck_assert_int_eq(caffe_get_int(cp, "num_output", 0, 0), 1024);
    ck_assert_int_eq(caffe_get_int(cp, "pad", 0, 0), 6);
    ck_assert_int_eq(caffe_get_int(cp, "dilation", 0, 0), 6);

    const caffe_msg *np = caffe_get_msg(find_layer(net, "layer", "conv4_3_norm"), "norm_param", 0);
    ck_assert_int_eq(caffe_msg_get(np, "across_spatial", 0)->kind, CAFFE_IDENT);
    ck_assert_int_eq(caffe_get_int(np, "across_spatial", 0, -1), 0);
    ck_assert_int_eq(caffe_get_int(np, "channel_shared", 0, -1), 0);
    ck_assert(caffe_get_float(caffe_get_msg(np, "scale_filler", 0), "value", 0, 0) == 20);

    const caffe_msg *pp =
        caffe_get_msg(find_layer(net, "layer", "conv4_3_norm_mbox_priorbox"), "prior_box_param", 0);
    ck_assert(caffe_get_float(pp, "min_size", 0, 0) == 30.0);
    ck_assert(caffe_get_float(pp, "max_size", 0, 0) == 60.0);
    ck_assert(caffe_get_float(pp, "aspect_ratio", 0, 0) == 2);
    ck_assert_int_eq(caffe_get_int(pp, "flip", 0, -1), 1);
    ck_assert_int_eq(caffe_get_int(pp, "clip", 0, -1), 0);
    ck_assert_uint_eq(caffe_msg_count(pp, "variance"), 4);
    ck_assert(caffe_get_float(pp, "variance", 0, 0) == 0.1);
    ck_assert(caffe_get_float(pp, "variance", 3, 0) == 0.2);
    ck_assert(caffe_get_float(pp, "step", 0, 0) == 8);
    ck_assert(caffe_get_float(pp, "offset", 0, 0) == 0.5);

    const caffe_msg *det = find_layer(net, "layer", "detection_out");
    ck_assert_uint_eq(caffe_msg_count(det, "bottom"), 3);
    ck_assert_int_eq(
        caffe_get_enum(caffe_get_msg(det, "include", 0), "NetStateRule", "phase", 0, -1), 1);
    const caffe_msg *dp = caffe_get_msg(det, "detection_output_param", 0);
    ck_assert_int_eq(caffe_get_int(dp, "num_classes", 0, 0), 21);
    ck_assert_int_eq(caffe_get_int(dp, "share_location", 0, 0), 1);
    ck_assert_int_eq(caffe_get_int(dp, "background_label_id", 0, -1), 0);
    ck_assert_int_eq(caffe_get_enum(dp, "DetectionOutputParameter", "code_type", 0, 0), 2);
    ck_assert_int_eq(caffe_get_int(dp, "keep_top_k", 0, 0), 1000);
    ck_assert(caffe_get_float(dp, "confidence_threshold", 0, 0) == 0.01);
    const caffe_msg *nms = caffe_get_msg(dp, "nms_param", 0);
    ck_assert(caffe_get_float(nms, "nms_threshold", 0, 0) == 0.5);
    ck_assert_int_eq(caffe_get_int(nms, "top_k", 0, 0), 1200);
    caffe_msg_free(net);

    net = load("ssd_vgg16_caffe_defs/VGG_VOC0712_SSD_300x300_deploy_release_variant.prototxt", 0);
    dp = caffe_get_msg(find_layer(net, "layer", "detection_out"), "detection_output_param", 0);
    ck_assert_str_eq(
        caffe_get_str(caffe_get_msg(dp, "save_output_param", 0), "label_map_file", 0, ""),
        "labelmap_voc.prototxt");
    ck_assert(caffe_get_float(dp, "confidence_threshold", 0, 0) == 0.5);
    caffe_msg_free(net);
}
END_TEST

START_TEST(test_text_labelmaps)
{
    caffe_msg *lm = load("ssd_vgg16_caffe_defs/labelmap_voc.prototxt", 0);
    const caffe_msg *it = caffe_get_msg(lm, "item", 1);
    ck_assert_str_eq(caffe_get_str(it, "name", 0, ""), "aeroplane");
    ck_assert_int_eq(caffe_get_int(it, "label", 0, -1), 1);
    ck_assert_str_eq(caffe_get_str(caffe_get_msg(lm, "item", 0), "display_name", 0, ""),
                     "background");
    caffe_msg_free(lm);
    lm = load("ssd_vgg16_caffe_defs/labelmap_coco.prototxt", 0);
    it = caffe_get_msg(lm, "item", 80);
    ck_assert_str_eq(caffe_get_str(it, "name", 0, ""), "90");
    ck_assert_int_eq(caffe_get_int(it, "label", 0, -1), 80);
    ck_assert_str_eq(caffe_get_str(it, "display_name", 0, ""), "toothbrush");
    caffe_msg_free(lm);
}
END_TEST

START_TEST(test_text_other_nets)
{
    caffe_msg *net = load("mobilenet_ssd_caffe_defs/MobileNetSSD_deploy.prototxt", 0);
    const caffe_msg *cp =
        caffe_get_msg(find_layer(net, "layer", "conv1/dw"), "convolution_param", 0);
    ck_assert_int_eq(caffe_get_int(cp, "num_output", 0, 0), 32);
    ck_assert_int_eq(caffe_get_int(cp, "group", 0, 0), 32);
    ck_assert_int_eq(caffe_get_enum(cp, "ConvolutionParameter", "engine", 0, -1), 1);
    const caffe_msg *dp =
        caffe_get_msg(find_layer(net, "layer", "detection_out"), "detection_output_param", 0);
    ck_assert(caffe_get_float(dp, "confidence_threshold", 0, 0) == 0.25);
    caffe_msg_free(net);

    net = load("opencv_face_detector_res10_ssd/res10_300x300_ssd_deploy.prototxt", 0);
    const caffe_msg *l = find_layer(net, "layer", "data_scale");
    ck_assert_int_eq(caffe_get_int(caffe_get_msg(l, "scale_param", 0), "bias_term", 0, 0), 1);
    l = find_layer(net, "layer", "layer_64_1_sum");
    ck_assert_str_eq(caffe_get_str(l, "type", 0, ""), "Eltwise");
    ck_assert_uint_eq(caffe_msg_count(l, "bottom"), 2);
    dp = caffe_get_msg(find_layer(net, "layer", "detection_out"), "detection_output_param", 0);
    ck_assert_int_eq(caffe_get_int(dp, "num_classes", 0, 0), 2);
    ck_assert_int_eq(caffe_get_int(dp, "clip", 0, -1), 1); /* OpenCV's extra field, kept */
    ck_assert(caffe_get_float(caffe_get_msg(dp, "nms_param", 0), "nms_threshold", 0, 0) == 0.45);
    caffe_msg_free(net);

    net = load("yufacedetectnet_caffe_ssd/yufacedetectnet-open-v1.prototxt", 0);
    const caffe_msg *shape = caffe_get_msg(net, "input_shape", 0);
    ck_assert_int_eq(caffe_get_int(shape, "dim", 2, 0), 240);
    ck_assert_int_eq(caffe_get_int(shape, "dim", 3, 0), 320);
    const caffe_msg *pp =
        caffe_get_msg(find_layer(net, "layer", "conv3_3_norm_mbox_priorbox"), "prior_box_param", 0);
    ck_assert_uint_eq(caffe_msg_count(pp, "min_size"), 3);
    ck_assert(caffe_get_float(pp, "min_size", 0, 0) == 10);
    ck_assert(caffe_get_float(pp, "min_size", 1, 0) == 16);
    ck_assert(caffe_get_float(pp, "min_size", 2, 0) == 24);
    ck_assert(caffe_get_float(pp, "variance", 0, 0) == 0.10000000149);
    l = find_layer(net, "layer", "detection_out");
    ck_assert_uint_eq(caffe_msg_count(l, "bottom"), 3); /* the 4th is commented out */
    ck_assert(caffe_get_float(caffe_get_msg(l, "transform_param", 0), "mean_value", 2, 0) ==
              123.68);
    dp = caffe_get_msg(l, "detection_output_param", 0);
    ck_assert(caffe_get_float(caffe_get_msg(dp, "nms_param", 0), "nms_threshold", 0, 0) == 0.15);
    ck_assert_int_eq(caffe_get_int(caffe_get_msg(dp, "nms_param", 0), "top_k", 0, 0), 100);
    ck_assert_int_eq(caffe_get_int(dp, "keep_top_k", 0, 0), 50);
    ck_assert_int_eq(caffe_get_int(dp, "visualize", 0, -1), 0);
    caffe_msg_free(net);

    net = load("ultraface_rfb320_slim320/caffe/RFB-320.prototxt", 0);
    l = find_layer(net, "layer", "input");
    shape = caffe_get_msg(caffe_get_msg(l, "input_param", 0), "shape", 0);
    ck_assert_int_eq(caffe_get_int(shape, "dim", 1, 0), 3);
    ck_assert_int_eq(caffe_get_int(shape, "dim", 2, 0), 240);
    shape = caffe_get_msg(caffe_get_msg(find_layer(net, "layer", "328"), "reshape_param", 0),
                          "shape", 0);
    ck_assert_uint_eq(caffe_msg_count(shape, "dim"), 3);
    ck_assert_int_eq(caffe_get_int(shape, "dim", 1, 0), -1);
    ck_assert_int_eq(caffe_get_int(shape, "dim", 2, 0), 2);
    caffe_msg_free(net);
}
END_TEST

/* ---------------------------------------------------------------- real caffemodels */
typedef struct bin_case {
    const char *rel, *net_name;
    size_t layers, blobs, floats;
    double sum, sum_abs; /* over every float, in file order, accumulated in double */
    const char *probe;   /* a layer whose blob 0 starts at probe_off */
    int64_t probe_dims[4];
    size_t probe_n, probe_off;
    float probe_first[4];
    const char *last_layer; /* whose last blob's last float is at last_off */
    size_t last_off;
    float last_value;
} bin_case;

static const bin_case bin_cases[] = {
    {"yufacedetectnet_caffe_ssd/yufacedetectnet-open-v1.caffemodel",
     "yunet_for_face_detection",
     82,
     28,
     673360,
     940.9547954601735,
     16633.229661420824,
     "conv1_1",
     {16, 3, 3, 3},
     432,
     667,
     {-0.103235528f, 0.0914364681f, -0.066348277f, -0.16194047f},
     "conv6_3_norm_mbox_conf",
     2701971,
     0.0324865878f},
    {"yufacedetectnet_caffe_ssd/yufacedetectnet-open-v2.caffemodel",
     "YuFaceDetectNet",
     82,
     28,
     873632,
     1040.5654633306985,
     20428.572213727686,
     "conv1_1",
     {32, 3, 3, 3},
     864,
     643,
     {-0.277529925f, -0.314550072f, -0.243069708f, 0.557004631f},
     "conv6_3_norm_mbox_conf",
     3503029,
     0.0037907029f},
    {"ultraface_rfb320_slim320/caffe/RFB-320.caffemodel",
     "",
     116,
     104,
     273888,
     -1738.4877690646754,
     33343.715417980151,
     "245",
     {16, 3, 3, 3},
     432,
     81,
     {-0.279611677f, -0.310901344f, -0.245127589f, -0.255500764f},
     "447",
     1102258,
     -0.0726367235f},
    {"ultraface_rfb320_slim320/caffe/slim-320.caffemodel",
     "",
     100,
     84,
     257916,
     -874.0272221769028,
     26816.633700836443,
     "185",
     {16, 3, 3, 3},
     432,
     81,
     {-0.0131420456f, 0.00861605722f, -0.0303933863f, -0.00851830188f},
     "362",
     1037234,
     -0.0839644149f},
};
#define N_BIN_CASES (sizeof bin_cases / sizeof bin_cases[0])

START_TEST(test_binary_files)
{
    const bin_case *c = &bin_cases[_i];
    char path[512];
    snprintf(path, sizeof path, "%s%s", MODELS, c->rel);
    size_t size;
    uint8_t *raw = read_all(path, &size);
    caffe_msg *net = load(c->rel, 1);
    ck_assert_uint_eq(caffe_msg_count(net, "layer"), c->layers);
    ck_assert_str_eq(caffe_get_str(net, "name", 0, "(absent)"), c->net_name);

    size_t blobs = 0, floats = 0;
    double sum = 0, sum_abs = 0;
    for (size_t i = 0; i < c->layers; i++) {
        const caffe_msg *l = caffe_get_msg(net, "layer", i);
        ck_assert(caffe_get_str(l, "name", 0, NULL) != NULL);
        ck_assert(caffe_get_str(l, "type", 0, NULL) != NULL);
        for (size_t b = 0; b < caffe_msg_count(l, "blobs"); b++) {
            const caffe_field *d = blob_data(l, b);
            int64_t dims[8];
            size_t nd = blob_dims(l, b, dims);
            size_t count = 1;
            for (size_t k = 0; k < nd; k++)
                count *= (size_t)dims[k];
            ck_assert_uint_eq(count, d->n_floats); /* shape and data agree */
            for (size_t k = 0; k < d->n_floats; k++) {
                sum += (double)d->floats[k];
                sum_abs += fabs((double)d->floats[k]);
            }
            blobs++;
            floats += d->n_floats;
        }
    }
    ck_assert_uint_eq(blobs, c->blobs);
    ck_assert_uint_eq(floats, c->floats);
    ck_assert_msg(sum == c->sum, "sum %.17g, expected %.17g", sum, c->sum);
    ck_assert_msg(sum_abs == c->sum_abs, "sum_abs %.17g, expected %.17g", sum_abs, c->sum_abs);

    const caffe_msg *l = find_layer(net, "layer", c->probe);
    int64_t dims[8];
    ck_assert_uint_eq(blob_dims(l, 0, dims), 4);
    for (int k = 0; k < 4; k++)
        ck_assert_int_eq(dims[k], c->probe_dims[k]);
    const caffe_field *d = blob_data(l, 0);
    ck_assert_uint_eq(d->n_floats, c->probe_n);
    for (int k = 0; k < 4; k++) {
        ck_assert(same_bits(d->floats[k], c->probe_first[k]));
        ck_assert(same_bits(d->floats[k], le_f32(raw + c->probe_off + 4 * (size_t)k)));
    }
    for (size_t k = 0; k < d->n_floats; k++)
        ck_assert(same_bits(d->floats[k], le_f32(raw + c->probe_off + 4 * k)));

    l = find_layer(net, "layer", c->last_layer);
    d = blob_data(l, caffe_msg_count(l, "blobs") - 1);
    ck_assert(same_bits(d->floats[d->n_floats - 1], c->last_value));
    ck_assert(same_bits(d->floats[d->n_floats - 1], le_f32(raw + c->last_off)));
    ck_assert_uint_le(c->last_off + 4, size);
    caffe_msg_free(net);
    free(raw);
}
END_TEST

START_TEST(test_binary_params)
{
    caffe_msg *net = load("yufacedetectnet_caffe_ssd/yufacedetectnet-open-v1.caffemodel", 1);
    const caffe_msg *l = find_layer(net, "layer", "conv1_1");
    ck_assert_str_eq(caffe_get_str(l, "type", 0, ""), "Convolution");
    ck_assert_int_eq(caffe_get_int(l, "phase", 0, -1), 0);
    ck_assert_uint_eq(caffe_msg_count(l, "blobs"), 1);
    const caffe_msg *cp = caffe_get_msg(l, "convolution_param", 0);
    ck_assert_int_eq(caffe_get_int(cp, "num_output", 0, 0), 16);
    ck_assert_int_eq(caffe_get_int(cp, "bias_term", 0, -1), 0);
    ck_assert_int_eq(caffe_get_int(cp, "pad", 0, 0), 1);
    ck_assert_int_eq(caffe_get_int(cp, "kernel_size", 0, 0), 3);
    ck_assert_int_eq(caffe_get_int(cp, "stride", 0, 0), 2);
    ck_assert(caffe_msg_get(cp, "weight_filler", 0) == NULL); /* outside the subset */

    l = find_layer(net, "layer", "conv3_3_norm");
    ck_assert_str_eq(caffe_get_str(l, "type", 0, ""), "Normalize");
    const caffe_msg *np = caffe_get_msg(l, "norm_param", 0);
    ck_assert_int_eq(caffe_get_int(np, "across_spatial", 0, -1), 0);
    ck_assert_int_eq(caffe_get_int(np, "channel_shared", 0, -1), 0);
    int64_t dims[8];
    ck_assert_uint_eq(blob_dims(l, 0, dims), 1);
    ck_assert_int_eq(dims[0], 32);
    ck_assert(same_bits(blob_data(l, 0)->floats[0], 6.59230614f));

    const caffe_msg *pp =
        caffe_get_msg(find_layer(net, "layer", "conv3_3_norm_mbox_priorbox"), "prior_box_param", 0);
    ck_assert_uint_eq(caffe_msg_count(pp, "min_size"), 3);
    ck_assert(caffe_get_float(pp, "min_size", 0, 0) == 10);
    ck_assert(caffe_get_float(pp, "min_size", 1, 0) == 16);
    ck_assert(caffe_get_float(pp, "min_size", 2, 0) == 24);
    ck_assert_uint_eq(caffe_msg_count(pp, "variance"), 4);
    ck_assert(caffe_get_float(pp, "variance", 0, 0) == (double)0.1f);
    ck_assert(caffe_get_float(pp, "variance", 2, 0) == (double)0.2f);
    ck_assert(caffe_get_float(pp, "step", 0, 0) == 8);
    ck_assert(caffe_get_float(pp, "offset", 0, 0) == 0.5);
    ck_assert_int_eq(caffe_get_int(pp, "clip", 0, -1), 0);
    ck_assert(caffe_msg_get(pp, "flip", 0) == NULL);

    l = find_layer(net, "layer", "conv3_3_norm_mbox_loc_perm");
    const caffe_msg *perm = caffe_get_msg(l, "permute_param", 0);
    ck_assert_uint_eq(caffe_msg_count(perm, "order"), 4);
    ck_assert_int_eq(caffe_get_int(perm, "order", 1, 0), 2);
    ck_assert_int_eq(caffe_get_int(perm, "order", 3, 0), 1);
    ck_assert_str_eq(caffe_get_str(caffe_get_msg(net, "layer", 81), "type", 0, ""), "MultiBoxLoss");
    caffe_msg_free(net);

    net = load("ultraface_rfb320_slim320/caffe/RFB-320.caffemodel", 1);
    l = find_layer(net, "layer", "input");
    const caffe_msg *shape = caffe_get_msg(caffe_get_msg(l, "input_param", 0), "shape", 0);
    ck_assert_uint_eq(caffe_msg_count(shape, "dim"), 4);
    ck_assert_int_eq(caffe_get_int(shape, "dim", 0, 0), 1);
    ck_assert_int_eq(caffe_get_int(shape, "dim", 1, 0), 3);
    ck_assert_int_eq(caffe_get_int(shape, "dim", 2, 0), 240);
    ck_assert_int_eq(caffe_get_int(shape, "dim", 3, 0), 320);
    cp = caffe_get_msg(find_layer(net, "layer", "248"), "convolution_param", 0);
    ck_assert_int_eq(caffe_get_int(cp, "num_output", 0, 0), 16);
    ck_assert_int_eq(caffe_get_int(cp, "group", 0, 0), 16);
    ck_assert_int_eq(caffe_get_int(cp, "pad_h", 0, 0), 1);
    ck_assert_int_eq(caffe_get_int(cp, "kernel_w", 0, 0), 3);
    ck_assert_int_eq(caffe_get_int(cp, "stride_h", 0, 0), 1);
    ck_assert_int_eq(caffe_get_int(cp, "dilation", 0, 0), 1);
    ck_assert_int_eq(caffe_get_int(cp, "bias_term", 0, 0), 1);
    l = find_layer(net, "layer", "245");
    ck_assert_uint_eq(blob_dims(l, 1, dims), 1);
    ck_assert_int_eq(dims[0], 16);
    ck_assert(same_bits(blob_data(l, 1)->floats[0], 0.148393825f));
    ck_assert(same_bits(blob_data(l, 1)->floats[3], 0.464615405f));
    ck_assert_int_eq(
        caffe_get_int(caffe_get_msg(find_layer(net, "layer", "313"), "eltwise_param", 0),
                      "operation", 0, -1),
        1);
    shape = caffe_get_msg(caffe_get_msg(find_layer(net, "layer", "328"), "reshape_param", 0),
                          "shape", 0);
    ck_assert_uint_eq(caffe_msg_count(shape, "dim"), 3);
    ck_assert_int_eq(caffe_get_int(shape, "dim", 0, 0), 1);
    ck_assert_int_eq(caffe_get_int(shape, "dim", 1, 0), -1);
    ck_assert_int_eq(caffe_get_int(shape, "dim", 2, 0), 2);
    ck_assert_int_eq(
        caffe_get_int(caffe_get_msg(find_layer(net, "layer", "scores"), "softmax_param", 0), "axis",
                      0, -1),
        2);
    caffe_msg_free(net);
}
END_TEST

/* The two readers agree: every convolution of the deploy prototxt has a caffemodel layer of
 * the same name whose weight blob has num_output rows and the prototxt's kernel size. */
START_TEST(test_text_binary_agree)
{
    static const char *pairs[][2] = {
        {"yufacedetectnet_caffe_ssd/yufacedetectnet-open-v1.prototxt",
         "yufacedetectnet_caffe_ssd/yufacedetectnet-open-v1.caffemodel"},
        {"yufacedetectnet_caffe_ssd/yufacedetectnet-open-v2.prototxt",
         "yufacedetectnet_caffe_ssd/yufacedetectnet-open-v2.caffemodel"},
        {"ultraface_rfb320_slim320/caffe/RFB-320.prototxt",
         "ultraface_rfb320_slim320/caffe/RFB-320.caffemodel"},
        {"ultraface_rfb320_slim320/caffe/slim-320.prototxt",
         "ultraface_rfb320_slim320/caffe/slim-320.caffemodel"},
    };
    for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; p++) {
        caffe_msg *def = load(pairs[p][0], 0), *w = load(pairs[p][1], 1);
        size_t convs = 0;
        for (size_t i = 0; i < caffe_msg_count(def, "layer"); i++) {
            const caffe_msg *l = caffe_get_msg(def, "layer", i);
            if (strcmp(caffe_get_str(l, "type", 0, ""), "Convolution") != 0) continue;
            const caffe_msg *cp = caffe_get_msg(l, "convolution_param", 0);
            const caffe_msg *wl = find_layer(w, "layer", caffe_get_str(l, "name", 0, ""));
            int64_t dims[8];
            ck_assert_uint_eq(blob_dims(wl, 0, dims), 4);
            ck_assert_int_eq(dims[0], caffe_get_int(cp, "num_output", 0, -1));
            int64_t kh = caffe_get_int(cp, "kernel_h", 0, caffe_get_int(cp, "kernel_size", 0, -1));
            ck_assert_int_eq(dims[2], kh);
            int64_t bias = caffe_get_int(cp, "bias_term", 0, 1);
            ck_assert_uint_eq(caffe_msg_count(wl, "blobs"), bias ? 2 : 1);
            convs++;
        }
        ck_assert_uint_gt(convs, 20);
        caffe_msg_free(def);
        caffe_msg_free(w);
    }
}
END_TEST

/* ---------------------------------------------------------------- hand-made binary */
START_TEST(test_binary_handmade)
{
    pb net = {0};
    build_handmade(&net);
    caffe_msg *m = bin(&net);
    ck_assert_str_eq(caffe_get_str(m, "name", 0, ""), "hand");
    ck_assert_uint_eq(caffe_msg_count(m, "input_dim"), 2);
    ck_assert_int_eq(caffe_get_int(m, "input_dim", 0, 0), -1);
    ck_assert_int_eq(caffe_get_int(m, "input_dim", 1, 0), 3);
    ck_assert_uint_eq(caffe_msg_count(m, "layer"), 2);
    ck_assert_uint_eq(caffe_msg_count(m, "layers"), 3);

    const caffe_msg *l = caffe_get_msg(m, "layer", 0);
    ck_assert_uint_eq(l->n_fields, 9); /* name type bottom top phase 3*blobs conv; unknowns gone */
    ck_assert_int_eq(caffe_get_int(l, "phase", 0, -1), 1);
    int64_t dims[8];
    ck_assert_uint_eq(blob_dims(l, 0, dims), 2);
    ck_assert_int_eq(dims[0], 2);
    ck_assert_int_eq(dims[1], 3);
    const caffe_field *d = blob_data(l, 0);
    ck_assert_uint_eq(d->n_floats, 6);
    for (int k = 0; k < 6; k++)
        ck_assert(d->floats[k] == (float)(k + 1));
    const caffe_msg *b1 = caffe_get_msg(l, "blobs", 1);
    ck_assert_int_eq(caffe_get_int(b1, "num", 0, 0), 1);
    ck_assert_int_eq(caffe_get_int(b1, "channels", 0, 0), 2);
    ck_assert_int_eq(caffe_get_int(b1, "width", 0, 0), 2);
    d = blob_data(l, 1);
    ck_assert_uint_eq(d->n_floats, 3);
    ck_assert(d->floats[0] == 0.5f && d->floats[1] == -2.0f);
    ck_assert(isinf(d->floats[2]) && d->floats[2] > 0); /* 1e300 saturates */
    d = blob_data(l, 2);
    ck_assert_uint_eq(d->n_floats, 3);
    ck_assert(d->floats[0] == 7.0f && d->floats[1] == -8.0f && d->floats[2] == 9.5f);
    const caffe_msg *cp = caffe_get_msg(l, "convolution_param", 0);
    ck_assert_int_eq(caffe_get_int(cp, "num_output", 0, 0), 7);
    ck_assert_uint_eq(caffe_msg_count(cp, "pad"), 2);
    ck_assert_int_eq(caffe_get_int(cp, "pad", 1, 0), 2);
    ck_assert_int_eq(caffe_get_int(cp, "group", 0, 0), 1);
    ck_assert(caffe_msg_get(cp, "bias_term", 0) == NULL);
    ck_assert_uint_eq(cp->n_fields, 5);

    l = caffe_get_msg(m, "layer", 1);
    const caffe_msg *dp = caffe_get_msg(l, "detection_output_param", 0);
    ck_assert_int_eq(caffe_get_int(dp, "num_classes", 0, 0), 21);
    ck_assert_int_eq(caffe_get_int(dp, "background_label_id", 0, 0), -1);
    ck_assert_int_eq(caffe_get_enum(dp, "DetectionOutputParameter", "code_type", 0, 0), 2);
    ck_assert(caffe_get_float(dp, "confidence_threshold", 0, 0) == (double)0.01f);
    ck_assert(caffe_get_float(caffe_get_msg(dp, "nms_param", 0), "nms_threshold", 0, 0) ==
              (double)0.45f);
    ck_assert_int_eq(caffe_get_int(caffe_get_msg(dp, "nms_param", 0), "top_k", 0, 0), 400);

    l = caffe_get_msg(m, "layers", 0);
    ck_assert_str_eq(caffe_get_str(l, "name", 0, ""), "old");
    ck_assert_int_eq(caffe_msg_get(l, "type", 0)->kind, CAFFE_STRING);
    ck_assert_str_eq(caffe_get_str(l, "type", 0, ""), "Convolution");
    ck_assert_str_eq(caffe_get_str(l, "bottom", 0, ""), "data");
    ck_assert_int_eq(caffe_get_int(caffe_get_msg(l, "convolution_param", 0), "num_output", 0, 0),
                     5);
    ck_assert(blob_data(l, 0)->floats[0] == 0.25f);
    ck_assert_int_eq(caffe_get_enum(l, "V1LayerParameter", "type", 0, -1), 4);
    ck_assert_str_eq(caffe_get_str(caffe_get_msg(m, "layers", 1), "type", 0, ""),
                     "SoftmaxWithLoss");
    ck_assert_int_eq(caffe_get_enum(caffe_get_msg(m, "layers", 2), "V1LayerParameter", "type", 0,
                                    -1),
                     99);
    const caffe_field *t = caffe_msg_get(caffe_get_msg(m, "layers", 2), "type", 0);
    ck_assert_int_eq(t->kind, CAFFE_INT);
    ck_assert_int_eq(t->i, 99);
    caffe_msg_free(m);

    /* The other parse entry points. */
    char err[256];
    ck_assert_int_eq(caffe_parse_binary(net.p, net.n, "NoSuchMessage", &m, err, sizeof err),
                     CLSSD_ERR_INVALID_ARG);
    ck_assert_int_eq(caffe_parse_binary(NULL, 5, "NetParameter", &m, err, sizeof err),
                     CLSSD_ERR_INVALID_ARG);
    ck_assert_int_eq(caffe_parse_binary(NULL, 0, "NetParameter", &m, err, sizeof err), CLSSD_OK);
    ck_assert_uint_eq(m->n_fields, 0);
    caffe_msg_free(m);
    /* NetParameter bytes read as a LayerParameter: mismatched wire types are skipped. */
    clssd_status s = caffe_parse_binary(net.p, net.n, "LayerParameter", &m, NULL, 0);
    ck_assert(s == CLSSD_OK || s == CLSSD_ERR_BAD_MODEL);
    caffe_msg_free(m);
    free(net.p);
}
END_TEST

START_TEST(test_binary_errors)
{
    pb b = {0}, layer = {0}, blob = {0};

    /* A blob whose length prefix overruns its layer: the path names layer, blob and field. */
    pb_str(&layer, 1, "conv3_2");
    pb_msg(&layer, 7, &blob);
    pb_key(&blob, 5, 2);
    pb_varint(&blob, 4000);
    for (int i = 0; i < 12; i++)
        pb_bytes(&blob, "\0", 1);
    pb_msg(&layer, 7, &blob);
    for (int i = 0; i < 12; i++)
        pb_msg(&b, 100, &(pb){0});
    pb_msg(&b, 100, &layer);
    bin_error(&b, "layer[12] 'conv3_2' > blobs[1] > data: length 4000 exceeds the 12 bytes left "
                  "at offset ");
    b.n = 0;

    /* Giant length prefix at the top. */
    pb_key(&b, 100, 2);
    pb_varint(&b, (uint64_t)1 << 62);
    bin_error(&b, "layer[0]: length 4611686018427387904 exceeds the 0 bytes left at offset 11");
    b.n = 0;

    /* Varints: truncated, and 11 bytes long. */
    pb_bytes(&b, "\x80", 1);
    bin_error(&b, "field key: malformed varint at offset 0");
    b.n = 0;
    pb_key(&b, 4, 0);
    pb_bytes(&b, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11);
    bin_error(&b, "input_dim: malformed varint at offset 1");
    b.n = 0;
    pb_key(&b, 4, 0);
    pb_bytes(&b, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 10); /* bits past 64 */
    bin_error(&b, "input_dim: malformed varint");
    b.n = 0;

    /* Wire types and field numbers protobuf never writes. */
    pb_key(&b, 1, 3);
    bin_error(&b, "name: unsupported wire type 3 at offset 0");
    b.n = 0;
    pb_key(&b, 77, 7);
    bin_error(&b, "field 77: unsupported wire type 7");
    b.n = 0;
    pb_key(&b, 0, 0);
    pb_varint(&b, 1);
    bin_error(&b, "invalid field number 0");
    b.n = 0;

    /* Fixed-width values cut short. */
    pb_key(&b, 9, 1);
    pb_bytes(&b, "1234567", 7);
    bin_error(&b, "field 9: 8-byte value exceeds the 7 bytes left at offset 1");
    b.n = 0;
    pb_key(&b, 9, 5);
    pb_bytes(&b, "123", 3);
    bin_error(&b, "field 9: 4-byte value exceeds the 3 bytes left");
    b.n = 0;

    /* Packed lengths that are not whole values, a packed varint run cut short. */
    pb_key(&blob, 5, 2);
    pb_varint(&blob, 5);
    pb_bytes(&blob, "12345", 5);
    pb_str(&layer, 1, "x");
    pb_msg(&layer, 7, &blob);
    pb_msg(&b, 100, &layer);
    bin_error(&b, "layer[0] 'x' > blobs[0] > data: packed length 5 is not a multiple of 4");
    b.n = 0;
    pb_key(&blob, 7, 2);
    pb_varint(&blob, 3);
    pb_key(&blob, 1, 2);
    pb_varint(&blob, 1);
    pb_bytes(&blob, "\x80", 1);
    pb_msg(&layer, 7, &blob);
    pb_msg(&b, 100, &layer);
    bin_error(&b, "layer[0] > blobs[0] > shape > dim: malformed packed varint at offset 9");
    b.n = 0;

    /* float data and double_data in one blob */
    pb_f32(&blob, 5, 1.0f);
    pb_f64(&blob, 8, 1.0);
    pb_msg(&layer, 7, &blob);
    pb_msg(&b, 100, &layer);
    bin_error(&b, "both float data and double_data");
    b.n = 0;

    /* Deep nesting through unknown fields is skipped, not followed. */
    {
        pb inner = {0};
        pb_str(&inner, 1, "deep");
        for (int i = 0; i < 200; i++) {
            pb outer = {0};
            pb_msg(&outer, 12345, &inner);
            free(inner.p);
            inner = outer;
        }
        pb_msg(&b, 100, &inner);
        free(inner.p);
        caffe_msg *m = bin(&b);
        ck_assert_uint_eq(caffe_get_msg(m, "layer", 0)->n_fields, 0);
        caffe_msg_free(m);
        b.n = 0;
    }
    free(b.p);
    free(layer.p);
    free(blob.p);
}
END_TEST

/* ---------------------------------------------------------------- text syntax */
START_TEST(test_text_syntax)
{
    const char *src =
        "# comment at the top\r\n"
        "a: 1 b: -2 c: 1.5e-3 d: .5 e: 1. f: 1e5 g: 0x1F h: 017 i: -inf\n"
        "j: nan k: INF l: 2f m: 'single' n: \"q\\\" b\\\\ n\\n t\\t x\\x41 o\\101 "
        "u\\u00e9 U\\U0001F600 \\' \\?\"\n"
        "o: \"con\" 'cat' \"enated\" p { } q: { r: 1 } s < t: 2 > u: [1, 2, 3] "
        "v: [] w: [{x: 1}, {x: 2}] y: true; z: IDENT, neg: - 3\n"
        "big: 99999999999999999999 min: -9223372036854775808 max: 9223372036854775807\n"
        "hexmin: -0x8000000000000000 ninf: -Infinity\n"
        "split: - # a comment between sign and digits\n 7 lines: 'a'\n 'b'\n"
        "layer { name: \"n\" type: \"ReLU\" } # trailing comment";
    caffe_msg *m = text(src);
    ck_assert_int_eq(caffe_msg_get(m, "a", 0)->kind, CAFFE_INT);
    ck_assert_int_eq(caffe_get_int(m, "a", 0, 0), 1);
    ck_assert_int_eq(caffe_get_int(m, "b", 0, 0), -2);
    ck_assert_int_eq(caffe_msg_get(m, "c", 0)->kind, CAFFE_FLOAT);
    ck_assert(caffe_get_float(m, "c", 0, 0) == 1.5e-3);
    ck_assert(caffe_get_float(m, "d", 0, 0) == 0.5);
    ck_assert(caffe_get_float(m, "e", 0, 0) == 1.0);
    ck_assert_int_eq(caffe_msg_get(m, "e", 0)->kind, CAFFE_FLOAT);
    ck_assert(caffe_get_float(m, "f", 0, 0) == 1e5);
    ck_assert_int_eq(caffe_get_int(m, "g", 0, 0), 31);
    ck_assert_int_eq(caffe_get_int(m, "h", 0, 0), 15);
    ck_assert(isinf(caffe_get_float(m, "i", 0, 0)) && caffe_get_float(m, "i", 0, 0) < 0);
    ck_assert(isnan(caffe_get_float(m, "j", 0, 0)));
    ck_assert(isinf(caffe_get_float(m, "k", 0, 0)) && caffe_get_float(m, "k", 0, 0) > 0);
    ck_assert(caffe_get_float(m, "l", 0, 0) == 2.0);
    ck_assert_int_eq(caffe_msg_get(m, "l", 0)->kind, CAFFE_FLOAT);
    ck_assert_str_eq(caffe_get_str(m, "m", 0, ""), "single");
    ck_assert_str_eq(caffe_get_str(m, "n", 0, ""),
                     "q\" b\\ n\n t\t xA oA u\xC3\xA9 U\xF0\x9F\x98\x80 ' ?");
    ck_assert_str_eq(caffe_get_str(m, "o", 0, ""), "concatenated");
    ck_assert(caffe_get_msg(m, "p", 0) != NULL);
    ck_assert_uint_eq(caffe_get_msg(m, "p", 0)->n_fields, 0);
    ck_assert_int_eq(caffe_get_int(caffe_get_msg(m, "q", 0), "r", 0, 0), 1);
    ck_assert_int_eq(caffe_get_int(caffe_get_msg(m, "s", 0), "t", 0, 0), 2);
    ck_assert_uint_eq(caffe_msg_count(m, "u"), 3);
    ck_assert_int_eq(caffe_get_int(m, "u", 2, 0), 3);
    ck_assert_uint_eq(caffe_msg_count(m, "v"), 0);
    ck_assert_uint_eq(caffe_msg_count(m, "w"), 2);
    ck_assert_int_eq(caffe_get_int(caffe_get_msg(m, "w", 1), "x", 0, 0), 2);
    ck_assert_int_eq(caffe_msg_get(m, "y", 0)->kind, CAFFE_IDENT);
    ck_assert_int_eq(caffe_get_int(m, "y", 0, -1), 1);
    ck_assert_str_eq(caffe_get_str(m, "z", 0, ""), "IDENT");
    ck_assert_int_eq(caffe_get_int(m, "neg", 0, 0), -3);
    ck_assert_int_eq(caffe_msg_get(m, "big", 0)->kind, CAFFE_FLOAT);
    ck_assert(caffe_get_float(m, "big", 0, 0) == 1e20);
    ck_assert(caffe_get_int(m, "min", 0, 0) == INT64_MIN);
    ck_assert(caffe_get_int(m, "max", 0, 0) == INT64_MAX);
    ck_assert(caffe_get_int(m, "hexmin", 0, 0) == INT64_MIN);
    ck_assert(caffe_get_float(m, "ninf", 0, 0) == -INFINITY);
    ck_assert_int_eq(caffe_get_int(m, "split", 0, 0), -7);
    ck_assert_str_eq(caffe_get_str(m, "lines", 0, ""), "ab");
    ck_assert_str_eq(caffe_get_str(caffe_get_msg(m, "layer", 0), "type", 0, ""), "ReLU");
    caffe_msg_free(m);

    /* Empty input, only comments, a byte order mark. */
    m = text("");
    ck_assert_uint_eq(m->n_fields, 0);
    caffe_msg_free(m);
    m = text("# nothing\n\n   # here\n");
    ck_assert_uint_eq(m->n_fields, 0);
    caffe_msg_free(m);
    m = text("\xEF\xBB\xBFname: 'bom'");
    ck_assert_str_eq(caffe_get_str(m, "name", 0, ""), "bom");
    caffe_msg_free(m);
    char err[64];
    ck_assert_int_eq(caffe_parse_text(NULL, 0, &m, err, sizeof err), CLSSD_OK);
    caffe_msg_free(m);
    ck_assert_int_eq(caffe_parse_text(NULL, 3, &m, err, sizeof err), CLSSD_ERR_INVALID_ARG);
    ck_assert_int_eq(caffe_parse_text("a: 1", 4, NULL, err, sizeof err), CLSSD_ERR_INVALID_ARG);
}
END_TEST

START_TEST(test_text_v1)
{
    caffe_msg *m = text("name: 'legacy'\n"
                        "input: 'data' input_dim: 1 input_dim: 3 input_dim: 32 input_dim: 32\n"
                        "layers {\n"
                        "  name: 'c' type: CONVOLUTION bottom: 'data' top: 'c'\n"
                        "  blobs_lr: 1 blobs_lr: 2\n"
                        "  convolution_param { num_output: 5 kernel_size: 3 }\n"
                        "}\n"
                        "layers { name: 'r' type: RELU bottom: 'c' top: 'c' }\n"
                        "layers { name: 'p' type: POOLING pooling_param { pool: MAX } }\n"
                        "layers { name: 's' type: SOFTMAX_LOSS }\n"
                        "layers { name: 'f' type: FOO }\n"
                        "layers { name: 'n' type: 14 }\n");
    ck_assert_uint_eq(caffe_msg_count(m, "layers"), 6);
    ck_assert_uint_eq(caffe_msg_count(m, "input_dim"), 4);
    const caffe_msg *l = find_layer(m, "layers", "c");
    ck_assert_int_eq(caffe_msg_get(l, "type", 0)->kind, CAFFE_STRING);
    ck_assert_str_eq(caffe_get_str(l, "type", 0, ""), "Convolution");
    ck_assert_int_eq(caffe_get_int(caffe_get_msg(l, "convolution_param", 0), "num_output", 0, 0),
                     5);
    ck_assert_int_eq(caffe_get_enum(l, "V1LayerParameter", "type", 0, -1), 4);
    ck_assert_str_eq(caffe_get_str(find_layer(m, "layers", "r"), "type", 0, ""), "ReLU");
    l = find_layer(m, "layers", "p");
    ck_assert_str_eq(caffe_get_str(l, "type", 0, ""), "Pooling");
    ck_assert_int_eq(
        caffe_get_enum(caffe_get_msg(l, "pooling_param", 0), "PoolingParameter", "pool", 0, -1), 0);
    ck_assert_str_eq(caffe_get_str(find_layer(m, "layers", "s"), "type", 0, ""), "SoftmaxWithLoss");
    const caffe_field *t = caffe_msg_get(find_layer(m, "layers", "f"), "type", 0);
    ck_assert_int_eq(t->kind, CAFFE_IDENT);
    ck_assert_str_eq(t->s, "FOO");
    t = caffe_msg_get(find_layer(m, "layers", "n"), "type", 0);
    ck_assert_int_eq(t->kind, CAFFE_INT);
    ck_assert_int_eq(t->i, 14);
    caffe_msg_free(m);
}
END_TEST

typedef struct text_err_case {
    const char *src;
    const char *want; /* substring of the error */
} text_err_case;

static const text_err_case text_err_cases[] = {
    {"name: \"abc", "line 1, column 7: unterminated string (no closing \" before the end of file)"},
    {"a: 1\nname: 'abc\nb: 2", "line 2, column 7: unterminated string (no closing ' before the end "
                               "of the line)"},
    {"layer {\n  name: 'x'\n", "line 3, column 1: end of file inside a message: '{' opened at "
                               "line 1, column 7 is never closed"},
    {"a < b: 1 }", "line 1, column 10: found '}' where '>' should close the '<' opened at line 1, "
                   "column 3"},
    {"a: 1 }", "line 1, column 6: unmatched '}'"},
    {"a 1", "line 1, column 3: expected ':' or '{' after 'a', found '1'"},
    {"a: \"\\q\"", "line 1, column 5: unknown escape '\\q'"},
    {"a: '\\x'", "line 1, column 5: \\x escape without hex digits"},
    {"a: '\\400'", "octal escape above \\377"},
    {"a: '\\ud800'", "malformed \\u or \\U escape"},
    {"a: '\\U00110000'", "malformed \\u or \\U escape"},
    {"a: 1.2.3", "line 1, column 4: malformed number: '.' follows it"},
    {"a: 12abc", "malformed number: 'abc' follows it"},
    {"a: 1e", "malformed exponent"},
    {"a: 0x", "malformed hex number"},
    {"a: 09", "malformed octal number"},
    {"a: 0x10000000000000000", "integer out of range of int64"},
    {"a: 0x8000000000000000", "integer out of range of int64"},
    {"a: -foo", "expected a number after '-', found 'foo'"},
    {"a: 1\nb: - # comment\n  foo", "line 2, column 4: expected a number after '-', found 'foo'"},
    {"a: - \n 1x", "line 1, column 4: malformed number: 'x' follows it"},
    {"a: ", "expected a value for 'a', found end of file"},
    {"a: }", "expected a value for 'a', found '}'"},
    {"a: [1, 2", "end of file inside the list '[' opened at line 1, column 4"},
    {"a: [1 2]", "expected ',' or ']' in the list of 'a', found '2'"},
    {"1: 2", "expected a field name, found '1'"},
    {"a: \x01", "found byte 0x01"},
    {"[ext]: 1", "expected a field name, found '['"},
};
#define N_TEXT_ERR (sizeof text_err_cases / sizeof text_err_cases[0])

START_TEST(test_text_errors)
{
    for (size_t i = 0; i < N_TEXT_ERR; i++) {
        char err[512];
        const char *src = text_err_cases[i].src;
        text_error(src, strlen(src), err, sizeof err);
        ck_assert_msg(strstr(err, text_err_cases[i].want) != NULL, "case %zu: '%s' lacks '%s'", i,
                      err, text_err_cases[i].want);
    }
    char err[512];
    /* An embedded NUL byte (the length, not the terminator, ends the text). */
    text_error("a: 1\0b: 2", 9, err, sizeof err);
    ck_assert_msg(strstr(err, "line 1, column 5: expected a field name, found byte 0x00"), "%s",
                  err);
    /* Nesting: 64 levels parse, 65 do not. */
    char deep[1024];
    size_t n = 0;
    for (int i = 0; i < 64; i++)
        n += (size_t)sprintf(deep + n, "a{");
    for (int i = 0; i < 64; i++)
        deep[n++] = '}';
    deep[n] = '\0';
    caffe_msg *m = text(deep);
    caffe_msg_free(m);
    n = 0;
    for (int i = 0; i < 65; i++)
        n += (size_t)sprintf(deep + n, "a{");
    deep[n] = '\0';
    text_error(deep, n, err, sizeof err);
    ck_assert_msg(strstr(err, "line 1, column 130: messages nested deeper than 64"), "%s", err);
    /* A small err buffer truncates, and err may be NULL. */
    char tiny[8];
    text_error("a 1", 3, tiny, sizeof tiny);
    ck_assert_uint_eq(strlen(tiny), 7);
    ck_assert_int_eq(caffe_parse_text("a 1", 3, &m, NULL, 0), CLSSD_ERR_BAD_MODEL);
}
END_TEST

START_TEST(test_locale)
{
    static const char *names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8",
                                  "ru_RU.UTF-8"};
    const char *set = NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !set; i++)
        set = setlocale(LC_NUMERIC, names[i]);
    if (!set) return; /* no comma-decimal locale installed: nothing to check */
    caffe_msg *m = text("a: 1.5 b: 2.25e1");
    ck_assert(caffe_get_float(m, "a", 0, 0) == 1.5);
    ck_assert(caffe_get_float(m, "b", 0, 0) == 22.5);
    caffe_msg_free(m);
    setlocale(LC_NUMERIC, "C");
}
END_TEST

START_TEST(test_parse_file_errors)
{
    char err[512];
    caffe_msg *m = (caffe_msg *)1;
    ck_assert_int_eq(caffe_parse_file("/nonexistent/x.prototxt", 0, &m, err, sizeof err),
                     CLSSD_ERR_IO);
    ck_assert(m == NULL);
    ck_assert_msg(strstr(err, "/nonexistent/x.prototxt") != NULL, "%s", err);
    ck_assert_int_eq(caffe_parse_file(MODELS, 1, &m, err, sizeof err), CLSSD_ERR_IO);
    ck_assert_int_eq(caffe_parse_file(NULL, 1, &m, err, sizeof err), CLSSD_ERR_INVALID_ARG);
    /* A caffemodel read as text fails with a message that names the file. */
    ck_assert_int_eq(caffe_parse_file(MODELS "yufacedetectnet_caffe_ssd/"
                                             "yufacedetectnet-open-v1.caffemodel",
                                      0, &m, err, sizeof err),
                     CLSSD_ERR_BAD_MODEL);
    ck_assert_msg(strstr(err, "yufacedetectnet-open-v1.caffemodel: line 2, column 1") != NULL, "%s",
                  err);
    /* And a prototxt read as binary. */
    ck_assert_int_eq(caffe_parse_file(MODELS "ssd_vgg16_caffe_defs/labelmap_voc.prototxt", 1, &m,
                                      err, sizeof err),
                     CLSSD_ERR_BAD_MODEL);
}
END_TEST

/* ---------------------------------------------------------------- robustness */
/* Parses and frees; only OK and BAD_MODEL are acceptable outcomes of damaged input. */
static void survive_binary(const uint8_t *p, size_t n)
{
    caffe_msg *m = NULL;
    char err[256];
    clssd_status s = caffe_parse_binary(p, n, "NetParameter", &m, err, sizeof err);
    ck_assert_msg(s == CLSSD_OK || s == CLSSD_ERR_BAD_MODEL, "status %d", (int)s);
    ck_assert((s == CLSSD_OK) == (m != NULL));
    if (s != CLSSD_OK) ck_assert(err[0] != '\0');
    caffe_msg_free(m);
}

static void survive_text(const char *p, size_t n)
{
    caffe_msg *m = NULL;
    char err[256];
    clssd_status s = caffe_parse_text(p, n, &m, err, sizeof err);
    ck_assert_msg(s == CLSSD_OK || s == CLSSD_ERR_BAD_MODEL, "status %d", (int)s);
    ck_assert((s == CLSSD_OK) == (m != NULL));
    if (s != CLSSD_OK) ck_assert(strncmp(err, "line ", 5) == 0);
    caffe_msg_free(m);
}

START_TEST(test_truncate_binary)
{
    pb net = {0};
    build_handmade(&net);
    for (size_t n = 0; n <= net.n; n++) {
        /* A fresh exact-size copy, so reading past n is caught by ASan / valgrind. */
        uint8_t *cut = malloc(n ? n : 1);
        memcpy(cut, net.p, n);
        survive_binary(cut, n);
        free(cut);
    }
    free(net.p);

    size_t size;
    uint8_t *raw = read_all(MODELS "ultraface_rfb320_slim320/caffe/slim-320.caffemodel", &size);
    size_t ok = 0;
    for (size_t n = 0; n < size; n += 1 + (size_t)(rnd() % 9000)) {
        uint8_t *cut = malloc(n ? n : 1);
        memcpy(cut, raw, n);
        caffe_msg *m = NULL;
        char err[256];
        clssd_status s = caffe_parse_binary(cut, n, "NetParameter", &m, err, sizeof err);
        ck_assert(s == CLSSD_OK || s == CLSSD_ERR_BAD_MODEL);
        /* A cut inside a layer must be reported, naming that layer's path. */
        if (s != CLSSD_OK && n > 16) ck_assert_msg(strncmp(err, "layer[", 6) == 0, "%s", err);
        ok += s == CLSSD_OK;
        caffe_msg_free(m);
        free(cut);
    }
    ck_assert_uint_le(ok, 3); /* only cuts between top-level fields can parse */
    free(raw);
}
END_TEST

START_TEST(test_truncate_text)
{
    size_t size;
    uint8_t *raw =
        read_all(MODELS "yufacedetectnet_caffe_ssd/yufacedetectnet-open-v1.prototxt", &size);
    for (size_t n = 0; n <= size; n++) {
        char *cut = malloc(n ? n : 1);
        memcpy(cut, raw, n);
        survive_text(cut, n);
        free(cut);
    }
    free(raw);
}
END_TEST

START_TEST(test_bitflips)
{
    pb net = {0};
    build_handmade(&net);
    uint8_t *work = malloc(net.n);
    for (int it = 0; it < 20000; it++) {
        memcpy(work, net.p, net.n);
        int flips = 1 + (int)(rnd() % 3);
        for (int k = 0; k < flips; k++)
            work[rnd() % net.n] ^= (uint8_t)(1u << (rnd() % 8));
        survive_binary(work, net.n);
    }
    /* Random bytes, and random bytes under a valid layer prefix. */
    for (int it = 0; it < 2000; it++) {
        size_t n = (size_t)(rnd() % net.n);
        for (size_t k = 0; k < n; k++)
            work[k] = (uint8_t)rnd();
        survive_binary(work, n);
    }
    free(work);
    free(net.p);

    size_t size;
    uint8_t *raw = read_all(MODELS "ultraface_rfb320_slim320/caffe/slim-320.caffemodel", &size);
    /* The structure sits in the first bytes of each layer; flip bits in the first 64 KiB. */
    for (int it = 0; it < 200; it++) {
        size_t pos = (size_t)(rnd() % 65536);
        uint8_t old = raw[pos];
        raw[pos] ^= (uint8_t)(1u << (rnd() % 8));
        survive_binary(raw, size);
        raw[pos] = old;
    }
    free(raw);

    raw = read_all(MODELS "ssd_vgg16_caffe_defs/VGG_VOC0712_SSD_300x300_deploy.prototxt", &size);
    for (int it = 0; it < 3000; it++) {
        size_t pos = (size_t)(rnd() % size);
        uint8_t old = raw[pos];
        raw[pos] ^= (uint8_t)(1u << (rnd() % 8));
        survive_text((const char *)raw, size);
        raw[pos] = old;
    }
    free(raw);
}
END_TEST

/* Every allocation of a parse failing in turn: OUT_OF_MEMORY and no leak (under valgrind),
 * until the parse needs no more than were allowed. */
START_TEST(test_alloc_failures)
{
    pb net = {0};
    build_handmade(&net);
    const char *src = "name: 'n' unknown_name: 1 layer { name: 'a' type: 'T' x: [1, 2] "
                      "y: IDENT z: 'con' 'cat' }\nlayers { type: CONVOLUTION }";
    for (int which = 0; which < 2; which++) {
        int done = 0;
        for (long n = 1; n < 10000 && !done; n++) {
            caffe_msg *m = NULL;
            char err[256];
            clssd__alloc_fail_after(n);
            clssd_status s =
                which ? caffe_parse_text(src, strlen(src), &m, err, sizeof err)
                      : caffe_parse_binary(net.p, net.n, "NetParameter", &m, err, sizeof err);
            clssd__alloc_fail_after(0);
            if (s == CLSSD_OK) {
                ck_assert_uint_gt(n, 5);
                done = 1;
            } else {
                ck_assert_msg(s == CLSSD_ERR_OUT_OF_MEMORY, "n=%ld: status %d (%s)", n, (int)s,
                              err);
                ck_assert(m == NULL);
                ck_assert_msg(strstr(err, "out of memory") != NULL, "%s", err);
            }
            caffe_msg_free(m);
        }
        ck_assert(done);
    }
    free(net.p);
}
END_TEST

/* The field limit holds for both formats, and unpacked float data stays linear. */
START_TEST(test_limits)
{
    size_t n = CAFFE_MAX_FIELDS + 1;
    pb net = {0}, shape = {0};
    int64_t *dims = malloc(n * sizeof *dims);
    for (size_t i = 0; i < n; i++)
        dims[i] = 1;
    pb_packed_varints(&shape, 1, dims, n);
    pb_msg(&net, 8, &shape);
    char want[64];
    snprintf(want, sizeof want, "dim: more than %zu fields in the file", CAFFE_MAX_FIELDS);
    bin_error(&net, want);
    free(dims);

    char *src = malloc(4 * n + 1);
    for (size_t i = 0; i < n; i++)
        memcpy(src + 4 * i, "a:1 ", 4);
    char err[256];
    text_error(src, 4 * n, err, sizeof err);
    ck_assert_msg(strstr(err, "more than") != NULL, "%s", err);
    free(src);

    /* One million floats as single fixed32 fields, as old serializers might write them. */
    size_t nf = 1000000;
    pb blob = {0}, layer = {0};
    net.n = 0;
    for (size_t i = 0; i < nf; i++)
        pb_f32(&blob, 5, (float)i);
    pb_msg(&layer, 7, &blob);
    pb_msg(&net, 100, &layer);
    double t0 = now_s();
    caffe_msg *m = bin(&net);
    double t1 = now_s();
    const caffe_field *d = blob_data(caffe_get_msg(m, "layer", 0), 0);
    ck_assert_uint_eq(d->n_floats, nf);
    ck_assert(d->floats[nf - 1] == (float)(nf - 1));
    caffe_msg_free(m);
    printf("unpacked data: %zu floats in %.1f ms\n", nf, (t1 - t0) * 1e3);
    free(net.p);
    free(shape.p);
    free(blob.p);
    free(layer.p);
}
END_TEST

/* A synthetic ~100 MB caffemodel (VGG16-SSD sized blobs) must parse well under a second. */
START_TEST(test_speed)
{
    pb net = {0}, layer = {0}, blob = {0}, shape = {0};
    size_t per = 2359296; /* 512*512*3*3 floats, conv5 of VGG16 */
    float *vals = malloc(per * sizeof(float));
    for (size_t i = 0; i < per; i++)
        vals[i] = (float)i * 0.5f;
    size_t n_layers = 11, total = 0;
    pb_str(&net, 1, "big");
    for (size_t l = 0; l < n_layers; l++) {
        char nm[32];
        snprintf(nm, sizeof nm, "conv%zu", l);
        pb_str(&layer, 1, nm);
        pb_str(&layer, 2, "Convolution");
        int64_t dims[] = {512, 512, 3, 3};
        pb_packed_varints(&shape, 1, dims, 4);
        pb_msg(&blob, 7, &shape);
        pb_packed_f32(&blob, 5, vals, per);
        pb_msg(&layer, 7, &blob);
        pb_msg(&net, 100, &layer);
        total += per;
    }
    ck_assert_uint_gt(net.n, 100000000);
    caffe_msg *m = NULL;
    char err[256];
    double t0 = now_s();
    clssd_status s = caffe_parse_binary(net.p, net.n, "NetParameter", &m, err, sizeof err);
    double t1 = now_s();
    ck_assert_msg(s == CLSSD_OK, "%s", err);
    const caffe_field *d = blob_data(caffe_get_msg(m, "layer", n_layers - 1), 0);
    ck_assert_uint_eq(d->n_floats, per);
    ck_assert(d->floats[per - 1] == vals[per - 1]);
    caffe_msg_free(m);
    printf("caffe_parse_binary: %.1f MB, %zu floats in %.1f ms\n", (double)net.n / 1e6, total,
           (t1 - t0) * 1e3);
    /* Generous: valgrind runs this too. */
    ck_assert_msg(t1 - t0 < 20.0, "%.2f s", t1 - t0);

    static const char *files[] = {"yufacedetectnet_caffe_ssd/yufacedetectnet-open-v2.caffemodel",
                                  "mobilenet_ssd_caffe_defs/MobileNetSSD_deploy_bn.prototxt"};
    for (int i = 0; i < 2; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s%s", MODELS, files[i]);
        t0 = now_s();
        s = caffe_parse_file(path, i == 0, &m, err, sizeof err);
        t1 = now_s();
        ck_assert_msg(s == CLSSD_OK, "%s", err);
        caffe_msg_free(m);
        printf("caffe_parse_file %s: %.2f ms\n", files[i], (t1 - t0) * 1e3);
    }
    free(vals);
    free(net.p);
    free(layer.p);
    free(blob.p);
    free(shape.p);
}
END_TEST

static Suite *caffe_suite(void)
{
    Suite *s = suite_create("caffe_parse");
    TCase *tc = tcase_create("formats");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_schema);
    tcase_add_test(tc, test_getters);
    tcase_add_loop_test(tc, test_text_files, 0, (int)N_TEXT_CASES);
    tcase_add_test(tc, test_text_vgg300);
    tcase_add_test(tc, test_text_labelmaps);
    tcase_add_test(tc, test_text_other_nets);
    tcase_add_loop_test(tc, test_binary_files, 0, (int)N_BIN_CASES);
    tcase_add_test(tc, test_binary_params);
    tcase_add_test(tc, test_text_binary_agree);
    tcase_add_test(tc, test_binary_handmade);
    tcase_add_test(tc, test_binary_errors);
    tcase_add_test(tc, test_text_syntax);
    tcase_add_test(tc, test_text_v1);
    tcase_add_test(tc, test_text_errors);
    tcase_add_test(tc, test_locale);
    tcase_add_test(tc, test_parse_file_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("robustness");
    tcase_set_timeout(tc, 3000); /* generous: these also run under valgrind */
    tcase_add_test(tc, test_truncate_binary);
    tcase_add_test(tc, test_truncate_text);
    tcase_add_test(tc, test_bitflips);
    tcase_add_test(tc, test_alloc_failures);
    tcase_add_test(tc, test_limits);
    tcase_add_test(tc, test_speed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(caffe_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
