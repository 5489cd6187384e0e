/* cmd_synth.c - `flopmeter synth`: writes traces of a simulated training job (for tests,
 * benchmarks, demonstrations and the shipped example). */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "commands.h"
#include "flopmeter/synth.h"
#include "flopmeter/trace_status.h"

static const char usage[] =
    "usage: flopmeter synth --out PATH [options]\n"
    "\n"
    "Writes the trace of a simulated GPT-style training job through the same writer the hook\n"
    "uses: kernel signatures with call sites, counter samples, per-interval aggregates by\n"
    "phase (pre-training, evaluation, activation recomputation), declarations of the model and\n"
    "the plan, and a window where counters were unavailable. The same options give the same\n"
    "bytes. The traces are synthetic: their run metadata says so (config synthesized=1).\n"
    "\n"
    "  --out PATH              the trace to create (with --all-ranks: a directory)\n"
    "  --all-ranks             write one trace per rank of --world-size into PATH/\n"
    "  --seed N                random seed (default 1)\n"
    "  --rank R                rank to simulate (default 0)\n"
    "  --world-size W          ranks in the job (default 8)\n"
    "  --steps N               training steps (default 200)\n"
    "  --signatures N          distinct kernel signatures (default 300)\n"
    "  --launches-per-step N   kernel launches per step (default 1200)\n"
    "  --step-seconds S        simulated time per step (default 0.45)\n"
    "  --interval-ms MS        aggregation interval (default 1000)\n"
    "  --sample-rate P         fraction of repeat launches measured (default 0.01)\n"
    "  --no-eval               no evaluation steps\n"
    "  --no-recomputation      no activation recomputation\n"
    "  --no-busy               no window without counters\n"
    "  --quiet                 print nothing on success\n";

static int write_one(const char *path, const fm_synth_params *p, int quiet)
{
    fm_synth_summary s;
    char err[512];
    int rc = fm_synth_write(path, p, &s, err, sizeof err);
    if (rc != FM_OK) {
        cli_error("%s", err);
        return cli_exit_for_status(rc);
    }
    if (!quiet)
        printf("%s: rank %u, %" PRIu64 " launches (%" PRIu64 " measured, %" PRIu64
               " extrapolated, %" PRIu64 " unmeasured), %.4g FLOP executed, %" PRIu64
               " records, %" PRIu64 " bytes\n",
               path, p->rank, s.launches, s.launches_measured, s.launches_extrapolated,
               s.launches_unmeasured, s.flop_true, s.records, s.file_bytes);
    return EXIT_OK;
}

int cmd_synth(int argc, char **argv)
{
    enum { O_OUT = 1, O_ALL, O_SEED, O_RANK, O_WORLD, O_STEPS, O_SIGS, O_LPS, O_STEP_S,
           O_INTERVAL, O_RATE, O_NO_EVAL, O_NO_RECOMP, O_NO_BUSY, O_QUIET };
    static const struct option opts[] = {
        {"out", required_argument, NULL, O_OUT},
        {"all-ranks", no_argument, NULL, O_ALL},
        {"seed", required_argument, NULL, O_SEED},
        {"rank", required_argument, NULL, O_RANK},
        {"world-size", required_argument, NULL, O_WORLD},
        {"steps", required_argument, NULL, O_STEPS},
        {"signatures", required_argument, NULL, O_SIGS},
        {"launches-per-step", required_argument, NULL, O_LPS},
        {"step-seconds", required_argument, NULL, O_STEP_S},
        {"interval-ms", required_argument, NULL, O_INTERVAL},
        {"sample-rate", required_argument, NULL, O_RATE},
        {"no-eval", no_argument, NULL, O_NO_EVAL},
        {"no-recomputation", no_argument, NULL, O_NO_RECOMP},
        {"no-busy", no_argument, NULL, O_NO_BUSY},
        {"quiet", no_argument, NULL, O_QUIET},
        {0, 0, 0, 0}};
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return EXIT_OK;
    }
    fm_synth_params p;
    fm_synth_params_init(&p);
    const char *out = NULL;
    int all = 0, quiet = 0, c;
    uint64_t v;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int bad = 0;
        const char *name = optind > 0 ? argv[optind - 1] : "?";
        switch (c) {
        case O_OUT: out = optarg; break;
        case O_ALL: all = 1; break;
        case O_SEED: bad = cli_parse_u64("--seed", optarg, 0, UINT64_MAX, &p.seed); break;
        case O_RANK:
            bad = cli_parse_u64("--rank", optarg, 0, 1u << 20, &v);
            p.rank = (uint32_t)v;
            break;
        case O_WORLD:
            bad = cli_parse_u64("--world-size", optarg, 1, 1u << 20, &v);
            p.world_size = (uint32_t)v;
            break;
        case O_STEPS:
            bad = cli_parse_u64("--steps", optarg, 1, 100000000, &v);
            p.steps = (uint32_t)v;
            break;
        case O_SIGS:
            bad = cli_parse_u64("--signatures", optarg, 1, 10000000, &v);
            p.signatures = (uint32_t)v;
            break;
        case O_LPS:
            bad = cli_parse_u64("--launches-per-step", optarg, 1, 10000000, &v);
            p.launches_per_step = (uint32_t)v;
            break;
        case O_STEP_S:
            bad = cli_parse_double("--step-seconds", optarg, 1e-6, 1e6, &p.step_seconds);
            break;
        case O_INTERVAL:
            bad = cli_parse_u64("--interval-ms", optarg, 1, 86400000, &v);
            p.interval_ms = (uint32_t)v;
            break;
        case O_RATE: bad = cli_parse_double("--sample-rate", optarg, 0, 1, &p.sample_rate); break;
        case O_NO_EVAL: p.eval_every = 0; break;
        case O_NO_RECOMP: p.recomputation = 0; break;
        case O_NO_BUSY: p.busy_steps = 0; break;
        case O_QUIET: quiet = 1; break;
        default:
            cli_error("synth: unknown option or missing value '%s' (see flopmeter synth --help)",
                      name);
            return EXIT_BAD_INPUT;
        }
        if (bad)
            return EXIT_BAD_INPUT;
    }
    if (!out || optind != argc) {
        cli_error("synth: expected --out PATH and options only (see flopmeter synth --help)");
        return EXIT_BAD_INPUT;
    }
    if (!all) {
        if (p.rank >= p.world_size) {
            cli_error("--rank: %u is not below --world-size %u", p.rank, p.world_size);
            return EXIT_BAD_INPUT;
        }
        return write_one(out, &p, quiet);
    }
    if (mkdir(out, 0755) != 0 && errno != EEXIST) {
        cli_error("%s: cannot create directory: %s", out, strerror(errno));
        return EXIT_BAD_INPUT;
    }
    for (uint32_t r = 0; r < p.world_size; r++) {
        char path[4096];
        if ((size_t)snprintf(path, sizeof path, "%s/rank-%05u.fmtrace", out, r) >= sizeof path) {
            cli_error("%s: path too long", out);
            return EXIT_BAD_INPUT;
        }
        p.rank = r;
        int rc = write_one(path, &p, quiet);
        if (rc != EXIT_OK)
            return rc;
    }
    return EXIT_OK;
}
