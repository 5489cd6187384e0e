/* sysio.h - system calls the trace library needs, wrapped to retry on EINTR and short
 * transfers, plus clocks and randomness. */
#ifndef FM_TRACE_SYSIO_H
#define FM_TRACE_SYSIO_H

#include <stddef.h>
#include <stdint.h>

/* 0 on success, -1 with errno set. */
int fm_write_all(int fd, const void *buf, size_t len);
/* Reads up to len bytes, stopping early only at end of file; returns bytes read or -1. */
long long fm_read_full(int fd, void *buf, size_t len);
int fm_fsync_retry(int fd);

uint64_t fm_now_unix_ns(void);
uint64_t fm_now_mono_ns(void);
/* Cheap monotonic clock with millisecond-ish resolution, for flush deadlines. */
uint64_t fm_now_mono_coarse_ns(void);

/* Fills buf with random bytes from the kernel. 0 on success. */
int fm_random_bytes(void *buf, size_t len);

#endif
