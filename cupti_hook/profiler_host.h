/* profiler_host.h - asks CUPTI's profiler host API how many passes a set of metrics needs on
 * a chip: the oracle that metric_groups.c partitions the catalog with.
 *
 * The host API works from the chip's name alone, with no GPU and no driver, so the same code
 * runs inside the hook (with the counter availability of the device at hand) and in tests on
 * a build machine. Each question builds a configuration image from scratch: a few
 * milliseconds of CPU and a transient allocation, never on the launch path. */
#ifndef FM_HOOK_PROFILER_HOST_H
#define FM_HOOK_PROFILER_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "cupti_host_abi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Loads CUPTI's profiler host functions (fm_cupti_host_api_load); 0, or -1 with a reason. */
int fm_profiler_host_load(char *err, size_t errlen);

/* The chips this CUPTI can configure counters for (owned by CUPTI). 0, or a CUptiResult. */
int fm_profiler_host_chips(const char *const **chips, size_t *n);

/* What the oracle needs to know. */
typedef struct fm_host_oracle {
    const char *chip;                    /* as cuptiDeviceGetChipName returns it */
    const uint8_t *counter_availability; /* the device's cuptiProfilerGetCounterAvailability
                                            image, or NULL to assume every counter is free */
    int last_result;                     /* out: CUptiResult of the last failed call, else 0 */
    const char *last_call;               /* out: which call failed, for messages */
} fm_host_oracle;

/* A configuration image for the metrics on a chip, made by a fresh host object (CUPTI's
 * objects accumulate metrics and cannot be emptied): the object, kept for evaluating values
 * later, the image and its passes. 0, or the failing CUptiResult with *failed_call naming the
 * call; what was made is in *host and *image either way (release with
 * fm_profiler_host_config_free). availability may be NULL. */
typedef struct fm_host_config {
    fm_cupti_host_object *host;
    uint8_t *image;
    size_t image_size;
    size_t passes;
} fm_host_config;
int fm_profiler_host_config(const char *chip, const uint8_t *availability,
                            const char *const *metrics, size_t n, fm_host_config *out,
                            const char **failed_call);
void fm_profiler_host_config_free(fm_host_config *c);

/* An fm_pass_oracle (metric_groups.h): ctx is an fm_host_oracle. Sets *out_passes to the
 * passes the metrics need together on that chip. 0, or the failing CUptiResult: a metric the
 * chip does not have fails cuptiProfilerHostConfigAddMetrics (CUPTI 13.0 answers
 * CUPTI_ERROR_INVALID_PARAMETER), an unknown chip cuptiProfilerHostInitialize. */
int fm_profiler_host_passes(void *ctx, const char *const *metrics, size_t n, size_t *out_passes);

/* CUPTI's text for a result ("CUPTI_ERROR_INVALID_METRIC_NAME"); never NULL. */
const char *fm_profiler_host_result_string(int result);

/* Writes "<fmt...> (<CUPTI's text for result>)" into why and returns result: the one line a
 * failed CUPTI call becomes. */
int fm_cupti_fail(char *why, size_t len, int result, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#ifdef __cplusplus
}
#endif
#endif
