/* The device training step (src/train/trainer.c) on every OpenCL device found; exits 77
 * (skip) without one.
 *
 * - gradients: a narrow SSD (input 260, the smallest the VGG layout reaches conv9_2 at, width
 *   divided by 16, 3 classes) on one synthetic image with two GT boxes. The trainer's device
 *   gradients of a few weights in different layers (first conv, an extra layer, the L2Norm
 *   scale, head weights and biases) are compared with central differences of the loss from
 *   forward + host MultiBoxLoss. The loss must be one smooth function of the weights for
 *   that: matching depends on priors and GT only, but hard negative mining picks negatives by
 *   their current loss, so neg_pos_ratio is set so large that every candidate negative is
 *   kept and the selection cannot change under the perturbation. ReLU / max-pool / SmoothL1
 *   kinks remain; the step is small enough that crossing one is rare, and the checked
 *   elements are picked among those with the largest gradients (well above the difference's
 *   float noise).
 * - SGD: clssd_sgd_update against hand-worked numbers (momentum, weight decay, lr_mult /
 *   decay_mult, 1 / iter_size), and the trainer's update against the same rule.
 * - repack: the device re-packing of the packed convolutions' weights against the host layout.
 * - overfitting: a few dozen steps on one fixed batch of two synthetic images must bring the
 *   loss well below its start. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

#define SIZE 260
#define N_CLASSES 3

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(p);
    return p;
}

static clssd_model *tiny_ssd(uint64_t seed, int32_t init)
{
    clssd_ssd_params sp;
    clssd_ssd_params_init(&sp, SIZE, N_CLASSES);
    sp.width_div = 16;
    sp.seed = seed;
    sp.init = init;
    clssd_model *m = NULL;
    EXPECT_OK(clssd_model_create_ssd(g_ctx, &sp, &m));
    return m;
}

/* What PREPROCESS makes of an RGB image (flat background, filled rectangles in normalized
 * coordinates): BGR planes minus the VGG mean, here also scaled by 1/64 (PREPROCESS's scale)
 * so that randomly initialised layers give logits of order 1 rather than 100 -- the reference
 * models start from pretrained VGG weights instead. */
static void draw(float *x, const float (*rects)[4], const float (*colors)[3], int n_rects,
                 const float bg[3])
{
    static const float mean_bgr[3] = {104.0f, 117.0f, 123.0f};
    const size_t plane = (size_t)SIZE * SIZE;
    for (int y = 0; y < SIZE; y++)
        for (int xx = 0; xx < SIZE; xx++) {
            const float *rgb = bg;
            const float u = ((float)xx + 0.5f) / SIZE, v = ((float)y + 0.5f) / SIZE;
            for (int r = 0; r < n_rects; r++)
                if (u >= rects[r][0] && u < rects[r][2] && v >= rects[r][1] && v < rects[r][3])
                    rgb = colors[r];
            for (int c = 0; c < 3; c++)
                x[(size_t)c * plane + (size_t)y * SIZE + (size_t)xx] =
                    (rgb[2 - c] - mean_bgr[c]) / 64.0f;
        }
}

/* ---------------------------------------------------------------- gradient check */

START_TEST(test_gradients)
{
    clssd_model *m = tiny_ssd(7, CLSSD_INIT_MSRA);
    clssd_trainer_params tp;
    clssd__trainer_params_defaults(&tp, 1);
    tp.loss.neg_pos_ratio = 1e6f; /* every candidate negative: mining cannot change */
    clssd_trainer *t = NULL;

    /* refused graphs: scores that are no softmax, an op without backward on a trainable path
     * (the nodes' ops are swapped for the check and put back) */
    clssd_node *sm = &m->g.nodes[clssd__graph_find_node(&m->g, "mbox_conf_softmax")];
    clssd_node *nm = &m->g.nodes[clssd__graph_find_node(&m->g, "conv4_3_norm")];
    sm->op = CLSSD_OP_SIGMOID;
    ck_assert_int_eq(clssd__trainer_create(m, &tp, &t), CLSSD_ERR_UNSUPPORTED);
    ck_assert_ptr_null(t);
    ck_assert_ptr_nonnull(strstr(clssd_last_error(g_ctx), "softmax"));
    sm->op = CLSSD_OP_SOFTMAX;
    nm->op = CLSSD_OP_SIGMOID;
    ck_assert_int_eq(clssd__trainer_create(m, &tp, &t), CLSSD_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(clssd_last_error(g_ctx), "conv4_3_norm"));
    nm->op = CLSSD_OP_L2NORM;
    tp.max_batch = 0;
    ck_assert_int_eq(clssd__trainer_create(m, &tp, &t), CLSSD_ERR_INVALID_ARG);
    tp.max_batch = 1;

    EXPECT_OK(clssd__trainer_create(m, &tp, &t));

    const float rects[2][4] = {{0.15f, 0.2f, 0.55f, 0.75f}, {0.6f, 0.5f, 0.9f, 0.9f}};
    const float colors[2][3] = {{220, 40, 40}, {40, 60, 210}};
    const float bg[3] = {100, 110, 120};
    float *x = xmalloc((size_t)3 * SIZE * SIZE * sizeof(float));
    draw(x, rects, colors, 2, bg);
    clssd_train_gt gt[2];
    memset(gt, 0, sizeof gt);
    for (int k = 0; k < 2; k++) {
        gt[k].image = 0;
        gt[k].label = k + 1;
        memcpy(gt[k].box, rects[k], sizeof gt[k].box);
    }

    double loss0 = 0.0;
    clssd_mbox_loss_stats st;
    const double t0 = now_s();
    EXPECT_OK(clssd__trainer_forward_backward(t, x, 1, gt, 2, &loss0, &st));
    ck_assert_int_eq(clFinish(g_ctx->queue), CL_SUCCESS);
    printf("  gradients: loss %.6f (%zu positives, %zu negatives), forward+backward %.3f s\n",
           loss0, st.n_pos, st.n_neg, now_s() - t0);
    ck_assert(st.n_pos > 0);

    static const char *const names[] = {
        "conv1_1.weight",      "conv3_3.bias",           "conv4_3.weight",
        "conv4_3_norm.scale",  "conv6_2.weight",         "conv4_3_norm_mbox_conf.weight",
        "fc7_mbox_loc.weight", "conv7_2_mbox_conf.bias", "fc7.bias"};
    double worst = 0.0;
    int checked = 0;
    for (size_t ni = 0; ni < sizeof names / sizeof names[0]; ni++) {
        const int32_t b = clssd__trainer_find_blob(t, names[ni]);
        ck_assert_msg(b >= 0, "no blob %s", names[ni]);
        const size_t cnt = t->blobs[b].count;
        float *grad = xmalloc(cnt * sizeof(float)), *w = xmalloc(cnt * sizeof(float));
        EXPECT_OK(clssd__trainer_read_grad(t, b, grad));
        EXPECT_OK(clssd__trainer_read_weights(t, b, w));
        /* the two largest |gradient| elements */
        size_t pick[2] = {0, 0};
        for (size_t i = 0; i < cnt; i++)
            if (fabsf(grad[i]) > fabsf(grad[pick[0]])) pick[0] = i;
        pick[1] = pick[0] == 0 && cnt > 1 ? 1 : 0;
        for (size_t i = 0; i < cnt; i++)
            if (i != pick[0] && fabsf(grad[i]) > fabsf(grad[pick[1]])) pick[1] = i;
        for (int k = 0; k < (cnt > 1 ? 2 : 1); k++) {
            const size_t i = pick[k];
            const float w0 = w[i];
            const float h = 1e-3f * fmaxf(1.0f, fabsf(w0));
            double lp = 0.0, lm = 0.0;
            const float wp = w0 + h, wm = w0 - h;
            w[i] = wp;
            EXPECT_OK(clssd__trainer_write_weights(t, b, w));
            EXPECT_OK(clssd__trainer_loss(t, x, 1, gt, 2, &lp, NULL));
            w[i] = wm;
            EXPECT_OK(clssd__trainer_write_weights(t, b, w));
            EXPECT_OK(clssd__trainer_loss(t, x, 1, gt, 2, &lm, NULL));
            w[i] = w0;
            EXPECT_OK(clssd__trainer_write_weights(t, b, w));
            const double num = (lp - lm) / ((double)wp - (double)wm);
            const double ana = grad[i];
            const double err = fabs(num - ana) / fmax(fabs(num) + fabs(ana), 1e-3);
            printf("  %-32s [%5zu] analytic % .6e  numeric % .6e  rel %.2e\n", names[ni], i, ana,
                   num, err);
            if (err > worst) worst = err;
            ck_assert_msg(err < 2e-2, "%s[%zu]: analytic %g vs numeric %g", names[ni], i, ana, num);
            checked++;
        }
        free(grad);
        free(w);
    }
    printf("  gradients: %d elements, worst relative difference %.2e\n", checked, worst);
    /* the perturbations left the weights as they were */
    double loss1 = 0.0;
    EXPECT_OK(clssd__trainer_loss(t, x, 1, gt, 2, &loss1, NULL));
    ck_assert_msg(fabs(loss1 - loss0) <= 1e-5 * fabs(loss0), "%g vs %g", loss1, loss0);
    free(x);
    clssd__trainer_destroy(t);
    clssd_model_destroy(m);
}
END_TEST

/* ---------------------------------------------------------------- SGD rule */

static void sgd_launch(cl_mem w, cl_mem g, cl_mem v, float scale, float decay, float rate)
{
    cl_kernel k;
    EXPECT_OK(clssd__kernel(g_ctx, "backward", "clssd_sgd_update", &k));
    const cl_int n = 4;
    const float mom = 0.9f;
    EXPECT_OK(clssd__set_args(g_ctx, k, 8, sizeof w, &w, sizeof g, &g, sizeof v, &v, sizeof n, &n,
                              sizeof scale, &scale, sizeof decay, &decay, sizeof mom, &mom,
                              sizeof rate, &rate));
    const size_t gs = 4, ls = 4;
    EXPECT_OK(clssd__enqueue(g_ctx, k, 1, &gs, &ls));
    clReleaseKernel(k);
}

/* ---------------------------------------------------------------- packed weights refresh */

/* The trainer keeps the PACKED convolution algorithms and re-packs their weights on the
 * device after each update or write (clssd_pack_weights in cl/gemm.cl via
 * clssd__conv2d_repack): random weights written into every packed convolution must come out
 * of the device packing exactly as the host layout of clssd__conv2d_prepare puts them,
 * Ap[((g*Mp + i)*K + k)*MR + r] = W[g*M + i*MR + r][k] with zero rows past M. */
START_TEST(test_repack)
{
    clssd_model *m = tiny_ssd(11, CLSSD_INIT_MSRA);
    clssd_trainer_params tp;
    clssd__trainer_params_defaults(&tp, 1);
    clssd_trainer *t = NULL;
    EXPECT_OK(clssd__trainer_create(m, &tp, &t));
    uint64_t rng = 12345;
    int checked = 0;
    for (int32_t b = 0; b < t->n_blobs; b++) {
        const clssd_node *n = &m->g.nodes[t->blobs[b].node];
        if (n->op != CLSSD_OP_CONV2D || t->blobs[b].tensor != n->weight) continue;
        const int algo = clssd__conv2d_algo(g_ctx, &m->g, n);
        if (algo != CLSSD_CONV_PACKED && algo != CLSSD_CONV_PACKED16) continue;
        const size_t count = t->blobs[b].count;
        float *w = xmalloc(count * sizeof(float));
        for (size_t i = 0; i < count; i++) {
            rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
            w[i] = (float)((double)(rng >> 40) / (double)(1ULL << 24)) - 0.5f;
        }
        EXPECT_OK(clssd__trainer_write_weights(t, b, w));
        const size_t MR = algo == CLSSD_CONV_PACKED16 ? 16 : 12, G = (size_t)n->p.conv.groups,
                     M = (size_t)n->p.conv.cout / G, K = count / (G * M),
                     Mp = (M + MR - 1) / MR, n_pk = G * Mp * MR * K;
        float *want = xmalloc(n_pk * sizeof(float)), *got = xmalloc(n_pk * sizeof(float));
        memset(want, 0, n_pk * sizeof(float));
        for (size_t gi = 0; gi < G; gi++)
            for (size_t mm = 0; mm < M; mm++)
                for (size_t k = 0; k < K; k++)
                    want[((gi * Mp + mm / MR) * K + k) * MR + mm % MR] = w[(gi * M + mm) * K + k];
        cl_mem ap = t->ex->aux[t->blobs[b].node];
        ck_assert_ptr_nonnull(ap);
        ck_assert_int_eq(clEnqueueReadBuffer(g_ctx->queue, ap, CL_TRUE, 0, n_pk * sizeof(float),
                                             got, 0, NULL, NULL),
                         CL_SUCCESS);
        ck_assert_msg(memcmp(want, got, n_pk * sizeof(float)) == 0,
                      "%s: device packing differs from the host layout", n->name);
        checked++;
        free(w);
        free(want);
        free(got);
    }
    printf("  repack: %d packed convolutions re-packed on the device, bit-identical\n", checked);
    if (!g_ctx->info.is_gpu) ck_assert_int_gt(checked, 0); /* CPUs pick PACKED */
    clssd__trainer_destroy(t);
    clssd_model_destroy(m);
}
END_TEST

START_TEST(test_sgd_rule)
{
    /* Hand-worked: grad summed over iter_size 2 (scale 0.5), lr 0.01, momentum 0.9, weight
     * decay 5e-4, two steps with the same gradient.
     * weight blob (lr_mult 1, decay_mult 1): g = 0.5 grad + 5e-4 w, v = 0.9 v + 0.01 g,
     *   w -= v:  step 1 g = [0.1005, 0.199, -0.49975, 1.5], w = [0.998995, -2.00199,
     *   0.5049975, -0.015]; step 2 v = [0.001909494975, 0.00378099005, -0.0094952250125,
     *   0.028499925].
     * bias blob (lr_mult 2, decay_mult 0): v1 = 0.02 * 0.5 grad = [0.002, 0.004, -0.01, 0.03],
     *   v2 = 0.9 v1 + v1 = [0.0038, 0.0076, -0.019, 0.057]. */
    const float w0[4] = {1.0f, -2.0f, 0.5f, 0.0f}, grad[4] = {0.2f, 0.4f, -1.0f, 3.0f};
    const double want_w[2][4] = {{0.998995, -2.00199, 0.5049975, -0.015},
                                 {0.997085505025, -2.00577099005, 0.5144927250125, -0.043499925}};
    const double want_b[2][4] = {{0.998, -2.004, 0.51, -0.03}, {0.9942, -2.0116, 0.529, -0.087}};
    for (int blob = 0; blob < 2; blob++) {
        cl_mem w = NULL, g = NULL, v = NULL;
        const float zero[4] = {0, 0, 0, 0};
        EXPECT_OK(clssd__buffer(g_ctx, sizeof w0, CL_MEM_READ_WRITE, &w));
        EXPECT_OK(clssd__buffer(g_ctx, sizeof w0, CL_MEM_READ_WRITE, &g));
        EXPECT_OK(clssd__buffer(g_ctx, sizeof w0, CL_MEM_READ_WRITE, &v));
        ck_assert_int_eq(
            clEnqueueWriteBuffer(g_ctx->queue, w, CL_TRUE, 0, sizeof w0, w0, 0, NULL, NULL),
            CL_SUCCESS);
        ck_assert_int_eq(
            clEnqueueWriteBuffer(g_ctx->queue, g, CL_TRUE, 0, sizeof grad, grad, 0, NULL, NULL),
            CL_SUCCESS);
        ck_assert_int_eq(
            clEnqueueWriteBuffer(g_ctx->queue, v, CL_TRUE, 0, sizeof zero, zero, 0, NULL, NULL),
            CL_SUCCESS);
        const float lr = 0.01f, wd = 5e-4f;
        const float lr_mult = blob ? 2.0f : 1.0f, decay_mult = blob ? 0.0f : 1.0f;
        for (int step = 0; step < 2; step++) {
            sgd_launch(w, g, v, 0.5f, wd * decay_mult, lr * lr_mult);
            float got[4];
            ck_assert_int_eq(
                clEnqueueReadBuffer(g_ctx->queue, w, CL_TRUE, 0, sizeof got, got, 0, NULL, NULL),
                CL_SUCCESS);
            for (int i = 0; i < 4; i++) {
                const double want = blob ? want_b[step][i] : want_w[step][i];
                ck_assert_msg(fabs(got[i] - want) <= 2e-6 * fmax(1.0, fabs(want)),
                              "blob %d step %d [%d]: %.9g, want %.9g", blob, step, i,
                              (double)got[i], want);
            }
        }
        clReleaseMemObject(w);
        clReleaseMemObject(g);
        clReleaseMemObject(v);
    }
    /* multistep: steps 10, 20 */
    const int64_t steps[2] = {10, 20};
    ck_assert(fabsf(clssd__lr_multistep(1e-3f, 0.1f, steps, 2, 0) - 1e-3f) < 1e-10f);
    ck_assert(fabsf(clssd__lr_multistep(1e-3f, 0.1f, steps, 2, 9) - 1e-3f) < 1e-10f);
    ck_assert(fabsf(clssd__lr_multistep(1e-3f, 0.1f, steps, 2, 10) - 1e-4f) < 1e-11f);
    ck_assert(fabsf(clssd__lr_multistep(1e-3f, 0.1f, steps, 2, 25) - 1e-5f) < 1e-12f);
}
END_TEST

/* ---------------------------------------------------------------- overfitting */

START_TEST(test_overfit)
{
    clssd_model *m = tiny_ssd(3, CLSSD_INIT_MSRA);
    clssd_trainer_params tp;
    clssd__trainer_params_defaults(&tp, 2);
    clssd_trainer *t = NULL;
    EXPECT_OK(clssd__trainer_create(m, &tp, &t));

    const size_t per = (size_t)3 * SIZE * SIZE;
    float *x = xmalloc(2 * per * sizeof(float));
    const float r0[1][4] = {{0.2f, 0.3f, 0.6f, 0.8f}}, r1[1][4] = {{0.45f, 0.1f, 0.9f, 0.45f}};
    const float c0[1][3] = {{230, 30, 30}}, c1[1][3] = {{30, 50, 220}};
    const float bg0[3] = {90, 110, 100}, bg1[3] = {140, 130, 120};
    draw(x, r0, c0, 1, bg0);
    draw(x + per, r1, c1, 1, bg1);
    clssd_train_gt gt[2];
    memset(gt, 0, sizeof gt);
    gt[0].image = 0;
    gt[0].label = 1;
    memcpy(gt[0].box, r0[0], sizeof gt[0].box);
    gt[1].image = 1;
    gt[1].label = 2;
    memcpy(gt[1].box, r1[0], sizeof gt[1].box);

    /* The first iteration by hand, to check the update against Caffe's rule on a bias blob
     * (lr_mult 2, decay_mult 0) and a weight blob (1, 1): history starts at 0, so
     * w1 = w0 - lr * lr_mult * (grad / iter_size + 5e-4 * decay_mult * w0). iter_size 2: the
     * two images as two sub-batches of one. */
    const float lr = 1e-4f;
    const int32_t bb = clssd__trainer_find_blob(t, "conv4_3_norm_mbox_conf.bias"),
                  bw = clssd__trainer_find_blob(t, "fc7_mbox_conf.weight");
    ck_assert(bb >= 0 && bw >= 0);
    ck_assert(t->blobs[bb].lr_mult == 2.0f && t->blobs[bb].decay_mult == 0.0f);
    ck_assert(t->blobs[bw].lr_mult == 1.0f && t->blobs[bw].decay_mult == 1.0f);
    double l0a = 0.0, l0b = 0.0;
    const double t0 = now_s();
    clssd_train_gt g1 = gt[1];
    g1.image = 0;
    EXPECT_OK(clssd__trainer_forward_backward(t, x, 1, &gt[0], 1, &l0a, NULL));
    EXPECT_OK(clssd__trainer_forward_backward(t, x + per, 1, &g1, 1, &l0b, NULL));
    const int32_t check[2] = {bb, bw};
    float *before[2], *gsum[2];
    for (int c = 0; c < 2; c++) {
        const size_t cnt = t->blobs[check[c]].count;
        before[c] = xmalloc(cnt * sizeof(float));
        gsum[c] = xmalloc(cnt * sizeof(float));
        EXPECT_OK(clssd__trainer_read_weights(t, check[c], before[c]));
        EXPECT_OK(clssd__trainer_read_grad(t, check[c], gsum[c]));
    }
    EXPECT_OK(clssd__trainer_update(t, lr));
    for (int c = 0; c < 2; c++) {
        const clssd_train_blob *bl = &t->blobs[check[c]];
        float *after = xmalloc(bl->count * sizeof(float));
        EXPECT_OK(clssd__trainer_read_weights(t, check[c], after));
        for (size_t i = 0; i < bl->count; i++) {
            const double want =
                before[c][i] - (double)lr * bl->lr_mult *
                                   (gsum[c][i] * 0.5 + 5e-4 * bl->decay_mult * before[c][i]);
            ck_assert_msg(fabs(after[i] - want) <= 1e-6 * fmax(1.0, fabs(want)),
                          "blob %d [%zu]: %g want %g", check[c], i, (double)after[i], want);
        }
        free(after);
        free(before[c]);
        free(gsum[c]);
    }

    /* then whole iterations on the batch of two */
    const double first = 0.5 * (l0a + l0b);
    double loss = first;
    printf("  overfit: step   0 loss %.4f\n", first);
    const int steps = 30;
    for (int it = 1; it < steps; it++) {
        EXPECT_OK(clssd__trainer_step(t, x, 2, 1, gt, 2, lr, &loss));
        if (it % 5 == 0 || it == steps - 1) printf("  overfit: step %3d loss %.4f\n", it, loss);
    }
    double final = 0.0;
    clssd_mbox_loss_stats st;
    EXPECT_OK(clssd__trainer_loss(t, x, 2, gt, 2, &final, &st));
    printf("  overfit: after %d steps loss %.4f (%.1f%% of %.4f; loc %.4f conf %.4f), %.2f s\n",
           steps, final, 100.0 * final / first, first, st.loc_loss / (double)st.n_pos,
           st.conf_loss / (double)st.n_pos, now_s() - t0);
    ck_assert_msg(final < 0.3 * first, "loss %g did not fall below 30%% of %g", final, first);

    /* The trained weights reach the model: after destroy (weights copied back, the model's
     * own convolution algorithms restored and re-packed) the model's plan gives the conf
     * logits the trainer's plan gave. Different algorithms sum in different orders: 1e-3. */
    double l_img0 = 0.0;
    EXPECT_OK(clssd__trainer_loss(t, x, 1, gt, 1, &l_img0, NULL));
    const int32_t conf = t->conf_node, input = m->g.input;
    const size_t n_conf = t->n_priors * (size_t)t->n_classes;
    float *want = xmalloc(n_conf * sizeof(float)), *got = xmalloc(n_conf * sizeof(float));
    memcpy(want, t->h_conf, n_conf * sizeof(float));
    const int32_t b0 = clssd__trainer_find_blob(t, "conv1_1.weight");
    const size_t n_w0 = t->blobs[b0].count;
    float *w_dev = xmalloc(n_w0 * sizeof(float));
    EXPECT_OK(clssd__trainer_read_weights(t, b0, w_dev));
    const int32_t tensor0 = t->blobs[b0].tensor;
    clssd__trainer_destroy(t);
    ck_assert(memcmp(w_dev, m->g.tensors[tensor0].data, n_w0 * sizeof(float)) == 0);
    free(w_dev);
    m->ex->batch = 1;
    ck_assert_int_eq(clEnqueueWriteBuffer(g_ctx->queue, m->ex->bufs[input], CL_TRUE, 0,
                                          per * sizeof(float), x, 0, NULL, NULL),
                     CL_SUCCESS);
    EXPECT_OK(clssd__exec_run(m->ex, 0, conf));
    ck_assert_int_eq(clEnqueueReadBuffer(g_ctx->queue, m->ex->bufs[conf], CL_TRUE, 0,
                                         n_conf * sizeof(float), got, 0, NULL, NULL),
                     CL_SUCCESS);
    double worst = 0.0;
    for (size_t i = 0; i < n_conf; i++) {
        const double d = fabs((double)got[i] - want[i]) / fmax(1.0, fabs(want[i]));
        if (d > worst) worst = d;
    }
    printf("  overfit: model plan after destroy vs trainer plan: worst conf difference %.2e\n",
           worst);
    ck_assert_msg(worst < 1e-3, "model plan differs from the trainer's by %g", worst);
    free(want);
    free(got);
    free(x);
    clssd_model_destroy(m);
}
END_TEST

static void add_cases(TCase *tc)
{
    tcase_add_test(tc, test_repack);
    tcase_add_test(tc, test_sgd_rule);
    tcase_add_test(tc, test_gradients);
    tcase_add_test(tc, test_overfit);
}

int main(void)
{
    const int failed =
        test_run_per_device("trainer", add_cases, 600, &g_ctx, "device training tests");
    if (failed < 0) return 77;
    return failed ? 1 : 0;
}
