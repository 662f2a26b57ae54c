/* NMS (Caffe DetectionOutput, share_location = true) on the device, bit-exact with the
 * reference: the algorithm is described in cl/nms.cl. This file validates the parameters
 * (the detect API's override the node's), lays out the shared workspace and launches the
 * three kernels. */
#include <math.h>
#include <stdio.h>

#include "clssd_internal.h"

#define NMS_MAXWG 256 /* the local arrays of cl/nms.cl are sized for this */
#define NMS_MAX_PRIORS (1 << 24) /* prior indices are written as exact floats */

typedef struct nms_dims {
    int32_t P, C, Cn, bg; /* priors, classes, non-background classes, background or -1 */
} nms_dims;

/* Workspace layout, in uints: per (image, class) row [count, kept priors] (K + 1 each), then
 * the keys (P per row), then one slot per concurrently running work-group: K kept boxes
 * (float4), L sort keys and L sort priors (L = K rounded up to a power of two). */
typedef struct nms_layout {
    size_t rows, keys_off, slot_base, slot;
    int32_t L;
} nms_layout;

static void nms_get_dims(const clssd_graph *g, const clssd_node *n, nms_dims *d)
{
    d->P = (int32_t)(clssd__shape_count(&g->nodes[n->src[0]].out) / 4);
    d->C = n->p.nms.n_classes;
    d->bg = n->p.nms.background >= 0 ? n->p.nms.background : -1;
    d->Cn = d->C - (d->bg >= 0 && d->bg < d->C ? 1 : 0);
}

/* top_k < 0 means all candidates; more than P is all of them too. */
static int32_t nms_k(int32_t top_k, int32_t P)
{
    return (top_k < 0 || top_k > P) ? P : top_k;
}

static size_t round4(size_t v)
{
    return (v + 3) & ~(size_t)3;
}

/* Returns 0 on size overflow. */
static int nms_plan(int32_t batch, const nms_dims *d, int32_t K, nms_layout *l)
{
    size_t res, keys;
    int32_t L = 1;
    while (L < K) L *= 2;
    l->L = L;
    if (!clssd__mul_size((size_t)batch, (size_t)d->Cn, &l->rows) ||
        !clssd__mul_size(l->rows, (size_t)K + 1, &res) ||
        !clssd__mul_size(l->rows, (size_t)d->P, &keys) ||
        !clssd__add_size(round4(res), round4(keys), &l->slot_base))
        return 0;
    l->keys_off = round4(res);
    l->slot = 4 * (size_t)K + 2 * (size_t)L;
    return 1;
}

clssd_status clssd__nms_infer(const clssd_graph *g, clssd_node *n, char *err, size_t err_size)
{
    if (n->n_src != 2) {
        snprintf(err, err_size, "needs 2 inputs (boxes, probabilities)");
        return CLSSD_ERR_BAD_MODEL;
    }
    const size_t nb = clssd__shape_count(&g->nodes[n->src[0]].out);
    const size_t nc = clssd__shape_count(&g->nodes[n->src[1]].out);
    const int32_t C = n->p.nms.n_classes, bg = n->p.nms.background;
    if (nb == 0 || nb % 4 != 0 || nb / 4 >= NMS_MAX_PRIORS || C < 1 ||
        nc != nb / 4 * (size_t)C || nc > (size_t)INT32_MAX) {
        snprintf(err, err_size, "boxes have %zu values and scores %zu: expected P*4 and P*%d "
                 "(P < %d)", nb, nc, C, NMS_MAX_PRIORS);
        return CLSSD_ERR_BAD_MODEL;
    }
    if (bg < -1 || bg >= C || n->p.nms.top_k == 0 || isnan(n->p.nms.conf_thresh) ||
        !(n->p.nms.nms_thresh >= 0.0f)) {
        snprintf(err, err_size, "bad parameters: background %d of %d classes, top_k %d (0 keeps "
                 "nothing; < 0 keeps all), conf %g, nms %g", bg, C, n->p.nms.top_k,
                 (double)n->p.nms.conf_thresh, (double)n->p.nms.nms_thresh);
        return CLSSD_ERR_BAD_MODEL;
    }
    nms_dims d;
    nms_get_dims(g, n, &d);
    /* keep_top_k < 0: no cross-class cap, so every class may keep all its candidates */
    const int64_t cap = n->p.nms.keep_top_k >= 0
                            ? (int64_t)n->p.nms.keep_top_k
                            : (int64_t)d.Cn * nms_k(n->p.nms.top_k, d.P);
    if (cap + 1 > INT32_MAX / CLSSD_NMS_ROW) {
        snprintf(err, err_size, "%lld output rows are too many", (long long)cap);
        return CLSSD_ERR_BAD_MODEL;
    }
    n->out = (clssd_shape){1, 1, (int32_t)cap + 1, CLSSD_NMS_ROW};
    return CLSSD_OK;
}

size_t clssd__nms_workspace(const clssd_graph *g, const clssd_node *n, int32_t batch)
{
    nms_dims d;
    nms_layout l;
    size_t slots, total;
    nms_get_dims(g, n, &d);
    const int32_t K = nms_k(n->p.nms.top_k, d.P);
    if (K < 1 || !nms_plan(batch, &d, K, &l) || !clssd__mul_size(l.rows, l.slot, &slots) ||
        !clssd__add_size(l.slot_base, slots, &total) || !clssd__mul_size(total, 4, &total))
        return 0; /* infer refused these parameters already */
    return total;
}

/* Largest power of two <= min(kernel limit, context limit, cap). */
static clssd_status nms_wg(clssd_context *ctx, cl_kernel k, size_t cap, size_t *out)
{
    size_t kmax = 0;
    CLSSD_CL(ctx, clGetKernelWorkGroupInfo(k, ctx->device, CL_KERNEL_WORK_GROUP_SIZE,
                                           sizeof kmax, &kmax, NULL));
    if (kmax > ctx->max_wg) kmax = ctx->max_wg;
    if (kmax > cap) kmax = cap;
    size_t w = 1;
    while (w * 2 <= kmax) w *= 2;
    *out = w;
    return CLSSD_OK;
}

clssd_status clssd__nms_cl(clssd_exec *ex, const clssd_node *n)
{
    clssd_context *ctx = ex->ctx;
    nms_dims d;
    nms_get_dims(ex->g, n, &d);
    float conf = n->p.nms.conf_thresh, nmst = n->p.nms.nms_thresh;
    int32_t top_k = n->p.nms.top_k, keep = n->p.nms.keep_top_k;
    if (ex->detect) {
        conf = ex->detect->conf_thresh;
        nmst = ex->detect->nms_thresh;
        top_k = ex->detect->top_k;
        keep = ex->detect->keep_top_k;
    }
    if (isnan(conf) || !(nmst >= 0.0f) || top_k == 0)
        return CLSSD_FAIL(ctx, CLSSD_ERR_INVALID_ARG,
                          "NMS: conf_thresh %g, nms_thresh %g (>= 0), top_k %d (> 0, or < 0 "
                          "for all)", (double)conf, (double)nmst, top_k);
    const int32_t K = nms_k(top_k, d.P);
    /* The output buffer has n->out.h - 1 rows per image, sized by the node's keep_top_k. */
    const int64_t cap = (int64_t)n->out.h - 1;
    const int64_t want = keep >= 0 ? (int64_t)keep : (int64_t)d.Cn * K;
    if (want > cap)
        return CLSSD_FAIL(ctx, CLSSD_ERR_INVALID_ARG,
                          "NMS: keep_top_k %d needs %lld rows; the model's output has %lld "
                          "(its keep_top_k %d)", keep, (long long)want, (long long)cap,
                          n->p.nms.keep_top_k);
    nms_layout l;
    size_t ws_uints = ex->ws_bytes / 4;
    if (ws_uints > UINT32_MAX) ws_uints = UINT32_MAX; /* offsets are uint in the kernels */
    if (!nms_plan(ex->batch, &d, K, &l) || (l.rows > 0 && l.slot_base + l.slot > ws_uints))
        return CLSSD_FAIL(ctx, CLSSD_ERR_INVALID_ARG,
                          "NMS: top_k %d needs more than the %zu bytes of workspace the plan "
                          "has (sized for the model's top_k %d)", top_k, ex->ws_bytes,
                          n->p.nms.top_k);
    /* Work-groups beyond the workspace's slots run in later launches. */
    size_t per_launch = l.rows > 0 ? (ws_uints - l.slot_base) / l.slot : 0;
    if (per_launch > l.rows) per_launch = l.rows;

    cl_mem ws = ex->workspace, boxes = ex->bufs[n->src[0]], scores = ex->bufs[n->src[1]];
    cl_mem out = ex->bufs[n - ex->g->nodes];
    const cl_uint keys_off = (cl_uint)l.keys_off, slot_base = (cl_uint)l.slot_base;
    const cl_uint slot_uints = (cl_uint)l.slot;
    const cl_int P = d.P, C = d.C, Cn = d.Cn, bg = d.bg, Kc = K, Lc = l.L, keepc = (cl_int)want;
    const cl_int n_rows = (cl_int)l.rows, zero = 0;
    const cl_int box_stride = ex->g->nodes[n->src[0]].batch_const ? 0 : 4 * P;
    const cl_int conf_stride = ex->g->nodes[n->src[1]].batch_const ? 0 : P * C;
    const cl_int out_stride = n->out.h * CLSSD_NMS_ROW;
    /* CPUs run a work-group's items in a loop, so wide groups only make the in-block
     * conflict masks (wg^2 / 2 IoUs per block) longer: 64 ran ~25% faster than 256 on
     * PoCL. GPUs want the whole group busy on the candidates of a block. */
    const size_t class_cap = ctx->info.is_gpu ? NMS_MAXWG : 64;
    cl_kernel kk = NULL, kc = NULL, kg = NULL;
    size_t wk = 1, wc = 1, wgth = 1;
    clssd_status s = clssd__kernel(ctx, "nms", "clssd_nms_keys", &kk);
    if (s == CLSSD_OK) s = clssd__kernel(ctx, "nms", "clssd_nms_class", &kc);
    if (s == CLSSD_OK) s = clssd__kernel(ctx, "nms", "clssd_nms_gather", &kg);
    if (s == CLSSD_OK) s = nms_wg(ctx, kk, 64, &wk);
    if (s == CLSSD_OK) s = nms_wg(ctx, kc, class_cap, &wc);
    if (s == CLSSD_OK) s = nms_wg(ctx, kg, NMS_MAXWG, &wgth);
    if (s != CLSSD_OK) goto done;

    if (l.rows > 0) {
        s = clssd__set_args(ctx, kk, 10, sizeof scores, &scores, sizeof ws, &ws,
                            sizeof keys_off, &keys_off, sizeof P, &P, sizeof C, &C, sizeof Cn,
                            &Cn, sizeof bg, &bg, sizeof n_rows, &n_rows, sizeof conf_stride,
                            &conf_stride, sizeof conf, &conf);
        const size_t gk[2] = {(size_t)P, l.rows}, lk[2] = {wk, 1};
        if (s == CLSSD_OK) s = clssd__enqueue(ctx, kk, 2, gk, lk);
        if (s == CLSSD_OK)
            s = clssd__set_args(ctx, kc, 12, sizeof ws, &ws, sizeof keys_off, &keys_off,
                                sizeof boxes, &boxes, sizeof box_stride, &box_stride, sizeof P,
                                &P, sizeof Cn, &Cn, sizeof Kc, &Kc, sizeof nmst, &nmst,
                                sizeof zero, &zero, sizeof slot_base, &slot_base,
                                sizeof slot_uints, &slot_uints, sizeof Lc, &Lc);
        for (size_t g0 = 0; s == CLSSD_OK && g0 < l.rows; g0 += per_launch) {
            const cl_int g0c = (cl_int)g0;
            const size_t groups = l.rows - g0 < per_launch ? l.rows - g0 : per_launch;
            const size_t gc = groups * wc;
            cl_int e = clSetKernelArg(kc, 8, sizeof g0c, &g0c);
            if (e != CL_SUCCESS) {
                s = CLSSD_FAIL(ctx, (clssd_status)e, "clSetKernelArg(8) -> %s",
                               clssd__cl_error_name(e));
                break;
            }
            s = clssd__enqueue(ctx, kc, 1, &gc, &wc);
        }
        if (s != CLSSD_OK) goto done;
    }
    s = clssd__set_args(ctx, kg, 14, sizeof ws, &ws, sizeof keys_off, &keys_off, sizeof boxes,
                        &boxes, sizeof box_stride, &box_stride, sizeof scores, &scores,
                        sizeof conf_stride, &conf_stride, sizeof C, &C, sizeof bg, &bg,
                        sizeof P, &P, sizeof Cn, &Cn, sizeof Kc, &Kc, sizeof keepc, &keepc,
                        sizeof out, &out, sizeof out_stride, &out_stride);
    if (s == CLSSD_OK) {
        const size_t gg = (size_t)ex->batch * wgth;
        s = clssd__enqueue(ctx, kg, 1, &gg, &wgth);
    }
done:
    if (kk) clReleaseKernel(kk);
    if (kc) clReleaseKernel(kc);
    if (kg) clReleaseKernel(kg);
    return s;
}
