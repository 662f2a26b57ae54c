/* Internal types shared between libclssd's files. Every cross-file internal
 * symbol is named clssd__*; file-local helpers are static. */
#ifndef CLSSD_INTERNAL_H
#define CLSSD_INTERNAL_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#ifndef CL_USE_DEPRECATED_OPENCL_1_2_APIS
#define CL_USE_DEPRECATED_OPENCL_1_2_APIS
#endif
#include <CL/cl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "clssd.h"

/* ---------------------------------------------------------------- core */
#define CLSSD_TRY(expr)                                                                          \
    do {                                                                                         \
        clssd_status s_ = (expr);                                                                \
        if (s_ != CLSSD_OK) return s_;                                                           \
    } while (0)

#define CLSSD_MAX_SRC 8
#define CLSSD_NAME_LEN 64

/* Overflow-checked size arithmetic: returns 0 and leaves *out untouched on overflow. */
int clssd__mul_size(size_t a, size_t b, size_t *out);
int clssd__add_size(size_t a, size_t b, size_t *out);

/* Allocation goes through these so tests can inject failures. */
void *clssd__malloc(size_t n);
void *clssd__calloc(size_t n, size_t size);
void *clssd__realloc(void *p, size_t n);
void clssd__free(void *p);
/* Test hook: the n-th allocation from now fails (n >= 1); 0 disables. Thread-local. */
void clssd__alloc_fail_after(long n);
/* Test hook: allocations left before the injected failure, 0 once it has fired (or none was
 * set). Tells a call that never reached its n-th allocation from one that survived it. */
long clssd__alloc_fail_pending(void);
/* Test hook: blocks from clssd__malloc/calloc/realloc not yet given to clssd__free, over all
 * threads. A call that fails must leave it where it found it (tests/test_faults.c). */
long clssd__alloc_live(void);

/* "<path>.tmp.<pid>.<serial>": a temporary name no other process or thread uses at the same
 * time, to write a file beside `path` and rename() it into place (src/core/tmp_name.c). */
void clssd__tmp_name(char *out, size_t size, const char *path);

/* UTF-8 (src/core/utf8.c). Length of the well-formed sequence at s (n bytes available; 1
 * for ASCII), 0 if malformed: overlong forms, surrogates and code points past U+10FFFF. */
size_t clssd__utf8_len(const unsigned char *s, size_t n);
/* Writes code point cp as UTF-8 to dst unless dst is NULL; returns its length (1..4). */
size_t clssd__utf8_put(char *dst, uint32_t cp);

/* xorshift RNG; the state is always explicit. */
typedef struct clssd_rng {
    uint64_t s;
} clssd_rng;
void clssd__rng_seed(clssd_rng *r, uint64_t seed);
uint64_t clssd__rng_u64(clssd_rng *r);
float clssd__rng_uniform(clssd_rng *r);                 /* [0, 1) */
float clssd__rng_range(clssd_rng *r, float lo, float hi); /* [lo, hi) */
float clssd__rng_normal(clssd_rng *r);                  /* N(0, 1) */

/* ---------------------------------------------------------------- shapes, graph */
typedef struct clssd_shape {
    int32_t n, c, h, w; /* per-image shapes have n = 1 */
} clssd_shape;
size_t clssd__shape_count(const clssd_shape *s); /* n*c*h*w, 0 on overflow */
/* *out = {1, c, h, w} for a spatial op's output (conv, pool), or CLSSD_ERR_BAD_MODEL with a
 * message when it has no values or more than INT32_MAX (the kernels index with int). */
clssd_status clssd__spatial_out(int32_t c, int64_t h, int64_t w, clssd_shape *out, char *err,
                                size_t err_size);

typedef enum clssd_op {
    CLSSD_OP_INPUT,      /* the network input: float NCHW, preprocessed */
    CLSSD_OP_CONV2D,     /* im2col + GEMM (thin groups: direct); bias; dilation; fused ReLU(6) */
    CLSSD_OP_RELU,       /* with negative_slope */
    CLSSD_OP_POOL,       /* max/average, Caffe ceil rounding */
    CLSSD_OP_L2NORM,     /* Normalize, per-channel scale */
    CLSSD_OP_PERMUTE,    /* NCHW -> NHWC (order 0,2,3,1), flattened */
    CLSSD_OP_CONCAT,     /* along `axis` of the flattened [outer, inner] view */
    CLSSD_OP_SOFTMAX,    /* over groups of `group` consecutive values */
    CLSSD_OP_PRIORBOX,   /* Caffe PriorBox: out [1, 2, P*4] (boxes, then variances) */
    CLSSD_OP_DECODE,     /* CENTER_SIZE decode with per-prior variances: [N, P*4] */
    CLSSD_OP_NMS,        /* per-class top_k + greedy NMS + keep_top_k */
    CLSSD_OP_PREPROCESS, /* u8 RGB image -> bilinear resize -> channel order, mean, scale */
    CLSSD_OP_ELTWISE,    /* Caffe Eltwise: PROD, SUM (with coefficients), MAX of n inputs */
    CLSSD_OP_SCALE,      /* per-channel y = x * s[c] (+ b[c]): BatchNorm/Scale not folded */
    CLSSD_OP_SIGMOID,    /* y = 1 / (1 + exp(-x)), element-wise */
    CLSSD_OP_CONST,      /* output = the weight tensor; batch_const (e.g. stored anchors) */
    CLSSD_OP_COUNT
} clssd_op; /* append-only once released: the .clssd file names ops by their table name */

enum { CLSSD_POOL_MAX = 0, CLSSD_POOL_AVE = 1 };
enum { CLSSD_ELTWISE_PROD = 0, CLSSD_ELTWISE_SUM = 1, CLSSD_ELTWISE_MAX = 2 }; /* Caffe's numbers */
/* PREPROCESS source-coordinate rule (docs/ops.md): HALF_PIXEL is OpenCV INTER_LINEAR / Caffe's
 * warp; TF_LEGACY is TensorFlow ResizeBilinear with align_corners = half_pixel_centers = false. */
enum { CLSSD_RESIZE_HALF_PIXEL = 0, CLSSD_RESIZE_TF_LEGACY = 1 };

typedef union clssd_op_params {
    struct {
        int32_t cout, kh, kw, sh, sw, ph, pw, dh, dw, groups;
        uint8_t relu; /* fused ReLU after bias */
        /* extra zero rows / columns at the bottom / right only (TensorFlow "SAME" with an
         * odd total padding): the padded input is H + 2*ph + ph_extra high */
        int32_t ph_extra, pw_extra;
        float relu_max; /* with relu: y = min(max(y, 0), relu_max) when > 0 (ReLU6); 0 = none */
    } conv;
    struct {
        float negative_slope;
        float max; /* > 0: y = min(y, max) after the (leaky) ReLU (ReLU6); 0 = none */
    } relu;
    struct {
        int32_t method, kh, kw, sh, sw, ph, pw;
        uint8_t global;
    } pool;
    struct {
        float eps;
        uint8_t across_spatial, channel_shared;
    } l2norm;
    struct {
        int32_t axis; /* 1: channels of NCHW (flattened inner dims) */
    } concat;
    struct {
        int32_t group; /* classes per prior */
    } softmax;
    struct {
        float min_size[4], max_size[4]; /* n_min entries; max may be fewer (0 or n_min) */
        float ar[6];                    /* as given, before flip/dedup */
        float var[4];
        float step_w, step_h;           /* 0: img / layer size */
        float offset;
        int32_t n_min, n_max, n_ar, n_var;
        int32_t img_w, img_h;           /* 0: the network input's size */
        uint8_t flip, clip;
    } prior;
    struct {
        int32_t n_classes, background, top_k, keep_top_k;
        float conf_thresh, nms_thresh;
    } nms;
    struct {
        int32_t method;              /* CLSSD_ELTWISE_* */
        float coeff[CLSSD_MAX_SRC];  /* SUM only; n_coeff = 0 means all 1 */
        int32_t n_coeff;
    } eltwise;
    struct {
        int32_t out_w, out_h;
        float mean[3];   /* subtracted, in the network's channel order */
        float scale;     /* multiplied after the mean */
        uint8_t bgr;     /* network channel order is BGR */
        int32_t resize;  /* CLSSD_RESIZE_* */
    } pre;
} clssd_op_params;

/* Output layout of CLSSD_OP_NMS, per image: rows of 7 floats; row 0 is
 * [count, 0...]; rows 1..count are [label, score, xmin, ymin, xmax, ymax, prior]
 * in normalized, unclipped coordinates, grouped by ascending label, by descending
 * score inside a label (ties: lower prior index first). */
#define CLSSD_NMS_ROW 7

typedef struct clssd_node {
    char name[CLSSD_NAME_LEN];
    clssd_op op;
    int32_t src[CLSSD_MAX_SRC]; /* node indices */
    int32_t n_src;
    int32_t weight, bias; /* tensor indices, -1: none */
    clssd_op_params p;
    clssd_shape out;      /* per-image output shape (n = 1); set by infer */
    uint8_t batch_const;  /* output is the same for every image (priors, CONST) */
    uint8_t algo; /* run-time choice of implementation (CONV2D: clssd_conv_algo); not saved */
} clssd_node;

/* How a CONV2D node runs. AUTO resolves by device type; clssd__model_tune() measures the
 * candidates per layer and device, and caches the winner beside the program binaries. */
typedef enum clssd_conv_algo {
    CLSSD_CONV_AUTO = 0,
    CLSSD_CONV_IM2COL_CLBLAST = 1, /* im2col + CLBlastSgemm (1x1: the input is the B matrix) */
    CLSSD_CONV_PACKED = 2,         /* packed im2col + cl/gemm.cl, bias/ReLU fused; CPU-class */
    CLSSD_CONV_DIRECT = 3,         /* one direct sum per output; thin groups (depthwise) */
    CLSSD_CONV_PACKED16 = 4,       /* PACKED with 16-row tiles: wide layers with few channels */
    CLSSD_CONV_ALGO_COUNT
} clssd_conv_algo;

typedef struct clssd_tensor {
    char name[CLSSD_NAME_LEN];
    clssd_shape shape;
    float *data; /* host copy, owned by the graph */
} clssd_tensor;

typedef struct clssd_graph {
    clssd_node *nodes;
    int32_t n_nodes, cap_nodes;
    clssd_tensor *tensors;
    int32_t n_tensors, cap_tensors;
    int32_t input;  /* node index of the INPUT */
    int32_t output; /* node index of the NMS (final) node */
    clssd_op_params pre; /* preprocessing for the detect API */
    char name[CLSSD_NAME_LEN];
    char **labels; /* n_labels strings or NULL */
    int32_t n_labels;
} clssd_graph;

void clssd__graph_init(clssd_graph *g);
void clssd__graph_free(clssd_graph *g);
/* Appends a node; returns its index or -1 (out of memory / bad source). */
int32_t clssd__graph_add(clssd_graph *g, const char *name, clssd_op op,
                         const clssd_op_params *p, const int32_t *src, int32_t n_src);
/* Weights in floats: 512 MiB. The largest SSDs have about 27M parameters (VGG16 SSD512), so
 * this leaves 5x headroom while a hostile file (a prototxt's num_output, a TF.js manifest)
 * cannot ask for gigabytes. clssd__graph_add_tensor refuses a larger tensor; an importer
 * that sizes tensors from a file that does not hold their data (a prototxt without its
 * caffemodel) also keeps the graph's total under it. */
#define CLSSD_GRAPH_MAX_WEIGHT_FLOATS ((size_t)1 << 27)
/* Appends a tensor with zeroed data; returns its index or -1 (out of memory, or more than
 * CLSSD_GRAPH_MAX_WEIGHT_FLOATS values). */
int32_t clssd__graph_add_tensor(clssd_graph *g, const char *name, clssd_shape shape);
int32_t clssd__graph_find_node(const clssd_graph *g, const char *name);
int32_t clssd__graph_find_tensor(const clssd_graph *g, const char *name);
/* Runs every node's infer in order; on error writes a message naming the node. */
clssd_status clssd__graph_infer(clssd_graph *g, char *err, size_t err_size);

/* ---------------------------------------------------------------- reference (plain C) */
typedef struct clssd_ref_args {
    const clssd_node *node;
    int32_t batch;
    const float *src[CLSSD_MAX_SRC];
    clssd_shape src_shape[CLSSD_MAX_SRC]; /* per image (n = 1) */
    int32_t n_src;
    const float *weight, *bias;
    clssd_shape weight_shape;
    float *dst; /* batch * count(node->out), or count(out) if batch_const */
    /* CLSSD_OP_PREPROCESS only: one u8 RGB image per batch entry */
    const clssd_image *images;
} clssd_ref_args;

/* Geometry shared by the forward references and the backward ones (src/train/): one
 * definition of each output-size and window rule. */
typedef struct clssd_pool_geom {
    int32_t C, H, W, kh, kw, sh, sw, ph, pw, Ho, Wo; /* global pooling already resolved */
} clssd_pool_geom;
/* Resolves and checks a POOL node's geometry against its input and output shapes. */
clssd_status clssd__pool_ref_geom(const clssd_ref_args *a, clssd_pool_geom *q);
/* Output (i, j)'s window clipped to the image, [hs, he) x [ws, we), and AVE's divisor. */
void clssd__pool_window(const clssd_pool_geom *q, int32_t i, int32_t j, int32_t *hs,
                        int32_t *he, int32_t *ws, int32_t *we, int32_t *pool_size);
/* Output size of a dilated convolution with p zeros before and p + extra after the input;
 * -1 when the kernel does not fit. */
int32_t clssd__conv_out(int32_t in, int32_t k, int32_t s, int32_t p, int32_t extra, int32_t d);

/* ---------------------------------------------------------------- OpenCL runtime */
typedef struct clssd_program_entry {
    char stem[32];
    cl_program program;
} clssd_program_entry;

struct clssd_context {
    cl_platform_id platform;
    cl_device_id device;
    cl_context cl;
    cl_command_queue queue;
    int owns_cl; /* 0 when wrapping user objects (retained, released on destroy) */
    clssd_device_info info;
    char cache_dir[512]; /* "" = off */
    char build_options[256];
    uint32_t flags;
    size_t max_wg;
    cl_ulong max_alloc;
    cl_ulong local_mem;
    clssd_program_entry programs[32];
    int n_programs;
    void (*log)(int level, const char *msg, void *user);
    void *log_user;
    char err[1024];
    /* statistics for clssd-bench */
    double build_ms_total;
    int cache_hits, cache_misses;
    int algo_measured, algo_cached; /* conv algorithm choices timed now / read from the cache */
    int clblast_overrides; /* CLBlast parameter sets applied from the tuning directory */
    /* Per-kernel profiling (CLSSD_CTX_PROFILING): while prof_node >= 0 every enqueue of the
     * library (kernels, CLBlast calls, copies) records its event against that node;
     * clssd__prof_collect() turns the events into device time per node. */
    int32_t prof_node;
    struct clssd_prof_event {
        int32_t node;
        cl_event ev;
    } *prof;
    size_t n_prof, cap_prof;
};

/* An event slot for the next enqueue, or NULL when profiling is off (or out of memory, in
 * which case that enqueue goes unrecorded). Pass it as the call's event argument. */
cl_event *clssd__prof_slot(clssd_context *ctx);
/* Waits for the queue, adds each recorded event's END - START (ms) to node_ms[node] (an
 * array of n_nodes the caller zeroes), releases the events and empties the list. */
clssd_status clssd__prof_collect(clssd_context *ctx, double *node_ms, int32_t n_nodes);
/* Releases recorded events without reading them. */
void clssd__prof_clear(clssd_context *ctx);

/* SHA-256 (hex) over head, then the platform's name and version and the device's name,
 * version and driver version, one per line: the key of every per-device cache file (program
 * binaries, conv algorithm choices, CLBlast tuning), so a driver update never reads old ones. */
void clssd__device_key(cl_platform_id platform, cl_device_id device, const char *head,
                       char hex[65]);

/* Sends a message to the context's log callback (if any) at level CLSSD_LOG_*; unlike
 * clssd__fail it leaves ctx->err alone. */
void clssd__log(const clssd_context *ctx, int level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* CLBlast's own tuning, per device (src/cl/clblast_tune.c, docs/tuning.md). The results of
 * CLBlast's tuners (clblast_*.json) in <cache_dir>/clblast/<key>/, key = SHA-256 over
 * "clssd-clblast-v1", platform name and version, device name and version, driver version. */
void clssd__clblast_tune_dir(const char *cache_dir, cl_platform_id platform, cl_device_id device,
                             char *out, size_t size);
/* The same for device P:D of clssd_device_list() under the default cache directory (the one a
 * context created with cache_dir NULL uses); out is "" when that is "off" or unset. */
clssd_status clssd__clblast_tune_dir_for(int platform, int device, char *out, size_t size);
/* At context creation: applies every tuning file of the context's device through
 * CLBlastOverrideParameters (a bad file is skipped with a warning), then checks CLBlastSgemm
 * against the host. Fails with CLSSD_ERR_KERNEL_BUILD when CLBlast then fails or computes
 * wrong (the message names the files, which are renamed to *.rejected), or with the check's
 * own error (memory, transfers). No cache directory or no tuning directory: nothing happens. */
clssd_status clssd__clblast_tune_apply(clssd_context *ctx);

/* Records a failure "file:line: what -> detail" in ctx->err and returns s. */
clssd_status clssd__fail(clssd_context *ctx, clssd_status s, const char *file, int line,
                         const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;
#define CLSSD_FAIL(ctx, s, ...) clssd__fail((ctx), (s), __FILE__, __LINE__, __VA_ARGS__)
#define CLSSD_CL(ctx, call)                                                                      \
    do {                                                                                         \
        cl_int e_ = (call);                                                                      \
        if (e_ != CL_SUCCESS)                                                                    \
            return clssd__fail((ctx), (clssd_status)e_, __FILE__, __LINE__, "%s -> %s", #call,   \
                               clssd__cl_error_name(e_));                                        \
    } while (0)
const char *clssd__cl_error_name(cl_int e);

/* Embedded kernel sources (generated at build time from cl/). */
typedef struct clssd_cl_source {
    const char *stem;
    const unsigned char *text; /* common.clh + <stem>.cl, NUL-terminated */
    size_t size;
    const char *sha256_hex;
} clssd_cl_source;
extern const clssd_cl_source clssd__cl_sources[];
extern const size_t clssd__cl_n_sources;

/* Returns a kernel of the embedded program `stem` (built or loaded from the cache
 * on first use). The caller releases the kernel. */
clssd_status clssd__kernel(clssd_context *ctx, const char *stem, const char *kernel_name,
                           cl_kernel *out);
clssd_status clssd__program(clssd_context *ctx, const char *stem, cl_program *out);

/* Sets kernel args from (size, pointer) pairs: clssd__args(ctx, k, 3, sizeof(cl_mem), &a, ...). */
clssd_status clssd__set_args(clssd_context *ctx, cl_kernel k, int n, ...);
/* Enqueues a 1-D or 2-D range; global sizes are rounded up to the local size. */
clssd_status clssd__enqueue(clssd_context *ctx, cl_kernel k, cl_uint dims, const size_t *global,
                            const size_t *local);
/* Buffers */
clssd_status clssd__buffer(clssd_context *ctx, size_t bytes, cl_mem_flags flags, cl_mem *out);
/* The same; a failure's message names the buffer by `what` ("node 'conv1' output, batch 8").
 * A request above CL_DEVICE_MAX_MEM_ALLOC_SIZE fails with CLSSD_ERR_UNSUPPORTED before the
 * driver sees it; a driver refusal returns its CL_* status. */
clssd_status clssd__buffer_for(clssd_context *ctx, size_t bytes, cl_mem_flags flags, cl_mem *out,
                               const char *what);

void clssd__sha256(const void *data, size_t n, uint8_t out[32]);
void clssd__sha256_hex(const void *data, size_t n, char out[65]);

/* ---------------------------------------------------------------- execution */
typedef struct clssd_exec {
    clssd_context *ctx;
    const clssd_graph *g;
    int32_t batch;     /* images in this run */
    int32_t max_batch; /* buffers are sized for this */
    cl_mem *bufs;      /* per node output */
    cl_mem *weights;   /* per graph tensor */
    cl_mem *aux;       /* per node: op-private device data from prepare (packed weights) */
    int no_fuse;       /* 1: no sibling fusion (the tuner times nodes one by one) */
    cl_mem workspace;  /* shared scratch, ws_bytes */
    size_t ws_bytes;
    cl_mem image_u8;   /* PREPROCESS input: packed images */
    size_t image_bytes;
    cl_mem image_desc; /* PREPROCESS: int4 per image {offset, w, h, stride} */
    cl_int image_desc_host[4 * 64]; /* its source: must outlive the non-blocking write */
    /* the detect parameters override the NMS node's */
    const clssd_detect_params *detect;
} clssd_exec;

typedef struct clssd_op_desc {
    const char *name;
    const char *program; /* embedded .cl stem, NULL = host/CLBlast only */
    /* Sets n->out from the sources' shapes; writes a reason into err on failure. */
    clssd_status (*infer)(const clssd_graph *g, clssd_node *n, char *err, size_t err_size);
    /* Bytes of shared scratch one forward of this node needs at `batch`. */
    size_t (*workspace)(const clssd_graph *g, const clssd_node *n, int32_t batch);
    clssd_status (*forward_cl)(clssd_exec *ex, const clssd_node *n);
    clssd_status (*forward_ref)(const clssd_ref_args *a);
    /* Optional: once per plan, after the weights are on the device (and again when the node's
     * algo changes): builds ex->aux[node]. */
    clssd_status (*prepare)(clssd_exec *ex, const clssd_node *n);
    float tol_abs, tol_rel; /* fp32 tolerances, used by tests and bench */
    double (*flops)(const clssd_graph *g, const clssd_node *n); /* per image */
} clssd_op_desc;

extern const clssd_op_desc clssd__ops[CLSSD_OP_COUNT];

/* Convolution algorithms (src/ops/conv2d.c) and their per-device choice (src/model/tune.c). */
int clssd__conv2d_algo_ok(const clssd_graph *g, const clssd_node *n, int algo);
/* The algorithm a node runs: its own choice, else CLSSD_CONV_ALGO from the environment
 * (where that one can run the node), else the device-type default. */
int clssd__conv2d_algo(const clssd_context *ctx, const clssd_graph *g, const clssd_node *n);
const char *clssd__conv2d_algo_name(int algo);
int clssd__conv2d_algo_from_name(const char *name); /* -1 if unknown */
clssd_status clssd__conv2d_prepare(clssd_exec *ex, const clssd_node *n);
/* Picks each CONV2D node's algorithm (n->algo) for ctx's device: from the per-device choice
 * file in the cache directory, else by timing the candidates on ex (then saved). Nodes with
 * one candidate, a CLSSD_CONV_ALGO override or no cache directory are not timed. */
clssd_status clssd__model_tune(clssd_context *ctx, clssd_graph *g, clssd_exec *ex);
int clssd__op_from_name(const char *name); /* -1 if unknown */

/* Per-op functions (src/ops/<op>.c and src/ref/<op>_ref.c) */
#define CLSSD__DECLARE_OP(op)                                                                    \
    clssd_status clssd__##op##_infer(const clssd_graph *g, clssd_node *n, char *err,            \
                                     size_t err_size);                                          \
    clssd_status clssd__##op##_cl(clssd_exec *ex, const clssd_node *n);                          \
    clssd_status clssd__##op##_ref(const clssd_ref_args *a)
CLSSD__DECLARE_OP(input);
CLSSD__DECLARE_OP(conv2d);
CLSSD__DECLARE_OP(relu);
CLSSD__DECLARE_OP(pool);
CLSSD__DECLARE_OP(l2norm);
CLSSD__DECLARE_OP(permute);
CLSSD__DECLARE_OP(concat);
CLSSD__DECLARE_OP(softmax);
CLSSD__DECLARE_OP(priorbox);
CLSSD__DECLARE_OP(decode);
CLSSD__DECLARE_OP(nms);
CLSSD__DECLARE_OP(preprocess);
CLSSD__DECLARE_OP(eltwise);
CLSSD__DECLARE_OP(scale);
CLSSD__DECLARE_OP(sigmoid);
CLSSD__DECLARE_OP(const);
clssd_status clssd__preprocess_run(clssd_exec *ex, const clssd_op_params *pre, cl_mem dst);
size_t clssd__conv2d_workspace(const clssd_graph *g, const clssd_node *n, int32_t batch);
size_t clssd__nms_workspace(const clssd_graph *g, const clssd_node *n, int32_t batch);
double clssd__conv2d_flops(const clssd_graph *g, const clssd_node *n);

/* Prior-box helpers shared by infer, the kernel launcher and the reference:
 * the aspect-ratio list after Caffe's dedup and flip, led by 1. Returns its length. */
int32_t clssd__prior_aspect_ratios(const clssd_node *n, float out[16]);
int32_t clssd__prior_per_cell(const clssd_node *n);

/* Exec plan: device buffers for a graph at max_batch. */
clssd_status clssd__exec_create(clssd_context *ctx, const clssd_graph *g, int32_t max_batch,
                                clssd_exec **out);
void clssd__exec_destroy(clssd_exec *ex);
/* Runs nodes [first, last] for ex->batch images (batch_const nodes run once). */
clssd_status clssd__exec_run(clssd_exec *ex, int32_t first, int32_t last);

/* Plain-C forward of the whole graph: out[i] = host buffer for node i (allocated by
 * the callee, freed with clssd__ref_outputs_free). images: batch entries. */
clssd_status clssd__ref_forward(const clssd_graph *g, int32_t batch, const clssd_image *images,
                                const float *input, float ***out);
void clssd__ref_outputs_free(const clssd_graph *g, float **out);

/* ---------------------------------------------------------------- models */
/* Builds the SSD graph (no weights initialised): VGG16, or for p->arch == CLSSD_ARCH_TINY
 * clssd__ssd_small_build. Accepts a struct_size from an older clssd.h (later fields 0). */
clssd_status clssd__ssd_vgg_build(const clssd_ssd_params *p, clssd_graph *g, char *err,
                                  size_t err_size);
/* The small VGG-style SSD (src/model/ssd_small.c); p is a full-size struct. */
clssd_status clssd__ssd_small_build(const clssd_ssd_params *p, clssd_graph *g, char *err,
                                    size_t err_size);
/* Fills every weight tensor: conv weights from p->init, biases 0, L2Norm scale 20. */
void clssd__graph_init_weights(clssd_graph *g, uint64_t seed, int32_t init);

/* .clssd files (src/model/clssd_file.c) */
clssd_status clssd__file_save(const clssd_graph *g, const char *path, char *err,
                              size_t err_size);
clssd_status clssd__file_load(const char *path, clssd_graph *g, char *err, size_t err_size);
clssd_status clssd__file_load_mem(const void *data, size_t size, clssd_graph *g, char *err,
                                  size_t err_size);

/* Infers shapes and creates the device plan; takes ownership of *g (left empty). */
clssd_status clssd__model_from_graph(clssd_context *ctx, clssd_graph *g, clssd_model **out);

struct clssd_model {
    clssd_context *ctx;
    clssd_graph g;
    clssd_exec *ex;
    int32_t prior_node; /* node whose output holds the concatenated priors, or -1 */
};

#endif /* CLSSD_INTERNAL_H */
