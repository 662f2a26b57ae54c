/* clssd-detect: run an SSD model over images; detections as JSON, optionally drawn on PNGs.
 *
 *   clssd-detect [--model FILE | --random ssd300|ssd512] [--device P:D] [--batch N]
 *                [--threshold T] [--json OUT] [--draw DIR] IMAGE_OR_DIR...
 *
 * Without --model it runs the default 80-class COCO detector (SSDLite-MobileNetV2, see
 * models/README.md): $CLSSD_MODEL, else the installed copy, else the source tree's.
 *
 * Uses only the public API (clssd.h). Exit status: 0 all images done, 1 some image failed
 * (recorded in the JSON, the others still done), 2 usage error, bad model, no device or an
 * output that cannot be written. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <dirent.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "cli_opts.h"
#include "cli_util.h"
#include "clssd.h"
#include "image_io.h"

#define PROG "clssd-detect"
#define MAX_BATCH 64      /* clssd_detect_batch takes 1..64 images */
#define PROGRESS_AFTER 3  /* per-image progress lines for runs of more images than this */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: " PROG " [--model FILE | --random ssd300|ssd512] [--device P:D]\n"
            "                    [--batch N] [--threshold T] [--json OUT] [--draw DIR]\n"
            "                    IMAGE_OR_DIR...\n"
            "\n"
            "Runs an SSD detector over JPEG/PNG images and writes one JSON document with the\n"
            "detections (boxes in pixels of the original image).\n"
            "\n"
            "  --model FILE      a .clssd model, or a TF.js model.json (converted on load);\n"
            "                    default: the COCO SSDLite-MobileNetV2 detector (80 classes)\n"
            "  --random NET      ssd300 or ssd512: SSD VGG16 with seeded RANDOM weights, for\n"
            "                    trying the tool without a trained model: its boxes mean\n"
            "                    nothing. VOC labels (21 classes); --classes 81: COCO;\n"
            "                    --seed N: other weights\n"
            "  --device P:D      OpenCL platform:device (default: env CLSSD_DEVICE, else the\n"
            "                    first GPU, else 0:0); --list-devices shows them\n"
            "  --batch N         images per clssd_detect_batch call, 1..%d (default 1)\n"
            "  --threshold T     keep detections with score >= T (default 0.5; 0 keeps all the\n"
            "                    model emits)\n"
            "  --json OUT        write the JSON to OUT (default, or \"-\": stdout)\n"
            "  --draw DIR        write DIR/<name>.png: the image with boxes and labels\n"
            "  --list-devices    list OpenCL devices and exit\n"
            "  -h, --help        this text\n"
            "\n"
            "A directory argument means every *.jpg, *.jpeg and *.png in it, sorted by name.\n"
            "Exit status: 0 ok, 1 some image could not be read (an \"error\" entry in the JSON),\n"
            "2 usage error, bad model file, no OpenCL device or unwritable output.\n"
            "Environment: CLSSD_MODEL (default model file), CLSSD_DEVICE, CLSSD_CACHE_DIR\n"
            "(kernel binary cache).\n",
            MAX_BATCH);
}

/* ---------------------------------------------------------------- small helpers */

static int has_image_ext(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && dot != name &&
           (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".png"));
}

/* ---------------------------------------------------------------- inputs */

typedef struct entry {
    char *file;               /* path as given, or DIR/name */
    int w, h;
    char *error;              /* NULL: done */
    clssd_detection *dets;    /* kept detections (score >= threshold) */
    size_t n_dets;
} entry;

typedef struct entry_list {
    entry *v;
    size_t n, cap;
} entry_list;

static int list_add(entry_list *l, const char *file)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        entry *v = realloc(l->v, cap * sizeof *v);
        if (!v) return -1;
        l->v = v;
        l->cap = cap;
    }
    entry *e = &l->v[l->n];
    memset(e, 0, sizeof *e);
    e->file = xstrdup(file);
    if (!e->file) return -1;
    l->n++;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Adds the images of a directory, sorted by name. Returns the count, or -1 on error. */
static long add_dir(entry_list *l, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    char **names = NULL;
    size_t n = 0, cap = 0;
    long rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || !has_image_ext(de->d_name)) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) {
                rc = -1;
                break;
            }
            names = nn;
        }
        if (!(names[n] = xstrdup(de->d_name))) {
            rc = -1;
            break;
        }
        n++;
    }
    closedir(d);
    if (rc == 0) qsort(names, n, sizeof *names, cmp_str);
    const size_t dl = strlen(dir);
    const int slash = dl > 0 && dir[dl - 1] == '/';
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t len = dl + 1 + strlen(names[i]) + 1;
        char *path = malloc(len);
        if (!path) {
            rc = -1;
            break;
        }
        snprintf(path, len, "%s%s%s", dir, slash ? "" : "/", names[i]);
        /* Skip subdirectories that happen to be called *.jpg. */
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            free(path);
            continue;
        }
        if (list_add(l, path) != 0) rc = -1;
        free(path);
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return rc < 0 ? -1 : (long)n;
}

/* ---------------------------------------------------------------- JSON */

static void write_json(FILE *f, const char *model, const char *device, const entry_list *l,
                       const clssd_model *m)
{
    fputs("{\n  \"model\": ", f);
    json_str(f, model);
    fputs(",\n  \"device\": ", f);
    json_str(f, device);
    fputs(",\n  \"images\": [", f);
    for (size_t i = 0; i < l->n; i++) {
        const entry *e = &l->v[i];
        fputs(i ? ",\n    {\"file\": " : "\n    {\"file\": ", f);
        json_str(f, e->file);
        if (e->error) {
            fputs(", \"error\": ", f);
            json_str(f, e->error);
            fputs("}", f);
            continue;
        }
        fprintf(f, ", \"width\": %d, \"height\": %d, \"detections\": [", e->w, e->h);
        for (size_t k = 0; k < e->n_dets; k++) {
            const clssd_detection *d = &e->dets[k];
            fprintf(f, "%s\n      {\"label\": %d, \"name\": ", k ? "," : "", (int)d->label);
            json_str(f, clssd_model_label(m, d->label));
            fputs(", \"score\": ", f);
            json_num(f, d->score, 6); /* 6: ranks for mAP without false ties */
            fputs(", \"box\": [", f);
            const float box[4] = {d->xmin, d->ymin, d->xmax, d->ymax};
            for (int j = 0; j < 4; j++) {
                if (j) fputs(", ", f);
                json_num(f, box[j], 2);
            }
            fputs("]}", f);
        }
        fputs(e->n_dets ? "\n    ]}" : "]}", f);
    }
    fputs(l->n ? "\n  ]\n}\n" : "]\n}\n", f);
}

/* ---------------------------------------------------------------- drawing */

static void label_colour(int32_t label, uint8_t rgb[3])
{
    static const uint8_t pal[20][3] = {
        {230, 25, 75},   {60, 180, 75},   {255, 225, 25}, {0, 130, 200},  {245, 130, 48},
        {145, 30, 180},  {70, 240, 240},  {240, 50, 230}, {210, 245, 60}, {250, 190, 212},
        {0, 128, 128},   {220, 190, 255}, {170, 110, 40}, {255, 250, 200}, {128, 0, 0},
        {170, 255, 195}, {128, 128, 0},   {255, 215, 180}, {0, 0, 128},   {128, 128, 128},
    };
    const uint32_t k = (uint32_t)label % 20u;
    memcpy(rgb, pal[k], 3);
}

static int cmp_det_score(const void *a, const void *b)
{
    const clssd_detection *x = a, *y = b;
    return (x->score > y->score) - (x->score < y->score);
}

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static int px_floor(float v, int hi)
{
    return isfinite(v) ? clampi((int)floorf(v), 0, hi) : 0;
}

/* Boxes first (lowest score first, so the best ends on top), then the labels above them. */
static void draw_detections(imgio_image *im, const entry *e, const clssd_model *m)
{
    if (!e->n_dets) return;
    clssd_detection *d = malloc(e->n_dets * sizeof *d);
    if (!d) return;
    memcpy(d, e->dets, e->n_dets * sizeof *d);
    qsort(d, e->n_dets, sizeof *d, cmp_det_score);
    const int big = im->w > im->h ? im->w : im->h;
    const int scale = 1 + big / 800, pad = scale, thick = 2;
    for (size_t k = 0; k < e->n_dets; k++) {
        uint8_t c[3];
        label_colour(d[k].label, c);
        /* Continuous [xmin, xmax) -> the pixels it covers. */
        const int x0 = px_floor(d[k].xmin, im->w - 1), y0 = px_floor(d[k].ymin, im->h - 1);
        const int x1 = px_floor(ceilf(d[k].xmax) - 1.0f, im->w - 1);
        const int y1 = px_floor(ceilf(d[k].ymax) - 1.0f, im->h - 1);
        imgio_draw_rect(im, x0, y0, x1 < x0 ? x0 : x1, y1 < y0 ? y0 : y1, thick, c);
    }
    for (size_t k = 0; k < e->n_dets; k++) {
        uint8_t c[3];
        label_colour(d[k].label, c);
        char text[96];
        const char *name = clssd_model_label(m, d[k].label);
        if (name)
            snprintf(text, sizeof text, "%.60s %.2f", name, (double)d[k].score);
        else
            snprintf(text, sizeof text, "%d %.2f", (int)d[k].label, (double)d[k].score);
        const int tw = imgio_text_width(text, scale) + 2 * pad;
        const int th = imgio_text_height(scale) + 2 * pad;
        const int x0 = px_floor(d[k].xmin, im->w - 1), y0 = px_floor(d[k].ymin, im->h - 1);
        int tx = x0, ty = y0 - th; /* above the box; inside it when there is no room */
        if (ty < 0) ty = y0;
        if (tx + tw > im->w) tx = im->w - tw;
        if (tx < 0) tx = 0;
        imgio_fill_rect(im, tx, ty, tx + tw - 1, ty + th - 1, c);
        /* Black or white text, whichever reads better on the label colour. */
        const int luma = (299 * c[0] + 587 * c[1] + 114 * c[2]) / 1000;
        const uint8_t ink[3] = {luma > 140 ? 0 : 255, luma > 140 ? 0 : 255, luma > 140 ? 0 : 255};
        imgio_draw_text(im, tx + pad, ty + pad, text, scale, ink);
    }
    free(d);
}

/* DIR/<basename without extension>.png */
static char *draw_path(const char *dir, const char *file)
{
    const char *b = base_name(file);
    const char *dot = strrchr(b, '.');
    const size_t stem = dot && dot != b ? (size_t)(dot - b) : strlen(b);
    const size_t len = strlen(dir) + 1 + stem + 5;
    char *p = malloc(len);
    if (p) snprintf(p, len, "%s/%.*s.png", dir, (int)stem, b);
    return p;
}

/* ---------------------------------------------------------------- main */

typedef struct options {
    const char *model_path, *random_net, *json_path, *draw_dir;
    int platform, device, batch, classes, width_div, list_devices, seed_set;
    uint64_t seed;
    float threshold;
} options;


/* Fills `images` from argv; returns 0, or 2 on a usage error (message printed). */
static int parse_args(int argc, char **argv, options *o, entry_list *images, int *help)
{
    int only_files = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (only_files || a[0] != '-' || !strcmp(a, "-")) {
            struct stat st;
            if (stat(a, &st) == 0 && S_ISDIR(st.st_mode)) {
                long n = add_dir(images, a);
                if (n < 0) {
                    fprintf(stderr, PROG ": %s: cannot read directory: %s\n", a, strerror(errno));
                    return 2;
                }
                if (n == 0) fprintf(stderr, PROG ": %s: no *.jpg, *.jpeg or *.png files\n", a);
            } else if (list_add(images, a) != 0) {
                fprintf(stderr, PROG ": out of memory\n");
                return 2;
            }
            continue;
        }
        if (!strcmp(a, "--")) {
            only_files = 1;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            *help = 1;
            return 0;
        }
        if (!strcmp(a, "--list-devices")) {
            o->list_devices = 1;
            continue;
        }
        /* Options with a value: "--opt VALUE" or "--opt=VALUE". */
        static const char *const with_value[] = {"--model", "--random", "--device", "--batch",
                                                 "--threshold", "--json", "--draw", "--classes",
                                                 "--width-div", "--seed"};
        const char *v = NULL;
        const int opt = cli_value_option(argc, argv, &i, with_value,
                                         (int)(sizeof with_value / sizeof *with_value), PROG, &v);
        if (opt < 0) return 2;
        switch (opt) {
        case 0: o->model_path = v; break;
        case 1:
            if (strcmp(v, "ssd300") && strcmp(v, "ssd512")) {
                fprintf(stderr, PROG ": --random takes ssd300 or ssd512, not '%s'\n", v);
                return 2;
            }
            o->random_net = v;
            break;
        case 2:
            if (sscanf(v, "%d:%d", &o->platform, &o->device) != 2 || o->platform < 0 ||
                o->device < 0) {
                fprintf(stderr, PROG ": --device wants P:D (e.g. 0:0), not '%s'\n", v);
                return 2;
            }
            break;
        case 3:
            if (parse_int(v, 1, MAX_BATCH, &o->batch)) {
                fprintf(stderr, PROG ": --batch wants 1..%d, not '%s'\n", MAX_BATCH, v);
                return 2;
            }
            break;
        case 4:
            if (parse_float(v, &o->threshold) || o->threshold < 0.0f || o->threshold > 1.0f) {
                fprintf(stderr, PROG ": --threshold wants a score in [0, 1], not '%s'\n", v);
                return 2;
            }
            break;
        case 5: o->json_path = v; break;
        case 6: o->draw_dir = v; break;
        case 7:
            if (parse_int(v, 2, 100000, &o->classes)) {
                fprintf(stderr, PROG ": --classes wants a count >= 2, not '%s'\n", v);
                return 2;
            }
            break;
        case 8:
            if (parse_int(v, 1, 64, &o->width_div)) {
                fprintf(stderr, PROG ": --width-div wants 1..64, not '%s'\n", v);
                return 2;
            }
            break;
        case 9: {
            char *end;
            errno = 0;
            const unsigned long long seed = strtoull(v, &end, 10);
            if (errno || end == v || *end || v[0] == '-') {
                fprintf(stderr, PROG ": --seed wants an unsigned integer, not '%s'\n", v);
                return 2;
            }
            o->seed = (uint64_t)seed;
            o->seed_set = 1;
            break;
        }
        default: break;
        }
    }
    return 0;
}

static void free_entries(entry_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].file);
        free(l->v[i].error);
        free(l->v[i].dets);
    }
    free(l->v);
    memset(l, 0, sizeof *l);
}

int main(int argc, char **argv)
{
    options o = {.platform = -1, .device = -1, .batch = 1, .classes = 21, .width_div = 1,
                 .threshold = 0.5f};
    entry_list images = {0};
    int help = 0;
    int rc = parse_args(argc, argv, &o, &images, &help);
    if (rc || help) {
        if (help) usage(stdout);
        free_entries(&images);
        return rc;
    }
    if (o.list_devices) {
        free_entries(&images);
        return cli_list_devices(PROG);
    }
    if (!o.model_path && !o.random_net) o.model_path = default_model();
    if (!o.model_path == !o.random_net || (o.model_path && !*o.model_path)) {
        fprintf(stderr, PROG ": give one of --model FILE or --random ssd300|ssd512\n");
        usage(stderr);
        free_entries(&images);
        return 2;
    }
    if (images.n == 0) {
        fprintf(stderr, PROG ": no images given\n");
        if (argc < 2) usage(stderr);
        free_entries(&images);
        return 2;
    }

    /* Outputs first: a typo in --json or --draw should not cost a whole run. */
    FILE *json = stdout;
    if (o.json_path && strcmp(o.json_path, "-")) {
        json = fopen(o.json_path, "w");
        if (!json) {
            fprintf(stderr, PROG ": cannot write %s: %s\n", o.json_path, strerror(errno));
            free_entries(&images);
            return 2;
        }
    }
    if (o.draw_dir && make_dirs(o.draw_dir) != 0) {
        fprintf(stderr, PROG ": cannot create directory %s: %s\n", o.draw_dir, strerror(errno));
        if (json != stdout) fclose(json);
        free_entries(&images);
        return 2;
    }

    int json_written = 0;
    const double t_start = now_s();
    clssd_context *ctx = NULL;
    clssd_model *model = NULL;
    clssd_detection *dets = NULL;
    imgio_image *pix = NULL;
    size_t *counts = NULL;
    clssd_status s = cli_context_create(PROG, o.platform, o.device, &ctx);
    if (s != CLSSD_OK) {
        rc = 2;
        goto done;
    }
    clssd_device_info dev;
    char device_name[300] = "";
    if (clssd_context_device(ctx, &dev) == CLSSD_OK)
        snprintf(device_name, sizeof device_name, "%s / %s", dev.platform_name, dev.device_name);

    if (o.model_path && ends_with(o.model_path, ".json")) {
        s = clssd_model_load_tfjs(ctx, o.model_path, &model);
    } else if (o.model_path) {
        s = clssd_model_load(ctx, o.model_path, &model);
    } else {
        clssd_ssd_params sp;
        clssd_ssd_params_init(&sp, !strcmp(o.random_net, "ssd512") ? 512 : 300, o.classes);
        sp.width_div = o.width_div;
        if (o.seed_set) sp.seed = o.seed; /* init: the builder's default, Caffe xavier */
        s = clssd_model_create_ssd(ctx, &sp, &model);
    }
    if (s != CLSSD_OK) {
        const char *detail = clssd_last_error(ctx);
        fprintf(stderr, PROG ": cannot %s %s: %s%s%s\n", o.model_path ? "load model" : "build",
                o.model_path ? o.model_path : o.random_net, clssd_status_string(s),
                detail && *detail ? "\n  " : "", detail ? detail : "");
        rc = 2;
        goto done;
    }
    clssd_model_info info;
    memset(&info, 0, sizeof info);
    clssd_model_get_info(model, &info);
    const char *model_name = info.name && *info.name ? info.name
                             : o.model_path           ? base_name(o.model_path)
                                                      : o.random_net;

    /* Ask the library for what will be kept anyway (score > nextafter(T) <=> score >= T);
     * raising the cut does not change the detections above it (greedy NMS only lets a box
     * suppress lower-scored ones, and keep_top_k keeps the best). T at or below the
     * model's own conf_thresh keeps everything the model emits with its own settings. */
    clssd_detect_params dp;
    clssd_model_detect_params(model, &dp); /* the model's own settings, e.g. a face net's */
    {
        const float below = nextafterf(o.threshold, -1.0f);
        if (below > dp.conf_thresh) dp.conf_thresh = below;
    }

    const size_t B = (size_t)o.batch;
    size_t cap = B * (size_t)(dp.keep_top_k > 0 ? dp.keep_top_k : 200);
    dets = malloc(cap * sizeof *dets);
    pix = calloc(B, sizeof *pix);
    counts = calloc(B, sizeof *counts);
    size_t *slot = calloc(B, sizeof *slot); /* entry index of each batch image */
    if (!dets || !pix || !counts || !slot) {
        free(slot);
        fprintf(stderr, PROG ": out of memory\n");
        rc = 2;
        goto done;
    }
    const int progress = images.n > PROGRESS_AFTER;
    size_t n_failed = 0, n_total_dets = 0, next = 0;
    int draw_failed = 0;
    char err[512];
    while (next < images.n) {
        /* Decode up to B good images; failures are recorded and skipped. */
        const size_t first = next;
        size_t nb = 0;
        clssd_image batch[MAX_BATCH];
        while (nb < B && next < images.n) {
            entry *e = &images.v[next];
            if (imgio_load(e->file, &pix[nb], err, sizeof err) != 0) {
                e->error = xstrdup(err);
            } else if (pix[nb].w > 65535 || pix[nb].h > 65535) {
                snprintf(err, sizeof err, "image too large (%dx%d; at most 65535x65535)",
                         pix[nb].w, pix[nb].h);
                e->error = xstrdup(err);
                imgio_free(&pix[nb]);
            } else {
                e->w = pix[nb].w;
                e->h = pix[nb].h;
                batch[nb] = (clssd_image){pix[nb].px, pix[nb].w, pix[nb].h, 3 * pix[nb].w};
                slot[nb++] = next;
            }
            next++;
        }
        if (nb) {
            size_t total = 0;
            s = clssd_detect_batch(model, batch, nb, &dp, dets, cap, counts, &total);
            if (s == CLSSD_ERR_BUFFER_TOO_SMALL && total > cap) {
                clssd_detection *bigger = realloc(dets, total * sizeof *dets);
                if (bigger) {
                    dets = bigger;
                    cap = total;
                    s = clssd_detect_batch(model, batch, nb, &dp, dets, cap, counts, &total);
                }
            }
            size_t off = 0;
            for (size_t b = 0; b < nb; b++) {
                entry *e = &images.v[slot[b]];
                if (s != CLSSD_OK) {
                    snprintf(err, sizeof err, "detection failed: %s: %s", clssd_status_string(s),
                             clssd_last_error(ctx));
                    e->error = xstrdup(err);
                    continue;
                }
                const clssd_detection *d = dets + off;
                off += counts[b];
                size_t kept = 0;
                for (size_t k = 0; k < counts[b]; k++) kept += d[k].score >= o.threshold;
                e->dets = malloc((kept ? kept : 1) * sizeof *e->dets);
                if (!e->dets) {
                    e->error = xstrdup("out of memory");
                    continue;
                }
                for (size_t k = 0; k < counts[b]; k++)
                    if (d[k].score >= o.threshold) e->dets[e->n_dets++] = d[k];
                n_total_dets += e->n_dets;
                if (o.draw_dir) {
                    draw_detections(&pix[b], e, model);
                    char *png = draw_path(o.draw_dir, e->file);
                    if (!png || imgio_save_png(png, &pix[b], err, sizeof err) != 0) {
                        fprintf(stderr, PROG ": %s: %s\n", png ? png : e->file,
                                png ? err : "out of memory");
                        draw_failed = 1;
                    }
                    free(png);
                }
            }
            for (size_t b = 0; b < nb; b++) imgio_free(&pix[b]);
        }
        /* Report this batch's files in order. */
        for (size_t i = first; i < next; i++) {
            const entry *e = &images.v[i];
            if (e->error) {
                n_failed++;
                fprintf(stderr, PROG ": %s: %s\n", e->file, e->error);
            } else if (progress || json != stdout) {
                /* what was found, in words: the JSON carries the numbers */
                fprintf(stderr, "[%zu/%zu] %s: %zu detection%s", i + 1, images.n,
                        base_name(e->file), e->n_dets, e->n_dets == 1 ? "" : "s");
                for (size_t k = 0; k < e->n_dets && k < 12; k++) {
                    const char *name = clssd_model_label(model, e->dets[k].label);
                    fprintf(stderr, "%s", k ? ", " : ": ");
                    if (name)
                        fprintf(stderr, "%s %.2f", name, (double)e->dets[k].score);
                    else
                        fprintf(stderr, "class %d %.2f", (int)e->dets[k].label, (double)e->dets[k].score);
                }
                fprintf(stderr, "%s\n", e->n_dets > 12 ? ", ..." : "");
            }
        }
    }
    free(slot);

    write_json(json, model_name, device_name, &images, model);
    json_written = 1;
    if (fflush(json) != 0 || ferror(json)) {
        fprintf(stderr, PROG ": writing %s failed: %s\n",
                json == stdout ? "the JSON to stdout" : o.json_path, strerror(errno));
        rc = 2;
    }
    {
        const double dt = now_s() - t_start;
        const size_t n_ok = images.n - n_failed;
        fprintf(stderr,
                PROG ": %zu image%s (%zu failed), %zu detection%s with score >= %.2f, %.2f s "
                     "(%.3f s/image) on %s\n",
                images.n, images.n == 1 ? "" : "s", n_failed, n_total_dets,
                n_total_dets == 1 ? "" : "s", (double)o.threshold, dt,
                n_ok ? dt / (double)n_ok : 0.0, device_name);
    }
    if (o.draw_dir && !draw_failed && images.n > n_failed)
        fprintf(stderr, PROG ": drawn pictures in %s/\n", o.draw_dir);
    if (rc == 0 && (n_failed || draw_failed)) rc = 1;

done:
    if (pix)
        for (size_t b = 0; b < (size_t)o.batch; b++) imgio_free(&pix[b]);
    free(pix);
    free(counts);
    free(dets);
    clssd_model_destroy(model);
    clssd_context_destroy(ctx);
    if (json != stdout) {
        if (fclose(json) != 0 && json_written && rc == 0) {
            fprintf(stderr, PROG ": closing %s failed: %s\n", o.json_path, strerror(errno));
            rc = 2;
        }
        if (!json_written) remove(o.json_path); /* no half-empty document after a fatal error */
    }
    free_entries(&images);
    return rc;
}
