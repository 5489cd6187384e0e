/* cmd_merge.c - `flopmeter merge`: one verifiable trace from the traces of one run.
 *
 * Streaming: each input is read once, checked as it is read, and its records are written
 * straight into the output with their ids renumbered (strings are shared through the
 * writer's string table; everything else gets new ids per input). Memory grows with the
 * distinct strings and with one input's ids; with the number of inputs only by their paths
 * and a small identity each (run, process, file) for the checks before merging. After each
 * input, an INPUT record (format 1.1) states where its records came from: path, trace id,
 * chain head, completeness and signatures, so the merged trace names the exact bytes it was
 * made from. Inputs' own signatures cannot carry over (the bytes change); they are checked
 * and counted instead. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "idmap.h"
#include "record_codec.h"
#include "trace_paths.h"
#include "flopmeter/trace_reader.h"
#include "flopmeter/trace_sign.h"
#include "flopmeter/trace_strings.h"
#include "flopmeter/trace_verify.h"
#include "flopmeter/trace_writer.h"

static const char usage[] =
    "usage: flopmeter merge [--allow-incomplete] [--pubkey KEY.pem] OUT TRACE|DIR...\n"
    "\n"
    "Writes OUT, one trace holding the traces of one run (the same run id, world size and tool\n"
    "version; the ones that differ are named with both values, and nothing is written). A\n"
    "trace given twice (the same file, or two traces of one process) is refused. Each input\n"
    "is verified as it is read; the merged trace records, for every input, its path, trace id,\n"
    "chain head, completeness and signatures, and is itself verifiable and signable. flopmeter\n"
    "report and export read it like the inputs. OUT must not exist.\n"
    "\n"
    "  --allow-incomplete     merge damaged or unfinished inputs up to the damage (recorded as\n"
    "                         incomplete in the merged trace)\n"
    "  --pubkey KEY.pem       require every input to carry a valid signature by this key (also\n"
    "                         with --allow-incomplete: an unsigned input is never merged)\n";

/* What the checks before merging need of an input: the run it belongs to (from its RUN_META
 * record), the process that wrote it, and the file itself. */
typedef struct input_id {
    char *run_id, *tool, *host;
    uint64_t world_size, pid;
    int64_t rank;
    dev_t dev;
    ino_t ino;
    int index; /* position among the inputs */
} input_id;

static void free_ids(input_id *ids, int n)
{
    for (int i = 0; ids && i < n; i++) {
        free(ids[i].run_id);
        free(ids[i].tool);
        free(ids[i].host);
    }
    free(ids);
}

static char *dup_field(fm_str s)
{
    return strndup(s.ptr ? s.ptr : "", s.len);
}

/* Fills *id from the file's RUN_META record. 0; -1 with a message (EXIT_BAD_INPUT), or -2 out
 * of memory (EXIT_INTERNAL). */
static int read_identity(const char *path, input_id *id, char *err, size_t errlen)
{
    fm_reader *r = NULL;
    if (fm_reader_open_file(&r, path, err, errlen) != FM_OK)
        return -1;
    fm_record rec;
    int rc = fm_reader_next(r, &rec), result = -1;
    struct stat st;
    if (rc < 0) {
        snprintf(err, errlen, "%s", fm_reader_error(r));
    } else if (rc != FM_OK || rec.kind != FM_REC_RUN_META) {
        snprintf(err, errlen, "%s: does not start with a run_meta record", path);
    } else if (fm_reader_get_info(r)->flags & FM_FILE_FLAG_MERGED) {
        snprintf(err, errlen, "%s: is itself a merged trace; merge the original traces", path);
    } else if (stat(path, &st) != 0) {
        snprintf(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
    } else {
        const fm_rec_run_meta *m = &rec.u.run_meta;
        id->run_id = dup_field(m->run_id);
        id->tool = dup_field(m->tool_version);
        id->host = dup_field(m->host);
        id->world_size = m->world_size;
        id->pid = m->pid;
        id->rank = m->rank;
        id->dev = st.st_dev;
        id->ino = st.st_ino;
        result = id->run_id && id->tool && id->host ? 0 : -2;
        if (result)
            snprintf(err, errlen, "out of memory");
    }
    fm_reader_close(r);
    return result;
}

/* Appends printf output to out at *n, never past len. */
static void append(char *out, size_t len, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void append(char *out, size_t len, size_t *n, const char *fmt, ...)
{
    if (*n >= len)
        return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(out + *n, len - *n, fmt, ap);
    va_end(ap);
    *n = k < 0 ? len : *n + (size_t)k;
}

/* One clause of a mismatch line: "what differs from FIRST: mine vs theirs" the first time,
 * "what also differs: mine vs theirs" after that. q quotes text values. */
static void clause(char *out, size_t len, size_t *n, int *k, const char *what,
                   const char *first_path, const char *q, const char *mine, const char *theirs)
{
    if (*k)
        append(out, len, n, "; %s also differs: %s%s%s vs %s%s%s", what, q, mine, q, q, theirs,
               q);
    else
        append(out, len, n, "%s differs from %s: %s%s%s vs %s%s%s", what, first_path, q, mine,
               q, q, theirs, q);
    (*k)++;
}

/* One line naming every field in which input a differs from the first input, each with both
 * values (a's first), so that the user sees which value is the odd one. 0 when none differs. */
static int describe_mismatch(const char *path, const input_id *a, const char *first_path,
                             const input_id *first, char *out, size_t len)
{
    size_t n = 0;
    int k = 0;
    append(out, len, &n, "%s: ", path);
    if (strcmp(a->run_id, first->run_id) != 0)
        clause(out, len, &n, &k, "run id", first_path, "'", a->run_id, first->run_id);
    if (a->world_size != first->world_size) {
        char mine[24], theirs[24];
        snprintf(mine, sizeof mine, "%" PRIu64, a->world_size);
        snprintf(theirs, sizeof theirs, "%" PRIu64, first->world_size);
        clause(out, len, &n, &k, "world size", first_path, "", mine, theirs);
    }
    if (strcmp(a->tool, first->tool) != 0)
        clause(out, len, &n, &k, "tool version", first_path, "'", a->tool, first->tool);
    return k;
}

static int by_file(const void *x, const void *y)
{
    const input_id *a = x, *b = y;
    if (a->dev != b->dev)
        return a->dev < b->dev ? -1 : 1;
    if (a->ino != b->ino)
        return a->ino < b->ino ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

static int by_process(const void *x, const void *y)
{
    const input_id *a = x, *b = y;
    int c = strcmp(a->host, b->host);
    if (c)
        return c;
    if (a->pid != b->pid)
        return a->pid < b->pid ? -1 : 1;
    if (a->rank != b->rank)
        return a->rank < b->rank ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

/* Names two inputs that are one: lo and hi in the order they were given. */
static void name_duplicate(const input_id *x, const input_id *y, char *const *paths,
                           const char *why, char *err, size_t errlen)
{
    const input_id *lo = x->index < y->index ? x : y, *hi = lo == x ? y : x;
    if (strcmp(paths[lo->index], paths[hi->index]) == 0)
        snprintf(err, errlen, "merge: %s is given twice", paths[lo->index]);
    else
        snprintf(err, errlen, "merge: %s and %s %s", paths[lo->index], paths[hi->index], why);
}

/* Refuses an input given twice: the same file (under any name), or two traces written by one
 * process (a copy), since the merged trace would count that work twice. Sorts ids. */
static int find_duplicate(input_id *ids, int n, char *const *paths, char *err, size_t errlen)
{
    qsort(ids, (size_t)n, sizeof *ids, by_file);
    for (int i = 1; i < n; i++)
        if (ids[i].dev == ids[i - 1].dev && ids[i].ino == ids[i - 1].ino) {
            name_duplicate(&ids[i - 1], &ids[i], paths, "are the same file", err, errlen);
            return -1;
        }
    qsort(ids, (size_t)n, sizeof *ids, by_process);
    int start = 0; /* the first input of the current host and pid */
    for (int i = 1; i < n; i++) {
        if (strcmp(ids[i].host, ids[start].host) != 0 || ids[i].pid != ids[start].pid) {
            start = i;
            continue;
        }
        /* ranks ascend within a host and pid, so an unknown rank (-1), which cannot tell two
         * traces of one process apart, is the first */
        const input_id *twin = ids[start].rank < 0              ? &ids[start]
                               : ids[i - 1].rank == ids[i].rank ? &ids[i - 1]
                                                                : NULL;
        if (twin) {
            char why[512];
            snprintf(why, sizeof why, "were written by the same process (host '%s', pid %" PRIu64
                                      ", ranks %" PRId64 " and %" PRId64 ")",
                     ids[i].host, ids[i].pid, twin->rank, ids[i].rank);
            name_duplicate(twin, &ids[i], paths, why, err, errlen);
            return -1;
        }
    }
    return 0;
}

/* Reads every input's identity, names each input that does not belong to the first one's run
 * and refuses inputs given twice. EXIT_OK, or the exit status after the messages. */
static int check_inputs(char *const *paths, int n, input_id *ids)
{
    char err[1024];
    int mismatches = 0;
    for (int i = 0; i < n; i++) {
        int rc = read_identity(paths[i], &ids[i], err, sizeof err);
        ids[i].index = i;
        if (rc != 0) {
            cli_error("%s", err);
            return rc == -2 ? EXIT_INTERNAL : EXIT_BAD_INPUT;
        }
        if (i && describe_mismatch(paths[i], &ids[i], paths[0], &ids[0], err, sizeof err)) {
            cli_error("%s", err);
            mismatches++;
        }
    }
    if (mismatches) {
        cli_error("merge: %d of %d traces do not belong to the run of %s; nothing written",
                  mismatches, n, paths[0]);
        return EXIT_BAD_INPUT;
    }
    if (find_duplicate(ids, n, paths, err, sizeof err) != 0) {
        cli_error("%s; nothing written", err);
        return EXIT_BAD_INPUT;
    }
    return EXIT_OK;
}

/* Ids of one input, renumbered for the output. */
typedef struct remap {
    fm_idmap strings, callsites, signatures, groups, phases;
} remap;

static void remap_init(remap *m)
{
    fm_idmap_init(&m->strings);
    fm_idmap_init(&m->callsites);
    fm_idmap_init(&m->signatures);
    fm_idmap_init(&m->groups);
    fm_idmap_init(&m->phases);
}

static void remap_free(remap *m)
{
    fm_idmap_free(&m->strings);
    fm_idmap_free(&m->callsites);
    fm_idmap_free(&m->signatures);
    fm_idmap_free(&m->groups);
    fm_idmap_free(&m->phases);
}

static uint64_t map_id(const fm_idmap *m, uint64_t id)
{
    uint64_t v = 0;
    if (id)
        fm_idmap_get(m, id, &v);
    return v;
}

typedef struct merger {
    fm_writer *w;
    uint64_t next_callsite, next_signature, next_group, next_phase;
    fm_frame frames[FM_MAX_FRAMES];
    fm_metric_def metrics[FM_MAX_METRICS];
} merger;

/* Rewrites one record of an input with the output's ids and appends it. */
static int copy_record(merger *g, remap *m, const fm_record *in)
{
    fm_record r = *in;
    switch (in->kind) {
    case FM_REC_STRING: {
        uint64_t id = fm_writer_intern(g->w, in->u.string.text.ptr, in->u.string.text.len);
        return id && fm_idmap_put(&m->strings, in->u.string.id, id) == 0 ? FM_OK : FM_E_NOMEM;
    }
    case FM_REC_CALLSITE:
        for (uint64_t i = 0; i < in->u.callsite.n_frames; i++) {
            g->frames[i] = in->u.callsite.frames[i];
            g->frames[i].module = map_id(&m->strings, g->frames[i].module);
            g->frames[i].symbol = map_id(&m->strings, g->frames[i].symbol);
        }
        r.u.callsite.frames = g->frames;
        r.u.callsite.id = ++g->next_callsite;
        if (fm_idmap_put(&m->callsites, in->u.callsite.id, r.u.callsite.id) != 0)
            return FM_E_NOMEM;
        break;
    case FM_REC_KERNEL_SIGNATURE:
        r.u.kernel_signature.id = ++g->next_signature;
        r.u.kernel_signature.name = map_id(&m->strings, in->u.kernel_signature.name);
        r.u.kernel_signature.callsite = map_id(&m->callsites, in->u.kernel_signature.callsite);
        if (fm_idmap_put(&m->signatures, in->u.kernel_signature.id, r.u.kernel_signature.id))
            return FM_E_NOMEM;
        break;
    case FM_REC_METRIC_GROUP:
        for (uint64_t i = 0; i < in->u.metric_group.n_metrics; i++) {
            g->metrics[i] = in->u.metric_group.metrics[i];
            g->metrics[i].name = map_id(&m->strings, g->metrics[i].name);
        }
        r.u.metric_group.metrics = g->metrics;
        r.u.metric_group.id = ++g->next_group;
        if (fm_idmap_put(&m->groups, in->u.metric_group.id, r.u.metric_group.id) != 0)
            return FM_E_NOMEM;
        break;
    case FM_REC_COUNTER_SAMPLE:
        r.u.counter_sample.signature = map_id(&m->signatures, in->u.counter_sample.signature);
        r.u.counter_sample.group = map_id(&m->groups, in->u.counter_sample.group);
        break;
    case FM_REC_AGGREGATE:
        r.u.aggregate.signature = map_id(&m->signatures, in->u.aggregate.signature);
        r.u.aggregate.phase = map_id(&m->phases, in->u.aggregate.phase);
        break;
    case FM_REC_PHASE_DEF:
        r.u.phase_def.id = ++g->next_phase;
        r.u.phase_def.name = map_id(&m->strings, in->u.phase_def.name);
        if (fm_idmap_put(&m->phases, in->u.phase_def.id, r.u.phase_def.id) != 0)
            return FM_E_NOMEM;
        break;
    case FM_REC_PHASE_EVENT:
        r.u.phase_event.phase = map_id(&m->phases, in->u.phase_event.phase);
        break;
    case FM_REC_DECLARATION:
        r.u.declaration.key = map_id(&m->strings, in->u.declaration.key);
        r.u.declaration.text = map_id(&m->strings, in->u.declaration.text);
        r.u.declaration.phase = map_id(&m->phases, in->u.declaration.phase);
        break;
    case FM_REC_RUN_META:
    case FM_REC_DEVICE:
    case FM_REC_DEGRADATION:
        break; /* no ids inside */
    case FM_REC_FINAL:
    case FM_REC_SIGNATURE:
    case FM_REC_INPUT:
        return FM_OK; /* belong to the input's own framing: summed up in the INPUT record */
    default:
        return FM_E_INVALID; /* a kind this version cannot renumber */
    }
    return fm_writer_append(g->w, &r);
}

/* The merged trace is written by this version, which writes only what its version of the
 * format defines; an input of a newer minor version may hold more (a record kind, or an
 * enumeration value such as a degradation kind or an exit reason). Such an input is refused
 * rather than changed: docs/trace-format.md, INPUT. 1 when rec is one, with the message. */
static int unknown_to_this_version(fm_reader *rd, const fm_record *rec, const char *path,
                                   char *err, size_t errlen)
{
    const char *why = "";
    unsigned minor = fm_reader_get_info(rd)->minor;
    if (rec->kind > FM_REC_KIND_MAX) {
        snprintf(err, errlen, "%s: holds records of kind %u, which this version does not know "
                              "(format 1.%u); merge it with a newer flopmeter",
                 path, rec->kind, minor);
        return 1;
    }
    if (fm_record_check(rec, 1, &why) == FM_OK)
        return 0;
    const fm_chunk_info *c = fm_reader_chunk(rd);
    snprintf(err, errlen, "%s: chunk %llu: a %s record holds a value this version does not "
                          "know (%s; format 1.%u) (byte offset %llu); merge it with a newer "
                          "flopmeter",
             path, (unsigned long long)c->seq, fm_record_kind_name(rec->kind), why, minor,
             (unsigned long long)c->offset);
    return 1;
}

/* Whether an input as verified may be merged. A required signature is never waived, not even
 * with --allow-incomplete (a damaged or unfinished trace has none: signatures follow the
 * final chunk), just as the report does. EXIT_OK, or the exit status with the message. */
static int input_verdict(const fm_verify_result *res, const fm_verify_options *vo,
                         int allow_incomplete, const char *path, char *err, size_t errlen)
{
    if (res->status == FM_E_NOMEM) {
        snprintf(err, errlen, "%s", res->message);
        return EXIT_INTERNAL;
    }
    if (res->status == FM_E_CRYPTO) {
        snprintf(err, errlen, "%s", res->message);
        return EXIT_BAD_INPUT;
    }
    if (vo->have_trusted_key && !res->trusted_signature_found) {
        snprintf(err, errlen, "%s: no valid signature by the trusted key (%s)", path,
                 res->message[0] ? res->message : "none found");
        return EXIT_BAD_INPUT;
    }
    if (res->status != FM_OK && !allow_incomplete) {
        snprintf(err, errlen, "%s (--allow-incomplete merges what precedes it)", res->message);
        return EXIT_BAD_INPUT;
    }
    return EXIT_OK;
}

/* The INPUT record that closes an input in the merged trace. */
static int append_input(merger *g, const char *path, uint64_t index, const fm_verify_result *res,
                        int64_t rank, const fm_rec_final *final)
{
    fm_record in = {.kind = FM_REC_INPUT};
    in.u.input.index = index;
    in.u.input.path = fm_str_c(path);
    memcpy(in.u.input.trace_id, res->info.trace_id, 16);
    memcpy(in.u.input.chain_head, res->info.head, FM_HASH_LEN);
    in.u.input.chunks = res->info.chunks;
    in.u.input.records = res->info.records;
    in.u.input.complete = res->status == FM_OK;
    in.u.input.signatures = res->signatures;
    in.u.input.signatures_valid = res->signatures_valid;
    in.u.input.rank = rank;
    in.u.input.end_unix_ns = final->end_unix_ns;
    in.u.input.exit_reason = final->exit_reason;
    in.u.input.records_dropped = final->records_dropped;
    return fm_writer_append(g->w, &in);
}

static int merge_one(merger *g, const char *path, uint64_t index, const fm_verify_options *vo,
                     int allow_incomplete, char *err, size_t errlen)
{
    fm_reader *rd = NULL;
    if (fm_reader_open_file(&rd, path, err, errlen) != FM_OK)
        return EXIT_BAD_INPUT;
    fm_verifier *v = fm_verifier_new(rd, vo);
    remap m;
    remap_init(&m);
    int status = v ? EXIT_OK : EXIT_INTERNAL;
    if (!v)
        snprintf(err, errlen, "%s: out of memory", path);
    int64_t rank = -1;
    fm_rec_final final = {.exit_reason = FM_EXIT_UNKNOWN}; /* its FINAL, zero when none */
    fm_record rec;
    int rc = FM_OK;
    while (status == EXIT_OK && (rc = fm_reader_next(rd, &rec)) == FM_OK) {
        if (fm_verifier_record(v, &rec) != FM_OK)
            break;
        if (unknown_to_this_version(rd, &rec, path, err, errlen)) {
            status = EXIT_BAD_INPUT;
            break;
        }
        if (rec.kind == FM_REC_RUN_META)
            rank = rec.u.run_meta.rank;
        if (rec.kind == FM_REC_FINAL)
            final = rec.u.final;
        if (copy_record(g, &m, &rec) != FM_OK) {
            snprintf(err, errlen, "%s", fm_writer_error(g->w));
            status = EXIT_INTERNAL;
        }
    }
    fm_verify_result res;
    if (v)
        fm_verifier_finish(v, rc, &res);
    if (status == EXIT_OK)
        status = input_verdict(&res, vo, allow_incomplete, path, err, errlen);
    if (status == EXIT_OK && append_input(g, path, index, &res, rank, &final) != FM_OK) {
        snprintf(err, errlen, "%s", fm_writer_error(g->w));
        status = EXIT_INTERNAL;
    }
    fm_verifier_free(v);
    fm_reader_close(rd);
    remap_free(&m);
    return status;
}

/* Writes out from the inputs, or nothing. */
static int write_merged(const char *out, char *const *paths, int n, const fm_verify_options *vo,
                        int allow)
{
    char err[1024];
    merger g;
    memset(&g, 0, sizeof g);
    fm_writer_options o;
    fm_writer_options_init(&o);
    o.file_flags = FM_FILE_FLAG_MERGED;
    o.flush_interval_ms = UINT32_MAX; /* no time pressure: chunks are cut by size */
    if (fm_writer_open(&g.w, out, &o, err, sizeof err) != FM_OK) {
        cli_error("%s", err);
        return EXIT_BAD_INPUT;
    }
    int status = EXIT_OK;
    for (int i = 0; i < n && status == EXIT_OK; i++) {
        fm_progress(i, n, paths[i]);
        status = merge_one(&g, paths[i], (uint64_t)i, vo, allow, err, sizeof err);
        if (status != EXIT_OK)
            cli_error("%s", err);
    }
    fm_progress_done();
    fm_writer_final_info fi = {0, FM_EXIT_TOOL, 0};
    if (status != EXIT_OK) {
        fm_writer_abandon(g.w); /* nothing half-merged stays behind */
        unlink(out);
    } else if (fm_writer_close(g.w, &fi) != FM_OK) {
        cli_error("%s: cannot finish the merged trace", out);
        unlink(out);
        status = EXIT_INTERNAL;
    }
    return status;
}

int cmd_merge(int argc, char **argv)
{
    static const struct option opts[] = {{"allow-incomplete", no_argument, NULL, 'i'},
                                         {"pubkey", required_argument, NULL, 'p'},
                                         {0, 0, 0, 0}};
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return EXIT_OK;
    }
    int allow = 0, c;
    const char *pubkey = NULL;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'i': allow = 1; break;
        case 'p': pubkey = optarg; break;
        default:
            cli_error("merge: unknown option or missing value '%s' (see flopmeter merge --help)",
                      argv[optind - 1]);
            return EXIT_BAD_INPUT;
        }
    }
    if (argc - optind < 2) {
        cli_error("merge: expected OUT and at least one TRACE (see flopmeter merge --help)");
        return EXIT_BAD_INPUT;
    }
    const char *out = argv[optind];
    char err[1024];
    fm_verify_options vo = {0};
    if (pubkey) {
        if (fm_load_public_key(pubkey, vo.trusted_key, err, sizeof err) != FM_OK) {
            cli_error("%s", err);
            return EXIT_BAD_INPUT;
        }
        vo.have_trusted_key = 1;
    }
    char **paths = NULL;
    int n = 0;
    if (fm_expand_trace_paths(argv + optind + 1, argc - optind - 1, &paths, &n, err,
                              sizeof err) != 0) {
        cli_error("%s", err);
        return EXIT_BAD_INPUT;
    }
    /* first: do the inputs belong together, each once? say which do not, and write nothing */
    input_id *ids = calloc((size_t)n, sizeof *ids);
    int status = ids ? check_inputs(paths, n, ids) : EXIT_INTERNAL;
    if (!ids)
        cli_error("out of memory");
    char *run_id = NULL;
    for (int i = 0; status == EXIT_OK && i < n; i++)
        if (ids[i].index == 0) /* check_inputs sorted them */
            run_id = ids[i].run_id;
    if (status == EXIT_OK)
        status = write_merged(out, paths, n, &vo, allow);
    if (status == EXIT_OK)
        printf("%s: %d traces of run '%s' merged\n", out, n, run_id ? run_id : "");
    free_ids(ids, n);
    fm_free_trace_paths(paths, n);
    return status;
}
