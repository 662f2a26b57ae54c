/* Datasets: ground truth and detections for evaluation (issue 7) and training (issue 6).
 *
 * Readers for a VOC-layout directory (Annotations/<id>.xml + ImageSets/Main/<set>.txt),
 * the VOC TSV of shared/data/voc2007_test (one object per line), COCO instances JSON, and
 * for detections: clssd-detect's JSON and COCO results JSON. Everything is plain C (no
 * OpenCL); inputs may be hostile: every reader bounds what it allocates and fails
 * with a message instead of crashing.
 *
 * One box convention inside: 0-based continuous pixel coordinates [x1, y1, x2, y2], the
 * convention of COCO and of clssd-detect (x2 = x1 + width). A VOC box with 1-based inclusive
 * pixel indices xmin..xmax covers [xmin - 1, xmax] in it, so the readers store
 * x1 = xmin - 1, x2 = xmax; the VOC metric adds the 1 back (src/eval/voc_eval.c), so integer
 * VOC boxes are evaluated exactly as the devkit does. */
#ifndef CLSSD_DATASET_H
#define CLSSD_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "clssd.h"

/* Limits that stop hostile sizes before allocation. */
#define CLSSD_DATA_MAX_FILE ((size_t)1 << 30)     /* bytes of one annotation / JSON file */
#define CLSSD_DATA_MAX_IMAGES 10000000            /* images in one set                     */
#define CLSSD_DATA_MAX_OBJECTS 100000000          /* ground-truth objects or detections    */
#define CLSSD_DATA_MAX_CLASSES 100000             /* distinct class names                  */
#define CLSSD_DATA_MAX_NAME 4096                  /* bytes of an id, file or class name    */

typedef struct clssd_gt_object {
    int32_t image;     /* index into clssd_gt_set.images */
    int32_t cls;       /* index into clssd_gt_set.classes */
    double box[4];     /* x1, y1, x2, y2: 0-based continuous pixels (see above) */
    double area;       /* COCO's "area" when given (segment area), else box area */
    int64_t id;        /* COCO annotation id; VOC: 1-based running number */
    uint8_t difficult; /* VOC <difficult>1</difficult>, TSV column; COCO: "ignore" */
    uint8_t iscrowd;   /* COCO "iscrowd"; VOC: 0 */
} clssd_gt_object;

typedef struct clssd_gt_image {
    char *id;     /* VOC id ("000001"); COCO: the decimal image id */
    char *file;   /* image file: VOC JPEGImages/<id>.jpg (full path) if the directory was
                     given, COCO "file_name"; may be NULL (TSV) */
    int64_t coco_id; /* COCO image id; VOC: the id parsed as a number if it is one, else index */
    int32_t width, height; /* 0 when unknown */
} clssd_gt_image;

typedef struct clssd_gt_class {
    char *name;      /* "dog" */
    int64_t coco_id; /* COCO category id; VOC: 1-based index in VOC order */
} clssd_gt_class;

typedef struct clssd_gt_set {
    clssd_gt_image *images;
    size_t n_images;
    clssd_gt_class *classes;
    size_t n_classes;
    clssd_gt_object *objects; /* grouped by image in file order */
    size_t n_objects;
    int is_coco;              /* read from COCO JSON */
    /* Lookup tables for clssd__gt_find_*; the loaders build them (clssd__gt_index). NULL in a
     * set built by hand: the finds then scan linearly, as they do when the images or classes
     * array or count changed since the index was built (clssd__gt_keep_images); code that
     * edits ids, files or names in place must call clssd__gt_index again. Freed by
     * clssd__gt_free. */
    struct clssd_gt_index *index;
} clssd_gt_set;

/* The 20 PASCAL VOC class names in the devkit's order (aeroplane .. tvmonitor). */
extern const char *const clssd__voc_classes[20];

/* VOC-layout directory. image_set: "test" reads ImageSets/Main/test.txt (the first token of
 * each line; blank lines skipped; '\r' tolerated), and an image listed there whose
 * Annotations/<id>.xml is missing is an error (CLSSD_ERR_IO naming the file). NULL takes every
 * Annotations/<id>.xml file present (none: CLSSD_ERR_IO), in bytewise name order (ImageSets
 * is not read: shared/'s voc2007_test lists 4952 images but holds 18 annotation files). Image file:
 * <dir>/JPEGImages/<id>.jpg; ids must not contain '/' or '\\'. Reads
 * <filename>, <size><width>/<height>, every <object>'s <name>, <difficult> (absent = 0) and
 * <bndbox> xmin/ymin/xmax/ymax (numbers, VOC 1-based; fractional values are kept).
 * Classes: the 20 VOC names in VOC order when every name is one of them, else the distinct
 * names sorted bytewise. err gets "path: line L: what" style messages.
 * CLSSD_ERR_IO (missing file), CLSSD_ERR_BAD_MODEL (malformed), CLSSD_ERR_OUT_OF_MEMORY. */
clssd_status clssd__gt_load_voc_dir(const char *dir, const char *image_set, clssd_gt_set **out,
                                    char *err, size_t errcap);

/* The TSV of shared/data/voc2007_test: '#' comment lines, the first of which names the columns
 * (image_id width height class xmin ymin xmax ymax difficult, any order, tab-separated; image_id,
 * class and the four coordinates are required; a file whose first line is not a comment gets
 * that default order), then one object per line in VOC 1-based pixels. Images in order of
 * first appearance; an image's objects are grouped (stable) even when its lines are not
 * adjacent; width/height must agree between lines of one image. image_list (may be NULL): a
 * file of image ids (ImageSets style); when given, only those images are kept, in the list's
 * order, and listed images with no object are kept too (they make every detection on them a
 * false positive; their size is then 0 = unknown). Classes as for the VOC directory, decided
 * on every line of the file (not only the kept ones). */
clssd_status clssd__gt_load_voc_tsv(const char *path, const char *image_list, clssd_gt_set **out,
                                    char *err, size_t errcap);
/* The same for a TSV held in text[0..len) (also the fuzz entry point); name (NULL ok) stands
 * for the path in messages. list (NULL: none) holds the image list's text, list_len bytes. */
clssd_status clssd__gt_load_voc_tsv_mem(const char *text, size_t len, const char *name,
                                        const char *list, size_t list_len, clssd_gt_set **out,
                                        char *err, size_t errcap);

/* One VOC annotation XML held in memory (also the fuzz entry point): fills *out (which is
 * overwritten, not freed, first) with the annotation's <filename>, <size> and objects. XML
 * subset: elements, attributes (parsed, ignored), text, comments, <?...?>, a <!DOCTYPE>
 * without internal subset, CDATA, the five predefined entities and numeric &#..; ones; the
 * input must be UTF-8 without control characters in text. Root element <annotation>; fields
 * are read only at their VOC paths (an <object>'s <part><name> is not its name). Limits:
 * nesting depth 64, names 256 bytes, field text CLSSD_DATA_MAX_NAME bytes. Each <object>
 * needs <name> and <bndbox> with all four coordinates; duplicated fields are errors. On
 * failure *out is zeroed and err reads "line L: what". Exposed for training's dataset reader,
 * tests and fuzzing; see data/voc.c. */
typedef struct clssd_voc_annotation {
    char *filename;              /* <filename>, may be NULL */
    int32_t width, height;       /* <size>, 0 when absent */
    size_t n_objects;
    struct clssd_voc_object {
        char *name;
        double xmin, ymin, xmax, ymax; /* as written: VOC 1-based inclusive */
        uint8_t difficult;
    } *objects;
} clssd_voc_annotation;
clssd_status clssd__voc_parse_xml(const char *text, size_t len, clssd_voc_annotation *out,
                                  char *err, size_t errcap);
void clssd__voc_annotation_free(clssd_voc_annotation *a); /* zeroes it; NULL ok */

/* COCO instances JSON: "images" (id, file_name, width, height), "annotations" (id, image_id,
 * category_id, bbox [x, y, w, h], area, iscrowd, ignore), "categories" (id, name). Classes
 * in the file's category order; images in the file's order; objects grouped by image (stable:
 * file order within an image). Required: images[].id, annotations[].id/image_id/category_id/
 * bbox, categories[].id/name; ids are exact integers; duplicate image or category ids,
 * duplicate category names and annotations naming an unknown image or category are errors.
 * difficult = ("ignore" != 0), iscrowd = ("iscrowd" != 0) (numbers or booleans). */
clssd_status clssd__gt_load_coco(const char *path, clssd_gt_set **out, char *err, size_t errcap);
/* The same for a document held in text[0..len) (also the fuzz entry point); name (NULL ok)
 * stands for the path in messages. */
clssd_status clssd__gt_load_coco_mem(const char *text, size_t len, const char *name,
                                     clssd_gt_set **out, char *err, size_t errcap);

void clssd__gt_free(clssd_gt_set *g); /* NULL ok */

/* Builds (or rebuilds) g->index; the loaders call it, a set built by hand may (its strings
 * must not change afterwards). CLSSD_ERR_OUT_OF_MEMORY leaves g->index NULL. */
clssd_status clssd__gt_index(clssd_gt_set *g);

/* Index of an image by id or file name: exact id, else the file name's basename without
 * extension equals the id ("JPEGImages/000001.jpg" -> "000001"), else an image file's
 * basename (COCO file_name, VOC JPEGImages/<id>.jpg) equals the given name's basename ('/' and
 * '\\' separate). The first image wins among equals. -1 when none. Hashed with g->index,
 * else linear. */
int32_t clssd__gt_find_image(const clssd_gt_set *g, const char *name_or_path);
/* Index of a class by name, -1 when none. */
int32_t clssd__gt_find_class(const clssd_gt_set *g, const char *name);
/* Index of the (first) image / class with this coco_id, -1 when none. */
int32_t clssd__gt_find_image_coco(const clssd_gt_set *g, int64_t coco_id);
int32_t clssd__gt_find_class_coco(const clssd_gt_set *g, int64_t coco_id);

/* ------------------------------------------------------------------ detections */
typedef struct clssd_det {
    int32_t image; /* index into the gt set's images */
    int32_t cls;   /* index into the gt set's classes */
    double score;
    double box[4]; /* 0-based continuous pixels, like clssd_gt_object.box */
} clssd_det;

typedef struct clssd_det_set {
    clssd_det *dets; /* in file order: ties in score keep this order (stable sorts) */
    size_t n;
    size_t n_unmatched_image; /* dropped: image not in the ground truth */
    size_t n_unmatched_class; /* dropped: class not in the ground truth (after the map) */
    size_t cap;               /* allocated dets (clssd__dets_push); 0 in a set built by hand */
} clssd_det_set;

/* A class-name map: detections named `from` are scored as class `to`; names with no entry
 * are dropped when `exclusive`, else kept as they are. */
typedef struct clssd_class_map {
    size_t n;
    char **from, **to;
    int exclusive;
} clssd_class_map;
/* "coco-voc" (built in: COCO's 80 names as the default model labels them -> the 20 VOC names
 * they correspond to, e.g. airplane -> aeroplane, motorcycle -> motorbike, couch -> sofa,
 * dining table -> diningtable, potted plant -> pottedplant, tv -> tvmonitor; the 20 VOC names
 * map to themselves, so VOC-labelled detections pass; others dropped), or a file of lines
 * "from<TAB>to" / "from = to" (names trimmed of spaces at both ends, so they may hold inner
 * spaces; lines whose first non-blank is '#' are comments; blank lines skipped; a name given
 * twice as `from` is an error). Exclusive in both cases. */
clssd_status clssd__class_map_load(const char *spec, clssd_class_map *out, char *err,
                                   size_t errcap);
/* A map file's text held in text[0..len) (no built-in names); name (NULL ok) stands for the
 * path in messages. */
clssd_status clssd__class_map_load_mem(const char *text, size_t len, const char *name,
                                       clssd_class_map *out, char *err, size_t errcap);
void clssd__class_map_free(clssd_class_map *m);
/* The mapped name, name itself when unmapped and not exclusive, NULL when dropped. */
const char *clssd__class_map_apply(const clssd_class_map *m, const char *name);

/* clssd-detect's JSON ({"images": [{"file", "width", "height", "detections": [{"label",
 * "name", "score", "box": [x1, y1, x2, y2]}]}]}). Images are matched to the ground truth with
 * clssd__gt_find_image(file), classes by "name" through map (may be NULL). When the file's
 * image size differs from the ground truth's (both known, i.e. nonzero), boxes are scaled to
 * the ground truth's. An image entry with "error" is skipped. Detections of unknown images
 * count in n_unmatched_image, those of unknown classes in n_unmatched_class; both dropped.
 * out is overwritten (not freed) first; on failure it is zeroed. Score and box must be finite
 * numbers. */
clssd_status clssd__dets_load_detect_json(const char *path, const clssd_gt_set *gt,
                                          const clssd_class_map *map, clssd_det_set *out,
                                          char *err, size_t errcap);
/* COCO results JSON: [{"image_id", "category_id", "bbox": [x, y, w, h], "score"}]. Images and
 * classes matched by COCO id (a VOC ground truth: coco_id as documented above); unknown ones
 * are counted and dropped as for clssd__dets_load_detect_json. out is overwritten (not freed)
 * first; on failure it is zeroed. */
clssd_status clssd__dets_load_coco_results(const char *path, const clssd_gt_set *gt,
                                           clssd_det_set *out, char *err, size_t errcap);
/* The two readers for a document held in text[0..len) (also the fuzz entry points); name
 * (NULL ok) stands for the path in messages. */
clssd_status clssd__dets_load_detect_json_mem(const char *text, size_t len, const char *name,
                                              const clssd_gt_set *gt, const clssd_class_map *map,
                                              clssd_det_set *out, char *err, size_t errcap);
clssd_status clssd__dets_load_coco_results_mem(const char *text, size_t len, const char *name,
                                               const clssd_gt_set *gt, clssd_det_set *out,
                                               char *err, size_t errcap);
/* Appends one detection (for the --model path of clssd-eval); grows out (start from a zeroed
 * set or one returned by the loaders). */
clssd_status clssd__dets_push(clssd_det_set *out, const clssd_det *d);
void clssd__dets_free(clssd_det_set *d); /* zeroes it */

/* Keeps only the images with keep[i] != 0 (and their objects), in order; detections must be
 * loaded after this. Used by clssd-eval --skip-missing. CLSSD_ERR_OUT_OF_MEMORY leaves g
 * unchanged. (src/data/gt_filter.c) */
clssd_status clssd__gt_keep_images(clssd_gt_set *g, const uint8_t *keep);

#endif /* CLSSD_DATASET_H */
