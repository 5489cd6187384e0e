/* synth.c - simulates a training job launch by launch and writes its trace the way the hook
 * does: signatures at first launch, counter samples for measured launches, per-interval
 * aggregates per signature and phase, phase events, declarations, a degradation (contract in
 * synth.h). */
#define _GNU_SOURCE
#include "flopmeter/synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernel_pool.h"
#include "rng.h"
#include "flopmeter/trace_writer.h"
#include "flopmeter/version.h"

enum { PH_TRAIN = 0, PH_EVAL = 1, PH_RECOMPUTE = 2, N_PHASES = 3 };

typedef struct sig_state {
    synth_kernel k;
    int registered;
    uint64_t launches_seen;
    uint64_t measured_count;
    double measured_sum[SYNTH_MAX_CLASSES];
    double acc;                 /* launch-rate accumulator */
} sig_state;

typedef struct agg_entry {
    uint64_t launches, measured, extrapolated, busy_ns;
    double meas[SYNTH_MAX_CLASSES], extra[SYNTH_MAX_CLASSES];
    int active;
} agg_entry;

typedef struct sim {
    const fm_synth_params *p;
    fm_synth_summary *sum;
    fm_writer *w;
    int rc;
    fm_rng rng;
    synth_model model;
    sig_state *sigs;
    agg_entry *agg;             /* signatures x phases */
    uint32_t *active;           /* indices into agg */
    uint32_t n_active;
    uint32_t *forward_counts;   /* per signature: forward launches of the current step */
    uint64_t interval_ns, interval_index, t0;
    uint64_t phase_ids[N_PHASES];
    int callsite_written[SYNTH_CALLSITES];
    uint64_t group_metric_names[SYNTH_GROUPS][SYNTH_MAX_METRICS];
    uint64_t busy_launches;
} sim;

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void append(sim *s, const fm_record *r)
{
    if (s->rc)
        return;
    uint64_t t = mono_ns();
    s->rc = fm_writer_append(s->w, r);
    s->sum->writer_ns += mono_ns() - t;
}

static uint64_t intern(sim *s, const char *str)
{
    if (s->rc)
        return 0;
    uint64_t t = mono_ns();
    uint64_t id = fm_writer_intern(s->w, str, strlen(str));
    s->sum->writer_ns += mono_ns() - t;
    if (!id)
        s->rc = -1;
    return id;
}

void fm_synth_params_init(fm_synth_params *p)
{
    memset(p, 0, sizeof *p);
    p->seed = 1;
    p->rank = 0;
    p->world_size = 8;
    p->steps = 200;
    p->signatures = 300;
    p->launches_per_step = 1200;
    p->step_seconds = 0.45;
    p->interval_ms = 1000;
    p->eval_every = 50;
    p->eval_steps = 5;
    p->recomputation = 1;
    p->first_measured = 5;
    p->sample_rate = 0.01;
    p->busy_from_step = 120;
    p->busy_steps = 4;
    p->start_unix_ns = 1767225600000000000ull; /* 2026-01-01T00:00:00Z */
    p->layers = 24;
    p->hidden = 2048;
    p->heads = 16;
    p->seq_len = 2048;
    p->vocab = 50304;
    p->micro_batch = 8;
}

static void write_preamble(sim *s)
{
    const fm_synth_params *p = s->p;
    char run_id[64], host[64], seed[32], cmd[256];
    snprintf(run_id, sizeof run_id, "synth-%llu", (unsigned long long)p->seed);
    snprintf(host, sizeof host, "synth-node-%02u", p->rank / 8);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)p->seed);
    snprintf(cmd, sizeof cmd, "flopmeter synth --seed %llu --rank %u --world-size %u",
             (unsigned long long)p->seed, p->rank, p->world_size);
    fm_config_entry cfg[] = {
        {fm_str_c("synthesized"), fm_str_c("1")},
        {fm_str_c("seed"), fm_str_c(seed)},
        {fm_str_c("mode"), fm_str_c("sampled")},
    };
    fm_record r = {.kind = FM_REC_RUN_META};
    r.u.run_meta.tool_version = fm_str_c(FLOPMETER_VERSION);
    r.u.run_meta.run_id = fm_str_c(p->run_id ? p->run_id : run_id);
    r.u.run_meta.host = fm_str_c(host);
    r.u.run_meta.pid = 4000 + p->rank;
    r.u.run_meta.rank = p->rank;
    r.u.run_meta.local_rank = p->rank % 8;
    r.u.run_meta.world_size = p->world_size;
    r.u.run_meta.start_unix_ns = p->start_unix_ns;
    r.u.run_meta.cuda_driver_version = 13000;
    r.u.run_meta.cuda_runtime_version = 13000;
    r.u.run_meta.cupti_version = 130001;
    r.u.run_meta.command = fm_str_c(cmd);
    r.u.run_meta.n_config = sizeof cfg / sizeof cfg[0];
    r.u.run_meta.config = cfg;
    append(s, &r);

    fm_record d = {.kind = FM_REC_DEVICE};
    d.u.device.device = 0;
    d.u.device.name = fm_str_c("NVIDIA H100 80GB HBM3");
    for (int i = 0; i < 16; i++)
        d.u.device.uuid[i] = (uint8_t)(fm_rng_next(&s->rng) >> 56);
    d.u.device.chip = fm_str_c("GH100");
    d.u.device.cc_major = 9;
    d.u.device.cc_minor = 0;
    d.u.device.sm_count = 132;
    d.u.device.memory_bytes = 85520809984ull;
    char bus[32];
    snprintf(bus, sizeof bus, "00000000:%02X:00.0", 0x18 + 0x10 * (p->rank % 8));
    d.u.device.pci_bus_id = fm_str_c(bus);
    append(s, &d);

    for (int g = 0; g < SYNTH_GROUPS; g++) {
        fm_metric_def defs[SYNTH_MAX_METRICS];
        for (int m = 0; m < synth_groups[g].n; m++) {
            defs[m].name = s->group_metric_names[g][m] = intern(s, synth_groups[g].m[m].name);
            defs[m].precision_class = synth_groups[g].m[m].precision_class;
            defs[m].weight = synth_groups[g].m[m].weight;
        }
        fm_record r2 = {.kind = FM_REC_METRIC_GROUP};
        r2.u.metric_group.id = (uint64_t)g + 1;
        r2.u.metric_group.chip = fm_str_c("GH100");
        r2.u.metric_group.n_metrics = (uint64_t)synth_groups[g].n;
        r2.u.metric_group.metrics = defs;
        append(s, &r2);
    }

    static const char *const names[N_PHASES] = {"pretraining", "evaluation", "recomputation"};
    static const uint64_t cats[N_PHASES] = {FM_PHASE_PRETRAINING, FM_PHASE_EVALUATION,
                                            FM_PHASE_RECOMPUTATION};
    for (int i = 0; i < N_PHASES; i++) {
        fm_record r3 = {.kind = FM_REC_PHASE_DEF};
        s->phase_ids[i] = (uint64_t)i + 1;
        r3.u.phase_def.id = s->phase_ids[i];
        r3.u.phase_def.name = intern(s, names[i]);
        r3.u.phase_def.category = cats[i];
        append(s, &r3);
    }
}

static void declare(sim *s, uint64_t t, const char *key, double value, const char *text)
{
    fm_record r = {.kind = FM_REC_DECLARATION};
    r.u.declaration.time_ns = t;
    r.u.declaration.key = intern(s, key);
    r.u.declaration.value = value;
    r.u.declaration.text = text ? intern(s, text) : 0;
    append(s, &r);
}

static void write_declarations(sim *s)
{
    const fm_synth_params *p = s->p;
    double d = p->hidden, L = p->layers;
    double params = 12.0 * L * d * d + (double)p->vocab * d;
    double tokens_per_step = (double)p->micro_batch * p->seq_len;
    double planned = p->planned_tokens > 0 ? p->planned_tokens
                                           : 10.0 * tokens_per_step * p->steps * p->world_size;
    uint64_t t = p->start_unix_ns;
    declare(s, t, "model.parameters", params, NULL);
    declare(s, t, "model.layers", L, NULL);
    declare(s, t, "model.hidden_size", d, NULL);
    declare(s, t, "model.heads", p->heads, NULL);
    declare(s, t, "model.sequence_length", p->seq_len, NULL);
    declare(s, t, "model.vocabulary", p->vocab, NULL);
    declare(s, t, "model.modality", 1, "text");
    declare(s, t, "plan.tokens", planned, NULL);
    declare(s, t, "plan.gpus", p->world_size, NULL);
}

static void phase_event(sim *s, uint64_t t, int phase, uint64_t action)
{
    fm_record r = {.kind = FM_REC_PHASE_EVENT};
    r.u.phase_event.time_ns = t;
    r.u.phase_event.thread_id = 1;
    r.u.phase_event.phase = s->phase_ids[phase];
    r.u.phase_event.action = action;
    append(s, &r);
}

static void register_signature(sim *s, uint32_t j, uint64_t t)
{
    sig_state *g = &s->sigs[j];
    int cs = g->k.callsite;
    if (!s->callsite_written[cs]) {
        fm_frame frames[SYNTH_FRAMES];
        for (int f = 0; f < SYNTH_FRAMES; f++) {
            frames[f].module = intern(s, synth_callsite_frames[cs][f][0]);
            frames[f].symbol = intern(s, synth_callsite_frames[cs][f][1]);
            frames[f].offset = 0x1000 + 0x40 * (uint64_t)(cs * SYNTH_FRAMES + f);
        }
        fm_record r = {.kind = FM_REC_CALLSITE};
        r.u.callsite.id = (uint64_t)cs + 1;
        r.u.callsite.n_frames = SYNTH_FRAMES;
        r.u.callsite.frames = frames;
        append(s, &r);
        s->callsite_written[cs] = 1;
    }
    fm_record r = {.kind = FM_REC_KERNEL_SIGNATURE};
    fm_rec_kernel_signature *k = &r.u.kernel_signature;
    k->id = (uint64_t)j + 1;
    k->name = intern(s, g->k.name);
    k->device = 0;
    for (int i = 0; i < 3; i++) {
        k->grid[i] = g->k.grid[i];
        k->block[i] = g->k.block[i];
    }
    k->shared_mem_dynamic = g->k.shared_mem;
    k->arg_hash = g->k.arg_hash;
    k->callsite = (uint64_t)cs + 1;
    k->first_seen_ns = t;
    append(s, &r);
    g->registered = 1;
}

static int class_slot(const synth_kernel *k, uint8_t c)
{
    for (int i = 0; i < k->n_classes; i++)
        if (k->classes[i] == c)
            return i;
    return 0;
}

/* Counter samples of one measured launch: one per metric group the kernel touches (a kernel
 * that touches none gets one of the CUDA-core group, all zeros: evidence of no work). Returns
 * the operations per class slot that the counters show. */
static void measure(sim *s, uint32_t j, uint64_t ordinal, uint64_t t, uint64_t dur, double f,
                    double out[SYNTH_MAX_CLASSES])
{
    const synth_kernel *k = &s->sigs[j].k;
    memset(out, 0, sizeof(double) * SYNTH_MAX_CLASSES);
    int used[SYNTH_GROUPS] = {0};
    for (int i = 0; i < k->n_comp; i++)
        used[k->comp[i].group] = 1;
    if (k->n_comp == 0)
        used[0] = 1;
    for (int g = 0; g < SYNTH_GROUPS; g++) {
        if (!used[g])
            continue;
        double values[SYNTH_MAX_METRICS] = {0};
        for (int i = 0; i < k->n_comp; i++) {
            const synth_component *c = &k->comp[i];
            if (c->group != g)
                continue;
            double count = f == 1.0 ? c->count : nearbyint(c->count * f);
            values[c->metric] += count;
            out[class_slot(k, synth_component_class(c))] +=
                synth_groups[g].m[c->metric].weight * count;
        }
        for (int m = 0; m < synth_groups[g].n; m++)
            if (synth_groups[g].m[m].precision_class == FM_CLASS_NONE)
                values[m] = (double)dur; /* gpu__time_duration */
        fm_record r = {.kind = FM_REC_COUNTER_SAMPLE};
        r.u.counter_sample.signature = (uint64_t)j + 1;
        r.u.counter_sample.launch_ordinal = ordinal;
        r.u.counter_sample.group = (uint64_t)g + 1;
        r.u.counter_sample.time_ns = t;
        r.u.counter_sample.duration_ns = dur;
        r.u.counter_sample.passes = 1;
        r.u.counter_sample.n_values = (uint64_t)synth_groups[g].n;
        r.u.counter_sample.values = values;
        append(s, &r);
        s->sum->counter_samples++;
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static void flush_interval(sim *s)
{
    if (s->n_active == 0)
        return;
    qsort(s->active, s->n_active, sizeof *s->active, cmp_u32);
    uint64_t start = s->t0 + s->interval_index * s->interval_ns;
    for (uint32_t i = 0; i < s->n_active; i++) {
        uint32_t idx = s->active[i];
        agg_entry *e = &s->agg[idx];
        const synth_kernel *k = &s->sigs[idx / N_PHASES].k;
        fm_class_flop cls[SYNTH_MAX_CLASSES];
        for (int c = 0; c < k->n_classes; c++) {
            cls[c].precision_class = k->classes[c];
            cls[c].measured = e->meas[c];
            cls[c].extrapolated = e->extra[c];
        }
        fm_record r = {.kind = FM_REC_AGGREGATE};
        fm_rec_aggregate *a = &r.u.aggregate;
        a->interval_start_ns = start;
        a->interval_end_ns = start + s->interval_ns;
        a->signature = idx / N_PHASES + 1;
        a->phase = s->phase_ids[idx % N_PHASES];
        a->launches = e->launches;
        a->launches_measured = e->measured;
        a->launches_extrapolated = e->extrapolated;
        a->busy_ns = e->busy_ns;
        a->n_classes = (uint64_t)k->n_classes;
        a->classes = cls;
        append(s, &r);
        memset(e, 0, sizeof *e);
    }
    s->n_active = 0;
}

static void launch(sim *s, uint32_t j, int phase, uint64_t t, int busy)
{
    sig_state *g = &s->sigs[j];
    if (!g->registered)
        register_signature(s, j, t);
    uint64_t idx = (t - s->t0) / s->interval_ns; /* launch times never go backwards */
    if (idx != s->interval_index) {
        flush_interval(s);
        s->interval_index = idx;
    }
    const synth_kernel *k = &g->k;
    double f = k->noise > 0 ? 1.0 + k->noise * (2.0 * fm_rng_uniform(&s->rng) - 1.0) : 1.0;
    uint64_t dur = (uint64_t)((double)k->duration_ns * f);
    double work = 0;
    for (int i = 0; i < k->n_comp; i++)
        work += synth_groups[k->comp[i].group].m[k->comp[i].metric].weight *
                (f == 1.0 ? k->comp[i].count : nearbyint(k->comp[i].count * f));
    s->sum->flop_true += work;
    uint64_t ordinal = g->launches_seen++;

    uint32_t ai = j * N_PHASES + (uint32_t)phase;
    agg_entry *e = &s->agg[ai];
    if (!e->active) {
        e->active = 1;
        s->active[s->n_active++] = ai;
    }
    e->launches++;
    e->busy_ns += dur;
    s->sum->launches++;
    if (busy) {
        s->busy_launches++;
        s->sum->launches_unmeasured++;
    } else if (ordinal < s->p->first_measured || fm_rng_uniform(&s->rng) < s->p->sample_rate) {
        double got[SYNTH_MAX_CLASSES];
        measure(s, j, ordinal, t, dur, f, got);
        for (int c = 0; c < k->n_classes; c++) {
            e->meas[c] += got[c];
            g->measured_sum[c] += got[c];
            s->sum->flop_measured += got[c];
        }
        g->measured_count++;
        e->measured++;
        s->sum->launches_measured++;
    } else if (g->measured_count > 0) {
        for (int c = 0; c < k->n_classes; c++) {
            double mean = g->measured_sum[c] / (double)g->measured_count;
            e->extra[c] += mean;
            s->sum->flop_extrapolated += mean;
        }
        e->extrapolated++;
        s->sum->launches_extrapolated++;
    } else {
        s->sum->launches_unmeasured++;
    }
    if (s->p->on_launch) {
        fm_synth_launch l = {.signature = (uint64_t)j + 1, .name = k->name, .start_ns = t,
                             .duration_ns = dur, .stream = 7 + (uint32_t)(j % 3),
                             .phase = s->phase_ids[phase], .flop = work};
        memcpy(l.grid, k->grid, sizeof l.grid);
        memcpy(l.block, k->block, sizeof l.block);
        s->p->on_launch(s->p->on_launch_ctx, &l);
    }
}

/* One step: the signatures due in it launch in pool order, spread over the step's window. */
static void run_step(sim *s, int eval, int busy, uint64_t start, uint64_t len)
{
    const fm_synth_params *p = s->p;
    uint64_t spacing = len / ((uint64_t)p->launches_per_step * 2 + 1);
    uint64_t t = start, end = start + len - 1;
    int recompute = p->recomputation && !eval;
    uint32_t n_sigs = p->signatures;
    uint32_t *forward_counts = recompute ? s->forward_counts : NULL;
    for (uint32_t j = 0; j < n_sigs; j++) {
        sig_state *g = &s->sigs[j];
        if (eval && g->k.role != ROLE_FORWARD)
            continue;
        g->acc += g->k.rate;
        uint32_t n = (uint32_t)g->acc;
        g->acc -= n;
        for (uint32_t i = 0; i < n; i++, t = t + spacing < end ? t + spacing : end)
            launch(s, j, eval ? PH_EVAL : PH_TRAIN, t, busy);
        if (forward_counts && g->k.role == ROLE_FORWARD)
            forward_counts[j] = n;
    }
    if (forward_counts) {
        /* full activation checkpointing: every forward launch runs once more */
        phase_event(s, t, PH_RECOMPUTE, FM_PHASE_PUSH);
        for (uint32_t j = 0; j < n_sigs; j++)
            for (uint32_t i = 0; i < forward_counts[j]; i++, t = t + spacing < end ? t + spacing : end)
                launch(s, j, PH_RECOMPUTE, t, busy);
        phase_event(s, t, PH_RECOMPUTE, FM_PHASE_POP);
        memset(forward_counts, 0, sizeof *forward_counts * n_sigs);
    }
}

static void simulate(sim *s)
{
    const fm_synth_params *p = s->p;
    uint64_t step_ns = (uint64_t)(p->step_seconds * 1e9);
    double tokens_per_step = (double)p->micro_batch * p->seq_len;
    int in_eval = 0;
    phase_event(s, s->t0, PH_TRAIN, FM_PHASE_PUSH);
    for (uint32_t step = 0; step < p->steps && !s->rc; step++) {
        uint64_t start = s->t0 + (uint64_t)step * step_ns;
        int eval = p->eval_every && p->eval_steps &&
                   step % p->eval_every >= p->eval_every - (p->eval_steps < p->eval_every
                                                                ? p->eval_steps
                                                                : p->eval_every);
        if (eval != in_eval) {
            phase_event(s, start, PH_EVAL, eval ? FM_PHASE_PUSH : FM_PHASE_POP);
            in_eval = eval;
        }
        int busy = p->busy_steps && step >= p->busy_from_step &&
                   step < p->busy_from_step + p->busy_steps;
        run_step(s, eval, busy, start, step_ns);
        if (!eval) {
            declare(s, start + step_ns - 1, "data.tokens", tokens_per_step, NULL);
            declare(s, start + step_ns - 1, "data.steps", 1, NULL);
        }
        if (p->busy_steps && step + 1 == p->busy_from_step + p->busy_steps) {
            char msg[160];
            snprintf(msg, sizeof msg,
                     "simulated: performance counters held by another client for %u steps",
                     p->busy_steps);
            fm_record r = {.kind = FM_REC_DEGRADATION};
            r.u.degradation.time_ns = start + step_ns - 1;
            r.u.degradation.kind = FM_DEGRADE_COUNTERS_BUSY;
            r.u.degradation.launches_affected = s->busy_launches;
            r.u.degradation.message = fm_str_c(msg);
            append(s, &r);
        }
    }
    flush_interval(s);
    uint64_t end = s->t0 + (uint64_t)p->steps * step_ns;
    if (in_eval)
        phase_event(s, end, PH_EVAL, FM_PHASE_POP);
    phase_event(s, end, PH_TRAIN, FM_PHASE_POP);
    s->sum->simulated_seconds = (double)p->steps * p->step_seconds;
}

/* Draws the kernel pool and gives launch rates a Zipf-like spread: a few kernels run many
 * times per step (one per layer), most run now and then. */
static int build_pool(sim *s)
{
    const fm_synth_params *p = s->p;
    s->sigs = calloc(p->signatures, sizeof *s->sigs);
    s->agg = calloc((size_t)p->signatures * N_PHASES, sizeof *s->agg);
    s->active = calloc((size_t)p->signatures * N_PHASES, sizeof *s->active);
    s->forward_counts = calloc(p->signatures, sizeof *s->forward_counts);
    if (!s->sigs || !s->agg || !s->active || !s->forward_counts)
        return -1;
    double total = 0;
    for (uint32_t j = 0; j < p->signatures; j++) {
        synth_kernel_draw(&s->sigs[j].k, &s->model, &s->rng);
        s->sigs[j].k.rate = 1.0 / pow((double)j + 1.0, 0.9);
        total += s->sigs[j].k.rate;
    }
    for (uint32_t j = 0; j < p->signatures; j++)
        s->sigs[j].k.rate *= (double)p->launches_per_step / total;
    /* Size the kernels so that a training step executes what the declared model implies:
     * 6 x parameters x tokens, plus a few percent of attention and element-wise work that the
     * formula leaves out. Recomputation then adds the forward share on top. */
    double per_step = 0;
    for (uint32_t j = 0; j < p->signatures; j++)
        per_step += s->sigs[j].k.rate * synth_kernel_work(&s->sigs[j].k);
    double params = 12.0 * p->layers * (double)p->hidden * p->hidden + (double)p->vocab * p->hidden;
    double target = 6.0 * params * p->micro_batch * p->seq_len * 1.05;
    if (per_step > 0)
        for (uint32_t j = 0; j < p->signatures; j++)
            synth_kernel_scale(&s->sigs[j].k, target / per_step);
    return 0;
}

int fm_synth_write(const char *path, const fm_synth_params *p, fm_synth_summary *summary,
                   char *errbuf, size_t errbuf_len)
{
    fm_synth_summary local;
    fm_synth_summary *sum = summary ? summary : &local;
    memset(sum, 0, sizeof *sum);
    if (!p || p->signatures == 0 || p->steps == 0 || p->launches_per_step == 0 ||
        !(p->step_seconds > 0) || p->interval_ms == 0 || p->world_size == 0 ||
        p->rank >= p->world_size || p->hidden == 0 || p->heads == 0 || p->hidden % p->heads ||
        p->layers == 0 || p->seq_len == 0 || p->micro_batch == 0 || p->vocab == 0 ||
        !(p->sample_rate >= 0 && p->sample_rate <= 1)) {
        snprintf(errbuf, errbuf_len, "%s: invalid synthesis parameters", path);
        return FM_E_INVALID;
    }
    sim s;
    memset(&s, 0, sizeof s);
    s.p = p;
    s.sum = sum;
    s.t0 = p->start_unix_ns;
    s.interval_ns = (uint64_t)p->interval_ms * 1000000ull;
    s.model = (synth_model){p->layers, p->hidden, p->heads, p->seq_len, p->vocab,
                            p->micro_batch};
    fm_rng_seed(&s.rng, p->seed * 0x100000001b3ull + p->rank);
    if (build_pool(&s) != 0) {
        snprintf(errbuf, errbuf_len, "%s: out of memory", path);
        free(s.sigs);
        free(s.agg);
        free(s.active);
        free(s.forward_counts);
        return FM_E_NOMEM;
    }

    fm_writer_options o;
    fm_writer_options_init(&o);
    o.flush_interval_ms = UINT32_MAX; /* chunks cut by size only: the same seed, the same bytes */
    o.have_trace_id = 1;
    uint64_t x = p->seed ^ ((uint64_t)p->rank << 40);
    uint64_t a = fm_splitmix64(&x), b = fm_splitmix64(&x);
    memcpy(o.trace_id, &a, 8);
    memcpy(o.trace_id + 8, &b, 8);
    o.created_unix_ns = p->start_unix_ns;
    int rc = fm_writer_open(&s.w, path, &o, errbuf, errbuf_len);
    if (rc == FM_OK) {
        write_preamble(&s);
        write_declarations(&s);
        simulate(&s);
        fm_writer_stats st;
        fm_writer_get_stats(s.w, &st);
        if (s.rc)
            snprintf(errbuf, errbuf_len, "%s", fm_writer_error(s.w));
        fm_writer_final_info fi = {s.t0 + (uint64_t)(sum->simulated_seconds * 1e9),
                                   FM_EXIT_NORMAL, 0};
        uint64_t t = mono_ns();
        int crc = fm_writer_close(s.w, &fi);
        sum->writer_ns += mono_ns() - t;
        rc = s.rc ? s.rc : crc;
        if (crc && !s.rc)
            snprintf(errbuf, errbuf_len, "%s: closing the trace failed", path);
        sum->records = st.records + 1;
        sum->chunks = st.chunks + 1;
        sum->raw_bytes = st.raw_bytes;
        FILE *f = fopen(path, "rb");
        if (f) {
            fseek(f, 0, SEEK_END);
            sum->file_bytes = (uint64_t)ftell(f);
            fclose(f);
        }
    }
    free(s.sigs);
    free(s.agg);
    free(s.active);
    free(s.forward_counts);
    return rc;
}
