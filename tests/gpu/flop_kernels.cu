// flop_kernels.cu - calibration programs with exactly known floating-point work, to settle
// what the CUPTI FLOP counters count on a real GPU (tests/gpu/README.md, "Calibration").
//
// Every item is one unit of known work: a CUDA-core loop of one arithmetic instruction, a
// loop of one tensor-core instruction (mma.sync, wgmma), the same CUDA-core kernel in a CUDA
// graph and from 8 host threads, or a cuBLAS GEMM of known shape. Each runs once as a
// warm-up and once measured. Kernels whose launches must be told apart in a profiler's
// per-kernel rows are bracketed by two marker kernels without floating-point work:
//   fk_mark_warmup<<<seq + 1, 32>>>   the item's warm-up launches follow
//   fk_mark_measure<<<seq + 1, 32>>>  the item's measured launches follow
// so a segment is found by the marker's name and grid size, whatever the item's kernels are
// called (cuBLAS picks its own). The same boundaries are NVTX ranges
// "fk:warmup/<item>" and "fk:measure/<item>".
//
// Output on stdout, one line each:
//   FLOPCAL_META <json>   device, runtime, driver, options
//   FLOPCAL <json>        one item: its analytic counts and the metric values expected under
//                         each hypothesis (schema in tests/gpu/README.md), whether it ran,
//                         its wall time without a profiler and a result check where made
//   FLOPCAL_END <json>    items run and failed
// --expect-only prints the items without touching the GPU (the expectations, written down
// before any run). Exit status 0 when every selected item ran, 1 when one failed, 2 on a
// usage error.
//
// The CUDA-core kernels use inline PTX with explicit rounding (add.rn, mul.rn, fma.rn), which
// ptxas neither contracts nor folds, on values it cannot know (kernel arguments), and keep
// every chain live by storing its bits. What ptxas made of each (cuobjdump -sass, nvcc 13.0,
// sm_90a) is written next to each kernel; the expected counts follow that SASS, not the PTX,
// where the two differ.
#include <nvtx3/nvToolsExt.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "flop_kernels.cuh"

// ---- shared helpers -----------------------------------------------------------------------

std::string fk_json_str(const std::string &s)
{
    std::string o = "\"";
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            o += '\\';
            o += (char)c;
        } else if (c < 0x20) {
            char b[8];
            snprintf(b, sizeof b, "\\u%04x", c);
            o += b;
        } else {
            o += (char)c;
        }
    }
    return o + "\"";
}

bool fk_ok(cudaError_t e, const char *what, int line, std::string *error)
{
    if (e == cudaSuccess)
        return true;
    char b[512];
    snprintf(b, sizeof b, "%s failed (flop_kernels line %d): %s", what, line,
             cudaGetErrorString(e));
    fprintf(stderr, "flop_kernels: %s\n", b);
    if (error && error->empty())
        *error = b;
    return false;
}

void fk_expect_sass(FkItem &it, const char *op, uint64_t count)
{
    for (int i = 0; i < FK_N_SASS_OPS; ++i)
        it.expect.push_back({fk_sass_metric(FK_SASS_OPS[i]),
                             strcmp(FK_SASS_OPS[i], op) == 0 ? count : 0});
    it.expect.push_back({FK_TENSOR_TOTAL, 0});
}

void fk_expect_no_cuda_core_flop(FkItem &it)
{
    for (int i = 0; i < FK_N_SASS_OPS; ++i)
        it.expect.push_back({fk_sass_metric(FK_SASS_OPS[i]), 0});
}

// ---- markers ------------------------------------------------------------------------------

// No floating-point work; the grid size (seq + 1 blocks) names the item in a profiler's rows.
__global__ void fk_mark_warmup(int seq, int *sink)
{
    if (blockIdx.x == 0 && threadIdx.x == 0)
        *sink = seq;
}
__global__ void fk_mark_measure(int seq, int *sink)
{
    if (blockIdx.x == 0 && threadIdx.x == 0)
        *sink = -seq;
}

// ---- CUDA-core kernels ------------------------------------------------------------------

// One kernel per instruction: threads i < n run `iters` times a block of 4 steps on each of
// their chains (x = x op b, x = x * a, x = x * a + b), then one more step per chain under the
// guard predicate p = (i % 4 != 3). Threads i >= n (the grid is rounded up to whole blocks)
// return at once. Operands: %0..%3 the chains, %4 a, %5 b, %6 p; a kernel that uses fewer
// chains names fewer in its PTX, the others stay untouched.
#define FK_OP_ADD(I, R) I " %" #R ", %" #R ", %5;\n\t"
#define FK_OP_MUL(I, R) I " %" #R ", %" #R ", %4;\n\t"
#define FK_OP_FMA(I, R) I " %" #R ", %" #R ", %4, %5;\n\t"
#define FK_X4(S) S S S S
#define FK_BODY4(OP, I) FK_X4(OP(I, 0) OP(I, 1) OP(I, 2) OP(I, 3))
#define FK_TAIL4(OP, I) "@p " OP(I, 0) "@p " OP(I, 1) "@p " OP(I, 2) "@p " OP(I, 3)
#define FK_BODY2(OP, I) FK_X4(OP(I, 0) OP(I, 1))
#define FK_TAIL2(OP, I) "@p " OP(I, 0) "@p " OP(I, 1)
#define FK_BODY1(OP, I) FK_X4(OP(I, 0))
#define FK_TAIL1(OP, I) "@p " OP(I, 0)

static __device__ __forceinline__ float fk_init_f32(int i) { return __int2float_rn(i); }
static __device__ __forceinline__ double fk_init_f64(int i) { return __int2double_rn(i); }
static __device__ __forceinline__ unsigned short fk_init_h(int i)
{
    return (unsigned short)(0x3c00u | (i & 0x3ffu));
}
static __device__ __forceinline__ unsigned fk_init_h2(int i)
{
    return 0x3c003c00u | ((unsigned)i & 0x3ffu) | (((unsigned)i & 0x3ffu) << 16);
}
static __device__ __forceinline__ unsigned fk_init_bf2(int i)
{
    return 0x3f803f80u | ((unsigned)i & 0x7fu) | (((unsigned)i & 0x7fu) << 16);
}
static __device__ __forceinline__ unsigned fk_bits(float x) { return __float_as_uint(x); }
static __device__ __forceinline__ unsigned fk_bits(double x)
{
    unsigned long long b = (unsigned long long)__double_as_longlong(x);
    return (unsigned)b ^ (unsigned)(b >> 32);
}
static __device__ __forceinline__ unsigned fk_bits(unsigned short x) { return x; }
static __device__ __forceinline__ unsigned fk_bits(unsigned x) { return x; }

#define FK_CORE_KERNEL(NAME, T, C, INIT, BODY, TAIL)                                        \
    __global__ void NAME(unsigned *out, int n, T a, T b, int iters)                         \
    {                                                                                       \
        int i = blockIdx.x * blockDim.x + threadIdx.x;                                      \
        if (i >= n)                                                                         \
            return;                                                                         \
        T x0 = INIT(i), x1 = INIT(i + 1), x2 = INIT(i + 2), x3 = INIT(i + 3);               \
        for (int k = 0; k < iters; ++k)                                                     \
            asm volatile(BODY : "+" C(x0), "+" C(x1), "+" C(x2), "+" C(x3) : C(a), C(b));   \
        int p = (i & 3) != 3;                                                               \
        asm volatile("{\n\t.reg .pred p;\n\tsetp.ne.s32 p, %6, 0;\n\t" TAIL "}"             \
                     : "+" C(x0), "+" C(x1), "+" C(x2), "+" C(x3)                           \
                     : C(a), C(b), "r"(p));                                                 \
        out[i] = fk_bits(x0) ^ fk_bits(x1) ^ fk_bits(x2) ^ fk_bits(x3);                     \
    }

// What ptxas made of them (cuobjdump -sass, nvcc 13.0, sm_90a). With iters a multiple of 16
// only the main unrolled loop runs, so the dynamic counts are exact multiples of the PTX:
// - fp32: FADD/FMUL/FFMA, 16 per PTX iteration; the tail stays 4 instructions under @P0.
//   Static: 84 of the opcode (64 in the 4x-unrolled loop, 16 in the remainder loop, 4 @P0).
// - fp64: DADD/DMUL/DFMA, 16 per PTX iteration; the tail is if-converted: 4 unguarded
//   instructions executed by every thread, the old value kept by FSEL where p is false.
//   Static: 84 (64 + 16 + 4).
// - fp16 scalar, one chain: each add/mul/fma.rn.f16 is one HADD2/HMUL2/HFMA2 on the low
//   half (.H0_H0), 4 per PTX iteration; the tail step is if-converted (SEL). Static: 117
//   (loops unrolled 16x, 8x, 4x, 1x: 64 + 32 + 16 + 4, tail 1).
// - fp16 scalar, two chains (hfma_f16_pair): ptxas PACKS the two chains into one HFMA2,
//   so 8 PTX fma.rn.f16 per iteration are 4 HFMA2; the 2 tail steps are 1 unguarded HFMA2
//   (SEL). Static: 21 (16 + 4 + 1).
// - fp16x2 / bf16x2 packed: HALF of the instructions are issued as HFMA2.MMA (the HFMA2
//   variant on the MMA pipe), whatever the PTX operation: add.rn.f16x2 becomes
//   HFMA2.MMA x, x, 1, 1, b on chains 0 and 2 and HADD2 on chains 1 and 3; mul becomes
//   HFMA2.MMA x, x, a, -RZ and HMUL2; fma becomes HFMA2.MMA and HFMA2; bf16 the .BF16_V2
//   forms of both. The tail (4 steps, 2 + 2) is if-converted (@P0 MOV). Static: 42 + 42.
// Threads i >= n execute no floating-point instruction.
FK_CORE_KERNEL(fk_fadd_f32, float, "f", fk_init_f32, FK_BODY4(FK_OP_ADD, "add.rn.f32"),
               FK_TAIL4(FK_OP_ADD, "add.rn.f32"))
FK_CORE_KERNEL(fk_fmul_f32, float, "f", fk_init_f32, FK_BODY4(FK_OP_MUL, "mul.rn.f32"),
               FK_TAIL4(FK_OP_MUL, "mul.rn.f32"))
FK_CORE_KERNEL(fk_ffma_f32, float, "f", fk_init_f32, FK_BODY4(FK_OP_FMA, "fma.rn.f32"),
               FK_TAIL4(FK_OP_FMA, "fma.rn.f32"))
FK_CORE_KERNEL(fk_dadd_f64, double, "d", fk_init_f64, FK_BODY4(FK_OP_ADD, "add.rn.f64"),
               FK_TAIL4(FK_OP_ADD, "add.rn.f64"))
FK_CORE_KERNEL(fk_dmul_f64, double, "d", fk_init_f64, FK_BODY4(FK_OP_MUL, "mul.rn.f64"),
               FK_TAIL4(FK_OP_MUL, "mul.rn.f64"))
FK_CORE_KERNEL(fk_dfma_f64, double, "d", fk_init_f64, FK_BODY4(FK_OP_FMA, "fma.rn.f64"),
               FK_TAIL4(FK_OP_FMA, "fma.rn.f64"))
FK_CORE_KERNEL(fk_hadd_f16, unsigned short, "h", fk_init_h, FK_BODY1(FK_OP_ADD, "add.rn.f16"),
               FK_TAIL1(FK_OP_ADD, "add.rn.f16"))
FK_CORE_KERNEL(fk_hmul_f16, unsigned short, "h", fk_init_h, FK_BODY1(FK_OP_MUL, "mul.rn.f16"),
               FK_TAIL1(FK_OP_MUL, "mul.rn.f16"))
FK_CORE_KERNEL(fk_hfma_f16, unsigned short, "h", fk_init_h, FK_BODY1(FK_OP_FMA, "fma.rn.f16"),
               FK_TAIL1(FK_OP_FMA, "fma.rn.f16"))
FK_CORE_KERNEL(fk_hfma_f16_pair, unsigned short, "h", fk_init_h,
               FK_BODY2(FK_OP_FMA, "fma.rn.f16"), FK_TAIL2(FK_OP_FMA, "fma.rn.f16"))
FK_CORE_KERNEL(fk_hadd2_f16x2, unsigned, "r", fk_init_h2, FK_BODY4(FK_OP_ADD, "add.rn.f16x2"),
               FK_TAIL4(FK_OP_ADD, "add.rn.f16x2"))
FK_CORE_KERNEL(fk_hmul2_f16x2, unsigned, "r", fk_init_h2, FK_BODY4(FK_OP_MUL, "mul.rn.f16x2"),
               FK_TAIL4(FK_OP_MUL, "mul.rn.f16x2"))
FK_CORE_KERNEL(fk_hfma2_f16x2, unsigned, "r", fk_init_h2, FK_BODY4(FK_OP_FMA, "fma.rn.f16x2"),
               FK_TAIL4(FK_OP_FMA, "fma.rn.f16x2"))
FK_CORE_KERNEL(fk_hfma2_bf16x2, unsigned, "r", fk_init_bf2,
               FK_BODY4(FK_OP_FMA, "fma.rn.bf16x2"), FK_TAIL4(FK_OP_FMA, "fma.rn.bf16x2"))

// How ptxas compiled a kernel (above), which the expectations follow.
struct FkCoreSpec {
    const char *name;        // item name
    const char *kernel;      // function name
    const char *op;          // the sass metric of its plain opcode
    const char *opcode;      // that opcode
    int chains;              // chains in the PTX
    int flop_per_ptx;        // FLOP one PTX instruction asks for
    int ptx_per_sass;        // PTX instructions packed into one SASS instruction (1 or 2)
    bool mma_half;           // half of the SASS instructions are HFMA2.MMA
    bool tail_guarded;       // the tail runs under @P0; else if-converted (every thread)
    const char *sass_static; // JSON: the function's static floating-point opcode counts
};

// ---- registration of the CUDA-core items --------------------------------------------------

// Sizes: not multiples of the block, so the last block has threads that return at once.
static const int FK_CORE_N = 100003;
static const int FK_CORE_BLOCK = 128;
static const int FK_CORE_ITERS = 64; // a multiple of 16: only the main unrolled loops run

static uint64_t fk_count_on(int n) // threads i < n whose tail predicate (i % 4 != 3) is true
{
    uint64_t on = 0;
    for (int i = 0; i < n; ++i)
        on += (i & 3) != 3;
    return on;
}

static unsigned *g_core_out = nullptr; // one word per thread

static bool fk_core_buffers(std::string *err)
{
    if (!g_core_out)
        FK_TRY(cudaMalloc(&g_core_out, sizeof(unsigned) * (FK_CORE_N + 64)), err);
    return true;
}

template <class T>
static void fk_launch_core(void (*k)(unsigned *, int, T, T, int), T a, T b, int n, int iters,
                           cudaStream_t s)
{
    int grid = (n + FK_CORE_BLOCK - 1) / FK_CORE_BLOCK;
    k<<<grid, FK_CORE_BLOCK, 0, s>>>(g_core_out, n, a, b, iters);
}

static void fk_drop_expect(FkItem &it, const std::string &metric)
{
    for (size_t i = 0; i < it.expect.size(); ++i)
        if (it.expect[i].metric == metric) {
            it.expect.erase(it.expect.begin() + i);
            return;
        }
}

// Adds hypothesis NAME: `plain` counts of the plain opcode's metric and `mma` of HFMA2.MMA.
static void fk_half_hyp(FkItem &it, const FkCoreSpec &sp, const char *name, const char *means,
                        uint64_t plain, uint64_t mma)
{
    const std::string m_plain = fk_sass_metric(sp.op), m_fma = fk_sass_metric("hfma");
    FkHypothesis h{name, means, {}};
    if (m_plain == m_fma) {
        h.values.push_back({m_fma, plain + mma});
    } else {
        h.values.push_back({m_plain, plain});
        h.values.push_back({m_fma, mma});
    }
    it.hyp.push_back(h);
}

// The item for one CUDA-core kernel: the expected count of its SASS instructions (thread
// level, predicate on), exact where the reading is settled, as hypotheses where it is OPEN.
static FkItem fk_core_item(const FkCoreSpec &sp, std::function<void(int, int, cudaStream_t)> run,
                           cudaStream_t s)
{
    const int n = FK_CORE_N, iters = FK_CORE_ITERS;
    const int U = 4 * sp.chains, V = sp.chains;
    const uint64_t on = fk_count_on(n);
    const uint64_t grid = (n + FK_CORE_BLOCK - 1) / FK_CORE_BLOCK;
    // PTX instructions executed with their predicate true: the FLOP the program asks for
    const uint64_t ptx_on = (uint64_t)n * iters * U + on * V;
    // SASS instructions executed with a true guard (an if-converted tail: every thread)
    const uint64_t tail_threads = sp.tail_guarded ? on : (uint64_t)n;
    const uint64_t sass = ((uint64_t)n * iters * U + tail_threads * V) / sp.ptx_per_sass;
    const uint64_t sass_all_tails = ((uint64_t)n * iters * U + (uint64_t)n * V) / sp.ptx_per_sass;
    const uint64_t mma = sp.mma_half ? sass / 2 : 0, plain = sass - mma;
    const bool half = sp.op[0] == 'h';

    FkItem it;
    it.name = sp.name;
    it.group = "cuda_core";
    it.kernel = sp.kernel;
    it.weight_metric = fk_sass_metric(sp.op);
    it.launches = 1;
    it.warmup_launches = 1;
    it.flop = ptx_on * sp.flop_per_ptx;
    it.flop_executed = sass * sp.ptx_per_sass * sp.flop_per_ptx;
    if (sp.mma_half && strcmp(sp.op, "hfma") != 0) // adds/muls issued as HFMA2.MMA
        it.weight_metric += "+" + fk_sass_metric("hfma");
    if (!half) {
        fk_expect_sass(it, sp.op, sass); // fp32/fp64: the reading ncu's roofline uses
        if (sp.tail_guarded) // its own count depends on the pred reading: a hypothesis
            fk_drop_expect(it, it.weight_metric);
    } else {
        for (const char *op : {"fadd", "fmul", "ffma", "dadd", "dmul", "dfma"})
            it.expect.push_back({fk_sass_metric(op), 0});
        it.expect.push_back({FK_TENSOR_TOTAL, 0});
    }
    if (sp.tail_guarded) {
        it.hyp.push_back({"pred=on_only",
                          "guarded instructions whose predicate is false are not counted",
                          {{it.weight_metric, sass}}});
        it.hyp.push_back({"pred=off_counted",
                          "guarded instructions count whatever their predicate",
                          {{it.weight_metric, sass_all_tails}}});
    }
    if (half && !sp.mma_half) {
        fk_half_hyp(it, sp, "lanes=per_instruction", "one count per HxxX2 thread-instruction",
                    plain, 0);
        fk_half_hyp(it, sp, "lanes=per_lane", "two counts per HxxX2 thread-instruction",
                    2 * plain, 0);
    } else if (half) {
        // OPEN twice: HFMA2.MMA counted as hfma or not at all; one count or two per HxxX2
        fk_half_hyp(it, sp, "lanes=per_instruction+mma=as_hfma",
                    "one count per HxxX2 thread-instruction; HFMA2.MMA counts as hfma", plain,
                    mma);
        fk_half_hyp(it, sp, "lanes=per_lane+mma=as_hfma",
                    "two counts per HxxX2 thread-instruction; HFMA2.MMA counts as hfma",
                    2 * plain, 2 * mma);
        fk_half_hyp(it, sp, "lanes=per_instruction+mma=uncounted",
                    "one count per HxxX2 thread-instruction; HFMA2.MMA not counted", plain, 0);
        fk_half_hyp(it, sp, "lanes=per_lane+mma=uncounted",
                    "two counts per HxxX2 thread-instruction; HFMA2.MMA not counted", 2 * plain,
                    0);
        if (strstr(sp.opcode, "BF16")) {
            for (size_t i = it.hyp.size() - 4; i < it.hyp.size(); ++i)
                it.hyp[i].name += "+bf16=counted";
            fk_half_hyp(it, sp, "bf16=uncounted", "bf16 instructions are not in the hfma metric",
                        0, 0);
        }
    }
    FkJson info;
    info.num("threads_launched", grid * FK_CORE_BLOCK)
        .num("threads_active", n)
        .num("threads_tail_predicate_true", on)
        .num("block", FK_CORE_BLOCK)
        .num("grid", grid)
        .num("iters", iters)
        .num("ptx_per_thread_loop", (uint64_t)iters * U)
        .num("ptx_tail_per_thread", V)
        .num("ptx_executed_predicate_true", ptx_on)
        .num("flop_per_ptx", sp.flop_per_ptx)
        .str("sass_opcode", sp.opcode)
        .num("ptx_per_sass", sp.ptx_per_sass)
        .str("tail", sp.tail_guarded ? "guarded (@P0)" : "if-converted: every thread")
        .num("sass_executed", sass)
        .num("sass_executed_plain", plain)
        .num("sass_executed_hfma2_mma", mma)
        .raw("sass_static", sp.sass_static);
    it.info = info.done();
    it.setup = [](FkItem &self) { return fk_core_buffers(&self.error); };
    it.warmup = [run, s](FkItem &) { run(FK_CORE_N, FK_CORE_ITERS, s); };
    it.measure = it.warmup;
    return it;
}

static unsigned short fk_h(float x) // a normal float as fp16 bits (truncated)
{
    unsigned u;
    memcpy(&u, &x, 4);
    unsigned sign = (u >> 16) & 0x8000u, exp = (u >> 23) & 0xff, man = u & 0x7fffffu;
    if (exp == 0)
        return (unsigned short)sign;
    return (unsigned short)(sign | ((exp - 127 + 15) << 10) | (man >> 13));
}
static unsigned fk_h2(float x) { return fk_h(x) * 0x10001u; }
static unsigned fk_bf2(float x)
{
    unsigned u;
    memcpy(&u, &x, 4);
    return (u >> 16) * 0x10001u;
}

void fk_add_core_items(std::vector<FkItem> &items, cudaStream_t s)
{
    const float fa = 0.999f, fb = 0.25f;
    const double da = 0.999, db = 0.25;
    const unsigned short ha = fk_h(0.999f), hb = fk_h(0.25f);
    const unsigned h2a = fk_h2(0.999f), h2b = fk_h2(0.25f);
    const unsigned bfa = fk_bf2(0.999f), bfb = fk_bf2(0.25f);
#define FK_RUN(K, A, B)                                                                     \
    [=](int n, int iters, cudaStream_t st) { fk_launch_core(K, A, B, n, iters, st); }
#define FK_CORE(NAME, OP, OPC, CH, FL, PACK, MMA, GUARD, STATIC, A, B)                       \
    items.push_back(fk_core_item({#NAME, "fk_" #NAME, OP, OPC, CH, FL, PACK, MMA, GUARD,      \
                                  STATIC},                                                  \
                                 FK_RUN(fk_##NAME, A, B), s))
    FK_CORE(fadd_f32, "fadd", "FADD", 4, 1, 1, false, true, "{\"FADD\": 84}", fa, fb);
    FK_CORE(fmul_f32, "fmul", "FMUL", 4, 1, 1, false, true, "{\"FMUL\": 84}", fa, fb);
    FK_CORE(ffma_f32, "ffma", "FFMA", 4, 2, 1, false, true, "{\"FFMA\": 84}", fa, fb);
    FK_CORE(dadd_f64, "dadd", "DADD", 4, 1, 1, false, false, "{\"DADD\": 84}", da, db);
    FK_CORE(dmul_f64, "dmul", "DMUL", 4, 1, 1, false, false, "{\"DMUL\": 84}", da, db);
    FK_CORE(dfma_f64, "dfma", "DFMA", 4, 2, 1, false, false, "{\"DFMA\": 84}", da, db);
    FK_CORE(hadd_f16, "hadd", "HADD2", 1, 1, 1, false, false, "{\"HADD2\": 117}", ha, hb);
    FK_CORE(hmul_f16, "hmul", "HMUL2", 1, 1, 1, false, false, "{\"HMUL2\": 117}", ha, hb);
    FK_CORE(hfma_f16, "hfma", "HFMA2", 1, 2, 1, false, false, "{\"HFMA2\": 117}", ha, hb);
    FK_CORE(hfma_f16_pair, "hfma", "HFMA2", 2, 2, 2, false, false, "{\"HFMA2\": 21}", ha, hb);
    FK_CORE(hadd2_f16x2, "hadd", "HADD2", 4, 2, 1, true, false,
            "{\"HADD2\": 42, \"HFMA2.MMA\": 42}", h2a, h2b);
    FK_CORE(hmul2_f16x2, "hmul", "HMUL2", 4, 2, 1, true, false,
            "{\"HMUL2\": 42, \"HFMA2.MMA\": 42}", h2a, h2b);
    FK_CORE(hfma2_f16x2, "hfma", "HFMA2", 4, 4, 1, true, false,
            "{\"HFMA2\": 42, \"HFMA2.MMA\": 42}", h2a, h2b);
    FK_CORE(hfma2_bf16x2, "hfma", "HFMA2.BF16_V2", 4, 4, 1, true, false,
            "{\"HFMA2.BF16_V2\": 42, \"HFMA2.MMA.BF16_V2\": 42}", bfa, bfb);
#undef FK_CORE
#undef FK_RUN
}

// ---- the same kernel by other launch paths ------------------------------------------------

// fk_ffma_f32 at a smaller size, in a CUDA graph and from 8 host threads: the totals must
// be the launches times one launch's count (the hook will have to count graph nodes and
// concurrent launches; here ncu profiles each kernel on its own).
static const int FK_PATH_N = 20011;
static const int FK_PATH_ITERS = 16;
static const int FK_GRAPH_NODES = 3;
static const int FK_GRAPH_LAUNCHES = 2; // measured; the warm-up launches the graph once
static const int FK_THREADS = 8;
static const int FK_THREAD_LAUNCHES = 2; // measured, per thread; the warm-up launches one

static uint64_t fk_ffma_per_launch(int n, int iters) // FFMA thread-instructions, pred on
{
    return (uint64_t)n * iters * 16 + fk_count_on(n) * 4;
}

static FkItem fk_path_item(const char *name, const char *group, long long launches,
                           long long warmup_launches, const std::string &how)
{
    const uint64_t one = fk_ffma_per_launch(FK_PATH_N, FK_PATH_ITERS);
    const uint64_t one_all = (uint64_t)FK_PATH_N * FK_PATH_ITERS * 16 + (uint64_t)FK_PATH_N * 4;
    FkItem it;
    it.name = name;
    it.group = group;
    it.kernel = "fk_ffma_f32";
    it.weight_metric = fk_sass_metric("ffma");
    it.launches = launches;
    it.warmup_launches = warmup_launches;
    it.flop = 2 * one * launches;
    fk_expect_sass(it, "ffma", one * launches);
    fk_drop_expect(it, it.weight_metric);
    it.hyp.push_back({"pred=on_only", "guarded instructions whose predicate is false are not "
                      "counted", {{it.weight_metric, one * launches}}});
    it.hyp.push_back({"pred=off_counted", "guarded instructions count whatever their predicate",
                      {{it.weight_metric, one_all * launches}}});
    FkJson info;
    info.num("threads_active", FK_PATH_N)
        .num("iters", FK_PATH_ITERS)
        .num("ffma_per_launch", one)
        .inum("kernel_launches", launches)
        .str("how", how);
    it.info = info.done();
    return it;
}

struct FkGraph {
    cudaStream_t cap = nullptr;
    cudaGraph_t graph = nullptr;
    cudaGraphExec_t exec = nullptr;
};
static FkGraph g_graph;
static cudaStream_t g_thread_streams[FK_THREADS];

void fk_add_launch_path_items(std::vector<FkItem> &items, cudaStream_t s)
{
    FkItem g = fk_path_item("graph_ffma_f32", "graph", FK_GRAPH_NODES * FK_GRAPH_LAUNCHES,
                            FK_GRAPH_NODES,
                            "a graph of 3 kernel nodes (stream capture) launched twice");
    g.warmup_launches = FK_GRAPH_NODES;
    g.setup = [](FkItem &self) {
        std::string *e = &self.error;
        FK_TRY(fk_core_buffers(e) ? cudaSuccess : cudaErrorMemoryAllocation, e);
        FK_TRY(cudaStreamCreateWithFlags(&g_graph.cap, cudaStreamNonBlocking), e);
        FK_TRY(cudaStreamBeginCapture(g_graph.cap, cudaStreamCaptureModeThreadLocal), e);
        for (int i = 0; i < FK_GRAPH_NODES; ++i)
            fk_launch_core(fk_ffma_f32, 0.999f, 0.25f, FK_PATH_N, FK_PATH_ITERS, g_graph.cap);
        FK_TRY(cudaStreamEndCapture(g_graph.cap, &g_graph.graph), e);
        FK_TRY(cudaGraphInstantiate(&g_graph.exec, g_graph.graph, 0), e);
        return true;
    };
    g.warmup = [s](FkItem &self) {
        fk_ok(cudaGraphLaunch(g_graph.exec, s), "cudaGraphLaunch", __LINE__, &self.error);
    };
    g.measure = [s](FkItem &self) {
        for (int i = 0; i < FK_GRAPH_LAUNCHES; ++i)
            fk_ok(cudaGraphLaunch(g_graph.exec, s), "cudaGraphLaunch", __LINE__, &self.error);
    };
    items.push_back(g);

    FkItem t = fk_path_item("threads_ffma_f32", "threads", FK_THREADS * FK_THREAD_LAUNCHES,
                            FK_THREADS, "8 host threads, each on its own stream, 2 launches each");
    t.setup = [](FkItem &self) {
        FK_TRY(fk_core_buffers(&self.error) ? cudaSuccess : cudaErrorMemoryAllocation,
               &self.error);
        for (cudaStream_t &st : g_thread_streams)
            FK_TRY(cudaStreamCreate(&st), &self.error);
        return true;
    };
    // each thread launches and waits on its own stream; a failure is reported by the
    // device synchronisation after the segment
    auto in_threads = [](int per_thread) {
        std::vector<std::thread> th;
        for (int i = 0; i < FK_THREADS; ++i)
            th.emplace_back([i, per_thread] {
                for (int j = 0; j < per_thread; ++j)
                    fk_launch_core(fk_ffma_f32, 0.999f, 0.25f, FK_PATH_N, FK_PATH_ITERS,
                                   g_thread_streams[i]);
                cudaStreamSynchronize(g_thread_streams[i]);
            });
        for (std::thread &x : th)
            x.join();
    };
    t.warmup = [in_threads](FkItem &) { in_threads(1); };
    t.measure = [in_threads](FkItem &) { in_threads(FK_THREAD_LAUNCHES); };
    items.push_back(t);
}

// ---- main ---------------------------------------------------------------------------------

static std::string fk_counts_json(const std::vector<FkCount> &v)
{
    FkJson j;
    for (const FkCount &c : v)
        j.num(c.metric.c_str(), c.value);
    return j.done();
}

static std::string fk_item_json(const FkItem &it, int seq, bool warmup)
{
    std::string hyps = "[";
    for (size_t i = 0; i < it.hyp.size(); ++i) {
        FkJson h;
        h.str("name", it.hyp[i].name)
            .str("means", it.hyp[i].means)
            .raw("values", fk_counts_json(it.hyp[i].values));
        hyps += (i ? ", " : "") + h.done();
    }
    hyps += "]";
    const bool unsupported = it.error.rfind("unsupported", 0) == 0;
    FkJson j;
    j.inum("seq", seq)
        .str("name", it.name)
        .str("group", it.group)
        .str("kernel", it.kernel)
        .str("family", it.family)
        .boolean("ragged", it.ragged)
        .inum("launches", it.launches)
        .inum("warmup_launches", warmup ? it.warmup_launches : 0)
        .boolean("warmup_run", warmup && it.ran)
        .num("flop", it.flop)
        .num("flop_executed", it.flop_executed ? it.flop_executed : it.flop)
        .str("weight_metric", it.weight_metric)
        .str("tensor_leaf", it.tensor_leaf)
        .raw("expect", fk_counts_json(it.expect))
        .raw("hypotheses", hyps)
        .raw("info", it.info.empty() ? "{}" : it.info)
        .boolean("ran", it.ran)
        .boolean("unsupported", unsupported)
        .str("error", it.error)
        .real("ms", it.ms)
        .raw("check", it.check.empty() ? "null" : it.check);
    return j.done();
}

static void fk_usage(FILE *f)
{
    fprintf(f, "usage: flop_kernels [--expect-only] [--list] [--only GROUPS] [--skip GROUPS]\n"
               "                    [--warmup 0|1]\n"
               "  --expect-only  print the items and their expected counts; no GPU needed\n"
               "  --list         print the item names and groups\n"
               "  --only/--skip  comma-separated groups: cuda_core, mma_sync, graph, threads,\n"
               "                 cublas, wgmma\n"
               "  --warmup N     1 (default): one warm-up per item before its measured run;\n"
               "                 0: none\n");
}

static bool fk_in_list(const std::string &list, const std::string &g)
{
    return ("," + list + ",").find("," + g + ",") != std::string::npos;
}

int main(int argc, char **argv)
{
    bool expect_only = false, list = false;
    std::string only, skip;
    int warmup = 1;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        const bool has_value = i + 1 < argc;
        if (a == "--expect-only") {
            expect_only = true;
        } else if (a == "--list") {
            list = true;
        } else if (a == "--only" && has_value) {
            only = argv[++i];
        } else if (a == "--skip" && has_value) {
            skip = argv[++i];
        } else if (a == "--warmup" && has_value) {
            warmup = atoi(argv[++i]) ? 1 : 0;
        } else if (a == "-h" || a == "--help") {
            fk_usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "flop_kernels: unknown or incomplete argument '%s'\n", a.c_str());
            fk_usage(stderr);
            return 2;
        }
    }

    cudaStream_t s = nullptr;
    if (!expect_only && !list && cudaStreamCreate(&s) != cudaSuccess) {
        fprintf(stderr, "flop_kernels: no usable CUDA device: %s\n",
                cudaGetErrorString(cudaGetLastError()));
        return 1;
    }
    // the order is the run order: the cheap, certain items first, wgmma last (should its
    // descriptors be wrong enough to fault, only it is lost)
    std::vector<FkItem> items;
    fk_add_core_items(items, s);
    fk_add_mma_items(items, s);
    fk_add_launch_path_items(items, s);
    fk_add_cublas_items(items, s);
    fk_add_wgmma_items(items, s);

    std::vector<int> sel; // indices of the selected items; an item's seq is its index
    for (size_t i = 0; i < items.size(); ++i)
        if ((only.empty() || fk_in_list(only, items[i].group)) && !fk_in_list(skip, items[i].group))
            sel.push_back((int)i);
    if (list) {
        for (int i : sel)
            printf("%3d  %-10s %s\n", i, items[i].group.c_str(), items[i].name.c_str());
        return 0;
    }

    FkJson meta;
    meta.str("schema", "flopmeter-flop-kernels/1")
        .boolean("expect_only", expect_only)
        .inum("warmup", warmup)
        .str("only", only)
        .str("skip", skip)
        .inum("items", (long long)sel.size())
        .str("marker_warmup", "fk_mark_warmup")
        .str("marker_measure", "fk_mark_measure")
        .str("marker_grid", "seq + 1 blocks of 32 threads");
    if (!expect_only) {
        cudaDeviceProp p{};
        int dev = 0, rt = 0, drv = 0;
        cudaGetDevice(&dev);
        cudaGetDeviceProperties(&p, dev);
        cudaRuntimeGetVersion(&rt);
        cudaDriverGetVersion(&drv);
        char cc[16];
        snprintf(cc, sizeof cc, "%d.%d", p.major, p.minor);
        meta.str("device", p.name).str("cc", cc).inum("sms", p.multiProcessorCount);
        meta.inum("runtime", rt).inum("driver", drv);
        if (p.major != 9)
            fprintf(stderr, "flop_kernels: compute capability %s: the kernels are built for "
                            "sm_90a and will not load\n", cc);
    }
    printf("FLOPCAL_META %s\n", meta.done().c_str());
    fflush(stdout);

    int failed = 0, ran = 0;
    if (expect_only) {
        for (int i : sel)
            printf("FLOPCAL %s\n", fk_item_json(items[i], i, warmup).c_str());
    } else {
        int *sink = nullptr;
        if (cudaMalloc(&sink, sizeof(int)) != cudaSuccess) {
            fprintf(stderr, "flop_kernels: cudaMalloc failed\n");
            return 1;
        }
        // every setup before the first marker: what it launches falls outside all segments
        std::vector<int> runnable;
        for (int i : sel) {
            FkItem &it = items[i];
            if (it.setup && !it.setup(it)) {
                if (it.error.empty())
                    it.error = "setup failed";
                printf("FLOPCAL %s\n", fk_item_json(it, i, warmup).c_str());
                failed += it.error.rfind("unsupported", 0) != 0;
                continue;
            }
            runnable.push_back(i);
        }
        cudaDeviceSynchronize();
        for (int i : runnable) {
            FkItem &it = items[i];
            char range[160];
            if (warmup) {
                snprintf(range, sizeof range, "fk:warmup/%s", it.name.c_str());
                nvtxRangePushA(range);
                fk_mark_warmup<<<i + 1, 32, 0, s>>>(i, sink);
                it.warmup(it);
                fk_ok(cudaDeviceSynchronize(), "warm-up", __LINE__, &it.error);
                nvtxRangePop();
            }
            snprintf(range, sizeof range, "fk:measure/%s", it.name.c_str());
            nvtxRangePushA(range);
            fk_mark_measure<<<i + 1, 32, 0, s>>>(i, sink);
            cudaDeviceSynchronize();
            const auto t0 = std::chrono::steady_clock::now();
            it.measure(it);
            const bool ok = fk_ok(cudaDeviceSynchronize(), "measured run", __LINE__, &it.error);
            const auto t1 = std::chrono::steady_clock::now();
            nvtxRangePop();
            fk_ok(cudaGetLastError(), "launch", __LINE__, &it.error);
            it.ran = ok;
            it.ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
            if (ok && it.verify)
                it.verify(it);
            printf("FLOPCAL %s\n", fk_item_json(it, i, warmup).c_str());
            fflush(stdout);
            ran += it.ran && it.error.empty();
            failed += !(it.ran && it.error.empty());
        }
        fk_release_cublas();
    }
    FkJson end;
    end.inum("items", (long long)sel.size()).inum("ran", ran).inum("failed", failed);
    printf("FLOPCAL_END %s\n", end.done().c_str());
    return failed ? 1 : 0;
}
