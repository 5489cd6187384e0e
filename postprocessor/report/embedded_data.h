/* embedded_data.h - the data files (data/thresholds, data/peaks) built into the command by
 * cmake/embed_data.cmake, so that it needs no installed data to work. */
#ifndef FM_REPORT_EMBEDDED_DATA_H
#define FM_REPORT_EMBEDDED_DATA_H

#include <stddef.h>

typedef struct fm_embedded_file {
    const char *kind; /* "thresholds" or "peaks" */
    const char *name; /* e.g. "data/thresholds/california-sb53.ini" */
    const char *text;
    size_t len;
} fm_embedded_file;

extern const fm_embedded_file fm_embedded_files[];
extern const size_t fm_embedded_count;

#endif
