/* Known-answer and gradient tests of the host training reference (src/train), rules T1-T3 and
 * T5 of shared/docs/conformance.md. Plain C, no OpenCL device: never skips (no exit 77).
 *
 * Every expected number is worked by hand in the comment beside it (logarithms and exponentials
 * from a pocket calculator, to 10+ digits); none was printed by the code under test. */
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

static void expect_near(const char *what, size_t i, double got, double want, double tol)
{
    ck_assert_msg(fabs(got - want) <= tol, "%s[%zu]: got %.10g, expected %.10g (tol %.3g)", what, i,
                  got, want, tol);
}

/* A box [x0/64, 0.25, x1/64, 0.75]: every box of the matching test shares the y span, so the
 * IoU is the 1-D interval IoU |inter| / |union| of the x intervals (the 0.5 height cancels),
 * and all coordinates are exact in float. */
static void xbox(float *b, int x0, int x1)
{
    b[0] = (float)x0 / 64.0f;
    b[1] = 0.25f;
    b[2] = (float)x1 / 64.0f;
    b[3] = 0.75f;
}

static clssd_train_gt make_gt(int32_t image, int32_t label, const float *box)
{
    clssd_train_gt g;
    memset(&g, 0, sizeof g);
    g.image = image;
    g.label = label;
    memcpy(g.box, box, sizeof g.box);
    return g;
}

/* ------------------------------------------------------------------ (a) matching, T1 */

/* x intervals in 1/64: gt0 = A = [3,23], gt1 = B = [0,20], gt2 = C = [40,60];
 * priors p0 = [3,13], p1 = [14,23], p2 = [2,20], p3 = [0,19], p4 = [40,46].
 *
 *          A = [3,23]                    B = [0,20]                   C = [40,60]
 *   p0   inter 10 / union 20 = 0.5      10 / 20 = 0.5                 0
 *   p1   9 / 20 = 0.45                  [14,20] 6 / [0,23] 23 = .2609 0
 *   p2   [3,20] 17 / [2,23] 21 = .8095  18 / 20 = 0.9                 0
 *   p3   [3,19] 16 / [0,23] 23 = .6957  19 / 20 = 0.95                0
 *   p4   0 (40/64 > 23/64: no contact)  0                             6 / 20 = 0.3
 *
 * Bipartite: round 1 the global best (p3, B) 0.95; round 2 among p0,p1,p2,p4 and A, C the best
 * is (p2, A) 0.8095 -- p2 is "stolen" by A although its own best GT is B (0.9), which a
 * per-prediction-only matcher would give it; round 3 (p4, C) 0.3: C gets a prior below the
 * threshold. Per prediction: p0 has 0.5 with A and B: >= 0.5 so it matches, the tie goes to
 * the lower GT index, A = 0; p1's best is 0.45 < 0.5: unmatched, overlap 0.45.
 * => match [0, -1, 0, 1, 2], overlap [0.5, 0.45, 17/21, 0.95, 0.3]. */
static void match_setup(float priors[5 * 4], clssd_train_gt gt[3])
{
    float b[4];
    xbox(priors + 0, 3, 13);
    xbox(priors + 4, 14, 23);
    xbox(priors + 8, 2, 20);
    xbox(priors + 12, 0, 19);
    xbox(priors + 16, 40, 46);
    xbox(b, 3, 23);
    gt[0] = make_gt(0, 1, b);
    xbox(b, 0, 20);
    gt[1] = make_gt(0, 1, b);
    xbox(b, 40, 60);
    gt[2] = make_gt(0, 1, b);
}

static void expect_match(const char *what, const int32_t *mi, const float *mo,
                         const int32_t *want_i, const double *want_o, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(mi[i] == want_i[i], "%s: prior %zu matched %d, expected %d", what, i,
                      (int)mi[i], (int)want_i[i]);
        expect_near(what, i, (double)mo[i], want_o[i], 1e-6);
    }
}

START_TEST(test_match_bipartite)
{
    float priors[20];
    clssd_train_gt gt[3];
    match_setup(priors, gt);
    int32_t mi[5];
    float mo[5];
    EXPECT_OK(clssd__match_bbox(priors, 5, gt, 3, 0.5f, 1, mi, mo));
    const int32_t want_i[5] = {0, -1, 0, 1, 2};
    const double want_o[5] = {0.5, 0.45, 17.0 / 21.0, 0.95, 0.3};
    expect_match("bipartite", mi, mo, want_i, want_o, 5);
    /* the IoU of p0 with A is exactly 0.5 in float (10/64 * 0.5 over 20/64 * 0.5) */
    ck_assert(clssd__train_iou(priors, gt[0].box) == 0.5f);
}
END_TEST

/* The threshold is inclusive: one float step above 0.5, p0 (IoU exactly 0.5) stays
 * unmatched with overlap 0.5; everything the bipartite step decided is unchanged. */
START_TEST(test_match_threshold_edge)
{
    float priors[20];
    clssd_train_gt gt[3];
    match_setup(priors, gt);
    int32_t mi[5];
    float mo[5];
    EXPECT_OK(clssd__match_bbox(priors, 5, gt, 3, nextafterf(0.5f, 1.0f), 1, mi, mo));
    const int32_t want_i[5] = {-1, -1, 0, 1, 2};
    const double want_o[5] = {0.5, 0.45, 17.0 / 21.0, 0.95, 0.3};
    expect_match("threshold 0.5+ulp", mi, mo, want_i, want_o, 5);
}
END_TEST

/* B difficult and use_difficult_gt = 0: only A and C take part (indices stay gt[] indices).
 * Bipartite: (p2, A) 0.8095, then (p4, C) 0.3. Per prediction: p0 0.5 -> A; p1 0.45 -> none;
 * p3 with A 16/23 = 0.6957 >= 0.5 -> A. With use_difficult_gt = 1 (T5) B counts again. */
START_TEST(test_match_difficult)
{
    float priors[20];
    clssd_train_gt gt[3];
    match_setup(priors, gt);
    gt[1].difficult = 1;
    int32_t mi[5];
    float mo[5];
    EXPECT_OK(clssd__match_bbox(priors, 5, gt, 3, 0.5f, 0, mi, mo));
    const int32_t want_i[5] = {0, -1, 0, 0, 2};
    const double want_o[5] = {0.5, 0.45, 17.0 / 21.0, 16.0 / 23.0, 0.3};
    expect_match("difficult skipped", mi, mo, want_i, want_o, 5);
    EXPECT_OK(clssd__match_bbox(priors, 5, gt, 3, 0.5f, 1, mi, mo));
    const int32_t want_all[5] = {0, -1, 0, 1, 2};
    const double want_all_o[5] = {0.5, 0.45, 17.0 / 21.0, 0.95, 0.3};
    expect_match("difficult used", mi, mo, want_all, want_all_o, 5);
}
END_TEST

/* Bipartite ties: two priors identical to one GT (IoU 1 each) -> the lower prior index gets
 * it; the other then matches it per prediction too (1 >= 0.5). Two identical GTs and one
 * prior: round 1 gives the prior to GT 0 (lower GT index), GT 1 finds no free prior. */
START_TEST(test_match_ties)
{
    float priors[8], b[4];
    xbox(priors, 8, 24);
    xbox(priors + 4, 8, 24);
    xbox(b, 8, 24);
    clssd_train_gt gt[2] = {make_gt(0, 1, b), make_gt(0, 1, b)};
    int32_t mi[2];
    float mo[2];
    EXPECT_OK(clssd__match_bbox(priors, 2, gt, 1, 0.5f, 1, mi, mo));
    ck_assert_int_eq(mi[0], 0);
    ck_assert_int_eq(mi[1], 0);
    EXPECT_OK(clssd__match_bbox(priors, 1, gt, 2, 0.5f, 1, mi, mo));
    ck_assert_int_eq(mi[0], 0);
    expect_near("tie overlap", 0, (double)mo[0], 1.0, 0.0);
}
END_TEST

/* ------------------------------------------------------------------ (b) encoding, T2 */

/* prior [0.125, 0.25, 0.625, 0.75]: w = h = 0.5, centre (0.375, 0.5);
 * box [0.375, 0.125, 0.625, 0.875]: w 0.25, h 0.75, centre (0.5, 0.5); variances 0.1/0.2.
 *   x: (0.5 - 0.375) / 0.5 / 0.1 = 2.5          y: 0 / 0.5 / 0.1 = 0
 *   w: ln(0.25 / 0.5) / 0.2 = -0.693147181/0.2 = -3.465735903
 *   h: ln(0.75 / 0.5) / 0.2 = 0.405465108/0.2 = 2.027325541
 * (0.1f and 0.2f are not exact: float error ~1e-7 relative, tolerance 1e-6.) */
START_TEST(test_encode_known)
{
    const float prior[4] = {0.125f, 0.25f, 0.625f, 0.75f};
    const float var[4] = {0.1f, 0.1f, 0.2f, 0.2f};
    const float box[4] = {0.375f, 0.125f, 0.625f, 0.875f};
    float out[4];
    EXPECT_OK(clssd__encode_bbox(prior, var, box, out));
    const double want[4] = {2.5, 0.0, -3.465735903, 2.027325541};
    for (size_t i = 0; i < 4; i++)
        expect_near("encode", i, (double)out[i], want[i], 1e-6);

    const float flat[4] = {0.5f, 0.5f, 0.5f, 0.75f}; /* zero width */
    ck_assert_int_eq(clssd__encode_bbox(prior, var, flat, out), CLSSD_ERR_INVALID_ARG);
    const float zero_var[4] = {0.1f, 0.0f, 0.2f, 0.2f};
    ck_assert_int_eq(clssd__encode_bbox(prior, zero_var, box, out), CLSSD_ERR_INVALID_ARG);
}
END_TEST

/* encode -> the library's own decode (clssd__decode_ref, D1/P7) gives the box back within
 * 1e-5 on 1000 random prior/box pairs with per-prior variances. */
START_TEST(test_encode_decode_round_trip)
{
    enum { P = 1000 };
    float *prior = malloc(2 * 4 * P * sizeof *prior); /* the PRIORBOX blob: boxes, variances */
    float *box = malloc(4 * P * sizeof *box), *loc = malloc(4 * P * sizeof *loc);
    float *dec = malloc(4 * P * sizeof *dec);
    ck_assert(prior && box && loc && dec);
    clssd_rng rng;
    clssd__rng_seed(&rng, 6);
    for (size_t i = 0; i < P; i++) {
        float *pr = prior + 4 * i, *v = prior + 4 * P + 4 * i, *b = box + 4 * i;
        const float pcx = clssd__rng_range(&rng, 0.1f, 0.9f),
                    pcy = clssd__rng_range(&rng, 0.1f, 0.9f);
        const float pw = clssd__rng_range(&rng, 0.05f, 0.8f),
                    ph = clssd__rng_range(&rng, 0.05f, 0.8f);
        pr[0] = pcx - pw / 2;
        pr[1] = pcy - ph / 2;
        pr[2] = pcx + pw / 2;
        pr[3] = pcy + ph / 2;
        const float bcx = clssd__rng_range(&rng, 0.0f, 1.0f),
                    bcy = clssd__rng_range(&rng, 0.0f, 1.0f);
        const float bw = clssd__rng_range(&rng, 0.02f, 1.0f),
                    bh = clssd__rng_range(&rng, 0.02f, 1.0f);
        b[0] = bcx - bw / 2;
        b[1] = bcy - bh / 2;
        b[2] = bcx + bw / 2;
        b[3] = bcy + bh / 2;
        v[0] = v[1] = i % 2 ? 0.1f : clssd__rng_range(&rng, 0.05f, 0.2f);
        v[2] = v[3] = i % 2 ? 0.2f : clssd__rng_range(&rng, 0.1f, 0.4f);
        EXPECT_OK(clssd__encode_bbox(pr, v, b, loc + 4 * i));
    }
    clssd_node node;
    memset(&node, 0, sizeof node);
    node.op = CLSSD_OP_DECODE;
    node.out = (clssd_shape){1, 1, 1, 4 * P};
    clssd_ref_args a;
    memset(&a, 0, sizeof a);
    a.node = &node;
    a.batch = 1;
    a.n_src = 2;
    a.src[0] = loc;
    a.src[1] = prior;
    a.src_shape[0] = (clssd_shape){1, 1, 1, 4 * P};
    a.src_shape[1] = (clssd_shape){1, 2, 1, 4 * P};
    a.dst = dec;
    EXPECT_OK(clssd__decode_ref(&a));
    for (size_t i = 0; i < 4 * P; i++)
        expect_near("round trip", i, (double)dec[i], (double)box[i], 1e-5);
    free(prior);
    free(box);
    free(loc);
    free(dec);
}
END_TEST

/* ------------------------------------------------------------------ (c) loss, T2/T3 */

/* One image, C = 3, one GT of label 2: G = [0.3125, 0.25, 0.8125, 0.75].
 * Priors: p0 = [0.25, 0.25, 0.75, 0.75] (IoU: inter 0.4375 * 0.5 = 0.21875, union
 * 0.25 + 0.25 - 0.21875 = 0.28125 -> 0.7778: the one positive); p1..p5 tiny boxes in the
 * far corner [0, 0, 0.0625, 0.0625] + small shifts: IoU 0 with G, so all five are mining
 * candidates (overlap 0 < 0.5). Variances 0.1/0.2.
 *
 * Loc target of p0: x (0.5625 - 0.5) / 0.5 / 0.1 = 1.25, y 0, w ln 1 = 0, h 0.
 * Predicted p0 = [0.5, -2, 0, 1]: diffs [-0.75, -2, 0, 1]
 *   SmoothL1: 0.5 * 0.5625 = 0.28125; |-2| - 0.5 = 1.5; 0; |1| - 0.5 = 0.5  -> 2.28125
 *   d/dx: [-0.75, -1, 0, 1]
 * Logits and background losses -log softmax[0] = lse - z0:
 *   p0 [1, 0, 2]  (positive: CE vs label 2) lse = ln(e + 1 + e^2) = ln 11.10733793 = 2.407605964
 *                  CE = 0.407605964; softmax = [0.244728471, 0.090030573, 0.665240956]
 *   p1, p2, p4 [0, 1, 1]  bg loss ln(1 + 2e) = ln 6.436563657 = 1.861994804 (a three-way tie)
 *   p3 [2, 0, 0]  bg loss ln(e^2 + 2) - 2 = 0.239544766
 *   p5 [0, 2, 0]  bg loss ln(2 + e^2) = ln 9.389056099 = 2.239544766
 * Mining, ratio 3: 3 * 1 positive = 3 of the 5 candidates, by loss: p5, then the tie
 * {p1, p2, p4} in prior order -> p5, p1, p2 (p4 loses the tie, p3 is the easiest).
 * conf = 0.407605964 + 2.239544766 + 2 * 1.861994804 = 6.371140338
 * loss = (6.371140338 + 1 * 2.28125) / 1 = 8.652390338
 * Gradients (N = 1): dconf p0 = [0.244728471, 0.090030573, 0.665240956 - 1 = -0.334759044];
 * p5: softmax [1, e^2, 1] / 9.389056099 = [0.106506979, 0.786986042, 0.106506979] minus
 * onehot(0) -> [-0.893493021, 0.786986042, 0.106506979]; p1 = p2: [1, e, e] / 6.436563657 =
 * [0.155362403, 0.422318798, 0.422318798] -> [-0.844637597, 0.422318798, 0.422318798];
 * p3, p4: 0. dloc: p0 as above, the rest 0.
 * With ratio 1: only p5 -> loss = 0.407605964 + 2.239544766 + 2.28125 = 4.928400730. */
#define KAT_P 6
#define KAT_C 3
static void loss_kat_setup(float *priors, float *var, float *loc, float *conf, clssd_train_gt *gt)
{
    const float p0[4] = {0.25f, 0.25f, 0.75f, 0.75f};
    memcpy(priors, p0, sizeof p0);
    for (size_t i = 1; i < KAT_P; i++) {
        const float s = (float)i / 256.0f; /* distinct but still far from G */
        priors[4 * i] = s;
        priors[4 * i + 1] = 0.0f;
        priors[4 * i + 2] = 0.0625f + s;
        priors[4 * i + 3] = 0.0625f;
    }
    for (size_t i = 0; i < KAT_P; i++) {
        var[4 * i] = var[4 * i + 1] = 0.1f;
        var[4 * i + 2] = var[4 * i + 3] = 0.2f;
    }
    memset(loc, 0, 4 * KAT_P * sizeof *loc);
    const float l0[4] = {0.5f, -2.0f, 0.0f, 1.0f};
    memcpy(loc, l0, sizeof l0);
    const float z[KAT_P][KAT_C] = {{1, 0, 2}, {0, 1, 1}, {0, 1, 1},
                                   {2, 0, 0}, {0, 1, 1}, {0, 2, 0}};
    memcpy(conf, z, sizeof z);
    const float g[4] = {0.3125f, 0.25f, 0.8125f, 0.75f};
    *gt = make_gt(0, 2, g);
}

START_TEST(test_loss_known)
{
    float priors[4 * KAT_P], var[4 * KAT_P], loc[4 * KAT_P], conf[KAT_C * KAT_P];
    float dloc[4 * KAT_P], dconf[KAT_C * KAT_P];
    clssd_train_gt gt;
    loss_kat_setup(priors, var, loc, conf, &gt);
    clssd_mbox_loss_params p;
    clssd__mbox_loss_defaults(&p, KAT_C);
    double loss = -1.0;
    clssd_mbox_loss_stats st;
    EXPECT_OK(clssd__mbox_loss_ref(&p, 1, KAT_P, loc, conf, priors, var, &gt, 1, &loss, dloc, dconf,
                                   &st));
    ck_assert_uint_eq(st.n_pos, 1);
    ck_assert_uint_eq(st.n_neg, 3);
    expect_near("loc sum", 0, st.loc_loss, 2.28125, 1e-5);
    expect_near("conf sum", 0, st.conf_loss, 6.371140338, 1e-5);
    expect_near("loss", 0, loss, 8.652390338, 1e-5);

    const double want_dconf[KAT_P][KAT_C] = {
        {0.244728471, 0.090030573, -0.334759044}, /* p0: positive, label 2 */
        {-0.844637597, 0.422318798, 0.422318798}, /* p1: mined */
        {-0.844637597, 0.422318798, 0.422318798}, /* p2: mined */
        {0, 0, 0},                                /* p3: easiest, not mined */
        {0, 0, 0},                                /* p4: lost the tie to p1, p2 */
        {-0.893493021, 0.786986042, 0.106506979}, /* p5: hardest */
    };
    for (size_t i = 0; i < KAT_P * KAT_C; i++)
        expect_near("dconf", i, (double)dconf[i], want_dconf[i / KAT_C][i % KAT_C], 1e-6);
    const double want_dloc[4] = {-0.75, -1.0, 0.0, 1.0};
    for (size_t i = 0; i < 4 * KAT_P; i++)
        expect_near("dloc", i, (double)dloc[i], i < 4 ? want_dloc[i] : 0.0, 1e-6);

    /* neg_pos_ratio 1: one negative, the hardest (p5) */
    p.neg_pos_ratio = 1.0f;
    EXPECT_OK(clssd__mbox_loss_ref(&p, 1, KAT_P, loc, conf, priors, var, &gt, 1, &loss, dloc, dconf,
                                   &st));
    ck_assert_uint_eq(st.n_neg, 1);
    expect_near("loss ratio 1", 0, loss, 4.928400730, 1e-5);
    for (size_t c = 0; c < KAT_C; c++) {
        expect_near("dconf p1 ratio 1", c, (double)dconf[1 * KAT_C + c], 0.0, 0.0);
        expect_near("dconf p5 ratio 1", c, (double)dconf[5 * KAT_C + c], want_dconf[5][c], 1e-6);
    }
}
END_TEST

/* Mining on its own: the candidate rule "unmatched and best overlap < neg_overlap" and the
 * count floor(pos * ratio). Priors: 0 positive; 1 overlap 0.4 loss 9 (hardest, but with
 * neg_overlap 0.3 not a candidate); 2 loss 1; 3 loss 5; 4 loss 5; 5 positive.
 * Ratio 1.5 -> floor(2 * 1.5) = 3 -> {3, 4, 2} with neg_overlap 0.3; with neg_overlap 0.5,
 * prior 1 is a candidate -> {1, 3, 4}. Ratio 0.4 -> floor(0.8) = 0 negatives. */
START_TEST(test_mine_rules)
{
    const int32_t mi[6] = {0, -1, -1, -1, -1, 0};
    const float mo[6] = {0.7f, 0.4f, 0.0f, 0.1f, 0.2f, 0.6f};
    const double bg[6] = {20, 9, 1, 5, 5, 30};
    uint8_t neg[6];
    size_t n = 99;
    EXPECT_OK(clssd__mine_hard_examples(6, mi, mo, bg, 1.5f, 0.3f, neg, &n));
    const uint8_t want_a[6] = {0, 0, 1, 1, 1, 0};
    ck_assert_uint_eq(n, 3);
    ck_assert_mem_eq(neg, want_a, 6);
    EXPECT_OK(clssd__mine_hard_examples(6, mi, mo, bg, 1.5f, 0.5f, neg, &n));
    const uint8_t want_b[6] = {0, 1, 0, 1, 1, 0};
    ck_assert_uint_eq(n, 3);
    ck_assert_mem_eq(neg, want_b, 6);
    EXPECT_OK(clssd__mine_hard_examples(6, mi, mo, bg, 0.4f, 0.5f, neg, &n));
    ck_assert_uint_eq(n, 0);
}
END_TEST

/* ------------------------------------------------------------------ (d) gradients */

/* Central differences of the loss in double, h = 2^-10, on a random batch of 2 images,
 * 12 priors, 4 classes, 3 GTs. Inputs are multiples of 2^-10 in [-2, 2], so x +- h is exact
 * in float and the loss (summed in double) sees exactly the step it is told of. Truncation:
 * CE is smooth with |third derivative| < 1, h^2 / 6 ~ 1.6e-7 at most; SmoothL1 is piecewise
 * quadratic (exact) unless a difference sits within h of the kink at |x| = 1, and mining is
 * locally constant unless two candidate losses at the cut are within ~h: the fixed seed is
 * checked to hit neither (any such element would show up as an O(1e-3 .. 1) mismatch).
 * The analytic gradient is stored in float (relative 6e-8). Tolerance: 1e-6 absolute
 * + 1e-5 relative. */
START_TEST(test_loss_gradient_fd)
{
    enum { B = 2, P = 12, C = 4, G = 3 };
    float priors[4 * P], var[4 * P], loc[B * P * 4], conf[B * P * C];
    float dloc[B * P * 4], dconf[B * P * C];
    clssd_rng rng;
    clssd__rng_seed(&rng, 12345);
    /* priors: a 4 x 3 grid of overlapping boxes, so every GT overlaps several */
    for (size_t i = 0; i < P; i++) {
        const float cx = 0.125f + 0.25f * (float)(i % 4), cy = 0.1875f + 0.3125f * (float)(i / 4);
        const float w = i % 2 ? 0.375f : 0.25f, h = i % 3 ? 0.375f : 0.5f;
        priors[4 * i] = cx - w / 2;
        priors[4 * i + 1] = cy - h / 2;
        priors[4 * i + 2] = cx + w / 2;
        priors[4 * i + 3] = cy + h / 2;
        var[4 * i] = var[4 * i + 1] = 0.1f;
        var[4 * i + 2] = var[4 * i + 3] = 0.2f;
    }
    for (size_t i = 0; i < B * P * 4; i++)
        loc[i] = (float)((int)(clssd__rng_u64(&rng) % 4097) - 2048) / 1024.0f;
    for (size_t i = 0; i < B * P * C; i++)
        conf[i] = (float)((int)(clssd__rng_u64(&rng) % 4097) - 2048) / 1024.0f;
    const float gb[G][4] = {
        {0.1f, 0.1f, 0.45f, 0.5f}, {0.5f, 0.3f, 0.9f, 0.8f}, {0.2f, 0.4f, 0.7f, 0.95f}};
    clssd_train_gt gt[G] = {make_gt(0, 1, gb[0]), make_gt(1, 3, gb[1]), make_gt(0, 2, gb[2])};

    clssd_mbox_loss_params p;
    clssd__mbox_loss_defaults(&p, C);
    double loss;
    clssd_mbox_loss_stats st;
    EXPECT_OK(
        clssd__mbox_loss_ref(&p, B, P, loc, conf, priors, var, gt, G, &loss, dloc, dconf, &st));
    ck_assert_msg(st.n_pos >= 3 && st.n_neg > 0, "case too easy: %zu pos, %zu neg", st.n_pos,
                  st.n_neg);
    const float h = 1.0f / 1024.0f;
    size_t n_nonzero = 0;
    for (int which = 0; which < 2; which++) {
        float *x = which ? conf : loc;
        const float *g = which ? dconf : dloc;
        const size_t n = which ? (size_t)(B * P * C) : (size_t)(B * P * 4);
        for (size_t i = 0; i < n; i++) {
            const float x0 = x[i];
            double lp, lm;
            x[i] = x0 + h;
            EXPECT_OK(clssd__mbox_loss_ref(&p, B, P, loc, conf, priors, var, gt, G, &lp, NULL, NULL,
                                           NULL));
            x[i] = x0 - h;
            EXPECT_OK(clssd__mbox_loss_ref(&p, B, P, loc, conf, priors, var, gt, G, &lm, NULL, NULL,
                                           NULL));
            x[i] = x0;
            const double fd = (lp - lm) / (2.0 * (double)h);
            expect_near(which ? "dconf vs fd" : "dloc vs fd", i, (double)g[i], fd,
                        1e-6 + 1e-5 * fabs(fd));
            if (g[i] != 0.0f) n_nonzero++;
        }
    }
    ck_assert_msg(n_nonzero > 20, "only %zu nonzero gradients: the check checks little", n_nonzero);
}
END_TEST

/* ------------------------------------------------------------------ (e) no positives */

static void expect_zero_result(const char *what, double loss, const float *dloc, const float *dconf,
                               size_t n_loc, size_t n_conf)
{
    ck_assert_msg(loss == 0.0, "%s: loss %.9g, expected 0", what, loss);
    for (size_t i = 0; i < n_loc; i++)
        ck_assert_msg(dloc[i] == 0.0f, "%s: dloc[%zu] = %.9g", what, i, (double)dloc[i]);
    for (size_t i = 0; i < n_conf; i++)
        ck_assert_msg(dconf[i] == 0.0f, "%s: dconf[%zu] = %.9g", what, i, (double)dconf[i]);
}

/* T3: N_pos = 0 -> no negatives either (3 * 0), loss 0 (Caffe's normalizer max(1, 0) = 1
 * divides a zero sum), gradients exactly 0 -- nothing NaN. Three ways to get there: G = 0;
 * a GT touching no prior (IoU 0 <= 1e-6: even the bipartite step skips it); and only a
 * difficult GT with use_difficult_gt = 0. */
START_TEST(test_loss_no_positives)
{
    float priors[4 * KAT_P], var[4 * KAT_P], loc[4 * KAT_P], conf[KAT_C * KAT_P];
    float dloc[4 * KAT_P], dconf[KAT_C * KAT_P];
    clssd_train_gt gt;
    loss_kat_setup(priors, var, loc, conf, &gt);
    clssd_mbox_loss_params p;
    clssd__mbox_loss_defaults(&p, KAT_C);
    double loss = -1.0;
    clssd_mbox_loss_stats st;
    memset(dloc, 0xff, sizeof dloc); /* NaN patterns: must be overwritten with 0 */
    memset(dconf, 0xff, sizeof dconf);
    EXPECT_OK(clssd__mbox_loss_ref(&p, 1, KAT_P, loc, conf, priors, var, NULL, 0, &loss, dloc,
                                   dconf, &st));
    ck_assert_uint_eq(st.n_pos, 0);
    ck_assert_uint_eq(st.n_neg, 0);
    expect_zero_result("G = 0", loss, dloc, dconf, 4 * KAT_P, KAT_C * KAT_P);

    const float far[4] = {0.9f, 0.9f, 1.0f, 1.0f};
    clssd_train_gt lone = make_gt(0, 1, far);
    memset(dconf, 0xff, sizeof dconf);
    EXPECT_OK(clssd__mbox_loss_ref(&p, 1, KAT_P, loc, conf, priors, var, &lone, 1, &loss, dloc,
                                   dconf, &st));
    ck_assert_uint_eq(st.n_pos, 0);
    expect_zero_result("GT touching no prior", loss, dloc, dconf, 4 * KAT_P, KAT_C * KAT_P);

    gt.difficult = 1;
    p.use_difficult_gt = 0;
    EXPECT_OK(clssd__mbox_loss_ref(&p, 1, KAT_P, loc, conf, priors, var, &gt, 1, &loss, dloc, dconf,
                                   &st));
    ck_assert_uint_eq(st.n_pos, 0);
    expect_zero_result("difficult only", loss, dloc, dconf, 4 * KAT_P, KAT_C * KAT_P);
}
END_TEST

/* Two images, the KAT image twice but the second with no GT: the second contributes no
 * positive and therefore no negative (T3), so the loss equals the one-image loss and the
 * second image's gradients are all 0. */
START_TEST(test_loss_batch_image_without_gt)
{
    float priors[4 * KAT_P], var[4 * KAT_P], loc[2 * 4 * KAT_P], conf[2 * KAT_C * KAT_P];
    float dloc[2 * 4 * KAT_P], dconf[2 * KAT_C * KAT_P];
    clssd_train_gt gt;
    loss_kat_setup(priors, var, loc, conf, &gt);
    memcpy(loc + 4 * KAT_P, loc, 4 * KAT_P * sizeof *loc);
    memcpy(conf + KAT_C * KAT_P, conf, KAT_C * KAT_P * sizeof *conf);
    clssd_mbox_loss_params p;
    clssd__mbox_loss_defaults(&p, KAT_C);
    double loss;
    EXPECT_OK(clssd__mbox_loss_ref(&p, 2, KAT_P, loc, conf, priors, var, &gt, 1, &loss, dloc, dconf,
                                   NULL));
    expect_near("loss", 0, loss, 8.652390338, 1e-5);
    expect_zero_result("image 1", 0.0, dloc + 4 * KAT_P, dconf + KAT_C * KAT_P, 4 * KAT_P,
                       KAT_C * KAT_P);
}
END_TEST

/* Bad input is refused, and a failing allocation returns CLSSD_ERR_OUT_OF_MEMORY (each one
 * in turn) without leaking (run under valgrind). */
START_TEST(test_loss_errors)
{
    float priors[4 * KAT_P], var[4 * KAT_P], loc[4 * KAT_P], conf[KAT_C * KAT_P];
    float dloc[4 * KAT_P], dconf[KAT_C * KAT_P];
    clssd_train_gt gt;
    loss_kat_setup(priors, var, loc, conf, &gt);
    clssd_mbox_loss_params p;
    clssd__mbox_loss_defaults(&p, KAT_C);
    double loss;
    clssd_train_gt bad = gt;
    bad.label = 0; /* the background label */
    ck_assert_int_eq(clssd__mbox_loss_ref(&p, 1, KAT_P, loc, conf, priors, var, &bad, 1, &loss,
                                          dloc, dconf, NULL),
                     CLSSD_ERR_INVALID_ARG);
    bad = gt;
    bad.image = 1; /* batch is 1 */
    ck_assert_int_eq(clssd__mbox_loss_ref(&p, 1, KAT_P, loc, conf, priors, var, &bad, 1, &loss,
                                          dloc, dconf, NULL),
                     CLSSD_ERR_INVALID_ARG);
    int saw_ok = 0;
    for (long k = 1; k < 20 && !saw_ok; k++) {
        clssd__alloc_fail_after(k);
        const clssd_status s = clssd__mbox_loss_ref(&p, 1, KAT_P, loc, conf, priors, var, &gt, 1,
                                                    &loss, dloc, dconf, NULL);
        clssd__alloc_fail_after(0);
        ck_assert_msg(s == CLSSD_OK || s == CLSSD_ERR_OUT_OF_MEMORY, "fail at %ld: %d", k, (int)s);
        saw_ok = s == CLSSD_OK;
    }
    ck_assert(saw_ok);
    expect_near("loss after failures", 0, loss, 8.652390338, 1e-5);
}
END_TEST

static Suite *train_suite(void)
{
    Suite *s = suite_create("train");
    TCase *tm = tcase_create("match");
    tcase_add_test(tm, test_match_bipartite);
    tcase_add_test(tm, test_match_threshold_edge);
    tcase_add_test(tm, test_match_difficult);
    tcase_add_test(tm, test_match_ties);
    suite_add_tcase(s, tm);
    TCase *te = tcase_create("encode");
    tcase_add_test(te, test_encode_known);
    tcase_add_test(te, test_encode_decode_round_trip);
    suite_add_tcase(s, te);
    TCase *tl = tcase_create("loss");
    tcase_add_test(tl, test_loss_known);
    tcase_add_test(tl, test_mine_rules);
    tcase_add_test(tl, test_loss_gradient_fd);
    tcase_add_test(tl, test_loss_no_positives);
    tcase_add_test(tl, test_loss_batch_image_without_gt);
    tcase_add_test(tl, test_loss_errors);
    suite_add_tcase(s, tl);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(train_suite());
    srunner_run_all(sr, CK_NORMAL);
    const int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
