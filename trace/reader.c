/* reader.c - streams and checks a trace chunk by chunk (contract in trace_reader.h). */
#define _GNU_SOURCE
#include "flopmeter/trace_reader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "bytebuf.h"
#include "chunk.h"
#include "record_codec.h"
#include "sysio.h"

struct fm_reader {
    char *name;
    int fd;                   /* -1 for memory input */
    const uint8_t *mem;
    size_t mem_len;
    uint64_t pos;             /* offset of the next unread byte */

    fm_file_header hdr;
    fm_reader_info info;

    int err;                  /* sticky */
    char msg[512];
    uint64_t err_off;
    int done;

    uint8_t expect_prev[FM_HASH_LEN];
    uint64_t prev_chunk_offset;
    int after_final;

    fm_bytebuf comp, raw, arena;
    z_stream zs;
    int zs_ready;

    fm_chunk_info cur;
    fm_dec cursor;
    uint32_t remaining;       /* records of the current chunk not delivered yet */
};

static int fail(fm_reader *r, int status, uint64_t off, const char *fmt, ...)
{
    if (r->err)
        return r->err;
    r->err = status;
    r->err_off = off;
    int n = snprintf(r->msg, sizeof r->msg, "%s: ", r->name);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof r->msg)
        n += vsnprintf(r->msg + n, sizeof r->msg - (size_t)n, fmt, ap);
    va_end(ap);
    if (n > 0 && (size_t)n < sizeof r->msg)
        snprintf(r->msg + n, sizeof r->msg - (size_t)n, " (byte offset %llu)",
                 (unsigned long long)off);
    return status;
}

/* Reads up to n bytes at the current position; returns the count, or -1 on an I/O error. */
static long long src_read(fm_reader *r, void *buf, size_t n)
{
    long long got;
    if (r->fd < 0) {
        size_t left = r->pos < r->mem_len ? r->mem_len - (size_t)r->pos : 0;
        got = (long long)(n < left ? n : left);
        if (got)
            memcpy(buf, r->mem + r->pos, (size_t)got);
    } else {
        got = fm_read_full(r->fd, buf, n);
        if (got < 0)
            return -1;
    }
    r->pos += (uint64_t)got;
    return got;
}

static fm_reader *new_reader(const char *name)
{
    fm_reader *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->name = strdup(name ? name : "(trace)");
    if (!r->name) {
        free(r);
        return NULL;
    }
    r->fd = -1;
    fm_bytebuf_init(&r->comp, compressBound(FM_MAX_CHUNK_RAW));
    fm_bytebuf_init(&r->raw, FM_MAX_CHUNK_RAW);
    fm_bytebuf_init(&r->arena, FM_MAX_ARRAY_BYTES);
    if (inflateInit(&r->zs) == Z_OK)
        r->zs_ready = 1;
    return r;
}

static int read_file_header(fm_reader *r)
{
    uint8_t h[FM_FILE_HEADER_SIZE];
    long long n = src_read(r, h, sizeof h);
    if (n < 0)
        return fail(r, FM_E_IO, 0, "read error: %s", strerror(errno));
    if (n == 0)
        return fail(r, FM_E_NOT_TRACE, 0, "empty file, not a flopmeter trace");
    if (n < (long long)sizeof h) {
        if (memcmp(h, FM_FILE_MAGIC, n < FM_FILE_MAGIC_LEN ? (size_t)n : FM_FILE_MAGIC_LEN))
            return fail(r, FM_E_NOT_TRACE, 0, "not a flopmeter trace (wrong magic bytes)");
        return fail(r, FM_E_TRUNCATED, (uint64_t)n,
                    "truncated inside the file header: no chunk was recovered");
    }
    const char *why = "";
    int rc = fm_file_header_parse(h, &r->hdr, &why);
    if (rc == FM_E_VERSION)
        return fail(r, rc, 8, "%s: file is format %u.%u, this reader reads %u.x", why,
                    r->hdr.major, r->hdr.minor, FM_FORMAT_MAJOR);
    if (rc != FM_OK)
        return fail(r, rc, 0, "%s", why);
    r->info.major = r->hdr.major;
    r->info.minor = r->hdr.minor;
    r->info.flags = r->hdr.flags;
    memcpy(r->info.trace_id, r->hdr.trace_id, 16);
    r->info.created_unix_ns = r->hdr.created_unix_ns;
    r->info.bytes_valid = FM_FILE_HEADER_SIZE;
    fm_sha256_2(h, sizeof h, NULL, 0, r->expect_prev);
    memcpy(r->info.head, r->expect_prev, FM_HASH_LEN);
    return FM_OK;
}

static int finish_open(fm_reader *r, fm_reader **out, char *errbuf, size_t errbuf_len)
{
    int rc = r->zs_ready ? read_file_header(r) : fail(r, FM_E_NOMEM, 0, "out of memory");
    if (rc != FM_OK) {
        if (errbuf)
            snprintf(errbuf, errbuf_len, "%s", r->msg);
        fm_reader_close(r);
        return rc;
    }
    *out = r;
    return FM_OK;
}

int fm_reader_open_file(fm_reader **out, const char *path, char *errbuf, size_t errbuf_len)
{
    *out = NULL;
    fm_reader *r = new_reader(path);
    if (!r) {
        if (errbuf)
            snprintf(errbuf, errbuf_len, "%s: out of memory", path);
        return FM_E_NOMEM;
    }
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        int e = errno;
        if (errbuf)
            snprintf(errbuf, errbuf_len, "%s: cannot open: %s", path, strerror(e));
        fm_reader_close(r);
        return FM_E_IO;
    }
    struct stat st;
    if (fstat(r->fd, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            if (errbuf)
                snprintf(errbuf, errbuf_len, "%s: is a directory, not a trace", path);
            fm_reader_close(r);
            return FM_E_IO;
        }
        r->info.file_bytes = (uint64_t)st.st_size;
    }
    return finish_open(r, out, errbuf, errbuf_len);
}

int fm_reader_open_memory(fm_reader **out, const void *data, size_t len, const char *name,
                          char *errbuf, size_t errbuf_len)
{
    *out = NULL;
    fm_reader *r = new_reader(name);
    if (!r) {
        if (errbuf)
            snprintf(errbuf, errbuf_len, "%s: out of memory", name ? name : "(trace)");
        return FM_E_NOMEM;
    }
    r->mem = data;
    r->mem_len = len;
    r->info.file_bytes = len;
    return finish_open(r, out, errbuf, errbuf_len);
}

/* Decodes every record of the chunk in r->raw once, so that nothing of a damaged chunk is ever
 * delivered, and checks that the chunk's type matches its records. */
static int check_records(fm_reader *r, const fm_chunk_header *h, uint64_t off)
{
    fm_dec d = {r->raw.data, r->raw.data + h->raw_len, 0};
    for (uint32_t i = 0; i < h->records; i++) {
        fm_record rec;
        const char *why = "";
        int rc = fm_record_decode(&d, r->hdr.minor, &r->arena, &rec, &why);
        if (rc != FM_OK)
            return fail(r, rc, off, "chunk %llu, record %u: %s", (unsigned long long)h->seq,
                        i, why);
        int is_final = rec.kind == FM_REC_FINAL, is_sig = rec.kind == FM_REC_SIGNATURE;
        if ((h->type == FM_CHUNK_FINAL) != is_final || (h->type == FM_CHUNK_SIGNATURE) != is_sig)
            return fail(r, FM_E_CORRUPT, off, "chunk %llu: a %s record in a chunk of type %u",
                        (unsigned long long)h->seq, fm_record_kind_name(rec.kind), h->type);
    }
    if (d.p != d.end)
        return fail(r, FM_E_CORRUPT, off, "chunk %llu: %zu bytes after its last record",
                    (unsigned long long)h->seq, (size_t)(d.end - d.p));
    if (h->type != FM_CHUNK_RECORDS && h->records != 1)
        return fail(r, FM_E_CORRUPT, off, "chunk %llu: must hold exactly one record",
                    (unsigned long long)h->seq);
    return FM_OK;
}

/* Reads, checks and decompresses the next chunk. FM_END at a clean end of file. */
static int load_chunk(fm_reader *r)
{
    uint64_t off = r->pos;
    uint8_t hb[FM_CHUNK_HEADER_SIZE];
    long long n = src_read(r, hb, sizeof hb);
    if (n < 0)
        return fail(r, FM_E_IO, off, "read error: %s", strerror(errno));
    if (n == 0)
        return FM_END;
    unsigned long long seq = (unsigned long long)r->info.chunks;
    if (n < (long long)sizeof hb)
        return fail(r, FM_E_TRUNCATED, off,
                    "truncated: the file ends inside the header of chunk %llu; %llu complete "
                    "chunks (%llu records) recovered",
                    seq, seq, (unsigned long long)r->info.records);
    fm_chunk_header h;
    const char *why = "";
    int rc = fm_chunk_header_parse(hb, &h, &why);
    if (rc != FM_OK)
        return fail(r, rc, off, "chunk %llu: %s", seq, why);
    if (h.seq != r->info.chunks)
        return fail(r, FM_E_CHAIN, off,
                    "chunk sequence number %llu where %llu was expected: chunks were removed, "
                    "reordered or inserted",
                    (unsigned long long)h.seq, seq);
    if (r->after_final && h.type != FM_CHUNK_SIGNATURE)
        return fail(r, FM_E_CORRUPT, off, "chunk %llu: data after the final chunk", seq);
    if (!r->after_final && h.type == FM_CHUNK_SIGNATURE)
        return fail(r, FM_E_CORRUPT, off, "chunk %llu: signature before the final chunk", seq);
    if (memcmp(h.prev_hash, r->expect_prev, FM_HASH_LEN) != 0) {
        if (seq == 0)
            return fail(r, FM_E_CHAIN, off,
                        "hash chain broken at chunk 0: the file header was modified");
        return fail(r, FM_E_CHAIN, off,
                    "hash chain broken at chunk %llu: chunk %llu (at byte %llu) was modified",
                    seq, seq - 1, (unsigned long long)r->prev_chunk_offset);
    }

    r->comp.len = 0;
    if ((rc = fm_bytebuf_reserve(&r->comp, h.comp_len)) != FM_OK ||
        (r->raw.len = 0, rc = fm_bytebuf_reserve(&r->raw, h.raw_len)) != FM_OK)
        return fail(r, FM_E_NOMEM, off, "chunk %llu: out of memory", seq);
    n = src_read(r, r->comp.data, h.comp_len);
    if (n < 0)
        return fail(r, FM_E_IO, off, "read error: %s", strerror(errno));
    if (n < (long long)h.comp_len)
        return fail(r, FM_E_TRUNCATED, off,
                    "truncated: the file ends inside chunk %llu; %llu complete chunks (%llu "
                    "records) recovered",
                    seq, seq, (unsigned long long)r->info.records);
    if ((uint32_t)crc32(0L, r->comp.data, h.comp_len) != h.payload_crc)
        return fail(r, FM_E_CORRUPT, off + FM_CHUNK_HEADER_SIZE,
                    "chunk %llu: payload checksum mismatch", seq);
    uint8_t hash[FM_HASH_LEN];
    fm_sha256_2(hb, sizeof hb, r->comp.data, h.comp_len, hash);
    if (fm_chunk_inflate(&r->zs, r->comp.data, h.comp_len, r->raw.data, h.raw_len) != FM_OK)
        return fail(r, FM_E_CORRUPT, off + FM_CHUNK_HEADER_SIZE,
                    "chunk %llu: compressed payload is damaged", seq);
    if ((rc = check_records(r, &h, off)) != FM_OK)
        return rc;

    memcpy(r->expect_prev, hash, FM_HASH_LEN);
    memcpy(r->info.head, hash, FM_HASH_LEN);
    r->prev_chunk_offset = off;
    r->info.chunks++;
    r->info.bytes_valid = r->pos;
    if (h.type == FM_CHUNK_FINAL) {
        r->after_final = 1;
        r->info.final_seen = 1;
        memcpy(r->info.head_before_final, h.prev_hash, FM_HASH_LEN);
    }
    r->cur.offset = off;
    r->cur.seq = h.seq;
    r->cur.type = h.type;
    r->cur.raw_len = h.raw_len;
    r->cur.comp_len = h.comp_len;
    r->cur.records = h.records;
    memcpy(r->cur.prev_hash, h.prev_hash, FM_HASH_LEN);
    r->cursor.p = r->raw.data;
    r->cursor.end = r->raw.data + h.raw_len;
    r->cursor.err = 0;
    r->remaining = h.records;
    return FM_OK;
}

int fm_reader_next(fm_reader *r, fm_record *rec)
{
    if (!r || !rec)
        return FM_E_INVALID;
    if (r->err)
        return r->err;
    if (r->done)
        return FM_END;
    while (r->remaining == 0) {
        int rc = load_chunk(r);
        if (rc == FM_END) {
            r->done = 1;
            return FM_END;
        }
        if (rc != FM_OK)
            return rc;
    }
    const char *why = "";
    int rc = fm_record_decode(&r->cursor, r->hdr.minor, &r->arena, rec, &why);
    if (rc != FM_OK) /* cannot happen: check_records decoded the same bytes */
        return fail(r, rc, r->cur.offset, "chunk %llu: %s", (unsigned long long)r->cur.seq, why);
    r->remaining--;
    r->info.records++;
    if (r->cur.type == FM_CHUNK_RECORDS)
        r->info.records_before_final++;
    if (rec->kind > FM_REC_KIND_MAX)
        r->info.unknown_records++;
    return FM_OK;
}

const fm_chunk_info *fm_reader_chunk(const fm_reader *r)
{
    return &r->cur;
}

const fm_reader_info *fm_reader_get_info(const fm_reader *r)
{
    return &r->info;
}

const char *fm_reader_error(const fm_reader *r)
{
    return r->err ? r->msg : "";
}

uint64_t fm_reader_error_offset(const fm_reader *r)
{
    return r->err ? r->err_off : 0;
}

const char *fm_reader_name(const fm_reader *r)
{
    return r->name;
}

void fm_reader_close(fm_reader *r)
{
    if (!r)
        return;
    if (r->fd >= 0)
        close(r->fd);
    if (r->zs_ready)
        inflateEnd(&r->zs);
    fm_bytebuf_free(&r->comp);
    fm_bytebuf_free(&r->raw);
    fm_bytebuf_free(&r->arena);
    free(r->name);
    free(r);
}
