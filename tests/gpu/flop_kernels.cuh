// flop_kernels.cuh - what the translation units of flop_kernels share: the calibration item
// (what a kernel or GEMM is expected to make the counters say), the metric names, the JSON
// line writer and the error check (tests/gpu/README.md, "Calibration").
#ifndef FM_FLOP_KERNELS_CUH
#define FM_FLOP_KERNELS_CUH

#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

// ---- metric names ------------------------------------------------------------------------

// The instrumented CUDA-core metrics, in the order of measurement.md.
static const char *const FK_SASS_OPS[] = {"fadd", "fmul", "ffma", "dadd", "dmul",
                                          "dfma", "hadd", "hmul", "hfma"};
static const int FK_N_SASS_OPS = 9;

static inline std::string fk_sass_metric(const char *op)
{
    return std::string("smsp__sass_thread_inst_executed_op_") + op + "_pred_on.sum";
}

// The tensor "math op" leaves of GH100 (measurement.md); calibrate.py sums every measured
// sm__ops_path_tensor* column into this derived name.
#define FK_TENSOR_TOTAL "tensor_ops_total"
#define FK_LEAF_HGMMA_F16 "sm__ops_path_tensor_op_hgmma_src_fp16.sum"
#define FK_LEAF_HGMMA_BF16 "sm__ops_path_tensor_op_hgmma_src_bf16_dst_fp32.sum"
#define FK_LEAF_HGMMA_TF32 "sm__ops_path_tensor_op_hgmma_src_tf32_dst_fp32.sum"
#define FK_LEAF_HMMA_F16_F16 "sm__ops_path_tensor_op_hmma_src_fp16_dst_fp16.sum"
#define FK_LEAF_HMMA_F16_F32 "sm__ops_path_tensor_op_hmma_src_fp16_dst_fp32.sum"
#define FK_LEAF_HMMA_BF16 "sm__ops_path_tensor_op_hmma_src_bf16_dst_fp32.sum"
#define FK_LEAF_HMMA_TF32 "sm__ops_path_tensor_op_hmma_src_tf32_dst_fp32.sum"
#define FK_LEAF_FP8 "sm__ops_path_tensor_src_fp8.sum"
#define FK_LEAF_FP64 "sm__ops_path_tensor_src_fp64.sum"
#define FK_LEAF_IGMMA_I8 "sm__ops_path_tensor_op_igmma_src_int8.sum"
#define FK_LEAF_IMMA_I8 "sm__ops_path_tensor_op_imma_src_int8.sum"

// ---- the calibration item ----------------------------------------------------------------

struct FkCount {
    std::string metric;
    uint64_t value;
};

// One reading of an OPEN question: the metric values it predicts, and what it would mean.
struct FkHypothesis {
    std::string name;
    std::string means;
    std::vector<FkCount> values;
};

// One unit of known work. Its measured segment is bracketed by marker kernels (fk_mark_*)
// so that calibrate.py can attribute ncu's per-kernel rows without knowing kernel names.
struct FkItem {
    std::string name;          // unique, e.g. "ffma_f32"
    std::string group;         // cuda_core | mma_sync | wgmma | graph | threads | cublas
    std::string kernel;        // the kernel's function name; "" when a library picks it
    std::string weight_metric; // the metric (or tensor_ops_total, or a+b for a sum) whose
                               // FLOP weight it shows
    std::string tensor_leaf;   // for tensor work: the leaf expected to carry all of it
    std::string family;        // items of one family differ only in shape (aligned/ragged)
    bool ragged = false;       // a shape the hardware tiles cannot divide: padding expected
    long long launches = -1;   // kernels in the measured segment; -1 when a library decides
    long long warmup_launches = -1;
    uint64_t flop = 0;         // the FLOP (or integer ops) the measured work asks for
    uint64_t flop_executed = 0; // the FLOP of the instructions that execute: more than `flop`
                                // where ptxas computes a guarded step unconditionally; 0: same
    std::vector<FkCount> expect; // exact values for the measured segment
    std::vector<FkHypothesis> hyp;
    std::string info;          // a JSON object: shapes, per-thread counts, SASS facts

    // filled by running it
    bool ran = false;
    std::string error;     // why it did not run, or failed
    double ms = -1;        // wall time of the measured segment, without ncu
    std::string check;     // a JSON object with a result check, where one is made

    std::function<bool(FkItem &)> setup;   // once, before any marker; false: not runnable
    std::function<void(FkItem &)> warmup;  // the launches excluded from the measurement
    std::function<void(FkItem &)> measure; // the measured launches
    std::function<void(FkItem &)> verify;  // after measure: fills `check`
};

// ---- JSON ------------------------------------------------------------------------------------

std::string fk_json_str(const std::string &s);

// Builds one JSON object, key by key.
class FkJson {
  public:
    FkJson &str(const char *k, const std::string &v) { return raw(k, fk_json_str(v)); }
    FkJson &num(const char *k, uint64_t v) { return raw(k, std::to_string(v)); }
    FkJson &inum(const char *k, long long v) { return raw(k, std::to_string(v)); }
    FkJson &real(const char *k, double v)
    {
        char b[64];
        snprintf(b, sizeof b, "%.6g", v);
        return raw(k, b);
    }
    FkJson &boolean(const char *k, bool v) { return raw(k, v ? "true" : "false"); }
    FkJson &raw(const char *k, const std::string &json)
    {
        if (!body_.empty())
            body_ += ", ";
        body_ += fk_json_str(k) + ": " + json;
        return *this;
    }
    std::string done() const { return "{" + body_ + "}"; }

  private:
    std::string body_;
};

// ---- errors ------------------------------------------------------------------------------

// A failed CUDA call inside an item makes that item fail (its `error`), not the program:
// one broken kernel must not hide the results of the others. Returns false on failure.
bool fk_ok(cudaError_t e, const char *what, int line, std::string *error);
#define FK_TRY(call, errp)                                                                  \
    do {                                                                                    \
        if (!fk_ok((call), #call, __LINE__, (errp)))                                        \
            return false;                                                                   \
    } while (0)

// ---- the groups, one registration function each ---------------------------------------

// Appends the items of each translation unit. `dev` and `stream` are what they launch on.
void fk_add_core_items(std::vector<FkItem> &items, cudaStream_t stream);
void fk_add_mma_items(std::vector<FkItem> &items, cudaStream_t stream);
void fk_add_launch_path_items(std::vector<FkItem> &items, cudaStream_t stream);
void fk_add_wgmma_items(std::vector<FkItem> &items, cudaStream_t stream);
void fk_add_cublas_items(std::vector<FkItem> &items, cudaStream_t stream);
void fk_release_cublas(); // frees the handles and buffers of fk_add_cublas_items

// Exact expectation helpers: every CUDA-core metric (0 unless named) and tensor_ops_total.
void fk_expect_sass(FkItem &it, const char *op, uint64_t count);
void fk_expect_no_cuda_core_flop(FkItem &it);

#endif
