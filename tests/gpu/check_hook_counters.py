#!/usr/bin/env python3
"""Compares the FLOP counters libflopmeter.so read with ncu and with the analytic counts.

    check_hook_counters.py items --flopmeter BIN (--traces DIR | --dumps JSON...)
                           --stdout FILE [--plain FILE] [--expected FILE] [--rc N]
                           [--ncu-dir DIR] [--calibration FILE] [--seconds S]
                           [--plain-seconds S] [--ncu-seconds S] [--prefix P]
                           [--rows ROWS.jsonl] [--json OUT.json]
    check_hook_counters.py self-test [--flopmeter BIN]

`items`: flop_kernels (the calibration program) ran under the hook with FLOPMETER_PROFILE=exact,
so every launch outside a CUDA graph was read in every metric group, its COUNTER_SAMPLE
records holding the raw values in each METRIC_GROUP's metric order. The trace is read with
`flopmeter dump --json` (the report has no raw values) and `flopmeter verify --json`. The
measured launches (the samples of one launch share its launch_ordinal, numbered in launch
order) are cut into the items' segments by the program's marker kernels, as calibrate.py cuts
ncu's rows: fk_mark_warmup / fk_mark_measure with seq + 1 blocks open an item's warm-up and
measured segment. The hook reads the tensor counters split by sparsity (X_sparsity_off,
X_sparsity_on) where ncu was asked for X: the halves are added before comparing. Then:

- per kernel, every raw value against ncu's for the same kernel of the same segment
  (calibration/ncu_*.csv, the calibration's runs): within 0.1%;
- per item, the counts against the program's analytic expectations (FLOPCAL lines: exact
  values, and the readings still open as hypotheses), the tensor total against the
  instruction-level M*N*K, and the hook's FLOP per precision class (raw value x the group's
  weight) against the FLOP the item executes;
- the trace's own accounting: every launch outside a graph measured, graph kernels counted
  and not measured, the AGGREGATE sums equal to the samples' sums;
- the program's output under the hook equal to the run without it, and the time against ncu.

A trace that says the counters could not be read (DEGRADATION, no COUNTER_SAMPLE) fails
`counters_read` with the hook's message, and the comparisons that need samples are skipped.

(The counters on PyTorch, sampled against exact, are check_gpt_runs.py's.)

One row per comparison family goes to ROWS (results.py) and to stdout; the numbers per item
and kernel go to --json. Exit status 0 when no row failed, 1 when one did, 2 on a usage
error. `self-test` runs it on hand-made dumps, ncu CSV and `flopmeter synth` traces,
without a GPU.
"""
import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import calibrate  # noqa: E402  (next to this file: ncu CSV and segments)
import check_trace_counts as ctc  # noqa: E402  (kernel names, traces, the Checks rows)

SCHEMA = "flopmeter-hook-counters/1"
NCU_REL = 1e-3          # the acceptance: the hook and ncu agree within 0.1% per kernel
DURATION = "gpu__time_duration.sum"
SPLIT = re.compile(r"_sparsity_(?:on|off)(\.sum)$")
CLASS_NONE = 0xFF
FORMATS = ("fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "fp6", "fp4", "int8", "int4")
# Degradation kinds (docs/trace-format.md, "Enumerations")
KINDS = ("other", "no_device", "insufficient_privileges", "other_subscriber", "counters_busy",
         "unsupported_device", "records_dropped", "write_failed", "config_invalid",
         "profiler_error")


def class_name(code):
    if code == CLASS_NONE:
        return "none"
    fmt = code & 0x0F
    name = FORMATS[fmt] if fmt < len(FORMATS) else "format%d" % fmt
    name += ".tensor" if code & 0x10 else ".cuda"
    return name + (".sparse" if code & 0x20 else "")


def unsplit(name):
    """The metric ncu was asked for: X_sparsity_off.sum and X_sparsity_on.sum are X.sum."""
    return SPLIT.sub(r"\1", name)


def short(m):
    return calibrate.short_metric(m)


def within(a, b, rel):
    """Counts agree: equal up to rel of the larger, or half a count."""
    if a is None or b is None:
        return False
    return abs(a - b) <= max(0.5, rel * max(abs(a), abs(b)))


def rel_diff(a, b):
    if a is None or b is None:
        return None
    m = max(abs(a), abs(b))
    return 0.0 if m == 0 else abs(a - b) / m


def number(text):
    """A float from a command-line value ("12.5"; "?" or "" when a step left none)."""
    try:
        v = float(text)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


# ---- the trace --------------------------------------------------------------------------

class Launch:
    """One measured launch: its samples (one per group read) joined."""

    def __init__(self, sig, ordinal, name, grid, first):
        self.sig, self.ordinal, self.name, self.grid = sig, ordinal, name, grid
        self.first = first          # position of its first sample in the file
        self.values = {}            # metric as the hook names it -> raw value
        self.ops = {}               # precision class -> operations (value x weight)
        self.groups = set()
        self.passes = 0
        self.duration_ns = 0

    def unsplit_values(self):
        out = {}
        for m, v in self.values.items():
            if m == DURATION:
                continue
            u = unsplit(m)
            out[u] = out.get(u, 0.0) + v
        return out


class CounterTrace:
    """What the counter checks need from one trace's `flopmeter dump --json` document."""

    def __init__(self, dump, path, verify=None):
        self.path, self.verify = path, verify
        strings = {}
        self.signatures = {}  # id -> {"name", "grid", "arg_hash", "callsite"}
        self.groups = {}      # id -> [(metric name, class, weight)]
        self.chips = set()
        self.samples = []     # file order
        self.agg = {}         # signature -> {"launches", "measured", "extrapolated", "classes"}
        self.degradations = []
        self.devices, self.final, self.config = [], None, {}
        for r in dump.get("records", []):
            kind = r.get("record")
            if kind == "string":
                strings[r["id"]] = r["text"]
            elif kind == "run_meta" and not self.config:
                self.config = {c["key"]: c["value"] for c in r.get("config", [])}
            elif kind == "device":
                self.devices.append(r)
            elif kind == "kernel_signature":
                self.signatures[r["id"]] = {"name": strings.get(r["name"], ""),
                                            "grid": r.get("grid", [0, 0, 0]),
                                            "arg_hash": r.get("arg_hash", ""),
                                            "callsite": r.get("callsite", 0)}
            elif kind == "metric_group":
                self.groups[r["id"]] = [(strings.get(m["name"], "?%s" % m["name"]), m["class"],
                                         m["weight"]) for m in r.get("metrics", [])]
                self.chips.add(r.get("chip", ""))
            elif kind == "counter_sample":
                self.samples.append(r)
            elif kind == "aggregate":
                a = self.agg.setdefault(r["signature"], {"launches": 0, "measured": 0,
                                                         "extrapolated": 0, "classes": {}})
                a["launches"] += r["launches"]
                a["measured"] += r["launches_measured"]
                a["extrapolated"] += r["launches_extrapolated"]
                for c in r.get("classes", []):
                    s = a["classes"].setdefault(c["class"], [0.0, 0.0])
                    s[0] += c["measured"]
                    s[1] += c["extrapolated"]
            elif kind == "degradation":
                k = r.get("kind", 0)
                self.degradations.append({
                    "kind": KINDS[k] if isinstance(k, int) and k < len(KINDS) else str(k),
                    "api_result": r.get("api_result", 0),
                    "launches_affected": r.get("launches_affected", 0),
                    "message": r.get("message", "")})
            elif kind == "final":
                self.final = r
        self.end = dump.get("end", {})

    def launches(self):
        """The measured launches, in launch order (ordinal; file order among equals)."""
        by_key, out = {}, []
        for i, s in enumerate(self.samples):
            key = (s["signature"], s["launch_ordinal"])
            la = by_key.get(key)
            if la is None:
                sig = self.signatures.get(s["signature"], {"name": "", "grid": [0, 0, 0]})
                la = by_key[key] = Launch(s["signature"], s["launch_ordinal"], sig["name"],
                                          sig["grid"], i)
                out.append(la)
            la.groups.add(s["group"])
            la.passes = max(la.passes, s.get("passes", 1))
            la.duration_ns = la.duration_ns or s.get("duration_ns", 0)
            for (name, cls, weight), v in zip(self.groups.get(s["group"], []), s["values"]):
                la.values[name] = la.values.get(name, 0.0) + v
                if cls != CLASS_NONE:
                    la.ops[cls] = la.ops.get(cls, 0.0) + v * weight
        out.sort(key=lambda la: (la.ordinal, la.first))
        return out

    def metric_class(self):
        """Metric name (unsplit, the dense half where split) -> its precision class."""
        out = {}
        for metrics in self.groups.values():
            for name, cls, _w in metrics:
                if name.endswith("_sparsity_on.sum"):
                    continue
                out.setdefault(unsplit(name), cls)
        return out


def load_counter_traces(flopmeter, traces_dir=None, dumps=None):
    """CounterTrace objects and the problems reading them."""
    return ctc.load_traces(flopmeter, traces_dir, dumps, cls=CounterTrace)


# ---- segments ---------------------------------------------------------------------------

def hook_segments(launches):
    """The measured launches grouped by the markers, as calibrate.segments groups ncu's rows:
    {("warmup"|"measure", seq): [Launch]}, and the launches before any marker."""
    def marker_of(la):
        base = ctc.function_name(la.name)
        if base not in (calibrate.MARK_WARMUP, calibrate.MARK_MEASURE):
            return None
        return ("warmup" if base == calibrate.MARK_WARMUP else "measure", int(la.grid[0]) - 1)

    return calibrate.group_by_markers(launches, marker_of)


def read_ncu(ncu_dir):
    """ncu's kernel rows by segment, from the calibration's logs (the runs repeated without
    a refused metric replace the refused ones), and the files read."""
    files = []
    if ncu_dir and os.path.isdir(ncu_dir):
        files = sorted(os.path.join(ncu_dir, f) for f in os.listdir(ncu_dir)
                       if f.startswith("ncu_") and f.endswith(".csv") and
                       not f.endswith(".refused.csv"))
    kernels = []
    for path in files:
        with open(path, encoding="utf-8", errors="replace") as f:
            kernels.extend(calibrate.parse_ncu_csv(f.read()))
    segs, _stray = calibrate.segments(kernels)
    return segs, [os.path.basename(p) for p in files], len(kernels)


def compare_kernels(hook_segs, ncu_segs, names, graph_seqs=(), rel=NCU_REL):
    """Per segment both sides have, kernel by kernel in launch order: every raw value ncu
    read against the hook's. A graph item's segment without hook launches (a CUDA graph's
    kernels are counted, not measured) is listed apart."""
    out = {"segments": [], "kernels": 0, "values": 0, "within": 0, "worst": 0.0,
           "mismatches": [], "not_read_by_hook": set(), "unmeasured_segments": []}
    for key in sorted(k for k in ncu_segs if k[0] in ("warmup", "measure")):
        rows, hook = ncu_segs[key], hook_segs.get(key)
        item = names.get(key[1], "seq%d" % key[1])
        if hook is None:
            continue  # the hook run never reached the segment: the item rows say so
        seg = {"item": item, "segment": key[0], "ncu_kernels": len(rows),
               "hook_launches": len(hook), "kernels": []}
        out["segments"].append(seg)
        if not hook and rows and key[1] in graph_seqs:
            out["unmeasured_segments"].append("%s/%s" % (item, key[0]))
            continue
        if len(hook) != len(rows):
            out["mismatches"].append({"item": item, "segment": key[0], "kernel": None,
                                      "metric": "launches", "hook": len(hook),
                                      "ncu": len(rows)})
        for i, (la, row) in enumerate(zip(hook, rows)):
            hv = la.unsplit_values()
            k = {"index": i, "hook_name": la.name, "ncu_name": row["name"],
                 "same_function": ctc.function_name(la.name) == ctc.function_name(row["name"]),
                 "values": {}}
            out["kernels"] += 1
            for m, nv in sorted(row["metrics"].items()):
                if m.startswith("launch__") or m == DURATION or nv is None:
                    continue
                h = hv.get(m)
                if h is None:
                    # a counter the hook does not read (left out of its groups): harmless
                    # where ncu counted nothing in it
                    out["not_read_by_hook"].add(m)
                    if nv == 0:
                        continue
                out["values"] += 1
                ok = within(h, nv, rel)
                d = rel_diff(h, nv)
                k["values"][m] = {"hook": h, "ncu": nv, "rel_diff": d, "ok": ok}
                if ok:
                    out["within"] += 1
                    out["worst"] = max(out["worst"], d or 0.0)
                else:
                    out["mismatches"].append({"item": item, "segment": key[0], "kernel": i,
                                              "metric": m, "hook": h, "ncu": nv})
            if not k["same_function"]:
                out["mismatches"].append({"item": item, "segment": key[0], "kernel": i,
                                          "metric": "name", "hook": la.name,
                                          "ncu": row["name"]})
            k["ncu_duration_ns"] = row["metrics"].get(DURATION)
            k["hook_duration_ns"] = la.duration_ns
            seg["kernels"].append(k)
    out["not_read_by_hook"] = sorted(out["not_read_by_hook"])
    return out


# ---- the items --------------------------------------------------------------------------

def totals(launches):
    """Sums over a segment's launches: raw values (tensor halves added) with
    tensor_ops_total, and operations per class."""
    vals, ops = {}, {}
    for la in launches:
        for m, v in la.unsplit_values().items():
            vals[m] = vals.get(m, 0.0) + v
        for c, v in la.ops.items():
            ops[c] = ops.get(c, 0.0) + v
    leaves = [m for m in vals if m.startswith(calibrate.TENSOR_PREFIX)]
    vals[calibrate.TENSOR_TOTAL] = sum(vals[m] for m in leaves) if leaves else 0.0
    return vals, ops


def is_open_weight(item):
    """CUDA-core half precision: how many FLOP one hadd/hmul/hfma count is stays OPEN
    (metric_catalog.h), so the hook's FLOP for it is a fact to show, not a pass or fail."""
    wm = item.get("weight_metric") or ""
    return item["group"] == "cuda_core" and any(
        "_op_%s_" % op in wm for op in ("hadd", "hmul", "hfma"))


def expected_class(item, metric_class):
    """The precision class the item's work belongs to, as the hook's groups classify the
    metric that carries it."""
    m = item.get("tensor_leaf") or (item.get("weight_metric") or "").split("+")[0]
    return metric_class.get(m)


def evaluate_item(item, segs, metric_class):
    seq = item["seq"]
    hook = segs.get(("measure", seq))
    ev = {"seq": seq, "name": item["name"], "group": item["group"], "ran": item.get("ran"),
          "launches_expected": item.get("launches", -1), "flop": item["flop"],
          "flop_executed": item.get("flop_executed", item["flop"]),
          "ragged": item.get("ragged", False)}
    if hook is None or (not hook and item["group"] == "graph"):
        ev["measured"] = None
        ev["status"] = "graph kernels are counted, not measured" if item["group"] == "graph" \
            else "no measured segment"
        return ev
    vals, ops = totals(hook)
    ev["launches_measured"] = len(hook)
    ev["kernels"] = [la.name for la in hook]
    ev["passes"] = sorted({la.passes for la in hook})
    ev["measured"] = vals
    ev["flop_by_class"] = {class_name(c): v for c, v in sorted(ops.items())}
    ev["exact"] = [{"metric": m, "expected": e, "measured": vals.get(m),
                    "match": calibrate.close(vals.get(m), e)}
                   for m, e in item.get("expect", {}).items()]
    hyps = []
    for h in item.get("hypotheses", []):
        ok = all(calibrate.close(vals.get(m), e) for m, e in h["values"].items())
        hyps.append({"name": h["name"], "match": ok})
    ev["hypotheses_matching"] = [h["name"] for h in hyps if h["match"]]
    ev["has_hypotheses"] = bool(hyps)
    leaf = item.get("tensor_leaf")
    if leaf:
        ev["tensor_leaf"] = leaf
        tot = vals[calibrate.TENSOR_TOTAL]
        ev["tensor_ops_total"] = tot
        ev["tensor_leaf_carries_all"] = calibrate.close(vals.get(leaf), tot)
        mnk = (item.get("info") or {}).get("mnk") or item["flop"] / 2
        ev["tensor_per_mnk"] = tot / mnk if mnk else None
    cls = expected_class(item, metric_class)
    ev["class"] = class_name(cls) if cls is not None else None
    ev["flop_in_class"] = ops.get(cls, 0.0) if cls is not None else None
    ev["flop_ratio"] = calibrate.ratio(ev["flop_in_class"], ev["flop_executed"])
    ev["status"] = "measured"
    return ev


def read_items(paths):
    items, _metas, ends = calibrate.read_program([p for p in paths if p])
    return items, ends


# ---- items: the rows ----------------------------------------------------------------------

def fmt_n(v):
    return calibrate.fmt(v)


def run_items(args):
    c = ctc.Checks(args.prefix, args.rows, getattr(args, "quiet", False))
    doc = {"schema": SCHEMA, "mode": "items"}
    hook_items, _ = read_items([args.stdout])
    plain_items, _ = read_items([args.plain])
    items, _ = read_items([args.stdout, args.plain, args.expected])
    names = {s: it["name"] for s, it in items.items()}

    # 1. the program under the hook: same exit status, every item that ran without the hook
    # ran, the result checks (wgmma products) the same
    if not items:
        c.add("program", False, "FLOPCAL lines", "none",
              "no output from flop_kernels under the hook or without it")
        return c, doc
    lost = sorted(it["name"] for s, it in plain_items.items()
                  if it.get("ran") and not (hook_items.get(s) or {}).get("ran"))
    wrong = sorted(it["name"] for s, it in hook_items.items()
                   if isinstance(it.get("check"), dict) and "correct" in it["check"] and
                   it["check"]["correct"] != ((plain_items.get(s) or {}).get("check") or
                                              {}).get("correct", True))
    n_ran = sum(1 for it in hook_items.values() if it.get("ran"))
    ok = args.rc == 0 and not lost and not wrong and n_ran > 0
    detail = []
    if lost:
        detail.append("ran without the hook only: " + ", ".join(lost))
    if wrong:
        detail.append("result check differs: " + ", ".join(wrong))
    c.add("program", ok, "exit 0, the items and results of the run without the hook",
          "exit %s, %d of %d items ran" % (args.rc, n_ran, len(items)),
          "; ".join(detail) or None)

    # 2. the trace
    traces, problems = load_counter_traces(args.flopmeter, args.traces, args.dumps)
    if len(traces) != 1:
        c.add("trace", False, "1 trace", len(traces), "; ".join(problems) or None)
        if not traces:
            return c, doc
    t = traces[0]
    bad = []
    if t.verify is not None and not (t.verify.get("intact") and t.verify.get("complete")):
        bad.append(t.verify.get("error") or ("incomplete" if t.verify.get("intact")
                                             else "damaged"))
    dropped = (t.final or {}).get("records_dropped", 0)
    if dropped:
        bad.append("%d records dropped" % dropped)
    if len(traces) == 1:
        c.add("trace", not bad, "intact, complete, no record dropped",
              "ok" if not bad else "; ".join(bad)[:80],
              "the profile setting in the trace: %s" % t.config.get("profile", "?"))
    doc["trace"] = {"file": os.path.basename(t.path), "verify": t.verify,
                    "config": t.config, "degradations": t.degradations}

    # 3. counters read at all; the hook's reason when not
    launches = t.launches()
    degr = ["%s: %s" % (d["kind"], d["message"]) for d in t.degradations]
    if not t.groups or not launches:
        c.add("counters_read", False, "METRIC_GROUP and COUNTER_SAMPLE records",
              "%d groups, %d samples" % (len(t.groups), len(t.samples)),
              ("; ".join(degr) or "no DEGRADATION record says why")[:600])
        for name in ("all_measured", "aggregate_sums", "ncu", "cuda_core_counts",
                     "tensor_counts", "flop", "speed"):
            c.add(name, "skipped", "counter samples", "none read")
        return c, doc
    c.add("counters_read", True, "METRIC_GROUP and COUNTER_SAMPLE records",
          "%d groups, %d samples of %d launches" % (len(t.groups), len(t.samples),
                                                    len(launches)))
    c.add("degradations", "info", 0, len(degr), "; ".join(degr)[:600] or None)
    passes = sorted({la.passes for la in launches})
    n_metrics = sum(len(g) for g in t.groups.values())
    c.add("groups", "info", "the chip's single-pass groups",
          "%d groups, %d metrics, chip %s" % (len(t.groups), n_metrics,
                                              ",".join(sorted(t.chips))),
          "passes per replayed launch: %s" % ",".join(str(p) for p in passes))
    doc["groups"] = {str(g): [{"metric": m, "class": class_name(cl), "weight": w}
                              for m, cl, w in ms] for g, ms in sorted(t.groups.items())}

    segs, stray = hook_segments(launches)
    metric_class = t.metric_class()
    evals = [evaluate_item(items[s], segs, metric_class) for s in sorted(items)]

    def ran_here(e):
        return (hook_items.get(e["seq"]) or {}).get("ran", False)
    doc["items"] = evals
    ev_by = {e["name"]: e for e in evals}

    # 4. exact mode's promise: every launch outside a graph in every group; graph kernels
    # counted, not measured; each measured segment holds the launches the item makes
    n_groups = len(t.groups)
    partial = [la for la in launches if len(la.groups) != n_groups]
    total = sum(a["launches"] for a in t.agg.values())
    meas = sum(a["measured"] for a in t.agg.values())
    extra = sum(a["extrapolated"] for a in t.agg.values())
    unmeasured = total - meas - extra
    graph_launches = sum(max(it.get("launches", 0), 0) +
                         (max(it.get("warmup_launches", 0), 0) if it.get("warmup_run") else 0)
                         for it in hook_items.values() if it["group"] == "graph" and
                         it.get("ran"))
    unmeasured_sigs = sorted({ctc.function_name(t.signatures.get(s, {}).get("name", "?"))
                              for s, a in t.agg.items()
                              if a["launches"] > a["measured"] + a["extrapolated"]})
    short_segs = ["%s %d/%d" % (e["name"], e.get("launches_measured", 0),
                                e["launches_expected"])
                  for e in evals if e["launches_expected"] >= 0 and e["group"] != "graph" and
                  e.get("ran") is not False and
                  e.get("launches_measured") != e["launches_expected"]]
    ok = not partial and extra == 0 and unmeasured == graph_launches and not short_segs
    detail = ["unmeasured launches in %s" % (", ".join(unmeasured_sigs) or "none")]
    if partial:
        detail.append("%d launches read in fewer than %d groups" % (len(partial), n_groups))
    if short_segs:
        detail.append("measured launches per item, of expected: " + ", ".join(short_segs))
    c.add("all_measured", ok,
          "every launch measured in all groups but the %d of CUDA graphs" % graph_launches,
          "%d launches: %d measured, %d extrapolated, %d unmeasured" % (total, meas, extra,
                                                                        unmeasured),
          "; ".join(detail)[:600])

    # 5. the AGGREGATE records credit exactly what the samples hold
    agg_ops, smp_ops = {}, {}
    for a in t.agg.values():
        for cl, (m, _e) in a["classes"].items():
            agg_ops[cl] = agg_ops.get(cl, 0.0) + m
    for la in launches:
        for cl, v in la.ops.items():
            smp_ops[cl] = smp_ops.get(cl, 0.0) + v
    diffs = ["%s %s vs %s" % (class_name(cl), fmt_n(agg_ops.get(cl, 0.0)),
                              fmt_n(smp_ops.get(cl, 0.0)))
             for cl in sorted(set(agg_ops) | set(smp_ops))
             if abs(agg_ops.get(cl, 0.0) - smp_ops.get(cl, 0.0)) >
             1e-9 * max(abs(agg_ops.get(cl, 0.0)), abs(smp_ops.get(cl, 0.0)), 1.0)]
    c.add("aggregate_sums", not diffs, "AGGREGATE measured = sum of samples x weights",
          "equal in %d classes" % len(smp_ops) if not diffs else "%d differ" % len(diffs),
          "; ".join(diffs)[:600] or None)
    doc["flop_by_class"] = {class_name(cl): {"aggregate": agg_ops.get(cl, 0.0),
                                             "samples": smp_ops.get(cl, 0.0)}
                            for cl in sorted(set(agg_ops) | set(smp_ops))}

    # 6. against ncu, kernel by kernel
    cal_status = None
    if args.calibration and os.path.exists(args.calibration):
        try:
            with open(args.calibration, encoding="utf-8") as f:
                cal_status = json.load(f).get("ncu", {})
        except ValueError:
            cal_status = None
    ncu_segs, ncu_files, n_ncu = read_ncu(args.ncu_dir)
    if not n_ncu:
        why = "no ncu kernel rows"
        if cal_status and cal_status.get("status") != "ok":
            why = "ncu %s: %s" % (cal_status.get("status"), cal_status.get("reason", ""))
        elif not ncu_files:
            why = "no calibration/ncu_*.csv (calibration skipped or cut)"
        c.add("ncu", "skipped", "each kernel's values within 0.1% of ncu's", why[:80])
        cmp_ = None
    else:
        cmp_ = compare_kernels(segs, ncu_segs, names,
                               {s for s, it in items.items() if it["group"] == "graph"})
        mm = cmp_["mismatches"]
        detail = "; ".join("%s/%s#%s %s: hook %s, ncu %s" % (
            x["item"], x["segment"], x["kernel"], short(x["metric"]),
            x["hook"] if isinstance(x["hook"], str) else fmt_n(x["hook"]),
            x["ncu"] if isinstance(x["ncu"], str) else fmt_n(x["ncu"])) for x in mm[:12])
        if cmp_["unmeasured_segments"]:
            detail = ("not measured by the hook (graph): %s; " %
                      ", ".join(cmp_["unmeasured_segments"])) + detail
        c.add("ncu", bool(cmp_["values"]) and not mm,
              "each kernel's values within 0.1% of ncu's",
              "%d of %d values in %d kernels%s" % (
                  cmp_["within"], cmp_["values"], cmp_["kernels"],
                  ", worst %.2g" % cmp_["worst"] if cmp_["within"] else ""),
              detail[:800] or None)
        doc["ncu"] = {"files": ncu_files, "kernels_in_logs": n_ncu, "calibration": cal_status,
                      "comparison": cmp_}

    # 7. CUDA-core counts against the analytic ones: every exact expectation, and one of the
    # readings the program lists for what is still open
    measured = [e for e in evals if e.get("measured") is not None]
    core = [e for e in measured if e["group"] in ("cuda_core", "threads")]
    bad = []
    for e in core:
        miss = [x for x in e["exact"] if not x["match"]]
        if miss:
            bad.append("%s %s=%s (expected %s)" % (e["name"], short(miss[0]["metric"]),
                                                   fmt_n(miss[0]["measured"]),
                                                   fmt_n(miss[0]["expected"])))
        elif e["has_hypotheses"] and not e["hypotheses_matching"]:
            bad.append("%s: no reading fits" % e["name"])
    # an item that did not run under the hook is the program row's failure
    not_measured = [e["name"] for e in evals if e["group"] in ("cuda_core", "threads") and
                    e.get("measured") is None and ran_here(e)]
    readings = sorted({h for e in core for h in e["hypotheses_matching"]})
    c.add("cuda_core_counts", bool(core) and not bad and not not_measured,
          "analytic counts (exact, or one listed reading)",
          "%d of %d items" % (len(core) - len(bad), len(core) + len(not_measured)),
          "; ".join(bad + (["not measured: " + ", ".join(not_measured)] if not_measured
                           else []) + ["readings: " + ", ".join(readings)])[:600])

    # 8. tensor counts against the instruction-level count (M*N*K of the instructions that
    # ran): 2*M*N*K (op=flop) or M*N*K (op=mac), all of it in the leaf expected
    tens = [e for e in measured if e["group"] in ("mma_sync", "wgmma")]
    bad, per = [], []
    for e in tens:
        fits = [h for h in e["hypotheses_matching"] if h.startswith("op=")]
        per.append("%s %s" % (e["name"], "x%.4g" % e["tensor_per_mnk"]
                              if e.get("tensor_per_mnk") is not None else "-"))
        if len(fits) != 1 or not e.get("tensor_leaf_carries_all"):
            bad.append("%s: %s of M*N*K%s" % (
                e["name"], fmt_n(e.get("tensor_per_mnk")),
                "" if e.get("tensor_leaf_carries_all") else ", not all in " +
                short(e.get("tensor_leaf", ""))))
    missing = [e["name"] for e in evals if e["group"] in ("mma_sync", "wgmma") and
               e.get("measured") is None and ran_here(e)]
    c.add("tensor_counts", bool(tens) and not bad and not missing,
          "2*M*N*K or M*N*K, in the expected leaf",
          "%d of %d items" % (len(tens) - len(bad), len(tens) + len(missing)),
          "; ".join(bad + (["not measured: " + ", ".join(missing)] if missing else []) +
                    ["tensor total / M*N*K: " + ", ".join(per)])[:600])

    # cuBLAS: the library picks the kernels, so its tensor total is a fact to show (the
    # calibration expects 2*M*N*K at 4096^3 and a few percent more at the ragged shape)
    gemms = [e for e in measured if e["group"] == "cublas" and e.get("tensor_per_mnk")]
    if gemms:
        c.add("cublas", "info", "tensor total / M*N*K per cuBLAS GEMM",
              ", ".join("%s x%.4g" % (e["name"].replace("cublas", "").strip("_"),
                                      e["tensor_per_mnk"]) for e in gemms)[:120],
              "kernels per GEMM: " + ", ".join("%s %d" % (e["name"], e["launches_measured"])
                                               for e in gemms))

    # 9. the hook's FLOP (raw x its weights) in the item's class against what the item
    # executes: exact for kernels of known instructions, 0.1% for cuBLAS at 4096^3; the
    # half-precision CUDA-core weights and the ragged GEMMs (padding) are shown, not judged
    judged, shown, bad = [], [], []
    for e in measured:
        if e.get("flop_in_class") is None:
            continue
        if is_open_weight(items[e["seq"]]) or e.get("ragged"):
            shown.append(e)
            continue
        judged.append(e)
        tol = NCU_REL if e["group"] == "cublas" else 0.0
        ok = (calibrate.close(e["flop_in_class"], e["flop_executed"]) if tol == 0
              else within(e["flop_in_class"], e["flop_executed"], tol))
        if not ok:
            bad.append("%s: %s %s, expected %s (x%.4g)" % (
                e["name"], e["class"], fmt_n(e["flop_in_class"]), fmt_n(e["flop_executed"]),
                e["flop_ratio"] or 0))
    c.add("flop", bool(judged) and not bad, "FLOP per class = FLOP executed",
          "%d of %d items" % (len(judged) - len(bad), len(judged)), "; ".join(bad)[:600] or None)
    if shown:
        c.add("flop_open", "info", "FLOP per class / FLOP executed (weights open, padding)",
              ", ".join("%s x%.4g" % (e["name"], e["flop_ratio"] or 0) for e in shown)[:120],
              "half-precision CUDA-core weights are OPEN (metric_catalog.h); ragged GEMMs pad")

    # 10. time: exact mode against ncu on the same program (per profiled kernel: the ncu runs
    # may have been cut by their time limit), and against the plain run
    t_hook, t_ncu, t_plain = (number(args.seconds), number(args.ncu_seconds),
                              number(args.plain_seconds))
    n_hook = len(launches)
    if t_hook is None or t_ncu is None or not n_ncu:
        c.add("speed", "skipped", "exact mode far faster than ncu (per kernel, <= 1/2)",
              "no ncu run to compare with" if not n_ncu else "no time recorded")
    else:
        per_hook, per_ncu = t_hook / max(n_hook, 1), t_ncu / n_ncu
        c.add("speed", per_hook <= 0.5 * per_ncu,
              "exact mode far faster than ncu (per kernel, <= 1/2)",
              "%.3g s vs %.3g s per kernel (x%.2g)" % (per_hook, per_ncu, per_hook / per_ncu),
              "exact: %.1f s for %d measured launches; ncu: %.1f s for %d profiled kernels "
              "(4 runs, with the expectations, the SASS dump and calibrate.py)" % (
                  t_hook, n_hook, t_ncu, n_ncu))
    c.add("seconds", "info", "without the hook %s s" % (
        "%.1f" % t_plain if t_plain is not None else "?"),
        "exact mode %s s" % ("%.1f" % t_hook if t_hook is not None else "?"),
        "flop_kernels' wall time, CUDA and cuBLAS start included")
    doc["seconds"] = {"exact": t_hook, "plain": t_plain, "ncu": t_ncu,
                      "launches_measured": n_hook, "ncu_kernels": n_ncu}
    doc["launches_before_markers"] = len(stray)
    return c, doc


# ---- self-test ----------------------------------------------------------------------------

SASS_OPS = ("fadd", "fmul", "ffma", "dadd", "dmul", "dfma", "hadd", "hmul", "hfma")
# The GH100 groups as the hook would build them (sass metrics in one instrumented pass; the
# tensor counters as sparsity halves; the duration in the hardware groups), a subset enough
# for the items below.
TENSOR_LEAVES = (("op_hmma_src_fp16_dst_fp32", 0x13), ("op_hgmma_src_fp16", 0x13),
                 ("src_fp8", 0x15), ("src_fp64", 0x10))


def _groups():
    sass = [(calibrate.sass(op), fmt, w) for op, fmt, w in zip(
        SASS_OPS, (1, 1, 1, 0, 0, 0, 3, 3, 3), (1, 1, 2, 1, 1, 2, 2, 2, 4))]
    t1, t2 = [], []
    for i, (leaf, cls) in enumerate(TENSOR_LEAVES):
        g = t1 if i % 2 == 0 else t2
        if leaf == "src_fp64":
            g.append(("sm__ops_path_tensor_%s.sum" % leaf, cls, 1.0))
        else:
            g.append(("sm__ops_path_tensor_%s_sparsity_off.sum" % leaf, cls, 1.0))
            g.append(("sm__ops_path_tensor_%s_sparsity_on.sum" % leaf, cls | 0x20, 1.0))
    t1.append((DURATION, CLASS_NONE, 0.0))
    t2.append((DURATION, CLASS_NONE, 0.0))
    return [sass, t1, t2]


class _DumpMaker:
    """A hook-like `flopmeter dump --json` document, launch by launch (exact mode: every
    launch read in every group, one COUNTER_SAMPLE per group)."""

    def __init__(self):
        self.records, self.strings, self.sigs = [], {}, {}
        self.groups = _groups()
        self.records.append({"record": "run_meta", "config": [{"key": "profile",
                                                               "value": "exact"}]})
        self.records.append({"record": "device", "name": "NVIDIA H100 80GB HBM3"})
        for gi, g in enumerate(self.groups):
            self.records.append({"record": "metric_group", "id": gi + 1, "chip": "GH100",
                                 "metrics": [{"name": self.s(m), "class": cl, "weight": w}
                                             for m, cl, w in g]})
        self.ordinal = 0
        self.agg = {}

    def s(self, text):
        if text not in self.strings:
            self.strings[text] = len(self.strings) + 1
            self.records.append({"record": "string", "id": self.strings[text], "text": text})
        return self.strings[text]

    def sig(self, name, grid):
        key = (name, grid)
        if key not in self.sigs:
            self.sigs[key] = len(self.sigs) + 1
            self.records.append({"record": "kernel_signature", "id": self.sigs[key],
                                 "name": self.s(name), "grid": [grid, 1, 1],
                                 "block": [128, 1, 1], "arg_hash": "00000000000000aa",
                                 "callsite": 1})
        return self.sigs[key]

    def launch(self, name, grid=1, measured=True, groups=None, **vals):
        """vals: metric (short: ffma, or a full name) -> value; a tensor leaf's value goes
        to its dense half. groups: the indices of the groups read (default all)."""
        sid = self.sig(name, grid)
        a = self.agg.setdefault(sid, {"launches": 0, "measured": 0, "classes": {}})
        a["launches"] += 1
        if not measured:
            return
        a["measured"] += 1
        full = {}
        for k, v in vals.items():
            if k in SASS_OPS:
                full[calibrate.sass(k)] = v
            else:
                full[k] = v
        for gi, g in enumerate(self.groups):
            if groups is not None and gi not in groups:
                continue
            values = []
            for m, cl, w in g:
                v = full.get(m, full.get(unsplit(m), 0) if m.endswith("_sparsity_off.sum")
                             else 0)
                if m == DURATION:
                    v = 1000
                values.append(v)
                if cl != CLASS_NONE:
                    a["classes"][cl] = a["classes"].get(cl, 0.0) + v * w
            self.records.append({"record": "counter_sample", "signature": sid,
                                 "launch_ordinal": self.ordinal, "group": gi + 1,
                                 "time_ns": 1, "duration_ns": 1000, "passes": 4,
                                 "values": values})
        self.ordinal += 1

    def done(self, degradations=()):
        for sid, a in self.agg.items():
            self.records.append({"record": "aggregate", "signature": sid, "phase": 0,
                                 "launches": a["launches"], "launches_measured": a["measured"],
                                 "launches_extrapolated": 0, "busy_ns": 0,
                                 "classes": [{"class": cl, "measured": v, "extrapolated": 0}
                                             for cl, v in sorted(a["classes"].items())]})
        for kind, msg in degradations:
            self.records.append({"record": "degradation", "kind": kind, "api_result": 0,
                                 "launches_affected": 0, "message": msg})
        self.records.append({"record": "final", "records_dropped": 0})
        return {"records": self.records}


def _selftest_items(tmp, flopmeter, failures):
    F, D, H = calibrate.sass("ffma"), calibrate.sass("dfma"), calibrate.sass("hfma")
    L16 = "sm__ops_path_tensor_op_hmma_src_fp16_dst_fp32.sum"
    LG = "sm__ops_path_tensor_op_hgmma_src_fp16.sum"
    zeros = {calibrate.sass(o): 0 for o in SASS_OPS}

    def item(seq, name, group, flop, wm, expect, hyps, kernel, launches=1, leaf="",
             info=None, flop_executed=None, ragged=False, check=None):
        return {"seq": seq, "name": name, "group": group, "kernel": kernel, "flop": flop,
                "flop_executed": flop_executed or flop, "weight_metric": wm,
                "tensor_leaf": leaf, "launches": launches, "warmup_launches": launches,
                "warmup_run": True, "ragged": ragged, "expect": expect,
                "hypotheses": [{"name": n, "means": "", "values": v} for n, v in hyps],
                "info": info or {}, "ran": True, "unsupported": False, "error": "",
                "ms": 1.0, "check": check}

    def others(own):  # the exact zeros: every CUDA-core metric but the item's own
        return dict({m: 0 for m in zeros if m != own}, tensor_ops_total=0)

    items = [
        # counts large enough that 0.05% is more than the half count close() allows
        item(0, "ffma_f32", "cuda_core", 2000000, F, others(F),
             [("pred=on_only", {F: 1000000}), ("pred=off_counted", {F: 1000400})],
             "fk_ffma_f32"),
        item(1, "dfma_f64", "cuda_core", 200, D, dict(zeros, **{D: 102, "tensor_ops_total": 0}),
             [], "fk_dfma_f64", flop_executed=204),
        item(2, "hfma_f16", "cuda_core", 20, H, others(H),
             [("lanes=per_instruction", {H: 10}), ("lanes=per_lane", {H: 20})], "fk_hfma_f16"),
        item(3, "mma_f16_f32", "mma_sync", 4096, "tensor_ops_total", {},
             [("op=flop", {"tensor_ops_total": 4096}), ("op=mac", {"tensor_ops_total": 2048})],
             "fk_mma_f16_f32", leaf=L16, info={"mnk": 2048}),
        item(4, "graph_ffma_f32", "graph", 120, F, {},
             [("pred=on_only", {F: 60}), ("pred=off_counted", {F: 66})], "fk_ffma_f32",
             launches=6),
        item(5, "threads_ffma_f32", "threads", 64, F, {},
             [("pred=on_only", {F: 32}), ("pred=off_counted", {F: 40})], "fk_ffma_f32",
             launches=4),
        item(6, "cublas_f16_4096", "cublas", 1000000, "tensor_ops_total", {},
             [("op=flop", {"tensor_ops_total": 1000000}),
              ("op=mac", {"tensor_ops_total": 500000})], "", launches=-1, leaf=LG),
        item(7, "wgmma_bf16_f32", "wgmma", 0, "tensor_ops_total", {}, [], "fk_wgmma_bf16",
             leaf=LG, check={"correct": True}),
    ]
    items[7]["ran"] = False  # not run in either: must not count as lost

    def kernels_of(it, scale=1.0):
        """(name, grid, values) of one segment of an item, values as ncu reports them."""
        n = it["name"]
        if n == "ffma_f32":
            return [("fk_ffma_f32", 782, {"ffma": 1000000})]
        if n == "dfma_f64":
            return [("fk_dfma_f64", 782, {"dfma": 102})]
        if n == "hfma_f16":
            return [("fk_hfma_f16", 782, {"hfma": 10})]
        if n == "mma_f16_f32":
            return [("fk_mma_f16_f32", 251, {L16: 4096 * scale})]
        if n == "graph_ffma_f32":
            return [("fk_ffma_f32", 157, {"ffma": 10})] * 6
        if n == "threads_ffma_f32":
            return [("fk_ffma_f32", 157, {"ffma": 8})] * 4
        if n == "cublas_f16_4096":
            # two kernels, the second with CUDA-core work of the epilogue
            return [("sm90_xmma_gemm_f16f16_f32_tn", 264, {LG: 999900.0}),
                    ("splitKreduce_kernel", 64, {LG: 100.0, "ffma": 7})]
        return []

    def program(path, its, rc_line=True):
        with open(path, "w", encoding="utf-8") as f:
            f.write("FLOPCAL_META {}\n")
            for it in its:
                f.write("FLOPCAL " + json.dumps(it) + "\n")
            if rc_line:
                f.write("FLOPCAL_END {}\n")

    def make(hook_scale=1.0, hook_mac=False, lose_mma=False, no_counters=False,
             partial=False, tamper=False):
        dm = _DumpMaker()
        if no_counters:
            for it in items:
                dm.sig(it["kernel"] or "gemm", 1)
            return dm.done([(2, "hardware counters: insufficient privileges "
                                "(CUPTI_ERROR_INSUFFICIENT_PRIVILEGES); launches are "
                                "counted, not measured")])
        # before the first marker; with partial=True read in one group only
        dm.launch("_Z10setup_kernv", 1, groups=[0] if partial else None, ffma=5)
        for it in items:
            if not it["ran"]:
                continue
            for kind in ("warmup", "measure"):
                marker = "fk_mark_" + kind
                dm.launch("_Z%d%siPi" % (len(marker), marker), it["seq"] + 1)
                for name, grid, vals in kernels_of(it):
                    vals = dict(vals)
                    if it["name"] == "mma_f16_f32":
                        if hook_mac:
                            vals[L16] = 2048
                        if lose_mma and kind == "measure":
                            continue
                    if it["name"] == "ffma_f32" and kind == "measure":
                        vals["ffma"] = vals["ffma"] * hook_scale
                    dm.launch(name, grid, measured=it["group"] != "graph", **vals)
        if tamper:
            # an AGGREGATE crediting more than its samples hold
            dm.agg[dm.sig("fk_ffma_f32", 782)]["classes"][1] += 2
        return dm.done([(5, "hardware counters: 2 counters of chip GH100 fit no single-pass "
                            "group")])

    ncu_dir = os.path.join(tmp, "cal")
    os.makedirs(ncu_dir)
    metrics = [calibrate.sass(o) for o in SASS_OPS] + [
        "sm__ops_path_tensor_%s.sum" % leaf for leaf, _ in TENSOR_LEAVES] + [
        DURATION, "launch__grid_size"]
    rows = []
    for it in items:
        if not it["ran"]:
            continue
        for kind in ("warmup", "measure"):
            rows.append(("fk_mark_%s(int, int *)" % kind, it["seq"] + 1, {}))
            for name, grid, vals in kernels_of(it):
                full = {(calibrate.sass(k) if k in SASS_OPS else k): v for k, v in vals.items()}
                full[DURATION] = 5000
                rows.append(("%s(unsigned int *, int)" % name, grid, full))
    text = calibrate._raw_csv([(n, g, dict({m: 0 for m in metrics}, **v))
                               for n, g, v in rows], metrics, {DURATION: "nsecond"})
    half = text.count("\n") // 2  # two logs, as the calibration's parts write them
    lines = text.splitlines(True)
    with open(os.path.join(ncu_dir, "ncu_core.csv"), "w") as f:
        f.write("==PROF== Connected\n" + "".join(lines[:half]))
    with open(os.path.join(ncu_dir, "ncu_mma.csv"), "w") as f:
        f.write("".join(lines[:2] + lines[half:]))
    with open(os.path.join(ncu_dir, "ncu_mma.refused.csv"), "w") as f:
        f.write("==ERROR== Failed to find metric sm__x.sum\n")
    cal = os.path.join(tmp, "calibration.json")
    with open(cal, "w") as f:
        json.dump({"ncu": {"status": "ok", "reason": ""}}, f)
    stdout = os.path.join(tmp, "hook.stdout")
    plain = os.path.join(tmp, "plain.stdout")
    program(stdout, items)
    program(plain, items)

    def run(dump_doc, name, **over):
        path = os.path.join(tmp, name + ".json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(dump_doc, f)
        ns = argparse.Namespace(
            flopmeter=flopmeter, traces=None, dumps=[path], stdout=stdout, plain=plain,
            expected=None, rc=0, ncu_dir=ncu_dir, calibration=cal, seconds="10",
            plain_seconds="2", ncu_seconds="200", prefix="hc", rows=None,
            json=os.path.join(tmp, name + ".out.json"), quiet=True)
        for k, v in over.items():
            setattr(ns, k, v)
        c, doc = run_items(ns)
        ctc.write_checks_json(ns.json, doc, c)
        return {r["check"][3:]: r for r in c.rows}, doc

    def want(what, rows, fails, skipped=()):
        got = sorted(k for k, r in rows.items() if r["status"] == "fail")
        if got != sorted(fails):
            failures.append("%s: failing rows %s, expected %s (%s)" % (
                what, got, sorted(fails),
                "; ".join("%s: %s %s" % (k, rows[k]["measured"], rows[k].get("detail", ""))
                          for k in got)[:600]))
        for k in skipped:
            if rows.get(k, {}).get("status") != "skipped":
                failures.append("%s: %s not skipped" % (what, k))

    rows_, doc = run(make(), "good")
    want("a hook that agrees", rows_, [])
    ev = {e["name"]: e for e in doc["items"]}
    if ev["threads_ffma_f32"].get("launches_measured") != 4:
        failures.append("threads item: %r launches" % ev["threads_ffma_f32"].get(
            "launches_measured"))
    if ev["cublas_f16_4096"].get("tensor_ops_total") != 1000000:
        failures.append("cuBLAS segment: tensor total %r (halves added over two kernels)" %
                        ev["cublas_f16_4096"].get("tensor_ops_total"))
    if ev["hfma_f16"].get("flop_ratio") != 2.0 or "flop_open" not in rows_:
        failures.append("hfma_f16: FLOP ratio %r shown as open" % ev["hfma_f16"].get(
            "flop_ratio"))
    if ev["dfma_f64"].get("class") != "fp64.cuda" or ev["mma_f16_f32"].get("class") != \
            "fp16.tensor":
        failures.append("classes: %r %r" % (ev["dfma_f64"].get("class"),
                                            ev["mma_f16_f32"].get("class")))
    cmp_ = doc["ncu"]["comparison"]
    if cmp_["kernels"] != 2 * (1 + 1 + 1 + 1 + 4 + 2) or cmp_["unmeasured_segments"] != [
            "graph_ffma_f32/measure", "graph_ffma_f32/warmup"]:
        failures.append("ncu comparison: %d kernels, unmeasured %s" % (
            cmp_["kernels"], cmp_["unmeasured_segments"]))
    if rows_["speed"]["status"] != "pass":
        failures.append("speed: %s" % rows_["speed"])
    # 0.05% off ncu: within the 0.1%, but no longer the analytic count
    rows_, _ = run(make(hook_scale=1.0005), "close")
    want("0.05% off", rows_, ["cuda_core_counts", "flop"])
    # 0.2% off: ncu too
    rows_, _ = run(make(hook_scale=1.002), "off")
    want("0.2% off", rows_, ["ncu", "cuda_core_counts", "flop"])
    # a tensor counter counting M*N*K: a reading of its own, but the hook's weight is wrong
    rows_, _ = run(make(hook_mac=True), "mac")
    want("op=mac", rows_, ["ncu", "flop"])
    # a measured launch lost: the segment is short, the counts missing
    rows_, _ = run(make(lose_mma=True), "lost")
    want("a lost measurement", rows_, ["ncu", "all_measured", "tensor_counts", "flop"])
    rows_, _ = run(make(partial=True), "partial")
    want("a launch read in one group", rows_, ["all_measured"])
    rows_, _ = run(make(tamper=True), "tamper")
    want("an aggregate that is not its samples", rows_, ["aggregate_sums"])
    # counters that cannot be read: the hook's message, the rest skipped
    rows_, _ = run(make(no_counters=True), "noperm")
    want("no counters", rows_, ["counters_read"], skipped=["ncu", "flop", "all_measured"])
    if "insufficient privileges" not in rows_["counters_read"].get("detail", ""):
        failures.append("no counters: the message is not in the row: %r" % rows_[
            "counters_read"])
    # no ncu (calibration skipped): that comparison and the speed are skipped
    rows_, _ = run(make(), "noncu", ncu_dir=os.path.join(tmp, "none"), calibration=None)
    want("no ncu", rows_, [], skipped=["ncu", "speed"])
    # the program broke under the hook
    bad = [dict(it) for it in items]
    bad[3]["ran"] = False
    broken = os.path.join(tmp, "broken.stdout")
    program(broken, bad)
    rows_, _ = run(make(), "broken", stdout=broken, rc=1)
    want("an item lost under the hook", rows_, ["program"])
    # no trace at all
    c, _doc = run_items(argparse.Namespace(
        flopmeter=flopmeter, traces=os.path.join(tmp, "none"), dumps=None, stdout=stdout,
        plain=plain, expected=None, rc=0, ncu_dir=None, calibration=None, seconds=None,
        plain_seconds=None, ncu_seconds=None, prefix="hc", rows=None, quiet=True))
    if [r["check"] for r in c.rows if r["status"] == "fail"] != ["hc.trace"]:
        failures.append("no trace: %s" % [r["check"] for r in c.rows])

    # the parsing against what flopmeter itself writes: a synth trace's groups, samples and
    # aggregates (its launches read in one group each, as sampled mode does)
    if not flopmeter:
        return
    trace = os.path.join(tmp, "synth", "t.fmtrace")
    os.makedirs(os.path.dirname(trace))
    p = subprocess.run([flopmeter, "synth", "--out", trace, "--steps", "30", "--signatures",
                        "6", "--launches-per-step", "12", "--world-size", "1", "--quiet",
                        "--no-busy"], capture_output=True, text=True)
    if p.returncode != 0:
        failures.append("flopmeter synth: %s" % p.stderr.strip())
        return
    ts, probs = load_counter_traces(flopmeter, os.path.dirname(trace))
    if probs or len(ts) != 1:
        failures.append("synth trace: %s" % probs)
        return
    t = ts[0]
    la = t.launches()
    if not t.groups or not la or not all(m.startswith(("smsp__", "sm__", "gpu__"))
                                         for g in t.groups.values() for m, _c, _w in g):
        failures.append("synth: groups %s, %d launches" % (list(t.groups), len(la)))
    if not (t.verify or {}).get("intact"):
        failures.append("synth: verify %s" % t.verify)
    smp = {}
    for x in la:
        for cl, v in x.ops.items():
            smp[cl] = smp.get(cl, 0.0) + v
    agg = {}
    for a in t.agg.values():
        for cl, (m, _e) in a["classes"].items():
            agg[cl] = agg.get(cl, 0.0) + m
    diff = [cl for cl in set(smp) | set(agg)
            if abs(smp.get(cl, 0) - agg.get(cl, 0)) > 1e-9 * max(abs(agg.get(cl, 0)), 1)]
    if diff:
        failures.append("synth: AGGREGATE measured != samples x weights in %s" % diff)
    if len(la) != sum(a["measured"] for a in t.agg.values()):
        failures.append("synth: %d launches with samples, %d measured in the aggregates" % (
            len(la), sum(a["measured"] for a in t.agg.values())))


def self_test(flopmeter):
    failures = []
    for got, exp, what in ((unsplit("sm__ops_path_tensor_src_fp8_sparsity_off.sum"),
                            "sm__ops_path_tensor_src_fp8.sum", "unsplit off"),
                           (unsplit("sm__ops_path_tensor_src_fp8_sparsity_on.sum"),
                            "sm__ops_path_tensor_src_fp8.sum", "unsplit on"),
                           (unsplit(calibrate.sass("ffma")), calibrate.sass("ffma"), "sass"),
                           (class_name(0x14), "bf16.tensor", "class"),
                           (class_name(0x35), "fp8.tensor.sparse", "sparse class"),
                           (class_name(0x01), "fp32.cuda", "cuda class"),
                           (within(1000, 1000.9, 1e-3), True, "within 0.1%"),
                           (within(1000, 1001.1, 1e-3), False, "outside 0.1%"),
                           (within(0, 1, 1e-3), False, "0 against 1"),
                           (number("?"), None, "no seconds")):
        if got != exp:
            failures.append("%s: %r, expected %r" % (what, got, exp))
    if flopmeter and not (os.access(flopmeter, os.X_OK) or shutil.which(flopmeter)):
        print("self-test FAIL: no flopmeter at %s" % flopmeter)
        return 1
    flopmeter = flopmeter or ctc.find_flopmeter()
    tmp = tempfile.mkdtemp(prefix="hook-counters-selftest-")
    try:
        os.makedirs(os.path.join(tmp, "items"))
        _selftest_items(os.path.join(tmp, "items"), flopmeter, failures)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for f in failures:
        print("self-test FAIL: " + f)
    if failures:
        return 1
    if not flopmeter:
        # the hand-made cases ran; what needs flopmeter (synth traces, reports) did not
        print("self-test: the hand-made cases passed; no flopmeter binary found (give "
              "--flopmeter): the synth and report cases did not run")
        return 0
    print("self-test: all cases passed (%s)" % flopmeter)
    return 0


# ---- command line -------------------------------------------------------------------------

def main(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)

    def common(sp):
        sp.add_argument("--flopmeter", required=True, help="the flopmeter command")
        sp.add_argument("--prefix", default="", help="prefix of the row names")
        sp.add_argument("--rows", help="append result rows here (results.py)")
        sp.add_argument("--json", help="write the comparison here")

    i = sub.add_parser("items", help="flop_kernels under FLOPMETER_PROFILE=exact")
    common(i)
    src = i.add_mutually_exclusive_group(required=True)
    src.add_argument("--traces", help="directory holding the run's *.fmtrace files")
    src.add_argument("--dumps", nargs="+", help="saved `flopmeter dump --json` files")
    i.add_argument("--stdout", required=True, help="flop_kernels' output under the hook")
    i.add_argument("--plain", help="its output without the hook")
    i.add_argument("--expected", help="its --expect-only output")
    i.add_argument("--rc", type=int, help="its exit status under the hook")
    i.add_argument("--ncu-dir", help="the calibration's folder (ncu_*.csv)")
    i.add_argument("--calibration", help="calibration.json (ncu's status)")
    i.add_argument("--seconds", help="wall time under the hook")
    i.add_argument("--plain-seconds", help="wall time without the hook")
    i.add_argument("--ncu-seconds", help="wall time of the ncu runs")
    s = sub.add_parser("self-test", help="test this script without a GPU")
    s.add_argument("--flopmeter", help="default: the newest build*/postprocessor/flopmeter "
                   "of this checkout, else on PATH")
    args = p.parse_args(argv)
    if args.mode == "self-test":
        return self_test(args.flopmeter)
    c, doc = run_items(args)
    ctc.write_checks_json(args.json, doc, c)
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
