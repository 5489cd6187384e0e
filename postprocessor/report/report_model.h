/* report_model.h - what the report knows after reading a job's traces: per trace (rank), per
 * kernel signature, per call site, per phase, per precision class and phase category, over
 * time, the declarations and the degradations.
 *
 * Built by streaming each trace once (report_read.c); memory grows with the distinct
 * signatures, call sites, phases and metric groups, never with the number of records. The
 * same kernel launched by several ranks is one signature here (same name, grid, block, shared
 * memory and argument hash), so its samples are pooled. */
#ifndef FM_REPORT_MODEL_H
#define FM_REPORT_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "flopmeter/trace_format.h"
#include "flopmeter/trace_verify.h"

#define RP_CATEGORIES (FM_PHASE_CATEGORY_MAX + 1)

/* Operations: counted by hardware on measured launches, and credited to extrapolated ones. */
typedef struct rp_ops {
    double measured, extrapolated;
} rp_ops;

/* Running mean and variance (Welford). */
typedef struct rp_welford {
    uint64_t n;
    double mean, m2;
} rp_welford;

void rp_welford_add(rp_welford *w, double x);
double rp_welford_variance(const rp_welford *w); /* sample variance; 0 when n < 2 */

/* Floating-point and integer operations kept apart: rules differ on integers. */
enum { RP_FP = 0, RP_INT = 1 };

/* Sample statistics of one metric group of one signature: the operations the group's
 * counters showed on each measured launch. */
typedef struct rp_group_stats {
    uint32_t group;           /* global metric group index */
    rp_welford ops[2];        /* RP_FP, RP_INT */
} rp_group_stats;

typedef struct rp_signature {
    const char *name;         /* in the model's kernel names, shared by the signatures */
    uint64_t grid[3], block[3], shared_mem, arg_hash;
    uint32_t callsite;        /* global call site index + 1, 0 = unknown */
    uint32_t first_trace;     /* trace where it was first seen */
    uint64_t launches, launches_measured, launches_extrapolated, busy_ns;
    rp_ops ops[2];            /* RP_FP, RP_INT */
    uint64_t extrapolated_by_category[RP_CATEGORIES];
    /* samples */
    rp_group_stats *groups;
    uint32_t n_groups, cap_groups;
    rp_welford launch_ops[2]; /* per measured launch, all groups observed on it together */
    uint32_t min_groups_per_launch; /* fewest groups seen on one measured launch */
    uint64_t samples;
} rp_signature;

/* What one signature did in one phase, over the whole job (the CSV's rows). */
typedef struct rp_sigphase {
    uint32_t sig, phase;
    uint64_t launches, launches_measured, launches_extrapolated, busy_ns;
    rp_ops ops[2];
} rp_sigphase;

typedef struct rp_frame {
    char *module, *symbol;
    uint64_t offset;
} rp_frame;

typedef struct rp_callsite {
    rp_frame *frames;
    uint32_t n_frames;
} rp_callsite;

typedef struct rp_phase {
    char *name;
    uint32_t category;        /* enum fm_phase_category (unknown categories: custom) */
    uint64_t launches;
    rp_ops ops[2];
} rp_phase;

typedef struct rp_group {
    char *chip;
    uint32_t n_metrics;
    char **metric_names;
    uint8_t *classes;
    double *weights;
} rp_group;

typedef struct rp_degradation {
    uint32_t trace;
    uint64_t time_ns, kind, launches_affected;
    int64_t api_result;
    char *message;
} rp_degradation;

typedef struct rp_declared {
    char *key;
    double value;             /* last value, or the sum for increments (data.*) */
    char *text;
    uint64_t count;           /* how many declarations */
} rp_declared;

/* One input trace: one process, normally one rank. */
typedef struct rp_trace {
    char *path;
    char *run_id, *host, *tool_version, *command, *device_name;
    int64_t rank, local_rank;
    uint64_t world_size, pid;
    uint64_t start_ns, end_ns;
    uint32_t format_minor;
    uint32_t devices;         /* GPUs the process used */
    fm_verify_result verify;  /* status, completeness, signatures, chain head */
    int usable_partial;       /* damaged or incomplete, used up to the damage */
    /* when the records came from one input of a merged trace: that input (INPUT record) */
    int merged;
    char *input_path;
    uint8_t input_head[FM_HASH_LEN];
    int input_complete;
    uint64_t input_signatures, input_signatures_valid;
    uint64_t launches, launches_unmeasured;
    double busy_ns;
    rp_ops ops[RP_CATEGORIES][2];
    rp_declared *declared;
    uint32_t n_declared, cap_declared;
    uint64_t records_dropped;
} rp_trace;

/* Compute over time, in buckets that widen as the job gets longer (at most RP_MAX_BUCKETS). */
#define RP_MAX_BUCKETS 2048
typedef struct rp_bucket {
    double ops[RP_CATEGORIES][2]; /* measured + extrapolated */
    double tokens, steps;
} rp_bucket;

typedef struct rp_timeline {
    int started;              /* t0_ns is set (by the first time seen) */
    uint64_t t0_ns;           /* start of bucket 0 */
    uint64_t width_ns;
    uint32_t n;               /* buckets in use */
    rp_bucket b[RP_MAX_BUCKETS];
} rp_timeline;

typedef struct rp_model {
    rp_trace *traces;
    uint32_t n_traces, cap_traces;
    rp_signature *sigs;
    uint32_t n_sigs, cap_sigs;
    char **kernel_names;      /* one copy of each: a name has many signatures (shapes, ranks) */
    uint32_t n_kernel_names, cap_kernel_names;
    rp_callsite *callsites;
    uint32_t n_callsites, cap_callsites;
    rp_phase *phases;         /* index 0: work outside any phase */
    uint32_t n_phases, cap_phases;
    rp_group *groups;
    uint32_t n_groups, cap_groups;
    rp_degradation *degradations;
    uint32_t n_degradations, cap_degradations;
    rp_sigphase *sigphases;   /* in order of first appearance */
    uint32_t n_sigphases, cap_sigphases;
    rp_ops by_class[RP_CATEGORIES][256]; /* per phase category and precision class */
    uint64_t launches, launches_measured, launches_extrapolated, launches_unmeasured;
    double busy_ns;
    rp_timeline timeline;
    void *index;              /* private lookup tables */
} rp_model;

int rp_model_init(rp_model *m);
void rp_model_free(rp_model *m);

/* Options for reading traces into the model. */
typedef struct rp_read_options {
    int allow_incomplete;     /* use damaged and incomplete traces up to the damage */
    const fm_verify_options *verify;
} rp_read_options;

/* Failures that are the tool's, not the input's (out of memory). */
#define RP_E_INTERNAL (-2)

/* Reads one trace into the model. 0 on success; -1 with a one-line message naming the file
 * when the trace is unusable (or, without allow_incomplete, damaged or incomplete; a trace
 * without a signature the options require is never used); RP_E_INTERNAL when the tool failed. */
int rp_read_trace(rp_model *m, const char *path, const rp_read_options *opt, char *err,
                  size_t errlen);

/* Operations of the whole model in the given phase categories (a bit per category), FP or
 * FP + integer. */
double rp_ops_in(const rp_model *m, uint32_t category_mask, int with_integer);

#endif
