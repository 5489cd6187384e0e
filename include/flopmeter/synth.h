/* synth.h - writes a realistic trace of a simulated training job, for tests, benchmarks and
 * the shipped example, through the same writer the hook uses.
 *
 * The simulated job is a GPT-style model trained with data parallelism: every step launches a
 * mix of tensor-core GEMMs, attention, element-wise, normalisation, optimizer and collective
 * kernels drawn from a pool of distinct kernel signatures; some steps are evaluation, and a
 * share of each step's forward work is activation recomputation. Launches are measured the way
 * the hook's sampler would (the first launches of every signature, then a random fraction),
 * the rest are extrapolated from their signature's mean, and launches during an optional
 * "counters busy" window stay unmeasured. The same seed gives a byte-identical file. */
#ifndef FLOPMETER_SYNTH_H
#define FLOPMETER_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One simulated kernel launch, for callers that want the launch stream itself (the benchmark
 * writes it as a Chrome trace to compare sizes). */
typedef struct fm_synth_launch {
    uint64_t signature;     /* signature id in the trace */
    const char *name;       /* kernel name */
    uint64_t start_ns, duration_ns;
    uint32_t grid[3], block[3];
    uint32_t stream;
    uint64_t phase;         /* phase id in the trace */
    double flop;            /* operations the launch really executed (all classes) */
} fm_synth_launch;

typedef struct fm_synth_params {
    uint64_t seed;
    uint32_t rank, world_size;
    uint32_t steps;             /* training steps */
    uint32_t signatures;        /* distinct kernel signatures in the pool */
    uint32_t launches_per_step; /* kernel launches per training step */
    double step_seconds;        /* simulated wall time of one step */
    uint32_t interval_ms;       /* aggregation interval */
    uint32_t eval_every;        /* an evaluation block every N steps; 0 = none */
    uint32_t eval_steps;        /* steps per evaluation block */
    int recomputation;          /* 1: a third of forward work is repeated as recomputation */
    uint32_t first_measured;    /* launches of each signature always measured */
    double sample_rate;         /* fraction of later launches measured */
    uint32_t busy_from_step, busy_steps; /* counters unavailable for these steps (0 = none) */
    uint64_t start_unix_ns;     /* simulated start time */
    const char *run_id;         /* NULL = "synth-<seed>" */
    /* Model facts declared into the trace (drive the declarations, not the kernels). */
    uint32_t layers, hidden, heads, seq_len, vocab, micro_batch;
    double planned_tokens;      /* declared plan of the whole run; 0 = 10x the simulated run */
    void (*on_launch)(void *ctx, const fm_synth_launch *launch);
    void *on_launch_ctx;
} fm_synth_params;

/* Fills *p with a small default job (rank 0 of 8, 200 steps, 300 signatures). */
void fm_synth_params_init(fm_synth_params *p);

typedef struct fm_synth_summary {
    uint64_t launches;
    uint64_t launches_measured, launches_extrapolated, launches_unmeasured;
    double flop_true;           /* what the simulated kernels executed */
    double flop_measured, flop_extrapolated; /* what the trace says */
    uint64_t records, chunks, file_bytes, raw_bytes;
    uint64_t writer_ns;         /* time spent inside writer calls */
    uint64_t counter_samples;
    double simulated_seconds;
} fm_synth_summary;

/* Writes the trace. 0 on success; on failure a negative fm_status with a message in errbuf. */
int fm_synth_write(const char *path, const fm_synth_params *p, fm_synth_summary *summary,
                   char *errbuf, size_t errbuf_len);

#ifdef __cplusplus
}
#endif
#endif
