/* Every OpenCL op against its plain-C reference, on every OpenCL device found.
 * Each case runs the reference, runs the device op into a buffer framed by NaN guard zones,
 * checks the guards and compares within the op table's tolerances. Exits 77 (skip) when
 * there is no device. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "per_device.h"
#include "testutil.h"

#define GUARD_BYTES 4096

static clssd_context *g_ctx;

static void ref_args_for(const op_case *c, clssd_ref_args *a, float *dst)
{
    const clssd_node *n = &c->g.nodes[c->node];
    memset(a, 0, sizeof *a);
    a->node = n;
    a->batch = c->batch;
    a->n_src = n->n_src;
    for (int i = 0; i < n->n_src; i++) {
        a->src[i] = c->src_data[i];
        a->src_shape[i] = c->g.nodes[n->src[i]].out;
    }
    if (n->weight >= 0) {
        a->weight = c->g.tensors[n->weight].data;
        a->weight_shape = c->g.tensors[n->weight].shape;
    }
    if (n->bias >= 0) a->bias = c->g.tensors[n->bias].data;
    a->dst = dst;
    a->images = c->images;
}

/* Packs images as the detect call does (tests the kernel, not the packing). */
static clssd_status upload_images(clssd_exec *ex, const op_case *c)
{
    size_t total = 0;
    for (int b = 0; b < c->batch; b++) total += (size_t)c->images[b].width * 3u * (size_t)c->images[b].height;
    CLSSD_TRY(clssd__buffer(ex->ctx, total, CL_MEM_READ_ONLY, &ex->image_u8));
    CLSSD_TRY(clssd__buffer(ex->ctx, 64 * sizeof(cl_int), CL_MEM_READ_ONLY, &ex->image_desc));
    cl_int desc[16];
    size_t off = 0;
    for (int b = 0; b < c->batch; b++) {
        const clssd_image *im = &c->images[b];
        const size_t row = (size_t)im->width * 3u;
        for (int y = 0; y < im->height; y++)
            CLSSD_CL(ex->ctx, clEnqueueWriteBuffer(ex->ctx->queue, ex->image_u8, CL_TRUE,
                                                   off + (size_t)y * row, row,
                                                   im->rgb + (size_t)y * (size_t)im->stride, 0,
                                                   NULL, NULL));
        desc[4 * b] = (cl_int)off;
        desc[4 * b + 1] = im->width;
        desc[4 * b + 2] = im->height;
        desc[4 * b + 3] = (cl_int)row;
        off += row * (size_t)im->height;
    }
    CLSSD_CL(ex->ctx, clEnqueueWriteBuffer(ex->ctx->queue, ex->image_desc, CL_TRUE, 0,
                                           sizeof desc, desc, 0, NULL, NULL));
    return CLSSD_OK;
}

/* NMS outputs are compared row by row: the order is fully defined (docs/ops.md). */
static void compare_nms(const op_case *c, const float *ref, const float *got, const char *dev)
{
    const clssd_node *n = &c->g.nodes[c->node];
    const size_t rows = (size_t)n->out.h;
    for (int b = 0; b < c->batch; b++) {
        const float *r = ref + (size_t)b * rows * 7, *g = got + (size_t)b * rows * 7;
        ck_assert_msg(r[0] == g[0], "[%s] %s image %d: ref %g detections, device %g", dev,
                      c->label, b, (double)r[0], (double)g[0]);
        ck_assert_msg(r[0] > 0 || c->g.nodes[c->node].p.nms.conf_thresh > 0.5f,
                      "[%s] %s: no detections: the case tests nothing", dev, c->label);
        for (size_t k = 1; k <= (size_t)r[0]; k++)
            for (int j = 0; j < 7; j++)
                ck_assert_msg(r[k * 7 + j] == g[k * 7 + j],
                              "[%s] %s image %d row %zu col %d: ref %.9g device %.9g (ref row: "
                              "label %g score %.9g prior %g)", dev, c->label, b, k, j,
                              (double)r[k * 7 + j], (double)g[k * 7 + j], (double)r[k * 7],
                              (double)r[k * 7 + 1], (double)r[k * 7 + 6]);
    }
}

START_TEST(test_op_vs_ref)
{
    op_case c;
    ck_assert_msg(op_case_build(_i, &c), "case %d (%s) failed to build", _i, op_case_label(_i));
    const char *dev = g_ctx->info.device_name;
    const clssd_node *n = &c.g.nodes[c.node];
    const clssd_op_desc *d = &clssd__ops[n->op];
    const size_t count = clssd__shape_count(&n->out) * (n->batch_const ? 1u : (size_t)c.batch);
    const size_t bytes = count * sizeof(float);

    float *ref = calloc(count, sizeof(float));
    float *got = malloc(bytes + 2 * GUARD_BYTES);
    ck_assert(ref && got);
    clssd_ref_args a;
    ref_args_for(&c, &a, ref);
    double t0 = test_now_ms();
    ck_assert_int_eq(d->forward_ref(&a), CLSSD_OK);
    double t_ref = test_now_ms() - t0;

    /* A convolution is checked in every algorithm that can run it (clssd_conv_algo), so the
     * per-device choice of the tuner can never pick an unchecked path. */
    clssd_node *cn = &c.g.nodes[c.node];
    const int n_algo = n->op == CLSSD_OP_CONV2D ? CLSSD_CONV_ALGO_COUNT : 1;
    for (int algo = n->op == CLSSD_OP_CONV2D ? 1 : 0; algo < n_algo; algo++) {
        if (n->op == CLSSD_OP_CONV2D && !clssd__conv2d_algo_ok(&c.g, cn, algo)) continue;
        cn->algo = (uint8_t)algo;
        char variant[32] = "";
        if (n->op == CLSSD_OP_CONV2D)
            snprintf(variant, sizeof variant, " [%s]", clssd__conv2d_algo_name(algo));
        clssd_exec *ex = NULL;
        clssd_status s = clssd__exec_create(g_ctx, &c.g, c.batch, &ex);
        ck_assert_msg(s == CLSSD_OK, "[%s] %s%s: exec_create -> %s: %s", dev, c.label, variant,
                      clssd_status_string(s), clssd_last_error(g_ctx));
        ex->batch = c.batch;
        for (int i = 0; i < n->n_src; i++) {
            const clssd_node *sn = &c.g.nodes[n->src[i]];
            size_t sb = clssd__shape_count(&sn->out) * (sn->batch_const ? 1u : (size_t)c.batch) * sizeof(float);
            ck_assert_int_eq(clEnqueueWriteBuffer(g_ctx->queue, ex->bufs[n->src[i]], CL_TRUE, 0, sb,
                                                  c.src_data[i], 0, NULL, NULL), CL_SUCCESS);
        }
        if (n->op == CLSSD_OP_PREPROCESS) ck_assert_int_eq(upload_images(ex, &c), CLSSD_OK);

        /* Output framed by guard zones of a NaN pattern; a kernel writing out of bounds shows. */
        cl_mem framed = NULL, inner = NULL;
        ck_assert_int_eq(clssd__buffer(g_ctx, bytes + 2 * GUARD_BYTES, CL_MEM_READ_WRITE, &framed), CLSSD_OK);
        uint32_t *pat = (uint32_t *)got;
        for (size_t k = 0; k < (bytes + 2 * GUARD_BYTES) / 4; k++) pat[k] = 0x7FC0DEADu;
        ck_assert_int_eq(clEnqueueWriteBuffer(g_ctx->queue, framed, CL_TRUE, 0, bytes + 2 * GUARD_BYTES, got, 0, NULL, NULL), CL_SUCCESS);
        cl_buffer_region region = {GUARD_BYTES, bytes};
        cl_int e = CL_SUCCESS;
        inner = clCreateSubBuffer(framed, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION, &region, &e);
        ck_assert_int_eq(e, CL_SUCCESS);
        clReleaseMemObject(ex->bufs[c.node]);
        ex->bufs[c.node] = inner;

        t0 = test_now_ms();
        s = d->forward_cl(ex, n);
        ck_assert_msg(s == CLSSD_OK, "[%s] %s%s: forward_cl -> %s: %s", dev, c.label, variant,
                      clssd_status_string(s), clssd_last_error(g_ctx));
        ck_assert_int_eq(clFinish(g_ctx->queue), CL_SUCCESS);
        double t_cl = test_now_ms() - t0;
        ck_assert_int_eq(clEnqueueReadBuffer(g_ctx->queue, framed, CL_TRUE, 0, bytes + 2 * GUARD_BYTES, got, 0, NULL, NULL), CL_SUCCESS);
        for (size_t k = 0; k < GUARD_BYTES / 4; k++) {
            ck_assert_msg(pat[k] == 0x7FC0DEADu, "[%s] %s%s: write before the output (guard word %zu)", dev, c.label, variant, k);
            ck_assert_msg(pat[(GUARD_BYTES + bytes) / 4 + k] == 0x7FC0DEADu,
                          "[%s] %s%s: write past the output (guard word %zu)", dev, c.label, variant, k);
        }
        const float *out = got + GUARD_BYTES / 4;
        if (n->op == CLSSD_OP_NMS) {
            compare_nms(&c, ref, out, dev);
        } else {
            char msg[256];
            double nmse = 0;
            long worst = compare_floats(ref, out, count, d->tol_abs, d->tol_rel, &nmse, msg, sizeof msg);
            ck_assert_msg(worst < 0, "[%s] %s%s: %zu values, NMSE %.3g, %s", dev, c.label, variant, count, nmse, msg);
        }
        printf("  %-28s ok  ref %8.1f ms  device %8.1f ms%s\n", c.label, t_ref, t_cl, variant);
        clssd__exec_destroy(ex);
        clReleaseMemObject(framed);
    }
    free(ref);
    free(got);
    op_case_free(&c);
}
END_TEST

/* The op table itself: every row complete (a new op cannot be added half-way). */
START_TEST(test_op_table_complete)
{
    for (int i = 0; i < CLSSD_OP_COUNT; i++) {
        const clssd_op_desc *d = &clssd__ops[i];
        ck_assert_msg(d->name && d->infer && d->forward_cl && d->forward_ref, "op %d incomplete", i);
        ck_assert_int_eq(clssd__op_from_name(d->name), i);
    }
    /* and every op except INPUT has at least one case */
    for (int op = 1; op < CLSSD_OP_COUNT; op++) {
        int found = 0;
        for (int k = 0; k < op_case_count() && !found; k++) found = op_case_op(k) == (clssd_op)op;
        ck_assert_msg(found, "op %s has no test case", clssd__ops[op].name);
    }
}
END_TEST

static void add_ops(TCase *tc) { tcase_add_loop_test(tc, test_op_vs_ref, 0, op_case_count()); }

int main(void)
{
    int failed = 0;
    {
        Suite *s = suite_create("op_table");
        TCase *tc = tcase_create("table");
        tcase_add_test(tc, test_op_table_complete);
        suite_add_tcase(s, tc);
        SRunner *sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed += srunner_ntests_failed(sr);
        srunner_free(sr);
    }
    const int dev_failed = test_run_per_device("ops_vs_reference", add_ops, 1200, &g_ctx, "device tests");
    if (dev_failed < 0) return failed ? 1 : 77;
    failed += dev_failed;
    return failed ? 1 : 0;
}
