/* report_model.c - the report's tables: job-wide signatures, call sites, phases and metric
 * groups found by content, the timeline, and the sums over phase categories. */
#define _GNU_SOURCE
#include "report_model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model_index.h"

void rp_welford_add(rp_welford *w, double x)
{
    w->n++;
    double d = x - w->mean;
    w->mean += d / (double)w->n;
    w->m2 += d * (x - w->mean);
}

double rp_welford_variance(const rp_welford *w)
{
    return w->n < 2 ? 0.0 : fmax(0.0, w->m2 / (double)(w->n - 1));
}

int rp_model_init(rp_model *m)
{
    memset(m, 0, sizeof *m);
    m->timeline.width_ns = 1000000000ull;
    m->index = rp_index_new();
    if (!m->index)
        return -1;
    /* phase 0: work outside any declared phase */
    if (rp_phase_get(m, "(no phase)", FM_PHASE_UNSPECIFIED) != 0) {
        rp_model_free(m);
        return -1;
    }
    return 0;
}

static void free_trace(rp_trace *t)
{
    free(t->path);
    free(t->run_id);
    free(t->host);
    free(t->tool_version);
    free(t->command);
    free(t->device_name);
    free(t->input_path);
    for (uint32_t i = 0; i < t->n_declared; i++) {
        free(t->declared[i].key);
        free(t->declared[i].text);
    }
    free(t->declared);
}

void rp_model_free(rp_model *m)
{
    for (uint32_t i = 0; i < m->n_traces; i++)
        free_trace(&m->traces[i]);
    free(m->traces);
    for (uint32_t i = 0; i < m->n_sigs; i++)
        free(m->sigs[i].groups);
    free(m->sigs);
    for (uint32_t i = 0; i < m->n_kernel_names; i++)
        free(m->kernel_names[i]);
    free(m->kernel_names);
    for (uint32_t i = 0; i < m->n_callsites; i++) {
        for (uint32_t f = 0; f < m->callsites[i].n_frames; f++) {
            free(m->callsites[i].frames[f].module);
            free(m->callsites[i].frames[f].symbol);
        }
        free(m->callsites[i].frames);
    }
    free(m->callsites);
    for (uint32_t i = 0; i < m->n_phases; i++)
        free(m->phases[i].name);
    free(m->phases);
    for (uint32_t i = 0; i < m->n_groups; i++) {
        for (uint32_t k = 0; k < m->groups[i].n_metrics; k++)
            free(m->groups[i].metric_names[k]);
        free(m->groups[i].metric_names);
        free(m->groups[i].classes);
        free(m->groups[i].weights);
        free(m->groups[i].chip);
    }
    free(m->groups);
    for (uint32_t i = 0; i < m->n_degradations; i++)
        free(m->degradations[i].message);
    free(m->degradations);
    free(m->sigphases);
    rp_index_free(m->index);
    memset(m, 0, sizeof *m);
}

/* Grows an array of elem-sized items so that one more fits. */
int rp_grow(void **arr, uint32_t *cap, uint32_t n, size_t elem)
{
    return rp_grow_from(arr, cap, n, elem, 16);
}

int rp_grow_from(void **arr, uint32_t *cap, uint32_t n, size_t elem, uint32_t first)
{
    if (n < *cap)
        return 0;
    uint32_t nc = *cap ? *cap * 2 : first;
    if (nc < *cap)
        return -1;
    void *p = realloc(*arr, (size_t)nc * elem);
    if (!p)
        return -1;
    memset((char *)p + (size_t)*cap * elem, 0, (size_t)(nc - *cap) * elem);
    *arr = p;
    *cap = nc;
    return 0;
}

double rp_ops_in(const rp_model *m, uint32_t category_mask, int with_integer)
{
    double sum = 0;
    for (uint32_t c = 0; c < RP_CATEGORIES; c++) {
        if (!(category_mask & (1u << c)))
            continue;
        for (unsigned k = 0; k < 256; k++) {
            if (!with_integer && fm_precision_class_is_integer((uint8_t)k))
                continue;
            sum += m->by_class[c][k].measured + m->by_class[c][k].extrapolated;
        }
    }
    return sum;
}

/* ---- timeline ----------------------------------------------------------------------------- */

static void merge_pairs(rp_timeline *tl)
{
    uint32_t n = (tl->n + 1) / 2;
    for (uint32_t i = 0; i < n; i++) {
        rp_bucket merged = tl->b[2 * i];
        if (2 * i + 1 < tl->n) {
            const rp_bucket *o = &tl->b[2 * i + 1];
            for (int c = 0; c < RP_CATEGORIES; c++)
                for (int k = 0; k < 2; k++)
                    merged.ops[c][k] += o->ops[c][k];
            merged.tokens += o->tokens;
            merged.steps += o->steps;
        }
        tl->b[i] = merged;
    }
    memset(&tl->b[n], 0, sizeof(rp_bucket) * (RP_MAX_BUCKETS - n));
    tl->n = n;
    tl->width_ns *= 2;
}

rp_bucket *rp_timeline_at(rp_timeline *tl, uint64_t t_ns)
{
    if (!tl->started) {
        tl->t0_ns = t_ns - t_ns % tl->width_ns;
        tl->started = 1;
    }
    if (t_ns < tl->t0_ns) {
        /* an earlier time (another rank, another input of a merged trace): move the buckets
         * right, widening them first when they would not fit */
        uint64_t shift = (tl->t0_ns - t_ns + tl->width_ns - 1) / tl->width_ns;
        while (tl->n + shift > RP_MAX_BUCKETS) {
            merge_pairs(tl);
            shift = (tl->t0_ns - t_ns + tl->width_ns - 1) / tl->width_ns;
        }
        memmove(&tl->b[shift], &tl->b[0], sizeof(rp_bucket) * tl->n);
        memset(&tl->b[0], 0, sizeof(rp_bucket) * shift);
        tl->n += (uint32_t)shift;
        tl->t0_ns -= shift * tl->width_ns;
    }
    uint64_t rel = t_ns - tl->t0_ns;
    uint64_t i = rel / tl->width_ns;
    while (i >= RP_MAX_BUCKETS) {
        merge_pairs(tl);
        i = rel / tl->width_ns;
    }
    if (i >= tl->n)
        tl->n = (uint32_t)i + 1;
    return &tl->b[i];
}
