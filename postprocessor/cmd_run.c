/* cmd_run.c - `flopmeter run [options] -- COMMAND...`: runs a command with libflopmeter.so
 * preloaded and its FLOPMETER_* variables set, so that every process the command starts
 * writes its trace into one run directory; then says where the traces are.
 *
 * The option values are checked by the library's own configuration parser (hook_config.c,
 * compiled in here), so that a value run accepts is one the library accepts, and a bad one is
 * refused before the command starts rather than discovered when the library disables itself
 * in the middle of a training job. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "hook_config.h"
#include "hook_naming.h"

static const char usage[] =
    "usage: flopmeter run [options] -- COMMAND [ARGUMENT...]\n"
    "\n"
    "Runs COMMAND with libflopmeter.so preloaded (LD_PRELOAD, CUDA_INJECTION64_PATH,\n"
    "NVTX_INJECTION64_PATH). Every process COMMAND starts that initialises CUDA writes a\n"
    "trace, all of them into one run directory: OUTPUT_DIR/RUN_ID/HOST-rRANK-pPID.fmtrace.\n"
    "When COMMAND ends, the traces it wrote are listed on stderr.\n"
    "\n"
    "Each option sets one of the library's variables and overrides it when it is already in\n"
    "the environment; variables without an option pass through unchanged.\n"
    "\n"
    "  --output-dir DIR     FLOPMETER_OUTPUT_DIR: where run directories are made (default\n"
    "                       flopmeter-traces); made absolute, so a COMMAND that changes\n"
    "                       directory still writes there\n"
    "  --run-id ID          FLOPMETER_RUN_ID: the run directory's name, no '/' (default:\n"
    "                       the launcher's job id from TORCHELASTIC_RUN_ID, SLURM_JOB_ID,\n"
    "                       PBS_JOBID or LSB_JOBID, else HOST-SECONDS-PID made here)\n"
    "  --mode launches|off  FLOPMETER_MODE: count and time every kernel launch, or do nothing\n"
    "  --flush-ms N         FLOPMETER_FLUSH_MS: data at risk at most, 10 to 3600000 (1000)\n"
    "  --interval-ms N      FLOPMETER_INTERVAL_MS: aggregation interval, 10 to 3600000 (1000)\n"
    "  --max-signatures N   FLOPMETER_MAX_SIGNATURES: distinct kernel signatures kept,\n"
    "                       16 to 16777216 (65536)\n"
    "  --fsync              FLOPMETER_FSYNC=1: fsync every chunk of the trace\n"
    "  --strict             FLOPMETER_STRICT=1: the library stops the program (exit 70)\n"
    "                       instead of running it unmeasured; run refuses to start when the\n"
    "                       configuration is bad\n"
    "  --no-callstacks      FLOPMETER_CALLSTACKS=0: no native stack of first launches\n"
    "  --no-args            FLOPMETER_ARGS=0: kernel argument bytes left out of signatures\n"
    "  --arg-variants N     FLOPMETER_ARG_VARIANTS: distinct argument values of one kernel\n"
    "                       function before its later ones are folded, 1 to 16777216 (64)\n"
    "  --profile sampled|exact|off\n"
    "                       FLOPMETER_PROFILE: hardware counters on a sample of the launches,\n"
    "                       on every launch (replayed in every metric group), or none\n"
    "  --profile-budget B   FLOPMETER_PROFILE_BUDGET: share of wall time the measurements\n"
    "                       may take, greater than 0 and at most 1 (0.02)\n"
    "  --profile-first N    FLOPMETER_PROFILE_FIRST: reads of each metric group on a new\n"
    "                       signature's first launches, 1 to 1000000 (2)\n"
    "  --profile-replay-first\n"
    "                       FLOPMETER_PROFILE_REPLAY_FIRST=1: a new signature's first launch\n"
    "                       measured in every metric group, with replay\n"
    "  --profile-skip LIST  FLOPMETER_PROFILE_SKIP: comma-separated substrings of kernel names\n"
    "                       never measured, as they may wait for a kernel launched later\n"
    "                       (default nccl; '' measures every kernel)\n"
    "  --no-arg-learn       FLOPMETER_ARG_LEARN=0: no learning, per kernel family, of whether\n"
    "                       its arguments decide its work\n"
    "  --quiet              FLOPMETER_QUIET=1: no informational lines, from the library or\n"
    "                       from run\n"
    "  --lib PATH           the library to preload (default: $FLOPMETER_LIB, else the one\n"
    "                       installed next to this flopmeter)\n"
    "\n"
    "Exit status: COMMAND's; 128+N when it was killed by signal N; 127 when it is not\n"
    "found, 126 when it cannot be executed; 2 for bad options or a library not found.\n"
    "SIGTERM, SIGHUP, SIGUSR1 and SIGUSR2 sent to flopmeter run are passed to COMMAND, and so\n"
    "are SIGINT and SIGQUIT sent by another process (those from the terminal reach COMMAND\n"
    "directly). Read the traces with `flopmeter report RUN_DIRECTORY`.\n";

/* ---- messages ------------------------------------------------------------------------------ */

/* "flopmeter run: <message>" as one line, whatever a quoted value contained. */
static void run_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void run_error(const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    for (char *p = line; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = '?';
    fprintf(stderr, "flopmeter run: %s\n", line);
}

/* ---- options ------------------------------------------------------------------------------- */

/* The options that set a variable; a flag sets it to flag_value. */
typedef struct setting {
    const char *option;
    const char *var;
    const char *flag_value; /* NULL: the option takes a value */
} setting;

static const setting settings[] = {
    {"output-dir", "FLOPMETER_OUTPUT_DIR", NULL},
    {"run-id", "FLOPMETER_RUN_ID", NULL},
    {"mode", "FLOPMETER_MODE", NULL},
    {"flush-ms", "FLOPMETER_FLUSH_MS", NULL},
    {"interval-ms", "FLOPMETER_INTERVAL_MS", NULL},
    {"max-signatures", "FLOPMETER_MAX_SIGNATURES", NULL},
    {"arg-variants", "FLOPMETER_ARG_VARIANTS", NULL},
    {"profile", "FLOPMETER_PROFILE", NULL},
    {"profile-budget", "FLOPMETER_PROFILE_BUDGET", NULL},
    {"profile-first", "FLOPMETER_PROFILE_FIRST", NULL},
    {"profile-skip", "FLOPMETER_PROFILE_SKIP", NULL}, /* '' is a value: skip nothing */
    {"fsync", "FLOPMETER_FSYNC", "1"},
    {"strict", "FLOPMETER_STRICT", "1"},
    {"no-callstacks", "FLOPMETER_CALLSTACKS", "0"},
    {"no-args", "FLOPMETER_ARGS", "0"},
    {"profile-replay-first", "FLOPMETER_PROFILE_REPLAY_FIRST", "1"},
    {"no-arg-learn", "FLOPMETER_ARG_LEARN", "0"},
    {"quiet", "FLOPMETER_QUIET", "1"},
};
enum { N_SETTINGS = sizeof settings / sizeof settings[0], SET_OUTPUT_DIR = 0, SET_RUN_ID = 1 };
enum { OPT_LIB = 'L', OPT_SETTING = 0x100 /* + index in settings */ };

typedef struct run_args {
    const char *values[N_SETTINGS]; /* given by an option, else NULL */
    const char *lib;                /* --lib */
    char **command;                 /* NULL-terminated */
} run_args;

/* Lookups for the library's parser: none of its variables (its defaults), or one alone. */
static const char *no_variable(const char *name, void *ctx)
{
    (void)name;
    (void)ctx;
    return NULL;
}

static const char *one_variable(const char *name, void *ctx)
{
    const char *const *kv = ctx;
    return strcmp(name, kv[0]) == 0 ? kv[1] : NULL;
}

/* Checks a value exactly as the library will; what: the option or variable it came from. */
static int check_value(const char *what, const char *var, const char *value)
{
    const char *kv[2] = {var, value};
    fm_hook_config c;
    char err[1200];
    if (fm_hook_config_parse(&c, one_variable, kv, err, sizeof err) == 0)
        return 0;
    run_error("%s: %s", what, err);
    return -1;
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    run_error("%s (see flopmeter run --help)", line);
    return EXIT_BAD_INPUT;
}

/* Parses argv; the command must follow "--", so that its own options are never taken for
 * ours. Returns EXIT_OK or the exit status for a usage error (already reported). */
static int parse_args(int argc, char **argv, run_args *a)
{
    struct option opts[N_SETTINGS + 2];
    for (size_t i = 0; i < N_SETTINGS; i++)
        opts[i] = (struct option){settings[i].option,
                                  settings[i].flag_value ? no_argument : required_argument, NULL,
                                  OPT_SETTING + (int)i};
    opts[N_SETTINGS] = (struct option){"lib", required_argument, NULL, OPT_LIB};
    opts[N_SETTINGS + 1] = (struct option){0, 0, 0, 0};
    memset(a, 0, sizeof *a);
    const char *last_value = NULL;
    int c;
    opterr = 0;
    /* '+': stop at the first operand; the command's arguments are not ours to permute */
    while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        if (c == OPT_LIB) {
            a->lib = last_value = optarg;
        } else if (c >= OPT_SETTING && c < OPT_SETTING + (int)N_SETTINGS) {
            const setting *s = &settings[c - OPT_SETTING];
            a->values[c - OPT_SETTING] = s->flag_value ? s->flag_value : optarg;
            last_value = s->flag_value ? NULL : optarg;
        } else {
            return usage_error("unknown option or missing value '%s'", argv[optind - 1]);
        }
    }
    /* getopt consumed a "--" only when argv[optind-1] is one and was not an option's value */
    int dashes = strcmp(argv[optind - 1], "--") == 0 && argv[optind - 1] != last_value;
    if (optind >= argc)
        return usage_error("no command given: flopmeter run [options] -- COMMAND");
    if (!dashes)
        return usage_error("'--' must come before the command ('%s')", argv[optind]);
    a->command = argv + optind;
    for (size_t i = 0; i < N_SETTINGS; i++) {
        char what[64];
        snprintf(what, sizeof what, "--%s", settings[i].option);
        if (a->values[i] && check_value(what, settings[i].var, a->values[i]) != 0)
            return EXIT_BAD_INPUT;
    }
    return EXIT_OK;
}

/* ---- the library --------------------------------------------------------------------------- */

/* NULL when path is a readable file, else what is wrong with it. */
static const char *file_problem(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return strerror(errno);
    if (!S_ISREG(st.st_mode))
        return "not a regular file";
    return access(path, R_OK) == 0 ? NULL : strerror(errno);
}

/* path with an absolute, resolved directory and its own file name kept: the loader and the
 * library's own check see the name the user gave (libflopmeter.so, not its versioned target). */
static int absolute_file(const char *path, char *out, size_t len)
{
    char dir[PATH_MAX], resolved[PATH_MAX];
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    int n = slash ? snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path)
                  : snprintf(dir, sizeof dir, ".");
    if (n < 0 || (size_t)n >= sizeof dir)
        return -1;
    if (!realpath(dir[0] ? dir : "/", resolved))
        return -1;
    n = snprintf(out, len, "%s/%s", strcmp(resolved, "/") ? resolved : "", name);
    return n > 0 && (size_t)n < len ? 0 : -1;
}

/* The library next to this executable: an installed tree (bin/ beside the library directory)
 * or the build tree (postprocessor/ beside cupti_hook/). */
static int lib_beside_executable(char *out, size_t len)
{
    static const char *const candidates[] = {
        FLOPMETER_BIN_TO_LIBDIR "/libflopmeter.so", "../lib/libflopmeter.so",
        "../lib64/libflopmeter.so", "../lib/x86_64-linux-gnu/libflopmeter.so",
        "../cupti_hook/libflopmeter.so"};
    char exe[PATH_MAX], path[PATH_MAX + 64];
    if (!realpath("/proc/self/exe", exe))
        return -1;
    char *slash = strrchr(exe, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", exe, candidates[i]);
        if (!file_problem(path) && absolute_file(path, out, len) == 0)
            return 0;
    }
    return -1;
}

/* --lib, else $FLOPMETER_LIB, else beside the executable. A path that is named but missing
 * is an error, not a reason to look elsewhere: the user meant that one. */
static int find_library(const char *option, char *out, size_t len)
{
    const char *env = getenv("FLOPMETER_LIB");
    const char *named = option ? option : (env && *env ? env : NULL);
    const char *from = option ? "--lib" : "FLOPMETER_LIB";
    if (named) {
        const char *problem = file_problem(named);
        if (!problem && absolute_file(named, out, len) != 0)
            problem = "path too long";
        if (problem) {
            run_error("%s %s: %s", from, named, problem);
            return -1;
        }
    } else if (lib_beside_executable(out, len) != 0) {
        run_error("libflopmeter.so not found beside this flopmeter; name it with --lib PATH "
                  "(or FLOPMETER_LIB)");
        return -1;
    }
    /* LD_PRELOAD separates its entries by ':' and spaces */
    if (strpbrk(out, ": \t")) {
        run_error("the library's path '%s' contains ':' or a space, which LD_PRELOAD cannot "
                  "carry; copy or link it elsewhere and name it with --lib",
                  out);
        return -1;
    }
    return 0;
}

/* ---- the environment ----------------------------------------------------------------------- */

static int set_variable(const char *name, const char *value)
{
    if (setenv(name, value, 1) == 0)
        return 0;
    run_error("cannot set %s: %s", name, strerror(errno));
    return -1;
}

/* The library first, then what was preloaded already (its order kept). */
static int prepend_preload(const char *lib)
{
    const char *old = getenv("LD_PRELOAD");
    if (!old || !*old)
        return set_variable("LD_PRELOAD", lib);
    size_t k = strlen(lib);
    if (strncmp(old, lib, k) == 0 && strchr(": \t", old[k]))
        return 0; /* already first (flopmeter run inside flopmeter run) */
    size_t n = k + 1 + strlen(old) + 1;
    char *v = malloc(n);
    if (!v) {
        run_error("out of memory");
        return -1;
    }
    snprintf(v, n, "%s:%s", lib, old);
    int rc = set_variable("LD_PRELOAD", v);
    free(v);
    return rc;
}

/* Names the library in an injection variable unless another tool holds it: the driver loads
 * one injection library only, and taking the slot would silently switch that tool off. */
static int claim_injection(const char *var, const char *lib, const char *consequence, int quiet)
{
    const char *cur = getenv(var);
    if (!cur || !*cur)
        return set_variable(var, lib);
    char a[PATH_MAX], b[PATH_MAX];
    int same = strcmp(cur, lib) == 0 ||
               (realpath(cur, a) && realpath(lib, b) && strcmp(a, b) == 0);
    if (!same && !quiet)
        run_error("%s names another tool (%s), which keeps that slot: %s", var, cur, consequence);
    return 0;
}

/* OUTPUT_DIR as an absolute path, from the option, the environment or the library's default.
 * Relative to the directory run was started in, which is what the user meant. */
static int absolute_output_dir(const run_args *a, char *out, size_t len)
{
    const char *dir = a->values[SET_OUTPUT_DIR];
    const char *what = "--output-dir";
    if (!dir && (dir = getenv("FLOPMETER_OUTPUT_DIR")))
        what = "FLOPMETER_OUTPUT_DIR";
    fm_hook_config defaults; /* the library's default when neither names one */
    if (!dir) {
        char err[16];
        fm_hook_config_parse(&defaults, no_variable, NULL, err, sizeof err);
        dir = defaults.output_dir;
    } else if (check_value(what, "FLOPMETER_OUTPUT_DIR", dir) != 0) {
        return -1; /* the environment's value too: run rewrites it, so it must be sound */
    }
    char cwd[PATH_MAX];
    int n;
    if (dir[0] == '/') {
        n = snprintf(out, len, "%s", dir);
    } else if (!getcwd(cwd, sizeof cwd)) {
        run_error("cannot read the current directory: %s", strerror(errno));
        return -1;
    } else {
        const char *rel = strncmp(dir, "./", 2) == 0 ? dir + 2 : dir;
        n = snprintf(out, len, "%s%s%s", cwd, strcmp(cwd, "/") ? "/" : "", rel);
    }
    if (n < 0 || (size_t)n >= len) {
        run_error("%s: the absolute path of '%s' is too long", what, dir);
        return -1;
    }
    /* made absolute, it may have grown past what the library accepts */
    return check_value(what, "FLOPMETER_OUTPUT_DIR", out);
}

static uint64_t now_unix_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static const char *from_env(const char *name, void *ctx)
{
    (void)ctx;
    return getenv(name);
}

static int launcher_gives_run_id(void)
{
    static const char *const vars[] = {"TORCHELASTIC_RUN_ID", "SLURM_JOB_ID", "PBS_JOBID",
                                       "LSB_JOBID"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v)
            return 1;
    }
    return 0;
}

/* Exports FLOPMETER_RUN_ID unless the user or the launcher already decided it: without it,
 * each process of a command started without a launcher (torchrun inside run, a script that
 * starts several programs) would make its own run directory. */
static int decide_run_id(const run_args *a)
{
    if (a->values[SET_RUN_ID])
        return set_variable("FLOPMETER_RUN_ID", a->values[SET_RUN_ID]);
    const char *cur = getenv("FLOPMETER_RUN_ID");
    if ((cur && *cur) || launcher_gives_run_id())
        return 0;
    /* the library's own rule for a lone process, with this process's pid */
    fm_identity id;
    fm_identity_read(&id, NULL, now_unix_ns(), from_env, NULL);
    if (check_value("the generated run id", "FLOPMETER_RUN_ID", id.run_id) != 0)
        snprintf(id.run_id, sizeof id.run_id, "run-%llu-%ld",
                 (unsigned long long)(now_unix_ns() / 1000000000ull), (long)getpid());
    return set_variable("FLOPMETER_RUN_ID", id.run_id);
}

/* The run directory, named as the library will name it (the same function decides). */
static void run_directory(const char *output_dir, char *out, size_t len)
{
    fm_identity id;
    fm_identity_read(&id, getenv("FLOPMETER_RUN_ID"), now_unix_ns(), from_env, NULL);
    snprintf(out, len, "%s/%s", output_dir, id.run_id);
}

/* Sets every variable the library reads. Returns 0 or -1 (reported). */
static int prepare_environment(const run_args *a, const char *lib, char *run_dir, size_t len,
                               fm_hook_config *effective)
{
    char output_dir[PATH_MAX + 1100];
    if (absolute_output_dir(a, output_dir, sizeof output_dir) != 0 ||
        set_variable("FLOPMETER_OUTPUT_DIR", output_dir) != 0)
        return -1;
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (i != SET_OUTPUT_DIR && i != SET_RUN_ID && a->values[i] &&
            set_variable(settings[i].var, a->values[i]) != 0)
            return -1;
    if (decide_run_id(a) != 0)
        return -1;
    /* what the library will read, options and inherited variables together */
    char err[1200];
    if (fm_hook_config_read(effective, err, sizeof err) != 0) {
        if (effective->strict) {
            run_error("%s (FLOPMETER_STRICT=1: not starting the command)", err);
            return -1;
        }
        if (!effective->quiet)
            run_error("%s: the library will measure nothing", err);
    }
    int quiet = effective->quiet;
    if (prepend_preload(lib) != 0 ||
        claim_injection("CUDA_INJECTION64_PATH", lib, "the CUDA driver will not call flopmeter",
                        quiet) != 0 ||
        claim_injection("NVTX_INJECTION64_PATH", lib, "NVTX ranges will not mark phases",
                        quiet) != 0)
        return -1;
    run_directory(output_dir, run_dir, len);
    return 0;
}

/* ---- the traces written -------------------------------------------------------------------- */

typedef struct trace_file {
    char *name;
    struct timespec mtime;
    off_t size;
} trace_file;

typedef struct trace_list {
    trace_file *files;
    size_t n;
} trace_list;

static void free_traces(trace_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->files[i].name);
    free(l->files);
    memset(l, 0, sizeof *l);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int add_trace(trace_list *l, const char *name, const struct stat *st)
{
    trace_file *f = realloc(l->files, (l->n + 1) * sizeof *f);
    if (!f)
        return -1;
    l->files = f;
    f[l->n] = (trace_file){strdup(name), st->st_mtim, st->st_size};
    if (!f[l->n].name)
        return -1;
    l->n++;
    return 0;
}

/* The *.fmtrace files in dir; a directory that does not exist holds none. */
static void list_traces(const char *dir, trace_list *l)
{
    memset(l, 0, sizeof *l);
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char path[PATH_MAX * 2];
    while ((e = readdir(d))) {
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (ends_with(e->d_name, ".fmtrace") && stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
            add_trace(l, e->d_name, &st) != 0)
            break; /* out of memory: the summary lists fewer */
    }
    closedir(d);
}

/* Written during the run: new, or changed since the listing before it. */
static int written_during(const trace_file *f, const trace_list *before)
{
    for (size_t i = 0; i < before->n; i++) {
        const trace_file *b = &before->files[i];
        if (strcmp(b->name, f->name) == 0)
            return b->size != f->size || b->mtime.tv_sec != f->mtime.tv_sec ||
                   b->mtime.tv_nsec != f->mtime.tv_nsec;
    }
    return 1;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void print_summary(const char *run_dir, const trace_list *before,
                          const fm_hook_config *cfg)
{
    trace_list after;
    list_traces(run_dir, &after);
    char **names = calloc(after.n + 1, sizeof *names);
    size_t n = 0;
    for (size_t i = 0; names && i < after.n; i++)
        if (written_during(&after.files[i], before))
            names[n++] = after.files[i].name;
    if (n == 0) {
        if (cfg->mode == FM_MODE_OFF)
            fprintf(stderr, "flopmeter run: no trace written: FLOPMETER_MODE=off\n");
        else
            fprintf(stderr,
                    "flopmeter run: no trace written in %s: a process writes one only when it "
                    "initialises CUDA, and none of this command's did (or the library disabled "
                    "itself: see its messages above)\n",
                    run_dir);
    } else {
        qsort(names, n, sizeof *names, by_name);
        fprintf(stderr, "flopmeter run: %zu trace%s written in %s%s\n", n, n == 1 ? "" : "s",
                run_dir, n <= 10 ? ":" : "");
        for (size_t i = 0; n <= 10 && i < n; i++)
            fprintf(stderr, "  %s\n", names[i]);
        fprintf(stderr, "flopmeter run: read them with: flopmeter report %s\n", run_dir);
    }
    free(names);
    free_traces(&after);
}

/* ---- the command --------------------------------------------------------------------------- */

/* The command stays in our process group, so that the terminal's Ctrl-C and Ctrl-\ reach it
 * directly; passing those on as well would deliver them twice. Signals sent by a process to
 * us alone (kill, a batch system) are passed on. */
static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
enum { N_FORWARDED = sizeof forwarded / sizeof forwarded[0] };
static volatile sig_atomic_t child_pid;
static struct sigaction saved_actions[N_FORWARDED];
static int caught[N_FORWARDED];

static void forward_signal(int sig, siginfo_t *info, void *uctx)
{
    (void)uctx;
    int saved = errno;
    int from_terminal = info && info->si_code == SI_KERNEL;
    if (child_pid > 0 && !((sig == SIGINT || sig == SIGQUIT) && from_terminal))
        kill((pid_t)child_pid, sig);
    errno = saved;
}

/* A signal ignored when run was started stays ignored, in the command as well (what a shell
 * does: `nohup`, background jobs). */
static void catch_forwarded(void)
{
    for (int i = 0; i < N_FORWARDED; i++) {
        caught[i] = 0;
        if (sigaction(forwarded[i], NULL, &saved_actions[i]) != 0 ||
            saved_actions[i].sa_handler == SIG_IGN)
            continue;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = forward_signal;
        sa.sa_flags = SA_SIGINFO | SA_RESTART;
        sigemptyset(&sa.sa_mask);
        caught[i] = sigaction(forwarded[i], &sa, NULL) == 0;
    }
}

static void restore_forwarded(void)
{
    for (int i = 0; i < N_FORWARDED; i++)
        if (caught[i])
            sigaction(forwarded[i], &saved_actions[i], NULL);
}

static void block_forwarded(sigset_t *old)
{
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < N_FORWARDED; i++)
        sigaddset(&set, forwarded[i]);
    sigprocmask(SIG_BLOCK, &set, old);
}

/* In the child: the dispositions and mask the command should start with, then the command.
 * On failure the errno goes to the parent through the close-on-exec pipe. */
static void exec_child(char **command, const sigset_t *mask, int report_fd)
{
    for (int i = 0; i < N_FORWARDED; i++)
        if (caught[i])
            signal(forwarded[i], SIG_DFL); /* else our handler would run in the child */
    sigprocmask(SIG_SETMASK, mask, NULL);
    execvp(command[0], command);
    int e = errno;
    ssize_t w = write(report_fd, &e, sizeof e);
    (void)w;
    _exit(127);
}

/* The errno of a failed exec, or 0 when the command started. */
static int exec_errno(int fd)
{
    int e = 0;
    ssize_t r;
    while ((r = read(fd, &e, sizeof e)) < 0 && errno == EINTR) {
    }
    return r == (ssize_t)sizeof e ? e : 0;
}

/* Waits for the child; the pid stays reserved (a zombie) until signals can no longer be
 * passed to it, so that a late signal never reaches an unrelated process that reused it. */
static int wait_child(pid_t pid, int *status)
{
    siginfo_t info;
    while (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT) != 0)
        if (errno != EINTR)
            return -1;
    child_pid = 0;
    restore_forwarded();
    while (waitpid(pid, status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return 0;
}

/* Runs the command; returns its exit status as a shell would. *started: whether it ran. */
static int run_command(char **command, int *started)
{
    int pipefd[2];
    *started = 0;
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        run_error("cannot create a pipe: %s", strerror(errno));
        return EXIT_INTERNAL;
    }
    catch_forwarded();
    sigset_t old;
    block_forwarded(&old);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(pipefd[0]);
        exec_child(command, &old, pipefd[1]);
    }
    if (pid > 0)
        child_pid = pid;
    sigprocmask(SIG_SETMASK, &old, NULL);
    close(pipefd[1]);
    if (pid < 0) {
        close(pipefd[0]);
        restore_forwarded();
        run_error("cannot start '%s': %s", command[0], strerror(errno));
        return EXIT_INTERNAL;
    }
    int e = exec_errno(pipefd[0]);
    close(pipefd[0]);
    int status = 0;
    if (wait_child(pid, &status) != 0) {
        run_error("cannot wait for '%s': %s", command[0], strerror(errno));
        return EXIT_INTERNAL;
    }
    if (e) {
        run_error("cannot run '%s': %s", command[0], strerror(e));
        return e == ENOENT ? 127 : 126;
    }
    *started = 1;
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WIFEXITED(status) ? WEXITSTATUS(status) : EXIT_INTERNAL;
}

int cmd_run(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return EXIT_OK;
    }
    run_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc != EXIT_OK)
        return rc;
    char lib[PATH_MAX], run_dir[PATH_MAX * 2];
    fm_hook_config cfg;
    if (find_library(a.lib, lib, sizeof lib) != 0 ||
        prepare_environment(&a, lib, run_dir, sizeof run_dir, &cfg) != 0)
        return EXIT_BAD_INPUT;
    trace_list before;
    list_traces(run_dir, &before);
    int started = 0;
    int status = run_command(a.command, &started);
    if (started && !cfg.quiet)
        print_summary(run_dir, &before, &cfg);
    free_traces(&before);
    return status;
}
