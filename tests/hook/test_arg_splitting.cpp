// test_arg_splitting.cpp - the per-family argument learner (arg_splitting.c) on synthetic
// streams of measured launches: a dropout-like kernel with a new random seed on every launch
// folds; a GEMM-like kernel with K among its arguments keeps splitting; a fold that stops
// fitting ends; and the edge cases of the rule. The streams go through the sampler, so the
// groups each launch is measured in are the ones the hook would use.
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "arg_splitting.h"
#include "sampler.h"

namespace {

constexpr uint64_t kFolded = 0xffffffffffffffffull; // FM_ARGS_FOLDED of launch_table.h
constexpr uint32_t kGroups = 4;

struct Learner {
    fm_arg_split *a;
    explicit Learner(const fm_arg_split_config &c) : a(fm_arg_split_new(&c)) {}
    ~Learner() { fm_arg_split_free(a); }
    Learner(const Learner &) = delete;
    Learner &operator=(const Learner &) = delete;
};

fm_arg_split_config learner_config()
{
    fm_arg_split_config c;
    fm_arg_split_config_defaults(&c);
    c.families = 64;
    c.n_groups = kGroups;
    return c;
}

// The hook's view of a family: a signature per argument hash (as the launch table makes them
// while the family is split, or the folded one), the sampler deciding which launches are
// measured in which group, and each result going to the learner.
struct Family {
    fm_sampler *s;
    fm_arg_split *a;
    uint64_t family;
    std::vector<uint64_t> hashes; // signature id - 1 -> arg hash
    uint64_t launches = 0, measured = 0;

    Family(fm_sampler *s_, fm_arg_split *a_) : s(s_), a(a_)
    {
        const uint32_t grid[3] = {128, 1, 1}, block[3] = {256, 1, 1};
        family = fm_arg_family_hash(0x7f00deadbeef0ull, grid, block, 0, 0);
        fm_sampler_seed_thread(family); // the launches sampled do not depend on test order
    }
    uint32_t signature(uint64_t hash)
    {
        for (size_t i = 0; i < hashes.size(); i++)
            if (hashes[i] == hash)
                return (uint32_t)i + 1;
        hashes.push_back(hash);
        return (uint32_t)hashes.size();
    }
    // One launch with these arguments, whose group g would show work(g).
    template <class Work> int launch(uint64_t arg_hash, Work work)
    {
        if (fm_arg_split_folded(a, family))
            arg_hash = kFolded;
        launches++;
        uint32_t sig = signature(arg_hash);
        int d = fm_sampler_decide(s, sig);
        if (d >= 0) {
            measured++;
            fm_arg_split_observe(a, family, arg_hash, (uint32_t)d, work((uint32_t)d));
        }
        return fm_arg_split_verdict(a, family);
    }
};

fm_sampler_config sampler_config()
{
    fm_sampler_config c;
    fm_sampler_config_defaults(&c);
    c.signatures = 1 << 16;
    c.n_groups = kGroups;
    c.initial_period = 16;
    return c;
}

struct Sampler {
    fm_sampler *s;
    Sampler() : s(nullptr)
    {
        fm_sampler_config c = sampler_config();
        s = fm_sampler_new(&c);
    }
    ~Sampler() { fm_sampler_free(s); }
};

// Elementwise work: the same in every launch, whatever the seed (group 0 and 2 count it, the
// tensor groups read zero).
double dropout_work(uint32_t g)
{
    return g == 0 ? 3.0 * 4194304 : (g == 2 ? 4194304.0 : 0.0);
}

TEST(ArgSplitting, RejectsConfigurationsOutOfRange)
{
    fm_arg_split_config c = learner_config();
    c.min_hashes = 1;
    EXPECT_EQ(fm_arg_split_new(&c), nullptr);
    c = learner_config();
    c.n_groups = 0;
    EXPECT_EQ(fm_arg_split_new(&c), nullptr);
    c = learner_config();
    c.tolerance = -1;
    EXPECT_EQ(fm_arg_split_new(&c), nullptr);
}

TEST(ArgSplitting, FamilyHashIgnoresArgumentsOnly)
{
    const uint32_t grid[3] = {8, 1, 1}, block[3] = {128, 1, 1}, other[3] = {9, 1, 1};
    uint64_t f = fm_arg_family_hash(0x1000, grid, block, 0, 0);
    EXPECT_NE(f, 0u);
    EXPECT_EQ(f, fm_arg_family_hash(0x1000, grid, block, 0, 0));
    EXPECT_NE(f, fm_arg_family_hash(0x2000, grid, block, 0, 0));
    EXPECT_NE(f, fm_arg_family_hash(0x1000, other, block, 0, 0));
    EXPECT_NE(f, fm_arg_family_hash(0x1000, grid, block, 1024, 0));
}

// A dropout kernel gets a new seed on every launch: a new argument hash, a new signature, and
// (while split) every launch measured. After enough hashes agree in every group the family
// folds, and from then on its launches share one signature and are sampled.
TEST(ArgSplitting, DropoutWithRandomSeedFolds)
{
    Sampler s;
    Learner l(learner_config());
    Family f(s.s, l.a);
    std::mt19937_64 rng(1);
    int verdict = FM_ARG_LEARNING;
    uint64_t launches_to_fold = 0;
    for (int i = 0; i < 5000; i++) {
        verdict = f.launch(rng() | 1, dropout_work);
        if (!launches_to_fold && fm_arg_split_folded(l.a, f.family))
            launches_to_fold = f.launches;
    }
    EXPECT_EQ(verdict, FM_ARG_FOLD_SAME_WORK);
    EXPECT_TRUE(fm_arg_split_folded(l.a, f.family));
    // two hashes in each of four groups, every launch measured until then
    EXPECT_GE(launches_to_fold, 2u * kGroups);
    EXPECT_LE(launches_to_fold, 16u);
    // afterwards the folded signature is sampled: far fewer measurements than launches
    EXPECT_LT(f.measured, 100u + f.launches / 10) << f.measured << " of " << f.launches;
    EXPECT_LE(f.hashes.size(), launches_to_fold + 1);
    fm_arg_split_stats st;
    fm_arg_split_get_stats(l.a, &st);
    EXPECT_EQ(st.families, 1u);
    EXPECT_EQ(st.folded, 1u);
    EXPECT_EQ(st.unfolded, 0u);
}

// Counters that wobble by a few instructions between seeds (well under the 1% tolerance)
// still fold.
TEST(ArgSplitting, SmallJitterStillFolds)
{
    Sampler s;
    Learner l(learner_config());
    Family f(s.s, l.a);
    std::mt19937_64 rng(2);
    std::uniform_real_distribution<double> jitter(-0.001, 0.001);
    for (int i = 0; i < 200; i++)
        f.launch(rng() | 1, [&](uint32_t g) { return dropout_work(g) * (1 + jitter(rng)); });
    EXPECT_TRUE(fm_arg_split_folded(l.a, f.family));
}

// A GEMM's arguments carry K: launches with different K do different work, and each K repeats
// step after step. The family splits for good.
TEST(ArgSplitting, GemmWithKInTheArgumentsKeepsSplitting)
{
    Sampler s;
    Learner l(learner_config());
    Family f(s.s, l.a);
    const uint64_t ks[] = {512, 1024, 4096, 11008};
    int verdict = FM_ARG_LEARNING;
    for (int step = 0; step < 500; step++)
        for (uint64_t k : ks)
            verdict = f.launch(0x9e3779b97f4a7c15ull * k, [&](uint32_t g) {
                return g == 1 ? 2.0 * 4096 * 4096 * (double)k : 0.0; // one tensor group
            });
    EXPECT_EQ(verdict, FM_ARG_SPLIT);
    EXPECT_FALSE(fm_arg_split_folded(l.a, f.family));
    EXPECT_EQ(f.hashes.size(), 4u);
    fm_arg_split_stats st;
    fm_arg_split_get_stats(l.a, &st);
    EXPECT_EQ(st.split, 1u);
    EXPECT_EQ(st.folded, 0u);
}

// The same with counters that wobble slightly: the difference is confirmed once the noise
// within a hash is known.
TEST(ArgSplitting, GemmWithNoisyCountersSplitsOnceTheNoiseIsKnown)
{
    Sampler s;
    Learner l(learner_config());
    Family f(s.s, l.a);
    std::mt19937_64 rng(3);
    std::normal_distribution<double> noise(0, 0.002);
    for (int step = 0; step < 500; step++)
        for (uint64_t k : {64ull, 128ull, 192ull, 256ull, 320ull, 384ull})
            f.launch(k * 7919,
                     [&](uint32_t g) { return (double)k * 1e9 * (g + 1) * (1 + noise(rng)); });
    EXPECT_EQ(fm_arg_split_verdict(l.a, f.family), FM_ARG_SPLIT);
}

// One K only: nothing says the arguments do not matter, so the family is not folded.
TEST(ArgSplitting, OneHashIsNoEvidence)
{
    Sampler s;
    Learner l(learner_config());
    Family f(s.s, l.a);
    for (int i = 0; i < 1000; i++)
        f.launch(42, dropout_work);
    EXPECT_EQ(fm_arg_split_verdict(l.a, f.family), FM_ARG_LEARNING);
    EXPECT_FALSE(fm_arg_split_folded(l.a, f.family));
}

// Work that varies from launch to launch (sequence lengths of packed batches) with a hash that
// never repeats: no hash can predict anything, so the family folds for that reason, and only
// after unique_hashes of them.
TEST(ArgSplitting, NeverRepeatingHashesFoldEvenWhenWorkVaries)
{
    Sampler s;
    Learner l(learner_config());
    Family f(s.s, l.a);
    std::mt19937_64 rng(4);
    std::uniform_real_distribution<double> len(0.5, 1.5);
    uint64_t launches_to_fold = 0;
    for (int i = 0; i < 500; i++) {
        f.launch(rng() | 1, [&](uint32_t g) { return (g + 1) * 1e8 * len(rng); });
        if (!launches_to_fold && fm_arg_split_folded(l.a, f.family))
            launches_to_fold = f.launches;
    }
    EXPECT_EQ(fm_arg_split_verdict(l.a, f.family), FM_ARG_FOLD_NO_REPEATS);
    EXPECT_EQ(launches_to_fold, (uint64_t)FM_ARG_DEFAULT_UNIQUE_HASHES);
}

// Arguments that do not matter, hashes that repeat, and work that varies within each hash
// (data-dependent): the noise is learnt from the repeats and the family folds, without a
// false split on the noise.
TEST(ArgSplitting, RepeatingHashesWithNoisyWorkFoldWhenHashesAgree)
{
    Sampler s;
    Learner l(learner_config());
    Family f(s.s, l.a);
    std::mt19937_64 rng(5);
    std::normal_distribution<double> noise(0, 0.1);
    for (int step = 0; step < 400 && !fm_arg_split_folded(l.a, f.family); step++)
        for (uint64_t h = 1; h <= 10; h++)
            f.launch(h * 1000003, [&](uint32_t g) { return (g + 1) * 1e9 * (1 + noise(rng)); });
    EXPECT_EQ(fm_arg_split_verdict(l.a, f.family), FM_ARG_FOLD_SAME_WORK);
}

// A fold is watched: when the folded signature's work stops matching what the hashes showed
// (a K that changed only later), the family splits again, for good; a single odd measurement
// does not undo it.
TEST(ArgSplitting, FoldEndsWhenTheWorkStopsFitting)
{
    Learner l(learner_config());
    const uint64_t fam = 12345;
    for (uint64_t i = 0; i < 8; i++)
        for (uint32_t g = 0; g < kGroups; g++)
            fm_arg_split_observe(l.a, fam, 100 + i, g, dropout_work(g));
    ASSERT_TRUE(fm_arg_split_folded(l.a, fam));
    // measurements of the folded signature that fit keep the fold
    for (int i = 0; i < 100; i++)
        EXPECT_EQ(fm_arg_split_observe(l.a, fam, kFolded, (uint32_t)i % kGroups,
                                       dropout_work((uint32_t)i % kGroups)),
                  FM_ARG_FOLD_SAME_WORK);
    // a rare one that does not fit is not enough; a change that keeps misfitting ends it
    // within four observations
    for (int i = 0; i < 3; i++)
        EXPECT_EQ(fm_arg_split_observe(l.a, fam, kFolded, 0, 2 * dropout_work(0)),
                  FM_ARG_FOLD_SAME_WORK);
    EXPECT_EQ(fm_arg_split_observe(l.a, fam, kFolded, 0, 2 * dropout_work(0)), FM_ARG_SPLIT);
    EXPECT_FALSE(fm_arg_split_folded(l.a, fam));
    fm_arg_split_stats st;
    fm_arg_split_get_stats(l.a, &st);
    EXPECT_EQ(st.unfolded, 1u);
    EXPECT_EQ(st.folded, 0u);
    // final: agreeing observations do not fold it again
    for (uint64_t i = 0; i < 40; i++)
        fm_arg_split_observe(l.a, fam, 1000 + i, 0, dropout_work(0));
    EXPECT_FALSE(fm_arg_split_folded(l.a, fam));
}

// Arguments not read (FLOPMETER_ARGS=0) teach nothing; a full table leaves the families that
// do not fit splitting, and counts them.
TEST(ArgSplitting, NothingToLearnAndFullTable)
{
    fm_arg_split_config c = learner_config();
    c.families = 2;
    Learner l(c);
    for (int i = 0; i < 100; i++)
        EXPECT_EQ(fm_arg_split_observe(l.a, 1, 0 /* FM_ARGS_NOT_READ */, 0, 5.0), FM_ARG_LEARNING);
    EXPECT_EQ(fm_arg_split_observe(l.a, 2, 7, 0, 5.0), FM_ARG_LEARNING);
    EXPECT_EQ(fm_arg_split_observe(l.a, 3, 7, 0, 5.0), -1);
    EXPECT_FALSE(fm_arg_split_folded(l.a, 3));
    EXPECT_EQ(fm_arg_split_verdict(l.a, 3), FM_ARG_LEARNING);
    fm_arg_split_stats st;
    fm_arg_split_get_stats(l.a, &st);
    EXPECT_EQ(st.families, 2u);
    EXPECT_EQ(st.not_tracked, 1u);
}

} // namespace
