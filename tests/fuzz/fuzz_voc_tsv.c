/* libFuzzer harness: the text formats of clssd-eval besides JSON and XML. The first input
 * byte picks the case (modulo 3):
 *   0: a VOC TSV ground truth alone (clssd__gt_load_voc_tsv_mem);
 *   1: an image list, a NUL byte, then the TSV (--image-set: ImageSets-style id list);
 *   2: a class-map file (clssd__class_map_load_mem).
 * The TSV is the more exposed reader (numbers, columns, header, id list, set builder) and gets
 * two of the three cases; an accepted set goes through the index and the metrics. */
#include <stdint.h>
#include <string.h>

#include "fuzz_data_util.h"

static void fuzz_tsv(const char *text, size_t len, const char *list, size_t list_len,
                     size_t input_size)
{
    char err[FUZZ_ERR_CAP] = "";
    clssd_gt_set *g = NULL;
    const clssd_status s =
        clssd__gt_load_voc_tsv_mem(text, len, "gt.tsv", list, list_len, &g, err, sizeof err);
    fuzz_check_failure(s, err);
    if (s == CLSSD_OK) {
        fuzz_use_gt(g, input_size);
        clssd__gt_free(g);
    } else if (g) {
        __builtin_trap();
    }
}

static void fuzz_class_map(const char *text, size_t len)
{
    char err[FUZZ_ERR_CAP] = "";
    clssd_class_map m;
    const clssd_status s = clssd__class_map_load_mem(text, len, "map.txt", &m, err, sizeof err);
    fuzz_check_failure(s, err);
    if (s == CLSSD_OK) {
        /* each entry maps as written: the first one of a name is the one kept */
        for (size_t i = 0; i < m.n; i++)
            if (strcmp(clssd__class_map_apply(&m, m.from[i]), m.to[i]) != 0) __builtin_trap();
        if (clssd__class_map_apply(&m, "\x01 no such class") != NULL) __builtin_trap();
    }
    clssd__class_map_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    const long live = clssd__alloc_live();
    const char *text = (const char *)data + 1;
    const size_t len = size - 1;
    switch (data[0] % 3) {
    case 0:
        fuzz_tsv(text, len, NULL, 0, size);
        break;
    case 1: {
        const char *nul = memchr(text, '\0', len);
        const size_t list_len = nul ? (size_t)(nul - text) : len;
        const size_t tsv_at = nul ? list_len + 1 : len;
        fuzz_tsv(text + tsv_at, len - tsv_at, text, list_len, size);
        break;
    }
    default:
        fuzz_class_map(text, len);
        break;
    }
    fuzz_check_no_leak(live);
    return 0;
}
