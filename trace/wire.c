/* wire.c - primitive field encodings (see wire.h). */
#include "wire.h"

#include <string.h>

#include "bytes.h"
#include "flopmeter/trace_status.h"

size_t fm_varint_put(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static void enc_raw(fm_enc *e, const void *p, size_t n)
{
    if (e->err)
        return;
    int rc = fm_bytebuf_append(e->out, p, n);
    if (rc != FM_OK)
        e->err = rc;
}

void fm_enc_uvar(fm_enc *e, uint64_t v)
{
    uint8_t tmp[FM_VARINT_MAX];
    enc_raw(e, tmp, fm_varint_put(tmp, v));
}

void fm_enc_svar(fm_enc *e, int64_t v)
{
    /* zigzag: small magnitudes of either sign stay short */
    uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    fm_enc_uvar(e, u);
}

void fm_enc_f64(fm_enc *e, double v)
{
    uint8_t tmp[8];
    fm_put_f64(tmp, v);
    enc_raw(e, tmp, 8);
}

void fm_enc_bytes(fm_enc *e, const void *p, size_t n)
{
    fm_enc_uvar(e, n);
    enc_raw(e, p, n);
}

void fm_enc_str(fm_enc *e, fm_str s)
{
    fm_enc_bytes(e, s.ptr, s.ptr ? s.len : 0);
}

void fm_enc_fixed(fm_enc *e, const void *p, size_t n)
{
    enc_raw(e, p, n);
}

uint64_t fm_dec_uvar(fm_dec *d)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (d->err || d->p >= d->end) {
            d->err = FM_E_CORRUPT;
            return 0;
        }
        uint8_t b = *d->p++;
        /* the tenth byte may only carry the top bit of a 64-bit value */
        if (shift == 63 && b > 1) {
            d->err = FM_E_CORRUPT;
            return 0;
        }
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    d->err = FM_E_CORRUPT;
    return 0;
}

int64_t fm_dec_svar(fm_dec *d)
{
    uint64_t u = fm_dec_uvar(d);
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

double fm_dec_f64(fm_dec *d)
{
    if (d->err || d->end - d->p < 8) {
        d->err = FM_E_CORRUPT;
        return 0.0;
    }
    double v = fm_get_f64(d->p);
    d->p += 8;
    return v;
}

fm_str fm_dec_str(fm_dec *d)
{
    fm_str s = {"", 0};
    uint64_t n = fm_dec_uvar(d);
    if (d->err || n > (uint64_t)(d->end - d->p)) {
        d->err = FM_E_CORRUPT;
        return s;
    }
    s.ptr = (const char *)d->p;
    s.len = (size_t)n;
    d->p += n;
    return s;
}

void fm_dec_fixed(fm_dec *d, void *out, size_t n)
{
    if (d->err || (size_t)(d->end - d->p) < n) {
        d->err = FM_E_CORRUPT;
        memset(out, 0, n);
        return;
    }
    memcpy(out, d->p, n);
    d->p += n;
}

uint64_t fm_dec_count(fm_dec *d, size_t min_elem_bytes)
{
    uint64_t n = fm_dec_uvar(d);
    if (d->err)
        return 0;
    if (min_elem_bytes == 0)
        min_elem_bytes = 1;
    if (n > (uint64_t)(d->end - d->p) / min_elem_bytes) {
        d->err = FM_E_CORRUPT;
        return 0;
    }
    return n;
}

size_t fm_dec_remaining(const fm_dec *d)
{
    return (size_t)(d->end - d->p);
}
