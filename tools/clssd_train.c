/* clssd-train: train or fine-tune an SSD on a VOC-layout dataset with libclssd alone.
 *
 *   clssd-train --data DIR --model ssd300|ssd512|tiny|FILE.clssd [--size S] [--width-div D]
 *               [--init FILE] [--iters N] [--batch N] [--iter-size K] [--lr LR]
 *               [--lr-steps A,B,..] [--gamma G] [--out FILE] [--snapshot N] [--log CSV]
 *               [--plot PNG] [--seed S] [--workers N] [--no-augment] [--device P:D]
 *               [--resume STATE] [--new-classes] [--quiet]
 *
 * The work is the library's (src/train: augmentation, matching, MultiBox loss, backward
 * passes, SGD); this file wires the data loader (tools/train_data.c) to the trainer, prints
 * progress, writes the loss log, the loss curve and the checkpoints. docs/train.md is the
 * manual. Exit status: 0 done (or stopped by Ctrl-C after a checkpoint), 1 training failed
 * part-way (the last checkpoint stays), 2 usage error or bad input. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_opts.h"
#include "cli_util.h"
#include "clssd.h"
#include "clssd_internal.h"
#include "data/dataset.h"
#include "plot.h"
#include "train/trainer.h"
#include "train_data.h"

#define PROG "clssd-train"
#define MAX_STEPS 16

static void usage(FILE *f)
{
    fprintf(f,
            "usage: " PROG " --data DIR --model ssd300|ssd512|tiny|FILE.clssd [options]\n"
            "\n"
            "Trains an SSD on a VOC-layout dataset (JPEGImages/, Annotations/*.xml,\n"
            "ImageSets/Main/trainval.txt) with the SSD paper's loss, matching, hard negative\n"
            "mining, augmentation and SGD (momentum 0.9, weight decay 5e-4).\n"
            "\n"
            "  --data DIR|JSON     a VOC-layout dataset (e.g. made by clssd-synth), or COCO\n"
            "                      instances JSON (crowd regions are not trained on)\n"
            "  --image-set NAME    VOC: ImageSets/Main/NAME.txt (default trainval)\n"
            "  --images DIR        COCO: where the images' file_name paths start (default:\n"
            "                      the JSON's directory)\n"
            "  --model M           ssd300 / ssd512: VGG16 SSD; tiny: a small SSD for CPUs;\n"
            "                      FILE.clssd: continue from a model (same classes), or\n"
            "                      fine-tune it on new classes (see --new-classes)\n"
            "  --new-classes       give a FILE.clssd model fresh conf heads for background +\n"
            "                      the dataset's classes (base, extras and loc heads kept);\n"
            "                      automatic when its labels do not cover the dataset's\n"
            "  --size S            input size for tiny (default 128) or other VGG sizes\n"
            "  --width-div D       divide every layer's channels by D (default 1)\n"
            "  --init FILE         start from this .clssd's weights where names and shapes\n"
            "                      match (fine-tuning with a new class count)\n"
            "  --iters N           SGD iterations (default 1000)\n"
            "  --batch N           images per forward (default 8)\n"
            "  --iter-size K       forwards accumulated per iteration (default 1;\n"
            "                      batch 8 x iter-size 4 = Caffe's batch 32)\n"
            "  --lr LR             base learning rate (default 1e-3)\n"
            "  --lr-steps A,B      multiply the rate by --gamma (default 0.1) at these\n"
            "                      iterations (default: 2/3 and 5/6 of --iters)\n"
            "  --warmup N          ramp the rate up linearly over the first N iterations\n"
            "  --out FILE          the trained model (default model.clssd); FILE.state beside\n"
            "                      it holds the solver state for --resume\n"
            "  --snapshot N        also checkpoint every N iterations (default: at the end)\n"
            "  --log CSV           loss log (default OUT without .clssd + .csv)\n"
            "  --plot PNG          loss curve (default OUT without .clssd + .png)\n"
            "  --resume STATE      continue from OUT.state (with --model OUT.clssd)\n"
            "  --seed S            data order, augmentation and initial weights (default 1)\n"
            "  --workers N         host threads preparing batches (default 1)\n"
            "  --no-augment        plain resize, no photometric/expand/crop/flip\n"
            "  --device P:D        OpenCL platform and device\n"
            "  --quiet             no progress line\n"
            "\n"
            "Ctrl-C stops after the current iteration and writes a checkpoint.\n"
            "Exit status: 0 done, 1 training failed part-way, 2 usage error or bad input.\n");
}

typedef struct options {
    const char *data, *image_set, *images, *model, *init, *out, *log, *plot, *resume;
    int size, width_div, batch, iter_size, workers, augment, quiet, platform, device;
    int new_classes; /* --new-classes: retarget a FILE.clssd to the dataset's classes */
    long iters, snapshot, warmup;
    double lr, gamma;
    int64_t steps[MAX_STEPS];
    size_t n_steps;
    uint64_t seed;
} options;

static int parse_steps(const char *v, options *o)
{
    o->n_steps = 0;
    const char *p = v;
    while (*p) {
        char *end;
        errno = 0;
        const long long s = strtoll(p, &end, 10);
        if (errno || end == p || s < 1 || o->n_steps == MAX_STEPS || (*end && *end != ',') ||
            (o->n_steps && s <= o->steps[o->n_steps - 1]))
            return -1;
        o->steps[o->n_steps++] = s;
        p = *end ? end + 1 : end;
    }
    return o->n_steps ? 0 : -1;
}

static int parse_args(int argc, char **argv, options *o, int *help)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            *help = 1;
            return 0;
        }
        if (!strcmp(a, "--no-augment")) {
            o->augment = 0;
            continue;
        }
        if (!strcmp(a, "--quiet")) {
            o->quiet = 1;
            continue;
        }
        if (!strcmp(a, "--new-classes")) {
            o->new_classes = 1;
            continue;
        }
        static const char *const with_value[] = {
            "--data",  "--model",   "--size",   "--width-div", "--init",   "--iters",
            "--batch", "--iter-size", "--lr",   "--lr-steps",  "--gamma",  "--out",
            "--snapshot", "--log",  "--plot",   "--resume",    "--seed",   "--workers",
            "--device", "--warmup", "--image-set", "--images"};
        const char *v = NULL;
        const int opt = cli_value_option(argc, argv, &i, with_value,
                                         (int)(sizeof with_value / sizeof *with_value), PROG, &v);
        if (opt < 0) return 2;
        int bad = 0;
        long lv = 0;
        char *end;
        switch (opt) {
        case 0: o->data = v; break;
        case 1: o->model = v; break;
        case 2: bad = parse_int(v, 32, 4096, &o->size); break;
        case 3: bad = parse_int(v, 1, 64, &o->width_div); break;
        case 4: o->init = v; break;
        case 5:
        case 12:
        case 19:
            errno = 0;
            lv = strtol(v, &end, 10);
            bad = errno || end == v || *end || lv < (opt == 5 ? 1 : 0);
            if (opt == 5) o->iters = lv;
            if (opt == 12) o->snapshot = lv;
            if (opt == 19) o->warmup = lv;
            break;
        case 6: bad = parse_int(v, 1, 256, &o->batch); break;
        case 7: bad = parse_int(v, 1, 1024, &o->iter_size); break;
        case 8:
        case 10: {
            float f = 0.0f;
            bad = parse_float(v, &f) || !(f > 0.0f);
            if (opt == 8) o->lr = f;
            else o->gamma = f;
            break;
        }
        case 9: bad = parse_steps(v, o); break;
        case 11: o->out = v; break;
        case 13: o->log = v; break;
        case 14: o->plot = v; break;
        case 15: o->resume = v; break;
        case 16: {
            errno = 0;
            const unsigned long long s = strtoull(v, &end, 10);
            bad = errno || end == v || *end || v[0] == '-';
            o->seed = (uint64_t)s;
            break;
        }
        case 17: bad = parse_int(v, 1, 64, &o->workers); break;
        case 18:
            bad = sscanf(v, "%d:%d", &o->platform, &o->device) != 2 || o->platform < 0 ||
                  o->device < 0;
            break;
        case 20: o->image_set = v; break;
        case 21: o->images = v; break;
        default: break;
        }
        if (bad) {
            fprintf(stderr, PROG ": bad value for %s: '%s' (--help)\n", with_value[opt], v);
            return 2;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- model setup */

/* The dataset's class names, in the order the metric and the model use (dataset.h). */
static int dataset_classes(const options *o, char ***names, size_t *n)
{
    char err[512];
    clssd_gt_set *gt = NULL;
    const clssd_status st = ends_with(o->data, ".json")
                                ? clssd__gt_load_coco(o->data, &gt, err, sizeof err)
                                : clssd__gt_load_voc_dir(o->data, o->image_set, &gt, err, sizeof err);
    if (st != CLSSD_OK) {
        fprintf(stderr, PROG ": cannot read the dataset %s: %s\n", o->data, err);
        return -1;
    }
    /* every class of the set (a VOC set lists all 20 VOC names) */
    *names = calloc(gt->n_classes ? gt->n_classes : 1, sizeof **names);
    *n = 0;
    for (size_t k = 0; *names && k < gt->n_classes; k++) {
        if (!((*names)[k] = xstrdup(gt->classes[k].name))) break;
        *n = k + 1;
    }
    if (*n < gt->n_classes) {
        for (size_t k = 0; k < *n; k++) free((*names)[k]);
        free(*names);
        *names = NULL;
        *n = 0;
    }
    clssd__gt_free(gt);
    if (!*names) {
        fprintf(stderr, PROG ": out of memory\n");
        return -1;
    }
    return 0;
}

static int set_labels(clssd_model *m, char **names, size_t n)
{
    clssd_graph *g = &m->g;
    for (int32_t i = 0; i < g->n_labels; i++) clssd__free(g->labels[i]);
    clssd__free(g->labels);
    g->labels = clssd__calloc(n + 1, sizeof *g->labels);
    g->n_labels = 0;
    if (!g->labels) return -1;
    for (size_t i = 0; i <= n; i++) {
        const char *s = i ? names[i - 1] : "background";
        const size_t len = strlen(s) + 1;
        if (!(g->labels[i] = clssd__malloc(len))) return -1;
        memcpy(g->labels[i], s, len);
        g->n_labels = (int32_t)i + 1;
    }
    return 0;
}

/* Whether every dataset class is one of the model's labels (label 0 is the background). */
static int labels_cover(const clssd_model *m, char **names, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        int found = 0;
        for (int32_t i = 1; i < m->g.n_labels && !found; i++)
            found = m->g.labels[i] && !strcmp(m->g.labels[i], names[k]);
        if (!found) return 0;
    }
    return 1;
}

/* --init: copy every tensor whose name and shape match; the others keep their init. */
static int copy_matching(clssd_model *dst, const clssd_model *src, size_t *n_copied,
                         size_t *n_kept)
{
    *n_copied = *n_kept = 0;
    for (int32_t t = 0; t < dst->g.n_tensors; t++) {
        clssd_tensor *d = &dst->g.tensors[t];
        const int32_t s = clssd__graph_find_tensor(&src->g, d->name);
        const clssd_tensor *st = s >= 0 ? &src->g.tensors[s] : NULL;
        if (st && st->shape.n == d->shape.n && st->shape.c == d->shape.c &&
            st->shape.h == d->shape.h && st->shape.w == d->shape.w && d->data && st->data) {
            memcpy(d->data, st->data, clssd__shape_count(&d->shape) * sizeof(float));
            (*n_copied)++;
        } else {
            (*n_kept)++;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- solver state */

/* OUT.state: "CLSSDSGD" v1, iteration, blob count, then per blob its element count and
 * momentum history -- what --resume needs besides the weights in OUT.clssd. */
static int save_state(clssd_trainer *t, const char *path, int64_t iter)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return -1;
    int ok = fwrite("CLSSDSGD", 1, 8, f) == 8;
    const uint32_t version = 1, n = (uint32_t)t->n_blobs;
    ok = ok && fwrite(&version, sizeof version, 1, f) == 1 && fwrite(&iter, sizeof iter, 1, f) == 1 &&
         fwrite(&n, sizeof n, 1, f) == 1;
    float *buf = NULL;
    for (int32_t b = 0; ok && b < t->n_blobs; b++) {
        const uint64_t count = t->blobs[b].count;
        float *nb = realloc(buf, (size_t)count * sizeof *buf);
        ok = nb != NULL;
        if (!ok) break;
        buf = nb;
        ok = clEnqueueReadBuffer(t->ctx->queue, t->blobs[b].hist, CL_TRUE, 0, count * sizeof *buf,
                                 buf, 0, NULL, NULL) == CL_SUCCESS &&
             fwrite(&count, sizeof count, 1, f) == 1 && fwrite(buf, sizeof *buf, count, f) == count;
    }
    free(buf);
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        return -1;
    }
    return 0;
}

static int load_state(clssd_trainer *t, const char *path, int64_t *iter)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, PROG ": cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    char magic[8];
    uint32_t version = 0, n = 0;
    int ok = fread(magic, 1, 8, f) == 8 && !memcmp(magic, "CLSSDSGD", 8) &&
             fread(&version, sizeof version, 1, f) == 1 && version == 1 &&
             fread(iter, sizeof *iter, 1, f) == 1 && *iter >= 0 &&
             fread(&n, sizeof n, 1, f) == 1 && n == (uint32_t)t->n_blobs;
    float *buf = NULL;
    for (int32_t b = 0; ok && b < t->n_blobs; b++) {
        uint64_t count = 0;
        ok = fread(&count, sizeof count, 1, f) == 1 && count == t->blobs[b].count;
        float *nb = ok ? realloc(buf, (size_t)count * sizeof *buf) : NULL;
        ok = nb != NULL;
        if (!ok) break;
        buf = nb;
        ok = fread(buf, sizeof *buf, count, f) == count &&
             clEnqueueWriteBuffer(t->ctx->queue, t->blobs[b].hist, CL_TRUE, 0, count * sizeof *buf,
                                  buf, 0, NULL, NULL) == CL_SUCCESS;
    }
    free(buf);
    fclose(f);
    if (!ok)
        fprintf(stderr, PROG ": %s is not a solver state of this model (blob count or sizes "
                        "differ, or the file is damaged)\n", path);
    return ok ? 0 : -1;
}

/* ---------------------------------------------------------------- outputs */

static char *with_ext(const char *path, const char *ext)
{
    const size_t n = strlen(path);
    const size_t stem = n > 6 && !strcmp(path + n - 6, ".clssd") ? n - 6 : n;
    char *p = malloc(stem + strlen(ext) + 1);
    if (p) {
        memcpy(p, path, stem);
        strcpy(p + stem, ext);
    }
    return p;
}

static int checkpoint(clssd_trainer *t, clssd_model *m, const options *o, const char *state,
                      int64_t iter)
{
    clssd_status s = clssd__trainer_sync(t);
    if (s == CLSSD_OK) s = clssd_model_save(m, o->out);
    if (s != CLSSD_OK) {
        fprintf(stderr, PROG ": cannot write %s: %s\n", o->out, clssd_status_string(s));
        return -1;
    }
    if (save_state(t, state, iter) != 0) {
        fprintf(stderr, PROG ": cannot write %s\n", state);
        return -1;
    }
    return 0;
}

static void plot_loss(const char *path, const double *loss, size_t n, int64_t first_iter)
{
    if (n < 2) return;
    double *x = malloc(n * sizeof *x), *avg = malloc(n * sizeof *avg);
    if (!x || !avg) {
        free(x);
        free(avg);
        return;
    }
    /* the raw loss is noisy (a few images per step): show it with a trailing mean */
    const size_t win = n / 50 + 1;
    double lo = INFINITY, hi = 0, sum = 0;
    for (size_t i = 0; i < n; i++) {
        x[i] = (double)(first_iter + (int64_t)i + 1);
        sum += loss[i];
        if (i >= win) sum -= loss[i - win];
        avg[i] = sum / (double)(i < win ? i + 1 : win);
        if (loss[i] > 0 && loss[i] < lo) lo = loss[i];
        if (loss[i] > hi) hi = loss[i];
    }
    if (!(lo < INFINITY) || !(hi > 0)) lo = 0.1, hi = 1;
    lo = pow(10.0, floor(log10(lo)));
    hi = pow(10.0, ceil(log10(hi)));
    if (!(hi > lo)) hi = lo * 10;
    /* from the iteration before the first step, so the ticks fall on round numbers */
    const plot_axes a = {(double)first_iter, x[n - 1], lo, hi, 1, "iteration",
                         "loss", 0};
    const plot_series s[2] = {{x, loss, n, {170, 199, 232}, "loss", 0},
                              {x, avg, n, {31, 119, 180}, "mean of the last steps", 0}};
    char err[256];
    if (plot_png(path, "training loss", &a, s, 2, err, sizeof err) != 0)
        fprintf(stderr, PROG ": %s: %s\n", path, err);
    free(x);
    free(avg);
}

static volatile sig_atomic_t stop_requested = 0;
static void on_sigint(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv)
{
    options o = {.image_set = "trainval", .out = "model.clssd", .size = 0, .width_div = 1,
                 .batch = 8, .iter_size = 1, .workers = 1, .augment = 1, .platform = -1,
                 .device = -1, .iters = 1000, .lr = 1e-3, .gamma = 0.1, .seed = 1};
    int help = 0;
    int rc = parse_args(argc, argv, &o, &help);
    if (rc || help) {
        if (help) usage(stdout);
        return rc;
    }
    if (!o.data || !o.model) {
        fprintf(stderr, PROG ": give --data DIR and --model\n");
        if (argc < 2) usage(stderr);
        return 2;
    }
    if (!o.n_steps) { /* Caffe-style defaults: drop the rate twice near the end */
        o.steps[0] = o.iters * 2 / 3 > 0 ? o.iters * 2 / 3 : 1;
        o.steps[1] = o.iters * 5 / 6 > o.steps[0] ? o.iters * 5 / 6 : o.steps[0] + 1;
        o.n_steps = 2;
    }
    char *state_path = with_ext(o.out, ".state");
    char *log_path = o.log ? xstrdup(o.log) : with_ext(o.out, ".csv");
    char *plot_path = o.plot ? xstrdup(o.plot) : with_ext(o.out, ".png");
    char **names = NULL;
    size_t n_names = 0;
    clssd_context *ctx = NULL;
    clssd_model *model = NULL, *init = NULL;
    clssd_trainer *tr = NULL;
    train_data *data = NULL;
    float *input = NULL;
    double *losses = NULL;
    FILE *log = NULL;
    char err[1024];
    int64_t iter = 0;
    rc = 2;
    if (!state_path || !log_path || !plot_path) goto oom;

    if (dataset_classes(&o, &names, &n_names) != 0) goto done;
    if (!n_names) {
        fprintf(stderr, PROG ": %s has no objects\n", o.data);
        goto done;
    }

    clssd_status s = cli_context_create(PROG, o.platform, o.device, &ctx);
    if (s != CLSSD_OK) goto done;

    /* The model: a new one sized for the dataset's classes, or a file to continue. */
    const int is_tiny = !strcmp(o.model, "tiny");
    if (is_tiny || !strcmp(o.model, "ssd300") || !strcmp(o.model, "ssd512")) {
        clssd_ssd_params sp;
        const int32_t size = o.size ? o.size : is_tiny ? 128 : !strcmp(o.model, "ssd512") ? 512 : 300;
        clssd_ssd_params_init(&sp, size, (int32_t)n_names + 1);
        sp.width_div = o.width_div;
        sp.seed = o.seed;
        sp.init = CLSSD_INIT_MSRA; /* trains from scratch without a pre-trained base */
        if (is_tiny) sp.arch = CLSSD_ARCH_TINY;
        s = clssd_model_create_ssd(ctx, &sp, &model);
        if (s == CLSSD_OK && set_labels(model, names, n_names) != 0) goto oom;
    } else {
        s = clssd_model_load(ctx, o.model, &model);
    }
    if (s != CLSSD_OK) {
        fprintf(stderr, PROG ": cannot %s %s: %s\n  %s\n", is_tiny ? "build" : "load", o.model,
                clssd_status_string(s), clssd_last_error(ctx));
        goto done;
    }
    const int from_file = !is_tiny && strcmp(o.model, "ssd300") && strcmp(o.model, "ssd512");
    if (from_file && (o.new_classes || !labels_cover(model, names, n_names))) {
        /* A model trained on other classes: keep its features and box regression, give it
         * new classification heads for the dataset (fine-tuning, issue 6). */
        if (o.resume) {
            fprintf(stderr, PROG ": --resume continues a model on its own classes; %s needs new "
                            "ones (drop --resume or --new-classes)\n", o.model);
            goto done;
        }
        const char **labs = calloc(n_names + 1, sizeof *labs);
        if (!labs) goto oom;
        labs[0] = "background";
        for (size_t k = 0; k < n_names; k++) labs[k + 1] = names[k];
        clssd_model_info old_info;
        clssd_model_get_info(model, &old_info);
        s = clssd__model_retarget_classes(model, (int32_t)n_names + 1, labs, o.seed);
        free(labs);
        if (s != CLSSD_OK) {
            fprintf(stderr, PROG ": cannot retarget %s to the dataset's %zu classes: %s\n  %s\n",
                    o.model, n_names, clssd_status_string(s), clssd_last_error(ctx));
            goto done;
        }
        fprintf(stderr, PROG ": %s: new conf heads for background + %zu dataset classes "
                        "(was %d classes); base, extras and loc heads kept\n",
                o.model, n_names, old_info.n_classes);
    }
    if (o.init) {
        s = clssd_model_load(ctx, o.init, &init);
        if (s != CLSSD_OK) {
            fprintf(stderr, PROG ": cannot load --init %s: %s\n", o.init, clssd_status_string(s));
            goto done;
        }
        size_t copied, kept;
        copy_matching(model, init, &copied, &kept);
        clssd_model_destroy(init);
        init = NULL;
        fprintf(stderr, PROG ": --init %s: %zu tensors copied, %zu keep their initialisation\n",
                o.init, copied, kept);
        if (!copied) {
            fprintf(stderr, PROG ": --init %s shares no tensor with the model\n", o.init);
            goto done;
        }
    }

    clssd_trainer_params tp;
    clssd__trainer_params_defaults(&tp, o.batch);
    s = clssd__trainer_create(model, &tp, &tr);
    if (s != CLSSD_OK) {
        fprintf(stderr, PROG ": cannot train this model: %s\n  %s\n", clssd_status_string(s),
                clssd_last_error(ctx));
        goto done;
    }
    if (o.resume && load_state(tr, o.resume, &iter) != 0) goto done;

    /* Data: the model's own preprocessing, so training sees what detection will see. */
    const clssd_graph *g = &model->g;
    train_data_params dp = {.dir = o.data,
                            .image_set = o.image_set,
                            .images_dir = o.images,
                            .pre = &g->pre,
                            .labels = (const char *const *)g->labels,
                            .n_labels = g->n_labels,
                            .augment = o.augment,
                            .use_difficult = 1,
                            .seed = o.seed + (uint64_t)iter, /* a resumed run sees new batches */
                            .batch = o.batch,
                            .n_workers = o.workers,
                            .shuffle = 1};
    if (train_data_open(&dp, &data, err, sizeof err) != 0) {
        fprintf(stderr, PROG ": %s\n", err);
        goto done;
    }
    const int32_t S_w = g->pre.pre.out_w, S_h = g->pre.pre.out_h;
    const size_t per_image = (size_t)3 * (size_t)S_w * (size_t)S_h;
    input = malloc((size_t)o.batch * per_image * sizeof *input);
    losses = calloc((size_t)(o.iters - iter > 0 ? o.iters - iter : 1), sizeof *losses);
    if (!input || !losses) goto oom;
    log = fopen(log_path, o.resume ? "a" : "w");
    if (!log) {
        fprintf(stderr, PROG ": cannot write %s: %s\n", log_path, strerror(errno));
        goto done;
    }
    if (!o.resume) fputs("iter,lr,loss,loc_loss,conf_loss,positives,images_per_s,seconds\n", log);

    clssd_model_info mi;
    clssd_model_get_info(model, &mi);
    fprintf(stderr,
            PROG ": %zu training images, %zu classes; %s %dx%d, %d priors, %lld parameters; "
                 "batch %d x %d, %ld iterations from %lld, lr %g\n",
            train_data_count(data), n_names, o.model, mi.input_width, mi.input_height,
            mi.n_priors, (long long)mi.n_params, o.batch, o.iter_size, o.iters, (long long)iter,
            o.lr);
    signal(SIGINT, on_sigint);
    const int tty = isatty(2) && !o.quiet;
    const int64_t first = iter;
    const double t0 = now_s();
    rc = 0;
    for (; iter < o.iters && !stop_requested; iter++) {
        float lr = clssd__lr_multistep((float)o.lr, (float)o.gamma, o.steps, o.n_steps, iter);
        if (o.warmup > 0 && iter < o.warmup) lr *= (float)(iter + 1) / (float)o.warmup;
        double loss_sum = 0, loc = 0, conf = 0;
        size_t pos = 0;
        for (int k = 0; k < o.iter_size && rc == 0; k++) {
            const clssd_train_gt *gt;
            size_t n_gt;
            if (train_data_next(data, input, &gt, &n_gt, err, sizeof err) != 0) {
                fprintf(stderr, "\n" PROG ": %s\n", err);
                rc = 1;
                break;
            }
            double l;
            clssd_mbox_loss_stats st;
            s = clssd__trainer_forward_backward(tr, input, o.batch, gt, n_gt, &l, &st);
            if (s != CLSSD_OK) {
                fprintf(stderr, "\n" PROG ": training step failed: %s\n  %s\n",
                        clssd_status_string(s), clssd_last_error(ctx));
                rc = 1;
                break;
            }
            loss_sum += l;
            const double N = st.n_pos ? (double)st.n_pos : 1.0;
            loc += st.loc_loss / N;
            conf += st.conf_loss / N;
            pos += st.n_pos;
        }
        if (rc) break;
        s = clssd__trainer_update(tr, lr);
        if (s != CLSSD_OK) {
            fprintf(stderr, "\n" PROG ": update failed: %s\n", clssd_status_string(s));
            rc = 1;
            break;
        }
        const double loss = loss_sum / o.iter_size;
        if (!isfinite(loss)) {
            fprintf(stderr, "\n" PROG ": the loss is %g at iteration %lld: lower --lr (or add "
                            "--warmup)\n", loss, (long long)iter + 1);
            rc = 1;
            break;
        }
        losses[iter - first] = loss;
        const double el = now_s() - t0, done_it = (double)(iter - first + 1);
        const double ips = done_it * o.batch * o.iter_size / el;
        const double eta = el / done_it * (double)(o.iters - iter - 1);
        fprintf(log, "%lld,%g,%.6f,%.6f,%.6f,%zu,%.2f,%.1f\n", (long long)iter + 1, lr, loss,
                loc / o.iter_size, conf / o.iter_size, pos, ips, el);
        if ((iter + 1) % 10 == 0) fflush(log); /* so a long run can be watched (tail -f) */
        if (!o.quiet && (tty || (iter + 1) % 50 == 0 || iter + 1 == o.iters)) {
            const int width = 24, filled = (int)(width * (iter + 1) / o.iters);
            fprintf(stderr, "%s[%.*s%*s] %lld/%ld loss %.3f (loc %.3f conf %.3f) lr %.2g %.1f img/s ETA %02d:%02d%s",
                    tty ? "\r" : "", filled, "########################", width - filled, "",
                    (long long)iter + 1, o.iters, loss, loc / o.iter_size, conf / o.iter_size,
                    lr, ips, (int)(eta / 60), (int)fmod(eta, 60), tty ? "  " : "\n");
        }
        if (o.snapshot && (iter + 1) % o.snapshot == 0 && iter + 1 < o.iters) {
            fflush(log);
            if (checkpoint(tr, model, &o, state_path, iter + 1) != 0) rc = 1;
            plot_loss(plot_path, losses, (size_t)(iter - first + 1), first);
        }
    }
    if (tty) fputc('\n', stderr);
    if (stop_requested) fprintf(stderr, PROG ": stopped at iteration %lld\n", (long long)iter);
    if (iter > first) {
        if (checkpoint(tr, model, &o, state_path, iter) != 0) rc = rc ? rc : 1;
        plot_loss(plot_path, losses, (size_t)(iter - first), first);
        fprintf(stderr, PROG ": %s (state %s), loss log %s, curve %s; %.1f s\n", o.out,
                state_path, log_path, plot_path, now_s() - t0);
    }
    goto done;
oom:
    fprintf(stderr, PROG ": out of memory\n");
    rc = 2;
done:
    if (log && fclose(log) != 0 && rc == 0) rc = 1;
    train_data_close(data);
    clssd__trainer_destroy(tr);
    clssd_model_destroy(init);
    clssd_model_destroy(model);
    clssd_context_destroy(ctx);
    for (size_t i = 0; i < n_names; i++) free(names[i]);
    free(names);
    free(input);
    free(losses);
    free(state_path);
    free(log_path);
    free(plot_path);
    return rc;
}
