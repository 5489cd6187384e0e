// flop_kernels_tc.cu - the tensor-core calibration items of flop_kernels: loops of one
// mma.sync shape per precision, and wgmma (sm_90a) in bf16 and fp8 from shared memory.
//
// The work of a tensor instruction is fixed by its shape: one m16n8k16 is 16*8*16 = 2048
// multiply-adds whatever the data, so the expected counts need no knowledge of the values.
// The hypotheses are what one "math op" of the sm__ops_path_tensor_* counters is: one FLOP
// (a multiply-add is 2: the counter equals 2*M*N*K) or one multiply-add (M*N*K).
#include <cstring>

#include "flop_kernels.cuh"

// ---- mma.sync ------------------------------------------------------------------------

// Each warp w < warps runs `iters` times two independent mma.sync (two accumulator chains),
// with fragments made from the arguments by integer operations only: the first A register
// changes every iteration and the chains use different B, so that no product is loop
// invariant or shared (ptxas would hoist or merge the fp8 emulation's products otherwise).
// Warps past `warps` in the last block return at once (mma.sync is warp-wide: a warp runs it
// whole or not at all).
#define FK_MMA_WARP_GUARD                                                                   \
    const int gtid = blockIdx.x * blockDim.x + threadIdx.x;                                 \
    if ((gtid >> 5) >= warps)                                                               \
        return;                                                                             \
    const unsigned a0 = a, a1 = a ^ 1u, a2 = a ^ 2u, a3 = a ^ 3u, b0 = b, b1 = b ^ 1u

// SASS per mma.sync (nvcc 13.0, sm_90a; static counts in the specs below): m16n8k16
// f16->f32: 1 HMMA.16816.F32; f16->f16: 1 HMMA.16816.F16; bf16: 1 HMMA.16816.F32.BF16; tf32
// m16n8k8: 1 HMMA.1688.F32.TF32; int8 m16n8k32: 1 IMMA.16832.S8.S8; fp64 m8n8k4: 1
// DMMA.8x8x4. The loops are unrolled 16x (fp64: 4x); with iters a multiple of 16 only the
// main loop runs.
// fp8 e4m3 m16n8k32: sm_90 has no fp8 mma.sync in hardware (PTX allows it from sm_89), and
// ptxas emulates it: the operands are widened to fp16 (F2FP.F16.E4M3.UNPACK_B, 2 per
// register; those of fragments that do not change are hoisted out of the loop), TWO
// HMMA.16816.F32 compute the product into a zeroed temporary (the two k16 halves), and 4
// FADD per thread add it to the accumulator. So per mma: fp16 tensor work of the same
// M*N*K, plus 4 FADD thread-instructions per thread (128 per warp: one per output element).
__global__ void fk_mma_f16_f32(unsigned *out, int warps, unsigned a, unsigned b, int iters)
{
    FK_MMA_WARP_GUARD;
    float c[8] = {};
    for (int k = 0; k < iters; ++k)
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, "
                     "{%8,%9,%10,%11}, {%12,%13}, {%0,%1,%2,%3};\n\t"
                     "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%4,%5,%6,%7}, "
                     "{%8,%9,%10,%11}, {%13,%12}, {%4,%5,%6,%7};"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3]), "+f"(c[4]), "+f"(c[5]),
                       "+f"(c[6]), "+f"(c[7])
                     : "r"(a0 + (unsigned)k), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
    unsigned x = 0;
    for (int j = 0; j < 8; ++j)
        x ^= __float_as_uint(c[j]);
    out[gtid] = x;
}

__global__ void fk_mma_f16_f16(unsigned *out, int warps, unsigned a, unsigned b, int iters)
{
    FK_MMA_WARP_GUARD;
    unsigned c[4] = {};
    for (int k = 0; k < iters; ++k)
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f16.f16.f16.f16 {%0,%1}, "
                     "{%4,%5,%6,%7}, {%8,%9}, {%0,%1};\n\t"
                     "mma.sync.aligned.m16n8k16.row.col.f16.f16.f16.f16 {%2,%3}, "
                     "{%4,%5,%6,%7}, {%9,%8}, {%2,%3};"
                     : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
                     : "r"(a0 + (unsigned)k), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
    out[gtid] = c[0] ^ c[1] ^ c[2] ^ c[3];
}

__global__ void fk_mma_bf16_f32(unsigned *out, int warps, unsigned a, unsigned b, int iters)
{
    FK_MMA_WARP_GUARD;
    float c[8] = {};
    for (int k = 0; k < iters; ++k)
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, "
                     "{%8,%9,%10,%11}, {%12,%13}, {%0,%1,%2,%3};\n\t"
                     "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%4,%5,%6,%7}, "
                     "{%8,%9,%10,%11}, {%13,%12}, {%4,%5,%6,%7};"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3]), "+f"(c[4]), "+f"(c[5]),
                       "+f"(c[6]), "+f"(c[7])
                     : "r"(a0 + (unsigned)k), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
    unsigned x = 0;
    for (int j = 0; j < 8; ++j)
        x ^= __float_as_uint(c[j]);
    out[gtid] = x;
}

__global__ void fk_mma_tf32_f32(unsigned *out, int warps, unsigned a, unsigned b, int iters)
{
    FK_MMA_WARP_GUARD;
    float c[8] = {};
    for (int k = 0; k < iters; ++k)
        asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, "
                     "{%8,%9,%10,%11}, {%12,%13}, {%0,%1,%2,%3};\n\t"
                     "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%4,%5,%6,%7}, "
                     "{%8,%9,%10,%11}, {%13,%12}, {%4,%5,%6,%7};"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3]), "+f"(c[4]), "+f"(c[5]),
                       "+f"(c[6]), "+f"(c[7])
                     : "r"(a0 + (unsigned)k), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
    unsigned x = 0;
    for (int j = 0; j < 8; ++j)
        x ^= __float_as_uint(c[j]);
    out[gtid] = x;
}

__global__ void fk_mma_e4m3_f32(unsigned *out, int warps, unsigned a, unsigned b, int iters)
{
    FK_MMA_WARP_GUARD;
    float c[8] = {};
    for (int k = 0; k < iters; ++k)
        asm volatile("mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 {%0,%1,%2,%3}, "
                     "{%8,%9,%10,%11}, {%12,%13}, {%0,%1,%2,%3};\n\t"
                     "mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 {%4,%5,%6,%7}, "
                     "{%8,%9,%10,%11}, {%13,%12}, {%4,%5,%6,%7};"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3]), "+f"(c[4]), "+f"(c[5]),
                       "+f"(c[6]), "+f"(c[7])
                     : "r"(a0 + (unsigned)k), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
    unsigned x = 0;
    for (int j = 0; j < 8; ++j)
        x ^= __float_as_uint(c[j]);
    out[gtid] = x;
}

__global__ void fk_mma_s8_s32(unsigned *out, int warps, unsigned a, unsigned b, int iters)
{
    FK_MMA_WARP_GUARD;
    unsigned c[8] = {};
    for (int k = 0; k < iters; ++k)
        asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, "
                     "{%8,%9,%10,%11}, {%12,%13}, {%0,%1,%2,%3};\n\t"
                     "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%4,%5,%6,%7}, "
                     "{%8,%9,%10,%11}, {%13,%12}, {%4,%5,%6,%7};"
                     : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3]), "+r"(c[4]), "+r"(c[5]),
                       "+r"(c[6]), "+r"(c[7])
                     : "r"(a0 + (unsigned)k), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
    unsigned x = 0;
    for (int j = 0; j < 8; ++j)
        x ^= c[j];
    out[gtid] = x;
}

// fp64: A and B fragments are one double each; the doubles come from the argument bits.
__global__ void fk_mma_f64(unsigned *out, int warps, unsigned a, unsigned b, int iters)
{
    FK_MMA_WARP_GUARD;
    (void)a1, (void)a2, (void)a3, (void)b1;
    const double db = __longlong_as_double(0x3fd0000000000000ll | b0);
    const double db2 = __longlong_as_double(0x3fd0000000000000ll | b0 << 8);
    double c[4] = {};
    for (int k = 0; k < iters; ++k) {
        const double da = __longlong_as_double(0x3fe0000000000000ll | (a0 + (unsigned)k));
        asm volatile("mma.sync.aligned.m8n8k4.row.col.f64.f64.f64.f64 {%0,%1}, {%4}, {%5}, "
                     "{%0,%1};\n\t"
                     "mma.sync.aligned.m8n8k4.row.col.f64.f64.f64.f64 {%2,%3}, {%4}, {%6}, "
                     "{%2,%3};"
                     : "+d"(c[0]), "+d"(c[1]), "+d"(c[2]), "+d"(c[3])
                     : "d"(da), "d"(db), "d"(db2));
    }
    unsigned long long x = 0;
    for (int j = 0; j < 4; ++j)
        x ^= (unsigned long long)__double_as_longlong(c[j]);
    out[gtid] = (unsigned)x ^ (unsigned)(x >> 32);
}

// Sizes: 1003 warps in blocks of 4 (the last block has one warp that returns at once).
static const int FK_MMA_WARPS = 1003;
static const int FK_MMA_BLOCK = 128;
static const int FK_MMA_ITERS = 128; // two mma per iteration: 256 per warp

static unsigned *g_mma_out = nullptr;

struct FkMmaSpec {
    const char *name;
    void (*kernel)(unsigned *, int, unsigned, unsigned, int);
    const char *kernel_name;
    int m, n, k;
    const char *leaf;      // the tensor leaf expected to carry it all
    const char *sass;      // SASS per mma.sync
    int sass_per_mma;      // tensor instructions per mma.sync
    const char *ptx_shape; // the PTX instruction
    unsigned a, b;         // fragment bits
    int fadd_per_thread;   // FADD per thread per mma.sync (the fp8 emulation: 4)
    const char *sass_static;
};

static void fk_tensor_hyps(FkItem &it, uint64_t mnk)
{
    it.hyp.push_back({"op=flop", "one math op = one FLOP: the counter equals 2*M*N*K",
                      {{FK_TENSOR_TOTAL, 2 * mnk}}});
    it.hyp.push_back({"op=mac", "one math op = one multiply-add: the counter equals M*N*K",
                      {{FK_TENSOR_TOTAL, mnk}}});
}

static FkItem fk_mma_item(const FkMmaSpec &sp, cudaStream_t s)
{
    const uint64_t inst = (uint64_t)FK_MMA_WARPS * FK_MMA_ITERS * 2; // warp-level mma.sync
    const uint64_t mnk = inst * sp.m * sp.n * sp.k;
    FkItem it;
    it.name = sp.name;
    it.group = "mma_sync";
    it.kernel = sp.kernel_name;
    it.weight_metric = FK_TENSOR_TOTAL;
    it.tensor_leaf = sp.leaf;
    it.launches = 1;
    it.warmup_launches = 1;
    it.flop = 2 * mnk;
    const uint64_t fadd = inst * 32 * sp.fadd_per_thread;
    for (int i = 0; i < FK_N_SASS_OPS; ++i)
        it.expect.push_back({fk_sass_metric(FK_SASS_OPS[i]), i == 0 ? fadd : 0});
    fk_tensor_hyps(it, mnk);
    const int blocks = (FK_MMA_WARPS * 32 + FK_MMA_BLOCK - 1) / FK_MMA_BLOCK;
    FkJson info;
    info.str("ptx", sp.ptx_shape)
        .num("m", sp.m)
        .num("n", sp.n)
        .num("k", sp.k)
        .num("warps_active", FK_MMA_WARPS)
        .num("warps_launched", (uint64_t)blocks * FK_MMA_BLOCK / 32)
        .num("mma_per_warp", FK_MMA_ITERS * 2)
        .num("mma_executed", inst)
        .num("mnk", mnk)
        .str("sass_per_mma", sp.sass)
        .num("sass_tensor_inst_per_mma", sp.sass_per_mma)
        .num("sass_tensor_inst_executed_per_warp", (uint64_t)FK_MMA_ITERS * 2 * sp.sass_per_mma)
        .num("fadd_per_thread_per_mma", sp.fadd_per_thread)
        .raw("sass_static", sp.sass_static);
    it.info = info.done();
    it.setup = [](FkItem &self) {
        if (!g_mma_out)
            FK_TRY(cudaMalloc(&g_mma_out, sizeof(unsigned) * FK_MMA_WARPS * 32 + 4096),
                   &self.error);
        return true;
    };
    auto k = sp.kernel;
    unsigned a = sp.a, b = sp.b;
    it.warmup = [=](FkItem &) {
        k<<<blocks, FK_MMA_BLOCK, 0, s>>>(g_mma_out, FK_MMA_WARPS, a, b, FK_MMA_ITERS);
    };
    it.measure = it.warmup;
    return it;
}

void fk_add_mma_items(std::vector<FkItem> &items, cudaStream_t s)
{
    const unsigned h1 = 0x3c003c00u, bf1 = 0x3f803f80u, tf1 = 0x3f800000u, e1 = 0x38383838u,
                   i1 = 0x01010101u;
    const FkMmaSpec specs[] = {
        {"mma_f16_f32", fk_mma_f16_f32, "fk_mma_f16_f32", 16, 8, 16, FK_LEAF_HMMA_F16_F32,
         "HMMA.16816.F32", 1, "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32", h1, h1, 0,
         "{\"HMMA.16816.F32\": 58}"},
        {"mma_f16_f16", fk_mma_f16_f16, "fk_mma_f16_f16", 16, 8, 16, FK_LEAF_HMMA_F16_F16,
         "HMMA.16816.F16", 1, "mma.sync.aligned.m16n8k16.row.col.f16.f16.f16.f16", h1, h1, 0,
         "{\"HMMA.16816.F16\": 58}"},
        {"mma_bf16_f32", fk_mma_bf16_f32, "fk_mma_bf16_f32", 16, 8, 16, FK_LEAF_HMMA_BF16,
         "HMMA.16816.F32.BF16", 1, "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32", bf1,
         bf1, 0, "{\"HMMA.16816.F32.BF16\": 58}"},
        {"mma_tf32_f32", fk_mma_tf32_f32, "fk_mma_tf32_f32", 16, 8, 8, FK_LEAF_HMMA_TF32,
         "HMMA.1688.F32.TF32", 1, "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32", tf1,
         tf1, 0, "{\"HMMA.1688.F32.TF32\": 58}"},
        // no fp8 mma.sync in sm_90 hardware: expected in the fp16 leaf (see the SASS above)
        {"mma_e4m3_f32", fk_mma_e4m3_f32, "fk_mma_e4m3_f32", 16, 8, 32, FK_LEAF_HMMA_F16_F32,
         "2 x HMMA.16816.F32 after F2FP.F16.E4M3.UNPACK_B", 2,
         "mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32", e1, e1, 4,
         "{\"HMMA.16816.F32\": 20, \"FADD\": 40, \"F2FP.F16.E4M3.UNPACK_B\": 30}"},
        {"mma_s8_s32", fk_mma_s8_s32, "fk_mma_s8_s32", 16, 8, 32, FK_LEAF_IMMA_I8,
         "IMMA.16832.S8.S8", 1, "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32", i1, i1, 0,
         "{\"IMMA.16832.S8.S8\": 58}"},
        {"mma_f64", fk_mma_f64, "fk_mma_f64", 8, 8, 4, FK_LEAF_FP64, "DMMA.8x8x4", 1,
         "mma.sync.aligned.m8n8k4.row.col.f64.f64.f64.f64", 0x1234u, 0x5678u, 0,
         "{\"DMMA.8x8x4\": 10}"},
    };
    for (const FkMmaSpec &sp : specs)
        items.push_back(fk_mma_item(sp, s));
}

// ---- wgmma ------------------------------------------------------------------------------

// One warpgroup (128 threads) per block multiplies a 64x16 (bf16) or 64x32 (e4m3) A by a
// 64-wide B, both K-major in shared memory without swizzle, `iters` times 4 wgmma into the
// same 64x64 fp32 accumulators, and stores the result (block b to D + 4096 b).
//
// Shared-memory layout of A and of B (64 rows of 32 bytes, 2 KiB each): "core matrices" of
// 8 rows x 16 bytes, each 128 contiguous bytes (row r of it at 16 r); the two core matrices
// along K are 128 bytes apart, core matrices along M (or N) 256 bytes apart:
//   byte(row, kbyte) = (row / 8) * 256 + (kbyte / 16) * 128 + (row % 8) * 16 + kbyte % 16.
// The descriptor (PTX ISA, "Matrix Descriptor Format"): bits 0-13 start address >> 4,
// 16-29 leading dimension byte offset >> 4 (distance between core matrices along K), 32-45
// stride dimension byte offset >> 4 (along M or N), 49-51 base offset 0, 62-63 swizzle 0.
// So LBO = 128 and SBO = 256. The kernel takes them as arguments: should a reading of the
// ISA be wrong, the program retries with the two swapped (same data) and says which one
// computed the right product. Either way the instruction shape, and so the count, is the
// same, and every address stays inside the 4 KiB the kernel owns.
static __device__ __forceinline__ unsigned long long fk_desc(const void *smem, unsigned lbo,
                                                             unsigned sbo)
{
    const unsigned addr = (unsigned)__cvta_generic_to_shared(smem);
    return (unsigned long long)((addr & 0x3ffffu) >> 4) |
           ((unsigned long long)((lbo >> 4) & 0x3fffu) << 16) |
           ((unsigned long long)((sbo >> 4) & 0x3fffu) << 32);
}

#define FK_ACC32                                                                            \
    "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, "  \
    "%19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}"
#define FK_ACC32_OPS(d)                                                                     \
    "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]),     \
        "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]),          \
        "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]),       \
        "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]),       \
        "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]),       \
        "+f"(d[31])

// scale-d is the predicate p (always true: accumulate; the accumulators start at zero)
#define FK_WGMMA_BF16                                                                       \
    "{\n\t.reg .pred p;\n\tsetp.ne.b32 p, %34, 0;\n\t"                                      \
    "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 " FK_ACC32                        \
    ", %32, %33, p, 1, 1, 0, 0;\n\t}"
#define FK_WGMMA_E4M3                                                                       \
    "{\n\t.reg .pred p;\n\tsetp.ne.b32 p, %34, 0;\n\t"                                      \
    "wgmma.mma_async.sync.aligned.m64n64k32.f32.e4m3.e4m3 " FK_ACC32 ", %32, %33, p, 1, 1;\n\t}"

template <int FP8>
static __device__ __forceinline__ void fk_wgmma_body(const uint4 *ga, const uint4 *gb, float *gd,
                                                     int iters, unsigned lbo, unsigned sbo)
{
    __shared__ __align__(128) uint4 sa[128];
    __shared__ __align__(128) uint4 sb[128];
    const int t = threadIdx.x;
    sa[t] = ga[t];
    sb[t] = gb[t];
    // the generic-proxy stores must be visible to the async proxy that wgmma reads with
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
    __syncthreads();
    const unsigned long long da = fk_desc(sa, lbo, sbo), db = fk_desc(sb, lbo, sbo);
    float d[32];
    for (int j = 0; j < 32; ++j)
        d[j] = 0.0f;
    for (int k = 0; k < iters; ++k) {
        asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
        for (int u = 0; u < 4; ++u) {
            if (FP8)
                asm volatile(FK_WGMMA_E4M3 : FK_ACC32_OPS(d) : "l"(da), "l"(db), "r"(1));
            else
                asm volatile(FK_WGMMA_BF16 : FK_ACC32_OPS(d) : "l"(da), "l"(db), "r"(1));
        }
        asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
        asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");
    }
    // accumulator fragment: warp w holds rows 16w..16w+15; for each 8-column group j,
    // d[4j], d[4j+1] at (16w + lane/4, 8j + 2(lane%4) + {0,1}), d[4j+2], d[4j+3] 8 rows below
    const int w = t >> 5, lane = t & 31;
    float *out = gd + (size_t)blockIdx.x * 4096;
    for (int j = 0; j < 8; ++j) {
        const int row = 16 * w + lane / 4, col = 8 * j + 2 * (lane % 4);
        out[row * 64 + col] = d[4 * j];
        out[row * 64 + col + 1] = d[4 * j + 1];
        out[(row + 8) * 64 + col] = d[4 * j + 2];
        out[(row + 8) * 64 + col + 1] = d[4 * j + 3];
    }
}

__global__ void __launch_bounds__(128)
    fk_wgmma_bf16(const uint4 *ga, const uint4 *gb, float *gd, int iters, unsigned lbo,
                  unsigned sbo)
{
    fk_wgmma_body<0>(ga, gb, gd, iters, lbo, sbo);
}
__global__ void __launch_bounds__(128)
    fk_wgmma_e4m3(const uint4 *ga, const uint4 *gb, float *gd, int iters, unsigned lbo,
                  unsigned sbo)
{
    fk_wgmma_body<1>(ga, gb, gd, iters, lbo, sbo);
}

static const int FK_WG_BLOCKS = 66;
static const int FK_WG_ITERS = 64; // 4 wgmma per iteration: 256 per warpgroup

struct FkWgmma {
    uint4 *a = nullptr, *b = nullptr;
    float *d = nullptr;
    std::vector<unsigned char> ha, hb; // the operands in the shared-memory layout
    std::vector<float> ref;            // 64x64 reference of one wgmma
    unsigned lbo = 128, sbo = 256;     // what the ISA says; swapped if that is wrong
    std::string layout_note;
};
static FkWgmma g_wg[2];

static size_t fk_wg_byte(int row, int kbyte)
{
    return (size_t)(row / 8) * 256 + (size_t)(kbyte / 16) * 128 + (size_t)(row % 8) * 16 +
           kbyte % 16;
}

// Small integers (-2..2), exact in bf16 and e4m3 and in fp32 sums of this size.
static int fk_val(int row, int k, int salt) { return (row * 7 + k * 3 + salt) % 5 - 2; }
static unsigned char fk_e4m3(int v) // -2..2 in e4m3 (bias 7)
{
    static const unsigned char pos[3] = {0x00, 0x38, 0x40}; // 0, 1, 2
    return (unsigned char)(v < 0 ? (0x80 | pos[-v]) : pos[v]);
}
static unsigned short fk_bf16(int v)
{
    float f = (float)v;
    unsigned u;
    memcpy(&u, &f, 4);
    return (unsigned short)(u >> 16);
}

static bool fk_wg_setup(FkItem &it, int fp8)
{
    FkWgmma &g = g_wg[fp8];
    const int kdim = fp8 ? 32 : 16, esize = fp8 ? 1 : 2;
    g.ha.assign(2048, 0);
    g.hb.assign(2048, 0);
    for (int r = 0; r < 64; ++r)
        for (int k = 0; k < kdim; ++k) {
            const int va = fk_val(r, k, 1), vb = fk_val(r, k, 2);
            const size_t ia = fk_wg_byte(r, k * esize), ib = fk_wg_byte(r, k * esize);
            if (fp8) {
                g.ha[ia] = fk_e4m3(va);
                g.hb[ib] = fk_e4m3(vb);
            } else {
                const unsigned short xa = fk_bf16(va), xb = fk_bf16(vb);
                memcpy(&g.ha[ia], &xa, 2);
                memcpy(&g.hb[ib], &xb, 2);
            }
        }
    g.ref.assign(4096, 0.0f);
    for (int m = 0; m < 64; ++m)
        for (int n = 0; n < 64; ++n) {
            int acc = 0;
            for (int k = 0; k < kdim; ++k)
                acc += fk_val(m, k, 1) * fk_val(n, k, 2);
            g.ref[m * 64 + n] = (float)acc;
        }
    FK_TRY(cudaMalloc(&g.a, 2048), &it.error);
    FK_TRY(cudaMalloc(&g.b, 2048), &it.error);
    FK_TRY(cudaMalloc(&g.d, sizeof(float) * 4096 * FK_WG_BLOCKS), &it.error);
    FK_TRY(cudaMemcpy(g.a, g.ha.data(), 2048, cudaMemcpyHostToDevice), &it.error);
    FK_TRY(cudaMemcpy(g.b, g.hb.data(), 2048, cudaMemcpyHostToDevice), &it.error);
    return true;
}

static void fk_wg_launch(int fp8, unsigned lbo, unsigned sbo, cudaStream_t s)
{
    FkWgmma &g = g_wg[fp8];
    if (fp8)
        fk_wgmma_e4m3<<<FK_WG_BLOCKS, 128, 0, s>>>(g.a, g.b, g.d, FK_WG_ITERS, lbo, sbo);
    else
        fk_wgmma_bf16<<<FK_WG_BLOCKS, 128, 0, s>>>(g.a, g.b, g.d, FK_WG_ITERS, lbo, sbo);
}

// Compares the first and the last block's result with 4 * iters * (A x B); returns the
// largest difference, or -1 when reading the result failed.
static double fk_wg_error(int fp8, cudaStream_t s)
{
    FkWgmma &g = g_wg[fp8];
    std::vector<float> got(4096);
    double worst = 0;
    const double times = 4.0 * FK_WG_ITERS;
    for (int blk : {0, FK_WG_BLOCKS - 1}) {
        if (cudaStreamSynchronize(s) != cudaSuccess ||
            cudaMemcpy(got.data(), g.d + (size_t)blk * 4096, sizeof(float) * 4096,
                       cudaMemcpyDeviceToHost) != cudaSuccess)
            return -1;
        for (int i = 0; i < 4096; ++i) {
            const double e = got[i] - times * g.ref[i];
            worst = e < 0 ? (-e > worst ? -e : worst) : (e > worst ? e : worst);
        }
    }
    return worst;
}

static FkItem fk_wgmma_item(int fp8, cudaStream_t s)
{
    const int kdim = fp8 ? 32 : 16;
    const uint64_t inst = (uint64_t)FK_WG_BLOCKS * FK_WG_ITERS * 4; // warpgroup-level
    const uint64_t mnk = inst * 64 * 64 * kdim;
    FkItem it;
    it.name = fp8 ? "wgmma_e4m3_f32" : "wgmma_bf16_f32";
    it.group = "wgmma";
    it.kernel = fp8 ? "fk_wgmma_e4m3" : "fk_wgmma_bf16";
    it.weight_metric = FK_TENSOR_TOTAL;
    it.tensor_leaf = fp8 ? FK_LEAF_FP8 : FK_LEAF_HGMMA_BF16;
    it.launches = 1;
    it.warmup_launches = -1; // one, or two when the descriptor reading had to be swapped
    it.flop = 2 * mnk;
    fk_expect_no_cuda_core_flop(it);
    fk_tensor_hyps(it, mnk);
    FkJson info;
    info.str("ptx", fp8 ? "wgmma.mma_async.sync.aligned.m64n64k32.f32.e4m3.e4m3"
                        : "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16")
        .num("m", 64)
        .num("n", 64)
        .num("k", kdim)
        .num("warpgroups", FK_WG_BLOCKS)
        .num("wgmma_per_warpgroup", FK_WG_ITERS * 4)
        .num("wgmma_executed", inst)
        .num("mnk", mnk)
        .str("sass_per_wgmma", fp8 ? "1 QGMMA.64x64x32.F32.E4M3.E4M3 per warp"
                                   : "1 HGMMA.64x64x16.F32.BF16 per warp")
        .str("operands", "A and B K-major in shared memory, no swizzle, LBO 128, SBO 256")
        .raw("sass_static", fp8 ? "{\"QGMMA.64x64x32.F32.E4M3.E4M3\": 20}"
                                : "{\"HGMMA.64x64x16.F32.BF16\": 20}");
    it.info = info.done();
    it.setup = [fp8](FkItem &self) { return fk_wg_setup(self, fp8); };
    // The warm-up checks the descriptor reading: the ISA's first, the swapped one if the
    // product is wrong. Both read only the 4 KiB of operands.
    it.warmup = [fp8, s](FkItem &) {
        FkWgmma &g = g_wg[fp8];
        fk_wg_launch(fp8, 128, 256, s);
        const double e1 = fk_wg_error(fp8, s);
        if (e1 == 0) {
            g.layout_note = "LBO = K-direction offset (128), SBO = M/N-direction offset (256)";
            return;
        }
        fk_wg_launch(fp8, 256, 128, s);
        const double e2 = fk_wg_error(fp8, s);
        if (e2 == 0) {
            g.lbo = 256, g.sbo = 128;
            g.layout_note = "swapped: LBO = M/N-direction offset (256), SBO = K-direction (128)";
        } else {
            char b[160];
            snprintf(b, sizeof b, "neither reading gave the product (largest errors %g, %g)", e1,
                     e2);
            g.layout_note = b;
        }
    };
    it.measure = [fp8, s](FkItem &) { fk_wg_launch(fp8, g_wg[fp8].lbo, g_wg[fp8].sbo, s); };
    it.verify = [fp8, s](FkItem &self) {
        const double e = fk_wg_error(fp8, s);
        FkJson c;
        c.boolean("correct", e == 0)
            .real("max_abs_error", e)
            .str("descriptor", g_wg[fp8].layout_note);
        self.check = c.done();
    };
    return it;
}

void fk_add_wgmma_items(std::vector<FkItem> &items, cudaStream_t s)
{
    items.push_back(fk_wgmma_item(0, s));
    items.push_back(fk_wgmma_item(1, s));
}
