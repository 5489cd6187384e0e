/* tsan_stress.c - the hook's concurrent parts under ThreadSanitizer: the launch tables with a
 * reader doing what the flusher does, the device ranges with readers while a writer adds and
 * removes, and the collector with launches, execution records, graph kernels, phases,
 * declarations, steps and problems on many threads while its flusher writes, stopped while one
 * thread is still launching; the launches go through the measuring layer (measured_launch.c,
 * the launch gate) with a test double of the range profiler, on two contexts, one of them
 * destroyed and reopened meanwhile, while another thread keeps asking for the counter samples
 * to be written early.
 *
 * Built with -fsanitize=thread from the sources themselves (not the normal static libraries).
 * Exits 0 when every count is exact and the trace verifies; 1 otherwise; a ThreadSanitizer
 * report ends it with TSAN_OPTIONS' exitcode (the test sets halt_on_error=1 exitcode=66). */
#define _GNU_SOURCE
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "counter_backend.h"
#include "device_ranges.h"
#include "hook_core.h"
#include "measured_launch.h"
#include "sampler.h"
#include "launch_table.h"
#include "flopmeter/trace_reader.h"
#include "flopmeter/trace_verify.h"

static int failures;

#define CHECK(cond, ...)                                                                       \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "tsan_stress: %s:%d: ", __FILE__, __LINE__);                       \
            fprintf(stderr, __VA_ARGS__);                                                      \
            fprintf(stderr, "\n");                                                             \
            failures++;                                                                        \
        }                                                                                      \
    } while (0)

static void start_threads(pthread_t *t, int n, void *(*fn)(void *), intptr_t first)
{
    for (int i = 0; i < n; i++)
        if (pthread_create(&t[i], NULL, fn, (void *)(first + i)) != 0) {
            fprintf(stderr, "tsan_stress: pthread_create failed\n");
            exit(1);
        }
}

static void join_threads(pthread_t *t, int n)
{
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
}

/* ---- the launch tables ---------------------------------------------------------------- */

#define NSIG 5000
#define TABLE_THREADS 8
#define TABLE_LAUNCHES 20000
#define PHASES 3

static fm_launch_table table;
static atomic_int table_done;

static fm_launch_key key_of(uint32_t i)
{
    fm_launch_key k;
    memset(&k, 0, sizeof k);
    k.function = 0x7f0000000000ull + (uint64_t)i * 16;
    k.grid[0] = i % 97 + 1;
    k.grid[1] = k.grid[2] = 1;
    k.block[0] = 128;
    k.block[1] = k.block[2] = 1;
    k.arg_hash = 0x9e3779b97f4a7c15ull * (i + 1);
    return k;
}

static uint32_t index_of(int t, uint32_t j)
{
    return (uint32_t)(((uint64_t)j * 7919 + (uint64_t)t * 131) % NSIG);
}

static void *table_launcher(void *arg)
{
    int t = (int)(intptr_t)arg;
    char name[32];
    for (uint32_t j = 0; j < TABLE_LAUNCHES; j++) {
        uint32_t i = index_of(t, j);
        fm_launch_key k = key_of(i);
        snprintf(name, sizeof name, "kernel_%u", i);
        int created = 0;
        fm_sig_slot *s = fm_launch_table_signature(&table, &k, name, j, &created);
        if (!s) {
            CHECK(0, "signature %u not added", i);
            continue;
        }
        if (created)
            fm_launch_table_publish(&table, s);
        fm_pair_slot *p = fm_launch_table_pair(&table, s->id, j % PHASES);
        CHECK(p != NULL, "pair not added");
        if (p) {
            atomic_fetch_add_explicit(&p->launches, 1, memory_order_relaxed);
            atomic_fetch_add_explicit(&p->busy_ns, i + 1, memory_order_relaxed);
        }
    }
    return NULL;
}

/* What the flusher does while launches go on: published signatures by id, counters by slot. */
static void *table_reader(void *arg)
{
    (void)arg;
    char want[32];
    while (!atomic_load(&table_done)) {
        for (uint32_t id = 1; id <= NSIG; id++) {
            const fm_sig_slot *s = fm_launch_table_by_id(&table, id);
            if (!s)
                continue;
            uint32_t i = (uint32_t)((s->key.function - 0x7f0000000000ull) / 16);
            fm_launch_key k = key_of(i);
            snprintf(want, sizeof want, "kernel_%u", i);
            CHECK(s->id == id && memcmp(&s->key, &k, sizeof k) == 0 &&
                      strcmp(fm_launch_table_info(&table, s)->name, want) == 0,
                  "published signature %u is incomplete", id);
        }
        uint64_t sum = 0;
        for (uint32_t i = 0; i <= table.pair_mask; i++)
            if (atomic_load_explicit(&table.pairs[i].key, memory_order_acquire))
                sum += atomic_load_explicit(&table.pairs[i].launches, memory_order_relaxed);
        CHECK(sum <= (uint64_t)TABLE_THREADS * TABLE_LAUNCHES, "more launches than made");
    }
    return NULL;
}

static void table_stress(void)
{
    if (fm_launch_table_init(&table, 8192, 8192 * 4, 8192 * 64) != 0) {
        CHECK(0, "table init");
        return;
    }
    pthread_t launchers[TABLE_THREADS], reader;
    start_threads(&reader, 1, table_reader, 0);
    start_threads(launchers, TABLE_THREADS, table_launcher, 0);
    join_threads(launchers, TABLE_THREADS);
    atomic_store(&table_done, 1);
    join_threads(&reader, 1);

    static uint64_t want[NSIG][PHASES];
    for (int t = 0; t < TABLE_THREADS; t++)
        for (uint32_t j = 0; j < TABLE_LAUNCHES; j++)
            want[index_of(t, j)][j % PHASES]++;
    CHECK(atomic_load(&table.next_id) == NSIG + 1, "%u ids handed out",
          atomic_load(&table.next_id) - 1);
    CHECK(atomic_load(&table.dropped_signatures) == 0 && atomic_load(&table.dropped_pairs) == 0,
          "drops");
    for (uint32_t i = 0; i < NSIG; i++) {
        fm_launch_key k = key_of(i);
        int created = 0;
        fm_sig_slot *s = fm_launch_table_signature(&table, &k, "x", 0, &created);
        CHECK(s && !created, "signature %u lost", i);
        if (!s)
            continue;
        for (uint32_t ph = 0; ph < PHASES; ph++) {
            fm_pair_slot *p = fm_launch_table_pair(&table, s->id, ph);
            uint64_t n = p ? atomic_load(&p->launches) : 0;
            CHECK(n == want[i][ph], "signature %u phase %u: %" PRIu64 " launches, want %" PRIu64,
                  i, ph, n, want[i][ph]);
        }
    }
    fm_launch_table_free(&table);
}

/* ---- the device ranges ------------------------------------------------------------------ */

static fm_device_ranges ranges;
static atomic_int ranges_done;
#define STABLE 0x7f4000000000ull

static void *ranges_reader(void *arg)
{
    (void)arg;
    uint64_t ptr = STABLE + 64;
    int32_t n = 10;
    void *params[2] = {&ptr, &n};
    uint32_t sizes[2] = {8, 4};
    uint64_t want = fm_arg_hash(&ranges, params, sizes, 2);
    for (uint64_t i = 0; !atomic_load(&ranges_done); i++) {
        ptr = STABLE + (i % 1000) * 8;
        CHECK(fm_device_ranges_contains(&ranges, STABLE + i % 4096), "stable range lost");
        CHECK(fm_arg_hash(&ranges, params, sizes, 2) == want, "hash changed");
    }
    return NULL;
}

static void ranges_stress(void)
{
    fm_device_ranges_init(&ranges);
    fm_device_ranges_add(&ranges, STABLE, 1 << 20);
    pthread_t readers[3];
    start_threads(readers, 3, ranges_reader, 0);
    for (uint64_t i = 0; i < 3000; i++) {
        uint64_t s = STABLE + (16ull << 30) + (i % 64) * 0x100000;
        if (i % 128 < 64)
            fm_device_ranges_add(&ranges, s, 0x80000);
        else
            fm_device_ranges_remove(&ranges, s);
    }
    atomic_store(&ranges_done, 1);
    join_threads(readers, 3);
    fm_device_ranges_free(&ranges);
}

/* ---- the collector ---------------------------------------------------------------------- */

#define LAUNCHERS 6
#define LAUNCHES 10000
#define KERNELS 40

static _Atomic uint64_t next_corr = 1, graph_kernels;
static atomic_uchar launched[LAUNCHERS * LAUNCHES + 1]; /* by correlation id: launch made */
static atomic_int late_stop;
static _Atomic uint64_t late_launches;
static const char *const phase_names[] = {"pretraining", "recompute", "evaluation",
                                          "backward-pass"};

/* A test double of the range profiler for the measuring layer: per context, whether the
 * counters are armed and how many kernels ran meanwhile; a measurement that saw another
 * kernel than its own would read two (the launch gate must prevent that). */
typedef struct stress_counters {
    atomic_int armed, ran;
} stress_counters;
static stress_counters stress_state[2];
static const uint64_t stress_contexts[2] = {0x5500001000ull, 0x5500002000ull};
static atomic_int stress_foreign; /* measurements that saw a foreign kernel */

static void stress_kernel_ran(uint64_t context)
{
    stress_counters *c = &stress_state[context == stress_contexts[1]];
    if (atomic_load(&c->armed))
        atomic_fetch_add(&c->ran, 1);
}

static const fm_hook_metric stress_g0[] = {{"m_fp32", FM_FMT_FP32, 2.0},
                                           {"m_fp64", FM_FMT_FP64, 1.0}};
static const fm_hook_metric stress_g1[] = {{"gpu__time_duration.sum", FM_CLASS_NONE, 0},
                                           {"m_bf16", FM_FMT_BF16 | FM_CLASS_TENSOR, 1.0}};
static const fm_hook_group_def stress_groups[] = {{2, stress_g0}, {2, stress_g1}};

static int stress_plan(void *self, uint64_t context, uint32_t device, fm_backend_plan *out,
                       char *why, size_t len)
{
    (void)self, (void)context, (void)device, (void)why, (void)len;
    out->chip = "GH100";
    out->n_groups = 2;
    out->groups = stress_groups;
    return 0;
}

static int stress_open(void *self, uint64_t context, uint32_t device, void **state, char *why,
                       size_t len)
{
    (void)self, (void)device, (void)why, (void)len;
    *state = &stress_state[context == stress_contexts[1]];
    return 0;
}

static int stress_arm(void *self, void *state, int group, char *why, size_t len)
{
    (void)self, (void)group, (void)why, (void)len;
    stress_counters *c = state;
    atomic_store(&c->ran, 0);
    atomic_store(&c->armed, 1);
    return 0;
}

static int stress_read(void *self, void *state, int group, int launched, double *values,
                       uint32_t max, uint32_t *passes, char *why, size_t len)
{
    (void)self, (void)why, (void)len;
    stress_counters *c = state;
    atomic_store(&c->armed, 0);
    int ran = atomic_exchange(&c->ran, 0);
    if (ran > 1)
        atomic_fetch_add(&stress_foreign, 1);
    if (!launched || ran != 1)
        return FM_BACKEND_LOST;
    static const double v[4] = {100, 7, 10, 7};
    uint32_t n = group == FM_SAMPLE_ALL ? 4 : 2;
    for (uint32_t i = 0; i < n && i < max; i++)
        values[i] = group == 1 ? v[2 + i] : v[i];
    *passes = group == FM_SAMPLE_ALL ? 2 : 1;
    return 0;
}

static void stress_close(void *self, void *state)
{
    (void)self, (void)state;
}

static uint32_t stress_kind(void *self, int error)
{
    (void)self, (void)error;
    return FM_DEGRADE_PROFILER_ERROR;
}

static const fm_counter_backend stress_backend = {NULL,        stress_plan,  stress_open,
                                                  stress_arm,  stress_read,  stress_close,
                                                  stress_kind};

static void *collector_launcher(void *arg)
{
    int t = (int)(intptr_t)arg;
    char name[32];
    for (uint32_t j = 0; j < LAUNCHES; j++) {
        if (j % 100 == 0)
            fm_hook_phase_push(phase_names[(j / 100 + (uint32_t)t) % 4], -1);
        fm_launch_info l;
        memset(&l, 0, sizeof l);
        uint32_t k = (j * 31 + (uint32_t)t) % KERNELS;
        snprintf(name, sizeof name, "kernel_%u", k);
        l.function = 0x7f6600000000ull + k * 64;
        l.name = name;
        l.grid[0] = l.grid[1] = l.grid[2] = 1;
        l.block[0] = 256;
        l.block[1] = l.block[2] = 1;
        l.arg_hash = k + 1;
        l.correlation_id = atomic_fetch_add(&next_corr, 1);
        /* through the measuring layer, as the CUPTI glue calls it: measured launches'
         * readings arrive while the flusher settles launches; every 97th launch fails */
        uint64_t context = stress_contexts[t % 2];
        int ok = j % 97 != 0;
        fm_measuring_launch(context, (uint32_t)(t % 2), &l, 0);
        if (ok)
            stress_kernel_ran(context);
        fm_measuring_launch_done(ok);
        atomic_store_explicit(&launched[l.correlation_id], 1, memory_order_release);
        if (j % 1000 == 0)
            fm_hook_declare("loop.mark", j, t % 2 ? "odd thread" : NULL);
        if (j % 100 == 50)
            fm_hook_step(128);
        if (j % 100 == 99)
            fm_hook_phase_pop();
    }
    return NULL;
}

/* CUPTI's buffer thread: execution records of the launches made (as CUPTI, never before
 * the launch), and graph kernels. */
static void *collector_records(void *arg)
{
    (void)arg;
    const uint64_t total = (uint64_t)LAUNCHERS * LAUNCHES;
    uint64_t done = 1;
    fm_launch_info g;
    memset(&g, 0, sizeof g);
    g.function = (1ull << 63) | 12345;
    g.name = "graph_kernel";
    g.grid[0] = g.grid[1] = g.grid[2] = 1;
    g.block[0] = g.block[1] = g.block[2] = 32;
    while (done <= total) {
        for (; done <= total && atomic_load_explicit(&launched[done], memory_order_acquire);
             done++)
            fm_hook_kernel_executed(done, 3);
        fm_hook_graph_kernel(&g, 11);
        atomic_fetch_add(&graph_kernels, 1);
        fm_hook_stats st;
        fm_hook_get_stats(&st);
        usleep(200);
    }
    return NULL;
}

static void *collector_problems(void *arg)
{
    (void)arg;
    for (int i = 0; i < 20; i++) {
        fm_hook_degrade(FM_DEGRADE_COUNTERS_BUSY, i, 0, "busy %d", i);
        uint8_t uuid[16] = {0};
        fm_hook_device((uint32_t)i % 2, "Fake GPU", uuid, "GH100", 9, 0, 132, 1ull << 36,
                       "0000:01:00.0");
        if (i == 10) /* a context destroyed while others launch on it: reopened */
            fm_measuring_context_gone(stress_contexts[1]);
        usleep(500);
    }
    return NULL;
}

/* A thread that goes on launching while the collector stops. */
static void *collector_late(void *arg)
{
    (void)arg;
    fm_launch_info l;
    memset(&l, 0, sizeof l);
    l.function = 0x7f7700000000ull;
    l.name = "late_kernel";
    l.grid[0] = l.grid[1] = l.grid[2] = 1;
    l.block[0] = l.block[1] = l.block[2] = 64;
    while (!atomic_load(&late_stop)) {
        fm_hook_launch(&l);
        atomic_fetch_add(&late_launches, 1);
        l.arg_hash++; /* new signatures now and then, so that stop meets one being added */
        if (l.arg_hash > 20)
            l.arg_hash = 0;
    }
    return NULL;
}

/* Asks the flusher, again and again, to write the waiting counter samples early (as the
 * measuring side does when they pile up), through flushes, launches and the stop. */
static void *collector_early_writes(void *arg)
{
    (void)arg;
    while (!atomic_load(&late_stop)) {
        fm_hook_write_samples_soon();
        struct timespec pause = {0, 200000};
        nanosleep(&pause, NULL);
    }
    return NULL;
}

static void collector_stress(void)
{
    const char *tmp = getenv("TMPDIR");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/flopmeter-tsan-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    setenv("FLOPMETER_OUTPUT_DIR", dir, 1);
    setenv("FLOPMETER_RUN_ID", "tsan", 1);
    setenv("FLOPMETER_INTERVAL_MS", "10", 1);
    setenv("FLOPMETER_FLUSH_MS", "10", 1);
    setenv("FLOPMETER_MAX_SIGNATURES", "1024", 1);
    setenv("FLOPMETER_QUIET", "1", 1);
    if (fm_hook_start(NULL) != 0) {
        CHECK(0, "fm_hook_start");
        return;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s", fm_hook_trace_path());
    CHECK(fm_measuring_start(&stress_backend, FM_PROFILE_SAMPLED, 0.5) == 0, "measuring");
    pthread_t launchers[LAUNCHERS], records, problems, late_thread, early_thread;
    start_threads(&late_thread, 1, collector_late, 0);
    start_threads(&early_thread, 1, collector_early_writes, 0);
    start_threads(&records, 1, collector_records, 0);
    start_threads(&problems, 1, collector_problems, 0);
    start_threads(launchers, LAUNCHERS, collector_launcher, 0);
    join_threads(launchers, LAUNCHERS);
    join_threads(&records, 1);
    join_threads(&problems, 1);
    fm_hook_stop(FM_EXIT_TOOL); /* the late thread is still launching */
    atomic_store(&late_stop, 1);
    join_threads(&late_thread, 1);
    join_threads(&early_thread, 1);

    fm_verify_result *res = calloc(1, sizeof *res);
    int rc = fm_verify_file(path, NULL, res);
    CHECK(rc == FM_OK, "verify: %s", res->message);
    free(res);
    /* every launch of the launcher threads, exactly; the late thread's, whatever got in */
    fm_reader *r = NULL;
    char err[256];
    if (fm_reader_open_file(&r, path, err, sizeof err) != FM_OK) {
        CHECK(0, "%s", err);
        return;
    }
    static char *strings[65536];
    static int late_sig[1025];
    uint64_t launches = 0, late = 0, busy = 0, samples = 0;
    fm_record rec;
    while (fm_reader_next(r, &rec) == FM_OK) {
        samples += rec.kind == FM_REC_COUNTER_SAMPLE;
        if (rec.kind == FM_REC_STRING && rec.u.string.id < 65536)
            strings[rec.u.string.id] = strndup(rec.u.string.text.ptr, rec.u.string.text.len);
        else if (rec.kind == FM_REC_KERNEL_SIGNATURE && rec.u.kernel_signature.id <= 1024 &&
                 rec.u.kernel_signature.name < 65536)
            late_sig[rec.u.kernel_signature.id] =
                strings[rec.u.kernel_signature.name] &&
                !strcmp(strings[rec.u.kernel_signature.name], "late_kernel");
        else if (rec.kind == FM_REC_AGGREGATE && rec.u.aggregate.signature <= 1024) {
            if (late_sig[rec.u.aggregate.signature]) {
                late += rec.u.aggregate.launches;
            } else {
                launches += rec.u.aggregate.launches;
                busy += rec.u.aggregate.busy_ns;
            }
        }
    }
    fm_reader_close(r);
    for (int i = 0; i < 65536; i++)
        free(strings[i]);
    uint64_t graph = atomic_load(&graph_kernels);
    CHECK(launches == (uint64_t)LAUNCHERS * LAUNCHES + graph,
          "%" PRIu64 " launches, want %d and %" PRIu64 " graph kernels", launches,
          LAUNCHERS * LAUNCHES, graph);
    CHECK(busy == (uint64_t)LAUNCHERS * LAUNCHES * 3 + graph * 11,
          "busy %" PRIu64 ": want every execution record and %" PRIu64 " graph kernels", busy,
          graph);
    CHECK(late <= atomic_load(&late_launches), "late launches");
    CHECK(samples > 0, "no counter sample: the measuring layer measured nothing");
    CHECK(atomic_load(&stress_foreign) == 0, "%d measurements saw another thread's kernel",
          atomic_load(&stress_foreign));
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "tsan_stress: could not remove %s\n", dir);
}

int main(void)
{
    table_stress();
    ranges_stress();
    collector_stress();
    if (failures)
        fprintf(stderr, "tsan_stress: %d checks failed\n", failures);
    return failures ? 1 : 0;
}
