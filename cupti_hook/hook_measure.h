/* hook_measure.h - counter measurements in the collector: which launches are measured (the
 * sampler), what their raw values are worth per precision class, and what the launches that
 * were not measured are credited with. CUDA-free like the rest of the collector: the profiler
 * glue declares the metric groups and hands in the values it read; the tests drive it with a
 * test double of the profiler.
 *
 * Launches in flight. A launch chosen for measurement is counted as launched at once, but its
 * values arrive later (after the kernel ran and the profiler's data was decoded). Until then
 * it must be credited neither as extrapolated (it will be measured) nor as measured (nothing
 * is known yet): each (signature, phase) counter holds how many of its launches are in flight,
 * raised by the launch path before it counts the launch, lowered by the flusher when the
 * values (or their loss) are taken. An AGGREGATE's launches are the launches settled since the
 * last one: counted and not in flight. */
#ifndef FM_HOOK_MEASURE_H
#define FM_HOOK_MEASURE_H

#include <stdint.h>

#include "flopmeter/trace_writer.h"
#include "hook_config.h"
#include "launch_table.h"

/* ---- for the collector (hook_core.c) ------------------------------------------------------ */

/* 1 once metric groups are declared: the launch path then asks fm_measure_decide. */
int fm_measure_active(void);

/* The sampler's answer for one launch of signature sig: FM_SAMPLE_NONE, FM_SAMPLE_ALL or a
 * group index (sampler.h). Lock-free. */
int fm_measure_decide(uint32_t sig);

/* 1 when the argument learner (arg_splitting.h) has folded the family of this key: its
 * launches go under the family's folded signature (arg_hash FM_ARGS_FOLDED). Lock-free. */
int fm_measure_args_folded(const fm_launch_key *k);

/* fm_measure_decide in two halves (sampler.h, fm_sampler_rate_of): for a launch path that
 * caches each signature's rate with its own counters. Lock-free. */
uint32_t fm_measure_generation(void);
int fm_measure_rate_of(uint32_t sig, uint32_t *below);
uint64_t fm_measure_draw(void);
int fm_measure_chosen(uint32_t sig);

/* A number for a measured launch, increasing, unique in the process: its samples share it. */
uint64_t fm_measure_next_ordinal(void);

/* The flusher, once per interval, in this order: */
/* 1. METRIC_GROUP records of groups declared since the last call. */
void fm_measure_write_groups(fm_writer *w);
/* 2. COUNTER_SAMPLE records of the values taken since the last call, after the METRIC_GROUP
 *    records of groups declared meanwhile (signatures up to sigs_written are in the trace;
 *    samples of later ones wait), and their launches leave the in-flight counts of their
 *    pairs. Returns the profiling overhead they reported (ns). */
uint64_t fm_measure_write_samples(fm_writer *w, fm_launch_table *t, uint32_t sigs_written);
/* 3. The measured and credited part of one AGGREGATE: `launches` settled launches of the pair
 *    at index pair_index (signature sig). Fills the launch split and up to max classes. */
typedef struct fm_measure_split {
    uint64_t measured, extrapolated; /* the rest is unmeasured */
    uint32_t n_classes;
    fm_class_flop classes[64];
} fm_measure_split;
void fm_measure_split_of(uint32_t pair_index, uint32_t sig, uint64_t launches,
                         fm_measure_split *out);
/* 4. The sampler's rates for the next interval (elapsed: wall ns since groups were declared). */
void fm_measure_end_interval(uint64_t now_ns);

/* The collector's table and its capacity in signatures (at start). */
void fm_measure_configure(fm_launch_table *t, uint32_t signatures);

/* 1 when measurement is on and every metric group of sig has a reading: its unmeasured
 * launches can be credited. */
int fm_measure_complete(uint32_t sig);

/* Measured launches of the pair whose values this flush took (after step 2). */
uint32_t fm_measure_read_in_flush(uint32_t pair_index);

#endif
