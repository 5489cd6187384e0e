/* measured_launch.h - reads the counters around the launches the sampler chooses, through a
 * counter backend (counter_backend.h: CUPTI's range profiler, or a test double).
 *
 * The launch callback calls fm_measuring_launch at the launch's entry and
 * fm_measuring_launch_done at its exit, on the same thread. Between the two, a chosen launch
 * has the counters of its context armed: the thread holds that context's measurement (one at
 * a time per context), and launches of other threads on the same context wait at their entry
 * until it is over, so that no other kernel runs inside the measurement. Launches that are
 * not measured, while nothing is being measured, cost a thread-local compare and two loads
 * beyond fm_hook_launch.
 *
 * Nothing here stops the program: a backend that cannot plan the chip's groups turns
 * measuring off (one DEGRADATION), a context that cannot be opened or whose counters fail is
 * no longer measured (one DEGRADATION per context), and its launches go on being counted. A
 * launch chosen for measurement whose values are not its own is reported lost. */
#ifndef FM_HOOK_MEASURED_LAUNCH_H
#define FM_HOOK_MEASURED_LAUNCH_H

#include <stdint.h>

#include "counter_backend.h"
#include "hook_core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Measuring through backend b from now on (the collector must be running), mode and budget
 * as fm_hook_set_metric_groups takes them. The chip's groups are planned at the first launch
 * on a context. 0, or -1 when mode is off or measuring has started already. */
int fm_measuring_start(const fm_counter_backend *b, int mode, double budget);

/* 1 while launches may still be measured. */
int fm_measuring_on(void);

/* A launch on `context` (of GPU `device`), at its entry: counted, and measured when chosen
 * unless never_measure. Calls fm_hook_launch or fm_hook_launch_measured. */
void fm_measuring_launch(uint64_t context, uint32_t device, const fm_launch_info *l,
                         int never_measure);

/* The same launch at its exit; launched: whether the launch call succeeded. */
void fm_measuring_launch_done(int launched);

/* A context is being destroyed: a later one at the same address is a new context. */
void fm_measuring_context_gone(uint64_t context);

/* The child of a fork: measures nothing (its CUDA state is not usable). */
void fm_measuring_after_fork_child(void);

#ifdef __cplusplus
}
#endif
#endif
