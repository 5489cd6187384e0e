/* idmap.c - open-addressing map of non-zero ids (see idmap.h). */
#include "idmap.h"

#include <stdlib.h>
#include <string.h>

#include "flopmeter/trace_status.h"

static size_t slot_of(uint64_t key, size_t mask)
{
    key ^= key >> 33; /* ids are often dense small integers: spread them */
    key *= 0xff51afd7ed558ccdull;
    key ^= key >> 33;
    return (size_t)key & mask;
}

void fm_idmap_init(fm_idmap *m)
{
    memset(m, 0, sizeof *m);
}

void fm_idmap_free(fm_idmap *m)
{
    free(m->slots);
    memset(m, 0, sizeof *m);
}

int fm_idmap_get(const fm_idmap *m, uint64_t key, uint64_t *value)
{
    if (!m->nslots || key == 0)
        return 0;
    size_t mask = m->nslots - 1;
    for (size_t i = slot_of(key, mask);; i = (i + 1) & mask) {
        if (m->slots[i].key == key) {
            if (value)
                *value = m->slots[i].value;
            return 1;
        }
        if (m->slots[i].key == 0)
            return 0;
    }
}

static int grow(fm_idmap *m)
{
    size_t n = m->nslots ? m->nslots * 2 : 256;
    fm_idmap_slot *s = calloc(n, sizeof *s);
    if (!s)
        return FM_E_NOMEM;
    for (size_t i = 0; i < m->nslots; i++) {
        if (m->slots[i].key) {
            size_t j = slot_of(m->slots[i].key, n - 1);
            while (s[j].key)
                j = (j + 1) & (n - 1);
            s[j] = m->slots[i];
        }
    }
    free(m->slots);
    m->slots = s;
    m->nslots = n;
    return FM_OK;
}

int fm_idmap_put(fm_idmap *m, uint64_t key, uint64_t value)
{
    if (key == 0)
        return FM_E_INVALID;
    if ((m->used + 1) * 4 > m->nslots * 3 && grow(m) != FM_OK)
        return FM_E_NOMEM;
    size_t mask = m->nslots - 1;
    for (size_t i = slot_of(key, mask);; i = (i + 1) & mask) {
        if (m->slots[i].key == key) {
            m->slots[i].value = value;
            return FM_OK;
        }
        if (m->slots[i].key == 0) {
            m->slots[i].key = key;
            m->slots[i].value = value;
            m->used++;
            return FM_OK;
        }
    }
}
