/* record_fields.c - the field names of every record kind, in on-disk order (see
 * record_fields.h and docs/trace-format.md). */
#include "record_fields.h"

static void classes(const field_sink *k, void *c, const char *name, const fm_class_flop *cl,
                    uint64_t n)
{
    char buf[32];
    k->list_begin(c, name);
    for (uint64_t i = 0; i < n; i++) {
        k->item_begin(c, 1);
        k->enumeration(c, "class", cl[i].precision_class,
                       fm_precision_class_name(cl[i].precision_class, buf, sizeof buf));
        k->f64(c, "measured", cl[i].measured);
        k->f64(c, "extrapolated", cl[i].extrapolated);
        k->item_end(c, 1);
    }
    k->list_end(c);
}

static void triple(const field_sink *k, void *c, const char *name, const uint64_t v[3])
{
    k->list_begin(c, name);
    for (int i = 0; i < 3; i++) {
        k->item_begin(c, 0);
        k->u64(c, NULL, v[i]);
        k->item_end(c, 0);
    }
    k->list_end(c);
}

void record_visit(const fm_record *rec, const field_sink *k, void *c)
{
    switch (rec->kind) {
    case FM_REC_RUN_META: {
        const fm_rec_run_meta *m = &rec->u.run_meta;
        k->str(c, "tool_version", m->tool_version);
        k->str(c, "run_id", m->run_id);
        k->str(c, "host", m->host);
        k->u64(c, "pid", m->pid);
        k->i64(c, "rank", m->rank);
        k->i64(c, "local_rank", m->local_rank);
        k->u64(c, "world_size", m->world_size);
        k->u64(c, "start_unix_ns", m->start_unix_ns);
        k->u64(c, "cuda_driver_version", m->cuda_driver_version);
        k->u64(c, "cuda_runtime_version", m->cuda_runtime_version);
        k->u64(c, "cupti_version", m->cupti_version);
        k->str(c, "command", m->command);
        k->list_begin(c, "config");
        for (uint64_t i = 0; i < m->n_config; i++) {
            k->item_begin(c, 1);
            k->str(c, "key", m->config[i].key);
            k->str(c, "value", m->config[i].value);
            k->item_end(c, 1);
        }
        k->list_end(c);
        break;
    }
    case FM_REC_DEVICE: {
        const fm_rec_device *d = &rec->u.device;
        k->u64(c, "device", d->device);
        k->str(c, "name", d->name);
        k->hex(c, "uuid", d->uuid, 16);
        k->str(c, "chip", d->chip);
        k->u64(c, "cc_major", d->cc_major);
        k->u64(c, "cc_minor", d->cc_minor);
        k->u64(c, "sm_count", d->sm_count);
        k->u64(c, "memory_bytes", d->memory_bytes);
        k->str(c, "pci_bus_id", d->pci_bus_id);
        break;
    }
    case FM_REC_STRING:
        k->u64(c, "id", rec->u.string.id);
        k->str(c, "text", rec->u.string.text);
        break;
    case FM_REC_CALLSITE:
        k->u64(c, "id", rec->u.callsite.id);
        k->list_begin(c, "frames");
        for (uint64_t i = 0; i < rec->u.callsite.n_frames; i++) {
            const fm_frame *f = &rec->u.callsite.frames[i];
            k->item_begin(c, 1);
            k->strref(c, "module", f->module);
            k->strref(c, "symbol", f->symbol);
            k->u64(c, "offset", f->offset);
            k->item_end(c, 1);
        }
        k->list_end(c);
        break;
    case FM_REC_KERNEL_SIGNATURE: {
        const fm_rec_kernel_signature *s = &rec->u.kernel_signature;
        k->u64(c, "id", s->id);
        k->strref(c, "name", s->name);
        k->u64(c, "device", s->device);
        triple(k, c, "grid", s->grid);
        triple(k, c, "block", s->block);
        k->u64(c, "shared_mem_dynamic", s->shared_mem_dynamic);
        uint8_t h[8];
        for (int i = 0; i < 8; i++)
            h[i] = (uint8_t)(s->arg_hash >> (56 - 8 * i)); /* big-endian: reads as a number */
        k->hex(c, "arg_hash", h, 8);
        k->u64(c, "callsite", s->callsite);
        k->u64(c, "first_seen_ns", s->first_seen_ns);
        break;
    }
    case FM_REC_METRIC_GROUP: {
        char buf[32];
        const fm_rec_metric_group *g = &rec->u.metric_group;
        k->u64(c, "id", g->id);
        k->str(c, "chip", g->chip);
        k->list_begin(c, "metrics");
        for (uint64_t i = 0; i < g->n_metrics; i++) {
            uint8_t pc = g->metrics[i].precision_class;
            k->item_begin(c, 1);
            k->strref(c, "name", g->metrics[i].name);
            k->enumeration(c, "class", pc,
                           pc == FM_CLASS_NONE ? "none"
                                               : fm_precision_class_name(pc, buf, sizeof buf));
            k->f64(c, "weight", g->metrics[i].weight);
            k->item_end(c, 1);
        }
        k->list_end(c);
        break;
    }
    case FM_REC_COUNTER_SAMPLE: {
        const fm_rec_counter_sample *s = &rec->u.counter_sample;
        k->u64(c, "signature", s->signature);
        k->u64(c, "launch_ordinal", s->launch_ordinal);
        k->u64(c, "group", s->group);
        k->u64(c, "time_ns", s->time_ns);
        k->u64(c, "duration_ns", s->duration_ns);
        k->u64(c, "passes", s->passes);
        k->list_begin(c, "values");
        for (uint64_t i = 0; i < s->n_values; i++) {
            k->item_begin(c, 0);
            k->f64(c, NULL, s->values[i]);
            k->item_end(c, 0);
        }
        k->list_end(c);
        break;
    }
    case FM_REC_AGGREGATE: {
        const fm_rec_aggregate *a = &rec->u.aggregate;
        k->u64(c, "interval_start_ns", a->interval_start_ns);
        k->u64(c, "interval_end_ns", a->interval_end_ns);
        k->u64(c, "signature", a->signature);
        k->u64(c, "phase", a->phase);
        k->u64(c, "launches", a->launches);
        k->u64(c, "launches_measured", a->launches_measured);
        k->u64(c, "launches_extrapolated", a->launches_extrapolated);
        k->u64(c, "busy_ns", a->busy_ns);
        classes(k, c, "classes", a->classes, a->n_classes);
        break;
    }
    case FM_REC_PHASE_DEF:
        k->u64(c, "id", rec->u.phase_def.id);
        k->strref(c, "name", rec->u.phase_def.name);
        k->enumeration(c, "category", rec->u.phase_def.category,
                       fm_phase_category_name(rec->u.phase_def.category));
        break;
    case FM_REC_PHASE_EVENT:
        k->u64(c, "time_ns", rec->u.phase_event.time_ns);
        k->u64(c, "thread_id", rec->u.phase_event.thread_id);
        k->u64(c, "phase", rec->u.phase_event.phase);
        k->enumeration(c, "action", rec->u.phase_event.action,
                       rec->u.phase_event.action == FM_PHASE_PUSH ? "push" : "pop");
        break;
    case FM_REC_DECLARATION:
        k->u64(c, "time_ns", rec->u.declaration.time_ns);
        k->strref(c, "key", rec->u.declaration.key);
        k->f64(c, "value", rec->u.declaration.value);
        k->strref(c, "text", rec->u.declaration.text);
        k->u64(c, "phase", rec->u.declaration.phase);
        break;
    case FM_REC_DEGRADATION:
        k->u64(c, "time_ns", rec->u.degradation.time_ns);
        k->enumeration(c, "kind", rec->u.degradation.kind,
                       fm_degradation_kind_name(rec->u.degradation.kind));
        k->i64(c, "api_result", rec->u.degradation.api_result);
        k->u64(c, "launches_affected", rec->u.degradation.launches_affected);
        k->str(c, "message", rec->u.degradation.message);
        break;
    case FM_REC_FINAL: {
        const fm_rec_final *f = &rec->u.final;
        k->u64(c, "end_unix_ns", f->end_unix_ns);
        k->enumeration(c, "exit_reason", f->exit_reason, fm_exit_reason_name(f->exit_reason));
        k->u64(c, "chunk_count", f->chunk_count);
        k->u64(c, "record_count", f->record_count);
        k->u64(c, "records_dropped", f->records_dropped);
        k->u64(c, "launches_total", f->launches_total);
        classes(k, c, "classes", f->classes, f->n_classes);
        k->hex(c, "chain_head", f->chain_head, FM_HASH_LEN);
        break;
    }
    case FM_REC_SIGNATURE: {
        const fm_rec_signature *s = &rec->u.signature;
        k->enumeration(c, "algorithm", s->algorithm,
                       s->algorithm == FM_SIGALG_ED25519 ? "ed25519" : "unknown");
        k->hex(c, "public_key", (const uint8_t *)s->public_key.ptr, s->public_key.len);
        k->hex(c, "signed_head", s->signed_head, FM_HASH_LEN);
        k->u64(c, "time_ns", s->time_ns);
        k->str(c, "signer", s->signer);
        k->hex(c, "signature", (const uint8_t *)s->signature.ptr, s->signature.len);
        break;
    }
    case FM_REC_INPUT: {
        const fm_rec_input *in = &rec->u.input;
        k->u64(c, "index", in->index);
        k->str(c, "path", in->path);
        k->hex(c, "trace_id", in->trace_id, 16);
        k->hex(c, "chain_head", in->chain_head, FM_HASH_LEN);
        k->u64(c, "chunks", in->chunks);
        k->u64(c, "records", in->records);
        k->u64(c, "complete", in->complete);
        k->u64(c, "signatures", in->signatures);
        k->u64(c, "signatures_valid", in->signatures_valid);
        k->i64(c, "rank", in->rank);
        k->u64(c, "end_unix_ns", in->end_unix_ns);
        k->enumeration(c, "exit_reason", in->exit_reason, fm_exit_reason_name(in->exit_reason));
        k->u64(c, "records_dropped", in->records_dropped);
        break;
    }
    default:
        k->hex(c, "body", (const uint8_t *)rec->u.unknown_body.ptr, rec->u.unknown_body.len);
        break;
    }
}
