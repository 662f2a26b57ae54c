/* libFuzzer harness: one VOC annotation XML (clssd__voc_parse_xml), then what
 * clssd__gt_load_voc_dir does with an accepted one: the set builder, the index, the metrics. */
#include <stdint.h>
#include <string.h>

#include "data/data_internal.h"
#include "fuzz_data_util.h"

/* The annotation as the VOC directory reader turns it into a ground-truth set. */
static void use_annotation(const clssd_voc_annotation *a, size_t input_size)
{
    clssd__gt_builder b;
    memset(&b, 0, sizeof b);
    int32_t im;
    clssd_status s = clssd__gtb_add_image(&b, "000001", 6, NULL, a->width, a->height, &im);
    for (size_t k = 0; s == CLSSD_OK && k < a->n_objects; k++) {
        const struct clssd_voc_object *o = &a->objects[k];
        if (!o->name) __builtin_trap(); /* every accepted <object> has a <name> */
        int32_t ni;
        s = clssd__gtb_intern(&b, o->name, strlen(o->name), &ni);
        const double box[4] = {o->xmin, o->ymin, o->xmax, o->ymax};
        if (s == CLSSD_OK) s = clssd__gtb_add_object(&b, im, ni, box, o->difficult);
    }
    if (s != CLSSD_OK) {
        clssd__gtb_free(&b);
        return;
    }
    clssd_gt_set *g;
    if (clssd__gtb_finish(&b, &g) != CLSSD_OK) return; /* frees the builder in every case */
    fuzz_use_gt(g, input_size);
    clssd__gt_free(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const long live = clssd__alloc_live();
    char err[FUZZ_ERR_CAP] = "";
    clssd_voc_annotation a;
    const clssd_status s = clssd__voc_parse_xml((const char *)data, size, &a, err, sizeof err);
    fuzz_check_failure(s, err);
    if (s == CLSSD_OK) use_annotation(&a, size);
    clssd__voc_annotation_free(&a);
    fuzz_check_no_leak(live);
    return 0;
}
