/* clssd-synth: writes a synthetic PASCAL VOC-layout dataset, simple shapes on textured
 * backgrounds, for quick training experiments and tests (issue 6).
 *
 *   clssd-synth --out DIR [--count N] [--size WxH|S] [--seed S] [--classes LIST]
 *               [--test-fraction F] [--max-objects K] [--size-range LO,HI]
 *               [--jpeg-quality Q] [--background LIST] [--force] [--quiet]
 *
 * DIR/JPEGImages/NNNNNN.jpg, DIR/Annotations/NNNNNN.xml, DIR/ImageSets/Main/{trainval,test}.txt,
 * DIR/labels.txt, DIR/README.txt.
 *
 * What is drawn (per image, from an RNG seeded by --seed and the image number only, so the
 * output is byte-identical for the same arguments and image i does not depend on --count):
 *   - a background: plain colour, smooth value noise, soft stripes, a linear or radial
 *     gradient, fine rotated checkers or irregular blotches (thresholded low-frequency noise,
 *     so not discs); textured backgrounds also get a brightness ramp half of the time and
 *     per-pixel grain on top of everything;
 *   - 1..K objects, each a filled shape of a class picked uniformly: circle, square,
 *     triangle, star, ring (hollow circle), and optionally cross and hexagon. Colour is
 *     random and independent of the class (chosen to contrast with the background under
 *     the object), with a random linear shading; size is log-uniform in --size-range (the
 *     larger side of the box as a fraction of the image's smaller side), aspect 0.8..1.25,
 *     rotation small for square/cross (+-20 deg), triangle (+-26 deg), any for
 *     star/hexagon/circle/ring (symmetric anyway). Edges are antialiased (4x4 samples).
 *   - objects lie wholly inside the image (truncated = 0) with a 1 px margin; a placement
 *     is refused when its box overlaps an earlier box by more than 25% of the smaller box's
 *     area (up to 25 positions are tried, then the object is dropped; the first object
 *     always fits).
 * Boxes: 1-based inclusive pixel boxes exactly enclosing every pixel the shape covers
 * (antialiased edge pixels included; a pixel a shape covers always differs from the
 * background there before grain/JPEG). Later objects are drawn over earlier ones; boxes are
 * the full (amodal) extent. difficult = 1 for an object whose box's smaller side is under
 * 12 px, or with less than half of its pixels visible (both rare with the defaults).
 *
 * Exit status: 0 done, 1 runtime error (cannot create or write, DIR not ours), 2 usage. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "cli_opts.h"
#include "clssd_internal.h"
#include "image_io.h"

#define PROG "clssd-synth"
/* First line of README.txt: how a previous output directory is recognised. */
#define MARKER "clssd-synth synthetic dataset (PASCAL VOC layout)"
#define MAX_OBJECTS 16
#define MAX_COUNT 1000000L
#define MIN_SIDE 32
#define MAX_SIDE 4096
#define TINY_SIDE 12 /* difficult below this many pixels (box's smaller side) */
#define PI_F 3.14159265f

/* ---------------------------------------------------------------- shapes */

enum { SH_CIRCLE, SH_SQUARE, SH_TRIANGLE, SH_STAR, SH_RING, SH_CROSS, SH_HEXAGON, N_SHAPES };
static const char *const shape_names[N_SHAPES] = {"circle", "square", "triangle", "star",
                                                  "ring",   "cross",  "hexagon"};
#define DEFAULT_CLASSES "circle,square,triangle,star,ring"

enum { BG_PLAIN, BG_NOISE, BG_STRIPES, BG_GRADIENT, BG_CHECKERS, BG_BLOTCHES, N_BGS };
static const char *const bg_names[N_BGS] = {"plain",    "noise",   "stripes",
                                            "gradient", "checkers", "blotches"};
#define DEFAULT_BACKGROUNDS "noise,stripes,gradient,checkers,blotches"

typedef struct shape {
    int kind;
    float cx, cy;     /* centre in pixel coordinates (pixel x covers [x, x + 1)) */
    float irx, iry;   /* 1 / half-extents along the shape's own axes */
    float c, s;       /* cos, sin of the rotation */
    float p;          /* ring: inner radius; star: inner radius; cross: arm half-width */
} shape;

/* Star: the sector rotations (k * 72 deg) used to fold a point into the first sector. */
static const float star_cos[5] = {1.0f, 0.30901699f, -0.80901699f, -0.80901699f, 0.30901699f};
static const float star_sin[5] = {0.0f, 0.95105652f, 0.58778525f, -0.58778525f, -0.95105652f};

/* Is the pixel-space point (x, y) inside the shape? The shape lives in unit coordinates
 * (u, v), v pointing down, within the square [-1, 1]^2 (the square itself fills it). */
static int inside(const shape *sh, float x, float y)
{
    const float dx = x - sh->cx, dy = y - sh->cy;
    const float u = (dx * sh->c + dy * sh->s) * sh->irx;
    const float v = (dy * sh->c - dx * sh->s) * sh->iry;
    switch (sh->kind) {
    case SH_CIRCLE:
        return u * u + v * v <= 1.0f;
    case SH_RING: {
        const float r2 = u * u + v * v;
        return r2 <= 1.0f && r2 >= sh->p * sh->p;
    }
    case SH_SQUARE:
        return fabsf(u) <= 1.0f && fabsf(v) <= 1.0f;
    case SH_TRIANGLE: /* vertices (0, -1), (+-sqrt(3)/2, 1/2): circumradius 1, apex up */
        return v <= 0.5f && 1.7320508f * fabsf(u) - v <= 1.0f;
    case SH_STAR: {
        const float r2 = u * u + v * v;
        if (r2 > 1.0f) return 0;
        /* Angle from "up", folded into the sector [-36, 36) deg, then mirrored to [0, 36]. */
        const float a = atan2f(u, -v); /* (-pi, pi] */
        int k = (int)floorf((a + 0.62831853f) / 1.2566371f);
        k = ((k % 5) + 5) % 5;
        /* Rotate by -k*72 deg in the (up, right) frame: q = (along up, across). */
        const float qa = -v, qb = u;
        const float fa = qa * star_cos[k] + qb * star_sin[k];
        const float fb = fabsf(qb * star_cos[k] - qa * star_sin[k]);
        /* Edge from the outer vertex O = (1, 0) to the inner vertex I = p(cos36, sin36). */
        const float ex = sh->p * 0.80901699f - 1.0f, ey = sh->p * 0.58778525f;
        return ex * fb - ey * (fa - 1.0f) >= 0.0f;
    }
    case SH_CROSS: {
        const float au = fabsf(u), av = fabsf(v);
        return (au <= 1.0f && av <= sh->p) || (av <= 1.0f && au <= sh->p);
    }
    case SH_HEXAGON: { /* flat-topped, circumradius 1 */
        const float au = fabsf(u), av = fabsf(v);
        return av <= 0.8660254f && 0.8660254f * au + 0.5f * av <= 0.8660254f;
    }
    default:
        return 0;
    }
}

/* Points of the unit shape whose convex hull holds it: for the box estimate before drawing. */
static int hull_points(const shape *sh, float pts[][2])
{
    int n = 0;
    switch (sh->kind) {
    case SH_CIRCLE:
    case SH_RING:
        for (int i = 0; i < 90; i++) {
            const float a = (float)i * (2.0f * PI_F / 90.0f);
            pts[n][0] = cosf(a) * 1.0007f; /* the polygon is inside the circle: pad it */
            pts[n][1] = sinf(a) * 1.0007f;
            n++;
        }
        break;
    case SH_SQUARE:
        for (int i = 0; i < 4; i++) {
            pts[n][0] = (i & 1) ? 1.0f : -1.0f;
            pts[n][1] = (i & 2) ? 1.0f : -1.0f;
            n++;
        }
        break;
    case SH_TRIANGLE:
        pts[0][0] = 0.0f, pts[0][1] = -1.0f;
        pts[1][0] = 0.8660254f, pts[1][1] = 0.5f;
        pts[2][0] = -0.8660254f, pts[2][1] = 0.5f;
        n = 3;
        break;
    case SH_STAR:
        for (int k = 0; k < 5; k++) {
            pts[n][0] = star_sin[k];
            pts[n][1] = -star_cos[k];
            n++;
        }
        break;
    case SH_CROSS:
        for (int i = 0; i < 4; i++) {
            const float a = (i & 1) ? 1.0f : -1.0f, b = (i & 2) ? sh->p : -sh->p;
            pts[n][0] = a, pts[n][1] = b, n++;
            pts[n][0] = b, pts[n][1] = a, n++;
        }
        break;
    case SH_HEXAGON:
        for (int k = 0; k < 6; k++) {
            const float a = (float)k * (PI_F / 3.0f);
            pts[n][0] = cosf(a);
            pts[n][1] = sinf(a);
            n++;
        }
        break;
    default:
        break;
    }
    return n;
}

/* ---------------------------------------------------------------- options */

typedef struct opts {
    const char *out;
    long count;
    int w, h;
    uint64_t seed;
    int classes[N_SHAPES];
    int n_classes;
    double test_fraction;
    int max_objects;
    double size_lo, size_hi;
    int quality;
    int bgs[N_BGS];
    int n_bgs;
    int png, force, quiet;
} opts;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: " PROG " --out DIR [--count N] [--size WxH|S] [--seed S] [--classes LIST]\n"
            "                   [--test-fraction F] [--max-objects K] [--size-range LO,HI]\n"
            "                   [--jpeg-quality Q] [--background LIST] [--force] [--quiet]\n"
            "\n"
            "Writes a synthetic PASCAL VOC-layout dataset: shapes on textured backgrounds.\n"
            "DIR/JPEGImages/NNNNNN.jpg, DIR/Annotations/NNNNNN.xml, DIR/ImageSets/Main/\n"
            "{trainval,test}.txt, DIR/labels.txt (class names in order), DIR/README.txt.\n"
            "\n"
            "  --out DIR            output directory (created like mkdir -p)\n"
            "  --count N            images, 1..%ld (default 2000)\n"
            "  --size WxH | S       image size, sides %d..%d (default 300)\n"
            "  --seed S             RNG seed, 0..2^64-1 (default 1): same arguments, same bytes\n"
            "  --classes LIST       comma-separated shapes from circle, square, triangle, star,\n"
            "                       ring, cross, hexagon (default " DEFAULT_CLASSES ")\n"
            "  --test-fraction F    share of images listed in test.txt, 0..1 (default 0.2)\n"
            "  --max-objects K      objects per image 1..K, K <= %d (default 4)\n"
            "  --size-range LO,HI   object size (box's larger side / image's smaller side),\n"
            "                       0 < LO <= HI <= 0.9, log-uniform (default 0.08,0.6)\n"
            "  --jpeg-quality Q     1..100 (default 90)\n"
            "  --background LIST    comma-separated from noise, stripes, gradient, checkers,\n"
            "                       blotches, plain (default: all but plain); plain is one flat\n"
            "                       colour, no grain\n"
            "  --png                (debugging) lossless PNG images instead of JPEG\n"
            "  --force              write into a non-empty DIR that is not clssd-synth output\n"
            "  --quiet              no summary line\n"
            "  -h, --help           this text\n"
            "\n"
            "Objects marked difficult: box side under %d px, or less than half visible.\n"
            "Rewriting a previous clssd-synth DIR first removes its numbered images and\n"
            "annotations. Exit status: 0 ok, 1 runtime error, 2 usage error.\n",
            MAX_COUNT, MIN_SIDE, MAX_SIDE, MAX_OBJECTS, TINY_SIDE);
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    if (!*s || *s == ' ' || *s == '+' || (*s == '-' && lo >= 0)) return -1;
    char *end;
    errno = 0;
    const long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int parse_double(const char *s, double *out, char **end_out)
{
    if (!*s || *s == ' ' || *s == '\t') return -1;
    char *end;
    errno = 0;
    const double v = strtod(s, &end);
    if (errno || end == s || !isfinite(v)) return -1;
    if (end_out)
        *end_out = end;
    else if (*end)
        return -1;
    *out = v;
    return 0;
}

/* Comma-separated names from table[0..n) into idx; no duplicates, at least one. */
static int parse_name_list(const char *s, const char *const *table, int n, int *idx, int *count,
                           const char *opt)
{
    *count = 0;
    const char *p = s;
    for (;;) {
        const char *comma = strchr(p, ',');
        const size_t len = comma ? (size_t)(comma - p) : strlen(p);
        int found = -1;
        for (int k = 0; k < n; k++)
            if (strlen(table[k]) == len && !strncmp(p, table[k], len)) found = k;
        if (found < 0) {
            fprintf(stderr, PROG ": %s: unknown name '%.*s' (--help lists them)\n", opt,
                    (int)len, p);
            return -1;
        }
        for (int k = 0; k < *count; k++)
            if (idx[k] == found) {
                fprintf(stderr, PROG ": %s: '%s' given twice\n", opt, table[found]);
                return -1;
            }
        idx[(*count)++] = found;
        if (!comma) break;
        p = comma + 1;
    }
    return 0;
}

static int parse_args(int argc, char **argv, opts *o)
{
    static const char *const names[] = {"--out",          "--count",        "--size",
                                        "--seed",         "--classes",      "--test-fraction",
                                        "--max-objects",  "--size-range",   "--jpeg-quality",
                                        "--background"};
    enum { O_OUT, O_COUNT, O_SIZE, O_SEED, O_CLASSES, O_TEST, O_MAXOBJ, O_RANGE, O_QUALITY, O_BG };
    memset(o, 0, sizeof *o);
    o->count = 2000;
    o->w = o->h = 300;
    o->seed = 1;
    o->test_fraction = 0.2;
    o->max_objects = 4;
    o->size_lo = 0.08;
    o->size_hi = 0.6;
    o->quality = 90;
    (void)parse_name_list(DEFAULT_CLASSES, shape_names, N_SHAPES, o->classes, &o->n_classes, "");
    (void)parse_name_list(DEFAULT_BACKGROUNDS, bg_names, N_BGS, o->bgs, &o->n_bgs, "");

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--png")) { o->png = 1; continue; }
        if (!strcmp(a, "--force")) { o->force = 1; continue; }
        if (!strcmp(a, "--quiet")) { o->quiet = 1; continue; }
        if (a[0] != '-' || a[1] != '-') {
            fprintf(stderr, PROG ": unexpected argument '%s' (--help lists the options)\n", a);
            return -1;
        }
        const char *v = NULL;
        const int opt = cli_value_option(argc, argv, &i, names, (int)(sizeof names / sizeof *names),
                                         PROG, &v);
        if (opt < 0) return -1;
        long n = 0;
        switch (opt) {
        case O_OUT:
            if (!*v) {
                fprintf(stderr, PROG ": --out: empty path\n");
                return -1;
            }
            o->out = v;
            break;
        case O_COUNT:
            if (parse_long(v, 1, MAX_COUNT, &n)) {
                fprintf(stderr, PROG ": --count: '%s' is not an integer in 1..%ld\n", v,
                        MAX_COUNT);
                return -1;
            }
            o->count = n;
            break;
        case O_SIZE: {
            const char *x = strpbrk(v, "xX");
            long w = 0, h = 0;
            int bad;
            if (x) {
                char wb[32];
                const size_t wl = (size_t)(x - v);
                bad = wl == 0 || wl >= sizeof wb;
                if (!bad) {
                    memcpy(wb, v, wl);
                    wb[wl] = 0;
                    bad = parse_long(wb, MIN_SIDE, MAX_SIDE, &w) ||
                          parse_long(x + 1, MIN_SIDE, MAX_SIDE, &h);
                }
            } else {
                bad = parse_long(v, MIN_SIDE, MAX_SIDE, &w);
                h = w;
            }
            if (bad) {
                fprintf(stderr, PROG ": --size: '%s' is not WxH or S with sides in %d..%d\n", v,
                        MIN_SIDE, MAX_SIDE);
                return -1;
            }
            o->w = (int)w;
            o->h = (int)h;
            break;
        }
        case O_SEED: {
            char *end;
            errno = 0;
            const unsigned long long s = (*v >= '0' && *v <= '9') ? strtoull(v, &end, 10) : 0;
            if (!(*v >= '0' && *v <= '9') || errno || *end) {
                fprintf(stderr, PROG ": --seed: '%s' is not an integer in 0..2^64-1\n", v);
                return -1;
            }
            o->seed = (uint64_t)s;
            break;
        }
        case O_CLASSES:
            if (parse_name_list(v, shape_names, N_SHAPES, o->classes, &o->n_classes, names[opt]))
                return -1;
            break;
        case O_TEST:
            if (parse_double(v, &o->test_fraction, NULL) || o->test_fraction < 0.0 ||
                o->test_fraction > 1.0) {
                fprintf(stderr, PROG ": --test-fraction: '%s' is not a number in 0..1\n", v);
                return -1;
            }
            break;
        case O_MAXOBJ:
            if (parse_long(v, 1, MAX_OBJECTS, &n)) {
                fprintf(stderr, PROG ": --max-objects: '%s' is not an integer in 1..%d\n", v,
                        MAX_OBJECTS);
                return -1;
            }
            o->max_objects = (int)n;
            break;
        case O_RANGE: {
            char *end = NULL;
            double lo = 0, hi = 0;
            if (parse_double(v, &lo, &end) || *end != ',' || parse_double(end + 1, &hi, NULL) ||
                !(lo > 0.0) || lo > hi || hi > 0.9) {
                fprintf(stderr,
                        PROG ": --size-range: '%s' is not LO,HI with 0 < LO <= HI <= 0.9\n", v);
                return -1;
            }
            o->size_lo = lo;
            o->size_hi = hi;
            break;
        }
        case O_QUALITY:
            if (parse_long(v, 1, 100, &n)) {
                fprintf(stderr, PROG ": --jpeg-quality: '%s' is not an integer in 1..100\n", v);
                return -1;
            }
            o->quality = (int)n;
            break;
        case O_BG:
            if (parse_name_list(v, bg_names, N_BGS, o->bgs, &o->n_bgs, names[opt])) return -1;
            break;
        default:
            return -1;
        }
    }
    if (!o->out) {
        fprintf(stderr, PROG ": --out DIR is required (--help for usage)\n");
        return -1;
    }
    return 0;
}

/* Shortest decimal that reads back as v: a canonical spelling for README.txt. */
static void fmt_double(char *buf, size_t cap, double v)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) return;
    }
}

/* The effective command line, every option explicit, DIR standing for the output path (so
 * that the file does not depend on where the dataset was written). */
static void canonical_command(const opts *o, char *buf, size_t cap)
{
    char tf[40], lo[40], hi[40], cls[128] = "", bgs[128] = "";
    fmt_double(tf, sizeof tf, o->test_fraction);
    fmt_double(lo, sizeof lo, o->size_lo);
    fmt_double(hi, sizeof hi, o->size_hi);
    for (int k = 0; k < o->n_classes; k++) {
        if (k) strcat(cls, ",");
        strcat(cls, shape_names[o->classes[k]]);
    }
    for (int k = 0; k < o->n_bgs; k++) {
        if (k) strcat(bgs, ",");
        strcat(bgs, bg_names[o->bgs[k]]);
    }
    snprintf(buf, cap,
             PROG " --out DIR --count %ld --size %dx%d --seed %llu --classes %s"
                  " --test-fraction %s --max-objects %d --size-range %s,%s --jpeg-quality %d"
                  " --background %s%s",
             o->count, o->w, o->h, (unsigned long long)o->seed, cls, tf, o->max_objects, lo, hi,
             o->quality, bgs, o->png ? " --png" : "");
}

/* ---------------------------------------------------------------- files and directories */

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* mkdir -p. Returns 0, or -1 with a message printed. */
static int mkdir_p(const char *path)
{
    char buf[4096];
    const size_t n = strlen(path);
    if (n >= sizeof buf) {
        fprintf(stderr, PROG ": path too long: %s\n", path);
        return -1;
    }
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != 0) continue;
        const char saved = buf[i];
        buf[i] = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
            fprintf(stderr, PROG ": cannot create directory %s: %s\n", buf, strerror(errno));
            return -1;
        }
        if (!is_dir(buf)) {
            fprintf(stderr, PROG ": cannot create directory %s: %s\n", buf,
                    errno == EEXIST ? "a file is in the way" : strerror(errno));
            return -1;
        }
        buf[i] = saved;
    }
    return 0;
}

/* 1 if the directory holds anything, 0 if empty or absent, -1 if unreadable. */
static int dir_nonempty(const char *path)
{
    DIR *d = opendir(path);
    if (!d) return errno == ENOENT ? 0 : -1;
    int any = 0;
    struct dirent *e;
    while (!any && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) any = 1;
    closedir(d);
    return any;
}

static int looks_like_ours(const char *dir)
{
    char path[4200], line[128] = "";
    snprintf(path, sizeof path, "%s/README.txt", dir);
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    const int ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    line[strcspn(line, "\r\n")] = 0;
    return ok && !strcmp(line, MARKER);
}

/* Removes DIR/sub's files named <digits>.<ext>, ext one of exts: the numbered images and
 * annotations of a previous run, so that a smaller --count leaves no stale ones. */
static int remove_numbered(const char *dir, const char *sub, const char *const *exts, int n_ext)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    DIR *d = opendir(path);
    if (!d) return 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *nm = e->d_name;
        size_t k = 0;
        while (nm[k] >= '0' && nm[k] <= '9') k++;
        if (k == 0 || nm[k] != '.') continue;
        int match = 0;
        for (int x = 0; x < n_ext; x++)
            if (!strcmp(nm + k + 1, exts[x])) match = 1;
        if (!match) continue;
        char f[4800];
        snprintf(f, sizeof f, "%s/%s", path, nm);
        if (unlink(f) != 0) {
            fprintf(stderr, PROG ": cannot remove old %s: %s\n", f, strerror(errno));
            rc = -1;
        }
    }
    closedir(d);
    return rc;
}

static int prepare_dir(const opts *o)
{
    struct stat st;
    int ne = 0; /* a path that does not exist (yet) is left to mkdir_p to create or refuse */
    if (stat(o->out, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            fprintf(stderr, PROG ": %s exists and is not a directory\n", o->out);
            return -1;
        }
        ne = dir_nonempty(o->out);
        if (ne < 0) {
            fprintf(stderr, PROG ": cannot read directory %s: %s\n", o->out, strerror(errno));
            return -1;
        }
    }
    if (ne > 0) {
        if (looks_like_ours(o->out)) {
            static const char *const img_ext[] = {"jpg", "png"};
            static const char *const xml_ext[] = {"xml"};
            if (remove_numbered(o->out, "JPEGImages", img_ext, 2) ||
                remove_numbered(o->out, "Annotations", xml_ext, 1))
                return -1;
        } else if (!o->force) {
            fprintf(stderr,
                    PROG ": %s is not empty and is not clssd-synth output (no README.txt from "
                         "it); refusing to write there (--force to do it anyway)\n",
                    o->out);
            return -1;
        }
    }
    static const char *const subs[] = {"", "/JPEGImages", "/Annotations", "/ImageSets/Main"};
    for (int k = 0; k < 4; k++) {
        char path[4200];
        if ((size_t)snprintf(path, sizeof path, "%s%s", o->out, subs[k]) >= sizeof path) {
            fprintf(stderr, PROG ": path too long: %s\n", o->out);
            return -1;
        }
        if (mkdir_p(path)) return -1;
    }
    return 0;
}

/* Opens DIR/rel for writing; prints why and returns NULL on failure. */
static FILE *open_out(const char *dir, const char *rel, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", dir, rel);
    FILE *f = fopen(path, "wb");
    if (!f) fprintf(stderr, PROG ": cannot write %s: %s\n", path, strerror(errno));
    return f;
}

static int close_out(FILE *f, const char *path)
{
    const int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        fprintf(stderr, PROG ": cannot write %s: %s\n", path, strerror(errno ? errno : EIO));
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- drawing */

typedef struct object {
    int cls;                    /* index into the --classes list */
    int x0, y0, x1, y1;         /* 0-based inclusive box of the covered pixels */
    long full, visible;         /* pixels with coverage >= 1/2, of them not drawn over */
    int difficult;
} object;

typedef struct scratch {
    uint8_t *bg;     /* the background before objects, w*h*3 */
    uint8_t *owner;  /* per pixel: the topmost object with coverage >= 1/2, or 255 */
    uint8_t *corner; /* (w+1)*(h+1) inside bits of pixel corners */
    uint8_t *cov;    /* w*h coverage 0..16 of the object being drawn */
} scratch;

static float rngf(clssd_rng *r, float lo, float hi) { return clssd__rng_range(r, lo, hi); }

static int rngi(clssd_rng *r, int n) /* 0..n-1 */
{
    return (int)(clssd__rng_u64(r) % (uint64_t)n);
}

static float clampf(float v, float lo, float hi) { return v < lo ? lo : v > hi ? hi : v; }

static uint8_t to_u8(float v) { return (uint8_t)(int)clampf(v + 0.5f, 0.0f, 255.0f); }

static float smooth01(float t) { return t * t * (3.0f - 2.0f * t); }

/* h in [0, 1), s, v in [0, 1] to RGB 0..255. */
static void hsv_rgb(float h, float s, float v, float rgb[3])
{
    const float hh = h * 6.0f;
    const int i = (int)hh % 6;
    const float f = hh - floorf(hh);
    const float p = v * (1.0f - s), q = v * (1.0f - s * f), t = v * (1.0f - s * (1.0f - f));
    float r, g, b;
    switch (i) {
    case 0: r = v, g = t, b = p; break;
    case 1: r = q, g = v, b = p; break;
    case 2: r = p, g = v, b = t; break;
    case 3: r = p, g = q, b = v; break;
    case 4: r = t, g = p, b = v; break;
    default: r = v, g = p, b = q; break;
    }
    rgb[0] = r * 255.0f, rgb[1] = g * 255.0f, rgb[2] = b * 255.0f;
}

/* A background colour and a second one `contrast` away in a random direction. */
static void bg_colours(clssd_rng *r, float contrast, float c1[3], float c2[3])
{
    hsv_rgb(clssd__rng_uniform(r), rngf(r, 0.0f, 0.6f), rngf(r, 0.15f, 0.95f), c1);
    float d[3], n = 0.0f;
    for (int k = 0; k < 3; k++) {
        d[k] = clssd__rng_normal(r);
        n += d[k] * d[k];
    }
    n = sqrtf(n) + 1e-6f;
    /* Keep the pair inside 0..255 by pulling c1 in where c2 would leave the cube. */
    for (int k = 0; k < 3; k++) {
        c2[k] = c1[k] + contrast * d[k] / n;
        if (c2[k] < 0.0f) c1[k] -= c2[k], c2[k] = 0.0f;
        if (c2[k] > 255.0f) c1[k] -= c2[k] - 255.0f, c2[k] = 255.0f;
        c1[k] = clampf(c1[k], 0.0f, 255.0f);
    }
}

/* Value noise: a periodic VN_G x VN_G lattice of uniform values, smoothly interpolated,
 * sampled on a randomly rotated and shifted grid of `cell` pixels (rotation hides the
 * lattice's axis-aligned artefacts). */
#define VN_G 64
typedef struct vnoise {
    float g[VN_G * VN_G];
    float c, s, inv_cell, ox, oy;
} vnoise;

static void vnoise_init(vnoise *vn, clssd_rng *r, float cell)
{
    for (int k = 0; k < VN_G * VN_G; k++) vn->g[k] = clssd__rng_uniform(r);
    const float a = rngf(r, 0.0f, 2.0f * PI_F);
    vn->c = cosf(a);
    vn->s = sinf(a);
    vn->inv_cell = 1.0f / (cell < 1.0f ? 1.0f : cell);
    vn->ox = rngf(r, 0.0f, (float)VN_G);
    vn->oy = rngf(r, 0.0f, (float)VN_G);
}

static float vnoise_at(const vnoise *vn, float x, float y) /* pixel coordinates */
{
    const float u = (x * vn->c - y * vn->s) * vn->inv_cell + vn->ox + (float)(4 * VN_G);
    const float v = (x * vn->s + y * vn->c) * vn->inv_cell + vn->oy + (float)(4 * VN_G);
    const float fu = floorf(u), fv = floorf(v);
    const float tx = smooth01(u - fu), ty = smooth01(v - fv);
    const int iu = (int)fu & (VN_G - 1), iv = (int)fv & (VN_G - 1);
    const int iu1 = (iu + 1) & (VN_G - 1), iv1 = (iv + 1) & (VN_G - 1);
    const float *r0 = vn->g + iv * VN_G, *r1 = vn->g + iv1 * VN_G;
    const float a = r0[iu] + (r0[iu1] - r0[iu]) * tx;
    const float b = r1[iu] + (r1[iu1] - r1[iu]) * tx;
    return a + (b - a) * ty;
}

static vnoise g_vn1, g_vn2, g_vn3; /* big: not on the stack */

/* Fills im with a background of the given kind. */
static void draw_background(clssd_rng *r, int kind, imgio_image *im)
{
    const int w = im->w, h = im->h;
    const float side = (float)(w < h ? w : h);
    float c1[3], c2[3];
    float contrast = 0.0f;
    switch (kind) {
    case BG_NOISE: contrast = rngf(r, 30.0f, 110.0f); break;
    case BG_STRIPES: contrast = rngf(r, 20.0f, 80.0f); break;
    case BG_GRADIENT: contrast = rngf(r, 40.0f, 160.0f); break;
    case BG_CHECKERS: contrast = rngf(r, 15.0f, 60.0f); break;
    case BG_BLOTCHES: contrast = rngf(r, 30.0f, 100.0f); break;
    default: break;
    }
    bg_colours(r, contrast, c1, c2);

    /* Per-kind parameters. */
    const float ang = rngf(r, 0.0f, PI_F);
    const float ca = cosf(ang), sa = sinf(ang);
    float period = 1.0f, phase = 0.0f, sharp = 1.0f, thr = 0.5f, gx = 0.0f, gy = 0.0f, gmax = 1.0f;
    int radial = 0;
    if (kind == BG_NOISE) {
        const float cell = rngf(r, 0.1f, 0.3f) * side;
        vnoise_init(&g_vn1, r, cell);
        vnoise_init(&g_vn2, r, cell * 0.4f);
        vnoise_init(&g_vn3, r, cell * 0.15f);
    } else if (kind == BG_BLOTCHES) {
        const float cell = rngf(r, 0.15f, 0.3f) * side;
        vnoise_init(&g_vn1, r, cell);
        vnoise_init(&g_vn2, r, cell * 0.3f);
        thr = rngf(r, 0.42f, 0.58f);
    } else if (kind == BG_STRIPES) {
        period = rngf(r, 0.02f, 0.12f) * side;
        phase = rngf(r, 0.0f, 2.0f * PI_F);
        sharp = rngf(r, 1.0f, 5.0f);
    } else if (kind == BG_CHECKERS) {
        period = rngf(r, 0.015f, 0.05f) * side;
        if (period < 2.0f) period = 2.0f;
    } else if (kind == BG_GRADIENT) {
        radial = rngi(r, 5) < 2;
        gx = rngf(r, 0.0f, (float)w);
        gy = rngf(r, 0.0f, (float)h);
        const float fx = gx > (float)w - gx ? gx : (float)w - gx;
        const float fy = gy > (float)h - gy ? gy : (float)h - gy;
        gmax = sqrtf(fx * fx + fy * fy);
    }
    /* Brightness ramp, half of the textured backgrounds. */
    const float ramp = (kind != BG_PLAIN && rngi(r, 2)) ? rngf(r, 0.05f, 0.25f) : 0.0f;
    const float rang = rngf(r, 0.0f, 2.0f * PI_F);
    const float rc = cosf(rang), rs = sinf(rang);
    const float half_diag = 0.5f * sqrtf((float)w * (float)w + (float)h * (float)h);
    /* Extent of x*ca + y*sa over the image, for the linear gradient. */
    const float p0 = (ca < 0 ? ca * (float)w : 0.0f) + (sa < 0 ? sa * (float)h : 0.0f);
    const float p1 = (ca > 0 ? ca * (float)w : 0.0f) + (sa > 0 ? sa * (float)h : 0.0f);

    for (int y = 0; y < h; y++) {
        uint8_t *px = im->px + (size_t)y * (size_t)w * 3;
        for (int x = 0; x < w; x++, px += 3) {
            const float xf = (float)x + 0.5f, yf = (float)y + 0.5f;
            float t = 0.0f;
            switch (kind) {
            case BG_NOISE: {
                const float n = 0.55f * vnoise_at(&g_vn1, xf, yf) +
                                0.3f * vnoise_at(&g_vn2, xf, yf) + 0.15f * vnoise_at(&g_vn3, xf, yf);
                t = clampf((n - 0.5f) * 2.0f + 0.5f, 0.0f, 1.0f);
                break;
            }
            case BG_BLOTCHES: {
                const float n = 0.75f * vnoise_at(&g_vn1, xf, yf) + 0.25f * vnoise_at(&g_vn2, xf, yf);
                t = smooth01(clampf((n - thr) * 12.0f + 0.5f, 0.0f, 1.0f));
                break;
            }
            case BG_STRIPES: {
                const float s = sinf((xf * ca + yf * sa) * (2.0f * PI_F) / period + phase);
                t = clampf(0.5f + 0.5f * s * sharp, 0.0f, 1.0f);
                break;
            }
            case BG_CHECKERS: {
                const float u = (xf * ca + yf * sa) / period, v = (yf * ca - xf * sa) / period;
                t = (float)(((int)floorf(u) + (int)floorf(v)) & 1);
                break;
            }
            case BG_GRADIENT:
                if (radial) {
                    const float ddx = xf - gx, ddy = yf - gy;
                    t = sqrtf(ddx * ddx + ddy * ddy) / gmax;
                } else {
                    t = (xf * ca + yf * sa - p0) / (p1 - p0);
                }
                break;
            default:
                break;
            }
            float gain = 1.0f;
            if (ramp > 0.0f)
                gain += ramp * ((xf - 0.5f * (float)w) * rc + (yf - 0.5f * (float)h) * rs) /
                        half_diag;
            for (int k = 0; k < 3; k++) px[k] = to_u8((c1[k] + (c2[k] - c1[k]) * t) * gain);
        }
    }
}

/* Mean colour of im over [x0, x1] x [y0, y1] (clipped, inclusive). */
static void region_mean(const imgio_image *im, int x0, int y0, int x1, int y1, float m[3])
{
    double s[3] = {0, 0, 0};
    long n = 0;
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > im->w - 1) x1 = im->w - 1;
    if (y1 > im->h - 1) y1 = im->h - 1;
    for (int y = y0; y <= y1; y += 2)
        for (int x = x0; x <= x1; x += 2) {
            const uint8_t *p = im->px + ((size_t)y * (size_t)im->w + (size_t)x) * 3;
            s[0] += p[0], s[1] += p[1], s[2] += p[2];
            n++;
        }
    for (int k = 0; k < 3; k++) m[k] = n ? (float)(s[k] / (double)n) : 128.0f;
}

/* Coverage (0..16) of the pixels [x0, x1] x [y0, y1] into sc->cov (stride x1 - x0 + 1):
 * a pixel whose four corners agree is wholly in or out, else 4x4 samples decide. */
static void rasterize(const shape *sh, int x0, int y0, int x1, int y1, scratch *sc)
{
    const int rw = x1 - x0 + 1, rh = y1 - y0 + 1, cw = rw + 1;
    for (int j = 0; j <= rh; j++)
        for (int i = 0; i <= rw; i++)
            sc->corner[j * cw + i] = (uint8_t)inside(sh, (float)(x0 + i), (float)(y0 + j));
    for (int j = 0; j < rh; j++)
        for (int i = 0; i < rw; i++) {
            const uint8_t *c = sc->corner + j * cw + i;
            const int sum = c[0] + c[1] + c[cw] + c[cw + 1];
            int cov;
            if (sum == 0)
                cov = 0;
            else if (sum == 4)
                cov = 16;
            else {
                cov = 0;
                for (int sy = 0; sy < 4; sy++)
                    for (int sx = 0; sx < 4; sx++)
                        cov += inside(sh, (float)(x0 + i) + ((float)sx + 0.5f) * 0.25f,
                                      (float)(y0 + j) + ((float)sy + 0.5f) * 0.25f);
            }
            sc->cov[j * rw + i] = (uint8_t)cov;
        }
}

/* Tries to add objs[n_objs] (random class, size, pose, place); returns 1 if placed and drawn. */
static int add_object(clssd_rng *r, const opts *o, imgio_image *im, scratch *sc, object *objs,
                      int n_objs, int plain)
{
    const int w = im->w, h = im->h;
    const float side = (float)(w < h ? w : h);
    object *ob = &objs[n_objs];
    shape sh;
    memset(&sh, 0, sizeof sh);
    ob->cls = rngi(r, o->n_classes);
    sh.kind = o->classes[ob->cls];
    const float lo = logf((float)o->size_lo), hi = logf((float)o->size_hi);
    const float d = expf(lo + (hi - lo) * clssd__rng_uniform(r)) * side;
    const float aspect = expf(rngf(r, -0.2231f, 0.2231f)); /* 0.8 .. 1.25 */
    float rot = 0.0f;
    switch (sh.kind) {
    case SH_SQUARE:
    case SH_CROSS: rot = rngf(r, -0.35f, 0.35f); break;
    case SH_TRIANGLE: rot = rngf(r, -0.45f, 0.45f); break;
    case SH_STAR: rot = rngf(r, -0.6283f, 0.6283f); break;
    case SH_HEXAGON: rot = rngf(r, 0.0f, PI_F / 3.0f); break;
    default: rot = rngf(r, 0.0f, PI_F); break; /* ellipses: any orientation */
    }
    switch (sh.kind) {
    case SH_RING: sh.p = rngf(r, 0.45f, 0.68f); break;
    case SH_STAR: sh.p = rngf(r, 0.38f, 0.5f); break;
    case SH_CROSS: sh.p = rngf(r, 0.26f, 0.38f); break;
    default: break;
    }
    sh.c = cosf(rot);
    sh.s = sinf(rot);
    /* Extent of the unit shape (rx = sqrt(aspect), ry = 1/sqrt(aspect)), then scale it so
     * that the box's larger side is d. */
    float rx = sqrtf(aspect), ry = 1.0f / rx;
    float pts[96][2];
    const int np = hull_points(&sh, pts);
    float ex0 = 1e9f, ex1 = -1e9f, ey0 = 1e9f, ey1 = -1e9f;
    for (int k = 0; k < np; k++) {
        const float px = rx * pts[k][0] * sh.c - ry * pts[k][1] * sh.s;
        const float py = rx * pts[k][0] * sh.s + ry * pts[k][1] * sh.c;
        ex0 = fminf(ex0, px), ex1 = fmaxf(ex1, px);
        ey0 = fminf(ey0, py), ey1 = fmaxf(ey1, py);
    }
    const float scale = d / fmaxf(ex1 - ex0, ey1 - ey0);
    rx *= scale, ry *= scale;
    ex0 *= scale, ex1 *= scale, ey0 *= scale, ey1 *= scale;
    sh.irx = 1.0f / rx;
    sh.iry = 1.0f / ry;

    /* Position: the shape within [1, w - 1] x [1, h - 1]; limited overlap with earlier boxes. */
    int placed = 0;
    for (int attempt = 0; attempt < 25 && !placed; attempt++) {
        const float cx_lo = 1.0f - ex0, cx_hi = (float)w - 1.0f - ex1;
        const float cy_lo = 1.0f - ey0, cy_hi = (float)h - 1.0f - ey1;
        sh.cx = cx_hi > cx_lo ? rngf(r, cx_lo, cx_hi) : 0.5f * (float)w;
        sh.cy = cy_hi > cy_lo ? rngf(r, cy_lo, cy_hi) : 0.5f * (float)h;
        const float bx0 = sh.cx + ex0, bx1 = sh.cx + ex1, by0 = sh.cy + ey0, by1 = sh.cy + ey1;
        placed = 1;
        for (int k = 0; k < n_objs && placed; k++) {
            const object *q = &objs[k];
            const float ix = fminf(bx1, (float)q->x1 + 1.0f) - fmaxf(bx0, (float)q->x0);
            const float iy = fminf(by1, (float)q->y1 + 1.0f) - fmaxf(by0, (float)q->y0);
            if (ix <= 0.0f || iy <= 0.0f) continue;
            const float a1 = (bx1 - bx0) * (by1 - by0);
            const float a2 = (float)(q->x1 - q->x0 + 1) * (float)(q->y1 - q->y0 + 1);
            if (ix * iy > 0.25f * fminf(a1, a2)) placed = 0;
        }
        if (!placed && n_objs == 0) placed = 1;
    }
    if (!placed) return 0;

    /* Region to rasterize: the estimated box plus a pixel, clipped. */
    int x0 = (int)floorf(sh.cx + ex0) - 1, x1 = (int)floorf(sh.cx + ex1) + 1;
    int y0 = (int)floorf(sh.cy + ey0) - 1, y1 = (int)floorf(sh.cy + ey1) + 1;
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > w - 1) x1 = w - 1;
    if (y1 > h - 1) y1 = h - 1;
    rasterize(&sh, x0, y0, x1, y1, sc);
    const int rw = x1 - x0 + 1;

    /* Colour: random, independent of the class, contrasting with the background here. */
    float bgm[3], fg[3], best[3] = {0, 0, 0}, best_d = -1.0f;
    region_mean(im, x0, y0, x1, y1, bgm);
    for (int tries = 0; tries < 32; tries++) {
        hsv_rgb(clssd__rng_uniform(r), rngf(r, 0.2f, 1.0f), rngf(r, 0.2f, 1.0f), fg);
        float dd = 0.0f;
        for (int k = 0; k < 3; k++) dd += (fg[k] - bgm[k]) * (fg[k] - bgm[k]);
        if (dd > best_d) best_d = dd, memcpy(best, fg, sizeof best);
        if (dd >= 90.0f * 90.0f) break;
    }
    /* Linear shading across the object. */
    const float shade = plain ? rngf(r, -0.15f, 0.15f) : rngf(r, -0.3f, 0.3f);
    const float sang = rngf(r, 0.0f, 2.0f * PI_F);
    const float shx = cosf(sang) * shade / (0.5f * d), shy = sinf(sang) * shade / (0.5f * d);

    int bx0 = w, by0 = h, bx1 = -1, by1 = -1;
    long full = 0;
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) {
            const int cov = sc->cov[(y - y0) * rw + (x - x0)];
            if (!cov) continue;
            if (x < bx0) bx0 = x;
            if (x > bx1) bx1 = x;
            if (y < by0) by0 = y;
            if (y > by1) by1 = y;
            const size_t pi = (size_t)y * (size_t)w + (size_t)x;
            uint8_t *px = im->px + pi * 3;
            const uint8_t *bg = sc->bg + pi * 3;
            const float a = (float)cov * (1.0f / 16.0f);
            const float g = 1.0f + ((float)x + 0.5f - sh.cx) * shx + ((float)y + 0.5f - sh.cy) * shy;
            uint8_t nv[3];
            for (int k = 0; k < 3; k++) {
                const float f = clampf(best[k] * g, 0.0f, 255.0f);
                nv[k] = to_u8((float)px[k] + (f - (float)px[k]) * a);
            }
            /* A covered pixel always differs from the background there (so the box is
             * exactly the set of changed pixels on a plain background). */
            if (nv[0] == bg[0] && nv[1] == bg[1] && nv[2] == bg[2]) {
                int kk = 0;
                float far = -1.0f;
                for (int k = 0; k < 3; k++)
                    if (fabsf(best[k] - (float)bg[k]) > far) far = fabsf(best[k] - (float)bg[k]), kk = k;
                if (best[kk] > (float)bg[kk])
                    nv[kk] = (uint8_t)(bg[kk] < 255 ? bg[kk] + 1 : bg[kk] - 1);
                else
                    nv[kk] = (uint8_t)(bg[kk] > 0 ? bg[kk] - 1 : bg[kk] + 1);
            }
            memcpy(px, nv, 3);
            if (cov >= 8) {
                sc->owner[pi] = (uint8_t)n_objs;
                full++;
            }
        }
    if (bx1 < 0) return 0; /* nothing covered (cannot happen with sizes >= 1 px) */
    ob->x0 = bx0, ob->y0 = by0, ob->x1 = bx1, ob->y1 = by1;
    ob->full = full;
    return 1;
}

/* Per-pixel grain: triangular noise of standard deviation sigma. */
static void add_grain(clssd_rng *r, imgio_image *im, float sigma)
{
    const size_t n = (size_t)im->w * (size_t)im->h;
    const float k = sigma / 104.2f; /* sd of the sum of two uniform bytes, centred */
    for (size_t i = 0; i < n; i++) {
        const uint64_t b = clssd__rng_u64(r);
        uint8_t *px = im->px + i * 3;
        for (int c = 0; c < 3; c++) {
            const int t = (int)((b >> (16 * c)) & 0xFF) + (int)((b >> (16 * c + 8)) & 0xFF) - 255;
            px[c] = to_u8((float)px[c] + (float)t * k);
        }
    }
}

/* Image `index` (0-based): background, objects, grain. Returns the object count. */
static int make_image(const opts *o, long index, imgio_image *im, scratch *sc, object *objs)
{
    clssd_rng r;
    clssd__rng_seed(&r, o->seed ^ ((uint64_t)(index + 1) * 0xD1B54A32D192ED03ull));
    for (int k = 0; k < 4; k++) (void)clssd__rng_u64(&r);
    const int w = im->w, h = im->h;
    const int kind = o->bgs[rngi(&r, o->n_bgs)];
    draw_background(&r, kind, im);
    memcpy(sc->bg, im->px, (size_t)w * (size_t)h * 3);
    memset(sc->owner, 255, (size_t)w * (size_t)h);

    const int want = 1 + rngi(&r, o->max_objects);
    int n = 0;
    for (int k = 0; k < want; k++)
        if (add_object(&r, o, im, sc, objs, n, kind == BG_PLAIN)) n++;

    for (int k = 0; k < n; k++) objs[k].visible = 0;
    for (size_t i = 0; i < (size_t)w * (size_t)h; i++)
        if (sc->owner[i] != 255) objs[sc->owner[i]].visible++;
    for (int k = 0; k < n; k++) {
        object *ob = &objs[k];
        const int bw = ob->x1 - ob->x0 + 1, bh = ob->y1 - ob->y0 + 1;
        ob->difficult = (bw < bh ? bw : bh) < TINY_SIDE || 2 * ob->visible < ob->full;
    }
    if (kind != BG_PLAIN) add_grain(&r, im, rngf(&r, 1.0f, 6.0f));
    return n;
}

static int write_xml(const opts *o, const char *id, const object *objs, int n, long *n_difficult,
                     long *per_class)
{
    char rel[64], path[4400];
    snprintf(rel, sizeof rel, "Annotations/%s.xml", id);
    FILE *f = open_out(o->out, rel, path, sizeof path);
    if (!f) return -1;
    fprintf(f,
            "<annotation>\n"
            "\t<folder>clssd-synth</folder>\n"
            "\t<filename>%s.%s</filename>\n"
            "\t<source>\n\t\t<database>clssd-synth</database>\n\t</source>\n"
            "\t<size>\n\t\t<width>%d</width>\n\t\t<height>%d</height>\n\t\t<depth>3</depth>\n"
            "\t</size>\n"
            "\t<segmented>0</segmented>\n",
            id, o->png ? "png" : "jpg", o->w, o->h);
    for (int k = 0; k < n; k++) {
        const object *ob = &objs[k];
        fprintf(f,
                "\t<object>\n"
                "\t\t<name>%s</name>\n"
                "\t\t<pose>Unspecified</pose>\n"
                "\t\t<truncated>0</truncated>\n"
                "\t\t<difficult>%d</difficult>\n"
                "\t\t<bndbox>\n"
                "\t\t\t<xmin>%d</xmin>\n\t\t\t<ymin>%d</ymin>\n"
                "\t\t\t<xmax>%d</xmax>\n\t\t\t<ymax>%d</ymax>\n"
                "\t\t</bndbox>\n"
                "\t</object>\n",
                shape_names[o->classes[ob->cls]], ob->difficult, ob->x0 + 1, ob->y0 + 1,
                ob->x1 + 1, ob->y1 + 1);
        *n_difficult += ob->difficult;
        per_class[ob->cls]++;
    }
    fputs("</annotation>\n", f);
    return close_out(f, path);
}

static int write_readme(const opts *o, int final, long n_test, long n_objects, long n_difficult,
                        const long *per_class)
{
    char path[4400], cmd[1024];
    FILE *f = open_out(o->out, "README.txt", path, sizeof path);
    if (!f) return -1;
    canonical_command(o, cmd, sizeof cmd);
    fprintf(f, MARKER "\n\ncommand: %s\nseed: %llu\n", cmd, (unsigned long long)o->seed);
    if (final) {
        fprintf(f, "images: %ld (%ld trainval, %ld test), %dx%d, %s\n", o->count,
                o->count - n_test, n_test, o->w, o->h, o->png ? "PNG" : "JPEG");
        fprintf(f, "objects: %ld (%ld difficult)", n_objects, n_difficult);
        for (int k = 0; k < o->n_classes; k++)
            fprintf(f, "%s %s %ld", k ? "," : ";", shape_names[o->classes[k]], per_class[k]);
        fputs("\n", f);
    } else {
        fputs("(incomplete: generation was interrupted)\n", f);
    }
    fputs("\nLayout: JPEGImages/NNNNNN.jpg, Annotations/NNNNNN.xml (PASCAL VOC), "
          "ImageSets/Main/trainval.txt\nand test.txt (ids), labels.txt (class names in "
          "order).\n"
          "Boxes: 1-based inclusive pixels, exactly enclosing every pixel a shape covers\n"
          "(antialiased edges included), full extent even where a later shape is drawn over.\n"
          "Objects lie wholly inside the image (truncated 0); difficult 1: box side under 12 px\n"
          "or less than half the shape visible. Colour is independent of the class.\n"
          "Made by clssd-synth (libclssd, tools/clssd_synth.c); the same command makes the\n"
          "same bytes.\n",
          f);
    return close_out(f, path);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        }
    opts o;
    if (parse_args(argc, argv, &o)) return 2;
    if (prepare_dir(&o)) return 1;

    /* README first: an interrupted run is still recognised as ours and can be redone. */
    if (write_readme(&o, 0, 0, 0, 0, NULL)) return 1;
    {
        char path[4400];
        FILE *f = open_out(o.out, "labels.txt", path, sizeof path);
        if (!f) return 1;
        for (int k = 0; k < o.n_classes; k++) fprintf(f, "%s\n", shape_names[o.classes[k]]);
        if (close_out(f, path)) return 1;
    }

    /* Split: a seeded shuffle picks round(count * F) test images. */
    const long n_test = (long)floor((double)o.count * o.test_fraction + 0.5);
    uint8_t *is_test = calloc((size_t)o.count, 1);
    long *perm = malloc((size_t)o.count * sizeof *perm);
    imgio_image im = {NULL, o.w, o.h};
    const size_t npx = (size_t)o.w * (size_t)o.h;
    scratch sc;
    im.px = malloc(npx * 3);
    sc.bg = malloc(npx * 3);
    sc.owner = malloc(npx);
    sc.corner = malloc((size_t)(o.w + 1) * (size_t)(o.h + 1));
    sc.cov = malloc(npx);
    int rc = 0;
    if (!is_test || !perm || !im.px || !sc.bg || !sc.owner || !sc.corner || !sc.cov) {
        fprintf(stderr, PROG ": out of memory\n");
        rc = 1;
        goto done;
    }
    {
        clssd_rng sr;
        clssd__rng_seed(&sr, o.seed ^ 0x5EED5A11D5E7C0DEull);
        for (long i = 0; i < o.count; i++) perm[i] = i;
        for (long i = o.count - 1; i > 0; i--) {
            const long j = (long)(clssd__rng_u64(&sr) % (uint64_t)(i + 1));
            const long t = perm[i];
            perm[i] = perm[j], perm[j] = t;
        }
        for (long i = 0; i < n_test; i++) is_test[perm[i]] = 1;
    }

    long n_objects = 0, n_difficult = 0, per_class[N_SHAPES] = {0};
    for (long i = 0; i < o.count && !rc; i++) {
        object objs[MAX_OBJECTS];
        const int n = make_image(&o, i, &im, &sc, objs);
        char id[32], rel[64], path[4400], err[256];
        snprintf(id, sizeof id, "%06ld", i + 1);
        snprintf(rel, sizeof rel, "JPEGImages/%s.%s", id, o.png ? "png" : "jpg");
        snprintf(path, sizeof path, "%s/%s", o.out, rel);
        const int wr = o.png ? imgio_save_png(path, &im, err, sizeof err)
                             : imgio_save_jpeg(path, &im, o.quality, err, sizeof err);
        if (wr) {
            fprintf(stderr, PROG ": %s: %s\n", path, err);
            rc = 1;
            break;
        }
        if (write_xml(&o, id, objs, n, &n_difficult, per_class)) rc = 1;
        n_objects += n;
    }
    for (int set = 0; set < 2 && !rc; set++) {
        char path[4400];
        FILE *f = open_out(o.out, set ? "ImageSets/Main/test.txt" : "ImageSets/Main/trainval.txt",
                           path, sizeof path);
        if (!f) {
            rc = 1;
            break;
        }
        for (long i = 0; i < o.count; i++)
            if (is_test[i] == set) fprintf(f, "%06ld\n", i + 1);
        if (close_out(f, path)) rc = 1;
    }
    if (!rc && write_readme(&o, 1, n_test, n_objects, n_difficult, per_class)) rc = 1;
    if (!rc && !o.quiet)
        printf(PROG ": wrote %ld images (%ld trainval, %ld test), %ld objects (%ld difficult) "
                    "to %s\n",
               o.count, o.count - n_test, n_test, n_objects, n_difficult, o.out);
done:
    free(is_test);
    free(perm);
    free(im.px);
    free(sc.bg);
    free(sc.owner);
    free(sc.corner);
    free(sc.cov);
    return rc;
}
