// test_collector.cpp - the collector (hook_core.c) end to end, driven through FakeCuptiStream,
// the test double of the CUPTI callback stream: launches on several threads in nested phases,
// execution records delivered by a buffer thread, graph kernels, devices, declarations, steps
// and degradations; then `flopmeter verify` on the trace and the trace read back.
//
// The collector is one per process and starts once: every scenario runs in a forked child
// (run_in_child), and the parent checks what the child left behind.
#include <atomic>
#include <chrono>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

#include "fake_cupti_stream.h"
#include "hook_test_support.h"
#include "kernel_totals.h"

extern "C" {
#include "hook_phases.h"
#include "sampler.h"
#include "flopmeter/trace_status.h"
}

namespace {

using namespace hooktest;

// ---- the scenario, written once, run in the child and tallied in the parent ----------------

enum KernelId { GEMM, LAYERNORM, ATTENTION, REDUCE, N_KERNELS };

const FakeCuptiStream::Kernel kKernels[N_KERNELS] = {
    {0x7f1200001000ull, "_Z4gemmPKfS0_Pfiiif", {8, 8, 8, 4, 4, 4, 4}},
    {0x7f1200002000ull, "_Z9layernormPKfPfif", {8, 8, 4, 4}},
    {0x7f1200003000ull, "_Z9attention7QKVArgsf", {32, 4}},
    {0x7f1200004000ull, "_Z6reducePKfPfm", {8, 8, 8}},
};

// Device memory the fake program allocated: launches take their pointers from here.
const uint64_t kRegionBase = 0x7f3000000000ull, kRegionSize = 16ull << 20;
const int kRegions = 8;

uint64_t buffer(uint64_t step, int arg)
{
    uint64_t region = kRegionBase + (uint64_t)((step + (uint64_t)arg) % kRegions) * (1ull << 30);
    return region + (step * 4096 + (uint64_t)arg * 64) % (kRegionSize - 64);
}

struct LaunchShape {
    uint32_t grid[3], block[3];
    uint32_t shared;
};

// Variants: scalar arguments (and for gemm the grid) that make different work.
LaunchShape shape_of(KernelId k, int variant)
{
    switch (k) {
    case GEMM:
        return variant == 2 ? LaunchShape{{128, 1, 1}, {256, 1, 1}, 0}
                            : LaunchShape{{64, 1, 1}, {256, 1, 1}, 0};
    case LAYERNORM: return {{32, 1, 1}, {1024, 1, 1}, 0};
    case ATTENTION: return {{16, 8, 1}, {128, 1, 1}, 49152};
    default: return {{4, 1, 1}, {512, 1, 1}, 4096};
    }
}

template <class T> void put(std::vector<std::vector<uint8_t>> &args, const T &v)
{
    std::vector<uint8_t> b(sizeof v);
    memcpy(b.data(), &v, sizeof v);
    args.push_back(b);
}

std::vector<std::vector<uint8_t>> args_of(KernelId k, int variant, uint64_t step)
{
    std::vector<std::vector<uint8_t>> a;
    switch (k) {
    case GEMM:
        put(a, buffer(step, 0));
        put(a, buffer(step, 1));
        put(a, buffer(step, 2));
        put(a, (int32_t)1024);
        put(a, (int32_t)(variant == 2 ? 4096 : 1024));
        put(a, (int32_t)768);
        put(a, variant == 1 ? 0.5f : 1.0f);
        break;
    case LAYERNORM:
        put(a, buffer(step, 0));
        put(a, buffer(step, 3));
        put(a, (int32_t)4096);
        put(a, 1e-5f);
        break;
    case ATTENTION: {
        struct {
            uint64_t q, k, v;
            int32_t seq, heads;
        } qkv = {buffer(step, 0), buffer(step, 1), buffer(step, 2), variant ? 1024 : 512, 16};
        put(a, qkv);
        put(a, 0.125f);
        break;
    }
    default:
        put(a, buffer(step, 5));
        put(a, buffer(step, 6));
        put(a, (uint64_t)(1000 * (variant + 1))); // an 8-byte scalar: a value, not a pointer
        break;
    }
    return a;
}

uint64_t duration_of(KernelId k, int variant, uint64_t step)
{
    return 1000 * (uint64_t)(k + 1) + (step % 13) * 7 + (uint64_t)variant;
}

const char *const kGraphNames[2] = {"graph_gemm_kernel", "graph_copy_kernel"};
const LaunchShape kGraphShapes[2] = {{{8, 1, 1}, {256, 1, 1}, 0}, {{1, 1, 1}, {32, 1, 1}, 0}};
const uint64_t kGraphDurations[2] = {5000, 700};

// What the scenario should produce, tallied without running it.
struct Expected {
    // group: name and shape; variants inside a group are separate signatures
    std::map<std::string, std::map<int, uint64_t>> launches_by_group_variant;
    std::map<std::string, uint64_t> busy_by_group;
    std::map<std::pair<std::string, std::string>, uint64_t> launches_by_group_phase;
    std::map<std::string, uint64_t> launches_by_phase, busy_by_phase;
    std::map<std::string, double> tokens_by_phase, steps_by_phase;
    std::map<std::string, uint64_t> pushes, pops;
    struct Decl {
        std::string key, text, phase;
        double value;
    };
    std::vector<Decl> declarations;
    uint64_t launches = 0;
};

std::string group_key(const std::string &name, const uint64_t grid[3], const uint64_t block[3],
                      uint64_t shared)
{
    std::string g = name;
    for (int i = 0; i < 3; i++)
        g += "|" + std::to_string(grid[i]);
    for (int i = 0; i < 3; i++)
        g += "|" + std::to_string(block[i]);
    return g + "|" + std::to_string(shared);
}

std::string group_key(const std::string &name, const LaunchShape &s)
{
    uint64_t g[3] = {s.grid[0], s.grid[1], s.grid[2]}, b[3] = {s.block[0], s.block[1], s.block[2]};
    return group_key(name, g, b, s.shared);
}

// One thread's part of the scenario. With a stream it drives the collector; without one it
// only tallies into *expected.
class Script {
  public:
    Script(FakeCuptiStream *stream, Expected *expected) : s_(stream), e_(expected) {}

    void push(const std::string &name, int category = -1)
    {
        if (s_)
            fm_hook_phase_push(name.c_str(), category);
        else
            e_->pushes[name]++;
        stack_.push_back(name);
    }
    void pop()
    {
        if (s_)
            fm_hook_phase_pop();
        else
            e_->pops[stack_.back()]++;
        stack_.pop_back();
    }
    void launch(KernelId k, int variant, uint64_t step)
    {
        LaunchShape sh = shape_of(k, variant);
        uint64_t dur = duration_of(k, variant, step);
        if (s_) {
            s_->launch(kKernels[k], sh.grid, sh.block, sh.shared, 0, args_of(k, variant, step),
                       dur);
            return;
        }
        std::string g = group_key(kKernels[k].name, sh);
        e_->launches_by_group_variant[g][variant]++;
        e_->busy_by_group[g] += dur;
        e_->launches_by_group_phase[{g, phase()}]++;
        e_->launches_by_phase[phase()]++;
        e_->busy_by_phase[phase()] += dur;
        e_->launches++;
    }
    void graph_kernel(int which)
    {
        const LaunchShape &sh = kGraphShapes[which];
        if (s_) {
            s_->graph_kernel_executed(kGraphNames[which], sh.grid, sh.block, sh.shared, 0,
                                      kGraphDurations[which]);
            return;
        }
        std::string g = group_key(kGraphNames[which], sh);
        e_->launches_by_group_variant[g][0]++;
        e_->busy_by_group[g] += kGraphDurations[which];
        e_->launches_by_group_phase[{g, ""}]++; // a graph runs in no thread's phase
        e_->launches_by_phase[""]++;
        e_->busy_by_phase[""] += kGraphDurations[which];
        e_->launches++;
    }
    void step(double tokens)
    {
        if (s_) {
            fm_hook_step(tokens);
            return;
        }
        e_->tokens_by_phase[phase()] += tokens;
        e_->steps_by_phase[phase()] += 1;
    }
    void declare(const std::string &key, double value, const char *text)
    {
        if (s_)
            fm_hook_declare(key.c_str(), value, text);
        else
            e_->declarations.push_back({key, text ? text : "", phase(), value});
    }
    std::string phase() const { return stack_.empty() ? "" : stack_.back(); }

  private:
    FakeCuptiStream *s_;
    Expected *e_;
    std::vector<std::string> stack_;
};

// Phases per step, launches per micro-batch: about 2000 phase events in all, fewer than the
// event buffer holds, so that none can be dropped however the flushes fall.
const uint64_t kSteps = 300, kMicroBatches = 10, kEvals = 100, kLoose = 2000, kGraphRuns = 300;

// The training loop's thread: forward in pretraining, recomputation nested inside it.
void trainer(Script &s)
{
    for (uint64_t st = 0; st < kSteps; st++) {
        s.push("pretraining");
        if (st == 0)
            s.declare("model.parameters", 7e9, nullptr);
        for (uint64_t mb = 0; mb < kMicroBatches; mb++) {
            uint64_t i = st * kMicroBatches + mb;
            for (int k = 0; k < 3; k++)
                s.launch(GEMM, 0, i + (uint64_t)k);
            s.launch(LAYERNORM, 0, i);
            s.launch(LAYERNORM, 0, i + 1);
            s.launch(ATTENTION, 0, i);
        }
        s.push("recompute");
        for (uint64_t mb = 0; mb < kMicroBatches; mb++)
            s.launch(GEMM, 1, st * kMicroBatches + mb);
        s.pop();
        s.step(2048);
        s.pop();
    }
    s.declare("run.note", 1, "driven by the fake CUPTI stream");
}

// Autograd's own thread: the backward pass in a custom phase.
void backward(Script &s)
{
    for (uint64_t st = 0; st < kSteps; st++) {
        s.push("backward-pass");
        for (uint64_t mb = 0; mb < kMicroBatches; mb++) {
            uint64_t i = st * kMicroBatches + mb;
            s.launch(GEMM, 2, i);
            s.launch(GEMM, 2, i + 7);
            s.launch(REDUCE, (int)(i % 3), i);
        }
        s.pop();
    }
}

// An evaluation thread, with a phase of an explicit category at the end.
void evaluator(Script &s)
{
    for (uint64_t e = 0; e < kEvals; e++) {
        s.push("evaluation");
        for (uint64_t b = 0; b < 10; b++) {
            s.launch(ATTENTION, 1, e * 10 + b);
            s.launch(ATTENTION, 1, e * 10 + b + 3);
            s.launch(LAYERNORM, 0, e * 10 + b);
        }
        if (e < 5)
            s.step(512);
        s.pop();
    }
    s.push("holdout", FM_PHASE_EVALUATION);
    s.launch(REDUCE, 0, 0);
    s.declare("eval.loss", 2.25, nullptr);
    s.pop();
}

// Work outside any phase.
void loose(Script &s)
{
    for (uint64_t i = 0; i < kLoose; i++) {
        s.launch(LAYERNORM, 0, i);
        s.launch(GEMM, 2, i);
    }
}

// CUDA graphs replayed: their kernels are seen only as executions.
void graphs(Script &s)
{
    for (uint64_t i = 0; i < kGraphRuns; i++) {
        s.graph_kernel(0);
        s.graph_kernel(1);
    }
}

const std::vector<void (*)(Script &)> kThreads = {trainer, backward, evaluator, loose, graphs};

Expected tally()
{
    Expected e;
    for (auto fn : kThreads) {
        Script s(nullptr, &e);
        fn(s);
    }
    return e;
}

const uint8_t kUuid[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

// The child: the whole scenario against the real collector. Returns 0, or where it failed.
int run_scenario(const std::string &out_dir)
{
    reset_hook_environment();
    setenv("FLOPMETER_OUTPUT_DIR", out_dir.c_str(), 1);
    setenv("FLOPMETER_RUN_ID", "e2e-run", 1);
    setenv("FLOPMETER_INTERVAL_MS", "10", 1); // many flushes while the threads run
    setenv("FLOPMETER_FLUSH_MS", "10", 1);
    setenv("FLOPMETER_MAX_SIGNATURES", "4096", 1);
    setenv("RANK", "3", 1);
    setenv("LOCAL_RANK", "1", 1);
    setenv("WORLD_SIZE", "8", 1);
    fm_hook_versions v = {13000, 12090, 130001};
    if (fm_hook_start(&v) != 0)
        return 10;
    if (fm_hook_state() != FM_HOOK_RUNNING || fm_hook_start(&v) != 0) // a second start: running
        return 11;
    FakeCuptiStream stream;
    stream.context_created(0, "Fake GPU 80GB", kUuid, "GH100", 9, 0, 132, 85899345920ull,
                           "0000:17:00.0");
    for (int r = 0; r < kRegions; r++)
        stream.mem_alloc(kRegionBase + (uint64_t)r * (1ull << 30), kRegionSize);
    stream.start_buffer_thread(1);
    // The main thread enters a phase first, so it is the thread the others follow when they
    // are in none (hook_phases.h); it is in none while the threads run, so the loose thread's
    // launches count outside any phase.
    fm_hook_phase_push("pretraining", -1);
    fm_hook_phase_pop();
    std::vector<std::thread> ts;
    for (auto fn : kThreads)
        ts.emplace_back([&stream, fn] {
            Script s(&stream, nullptr);
            fn(s);
        });
    // a problem, reported three times from another thread: three records, one line
    std::thread problems([] {
        for (int i = 0; i < 3; i++)
            fm_hook_degrade(FM_DEGRADE_COUNTERS_BUSY, 7, 0, "hardware counters are busy (%s)",
                            "fake");
    });
    for (auto &t : ts)
        t.join();
    problems.join();
    stream.stop_buffer_thread(); // the rest of the execution records, as at exit
    fm_hook_stats st;
    fm_hook_get_stats(&st);
    if (st.launches != tally().launches || st.dropped_signatures || st.dropped_pairs)
        return 12;
    fm_hook_stop(FM_EXIT_TOOL);
    if (fm_hook_state() != FM_HOOK_STOPPED || !*fm_hook_trace_path())
        return 13;
    fm_hook_stop(FM_EXIT_NORMAL); // again: nothing happens
    return 0;
}

TEST(HookCollector, EndToEndThroughFakeCuptiStream)
{
    TempDir tmp;
    std::string out = tmp.path("traces"), err = tmp.path("stderr");
    int status = run_in_child([&] { return run_scenario(out); }, err);
    std::string errtext = read_text(err);
    ASSERT_EQ(describe_status(status), "exit 0") << errtext;
    Expected want = tally();
    want.pushes["pretraining"]++; // the main thread's, before the threads start
    want.pops["pretraining"]++;

    // stderr: where the trace goes, and the problem once
    EXPECT_EQ(lines_with(errtext, "flopmeter: measuring into ").size(), 1u) << errtext;
    EXPECT_EQ(lines_with(errtext, "hardware counters are busy").size(), 1u) << errtext;
    EXPECT_EQ(split_lines(errtext).size(), 2u) << errtext;

    std::string path = only_trace(out);
    ASSERT_FALSE(path.empty());
    EXPECT_NE(path.find("/e2e-run/"), std::string::npos) << path;
    EXPECT_NE(path.find("-r00003-p"), std::string::npos) << path;
    ProcResult v = flopmeter_verify(path);
    EXPECT_TRUE(v.exited(0)) << v.describe();

    Trace t = read_trace(path);
    ASSERT_EQ(t.status, FM_END) << t.error;
    ASSERT_TRUE(t.final_seen);
    EXPECT_EQ(t.exit_reason, (uint64_t)FM_EXIT_TOOL);
    EXPECT_EQ(t.records_dropped, 0u);
    EXPECT_EQ(t.run_meta.run_id, "e2e-run");
    EXPECT_EQ(t.run_meta.rank, 3);
    EXPECT_EQ(t.run_meta.local_rank, 1);
    EXPECT_EQ(t.run_meta.world_size, 8u);
    EXPECT_EQ(t.run_meta.cuda_driver, 13000u);
    EXPECT_EQ(t.run_meta.cuda_runtime, 12090u);
    EXPECT_EQ(t.run_meta.cupti, 130001u);
    EXPECT_EQ(t.run_meta.config["interval_ms"], "10");
    EXPECT_EQ(t.run_meta.config["max_signatures"], "4096");

    // the device
    ASSERT_EQ(t.devices.size(), 1u);
    EXPECT_EQ(t.devices[0].name, "Fake GPU 80GB");
    EXPECT_EQ(t.devices[0].chip, "GH100");
    EXPECT_EQ(t.devices[0].cc_major, 9u);
    EXPECT_EQ(t.devices[0].sm_count, 132u);
    EXPECT_EQ(t.devices[0].memory_bytes, 85899345920ull);
    EXPECT_EQ(t.devices[0].pci_bus_id, "0000:17:00.0");
    EXPECT_EQ(memcmp(t.devices[0].uuid, kUuid, 16), 0);

    // phases, with their categories
    std::map<std::string, uint64_t> categories;
    for (auto &p : t.phases)
        categories[p.second.name] = p.second.category;
    std::map<std::string, uint64_t> want_categories = {
        {"pretraining", FM_PHASE_PRETRAINING}, {"recompute", FM_PHASE_RECOMPUTATION},
        {"backward-pass", FM_PHASE_CUSTOM},    {"evaluation", FM_PHASE_EVALUATION},
        {"holdout", FM_PHASE_EVALUATION}};
    EXPECT_EQ(categories, want_categories);
    EXPECT_EQ(t.phases.size(), want_categories.size()); // each defined once

    // phase events: as many as pushed and popped, properly nested on each thread
    std::map<std::string, uint64_t> pushes, pops;
    std::map<uint64_t, std::vector<uint64_t>> stacks; // per thread id
    std::set<uint64_t> threads_with_phases;
    for (auto &e : t.phase_events) {
        std::string name = t.phase_name(e.phase);
        ASSERT_FALSE(name.empty()) << "an event names an undefined phase " << e.phase;
        threads_with_phases.insert(e.thread_id);
        auto &stack = stacks[e.thread_id];
        if (e.action == FM_PHASE_PUSH) {
            pushes[name]++;
            stack.push_back(e.phase);
        } else {
            ASSERT_EQ(e.action, (uint64_t)FM_PHASE_POP);
            pops[name]++;
            ASSERT_FALSE(stack.empty()) << "a pop without its push";
            ASSERT_EQ(stack.back(), e.phase) << "pops out of order on thread " << e.thread_id;
            stack.pop_back();
        }
    }
    EXPECT_EQ(pushes, want.pushes);
    EXPECT_EQ(pops, want.pops);
    for (auto &s : stacks)
        EXPECT_TRUE(s.second.empty()) << "thread " << s.first << " left phases open";
    EXPECT_EQ(threads_with_phases.size(), 4u); // main (before the others), trainer, backward,
                                               // evaluator

    // launches and busy time: per phase, per kernel and shape, per signature
    std::map<std::string, uint64_t> by_phase, busy_by_phase, busy_by_group;
    std::map<std::string, std::vector<uint64_t>> per_signature; // group -> launches per sig
    std::map<std::pair<std::string, std::string>, uint64_t> by_group_phase;
    std::map<uint64_t, uint64_t> sig_launches;
    for (auto &a : t.aggregates) {
        ASSERT_TRUE(t.signatures.count(a.signature)) << a.signature;
        ASSERT_TRUE(a.phase == 0 || t.phases.count(a.phase)) << a.phase;
        const auto &sig = t.signatures.at(a.signature);
        std::string g = group_key(sig.name, sig.grid, sig.block, sig.shared_mem);
        std::string ph = t.phase_name(a.phase);
        by_phase[ph] += a.launches;
        busy_by_phase[ph] += a.busy_ns;
        busy_by_group[g] += a.busy_ns;
        by_group_phase[{g, ph}] += a.launches;
        sig_launches[a.signature] += a.launches;
        EXPECT_LE(a.start_ns, a.end_ns);
    }
    for (auto &[id, n] : sig_launches) {
        const auto &sig = t.signatures.at(id);
        per_signature[group_key(sig.name, sig.grid, sig.block, sig.shared_mem)].push_back(n);
    }
    std::map<std::string, std::vector<uint64_t>> want_per_signature;
    for (auto &[g, variants] : want.launches_by_group_variant)
        for (auto &vn : variants)
            want_per_signature[g].push_back(vn.second);
    for (auto *m : {&per_signature, &want_per_signature})
        for (auto &kv : *m)
            std::sort(kv.second.begin(), kv.second.end());
    // device pointers differ from launch to launch and are masked; scalars make signatures
    EXPECT_EQ(per_signature, want_per_signature);
    EXPECT_EQ(t.signatures.size(), 11u);
    EXPECT_EQ(by_phase, want.launches_by_phase);
    EXPECT_EQ(busy_by_phase, want.busy_by_phase);
    EXPECT_EQ(busy_by_group, want.busy_by_group);
    EXPECT_EQ(by_group_phase, want.launches_by_group_phase);
    EXPECT_EQ(t.total_launches(), want.launches);
    EXPECT_EQ(t.launches_total, want.launches);
    // graph kernels are known by name
    for (const char *g : kGraphNames) {
        bool found = false;
        for (auto &s : t.signatures)
            found |= s.second.name == g;
        EXPECT_TRUE(found) << g;
    }
    for (auto &s : t.signatures) {
        EXPECT_EQ(s.second.device, 0u);
        EXPECT_GT(s.second.first_seen_ns, 0u);
    }

    // declarations: as declared, in the phase they were made in; steps summed per phase
    std::map<std::string, double> tokens, steps;
    std::vector<Expected::Decl> others;
    for (auto &d : t.declarations) {
        std::string ph = d.phase ? t.phase_name(d.phase) : "";
        if (d.key == "data.tokens")
            tokens[ph] += d.value;
        else if (d.key == "data.steps")
            steps[ph] += d.value;
        else
            others.push_back({d.key, d.text, ph, d.value});
    }
    EXPECT_EQ(tokens, want.tokens_by_phase);
    EXPECT_EQ(steps, want.steps_by_phase);
    ASSERT_EQ(others.size(), want.declarations.size());
    auto by_key = [](const Expected::Decl &a, const Expected::Decl &b) { return a.key < b.key; };
    std::sort(others.begin(), others.end(), by_key);
    std::sort(want.declarations.begin(), want.declarations.end(), by_key);
    for (size_t i = 0; i < others.size(); i++) {
        EXPECT_EQ(others[i].key, want.declarations[i].key);
        EXPECT_EQ(others[i].value, want.declarations[i].value) << others[i].key;
        EXPECT_EQ(others[i].text, want.declarations[i].text) << others[i].key;
        EXPECT_EQ(others[i].phase, want.declarations[i].phase) << others[i].key;
    }

    // the problem: every report is a record
    ASSERT_EQ(t.degradations.size(), 3u);
    for (auto &d : t.degradations) {
        EXPECT_EQ(d.kind, (uint64_t)FM_DEGRADE_COUNTERS_BUSY);
        EXPECT_EQ(d.api_result, 7);
        EXPECT_EQ(d.message, "hardware counters are busy (fake)");
    }
}

// ---- smaller scenarios -------------------------------------------------------------------

FakeCuptiStream::Kernel kernel_n(uint64_t i)
{
    return {0x7f5500000000ull + i * 64, "kernel_" + std::to_string(i), {}};
}

const uint32_t kGrid[3] = {1, 1, 1}, kBlock[3] = {32, 1, 1};

TEST(HookCollector, FullTablesAreCountedAsDropped)
{
    TempDir tmp;
    std::string out = tmp.path("t");
    int status = run_in_child(
        [&] {
            child_env(out, {{"FLOPMETER_MAX_SIGNATURES", "16"}});
            if (fm_hook_start(nullptr) != 0)
                return 10;
            FakeCuptiStream s;
            for (int round = 0; round < 10; round++)
                for (uint64_t k = 0; k < 40; k++)
                    s.launch(kernel_n(k), kGrid, kBlock, 0, 0, {}, 100);
            s.deliver();
            fm_hook_stats st;
            fm_hook_get_stats(&st);
            if (st.launches != 160 || st.dropped_signatures != 240)
                return 11;
            fm_hook_stop(FM_EXIT_NORMAL);
            return 0;
        },
        tmp.path("err"));
    std::string err = read_text(tmp.path("err"));
    ASSERT_EQ(describe_status(status), "exit 0") << err;
    // one line says so, even when quiet
    EXPECT_EQ(lines_with(err, "were not counted").size(), 1u) << err;
    Trace t = verified_trace(out);
    ASSERT_TRUE(t.final_seen);
    EXPECT_EQ(t.signatures.size(), 16u);
    EXPECT_EQ(t.total_launches(), 160u);
    uint64_t busy = 0;
    for (auto &a : t.aggregates)
        busy += a.busy_ns;
    EXPECT_EQ(busy, 160u * 100u);
    bool said = false;
    for (auto &d : t.degradations)
        if (d.kind == FM_DEGRADE_RECORDS_DROPPED) {
            said = true;
            EXPECT_EQ(d.launches_affected, 240u);
        }
    EXPECT_TRUE(said);
    EXPECT_GE(t.records_dropped, 240u);
}

TEST(HookCollector, BadConfigurationDisablesWithOneLine)
{
    TempDir tmp;
    std::string out = tmp.path("t");
    int status = run_in_child(
        [&] {
            child_env(out, {{"FLOPMETER_FLUSH_MS", "abc"}});
            setenv("FLOPMETER_QUIET", "0", 1);
            if (fm_hook_start(nullptr) != -1 || fm_hook_state() != FM_HOOK_DISABLED)
                return 10;
            // everything else still works and does nothing
            FakeCuptiStream s;
            s.launch(kernel_n(1), kGrid, kBlock, 0, 0, {}, 100);
            s.deliver();
            if (fm_hook_phase_push("pretraining", -1) || fm_hook_declare("k", 1, nullptr) ||
                fm_hook_step(5) || fm_hook_phase_pop() || *fm_hook_trace_path())
                return 11;
            if (fm_hook_start(nullptr) != -1) // stays disabled
                return 12;
            fm_hook_stop(FM_EXIT_NORMAL);
            fm_hook_stats st;
            fm_hook_get_stats(&st);
            return st.launches == 0 ? 0 : 13;
        },
        tmp.path("err"));
    std::string err = read_text(tmp.path("err"));
    ASSERT_EQ(describe_status(status), "exit 0") << err;
    auto lines = split_lines(err);
    ASSERT_EQ(lines.size(), 1u) << err;
    EXPECT_NE(lines[0].find("FLOPMETER_FLUSH_MS='abc'"), std::string::npos) << err;
    EXPECT_EQ(lines[0].rfind("flopmeter: ", 0), 0u) << err;
    EXPECT_TRUE(files_under(tmp.dir()).size() == 1u) << "only the stderr file";
}

TEST(HookCollector, StrictStopsTheProgram)
{
    TempDir tmp;
    for (const char *bad : {"FLOPMETER_INTERVAL_MS=0", "FLOPMETER_OUTPUT_DIR="}) {
        std::string kv = bad;
        std::string key = kv.substr(0, kv.find('=')), value = kv.substr(kv.find('=') + 1);
        int status = run_in_child(
            [&] {
                child_env(tmp.path("t"), {{"FLOPMETER_STRICT", "1"}});
                setenv(key.c_str(), value.c_str(), 1);
                fm_hook_start(nullptr);
                return 0; // not reached
            },
            tmp.path("err"));
        std::string err = read_text(tmp.path("err"));
        EXPECT_EQ(describe_status(status), "exit 70") << bad << "\n" << err;
        EXPECT_EQ(split_lines(err).size(), 1u) << err;
        EXPECT_NE(err.find(key), std::string::npos) << err;
        EXPECT_NE(err.find("FLOPMETER_STRICT"), std::string::npos) << err;
    }
    EXPECT_TRUE(traces_under(tmp.dir()).empty());
}

TEST(HookCollector, OutputDirectoryThatCannotBeMade)
{
    TempDir tmp;
    FILE *f = fopen(tmp.path("a-file").c_str(), "w");
    ASSERT_NE(f, nullptr);
    fclose(f);
    std::string out = tmp.path("a-file/traces");
    int status = run_in_child(
        [&] {
            child_env(out);
            return fm_hook_start(nullptr) == -1 && fm_hook_state() == FM_HOOK_DISABLED ? 0 : 10;
        },
        tmp.path("err"));
    std::string err = read_text(tmp.path("err"));
    ASSERT_EQ(describe_status(status), "exit 0") << err;
    ASSERT_EQ(split_lines(err).size(), 1u) << err;
    EXPECT_NE(err.find("cannot create the directory"), std::string::npos) << err;
    EXPECT_NE(err.find("not measuring"), std::string::npos) << err;
    // and with FLOPMETER_STRICT=1 the program is stopped
    status = run_in_child(
        [&] {
            child_env(out, {{"FLOPMETER_STRICT", "1"}});
            fm_hook_start(nullptr);
            return 0;
        },
        tmp.path("err"));
    EXPECT_EQ(describe_status(status), "exit 70");
}

TEST(HookCollector, WhatIsToldBeforeStartIsKeptAndAfterStopIgnored)
{
    TempDir tmp;
    std::string out = tmp.path("t");
    int status = run_in_child(
        [&] {
            child_env(out);
            // before CUDA starts (the collector is idle)
            fm_hook_phase_push("pretraining", -1);
            fm_hook_declare("model.parameters", 1.5e9, "before start");
            fm_hook_degrade(FM_DEGRADE_OTHER, 0, 0, "said before the trace existed");
            fm_hook_step(100);
            if (fm_hook_state() != FM_HOOK_IDLE || *fm_hook_trace_path())
                return 10;
            if (fm_hook_start(nullptr) != 0)
                return 11;
            std::string path = fm_hook_trace_path();
            FakeCuptiStream s;
            s.launch(kernel_n(1), kGrid, kBlock, 0, 0, {}, 100);
            fm_hook_step(50);
            fm_hook_phase_pop();
            s.deliver();
            fm_hook_stop(FM_EXIT_NORMAL);
            // after the end: nothing reaches the trace, nothing fails
            s.launch(kernel_n(2), kGrid, kBlock, 0, 0, {}, 100);
            s.deliver();
            fm_hook_declare("after.stop", 1, nullptr);
            fm_hook_phase_push("eval", -1);
            fm_hook_phase_pop();
            fm_hook_stop(FM_EXIT_SIGNAL);
            if (fm_hook_start(nullptr) != -1 || fm_hook_state() != FM_HOOK_STOPPED)
                return 12;
            return path == fm_hook_trace_path() ? 0 : 13;
        },
        tmp.path("err"));
    std::string err = read_text(tmp.path("err"));
    ASSERT_EQ(describe_status(status), "exit 0") << err;
    Trace t = verified_trace(out);
    ASSERT_TRUE(t.final_seen);
    EXPECT_EQ(t.exit_reason, (uint64_t)FM_EXIT_NORMAL); // the first stop's
    ASSERT_EQ(t.phases.size(), 1u);
    uint64_t pre = t.phases.begin()->first;
    EXPECT_EQ(t.phases.begin()->second.name, "pretraining");
    ASSERT_EQ(t.phase_events.size(), 2u);
    EXPECT_EQ(t.phase_events[0].action, (uint64_t)FM_PHASE_PUSH);
    EXPECT_EQ(t.phase_events[1].action, (uint64_t)FM_PHASE_POP);
    std::map<std::string, std::pair<double, uint64_t>> decls;
    for (auto &d : t.declarations)
        decls[d.key] = {d.value, d.phase};
    EXPECT_EQ(decls["model.parameters"], std::make_pair(1.5e9, pre));
    EXPECT_EQ(decls["data.tokens"], std::make_pair(150.0, pre));
    EXPECT_EQ(decls["data.steps"], std::make_pair(2.0, pre));
    EXPECT_EQ(decls.count("after.stop"), 0u);
    ASSERT_EQ(t.degradations.size(), 1u);
    EXPECT_EQ(t.degradations[0].message, "said before the trace existed");
    EXPECT_EQ(t.total_launches(), 1u);
    ASSERT_EQ(t.aggregates.size(), 1u);
    EXPECT_EQ(t.aggregates[0].phase, pre);
    EXPECT_EQ(t.aggregates[0].busy_ns, 100u);
}

TEST(HookCollector, ExecutionRecordsThatMatchNoLaunch)
{
    TempDir tmp;
    std::string out = tmp.path("t");
    int status = run_in_child(
        [&] {
            child_env(out);
            fm_hook_kernel_executed(1, 999); // before start: ignored
            if (fm_hook_start(nullptr) != 0)
                return 10;
            fm_hook_kernel_executed(0, 1000);       // no correlation id
            fm_hook_kernel_executed(123456, 1000);  // never launched
            FakeCuptiStream s;
            uint64_t c = s.launch(kernel_n(1), kGrid, kBlock, 0, 0, {}, 10);
            s.deliver();
            fm_hook_kernel_executed(c, 5); // a second record for the same launch adds up
            // correlation ids go round the ring of launches awaiting their records: a record
            // without a correlation id must not land on the launch of id 2^20
            FakeCuptiStream::Kernel k2 = kernel_n(2);
            fm_launch_info l;
            memset(&l, 0, sizeof l);
            l.function = k2.function;
            l.name = k2.name.c_str();
            memcpy(l.grid, kGrid, sizeof l.grid);
            memcpy(l.block, kBlock, sizeof l.block);
            for (uint64_t id = 2; id <= (1u << 20); id++) {
                l.correlation_id = id;
                fm_hook_launch(&l);
            }
            fm_hook_kernel_executed(0, 1000);
            fm_hook_stop(FM_EXIT_NORMAL);
            return 0;
        },
        tmp.path("err"));
    ASSERT_EQ(describe_status(status), "exit 0") << read_text(tmp.path("err"));
    Trace t = read_trace(only_trace(out));
    ASSERT_TRUE(t.final_seen);
    std::map<std::string, std::pair<uint64_t, uint64_t>> by_kernel; // launches, busy
    for (auto &a : t.aggregates) {
        auto &k = by_kernel[t.signatures.at(a.signature).name];
        k.first += a.launches;
        k.second += a.busy_ns;
    }
    EXPECT_EQ(by_kernel["kernel_1"], std::make_pair((uint64_t)1, (uint64_t)15));
    EXPECT_EQ(by_kernel["kernel_2"], std::make_pair((uint64_t)(1u << 20) - 1, (uint64_t)0));
}

TEST(HookCollector, TheFlusherWritesWhileTheProgramRuns)
{
    TempDir tmp;
    std::string out = tmp.path("t");
    int status = run_in_child(
        [&] {
            child_env(out, {{"FLOPMETER_INTERVAL_MS", "10"}, {"FLOPMETER_FLUSH_MS", "10"}});
            if (fm_hook_start(nullptr) != 0)
                return 10;
            FakeCuptiStream s;
            for (int i = 0; i < 100; i++)
                s.launch(kernel_n(1), kGrid, kBlock, 0, 0, {}, 10);
            s.deliver();
            // the launches reach the file within a few intervals, without any stop
            std::string path = fm_hook_trace_path();
            bool seen = false;
            for (int i = 0; i < 300 && !seen; i++) {
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
                Trace t = read_trace(path);
                seen = !t.final_seen && t.total_launches() == 100;
            }
            if (!seen)
                return 11;
            for (int i = 0; i < 50; i++)
                s.launch(kernel_n(1), kGrid, kBlock, 0, 0, {}, 10);
            s.deliver();
            fm_hook_stop(FM_EXIT_NORMAL);
            return 0;
        },
        tmp.path("err"));
    ASSERT_EQ(describe_status(status), "exit 0") << read_text(tmp.path("err"));
    std::string path = only_trace(out);
    Trace t = read_trace(path);
    ASSERT_TRUE(t.final_seen);
    EXPECT_EQ(t.total_launches(), 150u);
    EXPECT_GE(t.aggregates.size(), 2u); // two intervals at least
    uint64_t busy = 0;
    for (auto &a : t.aggregates)
        busy += a.busy_ns;
    EXPECT_EQ(busy, 1500u);
}

TEST(HookCollector, PhaseEventsBeyondTheBufferStayBalanced)
{
    // The flusher does not run (a one-hour interval): 3000 phases of one launch each, more
    // than the event buffer holds. Every launch keeps its phase; the timeline keeps the events
    // that fit, every push with its pop; the rest is said and counted.
    TempDir tmp;
    std::string out = tmp.path("t");
    int status = run_in_child(
        [&] {
            child_env(out, {{"FLOPMETER_INTERVAL_MS", "3600000"}});
            if (fm_hook_start(nullptr) != 0)
                return 10;
            FakeCuptiStream s;
            fm_hook_phase_push("pretraining", -1);
            for (int i = 0; i < 3000; i++) {
                fm_hook_phase_push("eval", -1);
                s.launch(kernel_n(1), kGrid, kBlock, 0, 0, {}, 10);
                fm_hook_phase_pop();
            }
            s.launch(kernel_n(1), kGrid, kBlock, 0, 0, {}, 10);
            fm_hook_phase_pop();
            s.deliver();
            fm_hook_stop(FM_EXIT_NORMAL);
            return 0;
        },
        tmp.path("err"));
    std::string err = read_text(tmp.path("err"));
    ASSERT_EQ(describe_status(status), "exit 0") << err;
    EXPECT_EQ(lines_with(err, "phase events").size(), 1u) << err;
    Trace t = verified_trace(out);
    ASSERT_TRUE(t.final_seen);
    std::map<std::string, uint64_t> by_phase;
    for (auto &a : t.aggregates)
        by_phase[t.phase_name(a.phase)] += a.launches;
    EXPECT_EQ(by_phase, (std::map<std::string, uint64_t>{{"eval", 3000}, {"pretraining", 1}}));
    std::vector<uint64_t> stack;
    uint64_t eval_pushes = 0;
    for (auto &e : t.phase_events) {
        if (e.action == FM_PHASE_PUSH) {
            stack.push_back(e.phase);
            eval_pushes += t.phase_name(e.phase) == "eval";
        } else {
            ASSERT_FALSE(stack.empty());
            ASSERT_EQ(stack.back(), e.phase);
            stack.pop_back();
        }
    }
    EXPECT_TRUE(stack.empty());
    EXPECT_EQ(t.phase_events.size(), (size_t)FM_PHASE_EVENTS);
    EXPECT_EQ(eval_pushes, (FM_PHASE_EVENTS - 2) / 2);
    EXPECT_EQ(t.records_dropped, 3000 - eval_pushes);
    bool said = false;
    for (auto &d : t.degradations)
        said |= d.kind == FM_DEGRADE_RECORDS_DROPPED &&
                d.message.find("phase events") != std::string::npos;
    EXPECT_TRUE(said);
}

TEST(HookCollector, ForkedChildDropsTheParentsTrace)
{
    TempDir tmp;
    std::string out = tmp.path("t");
    int status = run_in_child(
        [&] {
            child_env(out);
            // what hook_entry.c's constructor registers
            pthread_atfork(nullptr, nullptr, fm_hook_after_fork_child);
            if (fm_hook_start(nullptr) != 0)
                return 10;
            FakeCuptiStream s;
            for (int i = 0; i < 10; i++)
                s.launch(kernel_n(1), kGrid, kBlock, 0, 0, {}, 10);
            s.deliver();
            pid_t pid = fork();
            if (pid == 0) {
                // the child: measures nothing, writes nothing, and every call still works
                int rc = fm_hook_state() == FM_HOOK_DISABLED ? 0 : 1;
                FakeCuptiStream c;
                for (int i = 0; i < 10; i++)
                    c.launch(kernel_n(2), kGrid, kBlock, 0, 0, {}, 10);
                c.deliver();
                fm_hook_phase_push("in-child", -1);
                fm_hook_declare("child", 1, nullptr);
                fm_hook_phase_pop();
                fm_hook_stop(FM_EXIT_NORMAL);
                _exit(rc);
            }
            int st = 0;
            waitpid(pid, &st, 0);
            if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                return 11;
            for (int i = 0; i < 5; i++)
                s.launch(kernel_n(1), kGrid, kBlock, 0, 0, {}, 10);
            s.deliver();
            fm_hook_declare("after.fork", 1, nullptr);
            fm_hook_stop(FM_EXIT_NORMAL);
            return 0;
        },
        tmp.path("err"));
    ASSERT_EQ(describe_status(status), "exit 0") << read_text(tmp.path("err"));
    Trace t = verified_trace(out);
    EXPECT_EQ(t.total_launches(), 15u);
    EXPECT_EQ(t.signatures.size(), 1u);
    ASSERT_EQ(t.declarations.size(), 1u);
    EXPECT_EQ(t.declarations[0].key, "after.fork");
    EXPECT_TRUE(t.phases.empty());
}

TEST(HookCollector, PerThreadCountersLoseAndDoubleNothing)
{
    // Each launching thread counts in its own block of entries (thread_counts.h). Exactness
    // must survive what that adds: more (signature, phase) keys than a block's entries, so
    // entries are evicted while the flusher sweeps them every few milliseconds; more threads
    // than the pool has blocks, so that some count in the shared tables; threads that end, so
    // that their blocks are taken again by the next ones.
    TempDir tmp;
    std::string out = tmp.path("t");
    const int kKernels = 40000, kRounds = 3, kWaves = 3, kThreads = 70;
    const int kPerThread = 2000;
    int status = run_in_child(
        [&] {
            child_env(out, {{"FLOPMETER_INTERVAL_MS", "10"},
                            {"FLOPMETER_MAX_SIGNATURES", "65536"},
                            {"FLOPMETER_ARG_VARIANTS", "64"}});
            if (fm_hook_start(nullptr) != 0)
                return 10;
            fm_launch_info l;
            memset(&l, 0, sizeof l);
            l.name = "many_shapes";
            l.function = 0x7f1000000000ull;
            l.block[0] = 128;
            l.block[1] = l.block[2] = 1;
            // one thread, more keys than its block holds, in two phases
            for (int r = 0; r < kRounds; r++)
                for (int i = 0; i < kKernels; i++) {
                    l.grid[0] = 1 + (uint32_t)i;
                    l.grid[1] = l.grid[2] = 1;
                    fm_hook_phase_push(i % 2 ? "pretraining" : "evaluation", -1);
                    fm_hook_launch(&l);
                    fm_hook_phase_pop();
                }
            // waves of short-lived threads, more than the pool's blocks at once
            for (int w = 0; w < kWaves; w++) {
                std::vector<std::thread> ts;
                for (int t = 0; t < kThreads; t++)
                    ts.emplace_back([t] {
                        fm_launch_info m;
                        memset(&m, 0, sizeof m);
                        m.name = "thread_kernel";
                        m.function = 0x7f2000000000ull;
                        m.grid[0] = m.grid[1] = m.grid[2] = 1;
                        m.block[0] = m.block[1] = m.block[2] = 32;
                        for (int i = 0; i < kPerThread; i++) {
                            m.arg_hash = 1 + (uint64_t)((i + t) % 16);
                            fm_hook_launch(&m);
                        }
                    });
                for (auto &t : ts)
                    t.join();
            }
            fm_hook_stats st;
            fm_hook_get_stats(&st);
            fm_hook_stop(FM_EXIT_NORMAL);
            uint64_t want = (uint64_t)kKernels * kRounds + (uint64_t)kWaves * kThreads * kPerThread;
            return st.launches == want ? 0 : 11;
        },
        tmp.path("err"));
    ASSERT_EQ(describe_status(status), "exit 0") << read_text(tmp.path("err"));
    Trace t = read_trace(only_trace(out));
    ASSERT_TRUE(t.final_seen);
    std::map<std::string, uint64_t> by_kernel;
    for (auto &a : t.aggregates)
        by_kernel[t.signatures.at(a.signature).name] += a.launches;
    EXPECT_EQ(by_kernel["many_shapes"], (uint64_t)kKernels * kRounds);
    EXPECT_EQ(by_kernel["thread_kernel"], (uint64_t)kWaves * kThreads * kPerThread);
}

TEST(HookCollector, ThreadsWithoutAPhaseCountInTheMainLoopsPhase)
{
    // PyTorch runs the backward pass on its autograd thread, which enters no phase: its
    // launches belong to the phase the training loop (the first thread to enter one) is in.
    // A thread that enters a phase of its own counts in it.
    TempDir tmp;
    std::string out = tmp.path("t");
    auto launch_from_thread = [](const char *name, const char *own_phase) {
        std::thread t([&] {
            fm_launch_info l;
            memset(&l, 0, sizeof l);
            l.name = name;
            l.function = 0x7f3000000000ull + std::hash<std::string>()(name) % 4096 * 64;
            l.grid[0] = l.grid[1] = l.grid[2] = 1;
            l.block[0] = l.block[1] = l.block[2] = 32;
            if (own_phase)
                fm_hook_phase_push(own_phase, -1);
            fm_hook_launch(&l);
            if (own_phase)
                fm_hook_phase_pop();
        });
        t.join();
    };
    int status = run_in_child(
        [&] {
            child_env(out);
            if (fm_hook_start(nullptr) != 0)
                return 10;
            launch_from_thread("before", nullptr); // no phase anywhere yet
            fm_hook_phase_push("pretraining", -1);
            launch_from_thread("backward", nullptr);
            launch_from_thread("own", "evaluation");
            fm_hook_phase_push("recomputation", -1);
            launch_from_thread("nested", nullptr);
            fm_hook_phase_pop();
            fm_hook_phase_pop();
            launch_from_thread("after", nullptr);
            fm_hook_stop(FM_EXIT_NORMAL);
            return 0;
        },
        tmp.path("err"));
    ASSERT_EQ(describe_status(status), "exit 0") << read_text(tmp.path("err"));
    Trace t = read_trace(only_trace(out));
    std::map<std::string, std::string> phase_of;
    for (auto &a : t.aggregates)
        phase_of[t.signatures.at(a.signature).name] =
            a.phase ? t.phases.at(a.phase).name : "(none)";
    EXPECT_EQ(phase_of["before"], "(none)");
    EXPECT_EQ(phase_of["backward"], "pretraining");
    EXPECT_EQ(phase_of["own"], "evaluation");
    EXPECT_EQ(phase_of["nested"], "recomputation");
    EXPECT_EQ(phase_of["after"], "(none)");
}

// ---- counters, through a test double of the profiler ----------------------------------------

// FakeProfiler stands in for the range profiler at the device boundary: for each launch the
// collector chooses, it hands back fixed raw values per kernel and metric group, as the
// profiler glue will hand back what it decoded, or reports the measurement lost.
struct FakeProfiler {
    std::map<std::string, std::vector<std::vector<double>>> values; // kernel -> group -> values
    std::set<std::string> losing; // kernels whose measurements never come back
    uint64_t launches_measured = 0, samples = 0, lost = 0;

    void launch(const fm_launch_info &l)
    {
        fm_launch_decision d;
        fm_hook_launch_measured(&l, &d);
        if (d.group == FM_SAMPLE_NONE)
            return;
        if (losing.count(l.name)) {
            fm_hook_counter_lost(&d);
            lost++;
            return;
        }
        const auto &v = values.at(l.name);
        launches_measured++;
        uint32_t first = d.group == FM_SAMPLE_ALL ? 0 : (uint32_t)d.group;
        uint32_t end = d.group == FM_SAMPLE_ALL ? (uint32_t)v.size() : first + 1;
        std::vector<fm_counter_reading> rd;
        for (uint32_t g = first; g < end; g++)
            rd.push_back({g, (uint32_t)v[g].size(), v[g].data(), 1000});
        fm_hook_counter_sample(&d, rd.data(), (uint32_t)rd.size(), end - first, 20000);
        samples += rd.size();
    }
};

const uint8_t kFp32 = FM_FMT_FP32, kFp64 = FM_FMT_FP64;
const uint8_t kBf16Tensor = FM_FMT_BF16 | FM_CLASS_TENSOR, kFp16Tensor = FM_FMT_FP16 | FM_CLASS_TENSOR;

// Three single-pass groups in the shape of a real plan: the CUDA-core counters, then two
// hardware groups carrying the duration.
int declare_fake_groups(int mode)
{
    static const fm_hook_metric g0[] = {{"smsp__fake_ffma.sum", kFp32, 2.0},
                                        {"smsp__fake_dfma.sum", kFp64, 2.0}};
    static const fm_hook_metric g1[] = {{"gpu__time_duration.sum", FM_CLASS_NONE, 0},
                                        {"sm__fake_tensor_bf16.sum", kBf16Tensor, 1.0}};
    static const fm_hook_metric g2[] = {{"gpu__time_duration.sum", FM_CLASS_NONE, 0},
                                        {"sm__fake_tensor_fp16.sum", kFp16Tensor, 1.0}};
    static const fm_hook_group_def groups[] = {{2, g0}, {2, g1}, {2, g2}};
    return fm_hook_set_metric_groups("GH100", groups, 3, mode, 0.02);
}

FakeProfiler fake_profiler()
{
    FakeProfiler p;
    // per launch: gemm 200 fp32 FLOP and 65,536 bf16 tensor FLOP; norm 8,192 fp32 and 32 fp64
    p.values["gemm"] = {{100, 0}, {5000, 65536}, {5000, 0}};
    p.values["norm"] = {{4096, 16}, {800, 0}, {800, 0}};
    p.losing.insert("lossy");
    return p;
}



void expect_exact_ops(const std::map<std::string, KernelTotals> &k, uint64_t gemms,
                      uint64_t norms)
{
    // the fake's values are the same at every launch, so extrapolation must give them exactly
    auto near = [](double got, double want) { return std::fabs(got - want) <= 1e-9 * want; };
    const KernelTotals &g = k.at("gemm"), &n = k.at("norm");
    EXPECT_TRUE(near(g.ops.at(kFp32), 200.0 * gemms)) << g.ops.at(kFp32);
    EXPECT_TRUE(near(g.ops.at(kBf16Tensor), 65536.0 * gemms)) << g.ops.at(kBf16Tensor);
    EXPECT_TRUE(near(n.ops.at(kFp32), 8192.0 * norms)) << n.ops.at(kFp32);
    EXPECT_TRUE(near(n.ops.at(kFp64), 32.0 * norms)) << n.ops.at(kFp64);
    EXPECT_EQ(g.ops.count(kFp16Tensor) ? g.ops.at(kFp16Tensor) : 0.0, 0.0);
}

// Groups the trace could not hold (a class that does not exist, a negative or infinite
// weight, no name) are refused whole: a group written without its definition would leave
// every sample of it dangling. Valid groups are accepted afterwards.
TEST(HookMeasure, MetricGroupsTheTraceCannotHoldAreRefused)
{
    TempDir tmp;
    std::string out = tmp.path("t");
    int status = run_in_child(
        [&] {
            child_env(out);
            if (fm_hook_start(nullptr) != 0)
                return 10;
            const fm_hook_metric no_class[] = {{"sm__x.sum", 0x81, 1.0}};
            const fm_hook_metric bad_weight[] = {{"sm__x.sum", kFp32, -2.0}};
            const fm_hook_metric inf_weight[] = {{"sm__x.sum", kFp32, INFINITY}};
            const fm_hook_metric no_name[] = {{"", kFp32, 1.0}};
            for (const fm_hook_metric *bad : {no_class, bad_weight, inf_weight, no_name}) {
                fm_hook_group_def g[] = {{1, bad}};
                if (fm_hook_set_metric_groups("GH100", g, 1, FM_PROFILE_SAMPLED, 0.02) == 0)
                    return 11;
            }
            if (declare_fake_groups(FM_PROFILE_SAMPLED) != 0)
                return 12;
            fm_hook_stop(FM_EXIT_NORMAL);
            return 0;
        },
        tmp.path("err"));
    ASSERT_EQ(describe_status(status), "exit 0") << read_text(tmp.path("err"));
    Trace t = read_trace(only_trace(out));
    EXPECT_EQ(t.metric_groups.size(), 3u);
}

TEST(HookMeasure, SampledLaunchesAreMeasuredOrCreditedExactly)
{
    TempDir tmp;
    std::string out = tmp.path("t");
    const uint64_t kGemms = 20000, kNorms = 10000, kLossy = 500;
    FakeProfiler fake = fake_profiler();
    int status = run_in_child(
        [&] {
            child_env(out, {{"FLOPMETER_INTERVAL_MS", "10"}});
            if (fm_hook_start(nullptr) != 0)
                return 10;
            fm_launch_info early = kernel_launch("norm", 0x7f5000000100ull);
            fm_hook_launch(&early); // before the groups: counted, never measured
            if (declare_fake_groups(FM_PROFILE_SAMPLED) != 0 ||
                declare_fake_groups(FM_PROFILE_SAMPLED) == 0) // once only
                return 11;
            fm_launch_info gemm = kernel_launch("gemm", 0x7f5000000000ull);
            fm_launch_info norm = kernel_launch("norm", 0x7f5000000100ull);
            fm_launch_info lossy = kernel_launch("lossy", 0x7f5000000200ull);
            fm_hook_phase_push("pretraining", -1);
            for (uint64_t i = 0; i < kGemms; i++) {
                fake.launch(gemm);
                if (i % 2 == 0)
                    fake.launch(norm);
                if (i < kLossy)
                    fake.launch(lossy);
            }
            fm_hook_phase_pop();
            fm_hook_stop(FM_EXIT_NORMAL);
            // what the child saw, for the parent: measured launches and samples
            fprintf(stderr, "fake %llu %llu %llu\n", (unsigned long long)fake.launches_measured,
                    (unsigned long long)fake.samples, (unsigned long long)fake.lost);
            return 0;
        },
        tmp.path("err"));
    std::string err = read_text(tmp.path("err"));
    ASSERT_EQ(describe_status(status), "exit 0") << err;
    unsigned long long measured = 0, samples = 0, lost = 0;
    ASSERT_EQ(sscanf(err.substr(err.find("fake ")).c_str(), "fake %llu %llu %llu", &measured,
                     &samples, &lost),
              3)
        << err;
    Trace t = read_trace(only_trace(out));
    ASSERT_TRUE(t.final_seen);
    ASSERT_EQ(t.metric_groups.size(), 3u);
    EXPECT_EQ(t.metric_groups[0].chip, "GH100");
    EXPECT_EQ(t.metric_groups[1].names,
              std::vector<std::string>({"gpu__time_duration.sum", "sm__fake_tensor_bf16.sum"}));
    EXPECT_EQ(t.samples.size(), samples) << "every sample handed in is in the trace";
    // every launch counted once, measured ones included; the one before the groups were
    // declared is in no phase, and never measured
    auto all = totals_by_kernel(t);
    EXPECT_EQ(all["gemm"].launches, kGemms);
    EXPECT_EQ(all["norm"].launches, kNorms + 1);
    EXPECT_EQ(all["lossy"].launches, kLossy);
    EXPECT_EQ(all["gemm"].measured + all["norm"].measured, measured);
    auto k = totals_by_kernel(t, "pretraining");
    EXPECT_EQ(k["norm"].launches, kNorms);
    // the first launches of each signature are measured, one group each, in rotation: a
    // sampled run measures far fewer than it launches, and credits the rest
    EXPECT_GE(k["gemm"].measured, 6u);
    EXPECT_LT(k["gemm"].measured, kGemms / 2);
    EXPECT_EQ(k["gemm"].measured + k["gemm"].extrapolated, kGemms);
    EXPECT_EQ(k["norm"].measured + k["norm"].extrapolated, kNorms);
    expect_exact_ops(k, kGemms, kNorms);
    // a signature whose measurements were all lost is unmeasured, never zero work
    EXPECT_GT(lost, 0u);
    EXPECT_EQ(all["lossy"].measured, 0u);
    EXPECT_EQ(all["lossy"].extrapolated, 0u);
    EXPECT_TRUE(all["lossy"].ops.empty());
}

TEST(HookMeasure, ExactModeMeasuresEveryLaunchInEveryGroup)
{
    TempDir tmp;
    std::string out = tmp.path("t");
    const uint64_t kGemms = 1500, kNorms = 700;
    FakeProfiler fake = fake_profiler();
    int status = run_in_child(
        [&] {
            child_env(out, {{"FLOPMETER_INTERVAL_MS", "10"}});
            if (fm_hook_start(nullptr) != 0 || declare_fake_groups(FM_PROFILE_EXACT) != 0)
                return 10;
            fm_launch_info gemm = kernel_launch("gemm", 0x7f5000000000ull);
            fm_launch_info norm = kernel_launch("norm", 0x7f5000000100ull);
            // two threads: the decisions and the samples come from both
            std::thread other([&] {
                FakeProfiler mine = fake_profiler();
                for (uint64_t i = 0; i < kNorms; i++)
                    mine.launch(norm);
            });
            for (uint64_t i = 0; i < kGemms; i++)
                fake.launch(gemm);
            other.join();
            fm_hook_stop(FM_EXIT_NORMAL);
            return 0;
        },
        tmp.path("err"));
    ASSERT_EQ(describe_status(status), "exit 0") << read_text(tmp.path("err"));
    Trace t = read_trace(only_trace(out));
    ASSERT_TRUE(t.final_seen);
    auto k = totals_by_kernel(t);
    EXPECT_EQ(k["gemm"].launches, kGemms);
    EXPECT_EQ(k["gemm"].measured, kGemms);
    EXPECT_EQ(k["norm"].measured, kNorms);
    EXPECT_EQ(k["gemm"].extrapolated + k["norm"].extrapolated, 0u);
    EXPECT_EQ(t.samples.size(), 3 * (kGemms + kNorms)) << "one sample per group per launch";
    // the samples of one launch share its ordinal, and say how many passes it needed
    std::map<std::pair<uint64_t, uint64_t>, int> per_launch;
    for (auto &smp : t.samples) {
        per_launch[{smp.signature, smp.ordinal}]++;
        EXPECT_EQ(smp.passes, 3u);
    }
    EXPECT_EQ(per_launch.size(), kGemms + kNorms);
    for (auto &pl : per_launch)
        EXPECT_EQ(pl.second, 3);
    expect_exact_ops(k, kGemms, kNorms);
}

// Exact mode reads every group of every launch: on short kernels thousands of samples a
// second, more than the pending buffer holds for one interval. Filled halfway, it is written
// at once, so that none is lost even when the interval is an hour.
TEST(HookMeasure, SamplesFasterThanTheIntervalAreWrittenEarly)
{
    TempDir tmp;
    std::string out = tmp.path("t");
    const uint64_t kGemms = 10000; // 30,000 samples: more than three times the buffer
    FakeProfiler fake = fake_profiler();
    int status = run_in_child(
        [&] {
            child_env(out, {{"FLOPMETER_INTERVAL_MS", "3600000"}});
            if (fm_hook_start(nullptr) != 0 || declare_fake_groups(FM_PROFILE_EXACT) != 0)
                return 10;
            fm_launch_info gemm = kernel_launch("gemm", 0x7f5000000000ull);
            for (uint64_t i = 0; i < kGemms; i++) {
                fake.launch(gemm);
                // a measured launch takes tens of microseconds on a GPU: the flusher writes
                // at that pace, not at a loop's
                struct timespec pause = {0, 20000};
                nanosleep(&pause, nullptr);
            }
            fm_hook_stop(FM_EXIT_NORMAL);
            return 0;
        },
        tmp.path("err"));
    std::string err = read_text(tmp.path("err"));
    ASSERT_EQ(describe_status(status), "exit 0") << err;
    Trace t = read_trace(only_trace(out));
    ASSERT_TRUE(t.final_seen);
    for (auto &d : t.degradations)
        EXPECT_NE(d.kind, (uint64_t)FM_DEGRADE_RECORDS_DROPPED) << d.message;
    EXPECT_EQ(t.samples.size(), 3 * kGemms);
    auto k = totals_by_kernel(t);
    EXPECT_EQ(k["gemm"].launches, kGemms);
    EXPECT_EQ(k["gemm"].measured, kGemms);
    EXPECT_EQ(k["gemm"].extrapolated, 0u);
}

} // namespace
