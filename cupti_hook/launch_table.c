/* launch_table.c - lock-free signature and counter tables (see launch_table.h). */
#include "launch_table.h"

#include <stdlib.h>
#include <string.h>

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
    t->sigs = calloc(ns, sizeof *t->sigs);
    t->by_id = calloc((size_t)signatures + 1, sizeof *t->by_id);
    t->pairs = calloc(np, sizeof *t->pairs);
    t->names = malloc(name_bytes ? name_bytes : 1);
    if (!t->sigs || !t->by_id || !t->pairs || !t->names) {
        fm_launch_table_free(t);
        return -1;
    }
    t->sig_mask = ns - 1;
    t->pair_mask = np - 1;
    t->sig_capacity = signatures;
    t->names_cap = name_bytes;
    atomic_init(&t->next_id, 1);
    return 0;
}

void fm_launch_table_free(fm_launch_table *t)
{
    free(t->sigs);
    free(t->by_id);
    free(t->pairs);
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

static int same_key(const fm_launch_key *a, const fm_launch_key *b)
{
    return a->function == b->function && a->arg_hash == b->arg_hash &&
           a->shared_mem == b->shared_mem && a->device == b->device &&
           memcmp(a->grid, b->grid, sizeof a->grid) == 0 &&
           memcmp(a->block, b->block, sizeof a->block) == 0;
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

fm_sig_slot *fm_launch_table_signature(fm_launch_table *t, const fm_launch_key *k,
                                       const char *name, uint64_t now_ns, int *created)
{
    uint64_t h = fm_launch_key_hash(k);
    *created = 0;
    for (uint32_t probe = 0, i = (uint32_t)h & t->sig_mask; probe <= t->sig_mask;
         probe++, i = (i + 1) & t->sig_mask) {
        fm_sig_slot *s = &t->sigs[i];
        uint64_t cur = atomic_load_explicit(&s->hash, memory_order_acquire);
        if (cur == 0) {
            uint64_t expected = 0;
            if (!atomic_compare_exchange_strong_explicit(&s->hash, &expected, h,
                                                         memory_order_acq_rel,
                                                         memory_order_acquire)) {
                cur = expected; /* another thread took the slot first: look at what it put */
            } else {
                uint32_t id = atomic_fetch_add_explicit(&t->next_id, 1, memory_order_relaxed);
                if (id > t->sig_capacity) {
                    /* out of ids: the slot stays claimed but dead; lookups skip it */
                    atomic_store_explicit(&s->state, FM_SLOT_DEAD, memory_order_release);
                    atomic_fetch_add_explicit(&t->dropped_signatures, 1, memory_order_relaxed);
                    return NULL;
                }
                s->id = id;
                s->key = *k;
                s->name = copy_name(t, name);
                s->first_seen_ns = now_ns;
                s->n_pcs = 0;
                atomic_store_explicit(&s->state, FM_SLOT_FILLING, memory_order_relaxed);
                *created = 1;
                return s;
            }
        }
        if (cur != h)
            continue;
        /* the same hash: wait for the slot to be complete, then compare for real (a thread
         * filling a slot is inside this function or its caller's few stores: short) */
        uint32_t st;
        while ((st = atomic_load_explicit(&s->state, memory_order_acquire)) != FM_SLOT_READY &&
               st != FM_SLOT_DEAD) {
        }
        if (st == FM_SLOT_READY && same_key(&s->key, k))
            return s;
    }
    atomic_fetch_add_explicit(&t->dropped_signatures, 1, memory_order_relaxed);
    return NULL;
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
