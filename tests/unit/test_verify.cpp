// test_verify.cpp - whole-trace checks beyond framing: references between records, unique
// ids, sample shapes, and the FINAL record's counts.
#include <cstring>
#include <functional>
#include <string>

#include <gtest/gtest.h>

#include "test_support.h"

extern "C" {
#include "chunk.h"
#include "record_codec.h"
#include "flopmeter/trace_totals.h"
#include "flopmeter/trace_verify.h"
}

namespace {

using Bytes = std::vector<uint8_t>;

fm_record run_meta()
{
    fm_record r = {};
    r.kind = FM_REC_RUN_META;
    r.u.run_meta.rank = -1;
    r.u.run_meta.local_rank = -1;
    return r;
}

// Builds a trace by hand (no writer, so nothing is checked on the way): one records chunk
// holding a RUN_META record (unless with_meta is false) and recs, then a FINAL chunk that the
// caller may falsify.
Bytes build(std::vector<fm_record> recs,
            const std::function<void(fm_rec_final &)> &falsify = nullptr, bool with_meta = true)
{
    if (with_meta)
        recs.insert(recs.begin(), run_meta());
    fm_file_header fh = {};
    fh.major = FM_FORMAT_MAJOR;
    fh.minor = FM_FORMAT_MINOR;
    fh.header_size = FM_FILE_HEADER_SIZE;
    uint8_t hdr[FM_FILE_HEADER_SIZE];
    fm_file_header_pack(&fh, hdr);
    Bytes out(hdr, hdr + sizeof hdr);
    uint8_t prev[32];
    fm_sha256_2(hdr, sizeof hdr, nullptr, 0, prev);

    fm_bytebuf body, payload;
    fm_bytebuf_init(&body, 0);
    fm_bytebuf_init(&payload, 0);
    fm_totals totals;
    fm_totals_init(&totals);
    for (const auto &r : recs) {
        const char *why;
        EXPECT_EQ(fm_record_encode(&r, &body, &payload, &why), FM_OK) << why;
        if (r.kind == FM_REC_AGGREGATE)
            fm_totals_add_aggregate(&totals, &r.u.aggregate);
    }
    fm_chunk_builder cb;
    fm_chunk_builder_init(&cb, 6);
    EXPECT_EQ(fm_chunk_build(&cb, FM_CHUNK_RECORDS, 0, prev, payload.data, payload.len,
                             (uint32_t)recs.size()),
              FM_OK);
    out.insert(out.end(), cb.out.data, cb.out.data + cb.out.len);
    fm_sha256_2(cb.out.data, cb.out.len, nullptr, 0, prev);

    fm_class_flop classes[256];
    fm_record f = {};
    f.kind = FM_REC_FINAL;
    f.u.final.chunk_count = 1;
    f.u.final.record_count = recs.size();
    f.u.final.launches_total = totals.launches;
    f.u.final.n_classes = fm_totals_classes(&totals, classes);
    f.u.final.classes = classes;
    memcpy(f.u.final.chain_head, prev, 32);
    if (falsify)
        falsify(f.u.final);
    payload.len = 0;
    const char *why;
    EXPECT_EQ(fm_record_encode(&f, &body, &payload, &why), FM_OK);
    EXPECT_EQ(fm_chunk_build(&cb, FM_CHUNK_FINAL, 1, prev, payload.data, payload.len, 1), FM_OK);
    out.insert(out.end(), cb.out.data, cb.out.data + cb.out.len);
    fm_chunk_builder_free(&cb);
    fm_bytebuf_free(&body);
    fm_bytebuf_free(&payload);
    return out;
}

fm_verify_result verify(const Bytes &b)
{
    fm_verify_result res;
    fm_reader *r = nullptr;
    EXPECT_EQ(fm_reader_open_memory(&r, b.data(), b.size(), "mem", nullptr, 0), FM_OK);
    fm_verify_reader(r, nullptr, &res);
    fm_reader_close(r);
    return res;
}

fm_record str(uint64_t id, const char *s)
{
    fm_record r = {};
    r.kind = FM_REC_STRING;
    r.u.string.id = id;
    r.u.string.text = fm_str_c(s);
    return r;
}

fm_record sig(uint64_t id, uint64_t name, uint64_t callsite = 0)
{
    fm_record r = {};
    r.kind = FM_REC_KERNEL_SIGNATURE;
    r.u.kernel_signature.id = id;
    r.u.kernel_signature.name = name;
    r.u.kernel_signature.callsite = callsite;
    return r;
}

fm_class_flop one_class[1] = {{0x14, 10.0, 20.0}};

fm_record agg(uint64_t signature, uint64_t phase = 0)
{
    fm_record r = {};
    r.kind = FM_REC_AGGREGATE;
    r.u.aggregate.signature = signature;
    r.u.aggregate.phase = phase;
    r.u.aggregate.launches = 3;
    r.u.aggregate.n_classes = 1;
    r.u.aggregate.classes = one_class;
    return r;
}

void expect_problem(const Bytes &b, int status, const std::string &words)
{
    auto res = verify(b);
    EXPECT_EQ(res.status, status) << res.message;
    EXPECT_NE(std::string(res.message).find(words), std::string::npos) << res.message;
}

TEST(Verify, HandBuiltTraceIsIntact)
{
    auto res = verify(build({str(1, "k"), sig(1, 1), agg(1), agg(1)}));
    EXPECT_EQ(res.status, FM_OK) << res.message;
    EXPECT_EQ(res.launches, 6u);
    EXPECT_EQ(res.records_by_kind[FM_REC_AGGREGATE], 2u);
}

TEST(Verify, UndefinedReferencesAreReported)
{
    expect_problem(build({sig(1, 7)}), FM_E_CORRUPT, "refers to string 7");
    expect_problem(build({str(1, "k"), sig(1, 1, 4)}), FM_E_CORRUPT, "refers to callsite 4");
    expect_problem(build({agg(2)}), FM_E_CORRUPT, "refers to kernel signature 2");
    expect_problem(build({str(1, "k"), sig(1, 1), agg(1, 3)}), FM_E_CORRUPT, "refers to phase 3");
    // a definition after its use is as bad as none
    expect_problem(build({sig(1, 1), str(1, "k")}), FM_E_CORRUPT, "not defined before");
}

TEST(Verify, RunMetaOpensTheTraceOnce)
{
    expect_problem(build({str(1, "k")}, nullptr, false), FM_E_CORRUPT,
                   "first record is not a run_meta");
    expect_problem(build({str(1, "k"), run_meta()}), FM_E_CORRUPT, "second run_meta");
}

TEST(Verify, DuplicateIdsAreReported)
{
    expect_problem(build({str(1, "a"), str(1, "b")}), FM_E_CORRUPT, "string 1 is defined twice");
    expect_problem(build({str(1, "a"), sig(1, 1), sig(1, 1)}), FM_E_CORRUPT, "defined twice");
}

TEST(Verify, SampleMustMatchItsGroup)
{
    fm_metric_def m[2] = {{1, 0x01, 1.0}, {1, 0x01, 2.0}};
    fm_record g = {};
    g.kind = FM_REC_METRIC_GROUP;
    g.u.metric_group = {1, fm_str_c("GH100"), 2, m};
    double v[3] = {1, 2, 3};
    fm_record s = {};
    s.kind = FM_REC_COUNTER_SAMPLE;
    s.u.counter_sample = {1, 0, 1, 0, 0, 1, 3, v};
    expect_problem(build({str(1, "k"), sig(1, 1), g, s}), FM_E_CORRUPT, "3 values, its group 2");
    s.u.counter_sample.n_values = 2;
    EXPECT_EQ(verify(build({str(1, "k"), sig(1, 1), g, s})).status, FM_OK);
    s.u.counter_sample.group = 2;
    expect_problem(build({str(1, "k"), sig(1, 1), g, s}), FM_E_CORRUPT, "metric group 2");
}

TEST(Verify, FinalRecordMustAgreeWithTheTrace)
{
    std::vector<fm_record> recs = {str(1, "k"), sig(1, 1), agg(1)};
    expect_problem(build(recs, [](fm_rec_final &f) { f.record_count--; }), FM_E_CORRUPT,
                   "counts 3 records, the trace has 4");
    expect_problem(build(recs, [](fm_rec_final &f) { f.chunk_count = 5; }), FM_E_CORRUPT,
                   "counts 5 chunks");
    expect_problem(build(recs, [](fm_rec_final &f) { f.launches_total = 4; }), FM_E_CORRUPT,
                   "counts 4 launches");
    expect_problem(build(recs, [](fm_rec_final &f) { f.chain_head[0] ^= 1; }), FM_E_CHAIN,
                   "chain head");
    static fm_class_flop more[1] = {{0x14, 10.0, 20.000000000000004}};
    expect_problem(build(recs,
                         [](fm_rec_final &f) {
                             f.classes = more; // one ulp off is still a different total
                         }),
                   FM_E_CORRUPT, "operation totals");
}

} // namespace
