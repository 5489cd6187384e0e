/* writer.c - the trace writer: buffers encoded records, cuts hash-chained zlib chunks by size
 * or age, and closes the trace with a FINAL record (contract in trace_writer.h). */
#define _GNU_SOURCE
#include "flopmeter/trace_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chunk.h"
#include "intern.h"
#include "record_codec.h"
#include "sysio.h"
#include "flopmeter/trace_totals.h"

#define DEFAULT_CHUNK_TARGET (256u * 1024u)
#define DEFAULT_FLUSH_MS 1000u
#define DEFAULT_LEVEL 6

struct fm_writer {
    pthread_mutex_t mu;
    pthread_cond_t wake;
    pthread_t flusher;
    int flusher_running;
    int stopping;

    int fd;
    char *path;
    fm_writer_options opt;
    uint64_t flush_interval_ns;

    int err;             /* sticky: first failure */
    int refused;         /* msg explains the last refused record (no sticky error) */
    char msg[320];

    fm_bytebuf pending;  /* encoded records not yet in a chunk */
    uint32_t pending_records;
    uint64_t pending_since; /* coarse monotonic time of the oldest pending record */
    fm_bytebuf encoded;  /* one encoded record */
    fm_bytebuf body;     /* encoder scratch */
    fm_chunk_builder builder;

    uint8_t prev_hash[FM_HASH_LEN];
    uint64_t seq;
    uint64_t good_offset; /* file size after the last complete chunk */

    uint64_t next_string_id;
    fm_intern strings;
    fm_totals totals;
    fm_writer_stats stats;
};

void fm_writer_options_init(fm_writer_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->chunk_target_bytes = DEFAULT_CHUNK_TARGET;
    opt->flush_interval_ms = DEFAULT_FLUSH_MS;
    opt->compression_level = DEFAULT_LEVEL;
}

static void set_error(fm_writer *w, int status, const char *fmt, ...)
{
    if (w->err)
        return;
    w->err = status;
    w->refused = 0;
    int n = snprintf(w->msg, sizeof w->msg, "%s: ", w->path);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof w->msg)
        vsnprintf(w->msg + n, sizeof w->msg - (size_t)n, fmt, ap);
    va_end(ap);
}

/* Writes one complete chunk from the builder's output and advances the chain. On a failed
 * write the file is cut back to its last complete chunk, so what was written stays readable. */
static int write_chunk(fm_writer *w)
{
    const fm_bytebuf *c = &w->builder.out;
    if (fm_write_all(w->fd, c->data, c->len) != 0) {
        int e = errno;
        if (ftruncate(w->fd, (off_t)w->good_offset) == 0)
            (void)lseek(w->fd, (off_t)w->good_offset, SEEK_SET);
        set_error(w, FM_E_IO, "write failed: %s (the trace keeps its first %llu bytes)",
                  strerror(e), (unsigned long long)w->good_offset);
        return FM_E_IO;
    }
    if (w->opt.fsync_each_chunk && fm_fsync_retry(w->fd) != 0) {
        set_error(w, FM_E_IO, "fsync failed: %s", strerror(errno));
        return FM_E_IO;
    }
    fm_sha256_2(c->data, c->len, NULL, 0, w->prev_hash);
    w->seq++;
    w->good_offset += c->len;
    w->stats.chunks++;
    w->stats.file_bytes = w->good_offset;
    return FM_OK;
}

static int build_and_write(fm_writer *w, uint32_t type, const fm_bytebuf *raw, uint32_t records)
{
    int rc = fm_chunk_build(&w->builder, type, w->seq, w->prev_hash, raw->data, raw->len,
                            records);
    if (rc == FM_E_TOO_LARGE) {
        set_error(w, rc, "the trace reached the format's limit of 2^32 chunks");
        return rc;
    }
    if (rc != FM_OK) {
        set_error(w, rc, "compressing a chunk failed (%s)", fm_status_name(rc));
        return rc;
    }
    return write_chunk(w);
}

static int flush_locked(fm_writer *w)
{
    if (w->err)
        return w->err;
    if (w->pending_records == 0)
        return FM_OK;
    int rc = build_and_write(w, FM_CHUNK_RECORDS, &w->pending, w->pending_records);
    if (rc != FM_OK)
        return rc;
    w->stats.raw_bytes += w->pending.len;
    w->pending.len = 0;
    w->pending_records = 0;
    return FM_OK;
}

static int due(const fm_writer *w, uint64_t now)
{
    return w->pending_records && now - w->pending_since >= w->flush_interval_ns;
}

static int append_locked(fm_writer *w, const fm_record *rec)
{
    const char *why = "";
    w->encoded.len = 0;
    int rc = fm_record_encode(rec, &w->body, &w->encoded, &why);
    if (rc != FM_OK) {
        /* the record was refused; the trace is unharmed and the error is not sticky */
        w->refused = 1;
        snprintf(w->msg, sizeof w->msg, "%s: %s record refused: %s", w->path,
                 fm_record_kind_name(rec->kind), why);
        return rc;
    }
    if (w->pending_records && w->pending.len + w->encoded.len > w->opt.chunk_target_bytes) {
        rc = flush_locked(w);
        if (rc != FM_OK)
            return rc;
    }
    rc = fm_bytebuf_append(&w->pending, w->encoded.data, w->encoded.len);
    if (rc != FM_OK) {
        set_error(w, rc, "buffering a record failed (%s)", fm_status_name(rc));
        return rc;
    }
    uint64_t now = fm_now_mono_coarse_ns();
    if (w->pending_records++ == 0)
        w->pending_since = now;
    w->stats.records++;
    if (rec->kind == FM_REC_AGGREGATE)
        fm_totals_add_aggregate(&w->totals, &rec->u.aggregate);
    if (w->pending.len >= w->opt.chunk_target_bytes || due(w, now))
        return flush_locked(w);
    return FM_OK;
}

static void *flusher_main(void *arg)
{
    fm_writer *w = arg;
    pthread_mutex_lock(&w->mu);
    while (!w->stopping) {
        uint64_t now = fm_now_mono_coarse_ns();
        if (due(w, now))
            (void)flush_locked(w); /* failures are sticky and reported by the next call */
        uint64_t deadline = (w->pending_records ? w->pending_since : now) + w->flush_interval_ns;
        struct timespec ts = {(time_t)(deadline / 1000000000ull),
                              (long)(deadline % 1000000000ull)};
        pthread_cond_timedwait(&w->wake, &w->mu, &ts);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* The flusher thread must never receive the host program's signals. */
static int start_flusher(fm_writer *w)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&w->flusher, NULL, flusher_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        return FM_E_NOMEM;
    w->flusher_running = 1;
    return FM_OK;
}

static void free_writer(fm_writer *w)
{
    fm_bytebuf_free(&w->pending);
    fm_bytebuf_free(&w->encoded);
    fm_bytebuf_free(&w->body);
    fm_chunk_builder_free(&w->builder);
    fm_intern_free(&w->strings);
    free(w->path);
    free(w);
}

static void destroy_sync(fm_writer *w)
{
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->mu);
}

int fm_writer_open(fm_writer **out, const char *path, const fm_writer_options *opt, char *errbuf,
                   size_t errbuf_len)
{
    *out = NULL;
    fm_writer_options o;
    if (opt)
        o = *opt;
    else
        fm_writer_options_init(&o);
    if (o.chunk_target_bytes == 0)
        o.chunk_target_bytes = DEFAULT_CHUNK_TARGET;
    if (o.chunk_target_bytes > FM_MAX_CHUNK_RAW / 2)
        o.chunk_target_bytes = FM_MAX_CHUNK_RAW / 2;
    if (o.flush_interval_ms == 0)
        o.flush_interval_ms = DEFAULT_FLUSH_MS;
    if (o.compression_level < 1 || o.compression_level > 9)
        o.compression_level = DEFAULT_LEVEL;

    fm_writer *w = calloc(1, sizeof *w);
    char *path_copy = strdup(path);
    if (!w || !path_copy) {
        free(w);
        free(path_copy);
        if (errbuf)
            snprintf(errbuf, errbuf_len, "%s: out of memory", path);
        return FM_E_NOMEM;
    }
    w->path = path_copy;
    w->opt = o;
    w->flush_interval_ns = (uint64_t)o.flush_interval_ms * 1000000ull;
    w->next_string_id = 1;
    w->fd = -1;
    /* A pending chunk can hold the target plus one maximal record. */
    fm_bytebuf_init(&w->pending, (size_t)o.chunk_target_bytes + FM_MAX_RECORD_BODY + 32);
    fm_bytebuf_init(&w->encoded, FM_MAX_RECORD_BODY + 32);
    fm_bytebuf_init(&w->body, FM_MAX_RECORD_BODY + 1);
    fm_intern_init(&w->strings);
    fm_totals_init(&w->totals);

    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->wake, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&w->mu, NULL);

    int rc = fm_chunk_builder_init(&w->builder, o.compression_level);
    fm_file_header h = {0};
    h.major = FM_FORMAT_MAJOR;
    h.minor = FM_FORMAT_MINOR;
    h.header_size = FM_FILE_HEADER_SIZE;
    h.flags = o.file_flags & ~FM_FILE_FLAGS_REQUIRED_MASK;
    h.created_unix_ns = o.created_unix_ns ? o.created_unix_ns : fm_now_unix_ns();
    if (o.have_trace_id)
        memcpy(h.trace_id, o.trace_id, 16);
    else if (rc == FM_OK && fm_random_bytes(h.trace_id, 16) != 0)
        rc = FM_E_IO;
    if (rc != FM_OK) {
        if (errbuf)
            snprintf(errbuf, errbuf_len, "%s: cannot set up the writer (%s)", path,
                     fm_status_name(rc));
        goto fail;
    }

    w->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        if (errbuf)
            snprintf(errbuf, errbuf_len, "%s: cannot create trace: %s", path, strerror(errno));
        rc = FM_E_IO;
        goto fail;
    }
    uint8_t hdr[FM_FILE_HEADER_SIZE];
    fm_file_header_pack(&h, hdr);
    if (fm_write_all(w->fd, hdr, sizeof hdr) != 0) {
        if (errbuf)
            snprintf(errbuf, errbuf_len, "%s: cannot write trace header: %s", path,
                     strerror(errno));
        rc = FM_E_IO;
        goto fail;
    }
    fm_sha256_2(hdr, sizeof hdr, NULL, 0, w->prev_hash);
    w->good_offset = FM_FILE_HEADER_SIZE;
    w->stats.file_bytes = w->good_offset;
    if (o.background_flush && start_flusher(w) != FM_OK) {
        if (errbuf)
            snprintf(errbuf, errbuf_len, "%s: cannot start the flush thread", path);
        rc = FM_E_NOMEM;
        goto fail;
    }
    *out = w;
    return FM_OK;

fail:
    if (w->fd >= 0) {
        close(w->fd);
        unlink(path); /* we created it with O_EXCL, so it is ours */
    }
    destroy_sync(w);
    free_writer(w);
    return rc;
}

int fm_writer_append(fm_writer *w, const fm_record *rec)
{
    if (!w || !rec)
        return FM_E_INVALID;
    if (rec->kind == FM_REC_FINAL || rec->kind == FM_REC_SIGNATURE || rec->kind == FM_REC_STRING)
        return FM_E_INVALID; /* written by close, the signer and fm_writer_intern */
    pthread_mutex_lock(&w->mu);
    int rc = w->err ? w->err : append_locked(w, rec);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

uint64_t fm_writer_intern(fm_writer *w, const char *s, size_t len)
{
    if (!w || (!s && len))
        return 0;
    if (!s)
        s = "";
    pthread_mutex_lock(&w->mu);
    uint64_t id = 0;
    if (!w->err) {
        id = fm_intern_find(&w->strings, s, len);
        if (id == 0) {
            fm_record r = {.kind = FM_REC_STRING};
            r.u.string.id = w->next_string_id;
            r.u.string.text.ptr = s;
            r.u.string.text.len = len;
            if (append_locked(w, &r) == FM_OK) {
                if (fm_intern_add(&w->strings, s, len, w->next_string_id) == FM_OK)
                    id = w->next_string_id;
                else
                    set_error(w, FM_E_NOMEM, "string table: out of memory");
                w->next_string_id++; /* the STRING record exists either way: never reuse */
            }
        }
    }
    pthread_mutex_unlock(&w->mu);
    return id;
}

int fm_writer_flush(fm_writer *w)
{
    if (!w)
        return FM_E_INVALID;
    pthread_mutex_lock(&w->mu);
    int rc = flush_locked(w);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

int fm_writer_flush_if_due(fm_writer *w)
{
    if (!w)
        return FM_E_INVALID;
    pthread_mutex_lock(&w->mu);
    int rc = w->err;
    if (!rc && due(w, fm_now_mono_coarse_ns()))
        rc = flush_locked(w);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

static int write_final(fm_writer *w, const fm_writer_final_info *info)
{
    fm_class_flop classes[256];
    fm_record r = {.kind = FM_REC_FINAL};
    fm_rec_final *f = &r.u.final;
    f->end_unix_ns = info && info->end_unix_ns ? info->end_unix_ns : fm_now_unix_ns();
    f->exit_reason = info ? info->exit_reason : FM_EXIT_UNKNOWN;
    f->records_dropped = info ? info->records_dropped : 0;
    f->chunk_count = w->seq;
    f->record_count = w->stats.records;
    f->launches_total = w->totals.launches;
    f->n_classes = fm_totals_classes(&w->totals, classes);
    f->classes = classes;
    memcpy(f->chain_head, w->prev_hash, FM_HASH_LEN);

    const char *why = "";
    w->encoded.len = 0;
    int rc = fm_record_encode(&r, &w->body, &w->encoded, &why);
    if (rc != FM_OK) {
        set_error(w, rc, "cannot encode the final record: %s", why);
        return rc;
    }
    rc = build_and_write(w, FM_CHUNK_FINAL, &w->encoded, 1);
    if (rc == FM_OK)
        w->stats.raw_bytes += w->encoded.len;
    return rc;
}

int fm_writer_close(fm_writer *w, const fm_writer_final_info *info)
{
    if (!w)
        return FM_OK;
    pthread_mutex_lock(&w->mu);
    w->stopping = 1;
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->mu);
    if (w->flusher_running)
        pthread_join(w->flusher, NULL);

    int rc = flush_locked(w);
    if (rc == FM_OK)
        rc = write_final(w, info);
    if (rc == FM_OK && fm_fsync_retry(w->fd) != 0 && errno != EINVAL && errno != EROFS) {
        set_error(w, FM_E_IO, "fsync failed: %s", strerror(errno));
        rc = FM_E_IO;
    }
    if (close(w->fd) != 0 && rc == FM_OK) {
        set_error(w, FM_E_IO, "close failed: %s", strerror(errno));
        rc = FM_E_IO;
    }
    destroy_sync(w);
    free_writer(w);
    return rc;
}

void fm_writer_abandon(fm_writer *w)
{
    if (!w)
        return;
    /* In a forked child the mutex may be held by a thread that does not exist here, so it is
     * neither locked nor destroyed; only memory and this process's descriptor are released. */
    close(w->fd);
    free_writer(w);
}

const char *fm_writer_error(fm_writer *w)
{
    return (w && (w->err || w->refused)) ? w->msg : "";
}

void fm_writer_get_stats(fm_writer *w, fm_writer_stats *out)
{
    pthread_mutex_lock(&w->mu);
    *out = w->stats;
    pthread_mutex_unlock(&w->mu);
}
