/* Decodes an image with stb_image (as libclssd's tools and tests do) and writes its packed
 * RGB8 pixels, for tests/tools/gen_tfjs_golden.js:
 *   cc -O2 -o dump_rgb tests/tools/dump_rgb.c -lm && ./dump_rgb samples/dog.jpg dog.rgb */
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    int w, h, n;
    if (argc != 3) return 2;
    unsigned char *p = stbi_load(argv[1], &w, &h, &n, 3);
    if (!p) return 1;
    FILE *f = fopen(argv[2], "wb");
    if (!f || fwrite(p, 1, (size_t)w * (size_t)h * 3, f) != (size_t)w * (size_t)h * 3) return 1;
    fclose(f);
    printf("%d %d\n", w, h);
    return 0;
}
