/* report_html.c - the report as one self-contained HTML file: inline SVG charts and tables,
 * no script, no external file or font, laid out to print well on A4. Formats figures of the
 * model and the report; computes none beyond the geometry of its charts. */
#define _GNU_SOURCE
#include "report_html.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "flopmeter/version.h"
#include "report_format.h"

/* ---- text ------------------------------------------------------------------------------- */

static void esc(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default:
            if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t')
                fputc(' ', f);
            else
                fputc(*s, f);
        }
    }
}

static void escf(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void escf(FILE *f, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    esc(f, buf);
}

static const char *sci(double v, char *buf, size_t len)
{
    return rp_fmt_sci(v, 2, 1, buf, len);
}

static const char *pct(double v, char *buf, size_t len)
{
    return rp_fmt_percent(v, buf, len);
}

/* ---- page ------------------------------------------------------------------------------- */

static const char style[] =
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',Arial,sans-serif;"
    "color:#1b1f24;max-width:1100px;margin:24px auto;padding:0 16px;line-height:1.4}"
    "h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;border-bottom:2px solid #d0d7de;"
    "padding-bottom:4px;margin-top:28px}h3{font-size:15px;margin:16px 0 6px}"
    ".muted{color:#57606a}.bad{color:#b42318;font-weight:600}.warn{color:#9a6700;font-weight:600}"
    ".ok{color:#1a7f37;font-weight:600}"
    "table{border-collapse:collapse;width:100%;font-size:13px;margin:6px 0}"
    "th,td{border-bottom:1px solid #d8dee4;padding:4px 6px;text-align:left;vertical-align:top}"
    "th{background:#f6f8fa}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;"
    "white-space:nowrap}"
    ".cards{display:flex;flex-wrap:wrap;gap:10px;margin:10px 0}.card{border:1px solid #d0d7de;"
    "border-radius:6px;padding:8px 12px;min-width:150px}.card b{display:block;font-size:20px}"
    "svg.chart{width:100%;height:auto;border:1px solid #eaeef2;border-radius:6px;"
    "background:#fff}svg text{font-family:inherit}"
    ".verdict{font-size:13px}.banner{background:#fff8c5;border:1px solid #d4a72c;padding:8px;"
    "border-radius:6px}"
    "section{page-break-inside:avoid;break-inside:avoid}"
    "@media print{body{margin:0;max-width:none}h2{page-break-after:avoid}"
    "section{page-break-inside:avoid}svg.chart{border:none}a{color:inherit}}"
    "@page{size:A4;margin:14mm}";

/* Category colours, chosen to stay distinct in greyscale print too. */
static const char *const palette[] = {"#0969da", "#bf3989", "#1a7f37", "#9a6700", "#8250df",
                                      "#cf222e", "#1b7c83", "#57606a", "#953800"};

/* ---- charts ----------------------------------------------------------------------------- */

typedef struct bar {
    const char *label;
    double value;
    const char *note;
} bar;

/* A horizontal bar chart on a log or linear axis. */
static void bar_chart(FILE *f, const char *id, const char *title, const bar *bars, int n,
                      const char *unit)
{
    const int w = 1000, label_w = 330, row = 22, top = 30, right = 110;
    int h = top + row * (n ? n : 1) + 14;
    double max = 0;
    for (int i = 0; i < n; i++)
        max = fmax(max, bars[i].value);
    fprintf(f, "<svg class=\"chart\" id=\"%s\" viewBox=\"0 0 %d %d\" role=\"img\">", id, w, h);
    fputs("<title>", f);
    esc(f, title);
    fputs("</title>", f);
    fprintf(f, "<text x=\"8\" y=\"18\" font-size=\"14\" font-weight=\"600\">");
    esc(f, title);
    fputs("</text>", f);
    if (n == 0 || !(max > 0)) {
        fprintf(f, "<text x=\"8\" y=\"%d\" font-size=\"13\" fill=\"#57606a\">nothing to show"
                   "</text></svg>\n", top + 14);
        return;
    }
    char v[48];
    for (int i = 0; i < n; i++) {
        int y = top + i * row;
        double len = bars[i].value > 0 ? (w - label_w - right) * bars[i].value / max : 0;
        char lab[80];
        fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"end\">",
                label_w - 8, y + 14);
        esc(f, rp_fmt_clip(bars[i].label, 46, lab, sizeof lab));
        fputs("</text>", f);
        fprintf(f, "<rect class=\"bar\" x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" "
                   "fill=\"%s\"><title>",
                label_w, y + 3, fmax(len, 0.5), row - 6, palette[i % 9]);
        esc(f, bars[i].label);
        escf(f, ": %s %s", sci(bars[i].value, v, sizeof v), unit);
        fputs("</title></rect>", f);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"12\">%s%s%s</text>",
                label_w + fmax(len, 0.5) + 6, y + 14, sci(bars[i].value, v, sizeof v),
                bars[i].note ? " " : "", bars[i].note ? bars[i].note : "");
    }
    fputs("</svg>\n", f);
}

/* Maps v onto [y0, y1] on a log axis between 10^lo and 10^hi. */
static double log_y(double v, double lo, double hi, double y0, double y1)
{
    double l = log10(fmax(v, pow(10, lo)));
    return y0 + (y1 - y0) * (l - lo) / (hi - lo);
}

/* Cumulative compute over wall time, log scale, with the threshold lines and the projection
 * of the planned run. */
static void timeline_chart(FILE *f, const rp_report *r)
{
    const rp_model *m = r->m;
    const rp_timeline *tl = &m->timeline;
    const int w = 1000, h = 420, left = 80, right = 120, top = 34, bottom = 46;
    const double x0 = left, x1 = w - right, y0 = h - bottom, y1 = top;
    double cum = 0, first = 0, total = 0;
    for (uint32_t i = 0; i < tl->n; i++)
        for (int c = 0; c < RP_CATEGORIES; c++)
            total += tl->b[i].ops[c][RP_FP] * r->scale;
    double t_end = fmax((double)tl->n * (double)tl->width_ns / 1e9, 1e-9);
    if (r->projection_drawable)
        t_end = fmax(t_end, r->projected_seconds);
    /* the y range: from the first bucket's compute to the highest line or projection */
    double hi_v = fmax(total, r->projection_drawable ? r->projected_executed : 0);
    for (uint32_t i = 0; i < r->n_profiles; i++)
        for (uint32_t k = 0; k < r->profiles[i].p->n_thresholds; k++)
            hi_v = fmax(hi_v, r->profiles[i].thresholds[k].threshold);
    for (uint32_t i = 0; i < tl->n && first <= 0; i++)
        for (int c = 0; c < RP_CATEGORIES; c++)
            first += tl->b[i].ops[c][RP_FP] * r->scale;
    double lo = floor(log10(first > 0 ? first : 1)), hi = ceil(log10(hi_v > 0 ? hi_v : 10));
    if (hi <= lo)
        hi = lo + 1;
    fprintf(f, "<svg class=\"chart\" id=\"chart-timeline\" viewBox=\"0 0 %d %d\" role=\"img\">"
               "<title>Cumulative compute over time</title>",
            w, h);
    fprintf(f, "<text x=\"8\" y=\"20\" font-size=\"14\" font-weight=\"600\">Cumulative "
               "floating-point operations executed (log scale)%s</text>",
            r->scale != 1 ? ", scaled to all ranks" : "");
    /* axes and decades */
    char v[48];
    for (double e = lo; e <= hi; e++) {
        double y = log_y(pow(10, e), lo, hi, y0, y1);
        fprintf(f, "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#eaeef2\"/>"
                   "<text x=\"%.0f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">"
                   "1e%.0f</text>",
                x0, y, x1, y, x0 - 6, y + 4, e);
    }
    for (int i = 0; i <= 4; i++) {
        double x = x0 + (x1 - x0) * i / 4, t = t_end * i / 4;
        char d[48];
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#d0d7de\"/>"
                   "<text x=\"%.1f\" y=\"%.0f\" font-size=\"11\" text-anchor=\"middle\">%s"
                   "</text>",
                x, y0, x, y0 + 5, x, y0 + 18, rp_fmt_duration(t, d, sizeof d));
    }
    fprintf(f, "<text x=\"%.0f\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">wall time "
               "since the job started</text>",
            (x0 + x1) / 2, h - 8);
    fprintf(f, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#57606a\"/>",
            x0, y0, x1, y0);
    /* threshold lines: one per distinct value, labelled with it; the legend below the chart
     * says which rules draw the line there */
    double drawn[64];
    int n_drawn = 0;
    for (uint32_t i = 0; i < r->n_profiles; i++) {
        const rp_profile_result *pr = &r->profiles[i];
        if (strcmp(pr->p->status, "revoked") == 0)
            continue;
        for (uint32_t k = 0; k < pr->p->n_thresholds && n_drawn < 64; k++) {
            double line = pr->thresholds[k].threshold;
            int seen = 0;
            for (int d = 0; d < n_drawn; d++)
                seen |= fabs(drawn[d] - line) <= 1e-9 * line;
            if (seen)
                continue;
            drawn[n_drawn++] = line;
            double y = log_y(line, lo, hi, y0, y1);
            fprintf(f, "<line class=\"threshold\" x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" "
                       "y2=\"%.1f\" stroke=\"#cf222e\" stroke-dasharray=\"6 4\"/>"
                       "<text x=\"%.0f\" y=\"%.1f\" font-size=\"11\" fill=\"#cf222e\">%s"
                       "</text>",
                    x0, y, x1, y, x1 + 6, y + 4, sci(line, v, sizeof v));
        }
    }
    /* the measured curve */
    fputs("<polyline class=\"series\" fill=\"none\" stroke=\"#0969da\" stroke-width=\"2.5\" "
          "points=\"",
          f);
    double last_x = x0, last_y = y0;
    for (uint32_t i = 0; i < tl->n; i++) {
        for (int c = 0; c < RP_CATEGORIES; c++)
            cum += tl->b[i].ops[c][RP_FP] * r->scale;
        if (cum <= 0)
            continue;
        double t = (double)(i + 1) * (double)tl->width_ns / 1e9;
        last_x = x0 + (x1 - x0) * t / t_end;
        last_y = log_y(cum, lo, hi, y0, y1);
        fprintf(f, "%.1f,%.1f ", last_x, last_y);
    }
    fputs("\"/>", f);
    if (r->projection_drawable) {
        double px = x0 + (x1 - x0) * r->projected_seconds / t_end;
        double py = log_y(r->projected_executed, lo, hi, y0, y1);
        /* at a constant pace the cumulative compute grows linearly in time: a curve on log y */
        fputs("<polyline class=\"projection\" fill=\"none\" stroke=\"#0969da\" "
              "stroke-width=\"2\" stroke-dasharray=\"3 4\" points=\"",
              f);
        for (int i = 0; i <= 40; i++) {
            double t = (last_x - x0) / (x1 - x0) * t_end +
                       (r->projected_seconds - (last_x - x0) / (x1 - x0) * t_end) * i / 40;
            double c = cum + (r->projected_executed - cum) * i / 40;
            fprintf(f, "%.1f,%.1f ", x0 + (x1 - x0) * t / t_end, log_y(c, lo, hi, y0, y1));
        }
        fputs("\"/>", f);
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#0969da\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">planned run: "
                   "%s</text>",
                px, py, px - 6, py - 8, sci(r->projected_executed, v, sizeof v));
    }
    fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#0969da\"/>"
               "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">measured: "
               "%s</text>",
            last_x, last_y, last_x - 6, last_y - 8, sci(cum, v, sizeof v));
    fputs("</svg>\n", f);
}

/* Each formula's estimate over the measurement on its basis, with the ±30% band. */
static void ratio_chart(FILE *f, const rp_report *r)
{
    const int w = 1000, left = 330, right = 80, row = 26, top = 46;
    int n = 0;
    for (int i = 0; i < FM_EST_COUNT; i++)
        n += r->estimates[i].e.available && !isnan(r->estimates[i].ratio);
    int h = top + row * (n ? n : 1) + 30;
    const double lo = log10(0.25), hi = log10(4.0);
#define RX(v) (left + (w - left - right) * (log10(fmin(fmax((v), 0.25), 4.0)) - lo) / (hi - lo))
    fprintf(f, "<svg class=\"chart\" id=\"chart-estimates\" viewBox=\"0 0 %d %d\" role=\"img\">"
               "<title>Formula estimates over the measurement</title>"
               "<text x=\"8\" y=\"20\" font-size=\"14\" font-weight=\"600\">Each formula's "
               "estimate divided by the measurement on its basis (log scale)</text>",
            w, h);
    fprintf(f, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"#dafbe1\"/>"
               "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">±30%% "
               "(EU guidelines, Annex A.2)</text>",
            RX(0.7), top - 8, RX(1.3) - RX(0.7), row * (n ? n : 1) + 8, RX(1.0), top - 12);
    static const double ticks[] = {0.25, 0.5, 0.7, 1.0, 1.3, 2.0, 4.0};
    for (size_t i = 0; i < sizeof ticks / sizeof *ticks; i++)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"%s\"/>"
                   "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">%g</text>",
                RX(ticks[i]), top - 8, RX(ticks[i]), top + row * (n ? n : 1),
                ticks[i] == 1.0 ? "#57606a" : "#eaeef2", RX(ticks[i]),
                top + row * (n ? n : 1) + 16, ticks[i]);
    int k = 0;
    char v[48];
    for (int i = 0; i < FM_EST_COUNT; i++) {
        const rp_estimate_row *e = &r->estimates[i];
        if (!e->e.available || isnan(e->ratio))
            continue;
        int y = top + k++ * row + row / 2;
        fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"end\">", left - 8,
                y + 4);
        esc(f, e->e.name);
        fprintf(f, "</text><circle class=\"point\" cx=\"%.1f\" cy=\"%d\" r=\"5\" fill=\"%s\">"
                   "<title>",
                RX(e->ratio), y, fabs(e->ratio - 1) <= 0.3 ? "#1a7f37" : "#cf222e");
        escf(f, "%s: %s against %s measured, ratio %.3f", e->e.name,
             sci(e->e.flop, v, sizeof v), "the measurement", e->ratio);
        fprintf(f, "</title></circle><text x=\"%d\" y=\"%d\" font-size=\"11\">%.3f</text>",
                w - right + 8, y + 4, e->ratio);
    }
    if (!n)
        fprintf(f, "<text x=\"8\" y=\"%d\" font-size=\"13\" fill=\"#57606a\">no estimate: "
                   "declare the model and the tokens</text>",
                top + 14);
#undef RX
    fputs("</svg>\n", f);
}

/* ---- sections --------------------------------------------------------------------------- */

static void header(FILE *f, const rp_report *r)
{
    const rp_model *m = r->m;
    char a[48], b[48], d[48];
    fputs("<header><h1>flopmeter report</h1><div class=\"muted\">", f);
    if (*r->run_id)
        escf(f, "run %s - ", r->run_id);
    if (m->n_traces)
        escf(f, "%s to %s (%s), %u trace%s covering %u of %s ranks",
             rp_fmt_utc(r->start_unix_ns, 0, a, sizeof a),
             rp_fmt_utc(r->end_unix_ns, 0, b, sizeof b),
             rp_fmt_duration(r->wall_seconds, d, sizeof d), m->n_traces,
             m->n_traces == 1 ? "" : "s", r->ranks_covered,
             r->world_size ? rp_fmt_g((double)r->world_size) : "?");
    else
        escf(f, "estimate from declared facts; nothing was measured");
    fputs("</div></header>\n", f);
    if (r->incomplete) {
        fputs("<p class=\"banner\"><b>Incomplete:</b> ", f);
        esc(f, r->incomplete_note);
        fputs("</p>\n", f);
    }
}

static void summary(FILE *f, const rp_report *r)
{
    const rp_model *m = r->m;
    char a[48], p1[24], p2[24];
    fputs("<section><h2>Executed compute</h2><div class=\"cards\">", f);
    fprintf(f, "<div class=\"card\">floating point<b>%s FLOP</b>±%s (95%%)</div>",
            sci(r->executed_fp.value, a, sizeof a),
            pct(r->executed_fp.value > 0 ? r->executed_fp.half_width / r->executed_fp.value : 0,
                p1, sizeof p1));
    fprintf(f, "<div class=\"card\">counted by hardware<b>%s</b>the rest extrapolated</div>",
            pct(r->measured_fp / fmax(r->executed_fp.value, 1e-300), p1, sizeof p1));
    fprintf(f, "<div class=\"card\">kernel launches<b>%s</b>%s unmeasured</div>",
            rp_fmt_g((double)m->launches),
            pct(m->launches ? (double)m->launches_unmeasured / (double)m->launches : 0, p2,
                sizeof p2));
    fprintf(f, "<div class=\"card\">MFU / HFU<b>%s / %s</b>", pct(r->util.mfu, p1, sizeof p1),
            pct(r->util.hfu, p2, sizeof p2));
    esc(f, r->util.peak_from);
    fputs("</div></div></section>\n", f);
}

static void charts(FILE *f, const rp_report *r, uint32_t top)
{
    const rp_model *m = r->m;
    bar bars[256];
    char names[256][48];
    int n = 0;
    fputs("<section><h2>Compute over time</h2>", f);
    timeline_chart(f, r);
    fputs("<p class=\"muted\">The curve is everything executed; each dashed red line is a "
          "threshold, which its rule compares with its own basis (below). Dotted blue: the "
          "planned run at the measured pace.</p><table><tr><th class=\"n\">line</th>"
          "<th>rules</th></tr>",
          f);
    double listed[64];
    int n_listed = 0;
    for (uint32_t i = 0; i < r->n_profiles; i++)
        for (uint32_t k = 0; k < r->profiles[i].p->n_thresholds && n_listed < 64; k++) {
            double line = r->profiles[i].thresholds[k].threshold;
            int seen = 0;
            for (int d = 0; d < n_listed; d++)
                seen |= fabs(listed[d] - line) <= 1e-9 * line;
            if (!seen && strcmp(r->profiles[i].p->status, "revoked") != 0)
                listed[n_listed++] = line;
        }
    for (int i = 1; i < n_listed; i++) /* highest line first, as on the chart */
        for (int k = i; k > 0 && listed[k - 1] < listed[k]; k--) {
            double t = listed[k];
            listed[k] = listed[k - 1];
            listed[k - 1] = t;
        }
    for (int li = 0; li < n_listed; li++) {
        double line = listed[li];
        char v[48];
        fprintf(f, "<tr><td class=\"n\">%s</td><td>", sci(line, v, sizeof v));
        int first = 1;
        for (uint32_t pi = 0; pi < r->n_profiles; pi++) {
            const rp_profile_result *pr = &r->profiles[pi];
            if (strcmp(pr->p->status, "revoked") == 0)
                continue;
            for (uint32_t t = 0; t < pr->p->n_thresholds; t++)
                if (fabs(pr->thresholds[t].threshold - line) <= 1e-9 * line) {
                    escf(f, "%s%s: %s", first ? "" : "; ", pr->p->id,
                         pr->thresholds[t].t->title);
                    first = 0;
                }
        }
        fputs("</td></tr>", f);
    }
    fputs("</table></section>\n", f);

    fputs("<section><h2>Where the compute went</h2>", f);
    for (uint32_t i = 0; i < m->n_phases && n < 256; i++) {
        const rp_phase *p = &m->phases[r->phase_order[i]];
        if (!p->launches)
            continue;
        bars[n].label = p->name;
        bars[n].value = (p->ops[RP_FP].measured + p->ops[RP_FP].extrapolated) * r->scale;
        /* the category, when the phase's own name does not say it */
        bars[n].note = strcmp(p->name, fm_phase_category_name(p->category))
                           ? fm_phase_category_name(p->category)
                           : NULL;
        n++;
    }
    bar_chart(f, "chart-phases", "By phase (floating point)", bars, n, "FLOP");
    n = 0;
    for (unsigned c = 0; c < 256; c++) {
        double ops = 0;
        for (int k = 0; k < RP_CATEGORIES; k++)
            ops += m->by_class[k][c].measured + m->by_class[k][c].extrapolated;
        if (ops <= 0)
            continue;
        fm_precision_class_name((uint8_t)c, names[n], sizeof names[n]);
        bars[n].label = names[n];
        bars[n].value = ops * r->scale;
        bars[n].note = fm_precision_class_is_integer((uint8_t)c) ? "(integer)" : NULL;
        n++;
    }
    bar_chart(f, "chart-classes", "By precision class", bars, n, "operations");
    n = 0;
    for (uint32_t i = 0; i < m->n_sigs && (uint32_t)n < top && n < 256; i++) {
        const rp_signature *s = &m->sigs[r->sig_order[i]];
        bars[n].label = s->name;
        bars[n].value = (s->ops[RP_FP].measured + s->ops[RP_FP].extrapolated) * r->scale;
        bars[n].note = NULL;
        n++;
    }
    bar_chart(f, "chart-kernels", "Top kernel signatures", bars, n, "FLOP");
    static char labels[256][160];
    n = 0;
    for (uint32_t i = 0; i < m->n_callsites && (uint32_t)n < top && n < 256; i++) {
        uint32_t c = r->callsite_order[i];
        rp_callsite_label(&m->callsites[c], labels[n], sizeof labels[n]);
        bars[n].label = labels[n];
        bars[n].value = r->callsite_ops[c] * r->scale;
        bars[n].note = NULL;
        n++;
    }
    bar_chart(f, "chart-callsites", "Top call sites", bars, n, "FLOP");
    if (m->n_traces > 1) {
        static char ranks[256][48];
        n = 0;
        for (uint32_t i = 0; i < m->n_traces && n < 256; i++) {
            const rp_trace *t = &m->traces[i];
            double fp = 0;
            for (int c = 0; c < RP_CATEGORIES; c++)
                fp += t->ops[c][RP_FP].measured + t->ops[c][RP_FP].extrapolated;
            snprintf(ranks[n], sizeof ranks[n], "rank %lld", (long long)t->rank);
            bars[n].label = ranks[n];
            bars[n].value = fp;
            bars[n].note = NULL;
            n++;
        }
        bar_chart(f, "chart-ranks", "Per-rank balance (floating point)", bars, n, "FLOP");
    }
    fputs("</section>\n", f);

    fputs("<section><h2>Formula estimates against the measurement</h2>", f);
    ratio_chart(f, r);
    fputs("<table><tr><th>estimate</th><th class=\"n\">estimate</th><th class=\"n\">measured"
          "</th><th>basis</th><th class=\"n\">ratio</th><th>formula</th></tr>",
          f);
    char a[48], b[48];
    for (int i = 0; i < FM_EST_COUNT; i++) {
        const rp_estimate_row *e = &r->estimates[i];
        fputs("<tr><td>", f);
        esc(f, e->e.name);
        fprintf(f, "</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td>%s</td>",
                e->e.available ? sci(e->e.flop, a, sizeof a) : "-",
                sci(e->measured, b, sizeof b),
                e->e.basis == FM_BASIS_MODEL ? "training"
                : e->e.basis == FM_BASIS_MODEL_RECOMPUTE ? "+recompute" : "executed");
        if (e->e.available && !isnan(e->ratio))
            fprintf(f, "<td class=\"n\">%.3f</td><td>", e->ratio);
        else
            fputs("<td class=\"n\">-</td><td>", f);
        esc(f, e->e.form);
        if (!e->e.available)
            escf(f, " (needs %s)", e->e.missing ? e->e.missing : "more facts");
        fputs("</td></tr>", f);
    }
    fputs("</table></section>\n", f);
}

static void rules(FILE *f, const rp_report *r)
{
    char a[48], b[48], p1[24];
    fputs("<section><h2>Rules and thresholds</h2>", f);
    for (uint32_t i = 0; i < r->n_profiles; i++) {
        const rp_profile_result *pr = &r->profiles[i];
        const rp_profile *p = pr->p;
        fputs("<h3>", f);
        esc(f, p->title);
        fputs("</h3><p class=\"muted\">", f);
        escf(f, "%s; status %s%s. Source: %s", p->jurisdiction, p->status,
             p->verified ? "" : ", not verified against the primary source", p->source);
        fputs("</p><table><tr><th>basis</th><th class=\"n\">counted</th><th class=\"n\">±95%"
              "</th><th>left out</th></tr>",
              f);
        for (uint32_t k = 0; k < p->n_bases; k++) {
            const rp_basis_result *br = &pr->bases[k];
            fputs("<tr><td>", f);
            escf(f, "%s: %s", br->b->name, br->b->title);
            fprintf(f, "</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td>",
                    sci(br->counted.value, a, sizeof a),
                    pct(br->counted.value > 0 ? br->counted.half_width / br->counted.value : 0,
                        p1, sizeof p1));
            int first = 1;
            for (uint32_t c = 0; c < RP_CATEGORIES; c++)
                if (br->excluded[c] > 0) {
                    escf(f, "%s%s %s", first ? "" : ", ", fm_phase_category_name(c),
                         sci(br->excluded[c], b, sizeof b));
                    first = 0;
                }
            fputs("</td></tr>", f);
        }
        fputs("</table><table><tr><th>threshold</th><th class=\"n\">line</th><th class=\"n\">"
              "share</th><th>verdict</th></tr>",
              f);
        for (uint32_t k = 0; k < p->n_thresholds; k++) {
            const rp_threshold_result *x = &pr->thresholds[k];
            const char *cls = x->condition == 0 ? "muted"
                              : x->crossed      ? "bad"
                              : x->straddling   ? "warn"
                                                : "ok";
            fputs("<tr><td>", f);
            esc(f, x->t->title);
            fprintf(f, "</td><td class=\"n\">%s %s</td><td class=\"n %s\">%s</td>"
                       "<td class=\"verdict\">",
                    x->t->or_equal ? "&ge;" : "&gt;", sci(x->threshold, a, sizeof a), cls,
                    pct(x->fraction, p1, sizeof p1));
            esc(f, x->verdict);
            fputs("</td></tr>", f);
        }
        fputs("</table>", f);
    }
    fputs("</section>\n", f);
}

static void evidence(FILE *f, const rp_report *r)
{
    const rp_model *m = r->m;
    char a[48];
    fputs("<section><h2>Verification of the traces</h2><table><tr><th>trace</th><th>rank</th>"
          "<th>GPU</th><th>state</th><th>signatures</th><th>chain head</th></tr>",
          f);
    for (uint32_t i = 0; i < m->n_traces; i++) {
        const rp_trace *t = &m->traces[i];
        char head[65];
        static const char digits[] = "0123456789abcdef";
        for (int k = 0; k < 32; k++) {
            head[2 * k] = digits[t->verify.info.head[k] >> 4];
            head[2 * k + 1] = digits[t->verify.info.head[k] & 15];
        }
        head[64] = '\0';
        fputs("<tr><td>", f);
        esc(f, t->path);
        fprintf(f, "</td><td>%lld</td><td>", (long long)t->rank);
        esc(f, t->device_name ? t->device_name : "?");
        fprintf(f, "</td><td class=\"%s\">", t->verify.status == FM_OK ? "ok" : "bad");
        if (t->verify.status == FM_OK)
            fputs("intact, complete", f);
        else
            esc(f, t->verify.message);
        fprintf(f, "</td><td>%llu valid of %llu</td><td><code>%.16s...</code></td></tr>",
                (unsigned long long)t->verify.signatures_valid,
                (unsigned long long)t->verify.signatures, head);
    }
    fputs("</table>", f);
    if (m->n_degradations) {
        fputs("<h3>Degradations</h3><table><tr><th>time</th><th>rank</th><th>what</th>"
              "<th class=\"n\">launches</th><th>message</th></tr>",
              f);
        for (uint32_t i = 0; i < m->n_degradations; i++) {
            const rp_degradation *d = &m->degradations[i];
            fprintf(f, "<tr><td>%s</td><td>%lld</td><td>%s</td><td class=\"n\">%s</td><td>",
                    rp_fmt_utc(d->time_ns, 0, a, sizeof a), (long long)m->traces[d->trace].rank,
                    fm_degradation_kind_name(d->kind), rp_fmt_g((double)d->launches_affected));
            esc(f, d->message);
            fputs("</td></tr>", f);
        }
        fputs("</table>", f);
    }
    fputs("</section>\n", f);
}

static void documentation(FILE *f, const rp_report *r)
{
    fputs("<section><h2>Methodology</h2><p>", f);
    esc(f, r->methodology);
    fputs("</p></section>\n", f);
}

void rp_render_html(const rp_report *r, FILE *f, uint32_t top)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
          "<title>flopmeter report",
          f);
    if (*r->run_id) {
        fputs(" - ", f);
        esc(f, r->run_id);
    }
    fprintf(f, "</title><style>%s</style></head><body>\n", style);
    header(f, r);
    if (r->m->n_traces) {
        summary(f, r);
        charts(f, r, top);
    }
    rules(f, r);
    if (r->m->n_traces)
        evidence(f, r);
    documentation(f, r);
    fputs("<footer class=\"muted\"><p>", f);
    escf(f, "flopmeter %s; rules: %s; the same figures as `flopmeter report --json`.",
         FLOPMETER_VERSION, r->data->origin);
    fputs("</p></footer></body></html>\n", f);
}
