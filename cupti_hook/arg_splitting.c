/* arg_splitting.c - the per-family argument learner (see arg_splitting.h for the rule). */
#define _GNU_SOURCE
#include "arg_splitting.h"
#include "reserve.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "launch_table.h"
#include "sampler.h"

/* Hashes whose statistics are kept per group: the pairwise test needs only a few, and every
 * later hash is still compared with them. */
#define CELLS 4
/* Recent hashes remembered to count distinct ones and to notice a hash measured twice in one
 * group; a family cycling through more than this many hashes is counted approximately. */
#define RECENT 64
/* Degrees of freedom of the within-hash spread before a difference between hashes whose
 * repeated launches vary is called real: with six, the spread is known to within a factor of
 * about two, and noise_z standard errors then still keep false splits rare. */
#define MIN_DF 6
/* Single observations (an untracked hash, or the folded signature) are checked against the
 * pooled mean of the group's tracked hashes; the family splits when MISFITS of the last 16
 * checked did not fit. One misfit is not enough: a check of noisy work fails by chance now and
 * then, and a learner that watches a family for the whole run would eventually split every
 * noisy one. A real change (a K that differs) misfits every time and splits within MISFITS
 * observations. */
#define MISFITS 4
/* Probes before a lookup gives up: the table is at most half full, so chains are short. */
#define PROBES 64

/* What the launch path reads. */
typedef struct family_slot {
    _Atomic uint64_t family; /* 0: free; published last */
    _Atomic uint32_t verdict;
    uint32_t index;          /* into the learners, written before the family is published */
} family_slot;

typedef struct cell {
    uint64_t hash;
    uint64_t n;
    double mean, m2;
} cell;

typedef struct recent_hash {
    uint64_t hash;
    uint32_t groups; /* bit per group the hash was measured in */
} recent_hash;

/* What only the observing thread touches, under the mutex. */
typedef struct learner {
    cell cells[FM_SAMPLER_MAX_GROUPS][CELLS];
    recent_hash recent[RECENT];
    uint32_t recent_next, recent_used;
    uint32_t distinct;
    int repeats; /* some hash was measured twice in one group */
    /* per group: an untracked hash differed from the tracked ones while the noise was not
     * known yet (blocks the fold for the same work until it is) */
    uint8_t outsider[FM_SAMPLER_MAX_GROUPS];
    uint16_t misfits; /* the last 16 single observations checked: bit set = did not fit */
    /* per group: the folded signature's observations that fitted, whose spread joins the
     * hashes' own (a family folded before any hash repeated has no other) */
    cell folded[FM_SAMPLER_MAX_GROUPS];
} learner;

struct fm_arg_split {
    fm_arg_split_config cfg;
    family_slot *slots;
    uint32_t mask;
    size_t slots_bytes;
    learner *learners;
    size_t learners_bytes;
    uint32_t used;
    pthread_mutex_t lock;
    fm_arg_split_stats stats;
};

void fm_arg_split_config_defaults(fm_arg_split_config *c)
{
    memset(c, 0, sizeof *c);
    c->families = 16384;
    c->n_groups = 1;
    c->min_hashes = FM_ARG_DEFAULT_MIN_HASHES;
    c->unique_hashes = FM_ARG_DEFAULT_UNIQUE_HASHES;
    c->tolerance = FM_ARG_DEFAULT_TOLERANCE;
    c->noise_z = FM_ARG_DEFAULT_NOISE_Z;
}

fm_arg_split *fm_arg_split_new(const fm_arg_split_config *c)
{
    if (!c || c->families < 1 || c->families > (1u << 24) || c->n_groups < 1 ||
        c->n_groups > FM_SAMPLER_MAX_GROUPS || c->min_hashes < 2 || c->unique_hashes < 2 ||
        !(c->tolerance >= 0) || !(c->noise_z >= 0))
        return NULL;
    fm_arg_split *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->cfg = *c;
    uint32_t n = 16;
    while (n < 2 * c->families)
        n <<= 1;
    a->mask = n - 1;
    a->slots_bytes = (size_t)n * sizeof *a->slots;
    a->learners_bytes = (size_t)c->families * sizeof *a->learners;
    a->slots = fm_reserve(a->slots_bytes);
    a->learners = fm_reserve(a->learners_bytes);
    if (!a->slots || !a->learners || pthread_mutex_init(&a->lock, NULL) != 0) {
        fm_release(a->slots, a->slots_bytes);
        fm_release(a->learners, a->learners_bytes);
        free(a);
        return NULL;
    }
    return a;
}

void fm_arg_split_free(fm_arg_split *a)
{
    if (!a)
        return;
    fm_release(a->slots, a->slots_bytes);
    fm_release(a->learners, a->learners_bytes);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

uint64_t fm_arg_family_hash(uint64_t function, const uint32_t grid[3], const uint32_t block[3],
                            uint32_t shared_mem, uint32_t device)
{
    /* the signature's own hash with the argument hash left out, so that both agree on what
     * a launch key is */
    fm_launch_key k;
    memset(&k, 0, sizeof k);
    k.function = function;
    memcpy(k.grid, grid, sizeof k.grid);
    memcpy(k.block, block, sizeof k.block);
    k.shared_mem = shared_mem;
    k.device = device;
    k.arg_hash = FM_ARGS_NOT_READ;
    return fm_launch_key_hash(&k);
}

/* The published slot of a family, or NULL. Lock-free: a slot's family is stored last, with
 * release, and never changes afterwards. */
static family_slot *find(const fm_arg_split *a, uint64_t family)
{
    for (uint32_t i = 0; i < PROBES; i++) {
        family_slot *s = &a->slots[(family + i) & a->mask];
        uint64_t f = atomic_load_explicit(&s->family, memory_order_acquire);
        if (f == family)
            return s;
        if (f == 0)
            return NULL;
    }
    return NULL;
}

int fm_arg_split_folded(const fm_arg_split *a, uint64_t family)
{
    if (!a)
        return 0;
    family_slot *s = find(a, family ? family : 1);
    if (!s)
        return 0;
    uint32_t v = atomic_load_explicit(&s->verdict, memory_order_relaxed);
    return v == FM_ARG_FOLD_SAME_WORK || v == FM_ARG_FOLD_NO_REPEATS;
}

int fm_arg_split_verdict(const fm_arg_split *a, uint64_t family)
{
    if (!a)
        return FM_ARG_LEARNING;
    family_slot *s = find(a, family ? family : 1);
    return s ? (int)atomic_load_explicit(&s->verdict, memory_order_relaxed) : FM_ARG_LEARNING;
}

/* Finds or adds a family (under the mutex: only the observing side adds). */
static family_slot *find_or_add(fm_arg_split *a, uint64_t family)
{
    for (uint32_t i = 0; i < PROBES; i++) {
        family_slot *s = &a->slots[(family + i) & a->mask];
        uint64_t f = atomic_load_explicit(&s->family, memory_order_relaxed);
        if (f == family)
            return s;
        if (f != 0)
            continue;
        if (a->used >= a->cfg.families)
            return NULL;
        s->index = a->used++;
        atomic_store_explicit(&s->verdict, FM_ARG_LEARNING, memory_order_relaxed);
        atomic_store_explicit(&s->family, family, memory_order_release);
        a->stats.families++;
        return s;
    }
    return NULL;
}

/* ---- the statistics of one group ----------------------------------------------------------- */

static void cell_add(cell *c, double ops)
{
    c->n++;
    double d = ops - c->mean;
    c->mean += d / (double)c->n;
    c->m2 += d * (ops - c->mean);
}

/* Pooled variance within hashes (sum of squared deviations over degrees of freedom) and its
 * degrees of freedom; both 0 until some hash has two samples in the group. */
static double within_variance(const cell *c, double *df_out)
{
    double m2 = 0, df = 0;
    for (int i = 0; i < CELLS; i++)
        if (c[i].n >= 2) {
            m2 += c[i].m2;
            df += (double)(c[i].n - 1);
        }
    if (df_out)
        *df_out = df;
    return df > 0 ? fmax(0.0, m2 / df) : 0;
}

/* Is the launch-to-launch noise of a group known well enough to call a difference real? When
 * repeated launches of one hash measured exactly the same work, any difference beyond the
 * tolerance is real; otherwise the pooled spread needs MIN_DF degrees of freedom. */
static int noise_known(double var_w, double df)
{
    return df >= MIN_DF || (df >= 1 && var_w == 0);
}

/* noise_z standard errors of a normal law, widened for a spread estimated with df degrees of
 * freedom (the first Cornish-Fisher term of Student's t at the same tail probability): with
 * z = 4 that is 6.8 at 6 degrees of freedom, 5.7 at 10, 4.6 at 30. Without it, differences
 * between hashes of noisy work are declared real about once in ten families. */
static double noise_multiple(const fm_arg_split *a, double df)
{
    double z = a->cfg.noise_z;
    return df > 0 ? z * (1 + (z * z + 1) / (4 * df)) : z;
}

static int differ(const fm_arg_split *a, double ma, double na, double mb, double nb, double var_w,
                  double df)
{
    double allowed = a->cfg.tolerance * fmax(fabs(ma), fabs(mb)) +
                     noise_multiple(a, df) * sqrt(var_w * (1.0 / na + 1.0 / nb));
    return fabs(ma - mb) > allowed;
}

enum { AGREE = 0, DIFFER_UNCONFIRMED = 1, DIFFER_CONFIRMED = 2 };

/* Do the group's tracked hashes differ, and is the difference beyond the known noise? */
static int compare_group(const fm_arg_split *a, const cell *c)
{
    double df;
    double var_w = within_variance(c, &df);
    for (int i = 0; i < CELLS; i++)
        for (int j = i + 1; j < CELLS; j++)
            if (c[i].n && c[j].n &&
                differ(a, c[i].mean, (double)c[i].n, c[j].mean, (double)c[j].n, var_w, df))
                return noise_known(var_w, df) ? DIFFER_CONFIRMED : DIFFER_UNCONFIRMED;
    return AGREE;
}

static uint32_t hashes_in(const cell *c)
{
    uint32_t k = 0;
    for (int i = 0; i < CELLS; i++)
        k += c[i].n > 0;
    return k;
}

/* How a single observation compares with the group's tracked hashes (their pooled mean).
 * The fold for the same work allowed the hashes to differ by the tolerance, so an observation
 * may lie twice that from the pooled mean and still fit. `more`, when given, adds its spread
 * to the hashes' (the folded signature's fitting observations). */
static int compare_single(const fm_arg_split *a, const cell *c, const cell *more, double ops)
{
    double sum = 0, n = 0, df;
    for (int i = 0; i < CELLS; i++) {
        sum += c[i].mean * (double)c[i].n;
        n += (double)c[i].n;
    }
    if (n == 0)
        return AGREE; /* nothing known about this group (fewer groups than configured) */
    double mean = sum / n;
    double var_w = within_variance(c, &df);
    if (more && more->n >= 2) {
        var_w = (var_w * df + more->m2) / (df + (double)(more->n - 1));
        df += (double)(more->n - 1);
    }
    double allowed = 2 * a->cfg.tolerance * fabs(mean) +
                     noise_multiple(a, df) * sqrt(var_w * (1.0 + 1.0 / n));
    if (fabs(ops - mean) <= allowed)
        return AGREE;
    return noise_known(var_w, df) ? DIFFER_CONFIRMED : DIFFER_UNCONFIRMED;
}

/* Records whether a checked observation fitted; 1 when too many of the last ones did not. */
static int note_fit(learner *l, int fitted)
{
    l->misfits = (uint16_t)(l->misfits << 1 | (fitted ? 0 : 1));
    return __builtin_popcount(l->misfits) >= MISFITS;
}

/* Adds an observation to the group's cell of its hash (claiming a free one). When every cell
 * holds another hash, the observation is checked against them instead. Returns 1 when the
 * checks show the hash predicts the work. */
static int add_to_group(const fm_arg_split *a, learner *l, uint32_t group, uint64_t hash,
                        double ops)
{
    cell *c = l->cells[group];
    cell *to = NULL;
    for (int i = 0; i < CELLS && !to; i++)
        if (c[i].n && c[i].hash == hash)
            to = &c[i];
    for (int i = 0; i < CELLS && !to; i++)
        if (!c[i].n) {
            to = &c[i];
            to->hash = hash;
        }
    if (!to) {
        int cmp = compare_single(a, c, NULL, ops);
        if (cmp == DIFFER_UNCONFIRMED) {
            l->outsider[group] = DIFFER_UNCONFIRMED;
            return 0;
        }
        return note_fit(l, cmp == AGREE);
    }
    cell_add(to, ops);
    return 0;
}

/* Remembers the hash; counts it as distinct when it was not seen recently, and notes a repeat
 * when it was already measured in this group. */
static void remember(learner *l, uint64_t hash, uint32_t group)
{
    for (uint32_t i = 0; i < l->recent_used; i++)
        if (l->recent[i].hash == hash) {
            if (l->recent[i].groups & (1u << group))
                l->repeats = 1;
            l->recent[i].groups |= 1u << group;
            return;
        }
    l->distinct++;
    recent_hash *r = &l->recent[l->recent_next];
    l->recent_next = (l->recent_next + 1) % RECENT;
    if (l->recent_used < RECENT)
        l->recent_used++;
    r->hash = hash;
    r->groups = 1u << group;
}

static void set_verdict(fm_arg_split *a, family_slot *s, uint32_t v)
{
    uint32_t old = atomic_load_explicit(&s->verdict, memory_order_relaxed);
    if (old == v)
        return;
    int was_folded = old == FM_ARG_FOLD_SAME_WORK || old == FM_ARG_FOLD_NO_REPEATS;
    int folded = v == FM_ARG_FOLD_SAME_WORK || v == FM_ARG_FOLD_NO_REPEATS;
    if (folded && !was_folded)
        a->stats.folded++;
    if (was_folded && !folded)
        a->stats.folded--;
    if (v == FM_ARG_SPLIT) {
        a->stats.split++;
        if (was_folded)
            a->stats.unfolded++;
    }
    atomic_store_explicit(&s->verdict, v, memory_order_relaxed);
}

/* The rule of arg_splitting.h, on the learner's current statistics. */
static uint32_t decide(const fm_arg_split *a, learner *l)
{
    int repeats = l->repeats, blocked = 0, covered = 1;
    for (uint32_t g = 0; g < a->cfg.n_groups; g++) {
        const cell *c = l->cells[g];
        double df;
        double var_w = within_variance(c, &df);
        repeats |= df >= 1;
        int cmp = compare_group(a, c);
        if (cmp == DIFFER_CONFIRMED)
            return FM_ARG_SPLIT;
        if (noise_known(var_w, df))
            l->outsider[g] = AGREE; /* the cells speak for the group now */
        blocked |= cmp != AGREE || l->outsider[g] != AGREE;
        covered &= hashes_in(c) >= 2;
    }
    if (!blocked && covered && l->distinct >= a->cfg.min_hashes)
        return FM_ARG_FOLD_SAME_WORK;
    if (!repeats && l->distinct >= a->cfg.unique_hashes)
        return FM_ARG_FOLD_NO_REPEATS;
    return FM_ARG_LEARNING;
}

int fm_arg_split_observe(fm_arg_split *a, uint64_t family, uint64_t arg_hash, uint32_t group,
                         double ops)
{
    if (!a)
        return -1;
    if (family == 0)
        family = 1; /* as fm_launch_key_hash: 0 marks a free slot */
    pthread_mutex_lock(&a->lock);
    family_slot *s = find_or_add(a, family);
    if (!s) {
        a->stats.not_tracked++;
        pthread_mutex_unlock(&a->lock);
        return -1;
    }
    uint32_t v = atomic_load_explicit(&s->verdict, memory_order_relaxed);
    if (arg_hash == FM_ARGS_NOT_READ || group >= a->cfg.n_groups || !isfinite(ops) ||
        v == FM_ARG_SPLIT || v == FM_ARG_FOLD_NO_REPEATS) {
        pthread_mutex_unlock(&a->lock);
        return (int)v; /* nothing to learn, or nothing left to decide */
    }
    learner *l = &a->learners[s->index];
    if (v == FM_ARG_FOLD_SAME_WORK) {
        /* launches of the folded signature, and results of launches decided before the fold,
         * must still look like the family's work; where its noise was never learnt (hashes
         * that do not repeat) a difference beyond the tolerance is a misfit all the same */
        int fits = compare_single(a, l->cells[group], &l->folded[group], ops) == AGREE;
        if (fits)
            cell_add(&l->folded[group], ops); /* only what fits teaches the spread: a real
                                                 change must not widen the tolerance it is
                                                 measured against */
        if (note_fit(l, fits))
            set_verdict(a, s, FM_ARG_SPLIT);
    } else if (arg_hash != FM_ARGS_FOLDED) {
        remember(l, arg_hash, group);
        int split = add_to_group(a, l, group, arg_hash, ops);
        uint32_t now = split ? FM_ARG_SPLIT : decide(a, l);
        if (now == FM_ARG_FOLD_SAME_WORK)
            l->misfits = 0; /* the watch of the fold starts afresh */
        set_verdict(a, s, now);
    }
    v = atomic_load_explicit(&s->verdict, memory_order_relaxed);
    pthread_mutex_unlock(&a->lock);
    return (int)v;
}

void fm_arg_split_get_stats(fm_arg_split *a, fm_arg_split_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!a)
        return;
    pthread_mutex_lock(&a->lock);
    *out = a->stats;
    pthread_mutex_unlock(&a->lock);
}
