/* totals.c - per-class sums of AGGREGATE records (see trace_totals.h). */
#include "flopmeter/trace_totals.h"

#include <string.h>

void fm_totals_init(fm_totals *t)
{
    memset(t, 0, sizeof *t);
}

void fm_totals_add_aggregate(fm_totals *t, const fm_rec_aggregate *a)
{
    if (t->launches + a->launches < t->launches)
        t->launches_overflow = 1;
    t->launches += a->launches;
    for (uint64_t i = 0; i < a->n_classes; i++) {
        uint8_t c = a->classes[i].precision_class;
        t->measured[c] += a->classes[i].measured;
        t->extrapolated[c] += a->classes[i].extrapolated;
        t->present[c] = 1;
    }
}

uint64_t fm_totals_classes(const fm_totals *t, fm_class_flop *out)
{
    uint64_t n = 0;
    for (unsigned c = 0; c < 256; c++) {
        if (!t->present[c])
            continue;
        out[n].precision_class = (uint8_t)c;
        out[n].measured = t->measured[c];
        out[n].extrapolated = t->extrapolated[c];
        n++;
    }
    return n;
}
