/* clssd-bench: SSD inference timing on one OpenCL device.
 *
 *   clssd-bench --model ssd300|ssd512|FILE.clssd|FILE/model.json [--classes N] [--width-div N]
 *               [--batch 1,8,...] [--device P:D] [--runs N] [--warmup N] [--image PATH]
 *               [--json OUT] [--profile] [--compare-blas] [--list-devices] [--check-clblast]
 *
 * Reports, apart from each other:
 *   - cold start: context + kernel programs (built, or loaded from the binary cache), model
 *     creation or load (weight upload), the first detect at the largest batch (plan buffers,
 *     conv algorithm choices);
 *   - steady state per batch size, three timings measured separately: end2end (the public
 *     clssd_detect_batch: image upload, preprocessing, network, decode + NMS, read back),
 *     network (input already on the device) and postproc (decode + NMS and what follows);
 *   - --profile: device time per node from OpenCL profiling events;
 *   - --compare-blas: the same convolutions as OpenBLAS GEMMs on the host, a CPU roofline.
 *
 * The bench links the library's internals (clssd_internal.h) to run node ranges and read the
 * profiling events; the end2end figure uses only the public API. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli_opts.h"
#include "testutil.h"

#ifdef CLSSD_BENCH_HAVE_IMAGE_IO
#include "image_io.h"
#endif
#ifdef CLSSD_HAVE_OPENBLAS
#include <cblas.h> /* OpenBLAS's own: declares openblas_get_config() and friends */
#endif

#define PROG "clssd-bench"
#define MAX_BATCHES 16
#define MAX_BATCH 64   /* clssd_detect_batch's limit */
#define BLAS_SAMPLE 64 /* grouped convs with more GEMM calls than this are timed on a sample */

enum { T_END2END, T_NETWORK, T_POSTPROC, T_COUNT };
static const char *const timing_names[T_COUNT] = {"end2end", "network", "postproc"};

typedef struct options {
    const char *model; /* ssd300, ssd512 or a path */
    int classes, width_div, runs, warmup, platform, device;
    int batches[MAX_BATCHES], n_batches;
    const char *image, *json;
    int profile, compare_blas, classes_set, width_div_set, check_clblast;
} options;

typedef struct timing {
    double median, min, max; /* ms per batch */
} timing;

/* One conv layer as OpenBLAS GEMMs: C[M,N] = A[M,K] B[K,N], `calls` of them per batch. */
typedef struct blas_layer {
    int32_t node;
    int m, n, k, groups;
    long calls, timed_calls; /* timed_calls < calls: a sample, scaled up */
    double ms;               /* per batch, best of the runs */
} blas_layer;

typedef struct batch_result {
    int batch;
    timing t[T_COUNT];
    double *prof_ms; /* per node, median device ms (--profile), else NULL */
    blas_layer *blas; /* n_conv entries (--compare-blas), else NULL */
    double blas_ms;   /* sum over the layers */
} batch_result;

typedef struct bench {
    options o;
    clssd_context *ctx;
    clssd_model *m;
    clssd_device_info dev;
    char source[32]; /* "random weights" or "file" */
    /* cold start */
    double context_ms, programs_ms, model_ms, first_detect_ms;
    int cache_hits, cache_misses, algo_measured, algo_cached, max_batch;
    /* model summary */
    double gflop;
    int n_conv;
    int32_t net_first, net_last, post_first, post_last;
    /* the picture every batch entry uses */
    uint8_t *pixels;
    int img_w, img_h;
    const char *image_source;
    FILE *json; /* --json OUT, opened before the work so that a bad path fails fast */
    clssd_detection *dets;
    size_t det_cap;
    batch_result res[MAX_BATCHES];
    int n_res;
} bench;

/* ---------------------------------------------------------------- small helpers */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n) (sorts v in place); the mean of the middle two for even n. */
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static timing summarize(double *v, int n)
{
    timing t = {0, 0, 0};
    if (n < 1) return t;
    t.median = median(v, n); /* sorted now */
    t.min = v[0];
    t.max = v[n - 1];
    return t;
}

/* Strict decimal integer in [lo, hi]; returns 0 on success. */
static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return 1;
    *out = (int)v;
    return 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

static int is_builtin_model(const char *name)
{
    return !strcmp(name, "ssd300") || !strcmp(name, "ssd512");
}

/* Prints a library failure: the context's "file:line: call -> detail" when there is one. */
static int lib_fail(const bench *b, const char *what, clssd_status s)
{
    const char *why = b->ctx ? clssd_last_error(b->ctx) : "";
    fprintf(stderr, PROG ": %s: %s%s%s\n", what, clssd_status_string(s), why[0] ? ": " : "",
            why);
    return 1;
}

/* ---------------------------------------------------------------- arguments */

static int have_openblas(void)
{
#ifdef CLSSD_HAVE_OPENBLAS
    return 1;
#else
    return 0;
#endif
}

static int have_image_io(void)
{
#ifdef CLSSD_BENCH_HAVE_IMAGE_IO
    return 1;
#else
    return 0;
#endif
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: " PROG " --model ssd300|ssd512|FILE.clssd|DIR/model.json [options]\n"
            "  --model M         ssd300 / ssd512 (VGG SSD, random weights), a .clssd file or\n"
            "                    a TF.js model.json (default ssd300)\n"
            "  --classes N       classes incl. background for ssd300/ssd512 (default 21)\n"
            "  --width-div N     channel divisor for ssd300/ssd512 (default 1: the real SSD)\n"
            "  --batch 1,8,...   batch sizes, 1..%d each (default 1,8)\n"
            "  --device P:D      OpenCL platform:device (default: CLSSD_DEVICE, else first GPU)\n"
            "  --runs N          timed runs per measurement (default 10)\n"
            "  --warmup N        untimed runs before each measurement (default 2)\n"
            "  --image PATH      a real picture instead of the synthetic 640x480 one\n"
            "  --json OUT        also write every figure as JSON to OUT\n"
            "  --profile         per-node device time from OpenCL profiling events\n"
            "  --compare-blas    the conv layers as OpenBLAS GEMMs on the host (CPU roofline)\n"
            "  --list-devices    list OpenCL devices (and their CLBlast tuning directory)\n"
            "  --check-clblast   create a context on --device, which applies and checks its\n"
            "                    CLBlast tuning (docs/tuning.md), and exit\n"
            "  --version         version and build options\n",
            MAX_BATCH);
    fprintf(f, "built with OpenBLAS: %s; image decoding: %s\n", have_openblas() ? "yes" : "no",
            have_image_io() ? "yes" : "no");
}

static int parse_batches(const char *v, options *o)
{
    o->n_batches = 0;
    const char *p = v;
    for (;;) {
        char item[16];
        size_t len = strcspn(p, ",");
        if (len == 0 || len >= sizeof item || o->n_batches == MAX_BATCHES) return 1;
        memcpy(item, p, len);
        item[len] = 0;
        if (parse_int(item, 1, MAX_BATCH, &o->batches[o->n_batches++])) return 1;
        if (!p[len]) return 0;
        p += len + 1;
    }
}

static int list_devices(void)
{
    clssd_device_info d[32];
    size_t n = 0;
    clssd_status s = clssd_device_list(d, 32, &n);
    if (s != CLSSD_OK && s != CLSSD_ERR_BUFFER_TOO_SMALL) {
        fprintf(stderr, PROG ": no OpenCL devices: %s\n", clssd_status_string(s));
        return 1;
    }
    for (size_t k = 0; k < n && k < 32; k++) {
        printf("%d:%d  %s / %s / %s (%u CUs, %.1f GiB)%s\n", d[k].platform, d[k].device,
               d[k].platform_name, d[k].device_name, d[k].driver_version, d[k].compute_units,
               (double)d[k].global_mem_bytes / (double)(1u << 30), d[k].is_gpu ? " GPU" : "");
        /* where scripts/tune-clblast.sh puts CLBlast's tuning for it (docs/tuning.md) */
        char dir[1024];
        if (clssd__clblast_tune_dir_for(d[k].platform, d[k].device, dir, sizeof dir) == CLSSD_OK)
            printf("      CLBlast tuning: %s\n", dir[0] ? dir : "(no cache directory)");
    }
    return 0;
}

static void log_stderr(int level, const char *msg, void *user)
{
    (void)user;
    fprintf(stderr, "%s: %s\n",
            level >= CLSSD_LOG_ERROR ? "error" : level == CLSSD_LOG_WARN ? "warning" : "info", msg);
}

/* --check-clblast: what a context on the device makes of the CLBlast tuning files under the
 * cache directory (scripts/tune-clblast.sh checks each result with it). 0: the context came up
 * (the files it applied passed the check), 1: it failed. */
static int check_clblast(const options *o)
{
    clssd_context_params cp;
    clssd_context_params_init(&cp);
    cp.platform = o->platform;
    cp.device = o->device;
    cp.log = log_stderr;
    clssd_context *ctx = NULL;
    const clssd_status s = clssd_context_create(&cp, &ctx);
    if (s != CLSSD_OK) {
        fprintf(stderr, PROG ": no context: %s\n", clssd_status_string(s));
        return 1;
    }
    printf("CLBlast parameter sets applied and checked: %d\n", ctx->clblast_overrides);
    clssd_context_destroy(ctx);
    return 0;
}

/* Returns -1 to go on, else the exit status (0 after --help/--version/--list-devices). */
static int parse_args(int argc, char **argv, options *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--version")) {
            printf(PROG " (libclssd %s), OpenBLAS: %s, image decoding: %s\n",
                   clssd_version_string(), have_openblas() ? "yes" : "no",
                   have_image_io() ? "yes" : "no");
            return 0;
        }
        if (!strcmp(a, "--list-devices")) return list_devices();
        if (!strcmp(a, "--profile")) {
            o->profile = 1;
            continue;
        }
        if (!strcmp(a, "--compare-blas")) {
            o->compare_blas = 1;
            continue;
        }
        if (!strcmp(a, "--check-clblast")) {
            o->check_clblast = 1;
            continue;
        }
        /* Options with a value: "--opt VALUE" or "--opt=VALUE". */
        static const char *const with_value[] = {"--model",  "--classes", "--width-div",
                                                 "--batch",  "--device",  "--runs",
                                                 "--warmup", "--image",   "--json"};
        const char *v = NULL;
        const int opt = cli_value_option(argc, argv, &i, with_value,
                                         (int)(sizeof with_value / sizeof *with_value), PROG, &v);
        if (opt < 0) return 2;
        int bad = 0;
        switch (opt) {
        case 0: o->model = v; break;
        case 1:
            bad = parse_int(v, 2, 100000, &o->classes);
            o->classes_set = 1;
            break;
        case 2:
            bad = parse_int(v, 1, 64, &o->width_div);
            o->width_div_set = 1;
            break;
        case 3: bad = parse_batches(v, o); break;
        case 4: {
            char tail;
            bad = sscanf(v, "%d:%d%c", &o->platform, &o->device, &tail) != 2 ||
                  o->platform < 0 || o->device < 0;
            break;
        }
        case 5: bad = parse_int(v, 1, 1000000, &o->runs); break;
        case 6: bad = parse_int(v, 0, 1000000, &o->warmup); break;
        case 7: o->image = v; break;
        case 8: o->json = v; break;
        default: break;
        }
        if (bad) {
            static const char *const want[] = {
                "", "a class count >= 2", "1..64", "a list of batch sizes 1..64 (e.g. 1,8)",
                "P:D (e.g. 0:0)", "a count >= 1", "a count >= 0", "", ""};
            fprintf(stderr, PROG ": %s wants %s, not '%s'\n", with_value[opt], want[opt], v);
            return 2;
        }
    }
    if (o->check_clblast) return check_clblast(o);
    const int builtin = is_builtin_model(o->model);
    if (!builtin && !ends_with(o->model, ".clssd") && !ends_with(o->model, ".json")) {
        fprintf(stderr, PROG ": --model wants ssd300, ssd512, a .clssd file or a model.json, "
                        "not '%s'\n", o->model);
        return 2;
    }
    if (!builtin && (o->classes_set || o->width_div_set)) {
        fprintf(stderr, PROG ": --classes and --width-div apply to ssd300/ssd512 only\n");
        return 2;
    }
    if (!builtin) {
        FILE *f = fopen(o->model, "rb"); /* a missing file is a usage error, not a library one */
        if (!f) {
            fprintf(stderr, PROG ": --model %s: %s\n", o->model, strerror(errno));
            return 2;
        }
        fclose(f);
    }
    if (o->image && !have_image_io()) {
        fprintf(stderr, PROG ": --image: built without stb_image (install libstb-dev and "
                        "re-run cmake)\n");
        return 2;
    }
    if (o->compare_blas && !have_openblas()) {
        fprintf(stderr, PROG ": --compare-blas: clssd-bench was built without OpenBLAS "
                        "(install libopenblas-dev and re-run cmake)\n");
        return 2;
    }
    return -1;
}

/* ---------------------------------------------------------------- setup (cold start) */

static int create_context(bench *b)
{
    clssd_context_params cp;
    clssd_context_params_init(&cp);
    cp.platform = b->o.platform;
    cp.device = b->o.device;
    /* Profiling must be asked for when the queue is made; the flag is then cleared so that
     * the timed runs record no events, and set again only around the profile runs. */
    if (b->o.profile) cp.flags |= CLSSD_CTX_PROFILING;
    double t0 = test_now_ms();
    clssd_status s = clssd_context_create(&cp, &b->ctx);
    b->context_ms = test_now_ms() - t0;
    if (s == CLSSD_ERR_NO_DEVICE) {
        if (b->o.platform >= 0)
            fprintf(stderr, PROG ": no OpenCL device %d:%d (--list-devices)\n", b->o.platform,
                    b->o.device);
        else
            fprintf(stderr, PROG ": no OpenCL device found\n");
        return 1;
    }
    if (s != CLSSD_OK) return lib_fail(b, "creating the context", s);
    b->ctx->flags &= ~(uint32_t)CLSSD_CTX_PROFILING;
    clssd_context_device(b->ctx, &b->dev);
    t0 = test_now_ms();
    s = clssd_context_fill_cache(b->ctx);
    b->programs_ms = test_now_ms() - t0;
    b->cache_hits = b->ctx->cache_hits;
    b->cache_misses = b->ctx->cache_misses;
    if (s != CLSSD_OK) return lib_fail(b, "building the kernel programs", s);
    return 0;
}

static int create_model(bench *b)
{
    clssd_status s;
    double t0 = test_now_ms();
    if (is_builtin_model(b->o.model)) {
        clssd_ssd_params sp;
        clssd_ssd_params_init(&sp, !strcmp(b->o.model, "ssd512") ? 512 : 300, b->o.classes);
        sp.width_div = b->o.width_div;
        sp.init = CLSSD_INIT_MSRA; /* keeps random-weight activations alive through the net */
        s = clssd_model_create_ssd(b->ctx, &sp, &b->m);
        snprintf(b->source, sizeof b->source, "random weights");
    } else if (ends_with(b->o.model, ".json")) {
        s = clssd_model_load_tfjs(b->ctx, b->o.model, &b->m);
        snprintf(b->source, sizeof b->source, "TF.js file");
    } else {
        s = clssd_model_load(b->ctx, b->o.model, &b->m);
        snprintf(b->source, sizeof b->source, ".clssd file");
    }
    b->model_ms = test_now_ms() - t0;
    if (s != CLSSD_OK) return lib_fail(b, b->o.model, s);
    return 0;
}

/* FLOPs, conv count, and the node ranges of the network and of the post-processing. The
 * INPUT node does nothing (detect fills it); post-processing starts at the first DECODE
 * (or, lacking one, at the NMS) and runs to the end. In TF.js models the score sigmoid sits
 * after the decode, so it counts as post-processing there. */
static void summarize_model(bench *b)
{
    const clssd_graph *g = &b->m->g;
    b->gflop = 0;
    b->n_conv = 0;
    b->post_first = -1;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const clssd_node *n = &g->nodes[i];
        if (clssd__ops[n->op].flops) b->gflop += clssd__ops[n->op].flops(g, n) / 1e9;
        if (n->op == CLSSD_OP_CONV2D) b->n_conv++;
        if (n->op == CLSSD_OP_DECODE && b->post_first < 0) b->post_first = i;
    }
    if (b->post_first < 0) b->post_first = g->output;
    b->net_first = g->input + 1;
    b->net_last = b->post_first - 1;
    b->post_last = g->n_nodes - 1;
}

static int load_image(bench *b)
{
    if (b->o.image) {
#ifdef CLSSD_BENCH_HAVE_IMAGE_IO
        imgio_image im;
        char err[256];
        if (imgio_load(b->o.image, &im, err, sizeof err) != 0) {
            fprintf(stderr, PROG ": --image %s: %s\n", b->o.image, err);
            return 2;
        }
        b->pixels = im.px; /* malloc'ed by stb; freed with free() */
        b->img_w = im.w;
        b->img_h = im.h;
        b->image_source = b->o.image;
        return 0;
#endif
    }
    /* A synthetic VGA frame: the network's cost does not depend on the content, and the
     * hash pattern keeps the resize from reading one constant colour. */
    b->img_w = 640;
    b->img_h = 480;
    b->image_source = "synthetic";
    const size_t bytes = (size_t)b->img_w * (size_t)b->img_h * 3;
    b->pixels = malloc(bytes);
    if (!b->pixels) {
        fprintf(stderr, PROG ": out of memory\n");
        return 1;
    }
    for (size_t k = 0; k < bytes; k++) b->pixels[k] = (uint8_t)((k * 2654435761u) >> 24);
    return 0;
}

static clssd_status detect(bench *b, int batch)
{
    clssd_image imgs[MAX_BATCH];
    size_t counts[MAX_BATCH], total = 0;
    for (int i = 0; i < batch; i++) imgs[i] = (clssd_image){b->pixels, b->img_w, b->img_h,
                                                            3 * b->img_w};
    return clssd_detect_batch(b->m, imgs, (size_t)batch, NULL, b->dets, b->det_cap, counts,
                              &total);
}

/* The first detect at the largest batch sizes the plan once for all batches (the model is
 * created for batch 1 and grows on demand) and does whatever the library leaves to the first
 * run; it belongs to the cold start, not to any batch's figures. */
static int first_detect(bench *b)
{
    b->max_batch = 1;
    for (int i = 0; i < b->o.n_batches; i++)
        if (b->o.batches[i] > b->max_batch) b->max_batch = b->o.batches[i];
    const clssd_node *nms = &b->m->g.nodes[b->m->g.output];
    b->det_cap = (size_t)b->max_batch * (size_t)(nms->out.h > 1 ? nms->out.h - 1 : 1);
    b->dets = malloc(b->det_cap * sizeof *b->dets);
    if (!b->dets) {
        fprintf(stderr, PROG ": out of memory\n");
        return 1;
    }
    double t0 = test_now_ms();
    clssd_status s = detect(b, b->max_batch);
    b->first_detect_ms = test_now_ms() - t0;
    if (s != CLSSD_OK) return lib_fail(b, "first detect", s);
    b->algo_measured = b->ctx->algo_measured;
    b->algo_cached = b->ctx->algo_cached;
    return 0;
}

/* ---------------------------------------------------------------- timing */

/* Runs nodes [first, last] for the current batch and waits for them. */
static clssd_status run_nodes(bench *b, int32_t first, int32_t last)
{
    if (first > last) return CLSSD_OK;
    clssd_status s = clssd__exec_run(b->m->ex, first, last);
    if (s != CLSSD_OK) return s;
    cl_int e = clFinish(b->ctx->queue);
    return e == CL_SUCCESS ? CLSSD_OK : (clssd_status)e;
}

static clssd_status run_once(bench *b, int what, int batch)
{
    switch (what) {
    case T_END2END: return detect(b, batch);
    case T_NETWORK: return run_nodes(b, b->net_first, b->net_last);
    default: return run_nodes(b, b->post_first, b->post_last);
    }
}

/* warmup untimed runs, then runs timed ones. network and postproc use what the previous
 * end2end left on the device (the preprocessed input, the network's outputs). */
static int measure(bench *b, int what, int batch, double *times, timing *out)
{
    for (int r = -b->o.warmup; r < b->o.runs; r++) {
        b->m->ex->batch = batch; /* detect set it too; the node ranges run at this batch */
        double t0 = test_now_ms();
        clssd_status s = run_once(b, what, batch);
        double ms = test_now_ms() - t0;
        if (s != CLSSD_OK) return lib_fail(b, timing_names[what], s);
        if (r >= 0) times[r] = ms;
    }
    *out = summarize(times, b->o.runs);
    return 0;
}

/* Device time per node: the network and post-processing run `runs` times with profiling
 * events on; per node the median over the runs. */
static int profile_batch(bench *b, batch_result *r, double *scratch)
{
    const int32_t nn = b->m->g.n_nodes;
    const int runs = b->o.runs;
    double *all = calloc((size_t)nn * (size_t)runs, sizeof *all);
    r->prof_ms = calloc((size_t)nn, sizeof *r->prof_ms);
    if (!all || !r->prof_ms) {
        free(all);
        fprintf(stderr, PROG ": out of memory\n");
        return 1;
    }
    int rc = 0;
    clssd__prof_clear(b->ctx);
    b->ctx->flags |= CLSSD_CTX_PROFILING;
    b->m->ex->batch = r->batch;
    for (int k = 0; k < runs && !rc; k++) {
        clssd_status s = clssd__exec_run(b->m->ex, b->net_first, b->post_last);
        if (s == CLSSD_OK) s = clssd__prof_collect(b->ctx, all + (size_t)k * (size_t)nn, nn);
        if (s != CLSSD_OK) rc = lib_fail(b, "profile run", s);
    }
    clssd__prof_clear(b->ctx);
    b->ctx->flags &= ~(uint32_t)CLSSD_CTX_PROFILING;
    for (int32_t i = 0; i < nn && !rc; i++) {
        for (int k = 0; k < runs; k++) scratch[k] = all[(size_t)k * (size_t)nn + (size_t)i];
        r->prof_ms[i] = median(scratch, runs);
    }
    free(all);
    return rc;
}

/* ---------------------------------------------------------------- OpenBLAS roofline */

/* Best of --runs, but of at least three: a best of one is as noisy as a single run (thread
 * wake-ups on a busy host). */
static int blas_runs(const options *o)
{
    return o->runs < 3 ? 3 : o->runs;
}

#ifdef CLSSD_HAVE_OPENBLAS
/* AMD family 26 is Zen 5, which has AVX-512. OpenBLAS 0.3.21 has no Zen 5 entry: it may fall
 * back to its Haswell or Zen (AVX2) kernels, and OPENBLAS_CORETYPE may force them, at about
 * half the speed of its AVX-512 ones here. (On this Debian build, with OPENBLAS_CORETYPE
 * unset, the CPU features lead it to Cooperlake, which is as fast as SkylakeX.) */
static int cpu_is_zen5(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return 0;
    char line[256];
    int amd = 0, family = -1;
    while (fgets(line, sizeof line, f) && family < 0) {
        if (!strncmp(line, "vendor_id", 9) && strstr(line, "AuthenticAMD")) amd = 1;
        const char *colon = strchr(line, ':');
        if (!strncmp(line, "cpu family", 10) && colon) family = atoi(colon + 1);
    }
    fclose(f);
    return amd && family == 26;
}

/* OpenBLAS runs AVX-512 kernels: those cores share SkylakeX's SGEMM. */
static int openblas_core_avx512(void)
{
    static const char *const cores[] = {"SkylakeX", "Cooperlake", "SapphireRapids"};
    const char *core = openblas_get_corename();
    for (size_t i = 0; core && i < sizeof cores / sizeof *cores; i++)
        if (!strcasecmp(core, cores[i])) return 1;
    return 0;
}

static int zen5_note_due(void)
{
    return cpu_is_zen5() && !openblas_core_avx512();
}

static void print_openblas_info(void)
{
    const char *ct = getenv("OPENBLAS_CORETYPE");
    printf("OpenBLAS   %s / core %s / %d threads%s%s\n", openblas_get_config(),
           openblas_get_corename(), openblas_get_num_threads(),
           ct && *ct ? " / OPENBLAS_CORETYPE=" : "", ct && *ct ? ct : "");
    if (zen5_note_due())
        printf("note       this CPU is AMD Zen 5 (family 26, AVX-512), which OpenBLAS does not "
               "know; it runs the %s kernels%s.\n           OPENBLAS_CORETYPE=SkylakeX gives "
               "about 2x here: OPENBLAS_CORETYPE=SkylakeX " PROG " ...\n",
               openblas_get_corename(),
               ct && *ct ? " because OPENBLAS_CORETYPE says so" : "");
}

/* GEMM shapes of the conv layers, per image and group. */
static void blas_shapes(const bench *b, int batch, blas_layer *out)
{
    const clssd_graph *g = &b->m->g;
    int k = 0;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const clssd_node *n = &g->nodes[i];
        if (n->op != CLSSD_OP_CONV2D) continue;
        const int groups = n->p.conv.groups > 0 ? n->p.conv.groups : 1;
        const int in_c = g->nodes[n->src[0]].out.c;
        blas_layer *l = &out[k++];
        l->node = i;
        l->groups = groups;
        l->m = n->out.c / groups;
        l->n = n->out.h * n->out.w;
        l->k = in_c / groups * n->p.conv.kh * n->p.conv.kw;
        l->calls = (long)groups * batch;
        /* Thousands of tiny depthwise GEMMs: time a sample and scale (said in the table). */
        l->timed_calls = groups > 1 && l->calls > BLAS_SAMPLE ? BLAS_SAMPLE : l->calls;
        l->ms = 0;
    }
}

static double time_gemms(const blas_layer *l, const float *A, const float *B, float *C)
{
    double t0 = test_now_ms();
    for (long c = 0; c < l->timed_calls; c++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, l->m, l->n, l->k, 1.0f, A, l->k,
                    B, l->n, 0.0f, C, l->n);
    return (test_now_ms() - t0) * (double)l->calls / (double)l->timed_calls;
}

/* Every conv layer of one batch as OpenBLAS GEMMs on host buffers, best of `runs`. One set
 * of buffers, big enough for the largest layer, serves all: the roofline is the GEMMs' cost,
 * not the im2col or the data layout around them. */
static int blas_batch(bench *b, batch_result *r)
{
    r->blas = calloc((size_t)(b->n_conv > 0 ? b->n_conv : 1), sizeof *r->blas);
    if (!r->blas) {
        fprintf(stderr, PROG ": out of memory\n");
        return 1;
    }
    blas_shapes(b, r->batch, r->blas);
    size_t na = 1, nb = 1, nc = 1;
    for (int i = 0; i < b->n_conv; i++) {
        const blas_layer *l = &r->blas[i];
        const size_t m = (size_t)l->m, n = (size_t)l->n, k = (size_t)l->k;
        if (m * k > na) na = m * k;
        if (k * n > nb) nb = k * n;
        if (m * n > nc) nc = m * n;
    }
    float *A = malloc(na * sizeof *A), *B = malloc(nb * sizeof *B), *C = malloc(nc * sizeof *C);
    if (!A || !B || !C) {
        free(A), free(B), free(C);
        fprintf(stderr, PROG ": out of memory for the OpenBLAS buffers\n");
        return 1;
    }
    /* Small normal values: zeros or denormals could change the timing on some CPUs. */
    for (size_t i = 0; i < na; i++) A[i] = 0.01f * (float)(i % 97);
    for (size_t i = 0; i < nb; i++) B[i] = 0.01f * (float)(i % 89);
    memset(C, 0, nc * sizeof *C); /* page faults belong to no layer's time */
    const int runs = blas_runs(&b->o);
    r->blas_ms = 0;
    for (int i = 0; i < b->n_conv; i++) {
        blas_layer *l = &r->blas[i];
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, l->m, l->n, l->k, 1.0f, A, l->k,
                    B, l->n, 0.0f, C, l->n); /* wakes OpenBLAS's threads, warms the caches */
        double best = INFINITY;
        for (int k = 0; k < runs; k++) {
            double ms = time_gemms(l, A, B, C);
            if (ms < best) best = ms;
        }
        l->ms = best;
        r->blas_ms += best;
    }
    free(A), free(B), free(C);
    return 0;
}
#else
static void print_openblas_info(void) {}
static int blas_batch(bench *b, batch_result *r)
{
    (void)b, (void)r;
    return 2; /* parse_args refuses --compare-blas in this build */
}
#endif

/* ---------------------------------------------------------------- text output */

static void print_header(const bench *b)
{
    const clssd_graph *g = &b->m->g;
    printf("device     %s / %s / driver %s\n", b->dev.platform_name, b->dev.device_name,
           b->dev.driver_version);
    printf("model      %s (%s), %.3f GFLOP/image, precision fp32, %d conv layers, %d nodes\n",
           g->name, b->source, b->gflop, b->n_conv, g->n_nodes);
    printf("image      %s %dx%d, runs %d, warmup %d\n", b->image_source, b->img_w, b->img_h,
           b->o.runs, b->o.warmup);
    printf("cold start context %.0f ms, programs %.0f ms (%d built, %d from the binary cache)\n",
           b->context_ms, b->programs_ms, b->cache_misses, b->cache_hits);
    printf("           model %s %.0f ms, first detect at batch %d %.0f ms, conv algorithms "
           "%d measured / %d from the cache\n",
           is_builtin_model(b->o.model) ? "create" : "load", b->model_ms, b->max_batch,
           b->first_detect_ms, b->algo_measured, b->algo_cached);
}

static void print_timings(const batch_result *r)
{
    for (int t = 0; t < T_COUNT; t++) {
        const timing *x = &r->t[t];
        printf("%-6d %-9s %10.2f %10.2f %10.2f %10.2f %10.2f\n", r->batch, timing_names[t],
               x->median, x->min, x->max, x->median / r->batch,
               x->median > 0 ? 1000.0 * r->batch / x->median : 0.0);
    }
}

/* Bytes a node moves, estimated: its inputs and its output at this batch (nodes that are
 * the same for every image, like the priors, once), its weight and bias, all fp32. */
static double node_bytes(const clssd_graph *g, const clssd_node *n, int batch)
{
    double v = (double)clssd__shape_count(&n->out) * (n->batch_const ? 1 : batch);
    for (int32_t s = 0; s < n->n_src; s++) {
        const clssd_node *src = &g->nodes[n->src[s]];
        v += (double)clssd__shape_count(&src->out) * (src->batch_const ? 1 : batch);
    }
    if (n->weight >= 0) v += (double)clssd__shape_count(&g->tensors[n->weight].shape);
    if (n->bias >= 0) v += (double)clssd__shape_count(&g->tensors[n->bias].shape);
    return 4.0 * v;
}

static double node_flops(const clssd_graph *g, const clssd_node *n, int batch)
{
    return clssd__ops[n->op].flops ? clssd__ops[n->op].flops(g, n) * batch : 0.0;
}

static int profile_row_shown(const clssd_graph *g, int32_t i, const double *ms)
{
    return ms[i] > 0 || clssd__ops[g->nodes[i].op].flops;
}

static double rate(double units, double ms, double scale)
{
    return ms > 0 ? units / ms / scale : 0.0; /* units per ms -> per s, then scaled */
}

typedef struct op_sum {
    int nodes;
    double ms, flops, bytes;
} op_sum;

static void sum_by_op(const bench *b, const batch_result *r, op_sum sums[CLSSD_OP_COUNT],
                      double *total)
{
    const clssd_graph *g = &b->m->g;
    memset(sums, 0, sizeof(op_sum) * CLSSD_OP_COUNT);
    *total = 0;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        if (!profile_row_shown(g, i, r->prof_ms)) continue;
        const clssd_node *n = &g->nodes[i];
        op_sum *s = &sums[n->op];
        s->nodes++;
        s->ms += r->prof_ms[i];
        s->flops += node_flops(g, n, r->batch);
        s->bytes += node_bytes(g, n, r->batch);
        *total += r->prof_ms[i];
    }
}

static double range_ms(const double *ms, int32_t first, int32_t last)
{
    double t = 0;
    for (int32_t i = first; i <= last; i++) t += ms[i];
    return t;
}

static void print_profile(const bench *b, const batch_result *r)
{
    const clssd_graph *g = &b->m->g;
    op_sum sums[CLSSD_OP_COUNT];
    double total;
    sum_by_op(b, r, sums, &total);
    printf("\nprofile, batch %d: device time per node (OpenCL events, median of %d runs)\n",
           r->batch, b->o.runs);
    printf("%5s %-10s %-16s %10s %6s %9s %8s  %s\n", "#", "op", "output", "ms", "%",
           "GFLOP/s", "GB/s", "node");
    for (int32_t i = 0; i < g->n_nodes; i++) {
        if (!profile_row_shown(g, i, r->prof_ms)) continue;
        const clssd_node *n = &g->nodes[i];
        const double ms = r->prof_ms[i];
        char shape[48];
        snprintf(shape, sizeof shape, "%dx%dx%d", n->out.c, n->out.h, n->out.w);
        printf("%5d %-10s %-16s %10.3f %6.2f %9.2f %8.2f  %s\n", i, clssd__ops[n->op].name,
               shape, ms, total > 0 ? 100.0 * ms / total : 0.0,
               rate(node_flops(g, n, r->batch), ms, 1e6),
               rate(node_bytes(g, n, r->batch), ms, 1e6), n->name);
    }
    const double net_dev = range_ms(r->prof_ms, b->net_first, b->net_last);
    const double post_dev = range_ms(r->prof_ms, b->post_first, b->post_last);
    const double net_wall = r->t[T_NETWORK].median, post_wall = r->t[T_POSTPROC].median;
    printf("device total %.3f ms: network %.3f ms of %.3f ms wall (host/launch overhead "
           "%.3f ms), postproc %.3f ms of %.3f ms wall (overhead %.3f ms)\n",
           total, net_dev, net_wall, net_wall - net_dev, post_dev, post_wall,
           post_wall - post_dev);
    printf("\nby op, batch %d\n%-10s %5s %10s %6s %9s %8s\n", r->batch, "op", "nodes", "ms",
           "%", "GFLOP/s", "GB/s");
    for (int op = 0; op < CLSSD_OP_COUNT; op++) {
        const op_sum *s = &sums[op];
        if (!s->nodes) continue;
        printf("%-10s %5d %10.3f %6.2f %9.2f %8.2f\n", clssd__ops[op].name, s->nodes, s->ms,
               total > 0 ? 100.0 * s->ms / total : 0.0, rate(s->flops, s->ms, 1e6),
               rate(s->bytes, s->ms, 1e6));
    }
}

static double pct(double num, double den)
{
    return den > 0 ? 100.0 * num / den : 0.0;
}

static void print_blas(const bench *b, const batch_result *r)
{
    const clssd_graph *g = &b->m->g;
    int sampled = 0;
    printf("\nOpenBLAS GEMM roofline, batch %d (cblas_sgemm row-major, one per image and "
           "group, best of %d)\n", r->batch, blas_runs(&b->o));
    printf("%5s %6s %8s %6s %6s %7s %10s %9s  %s\n", "#", "M", "N", "K", "groups", "calls",
           "ms", "GFLOP/s", "node");
    for (int i = 0; i < b->n_conv; i++) {
        const blas_layer *l = &r->blas[i];
        const double flops = 2.0 * l->m * (double)l->n * l->k * (double)l->calls;
        const int part = l->timed_calls < l->calls;
        sampled |= part;
        printf("%5d %6d %8d %6d %6d %7ld %9.3f%s %9.2f  %s\n", l->node, l->m, l->n, l->k,
               l->groups, l->calls, l->ms, part ? "*" : " ", rate(flops, l->ms, 1e6),
               g->nodes[l->node].name);
    }
    if (sampled)
        printf("* timed on %d of the calls and scaled up (grouped convolutions)\n",
               BLAS_SAMPLE);
    const double e2e = r->t[T_END2END].median, net = r->t[T_NETWORK].median;
    printf("OpenBLAS GEMM roofline %.2f ms per batch (%.2f ms/image)\n", r->blas_ms,
           r->blas_ms / r->batch);
    printf("end2end throughput = %.1f%% of the OpenBLAS GEMM roofline (roofline %.2f ms, "
           "end2end %.2f ms)\n", pct(r->blas_ms, e2e), r->blas_ms, e2e);
    printf("network throughput = %.1f%% of the OpenBLAS GEMM roofline (roofline %.2f ms, "
           "network %.2f ms)\n", pct(r->blas_ms, net), r->blas_ms, net);
}

/* ---------------------------------------------------------------- JSON */

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f); /* UTF-8 passes through; names come from checked files */
    }
    fputc('"', f);
}

static void json_num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.6g", v);
    else
        fputs("null", f);
}

static void json_key_str(FILE *f, const char *k, const char *v, const char *after)
{
    fprintf(f, "\"%s\": ", k);
    json_str(f, v);
    fputs(after, f);
}

static void json_key_num(FILE *f, const char *k, double v, const char *after)
{
    fprintf(f, "\"%s\": ", k);
    json_num(f, v);
    fputs(after, f);
}

static void json_timing(FILE *f, const char *name, const timing *t, int batch, const char *after)
{
    fprintf(f, "      \"%s\": {", name);
    json_key_num(f, "median_ms", t->median, ", ");
    json_key_num(f, "min_ms", t->min, ", ");
    json_key_num(f, "max_ms", t->max, ", ");
    json_key_num(f, "ms_per_image", t->median / batch, ", ");
    json_key_num(f, "images_per_s", t->median > 0 ? 1000.0 * batch / t->median : 0, "}");
    fputs(after, f);
}

static void json_profile(FILE *f, const bench *b, const batch_result *r)
{
    const clssd_graph *g = &b->m->g;
    op_sum sums[CLSSD_OP_COUNT];
    double total;
    sum_by_op(b, r, sums, &total);
    fputs("      \"profile\": {", f);
    json_key_num(f, "device_ms", total, ", ");
    json_key_num(f, "network_device_ms", range_ms(r->prof_ms, b->net_first, b->net_last), ", ");
    json_key_num(f, "network_wall_ms", r->t[T_NETWORK].median, ", ");
    json_key_num(f, "postproc_device_ms", range_ms(r->prof_ms, b->post_first, b->post_last),
                 ", ");
    json_key_num(f, "postproc_wall_ms", r->t[T_POSTPROC].median, ",\n        \"nodes\": [");
    const char *sep = "\n";
    for (int32_t i = 0; i < g->n_nodes; i++) {
        if (!profile_row_shown(g, i, r->prof_ms)) continue;
        const clssd_node *n = &g->nodes[i];
        const double ms = r->prof_ms[i];
        fprintf(f, "%s          {\"index\": %d, ", sep, i);
        json_key_str(f, "name", n->name, ", ");
        json_key_str(f, "op", clssd__ops[n->op].name, ", ");
        fprintf(f, "\"shape\": [%d, %d, %d], ", n->out.c, n->out.h, n->out.w);
        json_key_num(f, "ms", ms, ", ");
        json_key_num(f, "percent", total > 0 ? 100.0 * ms / total : 0, ", ");
        json_key_num(f, "gflop_per_s", rate(node_flops(g, n, r->batch), ms, 1e6), ", ");
        json_key_num(f, "gb_per_s", rate(node_bytes(g, n, r->batch), ms, 1e6), "}");
        sep = ",\n";
    }
    fputs("],\n        \"ops\": [", f);
    sep = "\n";
    for (int op = 0; op < CLSSD_OP_COUNT; op++) {
        const op_sum *s = &sums[op];
        if (!s->nodes) continue;
        fprintf(f, "%s          {", sep);
        json_key_str(f, "op", clssd__ops[op].name, ", ");
        fprintf(f, "\"nodes\": %d, ", s->nodes);
        json_key_num(f, "ms", s->ms, ", ");
        json_key_num(f, "percent", total > 0 ? 100.0 * s->ms / total : 0, ", ");
        json_key_num(f, "gflop_per_s", rate(s->flops, s->ms, 1e6), ", ");
        json_key_num(f, "gb_per_s", rate(s->bytes, s->ms, 1e6), "}");
        sep = ",\n";
    }
    fputs("]}", f);
}

static void json_blas(FILE *f, const bench *b, const batch_result *r)
{
    const clssd_graph *g = &b->m->g;
    fputs("      \"blas\": {", f);
    json_key_num(f, "roofline_ms", r->blas_ms, ", ");
    json_key_num(f, "roofline_ms_per_image", r->blas_ms / r->batch, ", ");
    json_key_num(f, "end2end_percent", pct(r->blas_ms, r->t[T_END2END].median), ", ");
    json_key_num(f, "network_percent", pct(r->blas_ms, r->t[T_NETWORK].median),
                 ",\n        \"layers\": [");
    for (int i = 0; i < b->n_conv; i++) {
        const blas_layer *l = &r->blas[i];
        const double flops = 2.0 * l->m * (double)l->n * l->k * (double)l->calls;
        fprintf(f, "%s          {\"index\": %d, ", i ? ",\n" : "\n", l->node);
        json_key_str(f, "name", g->nodes[l->node].name, ", ");
        fprintf(f, "\"m\": %d, \"n\": %d, \"k\": %d, \"groups\": %d, \"calls\": %ld, "
                   "\"timed_calls\": %ld, ", l->m, l->n, l->k, l->groups, l->calls,
                l->timed_calls);
        json_key_num(f, "ms", l->ms, ", ");
        json_key_num(f, "gflop_per_s", rate(flops, l->ms, 1e6), "}");
    }
    fputs("]}", f);
}

static void json_openblas(FILE *f)
{
#ifdef CLSSD_HAVE_OPENBLAS
    const char *ct = getenv("OPENBLAS_CORETYPE");
    fputs("  \"openblas\": {", f);
    json_key_str(f, "config", openblas_get_config(), ", ");
    json_key_str(f, "corename", openblas_get_corename(), ", ");
    fprintf(f, "\"threads\": %d, \"coretype_env\": ", openblas_get_num_threads());
    if (ct && *ct)
        json_str(f, ct);
    else
        fputs("null", f);
    fprintf(f, ", \"zen5_coretype_note\": %s},\n", zen5_note_due() ? "true" : "false");
#else
    (void)f;
#endif
}

static int write_json(bench *b, const char *path)
{
    FILE *f = b->json;
    b->json = NULL;
    const clssd_graph *g = &b->m->g;
    fputs("{\n  ", f);
    json_key_str(f, "tool", PROG, ", ");
    json_key_str(f, "version", clssd_version_string(), ",\n  \"device\": {");
    json_key_str(f, "platform", b->dev.platform_name, ", ");
    json_key_str(f, "name", b->dev.device_name, ", ");
    json_key_str(f, "driver", b->dev.driver_version, "},\n  \"model\": {");
    json_key_str(f, "name", g->name, ", ");
    json_key_str(f, "source", b->o.model, ", ");
    json_key_str(f, "weights", b->source, ", ");
    json_key_num(f, "gflop_per_image", b->gflop, ", ");
    fprintf(f, "\"precision\": \"fp32\", \"conv_layers\": %d, \"nodes\": %d},\n  \"image\": {",
            b->n_conv, g->n_nodes);
    json_key_str(f, "source", b->image_source, ", ");
    fprintf(f, "\"width\": %d, \"height\": %d},\n", b->img_w, b->img_h);
    fprintf(f, "  \"runs\": %d, \"warmup\": %d,\n  \"cold_start\": {", b->o.runs, b->o.warmup);
    json_key_num(f, "context_ms", b->context_ms, ", ");
    json_key_num(f, "programs_ms", b->programs_ms, ", ");
    fprintf(f, "\"cache_hits\": %d, \"cache_misses\": %d, ", b->cache_hits, b->cache_misses);
    json_key_num(f, "model_ms", b->model_ms, ", ");
    json_key_num(f, "first_detect_ms", b->first_detect_ms, ", ");
    fprintf(f, "\"first_detect_batch\": %d, \"algo_measured\": %d, \"algo_cached\": %d},\n",
            b->max_batch, b->algo_measured, b->algo_cached);
    if (b->o.compare_blas) json_openblas(f);
    fputs("  \"batches\": [", f);
    for (int i = 0; i < b->n_res; i++) {
        const batch_result *r = &b->res[i];
        fprintf(f, "%s    {\"batch\": %d,\n", i ? ",\n" : "\n", r->batch);
        for (int t = 0; t < T_COUNT; t++)
            json_timing(f, timing_names[t], &r->t[t], r->batch,
                        t + 1 < T_COUNT || r->prof_ms || r->blas ? ",\n" : "");
        if (r->prof_ms) {
            json_profile(f, b, r);
            fputs(r->blas ? ",\n" : "", f);
        }
        if (r->blas) json_blas(f, b, r);
        fputs("}", f);
    }
    fputs("\n  ]\n}\n", f);
    if (ferror(f) | fclose(f)) {
        fprintf(stderr, PROG ": --json %s: write failed\n", path);
        return 1;
    }
    return 0;
}

/* ---------------------------------------------------------------- main */

static int bench_batch(bench *b, int batch, double *times)
{
    batch_result *r = &b->res[b->n_res++];
    memset(r, 0, sizeof *r);
    r->batch = batch;
    for (int t = 0; t < T_COUNT; t++)
        if (measure(b, t, batch, times, &r->t[t])) return 1;
    print_timings(r);
    fflush(stdout);
    return 0;
}

static void bench_free(bench *b)
{
    for (int i = 0; i < b->n_res; i++) {
        free(b->res[i].prof_ms);
        free(b->res[i].blas);
    }
    free(b->dets);
    free(b->pixels);
    clssd_model_destroy(b->m);
    clssd_context_destroy(b->ctx);
}

static int run_bench(bench *b)
{
    int rc;
    if ((rc = load_image(b)) || (rc = create_context(b)) || (rc = create_model(b))) return rc;
    summarize_model(b);
    if ((rc = first_detect(b))) return rc;
    print_header(b);
    if (b->o.compare_blas) print_openblas_info();

    double *times = malloc(sizeof(double) * (size_t)b->o.runs);
    if (!times) {
        fprintf(stderr, PROG ": out of memory\n");
        return 1;
    }
    /* All steady-state timings first, then the profile and BLAS passes, so that the table
     * stays together and the profiling cannot disturb the timings. */
    printf("\n%-6s %-9s %10s %10s %10s %10s %10s\n", "batch", "timing", "median_ms", "min_ms",
           "max_ms", "ms/image", "images/s");
    for (int i = 0; i < b->o.n_batches && !rc; i++) rc = bench_batch(b, b->o.batches[i], times);
    for (int i = 0; i < b->n_res && !rc && b->o.profile; i++) {
        rc = profile_batch(b, &b->res[i], times);
        if (!rc) print_profile(b, &b->res[i]);
    }
    for (int i = 0; i < b->n_res && !rc && b->o.compare_blas; i++) {
        rc = blas_batch(b, &b->res[i]);
        if (!rc) print_blas(b, &b->res[i]);
    }
    free(times);
    if (!rc && b->json) rc = write_json(b, b->o.json);
    return rc;
}

int main(int argc, char **argv)
{
    bench b;
    memset(&b, 0, sizeof b);
    b.o = (options){.model = "ssd300", .classes = 21, .width_div = 1, .runs = 10, .warmup = 2,
                    .platform = -1, .device = -1, .batches = {1, 8}, .n_batches = 2};
    int rc = parse_args(argc, argv, &b.o);
    if (rc >= 0) return rc;
    if (b.o.json && !(b.json = fopen(b.o.json, "w"))) {
        fprintf(stderr, PROG ": --json %s: %s\n", b.o.json, strerror(errno));
        return 2;
    }
    rc = run_bench(&b);
    if (b.json) { /* the run failed before writing: leave no empty file behind */
        fclose(b.json);
        remove(b.o.json);
    }
    bench_free(&b);
    return rc;
}
