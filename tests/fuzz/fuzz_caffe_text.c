/* Fuzzes the Caffe prototxt reader (caffe_parse_text) and what reads its tree: the whole
 * deploy-net import without weights (every layer converter, shape inference of each node)
 * and the labelmap import. The input is one prototxt, not NUL-terminated. */
#include <stdint.h>

#include "caffe.h"
#include "fuzz_model_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const long live = clssd__alloc_live();
    caffe_msg *msg = NULL;
    char err[512];
    if (caffe_parse_text((const char *)data, size, &msg, err, sizeof err) == CLSSD_OK) {
        clssd_graph g;
        clssd__graph_init(&g);
        /* weights NULL: zero tensors of the layers' shapes, as clssd-convert without a
         * caffemodel; the importer still checks every layer and infers every node */
        fuzz_infer_and_free(&g, caffe_import(msg, NULL, NULL, &g, err, sizeof err));
        /* freed graphs are left initialised and empty: ready for the labels */
        (void)caffe_import_labelmap(msg, &g, err, sizeof err);
        clssd__graph_free(&g);
        caffe_msg_free(msg);
    }
    fuzz_expect_no_leak(live);
    return 0;
}
