/* clssd__model_retarget_classes (src/train/retarget.c) on every OpenCL device found; exits 77
 * (skip) without one.
 *
 * - yufacedetectnet-v2 (Caffe SSD, background + face) retargeted to 6 classes: the conf heads
 *   are priors x 6 wide with fresh weights, every other tensor (base, extras, loc heads, the
 *   L2Norm scales) is byte-identical, the prior count, softmax group, NMS classes and labels
 *   follow, detect runs, the model survives a save / load round trip, and a trainer takes a
 *   few finite steps on a synthetic batch of two images.
 * - the TF.js COCO SSDLite (sigmoid scores) is refused with CLSSD_ERR_UNSUPPORTED, and
 *   n_classes < 2 with CLSSD_ERR_INVALID_ARG, both leaving the model unchanged. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "per_device.h"
#include "testutil.h"
#include "train/trainer.h"

static clssd_context *g_ctx;

#define EXPECT_OK(call)                                                                            \
    do {                                                                                           \
        clssd_status st_ = (call);                                                                 \
        ck_assert_msg(st_ == CLSSD_OK, "%s returned %d (%s): %s", #call, (int)st_,                 \
                      clssd_status_string(st_), clssd_last_error(g_ctx));                          \
    } while (0)

#define FACE_MODEL CLSSD_SOURCE_DIR "/models/yufacedetectnet-v2.clssd"
#define COCO_MODEL CLSSD_SOURCE_DIR "/models/coco-ssdlite-mobilenet-v2.clssd"
#define NEW_CLASSES 6

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(p);
    return p;
}

static int is_conf_head(const clssd_graph *g, int32_t tensor)
{
    for (int32_t i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].op == CLSSD_OP_CONV2D && strstr(g->nodes[i].name, "_conf") &&
            (g->nodes[i].weight == tensor || g->nodes[i].bias == tensor))
            return 1;
    return 0;
}

/* What PREPROCESS makes of an RGB image with a filled rectangle (normalized box): network
 * channel order, mean subtracted, scaled. */
static void draw(const clssd_graph *g, float *x, const float box[4], const float fg[3],
                 const float bg[3])
{
    const clssd_op_params *p = &g->pre;
    const int32_t W = p->pre.out_w, H = p->pre.out_h;
    const size_t plane = (size_t)W * (size_t)H;
    for (int32_t y = 0; y < H; y++)
        for (int32_t xx = 0; xx < W; xx++) {
            const float u = ((float)xx + 0.5f) / (float)W, v = ((float)y + 0.5f) / (float)H;
            const int in = u >= box[0] && u <= box[2] && v >= box[1] && v <= box[3];
            const float *rgb = in ? fg : bg;
            for (int c = 0; c < 3; c++) {
                const float val = rgb[p->pre.bgr ? 2 - c : c];
                x[(size_t)c * plane + (size_t)y * (size_t)W + (size_t)xx] =
                    (val - p->pre.mean[c]) * p->pre.scale;
            }
        }
}

START_TEST(test_retarget_face)
{
    clssd_model *orig = NULL, *m = NULL;
    EXPECT_OK(clssd_model_load(g_ctx, FACE_MODEL, &orig));
    EXPECT_OK(clssd_model_load(g_ctx, FACE_MODEL, &m));
    clssd_model_info before, after;
    EXPECT_OK(clssd_model_get_info(orig, &before));
    ck_assert_int_eq(before.n_classes, 2);

    static const char *const labels[NEW_CLASSES] = {"background", "a", "b", "c", "d", "e"};
    EXPECT_OK(clssd__model_retarget_classes(m, NEW_CLASSES, labels, 7));
    EXPECT_OK(clssd_model_get_info(m, &after));
    ck_assert_int_eq(after.n_classes, NEW_CLASSES);
    ck_assert_int_eq(after.n_priors, before.n_priors);
    ck_assert_int_eq(after.n_nodes, before.n_nodes);
    ck_assert_str_eq(clssd_model_label(m, 0), "background");
    ck_assert_str_eq(clssd_model_label(m, 5), "e");
    ck_assert_ptr_null(clssd_model_label(m, 6));

    /* conf heads: priors x 6 wide, fresh and finite; everything else untouched */
    const clssd_graph *g0 = &orig->g, *g1 = &m->g;
    ck_assert_int_eq(g1->n_tensors, g0->n_tensors);
    int heads = 0, kept = 0;
    for (int32_t i = 0; i < g1->n_nodes; i++) {
        const clssd_node *a = &g0->nodes[i], *b = &g1->nodes[i];
        ck_assert_str_eq(a->name, b->name);
        if (a->op == CLSSD_OP_SOFTMAX) ck_assert_int_eq(b->p.softmax.group, NEW_CLASSES);
        if (a->op != CLSSD_OP_CONV2D || !strstr(a->name, "_conf")) continue;
        const int32_t anchors = a->p.conv.cout / 2;
        ck_assert_int_eq(b->p.conv.cout, anchors * NEW_CLASSES);
        const clssd_shape *ws = &g1->tensors[b->weight].shape;
        ck_assert_int_eq(ws->n, anchors * NEW_CLASSES);
        ck_assert_int_eq(ws->c, g0->tensors[a->weight].shape.c);
        ck_assert_int_eq(ws->h, g0->tensors[a->weight].shape.h);
        ck_assert_int_eq(b->out.c, anchors * NEW_CLASSES);
        ck_assert_int_eq(b->out.h, a->out.h);
        ck_assert_int_eq(b->out.w, a->out.w);
        const size_t cnt = clssd__shape_count(ws);
        float mx = 0.0f;
        for (size_t k = 0; k < cnt; k++) {
            ck_assert(isfinite(g1->tensors[b->weight].data[k]));
            mx = fmaxf(mx, fabsf(g1->tensors[b->weight].data[k]));
        }
        ck_assert(mx > 0.0f);
        heads++;
    }
    ck_assert_int_gt(heads, 0);
    for (int32_t t = 0; t < g1->n_tensors; t++) {
        if (is_conf_head(g1, t)) continue;
        const clssd_tensor *a = &g0->tensors[t], *b = &g1->tensors[t];
        ck_assert_str_eq(a->name, b->name);
        ck_assert(memcmp(&a->shape, &b->shape, sizeof a->shape) == 0);
        ck_assert(memcmp(a->data, b->data, clssd__shape_count(&a->shape) * sizeof(float)) == 0);
        kept++;
    }
    printf("  retarget: %d conf heads resized, %d tensors kept byte-identical, %d priors\n", heads,
           kept, after.n_priors);

    /* detect runs (random heads: any detections must carry labels 1..5) */
    const int32_t W = after.input_width, H = after.input_height;
    uint8_t *rgb = xmalloc((size_t)W * (size_t)H * 3);
    for (size_t k = 0; k < (size_t)W * (size_t)H * 3; k++) rgb[k] = (uint8_t)(k * 7 % 251);
    clssd_detection dets[256];
    size_t n_dets = 0;
    EXPECT_OK(clssd_detect(m, rgb, W, H, 3 * W, NULL, dets, 256, &n_dets));
    for (size_t k = 0; k < n_dets; k++)
        ck_assert(dets[k].label >= 1 && dets[k].label < NEW_CLASSES);
    free(rgb);

    /* save / load round trip */
    char path[] = "/tmp/test_retarget_XXXXXX";
    const int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    EXPECT_OK(clssd_model_save(m, path));
    clssd_model *back = NULL;
    EXPECT_OK(clssd_model_load(g_ctx, path, &back));
    remove(path);
    clssd_model_info bi;
    EXPECT_OK(clssd_model_get_info(back, &bi));
    ck_assert_int_eq(bi.n_classes, NEW_CLASSES);
    ck_assert_int_eq(bi.n_priors, after.n_priors);
    ck_assert_str_eq(clssd_model_label(back, 3), "c");
    for (int32_t t = 0; t < g1->n_tensors; t++) {
        const clssd_tensor *a = &g1->tensors[t];
        const int32_t u = clssd__graph_find_tensor(&back->g, a->name);
        ck_assert_int_ge(u, 0);
        ck_assert(memcmp(a->data, back->g.tensors[u].data,
                         clssd__shape_count(&a->shape) * sizeof(float)) == 0);
    }
    clssd_model_destroy(back);

    /* a few training steps on two synthetic images */
    clssd_trainer_params tp;
    clssd__trainer_params_defaults(&tp, 2);
    clssd_trainer *t = NULL;
    EXPECT_OK(clssd__trainer_create(m, &tp, &t));
    ck_assert_int_eq(t->n_classes, NEW_CLASSES);
    const size_t per = (size_t)3 * (size_t)W * (size_t)H;
    float *x = xmalloc(2 * per * sizeof(float));
    const float b0[4] = {0.2f, 0.25f, 0.6f, 0.8f}, b1[4] = {0.5f, 0.1f, 0.9f, 0.5f};
    const float fg0[3] = {230, 30, 30}, fg1[3] = {30, 50, 220};
    const float bg0[3] = {90, 110, 100}, bg1[3] = {140, 130, 120};
    draw(g1, x, b0, fg0, bg0);
    draw(g1, x + per, b1, fg1, bg1);
    clssd_train_gt gt[2];
    memset(gt, 0, sizeof gt);
    gt[0].image = 0;
    gt[0].label = 2;
    memcpy(gt[0].box, b0, sizeof b0);
    gt[1].image = 1;
    gt[1].label = 5;
    memcpy(gt[1].box, b1, sizeof b1);
    double first = 0.0, loss = 0.0;
    EXPECT_OK(clssd__trainer_loss(t, x, 2, gt, 2, &first, NULL));
    ck_assert(isfinite(first) && first > 0.0);
    printf("  retarget: trainer loss before %.4f\n", first);
    for (int it = 0; it < 5; it++) {
        EXPECT_OK(clssd__trainer_step(t, x, 2, 1, gt, 2, 1e-3f, &loss));
        ck_assert_msg(isfinite(loss), "step %d: loss %g", it, loss);
    }
    double final = 0.0;
    EXPECT_OK(clssd__trainer_loss(t, x, 2, gt, 2, &final, NULL));
    printf("  retarget: after 5 steps %.4f (%.1f%% of the start)\n", final, 100.0 * final / first);
    ck_assert(isfinite(final));
    ck_assert_msg(final < first, "loss %g did not fall below %g", final, first);
    clssd__trainer_destroy(t);
    free(x);
    clssd_model_destroy(m);
    clssd_model_destroy(orig);
}
END_TEST

START_TEST(test_retarget_refused)
{
    clssd_model *m = NULL;
    EXPECT_OK(clssd_model_load(g_ctx, COCO_MODEL, &m));
    clssd_model_info before, after;
    EXPECT_OK(clssd_model_get_info(m, &before));
    ck_assert_int_eq(clssd__model_retarget_classes(m, 4, NULL, 1), CLSSD_ERR_UNSUPPORTED);
    printf("  retarget: SSDLite refused: %s\n", clssd_last_error(g_ctx));
    ck_assert_ptr_nonnull(strstr(clssd_last_error(g_ctx), "sigmoid"));
    EXPECT_OK(clssd_model_get_info(m, &after));
    ck_assert_int_eq(after.n_classes, before.n_classes);
    clssd_model_destroy(m);

    EXPECT_OK(clssd_model_load(g_ctx, FACE_MODEL, &m));
    ck_assert_int_eq(clssd__model_retarget_classes(m, 1, NULL, 1), CLSSD_ERR_INVALID_ARG);
    ck_assert_int_eq(clssd__model_retarget_classes(NULL, 3, NULL, 1), CLSSD_ERR_INVALID_ARG);
    EXPECT_OK(clssd_model_get_info(m, &after));
    ck_assert_int_eq(after.n_classes, 2);
    /* NULL labels: generated names */
    EXPECT_OK(clssd__model_retarget_classes(m, 3, NULL, 1));
    ck_assert_str_eq(clssd_model_label(m, 0), "background");
    ck_assert_str_eq(clssd_model_label(m, 2), "class2");
    clssd_model_destroy(m);
}
END_TEST

static void add_cases(TCase *tc)
{
    tcase_add_test(tc, test_retarget_refused);
    tcase_add_test(tc, test_retarget_face);
}

int main(void)
{
    const int failed =
        test_run_per_device("retarget", add_cases, 600, &g_ctx, "retarget tests");
    if (failed < 0) return 77;
    return failed ? 1 : 0;
}
