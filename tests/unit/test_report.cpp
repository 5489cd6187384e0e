// test_report.cpp - the report's computation: rule bases and verdicts at, under and over each
// line; the interval from samples against the simulated truth; projection; multi-rank jobs;
// and bad input.
#include <cmath>
#include <cstring>
#include <string>

#include <gtest/gtest.h>

#include "test_support.h"

extern "C" {
#include "report.h"
#include "report_format.h"
#include "flopmeter/synth.h"
}

namespace {

using fmtest::run_flopmeter;
using fmtest::TempDir;

const char *test_profile =
    "[profile]\nid = t\ntitle = T\njurisdiction = J\ndocument = D\nstatus = in-force\n"
    "counts_integer_operations = no\nsource = S\nverified = yes\n"
    "[basis train]\ntitle = training\nincludes = pretraining finetuning\nsource = S\n"
    "[basis all]\ntitle = everything\nincludes = pretraining finetuning evaluation "
    "recomputation\nsource = S\n"
    "[threshold strict]\ntitle = strict\nbasis = train\nvalue = 1e20\ncomparison = greater\n"
    "source = S\n"
    "[threshold inclusive]\ntitle = inclusive\nbasis = train\nvalue = 1e20\n"
    "comparison = greater-or-equal\nsource = S\n"
    "[threshold text]\ntitle = text only\nbasis = all\nvalue = 1e20\ncomparison = greater\n"
    "condition = modality:text\nsource = S\n"
    "[threshold mod]\ntitle = modifier\nbasis = train\nrelative_to_original = 1/3\n"
    "fallback = 1e23/3\nfallback_systemic = 1e25/3\ncomparison = greater\nsource = S\n";

class Rules : public ::testing::Test {
  protected:
    void SetUp() override
    {
        char err[512];
        memset(&data_, 0, sizeof data_);
        ASSERT_EQ(rp_data_add_text(&data_, "thresholds", "t.ini", test_profile,
                                   strlen(test_profile), err, sizeof err),
                  0)
            << err;
        ASSERT_EQ(rp_model_init(&m_), 0);
        rp_facts_init(&facts_);
    }
    void TearDown() override
    {
        rp_model_free(&m_);
        rp_data_free(&data_);
    }
    // Work of one phase category, bf16 on tensor cores.
    void work(uint32_t category, double flop)
    {
        m_.by_class[category][FM_CLASS_TENSOR | FM_FMT_BF16].measured = flop;
    }
    const rp_threshold_result &compute(const char *threshold)
    {
        char err[512] = "";
        if (have_)
            rp_report_free(&r_);
        EXPECT_EQ(rp_report_compute(&r_, &m_, &facts_, &data_, nullptr, err, sizeof err), 0)
            << err;
        have_ = true;
        for (uint32_t i = 0; i < r_.profiles[0].p->n_thresholds; i++)
            if (strcmp(r_.profiles[0].thresholds[i].t->name, threshold) == 0)
                return r_.profiles[0].thresholds[i];
        throw std::runtime_error("no such threshold");
    }
    ~Rules() override
    {
        if (have_)
            rp_report_free(&r_);
    }
    rp_data data_;
    rp_model m_;
    rp_facts facts_;
    rp_report r_;
    bool have_ = false;
};

TEST_F(Rules, AtUnderAndOverTheLine)
{
    const double line = 1e20, under = std::nextafter(line, 0), over = std::nextafter(line, 1e30);
    work(FM_PHASE_PRETRAINING, under);
    EXPECT_FALSE(compute("strict").crossed);
    EXPECT_FALSE(compute("inclusive").crossed);
    work(FM_PHASE_PRETRAINING, line);
    EXPECT_FALSE(compute("strict").crossed); // "greater than": the line itself is not over
    EXPECT_TRUE(compute("inclusive").crossed);
    EXPECT_DOUBLE_EQ(compute("strict").fraction, 1.0);
    work(FM_PHASE_PRETRAINING, over);
    EXPECT_TRUE(compute("strict").crossed);
    EXPECT_NE(std::string(compute("strict").verdict).find("Over the line: 1.0×10^20 FLOP counted"),
              std::string::npos)
        << compute("strict").verdict;
}

TEST_F(Rules, BasesCountTheirCategoriesAndListTheRest)
{
    work(FM_PHASE_PRETRAINING, 6e19);
    work(FM_PHASE_FINETUNING, 2e19);
    work(FM_PHASE_EVALUATION, 5e19);
    work(FM_PHASE_RECOMPUTATION, 3e19);
    m_.by_class[FM_PHASE_PRETRAINING][FM_CLASS_TENSOR | FM_FMT_INT8].measured = 9e19; // integer
    const auto &x = compute("strict");
    EXPECT_DOUBLE_EQ(x.counted, 8e19); // integers not counted by this profile
    EXPECT_FALSE(x.crossed);
    const rp_basis_result &train = r_.profiles[0].bases[0];
    EXPECT_DOUBLE_EQ(train.excluded[FM_PHASE_EVALUATION], 5e19);
    EXPECT_DOUBLE_EQ(train.excluded[FM_PHASE_RECOMPUTATION], 3e19);
    EXPECT_DOUBLE_EQ(r_.profiles[0].bases[1].counted.value, 16e19);
    EXPECT_TRUE(compute("text").crossed);
}

TEST_F(Rules, ModalityCondition)
{
    work(FM_PHASE_PRETRAINING, 2e20);
    EXPECT_EQ(compute("text").condition, -1);
    EXPECT_NE(std::string(compute("text").verdict).find("modality is not declared"),
              std::string::npos);
    facts_.modalities = RP_MODALITY_BIOLOGY;
    EXPECT_EQ(compute("text").condition, 0);
    EXPECT_NE(std::string(compute("text").verdict).find("does not apply"), std::string::npos);
    facts_.modalities = RP_MODALITY_TEXT | RP_MODALITY_IMAGE;
    EXPECT_EQ(compute("text").condition, 1);
}

TEST_F(Rules, RelativeLinesAndTheirFallbacks)
{
    work(FM_PHASE_FINETUNING, 1e22);
    EXPECT_DOUBLE_EQ(compute("mod").threshold, 1e23 / 3); // unknown: the lower fallback
    EXPECT_NE(std::string(compute("mod").threshold_from).find("lower fallback"),
              std::string::npos);
    facts_.original_systemic = 1;
    EXPECT_DOUBLE_EQ(compute("mod").threshold, 1e25 / 3);
    facts_.original_systemic = 0;
    EXPECT_DOUBLE_EQ(compute("mod").threshold, 1e23 / 3);
    facts_.v[RP_F_ORIGINAL_COMPUTE] = 2.4e22;
    EXPECT_DOUBLE_EQ(compute("mod").threshold, 0.8e22);
    EXPECT_TRUE(compute("mod").crossed); // 1e22 > one third of 2.4e22
}

TEST_F(Rules, MarginOfThirtyPercent)
{
    work(FM_PHASE_PRETRAINING, 0.8e20); // 1e20 lies within [0.56e20, 1.04e20]
    EXPECT_TRUE(compute("strict").straddling & (1u << FM_EST_COUNT));
    work(FM_PHASE_PRETRAINING, 0.76e20); // 1.3 * 0.76 = 0.988: outside
    EXPECT_FALSE(compute("strict").straddling & (1u << FM_EST_COUNT));
    // a formula estimate whose band reaches the line is named too
    facts_.v[RP_F_PARAMETERS] = 1e9;
    facts_.v[RP_F_TOKENS] = 1.6e10; // 6ND = 9.6e19
    const auto &x = compute("strict");
    EXPECT_TRUE(x.straddling & (1u << FM_EST_6ND));
    EXPECT_NE(std::string(x.verdict).find("within the ±30% margin of 6ND"), std::string::npos)
        << x.verdict;
}

TEST_F(Rules, ProjectionFindsTheCrossing)
{
    work(FM_PHASE_PRETRAINING, 2e19);
    facts_.v[RP_F_TOKENS] = 1e9;       // 2e10 FLOP per token
    facts_.v[RP_F_STEPS] = 1000;       // 1e6 tokens per step
    facts_.v[RP_F_PLAN_TOKENS] = 1e10; // the whole run: 2e20 FLOP
    const auto &x = compute("strict");
    ASSERT_TRUE(x.projected);
    EXPECT_DOUBLE_EQ(x.projected_total, 2e20);
    EXPECT_TRUE(x.crosses_in_plan);
    EXPECT_DOUBLE_EQ(x.cross_tokens, 5e9);
    EXPECT_DOUBLE_EQ(x.cross_steps, 5000);
    EXPECT_DOUBLE_EQ(x.cross_fraction_of_plan, 0.5);
    EXPECT_NE(std::string(x.verdict).find("cross the line at token 5.0×10^9, step 5.0×10^3 (50% "
                                          "of the plan)"),
              std::string::npos)
        << x.verdict;
}

// The interval from the samples against the truth the simulation knows: a 95% interval must
// cover the true work of the credited launches in most jobs (fixed seeds: deterministic).
TEST(ReportInterval, CoversTheSimulatedTruth)
{
    int covered = 0, runs = 20;
    for (int seed = 1; seed <= runs; seed++) {
        TempDir tmp;
        fm_synth_params p;
        fm_synth_params_init(&p);
        p.seed = (uint64_t)seed;
        p.steps = 40;
        p.signatures = 80;
        p.launches_per_step = 200;
        p.eval_every = 0;
        p.busy_steps = 0;
        p.sample_rate = 0.05;
        fm_synth_summary s;
        char err[512];
        std::string path = tmp.path("t.fmtrace");
        ASSERT_EQ(fm_synth_write(path.c_str(), &p, &s, err, sizeof err), FM_OK) << err;
        rp_model m;
        ASSERT_EQ(rp_model_init(&m), 0);
        ASSERT_EQ(rp_read_trace(&m, path.c_str(), nullptr, err, sizeof err), 0) << err;
        rp_amount a = rp_amount_in(&m, (1u << RP_CATEGORIES) - 1, 0);
        EXPECT_NEAR(a.value, s.flop_measured + s.flop_extrapolated, 1e-9 * a.value);
        EXPECT_GT(a.half_width, 0);
        if (std::fabs(a.value - s.flop_true) <= a.half_width + a.without_interval)
            covered++;
        rp_model_free(&m);
    }
    EXPECT_GE(covered, 16) << covered << " of " << runs << " intervals covered the truth";
}

// ---- through the command ------------------------------------------------------------------

class ReportCli : public ::testing::Test {
  protected:
    void SetUp() override
    {
        dir_ = tmp_.path("job");
        auto r = run_flopmeter("synth --quiet --all-ranks --world-size 4 --steps 130 "
                               "--signatures 60 --launches-per-step 150 --out '" + dir_ + "'");
        ASSERT_EQ(r.status, 0) << r.err;
    }
    TempDir tmp_;
    std::string dir_;
};

TEST_F(ReportCli, AllRanksOfAJob)
{
    auto r = run_flopmeter("report --json '" + dir_ + "'");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("\"ranks_covered\": 4"), std::string::npos);
    EXPECT_NE(r.out.find("\"incomplete\": false"), std::string::npos);
    auto one = run_flopmeter("report --json '" + dir_ + "/rank-00000.fmtrace'");
    ASSERT_EQ(one.status, 0) << one.err;
    EXPECT_NE(one.out.find("\"incomplete\": true"), std::string::npos);
    auto text = run_flopmeter("report '" + dir_ + "'");
    EXPECT_NE(text.out.find("BY RANK"), std::string::npos);
    auto scaled = run_flopmeter("report --scale-to-world-size '" + dir_ + "/rank-00000.fmtrace'");
    EXPECT_NE(scaled.out.find("totals scaled to all ranks"), std::string::npos);
}

// Scaling to all ranks scales the declared tokens with the measurement, so a formula's ratio
// to the measurement does not change.
TEST_F(ReportCli, ScalingKeepsFormulaRatios)
{
    std::string a = "'" + dir_ + "/rank-00000.fmtrace'";
    auto plain = run_flopmeter("report --json " + a);
    auto scaled = run_flopmeter("report --json --scale-to-world-size " + a);
    ASSERT_EQ(plain.status, 0);
    ASSERT_EQ(scaled.status, 0);
    auto ratio = [](const std::string &json) {
        size_t at = json.find("\"id\": \"6nd\"");
        at = json.find("\"ratio\": ", at);
        return std::stod(json.substr(at + 9));
    };
    EXPECT_NEAR(ratio(scaled.out), ratio(plain.out), 1e-9);
    auto gpu_s = [](const std::string &json) {
        size_t at = json.find("\"gpu_seconds\": ");
        return std::stod(json.substr(at + 15));
    };
    EXPECT_NEAR(gpu_s(scaled.out), 4 * gpu_s(plain.out), 1e-6);
}

TEST_F(ReportCli, RequiredSignaturesAreNeverWaived)
{
    std::string key = tmp_.path("k");
    ASSERT_EQ(run_flopmeter("keygen --out '" + key + "'").status, 0);
    auto r = run_flopmeter("report --allow-incomplete --pubkey '" + key + ".pub' '" + dir_ +
                           "/rank-00000.fmtrace'");
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("no valid signature by the trusted key"), std::string::npos) << r.err;
    ASSERT_EQ(run_flopmeter("sign --key '" + key + ".key' '" + dir_ + "/rank-00000.fmtrace'").status,
              0);
    r = run_flopmeter("report --pubkey '" + key + ".pub' '" + dir_ + "/rank-00000.fmtrace'");
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("intact, signed"), std::string::npos);
}

TEST_F(ReportCli, DuplicateAndMismatchedTracesAreRefused)
{
    std::string a = dir_ + "/rank-00000.fmtrace";
    auto r = run_flopmeter("report '" + a + "' '" + a + "'");
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("rank 0 of run 'synth-1' appears twice"), std::string::npos) << r.err;
    std::string other = tmp_.path("other.fmtrace");
    ASSERT_EQ(run_flopmeter("synth --quiet --seed 9 --steps 10 --out '" + other + "'").status, 0);
    r = run_flopmeter("report '" + a + "' '" + other + "'");
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("belongs to run 'synth-9'"), std::string::npos) << r.err;
    r = run_flopmeter("report --combine-runs '" + a + "' '" + other + "'");
    EXPECT_EQ(r.status, 0) << r.err;
}

TEST_F(ReportCli, DamagedTracesNeedTheirOption)
{
    std::string a = dir_ + "/rank-00001.fmtrace";
    auto bytes = fmtest::read_file(a);
    bytes.resize(bytes.size() * 2 / 3);
    std::string cut = tmp_.path("cut.fmtrace");
    fmtest::write_file(cut, bytes);
    auto r = run_flopmeter("report '" + cut + "'");
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("truncated"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("--allow-incomplete"), std::string::npos) << r.err;
    r = run_flopmeter("report --allow-incomplete '" + cut + "'");
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("INCOMPLETE"), std::string::npos);
}

TEST_F(ReportCli, ImpossibleFactsAndBadOptionsAreNamed)
{
    std::string a = "'" + dir_ + "/rank-00000.fmtrace'";
    struct {
        std::string args, words;
    } cases[] = {
        {"--tokens -5 " + a, "--tokens: -5 cannot be negative"},
        {"--params 0 " + a, "--params: 0 must be greater than zero"},
        {"--plan-tokens 10 " + a, "plan.tokens: the planned run (10 tokens"},
        {"--layers 2.5 " + a, "--layers: 2.5 must be a whole number"},
        {"--profile nope " + a, "--profile: no profile named 'nope'"},
        {"--modality smell " + a, "--modality: 'smell'"},
        {"--model /nonexistent/spec.ini " + a, "cannot open the model spec"},
        {"", "no TRACE given"},
    };
    for (const auto &c : cases) {
        auto r = run_flopmeter("report " + c.args);
        EXPECT_EQ(r.status, 2) << c.args;
        EXPECT_NE(r.err.find(c.words), std::string::npos) << c.args << ": " << r.err;
        int lines = 0;
        for (char ch : r.err)
            lines += ch == '\n';
        EXPECT_EQ(lines, 1) << r.err;
    }
}

// The Commission's worked example H (guidelines Annex A.3): 370,000 H100-hours at 989 TFLOP/s
// and 50% utilisation, about 6.5×10^23 FLOP: over the GPAI line, under the systemic one.
TEST(EstimateCli, CommissionWorkedExampleH)
{
    auto r = run_flopmeter("estimate --use hardware --gpu-hours 370000 --peak 989 "
                           "--utilization 0.5 --modality text --json");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("\"counted_2sf\": \"6.6×10^23\""), std::string::npos);
    auto gpai = r.out.find("\"name\": \"gpai\"");
    ASSERT_NE(gpai, std::string::npos);
    EXPECT_NE(r.out.find("\"crossed\": true", gpai), std::string::npos);
    auto text = run_flopmeter("estimate --params 3.8e9 --tokens 3.3e12 --modality text");
    ASSERT_EQ(text.status, 0) << text.err;
    EXPECT_NE(text.out.find("7.5×10^22"), std::string::npos) << text.out; // example A
    EXPECT_EQ(run_flopmeter("estimate --use hardware").status, 2);
    // an estimate near a line: the margin names the estimates, never "the measurement"
    auto near = run_flopmeter("estimate --params 5e9 --tokens 3e12 --modality text");
    ASSERT_EQ(near.status, 0) << near.err;
    EXPECT_EQ(near.out.find("the measurement"), std::string::npos) << near.out;
    EXPECT_NE(near.out.find("within the ±30% margin of 6ND"), std::string::npos) << near.out;
}

// The times and names the text and HTML reports print.
TEST(ReportFormat, UtcTimesAndClippedNames)
{
    char buf[64];
    const uint64_t t = 1764180251123456789ull; // 2025-11-26 18:04:11.123 UTC
    EXPECT_STREQ(rp_fmt_utc(t, 1, buf, sizeof buf), "2025-11-26 18:04:11 UTC");
    EXPECT_STREQ(rp_fmt_utc(t, 0, buf, sizeof buf), "2025-11-26 18:04 UTC");
    EXPECT_STREQ(rp_fmt_utc(0, 1, buf, sizeof buf), "1970-01-01 00:00:00 UTC");
    char tiny[8];
    EXPECT_STREQ(rp_fmt_utc(t, 1, tiny, sizeof tiny), "?") << "does not fit: no partial time";
    EXPECT_STREQ(rp_fmt_clip("ampere_sgemm", 12, buf, sizeof buf), "ampere_sgemm");
    EXPECT_STREQ(rp_fmt_clip("ampere_sgemm_128x64", 12, buf, sizeof buf), "ampere_sg...");
    EXPECT_EQ(strlen(rp_fmt_clip("ampere_sgemm_128x64", 12, buf, sizeof buf)), 12u);
    EXPECT_STREQ(rp_fmt_clip("abcdef", 3, buf, sizeof buf), "abcdef") << "too narrow to cut";
    EXPECT_STREQ(rp_fmt_clip("", 5, buf, sizeof buf), "");
}

} // namespace
