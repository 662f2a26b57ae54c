/* Fuzzes the strict JSON reader (clssd__json_parse) that the TF.js and COCO readers share,
 * and its lookups on whatever tree it builds. The input is the JSON text itself. */
#include <stdint.h>

#include "fuzz_model_util.h"
#include "json.h"

/* Visits every value so that each node the parser built is read back (ASan checks them). */
static void walk(const clssd_json *v)
{
    int64_t i;
    (void)clssd__json_int(v, &i);
    if (v->type == CLSSD_JSON_STRING && v->string[v->string_len] != '\0') __builtin_trap();
    for (size_t k = 0; k < v->n_items; k++) {
        if (v->type == CLSSD_JSON_OBJECT &&
            clssd__json_get(v, v->keys[k]) == NULL) /* a key present must be found */
            __builtin_trap();
        walk(&v->items[k]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const long live = clssd__alloc_live();
    clssd_json *root = NULL;
    char err[256];
    if (clssd__json_parse((const char *)data, size, &root, err, sizeof err) == CLSSD_OK) {
        walk(root);
        clssd__json_free(root);
    } else if (root != NULL) {
        __builtin_trap(); /* documented: *out is NULL on failure */
    }
    fuzz_expect_no_leak(live);
    return 0;
}
