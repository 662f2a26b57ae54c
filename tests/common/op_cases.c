/* Op cases shared by test_ops and clssd-bench: real SSD300/SSD512 shapes plus odd ones
 * (1x1, dilated, rectangular kernels, sizes that are not a multiple of any work-group). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

/* GEN_BIG: N(0, 8^2) inputs, so that convolutions and ReLUs with a cap of 6 do clamp.
 * GEN_WIDE: uniform in [-100, 100] with the extremes present (sigmoid overflow). GEN_TENSOR:
 * no inputs; the node's weight tensor has the shape src[0] and N(0, 1) values (CONST). */
enum gen { GEN_NORMAL, GEN_PRIORBOX, GEN_DECODE, GEN_NMS, GEN_NMS_TIES, GEN_IMAGE, GEN_CONST2,
           GEN_BIG, GEN_WIDE, GEN_TENSOR };

typedef struct case_spec {
    const char *label;
    clssd_op op;
    clssd_op_params p;
    clssd_shape src[4];
    int n_src;
    int batch;
    int gen;
    int bias;
} case_spec;

#define S(c, h, w) {1, c, h, w}
#define CONV(co, k_h, k_w, s_, p_, d_, g_, r_)                                                   \
    .p.conv = {.cout = co, .kh = k_h, .kw = k_w, .sh = s_, .sw = s_, .ph = p_, .pw = p_,         \
               .dh = d_, .dw = d_, .groups = g_, .relu = r_}
/* TensorFlow "SAME" with an odd total: p_ zeros on top/left, p_ + e_ on the bottom/right;
 * relu_max r_ (0: plain ReLU) */
#define CONV_TF(co, k_, s_, p_, e_, g_, r_)                                                      \
    .p.conv = {.cout = co, .kh = k_, .kw = k_, .sh = s_, .sw = s_, .ph = p_, .pw = p_,           \
               .ph_extra = e_, .pw_extra = e_, .dh = 1, .dw = 1, .groups = g_, .relu = 1,        \
               .relu_max = r_}
#define POOL(m, k, s_, p_)                                                                       \
    .p.pool = {.method = m, .kh = k, .kw = k, .sh = s_, .sw = s_, .ph = p_, .pw = p_}
#define PRIOR(mn, mx, nar, a2, st, clip_)                                                        \
    .p.prior = {.min_size = {mn}, .max_size = {mx}, .ar = {2.0f, a2}, .var = {0.1f, 0.1f, 0.2f, 0.2f}, \
                .step_w = st, .step_h = st, .offset = 0.5f, .n_min = 1, .n_max = 1,             \
                .n_ar = nar, .n_var = 4, .flip = 1, .clip = clip_}
#define NMS(C, tk, ktk, conf)                                                                    \
    .p.nms = {.n_classes = C, .background = 0, .top_k = tk, .keep_top_k = ktk,                   \
              .conf_thresh = conf, .nms_thresh = 0.45f}

static const case_spec cases[] = {
    /* convolution: the real SSD layers that matter, then odd shapes */
    {"conv1_1_ssd300", CLSSD_OP_CONV2D, CONV(64, 3, 3, 1, 1, 1, 1, 1), {S(3, 300, 300)}, 1, 1, GEN_NORMAL, 1},
    {"fc6_dilated_ssd300", CLSSD_OP_CONV2D, CONV(1024, 3, 3, 1, 6, 6, 1, 1), {S(512, 19, 19)}, 1, 1, GEN_NORMAL, 1},
    {"fc7_1x1_ssd300", CLSSD_OP_CONV2D, CONV(1024, 1, 1, 1, 0, 1, 1, 1), {S(1024, 19, 19)}, 1, 2, GEN_NORMAL, 1},
    {"conv6_2_stride2", CLSSD_OP_CONV2D, CONV(512, 3, 3, 2, 1, 1, 1, 1), {S(256, 19, 19)}, 1, 2, GEN_NORMAL, 1},
    {"conv8_2_pad0", CLSSD_OP_CONV2D, CONV(256, 3, 3, 1, 0, 1, 1, 1), {S(128, 5, 5)}, 1, 3, GEN_NORMAL, 1},
    {"conv10_2_k4_ssd512", CLSSD_OP_CONV2D, CONV(256, 4, 4, 1, 1, 1, 1, 1), {S(128, 2, 2)}, 1, 2, GEN_NORMAL, 1},
    {"conv4_3_norm_mbox_conf", CLSSD_OP_CONV2D, CONV(84, 3, 3, 1, 1, 1, 1, 0), {S(512, 38, 38)}, 1, 1, GEN_NORMAL, 1},
    {"odd_5to7_s2", CLSSD_OP_CONV2D, CONV(7, 3, 3, 2, 1, 1, 1, 0), {S(5, 13, 11)}, 1, 3, GEN_NORMAL, 1},
    {"odd_groups2_dil2", CLSSD_OP_CONV2D, CONV(6, 3, 3, 1, 2, 2, 2, 1), {S(4, 9, 10)}, 1, 2, GEN_NORMAL, 0},
    {"odd_depthwise", CLSSD_OP_CONV2D, CONV(8, 3, 3, 2, 1, 1, 8, 0), {S(8, 17, 15)}, 1, 2, GEN_NORMAL, 1},
    {"odd_rect_3x5", CLSSD_OP_CONV2D, {.conv = {.cout = 5, .kh = 3, .kw = 5, .sh = 1, .sw = 2, .ph = 1, .pw = 2, .dh = 1, .dw = 1, .groups = 1, .relu = 1}}, {S(3, 7, 23)}, 1, 2, GEN_NORMAL, 1},
    {"odd_1x1_grouped", CLSSD_OP_CONV2D, CONV(6, 1, 1, 1, 0, 1, 3, 0), {S(9, 5, 7)}, 1, 2, GEN_NORMAL, 1},
    /* TensorFlow SSDLite-MobileNetV2: ReLU6 fused, "SAME" padding with the odd pixel at the
     * bottom/right (ph_extra, pw_extra), depthwise 3x3 stride 2 */
    {"conv_relu6_3x3", CLSSD_OP_CONV2D, CONV_TF(24, 3, 1, 1, 0, 1, 6.0f), {S(16, 19, 19)}, 1, 2, GEN_BIG, 1},
    {"conv_1x1_relu6", CLSSD_OP_CONV2D, CONV_TF(24, 1, 1, 0, 0, 1, 6.0f), {S(96, 19, 19)}, 1, 2, GEN_BIG, 1},
    {"conv_same_s2_20to10", CLSSD_OP_CONV2D, CONV_TF(8, 3, 2, 0, 1, 1, 0.0f), {S(3, 20, 20)}, 1, 2, GEN_NORMAL, 1},
    {"conv_same_s2_300to150", CLSSD_OP_CONV2D, CONV_TF(32, 3, 2, 0, 1, 1, 6.0f), {S(3, 300, 300)}, 1, 1, GEN_BIG, 0},
    {"dw_same_s2_150to75_relu6", CLSSD_OP_CONV2D, CONV_TF(96, 3, 2, 0, 1, 96, 6.0f), {S(96, 150, 150)}, 1, 1, GEN_BIG, 1},
    {"dw_same_s2_even_38to19", CLSSD_OP_CONV2D, CONV_TF(32, 3, 2, 0, 1, 32, 0.0f), {S(32, 38, 38)}, 1, 2, GEN_NORMAL, 1},
    {"dw_extra_s2_odd_19x15", CLSSD_OP_CONV2D, {.conv = {.cout = 16, .kh = 3, .kw = 3, .sh = 2, .sw = 2, .ph = 0, .pw = 1, .ph_extra = 1, .pw_extra = 1, .dh = 1, .dw = 1, .groups = 16, .relu = 1, .relu_max = 6.0f}}, {S(16, 19, 15)}, 1, 3, GEN_BIG, 1},
    /* depthwise at stride 1 (MobileNetV2's expanded_conv_2), and with a channel multiplier of 2,
     * a rectangular dilated kernel and a width that leaves a partial 16-output row tile */
    {"dw_s1_75x75_relu6", CLSSD_OP_CONV2D, CONV_TF(144, 3, 1, 1, 0, 144, 6.0f), {S(144, 75, 75)}, 1, 2, GEN_BIG, 1},
    {"dw_mult2_dil2_13x37", CLSSD_OP_CONV2D, {.conv = {.cout = 12, .kh = 3, .kw = 5, .sh = 1, .sw = 1, .ph = 2, .pw = 1, .dh = 2, .dw = 2, .groups = 6}}, {S(6, 13, 37)}, 1, 2, GEN_NORMAL, 1},
    /* extra padding on a 1x1 conv: the output grows, so the pointwise GEMM path must not run */
    {"conv_1x1_extra_pad", CLSSD_OP_CONV2D, {.conv = {.cout = 5, .kh = 1, .kw = 1, .sh = 1, .sw = 1, .ph_extra = 1, .pw_extra = 2, .dh = 1, .dw = 1, .groups = 1}}, {S(7, 6, 5)}, 1, 2, GEN_NORMAL, 1},
    /* element-wise and pooling */
    {"relu_odd", CLSSD_OP_RELU, {.relu = {.negative_slope = 0.0f}}, {S(3, 7, 11)}, 1, 3, GEN_NORMAL, 0},
    {"relu_leaky", CLSSD_OP_RELU, {.relu = {.negative_slope = 0.1f}}, {S(5, 1, 1001)}, 1, 2, GEN_NORMAL, 0},
    {"relu6", CLSSD_OP_RELU, {.relu = {.max = 6.0f}}, {S(7, 13, 11)}, 1, 2, GEN_BIG, 0},
    {"relu_leaky_max", CLSSD_OP_RELU, {.relu = {.negative_slope = 0.1f, .max = 0.5f}}, {S(3, 1, 333)}, 1, 3, GEN_NORMAL, 0},
    {"sigmoid_wide", CLSSD_OP_SIGMOID, {.concat = {0}}, {S(3, 17, 41)}, 1, 2, GEN_WIDE, 0},
    {"sigmoid_ssdlite_scores", CLSSD_OP_SIGMOID, {.concat = {0}}, {S(1, 1917 * 91, 1)}, 1, 1, GEN_BIG, 0},
    {"pool1_ssd300", CLSSD_OP_POOL, POOL(CLSSD_POOL_MAX, 2, 2, 0), {S(64, 300, 300)}, 1, 1, GEN_NORMAL, 0},
    {"pool3_ceil_75to38", CLSSD_OP_POOL, POOL(CLSSD_POOL_MAX, 2, 2, 0), {S(256, 75, 75)}, 1, 2, GEN_NORMAL, 0},
    {"pool5_3x3_s1_p1", CLSSD_OP_POOL, POOL(CLSSD_POOL_MAX, 3, 1, 1), {S(512, 19, 19)}, 1, 2, GEN_NORMAL, 0},
    {"ave_pool_pad", CLSSD_OP_POOL, POOL(CLSSD_POOL_AVE, 3, 2, 1), {S(3, 10, 9)}, 1, 2, GEN_NORMAL, 0},
    {"ave_pool_global", CLSSD_OP_POOL, {.pool = {.method = CLSSD_POOL_AVE, .global = 1}}, {S(7, 5, 3)}, 1, 2, GEN_NORMAL, 0},
    /* L2Norm */
    {"conv4_3_norm", CLSSD_OP_L2NORM, {.l2norm = {1e-10f, 0, 0}}, {S(512, 38, 38)}, 1, 2, GEN_NORMAL, 0},
    {"l2norm_across_spatial", CLSSD_OP_L2NORM, {.l2norm = {1e-10f, 1, 0}}, {S(6, 7, 9)}, 1, 2, GEN_NORMAL, 0},
    {"l2norm_channel_shared", CLSSD_OP_L2NORM, {.l2norm = {1e-10f, 0, 1}}, {S(5, 3, 7)}, 1, 3, GEN_NORMAL, 0},
    /* head layout */
    {"permute_conv4_3_loc", CLSSD_OP_PERMUTE, {.concat = {0}}, {S(16, 38, 38)}, 1, 2, GEN_NORMAL, 0},
    {"permute_odd", CLSSD_OP_PERMUTE, {.concat = {0}}, {S(5, 3, 7)}, 1, 3, GEN_NORMAL, 0},
    {"concat_axis1_odd", CLSSD_OP_CONCAT, {.concat = {1}}, {S(1, 1, 23), S(2, 3, 5), S(1, 1, 7)}, 3, 2, GEN_NORMAL, 0},
    {"concat_axis1_feature_maps", CLSSD_OP_CONCAT, {.concat = {1}}, {S(3, 5, 7), S(4, 5, 7)}, 2, 2, GEN_NORMAL, 0},
    {"concat_axis2_priors", CLSSD_OP_CONCAT, {.concat = {2}}, {S(2, 92, 1), S(2, 24, 1), S(2, 16, 1)}, 3, 1, GEN_CONST2, 0},
    /* softmax */
    {"softmax_ssd300_voc", CLSSD_OP_SOFTMAX, {.softmax = {21}}, {S(1, 8732 * 21, 1)}, 1, 2, GEN_NORMAL, 0},
    {"softmax_ssd300_coco", CLSSD_OP_SOFTMAX, {.softmax = {81}}, {S(1, 8732 * 81, 1)}, 1, 1, GEN_NORMAL, 0},
    {"softmax_odd", CLSSD_OP_SOFTMAX, {.softmax = {3}}, {S(1, 3 * 77, 1)}, 1, 3, GEN_NORMAL, 0},
    /* priors: every SSD300 VOC source, SSD512 ones, clip and derived steps */
    {"prior_conv4_3_ssd300", CLSSD_OP_PRIORBOX, PRIOR(30, 60, 1, 0, 8, 0), {S(512, 38, 38), S(3, 300, 300)}, 2, 1, GEN_PRIORBOX, 0},
    {"prior_fc7_ssd300", CLSSD_OP_PRIORBOX, PRIOR(60, 111, 2, 3, 16, 0), {S(1024, 19, 19), S(3, 300, 300)}, 2, 1, GEN_PRIORBOX, 0},
    {"prior_conv6_2_ssd300", CLSSD_OP_PRIORBOX, PRIOR(111, 162, 2, 3, 32, 0), {S(512, 10, 10), S(3, 300, 300)}, 2, 1, GEN_PRIORBOX, 0},
    {"prior_conv7_2_ssd300", CLSSD_OP_PRIORBOX, PRIOR(162, 213, 2, 3, 64, 0), {S(256, 5, 5), S(3, 300, 300)}, 2, 1, GEN_PRIORBOX, 0},
    {"prior_conv8_2_ssd300", CLSSD_OP_PRIORBOX, PRIOR(213, 264, 1, 0, 100, 0), {S(256, 3, 3), S(3, 300, 300)}, 2, 1, GEN_PRIORBOX, 0},
    {"prior_conv9_2_ssd300", CLSSD_OP_PRIORBOX, PRIOR(264, 315, 1, 0, 300, 0), {S(256, 1, 1), S(3, 300, 300)}, 2, 1, GEN_PRIORBOX, 0},
    {"prior_conv4_3_ssd512", CLSSD_OP_PRIORBOX, PRIOR(35.84f, 76.8f, 1, 0, 8, 0), {S(512, 64, 64), S(3, 512, 512)}, 2, 1, GEN_PRIORBOX, 0},
    {"prior_conv10_2_ssd512", CLSSD_OP_PRIORBOX, PRIOR(460.8f, 537.6f, 1, 0, 512, 0), {S(256, 1, 1), S(3, 512, 512)}, 2, 1, GEN_PRIORBOX, 0},
    {"prior_clip", CLSSD_OP_PRIORBOX, PRIOR(111, 162, 2, 3, 32, 1), {S(512, 10, 10), S(3, 300, 300)}, 2, 1, GEN_PRIORBOX, 0},
    {"prior_derived_step", CLSSD_OP_PRIORBOX, PRIOR(60, 111, 2, 3, 0, 0), {S(8, 19, 17), S(3, 300, 280)}, 2, 1, GEN_PRIORBOX, 0},
    /* decode and NMS */
    {"decode_ssd300", CLSSD_OP_DECODE, {.concat = {0}}, {S(1, 8732 * 4, 1), S(2, 8732 * 4, 1)}, 2, 2, GEN_DECODE, 0},
    {"decode_odd", CLSSD_OP_DECODE, {.concat = {0}}, {S(1, 13 * 4, 1), S(2, 13 * 4, 1)}, 2, 3, GEN_DECODE, 0},
    {"nms_ssd300_voc", CLSSD_OP_NMS, NMS(21, 400, 200, 0.01f), {S(1, 8732 * 4, 1), S(1, 8732 * 21, 1)}, 2, 2, GEN_NMS, 0},
    {"nms_ssd300_coco", CLSSD_OP_NMS, NMS(81, 400, 200, 0.01f), {S(1, 8732 * 4, 1), S(1, 8732 * 81, 1)}, 2, 1, GEN_NMS, 0},
    {"nms_ssd512_voc", CLSSD_OP_NMS, NMS(21, 400, 200, 0.01f), {S(1, 24564 * 4, 1), S(1, 24564 * 21, 1)}, 2, 1, GEN_NMS, 0},
    {"nms_ties_quantized", CLSSD_OP_NMS, NMS(5, 50, 30, 0.05f), {S(1, 997 * 4, 1), S(1, 997 * 5, 1)}, 2, 3, GEN_NMS_TIES, 0},
    /* more than 1024 candidates per class: the bitonic sort runs in global memory */
    {"nms_topk_2000_global_sort", CLSSD_OP_NMS, NMS(2, 2000, 300, 0.0f), {S(1, 3000 * 4, 1), S(1, 3000 * 2, 1)}, 2, 2, GEN_NMS, 0},
    {"nms_conf0_topk_all", CLSSD_OP_NMS, NMS(3, 5000, 500, 0.0f), {S(1, 301 * 4, 1), S(1, 301 * 3, 1)}, 2, 2, GEN_NMS, 0},
    /* Caffe extras: residual sums, products, maxima, per-channel affine */
    {"eltwise_sum_coeff", CLSSD_OP_ELTWISE, {.eltwise = {.method = CLSSD_ELTWISE_SUM, .coeff = {1.0f, -0.5f, 2.0f}, .n_coeff = 3}}, {S(5, 7, 3), S(5, 7, 3), S(5, 7, 3)}, 3, 2, GEN_NORMAL, 0},
    {"eltwise_sum_resnet", CLSSD_OP_ELTWISE, {.eltwise = {.method = CLSSD_ELTWISE_SUM}}, {S(64, 75, 75), S(64, 75, 75)}, 2, 2, GEN_NORMAL, 0},
    {"eltwise_prod", CLSSD_OP_ELTWISE, {.eltwise = {.method = CLSSD_ELTWISE_PROD}}, {S(3, 11, 13), S(3, 11, 13)}, 2, 3, GEN_NORMAL, 0},
    {"eltwise_max3", CLSSD_OP_ELTWISE, {.eltwise = {.method = CLSSD_ELTWISE_MAX}}, {S(2, 9, 1), S(2, 9, 1), S(2, 9, 1)}, 3, 2, GEN_NORMAL, 0},
    {"scale_bias", CLSSD_OP_SCALE, {.concat = {0}}, {S(32, 19, 19)}, 1, 2, GEN_NORMAL, 1},
    {"scale_no_bias_odd", CLSSD_OP_SCALE, {.concat = {0}}, {S(7, 5, 3)}, 1, 3, GEN_NORMAL, 0},
    /* preprocessing */
    {"preprocess_640x480_to_300", CLSSD_OP_PREPROCESS, {.pre = {.out_w = 300, .out_h = 300, .mean = {104, 117, 123}, .scale = 1.0f, .bgr = 1}}, {S(0, 0, 0)}, 0, 2, GEN_IMAGE, 0},
    {"preprocess_upscale_rgb", CLSSD_OP_PREPROCESS, {.pre = {.out_w = 37, .out_h = 29, .mean = {127.5f, 127.5f, 127.5f}, .scale = 0.007843f, .bgr = 0}}, {S(0, 0, 0)}, 0, 3, GEN_IMAGE, 0},
    /* TensorFlow legacy resize; the images are 640x480, 7x5, 301x299, 64x48: downscale,
     * upscale and non-integer ratios, plus an exact 2x */
    {"preprocess_tf_300", CLSSD_OP_PREPROCESS, {.pre = {.out_w = 300, .out_h = 300, .mean = {127.5f, 127.5f, 127.5f}, .scale = 0.007843138f, .resize = CLSSD_RESIZE_TF_LEGACY}}, {S(0, 0, 0)}, 0, 4, GEN_IMAGE, 0},
    {"preprocess_tf_odd_bgr", CLSSD_OP_PREPROCESS, {.pre = {.out_w = 37, .out_h = 29, .mean = {104, 117, 123}, .scale = 1.0f, .bgr = 1, .resize = CLSSD_RESIZE_TF_LEGACY}}, {S(0, 0, 0)}, 0, 3, GEN_IMAGE, 0},
    {"preprocess_tf_half", CLSSD_OP_PREPROCESS, {.pre = {.out_w = 320, .out_h = 240, .scale = 1.0f, .resize = CLSSD_RESIZE_TF_LEGACY}}, {S(0, 0, 0)}, 0, 1, GEN_IMAGE, 0},
    /* constants: anchors in PriorBox layout [1, 2, P*4], and a 4-d tensor (n folded into c) */
    {"const_anchors", CLSSD_OP_CONST, {.concat = {0}}, {S(2, 40, 1)}, 0, 2, GEN_TENSOR, 0},
    {"const_4d", CLSSD_OP_CONST, {.concat = {0}}, {{2, 3, 5, 7}}, 0, 3, GEN_TENSOR, 0},
};

int op_case_count(void)
{
    return (int)(sizeof cases / sizeof cases[0]);
}

clssd_op op_case_op(int i)
{
    return cases[i].op;
}

const char *op_case_label(int i)
{
    return cases[i].label;
}

static float *alloc_fill(clssd_rng *r, size_t n, float scale)
{
    float *p = clssd__malloc(n * sizeof(float));
    if (!p) return NULL;
    for (size_t i = 0; i < n; i++) p[i] = scale * clssd__rng_normal(r);
    return p;
}

/* Random boxes around random centres, as decoded predictions look. */
static void fill_boxes(clssd_rng *r, float *b, size_t n_boxes)
{
    for (size_t i = 0; i < n_boxes; i++) {
        float cx = clssd__rng_uniform(r), cy = clssd__rng_uniform(r);
        float w = clssd__rng_range(r, 0.02f, 0.6f), h = clssd__rng_range(r, 0.02f, 0.6f);
        b[4 * i] = cx - w / 2;
        b[4 * i + 1] = cy - h / 2;
        b[4 * i + 2] = cx + w / 2;
        b[4 * i + 3] = cy + h / 2;
    }
}

int op_case_build(int idx, op_case *c)
{
    memset(c, 0, sizeof *c);
    if (idx < 0 || idx >= op_case_count()) return 0;
    const case_spec *cs = &cases[idx];
    clssd_rng rng;
    clssd__rng_seed(&rng, 1000u + (uint64_t)idx);
    c->label = cs->label;
    c->batch = cs->batch;
    clssd__graph_init(&c->g);
    int32_t src[CLSSD_MAX_SRC];
    for (int i = 0; i < cs->n_src; i++) {
        char name[16];
        snprintf(name, sizeof name, "in%d", i);
        src[i] = clssd__graph_add(&c->g, name, CLSSD_OP_INPUT, NULL, NULL, 0);
        if (src[i] < 0) goto fail;
        c->g.nodes[src[i]].out = cs->src[i];
        const int is_const = cs->gen == GEN_CONST2 || (cs->gen == GEN_DECODE && i == 1);
        c->g.nodes[src[i]].batch_const = (uint8_t)is_const;
        const size_t per = clssd__shape_count(&cs->src[i]);
        const size_t n = per * (is_const ? 1 : (size_t)cs->batch);
        c->src_data[i] = alloc_fill(&rng, n, cs->gen == GEN_BIG ? 8.0f : 1.0f);
        if (!c->src_data[i]) goto fail;
        if (cs->gen == GEN_WIDE) {
            static const float ends[] = {-100.0f, 100.0f, 0.0f, -0.0f, -88.0f, 88.0f, -17.0f,
                                         17.0f,   -1e-30f, 1e-30f};
            for (size_t k = 0; k < n; k++)
                c->src_data[i][k] = k < sizeof ends / sizeof ends[0]
                                        ? ends[k]
                                        : clssd__rng_range(&rng, -100.0f, 100.0f);
        }
    }
    c->node = clssd__graph_add(&c->g, cs->label, cs->op, &cs->p, src, cs->n_src);
    if (c->node < 0) goto fail;
    clssd_node *n = &c->g.nodes[c->node];
    if (cs->op == CLSSD_OP_CONV2D) {
        const int32_t cin = cs->src[0].c / cs->p.conv.groups;
        int32_t w = clssd__graph_add_tensor(&c->g, "w", (clssd_shape){cs->p.conv.cout, cin, cs->p.conv.kh, cs->p.conv.kw});
        if (w < 0) goto fail;
        n->weight = w;
        const float sd = sqrtf(2.0f / (float)(cin * cs->p.conv.kh * cs->p.conv.kw));
        size_t cnt = clssd__shape_count(&c->g.tensors[w].shape);
        for (size_t k = 0; k < cnt; k++) c->g.tensors[w].data[k] = sd * clssd__rng_normal(&rng);
        if (cs->bias) {
            int32_t b = clssd__graph_add_tensor(&c->g, "b", (clssd_shape){1, cs->p.conv.cout, 1, 1});
            if (b < 0) goto fail;
            n->bias = b;
            for (int32_t k = 0; k < cs->p.conv.cout; k++) c->g.tensors[b].data[k] = 0.1f * clssd__rng_normal(&rng);
        }
    } else if (cs->op == CLSSD_OP_SCALE) {
        const int32_t C = cs->src[0].c;
        int32_t t = clssd__graph_add_tensor(&c->g, "s", (clssd_shape){1, C, 1, 1});
        if (t < 0) goto fail;
        n->weight = t;
        for (int32_t k = 0; k < C; k++) c->g.tensors[t].data[k] = clssd__rng_normal(&rng);
        if (cs->bias) {
            int32_t b = clssd__graph_add_tensor(&c->g, "b", (clssd_shape){1, C, 1, 1});
            if (b < 0) goto fail;
            n->bias = b;
            for (int32_t k = 0; k < C; k++) c->g.tensors[b].data[k] = clssd__rng_normal(&rng);
        }
    } else if (cs->gen == GEN_TENSOR) {
        int32_t t = clssd__graph_add_tensor(&c->g, "t", cs->src[0]);
        if (t < 0) goto fail;
        n->weight = t;
        size_t cnt = clssd__shape_count(&c->g.tensors[t].shape);
        for (size_t k = 0; k < cnt; k++) c->g.tensors[t].data[k] = clssd__rng_normal(&rng);
    } else if (cs->op == CLSSD_OP_L2NORM) {
        int32_t t = clssd__graph_add_tensor(&c->g, "scale", (clssd_shape){1, cs->p.l2norm.channel_shared ? 1 : cs->src[0].c, 1, 1});
        if (t < 0) goto fail;
        n->weight = t;
        size_t cnt = clssd__shape_count(&c->g.tensors[t].shape);
        for (size_t k = 0; k < cnt; k++) c->g.tensors[t].data[k] = clssd__rng_range(&rng, 1.0f, 20.0f);
    }
    if (cs->gen == GEN_DECODE) {
        /* priors: random boxes, then the reference variances */
        const size_t P = (size_t)cs->src[1].h / 4;
        fill_boxes(&rng, c->src_data[1], P);
        for (size_t k = 0; k < P; k++) {
            c->src_data[1][P * 4 + 4 * k] = 0.1f;
            c->src_data[1][P * 4 + 4 * k + 1] = 0.1f;
            c->src_data[1][P * 4 + 4 * k + 2] = 0.2f;
            c->src_data[1][P * 4 + 4 * k + 3] = 0.2f;
        }
    }
    if (cs->gen == GEN_NMS || cs->gen == GEN_NMS_TIES) {
        const size_t P = (size_t)cs->src[0].h / 4, C = (size_t)cs->p.nms.n_classes;
        for (int b = 0; b < cs->batch; b++) {
            float *boxes = c->src_data[0] + (size_t)b * P * 4;
            float *conf = c->src_data[1] + (size_t)b * P * C;
            fill_boxes(&rng, boxes, P);
            if (cs->gen == GEN_NMS_TIES) /* duplicated boxes: IoU exactly 1 */
                for (size_t k = 1; k < P; k += 3) memcpy(boxes + 4 * k, boxes + 4 * (k - 1), 4 * sizeof(float));
            for (size_t k = 0; k < P; k++) {
                float *row = conf + k * C, mx = -INFINITY, sum = 0.0f;
                for (size_t j = 0; j < C; j++) {
                    row[j] = 3.0f * clssd__rng_normal(&rng);
                    mx = fmaxf(mx, row[j]);
                }
                for (size_t j = 0; j < C; j++) sum += (row[j] = expf(row[j] - mx));
                for (size_t j = 0; j < C; j++) {
                    row[j] /= sum;
                    /* few distinct values: ties everywhere, as fp16 scores give */
                    if (cs->gen == GEN_NMS_TIES) row[j] = floorf(row[j] * 16.0f) / 16.0f;
                }
            }
        }
    }
    if (cs->gen == GEN_IMAGE) {
        static const int dims[4][2] = {{640, 480}, {7, 5}, {301, 299}, {64, 48}};
        for (int b = 0; b < cs->batch; b++) {
            const int w = dims[b][0], h = dims[b][1], stride = 3 * w + (b & 1) * 5;
            c->pixels[b] = clssd__malloc((size_t)stride * (size_t)h);
            if (!c->pixels[b]) goto fail;
            for (size_t k = 0; k < (size_t)stride * (size_t)h; k++)
                c->pixels[b][k] = (uint8_t)(clssd__rng_u64(&rng) >> 56);
            c->images[b] = (clssd_image){c->pixels[b], w, h, stride};
        }
    }
    char err[256];
    if (clssd__graph_infer(&c->g, err, sizeof err) != CLSSD_OK) {
        fprintf(stderr, "case %s: %s\n", cs->label, err);
        goto fail;
    }
    return 1;
fail:
    op_case_free(c);
    return 0;
}

void op_case_free(op_case *c)
{
    for (int i = 0; i < CLSSD_MAX_SRC; i++) clssd__free(c->src_data[i]);
    for (int i = 0; i < 4; i++) clssd__free(c->pixels[i]);
    clssd__graph_free(&c->g);
    memset(c, 0, sizeof *c);
}
