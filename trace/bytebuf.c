/* bytebuf.c - growable byte buffer with a hard limit (see bytebuf.h). */
#include "bytebuf.h"

#include <stdlib.h>
#include <string.h>

#include "flopmeter/trace_status.h"

void fm_bytebuf_init(fm_bytebuf *b, size_t limit)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->limit = limit ? limit : SIZE_MAX;
}

void fm_bytebuf_free(fm_bytebuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int fm_bytebuf_reserve(fm_bytebuf *b, size_t n)
{
    if (n > b->limit || b->len > b->limit - n)
        return FM_E_TOO_LARGE;
    size_t need = b->len + n;
    if (need <= b->cap)
        return FM_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap > b->limit)
        cap = b->limit;
    uint8_t *p = realloc(b->data, cap);
    if (!p)
        return FM_E_NOMEM;
    b->data = p;
    b->cap = cap;
    return FM_OK;
}

int fm_bytebuf_append(fm_bytebuf *b, const void *p, size_t n)
{
    int rc = fm_bytebuf_reserve(b, n);
    if (rc != FM_OK)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return FM_OK;
}

void *fm_bytebuf_alloc_aligned(fm_bytebuf *b, size_t n)
{
    size_t pad = (8 - (b->len & 7)) & 7;
    if (fm_bytebuf_reserve(b, pad + n) != FM_OK)
        return NULL;
    b->len += pad;
    void *p = b->data + b->len;
    b->len += n;
    return p;
}
