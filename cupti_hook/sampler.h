/* sampler.h - which launches the range profiler measures, and in which metric group.
 *
 * Pure decision logic: no CUDA, no CUPTI. Three sides, three threads:
 *   - the launch path asks fm_sampler_decide() on every launch: O(1), lock-free (C11 atomics
 *     on the signature's own cache line), allocation-free; after a signature's first launches
 *     it writes nothing shared unless the launch is measured (a per-thread random draw against
 *     the signature's rate), so it adds no contention to the launch table's per-thread counts;
 *   - the thread that decodes profiler results reports them (fm_sampler_record, _note_cost,
 *     _lost): per signature and group, a running mean and variance (Welford);
 *   - the flusher gives it each signature's launches (fm_sampler_add_launches, from the launch
 *     table's counters), recomputes the sampling rates once per interval
 *     (fm_sampler_rebalance) from a cost model and a budget, and reads the credit of
 *     unprofiled launches (fm_sampler_take).
 * The last two take the sampler's mutex, never the launch path.
 *
 * Modes (FLOPMETER_PROFILE, docs/hook.md "Sampling"):
 *   exact    every launch measured in every group (kernel replay): for validation;
 *   sampled  a new signature's first launches are always measured, one group per launch in
 *            rotation (no replay where the kernel repeats), so every group is read the same
 *            number of times; afterwards each launch is measured with probability 1/k, k per
 *            signature recomputed each interval so that the profiling time stays under a share
 *            of wall time, favouring signatures with the largest FLOP share, the fewest samples
 *            and the largest variance; measured launches still rotate through the groups.
 *
 * The header holds no atomic type, so C++ tests include it as it is. */
#ifndef FM_HOOK_SAMPLER_H
#define FM_HOOK_SAMPLER_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum fm_profile_mode {
    FM_PROFILE_OFF = 0,     /* no counters read (the hook still counts launches) */
    FM_PROFILE_SAMPLED = 1, /* the default */
    FM_PROFILE_EXACT = 2,   /* every launch, every group, with kernel replay */
} fm_profile_mode;

/* Metric groups one launch may need for its full count. The catalog's families split into 7
 * (GH100) to 11 (GB20x) single-pass groups (docs/methodology.md, "The metric catalog"). */
#define FM_SAMPLER_MAX_GROUPS 16

/* fm_sampler_decide's answers besides a group index (0 .. n_groups-1). */
#define FM_SAMPLE_NONE (-1) /* do not measure this launch */
#define FM_SAMPLE_ALL (-2)  /* measure it in every group: kernel replay */

/* A period meaning "not until the next rebalance says otherwise": the budget is spent. */
#define FM_SAMPLER_NEVER UINT32_MAX

#define FM_SAMPLER_DEFAULT_BUDGET 0.02  /* share of wall time spent profiling */
#define FM_SAMPLER_DEFAULT_FIRST 2      /* reads of each group on a new signature's first
                                           launches: 2 is the fewest that give a variance */
#define FM_SAMPLER_DEFAULT_PERIOD 1024  /* before the first rebalance knows any rate */
#define FM_SAMPLER_DEFAULT_COST_NS 50000 /* per measured launch, until one is measured */

typedef struct fm_sampler_config {
    fm_profile_mode mode;
    uint32_t signatures;       /* signature ids 1 .. signatures (the launch table's capacity) */
    uint32_t n_groups;         /* metric groups for a full count, 1 .. FM_SAMPLER_MAX_GROUPS */
    uint32_t first_per_group;  /* FLOPMETER_PROFILE_FIRST: the first first_per_group*n_groups
                                  launches of a signature are all measured (>= 1) */
    double budget;             /* FLOPMETER_PROFILE_BUDGET: share of wall time, (0, 1] */
    uint32_t initial_period;   /* k before the first rebalance (>= 1) */
    uint64_t initial_cost_ns;  /* cost of one measurement until one is known */
    int replay_first;          /* FLOPMETER_PROFILE_REPLAY_FIRST: a new signature's very first
                                  launch is measured in all groups (replay), so a kernel that
                                  never repeats still gets a full count */
} fm_sampler_config;

void fm_sampler_config_defaults(fm_sampler_config *c);

typedef struct fm_sampler fm_sampler;

/* NULL when the configuration is out of range or memory is short. The per-signature state is
 * reserved here for every id, committed only as ids are used. */
fm_sampler *fm_sampler_new(const fm_sampler_config *c);
void fm_sampler_free(fm_sampler *s);

/* ---- the launch path --------------------------------------------------------------------- */

/* Should this launch of signature `sig` be measured, and in which group? FM_SAMPLE_NONE,
 * FM_SAMPLE_ALL, or a group index. Lock-free, allocation-free, O(1): during the first
 * launches one atomic add on the signature's line; afterwards two loads of that line and a
 * draw from the thread's own generator, and two atomic adds only when the launch is measured.
 * An id outside 1 .. signatures is never measured (counted, see fm_sampler_stats). */
int fm_sampler_decide(fm_sampler *s, uint32_t sig);

/* The same decision in two halves, for a launch path that keeps each signature's rate next
 * to its own counters (hook_core.c): the rates' generation (raised by every rebalance in
 * sampled mode, 0 before the first); a signature's rate in it, as the bound below which the
 * top 32 bits of a draw measure the launch (0 when the signature has no rate of its own:
 * fm_sampler_decide must decide); a draw from the thread's generator; and, for a launch a
 * draw chose, its group (counted as measured). */
uint32_t fm_sampler_generation(const fm_sampler *s);
int fm_sampler_rate_of(const fm_sampler *s, uint32_t sig, uint32_t *below);
uint64_t fm_sampler_draw(void);
int fm_sampler_chosen(fm_sampler *s, uint32_t sig);

/* Seeds the calling thread's generator (tests; otherwise each thread seeds itself). */
void fm_sampler_seed_thread(uint64_t seed);

/* ---- results ----------------------------------------------------------------------------- */

/* The operations (FLOP, weighted as in the trace) that `group` showed on one measured launch
 * of `sig`. A replayed launch (FM_SAMPLE_ALL) reports once per group. */
void fm_sampler_record(fm_sampler *s, uint32_t sig, uint32_t group, double ops);

/* A launch chosen for measurement whose result never came (the range was lost, the decode
 * failed): it counts as unprofiled instead of measured. */
void fm_sampler_lost(fm_sampler *s, uint32_t sig);

/* The profiling overhead one measurement in `group` cost (ns of wall time beyond the
 * unprofiled launch): the cost model the rates are planned with. */
void fm_sampler_note_cost(fm_sampler *s, uint32_t group, uint64_t ns);

/* ---- the flusher: rates ------------------------------------------------------------------ */

/* Launches of `sig` since the previous call (the launch table counts them; the sampler needs
 * them for rates and credit). Called for each signature that ran, before fm_sampler_rebalance
 * and fm_sampler_take. */
void fm_sampler_add_launches(fm_sampler *s, uint32_t sig, uint64_t launches);

typedef struct fm_sampler_plan {
    double allowed_ns;         /* budget x elapsed wall time */
    double spent_ns;           /* profiling time spent so far, as given */
    double cost_ns;            /* expected cost of one measurement (mean over the groups) */
    double forced_ns;          /* expected cost of first launches in the next interval */
    double sampled_ns;         /* what the next interval may spend on sampled launches */
    double planned;            /* sampled measurements planned for the next interval */
    uint32_t active;           /* signatures launched in the last interval */
    uint32_t sampled;          /* of which given a period (the rest: never, or first phase) */
    uint32_t default_period;   /* for signatures without a rate of their own */
    int over_budget;           /* spent > allowed: sampling stops until it is paid back */
} fm_sampler_plan;

/* Recomputes every signature's period from the launches since the last call, the measured
 * cost per group and the budget. elapsed_ns: wall time since profiling began; profiling_ns:
 * the profiling overhead spent since then (both cumulative). Called by the flusher once per
 * interval; the launch path sees the new periods at its next launch. `out` may be NULL. */
void fm_sampler_rebalance(fm_sampler *s, uint64_t elapsed_ns, uint64_t profiling_ns,
                          fm_sampler_plan *out);

/* ---- the flusher: credit ----------------------------------------------------------------- */

enum fm_credit_status {
    FM_CREDIT_UNMEASURED = 0, /* no sample: its launches are unmeasured, never zero */
    FM_CREDIT_PARTIAL = 1,    /* some groups have no sample: the mean lacks their work */
    FM_CREDIT_COMPLETE = 2,   /* every group has a sample */
};

typedef struct fm_sampler_credit {
    int status;                /* enum fm_credit_status */
    double mean;               /* operations per launch: the sum of the group means */
    double variance;           /* of one launch: the sum of the group variances (n >= 2) */
    uint32_t groups_measured;  /* groups with at least one sample */
    uint64_t fewest_samples;   /* smallest sample count over the n_groups groups */
    uint64_t samples;          /* all samples */
    uint64_t launches;         /* all launches so far (fm_sampler_add_launches) */
    uint64_t measured;         /* launches measured so far (lost ones excluded) */
    uint32_t period;           /* the period in force (FM_SAMPLER_NEVER: stopped) */
} fm_sampler_credit;

void fm_sampler_credit_of(fm_sampler *s, uint32_t sig, fm_sampler_credit *out);

/* Launches since the previous take, split as the trace's AGGREGATE splits them. */
typedef struct fm_sampler_counts {
    uint64_t launches;
    uint64_t measured;         /* their counters were read */
    uint64_t extrapolated;     /* unprofiled, credited with the signature's measured mean */
    uint64_t unmeasured;       /* unprofiled and the signature has no sample: no credit */
    double credited_ops;       /* extrapolated x mean */
    int status;                /* enum fm_credit_status at the time of the take */
} fm_sampler_counts;

void fm_sampler_take(fm_sampler *s, uint32_t sig, fm_sampler_counts *out);

typedef struct fm_sampler_stats {
    uint64_t out_of_range;     /* launches with an id outside the table: never measured */
    uint32_t highest_id;       /* highest signature id launched */
} fm_sampler_stats;

void fm_sampler_get_stats(fm_sampler *s, fm_sampler_stats *out);

#ifdef __cplusplus
}
#endif

#endif
