/* wire.h - the primitive field encodings of trace records (docs/trace-format.md, "Fields"):
 * unsigned LEB128 varints, zigzag signed varints, little-endian binary64, length-prefixed byte
 * strings and fixed-size byte arrays. Both directions keep a sticky error, so a sequence of
 * calls is checked once at the end. */
#ifndef FM_TRACE_WIRE_H
#define FM_TRACE_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "bytebuf.h"
#include "flopmeter/trace_records.h"

/* Longest encoding of a 64-bit varint. */
#define FM_VARINT_MAX 10

typedef struct fm_enc {
    fm_bytebuf *out;
    int err; /* first fm_status error, 0 when none */
} fm_enc;

void fm_enc_uvar(fm_enc *e, uint64_t v);
void fm_enc_svar(fm_enc *e, int64_t v);
void fm_enc_f64(fm_enc *e, double v);
void fm_enc_bytes(fm_enc *e, const void *p, size_t n); /* varint length, then the bytes */
void fm_enc_str(fm_enc *e, fm_str s);
void fm_enc_fixed(fm_enc *e, const void *p, size_t n); /* exactly n bytes, no length */

/* Writes v as a varint into p (at least FM_VARINT_MAX bytes); returns the bytes used. */
size_t fm_varint_put(uint8_t *p, uint64_t v);

typedef struct fm_dec {
    const uint8_t *p;
    const uint8_t *end;
    int err; /* FM_E_CORRUPT once anything was out of bounds or malformed */
} fm_dec;

uint64_t fm_dec_uvar(fm_dec *d);
int64_t fm_dec_svar(fm_dec *d);
double fm_dec_f64(fm_dec *d);
fm_str fm_dec_str(fm_dec *d); /* points into the input */
void fm_dec_fixed(fm_dec *d, void *out, size_t n);
/* Reads an element count and checks that at least count * min_elem_bytes bytes remain, so a
 * corrupted count can never make the caller allocate more than the input could describe. */
uint64_t fm_dec_count(fm_dec *d, size_t min_elem_bytes);
size_t fm_dec_remaining(const fm_dec *d);

#endif
