/* xorshift64* with explicit state: reproducible across platforms, no rand(). */
#include <math.h>

#include "clssd_internal.h"

void clssd__rng_seed(clssd_rng *r, uint64_t seed)
{
    /* splitmix64 of the seed, so that small seeds give well-mixed states and 0 works. */
    uint64_t z = seed + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    r->s = z ? z : 0x2545F4914F6CDD1Dull;
}

uint64_t clssd__rng_u64(clssd_rng *r)
{
    uint64_t x = r->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

float clssd__rng_uniform(clssd_rng *r)
{
    return (float)(clssd__rng_u64(r) >> 40) * (1.0f / 16777216.0f);
}

float clssd__rng_range(clssd_rng *r, float lo, float hi)
{
    return lo + (hi - lo) * clssd__rng_uniform(r);
}

float clssd__rng_normal(clssd_rng *r)
{
    /* Box-Muller; u1 in (0, 1] keeps log finite. */
    float u1 = 1.0f - clssd__rng_uniform(r);
    float u2 = clssd__rng_uniform(r);
    return sqrtf(-2.0f * logf(u1)) * cosf(6.2831853f * u2);
}
