/* counter_backend.h - the device boundary of counting: what measured_launch.c needs from a
 * profiler that reads hardware counters around one kernel launch.
 *
 * The real one is CUPTI's range profiler (range_profiler.c); the tests use a test double
 * (tests/hook/test_measured_launch.cpp) to drive everything above it without a GPU. CUDA-free:
 * contexts are opaque 64-bit handles.
 *
 * Errors are the backend's own codes (CUPTI results for the real one), never 0; every
 * function that can fail writes one line saying what failed into `why`. */
#ifndef FM_HOOK_COUNTER_BACKEND_H
#define FM_HOOK_COUNTER_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "hook_core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What read() answers for a launch whose values are not its own (another kernel ran inside
 * the measurement, a range was dropped) or for a launch that failed: nothing wrong with the
 * profiler, the launch is just not measured. */
#define FM_BACKEND_LOST (-1)

/* The metric groups of the chip measured: each group is read in a single pass. */
typedef struct fm_backend_plan {
    const char *chip;
    uint32_t n_groups;
    const fm_hook_group_def *groups;
    /* Counters of the chip's catalog that no group holds (not available, or needing several
     * passes alone): their work goes uncounted. 0 when every leaf has a group. */
    uint32_t leaves_left_out;
    const char *left_out; /* their names, comma-separated (may be cut short) */
} fm_backend_plan;

typedef struct fm_counter_backend {
    void *self;
    /* Plans the groups for the chip of the first context measured. 0 or an error. */
    int (*plan)(void *self, uint64_t context, uint32_t device, fm_backend_plan *out, char *why,
                size_t len);
    /* Readies a context for measuring (its chip must be the plan's). 0 or an error. */
    int (*open)(void *self, uint64_t context, uint32_t device, void **state, char *why,
                size_t len);
    /* Just before a chosen launch: arms the counters for one group, or for all of them
     * (FM_SAMPLE_ALL: replay). 0 or an error. */
    int (*arm)(void *self, void *state, int group, char *why, size_t len);
    /* Just after the launch call returned (launched: whether it succeeded): reads what the
     * launch showed, in the metric order of its group (all groups: one after another), and
     * the passes it took. 0, FM_BACKEND_LOST, or an error. Always leaves the counters
     * disarmed. */
    int (*read)(void *self, void *state, int group, int launched, double *values,
                uint32_t max_values, uint32_t *passes, char *why, size_t len);
    /* The context is going away: releases what open() made for it. */
    void (*close)(void *self, void *state);
    /* The degradation kind (trace_format.h) of one of its errors. */
    uint32_t (*kind_of)(void *self, int error);
} fm_counter_backend;

#ifdef __cplusplus
}
#endif
#endif
