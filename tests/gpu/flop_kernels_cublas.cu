// flop_kernels_cublas.cu - the cuBLAS calibration items of flop_kernels: GEMMs of known
// shape in fp64, tf32, fp16, bf16 (cublasGemmEx) and fp8 e4m3 (cublasLt), at 4096^3 and at
// the ragged 4095 x 3001 x 1234 (M x N x K).
//
// A GEMM asks for 2*M*N*K FLOP. The library picks its kernels (their names, number and
// tiles are known only afterwards, from the profiler's rows), so the expectations are on
// the sum of the tensor leaves over the measured segment: 2*M*N*K if one math op is one
// FLOP, M*N*K if it is one multiply-add. At 4096^3 every tile divides the shape and the
// count should be exact; at the ragged shape the tensor cores also multiply the padding of
// the last tiles, so the counter should exceed the exact value by the tiles' waste - which
// is what the hook would report as executed work. Epilogues (alpha scaling) may add
// CUDA-core FMUL/FFMA; those are measured and reported, not expected.
//
// Layout: column-major, op(A) = A^T (A stored K x M), op(B) = B (K x N): the "TN" form,
// the only one cublasLt accepts for fp8. Leading dimensions are rounded up to 16 elements.
// The operands are filled once with the byte 0x3c (finite normal values in every type:
// fp64 ~1.6e-18, fp32 ~0.0115, fp16 ~1.06, bf16 ~0.0115, e4m3 1.5); the values do not
// change the work. alpha = 1, beta = 0.
#include <cublasLt.h>
#include <cublas_v2.h>

#include <memory>
#include <string>

#include "flop_kernels.cuh"

namespace {

struct FkGemmSpec {
    const char *name;
    const char *family;
    cudaDataType_t ab, c;
    cublasComputeType_t compute;
    bool lt; // cublasLt (fp8) or cublasGemmEx
    const char *leaf;
    const char *what;
};

struct FkCublas {
    cublasHandle_t h = nullptr;
    cublasLtHandle_t lt = nullptr;
    void *a = nullptr, *b = nullptr, *c = nullptr, *ws = nullptr;
    size_t ws_size = 64u << 20;
    bool ready = false;
    std::string error;
};
FkCublas g_cb;

const size_t FK_GEMM_BYTES = (size_t)4096 * 4096 * 8; // the largest operand: fp64 4096^2

long long fk_round16(long long x) { return (x + 15) / 16 * 16; }

const char *fk_cublas_status(cublasStatus_t st)
{
    switch (st) {
    case CUBLAS_STATUS_SUCCESS: return "success";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "alloc failed";
    case CUBLAS_STATUS_INVALID_VALUE: return "invalid value";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "arch mismatch";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "execution failed";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "not supported";
    default: return "other error";
    }
}

bool fk_cb_ok(cublasStatus_t st, const char *what, std::string *err)
{
    if (st == CUBLAS_STATUS_SUCCESS)
        return true;
    if (err && err->empty())
        *err = std::string(what) + ": cuBLAS " + fk_cublas_status(st) + " (" +
               std::to_string((int)st) + ")";
    fprintf(stderr, "flop_kernels: %s: cuBLAS status %d\n", what, (int)st);
    return false;
}

// The handles, workspace and operands, shared by every GEMM item; made once.
bool fk_cublas_init(std::string *err, cudaStream_t s)
{
    if (g_cb.ready)
        return true;
    if (!g_cb.error.empty()) {
        *err = g_cb.error;
        return false;
    }
    std::string &e = g_cb.error;
    bool ok = fk_cb_ok(cublasCreate(&g_cb.h), "cublasCreate", &e) &&
              fk_cb_ok(cublasLtCreate(&g_cb.lt), "cublasLtCreate", &e) &&
              fk_ok(cudaMalloc(&g_cb.a, FK_GEMM_BYTES), "cudaMalloc(A)", __LINE__, &e) &&
              fk_ok(cudaMalloc(&g_cb.b, FK_GEMM_BYTES), "cudaMalloc(B)", __LINE__, &e) &&
              fk_ok(cudaMalloc(&g_cb.c, FK_GEMM_BYTES), "cudaMalloc(C)", __LINE__, &e) &&
              fk_ok(cudaMalloc(&g_cb.ws, g_cb.ws_size), "cudaMalloc(workspace)", __LINE__, &e) &&
              fk_ok(cudaMemset(g_cb.a, 0x3c, FK_GEMM_BYTES), "cudaMemset(A)", __LINE__, &e) &&
              fk_ok(cudaMemset(g_cb.b, 0x3c, FK_GEMM_BYTES), "cudaMemset(B)", __LINE__, &e) &&
              fk_ok(cudaMemset(g_cb.c, 0, FK_GEMM_BYTES), "cudaMemset(C)", __LINE__, &e) &&
              fk_cb_ok(cublasSetStream(g_cb.h, s), "cublasSetStream", &e) &&
              fk_cb_ok(cublasSetWorkspace(g_cb.h, g_cb.ws, g_cb.ws_size), "cublasSetWorkspace",
                       &e) &&
              fk_ok(cudaDeviceSynchronize(), "cudaDeviceSynchronize", __LINE__, &e);
    if (!ok) {
        *err = e;
        return false;
    }
    g_cb.ready = true;
    return true;
}

// One GEMM: its shape, and for cublasLt the descriptors and the algorithm found in setup.
struct FkGemm {
    FkGemmSpec sp;
    long long m, n, k, lda, ldb, ldc;
    cublasLtMatmulDesc_t op = nullptr;
    cublasLtMatrixLayout_t la = nullptr, lb = nullptr, lc = nullptr;
    cublasLtMatmulAlgo_t algo{};
    size_t ws_needed = 0;
};

bool fk_gemm_setup(FkGemm &g, FkItem &it, cudaStream_t s)
{
    if (!fk_cublas_init(&it.error, s))
        return false;
    if (!g.sp.lt)
        return true;
    const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    std::string *e = &it.error;
    if (!fk_cb_ok(cublasLtMatmulDescCreate(&g.op, g.sp.compute, CUDA_R_32F), "MatmulDescCreate",
                  e) ||
        !fk_cb_ok(cublasLtMatmulDescSetAttribute(g.op, CUBLASLT_MATMUL_DESC_TRANSA, &ta,
                                                 sizeof ta),
                  "set TRANSA", e) ||
        !fk_cb_ok(cublasLtMatmulDescSetAttribute(g.op, CUBLASLT_MATMUL_DESC_TRANSB, &tb,
                                                 sizeof tb),
                  "set TRANSB", e) ||
        !fk_cb_ok(cublasLtMatrixLayoutCreate(&g.la, g.sp.ab, g.k, g.m, g.lda), "layout A", e) ||
        !fk_cb_ok(cublasLtMatrixLayoutCreate(&g.lb, g.sp.ab, g.k, g.n, g.ldb), "layout B", e) ||
        !fk_cb_ok(cublasLtMatrixLayoutCreate(&g.lc, g.sp.c, g.m, g.n, g.ldc), "layout C", e))
        return false;
    cublasLtMatmulPreference_t pref = nullptr;
    if (!fk_cb_ok(cublasLtMatmulPreferenceCreate(&pref), "PreferenceCreate", e))
        return false;
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                         &g_cb.ws_size, sizeof g_cb.ws_size);
    cublasLtMatmulHeuristicResult_t res{};
    int found = 0;
    const cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(g_cb.lt, g.op, g.la, g.lb, g.lc,
                                                             g.lc, pref, 1, &res, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    if (st != CUBLAS_STATUS_SUCCESS || found == 0) {
        it.error = std::string("unsupported: cublasLt found no algorithm for this shape (") +
                   fk_cublas_status(st) + ")";
        return false;
    }
    g.algo = res.algo;
    g.ws_needed = res.workspaceSize;
    return true;
}

void fk_gemm_run(FkGemm &g, FkItem &it, cudaStream_t s)
{
    const float one = 1.0f, zero = 0.0f;
    const double done = 1.0, dzero = 0.0;
    const bool f64 = g.sp.compute == CUBLAS_COMPUTE_64F;
    const void *alpha = f64 ? (const void *)&done : (const void *)&one;
    const void *beta = f64 ? (const void *)&dzero : (const void *)&zero;
    cublasStatus_t st;
    if (g.sp.lt)
        st = cublasLtMatmul(g_cb.lt, g.op, alpha, g_cb.a, g.la, g_cb.b, g.lb, beta, g_cb.c, g.lc,
                            g_cb.c, g.lc, &g.algo, g_cb.ws, g.ws_needed, s);
    else
        st = cublasGemmEx(g_cb.h, CUBLAS_OP_T, CUBLAS_OP_N, (int)g.m, (int)g.n, (int)g.k, alpha,
                          g_cb.a, g.sp.ab, (int)g.lda, g_cb.b, g.sp.ab, (int)g.ldb, beta, g_cb.c,
                          g.sp.c, (int)g.ldc, g.sp.compute, CUBLAS_GEMM_DEFAULT);
    fk_cb_ok(st, g.sp.lt ? "cublasLtMatmul" : "cublasGemmEx", &it.error);
}

FkItem fk_gemm_item(const FkGemmSpec &sp, long long m, long long n, long long k, cudaStream_t s)
{
    auto g = std::make_shared<FkGemm>();
    g->sp = sp;
    g->m = m, g->n = n, g->k = k;
    g->lda = fk_round16(k), g->ldb = fk_round16(k), g->ldc = fk_round16(m);
    const bool ragged = m % 128 || n % 128 || k % 64;
    const uint64_t mnk = (uint64_t)m * n * k;
    FkItem it;
    it.name = std::string(sp.name) + (ragged ? "_ragged" : "_4096");
    it.group = "cublas";
    it.family = sp.family;
    it.ragged = ragged;
    it.weight_metric = FK_TENSOR_TOTAL;
    it.tensor_leaf = sp.leaf;
    it.flop = 2 * mnk;
    it.hyp.push_back({"op=flop", "one math op = one FLOP: the counter equals 2*M*N*K",
                      {{FK_TENSOR_TOTAL, 2 * mnk}}});
    it.hyp.push_back({"op=mac", "one math op = one multiply-add: the counter equals M*N*K",
                      {{FK_TENSOR_TOTAL, mnk}}});
    FkJson info;
    info.num("m", m)
        .num("n", n)
        .num("k", k)
        .num("lda", g->lda)
        .num("ldb", g->ldb)
        .num("ldc", g->ldc)
        .num("mnk", mnk)
        .str("api", sp.lt ? "cublasLtMatmul" : "cublasGemmEx")
        .str("types", sp.what)
        .str("layout", "column-major, op(A) = T, op(B) = N")
        .inum("cublas_version", (long long)cublasLtGetVersion());
    it.info = info.done();
    it.setup = [g, s](FkItem &self) { return fk_gemm_setup(*g, self, s); };
    it.warmup = [g, s](FkItem &self) { fk_gemm_run(*g, self, s); };
    it.measure = it.warmup;
    return it;
}

} // namespace

void fk_add_cublas_items(std::vector<FkItem> &items, cudaStream_t s)
{
    const FkGemmSpec specs[] = {
        {"cublas_f64", "cublas_f64", CUDA_R_64F, CUDA_R_64F, CUBLAS_COMPUTE_64F, false,
         FK_LEAF_FP64, "A, B, C fp64; compute 64F"},
        {"cublas_tf32", "cublas_tf32", CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_32F_FAST_TF32, false,
         FK_LEAF_HGMMA_TF32, "A, B, C fp32; compute 32F_FAST_TF32"},
        {"cublas_f16", "cublas_f16", CUDA_R_16F, CUDA_R_16F, CUBLAS_COMPUTE_32F, false,
         FK_LEAF_HGMMA_F16, "A, B, C fp16; compute 32F"},
        {"cublas_bf16", "cublas_bf16", CUDA_R_16BF, CUDA_R_16BF, CUBLAS_COMPUTE_32F, false,
         FK_LEAF_HGMMA_BF16, "A, B, C bf16; compute 32F"},
        {"cublaslt_e4m3", "cublaslt_e4m3", CUDA_R_8F_E4M3, CUDA_R_16BF, CUBLAS_COMPUTE_32F, true,
         FK_LEAF_FP8, "A, B fp8 e4m3; C, D bf16; compute 32F, scale 32F"},
    };
    for (const FkGemmSpec &sp : specs) {
        items.push_back(fk_gemm_item(sp, 4096, 4096, 4096, s));
        items.push_back(fk_gemm_item(sp, 4095, 3001, 1234, s));
    }
}

void fk_release_cublas()
{
    if (g_cb.h)
        cublasDestroy(g_cb.h);
    if (g_cb.lt)
        cublasLtDestroy(g_cb.lt);
    cudaFree(g_cb.a);
    cudaFree(g_cb.b);
    cudaFree(g_cb.c);
    cudaFree(g_cb.ws);
    g_cb = FkCublas();
}
