/* trace_strings.h - the string table of a trace as a reader sees it: STRING records collected
 * while streaming, looked up by id. Memory grows with the distinct strings only. */
#ifndef FLOPMETER_TRACE_STRINGS_H
#define FLOPMETER_TRACE_STRINGS_H

#include <stdint.h>

#include "trace_records.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fm_strings fm_strings;

fm_strings *fm_strings_new(void);
void fm_strings_free(fm_strings *t);
/* Copies the text of a STRING record. 0, FM_E_NOMEM, or FM_E_CORRUPT for a repeated id. */
int fm_strings_add(fm_strings *t, uint64_t id, fm_str text);
/* The string with that id; found is set to 0 (and "" returned) when there is none. */
fm_str fm_strings_get(const fm_strings *t, uint64_t id, int *found);

#ifdef __cplusplus
}
#endif
#endif
