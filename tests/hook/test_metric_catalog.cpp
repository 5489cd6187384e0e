// test_metric_catalog.cpp - the metric catalog (metric_catalog.c), the single-pass group
// builder (metric_groups.c) and its oracle over CUPTI's profiler host API (profiler_host.c).
//
// Three kinds of test:
//   - the catalog as data, and operations from a synthetic sample (no CUPTI);
//   - the builder against FakePassOracle, a test double whose pass counts are a toy model of
//     counter hardware, so every branch of the builder is reached on purpose;
//   - the catalog against the real host API of the CUPTI the build found: every metric exists
//     on every chip its family names, every group built is really one pass, and the number of
//     groups per family is what docs/methodology.md says. The host API needs no GPU; these
//     tests are skipped (with the reason) only where libcupti cannot be loaded.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <cupti_profiler_host.h> // NVIDIA's declarations, to check cupti_host_abi.h against

#include "counter_configs.h"
#include "cupti_host_abi.h"
#include "flopmeter/trace_records.h"
#include "metric_catalog.h"
#include "metric_groups.h"
#include "profiler_host.h"

namespace {

// ---- cupti_host_abi.h has the layout of NVIDIA's header --------------------------------

#define SAME_FIELD(ours, theirs, field)                                                        \
    static_assert(offsetof(ours, field) == offsetof(theirs, field), #ours "." #field);         \
    static_assert(sizeof(((ours *)0)->field) == sizeof(((theirs *)0)->field), #ours "." #field)

SAME_FIELD(fm_cupti_host_initialize, CUpti_Profiler_Host_Initialize_Params, profilerType);
SAME_FIELD(fm_cupti_host_initialize, CUpti_Profiler_Host_Initialize_Params, pChipName);
SAME_FIELD(fm_cupti_host_initialize, CUpti_Profiler_Host_Initialize_Params,
           pCounterAvailabilityImage);
SAME_FIELD(fm_cupti_host_initialize, CUpti_Profiler_Host_Initialize_Params, pHostObject);
SAME_FIELD(fm_cupti_host_deinitialize, CUpti_Profiler_Host_Deinitialize_Params, pHostObject);
SAME_FIELD(fm_cupti_host_supported_chips, CUpti_Profiler_Host_GetSupportedChips_Params,
           numChips);
SAME_FIELD(fm_cupti_host_supported_chips, CUpti_Profiler_Host_GetSupportedChips_Params,
           ppChipNames);
SAME_FIELD(fm_cupti_host_add_metrics, CUpti_Profiler_Host_ConfigAddMetrics_Params, pHostObject);
SAME_FIELD(fm_cupti_host_add_metrics, CUpti_Profiler_Host_ConfigAddMetrics_Params,
           ppMetricNames);
SAME_FIELD(fm_cupti_host_add_metrics, CUpti_Profiler_Host_ConfigAddMetrics_Params, numMetrics);
SAME_FIELD(fm_cupti_host_config_size, CUpti_Profiler_Host_GetConfigImageSize_Params,
           configImageSize);
SAME_FIELD(fm_cupti_host_config_image, CUpti_Profiler_Host_GetConfigImage_Params,
           configImageSize);
SAME_FIELD(fm_cupti_host_config_image, CUpti_Profiler_Host_GetConfigImage_Params, pConfigImage);
SAME_FIELD(fm_cupti_host_num_passes, CUpti_Profiler_Host_GetNumOfPasses_Params,
           configImageSize);
SAME_FIELD(fm_cupti_host_num_passes, CUpti_Profiler_Host_GetNumOfPasses_Params, pConfigImage);
SAME_FIELD(fm_cupti_host_num_passes, CUpti_Profiler_Host_GetNumOfPasses_Params, numOfPasses);
SAME_FIELD(fm_cupti_host_evaluate, CUpti_Profiler_Host_EvaluateToGpuValues_Params, pHostObject);
SAME_FIELD(fm_cupti_host_evaluate, CUpti_Profiler_Host_EvaluateToGpuValues_Params,
           pCounterDataImage);
SAME_FIELD(fm_cupti_host_evaluate, CUpti_Profiler_Host_EvaluateToGpuValues_Params,
           counterDataImageSize);
SAME_FIELD(fm_cupti_host_evaluate, CUpti_Profiler_Host_EvaluateToGpuValues_Params, rangeIndex);
SAME_FIELD(fm_cupti_host_evaluate, CUpti_Profiler_Host_EvaluateToGpuValues_Params,
           ppMetricNames);
SAME_FIELD(fm_cupti_host_evaluate, CUpti_Profiler_Host_EvaluateToGpuValues_Params, numMetrics);
SAME_FIELD(fm_cupti_host_evaluate, CUpti_Profiler_Host_EvaluateToGpuValues_Params,
           pMetricValues);
static_assert(FM_CUPTI_PROFILER_TYPE_RANGE_PROFILER == CUPTI_PROFILER_TYPE_RANGE_PROFILER, "");
static_assert(sizeof(CUpti_ProfilerType) == sizeof(int), "");

TEST(CuptiHostAbi, StructSizesMatchNvidiasMacros)
{
    EXPECT_EQ(FM_CUPTI_HOST_INITIALIZE_SIZE, CUpti_Profiler_Host_Initialize_Params_STRUCT_SIZE);
    EXPECT_EQ(FM_CUPTI_HOST_DEINITIALIZE_SIZE,
              CUpti_Profiler_Host_Deinitialize_Params_STRUCT_SIZE);
    EXPECT_EQ(FM_CUPTI_HOST_SUPPORTED_CHIPS_SIZE,
              CUpti_Profiler_Host_GetSupportedChips_Params_STRUCT_SIZE);
    EXPECT_EQ(FM_CUPTI_HOST_ADD_METRICS_SIZE,
              CUpti_Profiler_Host_ConfigAddMetrics_Params_STRUCT_SIZE);
    EXPECT_EQ(FM_CUPTI_HOST_CONFIG_SIZE_SIZE,
              CUpti_Profiler_Host_GetConfigImageSize_Params_STRUCT_SIZE);
    EXPECT_EQ(FM_CUPTI_HOST_CONFIG_IMAGE_SIZE,
              CUpti_Profiler_Host_GetConfigImage_Params_STRUCT_SIZE);
    EXPECT_EQ(FM_CUPTI_HOST_NUM_PASSES_SIZE,
              CUpti_Profiler_Host_GetNumOfPasses_Params_STRUCT_SIZE);
    EXPECT_EQ(FM_CUPTI_HOST_EVALUATE_SIZE,
              CUpti_Profiler_Host_EvaluateToGpuValues_Params_STRUCT_SIZE);
}

// ---- helpers ----------------------------------------------------------------------------

std::vector<const fm_chip_family *> all_families()
{
    std::vector<const fm_chip_family *> out;
    for (int id = 0; id < FM_FAMILY_COUNT; id++)
        out.push_back(fm_catalog_family(static_cast<fm_chip_family_id>(id)));
    return out;
}

std::vector<std::string> all_catalog_chips()
{
    std::vector<std::string> out;
    for (const fm_chip_family *f : all_families())
        for (const char *const *c = f->chips; *c; c++)
            out.push_back(*c);
    return out;
}

bool ends_with(const std::string &s, const std::string &tail)
{
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

bool starts_with(const std::string &s, const std::string &head)
{
    return s.compare(0, head.size(), head) == 0;
}

// "sm__ops_path_tensor_op_imma_src_int8_sparsity_on.sum" -> "sm__ops_path_tensor_op_imma_src_int8"
std::string unsplit_base(const std::string &name)
{
    std::string base = name.substr(0, name.size() - 4); // ".sum"
    for (const char *suffix : {"_sparsity_on", "_sparsity_off"})
        if (ends_with(base, suffix))
            return base.substr(0, base.size() - std::strlen(suffix));
    return base;
}

const fm_catalog_metric *find_metric(const fm_chip_family *f, const std::string &name)
{
    for (size_t i = 0; i < f->n_metrics; i++)
        if (name == f->metrics[i].name)
            return &f->metrics[i];
    return nullptr;
}

std::string class_name(uint8_t c)
{
    char buf[32];
    return fm_precision_class_name(c, buf, sizeof buf);
}

// ---- the catalog as data ------------------------------------------------------------------

TEST(MetricCatalog, ChipNamesMapToTheirFamily)
{
    const std::map<std::string, std::string> expected = {
        {"GA100", "GA100"}, {"GA102", "GA10x"}, {"GA107", "GA10x"}, {"GA10B", "GA10x"},
        {"AD102", "AD10x"}, {"AD107", "AD10x"}, {"GH100", "GH100"}, {"GB100", "GB10x"},
        {"GB102", "GB10x"}, {"GB10B", "GB10x"}, {"GB110", "GB11x"}, {"GB202", "GB20x"},
        {"GB20B", "GB20x"}};
    for (const auto &[chip, family] : expected) {
        const fm_chip_family *f = fm_catalog_for_chip(chip.c_str());
        ASSERT_NE(f, nullptr) << chip;
        EXPECT_EQ(f->name, family) << chip;
        EXPECT_EQ(fm_catalog_family(f->id), f);
    }
}

TEST(MetricCatalog, UnknownChipsHaveNoFamily)
{
    // Older chips CUPTI still supports, a future chip, a wrong case, nothing at all.
    for (const char *chip : {"GV100", "TU102", "TU117", "GX100", "gh100", "GH10", "GH1000", ""})
        EXPECT_EQ(fm_catalog_for_chip(chip), nullptr) << chip;
    EXPECT_EQ(fm_catalog_for_chip(nullptr), nullptr);
    EXPECT_EQ(fm_catalog_family(FM_FAMILY_COUNT), nullptr);
}

TEST(MetricCatalog, EveryChipBelongsToExactlyOneFamily)
{
    std::set<std::string> seen;
    for (const std::string &chip : all_catalog_chips())
        EXPECT_TRUE(seen.insert(chip).second) << chip << " is in two families";
}

TEST(MetricCatalog, LeavesAreWellFormed)
{
    for (const fm_chip_family *f : all_families()) {
        SCOPED_TRACE(f->name);
        ASSERT_GT(f->n_metrics, 0u);
        ASSERT_LE(f->n_metrics, size_t{FM_CATALOG_MAX_METRICS});
        std::set<std::string> names;
        for (size_t i = 0; i < f->n_metrics; i++) {
            const fm_catalog_metric &m = f->metrics[i];
            const std::string name = m.name;
            SCOPED_TRACE(name);
            EXPECT_TRUE(names.insert(name).second) << "listed twice";
            EXPECT_TRUE(ends_with(name, ".sum"));
            EXPECT_TRUE(fm_precision_class_valid(m.precision_class))
                << class_name(m.precision_class);
            EXPECT_TRUE(std::isfinite(m.weight) && m.weight > 0);
            const bool sass = starts_with(name, "smsp__sass_thread_inst_executed_op_");
            const bool tensor = starts_with(name, "sm__ops_path_tensor_");
            EXPECT_TRUE(sass != tensor) << "neither a sass nor a tensor counter";
            EXPECT_EQ(fm_catalog_is_tensor(&m), tensor);
            EXPECT_EQ((m.flags & FM_METRIC_INSTRUMENTED) != 0, sass);
            // The sparsity field, the name and the class's sparse bit agree.
            const bool on = name.find("_sparsity_on.") != std::string::npos;
            const bool off = name.find("_sparsity_off.") != std::string::npos;
            EXPECT_EQ(m.sparsity, on ? FM_SPARSITY_ON : off ? FM_SPARSITY_OFF : FM_SPARSITY_NONE);
            EXPECT_EQ((m.precision_class & FM_CLASS_SPARSE) != 0, on);
        }
    }
}

TEST(MetricCatalog, NoLeafCountsWhatAnotherCounts)
{
    // A split counter is listed as its two halves and never next to its sum; and the two
    // halves come together.
    for (const fm_chip_family *f : all_families()) {
        SCOPED_TRACE(f->name);
        std::map<std::string, std::set<int>> halves;
        for (size_t i = 0; i < f->n_metrics; i++)
            halves[unsplit_base(f->metrics[i].name)].insert(f->metrics[i].sparsity);
        for (const auto &[base, kinds] : halves) {
            if (kinds.count(FM_SPARSITY_NONE))
                EXPECT_EQ(kinds.size(), 1u) << base << " is listed with its own halves";
            else
                EXPECT_EQ(kinds, (std::set<int>{FM_SPARSITY_OFF, FM_SPARSITY_ON})) << base;
        }
        // No per-format sum next to a per-instruction part of the same format: on Hopper and
        // Blackwell the tensor leaves are per instruction (op_), except for formats that only
        // have the per-format counter.
        for (size_t i = 0; i < f->n_metrics; i++) {
            const std::string a = unsplit_base(f->metrics[i].name);
            const std::string prefix = "sm__ops_path_tensor_src_";
            if (!starts_with(a, prefix))
                continue;
            const std::string format = a.substr(prefix.size());
            for (size_t j = 0; j < f->n_metrics; j++) {
                const std::string b = unsplit_base(f->metrics[j].name);
                EXPECT_FALSE(starts_with(b, "sm__ops_path_tensor_op_") &&
                             ends_with(b, "_src_" + format))
                    << a << " overlaps " << b;
            }
        }
    }
}

TEST(MetricCatalog, EveryFamilyCountsTheNineCudaCoreOperations)
{
    const std::map<std::string, std::pair<uint8_t, double>> expected = {
        {"fadd", {FM_FMT_FP32, 1.0}},
        {"fmul", {FM_FMT_FP32, 1.0}},
        {"ffma", {FM_FMT_FP32, 2.0}},
        {"dadd", {FM_FMT_FP64, 1.0}},
        {"dmul", {FM_FMT_FP64, 1.0}},
        {"dfma", {FM_FMT_FP64, 2.0}},
        {"hadd", {FM_FMT_FP16, FM_HALF_VALUES_PER_INST}},
        {"hmul", {FM_FMT_FP16, FM_HALF_VALUES_PER_INST}},
        {"hfma", {FM_FMT_FP16, 2.0 * FM_HALF_VALUES_PER_INST}},
    };
    for (const fm_chip_family *f : all_families()) {
        SCOPED_TRACE(f->name);
        size_t sass = 0;
        for (size_t i = 0; i < f->n_metrics; i++)
            sass += (f->metrics[i].flags & FM_METRIC_INSTRUMENTED) != 0;
        EXPECT_EQ(sass, expected.size());
        for (const auto &[op, cw] : expected) {
            const fm_catalog_metric *m =
                find_metric(f, "smsp__sass_thread_inst_executed_op_" + op + "_pred_on.sum");
            ASSERT_NE(m, nullptr) << op;
            EXPECT_EQ(m->precision_class, cw.first) << op;
            EXPECT_DOUBLE_EQ(m->weight, cw.second) << op;
            EXPECT_FALSE(fm_catalog_is_tensor(m));
            EXPECT_FALSE(fm_catalog_is_integer(m));
            // the half-precision weights are the open ones
            EXPECT_EQ((m->flags & FM_METRIC_WEIGHT_OPEN) != 0, op[0] == 'h') << op;
        }
    }
}

TEST(MetricCatalog, TensorLeavesCountOneOperationPerMathOp)
{
    for (const fm_chip_family *f : all_families()) {
        SCOPED_TRACE(f->name);
        for (size_t i = 0; i < f->n_metrics; i++) {
            const fm_catalog_metric &m = f->metrics[i];
            if (!fm_catalog_is_tensor(&m))
                continue;
            SCOPED_TRACE(m.name);
            EXPECT_DOUBLE_EQ(m.weight, m.sparsity == FM_SPARSITY_ON ? FM_WEIGHT_TENSOR_SPARSE_OP
                                                                    : FM_WEIGHT_TENSOR_OP);
            EXPECT_TRUE(m.flags & FM_METRIC_WEIGHT_OPEN) << "no tensor weight is calibrated yet";
            // int8 and int4 count integer operations; everything else floating point.
            const std::string name = m.name;
            const bool integer = name.find("_int8") != std::string::npos ||
                                 name.find("_int4") != std::string::npos;
            EXPECT_EQ(fm_catalog_is_integer(&m), integer);
            EXPECT_EQ(fm_precision_class_is_integer(m.precision_class), integer);
        }
    }
}

TEST(MetricCatalog, PrecisionClassesFollowTheSourceFormat)
{
    const fm_chip_family *h = fm_catalog_for_chip("GH100");
    ASSERT_NE(h, nullptr);
    const std::map<std::string, std::string> expected = {
        {"sm__ops_path_tensor_op_hgmma_src_fp16_sparsity_off.sum", "fp16.tensor"},
        {"sm__ops_path_tensor_op_hgmma_src_fp16_sparsity_on.sum", "fp16.tensor.sparse"},
        {"sm__ops_path_tensor_op_hmma_src_bf16_dst_fp32_sparsity_off.sum", "bf16.tensor"},
        {"sm__ops_path_tensor_op_hgmma_src_tf32_dst_fp32_sparsity_on.sum", "tf32.tensor.sparse"},
        {"sm__ops_path_tensor_op_imma_src_int8_sparsity_off.sum", "int8.tensor"},
        {"sm__ops_path_tensor_src_fp8_sparsity_on.sum", "fp8.tensor.sparse"},
        {"sm__ops_path_tensor_src_fp64.sum", "fp64.tensor"},
        {"smsp__sass_thread_inst_executed_op_dfma_pred_on.sum", "fp64.cuda"},
        {"smsp__sass_thread_inst_executed_op_hfma_pred_on.sum", "fp16.cuda"},
    };
    for (const auto &[name, cls] : expected) {
        const fm_catalog_metric *m = find_metric(h, name);
        ASSERT_NE(m, nullptr) << name;
        EXPECT_EQ(class_name(m->precision_class), cls) << name;
    }
    const fm_chip_family *b = fm_catalog_for_chip("GB100");
    ASSERT_NE(b, nullptr);
    const fm_catalog_metric *fp4 =
        find_metric(b, "sm__ops_path_tensor_op_utcomma_src_fp4_dst_fp32_sparsity_off.sum");
    ASSERT_NE(fp4, nullptr);
    EXPECT_EQ(class_name(fp4->precision_class), "fp4.tensor");
    const fm_catalog_metric *mixed =
        find_metric(b, "sm__ops_path_tensor_op_utcqmma_src_fp4_fp6_fp8_dst_fp32_sparsity_on.sum");
    ASSERT_NE(mixed, nullptr);
    EXPECT_EQ(class_name(mixed->precision_class), "fp8.tensor.sparse");
    EXPECT_TRUE(mixed->flags & FM_METRIC_FORMATS_MERGED);
}

TEST(MetricCatalog, TheDurationCountsNoOperations)
{
    EXPECT_STREQ(fm_catalog_duration.name, "gpu__time_duration.sum");
    EXPECT_EQ(fm_catalog_duration.precision_class, FM_CLASS_NONE);
    EXPECT_EQ(fm_catalog_duration.weight, 0.0);
    EXPECT_FALSE(fm_catalog_is_tensor(&fm_catalog_duration));
    EXPECT_FALSE(fm_catalog_is_integer(&fm_catalog_duration));
}

// ---- operations from a synthetic sample --------------------------------------------------

TEST(MetricCatalogOps, WeightedCountsPerClassFromASyntheticSample)
{
    const fm_chip_family *h = fm_catalog_for_chip("GH100");
    ASSERT_NE(h, nullptr);
    const std::vector<std::pair<std::string, double>> sample = {
        {"gpu__time_duration.sum", 123456.0}, // ns: no operations
        {"smsp__sass_thread_inst_executed_op_fadd_pred_on.sum", 10.0},
        {"smsp__sass_thread_inst_executed_op_ffma_pred_on.sum", 100.0},
        {"smsp__sass_thread_inst_executed_op_fmul_pred_on.sum", 5.0},
        {"smsp__sass_thread_inst_executed_op_dfma_pred_on.sum", 3.0},
        {"smsp__sass_thread_inst_executed_op_hfma_pred_on.sum", 4.0},
        {"smsp__sass_thread_inst_executed_op_hadd_pred_on.sum", 1.0},
        {"sm__ops_path_tensor_op_hgmma_src_fp16_sparsity_off.sum", 1.0e12},
        {"sm__ops_path_tensor_op_hmma_src_fp16_dst_fp32_sparsity_off.sum", 5.0e11},
        {"sm__ops_path_tensor_op_hgmma_src_fp16_sparsity_on.sum", 2.0e9},
        {"sm__ops_path_tensor_op_imma_src_int8_sparsity_off.sum", 7.0},
        {"sm__ops_path_tensor_src_fp64.sum", 0.0},
    };
    std::vector<const fm_catalog_metric *> metrics;
    std::vector<double> values;
    for (const auto &[name, value] : sample) {
        const fm_catalog_metric *m =
            name == fm_catalog_duration.name ? &fm_catalog_duration : find_metric(h, name);
        ASSERT_NE(m, nullptr) << name;
        metrics.push_back(m);
        values.push_back(value);
    }
    fm_class_ops out[16];
    int n = fm_catalog_class_ops(metrics.data(), values.data(), metrics.size(), out, 16);
    const double half = FM_HALF_VALUES_PER_INST;
    // One entry per class present, ascending by class byte (as AGGREGATE records want):
    // fp64.cuda 0x00, fp32.cuda 0x01, fp16.cuda 0x03, fp64.tensor 0x10, fp16.tensor 0x13,
    // int8.tensor 0x18, fp16.tensor.sparse 0x33. A class counted as 0 is still present.
    const std::vector<std::pair<std::string, double>> expected = {
        {"fp64.cuda", 3.0 * 2},
        {"fp32.cuda", 10.0 + 100.0 * 2 + 5.0},
        {"fp16.cuda", 4.0 * 2 * half + 1.0 * half},
        {"fp64.tensor", 0.0},
        {"fp16.tensor", 1.0e12 + 5.0e11},
        {"int8.tensor", 7.0},
        {"fp16.tensor.sparse", 2.0e9},
    };
    ASSERT_EQ(n, static_cast<int>(expected.size()));
    for (int i = 0; i < n; i++) {
        EXPECT_EQ(class_name(out[i].precision_class), expected[i].first) << i;
        EXPECT_DOUBLE_EQ(out[i].ops, expected[i].second) << expected[i].first;
    }
    EXPECT_TRUE(fm_precision_class_is_integer(out[5].precision_class))
        << "int8 work is integer operations, kept apart from FLOP";

    // Too little room is an error, not a silently shorter list; no metrics, no entries.
    EXPECT_EQ(fm_catalog_class_ops(metrics.data(), values.data(), metrics.size(), out, 6), -1);
    EXPECT_EQ(fm_catalog_class_ops(metrics.data(), values.data(), 0, out, 16), 0);
    EXPECT_EQ(fm_catalog_class_ops(metrics.data(), values.data(), 1, out, 0), 0)
        << "the duration alone gives no class";
}

TEST(MetricCatalogOps, OperationsOfOneCount)
{
    const fm_chip_family *a = fm_catalog_for_chip("GA100");
    ASSERT_NE(a, nullptr);
    const fm_catalog_metric *ffma =
        find_metric(a, "smsp__sass_thread_inst_executed_op_ffma_pred_on.sum");
    const fm_catalog_metric *int4 = find_metric(a, "sm__ops_path_tensor_src_int4_sparsity_on.sum");
    ASSERT_NE(ffma, nullptr);
    ASSERT_NE(int4, nullptr);
    EXPECT_DOUBLE_EQ(fm_catalog_ops(ffma, 1e9), 2e9);
    EXPECT_DOUBLE_EQ(fm_catalog_ops(int4, 1e9), 1e9 * FM_WEIGHT_TENSOR_SPARSE_OP);
    EXPECT_TRUE(fm_catalog_is_integer(int4));
    EXPECT_EQ(class_name(int4->precision_class), "int4.tensor.sparse");
}

// ---- the group builder against a fake oracle --------------------------------------------

// FakePassOracle: a test double for CUPTI's pass count. Each metric it knows has a counter
// domain and a cost; a pass holds `capacity` cost per domain; instrumented metrics never
// share a pass with hardware ones (as with CUPTI). Unknown names are rejected, as CUPTI
// rejects a metric the chip does not have. It records every question.
struct FakePassOracle {
    struct Metric {
        std::string domain;
        int cost;
        bool instrumented;
    };
    std::map<std::string, Metric> known;
    int capacity = 4;
    std::vector<std::vector<std::string>> questions;

    static int call(void *ctx, const char *const *metrics, size_t n, size_t *out_passes)
    {
        auto *self = static_cast<FakePassOracle *>(ctx);
        std::vector<std::string> q(metrics, metrics + n);
        self->questions.push_back(q);
        std::map<std::string, int> load;
        bool hw = false, sass = false;
        for (const std::string &name : q) {
            auto it = self->known.find(name);
            if (it == self->known.end())
                return 17; // "invalid metric name"
            load[it->second.domain] += it->second.cost;
            (it->second.instrumented ? sass : hw) = true;
        }
        size_t passes = 0;
        for (const auto &[domain, cost] : load)
            passes = std::max(passes, size_t((cost + self->capacity - 1) / self->capacity));
        *out_passes = passes + (hw && sass ? 1 : 0);
        return 0;
    }
};

fm_catalog_metric leaf(const char *name, uint8_t flags = 0)
{
    return fm_catalog_metric{name, FM_FMT_FP32, FM_SPARSITY_NONE, flags, 1.0};
}

struct FakeFamily {
    std::vector<fm_catalog_metric> metrics;
    const char *const chips[2] = {"FAKE1", nullptr};
    fm_chip_family family() const
    {
        return fm_chip_family{FM_FAMILY_GA100, "fake", chips, metrics.data(), metrics.size()};
    }
};

std::vector<std::vector<std::string>> group_names(const fm_group_plan &plan)
{
    std::vector<std::vector<std::string>> out;
    for (size_t g = 0; g < plan.n_groups; g++)
        out.emplace_back(plan.groups[g].names, plan.groups[g].names + plan.groups[g].n);
    return out;
}

class MetricGroupsFake : public ::testing::Test {
  protected:
    FakePassOracle oracle;
    FakeFamily fam;
    fm_group_plan plan{};

    void SetUp() override
    {
        oracle.known[FM_METRIC_DURATION] = {"gpu", 1, false};
        oracle.known["sass_a"] = {"sass", 1, true};
        oracle.known["sass_b"] = {"sass", 1, true};
        oracle.known["x1"] = {"x", 2, false};
        oracle.known["x2"] = {"x", 2, false};
        oracle.known["x3"] = {"x", 2, false}; // x1..x3 do not fit one pass (cost 6 > 4)
        oracle.known["y1"] = {"y", 3, false};
        oracle.known["huge"] = {"z", 5, false}; // two passes even alone
    }

    void build()
    {
        fm_chip_family f = fam.family();
        ASSERT_EQ(fm_groups_build(&f, FakePassOracle::call, &oracle, &plan), 0);
    }
};

TEST_F(MetricGroupsFake, FirstFitInCatalogOrderWithTheDurationWhereItFits)
{
    fam.metrics = {leaf("sass_a", FM_METRIC_INSTRUMENTED), leaf("x1"), leaf("x2"), leaf("x3"),
                   leaf("sass_b", FM_METRIC_INSTRUMENTED), leaf("y1")};
    build();
    const std::vector<std::vector<std::string>> expected = {
        {"sass_a", "sass_b"},                   // instrumented: no duration
        {FM_METRIC_DURATION, "x1", "x2", "y1"}, // y1 is in another domain: fits here
        {FM_METRIC_DURATION, "x3"},
    };
    EXPECT_EQ(group_names(plan), expected);
    EXPECT_EQ(plan.groups[0].has_duration, 0);
    EXPECT_EQ(plan.groups[1].has_duration, 1);
    EXPECT_EQ(plan.groups[2].has_duration, 1);
    EXPECT_EQ(plan.groups[1].metrics[0], &fm_catalog_duration);
    EXPECT_EQ(plan.n_multipass, 0u);
    EXPECT_EQ(plan.n_rejected, 0u);
    EXPECT_EQ(fm_groups_leaves_placed(&plan), fam.metrics.size());
    EXPECT_EQ(plan.oracle_calls, oracle.questions.size());
    // names[] and metrics[] agree, and point into the catalog
    for (size_t g = 0; g < plan.n_groups; g++)
        for (size_t i = 0; i < plan.groups[g].n; i++)
            EXPECT_EQ(plan.groups[g].names[i], plan.groups[g].metrics[i]->name);
    EXPECT_EQ(plan.groups[1].metrics[1], &fam.metrics[1]);
}

TEST_F(MetricGroupsFake, EveryGroupIsOnePassAndEveryLeafIsPlacedOnce)
{
    fam.metrics = {leaf("x1"), leaf("sass_a", FM_METRIC_INSTRUMENTED), leaf("y1"), leaf("x2"),
                   leaf("x3"), leaf("sass_b", FM_METRIC_INSTRUMENTED)};
    build();
    std::multiset<std::string> placed;
    for (const auto &g : group_names(plan)) {
        std::vector<const char *> names;
        for (const std::string &n : g) {
            names.push_back(n.c_str());
            if (n != FM_METRIC_DURATION)
                placed.insert(n);
        }
        size_t passes = 0;
        ASSERT_EQ(FakePassOracle::call(&oracle, names.data(), names.size(), &passes), 0);
        EXPECT_EQ(passes, 1u);
    }
    EXPECT_EQ(placed, (std::multiset<std::string>{"x1", "x2", "x3", "y1", "sass_a", "sass_b"}));
}

TEST_F(MetricGroupsFake, ALeafThatNeedsTwoPassesAloneIsReportedNotGrouped)
{
    fam.metrics = {leaf("x1"), leaf("huge"), leaf("y1")};
    build();
    ASSERT_EQ(plan.n_multipass, 1u);
    EXPECT_STREQ(plan.multipass[0]->name, "huge");
    EXPECT_EQ(plan.n_rejected, 0u);
    const std::vector<std::vector<std::string>> expected = {{FM_METRIC_DURATION, "x1", "y1"}};
    EXPECT_EQ(group_names(plan), expected);
    EXPECT_EQ(fm_groups_leaves_placed(&plan), 2u);
}

TEST_F(MetricGroupsFake, ALeafTheChipLacksIsRejectedNotFatal)
{
    fam.metrics = {leaf("x1"), leaf("not_on_this_chip"), leaf("x2")};
    build();
    ASSERT_EQ(plan.n_rejected, 1u);
    EXPECT_STREQ(plan.rejected[0]->name, "not_on_this_chip");
    const std::vector<std::vector<std::string>> expected = {{FM_METRIC_DURATION, "x1", "x2"}};
    EXPECT_EQ(group_names(plan), expected);
    // it was asked about once, alone, and never tried in a group
    size_t asked = 0;
    for (const auto &q : oracle.questions)
        for (const std::string &n : q)
            asked += n == "not_on_this_chip";
    EXPECT_EQ(asked, 1u);
}

TEST_F(MetricGroupsFake, WithoutRoomForTheDurationAGroupStartsWithoutIt)
{
    oracle.known["gpu_heavy"] = {"gpu", 4, false}; // fills the duration's domain alone
    oracle.known["gpu_light"] = {"gpu", 2, false}; // fits with the duration, not with gpu_heavy
    fam.metrics = {leaf("gpu_heavy"), leaf("gpu_light")};
    build();
    const std::vector<std::vector<std::string>> expected = {{"gpu_heavy"},
                                                            {FM_METRIC_DURATION, "gpu_light"}};
    EXPECT_EQ(group_names(plan), expected);
    EXPECT_EQ(plan.groups[0].has_duration, 0);
}

TEST_F(MetricGroupsFake, TheSameAnswersGiveTheSameGroups)
{
    fam.metrics = {leaf("x1"), leaf("sass_a", FM_METRIC_INSTRUMENTED), leaf("y1"), leaf("x2"),
                   leaf("x3"), leaf("huge"), leaf("nope")};
    build();
    auto first = group_names(plan);
    size_t calls = plan.oracle_calls;
    FakePassOracle again = oracle;
    again.questions.clear();
    fm_group_plan second{};
    fm_chip_family f = fam.family();
    ASSERT_EQ(fm_groups_build(&f, FakePassOracle::call, &again, &second), 0);
    EXPECT_EQ(group_names(second), first);
    EXPECT_EQ(second.oracle_calls, calls);
    EXPECT_EQ(again.questions, std::vector<std::vector<std::string>>(
                                   oracle.questions.begin(), oracle.questions.begin() + calls));
}

TEST_F(MetricGroupsFake, AnOracleThatRejectsEverythingLeavesNoGroups)
{
    // An unknown chip, or counters all taken: the builder reports, it does not fail.
    oracle.known.clear();
    fam.metrics = {leaf("x1"), leaf("y1")};
    build();
    EXPECT_EQ(plan.n_groups, 0u);
    EXPECT_EQ(plan.n_rejected, 2u);
}

TEST(MetricGroups, BadArguments)
{
    fm_group_plan plan{};
    FakePassOracle oracle;
    const fm_chip_family *f = fm_catalog_for_chip("GH100");
    EXPECT_EQ(fm_groups_build(nullptr, FakePassOracle::call, &oracle, &plan), -1);
    EXPECT_EQ(plan.n_groups, 0u);
    EXPECT_EQ(fm_groups_build(f, nullptr, &oracle, &plan), -1);
    EXPECT_EQ(fm_groups_build(f, FakePassOracle::call, &oracle, nullptr), -1);
}

// ---- the catalog against CUPTI's profiler host API ----------------------------------------

// Loads libcupti once: FLOPMETER_CUPTI if set, else the loader's search path, else the CUPTI
// the build found. Empty string when loaded, else why not.
const std::string &cupti_load_error()
{
    static const std::string error = [] {
        if (!std::getenv("FLOPMETER_CUPTI") && std::strlen(FLOPMETER_TEST_CUPTI) > 0) {
            char probe[256];
            if (fm_profiler_host_load(probe, sizeof probe) == 0)
                return std::string();
            setenv("FLOPMETER_CUPTI", FLOPMETER_TEST_CUPTI, 1);
        }
        char err[256] = "";
        return fm_profiler_host_load(err, sizeof err) == 0 ? std::string() : std::string(err);
    }();
    return error;
}

// CUPTI loads its host library (libnvperf_host.so) with RTLD_DEEPBIND, which
// AddressSanitizer's runtime refuses by ending the process: the sanitized build skips these.
#define REQUIRE_CUPTI()                                                                        \
    do {                                                                                       \
        if (FLOPMETER_TESTS_SANITIZED)                                                         \
            GTEST_SKIP() << "CUPTI's host library is loaded with RTLD_DEEPBIND, which "        \
                            "AddressSanitizer does not allow; run the unsanitized build";      \
        if (!cupti_load_error().empty())                                                       \
            GTEST_SKIP() << "libcupti cannot be loaded, so CUPTI's profiler host API cannot "  \
                            "be asked: "                                                       \
                         << cupti_load_error();                                                \
    } while (0)

// Passes of these metrics together on chip, or -(CUptiResult) when CUPTI rejects them.
long passes_of(const std::string &chip, const std::vector<std::string> &metrics)
{
    fm_host_oracle o{};
    o.chip = chip.c_str();
    std::vector<const char *> names;
    for (const std::string &m : metrics)
        names.push_back(m.c_str());
    size_t passes = 0;
    int r = fm_profiler_host_passes(&o, names.data(), names.size(), &passes);
    return r == 0 ? static_cast<long>(passes) : -static_cast<long>(r);
}

// What the host API of CUPTI 13.0 says; docs/methodology.md, "The metric catalog", lists the
// same. A CUPTI whose counters pack differently fails here: update both.
const std::map<std::string, size_t> kGroupsPerFamily = {
    {"GA100", 9}, {"GA10x", 9}, {"AD10x", 10}, {"GH100", 7},
    {"GB10x", 9}, {"GB11x", 9}, {"GB20x", 11},
};

TEST(ProfilerHost, SupportsEveryChipTheCatalogNames)
{
    REQUIRE_CUPTI();
    const char *const *chips = nullptr;
    size_t n = 0;
    ASSERT_EQ(fm_profiler_host_chips(&chips, &n), 0);
    std::set<std::string> supported(chips, chips + n);
    for (const std::string &chip : all_catalog_chips())
        EXPECT_TRUE(supported.count(chip)) << chip << " is not supported by this CUPTI";
    // Chips CUPTI supports that the catalog leaves out: only those older than Ampere.
    for (const std::string &chip : supported) {
        if (!fm_catalog_for_chip(chip.c_str())) {
            EXPECT_TRUE(starts_with(chip, "GV") || starts_with(chip, "TU"))
                << chip << " is supported by CUPTI but in no catalog family";
        }
    }
}

TEST(ProfilerHost, AnUnknownChipIsRejectedAndGivesNoGroups)
{
    REQUIRE_CUPTI();
    EXPECT_LT(passes_of("GX999", {FM_METRIC_DURATION}), 0);
    fm_host_oracle o{};
    o.chip = "GX999";
    fm_group_plan plan{};
    const fm_chip_family *f = fm_catalog_for_chip("GH100");
    ASSERT_EQ(fm_groups_build(f, fm_profiler_host_passes, &o, &plan), 0);
    EXPECT_EQ(plan.n_groups, 0u);
    EXPECT_EQ(plan.n_rejected, f->n_metrics);
    EXPECT_STREQ(o.last_call, "cuptiProfilerHostInitialize");
    EXPECT_NE(std::string(fm_profiler_host_result_string(o.last_result)), "");
}

TEST(ProfilerHost, RejectsAMetricTheChipLacks)
{
    REQUIRE_CUPTI();
    // Used by many public scripts, absent on Hopper.
    fm_host_oracle o{};
    o.chip = "GH100";
    const char *name = "sm__ops_path_tensor_src_fp16_dst_fp32.sum";
    size_t passes = 0;
    EXPECT_NE(fm_profiler_host_passes(&o, &name, 1, &passes), 0);
    EXPECT_STREQ(o.last_call, "cuptiProfilerHostConfigAddMetrics");
    // CUPTI 13.0 answers INVALID_PARAMETER where its header promises INVALID_METRIC_NAME.
    const std::string why = fm_profiler_host_result_string(o.last_result);
    EXPECT_TRUE(why == "CUPTI_ERROR_INVALID_PARAMETER" || why == "CUPTI_ERROR_INVALID_METRIC_NAME")
        << why;
    EXPECT_GT(passes_of("GA100", {"sm__ops_path_tensor_src_fp16_dst_fp32.sum"}), 0);
}

TEST(ProfilerHost, HopperPassStructure)
{
    REQUIRE_CUPTI();
    const std::string imma = "sm__ops_path_tensor_op_imma_src_int8";
    // The INT8 mma.sync counter needs two passes; each of its sparsity halves one, but not
    // both together: the catalog lists the halves, and they land in separate groups.
    EXPECT_EQ(passes_of("GH100", {imma + ".sum"}), 2);
    EXPECT_EQ(passes_of("GH100", {imma + "_sparsity_off.sum"}), 1);
    EXPECT_EQ(passes_of("GH100", {imma + "_sparsity_on.sum"}), 1);
    EXPECT_EQ(passes_of("GH100", {imma + "_sparsity_off.sum", imma + "_sparsity_on.sum"}), 2);
    // The per-format FP16 sum alone needs two passes, which is why the leaves are per
    // instruction.
    EXPECT_EQ(passes_of("GH100", {"sm__ops_path_tensor_src_fp16.sum"}), 2);
    // Instrumented metrics never share a pass with a hardware counter, the duration included.
    std::vector<std::string> sass;
    for (const char *op : {"fadd", "fmul", "ffma", "dadd", "dmul", "dfma", "hadd", "hmul", "hfma"})
        sass.push_back(std::string("smsp__sass_thread_inst_executed_op_") + op + "_pred_on.sum");
    EXPECT_EQ(passes_of("GH100", sass), 1);
    sass.push_back(FM_METRIC_DURATION);
    EXPECT_EQ(passes_of("GH100", sass), 2);
}

TEST(ProfilerHost, ChipsOfAFamilyShareTheirGroups)
{
    // Checked for the first and the last chip of each family with more than one: the
    // catalog's families are also families of counter hardware.
    REQUIRE_CUPTI();
    for (const fm_chip_family *f : all_families()) {
        size_t n = 0;
        while (f->chips[n])
            n++;
        if (n < 2)
            continue;
        SCOPED_TRACE(f->name);
        std::vector<std::vector<std::vector<std::string>>> groups;
        for (const char *chip : {f->chips[0], f->chips[n - 1]}) {
            fm_host_oracle o{};
            o.chip = chip;
            auto plan = std::make_unique<fm_group_plan>();
            ASSERT_EQ(fm_groups_build(f, fm_profiler_host_passes, &o, plan.get()), 0);
            groups.push_back(group_names(*plan));
        }
        EXPECT_EQ(groups[0], groups[1]) << f->chips[0] << " and " << f->chips[n - 1];
    }
}

class ChipCatalog : public ::testing::TestWithParam<std::string> {};

TEST_P(ChipCatalog, EveryLeafExistsAndFitsOnePassAlone)
{
    REQUIRE_CUPTI();
    const fm_chip_family *f = fm_catalog_for_chip(GetParam().c_str());
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(passes_of(GetParam(), {FM_METRIC_DURATION}), 1);
    for (size_t i = 0; i < f->n_metrics; i++)
        EXPECT_EQ(passes_of(GetParam(), {f->metrics[i].name}), 1) << f->metrics[i].name;
}

TEST_P(ChipCatalog, SparsityVariantsAreUsedExactlyWhereTheyExist)
{
    REQUIRE_CUPTI();
    const fm_chip_family *f = fm_catalog_for_chip(GetParam().c_str());
    ASSERT_NE(f, nullptr);
    for (size_t i = 0; i < f->n_metrics; i++) {
        const fm_catalog_metric &m = f->metrics[i];
        if (!fm_catalog_is_tensor(&m))
            continue;
        const std::string base = unsplit_base(m.name);
        SCOPED_TRACE(base);
        // The halves are halves of a real counter: the unsplit one exists too.
        EXPECT_GT(passes_of(GetParam(), {base + ".sum"}), 0);
        // A counter listed whole has no halves on this chip.
        if (m.sparsity == FM_SPARSITY_NONE) {
            EXPECT_LT(passes_of(GetParam(), {base + "_sparsity_on.sum"}), 0);
            EXPECT_LT(passes_of(GetParam(), {base + "_sparsity_off.sum"}), 0);
        }
    }
}

TEST_P(ChipCatalog, GroupsAreSinglePassAndCoverTheCatalog)
{
    REQUIRE_CUPTI();
    const fm_chip_family *f = fm_catalog_for_chip(GetParam().c_str());
    ASSERT_NE(f, nullptr);
    fm_host_oracle o{};
    o.chip = GetParam().c_str();
    auto plan = std::make_unique<fm_group_plan>();
    ASSERT_EQ(fm_groups_build(f, fm_profiler_host_passes, &o, plan.get()), 0);
    EXPECT_EQ(plan->n_rejected, 0u);
    EXPECT_EQ(plan->n_multipass, 0u) << "every leaf is measurable in one pass";
    EXPECT_EQ(fm_groups_leaves_placed(plan.get()), f->n_metrics);
    EXPECT_EQ(plan->n_groups, kGroupsPerFamily.at(f->name));

    std::set<std::string> placed;
    for (size_t g = 0; g < plan->n_groups; g++) {
        const fm_metric_group &grp = plan->groups[g];
        std::vector<std::string> names(grp.names, grp.names + grp.n);
        SCOPED_TRACE("group " + std::to_string(g));
        // asked afresh: really one pass
        EXPECT_EQ(passes_of(GetParam(), names), 1);
        // the instrumented group is the only one without the duration
        bool instrumented = false;
        for (size_t i = grp.has_duration ? 1 : 0; i < grp.n; i++) {
            instrumented |= (grp.metrics[i]->flags & FM_METRIC_INSTRUMENTED) != 0;
            EXPECT_TRUE(placed.insert(grp.names[i]).second) << grp.names[i] << " in two groups";
        }
        EXPECT_EQ(grp.has_duration, instrumented ? 0 : 1);
    }
    // The nine CUDA-core counters are one group, the first.
    ASSERT_GT(plan->n_groups, 0u);
    EXPECT_EQ(plan->groups[0].n, 9u);
    EXPECT_EQ(plan->groups[0].has_duration, 0);
}

TEST(ProfilerHost, GroupsAreTheSameEveryTime)
{
    REQUIRE_CUPTI();
    for (const char *chip : {"GH100", "GB100"}) {
        SCOPED_TRACE(chip);
        const fm_chip_family *f = fm_catalog_for_chip(chip);
        ASSERT_NE(f, nullptr);
        fm_host_oracle o{};
        o.chip = chip;
        auto a = std::make_unique<fm_group_plan>();
        auto b = std::make_unique<fm_group_plan>();
        ASSERT_EQ(fm_groups_build(f, fm_profiler_host_passes, &o, a.get()), 0);
        ASSERT_EQ(fm_groups_build(f, fm_profiler_host_passes, &o, b.get()), 0);
        EXPECT_EQ(group_names(*a), group_names(*b));
        EXPECT_EQ(a->oracle_calls, b->oracle_calls);
    }
}

INSTANTIATE_TEST_SUITE_P(AllCatalogChips, ChipCatalog, ::testing::ValuesIn(all_catalog_chips()),
                         [](const ::testing::TestParamInfo<std::string> &info) {
                             return info.param;
                         });

// The range profiler's configuration images, as the hook makes them at its first launch on a
// GPU (counter_configs.c): every group's image is one pass, the every-metric image holds each
// metric once and knows where each group's metrics are in it. Printed: how many passes a
// replayed launch takes per family (docs/methodology.md).
TEST(ProfilerHost, ConfigurationImagesPerGroupAndForEveryMetric)
{
    REQUIRE_CUPTI();
    for (const fm_chip_family *f : all_families()) {
        const char *chip = f->chips[0];
        auto c = std::make_unique<fm_counter_configs>();
        char why[512] = "";
        ASSERT_EQ(fm_counter_configs_build(c.get(), chip, nullptr, why, sizeof why), 0)
            << chip << ": " << why;
        EXPECT_EQ(c->n_groups, kGroupsPerFamily.at(f->name)) << chip;
        EXPECT_EQ(c->n_left_out, 0u) << chip << ": " << c->left_out;
        std::set<std::string> every;
        for (size_t g = 0; g < c->n_groups; g++) {
            const fm_counter_config &cfg = c->group[g];
            EXPECT_EQ(cfg.made.passes, 1u) << chip << " group " << g;
            EXPECT_GT(cfg.made.image_size, 0u);
            ASSERT_EQ(cfg.n, c->plan.groups[g].n);
            for (size_t i = 0; i < cfg.n; i++) {
                ASSERT_LT(c->all_index[g][i], c->all.n);
                EXPECT_STREQ(c->all.names[c->all_index[g][i]], cfg.names[i]) << chip;
                every.insert(cfg.names[i]);
            }
        }
        EXPECT_EQ(every.size(), c->all.n) << chip << ": each metric once in the replay image";
        EXPECT_GE(c->all.made.passes, 2u) << chip;
        std::printf("%-6s %-6s groups %zu, replay image %zu metrics in %zu passes\n", f->name,
                    chip, c->n_groups, c->all.n, c->all.made.passes);
        fm_counter_configs_free(c.get());
    }
    // an unknown chip: a clear error, nothing made
    auto c = std::make_unique<fm_counter_configs>();
    char why[512] = "";
    EXPECT_NE(fm_counter_configs_build(c.get(), "GX999", nullptr, why, sizeof why), 0);
    EXPECT_NE(std::string(why).find("GX999"), std::string::npos) << why;
    fm_counter_configs_free(c.get());
}

} // namespace
