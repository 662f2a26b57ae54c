/* Tests of the host training augmentation (src/train/augment.c), rule T4 of
 * shared/docs/conformance.md. Plain C, no OpenCL device: never skips (no exit 77).
 *
 * Expected pixel values and boxes are worked by hand in the comments beside them; the
 * sampler test checks the constraints over many seeds instead of fixed numbers, so it does not
 * depend on the exact random stream. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clssd_internal.h"
#include "train/train.h"

#define EXPECT_OK(call)                                                                            \
    do {                                                                                           \
        clssd_status st_ = (call);                                                                 \
        ck_assert_msg(st_ == CLSSD_OK, "%s returned %d (%s)", #call, (int)st_,                     \
                      clssd_status_string(st_));                                                   \
    } while (0)

static clssd_train_gt make_gt(int32_t label, float x0, float y0, float x1, float y1)
{
    clssd_train_gt g;
    memset(&g, 0, sizeof g);
    g.label = label;
    g.box[0] = x0;
    g.box[1] = y0;
    g.box[2] = x1;
    g.box[3] = y1;
    return g;
}

static void expect_box(const char *what, const float *got, float x0, float y0, float x1, float y1)
{
    const float want[4] = {x0, y0, x1, y1};
    for (int c = 0; c < 4; c++)
        ck_assert_msg(got[c] == want[c], "%s[%d]: got %.9g, expected %.9g", what, c, (double)got[c],
                      (double)want[c]);
}

static void expect_px(const clssd_aug_image *img, int x, int y, int r, int g, int b)
{
    const uint8_t *p = img->data + (size_t)y * img->stride + 3 * (size_t)x;
    ck_assert_msg(p[0] == r && p[1] == g && p[2] == b,
                  "pixel (%d,%d): got (%d,%d,%d), expected (%d,%d,%d)", x, y, p[0], p[1], p[2], r,
                  g, b);
}

/* ------------------------------------------------------------------ (a) flip */

/* 3 x 2 image with a 2-byte row pad (stride 11): pixel (x, y) = (10x + y, 100 + x, 200 + y).
 * Mirrored: new (x, y) = old (2 - x, y); the middle column stays; the pad is not touched.
 * Box [0.125, 0.25, 0.5, 0.75] -> xmin = 1 - 0.5 = 0.5, xmax = 1 - 0.125 = 0.875, y as is. */
START_TEST(test_flip)
{
    uint8_t buf[2 * 11];
    memset(buf, 0xEE, sizeof buf);
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 3; x++) {
            buf[y * 11 + 3 * x + 0] = (uint8_t)(10 * x + y);
            buf[y * 11 + 3 * x + 1] = (uint8_t)(100 + x);
            buf[y * 11 + 3 * x + 2] = (uint8_t)(200 + y);
        }
    clssd_aug_image img = {buf, 3, 2, 11};
    clssd_train_gt gt[2] = {make_gt(3, 0.125f, 0.25f, 0.5f, 0.75f), make_gt(4, 0, 0, 1, 1)};
    gt[1].difficult = 1;
    EXPECT_OK(clssd__aug_flip(&img, gt, 2));
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 3; x++)
            expect_px(&img, x, y, 10 * (2 - x) + y, 100 + (2 - x), 200 + y);
    for (int y = 0; y < 2; y++)
        ck_assert(buf[y * 11 + 9] == 0xEE && buf[y * 11 + 10] == 0xEE);
    expect_box("flip box 0", gt[0].box, 0.5f, 0.25f, 0.875f, 0.75f);
    expect_box("flip box 1", gt[1].box, 0, 0, 1, 1);
    ck_assert_int_eq(gt[0].label, 3);
    ck_assert_int_eq(gt[1].difficult, 1);
    /* flipping twice is the identity */
    EXPECT_OK(clssd__aug_flip(&img, gt, 2));
    expect_px(&img, 0, 1, 1, 100, 201);
    expect_box("flip twice", gt[0].box, 0.125f, 0.25f, 0.5f, 0.75f);
}
END_TEST

/* ------------------------------------------------------------------ (b) expand */

/* src 4 x 2, pixel (x, y) = (x, y, 7). ratio 2 -> canvas (int)(4*2) x (int)(2*2) = 8 x 4,
 * image at (3, 1): canvas (X, Y) holds src (X - 3, Y - 1) for X in 3..6, Y in 1..2, else the
 * mean. Mean (123.4, 117.5, 104.5) -> setTo rounds half to even: (123, 118, 104).
 * Box [0.25, 0, 0.75, 1] (pixels x 1..3, y 0..2) -> x: (1 + 3) / 8 = 0.5, (3 + 3) / 8 = 0.75;
 * y: (0 + 1) / 4 = 0.25, (2 + 1) / 4 = 0.75. */
START_TEST(test_expand_forced)
{
    uint8_t buf[4 * 2 * 3];
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 4; x++) {
            buf[y * 12 + 3 * x + 0] = (uint8_t)x;
            buf[y * 12 + 3 * x + 1] = (uint8_t)y;
            buf[y * 12 + 3 * x + 2] = 7;
        }
    const clssd_aug_image src = {buf, 4, 2, 12};
    const float mean[3] = {123.4f, 117.5f, 104.5f};
    clssd_train_gt gt[1] = {make_gt(1, 0.25f, 0.0f, 0.75f, 1.0f)};
    clssd_aug_image dst;
    EXPECT_OK(clssd__aug_expand_at(&src, 2.0f, 3, 1, mean, &dst, gt, 1));
    ck_assert_int_eq(dst.w, 8);
    ck_assert_int_eq(dst.h, 4);
    ck_assert_uint_eq(dst.stride, 24);
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 8; x++) {
            if (x >= 3 && x < 7 && y >= 1 && y < 3)
                expect_px(&dst, x, y, x - 3, y - 1, 7);
            else
                expect_px(&dst, x, y, 123, 118, 104);
        }
    expect_box("expand box", gt[0].box, 0.5f, 0.25f, 0.75f, 0.75f);
    clssd__free(dst.data);

    /* ratio 2.5: 4 * 2.5 = 10, 2 * 2.5 = 5 exactly; offset (6, 3) is the far corner:
     * box x: (1 + 6) / 10 = 0.7 (float(0.7)), (3 + 6) / 10 = 0.9; y: 3/5 = 0.6, 5/5 = 1 */
    gt[0] = make_gt(1, 0.25f, 0.0f, 0.75f, 1.0f);
    EXPECT_OK(clssd__aug_expand_at(&src, 2.5f, 6, 3, mean, &dst, gt, 1));
    ck_assert_int_eq(dst.w, 10);
    ck_assert_int_eq(dst.h, 5);
    expect_px(&dst, 9, 4, 3, 1, 7);
    expect_px(&dst, 5, 4, 123, 118, 104);
    expect_box("expand box 2.5", gt[0].box, 0.7f, 0.6f, 0.9f, 1.0f);
    clssd__free(dst.data);

    /* an offset past the canvas, or a ratio below 1, is refused and allocates nothing */
    ck_assert_int_eq(clssd__aug_expand_at(&src, 2.0f, 5, 0, mean, &dst, gt, 1),
                     CLSSD_ERR_INVALID_ARG);
    ck_assert_ptr_null(dst.data);
    ck_assert_int_eq(clssd__aug_expand_at(&src, 0.5f, 0, 0, mean, &dst, gt, 1),
                     CLSSD_ERR_INVALID_ARG);
}
END_TEST

/* ------------------------------------------------------------------ (c) centre rule */

/* patch [0.25, 0.25, 0.75, 0.75] (side 0.5):
 *   A [0.125, 0.375, 0.5, 0.625]: centre (0.3125, 0.5) inside -> kept;
 *     x (0.125 - 0.25) / 0.5 = -0.25 -> clipped 0, (0.5 - 0.25) / 0.5 = 0.5;
 *     y (0.375 - 0.25) / 0.5 = 0.25, (0.625 - 0.25) / 0.5 = 0.75  => [0, 0.25, 0.5, 0.75]
 *   B [0, 0, 0.375, 0.375]: overlaps the patch but centre (0.1875, 0.1875) is outside -> dropped
 *   C [0.5, 0.5, 1, 1]: centre (0.75, 0.75) on the corner, bounds inclusive -> kept;
 *     (0.5 - 0.25) / 0.5 = 0.5, (1 - 0.25) / 0.5 = 1.5 -> 1  => [0.5, 0.5, 1, 1]
 *   D [0.3, 0.3, 0.3, 0.7]: centre inside but zero width -> area 0 after projection, dropped */
START_TEST(test_crop_center_rule)
{
    const float patch[4] = {0.25f, 0.25f, 0.75f, 0.75f};
    clssd_train_gt gt[4] = {make_gt(1, 0.125f, 0.375f, 0.5f, 0.625f),
                            make_gt(2, 0, 0, 0.375f, 0.375f), make_gt(3, 0.5f, 0.5f, 1, 1),
                            make_gt(4, 0.3f, 0.3f, 0.3f, 0.7f)};
    gt[2].difficult = 1;
    gt[2].image = 5;
    clssd_train_gt out[4];
    ck_assert_uint_eq(clssd__aug_crop_boxes(patch, gt, 4, out), 2);
    expect_box("kept A", out[0].box, 0.0f, 0.25f, 0.5f, 0.75f);
    ck_assert_int_eq(out[0].label, 1);
    expect_box("kept C", out[1].box, 0.5f, 0.5f, 1.0f, 1.0f);
    ck_assert_int_eq(out[1].label, 3);
    ck_assert_int_eq(out[1].difficult, 1);
    ck_assert_int_eq(out[1].image, 5);

    /* the image crop: 8 x 8, pixel (x, y) = (x, y, 9); the patch is pixel-aligned:
     * x0 = (int)(0.25 * 8) = 2, width (int)(6 - 2) = 4, same in y: pixels 2..5 cut. The boxes
     * come out as above; filtering in place (gt_out == gt) works. */
    uint8_t buf[8 * 8 * 3];
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 8; x++) {
            buf[y * 24 + 3 * x] = (uint8_t)x;
            buf[y * 24 + 3 * x + 1] = (uint8_t)y;
            buf[y * 24 + 3 * x + 2] = 9;
        }
    const clssd_aug_image src = {buf, 8, 8, 24};
    clssd_aug_image dst;
    size_t n = 99;
    EXPECT_OK(clssd__aug_crop(&src, patch, gt, 4, &dst, gt, &n));
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(dst.w, 4);
    ck_assert_int_eq(dst.h, 4);
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++)
            expect_px(&dst, x, y, x + 2, y + 2, 9);
    expect_box("crop A", gt[0].box, 0.0f, 0.25f, 0.5f, 0.75f);
    expect_box("crop C", gt[1].box, 0.5f, 0.5f, 1.0f, 1.0f);
    clssd__free(dst.data);

    /* patch [0.3, 0.1, 0.95, 0.5] on a 10 x 10 image, not pixel-aligned: in float
     * 0.3f * 10 = 3, 0.95f * 10 = 9.5, 0.1f * 10 = 1, 0.5f * 10 = 5, so x0 = 3,
     * width (int)6.5 = 6, y0 = 1, height 4: pixels x 3..8, y 1..4 are cut. The boxes are
     * re-normalized against that rectangle, [0.3, 0.1, 0.9, 0.5], so a gt equal to it comes
     * out as exactly [0, 0, 1, 1] (against the unrounded patch, Caffe's choice, its xmax would
     * be 0.6 / 0.65 = 0.923). */
    uint8_t big[10 * 10 * 3];
    memset(big, 1, sizeof big);
    const clssd_aug_image src10 = {big, 10, 10, 30};
    const float patch2[4] = {0.3f, 0.1f, 0.95f, 0.5f};
    clssd_train_gt g2 = make_gt(1, 0.3f, 0.1f, 0.9f, 0.5f);
    EXPECT_OK(clssd__aug_crop(&src10, patch2, &g2, 1, &dst, &g2, &n));
    ck_assert_int_eq(dst.w, 6);
    ck_assert_int_eq(dst.h, 4);
    ck_assert_uint_eq(n, 1);
    expect_box("crop to pixel rect", g2.box, 0, 0, 1, 1);
    clssd__free(dst.data);
}
END_TEST

/* ------------------------------------------------------------------ (d) samplers */

START_TEST(test_sampler_constraints)
{
    clssd_aug_sampler s[CLSSD_AUG_SSD_N_SAMPLERS];
    clssd__aug_ssd_samplers(s);
    /* two objects, one large and one small */
    const clssd_train_gt gt[2] = {make_gt(1, 0.2f, 0.1f, 0.8f, 0.7f),
                                  make_gt(2, 0.05f, 0.6f, 0.3f, 0.95f)};
    const float tol = 1e-5f;
    for (int si = 1; si <= 5; si++) {
        int hits = 0;
        for (uint64_t seed = 0; seed < 2000; seed++) {
            clssd_rng rng;
            clssd__rng_seed(&rng, seed);
            float patch[4];
            size_t n = 9;
            EXPECT_OK(clssd__aug_batch_sample(&s[si], 1, gt, 2, &rng, patch, 1, &n));
            ck_assert_uint_le(n, 1); /* max_sample 1 */
            if (n == 0) continue;
            hits++;
            const float w = patch[2] - patch[0], h = patch[3] - patch[1];
            ck_assert_msg(patch[0] >= 0 && patch[1] >= 0 && patch[2] <= 1 && patch[3] <= 1,
                          "sampler %d seed %d: patch outside", si, (int)seed);
            const float scale = sqrtf(w * h), ar = w / h;
            ck_assert_msg(scale >= 0.3f - tol && scale <= 1.0f + tol,
                          "sampler %d seed %d: scale %g", si, (int)seed, (double)scale);
            ck_assert_msg(ar >= 0.5f - tol && ar <= 2.0f + tol, "sampler %d seed %d: aspect %g", si,
                          (int)seed, (double)ar);
            const float o0 = clssd__train_iou(patch, gt[0].box);
            const float o1 = clssd__train_iou(patch, gt[1].box);
            ck_assert_msg(fmaxf(o0, o1) >= s[si].min_jaccard,
                          "sampler %d seed %d: IoUs %g %g below %g", si, (int)seed, (double)o0,
                          (double)o1, (double)s[si].min_jaccard);
        }
        printf("sampler min_jaccard %.1f: %d of 2000 seeds found a patch\n",
               (double)s[si].min_jaccard, hits);
        ck_assert_msg(hits > 0, "sampler %d never succeeded", si);
    }

    /* the whole-image sampler gives [0, 0, 1, 1] and needs no object at all */
    clssd_rng rng;
    clssd__rng_seed(&rng, 1);
    float patch[4];
    size_t n = 0;
    EXPECT_OK(clssd__aug_batch_sample(&s[0], 1, NULL, 0, &rng, patch, 1, &n));
    ck_assert_uint_eq(n, 1);
    expect_box("whole image", patch, 0, 0, 1, 1);
    /* the max_jaccard 1.0 sampler accepts anything when there is a gt, nothing when none */
    EXPECT_OK(clssd__aug_batch_sample(&s[6], 1, gt, 2, &rng, patch, 1, &n));
    ck_assert_uint_eq(n, 1);
    EXPECT_OK(clssd__aug_batch_sample(&s[6], 1, NULL, 0, &rng, patch, 1, &n));
    ck_assert_uint_eq(n, 0);
    /* all 7: the whole image always plus at most one per other sampler */
    float all[4 * 7];
    EXPECT_OK(clssd__aug_batch_sample(s, 7, gt, 2, &rng, all, 7, &n));
    ck_assert(n >= 1 && n <= 7);
    expect_box("first sample", all, 0, 0, 1, 1);

    /* ANY, not all: patch = gt[0] exactly (IoU 1), gt[1] far away (IoU 0): min 0.9 passes */
    const clssd_train_gt far[2] = {make_gt(1, 0.5f, 0.5f, 1, 1), make_gt(1, 0, 0, 0.1f, 0.1f)};
    const float p1[4] = {0.5f, 0.5f, 1, 1};
    ck_assert(clssd__aug_sample_ok(&s[5], p1, far, 2));
    /* patch [0, 0, 1, 1]: IoU with far[0] = 0.25 / 1 = 0.25, with far[1] = 0.01 / 1 = 0.01:
     * the 0.1 sampler accepts it (0.25 >= 0.1), the 0.3 one does not */
    const float p2[4] = {0, 0, 1, 1};
    ck_assert(clssd__aug_sample_ok(&s[1], p2, far, 2));
    ck_assert(!clssd__aug_sample_ok(&s[2], p2, far, 2));
}
END_TEST

/* ------------------------------------------------------------------ (e) driver */

static void fill_image(uint8_t *buf, size_t n, uint64_t seed)
{
    clssd_rng r;
    clssd__rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++)
        buf[i] = (uint8_t)(clssd__rng_u64(&r) >> 56);
}

typedef struct aug_result {
    clssd_aug_image img;
    clssd_train_gt gt[3];
    size_t n;
} aug_result;

static void run_aug(const clssd_aug_image *src, const clssd_train_gt *gt, uint64_t seed,
                    aug_result *res)
{
    clssd_aug_params p;
    clssd__aug_defaults(&p);
    clssd_rng rng;
    clssd__rng_seed(&rng, seed);
    EXPECT_OK(clssd__augment(&p, &rng, src, gt, 3, &res->img, res->gt, &res->n));
}

static int same_result(const aug_result *a, const aug_result *b)
{
    if (a->img.w != b->img.w || a->img.h != b->img.h || a->n != b->n) return 0;
    if (memcmp(a->img.data, b->img.data, (size_t)a->img.w * 3 * (size_t)a->img.h) != 0) return 0;
    return memcmp(a->gt, b->gt, a->n * sizeof a->gt[0]) == 0;
}

START_TEST(test_augment_reproducible)
{
    enum { W = 40, H = 30 };
    static uint8_t buf[W * H * 3];
    fill_image(buf, sizeof buf, 77);
    const clssd_aug_image src = {buf, W, H, W * 3};
    clssd_train_gt gt[3] = {make_gt(1, 0.1f, 0.1f, 0.5f, 0.6f), make_gt(2, 0.4f, 0.3f, 0.9f, 0.9f),
                            make_gt(3, 0.7f, 0.05f, 0.8f, 0.2f)};
    gt[2].difficult = 1;
    const clssd_train_gt gt_copy[3] = {gt[0], gt[1], gt[2]};

    aug_result a, b, c;
    run_aug(&src, gt, 1234, &a);
    run_aug(&src, gt, 1234, &b);
    ck_assert_msg(same_result(&a, &b), "same seed, different output");
    run_aug(&src, gt, 1235, &c);
    ck_assert_msg(!same_result(&a, &c), "seeds 1234 and 1235 gave the same output");
    ck_assert(memcmp(gt, gt_copy, sizeof gt) == 0); /* inputs untouched */
    clssd__free(a.img.data);
    clssd__free(b.img.data);
    clssd__free(c.img.data);

    /* over many seeds: every output is sane, and each step is seen to happen */
    int expanded = 0, cropped = 0, dropped = 0;
    for (uint64_t seed = 0; seed < 300; seed++) {
        run_aug(&src, gt, seed, &a);
        ck_assert(a.img.w >= 1 && a.img.h >= 1 && a.img.w <= 4 * W && a.img.h <= 4 * H);
        ck_assert_uint_eq(a.img.stride, 3 * (size_t)a.img.w);
        ck_assert_uint_le(a.n, 3);
        if (a.img.w > W) expanded++;
        if (a.img.w < W) cropped++;
        if (a.n < 3) dropped++;
        for (size_t k = 0; k < a.n; k++) {
            const float *bx = a.gt[k].box;
            ck_assert(bx[0] >= 0 && bx[1] >= 0 && bx[2] <= 1 && bx[3] <= 1);
            ck_assert(bx[0] < bx[2] && bx[1] < bx[3]);
            ck_assert(a.gt[k].label >= 1 && a.gt[k].label <= 3);
        }
        clssd__free(a.img.data);
    }
    printf("augment over 300 seeds: %d expanded, %d smaller than the input, %d lost a box\n",
           expanded, cropped, dropped);
    ck_assert(expanded > 0 && cropped > 0 && dropped > 0);
}
END_TEST

/* Without distortion, expand, sampling or flip, augment is a copy (a strided source comes out
 * packed). */
START_TEST(test_augment_identity)
{
    uint8_t buf[3 * 10];
    fill_image(buf, sizeof buf, 5);
    const clssd_aug_image src = {buf, 3, 3, 10};
    clssd_aug_params p;
    clssd__aug_defaults(&p);
    p.distort = 0;
    p.expand_prob = 0;
    p.n_samplers = 0;
    p.flip_prob = 0;
    clssd_rng rng;
    clssd__rng_seed(&rng, 3);
    const clssd_train_gt gt = make_gt(1, 0.1f, 0.2f, 0.3f, 0.4f);
    clssd_train_gt out_gt;
    clssd_aug_image out;
    size_t n;
    EXPECT_OK(clssd__augment(&p, &rng, &src, &gt, 1, &out, &out_gt, &n));
    ck_assert_uint_eq(n, 1);
    expect_box("identity", out_gt.box, 0.1f, 0.2f, 0.3f, 0.4f);
    for (int y = 0; y < 3; y++)
        ck_assert(memcmp(out.data + 9 * y, buf + 10 * y, 9) == 0);
    clssd__free(out.data);
}
END_TEST

/* Every allocation of augment failing in turn: CLSSD_ERR_OUT_OF_MEMORY, out->data NULL and
 * nothing leaked (valgrind), until the count passes the allocations made and it succeeds. */
START_TEST(test_augment_alloc_failures)
{
    enum { W = 12, H = 10 };
    static uint8_t buf[W * H * 3];
    fill_image(buf, sizeof buf, 8);
    const clssd_aug_image src = {buf, W, H, W * 3};
    const clssd_train_gt gt[3] = {make_gt(1, 0.1f, 0.1f, 0.5f, 0.6f),
                                  make_gt(2, 0.4f, 0.3f, 0.9f, 0.9f),
                                  make_gt(3, 0.7f, 0.05f, 0.8f, 0.2f)};
    clssd_aug_params p;
    clssd__aug_defaults(&p);
    p.expand_prob = 1; /* every allocation site is reached: copy, expand, patches, crop */
    int saw_ok = 0;
    for (long k = 1; k <= 6 && !saw_ok; k++) {
        clssd_rng rng;
        clssd__rng_seed(&rng, 42);
        clssd_aug_image out;
        clssd_train_gt og[3];
        size_t n;
        clssd__alloc_fail_after(k);
        const clssd_status st = clssd__augment(&p, &rng, &src, gt, 3, &out, og, &n);
        clssd__alloc_fail_after(0);
        if (st == CLSSD_OK) {
            saw_ok = 1;
            clssd__free(out.data);
        } else {
            ck_assert_int_eq(st, CLSSD_ERR_OUT_OF_MEMORY);
            ck_assert_ptr_null(out.data);
        }
    }
    ck_assert(saw_ok);
}
END_TEST

/* ------------------------------------------------------------------ (f) photometric */

/* brightness, v + delta rounded half to even and saturated:
 *   +10.5: (250, 100, 0) -> (260.5 -> 255, 110.5 -> 110, 10.5 -> 10);
 *          (10, 128, 255) -> (20.5 -> 20, 138.5 -> 138, 255)
 *   -20.5: (250, 100, 0) -> (229.5 -> 230, 79.5 -> 80, -20.5 -> 0) */
START_TEST(test_brightness)
{
    uint8_t px[6] = {250, 100, 0, 10, 128, 255};
    clssd_aug_image img = {px, 2, 1, 6};
    EXPECT_OK(clssd__aug_brightness(&img, 10.5f));
    expect_px(&img, 0, 0, 255, 110, 10);
    expect_px(&img, 1, 0, 20, 138, 255);
    uint8_t q[3] = {250, 100, 0};
    clssd_aug_image img2 = {q, 1, 1, 3};
    EXPECT_OK(clssd__aug_brightness(&img2, -20.5f));
    expect_px(&img2, 0, 0, 230, 80, 0);
}
END_TEST

/* contrast 1.5: (100, 200, 3) -> (150, 300 -> 255, 4.5 -> 4 ties to even) */
START_TEST(test_contrast)
{
    uint8_t px[3] = {100, 200, 3};
    clssd_aug_image img = {px, 1, 1, 3};
    EXPECT_OK(clssd__aug_contrast(&img, 1.5f));
    expect_px(&img, 0, 0, 150, 255, 4);
}
END_TEST

/* OpenCV 8-bit HSV by hand (hsv_shift 12, sdiv[i] = round(255*4096/i),
 * hdiv[i] = round(180*4096/(6 i))):
 * pure red (255, 0, 0): v = 255, diff = 255, v == r so h = g - b = 0; s = (255 * 4096 + 2048)
 *   >> 12 = 255. H = 0, S = 255, V = 255.
 *   hue +10 -> H = 10; back: h = 10 * (6/180) = 1/3, sector 0, f = 1/3; s = v = 1:
 *   tab = [1, 0, 1 - f = 2/3, f = 1/3]; sector 0 = (b, g, r) <- (tab1, tab3, tab0)
 *   = (0, 1/3, 1) -> RGB (255, 85, 0).
 *   hue -10 -> H = 0 - 10 saturates to 0 (Caffe's convertTo, no wrap) -> red unchanged.
 * pure green (0, 255, 0): v == g, h = b - r + 2 diff = 510; hdiv[255] = round(737280 / 1530)
 *   = round(481.88) = 482; (510 * 482 + 2048) >> 12 = 247868 >> 12 = 60. H = 60.
 *   hue +18 -> 78: h = 2.6, sector 2, f = 0.6; sector 2 = (b, g, r) <- (tab3, tab0, tab1)
 *   = (0.6, 1, 0) -> RGB (0, 255, 153).
 * H near the top: blue (0, 0, 255): v == b, h = r - g + 4 diff = 1020; (1020 * 482 + 2048)
 *   >> 12 = 493688 >> 12 = 120. hue +18 -> 138: h = 4.6, sector 4, f = 0.6; sector 4 =
 *   (b, g, r) <- (tab0, tab1, tab3) = (1, 0, 0.6) -> RGB (153, 0, 255).
 * saturation 0.5 on red: S = 127.5 -> 128 (ties to even); back: s = 128/255, h = 0:
 *   tab1 = tab3 = 1 - 128/255 = 127/255 -> RGB (255, 127, 127). */
START_TEST(test_hue_saturation)
{
    uint8_t px[3 * 3] = {255, 0, 0, 0, 255, 0, 0, 0, 255};
    clssd_aug_image img = {px, 3, 1, 9};
    EXPECT_OK(clssd__aug_hue(&img, 10.0f));
    expect_px(&img, 0, 0, 255, 85, 0);

    uint8_t red[3] = {255, 0, 0};
    clssd_aug_image r1 = {red, 1, 1, 3};
    EXPECT_OK(clssd__aug_hue(&r1, -10.0f));
    expect_px(&r1, 0, 0, 255, 0, 0);

    uint8_t gb[6] = {0, 255, 0, 0, 0, 255};
    clssd_aug_image g1 = {gb, 2, 1, 6};
    EXPECT_OK(clssd__aug_hue(&g1, 18.0f));
    expect_px(&g1, 0, 0, 0, 255, 153);
    expect_px(&g1, 1, 0, 153, 0, 255);

    uint8_t red2[3] = {255, 0, 0};
    clssd_aug_image r2 = {red2, 1, 1, 3};
    EXPECT_OK(clssd__aug_saturation(&r2, 0.5f));
    expect_px(&r2, 0, 0, 255, 127, 127);

    /* grey has S = 0: saturation and hue leave it (V = 77 -> 77/255 * 255 = 77) */
    uint8_t grey[3] = {77, 77, 77};
    clssd_aug_image gr = {grey, 1, 1, 3};
    EXPECT_OK(clssd__aug_saturation(&gr, 1.4f));
    EXPECT_OK(clssd__aug_hue(&gr, 12.0f));
    expect_px(&gr, 0, 0, 77, 77, 77);
}
END_TEST

/* distort with every probability 0 (and the order draw whichever way) changes nothing */
START_TEST(test_distort_probs_zero)
{
    uint8_t buf[5 * 4 * 3], orig[sizeof buf];
    fill_image(buf, sizeof buf, 9);
    memcpy(orig, buf, sizeof buf);
    clssd_aug_image img = {buf, 5, 4, 15};
    clssd_aug_distort_params p;
    clssd__aug_distort_defaults(&p);
    p.brightness_prob = p.contrast_prob = p.hue_prob = p.saturation_prob = 0;
    for (uint64_t seed = 0; seed < 8; seed++) {
        clssd_rng rng;
        clssd__rng_seed(&rng, seed);
        EXPECT_OK(clssd__aug_distort(&img, &p, &rng));
    }
    ck_assert(memcmp(buf, orig, sizeof buf) == 0);
    /* random_order_prob 1: always a permutation of each pixel's channels */
    p.random_order_prob = 1;
    clssd_rng rng;
    clssd__rng_seed(&rng, 4);
    EXPECT_OK(clssd__aug_distort(&img, &p, &rng));
    for (size_t i = 0; i < sizeof buf; i += 3) {
        const int s0 = orig[i] + orig[i + 1] + orig[i + 2], s1 = buf[i] + buf[i + 1] + buf[i + 2];
        ck_assert_int_eq(s0, s1);
    }
}
END_TEST

static Suite *augment_suite(void)
{
    Suite *s = suite_create("augment");
    TCase *tg = tcase_create("geometry");
    tcase_add_test(tg, test_flip);
    tcase_add_test(tg, test_expand_forced);
    tcase_add_test(tg, test_crop_center_rule);
    tcase_add_test(tg, test_sampler_constraints);
    suite_add_tcase(s, tg);
    TCase *td = tcase_create("driver");
    tcase_add_test(td, test_augment_reproducible);
    tcase_add_test(td, test_augment_identity);
    tcase_add_test(td, test_augment_alloc_failures);
    suite_add_tcase(s, td);
    TCase *tp = tcase_create("photometric");
    tcase_add_test(tp, test_brightness);
    tcase_add_test(tp, test_contrast);
    tcase_add_test(tp, test_hue_saturation);
    tcase_add_test(tp, test_distort_probs_zero);
    suite_add_tcase(s, tp);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(augment_suite());
    srunner_run_all(sr, CK_NORMAL);
    const int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
