/* record_fields.h - walks the fields of a decoded record in their on-disk order and hands each
 * to a sink, so the text and JSON forms of `flopmeter dump` come from one description of the
 * records. */
#ifndef FM_RECORD_FIELDS_H
#define FM_RECORD_FIELDS_H

#include <stddef.h>
#include <stdint.h>

#include "flopmeter/trace_records.h"

typedef struct field_sink {
    void (*u64)(void *ctx, const char *name, uint64_t v);
    void (*i64)(void *ctx, const char *name, int64_t v);
    void (*f64)(void *ctx, const char *name, double v);
    void (*str)(void *ctx, const char *name, fm_str s);       /* inline text */
    void (*strref)(void *ctx, const char *name, uint64_t id); /* id of a STRING record */
    void (*hex)(void *ctx, const char *name, const uint8_t *bytes, size_t n);
    /* an enumeration: its number and its name */
    void (*enumeration)(void *ctx, const char *name, uint64_t v, const char *label);
    void (*list_begin)(void *ctx, const char *name);
    void (*list_end)(void *ctx);
    /* a list item: is_object says whether it holds named fields or one bare value */
    void (*item_begin)(void *ctx, int is_object);
    void (*item_end)(void *ctx, int is_object);
} field_sink;

void record_visit(const fm_record *rec, const field_sink *sink, void *ctx);

#endif
