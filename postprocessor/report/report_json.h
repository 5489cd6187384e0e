/* report_json.h - writes a report as JSON in the versioned schema of docs/report-schema.md. */
#ifndef FM_REPORT_JSON_H
#define FM_REPORT_JSON_H

#include <stdio.h>

#include "report.h"

#define RP_JSON_SCHEMA "flopmeter-report/1"

void rp_render_json(const rp_report *r, FILE *f);

#endif
