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

#include "model/ssd_build.h"

#define N_SRC 5

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
    clssd_ssd_builder b = {g, sp->width_div, 1, err, err_size};

    const int32_t data = clssd__graph_add(g, "data", CLSSD_OP_INPUT, NULL, NULL, 0);
    if (data < 0) return CLSSD_ERR_OUT_OF_MEMORY;
    g->nodes[data].out = (clssd_shape){1, 3, S, S};
    g->input = data;

    int32_t src[N_SRC];
    int32_t x = clssd__ssd_conv(&b, "conv1", data, 32, 3, 1, 1, 1, 1, 1);
    x = clssd__ssd_pool(&b, "pool1", x, 2, 2, 0);
    x = clssd__ssd_conv(&b, "conv2", x, 64, 3, 1, 1, 1, 1, 1);
    x = clssd__ssd_pool(&b, "pool2", x, 2, 2, 0);
    x = clssd__ssd_conv(&b, "conv3", x, 128, 3, 1, 1, 1, 1, 1);
    x = clssd__ssd_pool(&b, "pool3", x, 2, 2, 0);
    x = clssd__ssd_conv(&b, "conv4_1", x, 128, 3, 1, 1, 1, 1, 1);
    x = src[0] = clssd__ssd_conv(&b, "conv4_2", x, 128, 3, 1, 1, 1, 1, 1);
    x = clssd__ssd_pool(&b, "pool4", x, 2, 2, 0);
    x = clssd__ssd_conv(&b, "conv5_1", x, 256, 3, 1, 1, 1, 1, 1);
    x = src[1] = clssd__ssd_conv(&b, "conv5_2", x, 256, 3, 1, 1, 1, 1, 1);
    x = clssd__ssd_conv(&b, "conv6_1", x, 128, 1, 1, 0, 1, 1, 1);
    x = src[2] = clssd__ssd_conv(&b, "conv6_2", x, 256, 3, 2, 1, 1, 1, 1);
    x = clssd__ssd_conv(&b, "conv7_1", x, 64, 1, 1, 0, 1, 1, 1);
    x = src[3] = clssd__ssd_conv(&b, "conv7_2", x, 128, 3, 2, 1, 1, 1, 1);
    x = clssd__ssd_conv(&b, "conv8_1", x, 64, 1, 1, 0, 1, 1, 1);
    src[4] = clssd__ssd_conv(&b, "conv8_2", x, 128, 3, 2, 1, 1, 1, 1);
    if (!b.ok) return CLSSD_ERR_BAD_MODEL;

    /* Prior sizes: ssd_pascal.py's generator for N_SRC sources (min_ratio 20, max_ratio 90,
     * the first source 10..20 %), in percent of the input side: min 10, 20, 43, 66, 89 and
     * max 20, 43, 66, 89, 112. Steps are derived (input / source size), since ceil pooling
     * makes them non-integer for sizes that are no multiple of 128. */
    const int first_min = 10, first_max = 20, min_ratio = 20, max_ratio = 90;
    const int step = (max_ratio - min_ratio) / (N_SRC - 2);
    float mins[N_SRC], maxs[N_SRC];
    for (int32_t i = 0; i < N_SRC; i++) {
        const int lo = i == 0 ? first_min : min_ratio + (i - 1) * step;
        const int hi = i == 0 ? first_max : lo + step;
        mins[i] = (float)S * (float)lo / 100.0f;
        maxs[i] = (float)S * (float)hi / 100.0f;
    }
    const clssd_status hs = clssd__ssd_multibox(&b, data, src, N_SRC, mins, maxs, NULL,
                                                sp->n_classes);
    if (hs != CLSSD_OK) return hs;

    /* The VGG SSD's warp, BGR order and mean, but scaled by 1/64: pixel values have a
     * standard deviation of about 60, and without pretrained weights or batch normalisation
     * unit-variance inputs are what keeps MSRA-initialised logits of order 1 (scale 1 gives
     * logits in the hundreds and a first loss that SGD at SSD's rates overshoots). 1/64 is
     * exact in binary, so the preprocessing stays bit-reproducible. */
    clssd__ssd_preprocess(g, S, 1.0f / 64.0f);
    snprintf(g->name, sizeof g->name, "ssd%d_tiny%s", S, sp->width_div > 1 ? "_narrow" : "");
    return CLSSD_OK;
}
