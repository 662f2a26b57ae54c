/* clssd__gt_keep_images: a ground-truth set restricted to some of its images (clssd-eval
 * --skip-missing evaluates only the images it could run the model on). */
#include <string.h>

#include "clssd_internal.h"
#include "data/dataset.h"

clssd_status clssd__gt_keep_images(clssd_gt_set *g, const uint8_t *keep)
{
    if (!g || (!keep && g->n_images)) return CLSSD_ERR_INVALID_ARG;
    /* new index of every old image, -1 when dropped; the only allocation, made first, so
     * running out of memory leaves g as it was */
    int32_t *remap = clssd__calloc(g->n_images, sizeof *remap); /* calloc: checked n * size */
    if (!remap) return CLSSD_ERR_OUT_OF_MEMORY;
    size_t n_img = 0;
    for (size_t i = 0; i < g->n_images; i++) {
        if (keep[i]) {
            remap[i] = (int32_t)n_img;
            g->images[n_img++] = g->images[i];
        } else {
            remap[i] = -1;
            clssd__free(g->images[i].id);
            clssd__free(g->images[i].file);
        }
    }
    size_t n_obj = 0;
    for (size_t i = 0; i < g->n_objects; i++) {
        const int32_t im = g->objects[i].image;
        if (im < 0 || (size_t)im >= g->n_images || remap[im] < 0) continue;
        g->objects[n_obj] = g->objects[i];
        g->objects[n_obj++].image = remap[im];
    }
    g->n_images = n_img;
    g->n_objects = n_obj;
    clssd__free(remap);
    /* the lookup index points at the dropped ids: rebuild it (without memory for it the
     * finds scan linearly, which is still right) */
    (void)clssd__gt_index(g);
    return CLSSD_OK;
}
