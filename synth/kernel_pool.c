/* kernel_pool.c - simulated kernels of a GPT-style training step and the counters they
 * increment. The names are the kinds of names cuBLAS, PyTorch, FlashAttention and NCCL
 * kernels carry; the work per launch follows the usual operation counts for each kind. */
#include "kernel_pool.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "flopmeter/trace_format.h"

#define C_FP32 (FM_FMT_FP32)
#define C_FP64 (FM_FMT_FP64)
#define C_FP16 (FM_FMT_FP16)
#define T(f) (FM_CLASS_TENSOR | (f))

const synth_group synth_groups[SYNTH_GROUPS] = {
    {9,
     {{"smsp__sass_thread_inst_executed_op_fadd_pred_on.sum", C_FP32, 1},
      {"smsp__sass_thread_inst_executed_op_fmul_pred_on.sum", C_FP32, 1},
      {"smsp__sass_thread_inst_executed_op_ffma_pred_on.sum", C_FP32, 2},
      {"smsp__sass_thread_inst_executed_op_dadd_pred_on.sum", C_FP64, 1},
      {"smsp__sass_thread_inst_executed_op_dmul_pred_on.sum", C_FP64, 1},
      {"smsp__sass_thread_inst_executed_op_dfma_pred_on.sum", C_FP64, 2},
      {"smsp__sass_thread_inst_executed_op_hadd_pred_on.sum", C_FP16, 1},
      {"smsp__sass_thread_inst_executed_op_hmul_pred_on.sum", C_FP16, 1},
      {"smsp__sass_thread_inst_executed_op_hfma_pred_on.sum", C_FP16, 2}}},
    {7,
     {{"sm__ops_path_tensor_op_hgmma_src_fp16.sum", T(FM_FMT_FP16), 1},
      {"sm__ops_path_tensor_op_hgmma_src_bf16_dst_fp32.sum", T(FM_FMT_BF16), 1},
      {"sm__ops_path_tensor_op_hgmma_src_tf32_dst_fp32.sum", T(FM_FMT_TF32), 1},
      {"sm__ops_path_tensor_op_hmma_src_fp16_dst_fp16.sum", T(FM_FMT_FP16), 1},
      {"sm__ops_path_tensor_src_fp8.sum", T(FM_FMT_FP8), 1},
      {"sm__ops_path_tensor_src_fp64.sum", T(FM_FMT_FP64), 1},
      {"gpu__time_duration.sum", FM_CLASS_NONE, 0}}},
    {2,
     {{"sm__ops_path_tensor_op_hmma_src_fp16_dst_fp32.sum", T(FM_FMT_FP16), 1},
      {"sm__ops_path_tensor_op_igmma_src_int8.sum", T(FM_FMT_INT8), 1}}},
    {1, {{"sm__ops_path_tensor_op_hmma_src_bf16_dst_fp32.sum", T(FM_FMT_BF16), 1}}},
    {1, {{"sm__ops_path_tensor_op_hmma_src_tf32_dst_fp32.sum", T(FM_FMT_TF32), 1}}},
};

/* Metric indices used below. */
enum { G_SASS = 0, G_HGMMA = 1, G_HMMA16 = 2, G_HMMA_BF16 = 3 };
enum { M_FADD = 0, M_FMUL = 1, M_FFMA = 2, M_DADD = 3, M_DFMA = 5, M_HMUL = 7, M_HFMA = 8 };
enum { M_HGMMA_BF16 = 1, M_HGMMA_TF32 = 2, M_FP8 = 4 };

const char *const synth_callsite_frames[SYNTH_CALLSITES][SYNTH_FRAMES][2] = {
    {{"libcublasLt.so.13", "cublasLtMatmul"}, {"libtorch_cuda.so", "at::cuda::blas::gemm_internal"},
     {"libtorch_cuda.so", "at::native::addmm_out_cuda_impl"}, {"libtorch_cpu.so", "at::_ops::addmm::call"}},
    {{"libcublasLt.so.13", "cublasLtMatmul"}, {"libtorch_cuda.so", "at::cuda::blas::gemm_internal"},
     {"libtorch_cuda.so", "at::native::structured_mm_out_cuda::impl"}, {"libtorch_cpu.so", "torch::autograd::generated::MmBackward0::apply"}},
    {{"libflash_attn_2_cuda.so", "run_mha_fwd_hdim128"}, {"libflash_attn_2_cuda.so", "mha_fwd"},
     {"libtorch_cpu.so", "c10::Dispatcher::callBoxed"}, {"python3.11", "_PyEval_EvalFrameDefault"}},
    {{"libflash_attn_2_cuda.so", "run_mha_bwd_hdim128"}, {"libflash_attn_2_cuda.so", "mha_bwd"},
     {"libtorch_cpu.so", "torch::autograd::PyNode::apply"}, {"libtorch_cpu.so", "torch::autograd::Engine::evaluate_function"}},
    {{"libtorch_cuda.so", "at::native::gelu_kernel"}, {"libtorch_cuda.so", "at::native::structured_gelu_out::impl"},
     {"libtorch_cpu.so", "at::_ops::gelu::call"}, {"python3.11", "_PyEval_EvalFrameDefault"}},
    {{"libtorch_cuda.so", "at::native::add_kernel"}, {"libtorch_cuda.so", "at::native::structured_add_out::impl"},
     {"libtorch_cpu.so", "at::_ops::add_Tensor::call"}, {"python3.11", "_PyEval_EvalFrameDefault"}},
    {{"libtorch_cuda.so", "at::native::layer_norm_cuda"}, {"libtorch_cpu.so", "at::_ops::native_layer_norm::call"},
     {"libtorch_cpu.so", "at::native::layer_norm_symint"}, {"python3.11", "_PyEval_EvalFrameDefault"}},
    {{"libtorch_cuda.so", "at::native::layer_norm_backward_cuda"}, {"libtorch_cpu.so", "torch::autograd::generated::NativeLayerNormBackward0::apply"},
     {"libtorch_cpu.so", "torch::autograd::Engine::evaluate_function"}, {"libtorch_cpu.so", "torch::autograd::Engine::thread_main"}},
    {{"libtorch_cuda.so", "at::native::_fused_adamw_kernel_cuda_"}, {"libtorch_cpu.so", "at::_ops::_fused_adamw_::call"},
     {"libtorch_python.so", "torch::autograd::THPVariable__fused_adamw_"}, {"python3.11", "_PyEval_EvalFrameDefault"}},
    {{"libnccl.so.2", "ncclLaunchKernel"}, {"libnccl.so.2", "ncclGroupEnd"},
     {"libtorch_cuda.so", "c10d::ProcessGroupNCCL::allreduce_impl"}, {"libtorch_cuda.so", "c10d::ProcessGroupNCCL::collective"}},
    {{"libtorch_cuda.so", "at::native::index_select_out_cuda_impl"}, {"libtorch_cpu.so", "at::_ops::embedding::call"},
     {"libtorch_cpu.so", "at::native::embedding_symint"}, {"python3.11", "_PyEval_EvalFrameDefault"}},
    {{"libtorch_cuda.so", "at::native::host_softmax"}, {"libtorch_cpu.so", "at::_ops::_log_softmax::call"},
     {"libtorch_cpu.so", "at::native::cross_entropy_loss_symint"}, {"python3.11", "_PyEval_EvalFrameDefault"}},
    {{"libtorch_cuda.so", "at::native::norm_kernel_cuda"}, {"libtorch_cpu.so", "at::_ops::linalg_vector_norm::call"},
     {"libtorch_cpu.so", "torch::nn::utils::clip_grad_norm_"}, {"python3.11", "_PyEval_EvalFrameDefault"}},
    {{"libtorch_cuda.so", "at::native::topk_out_with_sort"}, {"libtorch_cpu.so", "at::_ops::topk::call"},
     {"libmoe_router.so", "router_forward"}, {"python3.11", "_PyEval_EvalFrameDefault"}},
};

enum kind {
    K_GEMM_WGMMA, K_GEMM_MMA, K_GEMM_FP8, K_GEMM_TF32, K_FLASH_FWD, K_FLASH_BWD, K_GELU,
    K_ADD, K_LAYERNORM, K_LAYERNORM_BWD, K_ADAM, K_NCCL, K_EMBEDDING, K_SOFTMAX, K_NORM_FP64,
    K_SCALE_FP16, K_TOPK, K_COUNT
};

/* How often each kind appears in the pool, in parts per thousand. */
static const int kind_weight[K_COUNT] = {
    [K_GEMM_WGMMA] = 260, [K_GEMM_MMA] = 40, [K_GEMM_FP8] = 20, [K_GEMM_TF32] = 10,
    [K_FLASH_FWD] = 50,   [K_FLASH_BWD] = 50, [K_GELU] = 90,    [K_ADD] = 130,
    [K_LAYERNORM] = 70,   [K_LAYERNORM_BWD] = 70, [K_ADAM] = 40, [K_NCCL] = 40,
    [K_EMBEDDING] = 30,   [K_SOFTMAX] = 30, [K_NORM_FP64] = 10, [K_SCALE_FP16] = 20,
    [K_TOPK] = 40,
};

static const int kind_callsite[K_COUNT] = {
    [K_GEMM_WGMMA] = 0, [K_GEMM_MMA] = 1, [K_GEMM_FP8] = 0, [K_GEMM_TF32] = 1,
    [K_FLASH_FWD] = 2,  [K_FLASH_BWD] = 3, [K_GELU] = 4,   [K_ADD] = 5,
    [K_LAYERNORM] = 6,  [K_LAYERNORM_BWD] = 7, [K_ADAM] = 8, [K_NCCL] = 9,
    [K_EMBEDDING] = 10, [K_SOFTMAX] = 11, [K_NORM_FP64] = 12, [K_SCALE_FP16] = 5,
    [K_TOPK] = 13,
};

static void add(synth_kernel *k, int group, int metric, double count)
{
    k->comp[k->n_comp].group = (uint8_t)group;
    k->comp[k->n_comp].metric = (uint8_t)metric;
    k->comp[k->n_comp].count = floor(count);
    k->n_comp++;
}

uint8_t synth_component_class(const synth_component *c)
{
    return synth_groups[c->group].m[c->metric].precision_class;
}

static int draw_kind(fm_rng *rng)
{
    int x = (int)fm_rng_below(rng, 1000);
    for (int i = 0; i < K_COUNT; i++) {
        if (x < kind_weight[i])
            return i;
        x -= kind_weight[i];
    }
    return K_ADD;
}

/* Element-wise work on n elements with the given add/mul/fma mix per element. */
static void elementwise(synth_kernel *k, double n, double adds, double muls, double fmas)
{
    if (adds > 0)
        add(k, G_SASS, M_FADD, n * adds);
    if (muls > 0)
        add(k, G_SASS, M_FMUL, n * muls);
    if (fmas > 0)
        add(k, G_SASS, M_FFMA, n * fmas);
}

static void finish(synth_kernel *k)
{
    /* distinct classes in ascending order, and a duration from the work */
    double tensor = 0, cuda = 0;
    k->n_classes = 0;
    for (int i = 0; i < k->n_comp; i++) {
        uint8_t c = synth_component_class(&k->comp[i]);
        double w = synth_groups[k->comp[i].group].m[k->comp[i].metric].weight * k->comp[i].count;
        if (c & FM_CLASS_TENSOR)
            tensor += w;
        else
            cuda += w;
        int seen = 0;
        for (int j = 0; j < k->n_classes; j++)
            seen |= k->classes[j] == c;
        if (!seen && k->n_classes < SYNTH_MAX_CLASSES)
            k->classes[k->n_classes++] = c;
    }
    for (int i = 1; i < k->n_classes; i++)
        for (int j = i; j > 0 && k->classes[j - 1] > k->classes[j]; j--) {
            uint8_t t = k->classes[j];
            k->classes[j] = k->classes[j - 1];
            k->classes[j - 1] = t;
        }
    k->duration_ns = 3000 + (uint64_t)(tensor / 6.0e5 + cuda / 2.5e4);
}

double synth_kernel_work(const synth_kernel *k)
{
    double w = 0;
    for (int i = 0; i < k->n_comp; i++)
        w += synth_groups[k->comp[i].group].m[k->comp[i].metric].weight * k->comp[i].count;
    return w;
}

void synth_kernel_scale(synth_kernel *k, double factor)
{
    for (int i = 0; i < k->n_comp; i++)
        k->comp[i].count = fmax(1.0, floor(k->comp[i].count * factor));
    finish(k);
}

void synth_kernel_draw(synth_kernel *k, const synth_model *m, fm_rng *rng)
{
    memset(k, 0, sizeof *k);
    int kind = draw_kind(rng);
    static const double scales[] = {0.25, 0.5, 1, 2, 4};
    double s = scales[fm_rng_below(rng, 5)];
    double tokens = (double)m->micro_batch * m->seq_len * s;
    double d = m->hidden, head_dim = (double)m->hidden / m->heads;
    double N = d * (1 + fm_rng_below(rng, 4)), K = d * (fm_rng_below(rng, 2) ? 1 : 4);
    int variant = (int)fm_rng_below(rng, 4);
    int tile = 64 << (variant & 1);
    k->kind = kind;
    k->role = fm_rng_below(rng, 3) ? ROLE_BACKWARD : ROLE_FORWARD;
    k->callsite = kind_callsite[kind];
    k->block[0] = 128;
    k->block[1] = k->block[2] = 1;
    switch (kind) {
    case K_GEMM_WGMMA:
        snprintf(k->name, sizeof k->name,
                 "sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize%dx%dx64_warpgroupsize1x1x1_"
                 "execute_segment_k_off_kernel__5x_cublas", tile, 2 * tile);
        add(k, G_HGMMA, M_HGMMA_BF16, 2 * tokens * N * K);
        k->block[0] = 384;
        break;
    case K_GEMM_MMA:
        snprintf(k->name, sizeof k->name, "ampere_bf16_s16816gemm_bf16_%dx%d_ldg8_f2f_stages_64x3_tn",
                 tile, tile);
        add(k, G_HMMA_BF16, 0, 2 * tokens * N * K);
        k->block[0] = 256;
        break;
    case K_GEMM_FP8:
        snprintf(k->name, sizeof k->name,
                 "sm90_xmma_gemm_e4m3bf16_e4m3f32_f32_tn_n_tilesize%dx%dx128_warpgroupsize2x1x1_"
                 "execute_segment_k_off_kernel__5x_cublas", tile, 2 * tile);
        add(k, G_HGMMA, M_FP8, 2 * tokens * N * K);
        k->block[0] = 384;
        break;
    case K_GEMM_TF32:
        snprintf(k->name, sizeof k->name,
                 "sm90_xmma_gemm_f32f32_tf32f32_f32_tn_n_tilesize%dx%dx32_warpgroupsize1x1x1_"
                 "execute_segment_k_off_kernel__5x_cublas", tile, tile);
        add(k, G_HGMMA, M_HGMMA_TF32, 2 * tokens * N * d / 8);
        break;
    case K_FLASH_FWD:
    case K_FLASH_BWD: {
        /* the context length is the model's; the random scale changes the batch only */
        double seq = m->seq_len, b = m->micro_batch * s;
        double qk = 4.0 * b * m->heads * seq * seq * head_dim; /* QK^T and PV */
        int bwd = kind == K_FLASH_BWD;
        snprintf(k->name, sizeof k->name,
                 bwd ? "void flash::flash_bwd_dq_dk_dv_loop_seqk_parallel_kernel<Flash_bwd_kernel_"
                       "traits<%d, 64, 128, 8, 2, 4, 2, false, false, cutlass::bfloat16_t>, true, "
                       "false, false, false, false, true, false>(Flash_bwd_params)"
                     : "void flash::flash_fwd_kernel<Flash_fwd_kernel_traits<%d, 128, 64, 4, false, "
                       "false, cutlass::bfloat16_t>, true, false, false, false, true, true, false>"
                       "(Flash_fwd_params)",
                 (int)head_dim);
        add(k, G_HGMMA, M_HGMMA_BF16, bwd ? 2.5 * qk : qk);
        elementwise(k, b * m->heads * seq * seq, 1, 1, bwd ? 2 : 1);
        k->role = bwd ? ROLE_BACKWARD : ROLE_FORWARD;
        k->block[0] = bwd ? 256 : 128;
        break;
    }
    case K_GELU:
        snprintf(k->name, sizeof k->name,
                 "void at::native::vectorized_elementwise_kernel<4, at::native::GeluCUDAKernelImpl("
                 "at::TensorIteratorBase&, at::native::GeluType)::{lambda()#2}::operator()() const::"
                 "{lambda()#%d}::operator()() const::{lambda(c10::BFloat16)#1}, at::detail::Array<"
                 "char*, 2> >(int, at::native::GeluCUDAKernelImpl, at::detail::Array<char*, 2>)",
                 2 + variant);
        elementwise(k, tokens * 4 * d, 2, 3, 3);
        break;
    case K_ADD:
        snprintf(k->name, sizeof k->name,
                 "void at::native::vectorized_elementwise_kernel<%d, at::native::CUDAFunctor_add<"
                 "c10::BFloat16>, at::detail::Array<char*, 3> >(int, at::native::CUDAFunctor_add<"
                 "c10::BFloat16>, at::detail::Array<char*, 3>)", 2 << (variant & 1));
        elementwise(k, tokens * d, 1, 0, 0);
        break;
    case K_LAYERNORM:
    case K_LAYERNORM_BWD: {
        int bwd = kind == K_LAYERNORM_BWD;
        snprintf(k->name, sizeof k->name,
                 bwd ? "void at::native::(anonymous namespace)::layer_norm_grad_input_kernel_"
                       "vectorized<c10::BFloat16, float>(c10::BFloat16 const*, c10::BFloat16 const*,"
                       " float const*, float const*, c10::BFloat16 const*, c10::BFloat16*, int)"
                     : "void at::native::(anonymous namespace)::vectorized_layer_norm_kernel<"
                       "c10::BFloat16, float>(int, float, c10::BFloat16 const*, c10::BFloat16 const*,"
                       " c10::BFloat16 const*, float*, float*, c10::BFloat16*)");
        elementwise(k, tokens * d, bwd ? 5 : 3, bwd ? 3 : 2, bwd ? 3 : 2);
        k->role = bwd ? ROLE_BACKWARD : ROLE_FORWARD;
        k->block[0] = 256;
        break;
    }
    case K_ADAM:
        snprintf(k->name, sizeof k->name,
                 "void at::native::(anonymous namespace)::multi_tensor_apply_kernel<at::native::"
                 "(anonymous namespace)::TensorListMetadata<4>, at::native::(anonymous namespace)::"
                 "FusedAdamMathFunctor<float, 4, (at::native::ADAM_MODE)1, false>, float*, double,"
                 " double, double, double, double, bool, float*, float*>(at::native::(anonymous "
                 "namespace)::TensorListMetadata<4>, ...)");
        elementwise(k, 12.0 * d * d * s, 3, 4, 4);
        k->role = ROLE_OPTIMIZER;
        k->block[0] = 512;
        break;
    case K_NCCL:
        snprintf(k->name, sizeof k->name,
                 "ncclDevKernel_AllReduce_Sum_bf16_RING_LL(ncclDevKernelArgsStorage<4096ul>)");
        elementwise(k, 12.0 * d * d * s / 8, 1, 0, 0);
        k->role = ROLE_COMMUNICATION;
        k->block[0] = 640;
        break;
    case K_EMBEDDING:
        snprintf(k->name, sizeof k->name,
                 "void at::native::(anonymous namespace)::indexSelectLargeIndex<c10::BFloat16, long,"
                 " unsigned int, 2, 2, -2, true>(at::cuda::detail::TensorInfo<c10::BFloat16, "
                 "unsigned int>, at::cuda::detail::TensorInfo<c10::BFloat16 const, unsigned int>, "
                 "at::cuda::detail::TensorInfo<long const, unsigned int>, int, int, unsigned int, "
                 "unsigned int, long)");
        k->role = ROLE_FORWARD; /* a gather: no floating-point work at all */
        break;
    case K_SOFTMAX:
        snprintf(k->name, sizeof k->name,
                 "void at::native::(anonymous namespace)::cunn_SoftMaxForward<4, float, float, "
                 "float, at::native::(anonymous namespace)::LogSoftMaxForwardEpilogue>(float*, "
                 "float const*, int)");
        elementwise(k, tokens * m->vocab / 16.0, 2, 1, 1);
        k->role = ROLE_FORWARD;
        break;
    case K_NORM_FP64:
        snprintf(k->name, sizeof k->name,
                 "void at::native::reduce_kernel<512, 1, at::native::ReduceOp<double, at::native::"
                 "NormTwoOps<double, double, double>, unsigned int, double, 4> >(at::native::"
                 "ReduceOp<double, at::native::NormTwoOps<double, double, double>, unsigned int, "
                 "double, 4>)");
        add(k, G_SASS, M_DFMA, 12.0 * d * d * s / 64);
        add(k, G_SASS, M_DADD, 1024);
        k->role = ROLE_OPTIMIZER;
        k->block[0] = 512;
        break;
    case K_SCALE_FP16:
        snprintf(k->name, sizeof k->name,
                 "void at::native::vectorized_elementwise_kernel<4, at::native::MulFunctor<c10::"
                 "Half>, at::detail::Array<char*, 3> >(int, at::native::MulFunctor<c10::Half>, "
                 "at::detail::Array<char*, 3>)");
        add(k, G_SASS, M_HMUL, tokens * d);
        add(k, G_SASS, M_HFMA, tokens * d / 4);
        break;
    case K_TOPK:
        snprintf(k->name, sizeof k->name,
                 "void at::native::sbtopk::gatherTopK<float, unsigned int, 2, false>(at::cuda::"
                 "detail::TensorInfo<float const, unsigned int>, unsigned int, unsigned int, bool,"
                 " unsigned int, unsigned int, at::cuda::detail::TensorInfo<float, unsigned int>, "
                 "unsigned int, at::cuda::detail::TensorInfo<long, unsigned int>, unsigned int, "
                 "float*)");
        elementwise(k, tokens * 8, 1, 0, 1);
        k->role = ROLE_FORWARD;
        k->noise = 0.15; /* routing decides the work: it changes from launch to launch */
        break;
    }
    /* data-dependent work: attention over packed sequences of varying length, and grouped
     * GEMMs whose tokens per expert vary from step to step */
    if ((kind == K_FLASH_FWD || kind == K_FLASH_BWD) && fm_rng_uniform(rng) < 0.3)
        k->noise = 0.10;
    if (kind == K_GEMM_WGMMA && fm_rng_uniform(rng) < 0.05)
        k->noise = 0.20;
    double threads = 0;
    for (int i = 0; i < k->n_comp; i++)
        threads += k->comp[i].count;
    k->grid[0] = (uint32_t)fmin(65535.0, fmax(1.0, ceil(sqrt(threads) / k->block[0])));
    k->grid[1] = 1 + (uint32_t)(variant >> 1);
    k->grid[2] = 1;
    k->shared_mem = (kind <= K_FLASH_BWD) ? 98304 + 16384 * (uint64_t)variant : 0;
    k->arg_hash = fm_rng_next(rng);
    finish(k);
}
