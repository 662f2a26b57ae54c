/* Public API contract: status strings, _destroy(NULL), invalid arguments, buffer sizing,
 * injected allocation failures, and a failed kernel build surfacing as a status. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static int g_have_device;

START_TEST(test_status_strings)
{
    ck_assert_str_eq(clssd_status_string(CLSSD_OK), "ok");
    ck_assert_str_eq(clssd_status_string(CLSSD_ERR_BAD_MODEL), "bad model");
    ck_assert_str_eq(clssd_status_string((clssd_status)-5), "CL_OUT_OF_RESOURCES");
    ck_assert_ptr_nonnull(clssd_status_string((clssd_status)12345));
    ck_assert_str_eq(clssd_last_error(NULL), "no context");
}
END_TEST

START_TEST(test_destroy_null_and_bad_args)
{
    clssd_context_destroy(NULL);
    clssd_model_destroy(NULL);
    ck_assert_int_eq(clssd_context_create(NULL, NULL), CLSSD_ERR_INVALID_ARG);
    clssd_context_params p;
    clssd_context_params_init(&p);
    p.struct_size = 3;
    clssd_context *ctx = (clssd_context *)1;
    ck_assert_int_eq(clssd_context_create(&p, &ctx), CLSSD_ERR_INVALID_ARG);
    ck_assert_ptr_null(ctx);
    ck_assert_int_eq(clssd_model_load(NULL, "x", NULL), CLSSD_ERR_INVALID_ARG);
    size_t n = 0;
    ck_assert_int_eq(clssd_detect(NULL, NULL, 0, 0, 0, NULL, NULL, 0, &n), CLSSD_ERR_INVALID_ARG);
    ck_assert_int_eq(clssd_device_list(NULL, 4, &n), CLSSD_ERR_INVALID_ARG);
    clssd_context_params_init(&p);
    p.platform = 99;
    p.device = 0;
    ck_assert_int_eq(clssd_context_create(&p, &ctx), CLSSD_ERR_NO_DEVICE);
}
END_TEST

static clssd_context *make_ctx(void)
{
    clssd_context_params p;
    clssd_context_params_init(&p);
    clssd_context *ctx = NULL;
    ck_assert_int_eq(clssd_context_create(&p, &ctx), CLSSD_OK);
    return ctx;
}

/* A narrow SSD300 (channels / 16) keeps these API tests fast. */
static clssd_model *make_model(clssd_context *ctx)
{
    clssd_ssd_params sp;
    clssd_ssd_params_init(&sp, 300, 21);
    sp.width_div = 16;
    sp.init = CLSSD_INIT_MSRA;
    clssd_model *m = NULL;
    ck_assert_msg(clssd_model_create_ssd(ctx, &sp, &m) == CLSSD_OK, "%s", clssd_last_error(ctx));
    return m;
}

START_TEST(test_model_bad_params)
{
    clssd_context *ctx = make_ctx();
    clssd_ssd_params sp;
    clssd_ssd_params_init(&sp, 300, 1);
    clssd_model *m = (clssd_model *)1;
    ck_assert_int_eq(clssd_model_create_ssd(ctx, &sp, &m), CLSSD_ERR_INVALID_ARG);
    ck_assert_ptr_null(m);
    ck_assert_ptr_nonnull(strstr(clssd_last_error(ctx), "classes"));
    clssd_ssd_params_init(&sp, 32, 21);
    ck_assert_int_eq(clssd_model_create_ssd(ctx, &sp, &m), CLSSD_ERR_INVALID_ARG);
    ck_assert_int_eq(clssd_model_load(ctx, "/nonexistent/model.clssd", &m), CLSSD_ERR_IO);
    ck_assert_ptr_null(m);
    clssd_context_destroy(ctx);
}
END_TEST

START_TEST(test_detect_args_and_buffer_too_small)
{
    clssd_context *ctx = make_ctx();
    clssd_model *m = make_model(ctx);
    clssd_model_info info;
    ck_assert_int_eq(clssd_model_get_info(m, &info), CLSSD_OK);
    ck_assert_int_eq(info.n_priors, 8732);
    ck_assert_int_eq(info.n_classes, 21);
    ck_assert_str_eq(clssd_model_label(m, 12), "dog");
    ck_assert_ptr_null(clssd_model_label(m, 21));

    uint8_t img[64 * 48 * 3];
    for (size_t i = 0; i < sizeof img; i++) img[i] = (uint8_t)(i * 7u);
    clssd_detection dets[200];
    size_t n = 0;
    /* stride smaller than a row */
    ck_assert_int_eq(clssd_detect(m, img, 64, 48, 10, NULL, dets, 200, &n), CLSSD_ERR_INVALID_ARG);
    ck_assert_int_eq(clssd_detect(m, NULL, 64, 48, 192, NULL, dets, 200, &n), CLSSD_ERR_INVALID_ARG);
    ck_assert_int_eq(clssd_detect(m, img, 0, 48, 192, NULL, dets, 200, &n), CLSSD_ERR_INVALID_ARG);
    clssd_detect_params dp;
    clssd_detect_params_init(&dp);
    dp.keep_top_k = 201; /* the model's output holds 200 */
    ck_assert_int_eq(clssd_detect(m, img, 64, 48, 192, &dp, dets, 200, &n), CLSSD_ERR_INVALID_ARG);
    dp.keep_top_k = 200;
    dp.nms_thresh = 1.5f;
    ck_assert_int_eq(clssd_detect(m, img, 64, 48, 192, &dp, dets, 200, &n), CLSSD_ERR_INVALID_ARG);

    ck_assert_int_eq(clssd_detect(m, img, 64, 48, 192, NULL, dets, 200, &n), CLSSD_OK);
    ck_assert_uint_gt(n, 1);
    for (size_t i = 0; i < n; i++) {
        ck_assert(dets[i].label >= 1 && dets[i].label < 21);
        ck_assert(dets[i].score > 0.01f && dets[i].score <= 1.0f);
        ck_assert(dets[i].xmin >= 0 && dets[i].xmax <= 64 && dets[i].ymin >= 0 && dets[i].ymax <= 48);
        if (i) ck_assert(dets[i].label >= dets[i - 1].label); /* grouped by label */
    }
    size_t need = n, n2 = 0;
    ck_assert_int_eq(clssd_detect(m, img, 64, 48, 192, NULL, dets, need - 1, &n2), CLSSD_ERR_BUFFER_TOO_SMALL);
    ck_assert_uint_eq(n2, need);
    /* the model is still usable after an error */
    ck_assert_int_eq(clssd_detect(m, img, 64, 48, 192, NULL, dets, 200, &n2), CLSSD_OK);
    ck_assert_uint_eq(n2, need);
    /* growing the plan for a larger batch fails: an error, and the model still works */
    clssd_image two[2] = {{img, 64, 48, 192}, {img, 64, 48, 192}};
    size_t counts[2], total = 0;
    clssd__alloc_fail_after(1);
    ck_assert_int_eq(clssd_detect_batch(m, two, 2, NULL, dets, 200, counts, &total), CLSSD_ERR_OUT_OF_MEMORY);
    clssd__alloc_fail_after(0);
    ck_assert_int_eq(clssd_detect(m, img, 64, 48, 192, NULL, dets, 200, &n2), CLSSD_OK);
    ck_assert_uint_eq(n2, need);
    clssd_detection dets2[400];
    ck_assert_int_eq(clssd_detect_batch(m, two, 2, NULL, dets2, 400, counts, &total), CLSSD_OK);
    ck_assert_uint_eq(counts[0], need);
    ck_assert_uint_eq(counts[1], need);
    /* threshold above every score: nothing, and no error */
    dp.nms_thresh = 0.45f;
    dp.conf_thresh = 1.0f;
    ck_assert_int_eq(clssd_detect(m, img, 64, 48, 192, &dp, dets, 200, &n2), CLSSD_OK);
    ck_assert_uint_eq(n2, 0);
    clssd_model_destroy(m);
    clssd_context_destroy(ctx);
}
END_TEST

/* A model saved to .clssd and loaded back detects exactly what the original does. */
START_TEST(test_save_load_same_detections)
{
    clssd_context *ctx = make_ctx();
    clssd_model *m = make_model(ctx);
    char path[128];
    snprintf(path, sizeof path, "/tmp/clssd-api-%ld.clssd", (long)getpid());
    ck_assert_msg(clssd_model_save(m, path) == CLSSD_OK, "%s", clssd_last_error(ctx));
    clssd_model *m2 = NULL;
    ck_assert_msg(clssd_model_load(ctx, path, &m2) == CLSSD_OK, "%s", clssd_last_error(ctx));
    remove(path);
    uint8_t img[50 * 70 * 3];
    for (size_t i = 0; i < sizeof img; i++) img[i] = (uint8_t)((i * 13u) ^ (i >> 5));
    clssd_detection a[200], b[200];
    size_t na = 0, nb = 0;
    ck_assert_int_eq(clssd_detect(m, img, 50, 70, 150, NULL, a, 200, &na), CLSSD_OK);
    ck_assert_int_eq(clssd_detect(m2, img, 50, 70, 150, NULL, b, 200, &nb), CLSSD_OK);
    ck_assert_uint_gt(na, 0);
    ck_assert_uint_eq(na, nb);
    ck_assert_int_eq(memcmp(a, b, na * sizeof a[0]), 0);
    clssd_model_info ia, ib;
    clssd_model_get_info(m, &ia);
    clssd_model_get_info(m2, &ib);
    ck_assert_str_eq(ia.name, ib.name);
    ck_assert_int_eq(ia.n_params, ib.n_params);
    ck_assert_str_eq(clssd_model_label(m2, 15), "person");
    clssd_model_destroy(m2);
    clssd_model_destroy(m);
    clssd_context_destroy(ctx);
}
END_TEST

/* Allocation failure at every allocation of model creation: an error, never a crash,
 * and nothing left behind (run under valgrind/ASan to see leaks). */
START_TEST(test_alloc_failure_model_create)
{
    clssd_context *ctx = make_ctx();
    int saw_ok = 0;
    for (long k = 1; k < 400 && !saw_ok; k++) {
        clssd_ssd_params sp;
        clssd_ssd_params_init(&sp, 300, 21);
        sp.width_div = 32;
        clssd_model *m = NULL;
        clssd__alloc_fail_after(k);
        clssd_status s = clssd_model_create_ssd(ctx, &sp, &m);
        clssd__alloc_fail_after(0);
        if (s == CLSSD_OK) {
            saw_ok = 1;
            clssd_model_destroy(m);
        } else {
            ck_assert_ptr_null(m);
            ck_assert_msg(s == CLSSD_ERR_OUT_OF_MEMORY || s == CLSSD_ERR_BAD_MODEL,
                          "alloc failure %ld gave %s", k, clssd_status_string(s));
        }
    }
    ck_assert_msg(saw_ok, "model creation never succeeded");
    clssd_context_destroy(ctx);
}
END_TEST

/* A kernel that does not compile gives CLSSD_ERR_KERNEL_BUILD with the build log. */
START_TEST(test_kernel_build_failure)
{
    setenv("CLSSD_BUILD_OPTIONS", "-DCLSSD_WG=this_is_not_a_number", 1);
    clssd_context_params p;
    clssd_context_params_init(&p);
    p.cache_dir = "off";
    clssd_context *ctx = NULL;
    ck_assert_int_eq(clssd_context_create(&p, &ctx), CLSSD_OK);
    unsetenv("CLSSD_BUILD_OPTIONS");
    cl_program prog;
    clssd_status s = clssd__program(ctx, "l2norm", &prog);
    ck_assert_int_eq(s, CLSSD_ERR_KERNEL_BUILD);
    ck_assert_ptr_null(prog);
    /* the message names the call, the program and the driver's status, and carries the build
     * log, which quotes the bad option */
    const char *msg = clssd_last_error(ctx);
    ck_assert_msg(strstr(msg, "clBuildProgram(l2norm)") && strstr(msg, "CL_BUILD_PROGRAM_FAILURE")
                      && strstr(msg, "this_is_not_a_number"), "message: %s", msg);
    /* a failure is not remembered as a program: the next use builds again, and fails again */
    ck_assert_int_eq(clssd__program(ctx, "l2norm", &prog), CLSSD_ERR_KERNEL_BUILD);
    clssd_context_destroy(ctx);
}
END_TEST

int main(void)
{
    clssd_device_info devs[4];
    g_have_device = test_devices(devs, 4) > 0;
    Suite *s = suite_create("api");
    TCase *tc = tcase_create("host");
    tcase_add_test(tc, test_status_strings);
    tcase_add_test(tc, test_destroy_null_and_bad_args);
    suite_add_tcase(s, tc);
    if (g_have_device) {
        TCase *td = tcase_create("device");
        tcase_set_timeout(td, 600);
        tcase_add_test(td, test_model_bad_params);
        tcase_add_test(td, test_detect_args_and_buffer_too_small);
        tcase_add_test(td, test_save_load_same_detections);
        tcase_add_test(td, test_alloc_failure_model_create);
        tcase_add_test(td, test_kernel_build_failure);
        suite_add_tcase(s, td);
    }
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (failed) return 1;
    if (!g_have_device) {
        printf("no OpenCL device found: device API tests skipped\n");
        return 77;
    }
    return 0;
}
