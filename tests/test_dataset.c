/* Tests of the dataset readers (src/data: dataset.h): VOC directory and XML, the VOC TSV,
 * COCO instances JSON, clssd-detect JSON, COCO results JSON and class maps. Plain C, no
 * OpenCL device: never skips.
 *
 * Expected values come from the files themselves, read with grep/awk/Python's json module
 * (not from the code under test): shared/data/voc2007_test has 18 annotation files with 72
 * objects, 13 of them difficult (grep -c); the TSV has 4952 images, 14976 objects, 2944
 * difficult (awk); pascal_test2007.json has 4952 images, 14976 annotations, categories 1..20
 * with id 12 = dog, and its first annotation is the dog of 000001 with bbox [47, 239, 148, 132],
 * area 19536. Small inputs are written to a temporary directory; their values are worked by
 * hand in the comments beside them.
 *
 * For leak checking run:  CK_FORK=no valgrind --leak-check=full ./test_dataset */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clssd_internal.h"
#include "data/dataset.h"

#ifndef CLSSD_SHARED_DIR
#error "CLSSD_SHARED_DIR must name the shared/ directory"
#endif
#define VOC_DIR CLSSD_SHARED_DIR "/data/voc2007_test"

#define EXPECT_OK(call)                                                                            \
    do {                                                                                           \
        clssd_status st_ = (call);                                                                 \
        ck_assert_msg(st_ == CLSSD_OK, "%s returned %d (%s): %s", #call, (int)st_,                 \
                      clssd_status_string(st_), errbuf);                                           \
    } while (0)

static char errbuf[512];
static char tmp_root[256];

/* ---------------------------------------------------------------- temp files */
static void make_tmp_root(void)
{
    snprintf(tmp_root, sizeof tmp_root, "/tmp/clssd_test_dataset.XXXXXX");
    if (!mkdtemp(tmp_root)) {
        perror("mkdtemp");
        exit(EXIT_FAILURE);
    }
}

static void rm_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
                char sub[1024];
                snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
                rm_tree(sub);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* tmp_root/rel (parent directories created); returns the full path in a static ring. */
static const char *tmp_path(const char *rel)
{
    static char ring[8][1024];
    static int k;
    char *p = ring[k++ & 7];
    snprintf(p, 1024, "%s/%s", tmp_root, rel);
    return p;
}

static void mkdirs_for(const char *path)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *s = buf + strlen(tmp_root) + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            mkdir(buf, 0700);
            *s = '/';
        }
}

static const char *write_tmp_n(const char *rel, const char *text, size_t n)
{
    const char *p = tmp_path(rel);
    mkdirs_for(p);
    FILE *f = fopen(p, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", p);
    ck_assert(fwrite(text, 1, n, f) == n);
    fclose(f);
    return p;
}

static const char *write_tmp(const char *rel, const char *text)
{
    return write_tmp_n(rel, text, strlen(text));
}

static void check_box(const double *b, double x1, double y1, double x2, double y2)
{
    ck_assert_msg(b[0] == x1 && b[1] == y1 && b[2] == x2 && b[3] == y2,
                  "box [%g %g %g %g], expected [%g %g %g %g]", b[0], b[1], b[2], b[3], x1, y1, x2,
                  y2);
}

static size_t count_difficult(const clssd_gt_set *g)
{
    size_t n = 0;
    for (size_t i = 0; i < g->n_objects; i++)
        n += g->objects[i].difficult;
    return n;
}

static void check_voc_classes(const clssd_gt_set *g)
{
    static const char *const names[20] = {
        "aeroplane", "bicycle",     "bird",  "boat",        "bottle", "bus",      "car",
        "cat",       "chair",       "cow",   "diningtable", "dog",    "horse",    "motorbike",
        "person",    "pottedplant", "sheep", "sofa",        "train",  "tvmonitor"};
    ck_assert_uint_eq(g->n_classes, 20);
    for (int i = 0; i < 20; i++) {
        ck_assert_str_eq(g->classes[i].name, names[i]);
        ck_assert_str_eq(clssd__voc_classes[i], names[i]);
        ck_assert_int_eq(g->classes[i].coco_id, i + 1);
    }
}

/* Objects grouped by image: image indices never decrease. */
static void check_grouped(const clssd_gt_set *g)
{
    for (size_t i = 1; i < g->n_objects; i++)
        ck_assert_int_le(g->objects[i - 1].image, g->objects[i].image);
    for (size_t i = 0; i < g->n_objects; i++) {
        ck_assert_int_ge(g->objects[i].image, 0);
        ck_assert_uint_lt((size_t)g->objects[i].image, g->n_images);
        ck_assert_int_ge(g->objects[i].cls, 0);
        ck_assert_uint_lt((size_t)g->objects[i].cls, g->n_classes);
    }
}

/* ---------------------------------------------------------------- VOC directory */
START_TEST(test_voc_dir_shared)
{
    clssd_gt_set *g = NULL;
    EXPECT_OK(clssd__gt_load_voc_dir(VOC_DIR, NULL, &g, errbuf, sizeof errbuf));
    ck_assert_str_eq(errbuf, "");
    ck_assert_uint_eq(g->n_images, 18);
    ck_assert_uint_eq(g->n_objects, 72);
    ck_assert_uint_eq(count_difficult(g), 13);
    ck_assert_int_eq(g->is_coco, 0);
    check_voc_classes(g);
    check_grouped(g);
    /* sorted by name: 000001 000002 000003 000004 000006 ... 008591 */
    ck_assert_str_eq(g->images[0].id, "000001");
    ck_assert_str_eq(g->images[4].id, "000006");
    ck_assert_str_eq(g->images[17].id, "008591");
    ck_assert_int_eq(g->images[0].coco_id, 1);
    ck_assert_int_eq(g->images[17].coco_id, 8591);
    ck_assert_int_eq(g->images[0].width, 353);
    ck_assert_int_eq(g->images[0].height, 500);
    ck_assert_str_eq(g->images[0].file, VOC_DIR "/JPEGImages/000001.jpg");
    /* 000001: dog 48 240 195 371, person 8 12 352 498 (1-based inclusive) */
    const clssd_gt_object *o = g->objects;
    ck_assert_int_eq(o[0].image, 0);
    ck_assert_str_eq(g->classes[o[0].cls].name, "dog");
    check_box(o[0].box, 47, 239, 195, 371);
    ck_assert(o[0].area == 148.0 * 132.0);
    ck_assert_int_eq(o[0].id, 1);
    ck_assert_int_eq(o[0].difficult, 0);
    ck_assert_int_eq(o[0].iscrowd, 0);
    ck_assert_str_eq(g->classes[o[1].cls].name, "person");
    check_box(o[1].box, 7, 11, 352, 498);
    ck_assert_int_eq(o[1].id, 2);
    /* 000006 starts after 2 + 1 + 2 + 7 objects; its 4th is the difficult chair
     * 298 195 332 247 */
    ck_assert_int_eq(o[12].image, 4);
    ck_assert_int_eq(o[11].image, 3);
    ck_assert_str_eq(g->classes[o[12].cls].name, "pottedplant");
    ck_assert_str_eq(g->classes[o[15].cls].name, "chair");
    ck_assert_int_eq(o[15].difficult, 1);
    ck_assert_int_eq(o[14].difficult, 0);
    check_box(o[15].box, 297, 194, 332, 247);
    for (size_t i = 0; i < g->n_objects; i++)
        ck_assert_int_eq(g->objects[i].id, (int64_t)i + 1);

    /* lookups */
    ck_assert_int_eq(clssd__gt_find_image(g, "000006"), 4);
    ck_assert_int_eq(clssd__gt_find_image(g, "JPEGImages/000006.jpg"), 4);
    ck_assert_int_eq(clssd__gt_find_image(g, "/elsewhere/000006.png"), 4);
    ck_assert_int_eq(clssd__gt_find_image(g, "C:\\pics\\000001.jpg"), 0);
    ck_assert_int_eq(clssd__gt_find_image(g, "000005"), -1);
    ck_assert_int_eq(clssd__gt_find_image(g, ""), -1);
    ck_assert_int_eq(clssd__gt_find_image(g, NULL), -1);
    ck_assert_int_eq(clssd__gt_find_class(g, "dog"), 11);
    ck_assert_int_eq(clssd__gt_find_class(g, "aeroplane"), 0);
    ck_assert_int_eq(clssd__gt_find_class(g, "tvmonitor"), 19);
    ck_assert_int_eq(clssd__gt_find_class(g, "dogs"), -1);
    ck_assert_int_eq(clssd__gt_find_image_coco(g, 8591), 17);
    ck_assert_int_eq(clssd__gt_find_image_coco(g, 5), -1);
    ck_assert_int_eq(clssd__gt_find_class_coco(g, 12), 11);
    ck_assert_int_eq(clssd__gt_find_class_coco(g, 21), -1);

    /* the same answers without the index (a set built by hand) */
    struct clssd_gt_index *x = g->index;
    g->index = NULL;
    ck_assert_int_eq(clssd__gt_find_image(g, "000006"), 4);
    ck_assert_int_eq(clssd__gt_find_image(g, "JPEGImages/000006.jpg"), 4);
    ck_assert_int_eq(clssd__gt_find_image(g, "000005"), -1);
    ck_assert_int_eq(clssd__gt_find_class(g, "dog"), 11);
    ck_assert_int_eq(clssd__gt_find_image_coco(g, 8591), 17);
    ck_assert_int_eq(clssd__gt_find_class_coco(g, 12), 11);
    g->index = x;

    /* clssd__gt_keep_images (gt_filter.c) frees dropped ids: lookups must stay right */
    uint8_t keep[18];
    for (int i = 0; i < 18; i++)
        keep[i] = (uint8_t)(i % 2); /* 000002 000004 000008 ... */
    EXPECT_OK(clssd__gt_keep_images(g, keep));
    ck_assert_uint_eq(g->n_images, 9);
    ck_assert_str_eq(g->images[1].id, "000004");
    ck_assert_int_eq(clssd__gt_find_image(g, "000004"), 1);
    ck_assert_int_eq(clssd__gt_find_image(g, "000002.jpg"), 0);
    ck_assert_int_eq(clssd__gt_find_image(g, "000001"), -1);
    ck_assert_int_eq(clssd__gt_find_image_coco(g, 8), 2);
    ck_assert_int_eq(clssd__gt_find_class(g, "dog"), 11);
    EXPECT_OK(clssd__gt_index(g)); /* rebuilt: the same answers through it */
    ck_assert_int_eq(clssd__gt_find_image(g, "000004"), 1);
    ck_assert_int_eq(clssd__gt_find_image(g, "000001"), -1);
    ck_assert_int_eq(clssd__gt_find_image_coco(g, 8), 2);
    clssd__gt_free(g);
    clssd__gt_free(NULL);
}
END_TEST

START_TEST(test_voc_dir_image_set)
{
    clssd_gt_set *g = (clssd_gt_set *)1;
    /* test.txt lists 4952 ids; 000011 is the first with no annotation file */
    clssd_status s = clssd__gt_load_voc_dir(VOC_DIR, "test", &g, errbuf, sizeof errbuf);
    ck_assert_int_eq(s, CLSSD_ERR_IO);
    ck_assert(g == NULL);
    ck_assert_msg(strstr(errbuf, "Annotations/000011.xml") != NULL, "%s", errbuf);
    s = clssd__gt_load_voc_dir(VOC_DIR, "nosuchset", &g, errbuf, sizeof errbuf);
    ck_assert_int_eq(s, CLSSD_ERR_IO);
    ck_assert_msg(strstr(errbuf, "nosuchset.txt") != NULL, "%s", errbuf);
    s = clssd__gt_load_voc_dir(VOC_DIR, "../x", &g, errbuf, sizeof errbuf);
    ck_assert_int_eq(s, CLSSD_ERR_INVALID_ARG);
    s = clssd__gt_load_voc_dir(tmp_path("no/such/dir"), NULL, &g, errbuf, sizeof errbuf);
    ck_assert_int_eq(s, CLSSD_ERR_IO);
    ck_assert(g == NULL);

    /* a small directory with names that are not VOC's: classes sorted bytewise */
    write_tmp("vocA/Annotations/a.xml",
              "<annotation><size><width>10</width><height>20</height></size>"
              "<object><name>zebra</name><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>3</xmax>"
              "<ymax>4</ymax></bndbox></object>"
              "<object><name>Apple</name><difficult>1</difficult><bndbox><xmin>1.5</xmin>"
              "<ymin>2</ymin><xmax>3.25</xmax><ymax>4</ymax></bndbox></object></annotation>");
    write_tmp("vocA/Annotations/b.xml",
              "<annotation><object><name>mango</name><bndbox><xmin>5</xmin><ymin>6</ymin>"
              "<xmax>7</xmax><ymax>8</ymax></bndbox></object></annotation>");
    write_tmp("vocA/Annotations/c.xml", "<annotation/>");
    write_tmp("vocA/ImageSets/Main/mini.txt", "b  1\r\n\r\n  a -1\r\n");
    write_tmp("vocA/ImageSets/Main/bad.txt", "a\n../../etc/passwd\n");
    write_tmp("vocA/ImageSets/Main/dup.txt", "a\nb\na\n");
    write_tmp("vocA/ImageSets/Main/missing.txt", "a\nq\n");
    const char *dir = tmp_path("vocA");
    EXPECT_OK(clssd__gt_load_voc_dir(dir, "mini", &g, errbuf, sizeof errbuf));
    ck_assert_uint_eq(g->n_images, 2);
    ck_assert_str_eq(g->images[0].id, "b");
    ck_assert_str_eq(g->images[1].id, "a");
    ck_assert_int_eq(g->images[0].coco_id, 0); /* not a number: the index */
    ck_assert_int_eq(g->images[1].coco_id, 1);
    ck_assert_int_eq(g->images[1].width, 10);
    ck_assert_int_eq(g->images[1].height, 20);
    ck_assert_int_eq(g->images[0].width, 0);
    ck_assert_uint_eq(g->n_classes, 3);
    ck_assert_str_eq(g->classes[0].name, "Apple");
    ck_assert_str_eq(g->classes[1].name, "mango");
    ck_assert_str_eq(g->classes[2].name, "zebra");
    ck_assert_int_eq(g->classes[2].coco_id, 3);
    ck_assert_uint_eq(g->n_objects, 3);
    /* b's mango, then a's zebra and Apple in file order */
    ck_assert_int_eq(g->objects[0].cls, 1);
    ck_assert_int_eq(g->objects[0].image, 0);
    check_box(g->objects[0].box, 4, 5, 7, 8);
    ck_assert_int_eq(g->objects[1].cls, 2);
    ck_assert_int_eq(g->objects[1].difficult, 0); /* no <difficult> */
    ck_assert_int_eq(g->objects[2].cls, 0);
    ck_assert_int_eq(g->objects[2].difficult, 1);
    check_box(g->objects[2].box, 0.5, 1, 3.25, 4);
    ck_assert(g->objects[2].area == 2.75 * 3.0);
    clssd__gt_free(g);

    EXPECT_OK(clssd__gt_load_voc_dir(dir, NULL, &g, errbuf, sizeof errbuf));
    ck_assert_uint_eq(g->n_images, 3); /* a b c, c without objects */
    ck_assert_str_eq(g->images[2].id, "c");
    ck_assert_str_eq(g->images[0].file, tmp_path("vocA/JPEGImages/a.jpg"));
    clssd__gt_free(g);

    s = clssd__gt_load_voc_dir(dir, "bad", &g, errbuf, sizeof errbuf);
    ck_assert_int_eq(s, CLSSD_ERR_BAD_MODEL);
    ck_assert_msg(strstr(errbuf, "line 2") != NULL, "%s", errbuf);
    s = clssd__gt_load_voc_dir(dir, "dup", &g, errbuf, sizeof errbuf);
    ck_assert_int_eq(s, CLSSD_ERR_BAD_MODEL);
    ck_assert_msg(strstr(errbuf, "twice") != NULL, "%s", errbuf);
    s = clssd__gt_load_voc_dir(dir, "missing", &g, errbuf, sizeof errbuf);
    ck_assert_int_eq(s, CLSSD_ERR_IO);
    ck_assert_msg(strstr(errbuf, "Annotations/q.xml") != NULL, "%s", errbuf);

    write_tmp("vocE/Annotations/readme.txt", "no annotations here\n");
    ck_assert_int_eq(clssd__gt_load_voc_dir(tmp_path("vocE"), NULL, &g, errbuf, sizeof errbuf),
                     CLSSD_ERR_IO);
    ck_assert_msg(strstr(errbuf, "no .xml files") != NULL, "%s", errbuf);

    /* a malformed annotation names its file and line */
    write_tmp("vocB/Annotations/x.xml", "<annotation>\n<object>\n<name>dog</name>\n</annotation>");
    s = clssd__gt_load_voc_dir(tmp_path("vocB"), NULL, &g, errbuf, sizeof errbuf);
    ck_assert_int_eq(s, CLSSD_ERR_BAD_MODEL);
    ck_assert(g == NULL);
    ck_assert_msg(strstr(errbuf, "x.xml: line 4") != NULL, "%s", errbuf);
    ck_assert(strchr(errbuf, '\n') == NULL);
}
END_TEST

/* ---------------------------------------------------------------- TSV */
START_TEST(test_tsv_shared)
{
    clssd_gt_set *g = NULL;
    EXPECT_OK(
        clssd__gt_load_voc_tsv(VOC_DIR "/voc2007_test_gt.tsv", NULL, &g, errbuf, sizeof errbuf));
    ck_assert_uint_eq(g->n_images, 4952);
    ck_assert_uint_eq(g->n_objects, 14976);
    ck_assert_uint_eq(count_difficult(g), 2944);
    check_voc_classes(g);
    check_grouped(g);
    ck_assert_str_eq(g->images[0].id, "000001");
    ck_assert(g->images[0].file == NULL);
    ck_assert_int_eq(g->images[0].width, 353);
    ck_assert_int_eq(g->images[0].height, 500);
    check_box(g->objects[0].box, 47, 239, 195, 371);
    ck_assert_str_eq(g->classes[g->objects[0].cls].name, "dog");
    check_box(g->objects[1].box, 7, 11, 352, 498);
    /* last line: 009963 374 500 car 2 3 374 500 0 */
    ck_assert_str_eq(g->images[4951].id, "009963");
    ck_assert_int_eq(g->images[4951].coco_id, 9963);
    ck_assert_int_eq(g->images[4951].width, 374);
    check_box(g->objects[14975].box, 1, 2, 374, 500);
    ck_assert_str_eq(g->classes[g->objects[14975].cls].name, "car");
    ck_assert_int_eq(clssd__gt_find_image(g, "009963.jpg"), 4951);
    clssd__gt_free(g);

    EXPECT_OK(clssd__gt_load_voc_tsv(VOC_DIR "/voc2007_test_gt.tsv",
                                     VOC_DIR "/ImageSets/Main/test.txt", &g, errbuf,
                                     sizeof errbuf));
    ck_assert_uint_eq(g->n_images, 4952);
    ck_assert_uint_eq(g->n_objects, 14976);
    ck_assert_uint_eq(count_difficult(g), 2944);
    ck_assert_str_eq(g->images[4].id, "000006");
    clssd__gt_free(g);
}
END_TEST

START_TEST(test_tsv_small)
{
    /* columns reordered, image "b" split over two runs of lines, "q" listed without objects */
    const char *tsv =
        write_tmp("t1.tsv", "# class\timage_id\txmin\tymin\txmax\tymax\tdifficult\twidth\n"
                            "# prose line\n"
                            "dog\tb\t1\t1\t10\t10\t0\t50\n"
                            "cat\ta\t2\t2\t20\t20\t1\t60\r\n"
                            "\n"
                            "dog\tb\t3\t3\t30\t30\t0\t50\n");
    clssd_gt_set *g = NULL;
    EXPECT_OK(clssd__gt_load_voc_tsv(tsv, NULL, &g, errbuf, sizeof errbuf));
    ck_assert_uint_eq(g->n_images, 2);
    ck_assert_str_eq(g->images[0].id, "b");
    ck_assert_int_eq(g->images[0].width, 50);
    ck_assert_int_eq(g->images[0].height, 0);
    ck_assert_uint_eq(g->n_objects, 3);
    check_voc_classes(g); /* dog, cat: VOC names */
    ck_assert_int_eq(g->objects[0].image, 0);
    check_box(g->objects[0].box, 0, 0, 10, 10);
    ck_assert_int_eq(g->objects[1].image, 0);
    check_box(g->objects[1].box, 2, 2, 30, 30);
    ck_assert_int_eq(g->objects[2].image, 1);
    ck_assert_int_eq(g->objects[2].difficult, 1);
    ck_assert_int_eq(g->objects[2].cls, 7); /* cat */
    ck_assert_int_eq(g->objects[2].id, 3);
    clssd__gt_free(g);

    const char *list = write_tmp("t1.list", "q\na\n");
    EXPECT_OK(clssd__gt_load_voc_tsv(tsv, list, &g, errbuf, sizeof errbuf));
    ck_assert_uint_eq(g->n_images, 2);
    ck_assert_str_eq(g->images[0].id, "q");
    ck_assert_str_eq(g->images[1].id, "a");
    ck_assert_int_eq(g->images[1].width, 60);
    ck_assert_uint_eq(g->n_objects, 1);
    ck_assert_int_eq(g->objects[0].image, 1);
    check_voc_classes(g);
    clssd__gt_free(g);

    /* no header: the default column order; non-VOC names sorted */
    tsv = write_tmp("t2.tsv", "x\t5\t6\tbeta\t1\t1\t2\t2\t0\nx\t5\t6\talpha\t1\t1\t2\t2\t0\n");
    EXPECT_OK(clssd__gt_load_voc_tsv(tsv, NULL, &g, errbuf, sizeof errbuf));
    ck_assert_uint_eq(g->n_classes, 2);
    ck_assert_str_eq(g->classes[0].name, "alpha");
    ck_assert_int_eq(g->objects[0].cls, 1);
    ck_assert_int_eq(g->images[0].height, 6);
    clssd__gt_free(g);

    static const char *const bad[] = {
        "# image_id\tclass\txmin\tymin\txmax\n",                           /* no ymax column */
        "# image_id\tclass\txmin\tymin\txmax\tymax\na\tdog\t1\t2\t3\n",    /* short line */
        "# image_id\tclass\txmin\tymin\txmax\tymax\na\tdog\t1\t2\t3\tx\n", /* not a number */
        "# image_id\tclass\txmin\tymin\txmax\tymax\na\tdog\t1\t2\t3\tnan\n",
        "# image_id\twidth\tclass\txmin\tymin\txmax\tymax\na\t5\tdog\t1\t2\t3\t4\n"
        "a\t6\tdog\t1\t2\t3\t4\n",                                        /* width changes */
        "# image_id\tclass\txmin\tymin\txmax\tymax\n\tdog\t1\t2\t3\t4\n", /* empty id */
        "# image_id\tclass\tclass\txmin\tymin\txmax\tymax\n",             /* named twice */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tsv = write_tmp("bad.tsv", bad[i]);
        g = (clssd_gt_set *)1;
        clssd_status s = clssd__gt_load_voc_tsv(tsv, NULL, &g, errbuf, sizeof errbuf);
        ck_assert_msg(s == CLSSD_ERR_BAD_MODEL, "case %zu: %d", i, (int)s);
        ck_assert(g == NULL);
        ck_assert_msg(strstr(errbuf, "bad.tsv") != NULL, "case %zu: %s", i, errbuf);
    }
    ck_assert_int_eq(clssd__gt_load_voc_tsv(tmp_path("none.tsv"), NULL, &g, errbuf, sizeof errbuf),
                     CLSSD_ERR_IO);
    ck_assert_int_eq(clssd__gt_load_voc_tsv(VOC_DIR "/voc2007_test_gt.tsv", tmp_path("none.txt"),
                                            &g, errbuf, sizeof errbuf),
                     CLSSD_ERR_IO);
}
END_TEST

/* ---------------------------------------------------------------- COCO */
START_TEST(test_coco_shared)
{
    clssd_gt_set *g = NULL;
    EXPECT_OK(clssd__gt_load_coco(VOC_DIR "/pascal_test2007.json", &g, errbuf, sizeof errbuf));
    ck_assert_int_eq(g->is_coco, 1);
    ck_assert_uint_eq(g->n_images, 4952);
    ck_assert_uint_eq(g->n_objects, 14976);
    check_voc_classes(g); /* categories 1..20 in VOC order */
    check_grouped(g);
    ck_assert_uint_eq(count_difficult(g), 0);
    ck_assert_str_eq(g->images[0].id, "1");
    ck_assert_str_eq(g->images[0].file, "000001.jpg");
    ck_assert_int_eq(g->images[0].coco_id, 1);
    ck_assert_int_eq(g->images[0].width, 353);
    ck_assert_int_eq(g->images[0].height, 500);
    const clssd_gt_object *o = &g->objects[0];
    ck_assert_int_eq(o->id, 1);
    ck_assert_int_eq(o->cls, 11);
    check_box(o->box, 47, 239, 195, 371);
    ck_assert(o->area == 19536.0);
    /* last: id 14976, image 9963, bbox [1, 2, 373, 498], area 185754, category 7 (car) */
    o = &g->objects[14975];
    ck_assert_int_eq(o->id, 14976);
    ck_assert_int_eq(o->image, 4951);
    ck_assert_int_eq(o->cls, 6);
    check_box(o->box, 1, 2, 374, 500);
    ck_assert(o->area == 185754.0);
    ck_assert_int_eq(clssd__gt_find_image(g, "JPEGImages/009963.jpg"), 4951);
    ck_assert_int_eq(clssd__gt_find_image(g, "9963"), 4951);
    ck_assert_int_eq(clssd__gt_find_image_coco(g, 9963), 4951);
    clssd__gt_free(g);

    EXPECT_OK(clssd__gt_load_coco(VOC_DIR "/voc07_test_iscrowd_is_difficult.json", &g, errbuf,
                                  sizeof errbuf));
    ck_assert_uint_eq(g->n_objects, 14976);
    size_t crowd = 0;
    for (size_t i = 0; i < g->n_objects; i++)
        crowd += g->objects[i].iscrowd;
    ck_assert_uint_eq(crowd, 2944);
    ck_assert_uint_eq(count_difficult(g), 0);
    ck_assert_int_eq(g->classes[0].coco_id, 0);
    ck_assert_str_eq(g->classes[0].name, "aeroplane");
    clssd__gt_free(g);
}
END_TEST

START_TEST(test_coco_small)
{
    /* annotations out of image order: grouped by image, file order kept inside an image */
    const char *p = write_tmp(
        "c1.json",
        "{\"images\": [{\"id\": 7, \"file_name\": \"a/x.jpg\", \"width\": 100, \"height\": 50},"
        " {\"id\": 3}],"
        " \"categories\": [{\"id\": 5, \"name\": \"cow\"}, {\"id\": 2, \"name\": \"ant\"}],"
        " \"annotations\": ["
        "  {\"id\": 10, \"image_id\": 3, \"category_id\": 2, \"bbox\": [1, 2, 3, 4]},"
        "  {\"id\": 11, \"image_id\": 7, \"category_id\": 5, \"bbox\": [0.5, 0, 10, 20],"
        "   \"area\": 12.5, \"iscrowd\": 1},"
        "  {\"id\": 0, \"image_id\": 3, \"category_id\": 5, \"bbox\": [0, 0, 1, 1], \"ignore\": 1,"
        "   \"iscrowd\": false}]}");
    clssd_gt_set *g = NULL;
    EXPECT_OK(clssd__gt_load_coco(p, &g, errbuf, sizeof errbuf));
    ck_assert_uint_eq(g->n_images, 2);
    ck_assert_str_eq(g->images[0].id, "7");
    ck_assert_str_eq(g->images[0].file, "a/x.jpg");
    ck_assert(g->images[1].file == NULL);
    ck_assert_int_eq(g->images[1].width, 0);
    ck_assert_uint_eq(g->n_classes, 2);
    ck_assert_str_eq(g->classes[0].name, "cow"); /* file order, not sorted */
    ck_assert_int_eq(g->classes[1].coco_id, 2);
    ck_assert_uint_eq(g->n_objects, 3);
    ck_assert_int_eq(g->objects[0].id, 11);
    ck_assert_int_eq(g->objects[0].iscrowd, 1);
    ck_assert(g->objects[0].area == 12.5);
    check_box(g->objects[0].box, 0.5, 0, 10.5, 20);
    ck_assert_int_eq(g->objects[1].id, 10);
    ck_assert_int_eq(g->objects[1].image, 1);
    ck_assert_int_eq(g->objects[1].cls, 1);
    check_box(g->objects[1].box, 1, 2, 4, 6);
    ck_assert(g->objects[1].area == 12.0); /* w*h when no "area" */
    ck_assert_int_eq(g->objects[2].id, 0);
    ck_assert_int_eq(g->objects[2].difficult, 1);
    ck_assert_int_eq(g->objects[2].iscrowd, 0);
    ck_assert_int_eq(clssd__gt_find_image(g, "x.jpg"), 0);
    ck_assert_int_eq(clssd__gt_find_image(g, "other/x.jpg"), 0);
    ck_assert_int_eq(clssd__gt_find_image(g, "3"), 1);
    ck_assert_int_eq(clssd__gt_find_class(g, "ant"), 1);
    clssd__gt_free(g);

    static const struct {
        const char *json, *msg;
    } bad[] = {
        {"[]", "not an object"},
        {"{\"images\": [], \"categories\": []}", "\"annotations\""},
        {"{\"images\": [{\"id\": 1}], \"categories\": [{\"id\": 1, \"name\": \"a\"}],"
         " \"annotations\": [{\"id\": 1, \"image_id\": 1, \"category_id\": 1, \"bbox\": [1,2,3,4]},"
         " {\"id\": 2, \"image_id\": 1, \"category_id\": 1, \"bbox\": [1,2,3]}]}",
         "annotations[1]: bbox must be 4 numbers"},
        {"{\"images\": [{\"id\": 1}, {\"id\": 1}], \"categories\": [], \"annotations\": []}",
         "images[1]: id 1 already used"},
        {"{\"images\": [], \"categories\": [{\"id\": 1, \"name\": \"a\"}, {\"id\": 1, \"name\": "
         "\"b\"}],"
         " \"annotations\": []}",
         "categories[1]: id 1"},
        {"{\"images\": [{\"id\": 1}], \"categories\": [{\"id\": 1, \"name\": \"a\"}],"
         " \"annotations\": [{\"id\": 1, \"image_id\": 1, \"category_id\": 2, \"bbox\": "
         "[1,2,3,4]}]}",
         "annotations[0]: category_id 2"},
        {"{\"images\": [{\"id\": 1}], \"categories\": [{\"id\": 1, \"name\": \"a\"}],"
         " \"annotations\": [{\"id\": 1, \"image_id\": 9, \"category_id\": 1, \"bbox\": "
         "[1,2,3,4]}]}",
         "annotations[0]: image_id 9"},
        {"{\"images\": [{\"id\": 1.5}], \"categories\": [], \"annotations\": []}", "images[0]"},
        {"{\"images\": [{\"id\": 1}], \"categories\": [{\"id\": 1, \"name\": \"a\"}],"
         " \"annotations\": [{\"id\": 1, \"image_id\": 1, \"category_id\": 1, \"bbox\": "
         "[1,2,3,\"4\"]}]}",
         "bbox must be 4 numbers"},
        {"{\"images\": [], \"categories\": [], \"annotations\": [], }", "line 1"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p = write_tmp("bad.json", bad[i].json);
        g = (clssd_gt_set *)1;
        clssd_status s = clssd__gt_load_coco(p, &g, errbuf, sizeof errbuf);
        ck_assert_msg(s == CLSSD_ERR_BAD_MODEL, "case %zu: %d", i, (int)s);
        ck_assert(g == NULL);
        ck_assert_msg(strstr(errbuf, bad[i].msg) != NULL, "case %zu: %s", i, errbuf);
    }
    ck_assert_int_eq(clssd__gt_load_coco(tmp_path("none.json"), &g, errbuf, sizeof errbuf),
                     CLSSD_ERR_IO);
}
END_TEST

/* ---------------------------------------------------------------- XML */
static clssd_status parse_xml(const char *src, clssd_voc_annotation *a)
{
    const size_t n = strlen(src);
    char *copy = malloc(n ? n : 1); /* exact size, no NUL: over-reads show under valgrind */
    ck_assert(copy != NULL);
    memcpy(copy, src, n);
    clssd_status s = clssd__voc_parse_xml(copy, n, a, errbuf, sizeof errbuf);
    free(copy);
    return s;
}

START_TEST(test_xml_features)
{
    clssd_voc_annotation a;
    const char *doc =
        "\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
        "<!DOCTYPE annotation>\n"
        "<!-- a comment with <tags> & ampersands -->\n"
        "<annotation verified='yes' x = \"a>b\">\n"
        "  <folder>VOC<!-- c -->2012</folder>\n"
        "  <filename>  2008_000008&#46;jpg </filename>\n"
        "  <size><width>500</width><height> 442 </height><depth>3</depth></size>\n"
        "  <segmented/>\n"
        "  <object>\n"
        "    <name>&lt;a&amp;b&gt;&quot;&apos;&#65;&#x42;&#xe9;<![CDATA[<c>]]></name>\n"
        "    <pose>Left</pose><truncated>0</truncated>\n"
        "    <bndbox><xmin>53</xmin><ymin>87.5</ymin><xmax>471</xmax><ymax>420</ymax></bndbox>\n"
        "    <part><name>head</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax>"
        "<ymax>2</ymax></bndbox></part>\n"
        "  </object>\n"
        "  <object><name>person</name><difficult>1</difficult>"
        "<bndbox><xmin>-1e1</xmin><ymin>+2</ymin><xmax>3.</xmax><ymax>.5E1</ymax></bndbox>"
        "</object>\n"
        "  <object><difficult>0</difficult><bndbox><ymax>4</ymax><xmax>3</xmax><ymin>2</ymin>"
        "<xmin>1</xmin></bndbox><name>horse</name></object>\n"
        "</annotation>\n<!-- trailing -->\n<?pi?>\n";
    EXPECT_OK(parse_xml(doc, &a));
    ck_assert_str_eq(a.filename, "2008_000008.jpg");
    ck_assert_int_eq(a.width, 500);
    ck_assert_int_eq(a.height, 442);
    ck_assert_uint_eq(a.n_objects, 3);
    ck_assert_str_eq(a.objects[0].name, "<a&b>\"'AB\xC3\xA9<c>");
    ck_assert(a.objects[0].xmin == 53 && a.objects[0].ymin == 87.5 && a.objects[0].xmax == 471 &&
              a.objects[0].ymax == 420);
    ck_assert_int_eq(a.objects[0].difficult, 0);
    ck_assert_str_eq(a.objects[1].name, "person");
    ck_assert_int_eq(a.objects[1].difficult, 1);
    ck_assert(a.objects[1].xmin == -10 && a.objects[1].ymin == 2 && a.objects[1].xmax == 3 &&
              a.objects[1].ymax == 5);
    ck_assert_str_eq(a.objects[2].name, "horse");
    ck_assert(a.objects[2].xmin == 1 && a.objects[2].ymax == 4);
    clssd__voc_annotation_free(&a);
    clssd__voc_annotation_free(&a); /* zeroed: twice is fine */
    clssd__voc_annotation_free(NULL);

    /* minimal: no filename, no size, no objects */
    EXPECT_OK(parse_xml("<annotation></annotation>", &a));
    ck_assert(a.filename == NULL);
    ck_assert_int_eq(a.width, 0);
    ck_assert_uint_eq(a.n_objects, 0);
    clssd__voc_annotation_free(&a);

    /* the real files parse */
    char path[512];
    snprintf(path, sizeof path, "%s/Annotations/000001.xml", VOC_DIR);
    FILE *f = fopen(path, "rb");
    ck_assert(f != NULL);
    char buf[8192];
    const size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    EXPECT_OK(parse_xml(buf, &a));
    ck_assert_str_eq(a.filename, "000001.jpg");
    ck_assert_uint_eq(a.n_objects, 2);
    ck_assert_str_eq(a.objects[0].name, "dog");
    ck_assert(a.objects[0].xmin == 48 && a.objects[0].ymin == 240 && a.objects[0].xmax == 195 &&
              a.objects[0].ymax == 371);
    clssd__voc_annotation_free(&a);

    /* nesting: 64 levels in all are allowed, 65 are not */
    char deep[2048] = "<annotation>";
    for (int i = 0; i < 63; i++)
        strcat(deep, "<a>");
    for (int i = 0; i < 63; i++)
        strcat(deep, "</a>");
    strcat(deep, "</annotation>");
    EXPECT_OK(parse_xml(deep, &a));
    clssd__voc_annotation_free(&a);
    strcpy(deep, "<annotation>");
    for (int i = 0; i < 64; i++)
        strcat(deep, "<a>");
    for (int i = 0; i < 64; i++)
        strcat(deep, "</a>");
    strcat(deep, "</annotation>");
    ck_assert_int_eq(parse_xml(deep, &a), CLSSD_ERR_BAD_MODEL);
    ck_assert_msg(strstr(errbuf, "deeper than 64") != NULL, "%s", errbuf);
    /* very deep: fails fast, no recursion */
    const size_t big = 300000;
    char *huge = malloc(big * 3 + 32);
    ck_assert(huge != NULL);
    strcpy(huge, "<annotation>");
    for (size_t i = 0; i < big; i++)
        memcpy(huge + 12 + 3 * i, "<a>", 3);
    huge[12 + 3 * big] = '\0';
    ck_assert_int_eq(parse_xml(huge, &a), CLSSD_ERR_BAD_MODEL);
    free(huge);
}
END_TEST

START_TEST(test_xml_malformed)
{
    static const struct {
        const char *xml, *msg;
    } bad[] = {
        {"", "expected the <annotation>"},
        {"   ", "expected the <annotation>"},
        {"hello", "expected the <annotation>"},
        {"<root></root>", "not <annotation>"},
        {"<annotation>", "end of input"},
        {"<annotation></annotatio>", "does not close"},
        {"<annotation><a></b></annotation>", "does not close"},
        {"<annotation></annotation>x", "content after"},
        {"<annotation></annotation><annotation></annotation>", "content after"},
        {"<annotation>&foo;</annotation>", "unknown entity"},
        {"<annotation>a & b</annotation>", "'&'"},
        {"<annotation>&#0;</annotation>", "does not allow"},
        {"<annotation>&#xD800;</annotation>", "does not allow"},
        {"<annotation>&#x110000;</annotation>", "U+10FFFF"},
        {"<annotation>&#12a;</annotation>", "bad character reference"},
        {"<annotation>&#;</annotation>", "empty character reference"},
        {"<annotation>\x01</annotation>", "control character"},
        {"<annotation>\xC3(</annotation>", "UTF-8"},
        {"<annotation>\xED\xA0\x80</annotation>", "UTF-8"},
        {"<annotation><!-- x </annotation>", "unterminated comment"},
        {"<annotation><![CDATA[x</annotation>", "unterminated CDATA"},
        {"<annotation><!ELEMENT x></annotation>", "'<!'"},
        {"<!DOCTYPE annotation [<!ENTITY x \"y\">]><annotation/>", "internal subset"},
        {"<annotation a=b></annotation>", "quoted"},
        {"<annotation a></annotation>", "'='"},
        {"<annotation a='x\"></annotation>", "attribute value"},
        {"<annotation a='x", "unterminated attribute"},
        {"<annotation a='1'b='2'></annotation>", "expected space"},
        {"<annotation><1a/></annotation>", "name"},
        {"<annotation><object><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax><ymax>2</ymax>"
         "</bndbox></object></annotation>",
         "without <name>"},
        {"<annotation><object><name>a</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax>"
         "</bndbox></object></annotation>",
         "complete <bndbox>"},
        {"<annotation><object><name>a</name></object></annotation>", "complete <bndbox>"},
        {"<annotation><object><name>a</name><bndbox><xmin>one</xmin><ymin>1</ymin><xmax>2</xmax>"
         "<ymax>2</ymax></bndbox></object></annotation>",
         "<xmin> is not a number"},
        {"<annotation><object><name>a</name><bndbox><xmin>1e999</xmin><ymin>1</ymin><xmax>2</xmax>"
         "<ymax>2</ymax></bndbox></object></annotation>",
         "<xmin> is not a number"},
        {"<annotation><object><name>a</name><bndbox><xmin>0x10</xmin><ymin>1</ymin><xmax>2</xmax>"
         "<ymax>2</ymax></bndbox></object></annotation>",
         "<xmin> is not a number"},
        {"<annotation><object><name>a</name><name>b</name></object></annotation>", "two <name>s"},
        {"<annotation><object><name></name></object></annotation>", "empty <name>"},
        {"<annotation><object><name><b>x</b></name></object></annotation>", "text only"},
        {"<annotation><size><width>5.5</width></size></annotation>", "<width> is not a size"},
        {"<annotation><size><width>-5</width></size></annotation>", "<width> is not a size"},
        {"<annotation><filename>a</filename><filename>b</filename></annotation>", "twice"},
        {"<annotation><object><name>a</name><difficult>yes</difficult></object></annotation>",
         "<difficult> is not a number"},
    };
    clssd_voc_annotation a;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&a, 0x55, sizeof a);
        clssd_status s = parse_xml(bad[i].xml, &a);
        ck_assert_msg(s == CLSSD_ERR_BAD_MODEL, "case %zu (%s): %d", i, bad[i].xml, (int)s);
        ck_assert(a.objects == NULL && a.filename == NULL && a.n_objects == 0);
        ck_assert_msg(strstr(errbuf, bad[i].msg) != NULL, "case %zu: %s", i, errbuf);
        ck_assert_msg(strncmp(errbuf, "line ", 5) == 0, "case %zu: %s", i, errbuf);
    }
    ck_assert_int_eq(parse_xml("<annotation>\n\n<x></y>", &a), CLSSD_ERR_BAD_MODEL);
    ck_assert_msg(strncmp(errbuf, "line 3:", 7) == 0, "%s", errbuf);
    /* too long text in a field */
    char *longname = malloc(CLSSD_DATA_MAX_NAME + 100);
    ck_assert(longname != NULL);
    strcpy(longname, "<annotation><filename>");
    const size_t at = strlen(longname);
    memset(longname + at, 'x', CLSSD_DATA_MAX_NAME + 1);
    strcpy(longname + at + CLSSD_DATA_MAX_NAME + 1, "</filename></annotation>");
    ck_assert_int_eq(parse_xml(longname, &a), CLSSD_ERR_BAD_MODEL);
    ck_assert_msg(strstr(errbuf, "longer than") != NULL, "%s", errbuf);
    free(longname);
    ck_assert_int_eq(clssd__voc_parse_xml(NULL, 5, &a, errbuf, sizeof errbuf),
                     CLSSD_ERR_INVALID_ARG);
    ck_assert_int_eq(clssd__voc_parse_xml("x", 1, NULL, NULL, 0), CLSSD_ERR_INVALID_ARG);
    /* a NUL inside the length */
    ck_assert_int_eq(clssd__voc_parse_xml("<annotation>\0</annotation>", 26, &a, NULL, 0),
                     CLSSD_ERR_BAD_MODEL);
}
END_TEST

static uint64_t xs(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

START_TEST(test_xml_hostile)
{
    const char *doc =
        "<?xml version=\"1.0\"?><annotation><filename>a&amp;b.jpg</filename>"
        "<size><width>10</width><height>20</height></size><!-- c -->"
        "<object><name>dog</name><difficult>1</difficult><bndbox><xmin>1</xmin><ymin>2</ymin>"
        "<xmax>3</xmax><ymax>4</ymax></bndbox><part><name>x</name></part></object>"
        "<object a='1'><name><![CDATA[cat]]></name><bndbox><xmin>1</xmin><ymin>2</ymin>"
        "<xmax>3</xmax><ymax>4</ymax></bndbox></object></annotation>";
    const size_t n = strlen(doc);
    clssd_voc_annotation a;
    EXPECT_OK(parse_xml(doc, &a));
    ck_assert_uint_eq(a.n_objects, 2);
    ck_assert_str_eq(a.objects[1].name, "cat");
    clssd__voc_annotation_free(&a);
    /* every proper prefix is incomplete */
    for (size_t k = 0; k < n; k++) {
        char *c = malloc(k ? k : 1);
        ck_assert(c != NULL);
        memcpy(c, doc, k);
        clssd_status s = clssd__voc_parse_xml(c, k, &a, errbuf, sizeof errbuf);
        free(c);
        ck_assert_msg(s == CLSSD_ERR_BAD_MODEL, "prefix %zu: %d", k, (int)s);
        ck_assert(a.objects == NULL && a.filename == NULL);
    }
    /* mutations: any status, no crash, nothing left allocated on failure */
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    static const char alphabet[] = "<>/&;#x!-[]?'\"= \n\tabnmeobjctdx0123456789.\x80\xC3\xFF";
    for (int it = 0; it < 20000; it++) {
        char *c = malloc(n + 8);
        ck_assert(c != NULL);
        memcpy(c, doc, n);
        size_t len = n;
        const int edits = 1 + (int)(xs(&seed) % 4);
        for (int e = 0; e < edits; e++) {
            const size_t pos = (size_t)(xs(&seed) % len);
            const uint64_t r = xs(&seed);
            const char ch = (r & 1) ? alphabet[(r >> 8) % (sizeof alphabet - 1)] : (char)(r >> 16);
            switch ((r >> 4) % 3) {
            case 0:
                c[pos] = ch;
                break;
            case 1:
                memmove(c + pos, c + pos + 1, len - pos - 1), len--;
                break;
            default:
                if (len < n + 8) {
                    memmove(c + pos + 1, c + pos, len - pos);
                    c[pos] = ch;
                    len++;
                }
            }
        }
        char *exact = malloc(len ? len : 1);
        ck_assert(exact != NULL);
        memcpy(exact, c, len);
        free(c);
        clssd_status s = clssd__voc_parse_xml(exact, len, &a, errbuf, sizeof errbuf);
        free(exact);
        if (s == CLSSD_OK) {
            for (size_t k = 0; k < a.n_objects; k++)
                ck_assert(a.objects[k].name != NULL);
            clssd__voc_annotation_free(&a);
        } else {
            ck_assert_int_eq(s, CLSSD_ERR_BAD_MODEL);
            ck_assert(errbuf[0] != '\0');
        }
    }
    /* random bytes */
    for (int it = 0; it < 2000; it++) {
        const size_t len = (size_t)(xs(&seed) % 200);
        char *c = malloc(len ? len : 1);
        ck_assert(c != NULL);
        for (size_t k = 0; k < len; k++)
            c[k] = (char)xs(&seed);
        if (len > 12 && (it & 1)) memcpy(c, "<annotation>", 12);
        clssd_status s = clssd__voc_parse_xml(c, len, &a, NULL, 0);
        free(c);
        if (s == CLSSD_OK) clssd__voc_annotation_free(&a);
    }
}
END_TEST

/* ---------------------------------------------------------------- detections */
START_TEST(test_detect_json)
{
    clssd_gt_set *g = NULL;
    EXPECT_OK(clssd__gt_load_voc_dir(VOC_DIR, NULL, &g, errbuf, sizeof errbuf));
    /* 000001 is 353x500 in the ground truth; 000006 is 500x375 and the file says 1000x750,
     * so its boxes halve; 000002 is 335x500 and the file says 670x500: only x halves. */
    const char *p = write_tmp(
        "det.json",
        "{\n  \"model\": \"m.clssd\",\n  \"device\": \"cpu\",\n  \"images\": [\n"
        "    {\"file\": \"JPEGImages/000001.jpg\", \"width\": 353, \"height\": 500, "
        "\"detections\": [\n"
        "      {\"label\": 18, \"name\": \"dog\", \"score\": 0.9800, \"box\": [47.5, 239.0, 195.0, "
        "371.0]},\n"
        "      {\"label\": 1, \"name\": \"person\", \"score\": 0.5, \"box\": [7.0, 11.0, 352.0, "
        "498.0]},\n"
        "      {\"label\": 99, \"name\": \"giraffe\", \"score\": 0.4, \"box\": [1, 2, 3, 4]}\n"
        "    ]},\n"
        "    {\"file\": \"/abs/000006.jpg\", \"width\": 1000, \"height\": 750, \"detections\": [\n"
        "      {\"label\": 62, \"name\": \"chair\", \"score\": 0.25, \"box\": [100, 50, 300, "
        "250]}]},\n"
        "    {\"file\": \"000002.jpg\", \"width\": 670, \"height\": 500, \"detections\": [\n"
        "      {\"label\": 7, \"name\": \"train\", \"score\": 0.75, \"box\": [100, 50, 300, "
        "250]}]},\n"
        "    {\"file\": \"broken.jpg\", \"error\": \"cannot decode\"},\n"
        "    {\"file\": \"zzz.jpg\", \"width\": 10, \"height\": 10, \"detections\": [\n"
        "      {\"label\": 18, \"name\": \"dog\", \"score\": 0.1, \"box\": [1, 2, 3, 4]},\n"
        "      {\"label\": 18, \"name\": \"dog\", \"score\": 0.1, \"box\": [1, 2, 3, 4]}]},\n"
        "    {\"file\": \"000003.jpg\", \"width\": 500, \"height\": 375, \"detections\": []}\n"
        "  ]\n}\n");
    clssd_det_set d;
    memset(&d, 0xAB, sizeof d);
    EXPECT_OK(clssd__dets_load_detect_json(p, g, NULL, &d, errbuf, sizeof errbuf));
    ck_assert_uint_eq(d.n, 4);
    ck_assert_uint_eq(d.n_unmatched_image, 2);
    ck_assert_uint_eq(d.n_unmatched_class, 1);
    ck_assert_int_eq(d.dets[0].image, 0);
    ck_assert_int_eq(d.dets[0].cls, 11);
    ck_assert(d.dets[0].score == 0.98);
    check_box(d.dets[0].box, 47.5, 239, 195, 371);
    ck_assert_int_eq(d.dets[1].cls, 14);
    ck_assert_int_eq(d.dets[2].image, 4);
    ck_assert_int_eq(d.dets[2].cls, 8);
    check_box(d.dets[2].box, 50, 25, 150, 125);
    ck_assert_int_eq(d.dets[3].image, 1);
    ck_assert_int_eq(d.dets[3].cls, 18);
    check_box(d.dets[3].box, 50, 50, 150, 250);
    clssd__dets_free(&d);
    ck_assert(d.dets == NULL && d.n == 0);

    /* through a map: COCO names of clssd-detect's default model */
    const char *p2 = write_tmp(
        "det2.json", "{\"images\": [{\"file\": \"000001.jpg\", \"detections\": ["
                     "{\"name\": \"couch\", \"score\": 0.5, \"box\": [1, 2, 3, 4]},"
                     "{\"name\": \"dog\", \"score\": 0.5, \"box\": [1, 2, 3, 4]},"
                     "{\"name\": \"tv\", \"score\": 0.5, \"box\": [1, 2, 3, 4]},"
                     "{\"name\": \"giraffe\", \"score\": 0.5, \"box\": [1, 2, 3, 4]},"
                     "{\"name\": \"dining table\", \"score\": 0.5, \"box\": [1, 2, 3, 4]}]}]}");
    clssd_class_map m;
    EXPECT_OK(clssd__class_map_load("coco-voc", &m, errbuf, sizeof errbuf));
    EXPECT_OK(clssd__dets_load_detect_json(p2, g, &m, &d, errbuf, sizeof errbuf));
    ck_assert_uint_eq(d.n, 4);
    ck_assert_uint_eq(d.n_unmatched_class, 1);
    ck_assert_int_eq(d.dets[0].cls, 17); /* sofa */
    ck_assert_int_eq(d.dets[1].cls, 11);
    ck_assert_int_eq(d.dets[2].cls, 19);  /* tvmonitor */
    ck_assert_int_eq(d.dets[3].cls, 10);  /* diningtable */
    check_box(d.dets[0].box, 1, 2, 3, 4); /* no size in the file: not scaled */
    clssd__dets_free(&d);
    /* without the map, COCO names other than VOC's are unknown */
    EXPECT_OK(clssd__dets_load_detect_json(p2, g, NULL, &d, errbuf, sizeof errbuf));
    ck_assert_uint_eq(d.n, 1);
    ck_assert_uint_eq(d.n_unmatched_class, 4);
    clssd__dets_free(&d);
    clssd__class_map_free(&m);

    static const struct {
        const char *json, *msg;
    } bad[] = {
        {"[]", "not an object"},
        {"{}", "\"images\""},
        {"{\"images\": [{\"detections\": []}]}", "images[0]: \"file\""},
        {"{\"images\": [{\"file\": \"a\"}]}", "images[0]: \"detections\""},
        {"{\"images\": [{\"file\": \"000001.jpg\", \"detections\": [{\"name\": \"dog\", "
         "\"score\": 1, \"box\": [1, 2, 3]}]}]}",
         "images[0].detections[0]: box must be 4 numbers"},
        {"{\"images\": [{\"file\": \"000001.jpg\", \"detections\": [{\"name\": \"dog\", "
         "\"score\": null, \"box\": [1, 2, 3, 4]}]}]}",
         "\"score\""},
        {"{\"images\": [{\"file\": \"000001.jpg\", \"detections\": [{\"label\": 3, "
         "\"score\": 1, \"box\": [1, 2, 3, 4]}]}]}",
         "\"name\""},
        {"{\"images\": [{\"file\": \"000001.jpg\", \"width\": -3, \"detections\": []}]}",
         "\"width\""},
        {"{\"images\": [", "line 1"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p = write_tmp("bad.json", bad[i].json);
        memset(&d, 0xAB, sizeof d);
        clssd_status s = clssd__dets_load_detect_json(p, g, NULL, &d, errbuf, sizeof errbuf);
        ck_assert_msg(s == CLSSD_ERR_BAD_MODEL, "case %zu: %d", i, (int)s);
        ck_assert(d.dets == NULL && d.n == 0);
        ck_assert_msg(strstr(errbuf, bad[i].msg) != NULL, "case %zu: %s", i, errbuf);
    }
    ck_assert_int_eq(
        clssd__dets_load_detect_json(tmp_path("none.json"), g, NULL, &d, errbuf, sizeof errbuf),
        CLSSD_ERR_IO);
    ck_assert_int_eq(clssd__dets_load_detect_json(p, NULL, NULL, &d, errbuf, sizeof errbuf),
                     CLSSD_ERR_INVALID_ARG);
    clssd__gt_free(g);
}
END_TEST

START_TEST(test_coco_results)
{
    clssd_gt_set *g = NULL;
    EXPECT_OK(clssd__gt_load_voc_dir(VOC_DIR, NULL, &g, errbuf, sizeof errbuf));
    /* VOC ground truth: image coco_id = the id as a number, class coco_id = VOC index + 1 */
    const char *p = write_tmp(
        "res.json",
        "[{\"image_id\": 1, \"category_id\": 12, \"bbox\": [10, 20, 30, 40], \"score\": 0.9},"
        " {\"image_id\": 5, \"category_id\": 12, \"bbox\": [10, 20, 30, 40], \"score\": 0.9},"
        " {\"image_id\": 6, \"category_id\": 99, \"bbox\": [10, 20, 30, 40], \"score\": 0.9},"
        " {\"image_id\": 8591, \"category_id\": 1, \"bbox\": [0.5, 0.25, 1, 2], \"score\": 1e-3}]");
    clssd_det_set d;
    EXPECT_OK(clssd__dets_load_coco_results(p, g, &d, errbuf, sizeof errbuf));
    ck_assert_uint_eq(d.n, 2);
    ck_assert_uint_eq(d.n_unmatched_image, 1);
    ck_assert_uint_eq(d.n_unmatched_class, 1);
    ck_assert_int_eq(d.dets[0].image, 0);
    ck_assert_int_eq(d.dets[0].cls, 11);
    check_box(d.dets[0].box, 10, 20, 40, 60);
    ck_assert(d.dets[0].score == 0.9);
    ck_assert_int_eq(d.dets[1].image, 17);
    ck_assert_int_eq(d.dets[1].cls, 0);
    check_box(d.dets[1].box, 0.5, 0.25, 1.5, 2.25);
    clssd__dets_free(&d);

    /* against the COCO ground truth */
    clssd_gt_set *c = NULL;
    EXPECT_OK(clssd__gt_load_coco(VOC_DIR "/pascal_test2007.json", &c, errbuf, sizeof errbuf));
    EXPECT_OK(clssd__dets_load_coco_results(p, c, &d, errbuf, sizeof errbuf));
    ck_assert_uint_eq(d.n, 2);
    ck_assert_uint_eq(d.n_unmatched_image, 1); /* image 5 is not in VOC07 test */
    ck_assert_str_eq(c->images[d.dets[1].image].id, "8591");
    clssd__dets_free(&d);
    clssd__gt_free(c);

    static const struct {
        const char *json, *msg;
    } bad[] = {
        {"{}", "not an array"},
        {"[1]", "[0]: not an object"},
        {"[{\"category_id\": 1, \"bbox\": [1,2,3,4], \"score\": 1}]", "[0]: \"image_id\""},
        {"[{\"image_id\": 1, \"bbox\": [1,2,3,4], \"score\": 1}]", "\"category_id\""},
        {"[{\"image_id\": 1, \"category_id\": 1, \"bbox\": [1,2,3,4,5], \"score\": 1}]",
         "[0]: bbox must be 4 numbers"},
        {"[{\"image_id\": 1, \"category_id\": 1, \"bbox\": [1,2,3,4]}]", "\"score\""},
        {"[{\"image_id\": 1, \"category_id\": 1, \"bbox\": [1e308,2,1e308,4], \"score\": 1}]",
         "out of range"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p = write_tmp("bad.json", bad[i].json);
        clssd_status s = clssd__dets_load_coco_results(p, g, &d, errbuf, sizeof errbuf);
        ck_assert_msg(s == CLSSD_ERR_BAD_MODEL, "case %zu: %d", i, (int)s);
        ck_assert(d.dets == NULL && d.n == 0);
        ck_assert_msg(strstr(errbuf, bad[i].msg) != NULL, "case %zu: %s", i, errbuf);
    }
    clssd__gt_free(g);
}
END_TEST

START_TEST(test_dets_push)
{
    clssd_det_set d;
    memset(&d, 0, sizeof d);
    for (int i = 0; i < 1000; i++) {
        clssd_det x = {i, i % 7, i * 0.5, {i, i + 1, i + 2, i + 3}};
        EXPECT_OK(clssd__dets_push(&d, &x));
    }
    ck_assert_uint_eq(d.n, 1000);
    ck_assert_uint_ge(d.cap, 1000);
    for (int i = 0; i < 1000; i++) {
        ck_assert_int_eq(d.dets[i].image, i);
        ck_assert(d.dets[i].score == i * 0.5);
        ck_assert(d.dets[i].box[3] == i + 3);
    }
    clssd__dets_free(&d);
    ck_assert_int_eq(clssd__dets_push(NULL, NULL), CLSSD_ERR_INVALID_ARG);
    clssd__dets_free(NULL);
    /* failure leaves the set as it was */
    clssd_det x = {1, 2, 0.5, {0, 0, 1, 1}};
    clssd__alloc_fail_after(1);
    ck_assert_int_eq(clssd__dets_push(&d, &x), CLSSD_ERR_OUT_OF_MEMORY);
    clssd__alloc_fail_after(0);
    ck_assert_uint_eq(d.n, 0);
    EXPECT_OK(clssd__dets_push(&d, &x));
    clssd__dets_free(&d);
}
END_TEST

/* ---------------------------------------------------------------- class maps */
START_TEST(test_class_map)
{
    clssd_class_map m;
    EXPECT_OK(clssd__class_map_load("coco-voc", &m, errbuf, sizeof errbuf));
    ck_assert_int_eq(m.exclusive, 1);
    static const char *const pairs[][2] = {{"airplane", "aeroplane"},
                                           {"bicycle", "bicycle"},
                                           {"bird", "bird"},
                                           {"boat", "boat"},
                                           {"bottle", "bottle"},
                                           {"bus", "bus"},
                                           {"car", "car"},
                                           {"cat", "cat"},
                                           {"chair", "chair"},
                                           {"cow", "cow"},
                                           {"dining table", "diningtable"},
                                           {"dog", "dog"},
                                           {"horse", "horse"},
                                           {"motorcycle", "motorbike"},
                                           {"person", "person"},
                                           {"potted plant", "pottedplant"},
                                           {"sheep", "sheep"},
                                           {"couch", "sofa"},
                                           {"train", "train"},
                                           {"tv", "tvmonitor"},
                                           {"tvmonitor", "tvmonitor"},
                                           {"sofa", "sofa"}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        const char *r = clssd__class_map_apply(&m, pairs[i][0]);
        ck_assert_msg(r && !strcmp(r, pairs[i][1]), "%s -> %s", pairs[i][0], r ? r : "NULL");
    }
    static const char *const dropped[] = {"giraffe",    "truck", "toothbrush",
                                          "background", "Dog",   ""};
    for (size_t i = 0; i < sizeof dropped / sizeof dropped[0]; i++)
        ck_assert(clssd__class_map_apply(&m, dropped[i]) == NULL);
    ck_assert(clssd__class_map_apply(&m, NULL) == NULL);
    /* every one of the 80 COCO names the default model prints maps to a VOC name or nothing */
    size_t mapped = 0;
    static const char *const coco80[] = {"person",        "bicycle",      "car",
                                         "motorcycle",    "airplane",     "bus",
                                         "train",         "truck",        "boat",
                                         "traffic light", "fire hydrant", "stop sign",
                                         "parking meter", "bench",        "bird",
                                         "cat",           "dog",          "horse",
                                         "sheep",         "cow",          "elephant",
                                         "bear",          "zebra",        "giraffe",
                                         "backpack",      "umbrella",     "handbag",
                                         "tie",           "suitcase",     "frisbee",
                                         "skis",          "snowboard",    "sports ball",
                                         "kite",          "baseball bat", "baseball glove",
                                         "skateboard",    "surfboard",    "tennis racket",
                                         "bottle",        "wine glass",   "cup",
                                         "fork",          "knife",        "spoon",
                                         "bowl",          "banana",       "apple",
                                         "sandwich",      "orange",       "broccoli",
                                         "carrot",        "hot dog",      "pizza",
                                         "donut",         "cake",         "chair",
                                         "couch",         "potted plant", "bed",
                                         "dining table",  "toilet",       "tv",
                                         "laptop",        "mouse",        "remote",
                                         "keyboard",      "cell phone",   "microwave",
                                         "oven",          "toaster",      "sink",
                                         "refrigerator",  "book",         "clock",
                                         "vase",          "scissors",     "teddy bear",
                                         "hair drier",    "toothbrush"};
    ck_assert_uint_eq(sizeof coco80 / sizeof coco80[0], 80);
    for (size_t i = 0; i < 80; i++)
        mapped += clssd__class_map_apply(&m, coco80[i]) != NULL;
    ck_assert_uint_eq(mapped, 20);
    clssd__class_map_free(&m);
    ck_assert(m.n == 0 && m.from == NULL);
    clssd__class_map_free(NULL);
    ck_assert_str_eq(clssd__class_map_apply(NULL, "x"), "x");

    const char *p = write_tmp("map.txt", "# my map\n\n  \nfoo\tbar\r\n  big cat = cat \n"
                                         "   # indented comment\nx=y = z\n");
    EXPECT_OK(clssd__class_map_load(p, &m, errbuf, sizeof errbuf));
    ck_assert_uint_eq(m.n, 3);
    ck_assert_str_eq(clssd__class_map_apply(&m, "foo"), "bar");
    ck_assert_str_eq(clssd__class_map_apply(&m, "big cat"), "cat");
    ck_assert_str_eq(clssd__class_map_apply(&m, "x"), "y = z");
    ck_assert(clssd__class_map_apply(&m, "bar") == NULL);
    /* a non-exclusive map keeps unmapped names */
    m.exclusive = 0;
    ck_assert_str_eq(clssd__class_map_apply(&m, "bar"), "bar");
    clssd__class_map_free(&m);

    static const char *const bad[] = {"foo bar\n", "a\tb\na\tc\n", " = b\n", "a =\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p = write_tmp("badmap.txt", bad[i]);
        ck_assert_int_eq(clssd__class_map_load(p, &m, errbuf, sizeof errbuf), CLSSD_ERR_BAD_MODEL);
        ck_assert_msg(strstr(errbuf, "line ") != NULL, "case %zu: %s", i, errbuf);
        ck_assert(m.n == 0 && m.from == NULL);
    }
    ck_assert_int_eq(clssd__class_map_load("coco-vocx", &m, errbuf, sizeof errbuf), CLSSD_ERR_IO);
    ck_assert_msg(strstr(errbuf, "coco-voc") != NULL, "%s", errbuf);
    ck_assert_int_eq(clssd__class_map_load(NULL, &m, NULL, 0), CLSSD_ERR_INVALID_ARG);
}
END_TEST

/* ---------------------------------------------------------------- allocation failures */
typedef clssd_status (*loader_fn)(void *ctx);

static const char *g_paths[4];
static clssd_gt_set *g_gt;

static clssd_status ld_voc_dir(void *out)
{
    return clssd__gt_load_voc_dir(VOC_DIR, NULL, (clssd_gt_set **)out, errbuf, sizeof errbuf);
}
static clssd_status ld_voc_dir_set(void *out)
{
    return clssd__gt_load_voc_dir(g_paths[0], "mini", (clssd_gt_set **)out, errbuf, sizeof errbuf);
}
static clssd_status ld_tsv(void *out)
{
    return clssd__gt_load_voc_tsv(g_paths[1], g_paths[2], (clssd_gt_set **)out, errbuf,
                                  sizeof errbuf);
}
static clssd_status ld_coco(void *out)
{
    return clssd__gt_load_coco(g_paths[3], (clssd_gt_set **)out, errbuf, sizeof errbuf);
}

static void oom_loop_gt(loader_fn f, size_t n_images, size_t n_objects)
{
    for (long n = 1;; n++) {
        clssd_gt_set *g = (clssd_gt_set *)1;
        clssd__alloc_fail_after(n);
        clssd_status s = f(&g);
        clssd__alloc_fail_after(0);
        if (s == CLSSD_OK) {
            ck_assert_uint_eq(g->n_images, n_images);
            ck_assert_uint_eq(g->n_objects, n_objects);
            clssd__gt_free(g);
            ck_assert_int_gt(n, 1);
            return;
        }
        ck_assert_msg(s == CLSSD_ERR_OUT_OF_MEMORY, "n = %ld: %d %s", n, (int)s, errbuf);
        ck_assert(g == NULL);
        ck_assert_msg(n < 1000000, "never succeeded");
    }
}

START_TEST(test_alloc_failures)
{
    write_tmp("oom/voc/Annotations/x1.xml",
              "<annotation><filename>x1.jpg</filename><size><width>7</width><height>8</height>"
              "</size><object><name>gnu</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax>"
              "<ymax>2</ymax></bndbox></object><object><name>emu</name><bndbox><xmin>1</xmin>"
              "<ymin>1</ymin><xmax>2</xmax><ymax>2</ymax></bndbox></object></annotation>");
    write_tmp("oom/voc/Annotations/x2.xml", "<annotation/>");
    write_tmp("oom/voc/ImageSets/Main/mini.txt", "x2\nx1\n");
    g_paths[0] = strdup(tmp_path("oom/voc"));
    g_paths[1] = strdup(write_tmp("oom/a.tsv", "# image_id\tclass\txmin\tymin\txmax\tymax\n"
                                               "i1\tdog\t1\t1\t2\t2\ni2\tcat\t1\t1\t2\t2\n"
                                               "i1\tyak\t1\t1\t2\t2\ni3\tdog\t1\t1\t2\t2\n"));
    g_paths[2] = strdup(write_tmp("oom/a.list", "i3\ni1\ni9\n"));
    g_paths[3] = strdup(write_tmp(
        "oom/c.json",
        "{\"images\": [{\"id\": 1, \"file_name\": \"a.jpg\"}, {\"id\": 2}],"
        " \"categories\": [{\"id\": 1, \"name\": \"a\"}, {\"id\": 2, \"name\": \"b\"}],"
        " \"annotations\": [{\"id\": 1, \"image_id\": 2, \"category_id\": 1, \"bbox\": [1,2,3,4]},"
        " {\"id\": 2, \"image_id\": 1, \"category_id\": 2, \"bbox\": [1,2,3,4]}]}"));
    oom_loop_gt(ld_voc_dir, 18, 72);
    oom_loop_gt(ld_voc_dir_set, 2, 2);
    oom_loop_gt(ld_tsv, 3, 3);
    oom_loop_gt(ld_coco, 2, 2);

    /* detections and maps */
    EXPECT_OK(clssd__gt_load_voc_dir(VOC_DIR, NULL, &g_gt, errbuf, sizeof errbuf));
    const char *dj =
        write_tmp("oom/d.json", "{\"images\": [{\"file\": \"000001.jpg\", \"detections\": ["
                                "{\"name\": \"couch\", \"score\": 0.5, \"box\": [1, 2, 3, 4]},"
                                "{\"name\": \"dog\", \"score\": 0.5, \"box\": [1, 2, 3, 4]}]},"
                                "{\"file\": \"q.jpg\", \"detections\": []}]}");
    const char *rj = write_tmp("oom/r.json", "[{\"image_id\": 1, \"category_id\": 12, \"bbox\": "
                                             "[10, 20, 30, 40], \"score\": 0.9}]");
    const char *mp = write_tmp("oom/m.txt", "couch\tsofa\ndog = dog\n");
    for (int which = 0; which < 4; which++) {
        for (long n = 1;; n++) {
            clssd_class_map m;
            clssd_det_set d;
            memset(&d, 0, sizeof d);
            clssd_status s;
            clssd__alloc_fail_after(n);
            if (which == 0)
                s = clssd__class_map_load("coco-voc", &m, errbuf, sizeof errbuf);
            else if (which == 1)
                s = clssd__class_map_load(mp, &m, errbuf, sizeof errbuf);
            else if (which == 2)
                s = clssd__dets_load_detect_json(dj, g_gt, NULL, &d, errbuf, sizeof errbuf);
            else
                s = clssd__dets_load_coco_results(rj, g_gt, &d, errbuf, sizeof errbuf);
            clssd__alloc_fail_after(0);
            if (s == CLSSD_OK) {
                if (which < 2) {
                    ck_assert_str_eq(clssd__class_map_apply(&m, "couch"), "sofa");
                    clssd__class_map_free(&m);
                } else {
                    ck_assert_uint_eq(d.n, which == 2 ? 1 : 1);
                    clssd__dets_free(&d);
                }
                break;
            }
            ck_assert_msg(s == CLSSD_ERR_OUT_OF_MEMORY, "which %d n %ld: %d %s", which, n, (int)s,
                          errbuf);
            if (which < 2)
                ck_assert(m.n == 0 && m.from == NULL && m.to == NULL);
            else
                ck_assert(d.dets == NULL && d.n == 0);
        }
    }
    /* the XML reader alone */
    const char *doc = "<annotation><filename>f</filename><object><name>a</name><bndbox>"
                      "<xmin>1</xmin><ymin>1</ymin><xmax>2</xmax><ymax>2</ymax></bndbox></object>"
                      "<object><name>b</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax>"
                      "<ymax>2</ymax></bndbox></object></annotation>";
    for (long n = 1;; n++) {
        clssd_voc_annotation a;
        clssd__alloc_fail_after(n);
        clssd_status s = clssd__voc_parse_xml(doc, strlen(doc), &a, errbuf, sizeof errbuf);
        clssd__alloc_fail_after(0);
        if (s == CLSSD_OK) {
            ck_assert_uint_eq(a.n_objects, 2);
            clssd__voc_annotation_free(&a);
            break;
        }
        ck_assert_int_eq(s, CLSSD_ERR_OUT_OF_MEMORY);
        ck_assert(a.objects == NULL && a.filename == NULL);
    }
    clssd__gt_free(g_gt);
    g_gt = NULL;
    for (int i = 0; i < 4; i++) {
        free((void *)g_paths[i]);
        g_paths[i] = NULL;
    }
}
END_TEST

static Suite *dataset_suite(void)
{
    Suite *s = suite_create("dataset");
    TCase *tc = tcase_create("readers");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_voc_dir_shared);
    tcase_add_test(tc, test_voc_dir_image_set);
    tcase_add_test(tc, test_tsv_shared);
    tcase_add_test(tc, test_tsv_small);
    tcase_add_test(tc, test_coco_shared);
    tcase_add_test(tc, test_coco_small);
    tcase_add_test(tc, test_xml_features);
    tcase_add_test(tc, test_xml_malformed);
    tcase_add_test(tc, test_detect_json);
    tcase_add_test(tc, test_coco_results);
    tcase_add_test(tc, test_dets_push);
    tcase_add_test(tc, test_class_map);
    suite_add_tcase(s, tc);
    tc = tcase_create("robustness");
    tcase_set_timeout(tc, 3000); /* generous: these also run under valgrind */
    tcase_add_test(tc, test_xml_hostile);
    tcase_add_test(tc, test_alloc_failures);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    make_tmp_root();
    SRunner *sr = srunner_create(dataset_suite());
    srunner_run_all(sr, CK_NORMAL);
    const int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    rm_tree(tmp_root);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
