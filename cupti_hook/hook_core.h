/* hook_core.h - the in-process collector, independent of CUDA: it is told about launches,
 * kernel executions, devices, phases, declarations and problems, and keeps the trace. The
 * CUPTI glue (cupti_glue.c) and the entry points (hook_entry.c) are thin layers over it, and
 * the tests drive it directly with a test double of the CUPTI callback stream.
 *
 * Lifecycle: IDLE -> RUNNING (fm_hook_start: trace created, flusher thread running) ->
 * STOPPED (fm_hook_stop: final records written, trace closed); DISABLED when configuration or
 * the trace cannot be set up (the program runs on, unmeasured). Every entry checks the state
 * first; nothing here ever exits or aborts the program (except FLOPMETER_STRICT on start). */
#ifndef FM_HOOK_CORE_H
#define FM_HOOK_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "hook_config.h"
#include "launch_table.h"

enum fm_hook_state { FM_HOOK_IDLE = 0, FM_HOOK_RUNNING, FM_HOOK_STOPPED, FM_HOOK_DISABLED };

/* What the CUDA side knows when the collector starts (0 when unknown). */
typedef struct fm_hook_versions {
    uint64_t cuda_driver, cuda_runtime, cupti;
} fm_hook_versions;

/* One launch, as the callback sees it. */
typedef struct fm_launch_info {
    uint64_t function;
    const char *name;           /* valid during the call only: copied when new */
    uint32_t grid[3], block[3];
    uint32_t shared_mem, device;
    uint64_t arg_hash;
    uint64_t correlation_id;    /* to match the kernel's execution record; 0 = none */
} fm_launch_info;

/* Starts measuring: reads the configuration, creates the trace and the flusher thread.
 * 0 when running (or already running), -1 when disabled (with one line on stderr). */
int fm_hook_start(const fm_hook_versions *v);

/* Writes what is buffered and the FINAL record, closes the trace. Safe to call more than
 * once and from any thread; the later calls do nothing. */
void fm_hook_stop(uint64_t exit_reason);

int fm_hook_state(void);

/* The configuration in effect (valid once fm_hook_start has returned 0). */
const fm_hook_config *fm_hook_config_in_use(void);

/* The launch path: allocates nothing, takes no global lock. */
void fm_hook_launch(const fm_launch_info *l);

/* ---- counters: the profiler glue (or a test double of the profiler) ------------------------ */

/* One metric of a group, as the trace records it: CUPTI's name, the precision class it counts
 * (FM_CLASS_NONE for a duration) and the operations per counted unit. */
typedef struct fm_hook_metric {
    const char *name;
    uint8_t precision_class;
    double weight;
} fm_hook_metric;

typedef struct fm_hook_group_def {
    uint32_t n_metrics;
    const fm_hook_metric *metrics;
} fm_hook_group_def;

/* Declares the single-pass metric groups of the process's GPUs (one chip family per process)
 * and turns measurement on: from then on fm_hook_launch_measured picks launches to measure,
 * mode and budget as sampler.h's fm_profile_mode and budget. 0, or -1 when already declared,
 * out of range or out of memory (the launches are then counted unmeasured). */
int fm_hook_set_metric_groups(const char *chip, const fm_hook_group_def *groups, uint32_t n,
                              int mode, double budget);

/* What the launch path decided for one launch: group is FM_SAMPLE_NONE (not measured),
 * FM_SAMPLE_ALL (every group: replay) or a group index; the rest identifies the launch to
 * fm_hook_counter_sample. */
typedef struct fm_launch_decision {
    int group;
    uint32_t signature;
    uint32_t pair;        /* the (signature, phase) counter's index */
    uint64_t ordinal;     /* the launch's number, shared by its samples */
} fm_launch_decision;

/* fm_hook_launch, and whether to measure the launch. */
void fm_hook_launch_measured(const fm_launch_info *l, fm_launch_decision *d);

/* What one measured launch showed in one metric group: the raw values in the group's metric
 * order, and the kernel's duration as measured with them (0: unknown). */
typedef struct fm_counter_reading {
    uint32_t group;
    uint32_t n_values;
    const double *values;
    uint64_t duration_ns;
} fm_counter_reading;

/* The readings of one measured launch, all at once (one for a sampled launch, one per group
 * for a replayed one), so that they stay together in the trace. passes: the replays the
 * launch needed; overhead_ns: the wall time measuring it added (the sampler's cost model).
 * Any thread. */
void fm_hook_counter_sample(const fm_launch_decision *d, const fm_counter_reading *readings,
                            uint32_t n, uint32_t passes, uint64_t overhead_ns);
/* A launch chosen for measurement whose values never came (the range was lost). */
void fm_hook_counter_lost(const fm_launch_decision *d);

/* A kernel execution record (from CUPTI activity buffers, or the test double): its duration
 * is added to the launch with this correlation id (0: none, and the record is ignored). */
void fm_hook_kernel_executed(uint64_t correlation_id, uint64_t duration_ns);

/* A kernel seen only as an execution (inside a CUDA graph): counted from here. */
void fm_hook_graph_kernel(const fm_launch_info *l, uint64_t duration_ns);

/* A GPU the process uses. */
void fm_hook_device(uint32_t ordinal, const char *name, const uint8_t uuid[16], const char *chip,
                    uint32_t cc_major, uint32_t cc_minor, uint32_t sm_count,
                    uint64_t memory_bytes, const char *pci_bus_id);

/* Something the tool could not do: one line on stderr (once per kind) and a DEGRADATION
 * record. Callable before start (kept until the trace exists) and from any thread. */
void fm_hook_degrade(uint32_t kind, int64_t api_result, uint64_t launches_affected,
                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* For the C API (flopmeter.h). */
int fm_hook_phase_push(const char *name, int category);
int fm_hook_phase_pop(void);
int fm_hook_declare(const char *key, double value, const char *text);
/* One optimizer step of `tokens` tokens: summed between flushes and written as one
 * data.tokens and one data.steps declaration per flush and phase, so a fast loop costs no
 * record per step and loses none. */
int fm_hook_step(double tokens);
const char *fm_hook_trace_path(void);

/* The child of a fork: drops the parent's trace without writing to it; measuring stays off
 * in the child. */
void fm_hook_after_fork_child(void);

/* Counters for tests and the benchmark. */
typedef struct fm_hook_stats {
    uint64_t launches, signatures, dropped_signatures, dropped_pairs;
} fm_hook_stats;
void fm_hook_get_stats(fm_hook_stats *s);

/* Unix time in ns. */
uint64_t fm_hook_now_ns(void);

/* Asks the flusher to write the counter samples waiting for it now, without waiting for the
 * interval: called by the measuring side when they fill faster than one flush an interval
 * takes them (exact mode, a new job's first launches). Never blocks on a flush. */
void fm_hook_write_samples_soon(void);

/* Optional: a function that captures the calling thread's native stack into pcs (innermost
 * first), returning how many; set by the entry layer (libunwind), NULL in tests. */
extern int (*fm_hook_capture_stack)(uint64_t *pcs, int max);

#endif
