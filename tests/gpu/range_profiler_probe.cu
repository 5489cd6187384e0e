// range_profiler_probe.cu - settles on a GPU what the hook's range-profiler glue assumes about
// CUPTI's Range Profiler (tests/gpu/README.md, "range_profiler_probe").
//
// The glue, for a launch chosen for measurement, calls in the cuLaunchKernel callback: at API
// enter cuptiRangeProfilerCounterDataImageInitialize, cuptiRangeProfilerSetConfig (AutoRange,
// KernelReplay, maxRangesPerPass 1, the config image of one single-pass metric group) and
// cuptiRangeProfilerStart; at API exit cuptiRangeProfilerStop, cuptiRangeProfilerDecodeData,
// cuptiRangeProfilerGetCounterDataInfo (one range expected) and
// cuptiProfilerHostEvaluateToGpuValues. This program makes the same calls inline around its
// own launches (no callbacks) and reports what happens:
//   a  per-launch measurement: one FFMA kernel of known work measured three times, switching
//      config images between launches (instrumented sass metric, then hardware counters, then
//      the sass metric again); also whether the counter data image must be re-initialised and
//      whether SetConfig must be repeated
//   b  cost: consecutive measured launches of a tiny kernel against unmeasured ones, per group
//      kind, and with 2 GiB of device memory allocated (does a single-pass replay save it?)
//   c  CUDA graphs: a graph of 3 kernels of known work launched under AutoRange (how many
//      ranges?) and under a user range (one range with the sum?)
//   d  a second host thread launching on the same context while a measurement is in progress
//   e  a multi-pass config under KernelReplay: passes, isAllPassSubmitted after one launch,
//      values, and the output of a non-idempotent kernel unchanged by the replay
//
// Output on stdout: one line "PROBE {json}" per finding, then one "PROBE_END {json}". Every
// finding has "finding", "status" (ok, error, skipped), "expected" and "measured" (short
// texts for the result table), and its data; a failed CUDA or CUPTI call is reported as
// "error": {"call", "code", "name", "message"}, never as a crash. Exit status: 0 when every
// finding was run (whatever it found), 1 when profiling could not be set up at all, 2 without
// a GPU (one line on stderr) or on a usage error, 3 when the watchdog (--deadline) stopped it,
// 4 on a crash (its last line then names the finding in progress).
//
// The driver is reached through the runtime (cudaGetDriverEntryPointByVersion), not linked:
// the program then loads on a machine without a driver and says that there is no GPU.
#include <cuda.h> // driver API types only
#include <cuda_runtime.h>
#include <cupti.h>
#include <cupti_profiler_host.h>
#include <cupti_profiler_target.h>
#include <cupti_range_profiler.h>
#include <cupti_target.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

// ---- kernels ------------------------------------------------------------------------------

// Threads i < n: `iters` times 4 FFMA (four chains), then 4 FFMA under the predicate
// p = (i % 4 != 3), as `@P FFMA`; each thread adds 1 to runs[i]. Threads i >= n return at once.
// PTX fma.rn.f32 is neither contracted nor folded by ptxas, and nothing else in the kernel is
// a floating-point add, multiply or fma (I2F starts the chains, the result is stored as bits).
__global__ void rp_ffma(unsigned *out, unsigned *runs, int n, float a, float b, int iters)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float x0 = __int2float_rn(i), x1 = __int2float_rn(i + 1), x2 = __int2float_rn(i + 2),
          x3 = __int2float_rn(i + 3);
    for (int k = 0; k < iters; ++k)
        asm volatile("fma.rn.f32 %0, %0, %4, %5;\n\t"
                     "fma.rn.f32 %1, %1, %4, %5;\n\t"
                     "fma.rn.f32 %2, %2, %4, %5;\n\t"
                     "fma.rn.f32 %3, %3, %4, %5;"
                     : "+f"(x0), "+f"(x1), "+f"(x2), "+f"(x3)
                     : "f"(a), "f"(b));
    int p = (i & 3) != 3;
    asm volatile("{\n\t.reg .pred p;\n\tsetp.ne.s32 p, %6, 0;\n\t"
                 "@p fma.rn.f32 %0, %0, %4, %5;\n\t"
                 "@p fma.rn.f32 %1, %1, %4, %5;\n\t"
                 "@p fma.rn.f32 %2, %2, %4, %5;\n\t"
                 "@p fma.rn.f32 %3, %3, %4, %5;\n\t}"
                 : "+f"(x0), "+f"(x1), "+f"(x2), "+f"(x3)
                 : "f"(a), "f"(b), "r"(p));
    out[i] = __float_as_uint(x0) ^ __float_as_uint(x1) ^ __float_as_uint(x2) ^ __float_as_uint(x3);
    runs[i] += 1u;
}

// Every thread (the grid covers exactly whole warps): `iters` times one FADD, one FMUL and one
// FFMA; every warp `mmas` times one mma.sync m16n8k16 f16 -> f32 and one bf16 -> f32. The
// kernel is not idempotent: out[i] = out[i] * K + (its results), runs[i] += 1. A kernel replay
// that did not restore memory between passes would change both.
__global__ void rp_mix(unsigned *out, unsigned *runs, float a, float b, int iters, int mmas)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    float x0 = __int2float_rn(i), x1 = __int2float_rn(i + 1), x2 = __int2float_rn(i + 2);
    for (int k = 0; k < iters; ++k)
        asm volatile("add.rn.f32 %0, %0, %4;\n\t"
                     "mul.rn.f32 %1, %1, %3;\n\t"
                     "fma.rn.f32 %2, %2, %3, %4;"
                     : "+f"(x0), "+f"(x1), "+f"(x2)
                     : "f"(a), "f"(b));
    unsigned h = 0x3c003c00u ^ ((unsigned)i & 0x03ff03ffu); // f16x2 operands, finite
    unsigned g = 0x3f803f80u ^ ((unsigned)i & 0x007f007fu); // bf16x2 operands, finite
    float d0 = 0.f, d1 = 0.f, d2 = 0.f, d3 = 0.f, e0 = 0.f, e1 = 0.f, e2 = 0.f, e3 = 0.f;
    for (int k = 0; k < mmas; ++k) {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
                     "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
                     : "+f"(d0), "+f"(d1), "+f"(d2), "+f"(d3)
                     : "r"(h), "r"(h), "r"(h), "r"(h), "r"(h), "r"(h));
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
                     "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
                     : "+f"(e0), "+f"(e1), "+f"(e2), "+f"(e3)
                     : "r"(g), "r"(g), "r"(g), "r"(g), "r"(g), "r"(g));
    }
    unsigned bits = __float_as_uint(x0) ^ __float_as_uint(x1) ^ __float_as_uint(x2) ^
                    __float_as_uint(d0) ^ __float_as_uint(d1) ^ __float_as_uint(d2) ^
                    __float_as_uint(d3) ^ __float_as_uint(e0) ^ __float_as_uint(e1) ^
                    __float_as_uint(e2) ^ __float_as_uint(e3);
    out[i] = out[i] * 2654435761u + bits;
    runs[i] += 1u;
}

// FFMA thread-instructions with a true predicate that one rp_ffma launch executes, and the
// count should a false predicate count too.
static uint64_t ffma_expected(int n, int iters)
{
    uint64_t guarded_on = (uint64_t)n - (uint64_t)(n / 4); // i % 4 != 3
    return (uint64_t)n * 4u * (uint64_t)iters + 4u * guarded_on;
}
static uint64_t ffma_expected_pred_off_counted(int n, int iters)
{
    return (uint64_t)n * 4u * ((uint64_t)iters + 1u);
}

namespace
{

// ---- output ---------------------------------------------------------------------------------

// The finding in progress, for the watchdog's last line.
const char *volatile g_current = "setup";

std::string json_escape(const std::string &s)
{
    std::string o;
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            o += '\\';
            o += (char)c;
        } else if (c < 0x20) {
            char buf[8];
            snprintf(buf, sizeof buf, "\\u%04x", c);
            o += buf;
        } else {
            o += (char)c;
        }
    }
    return o;
}

std::string json_num(double v)
{
    if (!std::isfinite(v))
        return "null";
    char buf[64];
    if (v == std::floor(v) && std::fabs(v) < 9.0e15)
        snprintf(buf, sizeof buf, "%.0f", v);
    else
        snprintf(buf, sizeof buf, "%.6g", v);
    return buf;
}

// One JSON object, its members in the order they are added.
class J
{
  public:
    J &s(const char *k, const std::string &v) { return raw(k, "\"" + json_escape(v) + "\""); }
    J &n(const char *k, double v) { return raw(k, json_num(v)); }
    J &u(const char *k, uint64_t v) { return raw(k, std::to_string(v)); }
    J &b(const char *k, bool v) { return raw(k, v ? "true" : "false"); }
    J &o(const char *k, const J &v) { return raw(k, v.str()); }
    J &raw(const char *k, const std::string &json)
    {
        body_ += (body_.empty() ? "\"" : ", \"") + json_escape(k) + "\": " + json;
        return *this;
    }
    std::string str() const { return "{" + body_ + "}"; }

  private:
    std::string body_;
};

std::string json_nums(const std::vector<double> &v)
{
    std::string o = "[";
    for (size_t k = 0; k < v.size(); ++k)
        o += (k ? ", " : "") + json_num(v[k]);
    return o + "]";
}

std::string json_strs(const std::vector<std::string> &v)
{
    std::string o = "[";
    for (size_t k = 0; k < v.size(); ++k)
        o += (k ? ", \"" : "\"") + json_escape(v[k]) + "\"";
    return o + "]";
}

std::string fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
std::string fmt(const char *f, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf, sizeof buf, f, ap);
    va_end(ap);
    return buf;
}

int g_findings = 0, g_finding_errors = 0;

void emit(J &j)
{
    printf("PROBE %s\n", j.str().c_str());
    fflush(stdout);
    ++g_findings;
}

// The watchdog (SIGALRM) and fatal signals: a last line naming the finding in progress, written
// with write(2) alone (async-signal-safe), then exit 3 (watchdog) or 4 (crash).
void on_signal(int sig)
{
    static const char a[] = "PROBE_END {\"status\": \"";
    static const char b[] = "\", \"signal\": ";
    static const char c[] = ", \"in\": \"";
    static const char z[] = "\"}\n";
    const char *status = sig == SIGALRM ? "watchdog" : "crashed";
    const char *cur = g_current;
    char num[4] = {(char)('0' + sig / 10 % 10), (char)('0' + sig % 10), 0, 0};
    ssize_t ignored = write(1, a, sizeof a - 1);
    ignored = write(1, status, strlen(status));
    ignored = write(1, b, sizeof b - 1);
    ignored = write(1, num, 2);
    ignored = write(1, c, sizeof c - 1);
    ignored = write(1, cur, strlen(cur));
    ignored = write(1, z, sizeof z - 1);
    (void)ignored;
    _exit(sig == SIGALRM ? 3 : 4);
}

using Clock = std::chrono::steady_clock;
double us_since(Clock::time_point t0)
{
    return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
}

// ---- failures -------------------------------------------------------------------------------

struct Fail {
    bool failed = false;
    bool cuda = false;
    std::string call, name, message;
    int code = 0;
};

Fail cupti_fail(const char *call, CUptiResult r)
{
    Fail f;
    if (r == CUPTI_SUCCESS)
        return f;
    const char *name = nullptr, *msg = nullptr;
    if (cuptiGetResultString(r, &name) != CUPTI_SUCCESS || !name)
        name = "unknown CUptiResult";
    if (cuptiGetErrorMessage(r, &msg) != CUPTI_SUCCESS || !msg)
        msg = "";
    f.failed = true;
    f.call = call;
    f.code = (int)r;
    f.name = name;
    f.message = msg;
    return f;
}

Fail cuda_fail(const char *call, cudaError_t e)
{
    Fail f;
    if (e == cudaSuccess)
        return f;
    f.failed = true;
    f.cuda = true;
    f.call = call;
    f.code = (int)e;
    f.name = cudaGetErrorName(e);
    f.message = cudaGetErrorString(e);
    return f;
}

J fail_json(const Fail &f)
{
    J j;
    j.s("call", f.call).n("code", f.code).s("name", f.name).s("message", f.message);
    j.s("api", f.cuda ? "cuda" : "cupti");
    return j;
}

// Results that mean "this machine does not let us read counters", as opposed to a failure of
// the sequence itself.
bool counters_unavailable(const Fail &f)
{
    if (!f.failed || f.cuda)
        return false;
    switch (f.code) {
    case CUPTI_ERROR_HARDWARE_BUSY:
    case CUPTI_ERROR_NOT_SUPPORTED:
    case CUPTI_ERROR_VIRTUALIZED_DEVICE_NOT_SUPPORTED:
    case CUPTI_ERROR_INSUFFICIENT_PRIVILEGES:
    case CUPTI_ERROR_VIRTUALIZED_DEVICE_INSUFFICIENT_PRIVILEGES:
    case CUPTI_ERROR_CONFIDENTIAL_COMPUTING_NOT_SUPPORTED:
    case CUPTI_ERROR_CMP_DEVICE_NOT_SUPPORTED:
    case CUPTI_ERROR_MIG_DEVICE_NOT_SUPPORTED:
    case CUPTI_ERROR_SLI_DEVICE_NOT_SUPPORTED:
    case CUPTI_ERROR_WSL_DEVICE_NOT_SUPPORTED:
        return true;
    default:
        return false;
    }
}

std::string fail_text(const Fail &f) { return f.call + ": " + f.name; }

// ---- device memory --------------------------------------------------------------------------

struct DevBuf {
    void *p = nullptr;
    size_t bytes = 0;
    DevBuf() = default;
    DevBuf(const DevBuf &) = delete;
    DevBuf &operator=(const DevBuf &) = delete;
    ~DevBuf()
    {
        if (p)
            cudaFree(p);
    }
    Fail alloc(size_t b)
    {
        bytes = b;
        Fail f = cuda_fail("cudaMalloc", cudaMalloc(&p, b));
        if (!f.failed)
            f = cuda_fail("cudaMemset", cudaMemset(p, 0, b));
        return f;
    }
    unsigned *u() const { return (unsigned *)p; }
};

// Every element of a device array of unsigned equals v (0 when so, else the first index + 1;
// -1 when the copy failed).
long long first_not_equal(const DevBuf &d, size_t count, unsigned v)
{
    std::vector<unsigned> h(count);
    if (cudaMemcpy(h.data(), d.p, count * sizeof(unsigned), cudaMemcpyDeviceToHost) != cudaSuccess)
        return -1;
    for (size_t k = 0; k < count; ++k)
        if (h[k] != v)
            return (long long)k + 1;
    return 0;
}

// ---- the profiler ---------------------------------------------------------------------------

struct Probe {
    int device = 0;
    CUcontext ctx = nullptr;
    std::string chip;
    std::vector<uint8_t> availability;
    CUpti_RangeProfiler_Object *rp = nullptr;
};

// One metric group: its host object (which evaluates what it configured) and config image.
struct Config {
    std::string name;
    std::vector<const char *> metrics;
    CUpti_Profiler_Host_Object *host = nullptr;
    std::vector<uint8_t> image;
    size_t passes = 0;
    Fail fail;
};

Fail build_config(const Probe &p, Config &c)
{
    CUpti_Profiler_Host_Initialize_Params init = {
        CUpti_Profiler_Host_Initialize_Params_STRUCT_SIZE};
    init.profilerType = CUPTI_PROFILER_TYPE_RANGE_PROFILER;
    init.pChipName = p.chip.c_str();
    init.pCounterAvailabilityImage = p.availability.empty() ? nullptr : p.availability.data();
    Fail f = cupti_fail("cuptiProfilerHostInitialize", cuptiProfilerHostInitialize(&init));
    if (f.failed)
        return f;
    c.host = init.pHostObject;
    CUpti_Profiler_Host_ConfigAddMetrics_Params add = {
        CUpti_Profiler_Host_ConfigAddMetrics_Params_STRUCT_SIZE};
    add.pHostObject = c.host;
    add.ppMetricNames = c.metrics.data();
    add.numMetrics = c.metrics.size();
    f = cupti_fail("cuptiProfilerHostConfigAddMetrics", cuptiProfilerHostConfigAddMetrics(&add));
    if (f.failed)
        return f;
    CUpti_Profiler_Host_GetConfigImageSize_Params size = {
        CUpti_Profiler_Host_GetConfigImageSize_Params_STRUCT_SIZE};
    size.pHostObject = c.host;
    f = cupti_fail("cuptiProfilerHostGetConfigImageSize",
                   cuptiProfilerHostGetConfigImageSize(&size));
    if (f.failed)
        return f;
    c.image.assign(size.configImageSize, 0);
    CUpti_Profiler_Host_GetConfigImage_Params get = {
        CUpti_Profiler_Host_GetConfigImage_Params_STRUCT_SIZE};
    get.pHostObject = c.host;
    get.configImageSize = c.image.size();
    get.pConfigImage = c.image.data();
    f = cupti_fail("cuptiProfilerHostGetConfigImage", cuptiProfilerHostGetConfigImage(&get));
    if (f.failed)
        return f;
    CUpti_Profiler_Host_GetNumOfPasses_Params passes = {
        CUpti_Profiler_Host_GetNumOfPasses_Params_STRUCT_SIZE};
    passes.configImageSize = c.image.size();
    passes.pConfigImage = c.image.data();
    f = cupti_fail("cuptiProfilerHostGetNumOfPasses", cuptiProfilerHostGetNumOfPasses(&passes));
    if (!f.failed)
        c.passes = passes.numOfPasses;
    return f;
}

struct CounterData {
    std::vector<uint8_t> image;
    size_t max_ranges = 1;
};

Fail init_counter_data(const Probe &p, CounterData &d)
{
    CUpti_RangeProfiler_CounterDataImage_Initialize_Params init = {
        CUpti_RangeProfiler_CounterDataImage_Initialize_Params_STRUCT_SIZE};
    init.pRangeProfilerObject = p.rp;
    init.counterDataSize = d.image.size();
    init.pCounterData = d.image.data();
    return cupti_fail("cuptiRangeProfilerCounterDataImageInitialize",
                      cuptiRangeProfilerCounterDataImageInitialize(&init));
}

Fail make_counter_data(const Probe &p, const Config &c, size_t max_ranges, CounterData &d)
{
    CUpti_RangeProfiler_GetCounterDataSize_Params size = {
        CUpti_RangeProfiler_GetCounterDataSize_Params_STRUCT_SIZE};
    size.pRangeProfilerObject = p.rp;
    size.pMetricNames = const_cast<const char **>(c.metrics.data());
    size.numMetrics = c.metrics.size();
    size.maxNumOfRanges = max_ranges;
    size.maxNumRangeTreeNodes = (uint32_t)max_ranges;
    Fail f = cupti_fail("cuptiRangeProfilerGetCounterDataSize",
                        cuptiRangeProfilerGetCounterDataSize(&size));
    if (f.failed)
        return f;
    d.image.assign(size.counterDataSize, 0);
    d.max_ranges = max_ranges;
    return init_counter_data(p, d);
}

Fail enable_profiler(Probe &p)
{
    CUpti_RangeProfiler_Enable_Params en = {CUpti_RangeProfiler_Enable_Params_STRUCT_SIZE};
    en.ctx = p.ctx;
    Fail f = cupti_fail("cuptiRangeProfilerEnable", cuptiRangeProfilerEnable(&en));
    p.rp = f.failed ? nullptr : en.pRangeProfilerObject;
    return f;
}

void disable_profiler(Probe &p)
{
    if (!p.rp)
        return;
    CUpti_RangeProfiler_Disable_Params dis = {CUpti_RangeProfiler_Disable_Params_STRUCT_SIZE};
    dis.pRangeProfilerObject = p.rp;
    cuptiRangeProfilerDisable(&dis);
    p.rp = nullptr;
}

// After a finding failed half-way the object may be in any state: a new one for the next.
// Counter data images belong to the object they were made with; each finding makes its own.
Fail reset_profiler(Probe &p)
{
    disable_profiler(p);
    cudaDeviceSynchronize();
    cudaGetLastError();
    return enable_profiler(p);
}

struct Opts {
    CUpti_ProfilerRange range = CUPTI_AutoRange;
    CUpti_ProfilerReplayMode replay = CUPTI_KernelReplay;
    size_t max_ranges_per_pass = 1;
    bool init_image = true;           // cuptiRangeProfilerCounterDataImageInitialize before
    bool set_config = true;           // cuptiRangeProfilerSetConfig before
    const char *user_range = nullptr; // push/pop this range around the work
    int max_passes = 1;               // Start/work/Stop again while !isAllPassSubmitted, up to this
};

struct Reading {
    Fail fail;
    size_t ranges = 0, dropped = 0;
    bool all_submitted = false;
    int passes_run = 0;
    std::vector<std::vector<double>> values; // per range, per metric
    std::vector<std::string> names;          // per range
    // microseconds per step
    double us_init = 0, us_config = 0, us_start = 0, us_work = 0, us_stop = 0, us_decode = 0,
           us_eval = 0, us_total = 0;
};

// The glue's sequence around work(), which launches and returns a Fail of its own (CUDA).
template <class Work>
Reading measure(const Probe &p, Config &c, CounterData &d, const Opts &o, Work work)
{
    Reading r;
    Clock::time_point t0 = Clock::now(), t;
    if (o.init_image) {
        t = Clock::now();
        r.fail = init_counter_data(p, d);
        r.us_init = us_since(t);
        if (r.fail.failed)
            return r;
    }
    if (o.set_config) {
        CUpti_RangeProfiler_SetConfig_Params sc = {
            CUpti_RangeProfiler_SetConfig_Params_STRUCT_SIZE};
        sc.pRangeProfilerObject = p.rp;
        sc.configSize = c.image.size();
        sc.pConfig = c.image.data();
        sc.counterDataImageSize = d.image.size();
        sc.pCounterDataImage = d.image.data();
        sc.range = o.range;
        sc.replayMode = o.replay;
        sc.maxRangesPerPass = o.max_ranges_per_pass;
        sc.numNestingLevels = 1;
        sc.minNestingLevel = 1;
        sc.passIndex = 0;
        sc.targetNestingLevel = 1;
        t = Clock::now();
        r.fail = cupti_fail("cuptiRangeProfilerSetConfig", cuptiRangeProfilerSetConfig(&sc));
        r.us_config = us_since(t);
        if (r.fail.failed)
            return r;
    }
    for (int pass = 0; pass < o.max_passes; ++pass) {
        CUpti_RangeProfiler_Start_Params st = {CUpti_RangeProfiler_Start_Params_STRUCT_SIZE};
        st.pRangeProfilerObject = p.rp;
        t = Clock::now();
        r.fail = cupti_fail("cuptiRangeProfilerStart", cuptiRangeProfilerStart(&st));
        r.us_start += us_since(t);
        if (r.fail.failed)
            return r;
        bool pushed = false;
        if (o.user_range) {
            CUpti_RangeProfiler_PushRange_Params push = {
                CUpti_RangeProfiler_PushRange_Params_STRUCT_SIZE};
            push.pRangeProfilerObject = p.rp;
            push.pRangeName = o.user_range;
            r.fail = cupti_fail("cuptiRangeProfilerPushRange", cuptiRangeProfilerPushRange(&push));
            pushed = !r.fail.failed;
        }
        if (!r.fail.failed) {
            t = Clock::now();
            r.fail = work();
            r.us_work += us_since(t);
        }
        if (pushed) {
            CUpti_RangeProfiler_PopRange_Params pop = {
                CUpti_RangeProfiler_PopRange_Params_STRUCT_SIZE};
            pop.pRangeProfilerObject = p.rp;
            Fail pf = cupti_fail("cuptiRangeProfilerPopRange", cuptiRangeProfilerPopRange(&pop));
            if (!r.fail.failed)
                r.fail = pf;
        }
        CUpti_RangeProfiler_Stop_Params sp = {CUpti_RangeProfiler_Stop_Params_STRUCT_SIZE};
        sp.pRangeProfilerObject = p.rp;
        t = Clock::now();
        Fail sf = cupti_fail("cuptiRangeProfilerStop", cuptiRangeProfilerStop(&sp));
        r.us_stop += us_since(t);
        if (!r.fail.failed)
            r.fail = sf;
        if (r.fail.failed)
            return r;
        ++r.passes_run;
        r.all_submitted = sp.isAllPassSubmitted != 0;
        if (r.all_submitted)
            break;
    }
    CUpti_RangeProfiler_DecodeData_Params dec = {CUpti_RangeProfiler_DecodeData_Params_STRUCT_SIZE};
    dec.pRangeProfilerObject = p.rp;
    t = Clock::now();
    r.fail = cupti_fail("cuptiRangeProfilerDecodeData", cuptiRangeProfilerDecodeData(&dec));
    r.us_decode = us_since(t);
    if (r.fail.failed)
        return r;
    r.dropped = dec.numOfRangeDropped;
    t = Clock::now();
    CUpti_RangeProfiler_GetCounterDataInfo_Params info = {
        CUpti_RangeProfiler_GetCounterDataInfo_Params_STRUCT_SIZE};
    info.pCounterDataImage = d.image.data();
    info.counterDataImageSize = d.image.size();
    r.fail = cupti_fail("cuptiRangeProfilerGetCounterDataInfo",
                        cuptiRangeProfilerGetCounterDataInfo(&info));
    if (r.fail.failed)
        return r;
    r.ranges = info.numTotalRanges;
    for (size_t k = 0; k < std::min(r.ranges, d.max_ranges); ++k) {
        std::vector<double> v(c.metrics.size(), NAN);
        CUpti_Profiler_Host_EvaluateToGpuValues_Params ev = {
            CUpti_Profiler_Host_EvaluateToGpuValues_Params_STRUCT_SIZE};
        ev.pHostObject = c.host;
        ev.pCounterDataImage = d.image.data();
        ev.counterDataImageSize = d.image.size();
        ev.rangeIndex = k;
        ev.ppMetricNames = c.metrics.data();
        ev.numMetrics = c.metrics.size();
        ev.pMetricValues = v.data();
        r.fail = cupti_fail("cuptiProfilerHostEvaluateToGpuValues",
                            cuptiProfilerHostEvaluateToGpuValues(&ev));
        if (r.fail.failed)
            return r;
        r.values.push_back(v);
    }
    r.us_eval = us_since(t);
    r.us_total = us_since(t0);
    return r;
}

// Range names cost a call each and are not on the glue's path: asked for only where reported.
void range_names(const CounterData &d, Reading &r)
{
    for (size_t k = 0; k < r.values.size(); ++k) {
        CUpti_RangeProfiler_CounterData_GetRangeInfo_Params ri = {
            CUpti_RangeProfiler_CounterData_GetRangeInfo_Params_STRUCT_SIZE};
        ri.pCounterDataImage = d.image.data();
        ri.counterDataImageSize = d.image.size();
        ri.rangeIndex = k;
        ri.rangeDelimiter = "/";
        CUptiResult res = cuptiRangeProfilerCounterDataGetRangeInfo(&ri);
        r.names.push_back(res == CUPTI_SUCCESS && ri.rangeName
                              ? std::string(ri.rangeName)
                              : "(" + fail_text(cupti_fail("GetRangeInfo", res)) + ")");
    }
}

// A reading's data as JSON members of j.
void reading_json(J &j, const Config &c, const Reading &r)
{
    j.s("config", c.name).b("ok", !r.fail.failed);
    if (r.fail.failed)
        j.o("error", fail_json(r.fail));
    j.u("ranges", r.ranges).u("ranges_dropped", r.dropped).b("all_pass_submitted", r.all_submitted);
    j.n("passes_run", r.passes_run);
    std::string vals = "[";
    for (size_t k = 0; k < r.values.size(); ++k) {
        J v;
        for (size_t m = 0; m < c.metrics.size(); ++m)
            v.n(c.metrics[m], r.values[k][m]);
        vals += (k ? ", " : "") + v.str();
    }
    j.raw("values", vals + "]");
    if (!r.names.empty())
        j.raw("range_names", json_strs(r.names));
    J us;
    us.n("init", r.us_init).n("set_config", r.us_config).n("start", r.us_start);
    us.n("work", r.us_work).n("stop", r.us_stop).n("decode", r.us_decode);
    us.n("info_evaluate", r.us_eval).n("total", r.us_total);
    j.o("us", us);
}

double value_of(const Reading &r, size_t range, size_t metric)
{
    return range < r.values.size() && metric < r.values[range].size() ? r.values[range][metric]
                                                                      : NAN;
}

J finding(const char *id, bool ok)
{
    J j;
    j.s("finding", id).s("status", ok ? "ok" : "error");
    if (!ok)
        ++g_finding_errors;
    return j;
}

void emit_setup_error(const char *id, const Fail &f, const char *expected)
{
    J j = finding(id, false);
    j.s("expected", expected).s("measured", fail_text(f)).o("error", fail_json(f));
    emit(j);
}

// ---- the metric groups ----------------------------------------------------------------------

const char *const M_FFMA = "smsp__sass_thread_inst_executed_op_ffma_pred_on.sum";
const char *const M_FADD = "smsp__sass_thread_inst_executed_op_fadd_pred_on.sum";
const char *const M_FMUL = "smsp__sass_thread_inst_executed_op_fmul_pred_on.sum";
const char *const M_FP64_TC = "sm__ops_path_tensor_src_fp64.sum";
const char *const M_HMMA_F16 = "sm__ops_path_tensor_op_hmma_src_fp16_dst_fp32.sum";
const char *const M_HMMA_BF16 = "sm__ops_path_tensor_op_hmma_src_bf16_dst_fp32.sum";
const char *const M_DURATION = "gpu__time_duration.sum";

Config g_sass, g_hw, g_multi;

const int BLOCK = 128;
int blocks_for(int n) { return (n + BLOCK - 1) / BLOCK; }

Fail launch_ffma(cudaStream_t s, const DevBuf &out, const DevBuf &runs, int n, int iters)
{
    rp_ffma<<<blocks_for(n), BLOCK, 0, s>>>(out.u(), runs.u(), n, 0.999f, 0.25f, iters);
    return cuda_fail("cudaLaunchKernel rp_ffma", cudaGetLastError());
}

bool equals(double v, uint64_t e) { return std::isfinite(v) && v == (double)e; }

// ---- a: per-launch measurement, switching configs --------------------------------------------

bool finding_a(Probe &p)
{
    g_current = "a";
    const int n = 100003, iters = 64;
    const uint64_t expect = ffma_expected(n, iters);
    const uint64_t expect_off = ffma_expected_pred_off_counted(n, iters);
    DevBuf out, runs;
    Fail f = out.alloc(n * sizeof(unsigned));
    if (!f.failed)
        f = runs.alloc(n * sizeof(unsigned));
    if (!f.failed)
        f = launch_ffma(0, out, runs, n, iters); // warm-up: the module loaded, unmeasured
    if (!f.failed)
        f = cuda_fail("cudaDeviceSynchronize", cudaDeviceSynchronize());
    CounterData ds, dh, ds2;
    if (!f.failed)
        f = make_counter_data(p, g_sass, 1, ds);
    if (!f.failed)
        f = make_counter_data(p, g_hw, 1, dh);
    if (!f.failed)
        f = make_counter_data(p, g_sass, 2, ds2);
    if (f.failed) {
        emit_setup_error("a.setup", f, "buffers and counter data images");
        J j = finding("a.check", false);
        j.s("verdict", counters_unavailable(f) ? "skipped" : "fail");
        j.s("expected", fmt("%llu FFMA per launch", (unsigned long long)expect));
        j.s("measured", "not measured: " + fail_text(f));
        emit(j);
        return false;
    }
    unsigned launches = 1;
    auto work = [&]() {
        ++launches;
        return launch_ffma(0, out, runs, n, iters);
    };
    Opts hook; // the glue's: init + SetConfig + AutoRange + KernelReplay + 1 range per pass
    Reading r1 = measure(p, g_sass, ds, hook, work);
    Reading r2 = measure(p, g_hw, dh, hook, work);
    Reading r3 = measure(p, g_sass, ds, hook, work);

    auto report_sass = [&](const char *id, const Reading &r, const char *what) {
        double v = value_of(r, 0, 0);
        J j = finding(id, !r.fail.failed);
        j.s("what", what);
        j.s("expected", fmt("1 range, ffma %llu", (unsigned long long)expect));
        j.s("measured", r.fail.failed
                            ? fail_text(r.fail)
                            : fmt("%zu range(s), ffma %s", r.ranges, json_num(v).c_str()));
        reading_json(j, g_sass, r);
        j.u("expected_ffma", expect).u("expected_ffma_if_pred_off_counted", expect_off);
        j.b("exact", r.ranges == 1 && equals(v, expect));
        emit(j);
    };
    report_sass("a.1_sass", r1, "first measurement, sass group (init + SetConfig + Start/Stop)");
    {
        double tc = value_of(r2, 0, 0), dur = value_of(r2, 0, 1);
        J j = finding("a.2_hw", !r2.fail.failed);
        j.s("what",
            "second measurement, hardware group, after a sass measurement on the same object");
        j.s("expected", "1 range, fp64 tensor 0, duration > 0");
        j.s("measured", r2.fail.failed ? fail_text(r2.fail)
                                       : fmt("%zu range(s), fp64 tensor %s, %s ns", r2.ranges,
                                             json_num(tc).c_str(), json_num(dur).c_str()));
        reading_json(j, g_hw, r2);
        j.b("as_expected", r2.ranges == 1 && tc == 0.0 && dur > 0.0);
        emit(j);
    }
    report_sass("a.3_sass", r3, "third measurement, back to the sass group");

    // The verdict first, before the experiments below that may leave the object in a bad state.
    // Kernel replay of a single-pass group must run the kernel once per launch.
    cudaDeviceSynchronize();
    long long bad = first_not_equal(runs, n, launches);

    double v1 = value_of(r1, 0, 0), v3 = value_of(r3, 0, 0);
    bool pass = !r1.fail.failed && !r3.fail.failed && r1.ranges == 1 && r3.ranges == 1 &&
                equals(v1, expect) && equals(v3, expect);
    const Fail &why = r1.fail.failed ? r1.fail : r3.fail;
    {
        J j = finding("a.check", true);
        j.s("verdict", pass ? "pass" : (counters_unavailable(why) ? "skipped" : "fail"));
        j.s("expected", fmt("%llu FFMA per launch, 1 range", (unsigned long long)expect));
        j.s("measured", why.failed ? fail_text(why)
                                   : fmt("%s, %s (ranges %zu, %zu)", json_num(v1).c_str(),
                                         json_num(v3).c_str(), r1.ranges, r3.ranges));
        j.raw("measured_ffma", json_nums({v1, v3}));
        j.u("expected_ffma", expect).u("expected_ffma_if_pred_off_counted", expect_off);
        j.b("pred_off_counted", equals(v1, expect_off) && expect_off != expect);
        j.b("hw_group_between_ok", !r2.fail.failed && r2.ranges == 1);
        j.b("kernel_ran_once_per_launch", bad == 0).n("launches", launches);
        emit(j);
    }

    // Is re-initialising the counter data image needed? Measured again into a.3's image
    // without initialising it (1 range: does the second range drop?), and into a 2-range image
    // measured once before (does it hold 2 ranges, and the second the same value?).
    g_current = "a.4_image_reuse";
    Opts no_init = hook;
    no_init.init_image = false;
    Reading r4 = measure(p, g_sass, ds, no_init, work);
    Reading r5a = measure(p, g_sass, ds2, hook, work);
    Reading r5b = measure(p, g_sass, ds2, no_init, work);
    {
        J j = finding("a.4_image_reuse", !r4.fail.failed && !r5a.fail.failed && !r5b.fail.failed);
        j.s("what",
            "SetConfig + Start/Stop/Decode into a counter data image not initialised again");
        j.s("expected", "re-initialising needed? (ranges accumulate or drop)");
        std::string m;
        if (r4.fail.failed || r5b.fail.failed)
            m = fail_text(r4.fail.failed ? r4.fail : r5b.fail);
        else
            m = fmt("1-range image: %zu range(s), %zu dropped; 2-range image: %zu range(s), "
                    "%zu dropped",
                    r4.ranges, r4.dropped, r5b.ranges, r5b.dropped);
        j.s("measured", m);
        J a, b1, b2;
        reading_json(a, g_sass, r4);
        reading_json(b1, g_sass, r5a);
        reading_json(b2, g_sass, r5b);
        j.o("one_range_image_not_reinitialised", a);
        j.o("two_range_image_first", b1).o("two_range_image_not_reinitialised", b2);
        j.u("expected_ffma", expect);
        emit(j);
    }
    // Is SetConfig needed before every Start? A fresh SetConfig on the 1-range image, then twice
    // the image initialised again and no SetConfig (the same group measured again).
    g_current = "a.5_no_setconfig";
    Opts no_config = hook;
    no_config.set_config = false;
    Reading r6a = measure(p, g_sass, ds, hook, work);
    Reading r6b = measure(p, g_sass, ds, no_config, work);
    Reading r6c = measure(p, g_sass, ds, no_config, work);
    {
        double v1 = value_of(r6b, 0, 0), v2 = value_of(r6c, 0, 0);
        bool works = !r6b.fail.failed && !r6c.fail.failed && r6b.ranges == 1 && r6c.ranges == 1 &&
                     equals(v1, expect) && equals(v2, expect);
        J j = finding("a.5_no_setconfig", !r6a.fail.failed && !r6b.fail.failed && !r6c.fail.failed);
        j.s("what", "image initialised again but no SetConfig before Start (same group twice)");
        j.s("expected", "works? then a repeated group needs no SetConfig");
        j.s("measured",
            r6b.fail.failed || r6c.fail.failed
                ? fail_text(r6b.fail.failed ? r6b.fail : r6c.fail)
                : fmt("%s: ranges %zu, %zu; ffma %s, %s", works ? "works" : "differs", r6b.ranges,
                      r6c.ranges, json_num(v1).c_str(), json_num(v2).c_str()));
        j.b("works", works);
        J a, b, c;
        reading_json(a, g_sass, r6a);
        reading_json(b, g_sass, r6b);
        reading_json(c, g_sass, r6c);
        j.o("with_setconfig", a).o("without_1", b).o("without_2", c);
        emit(j);
    }
    bool any_fail = r1.fail.failed || r2.fail.failed || r3.fail.failed || r4.fail.failed ||
                    r5a.fail.failed || r5b.fail.failed || r6a.fail.failed || r6b.fail.failed ||
                    r6c.fail.failed;
    return !any_fail;
}

// ---- b: cost ----------------------------------------------------------------------------------

struct Stats {
    std::vector<double> v;
    double mean() const
    {
        double s = 0;
        for (double x : v)
            s += x;
        return v.empty() ? NAN : s / (double)v.size();
    }
    double pct(double q) const
    {
        if (v.empty())
            return NAN;
        std::vector<double> w = v;
        std::sort(w.begin(), w.end());
        return w[(size_t)std::min<double>((double)w.size() - 1, q * (double)(w.size() - 1) + 0.5)];
    }
};

bool cost(Probe &p, const char *id, Config &c, bool set_config, size_t extra_bytes, int count,
          double cap_s)
{
    g_current = id;
    const int n = 32, iters = 1;
    const uint64_t expect = ffma_expected(n, iters);
    DevBuf out, runs, extra;
    Fail f = out.alloc(n * sizeof(unsigned));
    if (!f.failed)
        f = runs.alloc(n * sizeof(unsigned));
    if (!f.failed && extra_bytes)
        f = extra.alloc(extra_bytes);
    CounterData d;
    if (!f.failed)
        f = make_counter_data(p, c, 1, d);
    cudaStream_t s = nullptr;
    if (!f.failed)
        f = cuda_fail("cudaStreamCreate", cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    if (!f.failed)
        f = launch_ffma(s, out, runs, n, iters);
    if (!f.failed)
        f = cuda_fail("cudaStreamSynchronize", cudaStreamSynchronize(s));
    if (f.failed) {
        emit_setup_error(id, f, "a cost measurement");
        if (s)
            cudaStreamDestroy(s);
        return false;
    }
    // unmeasured: `count` launches and one synchronisation; and each launch synchronised
    Clock::time_point t0 = Clock::now();
    for (int k = 0; k < count && !f.failed; ++k)
        f = launch_ffma(s, out, runs, n, iters);
    if (!f.failed)
        f = cuda_fail("cudaStreamSynchronize", cudaStreamSynchronize(s));
    double plain_async = us_since(t0) / count;
    t0 = Clock::now();
    for (int k = 0; k < count && !f.failed; ++k) {
        f = launch_ffma(s, out, runs, n, iters);
        if (!f.failed)
            f = cuda_fail("cudaStreamSynchronize", cudaStreamSynchronize(s));
    }
    double plain_sync = us_since(t0) / count;

    Stats total, init, config, start, work, stop, decode, eval;
    Reading first, last;
    int wrong = 0;
    Opts o;
    o.set_config = true; // the first always configures
    t0 = Clock::now();
    for (int k = 0; k < count && !f.failed; ++k) {
        Reading r = measure(p, c, d, o, [&]() { return launch_ffma(s, out, runs, n, iters); });
        o.set_config = set_config;
        if (r.fail.failed) {
            f = r.fail;
            last = r;
            break;
        }
        if (k == 0) {
            first = r;
        } else { // the first is reported apart: it may include the kernel's instrumentation
            total.v.push_back(r.us_total);
            init.v.push_back(r.us_init);
            config.v.push_back(r.us_config);
            start.v.push_back(r.us_start);
            work.v.push_back(r.us_work);
            stop.v.push_back(r.us_stop);
            decode.v.push_back(r.us_decode);
            eval.v.push_back(r.us_eval);
        }
        if (c.metrics[0] == M_FFMA && (r.ranges != 1 || !equals(value_of(r, 0, 0), expect)))
            ++wrong;
        last = r;
        if (us_since(t0) > cap_s * 1e6)
            break;
    }
    cudaStreamSynchronize(s);
    cudaStreamDestroy(s);
    J j = finding(id, !f.failed);
    j.s("config", c.name).b("set_config_each_time", set_config);
    j.u("extra_device_bytes", extra_bytes);
    j.s("expected", "us per measured launch (vs unmeasured)");
    size_t done = total.v.size() + (first.us_total > 0 ? 1 : 0);
    if (f.failed)
        j.s("measured", fail_text(f) + fmt(" after %zu measurements", done))
            .o("error", fail_json(f));
    else
        j.s("measured", fmt("%.1f us measured (first %.0f us), %.2f us unmeasured (%.1f us with a "
                            "sync each); %zu measured",
                            total.mean(), first.us_total, plain_async, plain_sync, done));
    j.n("measured_launches", (double)done).n("asked", count);
    j.n("us_mean", total.mean()).n("us_median", total.pct(0.5)).n("us_p90", total.pct(0.9));
    j.n("us_min", total.pct(0)).n("us_max", total.pct(1)).n("us_first", first.us_total);
    j.n("us_unmeasured_async", plain_async).n("us_unmeasured_sync_each", plain_sync);
    j.n("us_extra_per_measured_launch", total.mean() - plain_async);
    J br;
    br.n("init", init.mean()).n("set_config", config.mean()).n("start", start.mean());
    br.n("launch", work.mean()).n("stop", stop.mean()).n("decode", decode.mean());
    br.n("info_evaluate", eval.mean());
    j.o("us_mean_by_step", br);
    if (c.metrics[0] == M_FFMA)
        j.n("wrong_values", wrong).u("expected_ffma", expect);
    if (last.values.size())
        j.raw("last_values", json_nums(last.values[0]));
    emit(j);
    return !f.failed;
}

// ---- c: CUDA graphs ---------------------------------------------------------------------------

bool finding_c(Probe &p)
{
    g_current = "c";
    const int nodes = 3, iters = 16;
    const int ns[nodes] = {10007, 20011, 30011};
    uint64_t per_node[nodes], sum = 0;
    for (int k = 0; k < nodes; ++k)
        sum += per_node[k] = ffma_expected(ns[k], iters);
    DevBuf out[nodes], runs[nodes];
    Fail f;
    for (int k = 0; k < nodes && !f.failed; ++k) {
        f = out[k].alloc(ns[k] * sizeof(unsigned));
        if (!f.failed)
            f = runs[k].alloc(ns[k] * sizeof(unsigned));
    }
    cudaStream_t s = nullptr;
    cudaGraph_t graph = nullptr;
    cudaGraphExec_t exec = nullptr;
    if (!f.failed)
        f = cuda_fail("cudaStreamCreate", cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    if (!f.failed)
        f = cuda_fail("cudaStreamBeginCapture",
                      cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    if (!f.failed) {
        for (int k = 0; k < nodes; ++k)
            launch_ffma(s, out[k], runs[k], ns[k], iters);
        f = cuda_fail("cudaStreamEndCapture", cudaStreamEndCapture(s, &graph));
    }
    if (!f.failed)
        f = cuda_fail("cudaGraphInstantiate", cudaGraphInstantiate(&exec, graph, 0));
    int graph_launches = 0;
    auto launch = [&]() {
        cudaError_t e = cudaGraphLaunch(exec, s);
        graph_launches += e == cudaSuccess;
        return cuda_fail("cudaGraphLaunch", e);
    };
    if (!f.failed)
        f = launch(); // warm-up
    if (!f.failed)
        f = cuda_fail("cudaStreamSynchronize", cudaStreamSynchronize(s));
    if (f.failed) {
        emit_setup_error("c.setup", f, "a graph of 3 kernels");
        return false;
    }
    bool all_ok = true;
    // what a range's ffma value is: one node, the sum of the three, or something else
    auto label = [&](double v) -> std::string {
        for (int k = 0; k < nodes; ++k)
            if (equals(v, per_node[k]))
                return fmt("node%d", k);
        if (equals(v, sum))
            return "sum";
        return "other";
    };
    struct Variant {
        const char *id, *what;
        CUpti_ProfilerRange range;
        CUpti_ProfilerReplayMode replay;
        size_t ranges_per_pass, image_ranges;
        Config *cfg;
    };
    const Variant vs[] = {
        {"c.1_auto_kernel_1",
         "AutoRange + KernelReplay, 1 range per pass (the glue's), 1-range image", CUPTI_AutoRange,
         CUPTI_KernelReplay, 1, 1, &g_sass},
        {"c.2_auto_kernel_8", "AutoRange + KernelReplay, 8 ranges per pass, 8-range image",
         CUPTI_AutoRange, CUPTI_KernelReplay, 8, 8, &g_sass},
        {"c.3_user_user", "UserRange + UserReplay, a range pushed around cudaGraphLaunch",
         CUPTI_UserRange, CUPTI_UserReplay, 1, 1, &g_sass},
        {"c.4_user_kernel", "UserRange + KernelReplay, a range pushed around cudaGraphLaunch",
         CUPTI_UserRange, CUPTI_KernelReplay, 1, 1, &g_sass},
        {"c.5_user_user_hw", "UserRange + UserReplay, hardware group (duration of the graph)",
         CUPTI_UserRange, CUPTI_UserReplay, 1, 1, &g_hw},
    };
    for (const Variant &v : vs) {
        g_current = v.id;
        CounterData d;
        Fail mf = make_counter_data(p, *v.cfg, v.image_ranges, d);
        Reading r;
        if (mf.failed) {
            r.fail = mf;
        } else {
            Opts o;
            o.range = v.range;
            o.replay = v.replay;
            o.max_ranges_per_pass = v.ranges_per_pass;
            o.user_range = v.range == CUPTI_UserRange ? "graph" : nullptr;
            o.max_passes = v.replay == CUPTI_UserReplay ? 4 : 1;
            r = measure(p, *v.cfg, d, o, launch);
            Fail sync = cuda_fail("cudaStreamSynchronize", cudaStreamSynchronize(s));
            if (!r.fail.failed)
                r.fail = sync;
            if (!r.fail.failed)
                range_names(d, r);
        }
        J j = finding(v.id, !r.fail.failed);
        j.s("what", v.what);
        std::vector<std::string> labels;
        for (size_t k = 0; k < r.values.size(); ++k)
            labels.push_back(v.cfg == &g_sass ? label(r.values[k][0]) : "duration");
        if (v.cfg == &g_sass)
            j.s("expected",
                fmt("3 ranges (one per node) or 1 with the sum %llu", (unsigned long long)sum));
        else
            j.s("expected", "1 range, duration > 0");
        std::string m = r.fail.failed ? fail_text(r.fail)
                                      : fmt("%zu range(s), %zu dropped, %d pass(es):", r.ranges,
                                            r.dropped, r.passes_run);
        for (size_t k = 0; k < labels.size() && !r.fail.failed; ++k)
            m += " " + labels[k] + "=" + json_num(r.values[k][0]);
        j.s("measured", m);
        reading_json(j, *v.cfg, r);
        j.raw("range_is", json_strs(labels));
        J e;
        for (int k = 0; k < nodes; ++k)
            e.u(fmt("node%d", k).c_str(), per_node[k]);
        e.u("sum", sum);
        j.o("expected_ffma", e);
        emit(j);
        if (r.fail.failed) {
            all_ok = false;
            Fail rf = reset_profiler(p);
            if (rf.failed) {
                emit_setup_error("c.reset", rf, "a new range profiler object");
                break;
            }
        }
    }
    // every node ran once per graph launch, replays included
    cudaStreamSynchronize(s);
    J j = finding("c.runs", true);
    j.s("expected", fmt("each node ran %d times", graph_launches));
    std::string m;
    for (int k = 0; k < nodes; ++k) {
        long long bad = first_not_equal(runs[k], ns[k], (unsigned)graph_launches);
        unsigned seen = 0;
        cudaMemcpy(&seen, runs[k].p, sizeof seen, cudaMemcpyDeviceToHost);
        m += fmt("%snode%d %u", k ? ", " : "", k, seen);
        if (bad)
            m += " (uneven)";
    }
    j.s("measured", m).n("graph_launches", graph_launches);
    emit(j);
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
    cudaStreamDestroy(s);
    return all_ok;
}

// ---- d: a second host thread --------------------------------------------------------------

bool finding_d(Probe &p)
{
    g_current = "d";
    const int n1 = 100003, it1 = 20000, n2 = 20011, it2 = 64;
    const uint64_t e1 = ffma_expected(n1, it1), e2 = ffma_expected(n2, it2);
    DevBuf out1, runs1, out2, runs2;
    Fail f = out1.alloc(n1 * sizeof(unsigned));
    if (!f.failed)
        f = runs1.alloc(n1 * sizeof(unsigned));
    if (!f.failed)
        f = out2.alloc(n2 * sizeof(unsigned));
    if (!f.failed)
        f = runs2.alloc(n2 * sizeof(unsigned));
    cudaStream_t s1 = nullptr, s2 = nullptr;
    if (!f.failed)
        f = cuda_fail("cudaStreamCreate", cudaStreamCreateWithFlags(&s1, cudaStreamNonBlocking));
    if (!f.failed)
        f = cuda_fail("cudaStreamCreate", cudaStreamCreateWithFlags(&s2, cudaStreamNonBlocking));
    if (!f.failed)
        f = launch_ffma(s1, out1, runs1, n1, it1);
    if (!f.failed)
        f = launch_ffma(s2, out2, runs2, n2, it2);
    if (!f.failed)
        f = cuda_fail("cudaDeviceSynchronize", cudaDeviceSynchronize());
    if (f.failed) {
        emit_setup_error("d.setup", f, "two streams and their buffers");
        return false;
    }
    auto label = [&](double v) -> std::string {
        if (equals(v, e1))
            return "main";
        if (equals(v, e2))
            return "second_thread";
        if (equals(v, e1 + e2))
            return "both";
        return "other";
    };
    struct Variant {
        const char *id, *what;
        bool second_first; // the second thread is let go before the main launch
        size_t ranges;
    };
    const Variant vs[] = {
        {"d.1_after",
         "second thread launches after the measured launch returned, before Stop; "
         "1 range per pass, 1-range image (the glue's)",
         false, 1},
        {"d.2_after_4", "the same with 4 ranges per pass and a 4-range image", false, 4},
        {"d.3_race",
         "second thread let go right after Start, racing the measured launch; "
         "1 range per pass",
         true, 1},
    };
    bool all_ok = true;
    for (const Variant &v : vs) {
        g_current = v.id;
        CounterData d;
        Fail mf = make_counter_data(p, g_sass, v.ranges, d);
        // shared with the other thread, which may outlive this iteration if it gets stuck
        struct Shared {
            std::atomic<int> go{0}, launched{0}, finished{0};
            std::atomic<long long> t_launch_us{-1}, t_return_us{-1};
            Clock::time_point origin = Clock::now();
        };
        auto sh = std::make_shared<Shared>();
        std::atomic<int> &go = sh->go, &launched = sh->launched, &finished = sh->finished;
        Clock::time_point &origin = sh->origin;
        unsigned *o2 = out2.u(), *r2 = runs2.u();
        std::thread other([sh, s2, o2, r2]() {
            while (!sh->go.load())
                std::this_thread::yield();
            sh->t_launch_us = (long long)us_since(sh->origin);
            rp_ffma<<<blocks_for(n2), BLOCK, 0, s2>>>(o2, r2, n2, 0.999f, 0.25f, it2);
            sh->t_return_us = (long long)us_since(sh->origin);
            sh->launched = 1;
            cudaStreamSynchronize(s2);
            sh->finished = 1;
        });
        long long t_main_launch = -1, t_main_return = -1, t_stop = -1;
        bool waited_out = false;
        Reading r;
        if (mf.failed) {
            r.fail = mf;
            go = 1;
        } else {
            Opts o;
            o.max_ranges_per_pass = v.ranges;
            r = measure(p, g_sass, d, o, [&]() {
                origin = Clock::now();
                if (v.second_first)
                    go = 1;
                t_main_launch = (long long)us_since(origin);
                Fail lf = launch_ffma(s1, out1, runs1, n1, it1);
                t_main_return = (long long)us_since(origin);
                go = 1;
                Clock::time_point w = Clock::now();
                while (!launched.load() && us_since(w) < 2e6)
                    std::this_thread::sleep_for(std::chrono::microseconds(50));
                waited_out = !launched.load();
                t_stop = (long long)us_since(origin);
                return lf;
            });
            go = 1; // a measurement that failed before its work must not leave the thread waiting
        }
        Clock::time_point w = Clock::now();
        while (!finished.load() && us_since(w) < 10e6)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        bool stuck = !finished.load();
        if (stuck) {
            other.detach();             // reported; the process ends without waiting for it
            out2.p = runs2.p = nullptr; // and its kernel's buffers are never freed
        } else {
            other.join();
        }
        cudaDeviceSynchronize();
        J j = finding(v.id, !r.fail.failed && !stuck);
        j.s("what", v.what);
        j.s("expected", "1 range (main only), or 2 / dropped when the other launch is profiled");
        std::vector<std::string> labels;
        for (auto &vals : r.values)
            labels.push_back(label(vals[0]));
        std::string m = r.fail.failed ? fail_text(r.fail)
                                      : fmt("%zu range(s), %zu dropped:", r.ranges, r.dropped);
        for (size_t k = 0; k < labels.size() && !r.fail.failed; ++k)
            m += " " + labels[k];
        if (waited_out)
            m += "; the other launch had not returned 2 s later (blocked until Stop?)";
        if (stuck)
            m += "; the other thread never finished";
        j.s("measured", m);
        reading_json(j, g_sass, r);
        j.raw("range_is", json_strs(labels));
        j.u("expected_main", e1).u("expected_second_thread", e2);
        J t;
        t.n("main_launch", (double)t_main_launch).n("main_return", (double)t_main_return);
        t.n("other_launch", (double)sh->t_launch_us.load())
            .n("other_return", (double)sh->t_return_us.load());
        t.n("before_stop", (double)t_stop);
        j.o("us_from_start", t);
        j.b("other_returned_before_stop", !waited_out).b("other_thread_stuck", stuck);
        emit(j);
        if (stuck) {
            all_ok = false;
            break; // the context is not in a state to go on with
        }
        if (r.fail.failed) {
            all_ok = false;
            Fail rf = reset_profiler(p);
            if (rf.failed) {
                emit_setup_error("d.reset", rf, "a new range profiler object");
                break;
            }
        }
    }
    return all_ok;
}

// ---- e: a multi-pass group under kernel replay ------------------------------------------------

bool finding_e(Probe &p)
{
    g_current = "e";
    const int n = 32768, iters = 256, mmas = 64;
    const uint64_t per_op = (uint64_t)n * iters;
    const uint64_t mma_count = (uint64_t)(n / 32) * mmas;
    DevBuf out, runs, ref_out, ref_runs;
    Fail f = out.alloc(n * sizeof(unsigned));
    if (!f.failed)
        f = runs.alloc(n * sizeof(unsigned));
    if (!f.failed)
        f = ref_out.alloc(n * sizeof(unsigned));
    if (!f.failed)
        f = ref_runs.alloc(n * sizeof(unsigned));
    if (!f.failed)
        f = cuda_fail("cudaMemset", cudaMemset(out.p, 0x5a, out.bytes));
    if (!f.failed)
        f = cuda_fail("cudaMemset", cudaMemset(ref_out.p, 0x5a, ref_out.bytes));
    auto launch = [&](const DevBuf &o, const DevBuf &r) {
        rp_mix<<<n / BLOCK, BLOCK>>>(o.u(), r.u(), 1.0001f, 0.5f, iters, mmas);
        return cuda_fail("cudaLaunchKernel rp_mix", cudaGetLastError());
    };
    if (!f.failed)
        f = launch(ref_out, ref_runs); // the reference: unmeasured
    if (!f.failed)
        f = cuda_fail("cudaDeviceSynchronize", cudaDeviceSynchronize());
    CounterData d;
    if (!f.failed)
        f = make_counter_data(p, g_multi, 1, d);
    if (f.failed) {
        emit_setup_error("e.setup", f, "buffers and a counter data image");
        return false;
    }
    Opts o; // the glue's, with a group that needs several passes
    Reading r = measure(p, g_multi, d, o, [&]() { return launch(out, runs); });
    Fail sync = cuda_fail("cudaDeviceSynchronize", cudaDeviceSynchronize());
    if (!r.fail.failed)
        r.fail = sync;
    std::vector<unsigned> a(n), b(n);
    bool same =
        cudaMemcpy(a.data(), out.p, out.bytes, cudaMemcpyDeviceToHost) == cudaSuccess &&
        cudaMemcpy(b.data(), ref_out.p, ref_out.bytes, cudaMemcpyDeviceToHost) == cudaSuccess &&
        a == b;
    long long bad_runs = first_not_equal(runs, n, 1u);
    // metrics: fadd, fmul, ffma, hmma fp16, hmma bf16, duration
    double fadd = value_of(r, 0, 0), fmul = value_of(r, 0, 1), ffma = value_of(r, 0, 2);
    double h16 = value_of(r, 0, 3), hbf = value_of(r, 0, 4), dur = value_of(r, 0, 5);
    bool sass_exact = equals(fadd, per_op) && equals(fmul, per_op) && equals(ffma, per_op);
    auto tensor_reading = [&](double v) -> std::string {
        if (equals(v, mma_count * 4096u))
            return "2*M*N*K (op=flop)";
        if (equals(v, mma_count * 2048u))
            return "M*N*K (op=mac)";
        return "other";
    };
    J j = finding("e.multipass", !r.fail.failed);
    j.s("expected", fmt("%zu passes, all submitted after 1 launch, values exact, output as "
                        "unmeasured",
                        g_multi.passes));
    j.s("measured", r.fail.failed
                        ? fail_text(r.fail)
                        : fmt("%zu passes (host), all submitted %s, %zu range(s), sass %s, "
                              "output %s, runs %s",
                              g_multi.passes, r.all_submitted ? "yes" : "no", r.ranges,
                              sass_exact ? "exact" : "differ", same ? "unchanged" : "CHANGED",
                              bad_runs == 0 ? "1 each" : "not 1"));
    j.u("passes_host", g_multi.passes);
    reading_json(j, g_multi, r);
    J e;
    e.u("fadd", per_op).u("fmul", per_op).u("ffma", per_op);
    e.u("hmma_if_op_flop", mma_count * 4096u).u("hmma_if_op_mac", mma_count * 2048u);
    j.o("expected_values", e);
    j.b("sass_exact", sass_exact);
    j.s("hmma_fp16_reading", tensor_reading(h16)).s("hmma_bf16_reading", tensor_reading(hbf));
    j.b("duration_positive", dur > 0);
    j.b("output_unchanged", same).b("ran_once", bad_runs == 0);
    emit(j);
    return !r.fail.failed;
}

// ---- setup --------------------------------------------------------------------------------

typedef CUresult (*ctx_get_current_fn)(CUcontext *);

int usage(FILE *to, int rc)
{
    fprintf(to, "usage: range_profiler_probe [--deadline SECONDS] [--only a,b,c,d,e] "
                "[--cost-count N]\n"
                "  prints one PROBE line per finding and a PROBE_END line (tests/gpu/README.md)\n");
    return rc;
}

} // namespace

int main(int argc, char **argv)
{
    int deadline = 50, cost_count = 200;
    std::string only = "abcde";
    for (int k = 1; k < argc; ++k) {
        std::string a = argv[k];
        if ((a == "--deadline" || a == "--only" || a == "--cost-count") && k + 1 < argc) {
            std::string v = argv[++k];
            if (a == "--only") {
                only = v;
            } else {
                char *end = nullptr;
                long x = strtol(v.c_str(), &end, 10);
                if (!end || *end || x < 1 || x > 100000)
                    return usage(stderr, 2);
                (a == "--deadline" ? deadline : cost_count) = (int)x;
            }
        } else if (a == "-h" || a == "--help") {
            return usage(stdout, 0);
        } else {
            return usage(stderr, 2);
        }
    }
    auto wanted = [&](char c) { return only.find(c) != std::string::npos; };
    setvbuf(stdout, nullptr, _IOLBF, 0);

    int count = 0;
    cudaError_t ce = cudaGetDeviceCount(&count);
    if (ce != cudaSuccess || count == 0) {
        fprintf(stderr,
                "range_profiler_probe: no CUDA GPU here (cudaGetDeviceCount: %s); it "
                "needs one\n",
                ce != cudaSuccess ? cudaGetErrorName(ce) : "0 devices");
        return 2;
    }
    for (int sig : {SIGALRM, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT})
        signal(sig, on_signal);
    alarm((unsigned)deadline);
    Clock::time_point t_start = Clock::now();

    Probe p;
    J setup;
    setup.s("finding", "setup");
    Fail f = cuda_fail("cudaSetDevice", cudaSetDevice(p.device));
    if (!f.failed)
        f = cuda_fail("cudaFree(0)", cudaFree(0));
    cudaDeviceProp prop = {};
    int driver = 0, runtime = 0;
    uint32_t cupti_version = 0;
    if (!f.failed) {
        cudaGetDeviceProperties(&prop, p.device);
        cudaDriverGetVersion(&driver);
        cudaRuntimeGetVersion(&runtime);
        cuptiGetVersion(&cupti_version);
        void *fn = nullptr;
        cudaDriverEntryPointQueryResult q = cudaDriverEntryPointSymbolNotFound;
        f = cuda_fail(
            "cudaGetDriverEntryPointByVersion(cuCtxGetCurrent)",
            cudaGetDriverEntryPointByVersion("cuCtxGetCurrent", &fn, 12000, cudaEnableDefault, &q));
        if (!f.failed && (!fn || q != cudaDriverEntryPointSuccess))
            f = cuda_fail("cudaGetDriverEntryPointByVersion(cuCtxGetCurrent)",
                          cudaErrorSymbolNotFound);
        if (!f.failed && (((ctx_get_current_fn)fn)(&p.ctx) != CUDA_SUCCESS || !p.ctx))
            f = cuda_fail("cuCtxGetCurrent", cudaErrorDeviceUninitialized);
    }
    setup.s("device", prop.name).s("cc", fmt("%d.%d", prop.major, prop.minor));
    setup.n("sms", prop.multiProcessorCount).n("driver", driver).n("runtime", runtime);
    setup.n("cupti_api_version", cupti_version);
    if (!f.failed) {
        CUpti_Profiler_Initialize_Params pi = {CUpti_Profiler_Initialize_Params_STRUCT_SIZE};
        f = cupti_fail("cuptiProfilerInitialize", cuptiProfilerInitialize(&pi));
    }
    if (!f.failed) {
        CUpti_Profiler_DeviceSupported_Params ds = {
            CUpti_Profiler_DeviceSupported_Params_STRUCT_SIZE};
        ds.cuDevice = p.device;
        ds.api = CUPTI_PROFILER_RANGE_PROFILING;
        f = cupti_fail("cuptiProfilerDeviceSupported", cuptiProfilerDeviceSupported(&ds));
        if (!f.failed) {
            static const char *lv[] = {"unknown", "unsupported", "disabled", "supported"};
            auto level = [&](CUpti_Profiler_Support_Level l) {
                return (unsigned)l < 4 ? lv[l] : "?";
            };
            J s;
            s.s("overall", level(ds.isSupported)).s("architecture", level(ds.architecture));
            s.s("sli", level(ds.sli)).s("vgpu", level(ds.vGpu));
            s.s("confidential_compute", level(ds.confidentialCompute)).s("cmp", level(ds.cmp));
            s.s("wsl", level(ds.wsl));
            setup.o("device_supported", s);
            if (ds.isSupported != CUPTI_PROFILER_CONFIGURATION_SUPPORTED)
                f = cupti_fail("cuptiProfilerDeviceSupported (not supported)",
                               CUPTI_ERROR_NOT_SUPPORTED);
        }
    }
    if (!f.failed) {
        CUpti_Device_GetChipName_Params cn = {CUpti_Device_GetChipName_Params_STRUCT_SIZE};
        cn.deviceIndex = (size_t)p.device;
        f = cupti_fail("cuptiDeviceGetChipName", cuptiDeviceGetChipName(&cn));
        if (!f.failed)
            p.chip = cn.pChipName ? cn.pChipName : "";
        setup.s("chip", p.chip);
    }
    if (!f.failed) {
        CUpti_Profiler_GetCounterAvailability_Params ca = {
            CUpti_Profiler_GetCounterAvailability_Params_STRUCT_SIZE};
        ca.ctx = p.ctx;
        f = cupti_fail("cuptiProfilerGetCounterAvailability (size)",
                       cuptiProfilerGetCounterAvailability(&ca));
        if (!f.failed) {
            p.availability.assign(ca.counterAvailabilityImageSize, 0);
            ca.pCounterAvailabilityImage = p.availability.data();
            f = cupti_fail("cuptiProfilerGetCounterAvailability",
                           cuptiProfilerGetCounterAvailability(&ca));
        }
        setup.u("counter_availability_bytes", p.availability.size());
    }
    g_sass.name = "sass";
    g_sass.metrics = {M_FFMA};
    g_hw.name = "hw";
    g_hw.metrics = {M_FP64_TC, M_DURATION};
    g_multi.name = "multi";
    g_multi.metrics = {M_FADD, M_FMUL, M_FFMA, M_HMMA_F16, M_HMMA_BF16, M_DURATION};
    std::string configs = "[";
    for (Config *c : {&g_sass, &g_hw, &g_multi}) {
        if (f.failed)
            break;
        c->fail = build_config(p, *c);
        J cj;
        cj.s("name", c->name)
            .raw("metrics",
                 json_strs(std::vector<std::string>(c->metrics.begin(), c->metrics.end())));
        cj.u("passes", c->passes).u("config_image_bytes", c->image.size());
        if (c->fail.failed)
            cj.o("error", fail_json(c->fail));
        configs += (configs.size() > 1 ? ", " : "") + cj.str();
        if (c->fail.failed && c != &g_multi)
            f = c->fail; // the multi-pass group is needed by e alone
    }
    setup.raw("configs", configs + "]");
    if (!f.failed)
        f = enable_profiler(p);
    setup.s("status", f.failed ? "error" : "ok");
    if (f.failed) {
        setup.o("error", fail_json(f)).b("counters_unavailable", counters_unavailable(f));
        setup.s("expected", "range profiler enabled").s("measured", fail_text(f));
        emit(setup);
        // the one row that says whether per-launch measurement works: skipped where the
        // machine does not let us read counters, failed otherwise
        J j = finding("a.check", false);
        j.s("verdict", counters_unavailable(f) ? "skipped" : "fail");
        j.s("expected",
            fmt("%llu FFMA per launch, 1 range", (unsigned long long)ffma_expected(100003, 64)));
        j.s("measured", "not measured: " + fail_text(f));
        emit(j);
        printf("PROBE_END {\"status\": \"setup_failed\", \"findings\": %d, \"seconds\": %s}\n",
               g_findings, json_num(us_since(t_start) / 1e6).c_str());
        fflush(stdout);
        _exit(1);
    }
    setup.s("expected", "range profiler enabled")
        .s("measured", fmt("%s (%s), passes: sass %zu, hw %zu, multi %zu", prop.name,
                           p.chip.c_str(), g_sass.passes, g_hw.passes, g_multi.passes));
    emit(setup);

    // a and e first (what the glue relies on), then the cost, then graphs and threads, whose
    // failures are the likeliest to leave the context in a bad state
    bool ok = true;
    auto after = [&](bool finding_ok) {
        ok = ok && finding_ok;
        if (!finding_ok) {
            Fail rf = reset_profiler(p);
            if (rf.failed)
                emit_setup_error("reset", rf, "a new range profiler object");
        }
    };
    if (wanted('a'))
        after(finding_a(p));
    if (wanted('e')) {
        if (g_multi.fail.failed)
            emit_setup_error("e.multipass", g_multi.fail, "a multi-pass config image");
        else
            after(finding_e(p));
    }
    if (wanted('b')) {
        // each loop stops at its time cap (seconds), whatever it reached: at most 19 s in all
        after(cost(p, "b.1_sass", g_sass, true, 0, cost_count, 5.0));
        after(cost(p, "b.2_hw", g_hw, true, 0, cost_count, 4.0));
        after(cost(p, "b.3_sass_no_setconfig", g_sass, false, 0, std::max(1, cost_count / 2), 2.5));
        after(cost(p, "b.4_hw_no_setconfig", g_hw, false, 0, std::max(1, cost_count / 2), 2.5));
        const size_t two_gib = (size_t)2 << 30;
        after(cost(p, "b.5_hw_2gib", g_hw, true, two_gib, std::max(1, cost_count / 4), 2.5));
        after(cost(p, "b.6_sass_2gib", g_sass, true, two_gib, std::max(1, cost_count / 4), 2.5));
    }
    if (wanted('c'))
        after(finding_c(p));
    if (wanted('d'))
        after(finding_d(p));
    g_current = "end";
    alarm(0);
    printf("PROBE_END {\"status\": \"%s\", \"findings\": %d, \"findings_with_errors\": %d, "
           "\"seconds\": %s}\n",
           ok ? "ok" : "errors", g_findings, g_finding_errors,
           json_num(us_since(t_start) / 1e6).c_str());
    fflush(stdout);
    // no teardown: a stuck thread of finding d, or a profiler in a bad state, must not keep
    // the process from ending; the driver cleans up
    _exit(0);
}
