/* report_compute.c - derives every figure of a report from the model, the facts and the rules
 * (see report.h and docs/methodology.md). */
#define _GNU_SOURCE
#include "report.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_format.h"

#define ALL_CATEGORIES ((1u << RP_CATEGORIES) - 1)
/* Epoch AI's default utilisation for language models, used when none is declared. */
#define DEFAULT_UTILIZATION 0.30

static uint32_t bit(uint32_t category)
{
    return 1u << category;
}

static const uint32_t MODEL_MASK = RP_TRAINING_MASK;

/* ---- amounts with intervals ---------------------------------------------------------------- */

/* Variance of the extrapolated operations of one signature, for E extrapolated launches:
 * E^2 * var(mean) + E * var(one launch). Returns -1 when the samples cannot tell (no samples,
 * or fewer than two in a group that the estimate needs). */
static double extrapolation_variance(const rp_signature *s, double E, int with_integer)
{
    int kinds = with_integer ? 2 : 1;
    double var_one = 0, var_mean = 0;
    int complete = s->n_groups > 0 && s->min_groups_per_launch != UINT32_MAX &&
                   s->min_groups_per_launch >= s->n_groups;
    if (s->n_groups == 0)
        return -1;
    if (complete && s->launch_ops[RP_FP].n >= 2) {
        /* every measured launch was read in all its groups: launch totals are observations */
        for (int k = 0; k < kinds; k++) {
            double v = rp_welford_variance(&s->launch_ops[k]);
            var_one += v;
            var_mean += v / (double)s->launch_ops[k].n;
        }
    } else {
        /* groups read on different launches: the per-launch total is the sum of group means */
        for (uint32_t g = 0; g < s->n_groups; g++)
            for (int k = 0; k < kinds; k++) {
                const rp_welford *w = &s->groups[g].ops[k];
                if (w->n < 2)
                    return -1;
                double v = rp_welford_variance(w);
                var_one += v;
                var_mean += v / (double)w->n;
            }
    }
    return E * E * var_mean + E * var_one;
}

rp_amount rp_amount_in(const rp_model *m, uint32_t mask, int with_integer)
{
    rp_amount a = {rp_ops_in(m, mask, with_integer), 0, 0};
    double var = 0;
    for (uint32_t i = 0; i < m->n_sigs; i++) {
        const rp_signature *s = &m->sigs[i];
        double E = 0, E_all = 0;
        for (uint32_t c = 0; c < RP_CATEGORIES; c++) {
            E_all += (double)s->extrapolated_by_category[c];
            if (mask & bit(c))
                E += (double)s->extrapolated_by_category[c];
        }
        if (E == 0)
            continue;
        double v = extrapolation_variance(s, E, with_integer);
        if (v >= 0) {
            var += v;
            continue;
        }
        /* the samples cannot tell the spread: this signature's extrapolated operations in
         * the basis (its share of its extrapolated launches) are listed instead */
        double ops = s->ops[RP_FP].extrapolated + (with_integer ? s->ops[RP_INT].extrapolated : 0);
        a.without_interval += ops * E / E_all;
    }
    a.half_width = RP_Z95 * sqrt(var);
    return a;
}

static rp_amount scaled(rp_amount a, double k)
{
    a.value *= k;
    a.half_width *= k;
    a.without_interval *= k;
    return a;
}

/* ---- coverage ----------------------------------------------------------------------------- */

int rp_check_traces(const rp_model *m, int combine_runs, char *err, size_t errlen)
{
    if (!m->n_traces)
        return 0;
    const rp_trace *first = &m->traces[0];
    const char *run = first->run_id ? first->run_id : "";
    for (uint32_t i = 0; i < m->n_traces; i++) {
        const rp_trace *t = &m->traces[i];
        const char *this_run = t->run_id ? t->run_id : "";
        if (!combine_runs && strcmp(this_run, run) != 0)
            return rp_fail(err, errlen, "%s belongs to run '%s', %s to run '%s': one report covers "
                                     "one run (--combine-runs to add up several)",
                        t->path, this_run, first->path, run);
        if (!combine_runs && t->world_size != first->world_size)
            return rp_fail(err, errlen, "%s says the job has %llu ranks, %s says %llu", t->path,
                        (unsigned long long)t->world_size, first->path,
                        (unsigned long long)first->world_size);
        for (uint32_t j = 0; j < i; j++) {
            const rp_trace *u = &m->traces[j];
            if (t->rank >= 0 && t->rank == u->rank &&
                strcmp(this_run, u->run_id ? u->run_id : "") == 0)
                return rp_fail(err, errlen, "rank %lld of run '%s' appears twice: %s and %s",
                            (long long)t->rank, this_run, u->path, t->path);
        }
    }
    return 0;
}

static int coverage(rp_report *r, const rp_model *m, const rp_report_options *opt, char *err,
                    size_t errlen)
{
    if (!m->n_traces)
        return 0;
    if (rp_check_traces(m, opt->combine_runs, err, errlen) != 0)
        return -1;
    snprintf(r->run_id, sizeof r->run_id, "%s", m->traces[0].run_id ? m->traces[0].run_id : "");
    r->world_size = m->traces[0].world_size;
    for (uint32_t i = 0; i < m->n_traces; i++)
        if (m->traces[i].usable_partial)
            r->incomplete = 1;
    r->ranks_covered = m->n_traces;
    r->scale = 1;
    if (!opt->combine_runs && r->world_size > r->ranks_covered) {
        r->incomplete = 1;
        if (opt->scale_to_world_size)
            r->scale = (double)r->world_size / (double)r->ranks_covered;
    }
    uint32_t partial = 0;
    for (uint32_t i = 0; i < m->n_traces; i++)
        partial += m->traces[i].usable_partial;
    size_t n = 0, len = sizeof r->incomplete_note;
    if (!opt->combine_runs && r->world_size > r->ranks_covered)
        n += (size_t)snprintf(r->incomplete_note + n, len - n,
                              "The traces of %u of %llu ranks were given%s.", r->ranks_covered,
                              (unsigned long long)r->world_size,
                              r->scale != 1 ? "; the totals are scaled up to all ranks"
                                            : ", so the job's totals are larger");
    if (partial && n < len)
        snprintf(r->incomplete_note + n, len - n,
                 "%s%u trace%s damaged or unfinished and used up to that point.", n ? " " : "",
                 partial, partial == 1 ? " is" : "s are");
    return 0;
}

/* ---- utilisation -------------------------------------------------------------------------- */

static void utilization(rp_report *r)
{
    const rp_model *m = r->m;
    rp_utilization *u = &r->util;
    u->peak_flops = NAN;
    u->mfu = u->hfu = u->mfu_palm = u->peak_time_share = NAN;
    u->gpu_seconds = 0; /* computed afresh: this runs before and after the estimates */
    for (uint32_t i = 0; i < m->n_traces; i++) {
        const rp_trace *t = &m->traces[i];
        double s = t->end_ns > t->start_ns ? (double)(t->end_ns - t->start_ns) / 1e9 : 0;
        u->gpu_seconds += s * (t->devices ? t->devices : 1);
    }
    if (m->n_traces == 0 && !isnan(r->facts->v[RP_F_GPU_HOURS]))
        u->gpu_seconds = r->facts->v[RP_F_GPU_HOURS] * 3600;
    u->gpu_seconds *= r->scale;

    /* the dominant precision: the floating-point tensor class with the most work, else any
     * floating-point class (MFU is about FLOP; integer work has its own peak) */
    double best = -1;
    for (int pass = 0; pass < 2 && best <= 0; pass++)
        for (unsigned c = 0; c < 256; c++) {
            if ((pass == 0 && !(c & FM_CLASS_TENSOR)) || fm_precision_class_is_integer((uint8_t)c))
                continue;
            double ops = 0;
            for (int k = 0; k < RP_CATEGORIES; k++)
                ops += m->by_class[k][c].measured + m->by_class[k][c].extrapolated;
            if (ops > best && ops > 0) {
                best = ops;
                u->peak_class = (uint8_t)c;
            }
        }
    if (best <= 0)
        u->peak_class = FM_CLASS_TENSOR | FM_FMT_BF16; /* nothing measured: the usual choice */

    const char *device = m->n_traces ? m->traces[0].device_name : r->facts->gpu_name;
    u->peaks = rp_peaks_for(r->data, device);
    char cls[32];
    fm_precision_class_name(u->peak_class, cls, sizeof cls);
    if (!isnan(r->facts->v[RP_F_PEAK_TFLOPS])) {
        u->peak_flops = r->facts->v[RP_F_PEAK_TFLOPS] * 1e12;
        snprintf(u->peak_from, sizeof u->peak_from, "%s", r->facts->source[RP_F_PEAK_TFLOPS]);
    } else if (u->peaks && !isnan(u->peaks->dense_tflops[u->peak_class])) {
        u->peak_flops = u->peaks->dense_tflops[u->peak_class] * 1e12;
        snprintf(u->peak_from, sizeof u->peak_from, "peak table %s, %s (dense)%s", u->peaks->id,
                 cls, u->peaks->verified ? "" : ", not verified against the primary source");
    } else {
        snprintf(u->peak_from, sizeof u->peak_from, "no peak known for %s on %s", cls,
                 device && *device ? device : "an unknown GPU");
    }
    if (!(u->gpu_seconds > 0) || isnan(u->peak_flops))
        return;
    double denom = u->gpu_seconds * u->peak_flops;
    u->mfu = r->model_fp.value / denom;
    u->hfu = r->executed_fp.value / denom;
    if (r->estimates[FM_EST_PALM].e.available)
        u->mfu_palm = r->estimates[FM_EST_PALM].e.flop / denom;
    if (u->peaks) {
        /* classes the table has no peak for are left out while they hold under 1% of the
         * work; beyond that the figure would mislead and stays unknown */
        double seconds_at_peak = 0, ops_total = 0, ops_without_peak = 0;
        for (unsigned c = 0; c < 256; c++) {
            double ops = 0;
            for (int k = 0; k < RP_CATEGORIES; k++)
                ops += m->by_class[k][c].measured + m->by_class[k][c].extrapolated;
            if (ops <= 0)
                continue;
            ops_total += ops;
            double peak = u->peaks->dense_tflops[c];
            if (isnan(peak))
                ops_without_peak += ops;
            else
                seconds_at_peak += ops * r->scale / (peak * 1e12);
        }
        if (ops_without_peak <= 0.01 * ops_total)
            u->peak_time_share = seconds_at_peak / u->gpu_seconds;
    }
}

static void hardware_days(rp_report *r)
{
    const rp_model *m = r->m;
    r->hw_days = calloc(m->n_traces ? m->n_traces : 1, sizeof *r->hw_days);
    if (!r->hw_days)
        return;
    for (uint32_t i = 0; i < m->n_traces; i++) {
        const rp_trace *t = &m->traces[i];
        const char *dev = t->device_name && *t->device_name ? t->device_name : "unknown GPU";
        rp_hardware_days *h = NULL;
        for (uint32_t k = 0; k < r->n_hw_days; k++)
            if (strcmp(r->hw_days[k].device, dev) == 0)
                h = &r->hw_days[k];
        if (!h) {
            h = &r->hw_days[r->n_hw_days++];
            snprintf(h->device, sizeof h->device, "%s", dev);
        }
        double s = t->end_ns > t->start_ns ? (double)(t->end_ns - t->start_ns) / 1e9 : 0;
        uint32_t gpus = t->devices ? t->devices : 1;
        h->gpu_seconds += s * gpus * r->scale;
        h->gpus += gpus;
    }
}

/* ---- projection --------------------------------------------------------------------------- */

/* Two-sided 95% quantile of Student's t with df degrees of freedom (df >= 3). */
static double t95(uint64_t df)
{
    static const double t[] = {0, 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262};
    return df < sizeof t / sizeof t[0] ? t[df] : RP_Z95;
}

/* Relative half-width (95%) of the operations-per-token rate on a basis, from batches of the
 * timeline holding similar numbers of tokens (batch means, Student's t). NAN when there are
 * fewer than four batches with tokens. */
static double rate_rel_half_width(const rp_model *m, uint32_t mask, int with_integer)
{
    const rp_timeline *tl = &m->timeline;
    double total_tokens = 0;
    for (uint32_t i = 0; i < tl->n; i++)
        total_tokens += tl->b[i].tokens;
    if (!(total_tokens > 0))
        return NAN;
    enum { BATCHES = 10 };
    double ops[BATCHES] = {0}, tok[BATCHES] = {0}, seen = 0;
    for (uint32_t i = 0; i < tl->n; i++) {
        int k = (int)fmin(BATCHES - 1, floor(seen / total_tokens * BATCHES));
        for (int c = 0; c < RP_CATEGORIES; c++)
            if (mask & bit((uint32_t)c))
                ops[k] += tl->b[i].ops[c][RP_FP] + (with_integer ? tl->b[i].ops[c][RP_INT] : 0);
        tok[k] += tl->b[i].tokens;
        seen += tl->b[i].tokens;
    }
    rp_welford w = {0};
    for (int k = 0; k < BATCHES; k++)
        if (tok[k] > 0)
            rp_welford_add(&w, ops[k] / tok[k]);
    if (w.n < 4 || !(w.mean > 0))
        return NAN;
    return t95(w.n - 1) * sqrt(rp_welford_variance(&w) / (double)w.n) / w.mean;
}

static void plan(rp_report *r)
{
    const rp_facts *f = r->facts;
    r->plan_tokens = NAN;
    r->measured_tokens = f->v[RP_F_TOKENS];
    /* tokens per step of the whole job: the given ranks' tokens stand for their share */
    double share = r->world_size > r->ranks_covered && r->ranks_covered && !r->combine_runs
                       ? (double)r->world_size / (double)r->ranks_covered
                       : 1;
    if (!f->tokens_from_traces)
        share = 1; /* a model spec or option gives the job's tokens */
    r->tokens_per_step = !isnan(f->v[RP_F_STEPS]) && f->v[RP_F_STEPS] > 0
                             ? f->v[RP_F_TOKENS] * share / f->v[RP_F_STEPS]
                             : NAN;
    if (!isnan(f->v[RP_F_PLAN_TOKENS])) {
        r->plan_tokens = f->v[RP_F_PLAN_TOKENS];
        snprintf(r->plan_from, sizeof r->plan_from, "plan.tokens, %s",
                 f->source[RP_F_PLAN_TOKENS]);
    } else if (!isnan(f->v[RP_F_PLAN_STEPS]) && !isnan(r->tokens_per_step)) {
        r->plan_tokens = f->v[RP_F_PLAN_STEPS] * r->tokens_per_step;
        snprintf(r->plan_from, sizeof r->plan_from, "plan.steps (%s) times the measured tokens "
                                                   "per step",
                 f->source[RP_F_PLAN_STEPS]);
    }
    r->projection = !r->estimate_only && !isnan(r->plan_tokens) && r->measured_tokens > 0;
    if (r->projection && r->wall_seconds > 0 &&
        (r->world_size <= r->ranks_covered || r->scale != 1 || r->combine_runs)) {
        double job_tokens = r->measured_tokens * share;
        r->projection_drawable = 1;
        r->projected_executed = r->executed_fp.value / r->scale / r->measured_tokens *
                                r->plan_tokens;
        r->projected_seconds = r->wall_seconds * r->plan_tokens / job_tokens;
    }
    r->rate_half_width_rel = rate_rel_half_width(r->m, ALL_CATEGORIES, 0);
}

/* ---- rules -------------------------------------------------------------------------------- */

static double line_of(const rp_report *r, const rp_threshold *t, char *from, size_t len)
{
    const rp_facts *f = r->facts;
    char a[48], b[48];
    if (t->absolute) {
        snprintf(from, len, "the profile's value");
        return t->value;
    }
    if (!isnan(f->v[RP_F_ORIGINAL_COMPUTE])) {
        snprintf(from, len, "%s of the original model's compute %s FLOP (%s)",
                 rp_fmt_g(t->relative), rp_fmt_sci(f->v[RP_F_ORIGINAL_COMPUTE], 2, 1, a, sizeof a),
                 f->source[RP_F_ORIGINAL_COMPUTE]);
        return t->relative * f->v[RP_F_ORIGINAL_COMPUTE];
    }
    if (f->original_systemic == 1) {
        snprintf(from, len, "fallback for an original model with systemic risk (its compute "
                            "not given)");
        return t->fallback_systemic;
    }
    if (f->original_systemic == 0) {
        snprintf(from, len, "fallback for an original model without systemic risk (its compute "
                            "not given)");
        return t->fallback;
    }
    snprintf(from, len, "the lower fallback (%s FLOP); %s FLOP if the original model has "
                        "systemic risk; give original.compute for the exact line",
             rp_fmt_sci(t->fallback, 2, 1, a, sizeof a),
             rp_fmt_sci(t->fallback_systemic, 2, 1, b, sizeof b));
    return fmin(t->fallback, t->fallback_systemic);
}

static int beyond(double v, double line, int or_equal)
{
    return or_equal ? v >= line : v > line;
}

/* Does an estimate estimate what a rule basis counts? Training-work formulas fit every basis
 * that counts training; those with recomputation only bases that count recomputation; the
 * hardware-based estimate (everything executed) only bases that leave nothing out. */
static int estimate_fits(fm_estimate_basis b, uint32_t mask)
{
    switch (b) {
    case FM_BASIS_MODEL:
        return (mask & bit(FM_PHASE_PRETRAINING)) || (mask & bit(FM_PHASE_FINETUNING));
    case FM_BASIS_MODEL_RECOMPUTE:
        return (mask & bit(FM_PHASE_RECOMPUTATION)) != 0;
    case FM_BASIS_EXECUTED:
        return (mask & ALL_CATEGORIES) == ALL_CATEGORIES;
    }
    return 0;
}

static int straddles(double estimate, double line)
{
    return estimate > 0 && (1 - RP_MARGIN) * estimate <= line && line <= (1 + RP_MARGIN) * estimate;
}

void rp_straddling_names(const rp_report *r, uint32_t mask, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i <= FM_EST_COUNT; i++) {
        if (!(mask & (1u << i)))
            continue;
        const char *name = i == FM_EST_COUNT ? "the measurement" : r->estimates[i].e.name;
        used += (size_t)snprintf(buf + used, used < len ? len - used : 0, "%s%s",
                                 used ? ", " : "", name);
    }
}

static void verdict(const rp_report *r, const rp_profile *p, rp_threshold_result *x)
{
    char c[48], l[48], pct[24], names[400];
    const rp_threshold *t = x->t;
    size_t n = 0, len = sizeof x->verdict;
    char *v = x->verdict;
#define SAY(...) (n += (size_t)snprintf(v + n, n < len ? len - n : 0, __VA_ARGS__))
    if (strcmp(p->status, "revoked") == 0)
        SAY("Historical (revoked): ");
    else if (strcmp(p->status, "draft") == 0)
        SAY("Draft rule: ");
    if (x->condition == 0) {
        char mods[64], decl[64];
        rp_modalities_name(t->modalities, mods, sizeof mods);
        rp_modalities_name(r->facts->modalities, decl, sizeof decl);
        SAY("does not apply: it concerns models whose output is %s, the model's declared output "
            "is %s. ", mods, decl);
    }
    SAY("%s %s FLOP %s is %s of the line at %s FLOP",
        x->crossed ? "Over the line:" : "Under the line:",
        rp_fmt_sci(x->counted, 2, 1, c, sizeof c),
        r->estimate_only ? r->estimates[r->primary_estimate].e.name : "counted",
        rp_fmt_percent(x->fraction, pct, sizeof pct), rp_fmt_sci(x->threshold, 2, 1, l, sizeof l));
    if (x->straddling) {
        rp_straddling_names(r, x->straddling, names, sizeof names);
        SAY("; within the ±30%% margin of %s", names);
    }
    SAY(".");
    if (x->condition == -1) {
        char mods[64];
        rp_modalities_name(t->modalities, mods, sizeof mods);
        SAY(" It applies only to models whose output is %s; the model's modality is not "
            "declared.", mods);
    }
    if (t->condition_note)
        SAY(" Condition: %s.", t->condition_note);
    if (t->other_conditions)
        SAY(" Not checked by flopmeter: %s.", t->other_conditions);
    if (r->incomplete && r->scale == 1 && r->world_size > r->ranks_covered)
        SAY(" The traces cover %u of %llu ranks: the job's compute is larger.", r->ranks_covered,
            (unsigned long long)r->world_size);
    if (x->projected) {
        char pt[48], ct[48], cs[48], hw[24];
        SAY(" The planned run would reach %s FLOP (±%s)",
            rp_fmt_sci(x->projected_total, 2, 1, pt, sizeof pt),
            rp_fmt_percent(x->projected_total > 0 ? x->projected_half_width / x->projected_total
                                                  : 0,
                           hw, sizeof hw));
        if (x->crosses_in_plan && !x->crossed)
            SAY(" and cross the line at token %s%s%s (%s of the plan)",
                rp_fmt_sci(x->cross_tokens, 2, 1, ct, sizeof ct),
                isnan(x->cross_steps) ? "" : ", step ",
                isnan(x->cross_steps) ? "" : rp_fmt_sci(x->cross_steps, 2, 1, cs, sizeof cs),
                rp_fmt_percent(x->cross_fraction_of_plan, pct, sizeof pct));
        else if (!x->crosses_in_plan)
            SAY(", under the line");
        SAY(".");
    }
#undef SAY
}

static int rules(rp_report *r, const rp_report_options *opt, char *err, size_t errlen)
{
    const rp_data *d = r->data;
    r->profiles = calloc(d->n_profiles ? d->n_profiles : 1, sizeof *r->profiles);
    if (!r->profiles)
        return rp_fail(err, errlen, "out of memory");
    int found = 0;
    for (uint32_t pi = 0; pi < d->n_profiles; pi++) {
        const rp_profile *p = &d->profiles[pi];
        if (opt->only_profile && strcmp(opt->only_profile, p->id) != 0)
            continue;
        found = 1;
        rp_profile_result *pr = &r->profiles[r->n_profiles++];
        pr->p = p;
        pr->bases = calloc(p->n_bases, sizeof *pr->bases);
        pr->thresholds = calloc(p->n_thresholds, sizeof *pr->thresholds);
        if (!pr->bases || !pr->thresholds)
            return rp_fail(err, errlen, "out of memory");
        for (uint32_t bi = 0; bi < p->n_bases; bi++) {
            rp_basis_result *br = &pr->bases[bi];
            br->b = &p->bases[bi];
            uint32_t mask = br->b->categories;
            br->counted = scaled(rp_amount_in(r->m, mask, p->counts_integer), r->scale);
            if (r->estimate_only) {
                rp_amount est = {r->estimates[r->primary_estimate].e.flop, 0, 0};
                br->counted = est;
            }
            if (p->counts_integer)
                br->integer_ops = (rp_ops_in(r->m, mask, 1) - rp_ops_in(r->m, mask, 0)) * r->scale;
            for (uint32_t c = 0; c < RP_CATEGORIES; c++)
                if (!(mask & bit(c)))
                    br->excluded[c] = rp_ops_in(r->m, bit(c), p->counts_integer) * r->scale;
            br->rate_per_token = r->measured_tokens > 0
                                     ? br->counted.value / r->scale / r->measured_tokens
                                     : NAN;
            if (br->b->includes_prior && !isnan(r->facts->v[RP_F_PRIOR_COMPUTE])) {
                /* added after the rate: earlier runs do not scale with this run's tokens */
                br->prior = r->facts->v[RP_F_PRIOR_COMPUTE];
                br->counted.value += br->prior;
            }
        }
        for (uint32_t ti = 0; ti < p->n_thresholds; ti++) {
            rp_threshold_result *x = &pr->thresholds[ti];
            const rp_threshold *t = &p->thresholds[ti];
            const rp_basis_result *br = &pr->bases[t->basis];
            x->t = t;
            x->threshold = line_of(r, t, x->threshold_from, sizeof x->threshold_from);
            x->counted = br->counted.value;
            x->fraction = x->counted / x->threshold;
            x->crossed = beyond(x->counted, x->threshold, t->or_equal);
            x->condition = !t->modalities ? 1
                           : !r->facts->modalities ? -1
                           : (t->modalities & r->facts->modalities) != 0;
            if (straddles(x->counted, x->threshold))
                /* in estimate mode the chosen estimate stands for the count: it is named */
                x->straddling |= 1u << (r->estimate_only ? r->primary_estimate : FM_EST_COUNT);
            for (int e = 0; e < FM_EST_COUNT; e++)
                if (r->estimates[e].e.available &&
                    estimate_fits(r->estimates[e].e.basis, br->b->categories) &&
                    straddles(r->estimates[e].e.flop, x->threshold))
                    x->straddling |= 1u << e;
            if (r->projection && br->rate_per_token > 0) {
                double measured = br->counted.value - br->prior;
                double rel_meas = measured > 0 ? br->counted.half_width / measured : 0;
                double rel_rate = rate_rel_half_width(r->m, br->b->categories, p->counts_integer);
                if (isnan(rel_rate))
                    rel_rate = 0;
                double run = br->rate_per_token * r->plan_tokens;
                x->projected = 1;
                x->projected_total = run + br->prior;
                x->projected_half_width = run * sqrt(rel_meas * rel_meas + rel_rate * rel_rate);
                x->crosses_in_plan = beyond(x->projected_total, x->threshold, t->or_equal);
                x->cross_tokens = fmax(0, x->threshold - br->prior) / br->rate_per_token;
                x->cross_steps = isnan(r->tokens_per_step) ? NAN
                                                           : x->cross_tokens / r->tokens_per_step;
                x->cross_fraction_of_plan = x->cross_tokens / r->plan_tokens;
            }
            verdict(r, p, x);
        }
    }
    if (opt->only_profile && !found)
        return rp_fail(err, errlen, "--profile: no profile named '%s' (see flopmeter report "
                                 "--list-profiles)", opt->only_profile);
    return 0;
}

/* ---- orderings ---------------------------------------------------------------------------- */

static const double *sort_keys;
static int by_key_desc(const void *a, const void *b)
{
    double x = sort_keys[*(const uint32_t *)a], y = sort_keys[*(const uint32_t *)b];
    if (x != y)
        return x < y ? 1 : -1;
    return (*(const uint32_t *)a > *(const uint32_t *)b) - (*(const uint32_t *)a < *(const uint32_t *)b);
}

static uint32_t *order_by(const double *keys, uint32_t n)
{
    uint32_t *o = calloc(n ? n : 1, sizeof *o);
    if (!o)
        return NULL;
    for (uint32_t i = 0; i < n; i++)
        o[i] = i;
    sort_keys = keys; /* qsort has no context argument in C11 */
    qsort(o, n, sizeof *o, by_key_desc);
    return o;
}

static int orderings(rp_report *r)
{
    const rp_model *m = r->m;
    double *k = calloc((m->n_sigs > m->n_phases ? m->n_sigs : m->n_phases) + 1, sizeof *k);
    r->callsite_ops = calloc(m->n_callsites + 1, sizeof *r->callsite_ops);
    r->callsite_sigs = calloc(m->n_callsites + 1, sizeof *r->callsite_sigs);
    if (!k || !r->callsite_ops || !r->callsite_sigs) {
        free(k);
        return -1;
    }
    for (uint32_t i = 0; i < m->n_sigs; i++) {
        const rp_signature *s = &m->sigs[i];
        k[i] = s->ops[RP_FP].measured + s->ops[RP_FP].extrapolated;
        if (s->callsite) {
            r->callsite_ops[s->callsite - 1] += k[i];
            r->callsite_sigs[s->callsite - 1]++;
        }
        if (s->launch_ops[RP_FP].n >= 2 && s->launch_ops[RP_FP].mean > 0 &&
            sqrt(rp_welford_variance(&s->launch_ops[RP_FP])) > 1e-6 * s->launch_ops[RP_FP].mean)
            r->variable_signatures++;
    }
    r->sig_order = order_by(k, m->n_sigs);
    for (uint32_t i = 0; i < m->n_phases; i++)
        k[i] = m->phases[i].ops[RP_FP].measured + m->phases[i].ops[RP_FP].extrapolated;
    r->phase_order = order_by(k, m->n_phases);
    r->callsite_order = order_by(r->callsite_ops, m->n_callsites);
    free(k);
    return r->sig_order && r->phase_order && r->callsite_order ? 0 : -1;
}

/* ---- methodology -------------------------------------------------------------------------- */

static void methodology(rp_report *r)
{
    const rp_model *m = r->m;
    char *s = r->methodology;
    size_t n = 0, len = sizeof r->methodology;
    char a[48], b[48], pct[24], pct2[24], pct3[24];
#define SAY(...) (n += (size_t)snprintf(s + n, n < len ? len - n : 0, __VA_ARGS__))
    double launches = (double)m->launches;
    if (r->estimate_only) {
        SAY("Compute was estimated, not measured: %s (%s) applied to the declared facts "
            "(model, data and hardware as listed). Energy was not estimated.",
            r->estimates[r->primary_estimate].e.name, r->estimates[r->primary_estimate].e.form);
        return;
    }
    SAY("Compute was measured with flopmeter, which reads the GPUs' hardware performance "
        "counters (CUPTI) for the floating-point operations kernels execute, on CUDA cores and "
        "tensor cores, by precision. ");
    if (m->n_traces)
        SAY("The %u trace%s cover%s %u of %s ranks, %s of wall-clock time, %s GPU-hours. ",
            m->n_traces, m->n_traces == 1 ? "" : "s", m->n_traces == 1 ? "s" : "",
            r->ranks_covered,
            r->world_size ? rp_fmt_g((double)r->world_size) : "an unknown number of",
            rp_fmt_duration(r->wall_seconds, a, sizeof a),
            rp_fmt_g(rp_round_sig(r->util.gpu_seconds / 3600, 3)));
    if (launches > 0)
        SAY("Of %s kernel launches, %s were measured directly, %s were credited with the mean "
            "measured for the same kernel signature, and %s were not measured. ",
            rp_fmt_g(launches), rp_fmt_percent((double)m->launches_measured / launches, pct, sizeof pct),
            rp_fmt_percent((double)m->launches_extrapolated / launches, pct2, sizeof pct2),
            rp_fmt_percent((double)m->launches_unmeasured / launches, pct3, sizeof pct3));
    if (r->executed_fp.value > 0)
        SAY("The GPUs executed %s floating-point operations (95%% interval ±%s from the sampled "
            "launches); %s of them were counted directly. ",
            rp_fmt_sci(r->executed_fp.value, 2, 1, a, sizeof a),
            rp_fmt_percent(r->executed_fp.half_width / r->executed_fp.value, pct, sizeof pct),
            rp_fmt_percent(r->measured_fp / (r->measured_fp + r->extrapolated_fp), pct2,
                           sizeof pct2));
    double excl[RP_CATEGORIES] = {0};
    for (uint32_t c = 0; c < RP_CATEGORIES; c++)
        excl[c] = rp_ops_in(m, bit(c), 0) * r->scale;
    int first = 1;
    for (uint32_t c = 0; c < RP_CATEGORIES; c++) {
        if (MODEL_MASK & bit(c) || excl[c] <= 0)
            continue;
        SAY("%s%s %s FLOP", first ? "Work attributed to phases that training-compute rules "
                                    "exclude: "
                                  : ", ",
            fm_phase_category_name(c), rp_fmt_sci(excl[c], 2, 1, b, sizeof b));
        first = 0;
    }
    if (!first)
        SAY(". ");
    if (m->n_degradations)
        SAY("The tool recorded %u degradation event%s (listed in the report). ",
            m->n_degradations, m->n_degradations == 1 ? "" : "s");
    SAY("Energy was not measured.");
#undef SAY
}

/* ---- the whole report --------------------------------------------------------------------- */

int rp_report_compute(rp_report *r, const rp_model *m, const rp_facts *facts,
                      const rp_data *data, const rp_report_options *opt, char *err,
                      size_t errlen)
{
    static const rp_report_options defaults = {0};
    if (!opt)
        opt = &defaults;
    memset(r, 0, sizeof *r);
    r->m = m;
    r->facts = facts;
    r->data = data;
    r->scale = 1;
    r->estimate_only = opt->estimate_only;
    r->primary_estimate = opt->primary_estimate;
    r->combine_runs = opt->combine_runs;
    if (coverage(r, m, opt, err, errlen) != 0)
        return -1;

    r->executed_fp = scaled(rp_amount_in(m, ALL_CATEGORIES, 0), r->scale);
    r->executed_int = (rp_ops_in(m, ALL_CATEGORIES, 1) - rp_ops_in(m, ALL_CATEGORIES, 0)) * r->scale;
    r->model_fp = scaled(rp_amount_in(m, MODEL_MASK, 0), r->scale);
    r->model_recompute_fp =
        scaled(rp_amount_in(m, MODEL_MASK | bit(FM_PHASE_RECOMPUTATION), 0), r->scale);
    for (uint32_t c = 0; c < RP_CATEGORIES; c++)
        for (unsigned k = 0; k < 256; k++)
            if (!fm_precision_class_is_integer((uint8_t)k)) {
                r->measured_fp += m->by_class[c][k].measured * r->scale;
                r->extrapolated_fp += m->by_class[c][k].extrapolated * r->scale;
            }
    if (m->n_traces) {
        uint64_t start = UINT64_MAX, end = 0;
        for (uint32_t i = 0; i < m->n_traces; i++) {
            if (m->traces[i].start_ns < start)
                start = m->traces[i].start_ns;
            if (m->traces[i].end_ns > end)
                end = m->traces[i].end_ns;
        }
        r->start_unix_ns = start;
        r->end_unix_ns = end;
        r->wall_seconds = end > start ? (double)(end - start) / 1e9 : 0;
    }

    /* utilisation first (the hardware estimate needs the peak), then the estimates */
    fm_estimate none[FM_EST_COUNT];
    fm_model_facts mf = rp_facts_model(facts);
    /* scaled to all ranks, the measurement stands for the job: so must the declared tokens */
    if (facts->tokens_from_traces)
        mf.tokens *= r->scale;
    fm_estimates_compute(&mf, NULL, none);
    for (int i = 0; i < FM_EST_COUNT; i++)
        r->estimates[i].e = none[i];
    utilization(r);
    fm_hardware_facts hw = {r->util.gpu_seconds, r->util.peak_flops,
                            isnan(facts->v[RP_F_UTILIZATION]) ? DEFAULT_UTILIZATION
                                                               : facts->v[RP_F_UTILIZATION]};
    fm_estimate est[FM_EST_COUNT];
    fm_estimates_compute(&mf, &hw, est);
    for (int i = 0; i < FM_EST_COUNT; i++) {
        rp_estimate_row *row = &r->estimates[i];
        row->e = est[i];
        row->measured = est[i].basis == FM_BASIS_MODEL ? r->model_fp.value
                        : est[i].basis == FM_BASIS_MODEL_RECOMPUTE ? r->model_recompute_fp.value
                                                                   : r->executed_fp.value;
        row->ratio = est[i].available && row->measured > 0 ? est[i].flop / row->measured : NAN;
    }
    utilization(r); /* again: the PaLM-based MFU needs the estimates */
    r->flopcounter = facts->v[RP_F_FLOPCOUNTER] * (facts->flopcounter_from_traces ? r->scale : 1);
    if (r->estimate_only && (r->primary_estimate < 0 || r->primary_estimate >= FM_EST_COUNT ||
                             !r->estimates[r->primary_estimate].e.available)) {
        const fm_estimate *e = &r->estimates[r->primary_estimate >= 0 &&
                                                     r->primary_estimate < FM_EST_COUNT
                                                 ? r->primary_estimate
                                                 : 0].e;
        return rp_fail(err, errlen, "%s needs %s (declare it in the model spec or give it as an "
                                 "option)", e->name, e->missing ? e->missing : "more facts");
    }
    hardware_days(r);
    plan(r);
    if (rules(r, opt, err, errlen) != 0 || orderings(r) != 0) {
        int internal = !*err || strstr(err, "out of memory") != NULL;
        if (!*err)
            rp_fail(err, errlen, "out of memory");
        rp_report_free(r);
        return internal ? RP_E_INTERNAL : -1;
    }
    methodology(r);
    return 0;
}

void rp_report_free(rp_report *r)
{
    for (uint32_t i = 0; i < r->n_profiles; i++) {
        free(r->profiles[i].bases);
        free(r->profiles[i].thresholds);
    }
    free(r->profiles);
    free(r->hw_days);
    free(r->sig_order);
    free(r->callsite_order);
    free(r->phase_order);
    free(r->callsite_ops);
    free(r->callsite_sigs);
    memset(r, 0, sizeof *r);
}

static int starts_with(const char *s, const char *prefix)
{
    size_t n = strlen(prefix);
    return strlen(s) >= n && memcmp(s, prefix, n) == 0;
}

const char *rp_callsite_label(const rp_callsite *c, char *buf, size_t len)
{
    static const char *const plumbing[] = {"libcuda.so", "libcudart", "libcublas", "libcudnn",
                                           "libcupti", "libflopmeter", "libnccl"};
    const rp_frame *pick = NULL;
    for (uint32_t i = 0; i < c->n_frames && !pick; i++) {
        const char *mod = c->frames[i].module ? c->frames[i].module : "";
        const char *base = strrchr(mod, '/') ? strrchr(mod, '/') + 1 : mod;
        int skip = 0;
        for (size_t k = 0; k < sizeof plumbing / sizeof *plumbing; k++)
            skip |= starts_with(base, plumbing[k]);
        if (!skip)
            pick = &c->frames[i];
    }
    if (!pick && c->n_frames)
        pick = &c->frames[0];
    if (!pick) {
        snprintf(buf, len, "(no frames)");
        return buf;
    }
    const char *mod = pick->module ? pick->module : "";
    const char *base = strrchr(mod, '/') ? strrchr(mod, '/') + 1 : mod;
    if (pick->symbol && *pick->symbol)
        snprintf(buf, len, "%s (%s)", pick->symbol, *base ? base : "?");
    else
        snprintf(buf, len, "%s+0x%llx", *base ? base : "?", (unsigned long long)pick->offset);
    return buf;
}
