// The counters around chosen launches (measured_launch.c), driven through FakeCounterBackend,
// a test double of the range profiler at the device boundary: it "runs" the kernels the test
// says ran on a context and hands back each kernel's fixed raw values, as CUPTI hands back
// what the hardware counted. Everything above the boundary is the real code: the sampler,
// the collector, the trace.
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "collector_api.h"
#include "hook_test_support.h"
#include "kernel_totals.h"

#define FM_HOOK_LAUNCH_TABLE_H // as collector_api.h: the C11 atomics stay out of C++
extern "C" {
#include "counter_backend.h"
#include "measured_launch.h"
#include "sampler.h"
}
#undef FM_HOOK_LAUNCH_TABLE_H

namespace {

using namespace hooktest;

const uint8_t kFp32 = FM_FMT_FP32, kFp64 = FM_FMT_FP64;
const uint8_t kBf16Tensor = FM_FMT_BF16 | FM_CLASS_TENSOR;
const uint8_t kFp16Tensor = FM_FMT_FP16 | FM_CLASS_TENSOR;

// FakeCounterBackend: the test double. Three single-pass groups in the shape of a real plan
// (CUDA-core counters; then two hardware groups with the duration first).
struct FakeCounterBackend {
    struct Context {
        uint64_t id = 0;
        int armed_group = FM_SAMPLE_NONE - 10; // nothing armed
        std::vector<std::pair<std::string, double>> ran; // kernels (and their work's scale)
                                                          // that ran while armed
        int opens = 0, closes = 0;
    };

    int plan_error = 0;                    // nonzero: plan() fails with it
    int decode_us = 0;                     // how long read() waits for the kernel
    bool replay_callbacks = false;         // a measured launch's replays reach the callback
    std::map<uint64_t, int> arm_error;     // context -> arm() fails with it
    std::map<std::string, std::vector<std::vector<double>>> values; // kernel -> group -> raw
    std::mutex mu;
    std::map<uint64_t, Context> contexts;
    std::atomic<uint64_t> plans{0}, arms{0}, reads{0}, lost{0}, contaminated{0};

    fm_hook_metric g0[2] = {{"smsp__fake_ffma.sum", kFp32, 2.0},
                            {"smsp__fake_dfma.sum", kFp64, 2.0}};
    fm_hook_metric g1[2] = {{"gpu__time_duration.sum", FM_CLASS_NONE, 0},
                            {"sm__fake_tensor_bf16.sum", kBf16Tensor, 1.0}};
    fm_hook_metric g2[2] = {{"gpu__time_duration.sum", FM_CLASS_NONE, 0},
                            {"sm__fake_tensor_fp16.sum", kFp16Tensor, 1.0}};
    fm_hook_group_def groups[3] = {{2, g0}, {2, g1}, {2, g2}};

    fm_counter_backend backend{};

    FakeCounterBackend()
    {
        // per launch: gemm 200 fp32 FLOP and 65,536 bf16 tensor FLOP; norm 8,192 fp32, 32 fp64
        values["gemm"] = {{100, 0}, {5000, 65536}, {5000, 0}};
        values["norm"] = {{4096, 16}, {800, 0}, {800, 0}};
        values["dropout"] = {{512, 0}, {900, 0}, {900, 0}};   // 1,024 fp32 FLOP
        values["gemm_k"] = {{0, 0}, {700, 4096}, {700, 0}};   // 4,096 x K bf16 tensor FLOP
        backend.self = this;
        backend.plan = [](void *self, uint64_t, uint32_t, fm_backend_plan *out, char *why,
                          size_t len) {
            auto *f = static_cast<FakeCounterBackend *>(self);
            f->plans++;
            if (f->plan_error) {
                snprintf(why, len, "chip FAKE is not in the catalog (fake)");
                return f->plan_error;
            }
            out->chip = "GH100";
            out->n_groups = 3;
            out->groups = f->groups;
            out->leaves_left_out = 1;
            out->left_out = "sm__fake_int8.sum";
            return 0;
        };
        backend.open = [](void *self, uint64_t context, uint32_t, void **state, char *,
                          size_t) {
            auto *f = static_cast<FakeCounterBackend *>(self);
            std::lock_guard<std::mutex> g(f->mu);
            Context &c = f->contexts[context];
            c.id = context;
            c.opens++;
            *state = &c;
            return 0;
        };
        backend.arm = [](void *self, void *state, int group, char *why, size_t len) {
            auto *f = static_cast<FakeCounterBackend *>(self);
            auto *c = static_cast<Context *>(state);
            std::lock_guard<std::mutex> g(f->mu);
            f->arms++;
            auto e = f->arm_error.find(c->id);
            if (e != f->arm_error.end()) {
                snprintf(why, len, "cuptiRangeProfilerSetConfig failed (fake)");
                return e->second;
            }
            c->armed_group = group;
            c->ran.clear();
            return 0;
        };
        backend.read = [](void *self, void *state, int group, int launched, double *out,
                          uint32_t max, uint32_t *passes, char *, size_t) {
            auto *f = static_cast<FakeCounterBackend *>(self);
            auto *c = static_cast<Context *>(state);
            // decoding waits for the kernel to finish: the measurement lasts a while
            std::this_thread::sleep_for(std::chrono::microseconds(f->decode_us));
            std::lock_guard<std::mutex> g(f->mu);
            f->reads++;
            std::vector<std::pair<std::string, double>> ran;
            ran.swap(c->ran);
            c->armed_group = FM_SAMPLE_NONE - 10;
            if (!launched || ran.size() != 1) { // as CUPTI: not exactly one range
                if (ran.size() > 1)
                    f->contaminated++;
                f->lost++;
                return FM_BACKEND_LOST;
            }
            const auto &v = f->values.at(ran[0].first);
            uint32_t n = 0;
            uint32_t first = group == FM_SAMPLE_ALL ? 0 : (uint32_t)group;
            uint32_t end = group == FM_SAMPLE_ALL ? 3 : first + 1;
            for (uint32_t gi = first; gi < end; gi++)
                for (size_t i = 0; i < v[gi].size(); i++)
                    if (n < max) // the duration (first in groups 1 and 2) does not scale
                        out[n++] = v[gi][i] * (gi > 0 && i == 0 ? 1.0 : ran[0].second);
            *passes = end - first;
            return 0;
        };
        backend.close = [](void *self, void *state) {
            auto *f = static_cast<FakeCounterBackend *>(self);
            std::lock_guard<std::mutex> g(f->mu);
            static_cast<Context *>(state)->closes++;
        };
        backend.kind_of = [](void *, int error) -> uint32_t {
            return error == 7 ? FM_DEGRADE_COUNTERS_BUSY : FM_DEGRADE_UNSUPPORTED_DEVICE;
        };
    }

    // The GPU side of one launch on a context: the kernel runs, and the counters see it when
    // they are armed there.
    void ran(uint64_t context, const std::string &kernel, double scale)
    {
        std::lock_guard<std::mutex> g(mu);
        auto c = contexts.find(context);
        if (c != contexts.end() && c->second.armed_group != FM_SAMPLE_NONE - 10)
            c->second.ran.push_back({kernel, scale});
    }

    // One launch as the CUPTI glue makes it: entry, the kernel, exit. scale multiplies the
    // kernel's work (a GEMM's K).
    void launch(uint64_t context, const fm_launch_info &l, bool ok = true, bool never = false,
                double scale = 1.0)
    {
        fm_measuring_launch(context, 0, &l, never ? 1 : 0);
        if (ok)
            ran(context, l.name, scale);
        if (replay_callbacks && armed(context))
            for (int pass = 1; pass < 3; pass++) { // the replays, seen as launches
                fm_measuring_launch(context, 0, &l, 0);
                fm_measuring_launch_done(1);
            }
        fm_measuring_launch_done(ok ? 1 : 0);
    }

    bool armed(uint64_t context)
    {
        std::lock_guard<std::mutex> g(mu);
        auto c = contexts.find(context);
        return c != contexts.end() && c->second.armed_group != FM_SAMPLE_NONE - 10;
    }
};



// The position of a trace's metric group id in the plan (ids are the trace's own numbering).
size_t group_index(const Trace &t, uint64_t id)
{
    for (size_t i = 0; i < t.metric_groups.size(); i++)
        if (t.metric_groups[i].id == id)
            return i;
    ADD_FAILURE() << "no metric group " << id;
    return 0;
}

bool near(double got, double want)
{
    return std::fabs(got - want) <= 1e-9 * std::fabs(want);
}

const uint64_t kCtxA = 0x5500001000ull, kCtxB = 0x5500002000ull;

// Runs body in a child with the hook started and measuring through the fake; returns the
// trace.
Trace run_measured(TempDir &tmp, FakeCounterBackend &fake, int mode,
                   const std::function<int()> &body,
                   const std::map<std::string, std::string> &env = {})
{
    std::string out = tmp.path("t");
    int status = run_in_child(
        [&] {
            auto e = env;
            e.emplace("FLOPMETER_INTERVAL_MS", "10");
            child_env(out, e);
            if (fm_hook_start(nullptr) != 0)
                return 10;
            if (fm_measuring_start(&fake.backend, mode, 0.02) != 0 ||
                fm_measuring_start(&fake.backend, mode, 0.02) == 0) // once only
                return 11;
            int rc = body();
            fm_hook_stop(FM_EXIT_NORMAL);
            return rc;
        },
        tmp.path("err"));
    EXPECT_EQ(describe_status(status), "exit 0") << read_text(tmp.path("err"));
    // the trace is valid as the post-processor reads it: among others, every sample follows
    // the declaration of its metric group (planned at the first launch, while the flusher
    // may be half-way through a flush)
    return verified_trace(out);
}

TEST(MeasuredLaunch, SampledLaunchesReadTheCountersOfTheirOwnKernel)
{
    TempDir tmp;
    FakeCounterBackend fake;
    const uint64_t kGemms = 5000, kNorms = 2500;
    Trace t = run_measured(tmp, fake, FM_PROFILE_SAMPLED, [&] {
        fm_launch_info gemm = kernel_launch("gemm", 0x7f5000000000ull);
        fm_launch_info norm = kernel_launch("norm", 0x7f5000000100ull);
        for (uint64_t i = 0; i < kGemms; i++) {
            fake.launch(kCtxA, gemm);
            if (i % 2 == 0)
                fake.launch(kCtxA, norm);
        }
        return fake.plans == 1 && fake.contexts[kCtxA].opens == 1 && fake.lost == 0 ? 0 : 20;
    });
    ASSERT_TRUE(t.final_seen);
    ASSERT_EQ(t.metric_groups.size(), 3u);
    EXPECT_EQ(t.metric_groups[0].chip, "GH100");
    EXPECT_EQ(t.metric_groups[2].names,
              std::vector<std::string>({"gpu__time_duration.sum", "sm__fake_tensor_fp16.sum"}));
    auto k = totals_by_kernel(t);
    EXPECT_EQ(k["gemm"].launches, kGemms);
    EXPECT_EQ(k["norm"].launches, kNorms);
    // first launches measured one group each, then a sample; the rest credited
    EXPECT_GE(k["gemm"].measured, 6u);
    EXPECT_LT(k["gemm"].measured, kGemms / 2);
    EXPECT_EQ(k["gemm"].measured + k["gemm"].extrapolated, kGemms);
    EXPECT_EQ(k["norm"].measured + k["norm"].extrapolated, kNorms);
    EXPECT_TRUE(near(k["gemm"].ops[kFp32], 200.0 * kGemms)) << k["gemm"].ops[kFp32];
    EXPECT_TRUE(near(k["gemm"].ops[kBf16Tensor], 65536.0 * kGemms));
    EXPECT_TRUE(near(k["norm"].ops[kFp32], 8192.0 * kNorms));
    EXPECT_TRUE(near(k["norm"].ops[kFp64], 32.0 * kNorms));
    // the counters the plan could not place are said to be uncounted
    bool said = false;
    for (auto &d : t.degradations)
        said |= d.message.find("sm__fake_int8.sum") != std::string::npos;
    EXPECT_TRUE(said);
}

TEST(MeasuredLaunch, ExactModeSplitsAReplayedLaunchIntoItsGroups)
{
    TempDir tmp;
    FakeCounterBackend fake;
    const uint64_t kGemms = 300;
    Trace t = run_measured(tmp, fake, FM_PROFILE_EXACT, [&] {
        fm_launch_info gemm = kernel_launch("gemm", 0x7f5000000000ull);
        for (uint64_t i = 0; i < kGemms; i++)
            fake.launch(kCtxA, gemm);
        return 0;
    });
    auto k = totals_by_kernel(t);
    EXPECT_EQ(k["gemm"].measured, kGemms);
    EXPECT_EQ(k["gemm"].extrapolated, 0u);
    ASSERT_EQ(t.samples.size(), 3 * kGemms);
    for (auto &s : t.samples) {
        EXPECT_EQ(s.passes, 3u);
        EXPECT_EQ(s.values, fake.values["gemm"][group_index(t, s.group)]) << "group " << s.group;
    }
    EXPECT_TRUE(near(k["gemm"].ops[kBf16Tensor], 65536.0 * kGemms));
}

// Should the profiler's replays of a measured kernel (or the driver's own launches) reach the
// launch callback while the measurement is armed, they are neither counted nor made to wait
// at the gate (which would wait for that very measurement forever).
TEST(MeasuredLaunch, LaunchCallbacksInsideAMeasurementAreNotThePrograms)
{
    TempDir tmp;
    FakeCounterBackend fake;
    fake.replay_callbacks = true;
    const uint64_t kGemms = 200;
    Trace t = run_measured(tmp, fake, FM_PROFILE_EXACT, [&] {
        fm_launch_info gemm = kernel_launch("gemm", 0x7f5000000000ull);
        for (uint64_t i = 0; i < kGemms; i++)
            fake.launch(kCtxA, gemm);
        return fake.reads == kGemms && fake.lost == 0 ? 0 : 20;
    });
    auto k = totals_by_kernel(t);
    EXPECT_EQ(k["gemm"].launches, kGemms);
    EXPECT_EQ(k["gemm"].measured, kGemms);
    EXPECT_TRUE(near(k["gemm"].ops[kBf16Tensor], 65536.0 * kGemms));
}

TEST(MeasuredLaunch, AChipThatCannotBePlannedLeavesLaunchesCountedAndUnmeasured)
{
    TempDir tmp;
    FakeCounterBackend fake;
    fake.plan_error = 35;
    Trace t = run_measured(tmp, fake, FM_PROFILE_SAMPLED, [&] {
        fm_launch_info gemm = kernel_launch("gemm", 0x7f5000000000ull);
        for (int i = 0; i < 100; i++)
            fake.launch(kCtxA, gemm);
        // planned once; measuring is off for good
        return fake.plans == 1 && !fm_measuring_on() && fake.arms == 0 ? 0 : 20;
    });
    EXPECT_TRUE(t.metric_groups.empty());
    auto k = totals_by_kernel(t);
    EXPECT_EQ(k["gemm"].launches, 100u);
    EXPECT_EQ(k["gemm"].measured + k["gemm"].extrapolated, 0u);
    EXPECT_TRUE(k["gemm"].ops.empty()) << "unmeasured, never zero work";
    ASSERT_EQ(t.degradations.size(), 1u);
    EXPECT_EQ(t.degradations[0].kind, (uint64_t)FM_DEGRADE_UNSUPPORTED_DEVICE);
    EXPECT_EQ(t.degradations[0].api_result, 35);
    EXPECT_NE(t.degradations[0].message.find("chip FAKE is not in the catalog (fake)"),
              std::string::npos)
        << t.degradations[0].message;
}

TEST(MeasuredLaunch, AFailingContextStopsMeasuringThereOnly)
{
    TempDir tmp;
    FakeCounterBackend fake;
    fake.arm_error[kCtxB] = 7; // busy counters on the second GPU
    Trace t = run_measured(tmp, fake, FM_PROFILE_EXACT, [&] {
        fm_launch_info gemm = kernel_launch("gemm", 0x7f5000000000ull);
        fm_launch_info norm = kernel_launch("norm", 0x7f5000000100ull);
        for (int i = 0; i < 50; i++) {
            fake.launch(kCtxA, gemm);
            fake.launch(kCtxB, norm);
        }
        // B was armed once, failed, and was not asked again
        return fake.arms == 51 ? 0 : 20;
    });
    auto k = totals_by_kernel(t);
    EXPECT_EQ(k["gemm"].measured, 50u);
    EXPECT_EQ(k["norm"].launches, 50u);
    EXPECT_EQ(k["norm"].measured + k["norm"].extrapolated, 0u);
    int busy = 0;
    for (auto &d : t.degradations)
        if (d.kind == FM_DEGRADE_COUNTERS_BUSY) {
            busy++;
            EXPECT_NE(d.message.find("cuptiRangeProfilerSetConfig failed (fake)"),
                      std::string::npos);
        }
    EXPECT_EQ(busy, 1);
}

TEST(MeasuredLaunch, FailedLaunchesAndSkippedKernelsAreNeverMeasured)
{
    TempDir tmp;
    FakeCounterBackend fake;
    Trace t = run_measured(tmp, fake, FM_PROFILE_EXACT, [&] {
        fm_launch_info gemm = kernel_launch("gemm", 0x7f5000000000ull);
        fm_launch_info nccl = kernel_launch("ncclDevKernel_AllReduce", 0x7f5000000300ull);
        for (int i = 0; i < 20; i++) {
            fake.launch(kCtxA, gemm, /*ok=*/false);
            fake.launch(kCtxA, nccl, true, /*never=*/true);
        }
        return fake.lost == 20 ? 0 : 20; // each failed launch lost, not an error
    });
    auto k = totals_by_kernel(t);
    EXPECT_EQ(k["ncclDevKernel_AllReduce"].launches, 20u);
    EXPECT_EQ(k["ncclDevKernel_AllReduce"].measured, 0u);
    EXPECT_EQ(k["gemm"].measured, 0u);
    for (auto &d : t.degradations)
        EXPECT_EQ(d.message.find("counted from now on"), std::string::npos) << d.message;
}

TEST(MeasuredLaunch, AContextMadeAgainAtTheSameAddressIsOpenedAgain)
{
    TempDir tmp;
    FakeCounterBackend fake;
    run_measured(tmp, fake, FM_PROFILE_EXACT, [&] {
        fm_launch_info gemm = kernel_launch("gemm", 0x7f5000000000ull);
        fake.launch(kCtxA, gemm);
        fm_measuring_context_gone(kCtxA);
        fake.launch(kCtxA, gemm);
        auto &c = fake.contexts[kCtxA];
        return c.opens == 2 && c.closes == 1 && fake.reads == 2 ? 0 : 20;
    });
}

// Eight threads launching on one context, four of them a kernel measured at every launch
// (a long first phase) and four a kernel never measured: no kernel of another thread runs
// inside a measurement. Launches that start while a measurement is armed wait for it, and
// the measurement waits for launches already under way (launch_gate.h).
TEST(MeasuredLaunch, ConcurrentThreadsNeverContaminateAMeasurement)
{
    TempDir tmp;
    FakeCounterBackend fake;
    fake.decode_us = 50;
    const int kThreads = 8, kPerThread = 500;
    Trace t = run_measured(
        tmp, fake, FM_PROFILE_SAMPLED,
        [&] {
            std::vector<std::thread> threads;
            for (int th = 0; th < kThreads; th++)
                threads.emplace_back([&, th] {
                    bool measured = th % 2 == 0;
                    fm_launch_info l = kernel_launch(measured ? "gemm" : "norm",
                                                     measured ? 0x7f5000000000ull
                                                              : 0x7f5000000100ull);
                    for (int i = 0; i < kPerThread; i++)
                        fake.launch(kCtxA, l, true, !measured);
                });
            for (auto &th : threads)
                th.join();
            // no kernel of another thread ran inside a measurement: none was lost
            return fake.lost == 0 && fake.reads == kThreads / 2 * kPerThread ? 0 : 20;
        },
        {{"FLOPMETER_PROFILE_FIRST", "1000"}});
    auto k = totals_by_kernel(t);
    EXPECT_EQ(k["gemm"].launches + k["norm"].launches, (uint64_t)kThreads * kPerThread);
    EXPECT_EQ(k["norm"].measured, 0u);
    EXPECT_EQ(k["gemm"].measured, (uint64_t)kThreads / 2 * kPerThread);
    // every sample is exactly its kernel's values
    for (auto &s : t.samples) {
        const auto &sig = t.signatures.at(s.signature);
        EXPECT_EQ(s.values, fake.values[sig.name][group_index(t, s.group)]) << sig.name;
    }
}

// The argument learner, wired in: a dropout-like kernel with a new seed on every launch folds
// into one signature once its seeds are seen to do the same work; a GEMM-like kernel whose
// arguments carry K stays split by K. The launch table's own backstop (a fold after
// FLOPMETER_ARG_VARIANTS variants) is set out of reach, so the learner is what folds.
Trace run_arguments(TempDir &tmp, const char *learn)
{
    FakeCounterBackend fake;
    return run_measured(
        tmp, fake, FM_PROFILE_SAMPLED,
        [&] {
            fm_launch_info dropout = kernel_launch("dropout", 0x7f5000000400ull);
            fm_launch_info gemm = kernel_launch("gemm_k", 0x7f5000000500ull);
            for (uint64_t i = 0; i < 3000; i++) {
                dropout.arg_hash = 0x1000 + i; // a new seed every step
                fake.launch(kCtxA, dropout);
                uint64_t k = 1 + i % 4;       // four shapes, K in the arguments
                gemm.arg_hash = 0x2000 + k;
                fake.launch(kCtxA, gemm, true, false, (double)k);
                // the flusher hands the samples to the learner (every 10 ms here): steps
                // spaced in time at first, as a training loop's are
                if (i % (i < 100 ? 5 : 100) == 4)
                    std::this_thread::sleep_for(std::chrono::milliseconds(12));
            }
            return 0;
        },
        {{"FLOPMETER_ARG_VARIANTS", "16777216"}, {"FLOPMETER_ARG_LEARN", learn}});
}

TEST(MeasuredLaunch, ArgumentsThatDoNotDecideTheWorkAreFolded)
{
    TempDir tmp;
    Trace t = run_arguments(tmp, "1");
    size_t dropout_sigs = 0, gemm_sigs = 0, folded = 0;
    for (auto &kv : t.signatures) {
        const auto &sig = kv.second;
        dropout_sigs += sig.name == "dropout";
        gemm_sigs += sig.name == "gemm_k";
        if (sig.arg_hash == ~0ull) {
            folded++;
            EXPECT_EQ(sig.name, "dropout");
        }
    }
    EXPECT_EQ(folded, 1u);
    EXPECT_LE(dropout_sigs, 50u) << "folded after a few dozen seeds at most, not 3,000";
    std::printf("dropout-like kernel: %zu signatures for 3000 seeds; gemm-like: %zu\n",
                dropout_sigs, gemm_sigs); // docs/hook.md quotes it
    EXPECT_EQ(gemm_sigs, 4u) << "one signature per K";
    auto k = totals_by_kernel(t);
    EXPECT_EQ(k["dropout"].launches, 3000u);
    // the work is still right: dropout 1,024 fp32 per launch under its folded signature;
    // gemm 4,096 x K, K = 1..4. (The seeds before the fold were each read in one group
    // only: their launches carry that group's work alone, as the trace says of a signature
    // never read in every group.)
    uint64_t folded_launches = 0, folded_credited = 0;
    double folded_ops = 0;
    for (auto &a : t.aggregates)
        if (t.signatures.at(a.signature).arg_hash == ~0ull) {
            folded_launches += a.launches;
            folded_credited += a.launches_measured + a.launches_extrapolated;
            for (auto &c : a.classes)
                folded_ops += c.first == kFp32 ? c.second.first + c.second.second : 0;
        }
    EXPECT_GE(folded_launches, 2950u);
    EXPECT_GE(folded_credited + 10, folded_launches) << "a few first launches may be unmeasured";
    EXPECT_TRUE(near(folded_ops, 1024.0 * (double)folded_credited)) << folded_ops;
    // each K's signature credited 4,096 x K per launch it measured or extrapolated (a K's first
    // launches may wait for their signature's full count longer than the collector holds
    // them, here 3 flushes of 10 ms: those few are written unmeasured, credited nothing)
    std::map<uint64_t, std::pair<uint64_t, double>> per_k; // K -> credited launches, ops
    uint64_t gemm_launches = 0;
    for (auto &a : t.aggregates) {
        const auto &sig = t.signatures.at(a.signature);
        if (sig.name != "gemm_k")
            continue;
        gemm_launches += a.launches;
        auto &x = per_k[sig.arg_hash - 0x2000];
        x.first += a.launches_measured + a.launches_extrapolated;
        for (auto &c : a.classes)
            x.second += c.first == kBf16Tensor ? c.second.first + c.second.second : 0;
    }
    EXPECT_EQ(gemm_launches, 3000u);
    uint64_t credited = 0;
    for (auto &kv : per_k) {
        EXPECT_TRUE(near(kv.second.second, 4096.0 * (double)kv.first * (double)kv.second.first))
            << "K " << kv.first << ": " << kv.second.second;
        credited += kv.second.first;
    }
    EXPECT_GE(credited, 2980u);
}

TEST(MeasuredLaunch, WithoutTheLearnerEverySeedIsASignature)
{
    TempDir tmp;
    Trace t = run_arguments(tmp, "0");
    size_t dropout_sigs = 0;
    for (auto &kv : t.signatures)
        dropout_sigs += kv.second.name == "dropout";
    EXPECT_EQ(dropout_sigs, 3000u);
}

} // namespace
