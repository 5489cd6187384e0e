/* measured_launch.c - the counters around chosen launches (see measured_launch.h). */
#define _GNU_SOURCE
#include "measured_launch.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "flopmeter/trace_format.h"
#include "launch_gate.h"
#include "metric_catalog.h"
#include "sampler.h"
#include "sysio.h"

#define MAX_CONTEXTS 64
#define MAX_GROUPS FM_SAMPLER_MAX_GROUPS
#define MAX_VALUES 512      /* every metric of every group, for a replayed launch */
#define DRAIN_LIMIT_NS 1000000000ull /* launches under way get this long to finish */

enum { CTX_NEW = 0, CTX_OPENING, CTX_USABLE, CTX_UNUSABLE };

typedef struct ctx_slot {
    _Atomic uint64_t context; /* 0: free */
    _Atomic int status;
    uint32_t device;
    void *state;              /* the backend's */
    pthread_mutex_t mu;       /* held from a measured launch's entry to its exit */
    _Atomic int measuring;    /* 1 while the counters are armed: other threads' launches wait
                                 at the gate (launch_gate.h) */
} ctx_slot;

static struct {
    const fm_counter_backend *b;
    int mode;
    double budget;
    _Atomic int on;
    int planned;              /* under setup: 0 not yet, 1 planned, -1 failed */
    pthread_mutex_t setup;    /* planning and opening contexts */
    ctx_slot ctx[MAX_CONTEXTS];
    _Atomic uint32_t n_ctx;
    /* the plan's shape, to split a replayed launch's values into its groups */
    uint32_t n_groups;
    uint32_t group_size[MAX_GROUPS];
    int duration_at[MAX_GROUPS]; /* index of the duration in the group, -1 when none */
} s = {.setup = PTHREAD_MUTEX_INITIALIZER};

/* This thread's last context, and its measurement in progress. */
static _Thread_local struct {
    uint64_t context;
    ctx_slot *slot;
} memo;
static _Thread_local struct {
    ctx_slot *slot;
    fm_launch_decision d;
    uint64_t t0;
    /* launch callbacks that came while this thread's measurement was armed: the profiler
     * replaying the kernel, or the driver launching on its own, never the program (a thread
     * makes one call at a time). Neither counted nor gated: the gate would wait for this
     * very measurement. */
    uint32_t nested;
} pending;

int fm_measuring_on(void)
{
    return atomic_load_explicit(&s.on, memory_order_relaxed);
}

int fm_measuring_start(const fm_counter_backend *b, int mode, double budget)
{
    if (!b || mode == FM_PROFILE_OFF || fm_hook_state() != FM_HOOK_RUNNING)
        return -1;
    pthread_mutex_lock(&s.setup);
    int rc = -1;
    if (!s.b) {
        s.b = b;
        s.mode = mode;
        s.budget = budget;
        fm_gate_init();
        atomic_store(&s.on, 1);
        rc = 0;
    }
    pthread_mutex_unlock(&s.setup);
    return rc;
}

static void stop_measuring(void)
{
    atomic_store(&s.on, 0);
}

/* Under setup: the chip's groups, once per process. */
static int plan_once(uint64_t context, uint32_t device)
{
    if (s.planned)
        return s.planned;
    s.planned = -1;
    fm_backend_plan p;
    memset(&p, 0, sizeof p);
    char why[512] = "";
    int rc = s.b->plan(s.b->self, context, device, &p, why, sizeof why);
    if (rc != 0) {
        fm_hook_degrade(s.b->kind_of(s.b->self, rc), rc, 0,
                        "hardware counters: %s; launches are counted, not measured", why);
        stop_measuring();
        return -1;
    }
    if (p.n_groups == 0 || p.n_groups > MAX_GROUPS) {
        fm_hook_degrade(FM_DEGRADE_PROFILER_ERROR, 0, 0,
                        "hardware counters: %u metric groups for chip %s (1 to %d usable); "
                        "launches are counted, not measured",
                        p.n_groups, p.chip ? p.chip : "?", MAX_GROUPS);
        stop_measuring();
        return -1;
    }
    uint32_t total = 0;
    for (uint32_t g = 0; g < p.n_groups; g++) {
        s.group_size[g] = p.groups[g].n_metrics;
        s.duration_at[g] = -1;
        for (uint32_t i = 0; i < p.groups[g].n_metrics; i++)
            if (p.groups[g].metrics[i].name &&
                strcmp(p.groups[g].metrics[i].name, FM_METRIC_DURATION) == 0)
                s.duration_at[g] = (int)i;
        total += s.group_size[g];
    }
    if (total > MAX_VALUES ||
        fm_hook_set_metric_groups(p.chip, p.groups, p.n_groups, s.mode, s.budget) != 0) {
        fm_hook_degrade(FM_DEGRADE_PROFILER_ERROR, 0, 0,
                        "hardware counters: the metric groups of chip %s were not accepted; "
                        "launches are counted, not measured",
                        p.chip ? p.chip : "?");
        stop_measuring();
        return -1;
    }
    s.n_groups = p.n_groups;
    if (p.leaves_left_out)
        fm_hook_degrade(FM_DEGRADE_UNSUPPORTED_DEVICE, 0, 0,
                        "hardware counters: %u counters of chip %s fit no single-pass group or "
                        "are not available (%s): the work they count is not measured",
                        p.leaves_left_out, p.chip ? p.chip : "?",
                        p.left_out ? p.left_out : "");
    s.planned = 1;
    return 1;
}

static void give_up(ctx_slot *c, int error, const char *why)
{
    atomic_store(&c->status, CTX_UNUSABLE);
    fm_hook_degrade(s.b->kind_of(s.b->self, error), error, 0,
                    "hardware counters on GPU %u: %s; its launches are counted from now on, "
                    "not measured",
                    c->device, why);
}

/* Under setup: plans when needed and readies the context. */
static void open_context(ctx_slot *c, uint64_t context)
{
    if (plan_once(context, c->device) != 1) {
        atomic_store(&c->status, CTX_UNUSABLE);
        return;
    }
    char why[512] = "";
    void *state = NULL;
    int rc = s.b->open(s.b->self, context, c->device, &state, why, sizeof why);
    if (rc != 0) {
        give_up(c, rc, why);
        return;
    }
    c->state = state;
    atomic_store_explicit(&c->status, CTX_USABLE, memory_order_release);
}

/* The slot of a context, made and opened on its first launch (waiting while another thread
 * opens it); NULL when the table is full. */
static ctx_slot *find_or_open(uint64_t context, uint32_t device)
{
    uint32_t n = atomic_load_explicit(&s.n_ctx, memory_order_acquire);
    ctx_slot *c = NULL;
    for (uint32_t i = 0; i < n && !c; i++)
        if (atomic_load_explicit(&s.ctx[i].context, memory_order_relaxed) == context)
            c = &s.ctx[i];
    int status = c ? atomic_load_explicit(&c->status, memory_order_acquire) : CTX_NEW;
    /* new, or being opened: the setup lock (the opener holds it throughout, planning takes
     * milliseconds once, and from the first launch on every one can then be measured, as
     * exact mode promises) */
    if (status == CTX_NEW || status == CTX_OPENING) {
        pthread_mutex_lock(&s.setup);
        n = atomic_load(&s.n_ctx);
        c = NULL;
        for (uint32_t i = 0; i < n && !c; i++)
            if (atomic_load(&s.ctx[i].context) == context)
                c = &s.ctx[i];
        if (!c && n < MAX_CONTEXTS) {
            c = &s.ctx[n];
            pthread_mutex_init(&c->mu, NULL);
            c->device = device;
            atomic_store(&c->context, context);
            atomic_store(&c->status, CTX_NEW);
            atomic_store_explicit(&s.n_ctx, n + 1, memory_order_release);
        }
        if (c && atomic_load(&c->status) == CTX_NEW && atomic_load(&s.on)) {
            atomic_store(&c->status, CTX_OPENING);
            open_context(c, context);
        }
        pthread_mutex_unlock(&s.setup);
    }
    if (c) {
        memo.context = context;
        memo.slot = c;
    }
    return c;
}

/* The context's slot when its launches can be measured, else NULL. The common case is this
 * thread's last context, already open: one compare and one load. A context destroyed and
 * made again at the same address is NEW again, and reopened. */
static inline ctx_slot *usable_slot(uint64_t context, uint32_t device)
{
    ctx_slot *c = memo.slot;
    if (c && memo.context == context) {
        int status = atomic_load_explicit(&c->status, memory_order_acquire);
        if (status == CTX_USABLE)
            return c;
        if (status == CTX_UNUSABLE)
            return NULL;
    }
    c = find_or_open(context, device);
    return c && atomic_load_explicit(&c->status, memory_order_acquire) == CTX_USABLE ? c
                                                                                    : NULL;
}

static void end_measurement(ctx_slot *c)
{
    atomic_store_explicit(&c->measuring, 0, memory_order_release);
    pthread_mutex_unlock(&c->mu);
}

void fm_measuring_launch(uint64_t context, uint32_t device, const fm_launch_info *l,
                         int never_measure)
{
    if (pending.slot) {
        pending.nested++;
        return;
    }
    ctx_slot *c = atomic_load_explicit(&s.on, memory_order_relaxed) ? usable_slot(context, device)
                                                                    : NULL;
    if (!c) { /* not measuring, or not on this context: nothing to keep out of */
        fm_hook_launch(l);
        return;
    }
    /* left at the launch's exit, or below when it is measured */
    fm_gate_enter(context, &c->measuring);
    if (never_measure) {
        fm_hook_launch(l);
        return;
    }
    fm_launch_decision d;
    fm_hook_launch_measured(l, &d);
    if (d.group == FM_SAMPLE_NONE)
        return;
    /* whoever measures on the context now waits for this launch to leave the gate: leave it
     * before waiting for them */
    fm_gate_leave();
    pthread_mutex_lock(&c->mu);
    if (atomic_load(&c->status) != CTX_USABLE) { /* failed on another thread meanwhile */
        pthread_mutex_unlock(&c->mu);
        fm_hook_counter_lost(&d);
        return;
    }
    atomic_store(&c->measuring, 1);
    uint64_t t0 = fm_now_mono_ns();
    /* launches of other threads already under way finish first; one still going after the
     * limit makes this measurement lost (two ranges), not wrong */
    fm_gate_drain(context, DRAIN_LIMIT_NS);
    char why[512] = "";
    int rc = s.b->arm(s.b->self, c->state, d.group, why, sizeof why);
    if (rc != 0) {
        end_measurement(c);
        give_up(c, rc, why);
        fm_hook_counter_lost(&d);
        return;
    }
    pending.slot = c;
    pending.d = d;
    pending.t0 = t0;
}

static uint64_t duration_of(uint32_t group, const double *values)
{
    int at = s.duration_at[group];
    if (at < 0 || !isfinite(values[at]) || values[at] < 0)
        return 0;
    return (uint64_t)llround(values[at]);
}

/* Hands a measured launch's values to the collector, one reading per group. */
static void submit(const fm_launch_decision *d, const double *values, uint32_t passes,
                   uint64_t overhead_ns)
{
    fm_counter_reading rd[MAX_GROUPS];
    uint32_t n = 0;
    if (d->group == FM_SAMPLE_ALL) {
        uint32_t at = 0;
        for (uint32_t g = 0; g < s.n_groups; g++) {
            rd[n++] = (fm_counter_reading){g, s.group_size[g], values + at,
                                           duration_of(g, values + at)};
            at += s.group_size[g];
        }
    } else {
        uint32_t g = (uint32_t)d->group;
        rd[n++] = (fm_counter_reading){g, s.group_size[g], values, duration_of(g, values)};
    }
    fm_hook_counter_sample(d, rd, n, passes, overhead_ns);
}

void fm_measuring_launch_done(int launched)
{
    if (pending.nested) { /* the exit of a launch inside this thread's measurement */
        pending.nested--;
        return;
    }
    fm_gate_leave();
    ctx_slot *c = pending.slot;
    if (!c)
        return;
    pending.slot = NULL;
    fm_launch_decision d = pending.d;
    double values[MAX_VALUES];
    uint32_t passes = 1;
    char why[512] = "";
    int rc = s.b->read(s.b->self, c->state, d.group, launched, values, MAX_VALUES, &passes, why,
                       sizeof why);
    uint64_t overhead = fm_now_mono_ns() - pending.t0;
    end_measurement(c);
    if (rc == 0) {
        submit(&d, values, passes, overhead);
        return;
    }
    if (rc != FM_BACKEND_LOST)
        give_up(c, rc, why);
    fm_hook_counter_lost(&d);
}

void fm_measuring_context_gone(uint64_t context)
{
    if (!s.b)
        return;
    pthread_mutex_lock(&s.setup);
    uint32_t n = atomic_load(&s.n_ctx);
    for (uint32_t i = 0; i < n; i++) {
        ctx_slot *c = &s.ctx[i];
        if (atomic_load(&c->context) != context)
            continue;
        /* a measurement in progress on it ends first */
        pthread_mutex_lock(&c->mu);
        if (c->state)
            s.b->close(s.b->self, c->state);
        c->state = NULL;
        atomic_store(&c->status, CTX_NEW);
        pthread_mutex_unlock(&c->mu);
    }
    pthread_mutex_unlock(&s.setup);
}

void fm_measuring_after_fork_child(void)
{
    atomic_store(&s.on, 0);
    pending.slot = NULL;
}
