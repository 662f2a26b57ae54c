/* Finite-difference checks of the backward references (src/train/backward_ref.c): ReLU,
 * pooling, L2Norm, Conv2d. Plain C, no OpenCL device: never skips (no exit 77).
 *
 * Method (Caffe's GradientChecker, in double): L = sum(y * r) for a fixed random r, so
 * dL/dy = r is what the backward gets as dy. The test carries its own double-precision forward
 * of each op (direct loops), first checked against the library's float forward reference on
 * the same inputs, so the numbers differentiated are the library's op and not a lookalike.
 * Every input element, weight and bias is then perturbed by +-h in double and
 *   fd = (L(v + h) - L(v - h)) / 2h
 * is compared with the backward's value.
 *
 * Tolerance |got - fd| <= 1e-6 + 1e-5 |fd|, with h = 1e-6 and values of order 1:
 *  - the central difference's truncation error is h^2/6 L''' ~ 1e-12 (the ops are piecewise
 *    linear or, L2Norm, smooth with N >= 0.5 in these cases), its rounding error about
 *    eps_double |L| / h ~ 1e-16 * 100 / 1e-6 = 1e-8;
 *  - the backward sums in double and rounds to float once: relative 6e-8;
 *  so the bound has a margin of 100 on the worst of these, while any wrong term (a missing
 *  1/N^3 part, a gradient sent to the wrong cell, an off-by-one window) is an error of order
 *  1 -- the test fails on those (each was tried by breaking the code temporarily).
 * Kinks are kept out of reach by construction: a perturbation h moves any pre-activation by at
 * most h * max(|x|, |w|, 1) ~ 1e-6, and inputs are drawn (or redrawn) so that every ReLU input
 * is >= 1e-3 from 0 and from the cap, and all values entering a max pool are distinct by
 * 1/32 -- so no argmax or mask changes between L(v + h) and L(v - h). */
#include <check.h>
#include <float.h>
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

#define FD_H 1e-6
#define KINK_MARGIN 1e-3

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(p);
    return p;
}

/* ------------------------------------------------------------------ the case under test */

/* One op's inputs, in float for the library and in double (the same values) for the
 * test's forward, which is what the finite differences perturb. */
typedef struct fd_case {
    clssd_node node;
    int32_t batch;
    clssd_shape xs;
    size_t n_x, n_y, n_w, n_b;
    float *xf, *wf, *bf, *rf; /* rf: dy = r */
    double *x, *w, *b, *r, *y;
} fd_case;

static void case_alloc(fd_case *c, size_t n_w, size_t n_b)
{
    c->n_x = clssd__shape_count(&c->xs) * (size_t)c->batch;
    c->n_y = clssd__shape_count(&c->node.out) * (size_t)c->batch;
    c->n_w = n_w;
    c->n_b = n_b;
    c->xf = xmalloc(c->n_x * sizeof(float));
    c->wf = xmalloc(n_w * sizeof(float));
    c->bf = xmalloc(n_b * sizeof(float));
    c->rf = xmalloc(c->n_y * sizeof(float));
    c->x = xmalloc(c->n_x * sizeof(double));
    c->w = xmalloc(n_w * sizeof(double));
    c->b = xmalloc(n_b * sizeof(double));
    c->r = xmalloc(c->n_y * sizeof(double));
    c->y = xmalloc(c->n_y * sizeof(double));
}

static void case_free(fd_case *c)
{
    free(c->xf);
    free(c->wf);
    free(c->bf);
    free(c->rf);
    free(c->x);
    free(c->w);
    free(c->b);
    free(c->r);
    free(c->y);
}

/* Copies the float values into the double mirrors (exact). */
static void case_sync(fd_case *c)
{
    for (size_t i = 0; i < c->n_x; i++)
        c->x[i] = c->xf[i];
    for (size_t i = 0; i < c->n_w; i++)
        c->w[i] = c->wf[i];
    for (size_t i = 0; i < c->n_b; i++)
        c->b[i] = c->bf[i];
    for (size_t i = 0; i < c->n_y; i++)
        c->r[i] = c->rf[i];
}

static clssd_ref_args case_args(const fd_case *c, float *dst)
{
    clssd_ref_args a;
    memset(&a, 0, sizeof a);
    a.node = &c->node;
    a.batch = c->batch;
    a.src[0] = c->xf;
    a.src_shape[0] = c->xs;
    a.n_src = 1;
    a.weight = c->n_w ? c->wf : NULL;
    a.bias = c->n_b ? c->bf : NULL;
    a.dst = dst;
    return a;
}

static void fill(clssd_rng *rng, float *v, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        v[i] = clssd__rng_range(rng, lo, hi);
}

/* ------------------------------------------------------------------ double forwards */

typedef void (*fwd_fn)(fd_case *c);

static void relu_fwd(fd_case *c)
{
    const double slope = c->node.p.relu.negative_slope, max = c->node.p.relu.max;
    for (size_t i = 0; i < c->n_x; i++) {
        const double v = c->x[i] > 0.0 ? c->x[i] : c->x[i] * slope;
        c->y[i] = max > 0.0 && v > max ? max : v;
    }
}

/* Caffe's pooled size (the forward's rule, restated here to set node.out; the float forward
 * refuses a wrong out, so a slip here fails the cross-check). */
static int32_t pooled(int32_t in, int32_t k, int32_t s, int32_t p)
{
    int32_t o = (in + 2 * p - k + s - 1) / s + 1;
    if (p > 0 && (o - 1) * s >= in + p) o--;
    return o;
}

static void pool_fwd(fd_case *c)
{
    const __typeof__(c->node.p.pool) *p = &c->node.p.pool;
    const int32_t H = c->xs.h, W = c->xs.w, Ho = c->node.out.h, Wo = c->node.out.w;
    int32_t kh = p->kh, kw = p->kw, sh = p->sh, sw = p->sw, ph = p->ph, pw = p->pw;
    if (p->global) {
        kh = H;
        kw = W;
        sh = sw = 1;
        ph = pw = 0;
    }
    const size_t planes = (size_t)c->batch * (size_t)c->xs.c;
    for (size_t pl = 0; pl < planes; pl++) {
        const double *x = c->x + pl * (size_t)(H * W);
        double *y = c->y + pl * (size_t)(Ho * Wo);
        for (int32_t i = 0; i < Ho; i++)
            for (int32_t j = 0; j < Wo; j++) {
                const int32_t hs = i * sh - ph, ws = j * sw - pw;
                int32_t he = hs + kh, we = ws + kw;
                double v;
                if (p->method == CLSSD_POOL_MAX) {
                    v = -DBL_MAX;
                    for (int32_t u = hs; u < he; u++)
                        for (int32_t t = ws; t < we; t++)
                            if (u >= 0 && u < H && t >= 0 && t < W && x[u * W + t] > v)
                                v = x[u * W + t];
                } else {
                    he = he < H + ph ? he : H + ph;
                    we = we < W + pw ? we : W + pw;
                    v = 0.0;
                    for (int32_t u = hs; u < he; u++)
                        for (int32_t t = ws; t < we; t++)
                            if (u >= 0 && u < H && t >= 0 && t < W) v += x[u * W + t];
                    v /= (double)((he - hs) * (we - ws));
                }
                y[i * Wo + j] = v;
            }
    }
}

static void l2norm_fwd(fd_case *c)
{
    const __typeof__(c->node.p.l2norm) *p = &c->node.p.l2norm;
    const size_t C = (size_t)c->xs.c, HW = (size_t)(c->xs.h * c->xs.w), img = C * HW;
    for (int32_t bi = 0; bi < c->batch; bi++) {
        const double *x = c->x + (size_t)bi * img;
        double *y = c->y + (size_t)bi * img;
        for (size_t k = 0; k < (p->across_spatial ? 1 : HW); k++) {
            double ss = 0.0;
            for (size_t ch = 0; ch < C; ch++)
                for (size_t q = 0; q < HW; q++)
                    if (p->across_spatial || q == k) ss += x[ch * HW + q] * x[ch * HW + q];
            const double norm = sqrt(ss + (double)p->eps);
            for (size_t ch = 0; ch < C; ch++)
                for (size_t q = 0; q < HW; q++)
                    if (p->across_spatial || q == k)
                        y[ch * HW + q] = x[ch * HW + q] / norm * c->w[p->channel_shared ? 0 : ch];
        }
    }
}

/* Offset of [a][b][c][d] in an array of [*][B][C][D]. */
static size_t at4(int32_t a, int32_t b, int32_t c, int32_t d, int32_t B, int32_t C, int32_t D)
{
    return (((size_t)a * (size_t)B + (size_t)b) * (size_t)C + (size_t)c) * (size_t)D + (size_t)d;
}

/* Pre-activation of a convolution (act = 0) or its output (act = 1). */
static void conv_fwd_act(fd_case *c, int act)
{
    const __typeof__(c->node.p.conv) *p = &c->node.p.conv;
    const int32_t C = c->xs.c, H = c->xs.h, W = c->xs.w, M = p->cout;
    const int32_t Cg = C / p->groups, Mg = M / p->groups, Ho = c->node.out.h, Wo = c->node.out.w;
    for (int32_t bi = 0; bi < c->batch; bi++)
        for (int32_t o = 0; o < M; o++)
            for (int32_t oh = 0; oh < Ho; oh++)
                for (int32_t ow = 0; ow < Wo; ow++) {
                    double z = c->n_b ? c->b[o] : 0.0;
                    for (int32_t ch = 0; ch < Cg; ch++)
                        for (int32_t u = 0; u < p->kh; u++)
                            for (int32_t v = 0; v < p->kw; v++) {
                                const int32_t ih = oh * p->sh - p->ph + u * p->dh;
                                const int32_t iw = ow * p->sw - p->pw + v * p->dw;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                z += c->x[at4(bi, (o / Mg) * Cg + ch, ih, iw, C, H, W)] *
                                     c->w[at4(o, ch, u, v, Cg, p->kh, p->kw)];
                            }
                    if (act && p->relu) {
                        z = z > 0.0 ? z : 0.0;
                        if (p->relu_max > 0.0f && z > p->relu_max) z = p->relu_max;
                    }
                    c->y[at4(bi, o, oh, ow, M, Ho, Wo)] = z;
                }
}

static void conv_fwd(fd_case *c)
{
    conv_fwd_act(c, 1);
}

/* ------------------------------------------------------------------ the checks */

static double loss_of(fd_case *c, fwd_fn f)
{
    f(c);
    double l = 0.0;
    for (size_t i = 0; i < c->n_y; i++)
        l += c->y[i] * c->r[i];
    return l;
}

/* The test's double forward against the library's float one on the same inputs: the float
 * sums of up to a few dozen terms of order 1 are good to ~1e-6, so 1e-4 only lets through
 * rounding. */
static void cross_check(const char *what, fd_case *c, fwd_fn f,
                        clssd_status (*ref)(const clssd_ref_args *))
{
    float *yf = xmalloc(c->n_y * sizeof(float));
    const clssd_ref_args a = case_args(c, yf);
    EXPECT_OK(ref(&a));
    f(c);
    for (size_t i = 0; i < c->n_y; i++)
        ck_assert_msg(fabs((double)yf[i] - c->y[i]) <= 1e-4 * (1.0 + fabs(c->y[i])),
                      "%s: forward[%zu]: float ref %.8g, test's double %.8g", what, i,
                      (double)yf[i], c->y[i]);
    free(yf);
}

/* Perturbs each of v[0..n) and compares the central difference with grad; returns how many
 * gradients are nonzero (a check of all-zero gradients would check little). */
static size_t fd_check(const char *what, fd_case *c, fwd_fn f, double *v, size_t n,
                       const float *grad)
{
    size_t nonzero = 0;
    for (size_t i = 0; i < n; i++) {
        const double v0 = v[i];
        v[i] = v0 + FD_H;
        const double lp = loss_of(c, f);
        v[i] = v0 - FD_H;
        const double lm = loss_of(c, f);
        v[i] = v0;
        const double fd = (lp - lm) / (2.0 * FD_H);
        ck_assert_msg(fabs((double)grad[i] - fd) <= 1e-6 + 1e-5 * fabs(fd),
                      "%s[%zu]: backward %.10g, finite difference %.10g", what, i, (double)grad[i],
                      fd);
        if (grad[i] != 0.0f) nonzero++;
    }
    return nonzero;
}

/* ------------------------------------------------------------------ ReLU */

START_TEST(test_relu_backward_fd)
{
    /* plain, leaky, capped (ReLU6-style; cap 0.5 so it binds for inputs in [-1, 1]), leaky +
     * capped, and a negative slope whose negative side also reaches the cap */
    static const float cases[][2] = {
        {0.0f, 0.0f}, {0.1f, 0.0f}, {0.0f, 0.5f}, {0.2f, 0.5f}, {-1.5f, 0.5f}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        fd_case c;
        memset(&c, 0, sizeof c);
        c.node.op = CLSSD_OP_RELU;
        c.node.p.relu.negative_slope = cases[k][0];
        c.node.p.relu.max = cases[k][1];
        c.batch = 2;
        c.xs = (clssd_shape){1, 3, 5, 7};
        c.node.out = c.xs;
        case_alloc(&c, 0, 0);
        clssd_rng rng;
        clssd__rng_seed(&rng, 100 + k);
        fill(&rng, c.rf, c.n_y, -1.0f, 1.0f);
        size_t n_zero = 0, n_capped = 0;
        for (size_t i = 0; i < c.n_x; i++) {
            float x, v;
            do { /* redraw until clear of the kink at 0 and of the cap */
                x = clssd__rng_range(&rng, -1.0f, 1.0f);
                v = x > 0.0f ? x : x * cases[k][0];
            } while (fabsf(x) < KINK_MARGIN ||
                     (cases[k][1] > 0.0f && fabsf(v - cases[k][1]) < KINK_MARGIN));
            c.xf[i] = x;
            n_capped += cases[k][1] > 0.0f && v > cases[k][1];
        }
        case_sync(&c);
        char what[64];
        snprintf(what, sizeof what, "relu slope %g max %g", (double)cases[k][0],
                 (double)cases[k][1]);
        cross_check(what, &c, relu_fwd, clssd__relu_ref);
        float *dx = xmalloc(c.n_x * sizeof(float));
        const clssd_ref_args a = case_args(&c, NULL);
        EXPECT_OK(clssd__relu_backward_ref(&a, c.rf, dx));
        const size_t nz = fd_check(what, &c, relu_fwd, c.x, c.n_x, dx);
        n_zero = c.n_x - nz;
        /* every regime the case claims to cover is actually hit */
        ck_assert_msg(nz > c.n_x / 4, "%s: only %zu nonzero", what, nz);
        if (cases[k][0] == 0.0f || cases[k][1] > 0.0f)
            ck_assert_msg(n_zero > 5, "%s: only %zu zero gradients", what, n_zero);
        if (cases[k][1] > 0.0f)
            ck_assert_msg(n_capped > 5, "%s: cap hit %zu times", what, n_capped);
        free(dx);
        case_free(&c);
    }
}
END_TEST

/* The conventions at the kinks, which a finite difference cannot see. */
START_TEST(test_relu_backward_ties)
{
    clssd_node n;
    memset(&n, 0, sizeof n);
    n.op = CLSSD_OP_RELU;
    n.p.relu.negative_slope = 0.25f;
    n.p.relu.max = 0.5f;
    n.out = (clssd_shape){1, 1, 1, 4};
    const float x[4] = {0.0f, 0.5f, 0.25f, -2.0f}, dy[4] = {1.0f, 1.0f, 1.0f, 1.0f};
    float dx[4];
    clssd_ref_args a;
    memset(&a, 0, sizeof a);
    a.node = &n;
    a.batch = 1;
    a.src[0] = x;
    a.src_shape[0] = n.out;
    a.n_src = 1;
    EXPECT_OK(clssd__relu_backward_ref(&a, dy, dx));
    ck_assert_float_eq(dx[0], 0.25f); /* x == 0: the slope, Caffe's (x <= 0) */
    ck_assert_float_eq(dx[1], 0.0f);  /* exactly at the cap: flat */
    ck_assert_float_eq(dx[2], 1.0f);
    ck_assert_float_eq(dx[3], 0.25f);
    ck_assert_int_eq(clssd__relu_backward_ref(&a, NULL, dx), CLSSD_ERR_INVALID_ARG);
}
END_TEST

/* ------------------------------------------------------------------ pooling */

/* All values of the tensor distinct by 1/32 (a shuffled ramp), so no max has a near-tie. */
static void distinct(clssd_rng *rng, float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        v[i] = ((float)i - (float)n / 2.0f) / 32.0f;
    for (size_t i = n - 1; i > 0; i--) {
        const size_t j = (size_t)(clssd__rng_u64(rng) % (i + 1));
        const float t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

START_TEST(test_pool_backward_fd)
{
    /* h, w, kh, kw, sh, sw, ph, pw, global */
    static const int32_t cases[][9] = {
        {7, 9, 3, 3, 2, 2, 1, 1, 0}, /* SSD's pool: odd sizes, stride 2, padding */
        {5, 7, 2, 2, 2, 2, 0, 0, 0}, /* ceil: the last window hangs over the edge */
        {5, 5, 3, 3, 1, 1, 1, 1, 0}, /* overlapping windows add up */
        {4, 4, 2, 2, 3, 3, 1, 1, 0}, /* Caffe drops a window starting in the padding */
        {6, 5, 3, 2, 1, 2, 0, 1, 0}, /* unequal kernel, stride, padding per axis */
        {5, 6, 0, 0, 0, 0, 0, 0, 1}, /* global */
    };
    for (int method = 0; method < 2; method++)
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
            const int32_t *q = cases[k];
            fd_case c;
            memset(&c, 0, sizeof c);
            c.node.op = CLSSD_OP_POOL;
            c.node.p.pool =
                (__typeof__(c.node.p.pool)){.method = method ? CLSSD_POOL_AVE : CLSSD_POOL_MAX,
                                            .kh = q[2],
                                            .kw = q[3],
                                            .sh = q[4],
                                            .sw = q[5],
                                            .ph = q[6],
                                            .pw = q[7],
                                            .global = (uint8_t)q[8]};
            c.batch = 2;
            c.xs = (clssd_shape){1, 3, q[0], q[1]};
            c.node.out = q[8] ? (clssd_shape){1, 3, 1, 1}
                              : (clssd_shape){1, 3, pooled(q[0], q[2], q[4], q[6]),
                                              pooled(q[1], q[3], q[5], q[7])};
            case_alloc(&c, 0, 0);
            clssd_rng rng;
            clssd__rng_seed(&rng, 200 + k);
            distinct(&rng, c.xf, c.n_x);
            fill(&rng, c.rf, c.n_y, -1.0f, 1.0f);
            case_sync(&c);
            char what[64];
            snprintf(what, sizeof what, "%s pool case %zu", method ? "ave" : "max", k);
            cross_check(what, &c, pool_fwd, clssd__pool_ref);
            float *dx = xmalloc(c.n_x * sizeof(float));
            const clssd_ref_args a = case_args(&c, NULL);
            EXPECT_OK(clssd__pool_backward_ref(&a, c.rf, dx));
            const size_t nz = fd_check(what, &c, pool_fwd, c.x, c.n_x, dx);
            /* overlapping max windows may share an argmax */
            ck_assert_msg(4 * nz >= c.n_y, "%s: only %zu nonzero", what, nz);
            free(dx);
            case_free(&c);
        }
}
END_TEST

/* Ties: the first in scan order takes the gradient. */
START_TEST(test_pool_backward_ties)
{
    clssd_node n;
    memset(&n, 0, sizeof n);
    n.op = CLSSD_OP_POOL;
    n.p.pool = (__typeof__(n.p.pool)){.method = CLSSD_POOL_MAX, .kh = 2, .kw = 2, .sh = 2, .sw = 2};
    n.out = (clssd_shape){1, 1, 1, 1};
    const float x[4] = {0.5f, 1.0f, 1.0f, 1.0f}, dy[1] = {3.0f};
    float dx[4];
    clssd_ref_args a;
    memset(&a, 0, sizeof a);
    a.node = &n;
    a.batch = 1;
    a.src[0] = x;
    a.src_shape[0] = (clssd_shape){1, 1, 2, 2};
    a.n_src = 1;
    EXPECT_OK(clssd__pool_backward_ref(&a, dy, dx));
    ck_assert_float_eq(dx[0], 0.0f);
    ck_assert_float_eq(dx[1], 3.0f);
    ck_assert_float_eq(dx[2], 0.0f);
    ck_assert_float_eq(dx[3], 0.0f);
}
END_TEST

/* ------------------------------------------------------------------ L2Norm */

START_TEST(test_l2norm_backward_fd)
{
    for (int across = 0; across < 2; across++)
        for (int shared = 0; shared < 2; shared++) {
            fd_case c;
            memset(&c, 0, sizeof c);
            c.node.op = CLSSD_OP_L2NORM;
            c.node.p.l2norm.eps = 1e-3f;
            c.node.p.l2norm.across_spatial = (uint8_t)across;
            c.node.p.l2norm.channel_shared = (uint8_t)shared;
            c.batch = 2;
            c.xs = (clssd_shape){1, 5, 3, 4};
            c.node.out = c.xs;
            case_alloc(&c, shared ? 1 : 5, 0);
            clssd_rng rng;
            clssd__rng_seed(&rng, 300 + (uint64_t)(2 * across + shared));
            fill(&rng, c.xf, c.n_x, -1.0f, 1.0f);
            fill(&rng, c.wf, c.n_w, 0.5f, 2.0f);
            fill(&rng, c.rf, c.n_y, -1.0f, 1.0f);
            /* N >= 0.5 in every group keeps L''' (hence the truncation error) small */
            for (size_t i = 0; i < c.n_x; i += 5)
                c.xf[i] = c.xf[i] < 0.0f ? -0.75f : 0.75f;
            case_sync(&c);
            char what[64];
            snprintf(what, sizeof what, "l2norm across %d shared %d", across, shared);
            cross_check(what, &c, l2norm_fwd, clssd__l2norm_ref);
            float *dx = xmalloc(c.n_x * sizeof(float)), *ds = xmalloc(c.n_w * sizeof(float));
            const clssd_ref_args a = case_args(&c, NULL);
            EXPECT_OK(clssd__l2norm_backward_ref(&a, c.rf, dx, ds));
            size_t nz = fd_check(what, &c, l2norm_fwd, c.x, c.n_x, dx);
            ck_assert_msg(nz == c.n_x, "%s: %zu of %zu nonzero", what, nz, c.n_x);
            char what_s[80];
            snprintf(what_s, sizeof what_s, "%s dscale", what);
            nz = fd_check(what_s, &c, l2norm_fwd, c.w, c.n_w, ds);
            ck_assert_msg(nz == c.n_w, "%s: %zu of %zu nonzero", what_s, nz, c.n_w);
            /* either gradient alone gives the same numbers */
            float *dx2 = xmalloc(c.n_x * sizeof(float)), *ds2 = xmalloc(c.n_w * sizeof(float));
            EXPECT_OK(clssd__l2norm_backward_ref(&a, c.rf, dx2, NULL));
            EXPECT_OK(clssd__l2norm_backward_ref(&a, c.rf, NULL, ds2));
            ck_assert(memcmp(dx, dx2, c.n_x * sizeof(float)) == 0);
            ck_assert(memcmp(ds, ds2, c.n_w * sizeof(float)) == 0);
            free(dx);
            free(ds);
            free(dx2);
            free(ds2);
            case_free(&c);
        }
}
END_TEST

/* ------------------------------------------------------------------ Conv2d */

typedef struct conv_spec {
    int32_t c, h, w, cout, kh, kw, sh, sw, ph, pw, dh, dw, groups, ph_extra, pw_extra;
    int bias, relu;
    float relu_max;
} conv_spec;

START_TEST(test_conv2d_backward_fd)
{
    static const conv_spec specs[] = {
        /* 3x3, padding 1, odd sizes, bias */
        {3, 7, 5, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 0, 0.0f},
        /* stride 2, groups 2, fused ReLU */
        {4, 9, 8, 4, 3, 3, 2, 2, 1, 1, 1, 1, 2, 0, 0, 1, 1, 0.0f},
        /* dilation 2, padding 2, rectangular kernel, ReLU capped at 0.5 (ReLU6-style) */
        {2, 9, 7, 3, 3, 2, 1, 1, 2, 2, 2, 2, 1, 0, 0, 1, 1, 0.5f},
        /* depthwise stride 2 with TensorFlow SAME's extra bottom/right padding, ReLU6 */
        {4, 6, 7, 4, 3, 3, 2, 2, 0, 0, 1, 1, 4, 1, 1, 1, 1, 0.3f},
        /* pointwise, no bias */
        {3, 5, 3, 5, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0.0f},
        /* unequal strides (3, 2) and dilations (2, 1), groups 2, extra right padding */
        {2, 8, 9, 2, 2, 3, 3, 2, 1, 0, 2, 1, 2, 0, 1, 1, 1, 0.0f},
    };
    for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++) {
        const conv_spec *s = &specs[k];
        fd_case c;
        memset(&c, 0, sizeof c);
        c.node.op = CLSSD_OP_CONV2D;
        c.node.p.conv = (__typeof__(c.node.p.conv)){.cout = s->cout,
                                                    .kh = s->kh,
                                                    .kw = s->kw,
                                                    .sh = s->sh,
                                                    .sw = s->sw,
                                                    .ph = s->ph,
                                                    .pw = s->pw,
                                                    .dh = s->dh,
                                                    .dw = s->dw,
                                                    .groups = s->groups,
                                                    .relu = (uint8_t)s->relu,
                                                    .ph_extra = s->ph_extra,
                                                    .pw_extra = s->pw_extra,
                                                    .relu_max = s->relu_max};
        c.batch = 2;
        c.xs = (clssd_shape){1, s->c, s->h, s->w};
        const int32_t Ho = (s->h + 2 * s->ph + s->ph_extra - s->dh * (s->kh - 1) - 1) / s->sh + 1;
        const int32_t Wo = (s->w + 2 * s->pw + s->pw_extra - s->dw * (s->kw - 1) - 1) / s->sw + 1;
        c.node.out = (clssd_shape){1, s->cout, Ho, Wo};
        const size_t n_w = (size_t)(s->cout * (s->c / s->groups) * s->kh * s->kw);
        case_alloc(&c, n_w, s->bias ? (size_t)s->cout : 0);
        /* redraw the whole case until every pre-activation is clear of 0 and the cap (only
         * matters with the fused ReLU); a few tries suffice at these sizes */
        int ok = 0;
        size_t n_dead = 0, n_capped = 0;
        for (uint64_t seed = 400 + 1000 * k; !ok && seed < 400 + 1000 * k + 500; seed++) {
            clssd_rng rng;
            clssd__rng_seed(&rng, seed);
            fill(&rng, c.xf, c.n_x, -1.0f, 1.0f);
            fill(&rng, c.wf, c.n_w, -0.5f, 0.5f);
            fill(&rng, c.bf, c.n_b, -0.2f, 0.2f);
            fill(&rng, c.rf, c.n_y, -1.0f, 1.0f);
            case_sync(&c);
            conv_fwd_act(&c, 0);
            ok = 1;
            n_dead = n_capped = 0;
            for (size_t i = 0; i < c.n_y && s->relu; i++) {
                if (fabs(c.y[i]) < KINK_MARGIN ||
                    (s->relu_max > 0.0f && fabs(c.y[i] - s->relu_max) < KINK_MARGIN))
                    ok = 0;
                n_dead += c.y[i] < 0.0;
                n_capped += s->relu_max > 0.0f && c.y[i] > s->relu_max;
            }
        }
        ck_assert_msg(ok, "conv case %zu: no draw clear of the ReLU kinks", k);
        if (s->relu) ck_assert_msg(n_dead > 3, "conv case %zu: ReLU cut %zu", k, n_dead);
        if (s->relu_max > 0.0f)
            ck_assert_msg(n_capped > 3, "conv case %zu: cap hit %zu", k, n_capped);
        char what[64];
        snprintf(what, sizeof what, "conv case %zu", k);
        cross_check(what, &c, conv_fwd, clssd__conv2d_ref);
        float *dx = xmalloc(c.n_x * sizeof(float)), *dw = xmalloc(c.n_w * sizeof(float));
        float *db = xmalloc((c.n_b ? c.n_b : 1) * sizeof(float));
        const clssd_ref_args a = case_args(&c, NULL);
        EXPECT_OK(clssd__conv2d_backward_ref(&a, c.rf, dx, dw, c.n_b ? db : NULL));
        char what2[80];
        snprintf(what2, sizeof what2, "%s dx", what);
        size_t nz = fd_check(what2, &c, conv_fwd, c.x, c.n_x, dx);
        /* ReLU-dead outputs and stride gaps leave some inputs without gradient */
        ck_assert_msg(8 * nz > c.n_x, "%s: only %zu nonzero", what2, nz);
        snprintf(what2, sizeof what2, "%s dweight", what);
        nz = fd_check(what2, &c, conv_fwd, c.w, c.n_w, dw);
        ck_assert_msg(nz == c.n_w, "%s: %zu of %zu nonzero", what2, nz, c.n_w);
        snprintf(what2, sizeof what2, "%s dbias", what);
        nz = fd_check(what2, &c, conv_fwd, c.b, c.n_b, db);
        ck_assert_msg(nz == c.n_b, "%s: %zu of %zu nonzero", what2, nz, c.n_b);
        free(dx);
        free(dw);
        free(db);
        case_free(&c);
    }
}
END_TEST

START_TEST(test_backward_errors)
{
    clssd_node n;
    memset(&n, 0, sizeof n);
    n.op = CLSSD_OP_CONV2D;
    n.p.conv = (__typeof__(n.p.conv)){.cout = 2,
                                      .kh = 3,
                                      .kw = 3,
                                      .sh = 1,
                                      .sw = 1,
                                      .ph = 1,
                                      .pw = 1,
                                      .dh = 1,
                                      .dw = 1,
                                      .groups = 1,
                                      .relu = 1};
    n.out = (clssd_shape){1, 2, 4, 4};
    float x[16], w[18], dy[32], dx[16], dw[18];
    for (size_t i = 0; i < 16; i++)
        x[i] = (float)i / 16.0f - 0.4f;
    for (size_t i = 0; i < 18; i++)
        w[i] = (float)i / 18.0f - 0.5f;
    for (size_t i = 0; i < 32; i++)
        dy[i] = 1.0f;
    clssd_ref_args a;
    memset(&a, 0, sizeof a);
    a.node = &n;
    a.batch = 1;
    a.src[0] = x;
    a.src_shape[0] = (clssd_shape){1, 1, 4, 4};
    a.n_src = 1;
    a.weight = w;
    EXPECT_OK(clssd__conv2d_backward_ref(&a, dy, dx, dw, NULL));
    /* every allocation failure is reported, nothing leaks (valgrind / ASan) */
    int saw_ok = 0;
    for (long k = 1; k < 10 && !saw_ok; k++) {
        clssd__alloc_fail_after(k);
        const clssd_status st = clssd__conv2d_backward_ref(&a, dy, dx, dw, NULL);
        clssd__alloc_fail_after(0);
        ck_assert_msg(st == CLSSD_OK || st == CLSSD_ERR_OUT_OF_MEMORY, "fail at %ld: %d", k,
                      (int)st);
        saw_ok = st == CLSSD_OK;
    }
    ck_assert(saw_ok);
    /* a wrong out shape is refused, as the forward refuses it */
    n.out.h = 3;
    ck_assert_int_eq(clssd__conv2d_backward_ref(&a, dy, dx, dw, NULL), CLSSD_ERR_INVALID_ARG);
    n.out.h = 4;
    ck_assert_int_eq(clssd__conv2d_backward_ref(&a, NULL, dx, dw, NULL), CLSSD_ERR_INVALID_ARG);
    a.weight = NULL;
    ck_assert_int_eq(clssd__conv2d_backward_ref(&a, dy, dx, dw, NULL), CLSSD_ERR_INVALID_ARG);
}
END_TEST

static Suite *backward_suite(void)
{
    Suite *s = suite_create("backward");
    TCase *t = tcase_create("fd");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, test_relu_backward_fd);
    tcase_add_test(t, test_relu_backward_ties);
    tcase_add_test(t, test_pool_backward_fd);
    tcase_add_test(t, test_pool_backward_ties);
    tcase_add_test(t, test_l2norm_backward_fd);
    tcase_add_test(t, test_conv2d_backward_fd);
    tcase_add_test(t, test_backward_errors);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(backward_suite());
    srunner_run_all(sr, CK_NORMAL);
    const int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
