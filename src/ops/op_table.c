/* One row per op. Tests, bench and the .clssd loader all read this table. */
#include <string.h>

#include "clssd_internal.h"

const clssd_op_desc clssd__ops[CLSSD_OP_COUNT] = {
    [CLSSD_OP_INPUT] = {.name = "input", .infer = clssd__input_infer,
                        .forward_cl = clssd__input_cl, .forward_ref = clssd__input_ref},
    [CLSSD_OP_CONV2D] = {.name = "conv2d", .program = "conv", .infer = clssd__conv2d_infer,
                         .workspace = clssd__conv2d_workspace, .forward_cl = clssd__conv2d_cl,
                         .forward_ref = clssd__conv2d_ref, .prepare = clssd__conv2d_prepare,
                         .tol_abs = 1e-4f, .tol_rel = 1e-4f,
                         .flops = clssd__conv2d_flops},
    [CLSSD_OP_RELU] = {.name = "relu", .program = "eltwise", .infer = clssd__relu_infer,
                       .forward_cl = clssd__relu_cl, .forward_ref = clssd__relu_ref},
    [CLSSD_OP_POOL] = {.name = "pool", .program = "pool", .infer = clssd__pool_infer,
                       .forward_cl = clssd__pool_cl, .forward_ref = clssd__pool_ref,
                       .tol_abs = 1e-6f, .tol_rel = 1e-6f},
    [CLSSD_OP_L2NORM] = {.name = "l2norm", .program = "l2norm", .infer = clssd__l2norm_infer,
                         .forward_cl = clssd__l2norm_cl, .forward_ref = clssd__l2norm_ref,
                         .tol_abs = 1e-5f, .tol_rel = 1e-5f},
    [CLSSD_OP_PERMUTE] = {.name = "permute", .program = "layout", .infer = clssd__permute_infer,
                          .forward_cl = clssd__permute_cl, .forward_ref = clssd__permute_ref},
    [CLSSD_OP_CONCAT] = {.name = "concat", .program = "layout", .infer = clssd__concat_infer,
                         .forward_cl = clssd__concat_cl, .forward_ref = clssd__concat_ref},
    [CLSSD_OP_SOFTMAX] = {.name = "softmax", .program = "softmax", .infer = clssd__softmax_infer,
                          .forward_cl = clssd__softmax_cl, .forward_ref = clssd__softmax_ref,
                          .tol_abs = 1e-6f, .tol_rel = 1e-5f},
    [CLSSD_OP_PRIORBOX] = {.name = "priorbox", .program = "priorbox",
                           .infer = clssd__priorbox_infer, .forward_cl = clssd__priorbox_cl,
                           .forward_ref = clssd__priorbox_ref, .tol_abs = 2e-7f},
    [CLSSD_OP_DECODE] = {.name = "decode", .program = "decode", .infer = clssd__decode_infer,
                         .forward_cl = clssd__decode_cl, .forward_ref = clssd__decode_ref,
                         .tol_abs = 1e-6f, .tol_rel = 1e-5f},
    [CLSSD_OP_NMS] = {.name = "nms", .program = "nms", .infer = clssd__nms_infer,
                      .workspace = clssd__nms_workspace, .forward_cl = clssd__nms_cl,
                      .forward_ref = clssd__nms_ref},
    [CLSSD_OP_PREPROCESS] = {.name = "preprocess", .program = "preprocess",
                             .infer = clssd__preprocess_infer,
                             .forward_cl = clssd__preprocess_cl,
                             .forward_ref = clssd__preprocess_ref, .tol_abs = 1e-4f,
                             .tol_rel = 1e-5f},
    [CLSSD_OP_ELTWISE] = {.name = "eltwise", .program = "eltwise", .infer = clssd__eltwise_infer,
                          .forward_cl = clssd__eltwise_cl, .forward_ref = clssd__eltwise_ref,
                          .tol_abs = 1e-6f, .tol_rel = 1e-6f},
    [CLSSD_OP_SCALE] = {.name = "scale", .program = "eltwise", .infer = clssd__scale_infer,
                        .forward_cl = clssd__scale_cl, .forward_ref = clssd__scale_ref},
    /* exp() may differ by a few ulp between OpenCL and libm; outputs are in [0, 1] */
    [CLSSD_OP_SIGMOID] = {.name = "sigmoid", .program = "eltwise", .infer = clssd__sigmoid_infer,
                          .forward_cl = clssd__sigmoid_cl, .forward_ref = clssd__sigmoid_ref,
                          .tol_abs = 1e-6f, .tol_rel = 1e-5f},
    /* a buffer copy: no kernel program, exact */
    [CLSSD_OP_CONST] = {.name = "const", .infer = clssd__const_infer,
                        .forward_cl = clssd__const_cl, .forward_ref = clssd__const_ref},
};

_Static_assert(sizeof clssd__ops / sizeof clssd__ops[0] == CLSSD_OP_COUNT,
               "op table out of sync with clssd_op");

int clssd__op_from_name(const char *name)
{
    for (int i = 0; i < CLSSD_OP_COUNT; i++)
        if (clssd__ops[i].name && strcmp(clssd__ops[i].name, name) == 0) return i;
    return -1;
}
