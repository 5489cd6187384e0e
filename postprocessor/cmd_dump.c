/* cmd_dump.c - `flopmeter dump`: every record of a trace, as text or JSON. */
#define _GNU_SOURCE
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "json_out.h"
#include "record_fields.h"
#include "flopmeter/trace_reader.h"
#include "flopmeter/trace_strings.h"

static const char usage[] =
    "usage: flopmeter dump [--json] TRACE\n"
    "\n"
    "Prints every record of TRACE in file order, with the chunk each came from. String ids are\n"
    "followed by their text in the text form; --json writes one JSON document whose records\n"
    "mirror the file exactly (ids, not texts). Stops at the first damaged chunk, after printing\n"
    "everything before it, and then exits with status 2.\n"
    "\n"
    "  --json   JSON instead of text\n";

/* ---- text sink ---------------------------------------------------------------------------- */

typedef struct text_ctx {
    FILE *f;
    const fm_strings *strings;
    int first;      /* no separator before the next field */
} text_ctx;

static void text_sep(text_ctx *t, const char *name)
{
    if (!t->first)
        fputc(' ', t->f);
    t->first = 0;
    if (name)
        fprintf(t->f, "%s=", name);
}

static void text_quoted(FILE *f, fm_str s)
{
    fputc('"', f);
    for (size_t i = 0; i < s.len; i++) {
        unsigned char ch = (unsigned char)s.ptr[i];
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20 || ch == 0x7f)
            fprintf(f, "\\x%02x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static void t_u64(void *c, const char *n, uint64_t v)
{
    text_sep(c, n);
    fprintf(((text_ctx *)c)->f, "%" PRIu64, v);
}

static void t_i64(void *c, const char *n, int64_t v)
{
    text_sep(c, n);
    fprintf(((text_ctx *)c)->f, "%" PRId64, v);
}

static void t_f64(void *c, const char *n, double v)
{
    text_sep(c, n);
    fprintf(((text_ctx *)c)->f, "%.17g", v);
}

static void t_str(void *c, const char *n, fm_str s)
{
    text_sep(c, n);
    text_quoted(((text_ctx *)c)->f, s);
}

static void t_strref(void *c, const char *n, uint64_t id)
{
    text_ctx *t = c;
    text_sep(t, n);
    if (id == 0) {
        fputs("-", t->f);
        return;
    }
    int found = 0;
    fm_str s = fm_strings_get(t->strings, id, &found);
    fprintf(t->f, "#%" PRIu64, id);
    if (found)
        text_quoted(t->f, s);
}

static void t_hex(void *c, const char *n, const uint8_t *b, size_t len)
{
    text_sep(c, n);
    for (size_t i = 0; i < len; i++)
        fprintf(((text_ctx *)c)->f, "%02x", b[i]);
}

static void t_enum(void *c, const char *n, uint64_t v, const char *label)
{
    (void)v;
    text_sep(c, n);
    fputs(label, ((text_ctx *)c)->f);
}

static void t_list_begin(void *c, const char *n)
{
    text_ctx *t = c;
    text_sep(t, n);
    fputc('[', t->f);
    t->first = 1;
}

static void t_list_end(void *c)
{
    text_ctx *t = c;
    fputc(']', t->f);
    t->first = 0;
}

static void t_item_begin(void *c, int is_object)
{
    text_ctx *t = c;
    (void)is_object;
    if (!t->first)
        fputs(", ", t->f);
    t->first = 1;
}

static void t_item_end(void *c, int is_object)
{
    (void)is_object;
    ((text_ctx *)c)->first = 0;
}

static const field_sink text_sink = {t_u64, t_i64, t_f64, t_str, t_strref, t_hex, t_enum,
                                     t_list_begin, t_list_end, t_item_begin, t_item_end};

/* ---- JSON sink: the context is the json_out itself -------------------------------------- */

static void j_u64(void *c, const char *n, uint64_t v) { json_u64(c, n, v); }
static void j_i64(void *c, const char *n, int64_t v) { json_i64(c, n, v); }
static void j_f64(void *c, const char *n, double v) { json_double(c, n, v); }
static void j_str(void *c, const char *n, fm_str s) { json_string_n(c, n, s.ptr, s.len); }
static void j_strref(void *c, const char *n, uint64_t id) { json_u64(c, n, id); }
static void j_hex(void *c, const char *n, const uint8_t *b, size_t len) { json_hex(c, n, b, len); }
static void j_list_begin(void *c, const char *n) { json_array_begin(c, n); }
static void j_list_end(void *c) { json_array_end(c); }

static void j_enum(void *c, const char *n, uint64_t v, const char *label)
{
    (void)label; /* JSON keeps the number; docs/trace-format.md names each value */
    json_u64(c, n, v);
}

static void j_item_begin(void *c, int is_object)
{
    if (is_object)
        json_object_begin(c, NULL);
}

static void j_item_end(void *c, int is_object)
{
    if (is_object)
        json_object_end(c);
}

static const field_sink json_sink = {j_u64, j_i64, j_f64, j_str, j_strref, j_hex, j_enum,
                                     j_list_begin, j_list_end, j_item_begin, j_item_end};

/* ---- the verb ----------------------------------------------------------------------------- */

static void text_header(FILE *f, const char *path, const fm_reader_info *info)
{
    char id[33], when[40];
    cli_hex(info->trace_id, 16, id);
    cli_iso_time(info->created_unix_ns, when, sizeof when);
    fprintf(f, "# %s: flopmeter trace format %u.%u, trace id %s, created %s, %" PRIu64
               " bytes\n",
            path, info->major, info->minor, id, when, info->file_bytes);
}

static void json_header(json_out *j, const char *path, const fm_reader_info *info)
{
    json_string(j, "file", path);
    json_object_begin(j, "header");
    json_u64(j, "major", info->major);
    json_u64(j, "minor", info->minor);
    json_u64(j, "flags", info->flags);
    json_hex(j, "trace_id", info->trace_id, 16);
    json_u64(j, "created_unix_ns", info->created_unix_ns);
    json_object_end(j);
}

int cmd_dump(int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {0, 0, 0, 0}};
    int as_json = 0, c;
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return EXIT_OK;
    }
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'j')
            as_json = 1;
        else {
            cli_error("dump: unknown option '%s' (see flopmeter dump --help)", argv[optind - 1]);
            return EXIT_BAD_INPUT;
        }
    }
    if (optind != argc - 1) {
        cli_error("dump: expected exactly one TRACE (see flopmeter dump --help)");
        return EXIT_BAD_INPUT;
    }
    const char *path = argv[optind];
    char err[640];
    fm_reader *r = NULL;
    int rc = fm_reader_open_file(&r, path, err, sizeof err);
    if (rc != FM_OK) {
        cli_error("%s", err);
        return cli_exit_for_status(rc);
    }
    fm_strings *strings = fm_strings_new();
    if (!strings) {
        fm_reader_close(r);
        cli_error("out of memory");
        return EXIT_INTERNAL;
    }

    json_out j;
    text_ctx tc = {stdout, strings, 1};
    if (as_json) {
        json_init(&j, stdout, 1);
        json_set_max_indent_depth(&j, 2); /* one record per line */
        json_object_begin(&j, NULL);
        json_header(&j, path, fm_reader_get_info(r));
        json_array_begin(&j, "records");
    } else {
        text_header(stdout, path, fm_reader_get_info(r));
    }

    fm_record rec;
    uint64_t last_chunk = UINT64_MAX;
    while ((rc = fm_reader_next(r, &rec)) == FM_OK) {
        const fm_chunk_info *ch = fm_reader_chunk(r);
        if (rec.kind == FM_REC_STRING && fm_strings_add(strings, rec.u.string.id,
                                                        rec.u.string.text) == FM_E_NOMEM) {
            rc = FM_E_NOMEM;
            break;
        }
        if (as_json) {
            json_object_begin(&j, NULL);
            json_u64(&j, "chunk", ch->seq);
            json_string(&j, "record", fm_record_kind_name(rec.kind));
            json_u64(&j, "record_kind", rec.kind);
            record_visit(&rec, &json_sink, &j);
            json_object_end(&j);
        } else {
            if (ch->seq != last_chunk) {
                static const char *const types[] = {"?", "records", "final", "signature"};
                printf("chunk %" PRIu64 " at byte %" PRIu64 ": %s, %u records, %u -> %u bytes\n",
                       ch->seq, ch->offset, types[ch->type <= 3 ? ch->type : 0], ch->records,
                       ch->raw_len, ch->comp_len);
                last_chunk = ch->seq;
            }
            printf("  %s", fm_record_kind_name(rec.kind));
            if (rec.kind > FM_REC_KIND_MAX)
                printf("(%u)", rec.kind);
            tc.first = 0;
            record_visit(&rec, &text_sink, &tc);
            putchar('\n');
        }
    }
    const fm_reader_info *info = fm_reader_get_info(r);
    if (as_json) {
        json_array_end(&j);
        json_object_begin(&j, "end");
        json_bool(&j, "complete", rc == FM_END && info->final_seen);
        json_u64(&j, "chunks", info->chunks);
        json_u64(&j, "records", info->records);
        json_hex(&j, "chain_head", info->head, FM_HASH_LEN);
        if (rc < 0)
            json_string(&j, "error", fm_reader_error(r));
        json_object_end(&j);
        json_object_end(&j);
        json_finish(&j);
    } else {
        char head[65];
        cli_hex(info->head, FM_HASH_LEN, head);
        printf("# end: %" PRIu64 " chunks, %" PRIu64 " records, chain head %s%s\n", info->chunks,
               info->records, head,
               rc == FM_END ? (info->final_seen ? "" : " (no final chunk: incomplete)") : "");
    }
    if (rc < 0)
        cli_error("%s", rc == FM_E_NOMEM ? "out of memory" : fm_reader_error(r));
    fm_strings_free(strings);
    fm_reader_close(r);
    if (fflush(stdout) != 0) {
        cli_error("dump: cannot write the output");
        return EXIT_INTERNAL;
    }
    return rc < 0 ? cli_exit_for_status(rc) : EXIT_OK;
}
