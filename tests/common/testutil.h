/* Shared by the tests and clssd-bench: op cases, device enumeration, comparisons. */
#ifndef CLSSD_TESTUTIL_H
#define CLSSD_TESTUTIL_H

#include "clssd_internal.h"

/* One op case: a graph of INPUT nodes feeding one node under test, plus host data. */
typedef struct op_case {
    const char *label;
    clssd_graph g;
    int32_t node;         /* index of the node under test */
    int32_t batch;
    float *src_data[CLSSD_MAX_SRC]; /* per source INPUT node: batch (or 1 if const) images */
    clssd_image images[4];          /* PREPROCESS cases */
    uint8_t *pixels[4];
} op_case;

int op_case_count(void);
/* Builds case i (seeded data); returns 0 on failure. */
int op_case_build(int i, op_case *c);
void op_case_free(op_case *c);
const char *op_case_label(int i);
clssd_op op_case_op(int i);

/* Devices: all platforms and devices, or the one in CLSSD_TEST_DEVICE=P:D. */
int test_devices(clssd_device_info *out, int cap);

/* |a-b| <= tol_abs + tol_rel*|ref|, NaN == NaN. Returns the worst index or -1; fills nmse. */
long compare_floats(const float *ref, const float *got, size_t n, float tol_abs, float tol_rel,
                    double *nmse, char *msg, size_t msg_size);

double test_now_ms(void);

#endif
