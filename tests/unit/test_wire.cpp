// test_wire.cpp - primitive field encodings: varints at their boundaries, zigzag, binary64,
// strings, and every way a malformed field must be refused.
#include <cmath>
#include <cstring>
#include <limits>

#include <gtest/gtest.h>

extern "C" {
#include "bytebuf.h"
#include "wire.h"
#include "flopmeter/trace_status.h"
}

namespace {

std::vector<uint8_t> encode_u(uint64_t v)
{
    fm_bytebuf b;
    fm_bytebuf_init(&b, 0);
    fm_enc e = {&b, 0};
    fm_enc_uvar(&e, v);
    std::vector<uint8_t> out(b.data, b.data + b.len);
    fm_bytebuf_free(&b);
    return out;
}

TEST(Wire, VarintRoundTripsAtEveryLengthBoundary)
{
    for (int bits = 0; bits <= 64; bits++) {
        for (int delta = -1; delta <= 1; delta++) {
            uint64_t v = bits == 64 ? UINT64_MAX : (bits == 0 ? 0 : (1ull << bits));
            v += (uint64_t)(int64_t)delta;
            auto bytes = encode_u(v);
            size_t expect_len = 1;
            for (uint64_t x = v; x >= 0x80; x >>= 7)
                expect_len++;
            EXPECT_EQ(bytes.size(), expect_len) << v;
            fm_dec d = {bytes.data(), bytes.data() + bytes.size(), 0};
            EXPECT_EQ(fm_dec_uvar(&d), v);
            EXPECT_EQ(d.err, 0);
            EXPECT_EQ(d.p, bytes.data() + bytes.size());
        }
    }
}

TEST(Wire, ZigzagKeepsSmallMagnitudesShort)
{
    const int64_t cases[] = {0, -1, 1, -64, 63, -65, 64, INT64_MIN, INT64_MAX};
    for (int64_t v : cases) {
        fm_bytebuf b;
        fm_bytebuf_init(&b, 0);
        fm_enc e = {&b, 0};
        fm_enc_svar(&e, v);
        if (v >= -64 && v <= 63) {
            EXPECT_EQ(b.len, 1u) << v;
        }
        fm_dec d = {b.data, b.data + b.len, 0};
        EXPECT_EQ(fm_dec_svar(&d), v);
        EXPECT_EQ(d.err, 0);
        fm_bytebuf_free(&b);
    }
}

TEST(Wire, BinaryDoublesAreExact)
{
    const double cases[] = {0.0, -0.0, 1.0, 6.02e23, 1e-300, std::numeric_limits<double>::max(),
                            std::numeric_limits<double>::denorm_min()};
    for (double v : cases) {
        fm_bytebuf b;
        fm_bytebuf_init(&b, 0);
        fm_enc e = {&b, 0};
        fm_enc_f64(&e, v);
        ASSERT_EQ(b.len, 8u);
        fm_dec d = {b.data, b.data + b.len, 0};
        double got = fm_dec_f64(&d);
        EXPECT_EQ(std::memcmp(&got, &v, sizeof v), 0);
        fm_bytebuf_free(&b);
    }
}

TEST(Wire, RefusesOverlongAndUnterminatedVarints)
{
    // eleven continuation bytes
    std::vector<uint8_t> overlong(11, 0x80);
    fm_dec d = {overlong.data(), overlong.data() + overlong.size(), 0};
    fm_dec_uvar(&d);
    EXPECT_EQ(d.err, FM_E_CORRUPT);

    // a tenth byte carrying more than the 64th bit
    std::vector<uint8_t> too_big(9, 0xff);
    too_big.push_back(0x02);
    fm_dec d2 = {too_big.data(), too_big.data() + too_big.size(), 0};
    fm_dec_uvar(&d2);
    EXPECT_EQ(d2.err, FM_E_CORRUPT);

    // input ends inside the varint
    uint8_t cut[] = {0x80, 0x80};
    fm_dec d3 = {cut, cut + 2, 0};
    fm_dec_uvar(&d3);
    EXPECT_EQ(d3.err, FM_E_CORRUPT);
}

TEST(Wire, StringLongerThanInputIsRefused)
{
    uint8_t data[] = {0x05, 'a', 'b'};
    fm_dec d = {data, data + sizeof data, 0};
    fm_str s = fm_dec_str(&d);
    EXPECT_EQ(d.err, FM_E_CORRUPT);
    EXPECT_EQ(s.len, 0u);
}

TEST(Wire, CountIsBoundedByRemainingBytes)
{
    // claims 1000 elements of at least 8 bytes in a 9-byte input
    uint8_t data[] = {0xe8, 0x07, 0, 0, 0, 0, 0, 0, 0};
    fm_dec d = {data, data + sizeof data, 0};
    EXPECT_EQ(fm_dec_count(&d, 8), 0u);
    EXPECT_EQ(d.err, FM_E_CORRUPT);
}

TEST(Wire, ErrorsAreSticky)
{
    uint8_t data[] = {0x80};
    fm_dec d = {data, data + 1, 0};
    fm_dec_uvar(&d);
    ASSERT_EQ(d.err, FM_E_CORRUPT);
    uint8_t ok[] = {0x01};
    d.p = ok;
    d.end = ok + 1;
    EXPECT_EQ(fm_dec_uvar(&d), 0u); // stays failed
    EXPECT_EQ(d.err, FM_E_CORRUPT);
}

TEST(Wire, BytebufHonoursItsLimit)
{
    fm_bytebuf b;
    fm_bytebuf_init(&b, 16);
    uint8_t x[10] = {0};
    EXPECT_EQ(fm_bytebuf_append(&b, x, 10), FM_OK);
    EXPECT_EQ(fm_bytebuf_append(&b, x, 7), FM_E_TOO_LARGE);
    EXPECT_EQ(b.len, 10u);
    EXPECT_EQ(fm_bytebuf_append(&b, x, 6), FM_OK);
    fm_bytebuf_free(&b);
}

} // namespace
