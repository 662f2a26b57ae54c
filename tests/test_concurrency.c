/* Two contexts used from two threads at once, on every OpenCL device found.
 *
 * clssd.h promises that separate contexts are independent. Each thread creates its own
 * context on the device under test, loads its own copy of the default model, waits for the
 * other, then runs ROUNDS detects of every image, in an order that differs between the
 * threads, and destroys what it made. Every result must equal, bit for bit, what one thread
 * alone got from the same device: the kernels are deterministic, both threads run the same
 * algorithm choices (read from the same per-device choice file, which the single-threaded run
 * writes first if it is missing), so any difference is state shared between contexts.
 * A second case has two contexts fill one empty binary cache at the same moment: every entry
 * must come out whole, with no temporary file left behind. */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <check.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "image_io.h"
#include "per_device.h"

#define MODEL CLSSD_SOURCE_DIR "/models/coco-ssdlite-mobilenet-v2.clssd"
#define DEMO CLSSD_SHARED_DIR "/data/demo_images/"
#define N_THREADS 2
#define N_IMAGES 4
#define ROUNDS 3
#define MAX_DETS 200

static const char *const image_paths[N_IMAGES] = {
    CLSSD_SOURCE_DIR "/samples/dog.jpg", DEMO "person.jpg", DEMO "street.jpg", DEMO "eagle.jpg"};

static clssd_context *g_ctx;

typedef struct detections {
    clssd_detection d[MAX_DETS];
    size_t n;
} detections;

/* One thread's work and what came of it. Check's assertions must not run off the main
 * thread (they jump out of the test), so a worker records and the main thread asserts. */
typedef struct worker {
    int index;
    int fill_cache_only; /* builds every program into the binary cache instead of detecting */
    clssd_context_params params;
    const imgio_image *images;
    pthread_barrier_t *start;
    detections got[ROUNDS][N_IMAGES];
    clssd_status status;
    char failure[1200]; /* what failed, with clssd_last_error() */
} worker;

static clssd_status detect(clssd_model *m, const imgio_image *im, detections *out)
{
    return clssd_detect(m, im->px, im->w, im->h, 3 * im->w, NULL, out->d, MAX_DETS, &out->n);
}

static void record(worker *w, clssd_status s, const char *what, const clssd_context *ctx)
{
    w->status = s;
    snprintf(w->failure, sizeof w->failure, "thread %d: %s: %s (%s)", w->index, what,
             clssd_status_string(s), ctx ? clssd_last_error(ctx) : "");
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    clssd_context *ctx = NULL;
    clssd_model *m = NULL;
    clssd_status s = clssd_context_create(&w->params, &ctx);
    if (s != CLSSD_OK)
        record(w, s, "clssd_context_create", NULL);
    else if (!w->fill_cache_only && (s = clssd_model_load(ctx, MODEL, &m)) != CLSSD_OK)
        record(w, s, "clssd_model_load", ctx);
    /* both threads work at the same time; a thread that failed still releases the other */
    pthread_barrier_wait(w->start);
    if (w->fill_cache_only && w->status == CLSSD_OK &&
        (s = clssd_context_fill_cache(ctx)) != CLSSD_OK)
        record(w, s, "clssd_context_fill_cache", ctx);
    for (int r = 0; r < ROUNDS && w->status == CLSSD_OK && m; r++)
        for (int k = 0; k < N_IMAGES && w->status == CLSSD_OK; k++) {
            /* thread 0 goes forwards, thread 1 backwards and shifted: different images meet */
            const int i = w->index == 0 ? k : (2 * N_IMAGES - 1 - k - r) % N_IMAGES;
            s = detect(m, &w->images[i], &w->got[r][i]);
            if (s != CLSSD_OK) record(w, s, image_paths[i], ctx);
        }
    clssd_model_destroy(m);
    clssd_context_destroy(ctx);
    return NULL;
}

/* Runs N_THREADS workers on g_ctx's device at once (cache_dir: NULL for the default) and
 * asserts that none failed. */
static void run_workers(worker *workers, int fill_cache_only, const char *cache_dir,
                        const imgio_image *images)
{
    clssd_device_info dev;
    ck_assert_int_eq(clssd_context_device(g_ctx, &dev), CLSSD_OK);
    pthread_barrier_t start;
    ck_assert_int_eq(pthread_barrier_init(&start, NULL, N_THREADS), 0);
    pthread_t threads[N_THREADS];
    for (int t = 0; t < N_THREADS; t++) {
        worker *w = &workers[t];
        memset(w, 0, sizeof *w);
        w->index = t;
        w->fill_cache_only = fill_cache_only;
        clssd_context_params_init(&w->params);
        w->params.platform = dev.platform;
        w->params.device = dev.device;
        w->params.cache_dir = cache_dir;
        w->images = images;
        w->start = &start;
        ck_assert_int_eq(pthread_create(&threads[t], NULL, worker_main, w), 0);
    }
    for (int t = 0; t < N_THREADS; t++) ck_assert_int_eq(pthread_join(threads[t], NULL), 0);
    pthread_barrier_destroy(&start);
    for (int t = 0; t < N_THREADS; t++)
        ck_assert_msg(workers[t].status == CLSSD_OK, "%s", workers[t].failure);
}

START_TEST(test_two_contexts_two_threads)
{
    const long live0 = clssd__alloc_live();
    static imgio_image images[N_IMAGES];
    for (int i = 0; i < N_IMAGES; i++) {
        char err[256];
        ck_assert_msg(imgio_load(image_paths[i], &images[i], err, sizeof err) == 0, "%s: %s",
                      image_paths[i], err);
    }
    /* the single-threaded reference, on the device's own context */
    static detections want[N_IMAGES];
    clssd_model *m = NULL;
    ck_assert_msg(clssd_model_load(g_ctx, MODEL, &m) == CLSSD_OK, "%s", clssd_last_error(g_ctx));
    size_t total = 0;
    for (int i = 0; i < N_IMAGES; i++) {
        ck_assert_msg(detect(m, &images[i], &want[i]) == CLSSD_OK, "%s",
                      clssd_last_error(g_ctx));
        total += want[i].n;
    }
    clssd_model_destroy(m);
    ck_assert_uint_gt(total, 0); /* nothing found would make the comparison vacuous */

    static worker workers[N_THREADS];
    const double t0 = test_now_ms();
    run_workers(workers, 0, NULL, images);
    printf("  %d threads x %d detects: %.0f ms\n", N_THREADS, ROUNDS * N_IMAGES,
           test_now_ms() - t0);

    for (int t = 0; t < N_THREADS; t++)
        for (int r = 0; r < ROUNDS; r++)
            for (int i = 0; i < N_IMAGES; i++) {
                const detections *got = &workers[t].got[r][i];
                ck_assert_msg(got->n == want[i].n, "thread %d, round %d, %s: %zu detections, "
                              "%zu alone", t, r, image_paths[i], got->n, want[i].n);
                ck_assert_msg(memcmp(got->d, want[i].d, got->n * sizeof got->d[0]) == 0,
                              "thread %d, round %d, %s: detections differ from one thread's", t,
                              r, image_paths[i]);
            }
    for (int i = 0; i < N_IMAGES; i++) imgio_free(&images[i]);
    ck_assert_int_eq(clssd__alloc_live(), live0);
}
END_TEST

/* Two contexts filling one empty binary cache at once: both build every program and write
 * the same entries at the same moment. Each entry must end up whole (a third context then
 * reads every program from the cache, none rebuilt) and no temporary file may be left. */
START_TEST(test_two_threads_fill_one_cache)
{
    const long live0 = clssd__alloc_live();
    char dir[] = "/tmp/clssd-concurrency-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    static worker workers[N_THREADS];
    run_workers(workers, 1, dir, NULL);

    clssd_context_params p;
    clssd_context_params_init(&p);
    p.platform = workers[0].params.platform;
    p.device = workers[0].params.device;
    p.cache_dir = dir;
    clssd_context *ctx = NULL;
    ck_assert_int_eq(clssd_context_create(&p, &ctx), CLSSD_OK);
    ck_assert_msg(clssd_context_fill_cache(ctx) == CLSSD_OK, "%s", clssd_last_error(ctx));
    const int hits = ctx->cache_hits, misses = ctx->cache_misses;
    clssd_context_destroy(ctx);

    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    size_t n_files = 0, n_other = 0;
    char other[256] = "", path[512];
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        const size_t len = strlen(e->d_name);
        n_files++;
        if (len < 6 || strcmp(e->d_name + len - 6, ".clbin")) {
            n_other++;
            snprintf(other, sizeof other, "%s", e->d_name);
        }
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        remove(path);
    }
    closedir(d);
    rmdir(dir);
    ck_assert_msg(n_other == 0, "%zu files besides the program binaries left, e.g. %s", n_other,
                  other);
    ck_assert_uint_eq(n_files, clssd__cl_n_sources);
    ck_assert_msg(hits == (int)clssd__cl_n_sources && misses == 0,
                  "reading the cache back: %d programs read, %d rebuilt (torn entries)", hits,
                  misses);
    ck_assert_int_eq(clssd__alloc_live(), live0);
}
END_TEST

static void add_tests(TCase *tc)
{
    tcase_add_test(tc, test_two_contexts_two_threads);
    tcase_add_test(tc, test_two_threads_fill_one_cache);
}

int main(void)
{
    int failed = test_run_per_device("concurrency", add_tests, 1200, &g_ctx, "concurrency test");
    if (failed < 0) return 77;
    return failed ? 1 : 0;
}
