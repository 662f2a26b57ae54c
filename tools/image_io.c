/* image_io: decode (stb_image), PNG output (stb_image_write), boxes and a 5x7 font. */
#include "image_io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The stb implementations live in this translation unit only (the program does not link
 * libstb). stb_image keeps external linkage: its STB_IMAGE_STATIC mode declares a function it
 * never defines in this stb version. Their warnings are theirs. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wsign-conversion"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wdouble-promotion"
/* stb_image allocates through these, so that one decode takes no more than its image can
 * need: a PNG's zlib stream may otherwise inflate far past the image (stb grows its output
 * buffer up to 4 GiB), whatever the header says. imgio_load_mem_max sets the limit for the
 * duration of a decode; outside one, stb may not allocate at all. Thread-local: the tools
 * decode images on several threads. */
static _Thread_local size_t stb_alloc_limit;
static void *stb_malloc(size_t n)
{
    /* zeroed: this stb leaves its JPEG decoder state uninitialized, so a JPEG using a Huffman
     * table it never defined would decode from stale heap bytes (and leak them as pixels) */
    return n <= stb_alloc_limit ? calloc(1, n) : NULL;
}
static void *stb_realloc(void *p, size_t n)
{
    return n <= stb_alloc_limit ? realloc(p, n) : NULL;
}
#define STBI_MALLOC(n) stb_malloc(n)
#define STBI_REALLOC(p, n) stb_realloc(p, n)
#define STBI_FREE(p) free(p)
#define STBI_FAILURE_USERMSG
/* Only the formats the tools take (clssd-detect reads *.jpg, *.jpeg and *.png; VOC and the
 * synthetic sets are JPEG): every other decoder would be attack surface for nothing. Files are
 * read by imgio_load itself, so stb's stdio layer is left out too. */
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_NO_STDIO
#define STBI_MAX_DIMENSIONS IMGIO_MAX_SIDE
/* This stb's JPEG decoder lets hostile entropy-coded data do undefined arithmetic, which later
 * stb versions range-check: it overflows int (the DC predictor times the quantizer,
 * progressive-mode scaling; regression input tests/fuzz/regress/image/crash-jpeg-dc-overflow)
 * and, consuming more bits than it holds, shifts a 32-bit value by 32
 * (crash-jpeg-code-bits-shift). No pre-check short of decoding the data could stop either, and
 * both only make wrong pixels (coefficients are truncated to 16 bits; x86 masks the shift
 * count), touching no memory they should not. So signed overflow is made defined for this code
 * (GCC: -fwrapv), and under clang, which has no per-function -fwrapv, UBSan is told not to
 * report these two kinds inside stb; ASan still checks every access. The real fix is a newer
 * stb_image than Debian's 2.27. */
#if defined(__clang__)
#pragma clang attribute push(__attribute__((no_sanitize("signed-integer-overflow", "shift"))), \
                             apply_to = function)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC optimize("wrapv")
#endif
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
#if defined(__clang__)
#pragma clang attribute pop
#elif defined(__GNUC__)
#pragma GCC pop_options
#endif
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

static void set_err(char *err, size_t cap, const char *what, const char *detail)
{
    if (err && cap) snprintf(err, cap, "%s%s%s", what, detail ? ": " : "", detail ? detail : "");
}

/* Works around a heap overflow in the stb_image this builds with (v2.27, Debian's libstb
 * 0.0~git20220908; found by tests/fuzz/fuzz_image.c, regression input
 * tests/fuzz/regress/image/crash-jpeg-dht-count): a JPEG DHT segment gives 16 code counts, and
 * stb writes that many entries into its 257-entry size and 256-entry value tables without
 * checking that the counts sum to at most 256 (later stb versions do check). This walks the
 * marker segments of a JPEG the way stb's decoder meets them (it must run before
 * stbi_info_from_memory, which reads the tables before the frame header too) and reports
 * whether any DHT table claims more than 256 codes. Walking from every 0xFF byte, inside
 * entropy-coded data as well, sees each marker stb can see; where the two could part ways stb
 * has already failed, so this only ever checks more segments than stb reads. Returns 1 when
 * the data is not a JPEG (stb takes 0xFF, fill bytes 0xFF, then 0xD8 as its start). */
static int jpeg_huffman_counts_ok(const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n && p[i] == 0xFF)
        i++;
    if (i == 0 || i >= n || p[i] != 0xD8) return 1;
    i++;
    while (i + 1 < n) {
        const unsigned char m = p[i + 1];
        if (p[i] != 0xFF || m == 0xFF) { /* data, or a fill byte before a marker */
            i++;
            continue;
        }
        if (m == 0xD9) return 1; /* EOI: stb reads no further */
        /* stuffed 0xFF, restart markers and the other parameterless ones */
        if (m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD8)) {
            i += 2;
            continue;
        }
        if (i + 3 >= n) return 1;
        const size_t seg = (size_t)p[i + 2] << 8 | p[i + 3];
        if (m == 0xC4) {
            /* as stb's DHT loop: tables while the length lasts, bytes past the end read 0 */
            long left = (long)seg - 2;
            size_t k = i + 4;
            while (left > 0) {
                const unsigned q = k < n ? p[k] : 0;
                if (q >> 4 > 1 || (q & 15) > 3) return 1; /* stb refuses the segment */
                size_t codes = 0;
                for (size_t c = 1; c <= 16; c++)
                    codes += k + c < n ? p[k + c] : 0;
                if (codes > 256) return 0;
                k += 17 + codes;
                left -= 17 + (long)codes;
            }
        }
        i += 2 + seg;
    }
    return 1;
}

/* Two things this stb does with a PNG's chunks, which it reads one after the other:
 * - it reallocates its buffer of compressed data to each IDAT chunk's declared length before
 *   it reads the chunk, so 45 bytes claiming a 2 GiB chunk would take 2 GiB (regression input
 *   oom-png-idat-length); stb fails on a truncated chunk anyway, so a chunk running past the
 *   end of the data is refused here first;
 * - an empty IDAT before any data has it offset and copy to a NULL buffer, undefined behaviour
 *   (crash-png-empty-idat); such a file (legal, but no encoder writes one) is refused.
 * Returns 1 when the data is not a PNG. */
static int png_chunks_ok(const unsigned char *p, size_t n)
{
    static const unsigned char signature[8] = {137, 80, 78, 71, 13, 10, 26, 10};
    if (n < 8 || memcmp(p, signature, 8) != 0) return 1;
    size_t i = 8;
    int have_data = 0;
    while (n - i >= 12) { /* length, type, data, CRC */
        const size_t chunk =
            (size_t)p[i] << 24 | (size_t)p[i + 1] << 16 | (size_t)p[i + 2] << 8 | p[i + 3];
        if (chunk > n - i - 12) return 0;
        if (memcmp(p + i + 4, "IDAT", 4) == 0) {
            if (chunk == 0 && !have_data) return 0;
            have_data = 1;
        }
        if (memcmp(p + i + 4, "IEND", 4) == 0) return 1;
        i += 12 + chunk;
    }
    return 1;
}

/* What one stb allocation may take for a w x h image: a PNG's inflated data holds up to 8
 * bytes a pixel (16-bit RGBA) plus a filter byte a row, and stb may double its buffer once
 * (interlaced images inflate to a little more than its guess); a JPEG's planes are padded to
 * whole MCUs (at most 32 pixels more a side). 1 MiB more covers stb's fixed-size state. */
static size_t decode_alloc_limit(int w, int h)
{
    return 16 * ((size_t)w + 32) * ((size_t)h + 32) + ((size_t)1 << 20);
}

int imgio_load_mem_max(const void *data, size_t len, size_t max_pixels, imgio_image *out, char *err,
                       size_t errcap)
{
    memset(out, 0, sizeof *out);
    if (!data && len) {
        set_err(err, errcap, "not a decodable image", "no data");
        return -1;
    }
    if (len > IMGIO_MAX_FILE) {
        set_err(err, errcap, "image too large", "file over 512 MiB");
        return -1;
    }
    if (max_pixels > IMGIO_MAX_PIXELS) max_pixels = IMGIO_MAX_PIXELS;
    const stbi_uc *bytes = data ? (const stbi_uc *)data : (const stbi_uc *)"";
    if (!jpeg_huffman_counts_ok(bytes, len)) {
        set_err(err, errcap, "not a decodable image", "Corrupt JPEG (Huffman table too large)");
        return -1;
    }
    if (!png_chunks_ok(bytes, len)) {
        set_err(err, errcap, "not a decodable image",
                "Corrupt PNG (a chunk past the end, or an empty first IDAT)");
        return -1;
    }
    /* the header alone first: the limits apply before stb allocates for the pixels */
    int w = 0, h = 0, n = 0;
    stb_alloc_limit = decode_alloc_limit(0, 0);
    const int known = stbi_info_from_memory(bytes, (int)len, &w, &h, &n);
    stb_alloc_limit = 0;
    if (!known) {
        const char *why = stbi_failure_reason();
        set_err(err, errcap, "not a decodable image", why ? why : "unknown reason");
        return -1;
    }
    if (w <= 0 || h <= 0 || w > IMGIO_MAX_SIDE || h > IMGIO_MAX_SIDE ||
        (size_t)w * (size_t)h > max_pixels) {
        if (err && errcap)
            snprintf(err, errcap,
                     "image too large: %dx%d (the limit is %d per side and %zu pixels)", w, h,
                     IMGIO_MAX_SIDE, max_pixels);
        return -1;
    }
    int dw = 0, dh = 0;
    stb_alloc_limit = decode_alloc_limit(w, h);
    stbi_uc *px = stbi_load_from_memory(bytes, (int)len, &dw, &dh, &n, 3);
    stb_alloc_limit = 0;
    if (!px) {
        const char *why = stbi_failure_reason();
        /* stb says "Out of memory" too when decode_alloc_limit refused it */
        if (why && strcmp(why, "Out of memory") == 0)
            why = "Out of memory, or more data than the image size allows";
        set_err(err, errcap, "not a decodable image", why ? why : "unknown reason");
        return -1;
    }
    /* The decoder reads the header the probe read; if they ever disagreed, the limits above
     * would not have bounded what was decoded. */
    if (dw != w || dh != h) {
        stbi_image_free(px);
        set_err(err, errcap, "not a decodable image", "inconsistent header");
        return -1;
    }
    out->px = px;
    out->w = w;
    out->h = h;
    return 0;
}

int imgio_load_mem(const void *data, size_t len, imgio_image *out, char *err, size_t errcap)
{
    return imgio_load_mem_max(data, len, IMGIO_MAX_PIXELS, out, err, errcap);
}

int imgio_load(const char *path, imgio_image *out, char *err, size_t errcap)
{
    memset(out, 0, sizeof *out);
    /* Open it here so that a missing or unreadable file is told apart from a bad image. */
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_err(err, errcap, "cannot open", strerror(errno));
        return -1;
    }
    size_t cap = (size_t)1 << 16, len = 0;
    unsigned char *buf = malloc(cap);
    int rc = -1;
    if (!buf) {
        set_err(err, errcap, "out of memory", NULL);
        goto done;
    }
    for (;;) {
        if (len == cap) {
            if (cap > IMGIO_MAX_FILE) {
                set_err(err, errcap, "image too large", "file over 512 MiB");
                goto done;
            }
            unsigned char *nb = realloc(buf, cap * 2);
            if (!nb) {
                set_err(err, errcap, "out of memory", NULL);
                goto done;
            }
            buf = nb;
            cap *= 2;
        }
        const size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    if (ferror(f)) {
        set_err(err, errcap, "read error", strerror(errno));
        goto done;
    }
    rc = imgio_load_mem(buf, len, out, err, errcap);
done:
    free(buf);
    fclose(f);
    return rc;
}

void imgio_free(imgio_image *im)
{
    if (!im) return;
    stbi_image_free(im->px);
    memset(im, 0, sizeof *im);
}

int imgio_save_png(const char *path, const imgio_image *im, char *err, size_t errcap)
{
    errno = 0;
    if (!stbi_write_png(path, im->w, im->h, 3, im->px, im->w * 3)) {
        set_err(err, errcap, "cannot write PNG", errno ? strerror(errno) : "encoder failed");
        return -1;
    }
    return 0;
}

int imgio_save_jpeg(const char *path, const imgio_image *im, int quality, char *err,
                    size_t errcap)
{
    if (quality < 1) quality = 1;
    if (quality > 100) quality = 100;
    errno = 0;
    if (!stbi_write_jpg(path, im->w, im->h, 3, im->px, quality)) {
        set_err(err, errcap, "cannot write JPEG", errno ? strerror(errno) : "encoder failed");
        return -1;
    }
    return 0;
}

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

void imgio_fill_rect(imgio_image *im, int x0, int y0, int x1, int y1, const uint8_t rgb[3])
{
    if (!im || !im->px || x1 < 0 || y1 < 0 || x0 >= im->w || y0 >= im->h || x0 > x1 || y0 > y1)
        return;
    x0 = clampi(x0, 0, im->w - 1);
    x1 = clampi(x1, 0, im->w - 1);
    y0 = clampi(y0, 0, im->h - 1);
    y1 = clampi(y1, 0, im->h - 1);
    for (int y = y0; y <= y1; y++) {
        uint8_t *p = im->px + ((size_t)y * (size_t)im->w + (size_t)x0) * 3;
        for (int x = x0; x <= x1; x++, p += 3) memcpy(p, rgb, 3);
    }
}

void imgio_draw_rect(imgio_image *im, int x0, int y0, int x1, int y1, int thickness,
                     const uint8_t rgb[3])
{
    if (x0 > x1 || y0 > y1 || thickness < 1) return;
    const int t = thickness - 1;
    imgio_fill_rect(im, x0, y0, x1, y0 + t, rgb); /* top */
    imgio_fill_rect(im, x0, y1 - t, x1, y1, rgb); /* bottom */
    imgio_fill_rect(im, x0, y0, x0 + t, y1, rgb); /* left */
    imgio_fill_rect(im, x1 - t, y0, x1, y1, rgb); /* right */
}

/* 5x7 font for ASCII 32..126: five columns per glyph, bit 0 is the top row. */
static const uint8_t font5x7[95][5] = {
    {0x00, 0x00, 0x00, 0x00, 0x00}, {0x00, 0x00, 0x5F, 0x00, 0x00}, /*   ! */
    {0x00, 0x07, 0x00, 0x07, 0x00}, {0x14, 0x7F, 0x14, 0x7F, 0x14}, /* " # */
    {0x24, 0x2A, 0x7F, 0x2A, 0x12}, {0x23, 0x13, 0x08, 0x64, 0x62}, /* $ % */
    {0x36, 0x49, 0x55, 0x22, 0x50}, {0x00, 0x05, 0x03, 0x00, 0x00}, /* & ' */
    {0x00, 0x1C, 0x22, 0x41, 0x00}, {0x00, 0x41, 0x22, 0x1C, 0x00}, /* ( ) */
    {0x14, 0x08, 0x3E, 0x08, 0x14}, {0x08, 0x08, 0x3E, 0x08, 0x08}, /* * + */
    {0x00, 0x50, 0x30, 0x00, 0x00}, {0x08, 0x08, 0x08, 0x08, 0x08}, /* , - */
    {0x00, 0x60, 0x60, 0x00, 0x00}, {0x20, 0x10, 0x08, 0x04, 0x02}, /* . / */
    {0x3E, 0x51, 0x49, 0x45, 0x3E}, {0x00, 0x42, 0x7F, 0x40, 0x00}, /* 0 1 */
    {0x42, 0x61, 0x51, 0x49, 0x46}, {0x21, 0x41, 0x45, 0x4B, 0x31}, /* 2 3 */
    {0x18, 0x14, 0x12, 0x7F, 0x10}, {0x27, 0x45, 0x45, 0x45, 0x39}, /* 4 5 */
    {0x3C, 0x4A, 0x49, 0x49, 0x30}, {0x01, 0x71, 0x09, 0x05, 0x03}, /* 6 7 */
    {0x36, 0x49, 0x49, 0x49, 0x36}, {0x06, 0x49, 0x49, 0x29, 0x1E}, /* 8 9 */
    {0x00, 0x36, 0x36, 0x00, 0x00}, {0x00, 0x56, 0x36, 0x00, 0x00}, /* : ; */
    {0x08, 0x14, 0x22, 0x41, 0x00}, {0x14, 0x14, 0x14, 0x14, 0x14}, /* < = */
    {0x00, 0x41, 0x22, 0x14, 0x08}, {0x02, 0x01, 0x51, 0x09, 0x06}, /* > ? */
    {0x32, 0x49, 0x79, 0x41, 0x3E}, {0x7E, 0x11, 0x11, 0x11, 0x7E}, /* @ A */
    {0x7F, 0x49, 0x49, 0x49, 0x36}, {0x3E, 0x41, 0x41, 0x41, 0x22}, /* B C */
    {0x7F, 0x41, 0x41, 0x22, 0x1C}, {0x7F, 0x49, 0x49, 0x49, 0x41}, /* D E */
    {0x7F, 0x09, 0x09, 0x09, 0x01}, {0x3E, 0x41, 0x49, 0x49, 0x7A}, /* F G */
    {0x7F, 0x08, 0x08, 0x08, 0x7F}, {0x00, 0x41, 0x7F, 0x41, 0x00}, /* H I */
    {0x20, 0x40, 0x41, 0x3F, 0x01}, {0x7F, 0x08, 0x14, 0x22, 0x41}, /* J K */
    {0x7F, 0x40, 0x40, 0x40, 0x40}, {0x7F, 0x02, 0x0C, 0x02, 0x7F}, /* L M */
    {0x7F, 0x04, 0x08, 0x10, 0x7F}, {0x3E, 0x41, 0x41, 0x41, 0x3E}, /* N O */
    {0x7F, 0x09, 0x09, 0x09, 0x06}, {0x3E, 0x41, 0x51, 0x21, 0x5E}, /* P Q */
    {0x7F, 0x09, 0x19, 0x29, 0x46}, {0x46, 0x49, 0x49, 0x49, 0x31}, /* R S */
    {0x01, 0x01, 0x7F, 0x01, 0x01}, {0x3F, 0x40, 0x40, 0x40, 0x3F}, /* T U */
    {0x1F, 0x20, 0x40, 0x20, 0x1F}, {0x3F, 0x40, 0x38, 0x40, 0x3F}, /* V W */
    {0x63, 0x14, 0x08, 0x14, 0x63}, {0x07, 0x08, 0x70, 0x08, 0x07}, /* X Y */
    {0x61, 0x51, 0x49, 0x45, 0x43}, {0x00, 0x7F, 0x41, 0x41, 0x00}, /* Z [ */
    {0x02, 0x04, 0x08, 0x10, 0x20}, {0x00, 0x41, 0x41, 0x7F, 0x00}, /* \ ] */
    {0x04, 0x02, 0x01, 0x02, 0x04}, {0x40, 0x40, 0x40, 0x40, 0x40}, /* ^ _ */
    {0x00, 0x01, 0x02, 0x04, 0x00}, {0x20, 0x54, 0x54, 0x54, 0x78}, /* ` a */
    {0x7F, 0x48, 0x44, 0x44, 0x38}, {0x38, 0x44, 0x44, 0x44, 0x20}, /* b c */
    {0x38, 0x44, 0x44, 0x48, 0x7F}, {0x38, 0x54, 0x54, 0x54, 0x18}, /* d e */
    {0x08, 0x7E, 0x09, 0x01, 0x02}, {0x0C, 0x52, 0x52, 0x52, 0x3E}, /* f g */
    {0x7F, 0x08, 0x04, 0x04, 0x78}, {0x00, 0x44, 0x7D, 0x40, 0x00}, /* h i */
    {0x20, 0x40, 0x44, 0x3D, 0x00}, {0x7F, 0x10, 0x28, 0x44, 0x00}, /* j k */
    {0x00, 0x41, 0x7F, 0x40, 0x00}, {0x7C, 0x04, 0x18, 0x04, 0x78}, /* l m */
    {0x7C, 0x08, 0x04, 0x04, 0x78}, {0x38, 0x44, 0x44, 0x44, 0x38}, /* n o */
    {0x7C, 0x14, 0x14, 0x14, 0x08}, {0x08, 0x14, 0x14, 0x18, 0x7C}, /* p q */
    {0x7C, 0x08, 0x04, 0x04, 0x08}, {0x48, 0x54, 0x54, 0x54, 0x20}, /* r s */
    {0x04, 0x3F, 0x44, 0x40, 0x20}, {0x3C, 0x40, 0x40, 0x20, 0x7C}, /* t u */
    {0x1C, 0x20, 0x40, 0x20, 0x1C}, {0x3C, 0x40, 0x30, 0x40, 0x3C}, /* v w */
    {0x44, 0x28, 0x10, 0x28, 0x44}, {0x0C, 0x50, 0x50, 0x50, 0x3C}, /* x y */
    {0x44, 0x64, 0x54, 0x4C, 0x44}, {0x00, 0x08, 0x36, 0x41, 0x00}, /* z { */
    {0x00, 0x00, 0x7F, 0x00, 0x00}, {0x00, 0x41, 0x36, 0x08, 0x00}, /* | } */
    {0x08, 0x04, 0x08, 0x10, 0x08},                                 /* ~ */
};

int imgio_text_width(const char *s, int scale)
{
    const size_t n = strlen(s);
    if (scale < 1) scale = 1;
    return n ? (int)(6 * n - 1) * scale : 0;
}

int imgio_text_height(int scale)
{
    return 7 * (scale < 1 ? 1 : scale);
}

void imgio_draw_text(imgio_image *im, int x, int y, const char *s, int scale,
                     const uint8_t rgb[3])
{
    if (scale < 1) scale = 1;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++, x += 6 * scale) {
        const uint8_t *g = font5x7[(*c >= 32 && *c <= 126 ? *c : '?') - 32];
        for (int col = 0; col < 5; col++)
            for (int row = 0; row < 7; row++)
                if (g[col] >> row & 1)
                    imgio_fill_rect(im, x + col * scale, y + row * scale,
                                    x + (col + 1) * scale - 1, y + (row + 1) * scale - 1, rgb);
    }
}
