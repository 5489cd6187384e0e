/* hook_access.h - the launch tables (launch_table.h) and the device ranges (device_ranges.h)
 * for the C++ tests. Those headers use C11 atomics, which C++17 cannot include, so
 * hook_access.c wraps each function the tests call in a plain C function of the same meaning;
 * the handles are the real structures. */
#ifndef FM_TEST_HOOK_ACCESS_H
#define FM_TEST_HOOK_ACCESS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* fm_launch_key, field for field. */
typedef struct ha_key {
    uint64_t function;
    uint32_t grid[3], block[3];
    uint32_t shared_mem, device;
    uint64_t arg_hash;
} ha_key;

typedef struct ha_table ha_table; /* fm_launch_table */
typedef struct ha_sig ha_sig;     /* fm_sig_slot */
typedef struct ha_pair ha_pair;   /* fm_pair_slot */

typedef struct ha_table_counters {
    uint64_t dropped_signatures, dropped_pairs, truncated_names;
    uint32_t next_id, sig_capacity, sig_slots, pair_slots;
} ha_table_counters;

ha_table *ha_table_new(uint32_t signatures, uint32_t pairs, size_t name_bytes);
void ha_table_delete(ha_table *t);
uint64_t ha_key_hash(const ha_key *k);
ha_sig *ha_table_signature(ha_table *t, const ha_key *k, const char *name, uint64_t now_ns,
                           int *created);
void ha_table_publish(ha_table *t, ha_sig *s);
const ha_sig *ha_table_by_id(const ha_table *t, uint32_t id);
ha_pair *ha_table_pair(ha_table *t, uint32_t sig_id, uint32_t phase_id);
void ha_table_get_counters(const ha_table *t, ha_table_counters *out);
/* The argument variants per function before folding (0: no limit), and how many functions
 * were folded. */
void ha_table_set_variant_limit(ha_table *t, uint32_t limit);
uint64_t ha_table_folded_functions(const ha_table *t);

uint32_t ha_sig_id(const ha_sig *s);
void ha_sig_key(const ha_sig *s, ha_key *out);
const char *ha_sig_name(const ha_table *t, const ha_sig *s);
uint64_t ha_sig_first_seen(const ha_table *t, const ha_sig *s);

/* The launch path's relaxed adds, and the flusher's loads. */
void ha_pair_add(ha_pair *p, uint64_t launches, uint64_t busy_ns);
uint64_t ha_pair_launches(const ha_pair *p);
uint64_t ha_pair_busy(const ha_pair *p);

typedef struct ha_ranges ha_ranges; /* fm_device_ranges */
ha_ranges *ha_ranges_new(void);
void ha_ranges_delete(ha_ranges *r);
int ha_ranges_add(ha_ranges *r, uint64_t start, uint64_t size);
void ha_ranges_remove(ha_ranges *r, uint64_t start);
size_t ha_ranges_retired(ha_ranges *r); /* replaced sets not freed yet */
int ha_ranges_contains(const ha_ranges *r, uint64_t v);
/* The ranges now published: their number, and range i as [start, end). */
uint32_t ha_ranges_count(const ha_ranges *r);
void ha_ranges_get(const ha_ranges *r, uint32_t i, uint64_t *start, uint64_t *end);
uint64_t ha_arg_hash(const ha_ranges *r, void *const *params, const size_t *sizes, uint32_t n);

#ifdef __cplusplus
}
#endif
#endif
