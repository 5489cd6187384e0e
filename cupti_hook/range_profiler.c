/* range_profiler.c - the counter backend over CUPTI's range profiler (counter_backend.h).
 *
 * Planning (once per process, at the first launch on a GPU): the device must support range
 * profiling; its chip names the catalog family; the counters free on the device (another
 * process such as DCGM may hold some) go into the single-pass groups metric_groups.c builds
 * with CUPTI's host API; one configuration image is made per group, and one with every
 * metric for replayed launches.
 *
 * Per context: a range profiler object and one counter data image per configuration, sized
 * for one range.
 *
 * Per measured launch, inside the launch callback: at its entry the image is reset, the
 * group's configuration set (auto range: each kernel is a range; kernel replay: CUPTI replays
 * the kernel once per pass when the configuration needs more than one, restoring device
 * memory in between, and not at all for a single-pass group) and the profiler started; at its
 * exit the profiler is stopped and the data decoded, which waits for the kernel to finish.
 * The values are the launch's only when the image holds exactly one range and none was
 * dropped; otherwise the launch is lost, not misattributed. */
#define _GNU_SOURCE
#include "range_profiler.h"

#include <cuda.h>
#include <cupti.h>
#include <cupti_range_profiler.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "counter_configs.h"
#include "cuda_api.h"
#include "flopmeter/trace_format.h"
#include "metric_catalog.h"
#include "profiler_host.h"
#include "sampler.h"

#define MAX_GROUPS FM_SAMPLER_MAX_GROUPS
#define ALL MAX_GROUPS /* the index of the every-metric configuration */

_Static_assert(FM_CONFIGS_MAX_GROUPS == MAX_GROUPS, "one bound for groups");

typedef struct context_state {
    CUcontext ctx;
    CUpti_RangeProfiler_Object *object;
    uint8_t *data[ALL + 1];
    size_t data_size[ALL + 1];
} context_state;

static struct {
    char chip[64];
    uint8_t *availability;
    fm_counter_configs configs;
    fm_hook_metric metrics[MAX_GROUPS][FM_GROUP_MAX_METRICS];
    fm_hook_group_def defs[MAX_GROUPS];
    pthread_mutex_t evaluate; /* one host object may not take two evaluations at once */
} rp = {.evaluate = PTHREAD_MUTEX_INITIALIZER};

/* The configuration of a group index, or of every metric (ALL). */
static fm_counter_config *config_of(int i)
{
    return i == ALL ? &rp.configs.all : &rp.configs.group[i];
}

#define say fm_cupti_fail

#define CALL(fn, p, why, len)                                                                  \
    do {                                                                                       \
        CUptiResult r_ = fm_api.fn(p);                                                         \
        if (r_ != CUPTI_SUCCESS)                                                               \
            return say(why, len, r_, "%s failed", #fn);                                        \
    } while (0)

/* ---- planning ----------------------------------------------------------------------------- */

static const char *unsupported_reason(const CUpti_Profiler_DeviceSupported_Params *p)
{
    if (p->architecture != CUPTI_PROFILER_CONFIGURATION_SUPPORTED)
        return "its architecture has no range profiler";
    if (p->vGpu != CUPTI_PROFILER_CONFIGURATION_SUPPORTED)
        return p->vGpu == CUPTI_PROFILER_CONFIGURATION_DISABLED
                   ? "it is a virtual GPU with profiling disabled"
                   : "it is a virtual GPU that cannot be profiled";
    if (p->confidentialCompute != CUPTI_PROFILER_CONFIGURATION_SUPPORTED)
        return "confidential computing is on";
    if (p->cmp != CUPTI_PROFILER_CONFIGURATION_SUPPORTED)
        return "it is a crypto-mining processor";
    if (p->sli != CUPTI_PROFILER_CONFIGURATION_SUPPORTED)
        return "SLI is on";
    if (p->wsl != CUPTI_PROFILER_CONFIGURATION_SUPPORTED)
        return "WSL does not support it";
    return "CUPTI says it is not supported";
}

static int chip_of(uint32_t device, char *chip, size_t chip_len, char *why, size_t len)
{
    CUptiResult r = fm_cupti_chip_name(device, chip, chip_len);
    return r == CUPTI_SUCCESS ? 0 : say(why, len, r, "cuptiDeviceGetChipName failed");
}

static int counter_availability(CUcontext ctx, char *why, size_t len)
{
    CUpti_Profiler_GetCounterAvailability_Params p = {
        .structSize = CUpti_Profiler_GetCounterAvailability_Params_STRUCT_SIZE, .ctx = ctx};
    CALL(cuptiProfilerGetCounterAvailability, &p, why, len);
    if (!(rp.availability = malloc(p.counterAvailabilityImageSize + 1)))
        return say(why, len, CUPTI_ERROR_OUT_OF_MEMORY, "no memory for counter availability");
    p.pCounterAvailabilityImage = rp.availability;
    CALL(cuptiProfilerGetCounterAvailability, &p, why, len);
    return 0;
}

static int plan(void *self, uint64_t context, uint32_t device, fm_backend_plan *out, char *why,
                size_t len)
{
    (void)self;
    CUpti_Profiler_Initialize_Params init = {.structSize =
                                                 CUpti_Profiler_Initialize_Params_STRUCT_SIZE};
    CALL(cuptiProfilerInitialize, &init, why, len);
    CUdevice dev = 0;
    if (fm_api.cuDeviceGet(&dev, (int)device) != CUDA_SUCCESS)
        return say(why, len, CUPTI_ERROR_INVALID_DEVICE, "GPU %u: cuDeviceGet failed", device);
    CUpti_Profiler_DeviceSupported_Params sup = {
        .structSize = CUpti_Profiler_DeviceSupported_Params_STRUCT_SIZE,
        .cuDevice = dev,
        .api = CUPTI_PROFILER_RANGE_PROFILING};
    CALL(cuptiProfilerDeviceSupported, &sup, why, len);
    if (sup.isSupported != CUPTI_PROFILER_CONFIGURATION_SUPPORTED)
        return say(why, len, CUPTI_ERROR_NOT_SUPPORTED, "GPU %u cannot be profiled: %s", device,
                   unsupported_reason(&sup));
    int rc = chip_of(device, rp.chip, sizeof rp.chip, why, len);
    if (rc)
        return rc;
    if ((rc = counter_availability((CUcontext)(uintptr_t)context, why, len)) != 0)
        return rc;
    if ((rc = fm_counter_configs_build(&rp.configs, rp.chip, rp.availability, why, len)) != 0) {
        fm_counter_configs_free(&rp.configs); /* measuring stops: nothing will use them */
        return rc;
    }
    const fm_group_plan *gp = &rp.configs.plan;
    for (size_t g = 0; g < rp.configs.n_groups; g++) {
        const fm_metric_group *mg = &gp->groups[g];
        for (size_t i = 0; i < mg->n; i++)
            rp.metrics[g][i] = (fm_hook_metric){mg->metrics[i]->name,
                                                mg->metrics[i]->precision_class,
                                                mg->metrics[i]->weight};
        rp.defs[g] = (fm_hook_group_def){(uint32_t)mg->n, rp.metrics[g]};
    }
    out->chip = rp.chip;
    out->n_groups = (uint32_t)rp.configs.n_groups;
    out->groups = rp.defs;
    out->leaves_left_out = (uint32_t)rp.configs.n_left_out;
    out->left_out = rp.configs.left_out;
    return 0;
}

/* ---- contexts ------------------------------------------------------------------------------ */

static void close_context(void *self, void *state)
{
    (void)self;
    context_state *cs = state;
    if (!cs)
        return;
    if (cs->object) {
        CUpti_RangeProfiler_Disable_Params p = {
            .structSize = CUpti_RangeProfiler_Disable_Params_STRUCT_SIZE,
            .pRangeProfilerObject = cs->object};
        fm_api.cuptiRangeProfilerDisable(&p);
    }
    for (int i = 0; i <= ALL; i++)
        free(cs->data[i]);
    free(cs);
}

static int data_image(context_state *cs, int i, char *why, size_t len)
{
    fm_counter_config *c = config_of(i);
    CUpti_RangeProfiler_GetCounterDataSize_Params size = {
        .structSize = CUpti_RangeProfiler_GetCounterDataSize_Params_STRUCT_SIZE,
        .pRangeProfilerObject = cs->object,
        .pMetricNames = c->names,
        .numMetrics = c->n,
        .maxNumOfRanges = 1,
        .maxNumRangeTreeNodes = 1};
    CALL(cuptiRangeProfilerGetCounterDataSize, &size, why, len);
    cs->data_size[i] = size.counterDataSize;
    if (!(cs->data[i] = calloc(1, size.counterDataSize ? size.counterDataSize : 1)))
        return say(why, len, CUPTI_ERROR_OUT_OF_MEMORY, "no memory for a counter data image");
    return 0;
}

static int open_context(void *self, uint64_t context, uint32_t device, void **state, char *why,
                        size_t len)
{
    char chip[64];
    int rc = chip_of(device, chip, sizeof chip, why, len);
    if (rc)
        return rc;
    if (strcmp(chip, rp.chip) != 0)
        return say(why, len, CUPTI_ERROR_NOT_SUPPORTED,
                   "it is a %s, and this process measures %s (one chip per process)", chip,
                   rp.chip);
    context_state *cs = calloc(1, sizeof *cs);
    if (!cs)
        return say(why, len, CUPTI_ERROR_OUT_OF_MEMORY, "no memory for a context");
    cs->ctx = (CUcontext)(uintptr_t)context;
    CUpti_RangeProfiler_Enable_Params en = {
        .structSize = CUpti_RangeProfiler_Enable_Params_STRUCT_SIZE, .ctx = cs->ctx};
    CUptiResult r = fm_api.cuptiRangeProfilerEnable(&en);
    if (r != CUPTI_SUCCESS) {
        free(cs);
        return say(why, len, r, "cuptiRangeProfilerEnable failed");
    }
    cs->object = en.pRangeProfilerObject;
    for (size_t i = 0; i <= ALL; i++) {
        if (i < ALL && i >= rp.configs.n_groups)
            continue;
        if ((rc = data_image(cs, (int)i, why, len)) != 0) {
            close_context(self, cs);
            return rc;
        }
    }
    *state = cs;
    return 0;
}

/* ---- one launch ---------------------------------------------------------------------------- */

static int arm(void *self, void *state, int group, char *why, size_t len)
{
    (void)self;
    context_state *cs = state;
    int i = group == FM_SAMPLE_ALL ? ALL : group;
    fm_counter_config *c = config_of(i);
    CUpti_RangeProfiler_CounterDataImage_Initialize_Params reset = {
        .structSize = CUpti_RangeProfiler_CounterDataImage_Initialize_Params_STRUCT_SIZE,
        .pRangeProfilerObject = cs->object,
        .counterDataSize = cs->data_size[i],
        .pCounterData = cs->data[i]};
    CALL(cuptiRangeProfilerCounterDataImageInitialize, &reset, why, len);
    CUpti_RangeProfiler_SetConfig_Params set = {
        .structSize = CUpti_RangeProfiler_SetConfig_Params_STRUCT_SIZE,
        .pRangeProfilerObject = cs->object,
        .configSize = c->made.image_size,
        .pConfig = c->made.image,
        .counterDataImageSize = cs->data_size[i],
        .pCounterDataImage = cs->data[i],
        .range = CUPTI_AutoRange,
        .replayMode = CUPTI_KernelReplay,
        .maxRangesPerPass = 1,
        .numNestingLevels = 1,
        .minNestingLevel = 1,
        .passIndex = 0,
        .targetNestingLevel = 1};
    CALL(cuptiRangeProfilerSetConfig, &set, why, len);
    CUpti_RangeProfiler_Start_Params start = {
        .structSize = CUpti_RangeProfiler_Start_Params_STRUCT_SIZE,
        .pRangeProfilerObject = cs->object};
    CALL(cuptiRangeProfilerStart, &start, why, len);
    return 0;
}

static int evaluate(fm_counter_config *c, context_state *cs, int i, double *out, char *why,
                    size_t len)
{
    fm_cupti_host_evaluate ev = {.structSize = FM_CUPTI_HOST_EVALUATE_SIZE,
                                 .pHostObject = c->made.host,
                                 .pCounterDataImage = cs->data[i],
                                 .counterDataImageSize = cs->data_size[i],
                                 .rangeIndex = 0,
                                 .ppMetricNames = c->names,
                                 .numMetrics = c->n,
                                 .pMetricValues = out};
    pthread_mutex_lock(&rp.evaluate);
    CUptiResult r = fm_api.cuptiProfilerHostEvaluateToGpuValues(&ev);
    pthread_mutex_unlock(&rp.evaluate);
    if (r != CUPTI_SUCCESS)
        return say(why, len, r, "cuptiProfilerHostEvaluateToGpuValues failed");
    return 0;
}

static int read_values(void *self, void *state, int group, int launched, double *values,
                       uint32_t max_values, uint32_t *passes, char *why, size_t len)
{
    (void)self;
    context_state *cs = state;
    int i = group == FM_SAMPLE_ALL ? ALL : group;
    fm_counter_config *c = config_of(i);
    CUpti_RangeProfiler_Stop_Params stop = {
        .structSize = CUpti_RangeProfiler_Stop_Params_STRUCT_SIZE,
        .pRangeProfilerObject = cs->object};
    CALL(cuptiRangeProfilerStop, &stop, why, len);
    CUpti_RangeProfiler_DecodeData_Params decode = {
        .structSize = CUpti_RangeProfiler_DecodeData_Params_STRUCT_SIZE,
        .pRangeProfilerObject = cs->object};
    if (!launched) {
        /* the program's launch failed: nothing ran to read. Decoded all the same, so that
         * the profiler's buffers are left empty; its complaint about an empty range is not
         * the profiler failing */
        fm_api.cuptiRangeProfilerDecodeData(&decode);
        return FM_BACKEND_LOST;
    }
    CALL(cuptiRangeProfilerDecodeData, &decode, why, len);
    if (!stop.isAllPassSubmitted || decode.numOfRangeDropped)
        return FM_BACKEND_LOST;
    CUpti_RangeProfiler_GetCounterDataInfo_Params info = {
        .structSize = CUpti_RangeProfiler_GetCounterDataInfo_Params_STRUCT_SIZE,
        .pCounterDataImage = cs->data[i],
        .counterDataImageSize = cs->data_size[i]};
    CALL(cuptiRangeProfilerGetCounterDataInfo, &info, why, len);
    if (info.numTotalRanges != 1)
        return FM_BACKEND_LOST;
    double got[FM_CONFIGS_MAX_NAMES];
    int rc = evaluate(c, cs, i, got, why, len);
    if (rc)
        return rc;
    if (i != ALL) {
        if (c->n > max_values)
            return FM_BACKEND_LOST;
        memcpy(values, got, c->n * sizeof *values);
    } else {
        uint32_t at = 0;
        for (size_t g = 0; g < rp.configs.n_groups; g++)
            for (size_t m = 0; m < rp.configs.plan.groups[g].n; m++) {
                if (at == max_values)
                    return FM_BACKEND_LOST;
                values[at++] = got[rp.configs.all_index[g][m]];
            }
    }
    *passes = (uint32_t)(c->made.passes ? c->made.passes : 1);
    return 0;
}

/* ---- the backend --------------------------------------------------------------------------- */

static uint32_t kind_of(void *self, int error)
{
    (void)self;
    return fm_cupti_degrade_kind((CUptiResult)error);
}

const fm_counter_backend *fm_range_profiler_backend(void)
{
    static const fm_counter_backend backend = {
        .self = NULL,
        .plan = plan,
        .open = open_context,
        .arm = arm,
        .read = read_values,
        .close = close_context,
        .kind_of = kind_of,
    };
    if (!fm_api.cuptiRangeProfilerEnable || !fm_api.cuptiProfilerHostInitialize ||
        !fm_api.cuptiProfilerHostEvaluateToGpuValues)
        return NULL;
    return &backend;
}
