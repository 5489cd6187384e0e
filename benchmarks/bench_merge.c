/* bench_merge.c - merging and reporting many rank traces: time and peak memory of the real
 * `flopmeter merge` and `flopmeter report --json` as the number of ranks grows.
 *
 * For every job size N of --ranks (default 1,16,256,1024) the benchmark synthesizes a job of N
 * ranks with fm_synth_write: one trace per rank, rank r of world size N, all with the same
 * seed, so that they form one run (run id "synth-<seed>"). Each rank is kept small (by default
 * 20 steps, 200 signatures, 300 launches per step, about 42 kB of trace) so that the 1,297
 * traces of the default list are synthesized in well under a minute. With --subsets only the
 * largest job is synthesized, and the smaller ones are its first N ranks, linked; they then
 * say world size max(N), and their reports say that ranks are missing.
 *
 * The synthesizer seeds its generator with the seed and the rank, so every rank draws its own
 * pool of signatures and a job of N ranks has N x --signatures of them: the worst case for the
 * report, which keeps an entry per distinct signature. --shared-signatures gives every rank
 * the generator state of rank 0 (and the same run id), so all ranks launch the same kernels,
 * as in data parallelism.
 *
 * Then, for each N, it runs the built flopmeter executable in a child process, --repeat times:
 *   flopmeter merge OUT DIR          one merged trace from the N traces
 *   flopmeter report --json DIR      the report of the N traces
 *   flopmeter report --json OUT      the report of the merged trace
 * and takes the wall time (best of the repeats), the child's CPU time (user + system, from
 * wait4) and its peak resident set size (ru_maxrss from wait4, largest of the repeats). The
 * report goes into a pipe whose bytes the benchmark counts and discards. A forked child starts
 * with the benchmark's mapped pages, and Linux counts them into the child's ru_maxrss if they
 * exceed what the executed program uses; the benchmark's own peak RSS and that of
 * `flopmeter --version` run the same way (the floor of any command) are printed to show it.
 *
 * "Memory flat" is checked between the smallest multi-rank job (16 by default) and the
 * largest: PASS when the peak RSS of the largest is at most 2x that of the reference and at
 * most 4 MiB above it (4 KiB per added rank at 1,024 ranks: room for a per-rank entry such as
 * a path and a row of the per-rank table, nothing that grows with what the ranks contain).
 *
 * Unless --no-census is given, a forked child then reads each job into the report model in
 * process and takes it apart with mallinfo2 and malloc_usable_size: heap held by the model and
 * by its largest parts, by the computed report, and the strings of the merged trace (what the
 * merge's string table holds). This explains where memory grows when it does.
 *
 * Everything goes into a fresh directory under $TMPDIR (or /tmp), removed at the end. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
#include <malloc.h>
#define HAVE_HEAP_STATS 1
#else
#define HAVE_HEAP_STATS 0
#endif

#include "flopmeter/synth.h"
#include "flopmeter/trace_reader.h"
#include "report.h"

#ifndef FM_BENCH_FLOPMETER
#error "FM_BENCH_FLOPMETER must name the flopmeter executable (benchmarks/CMakeLists.txt)"
#endif

#define MAX_SIZES 32
#define FLAT_RATIO 2.0
#define FLAT_MIB 4.0

static const char usage[] =
    "usage: bench_merge [options]\n"
    "  --ranks LIST             job sizes, comma-separated (default 1,16,256,1024)\n"
    "  --steps N                steps per rank (default 20)\n"
    "  --signatures N           kernel signatures per rank (default 200)\n"
    "  --launches-per-step N    launches per step and rank (default 300)\n"
    "  --seed N                 synthesizer seed (default 1)\n"
    "  --repeat N               runs of each command; best time, largest RSS (default 3)\n"
    "  --subsets                synthesize the largest job only; smaller jobs are its first\n"
    "                           ranks (faster; their world size is then the largest N)\n"
    "  --shared-signatures      every rank launches the same kernels (one pool of signatures\n"
    "                           for the job, as in data parallelism); default: each rank\n"
    "                           draws its own pool, so signatures grow with the ranks\n"
    "  --no-census              skip the in-process breakdown of the report model\n"
    "  --flopmeter PATH         the executable to run (default: the one built with this)\n";

typedef struct options {
    uint32_t sizes[MAX_SIZES];
    int n_sizes;
    uint32_t steps, signatures, launches_per_step;
    uint64_t seed;
    unsigned repeat;
    int subsets, census, shared;
    const char *flopmeter;
} options;

/* One run of a child: the best time and the largest RSS over the repeats. */
typedef struct measure {
    double wall, cpu;       /* seconds */
    long maxrss_kib;
    uint64_t out_bytes;     /* what it wrote to stdout */
} measure;

typedef struct census {
    int ok, heap_stats;
    uint32_t traces, sigs, sigphases, callsites, phases, groups;
    uint64_t group_stats_used; /* group entries in use, over all signatures */
    double model_heap, sig_array, sig_names, group_stats, sigphase_array, trace_bytes;
    double report_heap;
    uint64_t merged_strings, merged_string_bytes;
    char err[256];
} census;

typedef struct job {
    uint32_t n;
    char dir[512], out[512];
    uint64_t input_bytes, merged_bytes;
    measure merge, report_dir, report_merged;
    census c;
} job;

static char tmp_root[256];
static job jobs[MAX_SIZES];
static int n_jobs;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double mib(double bytes)
{
    return bytes / (1024.0 * 1024.0);
}

static void rank_path(char *buf, size_t len, const char *dir, uint32_t r)
{
    snprintf(buf, len, "%s/rank-%05u.fmtrace", dir, r);
}

/* Removes everything the benchmark created (also on exit after a failure). */
static void cleanup(void)
{
    if (!tmp_root[0])
        return;
    char p[1024];
    for (int i = 0; i < n_jobs; i++) {
        job *j = &jobs[i];
        if (!j->dir[0])
            continue;
        unlink(j->out);
        for (uint32_t r = 0; r < j->n; r++) {
            rank_path(p, sizeof p, j->dir, r);
            unlink(p);
        }
        rmdir(j->dir);
    }
    snprintf(p, sizeof p, "%s/child.err", tmp_root);
    unlink(p);
    if (rmdir(tmp_root) != 0)
        fprintf(stderr, "bench_merge: could not remove %s: %s\n", tmp_root, strerror(errno));
    tmp_root[0] = 0;
}

__attribute__((format(printf, 1, 2))) static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench_merge: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1); /* atexit: cleanup */
}

static uint64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* ---- options ------------------------------------------------------------------------------ */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static unsigned long number(const char *name, const char *v, unsigned long lo, unsigned long hi)
{
    char *end;
    errno = 0;
    unsigned long x = strtoul(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        fprintf(stderr, "bench_merge: %s: expected a number from %lu to %lu, got '%s'\n", name,
                lo, hi, v);
        exit(2);
    }
    return x;
}

static void parse_sizes(options *o, const char *list)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", list);
    o->n_sizes = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (o->n_sizes == MAX_SIZES) {
            fprintf(stderr, "bench_merge: --ranks: at most %d sizes\n", MAX_SIZES);
            exit(2);
        }
        o->sizes[o->n_sizes++] = (uint32_t)number("--ranks", t, 1, 100000);
    }
    if (!o->n_sizes) {
        fprintf(stderr, "bench_merge: --ranks: no sizes\n");
        exit(2);
    }
    qsort(o->sizes, (size_t)o->n_sizes, sizeof o->sizes[0], cmp_u32);
    int k = 0; /* drop duplicates */
    for (int i = 0; i < o->n_sizes; i++)
        if (!k || o->sizes[i] != o->sizes[k - 1])
            o->sizes[k++] = o->sizes[i];
    o->n_sizes = k;
}

static void parse(int argc, char **argv, options *o)
{
    memset(o, 0, sizeof *o);
    parse_sizes(o, "1,16,256,1024");
    o->steps = 20;
    o->signatures = 200;
    o->launches_per_step = 300;
    o->seed = 1;
    o->repeat = 3;
    o->census = 1;
    o->flopmeter = FM_BENCH_FLOPMETER;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            exit(0);
        } else if (strcmp(a, "--subsets") == 0) {
            o->subsets = 1;
        } else if (strcmp(a, "--shared-signatures") == 0) {
            o->shared = 1;
        } else if (strcmp(a, "--no-census") == 0) {
            o->census = 0;
        } else if (!v) {
            fprintf(stderr, "bench_merge: unknown option or missing value '%s'\n%s", a, usage);
            exit(2);
        } else if (strcmp(a, "--ranks") == 0) {
            parse_sizes(o, v), i++;
        } else if (strcmp(a, "--steps") == 0) {
            o->steps = (uint32_t)number(a, v, 1, 1000000), i++;
        } else if (strcmp(a, "--signatures") == 0) {
            o->signatures = (uint32_t)number(a, v, 1, 1000000), i++;
        } else if (strcmp(a, "--launches-per-step") == 0) {
            o->launches_per_step = (uint32_t)number(a, v, 1, 100000000), i++;
        } else if (strcmp(a, "--seed") == 0) {
            o->seed = number(a, v, 0, (unsigned long)-1), i++;
        } else if (strcmp(a, "--repeat") == 0) {
            o->repeat = (unsigned)number(a, v, 1, 1000), i++;
        } else if (strcmp(a, "--flopmeter") == 0) {
            o->flopmeter = v, i++;
        } else {
            fprintf(stderr, "bench_merge: unknown option '%s'\n%s", a, usage);
            exit(2);
        }
    }
}

/* ---- synthesis ---------------------------------------------------------------------------- */

/* The seed that makes rank `rank` draw the kernel pool, and the launches, of rank 0 of `seed`:
 * synth.c seeds its generator with seed * 0x100000001b3 + rank (mod 2^64), and the multiplier
 * is odd, so it has an inverse. The run id is set explicitly, so the ranks still form one run.
 * The census checks that the signatures really are shared. */
static uint64_t shared_seed(uint64_t seed, uint32_t rank)
{
    const uint64_t k = 0x100000001b3ull;
    uint64_t inv = k; /* Newton's iteration: each step doubles the correct low bits */
    for (int i = 0; i < 6; i++)
        inv *= 2 - k * inv;
    return seed - (uint64_t)rank * inv;
}

/* Writes ranks [0, n) of a job of world size `world` into dir. */
static void synth_ranks(const options *o, const char *dir, uint32_t n, uint32_t world,
                        fm_synth_summary *rank0)
{
    int tty = isatty(STDERR_FILENO);
    for (uint32_t r = 0; r < n; r++) {
        fm_synth_params p;
        fm_synth_params_init(&p);
        char run_id[64];
        snprintf(run_id, sizeof run_id, "synth-%llu", (unsigned long long)o->seed);
        p.seed = o->shared ? shared_seed(o->seed, r) : o->seed;
        p.run_id = run_id; /* the synthesizer's own default for o->seed */
        p.rank = r;
        p.world_size = world;
        p.steps = o->steps;
        p.signatures = o->signatures;
        p.launches_per_step = o->launches_per_step;
        char path[1024], err[512];
        rank_path(path, sizeof path, dir, r);
        fm_synth_summary s;
        if (fm_synth_write(path, &p, &s, err, sizeof err) != 0)
            die("synthesis failed: %s", err);
        if (r == 0 && rank0)
            *rank0 = s;
        if (tty && (r % 16 == 15 || r + 1 == n)) {
            fprintf(stderr, "\rsynthesizing %u ranks of world size %u: %u", n, world, r + 1);
            if (r + 1 == n)
                fputc('\n', stderr);
        }
    }
}

/* ---- children ----------------------------------------------------------------------------- */

/* Runs argv[0] with stdout into a pipe (counted) and stderr into a file; returns its exit
 * status, or -1 when it could not be run. */
static int run_child(char *const argv[], measure *m)
{
    char errpath[512];
    snprintf(errpath, sizeof errpath, "%s/child.err", tmp_root);
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0)
        return -1;
    double t0 = now();
    pid_t pid = fork();
    if (pid < 0) {
        close(pfd[0]);
        close(pfd[1]);
        return -1;
    }
    if (pid == 0) {
        int efd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (efd < 0 || dup2(pfd[1], STDOUT_FILENO) < 0 || dup2(efd, STDERR_FILENO) < 0)
            _exit(126);
        execv(argv[0], argv);
        _exit(127);
    }
    close(pfd[1]);
    static char buf[1 << 16];
    uint64_t out = 0;
    for (;;) {
        ssize_t k = read(pfd[0], buf, sizeof buf);
        if (k > 0)
            out += (uint64_t)k;
        else if (k == 0 || errno != EINTR)
            break;
    }
    close(pfd[0]);
    int st = 0;
    struct rusage ru;
    while (wait4(pid, &st, 0, &ru) < 0)
        if (errno != EINTR)
            return -1;
    double wall = now() - t0;
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
    if (m->wall == 0 || wall < m->wall)
        m->wall = wall;
    if (m->cpu == 0 || cpu < m->cpu)
        m->cpu = cpu;
    if (ru.ru_maxrss > m->maxrss_kib)
        m->maxrss_kib = ru.ru_maxrss;
    m->out_bytes = out;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    fprintf(stderr, "bench_merge: %s %s failed (%s %d); its messages:\n", argv[0], argv[1],
            WIFEXITED(st) ? "exit status" : "signal",
            WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    FILE *f = fopen(errpath, "r");
    if (f) {
        size_t k;
        while ((k = fread(buf, 1, sizeof buf, f)) > 0)
            fwrite(buf, 1, k, stderr);
        fclose(f);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void run_or_die(char *const argv[], measure *m)
{
    if (run_child(argv, m) != 0)
        die("%s %s did not succeed", argv[0], argv[1]);
}

/* ---- census (in a forked child, so the benchmark's own RSS stays small) ------------------ */

#if HAVE_HEAP_STATS
static double heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return (double)mi.uordblks + (double)mi.hblkhd;
}

static double usable(const void *p)
{
    return p ? (double)malloc_usable_size((void *)p) : 0;
}
#endif

static void take_census(const job *j, census *c)
{
    memset(c, 0, sizeof *c);
    char err[1024] = "";
    /* the strings of the merged trace: what the merge's string table held at the end */
    fm_reader *rd = NULL;
    if (fm_reader_open_file(&rd, j->out, err, sizeof err) != FM_OK) {
        snprintf(c->err, sizeof c->err, "%s", err);
        return;
    }
    fm_record rec;
    int rc;
    while ((rc = fm_reader_next(rd, &rec)) == FM_OK)
        if (rec.kind == FM_REC_STRING) {
            c->merged_strings++;
            c->merged_string_bytes += rec.u.string.text.len;
        }
    fm_reader_close(rd);
    if (rc != FM_END) {
        snprintf(c->err, sizeof c->err, "reading the merged trace failed (%d)", rc);
        return;
    }

    rp_data data;
    if (rp_data_load_builtin(&data, err, sizeof err) != 0) {
        snprintf(c->err, sizeof c->err, "%s", err);
        return;
    }
#if HAVE_HEAP_STATS
    c->heap_stats = 1;
    double h0 = heap_in_use();
#endif
    rp_model m;
    if (rp_model_init(&m) != 0) {
        snprintf(c->err, sizeof c->err, "out of memory");
        return;
    }
    for (uint32_t r = 0; r < j->n; r++) {
        char path[1024];
        rank_path(path, sizeof path, j->dir, r);
        if (rp_read_trace(&m, path, NULL, err, sizeof err) != 0) {
            snprintf(c->err, sizeof c->err, "%s", err);
            return;
        }
    }
    c->traces = m.n_traces;
    c->sigs = m.n_sigs;
    c->sigphases = m.n_sigphases;
    c->callsites = m.n_callsites;
    c->phases = m.n_phases;
    c->groups = m.n_groups;
    for (uint32_t i = 0; i < m.n_sigs; i++)
        c->group_stats_used += m.sigs[i].n_groups;
#if HAVE_HEAP_STATS
    c->model_heap = heap_in_use() - h0;
    c->sig_array = usable(m.sigs);
    c->sigphase_array = usable(m.sigphases);
    for (uint32_t i = 0; i < m.n_sigs; i++) {
        c->sig_names += usable(m.sigs[i].name);
        c->group_stats += usable(m.sigs[i].groups);
    }
    c->trace_bytes = usable(m.traces);
    for (uint32_t i = 0; i < m.n_traces; i++) {
        const rp_trace *t = &m.traces[i];
        const char *s[] = {t->path, t->run_id, t->host, t->tool_version, t->command,
                           t->device_name, t->input_path};
        for (size_t k = 0; k < sizeof s / sizeof s[0]; k++)
            c->trace_bytes += usable(s[k]);
        c->trace_bytes += usable(t->declared);
        for (uint32_t d = 0; d < t->n_declared; d++)
            c->trace_bytes += usable(t->declared[d].key) + usable(t->declared[d].text);
    }
#endif
    rp_facts facts;
    rp_facts_init(&facts);
    rp_report r;
    if (rp_facts_from_model(&facts, &m, 0, err, sizeof err) != 0) {
        snprintf(c->err, sizeof c->err, "%s", err);
        return;
    }
#if HAVE_HEAP_STATS
    double h1 = heap_in_use();
#endif
    if (rp_report_compute(&r, &m, &facts, &data, NULL, err, sizeof err) != 0) {
        snprintf(c->err, sizeof c->err, "%s", err);
        return;
    }
#if HAVE_HEAP_STATS
    c->report_heap = heap_in_use() - h1;
#endif
    c->ok = 1; /* the child exits: no need to free */
}

static void census_in_child(job *j)
{
    int pfd[2];
    if (pipe(pfd) != 0)
        die("pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        close(pfd[0]);
        census c;
        take_census(j, &c);
        ssize_t w = write(pfd[1], &c, sizeof c);
        _exit(w == (ssize_t)sizeof c ? 0 : 1);
    }
    close(pfd[1]);
    size_t got = 0;
    char *p = (char *)&j->c;
    while (got < sizeof j->c) {
        ssize_t k = read(pfd[0], p + got, sizeof j->c - got);
        if (k > 0)
            got += (size_t)k;
        else if (k == 0 || errno != EINTR)
            break;
    }
    close(pfd[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (got != sizeof j->c) {
        memset(&j->c, 0, sizeof j->c);
        snprintf(j->c.err, sizeof j->c.err, "the census child failed");
    }
}

/* ---- output ------------------------------------------------------------------------------- */

static double ratio(long a, long b)
{
    return b > 0 ? (double)a / (double)b : 0;
}

static void flat_verdict(const char *what, const job *ref, long a, const job *big, long b)
{
    double grow = mib((double)(b - a) * 1024.0), rel = ratio(b, a);
    int pass = rel <= FLAT_RATIO && grow <= FLAT_MIB;
    printf("- %s: **%s**: %.1f MiB at %u ranks, %.1f MiB at %u ranks: %+.1f MiB, %.2fx, "
           "%.2f KiB per added rank\n",
           what, pass ? "PASS" : "MISS", mib((double)a * 1024.0), ref->n,
           mib((double)b * 1024.0), big->n, grow, rel,
           (double)(b - a) / (double)(big->n - ref->n));
}

static void print_results(const options *o, long floor_kib, long self_kib,
                          const fm_synth_summary *rank0)
{
    printf("job: %u ranks at most, seed %llu; each rank %u steps, %u signatures, %u "
           "launches/step: %llu launches, %llu records, %llu bytes (rank 0)\n",
           jobs[n_jobs - 1].n, (unsigned long long)o->seed, o->steps, o->signatures,
           o->launches_per_step, (unsigned long long)rank0->launches,
           (unsigned long long)rank0->records, (unsigned long long)rank0->file_bytes);
    printf("%s; %s; best of %u runs for times, largest of them for RSS\n",
           o->subsets ? "smaller jobs are the first ranks of the largest (--subsets)"
                      : "every job size synthesized as a complete job of its own world size",
           o->shared ? "all ranks launch the same kernels (--shared-signatures)"
                     : "each rank draws its own pool of kernel signatures",
           o->repeat);
    printf("floor: `flopmeter --version` peak RSS %.1f MiB; benchmark process peak RSS before "
           "the runs %.1f MiB\n\n",
           mib((double)floor_kib * 1024.0), mib((double)self_kib * 1024.0));

    const job *one = NULL;
    for (int i = 0; i < n_jobs; i++)
        if (jobs[i].n == 1)
            one = &jobs[i];
    printf("| ranks | input MB | merged MB | merge s | merge MB/s | merge peak RSS MiB | "
           "merge RSS / N=1 | report s | report peak RSS MiB | report RSS / N=1 |\n"
           "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < n_jobs; i++) {
        const job *j = &jobs[i];
        double in = (double)j->input_bytes / 1e6;
        printf("| %u | %.2f | %.2f | %.3f | %.1f | %.1f | ", j->n, in,
               (double)j->merged_bytes / 1e6, j->merge.wall, in / j->merge.wall,
               mib((double)j->merge.maxrss_kib * 1024.0));
        if (one)
            printf("%.2f", ratio(j->merge.maxrss_kib, one->merge.maxrss_kib));
        else
            printf("n/a");
        printf(" | %.3f | %.1f | ", j->report_dir.wall,
               mib((double)j->report_dir.maxrss_kib * 1024.0));
        if (one)
            printf("%.2f", ratio(j->report_dir.maxrss_kib, one->report_dir.maxrss_kib));
        else
            printf("n/a");
        printf(" |\n");
    }

    printf("\n| ranks | merge CPU s | report CPU s | report JSON MB | report of merged s | "
           "its CPU s | its peak RSS MiB | its RSS / N=1 | its JSON MB |\n"
           "|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < n_jobs; i++) {
        const job *j = &jobs[i];
        printf("| %u | %.3f | %.3f | %.2f | %.3f | %.3f | %.1f | ", j->n, j->merge.cpu,
               j->report_dir.cpu, (double)j->report_dir.out_bytes / 1e6, j->report_merged.wall,
               j->report_merged.cpu, mib((double)j->report_merged.maxrss_kib * 1024.0));
        if (one)
            printf("%.2f", ratio(j->report_merged.maxrss_kib, one->report_merged.maxrss_kib));
        else
            printf("n/a");
        printf(" | %.2f |\n", (double)j->report_merged.out_bytes / 1e6);
    }

    /* memory flat: the smallest multi-rank job against the largest */
    const job *ref = NULL, *big = &jobs[n_jobs - 1];
    for (int i = 0; i < n_jobs && !ref; i++)
        if (jobs[i].n > 1)
            ref = &jobs[i];
    if (!ref || ref == big) {
        printf("\nmemory flat: n/a (needs two job sizes above 1 rank)\n");
    } else {
        printf("\nmemory flat (peak RSS at %u ranks at most %.0fx and at most %.0f MiB above "
               "%u ranks):\n",
               big->n, FLAT_RATIO, FLAT_MIB, ref->n);
        flat_verdict("merge", ref, ref->merge.maxrss_kib, big, big->merge.maxrss_kib);
        flat_verdict("report of the rank traces", ref, ref->report_dir.maxrss_kib, big,
                     big->report_dir.maxrss_kib);
        flat_verdict("report of the merged trace", ref, ref->report_merged.maxrss_kib, big,
                     big->report_merged.maxrss_kib);
    }

    if (!o->census)
        return;
    printf("\nreport model, read in process (heap from mallinfo2, parts from "
           "malloc_usable_size; MiB):\n\n"
           "| ranks | traces | signatures | sig x phase rows | group stats in use | "
           "model heap | signature array | names | group stats | sig x phase array | "
           "traces | rest | report figures heap | merged strings (bytes) |\n"
           "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < n_jobs; i++) {
        const census *c = &jobs[i].c;
        if (!c->ok) {
            printf("| %u | census failed: %s |\n", jobs[i].n, c->err);
            continue;
        }
        printf("| %u | %u | %u | %u | %llu | ", jobs[i].n, c->traces, c->sigs, c->sigphases,
               (unsigned long long)c->group_stats_used);
        if (c->heap_stats) {
            double parts = c->sig_array + c->sig_names + c->group_stats + c->sigphase_array +
                           c->trace_bytes;
            printf("%.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | ",
                   mib(c->model_heap), mib(c->sig_array), mib(c->sig_names),
                   mib(c->group_stats), mib(c->sigphase_array), mib(c->trace_bytes),
                   mib(c->model_heap - parts), mib(c->report_heap));
        } else {
            printf("n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | ");
        }
        printf("%llu (%llu) |\n", (unsigned long long)c->merged_strings,
               (unsigned long long)c->merged_string_bytes);
    }
    const census *c = &big->c;
    if (o->shared && c->ok && jobs[0].c.ok && c->sigs != jobs[0].c.sigs)
        printf("\nWARNING: --shared-signatures did not give one pool of signatures (%u at %u "
               "ranks); has the synthesizer's seeding changed?\n",
               c->sigs, big->n);
    const census *rc = ref && ref != big ? &ref->c : NULL;
    if (rc && rc->ok && c->ok && c->heap_stats)
        printf("\nmodel heap from %u to %u ranks: %+.2f MiB, %.0f bytes per added rank, %.0f "
               "per added signature\n",
               ref->n, big->n, mib(c->model_heap - rc->model_heap),
               (c->model_heap - rc->model_heap) / (double)(big->n - ref->n),
               c->sigs > rc->sigs ? (c->model_heap - rc->model_heap) / (c->sigs - rc->sigs) : 0);
    if (!c->ok || !c->heap_stats || !c->sigs || !c->traces)
        return;
    printf("at %u ranks: %.0f bytes per trace (entry, strings, declarations)", big->n,
           c->trace_bytes / c->traces);
    if (rc && rc->ok && c->sigs > rc->sigs) /* where signatures grow, what each costs */
        printf("; per signature %.0f bytes of model heap (array %.0f, name %.0f, group stats "
               "%.0f for %.2f groups in use, sig x phase rows %.0f, the rest %.0f)",
               c->model_heap / c->sigs, c->sig_array / c->sigs, c->sig_names / c->sigs,
               c->group_stats / c->sigs, (double)c->group_stats_used / c->sigs,
               c->sigphase_array / c->sigs,
               (c->model_heap - c->sig_array - c->sig_names - c->group_stats -
                c->sigphase_array - c->trace_bytes) / c->sigs);
    printf("; sizeof rp_signature %zu, rp_group_stats %zu, rp_sigphase %zu, rp_trace %zu\n",
           sizeof(rp_signature), sizeof(rp_group_stats), sizeof(rp_sigphase), sizeof(rp_trace));
}

/* ---- main --------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    options o;
    parse(argc, argv, &o);
    if (access(o.flopmeter, X_OK) != 0)
        die("%s: not an executable (%s); build the flopmeter target or pass --flopmeter",
            o.flopmeter, strerror(errno));
    const char *tmp = getenv("TMPDIR");
    snprintf(tmp_root, sizeof tmp_root, "%s/flopmeter-bench-merge-XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(tmp_root)) {
        fprintf(stderr, "bench_merge: mkdtemp %s: %s\n", tmp_root, strerror(errno));
        return 1;
    }
    atexit(cleanup);

    /* the jobs' directories, then the traces */
    uint32_t max_n = o.sizes[o.n_sizes - 1];
    for (int i = 0; i < o.n_sizes; i++) {
        job *j = &jobs[n_jobs++];
        memset(j, 0, sizeof *j);
        j->n = o.sizes[i];
        snprintf(j->dir, sizeof j->dir, "%s/job-%u", tmp_root, j->n);
        snprintf(j->out, sizeof j->out, "%s/merged-%u.fmtrace", tmp_root, j->n);
        if (mkdir(j->dir, 0700) != 0)
            die("mkdir %s: %s", j->dir, strerror(errno));
    }
    fm_synth_summary rank0;
    memset(&rank0, 0, sizeof rank0);
    double t_synth = now();
    if (o.subsets) {
        job *big = &jobs[n_jobs - 1];
        synth_ranks(&o, big->dir, max_n, max_n, &rank0);
        for (int i = 0; i < n_jobs - 1; i++)
            for (uint32_t r = 0; r < jobs[i].n; r++) {
                char target[64], link[1024];
                snprintf(target, sizeof target, "../job-%u/rank-%05u.fmtrace", max_n, r);
                rank_path(link, sizeof link, jobs[i].dir, r);
                if (symlink(target, link) != 0)
                    die("symlink %s: %s", link, strerror(errno));
            }
    } else {
        for (int i = 0; i < n_jobs; i++)
            synth_ranks(&o, jobs[i].dir, jobs[i].n, jobs[i].n, i == n_jobs - 1 ? &rank0 : NULL);
    }
    t_synth = now() - t_synth;
    for (int i = 0; i < n_jobs; i++)
        for (uint32_t r = 0; r < jobs[i].n; r++) {
            char p[1024];
            rank_path(p, sizeof p, jobs[i].dir, r);
            jobs[i].input_bytes += file_size(p);
        }
    fprintf(stderr, "synthesis: %.1f s\n", t_synth);

    /* the floor, and what a forked child inherits */
    struct rusage self;
    getrusage(RUSAGE_SELF, &self);
    measure floor_m;
    memset(&floor_m, 0, sizeof floor_m);
    char *fm = (char *)o.flopmeter;
    char *version[] = {fm, "--version", NULL};
    run_or_die(version, &floor_m);

    for (int i = 0; i < n_jobs; i++) {
        job *j = &jobs[i];
        char *merge[] = {fm, "merge", j->out, j->dir, NULL};
        char *report_dir[] = {fm, "report", "--json", j->dir, NULL};
        char *report_merged[] = {fm, "report", "--json", j->out, NULL};
        for (unsigned k = 0; k < o.repeat; k++) {
            unlink(j->out);
            run_or_die(merge, &j->merge);
            j->merged_bytes = file_size(j->out);
            run_or_die(report_dir, &j->report_dir);
            run_or_die(report_merged, &j->report_merged);
        }
        fprintf(stderr, "%u ranks: merge %.2f s, report %.2f s, report of merged %.2f s\n",
                j->n, j->merge.wall, j->report_dir.wall, j->report_merged.wall);
        if (o.census)
            census_in_child(j);
        unlink(j->out);
    }
    print_results(&o, floor_m.maxrss_kib, self.ru_maxrss, &rank0);
    return 0; /* atexit: cleanup */
}
