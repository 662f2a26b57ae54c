/* plot: line charts on a raster, see plot.h. */
#include "plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image_io.h"

enum { PLOT_W = 640, PLOT_H = 480, LEFT = 64, RIGHT = 24, TOP = 40, BOTTOM = 48 };

static const uint8_t white[3] = {255, 255, 255}, black[3] = {0, 0, 0}, grid[3] = {225, 225, 225};

/* Data -> pixel; y grows downwards in the picture. Values outside the axes are clamped. */
static double frac(double v, double lo, double hi)
{
    const double f = (v - lo) / (hi - lo);
    return f != f ? 0.0 : f < 0.0 ? 0.0 : f > 1.0 ? 1.0 : f;
}
static int px_x(const plot_axes *a, double x)
{
    return LEFT + (int)lround(frac(x, a->x0, a->x1) * (PLOT_W - LEFT - RIGHT - 1));
}
static int px_y(const plot_axes *a, double y)
{
    const double f = a->log_y ? frac(log10(y > 0 ? y : a->y0), log10(a->y0), log10(a->y1))
                              : frac(y, a->y0, a->y1);
    return PLOT_H - BOTTOM - (int)lround(f * (PLOT_H - TOP - BOTTOM - 1));
}

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

static void tick_label(char *t, size_t n, double v)
{
    const double a = fabs(v);
    if (a != 0 && (a >= 1e5 || a < 1e-2))
        snprintf(t, n, "%.0e", v);
    else
        snprintf(t, n, "%.*f", a >= 100 || v == floor(v) ? 0 : a >= 10 ? 1 : 2, v);
}

static void axes(imgio_image *im, const plot_axes *a)
{
    char t[24];
    for (int k = 0; k <= 10; k++) { /* x: ten even steps */
        const double v = a->x0 + (a->x1 - a->x0) * k / 10.0;
        const int x = px_x(a, v);
        imgio_fill_rect(im, x, TOP, x, PLOT_H - BOTTOM, grid);
        tick_label(t, sizeof t, v);
        imgio_draw_text(im, x - imgio_text_width(t, 1) / 2, PLOT_H - BOTTOM + 6, t, 1, black);
    }
    if (a->log_y) { /* y: the decades */
        for (double v = pow(10.0, ceil(log10(a->y0))); v <= a->y1 * 1.0000001; v *= 10.0) {
            const int y = px_y(a, v);
            imgio_fill_rect(im, LEFT, y, PLOT_W - RIGHT - 1, y, grid);
            tick_label(t, sizeof t, v);
            imgio_draw_text(im, LEFT - 6 - imgio_text_width(t, 1), y - 3, t, 1, black);
        }
    } else {
        for (int k = 0; k <= 10; k++) {
            const double v = a->y0 + (a->y1 - a->y0) * k / 10.0;
            const int y = px_y(a, v);
            imgio_fill_rect(im, LEFT, y, PLOT_W - RIGHT - 1, y, grid);
            tick_label(t, sizeof t, v);
            imgio_draw_text(im, LEFT - 6 - imgio_text_width(t, 1), y - 3, t, 1, black);
        }
    }
    imgio_draw_rect(im, LEFT, TOP, PLOT_W - RIGHT - 1, PLOT_H - BOTTOM, 1, black);
    if (a->x_label)
        imgio_draw_text(im, (LEFT + PLOT_W - RIGHT) / 2 - imgio_text_width(a->x_label, 2) / 2,
                        PLOT_H - BOTTOM + 20, a->x_label, 2, black);
    /* the font has no rotation: the y label reads downwards, one letter per row */
    for (size_t i = 0; a->y_label && a->y_label[i]; i++) {
        const char c[2] = {a->y_label[i], 0};
        imgio_draw_text(im, 6, TOP + 60 + (int)i * 12, c, 1, black);
    }
}

int plot_png(const char *path, const char *title, const plot_axes *a, const plot_series *series,
             size_t n_series, char *err, size_t errcap)
{
    if (!(a->x1 > a->x0) || !(a->y1 > a->y0) || (a->log_y && !(a->y0 > 0))) {
        snprintf(err, errcap, "empty or invalid axis range");
        return -1;
    }
    imgio_image im = {malloc((size_t)PLOT_W * PLOT_H * 3), PLOT_W, PLOT_H};
    if (!im.px) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    imgio_fill_rect(&im, 0, 0, PLOT_W - 1, PLOT_H - 1, white);
    axes(&im, a);
    if (title) imgio_draw_text(&im, LEFT, 12, title, 2, black);
    for (size_t s = 0; s < n_series; s++) {
        const plot_series *c = &series[s];
        /* NaN points (for PR curves: 0/0 before the first TP or FP) are skipped */
        size_t i0 = 0;
        while (i0 < c->n && (isnan(c->y[i0]) || isnan(c->x[i0]))) i0++;
        if (i0 == c->n) continue;
        int x = px_x(a, a->start_at_x0 ? a->x0 : c->x[i0]), y = px_y(a, c->y[i0]);
        for (size_t i = i0; i < c->n; i++) {
            if (isnan(c->y[i]) || isnan(c->x[i])) continue;
            const int nx = px_x(a, c->x[i]), ny = px_y(a, c->y[i]);
            if (c->steps) {
                line(&im, x, y, nx, y, c->rgb);
                line(&im, nx, y, nx, ny, c->rgb);
            } else {
                line(&im, x, y, nx, ny, c->rgb);
            }
            x = nx;
            y = ny;
        }
        if (c->label) {
            /* bottom left: a ranked list's PR curve seldom has low recall at low precision,
             * and a falling loss curve leaves that corner empty too */
            const int ly = PLOT_H - BOTTOM - 8 - (int)(n_series - s) * 14, lx = LEFT + 10;
            imgio_fill_rect(&im, lx, ly + 2, lx + 18, ly + 4, c->rgb);
            imgio_draw_text(&im, lx + 24, ly, c->label, 1, black);
        }
    }
    const int rc = imgio_save_png(path, &im, err, errcap);
    imgio_free(&im);
    return rc;
}

int pr_plot_png(const char *path, const char *title, const plot_series *series, size_t n_series,
                char *err, size_t errcap)
{
    const plot_axes a = {0.0, 1.0, 0.0, 1.0, 0, "recall", "precision", 1};
    return plot_png(path, title, &a, series, n_series, err, errcap);
}
