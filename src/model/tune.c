/* Per-layer choice of convolution algorithm, measured once per device and cached.
 *
 * Which algorithm wins depends on the device and the layer: on PoCL the packed GEMM beats
 * CLBlast on every dense layer, the direct kernel wins on depthwise layers; on a GPU CLBlast
 * is expected to win the dense ones. So every CONV2D node with more than one candidate is
 * timed on the model's own plan (batch 1, after a warm-up run that also builds the kernels)
 * and the fastest kept. Choices are written to <cache_dir>/<key>.convalgo, a text file of
 * "<layer signature> <algorithm> <ms per candidate...>" lines, where the key hashes the device,
 * driver, build options and the conv/gemm kernel sources: any change makes a new file, so a
 * stale choice is never read. The file is replaced atomically (write, then rename), like the
 * program binaries beside it. Without a cache directory, or with CLSSD_CONV_ALGO set, nothing
 * is timed and the device-type default (clssd__conv2d_algo) runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clssd_internal.h"

#define SIG_LEN 128
#define MAX_LINES 4096

typedef struct choice {
    char sig[SIG_LEN];
    int algo;
    char detail[96]; /* the timings, kept for people reading the file */
} choice;

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

static void layer_signature(const clssd_graph *g, const clssd_node *n, char sig[SIG_LEN])
{
    const __typeof__(n->p.conv) *c = &n->p.conv;
    const clssd_shape *x = &g->nodes[n->src[0]].out;
    snprintf(sig, SIG_LEN, "c%d:%dx%d>o%d:k%dx%d:s%dx%d:p%dx%d+%dx%d:d%dx%d:g%d", x->c, x->h,
             x->w, c->cout, c->kh, c->kw, c->sh, c->sw, c->ph, c->pw, c->ph_extra, c->pw_extra,
             c->dh, c->dw, c->groups);
}

static const char *source_sha(const char *stem)
{
    for (size_t i = 0; i < clssd__cl_n_sources; i++)
        if (!strcmp(clssd__cl_sources[i].stem, stem)) return clssd__cl_sources[i].sha256_hex;
    return "";
}

static void choice_path(clssd_context *ctx, char *path, size_t size)
{
    char head[1024], hex[65];
    snprintf(head, sizeof head, "clssd-convalgo-v1\n%s\n%s\n%s", source_sha("conv"),
             source_sha("gemm"), ctx->build_options);
    clssd__device_key(ctx->platform, ctx->device, head, hex);
    snprintf(path, size, "%s/%s.convalgo", ctx->cache_dir, hex);
}

/* Reads the choice file; a line that does not parse is dropped (and so re-measured). */
static int read_choices(const char *path, choice *tab, int cap)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int n = 0;
    char line[512];
    while (n < cap && fgets(line, sizeof line, f)) {
        char sig[SIG_LEN], name[32];
        if (sscanf(line, "%127s %31s", sig, name) != 2) continue;
        int a = clssd__conv2d_algo_from_name(name);
        if (a <= CLSSD_CONV_AUTO) continue;
        memcpy(tab[n].sig, sig, sizeof sig);
        tab[n].algo = a;
        const char *rest = strstr(line, name) + strlen(name);
        while (*rest == ' ') rest++;
        snprintf(tab[n].detail, sizeof tab[n].detail, "%.*s", (int)strcspn(rest, "\n"), rest);
        n++;
    }
    fclose(f);
    return n;
}

static void write_choices(const char *path, const choice *tab, int n)
{
    char tmp[760];
    clssd__tmp_name(tmp, sizeof tmp, path);
    FILE *f = fopen(tmp, "w");
    if (!f) return; /* a read-only cache costs a re-measure next time, nothing else */
    int ok = 1;
    for (int i = 0; i < n && ok; i++)
        ok = fprintf(f, "%s %s %s\n", tab[i].sig, clssd__conv2d_algo_name(tab[i].algo),
                     tab[i].detail) > 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) remove(tmp);
}

/* Best of a few runs of one node, in ms; a candidate far behind the best so far stops early. */
static clssd_status time_node(clssd_exec *ex, const clssd_node *n, double best_so_far,
                              double *ms)
{
    clssd_context *ctx = ex->ctx;
    double best = 1e300;
    for (int r = 0; r < 4; r++) { /* run 0 is the warm-up (kernel builds, first touch) */
        const double t0 = now_ms();
        CLSSD_TRY(clssd__ops[n->op].forward_cl(ex, n));
        CLSSD_CL(ctx, clFinish(ctx->queue));
        const double t = now_ms() - t0;
        if (r == 0) {
            if (t > 4.0 * best_so_far) { /* hopeless even allowing for kernel builds */
                best = t;
                break;
            }
            continue;
        }
        if (t < best) best = t;
        if (best > 2.0 * best_so_far) break; /* clearly behind: no more runs */
    }
    *ms = best;
    return CLSSD_OK;
}

static clssd_status measure(clssd_exec *ex, clssd_node *n, choice *out)
{
    clssd_context *ctx = ex->ctx;
    const int32_t batch = ex->batch;
    ex->batch = 1;
    const int no_fuse = ex->no_fuse;
    ex->no_fuse = 1; /* time this node alone, not with a sibling it may share a pack with */
    /* The input buffer holds whatever the allocator left; zeros keep denormals or NaNs in
     * it from skewing the timings. */
    const clssd_node *src = &ex->g->nodes[n->src[0]];
    const float zero = 0.0f;
    clssd_status s = CLSSD_OK;
    if (!src->batch_const) {
        cl_int e = clEnqueueFillBuffer(ctx->queue, ex->bufs[n->src[0]], &zero, sizeof zero, 0,
                                       clssd__shape_count(&src->out) * sizeof(float), 0, NULL,
                                       NULL);
        if (e != CL_SUCCESS)
            s = CLSSD_FAIL(ctx, (clssd_status)e, "clEnqueueFillBuffer -> %s",
                           clssd__cl_error_name(e));
    }
    double best = 1e300;
    int best_algo = CLSSD_CONV_AUTO;
    clssd_status failed = CLSSD_OK;
    size_t used = 0;
    out->detail[0] = '\0';
    /* the device-type default first: it usually wins, and the others then stop early */
    n->algo = CLSSD_CONV_AUTO;
    const int dflt = clssd__conv2d_algo(ctx, ex->g, n);
    for (int i = 0; i < CLSSD_CONV_ALGO_COUNT && s == CLSSD_OK; i++) {
        const int a = i == 0 ? dflt : i == dflt ? 0 : i;
        if (!clssd__conv2d_algo_ok(ex->g, n, a)) continue;
        n->algo = (uint8_t)a;
        double ms = 0;
        s = clssd__conv2d_prepare(ex, n);
        if (s == CLSSD_OK) s = time_node(ex, n, best, &ms);
        if (s != CLSSD_OK) {
            /* A candidate that cannot run here (a kernel this driver does not build, a buffer
             * too large) is no candidate; the layer fails only if none can run. */
            failed = s;
            s = clFinish(ctx->queue) == CL_SUCCESS ? CLSSD_OK : failed;
            continue;
        }
        if (ms < best) {
            best = ms;
            best_algo = a;
        }
        int k = snprintf(out->detail + used, sizeof out->detail - used, "%s%s=%.3fms",
                         used ? " " : "", clssd__conv2d_algo_name(a), ms);
        if (k > 0 && (size_t)k < sizeof out->detail - used) used += (size_t)k;
    }
    ex->batch = batch;
    ex->no_fuse = no_fuse;
    if (s == CLSSD_OK && best_algo == CLSSD_CONV_AUTO) s = failed; /* nothing could run */
    n->algo = (uint8_t)best_algo;
    out->algo = best_algo;
    if (s == CLSSD_OK) s = clssd__conv2d_prepare(ex, n);
    return s;
}

clssd_status clssd__model_tune(clssd_context *ctx, clssd_graph *g, clssd_exec *ex)
{
    const char *forced = getenv("CLSSD_CONV_ALGO");
    if (!ctx->cache_dir[0] || (forced && *forced && strcmp(forced, "auto"))) return CLSSD_OK;
    char path[700];
    choice_path(ctx, path, sizeof path);
    choice *tab = clssd__calloc(MAX_LINES, sizeof *tab);
    if (!tab)
        return CLSSD_FAIL(ctx, CLSSD_ERR_OUT_OF_MEMORY, "conv algorithm table: out of memory");
    int n_tab = read_choices(path, tab, MAX_LINES), n_new = 0;
    clssd_status s = CLSSD_OK;
    for (int32_t i = 0; i < g->n_nodes && s == CLSSD_OK; i++) {
        clssd_node *n = &g->nodes[i];
        if (n->op != CLSSD_OP_CONV2D || n->algo != CLSSD_CONV_AUTO) continue;
        int n_cand = 0;
        for (int a = CLSSD_CONV_AUTO + 1; a < CLSSD_CONV_ALGO_COUNT; a++)
            n_cand += clssd__conv2d_algo_ok(g, n, a);
        if (n_cand < 2) continue;
        char sig[SIG_LEN];
        layer_signature(g, n, sig);
        int found = -1;
        for (int t = 0; t < n_tab && found < 0; t++)
            if (!strcmp(tab[t].sig, sig) && clssd__conv2d_algo_ok(g, n, tab[t].algo)) found = t;
        if (found >= 0) {
            n->algo = (uint8_t)tab[found].algo;
            s = clssd__conv2d_prepare(ex, n);
            ctx->algo_cached++;
            continue;
        }
        choice c;
        memcpy(c.sig, sig, sizeof sig);
        s = measure(ex, n, &c);
        if (s != CLSSD_OK) break;
        ctx->algo_measured++;
        if (n_tab < MAX_LINES) {
            tab[n_tab++] = c;
            n_new++;
        }
    }
    if (s == CLSSD_OK && n_new > 0) write_choices(path, tab, n_tab);
    clssd__free(tab);
    return s;
}
