/* kvfile.h - the small text format of flopmeter's data files (threshold profiles, peak
 * tables) and model specs: sections and `key = value` lines.
 *
 *     # a comment
 *     [threshold systemic]        section type "threshold", name "systemic"
 *     value = 1e25                key "value", value "1e25"
 *
 * Keys and section headers are [A-Za-z0-9_.-]+; values run to the end of the line with
 * surrounding blanks removed. A key before any section belongs to section type "". A key may
 * appear once per section; a section header once per file. Lines are at most 4096 bytes.
 * Parsing is strict: every other line is an error reported as "NAME:LINE: problem". */
#ifndef FM_REPORT_KVFILE_H
#define FM_REPORT_KVFILE_H

#include <stddef.h>

typedef struct kv_entry {
    const char *section_type; /* "" before the first section header */
    const char *section_name; /* "" when the header has no name */
    const char *key;
    const char *value;
    int line;
} kv_entry;

typedef struct kv_file {
    char *name;               /* the file name given to kv_parse, for messages */
    kv_entry *entries;        /* in file order */
    size_t n_entries;
    char **sections;          /* "type name" of each section header, in file order */
    size_t n_sections;
    char *storage;            /* owns every string above */
} kv_file;

/* Parses text[0..len). 0 on success; -1 with a one-line message in err. */
int kv_parse(const char *text, size_t len, const char *name, kv_file *out, char *err,
             size_t errlen);
/* Reads and parses a file (at most 1 MiB). */
int kv_parse_file(const char *path, kv_file *out, char *err, size_t errlen);
void kv_free(kv_file *f);

/* The value of key in the section (type, name), or NULL. */
const char *kv_get(const kv_file *f, const char *section_type, const char *section_name,
                   const char *key);

/* Parses a value as a finite number (plain decimal, exponent, or "a/b" for exact thirds such
 * as "1e25/3"). 0 on success; -1 with "NAME:LINE: KEY: problem" in err. */
int kv_number(const kv_file *f, const kv_entry *e, double *out, char *err, size_t errlen);

/* The entry for key in the section, or NULL (to report errors with its line). */
const kv_entry *kv_find(const kv_file *f, const char *section_type, const char *section_name,
                        const char *key);

#endif
