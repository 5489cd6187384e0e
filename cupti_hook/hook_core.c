/* hook_core.c - the collector: state, the launch path, and the flusher thread that turns the
 * lock-free tables into trace records (see hook_core.h). */
#define _GNU_SOURCE
#include "hook_core.h"

#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hook_naming.h"
#include "hook_phases.h"
#include "hook_measure.h"
#include "sampler.h"
#include "thread_counts.h"
#include "flopmeter/trace_writer.h"
#include "flopmeter/version.h"

#define CORR_RING (1u << 20)
#define PENDING_MAX 256

int (*fm_hook_capture_stack)(uint64_t *pcs, int max);

typedef struct pending_decl {
    char key[96];
    char text[256];
    int has_text;
    double value;
    uint32_t phase;
    uint64_t time_ns;
} pending_decl;

typedef struct pending_degrade {
    uint32_t kind;
    int64_t api_result;
    uint64_t launches_affected, time_ns;
    char message[256];
} pending_degrade;

typedef struct pending_device {
    fm_rec_device rec;
    char name[256], chip[64], bus[64];
} pending_device;

static struct {
    _Atomic int state;
    pthread_mutex_t life_mu;     /* start and stop */
    fm_hook_config cfg;
    fm_identity id;
    char path[4096];
    fm_writer *w;
    fm_launch_table table;
    fm_thread_counts counts;     /* per-thread counters in front of the table */
    fm_phases phases;
    pthread_once_t phases_once;
    _Atomic(uint32_t) *corr;     /* correlation id -> pair slot index + 1 */
    /* flusher */
    pthread_t flusher;
    int flusher_running, stopping;
    pthread_mutex_t flush_mu;    /* one flush at a time; the flusher or stop */
    pthread_mutex_t wake_mu;     /* the flusher's sleep: held around waits, never a flush, so
                                    that waking it never waits for a write */
    pthread_cond_t wake;
    _Atomic int samples_asked;   /* the measuring side wants its samples written early */
    uint64_t interval_start_ns;
    uint64_t *shadow_launches, *shadow_busy;
    uint8_t *held;               /* per pair: flushes its launches have waited for a credit */
    uint32_t sigs_written, phases_written;
    /* things told between flushes (program rate, not launches) */
    pthread_mutex_t pending_mu;
    pending_decl decls[PENDING_MAX];
    uint32_t n_decls;
    pending_degrade degrades[64];
    uint32_t n_degrades;
    pending_device devices[64];
    uint32_t n_devices;
    uint64_t pending_dropped;
    double step_tokens;          /* steps since the last flush, in phase step_phase */
    uint64_t step_count, step_last_ns;
    uint32_t step_phase;
    _Atomic uint32_t degrade_said;  /* a bit per kind: its line was printed */
} g = {.life_mu = PTHREAD_MUTEX_INITIALIZER,
       .phases_once = PTHREAD_ONCE_INIT,
       .flush_mu = PTHREAD_MUTEX_INITIALIZER,
       .wake_mu = PTHREAD_MUTEX_INITIALIZER,
       .pending_mu = PTHREAD_MUTEX_INITIALIZER};

uint64_t fm_hook_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void init_phases(void)
{
    fm_phases_init(&g.phases);
}

static fm_phases *phases(void)
{
    pthread_once(&g.phases_once, init_phases);
    return &g.phases;
}

const fm_hook_config *fm_hook_config_in_use(void)
{
    return &g.cfg;
}

int fm_hook_state(void)
{
    return atomic_load_explicit(&g.state, memory_order_acquire);
}

/* ---- problems ----------------------------------------------------------------------------- */

void fm_hook_degrade(uint32_t kind, int64_t api_result, uint64_t launches_affected,
                     const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    uint32_t bit = 1u << (kind & 31);
    if (!(atomic_fetch_or(&g.degrade_said, bit) & bit))
        fprintf(stderr, "flopmeter: %s\n", msg); /* once per kind: the program's output is not
                                                    flooded */
    pthread_mutex_lock(&g.pending_mu);
    if (g.n_degrades < sizeof g.degrades / sizeof *g.degrades) {
        pending_degrade *d = &g.degrades[g.n_degrades++];
        d->kind = kind;
        d->api_result = api_result;
        d->launches_affected = launches_affected;
        d->time_ns = fm_hook_now_ns();
        snprintf(d->message, sizeof d->message, "%s", msg);
    } else {
        g.pending_dropped++;
    }
    pthread_mutex_unlock(&g.pending_mu);
}

/* ---- the launch path ---------------------------------------------------------------------- */

/* Whether to measure a launch of sig counted in pair, decided before the launch is counted:
 * a launch chosen for measurement is in flight before it is counted (hook_measure.h). */
static inline void chosen(fm_launch_decision *d, uint32_t sig, uint32_t pair, int group)
{
    atomic_fetch_add_explicit(&g.table.pairs[pair].inflight, 1, memory_order_relaxed);
    d->group = group;
    d->signature = sig;
    d->pair = pair;
    d->ordinal = fm_measure_next_ordinal();
}

static inline void decide(fm_launch_decision *d, uint32_t sig, uint32_t pair)
{
    if (!fm_measure_active())
        return;
    int group = fm_measure_decide(sig);
    if (group != FM_SAMPLE_NONE)
        chosen(d, sig, pair, group);
}

/* The same for a launch found in this thread's counters: the signature's rate is kept in its
 * entry, read again only when a rebalance has moved the rates on, so that a repeated launch
 * is decided without touching the sampler's per-signature state (at thousands of signatures
 * that state misses the caches the counters already fill). */
static inline void decide_cached(fm_launch_decision *d, fm_tc_entry *e, uint32_t pair)
{
    if (!fm_measure_active())
        return;
    uint32_t gen = fm_measure_generation();
    if (!gen || (e->decided_gen != gen && !fm_measure_rate_of(e->sig_id, &e->measure_below))) {
        decide(d, e->sig_id, pair); /* first launches, idle, or no rate of its own */
        return;
    }
    e->decided_gen = gen;
    if ((uint32_t)(fm_measure_draw() >> 32) >= e->measure_below)
        return;
    int group = fm_measure_chosen(e->sig_id);
    if (group != FM_SAMPLE_NONE)
        chosen(d, e->sig_id, pair, group);
}

/* Filled in place: returned by value, the key went through memory on the launch path and
 * cost it about 15 ns (bench_launch_path). */
static inline void key_of(const fm_launch_info *l, fm_launch_key *key)
{
    key->function = l->function;
    memcpy(key->grid, l->grid, sizeof key->grid);
    memcpy(key->block, l->block, sizeof key->block);
    key->shared_mem = l->shared_mem;
    key->device = l->device;
    key->arg_hash = l->arg_hash;
}

/* The signature of a launch not in this thread's counters (added when new) and its
 * (signature, phase) counter; NULL when a table is full (counted as dropped there). */
/* Kept out of line: the launch path's common case stays small. */
__attribute__((noinline)) static fm_pair_slot *pair_of(const fm_launch_key *key,
                                                      const char *name, uint32_t phase,
                                                      uint32_t *sig)
{
    int created = 0;
    fm_sig_slot *s = fm_launch_table_signature(&g.table, key, name, 0, &created);
    if (!s)
        return NULL;
    if (created) {
        /* first launch of this signature: the only time this path does more than count */
        fm_sig_info *info = fm_launch_table_info(&g.table, s);
        info->first_seen_ns = fm_hook_now_ns();
        if (g.cfg.callstacks && fm_hook_capture_stack)
            info->n_pcs = (uint32_t)fm_hook_capture_stack(info->pcs, FM_MAX_STACK);
        fm_launch_table_publish(&g.table, s);
    }
    *sig = s->id;
    return fm_launch_table_pair(&g.table, s->id, phase);
}

/* The counter an execution record with the launch's correlation id will add its time to. */
static inline void note_correlation(const fm_launch_info *l, uint32_t pair)
{
    if (l->correlation_id)
        atomic_store_explicit(&g.corr[l->correlation_id & (CORR_RING - 1)], pair + 1,
                              memory_order_relaxed);
}

/* A launch found in this thread's counters: decided, counted there. */
static inline void count_cached(const fm_launch_info *l, fm_launch_decision *d, fm_tc_entry *e)
{
    uint32_t pair = fm_tc_pair_index(e);
    if (d)
        decide_cached(d, e, pair);
    fm_tc_count(e);
    note_correlation(l, pair);
}

static inline void launch(const fm_launch_info *l, fm_launch_decision *d)
{
    if (d)
        d->group = FM_SAMPLE_NONE;
    if (atomic_load_explicit(&g.state, memory_order_acquire) != FM_HOOK_RUNNING)
        return;
    fm_launch_key key;
    key_of(l, &key);
    uint32_t phase = fm_phases_current();
    /* the common case: this thread launched the same thing in the same phase before */
    fm_tc_block *b = fm_thread_counts_mine(&g.counts);
    fm_tc_entry *e = b ? fm_tc_lookup(b, &key, phase) : NULL;
    if (e) {
        count_cached(l, d, e);
        return;
    }
    /* a family whose arguments were learnt not to decide its work: under its folded
     * signature. Asked only here, off the common path: a launch whose arguments repeat finds
     * its counter above, and folding matters for arguments that do not repeat */
    if (fm_measure_args_folded(&key)) {
        key.arg_hash = FM_ARGS_FOLDED;
        if (b && (e = fm_tc_lookup(b, &key, phase)) != NULL) {
            count_cached(l, d, e);
            return;
        }
    }
    uint32_t sig;
    fm_pair_slot *p = pair_of(&key, l->name, phase, &sig);
    if (!p)
        return;
    uint32_t pair = (uint32_t)(p - g.table.pairs);
    if (d)
        decide(d, sig, pair);
    if (!b || !fm_tc_install(&g.table, b, &key, phase, sig, pair)) /* which counts it */
        atomic_fetch_add_explicit(&p->launches, 1, memory_order_relaxed);
    note_correlation(l, pair);
}

void fm_hook_launch(const fm_launch_info *l)
{
    launch(l, NULL);
}

void fm_hook_launch_measured(const fm_launch_info *l, fm_launch_decision *d)
{
    launch(l, d);
}

void fm_hook_kernel_executed(uint64_t correlation_id, uint64_t duration_ns)
{
    /* 0 is no correlation (fm_launch_info): its ring slot is that of correlation id 2^20,
     * whose launch would be credited with this duration */
    if (!correlation_id ||
        atomic_load_explicit(&g.state, memory_order_acquire) != FM_HOOK_RUNNING)
        return;
    uint32_t idx = atomic_load_explicit(&g.corr[correlation_id & (CORR_RING - 1)],
                                        memory_order_relaxed);
    if (idx)
        atomic_fetch_add_explicit(&g.table.pairs[idx - 1].busy_ns, duration_ns,
                                  memory_order_relaxed);
}

void fm_hook_graph_kernel(const fm_launch_info *l, uint64_t duration_ns)
{
    if (atomic_load_explicit(&g.state, memory_order_acquire) != FM_HOOK_RUNNING)
        return;
    fm_launch_key key;
    key_of(l, &key);
    int created = 0;
    fm_sig_slot *s = fm_launch_table_signature(&g.table, &key, l->name, 0, &created);
    if (!s)
        return;
    if (created) {
        fm_launch_table_info(&g.table, s)->first_seen_ns = fm_hook_now_ns();
        fm_launch_table_publish(&g.table, s); /* no stack: the graph was built elsewhere */
    }
    /* graph kernels run outside any host thread's phase: the phase of none */
    fm_pair_slot *p = fm_launch_table_pair(&g.table, s->id, 0);
    if (!p)
        return;
    atomic_fetch_add_explicit(&p->launches, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->busy_ns, duration_ns, memory_order_relaxed);
}

/* ---- what the program tells ------------------------------------------------------------- */

void fm_hook_device(uint32_t ordinal, const char *name, const uint8_t uuid[16], const char *chip,
                    uint32_t cc_major, uint32_t cc_minor, uint32_t sm_count,
                    uint64_t memory_bytes, const char *pci_bus_id)
{
    pthread_mutex_lock(&g.pending_mu);
    if (g.n_devices < sizeof g.devices / sizeof *g.devices) {
        pending_device *d = &g.devices[g.n_devices++];
        memset(d, 0, sizeof *d);
        snprintf(d->name, sizeof d->name, "%s", name ? name : "");
        snprintf(d->chip, sizeof d->chip, "%s", chip ? chip : "");
        snprintf(d->bus, sizeof d->bus, "%s", pci_bus_id ? pci_bus_id : "");
        d->rec.device = ordinal;
        if (uuid)
            memcpy(d->rec.uuid, uuid, 16);
        d->rec.cc_major = cc_major;
        d->rec.cc_minor = cc_minor;
        d->rec.sm_count = sm_count;
        d->rec.memory_bytes = memory_bytes;
    }
    pthread_mutex_unlock(&g.pending_mu);
}

int fm_hook_phase_push(const char *name, int category)
{
    fm_phases *p = phases();
    uint32_t id = fm_phases_define(p, name, category);
    fm_phases_push(p, id, fm_hook_now_ns());
    return 0;
}

int fm_hook_phase_pop(void)
{
    fm_phases_pop(phases(), fm_hook_now_ns());
    return 0;
}

int fm_hook_declare(const char *key, double value, const char *text)
{
    if (!key || !*key || value != value)
        return 0; /* nothing a trace could hold; the program is not disturbed */
    pthread_mutex_lock(&g.pending_mu);
    if (g.n_decls < PENDING_MAX) {
        pending_decl *d = &g.decls[g.n_decls++];
        snprintf(d->key, sizeof d->key, "%s", key);
        d->has_text = text != NULL;
        snprintf(d->text, sizeof d->text, "%s", text ? text : "");
        d->value = value;
        d->phase = fm_phases_current();
        d->time_ns = fm_hook_now_ns();
    } else {
        g.pending_dropped++;
    }
    pthread_mutex_unlock(&g.pending_mu);
    return 0;
}

/* Moves the steps summed so far into two pending declarations. Caller holds pending_mu. */
static void steps_to_pending_locked(void)
{
    if (!g.step_count)
        return;
    if (g.n_decls + 2 > PENDING_MAX) {
        g.pending_dropped += 2;
    } else {
        static const char *const keys[2] = {"data.tokens", "data.steps"};
        double values[2] = {g.step_tokens, (double)g.step_count};
        for (int i = 0; i < 2; i++) {
            pending_decl *d = &g.decls[g.n_decls++];
            snprintf(d->key, sizeof d->key, "%s", keys[i]);
            d->has_text = 0;
            d->text[0] = '\0';
            d->value = values[i];
            d->phase = g.step_phase;
            d->time_ns = g.step_last_ns;
        }
    }
    g.step_tokens = 0;
    g.step_count = 0;
}

int fm_hook_step(double tokens)
{
    if (!(tokens >= 0) || tokens > 1e300)
        return 0; /* negative, NaN or infinite: no count a report could use */
    uint32_t phase = fm_phases_current();
    pthread_mutex_lock(&g.pending_mu);
    if (g.step_count && phase != g.step_phase)
        steps_to_pending_locked();
    g.step_phase = phase;
    g.step_tokens += tokens;
    g.step_count++;
    g.step_last_ns = fm_hook_now_ns();
    pthread_mutex_unlock(&g.pending_mu);
    return 0;
}

const char *fm_hook_trace_path(void)
{
    int st = fm_hook_state();
    return st == FM_HOOK_RUNNING || st == FM_HOOK_STOPPED ? g.path : "";
}

/* ---- writing ------------------------------------------------------------------------------ */

static uint64_t intern(const char *s)
{
    return fm_writer_intern(g.w, s ? s : "", s ? strlen(s) : 0);
}

static void append(const fm_record *r)
{
    (void)fm_writer_append(g.w, r); /* failures are sticky in the writer and reported at close */
}

/* The native frames of a first launch, resolved in-process (dladdr), as a CALLSITE. */
static uint64_t write_callsite(const fm_sig_slot *s)
{
    const fm_sig_info *si = fm_launch_table_info(&g.table, s);
    if (!si->n_pcs)
        return 0;
    fm_frame frames[FM_MAX_STACK];
    uint32_t n = 0;
    for (uint32_t i = 0; i < si->n_pcs && n < FM_MAX_STACK; i++) {
        Dl_info info;
        memset(&info, 0, sizeof info);
        uintptr_t pc = (uintptr_t)si->pcs[i];
        if (!dladdr((void *)pc, &info) || !info.dli_fname)
            continue;
        frames[n].module = intern(info.dli_fname);
        frames[n].symbol = info.dli_sname ? intern(info.dli_sname) : 0;
        frames[n].offset = pc - (uintptr_t)info.dli_fbase;
        n++;
    }
    if (!n)
        return 0;
    fm_record r = {.kind = FM_REC_CALLSITE};
    r.u.callsite.id = s->id; /* one stack per signature: the ids can be the same */
    r.u.callsite.n_frames = n;
    r.u.callsite.frames = frames;
    append(&r);
    return s->id;
}

static void write_signatures(void)
{
    for (uint32_t id = g.sigs_written + 1;; id++) {
        const fm_sig_slot *s = fm_launch_table_by_id(&g.table, id);
        if (!s)
            break; /* not yet published: the next flush takes it (ids stay in order) */
        fm_record r = {.kind = FM_REC_KERNEL_SIGNATURE};
        fm_rec_kernel_signature *k = &r.u.kernel_signature;
        k->callsite = write_callsite(s);
        k->id = id;
        k->name = intern(fm_launch_table_info(&g.table, s)->name);
        k->device = s->key.device;
        for (int i = 0; i < 3; i++) {
            k->grid[i] = s->key.grid[i];
            k->block[i] = s->key.block[i];
        }
        k->shared_mem_dynamic = s->key.shared_mem;
        k->arg_hash = s->key.arg_hash;
        k->first_seen_ns = fm_launch_table_info(&g.table, s)->first_seen_ns;
        append(&r);
        g.sigs_written = id;
    }
}

/* PHASE_DEF records for the phases defined since the last call. */
static void write_phase_defs(void)
{
    fm_phases *p = phases();
    pthread_mutex_lock(&p->mu);
    uint32_t defined = p->n;
    pthread_mutex_unlock(&p->mu);
    for (uint32_t id = g.phases_written + 1; id <= defined; id++) {
        fm_record r = {.kind = FM_REC_PHASE_DEF};
        r.u.phase_def.id = id;
        r.u.phase_def.name = intern(p->names[id]);
        r.u.phase_def.category = p->categories[id];
        append(&r);
    }
    g.phases_written = defined;
}

static void write_pending(void)
{
    pthread_mutex_lock(&g.pending_mu);
    for (uint32_t i = 0; i < g.n_devices; i++) {
        fm_record r = {.kind = FM_REC_DEVICE};
        r.u.device = g.devices[i].rec;
        r.u.device.name = fm_str_c(g.devices[i].name);
        r.u.device.chip = fm_str_c(g.devices[i].chip);
        r.u.device.pci_bus_id = fm_str_c(g.devices[i].bus);
        append(&r);
    }
    g.n_devices = 0;
    steps_to_pending_locked();
    pending_decl decls[PENDING_MAX];
    uint32_t nd = g.n_decls;
    memcpy(decls, g.decls, nd * sizeof *decls);
    g.n_decls = 0;
    pending_degrade degr[64];
    uint32_t ng = g.n_degrades;
    memcpy(degr, g.degrades, ng * sizeof *degr);
    g.n_degrades = 0;
    pthread_mutex_unlock(&g.pending_mu);
    /* a declaration taken now may name a phase defined after write_phases looked (another
     * thread pushed it and declared at once): the phase was defined before the declaration
     * was made, so defining what is new now covers it, and it keeps its phase */
    write_phase_defs();
    for (uint32_t i = 0; i < nd; i++) {
        fm_record r = {.kind = FM_REC_DECLARATION};
        r.u.declaration.time_ns = decls[i].time_ns;
        r.u.declaration.key = intern(decls[i].key);
        r.u.declaration.value = decls[i].value;
        r.u.declaration.text = decls[i].has_text ? intern(decls[i].text) : 0;
        r.u.declaration.phase = decls[i].phase <= g.phases_written ? decls[i].phase : 0;
        append(&r);
    }
    for (uint32_t i = 0; i < ng; i++) {
        fm_record r = {.kind = FM_REC_DEGRADATION};
        r.u.degradation.time_ns = degr[i].time_ns;
        r.u.degradation.kind = degr[i].kind;
        r.u.degradation.api_result = degr[i].api_result;
        r.u.degradation.launches_affected = degr[i].launches_affected;
        r.u.degradation.message = fm_str_c(degr[i].message);
        append(&r);
    }
}

static void write_phases(void)
{
    fm_phase_event_rec ev[FM_PHASE_EVENTS];
    fm_phases *p = phases();
    /* events first: a phase is defined before it is pushed, so the definitions written next
     * cover every phase these events name */
    uint32_t n = fm_phases_take_events(p, ev, FM_PHASE_EVENTS);
    write_phase_defs();
    for (uint32_t i = 0; i < n; i++) {
        fm_record r = {.kind = FM_REC_PHASE_EVENT};
        r.u.phase_event.time_ns = ev[i].time_ns;
        r.u.phase_event.thread_id = ev[i].thread_id;
        r.u.phase_event.phase = ev[i].phase;
        r.u.phase_event.action = ev[i].action;
        append(&r);
    }
}

/* One AGGREGATE per (signature, phase) that launched or ran since the last flush: its
 * settled launches (counted, and not awaiting measured values), the measured and credited
 * operations, and the kernels' time. */
/* How long a pair's launches may wait for their signature's first full count (every metric
 * group read once) before they are written as unmeasured: a new signature's first launches
 * are measured one group each (up to 11 groups), so at a training step a second the full
 * count takes up to 11 s, and launches written before it would stay uncredited for good.
 * 30 s, as flushes: at least 3, at most 255. Bounded, because what waits is not in the file
 * yet: a crash meanwhile loses those launches' counts (their kernels' time is written). */
#define HOLD_NS 30000000000ull

static uint8_t hold_flushes(void)
{
    uint64_t n = HOLD_NS / ((uint64_t)g.cfg.interval_ms * 1000000ull);
    return (uint8_t)(n < 3 ? 3 : n > 255 ? 255 : n);
}

static void write_aggregates(uint64_t now, int final)
{
    fm_measure_write_groups(g.w);
    /* the values taken now lower the in-flight counts before the launches are read */
    fm_measure_write_samples(g.w, &g.table, g.sigs_written);
    fm_thread_counts_sweep(&g.counts, &g.table);
    for (uint32_t i = 0; i <= g.table.pair_mask; i++) {
        fm_pair_slot *p = &g.table.pairs[i];
        uint64_t key = atomic_load_explicit(&p->key, memory_order_acquire);
        if (!key)
            continue;
        uint32_t sig = (uint32_t)((key - 1) >> 32), phase = (uint32_t)(key - 1);
        if (sig > g.sigs_written || phase > g.phases_written)
            continue; /* its definition comes with the next flush, and so does this */
        uint64_t launches = atomic_load_explicit(&p->launches, memory_order_relaxed);
        uint64_t inflight = atomic_load_explicit(&p->inflight, memory_order_relaxed);
        uint64_t busy = atomic_load_explicit(&p->busy_ns, memory_order_relaxed);
        /* a launch path between raising the in-flight count and counting its launch can make
         * the settled count dip for a moment: what is written never goes back, and what it
         * got ahead by is taken off later launches (exact at the end, where nothing is in
         * flight) */
        uint64_t settled = launches > inflight ? launches - inflight : 0;
        uint64_t dl = settled > g.shadow_launches[i] ? settled - g.shadow_launches[i] : 0;
        uint64_t read = fm_measure_read_in_flush(i);
        int hold = (dl || read) && !final && fm_measure_active() && !fm_measure_complete(sig) &&
                   g.held[i] < hold_flushes();
        if (hold) {
            g.held[i]++;
            dl = 0; /* launches and readings wait for the signature's full count */
        } else {
            g.held[i] = 0;
            if (dl < read)
                dl = read;
        }
        uint64_t db = busy - g.shadow_busy[i];
        if (!dl && !db)
            continue;
        g.shadow_launches[i] += dl;
        g.shadow_busy[i] = busy;
        fm_measure_split split;
        memset(&split, 0, sizeof split);
        if (!hold)
            fm_measure_split_of(i, sig, dl, &split);
        fm_record r = {.kind = FM_REC_AGGREGATE};
        r.u.aggregate.interval_start_ns = g.interval_start_ns;
        r.u.aggregate.interval_end_ns = now > g.interval_start_ns ? now : g.interval_start_ns;
        r.u.aggregate.signature = sig;
        r.u.aggregate.phase = phase;
        r.u.aggregate.launches = dl;
        r.u.aggregate.launches_measured = split.measured;
        r.u.aggregate.launches_extrapolated = split.extrapolated;
        r.u.aggregate.busy_ns = db;
        r.u.aggregate.n_classes = split.n_classes;
        r.u.aggregate.classes = split.classes;
        append(&r);
    }
    fm_measure_end_interval(now);
    g.interval_start_ns = now;
}

static void flush_once(int final)
{
    pthread_mutex_lock(&g.flush_mu);
    uint64_t now = fm_hook_now_ns();
    write_phases(); /* before the declarations, which name the phase they were made in */
    write_pending();
    write_signatures();
    write_aggregates(now, final);
    if (final)
        fm_writer_flush(g.w);
    else
        fm_writer_flush_if_due(g.w);
    pthread_mutex_unlock(&g.flush_mu);
}

/* The counter samples waiting, written ahead of the next flush (after the signatures they
 * name, and their groups). Their launches' AGGREGATE comes with the flush as usual: the
 * readings are kept in the pair's tally until then. */
static void write_samples_early(void)
{
    pthread_mutex_lock(&g.flush_mu);
    write_signatures();
    fm_measure_write_samples(g.w, &g.table, g.sigs_written);
    pthread_mutex_unlock(&g.flush_mu);
}

void fm_hook_write_samples_soon(void)
{
    if (atomic_exchange_explicit(&g.samples_asked, 1, memory_order_acq_rel))
        return; /* asked already, and not yet done */
    pthread_mutex_lock(&g.wake_mu);
    pthread_cond_signal(&g.wake);
    pthread_mutex_unlock(&g.wake_mu);
}

static struct timespec deadline_after_ms(uint64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t ns = (uint64_t)ts.tv_nsec + ms * 1000000ull;
    ts.tv_sec += (time_t)(ns / 1000000000ull);
    ts.tv_nsec = (long)(ns % 1000000000ull);
    return ts;
}

static void *flusher_main(void *arg)
{
    (void)arg;
    /* the flushes keep their interval whatever early sample writes come between them */
    struct timespec due = deadline_after_ms(g.cfg.interval_ms);
    for (;;) {
        int rc = 0;
        pthread_mutex_lock(&g.wake_mu);
        while (!g.stopping && !atomic_load(&g.samples_asked) && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&g.wake, &g.wake_mu, &due);
        int stopping = g.stopping;
        pthread_mutex_unlock(&g.wake_mu);
        if (stopping)
            break;
        if (atomic_exchange(&g.samples_asked, 0))
            write_samples_early();
        if (rc == ETIMEDOUT) {
            flush_once(0);
            due = deadline_after_ms(g.cfg.interval_ms);
        }
    }
    return NULL;
}

static int start_flusher(void)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g.wake, &ca);
    pthread_condattr_destroy(&ca);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* the host's signals never reach our thread */
    int rc = pthread_create(&g.flusher, NULL, flusher_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    g.flusher_running = rc == 0;
    return rc == 0 ? 0 : -1;
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

static void disable(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void disable(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "flopmeter: %s; not measuring this process\n", msg);
    atomic_store(&g.state, FM_HOOK_DISABLED);
}

static const char *from_env(const char *name, void *ctx)
{
    (void)ctx;
    return getenv(name);
}

static void write_run_meta(const fm_hook_versions *v, uint64_t start_ns)
{
    char keys[16][32], values[16][FM_CONFIG_VALUE_LEN];
    size_t n = fm_hook_config_entries(&g.cfg, keys, values, 16);
    fm_config_entry cfg[16];
    for (size_t i = 0; i < n; i++) {
        cfg[i].key = fm_str_c(keys[i]);
        cfg[i].value = fm_str_c(values[i]);
    }
    char cmd[4096] = "";
    FILE *f = fopen("/proc/self/cmdline", "rb");
    if (f) {
        size_t len = fread(cmd, 1, sizeof cmd - 1, f);
        fclose(f);
        for (size_t i = 0; i + 1 < len; i++)
            if (!cmd[i])
                cmd[i] = ' ';
        cmd[len] = '\0';
    }
    fm_record r = {.kind = FM_REC_RUN_META};
    fm_rec_run_meta *m = &r.u.run_meta;
    m->tool_version = fm_str_c(FLOPMETER_VERSION);
    m->run_id = fm_str_c(g.id.run_id);
    m->host = fm_str_c(g.id.host);
    m->pid = g.id.pid;
    m->rank = g.id.rank;
    m->local_rank = g.id.local_rank;
    m->world_size = g.id.world_size;
    m->start_unix_ns = start_ns;
    m->cuda_driver_version = v ? v->cuda_driver : 0;
    m->cuda_runtime_version = v ? v->cuda_runtime : 0;
    m->cupti_version = v ? v->cupti : 0;
    m->command = fm_str_c(cmd);
    m->n_config = n;
    m->config = cfg;
    append(&r);
}

int fm_hook_start(const fm_hook_versions *v)
{
    pthread_mutex_lock(&g.life_mu);
    int st = fm_hook_state();
    if (st != FM_HOOK_IDLE) {
        pthread_mutex_unlock(&g.life_mu);
        return st == FM_HOOK_RUNNING ? 0 : -1;
    }
    char err[512];
    if (fm_hook_config_read(&g.cfg, err, sizeof err) != 0) {
        if (g.cfg.strict) {
            fprintf(stderr, "flopmeter: %s (FLOPMETER_STRICT=1: stopping)\n", err);
            _exit(70); /* the one way the tool ends a program: the user asked for it */
        }
        disable("%s", err);
        pthread_mutex_unlock(&g.life_mu);
        return -1;
    }
    if (g.cfg.mode == FM_MODE_OFF) {
        atomic_store(&g.state, FM_HOOK_DISABLED);
        pthread_mutex_unlock(&g.life_mu);
        return -1;
    }
    uint64_t start = fm_hook_now_ns();
    fm_identity_read(&g.id, g.cfg.run_id, start, from_env, NULL);
    fm_writer_options o;
    fm_writer_options_init(&o);
    o.flush_interval_ms = g.cfg.flush_ms;
    o.background_flush = 1;
    o.fsync_each_chunk = g.cfg.fsync;
    uint32_t sigs = g.cfg.max_signatures;
    if (fm_trace_path(&g.id, g.cfg.output_dir, g.path, sizeof g.path) != 0) {
        disable("the trace path under FLOPMETER_OUTPUT_DIR is too long");
    } else if (fm_make_parent_dirs(g.path) != 0) {
        disable("cannot create the directory of %s: %s", g.path, strerror(errno));
    } else if (fm_launch_table_init(&g.table, sigs, sigs * 4, (size_t)sigs * 256) != 0 ||
               !(g.corr = calloc(CORR_RING, sizeof *g.corr)) ||
               !(g.shadow_launches = calloc(g.table.pair_mask + 1, sizeof(uint64_t))) ||
               !(g.shadow_busy = calloc(g.table.pair_mask + 1, sizeof(uint64_t))) ||
               !(g.held = calloc(g.table.pair_mask + 1, 1))) {
        disable("not enough memory for the launch tables (FLOPMETER_MAX_SIGNATURES=%u)", sigs);
    } else if (fm_writer_open(&g.w, g.path, &o, err, sizeof err) != FM_OK) {
        disable("%s", err);
    }
    g.table.arg_variant_limit = g.cfg.arg_variants;
    /* without per-thread counters every launch goes to the shared tables: slower, still exact */
    if (fm_hook_state() != FM_HOOK_DISABLED) {
        (void)fm_thread_counts_init(&g.counts);
        fm_measure_configure(&g.table, sigs);
    }
    if (fm_hook_state() == FM_HOOK_DISABLED) {
        if (g.cfg.strict)
            _exit(70);
        pthread_mutex_unlock(&g.life_mu);
        return -1;
    }
    write_run_meta(v, start);
    g.interval_start_ns = start;
    atomic_store_explicit(&g.state, FM_HOOK_RUNNING, memory_order_release);
    if (start_flusher() != 0)
        fm_hook_degrade(FM_DEGRADE_OTHER, 0, 0, "cannot start the flush thread: the trace is "
                                                "written only at exit");
    if (!g.cfg.quiet)
        fprintf(stderr, "flopmeter: measuring into %s\n", g.path);
    pthread_mutex_unlock(&g.life_mu);
    return 0;
}

void fm_hook_stop(uint64_t exit_reason)
{
    pthread_mutex_lock(&g.life_mu);
    if (fm_hook_state() != FM_HOOK_RUNNING) {
        pthread_mutex_unlock(&g.life_mu);
        return;
    }
    /* launches still arriving from other threads are ignored from here on */
    atomic_store_explicit(&g.state, FM_HOOK_STOPPED, memory_order_release);
    if (g.flusher_running) {
        pthread_mutex_lock(&g.wake_mu);
        g.stopping = 1;
        pthread_cond_broadcast(&g.wake);
        pthread_mutex_unlock(&g.wake_mu);
        pthread_join(g.flusher, NULL);
        g.flusher_running = 0;
    }
    fm_launch_table *t = &g.table;
    uint64_t dropped = atomic_load(&t->dropped_signatures) + atomic_load(&t->dropped_pairs);
    if (dropped)
        fm_hook_degrade(FM_DEGRADE_RECORDS_DROPPED, 0, dropped,
                        "%" PRIu64 " launches were not counted: the launch tables were full "
                        "(raise FLOPMETER_MAX_SIGNATURES)",
                        dropped);
    uint64_t folded = atomic_load(&t->folded_functions);
    if (folded)
        fm_hook_degrade(FM_DEGRADE_OTHER, 0, 0,
                        "%" PRIu64 " kernel functions had more than %u argument variants: their "
                        "later variants are counted under folded signatures (arg_hash all ones; "
                        "FLOPMETER_ARG_VARIANTS)",
                        folded, g.cfg.arg_variants);
    /* phases the registry had no room for, pushes deeper than the stack, events the buffer
     * could not hold: counted in the registry, and said here, or the trace would not show
     * that its phases are incomplete */
    fm_phases *ph = phases();
    pthread_mutex_lock(&ph->mu);
    uint64_t phase_drops = ph->dropped;
    pthread_mutex_unlock(&ph->mu);
    if (phase_drops)
        fm_hook_degrade(FM_DEGRADE_RECORDS_DROPPED, 0, 0,
                        "%" PRIu64 " phase events or phase definitions could not be kept (more "
                        "than %d phases, nesting deeper than %d, or more than %d events between "
                        "flushes)",
                        phase_drops, FM_MAX_PHASES, FM_PHASE_DEPTH, FM_PHASE_EVENTS);
    flush_once(1);
    pthread_mutex_lock(&g.pending_mu); /* other threads may still be declaring */
    uint64_t pending_dropped = g.pending_dropped;
    pthread_mutex_unlock(&g.pending_mu);
    fm_writer_final_info fi = {0, exit_reason, dropped + pending_dropped + phase_drops};
    int rc = fm_writer_close(g.w, &fi);
    g.w = NULL;
    if (rc != FM_OK)
        fprintf(stderr, "flopmeter: the trace %s could not be completed (%s)\n", g.path,
                fm_status_name(rc));
    pthread_mutex_unlock(&g.life_mu);
    /* the tables stay allocated: a thread of the host may still be inside the launch path */
}

void fm_hook_after_fork_child(void)
{
    /* The parent's threads and locks do not exist here; only this thread runs. The trace is
     * the parent's: drop it unwritten, and measure nothing in the child. */
    if (fm_hook_state() == FM_HOOK_RUNNING && g.w)
        fm_writer_abandon(g.w);
    g.w = NULL;
    g.flusher_running = 0;
    pthread_mutex_init(&g.life_mu, NULL);
    pthread_mutex_init(&g.flush_mu, NULL);
    pthread_mutex_init(&g.wake_mu, NULL);
    pthread_mutex_init(&g.pending_mu, NULL);
    /* the phase registry's lock too: the API still pushes phases in the child, and the
     * parent's flusher may have held it at the fork */
    pthread_mutex_init(&phases()->mu, NULL);
    fm_phases_reset_anchor();
    atomic_store(&g.state, FM_HOOK_DISABLED);
}

void fm_hook_get_stats(fm_hook_stats *s)
{
    memset(s, 0, sizeof *s);
    fm_thread_counts_sweep(&g.counts, &g.table);
    s->signatures = atomic_load(&g.table.next_id) - 1;
    s->dropped_signatures = atomic_load(&g.table.dropped_signatures);
    s->dropped_pairs = atomic_load(&g.table.dropped_pairs);
    for (uint32_t i = 0; g.table.pairs && i <= g.table.pair_mask; i++)
        s->launches += atomic_load(&g.table.pairs[i].launches);
}
