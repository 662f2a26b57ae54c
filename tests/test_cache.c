/* The kernel binary cache: cold build writes a file, a new context loads it, a corrupt
 * file is deleted and rebuilt, different build options give a different key. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static char g_dir[256];

static int count_files(char *first, size_t size)
{
    DIR *d = opendir(g_dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".clbin")) {
            if (n == 0 && first) snprintf(first, size, "%s/%s", g_dir, e->d_name);
            n++;
        }
    if (d) closedir(d);
    return n;
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
