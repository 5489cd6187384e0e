/* sampler.c - which launches the range profiler measures (see sampler.h, and docs/hook.md
 * "Sampling" for the rules in prose). */
#define _GNU_SOURCE
#include "sampler.h"
#include "reserve.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Planning constants. Each is a judgement, written down here so that it can be argued with:
 *   SAFETY       rates are planned for 90% of the budget: launch rates and costs are
 *                predicted from the last interval and wobble; the debt term below repays any
 *                overshoot, the margin makes one rarely happen.
 *   COST_WEIGHT  a new cost observation moves the running cost by 1/8: one slow range (a
 *                context sync behind a long kernel) must not stop sampling for an interval.
 *   SHARE_FLOOR  a signature with no FLOP share still gets a trickle of samples, so that work
 *                appearing later (a kernel whose branch changes) is seen.
 *   CV_FLOOR     a signature whose samples agree exactly still gets some: the agreement may
 *                end (data-dependent work, a shape change hidden from the signature).
 *   UNKNOWN_CV   the coefficient of variation assumed while a group has fewer than two
 *                samples: large, so that such signatures are sampled first.
 *   MAX_CV       caps the coefficient of variation of signatures whose mean is nearly zero,
 *                where the ratio says nothing. */
#define SAFETY 0.9
#define COST_WEIGHT 0.125
#define SHARE_FLOOR 1e-4
#define CV_FLOOR 0.01
#define UNKNOWN_CV 1.0
#define MAX_CV 10.0
/* The largest finite period: once in 2^31 launches is "not in this run". */
#define PERIOD_MAX (1u << 31)

/* What the launch path touches: one cache line per signature. After a signature's first
 * launches the launch path only reads it (a measured launch, rare, writes `measured` and
 * `rotation`), so threads launching the same kernel do not bounce the line between cores:
 * launches are counted by the launch table's per-thread counters, and given to the sampler
 * by the flusher (fm_sampler_add_launches). */
typedef struct hot_state {
    _Alignas(64) _Atomic uint64_t first; /* launches counted while the first ones last; may
                                            pass s->first by the threads racing at the end */
    _Atomic uint64_t threshold; /* a random draw below it measures the launch: 2^64 / period */
    _Atomic uint64_t measured;  /* launches chosen for measurement */
    _Atomic uint32_t period;    /* 1 in `period` launches after the first ones; 0: the default */
    _Atomic uint32_t rotation;  /* groups handed out after the first launches */
} hot_state;

_Static_assert(sizeof(hot_state) == 64, "one cache line per signature");

typedef struct welford {
    uint64_t n;
    double mean, m2;
} welford;

/* What the result side and the flusher touch, under the mutex. */
typedef struct cold_state {
    welford group[FM_SAMPLER_MAX_GROUPS];
    uint64_t launches;                      /* all launches, as the flusher gave them */
    uint64_t lost;                          /* chosen, but no result came */
    uint64_t seen_launches, seen_first;     /* at the last rebalance */
    uint64_t taken_launches, taken_measured, taken_lost; /* at the last take */
    /* rebalance scratch */
    double work;     /* estimated operations so far: launches x mean */
    double lambda;   /* launches in the last interval: the prediction for the next */
    double priority; /* 0: not planned this time (idle, or still in its first launches) */
    int capped;      /* planned to be measured on every launch */
} cold_state;

struct fm_sampler {
    fm_sampler_config cfg;
    uint64_t first; /* first_per_group x n_groups: launches measured unconditionally */
    hot_state *hot;
    /* Per signature, 8 bytes (a signature's hot line is 64): its draw threshold + 1 once the
     * rebalance gave it a period of its own, 0 otherwise (first launches, idle, default
     * rate: the hot line decides). The common decision reads this compact array, which stays
     * in cache for thousands of signatures where their hot lines would not. */
    _Atomic uint64_t *fast;
    /* Raised after each rebalance has written the fast words: a launch path that cached a
     * signature's word (the per-thread counters do) knows it is current while this has not
     * moved. 0 until the first rebalance. */
    _Atomic uint32_t generation;
    cold_state *cold;
    size_t hot_bytes, fast_bytes, cold_bytes;
    _Atomic uint32_t default_period;
    _Atomic uint64_t default_threshold;
    _Atomic uint32_t highest_id;
    _Atomic uint64_t out_of_range;
    pthread_mutex_t lock;
    /* the cost model, under the mutex */
    double group_cost[FM_SAMPLER_MAX_GROUPS];
    uint64_t group_cost_n[FM_SAMPLER_MAX_GROUPS];
    double observed_cost; /* from spend / measurements when no group cost was noted */
    uint64_t last_elapsed, last_spent, last_measured;
};

void fm_sampler_config_defaults(fm_sampler_config *c)
{
    memset(c, 0, sizeof *c);
    c->mode = FM_PROFILE_SAMPLED;
    c->signatures = 65536;
    c->n_groups = 1;
    c->first_per_group = FM_SAMPLER_DEFAULT_FIRST;
    c->budget = FM_SAMPLER_DEFAULT_BUDGET;
    c->initial_period = FM_SAMPLER_DEFAULT_PERIOD;
    c->initial_cost_ns = FM_SAMPLER_DEFAULT_COST_NS;
    c->replay_first = 0;
}

/* The draw below which a launch is measured, for 1 in k launches. */
static uint64_t threshold_for(uint32_t k)
{
    if (k == FM_SAMPLER_NEVER)
        return 0;
    return k <= 1 ? UINT64_MAX : UINT64_MAX / k;
}

/* Each thread draws from its own generator (xorshift64*): deciding "1 in k" by a random draw
 * instead of a shared launch counter keeps the launch path free of shared writes, and makes
 * the measured launches a random sample, as the report's interval assumes. */
static _Thread_local uint64_t rng_state;
static _Atomic uint64_t rng_seeds = 0x2545f4914f6cdd1dull;

static uint64_t splitmix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

void fm_sampler_seed_thread(uint64_t seed)
{
    uint64_t x = splitmix(seed);
    rng_state = x ? x : 1;
}

static uint64_t next_random(void)
{
    uint64_t x = rng_state;
    if (x == 0) {
        fm_sampler_seed_thread(
            atomic_fetch_add_explicit(&rng_seeds, 0x9e3779b97f4a7c15ull, memory_order_relaxed));
        x = rng_state;
    }
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545f4914f6cdd1dull;
}

fm_sampler *fm_sampler_new(const fm_sampler_config *c)
{
    if (!c || (c->mode != FM_PROFILE_OFF && c->mode != FM_PROFILE_SAMPLED &&
               c->mode != FM_PROFILE_EXACT))
        return NULL;
    if (c->signatures < 1 || c->signatures > (1u << 24) || c->n_groups < 1 ||
        c->n_groups > FM_SAMPLER_MAX_GROUPS || c->first_per_group < 1 ||
        c->first_per_group > 1000000 || !(c->budget > 0 && c->budget <= 1) ||
        c->initial_period < 1)
        return NULL;
    fm_sampler *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->cfg = *c;
    s->first = (uint64_t)c->first_per_group * c->n_groups;
    s->hot_bytes = ((size_t)c->signatures + 1) * sizeof *s->hot;
    s->cold_bytes = ((size_t)c->signatures + 1) * sizeof *s->cold;
    s->fast_bytes = ((size_t)c->signatures + 1) * sizeof *s->fast;
    s->hot = fm_reserve(s->hot_bytes);
    s->fast = fm_reserve(s->fast_bytes);
    s->cold = fm_reserve(s->cold_bytes);
    if (!s->hot || !s->fast || !s->cold || pthread_mutex_init(&s->lock, NULL) != 0) {
        fm_release(s->hot, s->hot_bytes);
        fm_release((void *)s->fast, s->fast_bytes);
        fm_release(s->cold, s->cold_bytes);
        free(s);
        return NULL;
    }
    atomic_init(&s->default_period, c->initial_period);
    atomic_init(&s->default_threshold, threshold_for(c->initial_period));
    atomic_init(&s->highest_id, 0);
    atomic_init(&s->out_of_range, 0);
    return s;
}

void fm_sampler_free(fm_sampler *s)
{
    if (!s)
        return;
    fm_release(s->hot, s->hot_bytes);
    fm_release((void *)s->fast, s->fast_bytes);
    fm_release(s->cold, s->cold_bytes);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* ---- the launch path ----------------------------------------------------------------------- */

/* On a signature's first launch (or first count): the flusher scans ids up to the highest. */
static void note_id(fm_sampler *s, uint32_t sig)
{
    uint32_t seen = atomic_load_explicit(&s->highest_id, memory_order_relaxed);
    while (seen < sig && !atomic_compare_exchange_weak_explicit(
                             &s->highest_id, &seen, sig, memory_order_relaxed,
                             memory_order_relaxed)) {
    }
}

/* Only on measured launches (every launch in exact mode, where replay costs far more). */
static void count_measured(hot_state *h)
{
    atomic_fetch_add_explicit(&h->measured, 1, memory_order_relaxed);
}

/* A launch chosen by a draw after the first launches: counted as measured, and given the
 * next group of the signature's rotation. */
static int sampled_group(fm_sampler *s, hot_state *h, uint32_t sig)
{
    count_measured(h);
    uint32_t r = atomic_fetch_add_explicit(&h->rotation, 1, memory_order_relaxed);
    return (int)((r + sig) % s->cfg.n_groups);
}

int fm_sampler_decide(fm_sampler *s, uint32_t sig)
{
    if (!s || s->cfg.mode == FM_PROFILE_OFF)
        return FM_SAMPLE_NONE;
    if (sig == 0 || sig > s->cfg.signatures) {
        atomic_fetch_add_explicit(&s->out_of_range, 1, memory_order_relaxed);
        return FM_SAMPLE_NONE;
    }
    hot_state *h = &s->hot[sig];
    if (s->cfg.mode == FM_PROFILE_EXACT) {
        if (atomic_load_explicit(&h->first, memory_order_relaxed) == 0 &&
            atomic_fetch_add_explicit(&h->first, 1, memory_order_relaxed) == 0)
            note_id(s, sig);
        count_measured(h);
        return FM_SAMPLE_ALL;
    }
    /* the common case once rates are set: one load of the compact array and one draw */
    uint64_t fast = atomic_load_explicit(&s->fast[sig], memory_order_relaxed);
    if (fast) {
        if (next_random() >= fast - 1)
            return FM_SAMPLE_NONE;
        return sampled_group(s, h, sig);
    }
    if (atomic_load_explicit(&h->first, memory_order_relaxed) < s->first) {
        /* the first launches: every group in turn, starting from a group that depends on the
         * id, so that signatures launched only once or twice still spread over the groups
         * (the argument learner compares signatures of a family group by group) */
        uint64_t n = atomic_fetch_add_explicit(&h->first, 1, memory_order_relaxed);
        if (n == 0)
            note_id(s, sig);
        if (n < s->first) {
            count_measured(h);
            if (n == 0 && s->cfg.replay_first)
                return FM_SAMPLE_ALL;
            return (int)((n + sig) % s->cfg.n_groups);
        }
        /* raced past the end of the first launches: sampled like any later launch */
    }
    uint32_t k = atomic_load_explicit(&h->period, memory_order_acquire); /* see set_period */
    uint64_t th = k ? atomic_load_explicit(&h->threshold, memory_order_relaxed)
                    : atomic_load_explicit(&s->default_threshold, memory_order_relaxed);
    if (next_random() >= th)
        return FM_SAMPLE_NONE; /* the common case: loads of a line nobody writes, one draw */
    return sampled_group(s, h, sig);
}

uint32_t fm_sampler_generation(const fm_sampler *s)
{
    return s ? atomic_load_explicit(&s->generation, memory_order_acquire) : 0;
}

int fm_sampler_rate_of(const fm_sampler *s, uint32_t sig, uint32_t *below)
{
    if (!s || s->cfg.mode != FM_PROFILE_SAMPLED || sig == 0 || sig > s->cfg.signatures)
        return 0;
    uint64_t fast = atomic_load_explicit(&s->fast[sig], memory_order_relaxed);
    if (!fast)
        return 0;
    *below = (uint32_t)((fast - 1) >> 32);
    return 1;
}

uint64_t fm_sampler_draw(void)
{
    return next_random();
}

int fm_sampler_chosen(fm_sampler *s, uint32_t sig)
{
    if (!s || sig == 0 || sig > s->cfg.signatures)
        return FM_SAMPLE_NONE;
    hot_state *h = &s->hot[sig];
    return sampled_group(s, h, sig);
}

/* ---- results ------------------------------------------------------------------------------- */

static int valid(const fm_sampler *s, uint32_t sig)
{
    return s && sig >= 1 && sig <= s->cfg.signatures;
}

void fm_sampler_record(fm_sampler *s, uint32_t sig, uint32_t group, double ops)
{
    if (!valid(s, sig) || group >= s->cfg.n_groups || !isfinite(ops))
        return;
    pthread_mutex_lock(&s->lock);
    welford *w = &s->cold[sig].group[group];
    w->n++;
    double d = ops - w->mean;
    w->mean += d / (double)w->n;
    w->m2 += d * (ops - w->mean);
    pthread_mutex_unlock(&s->lock);
}

void fm_sampler_add_launches(fm_sampler *s, uint32_t sig, uint64_t launches)
{
    if (!valid(s, sig) || !launches)
        return;
    pthread_mutex_lock(&s->lock);
    s->cold[sig].launches += launches;
    pthread_mutex_unlock(&s->lock);
    note_id(s, sig); /* a signature counted but never decided (profiling off at its launch) */
}

void fm_sampler_lost(fm_sampler *s, uint32_t sig)
{
    if (!valid(s, sig))
        return;
    pthread_mutex_lock(&s->lock);
    s->cold[sig].lost++;
    pthread_mutex_unlock(&s->lock);
}

void fm_sampler_note_cost(fm_sampler *s, uint32_t group, uint64_t ns)
{
    if (!s || group >= s->cfg.n_groups)
        return;
    pthread_mutex_lock(&s->lock);
    double *c = &s->group_cost[group];
    *c = s->group_cost_n[group]++ ? *c + COST_WEIGHT * ((double)ns - *c) : (double)ns;
    pthread_mutex_unlock(&s->lock);
}

/* ---- statistics of one signature ----------------------------------------------------------- */

typedef struct sig_stats {
    double mean, variance;
    uint32_t groups_measured;
    uint64_t fewest, samples;
} sig_stats;

/* The per-launch mean is the sum of the group means and its variance the sum of the group
 * variances: groups are read on different launches, so no launch has a total (the report
 * treats group-level samples the same way, docs/methodology.md). */
static sig_stats stats_of(const fm_sampler *s, const cold_state *c)
{
    sig_stats st = {0, 0, 0, UINT64_MAX, 0};
    for (uint32_t g = 0; g < s->cfg.n_groups; g++) {
        const welford *w = &c->group[g];
        if (w->n < st.fewest)
            st.fewest = w->n;
        st.samples += w->n;
        if (w->n == 0)
            continue;
        st.groups_measured++;
        st.mean += w->mean;
        if (w->n >= 2)
            st.variance += fmax(0.0, w->m2 / (double)(w->n - 1));
    }
    return st;
}

static int status_of(const fm_sampler *s, const sig_stats *st)
{
    if (st->groups_measured == 0)
        return FM_CREDIT_UNMEASURED;
    return st->groups_measured < s->cfg.n_groups ? FM_CREDIT_PARTIAL : FM_CREDIT_COMPLETE;
}

/* ---- rates --------------------------------------------------------------------------------- */

/* Expected cost of one sampled measurement: the mean over the groups (rotation reads each
 * equally often) of the noted cost per group; for a group with none noted, the spend per
 * measurement seen so far; before any of that, the configured guess. */
static double measurement_cost(fm_sampler *s, uint64_t spent_delta, uint64_t measured_delta)
{
    if (measured_delta > 0 && spent_delta > 0) {
        double obs = (double)spent_delta / (double)measured_delta;
        s->observed_cost =
            s->observed_cost > 0 ? s->observed_cost + COST_WEIGHT * (obs - s->observed_cost) : obs;
    }
    double fallback = s->observed_cost > 0 ? s->observed_cost : (double)s->cfg.initial_cost_ns;
    double sum = 0;
    for (uint32_t g = 0; g < s->cfg.n_groups; g++)
        sum += s->group_cost_n[g] ? s->group_cost[g] : fallback;
    double cost = sum / s->cfg.n_groups;
    return cost > 1 ? cost : 1;
}

/* How much a signature deserves the next sample:
 *   (FLOP share + SHARE_FLOOR) x (coefficient of variation + CV_FLOOR) / sqrt(1 + fewest)
 * Share x standard deviation / mean is Neyman's allocation (samples in proportion to a
 * stratum's weight times its spread, which minimises the variance of the total for a given
 * number of samples); the square root favours signatures with few samples, whose variance
 * itself is still uncertain; the floors keep every signature in the sample. */
static double priority_of(const fm_sampler *s, const cold_state *c, double work_total)
{
    sig_stats st = stats_of(s, c);
    double cv;
    if (st.fewest < 2)
        cv = UNKNOWN_CV;
    else if (fabs(st.mean) > 0)
        cv = fmin(MAX_CV, sqrt(st.variance) / fabs(st.mean));
    else
        cv = st.variance > 0 ? UNKNOWN_CV : 0;
    double share = work_total > 0 ? c->work / work_total : 0;
    return (share + SHARE_FLOOR) * (cv + CV_FLOOR) / sqrt(1.0 + (double)st.fewest);
}

/* 1 in k launches for `want` measurements among `lambda` launches. */
static uint32_t period_for(double lambda, double want)
{
    if (!(want > 0))
        return FM_SAMPLER_NEVER;
    if (want >= lambda)
        return 1;
    double k = ceil(lambda / want);
    return k >= (double)PERIOD_MAX ? PERIOD_MAX : (uint32_t)k;
}

/* Installs a period; 0 puts the signature on the default. The threshold is stored before the
 * period is released, and the launch path acquires the period before it reads the threshold:
 * a launch that sees a signature's first period of its own never reads the threshold of 0
 * (never) it had before. Later changes may pair a new period with the previous threshold for
 * a moment, which was a valid rate an interval ago. */
static void set_period(hot_state *h, uint32_t k)
{
    if (k)
        atomic_store_explicit(&h->threshold, threshold_for(k), memory_order_relaxed);
    atomic_store_explicit(&h->period, k, memory_order_release);
}

/* Still in its first launches, which are measured whatever the budget. */
static int in_first_launches(const fm_sampler *s, hot_state *h)
{
    return atomic_load_explicit(&h->first, memory_order_relaxed) < s->first;
}

void fm_sampler_rebalance(fm_sampler *s, uint64_t elapsed_ns, uint64_t profiling_ns,
                          fm_sampler_plan *out)
{
    fm_sampler_plan p;
    memset(&p, 0, sizeof p);
    if (!s) {
        if (out)
            *out = p;
        return;
    }
    pthread_mutex_lock(&s->lock);
    const double budget = s->cfg.budget;
    p.allowed_ns = budget * (double)elapsed_ns;
    p.spent_ns = (double)profiling_ns;
    p.over_budget = p.spent_ns > p.allowed_ns;
    uint32_t hi = atomic_load_explicit(&s->highest_id, memory_order_relaxed);
    if (hi > s->cfg.signatures)
        hi = s->cfg.signatures;

    /* pass 1: what each signature did in the interval */
    uint64_t forced = 0, measured_total = 0;
    double work_total = 0;
    for (uint32_t id = 1; id <= hi; id++) {
        hot_state *h = &s->hot[id];
        cold_state *c = &s->cold[id];
        uint64_t m = atomic_load_explicit(&h->measured, memory_order_relaxed);
        uint64_t f = atomic_load_explicit(&h->first, memory_order_relaxed);
        uint64_t L = c->launches;
        uint64_t before = c->seen_launches;
        f = f < s->first ? f : s->first;
        if (s->cfg.mode == FM_PROFILE_SAMPLED)
            forced += f - c->seen_first;
        measured_total += m;
        c->lambda = (double)(L - before);
        c->seen_launches = L;
        c->seen_first = f;
        c->priority = 0;
        c->capped = 0;
        c->work = (double)L * fabs(stats_of(s, c).mean);
        work_total += c->work;
        if (L > before)
            p.active++;
    }
    double interval = elapsed_ns > s->last_elapsed ? (double)(elapsed_ns - s->last_elapsed) : 0;
    uint64_t spent_delta = profiling_ns > s->last_spent ? profiling_ns - s->last_spent : 0;
    uint64_t measured_delta =
        measured_total > s->last_measured ? measured_total - s->last_measured : 0;
    p.cost_ns = measurement_cost(s, spent_delta, measured_delta);
    s->last_elapsed = elapsed_ns > s->last_elapsed ? elapsed_ns : s->last_elapsed;
    s->last_spent = profiling_ns;
    s->last_measured = measured_total;
    if (s->cfg.mode != FM_PROFILE_SAMPLED || interval <= 0) {
        p.default_period = atomic_load_explicit(&s->default_period, memory_order_relaxed);
        pthread_mutex_unlock(&s->lock);
        if (out)
            *out = p;
        return;
    }

    /* the room for sampled measurements in the next interval (assumed as long as the last):
     * the budget of the run so far plus that interval, less what was spent (an overshoot is
     * paid back), at most one interval's budget (an early underspend is not saved up for a
     * burst), less what the first launches of new signatures will cost if they keep coming
     * as they did */
    double target = budget * SAFETY;
    double room = fmin(target * ((double)elapsed_ns + interval) - p.spent_ns, target * interval);
    p.forced_ns = (double)forced * p.cost_ns;
    p.sampled_ns = fmax(0.0, room - p.forced_ns);
    double total = p.sampled_ns / p.cost_ns;

    /* pass 2: priorities of the signatures that ran and are past their first launches */
    double sum_p = 0, lambda_total = 0;
    for (uint32_t id = 1; id <= hi; id++) {
        cold_state *c = &s->cold[id];
        if (c->lambda <= 0 || in_first_launches(s, &s->hot[id]))
            continue;
        c->priority = priority_of(s, c, work_total);
        sum_p += c->priority;
        lambda_total += c->lambda;
    }

    /* water-filling: measurements in proportion to priority, but never more than a
     * signature's launches; what a capped signature cannot take goes to the others. Capping
     * with the rate of the pass is safe: removing a capped signature only raises the rate of
     * the rest, so each pass caps a subset of what the final rate would. */
    double remaining = total;
    for (int pass = 0; pass < 64 && sum_p > 0; pass++) {
        double rate = remaining / sum_p;
        int capped = 0;
        for (uint32_t id = 1; id <= hi; id++) {
            cold_state *c = &s->cold[id];
            if (c->priority > 0 && !c->capped && rate * c->priority >= c->lambda) {
                c->capped = 1;
                remaining -= c->lambda;
                sum_p -= c->priority;
                capped = 1;
            }
        }
        if (!capped)
            break;
    }
    double rate = sum_p > 0 && remaining > 0 ? remaining / sum_p : 0;

    /* pass 3: periods */
    for (uint32_t id = 1; id <= hi; id++) {
        cold_state *c = &s->cold[id];
        hot_state *h = &s->hot[id];
        if (c->priority <= 0) {
            /* idle in the interval (or in its first launches): the default applies when it
             * comes back, so an old fast rate cannot burst */
            atomic_store_explicit(&s->fast[id], 0, memory_order_relaxed);
            set_period(h, 0);
            continue;
        }
        double want = c->capped ? c->lambda : rate * c->priority;
        uint32_t k = period_for(c->lambda, want);
        set_period(h, k);
        /* past its first launches (a priority says so): the compact array decides */
        uint64_t th = threshold_for(k);
        atomic_store_explicit(&s->fast[id], th == UINT64_MAX ? th : th + 1,
                              memory_order_relaxed);
        if (k != FM_SAMPLER_NEVER) {
            p.sampled++;
            p.planned += c->lambda / k;
        }
    }
    atomic_fetch_add_explicit(&s->generation, 1, memory_order_release);
    /* signatures without a rate of their own sample at the rate the budget would allow if it
     * were spread evenly over every launch */
    uint32_t def = total > 0 ? (lambda_total > 0 ? period_for(lambda_total, total)
                                                 : s->cfg.initial_period)
                             : FM_SAMPLER_NEVER;
    atomic_store_explicit(&s->default_threshold, threshold_for(def), memory_order_relaxed);
    atomic_store_explicit(&s->default_period, def, memory_order_relaxed);
    p.default_period = def;
    pthread_mutex_unlock(&s->lock);
    if (out)
        *out = p;
}

/* ---- credit -------------------------------------------------------------------------------- */

void fm_sampler_credit_of(fm_sampler *s, uint32_t sig, fm_sampler_credit *out)
{
    memset(out, 0, sizeof *out);
    if (!valid(s, sig))
        return;
    hot_state *h = &s->hot[sig];
    pthread_mutex_lock(&s->lock);
    const cold_state *c = &s->cold[sig];
    sig_stats st = stats_of(s, c);
    uint64_t m = atomic_load_explicit(&h->measured, memory_order_relaxed);
    out->launches = c->launches;
    out->measured = m > c->lost ? m - c->lost : 0;
    out->status = status_of(s, &st);
    out->mean = st.mean;
    out->variance = st.variance;
    out->groups_measured = st.groups_measured;
    out->fewest_samples = st.fewest;
    out->samples = st.samples;
    uint32_t k = atomic_load_explicit(&h->period, memory_order_relaxed);
    out->period = k ? k : atomic_load_explicit(&s->default_period, memory_order_relaxed);
    pthread_mutex_unlock(&s->lock);
}

void fm_sampler_take(fm_sampler *s, uint32_t sig, fm_sampler_counts *out)
{
    memset(out, 0, sizeof *out);
    if (!valid(s, sig))
        return;
    hot_state *h = &s->hot[sig];
    pthread_mutex_lock(&s->lock);
    cold_state *c = &s->cold[sig];
    uint64_t m = atomic_load_explicit(&h->measured, memory_order_relaxed);
    uint64_t launches = c->launches - c->taken_launches;
    /* measured launches the flusher has not counted yet (they sit in a thread's counters
     * until its next sweep), and losses reported after the take that counted their launch
     * as measured, are left for the next take: the sums over all takes stay right */
    uint64_t measured = m - c->taken_measured;
    if (measured > launches)
        measured = launches;
    uint64_t lost = c->lost - c->taken_lost;
    uint64_t lost_now = lost < measured ? lost : measured;
    sig_stats st = stats_of(s, c);
    out->launches = launches;
    out->measured = measured - lost_now;
    out->status = status_of(s, &st);
    uint64_t unprofiled = launches - out->measured;
    if (out->status == FM_CREDIT_UNMEASURED) {
        out->unmeasured = unprofiled;
    } else {
        out->extrapolated = unprofiled;
        out->credited_ops = (double)unprofiled * st.mean;
    }
    c->taken_launches = c->launches;
    c->taken_measured += measured;
    c->taken_lost += lost_now;
    pthread_mutex_unlock(&s->lock);
}

void fm_sampler_get_stats(fm_sampler *s, fm_sampler_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!s)
        return;
    out->out_of_range = atomic_load_explicit(&s->out_of_range, memory_order_relaxed);
    out->highest_id = atomic_load_explicit(&s->highest_id, memory_order_relaxed);
}
