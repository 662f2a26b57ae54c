/* pr_plot: PR curves on a raster, see pr_plot.h. */
#include "pr_plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image_io.h"

enum { PLOT_W = 640, PLOT_H = 480, LEFT = 56, RIGHT = 24, TOP = 40, BOTTOM = 48 };

static const uint8_t white[3] = {255, 255, 255}, black[3] = {0, 0, 0}, grid[3] = {225, 225, 225};

/* Data [0, 1] -> pixel; y grows downwards in the picture. */
static int px_x(double r) { return LEFT + (int)lround(r * (PLOT_W - LEFT - RIGHT - 1)); }
static int px_y(double p) { return PLOT_H - BOTTOM - (int)lround(p * (PLOT_H - TOP - BOTTOM - 1)); }

static double clamp01(double v) { return v != v ? 0.0 : v < 0.0 ? 0.0 : v > 1.0 ? 1.0 : v; }

/* A 2-pixel line (Bresenham with a square pen). */
static void line(imgio_image *im, int x0, int y0, int x1, int y1, const uint8_t rgb[3])
{
    const int dx = abs(x1 - x0), dy = -abs(y1 - y0);
    const int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    int e = dx + dy;
    for (;;) {
        imgio_fill_rect(im, x0, y0, x0 + 1, y0 + 1, rgb);
        if (x0 == x1 && y0 == y1) break;
        const int e2 = 2 * e;
        if (e2 >= dy) {
            e += dy;
            x0 += sx;
        }
        if (e2 <= dx) {
            e += dx;
            y0 += sy;
        }
    }
}

static void axes(imgio_image *im)
{
    char t[16];
    for (int k = 0; k <= 10; k++) {
        const double v = k / 10.0;
        const int x = px_x(v), y = px_y(v);
        imgio_fill_rect(im, x, TOP, x, PLOT_H - BOTTOM, grid);
        imgio_fill_rect(im, LEFT, y, PLOT_W - RIGHT - 1, y, grid);
        snprintf(t, sizeof t, "%.1f", v);
        imgio_draw_text(im, x - imgio_text_width(t, 1) / 2, PLOT_H - BOTTOM + 6, t, 1, black);
        imgio_draw_text(im, LEFT - 6 - imgio_text_width(t, 1), y - 3, t, 1, black);
    }
    imgio_draw_rect(im, LEFT, TOP, PLOT_W - RIGHT - 1, PLOT_H - BOTTOM, 1, black);
    const char *xl = "recall", *yl = "precision";
    imgio_draw_text(im, (LEFT + PLOT_W - RIGHT) / 2 - imgio_text_width(xl, 2) / 2,
                    PLOT_H - BOTTOM + 20, xl, 2, black);
    /* the font has no rotation: the y label reads downwards, one letter per row */
    for (size_t i = 0; yl[i]; i++) {
        const char c[2] = {yl[i], 0};
        imgio_draw_text(im, 6, TOP + 60 + (int)i * 12, c, 1, black);
    }
}

int pr_plot_png(const char *path, const char *title, const pr_series *series, size_t n_series,
                char *err, size_t errcap)
{
    imgio_image im = {malloc((size_t)PLOT_W * PLOT_H * 3), PLOT_W, PLOT_H};
    if (!im.px) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    imgio_fill_rect(&im, 0, 0, PLOT_W - 1, PLOT_H - 1, white);
    axes(&im);
    if (title) imgio_draw_text(&im, LEFT, 12, title, 2, black);
    for (size_t s = 0; s < n_series; s++) {
        const pr_series *c = &series[s];
        if (!c->n) continue;
        /* Points with no precision yet (0/0 before the first TP or FP: only difficult
         * matches so far) are skipped. The curve starts on the precision axis at the first
         * defined point's precision, as a ranked list's curve begins at recall 0. */
        size_t i0 = 0;
        while (i0 < c->n && (isnan(c->precision[i0]) || isnan(c->recall[i0]))) i0++;
        if (i0 == c->n) continue;
        int x = px_x(0.0), y = px_y(clamp01(c->precision[i0]));
        for (size_t i = i0; i < c->n; i++) {
            if (isnan(c->precision[i]) || isnan(c->recall[i])) continue;
            const int nx = px_x(clamp01(c->recall[i])), ny = px_y(clamp01(c->precision[i]));
            if (c->steps) {
                line(&im, x, y, nx, y, c->rgb); /* flat to the next recall, then down/up */
                line(&im, nx, y, nx, ny, c->rgb);
            } else {
                line(&im, x, y, nx, ny, c->rgb);
            }
            x = nx;
            y = ny;
        }
        if (c->label) {
            /* bottom left: a ranked list's curve seldom has low recall at low precision */
            const int ly = PLOT_H - BOTTOM - 8 - (int)(n_series - s) * 14, lx = LEFT + 10;
            imgio_fill_rect(&im, lx, ly + 2, lx + 18, ly + 4, c->rgb);
            imgio_draw_text(&im, lx + 24, ly, c->label, 1, black);
        }
    }
    const int rc = imgio_save_png(path, &im, err, errcap);
    imgio_free(&im);
    return rc;
}
