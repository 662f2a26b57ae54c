/* The device backward passes (src/train/backward.c, cl/backward.cl) against the plain-C
 * references (src/train/backward_ref.c, themselves checked by finite differences in
 * test_backward.c), on every OpenCL device found. Exits 77 (skip) without a device.
 *
 * Inputs are seeded random, batch 2. Every device output buffer is prefilled with a NaN
 * pattern and has a guard tail of the same pattern: an element the kernels forget stays NaN
 * and fails the comparison, a write past the end shows in the guard.
 * Tolerances: ReLU and max pooling move values without arithmetic (dy or dy * slope), so they
 * must agree exactly; average pooling adds the same shares in the same order as the reference
 * but OpenCL's float division may be off by 2.5 ulp, hence 1e-6 relative. L2Norm sums C (or
 * C*H*W) products in float against the reference's double: 1e-5 + 1e-4 relative. Conv2d's
 * GEMMs sum `terms` products of order 1 in float: the error grows like sqrt(terms) ulps, so
 * abs 1e-4 * max(1, sqrt(terms) / 4) + 1e-3 relative -- a wrong tap, group or mask is an
 * error of order 1, far outside that. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "per_device.h"
#include "testutil.h"
#include "train/backward.h"
#include "train/train.h"

#define GUARD_FLOATS 1024
#define PATTERN 0x7FC0DEADu

static clssd_context *g_ctx;

#define EXPECT_OK(call)                                                                            \
    do {                                                                                           \
        clssd_status st_ = (call);                                                                 \
        ck_assert_msg(st_ == CLSSD_OK, "%s returned %d (%s): %s", #call, (int)st_,                 \
                      clssd_status_string(st_), clssd_last_error(g_ctx));                          \
    } while (0)

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(p);
    return p;
}

static void fill(clssd_rng *rng, float *v, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        v[i] = clssd__rng_range(rng, lo, hi);
}

static cl_mem upload(const float *h, size_t n)
{
    cl_mem m = NULL;
    EXPECT_OK(clssd__buffer(g_ctx, n * sizeof(float), CL_MEM_READ_WRITE, &m));
    ck_assert_int_eq(clEnqueueWriteBuffer(g_ctx->queue, m, CL_TRUE, 0, n * sizeof(float), h, 0,
                                          NULL, NULL),
                     CL_SUCCESS);
    return m;
}

/* n floats plus the guard tail, all of the NaN pattern. */
static cl_mem out_buf(size_t n)
{
    const size_t total = n + GUARD_FLOATS;
    uint32_t *pat = xmalloc(total * sizeof(uint32_t));
    for (size_t i = 0; i < total; i++)
        pat[i] = PATTERN;
    cl_mem m = NULL;
    EXPECT_OK(clssd__buffer(g_ctx, total * sizeof(float), CL_MEM_READ_WRITE, &m));
    ck_assert_int_eq(clEnqueueWriteBuffer(g_ctx->queue, m, CL_TRUE, 0, total * sizeof(float),
                                          pat, 0, NULL, NULL),
                     CL_SUCCESS);
    free(pat);
    return m;
}

/* Reads n floats of an out_buf into h and checks its guard tail. */
static void download(cl_mem m, size_t n, float *h, const char *what)
{
    const size_t total = n + GUARD_FLOATS;
    uint32_t *all = xmalloc(total * sizeof(uint32_t));
    ck_assert_int_eq(clEnqueueReadBuffer(g_ctx->queue, m, CL_TRUE, 0, total * sizeof(float), all,
                                         0, NULL, NULL),
                     CL_SUCCESS);
    for (size_t i = n; i < total; i++)
        ck_assert_msg(all[i] == PATTERN, "%s: write past the end (guard word %zu)", what, i - n);
    memcpy(h, all, n * sizeof(float));
    free(all);
}

/* compare_floats, plus a line with the worst absolute error and the worst error as a
 * fraction of the allowed one. */
static void check_close(const char *what, const float *ref, const float *got, size_t n,
                        float tol_abs, float tol_rel)
{
    double worst_abs = 0.0, worst_frac = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs((double)ref[i] - (double)got[i]);
        const double lim = (double)tol_abs + (double)tol_rel * fabs((double)ref[i]);
        if (d > worst_abs || isnan(d)) worst_abs = isnan(d) ? INFINITY : d;
        if (lim > 0.0 && d / lim > worst_frac) worst_frac = d / lim;
    }
    char msg[256];
    double nmse = 0.0;
    const long bad = compare_floats(ref, got, n, tol_abs, tol_rel, &nmse, msg, sizeof msg);
    printf("    %-40s %6zu values  max |err| %.3g  (%.3f of tol)\n", what, n, worst_abs,
           worst_frac);
    ck_assert_msg(bad < 0, "[%s] %s: %zu values, NMSE %.3g, %s", g_ctx->info.device_name, what,
                  n, nmse, msg);
}

static clssd_ref_args ref_args(const clssd_node *node, int32_t batch, clssd_shape xs,
                               const float *x, const float *w, clssd_shape ws, const float *b)
{
    clssd_ref_args a;
    memset(&a, 0, sizeof a);
    a.node = node;
    a.batch = batch;
    a.src[0] = x;
    a.src_shape[0] = xs;
    a.n_src = 1;
    a.weight = w;
    a.weight_shape = ws;
    a.bias = b;
    return a;
}

static clssd_bwd_args bwd_args(const clssd_node *node, int32_t batch, clssd_shape xs, cl_mem x,
                               cl_mem y, cl_mem w, clssd_shape ws)
{
    clssd_bwd_args a;
    memset(&a, 0, sizeof a);
    a.node = node;
    a.batch = batch;
    a.x_shape = xs;
    a.x = x;
    a.y = y;
    a.weight = w;
    a.weight_shape = ws;
    return a;
}

/* ------------------------------------------------------------------ ReLU */

START_TEST(test_relu)
{
    /* ReLU, ReLU6 (inputs in [-8, 8] so the cap binds), leaky, leaky + capped */
    static const float cases[][2] = {{0.0f, 0.0f}, {0.0f, 6.0f}, {0.1f, 0.0f}, {0.2f, 0.5f}};
    static const char *const names[] = {"relu", "relu6", "leaky 0.1", "leaky 0.2 cap 0.5"};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        clssd_node node;
        memset(&node, 0, sizeof node);
        node.op = CLSSD_OP_RELU;
        node.p.relu.negative_slope = cases[k][0];
        node.p.relu.max = cases[k][1];
        const clssd_shape xs = {1, 3, 5, 7};
        node.out = xs;
        const int32_t B = 2;
        const size_t n = clssd__shape_count(&xs) * (size_t)B;
        float *x = xmalloc(n * sizeof(float)), *dy = xmalloc(n * sizeof(float));
        float *ref = xmalloc(n * sizeof(float)), *got = xmalloc(n * sizeof(float));
        clssd_rng rng;
        clssd__rng_seed(&rng, 10 + k);
        fill(&rng, x, n, -8.0f, 8.0f);
        fill(&rng, dy, n, -1.0f, 1.0f);
        /* the ties: exactly 0 (takes the slope) and exactly the cap (passes nothing) */
        x[0] = 0.0f;
        x[1] = cases[k][1];
        if (cases[k][1] > 0.0f && cases[k][0] > 0.0f) x[2] = -cases[k][1] / cases[k][0];
        const clssd_ref_args ra = ref_args(&node, B, xs, x, NULL, (clssd_shape){0, 0, 0, 0}, NULL);
        EXPECT_OK(clssd__relu_backward_ref(&ra, dy, ref));

        cl_mem dx_x = upload(x, n), d_dy = upload(dy, n), d_dx = out_buf(n);
        const clssd_bwd_args ba = bwd_args(&node, B, xs, dx_x, NULL, NULL, (clssd_shape){0, 0, 0, 0});
        const double t0 = test_now_ms();
        EXPECT_OK(clssd__relu_backward(g_ctx, &ba, d_dy, d_dx));
        ck_assert_int_eq(clFinish(g_ctx->queue), CL_SUCCESS);
        const double t = test_now_ms() - t0;
        char what[64];
        snprintf(what, sizeof what, "%s dx (%.1f ms)", names[k], t);
        download(d_dx, n, got, what);
        check_close(what, ref, got, n, 0.0f, 0.0f);
        clReleaseMemObject(dx_x);
        clReleaseMemObject(d_dy);
        clReleaseMemObject(d_dx);
        free(x);
        free(dy);
        free(ref);
        free(got);
    }
}
END_TEST

/* ------------------------------------------------------------------ pooling */

static int32_t pooled(int32_t in, int32_t k, int32_t s, int32_t p)
{
    int32_t o = (in + 2 * p - k + s - 1) / s + 1;
    if (p > 0 && (o - 1) * s >= in + p) o--;
    return o;
}

START_TEST(test_pool)
{
    /* method, h, w, kh, kw, sh, sw, ph, pw, global, ties */
    static const int32_t cases[][11] = {
        {0, 7, 9, 2, 2, 2, 2, 0, 0, 0, 0}, /* VGG's 2x2/s2 on odd sizes: ceil, edge windows */
        {0, 5, 6, 3, 3, 1, 1, 1, 1, 0, 0}, /* pool5: 3x3/s1/p1, overlapping windows */
        {0, 7, 9, 3, 3, 2, 2, 1, 1, 0, 0}, /* 3x3/s2/p1, odd */
        {0, 4, 4, 2, 2, 3, 3, 1, 1, 0, 0}, /* Caffe drops a window starting in the padding */
        {0, 6, 5, 3, 2, 1, 2, 0, 1, 0, 0}, /* unequal kernel, stride, padding */
        {0, 5, 6, 3, 3, 1, 1, 1, 1, 0, 1}, /* pool5 with many ties: first in scan order */
        {0, 7, 9, 2, 2, 2, 2, 0, 0, 0, 1}, /* 2x2/s2 with ties */
        {1, 7, 9, 2, 2, 2, 2, 0, 0, 0, 0},
        {1, 5, 6, 3, 3, 1, 1, 1, 1, 0, 0},
        {1, 7, 9, 3, 3, 2, 2, 1, 1, 0, 0}, /* divisor counts the padding up to H + ph */
        {1, 4, 4, 2, 2, 3, 3, 1, 1, 0, 0},
        {1, 6, 5, 3, 2, 1, 2, 0, 1, 0, 0},
        {1, 5, 6, 0, 0, 0, 0, 0, 0, 1, 0}, /* global average */
        {0, 5, 6, 0, 0, 0, 0, 0, 0, 1, 0}, /* global max */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const int32_t *q = cases[k];
        clssd_node node;
        memset(&node, 0, sizeof node);
        node.op = CLSSD_OP_POOL;
        node.p.pool = (__typeof__(node.p.pool)){.method = q[0] ? CLSSD_POOL_AVE : CLSSD_POOL_MAX,
                                                .kh = q[3],
                                                .kw = q[4],
                                                .sh = q[5],
                                                .sw = q[6],
                                                .ph = q[7],
                                                .pw = q[8],
                                                .global = (uint8_t)q[9]};
        const clssd_shape xs = {1, 3, q[1], q[2]};
        node.out = q[9] ? (clssd_shape){1, 3, 1, 1}
                        : (clssd_shape){1, 3, pooled(q[1], q[3], q[5], q[7]),
                                        pooled(q[2], q[4], q[6], q[8])};
        const int32_t B = 2;
        const size_t n_in = clssd__shape_count(&xs) * (size_t)B;
        const size_t n_out = clssd__shape_count(&node.out) * (size_t)B;
        float *x = xmalloc(n_in * sizeof(float)), *dy = xmalloc(n_out * sizeof(float));
        float *ref = xmalloc(n_in * sizeof(float)), *got = xmalloc(n_in * sizeof(float));
        clssd_rng rng;
        clssd__rng_seed(&rng, 100 + k);
        fill(&rng, x, n_in, -1.0f, 1.0f);
        if (q[10]) /* four levels only: most windows hold a tie for the max */
            for (size_t i = 0; i < n_in; i++)
                x[i] = floorf(x[i] * 2.0f);
        fill(&rng, dy, n_out, -1.0f, 1.0f);
        const clssd_ref_args ra = ref_args(&node, B, xs, x, NULL, (clssd_shape){0, 0, 0, 0}, NULL);
        EXPECT_OK(clssd__pool_backward_ref(&ra, dy, ref));

        cl_mem d_x = upload(x, n_in), d_dy = upload(dy, n_out), d_dx = out_buf(n_in);
        const clssd_bwd_args ba = bwd_args(&node, B, xs, d_x, NULL, NULL, (clssd_shape){0, 0, 0, 0});
        const double t0 = test_now_ms();
        EXPECT_OK(clssd__pool_backward(g_ctx, &ba, d_dy, d_dx));
        ck_assert_int_eq(clFinish(g_ctx->queue), CL_SUCCESS);
        const double t = test_now_ms() - t0;
        char what[96];
        snprintf(what, sizeof what, "%s %dx%d k%dx%d s%dx%d p%dx%d%s%s (%.1f ms)",
                 q[0] ? "ave" : "max", q[1], q[2], q[3], q[4], q[5], q[6], q[7], q[8],
                 q[9] ? " global" : "", q[10] ? " ties" : "", t);
        download(d_dx, n_in, got, what);
        if (q[0] == 0)
            check_close(what, ref, got, n_in, 0.0f, 0.0f);
        else
            check_close(what, ref, got, n_in, 1e-7f, 1e-6f);
        clReleaseMemObject(d_x);
        clReleaseMemObject(d_dy);
        clReleaseMemObject(d_dx);
        free(x);
        free(dy);
        free(ref);
        free(got);
    }
}
END_TEST

/* ------------------------------------------------------------------ L2Norm */

START_TEST(test_l2norm)
{
    for (int across = 0; across < 2; across++)
        for (int shared = 0; shared < 2; shared++) {
            clssd_node node;
            memset(&node, 0, sizeof node);
            node.op = CLSSD_OP_L2NORM;
            node.p.l2norm.eps = 1e-10f; /* Caffe's default */
            node.p.l2norm.across_spatial = (uint8_t)across;
            node.p.l2norm.channel_shared = (uint8_t)shared;
            /* 21 pixels: not a multiple of any work-group size */
            const clssd_shape xs = {1, 16, 3, 7};
            node.out = xs;
            const int32_t B = 2;
            const size_t n = clssd__shape_count(&xs) * (size_t)B, n_s = shared ? 1 : 16;
            const clssd_shape ws = {1, 1, 1, (int32_t)n_s};
            float *x = xmalloc(n * sizeof(float)), *dy = xmalloc(n * sizeof(float));
            float *s = xmalloc(n_s * sizeof(float));
            float *ref = xmalloc(n * sizeof(float)), *got = xmalloc(n * sizeof(float));
            float ref_s[16], got_s[16];
            clssd_rng rng;
            clssd__rng_seed(&rng, 300 + (uint64_t)(2 * across + shared));
            fill(&rng, x, n, -1.0f, 1.0f);
            fill(&rng, dy, n, -1.0f, 1.0f);
            fill(&rng, s, n_s, 0.5f, 20.0f);
            const clssd_ref_args ra = ref_args(&node, B, xs, x, s, ws, NULL);
            EXPECT_OK(clssd__l2norm_backward_ref(&ra, dy, ref, ref_s));

            cl_mem d_x = upload(x, n), d_dy = upload(dy, n), d_s = upload(s, n_s);
            cl_mem d_dx = out_buf(n), d_ds = out_buf(n_s);
            const clssd_bwd_args ba = bwd_args(&node, B, xs, d_x, NULL, d_s, ws);
            const double t0 = test_now_ms();
            EXPECT_OK(clssd__l2norm_backward(g_ctx, &ba, d_dy, d_dx, d_ds));
            ck_assert_int_eq(clFinish(g_ctx->queue), CL_SUCCESS);
            const double t = test_now_ms() - t0;
            char what[96];
            snprintf(what, sizeof what, "l2norm across %d shared %d dx (%.1f ms)", across,
                     shared, t);
            download(d_dx, n, got, what);
            check_close(what, ref, got, n, 1e-5f, 1e-4f);
            snprintf(what, sizeof what, "l2norm across %d shared %d dscale", across, shared);
            download(d_ds, n_s, got_s, what);
            check_close(what, ref_s, got_s, n_s, 1e-4f, 1e-4f);

            /* dx alone and dscale alone give the same numbers as both together */
            cl_mem d_dx2 = out_buf(n), d_ds2 = out_buf(n_s);
            EXPECT_OK(clssd__l2norm_backward(g_ctx, &ba, d_dy, d_dx2, NULL));
            EXPECT_OK(clssd__l2norm_backward(g_ctx, &ba, d_dy, NULL, d_ds2));
            float *got2 = xmalloc(n * sizeof(float)), got_s2[16];
            download(d_dx2, n, got2, "l2norm dx alone");
            download(d_ds2, n_s, got_s2, "l2norm dscale alone");
            ck_assert(memcmp(got, got2, n * sizeof(float)) == 0);
            ck_assert(memcmp(got_s, got_s2, n_s * sizeof(float)) == 0);
            free(got2);
            clReleaseMemObject(d_dx2);
            clReleaseMemObject(d_ds2);

            clReleaseMemObject(d_x);
            clReleaseMemObject(d_dy);
            clReleaseMemObject(d_s);
            clReleaseMemObject(d_dx);
            clReleaseMemObject(d_ds);
            free(x);
            free(dy);
            free(s);
            free(ref);
            free(got);
        }
}
END_TEST

/* ------------------------------------------------------------------ Conv2d */

typedef struct conv_spec {
    const char *name;
    int32_t c, h, w, cout, kh, kw, sh, sw, ph, pw, dh, dw, groups, ph_extra, pw_extra;
    int bias, relu;
    float relu_max;
} conv_spec;

static const conv_spec conv_specs[] = {
    {"1x1 pointwise, bias", 8, 5, 7, 6, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 1, 0, 0.0f},
    {"1x1 stride 2, no bias", 4, 7, 6, 5, 1, 1, 2, 2, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0.0f},
    {"3x3 pad 1, bias, relu", 4, 7, 6, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0.0f},
    {"3x3 stride 2 pad 1, relu6", 3, 9, 8, 4, 3, 3, 2, 2, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0.5f},
    {"fc6-like 3x3 dil 6 pad 6, relu", 4, 13, 13, 4, 3, 3, 1, 1, 6, 6, 6, 6, 1, 0, 0, 1, 1, 0.0f},
    {"3x3 groups 2, bias", 4, 6, 7, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2, 0, 0, 1, 0, 0.0f},
    {"depthwise 3x3 s2 TF-SAME, relu6", 4, 6, 7, 4, 3, 3, 2, 2, 0, 0, 1, 1, 4, 1, 1, 1, 1, 0.3f},
    {"depthwise x2 3x3 p1, relu", 3, 5, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1, 3, 0, 0, 1, 1, 0.0f},
    {"3x2 s(3,2) dil(2,1) g2 extra", 2, 8, 9, 2, 2, 3, 3, 2, 1, 0, 2, 1, 2, 0, 1, 1, 1, 0.0f},
    {"1x1 groups 2 (pointwise GEMMs)", 4, 3, 5, 6, 1, 1, 1, 1, 0, 0, 1, 1, 2, 0, 0, 1, 1, 0.0f},
    /* wide rows: interior positions of clssd_pack_cols_t (weight gradient) and whole-row
     * panels of clssd_pack_cols (the stride-1 input gradient's packing of dz) */
    {"3x3 pad 1, wide rows", 5, 12, 37, 20, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0.0f},
    {"3x3 dil 2 pad 2, wide rows", 3, 10, 40, 8, 3, 3, 1, 1, 2, 2, 2, 2, 1, 0, 0, 0, 0, 0.0f},
};

static float conv_tol(size_t terms)
{
    const float f = sqrtf((float)terms) / 4.0f;
    return 1e-4f * (f > 1.0f ? f : 1.0f);
}

START_TEST(test_conv)
{
    const conv_spec *sp = &conv_specs[_i];
    clssd_node node;
    memset(&node, 0, sizeof node);
    node.op = CLSSD_OP_CONV2D;
    node.p.conv = (__typeof__(node.p.conv)){.cout = sp->cout,
                                            .kh = sp->kh,
                                            .kw = sp->kw,
                                            .sh = sp->sh,
                                            .sw = sp->sw,
                                            .ph = sp->ph,
                                            .pw = sp->pw,
                                            .dh = sp->dh,
                                            .dw = sp->dw,
                                            .groups = sp->groups,
                                            .relu = (uint8_t)sp->relu,
                                            .ph_extra = sp->ph_extra,
                                            .pw_extra = sp->pw_extra,
                                            .relu_max = sp->relu_max};
    const int32_t Ho = clssd__conv_out(sp->h, sp->kh, sp->sh, sp->ph, sp->ph_extra, sp->dh);
    const int32_t Wo = clssd__conv_out(sp->w, sp->kw, sp->sw, sp->pw, sp->pw_extra, sp->dw);
    ck_assert(Ho > 0 && Wo > 0);
    node.out = (clssd_shape){1, sp->cout, Ho, Wo};
    const clssd_shape xs = {1, sp->c, sp->h, sp->w};
    const clssd_shape ws = {sp->cout, sp->c / sp->groups, sp->kh, sp->kw};
    const int32_t B = 2;
    const size_t n_in = clssd__shape_count(&xs) * (size_t)B;
    const size_t n_out = clssd__shape_count(&node.out) * (size_t)B;
    const size_t n_w = clssd__shape_count(&ws), n_b = (size_t)sp->cout;
    float *x = xmalloc(n_in * sizeof(float)), *w = xmalloc(n_w * sizeof(float));
    float *bias = xmalloc(n_b * sizeof(float)), *dy = xmalloc(n_out * sizeof(float));
    float *y = xmalloc(n_out * sizeof(float));
    clssd_rng rng;
    clssd__rng_seed(&rng, 500 + (uint64_t)_i);
    fill(&rng, x, n_in, -1.0f, 1.0f);
    fill(&rng, w, n_w, -0.5f, 0.5f);
    fill(&rng, bias, n_b, -0.2f, 0.2f);
    fill(&rng, dy, n_out, -1.0f, 1.0f);
    clssd_ref_args ra = ref_args(&node, B, xs, x, w, ws, sp->bias ? bias : NULL);
    ra.dst = y;
    EXPECT_OK(clssd__conv2d_ref(&ra)); /* y, whose fused activation masks dy */
    size_t n_dead = 0, n_capped = 0;
    for (size_t i = 0; i < n_out; i++) {
        n_dead += y[i] == 0.0f;
        n_capped += sp->relu_max > 0.0f && y[i] == sp->relu_max;
    }
    if (sp->relu) ck_assert_msg(n_dead > 3, "%s: the ReLU cuts only %zu", sp->name, n_dead);
    if (sp->relu_max > 0.0f)
        ck_assert_msg(n_capped > 3, "%s: the cap binds only %zu times", sp->name, n_capped);

    float *ref_dx = xmalloc(n_in * sizeof(float)), *ref_dw = xmalloc(n_w * sizeof(float));
    float *ref_db = xmalloc(n_b * sizeof(float));
    double t0 = test_now_ms();
    EXPECT_OK(clssd__conv2d_backward_ref(&ra, dy, ref_dx, ref_dw, ref_db));
    const double t_ref = test_now_ms() - t0;

    cl_mem d_x = upload(x, n_in), d_w = upload(w, n_w), d_dy = upload(dy, n_out);
    cl_mem d_y = upload(y, n_out);
    cl_mem d_dx = out_buf(n_in), d_dw = out_buf(n_w), d_db = out_buf(n_b);
    const clssd_bwd_args ba = bwd_args(&node, B, xs, d_x, d_y, d_w, ws);
    t0 = test_now_ms();
    EXPECT_OK(clssd__conv2d_backward(g_ctx, &ba, d_dy, d_dx, d_dw, d_db));
    ck_assert_int_eq(clFinish(g_ctx->queue), CL_SUCCESS);
    const double t_dev = test_now_ms() - t0;
    printf("  conv %-34s ref %.1f ms, device %.1f ms\n", sp->name, t_ref, t_dev);

    float *got_dx = xmalloc(n_in * sizeof(float)), *got_dw = xmalloc(n_w * sizeof(float));
    float *got_db = xmalloc(n_b * sizeof(float));
    char what[96];
    const size_t Mg = (size_t)(sp->cout / sp->groups), taps = (size_t)(sp->kh * sp->kw);
    snprintf(what, sizeof what, "%s dx", sp->name);
    download(d_dx, n_in, got_dx, what);
    check_close(what, ref_dx, got_dx, n_in, conv_tol(Mg * taps), 1e-3f);
    snprintf(what, sizeof what, "%s dweight", sp->name);
    download(d_dw, n_w, got_dw, what);
    check_close(what, ref_dw, got_dw, n_w, conv_tol((size_t)B * (size_t)(Ho * Wo)), 1e-3f);
    snprintf(what, sizeof what, "%s dbias", sp->name);
    download(d_db, n_b, got_db, what);
    check_close(what, ref_db, got_db, n_b, conv_tol((size_t)B * (size_t)(Ho * Wo)), 1e-3f);

    /* the chunked path (column matrices for a few output rows at a time, as tall layers
     * get): one row and three rows per chunk, against the reference */
    const size_t row_bytes = (size_t)sp->c * taps * (size_t)Wo * sizeof(float);
    const size_t budgets[2] = {1, 3 * row_bytes};
    for (int k = 0; k < 2; k++) {
        cl_mem c_dx = out_buf(n_in), c_dw = out_buf(n_w);
        EXPECT_OK(clssd__conv2d_backward_ex(g_ctx, &ba, d_dy, c_dx, c_dw, NULL, budgets[k]));
        snprintf(what, sizeof what, "%s dx, %d-row chunks", sp->name, k ? 3 : 1);
        download(c_dx, n_in, got_dx, what);
        check_close(what, ref_dx, got_dx, n_in, conv_tol(Mg * taps), 1e-3f);
        snprintf(what, sizeof what, "%s dweight, %d-row chunks", sp->name, k ? 3 : 1);
        download(c_dw, n_w, got_dw, what);
        check_close(what, ref_dw, got_dw, n_w, conv_tol((size_t)B * (size_t)(Ho * Wo)), 1e-3f);
        clReleaseMemObject(c_dx);
        clReleaseMemObject(c_dw);
    }
    /* back to the one-chunk results for the comparisons below */
    download(d_dx, n_in, got_dx, "dx");
    download(d_dw, n_w, got_dw, "dweight");

    /* each gradient alone: the others skipped, the same numbers */
    cl_mem d_dx2 = out_buf(n_in), d_dw2 = out_buf(n_w);
    EXPECT_OK(clssd__conv2d_backward(g_ctx, &ba, d_dy, d_dx2, NULL, NULL));
    EXPECT_OK(clssd__conv2d_backward(g_ctx, &ba, d_dy, NULL, d_dw2, NULL));
    float *got2 = xmalloc((n_in > n_w ? n_in : n_w) * sizeof(float));
    download(d_dx2, n_in, got2, "dx alone");
    ck_assert(memcmp(got2, got_dx, n_in * sizeof(float)) == 0);
    download(d_dw2, n_w, got2, "dweight alone");
    ck_assert(memcmp(got2, got_dw, n_w * sizeof(float)) == 0);
    free(got2);
    clReleaseMemObject(d_dx2);
    clReleaseMemObject(d_dw2);

    cl_mem bufs[] = {d_x, d_w, d_dy, d_y, d_dx, d_dw, d_db};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        clReleaseMemObject(bufs[i]);
    free(x);
    free(w);
    free(bias);
    free(dy);
    free(y);
    free(ref_dx);
    free(ref_dw);
    free(ref_db);
    free(got_dx);
    free(got_dw);
    free(got_db);
}
END_TEST

/* ------------------------------------------------------------------ bad input */

START_TEST(test_bad_input)
{
    /* small: 8 floats exactly (an out_buf would add its guard tail) */
    cl_mem small = NULL, big = out_buf(4096);
    EXPECT_OK(clssd__buffer(g_ctx, 8 * sizeof(float), CL_MEM_READ_WRITE, &small));
    const clssd_shape none = {0, 0, 0, 0};

    /* a convolution whose node output does not match its geometry */
    clssd_node conv;
    memset(&conv, 0, sizeof conv);
    conv.op = CLSSD_OP_CONV2D;
    conv.p.conv = (__typeof__(conv.p.conv)){.cout = 2, .kh = 3, .kw = 3, .sh = 1, .sw = 1,
                                            .ph = 1, .pw = 1, .dh = 1, .dw = 1, .groups = 1};
    conv.out = (clssd_shape){1, 2, 5, 4}; /* should be 5x5 */
    const clssd_shape xs = {1, 2, 5, 5};
    clssd_bwd_args a = bwd_args(&conv, 2, xs, big, NULL, big, none);
    ck_assert_int_eq(clssd__conv2d_backward(g_ctx, &a, big, big, big, big), CLSSD_ERR_INVALID_ARG);
    printf("    mismatched conv output -> %s\n", clssd_last_error(g_ctx));
    conv.out = (clssd_shape){1, 2, 5, 5};
    /* weights of the wrong shape */
    a.weight_shape = (clssd_shape){2, 2, 3, 2};
    ck_assert_int_eq(clssd__conv2d_backward(g_ctx, &a, big, big, big, big), CLSSD_ERR_INVALID_ARG);
    a.weight_shape = none;
    /* a dx buffer too small */
    ck_assert_int_eq(clssd__conv2d_backward(g_ctx, &a, big, small, NULL, NULL),
                     CLSSD_ERR_INVALID_ARG);
    /* a fused ReLU without the forward output */
    conv.p.conv.relu = 1;
    ck_assert_int_eq(clssd__conv2d_backward(g_ctx, &a, big, big, NULL, NULL),
                     CLSSD_ERR_INVALID_ARG);
    conv.p.conv.relu = 0;
    /* groups that do not divide the channels */
    conv.p.conv.groups = 3;
    ck_assert_int_eq(clssd__conv2d_backward(g_ctx, &a, big, big, NULL, NULL),
                     CLSSD_ERR_INVALID_ARG);
    conv.p.conv.groups = 1;
    /* the valid call works on the same buffers (the checks above refused, not crashed) */
    EXPECT_OK(clssd__conv2d_backward(g_ctx, &a, big, big, big, big));

    /* ReLU: shapes that differ, dx too small, the wrong op, NULL context */
    clssd_node relu;
    memset(&relu, 0, sizeof relu);
    relu.op = CLSSD_OP_RELU;
    relu.out = (clssd_shape){1, 2, 5, 4};
    clssd_bwd_args r = bwd_args(&relu, 2, xs, big, NULL, NULL, none);
    ck_assert_int_eq(clssd__relu_backward(g_ctx, &r, big, big), CLSSD_ERR_INVALID_ARG);
    relu.out = xs;
    ck_assert_int_eq(clssd__relu_backward(g_ctx, &r, big, small), CLSSD_ERR_INVALID_ARG);
    ck_assert_int_eq(clssd__relu_backward(g_ctx, &r, big, NULL), CLSSD_ERR_INVALID_ARG);
    ck_assert_int_eq(clssd__relu_backward(NULL, &r, big, big), CLSSD_ERR_INVALID_ARG);
    ck_assert_int_eq(clssd__relu_backward(g_ctx, NULL, big, big), CLSSD_ERR_INVALID_ARG);
    ck_assert_int_eq(clssd__pool_backward(g_ctx, &r, big, big), CLSSD_ERR_INVALID_ARG);
    EXPECT_OK(clssd__relu_backward(g_ctx, &r, big, big));

    /* pooling with an output size Caffe's rule does not give */
    clssd_node pool;
    memset(&pool, 0, sizeof pool);
    pool.op = CLSSD_OP_POOL;
    pool.p.pool = (__typeof__(pool.p.pool)){.method = CLSSD_POOL_MAX, .kh = 2, .kw = 2, .sh = 2,
                                            .sw = 2};
    pool.out = (clssd_shape){1, 2, 2, 2}; /* 5 -> 3 with ceil */
    clssd_bwd_args pa = bwd_args(&pool, 2, xs, big, NULL, NULL, none);
    ck_assert_int_eq(clssd__pool_backward(g_ctx, &pa, big, big), CLSSD_ERR_INVALID_ARG);
    pool.out = (clssd_shape){1, 2, 3, 3};
    EXPECT_OK(clssd__pool_backward(g_ctx, &pa, big, big));

    /* L2Norm: no output asked for, a scale of the wrong size */
    clssd_node l2;
    memset(&l2, 0, sizeof l2);
    l2.op = CLSSD_OP_L2NORM;
    l2.out = xs;
    clssd_bwd_args la = bwd_args(&l2, 2, xs, big, NULL, big, none);
    ck_assert_int_eq(clssd__l2norm_backward(g_ctx, &la, big, NULL, NULL), CLSSD_ERR_INVALID_ARG);
    la.weight_shape = (clssd_shape){1, 1, 1, 3};
    ck_assert_int_eq(clssd__l2norm_backward(g_ctx, &la, big, big, NULL), CLSSD_ERR_INVALID_ARG);
    la.weight_shape = none;
    EXPECT_OK(clssd__l2norm_backward(g_ctx, &la, big, big, small));

    ck_assert_int_eq(clFinish(g_ctx->queue), CL_SUCCESS);
    clReleaseMemObject(small);
    clReleaseMemObject(big);
}
END_TEST

static void add_cases(TCase *tc)
{
    tcase_add_test(tc, test_relu);
    tcase_add_test(tc, test_pool);
    tcase_add_test(tc, test_l2norm);
    tcase_add_loop_test(tc, test_conv, 0, (int)(sizeof conv_specs / sizeof conv_specs[0]));
    tcase_add_test(tc, test_bad_input);
}

int main(void)
{
    const int failed =
        test_run_per_device("backward_device", add_cases, 600, &g_ctx, "device backward tests");
    if (failed < 0) return 77;
    return failed ? 1 : 0;
}
