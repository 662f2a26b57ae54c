/* pr_plot: precision-recall curves as PNG pictures (clssd-eval --plots), drawn with
 * tools/image_io's rectangles and 5x7 font, so no plotting library is needed. */
#ifndef CLSSD_TOOLS_PR_PLOT_H
#define CLSSD_TOOLS_PR_PLOT_H

#include <stddef.h>
#include <stdint.h>

typedef struct pr_series {
    const double *recall, *precision; /* n points, recall on x, precision on y, both [0, 1] */
    size_t n;
    uint8_t rgb[3];
    const char *label; /* legend text, NULL: none */
    int steps;         /* 1: draw as a step function (an interpolated envelope), 0: polyline */
} pr_series;

/* Writes a 640x480 PNG: axes with 0.1 ticks, the series, the title and a legend.
 * Returns 0, or -1 with the reason in err. */
int pr_plot_png(const char *path, const char *title, const pr_series *series, size_t n_series,
                char *err, size_t errcap);

#endif
