/* trace_writer.h - appends records to a trace file, in hash-chained zlib chunks.
 *
 * Contract:
 * - Append-only. Records are encoded into one bounded buffer; a chunk is cut when the buffer
 *   reaches chunk_target_bytes or when the oldest buffered record is older than
 *   flush_interval_ms (checked on every append and, with background_flush, by a thread of the
 *   writer, so an idle process loses at most one interval of data when it is killed).
 * - A chunk is written with one write(2) loop, so a process killed at any instant leaves a file
 *   whose complete chunks all read back; only the chunk being written can be cut short.
 * - Thread-safe: one writer may be used from many threads; a mutex serialises them. Callers on a
 *   hot path aggregate first and append from a background thread.
 * - Sticky errors: after the first failure every call returns that failure and fm_writer_error
 *   explains it; chunks already written stay valid.
 * - The writer sums the AGGREGATE records it is given, and fm_writer_close stores the sums, the
 *   number of chunks and records and the chain head in the FINAL record, so a reader can check
 *   that nothing was removed. */
#ifndef FLOPMETER_TRACE_WRITER_H
#define FLOPMETER_TRACE_WRITER_H

#include <stdint.h>

#include "trace_records.h"
#include "trace_status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fm_writer fm_writer;

typedef struct fm_writer_options {
    uint32_t chunk_target_bytes; /* raw bytes buffered before a chunk is cut; 0 = 256 KiB */
    uint32_t flush_interval_ms;  /* oldest buffered record's maximum age; 0 = 1000 */
    int background_flush;        /* 1: a writer thread flushes idle buffers on time */
    int fsync_each_chunk;        /* 1: fsync after every chunk (slower, survives power loss) */
    int compression_level;       /* zlib level 1..9; 0 = 6 */
    int have_trace_id;           /* 1: use trace_id below instead of a random one */
    uint8_t trace_id[16];
    uint64_t created_unix_ns;    /* 0 = now */
    uint64_t file_flags;         /* FM_FILE_FLAG_* informational bits */
} fm_writer_options;

/* Fills *opt with the defaults. */
void fm_writer_options_init(fm_writer_options *opt);

/* Creates (O_EXCL: never overwrites) a trace at path and writes its header. opt may be NULL.
 * On failure returns a negative status and, when errbuf is not NULL, a message in it. */
int fm_writer_open(fm_writer **out, const char *path, const fm_writer_options *opt, char *errbuf,
                   size_t errbuf_len);

/* Appends one record. FINAL and SIGNATURE records are refused (fm_writer_close and the signing
 * functions write those). Strings referred to by id must have been added with fm_writer_intern
 * or a STRING record. */
int fm_writer_append(fm_writer *w, const fm_record *rec);

/* Returns the id of a string, appending a STRING record the first time it is seen; 0 on
 * failure (the writer's error says why). len is the string's length in bytes. */
uint64_t fm_writer_intern(fm_writer *w, const char *s, size_t len);

/* Writes out everything buffered now as one chunk (nothing when the buffer is empty). */
int fm_writer_flush(fm_writer *w);

/* Flushes when the oldest buffered record is older than the flush interval. Cheap when not. */
int fm_writer_flush_if_due(fm_writer *w);

/* Information the caller adds to the FINAL record. */
typedef struct fm_writer_final_info {
    uint64_t end_unix_ns;        /* 0 = now */
    uint64_t exit_reason;        /* enum fm_exit_reason */
    uint64_t records_dropped;    /* records the caller had to drop (pool exhaustion) */
} fm_writer_final_info;

/* Flushes, writes the FINAL chunk, optionally fsyncs, closes the file and frees the writer.
 * Returns the first error the writer met, if any. info may be NULL. w may be NULL. */
int fm_writer_close(fm_writer *w, const fm_writer_final_info *info);

/* Frees the writer without writing anything more: for the child after fork(), whose copy of
 * the parent's buffer must not be written twice. Does not join the parent's flusher thread,
 * which does not exist in the child. */
void fm_writer_abandon(fm_writer *w);

/* The sticky error's message; without one, why the last refused record was refused; else "".
 * Valid until the writer is freed. */
const char *fm_writer_error(fm_writer *w);

/* Counters for tests and benchmarks. */
typedef struct fm_writer_stats {
    uint64_t records;
    uint64_t chunks;
    uint64_t raw_bytes;
    uint64_t file_bytes;
} fm_writer_stats;
void fm_writer_get_stats(fm_writer *w, fm_writer_stats *out);

#ifdef __cplusplus
}
#endif
#endif
