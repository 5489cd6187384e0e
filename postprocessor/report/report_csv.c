/* report_csv.c - one row per (kernel signature, phase) with every figure the report has for
 * it (RFC 4180: comma-separated, fields with commas, quotes or line breaks quoted). Rows are
 * ordered like the report's signature table, then by phase. Formats figures of the model and
 * the report; computes none beyond sums of a row's own numbers. */
#define _GNU_SOURCE
#include "report_csv.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static void field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            fputc('"', f);
        fputc(*p, f);
    }
    fputc('"', f);
}

static const char *const columns[] = {
    "kernel", "grid_x", "grid_y", "grid_z", "block_x", "block_y", "block_z",
    "shared_mem_dynamic", "arg_hash", "callsite", "phase", "category", "launches",
    "launches_measured", "launches_extrapolated", "launches_unmeasured", "busy_seconds",
    "flop_measured", "flop_extrapolated", "flop", "integer_ops_measured",
    "integer_ops_extrapolated", "share_of_executed_flop"};

/* Rows of one signature, in phase order. */
static int by_phase(const void *a, const void *b)
{
    const rp_sigphase *x = *(const rp_sigphase *const *)a, *y = *(const rp_sigphase *const *)b;
    return (x->phase > y->phase) - (x->phase < y->phase);
}

/* The rows in the report's signature order, then by phase (a counting sort by the rank of
 * each row's signature). NULL when out of memory. */
static const rp_sigphase **ordered_rows(const rp_report *r)
{
    const rp_model *m = r->m;
    uint32_t *rank = calloc(m->n_sigs + 1, sizeof *rank);
    const rp_sigphase **rows = calloc(m->n_sigphases + 1, sizeof *rows);
    uint32_t *start = calloc(m->n_sigs + 2, sizeof *start);
    uint32_t *fill = calloc(m->n_sigs + 1, sizeof *fill);
    if (rank && rows && start && fill) {
        for (uint32_t i = 0; i < m->n_sigs; i++)
            rank[r->sig_order[i]] = i;
        for (uint32_t i = 0; i < m->n_sigphases; i++)
            start[rank[m->sigphases[i].sig] + 1]++;
        for (uint32_t i = 0; i < m->n_sigs; i++)
            start[i + 1] += start[i];
        for (uint32_t i = 0; i < m->n_sigphases; i++) {
            uint32_t k = rank[m->sigphases[i].sig];
            rows[start[k] + fill[k]++] = &m->sigphases[i];
        }
        for (uint32_t k = 0; k < m->n_sigs; k++)
            qsort(rows + start[k], start[k + 1] - start[k], sizeof *rows, by_phase);
    } else {
        free(rows);
        rows = NULL;
    }
    free(rank);
    free(start);
    free(fill);
    return rows;
}

static void write_row(const rp_report *r, const rp_sigphase *row, FILE *f)
{
    const rp_model *m = r->m;
    const rp_signature *s = &m->sigs[row->sig];
    const rp_phase *p = &m->phases[row->phase];
    double fp_meas = row->ops[RP_FP].measured * r->scale;
    double fp_extra = row->ops[RP_FP].extrapolated * r->scale;
    char label[256], hash[20];
    field(f, s->name);
    fprintf(f, ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
               ",%" PRIu64 ",",
            s->grid[0], s->grid[1], s->grid[2], s->block[0], s->block[1], s->block[2],
            s->shared_mem);
    snprintf(hash, sizeof hash, "%016" PRIx64, s->arg_hash);
    fputs(hash, f);
    fputc(',', f);
    field(f, s->callsite ? rp_callsite_label(&m->callsites[s->callsite - 1], label, sizeof label)
                         : "");
    fputc(',', f);
    field(f, p->name);
    fprintf(f, ",%s,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%.9g,%.17g,%.17g,%.17g,"
               "%.17g,%.17g,%.9g\r\n",
            fm_phase_category_name(p->category), row->launches, row->launches_measured,
            row->launches_extrapolated,
            row->launches - row->launches_measured - row->launches_extrapolated,
            (double)row->busy_ns / 1e9, fp_meas, fp_extra, fp_meas + fp_extra,
            row->ops[RP_INT].measured * r->scale, row->ops[RP_INT].extrapolated * r->scale,
            r->executed_fp.value > 0 ? (fp_meas + fp_extra) / r->executed_fp.value : 0);
}

int rp_render_csv(const rp_report *r, FILE *f)
{
    /* ordered before anything is written: running out of memory must not leave a CSV that
     * looks complete (a header without rows reads as "nothing ran") */
    const rp_sigphase **rows = ordered_rows(r);
    if (!rows)
        return -1;
    for (size_t i = 0; i < sizeof columns / sizeof *columns; i++)
        fprintf(f, "%s%s", i ? "," : "", columns[i]);
    fputs("\r\n", f);
    for (uint32_t i = 0; i < r->m->n_sigphases; i++)
        write_row(r, rows[i], f);
    free(rows);
    return 0;
}
