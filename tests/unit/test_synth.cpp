// test_synth.cpp - the synthesizer: deterministic, consistent with what it reports, and the
// shipped example is exactly what the documented command produces.
#include <cmath>
#include <string>

#include <gtest/gtest.h>

#include "test_support.h"

extern "C" {
#include "flopmeter/synth.h"
#include "flopmeter/trace_verify.h"
}

namespace {

using fmtest::TempDir;

fm_synth_params small()
{
    fm_synth_params p;
    fm_synth_params_init(&p);
    p.steps = 60;
    p.signatures = 120;
    p.launches_per_step = 300;
    p.eval_every = 20;
    p.eval_steps = 3;
    p.busy_from_step = 30;
    p.busy_steps = 2;
    return p;
}

TEST(Synth, SameSeedSameBytesOtherSeedOtherBytes)
{
    TempDir tmp;
    fm_synth_params p = small();
    char err[256];
    ASSERT_EQ(fm_synth_write(tmp.path("a").c_str(), &p, nullptr, err, sizeof err), FM_OK) << err;
    ASSERT_EQ(fm_synth_write(tmp.path("b").c_str(), &p, nullptr, err, sizeof err), FM_OK) << err;
    p.seed = 2;
    ASSERT_EQ(fm_synth_write(tmp.path("c").c_str(), &p, nullptr, err, sizeof err), FM_OK) << err;
    auto a = fmtest::read_file(tmp.path("a"));
    EXPECT_EQ(a, fmtest::read_file(tmp.path("b")));
    EXPECT_NE(a, fmtest::read_file(tmp.path("c")));
}

// What the summary says the trace contains is what a reader finds in it.
TEST(Synth, TraceAgreesWithTheSummary)
{
    TempDir tmp;
    fm_synth_params p = small();
    fm_synth_summary s;
    char err[256];
    std::string path = tmp.path("t");
    ASSERT_EQ(fm_synth_write(path.c_str(), &p, &s, err, sizeof err), FM_OK) << err;
    fm_verify_result v;
    ASSERT_EQ(fm_verify_file(path.c_str(), nullptr, &v), FM_OK) << v.message;
    EXPECT_EQ(v.launches, s.launches);
    EXPECT_EQ(v.info.records, s.records);
    EXPECT_EQ(v.records_by_kind[FM_REC_COUNTER_SAMPLE], s.counter_samples);
    EXPECT_EQ(s.launches, s.launches_measured + s.launches_extrapolated + s.launches_unmeasured);
    EXPECT_GT(s.launches_unmeasured, 0u); // the busy window
    EXPECT_EQ(v.records_by_kind[FM_REC_DEGRADATION], 1u);
    EXPECT_EQ(v.records_by_kind[FM_REC_KERNEL_SIGNATURE], (uint64_t)p.signatures);

    fm_reader *r = nullptr;
    ASSERT_EQ(fm_reader_open_file(&r, path.c_str(), nullptr, 0), FM_OK);
    fm_record rec;
    double measured = 0, extrapolated = 0;
    uint64_t lm = 0, le = 0, recompute_launches = 0;
    while (fm_reader_next(r, &rec) == FM_OK) {
        if (rec.kind != FM_REC_AGGREGATE)
            continue;
        lm += rec.u.aggregate.launches_measured;
        le += rec.u.aggregate.launches_extrapolated;
        if (rec.u.aggregate.phase == 3)
            recompute_launches += rec.u.aggregate.launches;
        for (uint64_t i = 0; i < rec.u.aggregate.n_classes; i++) {
            measured += rec.u.aggregate.classes[i].measured;
            extrapolated += rec.u.aggregate.classes[i].extrapolated;
        }
    }
    fm_reader_close(r);
    EXPECT_EQ(lm, s.launches_measured);
    EXPECT_EQ(le, s.launches_extrapolated);
    EXPECT_GT(recompute_launches, 0u);
    EXPECT_NEAR(measured / s.flop_measured, 1.0, 1e-12);
    EXPECT_NEAR(extrapolated / s.flop_extrapolated, 1.0, 1e-12);
    // extrapolation from per-signature means is close to the truth (a few kernels vary)
    double total = measured + extrapolated;
    double unmeasured_share = (double)s.launches_unmeasured / (double)s.launches;
    EXPECT_NEAR(total / s.flop_true, 1.0 - unmeasured_share, 0.05);
}

// The simulated work matches the declared model: 6 x parameters x tokens per training step,
// plus the forward work again when activations are recomputed.
TEST(Synth, WorkMatchesTheDeclaredModel)
{
    TempDir tmp;
    fm_synth_params p = small();
    p.eval_every = 0;
    p.busy_steps = 0;
    p.recomputation = 0;
    fm_synth_summary s;
    char err[256];
    ASSERT_EQ(fm_synth_write(tmp.path("t").c_str(), &p, &s, err, sizeof err), FM_OK) << err;
    double params = 12.0 * p.layers * (double)p.hidden * p.hidden + (double)p.vocab * p.hidden;
    double six_nd = 6.0 * params * p.micro_batch * p.seq_len * p.steps;
    EXPECT_NEAR(s.flop_true / six_nd, 1.05, 0.06);
}

TEST(Synth, InvalidParametersAreRefused)
{
    TempDir tmp;
    char err[256];
    fm_synth_params p = small();
    p.rank = p.world_size;
    EXPECT_EQ(fm_synth_write(tmp.path("t").c_str(), &p, nullptr, err, sizeof err), FM_E_INVALID);
    p = small();
    p.hidden = 100;
    p.heads = 16; // not a divisor
    EXPECT_EQ(fm_synth_write(tmp.path("t").c_str(), &p, nullptr, err, sizeof err), FM_E_INVALID);
}

// examples/example.fmtrace must be exactly what `flopmeter synth` with the options in
// examples/README.md writes: a format change that forgets the example fails here.
TEST(Synth, ShippedExampleIsReproducible)
{
    TempDir tmp;
    std::string out = tmp.path("example.fmtrace");
    auto r = fmtest::run_flopmeter("synth --quiet --out '" + out + "' --seed 2026 --world-size 8");
    ASSERT_EQ(r.status, 0) << r.err;
    auto shipped = fmtest::read_file(std::string(FLOPMETER_SOURCE_DIR) + "/examples/example.fmtrace");
    ASSERT_FALSE(shipped.empty()) << "examples/example.fmtrace is missing";
    EXPECT_EQ(fmtest::read_file(out), shipped)
        << "regenerate it: flopmeter synth --out examples/example.fmtrace --seed 2026 --world-size 8";
}

} // namespace
