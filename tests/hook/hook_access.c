/* hook_access.c - plain C wrappers over launch_table.h and device_ranges.h for the C++ tests
 * (see hook_access.h). Each one calls the real function and adds nothing. */
#include "hook_access.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "device_ranges.h"
#include "launch_table.h"

_Static_assert(sizeof(ha_key) == sizeof(fm_launch_key), "ha_key mirrors fm_launch_key");

static fm_launch_key to_key(const ha_key *k)
{
    fm_launch_key out;
    memset(&out, 0, sizeof out);
    out.function = k->function;
    memcpy(out.grid, k->grid, sizeof out.grid);
    memcpy(out.block, k->block, sizeof out.block);
    out.shared_mem = k->shared_mem;
    out.device = k->device;
    out.arg_hash = k->arg_hash;
    return out;
}

ha_table *ha_table_new(uint32_t signatures, uint32_t pairs, size_t name_bytes)
{
    fm_launch_table *t = malloc(sizeof *t);
    if (t && fm_launch_table_init(t, signatures, pairs, name_bytes) != 0) {
        free(t);
        t = NULL;
    }
    return (ha_table *)t;
}

void ha_table_delete(ha_table *t)
{
    if (!t)
        return;
    fm_launch_table_free((fm_launch_table *)t);
    free(t);
}

uint64_t ha_key_hash(const ha_key *k)
{
    fm_launch_key key = to_key(k);
    return fm_launch_key_hash(&key);
}

ha_sig *ha_table_signature(ha_table *t, const ha_key *k, const char *name, uint64_t now_ns,
                           int *created)
{
    fm_launch_key key = to_key(k);
    return (ha_sig *)fm_launch_table_signature((fm_launch_table *)t, &key, name, now_ns,
                                               created);
}

void ha_table_publish(ha_table *t, ha_sig *s)
{
    fm_launch_table_publish((fm_launch_table *)t, (fm_sig_slot *)s);
}

const ha_sig *ha_table_by_id(const ha_table *t, uint32_t id)
{
    return (const ha_sig *)fm_launch_table_by_id((const fm_launch_table *)t, id);
}

ha_pair *ha_table_pair(ha_table *t, uint32_t sig_id, uint32_t phase_id)
{
    return (ha_pair *)fm_launch_table_pair((fm_launch_table *)t, sig_id, phase_id);
}

void ha_table_get_counters(const ha_table *t, ha_table_counters *out)
{
    fm_launch_table *lt = (fm_launch_table *)t;
    out->dropped_signatures = atomic_load(&lt->dropped_signatures);
    out->dropped_pairs = atomic_load(&lt->dropped_pairs);
    out->truncated_names = atomic_load(&lt->truncated_names);
    out->next_id = atomic_load(&lt->next_id);
    out->sig_capacity = lt->sig_capacity;
    out->sig_slots = lt->sig_mask + 1;
    out->pair_slots = lt->pair_mask + 1;
}

void ha_table_set_variant_limit(ha_table *t, uint32_t limit)
{
    ((fm_launch_table *)t)->arg_variant_limit = limit;
}

uint64_t ha_table_folded_functions(const ha_table *t)
{
    return atomic_load(&((fm_launch_table *)t)->folded_functions);
}

uint32_t ha_sig_id(const ha_sig *s)
{
    return ((const fm_sig_slot *)s)->id;
}

void ha_sig_key(const ha_sig *s, ha_key *out)
{
    const fm_launch_key *k = &((const fm_sig_slot *)s)->key;
    out->function = k->function;
    memcpy(out->grid, k->grid, sizeof out->grid);
    memcpy(out->block, k->block, sizeof out->block);
    out->shared_mem = k->shared_mem;
    out->device = k->device;
    out->arg_hash = k->arg_hash;
}

const char *ha_sig_name(const ha_table *t, const ha_sig *s)
{
    return fm_launch_table_info((const fm_launch_table *)t, (const fm_sig_slot *)s)->name;
}

uint64_t ha_sig_first_seen(const ha_table *t, const ha_sig *s)
{
    return fm_launch_table_info((const fm_launch_table *)t, (const fm_sig_slot *)s)
        ->first_seen_ns;
}

void ha_pair_add(ha_pair *p, uint64_t launches, uint64_t busy_ns)
{
    fm_pair_slot *s = (fm_pair_slot *)p;
    atomic_fetch_add_explicit(&s->launches, launches, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->busy_ns, busy_ns, memory_order_relaxed);
}

uint64_t ha_pair_launches(const ha_pair *p)
{
    return atomic_load(&((fm_pair_slot *)p)->launches);
}

uint64_t ha_pair_busy(const ha_pair *p)
{
    return atomic_load(&((fm_pair_slot *)p)->busy_ns);
}

ha_ranges *ha_ranges_new(void)
{
    fm_device_ranges *d = malloc(sizeof *d);
    if (d)
        fm_device_ranges_init(d);
    return (ha_ranges *)d;
}

void ha_ranges_delete(ha_ranges *r)
{
    if (!r)
        return;
    fm_device_ranges_free((fm_device_ranges *)r);
    free(r);
}

int ha_ranges_add(ha_ranges *r, uint64_t start, uint64_t size)
{
    return fm_device_ranges_add((fm_device_ranges *)r, start, size);
}

size_t ha_ranges_retired(ha_ranges *r)
{
    return fm_device_ranges_retired((fm_device_ranges *)r);
}

void ha_ranges_remove(ha_ranges *r, uint64_t start)
{
    fm_device_ranges_remove((fm_device_ranges *)r, start);
}

int ha_ranges_contains(const ha_ranges *r, uint64_t v)
{
    return fm_device_ranges_contains((const fm_device_ranges *)r, v);
}

static const fm_range_set *current(const ha_ranges *r)
{
    return atomic_load_explicit(&((fm_device_ranges *)r)->current, memory_order_acquire);
}

uint32_t ha_ranges_count(const ha_ranges *r)
{
    const fm_range_set *s = current(r);
    return s ? s->n : 0;
}

void ha_ranges_get(const ha_ranges *r, uint32_t i, uint64_t *start, uint64_t *end)
{
    const fm_range_set *s = current(r);
    *start = s && i < s->n ? s->r[i].start : 0;
    *end = s && i < s->n ? s->r[i].end : 0;
}

uint64_t ha_arg_hash(const ha_ranges *r, void *const *params, const size_t *sizes, uint32_t n)
{
    uint32_t sz[256];
    for (uint32_t i = 0; i < n && i < 256; i++)
        sz[i] = (uint32_t)sizes[i];
    return fm_arg_hash((const fm_device_ranges *)r, params, sz, n < 256 ? n : 256);
}
