/* Fuzzes the TF.js graph-model importer (tfjs_import): model.json parsing, the weights
 * manifest, the node-by-node mapping onto libclssd ops and shape inference.
 *
 * Input layout (one file holds both of tfjs_import's inputs):
 *   bytes 0..3   n, little-endian: the length of the model.json text (clamped to what follows)
 *   next n bytes model.json
 *   the rest     the weight shards, concatenated in manifest order
 * tests/fuzz/tools/make_model_seeds.py writes seeds in this layout. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_model_util.h"
#include "tfjs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4) return 0;
    size_t json_len =
        (size_t)data[0] | (size_t)data[1] << 8 | (size_t)data[2] << 16 | (size_t)data[3] << 24;
    if (json_len > size - 4) json_len = size - 4;
    /* the JSON gets a buffer of its own, so that ASan sees a read past its end instead of
     * one into the weights that follow it */
    char *json = malloc(json_len ? json_len : 1);
    if (!json) return 0;
    memcpy(json, data + 4, json_len);
    const uint8_t *weights = data + 4 + json_len;
    const size_t weights_len = size - 4 - json_len;

    const long live = clssd__alloc_live();
    clssd_graph g;
    char err[512];
    /* tfjs_import infers the graph itself and leaves g empty on failure */
    if (tfjs_import(json, json_len, weights, weights_len, NULL, &g, err, sizeof err) == CLSSD_OK)
        clssd__graph_free(&g);
    fuzz_expect_no_leak(live);
    free(json);
    return 0;
}
