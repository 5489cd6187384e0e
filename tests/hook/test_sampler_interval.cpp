// test_sampler_interval.cpp - the sampler's samples against the report's 95% interval: seeded
// synthetic runs whose true work is known, sampled by the sampler under its budget, with the
// report's own estimator (rp_amount_in, postprocessor/report/report_compute.c) computing the
// interval from the samples as it would from a trace. The interval must cover the truth in
// about 95% of the runs. Nothing of the interval's arithmetic is repeated here.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "sampler.h"

extern "C" {
#include "report.h"
}

namespace {

constexpr uint32_t kGroups = 3;
constexpr uint8_t kClass = FM_CLASS_TENSOR | FM_FMT_BF16;

struct Kernel {
    double weight;          // share of the launches
    double base[kGroups];   // mean operations per group (0: the group counts nothing)
    double cv;              // launch-to-launch variation
};

struct Outcome {
    double truth, value, half_width, without_interval;
};

// One run: launches drawn from the kernels, each decided by the sampler; the flusher
// rebalances every 1000 launches. The trace the hook would write is built directly as the
// report's model: per signature its samples by group, its extrapolated launches, and the
// operations the writer would give (measured groups as read, everything else credited with
// the measured means).
Outcome run_once(uint64_t seed)
{
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> uni(0, 1);
    std::normal_distribution<double> normal(0, 1);
    const double cvs[] = {0, 0.01, 0.05, 0.2, 0.5};
    const uint32_t n_sigs = 12;
    std::vector<Kernel> k(n_sigs);
    std::vector<double> weights;
    for (auto &x : k) {
        x.weight = 1 + 9 * uni(rng);
        for (double &b : x.base)
            b = uni(rng) < 0.3 ? 0 : 1e9 * (0.1 + uni(rng));
        x.cv = cvs[rng() % 5];
        weights.push_back(x.weight);
    }
    std::discrete_distribution<uint32_t> pick(weights.begin(), weights.end());

    fm_sampler_config c;
    fm_sampler_config_defaults(&c);
    c.signatures = n_sigs;
    c.n_groups = kGroups;
    c.budget = 0.02;
    fm_sampler *s = fm_sampler_new(&c);
    const uint64_t launch_ns = 10000, cost_ns = 10000;
    uint64_t wall = 0, spent = 0;

    std::vector<rp_welford> samples(n_sigs * kGroups);
    std::vector<uint64_t> measured_launches(n_sigs, 0), reads(n_sigs * kGroups, 0);
    std::vector<uint64_t> pending(n_sigs, 0); // launches the flusher has not handed on yet
    auto hand_on = [&] {
        for (uint32_t j = 0; j < n_sigs; j++) {
            fm_sampler_add_launches(s, j + 1, pending[j]);
            pending[j] = 0;
        }
    };
    fm_sampler_seed_thread(seed);
    Outcome o{};
    double measured_ops = 0;
    for (int i = 0; i < 60000; i++) {
        uint32_t j = pick(rng);
        double v[kGroups];
        for (uint32_t g = 0; g < kGroups; g++) {
            v[g] = k[j].base[g] * std::fmax(0.0, 1 + k[j].cv * normal(rng));
            o.truth += v[g];
        }
        int d = fm_sampler_decide(s, j + 1);
        pending[j]++;
        wall += launch_ns;
        if (d >= 0) {
            measured_launches[j]++;
            reads[j * kGroups + (uint32_t)d]++;
            fm_sampler_record(s, j + 1, (uint32_t)d, v[d]);
            rp_welford_add(&samples[j * kGroups + (uint32_t)d], v[d]);
            measured_ops += v[d];
            wall += cost_ns;
            spent += cost_ns;
        }
        if (i % 1000 == 999) {
            hand_on();
            fm_sampler_rebalance(s, wall, spent, nullptr);
        }
    }
    hand_on();
    EXPECT_LE((double)spent, 0.02 * (double)wall * 1.2);

    rp_model m;
    EXPECT_EQ(rp_model_init(&m), 0);
    m.sigs = (rp_signature *)calloc(n_sigs, sizeof *m.sigs);
    m.n_sigs = m.cap_sigs = n_sigs;
    double extrapolated_ops = 0;
    for (uint32_t j = 0; j < n_sigs; j++) {
        fm_sampler_counts n;
        fm_sampler_take(s, j + 1, &n);
        EXPECT_NE(n.status, FM_CREDIT_UNMEASURED);
        rp_signature &sig = m.sigs[j];
        sig.groups = (rp_group_stats *)calloc(kGroups, sizeof *sig.groups);
        sig.n_groups = sig.cap_groups = kGroups;
        sig.min_groups_per_launch = 1; // one group per measured launch: group-level statistics
        sig.launches = n.launches;
        sig.launches_measured = n.measured;
        sig.launches_extrapolated = n.extrapolated;
        sig.extrapolated_by_category[FM_PHASE_UNSPECIFIED] = n.extrapolated;
        // the groups a measured launch was not read in are credited with their means
        double credit = n.credited_ops;
        for (uint32_t g = 0; g < kGroups; g++) {
            sig.groups[g].group = g;
            sig.groups[g].ops[RP_FP] = samples[j * kGroups + g];
            sig.samples += samples[j * kGroups + g].n;
            credit += (double)(measured_launches[j] - reads[j * kGroups + g]) *
                      samples[j * kGroups + g].mean;
        }
        sig.ops[RP_FP].extrapolated = credit;
        extrapolated_ops += credit;
    }
    m.by_class[FM_PHASE_UNSPECIFIED][kClass].measured = measured_ops;
    m.by_class[FM_PHASE_UNSPECIFIED][kClass].extrapolated = extrapolated_ops;
    rp_amount a = rp_amount_in(&m, (1u << RP_CATEGORIES) - 1, 0);
    o.value = a.value;
    o.half_width = a.half_width;
    o.without_interval = a.without_interval;
    rp_model_free(&m);
    fm_sampler_free(s);
    return o;
}

TEST(SamplerInterval, ReportIntervalCoversTheTruth)
{
    const int trials = 200;
    int covered = 0;
    double rel_width = 0;
    for (int t = 1; t <= trials; t++) {
        Outcome o = run_once((uint64_t)t * 7919);
        ASSERT_GT(o.truth, 0);
        ASSERT_EQ(o.without_interval, 0) << "trial " << t;
        if (std::fabs(o.value - o.truth) <= o.half_width)
            covered++;
        rel_width += o.half_width / o.truth / trials;
    }
    std::printf("[ sampler ] the 95%% interval covered the truth in %d of %d runs; mean "
                "half-width %.3g%% of the total\n",
                covered, trials, 100 * rel_width);
    // 95% expected: 190 of 200, with a binomial standard deviation of about 3
    EXPECT_GE(covered, 182);
    // and not by being needlessly wide: sampling 2% of the time pins the total to a few %
    EXPECT_LT(rel_width, 0.05);
}

} // namespace
