/* image_io: the little image handling clssd-detect needs — decode JPEG/PNG (stb_image) to
 * packed RGB8, write PNG (stb_image_write), draw rectangles and text in a built-in 5x7
 * bitmap font. Images are packed: rows of exactly 3*w bytes. */
#ifndef CLSSD_TOOLS_IMAGE_IO_H
#define CLSSD_TOOLS_IMAGE_IO_H

#include <stddef.h>
#include <stdint.h>

typedef struct imgio_image {
    uint8_t *px; /* w*h*3 bytes, RGB, rows of 3*w bytes */
    int w, h;
} imgio_image;

/* Limits on what is decoded, checked from the image header before stb_image allocates
 * anything, so that a hostile header (a few bytes claiming 60000x60000) cannot take memory.
 * stb_image needs about 15 bytes per pixel at worst (a progressive 4-component JPEG keeps
 * 16-bit coefficients and 8-bit planes per component, then the RGB output), so 64 Mpixel
 * bounds one decode to about 1 GB; a detector looking at 300x300 inputs has no use for more
 * (a larger photo can be downscaled first). A side is also capped at 16384, since a
 * 1 x 64M strip is no picture either. Files are read whole, and stb_image takes an int
 * length. */
#define IMGIO_MAX_SIDE 16384
#define IMGIO_MAX_PIXELS ((size_t)1 << 26)
#define IMGIO_MAX_FILE ((size_t)1 << 29)

/* Decodes a JPEG or PNG file (the formats the tools read; others are refused), any channel
 * count, to RGB8. Returns 0, or -1 with a one-line reason in err ("cannot open: No such file
 * or directory", "not a decodable image: Corrupt JPEG", "image too large: ..."). */
int imgio_load(const char *path, imgio_image *out, char *err, size_t errcap);

/* The same for a file's bytes held in data[0..len). */
int imgio_load_mem(const void *data, size_t len, imgio_image *out, char *err, size_t errcap);

/* imgio_load_mem with a lower pixel limit (max_pixels, at most IMGIO_MAX_PIXELS): the fuzz
 * harness keeps each decode small with it, so that it runs millions of them. */
int imgio_load_mem_max(const void *data, size_t len, size_t max_pixels, imgio_image *out,
                       char *err, size_t errcap);

/* Frees the pixels; the struct is zeroed. NULL and empty images are fine. */
void imgio_free(imgio_image *im);

/* Writes a PNG. Returns 0, or -1 with the reason in err. */
int imgio_save_png(const char *path, const imgio_image *im, char *err, size_t errcap);

/* Writes a baseline JPEG at `quality` 1..100 (clamped). Returns 0, or -1 with the reason in
 * err. The encoder is deterministic: the same pixels give the same bytes. */
int imgio_save_jpeg(const char *path, const imgio_image *im, int quality, char *err,
                    size_t errcap);

/* Filled rectangle over the pixels [x0, x1] x [y0, y1] (inclusive), clipped to the image. */
void imgio_fill_rect(imgio_image *im, int x0, int y0, int x1, int y1, const uint8_t rgb[3]);

/* Outline of [x0, x1] x [y0, y1] (inclusive), `thickness` pixels drawn inwards, clipped. */
void imgio_draw_rect(imgio_image *im, int x0, int y0, int x1, int y1, int thickness,
                     const uint8_t rgb[3]);

/* Size in pixels of `s` in the built-in font at integer `scale` (>= 1): characters are
 * 5*scale wide with a 1*scale gap between them, 7*scale tall. Bytes outside printable
 * ASCII are drawn as '?'. */
int imgio_text_width(const char *s, int scale);
int imgio_text_height(int scale);

/* Draws `s` with its top-left corner at (x, y), clipped. Only the glyph pixels are set. */
void imgio_draw_text(imgio_image *im, int x, int y, const char *s, int scale,
                     const uint8_t rgb[3]);

#endif
