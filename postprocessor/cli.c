/* cli.c - shared conventions of the `flopmeter` verbs (see cli.h). */
#define _GNU_SOURCE
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flopmeter/trace_status.h"

void cli_error(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* one line, whatever the message contained */
    for (char *p = line; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    fflush(stdout);
    fprintf(stderr, "flopmeter: %s\n", line);
}

int cli_exit_for_status(int status)
{
    switch (status) {
    case FM_OK:
    case FM_END:
        return EXIT_OK;
    case FM_E_NOMEM:
        return EXIT_INTERNAL;
    default:
        return EXIT_BAD_INPUT;
    }
}

int cli_parse_u64(const char *option, const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    if (!text || !*text || *text == '-' || *text == '+') {
        cli_error("%s: '%s' is not a non-negative integer", option, text ? text : "");
        return -1;
    }
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || *end) {
        cli_error("%s: '%s' is not a non-negative integer", option, text);
        return -1;
    }
    if (v < min || v > max) {
        cli_error("%s: %llu is outside %llu..%llu", option, v, (unsigned long long)min,
                  (unsigned long long)max);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_double(const char *option, const char *text, double min, double max, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = text && *text ? strtod(text, &end) : NAN;
    if (!text || !*text || errno || *end || !isfinite(v)) {
        cli_error("%s: '%s' is not a number", option, text ? text : "");
        return -1;
    }
    if (v < min || v > max) {
        cli_error("%s: %g is outside %g..%g", option, v, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return 0;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    }
    return 0;
}

void cli_hex(const uint8_t *bytes, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

void cli_iso_time(uint64_t unix_ns, char *out, size_t len)
{
    time_t secs = (time_t)(unix_ns / 1000000000ull);
    unsigned ms = (unsigned)(unix_ns % 1000000000ull / 1000000ull);
    struct tm tm;
    if (!gmtime_r(&secs, &tm)) {
        snprintf(out, len, "?");
        return;
    }
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, len, "%s.%03uZ", base, ms);
}
