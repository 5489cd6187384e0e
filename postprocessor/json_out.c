/* json_out.c - streaming JSON writer (see json_out.h). */
#include "json_out.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

void json_init(json_out *j, FILE *f, int indent)
{
    memset(j, 0, sizeof *j);
    j->f = f;
    j->indent = indent;
    j->max_indent_depth = JSON_MAX_DEPTH;
}

void json_set_max_indent_depth(json_out *j, int depth)
{
    j->max_indent_depth = depth;
}

static void newline(json_out *j)
{
    if (!j->indent || j->depth > j->max_indent_depth)
        return;
    fputc('\n', j->f);
    for (int i = 0; i < j->depth * j->indent; i++)
        fputc(' ', j->f);
}

/* Length of the valid UTF-8 sequence starting at s (at most len bytes), 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t len)
{
    size_t n = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (n == 0 || n > len || s[0] > 0xf4)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
        (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
        return 0; /* overlong, surrogate or beyond U+10FFFF */
    return n;
}

/* Writes a JSON string. Bytes that are not valid UTF-8 become U+FFFD, so the output is
 * always valid JSON whatever a trace's strings contain. */
static void raw_string(json_out *j, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    fputc('"', j->f);
    for (size_t i = 0; i < len;) {
        unsigned char c = u[i];
        if (c >= 0x80) {
            size_t n = utf8_len(u + i, len - i);
            if (n) {
                fwrite(u + i, 1, n, j->f);
                i += n;
            } else {
                fputs("\\ufffd", j->f);
                i++;
            }
            continue;
        }
        switch (c) {
        case '"': fputs("\\\"", j->f); break;
        case '\\': fputs("\\\\", j->f); break;
        case '\n': fputs("\\n", j->f); break;
        case '\r': fputs("\\r", j->f); break;
        case '\t': fputs("\\t", j->f); break;
        default:
            if (c < 0x20 || c == 0x7f)
                fprintf(j->f, "\\u%04x", c);
            else
                fputc(c, j->f);
        }
        i++;
    }
    fputc('"', j->f);
}

/* Comma, indentation and key before a value. */
static void prefix(json_out *j, const char *key)
{
    if (j->depth < JSON_MAX_DEPTH) {
        if (j->count[j->depth]++)
            fputc(',', j->f);
        if (j->depth > 0)
            newline(j);
    }
    if (key) {
        raw_string(j, key, strlen(key));
        fputs(j->indent ? ": " : ":", j->f);
    }
}

static void open_(json_out *j, const char *key, char c)
{
    prefix(j, key);
    fputc(c, j->f);
    j->depth++;
    if (j->depth < JSON_MAX_DEPTH)
        j->count[j->depth] = 0;
}

static void close_(json_out *j, char c)
{
    int had = j->depth < JSON_MAX_DEPTH && j->count[j->depth] > 0;
    j->depth--;
    if (had)
        newline(j);
    fputc(c, j->f);
}

void json_object_begin(json_out *j, const char *key) { open_(j, key, '{'); }
void json_object_end(json_out *j) { close_(j, '}'); }
void json_array_begin(json_out *j, const char *key) { open_(j, key, '['); }
void json_array_end(json_out *j) { close_(j, ']'); }

void json_string_n(json_out *j, const char *key, const char *s, size_t len)
{
    prefix(j, key);
    raw_string(j, s ? s : "", s ? len : 0);
}

void json_string(json_out *j, const char *key, const char *s)
{
    json_string_n(j, key, s, s ? strlen(s) : 0);
}

void json_u64(json_out *j, const char *key, uint64_t v)
{
    prefix(j, key);
    fprintf(j->f, "%" PRIu64, v);
}

void json_i64(json_out *j, const char *key, int64_t v)
{
    prefix(j, key);
    fprintf(j->f, "%" PRId64, v);
}

void json_double(json_out *j, const char *key, double v)
{
    prefix(j, key);
    if (!isfinite(v))
        fputs("null", j->f);
    else if (v == floor(v) && fabs(v) < 9007199254740992.0)
        fprintf(j->f, "%.0f", v); /* integral values without an exponent */
    else
        fprintf(j->f, "%.17g", v);
}

void json_ns_as_us(json_out *j, const char *key, uint64_t ns)
{
    prefix(j, key);
    if (ns % 1000)
        fprintf(j->f, "%" PRIu64 ".%03u", ns / 1000, (unsigned)(ns % 1000));
    else
        fprintf(j->f, "%" PRIu64, ns / 1000);
}

void json_bool(json_out *j, const char *key, int v)
{
    prefix(j, key);
    fputs(v ? "true" : "false", j->f);
}

void json_null(json_out *j, const char *key)
{
    prefix(j, key);
    fputs("null", j->f);
}

void json_hex(json_out *j, const char *key, const uint8_t *bytes, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    prefix(j, key);
    fputc('"', j->f);
    for (size_t i = 0; i < n; i++) {
        fputc(digits[bytes[i] >> 4], j->f);
        fputc(digits[bytes[i] & 15], j->f);
    }
    fputc('"', j->f);
}

void json_finish(json_out *j)
{
    fputc('\n', j->f);
}
