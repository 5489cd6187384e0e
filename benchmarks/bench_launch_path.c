/* bench_launch_path.c - the CPU cost libflopmeter.so adds to each kernel launch.
 *
 * Drives the real launch path (fm_hook_launch, the function the CUPTI callback calls for
 * every launch) with a running collector writing a real trace, and in the same run an empty
 * callback through the same loop, so the difference is what the hook costs. By default 10^7
 * launches over 5,000 signatures, from 1, 2 and 8 threads (the launches divided among them),
 * each thread inside a phase and with its own correlation ids, in a shuffled signature order so
 * the tables are not read in cache-friendly sequence.
 *
 * A second table drives the same launches through the path the CUPTI glue takes when the
 * hardware counters are on (measured_launch.c: the launch gate, the context, the sampler's
 * decision, the launch's exit), in sampled mode, with a stand-in counter backend whose
 * measurements cost 20 us of CPU and read zeros, and a budget so small (0.01%) that, once every
 * signature's first launches are measured (before timing), almost no launch is: what every
 * launch pays for counters being on, not the measurements themselves; and, apart, the
 * collector's part of it (the launch counted and the sampler asked, without the layer).
 *
 * What it does not include: CUPTI's own cost of calling a callback and building its callback
 * data, and the argument hash (measured separately in the same run, over 8 parameters). The
 * target (docs/performance.md): at most 50 ns per launch on one thread, and no collapse with
 * more threads. Each figure is the best of --repeat runs. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "counter_backend.h"
#include "device_ranges.h"
#include "flopmeter/trace_format.h"
#include "flopmeter/trace_verify.h"
#include "hook_core.h"
#include "measured_launch.h"
#include "sampler.h"

#define ORDER_LEN 65536u

typedef void (*launch_fn)(const fm_launch_info *);

static fm_launch_info *infos;
static uint32_t *order;
static uint32_t n_signatures = 5000;

__attribute__((noinline)) static void empty_callback(const fm_launch_info *l)
{
    __asm__ volatile("" : : "r"(l) : "memory"); /* a call the compiler cannot remove */
}

/* ---- a stand-in counter backend: 3 groups, measurements that take 20 us and read zeros ---- */

static const fm_hook_metric bench_g0[] = {{"smsp__bench_ffma.sum", FM_FMT_FP32, 2.0}};
static const fm_hook_metric bench_g1[] = {{"gpu__time_duration.sum", FM_CLASS_NONE, 0},
                                          {"sm__bench_tensor.sum", FM_FMT_BF16 | FM_CLASS_TENSOR,
                                           1.0}};
static const fm_hook_metric bench_g2[] = {
    {"sm__bench_tensor_fp16.sum", FM_FMT_FP16 | FM_CLASS_TENSOR, 1.0}};
static const fm_hook_group_def bench_groups[] = {{1, bench_g0}, {2, bench_g1}, {1, bench_g2}};

static int bench_plan(void *self, uint64_t context, uint32_t device, fm_backend_plan *out,
                      char *why, size_t len)
{
    (void)self, (void)context, (void)device, (void)why, (void)len;
    out->chip = "GH100";
    out->n_groups = 3;
    out->groups = bench_groups;
    return 0;
}

static int bench_open(void *self, uint64_t context, uint32_t device, void **state, char *why,
                      size_t len)
{
    (void)self, (void)context, (void)device, (void)why, (void)len;
    *state = NULL;
    return 0;
}

static int bench_arm(void *self, void *state, int group, char *why, size_t len)
{
    (void)self, (void)state, (void)group, (void)why, (void)len;
    return 0;
}

static double now(void);

static int bench_read(void *self, void *state, int group, int launched, double *values,
                      uint32_t max, uint32_t *passes, char *why, size_t len)
{
    (void)self, (void)state, (void)launched, (void)why, (void)len;
    double until = now() + 20e-6; /* what decoding a kernel's counters takes, at least */
    while (now() < until) {
    }
    uint32_t n = group == FM_SAMPLE_ALL ? 4 : bench_groups[group].n_metrics;
    for (uint32_t i = 0; i < n && i < max; i++)
        values[i] = 0;
    *passes = 1;
    return 0;
}

static void bench_close(void *self, void *state)
{
    (void)self, (void)state;
}

static uint32_t bench_kind(void *self, int error)
{
    (void)self, (void)error;
    return FM_DEGRADE_PROFILER_ERROR;
}

static const fm_counter_backend bench_backend = {NULL,       bench_plan,  bench_open, bench_arm,
                                                 bench_read, bench_close, bench_kind};

/* The collector's part alone: counted, and the sampler asked. */
__attribute__((noinline)) static void counted_and_decided(const fm_launch_info *l)
{
    fm_launch_decision d;
    fm_hook_launch_measured(l, &d);
    /* a launch chosen for measurement stays in flight until its values or their loss are
     * handed back: without this its launch would never be written (rare: the budget is tiny,
     * but a slow machine makes the sampler choose more) */
    if (d.group != FM_SAMPLE_NONE)
        fm_hook_counter_lost(&d);
}

/* One launch through the glue's path with counters on: entry, then exit. */
__attribute__((noinline)) static void counted_and_sampled(const fm_launch_info *l)
{
    fm_measuring_launch(0x5500001000ull, 0, l, 0);
    fm_measuring_launch_done(1);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct worker {
    pthread_t thread;
    launch_fn fn;
    uint64_t launches, first_correlation;
    uint32_t offset;
    pthread_barrier_t *start;
    double cpu_s; /* this thread's CPU time in the loop */
} worker;

static double thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *run_worker(void *arg)
{
    worker *w = arg;
    launch_fn volatile fn = w->fn; /* one indirect call per launch, as CUPTI makes */
    fm_hook_phase_push("pretraining", -1);
    pthread_barrier_wait(w->start);
    double c0 = thread_cpu();
    fm_launch_info l;
    for (uint64_t i = 0; i < w->launches; i++) {
        l = infos[order[(w->offset + i) & (ORDER_LEN - 1)]];
        l.correlation_id = w->first_correlation + i;
        fn(&l);
    }
    w->cpu_s = thread_cpu() - c0;
    fm_hook_phase_pop();
    return NULL;
}

/* Wall seconds for `launches` launches through fn from `threads` threads; *cpu_s: the CPU
 * time the threads spent in the loop, summed. CPU time is the cost a launch pays; wall time
 * also counts waiting for a core (other work on the machine, more threads than cores). */
static double drive(launch_fn fn, uint64_t launches, unsigned threads, double *cpu_s)
{
    worker w[64];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, threads + 1);
    for (unsigned t = 0; t < threads; t++) {
        w[t].fn = fn;
        w[t].launches = launches / threads + (t < launches % threads);
        w[t].first_correlation = 1 + (uint64_t)t * (launches + 1);
        w[t].offset = t * (ORDER_LEN / threads);
        w[t].start = &start;
        pthread_create(&w[t].thread, NULL, run_worker, &w[t]);
    }
    pthread_barrier_wait(&start);
    double t0 = now();
    for (unsigned t = 0; t < threads; t++)
        pthread_join(w[t].thread, NULL);
    double dt = now() - t0;
    pthread_barrier_destroy(&start);
    *cpu_s = 0;
    for (unsigned t = 0; t < threads; t++)
        *cpu_s += w[t].cpu_s;
    return dt;
}

static void make_launches(void)
{
    infos = calloc(n_signatures, sizeof *infos);
    order = malloc(ORDER_LEN * sizeof *order);
    static char names[64][48];
    for (int i = 0; i < 64; i++)
        snprintf(names[i], sizeof names[i], "void gemm_kernel_variant_%d<float, 128>(Params)", i);
    for (uint32_t i = 0; i < n_signatures; i++) {
        fm_launch_info *l = &infos[i];
        l->function = 0x7f0000001000ull + (uint64_t)(i % 64) * 0x100; /* 64 kernels */
        l->name = names[i % 64];
        l->grid[0] = 1 + i / 64; /* shapes make the signatures */
        l->grid[1] = 1 + i % 7;
        l->grid[2] = 1;
        l->block[0] = 128;
        l->block[1] = l->block[2] = 1;
        l->shared_mem = (i % 3) * 1024;
        /* shapes make most signatures; 16 argument variants per kernel at most, within the
         * variant limit, so every signature stays its own */
        l->arg_hash = 0x9e3779b97f4a7c15ull * (i % 64 + 1) + (i / 64) % 16;
    }
    uint64_t x = 88172645463325252ull; /* xorshift: the same order every run */
    for (uint32_t i = 0; i < ORDER_LEN; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order[i] = (uint32_t)(x % n_signatures);
    }
}

/* The argument hash of a launch with 8 parameters (4 device pointers, 4 scalars) against
 * 1,000 allocated ranges: ns per hash. */
static double bench_args(uint64_t n)
{
    fm_device_ranges r;
    fm_device_ranges_init(&r);
    for (uint64_t i = 0; i < 1000; i++)
        fm_device_ranges_add(&r, 0x7f0000000000ull + i * (1u << 22), 1u << 21);
    uint64_t ptr[4] = {0x7f0000000000ull + 5 * (1u << 22), 0x7f0000000000ull + 500 * (1u << 22),
                       0x7f0000000000ull + 77 * (1u << 22) + 4096, 0x7f0000000000ull};
    int32_t dims[3] = {4096, 4096, 1024};
    float alpha = 1.0f;
    void *params[8] = {&ptr[0], &ptr[1], &ptr[2], &ptr[3], &dims[0], &dims[1], &dims[2], &alpha};
    uint32_t sizes[8] = {8, 8, 8, 8, 4, 4, 4, 4};
    volatile uint64_t sink = 0;
    double t0 = now();
    for (uint64_t i = 0; i < n; i++) {
        dims[2] = (int32_t)(i & 1023);
        sink += fm_arg_hash(&r, params, sizes, 8);
    }
    double dt = now() - t0;
    (void)sink;
    fm_device_ranges_free(&r);
    return dt / (double)n * 1e9;
}

static unsigned long opt(int argc, char **argv, const char *name, unsigned long def)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return strtoul(argv[i + 1], NULL, 10);
    return def;
}

static const char *opt_s(int argc, char **argv, const char *name)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return NULL;
}

int main(int argc, char **argv)
{
    uint64_t launches = opt(argc, argv, "--launches", 10000000);
    n_signatures = (uint32_t)opt(argc, argv, "--signatures", 5000);
    unsigned repeat = (unsigned)opt(argc, argv, "--repeat", 3);
    const char *json = opt_s(argc, argv, "--json");
    if (!launches || !n_signatures || !repeat) {
        fprintf(stderr, "usage: bench_launch_path [--launches N] [--signatures N] [--repeat N] "
                        "[--json FILE]\n");
        return 2;
    }
    char dir[] = "/tmp/flopmeter-bench-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    setenv("FLOPMETER_OUTPUT_DIR", dir, 1);
    setenv("FLOPMETER_RUN_ID", "bench", 1);
    setenv("FLOPMETER_QUIET", "1", 1);
    setenv("FLOPMETER_CALLSTACKS", "0", 1); /* no libunwind here: first launches only anyway */
    /* the stand-in backend reads zeros for every launch: the argument learner would find
     * that no argument matters and fold the signatures, changing the workload mid-run */
    setenv("FLOPMETER_ARG_LEARN", "0", 1);
    make_launches();
    fm_hook_versions v = {0, 0, 0};
    if (fm_hook_start(&v) != 0) {
        fprintf(stderr, "bench_launch_path: the collector did not start\n");
        return 1;
    }
    /* the signatures exist before timing: the steady state of a training loop */
    for (uint32_t i = 0; i < n_signatures; i++)
        fm_hook_launch(&infos[i]);

    static const unsigned thread_counts[] = {1, 2, 8};
    double hook_ns[3], empty_ns[3], hook_wall_ns[3], rate[3];
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    printf("launch path: %" PRIu64 " launches over %u signatures, best of %u, %ld CPUs\n",
           launches, n_signatures, repeat, cpus);
    printf("CPU ns per launch (summed over threads / launches); wall: elapsed x threads / "
           "launches\n");
    printf("%8s %10s %10s %10s %10s %12s\n", "threads", "hook CPU", "empty CPU", "added",
           "hook wall", "Mlaunch/s");
    for (int k = 0; k < 3; k++) {
        unsigned t = thread_counts[k];
        double best_hook = 1e30, best_empty = 1e30, best_wall = 1e30;
        for (unsigned r = 0; r < repeat; r++) {
            double ce, ch;
            drive(empty_callback, launches, t, &ce);
            double wall = drive(fm_hook_launch, launches, t, &ch);
            best_empty = ce < best_empty ? ce : best_empty;
            best_hook = ch < best_hook ? ch : best_hook;
            best_wall = wall < best_wall ? wall : best_wall;
        }
        hook_ns[k] = best_hook / (double)launches * 1e9;
        empty_ns[k] = best_empty / (double)launches * 1e9;
        hook_wall_ns[k] = best_wall * t / (double)launches * 1e9;
        rate[k] = (double)launches / best_wall / 1e6;
        printf("%8u %10.1f %10.1f %10.1f %10.1f %12.1f\n", t, hook_ns[k], empty_ns[k],
               hook_ns[k] - empty_ns[k], hook_wall_ns[k], rate[k]);
    }
    /* counters on: the signatures' first launches measured before timing */
    double on_ns[3], on_added[3], decided_added[3];
    uint64_t warm_launches = 0;
    int counters = fm_measuring_start(&bench_backend, FM_PROFILE_SAMPLED, 1e-4) == 0;
    if (counters) {
        for (int pass = 0; pass < 8; pass++)
            for (uint32_t i = 0; i < n_signatures; i++)
                counted_and_sampled(&infos[i]);
        /* the sampler's rates come from its rebalance at the end of each flush interval
         * (1 s), for the signatures that ran in it: launches for 2.5 s first, the steady
         * state of a training loop (until then it measures one launch in 1,024) */
        for (double until = now() + 2.5; now() < until; warm_launches += ORDER_LEN)
            for (uint32_t i = 0; i < ORDER_LEN; i++)
                counted_and_sampled(&infos[order[i]]);
        printf("with hardware counters on (sampled, a stand-in backend, budget 0.01%%): "
               "added CPU ns\n");
        printf("%8s %10s %10s %10s\n", "threads", "decision", "all", "vs off");
        for (int k = 0; k < 3; k++) {
            unsigned t = thread_counts[k];
            double best = 1e30, best_decided = 1e30;
            for (unsigned r = 0; r < repeat; r++) {
                double c;
                drive(counted_and_decided, launches, t, &c);
                best_decided = c < best_decided ? c : best_decided;
                drive(counted_and_sampled, launches, t, &c);
                best = c < best ? c : best;
            }
            decided_added[k] = best_decided / (double)launches * 1e9 - empty_ns[k];
            on_ns[k] = best / (double)launches * 1e9;
            on_added[k] = on_ns[k] - empty_ns[k];
            printf("%8u %10.1f %10.1f %9.2fx\n", t, decided_added[k], on_added[k],
                   on_added[k] / (hook_ns[k] - empty_ns[k]));
        }
    }
    double args_ns = bench_args(launches / 10 ? launches / 10 : 1);
    printf("argument hash (8 parameters, 1,000 allocations): %.1f ns per launch\n", args_ns);

    fm_hook_stats st;
    fm_hook_get_stats(&st);
    fm_hook_stop(0);
    /* the trace must hold every launch the hook runs made: a fast path that loses counts
     * would be no result */
    uint64_t expected = (uint64_t)n_signatures + launches * 3 * repeat +
                        (counters ? (uint64_t)n_signatures * 8 + warm_launches +
                                        launches * 3 * repeat * 2
                                  : 0);
    fm_verify_result res;
    int ok = fm_verify_file(fm_hook_trace_path(), NULL, &res) == FM_OK &&
             res.launches == expected && !st.dropped_signatures && !st.dropped_pairs;
    printf("trace: %" PRIu64 " launches recorded, %" PRIu64 " expected, %" PRIu64
           " signatures, %s\n",
           res.launches, expected, st.signatures, ok ? "consistent" : "INCONSISTENT");
    if (json) {
        FILE *f = fopen(json, "w");
        if (!f) {
            perror(json);
            return 1;
        }
        fprintf(f, "{\"launches\": %" PRIu64 ", \"signatures\": %u, \"repeat\": %u, \"cpus\": %ld, "
                   "\"threads\": [",
                launches, n_signatures, repeat, cpus);
        for (int k = 0; k < 3; k++)
            fprintf(f, "%s{\"threads\": %u, \"hook_cpu_ns\": %.2f, \"empty_cpu_ns\": %.2f, "
                       "\"added_cpu_ns\": %.2f, \"hook_wall_ns\": %.2f, "
                       "\"mlaunches_per_s\": %.3f}",
                    k ? ", " : "", thread_counts[k], hook_ns[k], empty_ns[k],
                    hook_ns[k] - empty_ns[k], hook_wall_ns[k], rate[k]);
        fprintf(f, "], \"counters_on\": [");
        for (int k = 0; counters && k < 3; k++)
            fprintf(f, "%s{\"threads\": %u, \"cpu_ns\": %.2f, \"added_cpu_ns\": %.2f, "
                       "\"decision_added_cpu_ns\": %.2f}",
                    k ? ", " : "", thread_counts[k], on_ns[k], on_added[k], decided_added[k]);
        fprintf(f, "], \"arg_hash_ns\": %.2f}\n", args_ns);
        fclose(f);
    }
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    /* FM_BENCH_KEEP=1 keeps the trace, to look into an inconsistent one */
    if (getenv("FM_BENCH_KEEP") == NULL && system(cmd) != 0)
        fprintf(stderr, "bench_launch_path: could not remove %s\n", dir);
    return ok ? 0 : 1;
}
