/* report_read.c - streams one trace into the report model, verifying it on the way: every
 * record is checked before it is used, and nothing after the first problem is used. */
#define _GNU_SOURCE
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idmap.h"
#include "report_format.h"
#include "model_index.h"
#include "report_model.h"
#include "flopmeter/trace_reader.h"
#include "flopmeter/trace_strings.h"

/* What one trace's ids mean in the job-wide model. */
typedef struct reading {
    rp_model *m;
    rp_trace *t;
    uint32_t trace_index;
    fm_strings *strings;
    fm_idmap sig_of, callsite_of, phase_of, group_of; /* local id -> global index + 1 */
    /* the measured launch whose samples are being collected */
    int64_t obs_sig;
    uint64_t obs_ordinal;
    double obs_ops[2];
    uint32_t obs_groups;
    uint64_t last_time_ns;
    uint32_t first_index;     /* this file's first trace in the model (merged files hold many) */
    int merged_file;          /* the file has the merged flag */
    int oom;
} reading;

static char *dup_str(fm_str s)
{
    return strndup(s.ptr ? s.ptr : "", s.len);
}

static char *string_of(reading *r, uint64_t id)
{
    int found = 0;
    fm_str s = fm_strings_get(r->strings, id, &found);
    char *c = dup_str(s);
    if (!c)
        r->oom = 1;
    return c;
}

static uint64_t local(const fm_idmap *map, uint64_t id)
{
    uint64_t v = 0;
    fm_idmap_get(map, id, &v);
    return v; /* global index + 1, or 0 */
}

static void map(reading *r, fm_idmap *mp, uint64_t id, int64_t global)
{
    if (global < 0 || fm_idmap_put(mp, id, (uint64_t)global + 1) != 0)
        r->oom = 1;
}

static void seen(reading *r, uint64_t t)
{
    if (t > r->last_time_ns)
        r->last_time_ns = t;
}

/* ---- samples ------------------------------------------------------------------------------ */

static rp_group_stats *group_stats(reading *r, rp_signature *s, uint32_t group)
{
    for (uint32_t i = 0; i < s->n_groups; i++)
        if (s->groups[i].group == group)
            return &s->groups[i];
    /* a signature is read in one or two groups as a rule (sampled rotation reads each of a
     * chip's groups, up to eleven, but one per launch): start small, one allocation per
     * signature of a job with hundreds of thousands of them */
    if (rp_grow_from((void **)&s->groups, &s->cap_groups, s->n_groups, sizeof *s->groups, 2) !=
        0) {
        r->oom = 1;
        return NULL;
    }
    rp_group_stats *g = &s->groups[s->n_groups++];
    memset(g, 0, sizeof *g);
    g->group = group;
    return g;
}

/* Closes the launch observation being collected: the groups read on one launch together. */
static void close_observation(reading *r)
{
    if (r->obs_sig < 0)
        return;
    rp_signature *s = &r->m->sigs[r->obs_sig];
    rp_welford_add(&s->launch_ops[RP_FP], r->obs_ops[RP_FP]);
    rp_welford_add(&s->launch_ops[RP_INT], r->obs_ops[RP_INT]);
    if (r->obs_groups < s->min_groups_per_launch)
        s->min_groups_per_launch = r->obs_groups;
    r->obs_sig = -1;
}

static void on_sample(reading *r, const fm_rec_counter_sample *cs)
{
    int64_t sig = (int64_t)local(&r->sig_of, cs->signature) - 1;
    int64_t grp = (int64_t)local(&r->group_of, cs->group) - 1;
    if (sig < 0 || grp < 0)
        return;
    const rp_group *g = &r->m->groups[grp];
    double ops[2] = {0, 0};
    for (uint32_t i = 0; i < g->n_metrics && i < cs->n_values; i++) {
        if (g->classes[i] == FM_CLASS_NONE)
            continue;
        ops[fm_precision_class_is_integer(g->classes[i]) ? RP_INT : RP_FP] +=
            cs->values[i] * g->weights[i];
    }
    rp_signature *s = &r->m->sigs[sig];
    rp_group_stats *gs = group_stats(r, s, (uint32_t)grp);
    if (!gs)
        return;
    rp_welford_add(&gs->ops[RP_FP], ops[RP_FP]);
    rp_welford_add(&gs->ops[RP_INT], ops[RP_INT]);
    s->samples++;
    if (r->obs_sig != sig || r->obs_ordinal != cs->launch_ordinal) {
        close_observation(r);
        r->obs_sig = sig;
        r->obs_ordinal = cs->launch_ordinal;
        r->obs_ops[0] = r->obs_ops[1] = 0;
        r->obs_groups = 0;
    }
    r->obs_ops[RP_FP] += ops[RP_FP];
    r->obs_ops[RP_INT] += ops[RP_INT];
    r->obs_groups++;
    seen(r, cs->time_ns);
}

/* ---- aggregates --------------------------------------------------------------------------- */

static void on_aggregate(reading *r, const fm_rec_aggregate *a)
{
    rp_model *m = r->m;
    int64_t sig = (int64_t)local(&r->sig_of, a->signature) - 1;
    if (sig < 0)
        return;
    int64_t ph = a->phase ? (int64_t)local(&r->phase_of, a->phase) - 1 : 0;
    if (ph < 0)
        return;
    rp_signature *s = &m->sigs[sig];
    rp_phase *p = &m->phases[ph];
    uint32_t cat = p->category;
    int64_t row = rp_sigphase_get(m, (uint32_t)sig, (uint32_t)ph);
    if (row < 0) {
        r->oom = 1;
        return;
    }
    rp_sigphase *sp = &m->sigphases[row];
    sp->launches += a->launches;
    sp->launches_measured += a->launches_measured;
    sp->launches_extrapolated += a->launches_extrapolated;
    sp->busy_ns += a->busy_ns;
    uint64_t unmeasured = a->launches - a->launches_measured - a->launches_extrapolated;
    rp_bucket *b = rp_timeline_at(&m->timeline, a->interval_start_ns);

    s->launches += a->launches;
    s->launches_measured += a->launches_measured;
    s->launches_extrapolated += a->launches_extrapolated;
    s->extrapolated_by_category[cat] += a->launches_extrapolated;
    s->busy_ns += a->busy_ns;
    p->launches += a->launches;
    m->launches += a->launches;
    m->launches_measured += a->launches_measured;
    m->launches_extrapolated += a->launches_extrapolated;
    m->launches_unmeasured += unmeasured;
    m->busy_ns += (double)a->busy_ns;
    r->t->launches += a->launches;
    r->t->launches_unmeasured += unmeasured;
    r->t->busy_ns += (double)a->busy_ns;
    for (uint64_t i = 0; i < a->n_classes; i++) {
        const fm_class_flop *c = &a->classes[i];
        int k = fm_precision_class_is_integer(c->precision_class) ? RP_INT : RP_FP;
        m->by_class[cat][c->precision_class].measured += c->measured;
        m->by_class[cat][c->precision_class].extrapolated += c->extrapolated;
        s->ops[k].measured += c->measured;
        s->ops[k].extrapolated += c->extrapolated;
        sp->ops[k].measured += c->measured;
        sp->ops[k].extrapolated += c->extrapolated;
        p->ops[k].measured += c->measured;
        p->ops[k].extrapolated += c->extrapolated;
        r->t->ops[cat][k].measured += c->measured;
        r->t->ops[cat][k].extrapolated += c->extrapolated;
        b->ops[cat][k] += c->measured + c->extrapolated;
    }
    seen(r, a->interval_end_ns);
}

/* ---- declarations ------------------------------------------------------------------------- */

/* Keys that declare an increment: their values add up. */
static int is_increment(const char *key)
{
    return strcmp(key, "data.tokens") == 0 || strcmp(key, "data.steps") == 0;
}

static void on_declaration(reading *r, const fm_rec_declaration *d)
{
    rp_trace *t = r->t;
    char *key = string_of(r, d->key);
    if (!key)
        return;
    rp_declared *x = NULL;
    for (uint32_t i = 0; i < t->n_declared; i++)
        if (strcmp(t->declared[i].key, key) == 0)
            x = &t->declared[i];
    if (!x) {
        if (rp_grow((void **)&t->declared, &t->cap_declared, t->n_declared,
                    sizeof *t->declared) != 0) {
            free(key);
            r->oom = 1;
            return;
        }
        x = &t->declared[t->n_declared++];
        memset(x, 0, sizeof *x);
        x->key = key;
    } else {
        free(key);
    }
    x->count++;
    if (is_increment(x->key))
        x->value += d->value;
    else
        x->value = d->value;
    if (d->text) {
        free(x->text);
        x->text = string_of(r, d->text);
    }
    if (strcmp(x->key, "data.tokens") == 0)
        rp_timeline_at(&r->m->timeline, d->time_ns)->tokens += d->value;
    if (strcmp(x->key, "data.steps") == 0)
        rp_timeline_at(&r->m->timeline, d->time_ns)->steps += d->value;
    seen(r, d->time_ns);
}

/* ---- definitions -------------------------------------------------------------------------- */

static void on_callsite(reading *r, const fm_rec_callsite *c)
{
    rp_frame frames[FM_MAX_FRAMES];
    uint32_t n = (uint32_t)c->n_frames;
    for (uint32_t i = 0; i < n; i++) {
        frames[i].module = c->frames[i].module ? string_of(r, c->frames[i].module) : NULL;
        frames[i].symbol = c->frames[i].symbol ? string_of(r, c->frames[i].symbol) : NULL;
        frames[i].offset = c->frames[i].offset;
    }
    map(r, &r->callsite_of, c->id, rp_callsite_get(r->m, frames, n));
    for (uint32_t i = 0; i < n; i++) {
        free(frames[i].module);
        free(frames[i].symbol);
    }
}

static void on_signature(reading *r, const fm_rec_kernel_signature *k)
{
    int found = 0;
    fm_str name = fm_strings_get(r->strings, k->name, &found);
    int64_t g = rp_signature_get(r->m, name.ptr, name.len, k->grid, k->block,
                                 k->shared_mem_dynamic, k->arg_hash);
    map(r, &r->sig_of, k->id, g);
    if (g >= 0 && r->m->sigs[g].launches == 0 && r->m->sigs[g].samples == 0) {
        r->m->sigs[g].callsite = (uint32_t)local(&r->callsite_of, k->callsite);
        r->m->sigs[g].first_trace = r->trace_index;
    }
    seen(r, k->first_seen_ns);
}

static void on_group(reading *r, const fm_rec_metric_group *g)
{
    uint32_t n = (uint32_t)g->n_metrics;
    char **names = calloc(n, sizeof *names);
    uint8_t *classes = malloc(n);
    double *weights = malloc(sizeof *weights * n);
    int ok = names && classes && weights;
    for (uint32_t i = 0; ok && i < n; i++) {
        names[i] = string_of(r, g->metrics[i].name);
        classes[i] = g->metrics[i].precision_class;
        weights[i] = g->metrics[i].weight;
        ok = names[i] != NULL;
    }
    char *chip = dup_str(g->chip);
    if (ok && chip)
        map(r, &r->group_of, g->id, rp_group_get(r->m, chip, n, names, classes, weights));
    else
        r->oom = 1;
    for (uint32_t i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
    free(classes);
    free(weights);
    free(chip);
}

static void on_phase(reading *r, const fm_rec_phase_def *p)
{
    char *name = string_of(r, p->name);
    if (!name)
        return;
    uint32_t cat = p->category <= FM_PHASE_CATEGORY_MAX ? (uint32_t)p->category : FM_PHASE_CUSTOM;
    map(r, &r->phase_of, p->id, rp_phase_get(r->m, name, cat));
    free(name);
}

/* In a merged trace each input's records start with its RUN_META record: from there on they
 * belong to a trace (rank) of their own. Ids are the merged file's, so the maps carry on. */
static int next_input(reading *r)
{
    rp_model *m = r->m;
    if (r->t->end_ns == 0)
        r->t->end_ns = r->last_time_ns > r->t->start_ns ? r->last_time_ns : r->t->start_ns;
    uint32_t idx = (uint32_t)(r->t - m->traces);
    if (rp_grow((void **)&m->traces, &m->cap_traces, m->n_traces, sizeof *m->traces) != 0)
        return -1;
    rp_trace *prev = &m->traces[idx], *t = &m->traces[m->n_traces];
    memset(t, 0, sizeof *t);
    t->path = strdup(prev->path);
    t->rank = t->local_rank = -1;
    t->format_minor = prev->format_minor;
    t->merged = 1;
    prev->merged = 1;
    r->trace_index = m->n_traces++;
    r->t = t;
    r->last_time_ns = 0;
    return t->path ? 0 : -1;
}

static void on_run_meta(reading *r, const fm_rec_run_meta *x)
{
    if (r->t->run_id && next_input(r) != 0) {
        r->oom = 1;
        return;
    }
    rp_trace *t = r->t;
    t->run_id = dup_str(x->run_id);
    t->host = dup_str(x->host);
    t->tool_version = dup_str(x->tool_version);
    t->command = dup_str(x->command);
    t->rank = x->rank;
    t->local_rank = x->local_rank;
    t->world_size = x->world_size;
    t->pid = x->pid;
    t->start_ns = x->start_unix_ns;
    if (!t->run_id || !t->host || !t->tool_version || !t->command)
        r->oom = 1;
}

static void on_degradation(reading *r, const fm_rec_degradation *d)
{
    rp_model *m = r->m;
    if (rp_grow((void **)&m->degradations, &m->cap_degradations, m->n_degradations,
                sizeof *m->degradations) != 0) {
        r->oom = 1;
        return;
    }
    rp_degradation *x = &m->degradations[m->n_degradations++];
    x->trace = r->trace_index;
    x->time_ns = d->time_ns;
    x->kind = d->kind;
    x->launches_affected = d->launches_affected;
    x->api_result = d->api_result;
    x->message = dup_str(d->message);
    if (!x->message)
        r->oom = 1;
    seen(r, d->time_ns);
}

static void use_record(reading *r, const fm_record *rec)
{
    switch (rec->kind) {
    case FM_REC_RUN_META: on_run_meta(r, &rec->u.run_meta); break;
    case FM_REC_DEVICE:
        r->t->devices++;
        if (!r->t->device_name && !(r->t->device_name = dup_str(rec->u.device.name)))
            r->oom = 1;
        break;
    case FM_REC_STRING:
        if (fm_strings_add(r->strings, rec->u.string.id, rec->u.string.text) != FM_OK)
            r->oom = 1;
        break;
    case FM_REC_CALLSITE: on_callsite(r, &rec->u.callsite); break;
    case FM_REC_KERNEL_SIGNATURE: on_signature(r, &rec->u.kernel_signature); break;
    case FM_REC_METRIC_GROUP: on_group(r, &rec->u.metric_group); break;
    case FM_REC_COUNTER_SAMPLE: on_sample(r, &rec->u.counter_sample); break;
    case FM_REC_AGGREGATE: on_aggregate(r, &rec->u.aggregate); break;
    case FM_REC_PHASE_DEF: on_phase(r, &rec->u.phase_def); break;
    case FM_REC_PHASE_EVENT: seen(r, rec->u.phase_event.time_ns); break;
    case FM_REC_DECLARATION: on_declaration(r, &rec->u.declaration); break;
    case FM_REC_DEGRADATION: on_degradation(r, &rec->u.degradation); break;
    case FM_REC_FINAL:
        /* a merged trace's FINAL is the merge's, not the run's: each input's end and dropped
         * records come from its INPUT record */
        if (!r->merged_file) {
            r->t->end_ns = rec->u.final.end_unix_ns;
            r->t->records_dropped = rec->u.final.records_dropped;
        }
        break;
    case FM_REC_INPUT: {
        const fm_rec_input *in = &rec->u.input;
        rp_trace *t = r->t;
        free(t->input_path);
        t->input_path = dup_str(in->path);
        memcpy(t->input_head, in->chain_head, FM_HASH_LEN);
        t->input_complete = in->complete != 0;
        t->input_signatures = in->signatures;
        t->input_signatures_valid = in->signatures_valid;
        t->merged = 1;
        if (in->end_unix_ns) /* the input's own end, from its FINAL record */
            t->end_ns = in->end_unix_ns;
        t->records_dropped = in->records_dropped;
        if (!t->input_path)
            r->oom = 1;
        break;
    }
    default: break;
    }
}

int rp_read_trace(rp_model *m, const char *path, const rp_read_options *opt, char *err,
                  size_t errlen)
{
    fm_reader *rd = NULL;
    int rc = fm_reader_open_file(&rd, path, err, errlen);
    if (rc != FM_OK)
        return -1;
    if (rp_grow((void **)&m->traces, &m->cap_traces, m->n_traces, sizeof *m->traces) != 0) {
        fm_reader_close(rd);
        rp_fail(err, errlen, "%s: out of memory", path);
        return RP_E_INTERNAL;
    }
    rp_trace *t = &m->traces[m->n_traces];
    memset(t, 0, sizeof *t);
    t->path = strdup(path);
    t->rank = t->local_rank = -1;
    t->format_minor = fm_reader_get_info(rd)->minor;
    t->start_ns = fm_reader_get_info(rd)->created_unix_ns;
    m->n_traces++;

    reading r = {.m = m, .t = t, .trace_index = m->n_traces - 1, .obs_sig = -1,
                 .first_index = m->n_traces - 1,
                 .merged_file = (fm_reader_get_info(rd)->flags & FM_FILE_FLAG_MERGED) != 0};
    r.strings = fm_strings_new();
    fm_idmap_init(&r.sig_of);
    fm_idmap_init(&r.callsite_of);
    fm_idmap_init(&r.phase_of);
    fm_idmap_init(&r.group_of);
    fm_verifier *v = fm_verifier_new(rd, opt ? opt->verify : NULL);
    if (!r.strings || !v || !m->traces[r.first_index].path) {
        r.oom = 1;
        rc = FM_E_NOMEM;
    } else {
        fm_record rec;
        while ((rc = fm_reader_next(rd, &rec)) == FM_OK && !r.oom) {
            /* checked first, so a record that breaks a rule is never used */
            if (fm_verifier_record(v, &rec) != FM_OK)
                break;
            use_record(&r, &rec);
        }
        close_observation(&r);
    }
    /* m->traces may have moved (a merged trace adds one per input): only indices from here */
    fm_verify_result res;
    memset(&res, 0, sizeof res);
    if (v)
        fm_verifier_finish(v, rc, &res);
    else
        res.status = FM_E_NOMEM;
    rp_trace *last = &m->traces[m->n_traces - 1];
    if (!last->end_ns)
        last->end_ns = r.last_time_ns > last->start_ns ? r.last_time_ns : last->start_ns;
    for (uint32_t i = r.first_index; i < m->n_traces; i++) {
        m->traces[i].verify = res; /* the file's integrity covers every input in it */
        if (m->traces[i].merged && !m->traces[i].input_complete)
            m->traces[i].usable_partial = 1;
    }
    fm_verifier_free(v);
    fm_strings_free(r.strings);
    fm_idmap_free(&r.sig_of);
    fm_idmap_free(&r.callsite_of);
    fm_idmap_free(&r.phase_of);
    fm_idmap_free(&r.group_of);
    fm_reader_close(rd);

    if (r.oom) {
        rp_fail(err, errlen, "%s: out of memory while reading", path);
        return RP_E_INTERNAL;
    }
    /* a required signature is missing: never used, damaged or not (an unfinished trace has no
     * signature at all, since signatures follow the final chunk) */
    if (res.status == FM_E_CRYPTO)
        return rp_fail(err, errlen, "%s", res.message);
    if (opt && opt->verify && opt->verify->have_trusted_key && !res.trusted_signature_found)
        return rp_fail(err, errlen, "%s: no valid signature by the trusted key (%s)", path,
                    res.message[0] ? res.message : "none found");
    if (res.status != FM_OK) {
        int incomplete_only = res.status == FM_E_TRUNCATED;
        if (!opt || !opt->allow_incomplete)
            return rp_fail(err, errlen, "%s%s", res.message,
                        incomplete_only ? " (--allow-incomplete reports what it holds)"
                                        : " (--allow-incomplete reports what precedes the damage)");
        for (uint32_t i = r.first_index; i < m->n_traces; i++)
            m->traces[i].usable_partial = 1;
    }
    for (uint32_t i = r.first_index; i < m->n_traces; i++)
        if (m->traces[i].merged && !m->traces[i].input_complete && (!opt || !opt->allow_incomplete))
            return rp_fail(err, errlen, "%s: input %s was merged incomplete (--allow-incomplete "
                                     "reports what it holds)",
                        path, m->traces[i].input_path ? m->traces[i].input_path : "?");
    return 0;
}
