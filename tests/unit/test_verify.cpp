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
    std::vector<Bytes> stored;
    for (const auto &r : recs)
        stored.push_back(fmtest::stored_record(r));
    return fmtest::hand_built_trace(stored, 0, FM_FORMAT_MINOR, falsify);
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

// ---- merged traces: each input runs from its RUN_META to one INPUT record (format 1.1) ----

fm_record meta_of_rank(int64_t rank)
{
    fm_record r = run_meta();
    r.u.run_meta.rank = rank;
    return r;
}

fm_record input(uint64_t index, int64_t rank, uint64_t complete = 1,
                uint64_t exit_reason = FM_EXIT_NORMAL)
{
    fm_record r = {};
    r.kind = FM_REC_INPUT;
    r.u.input.index = index;
    r.u.input.path = fm_str_c("rank.fmtrace");
    r.u.input.complete = complete;
    r.u.input.rank = rank;
    r.u.input.exit_reason = exit_reason;
    return r;
}

// A merged trace (file flag merged) of exactly these records, in format 1.<minor>.
Bytes merged(const std::vector<fm_record> &recs, unsigned minor = FM_FORMAT_MINOR)
{
    std::vector<Bytes> stored;
    for (const auto &r : recs)
        stored.push_back(fmtest::stored_record(r));
    return fmtest::hand_built_trace(stored, FM_FILE_FLAG_MERGED, minor);
}

TEST(VerifyMerged, InputsEachClosedByTheirInputRecordAreIntact)
{
    auto res = verify(merged({meta_of_rank(0), str(1, "k"), sig(1, 1), agg(1), input(0, 0),
                              meta_of_rank(1), agg(1), input(1, 1, 0), meta_of_rank(-1),
                              input(2, -1)}));
    EXPECT_EQ(res.status, FM_OK) << res.message;
    EXPECT_EQ(res.inputs, 3u);
    EXPECT_EQ(res.inputs_incomplete, 1u);
    EXPECT_EQ(res.launches, 6u);
}

TEST(VerifyMerged, EveryInputEndsWithOneInputRecord)
{
    // no input records at all: the second RUN_META opens an input while the first is open
    expect_problem(merged({meta_of_rank(0), meta_of_rank(1)}), FM_E_CORRUPT,
                   "run_meta record of input 1 before the input record that ends input 0");
    // the same in a newer minor version's file: the structure is 1.1's and stays
    expect_problem(merged({meta_of_rank(0), meta_of_rank(1)}, FM_FORMAT_MINOR + 1),
                   FM_E_CORRUPT, "before the input record that ends input 0");
    // the last input open when FINAL comes
    expect_problem(merged({meta_of_rank(0), input(0, 0), meta_of_rank(1)}), FM_E_CORRUPT,
                   "input 1 of the merged trace does not end with an input record");
    // an INPUT record without an input open
    expect_problem(merged({meta_of_rank(0), input(0, 0), input(1, 0)}), FM_E_CORRUPT,
                   "an input record without a run_meta record opening its input");
    // records between one input's INPUT record and the next RUN_META, or after the last
    expect_problem(merged({meta_of_rank(0), input(0, 0), str(1, "k"), meta_of_rank(1),
                           input(1, 1)}),
                   FM_E_CORRUPT, "a string record outside the inputs of the merged trace");
    expect_problem(merged({meta_of_rank(0), input(0, 0), str(1, "k")}), FM_E_CORRUPT,
                   "outside the inputs");
}

TEST(VerifyMerged, InputIndexCountsTheInputRecordsBeforeIt)
{
    expect_problem(merged({meta_of_rank(0), input(1, 0)}), FM_E_CORRUPT,
                   "input record with index 1, but 0 input records precede it");
    expect_problem(merged({meta_of_rank(0), input(0, 0), meta_of_rank(1), input(0, 1)}),
                   FM_E_CORRUPT, "index 0, but 1 input records precede it");
    expect_problem(merged({meta_of_rank(0), input(0, 0), meta_of_rank(1), input(2, 1)}),
                   FM_E_CORRUPT, "index 2, but 1 input records precede it");
}

TEST(VerifyMerged, InputRankIsTheRankOfItsRunMeta)
{
    expect_problem(merged({meta_of_rank(0), input(0, 1)}), FM_E_CORRUPT,
                   "input record of input 0 gives rank 1, its run_meta record 0");
    expect_problem(merged({meta_of_rank(-1), input(0, 0)}), FM_E_CORRUPT,
                   "gives rank 0, its run_meta record -1");
}

// Messages name the file and the position, as the reader's do.
TEST(VerifyMerged, MessagesNameFileAndOffset)
{
    auto res = verify(merged({meta_of_rank(0), input(1, 0)}));
    std::string msg = res.message;
    EXPECT_EQ(msg.rfind("mem: chunk 0: ", 0), 0u) << msg;
    EXPECT_NE(msg.find("(byte offset 64)"), std::string::npos) << msg;
    EXPECT_EQ(res.offset, 64u);
}

// The INPUT record's exit reason is an enumeration like FINAL's: unknown values are damage in
// a file of this version, shown as unknown in a newer minor version's file.
TEST(VerifyMerged, UnknownInputExitReasonOnlyInNewerMinorVersions)
{
    fm_record in = input(0, 0, 1, FM_EXIT_TOOL);
    Bytes stored = fmtest::stored_record(in);
    ASSERT_EQ(stored[stored.size() - 2], FM_EXIT_TOOL); // exit_reason, then records_dropped 0
    stored[stored.size() - 2] = FM_EXIT_TOOL + 1;
    const char *why = "";
    in.u.input.exit_reason = FM_EXIT_TOOL + 1;
    EXPECT_NE(fm_record_check(&in, 1, &why), FM_OK); // no writer of this version writes it
    for (unsigned minor : {FM_FORMAT_MINOR, FM_FORMAT_MINOR + 1}) {
        auto res = verify(fmtest::hand_built_trace(
            {fmtest::stored_record(meta_of_rank(0)), stored}, FM_FILE_FLAG_MERGED, minor));
        if (minor == FM_FORMAT_MINOR) {
            EXPECT_EQ(res.status, FM_E_CORRUPT) << res.message;
            EXPECT_NE(std::string(res.message).find("unknown exit reason"), std::string::npos)
                << res.message;
        } else {
            EXPECT_EQ(res.status, FM_OK) << res.message;
        }
    }
}

// 1.0 had no INPUT record: in a 1.0 file kind 15 is an unknown kind, hence damage, and a
// merged 1.0 trace is one RUN_META per input with nothing marking where an input ends.
TEST(VerifyMerged, FormatOneZeroHasNoInputRecords)
{
    auto res = verify(merged({meta_of_rank(0), input(0, 0)}, 0));
    EXPECT_EQ(res.status, FM_E_CORRUPT) << res.message;
    EXPECT_NE(std::string(res.message).find("unknown record kind"), std::string::npos)
        << res.message;
    res = verify(merged({meta_of_rank(0), str(1, "k"), meta_of_rank(1)}, 0));
    EXPECT_EQ(res.status, FM_OK) << res.message;
    EXPECT_EQ(res.inputs, 0u);
}

} // namespace
