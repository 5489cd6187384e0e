/* record_codec.c - record layouts: the one place that knows the order and encoding of every
 * field of every record kind (docs/trace-format.md, "Records"). */
#include "record_codec.h"

#include <math.h>
#include <string.h>

#include "flopmeter/trace_format.h"
#include "flopmeter/trace_status.h"

/* ---- checks ------------------------------------------------------------------------------ */

static int finite_nonneg(double v)
{
    return isfinite(v) && v >= 0.0;
}

/* A class byte: one of this version's classes, or (strict == 0, a newer minor version's file)
 * any byte but FM_CLASS_NONE, which only metric groups use. */
static int class_ok(uint8_t c, int strict)
{
    return strict ? fm_precision_class_valid(c) : c != FM_CLASS_NONE;
}

/* Class lists are stored in ascending class order without repeats, so equal totals always
 * have equal encodings. */
static int check_classes(const fm_class_flop *c, uint64_t n, int strict, const char **why)
{
    if (n > FM_MAX_CLASSES) {
        *why = "more precision classes than exist";
        return FM_E_INVALID;
    }
    for (uint64_t i = 0; i < n; i++) {
        if (!class_ok(c[i].precision_class, strict)) {
            *why = "unknown precision class";
            return FM_E_INVALID;
        }
        if (i > 0 && c[i].precision_class <= c[i - 1].precision_class) {
            *why = "precision classes not in ascending order or repeated";
            return FM_E_INVALID;
        }
        if (!finite_nonneg(c[i].measured) || !finite_nonneg(c[i].extrapolated)) {
            *why = "operation count negative or not finite";
            return FM_E_INVALID;
        }
    }
    return FM_OK;
}

#define REQUIRE(cond, msg)         \
    do {                           \
        if (!(cond)) {             \
            *why = (msg);          \
            return FM_E_INVALID;   \
        }                          \
    } while (0)

/* strict: only what this version of the format defines (writers, and readers of files of this
 * or an older minor version); otherwise enumeration values a newer minor version may have
 * added pass. Structural rules hold either way. */
int fm_record_check(const fm_record *r, int strict, const char **why)
{
    static const char *none = "";
    *why = none;
    switch (r->kind) {
    case FM_REC_RUN_META:
        REQUIRE(r->u.run_meta.n_config <= FM_MAX_CONFIG_ENTRIES, "too many config entries");
        REQUIRE(r->u.run_meta.n_config == 0 || r->u.run_meta.config, "config entries missing");
        REQUIRE(r->u.run_meta.rank >= -1 && r->u.run_meta.local_rank >= -1, "rank below -1");
        return FM_OK;
    case FM_REC_DEVICE:
        return FM_OK;
    case FM_REC_STRING:
        REQUIRE(r->u.string.id >= 1, "string id 0");
        return FM_OK;
    case FM_REC_CALLSITE:
        REQUIRE(r->u.callsite.id >= 1, "callsite id 0");
        REQUIRE(r->u.callsite.n_frames <= FM_MAX_FRAMES, "too many frames");
        REQUIRE(r->u.callsite.n_frames == 0 || r->u.callsite.frames, "frames missing");
        return FM_OK;
    case FM_REC_KERNEL_SIGNATURE:
        REQUIRE(r->u.kernel_signature.id >= 1, "signature id 0");
        REQUIRE(r->u.kernel_signature.name >= 1, "kernel name missing");
        return FM_OK;
    case FM_REC_METRIC_GROUP: {
        const fm_rec_metric_group *g = &r->u.metric_group;
        REQUIRE(g->id >= 1, "metric group id 0");
        REQUIRE(g->n_metrics >= 1 && g->metrics, "metric group without metrics");
        REQUIRE(g->n_metrics <= FM_MAX_METRICS, "too many metrics");
        for (uint64_t i = 0; i < g->n_metrics; i++) {
            REQUIRE(g->metrics[i].name >= 1, "metric name missing");
            REQUIRE(g->metrics[i].precision_class == FM_CLASS_NONE ||
                        class_ok(g->metrics[i].precision_class, strict),
                    "unknown precision class");
            REQUIRE(finite_nonneg(g->metrics[i].weight), "metric weight negative or not finite");
        }
        return FM_OK;
    }
    case FM_REC_COUNTER_SAMPLE: {
        const fm_rec_counter_sample *s = &r->u.counter_sample;
        REQUIRE(s->signature >= 1 && s->group >= 1, "sample without signature or group");
        REQUIRE(s->n_values <= FM_MAX_METRICS, "too many values");
        REQUIRE(s->n_values == 0 || s->values, "sample values missing");
        REQUIRE(s->passes >= 1, "sample with zero passes");
        for (uint64_t i = 0; i < s->n_values; i++)
            REQUIRE(finite_nonneg(s->values[i]), "counter value negative or not finite");
        return FM_OK;
    }
    case FM_REC_AGGREGATE: {
        const fm_rec_aggregate *a = &r->u.aggregate;
        REQUIRE(a->signature >= 1, "aggregate without signature");
        REQUIRE(a->interval_start_ns <= a->interval_end_ns, "interval ends before it starts");
        REQUIRE(a->launches_measured <= a->launches &&
                    a->launches_extrapolated <= a->launches - a->launches_measured,
                "measured and extrapolated launches exceed launches");
        REQUIRE(a->n_classes == 0 || a->classes, "class figures missing");
        return check_classes(a->classes, a->n_classes, strict, why);
    }
    case FM_REC_PHASE_DEF:
        REQUIRE(r->u.phase_def.id >= 1 && r->u.phase_def.name >= 1, "phase without id or name");
        REQUIRE(!strict || r->u.phase_def.category <= FM_PHASE_CATEGORY_MAX,
                "unknown phase category");
        return FM_OK;
    case FM_REC_PHASE_EVENT:
        REQUIRE(r->u.phase_event.phase >= 1, "phase event without phase");
        REQUIRE(!strict || r->u.phase_event.action == FM_PHASE_PUSH ||
                    r->u.phase_event.action == FM_PHASE_POP,
                "phase action neither push nor pop");
        return FM_OK;
    case FM_REC_DECLARATION:
        REQUIRE(r->u.declaration.key >= 1, "declaration without key");
        REQUIRE(isfinite(r->u.declaration.value), "declared value not finite");
        return FM_OK;
    case FM_REC_DEGRADATION:
        REQUIRE(!strict || r->u.degradation.kind <= FM_DEGRADE_KIND_MAX, "unknown degradation");
        return FM_OK;
    case FM_REC_FINAL:
        REQUIRE(r->u.final.n_classes == 0 || r->u.final.classes, "class totals missing");
        REQUIRE(!strict || r->u.final.exit_reason <= FM_EXIT_TOOL, "unknown exit reason");
        return check_classes(r->u.final.classes, r->u.final.n_classes, strict, why);
    case FM_REC_SIGNATURE:
        REQUIRE(r->u.signature.algorithm != FM_SIGALG_ED25519 ||
                    (r->u.signature.public_key.len == FM_ED25519_PUBKEY_LEN &&
                     r->u.signature.signature.len == FM_ED25519_SIG_LEN),
                "Ed25519 key or signature of the wrong length");
        REQUIRE(!strict || r->u.signature.algorithm == FM_SIGALG_ED25519,
                "unknown signature algorithm");
        return FM_OK;
    case FM_REC_INPUT:
        REQUIRE(r->u.input.complete <= 1, "input completeness neither 0 nor 1");
        REQUIRE(r->u.input.signatures_valid <= r->u.input.signatures,
                "more valid signatures than signatures");
        REQUIRE(r->u.input.rank >= -1, "rank below -1");
        REQUIRE(!strict || r->u.input.exit_reason <= FM_EXIT_TOOL, "unknown exit reason");
        return FM_OK;
    default:
        *why = "unknown record kind";
        return strict ? FM_E_INVALID : FM_OK;
    }
}

/* ---- encoding ---------------------------------------------------------------------------- */

static void enc_classes(fm_enc *e, const fm_class_flop *c, uint64_t n)
{
    fm_enc_uvar(e, n);
    for (uint64_t i = 0; i < n; i++) {
        fm_enc_fixed(e, &c[i].precision_class, 1);
        fm_enc_f64(e, c[i].measured);
        fm_enc_f64(e, c[i].extrapolated);
    }
}

static void enc_u64_le(fm_enc *e, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    fm_enc_fixed(e, b, 8);
}

static void encode_body(fm_enc *e, const fm_record *r)
{
    switch (r->kind) {
    case FM_REC_RUN_META: {
        const fm_rec_run_meta *m = &r->u.run_meta;
        fm_enc_str(e, m->tool_version);
        fm_enc_str(e, m->run_id);
        fm_enc_str(e, m->host);
        fm_enc_uvar(e, m->pid);
        fm_enc_svar(e, m->rank);
        fm_enc_svar(e, m->local_rank);
        fm_enc_uvar(e, m->world_size);
        fm_enc_uvar(e, m->start_unix_ns);
        fm_enc_uvar(e, m->cuda_driver_version);
        fm_enc_uvar(e, m->cuda_runtime_version);
        fm_enc_uvar(e, m->cupti_version);
        fm_enc_str(e, m->command);
        fm_enc_uvar(e, m->n_config);
        for (uint64_t i = 0; i < m->n_config; i++) {
            fm_enc_str(e, m->config[i].key);
            fm_enc_str(e, m->config[i].value);
        }
        break;
    }
    case FM_REC_DEVICE: {
        const fm_rec_device *d = &r->u.device;
        fm_enc_uvar(e, d->device);
        fm_enc_str(e, d->name);
        fm_enc_fixed(e, d->uuid, 16);
        fm_enc_str(e, d->chip);
        fm_enc_uvar(e, d->cc_major);
        fm_enc_uvar(e, d->cc_minor);
        fm_enc_uvar(e, d->sm_count);
        fm_enc_uvar(e, d->memory_bytes);
        fm_enc_str(e, d->pci_bus_id);
        break;
    }
    case FM_REC_STRING:
        fm_enc_uvar(e, r->u.string.id);
        fm_enc_str(e, r->u.string.text);
        break;
    case FM_REC_CALLSITE: {
        const fm_rec_callsite *c = &r->u.callsite;
        fm_enc_uvar(e, c->id);
        fm_enc_uvar(e, c->n_frames);
        for (uint64_t i = 0; i < c->n_frames; i++) {
            fm_enc_uvar(e, c->frames[i].module);
            fm_enc_uvar(e, c->frames[i].symbol);
            fm_enc_uvar(e, c->frames[i].offset);
        }
        break;
    }
    case FM_REC_KERNEL_SIGNATURE: {
        const fm_rec_kernel_signature *s = &r->u.kernel_signature;
        fm_enc_uvar(e, s->id);
        fm_enc_uvar(e, s->name);
        fm_enc_uvar(e, s->device);
        for (int i = 0; i < 3; i++)
            fm_enc_uvar(e, s->grid[i]);
        for (int i = 0; i < 3; i++)
            fm_enc_uvar(e, s->block[i]);
        fm_enc_uvar(e, s->shared_mem_dynamic);
        enc_u64_le(e, s->arg_hash); /* uniformly random bits: a varint would be longer */
        fm_enc_uvar(e, s->callsite);
        fm_enc_uvar(e, s->first_seen_ns);
        break;
    }
    case FM_REC_METRIC_GROUP: {
        const fm_rec_metric_group *g = &r->u.metric_group;
        fm_enc_uvar(e, g->id);
        fm_enc_str(e, g->chip);
        fm_enc_uvar(e, g->n_metrics);
        for (uint64_t i = 0; i < g->n_metrics; i++) {
            fm_enc_uvar(e, g->metrics[i].name);
            fm_enc_fixed(e, &g->metrics[i].precision_class, 1);
            fm_enc_f64(e, g->metrics[i].weight);
        }
        break;
    }
    case FM_REC_COUNTER_SAMPLE: {
        const fm_rec_counter_sample *s = &r->u.counter_sample;
        fm_enc_uvar(e, s->signature);
        fm_enc_uvar(e, s->launch_ordinal);
        fm_enc_uvar(e, s->group);
        fm_enc_uvar(e, s->time_ns);
        fm_enc_uvar(e, s->duration_ns);
        fm_enc_uvar(e, s->passes);
        fm_enc_uvar(e, s->n_values);
        for (uint64_t i = 0; i < s->n_values; i++)
            fm_enc_f64(e, s->values[i]);
        break;
    }
    case FM_REC_AGGREGATE: {
        const fm_rec_aggregate *a = &r->u.aggregate;
        fm_enc_uvar(e, a->interval_start_ns);
        fm_enc_uvar(e, a->interval_end_ns);
        fm_enc_uvar(e, a->signature);
        fm_enc_uvar(e, a->phase);
        fm_enc_uvar(e, a->launches);
        fm_enc_uvar(e, a->launches_measured);
        fm_enc_uvar(e, a->launches_extrapolated);
        fm_enc_uvar(e, a->busy_ns);
        enc_classes(e, a->classes, a->n_classes);
        break;
    }
    case FM_REC_PHASE_DEF:
        fm_enc_uvar(e, r->u.phase_def.id);
        fm_enc_uvar(e, r->u.phase_def.name);
        fm_enc_uvar(e, r->u.phase_def.category);
        break;
    case FM_REC_PHASE_EVENT:
        fm_enc_uvar(e, r->u.phase_event.time_ns);
        fm_enc_uvar(e, r->u.phase_event.thread_id);
        fm_enc_uvar(e, r->u.phase_event.phase);
        fm_enc_uvar(e, r->u.phase_event.action);
        break;
    case FM_REC_DECLARATION:
        fm_enc_uvar(e, r->u.declaration.time_ns);
        fm_enc_uvar(e, r->u.declaration.key);
        fm_enc_f64(e, r->u.declaration.value);
        fm_enc_uvar(e, r->u.declaration.text);
        fm_enc_uvar(e, r->u.declaration.phase);
        break;
    case FM_REC_DEGRADATION:
        fm_enc_uvar(e, r->u.degradation.time_ns);
        fm_enc_uvar(e, r->u.degradation.kind);
        fm_enc_svar(e, r->u.degradation.api_result);
        fm_enc_uvar(e, r->u.degradation.launches_affected);
        fm_enc_str(e, r->u.degradation.message);
        break;
    case FM_REC_FINAL: {
        const fm_rec_final *f = &r->u.final;
        fm_enc_uvar(e, f->end_unix_ns);
        fm_enc_uvar(e, f->exit_reason);
        fm_enc_uvar(e, f->chunk_count);
        fm_enc_uvar(e, f->record_count);
        fm_enc_uvar(e, f->records_dropped);
        fm_enc_uvar(e, f->launches_total);
        enc_classes(e, f->classes, f->n_classes);
        fm_enc_fixed(e, f->chain_head, FM_HASH_LEN);
        break;
    }
    case FM_REC_SIGNATURE: {
        const fm_rec_signature *s = &r->u.signature;
        fm_enc_uvar(e, s->algorithm);
        fm_enc_str(e, s->public_key);
        fm_enc_fixed(e, s->signed_head, FM_HASH_LEN);
        fm_enc_uvar(e, s->time_ns);
        fm_enc_str(e, s->signer);
        fm_enc_str(e, s->signature);
        break;
    }
    case FM_REC_INPUT: {
        const fm_rec_input *in = &r->u.input;
        fm_enc_uvar(e, in->index);
        fm_enc_str(e, in->path);
        fm_enc_fixed(e, in->trace_id, 16);
        fm_enc_fixed(e, in->chain_head, FM_HASH_LEN);
        fm_enc_uvar(e, in->chunks);
        fm_enc_uvar(e, in->records);
        fm_enc_uvar(e, in->complete);
        fm_enc_uvar(e, in->signatures);
        fm_enc_uvar(e, in->signatures_valid);
        fm_enc_svar(e, in->rank);
        fm_enc_uvar(e, in->end_unix_ns);
        fm_enc_uvar(e, in->exit_reason);
        fm_enc_uvar(e, in->records_dropped);
        break;
    }
    default:
        e->err = FM_E_INVALID;
        break;
    }
}

int fm_record_encode(const fm_record *rec, fm_bytebuf *body, fm_bytebuf *out, const char **why)
{
    int rc = fm_record_check(rec, 1, why);
    if (rc != FM_OK)
        return rc;
    body->len = 0;
    fm_enc e = {body, 0};
    encode_body(&e, rec);
    if (e.err == FM_E_TOO_LARGE || (!e.err && body->len > FM_MAX_RECORD_BODY)) {
        *why = "record body larger than the format allows";
        return FM_E_TOO_LARGE;
    }
    if (e.err) {
        *why = "out of memory while encoding";
        return e.err;
    }
    fm_enc o = {out, 0};
    fm_enc_uvar(&o, rec->kind);
    fm_enc_uvar(&o, body->len);
    fm_enc_fixed(&o, body->data, body->len);
    if (o.err)
        *why = "chunk buffer full or out of memory";
    return o.err;
}

/* ---- decoding ---------------------------------------------------------------------------- */

/* Allocates an array for a record from the arena; the count was bounded by fm_dec_count. */
static void *arena_array(fm_bytebuf *arena, uint64_t n, size_t elem, fm_dec *d)
{
    if (d->err || n == 0)
        return NULL;
    if (n * elem > FM_MAX_ARRAY_BYTES) { /* beyond the format's element limits */
        d->err = FM_E_CORRUPT;
        return NULL;
    }
    void *p = fm_bytebuf_alloc_aligned(arena, (size_t)n * elem);
    if (!p)
        d->err = FM_E_NOMEM;
    return p;
}

static const fm_class_flop *dec_classes(fm_dec *d, fm_bytebuf *arena, uint64_t *n_out)
{
    uint64_t n = fm_dec_count(d, 17);
    fm_class_flop *c = arena_array(arena, n, sizeof *c, d);
    for (uint64_t i = 0; c && i < n && !d->err; i++) {
        fm_dec_fixed(d, &c[i].precision_class, 1);
        c[i].measured = fm_dec_f64(d);
        c[i].extrapolated = fm_dec_f64(d);
    }
    *n_out = d->err ? 0 : n;
    return c;
}

static uint64_t dec_u64_le(fm_dec *d)
{
    uint8_t b[8];
    fm_dec_fixed(d, b, 8);
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | b[i];
    return v;
}

static void decode_body(fm_dec *d, fm_bytebuf *arena, fm_record *r)
{
    switch (r->kind) {
    case FM_REC_RUN_META: {
        fm_rec_run_meta *m = &r->u.run_meta;
        m->tool_version = fm_dec_str(d);
        m->run_id = fm_dec_str(d);
        m->host = fm_dec_str(d);
        m->pid = fm_dec_uvar(d);
        m->rank = fm_dec_svar(d);
        m->local_rank = fm_dec_svar(d);
        m->world_size = fm_dec_uvar(d);
        m->start_unix_ns = fm_dec_uvar(d);
        m->cuda_driver_version = fm_dec_uvar(d);
        m->cuda_runtime_version = fm_dec_uvar(d);
        m->cupti_version = fm_dec_uvar(d);
        m->command = fm_dec_str(d);
        m->n_config = fm_dec_count(d, 2);
        fm_config_entry *c = arena_array(arena, m->n_config, sizeof *c, d);
        for (uint64_t i = 0; c && i < m->n_config && !d->err; i++) {
            c[i].key = fm_dec_str(d);
            c[i].value = fm_dec_str(d);
        }
        m->config = c;
        break;
    }
    case FM_REC_DEVICE: {
        fm_rec_device *v = &r->u.device;
        v->device = fm_dec_uvar(d);
        v->name = fm_dec_str(d);
        fm_dec_fixed(d, v->uuid, 16);
        v->chip = fm_dec_str(d);
        v->cc_major = fm_dec_uvar(d);
        v->cc_minor = fm_dec_uvar(d);
        v->sm_count = fm_dec_uvar(d);
        v->memory_bytes = fm_dec_uvar(d);
        v->pci_bus_id = fm_dec_str(d);
        break;
    }
    case FM_REC_STRING:
        r->u.string.id = fm_dec_uvar(d);
        r->u.string.text = fm_dec_str(d);
        break;
    case FM_REC_CALLSITE: {
        fm_rec_callsite *c = &r->u.callsite;
        c->id = fm_dec_uvar(d);
        c->n_frames = fm_dec_count(d, 3);
        fm_frame *f = arena_array(arena, c->n_frames, sizeof *f, d);
        for (uint64_t i = 0; f && i < c->n_frames && !d->err; i++) {
            f[i].module = fm_dec_uvar(d);
            f[i].symbol = fm_dec_uvar(d);
            f[i].offset = fm_dec_uvar(d);
        }
        c->frames = f;
        break;
    }
    case FM_REC_KERNEL_SIGNATURE: {
        fm_rec_kernel_signature *s = &r->u.kernel_signature;
        s->id = fm_dec_uvar(d);
        s->name = fm_dec_uvar(d);
        s->device = fm_dec_uvar(d);
        for (int i = 0; i < 3; i++)
            s->grid[i] = fm_dec_uvar(d);
        for (int i = 0; i < 3; i++)
            s->block[i] = fm_dec_uvar(d);
        s->shared_mem_dynamic = fm_dec_uvar(d);
        s->arg_hash = dec_u64_le(d);
        s->callsite = fm_dec_uvar(d);
        s->first_seen_ns = fm_dec_uvar(d);
        break;
    }
    case FM_REC_METRIC_GROUP: {
        fm_rec_metric_group *g = &r->u.metric_group;
        g->id = fm_dec_uvar(d);
        g->chip = fm_dec_str(d);
        g->n_metrics = fm_dec_count(d, 10);
        fm_metric_def *m = arena_array(arena, g->n_metrics, sizeof *m, d);
        for (uint64_t i = 0; m && i < g->n_metrics && !d->err; i++) {
            m[i].name = fm_dec_uvar(d);
            fm_dec_fixed(d, &m[i].precision_class, 1);
            m[i].weight = fm_dec_f64(d);
        }
        g->metrics = m;
        break;
    }
    case FM_REC_COUNTER_SAMPLE: {
        fm_rec_counter_sample *s = &r->u.counter_sample;
        s->signature = fm_dec_uvar(d);
        s->launch_ordinal = fm_dec_uvar(d);
        s->group = fm_dec_uvar(d);
        s->time_ns = fm_dec_uvar(d);
        s->duration_ns = fm_dec_uvar(d);
        s->passes = fm_dec_uvar(d);
        s->n_values = fm_dec_count(d, 8);
        double *v = arena_array(arena, s->n_values, sizeof *v, d);
        for (uint64_t i = 0; v && i < s->n_values && !d->err; i++)
            v[i] = fm_dec_f64(d);
        s->values = v;
        break;
    }
    case FM_REC_AGGREGATE: {
        fm_rec_aggregate *a = &r->u.aggregate;
        a->interval_start_ns = fm_dec_uvar(d);
        a->interval_end_ns = fm_dec_uvar(d);
        a->signature = fm_dec_uvar(d);
        a->phase = fm_dec_uvar(d);
        a->launches = fm_dec_uvar(d);
        a->launches_measured = fm_dec_uvar(d);
        a->launches_extrapolated = fm_dec_uvar(d);
        a->busy_ns = fm_dec_uvar(d);
        a->classes = dec_classes(d, arena, &a->n_classes);
        break;
    }
    case FM_REC_PHASE_DEF:
        r->u.phase_def.id = fm_dec_uvar(d);
        r->u.phase_def.name = fm_dec_uvar(d);
        r->u.phase_def.category = fm_dec_uvar(d);
        break;
    case FM_REC_PHASE_EVENT:
        r->u.phase_event.time_ns = fm_dec_uvar(d);
        r->u.phase_event.thread_id = fm_dec_uvar(d);
        r->u.phase_event.phase = fm_dec_uvar(d);
        r->u.phase_event.action = fm_dec_uvar(d);
        break;
    case FM_REC_DECLARATION:
        r->u.declaration.time_ns = fm_dec_uvar(d);
        r->u.declaration.key = fm_dec_uvar(d);
        r->u.declaration.value = fm_dec_f64(d);
        r->u.declaration.text = fm_dec_uvar(d);
        r->u.declaration.phase = fm_dec_uvar(d);
        break;
    case FM_REC_DEGRADATION:
        r->u.degradation.time_ns = fm_dec_uvar(d);
        r->u.degradation.kind = fm_dec_uvar(d);
        r->u.degradation.api_result = fm_dec_svar(d);
        r->u.degradation.launches_affected = fm_dec_uvar(d);
        r->u.degradation.message = fm_dec_str(d);
        break;
    case FM_REC_FINAL: {
        fm_rec_final *f = &r->u.final;
        f->end_unix_ns = fm_dec_uvar(d);
        f->exit_reason = fm_dec_uvar(d);
        f->chunk_count = fm_dec_uvar(d);
        f->record_count = fm_dec_uvar(d);
        f->records_dropped = fm_dec_uvar(d);
        f->launches_total = fm_dec_uvar(d);
        f->classes = dec_classes(d, arena, &f->n_classes);
        fm_dec_fixed(d, f->chain_head, FM_HASH_LEN);
        break;
    }
    case FM_REC_INPUT: {
        fm_rec_input *in = &r->u.input;
        in->index = fm_dec_uvar(d);
        in->path = fm_dec_str(d);
        fm_dec_fixed(d, in->trace_id, 16);
        fm_dec_fixed(d, in->chain_head, FM_HASH_LEN);
        in->chunks = fm_dec_uvar(d);
        in->records = fm_dec_uvar(d);
        in->complete = fm_dec_uvar(d);
        in->signatures = fm_dec_uvar(d);
        in->signatures_valid = fm_dec_uvar(d);
        in->rank = fm_dec_svar(d);
        in->end_unix_ns = fm_dec_uvar(d);
        in->exit_reason = fm_dec_uvar(d);
        in->records_dropped = fm_dec_uvar(d);
        break;
    }
    case FM_REC_SIGNATURE: {
        fm_rec_signature *s = &r->u.signature;
        s->algorithm = fm_dec_uvar(d);
        s->public_key = fm_dec_str(d);
        fm_dec_fixed(d, s->signed_head, FM_HASH_LEN);
        s->time_ns = fm_dec_uvar(d);
        s->signer = fm_dec_str(d);
        s->signature = fm_dec_str(d);
        break;
    }
    default:
        break;
    }
}

/* The minor version that added a record kind: in a file of an older minor version the kind
 * does not exist yet, so it is an unknown kind there (docs/trace-format.md, "Compatibility"). */
static unsigned kind_since_minor(uint64_t kind)
{
    return kind == FM_REC_INPUT ? 1u : 0u;
}

int fm_record_decode(fm_dec *payload, unsigned file_minor, fm_bytebuf *arena, fm_record *out,
                     const char **why)
{
    static const char *none = "";
    *why = none;
    memset(out, 0, sizeof *out);
    uint64_t kind = fm_dec_uvar(payload);
    uint64_t len = fm_dec_uvar(payload);
    if (payload->err || kind == 0 || kind > UINT32_MAX) {
        *why = "malformed record envelope";
        return FM_E_CORRUPT;
    }
    if (len > FM_MAX_RECORD_BODY || len > fm_dec_remaining(payload)) {
        *why = "record body length beyond the chunk or the format's limit";
        return FM_E_CORRUPT;
    }
    fm_dec body = {payload->p, payload->p + len, 0};
    payload->p += len;
    out->kind = (uint32_t)kind;
    int strict = file_minor <= FM_FORMAT_MINOR;
    if (kind > FM_REC_KIND_MAX || file_minor < kind_since_minor(kind)) {
        if (strict) {
            *why = "unknown record kind in a file of this format version";
            return FM_E_CORRUPT;
        }
        out->u.unknown_body.ptr = (const char *)body.p;
        out->u.unknown_body.len = (size_t)len;
        return FM_OK;
    }
    arena->len = 0;
    decode_body(&body, arena, out);
    if (body.err == FM_E_NOMEM) {
        *why = "out of memory";
        return FM_E_NOMEM;
    }
    if (body.err) {
        *why = "record body shorter than its fields";
        return FM_E_CORRUPT;
    }
    /* Trailing bytes are fields appended by a newer minor version; in a file of this reader's
     * own version they can only be damage. */
    if (fm_dec_remaining(&body) && strict) {
        *why = "record body longer than its fields";
        return FM_E_CORRUPT;
    }
    int rc = fm_record_check(out, strict, why);
    return rc == FM_OK ? FM_OK : FM_E_CORRUPT;
}
