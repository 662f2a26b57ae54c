/* SSD with the VGG16 base, laid out as the reference Caffe models (weiliu89/caffe,
 * ssd_pascal.py / ssd_coco.py / ssd_pascal_512.py): conv1_1..conv5_3, pool5 3x3 s1 p1,
 * fc6 (3x3, dilation 6) and fc7 (1x1), conv4_3_norm, extras conv6_1..conv9_2 (conv10 for
 * the 512 layout), and 3x3 multibox heads. ReLUs are fused into the convolutions. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "clssd_internal.h"
#include "model/ssd_build.h"

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
    clssd_ssd_builder b = {g, sp->width_div, 1, err, err_size};
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
            x = clssd__ssd_conv(&b, vgg[i].name, x, vgg[i].cout, 3, 1, 1, 1, 1, 1);
        else
            x = clssd__ssd_pool(&b, vgg[i].name, x, 2, 2, 0);
        if (strcmp(vgg[i].name, "conv4_3") == 0) conv4_3 = x;
    }
    x = clssd__ssd_pool(&b, "pool5", x, 3, 1, 1);
    x = clssd__ssd_conv(&b, "fc6", x, 1024, 3, 1, 6, 6, 1, 1);
    int32_t fc7 = clssd__ssd_conv(&b, "fc7", x, 1024, 1, 1, 0, 1, 1, 1);

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
    x = clssd__ssd_conv(&b, "conv6_1", fc7, 256, 1, 1, 0, 1, 1, 1);
    x = sources[n_src++] = clssd__ssd_conv(&b, "conv6_2", x, 512, 3, 2, 1, 1, 1, 1);
    x = clssd__ssd_conv(&b, "conv7_1", x, 128, 1, 1, 0, 1, 1, 1);
    x = sources[n_src++] = clssd__ssd_conv(&b, "conv7_2", x, 256, 3, 2, 1, 1, 1, 1);
    x = clssd__ssd_conv(&b, "conv8_1", x, 128, 1, 1, 0, 1, 1, 1);
    x = sources[n_src++] = clssd__ssd_conv(&b, "conv8_2", x, 256, 3, big ? 2 : 1, big ? 1 : 0, 1, 1, 1);
    x = clssd__ssd_conv(&b, "conv9_1", x, 128, 1, 1, 0, 1, 1, 1);
    x = sources[n_src++] = clssd__ssd_conv(&b, "conv9_2", x, 256, 3, big ? 2 : 1, big ? 1 : 0, 1, 1, 1);
    if (big) {
        x = clssd__ssd_conv(&b, "conv10_1", x, 128, 1, 1, 0, 1, 1, 1);
        x = sources[n_src++] = clssd__ssd_conv(&b, "conv10_2", x, 256, 4, 1, 1, 1, 1, 1);
    }
    if (!b.ok) return CLSSD_ERR_BAD_MODEL;

    float mins[7], maxs[7], steps[7];
    prior_sizes(S, coco, n_src, mins, maxs, steps);
    const clssd_status hs = clssd__ssd_multibox(&b, data, sources, n_src, mins, maxs, steps,
                                                sp->n_classes);
    if (hs != CLSSD_OK) return hs;

    clssd__ssd_preprocess(g, S, 1.0f); /* the reference models' warp, BGR order and mean */
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
