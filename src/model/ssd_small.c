/* A small VGG-style SSD (CLSSD_ARCH_TINY) for training from scratch on a CPU in minutes:
 * plain 3x3 convolutions with fused ReLU and 2x2 max-pools (every op has a device backward,
 * src/train/trainer.h), three 1x1 + 3x3/2 extra blocks, and five sources at strides 8, 16,
 * 32, 64 and 128 with the same multibox heads, prior boxes, softmax, decode and NMS as the
 * VGG16 SSD (src/model/ssd_vgg.c). Channels (before width_div):
 *
 *   conv1 32, pool1, conv2 64, pool2, conv3 128, pool3, conv4_1 128, conv4_2 128 [source 1,
 *   stride 8], pool4, conv5_1 256, conv5_2 256 [source 2, stride 16], conv6_1 1x1 128,
 *   conv6_2 3x3/2 256 [source 3], conv7_1 1x1 64, conv7_2 3x3/2 128 [source 4], conv8_1 1x1
 *   64, conv8_2 3x3/2 128 [source 5].
 *
 * Any input size >= 64 works: the pools use Caffe's ceil rule and a stride-2 3x3 convolution
 * with pad 1 maps 1x1 to 1x1, so every source is at least 1x1. Source i is
 * ceil(S / 2^(i+3)) on a side. No batch normalisation (the trainer has no backward for it):
 * MSRA initialisation and inputs scaled to about unit variance keep the from-scratch
 * activations in range instead. */
#include <stdio.h>
#include <string.h>

#include "clssd_internal.h"

#define N_SRC 5

typedef struct builder {
    clssd_graph *g;
    int32_t div;
    int ok;
    char *err;
    size_t err_size;
} builder;

static int32_t conv(builder *b, const char *name, int32_t src, int32_t cout, int32_t k,
                    int32_t s, int32_t pad, int relu, int scale_channels)
{
    if (!b->ok) return -1;
    clssd_graph *g = b->g;
    clssd_op_params p;
    memset(&p, 0, sizeof p);
    if (scale_channels) cout = cout / b->div > 0 ? cout / b->div : 1;
    p.conv.cout = cout;
    p.conv.kh = p.conv.kw = k;
    p.conv.sh = p.conv.sw = s;
    p.conv.ph = p.conv.pw = pad;
    p.conv.dh = p.conv.dw = 1;
    p.conv.groups = 1;
    p.conv.relu = (uint8_t)relu;
    int32_t id = clssd__graph_add(g, name, CLSSD_OP_CONV2D, &p, &src, 1);
    if (id < 0) {
        b->ok = 0;
        return -1;
    }
    char tn[CLSSD_NAME_LEN + 8];
    const int32_t cin = g->nodes[src].out.c;
    snprintf(tn, sizeof tn, "%s.weight", name);
    const int32_t w = clssd__graph_add_tensor(g, tn, (clssd_shape){cout, cin, k, k});
    snprintf(tn, sizeof tn, "%s.bias", name);
    const int32_t bi = clssd__graph_add_tensor(g, tn, (clssd_shape){1, cout, 1, 1});
    if (w < 0 || bi < 0) {
        b->ok = 0;
        return -1;
    }
    g->nodes[id].weight = w;
    g->nodes[id].bias = bi;
    /* shapes are needed while building: the next conv's cin, the heads' prior counts */
    if (clssd__conv2d_infer(g, &g->nodes[id], b->err, b->err_size) != CLSSD_OK) {
        b->ok = 0;
        return -1;
    }
    return id;
}

static int32_t pool2(builder *b, const char *name, int32_t src)
{
    if (!b->ok) return -1;
    clssd_op_params p;
    memset(&p, 0, sizeof p);
    p.pool.method = CLSSD_POOL_MAX;
    p.pool.kh = p.pool.kw = 2;
    p.pool.sh = p.pool.sw = 2;
    const int32_t id = clssd__graph_add(b->g, name, CLSSD_OP_POOL, &p, &src, 1);
    if (id < 0 || clssd__pool_infer(b->g, &b->g->nodes[id], b->err, b->err_size) != CLSSD_OK) {
        b->ok = 0;
        return -1;
    }
    return id;
}

static int32_t simple(builder *b, const char *name, clssd_op op, const clssd_op_params *p,
                      const int32_t *src, int32_t n_src)
{
    if (!b->ok) return -1;
    const int32_t id = clssd__graph_add(b->g, name, op, p, src, n_src);
    if (id < 0 ||
        clssd__ops[op].infer(b->g, &b->g->nodes[id], b->err, b->err_size) != CLSSD_OK) {
        b->ok = 0;
        return -1;
    }
    return id;
}

clssd_status clssd__ssd_small_build(const clssd_ssd_params *sp, clssd_graph *g, char *err,
                                    size_t err_size)
{
    if (!sp || sp->input_size < 64 || sp->input_size > 2048 || sp->n_classes < 2 ||
        sp->n_classes > 10000 || sp->width_div < 1 || sp->width_div > 64) {
        snprintf(err, err_size, "bad tiny SSD parameters (input %d, classes %d, width_div %d)",
                 sp ? sp->input_size : 0, sp ? sp->n_classes : 0, sp ? sp->width_div : 0);
        return CLSSD_ERR_INVALID_ARG;
    }
    const int32_t S = sp->input_size;
    builder b = {g, sp->width_div, 1, err, err_size};
    clssd_op_params p;

    const int32_t data = clssd__graph_add(g, "data", CLSSD_OP_INPUT, NULL, NULL, 0);
    if (data < 0) return CLSSD_ERR_OUT_OF_MEMORY;
    g->nodes[data].out = (clssd_shape){1, 3, S, S};
    g->input = data;

    int32_t src[N_SRC];
    int32_t x = conv(&b, "conv1", data, 32, 3, 1, 1, 1, 1);
    x = pool2(&b, "pool1", x);
    x = conv(&b, "conv2", x, 64, 3, 1, 1, 1, 1);
    x = pool2(&b, "pool2", x);
    x = conv(&b, "conv3", x, 128, 3, 1, 1, 1, 1);
    x = pool2(&b, "pool3", x);
    x = conv(&b, "conv4_1", x, 128, 3, 1, 1, 1, 1);
    x = src[0] = conv(&b, "conv4_2", x, 128, 3, 1, 1, 1, 1);
    x = pool2(&b, "pool4", x);
    x = conv(&b, "conv5_1", x, 256, 3, 1, 1, 1, 1);
    x = src[1] = conv(&b, "conv5_2", x, 256, 3, 1, 1, 1, 1);
    x = conv(&b, "conv6_1", x, 128, 1, 1, 0, 1, 1);
    x = src[2] = conv(&b, "conv6_2", x, 256, 3, 2, 1, 1, 1);
    x = conv(&b, "conv7_1", x, 64, 1, 1, 0, 1, 1);
    x = src[3] = conv(&b, "conv7_2", x, 128, 3, 2, 1, 1, 1);
    x = conv(&b, "conv8_1", x, 64, 1, 1, 0, 1, 1);
    src[4] = conv(&b, "conv8_2", x, 128, 3, 2, 1, 1, 1);
    if (!b.ok) return CLSSD_ERR_BAD_MODEL;

    /* Prior sizes: ssd_pascal.py's generator for N_SRC sources (min_ratio 20, max_ratio 90,
     * the first source 10..20 %), in percent of the input side: min 10, 20, 43, 66, 89 and
     * max 20, 43, 66, 89, 112. Steps are derived (input / source size), since ceil pooling
     * makes them non-integer for sizes that are no multiple of 128. */
    const int first_min = 10, first_max = 20, min_ratio = 20, max_ratio = 90;
    const int step = (max_ratio - min_ratio) / (N_SRC - 2);
    int32_t locs[N_SRC], confs[N_SRC], priors[N_SRC];
    for (int32_t i = 0; i < N_SRC && b.ok; i++) {
        const int lo = i == 0 ? first_min : min_ratio + (i - 1) * step;
        const int hi = i == 0 ? first_max : lo + step;
        /* a copy: adding nodes below may move g->nodes */
        char sname[CLSSD_NAME_LEN];
        memcpy(sname, g->nodes[src[i]].name, sizeof sname);
        char name[CLSSD_NAME_LEN + 32]; /* over-long names are refused by graph_add */
        memset(&p, 0, sizeof p);
        p.prior.n_min = 1;
        p.prior.min_size[0] = (float)S * (float)lo / 100.0f;
        p.prior.n_max = 1;
        p.prior.max_size[0] = (float)S * (float)hi / 100.0f;
        p.prior.ar[0] = 2.0f;
        /* 3 and 1/3 on the middle sources only, as the reference (not the first, where
         * they would multiply the largest prior count, nor the last two) */
        p.prior.n_ar = (i == 0 || i >= N_SRC - 2) ? 1 : 2;
        p.prior.ar[1] = 3.0f;
        p.prior.flip = 1;
        p.prior.clip = 0;
        p.prior.n_var = 4;
        p.prior.var[0] = p.prior.var[1] = 0.1f;
        p.prior.var[2] = p.prior.var[3] = 0.2f;
        p.prior.offset = 0.5f;
        const int32_t psrc[2] = {src[i], data};
        snprintf(name, sizeof name, "%s_mbox_priorbox", sname);
        priors[i] = simple(&b, name, CLSSD_OP_PRIORBOX, &p, psrc, 2);
        if (!b.ok) break;
        const int32_t k = clssd__prior_per_cell(&g->nodes[priors[i]]);
        snprintf(name, sizeof name, "%s_mbox_loc", sname);
        const int32_t l = conv(&b, name, src[i], 4 * k, 3, 1, 1, 0, 0);
        snprintf(name, sizeof name, "%s_mbox_loc_perm", sname);
        locs[i] = simple(&b, name, CLSSD_OP_PERMUTE, NULL, &l, 1);
        snprintf(name, sizeof name, "%s_mbox_conf", sname);
        const int32_t c = conv(&b, name, src[i], sp->n_classes * k, 3, 1, 1, 0, 0);
        snprintf(name, sizeof name, "%s_mbox_conf_perm", sname);
        confs[i] = simple(&b, name, CLSSD_OP_PERMUTE, NULL, &c, 1);
    }
    if (!b.ok) return CLSSD_ERR_BAD_MODEL;
    memset(&p, 0, sizeof p);
    p.concat.axis = 1;
    const int32_t mbox_loc = simple(&b, "mbox_loc", CLSSD_OP_CONCAT, &p, locs, N_SRC);
    const int32_t mbox_conf = simple(&b, "mbox_conf", CLSSD_OP_CONCAT, &p, confs, N_SRC);
    p.concat.axis = 2;
    const int32_t mbox_priorbox = simple(&b, "mbox_priorbox", CLSSD_OP_CONCAT, &p, priors, N_SRC);
    memset(&p, 0, sizeof p);
    p.softmax.group = sp->n_classes;
    const int32_t softmax = simple(&b, "mbox_conf_softmax", CLSSD_OP_SOFTMAX, &p, &mbox_conf, 1);
    const int32_t dsrc[2] = {mbox_loc, mbox_priorbox};
    const int32_t decode = simple(&b, "mbox_decode", CLSSD_OP_DECODE, NULL, dsrc, 2);
    memset(&p, 0, sizeof p);
    p.nms.n_classes = sp->n_classes;
    p.nms.background = 0;
    p.nms.top_k = 400;
    p.nms.keep_top_k = 200;
    p.nms.conf_thresh = 0.01f;
    p.nms.nms_thresh = 0.45f;
    const int32_t nsrc[2] = {decode, softmax};
    const int32_t out = simple(&b, "detection_out", CLSSD_OP_NMS, &p, nsrc, 2);
    if (!b.ok) return CLSSD_ERR_BAD_MODEL;
    g->output = out;

    /* The VGG SSD's warp, BGR order and mean, but scaled by 1/64: pixel values have a
     * standard deviation of about 60, and without pretrained weights or batch normalisation
     * unit-variance inputs are what keeps MSRA-initialised logits of order 1 (scale 1 gives
     * logits in the hundreds and a first loss that SGD at SSD's rates overshoots). 1/64 is
     * exact in binary, so the preprocessing stays bit-reproducible. */
    memset(&g->pre, 0, sizeof g->pre);
    g->pre.pre.out_w = S;
    g->pre.pre.out_h = S;
    g->pre.pre.mean[0] = 104.0f;
    g->pre.pre.mean[1] = 117.0f;
    g->pre.pre.mean[2] = 123.0f;
    g->pre.pre.scale = 1.0f / 64.0f;
    g->pre.pre.bgr = 1;
    snprintf(g->name, sizeof g->name, "ssd%d_tiny%s", S, sp->width_div > 1 ? "_narrow" : "");
    return CLSSD_OK;
}
