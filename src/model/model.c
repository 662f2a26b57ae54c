/* Public model and detection API. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "clssd_internal.h"

/* Takes ownership of *g (moved into the model). */
clssd_status clssd__model_from_graph(clssd_context *ctx, clssd_graph *g, clssd_model **out)
{
    char why[512] = "";
    clssd_status s = clssd__graph_infer(g, why, sizeof why);
    if (s != CLSSD_OK) {
        clssd__graph_free(g);
        return CLSSD_FAIL(ctx, s, "%s", why);
    }
    if (g->input < 0 || g->nodes[g->input].op != CLSSD_OP_INPUT || g->output < 0 ||
        g->nodes[g->output].op != CLSSD_OP_NMS) {
        clssd__graph_free(g);
        return CLSSD_FAIL(ctx, CLSSD_ERR_BAD_MODEL, "model needs an input node and an nms output");
    }
    /* g->pre is no graph node, so infer did not check it: refuse an unknown mode at load
     * time rather than at the first detect */
    const int32_t mode = g->pre.pre.resize;
    if (mode != CLSSD_RESIZE_HALF_PIXEL && mode != CLSSD_RESIZE_TF_LEGACY) {
        clssd__graph_free(g);
        return CLSSD_FAIL(ctx, CLSSD_ERR_BAD_MODEL, "preprocess: unknown resize mode %d", mode);
    }
    clssd_model *m = clssd__calloc(1, sizeof *m);
    if (!m) {
        clssd__graph_free(g);
        return CLSSD_FAIL(ctx, CLSSD_ERR_OUT_OF_MEMORY, "model: out of memory");
    }
    m->ctx = ctx;
    m->g = *g;
    clssd__graph_init(g);
    m->prior_node = -1;
    s = clssd__exec_create(ctx, &m->g, 1, &m->ex);
    if (s == CLSSD_OK) s = clssd__model_tune(ctx, &m->g, m->ex);
    if (s != CLSSD_OK) {
        clssd_model_destroy(m);
        return s;
    }
    *out = m;
    return CLSSD_OK;
}

clssd_status clssd_model_create_ssd(clssd_context *ctx, const clssd_ssd_params *p,
                                    clssd_model **out)
{
    if (!ctx || !p || !out) return CLSSD_ERR_INVALID_ARG;
    *out = NULL;
    clssd_graph g;
    clssd__graph_init(&g);
    char why[512] = "";
    clssd_status s = clssd__ssd_vgg_build(p, &g, why, sizeof why);
    if (s != CLSSD_OK) {
        clssd__graph_free(&g);
        return CLSSD_FAIL(ctx, s, "SSD builder: %s", why[0] ? why : clssd_status_string(s));
    }
    clssd__graph_init_weights(&g, p->seed, p->init);
    return clssd__model_from_graph(ctx, &g, out);
}

clssd_status clssd_model_load(clssd_context *ctx, const char *path, clssd_model **out)
{
    if (!ctx || !path || !out) return CLSSD_ERR_INVALID_ARG;
    *out = NULL;
    clssd_graph g;
    clssd__graph_init(&g);
    char why[512] = "";
    clssd_status s = clssd__file_load(path, &g, why, sizeof why);
    if (s != CLSSD_OK) {
        clssd__graph_free(&g);
        return CLSSD_FAIL(ctx, s, "%s", why[0] ? why : clssd_status_string(s));
    }
    return clssd__model_from_graph(ctx, &g, out);
}

clssd_status clssd_model_save(const clssd_model *m, const char *path)
{
    if (!m || !path) return CLSSD_ERR_INVALID_ARG;
    char why[512] = "";
    clssd_status s = clssd__file_save(&m->g, path, why, sizeof why);
    if (s != CLSSD_OK) return CLSSD_FAIL(m->ctx, s, "%s", why);
    return CLSSD_OK;
}

void clssd_model_destroy(clssd_model *m)
{
    if (!m) return;
    clssd__exec_destroy(m->ex);
    clssd__graph_free(&m->g);
    clssd__free(m);
}

clssd_status clssd_model_get_info(const clssd_model *m, clssd_model_info *out)
{
    if (!m || !out) return CLSSD_ERR_INVALID_ARG;
    memset(out, 0, sizeof *out);
    const clssd_graph *g = &m->g;
    const clssd_node *in = &g->nodes[g->input];
    const clssd_node *nms = &g->nodes[g->output];
    out->input_width = in->out.w;
    out->input_height = in->out.h;
    out->input_channels = in->out.c;
    out->n_classes = nms->p.nms.n_classes;
    out->n_priors = (int32_t)(clssd__shape_count(&g->nodes[nms->src[0]].out) / 4);
    out->n_nodes = g->n_nodes;
    for (int32_t t = 0; t < g->n_tensors; t++)
        out->n_params += (int64_t)clssd__shape_count(&g->tensors[t].shape);
    out->name = g->name;
    return CLSSD_OK;
}

const char *clssd_model_label(const clssd_model *m, int32_t label)
{
    if (!m || label < 0 || label >= m->g.n_labels) return NULL;
    return m->g.labels[label];
}

void clssd_detect_params_init(clssd_detect_params *p)
{
    if (!p) return;
    memset(p, 0, sizeof *p);
    p->struct_size = (uint32_t)sizeof *p;
    p->conf_thresh = 0.01f;
    p->nms_thresh = 0.45f;
    p->top_k = 400;
    p->keep_top_k = 200;
}

/* The model's own post-processing: the reference SSD settings for built models, those of
 * the DetectionOutput layer for imported ones. */
clssd_status clssd_model_detect_params(const clssd_model *m, clssd_detect_params *p)
{
    if (!m || !p) return CLSSD_ERR_INVALID_ARG;
    const clssd_node *nms = &m->g.nodes[m->g.output];
    clssd_detect_params_init(p);
    p->conf_thresh = nms->p.nms.conf_thresh;
    p->nms_thresh = nms->p.nms.nms_thresh;
    p->top_k = nms->p.nms.top_k > 0 ? nms->p.nms.top_k : INT32_MAX;
    p->keep_top_k = nms->p.nms.keep_top_k > 0 ? nms->p.nms.keep_top_k : nms->out.h - 1;
    return CLSSD_OK;
}

/* Grows the plan when a batch larger than any before arrives. */
static clssd_status ensure_batch(clssd_model *m, int32_t batch)
{
    if (m->ex && m->ex->max_batch >= batch) return CLSSD_OK;
    clssd_exec *ex = NULL;
    clssd__exec_destroy(m->ex);
    m->ex = NULL;
    clssd_status s = clssd__exec_create(m->ctx, &m->g, batch, &ex);
    if (s != CLSSD_OK) {
        /* Leave the model usable at batch 1 rather than broken. */
        if (clssd__exec_create(m->ctx, &m->g, 1, &m->ex) != CLSSD_OK) m->ex = NULL;
        return s;
    }
    m->ex = ex;
    return CLSSD_OK;
}

/* Packs the images into the device staging buffer and runs PREPROCESS into the input. */
static clssd_status upload_images(clssd_model *m, const clssd_image *imgs, int32_t n)
{
    clssd_context *ctx = m->ctx;
    clssd_exec *ex = m->ex;
    size_t total = 0;
    for (int32_t i = 0; i < n; i++) {
        const clssd_image *im = &imgs[i];
        if (!im->rgb || im->width <= 0 || im->height <= 0 || im->width > 65535 ||
            im->height > 65535 || im->stride < 3 * im->width)
            return CLSSD_FAIL(ctx, CLSSD_ERR_INVALID_ARG,
                              "image %d: bad geometry %dx%d stride %d (need stride >= 3*width)",
                              i, im->width, im->height, im->stride);
        size_t bytes = (size_t)im->width * 3u * (size_t)im->height;
        if (!clssd__add_size(total, bytes, &total) || total > INT32_MAX)
            return CLSSD_FAIL(ctx, CLSSD_ERR_INVALID_ARG, "images too large for one batch");
    }
    if (total > ex->image_bytes) {
        if (ex->image_u8) clReleaseMemObject(ex->image_u8);
        ex->image_u8 = NULL;
        ex->image_bytes = 0;
        CLSSD_TRY(clssd__buffer_for(ctx, total, CL_MEM_READ_ONLY, &ex->image_u8,
                                    "staging buffer of the input images"));
        ex->image_bytes = total;
    }
    if (!ex->image_desc)
        CLSSD_TRY(clssd__buffer_for(ctx, (size_t)ex->max_batch * 4 * sizeof(cl_int),
                                    CL_MEM_READ_ONLY, &ex->image_desc, "image descriptors"));
    /* The writes do not block: the queue is in order, so the network reads what they wrote,
     * and clssd_detect_batch ends with a blocking read (or a clFinish on failure) before the
     * caller's pixels may go away. One wait per batch instead of one per image. */
    cl_int *desc = ex->image_desc_host;
    size_t off = 0;
    for (int32_t i = 0; i < n; i++) {
        const clssd_image *im = &imgs[i];
        const size_t row = (size_t)im->width * 3u;
        desc[4 * i] = (cl_int)off;
        desc[4 * i + 1] = im->width;
        desc[4 * i + 2] = im->height;
        desc[4 * i + 3] = (cl_int)row;
        if ((size_t)im->stride == row) {
            CLSSD_CL(ctx, clEnqueueWriteBuffer(ctx->queue, ex->image_u8, CL_FALSE, off,
                                               row * (size_t)im->height, im->rgb, 0, NULL, NULL));
        } else {
            /* Rows with padding: a rectangular copy drops it on the way. */
            const size_t buf_origin[3] = {off, 0, 0}, host_origin[3] = {0, 0, 0};
            const size_t region[3] = {row, (size_t)im->height, 1};
            CLSSD_CL(ctx, clEnqueueWriteBufferRect(ctx->queue, ex->image_u8, CL_FALSE, buf_origin,
                                                   host_origin, region, row, 0,
                                                   (size_t)im->stride, 0, im->rgb, 0, NULL,
                                                   NULL));
        }
        off += row * (size_t)im->height;
    }
    CLSSD_CL(ctx, clEnqueueWriteBuffer(ctx->queue, ex->image_desc, CL_FALSE, 0,
                                       (size_t)n * 4 * sizeof(cl_int), desc, 0, NULL, NULL));
    ex->batch = n;
    return clssd__preprocess_run(ex, &m->g.pre, ex->bufs[m->g.input]);
}

static float clamp01(float v)
{
    return v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
}

#define MAX_BATCH 64

clssd_status clssd_detect_batch(clssd_model *m, const clssd_image *images, size_t n_images,
                                const clssd_detect_params *p, clssd_detection *dets, size_t cap,
                                size_t *counts, size_t *n_total)
{
    if (!m || !images || !counts || !n_total || (cap && !dets)) return CLSSD_ERR_INVALID_ARG;
    clssd_context *ctx = m->ctx;
    if (n_images == 0 || n_images > MAX_BATCH)
        return CLSSD_FAIL(ctx, CLSSD_ERR_INVALID_ARG, "batch of %zu images (1..%d)", n_images,
                          MAX_BATCH);
    const clssd_node *nms = &m->g.nodes[m->g.output];
    clssd_detect_params dp;
    clssd_model_detect_params(m, &dp);
    if (p) {
        if (p->struct_size != sizeof *p)
            return CLSSD_FAIL(ctx, CLSSD_ERR_INVALID_ARG, "clssd_detect_params.struct_size");
        dp = *p;
    }
    if (!(dp.nms_thresh >= 0.0f && dp.nms_thresh <= 1.0f) || dp.top_k < 1 ||
        dp.keep_top_k < 1 || dp.keep_top_k > nms->out.h - 1 || isnan(dp.conf_thresh))
        return CLSSD_FAIL(ctx, CLSSD_ERR_INVALID_ARG,
                          "detect params: nms_thresh %g in [0,1], top_k %d >= 1, keep_top_k %d in "
                          "1..%d", (double)dp.nms_thresh, dp.top_k, dp.keep_top_k,
                          nms->out.h - 1);
    /* (a plan lost to an earlier failure is rebuilt here) */
    CLSSD_TRY(ensure_batch(m, (int32_t)n_images));
    clssd_exec *ex = m->ex;
    clssd_status s = upload_images(m, images, (int32_t)n_images);
    if (s == CLSSD_OK) {
        ex->detect = &dp;
        s = clssd__exec_run(ex, 0, m->g.n_nodes - 1);
        ex->detect = NULL;
    }
    const size_t rows = (size_t)nms->out.h, per = rows * CLSSD_NMS_ROW;
    float *host = s == CLSSD_OK ? clssd__malloc(per * n_images * sizeof(float)) : NULL;
    if (s == CLSSD_OK && !host)
        s = CLSSD_FAIL(ctx, CLSSD_ERR_OUT_OF_MEMORY, "detections of %zu images: out of memory",
                       n_images);
    if (s != CLSSD_OK) {
        /* the uploads may still be reading the caller's pixels */
        clFinish(ctx->queue);
        return s;
    }
    cl_int e = clEnqueueReadBuffer(ctx->queue, ex->bufs[m->g.output], CL_TRUE, 0,
                                   per * n_images * sizeof(float), host, 0, NULL, NULL);
    if (e != CL_SUCCESS) {
        clssd__free(host);
        return CLSSD_FAIL(ctx, (clssd_status)e, "reading detections -> %s",
                          clssd__cl_error_name(e));
    }
    size_t total = 0;
    for (size_t i = 0; i < n_images; i++) {
        const float *r = host + i * per;
        size_t cnt = (size_t)r[0];
        if (cnt > rows - 1) cnt = rows - 1;
        counts[i] = cnt;
        const float W = (float)images[i].width, H = (float)images[i].height;
        for (size_t k = 0; k < cnt; k++, total++) {
            if (total >= cap) continue;
            const float *row = r + (k + 1) * CLSSD_NMS_ROW;
            clssd_detection *d = &dets[total];
            d->label = (int32_t)row[0];
            d->score = row[1];
            /* Clipped only when written out, in the original image's pixels (D2). */
            d->xmin = clamp01(row[2]) * W;
            d->ymin = clamp01(row[3]) * H;
            d->xmax = clamp01(row[4]) * W;
            d->ymax = clamp01(row[5]) * H;
        }
    }
    clssd__free(host);
    *n_total = total;
    if (total > cap)
        return CLSSD_FAIL(ctx, CLSSD_ERR_BUFFER_TOO_SMALL, "%zu detections, room for %zu", total,
                          cap);
    return CLSSD_OK;
}

clssd_status clssd_detect(clssd_model *m, const uint8_t *rgb, int32_t width, int32_t height,
                          int32_t stride, const clssd_detect_params *p, clssd_detection *dets,
                          size_t cap, size_t *n_dets)
{
    if (!n_dets) return CLSSD_ERR_INVALID_ARG;
    clssd_image im = {rgb, width, height, stride};
    size_t count = 0;
    return clssd_detect_batch(m, &im, 1, p, dets, cap, &count, n_dets);
}
