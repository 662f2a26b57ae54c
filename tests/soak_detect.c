/* clssd-soak: many detects in one process, watching its resident memory.
 *
 *   clssd-soak [--model M] [--image I] [--iterations N] [--max-growth-kb K]
 *
 * Loads M (default: the shipped default model) on the default device, decodes I (default:
 * samples/dog.jpg), runs one warm-up detect (it builds or loads the kernels and sizes the
 * staging buffers), then N detects. It prints the RSS after the warm-up, every N/10
 * detects and at the end, and fails when the RSS grew by more than K kB over the warm-up
 * (a leak of a few hundred bytes a detect shows up as tens of MB over 10,000), or when a
 * detect fails or finds something other than the warm-up did (same input, same device:
 * the results must not drift).
 * Exit status: 0 passed, 1 failed, 2 bad usage, 77 no OpenCL device. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clssd.h"
#include "image_io.h"

#define MAX_DETS 512

/* Resident set size in kB, from /proc/self/statm (pages), or -1 when it cannot be read. */
static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return -1;
    long size = 0, resident = -1;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2) resident = -1;
    fclose(f);
    const long page = sysconf(_SC_PAGESIZE);
    return resident < 0 || page <= 0 ? -1 : resident * (page / 1024);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int usage(const char *msg)
{
    fprintf(stderr, "clssd-soak: %s\nusage: clssd-soak [--model M] [--image I] "
                    "[--iterations N] [--max-growth-kb K]\n", msg);
    return 2;
}

/* A whole decimal number >= min, else -1. */
static long parse_count(const char *s, long min)
{
    char *end = NULL;
    errno = 0;
    const long v = strtol(s, &end, 10);
    return errno || end == s || *end || v < min ? -1 : v;
}

static int detect(clssd_model *m, const imgio_image *im, clssd_detection *dets, size_t *n)
{
    return clssd_detect(m, im->px, im->w, im->h, 3 * im->w, NULL, dets, MAX_DETS, n) ==
           CLSSD_OK;
}

int main(int argc, char **argv)
{
    const char *model_path = CLSSD_SOURCE_DIR "/models/coco-ssdlite-mobilenet-v2.clssd";
    const char *image_path = CLSSD_SOURCE_DIR "/samples/dog.jpg";
    long iterations = 10000, max_growth_kb = 8192;
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc) return usage("every option takes a value");
        const char *opt = argv[i], *val = argv[++i];
        if (!strcmp(opt, "--model"))
            model_path = val;
        else if (!strcmp(opt, "--image"))
            image_path = val;
        else if (!strcmp(opt, "--iterations")) {
            if ((iterations = parse_count(val, 1)) < 0) return usage("--iterations: N >= 1");
        } else if (!strcmp(opt, "--max-growth-kb")) {
            if ((max_growth_kb = parse_count(val, 0)) < 0) return usage("--max-growth-kb: K >= 0");
        } else
            return usage("unknown option");
    }

    imgio_image im;
    char err[256];
    if (imgio_load(image_path, &im, err, sizeof err) != 0) {
        fprintf(stderr, "clssd-soak: %s: %s\n", image_path, err);
        return 1;
    }
    clssd_context *ctx = NULL;
    clssd_model *m = NULL;
    clssd_status s = clssd_context_create(NULL, &ctx);
    if (s != CLSSD_OK) {
        fprintf(stderr, "clssd-soak: no context: %s\n", clssd_status_string(s));
        imgio_free(&im);
        return s == CLSSD_ERR_NO_DEVICE ? 77 : 1;
    }
    int failed = 0;
    if ((s = clssd_model_load(ctx, model_path, &m)) != CLSSD_OK) {
        fprintf(stderr, "clssd-soak: %s: %s\n", model_path, clssd_last_error(ctx));
        failed = 1;
    }
    static clssd_detection first[MAX_DETS], got[MAX_DETS];
    size_t n_first = 0, n_got = 0;
    if (!failed && !detect(m, &im, first, &n_first)) {
        fprintf(stderr, "clssd-soak: warm-up detect: %s\n", clssd_last_error(ctx));
        failed = 1;
    }
    clssd_device_info dev;
    clssd_context_device(ctx, &dev);
    const long rss0 = rss_kb();
    long rss = rss0;
    const long every = iterations >= 10 ? iterations / 10 : 1;
    if (!failed)
        printf("clssd-soak: %s on %s, %ldx%ld image, %zu detections, %ld iterations\n"
               "  after warm-up: RSS %ld kB\n", model_path, dev.device_name, (long)im.w,
               (long)im.h, n_first, iterations, rss0);
    const double t0 = now_s();
    long done = 0;
    while (!failed && done < iterations) {
        if (!detect(m, &im, got, &n_got)) {
            fprintf(stderr, "clssd-soak: detect %ld: %s\n", done + 1, clssd_last_error(ctx));
            failed = 1;
            break;
        }
        if (n_got != n_first || memcmp(got, first, n_got * sizeof got[0]) != 0) {
            fprintf(stderr, "clssd-soak: detect %ld differs from the warm-up's\n", done + 1);
            failed = 1;
        }
        done++;
        if (done % every == 0 || done == iterations) {
            rss = rss_kb();
            printf("  %6ld detects: RSS %ld kB (%+ld kB), %.1f ms per detect\n", done, rss,
                   rss - rss0, 1e3 * (now_s() - t0) / (double)done);
            fflush(stdout);
        }
    }
    const double secs = now_s() - t0;
    clssd_model_destroy(m);
    clssd_context_destroy(ctx);
    imgio_free(&im);
    if (failed) return 1;
    if (rss0 < 0 || rss < 0) {
        fprintf(stderr, "clssd-soak: cannot read /proc/self/statm\n");
        return 1;
    }
    printf("clssd-soak: %ld detects in %.1f s; RSS %ld kB -> %ld kB (%+ld kB, limit %ld kB)\n",
           done, secs, rss0, rss, rss - rss0, max_growth_kb);
    if (rss - rss0 > max_growth_kb) {
        fprintf(stderr, "clssd-soak: RSS grew by %ld kB, more than %ld kB\n", rss - rss0,
                max_growth_kb);
        return 1;
    }
    return 0;
}
