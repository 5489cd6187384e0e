/* metric_groups.c - the greedy single-pass partition of a catalog (metric_groups.h).
 *
 * First fit in catalog order rather than an optimal packing: the oracle is a black box that
 * costs milliseconds per question, first fit needs at most leaves x groups questions, and
 * its result depends on nothing but the catalog order and the oracle's answers, which makes
 * it reproducible from the catalog alone. */
#include "metric_groups.h"

#include <string.h>

static int ask(fm_pass_oracle oracle, void *ctx, fm_group_plan *plan,
               const char *const *names, size_t n, size_t *passes)
{
    plan->oracle_calls++;
    return oracle(ctx, names, n, passes);
}

static void append(fm_metric_group *g, const fm_catalog_metric *m)
{
    g->metrics[g->n] = m;
    g->names[g->n] = m->name;
    g->n++;
}

/* 1 when m can join g without a second pass. An oracle error on a combination of metrics
 * that each passed alone means "not together". */
static int fits(fm_pass_oracle oracle, void *ctx, fm_group_plan *plan, fm_metric_group *g,
                const fm_catalog_metric *m)
{
    if (g->n == FM_GROUP_MAX_METRICS)
        return 0;
    g->names[g->n] = m->name; /* tentatively; n is not advanced */
    size_t passes = 0;
    int ok = ask(oracle, ctx, plan, g->names, g->n + 1, &passes) == 0 && passes == 1;
    g->names[g->n] = NULL;
    return ok;
}

int fm_groups_build(const fm_chip_family *family, fm_pass_oracle oracle, void *ctx,
                    fm_group_plan *plan)
{
    if (!plan)
        return -1;
    memset(plan, 0, sizeof *plan);
    if (!family || !oracle || family->n_metrics > FM_CATALOG_MAX_METRICS)
        return -1;
    plan->family = family;
    for (size_t i = 0; i < family->n_metrics; i++) {
        const fm_catalog_metric *m = &family->metrics[i];
        size_t passes = 0;
        if (ask(oracle, ctx, plan, &m->name, 1, &passes) != 0) {
            plan->rejected[plan->n_rejected++] = m;
            continue;
        }
        if (passes != 1) {
            plan->multipass[plan->n_multipass++] = m;
            continue;
        }
        size_t g = 0;
        while (g < plan->n_groups && !fits(oracle, ctx, plan, &plan->groups[g], m))
            g++;
        if (g < plan->n_groups) {
            append(&plan->groups[g], m);
            continue;
        }
        /* A new group; every leaf that got here passed alone, so there are never more groups
         * than leaves. */
        fm_metric_group *ng = &plan->groups[plan->n_groups++];
        const char *const with_duration[2] = {fm_catalog_duration.name, m->name};
        if (ask(oracle, ctx, plan, with_duration, 2, &passes) == 0 && passes == 1) {
            append(ng, &fm_catalog_duration);
            ng->has_duration = 1;
        }
        append(ng, m);
    }
    return 0;
}

size_t fm_groups_leaves_placed(const fm_group_plan *plan)
{
    size_t n = 0;
    for (size_t g = 0; g < plan->n_groups; g++)
        n += plan->groups[g].n - (plan->groups[g].has_duration ? 1 : 0);
    return n;
}
