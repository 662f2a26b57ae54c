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

/* Decodes any file stb_image reads (JPEG, PNG, ...), any channel count, to RGB8.
 * Returns 0, or -1 with a one-line reason in err ("cannot open: No such file or directory",
 * "not a decodable image: Corrupt JPEG"). */
int imgio_load(const char *path, imgio_image *out, char *err, size_t errcap);

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
