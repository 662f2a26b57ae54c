/* clssd-eval: the field's accuracy metrics (VOC07 11-point, VOC2010+ area, COCO AP@[.5:.95])
 * for detections from a file or from running a model over the ground truth's images.
 *
 *   clssd-eval --gt GT (--det DETS | --model MODEL) [--metric voc07,voc10,coco]
 *              [--class-map coco-voc|FILE] [--images DIR] [--image-set NAME] [--iou-ge]
 *              [--json OUT] [--plots DIR] [--batch N] [--device P:D] [--skip-missing]
 *              [--save-det OUT] [--quiet]
 *
 * The metrics themselves live in the library (src/eval, exactly as VOCdevkit and pycocotools
 * compute them); this file reads arguments, runs the model, prints and writes. docs/eval.md
 * is the manual. Exit status: 0 done, 2 usage error or unreadable input, 1 a detection run
 * that failed part-way. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <sys/stat.h>

#include "cli_opts.h"
#include "cli_util.h"
#include "clssd.h"
#include "data/dataset.h"
#include "eval/eval.h"
#include "image_io.h"
#include "plot.h"

#define PROG "clssd-eval"
#define MAX_BATCH 64

static void usage(FILE *f)
{
    fprintf(f,
            "usage: " PROG " --gt GT (--det DETS | --model MODEL) [options]\n"
            "\n"
            "Scores detections against ground truth with the official definitions:\n"
            "  voc07  PASCAL VOC2007 11-point AP (VOCdevkit), IoU > 0.5, difficult ignored\n"
            "  voc10  VOC2010+ AP: area under the monotone precision envelope\n"
            "  coco   COCO AP@[.5:.95], AP50, AP75, APs/m/l, AR@1/10/100, ARs/m/l (pycocotools)\n"
            "\n"
            "  --gt GT           a VOC-layout directory (Annotations/*.xml, ImageSets/Main),\n"
            "                    a VOC TSV (image_id width height class xmin ymin xmax ymax\n"
            "                    difficult) or COCO instances JSON\n"
            "  --det DETS        clssd-detect's JSON (run it with --threshold 0) or COCO\n"
            "                    results JSON ([{image_id, category_id, bbox, score}])\n"
            "  --model MODEL     instead of --det: run this .clssd (or TF.js model.json) over\n"
            "                    the ground truth's images (conf 0.01, keep_top_k 200)\n"
            "  --metric LIST     voc07, voc10, coco, comma-separated (default: voc07,voc10 for\n"
            "                    VOC ground truth, coco for COCO ground truth)\n"
            "  --class-map MAP   coco-voc (the built-in COCO -> VOC names) or a file of\n"
            "                    'from = to' lines; unmapped classes are dropped\n"
            "  --image-set SET   VOC directory: ImageSets/Main/SET.txt (default: every\n"
            "                    Annotations/*.xml); TSV: a file of image ids, so that images\n"
            "                    without objects are known (their detections count as FP)\n"
            "  --images DIR      where the images are for --model (default: the VOC\n"
            "                    directory's JPEGImages, or beside the TSV)\n"
            "  --skip-missing    --model: leave out ground-truth images with no image file\n"
            "  --iou-ge          VOC: a match needs IoU >= 0.5 as VOCevaldet.m's code has it\n"
            "                    (default IoU > 0.5, the VOC criterion and voc_eval.py)\n"
            "  --json OUT        write all results as JSON\n"
            "  --plots DIR       write precision-recall curves, one PNG per class\n"
            "  --save-det OUT    --model: also write the detections as COCO results JSON\n"
            "  --batch N         --model: images per batch (default 8)\n"
            "  --device P:D      --model: OpenCL platform and device (--list-devices)\n"
            "  --quiet           no per-class table\n"
            "\n"
            "Exit status: 0 done, 1 detection failed part-way, 2 usage error or bad input.\n");
}

typedef struct options {
    const char *gt, *det, *model, *class_map, *image_set, *images, *json, *plots, *save_det;
    int voc07, voc10, coco, metric_set, iou_ge, skip_missing, quiet, batch, platform, device,
        list_devices;
} options;

static int parse_metrics(const char *v, options *o)
{
    o->voc07 = o->voc10 = o->coco = 0;
    o->metric_set = 1;
    const char *p = v;
    while (*p) {
        const char *c = strchr(p, ',');
        const size_t n = c ? (size_t)(c - p) : strlen(p);
        if (n == 5 && !strncmp(p, "voc07", 5))
            o->voc07 = 1;
        else if (n == 5 && !strncmp(p, "voc10", 5))
            o->voc10 = 1;
        else if (n == 4 && !strncmp(p, "coco", 4))
            o->coco = 1;
        else if (n == 3 && !strncmp(p, "all", 3))
            o->voc07 = o->voc10 = o->coco = 1;
        else {
            fprintf(stderr, PROG ": --metric takes voc07, voc10, coco or all, not '%.*s'\n",
                    (int)n, p);
            return -1;
        }
        p += n + (c != NULL);
    }
    return o->voc07 || o->voc10 || o->coco ? 0 : -1;
}

static int parse_args(int argc, char **argv, options *o, int *help)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            *help = 1;
            return 0;
        }
        if (!strcmp(a, "--iou-ge")) {
            o->iou_ge = 1;
            continue;
        }
        if (!strcmp(a, "--skip-missing")) {
            o->skip_missing = 1;
            continue;
        }
        if (!strcmp(a, "--quiet")) {
            o->quiet = 1;
            continue;
        }
        if (!strcmp(a, "--list-devices")) {
            o->list_devices = 1;
            continue;
        }
        static const char *const with_value[] = {
            "--gt",   "--det",   "--model", "--metric", "--class-map", "--image-set",
            "--images", "--json", "--plots", "--save-det", "--batch",   "--device"};
        const char *v = NULL;
        const int opt = cli_value_option(argc, argv, &i, with_value,
                                         (int)(sizeof with_value / sizeof *with_value), PROG, &v);
        if (opt < 0) return 2;
        switch (opt) {
        case 0: o->gt = v; break;
        case 1: o->det = v; break;
        case 2: o->model = v; break;
        case 3:
            if (parse_metrics(v, o)) return 2;
            break;
        case 4: o->class_map = v; break;
        case 5: o->image_set = v; break;
        case 6: o->images = v; break;
        case 7: o->json = v; break;
        case 8: o->plots = v; break;
        case 9: o->save_det = v; break;
        case 10:
            if (parse_int(v, 1, MAX_BATCH, &o->batch)) {
                fprintf(stderr, PROG ": --batch wants 1..%d, not '%s'\n", MAX_BATCH, v);
                return 2;
            }
            break;
        case 11:
            if (sscanf(v, "%d:%d", &o->platform, &o->device) != 2 || o->platform < 0 ||
                o->device < 0) {
                fprintf(stderr, PROG ": --device wants P:D (e.g. 0:0), not '%s'\n", v);
                return 2;
            }
            break;
        default: break;
        }
    }
    return 0;
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* First non-blank byte of a file, or -1. */
static int first_char(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    int c;
    while ((c = fgetc(f)) != EOF && (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == 0xEF ||
                                     c == 0xBB || c == 0xBF)) /* blanks, a UTF-8 BOM */
        ;
    fclose(f);
    return c == EOF ? -1 : c;
}

static char *join(const char *dir, const char *name)
{
    const size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static char *dir_name(const char *path)
{
    const char *b = strrchr(path, '/');
    if (!b) return xstrdup(".");
    char *d = malloc((size_t)(b - path) + 1);
    if (d) {
        memcpy(d, path, (size_t)(b - path));
        d[b - path] = '\0';
    }
    return d;
}

/* ---------------------------------------------------------------- running a model */

/* Where image i's file is: --images DIR/<file name or id>.jpg, else what the reader found. */
static char *image_path(const clssd_gt_set *gt, size_t i, const char *images_dir)
{
    const clssd_gt_image *im = &gt->images[i];
    if (images_dir) {
        if (im->file) return join(images_dir, base_name(im->file));
        const size_t n = strlen(im->id) + 5;
        char *name = malloc(n);
        if (!name) return NULL;
        snprintf(name, n, "%s.jpg", im->id);
        char *p = join(images_dir, name);
        free(name);
        return p;
    }
    return im->file ? xstrdup(im->file) : NULL;
}

typedef struct run_stats {
    size_t n_images, n_dets, n_dropped_class;
    double seconds;
} run_stats;

static int run_model(const options *o, clssd_gt_set *gt, const clssd_class_map *map,
                     char **paths, clssd_det_set *out, run_stats *rs)
{
    int rc = 2;
    clssd_context *ctx = NULL;
    clssd_model *model = NULL;
    clssd_detection *dets = NULL;
    imgio_image pix[MAX_BATCH];
    memset(pix, 0, sizeof pix);
    size_t counts[MAX_BATCH];
    clssd_status s = cli_context_create(PROG, o->platform, o->device, &ctx);
    if (s != CLSSD_OK) goto done;
    s = ends_with(o->model, ".json") ? clssd_model_load_tfjs(ctx, o->model, &model)
                                     : clssd_model_load(ctx, o->model, &model);
    if (s != CLSSD_OK) {
        fprintf(stderr, PROG ": cannot load model %s: %s\n  %s\n", o->model,
                clssd_status_string(s), clssd_last_error(ctx));
        goto done;
    }
    /* E5: the mAP configuration (conf 0.01, keep_top_k 200) whatever the model's own
     * deployment threshold; keep_top_k stays within what the model's NMS output holds. */
    clssd_detect_params dp;
    clssd_model_detect_params(model, &dp);
    dp.conf_thresh = 0.01f;
    if (dp.keep_top_k > 200) dp.keep_top_k = 200;
    const size_t B = (size_t)o->batch;
    size_t cap = B * (size_t)dp.keep_top_k;
    dets = malloc(cap * sizeof *dets);
    if (!dets) {
        fprintf(stderr, PROG ": out of memory\n");
        goto done;
    }
    const int tty = isatty(2);
    const double t0 = now_s();
    char err[512];
    rc = 0;
    for (size_t first = 0; first < gt->n_images && rc == 0; first += B) {
        const size_t nb = gt->n_images - first < B ? gt->n_images - first : B;
        clssd_image batch[MAX_BATCH];
        for (size_t b = 0; b < nb; b++) {
            if (imgio_load(paths[first + b], &pix[b], err, sizeof err) != 0) {
                fprintf(stderr, PROG ": %s: %s\n", paths[first + b], err);
                rc = 1;
                break;
            }
            const clssd_gt_image *im = &gt->images[first + b];
            if (im->width && im->height && (pix[b].w != im->width || pix[b].h != im->height))
                fprintf(stderr,
                        PROG ": warning: %s is %dx%d but the ground truth says %dx%d; boxes "
                             "are scaled to the ground truth\n",
                        paths[first + b], pix[b].w, pix[b].h, im->width, im->height);
            batch[b] = (clssd_image){pix[b].px, pix[b].w, pix[b].h, 3 * pix[b].w};
        }
        if (rc) break;
        size_t total = 0;
        s = clssd_detect_batch(model, batch, nb, &dp, dets, cap, counts, &total);
        if (s != CLSSD_OK) {
            fprintf(stderr, PROG ": detection failed: %s: %s\n", clssd_status_string(s),
                    clssd_last_error(ctx));
            rc = 1;
            break;
        }
        size_t off = 0;
        for (size_t b = 0; b < nb && rc == 0; b++) {
            const clssd_gt_image *im = &gt->images[first + b];
            const double sx = im->width ? (double)im->width / pix[b].w : 1.0;
            const double sy = im->height ? (double)im->height / pix[b].h : 1.0;
            for (size_t k = 0; k < counts[b]; k++) {
                const clssd_detection *d = &dets[off + k];
                const char *name = clssd_model_label(model, d->label);
                const char *mapped = name ? clssd__class_map_apply(map, name) : NULL;
                const int32_t cls = mapped ? clssd__gt_find_class(gt, mapped) : -1;
                if (cls < 0) {
                    rs->n_dropped_class++;
                    continue;
                }
                const clssd_det e = {(int32_t)(first + b), cls, (double)d->score,
                                     {d->xmin * sx, d->ymin * sy, d->xmax * sx, d->ymax * sy}};
                if (clssd__dets_push(out, &e) != CLSSD_OK) {
                    fprintf(stderr, PROG ": out of memory\n");
                    rc = 2;
                    break;
                }
                rs->n_dets++;
            }
            off += counts[b];
        }
        for (size_t b = 0; b < nb; b++) imgio_free(&pix[b]);
        rs->n_images = first + nb;
        const double el = now_s() - t0, per = el / (double)rs->n_images;
        const double eta = per * (double)(gt->n_images - rs->n_images);
        if (!o->quiet && (tty || rs->n_images == gt->n_images))
            fprintf(stderr, "%s[%zu/%zu] %.2f images/s, ETA %.0f s%s", tty ? "\r" : "",
                    rs->n_images, gt->n_images, per > 0 ? 1.0 / per : 0.0, eta,
                    tty && rs->n_images < gt->n_images ? "   " : "\n");
    }
    rs->seconds = now_s() - t0;
done:
    for (size_t b = 0; b < MAX_BATCH; b++) imgio_free(&pix[b]);
    free(dets);
    clssd_model_destroy(model);
    clssd_context_destroy(ctx);
    return rc;
}

static int save_coco_results(const char *path, const clssd_gt_set *gt, const clssd_det_set *d)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, PROG ": cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    fputs("[", f);
    for (size_t i = 0; i < d->n; i++) {
        const clssd_det *e = &d->dets[i];
        fprintf(f, "%s\n{\"image_id\": %lld, \"category_id\": %lld, \"bbox\": [%.2f, %.2f, %.2f, "
                   "%.2f], \"score\": %.6f}",
                i ? "," : "", (long long)gt->images[e->image].coco_id,
                (long long)gt->classes[e->cls].coco_id, e->box[0], e->box[1],
                e->box[2] - e->box[0], e->box[3] - e->box[1], e->score);
    }
    fputs(d->n ? "\n]\n" : "]\n", f);
    if (fclose(f) != 0) {
        fprintf(stderr, PROG ": cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- output */

static void json_double(FILE *f, double v, int decimals)
{
    if (!isfinite(v))
        fputs("null", f);
    else
        fprintf(f, "%.*f", decimals, v + 0.0);
}

static void pct(char *buf, size_t n, double ap)
{
    if (isnan(ap) || ap < 0)
        snprintf(buf, n, "%s", "n/a");
    else
        snprintf(buf, n, "%.2f", 100.0 * ap);
}

static void print_voc(const clssd_gt_set *gt, const clssd_voc_result *r07,
                      const clssd_voc_result *r10, int iou_ge, int quiet)
{
    const clssd_voc_result *r = r07 ? r07 : r10;
    char a[16], b[16];
    if (!quiet) {
        printf("%-16s %6s %7s %6s %7s %8s %8s\n", "class", "gt", "dets", "TP", "FP",
               r07 ? "AP07" : "", r10 ? "AP10+" : "");
        for (size_t k = 0; k < gt->n_classes; k++) {
            const clssd_voc_class_result *c = &r->classes[k];
            pct(a, sizeof a, r07 ? r07->classes[k].ap : NAN);
            pct(b, sizeof b, r10 ? r10->classes[k].ap : NAN);
            printf("%-16.16s %6zu %7zu %6zu %7zu %8s %8s\n", gt->classes[k].name, c->npos,
                   c->n_dets, c->n_tp, c->n_fp, r07 ? a : "", r10 ? b : "");
        }
    }
    if (r07) {
        pct(a, sizeof a, r07->map);
        printf("mAP VOC07 11-point (IoU %s 0.5): %s over %zu classes with ground truth\n",
               iou_ge ? ">=" : ">", a, r07->n_classes_in_map);
    }
    if (r10) {
        pct(a, sizeof a, r10->map);
        printf("mAP VOC2010+ area (IoU %s 0.5): %s over %zu classes with ground truth\n",
               iou_ge ? ">=" : ">", a, r10->n_classes_in_map);
    }
}

static const char *const coco_lines[12] = {
    "Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]",
    "Average Precision  (AP) @[ IoU=0.50      | area=   all | maxDets=100 ]",
    "Average Precision  (AP) @[ IoU=0.75      | area=   all | maxDets=100 ]",
    "Average Precision  (AP) @[ IoU=0.50:0.95 | area= small | maxDets=100 ]",
    "Average Precision  (AP) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ]",
    "Average Precision  (AP) @[ IoU=0.50:0.95 | area= large | maxDets=100 ]",
    "Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=  1 ]",
    "Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets= 10 ]",
    "Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]",
    "Average Recall     (AR) @[ IoU=0.50:0.95 | area= small | maxDets=100 ]",
    "Average Recall     (AR) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ]",
    "Average Recall     (AR) @[ IoU=0.50:0.95 | area= large | maxDets=100 ]"};
static const char *const coco_keys[12] = {"AP",   "AP50", "AP75", "APs",  "APm",  "APl",
                                          "AR1",  "AR10", "AR100", "ARs", "ARm", "ARl"};

static void print_coco(const clssd_gt_set *gt, const clssd_coco_result *r, int quiet)
{
    char a[16], b[16];
    if (!quiet) {
        printf("%-16s %8s %8s\n", "class", "AP", "AP50");
        for (size_t k = 0; k < gt->n_classes; k++) {
            pct(a, sizeof a, r->class_ap[k]);
            pct(b, sizeof b, r->class_ap50[k]);
            printf("%-16.16s %8s %8s\n", gt->classes[k].name, a, b);
        }
    }
    for (int i = 0; i < 12; i++) printf(" %s = %.3f\n", coco_lines[i], r->stats[i]);
}

static void write_json(FILE *f, const options *o, const clssd_gt_set *gt, const clssd_det_set *d,
                       const run_stats *rs, const clssd_voc_result *r07,
                       const clssd_voc_result *r10, const clssd_coco_result *rc)
{
    fputs("{\n  \"gt\": ", f);
    json_str(f, o->gt);
    fputs(",\n  \"detections\": ", f);
    json_str(f, o->det ? o->det : o->model);
    fprintf(f, ",\n  \"images\": %zu, \"objects\": %zu, \"classes\": %zu, \"n_detections\": %zu,"
               " \"dropped_unknown_image\": %zu, \"dropped_unknown_class\": %zu",
            gt->n_images, gt->n_objects, gt->n_classes, d->n, d->n_unmatched_image,
            d->n_unmatched_class + rs->n_dropped_class);
    if (o->model) fprintf(f, ",\n  \"detect_seconds\": %.3f", rs->seconds);
    const clssd_voc_result *vr[2] = {r07, r10};
    const char *vname[2] = {"voc07", "voc10"};
    for (int m = 0; m < 2; m++) {
        if (!vr[m]) continue;
        fprintf(f, ",\n  \"%s\": {\"iou\": \"%s 0.5\", \"map\": ", vname[m],
                o->iou_ge ? ">=" : ">");
        json_double(f, vr[m]->map, 12);
        fprintf(f, ", \"classes_in_map\": %zu, \"per_class\": [", vr[m]->n_classes_in_map);
        for (size_t k = 0; k < gt->n_classes; k++) {
            const clssd_voc_class_result *c = &vr[m]->classes[k];
            fprintf(f, "%s\n    {\"class\": ", k ? "," : "");
            json_str(f, gt->classes[k].name);
            fprintf(f, ", \"gt\": %zu, \"detections\": %zu, \"tp\": %zu, \"fp\": %zu, \"ap\": ",
                    c->npos, c->n_dets, c->n_tp, c->n_fp);
            json_double(f, c->ap, 12);
            fputs("}", f);
        }
        fputs("]}", f);
    }
    if (rc) {
        fputs(",\n  \"coco\": {", f);
        for (int i = 0; i < 12; i++) {
            fprintf(f, "%s\"%s\": ", i ? ", " : "", coco_keys[i]);
            json_double(f, rc->stats[i], 12);
        }
        fputs(", \"per_class\": [", f);
        for (size_t k = 0; k < gt->n_classes; k++) {
            fprintf(f, "%s\n    {\"class\": ", k ? "," : "");
            json_str(f, gt->classes[k].name);
            fputs(", \"ap\": ", f);
            json_double(f, rc->class_ap[k] < 0 ? NAN : rc->class_ap[k], 12);
            fputs(", \"ap50\": ", f);
            json_double(f, rc->class_ap50[k] < 0 ? NAN : rc->class_ap50[k], 12);
            fputs("}", f);
        }
        fputs("]}", f);
    }
    fputs("\n}\n", f);
}

/* A file name from a class name: letters, digits, '-' and '_' kept, the rest '_'. */
static void safe_name(char *out, size_t n, const char *name)
{
    size_t j = 0;
    for (const char *p = name; *p && j + 1 < n; p++) {
        const char c = *p;
        out[j++] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                           c == '-' || c == '_'
                       ? c
                       : '_';
    }
    out[j] = '\0';
}

static const uint8_t blue[3] = {31, 119, 180}, orange[3] = {255, 127, 14}, green[3] = {44, 160, 44};

/* VOC: the raw ranked curve and, as a step line, the envelope the VOC2010+ AP integrates. */
static int plot_voc(const char *dir, const clssd_gt_set *gt, const clssd_voc_result *r07,
                    const clssd_voc_result *r10, size_t *n_written)
{
    const clssd_voc_result *r = r07 ? r07 : r10;
    int rc = 0;
    for (size_t k = 0; k < gt->n_classes; k++) {
        const clssd_voc_class_result *c = &r->classes[k];
        if (!c->npos) continue;
        const size_t n = c->recall ? c->n_dets : 0;
        double *env = malloc((n ? n : 1) * sizeof *env);
        if (!env) return -1;
        for (size_t i = n; i-- > 0;) env[i] = i + 1 < n && env[i + 1] > c->precision[i]
                                                  ? env[i + 1] : c->precision[i];
        char title[160], a[16], b[16], fname[200], err[256];
        pct(a, sizeof a, r07 ? r07->classes[k].ap : NAN);
        pct(b, sizeof b, r10 ? r10->classes[k].ap : NAN);
        snprintf(title, sizeof title, "%.40s  AP07 %s  AP10+ %s  (gt %zu)", gt->classes[k].name,
                 a, b, c->npos);
        const plot_series s[2] = {
            {c->recall, c->precision, n, {blue[0], blue[1], blue[2]}, "precision, ranked", 0},
            {c->recall, env, n, {orange[0], orange[1], orange[2]}, "envelope (VOC2010+)", 1}};
        char safe[100];
        safe_name(safe, sizeof safe, gt->classes[k].name);
        snprintf(fname, sizeof fname, "pr_%s.png", safe);
        char *path = join(dir, fname);
        if (!path || pr_plot_png(path, title, s, 2, err, sizeof err) != 0) {
            fprintf(stderr, PROG ": %s: %s\n", path ? path : fname, path ? err : "out of memory");
            rc = -1;
        } else {
            (*n_written)++;
        }
        free(path);
        free(env);
    }
    return rc;
}

/* COCO: interpolated precision at the 101 recall thresholds, IoU .50 and .75, area all,
 * maxDets 100 -- the curves COCO's AP averages. */
static int plot_coco(const char *dir, const clssd_gt_set *gt, const clssd_coco_result *r,
                     size_t *n_written)
{
    const size_t K = gt->n_classes, A = CLSSD_COCO_A, M = CLSSD_COCO_M, R = CLSSD_COCO_R;
    double p50[CLSSD_COCO_R], p75[CLSSD_COCO_R], pm[CLSSD_COCO_R];
    int rc = 0;
    for (size_t k = 0; k < K; k++) {
        if (r->class_ap[k] < 0) continue;
        for (size_t ri = 0; ri < R; ri++) {
            double sum = 0;
            for (size_t t = 0; t < CLSSD_COCO_T; t++) {
                const double v = r->precision[((t * R + ri) * K + k) * A * M + 0 * M + 2];
                sum += v;
                if (t == 0) p50[ri] = v;
                if (t == 5) p75[ri] = v;
            }
            pm[ri] = sum / CLSSD_COCO_T;
        }
        char title[160], a[16], b[16], fname[200], err[256], safe[100];
        pct(a, sizeof a, r->class_ap[k]);
        pct(b, sizeof b, r->class_ap50[k]);
        snprintf(title, sizeof title, "%.40s  AP %s  AP50 %s", gt->classes[k].name, a, b);
        const plot_series s[3] = {
            {r->rec_thrs, p50, R, {blue[0], blue[1], blue[2]}, "IoU 0.50", 1},
            {r->rec_thrs, p75, R, {orange[0], orange[1], orange[2]}, "IoU 0.75", 1},
            {r->rec_thrs, pm, R, {green[0], green[1], green[2]}, "mean IoU .50:.95", 1}};
        safe_name(safe, sizeof safe, gt->classes[k].name);
        snprintf(fname, sizeof fname, "coco_pr_%s.png", safe);
        char *path = join(dir, fname);
        if (!path || pr_plot_png(path, title, s, 3, err, sizeof err) != 0) {
            fprintf(stderr, PROG ": %s: %s\n", path ? path : fname, path ? err : "out of memory");
            rc = -1;
        } else {
            (*n_written)++;
        }
        free(path);
    }
    return rc;
}

/* ---------------------------------------------------------------- main */


int main(int argc, char **argv)
{
    options o = {.batch = 8, .platform = -1, .device = -1};
    int help = 0;
    int rc = parse_args(argc, argv, &o, &help);
    if (rc || help) {
        if (help) usage(stdout);
        return rc;
    }
    if (o.list_devices) return cli_list_devices(PROG);
    if (!o.gt || (!o.det == !o.model)) {
        fprintf(stderr, PROG ": give --gt and one of --det or --model\n");
        if (argc < 2) usage(stderr);
        return 2;
    }
    if (o.save_det && !o.model) {
        fprintf(stderr, PROG ": --save-det goes with --model\n");
        return 2;
    }

    clssd_gt_set *gt = NULL;
    clssd_class_map map = {0};
    clssd_det_set dets = {0};
    clssd_voc_result r07 = {0}, r10 = {0};
    clssd_coco_result rco = {0};
    run_stats rs = {0};
    char **paths = NULL;
    FILE *json = NULL;
    char err[1024] = "";
    clssd_status s;
    rc = 2;

    /* Outputs first: a typo in --json or --plots should not cost a whole run. */
    if (o.json && strcmp(o.json, "-") && !(json = fopen(o.json, "w"))) {
        fprintf(stderr, PROG ": cannot write %s: %s\n", o.json, strerror(errno));
        goto done;
    }
    if (o.json && !json) json = stdout;
    if (o.plots && make_dirs(o.plots) != 0) {
        fprintf(stderr, PROG ": cannot create directory %s: %s\n", o.plots, strerror(errno));
        goto done;
    }

    /* Ground truth: a directory is VOC, a .json is COCO, anything else the TSV. */
    const int gt_dir = is_dir(o.gt);
    if (gt_dir)
        s = clssd__gt_load_voc_dir(o.gt, o.image_set, &gt, err, sizeof err);
    else if (ends_with(o.gt, ".json"))
        s = clssd__gt_load_coco(o.gt, &gt, err, sizeof err);
    else
        s = clssd__gt_load_voc_tsv(o.gt, o.image_set, &gt, err, sizeof err);
    if (s != CLSSD_OK) {
        fprintf(stderr, PROG ": cannot read the ground truth %s: %s\n", o.gt, err);
        goto done;
    }
    if (!o.metric_set) {
        o.voc07 = o.voc10 = !gt->is_coco;
        o.coco = gt->is_coco;
    }
    if (o.class_map && clssd__class_map_load(o.class_map, &map, err, sizeof err) != CLSSD_OK) {
        fprintf(stderr, PROG ": --class-map %s: %s\n", o.class_map, err);
        goto done;
    }

    if (o.model) {
        /* Image files: --images, else what the reader knows, else beside the TSV. */
        char *tsv_dir = NULL;
        const char *images_dir = o.images;
        if (!images_dir && !gt_dir && !gt->is_coco) {
            char *d = dir_name(o.gt);
            tsv_dir = d ? join(d, "JPEGImages") : NULL;
            free(d);
            images_dir = tsv_dir;
        }
        uint8_t *keep = calloc(gt->n_images ? gt->n_images : 1, 1);
        paths = calloc(gt->n_images ? gt->n_images : 1, sizeof *paths);
        size_t n_missing = 0;
        for (size_t i = 0; keep && paths && i < gt->n_images; i++) {
            paths[i] = image_path(gt, i, images_dir);
            keep[i] = paths[i] && is_file(paths[i]);
            if (!keep[i]) {
                if (!o.skip_missing && n_missing < 5)
                    fprintf(stderr, PROG ": no image file for %s%s%s\n", gt->images[i].id,
                            paths[i] ? ": " : "", paths[i] ? paths[i] : "");
                n_missing++;
            }
        }
        free(tsv_dir);
        if (!keep || !paths) {
            free(keep);
            fprintf(stderr, PROG ": out of memory\n");
            goto done;
        }
        if (n_missing && !o.skip_missing) {
            fprintf(stderr,
                    PROG ": %zu of %zu ground-truth images have no image file (--images DIR "
                         "says where they are; --skip-missing leaves them out)\n",
                    n_missing, gt->n_images);
            free(keep);
            goto done;
        }
        if (n_missing) {
            /* the paths follow the kept images */
            size_t j = 0;
            for (size_t i = 0; i < gt->n_images; i++) {
                if (keep[i])
                    paths[j++] = paths[i];
                else
                    free(paths[i]);
            }
            for (size_t i = j; i < gt->n_images; i++) paths[i] = NULL;
            const size_t before = gt->n_images;
            if (clssd__gt_keep_images(gt, keep) != CLSSD_OK) {
                free(keep);
                fprintf(stderr, PROG ": out of memory\n");
                goto done;
            }
            fprintf(stderr, PROG ": %zu of %zu images have no image file and are left out\n",
                    n_missing, before);
        }
        free(keep);
        if (!gt->n_images) {
            fprintf(stderr, PROG ": no images to run the model on\n");
            goto done;
        }
        const int r = run_model(&o, gt, o.class_map ? &map : NULL, paths, &dets, &rs);
        if (r) {
            rc = r;
            goto done;
        }
        if (o.save_det && save_coco_results(o.save_det, gt, &dets) != 0) goto done;
    } else {
        const int c = first_char(o.det);
        if (c < 0) {
            fprintf(stderr, PROG ": cannot read detections %s: %s\n", o.det,
                    errno ? strerror(errno) : "empty file");
            goto done;
        }
        s = c == '[' ? clssd__dets_load_coco_results(o.det, gt, &dets, err, sizeof err)
                     : clssd__dets_load_detect_json(o.det, gt, o.class_map ? &map : NULL, &dets,
                                                    err, sizeof err);
        if (s != CLSSD_OK) {
            fprintf(stderr, PROG ": cannot read detections %s: %s\n", o.det, err);
            goto done;
        }
    }

    size_t n_difficult = 0;
    for (size_t i = 0; i < gt->n_objects; i++) n_difficult += gt->objects[i].difficult != 0;
    printf("%s: %zu images, %zu objects (%zu difficult), %zu classes; %zu detections", o.gt,
           gt->n_images, gt->n_objects, n_difficult, gt->n_classes, dets.n);
    if (dets.n_unmatched_image || dets.n_unmatched_class || rs.n_dropped_class)
        printf(" (dropped: %zu on images not in the ground truth, %zu of other classes)",
               dets.n_unmatched_image, dets.n_unmatched_class + rs.n_dropped_class);
    printf("\n");
    if (dets.n_unmatched_image)
        fprintf(stderr,
                PROG ": warning: %zu detections on images that are not in the ground truth were "
                     "left out%s\n",
                dets.n_unmatched_image,
                !gt_dir && !gt->is_coco && !o.image_set
                    ? " (a TSV lists only images with objects: --image-set LIST names them all, "
                      "and then such detections count as false positives)"
                    : "");
    if (o.model)
        printf("model %s: %zu images in %.1f s (%.2f images/s)\n", o.model, rs.n_images,
               rs.seconds, rs.seconds > 0 ? (double)rs.n_images / rs.seconds : 0.0);

    clssd_voc_params vp;
    clssd__voc_params_default(&vp);
    vp.iou_ge = o.iou_ge;
    if (o.voc07) {
        vp.use_07_metric = 1;
        if ((s = clssd__eval_voc(gt, &dets, &vp, &r07)) != CLSSD_OK) goto eval_failed;
    }
    if (o.voc10) {
        vp.use_07_metric = 0;
        if ((s = clssd__eval_voc(gt, &dets, &vp, &r10)) != CLSSD_OK) goto eval_failed;
    }
    if (o.coco) {
        clssd_coco_params cp;
        clssd__coco_params_default(&cp);
        if ((s = clssd__eval_coco(gt, &dets, &cp, &rco)) != CLSSD_OK) goto eval_failed;
    }
    if (o.voc07 || o.voc10)
        print_voc(gt, o.voc07 ? &r07 : NULL, o.voc10 ? &r10 : NULL, o.iou_ge, o.quiet);
    if (o.coco) print_coco(gt, &rco, o.quiet);

    rc = 0;
    if (o.plots) {
        size_t n = 0;
        if (o.voc07 || o.voc10)
            rc |= plot_voc(o.plots, gt, o.voc07 ? &r07 : NULL, o.voc10 ? &r10 : NULL, &n) ? 2 : 0;
        if (o.coco) rc |= plot_coco(o.plots, gt, &rco, &n) ? 2 : 0;
        fprintf(stderr, PROG ": %zu precision-recall plots in %s\n", n, o.plots);
    }
    if (json) {
        write_json(json, &o, gt, &dets, &rs, o.voc07 ? &r07 : NULL, o.voc10 ? &r10 : NULL,
                   o.coco ? &rco : NULL);
        if (fflush(json) != 0 || ferror(json)) {
            fprintf(stderr, PROG ": cannot write %s: %s\n", o.json, strerror(errno));
            rc = 2;
        }
    }
    goto done;
eval_failed:
    fprintf(stderr, PROG ": evaluation failed: %s\n", clssd_status_string(s));
    rc = 2;
done:
    if (json && json != stdout && fclose(json) != 0 && rc == 0) {
        fprintf(stderr, PROG ": cannot write %s: %s\n", o.json, strerror(errno));
        rc = 2;
    }
    if (paths)
        for (size_t i = 0; gt && i < gt->n_images; i++) free(paths[i]);
    free(paths);
    clssd__voc_result_free(&r07);
    clssd__voc_result_free(&r10);
    clssd__coco_result_free(&rco);
    clssd__dets_free(&dets);
    clssd__class_map_free(&map);
    clssd__gt_free(gt);
    return rc;
}
