/* report_facts.c - facts from declarations, model spec files and options, each checked
 * (see report_facts.h). */
#define _GNU_SOURCE
#include "report_facts.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvfile.h"
#include "report_format.h"
#include "rules_data.h"

#define fmt_g rp_fmt_g

enum check { POSITIVE, WHOLE, NONNEGATIVE, FRACTION };

static const struct {
    const char *key;
    enum check check;
} facts[RP_F_COUNT] = {
    [RP_F_PARAMETERS] = {"model.parameters", WHOLE},
    [RP_F_PARAMETERS_ACTIVE] = {"model.parameters_active", WHOLE},
    [RP_F_LAYERS] = {"model.layers", WHOLE},
    [RP_F_HIDDEN] = {"model.hidden_size", WHOLE},
    [RP_F_HEADS] = {"model.heads", WHOLE},
    [RP_F_FFN] = {"model.ffn_size", WHOLE},
    [RP_F_SEQUENCE] = {"model.sequence_length", WHOLE},
    [RP_F_VOCABULARY] = {"model.vocabulary", WHOLE},
    [RP_F_EXPERTS] = {"model.experts", WHOLE},
    [RP_F_EXPERTS_ACTIVE] = {"model.experts_active", WHOLE},
    [RP_F_TOKENS] = {"data.tokens", NONNEGATIVE},
    [RP_F_STEPS] = {"data.steps", NONNEGATIVE},
    [RP_F_PLAN_TOKENS] = {"plan.tokens", POSITIVE},
    [RP_F_PLAN_STEPS] = {"plan.steps", WHOLE},
    [RP_F_PLAN_GPUS] = {"plan.gpus", WHOLE},
    [RP_F_ORIGINAL_COMPUTE] = {"original.compute", POSITIVE},
    [RP_F_PRIOR_COMPUTE] = {"prior.compute", POSITIVE},
    [RP_F_UTILIZATION] = {"hardware.utilization", FRACTION},
    [RP_F_PEAK_TFLOPS] = {"hardware.peak_tflops", POSITIVE},
    [RP_F_GPU_HOURS] = {"hardware.gpu_hours", POSITIVE},
    [RP_F_FLOPCOUNTER] = {"estimate.flopcounter", NONNEGATIVE},
};

const char *rp_fact_key(int id)
{
    return id >= 0 && id < RP_F_COUNT ? facts[id].key : "?";
}

int rp_fact_by_key(const char *key)
{
    for (int i = 0; i < RP_F_COUNT; i++)
        if (strcmp(facts[i].key, key) == 0)
            return i;
    return -1;
}

void rp_facts_init(rp_facts *f)
{
    memset(f, 0, sizeof *f);
    for (int i = 0; i < RP_F_COUNT; i++)
        f->v[i] = NAN;
    f->original_systemic = -1;
}

/* Is v possible for fact id? Returns NULL or what is wrong with it. */
static const char *impossible(int id, double v)
{
    if (!isfinite(v))
        return "is not a finite number";
    switch (facts[id].check) {
    case POSITIVE:
        return v > 0 ? NULL : "must be greater than zero";
    case WHOLE:
        if (!(v > 0))
            return "must be greater than zero";
        return v == floor(v) ? NULL : "must be a whole number";
    case NONNEGATIVE:
        return v >= 0 ? NULL : "cannot be negative";
    case FRACTION:
        return v > 0 && v <= 1 ? NULL : "must be above 0 and at most 1";
    }
    return NULL;
}

static int set(rp_facts *f, int id, double v, const char *source, char *err, size_t errlen)
{
    const char *why = impossible(id, v);
    if (why)
        return rp_fail(err, errlen, "%s: %s %s (%s)", facts[id].key, fmt_g(v), why, source);
    f->v[id] = v;
    snprintf(f->source[id], sizeof f->source[id], "%s", source);
    if (id == RP_F_TOKENS)
        f->tokens_from_traces = 0;
    if (id == RP_F_FLOPCOUNTER)
        f->flopcounter_from_traces = 0;
    return 0;
}

/* Same value within rounding: ranks of one job declare the same model. */
static int agree(double a, double b)
{
    return fabs(a - b) <= 1e-9 * fmax(fabs(a), fabs(b));
}

int rp_facts_from_model(rp_facts *f, const rp_model *m, int combine_runs, char *err,
                        size_t errlen)
{
    double tokens = 0, steps = NAN, flopcounter = 0;
    int any_tokens = 0, any_flopcounter = 0;
    const char *tokens_from = NULL;
    for (uint32_t ti = 0; ti < m->n_traces; ti++) {
        const rp_trace *t = &m->traces[ti];
        double trace_steps = NAN, trace_flopcounter = NAN;
        for (uint32_t k = 0; k < t->n_declared; k++) {
            const rp_declared *d = &t->declared[k];
            if (strcmp(d->key, "model.modality") == 0) {
                uint32_t bits;
                if (!d->text || rp_modalities_parse(d->text, &bits) != 0)
                    return rp_fail(err, errlen, "model.modality: '%s' is not a list of text, "
                                             "audio, image, video, biology (declared in %s)",
                                d->text ? d->text : "", t->path);
                if (f->modalities && f->modalities != bits)
                    return rp_fail(err, errlen, "model.modality: declared differently in %s and "
                                             "%s", f->modality_source, t->path);
                f->modalities = bits;
                snprintf(f->modality_source, sizeof f->modality_source, "declared in %s",
                         t->path);
                continue;
            }
            int id = rp_fact_by_key(d->key);
            if (id < 0)
                continue; /* kept in the trace's list; not a fact the report uses */
            if (combine_runs && strncmp(d->key, "plan.", 5) == 0)
                continue;
            const char *why = impossible(id, d->value);
            if (why)
                return rp_fail(err, errlen, "%s: %s %s (declared in %s)", d->key, fmt_g(d->value),
                            why, t->path);
            if (id == RP_F_TOKENS) {
                tokens += d->value;
                any_tokens = 1;
                tokens_from = t->path;
                continue;
            }
            if (id == RP_F_STEPS) {
                trace_steps = d->value;
                continue;
            }
            if (id == RP_F_FLOPCOUNTER) {
                trace_flopcounter = d->value;
                continue;
            }
            if (!isnan(f->v[id]) && !agree(f->v[id], d->value))
                return rp_fail(err, errlen, "%s: declared as %s in %s and as %s in %s", d->key,
                            fmt_g(f->v[id]), f->source[id] + strlen("declared in "),
                            fmt_g(d->value), t->path);
            f->v[id] = d->value;
            snprintf(f->source[id], sizeof f->source[id], "declared in %s", t->path);
        }
        if (!isnan(trace_steps))
            steps = isnan(steps) ? trace_steps : fmax(steps, trace_steps);
        if (!isnan(trace_flopcounter) && !isnan(trace_steps)) {
            flopcounter += trace_flopcounter * trace_steps; /* per step, times this rank's steps */
            any_flopcounter = 1;
        }
    }
    if (any_tokens) {
        f->v[RP_F_TOKENS] = tokens;
        f->tokens_from_traces = 1;
        snprintf(f->source[RP_F_TOKENS], sizeof f->source[RP_F_TOKENS],
                 m->n_traces > 1 ? "declared by the traces (summed over them)" : "declared in %s",
                 tokens_from);
    }
    if (!isnan(steps)) {
        f->v[RP_F_STEPS] = steps;
        snprintf(f->source[RP_F_STEPS], sizeof f->source[RP_F_STEPS],
                 "declared by the traces (steps of the job)");
    }
    if (any_flopcounter) {
        f->v[RP_F_FLOPCOUNTER] = flopcounter;
        f->flopcounter_from_traces = 1;
        snprintf(f->source[RP_F_FLOPCOUNTER], sizeof f->source[RP_F_FLOPCOUNTER],
                 "declared by the traces (per step, times steps, summed over ranks)");
    }
    return 0;
}

int rp_facts_from_spec_text(rp_facts *f, const char *name, const char *text, size_t len,
                            char *err, size_t errlen)
{
    kv_file kv;
    if (kv_parse(text, len, name, &kv, err, errlen) != 0)
        return -1;
    int rc = 0;
    char source[160];
    snprintf(source, sizeof source, "model spec %s", name);
    for (size_t i = 0; rc == 0 && i < kv.n_entries; i++) {
        const kv_entry *e = &kv.entries[i];
        char key[160];
        snprintf(key, sizeof key, "%s.%s", e->section_type, e->key);
        if (*e->section_name) {
            rc = rp_fail(err, errlen, "%s:%d: sections of a model spec have no names", name,
                      e->line);
            break;
        }
        if (strcmp(key, "model.modality") == 0) {
            uint32_t bits = 0;
            if (rp_modalities_parse(e->value, &bits) != 0) {
                rc = rp_fail(err, errlen, "%s:%d: model.modality: '%s' is not a list of text, audio,"
                                       " image, video, biology", name, e->line, e->value);
                continue;
            }
            f->modalities = bits;
            snprintf(f->modality_source, sizeof f->modality_source, "%s", source);
            continue;
        }
        if (strcmp(key, "original.systemic") == 0) {
            if (strcmp(e->value, "yes") && strcmp(e->value, "no"))
                rc = rp_fail(err, errlen, "%s:%d: original.systemic: expected yes or no", name,
                          e->line);
            f->original_systemic = strcmp(e->value, "yes") == 0;
            snprintf(f->systemic_source, sizeof f->systemic_source, "%s", source);
            continue;
        }
        if (strcmp(key, "hardware.gpu") == 0) {
            snprintf(f->gpu_name, sizeof f->gpu_name, "%s", e->value);
            continue;
        }
        int id = rp_fact_by_key(key);
        if (id < 0) {
            rc = rp_fail(err, errlen, "%s:%d: unknown entry %s (see docs/report.md, \"Model spec "
                                   "files\")", name, e->line, key);
            break;
        }
        double v;
        if (kv_number(&kv, e, &v, err, errlen) != 0) {
            rc = rp_fail(err, errlen, "%s:%d: %s: '%s' is not a number", name, e->line, key,
                      e->value);
            break;
        }
        const char *why = impossible(id, v);
        if (why) {
            rc = rp_fail(err, errlen, "%s:%d: %s: %s %s", name, e->line, key, e->value, why);
            break;
        }
        rc = set(f, id, v, source, err, errlen);
    }
    kv_free(&kv);
    return rc;
}

int rp_facts_from_spec_file(rp_facts *f, const char *path, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return rp_fail(err, errlen, "%s: cannot open the model spec", path);
    char buf[65536];
    size_t n = fread(buf, 1, sizeof buf, fp);
    int too_long = !feof(fp);
    fclose(fp);
    if (too_long)
        return rp_fail(err, errlen, "%s: a model spec is at most 64 KiB", path);
    return rp_facts_from_spec_text(f, path, buf, n, err, errlen);
}

int rp_facts_set_option(rp_facts *f, int id, const char *option, const char *text, char *err,
                        size_t errlen)
{
    char *end = NULL;
    double v = text && *text ? strtod(text, &end) : NAN;
    if (!text || !*text || *end)
        return rp_fail(err, errlen, "%s: '%s' is not a number", option, text ? text : "");
    char source[160];
    snprintf(source, sizeof source, "option %s", option);
    const char *why = impossible(id, v);
    if (why)
        return rp_fail(err, errlen, "%s: %s %s", option, text, why);
    return set(f, id, v, source, err, errlen);
}

int rp_facts_set_modality(rp_facts *f, const char *text, const char *source, char *err,
                          size_t errlen)
{
    uint32_t bits;
    if (rp_modalities_parse(text, &bits) != 0)
        return rp_fail(err, errlen, "%s: '%s' is not a list of text, audio, image, video, biology",
                    source, text);
    f->modalities = bits;
    snprintf(f->modality_source, sizeof f->modality_source, "%s", source);
    return 0;
}

int rp_facts_check(const rp_facts *f, char *err, size_t errlen)
{
    const double *v = f->v;
    if (!isnan(v[RP_F_PARAMETERS_ACTIVE]) && !isnan(v[RP_F_PARAMETERS]) &&
        v[RP_F_PARAMETERS_ACTIVE] > v[RP_F_PARAMETERS])
        return rp_fail(err, errlen, "model.parameters_active: %s exceeds model.parameters %s (%s)",
                    fmt_g(v[RP_F_PARAMETERS_ACTIVE]), fmt_g(v[RP_F_PARAMETERS]),
                    f->source[RP_F_PARAMETERS_ACTIVE]);
    if (!isnan(v[RP_F_EXPERTS_ACTIVE]) && !isnan(v[RP_F_EXPERTS]) &&
        v[RP_F_EXPERTS_ACTIVE] > v[RP_F_EXPERTS])
        return rp_fail(err, errlen, "model.experts_active: %s exceeds model.experts %s (%s)",
                    fmt_g(v[RP_F_EXPERTS_ACTIVE]), fmt_g(v[RP_F_EXPERTS]),
                    f->source[RP_F_EXPERTS_ACTIVE]);
    if (!isnan(v[RP_F_PLAN_TOKENS]) && !isnan(v[RP_F_TOKENS]) &&
        v[RP_F_PLAN_TOKENS] < v[RP_F_TOKENS])
        return rp_fail(err, errlen, "plan.tokens: the planned run (%s tokens, %s) is shorter than "
                                 "what was already measured (%s tokens)",
                    fmt_g(v[RP_F_PLAN_TOKENS]), f->source[RP_F_PLAN_TOKENS],
                    fmt_g(v[RP_F_TOKENS]));
    if (!isnan(v[RP_F_PLAN_STEPS]) && !isnan(v[RP_F_STEPS]) && v[RP_F_PLAN_STEPS] < v[RP_F_STEPS])
        return rp_fail(err, errlen, "plan.steps: the planned run (%s steps, %s) is shorter than "
                                 "what was already measured (%s steps)",
                    fmt_g(v[RP_F_PLAN_STEPS]), f->source[RP_F_PLAN_STEPS],
                    fmt_g(v[RP_F_STEPS]));
    return 0;
}

fm_model_facts rp_facts_model(const rp_facts *f)
{
    fm_model_facts m = fm_model_facts_unknown();
    m.parameters = f->v[RP_F_PARAMETERS];
    m.parameters_active = f->v[RP_F_PARAMETERS_ACTIVE];
    m.layers = f->v[RP_F_LAYERS];
    m.hidden_size = f->v[RP_F_HIDDEN];
    m.heads = f->v[RP_F_HEADS];
    m.ffn_size = f->v[RP_F_FFN];
    m.sequence_length = f->v[RP_F_SEQUENCE];
    m.vocabulary = f->v[RP_F_VOCABULARY];
    m.experts = f->v[RP_F_EXPERTS];
    m.experts_active = f->v[RP_F_EXPERTS_ACTIVE];
    m.tokens = f->v[RP_F_TOKENS];
    return m;
}
