/* chunk.h - the file header, chunk headers, chunk payload compression and the chain hash.
 * The writer, the signer and the reader all go through these functions, so there is one
 * implementation of the framing described in docs/trace-format.md. */
#ifndef FM_TRACE_CHUNK_H
#define FM_TRACE_CHUNK_H

#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#include "bytebuf.h"
#include "flopmeter/trace_format.h"

typedef struct fm_file_header {
    uint32_t major, minor;
    uint32_t header_size;
    uint64_t flags;
    uint8_t trace_id[16];
    uint64_t created_unix_ns;
} fm_file_header;

void fm_file_header_pack(const fm_file_header *h, uint8_t out[FM_FILE_HEADER_SIZE]);
/* FM_E_NOT_TRACE (wrong magic), FM_E_VERSION (newer major or unknown required flag) or
 * FM_E_CORRUPT, with *why explaining. */
int fm_file_header_parse(const uint8_t in[FM_FILE_HEADER_SIZE], fm_file_header *h,
                         const char **why);

typedef struct fm_chunk_header {
    uint32_t type, codec;
    uint64_t seq;           /* stored as 32 bits */
    uint32_t payload_crc;
    uint32_t raw_len, comp_len, records;
    uint8_t prev_hash[FM_HASH_LEN];
} fm_chunk_header;

/* Packs h (seq must be at most FM_MAX_CHUNKS) and computes the header CRC. */
void fm_chunk_header_pack(const fm_chunk_header *h, uint8_t out[FM_CHUNK_HEADER_SIZE]);
/* Checks magic, CRC, type, codec and size limits. FM_E_CORRUPT with *why on failure. */
int fm_chunk_header_parse(const uint8_t in[FM_CHUNK_HEADER_SIZE], fm_chunk_header *h,
                          const char **why);

/* SHA-256 of a followed by b (b may be NULL). */
void fm_sha256_2(const void *a, size_t na, const void *b, size_t nb, uint8_t out[FM_HASH_LEN]);

/* Compresses payloads into complete chunks (header and payload in one buffer). */
typedef struct fm_chunk_builder {
    z_stream zs;
    int ready;
    fm_bytebuf out;
} fm_chunk_builder;

int fm_chunk_builder_init(fm_chunk_builder *b, int level);
void fm_chunk_builder_free(fm_chunk_builder *b);
/* Builds chunk seq of the given type over raw[0..raw_len) holding `records` records. The
 * result is in b->out (data, len) until the next call. FM_E_TOO_LARGE past FM_MAX_CHUNKS. */
int fm_chunk_build(fm_chunk_builder *b, uint32_t type, uint64_t seq,
                   const uint8_t prev_hash[FM_HASH_LEN], const uint8_t *raw, size_t raw_len,
                   uint32_t records);

/* Inflates exactly comp_len bytes into exactly raw_len bytes. FM_E_CORRUPT when the stream is
 * damaged, ends early, or does not match the declared sizes. */
int fm_chunk_inflate(z_stream *zs, const uint8_t *comp, size_t comp_len, uint8_t *raw,
                     size_t raw_len);

#endif
