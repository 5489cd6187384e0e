/* reserve.h - address space for the collector's tables: sized for their most entries at start,
 * committed by the kernel only as pages are touched, so that nothing on the launch path
 * allocates and an unused capacity costs no memory. */
#ifndef FM_HOOK_RESERVE_H
#define FM_HOOK_RESERVE_H

#include <stddef.h>
#include <sys/mman.h>

/* Zeroed memory of bytes, or NULL. */
static inline void *fm_reserve(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* Gives back what fm_reserve gave; NULL is ignored. */
static inline void fm_release(void *p, size_t bytes)
{
    if (p)
        munmap(p, bytes);
}

#endif
