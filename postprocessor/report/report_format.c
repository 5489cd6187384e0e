/* report_format.c - number formatting for reports (see report_format.h). */
#define _GNU_SOURCE
#include "report_format.h"

#include <stdarg.h>

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

double rp_round_sig(double v, int digits)
{
    if (v == 0 || !isfinite(v))
        return v;
    double e = floor(log10(fabs(v)));
    double scale = pow(10.0, (double)(digits - 1) - e);
    return round(v * scale) / scale;
}

const char *rp_fmt_sci(double v, int digits, int utf8, char *buf, size_t len)
{
    if (!isfinite(v)) {
        snprintf(buf, len, "n/a");
        return buf;
    }
    if (v == 0) {
        snprintf(buf, len, "0");
        return buf;
    }
    double r = rp_round_sig(v, digits);
    int e = (int)floor(log10(fabs(r)));
    double mant = r / pow(10.0, e);
    if (utf8)
        snprintf(buf, len, "%.*f\xc3\x97" "10^%d", digits - 1, mant, e);
    else
        snprintf(buf, len, "%.*fe%d", digits - 1, mant, e);
    return buf;
}

const char *rp_fmt_g(double v)
{
    static _Thread_local char bufs[4][40];
    static _Thread_local int i;
    i = (i + 1) & 3;
    snprintf(bufs[i], sizeof bufs[i], "%.15g", v);
    return bufs[i];
}

const char *rp_fmt_percent(double f, char *buf, size_t len)
{
    double p = f * 100;
    if (!isfinite(p))
        snprintf(buf, len, "n/a");
    else if (p != 0 && fabs(p) < 0.1)
        snprintf(buf, len, "%.2g%%", p);
    else if (fabs(p) < 10)
        snprintf(buf, len, "%.1f%%", p);
    else
        snprintf(buf, len, "%.0f%%", p);
    return buf;
}

const char *rp_fmt_duration(double s, char *buf, size_t len)
{
    if (!isfinite(s))
        snprintf(buf, len, "n/a");
    else if (s < 120)
        snprintf(buf, len, "%.1f s", s);
    else if (s < 7200)
        snprintf(buf, len, "%.1f min", s / 60);
    else if (s < 172800)
        snprintf(buf, len, "%.1f h", s / 3600);
    else
        snprintf(buf, len, "%.1f days", s / 86400);
    return buf;
}

const char *rp_fmt_utc(uint64_t unix_ns, int with_seconds, char *buf, size_t len)
{
    time_t t = (time_t)(unix_ns / 1000000000ull);
    struct tm tm;
    if (!gmtime_r(&t, &tm) ||
        !strftime(buf, len, with_seconds ? "%Y-%m-%d %H:%M:%S UTC" : "%Y-%m-%d %H:%M UTC", &tm))
        snprintf(buf, len, "?");
    return buf;
}

const char *rp_fmt_clip(const char *s, size_t width, char *buf, size_t len)
{
    if (strlen(s) <= width || width < 4)
        snprintf(buf, len, "%s", s);
    else
        snprintf(buf, len, "%.*s...", (int)(width - 3), s);
    return buf;
}

int rp_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}
