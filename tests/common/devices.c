#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "testutil.h"

int test_devices(clssd_device_info *out, int cap)
{
    size_t n = 0;
    clssd_status s = clssd_device_list(out, (size_t)cap, &n);
    if (s != CLSSD_OK && s != CLSSD_ERR_BUFFER_TOO_SMALL) return 0;
    if (n > (size_t)cap) n = (size_t)cap;
    const char *only = getenv("CLSSD_TEST_DEVICE");
    if (only && *only) {
        int p = -1, d = -1;
        if (sscanf(only, "%d:%d", &p, &d) != 2) return 0;
        for (size_t i = 0; i < n; i++)
            if (out[i].platform == p && out[i].device == d) {
                out[0] = out[i];
                return 1;
            }
        return 0;
    }
    return (int)n;
}

double test_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}
