/* libFuzzer harness: image decoding as clssd-detect does it (tools/image_io.c, stb_image
 * restricted to JPEG and PNG), then drawing a labelled box on the result as --draw does. */
#include <stdint.h>

#include "image_io.h"

/* imgio_load_mem takes up to IMGIO_MAX_PIXELS (64 Mpixel); a header claiming that many with a
 * few bytes of data makes stb decode zeros for seconds, and even 1 Mpixel holds the fuzzer
 * near 300 executions a second. It checks the same code with a 64 Kpixel limit (256x256, near
 * the detector's 300x300 input) so that each input stays fast; the limit test is the same
 * comparison whatever the limit. */
#define FUZZ_IMAGE_MAX_PIXELS ((size_t)1 << 16)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256] = "";
    imgio_image im;
    if (imgio_load_mem_max(data, size, FUZZ_IMAGE_MAX_PIXELS, &im, err, sizeof err) != 0) {
        if (err[0] == '\0' || im.px) __builtin_trap(); /* a failure says why, holds nothing */
        return 0;
    }
    if (!im.px || im.w <= 0 || im.h <= 0 || (size_t)im.w * (size_t)im.h > FUZZ_IMAGE_MAX_PIXELS)
        __builtin_trap();
    /* touch the corners: the buffer must hold w*h RGB pixels */
    const size_t last = ((size_t)im.w * (size_t)im.h - 1) * 3;
    volatile uint8_t sink = (uint8_t)(im.px[0] ^ im.px[last + 2]);
    (void)sink;
    /* a box and a label where the input's last bytes say, partly outside the image at times */
    const uint8_t col[3] = {255, 0, 0};
    const int x0 = size > 1 ? (int)data[size - 1] - 64 : 0,
              y0 = size > 2 ? (int)data[size - 2] - 64 : 0;
    imgio_draw_rect(&im, x0, y0, x0 + im.w / 2, y0 + im.h / 2, 2, col);
    imgio_draw_text(&im, x0, y0 - imgio_text_height(1), "dog 0.97", 1, col);
    imgio_free(&im);
    return 0;
}
