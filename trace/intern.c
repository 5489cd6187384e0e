/* intern.c - open-addressing string table (see intern.h). */
#include "intern.h"

#include <stdlib.h>
#include <string.h>

#include "flopmeter/trace_status.h"

static uint64_t hash_bytes(const char *s, size_t len)
{
    /* FNV-1a: short kernel and symbol names dominate; quality is ample for a table */
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

void fm_intern_init(fm_intern *t)
{
    memset(t, 0, sizeof *t);
    fm_bytebuf_init(&t->pool, 0);
}

void fm_intern_free(fm_intern *t)
{
    free(t->slots);
    fm_bytebuf_free(&t->pool);
    memset(t, 0, sizeof *t);
}

static fm_intern_slot *probe(const fm_intern *t, uint64_t h, const char *s, size_t len)
{
    size_t mask = t->nslots - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        fm_intern_slot *e = &t->slots[i];
        if (e->id == 0)
            return e;
        if (e->hash == h && e->len == len &&
            (len == 0 || memcmp(t->pool.data + e->offset, s, len) == 0))
            return e;
    }
}

uint64_t fm_intern_find(const fm_intern *t, const char *s, size_t len)
{
    if (!t->nslots)
        return 0;
    return probe(t, hash_bytes(s, len), s, len)->id;
}

static int grow(fm_intern *t)
{
    size_t n = t->nslots ? t->nslots * 2 : 1024;
    fm_intern_slot *slots = calloc(n, sizeof *slots);
    if (!slots)
        return FM_E_NOMEM;
    fm_intern old = *t;
    t->slots = slots;
    t->nslots = n;
    for (size_t i = 0; i < old.nslots; i++) {
        if (old.slots[i].id) {
            size_t mask = n - 1, j = old.slots[i].hash & mask;
            while (slots[j].id)
                j = (j + 1) & mask;
            slots[j] = old.slots[i];
        }
    }
    free(old.slots);
    return FM_OK;
}

int fm_intern_add(fm_intern *t, const char *s, size_t len, uint64_t id)
{
    if ((t->used + 1) * 4 > t->nslots * 3 && grow(t) != FM_OK)
        return FM_E_NOMEM;
    uint64_t h = hash_bytes(s, len);
    size_t off = t->pool.len;
    if (fm_bytebuf_append(&t->pool, s, len) != FM_OK)
        return FM_E_NOMEM;
    fm_intern_slot *e = probe(t, h, s, len);
    e->hash = h;
    e->id = id;
    e->offset = off;
    e->len = len;
    t->used++;
    return FM_OK;
}
