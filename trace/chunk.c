/* chunk.c - file and chunk framing, compression and hashing (see chunk.h). */
#include "chunk.h"

#include <openssl/evp.h>
#include <string.h>

#include "bytes.h"
#include "flopmeter/trace_status.h"

void fm_file_header_pack(const fm_file_header *h, uint8_t out[FM_FILE_HEADER_SIZE])
{
    memset(out, 0, FM_FILE_HEADER_SIZE);
    memcpy(out + FM_FH_OFF_MAGIC, FM_FILE_MAGIC, FM_FILE_MAGIC_LEN);
    fm_put_u16(out + FM_FH_OFF_MAJOR, (uint16_t)h->major);
    fm_put_u16(out + FM_FH_OFF_MINOR, (uint16_t)h->minor);
    fm_put_u32(out + FM_FH_OFF_HEADER_SIZE, FM_FILE_HEADER_SIZE);
    fm_put_u64(out + FM_FH_OFF_FLAGS, h->flags);
    memcpy(out + FM_FH_OFF_TRACE_ID, h->trace_id, 16);
    fm_put_u64(out + FM_FH_OFF_CREATED, h->created_unix_ns);
}

int fm_file_header_parse(const uint8_t in[FM_FILE_HEADER_SIZE], fm_file_header *h,
                         const char **why)
{
    if (memcmp(in + FM_FH_OFF_MAGIC, FM_FILE_MAGIC, FM_FILE_MAGIC_LEN) != 0) {
        *why = "no flopmeter trace header (wrong magic bytes)";
        return FM_E_NOT_TRACE;
    }
    h->major = fm_get_u16(in + FM_FH_OFF_MAJOR);
    h->minor = fm_get_u16(in + FM_FH_OFF_MINOR);
    h->header_size = fm_get_u32(in + FM_FH_OFF_HEADER_SIZE);
    h->flags = fm_get_u64(in + FM_FH_OFF_FLAGS);
    memcpy(h->trace_id, in + FM_FH_OFF_TRACE_ID, 16);
    h->created_unix_ns = fm_get_u64(in + FM_FH_OFF_CREATED);
    if (h->major != FM_FORMAT_MAJOR) {
        *why = "format major version not supported by this reader";
        return FM_E_VERSION;
    }
    if (h->flags & FM_FILE_FLAGS_REQUIRED_MASK) {
        *why = "file sets a required flag this reader does not know";
        return FM_E_VERSION;
    }
    if (h->header_size != FM_FILE_HEADER_SIZE) {
        *why = "file header size field is not 64";
        return FM_E_CORRUPT;
    }
    for (unsigned i = 48; i < FM_FILE_HEADER_SIZE; i++) {
        if (in[i]) {
            *why = "reserved file header bytes are not zero";
            return FM_E_CORRUPT;
        }
    }
    return FM_OK;
}

void fm_chunk_header_pack(const fm_chunk_header *h, uint8_t out[FM_CHUNK_HEADER_SIZE])
{
    fm_put_u32(out + FM_CH_OFF_MAGIC, FM_CHUNK_MAGIC);
    fm_put_u16(out + FM_CH_OFF_TYPE, (uint16_t)h->type);
    fm_put_u16(out + FM_CH_OFF_CODEC, (uint16_t)h->codec);
    fm_put_u32(out + FM_CH_OFF_SEQ, (uint32_t)h->seq);
    fm_put_u32(out + FM_CH_OFF_PAYLOAD_CRC, h->payload_crc);
    fm_put_u32(out + FM_CH_OFF_RAW_LEN, h->raw_len);
    fm_put_u32(out + FM_CH_OFF_COMP_LEN, h->comp_len);
    fm_put_u32(out + FM_CH_OFF_RECORDS, h->records);
    memcpy(out + FM_CH_OFF_PREV_HASH, h->prev_hash, FM_HASH_LEN);
    uLong crc = crc32(0L, out, FM_CH_OFF_HEADER_CRC);
    fm_put_u32(out + FM_CH_OFF_HEADER_CRC, (uint32_t)crc);
}

int fm_chunk_header_parse(const uint8_t in[FM_CHUNK_HEADER_SIZE], fm_chunk_header *h,
                          const char **why)
{
    if (fm_get_u32(in + FM_CH_OFF_MAGIC) != FM_CHUNK_MAGIC) {
        *why = "chunk header expected but no chunk magic found";
        return FM_E_CORRUPT;
    }
    if ((uint32_t)crc32(0L, in, FM_CH_OFF_HEADER_CRC) != fm_get_u32(in + FM_CH_OFF_HEADER_CRC)) {
        *why = "chunk header checksum mismatch";
        return FM_E_CORRUPT;
    }
    h->type = fm_get_u16(in + FM_CH_OFF_TYPE);
    h->codec = fm_get_u16(in + FM_CH_OFF_CODEC);
    h->seq = fm_get_u32(in + FM_CH_OFF_SEQ);
    h->payload_crc = fm_get_u32(in + FM_CH_OFF_PAYLOAD_CRC);
    h->raw_len = fm_get_u32(in + FM_CH_OFF_RAW_LEN);
    h->comp_len = fm_get_u32(in + FM_CH_OFF_COMP_LEN);
    h->records = fm_get_u32(in + FM_CH_OFF_RECORDS);
    memcpy(h->prev_hash, in + FM_CH_OFF_PREV_HASH, FM_HASH_LEN);
    if (h->type < FM_CHUNK_RECORDS || h->type > FM_CHUNK_SIGNATURE) {
        *why = "unknown chunk type";
        return FM_E_CORRUPT;
    }
    if (h->codec != FM_CODEC_ZLIB) {
        *why = "unknown chunk codec";
        return FM_E_CORRUPT;
    }
    if (h->raw_len > FM_MAX_CHUNK_RAW || h->comp_len > compressBound(FM_MAX_CHUNK_RAW)) {
        *why = "chunk size beyond the format's limit";
        return FM_E_CORRUPT;
    }
    if (h->records == 0 || h->records > h->raw_len / 2) {
        /* every record takes at least two bytes (kind and length) */
        *why = "chunk record count impossible for its size";
        return FM_E_CORRUPT;
    }
    return FM_OK;
}

void fm_sha256_2(const void *a, size_t na, const void *b, size_t nb, uint8_t out[FM_HASH_LEN])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int n = 0;
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
             EVP_DigestUpdate(ctx, a, na) && (!b || EVP_DigestUpdate(ctx, b, nb)) &&
             EVP_DigestFinal_ex(ctx, out, &n);
    EVP_MD_CTX_free(ctx);
    if (!ok || n != FM_HASH_LEN)
        memset(out, 0, FM_HASH_LEN); /* cannot happen with a working libcrypto; never matches */
}

int fm_chunk_builder_init(fm_chunk_builder *b, int level)
{
    memset(b, 0, sizeof *b);
    fm_bytebuf_init(&b->out, FM_CHUNK_HEADER_SIZE + compressBound(FM_MAX_CHUNK_RAW));
    if (deflateInit(&b->zs, level) != Z_OK)
        return FM_E_NOMEM;
    b->ready = 1;
    return FM_OK;
}

void fm_chunk_builder_free(fm_chunk_builder *b)
{
    if (b->ready)
        deflateEnd(&b->zs);
    b->ready = 0;
    fm_bytebuf_free(&b->out);
}

int fm_chunk_build(fm_chunk_builder *b, uint32_t type, uint64_t seq,
                   const uint8_t prev_hash[FM_HASH_LEN], const uint8_t *raw, size_t raw_len,
                   uint32_t records)
{
    if (!b->ready || raw_len > FM_MAX_CHUNK_RAW)
        return FM_E_INVALID;
    if (seq > FM_MAX_CHUNKS)
        return FM_E_TOO_LARGE;
    size_t bound = compressBound((uLong)raw_len);
    b->out.len = 0;
    int rc = fm_bytebuf_reserve(&b->out, FM_CHUNK_HEADER_SIZE + bound);
    if (rc != FM_OK)
        return rc;
    if (deflateReset(&b->zs) != Z_OK)
        return FM_E_NOMEM;
    b->zs.next_in = (Bytef *)raw;
    b->zs.avail_in = (uInt)raw_len;
    b->zs.next_out = b->out.data + FM_CHUNK_HEADER_SIZE;
    b->zs.avail_out = (uInt)bound;
    if (deflate(&b->zs, Z_FINISH) != Z_STREAM_END)
        return FM_E_NOMEM;
    fm_chunk_header h = {0};
    h.type = type;
    h.codec = FM_CODEC_ZLIB;
    h.seq = seq;
    h.raw_len = (uint32_t)raw_len;
    h.comp_len = (uint32_t)(bound - b->zs.avail_out);
    h.records = records;
    h.payload_crc = (uint32_t)crc32(0L, b->out.data + FM_CHUNK_HEADER_SIZE, h.comp_len);
    memcpy(h.prev_hash, prev_hash, FM_HASH_LEN);
    fm_chunk_header_pack(&h, b->out.data);
    b->out.len = FM_CHUNK_HEADER_SIZE + h.comp_len;
    return FM_OK;
}

int fm_chunk_inflate(z_stream *zs, const uint8_t *comp, size_t comp_len, uint8_t *raw,
                     size_t raw_len)
{
    if (inflateReset(zs) != Z_OK)
        return FM_E_CORRUPT;
    zs->next_in = (Bytef *)comp;
    zs->avail_in = (uInt)comp_len;
    zs->next_out = raw;
    zs->avail_out = (uInt)raw_len;
    int z = inflate(zs, Z_FINISH);
    /* The stream must end exactly where both declared sizes end. */
    if (z != Z_STREAM_END || zs->avail_in != 0 || zs->avail_out != 0)
        return FM_E_CORRUPT;
    return FM_OK;
}
