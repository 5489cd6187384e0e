/* cmd_merge.c - `flopmeter merge`: one verifiable trace from the traces of one run.
 *
 * Streaming: each input is read once, checked as it is read, and its records are written
 * straight into the output with their ids renumbered (strings are shared through the
 * writer's string table; everything else gets new ids per input). Memory grows with the
 * distinct strings and with one input's ids, never with the number of inputs. After each
 * input, an INPUT record (format 1.1) states where its records came from: path, trace id,
 * chain head, completeness and signatures, so the merged trace names the exact bytes it was
 * made from. Inputs' own signatures cannot carry over (the bytes change); they are checked
 * and counted instead. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "idmap.h"
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
    "version; the ones that differ are named and nothing is written). Each input is verified\n"
    "as it is read; the merged trace records, for every input, its path, trace id, chain head,\n"
    "completeness and signatures, and is itself verifiable and signable. flopmeter report and\n"
    "export read it like the inputs. OUT must not exist.\n"
    "\n"
    "  --allow-incomplete     merge damaged or unfinished inputs up to the damage (recorded as\n"
    "                         incomplete in the merged trace)\n"
    "  --pubkey KEY.pem       require every input to carry a valid signature by this key\n";

/* The identity of a run, from an input's RUN_META record. */
typedef struct run_identity {
    char run_id[256], tool[64];
    uint64_t world_size;
    int64_t rank;
} run_identity;

static int read_identity(const char *path, run_identity *id, char *err, size_t errlen)
{
    fm_reader *r = NULL;
    if (fm_reader_open_file(&r, path, err, errlen) != FM_OK)
        return -1;
    fm_record rec;
    int rc = fm_reader_next(r, &rec);
    if (rc != FM_OK || rec.kind != FM_REC_RUN_META) {
        snprintf(err, errlen, "%s: %s", path,
                 rc < 0 ? fm_reader_error(r) : "does not start with a run_meta record");
        fm_reader_close(r);
        return -1;
    }
    if (fm_reader_get_info(r)->flags & FM_FILE_FLAG_MERGED) {
        snprintf(err, errlen, "%s: is itself a merged trace; merge the original traces", path);
        fm_reader_close(r);
        return -1;
    }
    const fm_rec_run_meta *m = &rec.u.run_meta;
    snprintf(id->run_id, sizeof id->run_id, "%.*s", (int)m->run_id.len, m->run_id.ptr);
    snprintf(id->tool, sizeof id->tool, "%.*s", (int)m->tool_version.len, m->tool_version.ptr);
    id->world_size = m->world_size;
    id->rank = m->rank;
    fm_reader_close(r);
    return 0;
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
    int64_t rank = -1;
    uint64_t end_ns = 0, exit_reason = FM_EXIT_UNKNOWN, dropped = 0;
    fm_record rec;
    int rc = FM_OK;
    while (status == EXIT_OK && (rc = fm_reader_next(rd, &rec)) == FM_OK) {
        if (fm_verifier_record(v, &rec) != FM_OK)
            break;
        if (rec.kind == FM_REC_RUN_META)
            rank = rec.u.run_meta.rank;
        if (rec.kind == FM_REC_FINAL) {
            end_ns = rec.u.final.end_unix_ns;
            exit_reason = rec.u.final.exit_reason;
            dropped = rec.u.final.records_dropped;
        }
        int wrc = copy_record(g, &m, &rec);
        if (wrc == FM_E_INVALID && rec.kind > FM_REC_KIND_MAX) {
            snprintf(err, errlen, "%s: holds records of a kind this version does not know "
                                  "(format 1.%u); merge it with a newer flopmeter",
                     path, fm_reader_get_info(rd)->minor);
            status = EXIT_BAD_INPUT;
        } else if (wrc != FM_OK) {
            snprintf(err, errlen, "%s", fm_writer_error(g->w));
            status = EXIT_INTERNAL;
        }
    }
    fm_verify_result res;
    if (v)
        fm_verifier_finish(v, rc, &res);
    if (status == EXIT_OK && res.status != FM_OK &&
        (!allow_incomplete || res.status == FM_E_CRYPTO || res.status == FM_E_NOMEM)) {
        snprintf(err, errlen, "%s%s", res.message,
                 res.status == FM_E_CRYPTO || res.status == FM_E_NOMEM
                     ? ""
                     : " (--allow-incomplete merges what precedes it)");
        status = res.status == FM_E_NOMEM ? EXIT_INTERNAL : EXIT_BAD_INPUT;
    }
    if (status == EXIT_OK) {
        fm_record in = {.kind = FM_REC_INPUT};
        in.u.input.index = index;
        in.u.input.path = fm_str_c(path);
        memcpy(in.u.input.trace_id, res.info.trace_id, 16);
        memcpy(in.u.input.chain_head, res.info.head, FM_HASH_LEN);
        in.u.input.chunks = res.info.chunks;
        in.u.input.records = res.info.records;
        in.u.input.complete = res.status == FM_OK;
        in.u.input.signatures = res.signatures;
        in.u.input.signatures_valid = res.signatures_valid;
        in.u.input.rank = rank;
        in.u.input.end_unix_ns = end_ns;
        in.u.input.exit_reason = exit_reason;
        in.u.input.records_dropped = dropped;
        if (fm_writer_append(g->w, &in) != FM_OK) {
            snprintf(err, errlen, "%s", fm_writer_error(g->w));
            status = EXIT_INTERNAL;
        }
    }
    fm_verifier_free(v);
    fm_reader_close(rd);
    remap_free(&m);
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

    /* first: do the inputs belong together? say which do not, and write nothing */
    run_identity first, id;
    int status = EXIT_OK, mismatches = 0;
    for (int i = 0; i < n && status == EXIT_OK; i++) {
        if (read_identity(paths[i], i ? &id : &first, err, sizeof err) != 0) {
            cli_error("%s", err);
            status = EXIT_BAD_INPUT;
            break;
        }
        if (!i)
            continue;
        const char *what = strcmp(id.run_id, first.run_id)   ? "run id"
                           : id.world_size != first.world_size ? "world size"
                           : strcmp(id.tool, first.tool)       ? "tool version"
                                                               : NULL;
        if (what) {
            cli_error("%s: %s differs from %s ('%s' rank %" PRId64 " vs '%s' of %s)", paths[i],
                      what, paths[0], id.run_id, id.rank, first.run_id, first.tool);
            mismatches++;
        }
    }
    if (status == EXIT_OK && mismatches) {
        cli_error("merge: %d of %d traces do not belong to the run of %s; nothing written",
                  mismatches, n, paths[0]);
        status = EXIT_BAD_INPUT;
    }

    merger g;
    memset(&g, 0, sizeof g);
    if (status == EXIT_OK) {
        fm_writer_options o;
        fm_writer_options_init(&o);
        o.file_flags = FM_FILE_FLAG_MERGED;
        o.flush_interval_ms = UINT32_MAX; /* no time pressure: chunks are cut by size */
        if (fm_writer_open(&g.w, out, &o, err, sizeof err) != FM_OK) {
            cli_error("%s", err);
            status = EXIT_BAD_INPUT;
        }
    }
    for (int i = 0; i < n && status == EXIT_OK; i++) {
        fm_progress(i, n, paths[i]);
        status = merge_one(&g, paths[i], (uint64_t)i, &vo, allow, err, sizeof err);
        if (status != EXIT_OK)
            cli_error("%s", err);
    }
    fm_progress_done();
    if (g.w) {
        fm_writer_final_info fi = {0, FM_EXIT_TOOL, 0};
        if (status != EXIT_OK) {
            fm_writer_abandon(g.w); /* nothing half-merged stays behind */
            unlink(out);
        } else if (fm_writer_close(g.w, &fi) != FM_OK) {
            cli_error("%s: cannot finish the merged trace", out);
            unlink(out);
            status = EXIT_INTERNAL;
        }
    }
    if (status == EXIT_OK)
        printf("%s: %d traces of run '%s' merged\n", out, n, first.run_id);
    fm_free_trace_paths(paths, n);
    return status;
}
