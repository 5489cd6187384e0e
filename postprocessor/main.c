/* main.c - the `flopmeter` command: dispatches to its verbs. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "flopmeter/trace_format.h"
#include "flopmeter/version.h"

typedef struct verb {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} verb;

static const verb verbs[] = {
    {"report", cmd_report, "measured compute against formulas, thresholds and a plan"},
    {"estimate", cmd_estimate, "formulas and thresholds from model facts alone"},
    {"merge", cmd_merge, "one verifiable trace from the traces of one run"},
    {"export", cmd_export, "a Perfetto/Chrome timeline of traces (--perfetto)"},
    {"dump", cmd_dump, "print every record of a trace (text or --json)"},
    {"verify", cmd_verify, "check a trace's integrity, completeness and signatures"},
    {"sign", cmd_sign, "append an Ed25519 signature to a complete trace"},
    {"keygen", cmd_keygen, "create an Ed25519 key pair for signing"},
    {"synth", cmd_synth, "write the trace of a simulated training job"},
    {"run", cmd_run, "run a command with libflopmeter.so preloaded (run -- CMD...)"},
};

static void print_usage(FILE *f)
{
    fprintf(f, "usage: flopmeter VERB [options] [arguments]\n\n"
               "flopmeter reads the traces libflopmeter.so writes and answers how much compute a\n"
               "job executed. Verbs:\n");
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        fprintf(f, "  %-8s %s\n", verbs[i].name, verbs[i].summary);
    fprintf(f, "\n`flopmeter VERB --help` describes a verb. Exit status: 0 success, 1 internal "
               "failure, 2 bad input.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stderr);
        return EXIT_BAD_INPUT;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        print_usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("flopmeter %s (trace format %u.%u)\n", FLOPMETER_VERSION, FM_FORMAT_MAJOR,
               FM_FORMAT_MINOR);
        return EXIT_OK;
    }
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        if (strcmp(argv[1], verbs[i].name) == 0)
            return verbs[i].run(argc - 1, argv + 1);
    cli_error("unknown verb '%s' (see flopmeter --help)", argv[1]);
    return EXIT_BAD_INPUT;
}
