// test_processes.cpp - libflopmeter.so in real processes: preloaded into a plain C program,
// into python3 and into a program that initialises CUDA through the driver stub (cuInit
// fails there as on a machine without a GPU), with NVTX ranges and the C API, with the hook
// off or misconfigured, killed by SIGTERM, and forking. What the program prints and how it
// ends must be the same with and without the library.
#include <csignal>
#include <cstdlib>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

#include "hook_test_support.h"

extern "C" {
#include "flopmeter/trace_format.h"
#include "flopmeter/trace_verify.h"
}

namespace {

using namespace hooktest;

const std::string kLib = FLOPMETER_HOOK_LIB;
const std::string kPlain = HOOK_PLAIN_PROGRAM;
const std::string kLateDriver = HOOK_LATE_DRIVER_PROGRAM;
const std::string kDlopenApi = HOOK_DLOPEN_API_PROGRAM;
const std::string kCudaProgram = HOOK_CUDA_PROGRAM; // "" without the driver stub
const std::string kStub = CUDA_DRIVER_STUB;         // "" when not found
const std::string kPython = PYTHON3_EXECUTABLE;     // "" when not found
const std::string kPreloadFirst = FLOPMETER_TESTS_PRELOAD_FIRST; // the sanitizer's runtime

// A scratch directory with the output directory and, when the stub exists, a directory
// holding libcuda.so.1 -> the stub for LD_LIBRARY_PATH.
struct Fixture {
    TempDir tmp;
    std::string out = tmp.path("traces");
    std::string stub_dir = tmp.path("driver");

    Fixture()
    {
        mkdir(stub_dir.c_str(), 0755);
        if (!kStub.empty()) {
            EXPECT_EQ(symlink(kStub.c_str(), (stub_dir + "/libcuda.so.1").c_str()), 0);
        }
    }
    Env env(bool preload) const
    {
        Env e;
        e.set("LD_LIBRARY_PATH", stub_dir).set("FLOPMETER_OUTPUT_DIR", out);
        if (preload)
            e.set("LD_PRELOAD", kPreloadFirst.empty() ? kLib : kPreloadFirst + ":" + kLib);
        return e;
    }
    // For the programs that fork: in a sanitized build, the leak check is off. GCC 12's
    // LeakSanitizer locks the whole allocator when a process exits; a child forked while
    // another thread of the parent (the library's flusher) held an allocator lock waits for
    // it forever. That is the sanitizer runtime's own fork limitation, not the library's: with
    // the C library's allocator the child exits at once (the release suite runs these).
    Env fork_env(bool preload) const
    {
        Env e = env(preload);
#if FLOPMETER_TESTS_SANITIZED
        const char *asan = getenv("ASAN_OPTIONS");
        e.set("ASAN_OPTIONS", std::string(asan ? asan : "") + (asan && *asan ? ":" : "") +
                                  "detect_leaks=0");
#endif
        return e;
    }
};

#define NEED_STUB()                                                                            \
    do {                                                                                       \
        if (kStub.empty() || kCudaProgram.empty())                                             \
            GTEST_SKIP() << "the CUDA driver stub (lib64/stubs/libcuda.so) was not found";     \
    } while (0)

std::vector<std::string> flopmeter_lines(const std::string &err)
{
    return lines_with(err, "flopmeter:");
}

TEST(HookProcess, PlainProgramIsUnchanged)
{
    Fixture f;
    std::vector<std::string> argv = {kPlain, "one", "two words"};
    ProcResult without = run_process(argv, f.env(false));
    ProcResult with = run_process(argv, f.env(true));
    ASSERT_TRUE(without.exited(3)) << without.describe();
    EXPECT_TRUE(with.exited(3)) << with.describe();
    EXPECT_EQ(with.out, without.out);
    EXPECT_EQ(without.out, "plain program with 2 arguments\nargument 1: one\nargument 2: two "
                           "words\nline 0\nline 1\nline 2\n");
    EXPECT_EQ(with.err, "") << "a process that never uses CUDA hears nothing of flopmeter";
    EXPECT_TRUE(files_under(f.out).empty()) << "and gets no trace";
}

TEST(HookProcess, PythonIsUnchanged)
{
    if (kPython.empty())
        GTEST_SKIP() << "no python3";
#if FLOPMETER_TESTS_SANITIZED
    GTEST_SKIP() << "an interpreter without AddressSanitizer cannot preload a library with it";
#endif
    Fixture f;
    std::vector<std::string> argv = {
        kPython, "-c", "import sys\nprint('hello from python', sum(range(10)))\nsys.exit(3)"};
    ProcResult without = run_process(argv, f.env(false));
    ProcResult with = run_process(argv, f.env(true));
    ASSERT_TRUE(without.exited(3)) << without.describe();
    EXPECT_TRUE(with.exited(3)) << with.describe();
    EXPECT_EQ(with.out, "hello from python 45\n");
    EXPECT_EQ(with.out, without.out);
    EXPECT_TRUE(flopmeter_lines(with.err).empty()) << with.err;
    EXPECT_TRUE(files_under(f.out).empty());
}

bool has_no_device_record(const Trace &t)
{
    for (auto &d : t.degradations)
        if (d.kind == FM_DEGRADE_NO_DEVICE && d.api_result == 34 &&
            d.message.find("cuInit") != std::string::npos)
            return true;
    return false;
}

TEST(HookProcess, FailedCuInitIsRecorded)
{
    NEED_STUB();
    Fixture f;
    ProcResult without = run_process({kCudaProgram, "init"}, f.env(false));
    ASSERT_TRUE(without.exited(3)) << without.describe();
    EXPECT_EQ(without.out, "cuInit returned 34\n"); // CUDA_ERROR_STUB_LIBRARY
    EXPECT_EQ(without.err, "");
    ASSERT_TRUE(files_under(f.out).empty());

    ProcResult with = run_process({kCudaProgram, "init"}, f.env(true));
    EXPECT_TRUE(with.exited(3)) << with.describe();
    EXPECT_EQ(with.out, without.out);
    auto lines = flopmeter_lines(with.err);
    EXPECT_EQ(lines_with(with.err, "cuInit").size(), 1u) << with.err;
    EXPECT_EQ(lines_with(with.err, "flopmeter: measuring into ").size(), 1u) << with.err;
    EXPECT_EQ(lines.size(), 2u) << with.err;
    EXPECT_EQ(split_lines(with.err).size(), lines.size()) << "nothing else on stderr";

    Trace t = verified_trace(f.out);
    ASSERT_TRUE(t.final_seen);
    EXPECT_EQ(t.exit_reason, (uint64_t)FM_EXIT_NORMAL);
    EXPECT_TRUE(has_no_device_record(t));
    EXPECT_EQ(t.total_launches(), 0u);
    EXPECT_NE(t.run_meta.command.find("hook_cuda_program init"), std::string::npos)
        << t.run_meta.command;
}

TEST(HookProcess, FailedCuInitQuietly)
{
    NEED_STUB();
    Fixture f;
    Env env = f.env(true);
    env.set("FLOPMETER_QUIET", "1");
    ProcResult with = run_process({kCudaProgram, "init"}, env);
    EXPECT_TRUE(with.exited(3)) << with.describe();
    EXPECT_EQ(with.out, "cuInit returned 34\n");
    auto lines = split_lines(with.err);
    ASSERT_EQ(lines.size(), 1u) << with.err; // the problem is said, even when quiet
    EXPECT_EQ(lines[0].rfind("flopmeter: ", 0), 0u);
    EXPECT_NE(lines[0].find("cuInit"), std::string::npos);
    Trace t = verified_trace(f.out);
    EXPECT_TRUE(has_no_device_record(t));
}

TEST(HookProcess, NvtxPhasesAndTheCApi)
{
    NEED_STUB();
    Fixture f;
    ProcResult without = run_process({kCudaProgram, "nvtx"}, f.env(false));
    ProcResult with = run_process({kCudaProgram, "nvtx"}, f.env(true));
    ASSERT_TRUE(without.exited(0)) << without.describe();
    EXPECT_TRUE(with.exited(0)) << with.describe();
    EXPECT_EQ(with.out, without.out);
    EXPECT_EQ(with.out, "cuInit returned 34\nnvtx done\n");

    Trace t = verified_trace(f.out);
    ASSERT_TRUE(t.final_seen);
    // the phases: one from the default domain's prefix, one from the flopmeter domain with
    // its explicit category; the other ranges are none
    std::map<std::string, uint64_t> categories;
    for (auto &p : t.phases)
        categories[p.second.name] = p.second.category;
    EXPECT_EQ(categories, (std::map<std::string, uint64_t>{
                              {"pretraining", FM_PHASE_PRETRAINING},
                              {"holdout", FM_PHASE_EVALUATION}}));
    ASSERT_EQ(t.phase_events.size(), 4u);
    const char *names[] = {"pretraining", "pretraining", "holdout", "holdout"};
    for (size_t i = 0; i < 4; i++) {
        EXPECT_EQ(t.phase_name(t.phase_events[i].phase), names[i]) << i;
        EXPECT_EQ(t.phase_events[i].action, i % 2 ? (uint64_t)FM_PHASE_POP
                                                   : (uint64_t)FM_PHASE_PUSH)
            << i;
        EXPECT_EQ(t.phase_events[i].thread_id, t.phase_events[0].thread_id);
    }
    // declarations in the phase they were made in
    std::map<std::string, std::string> phase_of;
    std::map<std::string, double> value_of;
    for (auto &d : t.declarations) {
        phase_of[d.key] = t.phase_name(d.phase);
        value_of[d.key] += d.value;
    }
    EXPECT_EQ(phase_of, (std::map<std::string, std::string>{{"model.parameters", "pretraining"},
                                                            {"data.note", "pretraining"},
                                                            {"data.tokens", "pretraining"},
                                                            {"data.steps", "pretraining"},
                                                            {"eval.loss", "holdout"},
                                                            {"outside", ""}}));
    EXPECT_EQ(value_of["model.parameters"], 7e9);
    EXPECT_EQ(value_of["data.tokens"], 3072);
    EXPECT_EQ(value_of["data.steps"], 3);
    EXPECT_EQ(value_of["eval.loss"], 2.25);
    for (auto &d : t.declarations)
        if (d.key == "data.note") {
            EXPECT_TRUE(d.has_text);
            EXPECT_EQ(d.text, "inside an unrelated range");
        }
}

TEST(HookProcess, ModeOffDoesNothing)
{
    NEED_STUB();
    Fixture f;
    for (const char *mode : {"init", "nvtx"}) {
        ProcResult without = run_process({kCudaProgram, mode}, f.env(false));
        Env env = f.env(true);
        env.set("FLOPMETER_MODE", "off");
        ProcResult with = run_process({kCudaProgram, mode}, env);
        EXPECT_EQ(with.status, without.status) << with.describe();
        EXPECT_EQ(with.out, without.out);
        EXPECT_EQ(with.err, "") << mode;
    }
    ProcResult plain = run_process({kPlain}, f.env(true).set("FLOPMETER_MODE", "off"));
    EXPECT_TRUE(plain.exited(3));
    EXPECT_EQ(plain.err, "");
    EXPECT_TRUE(files_under(f.out).empty());
}

TEST(HookProcess, BadVariableIsOneLineAndNoTrace)
{
    NEED_STUB();
    Fixture f;
    ProcResult without = run_process({kCudaProgram, "init"}, f.env(false));
    ProcResult with =
        run_process({kCudaProgram, "init"}, f.env(true).set("FLOPMETER_FLUSH_MS", "abc"));
    EXPECT_EQ(with.status, without.status) << with.describe();
    EXPECT_EQ(with.out, without.out);
    auto lines = split_lines(with.err);
    ASSERT_EQ(lines.size(), 1u) << with.err;
    EXPECT_EQ(lines[0].rfind("flopmeter: ", 0), 0u);
    EXPECT_NE(lines[0].find("FLOPMETER_FLUSH_MS='abc'"), std::string::npos) << lines[0];
    EXPECT_TRUE(files_under(f.out).empty());
    // a program that never uses CUDA never reads the configuration
    ProcResult plain = run_process({kPlain}, f.env(true).set("FLOPMETER_FLUSH_MS", "abc"));
    EXPECT_TRUE(plain.exited(3));
    EXPECT_EQ(plain.err, "");
}

TEST(HookProcess, BadVariableWithStrictStopsTheProgram)
{
    NEED_STUB();
    Fixture f;
    ProcResult with = run_process({kCudaProgram, "init"}, f.env(true)
                                                             .set("FLOPMETER_FLUSH_MS", "abc")
                                                             .set("FLOPMETER_STRICT", "1"));
    EXPECT_TRUE(with.exited(70)) << with.describe();
    EXPECT_EQ(with.out, "") << "stopped inside cuInit, before the program printed";
    auto lines = split_lines(with.err);
    ASSERT_EQ(lines.size(), 1u) << with.err;
    EXPECT_NE(lines[0].find("FLOPMETER_FLUSH_MS"), std::string::npos);
    EXPECT_NE(lines[0].find("FLOPMETER_STRICT"), std::string::npos);
    EXPECT_TRUE(files_under(f.out).empty());
}

TEST(HookProcess, SigtermClosesTheTrace)
{
    NEED_STUB();
    Fixture f;
    for (bool preload : {false, true}) {
        SCOPED_TRACE(preload ? "with the library" : "without it");
        Started p = start_process({kCudaProgram, "sleep"}, f.env(preload));
        ASSERT_TRUE(read_until(p, "ready\n", 10000)) << p.out << p.err;
        ASSERT_EQ(kill(p.pid, SIGTERM), 0);
        ProcResult r = finish_process(p, 20);
        EXPECT_TRUE(r.signalled(SIGTERM)) << r.describe();
        EXPECT_EQ(r.out, "cuInit returned 34\nready\n");
        EXPECT_LT(r.seconds, 4.0);
    }
    Trace t = verified_trace(f.out);
    ASSERT_TRUE(t.final_seen);
    EXPECT_EQ(t.exit_reason, (uint64_t)FM_EXIT_SIGNAL);
    EXPECT_TRUE(has_no_device_record(t));
}

TEST(HookProcess, SigintClosesTheTraceToo)
{
    NEED_STUB();
    Fixture f;
    Started p = start_process({kCudaProgram, "sleep"}, f.env(true));
    ASSERT_TRUE(read_until(p, "ready\n", 10000)) << p.out << p.err;
    ASSERT_EQ(kill(p.pid, SIGINT), 0);
    ProcResult r = finish_process(p, 20);
    EXPECT_TRUE(r.signalled(SIGINT)) << r.describe();
    Trace t = verified_trace(f.out);
    EXPECT_EQ(t.exit_reason, (uint64_t)FM_EXIT_SIGNAL);
}

TEST(HookProcess, GlobalCuInitReachesADriverLoadedLater)
{
    // Loaded with RTLD_GLOBAL before the driver, the library's cuInit is what a global lookup
    // finds; it must load the driver and pass its answer on, not fail for lack of a next one.
    NEED_STUB();
    Fixture f;
    Env e = f.env(false);
    if (!kPreloadFirst.empty())
        e.set("LD_PRELOAD", kPreloadFirst); // the sanitizer's runtime for an instrumented lib
    ProcResult without = run_process({kLateDriver, "none"}, e);
    ASSERT_TRUE(without.exited(0)) << without.describe();
    EXPECT_EQ(without.out, "cuInit returned 34\n");
    ProcResult with = run_process({kLateDriver, kLib}, e);
    EXPECT_TRUE(with.exited(0)) << with.describe();
    EXPECT_EQ(with.out, without.out);
    Trace t = verified_trace(f.out);
    ASSERT_TRUE(t.final_seen);
    EXPECT_TRUE(has_no_device_record(t));
}

// Loaded late with dlopen, as the CUDA driver loads the library CUDA_INJECTION64_PATH names:
// its thread-local variables then live in dynamically allocated TLS, and its C API works from
// every thread (phases and steps on five threads).
TEST(HookProcess, LoadedLateWithDlopenItsApiWorksOnEveryThread)
{
    Fixture f;
    Env e = f.env(false);
    if (!kPreloadFirst.empty())
        e.set("LD_PRELOAD", kPreloadFirst); // the sanitizer's runtime for an instrumented lib
    e.set("FLOPMETER_QUIET", "1");
    ProcResult r = run_process({kDlopenApi, kLib}, e);
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "ok\n");
}

TEST(HookProcess, ForkKeepsOneTraceTheParents)
{
    NEED_STUB();
    Fixture f;
    ProcResult without = run_process({kCudaProgram, "fork"}, f.fork_env(false));
    ASSERT_TRUE(without.exited(0)) << without.describe();
    EXPECT_EQ(without.out, "cuInit returned 34\nchild done\nparent: child exited 0\n");
    Started p = start_process({kCudaProgram, "fork"}, f.fork_env(true));
    pid_t parent = p.pid;
    ProcResult with = finish_process(p);
    EXPECT_TRUE(with.exited(0)) << with.describe();
    EXPECT_EQ(with.out, without.out);
    Trace t = verified_trace(f.out);
    ASSERT_TRUE(t.final_seen);
    EXPECT_EQ(t.run_meta.pid, (uint64_t)parent);
    EXPECT_EQ(t.exit_reason, (uint64_t)FM_EXIT_NORMAL);
    ASSERT_EQ(t.declarations.size(), 1u); // made by the parent after the child's end
    EXPECT_EQ(t.declarations[0].key, "after.child");
}

TEST(HookProcess, ForkedChildKilledBySigterm)
{
    // The child inherits the library's SIGTERM handler but not its watcher thread: it must
    // die at once, and must not close the parent's trace.
    NEED_STUB();
    Fixture f;
    ProcResult without = run_process({kCudaProgram, "fork-term"}, f.fork_env(false));
    ASSERT_TRUE(without.exited(0)) << without.describe();
    ProcResult with = run_process({kCudaProgram, "fork-term"}, f.fork_env(true));
    EXPECT_TRUE(with.exited(0)) << with.describe();
    EXPECT_EQ(with.out, without.out);
    EXPECT_EQ(with.out, "cuInit returned 34\nparent: child killed by signal 15\n");
    EXPECT_LT(with.seconds, 3.0) << "the child waited for a watcher that is not there";
    Trace t = verified_trace(f.out);
    ASSERT_TRUE(t.final_seen);
    EXPECT_EQ(t.exit_reason, (uint64_t)FM_EXIT_NORMAL) << "the parent was not signalled";
    ASSERT_EQ(t.declarations.size(), 1u);
    EXPECT_EQ(t.declarations[0].key, "after.child");
}

TEST(HookProcess, AnotherInjectedToolIsSaidOnceUnlessQuiet)
{
    Fixture f;
    const std::string other = "/opt/another/libtool.so";
    ProcResult said = run_process({kPlain}, f.env(true).set("CUDA_INJECTION64_PATH", other));
    EXPECT_TRUE(said.exited(3));
    auto lines = split_lines(said.err);
    ASSERT_EQ(lines.size(), 1u) << said.err;
    EXPECT_NE(lines[0].find("CUDA_INJECTION64_PATH"), std::string::npos);
    EXPECT_NE(lines[0].find(other), std::string::npos);
    ProcResult quiet = run_process(
        {kPlain}, f.env(true).set("CUDA_INJECTION64_PATH", other).set("FLOPMETER_QUIET", "1"));
    EXPECT_EQ(quiet.err, "");
    ProcResult not_quiet = run_process(
        {kPlain}, f.env(true).set("CUDA_INJECTION64_PATH", other).set("FLOPMETER_QUIET", "0"));
    EXPECT_EQ(split_lines(not_quiet.err).size(), 1u) << "FLOPMETER_QUIET=0 is not quiet";
    EXPECT_TRUE(files_under(f.out).empty());
}

} // namespace
