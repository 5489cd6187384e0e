/* launch_table.h - the hook's tables of kernel signatures and of launch counters per signature
 * and phase, built for the launch callback: preallocated at start, lock-free (one
 * compare-and-swap to add an entry, relaxed atomic adds to count), never allocating. When a
 * table is full, what does not fit is counted as dropped instead of failing the host.
 *
 * The flusher thread reads the same tables: entries become visible to it only once complete
 * (a release store of their state), and it takes deltas of the counters. */
#ifndef FM_HOOK_LAUNCH_TABLE_H
#define FM_HOOK_LAUNCH_TABLE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* What identifies launches that do the same work. */
typedef struct fm_launch_key {
    uint64_t function;        /* the CUDA function handle */
    uint32_t grid[3], block[3];
    uint32_t shared_mem;      /* dynamic shared memory bytes */
    uint32_t device;
    uint64_t arg_hash;        /* argument bytes with device pointers masked out */
} fm_launch_key;

#define FM_MAX_STACK 24

/* arg_hash values with a meaning: arguments not read (FLOPMETER_ARGS=0, or a layout the
 * driver would not give), and arguments folded: a function launched with more distinct
 * argument values than the table's variant limit (a learning rate or a step counter passed by
 * value makes a new hash every step) is counted under one signature per shape from then on,
 * so that such kernels cannot fill the table and lose counts. */
#define FM_ARGS_NOT_READ 0ull
#define FM_ARGS_FOLDED 0xffffffffffffffffull
#define FM_DEFAULT_ARG_VARIANTS 64

/* FREE -> FILLING (claimed by one thread) -> READY (published); DEAD: claimed when the ids
 * had run out, never usable. */
enum { FM_SLOT_FREE = 0, FM_SLOT_FILLING = 1, FM_SLOT_READY = 2, FM_SLOT_DEAD = 3 };

/* What the launch path reads on every launch: one cache line. */
typedef struct fm_sig_slot {
    _Atomic uint64_t hash;    /* 0: free */
    _Atomic uint32_t state;   /* FM_SLOT_* */
    uint32_t id;              /* dense id, from 1 */
    fm_launch_key key;
} __attribute__((aligned(64))) fm_sig_slot;

/* What only the first launch writes and the flusher reads, by id: kept out of the slots so
 * that lookups touch one line per signature. */
typedef struct fm_sig_info {
    const char *name;         /* copy in the table's name arena (may be truncated) */
    uint64_t first_seen_ns;
    uint32_t n_pcs;
    uint64_t pcs[FM_MAX_STACK]; /* call stack of the first launch, innermost first */
} fm_sig_info;

typedef struct fm_pair_slot {
    _Atomic uint64_t key;     /* (signature id << 32 | phase id) + 1; 0: free */
    _Atomic uint64_t launches;
    _Atomic uint64_t busy_ns;
    _Atomic uint64_t inflight; /* launches chosen for measurement whose values are awaited
                                  (hook_measure.h); 32 bytes: a slot never straddles two lines */
} fm_pair_slot;

/* Distinct argument hashes seen per function (only the path that adds a signature). */
typedef struct fm_fn_slot {
    _Atomic uint64_t function; /* 0: free */
    _Atomic uint32_t variants;
} fm_fn_slot;

typedef struct fm_launch_table {
    fm_sig_slot *sigs;
    uint32_t sig_mask;
    _Atomic(fm_sig_slot *) *by_id; /* id -> published slot, for the flusher */
    fm_sig_info *info;             /* by id */
    uint32_t sig_capacity;
    _Atomic uint32_t next_id;
    fm_pair_slot *pairs;
    uint32_t pair_mask;
    fm_fn_slot *fns;
    uint32_t fn_mask;
    uint32_t arg_variant_limit;    /* 0: no limit; default FM_DEFAULT_ARG_VARIANTS */
    size_t sigs_bytes, pairs_bytes; /* the mappings (huge pages where the kernel allows) */
    char *names;
    size_t names_cap;
    _Atomic size_t names_used;
    _Atomic uint64_t dropped_signatures, dropped_pairs, truncated_names, folded_functions;
} fm_launch_table;

/* Sizes are rounded up to powers of two. Returns 0, or -1 when memory is short. */
int fm_launch_table_init(fm_launch_table *t, uint32_t signatures, uint32_t pairs,
                         size_t name_bytes);
void fm_launch_table_free(fm_launch_table *t);

/* Whether two keys name the same signature: the launch table's and the per-thread counters'
 * comparison. */
static inline int fm_launch_key_equal(const fm_launch_key *a, const fm_launch_key *b)
{
    return a->function == b->function && a->arg_hash == b->arg_hash &&
           a->shared_mem == b->shared_mem && a->device == b->device &&
           a->grid[0] == b->grid[0] && a->grid[1] == b->grid[1] && a->grid[2] == b->grid[2] &&
           a->block[0] == b->block[0] && a->block[1] == b->block[1] &&
           a->block[2] == b->block[2];
}

/* 64-bit hash of a key; never 0. */
uint64_t fm_launch_key_hash(const fm_launch_key *k);

/* Finds the signature of a launch, adding it when new (*created is set, and the caller fills
 * the call stack before publishing it with fm_launch_table_publish). A launch whose function
 * is past the variant limit finds the signature with FM_ARGS_FOLDED instead. NULL when the
 * table is full (counted in dropped_signatures). Lock-free; allocates nothing. */
fm_sig_slot *fm_launch_table_signature(fm_launch_table *t, const fm_launch_key *k,
                                       const char *name, uint64_t now_ns, int *created);
/* Makes a created signature visible to other threads and the flusher. */
void fm_launch_table_publish(fm_launch_table *t, fm_sig_slot *s);

/* The counters of (signature id, phase id), added when new; NULL when the table is full
 * (counted in dropped_pairs). Lock-free; allocates nothing. */
fm_pair_slot *fm_launch_table_pair(fm_launch_table *t, uint32_t sig_id, uint32_t phase_id);

/* The published signature with this id, or NULL. For the flusher. */
const fm_sig_slot *fm_launch_table_by_id(const fm_launch_table *t, uint32_t id);

/* The name, first-seen time and call stack of a signature (its creator fills them before
 * publishing; others read them after fm_launch_table_by_id returned the slot). */
static inline fm_sig_info *fm_launch_table_info(const fm_launch_table *t, const fm_sig_slot *s)
{
    return &t->info[s->id];
}

#endif
