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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_api.h"
#include "flopmeter/trace_format.h"
#include "metric_catalog.h"
#include "metric_groups.h"
#include "profiler_host.h"
#include "sampler.h"

#define MAX_GROUPS FM_SAMPLER_MAX_GROUPS
#define ALL MAX_GROUPS /* the index of the every-metric configuration */

typedef struct config {
    fm_cupti_host_object *host; /* kept: values are evaluated with it */
    uint8_t *image;
    size_t image_size;
    const char *names[MAX_GROUPS * FM_GROUP_MAX_METRICS];
    size_t n;
    size_t passes;
} config;

typedef struct context_state {
    CUcontext ctx;
    CUpti_RangeProfiler_Object *object;
    uint8_t *data[ALL + 1];
    size_t data_size[ALL + 1];
} context_state;

static struct {
    char chip[64];
    uint8_t *availability;
    fm_group_plan plan;
    fm_hook_metric metrics[MAX_GROUPS][FM_GROUP_MAX_METRICS];
    fm_hook_group_def defs[MAX_GROUPS];
    config configs[ALL + 1];
    /* where metric i of group g is in the every-metric configuration */
    uint32_t all_index[MAX_GROUPS][FM_GROUP_MAX_METRICS];
    char left_out[1024];
    pthread_mutex_t evaluate; /* one host object may not take two evaluations at once */
} rp = {.evaluate = PTHREAD_MUTEX_INITIALIZER};

static int say(char *why, size_t len, CUptiResult r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int say(char *why, size_t len, CUptiResult r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(why, len, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < len)
        snprintf(why + n, len - (size_t)n, " (%s)", fm_profiler_host_result_string((int)r));
    return (int)r;
}

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
    CUpti_Device_GetChipName_Params p = {.structSize = CUpti_Device_GetChipName_Params_STRUCT_SIZE,
                                         .deviceIndex = device};
    CALL(cuptiDeviceGetChipName, &p, why, len);
    snprintf(chip, chip_len, "%s", p.pChipName ? p.pChipName : "");
    return 0;
}

/* A host object with the metrics, and its configuration image. */
static int make_config(config *c, char *why, size_t len)
{
    fm_cupti_host_initialize init = {.structSize = FM_CUPTI_HOST_INITIALIZE_SIZE,
                                     .profilerType = FM_CUPTI_PROFILER_TYPE_RANGE_PROFILER,
                                     .pChipName = rp.chip,
                                     .pCounterAvailabilityImage = rp.availability};
    CALL(cuptiProfilerHostInitialize, &init, why, len);
    c->host = init.pHostObject;
    fm_cupti_host_add_metrics add = {.structSize = FM_CUPTI_HOST_ADD_METRICS_SIZE,
                                     .pHostObject = c->host,
                                     .ppMetricNames = c->names,
                                     .numMetrics = c->n};
    CALL(cuptiProfilerHostConfigAddMetrics, &add, why, len);
    fm_cupti_host_config_size size = {.structSize = FM_CUPTI_HOST_CONFIG_SIZE_SIZE,
                                      .pHostObject = c->host};
    CALL(cuptiProfilerHostGetConfigImageSize, &size, why, len);
    c->image_size = size.configImageSize;
    if (!(c->image = malloc(c->image_size ? c->image_size : 1)))
        return say(why, len, CUPTI_ERROR_OUT_OF_MEMORY, "no memory for a configuration image");
    fm_cupti_host_config_image get = {.structSize = FM_CUPTI_HOST_CONFIG_IMAGE_SIZE,
                                      .pHostObject = c->host,
                                      .configImageSize = c->image_size,
                                      .pConfigImage = c->image};
    CALL(cuptiProfilerHostGetConfigImage, &get, why, len);
    fm_cupti_host_num_passes passes = {.structSize = FM_CUPTI_HOST_NUM_PASSES_SIZE,
                                       .configImageSize = c->image_size,
                                       .pConfigImage = c->image};
    CALL(cuptiProfilerHostGetNumOfPasses, &passes, why, len);
    c->passes = passes.numOfPasses;
    return 0;
}

/* The every-metric configuration: each distinct name once (the duration is in several
 * groups), and where each group's metrics are in it. */
static int make_all_config(char *why, size_t len)
{
    config *all = &rp.configs[ALL];
    for (size_t g = 0; g < rp.plan.n_groups; g++) {
        const fm_metric_group *mg = &rp.plan.groups[g];
        for (size_t i = 0; i < mg->n; i++) {
            size_t at = 0;
            while (at < all->n && strcmp(all->names[at], mg->names[i]) != 0)
                at++;
            if (at == all->n)
                all->names[all->n++] = mg->names[i];
            rp.all_index[g][i] = (uint32_t)at;
        }
    }
    return make_config(all, why, len);
}

static void note_left_out(void)
{
    size_t used = 0;
    const fm_catalog_metric *const *lists[2] = {rp.plan.multipass, rp.plan.rejected};
    size_t counts[2] = {rp.plan.n_multipass, rp.plan.n_rejected};
    rp.left_out[0] = '\0';
    for (int l = 0; l < 2; l++)
        for (size_t i = 0; i < counts[l] && used < sizeof rp.left_out; i++) {
            int n = snprintf(rp.left_out + used, sizeof rp.left_out - used, "%s%s",
                             used ? ", " : "", lists[l][i]->name);
            if (n < 0)
                break;
            used += (size_t)n;
        }
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
    const fm_chip_family *family = fm_catalog_for_chip(rp.chip);
    if (!family)
        return say(why, len, CUPTI_ERROR_NOT_SUPPORTED,
                   "chip %s is not in this release's metric catalog", rp.chip);
    if ((rc = counter_availability((CUcontext)(uintptr_t)context, why, len)) != 0)
        return rc;
    fm_host_oracle oracle = {.chip = rp.chip, .counter_availability = rp.availability};
    if (fm_groups_build(family, fm_profiler_host_passes, &oracle, &rp.plan) != 0 ||
        rp.plan.n_groups == 0)
        return say(why, len, (CUptiResult)(oracle.last_result ? oracle.last_result
                                                              : CUPTI_ERROR_UNKNOWN),
                   "no metric group could be built for chip %s (last: %s)", rp.chip,
                   oracle.last_call ? oracle.last_call : "none");
    if (rp.plan.n_groups > MAX_GROUPS)
        return say(why, len, CUPTI_ERROR_NOT_SUPPORTED, "chip %s needs %zu metric groups",
                   rp.chip, rp.plan.n_groups);
    for (size_t g = 0; g < rp.plan.n_groups; g++) {
        const fm_metric_group *mg = &rp.plan.groups[g];
        config *c = &rp.configs[g];
        for (size_t i = 0; i < mg->n; i++) {
            c->names[i] = mg->names[i];
            rp.metrics[g][i] = (fm_hook_metric){mg->metrics[i]->name,
                                                mg->metrics[i]->precision_class,
                                                mg->metrics[i]->weight};
        }
        c->n = mg->n;
        rp.defs[g] = (fm_hook_group_def){(uint32_t)mg->n, rp.metrics[g]};
        if ((rc = make_config(c, why, len)) != 0)
            return rc;
    }
    if ((rc = make_all_config(why, len)) != 0)
        return rc;
    note_left_out();
    out->chip = rp.chip;
    out->n_groups = (uint32_t)rp.plan.n_groups;
    out->groups = rp.defs;
    out->leaves_left_out = (uint32_t)(rp.plan.n_multipass + rp.plan.n_rejected);
    out->left_out = rp.left_out;
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
    config *c = &rp.configs[i];
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
        if (i < ALL && i >= rp.plan.n_groups)
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
    config *c = &rp.configs[i];
    CUpti_RangeProfiler_CounterDataImage_Initialize_Params reset = {
        .structSize = CUpti_RangeProfiler_CounterDataImage_Initialize_Params_STRUCT_SIZE,
        .pRangeProfilerObject = cs->object,
        .counterDataSize = cs->data_size[i],
        .pCounterData = cs->data[i]};
    CALL(cuptiRangeProfilerCounterDataImageInitialize, &reset, why, len);
    CUpti_RangeProfiler_SetConfig_Params set = {
        .structSize = CUpti_RangeProfiler_SetConfig_Params_STRUCT_SIZE,
        .pRangeProfilerObject = cs->object,
        .configSize = c->image_size,
        .pConfig = c->image,
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

static int evaluate(config *c, context_state *cs, int i, double *out, char *why, size_t len)
{
    fm_cupti_host_evaluate ev = {.structSize = FM_CUPTI_HOST_EVALUATE_SIZE,
                                 .pHostObject = c->host,
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
    config *c = &rp.configs[i];
    CUpti_RangeProfiler_Stop_Params stop = {
        .structSize = CUpti_RangeProfiler_Stop_Params_STRUCT_SIZE,
        .pRangeProfilerObject = cs->object};
    CALL(cuptiRangeProfilerStop, &stop, why, len);
    /* decoded even for a failed launch: the profiler's buffers are left empty */
    CUpti_RangeProfiler_DecodeData_Params decode = {
        .structSize = CUpti_RangeProfiler_DecodeData_Params_STRUCT_SIZE,
        .pRangeProfilerObject = cs->object};
    CALL(cuptiRangeProfilerDecodeData, &decode, why, len);
    if (!launched || !stop.isAllPassSubmitted || decode.numOfRangeDropped)
        return FM_BACKEND_LOST;
    CUpti_RangeProfiler_GetCounterDataInfo_Params info = {
        .structSize = CUpti_RangeProfiler_GetCounterDataInfo_Params_STRUCT_SIZE,
        .pCounterDataImage = cs->data[i],
        .counterDataImageSize = cs->data_size[i]};
    CALL(cuptiRangeProfilerGetCounterDataInfo, &info, why, len);
    if (info.numTotalRanges != 1)
        return FM_BACKEND_LOST;
    double got[MAX_GROUPS * FM_GROUP_MAX_METRICS];
    int rc = evaluate(c, cs, i, got, why, len);
    if (rc)
        return rc;
    if (i != ALL) {
        if (c->n > max_values)
            return FM_BACKEND_LOST;
        memcpy(values, got, c->n * sizeof *values);
    } else {
        uint32_t at = 0;
        for (size_t g = 0; g < rp.plan.n_groups; g++)
            for (size_t m = 0; m < rp.plan.groups[g].n; m++) {
                if (at == max_values)
                    return FM_BACKEND_LOST;
                values[at++] = got[rp.all_index[g][m]];
            }
    }
    *passes = (uint32_t)(c->passes ? c->passes : 1);
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
