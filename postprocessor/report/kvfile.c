/* kvfile.c - parser of the sectioned key = value text format (see kvfile.h). */
#define _GNU_SOURCE
#include "kvfile.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINE 4096
#define MAX_FILE (1u << 20)

static int fail(char *err, size_t errlen, const char *name, int line, const char *fmt, ...)
{
    if (!err || !errlen)
        return -1;
    int n = snprintf(err, errlen, "%s:%d: ", name, line);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < errlen)
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

static int is_word_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == '-';
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* Length of the word at p (0 when p does not start one). */
static size_t word_len(const char *p, const char *end)
{
    size_t n = 0;
    while (p + n < end && is_word_char(p[n]))
        n++;
    return n;
}

static const char *skip_blanks(const char *p, const char *end)
{
    while (p < end && is_blank(*p))
        p++;
    return p;
}

void kv_free(kv_file *f)
{
    if (!f)
        return;
    free(f->name);
    free(f->entries);
    free(f->sections);
    free(f->storage);
    memset(f, 0, sizeof *f);
}

/* Copies n bytes into the storage arena and terminates them. The arena was sized for the
 * whole input, so this never reallocates. */
static char *store(char **cursor, const char *p, size_t n)
{
    char *s = *cursor;
    memcpy(s, p, n);
    s[n] = '\0';
    *cursor += n + 1;
    return s;
}

int kv_parse(const char *text, size_t len, const char *name, kv_file *out, char *err,
             size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!name)
        name = "(data)";
    if (len > MAX_FILE)
        return fail(err, errlen, name, 0, "larger than 1 MiB");
    if (memchr(text, '\0', len))
        return fail(err, errlen, name, 0, "contains a NUL byte: not a text file");
    /* Upper bounds: every line gives at most one entry or section, and every stored string
     * comes from the input, plus its terminator. Two section words per header, "type name". */
    size_t lines = 1;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    out->name = strdup(name);
    out->entries = calloc(lines, sizeof *out->entries);
    out->sections = calloc(lines, sizeof *out->sections);
    out->storage = malloc(2 * len + 4 * lines + 16);
    if (!out->name || !out->entries || !out->sections || !out->storage) {
        kv_free(out);
        return fail(err, errlen, name, 0, "out of memory");
    }
    char *cursor = out->storage;
    const char *cur_type = store(&cursor, "", 0), *cur_name = cur_type;
    const char *p = text, *end = text + len;
    for (int line = 1; p < end || line == 1; line++) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        if (eol - p > MAX_LINE) {
            kv_free(out);
            return fail(err, errlen, name, line, "line longer than %d bytes", MAX_LINE);
        }
        const char *q = skip_blanks(p, eol);
        if (q == eol || *q == '#') {
            /* blank or comment */
        } else if (*q == '[') {
            q = skip_blanks(q + 1, eol);
            size_t tl = word_len(q, eol);
            const char *t = q;
            q = skip_blanks(q + tl, eol);
            size_t nl = word_len(q, eol);
            const char *nm = q;
            q = skip_blanks(q + nl, eol);
            if (tl == 0 || q == eol || *q != ']' || skip_blanks(q + 1, eol) != eol) {
                kv_free(out);
                return fail(err, errlen, name, line, "malformed section header (expected "
                                                      "[type] or [type name])");
            }
            cur_type = store(&cursor, t, tl);
            cur_name = store(&cursor, nm, nl);
            /* "type name", built from the input bytes (not from the copies above) */
            char *both = cursor;
            memcpy(cursor, t, tl);
            cursor[tl] = ' ';
            memcpy(cursor + tl + 1, nm, nl);
            cursor[tl + 1 + nl] = '\0';
            cursor += tl + nl + 2;
            for (size_t i = 0; i < out->n_sections; i++) {
                if (strcmp(out->sections[i], both) == 0) {
                    fail(err, errlen, name, line, "section [%s%s%s] appears twice", cur_type,
                         *cur_name ? " " : "", cur_name);
                    kv_free(out); /* after the message: it names strings kv_free releases */
                    return -1;
                }
            }
            out->sections[out->n_sections++] = both;
        } else {
            size_t kl = word_len(q, eol);
            const char *k = q;
            q = skip_blanks(q + kl, eol);
            if (kl == 0 || q == eol || *q != '=') {
                kv_free(out);
                return fail(err, errlen, name, line, "expected 'key = value'");
            }
            const char *v = skip_blanks(q + 1, eol), *ve = eol;
            while (ve > v && is_blank(ve[-1]))
                ve--;
            kv_entry *e = &out->entries[out->n_entries];
            e->section_type = cur_type;
            e->section_name = cur_name;
            e->key = store(&cursor, k, kl);
            e->value = store(&cursor, v, (size_t)(ve - v));
            e->line = line;
            if (kv_find(out, cur_type, cur_name, e->key)) {
                int first = kv_find(out, cur_type, cur_name, e->key)->line;
                kv_free(out);
                return fail(err, errlen, name, line, "key appears twice in its section (first "
                                                      "on line %d)",
                            first);
            }
            out->n_entries++;
        }
        if (eol == end)
            break;
        p = eol + 1;
    }
    return 0;
}

int kv_parse_file(const char *path, kv_file *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f)
        return fail(err, errlen, path, 0, "cannot open: %s", strerror(errno));
    char *buf = malloc(MAX_FILE + 1);
    if (!buf) {
        fclose(f);
        return fail(err, errlen, path, 0, "out of memory");
    }
    size_t n = fread(buf, 1, MAX_FILE + 1, f);
    int read_error = ferror(f);
    fclose(f);
    int rc;
    if (read_error)
        rc = fail(err, errlen, path, 0, "read error");
    else if (n > MAX_FILE)
        rc = fail(err, errlen, path, 0, "larger than 1 MiB");
    else
        rc = kv_parse(buf, n, path, out, err, errlen);
    free(buf);
    return rc;
}

const kv_entry *kv_find(const kv_file *f, const char *section_type, const char *section_name,
                        const char *key)
{
    for (size_t i = 0; i < f->n_entries; i++) {
        const kv_entry *e = &f->entries[i];
        if (strcmp(e->key, key) == 0 && strcmp(e->section_type, section_type) == 0 &&
            strcmp(e->section_name, section_name) == 0)
            return e;
    }
    return NULL;
}

const char *kv_get(const kv_file *f, const char *section_type, const char *section_name,
                   const char *key)
{
    const kv_entry *e = kv_find(f, section_type, section_name, key);
    return e ? e->value : NULL;
}

/* A plain decimal number with optional sign and exponent; no hex, inf or nan. */
static int parse_decimal(const char *s, const char *end, double *out)
{
    const char *p = s;
    if (p < end && (*p == '+' || *p == '-'))
        p++;
    int digits = 0;
    while (p < end && ((*p >= '0' && *p <= '9') || *p == '.')) {
        digits += *p != '.';
        p++;
    }
    if (!digits)
        return -1;
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p == end || *p < '0' || *p > '9')
            return -1;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p != end)
        return -1;
    char buf[128];
    size_t n = (size_t)(end - s);
    if (n >= sizeof buf)
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *stop = NULL;
    errno = 0;
    double v = strtod(buf, &stop);
    if (*stop || errno == ERANGE || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

int kv_number(const kv_file *f, const kv_entry *e, double *out, char *err, size_t errlen)
{
    const char *v = e->value, *end = v + strlen(v);
    const char *slash = strchr(v, '/');
    double a, b = 1.0;
    int bad = slash ? parse_decimal(v, slash, &a) || parse_decimal(slash + 1, end, &b) || b == 0
                    : parse_decimal(v, end, &a);
    if (bad || !isfinite(a / b))
        return fail(err, errlen, f->name, e->line, "%s: '%s' is not a number", e->key, v);
    *out = a / b;
    return 0;
}
