/* TensorFlow.js graph models (model.json + binary weight shards) of TensorFlow Object
 * Detection API SSDs -> libclssd graphs. No TensorFlow library is needed: the JSON graph
 * is read with src/import/json.c and mapped onto libclssd ops node by node; what the
 * mapping does not understand is an error that names the node. */
#ifndef CLSSD_TFJS_H
#define CLSSD_TFJS_H

#include "clssd_internal.h"

typedef struct tfjs_import_options {
    const char *name; /* model name; NULL: "tfjs_ssd", or "coco_ssd" for 91 COCO classes */
} tfjs_import_options;
void tfjs_import_options_init(tfjs_import_options *o);

/* json: the model.json text; weights: the weight groups' shards concatenated in manifest
 * order (groups, then each group's paths). Builds and infers the graph; on failure g is
 * left empty and err names the node or weight at fault. */
clssd_status tfjs_import(const char *json, size_t json_len, const void *weights,
                         size_t weights_len, const tfjs_import_options *o, clssd_graph *g,
                         char *err, size_t err_size);

/* Reads model_json_path and the shard files its manifest names (relative to its folder),
 * then tfjs_import(). Messages lead with the file at fault. */
clssd_status tfjs_load_graph(const char *model_json_path, const tfjs_import_options *o,
                             clssd_graph *g, char *err, size_t err_size);

/* The 91 COCO category names by TF Object Detection API class id (0 = background; the
 * ten ids COCO never annotated keep the names of the COCO paper's 91-category list). */
extern const char *const clssd__coco91_labels[91];

#endif
