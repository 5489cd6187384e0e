/* trace_totals.h - per-class sums of AGGREGATE records.
 *
 * The writer uses these sums for the FINAL record and the verifier recomputes them from the
 * records it reads; both add in record order with this one function, so an untouched trace
 * reproduces the FINAL figures bit for bit. */
#ifndef FLOPMETER_TRACE_TOTALS_H
#define FLOPMETER_TRACE_TOTALS_H

#include <stdint.h>

#include "trace_records.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fm_totals {
    uint64_t launches;
    double measured[256];
    double extrapolated[256];
    uint8_t present[256]; /* 1 when the class appeared in any record */
    int launches_overflow; /* the launch count passed 2^64 (only a forged trace can do that) */
} fm_totals;

void fm_totals_init(fm_totals *t);
void fm_totals_add_aggregate(fm_totals *t, const fm_rec_aggregate *a);
/* Writes the present classes in ascending order into out (room for 256); returns the count. */
uint64_t fm_totals_classes(const fm_totals *t, fm_class_flop *out);

#ifdef __cplusplus
}
#endif
#endif
