// test_reader_tamper.cpp - every way of damaging or tampering with a trace is detected and
// reported with its place, and everything before the damage is still delivered.
#include <cstring>
#include <string>

#include <gtest/gtest.h>

#include "test_support.h"

extern "C" {
#include "bytes.h"
#include "chunk.h"
#include "flopmeter/trace_verify.h"
}

namespace {

using fmtest::TempDir;
using Bytes = std::vector<uint8_t>;

class Tamper : public ::testing::Test {
  protected:
    void SetUp() override
    {
        path_ = tmp_.path("t.fmtrace");
        records_ = fmtest::write_sample_trace(path_, 400);
        bytes_ = fmtest::read_file(path_);
        offsets_ = fmtest::chunk_offsets(bytes_);
        ASSERT_GE(offsets_.size(), 5u); // several record chunks and the final one
    }

    size_t chunk_end(size_t i) const
    {
        return i + 1 < offsets_.size() ? offsets_[i + 1] : bytes_.size();
    }

    Bytes chunk(size_t i) const
    {
        return Bytes(bytes_.begin() + (long)offsets_[i], bytes_.begin() + (long)chunk_end(i));
    }

    // Verifies bytes in memory.
    fm_verify_result verify(const Bytes &b)
    {
        fm_verify_result res;
        memset(&res, 0, sizeof res);
        fm_reader *r = nullptr;
        int rc = fm_reader_open_memory(&r, b.data(), b.size(), "mem", res.message,
                                       sizeof res.message);
        if (rc != FM_OK) {
            res.status = rc;
            return res;
        }
        fm_verify_reader(r, nullptr, &res);
        fm_reader_close(r);
        return res;
    }

    TempDir tmp_;
    std::string path_;
    uint64_t records_ = 0;
    Bytes bytes_;
    std::vector<size_t> offsets_;
};

TEST_F(Tamper, IntactTraceVerifies)
{
    auto res = verify(bytes_);
    EXPECT_EQ(res.status, FM_OK) << res.message;
    EXPECT_TRUE(res.complete);
    EXPECT_EQ(res.info.records_before_final, records_);
}

// Cutting the file anywhere: complete chunks before the cut are all delivered, the cut is
// reported as truncation (inside a chunk) or as a missing final chunk (between chunks).
TEST_F(Tamper, TruncationAtEveryOffset)
{
    std::vector<uint64_t> records_before(offsets_.size() + 1, 0);
    for (size_t i = 0; i < offsets_.size(); i++)
        records_before[i + 1] = records_before[i] + fm_get_u32(bytes_.data() + offsets_[i] +
                                                               FM_CH_OFF_RECORDS);
    for (size_t cut = 0; cut < bytes_.size(); cut++) {
        Bytes b(bytes_.begin(), bytes_.begin() + (long)cut);
        auto res = fmtest::read_all(b);
        size_t complete = 0;
        while (complete < offsets_.size() && chunk_end(complete) <= cut)
            complete++;
        if (cut == 0) {
            EXPECT_EQ(res.status, FM_E_NOT_TRACE);
            continue;
        }
        if (cut < FM_FILE_HEADER_SIZE) {
            EXPECT_EQ(res.status, FM_E_TRUNCATED) << cut;
            continue;
        }
        bool at_boundary = cut == FM_FILE_HEADER_SIZE || (complete > 0 && chunk_end(complete - 1) == cut);
        if (at_boundary) {
            EXPECT_EQ(res.status, FM_END) << cut;
            EXPECT_FALSE(res.info.final_seen);
        } else {
            EXPECT_EQ(res.status, FM_E_TRUNCATED) << cut;
            EXPECT_NE(res.error.find("truncated"), std::string::npos) << res.error;
            EXPECT_EQ(res.error_offset, offsets_[complete]) << cut;
        }
        EXPECT_EQ(res.records, records_before[complete]) << cut;
        auto v = verify(b);
        EXPECT_NE(v.status, FM_OK) << cut;
    }
}

// Flipping any single byte anywhere makes verification fail.
TEST_F(Tamper, EverySingleByteFlipIsDetected)
{
    for (size_t pos = 0; pos < bytes_.size(); pos++) {
        for (uint8_t mask : {0x01, 0x80, 0xff}) {
            Bytes b = bytes_;
            b[pos] ^= mask;
            auto res = verify(b);
            ASSERT_NE(res.status, FM_OK) << "flip at " << pos << " mask " << (int)mask;
        }
    }
}

TEST_F(Tamper, CorruptionIsReportedWithItsOffset)
{
    Bytes b = bytes_;
    b[offsets_[2] + 10] ^= 0x40; // inside chunk 2's header
    auto res = fmtest::read_all(b);
    EXPECT_EQ(res.status, FM_E_CORRUPT);
    EXPECT_EQ(res.error_offset, offsets_[2]);
    EXPECT_NE(res.error.find("checksum"), std::string::npos) << res.error;
    EXPECT_NE(res.error.find("byte offset " + std::to_string(offsets_[2])), std::string::npos);

    b = bytes_;
    b[offsets_[1] + FM_CHUNK_HEADER_SIZE + 5] ^= 0x40; // inside chunk 1's payload
    res = fmtest::read_all(b);
    EXPECT_TRUE(res.status == FM_E_CORRUPT) << res.error;
    EXPECT_EQ(res.error_offset, offsets_[1] + FM_CHUNK_HEADER_SIZE);
}

TEST_F(Tamper, SwappedChunksAreDetected)
{
    Bytes b(bytes_.begin(), bytes_.begin() + (long)offsets_[1]);
    Bytes c1 = chunk(1), c2 = chunk(2);
    b.insert(b.end(), c2.begin(), c2.end());
    b.insert(b.end(), c1.begin(), c1.end());
    b.insert(b.end(), bytes_.begin() + (long)offsets_[3], bytes_.end());
    auto res = verify(b);
    EXPECT_EQ(res.status, FM_E_CHAIN);
    EXPECT_NE(std::string(res.message).find("sequence number 2 where 1"), std::string::npos)
        << res.message;
}

TEST_F(Tamper, DroppedAndDuplicatedChunksAreDetected)
{
    Bytes dropped(bytes_.begin(), bytes_.begin() + (long)offsets_[1]);
    dropped.insert(dropped.end(), bytes_.begin() + (long)offsets_[2], bytes_.end());
    EXPECT_EQ(verify(dropped).status, FM_E_CHAIN);

    Bytes dup(bytes_.begin(), bytes_.begin() + (long)offsets_[2]);
    Bytes c1 = chunk(1);
    dup.insert(dup.end(), c1.begin(), c1.end());
    dup.insert(dup.end(), bytes_.begin() + (long)offsets_[2], bytes_.end());
    EXPECT_EQ(verify(dup).status, FM_E_CHAIN);
}

// Rewrites chunk i with a modified payload and a correct header, as a deliberate tamperer
// would; returns the new file.
Bytes rewrite_chunk(const Bytes &file, const std::vector<size_t> &offs, size_t i,
                    void (*edit)(Bytes &raw))
{
    size_t off = offs[i];
    fm_chunk_header h;
    const char *why;
    EXPECT_EQ(fm_chunk_header_parse(file.data() + off, &h, &why), FM_OK);
    Bytes raw(h.raw_len);
    z_stream zs = {};
    inflateInit(&zs);
    EXPECT_EQ(fm_chunk_inflate(&zs, file.data() + off + FM_CHUNK_HEADER_SIZE, h.comp_len,
                               raw.data(), raw.size()),
              FM_OK);
    inflateEnd(&zs);
    edit(raw);
    fm_chunk_builder b;
    fm_chunk_builder_init(&b, 6);
    EXPECT_EQ(fm_chunk_build(&b, h.type, h.seq, h.prev_hash, raw.data(), raw.size(), h.records),
              FM_OK);
    size_t end = i + 1 < offs.size() ? offs[i + 1] : file.size();
    Bytes out(file.begin(), file.begin() + (long)off);
    out.insert(out.end(), b.out.data, b.out.data + b.out.len);
    out.insert(out.end(), file.begin() + (long)end, file.end());
    fm_chunk_builder_free(&b);
    return out;
}

TEST_F(Tamper, RecompressedEditIsCaughtByTheNextChunksHash)
{
    // change the last byte of chunk 1's payload (inside some record's field)
    Bytes b = rewrite_chunk(bytes_, offsets_, 1, [](Bytes &raw) { raw.back() ^= 0x01; });
    auto res = verify(b);
    EXPECT_TRUE(res.status == FM_E_CHAIN || res.status == FM_E_CORRUPT) << res.message;
    if (res.status == FM_E_CHAIN) {
        EXPECT_NE(std::string(res.message).find("chunk 1 (at byte"), std::string::npos)
            << res.message;
    }
}

TEST_F(Tamper, MissingFinalChunkMeansIncomplete)
{
    Bytes b(bytes_.begin(), bytes_.begin() + (long)offsets_.back());
    auto res = verify(b);
    EXPECT_EQ(res.status, FM_E_TRUNCATED);
    EXPECT_FALSE(res.complete);
    EXPECT_NE(std::string(res.message).find("incomplete"), std::string::npos);
    EXPECT_EQ(res.info.records, records_);
}

TEST_F(Tamper, AnythingAfterTheFinalChunkIsRefused)
{
    Bytes garbage = bytes_;
    for (int i = 0; i < 100; i++)
        garbage.push_back((uint8_t)i);
    EXPECT_EQ(verify(garbage).status, FM_E_CORRUPT);

    // a well-formed, correctly chained records chunk after FINAL
    fm_chunk_builder cb;
    fm_chunk_builder_init(&cb, 6);
    uint8_t head[32];
    fm_sha256_2(bytes_.data() + offsets_.back(), bytes_.size() - offsets_.back(), nullptr, 0,
                head);
    uint8_t rec[] = {FM_REC_PHASE_EVENT, 4, 0, 0, 1, 1};
    ASSERT_EQ(fm_chunk_build(&cb, FM_CHUNK_RECORDS, offsets_.size(), head, rec, sizeof rec, 1),
              FM_OK);
    Bytes more = bytes_;
    more.insert(more.end(), cb.out.data, cb.out.data + cb.out.len);
    fm_chunk_builder_free(&cb);
    auto res = verify(more);
    EXPECT_EQ(res.status, FM_E_CORRUPT);
    EXPECT_NE(std::string(res.message).find("after the final chunk"), std::string::npos);
}

TEST_F(Tamper, EditedFinalTotalsAreDetected)
{
    // the final chunk rebuilt with one total changed (and a correct chunk header)
    size_t last = offsets_.size() - 1;
    Bytes b = rewrite_chunk(bytes_, offsets_, last, [](Bytes &raw) {
        // launches_total is the 6th field: skip the five varints before it
        size_t p = 2; // kind, length
        for (int field = 0; field < 5; field++)
            while (raw[p++] & 0x80) {
            }
        raw[p] ^= 0x01;
    });
    auto res = verify(b);
    EXPECT_EQ(res.status, FM_E_CORRUPT) << res.message;
    EXPECT_NE(std::string(res.message).find("launches"), std::string::npos) << res.message;
}

// A trace of one records chunk with the given raw payload, in format 1.<minor>.
Bytes file_with_payload(uint16_t minor, const Bytes &payload, uint32_t records)
{
    fm_file_header fh = {};
    fh.major = FM_FORMAT_MAJOR;
    fh.minor = minor;
    fh.header_size = FM_FILE_HEADER_SIZE;
    uint8_t hdr[FM_FILE_HEADER_SIZE];
    fm_file_header_pack(&fh, hdr);
    uint8_t prev[32];
    fm_sha256_2(hdr, sizeof hdr, nullptr, 0, prev);
    fm_chunk_builder cb;
    fm_chunk_builder_init(&cb, 6);
    EXPECT_EQ(fm_chunk_build(&cb, FM_CHUNK_RECORDS, 0, prev, payload.data(), payload.size(),
                             records),
              FM_OK);
    Bytes out(hdr, hdr + sizeof hdr);
    out.insert(out.end(), cb.out.data, cb.out.data + cb.out.len);
    fm_chunk_builder_free(&cb);
    return out;
}

// What a future minor version may write: a record of a new kind (99), a PHASE_EVENT with one
// more field at its end, and an aggregate of a precision class this version does not define.
const Bytes unknown_kind = {99, 3, 1, 2, 3};
const Bytes longer_event = {FM_REC_PHASE_EVENT, 5, 0, 0, 1, 1, 0x7f};
const Bytes new_class_aggregate = {FM_REC_AGGREGATE, 26, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0x0f,
                                   0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0, 0, 0, 0, 0, 0, 0, 0};

Bytes concat(std::initializer_list<Bytes> parts)
{
    Bytes out;
    for (const auto &p : parts)
        out.insert(out.end(), p.begin(), p.end());
    return out;
}

TEST(Compatibility, NewerMinorVersionIsReadAndUnknownsSkipped)
{
    auto res = fmtest::read_all(file_with_payload(
        FM_FORMAT_MINOR + 1, concat({unknown_kind, longer_event, new_class_aggregate}), 3));
    EXPECT_EQ(res.status, FM_END) << res.error;
    ASSERT_EQ(res.records, 3u);
    EXPECT_EQ(res.kinds[0], 99u);
    EXPECT_EQ(res.kinds[1], (uint32_t)FM_REC_PHASE_EVENT);
    EXPECT_EQ(res.kinds[2], (uint32_t)FM_REC_AGGREGATE);
    EXPECT_EQ(res.info.unknown_records, 1u);
    EXPECT_EQ(res.info.minor, FM_FORMAT_MINOR + 1);
}

// Files of older minor versions stay readable, with the strictness of their version.
TEST(Compatibility, OlderMinorVersionsAreRead)
{
    ASSERT_GE(FM_FORMAT_MINOR, 1u);
    auto ok = fmtest::read_all(file_with_payload(0, concat({new_class_aggregate}), 1));
    EXPECT_EQ(ok.status, FM_E_CORRUPT); // an unknown class is damage in 1.0 too
    const Bytes event = {FM_REC_PHASE_EVENT, 4, 0, 0, 1, 1};
    auto plain = fmtest::read_all(file_with_payload(0, event, 1));
    EXPECT_EQ(plain.status, FM_END) << plain.error;
    EXPECT_EQ(plain.info.minor, 0u);
    // the INPUT record of 1.1 is an unknown kind in a 1.0 file
    const Bytes input = {FM_REC_INPUT, 1, 0};
    EXPECT_EQ(fmtest::read_all(file_with_payload(0, input, 1)).status, FM_E_CORRUPT);
}

// In a file of this reader's own version, the same things can only be damage.
TEST(Compatibility, UnknownsInACurrentVersionFileAreDamage)
{
    auto res = fmtest::read_all(file_with_payload(FM_FORMAT_MINOR, longer_event, 1));
    EXPECT_EQ(res.status, FM_E_CORRUPT);
    EXPECT_NE(res.error.find("longer than its fields"), std::string::npos) << res.error;
    res = fmtest::read_all(file_with_payload(FM_FORMAT_MINOR, unknown_kind, 1));
    EXPECT_EQ(res.status, FM_E_CORRUPT);
    EXPECT_NE(res.error.find("unknown record kind"), std::string::npos) << res.error;
    res = fmtest::read_all(file_with_payload(FM_FORMAT_MINOR, new_class_aggregate, 1));
    EXPECT_EQ(res.status, FM_E_CORRUPT);
    EXPECT_NE(res.error.find("unknown precision class"), std::string::npos) << res.error;
}

Bytes future_file(uint16_t minor)
{
    return file_with_payload(minor, concat({unknown_kind, longer_event}), 2);
}

TEST(Compatibility, NewerMajorVersionAndUnknownRequiredFlagsAreRefused)
{
    Bytes b = future_file(FM_FORMAT_MINOR + 1);
    Bytes major = b;
    fm_put_u16(major.data() + FM_FH_OFF_MAJOR, FM_FORMAT_MAJOR + 1);
    auto res = fmtest::read_all(major);
    EXPECT_EQ(res.status, FM_E_VERSION);
    std::string want = "format " + std::to_string(FM_FORMAT_MAJOR + 1) + "." +
                       std::to_string(FM_FORMAT_MINOR + 1) + ", this reader reads 1.x";
    EXPECT_NE(res.error.find(want), std::string::npos) << res.error;

    Bytes flag = b;
    flag[FM_FH_OFF_FLAGS] |= 0x04;
    EXPECT_EQ(fmtest::read_all(flag).status, FM_E_VERSION);

    // an unknown informational flag is fine for the header (the chain then breaks, since the
    // header is hashed into chunk 0: that is tampering, not a version problem)
    Bytes info = b;
    info[FM_FH_OFF_FLAGS + 5] |= 0x01;
    EXPECT_EQ(fmtest::read_all(info).status, FM_E_CHAIN);
}

TEST(Compatibility, NotATrace)
{
    EXPECT_EQ(fmtest::read_all({}).status, FM_E_NOT_TRACE);
    std::string text = "timestamp,kernel,flop\n1,gemm,100\n";
    Bytes t(text.begin(), text.end());
    t.resize(200, ' ');
    auto res = fmtest::read_all(t);
    EXPECT_EQ(res.status, FM_E_NOT_TRACE);
    EXPECT_NE(res.error.find("magic"), std::string::npos);
    Bytes short_magic = {0x89, 'F', 'L'};
    EXPECT_EQ(fmtest::read_all(short_magic).status, FM_E_TRUNCATED);
    Bytes wrong_short = {0x89, 'X'};
    EXPECT_EQ(fmtest::read_all(wrong_short).status, FM_E_NOT_TRACE);
}

TEST(Compatibility, FileErrorsNameTheFile)
{
    TempDir tmp;
    fm_reader *r = nullptr;
    char err[512];
    EXPECT_EQ(fm_reader_open_file(&r, tmp.path("missing").c_str(), err, sizeof err), FM_E_IO);
    EXPECT_NE(std::string(err).find("missing: cannot open"), std::string::npos) << err;
    EXPECT_EQ(fm_reader_open_file(&r, tmp.dir().c_str(), err, sizeof err), FM_E_IO);
    EXPECT_NE(std::string(err).find("directory"), std::string::npos) << err;
}

} // namespace
