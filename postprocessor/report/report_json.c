/* report_json.c - the machine-readable form of a report (docs/report-schema.md). Formats the
 * figures of rp_report; computes none. */
#define _GNU_SOURCE
#include "report_json.h"

#include <math.h>
#include <string.h>

#include "flopmeter/version.h"
#include "json_out.h"
#include "report_format.h"

static void amount(json_out *j, const char *key, rp_amount a)
{
    json_object_begin(j, key);
    json_double(j, "value", a.value);
    json_double(j, "half_width_95", a.half_width);
    json_double(j, "without_interval", a.without_interval);
    json_object_end(j);
}

static void optional_string(json_out *j, const char *key, const char *v)
{
    if (v)
        json_string(j, key, v);
    else
        json_null(j, key);
}

static void run(json_out *j, const rp_report *r)
{
    json_object_begin(j, "run");
    json_string(j, "run_id", r->run_id);
    json_u64(j, "world_size", r->world_size);
    json_u64(j, "ranks_covered", r->ranks_covered);
    json_bool(j, "incomplete", r->incomplete);
    optional_string(j, "incomplete_note", r->incomplete ? r->incomplete_note : NULL);
    json_double(j, "scale", r->scale);
    json_u64(j, "start_unix_ns", r->start_unix_ns);
    json_u64(j, "end_unix_ns", r->end_unix_ns);
    json_double(j, "wall_seconds", r->wall_seconds);
    json_object_end(j);
}

static void traces(json_out *j, const rp_report *r)
{
    const rp_model *m = r->m;
    json_array_begin(j, "traces");
    for (uint32_t i = 0; i < m->n_traces; i++) {
        const rp_trace *t = &m->traces[i];
        double fp = 0;
        for (int c = 0; c < RP_CATEGORIES; c++)
            fp += t->ops[c][RP_FP].measured + t->ops[c][RP_FP].extrapolated;
        json_object_begin(j, NULL);
        json_string(j, "path", t->path);
        json_string(j, "run_id", t->run_id);
        json_i64(j, "rank", t->rank);
        json_i64(j, "local_rank", t->local_rank);
        json_string(j, "host", t->host);
        json_u64(j, "pid", t->pid);
        json_string(j, "device", t->device_name ? t->device_name : "");
        json_u64(j, "devices", t->devices);
        json_string(j, "tool_version", t->tool_version);
        json_u64(j, "format_minor", t->format_minor);
        json_bool(j, "intact", t->verify.status == FM_OK);
        json_bool(j, "complete", t->verify.complete);
        if (t->verify.status != FM_OK)
            json_string(j, "problem", t->verify.message);
        else
            json_null(j, "problem");
        json_hex(j, "chain_head", t->verify.info.head, FM_HASH_LEN);
        json_u64(j, "signatures", t->verify.signatures);
        json_u64(j, "signatures_valid", t->verify.signatures_valid);
        json_u64(j, "start_unix_ns", t->start_ns);
        json_u64(j, "end_unix_ns", t->end_ns);
        json_u64(j, "launches", t->launches);
        json_u64(j, "launches_unmeasured", t->launches_unmeasured);
        json_double(j, "busy_seconds", t->busy_ns / 1e9);
        json_double(j, "flop", fp);
        json_u64(j, "records_dropped", t->records_dropped);
        if (t->merged) {
            json_object_begin(j, "merged_input");
            json_string(j, "path", t->input_path ? t->input_path : "");
            json_hex(j, "chain_head", t->input_head, FM_HASH_LEN);
            json_bool(j, "complete", t->input_complete);
            json_u64(j, "signatures", t->input_signatures);
            json_u64(j, "signatures_valid", t->input_signatures_valid);
            json_object_end(j);
        } else {
            json_null(j, "merged_input");
        }
        json_object_end(j);
    }
    json_array_end(j);
}

static void executed(json_out *j, const rp_report *r)
{
    const rp_model *m = r->m;
    double samples = 0;
    for (uint32_t i = 0; i < m->n_sigs; i++)
        samples += (double)m->sigs[i].samples;
    json_object_begin(j, "executed");
    amount(j, "flop", r->executed_fp);
    json_double(j, "flop_measured", r->measured_fp);
    json_double(j, "flop_extrapolated", r->extrapolated_fp);
    json_double(j, "integer_ops", r->executed_int);
    amount(j, "training_flop", r->model_fp);
    amount(j, "training_with_recomputation_flop", r->model_recompute_fp);
    json_object_begin(j, "launches");
    json_u64(j, "total", m->launches);
    json_u64(j, "measured", m->launches_measured);
    json_u64(j, "extrapolated", m->launches_extrapolated);
    json_u64(j, "unmeasured", m->launches_unmeasured);
    json_object_end(j);
    json_u64(j, "counter_samples", (uint64_t)samples);
    json_double(j, "busy_seconds", m->busy_ns / 1e9 * r->scale);
    json_double(j, "gpu_seconds", r->util.gpu_seconds);
    json_u64(j, "variable_signatures", r->variable_signatures);
    json_object_end(j);

    json_array_begin(j, "by_class");
    for (unsigned c = 0; c < 256; c++) {
        double meas = 0, extra = 0;
        for (int k = 0; k < RP_CATEGORIES; k++) {
            meas += m->by_class[k][c].measured;
            extra += m->by_class[k][c].extrapolated;
        }
        if (meas + extra <= 0)
            continue;
        char name[32];
        json_object_begin(j, NULL);
        json_string(j, "class", fm_precision_class_name((uint8_t)c, name, sizeof name));
        json_u64(j, "code", c);
        json_bool(j, "integer", fm_precision_class_is_integer((uint8_t)c));
        json_double(j, "measured", meas * r->scale);
        json_double(j, "extrapolated", extra * r->scale);
        json_object_end(j);
    }
    json_array_end(j);

    json_array_begin(j, "by_category");
    for (uint32_t c = 0; c < RP_CATEGORIES; c++) {
        json_object_begin(j, NULL);
        json_string(j, "category", fm_phase_category_name(c));
        json_double(j, "flop", rp_ops_in(m, 1u << c, 0) * r->scale);
        json_double(j, "integer_ops", (rp_ops_in(m, 1u << c, 1) - rp_ops_in(m, 1u << c, 0)) *
                                          r->scale);
        json_object_end(j);
    }
    json_array_end(j);

    json_array_begin(j, "by_phase");
    for (uint32_t i = 0; i < m->n_phases; i++) {
        const rp_phase *p = &m->phases[r->phase_order[i]];
        json_object_begin(j, NULL);
        json_string(j, "name", p->name);
        json_string(j, "category", fm_phase_category_name(p->category));
        json_u64(j, "launches", p->launches);
        json_double(j, "flop", (p->ops[RP_FP].measured + p->ops[RP_FP].extrapolated) * r->scale);
        json_double(j, "integer_ops",
                    (p->ops[RP_INT].measured + p->ops[RP_INT].extrapolated) * r->scale);
        json_object_end(j);
    }
    json_array_end(j);
}

static void signatures(json_out *j, const rp_report *r)
{
    const rp_model *m = r->m;
    char label[256];
    json_array_begin(j, "signatures");
    for (uint32_t i = 0; i < m->n_sigs; i++) {
        const rp_signature *s = &m->sigs[r->sig_order[i]];
        json_object_begin(j, NULL);
        json_string(j, "name", s->name);
        json_array_begin(j, "grid");
        for (int k = 0; k < 3; k++)
            json_u64(j, NULL, s->grid[k]);
        json_array_end(j);
        json_array_begin(j, "block");
        for (int k = 0; k < 3; k++)
            json_u64(j, NULL, s->block[k]);
        json_array_end(j);
        json_u64(j, "shared_mem_dynamic", s->shared_mem);
        uint8_t h[8];
        for (int k = 0; k < 8; k++)
            h[k] = (uint8_t)(s->arg_hash >> (56 - 8 * k));
        json_hex(j, "arg_hash", h, 8);
        optional_string(j, "callsite",
                        s->callsite ? rp_callsite_label(&m->callsites[s->callsite - 1], label,
                                                        sizeof label)
                                    : NULL);
        json_u64(j, "launches", s->launches);
        json_u64(j, "launches_measured", s->launches_measured);
        json_u64(j, "launches_extrapolated", s->launches_extrapolated);
        json_u64(j, "launches_unmeasured",
                 s->launches - s->launches_measured - s->launches_extrapolated);
        json_double(j, "busy_seconds", (double)s->busy_ns / 1e9);
        json_double(j, "flop_measured", s->ops[RP_FP].measured * r->scale);
        json_double(j, "flop_extrapolated", s->ops[RP_FP].extrapolated * r->scale);
        json_double(j, "integer_ops",
                    (s->ops[RP_INT].measured + s->ops[RP_INT].extrapolated) * r->scale);
        json_u64(j, "counter_samples", s->samples);
        if (s->launch_ops[RP_FP].n) {
            json_double(j, "flop_per_launch_mean", s->launch_ops[RP_FP].mean);
            json_double(j, "flop_per_launch_sd", sqrt(rp_welford_variance(&s->launch_ops[RP_FP])));
        } else {
            json_null(j, "flop_per_launch_mean");
            json_null(j, "flop_per_launch_sd");
        }
        json_object_end(j);
    }
    json_array_end(j);

    json_array_begin(j, "callsites");
    for (uint32_t i = 0; i < m->n_callsites; i++) {
        uint32_t c = r->callsite_order[i];
        const rp_callsite *cs = &m->callsites[c];
        json_object_begin(j, NULL);
        json_string(j, "label", rp_callsite_label(cs, label, sizeof label));
        json_double(j, "flop", r->callsite_ops[c] * r->scale);
        json_u64(j, "signatures", r->callsite_sigs[c]);
        json_array_begin(j, "frames");
        for (uint32_t f = 0; f < cs->n_frames; f++) {
            json_object_begin(j, NULL);
            json_string(j, "module", cs->frames[f].module);
            json_string(j, "symbol", cs->frames[f].symbol);
            json_u64(j, "offset", cs->frames[f].offset);
            json_object_end(j);
        }
        json_array_end(j);
        json_object_end(j);
    }
    json_array_end(j);
}

static void degradations(json_out *j, const rp_report *r)
{
    const rp_model *m = r->m;
    json_array_begin(j, "degradations");
    for (uint32_t i = 0; i < m->n_degradations; i++) {
        const rp_degradation *d = &m->degradations[i];
        json_object_begin(j, NULL);
        json_string(j, "trace", m->traces[d->trace].path);
        json_i64(j, "rank", m->traces[d->trace].rank);
        json_u64(j, "time_unix_ns", d->time_ns);
        json_string(j, "kind", fm_degradation_kind_name(d->kind));
        json_i64(j, "api_result", d->api_result);
        json_u64(j, "launches_affected", d->launches_affected);
        json_string(j, "message", d->message);
        json_object_end(j);
    }
    json_array_end(j);
}

static void facts(json_out *j, const rp_report *r)
{
    const rp_facts *f = r->facts;
    json_object_begin(j, "facts");
    for (int i = 0; i < RP_F_COUNT; i++) {
        if (isnan(f->v[i]))
            continue;
        json_object_begin(j, rp_fact_key(i));
        json_double(j, "value", f->v[i]);
        json_string(j, "source", f->source[i]);
        json_object_end(j);
    }
    if (f->modalities) {
        char mods[64];
        rp_modalities_name(f->modalities, mods, sizeof mods);
        json_object_begin(j, "model.modality");
        json_string(j, "value", mods);
        json_string(j, "source", f->modality_source);
        json_object_end(j);
    }
    if (f->original_systemic >= 0) {
        json_object_begin(j, "original.systemic");
        json_bool(j, "value", f->original_systemic);
        json_string(j, "source", f->systemic_source);
        json_object_end(j);
    }
    if (f->gpu_name[0]) {
        json_object_begin(j, "hardware.gpu");
        json_string(j, "value", f->gpu_name);
        json_string(j, "source", "model spec or option");
        json_object_end(j);
    }
    json_object_end(j);
}

static const char *basis_id(fm_estimate_basis b)
{
    return b == FM_BASIS_MODEL ? "training"
           : b == FM_BASIS_MODEL_RECOMPUTE ? "training_with_recomputation"
                                           : "executed";
}

static void estimates(json_out *j, const rp_report *r)
{
    json_array_begin(j, "estimates");
    for (int i = 0; i < FM_EST_COUNT; i++) {
        const rp_estimate_row *e = &r->estimates[i];
        json_object_begin(j, NULL);
        json_string(j, "id", e->e.id);
        json_string(j, "name", e->e.name);
        json_string(j, "form", e->e.form);
        json_string(j, "source", e->e.source);
        json_string(j, "basis", basis_id(e->e.basis));
        json_bool(j, "available", e->e.available);
        if (e->e.available) {
            json_double(j, "flop", e->e.flop);
            json_null(j, "missing");
        } else {
            json_null(j, "flop");
            json_string(j, "missing", e->e.missing ? e->e.missing : "");
        }
        json_double(j, "measured", e->measured);
        json_double(j, "ratio", e->ratio);
        json_object_end(j);
    }
    json_array_end(j);
    json_object_begin(j, "flopcounter");
    json_double(j, "flop", r->flopcounter);
    json_double(j, "measured", r->model_fp.value);
    json_double(j, "ratio", !isnan(r->flopcounter) && r->model_fp.value > 0
                                   ? r->flopcounter / r->model_fp.value
                                   : NAN);
    json_object_end(j);

    const rp_utilization *u = &r->util;
    char cls[32];
    json_object_begin(j, "utilization");
    optional_string(j, "peak_table", u->peaks ? u->peaks->id : NULL);
    json_string(j, "peak_class", fm_precision_class_name(u->peak_class, cls, sizeof cls));
    json_double(j, "peak_flops", u->peak_flops);
    json_string(j, "peak_from", u->peak_from);
    if (u->peaks)
        json_bool(j, "peak_verified", u->peaks->verified);
    else
        json_null(j, "peak_verified");
    json_double(j, "gpu_seconds", u->gpu_seconds);
    json_double(j, "mfu", u->mfu);
    json_double(j, "mfu_palm", u->mfu_palm);
    json_double(j, "hfu", u->hfu);
    json_double(j, "peak_time_share", u->peak_time_share);
    json_object_end(j);
}

static void threshold(json_out *j, const rp_report *r, const rp_profile *p,
                      const rp_threshold_result *x)
{
    const rp_threshold *t = x->t;
    char buf[64], names[400];
    json_object_begin(j, NULL);
    json_string(j, "name", t->name);
    json_string(j, "title", t->title);
    json_string(j, "basis", p->bases[t->basis].name);
    json_string(j, "comparison", t->or_equal ? "greater-or-equal" : "greater");
    json_double(j, "line_flop", x->threshold);
    json_string(j, "line_from", x->threshold_from);
    if (t->modalities) {
        char mods[64];
        rp_modalities_name(t->modalities, mods, sizeof mods);
        json_string(j, "condition_modality", mods);
    } else {
        json_null(j, "condition_modality");
    }
    json_string(j, "condition", x->condition == 1 ? "applies" : x->condition == 0
                                                                   ? "does-not-apply"
                                                                   : "unknown");
    json_double(j, "counted_flop", x->counted);
    json_string(j, "counted_2sf", rp_fmt_sci(x->counted, 2, 1, buf, sizeof buf));
    json_double(j, "fraction", x->fraction);
    json_bool(j, "crossed", x->crossed);
    json_array_begin(j, "within_margin_of");
    for (int i = 0; i <= FM_EST_COUNT; i++)
        if (x->straddling & (1u << i))
            json_string(j, NULL, i == FM_EST_COUNT ? "measurement" : r->estimates[i].e.id);
    json_array_end(j);
    rp_straddling_names(r, x->straddling, names, sizeof names);
    if (x->projected) {
        json_object_begin(j, "projection");
        json_double(j, "total_flop", x->projected_total);
        json_double(j, "half_width_95", x->projected_half_width);
        json_bool(j, "crosses", x->crosses_in_plan);
        json_double(j, "cross_tokens", x->cross_tokens);
        json_double(j, "cross_steps", x->cross_steps);
        json_double(j, "cross_fraction_of_plan", x->cross_fraction_of_plan);
        json_object_end(j);
    } else {
        json_null(j, "projection");
    }
    optional_string(j, "consequence", t->consequence);
    optional_string(j, "other_conditions", t->other_conditions);
    optional_string(j, "condition_note", t->condition_note);
    json_string(j, "source", t->source);
    json_bool(j, "verified", t->verified);
    json_string(j, "verdict", x->verdict);
    json_object_end(j);
}

static void rules(json_out *j, const rp_report *r)
{
    json_array_begin(j, "rules");
    for (uint32_t i = 0; i < r->n_profiles; i++) {
        const rp_profile_result *pr = &r->profiles[i];
        const rp_profile *p = pr->p;
        json_object_begin(j, NULL);
        json_string(j, "id", p->id);
        json_string(j, "title", p->title);
        json_string(j, "jurisdiction", p->jurisdiction);
        optional_string(j, "instrument", p->instrument);
        json_string(j, "document", p->document);
        json_string(j, "status", p->status);
        optional_string(j, "status_note", p->status_note);
        optional_string(j, "in_force_from", p->in_force_from);
        optional_string(j, "revoked_on", p->revoked_on);
        json_bool(j, "verified", p->verified);
        json_bool(j, "counts_integer_operations", p->counts_integer);
        json_string(j, "source", p->source);
        optional_string(j, "notes", p->notes);
        json_array_begin(j, "bases");
        for (uint32_t k = 0; k < p->n_bases; k++) {
            const rp_basis_result *b = &pr->bases[k];
            json_object_begin(j, NULL);
            json_string(j, "name", b->b->name);
            json_string(j, "title", b->b->title);
            json_array_begin(j, "includes");
            for (uint32_t c = 0; c < RP_CATEGORIES; c++)
                if (b->b->categories & (1u << c))
                    json_string(j, NULL, fm_phase_category_name(c));
            json_array_end(j);
            amount(j, "counted", b->counted);
            json_double(j, "prior_compute", b->prior);
            json_double(j, "integer_ops", b->integer_ops);
            json_bool(j, "verified", b->b->verified);
            json_object_begin(j, "excluded");
            for (uint32_t c = 0; c < RP_CATEGORIES; c++)
                if (!(b->b->categories & (1u << c)))
                    json_double(j, fm_phase_category_name(c), b->excluded[c]);
            json_object_end(j);
            json_double(j, "flop_per_token", b->rate_per_token);
            json_string(j, "source", b->b->source);
            json_object_end(j);
        }
        json_array_end(j);
        json_array_begin(j, "thresholds");
        for (uint32_t k = 0; k < p->n_thresholds; k++)
            threshold(j, r, p, &pr->thresholds[k]);
        json_array_end(j);
        json_object_end(j);
    }
    json_array_end(j);
}

static void projection(json_out *j, const rp_report *r)
{
    json_object_begin(j, "projection");
    json_bool(j, "available", r->projection);
    json_double(j, "plan_tokens", r->plan_tokens);
    json_string(j, "plan_from", r->plan_from);
    json_double(j, "measured_tokens", r->measured_tokens);
    json_double(j, "tokens_per_step", r->tokens_per_step);
    json_double(j, "rate_half_width_rel_95", r->rate_half_width_rel);
    json_object_end(j);
}

/* Compute over time, per bucket of the model's timeline (the HTML chart's data). */
static void timeline(json_out *j, const rp_report *r)
{
    const rp_timeline *tl = &r->m->timeline;
    json_object_begin(j, "timeline");
    json_u64(j, "start_unix_ns", tl->t0_ns);
    json_double(j, "bucket_seconds", (double)tl->width_ns / 1e9);
    json_array_begin(j, "buckets");
    for (uint32_t i = 0; i < tl->n; i++) {
        double executed = 0, training = 0;
        for (uint32_t c = 0; c < RP_CATEGORIES; c++) {
            executed += tl->b[i].ops[c][RP_FP];
            if (RP_TRAINING_MASK & (1u << c))
                training += tl->b[i].ops[c][RP_FP];
        }
        json_object_begin(j, NULL);
        json_double(j, "flop", executed * r->scale);
        json_double(j, "training_flop", training * r->scale);
        json_double(j, "tokens", tl->b[i].tokens);
        json_double(j, "steps", tl->b[i].steps);
        json_object_end(j);
    }
    json_array_end(j);
    json_object_end(j);
}

static void documentation(json_out *j, const rp_report *r)
{
    json_object_begin(j, "documentation");
    json_array_begin(j, "hardware_days");
    for (uint32_t i = 0; i < r->n_hw_days; i++) {
        json_object_begin(j, NULL);
        json_string(j, "device", r->hw_days[i].device);
        json_u64(j, "gpus", r->hw_days[i].gpus);
        json_double(j, "days", r->hw_days[i].gpu_seconds / 86400);
        json_object_end(j);
    }
    json_array_end(j);
    json_double(j, "wall_clock_days", r->wall_seconds / 86400);
    json_string(j, "methodology", r->methodology);
    json_null(j, "energy_mwh");
    json_object_end(j);
}

void rp_render_json(const rp_report *r, FILE *f)
{
    json_out j;
    json_init(&j, f, 1);
    json_set_max_indent_depth(&j, 3);
    json_object_begin(&j, NULL);
    json_string(&j, "schema", RP_JSON_SCHEMA);
    json_string(&j, "tool_version", FLOPMETER_VERSION);
    json_string(&j, "rules_from", r->data->origin);
    run(&j, r);
    traces(&j, r);
    executed(&j, r);
    signatures(&j, r);
    degradations(&j, r);
    facts(&j, r);
    estimates(&j, r);
    rules(&j, r);
    projection(&j, r);
    timeline(&j, r);
    documentation(&j, r);
    json_object_end(&j);
    json_finish(&j);
}
