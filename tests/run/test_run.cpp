// test_run.cpp - `flopmeter run -- COMMAND` as a user meets it: the real command and the real
// libflopmeter.so, started through a shell. Exit statuses pass through as a shell's would,
// the command's output is untouched, bad options stop it before the command runs, the
// command sees the library and the variables, signals reach it, and the summary says where
// the traces are. With AddressSanitizer the preloaded library is a stand-in (CMakeLists.txt),
// and the library's discovery in the build tree is not tested.
#include <cerrno>
#include <chrono>
#include <climits>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "temp_dir.h"

extern char **environ;

namespace {

namespace fs = std::filesystem;

// Every variable that changes what run or the library does, cleared for each test so that the
// environment the tests are started in cannot change their outcome.
const char *const kCleared =
    "unset FLOPMETER_LIB FLOPMETER_OUTPUT_DIR FLOPMETER_RUN_ID FLOPMETER_MODE "
    "FLOPMETER_FLUSH_MS FLOPMETER_INTERVAL_MS FLOPMETER_FSYNC FLOPMETER_STRICT "
    "FLOPMETER_CALLSTACKS FLOPMETER_QUIET FLOPMETER_MAX_SIGNATURES FLOPMETER_ARGS "
    "FLOPMETER_ARG_VARIANTS FLOPMETER_PROFILE FLOPMETER_PROFILE_BUDGET FLOPMETER_PROFILE_FIRST "
    "FLOPMETER_PROFILE_REPLAY_FIRST FLOPMETER_PROFILE_SKIP FLOPMETER_ARG_LEARN "
    "TORCHELASTIC_RUN_ID SLURM_JOB_ID SLURM_STEP_ID PBS_JOBID LSB_JOBID LD_PRELOAD "
    "CUDA_INJECTION64_PATH NVTX_INJECTION64_PATH; ";

std::string q(const std::string &s)
{
    std::string r = "'";
    for (char c : s)
        r += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return r + "'";
}

const std::string kFlopmeter = q(FLOPMETER_BIN);
const std::string kPreloadLib = FLOPMETER_PRELOAD_LIB; // the library the commands get

// What every script starts with: a clean environment, and the stand-in where there is one.
// With the sanitizers, flopmeter itself must also start when something is preloaded (an
// existing LD_PRELOAD, run inside run), which their runtime refuses unless told otherwise.
std::string prologue()
{
    std::string p = kCleared;
    if (FLOPMETER_TESTS_SANITIZED)
        p += "export FLOPMETER_LIB=" + q(kPreloadLib) +
             " ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0; ";
    return p;
}

std::string slurp(const std::string &path)
{
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

std::string real(const std::string &path)
{
    char buf[PATH_MAX];
    return realpath(path.c_str(), buf) ? std::string(buf) : std::string();
}

int count_lines(const std::string &s)
{
    int n = 0;
    for (char c : s)
        n += c == '\n';
    return n;
}

bool has(const std::string &haystack, const std::string &needle)
{
    return haystack.find(needle) != std::string::npos;
}

// runs print real paths: the scratch directory is named by its real path (tests/common)
struct TempDir : fmtestcommon::TempDir {
    TempDir() : fmtestcommon::TempDir("fm-run") {}
};

struct Result {
    int status = -1; // the exit status as a shell reports it
    std::string out, err;
};

int shell_status(int w)
{
    if (WIFEXITED(w))
        return WEXITSTATUS(w);
    return WIFSIGNALED(w) ? 128 + WTERMSIG(w) : -1;
}

// Starts `sh -c script` in dir with stdout and stderr going to files; returns its pid. The
// signals the tests send start at their defaults, as they would from a terminal.
pid_t spawn_shell(const std::string &script, const std::string &dir, const std::string &out,
                  const std::string &err)
{
    std::string full = prologue() + "cd " + q(dir) + " && " + script;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t defaults, none;
    sigemptyset(&defaults);
    for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2})
        sigaddset(&defaults, s);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    const char *argv[] = {"sh", "-c", full.c_str(), nullptr};
    pid_t pid = -1;
    int rc = posix_spawn(&pid, "/bin/sh", &fa, &attr, const_cast<char **>(argv), environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    return rc == 0 ? pid : -1;
}

// Waits at most seconds; a process still running then is killed and the test fails.
int wait_status(pid_t pid, int seconds = 60)
{
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    int w = 0;
    while (true) {
        pid_t r = waitpid(pid, &w, WNOHANG);
        if (r == pid)
            return shell_status(w);
        if (r < 0 && errno != EINTR)
            return -1;
        if (std::chrono::steady_clock::now() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &w, 0);
            ADD_FAILURE() << "timed out";
            return -1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

class Run : public ::testing::Test {
  protected:
    // Runs a shell script in the scratch directory (the tests' working directory).
    Result sh(const std::string &script)
    {
        Result r;
        pid_t pid = spawn_shell(script, tmp_.dir(), io("out"), io("err"));
        if (pid < 0) {
            ADD_FAILURE() << "cannot start sh";
            return r;
        }
        r.status = wait_status(pid);
        r.out = slurp(io("out"));
        r.err = slurp(io("err"));
        return r;
    }
    // `flopmeter run ARGS` (shell-quoted by the caller).
    Result run(const std::string &args) { return sh(kFlopmeter + " run " + args); }

    // The environment `env` prints, as a map.
    static std::map<std::string, std::string> env_of(const std::string &out)
    {
        std::map<std::string, std::string> m;
        std::istringstream in(out);
        std::string line;
        while (std::getline(in, line)) {
            size_t eq = line.find('=');
            if (eq != std::string::npos)
                m[line.substr(0, eq)] = line.substr(eq + 1);
        }
        return m;
    }
    // The files under dir (recursively) whose names end in .fmtrace.
    static std::vector<std::string> traces_under(const std::string &dir)
    {
        std::vector<std::string> v;
        std::error_code ec;
        if (!fs::exists(dir, ec))
            return v;
        for (auto &e : fs::recursive_directory_iterator(dir, ec))
            if (e.path().extension() == ".fmtrace")
                v.push_back(e.path().string());
        return v;
    }
    std::string io(const std::string &name) const { return io_.path(name); }

    TempDir tmp_; // where the commands run and write
    TempDir io_;  // the captured output, kept apart from what the commands write
};

TEST_F(Run, HelpNamesEveryOptionAndVariable)
{
    auto r = run("--help");
    EXPECT_EQ(r.status, 0);
    EXPECT_TRUE(r.err.empty()) << r.err;
    EXPECT_TRUE(has(r.out, "usage: flopmeter run")) << r.out;
    const char *pairs[][2] = {{"--output-dir", "FLOPMETER_OUTPUT_DIR"},
                              {"--run-id", "FLOPMETER_RUN_ID"},
                              {"--mode", "FLOPMETER_MODE"},
                              {"--flush-ms", "FLOPMETER_FLUSH_MS"},
                              {"--interval-ms", "FLOPMETER_INTERVAL_MS"},
                              {"--max-signatures", "FLOPMETER_MAX_SIGNATURES"},
                              {"--fsync", "FLOPMETER_FSYNC"},
                              {"--strict", "FLOPMETER_STRICT"},
                              {"--no-callstacks", "FLOPMETER_CALLSTACKS"},
                              {"--no-args", "FLOPMETER_ARGS"},
                              {"--arg-variants", "FLOPMETER_ARG_VARIANTS"},
                              {"--profile", "FLOPMETER_PROFILE"},
                              {"--profile-budget", "FLOPMETER_PROFILE_BUDGET"},
                              {"--profile-first", "FLOPMETER_PROFILE_FIRST"},
                              {"--profile-replay-first", "FLOPMETER_PROFILE_REPLAY_FIRST"},
                              {"--profile-skip", "FLOPMETER_PROFILE_SKIP"},
                              {"--no-arg-learn", "FLOPMETER_ARG_LEARN"},
                              {"--quiet", "FLOPMETER_QUIET"},
                              {"--lib", "FLOPMETER_LIB"}};
    for (auto &p : pairs) {
        EXPECT_TRUE(has(r.out, p[0])) << p[0];
        EXPECT_TRUE(has(r.out, p[1])) << p[1];
    }
    auto top = sh(kFlopmeter + " --help");
    EXPECT_TRUE(has(top.out, "  run ")) << top.out;
}

TEST_F(Run, ExitStatusPassesThrough)
{
    for (int code : {0, 3, 42}) {
        auto r = run("--quiet -- sh -c 'exit " + std::to_string(code) + "'");
        EXPECT_EQ(r.status, code) << r.err;
    }
}

TEST_F(Run, KilledBySignalGives128PlusTheSignal)
{
    auto r = run("--quiet -- sh -c 'kill -TERM $$'");
    EXPECT_EQ(r.status, 128 + SIGTERM) << r.err;
    r = run("--quiet -- sh -c 'kill -KILL $$'");
    EXPECT_EQ(r.status, 128 + SIGKILL) << r.err;
}

TEST_F(Run, StdoutIsTheCommandsByteForByte)
{
    const std::string cmd =
        "sh -c 'printf \"one\\ntwo\\r\\n\\001\\377 no newline at the end\"; seq 1 20000'";
    auto direct = sh(cmd);
    auto measured = run("-- " + cmd);
    ASSERT_EQ(direct.status, 0);
    EXPECT_EQ(measured.status, 0) << measured.err;
    EXPECT_GT(direct.out.size(), 100000u);
    EXPECT_TRUE(measured.out == direct.out) << "the command's stdout was changed";
}

TEST_F(Run, BadOptionValueStopsBeforeTheCommand)
{
    const std::string long_dir(1100, 'd');
    const std::vector<std::string> cases = {
        "--flush-ms abc",        "--flush-ms 9",          "--flush-ms 3600001",
        "--flush-ms -5",         "--flush-ms ''",         "--interval-ms 0",
        "--interval-ms 1e3",     "--max-signatures 15",   "--max-signatures 16777217",
        "--max-signatures x",    "--arg-variants 0",      "--arg-variants 16777217",
        "--mode fast",           "--mode ''",
        "--profile on",          "--profile ''",          "--profile Exact",
        "--profile-budget 0",    "--profile-budget 1.5",  "--profile-budget nan",
        "--profile-budget -0.1", "--profile-budget ''",   "--profile-budget 0.02x",
        "--profile-first 0",     "--profile-first two",   "--profile-first 1000001",
        "--profile-skip nccl,",  "--profile-skip a,,b",
        "--profile-skip " + std::string(256, 'k'),
        "--profile-skip \"$(printf 'a\\tb')\"",
        "--profile-budget",      "--prof sampled", // ambiguous: --profile or --profile-*
        "--run-id a/b",          "--run-id ''",           "--output-dir ''",
        "--output-dir " + long_dir,
        "--output-dir \"$(printf 'a\\001b')\"",
        "--run-id \"$(printf 'a\\nb')\"",
        "--lib /nonexistent/libflopmeter.so",
        "--bogus",               "--flush-ms"};
    for (const auto &c : cases) {
        auto r = run(c + " -- touch ran");
        EXPECT_EQ(r.status, 2) << c;
        EXPECT_EQ(count_lines(r.err), 1) << c << ": " << r.err;
        EXPECT_EQ(r.err.rfind("flopmeter run: ", 0), 0u) << c << ": " << r.err;
        EXPECT_FALSE(fs::exists(tmp_.path("ran"))) << c << ": the command ran";
    }
    // the message names the option and what it expects
    auto r = run("--flush-ms 9 -- true");
    EXPECT_TRUE(has(r.err, "--flush-ms")) << r.err;
    EXPECT_TRUE(has(r.err, "10 to 3600000")) << r.err;
    r = run("--profile-budget 1.5 -- true");
    EXPECT_TRUE(has(r.err, "--profile-budget")) << r.err;
    EXPECT_TRUE(has(r.err, "FLOPMETER_PROFILE_BUDGET='1.5'")) << r.err;
    EXPECT_TRUE(has(r.err, "greater than 0 and at most 1")) << r.err;
    r = run("--profile fast -- true");
    EXPECT_TRUE(has(r.err, "--profile: FLOPMETER_PROFILE='fast'")) << r.err;
    EXPECT_TRUE(has(r.err, "sampled, exact or off")) << r.err;
}

TEST_F(Run, MissingCommandOrDashesIsAUsageError)
{
    for (const char *c : {"", "--", "--quiet", "--quiet --", "echo hello", "--quiet echo hi"}) {
        auto r = run(c);
        EXPECT_EQ(r.status, 2) << c;
        EXPECT_EQ(count_lines(r.err), 1) << c << ": " << r.err;
        EXPECT_EQ(r.err.rfind("flopmeter run: ", 0), 0u) << r.err;
        EXPECT_TRUE(r.out.empty()) << c << ": the command ran: " << r.out;
    }
}

TEST_F(Run, CommandThatCannotRun)
{
    auto r = run("-- /nonexistent/program");
    EXPECT_EQ(r.status, 127);
    EXPECT_EQ(r.err, "flopmeter run: cannot run '/nonexistent/program': No such file or "
                     "directory\n");
    r = run("-- flopmeter-test-no-such-command-anywhere");
    EXPECT_EQ(r.status, 127);
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
    std::ofstream(tmp_.path("not-executable")) << "#!/bin/sh\necho hi\n";
    r = run("-- ./not-executable");
    EXPECT_EQ(r.status, 126);
    EXPECT_EQ(r.err, "flopmeter run: cannot run './not-executable': Permission denied\n");
    EXPECT_TRUE(r.out.empty());
}

TEST_F(Run, CommandSeesTheLibraryAndItsVariables)
{
    auto r = run("--output-dir rel/out -- env");
    ASSERT_EQ(r.status, 0) << r.err;
    auto env = env_of(r.out);
    std::string preload = env["LD_PRELOAD"];
    ASSERT_FALSE(preload.empty());
    EXPECT_EQ(preload.find(':'), std::string::npos) << preload; // nothing else was preloaded
    EXPECT_EQ(preload[0], '/') << preload;
    EXPECT_EQ(real(preload), real(kPreloadLib)) << preload;
    if (!FLOPMETER_TESTS_SANITIZED) { // found beside the command in the build tree
        EXPECT_EQ(real(preload), real(FLOPMETER_HOOK_LIB)) << preload;
    }
    EXPECT_EQ(env["CUDA_INJECTION64_PATH"], preload);
    EXPECT_EQ(env["NVTX_INJECTION64_PATH"], preload);
    EXPECT_EQ(env["FLOPMETER_OUTPUT_DIR"], tmp_.path("rel/out"));
    std::string id = env["FLOPMETER_RUN_ID"];
    EXPECT_FALSE(id.empty());
    EXPECT_EQ(id.find('/'), std::string::npos) << id;
    EXPECT_TRUE(has(r.err, tmp_.path("rel/out/" + id))) << r.err;
}

TEST_F(Run, OneRunIdForEveryProcessOfTheCommand)
{
    // a child of a child of the command, started in another directory
    auto r = run("--quiet -- sh -c 'cd / && sh -c \"echo \\$FLOPMETER_RUN_ID \\$FLOPMETER_OUTPUT_DIR\"; "
                 "echo $FLOPMETER_RUN_ID $FLOPMETER_OUTPUT_DIR'");
    ASSERT_EQ(r.status, 0) << r.err;
    std::istringstream in(r.out);
    std::string a, b;
    std::getline(in, a);
    std::getline(in, b);
    EXPECT_FALSE(a.empty());
    EXPECT_EQ(a, b);
    EXPECT_TRUE(has(a, tmp_.path("flopmeter-traces"))) << a; // the library's default, absolute
}

TEST_F(Run, OptionsSetVariablesAndOverrideTheEnvironment)
{
    auto r = sh("FLOPMETER_FLUSH_MS=500 FLOPMETER_INTERVAL_MS=700 FLOPMETER_RUN_ID=inherited " +
                kFlopmeter +
                " run --flush-ms 200 --fsync --strict --no-callstacks --no-args --mode launches "
                "--max-signatures 1024 --arg-variants 8 --run-id mine --output-dir " + q(tmp_.path("x")) +
                " --quiet -- env");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(r.err.empty()) << r.err; // --quiet: nothing from run or the library
    auto env = env_of(r.out);
    EXPECT_EQ(env["FLOPMETER_FLUSH_MS"], "200");
    EXPECT_EQ(env["FLOPMETER_INTERVAL_MS"], "700"); // no option: passed through
    EXPECT_EQ(env["FLOPMETER_FSYNC"], "1");
    EXPECT_EQ(env["FLOPMETER_STRICT"], "1");
    EXPECT_EQ(env["FLOPMETER_CALLSTACKS"], "0");
    EXPECT_EQ(env["FLOPMETER_ARGS"], "0");
    EXPECT_EQ(env["FLOPMETER_MODE"], "launches");
    EXPECT_EQ(env["FLOPMETER_MAX_SIGNATURES"], "1024");
    EXPECT_EQ(env["FLOPMETER_ARG_VARIANTS"], "8");
    EXPECT_EQ(env["FLOPMETER_RUN_ID"], "mine");
    EXPECT_EQ(env["FLOPMETER_OUTPUT_DIR"], tmp_.path("x"));
    EXPECT_EQ(env["FLOPMETER_QUIET"], "1");
}

TEST_F(Run, ProfileOptionsSetTheirVariables)
{
    auto r = sh("FLOPMETER_PROFILE_FIRST=9 FLOPMETER_PROFILE_SKIP=inherited " + kFlopmeter +
                " run --profile exact --profile-budget 1e-3 --profile-replay-first "
                "--profile-skip 'nccl,void wait<int>(int*)' --no-arg-learn --quiet -- env");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(r.err.empty()) << r.err;
    auto env = env_of(r.out);
    EXPECT_EQ(env["FLOPMETER_PROFILE"], "exact");
    EXPECT_EQ(env["FLOPMETER_PROFILE_BUDGET"], "1e-3"); // as given: the library reads it
    EXPECT_EQ(env["FLOPMETER_PROFILE_FIRST"], "9");     // no option: passed through
    EXPECT_EQ(env["FLOPMETER_PROFILE_REPLAY_FIRST"], "1");
    EXPECT_EQ(env["FLOPMETER_PROFILE_SKIP"], "nccl,void wait<int>(int*)");
    EXPECT_EQ(env["FLOPMETER_ARG_LEARN"], "0");

    for (const char *mode : {"sampled", "exact", "off"}) {
        r = run(std::string("--quiet --profile ") + mode + " --profile-first 1000000 -- env");
        ASSERT_EQ(r.status, 0) << mode << ": " << r.err;
        env = env_of(r.out);
        EXPECT_EQ(env["FLOPMETER_PROFILE"], mode);
        EXPECT_EQ(env.count("FLOPMETER_MODE"), 0u) << "--profile is not --mode";
        EXPECT_EQ(env["FLOPMETER_PROFILE_FIRST"], "1000000");
    }
    // an empty list is a value: measure every kernel, NCCL's included
    r = sh("FLOPMETER_PROFILE_SKIP=nccl " + kFlopmeter + " run --quiet --profile-skip '' -- "
           "sh -c 'echo \"${FLOPMETER_PROFILE_SKIP-unset}.\"'");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, ".\n");
    // none of them given: none set
    r = run("--quiet -- env");
    ASSERT_EQ(r.status, 0) << r.err;
    env = env_of(r.out);
    for (const char *var : {"FLOPMETER_PROFILE", "FLOPMETER_PROFILE_BUDGET",
                            "FLOPMETER_PROFILE_FIRST", "FLOPMETER_PROFILE_REPLAY_FIRST",
                            "FLOPMETER_PROFILE_SKIP", "FLOPMETER_ARG_LEARN"})
        EXPECT_EQ(env.count(var), 0u) << var;
}

TEST_F(Run, BadInheritedProfileSettingWarnsOrWithStrictStops)
{
    auto r = sh("FLOPMETER_PROFILE_BUDGET=2 " + kFlopmeter + " run -- sh -c 'echo ran'");
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "ran\n");
    EXPECT_TRUE(has(r.err, "flopmeter run: FLOPMETER_PROFILE_BUDGET='2'")) << r.err;
    r = sh("FLOPMETER_PROFILE_SKIP=nccl, " + kFlopmeter + " run --strict -- sh -c 'echo ran'");
    EXPECT_EQ(r.status, 2);
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
    EXPECT_TRUE(has(r.err, "FLOPMETER_PROFILE_SKIP")) << r.err;
}

TEST_F(Run, RunIdFromTheEnvironmentOrTheLauncherIsKept)
{
    auto r = sh("FLOPMETER_RUN_ID=given " + kFlopmeter + " run -- env");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(env_of(r.out)["FLOPMETER_RUN_ID"], "given");
    EXPECT_TRUE(has(r.err, "flopmeter-traces/given")) << r.err;
    // the library makes slurm-JOB.STEP itself, the same in every task of the job
    r = sh("SLURM_JOB_ID=77 SLURM_STEP_ID=3 " + kFlopmeter + " run -- env");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(env_of(r.out).count("FLOPMETER_RUN_ID"), 0u);
    EXPECT_TRUE(has(r.err, "flopmeter-traces/slurm-77.3")) << r.err;
}

TEST_F(Run, ExistingPreloadIsKeptAfterTheLibrary)
{
    auto r = sh("LD_PRELOAD=libm.so.6 " + kFlopmeter + " run -- sh -c 'echo \"$LD_PRELOAD\"'");
    ASSERT_EQ(r.status, 0) << r.err;
    std::string preload = r.out.substr(0, r.out.find('\n'));
    size_t colon = preload.find(':');
    ASSERT_NE(colon, std::string::npos) << preload;
    EXPECT_EQ(real(preload.substr(0, colon)), real(kPreloadLib)) << preload;
    EXPECT_EQ(preload.substr(colon + 1), "libm.so.6");
    // run inside run preloads the library once
    r = run("--quiet -- " + kFlopmeter + " run --quiet -- sh -c 'echo \"$LD_PRELOAD\"'");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out.find(':'), std::string::npos) << r.out;
}

TEST_F(Run, AnotherInjectionToolKeepsItsSlot)
{
    auto r = sh("CUDA_INJECTION64_PATH=/opt/other/libtool.so " + kFlopmeter +
                " run -- sh -c 'echo \"$CUDA_INJECTION64_PATH\"; echo \"$NVTX_INJECTION64_PATH\"'");
    ASSERT_EQ(r.status, 0) << r.err;
    std::istringstream in(r.out);
    std::string cuda, nvtx;
    std::getline(in, cuda);
    std::getline(in, nvtx);
    EXPECT_EQ(cuda, "/opt/other/libtool.so");
    EXPECT_EQ(real(nvtx), real(kPreloadLib));
    EXPECT_TRUE(has(r.err, "flopmeter run: CUDA_INJECTION64_PATH names another tool "
                           "(/opt/other/libtool.so)"))
        << r.err;
}

TEST_F(Run, LibraryFoundByOptionVariableOrInstalledLayout)
{
    // --lib and FLOPMETER_LIB, relative paths made absolute
    fs::copy_file(kPreloadLib, tmp_.path("libflopmeter.so"));
    auto r = run("--lib ./libflopmeter.so -- sh -c 'echo \"$LD_PRELOAD\"'");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, tmp_.path("libflopmeter.so") + "\n");
    r = sh("FLOPMETER_LIB=libflopmeter.so " + kFlopmeter + " run -- sh -c 'echo \"$LD_PRELOAD\"'");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, tmp_.path("libflopmeter.so") + "\n");
    r = sh("FLOPMETER_LIB=/nonexistent/libflopmeter.so " + kFlopmeter + " run -- touch ran");
    EXPECT_EQ(r.status, 2);
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
    EXPECT_TRUE(has(r.err, "FLOPMETER_LIB")) << r.err;
    EXPECT_FALSE(fs::exists(tmp_.path("ran")));

    // an installed tree: PREFIX/bin/flopmeter finds PREFIX/lib/libflopmeter.so
    fs::create_directories(tmp_.path("prefix/bin"));
    fs::copy_file(FLOPMETER_BIN, tmp_.path("prefix/bin/flopmeter"));
    r = sh("unset FLOPMETER_LIB; prefix/bin/flopmeter run -- touch ran");
    EXPECT_EQ(r.status, 2);
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
    EXPECT_TRUE(has(r.err, "--lib")) << r.err;
    EXPECT_FALSE(fs::exists(tmp_.path("ran")));
    fs::create_directories(tmp_.path("prefix/lib"));
    fs::copy_file(kPreloadLib, tmp_.path("prefix/lib/libflopmeter.so"));
    r = sh("unset FLOPMETER_LIB; prefix/bin/flopmeter run -- sh -c 'echo \"$LD_PRELOAD\"'");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, tmp_.path("prefix/lib/libflopmeter.so") + "\n");
}

TEST_F(Run, BadInheritedConfigurationWarnsOrWithStrictStops)
{
    auto r = sh("FLOPMETER_FLUSH_MS=abc " + kFlopmeter + " run -- sh -c 'echo ran'");
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "ran\n");
    EXPECT_TRUE(has(r.err, "flopmeter run: FLOPMETER_FLUSH_MS='abc'")) << r.err;
    r = sh("FLOPMETER_FLUSH_MS=abc " + kFlopmeter + " run --strict -- sh -c 'echo ran'");
    EXPECT_EQ(r.status, 2);
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
}

// A signal sent to `flopmeter run` alone reaches the command, which decides what to do.
class RunSignals : public Run, public ::testing::WithParamInterface<int> {};

TEST_P(RunSignals, ReachTheCommand)
{
    int sig = GetParam();
    std::string name = sig == SIGTERM ? "TERM"
                       : sig == SIGINT ? "INT"
                       : sig == SIGHUP ? "HUP"
                       : sig == SIGQUIT ? "QUIT"
                       : sig == SIGUSR1 ? "USR1"
                                        : "USR2";
    std::string child = "trap \"exit 7\" " + name +
                        "; echo ready > ready; while :; do sleep 0.05; done";
    // exec: the pid is flopmeter run's
    pid_t pid = spawn_shell("exec " + kFlopmeter + " run --quiet -- sh -c " + q(child),
                            tmp_.dir(), io("out"), io("err"));
    ASSERT_GT(pid, 0);
    for (int i = 0; i < 1000 && !fs::exists(tmp_.path("ready")); i++)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_TRUE(fs::exists(tmp_.path("ready"))) << slurp(io("err"));
    ASSERT_EQ(kill(pid, sig), 0);
    EXPECT_EQ(wait_status(pid, 30), 7) << name << ": " << slurp(io("err"));
}

INSTANTIATE_TEST_SUITE_P(Forwarded, RunSignals,
                         ::testing::Values(SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2));

TEST_F(Run, SummaryListsTheTracesWrittenDuringTheRun)
{
    const std::string dir = tmp_.path("out/r1");
    fs::create_directories(dir);
    std::ofstream(dir + "/old.fmtrace") << "from an earlier run";
    std::ofstream(dir + "/grown.fmtrace") << "x";
    // the command writes as the library would: under $FLOPMETER_OUTPUT_DIR/$FLOPMETER_RUN_ID
    auto r = run("--output-dir out --run-id r1 -- sh -c 'd=$FLOPMETER_OUTPUT_DIR/$FLOPMETER_RUN_ID; "
                 "echo a > $d/h-r00001-p2.fmtrace; echo b > $d/h-r00000-p1.fmtrace; "
                 "echo c > $d/notes.txt; echo more >> $d/grown.fmtrace'");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.err, "flopmeter run: 3 traces written in " + dir + ":\n"
                     "  grown.fmtrace\n"
                     "  h-r00000-p1.fmtrace\n"
                     "  h-r00001-p2.fmtrace\n"
                     "flopmeter run: read them with: flopmeter report " + dir + "\n");
}

TEST_F(Run, SummaryCountsManyTraces)
{
    auto r = run("--output-dir out --run-id many -- sh -c 'd=$FLOPMETER_OUTPUT_DIR/$FLOPMETER_RUN_ID; "
                 "mkdir -p $d; for i in 1 2 3 4 5 6 7 8 9 10 11 12; do : > $d/h-p$i.fmtrace; done'");
    ASSERT_EQ(r.status, 0) << r.err;
    const std::string dir = tmp_.path("out/many");
    EXPECT_EQ(r.err, "flopmeter run: 12 traces written in " + dir + "\n"
                     "flopmeter run: read them with: flopmeter report " + dir + "\n");
    r = run("--quiet --output-dir out --run-id many -- sh -c 'd=$FLOPMETER_OUTPUT_DIR/$FLOPMETER_RUN_ID; "
            ": > $d/h-p13.fmtrace'");
    ASSERT_EQ(r.status, 0);
    EXPECT_TRUE(r.err.empty()) << r.err;
}

TEST_F(Run, SummarySaysWhyNoTraceWasWritten)
{
    auto r = run("--run-id none -- true");
    ASSERT_EQ(r.status, 0);
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
    EXPECT_TRUE(has(r.err, "no trace written in " + tmp_.path("flopmeter-traces/none"))) << r.err;
    EXPECT_TRUE(has(r.err, "initialises CUDA")) << r.err;
    r = run("--mode off -- true");
    ASSERT_EQ(r.status, 0);
    EXPECT_EQ(r.err, "flopmeter run: no trace written: FLOPMETER_MODE=off\n");
}

// End to end: a real program with the real library preloaded. Python never touches CUDA
// here, so it runs as it would without flopmeter and no trace is written.
TEST_F(Run, PythonWithoutCudaRunsUnchangedAndWritesNoTrace)
{
    if (sh("command -v python3 >/dev/null").status != 0)
        GTEST_SKIP() << "no python3";
    auto direct = sh("python3 -c 'print(42)'");
    auto r = run("--output-dir traces -- python3 -c 'print(42)'");
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "42\n");
    EXPECT_EQ(r.out, direct.out);
    EXPECT_TRUE(traces_under(tmp_.path("traces")).empty());
    EXPECT_TRUE(has(r.err, "flopmeter run: no trace written in " + tmp_.path("traces/"))) << r.err;
}

} // namespace
