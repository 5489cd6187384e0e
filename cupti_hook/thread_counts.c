/* thread_counts.c - per-thread launch counters (see thread_counts.h). */
#define _GNU_SOURCE
#include "thread_counts.h"
#include "reserve.h"

#include <pthread.h>
#include <string.h>

#define PAIR_SHIFT FM_TC_COUNT_BITS
#define COUNT_MASK ((1ull << FM_TC_COUNT_BITS) - 1)

_Static_assert(sizeof(fm_tc_entry) == 64, "an entry is one cache line");
_Static_assert(FM_TC_BLOCKS <= 64, "in_use has a bit per block");

/* The pool the thread-exit destructor gives blocks back to (one collector per process). */
static fm_thread_counts *pool;
static pthread_key_t exit_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static int key_ok;

/* The calling thread's block, and whether it already asked (it asks once: a thread that
 * found the pool empty keeps using the shared tables). */
static __thread fm_tc_block *my_block;
static __thread int my_asked;
static __thread uint64_t my_random = 0x2545f4914f6cdd1dull; /* xorshift: which way to evict */

static void give_back(void *block)
{
    fm_thread_counts *tc = pool;
    if (!tc || !block)
        return;
    uint32_t i = (uint32_t)(((fm_tc_block *)block) - tc->blocks);
    atomic_fetch_and_explicit(&tc->in_use, ~(1ull << i), memory_order_release);
}

static void make_key(void)
{
    key_ok = pthread_key_create(&exit_key, give_back) == 0;
}

int fm_thread_counts_init(fm_thread_counts *tc)
{
    memset(tc, 0, sizeof *tc);
    pthread_once(&key_once, make_key);
    size_t bytes = (size_t)FM_TC_BLOCKS * sizeof(fm_tc_block);
    void *p = fm_reserve(bytes);
    if (!p || !key_ok) {
        fm_release(p, bytes);
        return -1;
    }
    tc->blocks = p;
    tc->bytes = bytes;
    pool = tc;
    return 0;
}

void fm_thread_counts_free(fm_thread_counts *tc)
{
    if (pool == tc)
        pool = NULL;
    if (tc->blocks)
        fm_release(tc->blocks, tc->bytes);
    memset(tc, 0, sizeof *tc);
}

fm_tc_block *fm_thread_counts_mine(fm_thread_counts *tc)
{
    if (my_asked)
        return my_block;
    my_asked = 1;
    if (!tc->blocks)
        return NULL;
    uint64_t used = atomic_load_explicit(&tc->in_use, memory_order_acquire);
    for (;;) {
        if (used == ~0ull >> (64 - FM_TC_BLOCKS))
            return NULL; /* every block is taken: this thread counts in the shared tables */
        uint32_t i = (uint32_t)__builtin_ctzll(~used);
        if (atomic_compare_exchange_weak_explicit(&tc->in_use, &used, used | (1ull << i),
                                                  memory_order_acq_rel, memory_order_acquire)) {
            uint32_t ever = atomic_load_explicit(&tc->ever_used, memory_order_relaxed);
            while (ever < i + 1 &&
                   !atomic_compare_exchange_weak_explicit(&tc->ever_used, &ever, i + 1,
                                                          memory_order_release,
                                                          memory_order_relaxed)) {
            }
            my_block = &tc->blocks[i];
            /* once per thread: glibc may allocate the key's second-level array here */
            pthread_setspecific(exit_key, my_block);
            return my_block;
        }
    }
}

/* Adds what a packed word held to its shared pair. */
static void move_to_pair(fm_launch_table *t, uint64_t packed)
{
    uint64_t n = packed & COUNT_MASK;
    uint64_t pair = packed >> PAIR_SHIFT;
    if (n && pair)
        atomic_fetch_add_explicit(&t->pairs[pair - 1].launches, n, memory_order_relaxed);
}

fm_tc_entry *fm_tc_install(fm_launch_table *t, fm_tc_block *b, const fm_launch_key *k,
                           uint32_t phase, uint32_t sig_id, uint32_t pair_index)
{
    uint32_t block = fm_tc_block_word(k->block);
    if (block == FM_TC_NO_BLOCK)
        return NULL;
    uint64_t h = fm_tc_hash(k, phase);
    fm_tc_entry *set = fm_tc_set(b, h);
    /* an empty way, else a random one: keys that share a set then do not evict each other in
     * the same order at every pass of a loop */
    fm_tc_entry *e = &set[0];
    if (set[0].sig_id) {
        my_random ^= my_random << 13;
        my_random ^= my_random >> 7;
        my_random ^= my_random << 17;
        e = !set[1].sig_id ? &set[1] : &set[my_random & 1];
    }
    uint64_t now = ((uint64_t)pair_index + 1) << PAIR_SHIFT | 1;
    /* the key fields are this thread's alone; the flusher reads only the packed word */
    e->function = k->function;
    e->arg_hash = k->arg_hash;
    for (int i = 0; i < 3; i++)
        e->grid[i] = k->grid[i];
    e->block = block;
    e->shared_mem = k->shared_mem;
    e->device = k->device;
    e->phase = phase;
    e->sig_id = sig_id;
    e->decided_gen = 0; /* another signature's decision, if any */
    move_to_pair(t, atomic_exchange_explicit(&e->packed, now, memory_order_acq_rel));
    return e;
}

void fm_thread_counts_sweep(fm_thread_counts *tc, fm_launch_table *t)
{
    if (!tc->blocks)
        return;
    uint32_t blocks = atomic_load_explicit(&tc->ever_used, memory_order_acquire);
    for (uint32_t bi = 0; bi < blocks; bi++) {
        fm_tc_block *b = &tc->blocks[bi];
        for (uint32_t i = 0; i < FM_TC_ENTRIES; i++) {
            _Atomic uint64_t *w = &b->e[i].packed;
            uint64_t v = atomic_load_explicit(w, memory_order_relaxed);
            /* take the count and leave the pair: the owner may be adding meanwhile */
            while ((v & COUNT_MASK) &&
                   !atomic_compare_exchange_weak_explicit(w, &v, v & ~COUNT_MASK,
                                                          memory_order_acq_rel,
                                                          memory_order_relaxed)) {
            }
            move_to_pair(t, v);
        }
    }
}
