/* Caffe import: every shared deploy net converts; a random-weight VGG SSD300 written as a
 * real .caffemodel imports to exactly the network the builder makes; bad files and
 * unsupported layers give errors that name the layer or blob. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "caffe.h"
#include "testutil.h"

static clssd_context *g_ctx;
static int g_have_device;

static const char *shared_path(const char *rel)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/models/%s", CLSSD_SHARED_DIR, rel);
    return buf[k];
}

/* ---- a minimal protobuf writer, for caffemodels made by the test ---- */
typedef struct pbuf {
    uint8_t *p;
    size_t n, cap;
} pbuf;

static void put(pbuf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void varint(pbuf *b, uint64_t v)
{
    uint8_t t[10];
    size_t n = 0;
    do {
        t[n] = (uint8_t)(v & 0x7F);
        v >>= 7;
        if (v) t[n] |= 0x80;
        n++;
    } while (v);
    put(b, t, n);
}
static void key(pbuf *b, unsigned field, unsigned wire)
{
    varint(b, (uint64_t)field << 3 | wire);
}
static void bytes_field(pbuf *b, unsigned field, const void *d, size_t n)
{
    key(b, field, 2);
    varint(b, n);
    put(b, d, n);
}
/* BlobProto { shape = 7 { dim = 1 (packed) }, data = 5 (packed float) } */
static void blob(pbuf *layer, const int64_t *dims, int nd, const float *data, size_t count)
{
    pbuf s = {0}, bl = {0};
    pbuf d = {0};
    for (int i = 0; i < nd; i++) varint(&d, (uint64_t)dims[i]);
    bytes_field(&s, 1, d.p, d.n);
    bytes_field(&bl, 7, s.p, s.n);
    uint8_t *le = malloc(count * 4 + 1);
    for (size_t i = 0; i < count; i++) {
        uint32_t u;
        memcpy(&u, &data[i], 4);
        for (int k = 0; k < 4; k++) le[4 * i + (size_t)k] = (uint8_t)(u >> (8 * k));
    }
    bytes_field(&bl, 5, le, count * 4);
    bytes_field(layer, 7, bl.p, bl.n);
    free(le);
    free(s.p);
    free(d.p);
    free(bl.p);
}

/* Writes the builder's weights as NetParameter { layer = 100 { name = 1, blobs = 7 } }, with
 * Caffe's layer names. wrong_blob names a layer whose first blob gets one value too few. */
static void write_caffemodel(const clssd_graph *g, const char *path, const char *wrong_blob)
{
    pbuf net = {0};
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const clssd_node *n = &g->nodes[i];
        if (n->weight < 0) continue;
        pbuf layer = {0};
        bytes_field(&layer, 1, n->name, strlen(n->name));
        const clssd_tensor *w = &g->tensors[n->weight];
        size_t cnt = clssd__shape_count(&w->shape);
        if (n->op == CLSSD_OP_CONV2D) {
            int64_t d[4] = {w->shape.n, w->shape.c, w->shape.h, w->shape.w};
            int short_by = wrong_blob && !strcmp(wrong_blob, n->name);
            blob(&layer, d, 4, w->data, cnt - (size_t)short_by);
            if (n->bias >= 0) {
                int64_t db[1] = {w->shape.n};
                blob(&layer, db, 1, g->tensors[n->bias].data, (size_t)w->shape.n);
            }
        } else {
            int64_t d[1] = {(int64_t)cnt};
            blob(&layer, d, 1, w->data, cnt);
        }
        bytes_field(&net, 100, layer.p, layer.n);
        free(layer.p);
    }
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(net.p, 1, net.n, f), net.n);
    fclose(f);
    free(net.p);
}

/* weights NULL: seeded random weights of the right shapes */
static clssd_status import_files(const char *deploy, const char *weights, clssd_graph *g,
                                 char *err, size_t err_size)
{
    clssd__graph_init(g);
    return caffe_load_graph(deploy, weights, NULL, NULL, 1, g, err, err_size);
}

static clssd_status import_text(const char *text, clssd_graph *g, char *err, size_t err_size)
{
    caffe_msg *d = NULL;
    clssd__graph_init(g);
    clssd_status s = caffe_parse_text(text, strlen(text), &d, err, err_size);
    if (s == CLSSD_OK) s = caffe_import(d, NULL, NULL, g, err, err_size);
    if (s == CLSSD_OK) s = clssd__graph_infer(g, err, err_size);
    caffe_msg_free(d);
    if (s != CLSSD_OK) clssd__graph_free(g);
    return s;
}

static const clssd_node *nnode(const clssd_graph *g, const char *name)
{
    int32_t i = clssd__graph_find_node(g, name);
    ck_assert_msg(i >= 0, "no node '%s'", name);
    return &g->nodes[i];
}

/* Each layer type's parameters land where they should (hand-written nets, no weights). */
START_TEST(test_layer_types)
{
    static const char *net =
        "name: \"every_layer\"\n"
        "layer { name: \"in\" type: \"Input\" top: \"data\" input_param { shape { dim: 1 dim: 3 dim: 40 dim: 48 } } }\n"
        "layer { name: \"c1\" type: \"Convolution\" bottom: \"data\" top: \"c1\" convolution_param { num_output: 8 kernel_h: 3 kernel_w: 5 stride: 2 pad_h: 1 pad_w: 2 dilation: 1 } }\n"
        "layer { name: \"r1\" type: \"ReLU\" bottom: \"c1\" top: \"c1\" }\n"
        "layer { name: \"dw\" type: \"Convolution\" bottom: \"c1\" top: \"dw\" convolution_param { num_output: 8 group: 8 kernel_size: 3 pad: 2 dilation: 2 bias_term: false } }\n"
        "layer { name: \"leaky\" type: \"ReLU\" bottom: \"dw\" top: \"leaky\" relu_param { negative_slope: 0.1 } }\n"
        "layer { name: \"bn\" type: \"BatchNorm\" bottom: \"leaky\" top: \"bn\" batch_norm_param { eps: 0.001 } }\n"
        "layer { name: \"sc\" type: \"Scale\" bottom: \"bn\" top: \"bn\" scale_param { bias_term: true } }\n"
        "layer { name: \"drop\" type: \"Dropout\" bottom: \"bn\" top: \"bn\" }\n"
        "layer { name: \"split\" type: \"Split\" bottom: \"bn\" top: \"s1\" top: \"s2\" }\n"
        "layer { name: \"sum\" type: \"Eltwise\" bottom: \"s1\" bottom: \"s2\" top: \"sum\" eltwise_param { operation: SUM coeff: 1 coeff: -1 } }\n"
        "layer { name: \"mx\" type: \"Eltwise\" bottom: \"sum\" bottom: \"s1\" top: \"mx\" eltwise_param { operation: MAX } }\n"
        "layer { name: \"ave\" type: \"Pooling\" bottom: \"mx\" top: \"ave\" pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 } }\n"
        "layer { name: \"gp\" type: \"Pooling\" bottom: \"ave\" top: \"gp\" pooling_param { pool: MAX global_pooling: true } }\n"
        "layer { name: \"norm\" type: \"Normalize\" bottom: \"ave\" top: \"norm\" }\n"
        "layer { name: \"cat\" type: \"Concat\" bottom: \"norm\" bottom: \"ave\" top: \"cat\" }\n"
        "layer { name: \"loc\" type: \"Convolution\" bottom: \"cat\" top: \"loc\" convolution_param { num_output: 24 kernel_size: 3 pad: 1 } }\n"
        "layer { name: \"loc_perm\" type: \"Permute\" bottom: \"loc\" top: \"loc_perm\" permute_param { order: 0 order: 2 order: 3 order: 1 } }\n"
        "layer { name: \"loc_flat\" type: \"Flatten\" bottom: \"loc_perm\" top: \"loc_flat\" flatten_param { axis: 1 } }\n"
        "layer { name: \"conf\" type: \"Convolution\" bottom: \"cat\" top: \"conf\" convolution_param { num_output: 18 kernel_size: 3 pad: 1 } }\n"
        "layer { name: \"conf_perm\" type: \"Permute\" bottom: \"conf\" top: \"conf_perm\" permute_param { order: 0 order: 2 order: 3 order: 1 } }\n"
        "layer { name: \"conf_flat\" type: \"Flatten\" bottom: \"conf_perm\" top: \"conf_flat\" }\n"
        "layer { name: \"pb\" type: \"PriorBox\" bottom: \"cat\" bottom: \"data\" top: \"pb\" prior_box_param { min_size: 10 min_size: 20 max_size: 15 max_size: 30 aspect_ratio: 2 flip: false clip: true variance: 0.1 step_h: 7 step_w: 9 offset: 0 img_h: 40 img_w: 48 } }\n"
        "layer { name: \"pbs\" type: \"Concat\" bottom: \"pb\" top: \"pbs\" concat_param { axis: 2 } }\n"
        "layer { name: \"conf_r\" type: \"Reshape\" bottom: \"conf_flat\" top: \"conf_r\" reshape_param { shape { dim: 0 dim: -1 dim: 3 } } }\n"
        "layer { name: \"conf_sm\" type: \"Softmax\" bottom: \"conf_r\" top: \"conf_sm\" softmax_param { axis: 2 } }\n"
        "layer { name: \"conf_out\" type: \"Flatten\" bottom: \"conf_sm\" top: \"conf_out\" }\n"
        "layer { name: \"det\" type: \"DetectionOutput\" bottom: \"loc_flat\" bottom: \"conf_out\" bottom: \"pbs\" top: \"det\" include { phase: TEST }\n"
        "  detection_output_param { num_classes: 3 background_label_id: 0 share_location: true code_type: CENTER_SIZE keep_top_k: 7 nms_param { nms_threshold: 0.3 top_k: 11 } } }\n"
        "layer { name: \"train_only\" type: \"SoftmaxWithLoss\" bottom: \"conf_out\" top: \"loss\" include { phase: TRAIN } }\n";
    clssd_graph g;
    char err[512] = "";
    ck_assert_msg(import_text(net, &g, err, sizeof err) == CLSSD_OK, "%s", err);
    const clssd_node *c1 = nnode(&g, "c1");
    ck_assert_int_eq(c1->p.conv.kh, 3);
    ck_assert_int_eq(c1->p.conv.kw, 5);
    ck_assert_int_eq(c1->p.conv.ph, 1);
    ck_assert_int_eq(c1->p.conv.pw, 2);
    ck_assert_int_eq(c1->p.conv.sh, 2);
    ck_assert_int_eq(c1->p.conv.relu, 1); /* in-place ReLU fused */
    ck_assert_int_eq(c1->out.h, 20);
    ck_assert_int_eq(c1->out.w, 24);
    const clssd_node *dw = nnode(&g, "dw");
    ck_assert_int_eq(dw->p.conv.groups, 8);
    ck_assert_int_eq(dw->p.conv.dh, 2);
    ck_assert_int_eq(dw->bias, -1);
    ck_assert_int_eq(dw->p.conv.relu, 0);
    const clssd_node *lk = nnode(&g, "leaky");
    ck_assert_int_eq(lk->op, CLSSD_OP_RELU);
    ck_assert_float_eq(lk->p.relu.negative_slope, 0.1f);
    /* BatchNorm after a ReLU cannot fold into a convolution: one SCALE, and Scale folds into it */
    const clssd_node *bn = nnode(&g, "bn");
    ck_assert_int_eq(bn->op, CLSSD_OP_SCALE);
    ck_assert_int_lt(clssd__graph_find_node(&g, "sc"), 0);
    ck_assert_float_eq_tol(g.tensors[bn->weight].data[0], 1.0f / sqrtf(1.001f), 1e-6f);
    const clssd_node *sum = nnode(&g, "sum");
    ck_assert_int_eq(sum->op, CLSSD_OP_ELTWISE);
    ck_assert_int_eq(sum->p.eltwise.method, CLSSD_ELTWISE_SUM);
    ck_assert_float_eq(sum->p.eltwise.coeff[1], -1.0f);
    ck_assert_int_eq(sum->src[0], sum->src[1]); /* Split and Dropout are aliases */
    ck_assert_int_eq(nnode(&g, "mx")->p.eltwise.method, CLSSD_ELTWISE_MAX);
    const clssd_node *ave = nnode(&g, "ave");
    ck_assert_int_eq(ave->p.pool.method, CLSSD_POOL_AVE);
    ck_assert_int_eq(ave->p.pool.ph, 1);
    ck_assert_int_eq(nnode(&g, "gp")->out.h, 1);
    const clssd_node *norm = nnode(&g, "norm");
    ck_assert_int_eq(norm->p.l2norm.across_spatial, 1); /* proto defaults (N2) */
    ck_assert_int_eq(norm->p.l2norm.channel_shared, 1);
    ck_assert_float_eq(norm->p.l2norm.eps, 1e-10f);
    ck_assert_int_eq(nnode(&g, "cat")->out.c, 16); /* channel concat keeps H x W */
    ck_assert_int_eq(nnode(&g, "cat")->out.h, ave->out.h);
    const clssd_node *pb = nnode(&g, "pb");
    ck_assert_int_eq(pb->p.prior.n_min, 2);
    ck_assert_int_eq(pb->p.prior.n_max, 2);
    ck_assert_int_eq(pb->p.prior.flip, 0);
    ck_assert_int_eq(pb->p.prior.clip, 1);         /* P6: explicit clip honoured */
    ck_assert_float_eq(pb->p.prior.step_w, 9.0f);  /* P3: steps and offset copied */
    ck_assert_float_eq(pb->p.prior.step_h, 7.0f);
    ck_assert_float_eq(pb->p.prior.offset, 0.0f);
    ck_assert_int_eq(pb->p.prior.img_w, 48);
    ck_assert_int_eq(pb->p.prior.n_var, 1);        /* P7: one variance, broadcast */
    ck_assert_int_eq(clssd__prior_per_cell(pb), 2 * 2 + 2); /* [1, 2] x 2 mins + 2 max */
    ck_assert_int_eq(nnode(&g, "conf_sm")->p.softmax.group, 3);
    const clssd_node *det = &g.nodes[g.output];
    ck_assert_int_eq(det->op, CLSSD_OP_NMS);
    ck_assert_int_eq(det->p.nms.n_classes, 3);
    ck_assert_int_eq(det->p.nms.top_k, 11);
    ck_assert_int_eq(det->p.nms.keep_top_k, 7);
    ck_assert_float_eq(det->p.nms.nms_thresh, 0.3f);
    ck_assert(det->p.nms.conf_thresh < -1e30f); /* no threshold given: keep all (Caffe) */
    ck_assert_int_eq(g.nodes[det->src[0]].op, CLSSD_OP_DECODE);
    ck_assert_int_lt(clssd__graph_find_node(&g, "train_only"), 0);
    clssd__graph_free(&g);

    /* D1: the proto default code_type is CORNER, which we do not decode: a clear error */
    char *corner = strdup(net);
    char *at = strstr(corner, "code_type: CENTER_SIZE");
    memcpy(at, "code_type: CORNER     ", 22);
    ck_assert_int_eq(import_text(corner, &g, err, sizeof err), CLSSD_ERR_BAD_MODEL);
    ck_assert_msg(strstr(err, "'det'") && strstr(err, "CENTER_SIZE"), "%s", err);
    free(corner);

    /* legacy V1 `layers` with enum types */
    static const char *v1 =
        "input: \"data\" input_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8\n"
        "layers { name: \"c\" type: CONVOLUTION bottom: \"data\" top: \"c\" convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }\n"
        "layers { name: \"r\" type: RELU bottom: \"c\" top: \"c\" }\n"
        "layers { name: \"p\" type: POOLING bottom: \"c\" top: \"p\" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }\n";
    caffe_msg *d = NULL;
    ck_assert_int_eq(caffe_parse_text(v1, strlen(v1), &d, err, sizeof err), CLSSD_OK);
    clssd__graph_init(&g);
    /* no DetectionOutput: the import itself says so, after converting the V1 layers */
    ck_assert_int_eq(caffe_import(d, NULL, NULL, &g, err, sizeof err), CLSSD_ERR_BAD_MODEL);
    ck_assert_msg(strstr(err, "DetectionOutput"), "%s", err);
    ck_assert_int_eq(nnode(&g, "c")->p.conv.relu, 1);
    ck_assert_int_eq(nnode(&g, "p")->out.h, 4);
    clssd__graph_free(&g);
    caffe_msg_free(d);
}
END_TEST

/* MobileNet-SSD (depthwise) and the ResNet-10 face SSD (BatchNorm, Scale, Eltwise) run with
 * random weights, and the device forward equals the plain-C forward. */
START_TEST(test_random_weight_nets_run)
{
    static const char *nets[2] = {"mobilenet_ssd_caffe_defs/MobileNetSSD_deploy_bn.prototxt",
                                  "opencv_face_detector_res10_ssd/res10_300x300_ssd_deploy.prototxt"};
    for (int k = 0; k < 2; k++) {
        clssd_graph g;
        char err[512] = "";
        ck_assert_msg(import_files(shared_path(nets[k]), NULL, &g, err, sizeof err) == CLSSD_OK, "%s", err);
        clssd__graph_init_weights(&g, 3, CLSSD_INIT_XAVIER);
        clssd_model *m = NULL;
        ck_assert_msg(clssd__model_from_graph(g_ctx, &g, &m) == CLSSD_OK, "%s", clssd_last_error(g_ctx));
        const int W = 160, H = 120;
        uint8_t *img = malloc((size_t)W * H * 3);
        for (size_t i = 0; i < (size_t)W * H * 3; i++) img[i] = (uint8_t)((i * 2654435761u) >> 24);
        clssd_image im = {img, W, H, W * 3};
        clssd_detection dets[256];
        size_t n = 0, cnt = 0;
        ck_assert_msg(clssd_detect_batch(m, &im, 1, NULL, dets, 256, &cnt, &n) == CLSSD_OK, "%s", clssd_last_error(g_ctx));
        float **ref = NULL;
        ck_assert_int_eq(clssd__ref_forward(&m->g, 1, &im, NULL, &ref), CLSSD_OK);
        const clssd_node *nms = &m->g.nodes[m->g.output];
        for (int s = 0; s < 2; s++) { /* decoded boxes and class scores */
            const int32_t id = nms->src[s];
            const size_t count = clssd__shape_count(&m->g.nodes[id].out);
            float *got = malloc(count * sizeof(float));
            ck_assert_int_eq(clEnqueueReadBuffer(g_ctx->queue, m->ex->bufs[id], CL_TRUE, 0, count * 4, got, 0, NULL, NULL), CL_SUCCESS);
            char msg[256];
            double nmse = 0;
            long worst = compare_floats(ref[id], got, count, 1e-4f, 1e-3f, &nmse, msg, sizeof msg);
            printf("  %s %s: NMSE %.3g\n", nets[k], m->g.nodes[id].name, nmse);
            ck_assert_msg(worst < 0, "%s %s: %s", nets[k], m->g.nodes[id].name, msg);
            free(got);
        }
        printf("  %s: %zu detections with random weights\n", nets[k], n);
        clssd__ref_outputs_free(&m->g, ref);
        free(img);
        clssd_model_destroy(m);
    }
}
END_TEST

/* Every deploy net in shared/models converts (definitions only: zero weights). */
START_TEST(test_all_deploy_nets_import)
{
    static const struct { const char *path; int classes; int priors; } nets[] = {
        {"ssd_vgg16_caffe_defs/VGG_VOC0712_SSD_300x300_deploy.prototxt", 21, 8732},
        {"ssd_vgg16_caffe_defs/VGG_VOC0712_SSD_300x300_deploy_release_variant.prototxt", 21, 8732},
        {"ssd_vgg16_caffe_defs/VGG_VOC0712_SSD_512x512_deploy.prototxt", 21, 24564},
        {"ssd_vgg16_caffe_defs/VGG_coco_SSD_300x300_deploy.prototxt", 81, 8732},
        {"ssd_vgg16_caffe_defs/VGG_coco_SSD_512x512_deploy.prototxt", 81, 24564},
        {"mobilenet_ssd_caffe_defs/MobileNetSSD_deploy.prototxt", 21, 1917},
        {"mobilenet_ssd_caffe_defs/MobileNetSSD_deploy_bn.prototxt", 21, 1917},
        {"opencv_face_detector_res10_ssd/res10_300x300_ssd_deploy.prototxt", 2, 8732},
        {"yufacedetectnet_caffe_ssd/yufacedetectnet-open-v1.prototxt", 2, -1},
        {"yufacedetectnet_caffe_ssd/yufacedetectnet-open-v2.prototxt", 2, -1},
    };
    for (size_t i = 0; i < sizeof nets / sizeof nets[0]; i++) {
        clssd_graph g;
        char err[512] = "";
        clssd_status s = import_files(shared_path(nets[i].path), NULL, &g, err, sizeof err);
        ck_assert_msg(s == CLSSD_OK, "%s: %s", nets[i].path, err);
        const clssd_node *nms = &g.nodes[g.output];
        ck_assert_int_eq(nms->p.nms.n_classes, nets[i].classes);
        const int priors = (int)(clssd__shape_count(&g.nodes[nms->src[0]].out) / 4);
        if (nets[i].priors > 0)
            ck_assert_msg(priors == nets[i].priors, "%s: %d priors", nets[i].path, priors);
        printf("  %-75s %4d nodes %6d priors\n", nets[i].path, g.n_nodes, priors);
        clssd__graph_free(&g);
    }
}
END_TEST

START_TEST(test_unsupported_and_bad_files)
{
    const char *bad = "/tmp/clssd-bad.prototxt";
    FILE *f = fopen(bad, "w");
    fputs("name: \"x\"\ninput: \"data\"\ninput_shape { dim: 1 dim: 3 dim: 8 dim: 8 }\n"
          "layer { name: \"warp\" type: \"SpatialTransformer\" bottom: \"data\" top: \"t\" }\n", f);
    fclose(f);
    clssd_graph g;
    char err[512] = "";
    ck_assert_int_eq(import_files(bad, NULL, &g, err, sizeof err), CLSSD_ERR_BAD_MODEL);
    ck_assert_msg(strstr(err, "warp") && strstr(err, "SpatialTransformer"), "%s", err);
    f = fopen(bad, "w");
    fputs("input: \"data\"\ninput_shape { dim: 1 dim: 3 dim: 8 dim: 8 }\n"
          "layer { name: \"c\" type: \"Convolution\" bottom: \"nothere\" top: \"c\" "
          "convolution_param { num_output: 2 kernel_size: 3 } }\n", f);
    fclose(f);
    ck_assert_int_eq(import_files(bad, NULL, &g, err, sizeof err), CLSSD_ERR_BAD_MODEL);
    ck_assert_msg(strstr(err, "'c'") && strstr(err, "nothere"), "%s", err);
    remove(bad);
    ck_assert_int_ne(import_files("/nonexistent.prototxt", NULL, &g, err, sizeof err), CLSSD_OK);
}
END_TEST

/* The builder's SSD300 and the reference prototxt + a caffemodel of the builder's weights:
 * the same network, so the same detections, bit for bit. */
START_TEST(test_vgg_ssd300_caffe_equals_builder)
{
    clssd_ssd_params sp;
    clssd_ssd_params_init(&sp, 300, 21);
    sp.init = CLSSD_INIT_MSRA;
    sp.width_div = 1;
    clssd_graph built;
    char err[512] = "";
    clssd__graph_init(&built);
    ck_assert_int_eq(clssd__ssd_vgg_build(&sp, &built, err, sizeof err), CLSSD_OK);
    clssd__graph_init_weights(&built, 5, CLSSD_INIT_MSRA);
    for (int32_t i = 0; i < built.n_nodes; i++) /* trained-like head outputs (see test_model) */
        if (built.nodes[i].op == CLSSD_OP_CONV2D && strstr(built.nodes[i].name, "_mbox_")) {
            clssd_tensor *w = &built.tensors[built.nodes[i].weight];
            for (size_t k = 0; k < clssd__shape_count(&w->shape); k++) w->data[k] *= 0.04f;
        }
    const char *model = "/tmp/clssd-test-vgg300.caffemodel";
    write_caffemodel(&built, model, NULL);

    clssd_graph imported;
    const char *deploy = shared_path("ssd_vgg16_caffe_defs/VGG_VOC0712_SSD_300x300_deploy.prototxt");
    ck_assert_msg(import_files(deploy, model, &imported, err, sizeof err) == CLSSD_OK, "%s", err);
    /* same weights in the same place */
    for (int32_t t = 0; t < built.n_tensors; t++) {
        int32_t u = clssd__graph_find_tensor(&imported, built.tensors[t].name);
        ck_assert_msg(u >= 0, "imported net lacks tensor %s", built.tensors[t].name);
        size_t cnt = clssd__shape_count(&built.tensors[t].shape);
        ck_assert_uint_eq(clssd__shape_count(&imported.tensors[u].shape), cnt);
        ck_assert_msg(memcmp(built.tensors[t].data, imported.tensors[u].data, cnt * 4) == 0,
                      "tensor %s differs", built.tensors[t].name);
    }
    /* Caffe's prior boxes and the builder's agree exactly */
    clssd_node *pa = &built.nodes[clssd__graph_find_node(&built, "mbox_priorbox")];
    const int32_t pbi = clssd__graph_find_node(&imported, "mbox_priorbox");
    ck_assert_int_ge(pbi, 0);
    ck_assert_int_eq(pa->out.h, imported.nodes[pbi].out.h);

    if (g_have_device) {
        imported.pre = built.pre; /* the prototxt carries no preprocessing */
        clssd_model *ma = NULL, *mb = NULL;
        ck_assert_int_eq(clssd__model_from_graph(g_ctx, &built, &ma), CLSSD_OK);
        ck_assert_int_eq(clssd__model_from_graph(g_ctx, &imported, &mb), CLSSD_OK);
        const int W = 320, H = 240;
        uint8_t *img = malloc((size_t)W * H * 3);
        for (size_t k = 0; k < (size_t)W * H * 3; k++) img[k] = (uint8_t)((k * 2654435761u) >> 24);
        clssd_detect_params dp;
        clssd_detect_params_init(&dp); /* the edited deploy file keeps 1000; ask for 200 */
        clssd_detection da[200], db[200];
        size_t na = 0, nb = 0;
        ck_assert_int_eq(clssd_detect(ma, img, W, H, W * 3, &dp, da, 200, &na), CLSSD_OK);
        ck_assert_msg(clssd_detect(mb, img, W, H, W * 3, &dp, db, 200, &nb) == CLSSD_OK, "%s", clssd_last_error(g_ctx));
        printf("  VGG SSD300: builder %zu detections, Caffe import %zu\n", na, nb);
        ck_assert_uint_gt(na, 0);
        ck_assert_uint_eq(na, nb);
        ck_assert_msg(memcmp(da, db, na * sizeof da[0]) == 0, "detections differ");
        free(img);
        clssd_model_destroy(ma);
        clssd_model_destroy(mb);
    } else {
        clssd__graph_free(&built);
        clssd__graph_free(&imported);
    }

    /* a blob one value short: the error names the layer and the blob */
    clssd__graph_init(&built);
    ck_assert_int_eq(clssd__ssd_vgg_build(&sp, &built, err, sizeof err), CLSSD_OK);
    write_caffemodel(&built, model, "conv3_2");
    clssd__graph_free(&built);
    ck_assert_int_eq(import_files(deploy, model, &imported, err, sizeof err), CLSSD_ERR_BAD_MODEL);
    ck_assert_msg(strstr(err, "conv3_2") && strstr(err, "weights"), "%s", err);
    /* truncated caffemodel */
    FILE *f = fopen(model, "r+b");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    ck_assert_int_eq(truncate(model, size / 2), 0);
    ck_assert_int_ne(import_files(deploy, model, &imported, err, sizeof err), CLSSD_OK);
    ck_assert_msg(err[0], "no message for a truncated caffemodel");
    remove(model);
}
END_TEST

/* The public call: the Caffe pair loaded directly detects exactly what the shipped .clssd
 * (converted from the same files) detects; bad arguments and files give clear errors. */
START_TEST(test_public_load_caffe)
{
    clssd_caffe_params cp;
    clssd_caffe_params_init(&cp);
    cp.labelmap_path = CLSSD_SOURCE_DIR "/models/labelmap_face.prototxt";
    clssd_model *a = NULL, *b = NULL;
    const char *deploy = shared_path("yufacedetectnet_caffe_ssd/yufacedetectnet-open-v2.prototxt");
    const char *weights = shared_path("yufacedetectnet_caffe_ssd/yufacedetectnet-open-v2.caffemodel");
    ck_assert_msg(clssd_model_load_caffe(g_ctx, deploy, weights, &cp, &a) == CLSSD_OK, "%s", clssd_last_error(g_ctx));
    ck_assert_msg(clssd_model_load(g_ctx, CLSSD_SOURCE_DIR "/models/yufacedetectnet-v2.clssd", &b) == CLSSD_OK, "%s", clssd_last_error(g_ctx));
    ck_assert_str_eq(clssd_model_label(a, 1), "face");
    const int W = 200, H = 150;
    uint8_t *img = malloc((size_t)W * H * 3);
    for (size_t i = 0; i < (size_t)W * H * 3; i++) img[i] = (uint8_t)((i * 2654435761u) >> 24);
    clssd_detection da[64], db[64];
    size_t na = 0, nb = 0;
    clssd_detect_params dp;
    ck_assert_int_eq(clssd_model_detect_params(a, &dp), CLSSD_OK);
    ck_assert_int_eq(dp.keep_top_k, 50); /* the DetectionOutput layer's own settings */
    ck_assert_float_eq(dp.nms_thresh, 0.15f);
    ck_assert_int_eq(clssd_detect(a, img, W, H, W * 3, NULL, da, 64, &na), CLSSD_OK);
    ck_assert_int_eq(clssd_detect(b, img, W, H, W * 3, NULL, db, 64, &nb), CLSSD_OK);
    ck_assert_uint_eq(na, nb);
    ck_assert_int_eq(memcmp(da, db, na * sizeof da[0]), 0);
    free(img);
    clssd_model_destroy(a);
    clssd_model_destroy(b);
    a = (clssd_model *)1;
    ck_assert_int_eq(clssd_model_load_caffe(g_ctx, NULL, weights, NULL, &a), CLSSD_ERR_INVALID_ARG);
    ck_assert_ptr_null(a);
    ck_assert_int_eq(clssd_model_load_caffe(g_ctx, deploy, "/nonexistent.caffemodel", NULL, &a), CLSSD_ERR_IO);
    ck_assert_ptr_nonnull(strstr(clssd_last_error(g_ctx), "nonexistent.caffemodel"));
    /* definitions only: random weights of the right shapes */
    ck_assert_int_eq(clssd_model_load_caffe(g_ctx, deploy, NULL, NULL, &a), CLSSD_OK);
    clssd_model_info info;
    clssd_model_get_info(a, &info);
    ck_assert_int_eq(info.n_params, 873632);
    ck_assert_int_eq(info.input_width, 320);
    clssd_model_destroy(a);
}
END_TEST

/* YuFaceDetectNet, real weights: the converted nets find faces. */
START_TEST(test_yufacedetectnet_real_weights)
{
    static const char *v[2] = {"v1", "v2"};
    for (int k = 0; k < 2; k++) {
        char dp[256], wp[256];
        snprintf(dp, sizeof dp, "yufacedetectnet_caffe_ssd/yufacedetectnet-open-%s.prototxt", v[k]);
        snprintf(wp, sizeof wp, "yufacedetectnet_caffe_ssd/yufacedetectnet-open-%s.caffemodel", v[k]);
        clssd_graph g;
        char err[512] = "";
        ck_assert_msg(import_files(shared_path(dp), shared_path(wp), &g, err, sizeof err) == CLSSD_OK, "%s", err);
        const int32_t n_nodes = g.n_nodes;
        clssd_model *m = NULL;
        ck_assert_msg(clssd__model_from_graph(g_ctx, &g, &m) == CLSSD_OK, "%s", clssd_last_error(g_ctx));
        /* a synthetic face-free image must not give confident faces everywhere */
        const int W = 320, H = 240;
        uint8_t *img = calloc((size_t)W * H * 3, 1);
        for (size_t i = 0; i < (size_t)W * H * 3; i++) img[i] = (uint8_t)(40 + (i / 3 % W) / 8);
        clssd_detection d[64];
        size_t n = 0;
        ck_assert_int_eq(clssd_detect(m, img, W, H, W * 3, NULL, d, 64, &n), CLSSD_OK);
        size_t confident = 0;
        for (size_t i = 0; i < n; i++) confident += d[i].score > 0.5f;
        printf("  yufacedetectnet %s: %d nodes, blank image: %zu confident detections\n", v[k], n_nodes, confident);
        ck_assert_uint_eq(confident, 0);
        free(img);
        clssd_model_destroy(m);
    }
}
END_TEST

int main(void)
{
    clssd_device_info devs[4];
    g_have_device = test_devices(devs, 4) > 0;
    if (g_have_device) {
        clssd_context_params p;
        clssd_context_params_init(&p);
        if (clssd_context_create(&p, &g_ctx) != CLSSD_OK) g_have_device = 0;
    }
    Suite *s = suite_create("caffe_import");
    TCase *tc = tcase_create("import");
    tcase_set_timeout(tc, 1200);
    tcase_add_test(tc, test_all_deploy_nets_import);
    tcase_add_test(tc, test_unsupported_and_bad_files);
    tcase_add_test(tc, test_layer_types);
    tcase_add_test(tc, test_vgg_ssd300_caffe_equals_builder);
    if (g_have_device) tcase_add_test(tc, test_yufacedetectnet_real_weights);
    if (g_have_device) tcase_add_test(tc, test_random_weight_nets_run);
    if (g_have_device) tcase_add_test(tc, test_public_load_caffe);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    clssd_context_destroy(g_ctx);
    if (failed) return 1;
    return g_have_device ? 0 : 77;
}
