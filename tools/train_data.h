/* train_data: the training data loader of clssd-train (issue 6).
 *
 * Reads a VOC-layout dataset (src/data/dataset.h), and hands out batches of network input
 * (NCHW floats, exactly what PREPROCESS makes at inference: clssd__preprocess_ref with the
 * model graph's `pre`) with their ground truth (clssd_train_gt, normalized boxes of the
 * augmented image), optionally after the SSD paper's augmentation (clssd__augment with
 * clssd__aug_defaults). Host threads decode, augment and preprocess a few batches ahead of
 * the consumer.
 *
 * Sample stream: the loader walks an endless sequence of samples k = 0, 1, 2, ...; sample k
 * is image perm_e[k mod N] of epoch e = k / N (N images in the set; perm_e the identity, or a
 * permutation drawn from (seed, e) when shuffle is set). Batch b holds samples
 * b * batch .. b * batch + batch - 1, so a batch may straddle two epochs (as Caffe's data
 * layer does). Each sample's augmentation draws from its own RNG seeded from
 * (seed, epoch, image index), so the batches are the same bytes whatever the number of
 * workers and however the threads are scheduled.
 *
 * Boxes: the dataset's 0-based continuous pixel boxes (x1 = xmin - 1, x2 = xmax) are divided
 * by the decoded image's width / height, clipped to [0, 1]; a box with no area left is
 * dropped (MultiBoxLoss' EncodeBBox cannot take it). Labels: each dataset class name is
 * looked up in the model's labels (index 0 = background). Augmentation may drop every box of
 * an image (the centre rule of the crop): the image is then trained as all-negative, which
 * clssd__mbox_loss_ref accepts (n_gt may be 0 for an image or the whole batch).
 *
 * Not thread-safe itself: one consumer thread calls next/close. */
#ifndef CLSSD_TOOLS_TRAIN_DATA_H
#define CLSSD_TOOLS_TRAIN_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "train/train.h"

typedef struct train_data train_data;

typedef struct train_data_params {
    const char *dir;             /* VOC-layout dataset directory, or a COCO instances JSON
                                    (*.json; crowd regions are not trained on) */
    const char *image_set;       /* VOC: ImageSets/Main/<image_set>.txt, e.g. "trainval" */
    const char *images_dir;      /* COCO: where the file_name paths start (NULL: the JSON's
                                    directory) */
    const clssd_op_params *pre;  /* the model graph's preprocessing; out_w x out_h = input size */
    const char *const *labels;   /* the model's label names, [0] = background */
    int32_t n_labels;            /* >= 2 */
    int augment;                 /* 1: clssd__augment with clssd__aug_defaults; 0: resize only */
    int use_difficult;           /* 1: keep difficult objects (Caffe trains with them) */
    uint64_t seed;
    int32_t batch;               /* >= 1 */
    int n_workers;               /* host threads, >= 1 */
    int prefetch;                /* batches being prepared ahead of the consumer (0..64); 0:
                                    max(3, enough for 2 samples per worker) */
    int shuffle;                 /* 1: a fresh seeded image order every epoch */
} train_data_params;

/* Loads the annotations and starts the workers. Errors (returned as -1 with a message in err):
 * unreadable / malformed dataset, a dataset class that is not among labels[1..] ("dataset
 * class 'x' is not one of the model's labels"), an empty image set, bad parameters.
 * Images are decoded only by the workers, so a bad image file shows up in train_data_next. */
int train_data_open(const train_data_params *p, train_data **out, char *err, size_t errcap);

/* Blocks until the next batch is ready and copies it out. input: batch * 3 * out_h * out_w
 * floats (caller's buffer), NCHW. *gt: the batch's boxes, grouped by batch entry (entry i's
 * boxes have image = i, in annotation order), an internal array valid until the next call or
 * close; *n_gt may be 0. Returns 0, or -1 with a message in err: an image that cannot be
 * decoded ("<path>: not a decodable image: ...", "<path>: cannot open: ..."), or whose size
 * differs from its annotation's <size>. The error is sticky: later calls return it again. */
int train_data_next(train_data *d, float *input, const clssd_train_gt **gt, size_t *n_gt,
                    char *err, size_t errcap);

size_t train_data_count(const train_data *d); /* images in the set (N) */

typedef struct train_data_stats {
    int64_t batches;       /* batches returned by train_data_next so far */
    double epochs;         /* samples returned / N */
    size_t n_objects;      /* objects in the set used for training (difficult ones only
                              when use_difficult) */
    double wait_s;         /* time train_data_next spent waiting for the workers */
} train_data_stats;
void train_data_get_stats(const train_data *d, train_data_stats *s);

/* Stops the workers (waiting for the image each is on) and frees everything. NULL ok. */
void train_data_close(train_data *d);

#endif
