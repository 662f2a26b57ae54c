/* The .clssd model file (docs/clssd-format.md is the specification this file implements):
 * a fixed 72-byte little-endian header, the graph as line-oriented UTF-8 text, a tensor
 * table, then 64-byte aligned little-endian fp32 data, everything after the header
 * covered by a CRC-32.
 *
 * Loading treats the file as hostile: every count and size is bounded against the
 * file's real length before anything is allocated from it, and all integer arithmetic
 * on file fields is overflow-checked. The body is read strictly in file order, so a
 * model file is streamed once and its tensors go straight into the graph's buffers
 * (no second in-memory copy of a 100 MB model). Any failure frees the graph. */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "clssd_internal.h"

#define FILE_VERSION 1u
#define HDR_SIZE 72u
#define ENTRY_SIZE 104u /* tensor table entry */
#define DATA_ALIGN 64u
#define GRAPH_MAX_BYTES (16u << 20)
#define MAX_TENSORS 65536u
#define MAX_NODES 65536
#define MAX_LABELS 65536
#define MAX_DIM (1 << 24)
#define MAX_TOKENS 64 /* per graph line; the longest legal line (priorbox) has 18 */
#define MSG_SIZE 1024

/* Header field offsets (docs/clssd-format.md, "Header"). */
enum {
    H_MAGIC = 0,
    H_VERSION = 8,
    H_HEADER_SIZE = 12,
    H_GRAPH_OFF = 16,
    H_GRAPH_SIZE = 24,
    H_TABLE_OFF = 32,
    H_N_TENSORS = 40,
    H_RESERVED = 44,
    H_DATA_OFF = 48,
    H_DATA_SIZE = 56,
    H_BODY_CRC = 64,
    H_HEADER_CRC = 68
};
/* Tensor table entry field offsets: the u64 fields sit 8-byte aligned within an entry. */
enum { E_NAME = 0, E_NDIM = 64, E_DIMS = 68, E_DTYPE = 84, E_OFFSET = 88, E_SIZE = 96 };

static const unsigned char MAGIC[8] = {'C', 'L', 'S', 'S', 'D', 'M', 'D', 'L'};

_Static_assert(sizeof(float) == 4, "the file stores IEEE-754 binary32");

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

typedef unsigned long long ull; /* for printing u64 fields with %llu */

/* ---------------------------------------------------------------- bytes, CRC */
static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const unsigned char *p)
{
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

static int host_is_little_endian(void)
{
    const uint32_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* CRC-32 as in zlib/PNG (reflected polynomial 0xEDB88320), slicing-by-8: eight bytes
 * per step, which keeps the check well under the cost of reading a 100 MB model. The
 * tables are built per load/save into caller storage: 2048 steps are nothing next to a
 * model's data, and this avoids a lazily initialised global (a data race). */
typedef struct crc_tables {
    uint32_t t[8][256];
} crc_tables;

static void crc_table_init(crc_tables *ct)
{
    uint32_t(*t)[256] = ct->t;
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        t[0][i] = c;
    }
    for (int k = 1; k < 8; k++)
        for (uint32_t i = 0; i < 256; i++)
            t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xFFu];
}

static uint32_t crc_update(const crc_tables *ct, uint32_t crc, const void *data, size_t n)
{
    const uint32_t(*t)[256] = ct->t;
    const unsigned char *p = data;
    crc = ~crc;
    for (; n >= 8; p += 8, n -= 8) { /* bytes are assembled explicitly: any host order */
        uint32_t a = crc ^ get_u32(p), b = get_u32(p + 4);
        crc = t[7][a & 0xFFu] ^ t[6][(a >> 8) & 0xFFu] ^ t[5][(a >> 16) & 0xFFu] ^ t[4][a >> 24] ^
              t[3][b & 0xFFu] ^ t[2][(b >> 8) & 0xFFu] ^ t[1][(b >> 16) & 0xFFu] ^ t[0][b >> 24];
    }
    for (; n; p++, n--)
        crc = t[0][(crc ^ *p) & 0xFFu] ^ (crc >> 8);
    return ~crc;
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) / a * a; /* callers keep v far below 2^64 */
}

/* ---------------------------------------------------------------- messages */
static clssd_status failf(char *msg, clssd_status s, const char *fmt, ...) PRINTF_LIKE(3, 4);
static clssd_status failf(char *msg, clssd_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, MSG_SIZE, fmt, ap);
    va_end(ap);
    return s;
}

static void report(char *err, size_t err_size, const char *where, const char *msg)
{
    if (err && err_size) snprintf(err, err_size, "%s: %s", where, msg);
}

/* ---------------------------------------------------------------- names */
static int hex_val(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes a %XX-escaped name token into dst (cap bytes including the NUL).
 * Returns NULL or why the token is not a valid name. */
static const char *unescape(const char *s, char *dst, size_t cap, size_t *len_out)
{
    size_t n = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        /* ',' and '=' separate values and keys, so a writer must escape them; taking
         * them raw would make "src=a,b" ambiguous. */
        if (c == ',' || c == '=') return "unescaped ',' or '=' in a name (write %2C or %3D)";
        if (c == '%') {
            int hi = hex_val(s[1]), lo = hi < 0 ? -1 : hex_val(s[2]);
            if (hi < 0 || lo < 0) return "'%' not followed by two hex digits";
            c = (unsigned char)(hi * 16 + lo);
            if (c == 0) return "%00 (a NUL byte) is not allowed in a name";
            s += 2;
        }
        if (n + 1 >= cap) return "name too long";
        dst[n++] = (char)c;
    }
    dst[n] = '\0';
    *len_out = n;
    return NULL;
}

/* ---------------------------------------------------------------- numbers */
static int parse_i32(const char *s, int32_t *out)
{
    int neg = *s == '-';
    int64_t v = 0;
    if (neg) s++;
    if (!*s) return 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return 0;
        v = v * 10 + (*s - '0');
        if (v > 2147483648LL) return 0; /* stops before int64 could overflow */
    }
    if (neg) v = -v;
    if (v > INT32_MAX) return 0;
    *out = (int32_t)v;
    return 1;
}

/* Floats are written with "%.9g" (9 significant digits round-trip every binary32
 * exactly) or as inf / -inf / nan. The grammar is checked here because strtof alone
 * would also take hex floats, "infinity", leading blanks and the locale's decimal
 * comma; the '.' is swapped for the locale's decimal point before strtof so the file
 * reads the same in an application that called setlocale(). */
static int parse_f32(const char *s, float *out)
{
    const char *p = s;
    if (*p == '-') p++;
    if (strcmp(p, "inf") == 0) {
        *out = p == s ? INFINITY : -INFINITY;
        return 1;
    }
    if (strcmp(s, "nan") == 0) {
        *out = NAN;
        return 1;
    }
    int digits = 0;
    while (*p >= '0' && *p <= '9')
        p++, digits++;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9')
            p++, digits++;
    }
    if (!digits) return 0;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') p++;
        if (*p < '0' || *p > '9') return 0;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p) return 0;

    char buf[96];
    const char *dp = localeconv()->decimal_point;
    size_t dp_len = dp && *dp ? strlen(dp) : 1, n = 0;
    if (!dp || !*dp) dp = ".";
    for (p = s; *p; p++) {
        if (n + dp_len + 1 >= sizeof buf) return 0; /* no sane float is this long */
        if (*p == '.') {
            memcpy(buf + n, dp, dp_len);
            n += dp_len;
        } else {
            buf[n++] = *p;
        }
    }
    buf[n] = '\0';
    char *end;
    float v = strtof(buf, &end);
    if (*end) return 0;
    *out = v;
    return 1;
}

/* Formats v so that parse_f32 gives back the same bits (NaN payloads excepted): the
 * shortest of "%.6g" .. "%.9g" that reads back exactly, which keeps the text readable
 * (0.1 rather than 0.100000001); "%.9g" always round-trips a binary32. */
static void format_f32(float v, char out[48])
{
    if (isnan(v)) {
        strcpy(out, "nan");
        return;
    }
    if (isinf(v)) {
        strcpy(out, v < 0 ? "-inf" : "inf");
        return;
    }
    const char *dp = localeconv()->decimal_point;
    size_t dp_len = dp ? strlen(dp) : 0;
    for (int prec = 6; prec <= 9; prec++) {
        char tmp[48];
        size_t n = 0;
        snprintf(tmp, sizeof tmp, "%.*g", prec, (double)v);
        /* Undo a locale decimal point (possibly multi-byte): the file always uses '.'. */
        for (const char *p = tmp; *p;) {
            if (dp_len && strncmp(p, dp, dp_len) == 0) {
                out[n++] = '.';
                p += dp_len;
            } else {
                out[n++] = *p++;
            }
        }
        out[n] = '\0';
        float back;
        if (prec == 9 || (parse_f32(out, &back) && memcmp(&back, &v, sizeof v) == 0)) return;
    }
}

/* ---------------------------------------------------------------- op parameters */
/* Each op's parameters as key=value pairs, described once and used by both the writer
 * and the reader so the two cannot drift apart. Offsets are into clssd_node, which lets
 * INPUT store its declared shape in node.out. */
enum { P_I32, P_F32, P_BOOL, P_METHOD, P_F32S, P_F32FIX };

typedef struct pdesc {
    const char *key;
    int type;
    size_t off;
    size_t count_off; /* P_F32S: int32 element count */
    int32_t cap;      /* P_F32S: capacity; P_F32FIX: exact count */
} pdesc;

#define NO(m) offsetof(clssd_node, m)
#define I32(k, m)                                                                                  \
    {                                                                                              \
        k, P_I32, NO(m), 0, 0                                                                      \
    }
#define F32(k, m)                                                                                  \
    {                                                                                              \
        k, P_F32, NO(m), 0, 0                                                                      \
    }
#define BOOL(k, m)                                                                                 \
    {                                                                                              \
        k, P_BOOL, NO(m), 0, 0                                                                     \
    }

static const pdesc PD_INPUT[] = {I32("c", out.c), I32("h", out.h), I32("w", out.w), {0}};
static const pdesc PD_CONV[] = {
    I32("cout", p.conv.cout),     I32("kh", p.conv.kh),      I32("kw", p.conv.kw),
    I32("sh", p.conv.sh),         I32("sw", p.conv.sw),      I32("ph", p.conv.ph),
    I32("pw", p.conv.pw),         I32("dh", p.conv.dh),      I32("dw", p.conv.dw),
    I32("groups", p.conv.groups), BOOL("relu", p.conv.relu), I32("ph_extra", p.conv.ph_extra),
    I32("pw_extra", p.conv.pw_extra), F32("relu_max", p.conv.relu_max), {0}};
static const pdesc PD_RELU[] = {F32("negative_slope", p.relu.negative_slope),
                                F32("max", p.relu.max), {0}};
static const pdesc PD_POOL[] = {{"method", P_METHOD, NO(p.pool.method), 0, 0},
                                I32("kh", p.pool.kh),
                                I32("kw", p.pool.kw),
                                I32("sh", p.pool.sh),
                                I32("sw", p.pool.sw),
                                I32("ph", p.pool.ph),
                                I32("pw", p.pool.pw),
                                BOOL("global", p.pool.global),
                                {0}};
static const pdesc PD_L2NORM[] = {F32("eps", p.l2norm.eps),
                                  BOOL("across_spatial", p.l2norm.across_spatial),
                                  BOOL("channel_shared", p.l2norm.channel_shared),
                                  {0}};
static const pdesc PD_NONE[] = {{0}};
static const pdesc PD_CONCAT[] = {I32("axis", p.concat.axis), {0}};
static const pdesc PD_SOFTMAX[] = {I32("group", p.softmax.group), {0}};
static const pdesc PD_PRIOR[] = {{"min_size", P_F32S, NO(p.prior.min_size), NO(p.prior.n_min), 4},
                                 {"max_size", P_F32S, NO(p.prior.max_size), NO(p.prior.n_max), 4},
                                 {"ar", P_F32S, NO(p.prior.ar), NO(p.prior.n_ar), 6},
                                 {"var", P_F32S, NO(p.prior.var), NO(p.prior.n_var), 4},
                                 F32("step_w", p.prior.step_w),
                                 F32("step_h", p.prior.step_h),
                                 F32("offset", p.prior.offset),
                                 I32("img_w", p.prior.img_w),
                                 I32("img_h", p.prior.img_h),
                                 BOOL("flip", p.prior.flip),
                                 BOOL("clip", p.prior.clip),
                                 {0}};
static const pdesc PD_NMS[] = {I32("n_classes", p.nms.n_classes),
                               I32("background", p.nms.background),
                               I32("top_k", p.nms.top_k),
                               I32("keep_top_k", p.nms.keep_top_k),
                               F32("conf_thresh", p.nms.conf_thresh),
                               F32("nms_thresh", p.nms.nms_thresh),
                               {0}};
static const pdesc PD_ELTWISE[] = {
    I32("op", p.eltwise.method),
    {"coeff", P_F32S, NO(p.eltwise.coeff), NO(p.eltwise.n_coeff), CLSSD_MAX_SRC},
    {0}};
static const pdesc PD_PRE[] = {
    I32("out_w", p.pre.out_w), I32("out_h", p.pre.out_h), {"mean", P_F32FIX, NO(p.pre.mean), 0, 3},
    F32("scale", p.pre.scale), BOOL("bgr", p.pre.bgr),    I32("resize", p.pre.resize), {0}};

/* Our own copy of the op names in enum order, so this file does not depend on the
 * op table; the names are part of the file format and never change. */
static const struct {
    const char *name;
    const pdesc *params;
} OPS[CLSSD_OP_COUNT] = {
    [CLSSD_OP_INPUT] = {"input", PD_INPUT},
    [CLSSD_OP_CONV2D] = {"conv2d", PD_CONV},
    [CLSSD_OP_RELU] = {"relu", PD_RELU},
    [CLSSD_OP_POOL] = {"pool", PD_POOL},
    [CLSSD_OP_L2NORM] = {"l2norm", PD_L2NORM},
    [CLSSD_OP_PERMUTE] = {"permute", PD_NONE},
    [CLSSD_OP_CONCAT] = {"concat", PD_CONCAT},
    [CLSSD_OP_SOFTMAX] = {"softmax", PD_SOFTMAX},
    [CLSSD_OP_PRIORBOX] = {"priorbox", PD_PRIOR},
    [CLSSD_OP_DECODE] = {"decode", PD_NONE},
    [CLSSD_OP_NMS] = {"nms", PD_NMS},
    [CLSSD_OP_PREPROCESS] = {"preprocess", PD_PRE},
    [CLSSD_OP_ELTWISE] = {"eltwise", PD_ELTWISE},
    [CLSSD_OP_SCALE] = {"scale", PD_NONE},
    [CLSSD_OP_SIGMOID] = {"sigmoid", PD_NONE},
    [CLSSD_OP_CONST] = {"const", PD_NONE}, /* its tensor is the node's weight= */
};
_Static_assert(sizeof OPS / sizeof OPS[0] == CLSSD_OP_COUNT, "op names out of sync");

static int op_from_name(const char *s)
{
    for (int i = 0; i < CLSSD_OP_COUNT; i++)
        if (strcmp(OPS[i].name, s) == 0) return i;
    return -1;
}

/* ---------------------------------------------------------------- name lookup */
/* Open-addressing index of node or tensor names. Hostile files may hold 65536 of
 * each, and linear clssd__graph_find_* per reference would make loading quadratic.
 * Slots hold indices, not pointers, because the graph's arrays move as they grow. */
enum { KIND_NODE, KIND_TENSOR };

typedef struct name_index {
    int32_t *slot; /* -1: empty */
    uint32_t mask;
} name_index;

static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static const char *item_name(const clssd_graph *g, int kind, int32_t i)
{
    return kind == KIND_NODE ? g->nodes[i].name : g->tensors[i].name;
}

static int ni_init(name_index *x, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2; /* n <= 65536, so no overflow */
    x->slot = clssd__malloc(cap * sizeof *x->slot);
    if (!x->slot) return 0;
    for (size_t i = 0; i < cap; i++)
        x->slot[i] = -1;
    x->mask = (uint32_t)(cap - 1);
    return 1;
}

static void ni_free(name_index *x)
{
    clssd__free(x->slot);
    x->slot = NULL;
}

static int32_t ni_find(const name_index *x, const clssd_graph *g, int kind, const char *name)
{
    for (uint32_t h = name_hash(name) & x->mask; x->slot[h] >= 0; h = (h + 1) & x->mask)
        if (strcmp(item_name(g, kind, x->slot[h]), name) == 0) return x->slot[h];
    return -1;
}

/* The caller has checked the name is absent and that fewer than n (of ni_init) exist. */
static void ni_insert(name_index *x, const clssd_graph *g, int kind, int32_t idx)
{
    uint32_t h = name_hash(item_name(g, kind, idx)) & x->mask;
    while (x->slot[h] >= 0)
        h = (h + 1) & x->mask;
    x->slot[h] = idx;
}

/* ================================================================ writer */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_putn(sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (n + 1 > b->cap - b->len) {
        size_t cap = b->cap ? b->cap : 4096;
        while (n + 1 > cap - b->len) {
            /* Stop growing well before size_t could wrap; the 16 MiB limit fails later. */
            if (cap > ((size_t)GRAPH_MAX_BYTES << 2)) {
                b->oom = 1;
                return;
            }
            cap *= 2;
        }
        char *grown = clssd__realloc(b->p, cap);
        if (!grown) {
            b->oom = 1;
            return;
        }
        b->p = grown;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_puts(sbuf *b, const char *s)
{
    sb_putn(b, s, strlen(s));
}

static void sb_printf(sbuf *b, const char *fmt, ...) PRINTF_LIKE(2, 3);
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[128]; /* only used for short numeric fields */
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) sb_putn(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* Writes a name with every byte that could not stand raw in a token escaped as %XX:
 * space and controls (token separators / invisible), '%' (the escape), ',' and '='
 * (value separators), and bytes that are not part of well-formed UTF-8 (so the graph
 * text stays valid UTF-8). Other UTF-8 is written raw to keep the text readable. */
static void sb_name(sbuf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        if (c >= 0x80) {
            size_t k = clssd__utf8_len(p + i, n - i);
            if (k) {
                sb_putn(b, s + i, k);
                i += k;
                continue;
            }
        }
        if (c <= 0x20 || c == 0x7F || c >= 0x80 || c == '%' || c == ',' || c == '=')
            sb_printf(b, "%%%02X", c);
        else
            sb_putn(b, s + i, 1);
        i++;
    }
}

static void sb_f32(sbuf *b, float v)
{
    char tmp[48];
    format_f32(v, tmp);
    sb_puts(b, tmp);
}

/* Appends " key=value" for every parameter of the table. Fails (message in msg) for
 * values the format cannot express, so a bad graph is never written. */
static clssd_status write_params(sbuf *b, const pdesc *pd, const clssd_node *n, const char *who,
                                 char *msg)
{
    const unsigned char *base = (const unsigned char *)n;
    for (; pd->key; pd++) {
        int32_t i;
        float f;
        uint8_t u;
        sb_printf(b, " %s=", pd->key);
        switch (pd->type) {
        case P_I32:
            memcpy(&i, base + pd->off, sizeof i);
            sb_printf(b, "%ld", (long)i);
            break;
        case P_F32:
            memcpy(&f, base + pd->off, sizeof f);
            sb_f32(b, f);
            break;
        case P_BOOL:
            memcpy(&u, base + pd->off, sizeof u);
            sb_puts(b, u ? "1" : "0"); /* flags are booleans; any non-zero means on */
            break;
        case P_METHOD:
            memcpy(&i, base + pd->off, sizeof i);
            if (i != CLSSD_POOL_MAX && i != CLSSD_POOL_AVE)
                return failf(msg, CLSSD_ERR_BAD_MODEL, "%s: pool method %ld is not max or ave", who,
                             (long)i);
            sb_puts(b, i == CLSSD_POOL_MAX ? "max" : "ave");
            break;
        case P_F32S:
        case P_F32FIX: {
            int32_t count = pd->cap;
            if (pd->type == P_F32S) memcpy(&count, base + pd->count_off, sizeof count);
            if (count < 0 || count > pd->cap)
                return failf(msg, CLSSD_ERR_BAD_MODEL, "%s: %s has %ld entries (at most %ld)", who,
                             pd->key, (long)count, (long)pd->cap);
            for (int32_t k = 0; k < count; k++) {
                memcpy(&f, base + pd->off + (size_t)k * sizeof f, sizeof f);
                if (k) sb_puts(b, ",");
                sb_f32(b, f);
            }
            break;
        }
        }
    }
    return CLSSD_OK;
}

static int name_ok(const char *name) /* NUL-terminated inside its array and not empty */
{
    return memchr(name, 0, CLSSD_NAME_LEN) != NULL && name[0] != '\0';
}

/* Checks that g is representable and writes its graph text into b. */
static clssd_status describe(const clssd_graph *g, sbuf *b, char *msg)
{
    clssd_status s = CLSSD_OK;
    name_index nodes = {0}, tensors = {0};
    if (g->n_nodes < 0 || g->n_nodes > MAX_NODES || g->n_tensors < 0 ||
        (uint32_t)g->n_tensors > MAX_TENSORS || g->n_labels < 0 || g->n_labels > MAX_LABELS ||
        (g->n_nodes && !g->nodes) || (g->n_tensors && !g->tensors) || (g->n_labels && !g->labels))
        return failf(msg, CLSSD_ERR_BAD_MODEL,
                     "graph counts out of range (%ld nodes, %ld tensors, %ld labels)",
                     (long)g->n_nodes, (long)g->n_tensors, (long)g->n_labels);
    if (!memchr(g->name, 0, sizeof g->name))
        return failf(msg, CLSSD_ERR_BAD_MODEL, "graph name is not NUL-terminated");
    if (g->input < -1 || g->input >= g->n_nodes || g->output < -1 || g->output >= g->n_nodes)
        return failf(msg, CLSSD_ERR_BAD_MODEL, "input/output node index out of range");
    if (!ni_init(&nodes, (size_t)g->n_nodes) || !ni_init(&tensors, (size_t)g->n_tensors)) {
        s = failf(msg, CLSSD_ERR_OUT_OF_MEMORY, "out of memory");
        goto done;
    }
    for (int32_t i = 0; i < g->n_tensors; i++) {
        const clssd_tensor *t = &g->tensors[i];
        const int32_t d[4] = {t->shape.n, t->shape.c, t->shape.h, t->shape.w};
        if (!name_ok(t->name)) {
            s = failf(msg, CLSSD_ERR_BAD_MODEL, "tensor %ld: empty or unterminated name", (long)i);
            goto done;
        }
        for (int k = 0; k < 4; k++)
            if (d[k] < 1 || d[k] > MAX_DIM) {
                s = failf(msg, CLSSD_ERR_BAD_MODEL, "tensor '%s': dim %d is %ld (must be 1..%d)",
                          t->name, k, (long)d[k], MAX_DIM);
                goto done;
            }
        if (!t->data) {
            s = failf(msg, CLSSD_ERR_BAD_MODEL, "tensor '%s' has no data", t->name);
            goto done;
        }
        if (ni_find(&tensors, g, KIND_TENSOR, t->name) >= 0) {
            s = failf(msg, CLSSD_ERR_BAD_MODEL, "duplicate tensor name '%s'", t->name);
            goto done;
        }
        ni_insert(&tensors, g, KIND_TENSOR, i);
    }

    sb_puts(b, "clssd-graph 1\n");
    if (g->name[0]) {
        sb_puts(b, "name ");
        sb_name(b, g->name);
        sb_puts(b, "\n");
    }
    for (int32_t i = 0; i < g->n_labels; i++) {
        sb_puts(b, "label");
        if (g->labels[i] && g->labels[i][0]) { /* NULL is written as the empty label */
            sb_puts(b, " ");
            sb_name(b, g->labels[i]);
        }
        sb_puts(b, "\n");
    }
    {
        clssd_node tmp;
        memset(&tmp, 0, sizeof tmp);
        tmp.p = g->pre;
        sb_puts(b, "preprocess");
        s = write_params(b, PD_PRE, &tmp, "preprocess", msg);
        if (s) goto done;
        sb_puts(b, "\n");
    }
    if (g->input >= 0 && name_ok(g->nodes[g->input].name)) {
        sb_puts(b, "input ");
        sb_name(b, g->nodes[g->input].name);
        sb_puts(b, "\n");
    }
    if (g->output >= 0 && name_ok(g->nodes[g->output].name)) {
        sb_puts(b, "output ");
        sb_name(b, g->nodes[g->output].name);
        sb_puts(b, "\n");
    }
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const clssd_node *n = &g->nodes[i];
        char who[96];
        if (!name_ok(n->name)) {
            s = failf(msg, CLSSD_ERR_BAD_MODEL, "node %ld: empty or unterminated name", (long)i);
            goto done;
        }
        snprintf(who, sizeof who, "node '%s'", n->name);
        if ((int)n->op < 0 || n->op >= CLSSD_OP_COUNT) {
            s = failf(msg, CLSSD_ERR_BAD_MODEL, "%s: unknown op %d", who, (int)n->op);
            goto done;
        }
        if (ni_find(&nodes, g, KIND_NODE, n->name) >= 0) {
            s = failf(msg, CLSSD_ERR_BAD_MODEL, "duplicate node name '%s'", n->name);
            goto done;
        }
        if (n->n_src < 0 || n->n_src > CLSSD_MAX_SRC) {
            s = failf(msg, CLSSD_ERR_BAD_MODEL, "%s: %ld sources", who, (long)n->n_src);
            goto done;
        }
        if (n->weight < -1 || n->weight >= g->n_tensors || n->bias < -1 ||
            n->bias >= g->n_tensors) {
            s = failf(msg, CLSSD_ERR_BAD_MODEL, "%s: weight/bias index out of range", who);
            goto done;
        }
        sb_puts(b, "node ");
        sb_name(b, n->name);
        sb_printf(b, " %s", OPS[n->op].name);
        for (int32_t k = 0; k < n->n_src; k++) {
            if (n->src[k] < 0 || n->src[k] >= i) {
                s = failf(msg, CLSSD_ERR_BAD_MODEL, "%s: source %ld is not an earlier node", who,
                          (long)n->src[k]);
                goto done;
            }
            sb_puts(b, k ? "," : " src=");
            sb_name(b, g->nodes[n->src[k]].name);
        }
        if (n->weight >= 0) {
            sb_puts(b, " weight=");
            sb_name(b, g->tensors[n->weight].name);
        }
        if (n->bias >= 0) {
            sb_puts(b, " bias=");
            sb_name(b, g->tensors[n->bias].name);
        }
        s = write_params(b, OPS[n->op].params, n, who, msg);
        if (s) goto done;
        sb_puts(b, "\n");
        ni_insert(&nodes, g, KIND_NODE, i);
    }
    if (b->oom) {
        s = failf(msg, CLSSD_ERR_OUT_OF_MEMORY, "out of memory writing the graph text");
    } else if (b->len > GRAPH_MAX_BYTES) {
        s = failf(msg, CLSSD_ERR_BAD_MODEL, "graph text is %zu bytes, the format's limit is %u",
                  b->len, GRAPH_MAX_BYTES);
    }
done:
    ni_free(&nodes);
    ni_free(&tensors);
    return s;
}

typedef struct writer {
    FILE *f;
    uint32_t crc;
    uint64_t pos;
    crc_tables table;
} writer;

static int w_write(writer *w, const void *p, size_t n)
{
    w->crc = crc_update(&w->table, w->crc, p, n);
    w->pos += n;
    return fwrite(p, 1, n, w->f) == n;
}

static int w_pad_to(writer *w, uint64_t target)
{
    static const unsigned char zeros[64];
    while (w->pos < target) {
        uint64_t left = target - w->pos;
        if (!w_write(w, zeros, left < sizeof zeros ? (size_t)left : sizeof zeros)) return 0;
    }
    return 1;
}

/* Streams the body (graph text, table, data) and returns 0 on a write error. */
static int write_body(writer *w, const clssd_graph *g, const sbuf *text, uint64_t table_off,
                      uint64_t data_off)
{
    uint64_t off = 0;
    if (!w_write(w, text->p, text->len) || !w_pad_to(w, table_off)) return 0;
    for (int32_t i = 0; i < g->n_tensors; i++) {
        const clssd_tensor *t = &g->tensors[i];
        unsigned char e[ENTRY_SIZE];
        uint64_t size = 4u * (uint64_t)clssd__shape_count(&t->shape);
        memset(e, 0, sizeof e);
        memcpy(e + E_NAME, t->name, strlen(t->name));
        put_u32(e + E_NDIM, 4);
        put_u32(e + E_DIMS + 0, (uint32_t)t->shape.n);
        put_u32(e + E_DIMS + 4, (uint32_t)t->shape.c);
        put_u32(e + E_DIMS + 8, (uint32_t)t->shape.h);
        put_u32(e + E_DIMS + 12, (uint32_t)t->shape.w);
        put_u32(e + E_DTYPE, 0);
        off = align_up(off, DATA_ALIGN);
        put_u64(e + E_OFFSET, off);
        put_u64(e + E_SIZE, size);
        off += size;
        if (!w_write(w, e, sizeof e)) return 0;
    }
    if (!w_pad_to(w, data_off)) return 0;
    for (int32_t i = 0; i < g->n_tensors; i++) {
        const clssd_tensor *t = &g->tensors[i];
        size_t count = clssd__shape_count(&t->shape);
        unsigned char buf[16384];
        if (!w_pad_to(w, align_up(w->pos, DATA_ALIGN))) return 0;
        /* Encode explicitly so big-endian hosts write the same bytes. */
        for (size_t k = 0; k < count;) {
            size_t m = count - k < sizeof buf / 4 ? count - k : sizeof buf / 4;
            for (size_t j = 0; j < m; j++) {
                uint32_t u;
                memcpy(&u, &t->data[k + j], 4);
                put_u32(buf + 4 * j, u);
            }
            if (!w_write(w, buf, 4 * m)) return 0;
            k += m;
        }
    }
    return 1;
}

clssd_status clssd__file_save(const clssd_graph *g, const char *path, char *err, size_t err_size)
{
    char msg[MSG_SIZE] = "";
    sbuf text = {0};
    char *tmp_path = NULL;
    writer w;
    clssd_status s;
    if (!g || !path || !*path) {
        report(err, err_size, path && *path ? path : "(null)", "invalid argument");
        return CLSSD_ERR_INVALID_ARG;
    }
    memset(&w, 0, sizeof w);
    s = describe(g, &text, msg);
    if (s) goto done;

    /* Layout: header, text, table at the next multiple of 8, data at the next
     * multiple of 64, each tensor 64-byte aligned inside the data section. */
    uint64_t table_off = align_up(HDR_SIZE + (uint64_t)text.len, 8);
    uint64_t data_off = align_up(table_off + (uint64_t)g->n_tensors * ENTRY_SIZE, DATA_ALIGN);
    uint64_t data_size = 0;
    for (int32_t i = 0; i < g->n_tensors; i++)
        data_size = align_up(data_size, DATA_ALIGN) +
                    4u * (uint64_t)clssd__shape_count(&g->tensors[i].shape);

    /* Write a sibling file and rename it over the target, so a failed or interrupted
     * save never destroys an existing model. */
    size_t plen = strlen(path);
    tmp_path = clssd__malloc(plen + 5);
    if (!tmp_path) {
        s = failf(msg, CLSSD_ERR_OUT_OF_MEMORY, "out of memory");
        goto done;
    }
    memcpy(tmp_path, path, plen);
    memcpy(tmp_path + plen, ".tmp", 5);
    w.f = fopen(tmp_path, "wb");
    if (!w.f) {
        s = failf(msg, CLSSD_ERR_IO, "cannot create '%s': %s", tmp_path, strerror(errno));
        goto done;
    }
    crc_table_init(&w.table);
    unsigned char h[HDR_SIZE];
    memset(h, 0, sizeof h);
    int ok = fwrite(h, 1, sizeof h, w.f) == sizeof h; /* placeholder until the CRC is known */
    w.pos = HDR_SIZE;
    ok = ok && write_body(&w, g, &text, table_off, data_off);
    memcpy(h + H_MAGIC, MAGIC, sizeof MAGIC);
    put_u32(h + H_VERSION, FILE_VERSION);
    put_u32(h + H_HEADER_SIZE, HDR_SIZE);
    put_u64(h + H_GRAPH_OFF, HDR_SIZE);
    put_u64(h + H_GRAPH_SIZE, text.len);
    put_u64(h + H_TABLE_OFF, table_off);
    put_u32(h + H_N_TENSORS, (uint32_t)g->n_tensors);
    put_u32(h + H_RESERVED, 0);
    put_u64(h + H_DATA_OFF, data_off);
    put_u64(h + H_DATA_SIZE, data_size);
    put_u32(h + H_BODY_CRC, w.crc);
    put_u32(h + H_HEADER_CRC, crc_update(&w.table, 0, h, sizeof h));
    ok = ok && w.pos == data_off + data_size && fseek(w.f, 0, SEEK_SET) == 0 &&
         fwrite(h, 1, sizeof h, w.f) == sizeof h && fflush(w.f) == 0 && !ferror(w.f);
    int close_err = fclose(w.f);
    w.f = NULL;
    if (!ok || close_err) {
        s = failf(msg, CLSSD_ERR_IO, "write to '%s' failed: %s", tmp_path, strerror(errno));
        remove(tmp_path);
        goto done;
    }
    if (rename(tmp_path, path) != 0) {
        s = failf(msg, CLSSD_ERR_IO, "cannot rename '%s' to the target: %s", tmp_path,
                  strerror(errno));
        remove(tmp_path);
        goto done;
    }
done:
    clssd__free(text.p);
    clssd__free(tmp_path);
    if (s)
        report(err, err_size, path, msg);
    else if (err && err_size)
        err[0] = '\0';
    return s;
}

/* ================================================================ reader */
typedef struct reader {
    const unsigned char *mem; /* clssd__file_load_mem */
    FILE *f;                  /* clssd__file_load */
    uint64_t size, pos;
    int crc_on; /* the body CRC covers everything after the header */
    uint32_t crc;
    crc_tables table;
} reader;

static int rd_read(reader *r, void *dst, size_t n)
{
    if (n == 0) return 1;
    if (r->pos > r->size || n > r->size - r->pos) return 0;
    if (r->mem)
        memcpy(dst, r->mem + r->pos, n);
    else if (fread(dst, 1, n, r->f) != n)
        return 0;
    if (r->crc_on) r->crc = crc_update(&r->table, r->crc, dst, n);
    r->pos += n;
    return 1;
}

/* Reads (and checksums) the bytes up to `target`: gaps and padding count too. */
static int rd_skip_to(reader *r, uint64_t target)
{
    if (target < r->pos || target > r->size) return 0;
    if (r->mem) {
        if (r->crc_on)
            r->crc = crc_update(&r->table, r->crc, r->mem + r->pos, (size_t)(target - r->pos));
        r->pos = target;
        return 1;
    }
    unsigned char buf[16384];
    while (r->pos < target) {
        uint64_t left = target - r->pos;
        if (!rd_read(r, buf, left < sizeof buf ? (size_t)left : sizeof buf)) return 0;
    }
    return 1;
}

typedef struct header {
    uint32_t version, header_size, n_tensors, reserved, body_crc, header_crc;
    uint64_t graph_off, graph_size, table_off, data_off, data_size;
} header;

typedef struct loader {
    reader r;
    header h;
    clssd_graph *g;
    char *text;           /* graph text, NUL-terminated */
    unsigned char *table; /* raw tensor table */
    name_index nodes, tensors;
    int32_t max_nodes; /* "node" lines counted before parsing */
    int line;          /* current graph line, for messages */
    char input[CLSSD_NAME_LEN], output[CLSSD_NAME_LEN];
    int seen_name, seen_pre, seen_input, seen_output;
    char msg[MSG_SIZE];
} loader;

static clssd_status read_failed(loader *L)
{
    return failf(L->msg, CLSSD_ERR_IO, "read error or unexpected end of file at offset %llu",
                 (ull)L->r.pos);
}

/* off/size lie inside a file of fs bytes, without overflowing. */
static int in_file(uint64_t off, uint64_t size, uint64_t fs)
{
    return off <= fs && size <= fs - off;
}

static clssd_status check_header(loader *L, const unsigned char *b, size_t avail)
{
    header *h = &L->h;
    uint64_t fs = L->r.size;
    if (memcmp(b, MAGIC, avail < 8 ? avail : 8) != 0)
        return failf(L->msg, CLSSD_ERR_BAD_MODEL, "bad magic: not a .clssd file");
    /* The version is checked before the header CRC: another version may lay its
     * header out differently, so its CRC could not be checked with version 1 rules. */
    if (avail < 12)
        return failf(L->msg, CLSSD_ERR_BAD_MODEL,
                     "truncated header: file has %llu bytes, the header needs %u", (ull)fs,
                     HDR_SIZE);
    h->version = get_u32(b + H_VERSION);
    if (h->version != FILE_VERSION)
        return failf(L->msg, CLSSD_ERR_BAD_MODEL,
                     "unsupported format version %lu (this library reads version %u)",
                     (unsigned long)h->version, FILE_VERSION);
    if (avail < HDR_SIZE)
        return failf(L->msg, CLSSD_ERR_BAD_MODEL,
                     "truncated header: file has %llu bytes, the header needs %u", (ull)fs,
                     HDR_SIZE);
    unsigned char tmp[HDR_SIZE];
    memcpy(tmp, b, HDR_SIZE);
    memset(tmp + H_HEADER_CRC, 0, 4);
    h->header_crc = get_u32(b + H_HEADER_CRC);
    uint32_t crc = crc_update(&L->r.table, 0, tmp, HDR_SIZE);
    if (crc != h->header_crc)
        return failf(L->msg, CLSSD_ERR_BAD_MODEL,
                     "header CRC mismatch (stored 0x%08lx, computed 0x%08lx)",
                     (unsigned long)h->header_crc, (unsigned long)crc);
    h->header_size = get_u32(b + H_HEADER_SIZE);
    h->graph_off = get_u64(b + H_GRAPH_OFF);
    h->graph_size = get_u64(b + H_GRAPH_SIZE);
    h->table_off = get_u64(b + H_TABLE_OFF);
    h->n_tensors = get_u32(b + H_N_TENSORS);
    h->reserved = get_u32(b + H_RESERVED);
    h->data_off = get_u64(b + H_DATA_OFF);
    h->data_size = get_u64(b + H_DATA_SIZE);
    h->body_crc = get_u32(b + H_BODY_CRC);
    if (h->header_size != HDR_SIZE)
        return failf(L->msg, CLSSD_ERR_BAD_MODEL, "header size %lu, version 1 requires %u",
                     (unsigned long)h->header_size, HDR_SIZE);
    if (h->reserved != 0)
        return failf(L->msg, CLSSD_ERR_BAD_MODEL, "reserved header field is %lu, must be 0",
                     (unsigned long)h->reserved);
    if (h->graph_off < HDR_SIZE)
        return failf(L->msg, CLSSD_ERR_BAD_MODEL, "graph section (offset %llu) overlaps the header",
                     (ull)h->graph_off);
    if (h->graph_size > GRAPH_MAX_BYTES)
        return failf(L->msg, CLSSD_ERR_BAD_MODEL, "graph text is %llu bytes, the limit is %u",
                     (ull)h->graph_size, GRAPH_MAX_BYTES);
    if (!in_file(h->graph_off, h->graph_size, fs))
        return failf(L->msg, CLSSD_ERR_BAD_MODEL,
                     "truncated: graph section (offset %llu, size %llu) extends past end of "
                     "file (%llu bytes)",
                     (ull)h->graph_off, (ull)h->graph_size, (ull)fs);
    if (h->n_tensors > MAX_TENSORS)
        return failf(L->msg, CLSSD_ERR_BAD_MODEL, "%lu tensors, the limit is %u",
                     (unsigned long)h->n_tensors, MAX_TENSORS);
    uint64_t table_bytes = (uint64_t)h->n_tensors * ENTRY_SIZE;
    if (h->table_off < h->graph_off + h->graph_size)
        return failf(L->msg, CLSSD_ERR_BAD_MODEL,
                     "tensor table (offset %llu) overlaps the graph section (ends at %llu)",
                     (ull)h->table_off, (ull)(h->graph_off + h->graph_size));
    if (!in_file(h->table_off, table_bytes, fs))
        return failf(L->msg, CLSSD_ERR_BAD_MODEL,
                     "truncated: tensor table (offset %llu, %lu entries) extends past end of "
                     "file (%llu bytes)",
                     (ull)h->table_off, (unsigned long)h->n_tensors, (ull)fs);
    if (h->data_off % DATA_ALIGN)
        return failf(L->msg, CLSSD_ERR_BAD_MODEL, "data offset %llu is not a multiple of %u",
                     (ull)h->data_off, DATA_ALIGN);
    if (h->data_off < h->table_off + table_bytes)
        return failf(L->msg, CLSSD_ERR_BAD_MODEL,
                     "data section (offset %llu) overlaps the tensor table (ends at %llu)",
                     (ull)h->data_off, (ull)(h->table_off + table_bytes));
    if (h->data_off > fs)
        return failf(L->msg, CLSSD_ERR_BAD_MODEL,
                     "truncated: data section starts at %llu, past end of file (%llu bytes)",
                     (ull)h->data_off, (ull)fs);
    if (h->data_size > UINT64_MAX - h->data_off)
        return failf(L->msg, CLSSD_ERR_BAD_MODEL, "data section size %llu out of range",
                     (ull)h->data_size);
    /* Whether data_off + data_size matches the file size is checked after the tensor
     * table, so that a truncated file is reported by the first tensor it cuts. */
    return CLSSD_OK;
}

/* Validates the tensor table and creates the tensors (zeroed; the data comes later).
 * Tensors must lie in the data section in table order without overlapping, which
 * bounds the bytes allocated here by the file's size. */
static clssd_status parse_table(loader *L)
{
    const header *h = &L->h;
    uint64_t fs = L->r.size, prev_end = 0;
    clssd_graph *g = L->g;
    if (!ni_init(&L->tensors, h->n_tensors))
        return failf(L->msg, CLSSD_ERR_OUT_OF_MEMORY, "out of memory");
    for (uint32_t i = 0; i < h->n_tensors; i++) {
        const unsigned char *e = L->table + (size_t)i * ENTRY_SIZE;
        char name[CLSSD_NAME_LEN];
        const unsigned char *nul = memchr(e + E_NAME, 0, CLSSD_NAME_LEN);
        if (!nul)
            return failf(L->msg, CLSSD_ERR_BAD_MODEL,
                         "tensor %lu: name is not NUL-terminated within %d bytes", (unsigned long)i,
                         CLSSD_NAME_LEN);
        if (nul == e + E_NAME)
            return failf(L->msg, CLSSD_ERR_BAD_MODEL, "tensor %lu: empty name", (unsigned long)i);
        memcpy(name, e + E_NAME, (size_t)(nul - (e + E_NAME)) + 1);
        for (const unsigned char *p = nul; p < e + E_NAME + CLSSD_NAME_LEN; p++)
            if (*p)
                return failf(L->msg, CLSSD_ERR_BAD_MODEL,
                             "tensor '%s': bytes after the name's NUL are not zero", name);
        uint32_t ndim = get_u32(e + E_NDIM), dtype = get_u32(e + E_DTYPE);
        if (ndim != 4)
            return failf(L->msg, CLSSD_ERR_BAD_MODEL, "tensor '%s': ndim is %lu, must be 4", name,
                         (unsigned long)ndim);
        int32_t d[4];
        for (int k = 0; k < 4; k++) {
            uint32_t u = get_u32(e + E_DIMS + 4 * k);
            if (u < 1 || u > (uint32_t)MAX_DIM)
                return failf(L->msg, CLSSD_ERR_BAD_MODEL,
                             "tensor '%s': dim %d is %ld, must be in 1..%d", name, k,
                             (long)(int32_t)u, MAX_DIM);
            d[k] = (int32_t)u;
        }
        if (dtype != 0)
            return failf(L->msg, CLSSD_ERR_BAD_MODEL,
                         "tensor '%s': unknown dtype %lu (0 = float32 is the only one)", name,
                         (unsigned long)dtype);
        clssd_shape shape = {d[0], d[1], d[2], d[3]};
        size_t count = 1, bytes;
        for (int k = 0; k < 4; k++)
            if (!clssd__mul_size(count, (size_t)d[k], &count))
                return failf(L->msg, CLSSD_ERR_BAD_MODEL,
                             "tensor '%s': %ldx%ldx%ldx%ld elements overflow", name, (long)d[0],
                             (long)d[1], (long)d[2], (long)d[3]);
        if (!clssd__mul_size(count, 4, &bytes))
            return failf(L->msg, CLSSD_ERR_BAD_MODEL,
                         "tensor '%s': %ldx%ldx%ldx%ld floats overflow the byte size", name,
                         (long)d[0], (long)d[1], (long)d[2], (long)d[3]);
        uint64_t off = get_u64(e + E_OFFSET), size = get_u64(e + E_SIZE);
        if (size != (uint64_t)bytes)
            return failf(L->msg, CLSSD_ERR_BAD_MODEL,
                         "tensor '%s': byte size %llu does not match 4*%ld*%ld*%ld*%ld = %llu",
                         name, (ull)size, (long)d[0], (long)d[1], (long)d[2], (long)d[3],
                         (ull)bytes);
        if (off % DATA_ALIGN)
            return failf(L->msg, CLSSD_ERR_BAD_MODEL,
                         "tensor '%s': data offset %llu is not a multiple of %u", name, (ull)off,
                         DATA_ALIGN);
        if (off < prev_end)
            return failf(L->msg, CLSSD_ERR_BAD_MODEL,
                         "tensor '%s': data (offset %llu) overlaps or precedes the previous "
                         "tensor's (which ends at %llu)",
                         name, (ull)off, (ull)prev_end);
        if (off > UINT64_MAX - h->data_off || size > UINT64_MAX - h->data_off - off)
            return failf(L->msg, CLSSD_ERR_BAD_MODEL,
                         "tensor '%s': data offset %llu / size %llu out of range", name, (ull)off,
                         (ull)size);
        uint64_t abs_off = h->data_off + off;
        if (!in_file(abs_off, size, fs))
            return failf(L->msg, CLSSD_ERR_BAD_MODEL,
                         "tensor '%s': data extends past end of file (offset %llu, size %llu, "
                         "file %llu)",
                         name, (ull)abs_off, (ull)size, (ull)fs);
        if (off + size > h->data_size)
            return failf(L->msg, CLSSD_ERR_BAD_MODEL,
                         "tensor '%s': data extends past the data section (offset %llu, size "
                         "%llu, section %llu bytes)",
                         name, (ull)off, (ull)size, (ull)h->data_size);
        prev_end = off + size;
        if (ni_find(&L->tensors, g, KIND_TENSOR, name) >= 0)
            return failf(L->msg, CLSSD_ERR_BAD_MODEL, "duplicate tensor name '%s'", name);
        if (count > CLSSD_GRAPH_MAX_WEIGHT_FLOATS) /* clssd__graph_add_tensor's limit */
            return failf(L->msg, CLSSD_ERR_BAD_MODEL, "tensor '%s': %zu values, the limit is %zu",
                         name, count, CLSSD_GRAPH_MAX_WEIGHT_FLOATS);
        int32_t idx = clssd__graph_add_tensor(g, name, shape);
        if (idx < 0)
            return failf(L->msg, CLSSD_ERR_OUT_OF_MEMORY,
                         "out of memory for tensor '%s' (%zu bytes)", name, bytes);
        ni_insert(&L->tensors, g, KIND_TENSOR, idx);
    }
    uint64_t data_end = h->data_off + h->data_size;
    if (data_end > fs)
        return failf(L->msg, CLSSD_ERR_BAD_MODEL,
                     "truncated: the data section ends at %llu, the file has %llu bytes",
                     (ull)data_end, (ull)fs);
    if (data_end < fs)
        return failf(L->msg, CLSSD_ERR_BAD_MODEL, "%llu unexpected bytes after the data section",
                     (ull)(fs - data_end));
    return CLSSD_OK;
}

/* ---------------------------------------------------------------- graph text */
static clssd_status lfail(loader *L, const char *fmt, ...) PRINTF_LIKE(2, 3);
static clssd_status lfail(loader *L, const char *fmt, ...)
{
    int n = snprintf(L->msg, MSG_SIZE, "graph line %d: ", L->line);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && n < MSG_SIZE) vsnprintf(L->msg + n, MSG_SIZE - (size_t)n, fmt, ap);
    va_end(ap);
    return CLSSD_ERR_BAD_MODEL;
}

/* Decodes a node/tensor/graph name token (1..63 bytes after unescaping). */
static clssd_status get_name(loader *L, const char *tok, char out[CLSSD_NAME_LEN], const char *what)
{
    size_t len;
    const char *why = unescape(tok, out, CLSSD_NAME_LEN, &len);
    if (why)
        return lfail(L, "%s '%.80s': %s%s", what, tok, why,
                     strcmp(why, "name too long") ? "" : " (at most 63 bytes)");
    if (len == 0) return lfail(L, "%s: empty name", what);
    return CLSSD_OK;
}

/* Parses "value" of key `pd` into the node. */
static clssd_status get_param(loader *L, const pdesc *pd, char *val, clssd_node *n, const char *who)
{
    unsigned char *base = (unsigned char *)n;
    int32_t i;
    float f;
    uint8_t u;
    switch (pd->type) {
    case P_I32:
        if (!parse_i32(val, &i))
            return lfail(L, "%s: %s=%.40s is not a 32-bit integer", who, pd->key, val);
        memcpy(base + pd->off, &i, sizeof i);
        return CLSSD_OK;
    case P_F32:
        if (!parse_f32(val, &f)) return lfail(L, "%s: %s=%.40s is not a number", who, pd->key, val);
        memcpy(base + pd->off, &f, sizeof f);
        return CLSSD_OK;
    case P_BOOL:
        if (strcmp(val, "0") != 0 && strcmp(val, "1") != 0)
            return lfail(L, "%s: %s=%.40s, must be 0 or 1", who, pd->key, val);
        u = (uint8_t)(val[0] - '0');
        memcpy(base + pd->off, &u, sizeof u);
        return CLSSD_OK;
    case P_METHOD:
        if (strcmp(val, "max") == 0)
            i = CLSSD_POOL_MAX;
        else if (strcmp(val, "ave") == 0)
            i = CLSSD_POOL_AVE;
        else
            return lfail(L, "%s: %s=%.40s, must be max or ave", who, pd->key, val);
        memcpy(base + pd->off, &i, sizeof i);
        return CLSSD_OK;
    default: { /* P_F32S, P_F32FIX: comma-separated, possibly empty for P_F32S */
        int32_t count = 0;
        char *p = val;
        while (*p) {
            char *comma = strchr(p, ',');
            if (comma) *comma = '\0';
            if (count == pd->cap)
                return lfail(L, "%s: %s has more than %ld values", who, pd->key, (long)pd->cap);
            if (!parse_f32(p, &f))
                return lfail(L, "%s: %s: '%.40s' is not a number", who, pd->key, p);
            memcpy(base + pd->off + (size_t)count * sizeof f, &f, sizeof f);
            count++;
            if (!comma) break;
            p = comma + 1;
            if (!*p) return lfail(L, "%s: %s ends with ','", who, pd->key);
        }
        if (pd->type == P_F32FIX && count != pd->cap)
            return lfail(L, "%s: %s needs exactly %ld values, has %ld", who, pd->key, (long)pd->cap,
                         (long)count);
        if (pd->type == P_F32S) memcpy(base + pd->count_off, &count, sizeof count);
        return CLSSD_OK;
    }
    }
}

/* Parses key=value tokens against the parameter table; `extra` handles the keys the
 * table does not (src/weight/bias on node lines) and returns 1 if it took the key. */
typedef struct node_refs {
    char *src, *weight, *bias;
} node_refs;

static clssd_status get_params(loader *L, char **tok, int ntok, const pdesc *pd, clssd_node *n,
                               const char *who, node_refs *refs)
{
    uint32_t seen = 0; /* bits 0..2: src, weight, bias; bit 3 + k: pd[k] (<= 29; conv2d: 14) */
    for (int t = 0; t < ntok; t++) {
        char *eq = strchr(tok[t], '=');
        if (!eq || eq == tok[t])
            return lfail(L, "%s: expected key=value, got '%.60s'", who, tok[t]);
        *eq = '\0';
        const char *key = tok[t];
        char *val = eq + 1;
        static const char *const ref_keys[3] = {"src", "weight", "bias"};
        int bit = -1;
        for (int k = 0; refs && k < 3; k++)
            if (strcmp(key, ref_keys[k]) == 0) bit = k;
        int k = 0;
        if (bit < 0) {
            for (; pd[k].key; k++)
                if (strcmp(key, pd[k].key) == 0) break;
            if (!pd[k].key) return lfail(L, "%s: unknown key '%.60s'", who, key);
            bit = 3 + k;
        }
        if (seen & (1u << bit)) return lfail(L, "%s: key '%s' given twice", who, key);
        seen |= 1u << bit;
        if (bit == 0)
            refs->src = val;
        else if (bit == 1)
            refs->weight = val;
        else if (bit == 2)
            refs->bias = val;
        else
            CLSSD_TRY(get_param(L, &pd[k], val, n, who));
    }
    /* Every parameter is required: a reader never guesses a default, so a file means
     * the same thing to every implementation. */
    for (int k = 0; pd[k].key; k++)
        if (!(seen & (1u << (3 + k)))) return lfail(L, "%s: missing key '%s'", who, pd[k].key);
    return CLSSD_OK;
}

static clssd_status get_tensor_ref(loader *L, const char *val, const char *what, const char *who,
                                   int32_t *out)
{
    char name[CLSSD_NAME_LEN];
    char label[128]; /* who (< 96) + ": " + what */
    snprintf(label, sizeof label, "%s: %s", who, what);
    CLSSD_TRY(get_name(L, val, name, label));
    *out = ni_find(&L->tensors, L->g, KIND_TENSOR, name);
    if (*out < 0) return lfail(L, "%s: %s '%s' is not a tensor in this file", who, what, name);
    return CLSSD_OK;
}

static clssd_status parse_node(loader *L, char **tok, int ntok)
{
    clssd_graph *g = L->g;
    char name[CLSSD_NAME_LEN], who[96];
    if (ntok < 3) return lfail(L, "node line needs a name and an op");
    CLSSD_TRY(get_name(L, tok[1], name, "node"));
    snprintf(who, sizeof who, "node '%s'", name);
    if (ni_find(&L->nodes, g, KIND_NODE, name) >= 0)
        return lfail(L, "duplicate node name '%s'", name);
    if (g->n_nodes >= L->max_nodes) return lfail(L, "too many nodes");
    int op = op_from_name(tok[2]);
    if (op < 0) return lfail(L, "%s: unknown op '%.60s'", who, tok[2]);

    clssd_node n;
    memset(&n, 0, sizeof n);
    node_refs refs = {NULL, NULL, NULL};
    CLSSD_TRY(get_params(L, tok + 3, ntok - 3, OPS[op].params, &n, who, &refs));

    int32_t src[CLSSD_MAX_SRC], n_src = 0, weight = -1, bias = -1;
    if (refs.src) {
        char *p = refs.src;
        for (;;) {
            char *comma = strchr(p, ',');
            char sname[CLSSD_NAME_LEN];
            if (comma) *comma = '\0';
            if (n_src == CLSSD_MAX_SRC)
                return lfail(L, "%s: more than %d sources", who, CLSSD_MAX_SRC);
            char label[128]; /* who (< 96) + ": source" */
            snprintf(label, sizeof label, "%s: source", who);
            CLSSD_TRY(get_name(L, p, sname, label));
            /* Only earlier nodes are in the index yet: this keeps the graph topologically
             * ordered and rejects self-references and cycles. */
            src[n_src] = ni_find(&L->nodes, g, KIND_NODE, sname);
            if (src[n_src] < 0)
                return lfail(L, "%s: source '%s' is not an earlier node", who, sname);
            n_src++;
            if (!comma) break;
            p = comma + 1;
        }
    }
    if (refs.weight) CLSSD_TRY(get_tensor_ref(L, refs.weight, "weight", who, &weight));
    if (refs.bias) CLSSD_TRY(get_tensor_ref(L, refs.bias, "bias", who, &bias));

    int32_t idx = clssd__graph_add(g, name, (clssd_op)op, &n.p, src, n_src);
    if (idx < 0) return failf(L->msg, CLSSD_ERR_OUT_OF_MEMORY, "out of memory adding node");
    clssd_node *dst = &g->nodes[idx];
    dst->weight = weight;
    dst->bias = bias;
    if (op == CLSSD_OP_INPUT) {
        dst->out = n.out;
        dst->out.n = 1; /* shapes are per image */
    }
    ni_insert(&L->nodes, g, KIND_NODE, idx);
    return CLSSD_OK;
}

static clssd_status add_label(loader *L, const char *tok)
{
    clssd_graph *g = L->g;
    if (g->n_labels >= MAX_LABELS) return lfail(L, "more than %d labels", MAX_LABELS);
    size_t len = tok ? strlen(tok) : 0;
    char *s = clssd__malloc(len + 1);
    if (!s) return failf(L->msg, CLSSD_ERR_OUT_OF_MEMORY, "out of memory");
    const char *why = tok ? unescape(tok, s, len + 1, &len) : (s[0] = '\0', NULL);
    if (why) {
        clssd__free(s);
        return lfail(L, "label %ld: %s", (long)g->n_labels, why);
    }
    /* Grow by doubling from 8. The graph has no label capacity field, so the capacity
     * is implied: the array is full exactly when n_labels is 0 or a power of two >= 8. */
    int32_t n = g->n_labels;
    if (n == 0 || (n >= 8 && (n & (n - 1)) == 0)) {
        size_t cap = n ? (size_t)n * 2 : 8;
        char **grown = clssd__realloc(g->labels, cap * sizeof *grown);
        if (!grown) {
            clssd__free(s);
            return failf(L->msg, CLSSD_ERR_OUT_OF_MEMORY, "out of memory");
        }
        g->labels = grown;
    }
    g->labels[g->n_labels++] = s;
    return CLSSD_OK;
}

/* Checks one line: no control characters (that includes tab and CR) and well-formed
 * UTF-8, then splits it in place into space-separated tokens. */
static clssd_status split_line(loader *L, char *line, size_t len, char **tok, int *ntok)
{
    const unsigned char *u = (const unsigned char *)line;
    for (size_t i = 0; i < len;) {
        if (u[i] < 0x20 || u[i] == 0x7F)
            return lfail(L, "control character 0x%02x at column %zu", u[i], i + 1);
        size_t k = clssd__utf8_len(u + i, len - i);
        if (!k) return lfail(L, "invalid UTF-8 at column %zu", i + 1);
        i += k;
    }
    *ntok = 0;
    for (char *p = line; *p;) {
        while (*p == ' ')
            *p++ = '\0';
        if (!*p) break;
        if (*ntok == MAX_TOKENS) return lfail(L, "more than %d fields", MAX_TOKENS);
        tok[(*ntok)++] = p;
        while (*p && *p != ' ')
            p++;
    }
    return CLSSD_OK;
}

static clssd_status parse_line(loader *L, char *line, size_t len)
{
    char *tok[MAX_TOKENS];
    int ntok = 0;
    clssd_graph *g = L->g;
    CLSSD_TRY(split_line(L, line, len, tok, &ntok));
    if (L->line == 1) {
        if (ntok == 2 && strcmp(tok[0], "clssd-graph") == 0 && strcmp(tok[1], "1") == 0)
            return CLSSD_OK;
        if (ntok == 2 && strcmp(tok[0], "clssd-graph") == 0)
            return lfail(L, "unsupported graph text version '%.20s'", tok[1]);
        return lfail(L, "the graph text must start with 'clssd-graph 1'");
    }
    if (ntok == 0 || tok[0][0] == '#') return CLSSD_OK; /* blank line or comment */
    const char *kw = tok[0];
    if (strcmp(kw, "node") == 0) return parse_node(L, tok, ntok);
    if (strcmp(kw, "label") == 0) {
        if (ntok > 2) return lfail(L, "label takes one name (escape spaces as %%20)");
        return add_label(L, ntok == 2 ? tok[1] : NULL);
    }
    if (strcmp(kw, "name") == 0 || strcmp(kw, "input") == 0 || strcmp(kw, "output") == 0) {
        int *seen = kw[0] == 'n' ? &L->seen_name : kw[0] == 'i' ? &L->seen_input : &L->seen_output;
        char *dst = kw[0] == 'n' ? g->name : kw[0] == 'i' ? L->input : L->output;
        if (*seen) return lfail(L, "'%s' given twice", kw);
        if (ntok != 2) return lfail(L, "'%s' takes exactly one name", kw);
        *seen = 1;
        return get_name(L, tok[1], dst, kw);
    }
    if (strcmp(kw, "preprocess") == 0) {
        clssd_node tmp;
        if (L->seen_pre) return lfail(L, "'preprocess' given twice");
        L->seen_pre = 1;
        memset(&tmp, 0, sizeof tmp);
        CLSSD_TRY(get_params(L, tok + 1, ntok - 1, PD_PRE, &tmp, "preprocess", NULL));
        g->pre = tmp.p;
        return CLSSD_OK;
    }
    return lfail(L, "unknown statement '%.60s'", kw);
}

static clssd_status parse_graph(loader *L, size_t size)
{
    char *text = L->text, *end = text + size;
    const char *nul = memchr(text, 0, size);
    if (nul)
        return failf(L->msg, CLSSD_ERR_BAD_MODEL, "graph text contains a NUL byte at offset %zu",
                     (size_t)(nul - text));
    /* Count "node" lines first so the name index is sized once and the node limit
     * holds before anything is allocated per node. */
    size_t n_nodes = 0;
    for (char *p = text; p < end;) {
        if ((size_t)(end - p) >= 5 && memcmp(p, "node ", 5) == 0) n_nodes++;
        char *nl = memchr(p, '\n', (size_t)(end - p));
        p = nl ? nl + 1 : end;
    }
    if (n_nodes > MAX_NODES)
        return failf(L->msg, CLSSD_ERR_BAD_MODEL, "graph has %zu nodes, the limit is %d", n_nodes,
                     MAX_NODES);
    L->max_nodes = (int32_t)n_nodes;
    if (!ni_init(&L->nodes, n_nodes))
        return failf(L->msg, CLSSD_ERR_OUT_OF_MEMORY, "out of memory");
    L->line = 0;
    for (char *p = text; p < end || L->line == 0;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *le = nl ? nl : end;
        *le = '\0'; /* the text buffer has one spare byte past its end */
        L->line++;
        CLSSD_TRY(parse_line(L, p, (size_t)(le - p)));
        p = nl ? nl + 1 : end;
    }
    clssd_graph *g = L->g;
    if (L->seen_input && (g->input = ni_find(&L->nodes, g, KIND_NODE, L->input)) < 0)
        return failf(L->msg, CLSSD_ERR_BAD_MODEL, "graph: input '%s' is not a node", L->input);
    if (L->seen_output && (g->output = ni_find(&L->nodes, g, KIND_NODE, L->output)) < 0)
        return failf(L->msg, CLSSD_ERR_BAD_MODEL, "graph: output '%s' is not a node", L->output);
    return CLSSD_OK;
}

/* ---------------------------------------------------------------- load driver */
static clssd_status load_body(loader *L)
{
    reader *r = &L->r;
    const header *h = &L->h;
    unsigned char hb[HDR_SIZE];
    size_t avail = r->size < HDR_SIZE ? (size_t)r->size : HDR_SIZE;
    if (!rd_read(r, hb, avail)) return read_failed(L);
    CLSSD_TRY(check_header(L, hb, avail));

    r->crc_on = 1;
    r->crc = 0;
    /* The graph text comes first in the file but refers to tensors, so it is kept as
     * text until the table has been read. */
    L->text = clssd__malloc((size_t)h->graph_size + 1);
    if (!L->text) return failf(L->msg, CLSSD_ERR_OUT_OF_MEMORY, "out of memory");
    if (!rd_skip_to(r, h->graph_off) || !rd_read(r, L->text, (size_t)h->graph_size))
        return read_failed(L);
    L->text[h->graph_size] = '\0';
    if (h->n_tensors) {
        L->table = clssd__malloc((size_t)h->n_tensors * ENTRY_SIZE);
        if (!L->table) return failf(L->msg, CLSSD_ERR_OUT_OF_MEMORY, "out of memory");
    }
    if (!rd_skip_to(r, h->table_off) || !rd_read(r, L->table, (size_t)h->n_tensors * ENTRY_SIZE))
        return read_failed(L);
    CLSSD_TRY(parse_table(L));
    CLSSD_TRY(parse_graph(L, (size_t)h->graph_size));

    int swap = !host_is_little_endian();
    for (int32_t i = 0; i < L->g->n_tensors; i++) {
        clssd_tensor *t = &L->g->tensors[i];
        const unsigned char *e = L->table + (size_t)i * ENTRY_SIZE;
        uint64_t off = h->data_off + get_u64(e + E_OFFSET), size = get_u64(e + E_SIZE);
        if (!rd_skip_to(r, off) || !rd_read(r, t->data, (size_t)size)) return read_failed(L);
        if (swap) {
            unsigned char *b = (unsigned char *)t->data;
            for (size_t k = 0; k < (size_t)size; k += 4) {
                uint32_t u = get_u32(b + k);
                memcpy(b + k, &u, 4);
            }
        }
    }
    if (!rd_skip_to(r, r->size)) return read_failed(L);
    if (r->crc != h->body_crc)
        return failf(L->msg, CLSSD_ERR_BAD_MODEL,
                     "body CRC mismatch (stored 0x%08lx, computed 0x%08lx): the file is corrupt",
                     (unsigned long)h->body_crc, (unsigned long)r->crc);
    return CLSSD_OK;
}

static clssd_status load(reader *r, clssd_graph *g, const char *where, char *err, size_t err_size)
{
    loader *L = clssd__malloc(sizeof *L); /* ~10 KB with the CRC tables: not on the stack */
    if (!L) {
        clssd__graph_free(g);
        report(err, err_size, where, "out of memory");
        return CLSSD_ERR_OUT_OF_MEMORY;
    }
    memset(L, 0, sizeof *L);
    L->r = *r;
    L->g = g;
    crc_table_init(&L->r.table);
    clssd_status s = load_body(L);
    /* A structural error in a file whose body CRC does not match is most likely
     * corruption rather than a bad writer: say so, then what was seen first. Only
     * possible when the file is as long as the header says. */
    if (s == CLSSD_ERR_BAD_MODEL && L->r.crc_on && L->h.data_off + L->h.data_size == L->r.size &&
        L->r.pos < L->r.size && rd_skip_to(&L->r, L->r.size) && L->r.crc != L->h.body_crc) {
        char first[MSG_SIZE];
        memcpy(first, L->msg, sizeof first);
        failf(L->msg, s,
              "body CRC mismatch (stored 0x%08lx, computed 0x%08lx): the file is "
              "corrupt; first problem seen: %s",
              (unsigned long)L->h.body_crc, (unsigned long)L->r.crc, first);
    }
    if (s != CLSSD_OK) {
        clssd__graph_free(g);
        report(err, err_size, where, L->msg);
    } else if (err && err_size) {
        err[0] = '\0';
    }
    ni_free(&L->nodes);
    ni_free(&L->tensors);
    clssd__free(L->text);
    clssd__free(L->table);
    clssd__free(L);
    return s;
}

static int graph_is_empty(const clssd_graph *g)
{
    return g->n_nodes == 0 && g->n_tensors == 0 && g->n_labels == 0;
}

clssd_status clssd__file_load_mem(const void *data, size_t size, clssd_graph *g, char *err,
                                  size_t err_size)
{
    reader r;
    if (!g || (!data && size) || !graph_is_empty(g)) {
        report(err, err_size, "<memory>",
               "invalid argument (the graph must be initialised and empty)");
        return CLSSD_ERR_INVALID_ARG;
    }
    memset(&r, 0, sizeof r);
    r.mem = data ? data : (const void *)"";
    r.size = size;
    return load(&r, g, "<memory>", err, err_size);
}

clssd_status clssd__file_load(const char *path, clssd_graph *g, char *err, size_t err_size)
{
    reader r;
    if (!path || !g || !graph_is_empty(g)) {
        report(err, err_size, path ? path : "(null)",
               "invalid argument (the graph must be initialised and empty)");
        return CLSSD_ERR_INVALID_ARG;
    }
    memset(&r, 0, sizeof r);
    r.f = fopen(path, "rb");
    if (!r.f) {
        char msg[256];
        snprintf(msg, sizeof msg, "cannot open: %s", strerror(errno));
        report(err, err_size, path, msg);
        clssd__graph_free(g);
        return CLSSD_ERR_IO;
    }
    /* The real size bounds every section before anything is allocated from it. */
    off_t end = -1;
    if (fseeko(r.f, 0, SEEK_END) == 0) end = ftello(r.f);
    if (end < 0 || fseeko(r.f, 0, SEEK_SET) != 0) {
        char msg[256];
        snprintf(msg, sizeof msg, "cannot determine the file size: %s", strerror(errno));
        report(err, err_size, path, msg);
        fclose(r.f);
        clssd__graph_free(g);
        return CLSSD_ERR_IO;
    }
    r.size = (uint64_t)end;
    clssd_status s = load(&r, g, path, err, err_size);
    fclose(r.f);
    return s;
}
