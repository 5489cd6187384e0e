// test_sampler.cpp - which launches the range profiler measures (sampler.c): group rotation on
// a new signature's first launches, exact and off modes, the credit of unprofiled launches
// and of signatures never measured, the budget over a synthetic run of a million launches,
// the priorities, and the launch path under several threads.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "sampler.h"

namespace {

struct Sampler {
    fm_sampler *s;
    explicit Sampler(const fm_sampler_config &c) : s(fm_sampler_new(&c)) {}
    ~Sampler() { fm_sampler_free(s); }
    Sampler(const Sampler &) = delete;
    Sampler &operator=(const Sampler &) = delete;
};

fm_sampler_config config(fm_profile_mode mode, uint32_t groups)
{
    fm_sampler_config c;
    fm_sampler_config_defaults(&c);
    c.mode = mode;
    c.signatures = 1024;
    c.n_groups = groups;
    return c;
}

TEST(Sampler, RejectsConfigurationsOutOfRange)
{
    fm_sampler_config c = config(FM_PROFILE_SAMPLED, 0);
    EXPECT_EQ(fm_sampler_new(&c), nullptr);
    c = config(FM_PROFILE_SAMPLED, FM_SAMPLER_MAX_GROUPS + 1);
    EXPECT_EQ(fm_sampler_new(&c), nullptr);
    c = config(FM_PROFILE_SAMPLED, 2);
    c.budget = 0;
    EXPECT_EQ(fm_sampler_new(&c), nullptr);
    c.budget = 1.5;
    EXPECT_EQ(fm_sampler_new(&c), nullptr);
    c = config(FM_PROFILE_SAMPLED, 2);
    c.first_per_group = 0;
    EXPECT_EQ(fm_sampler_new(&c), nullptr);
    c = config(FM_PROFILE_SAMPLED, 2);
    Sampler ok(c);
    EXPECT_NE(ok.s, nullptr);
}

// The first first_per_group x groups launches are all measured, one group each, so every group
// is read equally often; the launches after them are not measured until their period is due.
TEST(Sampler, FirstLaunchesRotateThroughEveryGroupEqually)
{
    for (uint32_t groups : {1u, 3u, 4u, 8u}) {
        fm_sampler_config c = config(FM_PROFILE_SAMPLED, groups);
        c.first_per_group = 3;
        c.initial_period = 1000000; // nothing sampled after the first launches here
        Sampler s(c);
        for (uint32_t sig = 1; sig <= 5; sig++) {
            std::vector<int> reads(groups, 0);
            for (uint32_t i = 0; i < 3 * groups; i++) {
                int d = fm_sampler_decide(s.s, sig);
                ASSERT_GE(d, 0) << "launch " << i << " of signature " << sig;
                ASSERT_LT(d, (int)groups);
                reads[(size_t)d]++;
            }
            for (uint32_t g = 0; g < groups; g++)
                EXPECT_EQ(reads[g], 3) << "group " << g << " of " << groups;
            for (int i = 0; i < 100; i++)
                EXPECT_EQ(fm_sampler_decide(s.s, sig), FM_SAMPLE_NONE);
            fm_sampler_add_launches(s.s, sig, 3 * groups + 100);
            fm_sampler_credit cr;
            fm_sampler_credit_of(s.s, sig, &cr);
            EXPECT_EQ(cr.launches, 3u * groups + 100);
            EXPECT_EQ(cr.measured, 3u * groups);
        }
    }
}

// Signatures launched once start on different groups, so a family of one-launch signatures
// (a dropout kernel with a new seed each time) is read in every group.
TEST(Sampler, OneLaunchSignaturesSpreadOverTheGroups)
{
    Sampler s(config(FM_PROFILE_SAMPLED, 4));
    std::vector<int> reads(4, 0);
    for (uint32_t sig = 1; sig <= 40; sig++) {
        int d = fm_sampler_decide(s.s, sig);
        ASSERT_GE(d, 0);
        reads[(size_t)d]++;
    }
    for (int g = 0; g < 4; g++)
        EXPECT_EQ(reads[(size_t)g], 10);
}

TEST(Sampler, ReplayFirstMeasuresTheFirstLaunchInAllGroups)
{
    fm_sampler_config c = config(FM_PROFILE_SAMPLED, 3);
    c.replay_first = 1;
    Sampler s(c);
    EXPECT_EQ(fm_sampler_decide(s.s, 7), FM_SAMPLE_ALL);
    std::vector<int> reads(3, 1); // the replay read each group once
    for (int i = 1; i < 6; i++) {
        int d = fm_sampler_decide(s.s, 7);
        ASSERT_GE(d, 0);
        reads[(size_t)d]++;
    }
    for (int g = 0; g < 3; g++)
        EXPECT_GE(reads[(size_t)g], 2);
}

TEST(Sampler, ExactModeMeasuresEveryLaunchInEveryGroup)
{
    Sampler s(config(FM_PROFILE_EXACT, 5));
    for (int i = 0; i < 10000; i++)
        ASSERT_EQ(fm_sampler_decide(s.s, 1 + (uint32_t)(i % 7)), FM_SAMPLE_ALL);
    fm_sampler_add_launches(s.s, 3, (10000 + 6 - 2) / 7);
    // the budget does not apply: rebalancing changes nothing
    fm_sampler_plan p;
    fm_sampler_rebalance(s.s, 1000000000ull, 900000000ull, &p);
    EXPECT_TRUE(p.over_budget);
    for (int i = 0; i < 1000; i++)
        ASSERT_EQ(fm_sampler_decide(s.s, 3), FM_SAMPLE_ALL);
    fm_sampler_add_launches(s.s, 3, 1000);
    fm_sampler_counts n;
    fm_sampler_take(s.s, 3, &n);
    EXPECT_EQ(n.launches, (10000u + 4) / 7 + 1000);
    EXPECT_EQ(n.launches, n.measured);
}

TEST(Sampler, OffModeMeasuresNothing)
{
    Sampler s(config(FM_PROFILE_OFF, 2));
    for (int i = 0; i < 1000; i++)
        ASSERT_EQ(fm_sampler_decide(s.s, 1), FM_SAMPLE_NONE);
}

TEST(Sampler, IdsOutsideTheTableAreNeverMeasured)
{
    Sampler s(config(FM_PROFILE_EXACT, 1));
    EXPECT_EQ(fm_sampler_decide(s.s, 0), FM_SAMPLE_NONE);
    EXPECT_EQ(fm_sampler_decide(s.s, 1025), FM_SAMPLE_NONE);
    EXPECT_EQ(fm_sampler_decide(s.s, 1024), FM_SAMPLE_ALL);
    fm_sampler_stats st;
    fm_sampler_get_stats(s.s, &st);
    EXPECT_EQ(st.out_of_range, 2u);
    EXPECT_EQ(st.highest_id, 1024u);
}

// A signature without a sample is unmeasured: its launches get no credit and are counted as
// such, never credited with zero operations.
TEST(Sampler, NeverMeasuredSignaturesAreFlagged)
{
    Sampler s(config(FM_PROFILE_SAMPLED, 2));
    for (int i = 0; i < 50; i++)
        fm_sampler_decide(s.s, 9);
    fm_sampler_add_launches(s.s, 9, 50);
    fm_sampler_credit cr;
    fm_sampler_credit_of(s.s, 9, &cr);
    EXPECT_EQ(cr.status, FM_CREDIT_UNMEASURED);
    EXPECT_EQ(cr.groups_measured, 0u);
    fm_sampler_counts n;
    fm_sampler_take(s.s, 9, &n);
    EXPECT_EQ(n.status, FM_CREDIT_UNMEASURED);
    EXPECT_EQ(n.launches, 50u);
    EXPECT_EQ(n.extrapolated, 0u);
    EXPECT_EQ(n.unmeasured, 50u - n.measured);
    EXPECT_EQ(n.credited_ops, 0.0);
    // a signature never launched is unmeasured too
    fm_sampler_credit_of(s.s, 10, &cr);
    EXPECT_EQ(cr.status, FM_CREDIT_UNMEASURED);
    // one group of two read: the mean lacks the other group's work, and says so
    fm_sampler_record(s.s, 9, 0, 100);
    fm_sampler_credit_of(s.s, 9, &cr);
    EXPECT_EQ(cr.status, FM_CREDIT_PARTIAL);
    fm_sampler_record(s.s, 9, 1, 5);
    fm_sampler_credit_of(s.s, 9, &cr);
    EXPECT_EQ(cr.status, FM_CREDIT_COMPLETE);
}

// Unprofiled launches are credited with the signature's measured mean per launch, the sum of
// its group means; a lost measurement makes its launch unprofiled.
TEST(Sampler, UnprofiledLaunchesGetTheMeasuredMean)
{
    fm_sampler_config c = config(FM_PROFILE_SAMPLED, 2);
    c.initial_period = 10;
    Sampler s(c);
    fm_sampler_seed_thread(11);
    const uint32_t sig = 4;
    uint64_t measured = 0;
    for (int i = 0; i < 1000; i++) {
        int d = fm_sampler_decide(s.s, sig);
        if (d < 0)
            continue;
        measured++;
        // group 0 reads 1000 or 1200 on alternate measurements, group 1 always 50
        double ops = d == 0 ? (measured % 4 < 2 ? 1000.0 : 1200.0) : 50.0;
        fm_sampler_record(s.s, sig, (uint32_t)d, ops);
    }
    fm_sampler_credit cr;
    fm_sampler_credit_of(s.s, sig, &cr);
    EXPECT_EQ(cr.status, FM_CREDIT_COMPLETE);
    EXPECT_EQ(cr.measured, measured);
    EXPECT_NEAR(cr.mean, 1100 + 50, 20);
    EXPECT_GT(cr.variance, 0);
    // the first 4, then 1 in 10 at random (binomial: a standard deviation of 9.5)
    EXPECT_NEAR((double)measured, 4 + (1000 - 4) / 10.0, 40);

    fm_sampler_add_launches(s.s, sig, 1000);
    fm_sampler_lost(s.s, sig);
    fm_sampler_counts n;
    fm_sampler_take(s.s, sig, &n);
    EXPECT_EQ(n.status, FM_CREDIT_COMPLETE);
    EXPECT_EQ(n.launches, 1000u);
    EXPECT_EQ(n.measured, measured - 1);
    EXPECT_EQ(n.extrapolated, 1000u - (measured - 1));
    EXPECT_EQ(n.unmeasured, 0u);
    EXPECT_DOUBLE_EQ(n.credited_ops, (double)n.extrapolated * cr.mean);
    // the next take covers only the launches since
    for (int i = 0; i < 5; i++)
        fm_sampler_decide(s.s, sig);
    fm_sampler_add_launches(s.s, sig, 5);
    fm_sampler_take(s.s, sig, &n);
    EXPECT_EQ(n.launches, 5u);
    EXPECT_EQ(n.measured + n.extrapolated, 5u);
}

// ---- budget and priorities: a synthetic run ----------------------------------------------

// A process launching kernels back to back: each launch costs launch_ns of wall time, each
// measured group cost[g] on top (profiling time), and the flusher rebalances every
// interval_ns of wall time.
struct SimRun {
    fm_sampler *s;
    std::vector<double> cost;
    double launch_ns;
    uint64_t interval_ns;
    uint64_t wall = 0, spent = 0, next_flush;
    std::vector<uint64_t> measured;  // per signature
    std::vector<uint64_t> pending;   // launches not yet given to the sampler (the flusher's job)
    std::vector<fm_sampler_plan> plans;
    std::vector<uint64_t> plan_wall; // wall time at each rebalance

    SimRun(fm_sampler *s_, std::vector<double> cost_, double launch, uint64_t interval,
           uint32_t sigs)
        : s(s_), cost(std::move(cost_)), launch_ns(launch), interval_ns(interval),
          next_flush(interval), measured(sigs + 1, 0), pending(sigs + 1, 0)
    {
        fm_sampler_seed_thread(1);
    }
    // One launch whose groups would show `ops(g)`.
    template <class Ops> int launch(uint32_t sig, Ops ops)
    {
        int d = fm_sampler_decide(s, sig);
        pending[sig]++;
        wall += (uint64_t)launch_ns;
        if (d >= 0) {
            measured[sig]++;
            uint64_t c = (uint64_t)cost[(size_t)d];
            spent += c;
            wall += c;
            fm_sampler_note_cost(s, (uint32_t)d, c);
            fm_sampler_record(s, sig, (uint32_t)d, ops((uint32_t)d));
        }
        if (wall >= next_flush) {
            for (uint32_t i = 1; i < pending.size(); i++) {
                fm_sampler_add_launches(s, i, pending[i]);
                pending[i] = 0;
            }
            fm_sampler_plan p;
            fm_sampler_rebalance(s, wall, spent, &p);
            plans.push_back(p);
            plan_wall.push_back(wall);
            next_flush = wall + interval_ns;
        }
        return d;
    }
};

// A million launches of 100 kernels whose launch counts follow Zipf's law (a few hot GEMMs,
// a long tail): the profiling time stays under 2% of the wall time once the unconditional
// first launches are paid back, and ends under it; and the budget is used, not left idle.
TEST(SamplerBudget, SpendStaysUnderTheBudget)
{
    const uint32_t sigs = 100, groups = 4;
    fm_sampler_config c = config(FM_PROFILE_SAMPLED, groups);
    c.budget = 0.02;
    Sampler s(c);
    SimRun run(s.s, {20000, 30000, 40000, 50000}, 5000, 50000000, sigs);
    std::mt19937_64 rng(42);
    std::vector<double> weight(sigs);
    for (uint32_t i = 0; i < sigs; i++)
        weight[i] = 1.0 / (i + 1);
    std::discrete_distribution<uint32_t> pick(weight.begin(), weight.end());
    std::normal_distribution<double> noise(0, 1);
    for (int i = 0; i < 1000000; i++) {
        uint32_t sig = pick(rng) + 1;
        run.launch(sig, [&](uint32_t g) {
            return 1e9 / sig * (g + 1) * (1 + 0.05 * (sig % 4) * noise(rng));
        });
    }
    ASSERT_GT(run.plans.size(), 50u);
    double share = (double)run.spent / (double)run.wall;
    uint64_t total = 0;
    for (uint64_t m : run.measured)
        total += m;
    std::printf("[ sampler ] %llu of 1000000 launches measured; profiling %.3f%% of %.2f s\n",
                (unsigned long long)total, 100 * share, (double)run.wall / 1e9);
    EXPECT_LE(share, c.budget) << run.spent << " ns of " << run.wall;
    EXPECT_GE(share, 0.5 * c.budget) << "the budget was mostly left unused";
    // once the first launches' cost is paid back, every check is under the budget
    size_t over_after_half = 0;
    for (size_t i = run.plans.size() / 2; i < run.plans.size(); i++)
        over_after_half += run.plans[i].over_budget;
    EXPECT_EQ(over_after_half, 0u);
    // every signature had its first launches measured; the hot ones many more
    for (uint32_t sig = 1; sig <= sigs; sig++)
        EXPECT_GE(run.measured[sig], 2u * groups) << "signature " << sig;
    EXPECT_GT(run.measured[1], run.measured[sigs]);
}

// The plan arithmetic: a run that overspent stops sampling (periods "never") until the debt
// is paid, then resumes.
TEST(SamplerBudget, OverspendingStopsSamplingUntilPaidBack)
{
    fm_sampler_config c = config(FM_PROFILE_SAMPLED, 1);
    c.budget = 0.02;
    c.initial_period = 1;
    c.first_per_group = 1;
    Sampler s(c);
    for (int i = 0; i < 1000; i++)
        fm_sampler_decide(s.s, 1);
    fm_sampler_add_launches(s.s, 1, 1000);
    fm_sampler_record(s.s, 1, 0, 10);
    fm_sampler_record(s.s, 1, 0, 12);
    fm_sampler_plan p;
    // 1 s of wall time, 100 ms spent: five times the budget
    fm_sampler_rebalance(s.s, 1000000000ull, 100000000ull, &p);
    EXPECT_TRUE(p.over_budget);
    EXPECT_EQ(p.sampled_ns, 0);
    EXPECT_EQ(p.default_period, FM_SAMPLER_NEVER);
    int measured = 0;
    for (int i = 0; i < 10000; i++)
        measured += fm_sampler_decide(s.s, 1) >= 0;
    EXPECT_EQ(measured, 0);
    // ten seconds later nothing more was spent: the debt is paid, sampling resumes
    fm_sampler_add_launches(s.s, 1, 10000);
    fm_sampler_rebalance(s.s, 10000000000ull, 100000000ull, &p);
    EXPECT_FALSE(p.over_budget);
    EXPECT_GT(p.sampled_ns, 0);
    for (int i = 0; i < 10000; i++)
        measured += fm_sampler_decide(s.s, 1) >= 0;
    EXPECT_GT(measured, 0);
}

// Two signatures launched alike, differing in one respect; the one that should be favoured
// is measured more often over the run.
struct Pair {
    double mean_a, cv_a, mean_b, cv_b;
    uint64_t extra_samples_b; // samples B already has (from an earlier part of the run)
};

std::pair<uint64_t, uint64_t> sample_pair(const Pair &p)
{
    fm_sampler_config c = config(FM_PROFILE_SAMPLED, 1);
    c.budget = 0.02;
    Sampler s(c);
    // launches of 10 us, measurements of 100 us: about 1 launch in 500 can be measured
    SimRun run(s.s, {100000}, 10000, 10000000, 2);
    std::mt19937_64 rng(7);
    std::normal_distribution<double> noise(0, 1);
    for (uint64_t i = 0; i < p.extra_samples_b; i++)
        fm_sampler_record(s.s, 2, 0, p.mean_b * (1 + p.cv_b * noise(rng)));
    for (int i = 0; i < 400000; i++) {
        uint32_t sig = 1 + (uint32_t)(i & 1);
        double mean = sig == 1 ? p.mean_a : p.mean_b, cv = sig == 1 ? p.cv_a : p.cv_b;
        run.launch(sig, [&](uint32_t) { return mean * (1 + cv * noise(rng)); });
    }
    EXPECT_LE((double)run.spent, 0.02 * (double)run.wall);
    return {run.measured[1], run.measured[2]};
}

TEST(SamplerPriority, LargestFlopShareIsSampledMore)
{
    auto [a, b] = sample_pair({1e12, 0.1, 1e10, 0.1, 0});
    EXPECT_GT(a, 2 * b) << a << " vs " << b;
}

TEST(SamplerPriority, FewestSamplesAreSampledMore)
{
    auto [a, b] = sample_pair({1e10, 0.1, 1e10, 0.1, 5000});
    EXPECT_GT(a, 2 * b) << a << " vs " << b;
}

TEST(SamplerPriority, LargestVarianceIsSampledMore)
{
    auto [a, b] = sample_pair({1e10, 0.5, 1e10, 0.001, 0});
    EXPECT_GT(a, 2 * b) << a << " vs " << b;
}

// The rate holds whatever the number of threads: after the first launches each launch is
// measured with probability 1/k, drawn per thread, and the measured ones still rotate
// through the groups exactly.
TEST(SamplerThreads, RateHoldsUnderConcurrentLaunches)
{
    fm_sampler_config c = config(FM_PROFILE_SAMPLED, 2);
    c.initial_period = 100;
    Sampler s(c);
    std::vector<std::thread> threads;
    std::vector<std::vector<int>> reads(8, std::vector<int>(2, 0));
    const int per_thread = 100000;
    for (int t = 0; t < 8; t++)
        threads.emplace_back([&, t] {
            fm_sampler_seed_thread(100 + (uint64_t)t);
            for (int i = 0; i < per_thread; i++) {
                int d = fm_sampler_decide(s.s, 3);
                if (d >= 0)
                    reads[(size_t)t][(size_t)d]++;
            }
        });
    for (auto &th : threads)
        th.join();
    uint64_t total = 0, g0 = 0;
    for (auto &r : reads) {
        total += (uint64_t)(r[0] + r[1]);
        g0 += (uint64_t)r[0];
    }
    // the first 4, then a binomial count with a standard deviation of about 90
    const double expected = 4 + (8.0 * per_thread - 4) / 100;
    EXPECT_NEAR((double)total, expected, 450);
    EXPECT_NEAR((double)g0, total / 2.0, 1); // rotation stays even
    fm_sampler_add_launches(s.s, 3, 8u * per_thread);
    fm_sampler_credit cr;
    fm_sampler_credit_of(s.s, 3, &cr);
    EXPECT_EQ(cr.launches, 8u * per_thread);
    EXPECT_EQ(cr.measured, total);
}

} // namespace
