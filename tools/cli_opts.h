/* Command-line options with a value, "--opt VALUE" or "--opt=VALUE": one parser for
 * clssd-detect and clssd-bench, so that both accept and refuse the same spellings. */
#ifndef CLSSD_CLI_OPTS_H
#define CLSSD_CLI_OPTS_H

#include <stdio.h>
#include <string.h>

/* argv[*i] against names[0..n): returns the index of the option and sets *value (advancing
 * *i past a separate value), or prints why to stderr under `prog` and returns -1. */
static inline int cli_value_option(int argc, char **argv, int *i, const char *const *names,
                                   int n, const char *prog, const char **value)
{
    const char *a = argv[*i];
    const char *eq = strchr(a, '=');
    const size_t alen = eq ? (size_t)(eq - a) : strlen(a);
    int opt = -1;
    for (int k = 0; k < n; k++)
        if (strlen(names[k]) == alen && !strncmp(a, names[k], alen)) opt = k;
    if (opt < 0) {
        fprintf(stderr, "%s: unknown option '%s' (--help lists them)\n", prog, a);
        return -1;
    }
    const char *v = eq ? eq + 1 : *i + 1 < argc ? argv[++*i] : NULL;
    if (!v) {
        fprintf(stderr, "%s: %s needs a value\n", prog, names[opt]);
        return -1;
    }
    *value = v;
    return opt;
}

#endif
