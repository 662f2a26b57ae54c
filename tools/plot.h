/* plot: line charts as PNG pictures -- precision-recall curves (clssd-eval --plots) and loss
 * curves (clssd-train --plot) -- drawn with tools/image_io's rectangles and 5x7 font, so no
 * plotting library is needed. */
#ifndef CLSSD_TOOLS_PLOT_H
#define CLSSD_TOOLS_PLOT_H

#include <stddef.h>
#include <stdint.h>

typedef struct plot_series {
    const double *x, *y; /* n points; NaN points are skipped */
    size_t n;
    uint8_t rgb[3];
    const char *label; /* legend text, NULL: none */
    int steps;         /* 1: a step function (flat to the next x, then up or down), 0: polyline */
} plot_series;

typedef struct plot_axes {
    double x0, x1, y0, y1; /* data ranges; y0 > 0 with log_y */
    int log_y;             /* logarithmic y axis (loss curves) */
    const char *x_label, *y_label;
    int start_at_x0;       /* begin each series at x0 with its first y (PR curves) */
} plot_axes;

/* Writes a 640x480 PNG: axes with 10 ticks (decades with log_y), the series, the title and
 * a legend. Returns 0, or -1 with the reason in err. */
int plot_png(const char *path, const char *title, const plot_axes *axes,
             const plot_series *series, size_t n_series, char *err, size_t errcap);

/* Precision (y) against recall (x), both [0, 1]. */
int pr_plot_png(const char *path, const char *title, const plot_series *series, size_t n_series,
                char *err, size_t errcap);

#endif
