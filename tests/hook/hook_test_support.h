// hook_test_support.h - helpers of the hook's tests: scratch directories, running programs and
// functions in child processes with a controlled environment, and reading a trace back into
// plain structures (strings resolved).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <sys/types.h>
#include <vector>

#include "temp_dir.h"

namespace hooktest {

using fmtestcommon::TempDir; // a scratch directory, removed at the end (tests/common)

// Every regular file under dir (recursively), and those ending in .fmtrace.
std::vector<std::string> files_under(const std::string &dir);
std::vector<std::string> traces_under(const std::string &dir);

std::string read_text(const std::string &path);
std::vector<std::string> split_lines(const std::string &text);
// Lines of text that contain needle.
std::vector<std::string> lines_with(const std::string &text, const std::string &needle);

// An environment for a child: this process's environment without anything that would change
// what the hook does (FLOPMETER_*, the injection variables, LD_PRELOAD, LD_LIBRARY_PATH, the
// launchers' rank variables), plus what set() adds.
class Env {
  public:
    Env();
    Env &set(const std::string &key, const std::string &value);
    Env &unset(const std::string &key);
    std::vector<std::string> entries() const;

  private:
    std::map<std::string, std::string> vars_;
};

// In this process: removes the same variables from the environment (for a forked child that
// starts the collector itself).
void reset_hook_environment();

struct ProcResult {
    int status = -1; // as waitpid reports it
    std::string out, err;
    double seconds = 0;
    bool exited(int code) const;
    bool signalled(int sig) const;
    std::string describe() const; // for failure messages
};

// Runs argv[0] (a path) with env; stdin is /dev/null. Killed after timeout_s.
ProcResult run_process(const std::vector<std::string> &argv, const Env &env, int timeout_s = 30);

// A started process whose stdout and stderr are pipes.
struct Started {
    pid_t pid = -1;
    int out_fd = -1, err_fd = -1;
    std::string out, err;
};
Started start_process(const std::vector<std::string> &argv, const Env &env);
// Reads the process's stdout until it holds needle (true) or timeout_ms passes (false).
bool read_until(Started &p, const std::string &needle, int timeout_ms);
// Reads both pipes to their end and reaps the process (killed after timeout_s).
ProcResult finish_process(Started &p, int timeout_s = 30);

// Runs fn in a forked child with its stderr sent to stderr_path; the child exits with fn's
// return value. The hook's collector is one per process: each scenario gets a process of its
// own. Returns the wait status (the child is killed after timeout_s).
// Sets up a child's environment for a scenario run in it: traces under dir, quiet, plus
// extra variables.
void child_env(const std::string &dir, const std::map<std::string, std::string> &extra = {});

// The one trace under dir ("" and a failed expectation when there is not exactly one).
std::string only_trace(const std::string &dir);

int run_in_child(const std::function<int()> &fn, const std::string &stderr_path,
                 int timeout_s = 60);
std::string describe_status(int status);

// `flopmeter verify TRACE` with the built command.
ProcResult flopmeter_verify(const std::string &trace);

// A trace read back with the trace library, string ids resolved.
struct Trace {
    int status = 0;        // what fm_reader_next ended with (FM_END when intact)
    std::string error;     // the reader's message
    uint64_t records = 0;
    bool final_seen = false;

    struct RunMeta {
        std::string tool_version, run_id, host, command;
        uint64_t pid = 0, world_size = 0, cuda_driver = 0, cuda_runtime = 0, cupti = 0;
        int64_t rank = -2, local_rank = -2;
        std::map<std::string, std::string> config;
    } run_meta;
    struct Device {
        uint64_t device, cc_major, cc_minor, sm_count, memory_bytes;
        std::string name, chip, pci_bus_id;
        uint8_t uuid[16];
    };
    struct Signature {
        uint64_t id, device, shared_mem, arg_hash, callsite, first_seen_ns;
        uint64_t grid[3], block[3];
        std::string name;
    };
    struct Aggregate {
        uint64_t start_ns, end_ns, signature, phase, launches, busy_ns;
        uint64_t launches_measured = 0, launches_extrapolated = 0;
        std::map<uint8_t, std::pair<double, double>> classes; // measured, extrapolated
    };
    struct MetricGroup {
        uint64_t id;
        std::string chip;
        std::vector<std::string> names;
    };
    struct CounterSample {
        uint64_t signature, ordinal, group, passes;
        std::vector<double> values;
    };
    struct PhaseDef {
        uint64_t id, category;
        std::string name;
    };
    struct PhaseEvent {
        uint64_t time_ns, thread_id, phase, action;
    };
    struct Declaration {
        uint64_t time_ns, phase;
        std::string key, text;
        bool has_text;
        double value;
    };
    struct Degradation {
        uint64_t time_ns, kind, launches_affected;
        int64_t api_result;
        std::string message;
    };
    std::vector<Device> devices;
    std::map<uint64_t, Signature> signatures;
    std::vector<Aggregate> aggregates;
    std::vector<MetricGroup> metric_groups;
    std::vector<CounterSample> samples;
    std::map<uint64_t, PhaseDef> phases;
    std::vector<PhaseEvent> phase_events;
    std::vector<Declaration> declarations;
    std::vector<Degradation> degradations;
    uint64_t exit_reason = 0, records_dropped = 0, launches_total = 0;

    // The name of a phase id ("" for 0 and unknown ids).
    std::string phase_name(uint64_t id) const;
    uint64_t total_launches() const;
};
Trace read_trace(const std::string &path);
// The one trace under dir, read back after `flopmeter verify` accepted it; a test failure
// when there is none or it does not verify (then an empty Trace, or what could be read).
Trace verified_trace(const std::string &dir);

} // namespace hooktest
