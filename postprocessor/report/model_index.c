/* model_index.c - content lookups for the report model (see model_index.h). Each table maps a
 * hash of an entry's content to its index; equal hashes are confirmed by comparing content. */
#define _GNU_SOURCE
#include "model_index.h"

#include <stdlib.h>
#include <string.h>

typedef struct slot {
    uint64_t hash;
    uint32_t idx1; /* index + 1; 0 = empty */
} slot;

typedef struct table {
    slot *slots;
    uint32_t nslots, used;
} table;

typedef struct index_set {
    table phases, sigs, callsites, groups, sigphases, kernel_names;
} index_set;

void *rp_index_new(void)
{
    return calloc(1, sizeof(index_set));
}

void rp_index_free(void *index)
{
    index_set *x = index;
    if (!x)
        return;
    free(x->phases.slots);
    free(x->sigs.slots);
    free(x->callsites.slots);
    free(x->groups.slots);
    free(x->sigphases.slots);
    free(x->kernel_names.slots);
    free(x);
}

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    return h;
}

static uint64_t mix_str(uint64_t h, const char *s)
{
    /* the terminator too, so ("ab","c") and ("a","bc") differ */
    return mix(h, s ? s : "", s ? strlen(s) + 1 : 1);
}

#define SEED 1469598103934665603ull

static int table_grow(table *t)
{
    uint32_t n = t->nslots ? t->nslots * 2 : 256;
    slot *s = calloc(n, sizeof *s);
    if (!s)
        return -1;
    for (uint32_t i = 0; i < t->nslots; i++) {
        if (!t->slots[i].idx1)
            continue;
        uint32_t j = (uint32_t)t->slots[i].hash & (n - 1);
        while (s[j].idx1)
            j = (j + 1) & (n - 1);
        s[j] = t->slots[i];
    }
    free(t->slots);
    t->slots = s;
    t->nslots = n;
    return 0;
}

/* Finds an entry with this hash for which same(ctx, index) holds; -1 when none. */
static int64_t table_find(const table *t, uint64_t hash, int (*same)(const void *, uint32_t),
                          const void *ctx)
{
    if (!t->nslots)
        return -1;
    for (uint32_t j = (uint32_t)hash & (t->nslots - 1);; j = (j + 1) & (t->nslots - 1)) {
        if (!t->slots[j].idx1)
            return -1;
        if (t->slots[j].hash == hash && same(ctx, t->slots[j].idx1 - 1))
            return t->slots[j].idx1 - 1;
    }
}

static int table_add(table *t, uint64_t hash, uint32_t idx)
{
    if ((t->used + 1) * 4 > t->nslots * 3 && table_grow(t) != 0)
        return -1;
    uint32_t j = (uint32_t)hash & (t->nslots - 1);
    while (t->slots[j].idx1)
        j = (j + 1) & (t->nslots - 1);
    t->slots[j].hash = hash;
    t->slots[j].idx1 = idx + 1;
    t->used++;
    return 0;
}

static int same_str(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

/* ---- phases ------------------------------------------------------------------------------- */

typedef struct phase_key {
    const rp_model *m;
    const char *name;
    uint32_t category;
} phase_key;

static int same_phase(const void *ctx, uint32_t i)
{
    const phase_key *k = ctx;
    return k->m->phases[i].category == k->category && same_str(k->m->phases[i].name, k->name);
}

int64_t rp_phase_get(rp_model *m, const char *name, uint32_t category)
{
    index_set *x = m->index;
    uint64_t h = mix(mix_str(SEED, name), &category, sizeof category);
    phase_key k = {m, name, category};
    int64_t found = table_find(&x->phases, h, same_phase, &k);
    if (found >= 0)
        return found;
    if (rp_grow((void **)&m->phases, &m->cap_phases, m->n_phases, sizeof *m->phases) != 0)
        return -1;
    rp_phase *p = &m->phases[m->n_phases];
    memset(p, 0, sizeof *p);
    p->name = strdup(name);
    p->category = category;
    if (!p->name || table_add(&x->phases, h, m->n_phases) != 0) {
        free(p->name);
        return -1;
    }
    return m->n_phases++;
}

/* ---- signatures --------------------------------------------------------------------------- */

typedef struct sig_key {
    const rp_model *m;
    const char *name;
    size_t name_len;
    const uint64_t *grid, *block;
    uint64_t shared_mem, arg_hash;
} sig_key;

static int same_sig(const void *ctx, uint32_t i)
{
    const sig_key *k = ctx;
    const rp_signature *s = &k->m->sigs[i];
    return s->shared_mem == k->shared_mem && s->arg_hash == k->arg_hash &&
           memcmp(s->grid, k->grid, sizeof s->grid) == 0 &&
           memcmp(s->block, k->block, sizeof s->block) == 0 && strlen(s->name) == k->name_len &&
           memcmp(s->name, k->name, k->name_len) == 0;
}

typedef struct name_key {
    const rp_model *m;
    const char *name;
    size_t len;
} name_key;

static int same_name(const void *ctx, uint32_t i)
{
    const name_key *k = ctx;
    const char *n = k->m->kernel_names[i];
    return strlen(n) == k->len && memcmp(n, k->name, k->len) == 0;
}

/* The model's copy of a kernel name, made when new; NULL when out of memory. */
static const char *kernel_name(rp_model *m, const char *name, size_t len)
{
    index_set *x = m->index;
    uint64_t h = mix(SEED, name, len);
    name_key k = {m, name, len};
    int64_t found = table_find(&x->kernel_names, h, same_name, &k);
    if (found >= 0)
        return m->kernel_names[found];
    if (rp_grow((void **)&m->kernel_names, &m->cap_kernel_names, m->n_kernel_names,
                sizeof *m->kernel_names) != 0)
        return NULL;
    char *copy = strndup(name, len);
    if (!copy || table_add(&x->kernel_names, h, m->n_kernel_names) != 0) {
        free(copy);
        return NULL;
    }
    m->kernel_names[m->n_kernel_names++] = copy;
    return copy;
}

int64_t rp_signature_get(rp_model *m, const char *name, size_t name_len, const uint64_t grid[3],
                         const uint64_t block[3], uint64_t shared_mem, uint64_t arg_hash)
{
    index_set *x = m->index;
    uint64_t h = mix(SEED, name, name_len);
    h = mix(h, grid, 3 * sizeof *grid);
    h = mix(h, block, 3 * sizeof *block);
    h = mix(h, &shared_mem, sizeof shared_mem);
    h = mix(h, &arg_hash, sizeof arg_hash);
    sig_key k = {m, name, name_len, grid, block, shared_mem, arg_hash};
    int64_t found = table_find(&x->sigs, h, same_sig, &k);
    if (found >= 0)
        return found;
    if (rp_grow((void **)&m->sigs, &m->cap_sigs, m->n_sigs, sizeof *m->sigs) != 0)
        return -1;
    rp_signature *s = &m->sigs[m->n_sigs];
    memset(s, 0, sizeof *s);
    s->name = kernel_name(m, name, name_len);
    memcpy(s->grid, grid, sizeof s->grid);
    memcpy(s->block, block, sizeof s->block);
    s->shared_mem = shared_mem;
    s->arg_hash = arg_hash;
    s->min_groups_per_launch = UINT32_MAX;
    if (!s->name || table_add(&x->sigs, h, m->n_sigs) != 0)
        return -1;
    return m->n_sigs++;
}

/* ---- call sites --------------------------------------------------------------------------- */

typedef struct callsite_key {
    const rp_model *m;
    const rp_frame *frames;
    uint32_t n;
} callsite_key;

static int same_callsite(const void *ctx, uint32_t i)
{
    const callsite_key *k = ctx;
    const rp_callsite *c = &k->m->callsites[i];
    if (c->n_frames != k->n)
        return 0;
    for (uint32_t f = 0; f < k->n; f++)
        if (c->frames[f].offset != k->frames[f].offset ||
            !same_str(c->frames[f].module, k->frames[f].module) ||
            !same_str(c->frames[f].symbol, k->frames[f].symbol))
            return 0;
    return 1;
}

int64_t rp_callsite_get(rp_model *m, const rp_frame *frames, uint32_t n_frames)
{
    index_set *x = m->index;
    uint64_t h = mix(SEED, &n_frames, sizeof n_frames);
    for (uint32_t f = 0; f < n_frames; f++) {
        h = mix_str(h, frames[f].module);
        h = mix_str(h, frames[f].symbol);
        h = mix(h, &frames[f].offset, sizeof frames[f].offset);
    }
    callsite_key k = {m, frames, n_frames};
    int64_t found = table_find(&x->callsites, h, same_callsite, &k);
    if (found >= 0)
        return found;
    if (rp_grow((void **)&m->callsites, &m->cap_callsites, m->n_callsites,
                sizeof *m->callsites) != 0)
        return -1;
    rp_callsite *c = &m->callsites[m->n_callsites];
    c->frames = calloc(n_frames ? n_frames : 1, sizeof *c->frames);
    if (!c->frames)
        return -1;
    c->n_frames = n_frames;
    int ok = 1;
    for (uint32_t f = 0; f < n_frames; f++) {
        c->frames[f].module = strdup(frames[f].module ? frames[f].module : "");
        c->frames[f].symbol = strdup(frames[f].symbol ? frames[f].symbol : "");
        c->frames[f].offset = frames[f].offset;
        ok = ok && c->frames[f].module && c->frames[f].symbol;
    }
    if (!ok || table_add(&x->callsites, h, m->n_callsites) != 0) {
        for (uint32_t f = 0; f < n_frames; f++) {
            free(c->frames[f].module);
            free(c->frames[f].symbol);
        }
        free(c->frames);
        c->frames = NULL;
        return -1;
    }
    return m->n_callsites++;
}

/* ---- metric groups ------------------------------------------------------------------------ */

typedef struct group_key {
    const rp_model *m;
    const char *chip;
    uint32_t n;
    char *const *names;
    const uint8_t *classes;
    const double *weights;
} group_key;

static int same_group(const void *ctx, uint32_t i)
{
    const group_key *k = ctx;
    const rp_group *g = &k->m->groups[i];
    if (g->n_metrics != k->n || !same_str(g->chip, k->chip))
        return 0;
    for (uint32_t j = 0; j < k->n; j++)
        if (g->classes[j] != k->classes[j] || g->weights[j] != k->weights[j] ||
            !same_str(g->metric_names[j], k->names[j]))
            return 0;
    return 1;
}

int64_t rp_group_get(rp_model *m, const char *chip, uint32_t n_metrics, char *const *names,
                     const uint8_t *classes, const double *weights)
{
    index_set *x = m->index;
    uint64_t h = mix_str(SEED, chip);
    for (uint32_t j = 0; j < n_metrics; j++) {
        h = mix_str(h, names[j]);
        h = mix(h, &classes[j], 1);
        h = mix(h, &weights[j], sizeof weights[j]);
    }
    group_key k = {m, chip, n_metrics, names, classes, weights};
    int64_t found = table_find(&x->groups, h, same_group, &k);
    if (found >= 0)
        return found;
    if (rp_grow((void **)&m->groups, &m->cap_groups, m->n_groups, sizeof *m->groups) != 0)
        return -1;
    rp_group *g = &m->groups[m->n_groups];
    memset(g, 0, sizeof *g);
    g->chip = strdup(chip ? chip : "");
    g->metric_names = calloc(n_metrics, sizeof *g->metric_names);
    g->classes = malloc(n_metrics);
    g->weights = malloc(n_metrics * sizeof *g->weights);
    int ok = g->chip && g->metric_names && g->classes && g->weights;
    for (uint32_t j = 0; ok && j < n_metrics; j++) {
        g->metric_names[j] = strdup(names[j] ? names[j] : "");
        ok = g->metric_names[j] != NULL;
        g->classes[j] = classes[j];
        g->weights[j] = weights[j];
    }
    g->n_metrics = n_metrics;
    if (!ok || table_add(&x->groups, h, m->n_groups) != 0) {
        for (uint32_t j = 0; g->metric_names && j < n_metrics; j++)
            free(g->metric_names[j]);
        free(g->metric_names);
        free(g->classes);
        free(g->weights);
        free(g->chip);
        memset(g, 0, sizeof *g);
        return -1;
    }
    return m->n_groups++;
}

/* ---- (signature, phase) rows -------------------------------------------------------------- */

typedef struct sigphase_key {
    const rp_model *m;
    uint32_t sig, phase;
} sigphase_key;

static int same_sigphase(const void *ctx, uint32_t i)
{
    const sigphase_key *k = ctx;
    return k->m->sigphases[i].sig == k->sig && k->m->sigphases[i].phase == k->phase;
}

int64_t rp_sigphase_get(rp_model *m, uint32_t sig, uint32_t phase)
{
    index_set *x = m->index;
    uint64_t h = mix(mix(SEED, &sig, sizeof sig), &phase, sizeof phase);
    sigphase_key k = {m, sig, phase};
    int64_t found = table_find(&x->sigphases, h, same_sigphase, &k);
    if (found >= 0)
        return found;
    if (rp_grow((void **)&m->sigphases, &m->cap_sigphases, m->n_sigphases,
                sizeof *m->sigphases) != 0)
        return -1;
    rp_sigphase *r = &m->sigphases[m->n_sigphases];
    memset(r, 0, sizeof *r);
    r->sig = sig;
    r->phase = phase;
    if (table_add(&x->sigphases, h, m->n_sigphases) != 0)
        return -1;
    return m->n_sigphases++;
}
