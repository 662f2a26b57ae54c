/* Fuzzes the .caffemodel reader (caffe_parse_binary: protobuf wire format against the built-in
 * caffe.proto subset) and the weights path of the Caffe import: the input is a caffemodel for
 * the small deploy net below, whose layers look their blobs up by name and check their sizes.
 *
 * The deploy net has one layer of each kind that reads weights (Convolution, BatchNorm, Scale,
 * Normalize) and the SSD head around them; tests/fuzz/tools/make_model_seeds.py reads it from
 * this file (between the DEPLOY markers) to write the seed caffemodels for it. */
#include <stdint.h>

#include "caffe.h"
#include "fuzz_model_util.h"

/* DEPLOY BEGIN */
static const char deploy_text[] =
    "name: \"fuzz_tiny_ssd\"\n"
    "input: \"data\"\n"
    "input_shape { dim: 1 dim: 3 dim: 16 dim: 16 }\n"
    "layer { name: \"conv1\" type: \"Convolution\" bottom: \"data\" top: \"conv1\"\n"
    "  convolution_param { num_output: 4 kernel_size: 3 pad: 1 stride: 2 } }\n"
    "layer { name: \"bn1\" type: \"BatchNorm\" bottom: \"conv1\" top: \"conv1\" }\n"
    "layer { name: \"sc1\" type: \"Scale\" bottom: \"conv1\" top: \"conv1\"\n"
    "  scale_param { bias_term: true } }\n"
    "layer { name: \"relu1\" type: \"ReLU\" bottom: \"conv1\" top: \"conv1\" }\n"
    "layer { name: \"pool1\" type: \"Pooling\" bottom: \"conv1\" top: \"pool1\"\n"
    "  pooling_param { pool: MAX kernel_size: 2 stride: 2 } }\n"
    "layer { name: \"norm1\" type: \"Normalize\" bottom: \"pool1\" top: \"norm1\"\n"
    "  norm_param { across_spatial: false channel_shared: false } }\n"
    "layer { name: \"loc\" type: \"Convolution\" bottom: \"norm1\" top: \"loc\"\n"
    "  convolution_param { num_output: 8 kernel_size: 1 } }\n"
    "layer { name: \"loc_perm\" type: \"Permute\" bottom: \"loc\" top: \"loc_perm\"\n"
    "  permute_param { order: 0 order: 2 order: 3 order: 1 } }\n"
    "layer { name: \"loc_flat\" type: \"Flatten\" bottom: \"loc_perm\" top: \"loc_flat\" }\n"
    "layer { name: \"conf\" type: \"Convolution\" bottom: \"norm1\" top: \"conf\"\n"
    "  convolution_param { num_output: 6 kernel_size: 1 } }\n"
    "layer { name: \"conf_perm\" type: \"Permute\" bottom: \"conf\" top: \"conf_perm\"\n"
    "  permute_param { order: 0 order: 2 order: 3 order: 1 } }\n"
    "layer { name: \"conf_flat\" type: \"Flatten\" bottom: \"conf_perm\" top: \"conf_flat\" }\n"
    "layer { name: \"prior\" type: \"PriorBox\" bottom: \"norm1\" bottom: \"data\" top: \"prior\"\n"
    "  prior_box_param { min_size: 4 max_size: 8 variance: 0.1 variance: 0.1\n"
    "    variance: 0.2 variance: 0.2 offset: 0.5 } }\n"
    "layer { name: \"loc_cat\" type: \"Concat\" bottom: \"loc_flat\" top: \"loc_cat\"\n"
    "  concat_param { axis: 1 } }\n"
    "layer { name: \"conf_cat\" type: \"Concat\" bottom: \"conf_flat\" top: \"conf_cat\"\n"
    "  concat_param { axis: 1 } }\n"
    "layer { name: \"prior_cat\" type: \"Concat\" bottom: \"prior\" top: \"prior_cat\"\n"
    "  concat_param { axis: 2 } }\n"
    "layer { name: \"conf_reshape\" type: \"Reshape\" bottom: \"conf_cat\" top: \"conf_reshape\"\n"
    "  reshape_param { shape { dim: 0 dim: -1 dim: 3 } } }\n"
    "layer { name: \"conf_softmax\" type: \"Softmax\" bottom: \"conf_reshape\"\n"
    "  top: \"conf_softmax\" softmax_param { axis: 2 } }\n"
    "layer { name: \"conf_sm_flat\" type: \"Flatten\" bottom: \"conf_softmax\"\n"
    "  top: \"conf_sm_flat\" }\n"
    "layer { name: \"detection_out\" type: \"DetectionOutput\" bottom: \"loc_cat\"\n"
    "  bottom: \"conf_sm_flat\" bottom: \"prior_cat\" top: \"detection_out\"\n"
    "  detection_output_param { num_classes: 3 share_location: true background_label_id: 0\n"
    "    nms_param { nms_threshold: 0.45 top_k: 10 } code_type: CENTER_SIZE keep_top_k: 5\n"
    "    confidence_threshold: 0.1 } }\n";
/* DEPLOY END */

/* Parsed once and kept for the whole run (outside the per-input leak check). */
static caffe_msg *deploy_net(void)
{
    static caffe_msg *deploy;
    if (!deploy) {
        char err[512];
        if (caffe_parse_text(deploy_text, sizeof deploy_text - 1, &deploy, err, sizeof err) !=
            CLSSD_OK)
            __builtin_trap(); /* the harness's own net must parse */
    }
    return deploy;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const caffe_msg *deploy = deploy_net();
    const long live = clssd__alloc_live();
    caffe_msg *weights = NULL;
    char err[512];
    if (caffe_parse_binary(data, size, "NetParameter", &weights, err, sizeof err) == CLSSD_OK) {
        clssd_graph g;
        clssd__graph_init(&g);
        fuzz_infer_and_free(&g, caffe_import(deploy, weights, NULL, &g, err, sizeof err));
        caffe_msg_free(weights);
    }
    fuzz_expect_no_leak(live);
    return 0;
}
