/* cmd_report.c - `flopmeter report` (measured compute from traces, against formulas, rules
 * and a plan) and `flopmeter estimate` (the same formulas and rules from facts alone). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "report.h"
#include "report_csv.h"
#include "report_html.h"
#include "report_json.h"
#include "report_text.h"
#include "rules_data.h"
#include "trace_paths.h"
#include "flopmeter/trace_sign.h"

static const char report_usage[] =
    "usage: flopmeter report [options] TRACE|DIR...\n"
    "\n"
    "Reads the traces of one job (one per rank; a DIR stands for its *.fmtrace files), verifies\n"
    "them, and reports the compute the GPUs executed: by precision, phase, rank, kernel and\n"
    "call site, with a 95% interval from the counter samples; the formula estimates next to\n"
    "the measurement; utilisation; for every threshold profile the compute its rule counts,\n"
    "what it leaves out, and a verdict; and the projection of a planned run.\n"
    "\n"
    "Output\n"
    "  --json                 the report as JSON (docs/report-schema.md)\n"
    "  --csv                  one CSV row per kernel signature and phase, every figure\n"
    "  --html FILE            also write the report as one self-contained HTML file with\n"
    "                         charts (prints well to PDF)\n"
    "  --top N                rows of the kernel and call-site tables (default 15)\n"
    "  --color, --no-color    colour (default: only on a terminal, never with NO_COLOR set)\n"
    "Inputs\n"
    "  --allow-incomplete     use damaged or unfinished traces up to the damage; the report\n"
    "                         is marked incomplete and says what is missing\n"
    "  --scale-to-world-size  multiply by world size / ranks given (assumes identical ranks)\n"
    "  --combine-runs         add up traces of several runs (e.g. pre-training and fine-tuning)\n"
    "  --pubkey KEY.pem       require a valid signature by this key on every trace\n"
    "Rules\n"
    "  --profile ID           only this threshold profile (--list-profiles lists them)\n"
    "  --list-profiles        list the threshold profiles and peak tables, then exit\n"
    "  --data-dir DIR         profiles and peak tables from DIR/thresholds and DIR/peaks\n"
    "Facts (override what the traces declared; see docs/report.md)\n"
    "  --model SPEC           a model spec file\n"
    "  --params N  --active-params N  --layers N  --hidden N  --heads N  --ffn N\n"
    "  --seq-len N  --vocab N  --experts N  --experts-active N  --modality LIST\n"
    "  --tokens N  --steps N  --plan-tokens N  --plan-steps N  --plan-gpus N\n"
    "  --original-compute FLOP  --original-systemic yes|no  --prior-compute FLOP\n"
    "  --utilization U        U of the hardware-based estimate (default 0.30)\n"
    "  --peak TFLOPS          dense peak per GPU instead of the peak table\n";

static const char estimate_usage[] =
    "usage: flopmeter estimate [options]\n"
    "\n"
    "Applies the formulas and the threshold profiles to a model and a plan alone, before any\n"
    "GPU time is spent: the facts come from --model SPEC and the options below (the same as\n"
    "flopmeter report's). The rules are applied to one estimate, chosen with --use.\n"
    "\n"
    "  --use ID               the estimate the rules see: 6nd (default), kaplan, chinchilla,\n"
    "                         palm, narayanan, korthikanti, moe_active, 8nd, hardware\n"
    "  --gpu NAME             GPU model for the peak table (e.g. \"H100 80GB HBM3\")\n"
    "  --gpu-hours H          GPU-hours for the hardware-based estimate\n"
    "  --json                 the estimate as JSON (docs/report-schema.md)\n"
    "  --csv                  the report's CSV (kernel signatures and phases: only the header,\n"
    "                         since an estimate reads no traces)\n"
    "  --html FILE            also write the estimate as one self-contained HTML file\n"
    "  --profile, --data-dir, --list-profiles, --model, --color, --no-color and the facts as\n"
    "                         in report\n";

enum {
    O_CSV = 900, O_HTML,
    O_JSON = 1000, O_TOP, O_COLOR, O_NO_COLOR, O_ALLOW, O_SCALE, O_COMBINE, O_PUBKEY, O_PROFILE,
    O_LIST, O_DATA, O_MODEL, O_MODALITY, O_SYSTEMIC, O_USE, O_GPU, O_FACT_BASE = 2000
};

/* Options that set one fact: option name and fact id. */
static const struct {
    const char *name;
    int fact;
} fact_options[] = {
    {"params", RP_F_PARAMETERS},       {"active-params", RP_F_PARAMETERS_ACTIVE},
    {"layers", RP_F_LAYERS},           {"hidden", RP_F_HIDDEN},
    {"heads", RP_F_HEADS},             {"ffn", RP_F_FFN},
    {"seq-len", RP_F_SEQUENCE},        {"vocab", RP_F_VOCABULARY},
    {"experts", RP_F_EXPERTS},         {"experts-active", RP_F_EXPERTS_ACTIVE},
    {"tokens", RP_F_TOKENS},           {"steps", RP_F_STEPS},
    {"plan-tokens", RP_F_PLAN_TOKENS}, {"plan-steps", RP_F_PLAN_STEPS},
    {"plan-gpus", RP_F_PLAN_GPUS},     {"original-compute", RP_F_ORIGINAL_COMPUTE},
    {"prior-compute", RP_F_PRIOR_COMPUTE}, {"utilization", RP_F_UTILIZATION},
    {"peak", RP_F_PEAK_TFLOPS},        {"gpu-hours", RP_F_GPU_HOURS},
};
#define N_FACT_OPTIONS (sizeof fact_options / sizeof fact_options[0])

typedef struct args {
    int json, csv, colour, allow_incomplete, list;
    const char *html;
    uint64_t top;
    rp_report_options ro;
    const char *pubkey, *data_dir, *model;
    char **paths;
    int n_paths;
    /* fact options in command-line order, applied after the traces and the spec */
    struct {
        int fact;
        const char *option, *value;
    } facts[64];
    int n_facts;
    const char *modality, *systemic, *gpu;
} args;

static int parse(int argc, char **argv, int estimate, args *a)
{
    struct option opts[64];
    int n = 0;
#define OPT(name, has, id) opts[n++] = (struct option){name, has, NULL, id}
    OPT("json", no_argument, O_JSON);
    OPT("csv", no_argument, O_CSV);
    OPT("html", required_argument, O_HTML);
    OPT("profile", required_argument, O_PROFILE);
    OPT("list-profiles", no_argument, O_LIST);
    OPT("data-dir", required_argument, O_DATA);
    OPT("model", required_argument, O_MODEL);
    OPT("modality", required_argument, O_MODALITY);
    OPT("original-systemic", required_argument, O_SYSTEMIC);
    OPT("color", no_argument, O_COLOR);
    OPT("colour", no_argument, O_COLOR);
    OPT("no-color", no_argument, O_NO_COLOR);
    OPT("no-colour", no_argument, O_NO_COLOR);
    if (estimate) {
        OPT("use", required_argument, O_USE);
        OPT("gpu", required_argument, O_GPU);
    } else {
        OPT("top", required_argument, O_TOP);
        OPT("allow-incomplete", no_argument, O_ALLOW);
        OPT("scale-to-world-size", no_argument, O_SCALE);
        OPT("combine-runs", no_argument, O_COMBINE);
        OPT("pubkey", required_argument, O_PUBKEY);
    }
    for (size_t i = 0; i < N_FACT_OPTIONS; i++)
        OPT(fact_options[i].name, required_argument, O_FACT_BASE + (int)i);
    OPT(NULL, 0, 0);
#undef OPT
    memset(a, 0, sizeof *a);
    a->top = 15;
    a->colour = -1;
    a->ro.primary_estimate = FM_EST_6ND;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        const char *verb = estimate ? "estimate" : "report";
        switch (c) {
        case O_JSON: a->json = 1; break;
        case O_CSV: a->csv = 1; break;
        case O_HTML: a->html = optarg; break;
        case O_TOP:
            if (cli_parse_u64("--top", optarg, 1, 1000000, &a->top))
                return -1;
            break;
        case O_COLOR: a->colour = 1; break;
        case O_NO_COLOR: a->colour = 0; break;
        case O_ALLOW: a->allow_incomplete = 1; break;
        case O_SCALE: a->ro.scale_to_world_size = 1; break;
        case O_COMBINE: a->ro.combine_runs = 1; break;
        case O_PUBKEY: a->pubkey = optarg; break;
        case O_PROFILE: a->ro.only_profile = optarg; break;
        case O_LIST: a->list = 1; break;
        case O_DATA: a->data_dir = optarg; break;
        case O_MODEL: a->model = optarg; break;
        case O_MODALITY: a->modality = optarg; break;
        case O_SYSTEMIC: a->systemic = optarg; break;
        case O_GPU: a->gpu = optarg; break;
        case O_USE: {
            fm_estimate e[FM_EST_COUNT];
            fm_model_facts none = fm_model_facts_unknown();
            fm_estimates_compute(&none, NULL, e);
            a->ro.primary_estimate = -1;
            for (int i = 0; i < FM_EST_COUNT; i++)
                if (strcmp(e[i].id, optarg) == 0)
                    a->ro.primary_estimate = i;
            if (a->ro.primary_estimate < 0) {
                cli_error("--use: no estimate '%s' (see flopmeter estimate --help)", optarg);
                return -1;
            }
            break;
        }
        default:
            if (c >= O_FACT_BASE && c < O_FACT_BASE + (int)N_FACT_OPTIONS &&
                a->n_facts < 64) {
                a->facts[a->n_facts].fact = fact_options[c - O_FACT_BASE].fact;
                a->facts[a->n_facts].option = fact_options[c - O_FACT_BASE].name;
                a->facts[a->n_facts].value = optarg;
                a->n_facts++;
                break;
            }
            cli_error("%s: unknown option or missing value '%s' (see flopmeter %s --help)", verb,
                      argv[optind - 1], verb);
            return -1;
        }
    }
    a->paths = argv + optind;
    a->n_paths = argc - optind;
    if (estimate && a->n_paths) {
        cli_error("estimate: takes no traces (flopmeter report reads traces)");
        return -1;
    }
    return 0;
}

static int list_profiles(const rp_data *d)
{
    printf("threshold profiles (%s):\n", d->origin);
    for (uint32_t i = 0; i < d->n_profiles; i++)
        printf("  %-32s %-9s %s\n", d->profiles[i].id, d->profiles[i].status,
               d->profiles[i].title);
    printf("peak tables:\n");
    for (uint32_t i = 0; i < d->n_peaks; i++)
        printf("  %-32s %s\n", d->peaks[i].id, d->peaks[i].title);
    return EXIT_OK;
}

static int run(int argc, char **argv, int estimate)
{
    if (cli_wants_help(argc, argv)) {
        fputs(estimate ? estimate_usage : report_usage, stdout);
        return EXIT_OK;
    }
    args a;
    if (parse(argc, argv, estimate, &a) != 0)
        return EXIT_BAD_INPUT;
    if (a.json + a.csv > 1) {
        cli_error("%s: --json and --csv write to the same place; choose one",
                  estimate ? "estimate" : "report");
        return EXIT_BAD_INPUT;
    }
    char err[1024] = "";
    rp_data data;
    if ((a.data_dir ? rp_data_load_dir(&data, a.data_dir, err, sizeof err)
                    : rp_data_load_builtin(&data, err, sizeof err)) != 0) {
        cli_error("%s", err);
        return a.data_dir ? EXIT_BAD_INPUT : EXIT_INTERNAL;
    }
    if (a.list) {
        int rc = list_profiles(&data);
        rp_data_free(&data);
        return rc;
    }
    if (!estimate && a.n_paths == 0) {
        rp_data_free(&data);
        cli_error("report: no TRACE given (see flopmeter report --help)");
        return EXIT_BAD_INPUT;
    }

    int status = EXIT_BAD_INPUT;
    rp_model m;
    rp_facts facts;
    rp_report r;
    int have_report = 0;
    char **paths = NULL;
    int n_paths = 0;
    fm_verify_options vo = {0};
    rp_facts_init(&facts);
    if (rp_model_init(&m) != 0) {
        rp_data_free(&data);
        cli_error("out of memory");
        return EXIT_INTERNAL;
    }
    if (a.pubkey) {
        if (fm_load_public_key(a.pubkey, vo.trusted_key, err, sizeof err) != FM_OK)
            goto fail;
        vo.have_trusted_key = 1;
    }
    if (fm_expand_trace_paths(a.paths, a.n_paths, &paths, &n_paths, err, sizeof err) != 0)
        goto fail;
    rp_read_options rop = {a.allow_incomplete, &vo};
    for (int i = 0; i < n_paths; i++) {
        fm_progress(i, n_paths, paths[i]);
        int rc = rp_read_trace(&m, paths[i], &rop, err, sizeof err);
        if (rc == RP_E_INTERNAL)
            status = EXIT_INTERNAL;
        if (rc != 0)
            goto fail;
    }
    fm_progress_done();
    if (rp_check_traces(&m, a.ro.combine_runs, err, sizeof err) != 0 ||
        rp_facts_from_model(&facts, &m, a.ro.combine_runs, err, sizeof err) != 0 ||
        (a.model && rp_facts_from_spec_file(&facts, a.model, err, sizeof err) != 0))
        goto fail;
    for (int i = 0; i < a.n_facts; i++) {
        char opt[64];
        snprintf(opt, sizeof opt, "--%s", a.facts[i].option);
        if (rp_facts_set_option(&facts, a.facts[i].fact, opt, a.facts[i].value, err,
                                sizeof err) != 0)
            goto fail;
    }
    if (a.modality && rp_facts_set_modality(&facts, a.modality, "option --modality", err,
                                            sizeof err) != 0)
        goto fail;
    if (a.systemic) {
        if (strcmp(a.systemic, "yes") && strcmp(a.systemic, "no")) {
            snprintf(err, sizeof err, "--original-systemic: expected yes or no");
            goto fail;
        }
        facts.original_systemic = strcmp(a.systemic, "yes") == 0;
        snprintf(facts.systemic_source, sizeof facts.systemic_source,
                 "option --original-systemic");
    }
    if (a.gpu)
        snprintf(facts.gpu_name, sizeof facts.gpu_name, "%s", a.gpu);
    if (rp_facts_check(&facts, err, sizeof err) != 0)
        goto fail;
    a.ro.estimate_only = estimate;
    int rc = rp_report_compute(&r, &m, &facts, &data, &a.ro, err, sizeof err);
    if (rc == RP_E_INTERNAL)
        status = EXIT_INTERNAL;
    if (rc != 0)
        goto fail;
    have_report = 1;
    if (a.html) {
        FILE *hf = fopen(a.html, "w");
        if (!hf) {
            snprintf(err, sizeof err, "%s: cannot create: %s", a.html, strerror(errno));
            goto fail;
        }
        rp_render_html(&r, hf, (uint32_t)a.top);
        if (fclose(hf) != 0) {
            snprintf(err, sizeof err, "%s: cannot write the HTML report", a.html);
            status = EXIT_INTERNAL;
            goto fail;
        }
    }
    if (a.json) {
        rp_render_json(&r, stdout);
    } else if (a.csv) {
        if (rp_render_csv(&r, stdout) != 0) {
            snprintf(err, sizeof err, "out of memory while writing the CSV");
            status = EXIT_INTERNAL;
            goto fail;
        }
    } else if (!a.html) {
        int colour = a.colour >= 0 ? a.colour : isatty(STDOUT_FILENO) && !getenv("NO_COLOR");
        rp_render_text(&r, stdout, colour, (uint32_t)a.top);
    }
    status = fflush(stdout) == 0 ? EXIT_OK : EXIT_INTERNAL;
    if (status != EXIT_OK)
        snprintf(err, sizeof err, "cannot write the report");

fail:
    fm_progress_done();
    if (status != EXIT_OK && err[0])
        cli_error("%s", err);
    if (have_report)
        rp_report_free(&r);
    fm_free_trace_paths(paths, n_paths);
    rp_model_free(&m);
    rp_data_free(&data);
    return status;
}

int cmd_report(int argc, char **argv)
{
    return run(argc, argv, 0);
}

int cmd_estimate(int argc, char **argv)
{
    return run(argc, argv, 1);
}
