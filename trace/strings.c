/* strings.c - id -> text table for trace consumers (see trace_strings.h). */
#include "flopmeter/trace_strings.h"

#include <stdlib.h>

#include "bytebuf.h"
#include "idmap.h"
#include "flopmeter/trace_status.h"

struct fm_strings {
    fm_idmap index; /* id -> (offset << 24 | length) into pool */
    fm_bytebuf pool;
};

fm_strings *fm_strings_new(void)
{
    fm_strings *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    fm_idmap_init(&t->index);
    fm_bytebuf_init(&t->pool, 0);
    return t;
}

void fm_strings_free(fm_strings *t)
{
    if (!t)
        return;
    fm_idmap_free(&t->index);
    fm_bytebuf_free(&t->pool);
    free(t);
}

int fm_strings_add(fm_strings *t, uint64_t id, fm_str text)
{
    /* record bodies are below 2^23 bytes, so a length fits in 24 bits */
    if (id == 0 || text.len >= (1u << 24) || fm_idmap_get(&t->index, id, NULL))
        return FM_E_CORRUPT;
    uint64_t off = t->pool.len;
    if (off >= (1ull << 40))
        return FM_E_NOMEM;
    if (fm_bytebuf_append(&t->pool, text.ptr, text.len) != FM_OK)
        return FM_E_NOMEM;
    return fm_idmap_put(&t->index, id, (off << 24) | text.len);
}

fm_str fm_strings_get(const fm_strings *t, uint64_t id, int *found)
{
    uint64_t v;
    fm_str s = {"", 0};
    int ok = fm_idmap_get(&t->index, id, &v);
    if (found)
        *found = ok;
    if (ok) {
        s.len = (size_t)(v & 0xffffff);
        if (t->pool.data)
            s.ptr = (const char *)t->pool.data + (v >> 24);
    }
    return s;
}
