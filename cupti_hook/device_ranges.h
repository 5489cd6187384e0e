/* device_ranges.h - the device address ranges the program has allocated, so that argument
 * hashing can tell a device pointer (which changes from step to step without changing the
 * work) from a value (a size, a stride, which does change it).
 *
 * Readers (the launch path) take no lock: they load a pointer to an immutable sorted array,
 * announcing themselves in a per-epoch counter of their own shard. Writers (allocation
 * callbacks, program rate) build a new array under a mutex and publish it; a replaced array is
 * freed by a later writer once every reader that could have loaded it has left (two epochs,
 * as in userspace RCU), so a program that allocates and frees in a loop does not make the
 * hook's memory grow. */
#ifndef FM_HOOK_DEVICE_RANGES_H
#define FM_HOOK_DEVICE_RANGES_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fm_range {
    uint64_t start, end; /* [start, end) */
} fm_range;

typedef struct fm_range_set {
    uint64_t generation; /* unique in the process: what readers remember a set by */
    uint32_t n;
    fm_range r[]; /* sorted by start, not overlapping */
} fm_range_set;

/* Readers in flight, counted per epoch parity on lines of their own (a thread uses one
 * shard), so that a replaced set is freed once no reader can still be looking at it. */
#define FM_RANGE_READER_SHARDS 32
typedef struct fm_reader_shard {
    _Atomic uint64_t n;
} __attribute__((aligned(64))) fm_reader_shard;

typedef struct fm_retired_set {
    fm_range_set *set;
    uint64_t epoch; /* the epoch in which it was replaced */
} fm_retired_set;

typedef struct fm_device_ranges {
    _Atomic(fm_range_set *) current;
    _Atomic uint64_t epoch;
    fm_reader_shard readers[2][FM_RANGE_READER_SHARDS];
    pthread_mutex_t mu;
    fm_retired_set *retired; /* replaced sets not yet freed */
    size_t n_retired, cap_retired;
    uint64_t freed;          /* replaced sets freed so far */
} fm_device_ranges;

void fm_device_ranges_init(fm_device_ranges *d);
void fm_device_ranges_free(fm_device_ranges *d);

/* Adds [start, start + size); an overlapping range is merged. 0, or -1 out of memory. */
int fm_device_ranges_add(fm_device_ranges *d, uint64_t start, uint64_t size);
/* Removes the range that starts at start (a free). */
void fm_device_ranges_remove(fm_device_ranges *d, uint64_t start);

/* Replaced sets still kept (tests, and a bound on what reclamation leaves behind). */
size_t fm_device_ranges_retired(fm_device_ranges *d);

/* 1 when v lies in an allocated range. Lock-free. */
int fm_device_ranges_contains(const fm_device_ranges *d, uint64_t v);

/* Hash of a launch's argument bytes: every aligned 8-byte word that is a device pointer is
 * replaced by a fixed value, everything else is hashed as it is. params/sizes as the driver
 * gives them (kernelParams, and the parameter sizes as the glue caches them). */
uint64_t fm_arg_hash(const fm_device_ranges *d, void *const *params, const uint32_t *sizes,
                     uint32_t n);

#endif
