/* ELTWISE (Caffe Eltwise: residual sums, products, maxima) and SCALE (per-channel affine,
 * what BatchNorm + Scale become when there is no convolution to fold them into). */
#include <stdio.h>

#include "clssd_internal.h"

clssd_status clssd__eltwise_infer(const clssd_graph *g, clssd_node *n, char *err,
                                  size_t err_size)
{
    const __typeof__(n->p.eltwise) *p = &n->p.eltwise;
    if (n->n_src < 2 || p->method < CLSSD_ELTWISE_PROD || p->method > CLSSD_ELTWISE_MAX ||
        (p->n_coeff != 0 && p->n_coeff != n->n_src) ||
        (p->n_coeff != 0 && p->method != CLSSD_ELTWISE_SUM)) {
        snprintf(err, err_size, "needs >= 2 inputs, op 0..2, and one coefficient per input for "
                 "SUM only (inputs %d, op %d, coefficients %d)", n->n_src, p->method, p->n_coeff);
        return CLSSD_ERR_BAD_MODEL;
    }
    const clssd_shape *a = &g->nodes[n->src[0]].out;
    for (int32_t i = 1; i < n->n_src; i++) {
        const clssd_shape *b = &g->nodes[n->src[i]].out;
        if (b->c != a->c || b->h != a->h || b->w != a->w) {
            snprintf(err, err_size, "input %d is %dx%dx%d, input 0 is %dx%dx%d", i, b->c, b->h,
                     b->w, a->c, a->h, a->w);
            return CLSSD_ERR_BAD_MODEL;
        }
    }
    n->out = *a;
    return CLSSD_OK;
}

clssd_status clssd__eltwise_cl(clssd_exec *ex, const clssd_node *n)
{
    cl_kernel k;
    CLSSD_TRY(clssd__kernel(ex->ctx, "eltwise", "clssd_eltwise_acc", &k));
    cl_mem y = ex->bufs[n - ex->g->nodes];
    const cl_int count = (cl_int)(clssd__shape_count(&n->out) * (size_t)ex->batch);
    const cl_int method = n->p.eltwise.method;
    clssd_status s = CLSSD_OK;
    for (int32_t i = 0; i < n->n_src && s == CLSSD_OK; i++) {
        cl_mem x = ex->bufs[n->src[i]];
        const float coeff = n->p.eltwise.n_coeff ? n->p.eltwise.coeff[i] : 1.0f;
        const cl_int first = i == 0;
        s = clssd__set_args(ex->ctx, k, 6, sizeof x, &x, sizeof y, &y, sizeof count, &count,
                            sizeof method, &method, sizeof coeff, &coeff, sizeof first, &first);
        const size_t gsz = (size_t)count, lsz = 64;
        if (s == CLSSD_OK) s = clssd__enqueue(ex->ctx, k, 1, &gsz, &lsz);
    }
    clReleaseKernel(k);
    return s;
}

clssd_status clssd__eltwise_ref(const clssd_ref_args *a)
{
    const clssd_node *n = a->node;
    if (a->n_src < 2 || !a->dst) return CLSSD_ERR_INVALID_ARG;
    const size_t count = clssd__shape_count(&n->out) * (size_t)a->batch;
    for (size_t i = 0; i < count; i++) {
        float y = 0.0f;
        for (int32_t s = 0; s < a->n_src; s++) {
            const float v = a->src[s][i];
            const float c = n->p.eltwise.n_coeff ? n->p.eltwise.coeff[s] : 1.0f;
            if (s == 0)
                y = n->p.eltwise.method == CLSSD_ELTWISE_SUM ? c * v : v;
            else if (n->p.eltwise.method == CLSSD_ELTWISE_PROD)
                y = y * v;
            else if (n->p.eltwise.method == CLSSD_ELTWISE_SUM)
                y = y + c * v;
            else
                y = y > v ? y : v;
        }
        a->dst[i] = y;
    }
    return CLSSD_OK;
}

clssd_status clssd__scale_infer(const clssd_graph *g, clssd_node *n, char *err, size_t err_size)
{
    if (n->n_src != 1 || n->weight < 0) {
        snprintf(err, err_size, "needs 1 input and a scale tensor");
        return CLSSD_ERR_BAD_MODEL;
    }
    const clssd_shape *x = &g->nodes[n->src[0]].out;
    const size_t ns = clssd__shape_count(&g->tensors[n->weight].shape);
    const size_t nb = n->bias >= 0 ? clssd__shape_count(&g->tensors[n->bias].shape) : (size_t)x->c;
    if (ns != (size_t)x->c || nb != (size_t)x->c) {
        snprintf(err, err_size, "scale has %zu and bias %zu values for %d channels", ns, nb, x->c);
        return CLSSD_ERR_BAD_MODEL;
    }
    n->out = *x;
    return CLSSD_OK;
}

clssd_status clssd__scale_cl(clssd_exec *ex, const clssd_node *n)
{
    cl_kernel k;
    CLSSD_TRY(clssd__kernel(ex->ctx, "eltwise", "clssd_scale_channel", &k));
    cl_mem x = ex->bufs[n->src[0]], y = ex->bufs[n - ex->g->nodes], sc = ex->weights[n->weight];
    cl_mem b = n->bias >= 0 ? ex->weights[n->bias] : sc;
    const cl_int count = (cl_int)(clssd__shape_count(&n->out) * (size_t)ex->batch),
                 C = n->out.c, HW = n->out.h * n->out.w, has_bias = n->bias >= 0;
    clssd_status s = clssd__set_args(ex->ctx, k, 8, sizeof x, &x, sizeof y, &y, sizeof count,
                                     &count, sizeof C, &C, sizeof HW, &HW, sizeof sc, &sc,
                                     sizeof b, &b, sizeof has_bias, &has_bias);
    const size_t gsz = (size_t)count, lsz = 64;
    if (s == CLSSD_OK) s = clssd__enqueue(ex->ctx, k, 1, &gsz, &lsz);
    clReleaseKernel(k);
    return s;
}

clssd_status clssd__scale_ref(const clssd_ref_args *a)
{
    const clssd_node *n = a->node;
    if (a->n_src != 1 || !a->weight || !a->dst) return CLSSD_ERR_INVALID_ARG;
    const size_t C = (size_t)n->out.c, HW = (size_t)n->out.h * (size_t)n->out.w;
    const size_t count = C * HW * (size_t)a->batch;
    for (size_t i = 0; i < count; i++) {
        const size_t c = (i / HW) % C;
        float v = a->src[0][i] * a->weight[c];
        if (a->bias) v += a->bias[c];
        a->dst[i] = v;
    }
    return CLSSD_OK;
}
