/* hook_config.c - FLOPMETER_* variables (see hook_config.h). */
#define _GNU_SOURCE
#include "hook_config.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sampler.h"

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    /* the message quotes the value, which may hold a newline or an escape sequence: the
     * message must stay one line on the program's stderr */
    for (char *p = err; errlen && *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    return -1;
}

static int parse_bool(const char *name, const char *v, int *out, char *err, size_t errlen)
{
    if (!strcmp(v, "1") || !strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "on")) {
        *out = 1;
        return 0;
    }
    if (!strcmp(v, "0") || !strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "off")) {
        *out = 0;
        return 0;
    }
    return fail(err, errlen, "%s='%s': expected 1 or 0", name, v);
}

static int parse_u32(const char *name, const char *v, uint32_t min, uint32_t max, uint32_t *out,
                     char *err, size_t errlen)
{
    char *end = NULL;
    errno = 0;
    /* digits only: strtoull alone would take leading blanks, a sign ("-1" wraps around) */
    int digit = *v >= '0' && *v <= '9';
    unsigned long long x = digit ? strtoull(v, &end, 10) : 0;
    if (!digit || errno || *end || x < min || x > max)
        return fail(err, errlen, "%s='%s': expected a whole number from %u to %u", name, v, min,
                    max);
    *out = (uint32_t)x;
    return 0;
}

static int parse_text(const char *name, const char *v, char *out, size_t len, int allow_slash,
                      char *err, size_t errlen)
{
    if (!*v || strlen(v) >= len)
        return fail(err, errlen, "%s: empty or longer than %zu bytes", name, len - 1);
    for (const char *p = v; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f || (!allow_slash && *p == '/'))
            return fail(err, errlen, "%s='%s': %s", name, v,
                        allow_slash ? "control characters are not allowed"
                                    : "only a name (no '/' or control characters)");
    memcpy(out, v, strlen(v) + 1);
    return 0;
}

/* A share of wall time, 0 < b <= 1, written as a decimal number ("0.02", ".5", "1e-3").
 * strtod alone would also take leading blanks, a sign, hexadecimal, "inf" and "nan", and read
 * the decimal point of the program's locale (a program that set LC_NUMERIC to de_DE would
 * turn "0.02" into an error): only digits, '.', an exponent, and the C locale's point. */
static int parse_share(const char *name, const char *v, double *out, char *err, size_t errlen)
{
    int ok = (*v >= '0' && *v <= '9') || *v == '.';
    for (const char *p = v; ok && *p; p++)
        ok = strchr("0123456789.eE+-", *p) != NULL;
    double x = 0;
    char *end = NULL;
    if (ok) {
        locale_t c_numeric = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
        errno = 0;
        x = c_numeric ? strtod_l(v, &end, c_numeric) : strtod(v, &end);
        ok = end != v && !*end && errno == 0;
        if (c_numeric)
            freelocale(c_numeric);
    }
    /* !(x > 0): also refuses a NaN, should one ever get through */
    if (!ok || !isfinite(x) || !(x > 0) || x > 1)
        return fail(err, errlen, "%s='%s': expected a number greater than 0 and at most 1",
                    name, v);
    *out = x;
    return 0;
}

static int parse_profile(const char *v, int *out, char *err, size_t errlen)
{
    static const struct {
        const char *name;
        fm_profile_mode mode;
    } modes[] = {{"off", FM_PROFILE_OFF}, {"sampled", FM_PROFILE_SAMPLED},
                 {"exact", FM_PROFILE_EXACT}};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        if (!strcmp(v, modes[i].name)) {
            *out = (int)modes[i].mode;
            return 0;
        }
    }
    return fail(err, errlen, "FLOPMETER_PROFILE='%s': expected sampled, exact or off", v);
}

static const char *profile_name(int profile)
{
    return profile == FM_PROFILE_OFF     ? "off"
           : profile == FM_PROFILE_EXACT ? "exact"
                                         : "sampled";
}

/* Comma-separated substrings of kernel names. Set but empty, it names none: every kernel may
 * be measured (the default, "nccl", is what a user turns off this way). An empty item is
 * refused rather than dropped: as a substring it would match every kernel, and a stray comma
 * ("nccl,") must not quietly mean either that or nothing. */
static int parse_skip_list(const char *name, const char *v, char *out, size_t len, char *err,
                           size_t errlen)
{
    if (strlen(v) >= len)
        return fail(err, errlen, "%s: longer than %zu bytes", name, len - 1);
    for (const char *p = v; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return fail(err, errlen, "%s='%s': control characters are not allowed", name, v);
    if (*v && (v[0] == ',' || v[strlen(v) - 1] == ',' || strstr(v, ",,")))
        return fail(err, errlen,
                    "%s='%s': an empty name in the list (it would match every kernel); "
                    "expected names separated by single commas, or nothing at all",
                    name, v);
    memcpy(out, v, strlen(v) + 1);
    return 0;
}

int fm_hook_config_skips(const char *list, const char *kernel_name)
{
    if (!list || !kernel_name)
        return 0;
    size_t name_len = strlen(kernel_name);
    for (const char *item = list; *item;) {
        size_t len = strcspn(item, ",");
        if (len && memmem(kernel_name, name_len, item, len))
            return 1;
        item += len;
        if (*item == ',')
            item++;
    }
    return 0;
}

static void defaults(fm_hook_config *c)
{
    memset(c, 0, sizeof *c);
    c->mode = FM_MODE_LAUNCHES;
    snprintf(c->output_dir, sizeof c->output_dir, "flopmeter-traces");
    c->flush_ms = 1000;
    c->interval_ms = 1000;
    c->callstacks = 1;
    c->max_signatures = 65536;
    c->hash_args = 1;
    c->arg_variants = 64;
    c->profile = FM_PROFILE_SAMPLED;
    c->profile_budget = 0.02;
    c->profile_first = 2;
    c->profile_replay_first = 0;
    snprintf(c->profile_skip, sizeof c->profile_skip, "nccl");
    c->arg_learn = 1;
}

int fm_hook_config_parse(fm_hook_config *c, const char *(*lookup)(const char *, void *),
                         void *ctx, char *err, size_t errlen)
{
    defaults(c);
    fm_hook_config x = *c;
    const char *v;
    int rc = 0;
    if (!rc && (v = lookup("FLOPMETER_MODE", ctx))) {
        if (!strcmp(v, "off"))
            x.mode = FM_MODE_OFF;
        else if (!strcmp(v, "launches"))
            x.mode = FM_MODE_LAUNCHES;
        else
            rc = fail(err, errlen, "FLOPMETER_MODE='%s': expected launches or off", v);
    }
    if (!rc && (v = lookup("FLOPMETER_OUTPUT_DIR", ctx)))
        rc = parse_text("FLOPMETER_OUTPUT_DIR", v, x.output_dir, sizeof x.output_dir, 1, err,
                        errlen);
    if (!rc && (v = lookup("FLOPMETER_RUN_ID", ctx)))
        rc = parse_text("FLOPMETER_RUN_ID", v, x.run_id, sizeof x.run_id, 0, err, errlen);
    if (!rc && (v = lookup("FLOPMETER_FLUSH_MS", ctx)))
        rc = parse_u32("FLOPMETER_FLUSH_MS", v, 10, 3600000, &x.flush_ms, err, errlen);
    if (!rc && (v = lookup("FLOPMETER_INTERVAL_MS", ctx)))
        rc = parse_u32("FLOPMETER_INTERVAL_MS", v, 10, 3600000, &x.interval_ms, err, errlen);
    if (!rc && (v = lookup("FLOPMETER_FSYNC", ctx)))
        rc = parse_bool("FLOPMETER_FSYNC", v, &x.fsync, err, errlen);
    if (!rc && (v = lookup("FLOPMETER_STRICT", ctx)))
        rc = parse_bool("FLOPMETER_STRICT", v, &x.strict, err, errlen);
    if (!rc && (v = lookup("FLOPMETER_CALLSTACKS", ctx)))
        rc = parse_bool("FLOPMETER_CALLSTACKS", v, &x.callstacks, err, errlen);
    if (!rc && (v = lookup("FLOPMETER_QUIET", ctx)))
        rc = parse_bool("FLOPMETER_QUIET", v, &x.quiet, err, errlen);
    if (!rc && (v = lookup("FLOPMETER_MAX_SIGNATURES", ctx)))
        rc = parse_u32("FLOPMETER_MAX_SIGNATURES", v, 16, 1u << 24, &x.max_signatures, err,
                       errlen);
    if (!rc && (v = lookup("FLOPMETER_ARGS", ctx)))
        rc = parse_bool("FLOPMETER_ARGS", v, &x.hash_args, err, errlen);
    if (!rc && (v = lookup("FLOPMETER_ARG_VARIANTS", ctx)))
        rc = parse_u32("FLOPMETER_ARG_VARIANTS", v, 1, 1u << 24, &x.arg_variants, err, errlen);
    /* the counters only: FLOPMETER_MODE=off still switches everything off, whatever these say */
    if (!rc && (v = lookup("FLOPMETER_PROFILE", ctx)))
        rc = parse_profile(v, &x.profile, err, errlen);
    if (!rc && (v = lookup("FLOPMETER_PROFILE_BUDGET", ctx)))
        rc = parse_share("FLOPMETER_PROFILE_BUDGET", v, &x.profile_budget, err, errlen);
    if (!rc && (v = lookup("FLOPMETER_PROFILE_FIRST", ctx)))
        rc = parse_u32("FLOPMETER_PROFILE_FIRST", v, 1, 1000000, &x.profile_first, err, errlen);
    if (!rc && (v = lookup("FLOPMETER_PROFILE_REPLAY_FIRST", ctx)))
        rc = parse_bool("FLOPMETER_PROFILE_REPLAY_FIRST", v, &x.profile_replay_first, err,
                        errlen);
    if (!rc && (v = lookup("FLOPMETER_PROFILE_SKIP", ctx)))
        rc = parse_skip_list("FLOPMETER_PROFILE_SKIP", v, x.profile_skip, sizeof x.profile_skip,
                             err, errlen);
    if (!rc && (v = lookup("FLOPMETER_ARG_LEARN", ctx)))
        rc = parse_bool("FLOPMETER_ARG_LEARN", v, &x.arg_learn, err, errlen);
    if (rc == 0) {
        *c = x;
    } else if ((v = lookup("FLOPMETER_STRICT", ctx))) {
        /* strictness applies to the error being reported, in any spelling parse_bool takes */
        int strict = 0;
        char ignored[8];
        if (parse_bool("FLOPMETER_STRICT", v, &strict, ignored, sizeof ignored) == 0)
            c->strict = strict;
    }
    return rc;
}

static const char *from_env(const char *name, void *ctx)
{
    (void)ctx;
    const char *v = getenv(name);
    return v; /* read only: never modified, never tokenised in place */
}

int fm_hook_config_read(fm_hook_config *c, char *err, size_t errlen)
{
    return fm_hook_config_parse(c, from_env, NULL, err, errlen);
}

/* The budget as the shortest decimal that reads back as the same double, with a '.' whatever
 * the program's locale: RUN_META is read on other machines. */
static void format_share(double x, char *out, size_t len)
{
    locale_t c_numeric = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    locale_t old = c_numeric ? uselocale(c_numeric) : (locale_t)0;
    snprintf(out, len, "%.15g", x);
    if (strtod(out, NULL) != x)
        snprintf(out, len, "%.17g", x);
    if (c_numeric) {
        uselocale(old);
        freelocale(c_numeric);
    }
}

size_t fm_hook_config_entries(const fm_hook_config *c, char keys[][32], char values[][FM_CONFIG_VALUE_LEN],
                              size_t max)
{
    size_t n = 0;
#define ENTRY(k, ...)                                                                          \
    do {                                                                                       \
        if (n < max) {                                                                         \
            snprintf(keys[n], 32, "%s", k);                                                    \
            snprintf(values[n], FM_CONFIG_VALUE_LEN, __VA_ARGS__);                            \
            n++;                                                                               \
        }                                                                                      \
    } while (0)
    ENTRY("mode", "%s", c->mode == FM_MODE_OFF ? "off" : "launches");
    ENTRY("output_dir", "%s", c->output_dir);
    ENTRY("flush_ms", "%u", c->flush_ms);
    ENTRY("interval_ms", "%u", c->interval_ms);
    ENTRY("fsync", "%d", c->fsync);
    ENTRY("strict", "%d", c->strict);
    ENTRY("callstacks", "%d", c->callstacks);
    ENTRY("max_signatures", "%u", c->max_signatures);
    ENTRY("args", "%d", c->hash_args);
    ENTRY("arg_variants", "%u", c->arg_variants);
    char budget[40];
    format_share(c->profile_budget, budget, sizeof budget);
    ENTRY("profile", "%s", profile_name(c->profile));
    ENTRY("profile_budget", "%s", budget);
    ENTRY("profile_first", "%u", c->profile_first);
    ENTRY("profile_replay_first", "%d", c->profile_replay_first);
    ENTRY("profile_skip", "%s", c->profile_skip);
    ENTRY("arg_learn", "%d", c->arg_learn);
#undef ENTRY
    return n;
}
