#!/usr/bin/env python3
"""Judges the runs of python_gpt_example.py (a small GPT-style model in bf16) on a GPU.

    check_gpt_runs.py example --flopmeter BIN --none-traces DIR --none-stdout FILE
                      --tag-traces DIR --tag-stdout FILE [--none-rc N] [--tag-rc N]
                      [--reports-dir DIR] [--prefix P] [--rows ROWS.jsonl] [--json OUT]
    check_gpt_runs.py counters --flopmeter BIN --sampled-traces DIR --sampled-stdout FILE
                      --exact-traces DIR --exact-stdout FILE [--exact-rc N]
                      [--reports-dir DIR] [--prefix P] [--rows ROWS.jsonl] [--json OUT]
    check_gpt_runs.py timing --none FILE... --sampled FILE... [--exact FILE]
                      [--ncu-stdout FILE --ncu-stderr FILE --ncu-rc N --ncu-seconds S]
                      [--prefix P] [--rows ROWS.jsonl] [--json OUT]
    check_gpt_runs.py expected [EXAMPLE OPTIONS...]
    check_gpt_runs.py self-test [--flopmeter BIN]

The example prints one JSON object (its options, steps, tokens, each step's wall time, the
FlopCounterMode count); its traces are read with `flopmeter report --json`.

`example` (the Python package's GPU example, two runs with counters sampled: without
checkpointing, and with every block checkpointed and its recomputation tagged): the training
FLOP per token against the model's analytic count, the report's formula estimates (6ND,
PaLM) and FlopCounterMode next to the measurement, no recomputation phase in the untagged
run, and in the tagged run a recomputation phase holding one more forward pass of the
blocks (the analytic count), with the training work itself unchanged.

`counters` (FLOPMETER_PROFILE=sampled against =exact on the same loop): the exact run
measures every launch; the sampled run's training FLOP per step within 1% of the exact
run's, and inside its 95% interval. Every step does the same work, so the runs may have
different lengths: exact mode replays every launch and is given fewer steps.

`timing` (the loop's wall time, runs interleaved: no tool, sampled, no tool, sampled, ...):
the medians of the loop times, sampled at most 2% over no tool; the median step time with
exact mode against one under ncu reading the same metrics (the ncu run's last step; when
ncu was stopped by its time limit, the time since its last finished step is a lower bound).

`expected` prints the analytic counts for the example's options (its defaults unless given):
the numbers docs/python.md quotes.

Exit status 0 when no row failed, 1 when one did, 2 on a usage error.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_trace_counts as ctc  # noqa: E402  (traces, flopmeter's JSON, the Checks rows)

SCHEMA = "flopmeter-gpt-runs/1"
SAMPLED_REL = 0.01    # sampled within 1% of exact (issue acceptance)
OVERHEAD_MAX = 0.02   # sampled mode at most 2% of the loop's wall time
NCU_FACTOR = 5.0      # "far faster than ncu": an exact-mode step at least 5 times faster
TAG_REL = 0.02        # tagging moves work to the recomputation phase, it adds none to training
# The analytic counts are the matrix products; what they leave out (layer norms, GELU, the
# softmax's arithmetic, cross-entropy, AdamW, the embedding's scatter-add) is a few percent of
# this model's work, hence the upper margin. Below the products nothing can be.
LOW_MARGIN, HIGH_MARGIN = 0.98, 1.10


def analytic(opts):
    """FLOP per token of the example's model (python_gpt_example.py), as ranges.

    Matrix products of the blocks: qkv (3h^2), proj (h^2), fc (4h^2), out (4h^2): 12h^2
    weights a layer, 2 FLOP each per token forward. The tied head: V*h. Attention forward per
    layer and token: Q.K^T and P.V, 2*T*h each without a mask; causal kernels skip the tiles
    above the diagonal, so between 2Th (half) and 4Th (everything). Training: backward is
    twice the forward for the products; for attention 1.5 to 2.5 times (flash attention's
    backward recomputes Q.K^T: 5 products against 2)."""
    L, h, T, V = (int(opts[k]) for k in ("layers", "hidden", "context", "vocab"))
    blocks = 12 * L * h * h
    att_lo, att_hi = 2 * T * h * L, 4 * T * h * L
    fwd_lo = 2 * (blocks + V * h) + att_lo
    fwd_hi = 2 * (blocks + V * h) + att_hi
    return {
        "block_weights": blocks,
        "head_weights": V * h,
        "forward": [fwd_lo, fwd_hi],
        "training": [(6 * (blocks + V * h) + 2.5 * att_lo) * LOW_MARGIN,
                     (6 * (blocks + V * h) + 3.5 * att_hi) * HIGH_MARGIN],
        # the recomputation reruns the checkpointed blocks' forward, not the head
        "recomputation": [(2 * blocks + att_lo) * LOW_MARGIN, (2 * blocks + att_hi) * HIGH_MARGIN],
    }


def parameters(opts):
    """The example's parameters as flopmeter.declare_model counts them (the tied head once):
    embeddings V*h and T*h, per block two layer norms, qkv, proj, fc and out with their
    biases, and the final layer norm."""
    L, h, T, V = (int(opts[k]) for k in ("layers", "hidden", "context", "vocab"))
    block = 2 * h + (3 * h * h + 3 * h) + (h * h + h) + 2 * h + (4 * h * h + 4 * h) + \
        (4 * h * h + h)
    return V * h + T * h + L * block + 2 * h


def example_options(argv=()):
    """python_gpt_example.py's options, its defaults unless argv says otherwise."""
    import python_gpt_example
    return vars(python_gpt_example.parse_args(list(argv)))


def print_expected(opts):
    """What the example's report should show, for docs/python.md and a reader's check."""
    an = analytic(opts)
    n, tokens = parameters(opts), opts["steps"] * opts["batch"] * opts["context"]
    six_nd = 6.0 * n * tokens
    lo, hi = an["training"]
    rlo, rhi = an["recomputation"]
    print("parameters            %d" % n)
    print("tokens                %d (%d steps of %d x %d)" % (tokens, opts["steps"],
                                                            opts["batch"], opts["context"]))
    print("6ND                   %.4g" % six_nd)
    print("training FLOP         %.3g to %.3g (%.3g to %.3g a token)" % (
        lo * tokens, hi * tokens, lo, hi))
    print("recomputation FLOP    %.3g to %.3g a token, %.0f%% to %.0f%% of 6ND (tagged run)" % (
        rlo, rhi, 100.0 * rlo / (6.0 * n), 100.0 * rhi / (6.0 * n)))


def example_doc(text):
    """The JSON object python_gpt_example.py printed last, or None."""
    for line in reversed((text or "").splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if isinstance(doc, dict) and "options" in doc:
                return doc
    return None


def report_of(flopmeter, traces_dir, save_stem=None):
    """`flopmeter report --json` of a run's traces, or (None, why); with save_stem, the JSON
    and the terminal report are kept as STEM.report.json and STEM.report.txt."""
    if not traces_dir or not ctc.find_traces(traces_dir):
        return None, "no trace"
    doc, err = ctc.run_json([flopmeter, "report", "--json", traces_dir])
    if doc is not None and save_stem:
        with open(save_stem + ".report.json", "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        p = subprocess.run([flopmeter, "report", traces_dir], capture_output=True, text=True,
                           timeout=120)
        with open(save_stem + ".report.txt", "w", encoding="utf-8") as f:
            f.write(p.stdout)
    return doc, err


def phase_flop(report, category):
    return sum(p["flop"] for p in report.get("by_phase", []) if p.get("category") == category)


def phase_launches(report, category):
    return sum(p["launches"] for p in report.get("by_phase", []) if p.get("category") == category)


def estimate(report, ident):
    for e in report.get("estimates", []):
        if e.get("id") == ident:
            return e
    return None


def fmt(v):
    return "?" if v is None else "%.4g" % v


def within(v, lo, hi):
    return v is not None and lo <= v <= hi


def run_reports(c, flopmeter, runs, reports_dir, stem_prefix):
    """{run: report} for runs {name: traces dir}; one `report` row for any missing."""
    reports, errors = {}, {}
    for run, d in runs.items():
        stem = os.path.join(reports_dir, "%s_%s" % (stem_prefix, run)) if reports_dir else None
        r, err = report_of(flopmeter, d, stem)
        if r is None:
            errors[run] = err
        else:
            reports[run] = r
    if errors:
        c.add("report", False, "a report of each run", "none for " + ", ".join(sorted(errors)),
              "; ".join("%s: %s" % kv for kv in sorted(errors.items()))[:300])
    return reports


# ---- example --------------------------------------------------------------------------------

def run_example(args):
    c = ctc.Checks(args.prefix, args.rows, getattr(args, "quiet", False))
    doc = {"schema": SCHEMA, "mode": "example", "runs": {}}
    outs = {"none": example_doc(ctc.read_text(args.none_stdout)),
            "tag": example_doc(ctc.read_text(args.tag_stdout))}
    rcs = {"none": args.none_rc, "tag": args.tag_rc}
    bad = ["%s: exit %s%s" % (k, rcs[k], "" if outs[k] else ", no JSON") for k in outs
           if rcs[k] != 0 or not outs[k] or not outs[k].get("ok")]
    c.add("exit", not bad, "exit 0, training ran, loss down, in both runs",
          "; ".join(bad) or "both")
    inactive = [k for k, o in outs.items() if o and not (o.get("available") and o.get("active"))]
    c.add("library_active", not inactive and all(outs.values()),
          "flopmeter.available() and active() in both runs",
          "not in: " + ", ".join(inactive) if inactive else
          ("yes" if all(outs.values()) else "no output"))
    reports = run_reports(c, args.flopmeter, {"none": args.none_traces, "tag": args.tag_traces},
                          args.reports_dir, "python_example")
    for run, r in reports.items():
        ex = r["executed"]
        doc["runs"][run] = {
            "output": outs[run], "training_flop": ex["training_flop"],
            "training_with_recomputation_flop": ex["training_with_recomputation_flop"],
            "launches": ex["launches"], "by_phase": r.get("by_phase"),
            "estimates": {e["id"]: {k: e.get(k) for k in ("flop", "ratio", "basis")}
                          for e in r.get("estimates", [])},
            "flopcounter": r.get("flopcounter"), "degradations": r.get("degradations", [])}
    none_r, tag_r = reports.get("none"), reports.get("tag")
    none_o, tag_o = outs["none"], outs["tag"]
    if none_r is None or none_o is None:
        for name in ("measured_vs_analytic", "no_recomputation_untagged", "measured_vs_formulas"):
            c.add(name, "skipped", "the untagged run's report and output", "missing")
    else:
        an = analytic(none_o["options"])
        doc["analytic_per_token"] = an
        tokens = none_o.get("tokens") or 0
        train = none_r["executed"]["training_flop"]["value"]
        per_token = train / tokens if tokens else None
        lo, hi = an["training"]
        c.add("measured_vs_analytic", within(per_token, lo, hi),
              "training FLOP per token in [%s, %s] (matrix products, -2%%/+10%%)" % (
                  fmt(lo), fmt(hi)), fmt(per_token),
              "%s FLOP over %d tokens; %s of it measured directly" % (
                  fmt(train), tokens, "%.3g%%" % (100.0 * none_r["executed"]["flop_measured"] /
                                                  none_r["executed"]["flop"]["value"])
                  if none_r["executed"]["flop"]["value"] else "?"))
        rec = phase_flop(none_r, "recomputation")
        c.add("no_recomputation_untagged", rec == 0 and
              phase_launches(none_r, "recomputation") == 0,
              "no work in the recomputation phase without checkpointing",
              "%s FLOP, %d launches" % (fmt(rec), phase_launches(none_r, "recomputation")))
        parts = []
        for ident in ("6nd", "palm"):
            e = estimate(none_r, ident)
            parts.append("%s %s (%s x measured)" % (
                ident, fmt(e and e.get("flop")), fmt(e and e.get("ratio"))))
        fc = none_r.get("flopcounter") or {}
        parts.append("FlopCounterMode %s (%s x measured)" % (fmt(fc.get("flop")),
                                                              fmt(fc.get("ratio"))))
        c.add("measured_vs_formulas", "info", "the report's estimates next to the measured "
              "training FLOP", "measured %s; %s" % (fmt(train), "; ".join(parts)))
    if tag_r is None or tag_o is None:
        for name in ("recomputation_vs_forward", "training_unchanged_by_tag"):
            c.add(name, "skipped", "the tagged run's report and output", "missing")
    else:
        an = analytic(tag_o["options"])
        tokens = tag_o.get("tokens") or 0
        rec = phase_flop(tag_r, "recomputation")
        per_token = rec / tokens if tokens else None
        lo, hi = an["recomputation"]
        e6 = estimate(tag_r, "6nd")
        share = rec / e6["flop"] if e6 and e6.get("flop") else None
        c.add("recomputation_vs_forward", within(per_token, lo, hi),
              "recomputation FLOP per token in [%s, %s]: one forward pass of the blocks" % (
                  fmt(lo), fmt(hi)), fmt(per_token),
              "%s FLOP in %d launches; %s of 6ND (the blocks' forward is %s of 6ND here)" % (
                  fmt(rec), phase_launches(tag_r, "recomputation"), fmt(share),
                  fmt(2.0 * an["block_weights"] / (6.0 * (an["block_weights"] +
                                                          an["head_weights"])))))
        if none_r is not None and none_o is not None and none_o.get("tokens"):
            a = none_r["executed"]["training_flop"]["value"] / none_o["tokens"]
            b = tag_r["executed"]["training_flop"]["value"] / tokens if tokens else None
            d = abs(b - a) / a if a and b is not None else None
            c.add("training_unchanged_by_tag", d is not None and d <= TAG_REL,
                  "training FLOP per token (recomputation excluded) within 2% of the "
                  "untagged run's", "%s vs %s (%s)" % (
                      fmt(b), fmt(a), "%+.3g%%" % (100.0 * (b - a) / a) if d is not None
                      else "?"))
        else:
            c.add("training_unchanged_by_tag", "skipped", "both runs", "no untagged run")
    return c, doc


# ---- counters: sampled against exact --------------------------------------------------------

def run_counters(args):
    c = ctc.Checks(args.prefix, args.rows, getattr(args, "quiet", False))
    doc = {"schema": SCHEMA, "mode": "counters", "runs": {}}
    outs = {"sampled": example_doc(ctc.read_text(args.sampled_stdout)),
            "exact": example_doc(ctc.read_text(args.exact_stdout))}
    c.add("exact_exit", args.exact_rc == 0 and outs["exact"] is not None,
          "the exact run ends normally", "exit %s%s" % (
              args.exact_rc, "" if outs["exact"] else ", no JSON"))
    reports = run_reports(c, args.flopmeter, {"sampled": args.sampled_traces,
                                              "exact": args.exact_traces},
                          args.reports_dir, "gpt")
    for run, r in reports.items():
        ex = r["executed"]
        doc["runs"][run] = {"steps": (outs[run] or {}).get("steps"),
                            "training_flop": ex["training_flop"], "launches": ex["launches"],
                            "flop_measured": ex["flop_measured"],
                            "counter_samples": ex["counter_samples"],
                            "degradations": r.get("degradations", [])}
    s, e = reports.get("sampled"), reports.get("exact")
    ns = (outs["sampled"] or {}).get("steps")
    ne = (outs["exact"] or {}).get("steps")
    if s is None or e is None or not ns or not ne:
        for name in ("exact_all_measured", "sampled_within_1pct", "interval_covers_exact"):
            c.add(name, "skipped", "both reports and step counts", "missing")
        return c, doc
    el = e["executed"]["launches"]
    c.add("exact_all_measured", el["measured"] == el["total"] and el["total"] > 0,
          "every launch measured", "%d of %d (%d extrapolated, %d unmeasured)" % (
              el["measured"], el["total"], el["extrapolated"], el["unmeasured"]))
    sv = s["executed"]["training_flop"]
    ev = e["executed"]["training_flop"]
    sp, ep = sv["value"] / ns, ev["value"] / ne
    d = abs(sp - ep) / ep if ep else None
    c.add("sampled_within_1pct", d is not None and d <= SAMPLED_REL,
          "sampled training FLOP per step within 1% of exact's",
          "%s vs %s (%s)" % (fmt(sp), fmt(ep), "%+.3g%%" % (100.0 * (sp - ep) / ep)
                             if ep else "?"),
          "sampled %d steps, exact %d steps" % (ns, ne))
    hw = (sv.get("half_width_95") or 0.0) / ns
    covers = abs(sp - ep) <= hw + 1e-9 * max(abs(ep), 1.0)
    sl = s["executed"]["launches"]
    c.add("interval_covers_exact", covers and ep > 0, "exact inside sampled's 95% interval",
          "%s +- %s per step" % (fmt(sp), fmt(hw)),
          "exact %s; FLOP without an interval: %s; sampled launches: %d measured, "
          "%d extrapolated, %d unmeasured" % (fmt(ep), fmt(sv.get("without_interval", 0)),
                                              sl["measured"], sl["extrapolated"],
                                              sl["unmeasured"]))
    fm, ft = s["executed"]["flop_measured"], s["executed"]["flop"]["value"]
    c.add("share_measured", "info", "sampled: share of FLOP and launches measured",
          "%.3g%% of FLOP, %.3g%% of launches" % (
              100.0 * fm / ft if ft else 0.0,
              100.0 * sl["measured"] / sl["total"] if sl["total"] else 0.0),
          "%d counter samples" % s["executed"]["counter_samples"])
    # kernel time as the activity records give it: a kernel replayed for its metric groups
    # should still be one kernel's time, if CUPTI reports the replays apart from the launch
    bs, be = s["executed"].get("busy_seconds"), e["executed"].get("busy_seconds")
    c.add("busy_per_step", "info", "kernel time per step, sampled", "exact %s s vs %s s%s" % (
        fmt(be / ne if be is not None else None), fmt(bs / ns if bs is not None else None),
        " (%.3g x)" % ((be / ne) / (bs / ns)) if bs and be is not None else ""),
          "a ratio near the replay passes would mean replays are timed as the launch's")
    degr = ["%s %s: %s" % (run, dg.get("kind"), dg.get("message"))
            for run, r in reports.items() for dg in r.get("degradations", [])]
    c.add("degradations", "info", 0, len(degr), "; ".join(degr)[:600] or None)
    return c, doc


# ---- timing -----------------------------------------------------------------------------------

def loop_and_steps(path):
    o = example_doc(ctc.read_text(path))
    if not o:
        return None, []
    return o.get("seconds"), o.get("step_seconds") or []


def progress_of(stderr_text):
    """(steps finished, unix time of the last one) from the example's --progress lines."""
    done, last = 0, None
    for line in (stderr_text or "").splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "FLOPMETER_EXAMPLE_STEP":
            try:
                done, last = int(parts[1]) + 1, float(parts[2])
            except ValueError:
                continue
        elif len(parts) >= 2 and parts[0] == "FLOPMETER_EXAMPLE_LOOP" and last is None:
            try:
                last = float(parts[1])
            except ValueError:
                continue
    return done, last


def run_timing(args):
    c = ctc.Checks(args.prefix, args.rows, getattr(args, "quiet", False))
    runs = {"none": [loop_and_steps(p) for p in args.none or []],
            "sampled": [loop_and_steps(p) for p in args.sampled or []]}
    loops = {k: [t for t, _ in v if t is not None] for k, v in runs.items()}
    doc = {"schema": SCHEMA, "mode": "timing", "loop_seconds": loops}
    med = {k: statistics.median(v) if v else None for k, v in loops.items()}
    if not med["none"] or med["sampled"] is None:
        c.add("overhead_sampled", "skipped", "<= 2% over no tool (medians)",
              "loop times: %d without the tool, %d sampled" % (len(loops["none"]),
                                                               len(loops["sampled"])))
    else:
        over = (med["sampled"] - med["none"]) / med["none"]
        c.add("overhead_sampled", over <= OVERHEAD_MAX,
              "sampled <= 2% over no tool (median loop wall time)", "%+.3g%%" % (100 * over),
              "medians %s s vs %s s; runs interleaved: none %s, sampled %s" % (
                  fmt(med["sampled"]), fmt(med["none"]),
                  " ".join(fmt(t) for t in loops["none"]),
                  " ".join(fmt(t) for t in loops["sampled"])))
    # the second half of each run: after the first launches, whose measurement the budget
    # does not govern, the steady state a long training run spends its time in
    halves = {k: [statistics.mean(st[len(st) // 2:]) for _, st in v if len(st) >= 4]
              for k, v in runs.items()}
    if halves["none"] and halves["sampled"]:
        a, b = statistics.median(halves["sampled"]), statistics.median(halves["none"])
        c.add("overhead_sampled_second_half", "info",
              "sampled over no tool, mean step time of each run's second half (medians)",
              "%+.3g%%" % (100.0 * (a - b) / b) if b else "?",
              "%s s vs %s s a step" % (fmt(a), fmt(b)))
    exact_step = None
    if args.exact:
        _, steps = loop_and_steps(args.exact)
        # the first step sets everything up (cuBLAS handles, the allocator's pool)
        later = steps[1:] if len(steps) > 1 else steps
        exact_step = statistics.median(later) if later else None
        none_steps = [s for _, st in runs["none"] for s in st[1:]]
        none_step = statistics.median(none_steps) if none_steps else None
        c.add("exact_step", "info", "median step without the tool %s s" % fmt(none_step),
              "exact %s s%s" % (fmt(exact_step), " (%.3g x)" % (exact_step / none_step)
                                if exact_step and none_step else ""),
              "%d exact steps" % len(steps))
    doc["exact_step_seconds"] = exact_step
    if args.ncu_stdout is None and args.ncu_stderr is None:
        return c, doc
    _, ncu_steps = loop_and_steps(args.ncu_stdout)
    ncu_step, bound = None, False
    if len(ncu_steps) >= 2:
        ncu_step = ncu_steps[-1]
    elif args.ncu_rc in (124, 137):
        # stopped by its limit: the step in progress has taken at least this long
        done, last = progress_of(ctc.read_text(args.ncu_stderr))
        if last is not None and args.ncu_ended:
            ncu_step, bound = args.ncu_ended - last, True
            doc["ncu_steps_finished"] = done
    elif ncu_steps:
        ncu_step = ncu_steps[-1]
    doc["ncu_step_seconds"] = ncu_step
    doc["ncu_step_is_lower_bound"] = bound
    if ncu_step is None or not exact_step:
        c.add("exact_vs_ncu", "skipped", "an exact-mode step >= %g x faster than under ncu" %
              NCU_FACTOR, "ncu step %s s, exact step %s s" % (fmt(ncu_step), fmt(exact_step)),
              "ncu exit %s" % args.ncu_rc)
    else:
        ratio = ncu_step / exact_step
        c.add("exact_vs_ncu", ratio >= NCU_FACTOR,
              "an exact-mode step >= %g x faster than under ncu (same metrics)" % NCU_FACTOR,
              "%s%.3g x" % (">= " if bound else "", ratio),
              "step: exact %s s, ncu %s%s s%s" % (
                  fmt(exact_step), ">= " if bound else "", fmt(ncu_step),
                  "; ncu stopped by its time limit during a step" if bound else ""))
    return c, doc


# ---- self-test --------------------------------------------------------------------------------

OPTS = {"layers": 6, "hidden": 384, "context": 256, "vocab": 8192, "heads": 6, "batch": 16}


def _example_out(path, steps, tokens_per_step=4096, ok=True, step_seconds=None, seconds=None,
                 options=None):
    doc = {"options": options or OPTS, "steps": steps, "tokens": steps * tokens_per_step,
           "ok": ok, "available": True, "active": True,
           "step_seconds": step_seconds if step_seconds is not None else [0.05] * steps,
           "seconds": seconds if seconds is not None else 0.05 * steps}
    with open(path, "w") as f:
        f.write("some line the program printed\n" + json.dumps(doc) + "\n")
    return path


def _report(train, recompute=0.0, hw=0.0, launches=(100, 100, 0, 0), six_nd=None):
    total = train + recompute
    return {"executed": {
        "flop": {"value": total, "half_width_95": hw, "without_interval": 0},
        "training_flop": {"value": train, "half_width_95": hw, "without_interval": 0},
        "training_with_recomputation_flop": {"value": total, "half_width_95": hw,
                                             "without_interval": 0},
        "flop_measured": total * launches[1] / max(launches[0], 1),
        "launches": dict(zip(("total", "measured", "extrapolated", "unmeasured"), launches)),
        "counter_samples": launches[1], "busy_seconds": 0.001 * launches[0]},
        "by_phase": [{"name": "pretraining", "category": "pretraining", "flop": train,
                      "launches": 90}] +
        ([{"name": "recomputation", "category": "recomputation", "flop": recompute,
           "launches": 30}] if recompute else []),
        "estimates": [{"id": "6nd", "flop": six_nd, "ratio": six_nd / train if six_nd else None,
                       "basis": "training"}],
        "flopcounter": {"flop": None, "measured": train, "ratio": None}}


def self_test(flopmeter):
    failures = []
    tmp = tempfile.mkdtemp(prefix="check_gpt_runs.")
    an = analytic(OPTS)
    # the model's numbers by hand: 12 * 6 * 384^2 block weights, 8192 * 384 head weights
    if an["block_weights"] != 10616832 or an["head_weights"] != 3145728:
        failures.append("analytic weights %s" % an)
    # the default model, counted by hand: 3,145,728 + 98,304 + 6 x 1,774,464 + 768
    if parameters(OPTS) != 13891584:
        failures.append("parameters %d" % parameters(OPTS))
    if example_options()["batch"] != 64 or example_options(["--batch", "8"])["batch"] != 8:
        failures.append("the example's options: %s" % example_options())
    # training, lower end: (6 * (10616832 + 3145728) + 2.5 * 2 * 256 * 384 * 6) * 0.98
    if abs(an["training"][0] - 83813990.4) > 1e-3 or \
            abs(an["recomputation"][1] - (2 * 10616832 + 4 * 256 * 384 * 6) * 1.1) > 1e-3:
        failures.append("analytic ranges %s" % an)
    mid_train = sum(an["training"]) / 2
    mid_rec = sum(an["recomputation"]) / 2
    tokens = 200 * 4096

    def run(fn, reports, **kw):
        """fn with report_of answering from `reports` {traces dir: report}."""
        global report_of
        saved = report_of
        report_of = lambda fm, d, stem=None: (reports[d], "") if d in reports \
            else (None, "no trace")
        try:
            ns = argparse.Namespace(flopmeter=flopmeter, prefix="t", rows=None, json=None,
                                    reports_dir=None, quiet=True, **kw)
            c, _ = fn(ns)
        finally:
            report_of = saved
        return {r["check"][2:]: r["status"] for r in c.rows}

    def want(what, rows, fails, passes=()):
        got = sorted(k for k, st in rows.items() if st == "fail")
        if got != sorted(fails):
            failures.append("%s: failing rows %s, expected %s" % (what, got, sorted(fails)))
        for p in passes:
            if rows.get(p) != "pass":
                failures.append("%s: %s is %s, expected pass" % (what, p, rows.get(p)))

    none_out = _example_out(os.path.join(tmp, "none.out"), 200)
    tag_out = _example_out(os.path.join(tmp, "tag.out"), 200)
    good = {"N": _report(mid_train * tokens, six_nd=0.9 * mid_train * tokens),
            "T": _report(mid_train * tokens, mid_rec * tokens)}
    ex = dict(none_traces="N", tag_traces="T", none_stdout=none_out, tag_stdout=tag_out,
              none_rc=0, tag_rc=0)
    want("example as expected", run(run_example, good, **ex), [],
         ("measured_vs_analytic", "recomputation_vs_forward", "training_unchanged_by_tag",
          "no_recomputation_untagged", "library_active", "exit"))
    # a tensor weight off by 2: everything twice the analytic count
    twice = {"N": _report(2 * mid_train * tokens), "T": _report(2 * mid_train * tokens,
                                                                2 * mid_rec * tokens)}
    want("counts doubled", run(run_example, twice, **ex),
         ["measured_vs_analytic", "recomputation_vs_forward"])
    # recomputation left in the training phase: nothing in its own phase, training grows
    leak = {"N": good["N"], "T": _report((mid_train + mid_rec) * tokens)}
    want("recomputation not tagged", run(run_example, leak, **ex),
         ["recomputation_vs_forward", "training_unchanged_by_tag"])
    # recomputation found in the untagged run; a run that crashed
    bad_none = {"N": _report(mid_train * tokens, 0.1 * mid_rec * tokens), "T": good["T"]}
    crashed = _example_out(os.path.join(tmp, "crash.out"), 200, ok=False)
    want("recomputation untagged, crash", run(run_example, bad_none, **dict(
        ex, tag_stdout=crashed, tag_rc=1)), ["no_recomputation_untagged", "exit"])
    # no trace at all for the tagged run: a failed report row, skipped comparisons
    r = run(run_example, {"N": good["N"]}, **ex)
    want("tagged run without a trace", r, ["report"])
    if r.get("recomputation_vs_forward") != "skipped":
        failures.append("without the tagged report: %s" % r.get("recomputation_vs_forward"))

    # counters: 200 sampled steps against 10 exact ones of the same work per step
    per = mid_train * 4096
    exact_out = _example_out(os.path.join(tmp, "exact.out"), 10)
    cn = dict(sampled_traces="S", exact_traces="E", sampled_stdout=none_out,
              exact_stdout=exact_out, exact_rc=0)
    ok = {"S": _report(200 * per * 1.003, hw=200 * per * 0.004, launches=(1000, 80, 920, 0)),
          "E": _report(10 * per, launches=(50, 50, 0, 0))}
    r = run(run_counters, ok, **cn)
    want("counters within", r, [],
         ("sampled_within_1pct", "interval_covers_exact", "exact_all_measured"))
    if r.get("busy_per_step") != "info":
        failures.append("counters: no busy_per_step row")
    off = {"S": _report(200 * per * 1.02, hw=200 * per * 0.004, launches=(1000, 80, 920, 0)),
           "E": _report(10 * per, launches=(50, 48, 2, 0))}
    want("counters 2% off, exact incomplete", run(run_counters, off, **cn),
         ["sampled_within_1pct", "interval_covers_exact", "exact_all_measured"])
    narrow = {"S": _report(200 * per * 1.003, hw=200 * per * 0.001), "E": ok["E"]}
    want("interval too narrow", run(run_counters, narrow, **cn), ["interval_covers_exact"])
    want("exact crashed", run(run_counters, ok, **dict(cn, exact_rc=139)), ["exact_exit"])

    # timing
    def outs(name, loops):
        return [_example_out(os.path.join(tmp, "%s%d.out" % (name, i)), 20,
                             step_seconds=[1.0] + [t / 20] * 19, seconds=t)
                for i, t in enumerate(loops)]
    none3 = outs("n", [10.0, 10.4, 9.9])
    fast = outs("s", [10.1, 10.0, 12.0])      # median 10.1 against 10.0: +1%
    slow = outs("w", [10.3, 10.4, 10.2])      # +3%
    ex_o = _example_out(os.path.join(tmp, "ex.out"), 5, step_seconds=[3.0, 0.2, 0.2, 0.2, 0.2])
    ncu_fast = _example_out(os.path.join(tmp, "ncu.out"), 2, step_seconds=[9.0, 5.0], ok=True)
    ncu_slow = _example_out(os.path.join(tmp, "ncu2.out"), 2, step_seconds=[9.0, 0.6])
    err = os.path.join(tmp, "ncu.err")
    with open(err, "w") as f:
        f.write("FLOPMETER_EXAMPLE_LOOP 1000.0\nFLOPMETER_EXAMPLE_STEP 0 1030.0\n")
    tm = dict(none=none3, sampled=fast, exact=ex_o, ncu_stdout=ncu_fast, ncu_stderr=err,
              ncu_rc=0, ncu_ended=None)
    r = run(run_timing, {}, **tm)
    want("timing", r, [], ("overhead_sampled", "exact_vs_ncu"))
    if r.get("overhead_sampled_second_half") != "info" or r.get("exact_step") != "info":
        failures.append("timing info rows: %s" % r)
    want("timing, 3% and ncu close", run(run_timing, {}, **dict(
        tm, sampled=slow, ncu_stdout=ncu_slow)), ["overhead_sampled", "exact_vs_ncu"])
    # ncu stopped by its limit 45 s after its first step ended: >= 45 s a step
    killed = os.path.join(tmp, "killed.out")
    open(killed, "w").close()
    r = run(run_timing, {}, **dict(tm, ncu_stdout=killed, ncu_rc=124, ncu_ended=1075.0))
    want("ncu stopped by its limit", r, [], ("exact_vs_ncu",))
    if progress_of("FLOPMETER_EXAMPLE_LOOP 5\nFLOPMETER_EXAMPLE_STEP 0 7\n"
                   "FLOPMETER_EXAMPLE_STEP 1 9.5\n") != (2, 9.5):
        failures.append("progress_of")

    # the real report of a synthetic trace has every key these comparisons read
    if flopmeter:
        d = os.path.join(tmp, "synth")
        os.makedirs(d)
        p = subprocess.run([flopmeter, "synth", "--out", os.path.join(d, "t.fmtrace"),
                            "--steps", "30", "--world-size", "1", "--quiet"],
                           capture_output=True, text=True)
        if p.returncode != 0:
            failures.append("synth: %s" % p.stderr.strip())
        else:
            ns = argparse.Namespace(flopmeter=flopmeter, prefix="t", rows=None, json=None,
                                    reports_dir=tmp, quiet=True, none_traces=d, tag_traces=d,
                                    none_stdout=none_out, tag_stdout=tag_out, none_rc=0,
                                    tag_rc=0)
            try:
                c, doc = run_example(ns)
                statuses = {r["check"][2:]: r["status"] for r in c.rows}
                missing = [k for k in ("measured_vs_analytic", "recomputation_vs_forward",
                                       "measured_vs_formulas", "training_unchanged_by_tag")
                           if statuses.get(k) not in ("pass", "fail", "info")]
                if missing or "report" in statuses:
                    failures.append("example on a synth trace: %s" % statuses)
                for ext in (".report.json", ".report.txt"):
                    if not os.path.exists(os.path.join(tmp, "python_example_tag" + ext)):
                        failures.append("no python_example_tag%s kept" % ext)
            except (KeyError, TypeError) as e:
                failures.append("example on a synth trace: %r" % e)
    for f in failures:
        print("FAIL " + f)
    print("check_gpt_runs self-test: %s" % ("%d failures" % len(failures) if failures
                                             else "all passed"))
    return 1 if failures else 0


def main(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)

    def common(sp):
        sp.add_argument("--prefix", default="gpt")
        sp.add_argument("--rows")
        sp.add_argument("--json")
        sp.add_argument("--quiet", action="store_true")

    e = sub.add_parser("example", help="the Python package's example, untagged and tagged")
    e.add_argument("--flopmeter", required=True)
    for run in ("none", "tag"):
        e.add_argument("--%s-traces" % run, required=True)
        e.add_argument("--%s-stdout" % run, required=True)
        e.add_argument("--%s-rc" % run, type=int, default=0)
    e.add_argument("--reports-dir")
    common(e)
    k = sub.add_parser("counters", help="sampled against exact, per step")
    k.add_argument("--flopmeter", required=True)
    for run in ("sampled", "exact"):
        k.add_argument("--%s-traces" % run, required=True)
        k.add_argument("--%s-stdout" % run, required=True)
    k.add_argument("--exact-rc", type=int, default=0)
    k.add_argument("--reports-dir")
    common(k)
    t = sub.add_parser("timing", help="wall times: medians, exact against ncu")
    t.add_argument("--none", nargs="+", default=[])
    t.add_argument("--sampled", nargs="+", default=[])
    t.add_argument("--exact")
    t.add_argument("--ncu-stdout")
    t.add_argument("--ncu-stderr")
    t.add_argument("--ncu-rc", type=int)
    t.add_argument("--ncu-ended", type=float,
                   help="unix time the ncu run ended (for a run stopped by its limit)")
    common(t)
    x = sub.add_parser("expected", help="what the example's report should show (the "
                       "analytic counts), for the example's options given after it")
    x.add_argument("example_args", nargs=argparse.REMAINDER)
    s = sub.add_parser("self-test", help="test this script without a GPU")
    s.add_argument("--flopmeter")
    a = p.parse_args(argv)
    if a.mode == "self-test":
        return self_test(a.flopmeter or ctc.find_flopmeter())
    if a.mode == "expected":
        print_expected(example_options(a.example_args))
        return 0
    fn = {"example": run_example, "counters": run_counters, "timing": run_timing}[a.mode]
    if a.mode != "timing" and not os.access(a.flopmeter, os.X_OK):
        print("check_gpt_runs.py: %s is not an executable flopmeter" % a.flopmeter,
              file=sys.stderr)
        return 2
    c, doc = fn(a)
    ctc.write_checks_json(a.json, doc, c)
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
