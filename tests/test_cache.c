/* The kernel binary cache: cold build writes a file, a new context loads it, a corrupt
 * file is deleted and rebuilt, different build options give a different key.
 * The per-device convolution algorithm choices beside it: measured once, read back, a bad
 * line re-measured, and every choice giving the same detections. */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static char g_dir[256];

static int count_files_ext(const char *ext, char *first, size_t size)
{
    DIR *d = opendir(g_dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ext)) {
            if (n == 0 && first) snprintf(first, size, "%s/%s", g_dir, e->d_name);
            n++;
        }
    if (d) closedir(d);
    return n;
}

static int count_files(char *first, size_t size)
{
    return count_files_ext(".clbin", first, size);
}

static clssd_context *ctx_with_cache(void)
{
    clssd_context_params p;
    clssd_context_params_init(&p);
    p.cache_dir = g_dir;
    clssd_context *ctx = NULL;
    ck_assert_int_eq(clssd_context_create(&p, &ctx), CLSSD_OK);
    return ctx;
}

START_TEST(test_cold_warm_corrupt)
{
    cl_program prog;
    clssd_context *a = ctx_with_cache();
    ck_assert_int_eq(clssd__program(a, "eltwise", &prog), CLSSD_OK);
    ck_assert_int_eq(a->cache_misses, 1);
    ck_assert_int_eq(a->cache_hits, 0);
    clssd_context_destroy(a);
    char path[512];
    ck_assert_int_eq(count_files(path, sizeof path), 1);

    clssd_context *b = ctx_with_cache();
    ck_assert_int_eq(clssd__program(b, "eltwise", &prog), CLSSD_OK);
    ck_assert_int_eq(b->cache_hits, 1);
    ck_assert_int_eq(b->cache_misses, 0);
    clssd_context_destroy(b);

    /* flip a payload byte: the CRC rejects it, the program is rebuilt and rewritten */
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    fseek(f, 100, SEEK_SET);
    int ch = fgetc(f);
    fseek(f, 100, SEEK_SET);
    fputc(ch ^ 0x5A, f);
    fclose(f);
    clssd_context *c = ctx_with_cache();
    ck_assert_int_eq(clssd__program(c, "eltwise", &prog), CLSSD_OK);
    ck_assert_int_eq(c->cache_hits, 0);
    ck_assert_int_eq(c->cache_misses, 1);
    clssd_context_destroy(c);
    ck_assert_int_eq(count_files(NULL, 0), 1);

    /* truncated file: same */
    ck_assert_int_eq(truncate(path, 20), 0);
    clssd_context *d = ctx_with_cache();
    ck_assert_int_eq(clssd__program(d, "eltwise", &prog), CLSSD_OK);
    ck_assert_int_eq(d->cache_misses, 1);
    clssd_context_destroy(d);

    /* other build options: another key, another file */
    setenv("CLSSD_BUILD_OPTIONS", "-DCLSSD_TEST_KEY=1", 1);
    clssd_context *e = ctx_with_cache();
    unsetenv("CLSSD_BUILD_OPTIONS");
    ck_assert_int_eq(clssd__program(e, "eltwise", &prog), CLSSD_OK);
    ck_assert_int_eq(e->cache_misses, 1);
    clssd_context_destroy(e);
    ck_assert_int_eq(count_files(NULL, 0), 2);
}
END_TEST

/* A small SSD300 (channels / 16): its 35 convolutions have two or three candidates each. */
static clssd_model *small_ssd(clssd_context *ctx)
{
    clssd_ssd_params sp;
    clssd_ssd_params_init(&sp, 300, 21);
    sp.width_div = 16;
    sp.init = CLSSD_INIT_MSRA;
    clssd_model *m = NULL;
    ck_assert_msg(clssd_model_create_ssd(ctx, &sp, &m) == CLSSD_OK, "%s", clssd_last_error(ctx));
    return m;
}

static size_t detect_gray(clssd_model *m, clssd_detection *d, size_t cap)
{
    static uint8_t img[64 * 48 * 3];
    for (size_t k = 0; k < sizeof img; k++) img[k] = (uint8_t)((k * 2654435761u) >> 24);
    clssd_detect_params dp;
    clssd_detect_params_init(&dp);
    dp.conf_thresh = 0.0f; /* random weights: keep every candidate so there is much to compare */
    size_t n = 0;
    ck_assert_int_eq(clssd_detect(m, img, 64, 48, 64 * 3, &dp, d, cap, &n), CLSSD_OK);
    return n;
}

START_TEST(test_conv_algo_choice)
{
    enum { CAP = 200 };
    static clssd_detection d_tuned[CAP], d_other[CAP];
    char path[512];
    int n_conv = 0;

    /* cold: every convolution with a choice is timed, and the choices are saved */
    clssd_context *a = ctx_with_cache();
    clssd_model *m = small_ssd(a);
    for (int32_t i = 0; i < m->g.n_nodes; i++) {
        const clssd_node *n = &m->g.nodes[i];
        if (n->op != CLSSD_OP_CONV2D) continue;
        n_conv++;
        ck_assert_msg(n->algo != CLSSD_CONV_AUTO && clssd__conv2d_algo_ok(&m->g, n, n->algo),
                      "%s: algo %d", n->name, n->algo);
    }
    /* layers of one shape (conv5_1..5_3) are timed once: the later ones find the first's */
    ck_assert_int_gt(a->algo_measured, 0);
    ck_assert_int_eq(a->algo_measured + a->algo_cached, n_conv);
    ck_assert_int_eq(count_files_ext(".convalgo", path, sizeof path), 1);
    const size_t n_tuned = detect_gray(m, d_tuned, CAP);
    ck_assert_uint_gt(n_tuned, 0);
    uint8_t first[256];
    for (int32_t i = 0; i < m->g.n_nodes && i < 256; i++) first[i] = m->g.nodes[i].algo;
    clssd_model_destroy(m);
    clssd_context_destroy(a);

    /* warm: all read back, the same choices */
    clssd_context *b = ctx_with_cache();
    m = small_ssd(b);
    ck_assert_int_eq(b->algo_measured, 0);
    ck_assert_int_eq(b->algo_cached, n_conv);
    for (int32_t i = 0; i < m->g.n_nodes && i < 256; i++)
        ck_assert_int_eq(m->g.nodes[i].algo, first[i]);
    clssd_model_destroy(m);
    clssd_context_destroy(b);

    /* a file claiming "direct" for every layer: only the layers direct can run (K <= 64)
     * keep it; the others are measured again, and the file is rewritten */
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char lines[64][256];
    int n_lines = 0;
    while (n_lines < 64 && fgets(lines[n_lines], sizeof lines[0], f)) n_lines++;
    fclose(f);
    ck_assert_int_gt(n_lines, 0);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < n_lines; i++) {
        char sig[200];
        ck_assert_int_eq(sscanf(lines[i], "%199s", sig), 1);
        fprintf(f, "%s direct\n", sig);
    }
    fputs("this line is not a choice\n", f);
    fclose(f);
    clssd_context *c = ctx_with_cache();
    m = small_ssd(c);
    int direct_ok = 0;
    for (int32_t i = 0; i < m->g.n_nodes; i++) {
        const clssd_node *n = &m->g.nodes[i];
        if (n->op != CLSSD_OP_CONV2D || !clssd__conv2d_algo_ok(&m->g, n, CLSSD_CONV_DIRECT))
            continue;
        direct_ok++;
        ck_assert_int_eq(n->algo, CLSSD_CONV_DIRECT);
    }
    ck_assert_int_gt(direct_ok, 0); /* conv1_1: K = 27 */
    ck_assert_int_gt(c->algo_measured, 0);
    ck_assert_int_le(c->algo_measured, n_conv - direct_ok);
    ck_assert_int_eq(c->algo_measured + c->algo_cached, n_conv);
    clssd_model_destroy(m);
    clssd_context_destroy(c);

    /* each algorithm forced for the whole model: nothing is timed, and the detections are
     * those of the tuned model (same boxes; scores within the conv tolerance) */
    static const char *const forced[] = {"im2col", "packed", "direct", "packed16"};
    for (size_t k = 0; k < sizeof forced / sizeof forced[0]; k++) {
        setenv("CLSSD_CONV_ALGO", forced[k], 1);
        clssd_context *e = ctx_with_cache();
        m = small_ssd(e);
        ck_assert_int_eq(e->algo_measured + e->algo_cached, 0);
        const size_t n_other = detect_gray(m, d_other, CAP);
        unsetenv("CLSSD_CONV_ALGO");
        ck_assert_uint_eq(n_other, n_tuned);
        for (size_t i = 0; i < n_tuned; i++) {
            ck_assert_int_eq(d_other[i].label, d_tuned[i].label);
            ck_assert_msg(fabsf(d_other[i].score - d_tuned[i].score) < 1e-3f &&
                              fabsf(d_other[i].xmin - d_tuned[i].xmin) < 1e-3f &&
                              fabsf(d_other[i].ymax - d_tuned[i].ymax) < 1e-3f,
                          "%s: detection %zu differs: %g vs %g", forced[k], i,
                          (double)d_other[i].score, (double)d_tuned[i].score);
        }
        clssd_model_destroy(m);
        clssd_context_destroy(e);
    }
}
END_TEST

/* A candidate whose kernels this driver does not build is skipped, not fatal: with a gemm.cl
 * that does not compile (CLSSD_KERNEL_DIR, the development mode, loads it from disk), the
 * model still loads and runs on the other algorithms. */
START_TEST(test_conv_algo_candidate_fails)
{
    char kdir[400], cdir[400], cmd[2000];
    snprintf(kdir, sizeof kdir, "%s/broken-cl", g_dir);
    snprintf(cdir, sizeof cdir, "%s/broken-cache", g_dir);
    snprintf(cmd, sizeof cmd, "mkdir -p %s %s && cp %s/cl/common.clh %s/", kdir, cdir,
             CLSSD_SOURCE_DIR, kdir);
    ck_assert_int_eq(system(cmd), 0);
    char path[500];
    snprintf(path, sizeof path, "%s/gemm.cl", kdir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("__kernel void clssd_gemm_packed(this is not OpenCL C\n", f);
    fclose(f);

    setenv("CLSSD_KERNEL_DIR", kdir, 1);
    clssd_context_params p;
    clssd_context_params_init(&p);
    p.cache_dir = cdir;
    clssd_context *ctx = NULL;
    ck_assert_int_eq(clssd_context_create(&p, &ctx), CLSSD_OK);
    clssd_model *m = small_ssd(ctx);
    unsetenv("CLSSD_KERNEL_DIR");
    ck_assert_int_gt(ctx->algo_measured, 0);
    for (int32_t i = 0; i < m->g.n_nodes; i++) {
        const clssd_node *n = &m->g.nodes[i];
        if (n->op != CLSSD_OP_CONV2D) continue;
        ck_assert_msg(n->algo == CLSSD_CONV_IM2COL_CLBLAST || n->algo == CLSSD_CONV_DIRECT,
                      "%s: algo %d", n->name, n->algo);
    }
    clssd_detection d[200];
    ck_assert_uint_gt(detect_gray(m, d, 200), 0);
    clssd_model_destroy(m);
    clssd_context_destroy(ctx);
}
END_TEST

int main(void)
{
    clssd_device_info devs[4];
    if (test_devices(devs, 4) == 0) {
        printf("no OpenCL device found: cache tests skipped\n");
        return 77;
    }
    snprintf(g_dir, sizeof g_dir, "/tmp/clssd-cache-test-%ld", (long)getpid());
    Suite *s = suite_create("cache");
    TCase *tc = tcase_create("cache");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_cold_warm_corrupt);
    tcase_add_test(tc, test_conv_algo_choice);
    tcase_add_test(tc, test_conv_algo_candidate_fails);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    return failed ? 1 : 0;
}
