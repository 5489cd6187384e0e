/* range_profiler.h - the counter backend over CUPTI's range profiler (see range_profiler.c). */
#ifndef FM_HOOK_RANGE_PROFILER_H
#define FM_HOOK_RANGE_PROFILER_H

#include "counter_backend.h"

/* NULL when the CUPTI in use lacks the range profiler or its host API (older than 12.6). */
const fm_counter_backend *fm_range_profiler_backend(void);

#endif
