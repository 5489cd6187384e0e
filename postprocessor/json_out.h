/* json_out.h - a streaming JSON writer: values go straight to a FILE, so a dump of a large
 * trace never builds a document in memory. Keys and strings are escaped; 64-bit integers are
 * written exactly; doubles with 17 significant digits so they read back bit for bit. */
#ifndef FM_JSON_OUT_H
#define FM_JSON_OUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 32

typedef struct json_out {
    FILE *f;
    int depth;
    int count[JSON_MAX_DEPTH]; /* values written at each depth, for commas */
    int indent;                /* spaces per level; 0 = compact */
    int max_indent_depth;      /* deeper levels are written compactly */
} json_out;

void json_init(json_out *j, FILE *f, int indent);
/* Values nested deeper than depth stay on one line (a dump: one record per line). */
void json_set_max_indent_depth(json_out *j, int depth);
/* key is NULL inside arrays and at the top level. */
void json_object_begin(json_out *j, const char *key);
void json_object_end(json_out *j);
void json_array_begin(json_out *j, const char *key);
void json_array_end(json_out *j);
void json_string(json_out *j, const char *key, const char *s);
void json_string_n(json_out *j, const char *key, const char *s, size_t len);
void json_u64(json_out *j, const char *key, uint64_t v);
void json_i64(json_out *j, const char *key, int64_t v);
void json_double(json_out *j, const char *key, double v); /* non-finite values become null */
/* Nanoseconds written as microseconds with three exact decimals ("1764151234567890.123"):
 * through a double, a wall-clock time in microseconds keeps only a quarter microsecond. */
void json_ns_as_us(json_out *j, const char *key, uint64_t ns);
void json_bool(json_out *j, const char *key, int v);
void json_null(json_out *j, const char *key);
/* Bytes as a lower-case hex string. */
void json_hex(json_out *j, const char *key, const uint8_t *bytes, size_t n);
/* Ends the document with a newline. */
void json_finish(json_out *j);

#endif
