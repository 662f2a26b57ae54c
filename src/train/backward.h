/* Backward passes on the device (issue 6): cl/backward.cl driven from src/train/backward.c.
 * Each is the device twin of a *_backward_ref in train.h, with the same conventions at the
 * non-differentiable points, and is checked against it by tests/test_backward_device.c.
 *
 * The arguments mirror clssd_ref_args with device buffers in place of host arrays. Buffers
 * hold `batch` images, NCHW float, laid out as the forward's; their sizes are checked
 * (CL_MEM_SIZE), so a buffer too small for the shapes is CLSSD_ERR_INVALID_ARG, not an
 * out-of-bounds write. Gradients are overwritten, never accumulated into; weight, scale and
 * bias gradients are summed over the batch. All work is enqueued on ctx->queue (in order);
 * nothing waits for it, and the temporaries are released in a way that is safe with work
 * still queued (OpenCL keeps a buffer alive until the kernels using it are done).
 * Errors: CLSSD_ERR_INVALID_ARG where the reference would refuse the arguments or a required
 * buffer is missing; OpenCL codes pass through with ctx's last error set. */
#ifndef CLSSD_TRAIN_BACKWARD_H
#define CLSSD_TRAIN_BACKWARD_H

#include "clssd_internal.h"

/* Reusable temporaries of the convolution's backward (masked dz, packed operands, column
 * gradient), grown on demand and kept between calls: the trainer holds one, because creating
 * and first touching tens of MB per call cost more than the small layers' arithmetic.
 * Zero-initialise; clssd__bwd_ws_release frees (NULL is fine). One thread at a time. */
#define CLSSD_BWD_WS_SLOTS 6
typedef struct clssd_bwd_ws {
    cl_mem buf[CLSSD_BWD_WS_SLOTS];
    size_t bytes[CLSSD_BWD_WS_SLOTS];
} clssd_bwd_ws;
void clssd__bwd_ws_release(clssd_bwd_ws *ws);

typedef struct clssd_bwd_args {
    const clssd_node *node; /* params and out (per image) set by infer */
    int32_t batch;
    clssd_shape x_shape;    /* the forward input, per image (n = 1) */
    cl_mem x;               /* the forward input (every op) */
    cl_mem y;               /* the forward output: CONV2D with a fused ReLU only (its mask) */
    cl_mem weight;          /* CONV2D weights [cout][C/groups][kh][kw], L2NORM scale */
    clssd_shape weight_shape; /* checked against the node when its count is not 0 */
    clssd_bwd_ws *ws;       /* CONV2D: temporaries to reuse; NULL: created per call */
} clssd_bwd_args;

/* ReLU / leaky / capped: dx = dy * relu'(x) (clssd__relu_backward_ref's rules). */
clssd_status clssd__relu_backward(clssd_context *ctx, const clssd_bwd_args *a, cl_mem dy,
                                  cl_mem dx);

/* Max / average pooling, Caffe's windows (clssd__pool_backward_ref's rules, ties included). */
clssd_status clssd__pool_backward(clssd_context *ctx, const clssd_bwd_args *a, cl_mem dy,
                                  cl_mem dx);

/* L2Norm, across_spatial 0 or 1, channel_shared or not. dx or dscale (1 or C floats) may be
 * NULL to skip it (not both). */
clssd_status clssd__l2norm_backward(clssd_context *ctx, const clssd_bwd_args *a, cl_mem dy,
                                    cl_mem dx, cl_mem dscale);

/* Conv2d with stride, padding (ph_extra / pw_extra included), dilation, groups and the fused
 * ReLU / ReLU6, whose mask is read from the forward output a->y: gradient passes where
 * 0 < y (and y < relu_max when capped), which is exactly where 0 < z (< relu_max) for the
 * pre-activation z that produced y. Both GEMMs run cl/gemm.cl's packed kernel:
 *   dweight_g = dz_g . col_g^T   one GEMM per group over the positions of the whole batch
 *                                (dz and the transposed im2col packed as panels, in chunks
 *                                of positions that add up through the GEMM's accumulate)
 *   dcol_g = weight_g^T . dz_g   (strided convolutions) per image and chunk of output
 *                                rows, W^T packed once per call; dx = col2im(dcol)
 * dbias by clssd_bias_partial / clssd_bias_sum, whose first pass also applies the ReLU
 * mask. dx, dweight, dbias may each be NULL to skip it. The chunks keep the packed operands
 * and the column gradient within 8 MB (col_bytes in _ex), so SSD300's conv1_2 needs no
 * 2 x 207 MB: dx adds up over row chunks through col2im's accumulate mode. Temporaries
 * come from a->ws when set. Stride-1 convolutions (no extra padding, pad <= (k-1)*dilation)
 * compute dx instead as the forward's packed convolution of dz with the flipped,
 * channel-swapped weights: no column gradient, no col2im. */
clssd_status clssd__conv2d_backward(clssd_context *ctx, const clssd_bwd_args *a, cl_mem dy,
                                    cl_mem dx, cl_mem dweight, cl_mem dbias);
/* The same with the chunk budget in bytes (0: the default); the tests use a small one to
 * run the chunked path on small layers. */
clssd_status clssd__conv2d_backward_ex(clssd_context *ctx, const clssd_bwd_args *a, cl_mem dy,
                                       cl_mem dx, cl_mem dweight, cl_mem dbias,
                                       size_t col_bytes);

/* Re-packs node n's weights for the PACKED / PACKED16 forward (cl/gemm.cl's A panels, the
 * layout of clssd__conv2d_prepare) from its device weight buffer ex->weights[n->weight],
 * into the buffer prepare made: the trainer calls it after each SGD update, so the forward
 * keeps the fast packed GEMM without a host round trip. Other algorithms: nothing to do. */
clssd_status clssd__conv2d_repack(clssd_exec *ex, const clssd_node *n);

#endif
