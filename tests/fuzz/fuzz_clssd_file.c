/* Fuzzes the .clssd model file reader (clssd__file_load_mem): header, string table, node and
 * tensor sections, labels, and the shape inference the loader runs on what it read. The input
 * is the file's bytes. */
#include <stdint.h>

#include "fuzz_model_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const long live = clssd__alloc_live();
    clssd_graph g;
    clssd__graph_init(&g);
    char err[512];
    fuzz_infer_and_free(&g, clssd__file_load_mem(data, size, &g, err, sizeof err));
    fuzz_expect_no_leak(live);
    return 0;
}
