/* SSD with the VGG16 base, laid out as the reference Caffe models (weiliu89/caffe,
 * ssd_pascal.py / ssd_coco.py / ssd_pascal_512.py): conv1_1..conv5_3, pool5 3x3 s1 p1,
 * fc6 (3x3, dilation 6) and fc7 (1x1), conv4_3_norm, extras conv6_1..conv9_2 (conv10 for
 * the 512 layout), and 3x3 multibox heads. ReLUs are fused into the convolutions. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "clssd_internal.h"

static const char *const voc_labels[21] = {
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
    "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
    "sheep", "sofa", "train", "tvmonitor"};

static const char *const coco_labels[81] = {
    "background", "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck",
    "boat", "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat",
    "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack",
    "umbrella", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball",
    "kite", "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket",
    "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair",
    "couch", "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote",
    "keyboard", "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book",
    "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush"};

void clssd_ssd_params_init(clssd_ssd_params *p, int32_t input_size, int32_t n_classes)
{
    if (!p) return;
    memset(p, 0, sizeof *p);
    p->struct_size = (uint32_t)sizeof *p;
    p->input_size = input_size;
    p->n_classes = n_classes;
    p->width_div = 1;
    p->seed = 1;
    p->init = CLSSD_INIT_XAVIER;
}

typedef struct builder {
    clssd_graph *g;
    int32_t div;
    int ok;
    char *err;
    size_t err_size;
} builder;

static int32_t conv(builder *b, const char *name, int32_t src, int32_t cout, int32_t k,
                    int32_t s, int32_t pad, int32_t dil, int relu, int scale_channels)
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
    p.conv.dh = p.conv.dw = dil;
    p.conv.groups = 1;
    p.conv.relu = (uint8_t)relu;
    int32_t id = clssd__graph_add(g, name, CLSSD_OP_CONV2D, &p, &src, 1);
    if (id < 0) {
        b->ok = 0;
        return -1;
    }
    char tn[CLSSD_NAME_LEN + 8];
    int32_t cin = g->nodes[src].out.c;
    snprintf(tn, sizeof tn, "%s.weight", name);
    int32_t w = clssd__graph_add_tensor(g, tn, (clssd_shape){cout, cin, k, k});
    snprintf(tn, sizeof tn, "%s.bias", name);
    int32_t bi = clssd__graph_add_tensor(g, tn, (clssd_shape){1, cout, 1, 1});
    if (w < 0 || bi < 0) {
        b->ok = 0;
        return -1;
    }
    g->nodes[id].weight = w;
    g->nodes[id].bias = bi;
    /* Shapes are needed by later nodes while building (cin of the next conv). */
    if (clssd__conv2d_infer(g, &g->nodes[id], b->err, b->err_size) != CLSSD_OK) {
        b->ok = 0;
        return -1;
    }
    return id;
}

static int32_t pool(builder *b, const char *name, int32_t src, int32_t k, int32_t s, int32_t pad)
{
    if (!b->ok) return -1;
    clssd_op_params p;
    memset(&p, 0, sizeof p);
    p.pool.method = CLSSD_POOL_MAX;
    p.pool.kh = p.pool.kw = k;
    p.pool.sh = p.pool.sw = s;
    p.pool.ph = p.pool.pw = pad;
    int32_t id = clssd__graph_add(b->g, name, CLSSD_OP_POOL, &p, &src, 1);
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
    int32_t id = clssd__graph_add(b->g, name, op, p, src, n_src);
    if (id < 0 ||
        clssd__ops[op].infer(b->g, &b->g->nodes[id], b->err, b->err_size) != CLSSD_OK) {
        b->ok = 0;
        return -1;
    }
    return id;
}

/* Prior-box sizes: the reference tables for 300 and 512, the ssd_pascal.py / ssd_coco.py
 * generator (percentages of the input size) otherwise. */
static void prior_sizes(int32_t size, int coco, int32_t n_src, float *mins, float *maxs,
                        float *steps)
{
    static const float voc300_min[6] = {30, 60, 111, 162, 213, 264};
    static const float voc300_max[6] = {60, 111, 162, 213, 264, 315};
    static const float coco300_min[6] = {21, 45, 99, 153, 207, 261};
    static const float coco300_max[6] = {45, 99, 153, 207, 261, 315};
    static const float steps300[6] = {8, 16, 32, 64, 100, 300};
    static const float voc512_min[7] = {35.84f, 76.8f, 153.6f, 230.4f, 307.2f, 384.0f, 460.8f};
    static const float voc512_max[7] = {76.8f, 153.6f, 230.4f, 307.2f, 384.0f, 460.8f, 537.6f};
    static const float coco512_min[7] = {20.48f, 51.2f, 133.12f, 215.04f, 296.96f, 378.88f, 460.8f};
    static const float coco512_max[7] = {51.2f, 133.12f, 215.04f, 296.96f, 378.88f, 460.8f, 542.72f};
    static const float steps512[7] = {8, 16, 32, 64, 128, 256, 512};
    if (size == 300 && n_src == 6) {
        memcpy(mins, coco ? coco300_min : voc300_min, sizeof voc300_min);
        memcpy(maxs, coco ? coco300_max : voc300_max, sizeof voc300_max);
        memcpy(steps, steps300, sizeof steps300);
        return;
    }
    if (size == 512 && n_src == 7) {
        memcpy(mins, coco ? coco512_min : voc512_min, sizeof voc512_min);
        memcpy(maxs, coco ? coco512_max : voc512_max, sizeof voc512_max);
        memcpy(steps, steps512, sizeof steps512);
        return;
    }
    /* Generator: the first source gets fixed percentages, the rest are spaced by
     * floor((max_ratio - min_ratio) / (n_src - 2)) percent. Steps are derived. */
    int min_ratio, max_ratio = 90, first_min, first_max;
    if (n_src == 6) {
        min_ratio = coco ? 15 : 20;
        first_min = coco ? 7 : 10;
        first_max = coco ? 15 : 20;
    } else {
        min_ratio = coco ? 10 : 15;
        first_min = coco ? 4 : 7;
        first_max = coco ? 10 : 15;
    }
    int step = (max_ratio - min_ratio) / (n_src - 2);
    mins[0] = (float)size * (float)first_min / 100.0f;
    maxs[0] = (float)size * (float)first_max / 100.0f;
    for (int32_t i = 1; i < n_src; i++) {
        int ratio = min_ratio + (i - 1) * step;
        mins[i] = (float)size * (float)ratio / 100.0f;
        maxs[i] = (float)size * (float)(ratio + step) / 100.0f;
    }
    for (int32_t i = 0; i < n_src; i++) steps[i] = 0.0f;
}

clssd_status clssd__ssd_vgg_build(const clssd_ssd_params *sp_in, clssd_graph *g, char *err,
                                  size_t err_size)
{
    /* A caller built against an older clssd.h passes a shorter struct (one ending at `init`):
     * copy what it has over the defaults, so the fields it does not know (arch) are 0. */
    const size_t old_size = offsetof(clssd_ssd_params, init) + sizeof(int32_t);
    if (!sp_in || sp_in->struct_size < old_size || sp_in->struct_size > sizeof *sp_in) {
        snprintf(err, err_size, "bad SSD parameters (struct_size %u)",
                 sp_in ? (unsigned)sp_in->struct_size : 0u);
        return CLSSD_ERR_INVALID_ARG;
    }
    clssd_ssd_params full;
    clssd_ssd_params_init(&full, 0, 0);
    memcpy(&full, sp_in, sp_in->struct_size);
    full.struct_size = (uint32_t)sizeof full;
    if (full.arch == CLSSD_ARCH_TINY) return clssd__ssd_small_build(&full, g, err, err_size);
    if (full.arch != CLSSD_ARCH_VGG16) {
        snprintf(err, err_size, "unknown SSD architecture %d", full.arch);
        return CLSSD_ERR_INVALID_ARG;
    }
    const clssd_ssd_params *sp = &full;
    if (sp->input_size < 64 || sp->input_size > 2048 ||
        sp->n_classes < 2 || sp->n_classes > 10000 || sp->width_div < 1 || sp->width_div > 64) {
        snprintf(err, err_size, "bad SSD parameters (input %d, classes %d, width_div %d)",
                 sp->input_size, sp->n_classes, sp->width_div);
        return CLSSD_ERR_INVALID_ARG;
    }
    const int32_t S = sp->input_size;
    const int big = S >= 512; /* the 512 layout adds conv10 and a seventh source */
    const int coco = sp->n_classes == 81;
    builder b = {g, sp->width_div, 1, err, err_size};
    clssd_op_params p;
    memset(&p, 0, sizeof p);

    int32_t data = clssd__graph_add(g, "data", CLSSD_OP_INPUT, NULL, NULL, 0);
    if (data < 0) return CLSSD_ERR_OUT_OF_MEMORY;
    g->nodes[data].out = (clssd_shape){1, 3, S, S};
    g->input = data;

    static const struct { const char *name; int32_t cout; } vgg[] = {
        {"conv1_1", 64}, {"conv1_2", 64}, {"pool1", 0}, {"conv2_1", 128}, {"conv2_2", 128},
        {"pool2", 0}, {"conv3_1", 256}, {"conv3_2", 256}, {"conv3_3", 256}, {"pool3", 0},
        {"conv4_1", 512}, {"conv4_2", 512}, {"conv4_3", 512}, {"pool4", 0}, {"conv5_1", 512},
        {"conv5_2", 512}, {"conv5_3", 512}};
    int32_t x = data, conv4_3 = -1;
    for (size_t i = 0; i < sizeof vgg / sizeof vgg[0]; i++) {
        if (vgg[i].cout)
            x = conv(&b, vgg[i].name, x, vgg[i].cout, 3, 1, 1, 1, 1, 1);
        else
            x = pool(&b, vgg[i].name, x, 2, 2, 0);
        if (strcmp(vgg[i].name, "conv4_3") == 0) conv4_3 = x;
    }
    x = pool(&b, "pool5", x, 3, 1, 1);
    x = conv(&b, "fc6", x, 1024, 3, 1, 6, 6, 1, 1);
    int32_t fc7 = conv(&b, "fc7", x, 1024, 1, 1, 0, 1, 1, 1);

    int32_t norm = -1;
    if (b.ok) {
        memset(&p, 0, sizeof p);
        p.l2norm.eps = 1e-10f;
        norm = clssd__graph_add(g, "conv4_3_norm", CLSSD_OP_L2NORM, &p, &conv4_3, 1);
        int32_t t = clssd__graph_add_tensor(g, "conv4_3_norm.scale",
                                            (clssd_shape){1, g->nodes[conv4_3].out.c, 1, 1});
        if (norm < 0 || t < 0) return CLSSD_ERR_OUT_OF_MEMORY;
        g->nodes[norm].weight = t; /* before infer, which checks the scale's size */
        if (clssd__l2norm_infer(g, &g->nodes[norm], err, err_size) != CLSSD_OK)
            return CLSSD_ERR_BAD_MODEL;
    }

    int32_t sources[7] = {norm, fc7};
    int32_t n_src = 2;
    x = conv(&b, "conv6_1", fc7, 256, 1, 1, 0, 1, 1, 1);
    x = sources[n_src++] = conv(&b, "conv6_2", x, 512, 3, 2, 1, 1, 1, 1);
    x = conv(&b, "conv7_1", x, 128, 1, 1, 0, 1, 1, 1);
    x = sources[n_src++] = conv(&b, "conv7_2", x, 256, 3, 2, 1, 1, 1, 1);
    x = conv(&b, "conv8_1", x, 128, 1, 1, 0, 1, 1, 1);
    x = sources[n_src++] = conv(&b, "conv8_2", x, 256, 3, big ? 2 : 1, big ? 1 : 0, 1, 1, 1);
    x = conv(&b, "conv9_1", x, 128, 1, 1, 0, 1, 1, 1);
    x = sources[n_src++] = conv(&b, "conv9_2", x, 256, 3, big ? 2 : 1, big ? 1 : 0, 1, 1, 1);
    if (big) {
        x = conv(&b, "conv10_1", x, 128, 1, 1, 0, 1, 1, 1);
        x = sources[n_src++] = conv(&b, "conv10_2", x, 256, 4, 1, 1, 1, 1, 1);
    }
    if (!b.ok) return CLSSD_ERR_BAD_MODEL;

    float mins[7], maxs[7], steps[7];
    prior_sizes(S, coco, n_src, mins, maxs, steps);
    int32_t locs[7], confs[7], priors[7];
    for (int32_t i = 0; i < n_src && b.ok; i++) {
        /* a copy: adding nodes below may move g->nodes */
        char sname[CLSSD_NAME_LEN];
        memcpy(sname, g->nodes[sources[i]].name, sizeof sname);
        char name[CLSSD_NAME_LEN + 32]; /* over-long names are refused by graph_add */
        memset(&p, 0, sizeof p);
        p.prior.n_min = 1;
        p.prior.min_size[0] = mins[i];
        p.prior.n_max = 1;
        p.prior.max_size[0] = maxs[i];
        p.prior.ar[0] = 2.0f;
        /* 3 and 1/3 on all but the first and the last two sources, as the reference. */
        p.prior.n_ar = (i == 0 || i >= n_src - 2) ? 1 : 2;
        p.prior.ar[1] = 3.0f;
        p.prior.flip = 1;
        p.prior.clip = 0;
        p.prior.n_var = 4;
        p.prior.var[0] = p.prior.var[1] = 0.1f;
        p.prior.var[2] = p.prior.var[3] = 0.2f;
        p.prior.step_w = p.prior.step_h = steps[i];
        p.prior.offset = 0.5f;
        int32_t psrc[2] = {sources[i], data};
        snprintf(name, sizeof name, "%s_mbox_priorbox", sname);
        priors[i] = simple(&b, name, CLSSD_OP_PRIORBOX, &p, psrc, 2);
        if (!b.ok) break;
        const int32_t k = clssd__prior_per_cell(&g->nodes[priors[i]]);
        snprintf(name, sizeof name, "%s_mbox_loc", sname);
        int32_t l = conv(&b, name, sources[i], 4 * k, 3, 1, 1, 1, 0, 0);
        snprintf(name, sizeof name, "%s_mbox_loc_perm", sname);
        locs[i] = simple(&b, name, CLSSD_OP_PERMUTE, NULL, &l, 1);
        snprintf(name, sizeof name, "%s_mbox_conf", sname);
        int32_t c = conv(&b, name, sources[i], sp->n_classes * k, 3, 1, 1, 1, 0, 0);
        snprintf(name, sizeof name, "%s_mbox_conf_perm", sname);
        confs[i] = simple(&b, name, CLSSD_OP_PERMUTE, NULL, &c, 1);
    }
    memset(&p, 0, sizeof p);
    p.concat.axis = 1;
    int32_t mbox_loc = simple(&b, "mbox_loc", CLSSD_OP_CONCAT, &p, locs, n_src);
    int32_t mbox_conf = simple(&b, "mbox_conf", CLSSD_OP_CONCAT, &p, confs, n_src);
    p.concat.axis = 2;
    int32_t mbox_priorbox = simple(&b, "mbox_priorbox", CLSSD_OP_CONCAT, &p, priors, n_src);
    memset(&p, 0, sizeof p);
    p.softmax.group = sp->n_classes;
    int32_t softmax = simple(&b, "mbox_conf_softmax", CLSSD_OP_SOFTMAX, &p, &mbox_conf, 1);
    int32_t dsrc[2] = {mbox_loc, mbox_priorbox};
    int32_t decode = simple(&b, "mbox_decode", CLSSD_OP_DECODE, NULL, dsrc, 2);
    memset(&p, 0, sizeof p);
    p.nms.n_classes = sp->n_classes;
    p.nms.background = 0;
    p.nms.top_k = 400;
    p.nms.keep_top_k = 200;
    p.nms.conf_thresh = 0.01f;
    p.nms.nms_thresh = 0.45f;
    int32_t nsrc[2] = {decode, softmax};
    int32_t out = simple(&b, "detection_out", CLSSD_OP_NMS, &p, nsrc, 2);
    if (!b.ok) return CLSSD_ERR_BAD_MODEL;
    g->output = out;

    /* Preprocessing of the reference models: warp to SxS, BGR, mean (104, 117, 123). */
    memset(&g->pre, 0, sizeof g->pre);
    g->pre.pre.out_w = S;
    g->pre.pre.out_h = S;
    g->pre.pre.mean[0] = 104.0f;
    g->pre.pre.mean[1] = 117.0f;
    g->pre.pre.mean[2] = 123.0f;
    g->pre.pre.scale = 1.0f;
    g->pre.pre.bgr = 1;
    snprintf(g->name, sizeof g->name, "ssd%d_vgg16_%s%s", S,
             sp->n_classes == 21 ? "voc" : coco ? "coco" : "custom",
             sp->width_div > 1 ? "_narrow" : "");

    const char *const *names = sp->n_classes == 21 ? voc_labels : coco ? coco_labels : NULL;
    if (names) {
        g->labels = clssd__calloc((size_t)sp->n_classes, sizeof(char *));
        if (!g->labels) return CLSSD_ERR_OUT_OF_MEMORY;
        g->n_labels = sp->n_classes;
        for (int32_t i = 0; i < sp->n_classes; i++) {
            size_t len = strlen(names[i]) + 1;
            g->labels[i] = clssd__malloc(len);
            if (!g->labels[i]) return CLSSD_ERR_OUT_OF_MEMORY;
            memcpy(g->labels[i], names[i], len);
        }
    }
    return CLSSD_OK;
}

void clssd__graph_init_weights(clssd_graph *g, uint64_t seed, int32_t init)
{
    clssd_rng rng;
    clssd__rng_seed(&rng, seed);
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const clssd_node *n = &g->nodes[i];
        if (n->op == CLSSD_OP_L2NORM && n->weight >= 0) {
            clssd_tensor *t = &g->tensors[n->weight];
            size_t cnt = clssd__shape_count(&t->shape);
            for (size_t k = 0; k < cnt; k++) t->data[k] = 20.0f; /* scale_filler 20 */
        }
        if (n->op != CLSSD_OP_CONV2D || n->weight < 0) continue;
        clssd_tensor *w = &g->tensors[n->weight];
        const float fan_in = (float)(w->shape.c * w->shape.h * w->shape.w);
        const size_t cnt = clssd__shape_count(&w->shape);
        if (init == CLSSD_INIT_MSRA) {
            const float sd = sqrtf(2.0f / fan_in);
            for (size_t k = 0; k < cnt; k++) w->data[k] = sd * clssd__rng_normal(&rng);
        } else {
            const float a = sqrtf(3.0f / fan_in);
            for (size_t k = 0; k < cnt; k++) w->data[k] = clssd__rng_range(&rng, -a, a);
        }
        if (n->bias >= 0) {
            clssd_tensor *b = &g->tensors[n->bias];
            memset(b->data, 0, clssd__shape_count(&b->shape) * sizeof(float));
        }
    }
}
