/* intern.h - maps strings to the ids of their STRING records, for the writer. Memory grows
 * with the number of distinct strings (kernel names, modules, symbols), not with records. */
#ifndef FM_TRACE_INTERN_H
#define FM_TRACE_INTERN_H

#include <stddef.h>
#include <stdint.h>

#include "bytebuf.h"

typedef struct fm_intern_slot {
    uint64_t hash;
    uint64_t id;     /* 0 = empty slot */
    size_t offset;   /* into pool */
    size_t len;
} fm_intern_slot;

typedef struct fm_intern {
    fm_intern_slot *slots;
    size_t nslots;   /* power of two */
    size_t used;
    fm_bytebuf pool;
} fm_intern;

void fm_intern_init(fm_intern *t);
void fm_intern_free(fm_intern *t);
/* The id of s, or 0 when it has none yet. */
uint64_t fm_intern_find(const fm_intern *t, const char *s, size_t len);
/* Records that s has id (not yet present). Returns 0 or FM_E_NOMEM. */
int fm_intern_add(fm_intern *t, const char *s, size_t len, uint64_t id);

#endif
