/* report_format.h - how reports write numbers: operation counts in two significant figures
 * with a power of ten ("2.3×10^25 FLOP", as the EU notification asks), shares, durations. */
#ifndef FM_REPORT_FORMAT_H
#define FM_REPORT_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/* Writes a one-line error into err and returns -1: the report's failing paths end with it. */
int rp_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* "2.3×10^25" (utf8 1) or "2.3e25" (utf8 0); "0" for zero. Returns buf. */
const char *rp_fmt_sci(double v, int digits, int utf8, char *buf, size_t len);
/* A number to 15 significant digits, for messages and tables (a small rotating set of
 * buffers, so a few may appear in one printf). */
const char *rp_fmt_g(double v);
/* v rounded to `digits` significant figures. */
double rp_round_sig(double v, int digits);
/* "12.3%" with sensible precision. */
const char *rp_fmt_percent(double fraction, char *buf, size_t len);
/* Seconds as "3.2 h", "14.1 days". */
const char *rp_fmt_duration(double seconds, char *buf, size_t len);
/* Unix ns as "2026-11-26 18:04:11 UTC" (with_seconds 1) or "2026-11-26 18:04 UTC" (0); "?"
 * when the time cannot be shown. Returns buf. */
const char *rp_fmt_utc(uint64_t unix_ns, int with_seconds, char *buf, size_t len);
/* s, or when it is longer than width its first width - 3 characters and "..." (a width under
 * 4 leaves s whole). Returns buf. */
const char *rp_fmt_clip(const char *s, size_t width, char *buf, size_t len);

#endif
