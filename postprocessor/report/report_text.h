/* report_text.h - writes a report for people reading a terminal. */
#ifndef FM_REPORT_TEXT_H
#define FM_REPORT_TEXT_H

#include <stdint.h>
#include <stdio.h>

#include "report.h"

/* colour: ANSI colours (only for a terminal); top: rows in the signature and call-site
 * tables. */
void rp_render_text(const rp_report *r, FILE *f, int colour, uint32_t top);

#endif
