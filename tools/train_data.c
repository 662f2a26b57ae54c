/* train_data: see train_data.h.
 *
 * Threading: a ring of `prefetch` slots, slot b % R holding batch b. Workers take samples in
 * order under one mutex (next_k), but only of batches below consumed + R, so at most R
 * batches are in the making; the sample -> image mapping (the epoch's permutation) is also
 * resolved under the lock, because it is what must not depend on timing. Decoding,
 * augmentation and preprocessing run unlocked, each writing its own part of the slot (its
 * batch entry's floats and box list). The last worker to finish a slot signals the consumer;
 * the consumer copies the slot out, frees it (consumed++) and wakes the workers. A worker's
 * error is kept in its slot with the lowest failing entry winning, and reported only once the
 * whole slot is done, so the message does not depend on timing either. */
#include "train_data.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "data/dataset.h"
#include "image_io.h"

#define DEFAULT_PREFETCH 3
#define MAX_WORKERS 256
#define MAX_PREFETCH 64

typedef struct td_obj {
    int32_t label;
    uint8_t difficult;
    double box[4]; /* 0-based continuous pixels */
} td_obj;

typedef struct td_image {
    char *file;
    int32_t width, height; /* annotation's <size>, 0 unknown */
    size_t first, n;       /* objects[first .. first + n) */
} td_image;

typedef struct td_slot {
    int64_t batch;   /* batch held, -1 none */
    int32_t claimed; /* entries handed to workers */
    int32_t done;    /* entries finished (failed ones included) */
    float *input;    /* batch * plane3 floats */
    clssd_train_gt *gt; /* batch * max_obj: entry i's boxes at gt + i * max_obj */
    size_t *n_gt;    /* per entry */
    int32_t err_item; /* lowest failing entry, -1 none */
    char err[512];
} td_slot;

struct train_data {
    /* fixed after open */
    td_image *images;
    size_t n_images;
    td_obj *objs;
    size_t n_objs, max_obj;
    clssd_node pre_node; /* PREPROCESS node: p.pre = the model's, out = 1x3xHxW */
    size_t plane3;       /* 3 * H * W */
    clssd_aug_params aug;
    int augment, shuffle;
    uint64_t seed;
    int32_t batch;
    int n_workers, n_started, R;

    pthread_mutex_t mu;
    pthread_cond_t work_cv; /* workers: a slot freed, or stop */
    pthread_cond_t done_cv; /* consumer: a slot completed */
    td_slot *slots;
    int64_t next_k;   /* next sample to hand out */
    int64_t consumed; /* batches returned */
    int64_t perm_epoch;
    uint32_t *perm;
    int stop;

    /* consumer side */
    pthread_t *threads;
    clssd_train_gt *out_gt;
    int dead;
    char dead_err[512];
    double wait_s;
};

static void set_err(char *err, size_t cap, const char *fmt, ...)
{
    if (!err || cap == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

static uint64_t mix64(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Seed of one stream: the sample's (epoch, image), or the epoch's shuffle (image = ~0). Mixed
 * in steps so that neighbouring epochs / images give unrelated streams. */
static uint64_t stream_seed(uint64_t seed, int64_t epoch, uint64_t image)
{
    return mix64(mix64(mix64(seed) ^ (uint64_t)epoch) ^ image);
}

/* The epoch's image order; called under the lock, epochs only move forward. */
static void make_perm(train_data *d, int64_t epoch)
{
    for (size_t i = 0; i < d->n_images; i++) d->perm[i] = (uint32_t)i;
    if (d->shuffle) {
        clssd_rng rng;
        clssd__rng_seed(&rng, stream_seed(d->seed, epoch, ~(uint64_t)0));
        for (size_t i = d->n_images; i > 1; i--) { /* Fisher-Yates */
            const size_t j = (size_t)(clssd__rng_u64(&rng) % (uint64_t)i);
            const uint32_t t = d->perm[i - 1];
            d->perm[i - 1] = d->perm[j];
            d->perm[j] = t;
        }
    }
    d->perm_epoch = epoch;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float clip01(double v)
{
    return (float)(v < 0.0 ? 0.0 : v > 1.0 ? 1.0 : v);
}

/* One sample, unlocked: decode, boxes, augment, preprocess into dst. 0 or -1 with err. */
static int make_sample(const train_data *d, int64_t epoch, uint32_t img_i, float *dst,
                       clssd_train_gt *gt, size_t *n_gt, char *err, size_t errcap)
{
    const td_image *ti = &d->images[img_i];
    imgio_image im = {0};
    char why[256];
    *n_gt = 0;
    if (imgio_load(ti->file, &im, why, sizeof why) != 0) {
        set_err(err, errcap, "%s: %s", ti->file, why);
        return -1;
    }
    /* The boxes are in the annotation's pixel frame; a different decoded size means they
     * would land in the wrong place. */
    if ((ti->width > 0 && ti->width != im.w) || (ti->height > 0 && ti->height != im.h)) {
        set_err(err, errcap, "%s: image is %dx%d but its annotation says %dx%d", ti->file, im.w,
                im.h, (int)ti->width, (int)ti->height);
        imgio_free(&im);
        return -1;
    }
    size_t n = 0;
    for (size_t j = 0; j < ti->n; j++) {
        const td_obj *o = &d->objs[ti->first + j];
        clssd_train_gt *g = &gt[n];
        g->image = 0;
        g->label = o->label;
        g->difficult = o->difficult;
        g->box[0] = clip01(o->box[0] / im.w);
        g->box[1] = clip01(o->box[1] / im.h);
        g->box[2] = clip01(o->box[2] / im.w);
        g->box[3] = clip01(o->box[3] / im.h);
        if (g->box[2] > g->box[0] && g->box[3] > g->box[1]) n++; /* else: no area, dropped */
    }

    clssd_aug_image src = {im.px, im.w, im.h, (size_t)im.w * 3}, aug = {0};
    const clssd_aug_image *use = &src;
    if (d->augment) {
        clssd_rng rng;
        clssd__rng_seed(&rng, stream_seed(d->seed, epoch, img_i));
        size_t n_out = 0;
        const clssd_status st = clssd__augment(&d->aug, &rng, &src, gt, n, &aug, gt, &n_out);
        if (st != CLSSD_OK) {
            set_err(err, errcap, "%s: augmentation failed: %s", ti->file, clssd_status_string(st));
            imgio_free(&im);
            return -1;
        }
        n = n_out;
        use = &aug;
    }
    const clssd_image ci = {use->data, use->w, use->h, (int32_t)use->stride};
    clssd_ref_args a;
    memset(&a, 0, sizeof a);
    a.node = &d->pre_node;
    a.batch = 1;
    a.dst = dst;
    a.images = &ci;
    const clssd_status st = clssd__preprocess_ref(&a);
    clssd__free(aug.data);
    imgio_free(&im);
    if (st != CLSSD_OK) {
        set_err(err, errcap, "%s: preprocessing failed: %s", ti->file, clssd_status_string(st));
        return -1;
    }
    *n_gt = n;
    return 0;
}

static void *worker(void *arg)
{
    train_data *d = arg;
    char err[512];
    pthread_mutex_lock(&d->mu);
    for (;;) {
        const int64_t b = d->next_k / d->batch;
        if (d->stop) break;
        if (b >= d->consumed + d->R) {
            pthread_cond_wait(&d->work_cv, &d->mu);
            continue;
        }
        const int64_t k = d->next_k++;
        const int32_t item = (int32_t)(k % d->batch);
        const int64_t epoch = k / (int64_t)d->n_images;
        if (epoch != d->perm_epoch) make_perm(d, epoch);
        const uint32_t img = d->perm[(size_t)(k % (int64_t)d->n_images)];
        td_slot *s = &d->slots[b % d->R];
        if (s->batch != b) { /* first sample of this batch: the slot's old batch was consumed */
            s->batch = b;
            s->claimed = s->done = 0;
            s->err_item = -1;
        }
        s->claimed++;
        pthread_mutex_unlock(&d->mu);

        size_t n = 0;
        const int rc = make_sample(d, epoch, img, s->input + (size_t)item * d->plane3,
                                   s->gt + (size_t)item * d->max_obj, &n, err, sizeof err);

        pthread_mutex_lock(&d->mu);
        s->n_gt[item] = rc == 0 ? n : 0;
        if (rc != 0 && (s->err_item < 0 || item < s->err_item)) {
            s->err_item = item;
            memcpy(s->err, err, sizeof s->err);
        }
        if (++s->done == d->batch) pthread_cond_broadcast(&d->done_cv);
    }
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

int train_data_next(train_data *d, float *input, const clssd_train_gt **gt, size_t *n_gt,
                    char *err, size_t errcap)
{
    if (!d || !input || !gt || !n_gt) {
        set_err(err, errcap, "train_data_next: bad arguments");
        return -1;
    }
    *gt = NULL;
    *n_gt = 0;
    if (d->dead) {
        set_err(err, errcap, "%s", d->dead_err);
        return -1;
    }
    const int64_t b = d->consumed;
    td_slot *s = &d->slots[b % d->R];
    pthread_mutex_lock(&d->mu);
    if (!(s->batch == b && s->done == d->batch)) {
        const double t0 = now_s();
        while (!(s->batch == b && s->done == d->batch)) pthread_cond_wait(&d->done_cv, &d->mu);
        d->wait_s += now_s() - t0;
    }
    pthread_mutex_unlock(&d->mu);
    /* The slot is complete and no worker touches it until consumed moves past it. */
    if (s->err_item >= 0) {
        d->dead = 1;
        snprintf(d->dead_err, sizeof d->dead_err, "%s", s->err);
        set_err(err, errcap, "%s", d->dead_err);
        pthread_mutex_lock(&d->mu);
        d->stop = 1; /* nothing more will be consumed: let the workers rest */
        pthread_cond_broadcast(&d->work_cv);
        pthread_mutex_unlock(&d->mu);
        return -1;
    }
    memcpy(input, s->input, (size_t)d->batch * d->plane3 * sizeof *input);
    size_t n = 0;
    for (int32_t i = 0; i < d->batch; i++) {
        const clssd_train_gt *src = s->gt + (size_t)i * d->max_obj;
        for (size_t j = 0; j < s->n_gt[i]; j++) {
            d->out_gt[n] = src[j];
            d->out_gt[n].image = i;
            n++;
        }
    }
    pthread_mutex_lock(&d->mu);
    d->consumed++;
    pthread_cond_broadcast(&d->work_cv);
    pthread_mutex_unlock(&d->mu);
    *gt = d->out_gt;
    *n_gt = n;
    return 0;
}

size_t train_data_count(const train_data *d)
{
    return d ? d->n_images : 0;
}

void train_data_get_stats(const train_data *d, train_data_stats *s)
{
    memset(s, 0, sizeof *s);
    if (!d) return;
    s->batches = d->consumed;
    s->epochs = (double)d->consumed * (double)d->batch / (double)d->n_images;
    s->n_objects = d->n_objs;
    s->wait_s = d->wait_s;
}

void train_data_close(train_data *d)
{
    if (!d) return;
    if (d->n_started > 0) {
        pthread_mutex_lock(&d->mu);
        d->stop = 1;
        pthread_cond_broadcast(&d->work_cv);
        pthread_mutex_unlock(&d->mu);
        for (int i = 0; i < d->n_started; i++) pthread_join(d->threads[i], NULL);
    }
    pthread_cond_destroy(&d->work_cv);
    pthread_cond_destroy(&d->done_cv);
    pthread_mutex_destroy(&d->mu);
    if (d->slots)
        for (int i = 0; i < d->R; i++) {
            free(d->slots[i].input);
            free(d->slots[i].gt);
            free(d->slots[i].n_gt);
        }
    free(d->slots);
    for (size_t i = 0; i < d->n_images; i++) free(d->images[i].file);
    free(d->images);
    free(d->objs);
    free(d->perm);
    free(d->threads);
    free(d->out_gt);
    free(d);
}

/* Label of a dataset class: its index among labels[1..]; -1 when absent. */
static int32_t find_label(const train_data_params *p, const char *name)
{
    for (int32_t i = 1; i < p->n_labels; i++)
        if (p->labels[i] && strcmp(p->labels[i], name) == 0) return i;
    return -1;
}

static char *dup_str(const char *s)
{
    const size_t n = strlen(s) + 1;
    char *r = malloc(n);
    if (r) memcpy(r, s, n);
    return r;
}

int train_data_open(const train_data_params *p, train_data **out, char *err, size_t errcap)
{
    if (out) *out = NULL;
    if (!p || !out || !p->dir || !p->image_set || !p->pre || !p->labels) {
        set_err(err, errcap, "train_data_open: missing dataset directory, image set, "
                             "preprocessing or labels");
        return -1;
    }
    if (p->n_labels < 2 || p->batch < 1 || p->n_workers < 1 || p->n_workers > MAX_WORKERS ||
        p->prefetch < 0 || p->prefetch > MAX_PREFETCH) {
        set_err(err, errcap,
                "train_data_open: need >= 2 labels, batch >= 1, 1..%d workers, prefetch 0..%d",
                MAX_WORKERS, MAX_PREFETCH);
        return -1;
    }
    const int64_t ow = p->pre->pre.out_w, oh = p->pre->pre.out_h;
    if (ow <= 0 || oh <= 0 || ow > 65536 || oh > 65536 ||
        (p->pre->pre.resize != CLSSD_RESIZE_HALF_PIXEL &&
         p->pre->pre.resize != CLSSD_RESIZE_TF_LEGACY)) {
        set_err(err, errcap, "train_data_open: bad preprocessing (input %lldx%lld, resize %d)",
                (long long)ow, (long long)oh, (int)p->pre->pre.resize);
        return -1;
    }

    clssd_gt_set *g = NULL;
    char why[512];
    const size_t dl = strlen(p->dir);
    const int coco = dl > 5 && !strcmp(p->dir + dl - 5, ".json");
    const clssd_status st = coco ? clssd__gt_load_coco(p->dir, &g, why, sizeof why)
                                 : clssd__gt_load_voc_dir(p->dir, p->image_set, &g, why, sizeof why);
    if (st != CLSSD_OK) {
        set_err(err, errcap, "%s: %s", p->dir, why);
        return -1;
    }
    if (g->n_images == 0) {
        set_err(err, errcap, "%s: image set '%s' is empty", p->dir, p->image_set);
        clssd__gt_free(g);
        return -1;
    }
    if (g->n_images > UINT32_MAX) { /* perm holds uint32 */
        set_err(err, errcap, "%s: too many images", p->dir);
        clssd__gt_free(g);
        return -1;
    }

    int32_t *cls_label = NULL;
    train_data *d = calloc(1, sizeof *d);
    if (!d) goto oom;
    /* first, so that train_data_close can undo any later step */
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->work_cv, NULL);
    pthread_cond_init(&d->done_cv, NULL);
    cls_label = g->n_classes ? calloc(g->n_classes, sizeof *cls_label) : NULL;
    if (g->n_classes && !cls_label) goto oom;
    d->perm_epoch = -1;
    d->augment = p->augment;
    d->shuffle = p->shuffle;
    d->seed = p->seed;
    d->batch = p->batch;
    d->n_workers = p->n_workers;
    d->R = p->prefetch;
    if (d->R == 0) {
        /* enough batches in the making for every worker to have a sample, twice over, so
         * small batches with many workers do not starve them */
        const int need = (2 * p->n_workers + p->batch - 1) / p->batch;
        d->R = need > DEFAULT_PREFETCH ? need : DEFAULT_PREFETCH;
        if (d->R > MAX_PREFETCH) d->R = MAX_PREFETCH;
    }
    clssd__aug_defaults(&d->aug);

    /* Classes that occur: map to labels by name (unused dataset classes -- the VOC reader
     * lists all 20 VOC names -- need no label). */
    for (size_t c = 0; c < g->n_classes; c++) cls_label[c] = -2; /* -2: unused */
    for (size_t i = 0; i < g->n_objects; i++) cls_label[g->objects[i].cls] = -1;
    for (size_t c = 0; c < g->n_classes; c++) {
        if (cls_label[c] == -2) continue;
        const char *name = g->classes[c].name;
        cls_label[c] = find_label(p, name);
        if (cls_label[c] < 0) {
            if (p->labels[0] && strcmp(p->labels[0], name) == 0)
                set_err(err, errcap, "%s: dataset class '%s' is the model's background label",
                        p->dir, name);
            else
                set_err(err, errcap, "%s: dataset class '%s' is not one of the model's %d labels",
                        p->dir, name, (int)p->n_labels - 1);
            goto fail;
        }
    }

    d->images = calloc(g->n_images, sizeof *d->images);
    d->objs = g->n_objects ? malloc(g->n_objects * sizeof *d->objs) : NULL;
    d->perm = malloc(g->n_images * sizeof *d->perm);
    if (!d->images || (g->n_objects && !d->objs) || !d->perm) goto oom;
    d->n_images = g->n_images;
    for (size_t i = 0; i < g->n_images; i++) {
        if (!g->images[i].file) {
            set_err(err, errcap, "%s: image '%s' has no file", p->dir, g->images[i].id);
            goto fail;
        }
        if (coco) { /* file_name is relative to the images directory */
            const char *base = p->images_dir;
            const char *slash = strrchr(p->dir, '/');
            const size_t blen = base ? strlen(base) : slash ? (size_t)(slash - p->dir) : 1;
            const size_t n = blen + 1 + strlen(g->images[i].file) + 1;
            d->images[i].file = malloc(n);
            if (!d->images[i].file) goto oom;
            snprintf(d->images[i].file, n, "%.*s/%s", (int)blen,
                     base ? base : slash ? p->dir : ".", g->images[i].file);
        } else {
            d->images[i].file = dup_str(g->images[i].file);
            if (!d->images[i].file) goto oom;
        }
        d->images[i].width = g->images[i].width;
        d->images[i].height = g->images[i].height;
    }
    /* objects are grouped by image in file order */
    for (size_t i = 0; i < g->n_objects; i++) {
        const clssd_gt_object *o = &g->objects[i];
        if (o->difficult && !p->use_difficult) continue;
        if (o->iscrowd) continue; /* a crowd region is no single object to match a prior to */
        td_image *ti = &d->images[o->image];
        if (ti->n == 0) ti->first = d->n_objs;
        td_obj *t = &d->objs[d->n_objs++];
        t->label = cls_label[o->cls];
        t->difficult = o->difficult;
        memcpy(t->box, o->box, sizeof t->box);
        ti->n++;
        if (ti->n > d->max_obj) d->max_obj = ti->n;
    }
    free(cls_label);
    cls_label = NULL;
    clssd__gt_free(g);
    g = NULL;

    d->pre_node.op = CLSSD_OP_PREPROCESS;
    d->pre_node.p = *p->pre;
    d->pre_node.out = (clssd_shape){1, 3, (int32_t)oh, (int32_t)ow};
    d->plane3 = 3 * (size_t)ow * (size_t)oh;
    const size_t mo = d->max_obj ? d->max_obj : 1;
    d->slots = calloc((size_t)d->R, sizeof *d->slots);
    d->out_gt = malloc((size_t)d->batch * mo * sizeof *d->out_gt);
    d->threads = calloc((size_t)d->n_workers, sizeof *d->threads);
    if (!d->slots || !d->out_gt || !d->threads) goto oom;
    d->max_obj = mo;
    for (int i = 0; i < d->R; i++) {
        td_slot *s = &d->slots[i];
        s->batch = -1;
        s->err_item = -1;
        s->input = malloc((size_t)d->batch * d->plane3 * sizeof *s->input);
        s->gt = malloc((size_t)d->batch * mo * sizeof *s->gt);
        s->n_gt = calloc((size_t)d->batch, sizeof *s->n_gt);
        if (!s->input || !s->gt || !s->n_gt) goto oom;
    }
    for (int i = 0; i < d->n_workers; i++) {
        if (pthread_create(&d->threads[i], NULL, worker, d) != 0) {
            set_err(err, errcap, "train_data_open: cannot start worker thread %d", i + 1);
            goto fail;
        }
        d->n_started++;
    }
    *out = d;
    return 0;

oom:
    set_err(err, errcap, "train_data_open: out of memory");
fail:
    free(cls_label);
    clssd__gt_free(g);
    if (d) train_data_close(d);
    return -1;
}
