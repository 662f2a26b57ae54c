/* Names for the temporary files that cache writers rename into place. */
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#include "clssd_internal.h"

/* The pid keeps processes sharing a cache directory apart; the counter keeps apart the threads
 * (contexts) of one process writing the same entry at once, which with the pid alone would
 * open, truncate and interleave one file and rename a torn mix into place. */
static _Atomic unsigned long tmp_serial;

void clssd__tmp_name(char *out, size_t size, const char *path)
{
    const unsigned long serial = atomic_fetch_add_explicit(&tmp_serial, 1, memory_order_relaxed);
    snprintf(out, size, "%s.tmp.%ld.%lu", path, (long)getpid(), serial);
}
