/* report_facts.h - the facts a report reasons with besides the measurement: the model, the
 * data, the plan, the original model (for the modifier rules) and the hardware. They come
 * from the traces' declarations, from a model spec file, and from command-line options, in
 * that order of precedence (an option wins); each fact remembers where it came from. Every
 * fact is checked: an impossible value is refused with the field named. */
#ifndef FM_REPORT_FACTS_H
#define FM_REPORT_FACTS_H

#include <stddef.h>

#include "formulas.h"
#include "report_model.h"

/* The facts, by declaration key (docs/trace-format.md, "Declaration keys"). */
enum rp_fact_id {
    RP_F_PARAMETERS,         /* model.parameters */
    RP_F_PARAMETERS_ACTIVE,  /* model.parameters_active */
    RP_F_LAYERS,             /* model.layers */
    RP_F_HIDDEN,             /* model.hidden_size */
    RP_F_HEADS,              /* model.heads */
    RP_F_FFN,                /* model.ffn_size */
    RP_F_SEQUENCE,           /* model.sequence_length */
    RP_F_VOCABULARY,         /* model.vocabulary */
    RP_F_EXPERTS,            /* model.experts */
    RP_F_EXPERTS_ACTIVE,     /* model.experts_active */
    RP_F_TOKENS,             /* data.tokens: sum over the traces (or given) */
    RP_F_STEPS,              /* data.steps: steps of the job (the most any rank declared) */
    RP_F_PLAN_TOKENS,        /* plan.tokens */
    RP_F_PLAN_STEPS,         /* plan.steps */
    RP_F_PLAN_GPUS,          /* plan.gpus */
    RP_F_ORIGINAL_COMPUTE,   /* original.compute: the modified model's own training compute */
    RP_F_PRIOR_COMPUTE,      /* prior.compute: earlier training this model builds on (merged
                                or initialisation weights, earlier runs), not in the traces */
    RP_F_UTILIZATION,        /* hardware.utilization: U for the hardware-based estimate */
    RP_F_PEAK_TFLOPS,        /* hardware.peak_tflops: overrides the peak table */
    RP_F_GPU_HOURS,          /* hardware.gpu_hours: for `estimate` without traces */
    RP_F_FLOPCOUNTER,        /* estimate.flopcounter summed over ranks and steps */
    RP_F_COUNT
};

typedef struct rp_facts {
    double v[RP_F_COUNT];          /* NAN = unknown */
    char source[RP_F_COUNT][160];  /* where each known fact came from */
    uint32_t modalities;           /* RP_MODALITY_* bits; 0 = not declared */
    char modality_source[160];
    int original_systemic;         /* -1 unknown, 0 no, 1 yes */
    char systemic_source[160];
    int tokens_from_traces;        /* data.tokens came from the traces' declarations */
    int flopcounter_from_traces;   /* estimate.flopcounter likewise */
    char gpu_name[128];            /* hardware.gpu: for `estimate` without traces */
} rp_facts;

/* Name of a fact: its declaration key, e.g. "model.layers". */
const char *rp_fact_key(int id);
/* Looks a fact up by key; -1 when unknown. */
int rp_fact_by_key(const char *key);

void rp_facts_init(rp_facts *f);

/* Collects the traces' declarations. Facts declared differently by two traces, and impossible
 * values, are refused with the key and the files named. With combine_runs (traces of several
 * runs) the plans (plan.*) are left out: each run has its own. */
int rp_facts_from_model(rp_facts *f, const rp_model *m, int combine_runs, char *err,
                        size_t errlen);

/* Reads a model spec file (docs/report.md, "Model spec files") over the facts. */
int rp_facts_from_spec_text(rp_facts *f, const char *name, const char *text, size_t len,
                            char *err, size_t errlen);
int rp_facts_from_spec_file(rp_facts *f, const char *path, char *err, size_t errlen);

/* Sets one fact from a command-line option (value as text). */
int rp_facts_set_option(rp_facts *f, int id, const char *option, const char *text, char *err,
                        size_t errlen);
int rp_facts_set_modality(rp_facts *f, const char *text, const char *source, char *err,
                          size_t errlen);

/* Final checks that involve several facts (active <= total parameters, a plan no shorter than
 * what was measured, ...). */
int rp_facts_check(const rp_facts *f, char *err, size_t errlen);

/* The facts the formulas take. */
fm_model_facts rp_facts_model(const rp_facts *f);

#endif
