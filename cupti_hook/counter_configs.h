/* counter_configs.h - the range profiler's configuration images for one chip: one per
 * single-pass metric group (metric_groups.h), and one holding every metric at once, for a
 * launch measured in all groups (replay).
 *
 * Made with CUPTI's profiler host API from the chip's name and the device's counter
 * availability: no GPU needed, so tests/hook/test_metric_catalog.cpp builds them for every
 * chip family in CI. Each configuration keeps its host object, with which the values of a
 * counter data image made with it are evaluated. About 150 KiB: keep one per process (static
 * or on the heap). */
#ifndef FM_HOOK_COUNTER_CONFIGS_H
#define FM_HOOK_COUNTER_CONFIGS_H

#include <stddef.h>
#include <stdint.h>

#include "cupti_host_abi.h"
#include "metric_groups.h"
#include "profiler_host.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FM_CONFIGS_MAX_GROUPS 16 /* FM_SAMPLER_MAX_GROUPS */
#define FM_CONFIGS_MAX_NAMES (FM_CONFIGS_MAX_GROUPS * FM_GROUP_MAX_METRICS)

typedef struct fm_counter_config {
    fm_host_config made;                     /* host object, image, passes */
    const char *names[FM_CONFIGS_MAX_NAMES]; /* the metrics, as evaluated (into the catalog) */
    size_t n;
} fm_counter_config;

typedef struct fm_counter_configs {
    char chip[64];
    fm_group_plan plan;
    size_t n_groups;
    fm_counter_config group[FM_CONFIGS_MAX_GROUPS];
    /* every distinct metric of every group (the duration once), and where metric i of
     * group g is in it */
    fm_counter_config all;
    uint32_t all_index[FM_CONFIGS_MAX_GROUPS][FM_GROUP_MAX_METRICS];
    /* the catalog's counters no group holds (not free, or several passes alone) */
    size_t n_left_out;
    char left_out[1024];
} fm_counter_configs;

/* Builds the groups and the configurations of a chip (availability: the device's counter
 * availability image, or NULL for every counter free). 0, or the failing CUptiResult with a
 * line in why; what was made is freed by fm_counter_configs_free either way. */
int fm_counter_configs_build(fm_counter_configs *c, const char *chip,
                             const uint8_t *availability, char *why, size_t len);

void fm_counter_configs_free(fm_counter_configs *c);

#ifdef __cplusplus
}
#endif
#endif
