/* launch_table.c - lock-free signature and counter tables (see launch_table.h). */
#define _GNU_SOURCE
#include "launch_table.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define HUGE_PAGE (2u << 20)

/* Zeroed memory for a table, 2 MiB aligned and marked for transparent huge pages: lookups
 * land on random lines of tables of several MiB, and with 4 KiB pages nearly every one of them
 * would also miss the TLB. Pages are committed only when touched. NULL when out of memory. */
static void *table_alloc(size_t bytes)
{
    size_t len = bytes + HUGE_PAGE;
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    char *aligned = (char *)(((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    if (aligned > p)
        munmap(p, (size_t)(aligned - p));
    size_t tail = (size_t)(p + len - (aligned + bytes));
    if (tail)
        munmap(aligned + bytes, tail);
    madvise(aligned, bytes, MADV_HUGEPAGE); /* advice only: fine where it is not taken */
    return aligned;
}

static void table_free(void *p, size_t bytes)
{
    if (p)
        munmap(p, bytes);
}

static uint32_t round_pow2(uint32_t n)
{
    uint32_t p = 16;
    while (p < n && p < (1u << 30))
        p <<= 1;
    return p;
}

int fm_launch_table_init(fm_launch_table *t, uint32_t signatures, uint32_t pairs,
                         size_t name_bytes)
{
    memset(t, 0, sizeof *t);
    uint32_t ns = round_pow2(signatures * 2); /* at most half full: probes stay short */
    uint32_t np = round_pow2(pairs * 2);
    t->sigs_bytes = (size_t)ns * sizeof *t->sigs;
    t->pairs_bytes = (size_t)np * sizeof *t->pairs;
    t->sigs = table_alloc(t->sigs_bytes);
    t->pairs = table_alloc(t->pairs_bytes);
    t->by_id = calloc((size_t)signatures + 1, sizeof *t->by_id);
    t->info = calloc((size_t)signatures + 1, sizeof *t->info);
    t->fns = calloc(ns, sizeof *t->fns);
    t->names = malloc(name_bytes ? name_bytes : 1);
    if (!t->sigs || !t->by_id || !t->info || !t->fns || !t->pairs || !t->names) {
        fm_launch_table_free(t);
        return -1;
    }
    t->sig_mask = ns - 1;
    t->fn_mask = ns - 1;
    t->pair_mask = np - 1;
    t->arg_variant_limit = FM_DEFAULT_ARG_VARIANTS;
    t->sig_capacity = signatures;
    t->names_cap = name_bytes;
    atomic_init(&t->next_id, 1);
    return 0;
}

void fm_launch_table_free(fm_launch_table *t)
{
    table_free(t->sigs, t->sigs_bytes);
    table_free(t->pairs, t->pairs_bytes);
    free(t->by_id);
    free(t->info);
    free(t->fns);
    free(t->names);
    memset(t, 0, sizeof *t);
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

uint64_t fm_launch_key_hash(const fm_launch_key *k)
{
    uint64_t h = mix64(k->function);
    h = mix64(h ^ ((uint64_t)k->grid[0] << 32 | k->grid[1]));
    h = mix64(h ^ ((uint64_t)k->grid[2] << 32 | k->block[0]));
    h = mix64(h ^ ((uint64_t)k->block[1] << 32 | k->block[2]));
    h = mix64(h ^ ((uint64_t)k->shared_mem << 32 | k->device));
    h = mix64(h ^ k->arg_hash);
    return h ? h : 1;
}

/* Copies a name into the arena; a name that does not fit is cut (and counted). */
static const char *copy_name(fm_launch_table *t, const char *name)
{
    if (!name)
        name = "";
    size_t len = strlen(name);
    size_t want = len + 1;
    size_t at = atomic_fetch_add_explicit(&t->names_used, want, memory_order_relaxed);
    if (at + want <= t->names_cap) {
        memcpy(t->names + at, name, want);
        return t->names + at;
    }
    atomic_fetch_add_explicit(&t->truncated_names, 1, memory_order_relaxed);
    return "(name not kept: the name arena is full)";
}

/* Counts a new argument variant of a function; 1 while it is within the limit. Only the path
 * that adds a signature comes here. */
static int variant_allowed(fm_launch_table *t, uint64_t function)
{
    uint64_t h = mix64(function ^ 0x5bd1e995ull);
    for (uint32_t probe = 0, i = (uint32_t)h & t->fn_mask; probe <= t->fn_mask;
         probe++, i = (i + 1) & t->fn_mask) {
        fm_fn_slot *f = &t->fns[i];
        uint64_t cur = atomic_load_explicit(&f->function, memory_order_acquire);
        if (cur == 0) {
            uint64_t expected = 0;
            if (atomic_compare_exchange_strong(&f->function, &expected, function))
                cur = function;
            else
                cur = expected;
        }
        if (cur != function)
            continue;
        /* a function already past its limit (a seed or a step counter passed by value: every
         * launch is a new variant) is answered without writing the shared counter */
        if (atomic_load_explicit(&f->variants, memory_order_relaxed) > t->arg_variant_limit)
            return 0;
        uint32_t n = atomic_fetch_add_explicit(&f->variants, 1, memory_order_relaxed) + 1;
        if (n == t->arg_variant_limit + 1)
            atomic_fetch_add_explicit(&t->folded_functions, 1, memory_order_relaxed);
        return n <= t->arg_variant_limit;
    }
    return 0; /* no room to count: fold */
}

/* Probes for k. Returns the slot holding k, or the free slot claimed for it (*claimed set),
 * or NULL when the table has no room. */
static fm_sig_slot *find_or_claim(fm_launch_table *t, const fm_launch_key *k, uint64_t h,
                                  int may_claim, int *claimed)
{
    *claimed = 0;
    for (uint32_t probe = 0, i = (uint32_t)h & t->sig_mask; probe <= t->sig_mask;
         probe++, i = (i + 1) & t->sig_mask) {
        fm_sig_slot *s = &t->sigs[i];
        uint64_t cur = atomic_load_explicit(&s->hash, memory_order_acquire);
        if (cur == 0) {
            if (!may_claim)
                return s; /* not present: the caller decides what to add */
            uint64_t expected = 0;
            if (atomic_compare_exchange_strong_explicit(&s->hash, &expected, h,
                                                        memory_order_acq_rel,
                                                        memory_order_acquire)) {
                *claimed = 1;
                return s;
            }
            cur = expected; /* another thread took the slot first: look at what it put */
        }
        if (cur != h)
            continue;
        /* the same hash: wait for the slot to be complete, then compare for real (a thread
         * filling a slot is inside this function or its caller's few stores: short) */
        uint32_t st;
        while ((st = atomic_load_explicit(&s->state, memory_order_acquire)) != FM_SLOT_READY &&
               st != FM_SLOT_DEAD) {
        }
        if (st == FM_SLOT_READY && fm_launch_key_equal(&s->key, k))
            return s;
    }
    return NULL;
}

fm_sig_slot *fm_launch_table_signature(fm_launch_table *t, const fm_launch_key *k,
                                       const char *name, uint64_t now_ns, int *created)
{
    *created = 0;
    fm_launch_key folded;
    uint64_t h = fm_launch_key_hash(k);
    int claimed = 0;
    /* the common case, a signature seen before, ends in this first probe */
    fm_sig_slot *s = find_or_claim(t, k, h, 0, &claimed);
    if (s && atomic_load_explicit(&s->hash, memory_order_acquire) == h &&
        atomic_load_explicit(&s->state, memory_order_acquire) == FM_SLOT_READY)
        return s;
    if (k->arg_hash != FM_ARGS_NOT_READ && k->arg_hash != FM_ARGS_FOLDED &&
        t->arg_variant_limit && !variant_allowed(t, k->function)) {
        folded = *k;
        folded.arg_hash = FM_ARGS_FOLDED;
        k = &folded;
        h = fm_launch_key_hash(k);
    }
    s = find_or_claim(t, k, h, 1, &claimed);
    if (!s) {
        atomic_fetch_add_explicit(&t->dropped_signatures, 1, memory_order_relaxed);
        return NULL;
    }
    if (!claimed)
        return s; /* found (added meanwhile by another thread, or the folded signature) */
    uint32_t id = atomic_fetch_add_explicit(&t->next_id, 1, memory_order_relaxed);
    if (id > t->sig_capacity) {
        /* out of ids: the slot stays claimed but dead; lookups skip it */
        atomic_store_explicit(&s->state, FM_SLOT_DEAD, memory_order_release);
        atomic_fetch_add_explicit(&t->dropped_signatures, 1, memory_order_relaxed);
        return NULL;
    }
    s->id = id;
    s->key = *k;
    fm_sig_info *info = &t->info[id];
    info->name = copy_name(t, name);
    info->first_seen_ns = now_ns;
    info->n_pcs = 0;
    atomic_store_explicit(&s->state, FM_SLOT_FILLING, memory_order_relaxed);
    *created = 1;
    return s;
}

void fm_launch_table_publish(fm_launch_table *t, fm_sig_slot *s)
{
    atomic_store_explicit(&t->by_id[s->id], s, memory_order_release);
    atomic_store_explicit(&s->state, FM_SLOT_READY, memory_order_release);
}

const fm_sig_slot *fm_launch_table_by_id(const fm_launch_table *t, uint32_t id)
{
    if (id == 0 || id > t->sig_capacity)
        return NULL;
    fm_sig_slot *s = atomic_load_explicit(&t->by_id[id], memory_order_acquire);
    if (!s || atomic_load_explicit(&s->state, memory_order_acquire) != FM_SLOT_READY)
        return NULL;
    return s;
}

fm_pair_slot *fm_launch_table_pair(fm_launch_table *t, uint32_t sig_id, uint32_t phase_id)
{
    uint64_t key = (((uint64_t)sig_id << 32) | phase_id) + 1;
    uint64_t h = mix64(key);
    for (uint32_t probe = 0, i = (uint32_t)h & t->pair_mask; probe <= t->pair_mask;
         probe++, i = (i + 1) & t->pair_mask) {
        fm_pair_slot *p = &t->pairs[i];
        uint64_t cur = atomic_load_explicit(&p->key, memory_order_acquire);
        if (cur == key)
            return p;
        if (cur == 0) {
            uint64_t expected = 0;
            if (atomic_compare_exchange_strong_explicit(&p->key, &expected, key,
                                                        memory_order_acq_rel,
                                                        memory_order_acquire) ||
                expected == key)
                return p;
        }
    }
    atomic_fetch_add_explicit(&t->dropped_pairs, 1, memory_order_relaxed);
    return NULL;
}
