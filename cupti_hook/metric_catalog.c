/* metric_catalog.c - the leaf metrics of each chip family (see metric_catalog.h).
 *
 * Why these leaves and not others:
 * - CUDA cores: the nine smsp__sass_thread_inst_executed_op_{f,d,h}{add,mul,fma}_pred_on
 *   counters exist on every family and fit one pass together. Conversions, comparisons and
 *   special functions (MUFU) are not counted as operations, as in Nsight Compute's roofline.
 * - Tensor cores: the finest sm__ops_path_tensor_* counters that do not overlap. Where a
 *   counter exists split into _sparsity_off and _sparsity_on, the halves are the leaves: they
 *   keep 2:4-sparse work apart, and some halves fit one pass where their sum does not (on
 *   GH100 op_imma_src_int8 takes two passes, each half one). Aggregates such as
 *   src_fp16 (= every FP16 path) are never listed next to their parts.
 * - INT1 (bmma/bgmma) is left out: no precision class exists for it, and no training
 *   workload uses it. The _realtime variants of Blackwell are left out: they are meant for
 *   PM sampling and count the same work again. */
#include "metric_catalog.h"

#include <string.h>

#define TENSOR_CLASS(fmt) ((uint8_t)((fmt) | FM_CLASS_TENSOR))

#define SASS(op, fmt, weight, flags)                                                          \
    {"smsp__sass_thread_inst_executed_op_" op "_pred_on.sum", (uint8_t)(fmt),                 \
     FM_SPARSITY_NONE, (uint8_t)(FM_METRIC_INSTRUMENTED | (flags)), (weight)}

/* The half-precision counters also count BF16 (HFMA2.BF16): the sass counters do not tell
 * the two apart, so their work is reported as fp16.cuda. */
#define HALF_FLAGS (FM_METRIC_WEIGHT_OPEN | FM_METRIC_FORMATS_MERGED)

#define CUDA_CORE_LEAVES                                                                       \
    SASS("fadd", FM_FMT_FP32, FM_WEIGHT_ADD, 0), SASS("fmul", FM_FMT_FP32, FM_WEIGHT_MUL, 0),  \
        SASS("ffma", FM_FMT_FP32, FM_WEIGHT_FMA, 0),                                           \
        SASS("dadd", FM_FMT_FP64, FM_WEIGHT_ADD, 0), SASS("dmul", FM_FMT_FP64, FM_WEIGHT_MUL, 0), \
        SASS("dfma", FM_FMT_FP64, FM_WEIGHT_FMA, 0),                                           \
        SASS("hadd", FM_FMT_FP16, FM_HALF_VALUES_PER_INST * FM_WEIGHT_ADD, HALF_FLAGS),        \
        SASS("hmul", FM_FMT_FP16, FM_HALF_VALUES_PER_INST * FM_WEIGHT_MUL, HALF_FLAGS),        \
        SASS("hfma", FM_FMT_FP16, FM_HALF_VALUES_PER_INST * FM_WEIGHT_FMA, HALF_FLAGS)

/* A tensor counter without sparsity variants (FP64: 2:4 sparsity does not exist for it). */
#define TENSOR(leaf, fmt, flags)                                                               \
    {"sm__ops_path_tensor_" leaf ".sum", TENSOR_CLASS(fmt), FM_SPARSITY_NONE,                  \
     (uint8_t)(FM_METRIC_WEIGHT_OPEN | (flags)), FM_WEIGHT_TENSOR_OP}

/* A tensor counter split by sparsity: its two halves. */
#define TENSOR_SPLIT(leaf, fmt, flags)                                                         \
    {"sm__ops_path_tensor_" leaf "_sparsity_off.sum", TENSOR_CLASS(fmt), FM_SPARSITY_OFF,      \
     (uint8_t)(FM_METRIC_WEIGHT_OPEN | (flags)), FM_WEIGHT_TENSOR_OP},                         \
        {"sm__ops_path_tensor_" leaf "_sparsity_on.sum",                                       \
         (uint8_t)(TENSOR_CLASS(fmt) | FM_CLASS_SPARSE), FM_SPARSITY_ON,                       \
         (uint8_t)(FM_METRIC_WEIGHT_OPEN | (flags)), FM_WEIGHT_TENSOR_SPARSE_OP}

#define MERGED FM_METRIC_FORMATS_MERGED

const fm_catalog_metric fm_catalog_duration = {FM_METRIC_DURATION, FM_CLASS_NONE,
                                               FM_SPARSITY_NONE, 0, 0.0};

/* Ampere (GA100 and GA10x): one counter per source/destination format, whatever the
 * instruction. CUPTI has src_fp64 for GA10x as for GA100, so both list it. */
#define AMPERE_TENSOR_LEAVES                                                                   \
    TENSOR_SPLIT("src_fp16_dst_fp16", FM_FMT_FP16, 0),                                         \
        TENSOR_SPLIT("src_fp16_dst_fp32", FM_FMT_FP16, 0),                                     \
        TENSOR_SPLIT("src_bf16_dst_fp32", FM_FMT_BF16, 0),                                     \
        TENSOR_SPLIT("src_tf32_dst_fp32", FM_FMT_TF32, 0),                                     \
        TENSOR_SPLIT("src_int8", FM_FMT_INT8, 0), TENSOR_SPLIT("src_int4", FM_FMT_INT4, 0),    \
        TENSOR("src_fp64", FM_FMT_FP64, 0)

static const fm_catalog_metric ampere_metrics[] = {CUDA_CORE_LEAVES, AMPERE_TENSOR_LEAVES};

/* Ada adds FP8. */
static const fm_catalog_metric ada_metrics[] = {CUDA_CORE_LEAVES, AMPERE_TENSOR_LEAVES,
                                                TENSOR_SPLIT("src_fp8", FM_FMT_FP8, 0)};

/* Hopper: the 16-bit, TF32 and INT8 counters are split by instruction, warpgroup MMA (wgmma:
 * hgmma, igmma) and warp MMA (mma.sync: hmma, imma). The per-format sums (src_fp16,
 * src_int8) are not used: src_fp16 alone needs two passes. src_fp16_dst_fp32 does not exist
 * on GH100. FP8 and FP64 have only the per-format counter. */
static const fm_catalog_metric hopper_metrics[] = {
    CUDA_CORE_LEAVES,
    TENSOR_SPLIT("op_hgmma_src_fp16", FM_FMT_FP16, 0), /* both destinations */
    TENSOR_SPLIT("op_hgmma_src_bf16_dst_fp32", FM_FMT_BF16, 0),
    TENSOR_SPLIT("op_hgmma_src_tf32_dst_fp32", FM_FMT_TF32, 0),
    TENSOR_SPLIT("op_hmma_src_fp16_dst_fp16", FM_FMT_FP16, 0),
    TENSOR_SPLIT("op_hmma_src_fp16_dst_fp32", FM_FMT_FP16, 0),
    TENSOR_SPLIT("op_hmma_src_bf16_dst_fp32", FM_FMT_BF16, 0),
    TENSOR_SPLIT("op_hmma_src_tf32_dst_fp32", FM_FMT_TF32, 0),
    TENSOR_SPLIT("op_igmma_src_int8", FM_FMT_INT8, 0),
    TENSOR_SPLIT("op_imma_src_int8", FM_FMT_INT8, 0),
    TENSOR_SPLIT("src_fp8", FM_FMT_FP8, 0),
    TENSOR("src_fp64", FM_FMT_FP64, 0),
};

/* Blackwell: mma.sync (hmma, imma) and the tensor-memory MMA of tcgen05 (utchmma: 16-bit
 * and TF32; utcimma: INT8; utcomma: FP4; utcqmma: block-scaled FP4/FP6/FP8). OPEN: whether
 * an FP8 mma.sync (not tcgen05) lands in any of these leaves on GB10x; only the per-format
 * sum src_fp4_fp6_fp8_* would then see it. */
#define BLACKWELL_MMA_SYNC_LEAVES                                                              \
    TENSOR_SPLIT("op_hmma_src_fp16_dst_fp16", FM_FMT_FP16, 0),                                 \
        TENSOR_SPLIT("op_hmma_src_fp16_dst_fp32", FM_FMT_FP16, 0),                             \
        TENSOR_SPLIT("op_hmma_src_bf16_dst_fp32", FM_FMT_BF16, 0),                             \
        TENSOR_SPLIT("op_hmma_src_tf32_dst_fp32", FM_FMT_TF32, 0),                             \
        TENSOR_SPLIT("op_imma_src_int8", FM_FMT_INT8, 0)

#define BLACKWELL_UTC_16BIT_LEAVES                                                             \
    TENSOR_SPLIT("op_utchmma_src_fp16_dst_fp16", FM_FMT_FP16, 0),                              \
        TENSOR_SPLIT("op_utchmma_src_fp16_dst_fp32", FM_FMT_FP16, 0),                          \
        TENSOR_SPLIT("op_utchmma_src_bf16_dst_fp32", FM_FMT_BF16, 0),                          \
        TENSOR_SPLIT("op_utchmma_src_tf32_dst_fp32", FM_FMT_TF32, 0)

static const fm_catalog_metric gb10x_metrics[] = {
    CUDA_CORE_LEAVES,
    BLACKWELL_MMA_SYNC_LEAVES,
    BLACKWELL_UTC_16BIT_LEAVES,
    TENSOR_SPLIT("op_utcimma_src_int8", FM_FMT_INT8, 0),
    TENSOR_SPLIT("op_utcomma_src_fp4_dst_fp32", FM_FMT_FP4, 0),
    TENSOR_SPLIT("op_utcqmma_src_fp4_fp6_fp8_dst_fp16", FM_FMT_FP8, MERGED),
    TENSOR_SPLIT("op_utcqmma_src_fp4_fp6_fp8_dst_fp32", FM_FMT_FP8, MERGED),
    TENSOR("src_fp64", FM_FMT_FP64, 0),
};

/* GB110: utcqmma is split into FP8 and FP4/FP6; there is no utcimma counter. */
static const fm_catalog_metric gb11x_metrics[] = {
    CUDA_CORE_LEAVES,
    BLACKWELL_MMA_SYNC_LEAVES,
    BLACKWELL_UTC_16BIT_LEAVES,
    TENSOR_SPLIT("op_utcomma_src_fp4_dst_fp32", FM_FMT_FP4, 0),
    TENSOR_SPLIT("op_utcqmma_src_fp4_fp6_dst_fp16", FM_FMT_FP6, MERGED),
    TENSOR_SPLIT("op_utcqmma_src_fp4_fp6_dst_fp32", FM_FMT_FP6, MERGED),
    TENSOR_SPLIT("op_utcqmma_src_fp8_dst_fp16", FM_FMT_FP8, 0),
    TENSOR_SPLIT("op_utcqmma_src_fp8_dst_fp32", FM_FMT_FP8, 0),
    TENSOR("src_fp64", FM_FMT_FP64, 0),
};

/* GB20x has no tcgen05: mma.sync counters for 16-bit, TF32 and INT8, per-format counters
 * (split by sparsity) for the 8-, 6- and 4-bit formats. */
static const fm_catalog_metric gb20x_metrics[] = {
    CUDA_CORE_LEAVES,
    BLACKWELL_MMA_SYNC_LEAVES,
    TENSOR_SPLIT("src_fp8_dst_fp16", FM_FMT_FP8, 0),
    TENSOR_SPLIT("src_fp8_dst_fp32", FM_FMT_FP8, 0),
    TENSOR_SPLIT("src_fp4_fp6_dst_fp16", FM_FMT_FP6, MERGED),
    TENSOR_SPLIT("src_fp4_fp6_dst_fp32", FM_FMT_FP6, MERGED),
    TENSOR_SPLIT("src_fp4_dst_fp32", FM_FMT_FP4, 0),
    TENSOR("src_fp64", FM_FMT_FP64, 0),
};

static const char *const ga100_chips[] = {"GA100", NULL};
static const char *const ga10x_chips[] = {"GA102", "GA103", "GA104", "GA106", "GA107", "GA10B",
                                          NULL};
static const char *const ad10x_chips[] = {"AD102", "AD103", "AD104", "AD106", "AD107", NULL};
static const char *const gh100_chips[] = {"GH100", NULL};
static const char *const gb10x_chips[] = {"GB100", "GB102", "GB10B", NULL};
static const char *const gb11x_chips[] = {"GB110", NULL};
static const char *const gb20x_chips[] = {"GB202", "GB203", "GB205", "GB206", "GB207", "GB20B",
                                          NULL};

#define FAMILY(id, name, chips, metrics)                                                       \
    [id] = {id, name, chips, metrics, sizeof metrics / sizeof *metrics}

static const fm_chip_family families[FM_FAMILY_COUNT] = {
    FAMILY(FM_FAMILY_GA100, "GA100", ga100_chips, ampere_metrics),
    FAMILY(FM_FAMILY_GA10X, "GA10x", ga10x_chips, ampere_metrics),
    FAMILY(FM_FAMILY_AD10X, "AD10x", ad10x_chips, ada_metrics),
    FAMILY(FM_FAMILY_GH100, "GH100", gh100_chips, hopper_metrics),
    FAMILY(FM_FAMILY_GB10X, "GB10x", gb10x_chips, gb10x_metrics),
    FAMILY(FM_FAMILY_GB11X, "GB11x", gb11x_chips, gb11x_metrics),
    FAMILY(FM_FAMILY_GB20X, "GB20x", gb20x_chips, gb20x_metrics),
};

#define FITS(metrics)                                                                          \
    _Static_assert(sizeof metrics / sizeof *metrics <= FM_CATALOG_MAX_METRICS,                 \
                   #metrics " has more leaves than FM_CATALOG_MAX_METRICS")
FITS(ampere_metrics);
FITS(ada_metrics);
FITS(hopper_metrics);
FITS(gb10x_metrics);
FITS(gb11x_metrics);
FITS(gb20x_metrics);

const fm_chip_family *fm_catalog_family(enum fm_chip_family_id id)
{
    if ((unsigned)id >= FM_FAMILY_COUNT)
        return NULL;
    return &families[id];
}

const fm_chip_family *fm_catalog_for_chip(const char *chip)
{
    if (!chip)
        return NULL;
    for (size_t f = 0; f < FM_FAMILY_COUNT; f++)
        for (const char *const *c = families[f].chips; *c; c++)
            if (strcmp(*c, chip) == 0)
                return &families[f];
    return NULL;
}

int fm_catalog_class_ops(const fm_catalog_metric *const *metrics, const double *values,
                         size_t n, fm_class_ops *out, size_t max)
{
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = metrics[i]->precision_class;
        if (c == FM_CLASS_NONE)
            continue;
        size_t at = 0;
        while (at < used && out[at].precision_class < c)
            at++;
        if (at == used || out[at].precision_class != c) {
            if (used == max)
                return -1;
            memmove(&out[at + 1], &out[at], (used - at) * sizeof *out);
            out[at] = (fm_class_ops){.precision_class = c, .ops = 0.0};
            used++;
        }
        out[at].ops += fm_catalog_ops(metrics[i], values[i]);
    }
    return (int)used;
}
