/* report_csv.h - the report as CSV: one row per kernel signature and phase, every figure. */
#ifndef FM_REPORT_CSV_H
#define FM_REPORT_CSV_H

#include <stdio.h>

#include "report.h"

/* Writes the CSV to f. 0, or -1 out of memory, before anything is written. */
int rp_render_csv(const rp_report *r, FILE *f);

#endif
