/* cmd_verify.c - `flopmeter verify`: is a trace intact, complete, and signed by whom. */
#define _GNU_SOURCE
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "json_out.h"
#include "trace_paths.h"
#include "flopmeter/trace_sign.h"
#include "flopmeter/trace_verify.h"

static const char usage[] =
    "usage: flopmeter verify [--pubkey KEY.pem] [--allow-incomplete] [--json] TRACE|DIR...\n"
    "\n"
    "Checks each TRACE completely (a DIR stands for its *.fmtrace files): file and chunk\n"
    "headers, every chunk's checksum and zlib stream, the SHA-256 hash chain (any modified,\n"
    "removed, inserted or reordered chunk breaks it), that the trace was closed by its writer,\n"
    "that the final record's counts and totals match the records, that every id a record uses\n"
    "was defined, the inputs of a merged trace, and every signature. A merged trace says how\n"
    "many inputs it holds and how many of them were incomplete when merged.\n"
    "Exit status 0 only when every TRACE is intact; 2 otherwise, with one line per problem.\n"
    "\n"
    "  --pubkey KEY.pem    also require a valid signature by this Ed25519 public key\n"
    "  --allow-incomplete  accept traces whose writer never closed them (killed or still\n"
    "                      running) when everything present is intact\n"
    "  --json              print the results as JSON\n";

static int is_merged(const fm_verify_result *r)
{
    return (r->info.flags & FM_FILE_FLAG_MERGED) != 0;
}

/* The verdict line. The merged file may be intact while an input in it was not complete when
 * merged (--allow-incomplete): a bare "intact" would hide that. */
static void print_verdict(const char *path, const fm_verify_result *r, int ok)
{
    printf("%s: %s", path, ok ? (r->complete ? "intact" : "intact so far (incomplete)")
                              : "NOT INTACT");
    if (is_merged(r) && r->inputs) {
        printf("; merged from %" PRIu64 " inputs", r->inputs);
        if (r->inputs_incomplete)
            printf(", %" PRIu64 " of them incomplete", r->inputs_incomplete);
    }
    putchar('\n');
}

static void print_text(const char *path, const fm_verify_result *r, int ok)
{
    char id[33], head[65];
    cli_hex(r->info.trace_id, 16, id);
    cli_hex(r->info.head, FM_HASH_LEN, head);
    print_verdict(path, r, ok);
    printf("  format %u.%u, trace id %s\n", r->info.major, r->info.minor, id);
    printf("  %" PRIu64 " chunks, %" PRIu64 " records, %" PRIu64 " of %" PRIu64
           " bytes readable, %" PRIu64 " kernel launches\n",
           r->info.chunks, r->info.records, r->info.bytes_valid, r->info.file_bytes, r->launches);
    if (r->complete)
        printf("  closed by its writer (exit: %s)%s\n", fm_exit_reason_name(r->exit_reason),
               r->records_dropped ? ", with records dropped" : "");
    else
        printf("  not closed by its writer: the process was killed or is still running\n");
    printf("  chain head %s\n", head);
    printf("  signatures: %" PRIu64 " present, %" PRIu64 " valid\n", r->signatures,
           r->signatures_valid);
    if (r->info.unknown_records)
        printf("  %" PRIu64 " records of kinds newer than this reader were skipped\n",
               r->info.unknown_records);
    if (r->message[0])
        printf("  %s: %s\n", ok ? "note" : "problem", r->message);
}

static void print_json(json_out *j, const char *path, const fm_verify_result *r, int ok)
{
    json_object_begin(j, NULL);
    json_string(j, "file", path);
    json_bool(j, "intact", ok);
    json_bool(j, "complete", r->complete);
    json_u64(j, "major", r->info.major);
    json_u64(j, "minor", r->info.minor);
    json_hex(j, "trace_id", r->info.trace_id, 16);
    json_u64(j, "chunks", r->info.chunks);
    json_u64(j, "records", r->info.records);
    json_u64(j, "bytes_valid", r->info.bytes_valid);
    json_u64(j, "file_bytes", r->info.file_bytes);
    json_u64(j, "launches", r->launches);
    json_hex(j, "chain_head", r->info.head, FM_HASH_LEN);
    json_u64(j, "signatures", r->signatures);
    json_u64(j, "signatures_valid", r->signatures_valid);
    json_bool(j, "trusted_signature", r->trusted_signature_found);
    if (r->complete)
        json_string(j, "exit_reason", fm_exit_reason_name(r->exit_reason));
    json_bool(j, "merged", is_merged(r));
    if (is_merged(r)) {
        json_u64(j, "inputs", r->inputs);
        json_u64(j, "inputs_incomplete", r->inputs_incomplete);
    }
    if (r->message[0]) {
        json_string(j, "problem", r->message);
        json_u64(j, "problem_offset", r->offset);
    }
    json_object_end(j);
}

/* Verifies every path, printing each result; the exit status of the worst. */
static int verify_all(char *const *paths, int n, const fm_verify_options *vo,
                      int allow_incomplete, int as_json)
{
    fm_verify_result *res = malloc(sizeof *res);
    if (!res) {
        cli_error("out of memory");
        return EXIT_INTERNAL;
    }
    json_out j;
    if (as_json) {
        json_init(&j, stdout, 2);
        json_array_begin(&j, NULL);
    }
    int status = EXIT_OK;
    for (int i = 0; i < n; i++) {
        int rc = fm_verify_file(paths[i], vo, res);
        /* FM_E_TRUNCATED means no FINAL chunk, or a file ending inside its last chunk (the
         * writer was killed while writing it); every chunk before that checked out. */
        int ok = rc == FM_OK || (allow_incomplete && !res->complete && rc == FM_E_TRUNCATED);
        if (as_json)
            print_json(&j, paths[i], res, ok);
        else if (res->info.major) /* the header was readable */
            print_text(paths[i], res, ok);
        if (!ok) {
            cli_error("%s", res->message);
            int code = cli_exit_for_status(rc);
            if (code > status)
                status = code;
        }
    }
    if (as_json) {
        json_array_end(&j);
        json_finish(&j);
    }
    free(res);
    return status;
}

int cmd_verify(int argc, char **argv)
{
    static const struct option opts[] = {{"pubkey", required_argument, NULL, 'p'},
                                         {"allow-incomplete", no_argument, NULL, 'i'},
                                         {"json", no_argument, NULL, 'j'},
                                         {0, 0, 0, 0}};
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return EXIT_OK;
    }
    fm_verify_options vo = {0};
    int allow_incomplete = 0, as_json = 0, c;
    const char *pubkey = NULL;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'p': pubkey = optarg; break;
        case 'i': allow_incomplete = 1; break;
        case 'j': as_json = 1; break;
        default:
            cli_error("verify: unknown option or missing value '%s' (see flopmeter verify --help)",
                      argv[optind - 1]);
            return EXIT_BAD_INPUT;
        }
    }
    if (optind >= argc) {
        cli_error("verify: no TRACE given (see flopmeter verify --help)");
        return EXIT_BAD_INPUT;
    }
    if (pubkey) {
        char err[512];
        if (fm_load_public_key(pubkey, vo.trusted_key, err, sizeof err) != FM_OK) {
            cli_error("%s", err);
            return EXIT_BAD_INPUT;
        }
        vo.have_trusted_key = 1;
    }
    char **paths = NULL;
    int n = 0;
    char err[1024];
    if (fm_expand_trace_paths(argv + optind, argc - optind, &paths, &n, err, sizeof err) != 0) {
        cli_error("%s", err);
        return EXIT_BAD_INPUT;
    }
    int status = verify_all(paths, n, &vo, allow_incomplete, as_json);
    fm_free_trace_paths(paths, n);
    return status;
}
