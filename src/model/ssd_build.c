/* Graph-building pieces shared by the SSD builders; see ssd_build.h. */
#include "model/ssd_build.h"

#include <stdio.h>
#include <string.h>

int32_t clssd__ssd_conv(clssd_ssd_builder *b, const char *name, int32_t src, int32_t cout,
                        int32_t k, int32_t s, int32_t pad, int32_t dil, int relu,
                        int scale_channels)
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
    const int32_t id = clssd__graph_add(g, name, CLSSD_OP_CONV2D, &p, &src, 1);
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

int32_t clssd__ssd_pool(clssd_ssd_builder *b, const char *name, int32_t src, int32_t k, int32_t s,
                        int32_t pad)
{
    if (!b->ok) return -1;
    clssd_op_params p;
    memset(&p, 0, sizeof p);
    p.pool.method = CLSSD_POOL_MAX;
    p.pool.kh = p.pool.kw = k;
    p.pool.sh = p.pool.sw = s;
    p.pool.ph = p.pool.pw = pad;
    const int32_t id = clssd__graph_add(b->g, name, CLSSD_OP_POOL, &p, &src, 1);
    if (id < 0 || clssd__pool_infer(b->g, &b->g->nodes[id], b->err, b->err_size) != CLSSD_OK) {
        b->ok = 0;
        return -1;
    }
    return id;
}

int32_t clssd__ssd_node(clssd_ssd_builder *b, const char *name, clssd_op op,
                        const clssd_op_params *p, const int32_t *src, int32_t n_src)
{
    if (!b->ok) return -1;
    const int32_t id = clssd__graph_add(b->g, name, op, p, src, n_src);
    if (id < 0 || clssd__ops[op].infer(b->g, &b->g->nodes[id], b->err, b->err_size) != CLSSD_OK) {
        b->ok = 0;
        return -1;
    }
    return id;
}

clssd_status clssd__ssd_multibox(clssd_ssd_builder *b, int32_t data, const int32_t *sources,
                                 int32_t n_src, const float *mins, const float *maxs,
                                 const float *steps, int32_t n_classes)
{
    enum { MAX_SRC = 8 };
    if (!b->ok) return CLSSD_ERR_BAD_MODEL;
    if (n_src < 1 || n_src > MAX_SRC) {
        snprintf(b->err, b->err_size, "%d SSD sources (1..%d)", n_src, (int)MAX_SRC);
        return CLSSD_ERR_INVALID_ARG;
    }
    clssd_graph *g = b->g;
    clssd_op_params p;
    int32_t locs[MAX_SRC], confs[MAX_SRC], priors[MAX_SRC];
    for (int32_t i = 0; i < n_src && b->ok; i++) {
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
        /* 3 and 1/3 on all but the first and the last two sources, as the reference (on the
         * first they would multiply the largest prior count) */
        p.prior.n_ar = (i == 0 || i >= n_src - 2) ? 1 : 2;
        p.prior.ar[1] = 3.0f;
        p.prior.flip = 1;
        p.prior.clip = 0;
        p.prior.n_var = 4;
        p.prior.var[0] = p.prior.var[1] = 0.1f;
        p.prior.var[2] = p.prior.var[3] = 0.2f;
        if (steps) p.prior.step_w = p.prior.step_h = steps[i]; /* 0: input / feature size */
        p.prior.offset = 0.5f;
        const int32_t psrc[2] = {sources[i], data};
        snprintf(name, sizeof name, "%s_mbox_priorbox", sname);
        priors[i] = clssd__ssd_node(b, name, CLSSD_OP_PRIORBOX, &p, psrc, 2);
        if (!b->ok) break;
        const int32_t k = clssd__prior_per_cell(&g->nodes[priors[i]]);
        snprintf(name, sizeof name, "%s_mbox_loc", sname);
        const int32_t l = clssd__ssd_conv(b, name, sources[i], 4 * k, 3, 1, 1, 1, 0, 0);
        snprintf(name, sizeof name, "%s_mbox_loc_perm", sname);
        locs[i] = clssd__ssd_node(b, name, CLSSD_OP_PERMUTE, NULL, &l, 1);
        snprintf(name, sizeof name, "%s_mbox_conf", sname);
        const int32_t c = clssd__ssd_conv(b, name, sources[i], n_classes * k, 3, 1, 1, 1, 0, 0);
        snprintf(name, sizeof name, "%s_mbox_conf_perm", sname);
        confs[i] = clssd__ssd_node(b, name, CLSSD_OP_PERMUTE, NULL, &c, 1);
    }
    if (!b->ok) return CLSSD_ERR_BAD_MODEL;
    memset(&p, 0, sizeof p);
    p.concat.axis = 1;
    const int32_t mbox_loc = clssd__ssd_node(b, "mbox_loc", CLSSD_OP_CONCAT, &p, locs, n_src);
    const int32_t mbox_conf = clssd__ssd_node(b, "mbox_conf", CLSSD_OP_CONCAT, &p, confs, n_src);
    p.concat.axis = 2;
    const int32_t mbox_priorbox =
        clssd__ssd_node(b, "mbox_priorbox", CLSSD_OP_CONCAT, &p, priors, n_src);
    memset(&p, 0, sizeof p);
    p.softmax.group = n_classes;
    const int32_t softmax =
        clssd__ssd_node(b, "mbox_conf_softmax", CLSSD_OP_SOFTMAX, &p, &mbox_conf, 1);
    const int32_t dsrc[2] = {mbox_loc, mbox_priorbox};
    const int32_t decode = clssd__ssd_node(b, "mbox_decode", CLSSD_OP_DECODE, NULL, dsrc, 2);
    memset(&p, 0, sizeof p);
    p.nms.n_classes = n_classes;
    p.nms.background = 0;
    p.nms.top_k = 400;
    p.nms.keep_top_k = 200;
    p.nms.conf_thresh = 0.01f;
    p.nms.nms_thresh = 0.45f;
    const int32_t nsrc[2] = {decode, softmax};
    const int32_t out = clssd__ssd_node(b, "detection_out", CLSSD_OP_NMS, &p, nsrc, 2);
    if (!b->ok) return CLSSD_ERR_BAD_MODEL;
    g->output = out;
    return CLSSD_OK;
}

void clssd__ssd_preprocess(clssd_graph *g, int32_t S, float scale)
{
    memset(&g->pre, 0, sizeof g->pre);
    g->pre.pre.out_w = S;
    g->pre.pre.out_h = S;
    g->pre.pre.mean[0] = 104.0f;
    g->pre.pre.mean[1] = 117.0f;
    g->pre.pre.mean[2] = 123.0f;
    g->pre.pre.scale = scale;
    g->pre.pre.bgr = 1;
}
