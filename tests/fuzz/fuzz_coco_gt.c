/* libFuzzer harness: COCO instances JSON ground truth (clssd__gt_load_coco_mem), then what
 * clssd-eval does with an accepted set: the index, the lookups, the metrics. */
#include <stdint.h>

#include "fuzz_data_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const long live = clssd__alloc_live();
    char err[FUZZ_ERR_CAP] = "";
    clssd_gt_set *g = NULL;
    const clssd_status s =
        clssd__gt_load_coco_mem((const char *)data, size, "fuzz.json", &g, err, sizeof err);
    fuzz_check_failure(s, err);
    if (s == CLSSD_OK) {
        fuzz_use_gt(g, size);
        clssd__gt_free(g);
    } else if (g) {
        __builtin_trap(); /* a failed load leaves *out NULL */
    }
    fuzz_check_no_leak(live);
    return 0;
}
