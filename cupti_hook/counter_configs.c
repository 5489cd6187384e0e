/* counter_configs.c - configuration images per metric group (see counter_configs.h). */
#include "counter_configs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cupti.h>

#include "metric_catalog.h"
#include "profiler_host.h"

/* A host object with the config's metrics, its configuration image and its passes. */
static int make_config(fm_counter_config *c, const char *chip, const uint8_t *availability,
                       char *why, size_t len)
{
    const char *call = "";
    int r = fm_profiler_host_config(chip, availability, c->names, c->n, &c->made, &call);
    return r ? fm_cupti_fail(why, len, r, "%s failed for chip %s", call, chip) : 0;
}

/* Each distinct name once (the duration is in several groups), and where each group's
 * metrics are in the list. */
static void list_every_metric(fm_counter_configs *c)
{
    fm_counter_config *all = &c->all;
    for (size_t g = 0; g < c->n_groups; g++) {
        const fm_metric_group *mg = &c->plan.groups[g];
        for (size_t i = 0; i < mg->n; i++) {
            size_t at = 0;
            while (at < all->n && strcmp(all->names[at], mg->names[i]) != 0)
                at++;
            if (at == all->n)
                all->names[all->n++] = mg->names[i];
            c->all_index[g][i] = (uint32_t)at;
        }
    }
}

static void note_left_out(fm_counter_configs *c)
{
    size_t used = 0;
    const fm_catalog_metric *const *lists[2] = {c->plan.multipass, c->plan.rejected};
    size_t counts[2] = {c->plan.n_multipass, c->plan.n_rejected};
    c->left_out[0] = '\0';
    c->n_left_out = counts[0] + counts[1];
    for (int l = 0; l < 2; l++)
        for (size_t i = 0; i < counts[l] && used < sizeof c->left_out; i++) {
            int n = snprintf(c->left_out + used, sizeof c->left_out - used, "%s%s",
                             used ? ", " : "", lists[l][i]->name);
            if (n < 0)
                break;
            used += (size_t)n;
        }
}

int fm_counter_configs_build(fm_counter_configs *c, const char *chip,
                             const uint8_t *availability, char *why, size_t len)
{
    memset(c, 0, sizeof *c);
    snprintf(c->chip, sizeof c->chip, "%s", chip ? chip : "");
    const fm_chip_family *family = fm_catalog_for_chip(c->chip);
    if (!family)
        return fm_cupti_fail(why, len, CUPTI_ERROR_NOT_SUPPORTED,
                             "chip %s is not in this release's metric catalog", c->chip);
    fm_host_oracle oracle = {.chip = c->chip, .counter_availability = availability};
    if (fm_groups_build(family, fm_profiler_host_passes, &oracle, &c->plan) != 0 ||
        c->plan.n_groups == 0)
        return fm_cupti_fail(why, len,
                             oracle.last_result ? oracle.last_result : CUPTI_ERROR_UNKNOWN,
                             "no metric group could be built for chip %s (last call: %s)",
                             c->chip, oracle.last_call ? oracle.last_call : "none");
    if (c->plan.n_groups > FM_CONFIGS_MAX_GROUPS)
        return fm_cupti_fail(why, len, CUPTI_ERROR_NOT_SUPPORTED,
                             "chip %s needs %zu metric groups", c->chip, c->plan.n_groups);
    c->n_groups = c->plan.n_groups;
    for (size_t g = 0; g < c->n_groups; g++) {
        const fm_metric_group *mg = &c->plan.groups[g];
        memcpy(c->group[g].names, mg->names, mg->n * sizeof *mg->names);
        c->group[g].n = mg->n;
        int rc = make_config(&c->group[g], c->chip, availability, why, len);
        if (rc)
            return rc;
    }
    list_every_metric(c);
    note_left_out(c);
    return make_config(&c->all, c->chip, availability, why, len);
}

void fm_counter_configs_free(fm_counter_configs *c)
{
    for (size_t g = 0; g < FM_CONFIGS_MAX_GROUPS; g++)
        fm_profiler_host_config_free(&c->group[g].made);
    fm_profiler_host_config_free(&c->all.made);
}
