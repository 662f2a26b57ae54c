/* libclssd — SSD (Single Shot MultiBox Detector) on OpenCL.
 *
 * Public API. Needs no OpenCL headers. Every function returns a clssd_status;
 * every _create/_load has exactly one _destroy, and _destroy(NULL) is a no-op.
 * Outputs go into caller-provided arrays. A context is used by one thread at a
 * time; separate contexts are independent. The library never exits or aborts. */
#ifndef CLSSD_H
#define CLSSD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(CLSSD_SHARED_BUILD)
#define CLSSD_API __declspec(dllexport)
#elif defined(__GNUC__)
#define CLSSD_API __attribute__((visibility("default")))
#else
#define CLSSD_API
#endif

#define CLSSD_VERSION_MAJOR 0
#define CLSSD_VERSION_MINOR 1
#define CLSSD_VERSION_PATCH 0

typedef enum clssd_status {
    CLSSD_OK = 0,
    /*   -1 ..  -999 : OpenCL error codes, passed through unchanged (CL_* values)     */
    /* -1000 .. -2999: CLBlast status codes, passed through unchanged                 */
    CLSSD_ERR_INVALID_ARG = -3001,
    CLSSD_ERR_OUT_OF_MEMORY = -3002,
    CLSSD_ERR_NO_DEVICE = -3003,
    CLSSD_ERR_UNSUPPORTED = -3004,
    CLSSD_ERR_KERNEL_BUILD = -3005, /* build log in clssd_last_error() */
    CLSSD_ERR_IO = -3006,
    CLSSD_ERR_BAD_MODEL = -3007,
    CLSSD_ERR_BUFFER_TOO_SMALL = -3008,
    CLSSD_ERR_BAD_IMAGE = -3009
} clssd_status;

typedef struct clssd_context clssd_context; /* device, cl_context, queue, program cache */
typedef struct clssd_model clssd_model;     /* graph + device weights; borrows a context */

enum { CLSSD_CTX_PROFILING = 1u << 0 };

/* The `level` a log callback receives. */
enum { CLSSD_LOG_INFO = 1, CLSSD_LOG_WARN = 2, CLSSD_LOG_ERROR = 3 };

typedef struct clssd_context_params {
    uint32_t struct_size; /* = sizeof(clssd_context_params); lets the ABI grow */
    int platform, device; /* -1: env CLSSD_DEVICE="P:D" (or CLSSD_PLATFORM/CLSSD_DEVICE
                             as plain indices), else the first GPU, else device 0:0 */
    const char *cache_dir; /* NULL: env CLSSD_CACHE_DIR, else $XDG_CACHE_HOME/clssd or
                              ~/.cache/clssd; "off": no binary cache. Its clblast/<device>/
                              holds CLBlast tuning results (docs/tuning.md) */
    uint32_t flags;        /* CLSSD_CTX_* */
    void (*log)(int level, const char *msg, void *user); /* CLSSD_LOG_*; NULL: silent */
    void *log_user;
} clssd_context_params;

/* One OpenCL device as enumerated by clssd_device_list(). */
typedef struct clssd_device_info {
    int platform, device;
    char platform_name[128];
    char device_name[128];
    char driver_version[64];
    int is_gpu;
    uint32_t compute_units;
    uint64_t global_mem_bytes;
} clssd_device_info;

typedef struct clssd_detection {
    int32_t label; /* class index in the model's label list; 0 is background for SSD */
    float score;
    float xmin, ymin, xmax, ymax; /* pixels of the original image, 0-based continuous */
} clssd_detection;

typedef struct clssd_detect_params {
    uint32_t struct_size;
    float conf_thresh;  /* keep score > conf_thresh (strict), default 0.01 */
    float nms_thresh;   /* per-class NMS IoU, default 0.45 */
    int32_t top_k;      /* candidates per class before NMS, default 400 */
    int32_t keep_top_k; /* detections per image after NMS, default 200 */
} clssd_detect_params;

/* An 8-bit RGB image, rows of `stride` bytes (>= 3*width). */
typedef struct clssd_image {
    const uint8_t *rgb;
    int32_t width, height, stride;
} clssd_image;

/* Parameters of the SSD builder: a base network + extras + multibox heads. */
typedef struct clssd_ssd_params {
    uint32_t struct_size; /* = sizeof(clssd_ssd_params); a smaller one from an older
                             header leaves the later fields at their defaults */
    int32_t input_size; /* VGG16: 300 or 512 use the reference tables; others use the
                           ssd_pascal.py generator */
    int32_t n_classes;  /* incl. background: 21 (VOC), 81 (COCO), or any >= 2 */
    int32_t width_div;  /* channel divisor for small test nets; 1 = the real SSD */
    uint64_t seed;      /* weight initialisation seed */
    int32_t init;       /* CLSSD_INIT_* */
    int32_t arch;       /* CLSSD_ARCH_VGG16 (0, default): the paper's SSD; CLSSD_ARCH_TINY
                           (1): a small VGG-style SSD for any input size >= 64 */
} clssd_ssd_params;

enum { CLSSD_ARCH_VGG16 = 0, /* VGG16 base, fc6/fc7, conv6..conv9 (conv10 at 512) */
       CLSSD_ARCH_TINY = 1   /* 7 narrow 3x3 convs + 4 max-pools, 3 stride-2 extras, 5 sources
                                at strides 8..128; inputs scaled by 1/64 (from-scratch training) */
};

enum { CLSSD_INIT_XAVIER = 0, /* Caffe "xavier": U(-a, a), a = sqrt(3 / fan_in) */
       CLSSD_INIT_MSRA = 1    /* N(0, 2 / fan_in): keeps random-weight activations alive */
};

typedef struct clssd_model_info {
    int32_t input_width, input_height, input_channels;
    int32_t n_classes;
    int32_t n_priors;
    int32_t n_nodes;
    int64_t n_params;
    const char *name; /* owned by the model */
} clssd_model_info;

CLSSD_API const char *clssd_status_string(clssd_status s); /* static storage */
CLSSD_API const char *clssd_version_string(void);

/* Devices */
CLSSD_API clssd_status clssd_device_list(clssd_device_info *out, size_t cap, size_t *n);

/* Contexts */
CLSSD_API void clssd_context_params_init(clssd_context_params *p);
CLSSD_API clssd_status clssd_context_create(const clssd_context_params *p,
                                            clssd_context **out);
CLSSD_API void clssd_context_destroy(clssd_context *ctx);
/* "file:line: call -> detail" of the last failure in this context; "" if none. */
CLSSD_API const char *clssd_last_error(const clssd_context *ctx);
CLSSD_API clssd_status clssd_context_device(const clssd_context *ctx, clssd_device_info *out);
/* Builds every embedded program now (fills the binary cache). */
CLSSD_API clssd_status clssd_context_fill_cache(clssd_context *ctx);

/* Models */
CLSSD_API void clssd_ssd_params_init(clssd_ssd_params *p, int32_t input_size, int32_t n_classes);
CLSSD_API clssd_status clssd_model_create_ssd(clssd_context *ctx, const clssd_ssd_params *p,
                                              clssd_model **out);
CLSSD_API clssd_status clssd_model_load(clssd_context *ctx, const char *path,
                                        clssd_model **out);
CLSSD_API clssd_status clssd_model_save(const clssd_model *m, const char *path);
CLSSD_API void clssd_model_destroy(clssd_model *m);
CLSSD_API clssd_status clssd_model_get_info(const clssd_model *m, clssd_model_info *out);
/* Label name of class `label`, or NULL when the model carries no names. */
CLSSD_API const char *clssd_model_label(const clssd_model *m, int32_t label);

/* Caffe SSD models (deploy .prototxt + .caffemodel), loaded directly. The prototxt cannot
 * carry the preprocessing, so it is given here. */
typedef struct clssd_caffe_params {
    uint32_t struct_size;
    int32_t input_width, input_height; /* 0: the prototxt's input size */
    float mean[3];                     /* subtracted, network channel order (default 0) */
    float scale;                       /* multiplied after the mean (default 1) */
    int32_t bgr;                       /* network channel order is BGR (default 1, Caffe's) */
    const char *labelmap_path;         /* labelmap*.prototxt with class names, or NULL */
    const char *name;                  /* model name, NULL: the prototxt's */
} clssd_caffe_params;

CLSSD_API void clssd_caffe_params_init(clssd_caffe_params *p);
/* weights_path NULL: weights of the right shapes, seeded random (for definitions only). */
CLSSD_API clssd_status clssd_model_load_caffe(clssd_context *ctx, const char *deploy_path,
                                              const char *weights_path,
                                              const clssd_caffe_params *p, clssd_model **out);

/* TensorFlow.js graph models of TensorFlow Object Detection API SSDs (model.json with its
 * weight shards beside it), loaded directly; the graph's own preprocessing (resize, pixel
 * scaling) is kept. 91-class COCO models get the COCO category names. */
CLSSD_API clssd_status clssd_model_load_tfjs(clssd_context *ctx, const char *model_json_path,
                                             clssd_model **out);

/* Detection */
/* The SSD paper's settings (0.01, 0.45, 400, 200). */
CLSSD_API void clssd_detect_params_init(clssd_detect_params *p);
/* The model's own settings: what p == NULL in clssd_detect means. */
CLSSD_API clssd_status clssd_model_detect_params(const clssd_model *m, clssd_detect_params *p);
/* p == NULL: the model's own post-processing settings (for the SSD builder's models the
 * reference ones above; for imported models those of their DetectionOutput layer).
 * One image. `*n_dets` receives the number found; if it exceeds `cap` the call
 * returns CLSSD_ERR_BUFFER_TOO_SMALL with *n_dets set to the number needed. */
CLSSD_API clssd_status clssd_detect(clssd_model *m, const uint8_t *rgb, int32_t width,
                                    int32_t height, int32_t stride,
                                    const clssd_detect_params *p, clssd_detection *dets,
                                    size_t cap, size_t *n_dets);
/* A batch: detections of image i are dets[offset_i .. offset_i + counts[i]), images in
 * order; counts has n_images entries. *n_total receives the sum (or the size needed). */
CLSSD_API clssd_status clssd_detect_batch(clssd_model *m, const clssd_image *images,
                                          size_t n_images, const clssd_detect_params *p,
                                          clssd_detection *dets, size_t cap, size_t *counts,
                                          size_t *n_total);

#ifdef __cplusplus
}
#endif
#endif /* CLSSD_H */
