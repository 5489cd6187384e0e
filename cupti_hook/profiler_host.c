/* profiler_host.c - the pass-count oracle over CUPTI's profiler host API (profiler_host.h). */
#include "profiler_host.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "cuda_api.h"

int fm_profiler_host_load(char *err, size_t errlen)
{
    return fm_cupti_host_api_load(err, errlen);
}

int fm_profiler_host_chips(const char *const **chips, size_t *n)
{
    fm_cupti_host_supported_chips p = {.structSize = FM_CUPTI_HOST_SUPPORTED_CHIPS_SIZE};
    CUptiResult r = fm_api.cuptiProfilerHostGetSupportedChips(&p);
    if (r != CUPTI_SUCCESS)
        return (int)r;
    *chips = p.ppChipNames;
    *n = p.numChips;
    return 0;
}

static int failed(fm_host_oracle *o, const char *call, CUptiResult r)
{
    o->last_result = (int)r;
    o->last_call = call;
    return (int)r;
}

/* Adds the metrics to a fresh host object, builds its configuration image and counts the
 * image's passes. */
static int count_passes(fm_host_oracle *o, fm_cupti_host_object *host,
                        const char *const *metrics, size_t n, size_t *out_passes)
{
    /* CUPTI takes the names as char ** but does not write through them. */
    fm_cupti_host_add_metrics add = {.structSize = FM_CUPTI_HOST_ADD_METRICS_SIZE,
                                     .pHostObject = host,
                                     .ppMetricNames = (const char **)metrics,
                                     .numMetrics = n};
    CUptiResult r = fm_api.cuptiProfilerHostConfigAddMetrics(&add);
    if (r != CUPTI_SUCCESS)
        return failed(o, "cuptiProfilerHostConfigAddMetrics", r);
    fm_cupti_host_config_size size = {.structSize = FM_CUPTI_HOST_CONFIG_SIZE_SIZE,
                                      .pHostObject = host};
    r = fm_api.cuptiProfilerHostGetConfigImageSize(&size);
    if (r != CUPTI_SUCCESS)
        return failed(o, "cuptiProfilerHostGetConfigImageSize", r);
    uint8_t *image = malloc(size.configImageSize ? size.configImageSize : 1);
    if (!image)
        return failed(o, "malloc", CUPTI_ERROR_OUT_OF_MEMORY);
    fm_cupti_host_config_image get = {.structSize = FM_CUPTI_HOST_CONFIG_IMAGE_SIZE,
                                      .pHostObject = host,
                                      .configImageSize = size.configImageSize,
                                      .pConfigImage = image};
    r = fm_api.cuptiProfilerHostGetConfigImage(&get);
    fm_cupti_host_num_passes passes = {.structSize = FM_CUPTI_HOST_NUM_PASSES_SIZE,
                                       .configImageSize = size.configImageSize,
                                       .pConfigImage = image};
    if (r != CUPTI_SUCCESS)
        failed(o, "cuptiProfilerHostGetConfigImage", r);
    else if ((r = fm_api.cuptiProfilerHostGetNumOfPasses(&passes)) != CUPTI_SUCCESS)
        failed(o, "cuptiProfilerHostGetNumOfPasses", r);
    else
        *out_passes = passes.numOfPasses;
    free(image);
    return (int)r;
}

int fm_profiler_host_passes(void *ctx, const char *const *metrics, size_t n, size_t *out_passes)
{
    fm_host_oracle *o = ctx;
    o->last_result = 0;
    o->last_call = NULL;
    /* A host object accumulates metrics and cannot be emptied: one per question. */
    fm_cupti_host_initialize init = {.structSize = FM_CUPTI_HOST_INITIALIZE_SIZE,
                                     .profilerType = FM_CUPTI_PROFILER_TYPE_RANGE_PROFILER,
                                     .pChipName = o->chip,
                                     .pCounterAvailabilityImage = o->counter_availability};
    CUptiResult r = fm_api.cuptiProfilerHostInitialize(&init);
    if (r != CUPTI_SUCCESS)
        return failed(o, "cuptiProfilerHostInitialize", r);
    int result = count_passes(o, init.pHostObject, metrics, n, out_passes);
    fm_cupti_host_deinitialize fini = {.structSize = FM_CUPTI_HOST_DEINITIALIZE_SIZE,
                                       .pHostObject = init.pHostObject};
    fm_api.cuptiProfilerHostDeinitialize(&fini);
    return result;
}

const char *fm_profiler_host_result_string(int result)
{
    const char *s = NULL;
    if (fm_api.cuptiGetResultString &&
        fm_api.cuptiGetResultString((CUptiResult)result, &s) == CUPTI_SUCCESS && s)
        return s;
    return "unknown CUPTI result";
}

int fm_cupti_fail(char *why, size_t len, int result, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(why, len, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < len)
        snprintf(why + n, len - (size_t)n, " (%s)", fm_profiler_host_result_string(result));
    return result;
}
