/* hook_config.h - the hook's configuration, read from FLOPMETER_* environment variables
 * (docs/hook.md lists them). Parsing never exits and never touches CUDA: an invalid value is
 * reported in one line and the hook disables itself, unless FLOPMETER_STRICT=1 asks to stop
 * the program instead (for CI jobs that must not run unmeasured). */
#ifndef FM_HOOK_CONFIG_H
#define FM_HOOK_CONFIG_H

#include <stddef.h>
#include <stdint.h>

typedef enum fm_hook_mode {
    FM_MODE_OFF = 0,      /* do nothing at all */
    FM_MODE_LAUNCHES = 1, /* see every launch, count and time it; no hardware counters */
} fm_hook_mode;

typedef struct fm_hook_config {
    fm_hook_mode mode;
    char output_dir[1024];     /* FLOPMETER_OUTPUT_DIR, default "flopmeter-traces" */
    char run_id[128];          /* FLOPMETER_RUN_ID; else from the launcher; else generated */
    uint32_t flush_ms;         /* FLOPMETER_FLUSH_MS: data at risk at most, default 1000 */
    uint32_t interval_ms;      /* FLOPMETER_INTERVAL_MS: aggregation interval, default 1000 */
    int fsync;                 /* FLOPMETER_FSYNC: fsync every chunk, default 0 */
    int strict;                /* FLOPMETER_STRICT: fail fast instead of degrading */
    int callstacks;            /* FLOPMETER_CALLSTACKS: native stack of first launches, 1 */
    int quiet;                 /* FLOPMETER_QUIET: no informational line on stderr, 0 */
    uint32_t max_signatures;   /* FLOPMETER_MAX_SIGNATURES, default 65536 */
    int hash_args;             /* FLOPMETER_ARGS: argument bytes in signatures, default 1 */
    uint32_t arg_variants;     /* FLOPMETER_ARG_VARIANTS: per function before folding, 64 */
    /* Hardware counters (docs/hook.md, "Counting FLOP"). */
    int profile;               /* FLOPMETER_PROFILE: off, sampled or exact (fm_profile_mode,
                                  sampler.h); default sampled */
    double profile_budget;     /* FLOPMETER_PROFILE_BUDGET: share of wall time, default 0.02 */
    uint32_t profile_first;    /* FLOPMETER_PROFILE_FIRST: reads of each metric group on a new
                                  signature's first launches, default 2 */
    int profile_replay_first;  /* FLOPMETER_PROFILE_REPLAY_FIRST: a new signature's first
                                  launch measured in every group (replay), default 0 */
    char profile_skip[256];    /* FLOPMETER_PROFILE_SKIP: comma-separated substrings of kernel
                                  names never measured (kernels that wait for other kernels,
                                  which a serialising measurement would deadlock), "nccl";
                                  set but empty: "", no kernel skipped */
    int arg_learn;             /* FLOPMETER_ARG_LEARN: learn per kernel family whether its
                                  arguments decide its work, default 1 */
} fm_hook_config;

/* Reads the configuration from getenv. Returns 0, or -1 with a one-line message in err
 * naming the variable and the value; the defaults are then in *c. */
int fm_hook_config_read(fm_hook_config *c, char *err, size_t errlen);

/* Whether kernel_name contains one of the names of a FLOPMETER_PROFILE_SKIP list (names
 * separated by single commas, as fm_hook_config_read accepts them; "" names none). */
int fm_hook_config_skips(const char *list, const char *kernel_name);

/* The same from an explicit lookup function (tests). */
int fm_hook_config_parse(fm_hook_config *c, const char *(*lookup)(const char *name, void *ctx),
                         void *ctx, char *err, size_t errlen);

/* The effective configuration as key/value pairs for the trace's RUN_META (n <= 16). */
#define FM_CONFIG_VALUE_LEN 1040
size_t fm_hook_config_entries(const fm_hook_config *c, char keys[][32], char values[][FM_CONFIG_VALUE_LEN],
                              size_t max);

#endif
