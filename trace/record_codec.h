/* record_codec.h - encodes records into chunk payloads and decodes them back; the single
 * implementation of the record layouts in docs/trace-format.md. */
#ifndef FM_TRACE_RECORD_CODEC_H
#define FM_TRACE_RECORD_CODEC_H

#include "bytebuf.h"
#include "wire.h"
#include "flopmeter/trace_records.h"

/* Checks a record's fields for consistency. strict (writers, and readers of files of this or an
 * older minor version) also refuses enumeration values this version does not define; in files
 * of a newer minor version those pass. Returns 0, or a negative status with *why set to a
 * static explanation. */
int fm_record_check(const fm_record *rec, int strict, const char **why);

/* Appends the envelope and body of rec to out, using body as scratch. Checks the record
 * (strictly) first. */
int fm_record_encode(const fm_record *rec, fm_bytebuf *body, fm_bytebuf *out, const char **why);

/* Decodes the next record from a payload cursor. Arrays inside the record are placed in arena
 * (reset by this call). file_minor is the minor version of the trace: unknown record kinds,
 * unknown enumeration values and fields beyond the ones this reader knows are allowed only
 * when it is newer than FM_FORMAT_MINOR. A record of an unknown kind is returned with its raw
 * body in u.unknown_body. */
int fm_record_decode(fm_dec *payload, unsigned file_minor, fm_bytebuf *arena, fm_record *out,
                     const char **why);

#endif
