/* report.h - every figure a report shows, computed once from the model, the facts and the
 * rules (report_compute.c). The renderers (text, JSON) only format what is here, so no
 * figure has two implementations. */
#ifndef FM_REPORT_REPORT_H
#define FM_REPORT_REPORT_H

#include <stdint.h>

#include "formulas.h"
#include "report_facts.h"
#include "report_model.h"
#include "rules_data.h"

/* Phase categories of training work without recomputation: everything but evaluation,
 * recomputation, auxiliary models and synthetic-data generation. What the formulas estimate. */
#define RP_TRAINING_MASK                                                                       \
    (((1u << RP_CATEGORIES) - 1) &                                                             \
     ~((1u << FM_PHASE_EVALUATION) | (1u << FM_PHASE_RECOMPUTATION) |                          \
       (1u << FM_PHASE_AUXILIARY_MODEL) | (1u << FM_PHASE_SYNTHETIC_DATA)))

/* The share of an estimate that the EU guidelines accept as error margin (Annex A.2). */
#define RP_MARGIN 0.30
/* z for a two-sided 95% interval. */
#define RP_Z95 1.959963984540054

/* Operations with a 95% interval from the raw samples. */
typedef struct rp_amount {
    double value;
    double half_width;        /* 95% interval: value ± half_width */
    double without_interval;  /* extrapolated operations whose spread is unknown (one sample) */
} rp_amount;

typedef struct rp_estimate_row {
    fm_estimate e;
    double measured;          /* the measured compute on the estimate's basis */
    double ratio;             /* estimate / measured; NAN when either is missing */
} rp_estimate_row;

typedef struct rp_threshold_result {
    const rp_threshold *t;
    double threshold;         /* the line in FLOP this report applies */
    char threshold_from[400]; /* how it was chosen (value, relative, fallback) */
    double counted;           /* the compute that counts, on the threshold's basis */
    double fraction;          /* counted / threshold */
    int crossed;              /* counted is beyond the line */
    int condition;            /* 1 applies, 0 does not (modality), -1 not known */
    uint32_t straddling;      /* bit per estimate (bit FM_EST_COUNT: the measurement) whose
                                 ±30% band contains the line */
    /* projection of the planned run */
    int projected;            /* a plan and a rate were known */
    double projected_total;   /* on the basis, for the whole planned run */
    double projected_half_width;
    int crosses_in_plan;
    double cross_tokens, cross_steps, cross_fraction_of_plan;
    char verdict[1400];
} rp_threshold_result;

typedef struct rp_basis_result {
    const rp_basis *b;
    rp_amount counted;
    double prior;             /* prior.compute added (bases with includes_prior), else 0 */
    double integer_ops;       /* integer operations counted (0 where the rule does not) */
    double excluded[RP_CATEGORIES]; /* operations left out, by phase category */
    double rate_per_token;    /* counted / measured tokens; NAN without tokens */
} rp_basis_result;

typedef struct rp_profile_result {
    const rp_profile *p;
    rp_basis_result *bases;
    rp_threshold_result *thresholds;
} rp_profile_result;

typedef struct rp_utilization {
    const rp_peaks *peaks;    /* the table used (the first trace's device), or NULL */
    char peak_from[200];      /* "peak table h100-sxm, bf16.tensor" or "option --peak" */
    uint8_t peak_class;       /* the dominant tensor class whose peak is used */
    double peak_flops;        /* per GPU, FLOP/s; NAN when unknown */
    double gpu_seconds;
    double mfu;               /* measured work without recomputation / (GPU-s * peak) */
    double hfu;               /* everything executed / (GPU-s * peak) */
    double mfu_palm;          /* PaLM formula / (GPU-s * peak) */
    double peak_time_share;   /* sum over classes of work / that class's peak, over GPU-s */
} rp_utilization;

typedef struct rp_hardware_days {
    char device[128];
    double gpu_seconds;
    uint32_t gpus;
} rp_hardware_days;

typedef struct rp_report {
    const rp_model *m;
    const rp_facts *facts;
    const rp_data *data;
    int estimate_only;        /* no measurement: the rules see the primary estimate */
    int primary_estimate;
    int combine_runs;
    /* coverage */
    char run_id[160];
    uint32_t ranks_covered;
    uint64_t world_size;      /* 0 unknown */
    int incomplete;           /* a trace was damaged, incomplete, or ranks are missing */
    char incomplete_note[400];/* why, in one sentence, when incomplete */
    double scale;             /* applied to measured totals (--scale-to-world-size), else 1 */
    /* executed work */
    rp_amount executed_fp;    /* all phases, floating point */
    double executed_int;
    double measured_fp, extrapolated_fp;
    rp_amount model_fp;       /* training work without recomputation (the formulas' basis) */
    rp_amount model_recompute_fp;
    double wall_seconds;
    uint64_t start_unix_ns, end_unix_ns;
    uint32_t variable_signatures; /* signatures whose work differs between launches */
    /* comparisons */
    rp_estimate_row estimates[FM_EST_COUNT];
    double flopcounter;       /* PyTorch FlopCounterMode, declared per step (estimate.flopcounter)
                                 times steps, summed over ranks; NAN when not declared */
    rp_utilization util;
    rp_hardware_days *hw_days;
    uint32_t n_hw_days;
    /* rules */
    rp_profile_result *profiles;
    uint32_t n_profiles;
    /* projection (executed basis) */
    int projection;           /* 1 when a plan and measured tokens are known */
    double plan_tokens, measured_tokens, tokens_per_step, rate_half_width_rel;
    char plan_from[400];
    /* the projection drawn in the HTML timeline: the whole job's executed compute at the end
     * of the plan, and when that end comes at the measured pace; only when the traces stand
     * for the whole job (every rank, or scaled to every rank) */
    int projection_drawable;
    double projected_executed, projected_seconds;
    /* ordering of tables: indices sorted by operations, largest first */
    uint32_t *sig_order, *callsite_order, *phase_order;
    double *callsite_ops;     /* per call site, floating point */
    uint32_t *callsite_sigs;  /* signatures per call site */
    /* a paragraph for the Model Documentation Form */
    char methodology[4096];
} rp_report;

typedef struct rp_report_options {
    int scale_to_world_size;  /* multiply by world size / ranks covered */
    int combine_runs;         /* traces of several runs in one report */
    const char *only_profile; /* NULL = every profile */
    int estimate_only;        /* no traces: rules are applied to a formula estimate */
    int primary_estimate;     /* with estimate_only: the estimate used (FM_EST_*) */
} rp_report_options;

/* Checks that the traces belong together: one run (unless combine_runs), one world size, no
 * rank twice. 0, or -1 with a message naming the files. */
int rp_check_traces(const rp_model *m, int combine_runs, char *err, size_t errlen);

/* Computes the report. 0, or -1 with a message (mismatched runs, duplicate ranks, ...). */
int rp_report_compute(rp_report *r, const rp_model *m, const rp_facts *facts,
                      const rp_data *data, const rp_report_options *opt, char *err,
                      size_t errlen);
void rp_report_free(rp_report *r);

/* The operations of a basis: phase categories and whether integer operations count, with
 * their interval (exposed for tests). */
rp_amount rp_amount_in(const rp_model *m, uint32_t category_mask, int with_integer);

/* Display name of a call site: its first frame outside CUDA's own libraries. */
const char *rp_callsite_label(const rp_callsite *c, char *buf, size_t len);

/* Names of estimate bits in a straddling mask ("6ND, PaLM"). */
void rp_straddling_names(const rp_report *r, uint32_t mask, char *buf, size_t len);

#endif
