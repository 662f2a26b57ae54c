/* Tests of the .clssd model file (src/model/clssd_file.c, docs/clssd-format.md).
 *
 * Crafted files are produced by a second, independent writer in this file that follows
 * the spec (layout, CRC-32) rather than the library's code, so the tests also check that
 * the document is enough to implement the format. Every corruption test asserts the
 * status, that the graph was left empty, and that the message names the problem.
 *
 * For leak checking run:  CK_FORK=no valgrind --leak-check=full ./test_file */
#include <check.h>
#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clssd_internal.h"

/* ---------------------------------------------------------------- helpers */
static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Bitwise CRC-32 (zlib polynomial), deliberately not the library's table version. */
static uint32_t crc32_ref(const unsigned char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c & 1u) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
    }
    return ~c;
}

/* Recomputes both CRCs so a deliberate corruption reaches the checks behind them. */
static void restamp(unsigned char *buf, size_t size)
{
    if (size < 72) return;
    put32(buf + 64, crc32_ref(buf + 72, size - 72));
    put32(buf + 68, 0);
    put32(buf + 68, crc32_ref(buf, 72));
}

static uint64_t rng_state = 88172645463325252ull;
static uint64_t rnd(void) /* xorshift64: deterministic across runs */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static float bits_to_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static char *temp_path(void)
{
    char *p = malloc(64);
    ck_assert_ptr_nonnull(p);
    snprintf(p, 64, "/tmp/clssd_test_file_XXXXXX");
    int fd = mkstemp(p);
    ck_assert_int_ge(fd, 0);
    close(fd);
    return p;
}

static unsigned char *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return buf;
}

static void write_all(const char *path, const unsigned char *buf, size_t size)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(buf, 1, size, f), size);
    ck_assert_int_eq(fclose(f), 0);
}

static int graph_empty(const clssd_graph *g)
{
    return g->n_nodes == 0 && g->n_tensors == 0 && g->n_labels == 0 && g->nodes == NULL &&
           g->tensors == NULL && g->labels == NULL && g->input == -1 && g->output == -1;
}

/* ---------------------------------------------------------------- a graph with every op */
static int32_t add(clssd_graph *g, const char *name, clssd_op op, const clssd_op_params *p,
                   int32_t n_src, ...)
{
    int32_t src[CLSSD_MAX_SRC];
    va_list ap;
    va_start(ap, n_src);
    for (int32_t i = 0; i < n_src; i++)
        src[i] = va_arg(ap, int32_t);
    va_end(ap);
    int32_t idx = clssd__graph_add(g, name, op, p, src, n_src);
    ck_assert_int_ge(idx, 0);
    return idx;
}

static int32_t tensor(clssd_graph *g, const char *name, int32_t n, int32_t c, int32_t h, int32_t w)
{
    clssd_shape s = {n, c, h, w};
    int32_t idx = clssd__graph_add_tensor(g, name, s);
    ck_assert_int_ge(idx, 0);
    clssd_tensor *t = &g->tensors[idx];
    size_t count = clssd__shape_count(&s);
    for (size_t i = 0; i < count; i++)
        t->data[i] = bits_to_float((uint32_t)rnd()); /* any bits, NaN payloads included */
    /* Values that text or a careless float path would not preserve. */
    static const uint32_t special[] = {0x80000000u, 0x7fc12345u, 0xffbadbadu, 0x7f800000u,
                                       0xff800000u, 0x00000001u, 0x807fffffu, 0x3f800000u};
    for (size_t i = 0; i < count && i < sizeof special / sizeof special[0]; i++)
        memcpy(&t->data[i], &special[i], 4);
    return idx;
}

static char *dupstr(const char *s)
{
    char *d = clssd__malloc(strlen(s) + 1);
    ck_assert_ptr_nonnull(d);
    strcpy(d, s);
    return d;
}

static void build_graph(clssd_graph *g)
{
    clssd_op_params p;
    clssd__graph_init(g);
    snprintf(g->name, sizeof g->name, "tiny net %%=, ü");

    static const char *const labels[] = {"background",   "dining table",  "", "100%,=x", "日本語",
                                         "bad\xff utf8", "new\nline\ttab"};
    int32_t nl = (int32_t)(sizeof labels / sizeof labels[0]);
    g->labels = clssd__malloc((size_t)nl * sizeof *g->labels);
    ck_assert_ptr_nonnull(g->labels);
    for (int32_t i = 0; i < nl; i++) {
        g->labels[i] = dupstr(labels[i]);
        g->n_labels = i + 1;
    }

    memset(&g->pre, 0, sizeof g->pre);
    g->pre.pre.out_w = 300;
    g->pre.pre.out_h = 301;
    g->pre.pre.mean[0] = 104.f;
    g->pre.pre.mean[1] = 116.779f;
    g->pre.pre.mean[2] = -0.0f;
    g->pre.pre.scale = 1.f / 255.f;
    g->pre.pre.bgr = 1;
    g->pre.pre.resize = CLSSD_RESIZE_TF_LEGACY;

    int32_t w1 = tensor(g, "conv 1.weight", 4, 3, 3, 3);
    int32_t b1 = tensor(g, "conv1.bias", 4, 1, 1, 1);
    int32_t s1 = tensor(g, "norm,scale=ü", 1, 4, 1, 1);
    int32_t w2 = tensor(g, "head.w", 6, 4, 1, 1);

    memset(&p, 0, sizeof p);
    int32_t in = add(g, "data", CLSSD_OP_INPUT, &p, 0);
    g->nodes[in].out = (clssd_shape){1, 3, 8, 8};

    memset(&p, 0, sizeof p);
    p.conv.cout = 4, p.conv.kh = 3, p.conv.kw = 3, p.conv.sh = 1, p.conv.sw = 2;
    p.conv.ph = 1, p.conv.pw = 0, p.conv.dh = 2, p.conv.dw = 1, p.conv.groups = 1;
    p.conv.relu = 1, p.conv.ph_extra = 1, p.conv.pw_extra = 2, p.conv.relu_max = 6.f;
    int32_t c1 = add(g, "conv 1%=,x", CLSSD_OP_CONV2D, &p, 1, in);
    g->nodes[c1].weight = w1;
    g->nodes[c1].bias = b1;

    memset(&p, 0, sizeof p);
    p.relu.negative_slope = -0.0f, p.relu.max = 0.1f;
    int32_t r1 = add(g, "relu\t1", CLSSD_OP_RELU, &p, 1, c1);

    memset(&p, 0, sizeof p);
    p.pool.method = CLSSD_POOL_AVE, p.pool.kh = 3, p.pool.kw = 2, p.pool.sh = 2;
    p.pool.sw = 1, p.pool.ph = 1, p.pool.pw = 0;
    int32_t pl = add(g, "pool", CLSSD_OP_POOL, &p, 1, r1);

    memset(&p, 0, sizeof p);
    p.pool.method = CLSSD_POOL_MAX, p.pool.global = 1;
    int32_t gp = add(g, "gpool", CLSSD_OP_POOL, &p, 1, pl);

    memset(&p, 0, sizeof p);
    p.l2norm.eps = 1e-40f; /* subnormal */
    p.l2norm.across_spatial = 0, p.l2norm.channel_shared = 1;
    int32_t nm = add(g, "ünï", CLSSD_OP_L2NORM, &p, 1, r1);
    g->nodes[nm].weight = s1;

    memset(&p, 0, sizeof p);
    int32_t pm = add(g, "perm", CLSSD_OP_PERMUTE, &p, 1, nm);

    memset(&p, 0, sizeof p);
    p.concat.axis = 1;
    int32_t cc = add(g, "cat", CLSSD_OP_CONCAT, &p, 3, pm, gp, pl);

    memset(&p, 0, sizeof p);
    p.softmax.group = 3;
    int32_t sm = add(g, "soft", CLSSD_OP_SOFTMAX, &p, 1, cc);
    g->nodes[sm].weight = w2; /* any op may name tensors; checking that is infer's job */

    memset(&p, 0, sizeof p);
    p.prior.min_size[0] = 30.f, p.prior.min_size[1] = 60.5f, p.prior.n_min = 2;
    p.prior.max_size[0] = 60.f, p.prior.max_size[1] = 111.f, p.prior.n_max = 2;
    p.prior.ar[0] = 2.f, p.prior.ar[1] = 3.f, p.prior.ar[2] = 0.333333343f, p.prior.n_ar = 3;
    p.prior.var[0] = 0.1f, p.prior.var[1] = 0.1f, p.prior.var[2] = 0.2f, p.prior.var[3] = 0.2f;
    p.prior.n_var = 4;
    p.prior.step_w = 8.f, p.prior.step_h = 16.f, p.prior.offset = 0.5f;
    p.prior.img_w = 300, p.prior.img_h = 0, p.prior.flip = 1, p.prior.clip = 0;
    int32_t pb1 = add(g, "prior1", CLSSD_OP_PRIORBOX, &p, 2, nm, in);

    memset(&p, 0, sizeof p); /* empty max_size and ar lists, one variance */
    p.prior.min_size[0] = FLT_MAX, p.prior.n_min = 1;
    p.prior.var[0] = 0.1f, p.prior.n_var = 1;
    p.prior.offset = 0.5f, p.prior.clip = 1;
    int32_t pb2 = add(g, "prior2", CLSSD_OP_PRIORBOX, &p, 2, pl, in);

    memset(&p, 0, sizeof p);
    p.concat.axis = 2;
    int32_t pc = add(g, "priors", CLSSD_OP_CONCAT, &p, 2, pb1, pb2);

    memset(&p, 0, sizeof p);
    int32_t dc = add(g, "decode", CLSSD_OP_DECODE, &p, 2, cc, pc);

    memset(&p, 0, sizeof p);
    p.nms.n_classes = 7, p.nms.background = 0, p.nms.top_k = 400, p.nms.keep_top_k = -1;
    p.nms.conf_thresh = -INFINITY, p.nms.nms_thresh = 0.45f;
    int32_t ns = add(g, "detection_out", CLSSD_OP_NMS, &p, 2, dc, sm);

    memset(&p, 0, sizeof p);
    p.pre.out_w = 8, p.pre.out_h = 8, p.pre.mean[0] = 1e30f, p.pre.mean[1] = -2.5e-8f;
    p.pre.mean[2] = 3.f, p.pre.scale = 0.017f, p.pre.bgr = 0;
    p.pre.resize = CLSSD_RESIZE_TF_LEGACY;
    add(g, "pre", CLSSD_OP_PREPROCESS, &p, 0);

    memset(&p, 0, sizeof p);
    add(g, "sig", CLSSD_OP_SIGMOID, &p, 1, sm);

    int32_t ta = tensor(g, "anchors", 1, 2, 40, 1);
    memset(&p, 0, sizeof p);
    int32_t an = add(g, "anchors", CLSSD_OP_CONST, &p, 0);
    g->nodes[an].weight = ta;

    g->input = in;
    g->output = ns;
}

static void assert_graph_equal(const clssd_graph *a, const clssd_graph *b)
{
    ck_assert_str_eq(a->name, b->name);
    ck_assert_int_eq(a->n_labels, b->n_labels);
    for (int32_t i = 0; i < a->n_labels; i++)
        ck_assert_str_eq(a->labels[i], b->labels[i]);
    ck_assert_int_eq(memcmp(&a->pre, &b->pre, sizeof a->pre), 0);
    ck_assert_int_eq(a->input, b->input);
    ck_assert_int_eq(a->output, b->output);
    ck_assert_int_eq(a->n_nodes, b->n_nodes);
    for (int32_t i = 0; i < a->n_nodes; i++) {
        const clssd_node *x = &a->nodes[i], *y = &b->nodes[i];
        ck_assert_str_eq(x->name, y->name);
        ck_assert_int_eq(x->op, y->op);
        ck_assert_int_eq(x->n_src, y->n_src);
        for (int32_t k = 0; k < x->n_src; k++)
            ck_assert_int_eq(x->src[k], y->src[k]);
        ck_assert_int_eq(x->weight, y->weight);
        ck_assert_int_eq(x->bias, y->bias);
        ck_assert_msg(memcmp(&x->p, &y->p, sizeof x->p) == 0, "node '%s': params differ", x->name);
        ck_assert_int_eq(memcmp(&x->out, &y->out, sizeof x->out), 0);
        ck_assert_int_eq(x->batch_const, y->batch_const);
    }
    ck_assert_int_eq(a->n_tensors, b->n_tensors);
    for (int32_t i = 0; i < a->n_tensors; i++) {
        const clssd_tensor *x = &a->tensors[i], *y = &b->tensors[i];
        ck_assert_str_eq(x->name, y->name);
        ck_assert_int_eq(memcmp(&x->shape, &y->shape, sizeof x->shape), 0);
        ck_assert_msg(memcmp(x->data, y->data, clssd__shape_count(&x->shape) * 4) == 0,
                      "tensor '%s': data differs", x->name);
    }
}

/* ---------------------------------------------------------------- an independent writer */
typedef struct spec_tensor {
    char name[64]; /* raw bytes, written as they are */
    uint32_t dims[4];
} spec_tensor;

/* Lays out a file exactly as docs/clssd-format.md describes: header, graph text at 72,
 * table at the next multiple of 8, data at the next multiple of 64, each tensor
 * 64-byte aligned. Data is a counter pattern. */
static unsigned char *spec_file(const char *text, const spec_tensor *ts, int n, size_t *size)
{
    size_t tlen = strlen(text);
    uint64_t table = (72 + tlen + 7) / 8 * 8;
    uint64_t data = (table + 104u * (uint64_t)n + 63) / 64 * 64, off = 0;
    uint64_t offs[16], sizes[16];
    ck_assert_int_le(n, 16);
    for (int i = 0; i < n; i++) {
        offs[i] = (off + 63) / 64 * 64;
        sizes[i] = 4ull * ts[i].dims[0] * ts[i].dims[1] * ts[i].dims[2] * ts[i].dims[3];
        ck_assert_msg(sizes[i] < (1u << 20), "keep test tensors small");
        off = offs[i] + sizes[i];
    }
    *size = (size_t)(data + off);
    unsigned char *buf = calloc(1, *size);
    ck_assert_ptr_nonnull(buf);
    memcpy(buf, "CLSSDMDL", 8);
    put32(buf + 8, 1);
    put32(buf + 12, 72);
    put64(buf + 16, 72);
    put64(buf + 24, tlen);
    put64(buf + 32, table);
    put32(buf + 40, (uint32_t)n);
    put64(buf + 48, data);
    put64(buf + 56, off);
    memcpy(buf + 72, text, tlen);
    for (int i = 0; i < n; i++) {
        unsigned char *e = buf + table + 104u * (uint64_t)i;
        memcpy(e, ts[i].name, 64);
        put32(e + 64, 4);
        for (int k = 0; k < 4; k++)
            put32(e + 68 + 4 * k, ts[i].dims[k]);
        put32(e + 84, 0);
        put64(e + 88, offs[i]);
        put64(e + 96, sizes[i]);
        for (uint64_t k = 0; k < sizes[i] / 4; k++) {
            float f = (float)k + 0.5f * (float)i;
            uint32_t u;
            memcpy(&u, &f, 4);
            put32(buf + data + offs[i] + 4 * k, u);
        }
    }
    restamp(buf, *size);
    return buf;
}

static const char BASE_TEXT[] =
    "clssd-graph 1\n"
    "name tiny\n"
    "# comments and blank lines are allowed\n"
    "\n"
    "label background\n"
    "label cat\n"
    "preprocess out_w=4 out_h=4 mean=1,2.5,3 scale=1 bgr=1 resize=0\n"
    "input data\n"
    "output conv\n"
    "node data input c=1 h=4 w=4\n"
    "node conv conv2d src=data weight=w bias=b cout=2 kh=1 kw=1 sh=1 sw=1 ph=0 pw=0 dh=1 dw=1 "
    "groups=1 relu=0 ph_extra=0 pw_extra=0 relu_max=0\n";

static spec_tensor BASE_TENSORS[2] = {{"w", {2, 1, 1, 1}}, {"b", {2, 1, 1, 1}}};

static unsigned char *base_file(size_t *size)
{
    return spec_file(BASE_TEXT, BASE_TENSORS, 2, size);
}

/* The base text with the first `from` replaced by `to`. */
static unsigned char *base_with(const char *from, const char *to, size_t *size)
{
    const char *at = strstr(BASE_TEXT, from);
    ck_assert_msg(at != NULL, "'%s' not in the base text", from);
    size_t n = strlen(BASE_TEXT) - strlen(from) + strlen(to) + 1;
    char *text = malloc(n);
    ck_assert_ptr_nonnull(text);
    snprintf(text, n, "%.*s%s%s", (int)(at - BASE_TEXT), BASE_TEXT, to, at + strlen(from));
    unsigned char *buf = spec_file(text, BASE_TENSORS, 2, size);
    free(text);
    return buf;
}

static uint64_t table_entry(const unsigned char *buf, int i)
{
    return get64(buf + 32) + 104u * (uint64_t)i;
}

/* Loads buf from memory and from a file; both must fail with `want` and a message
 * containing `needle`, leaving the graph empty. */
static void expect_reject(const unsigned char *buf, size_t size, clssd_status want,
                          const char *needle)
{
    clssd_graph g;
    char err[1024];
    clssd__graph_init(&g);
    clssd_status s = clssd__file_load_mem(buf, size, &g, err, sizeof err);
    ck_assert_msg(s == want, "status %d, want %d (%s)", (int)s, (int)want, err);
    ck_assert_msg(graph_empty(&g), "graph not left empty");
    ck_assert_msg(strstr(err, needle) != NULL, "message '%s' lacks '%s'", err, needle);
    ck_assert_msg(strncmp(err, "<memory>: ", 10) == 0, "message '%s' lacks the source", err);

    char *path = temp_path();
    write_all(path, buf, size);
    s = clssd__file_load(path, &g, err, sizeof err);
    ck_assert_msg(s == want, "file: status %d, want %d (%s)", (int)s, (int)want, err);
    ck_assert_msg(graph_empty(&g), "file: graph not left empty");
    ck_assert_msg(strstr(err, needle) != NULL, "file: message '%s' lacks '%s'", err, needle);
    ck_assert_msg(strncmp(err, path, strlen(path)) == 0, "message '%s' lacks the path", err);
    unlink(path);
    free(path);
}

static void expect_reject_free(unsigned char *buf, size_t size, const char *needle)
{
    expect_reject(buf, size, CLSSD_ERR_BAD_MODEL, needle);
    free(buf);
}

/* `make` fills the caller's `size`; a separate statement orders that before the read. */
#define REJECT(make, needle)                                                                       \
    do {                                                                                           \
        unsigned char *made_ = (make);                                                             \
        expect_reject_free(made_, size, (needle));                                                 \
    } while (0)

/* ---------------------------------------------------------------- round trips */
START_TEST(test_roundtrip)
{
    clssd_graph a, b, c;
    char err[512];
    build_graph(&a);
    char *p1 = temp_path(), *p2 = temp_path();
    ck_assert_int_eq(clssd__file_save(&a, p1, err, sizeof err), CLSSD_OK);
    ck_assert_str_eq(err, "");

    clssd__graph_init(&b);
    ck_assert_msg(clssd__file_load(p1, &b, err, sizeof err) == CLSSD_OK, "%s", err);
    assert_graph_equal(&a, &b);

    size_t size;
    unsigned char *bytes = read_all(p1, &size);
    clssd__graph_init(&c);
    ck_assert_msg(clssd__file_load_mem(bytes, size, &c, err, sizeof err) == CLSSD_OK, "%s", err);
    assert_graph_equal(&a, &c);

    /* The writer is deterministic: saving what was loaded gives the same bytes. */
    ck_assert_int_eq(clssd__file_save(&b, p2, err, sizeof err), CLSSD_OK);
    size_t size2;
    unsigned char *bytes2 = read_all(p2, &size2);
    ck_assert_uint_eq(size, size2);
    ck_assert_int_eq(memcmp(bytes, bytes2, size), 0);

    /* Saving over an existing file replaces it and leaves no temporary behind. */
    ck_assert_int_eq(clssd__file_save(&c, p2, err, sizeof err), CLSSD_OK);
    char tmp[96];
    snprintf(tmp, sizeof tmp, "%s.tmp", p2);
    ck_assert_int_ne(access(tmp, F_OK), 0);

    free(bytes);
    free(bytes2);
    unlink(p1);
    unlink(p2);
    free(p1);
    free(p2);
    clssd__graph_free(&a);
    clssd__graph_free(&b);
    clssd__graph_free(&c);
}
END_TEST

START_TEST(test_roundtrip_empty)
{
    clssd_graph a, b;
    char err[512];
    clssd__graph_init(&a);
    char *p = temp_path();
    ck_assert_int_eq(clssd__file_save(&a, p, err, sizeof err), CLSSD_OK);
    clssd__graph_init(&b);
    ck_assert_msg(clssd__file_load(p, &b, err, sizeof err) == CLSSD_OK, "%s", err);
    assert_graph_equal(&a, &b);
    ck_assert(graph_empty(&b));
    unlink(p);
    free(p);
    clssd__graph_free(&b);
}
END_TEST

/* The independent writer's file loads and means what the spec says it means. */
START_TEST(test_spec_file_loads)
{
    size_t size;
    unsigned char *buf = base_file(&size);
    clssd_graph g;
    char err[512];
    clssd__graph_init(&g);
    ck_assert_msg(clssd__file_load_mem(buf, size, &g, err, sizeof err) == CLSSD_OK, "%s", err);
    ck_assert_str_eq(g.name, "tiny");
    ck_assert_int_eq(g.n_labels, 2);
    ck_assert_str_eq(g.labels[1], "cat");
    ck_assert_int_eq(g.pre.pre.out_w, 4);
    ck_assert(g.pre.pre.mean[1] == 2.5f);
    ck_assert_int_eq(g.pre.pre.bgr, 1);
    ck_assert_int_eq(g.n_nodes, 2);
    ck_assert_int_eq(g.input, 0);
    ck_assert_int_eq(g.output, 1);
    ck_assert_int_eq(g.nodes[0].op, CLSSD_OP_INPUT);
    ck_assert_int_eq(g.nodes[0].out.n, 1);
    ck_assert_int_eq(g.nodes[0].out.c, 1);
    ck_assert_int_eq(g.nodes[0].out.h, 4);
    ck_assert_int_eq(g.nodes[1].op, CLSSD_OP_CONV2D);
    ck_assert_int_eq(g.nodes[1].n_src, 1);
    ck_assert_int_eq(g.nodes[1].src[0], 0);
    ck_assert_int_eq(g.nodes[1].weight, 0);
    ck_assert_int_eq(g.nodes[1].bias, 1);
    ck_assert_int_eq(g.nodes[1].p.conv.cout, 2);
    ck_assert_int_eq(g.nodes[1].p.conv.groups, 1);
    ck_assert_int_eq(g.n_tensors, 2);
    ck_assert_str_eq(g.tensors[1].name, "b");
    ck_assert(g.tensors[1].data[1] == 1.5f); /* counter pattern: k + 0.5 * i */
    clssd__graph_free(&g);
    free(buf);
}
END_TEST

/* Shapes are checked against the op by graph infer, not by the file loader. */
START_TEST(test_weight_shape_not_checked_here)
{
    spec_tensor ts[2] = {{"w", {7, 7, 7, 7}}, {"b", {1, 1, 1, 1}}};
    size_t size;
    unsigned char *buf = spec_file(BASE_TEXT, ts, 2, &size);
    clssd_graph g;
    char err[512];
    clssd__graph_init(&g);
    ck_assert_msg(clssd__file_load_mem(buf, size, &g, err, sizeof err) == CLSSD_OK, "%s", err);
    ck_assert_int_eq(g.tensors[0].shape.w, 7);
    clssd__graph_free(&g);
    free(buf);
}
END_TEST

/* Every finite float parameter reads back bit-exactly, whatever precision the writer
 * chose for it: random bit patterns (subnormals included) and the edge values. */
START_TEST(test_float_params_exact)
{
    static const float edge[] = {0.f,     -0.f, FLT_MIN, -FLT_MIN, FLT_MAX,    -FLT_MAX, 1e-45f,
                                 -1e-45f, 0.1f, 0.45f,   1.f / 3,  16777217.f, INFINITY, -INFINITY};
    const int n_edge = (int)(sizeof edge / sizeof edge[0]), n = 20000;
    clssd_graph a, b;
    clssd_op_params p;
    char err[512];
    clssd__graph_init(&a);
    memset(&p, 0, sizeof p);
    int32_t prev = add(&a, "x", CLSSD_OP_INPUT, &p, 0);
    a.nodes[prev].out = (clssd_shape){1, 1, 1, 1};
    for (int i = 0; i < n; i++) {
        float v;
        if (i < n_edge) {
            v = edge[i];
        } else {
            do
                v = bits_to_float((uint32_t)rnd());
            while (isnan(v));
        }
        char name[16];
        snprintf(name, sizeof name, "r%d", i);
        memset(&p, 0, sizeof p);
        p.relu.negative_slope = v;
        prev = add(&a, name, CLSSD_OP_RELU, &p, 1, prev);
    }
    char *path = temp_path();
    ck_assert_int_eq(clssd__file_save(&a, path, err, sizeof err), CLSSD_OK);
    clssd__graph_init(&b);
    ck_assert_msg(clssd__file_load(path, &b, err, sizeof err) == CLSSD_OK, "%s", err);
    assert_graph_equal(&a, &b);
    unlink(path);
    free(path);
    clssd__graph_free(&a);
    clssd__graph_free(&b);
}
END_TEST

/* A comma decimal point in the application's locale must not change the file. */
START_TEST(test_locale_independent)
{
    static const char *const locales[] = {"de_DE.UTF-8", "de_DE.utf8",  "fr_FR.UTF-8",
                                          "fr_FR.utf8",  "ru_RU.UTF-8", "nl_NL.UTF-8"};
    const char *got = NULL;
    for (size_t i = 0; i < sizeof locales / sizeof locales[0] && !got; i++)
        got = setlocale(LC_NUMERIC, locales[i]);
    if (!got) return; /* no comma locale installed: nothing to check */
    clssd_graph a, b;
    char err[512];
    build_graph(&a);
    char *p = temp_path();
    ck_assert_int_eq(clssd__file_save(&a, p, err, sizeof err), CLSSD_OK);
    setlocale(LC_NUMERIC, "C");
    clssd__graph_init(&b);
    ck_assert_msg(clssd__file_load(p, &b, err, sizeof err) == CLSSD_OK, "%s", err);
    assert_graph_equal(&a, &b);
    clssd__graph_free(&b);
    setlocale(LC_NUMERIC, got); /* and reading under the comma locale */
    clssd__graph_init(&b);
    ck_assert_msg(clssd__file_load(p, &b, err, sizeof err) == CLSSD_OK, "%s", err);
    setlocale(LC_NUMERIC, "C");
    assert_graph_equal(&a, &b);
    unlink(p);
    free(p);
    clssd__graph_free(&a);
    clssd__graph_free(&b);
}
END_TEST

START_TEST(test_save_rejects_bad_graphs)
{
    clssd_graph g;
    char err[512];
    char *p = temp_path();

    build_graph(&g);
    snprintf(g.tensors[1].name, sizeof g.tensors[1].name, "%s", g.tensors[0].name);
    ck_assert_int_eq(clssd__file_save(&g, p, err, sizeof err), CLSSD_ERR_BAD_MODEL);
    ck_assert_msg(strstr(err, "duplicate tensor name"), "%s", err);
    clssd__graph_free(&g);

    build_graph(&g);
    g.nodes[3].src[0] = 5; /* a later node */
    ck_assert_int_eq(clssd__file_save(&g, p, err, sizeof err), CLSSD_ERR_BAD_MODEL);
    ck_assert_msg(strstr(err, "not an earlier node"), "%s", err);
    clssd__graph_free(&g);

    build_graph(&g);
    g.nodes[3].p.pool.method = 7;
    ck_assert_int_eq(clssd__file_save(&g, p, err, sizeof err), CLSSD_ERR_BAD_MODEL);
    ck_assert_msg(strstr(err, "pool method 7"), "%s", err);
    clssd__graph_free(&g);

    build_graph(&g);
    int32_t pr = clssd__graph_find_node(&g, "prior1");
    g.nodes[pr].p.prior.n_min = 5;
    ck_assert_int_eq(clssd__file_save(&g, p, err, sizeof err), CLSSD_ERR_BAD_MODEL);
    ck_assert_msg(strstr(err, "min_size has 5 entries"), "%s", err);
    clssd__graph_free(&g);

    build_graph(&g);
    memset(g.nodes[2].name, 'x', sizeof g.nodes[2].name); /* not NUL-terminated */
    ck_assert_int_eq(clssd__file_save(&g, p, err, sizeof err), CLSSD_ERR_BAD_MODEL);
    ck_assert_msg(strstr(err, "unterminated name"), "%s", err);
    ck_assert_int_eq(clssd__file_save(&g, "/nonexistent-dir/x.clssd", err, sizeof err),
                     CLSSD_ERR_BAD_MODEL); /* the graph is checked before any I/O */
    clssd__graph_free(&g);

    build_graph(&g);
    ck_assert_int_eq(clssd__file_save(&g, "/nonexistent-dir/x.clssd", err, sizeof err),
                     CLSSD_ERR_IO);
    ck_assert_msg(strstr(err, "/nonexistent-dir/x.clssd"), "%s", err);
    ck_assert_int_eq(clssd__file_save(NULL, p, err, sizeof err), CLSSD_ERR_INVALID_ARG);
    ck_assert_int_eq(clssd__file_save(&g, NULL, NULL, 0), CLSSD_ERR_INVALID_ARG);
    clssd__graph_free(&g);
    unlink(p);
    free(p);
}
END_TEST

/* ---------------------------------------------------------------- rejected files */
START_TEST(test_missing_file)
{
    clssd_graph g;
    char err[512];
    clssd__graph_init(&g);
    ck_assert_int_eq(clssd__file_load("/nonexistent-dir/m.clssd", &g, err, sizeof err),
                     CLSSD_ERR_IO);
    ck_assert_msg(strstr(err, "/nonexistent-dir/m.clssd: cannot open"), "%s", err);
    ck_assert(graph_empty(&g));
    /* A directory opens on POSIX but cannot be read as a file. */
    ck_assert_int_ne(clssd__file_load("/tmp", &g, err, sizeof err), CLSSD_OK);
    ck_assert(graph_empty(&g));
    /* err may be NULL */
    ck_assert_int_eq(clssd__file_load("/nonexistent-dir/m.clssd", &g, NULL, 0), CLSSD_ERR_IO);
}
END_TEST

START_TEST(test_bad_magic)
{
    size_t size;
    unsigned char *buf = base_file(&size);
    buf[3] = 'X';
    expect_reject(buf, size, CLSSD_ERR_BAD_MODEL, "bad magic");
    expect_reject(buf, 5, CLSSD_ERR_BAD_MODEL, "bad magic");
    expect_reject((const unsigned char *)"\x89PNG\r\n\x1a\n", 8, CLSSD_ERR_BAD_MODEL, "bad magic");
    free(buf);
}
END_TEST

START_TEST(test_bad_version)
{
    size_t size;
    unsigned char *buf = base_file(&size);
    put32(buf + 8, 2);
    expect_reject(buf, size, CLSSD_ERR_BAD_MODEL, "unsupported format version 2");
    restamp(buf, size);
    expect_reject(buf, size, CLSSD_ERR_BAD_MODEL, "unsupported format version 2");
    free(buf);
}
END_TEST

START_TEST(test_truncated_header)
{
    size_t size;
    unsigned char *buf = base_file(&size);
    expect_reject(buf, 40, CLSSD_ERR_BAD_MODEL, "truncated header");
    expect_reject(buf, 71, CLSSD_ERR_BAD_MODEL, "truncated header");
    expect_reject(buf, 4, CLSSD_ERR_BAD_MODEL, "truncated header");
    expect_reject(buf, 0, CLSSD_ERR_BAD_MODEL, "truncated header");
    free(buf);
}
END_TEST

START_TEST(test_header_fields)
{
    size_t size;
    unsigned char *buf = base_file(&size);
    put32(buf + 12, 80);
    restamp(buf, size);
    expect_reject(buf, size, CLSSD_ERR_BAD_MODEL, "header size 80");
    free(buf);

    buf = base_file(&size);
    put32(buf + 44, 1);
    restamp(buf, size);
    expect_reject(buf, size, CLSSD_ERR_BAD_MODEL, "reserved header field");
    free(buf);

    buf = base_file(&size);
    put64(buf + 24, 17u << 20); /* graph text over the 16 MiB limit */
    restamp(buf, size);
    expect_reject(buf, size, CLSSD_ERR_BAD_MODEL, "the limit is 16777216");
    free(buf);

    buf = base_file(&size);
    put32(buf + 40, 70000); /* tensor count over the limit */
    restamp(buf, size);
    expect_reject(buf, size, CLSSD_ERR_BAD_MODEL, "70000 tensors");
    free(buf);

    buf = base_file(&size);
    put64(buf + 16, 8); /* graph inside the header */
    restamp(buf, size);
    expect_reject(buf, size, CLSSD_ERR_BAD_MODEL, "overlaps the header");
    free(buf);

    buf = base_file(&size);
    put64(buf + 32, get64(buf + 32) - 16); /* table over the end of the graph text */
    restamp(buf, size);
    expect_reject(buf, size, CLSSD_ERR_BAD_MODEL, "overlaps the graph section");
    free(buf);

    buf = base_file(&size);
    put64(buf + 48, get64(buf + 48) + 8); /* data section not 64-byte aligned */
    restamp(buf, size);
    expect_reject(buf, size, CLSSD_ERR_BAD_MODEL, "not a multiple of 64");
    free(buf);

    buf = base_file(&size);
    put64(buf + 56, UINT64_MAX - 10); /* data size overflowing offset + size */
    restamp(buf, size);
    expect_reject(buf, size, CLSSD_ERR_BAD_MODEL, "data section size");
    free(buf);
}
END_TEST

START_TEST(test_truncated_tensor_data)
{
    size_t size;
    unsigned char *buf = base_file(&size);
    uint64_t data = get64(buf + 48);
    /* Cut inside the second tensor ('b', at data + 64), then inside the first. */
    expect_reject(buf, (size_t)(data + 64 + 4), CLSSD_ERR_BAD_MODEL,
                  "tensor 'b': data extends past end of file");
    expect_reject(buf, (size_t)(data + 3), CLSSD_ERR_BAD_MODEL,
                  "tensor 'w': data extends past end of file");
    /* Cut inside the graph text and inside the table. */
    expect_reject(buf, 100, CLSSD_ERR_BAD_MODEL, "graph section");
    expect_reject(buf, (size_t)get64(buf + 32) + 10, CLSSD_ERR_BAD_MODEL, "tensor table");
    /* A data section declared longer than the file, tensors all present. */
    put64(buf + 56, get64(buf + 56) + 64);
    restamp(buf, size);
    expect_reject(buf, size, CLSSD_ERR_BAD_MODEL, "truncated: the data section ends at");
    free(buf);
}
END_TEST

START_TEST(test_trailing_bytes)
{
    size_t size;
    unsigned char *buf = base_file(&size);
    unsigned char *big = calloc(1, size + 3);
    ck_assert_ptr_nonnull(big);
    memcpy(big, buf, size);
    restamp(big, size + 3);
    expect_reject(big, size + 3, CLSSD_ERR_BAD_MODEL, "3 unexpected bytes after the data");
    free(big);
    free(buf);
}
END_TEST

START_TEST(test_tensor_out_of_file)
{
    size_t size;
    unsigned char *buf = base_file(&size);
    put64(buf + table_entry(buf, 1) + 88, 1ull << 40);
    restamp(buf, size);
    expect_reject_free(buf, size, "tensor 'b': data extends past end of file");

    buf = base_file(&size);
    put64(buf + table_entry(buf, 1) + 88, UINT64_MAX - 63); /* offset + size wraps */
    restamp(buf, size);
    expect_reject_free(buf, size, "tensor 'b': data offset 18446744073709551552");

    buf = base_file(&size);
    put64(buf + table_entry(buf, 1) + 88, 0); /* overlaps 'w' */
    restamp(buf, size);
    expect_reject_free(buf, size, "tensor 'b': data (offset 0) overlaps");

    buf = base_file(&size);
    put64(buf + table_entry(buf, 1) + 88, 32); /* not aligned */
    restamp(buf, size);
    expect_reject_free(buf, size, "tensor 'b': data offset 32 is not a multiple of 64");

    buf = base_file(&size);
    put64(buf + table_entry(buf, 0) + 96, 12); /* byte size disagrees with the dims */
    restamp(buf, size);
    expect_reject_free(buf, size, "tensor 'w': byte size 12 does not match");

    /* Past the data section but inside the file: a data section shorter than declared. */
    buf = base_file(&size);
    put64(buf + 56, get64(buf + 56) - 8);
    restamp(buf, size);
    expect_reject_free(buf, size, "tensor 'b': data extends past the data section");
}
END_TEST

START_TEST(test_tensor_dims)
{
    spec_tensor ts[2] = {{"w", {2, 1, 1, 1}}, {"big", {1, 1, 1, 1}}};
    size_t size;
    unsigned char *buf = spec_file(BASE_TEXT, ts, 2, &size);
    /* 2^31 x 2^31: read as int32 these are negative, and far past 2^24 either way. */
    put32(buf + table_entry(buf, 1) + 68 + 4, 0x80000000u);
    put32(buf + table_entry(buf, 1) + 68 + 8, 0x80000000u);
    restamp(buf, size);
    expect_reject_free(buf, size, "tensor 'big': dim 1 is -2147483648");

    /* Each dim legal, the product overflowing 64 bits. */
    buf = spec_file(BASE_TEXT, ts, 2, &size);
    for (int k = 0; k < 4; k++)
        put32(buf + table_entry(buf, 1) + 68 + 4 * k, 1u << 24);
    restamp(buf, size);
    expect_reject_free(buf, size, "tensor 'big': 16777216x16777216x16777216x16777216");

    buf = spec_file(BASE_TEXT, ts, 2, &size);
    put32(buf + table_entry(buf, 1) + 68 + 12, 0);
    restamp(buf, size);
    expect_reject_free(buf, size, "tensor 'big': dim 3 is 0");

    buf = spec_file(BASE_TEXT, ts, 2, &size);
    put32(buf + table_entry(buf, 1) + 64, 3);
    restamp(buf, size);
    expect_reject_free(buf, size, "tensor 'big': ndim is 3");

    buf = spec_file(BASE_TEXT, ts, 2, &size);
    put32(buf + table_entry(buf, 1) + 84, 1);
    restamp(buf, size);
    expect_reject_free(buf, size, "tensor 'big': unknown dtype 1");
}
END_TEST

START_TEST(test_duplicate_tensor)
{
    spec_tensor ts[3] = {{"w", {2, 1, 1, 1}}, {"b", {2, 1, 1, 1}}, {"w", {1, 1, 1, 1}}};
    size_t size;
    REJECT(spec_file(BASE_TEXT, ts, 3, &size), "duplicate tensor name 'w'");
}
END_TEST

START_TEST(test_tensor_names)
{
    spec_tensor ts[2] = {{"w", {2, 1, 1, 1}}, {"b", {2, 1, 1, 1}}};
    size_t size;
    memset(ts[1].name, 'n', 64); /* no NUL in 64 bytes */
    REJECT(spec_file(BASE_TEXT, ts, 2, &size),
           "tensor 1: name is not NUL-terminated within 64 bytes");

    memset(ts[1].name, 0, 64);
    REJECT(spec_file(BASE_TEXT, ts, 2, &size), "tensor 1: empty name");

    memcpy(ts[1].name, "b\0junk", 6);
    REJECT(spec_file(BASE_TEXT, ts, 2, &size),
           "tensor 'b': bytes after the name's NUL are not zero");
}
END_TEST

START_TEST(test_unknown_op)
{
    size_t size;
    REJECT(base_with("conv conv2d", "conv conv3d", &size),
           "graph line 11: node 'conv': unknown op 'conv3d'");
}
END_TEST

START_TEST(test_source_not_earlier)
{
    size_t size;
    /* itself */
    REJECT(base_with("src=data", "src=conv", &size),
           "node 'conv': source 'conv' is not an earlier node");
    /* a later node */
    static const char text[] = "clssd-graph 1\n"
                               "node a relu src=b negative_slope=0 max=0\n"
                               "node b input c=1 h=1 w=1\n";
    REJECT(spec_file(text, NULL, 0, &size), "node 'a': source 'b' is not an earlier node");
    /* nothing of that name */
    REJECT(base_with("src=data", "src=data,nosuch", &size),
           "node 'conv': source 'nosuch' is not an earlier node");
    REJECT(base_with("src=data", "src=", &size), "node 'conv': source: empty name");
    REJECT(base_with("src=data", "src=data,data,data,data,data,data,data,data,data", &size),
           "more than 8 sources");
}
END_TEST

START_TEST(test_unknown_weight)
{
    size_t size;
    REJECT(base_with("weight=w", "weight=nosuch", &size),
           "node 'conv': weight 'nosuch' is not a tensor in this file");
    REJECT(base_with("bias=b", "bias=w%20", &size),
           "node 'conv': bias 'w ' is not a tensor in this file");
}
END_TEST

START_TEST(test_graph_names)
{
    size_t size;
    char long_name[128];
    memset(long_name, 'a', 64);
    snprintf(long_name + 64, 64, " input c=1 h=1 w=1");
    char line[160];
    snprintf(line, sizeof line, "node %s", long_name);
    REJECT(base_with("node data input c=1 h=4 w=4", line, &size), "name too long");
    REJECT(base_with("name tiny", "name tiny%2", &size), "'%' not followed by two hex digits");
    REJECT(base_with("name tiny", "name ti%00ny", &size), "%00");
    REJECT(base_with("name tiny", "name a=b", &size), "unescaped ',' or '='");
    REJECT(base_with("name tiny", "name two words", &size), "'name' takes exactly one name");
    REJECT(base_with("node conv conv2d", "node data conv2d", &size), "duplicate node name 'data'");
    REJECT(base_with("input data", "input nosuch", &size), "input 'nosuch' is not a node");
    REJECT(base_with("output conv", "output conv\noutput data", &size), "'output' given twice");
}
END_TEST

START_TEST(test_graph_text)
{
    size_t size;
    REJECT(base_with("clssd-graph 1", "clssd-graph 2", &size),
           "graph line 1: unsupported graph text version '2'");
    REJECT(base_with("clssd-graph 1\n", "", &size), "must start with 'clssd-graph 1'");
    REJECT(spec_file("", NULL, 0, &size), "must start with 'clssd-graph 1'");
    REJECT(base_with("name tiny", "nmae tiny", &size), "graph line 2: unknown statement 'nmae'");
    REJECT(base_with("name tiny", "name\ttiny", &size), "graph line 2: control character 0x09");
    REJECT(base_with("name tiny\n", "name tiny\r\n", &size), "control character 0x0d");
    REJECT(base_with("name tiny", "name ti\xc3(ny", &size), "graph line 2: invalid UTF-8");
    REJECT(base_with("name tiny", "name \xed\xa0\x80", &size),
           "invalid UTF-8"); /* a UTF-16 surrogate */
    REJECT(base_with("label cat", "label two cats", &size), "label takes one name");
    /* NUL inside the text */
    unsigned char *buf = base_file(&size);
    buf[72 + 5] = 0;
    restamp(buf, size);
    expect_reject_free(buf, size, "graph text contains a NUL byte at offset 5");
}
END_TEST

START_TEST(test_node_keys)
{
    size_t size;
    REJECT(base_with("relu=0", "relu=0 bogus=1", &size), "node 'conv': unknown key 'bogus'");
    REJECT(base_with("c=1 h=4", "c=1 axis=1 h=4", &size), "node 'data': unknown key 'axis'");
    REJECT(base_with("kh=1 ", "", &size), "node 'conv': missing key 'kh'");
    /* the keys added for TensorFlow models are required like every other */
    REJECT(base_with(" relu_max=0", "", &size), "node 'conv': missing key 'relu_max'");
    REJECT(base_with(" ph_extra=0", "", &size), "node 'conv': missing key 'ph_extra'");
    REJECT(base_with(" resize=0", "", &size), "preprocess: missing key 'resize'");
    REJECT(base_with("ph_extra=0", "ph_extra=0.5", &size), "is not a 32-bit integer");
    REJECT(base_with("kh=1", "kh=1 kh=2", &size), "node 'conv': key 'kh' given twice");
    REJECT(base_with("kh=1", "kh=1x", &size), "kh=1x is not a 32-bit integer");
    REJECT(base_with("kh=1", "kh=2147483648", &size), "is not a 32-bit integer");
    REJECT(base_with("kh=1", "kh=", &size), "is not a 32-bit integer");
    REJECT(base_with("relu=0", "relu=2", &size), "relu=2, must be 0 or 1");
    REJECT(base_with("relu=0", "relu", &size), "expected key=value");
    REJECT(base_with("mean=1,2.5,3", "mean=1,2.5", &size), "mean needs exactly 3 values, has 2");
    REJECT(base_with("mean=1,2.5,3", "mean=1,2.5,3,4", &size), "mean has more than 3 values");
    REJECT(base_with("mean=1,2.5,3", "mean=1,0x2p1,3", &size), "'0x2p1' is not a number");
    REJECT(base_with("mean=1,2.5,3", "mean=1,2.5,", &size), "ends with ','");
    REJECT(base_with("scale=1", "scale=1,5", &size), "scale=1,5 is not a number");
    REJECT(base_with("scale=1", "scale=infinity", &size), "not a number");
    REJECT(base_with("preprocess out_w=4", "preprocess src=x out_w=4", &size),
           "preprocess: unknown key 'src'");
    REJECT(base_with("node data input c=1 h=4 w=4", "node data", &size),
           "node line needs a name and an op");

    /* The float grammar's accepted forms all load. */
    static const char *const ok[] = {
        "scale=-0",  "scale=1e-45",          "scale=.5", "scale=5.", "scale=-inf",
        "scale=nan", "scale=3.40282347e+38", "scale=1E5"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        unsigned char *buf = base_with("scale=1", ok[i], &size);
        clssd_graph g;
        char err[512];
        clssd__graph_init(&g);
        ck_assert_msg(clssd__file_load_mem(buf, size, &g, err, sizeof err) == CLSSD_OK, "%s: %s",
                      ok[i], err);
        clssd__graph_free(&g);
        free(buf);
    }
}
END_TEST

START_TEST(test_bad_crc)
{
    size_t size;
    unsigned char *buf = base_file(&size);
    uint64_t data = get64(buf + 48);
    buf[data + 1] ^= 0x10; /* one bit of tensor data */
    expect_reject(buf, size, CLSSD_ERR_BAD_MODEL, "body CRC mismatch");
    free(buf);

    buf = base_file(&size);
    buf[40] ^= 1; /* n_tensors in the header */
    expect_reject(buf, size, CLSSD_ERR_BAD_MODEL, "header CRC mismatch");
    free(buf);

    /* A corrupted graph text is reported as corruption, with what it broke. */
    buf = base_file(&size);
    buf[72 + strlen("clssd-graph 1\nname tiny\n# comments and blank lines are allowed\n\nl")] = 'x';
    expect_reject(buf, size, CLSSD_ERR_BAD_MODEL, "body CRC mismatch (stored 0x");
    expect_reject(buf, size, CLSSD_ERR_BAD_MODEL,
                  "first problem seen: graph line 5: unknown statement 'lxbel'");
    free(buf);

    buf = base_file(&size);
    put32(buf + 64, 0);
    put32(buf + 68, 0);
    put32(buf + 68, crc32_ref(buf, 72)); /* valid header CRC over a wrong body CRC */
    expect_reject(buf, size, CLSSD_ERR_BAD_MODEL, "body CRC mismatch (stored 0x00000000");
    free(buf);
}
END_TEST

START_TEST(test_invalid_args)
{
    clssd_graph g;
    char err[256];
    size_t size;
    unsigned char *buf = base_file(&size);
    clssd__graph_init(&g);
    ck_assert_int_eq(clssd__file_load_mem(buf, size, &g, err, sizeof err), CLSSD_OK);
    /* Loading into a graph that already holds something is refused, not merged. */
    ck_assert_int_eq(clssd__file_load_mem(buf, size, &g, err, sizeof err), CLSSD_ERR_INVALID_ARG);
    ck_assert_int_eq(g.n_nodes, 2);
    clssd__graph_free(&g);
    ck_assert_int_eq(clssd__file_load_mem(NULL, 10, &g, err, sizeof err), CLSSD_ERR_INVALID_ARG);
    ck_assert_int_eq(clssd__file_load_mem(buf, size, NULL, err, sizeof err), CLSSD_ERR_INVALID_ARG);
    ck_assert_int_eq(clssd__file_load(NULL, &g, NULL, 0), CLSSD_ERR_INVALID_ARG);
    ck_assert_int_eq(clssd__file_load_mem(NULL, 0, &g, err, sizeof err), CLSSD_ERR_BAD_MODEL);
    ck_assert_int_eq(clssd__file_load_mem(buf, size, &g, NULL, 0), CLSSD_OK);
    clssd__graph_free(&g);
    free(buf);
}
END_TEST

/* ---------------------------------------------------------------- robustness */
static void load_any(const unsigned char *buf, size_t size)
{
    clssd_graph g;
    char err[256];
    clssd__graph_init(&g);
    clssd_status s = clssd__file_load_mem(buf, size, &g, err, sizeof err);
    if (s == CLSSD_OK) {
        clssd__graph_free(&g);
    } else {
        ck_assert_msg(s == CLSSD_ERR_BAD_MODEL, "status %d: %s", (int)s, err);
        ck_assert_msg(graph_empty(&g), "graph not left empty after: %s", err);
        ck_assert_msg(err[0] != '\0', "no message");
    }
}

static unsigned char *saved_graph(size_t *size)
{
    clssd_graph g;
    char err[256];
    build_graph(&g);
    char *p = temp_path();
    ck_assert_int_eq(clssd__file_save(&g, p, err, sizeof err), CLSSD_OK);
    unsigned char *buf = read_all(p, size);
    unlink(p);
    free(p);
    clssd__graph_free(&g);
    return buf;
}

START_TEST(test_fuzz_truncate)
{
    size_t size;
    unsigned char *buf = saved_graph(&size);
    for (size_t len = 0; len < size; len++) {
        clssd_graph g;
        char err[256];
        clssd__graph_init(&g);
        clssd_status s = clssd__file_load_mem(buf, len, &g, err, sizeof err);
        ck_assert_msg(s == CLSSD_ERR_BAD_MODEL, "length %zu loaded (status %d)", len, (int)s);
        ck_assert(graph_empty(&g));
    }
    /* The same through the file reader, at a stride. */
    char *p = temp_path();
    for (size_t len = 0; len < size; len += 61) {
        clssd_graph g;
        char err[256];
        clssd__graph_init(&g);
        write_all(p, buf, len);
        ck_assert_int_eq(clssd__file_load(p, &g, err, sizeof err), CLSSD_ERR_BAD_MODEL);
        ck_assert(graph_empty(&g));
    }
    unlink(p);
    free(p);
    free(buf);
}
END_TEST

/* Without re-stamping, any single corrupted byte must be caught (CRC-32 detects every
 * burst of up to 32 bits). */
START_TEST(test_fuzz_flip_detected)
{
    size_t size;
    unsigned char *buf = saved_graph(&size);
    for (int it = 0; it < 3000; it++) {
        size_t pos = (size_t)(rnd() % size);
        unsigned char x = (unsigned char)(1 + rnd() % 255);
        buf[pos] ^= x;
        clssd_graph g;
        char err[256];
        clssd__graph_init(&g);
        clssd_status s = clssd__file_load_mem(buf, size, &g, err, sizeof err);
        ck_assert_msg(s == CLSSD_ERR_BAD_MODEL, "flip at %zu loaded", pos);
        ck_assert(graph_empty(&g));
        buf[pos] ^= x;
    }
    free(buf);
}
END_TEST

/* With CRCs re-stamped the parser itself meets the damage: it may accept or reject, but
 * must not crash or leak. Flips concentrate on the header, text and table. */
START_TEST(test_fuzz_flip_restamped)
{
    size_t size;
    unsigned char *orig = saved_graph(&size);
    unsigned char *buf = malloc(size);
    ck_assert_ptr_nonnull(buf);
    size_t meta = (size_t)get64(orig + 48); /* everything before the data */
    for (int it = 0; it < 6000; it++) {
        memcpy(buf, orig, size);
        int flips = 1 + (int)(rnd() % 4);
        for (int f = 0; f < flips; f++) {
            size_t pos = (size_t)(rnd() % (rnd() % 4 ? meta : size));
            switch (rnd() % 4) {
            case 0:
                buf[pos] ^= (unsigned char)(1u << (rnd() % 8));
                break;
            case 1:
                buf[pos] = (unsigned char)rnd();
                break;
            case 2:
                buf[pos] = "0123456789 =,%-.\nabcz\xff\x80"[rnd() % 24];
                break;
            default:
                buf[pos] = (unsigned char)(rnd() % 2 ? 0x00 : 0xFF);
                break;
            }
        }
        size_t len = rnd() % 8 ? size : (size_t)(rnd() % (size + 1));
        restamp(buf, len);
        load_any(buf, len);
    }
    free(buf);
    free(orig);
}
END_TEST

/* Line-level edits of a valid graph text, rebuilt into a well-formed file. */
START_TEST(test_fuzz_text_edits)
{
    size_t size;
    unsigned char *orig = saved_graph(&size);
    size_t tlen = (size_t)get64(orig + 24);
    char *text = malloc(2 * tlen + 64);
    ck_assert_ptr_nonnull(text);
    for (int it = 0; it < 3000; it++) {
        size_t n = tlen;
        memcpy(text, orig + 72, tlen);
        int edits = 1 + (int)(rnd() % 3);
        for (int e = 0; e < edits && n > 1; e++) {
            size_t a = (size_t)(rnd() % n), b = a + (size_t)(rnd() % 12);
            if (b > n) b = n;
            switch (rnd() % 4) {
            case 0: /* delete a range */
                memmove(text + a, text + b, n - b);
                n -= b - a;
                break;
            case 1: /* duplicate a range (within the buffer's room) */
                if (n + (b - a) < 2 * tlen) {
                    memmove(text + b + (b - a), text + b, n - b);
                    memcpy(text + b, text + a, b - a);
                    n += b - a;
                }
                break;
            case 2: /* overwrite a byte with something syntactic */
                text[a] = "0123456789 =,%-.\n#abz"[rnd() % 21];
                break;
            default: /* swap two bytes */
                if (b < n) {
                    char t = text[a];
                    text[a] = text[b];
                    text[b] = t;
                }
                break;
            }
        }
        text[n] = '\0';
        if (strlen(text) != n) continue; /* a NUL is covered elsewhere; spec_file needs C text */
        /* Rebuild with a data-less file whose tensor table matches the original's names:
         * the original bytes after the text are reused as they are. */
        uint64_t old_table = get64(orig + 32);
        size_t table_bytes = (size_t)(get64(orig + 48) - old_table);
        size_t data_bytes = size - (size_t)get64(orig + 48);
        uint64_t new_table = (72 + n + 7) / 8 * 8;
        uint64_t new_data = (new_table + table_bytes + 63) / 64 * 64;
        size_t total = (size_t)new_data + data_bytes;
        unsigned char *buf = calloc(1, total);
        ck_assert_ptr_nonnull(buf);
        memcpy(buf, orig, 72);
        put64(buf + 24, n);
        put64(buf + 32, new_table);
        put64(buf + 48, new_data);
        memcpy(buf + 72, text, n);
        memcpy(buf + new_table, orig + old_table, table_bytes);
        memcpy(buf + new_data, orig + get64(orig + 48), data_bytes);
        restamp(buf, total);
        load_any(buf, total);
        free(buf);
    }
    free(text);
    free(orig);
}
END_TEST

START_TEST(test_fuzz_garbage)
{
    for (int it = 0; it < 2000; it++) {
        size_t n = (size_t)(rnd() % 600);
        unsigned char *buf = malloc(n + 1);
        ck_assert_ptr_nonnull(buf);
        for (size_t i = 0; i < n; i++)
            buf[i] = (unsigned char)rnd();
        if (n >= 12 && rnd() % 2) { /* get past the magic and version checks */
            memcpy(buf, "CLSSDMDL", 8);
            put32(buf + 8, 1);
            if (n >= 72 && rnd() % 2) {
                put32(buf + 12, 72);
                put32(buf + 44, 0);
                /* plausible, small section offsets */
                put64(buf + 16, 72);
                put64(buf + 24, rnd() % (n - 72 + 1));
                put64(buf + 32, 72 + rnd() % (n - 72 + 1));
                put32(buf + 40, (uint32_t)(rnd() % 4));
                put64(buf + 48, rnd() % (n + 1) / 64 * 64);
                put64(buf + 56, rnd() % (n + 1));
            }
            restamp(buf, n);
        }
        load_any(buf, n);
        free(buf);
    }
}
END_TEST

/* Every allocation the loader and the writer make may fail; each failure must come back
 * as CLSSD_ERR_OUT_OF_MEMORY with nothing leaked (run under valgrind). */
START_TEST(test_alloc_failures)
{
    size_t size;
    unsigned char *buf = saved_graph(&size);
    int saw_oom = 0;
    for (long n = 1; n < 10000; n++) {
        clssd_graph g;
        char err[256];
        clssd__graph_init(&g);
        clssd__alloc_fail_after(n);
        clssd_status s = clssd__file_load_mem(buf, size, &g, err, sizeof err);
        clssd__alloc_fail_after(0);
        if (s == CLSSD_OK) {
            clssd__graph_free(&g);
            break;
        }
        ck_assert_msg(s == CLSSD_ERR_OUT_OF_MEMORY, "n=%ld: status %d (%s)", n, (int)s, err);
        ck_assert(graph_empty(&g));
        saw_oom = 1;
    }
    ck_assert(saw_oom);

    clssd_graph g;
    build_graph(&g);
    char *p = temp_path();
    for (long n = 1; n < 10000; n++) {
        char err[256];
        clssd__alloc_fail_after(n);
        clssd_status s = clssd__file_save(&g, p, err, sizeof err);
        clssd__alloc_fail_after(0);
        if (s == CLSSD_OK) break;
        ck_assert_msg(s == CLSSD_ERR_OUT_OF_MEMORY, "save n=%ld: status %d (%s)", n, (int)s, err);
    }
    unlink(p);
    free(p);
    clssd__graph_free(&g);
    free(buf);
}
END_TEST

/* ---------------------------------------------------------------- main */
static Suite *file_suite(void)
{
    Suite *s = suite_create("clssd_file");
    TCase *tc = tcase_create("format");
    tcase_add_test(tc, test_roundtrip);
    tcase_add_test(tc, test_roundtrip_empty);
    tcase_add_test(tc, test_spec_file_loads);
    tcase_add_test(tc, test_weight_shape_not_checked_here);
    tcase_add_test(tc, test_float_params_exact);
    tcase_add_test(tc, test_locale_independent);
    tcase_add_test(tc, test_save_rejects_bad_graphs);
    tcase_add_test(tc, test_invalid_args);
    suite_add_tcase(s, tc);

    tc = tcase_create("reject");
    tcase_add_test(tc, test_missing_file);
    tcase_add_test(tc, test_bad_magic);
    tcase_add_test(tc, test_bad_version);
    tcase_add_test(tc, test_truncated_header);
    tcase_add_test(tc, test_header_fields);
    tcase_add_test(tc, test_truncated_tensor_data);
    tcase_add_test(tc, test_trailing_bytes);
    tcase_add_test(tc, test_tensor_out_of_file);
    tcase_add_test(tc, test_tensor_dims);
    tcase_add_test(tc, test_duplicate_tensor);
    tcase_add_test(tc, test_tensor_names);
    tcase_add_test(tc, test_unknown_op);
    tcase_add_test(tc, test_source_not_earlier);
    tcase_add_test(tc, test_unknown_weight);
    tcase_add_test(tc, test_graph_names);
    tcase_add_test(tc, test_graph_text);
    tcase_add_test(tc, test_node_keys);
    tcase_add_test(tc, test_bad_crc);
    suite_add_tcase(s, tc);

    tc = tcase_create("robustness");
    tcase_set_timeout(tc, 1200); /* generous: these also run under valgrind */
    tcase_add_test(tc, test_fuzz_truncate);
    tcase_add_test(tc, test_fuzz_flip_detected);
    tcase_add_test(tc, test_fuzz_flip_restamped);
    tcase_add_test(tc, test_fuzz_text_edits);
    tcase_add_test(tc, test_fuzz_garbage);
    tcase_add_test(tc, test_alloc_failures);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(file_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
