/* Whole networks: SSD300 and SSD512 (VGG16) structure, and the device forward against the
 * plain-C reference forward with random weights, through the public detect API. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "per_device.h"
#include "testutil.h"

static clssd_context *g_ctx;

static void build(clssd_graph *g, int size, int classes)
{
    clssd_ssd_params p;
    clssd_ssd_params_init(&p, size, classes);
    char err[256] = "";
    clssd__graph_init(g);
    ck_assert_msg(clssd__ssd_vgg_build(&p, g, err, sizeof err) == CLSSD_OK, "%s", err);
    ck_assert_msg(clssd__graph_infer(g, err, sizeof err) == CLSSD_OK, "%s", err);
}

static const clssd_node *node(const clssd_graph *g, const char *name)
{
    int32_t i = clssd__graph_find_node(g, name);
    ck_assert_msg(i >= 0, "no node %s", name);
    return &g->nodes[i];
}

/* N1 and P1 of the conformance list: feature-map sizes and default-box counts. */
START_TEST(test_ssd300_structure)
{
    clssd_graph g;
    build(&g, 300, 21);
    static const char *src[6] = {"conv4_3_norm", "fc7", "conv6_2", "conv7_2", "conv8_2", "conv9_2"};
    static const int size[6] = {38, 19, 10, 5, 3, 1}, per[6] = {4, 6, 6, 6, 4, 4};
    int total = 0;
    for (int i = 0; i < 6; i++) {
        const clssd_node *n = node(&g, src[i]);
        ck_assert_int_eq(n->out.h, size[i]);
        ck_assert_int_eq(n->out.w, size[i]);
        char name[80];
        snprintf(name, sizeof name, "%s_mbox_priorbox", src[i]);
        const clssd_node *pb = node(&g, name);
        ck_assert_int_eq(clssd__prior_per_cell(pb), per[i]);
        ck_assert_int_eq(pb->out.h, size[i] * size[i] * per[i] * 4);
        total += size[i] * size[i] * per[i];
    }
    ck_assert_int_eq(total, 8732);
    ck_assert_int_eq(node(&g, "mbox_priorbox")->out.h, 8732 * 4);
    ck_assert_int_eq(node(&g, "mbox_conf")->out.c, 8732 * 21);
    ck_assert_int_eq(node(&g, "pool3")->out.h, 38); /* ceil: 75 -> 38 */
    ck_assert_int_eq(node(&g, "pool5")->out.h, 19); /* 3x3 s1 p1 */
    ck_assert_int_eq(node(&g, "fc6")->p.conv.dh, 6);
    ck_assert_int_eq(node(&g, "fc6")->out.c, 1024);
    clssd__graph_free(&g);
}
END_TEST

START_TEST(test_ssd512_structure)
{
    clssd_graph g;
    build(&g, 512, 81);
    static const char *src[7] = {"conv4_3_norm", "fc7", "conv6_2", "conv7_2", "conv8_2", "conv9_2", "conv10_2"};
    static const int size[7] = {64, 32, 16, 8, 4, 2, 1}, per[7] = {4, 6, 6, 6, 6, 4, 4};
    int total = 0;
    for (int i = 0; i < 7; i++) {
        ck_assert_int_eq(node(&g, src[i])->out.h, size[i]);
        total += size[i] * size[i] * per[i];
    }
    ck_assert_int_eq(total, 24564);
    ck_assert_int_eq(node(&g, "mbox_priorbox")->out.h, 24564 * 4);
    ck_assert_int_eq(node(&g, "mbox_conf")->out.c, 24564 * 81);
    clssd__graph_free(&g);
}
END_TEST

/* A deterministic, textured test picture (no file I/O in unit tests). */
static uint8_t *make_image(int w, int h, int stride, uint64_t seed)
{
    uint8_t *p = malloc((size_t)stride * (size_t)h);
    clssd_rng r;
    clssd__rng_seed(&r, seed);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                int v = (x * (c + 1) * 3 + y * (3 - c) * 2) % 256;
                v = v / 2 + (int)(clssd__rng_u64(&r) >> 57);
                p[(size_t)y * (size_t)stride + (size_t)x * 3 + (size_t)c] = (uint8_t)v;
            }
    return p;
}

static float iou(const float *a, const float *b)
{
    float iw = fminf(a[2], b[2]) - fmaxf(a[0], b[0]), ih = fminf(a[3], b[3]) - fmaxf(a[1], b[1]);
    if (iw <= 0 || ih <= 0) return 0;
    float in = iw * ih;
    return in / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - in);
}

static float *read_node(clssd_model *m, const char *name, size_t *count)
{
    int32_t i = clssd__graph_find_node(&m->g, name);
    ck_assert(i >= 0);
    const clssd_node *n = &m->g.nodes[i];
    size_t c = clssd__shape_count(&n->out) * (n->batch_const ? 1u : (size_t)m->ex->batch);
    float *p = malloc(c * sizeof(float));
    ck_assert_int_eq(clEnqueueReadBuffer(g_ctx->queue, m->ex->bufs[i], CL_TRUE, 0, c * sizeof(float), p, 0, NULL, NULL), CL_SUCCESS);
    *count = c;
    return p;
}

/* Device forward vs plain-C forward, SSD300 (batch 2) and SSD512 (batch 1), msra weights so
 * that random activations neither vanish nor saturate. */
static void run_e2e(int size, int classes, int batch)
{
    const char *dev = g_ctx->info.device_name;
    clssd_ssd_params sp;
    clssd_ssd_params_init(&sp, size, classes);
    sp.init = CLSSD_INIT_MSRA;
    sp.seed = 7;
    clssd_graph g;
    char err[256] = "";
    clssd__graph_init(&g);
    ck_assert_msg(clssd__ssd_vgg_build(&sp, &g, err, sizeof err) == CLSSD_OK, "%s", err);
    clssd__graph_init_weights(&g, sp.seed, sp.init);
    /* MSRA keeps the base's activations alive but leaves the heads' outputs at rms ~75:
     * one-hot scores of exactly 1.0 and boxes of exp(15). Scaling the head weights gives
     * logits like a trained SSD's (rms of a few units), where the comparison means something. */
    for (int32_t i = 0; i < g.n_nodes; i++)
        if (strstr(g.nodes[i].name, "_mbox_loc") || strstr(g.nodes[i].name, "_mbox_conf")) {
            if (g.nodes[i].op != CLSSD_OP_CONV2D) continue;
            clssd_tensor *w = &g.tensors[g.nodes[i].weight];
            const size_t cnt = clssd__shape_count(&w->shape);
            for (size_t k = 0; k < cnt; k++) w->data[k] *= 0.04f;
        }
    clssd_model *m = NULL;
    clssd_status s = clssd__model_from_graph(g_ctx, &g, &m);
    ck_assert_msg(s == CLSSD_OK, "[%s] create ssd%d: %s", dev, size, clssd_last_error(g_ctx));

    clssd_image imgs[2];
    static const int dims[2][2] = {{400, 333}, {256, 512}};
    for (int b = 0; b < batch; b++)
        imgs[b] = (clssd_image){make_image(dims[b][0], dims[b][1], dims[b][0] * 3 + 4, 11u + (uint64_t)b),
                                dims[b][0], dims[b][1], dims[b][0] * 3 + 4};
    clssd_detect_params dp;
    clssd_detect_params_init(&dp);
    clssd_detection dets[2 * 200];
    size_t counts[2] = {0}, total = 0;
    double t0 = test_now_ms();
    s = clssd_detect_batch(m, imgs, (size_t)batch, &dp, dets, 400, counts, &total);
    double t_dev = test_now_ms() - t0;
    ck_assert_msg(s == CLSSD_OK, "[%s] detect: %s", dev, clssd_last_error(g_ctx));

    t0 = test_now_ms();
    float **ref = NULL;
    ck_assert_int_eq(clssd__ref_forward(&m->g, batch, imgs, NULL, &ref), CLSSD_OK);
    double t_ref = test_now_ms() - t0;

    /* 1. head outputs (the network's logits) within tolerance */
    static const char *heads[2] = {"mbox_loc", "mbox_conf"};
    for (int h = 0; h < 2; h++) {
        size_t n = 0;
        float *got = read_node(m, heads[h], &n);
        const float *r = ref[clssd__graph_find_node(&m->g, heads[h])];
        double rms = 0;
        for (size_t k = 0; k < n; k++) rms += (double)r[k] * r[k];
        rms = sqrt(rms / (double)n);
        char msg[256];
        double nmse = 0;
        long worst = compare_floats(r, got, n, (float)(2e-4 * rms), 1e-3f, &nmse, msg, sizeof msg);
        printf("  ssd%d %s: %zu values, rms %.3g, NMSE %.3g\n", size, heads[h], n, rms, nmse);
        ck_assert_msg(worst < 0, "[%s] ssd%d %s: NMSE %.3g, %s", dev, size, heads[h], nmse, msg);
        ck_assert_msg(rms > 0.5 && rms < 20, "ssd%d %s: logits rms %g is not like a trained net's", size, heads[h], rms);
        free(got);
    }

    /* 2. device post-processing == reference post-processing on the device's own inputs */
    const clssd_node *nms = &m->g.nodes[m->g.output];
    size_t nb = 0, nc = 0, no = 0;
    float *boxes = read_node(m, m->g.nodes[nms->src[0]].name, &nb);
    float *conf = read_node(m, m->g.nodes[nms->src[1]].name, &nc);
    float *out = read_node(m, nms->name, &no);
    float *ref_out = calloc(no, sizeof(float));
    clssd_ref_args a;
    memset(&a, 0, sizeof a);
    a.node = nms;
    a.batch = batch;
    a.n_src = 2;
    a.src[0] = boxes;
    a.src[1] = conf;
    a.src_shape[0] = m->g.nodes[nms->src[0]].out;
    a.src_shape[1] = m->g.nodes[nms->src[1]].out;
    a.dst = ref_out;
    ck_assert_int_eq(clssd__nms_ref(&a), CLSSD_OK);
    const size_t per = (size_t)nms->out.h * 7;
    for (int b = 0; b < batch; b++) {
        ck_assert_msg(out[b * per] == ref_out[b * per], "[%s] ssd%d image %d: %g vs %g detections",
                      dev, size, b, (double)out[b * per], (double)ref_out[b * per]);
        ck_assert_msg(memcmp(out + b * per, ref_out + b * per, ((size_t)out[b * per] + 1) * 7 * sizeof(float)) == 0,
                      "[%s] ssd%d image %d: device NMS differs from the reference", dev, size, b);
        ck_assert_msg(counts[b] == (size_t)out[b * per], "API count %zu vs %g", counts[b], (double)out[b * per]);
    }

    /* 3. the NMS inputs of the two chains (decoded boxes, softmax scores) agree closely */
    for (int k = 0; k < 2; k++) {
        const int32_t id = nms->src[k];
        const float *got = k == 0 ? boxes : conf, *r = ref[id];
        const size_t n = k == 0 ? nb : nc;
        char msg[256];
        double nmse = 0;
        long worst = compare_floats(r, got, n, 1e-5f, 1e-4f, &nmse, msg, sizeof msg);
        ck_assert_msg(worst < 0, "[%s] ssd%d %s: NMSE %.3g, %s", dev, size, m->g.nodes[id].name, nmse, msg);
    }

    /* 4. detections of the full reference chain vs the device, as sets. Not all of them: with
     * random weights a class holds many overlapping boxes whose scores differ in the 7th
     * digit, so a 1-ulp difference upstream reorders two candidates or moves an IoU across
     * 0.45 and greedy NMS cascades. Steps 2 and 3 already pin the device to the reference;
     * this step shows how close the final answers are and fails on systematic errors. */
    const float *rd = ref[m->g.output];
    size_t matched = 0, n_ref = 0, off = 0;
    for (int b = 0; b < batch; b++) {
        const float *rb = rd + b * per;
        const size_t nr = (size_t)rb[0];
        n_ref += nr;
        ck_assert_msg(nr > 0, "ssd%d image %d: reference found nothing", size, b);
        for (size_t k = 1; k <= nr; k++) {
            const float *row = rb + k * 7;
            float box[4];
            for (int j = 0; j < 4; j++) {
                float v = fminf(fmaxf(row[2 + j], 0.0f), 1.0f);
                box[j] = v * (float)(j % 2 ? imgs[b].height : imgs[b].width);
            }
            for (size_t q = 0; q < counts[b]; q++) {
                const clssd_detection *d = &dets[off + q];
                float db[4] = {d->xmin, d->ymin, d->xmax, d->ymax};
                if (d->label == (int32_t)row[0] && fabsf(d->score - row[1]) <= 1e-4f &&
                    iou(box, db) >= 0.999f) {
                    matched++;
                    break;
                }
            }
        }
        off += counts[b];
    }
    printf("  ssd%d batch %d: %zu reference detections, %zu device, %zu matched; "
           "device %.0f ms, reference %.0f ms\n", size, batch, n_ref, total, matched, t_dev, t_ref);
    ck_assert_msg(total == n_ref && matched * 10 >= n_ref * 9,
                  "[%s] ssd%d: %zu of %zu reference detections matched (device has %zu)", dev,
                  size, matched, n_ref, total);

    clssd__ref_outputs_free(&m->g, ref);
    free(boxes);
    free(conf);
    free(out);
    free(ref_out);
    for (int b = 0; b < batch; b++) free((void *)imgs[b].rgb);
    clssd_model_destroy(m);
}

/* A tiny network in the shape of TensorFlow's SSDLite-MobileNetV2: TF legacy resize, "SAME"
 * stride-2 convolutions with the odd padding at the bottom/right and fused ReLU6 (full and
 * depthwise), 1x1 heads, SIGMOID scores, anchors as a CONST in PriorBox layout feeding
 * DECODE. Batch 2 through the public detect call against the reference forward: every node
 * within tolerance, and the device NMS equal to the reference NMS on the device's inputs. */
static int32_t tf_conv(clssd_graph *g, clssd_rng *r, const char *name, int32_t src, int32_t cout,
                       int32_t k, int32_t s, int32_t groups, float relu_max, float wscale)
{
    clssd_op_params p;
    memset(&p, 0, sizeof p);
    const clssd_shape x = g->nodes[src].out;
    /* TF "SAME": out = ceil(in / s), total pad P = (out - 1) s + k - in, floor(P/2) on top */
    const int32_t out = (x.h + s - 1) / s, pad = (out - 1) * s + k - x.h;
    p.conv = (__typeof__(p.conv)){.cout = cout, .kh = k, .kw = k, .sh = s, .sw = s,
                                  .ph = pad / 2, .pw = pad / 2, .ph_extra = pad % 2,
                                  .pw_extra = pad % 2, .dh = 1, .dw = 1, .groups = groups,
                                  .relu = relu_max > 0.0f, .relu_max = relu_max};
    int32_t id = clssd__graph_add(g, name, CLSSD_OP_CONV2D, &p, &src, 1);
    ck_assert_int_ge(id, 0);
    char tn[80];
    snprintf(tn, sizeof tn, "%s.w", name);
    const int32_t cin = x.c / groups;
    int32_t w = clssd__graph_add_tensor(g, tn, (clssd_shape){cout, cin, k, k});
    snprintf(tn, sizeof tn, "%s.b", name);
    int32_t b = clssd__graph_add_tensor(g, tn, (clssd_shape){1, cout, 1, 1});
    ck_assert(w >= 0 && b >= 0);
    const float sd = wscale * sqrtf(2.0f / (float)(cin * k * k));
    for (size_t i = 0; i < clssd__shape_count(&g->tensors[w].shape); i++)
        g->tensors[w].data[i] = sd * clssd__rng_normal(r);
    for (int32_t i = 0; i < cout; i++) g->tensors[b].data[i] = 0.1f * clssd__rng_normal(r);
    g->nodes[id].weight = w;
    g->nodes[id].bias = b;
    char err[256] = "";
    ck_assert_msg(clssd__graph_infer(g, err, sizeof err) == CLSSD_OK, "%s: %s", name, err);
    ck_assert_int_eq(g->nodes[id].out.h, out);
    return id;
}

START_TEST(test_e2e_tf_ssdlite_like)
{
    const char *dev = g_ctx->info.device_name;
    enum { S = 20, A = 3, C = 3 }; /* input size, anchors per cell, classes incl. background */
    clssd_graph g;
    clssd__graph_init(&g);
    clssd_rng r;
    clssd__rng_seed(&r, 99);
    g.pre.pre = (__typeof__(g.pre.pre)){.out_w = S, .out_h = S, .mean = {127.5f, 127.5f, 127.5f},
                                        .scale = 1.0f / 127.5f,
                                        .resize = CLSSD_RESIZE_TF_LEGACY};
    int32_t in = clssd__graph_add(&g, "image", CLSSD_OP_INPUT, NULL, NULL, 0);
    ck_assert_int_ge(in, 0);
    g.nodes[in].out = (clssd_shape){1, 3, S, S};
    char err[256] = "";
    ck_assert_msg(clssd__graph_infer(&g, err, sizeof err) == CLSSD_OK, "%s", err);
    int32_t c1 = tf_conv(&g, &r, "conv1", in, 8, 3, 2, 1, 6.0f, 1.0f);      /* 20 -> 10 */
    int32_t dw = tf_conv(&g, &r, "dw2", c1, 8, 3, 2, 8, 6.0f, 1.0f);        /* 10 -> 5 */
    int32_t loc = tf_conv(&g, &r, "box", dw, A * 4, 1, 1, 1, 0.0f, 0.1f);   /* linear */
    int32_t cls = tf_conv(&g, &r, "cls", dw, A * C, 1, 1, 1, 0.0f, 0.5f);
    clssd_op_params p;
    memset(&p, 0, sizeof p);
    int32_t lp = clssd__graph_add(&g, "box_perm", CLSSD_OP_PERMUTE, &p, &loc, 1);
    int32_t cp = clssd__graph_add(&g, "cls_perm", CLSSD_OP_PERMUTE, &p, &cls, 1);
    int32_t sg = clssd__graph_add(&g, "scores", CLSSD_OP_SIGMOID, &p, &cp, 1);
    /* anchors [1, 2, P*4, 1]: boxes around the 5x5 cell centres, then variances */
    const int32_t P = 5 * 5 * A;
    int32_t t = clssd__graph_add_tensor(&g, "anchors", (clssd_shape){1, 2, P * 4, 1});
    ck_assert(lp >= 0 && cp >= 0 && sg >= 0 && t >= 0);
    float *an = g.tensors[t].data;
    for (int32_t i = 0; i < P; i++) {
        const float cx = ((float)((i / A) % 5) + 0.5f) / 5.0f, cy = ((float)(i / A / 5) + 0.5f) / 5.0f;
        const float half = 0.1f * (float)(i % A + 1);
        const float box[4] = {cx - half, cy - half, cx + half, cy + half},
                    var[4] = {0.1f, 0.1f, 0.2f, 0.2f};
        memcpy(an + 4 * i, box, sizeof box);
        memcpy(an + 4 * P + 4 * i, var, sizeof var);
    }
    int32_t ac = clssd__graph_add(&g, "anchors", CLSSD_OP_CONST, &p, NULL, 0);
    ck_assert_int_ge(ac, 0);
    g.nodes[ac].weight = t;
    const int32_t dsrc[2] = {lp, ac};
    int32_t dc = clssd__graph_add(&g, "decode", CLSSD_OP_DECODE, &p, dsrc, 2);
    p.nms = (__typeof__(p.nms)){.n_classes = C, .background = 0, .top_k = 100,
                                .keep_top_k = 20, .conf_thresh = 0.3f, .nms_thresh = 0.6f};
    const int32_t nsrc[2] = {dc, sg};
    int32_t ns = clssd__graph_add(&g, "nms", CLSSD_OP_NMS, &p, nsrc, 2);
    ck_assert(dc >= 0 && ns >= 0);
    g.input = in;
    g.output = ns;

    clssd_model *m = NULL;
    clssd_status st = clssd__model_from_graph(g_ctx, &g, &m);
    ck_assert_msg(st == CLSSD_OK, "[%s] tiny TF SSD: %s", dev, clssd_last_error(g_ctx));
    ck_assert(m->g.nodes[ac].batch_const && !m->g.nodes[sg].batch_const);

    clssd_image imgs[2];
    static const int dims[2][2] = {{61, 47}, {15, 20}}; /* downscale, upscale */
    for (int b = 0; b < 2; b++)
        imgs[b] = (clssd_image){make_image(dims[b][0], dims[b][1], dims[b][0] * 3, 5u + (uint64_t)b),
                                dims[b][0], dims[b][1], dims[b][0] * 3};
    clssd_detect_params dp;
    clssd_model_detect_params(m, &dp);
    clssd_detection dets[40];
    size_t counts[2] = {0}, total = 0;
    st = clssd_detect_batch(m, imgs, 2, &dp, dets, 40, counts, &total);
    ck_assert_msg(st == CLSSD_OK, "[%s] detect: %s", dev, clssd_last_error(g_ctx));

    float **ref = NULL;
    ck_assert_int_eq(clssd__ref_forward(&m->g, 2, imgs, NULL, &ref), CLSSD_OK);
    for (int32_t i = 0; i < m->g.n_nodes; i++) {
        if (i == m->g.output) continue;
        size_t n = 0;
        float *got = read_node(m, m->g.nodes[i].name, &n);
        char msg[256];
        double nmse = 0;
        long worst = compare_floats(ref[i], got, n, 1e-4f, 1e-3f, &nmse, msg, sizeof msg);
        ck_assert_msg(worst < 0, "[%s] tiny TF SSD node %s: NMSE %.3g, %s", dev,
                      m->g.nodes[i].name, nmse, msg);
        free(got);
    }
    /* the device NMS against the reference NMS on the device's own boxes and scores */
    const clssd_node *nms = &m->g.nodes[m->g.output];
    size_t nb = 0, nc = 0, no = 0;
    float *boxes = read_node(m, "decode", &nb), *conf = read_node(m, "scores", &nc);
    float *out = read_node(m, "nms", &no), *ref_out = calloc(no, sizeof(float));
    clssd_ref_args a;
    memset(&a, 0, sizeof a);
    a.node = nms;
    a.batch = 2;
    a.n_src = 2;
    a.src[0] = boxes;
    a.src[1] = conf;
    a.src_shape[0] = m->g.nodes[nms->src[0]].out;
    a.src_shape[1] = m->g.nodes[nms->src[1]].out;
    a.dst = ref_out;
    ck_assert_int_eq(clssd__nms_ref(&a), CLSSD_OK);
    const size_t per = (size_t)nms->out.h * 7;
    for (int b = 0; b < 2; b++) {
        const size_t cnt = (size_t)out[b * per];
        ck_assert_msg(cnt > 0 && cnt == counts[b], "[%s] image %d: %zu detections, API %zu",
                      dev, b, cnt, counts[b]);
        ck_assert_msg(memcmp(out + b * per, ref_out + b * per, (cnt + 1) * 7 * sizeof(float)) == 0,
                      "[%s] image %d: device NMS differs from the reference", dev, b);
    }
    printf("  tiny TF SSD batch 2: %zu + %zu detections\n", counts[0], counts[1]);
    clssd__ref_outputs_free(&m->g, ref);
    free(boxes);
    free(conf);
    free(out);
    free(ref_out);
    for (int b = 0; b < 2; b++) free((void *)imgs[b].rgb);
    clssd_model_destroy(m);
}
END_TEST

START_TEST(test_e2e_ssd300_voc)
{
    run_e2e(300, 21, 2);
}
END_TEST

START_TEST(test_e2e_ssd512_coco)
{
    run_e2e(512, 81, 1);
}
END_TEST

static void add_e2e(TCase *tc)
{
    tcase_add_test(tc, test_e2e_tf_ssdlite_like);
    tcase_add_test(tc, test_e2e_ssd300_voc);
    tcase_add_test(tc, test_e2e_ssd512_coco);
}

int main(void)
{
    int failed = 0;
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("structure");
    tcase_add_test(tc, test_ssd300_structure);
    tcase_add_test(tc, test_ssd512_structure);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed += srunner_ntests_failed(sr);
    srunner_free(sr);

    const int dev_failed = test_run_per_device("end_to_end", add_e2e, 2400, &g_ctx, "end-to-end tests");
    if (dev_failed < 0) return failed ? 1 : 77;
    failed += dev_failed;
    return failed ? 1 : 0;
}
