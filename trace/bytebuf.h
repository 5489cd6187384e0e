/* bytebuf.h - a growable byte buffer with a hard size limit, and an arena on top of it. */
#ifndef FM_TRACE_BYTEBUF_H
#define FM_TRACE_BYTEBUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct fm_bytebuf {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t limit; /* growing beyond this fails; 0 = SIZE_MAX */
} fm_bytebuf;

void fm_bytebuf_init(fm_bytebuf *b, size_t limit);
void fm_bytebuf_free(fm_bytebuf *b);
/* Makes room for n more bytes. 0 on success, FM_E_NOMEM or FM_E_TOO_LARGE. */
int fm_bytebuf_reserve(fm_bytebuf *b, size_t n);
int fm_bytebuf_append(fm_bytebuf *b, const void *p, size_t n);
/* Appends n bytes aligned to 8 and returns them, or NULL. Pointers returned earlier become
 * invalid when the buffer grows, so arena users reserve first (fm_bytebuf_reserve). */
void *fm_bytebuf_alloc_aligned(fm_bytebuf *b, size_t n);

#endif
