/* TF.js importer: the real COCO SSDLite-MobileNetV2 graph model (../shared, skipped when
 * absent) converted and checked
 *   - structurally: op coverage, shapes, 1917 anchors, preprocessing, labels;
 *   - against TensorFlow.js itself: the plain-C forward of the converted model on
 *     samples/dog.jpg equals the golden scores and boxes that tests/tools/gen_tfjs_golden.js
 *     computed with TF.js (the reference implementation) from the original files;
 *   - on every OpenCL device: the device forward equals the plain-C forward, and the
 *     public API finds the dog, the bicycle and the car;
 *   - against bad input: missing and truncated shards, corrupt JSON, unknown ops, a
 *     constant without data, and an allocation failure at every step. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clssd_internal.h"
#include "image_io.h"
#include "per_device.h"
#include "testutil.h"
#include "tfjs.h"

#define MODEL_DIR CLSSD_SHARED_DIR "/models/coco_ssdlite_mobilenet_v2_tfjs"
#define MODEL_JSON MODEL_DIR "/model.json"
#define SAMPLE CLSSD_SOURCE_DIR "/samples/dog.jpg"
#define GOLDEN CLSSD_SOURCE_DIR "/tests/data/tfjs_coco_ssd_dog.golden"

static int have_model(void)
{
    FILE *f = fopen(MODEL_JSON, "rb");
    if (f) fclose(f);
    return f != NULL;
}

static void *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    ck_assert(fread(p, 1, (size_t)n, f) == (size_t)n);
    p[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return p;
}

/* model.json text and its five shards concatenated, for the in-memory importer */
static char *g_json;
static uint8_t *g_weights;
static size_t g_json_len, g_weights_len;

static void load_files(void)
{
    if (g_json) return;
    g_json = slurp(MODEL_JSON, &g_json_len);
    g_weights = malloc(18100000);
    for (int k = 1; k <= 5; k++) {
        char path[512];
        size_t n;
        snprintf(path, sizeof path, MODEL_DIR "/group1-shard%dof5", k);
        void *p = slurp(path, &n);
        ck_assert(g_weights_len + n <= 18100000);
        memcpy(g_weights + g_weights_len, p, n);
        g_weights_len += n;
        free(p);
    }
}

static const clssd_node *node(const clssd_graph *g, const char *name)
{
    int32_t i = clssd__graph_find_node(g, name);
    ck_assert_msg(i >= 0, "no node %s", name);
    return &g->nodes[i];
}

START_TEST(test_structure)
{
    if (!have_model()) return;
    clssd_graph g;
    char err[600] = "";
    ck_assert_msg(tfjs_load_graph(MODEL_JSON, NULL, &g, err, sizeof err) == CLSSD_OK, "%s", err);
    int n_op[CLSSD_OP_COUNT] = {0}, depthwise = 0, relu6 = 0, asym = 0;
    long long params = 0;
    for (int32_t i = 0; i < g.n_nodes; i++) {
        const clssd_node *n = &g.nodes[i];
        n_op[n->op]++;
        if (n->op == CLSSD_OP_CONV2D) {
            depthwise += n->p.conv.groups > 1 && n->p.conv.groups == n->p.conv.cout;
            relu6 += n->p.conv.relu && n->p.conv.relu_max == 6.0f;
            asym += n->p.conv.ph_extra || n->p.conv.pw_extra;
        }
    }
    for (int32_t t = 0; t < g.n_tensors; t++) params += (long long)clssd__shape_count(&g.tensors[t].shape);
    /* the graph's 55 Conv2D and 33 DepthwiseConv2dNative, every BatchNorm/Mul/Add folded,
     * its 59 Relu6 fused, 10 residual sums, 6+6 head outputs flattened and concatenated */
    ck_assert_int_eq(n_op[CLSSD_OP_CONV2D], 88);
    ck_assert_int_eq(depthwise, 33);
    ck_assert_int_eq(relu6, 59);
    ck_assert_int_eq(n_op[CLSSD_OP_RELU], 0);
    ck_assert_int_eq(n_op[CLSSD_OP_SCALE], 0);
    ck_assert_int_eq(n_op[CLSSD_OP_ELTWISE], 10);
    ck_assert_int_eq(n_op[CLSSD_OP_PERMUTE], 12);
    ck_assert_int_eq(n_op[CLSSD_OP_CONCAT], 2);
    ck_assert_int_eq(n_op[CLSSD_OP_SIGMOID], 1);
    ck_assert_int_eq(n_op[CLSSD_OP_CONST], 1);
    ck_assert_int_eq(n_op[CLSSD_OP_DECODE], 1);
    ck_assert_int_eq(n_op[CLSSD_OP_NMS], 1);
    ck_assert_int_eq(n_op[CLSSD_OP_INPUT], 1);
    /* stride-2 SAME convolutions on even maps (300->150, 150->75? no: 75 is odd...) pad
     * one more row at the bottom than at the top */
    ck_assert_msg(asym >= 5, "%d convolutions with TF's asymmetric SAME padding", asym);
    /* 4,475,167 weights (the published 4.475 M) + 1917 anchors x 8 (boxes, variances) */
    ck_assert_int_eq(params, 4475167 + 1917 * 8);
    /* 19x19x3 + 10x10x6 + 5x5x6 + 3x3x6 + 2x2x6 + 1x1x6 anchors */
    const clssd_node *anchors = node(&g, "anchors"), *nms = &g.nodes[g.output];
    ck_assert_int_eq((int)clssd__shape_count(&anchors->out), 2 * 1917 * 4);
    ck_assert_int_eq(19 * 19 * 3 + 10 * 10 * 6 + 5 * 5 * 6 + 3 * 3 * 6 + 2 * 2 * 6 + 6, 1917);
    ck_assert_int_eq((int)clssd__shape_count(&node(&g, "decode")->out), 1917 * 4);
    ck_assert_int_eq((int)clssd__shape_count(&node(&g, "scores")->out), 1917 * 91);
    ck_assert_int_eq(nms->p.nms.n_classes, 91);
    ck_assert_int_eq(nms->p.nms.background, 0);
    /* variances = 1 / (10, 10, 5, 5), in x, y, w, h order */
    const clssd_tensor *at = &g.tensors[anchors->weight];
    ck_assert_float_eq_tol(at->data[1917 * 4 + 0], 0.1f, 1e-7f);
    ck_assert_float_eq_tol(at->data[1917 * 4 + 3], 0.2f, 1e-7f);
    /* the Preprocessor: ResizeBilinear to 300x300 (legacy TF sampling), x * 2/255 - 1, RGB */
    const clssd_node *in = &g.nodes[g.input];
    ck_assert_int_eq(in->out.w, 300);
    ck_assert_int_eq(in->out.h, 300);
    ck_assert_int_eq(g.pre.pre.resize, CLSSD_RESIZE_TF_LEGACY);
    ck_assert_int_eq(g.pre.pre.bgr, 0);
    ck_assert_float_eq_tol(g.pre.pre.scale, 2.0f / 255.0f, 1e-9f);
    ck_assert_float_eq_tol(g.pre.pre.mean[1], 127.5f, 1e-4f);
    ck_assert_int_eq(g.n_labels, 91);
    ck_assert_str_eq(g.labels[1], "person");
    ck_assert_str_eq(g.labels[18], "dog");
    ck_assert_str_eq(g.labels[90], "toothbrush");
    ck_assert_str_eq(g.name, "coco_ssd");
    clssd__graph_free(&g);
}
END_TEST

/* ---------------------------------------------------------------- golden values */
typedef struct golden {
    int w, h;
    long long pixel_sum;
    double score_sum, box_sum;
    int n_scores, n_boxes;
    int s_anchor[400], s_class[400];
    float s_value[400];
    int b_anchor[400];
    float b_value[400][4]; /* ymin, xmin, ymax, xmax as TF gives them */
} golden;

static void read_golden(golden *gd)
{
    memset(gd, 0, sizeof *gd);
    FILE *f = fopen(GOLDEN, "r");
    ck_assert_msg(f != NULL, "no %s", GOLDEN);
    char line[256];
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "pixels %d %d %lld", &gd->w, &gd->h, &gd->pixel_sum) == 3) continue;
        if (sscanf(line, "totals %lf %lf", &gd->score_sum, &gd->box_sum) == 2) continue;
        if (!strncmp(line, "score", 5)) {
            ck_assert(gd->n_scores < 400);
            ck_assert(sscanf(line, "score %d %d %f", &gd->s_anchor[gd->n_scores], &gd->s_class[gd->n_scores],
                             &gd->s_value[gd->n_scores]) == 3);
            gd->n_scores++;
        } else if (!strncmp(line, "box", 3)) {
            float *b = gd->b_value[gd->n_boxes];
            ck_assert(gd->n_boxes < 400);
            ck_assert(sscanf(line, "box %d %f %f %f %f", &gd->b_anchor[gd->n_boxes], &b[0], &b[1], &b[2], &b[3]) == 5);
            gd->n_boxes++;
        }
    }
    fclose(f);
    ck_assert_int_eq(gd->n_scores, 300);
    ck_assert(gd->n_boxes > 10);
}

static imgio_image load_sample(const golden *gd)
{
    imgio_image im;
    char err[256];
    ck_assert_msg(imgio_load(SAMPLE, &im, err, sizeof err) == 0, "%s", err);
    long long sum = 0;
    for (size_t k = 0; k < (size_t)im.w * (size_t)im.h * 3; k++) sum += im.px[k];
    /* the golden values were computed from these exact pixels */
    ck_assert_msg(im.w == gd->w && im.h == gd->h && sum == gd->pixel_sum,
                  "samples/dog.jpg decodes to %dx%d, byte sum %lld; the golden file was made from "
                  "%dx%d, %lld (a different JPEG decoder?)", im.w, im.h, sum, gd->w, gd->h, gd->pixel_sum);
    return im;
}

/* scores [P, 91] (class 0 = background) and decoded boxes [P, 4] (xmin, ymin, xmax, ymax)
 * against TF.js: its top scores, every anchor box it lists, and the sums over all anchors */
static void check_against_golden(const golden *gd, const float *scores, const float *boxes, const char *who)
{
    double worst_s = 0, worst_b = 0, ss = 0, bs = 0;
    for (int k = 0; k < gd->n_scores; k++) {
        double d = fabs((double)scores[gd->s_anchor[k] * 91 + gd->s_class[k]] - (double)gd->s_value[k]);
        if (d > worst_s) worst_s = d;
    }
    for (int k = 0; k < gd->n_boxes; k++) {
        const float *o = boxes + 4 * gd->b_anchor[k], *t = gd->b_value[k];
        const float ours[4] = {o[1], o[0], o[3], o[2]};
        for (int c = 0; c < 4; c++) {
            double d = fabs((double)ours[c] - (double)t[c]);
            if (d > worst_b) worst_b = d;
        }
    }
    for (int p = 0; p < 1917; p++) {
        for (int c = 1; c < 91; c++) ss += scores[p * 91 + c];
        for (int c = 0; c < 4; c++) bs += boxes[4 * p + c];
    }
    printf("  %s vs TF.js: top-%d scores max |diff| %.3g, %d boxes max |diff| %.3g, score sum %.6f "
           "(TF.js %.6f), box sum %.4f (TF.js %.4f)\n", who, gd->n_scores, worst_s, gd->n_boxes,
           worst_b, ss, gd->score_sum, bs, gd->box_sum);
    ck_assert_msg(worst_s < 1e-4, "%s: a score differs from TF.js by %g", who, worst_s);
    ck_assert_msg(worst_b < 1e-4, "%s: a box differs from TF.js by %g", who, worst_b);
    ck_assert_msg(fabs(ss - gd->score_sum) < 1e-3 * gd->score_sum, "%s: score sum %f vs %f", who, ss, gd->score_sum);
    ck_assert_msg(fabs(bs - gd->box_sum) < 1e-4 * fabs(gd->box_sum), "%s: box sum %f vs %f", who, bs, gd->box_sum);
}

START_TEST(test_reference_equals_tfjs)
{
    if (!have_model()) return;
    golden *gd = malloc(sizeof *gd);
    read_golden(gd);
    imgio_image im = load_sample(gd);
    clssd_graph g;
    char err[600] = "";
    ck_assert_msg(tfjs_load_graph(MODEL_JSON, NULL, &g, err, sizeof err) == CLSSD_OK, "%s", err);
    const clssd_image img = {im.px, im.w, im.h, im.w * 3};
    float **out = NULL;
    ck_assert_int_eq(clssd__ref_forward(&g, 1, &img, NULL, &out), CLSSD_OK);
    check_against_golden(gd, out[clssd__graph_find_node(&g, "scores")],
                         out[clssd__graph_find_node(&g, "decode")], "plain-C reference");
    clssd__ref_outputs_free(&g, out);
    clssd__graph_free(&g);
    imgio_free(&im);
    free(gd);
}
END_TEST

START_TEST(test_file_round_trip)
{
    if (!have_model()) return;
    clssd_graph g, back;
    char err[600] = "", path[] = "/tmp/clssd_tfjs_XXXXXX";
    ck_assert_msg(tfjs_load_graph(MODEL_JSON, NULL, &g, err, sizeof err) == CLSSD_OK, "%s", err);
    int fd = mkstemp(path);
    ck_assert(fd >= 0);
    close(fd);
    ck_assert_msg(clssd__file_save(&g, path, err, sizeof err) == CLSSD_OK, "%s", err);
    clssd__graph_init(&back);
    ck_assert_msg(clssd__file_load(path, &back, err, sizeof err) == CLSSD_OK, "%s", err);
    ck_assert_msg(clssd__graph_infer(&back, err, sizeof err) == CLSSD_OK, "%s", err);
    remove(path);
    ck_assert_int_eq(back.n_nodes, g.n_nodes);
    ck_assert_int_eq(back.n_tensors, g.n_tensors);
    ck_assert(memcmp(&back.pre, &g.pre, sizeof g.pre) == 0);
    for (int32_t i = 0; i < g.n_nodes; i++) {
        ck_assert_str_eq(back.nodes[i].name, g.nodes[i].name);
        ck_assert(memcmp(&back.nodes[i].p, &g.nodes[i].p, sizeof g.nodes[i].p) == 0);
    }
    for (int32_t t = 0; t < g.n_tensors; t++)
        ck_assert(memcmp(back.tensors[t].data, g.tensors[t].data,
                         clssd__shape_count(&g.tensors[t].shape) * sizeof(float)) == 0);
    clssd__graph_free(&g);
    clssd__graph_free(&back);
}
END_TEST

/* ---------------------------------------------------------------- bad input */
/* Imports json (a copy of the real text with `from` replaced by `to`) and the weights
 * (first `wlen` bytes); expects `want` and an error naming `needle`. */
static void expect_error(const char *from, const char *to, size_t wlen, clssd_status want, const char *needle)
{
    load_files();
    char *text = malloc(g_json_len + 64);
    size_t len = g_json_len;
    memcpy(text, g_json, g_json_len);
    if (from) {
        char *at = strstr(text, from);
        ck_assert_msg(at != NULL, "no '%s' in model.json", from);
        size_t fl = strlen(from), tl = strlen(to);
        ck_assert(tl <= fl + 60);
        memmove(at + tl, at + fl, len - (size_t)(at - text) - fl);
        memcpy(at, to, tl);
        len = len - fl + tl;
    }
    clssd_graph g;
    char err[600] = "";
    clssd_status s = tfjs_import(text, len, g_weights, wlen, NULL, &g, err, sizeof err);
    ck_assert_msg(s == want, "'%s' -> '%s': status %d, want %d (%s)", from ? from : "", to ? to : "", s, want, err);
    ck_assert_msg(strstr(err, needle) != NULL, "error '%s' does not mention '%s'", err, needle);
    ck_assert_int_eq(g.n_nodes, 0);
    ck_assert_int_eq(g.n_tensors, 0);
    free(text);
}

START_TEST(test_bad_input)
{
    if (!have_model()) return;
    load_files();
    /* the unmodified files import */
    clssd_graph g;
    char err[600] = "";
    ck_assert_msg(tfjs_import(g_json, g_json_len, g_weights, g_weights_len, NULL, &g, err, sizeof err) == CLSSD_OK, "%s", err);
    clssd__graph_free(&g);
    /* a shard missing or cut short */
    expect_error(NULL, NULL, g_weights_len - 1257312, CLSSD_ERR_BAD_MODEL, "truncated");
    expect_error(NULL, NULL, g_weights_len - 1, CLSSD_ERR_BAD_MODEL, "truncated");
    expect_error(NULL, NULL, 0, CLSSD_ERR_BAD_MODEL, "truncated");
    /* broken JSON */
    expect_error("\"modelTopology\": {", "\"modelTopology\": {{", g_weights_len, CLSSD_ERR_BAD_MODEL, "line 2");
    /* an op the importer does not know, anywhere in the graph */
    expect_error("\"op\": \"Relu6\"", "\"op\": \"Elu\"", g_weights_len, CLSSD_ERR_BAD_MODEL, "'Elu' is not supported");
    /* a Const the manifest does not describe (its weight is renamed) */
    expect_error("\"float32\",\n          \"name\": \"Postprocessor/ExpandDims\"",
                 "\"float32\",\n          \"name\": \"Postprocessor/ExpandDimz\"", g_weights_len,
                 CLSSD_ERR_BAD_MODEL, "no data in the weights manifest");
    /* a node whose name another node's input refers to is renamed */
    expect_error("\"name\": \"Preprocessor/sub\",", "\"name\": \"Preprocessor/nope\",", g_weights_len,
                 CLSSD_ERR_BAD_MODEL, "is not a node");
    /* unsupported padding: SAME -> EXP */
    expect_error("\"s\": [\n              83,\n              65,\n              77,\n              69\n",
                 "\"s\": [\n              69,\n              88,\n              80\n", g_weights_len,
                 CLSSD_ERR_BAD_MODEL, "padding 'EXP'");
    /* a weight with an unknown dtype */
    expect_error("\"dtype\": \"float32\"", "\"dtype\": \"complex64\"", g_weights_len, CLSSD_ERR_BAD_MODEL, "complex64");
    /* not a graph model at all */
    expect_error("\"node\": [", "\"nodes\": [", g_weights_len, CLSSD_ERR_BAD_MODEL, "no modelTopology.node");
    /* files: a missing model, a missing shard */
    ck_assert_int_eq(tfjs_load_graph("/nonexistent/model.json", NULL, &g, err, sizeof err), CLSSD_ERR_IO);
    ck_assert_msg(strstr(err, "/nonexistent/model.json") != NULL, "%s", err);
}
END_TEST

START_TEST(test_alloc_failures)
{
    if (!have_model()) return;
    load_files();
    /* every allocation of a conversion failing in turn: OUT_OF_MEMORY, never a crash or a
     * leak (the suite runs under valgrind / ASan in the sanitizer job) */
    long n = 1, oom = 0;
    for (;; n += n < 400 ? 1 : 37) {
        clssd_graph g;
        char err[600] = "";
        clssd__alloc_fail_after(n);
        clssd_status s = tfjs_import(g_json, g_json_len, g_weights, g_weights_len, NULL, &g, err, sizeof err);
        clssd__alloc_fail_after(0);
        if (s == CLSSD_OK) {
            clssd__graph_free(&g);
            break;
        }
        ck_assert_msg(s == CLSSD_ERR_OUT_OF_MEMORY, "allocation %ld failing gave %d: %s", n, s, err);
        ck_assert_int_eq(g.n_nodes, 0);
        oom++;
    }
    printf("  %ld allocation failures injected, each gave CLSSD_ERR_OUT_OF_MEMORY\n", oom);
    ck_assert(oom > 100);
}
END_TEST

/* ---------------------------------------------------------------- devices */
static clssd_context *g_ctx;

static float *read_node(clssd_model *m, const char *name)
{
    int32_t i = clssd__graph_find_node(&m->g, name);
    ck_assert(i >= 0);
    const clssd_node *n = &m->g.nodes[i];
    size_t c = clssd__shape_count(&n->out);
    float *p = malloc(c * sizeof(float));
    ck_assert_int_eq(clEnqueueReadBuffer(g_ctx->queue, m->ex->bufs[i], CL_TRUE, 0, c * sizeof(float), p, 0, NULL, NULL), CL_SUCCESS);
    return p;
}

START_TEST(test_device)
{
    if (!have_model()) return;
    const char *dev = g_ctx->info.device_name;
    golden *gd = malloc(sizeof *gd);
    read_golden(gd);
    imgio_image im = load_sample(gd);
    clssd_model *m = NULL;
    ck_assert_msg(clssd_model_load_tfjs(g_ctx, MODEL_JSON, &m) == CLSSD_OK, "[%s] %s", dev, clssd_last_error(g_ctx));
    clssd_detection dets[100];
    size_t n = 0;
    double t0 = test_now_ms();
    ck_assert_msg(clssd_detect(m, im.px, im.w, im.h, im.w * 3, NULL, dets, 100, &n) == CLSSD_OK, "[%s] %s", dev,
                  clssd_last_error(g_ctx));
    double t_dev = test_now_ms() - t0;
    float *scores = read_node(m, "scores"), *boxes = read_node(m, "decode");
    check_against_golden(gd, scores, boxes, dev);
    /* what a person sees: a bicycle, a dog and a car, where they are (pixels of 768x576) */
    static const struct { int label; float box[4]; } want[3] = {
        {2, {146, 120, 568, 429}}, {18, {133, 220, 315, 541}}, {3, {458, 80, 691, 172}}};
    for (int k = 0; k < 3; k++) {
        int found = 0;
        for (size_t d = 0; d < n; d++) {
            if (dets[d].label != want[k].label || dets[d].score < 0.5f) continue;
            found |= fabsf(dets[d].xmin - want[k].box[0]) < 8 && fabsf(dets[d].ymin - want[k].box[1]) < 8 &&
                     fabsf(dets[d].xmax - want[k].box[2]) < 8 && fabsf(dets[d].ymax - want[k].box[3]) < 8;
        }
        ck_assert_msg(found, "[%s] no %s near its place", dev, clssd_model_label(m, want[k].label));
    }
    printf("  [%s] %zu detections, %.0f ms for the first detect\n", dev, n, t_dev);
    free(scores);
    free(boxes);
    clssd_model_destroy(m);
    imgio_free(&im);
    free(gd);
}
END_TEST

static void add_device(TCase *tc) { tcase_add_test(tc, test_device); }

int main(void)
{
    int failed = 0;
    if (!have_model()) printf("no %s: the real-model cases are skipped\n", MODEL_JSON);
    Suite *s = suite_create("tfjs_import");
    TCase *tc = tcase_create("convert");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_structure);
    tcase_add_test(tc, test_reference_equals_tfjs);
    tcase_add_test(tc, test_file_round_trip);
    tcase_add_test(tc, test_bad_input);
    tcase_add_test(tc, test_alloc_failures);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed += srunner_ntests_failed(sr);
    srunner_free(sr);

    const int dev_failed = test_run_per_device("device", add_device, 1200, &g_ctx, "device tests");
    if (dev_failed < 0) return failed ? 1 : 77;
    failed += dev_failed;
    return failed ? 1 : 0;
}
