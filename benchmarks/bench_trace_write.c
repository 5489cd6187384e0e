/* bench_trace_write.c - measures the trace writer on a synthesized training job and compares
 * the trace's size with the Chrome-trace JSON that PyTorch's profiler (Kineto) would write for
 * the same kernel launches, in the same run.
 *
 * The synthesizer (synth/synth.c) simulates the job launch by launch and writes its trace
 * through the writer; it times every writer call (fm_synth_summary.writer_ns). For every
 * simulated launch, the on_launch callback below formats the four Chrome-trace events Kineto
 * writes for one kernel launched with cudaLaunchKernel:
 *   - the "cuda_runtime" complete event of the cudaLaunchKernel call (host thread),
 *   - the "ac2g" flow start on that call,
 *   - the "kernel" complete event on the GPU stream, with Kineto's kernel arguments,
 *   - the "ac2g" flow end bound to the kernel ("bp": "e"),
 * laid out the way Kineto's ChromeTraceLogger prints them (whitespace included), counts their
 * bytes, and optionally compresses the JSON stream with zlib (gzip format) to count that too.
 * The baseline leaves out everything else a real profile holds (CPU operator events, Python
 * stacks, memory events): it is the smallest JSON that lists the same launches.
 *
 * Defaults are the acceptance job: 10,000 steps, 5,000 signatures, 2,000 launches per step
 * (see usage below). Exit status 0 when the run completed, whatever the numbers; 1 on errors;
 * 2 on bad arguments. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "flopmeter/synth.h"
#include "flopmeter/trace_format.h"
#include "flopmeter/trace_records.h"
#include "flopmeter/trace_status.h"
#include "flopmeter/version.h"

#ifndef FM_BENCH_BUILD_TYPE
#define FM_BENCH_BUILD_TYPE "unknown"
#endif

/* Targets from the acceptance text. */
#define TARGET_RATIO 100.0           /* trace at least 100x smaller than the JSON */
#define TARGET_LAUNCH_RATE 100000.0  /* the writer keeps up with 100,000 launches/s */

/* The simulated GPU: an H100 SXM, as the synthesizer's DEVICE record says. */
#define GPU_SMS 132
#define GPU_MAX_WARPS_PER_SM 64
#define GPU_REGS_PER_SM 65536
#define GPU_SMEM_PER_SM (228 * 1024)
#define GPU_MAX_BLOCKS_PER_SM 32

/* Host side of the simulated process: the synthesizer's RUN_META says pid 4000 for rank 0;
 * the launching thread is the main thread (tid = pid). Short values keep the baseline small. */
#define HOST_PID 4000
#define HOST_TID 4000
#define CBID_CUDA_LAUNCH_KERNEL 211  /* CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernel_v7000 */

static const char usage[] =
    "usage: bench_trace_write [options]\n"
    "\n"
    "Synthesizes a training job through the trace writer and reports the writer's throughput\n"
    "and the trace's size per kernel launch, against the Chrome-trace JSON (PyTorch profiler /\n"
    "Kineto layout: cudaLaunchKernel runtime event, kernel event, ac2g flow start and end) of\n"
    "the same launches, plain and gzip-compressed. The trace goes to a temporary directory\n"
    "under $TMPDIR (or /tmp) that is removed afterwards.\n"
    "\n"
    "  --steps N               training steps (default 10000)\n"
    "  --signatures N          distinct kernel signatures (default 5000)\n"
    "  --launches-per-step N   launches per step before recomputation (default 2000)\n"
    "  --step-seconds S        simulated time per step (default 0.45)\n"
    "  --seed N                synthesizer seed (default 1)\n"
    "  --gzip-level L          zlib level for the gzip-JSON baseline, 1..9 (default 6)\n"
    "  --no-gzip               skip the gzip-JSON baseline\n"
    "  --no-json               skip the JSON baseline entirely (writer timing alone)\n"
    "  --breakdown             also show where the trace's bytes go, by record kind\n"
    "  --json FILE             also write the results as JSON to FILE\n"
    "  --chrome-trace FILE     also write the Chrome-trace JSON baseline to FILE (to inspect\n"
    "                          it or load it in Perfetto; use a small job)\n"
    "  --help                  this text\n"
    "\n"
    "The defaults are the acceptance job: 10,000 steps, 5,000 signatures and 2,000 launches\n"
    "per step (about 2,600 with the forward kernels that activation recomputation repeats).\n";

/* ---- clocks -------------------------------------------------------------------------------- */

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t mono_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

/* The 1-minute load average: other work on the machine inflates wall-clock timings. */
static double loadavg1(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

/* ---- the Chrome-trace JSON baseline -------------------------------------------------------- */

/* What Kineto reports per kernel beyond the launch itself, derived once per signature. */
typedef struct sig_info {
    char *name;             /* JSON-escaped kernel name */
    uint32_t registers;     /* registers per thread */
    uint32_t shared_mem;    /* static + dynamic shared memory bytes */
    float blocks_per_sm, warps_per_sm;
    int occupancy_pct;      /* est. achieved occupancy % */
} sig_info;

#define JBUF_CAP (1u << 20)       /* JSON text is staged here, then counted and compressed */
#define JBUF_EVENT_MAX 8192       /* room one launch's four events need, name included */
#define ZOUT_CAP (1u << 18)

typedef struct json_ctx {
    int gzip;
    uint64_t base_ns;       /* Kineto writes times relative to its base time */
    uint64_t launches;
    uint64_t correlation;   /* CUPTI correlation id of the next launch */
    uint64_t json_bytes;
    uint64_t gzip_bytes;
    uint64_t callback_ns, gzip_ns;
    sig_info *sigs;
    size_t n_sigs;
    char *buf;
    size_t len;
    z_stream z;
    unsigned char *zout;
    FILE *copy;             /* --chrome-trace: the JSON also goes here */
    int failed;
    char err[160];
} json_ctx;

static uint64_t hash64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static void json_fail(json_ctx *j, const char *fmt, ...)
{
    if (j->failed)
        return;
    j->failed = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->err, sizeof j->err, fmt, ap);
    va_end(ap);
}

/* Counts and compresses the staged text. */
static void json_drain(json_ctx *j, int finish)
{
    j->json_bytes += j->len;
    if (j->copy && fwrite(j->buf, 1, j->len, j->copy) != j->len)
        json_fail(j, "writing the Chrome trace copy failed");
    if (j->gzip) {
        uint64_t t = mono_ns();
        j->z.next_in = (unsigned char *)j->buf;
        j->z.avail_in = (uInt)j->len;
        int zr;
        do {
            j->z.next_out = j->zout;
            j->z.avail_out = ZOUT_CAP;
            zr = deflate(&j->z, finish ? Z_FINISH : Z_NO_FLUSH);
            if (zr == Z_STREAM_ERROR) {
                json_fail(j, "deflate failed");
                break;
            }
            j->gzip_bytes += ZOUT_CAP - j->z.avail_out;
        } while (j->z.avail_out == 0 || (finish && zr != Z_STREAM_END));
        j->gzip_ns += mono_ns() - t;
    }
    j->len = 0;
}

static void json_put(json_ctx *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void json_put(json_ctx *j, const char *fmt, ...)
{
    if (JBUF_CAP - j->len < JBUF_EVENT_MAX)
        json_drain(j, 0);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(j->buf + j->len, JBUF_CAP - j->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= JBUF_CAP - j->len) {
        json_fail(j, "JSON event does not fit the staging buffer");
        return;
    }
    j->len += (size_t)n;
}

/* JSON string escaping (Kineto only rewrites backslashes and drops newlines; this is stricter
 * and gives the same bytes for kernel names, which have neither). */
static char *json_escape(const char *s)
{
    size_t n = strlen(s);
    char *o = malloc(n * 6 + 1);
    if (!o)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            o[k++] = '\\';
            o[k++] = (char)ch;
        } else if (ch < 0x20) {
            k += (size_t)sprintf(o + k, "\\u%04x", ch);
        } else {
            o[k++] = (char)ch;
        }
    }
    o[k] = 0;
    return o;
}

/* Kineto's per-kernel figures: registers and shared memory come from CUPTI's kernel record;
 * blocks and warps per SM from the grid; the occupancy from the CUDA occupancy calculator.
 * The synthesizer does not model registers or static shared memory, so they are drawn per
 * signature from its id; the occupancy follows from them the way the calculator would. */
static sig_info *sig_lookup(json_ctx *j, const fm_synth_launch *l)
{
    if (l->signature == 0 || l->signature > j->n_sigs) {
        json_fail(j, "signature id %" PRIu64 " out of range", l->signature);
        return NULL;
    }
    sig_info *s = &j->sigs[l->signature - 1];
    if (s->name)
        return s;
    s->name = json_escape(l->name);
    if (!s->name) {
        json_fail(j, "out of memory");
        return NULL;
    }
    uint64_t h = hash64(l->signature);
    static const uint32_t regs[] = {16, 20, 24, 28, 32, 38, 40, 48, 56, 64, 72, 80, 96, 128,
                                    154, 168, 255};
    s->registers = regs[h % (sizeof regs / sizeof regs[0])];
    s->shared_mem = (h >> 8) % 3 == 0 ? 0 : (uint32_t)(((h >> 16) % 224) + 1) * 1024;
    uint64_t blocks = (uint64_t)l->grid[0] * l->grid[1] * l->grid[2];
    uint64_t threads = (uint64_t)l->block[0] * l->block[1] * l->block[2];
    uint64_t warps_per_block = (threads + 31) / 32;
    s->blocks_per_sm = (float)blocks / GPU_SMS;
    s->warps_per_sm = s->blocks_per_sm * (float)warps_per_block;
    /* resident blocks per SM, limited by warps, registers and shared memory */
    uint64_t limit = GPU_MAX_BLOCKS_PER_SM;
    if (warps_per_block) {
        uint64_t by_warps = GPU_MAX_WARPS_PER_SM / warps_per_block;
        uint64_t by_regs = GPU_REGS_PER_SM / ((uint64_t)s->registers * 32 * warps_per_block);
        limit = by_warps < limit ? by_warps : limit;
        limit = by_regs < limit ? by_regs : limit;
    }
    if (s->shared_mem) {
        uint64_t by_smem = GPU_SMEM_PER_SM / s->shared_mem;
        limit = by_smem < limit ? by_smem : limit;
    }
    double resident = fmin((double)limit, (double)s->blocks_per_sm);
    double occ = resident * (double)warps_per_block / GPU_MAX_WARPS_PER_SM;
    s->occupancy_pct = (int)(0.5 + fmin(occ, 1.0) * 100.0);
    return s;
}

/* Times as Kineto prints them: microseconds with three decimals (nanosecond digits). */
#define US_FMT "%" PRIu64 ".%03u"
#define US_ARG(ns) (ns) / 1000, (unsigned)((ns) % 1000)

static void on_launch(void *ctx, const fm_synth_launch *l)
{
    json_ctx *j = ctx;
    if (j->failed)
        return;
    uint64_t t0 = mono_ns();
    const sig_info *s = sig_lookup(j, l);
    if (!s)
        return;
    uint64_t corr = j->correlation++;
    uint64_t ext = corr / 2 + 1; /* an operator launches about two kernels */
    uint64_t h = hash64(corr);
    /* The host called cudaLaunchKernel some tens of microseconds before the kernel started
     * (the CPU runs ahead of the GPU); the call itself takes a few microseconds. */
    uint64_t rt_dur = 2500 + h % 4000;
    uint64_t lead = 8000 + (h >> 16) % 60000;
    uint64_t k_ts = l->start_ns - j->base_ns;
    uint64_t rt_ts = k_ts > lead + rt_dur ? k_ts - lead - rt_dur : 0;

    /* cudaLaunchKernel on the host thread */
    json_put(j,
             "\n  {\n    \"ph\": \"X\", \"cat\": \"cuda_runtime\", \"name\": \"cudaLaunchKernel\","
             " \"pid\": %d, \"tid\": %d,\n    \"ts\": " US_FMT ", \"dur\": " US_FMT ",\n"
             "    \"args\": {\n      \"External id\": %" PRIu64 ",\n"
             "      \"cbid\": %d, \"correlation\": %" PRIu64 "\n    }\n  },",
             HOST_PID, HOST_TID, US_ARG(rt_ts), US_ARG(rt_dur), ext, CBID_CUDA_LAUNCH_KERNEL,
             corr);
    /* flow start, bound to the runtime call */
    json_put(j,
             "\n  {\n    \"ph\": \"s\", \"id\": %" PRIu64 ", \"pid\": %d, \"tid\": %d, \"ts\": " US_FMT
             ",\n    \"cat\": \"ac2g\", \"name\": \"ac2g\"\n  },",
             corr, HOST_PID, HOST_TID, US_ARG(rt_ts));
    /* the kernel on its stream: pid is the device, tid the stream */
    json_put(j,
             "\n  {\n    \"ph\": \"X\", \"cat\": \"kernel\", \"name\": \"%s\", \"pid\": %d,"
             " \"tid\": %u,\n    \"ts\": " US_FMT ", \"dur\": " US_FMT ",\n"
             "    \"args\": {\n      \"External id\": %" PRIu64 ",\n"
             "      \"queued\": 0, \"device\": %d, \"context\": 1,\n"
             "      \"stream\": %u, \"correlation\": %" PRIu64 ",\n"
             "      \"registers per thread\": %u,\n"
             "      \"shared memory\": %u,\n"
             "      \"blocks per SM\": %f,\n"
             "      \"warps per SM\": %f,\n"
             "      \"grid\": [%u, %u, %u],\n"
             "      \"block\": [%u, %u, %u],\n"
             "      \"est. achieved occupancy %%\": %d\n    }\n  },",
             s->name, 0, l->stream, US_ARG(k_ts), US_ARG(l->duration_ns), ext, 0, l->stream,
             corr, s->registers, s->shared_mem, (double)s->blocks_per_sm,
             (double)s->warps_per_sm, l->grid[0], l->grid[1], l->grid[2], l->block[0],
             l->block[1], l->block[2], s->occupancy_pct);
    /* flow end, bound to the enclosing kernel slice */
    json_put(j,
             "\n  {\n    \"ph\": \"f\", \"id\": %" PRIu64 ", \"pid\": %d, \"tid\": %u, \"ts\": " US_FMT
             ",\n    \"cat\": \"ac2g\", \"name\": \"ac2g\", \"bp\": \"e\"\n  },",
             corr, 0, l->stream, US_ARG(k_ts));
    j->launches++;
    j->callback_ns += mono_ns() - t0;
}

/* The document around the events: Kineto's header (schema, device properties, base time),
 * the process and thread names of the GPU and its streams, and the closing marker. */
static void json_header(json_ctx *j)
{
    json_put(j,
             "\n  {\n    \"schemaVersion\": 1,\n    \"deviceProperties\": [\n"
             "      {\n      \"id\": 0, \"name\": \"NVIDIA H100 80GB HBM3\", "
             "\"totalGlobalMem\": 85520809984,\n      \"computeMajor\": 9, \"computeMinor\": 0,\n"
             "      \"maxThreadsPerBlock\": 1024, \"maxThreadsPerMultiprocessor\": 2048,\n"
             "      \"regsPerBlock\": 65536, \"warpSize\": 32,\n"
             "      \"sharedMemPerBlock\": 49152, \"numSms\": %d,\n"
             "      \"regsPerMultiprocessor\": 65536, \"sharedMemPerBlockOptin\": 232448,\n"
             "      \"sharedMemPerMultiprocessor\": 233472\n    }\n    ],\n"
             "  \"displayTimeUnit\": \"ms\",\n  \"baseTimeNanoseconds\": %" PRIu64 ",\n"
             "  \"traceEvents\": [",
             GPU_SMS, j->base_ns);
    json_put(j,
             "\n  {\n    \"name\": \"process_name\", \"ph\": \"M\", \"ts\": 0.000, \"pid\": 0,"
             " \"tid\": 0,\n    \"args\": {\n      \"name\": \"GPU 0\"\n    }\n  },"
             "\n  {\n    \"name\": \"process_name\", \"ph\": \"M\", \"ts\": 0.000, \"pid\": %d,"
             " \"tid\": 0,\n    \"args\": {\n      \"name\": \"python\"\n    }\n  },",
             HOST_PID);
    for (unsigned stream = 7; stream <= 9; stream++)
        json_put(j,
                 "\n  {\n    \"name\": \"thread_name\", \"ph\": \"M\", \"ts\": 0.000, \"pid\": 0,"
                 " \"tid\": %u,\n    \"args\": {\n      \"name\": \"stream %u\"\n    }\n  },",
                 stream, stream);
}

static void json_footer(json_ctx *j, uint64_t end_ns)
{
    uint64_t t = end_ns - j->base_ns;
    json_put(j,
             "\n  {\n    \"name\": \"Record Window End\", \"ph\": \"i\", \"s\": \"g\",\n"
             "    \"pid\": \"\", \"tid\": \"\", \"ts\": " US_FMT "\n  }\n  ],"
             "\n  \"traceName\": \"rank0.pt.trace.json\"\n}",
             US_ARG(t));
}

static int json_open(json_ctx *j, uint32_t signatures, int gzip, int level, uint64_t base_ns,
                     const char *copy_path)
{
    memset(j, 0, sizeof *j);
    if (copy_path && !(j->copy = fopen(copy_path, "w"))) {
        fprintf(stderr, "bench_trace_write: %s: %s\n", copy_path, strerror(errno));
        return -1;
    }
    j->gzip = gzip;
    j->base_ns = base_ns;
    j->correlation = 1;
    j->n_sigs = signatures;
    j->sigs = calloc(signatures, sizeof *j->sigs);
    j->buf = malloc(JBUF_CAP);
    j->zout = malloc(ZOUT_CAP);
    if (!j->sigs || !j->buf || !j->zout)
        return -1;
    if (gzip && deflateInit2(&j->z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    json_header(j);
    return 0;
}

static int json_close(json_ctx *j)
{
    int rc = 0;
    if (j->copy && fclose(j->copy) != 0)
        rc = -1;
    j->copy = NULL;
    if (j->gzip)
        deflateEnd(&j->z);
    for (size_t i = 0; i < j->n_sigs; i++)
        free(j->sigs[i].name);
    free(j->sigs);
    free(j->buf);
    free(j->zout);
    return rc;
}

/* ---- where the trace's bytes go ------------------------------------------------------------ */

/* Walks the finished trace chunk by chunk (layout in docs/trace-format.md): the exact raw
 * (decompressed) size of all chunks, and with breakdown, per record kind the records, their
 * encoded bytes (kind and length prefix included), and the bytes the kind's records take when
 * they are deflated on their own (zlib level 6, the writer's default), which estimates the
 * kind's share of the compressed file. The chunk and file headers are counted apart. */
typedef struct kind_stats {
    uint64_t records, raw_bytes, deflated_bytes;
    z_stream z;
    int z_open;
} kind_stats;

typedef struct trace_scan {
    uint64_t chunks, raw_bytes, payload_bytes, header_bytes;
    int breakdown;
    kind_stats kinds[FM_REC_KIND_MAX + 1];
} trace_scan;

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int varint(const unsigned char *p, size_t n, size_t *pos, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 70 && *pos < n; shift += 7) {
        unsigned char b = p[(*pos)++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

static int kind_deflate(kind_stats *k, const unsigned char *data, size_t len, int finish,
                        unsigned char *out, size_t out_cap)
{
    if (!k->z_open) {
        if (deflateInit(&k->z, 6) != Z_OK)
            return -1;
        k->z_open = 1;
    }
    k->z.next_in = (unsigned char *)data;
    k->z.avail_in = (uInt)len;
    int zr;
    do {
        k->z.next_out = out;
        k->z.avail_out = (uInt)out_cap;
        zr = deflate(&k->z, finish ? Z_FINISH : Z_NO_FLUSH);
        if (zr == Z_STREAM_ERROR)
            return -1;
        k->deflated_bytes += out_cap - k->z.avail_out;
    } while (k->z.avail_out == 0 || (finish && zr != Z_STREAM_END));
    return 0;
}

static int scan_trace(const char *path, trace_scan *sc)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    int rc = -1;
    unsigned char hdr[FM_CHUNK_HEADER_SIZE];
    unsigned char *comp = NULL, *raw = NULL, *zout = NULL;
    if (sc->breakdown) {
        comp = malloc(compressBound(FM_MAX_CHUNK_RAW));
        raw = malloc(FM_MAX_CHUNK_RAW);
        zout = malloc(ZOUT_CAP);
        if (!comp || !raw || !zout)
            goto out;
    }
    if (fread(hdr, 1, FM_FILE_HEADER_SIZE, f) != FM_FILE_HEADER_SIZE)
        goto out;
    sc->header_bytes = FM_FILE_HEADER_SIZE;
    for (;;) {
        size_t got = fread(hdr, 1, FM_CHUNK_HEADER_SIZE, f);
        if (got == 0)
            break;
        if (got != FM_CHUNK_HEADER_SIZE || le32(hdr + FM_CH_OFF_MAGIC) != FM_CHUNK_MAGIC)
            goto out;
        uint32_t raw_len = le32(hdr + FM_CH_OFF_RAW_LEN), comp_len = le32(hdr + FM_CH_OFF_COMP_LEN);
        if (raw_len > FM_MAX_CHUNK_RAW || comp_len > compressBound(FM_MAX_CHUNK_RAW))
            goto out;
        sc->chunks++;
        sc->raw_bytes += raw_len;
        sc->payload_bytes += comp_len;
        sc->header_bytes += FM_CHUNK_HEADER_SIZE;
        if (!sc->breakdown) {
            if (fseek(f, comp_len, SEEK_CUR) != 0)
                goto out;
            continue;
        }
        uLongf n = raw_len;
        if (fread(comp, 1, comp_len, f) != comp_len ||
            uncompress(raw, &n, comp, comp_len) != Z_OK || n != raw_len)
            goto out;
        size_t pos = 0;
        while (pos < n) {
            size_t start = pos;
            uint64_t kind, len;
            if (varint(raw, n, &pos, &kind) || varint(raw, n, &pos, &len) || len > n - pos)
                goto out;
            pos += (size_t)len;
            kind_stats *k = &sc->kinds[kind <= FM_REC_KIND_MAX ? kind : 0];
            k->records++;
            k->raw_bytes += pos - start;
            if (kind_deflate(k, raw + start, pos - start, 0, zout, ZOUT_CAP))
                goto out;
        }
    }
    if (sc->breakdown)
        for (int i = 0; i <= FM_REC_KIND_MAX; i++)
            if (sc->kinds[i].z_open && kind_deflate(&sc->kinds[i], NULL, 0, 1, zout, ZOUT_CAP))
                goto out;
    rc = 0;
out:
    for (int i = 0; i <= FM_REC_KIND_MAX; i++)
        if (sc->kinds[i].z_open) {
            deflateEnd(&sc->kinds[i].z);
            sc->kinds[i].z_open = 0;
        }
    free(comp);
    free(raw);
    free(zout);
    fclose(f);
    return rc;
}

/* ---- machine description ------------------------------------------------------------------- */

typedef struct machine {
    long cpus;
    char cpu_model[256];
    char kernel[256];
    char trace_fs[32];
    char compiler[80];
} machine;

static void cpuinfo_field(const char *line, const char *key, char *out, size_t len)
{
    size_t k = strlen(key);
    if (out[0] || strncmp(line, key, k) != 0)
        return;
    const char *colon = strchr(line + k, ':');
    if (!colon)
        return;
    const char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    snprintf(out, len, "%.*s", (int)strcspn(v, "\n"), v);
}

static void describe_machine(machine *m, const char *dir)
{
    memset(m, 0, sizeof *m);
    m->cpus = sysconf(_SC_NPROCESSORS_ONLN);
    char model[128] = "", family[16] = "", modelno[16] = "", line[512];
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        while (fgets(line, sizeof line, f)) {
            cpuinfo_field(line, "model name", model, sizeof model);
            cpuinfo_field(line, "cpu family", family, sizeof family);
            cpuinfo_field(line, "model\t", modelno, sizeof modelno);
        }
        fclose(f);
    }
    if (!model[0])
        snprintf(model, sizeof model, "unknown");
    if (family[0] && modelno[0])
        snprintf(m->cpu_model, sizeof m->cpu_model, "%s (family %s, model %s)", model, family,
                 modelno);
    else
        snprintf(m->cpu_model, sizeof m->cpu_model, "%s", model);
    struct utsname u;
    if (uname(&u) == 0)
        snprintf(m->kernel, sizeof m->kernel, "%s %s %s", u.sysname, u.release, u.machine);
    struct statfs sf;
    const char *fs = "unknown";
    if (statfs(dir, &sf) == 0) {
        switch ((unsigned long)sf.f_type) {
        case 0x01021994ul: fs = "tmpfs"; break;
        case 0xEF53ul: fs = "ext4"; break;
        case 0x58465342ul: fs = "xfs"; break;
        case 0x9123683Eul: fs = "btrfs"; break;
        case 0x794c7630ul: fs = "overlayfs"; break;
        case 0x6969ul: fs = "nfs"; break;
        case 0x2fc12fc1ul: fs = "zfs"; break;
        default: fs = "other"; break;
        }
    }
    snprintf(m->trace_fs, sizeof m->trace_fs, "%s", fs);
#if defined(__clang__)
    snprintf(m->compiler, sizeof m->compiler, "clang %d.%d.%d", __clang_major__,
             __clang_minor__, __clang_patchlevel__);
#elif defined(__GNUC__)
    snprintf(m->compiler, sizeof m->compiler, "gcc %s", __VERSION__);
#else
    snprintf(m->compiler, sizeof m->compiler, "unknown");
#endif
}

/* ---- options ------------------------------------------------------------------------------- */

typedef struct options {
    uint32_t steps, signatures, launches_per_step;
    double step_seconds;
    uint64_t seed;
    int gzip, gzip_level, json_baseline, breakdown;
    const char *json_out, *chrome_out;
} options;

static int parse_u64(const char *opt, const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = text ? strtoull(text, &end, 10) : 0;
    if (!text || !*text || *end || errno || text[0] == '-' || v < min || v > max) {
        fprintf(stderr, "bench_trace_write: %s: expected an integer from %" PRIu64 " to %" PRIu64
                        ", got '%s'\n",
                opt, min, max, text ? text : "");
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_options(int argc, char **argv, options *o)
{
    /* The acceptance job. 2,000 launches per step: the synthesizer's model has 24 layers of
     * hidden size 2048; in eager PyTorch a transformer layer launches about 25-30 kernels
     * forward (QKV, output and MLP GEMMs, flash attention, layer norms, GELU, residual adds,
     * dropout, casts) and about twice that backward, ~80 per layer and step, ~1,900 for 24
     * layers, plus embedding, loss, gradient clipping, the fused optimizer and the NCCL
     * all-reduce buckets. Recomputation repeats the forward kernels on top (~2,600 in all). */
    o->steps = 10000;
    o->signatures = 5000;
    o->launches_per_step = 2000;
    o->step_seconds = 0.45;
    o->seed = 1;
    o->gzip = 1;
    o->gzip_level = 6;
    o->json_baseline = 1;
    o->breakdown = 0;
    o->json_out = NULL;
    o->chrome_out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t x;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            exit(0);
        } else if (!strcmp(a, "--steps")) {
            if (parse_u64(a, v, 1, 100000000, &x))
                return -1;
            o->steps = (uint32_t)x;
            i++;
        } else if (!strcmp(a, "--signatures")) {
            if (parse_u64(a, v, 1, 10000000, &x))
                return -1;
            o->signatures = (uint32_t)x;
            i++;
        } else if (!strcmp(a, "--launches-per-step")) {
            if (parse_u64(a, v, 1, 10000000, &x))
                return -1;
            o->launches_per_step = (uint32_t)x;
            i++;
        } else if (!strcmp(a, "--seed")) {
            if (parse_u64(a, v, 0, UINT64_MAX, &o->seed))
                return -1;
            i++;
        } else if (!strcmp(a, "--gzip-level")) {
            if (parse_u64(a, v, 1, 9, &x))
                return -1;
            o->gzip_level = (int)x;
            i++;
        } else if (!strcmp(a, "--step-seconds")) {
            char *end;
            double d = v ? strtod(v, &end) : 0;
            if (!v || !*v || *end || !(d >= 1e-6 && d <= 1e6)) {
                fprintf(stderr, "bench_trace_write: --step-seconds: expected a number from "
                                "1e-6 to 1e6, got '%s'\n", v ? v : "");
                return -1;
            }
            o->step_seconds = d;
            i++;
        } else if (!strcmp(a, "--breakdown")) {
            o->breakdown = 1;
        } else if (!strcmp(a, "--no-gzip")) {
            o->gzip = 0;
        } else if (!strcmp(a, "--no-json")) {
            o->json_baseline = 0;
            o->gzip = 0;
        } else if (!strcmp(a, "--json") || !strcmp(a, "--chrome-trace")) {
            if (!v) {
                fprintf(stderr, "bench_trace_write: %s needs a file name\n", a);
                return -1;
            }
            if (!strcmp(a, "--json"))
                o->json_out = v;
            else
                o->chrome_out = v;
            i++;
        } else {
            fprintf(stderr, "bench_trace_write: unknown option '%s' (see --help)\n", a);
            return -1;
        }
    }
    return 0;
}

/* ---- report -------------------------------------------------------------------------------- */

typedef struct results {
    fm_synth_summary s;
    trace_scan scan;
    double synth_s, synth_cpu_s, writer_s, callback_s, gzip_s, load_before, load_after;
    uint64_t json_bytes, gzip_bytes;
    double bytes_per_launch, json_per_launch, gzip_per_launch, ratio, gzip_ratio;
    double records_per_s, raw_mb_per_s, file_mb_per_s, launches_per_s, share_100k;
    int ratio_pass, rate_pass;
} results;

static double div0(double a, double b)
{
    return b > 0 ? a / b : 0;
}

static void print_row(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void print_row(const char *name, const char *fmt, ...)
{
    char v[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v, sizeof v, fmt, ap);
    va_end(ap);
    printf("| %-44s | %28s |\n", name, v);
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static int write_json(const char *path, const options *o, const machine *m, const results *r,
                      const char *date)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "bench_trace_write: %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f, "{\n  \"benchmark\": \"bench_trace_write\",\n  \"flopmeter_version\": ");
    json_str(f, FLOPMETER_VERSION);
    fprintf(f, ",\n  \"date\": ");
    json_str(f, date);
    fprintf(f, ",\n  \"machine\": {\"cpus\": %ld, \"cpu_model\": ", m->cpus);
    json_str(f, m->cpu_model);
    fprintf(f, ", \"kernel\": ");
    json_str(f, m->kernel);
    fprintf(f, ", \"trace_filesystem\": ");
    json_str(f, m->trace_fs);
    fprintf(f, ", \"compiler\": ");
    json_str(f, m->compiler);
    fprintf(f, ", \"build_type\": ");
    json_str(f, FM_BENCH_BUILD_TYPE);
    fprintf(f, ", \"zlib\": ");
    json_str(f, zlibVersion());
    fprintf(f, "},\n");
    fprintf(f,
            "  \"job\": {\"steps\": %u, \"signatures\": %u, \"launches_per_step\": %u, "
            "\"step_seconds\": %.17g, \"seed\": %" PRIu64 ", \"simulated_seconds\": %.17g},\n",
            o->steps, o->signatures, o->launches_per_step, o->step_seconds, o->seed,
            r->s.simulated_seconds);
    fprintf(f,
            "  \"trace\": {\"launches\": %" PRIu64 ", \"records\": %" PRIu64 ", \"chunks\": %" PRIu64
            ", \"counter_samples\": %" PRIu64 ", \"file_bytes\": %" PRIu64 ", \"raw_bytes\": %" PRIu64
            ", \"bytes_per_launch\": %.17g",
            r->s.launches, r->s.records, r->s.chunks, r->s.counter_samples, r->s.file_bytes,
            r->scan.raw_bytes, r->bytes_per_launch);
    if (o->breakdown) {
        fprintf(f, ", \"headers_bytes\": %" PRIu64 ", \"by_kind\": [", r->scan.header_bytes);
        int first = 1;
        for (int k = 0; k <= FM_REC_KIND_MAX; k++) {
            const kind_stats *ks = &r->scan.kinds[k];
            if (!ks->records)
                continue;
            fprintf(f, "%s{\"kind\": ", first ? "" : ", ");
            json_str(f, k ? fm_record_kind_name((uint32_t)k) : "unknown");
            fprintf(f, ", \"records\": %" PRIu64 ", \"raw_bytes\": %" PRIu64
                       ", \"deflated_alone_bytes\": %" PRIu64 "}",
                    ks->records, ks->raw_bytes, ks->deflated_bytes);
            first = 0;
        }
        fprintf(f, "]");
    }
    fprintf(f, "},\n");
    if (o->json_baseline) {
        fprintf(f,
                "  \"chrome_json\": {\"bytes\": %" PRIu64 ", \"bytes_per_launch\": %.17g, "
                "\"ratio_to_trace\": %.17g, \"format_seconds\": %.17g",
                r->json_bytes, r->json_per_launch, r->ratio, r->callback_s - r->gzip_s);
        if (o->gzip)
            fprintf(f,
                    ", \"gzip_level\": %d, \"gzip_bytes\": %" PRIu64 ", \"gzip_bytes_per_launch\": "
                    "%.17g, \"gzip_ratio_to_trace\": %.17g, \"gzip_seconds\": %.17g",
                    o->gzip_level, r->gzip_bytes, r->gzip_per_launch, r->gzip_ratio, r->gzip_s);
        fprintf(f, "},\n");
    }
    fprintf(f,
            "  \"writer\": {\"seconds\": %.17g, \"records_per_second\": %.17g, "
            "\"raw_mb_per_second\": %.17g, \"file_mb_per_second\": %.17g, "
            "\"launches_per_second\": %.17g, \"share_of_100k_launch_per_second_job\": %.17g},\n",
            r->writer_s, r->records_per_s, r->raw_mb_per_s, r->file_mb_per_s, r->launches_per_s,
            r->share_100k);
    fprintf(f,
            "  \"synth_seconds\": %.17g,\n  \"synth_cpu_seconds\": %.17g,\n"
            "  \"load_average_1min\": {\"before\": %.2f, \"after\": %.2f},\n",
            r->synth_s, r->synth_cpu_s, r->load_before, r->load_after);
    fprintf(f, "  \"targets\": {\"ratio_min\": %g, \"ratio\": ", TARGET_RATIO);
    if (o->json_baseline)
        json_str(f, r->ratio_pass ? "PASS" : "MISS");
    else
        fputs("null", f);
    fprintf(f, ", \"writer_launches_per_second_min\": %g, \"writer_launch_rate\": ",
            TARGET_LAUNCH_RATE);
    json_str(f, r->rate_pass ? "PASS" : "MISS");
    fprintf(f, "}\n}\n");
    if (fclose(f) != 0) {
        fprintf(stderr, "bench_trace_write: %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- main ---------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    options o;
    if (parse_options(argc, argv, &o) != 0)
        return 2;

    const char *tmp = getenv("TMPDIR");
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/bench_trace_write.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        fprintf(stderr, "bench_trace_write: cannot create a temporary directory: %s\n",
                strerror(errno));
        return 1;
    }
    snprintf(path, sizeof path, "%s/bench.fmtrace", dir);

    machine m;
    describe_machine(&m, dir);
    char date[64];
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));

    fm_synth_params p;
    fm_synth_params_init(&p);
    p.seed = o.seed;
    p.steps = o.steps;
    p.signatures = o.signatures;
    p.launches_per_step = o.launches_per_step;
    p.step_seconds = o.step_seconds;
    /* the synthesizer's window without counters (steps 120-123): only when the job covers it */
    if (p.busy_from_step + p.busy_steps > p.steps)
        p.busy_steps = 0;

    json_ctx j;
    memset(&j, 0, sizeof j);
    /* Kineto's base time is taken when the profiler starts: here, a minute before step 0. */
    if (o.json_baseline) {
        if (json_open(&j, o.signatures, o.gzip, o.gzip_level,
                      p.start_unix_ns - 60ull * 1000000000ull, o.chrome_out) != 0) {
            fprintf(stderr, "bench_trace_write: cannot set up the JSON baseline\n");
            json_close(&j);
            rmdir(dir);
            return 1;
        }
        p.on_launch = on_launch;
        p.on_launch_ctx = &j;
    }

    results r;
    memset(&r, 0, sizeof r);
    char err[512] = "";
    r.load_before = loadavg1();
    uint64_t t0 = mono_ns(), c0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    int rc = fm_synth_write(path, &p, &r.s, err, sizeof err);
    r.synth_s = (double)(mono_ns() - t0) * 1e-9;
    r.synth_cpu_s = (double)(clock_ns(CLOCK_PROCESS_CPUTIME_ID) - c0) * 1e-9;
    r.load_after = loadavg1();
    uint64_t gzip_in_synth_ns = j.gzip_ns; /* the closing flush below is outside the synth */
    if (o.json_baseline && rc == FM_OK) {
        json_footer(&j, p.start_unix_ns + (uint64_t)(r.s.simulated_seconds * 1e9));
        json_drain(&j, 1);
    }
    r.scan.breakdown = o.breakdown;
    int scan_rc = rc == FM_OK ? scan_trace(path, &r.scan) : 0;
    unlink(path);
    rmdir(dir);
    if (rc != FM_OK) {
        fprintf(stderr, "bench_trace_write: synthesis failed (%s): %s\n", fm_status_name(rc),
                err);
        json_close(&j);
        return 1;
    }
    if (scan_rc != 0) {
        fprintf(stderr, "bench_trace_write: cannot read back the trace's chunks\n");
        json_close(&j);
        return 1;
    }
    if (j.failed) {
        fprintf(stderr, "bench_trace_write: JSON baseline failed: %s\n", j.err);
        json_close(&j);
        return 1;
    }
    if (o.json_baseline && j.launches != r.s.launches) {
        fprintf(stderr, "bench_trace_write: the callback saw %" PRIu64 " launches, the summary "
                        "says %" PRIu64 "\n", j.launches, r.s.launches);
        json_close(&j);
        return 1;
    }

    double launches = (double)r.s.launches;
    r.writer_s = (double)r.s.writer_ns * 1e-9;
    r.callback_s = (double)j.callback_ns * 1e-9;
    r.gzip_s = (double)gzip_in_synth_ns * 1e-9;
    r.json_bytes = j.json_bytes;
    r.gzip_bytes = j.gzip_bytes;
    r.bytes_per_launch = div0((double)r.s.file_bytes, launches);
    r.json_per_launch = div0((double)r.json_bytes, launches);
    r.gzip_per_launch = div0((double)r.gzip_bytes, launches);
    r.ratio = div0((double)r.json_bytes, (double)r.s.file_bytes);
    r.gzip_ratio = div0((double)r.gzip_bytes, (double)r.s.file_bytes);
    r.records_per_s = div0((double)r.s.records, r.writer_s);
    r.raw_mb_per_s = div0((double)r.scan.raw_bytes / 1e6, r.writer_s);
    r.file_mb_per_s = div0((double)r.s.file_bytes / 1e6, r.writer_s);
    r.launches_per_s = div0(launches, r.writer_s);
    r.share_100k = div0(TARGET_LAUNCH_RATE, r.launches_per_s) * 100.0;
    r.ratio_pass = r.ratio >= TARGET_RATIO;
    r.rate_pass = r.launches_per_s >= TARGET_LAUNCH_RATE;

    printf("flopmeter %s trace writer benchmark, %s\n", FLOPMETER_VERSION, date);
    printf("machine: %ld CPUs, %s; %s; trace on %s\n", m.cpus, m.cpu_model, m.kernel,
           m.trace_fs);
    printf("build: %s, %s, zlib %s\n", FM_BENCH_BUILD_TYPE, m.compiler, zlibVersion());
    printf("load average (1 min): %.2f before, %.2f after the run\n", r.load_before,
           r.load_after);
    printf("job: %u steps x %u launches/step (+ recomputation), %u signatures, %.3g s/step, "
           "seed %" PRIu64 ", %.0f simulated s\n\n",
           o.steps, o.launches_per_step, o.signatures, o.step_seconds, o.seed,
           r.s.simulated_seconds);
    printf("| %-44s | %28s |\n", "metric", "value");
    printf("|%.*s|%.*s:|\n", 46, "----------------------------------------------", 29,
           "-----------------------------");
    print_row("launches", "%" PRIu64, r.s.launches);
    print_row("records", "%" PRIu64, r.s.records);
    print_row("chunks", "%" PRIu64, r.s.chunks);
    print_row("trace file bytes", "%" PRIu64, r.s.file_bytes);
    print_row("trace raw (uncompressed) bytes", "%" PRIu64, r.scan.raw_bytes);
    print_row("trace bytes per launch", "%.3f", r.bytes_per_launch);
    if (o.json_baseline) {
        print_row("Chrome-trace JSON bytes", "%" PRIu64, r.json_bytes);
        print_row("JSON bytes per launch", "%.1f", r.json_per_launch);
        print_row("ratio JSON / trace", "%.1f x", r.ratio);
        if (o.gzip) {
            char name[64];
            snprintf(name, sizeof name, "gzip-JSON bytes (zlib level %d)", o.gzip_level);
            print_row(name, "%" PRIu64, r.gzip_bytes);
            print_row("gzip-JSON bytes per launch", "%.2f", r.gzip_per_launch);
            print_row("ratio gzip-JSON / trace", "%.1f x", r.gzip_ratio);
        }
    }
    print_row("writer time", "%.3f s", r.writer_s);
    print_row("writer records/s", "%.0f", r.records_per_s);
    print_row("writer MB/s (raw, before compression)", "%.1f", r.raw_mb_per_s);
    print_row("writer MB/s (file)", "%.1f", r.file_mb_per_s);
    print_row("writer launch throughput (launches/writer s)", "%.0f", r.launches_per_s);
    print_row("writer share of a 100k launches/s job", "%.2f %%", r.share_100k);
    print_row("total synth time (wall)", "%.3f s", r.synth_s);
    print_row("total synth time (process CPU)", "%.3f s", r.synth_cpu_s);
    if (o.json_baseline) {
        print_row("  of which JSON formatting", "%.3f s", r.callback_s - r.gzip_s);
        if (o.gzip)
            print_row("  of which gzip of the JSON", "%.3f s", r.gzip_s);
    }
    printf("\n");
    if (o.json_baseline)
        printf("target: trace >= %.0fx smaller than the Chrome-trace JSON: %.1fx  %s\n",
               TARGET_RATIO, r.ratio, r.ratio_pass ? "PASS" : "MISS");
    printf("target: writer keeps up with %.0f launches/s (share < 100%%): %.0f launches/s, "
           "%.2f%%  %s\n",
           TARGET_LAUNCH_RATE, r.launches_per_s, r.share_100k, r.rate_pass ? "PASS" : "MISS");

    if (o.breakdown) {
        uint64_t raw_total = 0, defl_total = 0;
        for (int k = 0; k <= FM_REC_KIND_MAX; k++) {
            raw_total += r.scan.kinds[k].raw_bytes;
            defl_total += r.scan.kinds[k].deflated_bytes;
        }
        printf("\nwhere the trace's bytes go (raw: encoded records; deflated alone: each kind's\n"
               "records compressed on their own at zlib level 6, an estimate of its share of the\n"
               "%" PRIu64 " compressed payload bytes; headers: %" PRIu64 " bytes of file and chunk "
               "headers)\n\n", r.scan.payload_bytes, r.scan.header_bytes);
        printf("| %-17s | %10s | %13s | %6s | %14s | %6s | %12s |\n", "record kind", "records",
               "raw bytes", "raw %", "deflated alone", "defl %", "B per launch");
        printf("|-------------------|-----------:|--------------:|-------:|---------------:|"
               "-------:|-------------:|\n");
        for (int k = 0; k <= FM_REC_KIND_MAX; k++) {
            const kind_stats *ks = &r.scan.kinds[k];
            if (!ks->records)
                continue;
            printf("| %-17s | %10" PRIu64 " | %13" PRIu64 " | %6.2f | %14" PRIu64 " | %6.2f | %12.4f |\n",
                   k ? fm_record_kind_name((uint32_t)k) : "unknown", ks->records, ks->raw_bytes,
                   100.0 * div0((double)ks->raw_bytes, (double)raw_total), ks->deflated_bytes,
                   100.0 * div0((double)ks->deflated_bytes, (double)defl_total),
                   div0((double)ks->deflated_bytes, launches));
        }
    }

    int out_rc = 0;
    if (o.json_out && write_json(o.json_out, &o, &m, &r, date) != 0)
        out_rc = 1;
    if (json_close(&j) != 0) {
        fprintf(stderr, "bench_trace_write: writing the Chrome trace copy failed\n");
        out_rc = 1;
    }
    return out_rc;
}
