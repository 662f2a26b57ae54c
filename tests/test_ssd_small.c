/* The small SSD (CLSSD_ARCH_TINY, src/model/ssd_small.c) on every OpenCL device found;
 * exits 77 (skip) without one.
 *
 * - parameters: arch dispatch, an older struct_size (arch left at its default, VGG16),
 *   unknown arch values and too-small inputs refused.
 * - graph: at input sizes 64, 96, 128 and 160 (and 100, no multiple of 16) the prior count
 *   equals the one worked out here from the layout (source i is ceil(S / 2^(i+3)) on a
 *   side, 4 priors per cell on the first and last two sources, 6 on the others), detect on
 *   a random image gives valid detections, and save + load gives identical ones.
 * - training: 20 SGD steps on one fixed batch of four synthetic images (the five shape
 *   classes drawn here) bring the loss below half its start; the first prior box matches
 *   ssd_pascal.py's generator. The time per image of forward + backward is printed.
 * - with CLSSD_SMALL_BENCH=1: ms per image of forward + loss + backward + update at input
 *   128 and 160, batch 8 and 16, split into forward, host loss and backward. */
#include <check.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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

#define N_CLASSES 6 /* background + circle, square, triangle, star, ring */

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

static clssd_model *tiny_ssd(int32_t size, int32_t width_div, uint64_t seed)
{
    clssd_ssd_params sp;
    clssd_ssd_params_init(&sp, size, N_CLASSES);
    sp.arch = CLSSD_ARCH_TINY;
    sp.width_div = width_div;
    sp.seed = seed;
    sp.init = CLSSD_INIT_MSRA;
    clssd_model *m = NULL;
    EXPECT_OK(clssd_model_create_ssd(g_ctx, &sp, &m));
    return m;
}

/* The layout worked out independently of the builder: five sources, the first after three
 * ceil-mode 2x2 pools, each next one half (rounded up) of the previous; 4 priors per cell
 * (1, sqrt(min max), 2, 1/2) on sources 0, 3, 4 and 6 (3 and 1/3 as well) on 1 and 2. */
static int32_t source_side(int32_t size, int i)
{
    int32_t s = size;
    for (int k = 0; k < i + 3; k++) s = (s + 1) / 2;
    return s;
}

static int32_t expected_priors(int32_t size)
{
    static const int per_cell[5] = {4, 6, 6, 4, 4};
    int32_t n = 0;
    for (int i = 0; i < 5; i++) {
        const int32_t s = source_side(size, i);
        n += s * s * per_cell[i];
    }
    return n;
}

/* ---------------------------------------------------------------- parameters */

START_TEST(test_params)
{
    clssd_ssd_params sp;
    clssd_ssd_params_init(&sp, 128, N_CLASSES);
    ck_assert_int_eq(sp.arch, CLSSD_ARCH_VGG16);
    char err[256] = "";
    clssd_graph g;

    sp.arch = CLSSD_ARCH_TINY;
    clssd__graph_init(&g);
    ck_assert_msg(clssd__ssd_vgg_build(&sp, &g, err, sizeof err) == CLSSD_OK, "%s", err);
    ck_assert_str_eq(g.name, "ssd128_tiny");
    ck_assert_int_ge(clssd__graph_find_node(&g, "conv4_2_mbox_conf"), 0);
    ck_assert_int_ge(clssd__graph_find_node(&g, "conv8_2_mbox_priorbox"), 0);
    ck_assert_int_lt(clssd__graph_find_node(&g, "fc7"), 0);
    clssd__graph_free(&g);

    /* a struct from a header without `arch`: the builder must not read past struct_size, so
     * the arch left in memory is ignored and VGG16 is built */
    clssd_ssd_params_init(&sp, 300, 21);
    sp.width_div = 16;
    sp.arch = CLSSD_ARCH_TINY;
    sp.struct_size = (uint32_t)(offsetof(clssd_ssd_params, init) + sizeof(int32_t));
    clssd__graph_init(&g);
    ck_assert_msg(clssd__ssd_vgg_build(&sp, &g, err, sizeof err) == CLSSD_OK, "%s", err);
    ck_assert_msg(strncmp(g.name, "ssd300_vgg16", 12) == 0, "%s", g.name);
    clssd__graph_free(&g);

    /* refused: unknown arch, a struct_size beyond this header's, too small an input */
    clssd_model *m = (clssd_model *)1;
    clssd_ssd_params_init(&sp, 128, N_CLASSES);
    sp.arch = 7;
    ck_assert_int_eq(clssd_model_create_ssd(g_ctx, &sp, &m), CLSSD_ERR_INVALID_ARG);
    ck_assert_ptr_null(m);
    ck_assert_ptr_nonnull(strstr(clssd_last_error(g_ctx), "architecture"));
    sp.arch = CLSSD_ARCH_TINY;
    sp.struct_size = (uint32_t)sizeof sp + 8;
    ck_assert_int_eq(clssd_model_create_ssd(g_ctx, &sp, &m), CLSSD_ERR_INVALID_ARG);
    clssd_ssd_params_init(&sp, 63, N_CLASSES);
    sp.arch = CLSSD_ARCH_TINY;
    ck_assert_int_eq(clssd_model_create_ssd(g_ctx, &sp, &m), CLSSD_ERR_INVALID_ARG);
}
END_TEST

/* ---------------------------------------------------------------- graph, detect, save/load */

static size_t detect_all(clssd_model *m, const uint8_t *rgb, int32_t w, int32_t h,
                         clssd_detection *dets, size_t cap)
{
    size_t n = 0;
    EXPECT_OK(clssd_detect(m, rgb, w, h, 3 * w, NULL, dets, cap, &n));
    return n;
}

START_TEST(test_graph)
{
    static const int32_t sizes[] = {64, 96, 100, 128, 160};
    const int32_t W = 211, H = 157; /* not the network size: the warp runs too */
    uint8_t *rgb = xmalloc((size_t)3 * W * H);
    srand(11);
    for (size_t i = 0; i < (size_t)3 * W * H; i++) rgb[i] = (uint8_t)(rand() & 255);
    enum { CAP = 256 };
    clssd_detection a[CAP], b[CAP];
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        const int32_t S = sizes[si];
        const double t0 = now_s();
        clssd_model *m = tiny_ssd(S, 1, 5);
        clssd_model_info info;
        EXPECT_OK(clssd_model_get_info(m, &info));
        ck_assert_int_eq(info.input_width, S);
        ck_assert_int_eq(info.input_height, S);
        ck_assert_int_eq(info.n_classes, N_CLASSES);
        ck_assert_int_eq(info.n_priors, expected_priors(S));

        const double t1 = now_s();
        const size_t n = detect_all(m, rgb, W, H, a, CAP);
        const double t2 = now_s();
        /* random weights: every prior scores about 1 / N_CLASSES, far above 0.01 */
        ck_assert(n > 0 && n <= 200);
        for (size_t i = 0; i < n; i++) {
            ck_assert_int_ge(a[i].label, 1);
            ck_assert_int_lt(a[i].label, N_CLASSES);
            ck_assert(a[i].score > 0.01f && a[i].score <= 1.0f);
            ck_assert(isfinite(a[i].xmin) && isfinite(a[i].ymin) && isfinite(a[i].xmax) &&
                      isfinite(a[i].ymax));
            ck_assert(a[i].xmin <= a[i].xmax && a[i].ymin <= a[i].ymax);
        }

        char path[] = "/tmp/test_ssd_small_XXXXXX";
        const int fd = mkstemp(path);
        ck_assert_int_ge(fd, 0);
        close(fd);
        EXPECT_OK(clssd_model_save(m, path));
        clssd_model *m2 = NULL;
        EXPECT_OK(clssd_model_load(g_ctx, path, &m2));
        unlink(path);
        clssd_model_info info2;
        EXPECT_OK(clssd_model_get_info(m2, &info2));
        ck_assert_int_eq(info2.n_priors, info.n_priors);
        ck_assert_int_eq(info2.n_params, info.n_params);
        ck_assert_str_eq(info2.name, info.name);
        const size_t n2 = detect_all(m2, rgb, W, H, b, CAP);
        ck_assert_uint_eq(n2, n);
        ck_assert_msg(memcmp(a, b, n * sizeof a[0]) == 0, "detections differ after save/load");
        printf("  tiny SSD %3d: %4d priors, %7lld parameters, %2d nodes, %3zu detections; "
               "create %.2f s, detect %.1f ms\n",
               S, info.n_priors, (long long)info.n_params, info.n_nodes, n, t1 - t0,
               1e3 * (t2 - t1));
        clssd_model_destroy(m2);
        clssd_model_destroy(m);
    }
    free(rgb);
}
END_TEST

/* ---------------------------------------------------------------- synthetic shapes */

typedef struct shape {
    int label;          /* 1 circle, 2 square, 3 triangle, 4 star, 5 ring */
    float cx, cy, r;    /* pixels */
    float rgb[3];
} shape;

static int inside(const shape *s, float x, float y)
{
    const float dx = x - s->cx, dy = y - s->cy, r = s->r;
    const float rho = sqrtf(dx * dx + dy * dy);
    switch (s->label) {
    case 1:
        return rho <= r;
    case 2:
        return fabsf(dx) <= r && fabsf(dy) <= r;
    case 3: /* apex up, base at cy + r */
        return dy >= -r && dy <= r && fabsf(dx) <= 0.5f * (dy + r);
    case 4: { /* five points: the radius swings between 0.45 r and r */
        const float th = atan2f(dy, dx);
        return rho <= r * (0.725f + 0.275f * cosf(5.0f * th));
    }
    default:
        return rho <= r && rho >= 0.6f * r;
    }
}

/* What PREPROCESS makes of the drawn image at the network size: BGR planes, minus the mean,
 * times the graph's scale. Background: a smooth two-colour gradient plus noise. */
static void draw(const clssd_model *m, float *x, int32_t S, const shape *sh, int n_sh,
                 unsigned seed)
{
    const float *mean = m->g.pre.pre.mean, scale = m->g.pre.pre.scale;
    const size_t plane = (size_t)S * S;
    srand(seed);
    const float bg0[3] = {(float)(rand() % 200), (float)(rand() % 200), (float)(rand() % 200)};
    const float bg1[3] = {(float)(rand() % 200), (float)(rand() % 200), (float)(rand() % 200)};
    for (int y = 0; y < S; y++)
        for (int xx = 0; xx < S; xx++) {
            const float u = ((float)xx + 0.5f), v = ((float)y + 0.5f), t = u / (float)S;
            float rgb[3];
            for (int c = 0; c < 3; c++)
                rgb[c] = bg0[c] + t * (bg1[c] - bg0[c]) + (float)(rand() % 21 - 10);
            for (int k = 0; k < n_sh; k++)
                if (inside(&sh[k], u, v)) memcpy(rgb, sh[k].rgb, sizeof rgb);
            for (int c = 0; c < 3; c++)
                x[(size_t)c * plane + (size_t)y * (size_t)S + (size_t)xx] =
                    (rgb[2 - c] - mean[c]) * scale;
        }
}

/* n_img images of 1..2 shapes each, every class used; gt gets one box per shape. */
static size_t make_batch(const clssd_model *m, float *x, int32_t S, int n_img,
                         clssd_train_gt *gt)
{
    size_t n_gt = 0;
    const size_t per = (size_t)3 * S * S;
    int next_label = 1;
    srand(1234);
    for (int i = 0; i < n_img; i++) {
        shape sh[2];
        const int n_sh = 1 + (i % 2);
        for (int k = 0; k < n_sh; k++) {
            sh[k].label = next_label;
            next_label = next_label % 5 + 1;
            /* objects 15 .. 45 % of the side, the two of an image in different halves */
            sh[k].r = (float)S * (0.075f + 0.15f * (float)(rand() % 100) / 100.0f);
            const float lo = sh[k].r, hi = (float)S - sh[k].r;
            sh[k].cx = n_sh == 2 ? (k ? 0.75f : 0.25f) * (float)S
                                 : lo + (hi - lo) * (float)(rand() % 100) / 100.0f;
            if (n_sh == 2 && sh[k].r > 0.24f * (float)S) sh[k].r = 0.24f * (float)S;
            sh[k].cy = lo + (hi - lo) * (float)(rand() % 100) / 100.0f;
            if (sh[k].cy - sh[k].r < 0) sh[k].cy = sh[k].r;
            if (sh[k].cy + sh[k].r > (float)S) sh[k].cy = (float)S - sh[k].r;
            for (int c = 0; c < 3; c++) sh[k].rgb[c] = (float)(rand() % 256);
            sh[k].rgb[k % 3] = 255.0f; /* stand out from the background */
            clssd_train_gt *b = &gt[n_gt++];
            memset(b, 0, sizeof *b);
            b->image = i;
            b->label = sh[k].label;
            b->box[0] = (sh[k].cx - sh[k].r) / (float)S;
            b->box[1] = (sh[k].cy - sh[k].r) / (float)S;
            b->box[2] = (sh[k].cx + sh[k].r) / (float)S;
            b->box[3] = (sh[k].cy + sh[k].r) / (float)S;
        }
        draw(m, x + (size_t)i * per, S, sh, n_sh, 100u + (unsigned)i);
    }
    return n_gt;
}

/* ---------------------------------------------------------------- training */

START_TEST(test_train)
{
    const int32_t S = 128;
    const int n_img = 4;
    clssd_model *m = tiny_ssd(S, 1, 3);
    clssd_trainer_params tp;
    clssd__trainer_params_defaults(&tp, n_img);
    clssd_trainer *t = NULL;
    EXPECT_OK(clssd__trainer_create(m, &tp, &t));
    ck_assert_uint_eq(t->n_priors, (size_t)expected_priors(S));

    /* the first prior: ssd_pascal.py's 10 % of the side (cast to int, as Caffe does),
     * centred on the first cell of the stride-8 source */
    const float step = (float)S / (float)source_side(S, 0);
    const float half = (float)(int)(0.1f * (float)S) / 2.0f, c0 = 0.5f * step;
    const float want[4] = {(c0 - half) / (float)S, (c0 - half) / (float)S, (c0 + half) / (float)S,
                           (c0 + half) / (float)S};
    for (int k = 0; k < 4; k++)
        ck_assert_msg(fabsf(t->priors[k] - want[k]) < 1e-6f, "prior 0 [%d]: %g want %g", k,
                      (double)t->priors[k], (double)want[k]);
    ck_assert(fabsf(t->priors[4 * t->n_priors] - 0.1f) < 1e-7f);     /* variances */
    ck_assert(fabsf(t->priors[4 * t->n_priors + 3] - 0.2f) < 1e-7f);

    const size_t per = (size_t)3 * S * S;
    float *x = xmalloc((size_t)n_img * per * sizeof(float));
    clssd_train_gt gt[8];
    const size_t n_gt = make_batch(m, x, S, n_img, gt);

    double first = 0.0, loss = 0.0;
    clssd_mbox_loss_stats st;
    EXPECT_OK(clssd__trainer_loss(t, x, n_img, gt, n_gt, &first, &st));
    printf("  train %d: step   0 loss %.4f (%zu positives)\n", S, first, st.n_pos);
    ck_assert(st.n_pos >= n_gt);
    const float lr = 1e-3f;
    const int steps = 20;
    double t_fb = 0.0;
    for (int it = 1; it <= steps; it++) {
        const double t0 = now_s();
        EXPECT_OK(clssd__trainer_step(t, x, n_img, 1, gt, n_gt, lr, &loss));
        ck_assert_int_eq(clFinish(g_ctx->queue), CL_SUCCESS);
        t_fb += now_s() - t0;
        ck_assert_msg(isfinite(loss), "loss %g at step %d", loss, it);
        if (it % 5 == 0) printf("  train %d: step %3d loss %.4f\n", S, it, loss);
    }
    double final = 0.0;
    EXPECT_OK(clssd__trainer_loss(t, x, n_img, gt, n_gt, &final, &st));
    printf("  train %d: after %d steps loss %.4f (%.1f%% of %.4f; loc %.4f conf %.4f); "
           "%.1f ms per image forward + backward + update (batch %d)\n",
           S, steps, final, 100.0 * final / first, first, st.loc_loss / (double)st.n_pos,
           st.conf_loss / (double)st.n_pos, 1e3 * t_fb / (steps * n_img), n_img);
    ck_assert_msg(final < 0.5 * first, "loss %g did not fall below 50%% of %g", final, first);

    clssd__trainer_destroy(t);
    free(x);
    clssd_model_destroy(m);
}
END_TEST

/* ---------------------------------------------------------------- speed */

static void bench_one(int32_t S, int32_t batch, int32_t width_div)
{
    clssd_model *m = tiny_ssd(S, width_div, 9);
    const size_t per = (size_t)3 * S * S;
    float *x = xmalloc((size_t)batch * per * sizeof(float));
    clssd_train_gt *gt = xmalloc((size_t)batch * 2 * sizeof *gt);
    /* four distinct images repeated: the time does not depend on the content */
    const size_t n4 = make_batch(m, x, S, 4, gt);

    /* the inference plan's forward (batch 1, the tuned convolution algorithms), for
     * comparison with the trainer's forward (the same algorithms, batch `batch`) */
    const int32_t last = clssd__graph_find_node(&m->g, "mbox_conf");
    ck_assert_int_ge(last, 0);
    ck_assert_int_eq(clEnqueueWriteBuffer(g_ctx->queue, m->ex->bufs[m->g.input], CL_TRUE, 0,
                                          per * sizeof(float), x, 0, NULL, NULL),
                     CL_SUCCESS);
    m->ex->batch = 1;
    EXPECT_OK(clssd__exec_run(m->ex, 0, last)); /* warm-up */
    ck_assert_int_eq(clFinish(g_ctx->queue), CL_SUCCESS);
    double t_inf = now_s();
    for (int r = 0; r < 4; r++) EXPECT_OK(clssd__exec_run(m->ex, 0, last));
    ck_assert_int_eq(clFinish(g_ctx->queue), CL_SUCCESS);
    t_inf = (now_s() - t_inf) / 4;

    clssd_trainer_params tp;
    clssd__trainer_params_defaults(&tp, batch);
    clssd_trainer *t = NULL;
    EXPECT_OK(clssd__trainer_create(m, &tp, &t));
    size_t n_gt = 0;
    for (int32_t i = 0; i < batch; i++) {
        if (i >= 4) memcpy(x + (size_t)i * per, x + (size_t)(i % 4) * per, per * sizeof(float));
        for (size_t k = 0; k < n4; k++)
            if (gt[k].image == i % 4 && n_gt < (size_t)batch * 2) {
                gt[n_gt] = gt[k];
                gt[n_gt++].image = i;
            }
    }
    double loss = 0.0;
    EXPECT_OK(clssd__trainer_step(t, x, batch, 1, gt, n_gt, 1e-4f, &loss)); /* warm-up */
    ck_assert_int_eq(clFinish(g_ctx->queue), CL_SUCCESS);
    const int reps = 3;
    double t_fwd = 0.0, t_loss = 0.0, t_step = 0.0;
    for (int r = 0; r < reps; r++) {
        /* forward alone (device), then forward + host loss, then a whole step */
        double t0 = now_s();
        t->ex->batch = batch;
        EXPECT_OK(clssd__exec_run(t->ex, 0, t->last_node));
        ck_assert_int_eq(clFinish(g_ctx->queue), CL_SUCCESS);
        t_fwd += now_s() - t0;
        t0 = now_s();
        EXPECT_OK(clssd__trainer_loss(t, x, batch, gt, n_gt, &loss, NULL));
        t_loss += now_s() - t0;
        t0 = now_s();
        EXPECT_OK(clssd__trainer_step(t, x, batch, 1, gt, n_gt, 1e-4f, &loss));
        ck_assert_int_eq(clFinish(g_ctx->queue), CL_SUCCESS);
        t_step += now_s() - t0;
    }
    const double k = 1e3 / (reps * batch);
    printf("  bench S=%d batch %2d div %d: %6.1f ms/image step = forward %5.1f + loss/IO %5.1f "
           "+ backward/update %5.1f; inference-plan forward %5.1f (%zu priors)\n",
           S, batch, width_div, k * t_step, k * t_fwd, k * (t_loss - t_fwd),
           k * (t_step - t_loss), 1e3 * t_inf, t->n_priors);
    free(gt);
    free(x);
    clssd__trainer_destroy(t);
    clssd_model_destroy(m);
}

START_TEST(test_bench)
{
    const char *e = getenv("CLSSD_SMALL_BENCH");
    if (!e || !*e || !strcmp(e, "0")) {
        printf("  bench: set CLSSD_SMALL_BENCH=1 for training speed at 128 / 160, batch 8 / 16\n");
        return;
    }
    const int32_t div = atoi(e) > 1 ? atoi(e) : 1; /* CLSSD_SMALL_BENCH=2: width_div 2 */
    static const int32_t sizes[2] = {128, 160}, batches[2] = {8, 16};
    for (int si = 0; si < 2; si++)
        for (int bi = 0; bi < 2; bi++) bench_one(sizes[si], batches[bi], div);
}
END_TEST

static void add_cases(TCase *tc)
{
    tcase_add_test(tc, test_params);
    tcase_add_test(tc, test_graph);
    tcase_add_test(tc, test_train);
    tcase_add_test(tc, test_bench);
}

int main(void)
{
    const int failed =
        test_run_per_device("ssd_small", add_cases, 1800, &g_ctx, "tiny SSD tests");
    if (failed < 0) return 77;
    return failed ? 1 : 0;
}
