/* report_html.h - the report as one self-contained HTML file with inline SVG charts. */
#ifndef FM_REPORT_HTML_H
#define FM_REPORT_HTML_H

#include <stdint.h>
#include <stdio.h>

#include "report.h"

/* top: rows of the kernel and call-site charts. */
void rp_render_html(const rp_report *r, FILE *f, uint32_t top);

#endif
