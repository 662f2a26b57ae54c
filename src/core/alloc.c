/* Allocation wrappers: one place for overflow checks and injected failures. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "clssd_internal.h"

/* Thread-local so that tests injecting failures in one thread do not disturb
 * contexts used by others; this is test state, not library state. */
static _Thread_local long fail_countdown;

void clssd__alloc_fail_after(long n)
{
    fail_countdown = n;
}

long clssd__alloc_fail_pending(void)
{
    return fail_countdown;
}

/* Blocks handed out and not yet freed: the fault-injection tests' leak check. A relaxed
 * atomic add per allocation costs nothing next to malloc itself. */
static _Atomic long live_blocks;

long clssd__alloc_live(void)
{
    return atomic_load_explicit(&live_blocks, memory_order_relaxed);
}

static void *counted(void *p)
{
    if (p) atomic_fetch_add_explicit(&live_blocks, 1, memory_order_relaxed);
    return p;
}

static int should_fail(void)
{
    if (fail_countdown <= 0) return 0;
    return --fail_countdown == 0;
}

void *clssd__malloc(size_t n)
{
    if (should_fail()) return NULL;
    return counted(malloc(n ? n : 1));
}

void *clssd__calloc(size_t n, size_t size)
{
    if (should_fail()) return NULL;
    return counted(calloc(n ? n : 1, size ? size : 1));
}

void *clssd__realloc(void *p, size_t n)
{
    if (should_fail()) return NULL;
    void *q = realloc(p, n ? n : 1);
    if (!p) counted(q); /* realloc(NULL, n) is an allocation; a move is not */
    return q;
}

void clssd__free(void *p)
{
    if (p) atomic_fetch_sub_explicit(&live_blocks, 1, memory_order_relaxed);
    free(p);
}

int clssd__mul_size(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}

int clssd__add_size(size_t a, size_t b, size_t *out)
{
    if (b > SIZE_MAX - a) return 0;
    *out = a + b;
    return 1;
}

size_t clssd__shape_count(const clssd_shape *s)
{
    if (s->n < 0 || s->c < 0 || s->h < 0 || s->w < 0) return 0;
    size_t r = (size_t)s->n;
    if (!clssd__mul_size(r, (size_t)s->c, &r) || !clssd__mul_size(r, (size_t)s->h, &r) ||
        !clssd__mul_size(r, (size_t)s->w, &r))
        return 0;
    return r;
}

clssd_status clssd__spatial_out(int32_t c, int64_t h, int64_t w, clssd_shape *out, char *err,
                                size_t err_size)
{
    const clssd_shape s = {1, c, (int32_t)(h > INT32_MAX ? 0 : h),
                           (int32_t)(w > INT32_MAX ? 0 : w)};
    const size_t count = clssd__shape_count(&s); /* 0 on overflow */
    if (count == 0 || count > INT32_MAX) {
        snprintf(err, err_size, "output %dx%lldx%lld is too large", c, (long long)h, (long long)w);
        return CLSSD_ERR_BAD_MODEL;
    }
    *out = s;
    return CLSSD_OK;
}
