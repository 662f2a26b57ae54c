/* T4: Caffe's SSD training augmentation on the host (weiliu89/caffe: im_transforms.cpp
 * ApplyDistort, data_transformer.cpp ExpandImage / CropImage / mirror, sampler.cpp), on
 * interleaved RGB u8 images. Caffe works on BGR cv::Mats; every step here is symmetric in the
 * channels or names them explicitly, so RGB changes nothing but the mean's order.
 *
 * The 8-bit arithmetic is OpenCV's: each step rounds half to even and saturates to u8
 * (cv::saturate_cast) because Caffe stores the image as u8 between steps, and that rounding
 * is part of what the network was trained on. */
#include <math.h>
#include <string.h>

#include "train.h"

/* cv::saturate_cast<uchar>(float): round to nearest, ties to even (cvRound), then clamp. */
static uint8_t sat_u8(float x)
{
    if (!(x > 0.0f)) return 0; /* NaN too */
    if (x >= 255.0f) return 255;
    return (uint8_t)lrintf(x);
}

static int image_ok(const clssd_aug_image *img)
{
    return img && img->data && img->w > 0 && img->h > 0 && img->stride / 3 >= (size_t)img->w;
}

/* A packed w x h image, uninitialized. */
static clssd_status image_alloc(clssd_aug_image *img, int32_t w, int32_t h)
{
    size_t row, n;
    img->data = NULL;
    img->w = w;
    img->h = h;
    img->stride = 0;
    if (w <= 0 || h <= 0) return CLSSD_ERR_INVALID_ARG;
    if (!clssd__mul_size((size_t)w, 3, &row) || !clssd__mul_size(row, (size_t)h, &n))
        return CLSSD_ERR_OUT_OF_MEMORY;
    img->data = clssd__malloc(n);
    if (!img->data) return CLSSD_ERR_OUT_OF_MEMORY;
    img->stride = row;
    return CLSSD_OK;
}

/* ------------------------------------------------------------------ OpenCV's 8-bit HSV */

#define HSV_SHIFT 12

/* The tables of OpenCV's RGB2HSV_b: round(255 * 2^12 / i) and round(180 * 2^12 / (6 i)),
 * entry 0 = 0 (a grey pixel gets S = 0 and H = 0). */
typedef struct hsv_tables {
    int sdiv[256], hdiv[256];
} hsv_tables;

static void hsv_tables_init(hsv_tables *t)
{
    t->sdiv[0] = t->hdiv[0] = 0;
    for (int i = 1; i < 256; i++) {
        t->sdiv[i] = (int)lrint((double)(255 << HSV_SHIFT) / (double)i);
        t->hdiv[i] = (int)lrint((double)(180 << HSV_SHIFT) / (6.0 * (double)i));
    }
}

/* OpenCV's (x + 2^11) >> 12 with an arithmetic shift, written as a floor division so that it
 * does not rest on the implementation-defined >> of a negative int. */
static int round_shift(int x)
{
    const int y = x + (1 << (HSV_SHIFT - 1));
    return y >= 0 ? y >> HSV_SHIFT : -((-y + (1 << HSV_SHIFT) - 1) >> HSV_SHIFT);
}

/* RGB2HSV_b, hrange 180, integer exactly as OpenCV. */
static void rgb_to_hsv(const hsv_tables *t, const uint8_t *px, int hsv[3])
{
    const int r = px[0], g = px[1], b = px[2];
    int v = b, vmin = b;
    if (g > v) v = g;
    if (r > v) v = r;
    if (g < vmin) vmin = g;
    if (r < vmin) vmin = r;
    const int diff = v - vmin;
    const int s = round_shift(diff * t->sdiv[v]);
    int h;
    if (v == r)
        h = g - b;
    else if (v == g)
        h = b - r + 2 * diff;
    else
        h = r - g + 4 * diff;
    h = round_shift(h * t->hdiv[diff]);
    if (h < 0) h += 180;
    hsv[0] = h;
    hsv[1] = s;
    hsv[2] = v;
}

/* HSV2RGB_b: H kept as is (0..255, wrapped modulo 6 sectors below), S and V times 1/255, the
 * float sector formula of HSV2RGB_f, then each channel * 255 saturated. */
static void hsv_to_rgb(const uint8_t hsv[3], uint8_t *px)
{
    static const int sector_data[6][3] = {{1, 3, 0}, {1, 0, 2}, {3, 0, 1},
                                          {0, 2, 1}, {0, 1, 3}, {2, 1, 0}};
    const float hscale = 6.0f / 180.0f;
    float h = (float)hsv[0];
    const float s = (float)hsv[1] * (1.0f / 255.0f);
    const float v = (float)hsv[2] * (1.0f / 255.0f);
    float r, g, b;
    if (s == 0.0f) {
        r = g = b = v;
    } else {
        h *= hscale;
        h = fmodf(h, 6.0f);
        if (h < 0.0f) h += 6.0f;
        int sector = (int)floorf(h);
        h -= (float)sector;
        if (sector < 0 || sector >= 6) {
            sector = 0;
            h = 0.0f;
        }
        float tab[4];
        tab[0] = v;
        tab[1] = v * (1.0f - s);
        tab[2] = v * (1.0f - s * h);
        tab[3] = v * (1.0f - s * (1.0f - h));
        b = tab[sector_data[sector][0]];
        g = tab[sector_data[sector][1]];
        r = tab[sector_data[sector][2]];
    }
    px[0] = sat_u8(r * 255.0f);
    px[1] = sat_u8(g * 255.0f);
    px[2] = sat_u8(b * 255.0f);
}

/* ------------------------------------------------------------------ photometric steps */

/* v -> sat(v * alpha + beta) on every byte: cv::Mat::convertTo on u8, computed in float. */
static void convert_scale(clssd_aug_image *img, float alpha, float beta)
{
    for (int32_t y = 0; y < img->h; y++) {
        uint8_t *row = img->data + (size_t)y * img->stride;
        for (size_t i = 0; i < 3 * (size_t)img->w; i++)
            row[i] = sat_u8((float)row[i] * alpha + beta);
    }
}

clssd_status clssd__aug_brightness(clssd_aug_image *img, float delta)
{
    if (!image_ok(img)) return CLSSD_ERR_INVALID_ARG;
    if (fabsf(delta) > 0.0f) convert_scale(img, 1.0f, delta);
    return CLSSD_OK;
}

clssd_status clssd__aug_contrast(clssd_aug_image *img, float delta)
{
    if (!image_ok(img)) return CLSSD_ERR_INVALID_ARG;
    if (fabsf(delta - 1.0f) > 1e-3f) convert_scale(img, delta, 0.0f);
    return CLSSD_OK;
}

/* To HSV, channel ch -> sat(ch * alpha + beta), back to RGB: AdjustSaturation (ch 1) and
 * AdjustHue (ch 0). */
static void hsv_adjust(clssd_aug_image *img, int ch, float alpha, float beta)
{
    hsv_tables t;
    hsv_tables_init(&t);
    for (int32_t y = 0; y < img->h; y++) {
        uint8_t *px = img->data + (size_t)y * img->stride;
        for (int32_t x = 0; x < img->w; x++, px += 3) {
            int hsv[3];
            rgb_to_hsv(&t, px, hsv);
            uint8_t q[3] = {(uint8_t)hsv[0], (uint8_t)hsv[1], (uint8_t)hsv[2]};
            q[ch] = sat_u8((float)hsv[ch] * alpha + beta);
            hsv_to_rgb(q, px);
        }
    }
}

clssd_status clssd__aug_saturation(clssd_aug_image *img, float delta)
{
    if (!image_ok(img)) return CLSSD_ERR_INVALID_ARG;
    /* Caffe's guard is fabs(delta - 1) != 1e-3, true for every delta drawn, so the lossy HSV
     * round trip always happens; kept. */
    hsv_adjust(img, 1, delta, 0.0f);
    return CLSSD_OK;
}

clssd_status clssd__aug_hue(clssd_aug_image *img, float delta)
{
    if (!image_ok(img)) return CLSSD_ERR_INVALID_ARG;
    if (fabsf(delta) > 0.0f) hsv_adjust(img, 0, 1.0f, delta);
    return CLSSD_OK;
}

/* std::random_shuffle of the three channels, the same permutation for every pixel. */
static void shuffle_channels(clssd_aug_image *img, clssd_rng *rng)
{
    int perm[3] = {0, 1, 2};
    for (int i = 1; i < 3; i++) {
        const int j = (int)(clssd__rng_u64(rng) % (uint64_t)(i + 1));
        const int tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
    for (int32_t y = 0; y < img->h; y++) {
        uint8_t *px = img->data + (size_t)y * img->stride;
        for (int32_t x = 0; x < img->w; x++, px += 3) {
            const uint8_t c[3] = {px[0], px[1], px[2]};
            px[0] = c[perm[0]];
            px[1] = c[perm[1]];
            px[2] = c[perm[2]];
        }
    }
}

void clssd__aug_distort_defaults(clssd_aug_distort_params *p)
{
    p->brightness_prob = 0.5f;
    p->brightness_delta = 32.0f;
    p->contrast_prob = 0.5f;
    p->contrast_lower = 0.5f;
    p->contrast_upper = 1.5f;
    p->hue_prob = 0.5f;
    p->hue_delta = 18.0f;
    p->saturation_prob = 0.5f;
    p->saturation_lower = 0.5f;
    p->saturation_upper = 1.5f;
    p->random_order_prob = 0.0f;
}

/* Random* of im_transforms.cpp: a probability draw, then the delta draw only when it fires
 * (prob < p), so the number of draws consumed matches Caffe's pattern. */
static void random_brightness(clssd_aug_image *img, const clssd_aug_distort_params *p,
                              clssd_rng *rng)
{
    if (clssd__rng_uniform(rng) < p->brightness_prob)
        (void)clssd__aug_brightness(
            img, clssd__rng_range(rng, -p->brightness_delta, p->brightness_delta));
}

static void random_contrast(clssd_aug_image *img, const clssd_aug_distort_params *p, clssd_rng *rng)
{
    if (clssd__rng_uniform(rng) < p->contrast_prob)
        (void)clssd__aug_contrast(img, clssd__rng_range(rng, p->contrast_lower, p->contrast_upper));
}

static void random_saturation(clssd_aug_image *img, const clssd_aug_distort_params *p,
                              clssd_rng *rng)
{
    if (clssd__rng_uniform(rng) < p->saturation_prob)
        (void)clssd__aug_saturation(
            img, clssd__rng_range(rng, p->saturation_lower, p->saturation_upper));
}

static void random_hue(clssd_aug_image *img, const clssd_aug_distort_params *p, clssd_rng *rng)
{
    if (clssd__rng_uniform(rng) < p->hue_prob)
        (void)clssd__aug_hue(img, clssd__rng_range(rng, -p->hue_delta, p->hue_delta));
}

clssd_status clssd__aug_distort(clssd_aug_image *img, const clssd_aug_distort_params *p,
                                clssd_rng *rng)
{
    if (!image_ok(img) || !p || !rng) return CLSSD_ERR_INVALID_ARG;
    if (p->brightness_delta < 0.0f || p->hue_delta < 0.0f || p->contrast_lower < 0.0f ||
        p->contrast_upper < p->contrast_lower || p->saturation_lower < 0.0f ||
        p->saturation_upper < p->saturation_lower)
        return CLSSD_ERR_INVALID_ARG; /* Caffe's CHECKs */
    if (clssd__rng_uniform(rng) > 0.5f) {
        random_brightness(img, p, rng);
        random_contrast(img, p, rng);
        random_saturation(img, p, rng);
        random_hue(img, p, rng);
    } else {
        random_brightness(img, p, rng);
        random_saturation(img, p, rng);
        random_hue(img, p, rng);
        random_contrast(img, p, rng);
    }
    if (clssd__rng_uniform(rng) < p->random_order_prob) shuffle_channels(img, rng);
    return CLSSD_OK;
}

/* ------------------------------------------------------------------ expand */

clssd_status clssd__aug_expand_at(const clssd_aug_image *src, float ratio, int32_t x_off,
                                  int32_t y_off, const float mean[3], clssd_aug_image *dst,
                                  clssd_train_gt *gt, size_t n_gt)
{
    if (dst) dst->data = NULL;
    if (!image_ok(src) || !mean || !dst || (n_gt > 0 && !gt)) return CLSSD_ERR_INVALID_ARG;
    if (!(ratio >= 1.0f) || ratio > 64.0f) return CLSSD_ERR_INVALID_ARG;
    /* Caffe: height = static_cast<int>(img_height * expand_ratio), in float */
    const float fw = (float)src->w * ratio, fh = (float)src->h * ratio;
    if (fw >= 2147483647.0f || fh >= 2147483647.0f) return CLSSD_ERR_INVALID_ARG;
    const int32_t W = (int32_t)fw, H = (int32_t)fh;
    if (x_off < 0 || y_off < 0 || x_off > W - src->w || y_off > H - src->h)
        return CLSSD_ERR_INVALID_ARG;
    clssd_status st = image_alloc(dst, W, H);
    if (st != CLSSD_OK) return st;
    const uint8_t fill[3] = {sat_u8(mean[0]), sat_u8(mean[1]), sat_u8(mean[2])};
    for (int32_t y = 0; y < H; y++) {
        uint8_t *px = dst->data + (size_t)y * dst->stride;
        for (int32_t x = 0; x < W; x++, px += 3)
            memcpy(px, fill, 3);
    }
    for (int32_t y = 0; y < src->h; y++)
        memcpy(dst->data + (size_t)(y + y_off) * dst->stride + 3 * (size_t)x_off,
               src->data + (size_t)y * src->stride, 3 * (size_t)src->w);
    /* Caffe goes through expand_bbox = (-x_off / w, ..., (W - x_off) / w) and ProjectBBox,
     * rounding at each step; the same map done once in double is exact for pixel-aligned
     * boxes. Every centre stays inside, so Caffe's emit test never drops one here. */
    for (size_t k = 0; k < n_gt; k++)
        for (int c = 0; c < 4; c++) {
            const int x_axis = (c % 2) == 0;
            const double sz = x_axis ? src->w : src->h, off = x_axis ? x_off : y_off;
            const double full = x_axis ? W : H;
            gt[k].box[c] = (float)(((double)gt[k].box[c] * sz + off) / full);
        }
    return CLSSD_OK;
}

/* ------------------------------------------------------------------ batch sampling */

void clssd__aug_ssd_samplers(clssd_aug_sampler out[CLSSD_AUG_SSD_N_SAMPLERS])
{
    /* ssd_pascal.py: {'sampler': {}, 'max_trials': 1, 'max_sample': 1} -- Sampler's proto
     * defaults are scale 1 and aspect 1, i.e. always the whole image. */
    out[0] = (clssd_aug_sampler){1.0f, 1.0f, 1.0f, 1.0f, -1.0f, -1.0f, 1, 1};
    static const float min_j[5] = {0.1f, 0.3f, 0.5f, 0.7f, 0.9f};
    for (int i = 0; i < 5; i++)
        out[1 + i] = (clssd_aug_sampler){0.3f, 1.0f, 0.5f, 2.0f, min_j[i], -1.0f, 50, 1};
    out[6] = (clssd_aug_sampler){0.3f, 1.0f, 0.5f, 2.0f, -1.0f, 1.0f, 50, 1};
}

static float clampf(float x, float lo, float hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

void clssd__aug_sample_bbox(const clssd_aug_sampler *s, clssd_rng *rng, float patch[4])
{
    const float scale = clssd__rng_range(rng, s->min_scale, s->max_scale);
    float ar = clssd__rng_range(rng, s->min_aspect, s->max_aspect);
    /* keeps width = scale * sqrt(ar) and height = scale / sqrt(ar) at most 1 */
    const float s2 = scale * scale;
    if (ar < s2) ar = s2;
    if (ar > 1.0f / s2) ar = 1.0f / s2;
    const float sq = sqrtf(ar);
    /* the clamp above can leave a size a rounding error above 1; Caffe would then draw an
     * offset from an inverted range (its source comments on the crash), so cap at 1 */
    const float bw = fminf(scale * sq, 1.0f), bh = fminf(scale / sq, 1.0f);
    const float x0 = clssd__rng_range(rng, 0.0f, 1.0f - bw);
    const float y0 = clssd__rng_range(rng, 0.0f, 1.0f - bh);
    patch[0] = x0;
    patch[1] = y0;
    patch[2] = clampf(x0 + bw, 0.0f, 1.0f);
    patch[3] = clampf(y0 + bh, 0.0f, 1.0f);
}

int clssd__aug_sample_ok(const clssd_aug_sampler *s, const float patch[4], const clssd_train_gt *gt,
                         size_t n_gt)
{
    const int has_min = s->min_jaccard >= 0.0f, has_max = s->max_jaccard >= 0.0f;
    if (!has_min && !has_max) return 1;
    /* ANY gt (Caffe's loop returns at the first match), not all of them (conformance T4) */
    for (size_t k = 0; k < n_gt; k++) {
        const float o = clssd__train_iou(patch, gt[k].box);
        if (has_min && o < s->min_jaccard) continue;
        if (has_max && o > s->max_jaccard) continue;
        return 1;
    }
    return 0;
}

clssd_status clssd__aug_batch_sample(const clssd_aug_sampler *samplers, size_t n_samplers,
                                     const clssd_train_gt *gt, size_t n_gt, clssd_rng *rng,
                                     float *patches, size_t cap, size_t *n_out)
{
    if (n_out) *n_out = 0;
    if ((n_samplers > 0 && !samplers) || (n_gt > 0 && !gt) || !rng || (cap > 0 && !patches) ||
        !n_out)
        return CLSSD_ERR_INVALID_ARG;
    for (size_t i = 0; i < n_samplers; i++) {
        const clssd_aug_sampler *s = &samplers[i];
        /* Caffe's SampleBBox CHECKs */
        if (!(s->min_scale > 0.0f) || s->max_scale > 1.0f || s->max_scale < s->min_scale ||
            !(s->min_aspect > 0.0f) || s->max_aspect < s->min_aspect || s->max_trials < 0 ||
            s->max_sample < 0)
            return CLSSD_ERR_INVALID_ARG;
    }
    size_t n = 0;
    for (size_t i = 0; i < n_samplers; i++) {
        const clssd_aug_sampler *s = &samplers[i];
        int32_t found = 0;
        for (int32_t t = 0; t < s->max_trials; t++) {
            if (s->max_sample > 0 && found >= s->max_sample) break;
            float patch[4];
            clssd__aug_sample_bbox(s, rng, patch);
            if (!clssd__aug_sample_ok(s, patch, gt, n_gt)) continue;
            found++;
            if (n < cap) memcpy(patches + 4 * n++, patch, sizeof patch);
        }
    }
    *n_out = n;
    return CLSSD_OK;
}

/* ------------------------------------------------------------------ crop */

size_t clssd__aug_crop_boxes(const float patch[4], const clssd_train_gt *gt, size_t n_gt,
                             clssd_train_gt *out)
{
    const float pw = patch[2] - patch[0], ph = patch[3] - patch[1];
    size_t n = 0;
    for (size_t k = 0; k < n_gt; k++) {
        clssd_train_gt g = gt[k]; /* read before out[n] (n <= k) may overwrite it */
        const float *b = g.box;
        /* MeetEmitConstraint, CENTER: inclusive bounds */
        const float cx = (b[0] + b[2]) / 2.0f, cy = (b[1] + b[3]) / 2.0f;
        if (cx < patch[0] || cx > patch[2] || cy < patch[1] || cy > patch[3]) continue;
        /* ProjectBBox: no overlap at all -> dropped, else project, clip, need area > 0 */
        if (b[0] >= patch[2] || b[2] <= patch[0] || b[1] >= patch[3] || b[3] <= patch[1]) continue;
        float p[4] = {(b[0] - patch[0]) / pw, (b[1] - patch[1]) / ph, (b[2] - patch[0]) / pw,
                      (b[3] - patch[1]) / ph};
        for (int c = 0; c < 4; c++)
            p[c] = clampf(p[c], 0.0f, 1.0f);
        if (!(p[2] > p[0] && p[3] > p[1])) continue;
        memcpy(g.box, p, sizeof p);
        out[n++] = g;
    }
    return n;
}

clssd_status clssd__aug_crop(const clssd_aug_image *src, const float patch[4],
                             const clssd_train_gt *gt, size_t n_gt, clssd_aug_image *dst,
                             clssd_train_gt *gt_out, size_t *n_out)
{
    if (dst) dst->data = NULL;
    if (n_out) *n_out = 0;
    if (!image_ok(src) || !patch || !dst || !n_out || (n_gt > 0 && (!gt || !gt_out)))
        return CLSSD_ERR_INVALID_ARG;
    float c[4];
    for (int i = 0; i < 4; i++)
        c[i] = clampf(patch[i], 0.0f, 1.0f); /* ClipBBox (a NaN passes through, refused next) */
    if (!(c[2] >= c[0] && c[3] >= c[1])) return CLSSD_ERR_INVALID_ARG;
    /* ScaleBBox then Caffe's int truncations */
    const float sx0 = c[0] * (float)src->w, sx1 = c[2] * (float)src->w;
    const float sy0 = c[1] * (float)src->h, sy1 = c[3] * (float)src->h;
    int32_t x0 = (int32_t)sx0, y0 = (int32_t)sy0;
    int32_t cw = (int32_t)(sx1 - sx0), ch = (int32_t)(sy1 - sy0);
    /* a sliver narrower than a pixel would be an empty cv::Rect; keep one pixel instead */
    if (cw < 1) cw = 1;
    if (ch < 1) ch = 1;
    if (x0 > src->w - cw) x0 = src->w - cw;
    if (y0 > src->h - ch) y0 = src->h - ch;
    clssd_status st = image_alloc(dst, cw, ch);
    if (st != CLSSD_OK) return st;
    for (int32_t y = 0; y < ch; y++)
        memcpy(dst->data + (size_t)y * dst->stride,
               src->data + (size_t)(y + y0) * src->stride + 3 * (size_t)x0, 3 * (size_t)cw);
    const float cut[4] = {(float)((double)x0 / src->w), (float)((double)y0 / src->h),
                          (float)((double)(x0 + cw) / src->w), (float)((double)(y0 + ch) / src->h)};
    *n_out = clssd__aug_crop_boxes(cut, gt, n_gt, gt_out);
    return CLSSD_OK;
}

/* ------------------------------------------------------------------ flip */

clssd_status clssd__aug_flip(clssd_aug_image *img, clssd_train_gt *gt, size_t n_gt)
{
    if (!image_ok(img) || (n_gt > 0 && !gt)) return CLSSD_ERR_INVALID_ARG;
    for (int32_t y = 0; y < img->h; y++) {
        uint8_t *row = img->data + (size_t)y * img->stride;
        for (int32_t a = 0, b = img->w - 1; a < b; a++, b--) {
            uint8_t tmp[3];
            memcpy(tmp, row + 3 * (size_t)a, 3);
            memcpy(row + 3 * (size_t)a, row + 3 * (size_t)b, 3);
            memcpy(row + 3 * (size_t)b, tmp, 3);
        }
    }
    for (size_t k = 0; k < n_gt; k++) {
        const float x0 = gt[k].box[0];
        gt[k].box[0] = 1.0f - gt[k].box[2];
        gt[k].box[2] = 1.0f - x0;
    }
    return CLSSD_OK;
}

/* ------------------------------------------------------------------ driver */

void clssd__aug_defaults(clssd_aug_params *p)
{
    memset(p, 0, sizeof *p);
    p->distort = 1;
    clssd__aug_distort_defaults(&p->distort_params);
    p->expand_prob = 0.5f;
    p->max_expand_ratio = 4.0f;
    /* ssd_pascal.py mean_value [104, 117, 123] is BGR */
    p->mean[0] = 123.0f;
    p->mean[1] = 117.0f;
    p->mean[2] = 104.0f;
    clssd__aug_ssd_samplers(p->samplers);
    p->n_samplers = CLSSD_AUG_SSD_N_SAMPLERS;
    p->flip_prob = 0.5f;
}

clssd_status clssd__augment(const clssd_aug_params *p, clssd_rng *rng, const clssd_aug_image *src,
                            const clssd_train_gt *gt, size_t n_gt, clssd_aug_image *out,
                            clssd_train_gt *gt_out, size_t *n_out)
{
    if (out) out->data = NULL;
    if (n_out) *n_out = 0;
    if (!p || !rng || !image_ok(src) || !out || !n_out || (n_gt > 0 && (!gt || !gt_out)) ||
        p->n_samplers > CLSSD_AUG_MAX_SAMPLERS)
        return CLSSD_ERR_INVALID_ARG;

    clssd_aug_image cur, next;
    float *patches = NULL;
    clssd_status st = image_alloc(&cur, src->w, src->h);
    if (st != CLSSD_OK) return st;
    for (int32_t y = 0; y < src->h; y++)
        memcpy(cur.data + (size_t)y * cur.stride, src->data + (size_t)y * src->stride, cur.stride);
    if (n_gt > 0) memmove(gt_out, gt, n_gt * sizeof *gt);
    size_t n = n_gt;

    if (p->distort) {
        st = clssd__aug_distort(&cur, &p->distort_params, rng);
        if (st != CLSSD_OK) goto fail;
    }

    /* ExpandImage: skipped when prob > expand_prob or the ratio range is degenerate */
    if (!(clssd__rng_uniform(rng) > p->expand_prob) &&
        !(fabsf(p->max_expand_ratio - 1.0f) < 1e-2f)) {
        const float ratio = clssd__rng_range(rng, 1.0f, p->max_expand_ratio);
        const int32_t W = (int32_t)((float)cur.w * ratio), H = (int32_t)((float)cur.h * ratio);
        /* Caffe draws h_off first, then w_off; floor keeps them inside */
        const int32_t yo = (int32_t)floorf(clssd__rng_range(rng, 0.0f, (float)(H - cur.h)));
        const int32_t xo = (int32_t)floorf(clssd__rng_range(rng, 0.0f, (float)(W - cur.w)));
        st = clssd__aug_expand_at(&cur, ratio, xo, yo, p->mean, &next, gt_out, n);
        if (st != CLSSD_OK) goto fail;
        clssd__free(cur.data);
        cur = next;
    }

    if (p->n_samplers > 0) {
        size_t cap = 0;
        for (size_t i = 0; i < p->n_samplers; i++) {
            const clssd_aug_sampler *s = &p->samplers[i];
            const int32_t lim =
                s->max_sample > 0 && s->max_sample < s->max_trials ? s->max_sample : s->max_trials;
            if (lim > 0) cap += (size_t)lim;
        }
        size_t n_patches = 0;
        if (cap > 0) {
            patches = clssd__malloc(cap * 4 * sizeof *patches);
            if (!patches) {
                st = CLSSD_ERR_OUT_OF_MEMORY;
                goto fail;
            }
        }
        st = clssd__aug_batch_sample(p->samplers, p->n_samplers, gt_out, n, rng, patches, cap,
                                     &n_patches);
        if (st != CLSSD_OK) goto fail;
        if (n_patches > 0) {
            /* caffe_rng_rand() % size */
            const size_t pick = (size_t)(clssd__rng_u64(rng) % (uint64_t)n_patches);
            st = clssd__aug_crop(&cur, patches + 4 * pick, gt_out, n, &next, gt_out, &n);
            if (st != CLSSD_OK) goto fail;
            clssd__free(cur.data);
            cur = next;
        }
        clssd__free(patches);
        patches = NULL;
    }

    if (clssd__rng_uniform(rng) < p->flip_prob) (void)clssd__aug_flip(&cur, gt_out, n);

    *out = cur;
    *n_out = n;
    return CLSSD_OK;

fail:
    clssd__free(patches);
    clssd__free(cur.data);
    out->data = NULL;
    return st;
}
