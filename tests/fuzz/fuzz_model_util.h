/* Shared by the model-file fuzz harnesses (fuzz_caffe_text, fuzz_caffemodel, fuzz_tfjs,
 * fuzz_clssd_file, fuzz_json): a leak check that does not depend on ASan, so that the
 * replay build (gcc, no sanitizer) catches a parser that forgets to free on some error path. */
#ifndef CLSSD_FUZZ_MODEL_UTIL_H
#define CLSSD_FUZZ_MODEL_UTIL_H

#include "clssd_internal.h"

/* Every library block allocated while handling one input must be freed before the next:
 * trapping makes libFuzzer report the input (and the replay test fail). */
static inline void fuzz_expect_no_leak(long live_before)
{
    if (clssd__alloc_live() != live_before) __builtin_trap();
}

/* Caffe's graph import may leave a partial graph on failure (the caller frees it); every
 * harness that imports runs shape inference on a success, like the loaders do, then frees. */
static inline void fuzz_infer_and_free(clssd_graph *g, clssd_status imported)
{
    if (imported == CLSSD_OK) {
        char err[512];
        (void)clssd__graph_infer(g, err, sizeof err);
    }
    clssd__graph_free(g);
}

#endif
