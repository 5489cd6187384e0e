/* thread_counts.h - per-thread launch counters in front of the shared launch tables.
 *
 * Why: a launch that goes to the shared tables pays two random cache misses (its signature
 * slot and its (signature, phase) counter) and, when several threads launch the same kernels,
 * an atomic add on a cache line the other threads write too. A training loop launches the same
 * few thousand signatures over and over from the same threads, so each thread keeps its own
 * direct-mapped cache of (launch key, phase) -> counter: a repeated launch touches one line
 * that no other thread writes.
 *
 * Counts are never lost or counted twice: an entry's counter and the index of the shared
 * counter it belongs to are one 64-bit word. The owning thread adds to it; the flusher
 * (fm_thread_counts_sweep) and the owning thread, when it reuses the entry for another key,
 * take the count out with a compare-and-swap or an exchange and add it to the shared counter,
 * so each launch reaches the shared tables exactly once.
 *
 * Blocks come from a pool made at start (address space only, committed as touched). A thread
 * takes one at its first launch and gives it back when it exits; its entries keep their counts,
 * which the next owner goes on adding to. Threads beyond the pool use the shared tables
 * directly. Nothing here allocates after start or takes a lock. */
#ifndef FM_HOOK_THREAD_COUNTS_H
#define FM_HOOK_THREAD_COUNTS_H

#include <stdatomic.h>
#include <stdint.h>

#include "launch_table.h"

#define FM_TC_ENTRIES 16384u /* per thread: 1 MiB of address space, committed as used */
#define FM_TC_BLOCKS 64u     /* threads that get a cache at the same time */
#define FM_TC_COUNT_BITS 36u /* launches an entry holds between sweeps: 6.8e10 */

/* The block dimensions in one word: x and y up to 2,047 (11 bits each), z up to 127 (7 bits),
 * more than CUDA allows (1,024, 1,024, 64). FM_TC_NO_BLOCK when they do not fit: such a launch
 * (which the driver would refuse) is counted in the shared tables, never cached. */
#define FM_TC_NO_BLOCK UINT32_MAX
static inline uint32_t fm_tc_block_word(const uint32_t block[3])
{
    if (block[0] > 2047 || block[1] > 2047 || block[2] > 127)
        return FM_TC_NO_BLOCK;
    return block[0] | block[1] << 11 | block[2] << 22;
}

/* One cache line: the launch key (block dimensions in one word), the phase, the signature,
 * the count, and the sampler's decision for the signature as this thread last read it, so
 * that deciding a repeated launch touches no other line (hook_core.c). */
typedef struct fm_tc_entry {
    uint64_t function, arg_hash;
    uint32_t grid[3];
    uint32_t block;          /* fm_tc_block_word */
    uint32_t shared_mem, device;
    uint32_t phase;
    uint32_t sig_id;         /* 0: empty */
    _Atomic uint64_t packed; /* (pair index + 1) << FM_TC_COUNT_BITS | launches not yet moved */
    uint32_t measure_below;  /* a draw whose top 32 bits are below it is measured */
    uint32_t decided_gen;    /* the sampler's rates generation it was read in; 0: none */
} __attribute__((aligned(64))) fm_tc_entry;

_Static_assert(sizeof(fm_tc_entry) == 64, "one cache line per entry");

typedef struct fm_tc_block {
    fm_tc_entry e[FM_TC_ENTRIES];
} fm_tc_block;

typedef struct fm_thread_counts {
    fm_tc_block *blocks;
    size_t bytes;
    _Atomic uint64_t in_use;    /* a bit per block */
    _Atomic uint32_t ever_used; /* blocks [0, ever_used) may hold counts */
} fm_thread_counts;

/* 0, or -1 when the address space is short (then every launch uses the shared tables). */
int fm_thread_counts_init(fm_thread_counts *tc);
void fm_thread_counts_free(fm_thread_counts *tc);

/* The calling thread's block, taken from the pool at its first call; NULL when the pool is
 * empty or was not made. */
fm_tc_block *fm_thread_counts_mine(fm_thread_counts *tc);

/* The pair of adjacent entries (key, phase) may live in: two ways, so that two keys landing on
 * the same index do not evict each other at every launch. A cheap index: the entry's full key
 * is compared, so a collision only costs a miss. Independent multiplies, which the CPU computes
 * in parallel. */
static inline uint64_t fm_tc_hash(const fm_launch_key *k, uint32_t phase)
{
    return k->function * 0x9e3779b97f4a7c15ull ^ k->arg_hash * 0xc2b2ae3d27d4eb4full ^
           ((uint64_t)k->grid[0] << 32 | k->grid[1]) * 0x165667b19e3779f9ull ^
           ((uint64_t)k->grid[2] << 32 | k->block[0]) * 0x27d4eb2f165667c5ull ^
           ((uint64_t)phase << 32 | k->shared_mem) * 0x94d049bb133111ebull;
}

static inline fm_tc_entry *fm_tc_set(fm_tc_block *b, uint64_t h)
{
    return &b->e[(h >> 40) & (FM_TC_ENTRIES - 2)];
}

static inline int fm_tc_matches(const fm_tc_entry *e, const fm_launch_key *k, uint32_t phase,
                                uint32_t block)
{
    return e->sig_id && e->phase == phase && e->function == k->function &&
           e->arg_hash == k->arg_hash && e->grid[0] == k->grid[0] && e->grid[1] == k->grid[1] &&
           e->grid[2] == k->grid[2] && e->block == block && e->shared_mem == k->shared_mem &&
           e->device == k->device;
}

/* Where (key, phase) counts in this block: its entry, or NULL on a miss. */
static inline fm_tc_entry *fm_tc_lookup(fm_tc_block *b, const fm_launch_key *k, uint32_t phase)
{
    uint32_t block = fm_tc_block_word(k->block);
    fm_tc_entry *set = fm_tc_set(b, fm_tc_hash(k, phase));
    if (fm_tc_matches(&set[0], k, phase, block))
        return &set[0];
    if (fm_tc_matches(&set[1], k, phase, block))
        return &set[1];
    return NULL;
}

/* Counts one launch in an entry lookup returned. */
static inline void fm_tc_count(fm_tc_entry *e)
{
    atomic_fetch_add_explicit(&e->packed, 1, memory_order_relaxed);
}

/* The shared pair index of an entry. */
static inline uint32_t fm_tc_pair_index(const fm_tc_entry *e)
{
    return (uint32_t)((atomic_load_explicit(&e->packed, memory_order_relaxed) >>
                       FM_TC_COUNT_BITS) - 1);
}

/* After a miss: makes the entry for (key, phase) hold one launch of signature sig_id counted
 * in the shared pair at pair_index, moving what the entry held before to its own pair. NULL,
 * and nothing counted, for a key whose block dimensions do not fit an entry. */
fm_tc_entry *fm_tc_install(fm_launch_table *t, fm_tc_block *b, const fm_launch_key *k,
                           uint32_t phase, uint32_t sig_id, uint32_t pair_index);

/* Moves every count held in thread blocks to the shared pair counters. Safe against the
 * threads counting meanwhile and against another sweep. */
void fm_thread_counts_sweep(fm_thread_counts *tc, fm_launch_table *t);

#endif
