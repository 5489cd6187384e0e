/* formulas.h - the compute estimates people make from a model's size and its data, and the
 * hardware-based estimate from GPU time, each with its exact form and source
 * (docs/formulas.md). A report shows each next to the measured compute on the matching basis.
 *
 * Every function is pure: facts in, estimate out. A fact that is unknown is NAN. An estimate
 * whose inputs are missing is returned with available = 0 and `missing` naming the first
 * missing fact, never as zero.
 *
 * A fact an estimate needs is missing when it is NAN, infinite, zero or negative (the report
 * validates declarations first; this is the last line of defence). Facts are examined in the
 * order of the fields of fm_model_facts (the order of the declaration-key table of
 * docs/trace-format.md), then gpu_seconds, peak_flops, utilization; `missing` names the first
 * missing one the estimate needs, by its declaration key ("model.parameters", "data.tokens",
 * ...) or, for the hardware facts, by the report's fact keys that supply them (given there in
 * hours and TFLOP/s): "hardware.gpu_hours", "hardware.peak_tflops", "hardware.utilization".
 * A utilization above 1 is missing too. Should the facts be valid but their product overflow
 * or underflow a double, the estimate is unavailable naming the first fact it needs. An
 * available estimate is finite and > 0. */
#ifndef FM_REPORT_FORMULAS_H
#define FM_REPORT_FORMULAS_H

#include <stddef.h>

/* What the program declared (or a model spec file / options said) about its model and data.
 * Counts are doubles because they exceed 2^53 in large runs; NAN = unknown. */
typedef struct fm_model_facts {
    double parameters;        /* N: all parameters */
    double parameters_active; /* parameters active per token (mixture of experts) */
    double layers;            /* L */
    double hidden_size;       /* d_model */
    double heads;             /* attention heads; d_model / heads = head size */
    double ffn_size;          /* d_ff; NAN = 4 * hidden_size where a formula needs it (the
                                 formulas count an MLP of two d x d_ff matrices) */
    double sequence_length;   /* T, n_ctx */
    double vocabulary;        /* V */
    double experts;           /* experts per MoE layer */
    double experts_active;    /* experts used per token (top-k) */
    double tokens;            /* D: training tokens processed (all ranks); the key is
                                 "data.tokens" */
} fm_model_facts;

/* GPU time for the hardware-based estimate C = N * L * H * U. */
typedef struct fm_hardware_facts {
    double gpu_seconds;       /* N * L: summed over GPUs */
    double peak_flops;        /* H: dense peak of the precision the job used, FLOP/s */
    double utilization;       /* U, 0 < U <= 1 */
} fm_hardware_facts;

/* Which measured compute an estimate is meant to match. */
typedef enum fm_estimate_basis {
    FM_BASIS_MODEL = 0,       /* training work without activation recomputation */
    FM_BASIS_MODEL_RECOMPUTE, /* training work including activation recomputation */
    FM_BASIS_EXECUTED,        /* everything the GPUs executed */
} fm_estimate_basis;

typedef struct fm_estimate {
    const char *id;           /* stable identifier used in JSON, e.g. "6nd" */
    const char *name;         /* short human name, e.g. "PaLM (Chowdhery et al. 2022)" */
    const char *form;         /* the formula as written in the report, e.g. "6 * N * D"; it
                                 says which defaults it used (d_ff = 4 * d) */
    const char *source;       /* citation */
    fm_estimate_basis basis;
    int available;            /* 0 when a needed fact is unknown */
    const char *missing;      /* the first missing fact's name (declaration key); NULL
                                 exactly when available */
    double flop;              /* the estimate in FLOP when available, NAN otherwise */
} fm_estimate;

/* The estimates, in the order reports list them. */
enum {
    FM_EST_6ND,           /* 6 N D */
    FM_EST_KAPLAN,        /* 6 N_nonembedding D + 6 L T d D (attention term) */
    FM_EST_CHINCHILLA,    /* Hoffmann et al. 2022, Appendix F, 3 x forward */
    FM_EST_PALM,          /* (6 N + 12 L d T) D */
    FM_EST_NARAYANAN,     /* 96 D L d^2 (1 + T/(6d) + V/(16 L d)), with recomputation */
    FM_EST_KORTHIKANTI,   /* 72 D L d^2 (1 + T/(6d) + V/(12 d L)) */
    FM_EST_MOE_ACTIVE,    /* 6 N_active D */
    FM_EST_8ND,           /* 8 N D: full activation recomputation */
    FM_EST_HARDWARE,      /* N_gpu * L * H * U */
    FM_EST_COUNT
};

/* Computes every estimate into out[FM_EST_COUNT]. hw may be NULL (the hardware-based
 * estimate is then unavailable, naming "hardware.gpu_hours"); facts may be NULL (all
 * unknown). Every string points to static storage. */
void fm_estimates_compute(const fm_model_facts *facts, const fm_hardware_facts *hw,
                          fm_estimate out[FM_EST_COUNT]);

/* Returns facts with every field NAN. */
fm_model_facts fm_model_facts_unknown(void);

#endif
