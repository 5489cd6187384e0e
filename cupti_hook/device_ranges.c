/* device_ranges.c - allocated device ranges and argument hashing (see device_ranges.h). */
#include "device_ranges.h"

#include <stdlib.h>
#include <string.h>

void fm_device_ranges_init(fm_device_ranges *d)
{
    memset(d, 0, sizeof *d);
    pthread_mutex_init(&d->mu, NULL);
    atomic_init(&d->current, NULL);
}

void fm_device_ranges_free(fm_device_ranges *d)
{
    free(atomic_load(&d->current));
    for (size_t i = 0; i < d->n_retired; i++)
        free(d->retired[i]);
    free(d->retired);
    pthread_mutex_destroy(&d->mu);
}

static fm_range_set *new_set(uint32_t n)
{
    fm_range_set *s = malloc(sizeof *s + (size_t)n * sizeof(fm_range));
    if (s)
        s->n = n;
    return s;
}

/* Publishes next and keeps the old set for readers still holding it. Under the mutex. */
static int publish(fm_device_ranges *d, fm_range_set *next)
{
    fm_range_set *old = atomic_load(&d->current);
    if (old) {
        if (d->n_retired == d->cap_retired) {
            size_t cap = d->cap_retired ? d->cap_retired * 2 : 64;
            fm_range_set **r = realloc(d->retired, cap * sizeof *r);
            if (!r) {
                free(next);
                return -1;
            }
            d->retired = r;
            d->cap_retired = cap;
        }
        d->retired[d->n_retired++] = old;
    }
    atomic_store_explicit(&d->current, next, memory_order_release);
    return 0;
}

int fm_device_ranges_add(fm_device_ranges *d, uint64_t start, uint64_t size)
{
    if (!size || start + size < start)
        return 0;
    uint64_t end = start + size;
    pthread_mutex_lock(&d->mu);
    fm_range_set *old = atomic_load(&d->current);
    uint32_t n = old ? old->n : 0;
    fm_range_set *next = new_set(n + 1);
    int rc = -1;
    if (next) {
        uint32_t k = 0;
        int placed = 0;
        for (uint32_t i = 0; i <= n; i++) {
            fm_range in[2];
            int m = 0;
            if (!placed && (i == n || start < old->r[i].start)) {
                in[m++] = (fm_range){start, end};
                placed = 1;
            }
            if (i < n)
                in[m++] = old->r[i];
            for (int j = 0; j < m; j++) {
                /* overlapping ranges (rare: nested reservations) merge; adjacent ones stay
                 * apart, so that freeing one keeps the other */
                if (k && next->r[k - 1].end > in[j].start) {
                    if (in[j].end > next->r[k - 1].end)
                        next->r[k - 1].end = in[j].end;
                } else {
                    next->r[k++] = in[j];
                }
            }
        }
        next->n = k;
        rc = publish(d, next);
    }
    pthread_mutex_unlock(&d->mu);
    return rc;
}

void fm_device_ranges_remove(fm_device_ranges *d, uint64_t start)
{
    pthread_mutex_lock(&d->mu);
    fm_range_set *old = atomic_load(&d->current);
    if (old) {
        fm_range_set *next = new_set(old->n);
        if (next) {
            uint32_t k = 0;
            for (uint32_t i = 0; i < old->n; i++)
                if (old->r[i].start != start)
                    next->r[k++] = old->r[i];
            next->n = k;
            if (k != old->n)
                publish(d, next);
            else
                free(next);
        }
    }
    pthread_mutex_unlock(&d->mu);
}

int fm_device_ranges_contains(const fm_device_ranges *d, uint64_t v)
{
    const fm_range_set *s =
        atomic_load_explicit(&((fm_device_ranges *)d)->current, memory_order_acquire);
    if (!s)
        return 0;
    uint32_t lo = 0, hi = s->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (v < s->r[mid].start)
            hi = mid;
        else if (v >= s->r[mid].end)
            lo = mid + 1;
        else
            return 1;
    }
    return 0;
}

uint64_t fm_arg_hash(const fm_device_ranges *d, void *const *params, const size_t *sizes,
                     uint32_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (uint32_t i = 0; i < n; i++) {
        const unsigned char *p = params[i];
        size_t size = sizes[i];
        if (!p)
            continue;
        size_t j = 0;
        for (; j + 8 <= size; j += 8) {
            uint64_t w;
            memcpy(&w, p + j, 8);
            if (d && fm_device_ranges_contains(d, w))
                w = 0x5eed5eed5eed5eedull; /* a device pointer: where, not what */
            for (int b = 0; b < 8; b++) {
                h ^= (w >> (8 * b)) & 0xff;
                h *= 1099511628211ull;
            }
        }
        for (; j < size; j++) {
            h ^= p[j];
            h *= 1099511628211ull;
        }
        h ^= size; /* the layout is part of the identity */
        h *= 1099511628211ull;
    }
    /* 0 and all ones mean "not read" and "folded" in a signature (launch_table.h) */
    return h == 0 || h == ~0ull ? h ^ 1 : h;
}
