/* trace_reader.h - streams the records of a trace, checking everything on the way.
 *
 * Contract:
 * - Streaming with bounded memory: one chunk at a time (at most FM_MAX_CHUNK_RAW decompressed).
 * - Every size, count and offset is checked before it is used; no input makes it crash, loop
 *   or allocate without bound.
 * - A chunk's records are delivered only after the whole chunk has been read, its header CRC,
 *   sequence number, sizes, zlib stream and record structure checked. The hash chain is checked
 *   as chunks arrive: a chunk whose hash does not match the next chunk's prev_hash was delivered
 *   already when the mismatch shows, so a consumer that needs integrity acts only after
 *   fm_reader_next returned FM_END.
 * - Errors are sticky and carry the byte offset where the problem was found. A file that ends
 *   inside a chunk gives FM_E_TRUNCATED after all complete chunks were delivered. A file that
 *   ends cleanly between chunks but has no FINAL chunk gives FM_END with info.final_seen == 0:
 *   the writer did not close it (the process was killed or is still running). */
#ifndef FLOPMETER_TRACE_READER_H
#define FLOPMETER_TRACE_READER_H

#include <stddef.h>
#include <stdint.h>

#include "trace_records.h"
#include "trace_status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fm_reader fm_reader;

typedef struct fm_chunk_info {
    uint64_t offset;        /* byte offset of the chunk header in the file */
    uint64_t seq;
    uint32_t type;          /* enum fm_chunk_type */
    uint32_t raw_len, comp_len, records;
    uint8_t prev_hash[FM_HASH_LEN];
} fm_chunk_info;

typedef struct fm_reader_info {
    uint32_t major, minor;
    uint64_t flags;
    uint8_t trace_id[16];
    uint64_t created_unix_ns;
    uint64_t chunks;           /* chunks read completely */
    uint64_t records;          /* records delivered */
    uint64_t records_before_final;
    uint64_t unknown_records;  /* records of kinds this reader does not know (newer minor) */
    uint64_t bytes_valid;      /* file bytes up to the end of the last complete chunk */
    uint64_t file_bytes;       /* size of the input */
    int final_seen;
    uint8_t head[FM_HASH_LEN]; /* hash of the last complete chunk (the chain head) */
    uint8_t head_before_final[FM_HASH_LEN]; /* prev_hash of the FINAL chunk, when seen */
} fm_reader_info;

/* Opens a trace file and reads its header. On failure returns a negative status with a message
 * in errbuf (which names the file). */
int fm_reader_open_file(fm_reader **out, const char *path, char *errbuf, size_t errbuf_len);

/* Reads a trace held in memory (the fuzzer and tests use this). The data must outlive the
 * reader. name is used in messages. */
int fm_reader_open_memory(fm_reader **out, const void *data, size_t len, const char *name,
                          char *errbuf, size_t errbuf_len);

/* Delivers the next record: FM_OK with *rec filled, FM_END at the end, or a negative status. */
int fm_reader_next(fm_reader *r, fm_record *rec);

/* The chunk the last delivered record came from. */
const fm_chunk_info *fm_reader_chunk(const fm_reader *r);

const fm_reader_info *fm_reader_get_info(const fm_reader *r);

/* The sticky error: a one-line message naming the input and the problem, and the byte offset
 * where it was found. "" and 0 when there was none. */
const char *fm_reader_error(const fm_reader *r);
uint64_t fm_reader_error_offset(const fm_reader *r);

/* The name given at open (the file's path). */
const char *fm_reader_name(const fm_reader *r);

void fm_reader_close(fm_reader *r);

#ifdef __cplusplus
}
#endif
#endif
