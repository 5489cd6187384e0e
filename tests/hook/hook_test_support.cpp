// hook_test_support.cpp - helpers of the hook's tests (see hook_test_support.h).
#include "hook_test_support.h"

extern "C" {
#include "hook_phases.h"
}

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <iterator>
#include <poll.h>
#include <stdexcept>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <gtest/gtest.h>

extern "C" {
#include "flopmeter/trace_reader.h"
}

extern char **environ;

namespace hooktest {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0)
{
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Waits for pid until the deadline, then kills it. Returns the wait status.
int wait_with_deadline(pid_t pid, Clock::time_point deadline)
{
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status;
        if (r < 0 && errno != EINTR)
            return -1;
        if (Clock::now() > deadline) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
            return status;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
}

bool drop_from_child_env(const std::string &key)
{
    static const char *const exact[] = {"CUDA_INJECTION64_PATH", "NVTX_INJECTION64_PATH",
                                        "LD_PRELOAD", "LD_LIBRARY_PATH", "RANK", "LOCAL_RANK",
                                        "WORLD_SIZE", "TORCHELASTIC_RUN_ID", "PBS_JOBID",
                                        "LSB_JOBID", "MPI_LOCALRANKID"};
    static const char *const prefixes[] = {"FLOPMETER_", "SLURM_", "OMPI_COMM_WORLD_", "PMI_",
                                           "PMIX_"};
    for (const char *e : exact)
        if (key == e)
            return true;
    for (const char *p : prefixes)
        if (key.compare(0, strlen(p), p) == 0)
            return true;
    return false;
}

std::string str(const fm_str &s)
{
    return std::string(s.ptr ? s.ptr : "", s.len);
}

} // namespace

std::vector<std::string> files_under(const std::string &dir)
{
    std::vector<std::string> out;
    DIR *d = opendir(dir.c_str());
    if (!d)
        return out;
    while (struct dirent *e = readdir(d)) {
        std::string name = e->d_name;
        if (name == "." || name == "..")
            continue;
        std::string p = dir + "/" + name;
        struct stat st;
        if (lstat(p.c_str(), &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            for (auto &f : files_under(p))
                out.push_back(f);
        } else if (S_ISREG(st.st_mode)) {
            out.push_back(p);
        }
    }
    closedir(d);
    return out;
}

std::vector<std::string> traces_under(const std::string &dir)
{
    std::vector<std::string> out;
    for (auto &f : files_under(dir))
        if (f.size() > 8 && f.compare(f.size() - 8, 8, ".fmtrace") == 0)
            out.push_back(f);
    return out;
}

std::string read_text(const std::string &path)
{
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
}

std::vector<std::string> split_lines(const std::string &text)
{
    std::vector<std::string> out;
    size_t at = 0;
    while (at < text.size()) {
        size_t nl = text.find('\n', at);
        if (nl == std::string::npos)
            nl = text.size();
        out.push_back(text.substr(at, nl - at));
        at = nl + 1;
    }
    return out;
}

std::vector<std::string> lines_with(const std::string &text, const std::string &needle)
{
    std::vector<std::string> out;
    for (auto &l : split_lines(text))
        if (l.find(needle) != std::string::npos)
            out.push_back(l);
    return out;
}

Env::Env()
{
    for (char **e = environ; *e; e++) {
        std::string kv = *e;
        size_t eq = kv.find('=');
        if (eq == std::string::npos)
            continue;
        std::string key = kv.substr(0, eq);
        if (!drop_from_child_env(key))
            vars_[key] = kv.substr(eq + 1);
    }
}

Env &Env::set(const std::string &key, const std::string &value)
{
    vars_[key] = value;
    return *this;
}

Env &Env::unset(const std::string &key)
{
    vars_.erase(key);
    return *this;
}

std::vector<std::string> Env::entries() const
{
    std::vector<std::string> out;
    for (auto &kv : vars_)
        out.push_back(kv.first + "=" + kv.second);
    return out;
}

void reset_hook_environment()
{
    std::vector<std::string> drop;
    for (char **e = environ; *e; e++) {
        std::string kv = *e;
        size_t eq = kv.find('=');
        if (eq != std::string::npos && drop_from_child_env(kv.substr(0, eq)))
            drop.push_back(kv.substr(0, eq));
    }
    for (auto &k : drop)
        unsetenv(k.c_str());
}

bool ProcResult::exited(int code) const
{
    return status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == code;
}

bool ProcResult::signalled(int sig) const
{
    return status >= 0 && WIFSIGNALED(status) && WTERMSIG(status) == sig;
}

std::string describe_status(int status)
{
    if (status < 0)
        return "not run";
    if (WIFEXITED(status))
        return "exit " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status))
        return "signal " + std::to_string(WTERMSIG(status));
    return "status " + std::to_string(status);
}

std::string ProcResult::describe() const
{
    return describe_status(status) + "\n--- stdout ---\n" + out + "--- stderr ---\n" + err;
}

Started start_process(const std::vector<std::string> &argv, const Env &env)
{
    // everything the child needs is built before fork: only async-signal-safe calls after it
    std::vector<std::string> env_entries = env.entries();
    std::vector<char *> cargv, cenv;
    for (auto &a : argv)
        cargv.push_back(const_cast<char *>(a.c_str()));
    cargv.push_back(nullptr);
    for (auto &e : env_entries)
        cenv.push_back(const_cast<char *>(e.c_str()));
    cenv.push_back(nullptr);
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0)
        throw std::runtime_error("pipe failed");
    Started p;
    p.pid = fork();
    if (p.pid < 0)
        throw std::runtime_error("fork failed");
    if (p.pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0)
            _exit(126);
        execve(cargv[0], cargv.data(), cenv.data());
        _exit(127);
    }
    close(out[1]);
    close(err[1]);
    p.out_fd = out[0];
    p.err_fd = err[0];
    return p;
}

namespace {

// Reads what is available on the open pipes of p within timeout_ms; closes those at EOF.
void pump(Started &p, int timeout_ms)
{
    struct pollfd fds[2];
    int n = 0;
    if (p.out_fd >= 0)
        fds[n++] = {p.out_fd, POLLIN, 0};
    if (p.err_fd >= 0)
        fds[n++] = {p.err_fd, POLLIN, 0};
    if (!n)
        return;
    if (poll(fds, (nfds_t)n, timeout_ms) <= 0)
        return;
    for (int i = 0; i < n; i++) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        char buf[4096];
        ssize_t got = read(fds[i].fd, buf, sizeof buf);
        if (got < 0 && errno == EINTR)
            continue;
        bool is_out = fds[i].fd == p.out_fd;
        if (got <= 0) {
            close(fds[i].fd);
            (is_out ? p.out_fd : p.err_fd) = -1;
        } else {
            (is_out ? p.out : p.err).append(buf, (size_t)got);
        }
    }
}

} // namespace

bool read_until(Started &p, const std::string &needle, int timeout_ms)
{
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (p.out.find(needle) == std::string::npos) {
        if (Clock::now() > deadline || (p.out_fd < 0 && p.err_fd < 0))
            return false;
        pump(p, 10);
    }
    return true;
}

ProcResult finish_process(Started &p, int timeout_s)
{
    auto t0 = Clock::now();
    auto deadline = t0 + std::chrono::seconds(timeout_s);
    while ((p.out_fd >= 0 || p.err_fd >= 0) && Clock::now() < deadline)
        pump(p, 50);
    if (p.out_fd >= 0 || p.err_fd >= 0)
        kill(p.pid, SIGKILL);
    while (p.out_fd >= 0 || p.err_fd >= 0)
        pump(p, 50);
    ProcResult r;
    r.status = wait_with_deadline(p.pid, deadline);
    r.out = p.out;
    r.err = p.err;
    r.seconds = seconds_since(t0);
    return r;
}

ProcResult run_process(const std::vector<std::string> &argv, const Env &env, int timeout_s)
{
    auto t0 = Clock::now();
    Started p = start_process(argv, env);
    ProcResult r = finish_process(p, timeout_s);
    r.seconds = seconds_since(t0);
    return r;
}

int run_in_child(const std::function<int()> &fn, const std::string &stderr_path, int timeout_s)
{
    fflush(nullptr);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        fm_phases_reset_anchor(); // as the library's fork handler does
        int fd = open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || dup2(fd, 2) < 0)
            _exit(125);
        int rc = 124;
        try {
            rc = fn();
        } catch (const std::exception &e) {
            fprintf(stderr, "exception: %s\n", e.what());
        }
        fflush(nullptr);
        _exit(rc);
    }
    return wait_with_deadline(pid, Clock::now() + std::chrono::seconds(timeout_s));
}

ProcResult flopmeter_verify(const std::string &trace)
{
    return run_process({FLOPMETER_BIN, "verify", trace}, Env());
}

std::string Trace::phase_name(uint64_t id) const
{
    auto it = phases.find(id);
    return it == phases.end() ? "" : it->second.name;
}

uint64_t Trace::total_launches() const
{
    uint64_t n = 0;
    for (auto &a : aggregates)
        n += a.launches;
    return n;
}

Trace verified_trace(const std::string &dir)
{
    std::string path = only_trace(dir);
    if (path.empty()) {
        ADD_FAILURE() << "no single trace in " << dir;
        return Trace();
    }
    ProcResult v = flopmeter_verify(path);
    EXPECT_TRUE(v.exited(0)) << v.describe();
    return read_trace(path);
}

Trace read_trace(const std::string &path)
{
    Trace t;
    fm_reader *r = nullptr;
    char err[512] = "";
    t.status = fm_reader_open_file(&r, path.c_str(), err, sizeof err);
    if (t.status != FM_OK) {
        t.error = err;
        return t;
    }
    std::map<uint64_t, std::string> strings;
    auto s = [&](uint64_t id) { return id && strings.count(id) ? strings[id] : std::string(); };
    fm_record rec;
    int rc;
    while ((rc = fm_reader_next(r, &rec)) == FM_OK) {
        t.records++;
        switch (rec.kind) {
        case FM_REC_STRING:
            strings[rec.u.string.id] = str(rec.u.string.text);
            break;
        case FM_REC_RUN_META: {
            const fm_rec_run_meta &m = rec.u.run_meta;
            t.run_meta.tool_version = str(m.tool_version);
            t.run_meta.run_id = str(m.run_id);
            t.run_meta.host = str(m.host);
            t.run_meta.command = str(m.command);
            t.run_meta.pid = m.pid;
            t.run_meta.rank = m.rank;
            t.run_meta.local_rank = m.local_rank;
            t.run_meta.world_size = m.world_size;
            t.run_meta.cuda_driver = m.cuda_driver_version;
            t.run_meta.cuda_runtime = m.cuda_runtime_version;
            t.run_meta.cupti = m.cupti_version;
            for (uint64_t i = 0; i < m.n_config; i++)
                t.run_meta.config[str(m.config[i].key)] = str(m.config[i].value);
            break;
        }
        case FM_REC_DEVICE: {
            const fm_rec_device &d = rec.u.device;
            Trace::Device x;
            x.device = d.device;
            x.cc_major = d.cc_major;
            x.cc_minor = d.cc_minor;
            x.sm_count = d.sm_count;
            x.memory_bytes = d.memory_bytes;
            x.name = str(d.name);
            x.chip = str(d.chip);
            x.pci_bus_id = str(d.pci_bus_id);
            memcpy(x.uuid, d.uuid, 16);
            t.devices.push_back(x);
            break;
        }
        case FM_REC_KERNEL_SIGNATURE: {
            const fm_rec_kernel_signature &k = rec.u.kernel_signature;
            Trace::Signature x;
            x.id = k.id;
            x.device = k.device;
            x.shared_mem = k.shared_mem_dynamic;
            x.arg_hash = k.arg_hash;
            x.callsite = k.callsite;
            x.first_seen_ns = k.first_seen_ns;
            for (int i = 0; i < 3; i++) {
                x.grid[i] = k.grid[i];
                x.block[i] = k.block[i];
            }
            x.name = s(k.name);
            t.signatures[k.id] = x;
            break;
        }
        case FM_REC_AGGREGATE: {
            const fm_rec_aggregate &a = rec.u.aggregate;
            Trace::Aggregate x;
            x.start_ns = a.interval_start_ns;
            x.end_ns = a.interval_end_ns;
            x.signature = a.signature;
            x.phase = a.phase;
            x.launches = a.launches;
            x.busy_ns = a.busy_ns;
            x.launches_measured = a.launches_measured;
            x.launches_extrapolated = a.launches_extrapolated;
            for (uint64_t i = 0; i < a.n_classes; i++)
                x.classes[a.classes[i].precision_class] = {a.classes[i].measured,
                                                           a.classes[i].extrapolated};
            t.aggregates.push_back(x);
            break;
        }
        case FM_REC_METRIC_GROUP: {
            Trace::MetricGroup mg{rec.u.metric_group.id,
                                  std::string(rec.u.metric_group.chip.ptr,
                                              rec.u.metric_group.chip.len),
                                  {}};
            for (uint64_t i = 0; i < rec.u.metric_group.n_metrics; i++)
                mg.names.push_back(s(rec.u.metric_group.metrics[i].name));
            t.metric_groups.push_back(mg);
            break;
        }
        case FM_REC_COUNTER_SAMPLE: {
            const fm_rec_counter_sample &c = rec.u.counter_sample;
            t.samples.push_back({c.signature, c.launch_ordinal, c.group, c.passes,
                                 std::vector<double>(c.values, c.values + c.n_values)});
            break;
        }
        case FM_REC_PHASE_DEF:
            t.phases[rec.u.phase_def.id] = {rec.u.phase_def.id, rec.u.phase_def.category,
                                            s(rec.u.phase_def.name)};
            break;
        case FM_REC_PHASE_EVENT:
            t.phase_events.push_back({rec.u.phase_event.time_ns, rec.u.phase_event.thread_id,
                                      rec.u.phase_event.phase, rec.u.phase_event.action});
            break;
        case FM_REC_DECLARATION: {
            const fm_rec_declaration &d = rec.u.declaration;
            t.declarations.push_back(
                {d.time_ns, d.phase, s(d.key), s(d.text), d.text != 0, d.value});
            break;
        }
        case FM_REC_DEGRADATION: {
            const fm_rec_degradation &d = rec.u.degradation;
            t.degradations.push_back(
                {d.time_ns, d.kind, d.launches_affected, d.api_result, str(d.message)});
            break;
        }
        case FM_REC_FINAL:
            t.final_seen = true;
            t.exit_reason = rec.u.final.exit_reason;
            t.records_dropped = rec.u.final.records_dropped;
            t.launches_total = rec.u.final.launches_total;
            break;
        default:
            break;
        }
    }
    t.status = rc;
    t.error = fm_reader_error(r);
    fm_reader_close(r);
    return t;
}

void child_env(const std::string &dir, const std::map<std::string, std::string> &extra)
{
    reset_hook_environment();
    setenv("FLOPMETER_OUTPUT_DIR", dir.c_str(), 1);
    setenv("FLOPMETER_RUN_ID", "scenario", 1);
    setenv("FLOPMETER_QUIET", "1", 1);
    for (auto &kv : extra)
        setenv(kv.first.c_str(), kv.second.c_str(), 1);
}

std::string only_trace(const std::string &dir)
{
    auto traces = traces_under(dir);
    EXPECT_EQ(traces.size(), 1u);
    return traces.empty() ? "" : traces[0];
}

} // namespace hooktest
