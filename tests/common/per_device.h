/* The device half of a Check suite: its test cases once per OpenCL device found (all, or
 * CLSSD_TEST_DEVICE=P:D), with *ctx that device's context. Header-only: testutil.h is also
 * used by clssd-bench, which does not link Check. */
#ifndef CLSSD_PER_DEVICE_H
#define CLSSD_PER_DEVICE_H

#include <check.h>
#include <stdio.h>

#include "testutil.h"

/* Returns the number of failed tests (a context that cannot be made counts as one), or -1
 * when there is no OpenCL device (the caller skips: exit 77). `add` adds the cases to the
 * TCase; `what` names what is skipped without a device. */
static inline int test_run_per_device(const char *suite, void (*add)(TCase *), int timeout_s,
                                      clssd_context **ctx, const char *what)
{
    clssd_device_info devs[16];
    int n_dev = test_devices(devs, 16), failed = 0;
    if (n_dev == 0) {
        printf("no OpenCL device found: %s skipped\n", what);
        return -1;
    }
    for (int d = 0; d < n_dev; d++) {
        clssd_context_params p;
        clssd_context_params_init(&p);
        p.platform = devs[d].platform;
        p.device = devs[d].device;
        printf("[%s / %s / %s]\n", devs[d].platform_name, devs[d].device_name,
               devs[d].driver_version);
        clssd_status st = clssd_context_create(&p, ctx);
        if (st != CLSSD_OK) {
            printf("  context creation failed: %s\n", clssd_status_string(st));
            failed++;
            continue;
        }
        Suite *s = suite_create(suite);
        TCase *tc = tcase_create(suite);
        tcase_set_timeout(tc, timeout_s);
        add(tc);
        suite_add_tcase(s, tc);
        SRunner *sr = srunner_create(s);
        /* OpenCL drivers do not survive fork(); one process, one context per device. */
        srunner_set_fork_status(sr, CK_NOFORK);
        srunner_run_all(sr, CK_NORMAL);
        failed += srunner_ntests_failed(sr);
        srunner_free(sr);
        clssd_context_destroy(*ctx);
        *ctx = NULL;
    }
    return failed;
}

#endif
