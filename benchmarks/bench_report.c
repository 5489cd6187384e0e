/* bench_report.c - how fast `flopmeter report` turns traces into a report, on one core.
 *
 * Synthesizes a job's trace (by default 2,000 steps, 5,000 signatures, 2,000 launches per
 * step), then times, in the same run and on the same file:
 *   verify   reading and verifying the trace (the floor: every report does this),
 *   report   reading, verifying and aggregating it into the report model, computing every
 *            figure, and writing the JSON report (to /dev/null),
 * and prints MB/s of trace file and records/s for each, with the report/verify ratio.
 * Each measurement is the best of --repeat runs (default 3). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "flopmeter/synth.h"
#include "flopmeter/trace_verify.h"
#include "report.h"
#include "report_json.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double time_verify(const char *path, uint64_t *records)
{
    fm_verify_result res;
    double t = now();
    if (fm_verify_file(path, NULL, &res) != FM_OK) {
        fprintf(stderr, "verify failed: %s\n", res.message);
        exit(1);
    }
    *records = res.info.records;
    return now() - t;
}

static double time_report(const char *path)
{
    char err[1024];
    double t = now();
    rp_model m;
    rp_facts facts;
    rp_data data;
    rp_report r;
    FILE *null = fopen("/dev/null", "w");
    if (!null || rp_model_init(&m) != 0 || rp_data_load_builtin(&data, err, sizeof err) != 0 ||
        rp_read_trace(&m, path, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "report failed: %s\n", err);
        exit(1);
    }
    rp_facts_init(&facts);
    if (rp_facts_from_model(&facts, &m, 0, err, sizeof err) != 0 ||
        rp_report_compute(&r, &m, &facts, &data, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "report failed: %s\n", err);
        exit(1);
    }
    rp_render_json(&r, null);
    fclose(null);
    double dt = now() - t;
    rp_report_free(&r);
    rp_model_free(&m);
    rp_data_free(&data);
    return dt;
}

static unsigned long arg(int argc, char **argv, const char *name, unsigned long def)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return strtoul(argv[i + 1], NULL, 10);
    return def;
}

int main(int argc, char **argv)
{
    fm_synth_params p;
    fm_synth_params_init(&p);
    p.steps = (uint32_t)arg(argc, argv, "--steps", 2000);
    p.signatures = (uint32_t)arg(argc, argv, "--signatures", 5000);
    p.launches_per_step = (uint32_t)arg(argc, argv, "--launches-per-step", 2000);
    unsigned repeat = (unsigned)arg(argc, argv, "--repeat", 3);
    char dir[] = "/tmp/flopmeter-bench-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char path[sizeof dir + 32];
    snprintf(path, sizeof path, "%s/job.fmtrace", dir);
    fm_synth_summary s;
    char err[512];
    if (fm_synth_write(path, &p, &s, err, sizeof err) != FM_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    double best_v = 1e30, best_r = 1e30;
    uint64_t records = 0;
    for (unsigned i = 0; i < repeat; i++) {
        double v = time_verify(path, &records), r = time_report(path);
        best_v = v < best_v ? v : best_v;
        best_r = r < best_r ? r : best_r;
    }
    unlink(path);
    rmdir(dir);
    double mb = (double)s.file_bytes / 1e6;
    printf("job: %u steps, %u signatures, %u launches/step: %llu launches, %llu records, "
           "%.1f MB trace\n",
           p.steps, p.signatures, p.launches_per_step, (unsigned long long)s.launches,
           (unsigned long long)records, mb);
    printf("| stage | seconds | MB/s of trace | records/s |\n|---|---:|---:|---:|\n");
    printf("| verify | %.3f | %.1f | %.0f |\n", best_v, mb / best_v, (double)records / best_v);
    printf("| report (read, verify, aggregate, compute, JSON) | %.3f | %.1f | %.0f |\n", best_r,
           mb / best_r, (double)records / best_r);
    printf("report / verify time: %.2f\n", best_r / best_v);
    return 0;
}
