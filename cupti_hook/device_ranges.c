/* device_ranges.c - allocated device ranges and argument hashing (see device_ranges.h). */
#include "device_ranges.h"

#include <stdlib.h>
#include <string.h>

void fm_device_ranges_init(fm_device_ranges *d)
{
    memset(d, 0, sizeof *d);
    pthread_mutex_init(&d->mu, NULL);
    atomic_init(&d->current, NULL);
    atomic_init(&d->epoch, 1); /* epoch 0 had no readers: the first reclamation may go ahead */
}

void fm_device_ranges_free(fm_device_ranges *d)
{
    free(atomic_load(&d->current));
    for (size_t i = 0; i < d->n_retired; i++)
        free(d->retired[i].set);
    free(d->retired);
    pthread_mutex_destroy(&d->mu);
}

/* ---- readers ------------------------------------------------------------------------------ */

static _Atomic uint32_t next_shard;
static __thread uint32_t my_shard_plus1; /* 0: not assigned yet */

/* Announces a reader and returns the set to read, with the counter to give back. Sequentially
 * consistent: the writer's check of the counters and this increment are ordered, so either the
 * writer sees this reader, or this reader loads a set published after the writer's check. */
static const fm_range_set *enter(fm_device_ranges *d, _Atomic uint64_t **counter)
{
    if (!my_shard_plus1)
        my_shard_plus1 = atomic_fetch_add_explicit(&next_shard, 1, memory_order_relaxed) %
                             FM_RANGE_READER_SHARDS + 1;
    uint64_t e = atomic_load(&d->epoch);
    *counter = &d->readers[e & 1][my_shard_plus1 - 1].n;
    atomic_fetch_add(*counter, 1);
    return atomic_load(&d->current);
}

static void leave(_Atomic uint64_t *counter)
{
    atomic_fetch_sub_explicit(counter, 1, memory_order_release);
}

/* ---- writers (under the mutex) -------------------------------------------------------------- */

static fm_range_set *new_set(uint32_t n)
{
    fm_range_set *s = malloc(sizeof *s + (size_t)n * sizeof(fm_range));
    if (s)
        s->n = n;
    return s;
}

static uint64_t readers_of(fm_device_ranges *d, uint64_t parity)
{
    uint64_t n = 0;
    for (int i = 0; i < FM_RANGE_READER_SHARDS; i++)
        n += atomic_load(&d->readers[parity][i].n);
    return n;
}

/* Frees the sets replaced before the current epoch when no reader of the previous epoch is
 * left, then opens the next epoch. Readers of the current epoch loaded their set after the
 * epoch began, so after every set replaced before it; readers of older epochs were gone when
 * the current epoch was opened (the same check, one epoch earlier). A reader still in the
 * previous epoch postpones this to a later write. */
static void reclaim(fm_device_ranges *d)
{
    uint64_t e = atomic_load(&d->epoch);
    if (readers_of(d, (e - 1) & 1) != 0)
        return;
    size_t k = 0;
    for (size_t i = 0; i < d->n_retired; i++) {
        if (d->retired[i].epoch < e) {
            free(d->retired[i].set);
            d->freed++;
        } else {
            d->retired[k++] = d->retired[i];
        }
    }
    d->n_retired = k;
    atomic_store(&d->epoch, e + 1);
}

/* Publishes next; the old set waits in the retired list until no reader can hold it. */
static int publish(fm_device_ranges *d, fm_range_set *next)
{
    fm_range_set *old = atomic_load(&d->current);
    if (old) {
        if (d->n_retired == d->cap_retired) {
            size_t cap = d->cap_retired ? d->cap_retired * 2 : 64;
            fm_retired_set *r = realloc(d->retired, cap * sizeof *r);
            if (!r) {
                free(next);
                return -1;
            }
            d->retired = r;
            d->cap_retired = cap;
        }
    }
    /* a set's address may come back after it is freed; its generation never does */
    static _Atomic uint64_t generations;
    next->generation = atomic_fetch_add_explicit(&generations, 1, memory_order_relaxed) + 1;
    atomic_store(&d->current, next);
    if (old)
        d->retired[d->n_retired++] = (fm_retired_set){old, atomic_load(&d->epoch)};
    reclaim(d);
    return 0;
}

size_t fm_device_ranges_retired(fm_device_ranges *d)
{
    pthread_mutex_lock(&d->mu);
    size_t n = d->n_retired;
    pthread_mutex_unlock(&d->mu);
    return n;
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

/* Search in one published set. Branch-free halving: the outcome of each comparison is a
 * coin toss for the branch predictor, and a mispredicted branch costs more than the loads. */
static const fm_range *set_search(const fm_range_set *s, uint64_t v)
{
    const fm_range *base = s->r;
    uint32_t len = s->n;
    while (len > 1) {
        uint32_t half = len / 2;
        base = v >= base[half].start ? base + half : base;
        len -= half;
    }
    return v >= base->start && v < base->end ? base : NULL;
}



/* The ranges this thread's last pointers fell in, for the set they were found in: the
 * arguments of a training loop's kernels point into the same few allocations (a caching
 * allocator's segments) launch after launch. Cleared whenever another set is published. */
#define RECENT 4
static __thread uint64_t recent_generation;
static __thread fm_range recent[RECENT];
static __thread uint32_t recent_next;

/* Forgets the remembered ranges when they came from another set than s. */
static void remember_for(const fm_range_set *s)
{
    if (s && recent_generation != s->generation) {
        memset(recent, 0, sizeof recent);
        recent_generation = s->generation;
    }
}

/* Whether v lies outside every range of s: two compares for most values that are not
 * pointers (sizes, strides, flags, scalars). */
static int outside_all(const fm_range_set *s, uint64_t v)
{
    return !s || !s->n || v < s->r[0].start || v >= s->r[s->n - 1].end;
}

static int set_contains(const fm_range_set *s, uint64_t v)
{
    return !outside_all(s, v) && set_search(s, v) != NULL;
}

/* set_contains with the memo of recent ranges; remember_for(s) first. */
static int contains_remembering(const fm_range_set *s, uint64_t v)
{
    if (outside_all(s, v))
        return 0;
    for (int i = 0; i < RECENT; i++)
        if (v - recent[i].start < recent[i].end - recent[i].start)
            return 1;
    const fm_range *r = set_search(s, v);
    if (!r)
        return 0;
    recent[recent_next++ % RECENT] = *r;
    return 1;
}

int fm_device_ranges_contains(const fm_device_ranges *d, uint64_t v)
{
    _Atomic uint64_t *counter;
    const fm_range_set *s = enter((fm_device_ranges *)d, &counter);
    int in = set_contains(s, v);
    leave(counter);
    return in;
}

/* One step of the hash: a word at a time, one multiply on the chain that runs through every
 * word of a launch (that chain's latency is the hash's cost). Each step is a bijection of
 * h ^ w, so two launches that differ in one word differ after it. */
static inline uint64_t absorb(uint64_t h, uint64_t w)
{
    h = (h ^ w) * 0x9e3779b97f4a7c15ull;
    return h << 27 | h >> 37;
}

/* The last size % 8 bytes of a parameter, with fixed-size loads (a variable-size copy would be
 * a call, and a store the load then waits for). */
static inline uint64_t tail_word(const unsigned char *p, size_t left)
{
    uint64_t w = 0;
    if (left & 4) {
        uint32_t x;
        memcpy(&x, p, 4);
        w = x;
        p += 4;
    }
    if (left & 2) {
        uint16_t x;
        memcpy(&x, p, 2);
        w |= (uint64_t)x << 32;
        p += 2;
    }
    if (left & 1)
        w |= (uint64_t)p[0] << 48;
    return w;
}

uint64_t fm_arg_hash(const fm_device_ranges *d, void *const *params, const uint32_t *sizes,
                     uint32_t n)
{
    /* one snapshot of the ranges for the whole launch */
    _Atomic uint64_t *counter = NULL;
    const fm_range_set *ranges = d ? enter((fm_device_ranges *)d, &counter) : NULL;
    remember_for(ranges);
    uint64_t h = 0x6a09e667f3bcc909ull;
    /* the layout (parameter sizes) is part of the identity; it has a chain of its own, which
     * the CPU runs beside the words' */
    uint64_t layout = n;
    for (uint32_t i = 0; i < n; i++) {
        const unsigned char *p = params[i];
        uint32_t size = sizes[i];
        layout = (layout ^ size) * 0x100000001b3ull;
        if (!p)
            continue;
        size_t j = 0;
        for (; j + 8 <= size; j += 8) {
            uint64_t w;
            memcpy(&w, p + j, 8);
            if (contains_remembering(ranges, w))
                w = 0x5eed5eed5eed5eedull; /* a device pointer: where, not what */
            h = absorb(h, w);
        }
        if (j < size)
            h = absorb(h, tail_word(p + j, size - j));
    }
    if (counter)
        leave(counter);
    h = absorb(h, layout);
    h ^= h >> 29; /* spread the last word's bits over the whole hash */
    h *= 0x94d049bb133111ebull;
    h ^= h >> 32;
    /* 0 and all ones mean "not read" and "folded" in a signature (launch_table.h) */
    return h == 0 || h == ~0ull ? h ^ 1 : h;
}
