/* Reference PRIORBOX, a transcription of Caffe's prior_box_layer.cpp (weiliu89/caffe, ssd):
 * the sizes are cast to int (P4), the corner arithmetic is done in double and stored as
 * float, the centres are float. Output [2, H*W*np*4]: the boxes, then their variances. The
 * aspect-ratio helpers here are shared with infer and the device launcher, so that all three
 * agree on the order of the priors inside a cell (P2). */
#include <math.h>

#include "clssd_internal.h"

int32_t clssd__prior_aspect_ratios(const clssd_node *n, float out[16])
{
    const __typeof__(n->p.prior) *p = &n->p.prior;
    if (p->n_ar < 0 || p->n_ar > 6) return -1;
    int32_t len = 0;
    out[len++] = 1.0f;
    for (int32_t i = 0; i < p->n_ar; i++) {
        const float ar = p->ar[i];
        int exists = 0;
        /* float difference, widened for the comparison: as Caffe's fabs(float - float) */
        for (int32_t j = 0; j < len && !exists; j++) exists = fabs((double)(ar - out[j])) < 1e-6;
        if (exists) continue;
        out[len++] = ar;
        if (p->flip) out[len++] = (float)(1.0 / (double)ar);
    }
    return len;
}

/* Priors per cell, or -1 when the parameters are not a valid Caffe PriorBox. */
int32_t clssd__prior_per_cell(const clssd_node *n)
{
    const __typeof__(n->p.prior) *p = &n->p.prior;
    if (p->n_min < 1 || p->n_min > 4 || (p->n_max != 0 && p->n_max != p->n_min)) return -1;
    for (int32_t s = 0; s < p->n_min; s++) {
        /* the bound keeps Caffe's int casts and int product defined */
        if (!(p->min_size[s] > 0.0f) || !(p->min_size[s] < 1e6f)) return -1;
        if (p->n_max && (!(p->max_size[s] > p->min_size[s]) || !(p->max_size[s] < 1e6f)))
            return -1;
    }
    float ars[16];
    const int32_t n_ar = clssd__prior_aspect_ratios(n, ars);
    if (n_ar < 1) return -1;
    for (int32_t i = 0; i < n_ar; i++)
        if (!(ars[i] > 0.0f) || !isfinite(ars[i])) return -1;
    return n_ar * p->n_min + p->n_max;
}

/* One prior: corners relative to the image, in double as Caffe's `box_width / 2.` makes
 * them, then rounded to float on the store. */
static float *put_box(float *o, float cx, float cy, float bw, float bh, int32_t img_w,
                      int32_t img_h)
{
    o[0] = (float)(((double)cx - (double)bw / 2.) / (double)img_w);
    o[1] = (float)(((double)cy - (double)bh / 2.) / (double)img_h);
    o[2] = (float)(((double)cx + (double)bw / 2.) / (double)img_w);
    o[3] = (float)(((double)cy + (double)bh / 2.) / (double)img_h);
    return o + 4;
}

clssd_status clssd__priorbox_ref(const clssd_ref_args *a)
{
    const clssd_node *n = a->node;
    const __typeof__(n->p.prior) *p = &n->p.prior;
    if (a->n_src < 2 || !a->dst) return CLSSD_ERR_INVALID_ARG;
    const int32_t np = clssd__prior_per_cell(n);
    const int32_t H = a->src_shape[0].h, W = a->src_shape[0].w;
    if (np < 1 || H <= 0 || W <= 0) return CLSSD_ERR_INVALID_ARG;
    if (p->n_var != 0 && p->n_var != 1 && p->n_var != 4) return CLSSD_ERR_INVALID_ARG;
    int32_t img_w = p->img_w, img_h = p->img_h;
    if (img_w == 0 || img_h == 0) {
        img_w = a->src_shape[1].w;
        img_h = a->src_shape[1].h;
    }
    if (img_w <= 0 || img_h <= 0) return CLSSD_ERR_INVALID_ARG;
    float step_w = p->step_w, step_h = p->step_h;
    if (step_w == 0.0f || step_h == 0.0f) {
        step_w = (float)img_w / (float)W;
        step_h = (float)img_h / (float)H;
    }
    const size_t dim = (size_t)H * (size_t)W * (size_t)np * 4;
    if (clssd__shape_count(&n->out) != 2 * dim) return CLSSD_ERR_INVALID_ARG;

    float ars[16];
    const int32_t n_ar = clssd__prior_aspect_ratios(n, ars);
    float *o = a->dst;
    for (int32_t h = 0; h < H; h++)
        for (int32_t w = 0; w < W; w++) {
            const float cx = ((float)w + p->offset) * step_w;
            const float cy = ((float)h + p->offset) * step_h;
            for (int32_t s = 0; s < p->n_min; s++) {
                const int32_t ms = (int32_t)p->min_size[s]; /* P4: Caffe's int min_size_ */
                o = put_box(o, cx, cy, (float)ms, (float)ms, img_w, img_h);
                if (p->n_max) {
                    const int32_t Ms = (int32_t)p->max_size[s];
                    const float side = (float)sqrt((double)((int64_t)ms * Ms));
                    o = put_box(o, cx, cy, side, side, img_w, img_h);
                }
                for (int32_t r = 0; r < n_ar; r++) {
                    const float ar = ars[r];
                    if (fabs((double)ar - 1.) < 1e-6) continue;
                    const float bw = (float)ms * sqrtf(ar), bh = (float)ms / sqrtf(ar);
                    o = put_box(o, cx, cy, bw, bh, img_w, img_h);
                }
            }
        }
    if (p->clip)
        for (size_t d = 0; d < dim; d++) {
            /* std::min(std::max(v, 0), 1) with std's argument order */
            float v = a->dst[d] < 0.0f ? 0.0f : a->dst[d];
            a->dst[d] = 1.0f < v ? 1.0f : v;
        }
    /* P7: one variance is broadcast; none means Caffe's default 0.1 */
    float *var = a->dst + dim;
    for (size_t d = 0; d < dim; d++)
        var[d] = p->n_var == 0 ? 0.1f : p->n_var == 1 ? p->var[0] : p->var[d % 4];
    return CLSSD_OK;
}
