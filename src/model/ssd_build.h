/* Graph-building pieces shared by the SSD builders (ssd_vgg.c: the paper's VGG16 SSD,
 * ssd_small.c: CLSSD_ARCH_TINY): layers that infer their shapes as they are added, and the
 * multibox part every SSD ends with. Internal to src/model. */
#ifndef CLSSD_SSD_BUILD_H
#define CLSSD_SSD_BUILD_H

#include "clssd_internal.h"

/* A graph under construction. After the first failure every call is a no-op returning -1
 * and ok stays 0, so a builder checks once after a run of layers. */
typedef struct clssd_ssd_builder {
    clssd_graph *g;
    int32_t div; /* width_div: scale_channels layers get cout / div channels (at least 1) */
    int ok;
    char *err;
    size_t err_size;
} clssd_ssd_builder;

/* kxk convolution with weight and bias tensors "<name>.weight" / "<name>.bias". */
int32_t clssd__ssd_conv(clssd_ssd_builder *b, const char *name, int32_t src, int32_t cout,
                        int32_t k, int32_t s, int32_t pad, int32_t dil, int relu,
                        int scale_channels);
/* kxk / s max pooling with Caffe's ceil rule. */
int32_t clssd__ssd_pool(clssd_ssd_builder *b, const char *name, int32_t src, int32_t k, int32_t s,
                        int32_t pad);
/* Any other node: added, then its shape inferred. */
int32_t clssd__ssd_node(clssd_ssd_builder *b, const char *name, clssd_op op,
                        const clssd_op_params *p, const int32_t *src, int32_t n_src);

/* The multibox part for n_src sources: per source a PriorBox (min/max size, aspect ratio 2,
 * and 3 on all but the first and the last two sources, flip, no clip, variances
 * 0.1/0.1/0.2/0.2, offset 0.5, step steps[i] or derived when 0 or steps is NULL), 3x3 loc
 * and conf heads with their permutes; then the concats, softmax, decode and NMS with the
 * paper's settings (0.01, 0.45, 400, 200). Sets g->output. CLSSD_ERR_BAD_MODEL on failure
 * (the message in b->err). */
clssd_status clssd__ssd_multibox(clssd_ssd_builder *b, int32_t data, const int32_t *sources,
                                 int32_t n_src, const float *mins, const float *maxs,
                                 const float *steps, int32_t n_classes);

/* The reference models' preprocessing: warp to SxS, BGR, mean (104, 117, 123), then scale. */
void clssd__ssd_preprocess(clssd_graph *g, int32_t S, float scale);

#endif
