/* trace_paths.h - what the verbs that read many traces share: expanding directories into the
 * traces they hold, and a progress line on stderr for long runs. */
#ifndef FM_TRACE_PATHS_H
#define FM_TRACE_PATHS_H

#include <stddef.h>

/* Replaces each directory among args by its *.fmtrace files, sorted by name. The result owns
 * its strings (fm_free_trace_paths). 0, or -1 with a message. */
int fm_expand_trace_paths(char *const *args, int n_args, char ***out, int *n_out, char *err,
                          size_t errlen);
void fm_free_trace_paths(char **paths, int n);

/* "reading 12 of 1024: PATH" on stderr, redrawn in place, only when stderr is a terminal
 * and the run has more than one trace. */
void fm_progress(int done, int total, const char *path);
/* Clears the progress line. */
void fm_progress_done(void);

#endif
