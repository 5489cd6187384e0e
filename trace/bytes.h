/* bytes.h - little-endian loads and stores, independent of the host's byte order. */
#ifndef FM_TRACE_BYTES_H
#define FM_TRACE_BYTES_H

#include <stdint.h>
#include <string.h>

static inline void fm_put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void fm_put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void fm_put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t fm_get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t fm_get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static inline uint64_t fm_get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* IEEE 754 binary64, stored as the little-endian bytes of its bit pattern. */
static inline void fm_put_f64(uint8_t *p, double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    fm_put_u64(p, bits);
}

static inline double fm_get_f64(const uint8_t *p)
{
    uint64_t bits = fm_get_u64(p);
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

#endif
