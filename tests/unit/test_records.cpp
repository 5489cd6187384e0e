// test_records.cpp - every record kind survives writer -> file -> reader with every field
// intact; invalid records are refused with a reason; names of enumerations and classes.
#include <cmath>
#include <cstring>
#include <string>

#include <gtest/gtest.h>

#include "test_support.h"

extern "C" {
#include "flopmeter/trace_records.h"
#include "flopmeter/trace_status.h"
}

namespace {

using fmtest::TempDir;

std::string S(fm_str s) { return std::string(s.ptr, s.len); }

// Writes the given records (after interning "k" and "n" as strings 1 and 2), reads them back
// and returns them through the callback while the reader is still open.
template <typename F> void round_trip(const std::vector<fm_record> &recs, F check)
{
    TempDir tmp;
    std::string path = tmp.path("t.fmtrace");
    fm_writer *w = nullptr;
    ASSERT_EQ(fm_writer_open(&w, path.c_str(), nullptr, nullptr, 0), FM_OK);
    ASSERT_EQ(fm_writer_intern(w, "k", 1), 1u);
    ASSERT_EQ(fm_writer_intern(w, "n", 1), 2u);
    for (const auto &r : recs) {
        ASSERT_EQ(fm_writer_append(w, &r), FM_OK) << fm_writer_error(w);
    }
    ASSERT_EQ(fm_writer_close(w, nullptr), FM_OK);
    fm_reader *rd = nullptr;
    ASSERT_EQ(fm_reader_open_file(&rd, path.c_str(), nullptr, 0), FM_OK);
    fm_record got;
    size_t i = 0;
    int rc;
    while ((rc = fm_reader_next(rd, &got)) == FM_OK) {
        if (got.kind == FM_REC_STRING || got.kind == FM_REC_FINAL)
            continue;
        ASSERT_LT(i, recs.size());
        ASSERT_EQ(got.kind, recs[i].kind);
        check(i, got);
        i++;
    }
    EXPECT_EQ(rc, FM_END) << fm_reader_error(rd);
    EXPECT_EQ(i, recs.size());
    fm_reader_close(rd);
}

TEST(Records, RunMetaAndDeviceKeepEveryField)
{
    fm_config_entry cfg[] = {{fm_str_c("a"), fm_str_c("1")}, {fm_str_c(""), fm_str_c("x\ny")}};
    fm_record m = {};
    m.kind = FM_REC_RUN_META;
    m.u.run_meta = {fm_str_c("1.2.3"), fm_str_c("run"), fm_str_c("h\xc3\xa9st"), 123456789,
                    -1, 7, 1024, 1767225600123456789ull, 13000, 12080, 130001,
                    fm_str_c("python train.py --lr 3e-4"), 2, cfg};
    fm_record d = {};
    d.kind = FM_REC_DEVICE;
    d.u.device.device = 3;
    d.u.device.name = fm_str_c("NVIDIA H100 80GB HBM3");
    for (int i = 0; i < 16; i++)
        d.u.device.uuid[i] = (uint8_t)(i * 17);
    d.u.device.chip = fm_str_c("GH100");
    d.u.device.cc_major = 9;
    d.u.device.cc_minor = 0;
    d.u.device.sm_count = 132;
    d.u.device.memory_bytes = 85520809984ull;
    d.u.device.pci_bus_id = fm_str_c("00000000:18:00.0");
    round_trip({m, d}, [&](size_t i, const fm_record &g) {
        if (i == 0) {
            const auto &x = g.u.run_meta;
            EXPECT_EQ(S(x.tool_version), "1.2.3");
            EXPECT_EQ(S(x.run_id), "run");
            EXPECT_EQ(S(x.host), "h\xc3\xa9st");
            EXPECT_EQ(x.pid, 123456789u);
            EXPECT_EQ(x.rank, -1);
            EXPECT_EQ(x.local_rank, 7);
            EXPECT_EQ(x.world_size, 1024u);
            EXPECT_EQ(x.start_unix_ns, 1767225600123456789ull);
            EXPECT_EQ(x.cuda_driver_version, 13000u);
            EXPECT_EQ(x.cuda_runtime_version, 12080u);
            EXPECT_EQ(x.cupti_version, 130001u);
            EXPECT_EQ(S(x.command), "python train.py --lr 3e-4");
            ASSERT_EQ(x.n_config, 2u);
            EXPECT_EQ(S(x.config[0].key), "a");
            EXPECT_EQ(S(x.config[1].key), "");
            EXPECT_EQ(S(x.config[1].value), "x\ny");
        } else {
            const auto &x = g.u.device;
            EXPECT_EQ(x.device, 3u);
            EXPECT_EQ(S(x.name), "NVIDIA H100 80GB HBM3");
            EXPECT_EQ(x.uuid[15], 255);
            EXPECT_EQ(S(x.chip), "GH100");
            EXPECT_EQ(x.cc_major, 9u);
            EXPECT_EQ(x.sm_count, 132u);
            EXPECT_EQ(x.memory_bytes, 85520809984ull);
            EXPECT_EQ(S(x.pci_bus_id), "00000000:18:00.0");
        }
    });
}

TEST(Records, SignaturesCallsitesGroupsSamplesAggregates)
{
    fm_frame frames[3] = {{1, 2, 0x1234}, {2, 0, 0}, {1, 1, UINT64_MAX}};
    fm_record cs = {};
    cs.kind = FM_REC_CALLSITE;
    cs.u.callsite = {9, 3, frames};

    fm_record ks = {};
    ks.kind = FM_REC_KERNEL_SIGNATURE;
    ks.u.kernel_signature = {5, 2, 1, {65535, 2, 3}, {1024, 1, 1}, 232448,
                             0xfedcba9876543210ull, 9, 77};

    fm_metric_def mdef[3] = {{1, 0x01, 1.0}, {2, 0x14, 1.0}, {1, FM_CLASS_NONE, 0.0}};
    fm_record g = {};
    g.kind = FM_REC_METRIC_GROUP;
    g.u.metric_group = {4, fm_str_c("GH100"), 3, mdef};

    double vals[3] = {0.0, 1.5e15, 123456.0};
    fm_record s = {};
    s.kind = FM_REC_COUNTER_SAMPLE;
    s.u.counter_sample = {5, 1ull << 40, 4, 10, 20, 3, 3, vals};

    fm_class_flop cl[3] = {{0x00, 1.0, 0.0}, {0x14, 2.5e18, 1e-3}, {0x35, 0.0, 7.0}};
    fm_record a = {};
    a.kind = FM_REC_AGGREGATE;
    a.u.aggregate = {100, 200, 5, 0, 1000000, 3, 996000, 987654321, 3, cl};

    round_trip({cs, ks, g, s, a}, [&](size_t i, const fm_record &r) {
        switch (i) {
        case 0:
            ASSERT_EQ(r.u.callsite.n_frames, 3u);
            EXPECT_EQ(r.u.callsite.id, 9u);
            EXPECT_EQ(r.u.callsite.frames[0].offset, 0x1234u);
            EXPECT_EQ(r.u.callsite.frames[1].symbol, 0u);
            EXPECT_EQ(r.u.callsite.frames[2].offset, UINT64_MAX);
            break;
        case 1:
            EXPECT_EQ(r.u.kernel_signature.grid[0], 65535u);
            EXPECT_EQ(r.u.kernel_signature.grid[2], 3u);
            EXPECT_EQ(r.u.kernel_signature.block[0], 1024u);
            EXPECT_EQ(r.u.kernel_signature.shared_mem_dynamic, 232448u);
            EXPECT_EQ(r.u.kernel_signature.arg_hash, 0xfedcba9876543210ull);
            EXPECT_EQ(r.u.kernel_signature.callsite, 9u);
            EXPECT_EQ(r.u.kernel_signature.first_seen_ns, 77u);
            break;
        case 2:
            ASSERT_EQ(r.u.metric_group.n_metrics, 3u);
            EXPECT_EQ(S(r.u.metric_group.chip), "GH100");
            EXPECT_EQ(r.u.metric_group.metrics[1].precision_class, 0x14);
            EXPECT_EQ(r.u.metric_group.metrics[2].precision_class, FM_CLASS_NONE);
            EXPECT_EQ(r.u.metric_group.metrics[0].weight, 1.0);
            break;
        case 3:
            EXPECT_EQ(r.u.counter_sample.launch_ordinal, 1ull << 40);
            EXPECT_EQ(r.u.counter_sample.passes, 3u);
            ASSERT_EQ(r.u.counter_sample.n_values, 3u);
            EXPECT_EQ(r.u.counter_sample.values[1], 1.5e15);
            break;
        case 4:
            EXPECT_EQ(r.u.aggregate.launches, 1000000u);
            EXPECT_EQ(r.u.aggregate.launches_measured, 3u);
            EXPECT_EQ(r.u.aggregate.launches_extrapolated, 996000u);
            EXPECT_EQ(r.u.aggregate.busy_ns, 987654321u);
            ASSERT_EQ(r.u.aggregate.n_classes, 3u);
            EXPECT_EQ(r.u.aggregate.classes[1].measured, 2.5e18);
            EXPECT_EQ(r.u.aggregate.classes[1].extrapolated, 1e-3);
            EXPECT_EQ(r.u.aggregate.classes[2].precision_class, 0x35);
            break;
        }
    });
}

TEST(Records, PhasesDeclarationsDegradations)
{
    fm_record pd = {};
    pd.kind = FM_REC_PHASE_DEF;
    pd.u.phase_def = {2, 1, FM_PHASE_RECOMPUTATION};
    fm_record pe = {};
    pe.kind = FM_REC_PHASE_EVENT;
    pe.u.phase_event = {5, 99999, 2, FM_PHASE_POP};
    fm_record dc = {};
    dc.kind = FM_REC_DECLARATION;
    dc.u.declaration = {6, 1, -2.5, 2, 2};
    fm_record dg = {};
    dg.kind = FM_REC_DEGRADATION;
    dg.u.degradation = {7, FM_DEGRADE_INSUFFICIENT_PRIVILEGES, -35, 12, fm_str_c("no rights")};
    round_trip({pd, pe, dc, dg}, [&](size_t i, const fm_record &r) {
        if (i == 0) {
            EXPECT_EQ(r.u.phase_def.category, (uint64_t)FM_PHASE_RECOMPUTATION);
        }
        if (i == 1) {
            EXPECT_EQ(r.u.phase_event.thread_id, 99999u);
            EXPECT_EQ(r.u.phase_event.action, (uint64_t)FM_PHASE_POP);
        }
        if (i == 2) {
            EXPECT_EQ(r.u.declaration.value, -2.5);
            EXPECT_EQ(r.u.declaration.text, 2u);
            EXPECT_EQ(r.u.declaration.phase, 2u);
        }
        if (i == 3) {
            EXPECT_EQ(r.u.degradation.api_result, -35);
            EXPECT_EQ(r.u.degradation.launches_affected, 12u);
            EXPECT_EQ(S(r.u.degradation.message), "no rights");
        }
    });
}

// Each invalid record is refused, the writer says why, and the trace stays usable.
TEST(Records, InvalidRecordsAreRefusedWithoutHarm)
{
    TempDir tmp;
    fm_writer *w = nullptr;
    ASSERT_EQ(fm_writer_open(&w, tmp.path("t").c_str(), nullptr, nullptr, 0), FM_OK);

    fm_class_flop unsorted[2] = {{0x14, 1, 0}, {0x01, 1, 0}};
    fm_class_flop bad_class[1] = {{0x02, 1, 0}}; // tf32 on CUDA cores does not exist
    fm_class_flop nan_flop[1] = {{0x01, NAN, 0}};
    fm_class_flop neg_flop[1] = {{0x01, 0, -1}};
    double inf_value[1] = {INFINITY};
    fm_metric_def bad_weight[1] = {{1, 0x01, -2}};

    std::vector<std::pair<fm_record, std::string>> cases;
    fm_record r = {};
    r.kind = FM_REC_AGGREGATE;
    r.u.aggregate.signature = 1;
    r.u.aggregate.n_classes = 2;
    r.u.aggregate.classes = unsorted;
    cases.push_back({r, "ascending"});
    r.u.aggregate.n_classes = 1;
    r.u.aggregate.classes = bad_class;
    cases.push_back({r, "precision class"});
    r.u.aggregate.classes = nan_flop;
    cases.push_back({r, "not finite"});
    r.u.aggregate.classes = neg_flop;
    cases.push_back({r, "negative"});
    r = {};
    r.kind = FM_REC_AGGREGATE;
    r.u.aggregate.signature = 1;
    r.u.aggregate.launches = 5;
    r.u.aggregate.launches_measured = 3;
    r.u.aggregate.launches_extrapolated = 3;
    cases.push_back({r, "exceed"});
    r.u.aggregate.launches_extrapolated = 0;
    r.u.aggregate.interval_start_ns = 2;
    r.u.aggregate.interval_end_ns = 1;
    cases.push_back({r, "interval"});
    r = {};
    r.kind = FM_REC_COUNTER_SAMPLE;
    r.u.counter_sample = {1, 0, 1, 0, 0, 1, 1, inf_value};
    cases.push_back({r, "counter value"});
    r.u.counter_sample.passes = 0;
    cases.push_back({r, "zero passes"});
    r = {};
    r.kind = FM_REC_METRIC_GROUP;
    r.u.metric_group = {1, fm_str_c("x"), 1, bad_weight};
    cases.push_back({r, "weight"});
    r = {};
    r.kind = FM_REC_PHASE_DEF;
    r.u.phase_def = {1, 1, 99};
    cases.push_back({r, "category"});
    r = {};
    r.kind = FM_REC_KERNEL_SIGNATURE;
    cases.push_back({r, "signature id 0"});
    r = {};
    r.kind = 200;
    cases.push_back({r, "unknown record kind"});
    r = {};
    r.kind = FM_REC_PHASE_EVENT;
    r.u.phase_event = {0, 0, 1, 3};
    cases.push_back({r, "push nor pop"});

    for (auto &c : cases) {
        EXPECT_EQ(fm_writer_append(w, &c.first), FM_E_INVALID) << c.second;
        EXPECT_NE(std::string(fm_writer_error(w)).find(c.second), std::string::npos)
            << fm_writer_error(w);
    }
    // FINAL, SIGNATURE and STRING records only come from the writer itself
    for (uint32_t k : {FM_REC_FINAL, FM_REC_SIGNATURE, FM_REC_STRING}) {
        fm_record x = {};
        x.kind = k;
        EXPECT_EQ(fm_writer_append(w, &x), FM_E_INVALID);
    }
    fm_record ok = {};
    ok.kind = FM_REC_PHASE_EVENT;
    ok.u.phase_event = {0, 0, 1, FM_PHASE_PUSH};
    EXPECT_EQ(fm_writer_append(w, &ok), FM_OK);
    EXPECT_EQ(fm_writer_close(w, nullptr), FM_OK);
}

TEST(Records, TooLargeRecordIsRefused)
{
    TempDir tmp;
    fm_writer *w = nullptr;
    ASSERT_EQ(fm_writer_open(&w, tmp.path("t").c_str(), nullptr, nullptr, 0), FM_OK);
    std::string big(FM_MAX_RECORD_BODY + 1, 'x');
    fm_record r = {};
    r.kind = FM_REC_DEGRADATION;
    r.u.degradation.message = fm_str{big.data(), big.size()};
    EXPECT_EQ(fm_writer_append(w, &r), FM_E_TOO_LARGE);
    EXPECT_EQ(fm_writer_intern(w, big.data(), big.size()), 0u);
    EXPECT_EQ(fm_writer_intern(w, "fine", 4), 1u); // the next id is not skipped
    EXPECT_EQ(fm_writer_close(w, nullptr), FM_OK);
}

TEST(Records, PrecisionClassNamesRoundTrip)
{
    char buf[32];
    int valid = 0;
    for (unsigned c = 0; c < 256; c++) {
        if (!fm_precision_class_valid((uint8_t)c))
            continue;
        valid++;
        uint8_t back = 0;
        ASSERT_EQ(fm_precision_class_parse(fm_precision_class_name((uint8_t)c, buf, sizeof buf),
                                           &back),
                  0);
        EXPECT_EQ(back, c);
    }
    // 5 CUDA-core classes, 9 tensor classes, 8 sparse tensor classes
    EXPECT_EQ(valid, 5 + 9 + 8);
    EXPECT_STREQ(fm_precision_class_name(0x14, buf, sizeof buf), "bf16.tensor");
    EXPECT_STREQ(fm_precision_class_name(0x01, buf, sizeof buf), "fp32.cuda");
    EXPECT_STREQ(fm_precision_class_name(0x35, buf, sizeof buf), "fp8.tensor.sparse");
    EXPECT_FALSE(fm_precision_class_valid(0x11)); // fp32 on tensor cores
    EXPECT_FALSE(fm_precision_class_valid(0x30)); // sparse fp64
    EXPECT_TRUE(fm_precision_class_is_integer(0x18));
    EXPECT_FALSE(fm_precision_class_is_integer(0x15));
    uint8_t out;
    EXPECT_NE(fm_precision_class_parse("fp32.tensor", &out), 0);
}

TEST(Records, EnumerationNamesNeverNull)
{
    for (uint64_t v = 0; v < 300; v++) {
        EXPECT_NE(fm_record_kind_name((uint32_t)v), nullptr);
        EXPECT_NE(fm_phase_category_name(v), nullptr);
        EXPECT_NE(fm_degradation_kind_name(v), nullptr);
        EXPECT_NE(fm_exit_reason_name(v), nullptr);
    }
    EXPECT_STREQ(fm_phase_category_name(FM_PHASE_SYNTHETIC_DATA), "synthetic_data");
    EXPECT_STREQ(fm_record_kind_name(FM_REC_COUNTER_SAMPLE), "counter_sample");
    EXPECT_STREQ(fm_record_kind_name(99), "unknown");
}

} // namespace
