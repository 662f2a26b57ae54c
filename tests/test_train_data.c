/* Tests of the training data loader (tools/train_data.c). Plain C, no OpenCL device.
 *
 * Each test writes a tiny VOC-layout dataset itself (PNG pixels under the .jpg names the VOC
 * reader expects, so decoding is lossless and the pixels are known exactly), and computes the
 * expected network input with clssd__preprocess_ref on those pixels and the expected boxes
 * from the numbers written into the XML: (xmin - 1) / W, (ymin - 1) / H, xmax / W, ymax / H.
 * Valgrind: CK_FORK=no valgrind --leak-check=full ./test_train_data */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clssd_internal.h"
#include "data/dataset.h"
#include "image_io.h"
#include "train/train.h"
#include "train_data.h"

#define OW 24
#define OH 20
#define PLANE3 (3 * OW * OH)
#define N_IMG 5

typedef struct obj {
    const char *name;
    int xmin, ymin, xmax, ymax, difficult;
} obj;

typedef struct img_def {
    const char *id;
    int w, h;
    int n;
    obj o[2];
} img_def;

/* dataset classes: dog, cat (and horse in one test); the model's labels list them in another
 * order than the reader's sorted one, so the mapping by name is exercised */
static const img_def IMGS[N_IMG] = {
    {"a", 40, 30, 2, {{"dog", 5, 6, 20, 25, 0}, {"cat", 10, 2, 40, 30, 1}}},
    {"b", 50, 64, 1, {{"cat", 1, 1, 50, 64, 0}}},
    {"c", 33, 33, 0, {{0}}},
    {"d", 60, 45, 2, {{"dog", 30, 20, 55, 40, 0}, {"dog", 2, 3, 12, 13, 0}}},
    {"e", 31, 47, 1, {{"cat", 4, 5, 28, 40, 0}}},
};
static const char *const LABELS[] = {"background", "dog", "bird", "cat"};

static char g_dir[256];
static uint8_t *g_px[N_IMG];
static float g_input[N_IMG][PLANE3];
static clssd_op_params g_pre;

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

static void write_xml(const char *dir, const img_def *im, int w, int h, const char *extra_name)
{
    char path[512], buf[4096];
    size_t n = (size_t)snprintf(buf, sizeof buf,
                                "<annotation><filename>%s.jpg</filename><size><width>%d</width>"
                                "<height>%d</height><depth>3</depth></size>\n",
                                im->id, w, h);
    for (int i = 0; i < im->n; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n,
                              "<object><name>%s</name><difficult>%d</difficult><bndbox><xmin>%d"
                              "</xmin><ymin>%d</ymin><xmax>%d</xmax><ymax>%d</ymax></bndbox>"
                              "</object>\n",
                              im->o[i].name, im->o[i].difficult, im->o[i].xmin, im->o[i].ymin,
                              im->o[i].xmax, im->o[i].ymax);
    if (extra_name)
        n += (size_t)snprintf(buf + n, sizeof buf - n,
                              "<object><name>%s</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>"
                              "3</xmax><ymax>3</ymax></bndbox></object>\n",
                              extra_name);
    snprintf(buf + n, sizeof buf - n, "</annotation>\n");
    snprintf(path, sizeof path, "%s/Annotations/%s.xml", dir, im->id);
    write_file(path, buf);
}

/* The dataset of IMGS in a fresh directory, plus the expected inputs. */
static void make_dataset(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/clssd_train_data_XXXXXX");
    ck_assert(mkdtemp(g_dir) != NULL);
    char path[512], list[256] = "";
    snprintf(path, sizeof path, "%s/Annotations", g_dir);
    ck_assert(mkdir(path, 0755) == 0);
    snprintf(path, sizeof path, "%s/JPEGImages", g_dir);
    ck_assert(mkdir(path, 0755) == 0);
    snprintf(path, sizeof path, "%s/ImageSets", g_dir);
    ck_assert(mkdir(path, 0755) == 0);
    snprintf(path, sizeof path, "%s/ImageSets/Main", g_dir);
    ck_assert(mkdir(path, 0755) == 0);

    memset(&g_pre, 0, sizeof g_pre);
    g_pre.pre.out_w = OW;
    g_pre.pre.out_h = OH;
    g_pre.pre.mean[0] = 104.0f;
    g_pre.pre.mean[1] = 117.0f;
    g_pre.pre.mean[2] = 123.0f;
    g_pre.pre.scale = 0.5f;
    g_pre.pre.bgr = 1;
    g_pre.pre.resize = CLSSD_RESIZE_HALF_PIXEL;
    clssd_node node;
    memset(&node, 0, sizeof node);
    node.op = CLSSD_OP_PREPROCESS;
    node.p = g_pre;
    node.out = (clssd_shape){1, 3, OH, OW};

    for (int i = 0; i < N_IMG; i++) {
        const img_def *im = &IMGS[i];
        const size_t n = (size_t)im->w * (size_t)im->h * 3;
        free(g_px[i]);
        g_px[i] = malloc(n);
        ck_assert(g_px[i] != NULL);
        uint32_t s = 0x9E3779B9u * (uint32_t)(i + 1);
        for (size_t j = 0; j < n; j++) { /* a ramp plus noise: every image different */
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            g_px[i][j] = (uint8_t)((j * (size_t)(3 + i)) / 7 + (s & 31));
        }
        imgio_image img = {g_px[i], im->w, im->h};
        char err[256];
        snprintf(path, sizeof path, "%s/JPEGImages/%s.jpg", g_dir, im->id);
        ck_assert_msg(imgio_save_png(path, &img, err, sizeof err) == 0, "%s", err);
        write_xml(g_dir, im, im->w, im->h, NULL);
        strcat(list, im->id);
        strcat(list, "\n");

        const clssd_image ci = {g_px[i], im->w, im->h, im->w * 3};
        clssd_ref_args a;
        memset(&a, 0, sizeof a);
        a.node = &node;
        a.batch = 1;
        a.dst = g_input[i];
        a.images = &ci;
        ck_assert(clssd__preprocess_ref(&a) == CLSSD_OK);
    }
    snprintf(path, sizeof path, "%s/ImageSets/Main/trainval.txt", g_dir);
    write_file(path, list);
}

static void remove_dataset(void)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    ck_assert(system(cmd) == 0);
    for (int i = 0; i < N_IMG; i++) {
        free(g_px[i]);
        g_px[i] = NULL;
    }
}

static train_data_params base_params(void)
{
    train_data_params p;
    memset(&p, 0, sizeof p);
    p.dir = g_dir;
    p.image_set = "trainval";
    p.pre = &g_pre;
    p.labels = LABELS;
    p.n_labels = 4;
    p.use_difficult = 1;
    p.seed = 7;
    p.batch = 2;
    p.n_workers = 2;
    return p;
}

static int32_t label_of(const char *name)
{
    for (int32_t i = 1; i < 4; i++)
        if (strcmp(LABELS[i], name) == 0) return i;
    return -1;
}

/* Entry `item` of a batch without augmentation must be image `img`, exactly. */
static void expect_entry(const float *input, const clssd_train_gt *gt, size_t n_gt, int32_t item,
                         int img, int use_difficult)
{
    ck_assert_msg(memcmp(input + (size_t)item * PLANE3, g_input[img], sizeof g_input[img]) == 0,
                  "entry %d: input differs from preprocess_ref of image %s", (int)item,
                  IMGS[img].id);
    const img_def *im = &IMGS[img];
    size_t k = 0;
    for (size_t j = 0; j < n_gt; j++) {
        if (gt[j].image != item) continue;
        while (k < (size_t)im->n && im->o[k].difficult && !use_difficult) k++;
        ck_assert_msg(k < (size_t)im->n, "entry %d (%s): too many boxes", (int)item, im->id);
        const obj *o = &im->o[k];
        const float want[4] = {(float)((o->xmin - 1.0) / im->w), (float)((o->ymin - 1.0) / im->h),
                               (float)((double)o->xmax / im->w), (float)((double)o->ymax / im->h)};
        for (int c = 0; c < 4; c++)
            ck_assert_msg(gt[j].box[c] == want[c], "%s box %zu[%d]: %.9g, expected %.9g", im->id,
                          k, c, (double)gt[j].box[c], (double)want[c]);
        ck_assert_int_eq(gt[j].label, label_of(o->name));
        ck_assert_int_eq(gt[j].difficult, o->difficult);
        k++;
    }
    while (k < (size_t)im->n && im->o[k].difficult && !use_difficult) k++;
    ck_assert_msg(k == (size_t)im->n, "entry %d (%s): boxes missing", (int)item, im->id);
}

static void check_plain(int use_difficult)
{
    make_dataset();
    train_data_params p = base_params();
    p.use_difficult = use_difficult;
    train_data *d = NULL;
    char err[512];
    ck_assert_msg(train_data_open(&p, &d, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(train_data_count(d), N_IMG);
    float *input = malloc(2 * PLANE3 * sizeof *input);
    ck_assert(input != NULL);
    /* 5 batches of 2 = two whole epochs in file order; batch 2 straddles them */
    for (int b = 0; b < 5; b++) {
        const clssd_train_gt *gt = NULL;
        size_t n_gt = 0;
        ck_assert_msg(train_data_next(d, input, &gt, &n_gt, err, sizeof err) == 0, "%s", err);
        for (int32_t i = 0; i < 2; i++) expect_entry(input, gt, n_gt, i, (2 * b + i) % N_IMG,
                                                     use_difficult);
        for (size_t j = 1; j < n_gt; j++) ck_assert(gt[j].image >= gt[j - 1].image);
    }
    train_data_stats st;
    train_data_get_stats(d, &st);
    ck_assert_int_eq(st.batches, 5);
    ck_assert(st.epochs == 2.0);
    ck_assert_uint_eq(st.n_objects, use_difficult ? 6 : 5);
    train_data_close(d);
    free(input);
    remove_dataset();
}

START_TEST(plain_resize_matches_preprocess_and_xml)
{
    check_plain(1);
}
END_TEST

START_TEST(plain_without_difficult)
{
    check_plain(0);
}
END_TEST

START_TEST(shuffle_is_a_permutation_per_epoch)
{
    make_dataset();
    train_data_params p = base_params();
    p.shuffle = 1;
    p.batch = N_IMG;
    p.n_workers = 3;
    train_data *d = NULL;
    char err[512];
    ck_assert_msg(train_data_open(&p, &d, err, sizeof err) == 0, "%s", err);
    float *input = malloc(N_IMG * PLANE3 * sizeof *input);
    ck_assert(input != NULL);
    int not_identity = 0, orders_differ = 0, prev[N_IMG] = {0};
    for (int e = 0; e < 4; e++) {
        const clssd_train_gt *gt = NULL;
        size_t n_gt = 0;
        ck_assert_msg(train_data_next(d, input, &gt, &n_gt, err, sizeof err) == 0, "%s", err);
        int seen[N_IMG] = {0}, order[N_IMG];
        for (int32_t i = 0; i < N_IMG; i++) {
            int img = -1;
            for (int j = 0; j < N_IMG; j++)
                if (memcmp(input + (size_t)i * PLANE3, g_input[j], sizeof g_input[j]) == 0) img = j;
            ck_assert_msg(img >= 0, "epoch %d entry %d is none of the images", e, (int)i);
            seen[img]++;
            order[i] = img;
            if (img != i) not_identity = 1;
            if (e > 0 && img != prev[i]) orders_differ = 1;
            expect_entry(input, gt, n_gt, i, img, 1);
        }
        for (int j = 0; j < N_IMG; j++) ck_assert_int_eq(seen[j], 1);
        memcpy(prev, order, sizeof prev);
    }
    ck_assert(not_identity);
    ck_assert(orders_differ);
    train_data_close(d);
    free(input);
    remove_dataset();
}
END_TEST

/* n_batches batches of an augmented, shuffled stream (batch 3: batches straddle epochs). */
static void run_stream(int n_workers, int prefetch, uint64_t seed, int n_batches, float *inputs,
                       clssd_train_gt *gts, size_t *n_gts, size_t gt_cap)
{
    train_data_params p = base_params();
    p.augment = 1;
    p.shuffle = 1;
    p.batch = 3;
    p.seed = seed;
    p.n_workers = n_workers;
    p.prefetch = prefetch;
    train_data *d = NULL;
    char err[512];
    ck_assert_msg(train_data_open(&p, &d, err, sizeof err) == 0, "%s", err);
    for (int b = 0; b < n_batches; b++) {
        const clssd_train_gt *gt = NULL;
        size_t n_gt = 0;
        ck_assert_msg(train_data_next(d, inputs + (size_t)b * 3 * PLANE3, &gt, &n_gt, err,
                                      sizeof err) == 0,
                      "%s", err);
        ck_assert(n_gt <= gt_cap);
        memcpy(gts + (size_t)b * gt_cap, gt, n_gt * sizeof *gt);
        n_gts[b] = n_gt;
    }
    train_data_close(d);
}

#define NB 10
#define GT_CAP 16

START_TEST(deterministic_across_workers)
{
    make_dataset();
    static float in1[NB * 3 * PLANE3], in3[NB * 3 * PLANE3], in_other[NB * 3 * PLANE3];
    static clssd_train_gt gt1[NB * GT_CAP], gt3[NB * GT_CAP], gt_other[NB * GT_CAP];
    size_t n1[NB], n3[NB], n_other[NB];
    memset(gt1, 0, sizeof gt1);
    memset(gt3, 0, sizeof gt3);
    run_stream(1, 1, 11, NB, in1, gt1, n1, GT_CAP);
    run_stream(3, 0, 11, NB, in3, gt3, n3, GT_CAP);
    for (int b = 0; b < NB; b++) {
        ck_assert_msg(memcmp(in1 + (size_t)b * 3 * PLANE3, in3 + (size_t)b * 3 * PLANE3,
                             3 * PLANE3 * sizeof(float)) == 0,
                      "batch %d: inputs differ between 1 and 3 workers", b);
        ck_assert_uint_eq(n1[b], n3[b]);
        for (size_t j = 0; j < n1[b]; j++) {
            const clssd_train_gt *x = &gt1[(size_t)b * GT_CAP + j], *y = &gt3[(size_t)b * GT_CAP + j];
            ck_assert(x->image == y->image && x->label == y->label &&
                      x->difficult == y->difficult && memcmp(x->box, y->box, sizeof x->box) == 0);
        }
    }
    /* and the seed matters */
    run_stream(2, 0, 12, NB, in_other, gt_other, n_other, GT_CAP);
    ck_assert(memcmp(in1, in_other, sizeof in1) != 0);
    remove_dataset();
}
END_TEST

START_TEST(augmented_boxes_valid)
{
    make_dataset();
    enum { NBA = 60 };
    static float in[NBA * 3 * PLANE3];
    static clssd_train_gt gt[NBA * GT_CAP];
    size_t n[NBA];
    run_stream(2, 0, 99, NBA, in, gt, n, GT_CAP);
    size_t total = 0, flipped_or_cropped = 0;
    /* input bounds: (0 - 123) * 0.5 .. (255 - 104) * 0.5 over the channels */
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++)
        ck_assert(isfinite(in[i]) && in[i] >= -61.5f && in[i] <= 75.5f);
    for (int b = 0; b < NBA; b++) {
        for (size_t j = 0; j < n[b]; j++) {
            const clssd_train_gt *g = &gt[(size_t)b * GT_CAP + j];
            ck_assert(g->image >= 0 && g->image < 3);
            if (j > 0) ck_assert(g->image >= g[-1].image);
            ck_assert_msg(g->label == 1 || g->label == 3, "label %d", (int)g->label);
            for (int c = 0; c < 4; c++) ck_assert(g->box[c] >= 0.0f && g->box[c] <= 1.0f);
            ck_assert(g->box[0] < g->box[2] && g->box[1] < g->box[3]);
            total++;
            /* no box of the dataset starts at exactly these: the augmentation did something */
            if (g->box[0] != (float)(4.0 / 40) && g->box[0] != (float)(9.0 / 40) &&
                g->box[0] != 0.0f && g->box[0] != (float)(29.0 / 60) &&
                g->box[0] != (float)(1.0 / 60) && g->box[0] != (float)(3.0 / 31))
                flipped_or_cropped++;
        }
    }
    ck_assert(total > 0);
    ck_assert(flipped_or_cropped > 0);
    remove_dataset();
}
END_TEST

START_TEST(unknown_class_is_an_error)
{
    make_dataset();
    write_xml(g_dir, &IMGS[1], IMGS[1].w, IMGS[1].h, "horse");
    train_data_params p = base_params();
    train_data *d = (train_data *)&p; /* must be reset to NULL */
    char err[512] = "";
    ck_assert_int_eq(train_data_open(&p, &d, err, sizeof err), -1);
    ck_assert(d == NULL);
    ck_assert_msg(strstr(err, "'horse'") != NULL && strstr(err, "labels") != NULL, "%s", err);
    /* the background's name is not a class either */
    write_xml(g_dir, &IMGS[1], IMGS[1].w, IMGS[1].h, "background");
    ck_assert_int_eq(train_data_open(&p, &d, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "'background'") != NULL, "%s", err);
    remove_dataset();
}
END_TEST

START_TEST(missing_image_is_an_error_naming_it)
{
    make_dataset();
    char path[512];
    snprintf(path, sizeof path, "%s/JPEGImages/d.jpg", g_dir);
    ck_assert(unlink(path) == 0);
    train_data_params p = base_params();
    p.n_workers = 3;
    train_data *d = NULL;
    char err[512] = "";
    ck_assert_msg(train_data_open(&p, &d, err, sizeof err) == 0, "%s", err);
    float *input = malloc(2 * PLANE3 * sizeof *input);
    ck_assert(input != NULL);
    const clssd_train_gt *gt = NULL;
    size_t n_gt = 0;
    /* batch 0 = a, b; batch 1 = c, d: the error comes with batch 1, not before */
    ck_assert_msg(train_data_next(d, input, &gt, &n_gt, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(train_data_next(d, input, &gt, &n_gt, err, sizeof err), -1);
    ck_assert_msg(strstr(err, path) != NULL && strstr(err, "cannot open") != NULL, "%s", err);
    ck_assert(gt == NULL && n_gt == 0);
    err[0] = '\0';
    ck_assert_int_eq(train_data_next(d, input, &gt, &n_gt, err, sizeof err), -1); /* sticky */
    ck_assert_msg(strstr(err, path) != NULL, "%s", err);
    train_data_close(d);
    free(input);
    remove_dataset();
}
END_TEST

START_TEST(size_mismatch_is_an_error)
{
    make_dataset();
    write_xml(g_dir, &IMGS[0], IMGS[0].w + 1, IMGS[0].h, NULL);
    train_data_params p = base_params();
    train_data *d = NULL;
    char err[512] = "";
    ck_assert_msg(train_data_open(&p, &d, err, sizeof err) == 0, "%s", err);
    float *input = malloc(2 * PLANE3 * sizeof *input);
    ck_assert(input != NULL);
    const clssd_train_gt *gt = NULL;
    size_t n_gt = 0;
    ck_assert_int_eq(train_data_next(d, input, &gt, &n_gt, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "a.jpg") != NULL && strstr(err, "annotation says 41x30") != NULL,
                  "%s", err);
    train_data_close(d);
    free(input);
    remove_dataset();
}
END_TEST

START_TEST(close_mid_epoch)
{
    make_dataset();
    train_data_params p = base_params();
    p.n_workers = 3;
    p.augment = 1;
    train_data *d = NULL;
    char err[512] = "";
    /* closed at once, while the workers start */
    ck_assert_msg(train_data_open(&p, &d, err, sizeof err) == 0, "%s", err);
    train_data_close(d);
    /* closed after one batch, with the ring being filled */
    ck_assert_msg(train_data_open(&p, &d, err, sizeof err) == 0, "%s", err);
    float *input = malloc(2 * PLANE3 * sizeof *input);
    ck_assert(input != NULL);
    const clssd_train_gt *gt = NULL;
    size_t n_gt = 0;
    ck_assert_msg(train_data_next(d, input, &gt, &n_gt, err, sizeof err) == 0, "%s", err);
    train_data_close(d);
    train_data_close(NULL);
    free(input);
    remove_dataset();
}
END_TEST

START_TEST(bad_params)
{
    make_dataset();
    train_data_params p = base_params();
    train_data *d = NULL;
    char err[512] = "";
    p.n_workers = 0;
    ck_assert_int_eq(train_data_open(&p, &d, err, sizeof err), -1);
    p = base_params();
    p.batch = 0;
    ck_assert_int_eq(train_data_open(&p, &d, err, sizeof err), -1);
    p = base_params();
    p.image_set = "nosuchset";
    ck_assert_int_eq(train_data_open(&p, &d, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "nosuchset") != NULL, "%s", err);
    ck_assert(d == NULL);
    remove_dataset();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("train_data");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, plain_resize_matches_preprocess_and_xml);
    tcase_add_test(tc, plain_without_difficult);
    tcase_add_test(tc, shuffle_is_a_permutation_per_epoch);
    tcase_add_test(tc, deterministic_across_workers);
    tcase_add_test(tc, augmented_boxes_valid);
    tcase_add_test(tc, unknown_class_is_an_error);
    tcase_add_test(tc, missing_image_is_an_error_naming_it);
    tcase_add_test(tc, size_mismatch_is_an_error);
    tcase_add_test(tc, close_mid_epoch);
    tcase_add_test(tc, bad_params);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    const int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
