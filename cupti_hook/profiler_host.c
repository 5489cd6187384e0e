/* profiler_host.c - the pass-count oracle over CUPTI's profiler host API (profiler_host.h). */
#include "profiler_host.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int fm_profiler_host_config(const char *chip, const uint8_t *availability,
                            const char *const *metrics, size_t n, fm_host_config *out,
                            const char **failed_call)
{
    memset(out, 0, sizeof *out);
    fm_cupti_host_initialize init = {.structSize = FM_CUPTI_HOST_INITIALIZE_SIZE,
                                     .profilerType = FM_CUPTI_PROFILER_TYPE_RANGE_PROFILER,
                                     .pChipName = chip,
                                     .pCounterAvailabilityImage = availability};
    CUptiResult r = fm_api.cuptiProfilerHostInitialize(&init);
    if (r != CUPTI_SUCCESS) {
        *failed_call = "cuptiProfilerHostInitialize";
        return (int)r;
    }
    out->host = init.pHostObject;
    /* CUPTI takes the names as char ** but does not write through them. */
    fm_cupti_host_add_metrics add = {.structSize = FM_CUPTI_HOST_ADD_METRICS_SIZE,
                                     .pHostObject = out->host,
                                     .ppMetricNames = (const char **)metrics,
                                     .numMetrics = n};
    if ((r = fm_api.cuptiProfilerHostConfigAddMetrics(&add)) != CUPTI_SUCCESS) {
        *failed_call = "cuptiProfilerHostConfigAddMetrics";
        return (int)r;
    }
    fm_cupti_host_config_size size = {.structSize = FM_CUPTI_HOST_CONFIG_SIZE_SIZE,
                                      .pHostObject = out->host};
    if ((r = fm_api.cuptiProfilerHostGetConfigImageSize(&size)) != CUPTI_SUCCESS) {
        *failed_call = "cuptiProfilerHostGetConfigImageSize";
        return (int)r;
    }
    out->image_size = size.configImageSize;
    if (!(out->image = malloc(out->image_size ? out->image_size : 1))) {
        *failed_call = "malloc";
        return (int)CUPTI_ERROR_OUT_OF_MEMORY;
    }
    fm_cupti_host_config_image get = {.structSize = FM_CUPTI_HOST_CONFIG_IMAGE_SIZE,
                                      .pHostObject = out->host,
                                      .configImageSize = out->image_size,
                                      .pConfigImage = out->image};
    if ((r = fm_api.cuptiProfilerHostGetConfigImage(&get)) != CUPTI_SUCCESS) {
        *failed_call = "cuptiProfilerHostGetConfigImage";
        return (int)r;
    }
    fm_cupti_host_num_passes passes = {.structSize = FM_CUPTI_HOST_NUM_PASSES_SIZE,
                                       .configImageSize = out->image_size,
                                       .pConfigImage = out->image};
    if ((r = fm_api.cuptiProfilerHostGetNumOfPasses(&passes)) != CUPTI_SUCCESS) {
        *failed_call = "cuptiProfilerHostGetNumOfPasses";
        return (int)r;
    }
    out->passes = passes.numOfPasses;
    return 0;
}

void fm_profiler_host_config_free(fm_host_config *c)
{
    if (c->host) {
        fm_cupti_host_deinitialize fini = {.structSize = FM_CUPTI_HOST_DEINITIALIZE_SIZE,
                                           .pHostObject = c->host};
        fm_api.cuptiProfilerHostDeinitialize(&fini);
    }
    free(c->image);
    memset(c, 0, sizeof *c);
}

int fm_profiler_host_passes(void *ctx, const char *const *metrics, size_t n, size_t *out_passes)
{
    fm_host_oracle *o = ctx;
    o->last_result = 0;
    o->last_call = NULL;
    fm_host_config c;
    int r = fm_profiler_host_config(o->chip, o->counter_availability, metrics, n, &c,
                                    &o->last_call);
    if (r == 0)
        *out_passes = c.passes;
    else
        o->last_result = r;
    fm_profiler_host_config_free(&c);
    return r;
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
