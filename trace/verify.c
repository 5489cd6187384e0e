/* verify.c - whole-trace verification (see trace_verify.h): the reader checks framing and the
 * chain; this adds completeness, the FINAL record's counts and totals, references between
 * records and signatures. */
#include "flopmeter/trace_verify.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idmap.h"
#include "flopmeter/trace_sign.h"
#include "flopmeter/trace_totals.h"

typedef struct verifier {
    fm_reader *r;
    const fm_verify_options *opt;
    fm_verify_result *res;
    fm_idmap strings, callsites, signatures, groups, phases; /* group -> metric count */
    fm_totals totals;
    /* The inputs of a merged trace of format 1.1 or newer, each from its RUN_META to its
     * INPUT record (1.0 had no INPUT record, so nothing there marks where an input ends). */
    int inputs_marked;
    int input_open;     /* a RUN_META was seen whose INPUT record has not come yet */
    int64_t input_rank; /* the rank in that RUN_META */
} verifier;

static int problem(verifier *v, int status, const char *fmt, ...)
{
    fm_verify_result *res = v->res;
    if (res->status != FM_OK)
        return res->status;
    res->status = status;
    res->offset = fm_reader_chunk(v->r)->offset;
    int n = snprintf(res->message, sizeof res->message, "%s: chunk %llu: ",
                     fm_reader_name(v->r), (unsigned long long)fm_reader_chunk(v->r)->seq);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof res->message)
        n += vsnprintf(res->message + n, sizeof res->message - (size_t)n, fmt, ap);
    va_end(ap);
    /* the same position note as the reader's messages, so both kinds of problem can be found
     * in the file the same way */
    if (n > 0 && (size_t)n < sizeof res->message)
        snprintf(res->message + n, sizeof res->message - (size_t)n, " (byte offset %llu)",
                 (unsigned long long)res->offset);
    return status;
}

static int need(verifier *v, fm_idmap *m, uint64_t id, const char *what, uint32_t kind)
{
    if (id == 0 || fm_idmap_get(m, id, NULL))
        return FM_OK;
    return problem(v, FM_E_CORRUPT, "%s record refers to %s %llu, which is not defined before it",
                   fm_record_kind_name(kind), what, (unsigned long long)id);
}

static int define(verifier *v, fm_idmap *m, uint64_t id, uint64_t value, const char *what)
{
    if (fm_idmap_get(m, id, NULL))
        return problem(v, FM_E_CORRUPT, "%s %llu is defined twice", what,
                       (unsigned long long)id);
    if (fm_idmap_put(m, id, value) != FM_OK)
        return problem(v, FM_E_NOMEM, "out of memory");
    return FM_OK;
}

static int check_final(verifier *v, const fm_rec_final *f)
{
    const fm_chunk_info *c = fm_reader_chunk(v->r);
    const fm_reader_info *info = fm_reader_get_info(v->r);
    if (f->chunk_count != c->seq)
        return problem(v, FM_E_CORRUPT, "final record counts %llu chunks, the trace has %llu",
                       (unsigned long long)f->chunk_count, (unsigned long long)c->seq);
    if (f->record_count != info->records_before_final)
        return problem(v, FM_E_CORRUPT, "final record counts %llu records, the trace has %llu",
                       (unsigned long long)f->record_count,
                       (unsigned long long)info->records_before_final);
    if (memcmp(f->chain_head, c->prev_hash, FM_HASH_LEN) != 0)
        return problem(v, FM_E_CHAIN, "final record's chain head differs from the chain");
    if (f->launches_total != v->totals.launches)
        return problem(v, FM_E_CORRUPT, "final record counts %llu launches, the records %llu",
                       (unsigned long long)f->launches_total,
                       (unsigned long long)v->totals.launches);
    fm_class_flop sums[256];
    uint64_t n = fm_totals_classes(&v->totals, sums);
    int same = n == f->n_classes;
    for (uint64_t i = 0; same && i < n; i++)
        same = sums[i].precision_class == f->classes[i].precision_class &&
               memcmp(&sums[i].measured, &f->classes[i].measured, sizeof(double)) == 0 &&
               memcmp(&sums[i].extrapolated, &f->classes[i].extrapolated, sizeof(double)) == 0;
    if (!same)
        return problem(v, FM_E_CORRUPT,
                       "final record's operation totals differ from the sum of the records");
    v->res->exit_reason = f->exit_reason;
    v->res->records_dropped = f->records_dropped;
    v->res->end_unix_ns = f->end_unix_ns;
    return FM_OK;
}

static int check_signature(verifier *v, const fm_rec_signature *s)
{
    const fm_chunk_info *c = fm_reader_chunk(v->r);
    v->res->signatures++;
    if (memcmp(s->signed_head, c->prev_hash, FM_HASH_LEN) != 0)
        return problem(v, FM_E_CHAIN, "signature covers a different chain head than its place");
    if (s->algorithm != FM_SIGALG_ED25519)
        return FM_OK; /* a newer algorithm: counted, not checked */
    const uint8_t *key = (const uint8_t *)s->public_key.ptr;
    if (!fm_signature_valid(key, fm_reader_get_info(v->r)->trace_id, s->signed_head,
                            (const uint8_t *)s->signature.ptr, s->signature.len))
        return problem(v, FM_E_CHAIN, "signature does not verify: the trace or the signature "
                                      "was altered");
    v->res->signatures_valid++;
    if (v->opt && v->opt->have_trusted_key &&
        memcmp(key, v->opt->trusted_key, FM_ED25519_PUBKEY_LEN) == 0)
        v->res->trusted_signature_found = 1;
    return FM_OK;
}

/* RUN_META opens an input of a merged trace; the previous one must have been closed. */
static int open_input(verifier *v, const fm_rec_run_meta *m)
{
    if (v->input_open)
        return problem(v, FM_E_CORRUPT, "run_meta record of input %llu before the input "
                                         "record that ends input %llu",
                       (unsigned long long)v->res->inputs + 1, (unsigned long long)v->res->inputs);
    v->input_open = 1;
    v->input_rank = m->rank;
    return FM_OK;
}

/* INPUT closes the input its RUN_META opened, and says which input that was. */
static int close_input(verifier *v, const fm_rec_input *in)
{
    if (!v->input_open)
        return problem(v, FM_E_CORRUPT, "an input record without a run_meta record opening "
                                         "its input (after input %llu)",
                       (unsigned long long)v->res->inputs);
    if (in->index != v->res->inputs)
        return problem(v, FM_E_CORRUPT, "input record with index %llu, but %llu input records "
                                         "precede it",
                       (unsigned long long)in->index, (unsigned long long)v->res->inputs);
    if (in->rank != v->input_rank)
        return problem(v, FM_E_CORRUPT, "input record of input %llu gives rank %lld, its "
                                         "run_meta record %lld",
                       (unsigned long long)v->res->inputs, (long long)in->rank,
                       (long long)v->input_rank);
    v->input_open = 0;
    v->res->inputs++;
    v->res->inputs_incomplete += in->complete == 0;
    return FM_OK;
}

/* In a merged trace every record but FINAL and SIGNATURE belongs to an input: nothing lies
 * between one input's INPUT record and the next RUN_META, and FINAL comes after the last
 * INPUT. Kinds of a newer minor version that this reader does not know are skipped. */
static int check_inputs(verifier *v, const fm_record *rec)
{
    uint32_t k = rec->kind;
    if (!v->inputs_marked || k > FM_REC_KIND_MAX)
        return FM_OK;
    if (k == FM_REC_RUN_META)
        return open_input(v, &rec->u.run_meta);
    if (k == FM_REC_INPUT)
        return close_input(v, &rec->u.input);
    if (k == FM_REC_FINAL && v->input_open)
        return problem(v, FM_E_CORRUPT, "input %llu of the merged trace does not end with an "
                                         "input record",
                       (unsigned long long)v->res->inputs);
    if (k != FM_REC_FINAL && k != FM_REC_SIGNATURE && !v->input_open)
        return problem(v, FM_E_CORRUPT, "a %s record outside the inputs of the merged trace "
                                         "(after the input record of input %llu)",
                       fm_record_kind_name(k), (unsigned long long)v->res->inputs - 1);
    return FM_OK;
}

static int check_record(verifier *v, const fm_record *rec)
{
    int rc = FM_OK;
    uint32_t k = rec->kind;
    const fm_reader_info *info = fm_reader_get_info(v->r);
    /* RUN_META opens a trace; a merged trace holds one per input */
    if ((info->records == 1) != (k == FM_REC_RUN_META) &&
        !(k == FM_REC_RUN_META && (info->flags & FM_FILE_FLAG_MERGED)))
        return problem(v, FM_E_CORRUPT, info->records == 1
                                            ? "the first record is not a run_meta record"
                                            : "a second run_meta record in a trace that is not "
                                              "merged");
    if (k == FM_REC_INPUT && !(info->flags & FM_FILE_FLAG_MERGED))
        return problem(v, FM_E_CORRUPT, "an input record in a trace that is not merged");
    if ((rc = check_inputs(v, rec)) != FM_OK)
        return rc;
    switch (k) {
    case FM_REC_STRING:
        return define(v, &v->strings, rec->u.string.id, 0, "string");
    case FM_REC_CALLSITE:
        for (uint64_t i = 0; rc == FM_OK && i < rec->u.callsite.n_frames; i++) {
            rc = need(v, &v->strings, rec->u.callsite.frames[i].module, "string", k);
            if (rc == FM_OK)
                rc = need(v, &v->strings, rec->u.callsite.frames[i].symbol, "string", k);
        }
        return rc ? rc : define(v, &v->callsites, rec->u.callsite.id, 0, "callsite");
    case FM_REC_KERNEL_SIGNATURE: {
        const fm_rec_kernel_signature *s = &rec->u.kernel_signature;
        if ((rc = need(v, &v->strings, s->name, "string", k)) ||
            (rc = need(v, &v->callsites, s->callsite, "callsite", k)))
            return rc;
        return define(v, &v->signatures, s->id, 0, "kernel signature");
    }
    case FM_REC_METRIC_GROUP: {
        const fm_rec_metric_group *g = &rec->u.metric_group;
        for (uint64_t i = 0; rc == FM_OK && i < g->n_metrics; i++)
            rc = need(v, &v->strings, g->metrics[i].name, "string", k);
        return rc ? rc : define(v, &v->groups, g->id, g->n_metrics, "metric group");
    }
    case FM_REC_COUNTER_SAMPLE: {
        const fm_rec_counter_sample *s = &rec->u.counter_sample;
        uint64_t n_metrics = 0;
        if ((rc = need(v, &v->signatures, s->signature, "kernel signature", k)) ||
            (rc = need(v, &v->groups, s->group, "metric group", k)))
            return rc;
        fm_idmap_get(&v->groups, s->group, &n_metrics);
        if (n_metrics != s->n_values)
            return problem(v, FM_E_CORRUPT, "counter sample has %llu values, its group %llu "
                                            "metrics",
                           (unsigned long long)s->n_values, (unsigned long long)n_metrics);
        return FM_OK;
    }
    case FM_REC_AGGREGATE:
        if ((rc = need(v, &v->signatures, rec->u.aggregate.signature, "kernel signature", k)) ||
            (rc = need(v, &v->phases, rec->u.aggregate.phase, "phase", k)))
            return rc;
        fm_totals_add_aggregate(&v->totals, &rec->u.aggregate);
        if (v->totals.launches_overflow)
            return problem(v, FM_E_CORRUPT, "the records' launch counts add up to more than "
                                            "2^64");
        return FM_OK;
    case FM_REC_PHASE_DEF:
        if ((rc = need(v, &v->strings, rec->u.phase_def.name, "string", k)))
            return rc;
        return define(v, &v->phases, rec->u.phase_def.id, 0, "phase");
    case FM_REC_PHASE_EVENT:
        return need(v, &v->phases, rec->u.phase_event.phase, "phase", k);
    case FM_REC_DECLARATION:
        if ((rc = need(v, &v->strings, rec->u.declaration.key, "string", k)) ||
            (rc = need(v, &v->strings, rec->u.declaration.text, "string", k)))
            return rc;
        return need(v, &v->phases, rec->u.declaration.phase, "phase", k);
    case FM_REC_FINAL:
        return check_final(v, &rec->u.final);
    case FM_REC_SIGNATURE:
        return check_signature(v, &rec->u.signature);
    default: /* INPUT (checked above) and kinds of newer minor versions */
        return FM_OK;
    }
}

struct fm_verifier {
    verifier v;
    fm_verify_result res;
};

fm_verifier *fm_verifier_new(fm_reader *r, const fm_verify_options *opt)
{
    fm_verifier *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    x->v.r = r;
    x->v.opt = opt;
    x->v.res = &x->res;
    const fm_reader_info *info = fm_reader_get_info(r);
    x->v.inputs_marked = (info->flags & FM_FILE_FLAG_MERGED) && info->minor >= 1;
    fm_idmap_init(&x->v.strings);
    fm_idmap_init(&x->v.callsites);
    fm_idmap_init(&x->v.signatures);
    fm_idmap_init(&x->v.groups);
    fm_idmap_init(&x->v.phases);
    fm_totals_init(&x->v.totals);
    return x;
}

int fm_verifier_record(fm_verifier *x, const fm_record *rec)
{
    if (x->res.status != FM_OK)
        return x->res.status;
    x->res.records_by_kind[rec->kind <= FM_REC_KIND_MAX ? rec->kind : 0]++;
    return check_record(&x->v, rec);
}

int fm_verifier_finish(fm_verifier *x, int reader_status, fm_verify_result *res)
{
    fm_reader *r = x->v.r;
    const fm_verify_options *opt = x->v.opt;
    if (reader_status < 0 && x->res.status == FM_OK) {
        x->res.status = reader_status;
        x->res.offset = fm_reader_error_offset(r);
        snprintf(x->res.message, sizeof x->res.message, "%s", fm_reader_error(r));
    }
    *res = x->res;
    res->info = *fm_reader_get_info(r);
    res->complete = res->info.final_seen;
    res->launches = x->v.totals.launches;
    if (res->status == FM_OK && !res->complete) {
        res->status = FM_E_TRUNCATED;
        res->offset = res->info.bytes_valid;
        snprintf(res->message, sizeof res->message,
                 "%s: incomplete: no final chunk after %llu chunks (%llu records); the writer "
                 "was killed or is still running",
                 fm_reader_name(r), (unsigned long long)res->info.chunks,
                 (unsigned long long)res->info.records);
    }
    if (res->status == FM_OK && opt && opt->have_trusted_key && !res->trusted_signature_found) {
        res->status = FM_E_CRYPTO;
        snprintf(res->message, sizeof res->message,
                 "%s: no valid signature by the trusted key (%llu signatures present)",
                 fm_reader_name(r), (unsigned long long)res->signatures);
    }
    return res->status;
}

void fm_verifier_free(fm_verifier *x)
{
    if (!x)
        return;
    fm_idmap_free(&x->v.strings);
    fm_idmap_free(&x->v.callsites);
    fm_idmap_free(&x->v.signatures);
    fm_idmap_free(&x->v.groups);
    fm_idmap_free(&x->v.phases);
    free(x);
}

int fm_verify_reader(fm_reader *r, const fm_verify_options *opt, fm_verify_result *res)
{
    fm_verifier *x = fm_verifier_new(r, opt);
    if (!x) {
        memset(res, 0, sizeof *res);
        res->status = FM_E_NOMEM;
        snprintf(res->message, sizeof res->message, "%s: out of memory", fm_reader_name(r));
        return res->status;
    }
    fm_record rec;
    int rc;
    while ((rc = fm_reader_next(r, &rec)) == FM_OK)
        if (fm_verifier_record(x, &rec) != FM_OK)
            break;
    fm_verifier_finish(x, rc, res);
    fm_verifier_free(x);
    return res->status;
}

int fm_verify_file(const char *path, const fm_verify_options *opt, fm_verify_result *res)
{
    memset(res, 0, sizeof *res);
    fm_reader *r = NULL;
    int rc = fm_reader_open_file(&r, path, res->message, sizeof res->message);
    if (rc != FM_OK) {
        res->status = rc;
        return rc;
    }
    rc = fm_verify_reader(r, opt, res);
    fm_reader_close(r);
    return rc;
}
