/* clssd-convert: other frameworks' SSD models -> .clssd
 *
 *   clssd-convert caffe DEPLOY.prototxt WEIGHTS.caffemodel OUT.clssd [options]
 *   clssd-convert caffe DEPLOY.prototxt --random SEED OUT.clssd [options]
 *
 * The prototxt cannot carry the preprocessing, so it is given here and stored in the file:
 *   --mean B,G,R   subtracted, in the network's channel order (default 0,0,0)
 *   --scale S      multiplied after the mean (default 1)
 *   --rgb          the network wants RGB (default BGR, Caffe's order)
 *   --input WxH    override the prototxt's input size
 *   --labelmap F   class names from a labelmap*.prototxt
 *   --name NAME    model name (default: the prototxt's)
 * --random SEED fills every weight with seeded random values (MSRA) instead of reading a
 * caffemodel: for nets whose weights are not at hand.
 *
 *   clssd-convert tfjs MODEL.json OUT.clssd [--name NAME]
 *
 * A TensorFlow.js graph model of a TF Object Detection API SSD (its weight shards beside
 * model.json). The graph carries its own preprocessing; 91-class COCO models get the COCO
 * names. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caffe.h"
#include "tfjs.h"

static int usage(void)
{
    fprintf(stderr,
            "usage: clssd-convert caffe DEPLOY.prototxt (WEIGHTS.caffemodel | --random SEED) "
            "OUT.clssd\n"
            "       [--mean B,G,R] [--scale S] [--rgb] [--input WxH] [--labelmap FILE] "
            "[--name NAME]\n"
            "       clssd-convert tfjs MODEL.json OUT.clssd [--name NAME]\n");
    return 2;
}

static void summary(const clssd_graph *g, const char *out_path, const char *extra)
{
    long long params = 0;
    for (int32_t t = 0; t < g->n_tensors; t++) params += (long long)clssd__shape_count(&g->tensors[t].shape);
    const clssd_node *nms = &g->nodes[g->output];
    printf("%s: %s, %d nodes, %lld parameters, input %dx%d, %d classes, %zu priors%s\n", out_path,
           g->name, g->n_nodes, params, g->nodes[g->input].out.w, g->nodes[g->input].out.h,
           nms->p.nms.n_classes, clssd__shape_count(&g->nodes[nms->src[0]].out) / 4, extra);
}

static int convert_tfjs(int argc, char **argv)
{
    if (argc != 4 && !(argc == 6 && !strcmp(argv[4], "--name"))) return usage();
    tfjs_import_options o;
    tfjs_import_options_init(&o);
    if (argc == 6) o.name = argv[5];
    char err[640] = "";
    clssd_graph g;
    clssd__graph_init(&g);
    int rc = 1;
    clssd_status s = tfjs_load_graph(argv[2], &o, &g, err, sizeof err);
    if (s != CLSSD_OK) {
        fprintf(stderr, "clssd-convert: %s\n", err);
    } else if ((s = clssd__file_save(&g, argv[3], err, sizeof err)) != CLSSD_OK) {
        fprintf(stderr, "clssd-convert: %s: %s\n", argv[3], err);
    } else {
        summary(&g, argv[3], "");
        rc = 0;
    }
    clssd__graph_free(&g);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && !strcmp(argv[1], "tfjs")) return convert_tfjs(argc, argv);
    if (argc < 5 || strcmp(argv[1], "caffe") != 0) return usage();
    const char *deploy_path = argv[2], *weights_path = NULL, *out_path;
    long long seed = -1;
    int i = 3;
    if (!strcmp(argv[i], "--random")) {
        if (argc < 6) return usage();
        seed = atoll(argv[i + 1]);
        i += 2;
    } else {
        weights_path = argv[i++];
    }
    out_path = argv[i++];
    caffe_import_options o;
    caffe_import_options_init(&o);
    const char *labelmap_path = NULL;
    for (; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--rgb")) {
            o.bgr = 0;
            continue;
        }
        if (!v) return usage();
        if (!strcmp(a, "--mean")) {
            if (sscanf(v, "%f,%f,%f", &o.mean[0], &o.mean[1], &o.mean[2]) != 3) return usage();
        } else if (!strcmp(a, "--scale")) {
            o.scale = strtof(v, NULL);
        } else if (!strcmp(a, "--input")) {
            if (sscanf(v, "%dx%d", &o.input_w, &o.input_h) != 2) return usage();
        } else if (!strcmp(a, "--labelmap")) {
            labelmap_path = v;
        } else if (!strcmp(a, "--name")) {
            o.name = v;
        } else {
            return usage();
        }
        i++;
    }

    char err[640] = "";
    clssd_graph g;
    clssd__graph_init(&g);
    int rc = 1;
    clssd_status s = caffe_load_graph(deploy_path, weights_path, &o, labelmap_path,
                                      seed >= 0 ? (uint64_t)seed : 0, &g, err, sizeof err);
    if (s != CLSSD_OK) {
        fprintf(stderr, "clssd-convert: %s\n", err);
        goto done;
    }
    s = clssd__file_save(&g, out_path, err, sizeof err);
    if (s != CLSSD_OK) {
        fprintf(stderr, "clssd-convert: %s: %s\n", out_path, err);
        goto done;
    }
    summary(&g, out_path, seed >= 0 ? " (random weights)" : "");
    rc = 0;
done:
    clssd__graph_free(&g);
    return rc;
}
