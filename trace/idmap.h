/* idmap.h - a map from non-zero 64-bit ids to 64-bit values (open addressing). Used to check
 * that every id a record refers to was defined before, and by the post-processor's indexes. */
#ifndef FM_TRACE_IDMAP_H
#define FM_TRACE_IDMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct fm_idmap_slot {
    uint64_t key;   /* 0 = empty */
    uint64_t value;
} fm_idmap_slot;

typedef struct fm_idmap {
    fm_idmap_slot *slots;
    size_t nslots;
    size_t used;
} fm_idmap;

void fm_idmap_init(fm_idmap *m);
void fm_idmap_free(fm_idmap *m);
/* 1 and *value when present, else 0. value may be NULL. */
int fm_idmap_get(const fm_idmap *m, uint64_t key, uint64_t *value);
/* Inserts or replaces. 0, or FM_E_NOMEM / FM_E_INVALID (key 0). */
int fm_idmap_put(fm_idmap *m, uint64_t key, uint64_t value);

#endif
