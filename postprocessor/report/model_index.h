/* model_index.h - internal to the report model: finding job-wide signatures, call sites,
 * phases and metric groups by their content, and small array helpers. */
#ifndef FM_REPORT_MODEL_INDEX_H
#define FM_REPORT_MODEL_INDEX_H

#include <stdint.h>

#include "report_model.h"

void *rp_index_new(void);
void rp_index_free(void *index);

/* Each returns the index of the matching entry, creating it when there is none; -1 when out
 * of memory. Strings are copied. */
int64_t rp_phase_get(rp_model *m, const char *name, uint32_t category);
int64_t rp_signature_get(rp_model *m, const char *name, size_t name_len, const uint64_t grid[3],
                         const uint64_t block[3], uint64_t shared_mem, uint64_t arg_hash);
int64_t rp_callsite_get(rp_model *m, const rp_frame *frames, uint32_t n_frames);
int64_t rp_group_get(rp_model *m, const char *chip, uint32_t n_metrics, char *const *names,
                     const uint8_t *classes, const double *weights);

/* The (signature, phase) row, created empty when new; -1 when out of memory. */
int64_t rp_sigphase_get(rp_model *m, uint32_t sig, uint32_t phase);

/* Makes room for element n in an array of capacity *cap. 0 or -1. */
int rp_grow(void **arr, uint32_t *cap, uint32_t n, size_t elem);
/* The same with the first capacity given: for the many small arrays of which most hold one or
 * two entries (a signature's metric groups). */
int rp_grow_from(void **arr, uint32_t *cap, uint32_t n, size_t elem, uint32_t first);

/* The bucket holding time t_ns (buckets widen as needed). */
rp_bucket *rp_timeline_at(rp_timeline *tl, uint64_t t_ns);

#endif
