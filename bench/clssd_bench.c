/* clssd-bench: SSD inference timing on one OpenCL device.
 *
 *   clssd-bench [--model ssd300|ssd512] [--classes 21|81] [--batch 1,8] [--runs N]
 *               [--warmup N] [--device P:D] [--list-devices] [--width-div N]
 *
 * For each batch size: median/min/max of the end-to-end time (image upload, preprocessing,
 * network, decode + NMS, detections read back) and of the network + post-processing alone
 * (input already on the device), as ms per batch, ms per image and images/s. Cold start
 * (program builds or binary-cache loads, weight upload) is reported apart. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void usage(void)
{
    fprintf(stderr, "usage: clssd-bench [--model ssd300|ssd512] [--classes N] [--batch 1,8] "
                    "[--runs N] [--warmup N] [--device P:D] [--width-div N] [--list-devices]\n");
}

int main(int argc, char **argv)
{
    int size = 300, classes = 21, runs = 10, warmup = 2, width_div = 1, plat = -1, dev = -1;
    int batches[16] = {1, 8}, n_batches = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--list-devices")) {
            clssd_device_info d[16];
            int n = test_devices(d, 16);
            for (int k = 0; k < n; k++)
                printf("%d:%d  %s / %s / %s (%u CUs, %.1f GiB)\n", d[k].platform, d[k].device,
                       d[k].platform_name, d[k].device_name, d[k].driver_version,
                       d[k].compute_units, (double)d[k].global_mem_bytes / (1u << 30));
            return 0;
        } else if (!v) {
            usage();
            return 2;
        } else if (!strcmp(a, "--model")) {
            size = !strcmp(v, "ssd512") ? 512 : !strcmp(v, "ssd300") ? 300 : 0;
            if (!size) {
                fprintf(stderr, "clssd-bench: unknown model '%s' (ssd300 or ssd512)\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--classes")) {
            classes = atoi(v);
        } else if (!strcmp(a, "--runs")) {
            runs = atoi(v);
        } else if (!strcmp(a, "--warmup")) {
            warmup = atoi(v);
        } else if (!strcmp(a, "--width-div")) {
            width_div = atoi(v);
        } else if (!strcmp(a, "--device")) {
            if (sscanf(v, "%d:%d", &plat, &dev) != 2) {
                fprintf(stderr, "clssd-bench: --device wants P:D\n");
                return 2;
            }
        } else if (!strcmp(a, "--batch")) {
            n_batches = 0;
            for (const char *p = v; *p && n_batches < 16;) {
                batches[n_batches++] = atoi(p);
                p = strchr(p, ',');
                if (!p) break;
                p++;
            }
        } else {
            usage();
            return 2;
        }
        i++;
    }
    if (runs < 1) runs = 1;

    double t0 = test_now_ms();
    clssd_context_params cp;
    clssd_context_params_init(&cp);
    cp.platform = plat;
    cp.device = dev;
    clssd_context *ctx = NULL;
    clssd_status s = clssd_context_create(&cp, &ctx);
    if (s != CLSSD_OK) {
        fprintf(stderr, "clssd-bench: no context: %s\n", clssd_status_string(s));
        return 1;
    }
    clssd_device_info info;
    clssd_context_device(ctx, &info);
    s = clssd_context_fill_cache(ctx);
    double t_build = test_now_ms() - t0;
    if (s != CLSSD_OK) {
        fprintf(stderr, "clssd-bench: %s\n", clssd_last_error(ctx));
        return 1;
    }
    clssd_ssd_params sp;
    clssd_ssd_params_init(&sp, size, classes);
    sp.width_div = width_div;
    sp.init = CLSSD_INIT_MSRA;
    clssd_model *m = NULL;
    t0 = test_now_ms();
    s = clssd_model_create_ssd(ctx, &sp, &m);
    double t_model = test_now_ms() - t0;
    if (s != CLSSD_OK) {
        fprintf(stderr, "clssd-bench: %s\n", clssd_last_error(ctx));
        return 1;
    }
    double gflop = 0;
    for (int32_t i = 0; i < m->g.n_nodes; i++)
        if (clssd__ops[m->g.nodes[i].op].flops)
            gflop += clssd__ops[m->g.nodes[i].op].flops(&m->g, &m->g.nodes[i]) / 1e9;
    printf("device     %s / %s / driver %s\n", info.platform_name, info.device_name,
           info.driver_version);
    printf("model      %s (random weights), %.2f GFLOP/image, precision fp32\n", m->g.name, gflop);
    printf("cold start programs %.0f ms (%d built, %d from the binary cache), model %.0f ms\n",
           t_build, ctx->cache_misses, ctx->cache_hits, t_model);
    printf("%-6s %-10s %10s %10s %10s %10s %10s\n", "batch", "timing", "median_ms", "min_ms",
           "max_ms", "ms/image", "images/s");

    const int W = 640, H = 480;
    uint8_t *pix = malloc((size_t)W * H * 3);
    for (size_t k = 0; k < (size_t)W * H * 3; k++) pix[k] = (uint8_t)((k * 2654435761u) >> 24);
    clssd_detection *dets = malloc(sizeof *dets * 200 * 64);
    double *times = malloc(sizeof(double) * (size_t)runs);
    int rc = 0;
    for (int bi = 0; bi < n_batches && rc == 0; bi++) {
        const int B = batches[bi];
        if (B < 1 || B > 64) continue;
        clssd_image imgs[64];
        for (int b = 0; b < B; b++) imgs[b] = (clssd_image){pix, W, H, W * 3};
        size_t counts[64], total;
        for (int mode = 0; mode < 2 && rc == 0; mode++) {
            for (int r = -warmup; r < runs; r++) {
                double t = test_now_ms();
                if (mode == 0) {
                    s = clssd_detect_batch(m, imgs, (size_t)B, NULL, dets, 200 * 64, counts, &total);
                } else {
                    m->ex->batch = B; /* the input from the last detect stays on the device */
                    s = clssd__exec_run(m->ex, 0, m->g.n_nodes - 1);
                    if (s == CLSSD_OK) s = clFinish(ctx->queue) == CL_SUCCESS ? CLSSD_OK : CLSSD_ERR_IO;
                }
                if (s != CLSSD_OK) {
                    fprintf(stderr, "clssd-bench: %s\n", clssd_last_error(ctx));
                    rc = 1;
                    break;
                }
                if (r >= 0) times[r] = test_now_ms() - t;
            }
            if (rc) break;
            qsort(times, (size_t)runs, sizeof *times, cmp_double);
            double med = times[runs / 2];
            printf("%-6d %-10s %10.2f %10.2f %10.2f %10.2f %10.2f\n", B,
                   mode == 0 ? "end2end" : "network", med, times[0], times[runs - 1], med / B,
                   1000.0 * B / med);
        }
    }
    free(times);
    free(dets);
    free(pix);
    clssd_model_destroy(m);
    clssd_context_destroy(ctx);
    return rc;
}
