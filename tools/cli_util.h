/* Small helpers shared by the command-line tools (clssd-detect, clssd-eval, ...): the default
 * model, strict number parsing, paths, mkdir -p, timing and JSON output. Header-only (static
 * functions); the tools use the public API and libc only. */
#ifndef CLSSD_CLI_UTIL_H
#define CLSSD_CLI_UTIL_H

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sys/stat.h>

#include "clssd.h"
#include <sys/types.h>

#if defined(__GNUC__)
#define CLI_UNUSED __attribute__((unused))
#else
#define CLI_UNUSED
#endif

#ifndef CLSSD_INSTALLED_MODEL
#define CLSSD_INSTALLED_MODEL ""
#endif
#ifndef CLSSD_SOURCE_MODEL
#define CLSSD_SOURCE_MODEL ""
#endif

/* The default model: $CLSSD_MODEL, else the installed copy, else the one in the source
 * tree this program was built from. */
CLI_UNUSED static const char *default_model(void)
{
    const char *env = getenv("CLSSD_MODEL");
    if (env && *env) return env;
    FILE *f = fopen(CLSSD_INSTALLED_MODEL, "rb");
    if (f) {
        fclose(f);
        return CLSSD_INSTALLED_MODEL;
    }
    return CLSSD_SOURCE_MODEL;
}

CLI_UNUSED static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

CLI_UNUSED static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

CLI_UNUSED static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* Strict integer / float parsing: the whole string must be the number. */
CLI_UNUSED static int parse_int(const char *s, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

CLI_UNUSED static int parse_float(const char *s, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v)) return -1;
    *out = (float)v;
    return 0;
}

CLI_UNUSED static const char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

/* mkdir -p */
CLI_UNUSED static int make_dirs(const char *path)
{
    char *p = xstrdup(path);
    if (!p) return -1;
    int rc = 0;
    for (char *s = p + 1;; s++) {
        const char c = *s;
        if (c == '/' || c == '\0') {
            *s = '\0';
            if (mkdir(p, 0777) != 0 && errno != EEXIST) {
                rc = -1;
                break;
            }
            *s = c;
            if (!c) break;
        }
    }
    struct stat st;
    if (rc == 0 && (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))) {
        if (errno == 0) errno = ENOTDIR;
        rc = -1;
    }
    free(p);
    return rc;
}

/* Length of the valid UTF-8 sequence at p (RFC 3629: no overlongs, no surrogates,
 * <= U+10FFFF), or 0 if it is not one. */
CLI_UNUSED static size_t utf8_len(const unsigned char *p)
{
    const unsigned c = p[0];
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        const unsigned lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        return p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        const unsigned lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        return p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 && (p[3] & 0xC0) == 0x80 ? 4
                                                                                            : 0;
    }
    return 0;
}

/* A JSON string: quotes, backslashes and control characters escaped, valid UTF-8 passed
 * through, invalid bytes replaced by U+FFFD (the document stays valid JSON). NULL: null. */
CLI_UNUSED static void json_str(FILE *f, const char *s)
{
    if (!s) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        const unsigned c = *p;
        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc((int)c, f);
            p++;
        } else if (c < 0x20) {
            switch (c) {
            case '\b': fputs("\\b", f); break;
            case '\f': fputs("\\f", f); break;
            case '\n': fputs("\\n", f); break;
            case '\r': fputs("\\r", f); break;
            case '\t': fputs("\\t", f); break;
            default: fprintf(f, "\\u%04x", c); break;
            }
            p++;
        } else {
            const size_t n = utf8_len(p);
            if (n) {
                fwrite(p, 1, n, f);
                p += n;
            } else {
                fputs("\\ufffd", f);
                p++;
            }
        }
    }
    fputc('"', f);
}

/* A number with fixed decimals; JSON has no NaN/Inf, those become null. */
CLI_UNUSED static void json_num(FILE *f, float v, int decimals)
{
    if (!isfinite(v))
        fputs("null", f);
    else
        fprintf(f, "%.*f", decimals, (double)v + 0.0); /* + 0.0: no "-0.0" */
}

/* --list-devices: one line per OpenCL device; 0, or 2 when there is none. */
CLI_UNUSED static int cli_list_devices(const char *prog)
{
    clssd_device_info d[32];
    size_t n = 0;
    clssd_status s = clssd_device_list(d, 32, &n);
    if (s != CLSSD_OK && s != CLSSD_ERR_BUFFER_TOO_SMALL) {
        fprintf(stderr, "%s: no OpenCL devices: %s\n", prog, clssd_status_string(s));
        return 2;
    }
    for (size_t k = 0; k < n && k < 32; k++)
        printf("%d:%d  %s / %s / %s%s\n", d[k].platform, d[k].device, d[k].platform_name,
               d[k].device_name, d[k].driver_version, d[k].is_gpu ? " (GPU)" : "");
    return 0;
}

/* A context on --device P:D (platform -1: the library's choice); on failure a message that
 * says what to do, and the status. */
CLI_UNUSED static clssd_status cli_context_create(const char *prog, int platform, int device,
                                                  clssd_context **ctx)
{
    clssd_context_params cp;
    clssd_context_params_init(&cp);
    cp.platform = platform;
    cp.device = device;
    const clssd_status s = clssd_context_create(&cp, ctx);
    if (s == CLSSD_ERR_NO_DEVICE && platform >= 0)
        fprintf(stderr, "%s: no OpenCL device %d:%d (--list-devices shows them)\n", prog,
                platform, device);
    else if (s == CLSSD_ERR_NO_DEVICE)
        fprintf(stderr,
                "%s: no OpenCL device found (is an OpenCL driver such as PoCL installed? "
                "CLSSD_DEVICE=%s)\n",
                prog, getenv("CLSSD_DEVICE") ? getenv("CLSSD_DEVICE") : "unset");
    else if (s != CLSSD_OK)
        fprintf(stderr, "%s: cannot create an OpenCL context: %s\n", prog, clssd_status_string(s));
    return s;
}

#endif /* CLSSD_CLI_UTIL_H */
