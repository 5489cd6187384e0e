/* cmd_export.c - `flopmeter export --perfetto`: a Chrome trace-event JSON timeline for
 * Perfetto or chrome://tracing, streamed from the traces.
 *
 * What a trace holds, and so what the timeline shows, per rank (one process each):
 *   - the compute rate over time, from the per-interval aggregates: counter tracks of FLOP/s
 *     by precision class and of launches/s (every launch, measured or extrapolated);
 *   - every measured kernel launch (its counter samples), with its operations, as an async
 *     slice on its GPU's track (async, because launches on different streams overlap);
 *   - the phases as ranges on the thread that declared them;
 *   - the degradations as instant events.
 * Launches that were not measured exist in the trace only as counts per interval, and the
 * trace does not record streams: neither can be drawn one by one. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "idmap.h"
#include "json_out.h"
#include "trace_paths.h"
#include "flopmeter/trace_reader.h"
#include "flopmeter/trace_strings.h"
#include "flopmeter/trace_verify.h"

static const char usage[] =
    "usage: flopmeter export --perfetto OUT.json [--no-kernels] [--allow-incomplete] "
    "TRACE|DIR...\n"
    "\n"
    "Writes a Chrome trace-event JSON timeline (open it in ui.perfetto.dev or chrome://tracing):\n"
    "one process per rank, with counter tracks of FLOP/s by precision and of launches/s, every\n"
    "measured kernel launch with its operations, the phases as ranges per thread, and the\n"
    "degradations. Unmeasured launches appear only in the rates: the trace aggregates them.\n"
    "\n"
    "  --perfetto OUT.json    the file to write\n"
    "  --no-kernels           leave out the measured launches (smaller files for many ranks)\n"
    "  --allow-incomplete     export damaged or unfinished traces up to the damage\n";

#define MAX_PHASE_DEPTH 64

typedef struct exporter {
    json_out j;
    int kernels;
    uint64_t next_async_id;
    /* per trace */
    int64_t pid;
    fm_strings *strings;
    fm_idmap sig_name, sig_device; /* signature -> string id of its name; -> device */
    /* metric groups of the trace: weights and classes, by group id */
    struct group {
        uint64_t id;
        uint32_t n;
        uint8_t *classes;
        double *weights;
    } *groups;
    uint32_t n_groups;
    /* the measured launch being assembled from its samples */
    int open_launch;
    uint64_t l_sig, l_ordinal, l_time, l_duration;
    double l_ops[256];
    /* the interval being summed */
    int open_interval;
    uint64_t i_start, i_end, i_launches;
    double i_ops[256];
    uint64_t last_end;
    /* the FLOP/s series written so far in this process (each later counter event writes all
     * of them, 0 where the interval has none: a series missing from an event keeps its last
     * value in the viewers), and the end of the last interval written */
    uint8_t series[256];
    int have_prev;
    uint64_t prev_end;
    /* open phases per thread, to close them at the end */
    struct thread {
        uint64_t tid;
        uint64_t stack[MAX_PHASE_DEPTH];
        uint32_t depth;
    } *threads;
    uint32_t n_threads;
    fm_idmap phase_name;
    uint64_t devices_seen[64];
    uint32_t n_devices;
} exporter;

static void event_begin(exporter *x, const char *ph, const char *name, uint64_t tid, uint64_t ts)
{
    json_object_begin(&x->j, NULL);
    json_string(&x->j, "ph", ph);
    json_string(&x->j, "name", name);
    json_i64(&x->j, "pid", x->pid);
    json_u64(&x->j, "tid", tid);
    json_ns_as_us(&x->j, "ts", ts);
}

static void metadata(exporter *x, const char *what, uint64_t tid, const char *value)
{
    json_object_begin(&x->j, NULL);
    json_string(&x->j, "ph", "M");
    json_string(&x->j, "name", what);
    json_i64(&x->j, "pid", x->pid);
    json_u64(&x->j, "tid", tid);
    json_object_begin(&x->j, "args");
    json_string(&x->j, "name", value);
    json_object_end(&x->j);
    json_object_end(&x->j);
}

static fm_str string_of(exporter *x, uint64_t id)
{
    return fm_strings_get(x->strings, id, NULL);
}

static const struct group *group_of(exporter *x, uint64_t id)
{
    for (uint32_t i = 0; i < x->n_groups; i++)
        if (x->groups[i].id == id)
            return &x->groups[i];
    return NULL;
}

#define RATE_TID 1
#define GPU_TID_BASE 100
/* thread ids would collide with the tracks above: the phase tracks start higher */
#define PHASE_TID_BASE 1000

static void gpu_track(exporter *x, uint64_t device)
{
    for (uint32_t i = 0; i < x->n_devices; i++)
        if (x->devices_seen[i] == device)
            return;
    if (x->n_devices < 64)
        x->devices_seen[x->n_devices++] = device;
    char name[64];
    snprintf(name, sizeof name, "GPU %" PRIu64 ": measured kernels", device);
    metadata(x, "thread_name", GPU_TID_BASE + device, name);
}

static void close_launch(exporter *x)
{
    if (!x->open_launch || !x->kernels)
        return;
    x->open_launch = 0;
    uint64_t device = 0;
    fm_idmap_get(&x->sig_device, x->l_sig, &device);
    gpu_track(x, device);
    uint64_t name_id = 0;
    fm_idmap_get(&x->sig_name, x->l_sig, &name_id);
    fm_str name = string_of(x, name_id);
    uint64_t id = ++x->next_async_id;
    char buf[32];
    double total = 0;
    for (int c = 0; c < 256; c++)
        total += x->l_ops[c];
    /* begin */
    json_object_begin(&x->j, NULL);
    json_string(&x->j, "ph", "b");
    json_string(&x->j, "cat", "measured kernel");
    json_string_n(&x->j, "name", name.ptr, name.len);
    json_i64(&x->j, "pid", x->pid);
    json_u64(&x->j, "tid", GPU_TID_BASE + device);
    json_u64(&x->j, "id", id);
    json_ns_as_us(&x->j, "ts", x->l_time);
    json_object_begin(&x->j, "args");
    json_double(&x->j, "operations", total);
    for (int c = 0; c < 256; c++)
        if (x->l_ops[c] > 0)
            json_double(&x->j, fm_precision_class_name((uint8_t)c, buf, sizeof buf),
                        x->l_ops[c]);
    json_u64(&x->j, "signature", x->l_sig);
    json_u64(&x->j, "launch_ordinal", x->l_ordinal);
    json_object_end(&x->j);
    json_object_end(&x->j);
    /* end */
    json_object_begin(&x->j, NULL);
    json_string(&x->j, "ph", "e");
    json_string(&x->j, "cat", "measured kernel");
    json_string_n(&x->j, "name", name.ptr, name.len);
    json_i64(&x->j, "pid", x->pid);
    json_u64(&x->j, "tid", GPU_TID_BASE + device);
    json_u64(&x->j, "id", id);
    json_ns_as_us(&x->j, "ts", x->l_time + x->l_duration);
    json_object_end(&x->j);
}

static void on_sample(exporter *x, const fm_rec_counter_sample *s)
{
    if (!x->kernels)
        return;
    if (!x->open_launch || s->signature != x->l_sig || s->launch_ordinal != x->l_ordinal) {
        close_launch(x);
        x->open_launch = 1;
        x->l_sig = s->signature;
        x->l_ordinal = s->launch_ordinal;
        x->l_time = s->time_ns;
        x->l_duration = s->duration_ns;
        memset(x->l_ops, 0, sizeof x->l_ops);
    }
    const struct group *g = group_of(x, s->group);
    for (uint64_t i = 0; g && i < s->n_values && i < g->n; i++)
        if (g->classes[i] != FM_CLASS_NONE)
            x->l_ops[g->classes[i]] += s->values[i] * g->weights[i];
}

static void counters(exporter *x, uint64_t ts, const double *ops, double launches,
                     double seconds)
{
    char buf[32];
    event_begin(x, "C", "FLOP/s", RATE_TID, ts);
    json_object_begin(&x->j, "args");
    for (int c = 0; c < 256; c++) {
        if (ops[c] > 0)
            x->series[c] = 1;
        if (x->series[c])
            json_double(&x->j, fm_precision_class_name((uint8_t)c, buf, sizeof buf),
                        seconds > 0 ? ops[c] / seconds : 0);
    }
    json_object_end(&x->j);
    json_object_end(&x->j);
    event_begin(x, "C", "launches/s", RATE_TID, ts);
    json_object_begin(&x->j, "args");
    json_double(&x->j, "launches", seconds > 0 ? launches / seconds : 0);
    json_object_end(&x->j);
    json_object_end(&x->j);
}

static void close_interval(exporter *x)
{
    if (!x->open_interval)
        return;
    counters(x, x->i_start, x->i_ops, (double)x->i_launches,
             (double)(x->i_end - x->i_start) / 1e9);
    if (x->i_end > x->last_end)
        x->last_end = x->i_end;
    x->open_interval = 0;
    x->have_prev = 1;
    x->prev_end = x->i_end;
}

static void on_aggregate(exporter *x, const fm_rec_aggregate *a)
{
    if (x->open_interval && a->interval_start_ns != x->i_start)
        close_interval(x);
    if (!x->open_interval) {
        static const double zero[256];
        /* no aggregates between two intervals: nothing ran, the rates are zero there */
        if (x->have_prev && a->interval_start_ns > x->prev_end)
            counters(x, x->prev_end, zero, 0, 1);
        x->open_interval = 1;
        x->i_start = a->interval_start_ns;
        x->i_end = a->interval_end_ns;
        x->i_launches = 0;
        memset(x->i_ops, 0, sizeof x->i_ops);
    }
    x->i_launches += a->launches;
    for (uint64_t i = 0; i < a->n_classes; i++)
        x->i_ops[a->classes[i].precision_class] +=
            a->classes[i].measured + a->classes[i].extrapolated;
}

static struct thread *thread_of(exporter *x, uint64_t tid)
{
    for (uint32_t i = 0; i < x->n_threads; i++)
        if (x->threads[i].tid == tid)
            return &x->threads[i];
    struct thread *nt = realloc(x->threads, sizeof *nt * (x->n_threads + 1));
    if (!nt)
        return NULL;
    x->threads = nt;
    struct thread *t = &x->threads[x->n_threads++];
    memset(t, 0, sizeof *t);
    t->tid = tid;
    char name[64];
    snprintf(name, sizeof name, "thread %" PRIu64 ": phases", tid - PHASE_TID_BASE);
    metadata(x, "thread_name", tid, name);
    return t;
}

static void phase_slice(exporter *x, const char *ph, uint64_t tid, uint64_t phase, uint64_t ts)
{
    uint64_t name_id = 0;
    fm_idmap_get(&x->phase_name, phase, &name_id);
    fm_str name = string_of(x, name_id);
    json_object_begin(&x->j, NULL);
    json_string(&x->j, "ph", ph);
    json_string_n(&x->j, "name", name.ptr, name.len);
    json_string(&x->j, "cat", "phase");
    json_i64(&x->j, "pid", x->pid);
    json_u64(&x->j, "tid", tid);
    json_ns_as_us(&x->j, "ts", ts);
    json_object_end(&x->j);
}

static void on_phase_event(exporter *x, const fm_rec_phase_event *e)
{
    uint64_t tid = e->thread_id + PHASE_TID_BASE;
    struct thread *t = thread_of(x, tid);
    if (!t)
        return;
    if (e->action == FM_PHASE_PUSH && t->depth < MAX_PHASE_DEPTH) {
        t->stack[t->depth++] = e->phase;
        phase_slice(x, "B", tid, e->phase, e->time_ns);
    } else if (e->action == FM_PHASE_POP && t->depth) {
        /* pops close the innermost range; a pop without a push is ignored */
        phase_slice(x, "E", tid, t->stack[--t->depth], e->time_ns);
    }
    if (e->time_ns > x->last_end)
        x->last_end = e->time_ns;
}

/* Closes what is open for the current process: the launch, the interval (the rates drop to
 * zero where the records end) and the phases. */
static void end_process(exporter *x)
{
    static const double zero[256];
    close_launch(x);
    close_interval(x);
    counters(x, x->last_end, zero, 0, 1);
    for (uint32_t i = 0; i < x->n_threads; i++)
        while (x->threads[i].depth)
            phase_slice(x, "E", x->threads[i].tid, x->threads[i].stack[--x->threads[i].depth],
                        x->last_end);
    free(x->threads);
    x->threads = NULL;
    x->n_threads = 0;
    x->n_devices = 0;
    x->last_end = 0;
    memset(x->series, 0, sizeof x->series);
    x->have_prev = 0;
}

static void reset_trace(exporter *x)
{
    fm_strings_free(x->strings);
    x->strings = NULL;
    fm_idmap_free(&x->sig_name);
    fm_idmap_free(&x->sig_device);
    fm_idmap_free(&x->phase_name);
    for (uint32_t i = 0; i < x->n_groups; i++) {
        free(x->groups[i].classes);
        free(x->groups[i].weights);
    }
    free(x->groups);
    x->groups = NULL;
    x->n_groups = 0;
    free(x->threads);
    x->threads = NULL;
    x->n_threads = 0;
    x->n_devices = 0;
    x->open_launch = x->open_interval = 0;
    x->last_end = 0;
    memset(x->series, 0, sizeof x->series);
    x->have_prev = 0;
}

static int export_trace(exporter *x, const char *path, int64_t index, int allow_incomplete,
                        char *err, size_t errlen)
{
    fm_reader *r = NULL;
    if (fm_reader_open_file(&r, path, err, errlen) != FM_OK)
        return -1;
    fm_verifier *v = fm_verifier_new(r, NULL);
    x->strings = fm_strings_new();
    fm_idmap_init(&x->sig_name);
    fm_idmap_init(&x->sig_device);
    fm_idmap_init(&x->phase_name);
    x->pid = index;
    if (!v || !x->strings) {
        snprintf(err, errlen, "%s: out of memory", path);
        fm_verifier_free(v);
        fm_reader_close(r);
        reset_trace(x);
        return -2;
    }
    fm_record rec;
    int rc, named = 0;
    while ((rc = fm_reader_next(r, &rec)) == FM_OK) {
        if (fm_verifier_record(v, &rec) != FM_OK)
            break;
        switch (rec.kind) {
        case FM_REC_RUN_META:
        {
            if (named) /* a merged trace: the next input is the next rank's process */
                end_process(x);
            char name[256];
            const fm_rec_run_meta *m = &rec.u.run_meta;
            snprintf(name, sizeof name, "rank %" PRId64 " (%.*s, pid %" PRIu64 ")", m->rank,
                     (int)m->host.len, m->host.ptr, m->pid);
            x->pid = m->rank >= 0 ? m->rank : index;
            metadata(x, "process_name", 0, name);
            metadata(x, "thread_name", RATE_TID, "compute rate (every launch)");
            named = 1; /* a process has been started */
            break;
        }
        case FM_REC_STRING:
            fm_strings_add(x->strings, rec.u.string.id, rec.u.string.text);
            break;
        case FM_REC_KERNEL_SIGNATURE:
            fm_idmap_put(&x->sig_name, rec.u.kernel_signature.id, rec.u.kernel_signature.name);
            fm_idmap_put(&x->sig_device, rec.u.kernel_signature.id,
                         rec.u.kernel_signature.device);
            break;
        case FM_REC_METRIC_GROUP: {
            const fm_rec_metric_group *g = &rec.u.metric_group;
            struct group *ng = realloc(x->groups, sizeof *ng * (x->n_groups + 1));
            if (!ng)
                break;
            x->groups = ng;
            struct group *dst = &x->groups[x->n_groups];
            dst->id = g->id;
            dst->n = (uint32_t)g->n_metrics;
            dst->classes = malloc(g->n_metrics);
            dst->weights = malloc(sizeof(double) * g->n_metrics);
            if (!dst->classes || !dst->weights) {
                free(dst->classes);
                free(dst->weights);
                break;
            }
            for (uint64_t i = 0; i < g->n_metrics; i++) {
                dst->classes[i] = g->metrics[i].precision_class;
                dst->weights[i] = g->metrics[i].weight;
            }
            x->n_groups++;
            break;
        }
        case FM_REC_PHASE_DEF:
            fm_idmap_put(&x->phase_name, rec.u.phase_def.id, rec.u.phase_def.name);
            break;
        case FM_REC_COUNTER_SAMPLE:
            on_sample(x, &rec.u.counter_sample);
            break;
        case FM_REC_AGGREGATE:
            on_aggregate(x, &rec.u.aggregate);
            break;
        case FM_REC_PHASE_EVENT:
            on_phase_event(x, &rec.u.phase_event);
            break;
        case FM_REC_DEGRADATION: {
            char name[96];
            snprintf(name, sizeof name, "degraded: %s",
                     fm_degradation_kind_name(rec.u.degradation.kind));
            event_begin(x, "i", name, RATE_TID, rec.u.degradation.time_ns);
            json_string(&x->j, "s", "p");
            json_object_begin(&x->j, "args");
            json_string_n(&x->j, "message", rec.u.degradation.message.ptr,
                          rec.u.degradation.message.len);
            json_u64(&x->j, "launches_affected", rec.u.degradation.launches_affected);
            json_object_end(&x->j);
            json_object_end(&x->j);
            break;
        }
        case FM_REC_FINAL:
            /* a merged trace's FINAL is the merge's: its inputs' ends are in their INPUT */
            if (!(fm_reader_get_info(r)->flags & FM_FILE_FLAG_MERGED) &&
                rec.u.final.end_unix_ns > x->last_end)
                x->last_end = rec.u.final.end_unix_ns;
            break;
        case FM_REC_INPUT:
            if (rec.u.input.end_unix_ns > x->last_end)
                x->last_end = rec.u.input.end_unix_ns;
            break;
        default:
            break;
        }
    }
    end_process(x);
    fm_verify_result res;
    fm_verifier_finish(v, rc, &res);
    fm_verifier_free(v);
    fm_reader_close(r);
    reset_trace(x);
    if (res.status != FM_OK && !(allow_incomplete && res.status != FM_E_CRYPTO)) {
        snprintf(err, errlen, "%s%s", res.message,
                 res.status == FM_E_NOMEM ? "" : " (--allow-incomplete exports what precedes it)");
        return res.status == FM_E_NOMEM ? -2 : -1;
    }
    return 0;
}

int cmd_export(int argc, char **argv)
{
    static const struct option opts[] = {{"perfetto", required_argument, NULL, 'p'},
                                         {"no-kernels", no_argument, NULL, 'k'},
                                         {"allow-incomplete", no_argument, NULL, 'i'},
                                         {0, 0, 0, 0}};
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return EXIT_OK;
    }
    const char *out = NULL;
    int kernels = 1, allow = 0, c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'p': out = optarg; break;
        case 'k': kernels = 0; break;
        case 'i': allow = 1; break;
        default:
            cli_error("export: unknown option or missing value '%s' (see flopmeter export "
                      "--help)",
                      argv[optind - 1]);
            return EXIT_BAD_INPUT;
        }
    }
    if (!out || optind >= argc) {
        cli_error("export: expected --perfetto OUT.json and at least one TRACE (see flopmeter "
                  "export --help)");
        return EXIT_BAD_INPUT;
    }
    char **paths = NULL;
    int n = 0;
    char err[1024];
    if (fm_expand_trace_paths(argv + optind, argc - optind, &paths, &n, err, sizeof err) != 0) {
        cli_error("%s", err);
        return EXIT_BAD_INPUT;
    }
    FILE *f = fopen(out, "w");
    if (!f) {
        cli_error("%s: cannot create: %s", out, strerror(errno));
        fm_free_trace_paths(paths, n);
        return EXIT_BAD_INPUT;
    }
    exporter *x = calloc(1, sizeof *x);
    int status = EXIT_OK;
    if (!x) {
        cli_error("out of memory");
        status = EXIT_INTERNAL;
    } else {
        x->kernels = kernels;
        json_init(&x->j, f, 1);
        json_set_max_indent_depth(&x->j, 2);
        json_object_begin(&x->j, NULL);
        json_string(&x->j, "displayTimeUnit", "ns");
        json_array_begin(&x->j, "traceEvents");
        for (int i = 0; i < n && status == EXIT_OK; i++) {
            fm_progress(i, n, paths[i]);
            int rc = export_trace(x, paths[i], i, allow, err, sizeof err);
            if (rc != 0) {
                cli_error("%s", err);
                status = rc == -2 ? EXIT_INTERNAL : EXIT_BAD_INPUT;
            }
        }
        fm_progress_done();
        json_array_end(&x->j);
        json_object_begin(&x->j, "otherData");
        json_string(&x->j, "producer", "flopmeter export --perfetto");
        json_u64(&x->j, "traces", (uint64_t)n);
        json_object_end(&x->j);
        json_object_end(&x->j);
        json_finish(&x->j);
        free(x);
    }
    if (fclose(f) != 0 && status == EXIT_OK) {
        cli_error("%s: cannot write: %s", out, strerror(errno));
        status = EXIT_INTERNAL;
    }
    if (status != EXIT_OK)
        remove(out); /* a partial timeline is worse than none */
    fm_free_trace_paths(paths, n);
    return status;
}
