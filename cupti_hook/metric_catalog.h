/* metric_catalog.h - which hardware counters count the operations of each GPU chip family,
 * and what one count is worth.
 *
 * For every supported chip family the catalog lists the "leaf" metrics that together
 * partition the arithmetic a kernel executes: no operation is counted by two of them, so the
 * weighted sum over the leaves is the kernel's total. Each leaf carries the precision class
 * it counts (trace_format.h: number format, CUDA or tensor cores, 2:4 sparsity) and its
 * weight, the operations one counted unit stands for.
 *
 * The catalog is read-only static data: no CUPTI call, no allocation, safe from any thread.
 * Every name in it was checked against CUPTI's profiler host API for every chip its family
 * names (tests/hook/test_metric_catalog.cpp); docs/methodology.md, "The metric catalog",
 * says what each family counts and which weights are still open. */
#ifndef FM_HOOK_METRIC_CATALOG_H
#define FM_HOOK_METRIC_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include "flopmeter/trace_format.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- weights --------------------------------------------------------------------------- */

/* CUDA cores. The instrumented ("sass") counters count thread-level instructions executed
 * with their predicate on; an add or a multiply is one operation, a fused multiply-add two. */
#define FM_WEIGHT_ADD 1.0
#define FM_WEIGHT_MUL 1.0
#define FM_WEIGHT_FMA 2.0

/* Half precision on CUDA cores runs as HADD2/HMUL2/HFMA2, each holding two 16-bit values.
 * OPEN: whether one counted instruction stands for two operations (packed half2 code, as
 * Nsight Compute's half-precision roofline counts) or one (scalar __hadd/__hfma, which the
 * compiler also emits as HFMA2 with one useful lane; CUPTI's legacy flop_count_hp counts
 * it so). Until a calibration kernel of each kind settles it, the packed reading is used:
 * it never counts fewer operations than were executed. */
#define FM_HALF_VALUES_PER_INST 2.0

/* Tensor cores. The sm__ops_path_tensor_* counters count "math ops" of the tensor path. One
 * math op is taken to be one floating-point operation (a multiply-add of one element pair
 * counts two): a public report found the Blackwell FP8 counter equal to 2*M*N*K for a GEMM of
 * known shape. OPEN on Ampere, Ada and Hopper, and per format: calibrate with GEMMs of known
 * shape (mma.sync, wgmma, tcgen05, cuBLAS). */
#define FM_WEIGHT_TENSOR_OP 1.0
/* OPEN: whether a 2:4-sparse instruction counts the multiplications it skips (the dense
 * equivalent, as NVIDIA's sparse peak figures do) or only those executed. */
#define FM_WEIGHT_TENSOR_SPARSE_OP 1.0

/* ---- metrics --------------------------------------------------------------------------- */

/* The duration every group should carry, so that a measured launch has its own time. It
 * counts no operations (class FM_CLASS_NONE, weight 0). */
#define FM_METRIC_DURATION "gpu__time_duration.sum"

/* Whether a leaf belongs to a counter split by 2:4 structured sparsity. */
enum fm_sparsity {
    FM_SPARSITY_NONE = 0, /* the counter has no _sparsity_on/_off variants (CUDA cores, FP64) */
    FM_SPARSITY_OFF = 1,  /* the dense half of a split counter (_sparsity_off) */
    FM_SPARSITY_ON = 2,   /* the 2:4-sparse half (_sparsity_on); class has FM_CLASS_SPARSE */
};

/* Flags of a leaf. */
#define FM_METRIC_INSTRUMENTED 0x1u  /* a sass metric: CUPTI patches the kernel's code to count
                                        it; it never shares a pass with hardware counters, the
                                        duration included, and it slows the kernel measured */
#define FM_METRIC_WEIGHT_OPEN 0x2u   /* the weight awaits calibration on hardware (above) */
#define FM_METRIC_FORMATS_MERGED 0x4u /* the counter covers several formats (HFMA2 counts FP16
                                         and BF16; Blackwell's block-scaled counters FP4, FP6
                                         and FP8); the class names the widest of them */

typedef struct fm_catalog_metric {
    const char *name;        /* the metric as CUPTI evaluates it, with its rollup (".sum") */
    uint8_t precision_class; /* trace_format.h; FM_CLASS_NONE for the duration */
    uint8_t sparsity;        /* enum fm_sparsity */
    uint8_t flags;           /* FM_METRIC_* */
    double weight;           /* operations per counted unit */
} fm_catalog_metric;

/* The duration as a catalog entry, so a group can list it like any other metric. */
extern const fm_catalog_metric fm_catalog_duration;

/* ---- chip families --------------------------------------------------------------------- */

enum fm_chip_family_id {
    FM_FAMILY_GA100 = 0, /* A100, A30 */
    FM_FAMILY_GA10X,     /* GA102..GA107, GA10B: Ampere consumer and embedded */
    FM_FAMILY_AD10X,     /* AD102..AD107: Ada (L40, L4, RTX 40) */
    FM_FAMILY_GH100,     /* H100, H200, GH200 */
    FM_FAMILY_GB10X,     /* GB100, GB102, GB10B: Blackwell with tcgen05 */
    FM_FAMILY_GB11X,     /* GB110: tcgen05 counters split FP8 from FP4/FP6, none for INT8 */
    FM_FAMILY_GB20X,     /* GB202..GB207, GB20B: Blackwell without tcgen05 (mma.sync only) */
    FM_FAMILY_COUNT
};

/* The most leaves any family has; bounds the arrays of metric_groups.h. */
#define FM_CATALOG_MAX_METRICS 48

typedef struct fm_chip_family {
    enum fm_chip_family_id id;
    const char *name;              /* "GH100", "GA10x", ... */
    const char *const *chips;      /* the chip names, NULL-terminated */
    const fm_catalog_metric *metrics;
    size_t n_metrics;              /* at most FM_CATALOG_MAX_METRICS */
} fm_chip_family;

/* The family of a chip as cuptiDeviceGetChipName returns it ("GH100", "AD102"); NULL for a
 * chip the catalog does not know (older than Ampere, or newer than this release). */
const fm_chip_family *fm_catalog_for_chip(const char *chip);

/* Family by id; NULL when out of range. */
const fm_chip_family *fm_catalog_family(enum fm_chip_family_id id);

/* ---- operations from raw counts -------------------------------------------------------- */

static inline int fm_catalog_is_tensor(const fm_catalog_metric *m)
{
    return m->precision_class != FM_CLASS_NONE && (m->precision_class & FM_CLASS_TENSOR) != 0;
}

/* Integer formats (int8, int4) count integer operations, which reports keep apart from FLOP. */
static inline int fm_catalog_is_integer(const fm_catalog_metric *m)
{
    unsigned f = m->precision_class & FM_CLASS_FORMAT_MASK;
    return m->precision_class != FM_CLASS_NONE && (f == FM_FMT_INT8 || f == FM_FMT_INT4);
}

/* Operations one raw value stands for: value x weight. */
static inline double fm_catalog_ops(const fm_catalog_metric *m, double value)
{
    return value * m->weight;
}

typedef struct fm_class_ops {
    uint8_t precision_class;
    double ops;
} fm_class_ops;

/* Operations per precision class of one sample: values[i] is the raw value of metrics[i].
 * Writes one entry per class that occurs (metrics of class FM_CLASS_NONE are skipped), in
 * ascending class order as AGGREGATE records want them, into out (room for max entries).
 * Returns the number of entries, or -1 when out is too small. */
int fm_catalog_class_ops(const fm_catalog_metric *const *metrics, const double *values,
                         size_t n, fm_class_ops *out, size_t max);

#ifdef __cplusplus
}
#endif
#endif
