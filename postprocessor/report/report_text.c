/* report_text.c - the terminal form of a report: aligned tables, colour only on a terminal.
 * Formats the figures of rp_report; computes none. */
#define _GNU_SOURCE
#include "report_text.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "report_format.h"

typedef struct out {
    FILE *f;
    int colour;
} out;

static const char *bold(const out *o) { return o->colour ? "\033[1m" : ""; }
static const char *red(const out *o) { return o->colour ? "\033[31m" : ""; }
static const char *yellow(const out *o) { return o->colour ? "\033[33m" : ""; }
static const char *green(const out *o) { return o->colour ? "\033[32m" : ""; }
static const char *reset(const out *o) { return o->colour ? "\033[0m" : ""; }

static void heading(const out *o, const char *title)
{
    fprintf(o->f, "\n%s%s%s\n", bold(o), title, reset(o));
}

static const char *sci(double v, char *buf, size_t len)
{
    return rp_fmt_sci(v, 2, 1, buf, len);
}

static const char *pct(double f, char *buf, size_t len)
{
    return rp_fmt_percent(f, buf, len);
}

/* Prints a paragraph wrapped at 96 columns with an indent, without trailing blanks. */
static void wrap(const out *o, const char *text, int indent)
{
    const int width = 96;
    int col = indent;
    fprintf(o->f, "%*s", indent, "");
    for (const char *p = text; *p;) {
        while (*p == ' ')
            p++;
        size_t w = strcspn(p, " ");
        if (!w)
            break;
        if (col > indent && col + 1 + (int)w > width) {
            fprintf(o->f, "\n%*s", indent, "");
            col = indent;
        } else if (col > indent) {
            fputc(' ', o->f);
            col++;
        }
        fprintf(o->f, "%.*s", (int)w, p);
        col += (int)w;
        p += w;
    }
    fputc('\n', o->f);
}

static void header(const out *o, const rp_report *r)
{
    const rp_model *m = r->m;
    char a[48], b[48], c[48];
    fprintf(o->f, "%sflopmeter report%s", bold(o), reset(o));
    if (*r->run_id)
        fprintf(o->f, " - run %s", r->run_id);
    fputc('\n', o->f);
    if (m->n_traces)
        fprintf(o->f, "%s to %s (%s); %u trace%s covering %u of %s ranks%s\n",
                rp_fmt_utc(r->start_unix_ns, 1, a, sizeof a),
                rp_fmt_utc(r->end_unix_ns, 1, b, sizeof b),
                rp_fmt_duration(r->wall_seconds, c, sizeof c), m->n_traces,
                m->n_traces == 1 ? "" : "s", r->ranks_covered,
                r->world_size ? rp_fmt_g((double)r->world_size) : "?",
                r->scale != 1 ? "; totals scaled to all ranks (--scale-to-world-size)" : "");
    if (r->incomplete)
        fprintf(o->f, "%sINCOMPLETE:%s %s\n", yellow(o), reset(o), r->incomplete_note);
    for (uint32_t i = 0; i < m->n_traces; i++) {
        const rp_trace *t = &m->traces[i];
        const char *state = t->verify.status == FM_OK
                                ? (t->verify.signatures_valid ? "intact, signed" : "intact")
                                : t->verify.status == FM_E_TRUNCATED ? "incomplete" : "damaged";
        fprintf(o->f, "  %s: rank %lld, %s, %s: %s%s%s\n", t->path, (long long)t->rank,
                t->host ? t->host : "?", t->device_name ? t->device_name : "no GPU recorded",
                t->verify.status == FM_OK ? "" : red(o), state, reset(o));
        if (t->verify.status != FM_OK)
            fprintf(o->f, "    %s\n", t->verify.message);
        if (t->merged)
            fprintf(o->f, "    merged from %s: %s, %llu of %llu signatures valid\n",
                    t->input_path ? t->input_path : "?",
                    t->input_complete ? "complete and intact" : "incomplete",
                    (unsigned long long)t->input_signatures_valid,
                    (unsigned long long)t->input_signatures);
    }
}

static void executed(const out *o, const rp_report *r)
{
    const rp_model *m = r->m;
    char a[48], p1[24], p2[24], p3[24], d1[48];
    heading(o, "EXECUTED COMPUTE");
    double fp = r->executed_fp.value, samples = 0;
    for (uint32_t i = 0; i < m->n_sigs; i++)
        samples += (double)m->sigs[i].samples;
    fprintf(o->f, "  floating point  %s FLOP  ±%s (95%% interval from %s counter samples)\n",
            sci(fp, a, sizeof a), fp > 0 ? pct(r->executed_fp.half_width / fp, p1, sizeof p1) : "0",
            rp_fmt_g(samples));
    fprintf(o->f, "  of which         %s counted by hardware, %s extrapolated from samples\n",
            pct(r->measured_fp / fmax(fp, 1e-300), p1, sizeof p1),
            pct(r->extrapolated_fp / fmax(fp, 1e-300), p2, sizeof p2));
    if (r->executed_fp.without_interval > 0)
        fprintf(o->f, "  no interval for  %s FLOP extrapolated from fewer than two samples\n",
                sci(r->executed_fp.without_interval, a, sizeof a));
    fprintf(o->f, "  integer ops     %s\n", sci(r->executed_int, a, sizeof a));
    double l = (double)m->launches;
    if (l > 0)
        fprintf(o->f, "  launches        %s: %s measured, %s extrapolated, %s%s unmeasured%s\n",
                rp_fmt_g(l), pct((double)m->launches_measured / l, p1, sizeof p1),
                pct((double)m->launches_extrapolated / l, p2, sizeof p2),
                m->launches_unmeasured ? yellow(o) : "",
                pct((double)m->launches_unmeasured / l, p3, sizeof p3), reset(o));
    if (r->util.gpu_seconds > 0)
        fprintf(o->f, "  kernel time     %s of %s GPU time (%s busy)\n",
                rp_fmt_duration(m->busy_ns / 1e9 * r->scale, a, sizeof a),
                rp_fmt_duration(r->util.gpu_seconds, d1, sizeof d1),
                pct(m->busy_ns / 1e9 * r->scale / r->util.gpu_seconds, p1, sizeof p1));
    if (r->variable_signatures)
        fprintf(o->f, "  %u kernel signature%s did different work on different launches "
                      "(data-dependent)\n",
                r->variable_signatures, r->variable_signatures == 1 ? "" : "s");
}

static void by_class(const out *o, const rp_report *r)
{
    const rp_model *m = r->m;
    char a[48], b[48], p1[24], name[32];
    heading(o, "BY PRECISION");
    fprintf(o->f, "  %-20s %12s %8s %14s\n", "class", "operations", "share", "counted by hw");
    double total = r->executed_fp.value + r->executed_int;
    for (unsigned c = 0; c < 256; c++) {
        double meas = 0, extra = 0;
        for (int k = 0; k < RP_CATEGORIES; k++) {
            meas += m->by_class[k][c].measured * r->scale;
            extra += m->by_class[k][c].extrapolated * r->scale;
        }
        if (meas + extra <= 0)
            continue;
        fm_precision_class_name((uint8_t)c, name, sizeof name);
        fprintf(o->f, "  %-20s %12s %8s %14s%s\n", name, sci(meas + extra, a, sizeof a),
                pct((meas + extra) / total, p1, sizeof p1), sci(meas, b, sizeof b),
                fm_precision_class_is_integer((uint8_t)c) ? "  (integer)" : "");
    }
}

static void by_phase(const out *o, const rp_report *r)
{
    const rp_model *m = r->m;
    char a[48], p1[24];
    heading(o, "BY PHASE");
    fprintf(o->f, "  %-28s %-24s %12s %8s %12s\n", "phase", "category", "FLOP", "share",
            "launches");
    for (uint32_t i = 0; i < m->n_phases; i++) {
        const rp_phase *p = &m->phases[r->phase_order[i]];
        double v = (p->ops[RP_FP].measured + p->ops[RP_FP].extrapolated) * r->scale;
        if (p->launches == 0)
            continue;
        fprintf(o->f, "  %-28s %-24s %12s %8s %12s\n", p->name,
                fm_phase_category_name(p->category), sci(v, a, sizeof a),
                pct(v / fmax(r->executed_fp.value, 1e-300), p1, sizeof p1),
                rp_fmt_g((double)p->launches));
    }
}

static void by_rank(const out *o, const rp_report *r)
{
    const rp_model *m = r->m;
    if (m->n_traces < 2)
        return;
    char a[48], d[48];
    heading(o, "BY RANK");
    fprintf(o->f, "  %6s %-20s %-28s %12s %12s %10s\n", "rank", "host", "GPU", "FLOP",
            "launches", "busy");
    for (uint32_t i = 0; i < m->n_traces; i++) {
        const rp_trace *t = &m->traces[i];
        double fp = 0;
        for (int c = 0; c < RP_CATEGORIES; c++)
            fp += t->ops[c][RP_FP].measured + t->ops[c][RP_FP].extrapolated;
        fprintf(o->f, "  %6lld %-20.20s %-28.28s %12s %12s %10s\n", (long long)t->rank,
                t->host ? t->host : "?", t->device_name ? t->device_name : "?",
                sci(fp, a, sizeof a), rp_fmt_g((double)t->launches),
                rp_fmt_duration(t->busy_ns / 1e9, d, sizeof d));
    }
}

static void signatures(const out *o, const rp_report *r, uint32_t top)
{
    const rp_model *m = r->m;
    char a[48], b[48], p1[24], nm[80], cs[160];
    heading(o, "TOP KERNEL SIGNATURES");
    fprintf(o->f, "  %10s %7s %10s %9s %10s  %s\n", "FLOP", "share", "launches", "measured",
            "per launch", "kernel / call site");
    uint32_t n = m->n_sigs < top ? m->n_sigs : top;
    for (uint32_t i = 0; i < n; i++) {
        const rp_signature *s = &m->sigs[r->sig_order[i]];
        double v = (s->ops[RP_FP].measured + s->ops[RP_FP].extrapolated) * r->scale;
        double per = s->launches ? (s->ops[RP_FP].measured + s->ops[RP_FP].extrapolated) /
                                       (double)(s->launches_measured + s->launches_extrapolated
                                                    ? s->launches_measured + s->launches_extrapolated
                                                    : 1)
                                 : 0;
        fprintf(o->f, "  %10s %7s %10s %9s %10s  %s\n", sci(v, a, sizeof a),
                pct(v / fmax(r->executed_fp.value, 1e-300), p1, sizeof p1),
                rp_fmt_g((double)s->launches), rp_fmt_g((double)s->launches_measured),
                sci(per, b, sizeof b), rp_fmt_clip(s->name, 60, nm, sizeof nm));
        if (s->callsite)
            fprintf(o->f, "  %60s  from %s\n", "",
                    rp_callsite_label(&m->callsites[s->callsite - 1], cs, sizeof cs));
    }
    if (m->n_sigs > n)
        fprintf(o->f, "  ... %u more signatures (all of them in --json)\n", m->n_sigs - n);
}

static void callsites(const out *o, const rp_report *r, uint32_t top)
{
    const rp_model *m = r->m;
    if (!m->n_callsites)
        return;
    char a[48], p1[24], cs[160];
    heading(o, "TOP CALL SITES");
    fprintf(o->f, "  %10s %7s %10s  %s\n", "FLOP", "share", "kernels", "call site");
    uint32_t n = m->n_callsites < top ? m->n_callsites : top;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t c = r->callsite_order[i];
        double v = r->callsite_ops[c] * r->scale;
        fprintf(o->f, "  %10s %7s %10u  %s\n", sci(v, a, sizeof a),
                pct(v / fmax(r->executed_fp.value, 1e-300), p1, sizeof p1), r->callsite_sigs[c],
                rp_callsite_label(&m->callsites[c], cs, sizeof cs));
    }
}

static void degradations(const out *o, const rp_report *r)
{
    const rp_model *m = r->m;
    if (!m->n_degradations)
        return;
    char a[48];
    heading(o, "DEGRADATIONS (what the tool could not do)");
    for (uint32_t i = 0; i < m->n_degradations; i++) {
        const rp_degradation *d = &m->degradations[i];
        fprintf(o->f, "  %s rank %lld: %s%s%s, %s launches affected: %s\n",
                rp_fmt_utc(d->time_ns, 1, a, sizeof a), (long long)m->traces[d->trace].rank,
                yellow(o), fm_degradation_kind_name(d->kind), reset(o),
                rp_fmt_g((double)d->launches_affected), d->message);
    }
}

static void facts(const out *o, const rp_report *r)
{
    const rp_facts *f = r->facts;
    heading(o, "FACTS (declared, from a model spec, or given)");
    int any = 0;
    for (int i = 0; i < RP_F_COUNT; i++) {
        if (isnan(f->v[i]))
            continue;
        fprintf(o->f, "  %-24s %-14s %s\n", rp_fact_key(i), rp_fmt_g(f->v[i]), f->source[i]);
        any = 1;
    }
    if (f->modalities) {
        char mods[64];
        rp_modalities_name(f->modalities, mods, sizeof mods);
        fprintf(o->f, "  %-24s %-14s %s\n", "model.modality", mods, f->modality_source);
        any = 1;
    }
    if (f->original_systemic >= 0) {
        fprintf(o->f, "  %-24s %-14s %s\n", "original.systemic",
                f->original_systemic ? "yes" : "no", f->systemic_source);
        any = 1;
    }
    if (f->gpu_name[0]) {
        fprintf(o->f, "  %-24s %s\n", "hardware.gpu", f->gpu_name);
        any = 1;
    }
    if (!any)
        fprintf(o->f, "  none: formula estimates and projections need model.* and data.tokens "
                      "(declare them, or give --model SPEC)\n");
}

static const char *basis_name(fm_estimate_basis b)
{
    return b == FM_BASIS_MODEL ? "training" : b == FM_BASIS_MODEL_RECOMPUTE ? "+recompute"
                                                                             : "executed";
}

static void estimates(const out *o, const rp_report *r)
{
    char a[48], b[48];
    if (r->estimate_only) {
        heading(o, "FORMULA ESTIMATES");
        fprintf(o->f, "  %-46s %10s  %s\n", "estimate", "FLOP", "formula");
        for (int i = 0; i < FM_EST_COUNT; i++) {
            const rp_estimate_row *e = &r->estimates[i];
            fprintf(o->f, "  %-46.46s %10s  %s%s%s%s\n", e->e.name,
                    e->e.available ? sci(e->e.flop, a, sizeof a) : "-", e->e.form,
                    e->e.available ? "" : " (needs ", e->e.available ? "" : e->e.missing,
                    e->e.available ? "" : ")");
        }
        fprintf(o->f, "  the rules below are applied to %s (--use chooses another)\n",
                r->estimates[r->primary_estimate].e.name);
        return;
    }
    heading(o, "FORMULA ESTIMATES AGAINST THE MEASUREMENT");
    fprintf(o->f, "  %-46s %10s %10s %-11s %6s\n", "estimate", "estimate", "measured", "basis",
            "ratio");
    for (int i = 0; i < FM_EST_COUNT; i++) {
        const rp_estimate_row *e = &r->estimates[i];
        if (!e->e.available) {
            fprintf(o->f, "  %-46.46s %10s %10s %-11s %6s  (needs %s)\n", e->e.name, "-",
                    sci(e->measured, b, sizeof b), basis_name(e->e.basis), "-",
                    e->e.missing ? e->e.missing : "?");
            continue;
        }
        fprintf(o->f, "  %-46.46s %10s %10s %-11s %6.3f\n", e->e.name, sci(e->e.flop, a, sizeof a),
                sci(e->measured, b, sizeof b), basis_name(e->e.basis), e->ratio);
    }
    if (!isnan(r->flopcounter))
        fprintf(o->f, "  %-46.46s %10s %10s %-11s %6.3f\n", "PyTorch FlopCounterMode (declared)",
                sci(r->flopcounter, a, sizeof a), sci(r->model_fp.value, b, sizeof b),
                "training", r->model_fp.value > 0 ? r->flopcounter / r->model_fp.value : NAN);
    fprintf(o->f, "  training = measured work without recomputation, evaluation, auxiliary models "
                  "and synthetic data;\n  +recompute adds activation recomputation; executed is "
                  "everything the GPUs ran.\n");
}

static void utilization(const out *o, const rp_report *r)
{
    const rp_utilization *u = &r->util;
    char a[48], p1[24], p2[24], p3[24], p4[24];
    heading(o, "UTILISATION");
    fprintf(o->f, "  peak            %s FLOP/s per GPU (%s)\n", sci(u->peak_flops, a, sizeof a),
            u->peak_from);
    fprintf(o->f, "  MFU             %s (measured training work without recomputation)\n",
            pct(u->mfu, p1, sizeof p1));
    fprintf(o->f, "  MFU (PaLM)      %s (PaLM's formula)\n", pct(u->mfu_palm, p2, sizeof p2));
    fprintf(o->f, "  HFU             %s (everything executed, recomputation included)\n",
            pct(u->hfu, p3, sizeof p3));
    fprintf(o->f, "  peak-time share %s (each class's work at its own peak)\n",
            pct(u->peak_time_share, p4, sizeof p4));
}

static void rules(const out *o, const rp_report *r)
{
    char a[48], b[48], p1[24];
    heading(o, "RULES AND THRESHOLDS");
    for (uint32_t i = 0; i < r->n_profiles; i++) {
        const rp_profile_result *pr = &r->profiles[i];
        const rp_profile *p = pr->p;
        fprintf(o->f, "\n  %s%s%s [%s%s]\n", bold(o), p->title, reset(o), p->status,
                p->verified ? "" : ", not verified against the primary source");
        for (uint32_t k = 0; k < p->n_bases; k++) {
            const rp_basis_result *br = &pr->bases[k];
            if (r->estimate_only)
                fprintf(o->f, "    basis %s: estimated %s FLOP", br->b->name,
                        sci(br->counted.value, a, sizeof a));
            else
                fprintf(o->f, "    basis %s: %s FLOP ±%s%s", br->b->name,
                        sci(br->counted.value, a, sizeof a),
                        pct(br->counted.value > 0 ? br->counted.half_width / br->counted.value
                                                  : 0,
                            p1, sizeof p1),
                        p->counts_integer ? " (integer operations included)" : "");
            if (br->prior > 0)
                fprintf(o->f, ", including prior.compute %s", sci(br->prior, b, sizeof b));
            fputc('\n', o->f);
            int first = 1;
            for (uint32_t c = 0; c < RP_CATEGORIES; c++) {
                if (br->excluded[c] <= 0)
                    continue;
                fprintf(o->f, "%s%s %s", first ? "      excluded: " : ", ",
                        fm_phase_category_name(c), sci(br->excluded[c], b, sizeof b));
                first = 0;
            }
            if (!first)
                fputc('\n', o->f);
        }
        for (uint32_t k = 0; k < p->n_thresholds; k++) {
            const rp_threshold_result *x = &pr->thresholds[k];
            const char *col = x->condition == 0 ? "" /* does not apply */
                              : x->crossed      ? red(o)
                              : x->straddling   ? yellow(o)
                                                : green(o);
            fprintf(o->f, "    %s%s%s (%s %s FLOP on %s): %s\n", col, x->t->title, reset(o),
                    x->t->or_equal ? ">=" : ">", sci(x->threshold, a, sizeof a),
                    p->bases[x->t->basis].name, pct(x->fraction, p1, sizeof p1));
            if (!x->t->absolute)
                fprintf(o->f, "      line: %s\n", x->threshold_from);
            wrap(o, x->verdict, 6);
        }
    }
}

static void projection(const out *o, const rp_report *r)
{
    char a[48], b[48], p1[24];
    heading(o, "PROJECTION OF THE PLANNED RUN");
    if (r->estimate_only) {
        fprintf(o->f, "  not made by flopmeter estimate: a projection starts from a measured run "
                      "(flopmeter report)\n");
        return;
    }
    if (!r->projection) {
        fprintf(o->f, "  not available: needs the measured tokens (data.tokens) and a plan "
                      "(plan.tokens, or plan.steps with data.steps)\n");
        return;
    }
    fprintf(o->f, "  planned         %s tokens (%s)\n", sci(r->plan_tokens, a, sizeof a),
            r->plan_from);
    fprintf(o->f, "  measured        %s tokens, %s of the plan\n",
            sci(r->measured_tokens, b, sizeof b),
            pct(r->measured_tokens / r->plan_tokens * r->scale, p1, sizeof p1));
    if (!isnan(r->rate_half_width_rel))
        fprintf(o->f, "  rate spread     ±%s (95%%, FLOP per token over the measured run)\n",
                pct(r->rate_half_width_rel, p1, sizeof p1));
    fprintf(o->f, "  (the projected total and the crossing point of each line are in the "
                  "verdicts above)\n");
}

static void documentation(const out *o, const rp_report *r)
{
    char a[48];
    heading(o, "FOR THE MODEL DOCUMENTATION FORM AND NOTIFICATIONS");
    for (uint32_t i = 0; i < r->n_profiles; i++) {
        const rp_profile_result *pr = &r->profiles[i];
        if (strcmp(pr->p->status, "revoked") == 0)
            continue;
        for (uint32_t k = 0; k < pr->p->n_bases; k++)
            fprintf(o->f, "  %-32s %-11s %s FLOP\n", pr->p->id, pr->bases[k].b->name,
                    sci(pr->bases[k].counted.value, a, sizeof a));
    }
    for (uint32_t i = 0; i < r->n_hw_days; i++)
        fprintf(o->f, "  hardware        %s %s-days (%u GPU%s)\n",
                rp_fmt_g(rp_round_sig(r->hw_days[i].gpu_seconds / 86400, 2)), r->hw_days[i].device,
                r->hw_days[i].gpus, r->hw_days[i].gpus == 1 ? "" : "s");
    if (r->m->n_traces)
        fprintf(o->f, "  wall clock      %s days\n",
                rp_fmt_g(rp_round_sig(r->wall_seconds / 86400, 2)));
    fprintf(o->f, "  methodology\n");
    wrap(o, r->methodology, 4);
}

void rp_render_text(const rp_report *r, FILE *f, int colour, uint32_t top)
{
    out o = {f, colour};
    if (r->m->n_traces) {
        header(&o, r);
        executed(&o, r);
        by_class(&o, r);
        by_phase(&o, r);
        by_rank(&o, r);
        signatures(&o, r, top);
        callsites(&o, r, top);
        degradations(&o, r);
    }
    facts(&o, r);
    estimates(&o, r);
    if (r->m->n_traces)
        utilization(&o, r);
    rules(&o, r);
    projection(&o, r);
    documentation(&o, r);
}
