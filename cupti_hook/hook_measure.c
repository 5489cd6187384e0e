/* hook_measure.c - counter measurements in the collector (see hook_measure.h). */
#define _GNU_SOURCE
#include "hook_measure.h"
#include "reserve.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "arg_splitting.h"
#include "hook_core.h"
#include "sampler.h"

#define MAX_GROUPS FM_SAMPLER_MAX_GROUPS
#define MAX_METRICS 64        /* per group */
#define MAX_SLOTS 64          /* (group, class) pairs over all groups */
#define PENDING_SAMPLES 8192  /* between two writes of them; more are lost (and said) */
#define PENDING_VALUES (PENDING_SAMPLES * 16)
/* Half full, the flusher is asked to write them at once rather than at the interval: exact
 * mode reads every group of every launch, thousands of samples a second on short kernels. */
#define SAMPLES_SOON (PENDING_SAMPLES / 2)
#define VALUES_SOON (PENDING_VALUES / 2)

typedef struct group_def {
    uint32_t n;
    char *names[MAX_METRICS];
    uint8_t classes[MAX_METRICS];
    double weights[MAX_METRICS];
    uint32_t first_slot, n_slots; /* its distinct classes: slots first_slot .. + n_slots */
    uint32_t slot_of[MAX_METRICS]; /* metric -> slot (unused for FM_CLASS_NONE) */
} group_def;

typedef struct sample {
    uint32_t sig, pair, group;
    int last, lost;
    uint64_t ordinal, time_ns, duration_ns, overhead_ns;
    uint32_t passes, n_values, first_value;
} sample;

/* The measured launches of one pair not yet written in an AGGREGATE (their signature may be
 * waiting for its full count), found by pair index. */
typedef struct tally {
    uint32_t pair_plus1;
    uint32_t launches;        /* measured launches completed in this flush */
    uint32_t per_group[MAX_GROUPS];
    double ops[MAX_SLOTS];    /* measured operations per slot */
} tally;

static struct {
    _Atomic int active;
    pthread_mutex_t mu;       /* groups, the pending samples */
    char chip[64];
    uint32_t n_groups, n_slots, groups_written;
    group_def groups[MAX_GROUPS];
    uint8_t slot_class[MAX_SLOTS];
    uint32_t slot_group[MAX_SLOTS];
    fm_sampler *sampler;
    fm_arg_split *learner;    /* NULL with FLOPMETER_ARG_LEARN=0 */
    uint64_t started_ns, profiling_ns;
    _Atomic uint64_t next_ordinal;
    /* pending samples, double-buffered: the flusher swaps and reads without the mutex */
    sample *samples[2];
    double *values[2];
    uint32_t n_samples, n_values, cur;
    uint64_t dropped;
    /* per signature: samples per group, then operation sums per slot */
    uint32_t signatures;
    size_t ledger_stride;
    uint8_t *ledger;
    size_t ledger_bytes;
    /* this flush's tallies, open addressing on the pair index */
    tally *tallies;
    uint32_t tally_mask, n_tallies;
    fm_launch_table *table;
} m = {.mu = PTHREAD_MUTEX_INITIALIZER};

void fm_measure_configure(fm_launch_table *t, uint32_t signatures)
{
    m.table = t;
    m.signatures = signatures;
}

int fm_measure_active(void)
{
    return atomic_load_explicit(&m.active, memory_order_acquire);
}

int fm_measure_decide(uint32_t sig)
{
    return fm_sampler_decide(m.sampler, sig);
}

uint32_t fm_measure_generation(void)
{
    return fm_sampler_generation(m.sampler);
}

int fm_measure_rate_of(uint32_t sig, uint32_t *below)
{
    return fm_sampler_rate_of(m.sampler, sig, below);
}

uint64_t fm_measure_draw(void)
{
    return fm_sampler_draw();
}

int fm_measure_chosen(uint32_t sig)
{
    return fm_sampler_chosen(m.sampler, sig);
}

static uint64_t family_of(const fm_launch_key *k)
{
    return fm_arg_family_hash(k->function, k->grid, k->block, k->shared_mem, k->device);
}

int fm_measure_args_folded(const fm_launch_key *k)
{
    if (!fm_measure_active() || !m.learner || k->arg_hash == FM_ARGS_NOT_READ ||
        k->arg_hash == FM_ARGS_FOLDED)
        return 0;
    return fm_arg_split_folded(m.learner, family_of(k));
}

uint64_t fm_measure_next_ordinal(void)
{
    return atomic_fetch_add_explicit(&m.next_ordinal, 1, memory_order_relaxed);
}

/* ---- declaring the groups ------------------------------------------------------------------ */

static uint64_t *ledger_counts(uint32_t sig)
{
    return (uint64_t *)(m.ledger + (size_t)sig * m.ledger_stride);
}

static double *ledger_sums(uint32_t sig)
{
    return (double *)(ledger_counts(sig) + MAX_GROUPS);
}

static int copy_groups(const fm_hook_group_def *defs, uint32_t n)
{
    m.n_slots = 0;
    for (uint32_t gi = 0; gi < n; gi++) {
        group_def *g = &m.groups[gi];
        if (defs[gi].n_metrics == 0 || defs[gi].n_metrics > MAX_METRICS)
            return -1;
        g->n = defs[gi].n_metrics;
        g->first_slot = m.n_slots;
        for (uint32_t i = 0; i < g->n; i++) {
            const fm_hook_metric *d = &defs[gi].metrics[i];
            /* the trace would refuse the group, and every sample of it would dangle */
            if (!d->name || !*d->name ||
                (d->precision_class != FM_CLASS_NONE &&
                 !fm_precision_class_valid(d->precision_class)) ||
                !isfinite(d->weight) || d->weight < 0)
                return -1;
            if (!(g->names[i] = strdup(d->name)))
                return -1;
            g->classes[i] = d->precision_class;
            g->weights[i] = d->weight;
            if (d->precision_class == FM_CLASS_NONE)
                continue;
            uint32_t s = g->first_slot;
            while (s < m.n_slots && m.slot_class[s] != d->precision_class)
                s++;
            if (s == m.n_slots) {
                if (m.n_slots == MAX_SLOTS)
                    return -1;
                m.slot_class[s] = d->precision_class;
                m.slot_group[s] = gi;
                m.n_slots++;
            }
            g->slot_of[i] = s;
        }
        g->n_slots = m.n_slots - g->first_slot;
    }
    m.n_groups = n;
    return 0;
}

int fm_hook_set_metric_groups(const char *chip, const fm_hook_group_def *groups, uint32_t n,
                              int mode, double budget)
{
    if (fm_hook_state() != FM_HOOK_RUNNING || !groups || n == 0 || n > MAX_GROUPS ||
        !m.signatures || !m.table)
        return -1;
    pthread_mutex_lock(&m.mu);
    int rc = -1;
    if (!atomic_load(&m.active) && copy_groups(groups, n) == 0) {
        fm_sampler_config c;
        fm_sampler_config_defaults(&c);
        c.mode = (fm_profile_mode)mode;
        c.signatures = m.signatures;
        c.n_groups = n;
        if (budget > 0)
            c.budget = budget;
        const fm_hook_config *cfg = fm_hook_config_in_use();
        if (cfg->profile_first)
            c.first_per_group = cfg->profile_first;
        c.replay_first = cfg->profile_replay_first;
        snprintf(m.chip, sizeof m.chip, "%s", chip ? chip : "");
        m.ledger_stride = MAX_GROUPS * sizeof(uint64_t) + m.n_slots * sizeof(double);
        m.ledger_bytes = ((size_t)m.signatures + 1) * m.ledger_stride;
        m.tally_mask = 4 * PENDING_SAMPLES - 1;
        for (int b = 0; b < 2; b++) {
            m.samples[b] = calloc(PENDING_SAMPLES, sizeof(sample));
            m.values[b] = calloc(PENDING_VALUES, sizeof(double));
        }
        m.tallies = fm_reserve((size_t)(m.tally_mask + 1) * sizeof(tally));
        m.ledger = fm_reserve(m.ledger_bytes);
        m.sampler = fm_sampler_new(&c);
        int learner_ok = 1;
        if (cfg->arg_learn) {
            fm_arg_split_config ac;
            fm_arg_split_config_defaults(&ac);
            ac.n_groups = n;
            learner_ok = (m.learner = fm_arg_split_new(&ac)) != NULL;
        }
        if (learner_ok && m.samples[0] && m.samples[1] && m.values[0] && m.values[1] && m.tallies &&
            m.ledger && m.sampler) {
            m.started_ns = fm_hook_now_ns();
            atomic_store_explicit(&m.active, 1, memory_order_release);
            rc = 0;
        }
        /* on failure what was made stays unused: measuring never starts */
    }
    pthread_mutex_unlock(&m.mu);
    return rc;
}

/* ---- values in ------------------------------------------------------------------------------- */

/* Appends a launch's readings (or its loss) in one hold of the mutex: they stay together and
 * reach the same flush. A launch whose readings do not fit, or do not match their groups, is
 * lost as a whole. */
static void add_launch(const fm_launch_decision *d, const fm_counter_reading *rd, uint32_t n,
                       uint32_t passes, uint64_t overhead_ns)
{
    if (!fm_measure_active() || !d || d->group == FM_SAMPLE_NONE)
        return;
    uint32_t values = 0;
    int fits = n > 0;
    for (uint32_t i = 0; i < n && fits; i++) {
        fits = rd[i].group < m.n_groups && rd[i].n_values == m.groups[rd[i].group].n &&
               rd[i].values;
        values += rd[i].n_values;
    }
    pthread_mutex_lock(&m.mu);
    if (fits && (m.n_samples + n > PENDING_SAMPLES || m.n_values + values > PENDING_VALUES)) {
        fits = 0;
        m.dropped += n;
    }
    if (!fits && m.n_samples == PENDING_SAMPLES) {
        /* not even the loss can be written down: the launch leaves the in-flight count here */
        pthread_mutex_unlock(&m.mu);
        if (d->pair <= m.table->pair_mask)
            atomic_fetch_sub_explicit(&m.table->pairs[d->pair].inflight, 1,
                                      memory_order_relaxed);
        fm_sampler_lost(m.sampler, d->signature);
        return;
    }
    uint64_t now = fm_hook_now_ns();
    uint32_t count = fits ? n : 1;
    for (uint32_t i = 0; i < count; i++) {
        sample *s = &m.samples[m.cur][m.n_samples++];
        s->sig = d->signature;
        s->pair = d->pair;
        s->ordinal = d->ordinal;
        s->time_ns = now;
        s->passes = passes;
        s->last = i + 1 == count;
        s->lost = !fits;
        s->overhead_ns = s->last ? overhead_ns : 0;
        s->group = fits ? rd[i].group : 0;
        s->duration_ns = fits ? rd[i].duration_ns : 0;
        s->n_values = fits ? rd[i].n_values : 0;
        s->first_value = m.n_values;
        if (s->n_values)
            memcpy(&m.values[m.cur][m.n_values], rd[i].values, s->n_values * sizeof(double));
        m.n_values += s->n_values;
    }
    int soon = m.n_samples >= SAMPLES_SOON || m.n_values >= VALUES_SOON;
    pthread_mutex_unlock(&m.mu);
    if (soon)
        fm_hook_write_samples_soon();
}

void fm_hook_counter_sample(const fm_launch_decision *d, const fm_counter_reading *readings,
                            uint32_t n, uint32_t passes, uint64_t overhead_ns)
{
    add_launch(d, readings, n, passes, overhead_ns);
}

void fm_hook_counter_lost(const fm_launch_decision *d)
{
    add_launch(d, NULL, 0, 0, 0);
}

/* ---- the flusher ------------------------------------------------------------------------------ */

/* What one measured group of a launch says about its family's arguments (arg_splitting.h). */
static void learn_arguments(fm_launch_table *t, uint32_t sig, uint32_t group, double ops)
{
    if (!m.learner)
        return;
    const fm_sig_slot *slot = fm_launch_table_by_id(t, sig);
    if (slot && slot->key.arg_hash != FM_ARGS_NOT_READ)
        fm_arg_split_observe(m.learner, family_of(&slot->key), slot->key.arg_hash, group, ops);
}

void fm_measure_write_groups(fm_writer *w)
{
    if (!fm_measure_active())
        return;
    for (; m.groups_written < m.n_groups; m.groups_written++) {
        const group_def *g = &m.groups[m.groups_written];
        fm_metric_def defs[MAX_METRICS];
        for (uint32_t i = 0; i < g->n; i++) {
            defs[i].name = fm_writer_intern(w, g->names[i], strlen(g->names[i]));
            defs[i].precision_class = g->classes[i];
            defs[i].weight = g->weights[i];
        }
        fm_record r = {.kind = FM_REC_METRIC_GROUP};
        r.u.metric_group.id = m.groups_written + 1;
        r.u.metric_group.chip = fm_str_c(m.chip);
        r.u.metric_group.n_metrics = g->n;
        r.u.metric_group.metrics = defs;
        (void)fm_writer_append(w, &r);
    }
}

static uint32_t home_of(uint32_t pair)
{
    return (pair * 2654435761u) & m.tally_mask;
}

/* The pair's tally, made when new; NULL when the table is three quarters full. */
static tally *tally_for(uint32_t pair)
{
    for (uint32_t i = home_of(pair);; i = (i + 1) & m.tally_mask) {
        tally *t = &m.tallies[i];
        if (t->pair_plus1 == pair + 1)
            return t;
        if (!t->pair_plus1) {
            if (4 * (m.n_tallies + 1) > 3 * (m.tally_mask + 1))
                return NULL;
            memset(t, 0, sizeof *t);
            t->pair_plus1 = pair + 1;
            m.n_tallies++;
            return t;
        }
    }
}

static tally *find_tally(uint32_t pair)
{
    for (uint32_t i = home_of(pair); m.n_tallies; i = (i + 1) & m.tally_mask) {
        if (m.tallies[i].pair_plus1 == pair + 1)
            return &m.tallies[i];
        if (!m.tallies[i].pair_plus1)
            break;
    }
    return NULL;
}

/* Linear probing's deletion: the entries after the hole that would no longer be found are
 * moved back into it. */
static void remove_tally(tally *t)
{
    uint32_t hole = (uint32_t)(t - m.tallies);
    t->pair_plus1 = 0;
    m.n_tallies--;
    for (uint32_t i = (hole + 1) & m.tally_mask; m.tallies[i].pair_plus1;
         i = (i + 1) & m.tally_mask) {
        uint32_t home = home_of(m.tallies[i].pair_plus1 - 1);
        /* the entry at i stays if its home lies cyclically in (hole, i] */
        int stays = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
        if (stays)
            continue;
        m.tallies[hole] = m.tallies[i];
        m.tallies[i].pair_plus1 = 0;
        hole = i;
    }
}

uint64_t fm_measure_write_samples(fm_writer *w, fm_launch_table *t, uint32_t sigs_written)
{
    if (!fm_measure_active())
        return 0;
    /* groups declared after step 1 of this flush, whose first samples are already here:
     * a sample must follow its group in the trace */
    fm_measure_write_groups(w);
    pthread_mutex_lock(&m.mu);
    uint32_t buf = m.cur, n = m.n_samples;
    m.cur ^= 1;
    m.n_samples = m.n_values = 0;
    uint64_t dropped = m.dropped;
    m.dropped = 0;
    pthread_mutex_unlock(&m.mu);
    if (dropped)
        fm_hook_degrade(FM_DEGRADE_RECORDS_DROPPED, 0, 0,
                        "%" PRIu64 " counter samples could not be kept (more than %d before "
                        "the flusher could write them, or values that did not fit their "
                        "group): their launches count as unprofiled",
                        dropped, PENDING_SAMPLES);
    uint64_t overhead = 0;
    sample *ss = m.samples[buf];
    const double *vals = m.values[buf];
    for (uint32_t k = 0; k < n; k++) {
        sample *s = &ss[k];
        overhead += s->overhead_ns;
        if (s->sig == 0 || s->sig > m.signatures || s->pair > t->pair_mask)
            continue;
        if (!s->lost && s->sig <= sigs_written) {
            const group_def *g = &m.groups[s->group];
            fm_record r = {.kind = FM_REC_COUNTER_SAMPLE};
            fm_rec_counter_sample *cs = &r.u.counter_sample;
            cs->signature = s->sig;
            cs->launch_ordinal = s->ordinal;
            cs->group = s->group + 1;
            cs->time_ns = s->time_ns;
            cs->duration_ns = s->duration_ns;
            cs->passes = s->passes;
            cs->n_values = s->n_values;
            cs->values = &vals[s->first_value];
            (void)fm_writer_append(w, &r);
            /* the signature's ledger, and the pair's tally until it is written */
            tally *ty = tally_for(s->pair);
            static tally spill; /* no room: the launch is written as credited, not measured */
            if (!ty)
                ty = &spill;
            uint64_t *counts = ledger_counts(s->sig);
            double *sums = ledger_sums(s->sig);
            double fp = 0, all = 0;
            for (uint32_t i = 0; i < g->n; i++) {
                if (g->classes[i] == FM_CLASS_NONE)
                    continue;
                double ops = cs->values[i] * g->weights[i];
                sums[g->slot_of[i]] += ops;
                ty->ops[g->slot_of[i]] += ops;
                all += ops;
                if (!fm_precision_class_is_integer(g->classes[i]))
                    fp += ops;
            }
            counts[s->group]++;
            ty->per_group[s->group]++;
            fm_sampler_record(m.sampler, s->sig, s->group, fp);
            learn_arguments(t, s->sig, s->group, all);
            if (s->overhead_ns)
                fm_sampler_note_cost(m.sampler, s->group, s->overhead_ns);
            if (s->last)
                ty->launches++;
        } else if (s->lost) {
            fm_sampler_lost(m.sampler, s->sig);
        }
        /* a sample of a signature not yet in the trace is dropped with its launch: that
         * cannot happen (a launch's signature is published before the launch returns), but
         * the in-flight count must come down whatever happens */
        if (s->last)
            atomic_fetch_sub_explicit(&t->pairs[s->pair].inflight, 1, memory_order_relaxed);
    }
    m.profiling_ns += overhead;
    return overhead;
}

int fm_measure_complete(uint32_t sig)
{
    if (!fm_measure_active() || sig == 0 || sig > m.signatures)
        return 0;
    const uint64_t *counts = ledger_counts(sig);
    for (uint32_t gi = 0; gi < m.n_groups; gi++)
        if (!counts[gi])
            return 0;
    return 1;
}

uint32_t fm_measure_read_in_flush(uint32_t pair_index)
{
    const tally *ty = fm_measure_active() ? find_tally(pair_index) : NULL;
    return ty ? ty->launches : 0;
}

void fm_measure_split_of(uint32_t pair_index, uint32_t sig, uint64_t launches,
                         fm_measure_split *out)
{
    memset(out, 0, sizeof *out);
    if (!fm_measure_active() || sig == 0 || sig > m.signatures)
        return;
    fm_sampler_add_launches(m.sampler, sig, launches);
    static tally none; /* zeros: the flusher's alone */
    tally *found = find_tally(pair_index);
    const tally *ty = found ? found : &none;
    const uint64_t *counts = ledger_counts(sig);
    const double *sums = ledger_sums(sig);
    int complete = fm_measure_complete(sig);
    out->measured = ty->launches < launches ? ty->launches : launches;
    out->extrapolated = complete ? launches - out->measured : 0;
    /* per class: what was read, and for every group the launches not read in it credited with
     * the signature's mean in that group */
    for (uint32_t s = 0; s < m.n_slots; s++) {
        uint32_t gi = m.slot_group[s];
        double measured = ty->ops[s];
        double credited = 0;
        if (complete && launches > ty->per_group[gi])
            credited = (double)(launches - ty->per_group[gi]) * sums[s] / (double)counts[gi];
        if (measured == 0 && credited == 0)
            continue;
        uint32_t c = 0;
        while (c < out->n_classes && out->classes[c].precision_class != m.slot_class[s])
            c++;
        if (c == out->n_classes) {
            if (c == sizeof out->classes / sizeof *out->classes)
                continue;
            out->classes[c].precision_class = m.slot_class[s];
            out->n_classes++;
        }
        out->classes[c].measured += measured;
        out->classes[c].extrapolated += credited;
    }
    /* ascending class order, as AGGREGATE records keep them */
    for (uint32_t i = 1; i < out->n_classes; i++)
        for (uint32_t j = i; j > 0 && out->classes[j - 1].precision_class >
                                          out->classes[j].precision_class;
             j--) {
            fm_class_flop tmp = out->classes[j];
            out->classes[j] = out->classes[j - 1];
            out->classes[j - 1] = tmp;
        }
    if (found)
        remove_tally(found); /* written: what it held is in this AGGREGATE */
}

void fm_measure_end_interval(uint64_t now_ns)
{
    if (!fm_measure_active())
        return;
    uint64_t elapsed = now_ns > m.started_ns ? now_ns - m.started_ns : 0;
    fm_sampler_rebalance(m.sampler, elapsed, m.profiling_ns, NULL);
}
