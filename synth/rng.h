/* rng.h - a small deterministic pseudo-random generator (xoshiro256**, seeded with
 * splitmix64), so a seed reproduces a synthesized trace exactly on every machine. */
#ifndef FM_SYNTH_RNG_H
#define FM_SYNTH_RNG_H

#include <stdint.h>

typedef struct fm_rng {
    uint64_t s[4];
} fm_rng;

static inline uint64_t fm_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline void fm_rng_seed(fm_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = fm_splitmix64(&seed);
}

static inline uint64_t fm_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t fm_rng_next(fm_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = fm_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = fm_rotl(s[3], 45);
    return result;
}

/* Uniform in [0, 1). */
static inline double fm_rng_uniform(fm_rng *r)
{
    return (double)(fm_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* Uniform integer in [0, n). */
static inline uint32_t fm_rng_below(fm_rng *r, uint32_t n)
{
    return (uint32_t)(((fm_rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

#endif
