#!/usr/bin/env python3
"""Compares what Nsight Compute measured on flop_kernels with what the program expected.

    calibrate.py run --program FILE... [--ncu-log FILE...] [--ncu-status TEXT] [--sass FILE]
                     --out calibration.json [--rows ROWS.jsonl] [--prefix P]
    calibrate.py self-test

`run`: FILE are outputs of flop_kernels (its FLOPCAL lines: the items, their analytic
counts and hypotheses; give the --expect-only output, the plain run and the runs under ncu,
in any order: an item is taken from the first file that ran it, else from any). The ncu
logs are `ncu --csv` outputs (--page raw or details, one or several runs, other lines
ignored). Each profiled kernel row is attributed to an item by the marker kernels the
program launches: fk_mark_warmup / fk_mark_measure with seq + 1 blocks start the item's
warm-up and measured segments. A segment's metrics are the sums over its kernels;
`tensor_ops_total` is the sum of every sm__ops_path_tensor* metric measured.

Written to --out: per item the measured values, the expectations, their ratio, which
hypotheses hold; then the conclusions drawn from all items (which reading of each open
question survives, FLOP per count per metric, the tensor leaf each precision lands in,
what the two known FLOP conventions make of the CUDA-core counts, padding of ragged
GEMMs). When ncu could not read counters the file says why, and the expectations are
still in it. --rows appends summary rows for run_gpu_checks.sh's table (results.py). A
short table goes to stdout. Exit status 0 when the comparison could be made or ncu was
unavailable, 1 when an exact expectation failed or the inputs were unusable, 2 on a usage
error.

`self-test` runs the parsing and the conclusions on synthetic ncu output, without a GPU.
"""
import argparse
import csv
import contextlib
import io
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import results  # noqa: E402  (next to this file)

SCHEMA = "flopmeter-calibration/1"
TENSOR_TOTAL = "tensor_ops_total"
TENSOR_PREFIX = "sm__ops_path_tensor"
TIME_METRIC = "gpu__time_duration.sum"
MARK_WARMUP = "fk_mark_warmup"
MARK_MEASURE = "fk_mark_measure"
REL_TOL = 1e-9  # counters are exact integers; the tolerance only absorbs float printing


def sass(op):
    return "smsp__sass_thread_inst_executed_op_%s_pred_on.sum" % op


# The FLOP conventions in use (measurement.md): what each makes of the CUDA-core counts.
CONVENTIONS = {
    "ncu_roofline": {sass("fadd"): 1, sass("fmul"): 1, sass("ffma"): 2, sass("dadd"): 1,
                     sass("dmul"): 1, sass("dfma"): 2, sass("hadd"): 2, sass("hmul"): 2,
                     sass("hfma"): 4},
    "cupti_legacy": {sass("fadd"): 1, sass("fmul"): 1, sass("ffma"): 2, sass("dadd"): 1,
                     sass("dmul"): 1, sass("dfma"): 2, sass("hadd"): 1, sass("hmul"): 1,
                     sass("hfma"): 2},
}

# What a settled facet means for the hook's weights.
FACET_TEXT = {
    ("pred", "on_only"): "guarded instructions whose predicate is false are not counted",
    ("pred", "off_counted"): "guarded instructions count even when their predicate is false",
    ("lanes", "per_instruction"): "the hadd/hmul/hfma metrics count one per HADD2/HMUL2/HFMA2 "
                                  "thread-instruction, packed or not: a packed instruction is "
                                  "2 (hadd, hmul) or 4 (hfma) FLOP per count, a scalar one 1 or 2",
    ("lanes", "per_lane"): "the hadd/hmul/hfma metrics count two per HADD2/HMUL2/HFMA2 "
                           "thread-instruction: 1 (hadd, hmul) or 2 (hfma) FLOP per count "
                           "for packed code",
    ("mma", "as_hfma"): "HFMA2.MMA (ptxas issues half of the packed fp16/bf16 adds, muls and "
                        "fmas on the MMA pipe as HFMA2.MMA) counts in the hfma metric: adds "
                        "and muls issued that way look like FMAs",
    ("mma", "uncounted"): "HFMA2.MMA is in none of the sass FP metrics: half of the packed "
                          "fp16/bf16 work is invisible to them",
    ("bf16", "counted"): "bf16 HFMA2.BF16_V2 counts in the hfma metric (the metric does not "
                         "tell fp16 from bf16)",
    ("bf16", "uncounted"): "bf16 HFMA2.BF16_V2 is not in the hfma metric",
    ("op", "flop"): "one tensor math op is one FLOP (the counter equals 2*M*N*K)",
    ("op", "mac"): "one tensor math op is one multiply-add (the counter equals M*N*K)",
}


# ---- program output ----------------------------------------------------------------------

def read_program(paths):
    """Items by seq, and the META/END lines, from flop_kernels outputs."""
    items, metas, ends = {}, [], []
    for path in paths:
        if not path or not os.path.exists(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                tag, _, rest = line.strip().partition(" ")
                if tag not in ("FLOPCAL", "FLOPCAL_META", "FLOPCAL_END"):
                    continue
                try:
                    doc = json.loads(rest)
                except ValueError:
                    continue
                if tag == "FLOPCAL_META":
                    doc["file"] = os.path.basename(path)
                    metas.append(doc)
                elif tag == "FLOPCAL_END":
                    doc["file"] = os.path.basename(path)
                    ends.append(doc)
                else:
                    seq = doc.get("seq")
                    doc["source"] = os.path.basename(path)
                    old = items.get(seq)
                    # the first run that ran it wins: the plain run is given first
                    if old is None or (not old.get("ran") and doc.get("ran")):
                        if old is not None and old.get("check") and not doc.get("check"):
                            doc["check"] = old["check"]
                        items[seq] = doc
    return items, metas, ends


# ---- ncu output --------------------------------------------------------------------------

_PREFIX = {"K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
_TIME = {"nsecond": 1.0, "ns": 1.0, "usecond": 1e3, "us": 1e3, "msecond": 1e6, "ms": 1e6,
         "second": 1e9, "s": 1e9}


def parse_value(text, unit=""):
    """A number from an ncu cell ("1,234,567", "12.5"), scaled to base units (time in ns);
    None for n/a or text."""
    t = (text or "").strip().replace(",", "").replace(" ", "")
    if not t or t.lower() in ("n/a", "nan", "-"):
        return None
    try:
        v = float(t)
    except ValueError:
        return None
    u = (unit or "").strip()
    if u in _TIME:
        return v * _TIME[u]
    if len(u) > 1 and u[0] in _PREFIX and u[1:].isalpha() and u not in ("Kernel",):
        return v * _PREFIX[u[0]]
    return v


def _grid_x(text):
    m = re.search(r"\d+", text or "")
    return int(m.group()) if m else None


def _name_col(header):
    for c in ("Kernel Name", "Function Name", "Demangled Name", "Name"):
        if c in header:
            return c
    return None


def parse_ncu_csv(text):
    """The kernel rows of ncu --csv output, in launch order: each {"id", "name", "grid",
    "metrics": {name: value}}. Both --page raw (one column per metric, then a units row)
    and --page details (one row per metric) are understood; several CSV blocks may follow
    each other (one per ncu run) and other lines are skipped."""
    lines = [ln for ln in text.splitlines() if ln.startswith('"')]
    kernels = []
    i = 0
    while i < len(lines):
        header = next(csv.reader([lines[i]]))
        if "ID" not in header or _name_col(header) is None:
            i += 1
            continue
        block = [header]
        i += 1
        while i < len(lines):
            row = next(csv.reader([lines[i]]))
            if "ID" in row and _name_col(row) is not None:
                break  # the next block's header
            block.append(row)
            i += 1
        kernels.extend(_parse_block(block))
    return kernels


def _parse_block(block):
    header = block[0]
    col = {c: k for k, c in enumerate(header)}
    name_c = _name_col(header)
    details = "Metric Name" in col and "Metric Value" in col
    by_id = {}
    order = []
    units = {}
    for row in block[1:]:
        if len(row) < len(header):
            row = row + [""] * (len(header) - len(row))
        rid = row[col["ID"]].strip()
        if not details and not rid:
            # the units row of --page raw
            units = {header[k]: row[k] for k in range(len(header))}
            continue
        if rid not in by_id:
            by_id[rid] = {"id": rid, "name": row[col[name_c]],
                          "grid": _grid_x(row[col["Grid Size"]]) if "Grid Size" in col else None,
                          "metrics": {}}
            order.append(rid)
        k = by_id[rid]
        if details:
            metric = row[col["Metric Name"]].strip()
            unit = row[col["Metric Unit"]] if "Metric Unit" in col else ""
            k["metrics"][metric] = parse_value(row[col["Metric Value"]], unit)
        else:
            for c, idx in col.items():
                if "__" in c:  # metric columns: unit__name.rollup
                    k["metrics"][c] = parse_value(row[idx], units.get(c, ""))
    return [by_id[r] for r in order]


def ncu_problems(text):
    """The ncu errors worth reporting, and the metrics it said it could not find."""
    errors, missing = [], []
    for line in text.splitlines():
        if "==ERROR==" in line or ("==WARNING==" in line and "metric" in line.lower()):
            errors.append(line.strip()[:300])
        # an error line naming a metric (unit__name.rollup), whatever ncu's wording
        if "==ERROR==" in line and "metric" in line.lower():
            missing.extend(re.findall(r"\b([a-z][a-z0-9]*__[A-Za-z0-9_.]*[A-Za-z0-9_])", line))
    reason = ""
    joined = "\n".join(errors)
    if "ERR_NVGPUCTRPERM" in joined:
        reason = "counters unavailable: no permission for GPU performance counters " \
                 "(ERR_NVGPUCTRPERM)"
    elif "LibraryNotLoaded" in joined or "library not loaded" in joined.lower():
        reason = "counters unavailable: ncu's profiling library did not load (LibraryNotLoaded)"
    elif missing:
        reason = "metrics not available on this GPU: " + ", ".join(sorted(set(missing)))
    elif errors:
        reason = errors[0]
    return errors, sorted(set(missing)), reason


def group_by_markers(items, marker_of):
    """Items grouped by the marker kernels between them: {("warmup"|"measure", seq): [items]},
    and the items seen before any marker. marker_of(item) is None for an item that is not a
    marker, ("warmup"|"measure", seq) for one, or "unknown" for a marker whose sequence number
    cannot be told (the items after it count nowhere until the next marker). A segment seen
    again (a log given twice, a rerun) goes under ("duplicate", key): the first one counts."""
    segs, current, stray = {}, None, []
    for item in items:
        mark = marker_of(item)
        if mark == "unknown":
            current = None
            continue
        if mark is not None:
            current = mark if mark not in segs else ("duplicate", mark)
            segs.setdefault(current, [])
            continue
        if current is None:
            stray.append(item)
        else:
            segs[current].append(item)
    return segs, stray


def segments(kernels):
    """Kernel rows grouped by the markers (group_by_markers); a marker's sequence number is
    its grid size less one."""
    def marker_of(k):
        base = k["name"].split("(")[0].split("<")[0].strip()
        if not (base.endswith(MARK_WARMUP) or base.endswith(MARK_MEASURE)):
            return None
        if k["grid"] is None and k["metrics"].get("launch__grid_size"):
            k["grid"] = int(k["metrics"]["launch__grid_size"])
        if k["grid"] is None:
            return "unknown"
        return ("warmup" if base.endswith(MARK_WARMUP) else "measure", k["grid"] - 1)

    return group_by_markers(kernels, marker_of)


def totals(rows):
    """Sums of each metric over a segment's kernels (None when a kernel lacks it), plus
    tensor_ops_total and the kernel names."""
    out = {}
    for k in rows:
        for m, v in k["metrics"].items():
            if m.startswith("launch__"):
                continue
            if m not in out:
                out[m] = 0.0
            if v is None or out[m] is None:
                out[m] = None
            else:
                out[m] += v
    leaves = [m for m in out if m.startswith(TENSOR_PREFIX)]
    if leaves:
        vals = [out[m] for m in leaves]
        out[TENSOR_TOTAL] = None if any(v is None for v in vals) else sum(vals)
    return out


# ---- comparison ----------------------------------------------------------------------------

def close(a, b):
    if a is None or b is None:
        return False
    return abs(a - b) <= max(0.5, REL_TOL * max(abs(a), abs(b)))


def metric_sum(values, name):
    """values[name], or the sum for "a+b" (None when a part is missing)."""
    if not name:
        return None
    parts = [values.get(m) for m in name.split("+")]
    return None if any(v is None for v in parts) else sum(parts)


def ratio(measured, expected):
    if measured is None or expected is None:
        return None
    if expected == 0:
        return None if measured else 1.0
    return measured / expected


def facets(name):
    """'lanes=per_lane+mma=as_hfma' -> {'lanes': 'per_lane', 'mma': 'as_hfma'}."""
    out = {}
    for part in name.split("+"):
        k, eq, v = part.partition("=")
        if eq:
            out[k] = v
    return out


def evaluate_item(item, segs, sass_static):
    seq = item["seq"]
    meas_rows = segs.get(("measure", seq))
    warm_rows = segs.get(("warmup", seq))
    ev = {"seq": seq, "name": item["name"], "group": item["group"], "flop": item["flop"],
          "family": item.get("family", ""), "ragged": item.get("ragged", False),
          "ran": item.get("ran", False), "error": item.get("error", ""),
          "unsupported": item.get("unsupported", False), "source": item.get("source"),
          "ms": item.get("ms"),
          "check": item.get("check"), "info": item.get("info", {}),
          "weight_metric": item.get("weight_metric"),
          "expected": {"exact": item.get("expect", {}),
                       "hypotheses": {h["name"]: h["values"] for h in item.get("hypotheses", [])}}}
    stat = (item.get("info") or {}).get("sass_static")
    if stat and sass_static is not None:
        got = sass_static.get(item.get("kernel"), {})
        ev["sass_static"] = {"expected": stat, "found": {op: got.get(op, 0) for op in stat},
                             "match": all(got.get(op, 0) == n for op, n in stat.items())}
    if meas_rows is None:
        ev["measured"] = None
        ev["status"] = "not measured"
        return ev
    tot = totals(meas_rows)
    ev["kernels"] = [k["name"] for k in meas_rows]
    ev["launches_expected"] = item.get("launches", -1)
    ev["launches_measured"] = len(meas_rows)
    ev["gpu_time_ns"] = tot.get(TIME_METRIC)
    ev["measured"] = {m: v for m, v in tot.items() if m != TIME_METRIC}
    exact = []
    for m, e in item.get("expect", {}).items():
        v = tot.get(m)
        exact.append({"metric": m, "expected": e, "measured": v, "ratio": ratio(v, e),
                      "match": close(v, e)})
    ev["exact"] = exact
    hyps = []
    for h in item.get("hypotheses", []):
        vals = []
        for m, e in h["values"].items():
            v = tot.get(m)
            vals.append({"metric": m, "expected": e, "measured": v, "ratio": ratio(v, e),
                         "match": close(v, e)})
        hyps.append({"name": h["name"], "means": h.get("means", ""),
                     "match": all(x["match"] for x in vals), "values": vals})
    ev["hypotheses"] = hyps
    ev["hypotheses_matching"] = [h["name"] for h in hyps if h["match"]]
    wm = item.get("weight_metric")
    w = metric_sum(tot, wm)
    ev["weight_count"] = w
    ev["flop_executed"] = item.get("flop_executed", item["flop"])
    # FLOP per count of the instructions that executed (a speculated step included)
    ev["flop_per_count"] = ev["flop_executed"] / w if w else None
    leaf = item.get("tensor_leaf")
    if leaf or (tot.get(TENSOR_TOTAL) or 0) > 0:
        ev["tensor_leaves_nonzero"] = {m: v for m, v in tot.items()
                                       if m.startswith(TENSOR_PREFIX) and v}
        ev["tensor_leaf_expected"] = leaf
        ev["tensor_leaf_carries_all"] = (bool(leaf) and tot.get(leaf) is not None and
                                         close(tot.get(leaf), tot.get(TENSOR_TOTAL)))
    if item["group"] in ("cuda_core", "graph", "threads"):
        conv = {}
        for name, weights in CONVENTIONS.items():
            vals = [tot.get(m) for m in weights]
            if any(v is None for v in vals):
                continue
            fl = sum(weights[m] * tot[m] for m in weights)
            conv[name] = {"flop": fl, "ratio_to_executed": ratio(fl, ev["flop_executed"]),
                          "ratio_to_requested": ratio(fl, item["flop"])}
        ev["conventions"] = conv
    # a warm-up identical in launches is a second measurement of the same work
    same_work = (item.get("warmup_launches") == item.get("launches") or
                 item.get("launches", -1) < 0)
    if warm_rows is not None and same_work:
        wt = totals(warm_rows)
        keys = [m for m in tot if m != TIME_METRIC]
        ev["warmup_repeats"] = len(warm_rows) == len(meas_rows) and all(
            close(wt.get(m), tot.get(m)) for m in keys)
    bad_exact = [x for x in exact if not x["match"]]
    if bad_exact:
        ev["status"] = "exact mismatch"
    elif hyps and not ev["hypotheses_matching"]:
        ev["status"] = "no hypothesis holds"
    else:
        ev["status"] = "ok"
    return ev


def conclude(evals):
    """Conclusions from all measured items, as data."""
    out = []
    measured = [e for e in evals if e.get("measured") is not None]
    # 1. exact expectations (fp32/fp64 counts, zeros elsewhere, launch paths)
    n_exact = sum(len(e.get("exact", [])) for e in measured)
    bad = [(e["name"], x["metric"], x["expected"], x["measured"]) for e in measured
           for x in e.get("exact", []) if not x["match"]]
    out.append({"topic": "exact_expectations",
                "status": "settled" if not bad and n_exact else
                ("contradicted" if bad else "unmeasured"),
                "finding": "%d of %d exact expectations hold" % (n_exact - len(bad), n_exact),
                "data": {"mismatches": [{"item": a, "metric": b, "expected": c, "measured": d}
                                        for a, b, c, d in bad]}})
    # 2. facets: the readings consistent with every item at once. Each hypothesis names a
    # combination of facets ("lanes=per_lane+mma=as_hfma"); an item allows the combinations
    # of its matching hypotheses. Facets named together by some item are decided jointly
    # (hfma2 alone cannot tell per_lane+uncounted from per_instruction+as_hfma; hfma_f16
    # settles lanes, and with it mma). A ragged GEMM matches no reading exactly (its tiles
    # pad), and an item that matches none is an anomaly to look at, not evidence: neither
    # constrains.
    values, allowed, unexplained = {}, {}, []
    for e in measured:
        hyps = e.get("hypotheses", [])
        if not hyps or e.get("ragged"):
            continue
        for h in hyps:
            for d, v in facets(h["name"]).items():
                values.setdefault(d, set()).add(v)
        matching = [facets(h["name"]) for h in hyps if h["match"]]
        if matching:
            allowed[e["name"]] = matching
        else:
            unexplained.append(e["name"])
    groups = []  # connected groups of facets
    for fs in allowed.values():
        names = set()
        for f in fs:
            names.update(f)
        hit = [g for g in groups if g & names]
        for g in hit:
            groups.remove(g)
            names |= g
        groups.append(names)
    for d in values:
        if not any(d in g for g in groups):
            groups.append({d})
    for g in sorted(groups, key=lambda x: sorted(x)):
        dims = sorted(g)
        combos = [dict(zip(dims, c)) for c in itertools.product(*(sorted(values[d]) for d in dims))]
        members = {n: fs for n, fs in allowed.items() if any(set(f) & g for f in fs)}

        def fits(combo, fs):
            return any(all(combo[d] == v for d, v in f.items() if d in combo) for f in fs)

        alive = [c for c in combos if all(fits(c, fs) for fs in members.values())]
        for d in dims:
            possible = sorted({c[d] for c in alive})
            per_item = {n: sorted({f[d] for f in fs if d in f} or {"*"})
                        for n, fs in members.items() if any(d in f for f in fs)}
            if len(possible) == 1:
                v = possible[0]
                status, finding = "settled", "%s=%s: %s" % (d, v, FACET_TEXT.get((d, v), v))
            elif not possible:
                status = "contradicted"
                finding = "%s: no single reading fits every item (%s)" % (
                    d, "; ".join("%s: %s" % (n, ",".join(v)) for n, v in sorted(per_item.items())))
            else:
                status, finding = "open", "%s: still possible: %s" % (d, ", ".join(possible))
            out.append({"topic": "facet." + d, "status": status, "finding": finding,
                        "data": {"per_item": per_item, "decided_with": dims}})
    if unexplained:
        out.append({"topic": "unexplained", "status": "contradicted",
                    "finding": "no reading fits: " + ", ".join(unexplained),
                    "data": {e["name"]: e["measured"] for e in measured
                             if e["name"] in unexplained}})
    # 3. FLOP per count, per weight metric (ragged GEMMs apart: their tiles pad)
    by_metric = {}
    for e in measured:
        if e.get("flop_per_count") is None:
            continue
        by_metric.setdefault(e["weight_metric"], {})[e["name"]] = {
            "flop_per_count": e["flop_per_count"], "ragged": e.get("ragged", False)}
    for m, per in sorted(by_metric.items()):
        vals = [v["flop_per_count"] for v in per.values() if not v["ragged"]]
        uniform = bool(vals) and all(abs(v - vals[0]) <= 1e-6 * abs(vals[0]) for v in vals)
        short = m.replace("smsp__sass_thread_inst_executed_op_", "").replace("_pred_on.sum", "")
        out.append({"topic": "weight." + short,
                    "status": "uniform" if uniform else "varies",
                    "finding": ("%s: %.6g FLOP per count for every item" % (short, vals[0]))
                    if uniform else "%s: FLOP per count depends on the code: %s" % (
                        short, ", ".join("%s %.4g" % (k, v["flop_per_count"])
                                         for k, v in sorted(per.items()) if not v["ragged"])),
                    "data": per})
    # 4. tensor leaves
    leaves = {e["name"]: {"expected": e.get("tensor_leaf_expected"),
                          "carries_all": e.get("tensor_leaf_carries_all"),
                          "nonzero": e.get("tensor_leaves_nonzero")}
              for e in measured if "tensor_leaves_nonzero" in e}
    if leaves:
        wrong = [k for k, v in leaves.items() if not v["carries_all"]]
        out.append({"topic": "tensor_leaves",
                    "status": "as_expected" if not wrong else "differs",
                    "finding": "every tensor item landed in its expected leaf" if not wrong
                    else "landed elsewhere than expected: " + ", ".join(
                        "%s -> %s" % (k, ", ".join(sorted(leaves[k]["nonzero"] or {})) or "none")
                        for k in wrong),
                    "data": leaves})
    # 5. conventions on the CUDA-core items
    conv = {e["name"]: {k: v["ratio_to_executed"] for k, v in e["conventions"].items()}
            for e in measured if e.get("conventions")}
    if conv:
        exact = {name: sorted(k for k, r in v.items() if r is not None and abs(r - 1) < 1e-6)
                 for name, v in conv.items()}
        out.append({"topic": "conventions",
                    "status": "data",
                    "finding": "FLOP from the counts / FLOP executed, per convention; exact "
                               "for: " + "; ".join("%s: %s" % (k, ",".join(v) or "none")
                                                   for k, v in sorted(exact.items())),
                    "data": conv})
    # 6. ragged GEMMs: measured / what the aligned sibling's ratio predicts
    fams = {}
    for e in measured:
        if e.get("family") and e.get("flop_per_count"):
            fams.setdefault(e["family"], {})["ragged" if e.get("ragged") else "aligned"] = e
    pad = {}
    for fam, d in fams.items():
        if "ragged" in d and "aligned" in d:
            excess = d["aligned"]["flop_per_count"] / d["ragged"]["flop_per_count"] - 1
            pad[fam] = {"excess_work": excess, "kernels": d["ragged"].get("kernels")}
    if pad:
        out.append({"topic": "ragged_padding", "status": "data",
                    "finding": "tensor work counted beyond 2*M*N*K at 4095x3001x1234: " +
                    ", ".join("%s %+.2f%%" % (k, 100 * v["excess_work"])
                              for k, v in sorted(pad.items())),
                    "data": pad})
    # 7. repeatability of warm-up and measured segments
    rep = {e["name"]: e["warmup_repeats"] for e in measured if "warmup_repeats" in e}
    if rep:
        n_ok = sum(1 for v in rep.values() if v)
        out.append({"topic": "repeatability",
                    "status": "settled" if n_ok == len(rep) else "varies",
                    "finding": "%d of %d items counted the same in warm-up and measured run"
                               % (n_ok, len(rep)), "data": rep})
    # 8. the compiled code is the one the expectations were derived from
    st = {e["name"]: e["sass_static"]["match"] for e in evals if "sass_static" in e}
    if st:
        bad_st = sorted(k for k, v in st.items() if not v)
        out.append({"topic": "sass_static",
                    "status": "as_expected" if not bad_st else "differs",
                    "finding": "static SASS opcode counts as written in flop_kernels" if not bad_st
                    else "compiled code differs from the expectations' SASS: " + ", ".join(bad_st),
                    "data": st})
    # 9. the wgmma descriptor reading
    for e in evals:
        if e["group"] == "wgmma" and isinstance(e.get("check"), dict):
            out.append({"topic": "wgmma_result." + e["name"],
                        "status": "correct" if e["check"].get("correct") else "wrong",
                        "finding": e["check"].get("descriptor", ""), "data": e["check"]})
    return out


# ---- SASS ----------------------------------------------------------------------------------

def demangle_base(mangled):
    """The function name of a simple Itanium-mangled kernel: _Z11fk_ffma_f32Pjiffi."""
    m = re.match(r"_Z(\d+)", mangled)
    if not m:
        return mangled
    n = int(m.group(1))
    return mangled[m.end():m.end() + n]


def parse_sass(text):
    """Static opcode counts per kernel function from cuobjdump -sass output."""
    out, cur = {}, None
    for line in text.splitlines():
        m = re.search(r"Function : (\S+)", line)
        if m:
            cur = out.setdefault(demangle_base(m.group(1)), {})
            continue
        m = re.match(r"\s+/\*[0-9a-f]{4,}\*/\s+(?:@!?U?P\w+\s+)?([A-Z][A-Z0-9_.x]*)", line)
        if m and cur is not None:
            cur[m.group(1)] = cur.get(m.group(1), 0) + 1
    return out


# ---- output --------------------------------------------------------------------------------

def fmt(v):
    if v is None:
        return "-"
    if isinstance(v, float) and v != int(v):
        return "%.4g" % v
    return "%d" % v


def short_metric(m):
    return (m.replace("smsp__sass_thread_inst_executed_op_", "")
             .replace("_pred_on.sum", "").replace("sm__ops_path_tensor_", "tensor:")
             .replace(".sum", ""))


def expected_weight(e):
    """The expected value of an item's weight metric: exact, else one per hypothesis."""
    wm = e.get("weight_metric")
    exact = metric_sum(e["expected"]["exact"], wm)
    if exact is not None:
        return exact, ""
    vals = []  # in the hypotheses' order, each value once
    for v in e["expected"]["hypotheses"].values():
        x = metric_sum(v, wm)
        if x is not None and x not in vals:
            vals.append(x)
    if not vals:
        return None, ""
    return vals[0], "|".join(fmt(v) for v in vals)


def item_table(evals):
    head = ("item", "metric", "expected", "measured", "ratio", "holds")
    rows = []
    for e in evals:
        wm = e.get("weight_metric")
        exp, alternatives = expected_weight(e)
        if e.get("measured") is None:
            rows.append((e["name"], short_metric(wm or ""), alternatives or fmt(exp), "-", "-",
                         e["status"] + (": " + e["error"][:40] if e.get("error") else "")))
            continue
        holds = ",".join(e["hypotheses_matching"]) or ("exact" if e["status"] == "ok" else
                                                        e["status"])
        meas = metric_sum(e["measured"], wm)
        if alternatives:  # the ratio to the hypothesis that holds, if one does
            for h in e.get("hypotheses", []):
                v = metric_sum({x["metric"]: x["expected"] for x in h["values"]}, wm)
                if h["match"] and v is not None:
                    exp = v
        rows.append((e["name"], short_metric(wm or ""), fmt(exp), fmt(meas),
                     fmt(ratio(meas, exp)), holds[:60]))
    widths = [max(len(head[i]), *(len(r[i]) for r in rows)) if rows else len(head[i])
              for i in range(6)]
    lines = ["  ".join(h.ljust(widths[i]) for i, h in enumerate(head)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(r[i].ljust(widths[i]) for i in range(6)).rstrip() for r in rows]
    return "\n".join(lines)


def add_rows(rows_path, prefix, doc):
    if not rows_path:
        return
    ncu = doc["ncu"]
    if ncu["status"] == "ok":
        results.add_row(rows_path, prefix + ".ncu", "pass", "ncu reads the counters",
                        "%d kernels profiled" % ncu["kernels"])
    elif ncu["status"] in ("not found", "counters unavailable", "not run"):
        results.add_row(rows_path, prefix + ".ncu", "skipped", "ncu reads the counters",
                        ncu["reason"][:80] or ncu["status"])
    else:
        results.add_row(rows_path, prefix + ".ncu", "fail", "ncu reads the counters",
                        ncu["status"], ncu["reason"][:300])
    ev = doc["items"]
    n_meas = sum(1 for e in ev if e.get("measured") is not None)
    if n_meas:
        missing = [e["name"] for e in ev if e.get("measured") is None and not e["unsupported"]]
        results.add_row(rows_path, prefix + ".items", "pass" if not missing else "fail",
                        "%d items measured" % (len(ev) - sum(1 for e in ev if e["unsupported"])),
                        "%d measured" % n_meas, ", ".join(missing)[:300])
    weights = [c for c in doc["conclusions"] if c["topic"].startswith("weight.")]
    if weights:
        def per(c):
            vals = sorted({round(v["flop_per_count"], 4) for v in c["data"].values()
                           if not v["ragged"]})
            return "%s %s" % (c["topic"][7:], "/".join("%g" % v for v in vals))
        results.add_row(rows_path, prefix + ".weights", "info", "FLOP per count, per metric",
                        "; ".join(per(c) for c in weights)[:120],
                        "varies: " + ", ".join(c["topic"][7:] for c in weights
                                               if c["status"] == "varies"))
    for c in doc["conclusions"]:
        if c["topic"].startswith("weight."):
            continue
        status = "info"
        if c["topic"] == "exact_expectations" and c["status"] != "unmeasured":
            status = "pass" if c["status"] == "settled" else "fail"
        if c["topic"] == "sass_static":
            status = "fail" if c["status"] == "differs" else "pass"
        expected = {"exact_expectations": "every exact count holds",
                    "tensor_leaves": "each in its expected leaf",
                    "repeatability": "warm-up counts = measured counts",
                    "sass_static": "the SASS the expectations assume"}.get(
            c["topic"], "settled by the counts" if c["topic"].startswith("facet.") else "")
        results.add_row(rows_path, prefix + "." + c["topic"], status, expected,
                        c["finding"][:120], c["finding"] if len(c["finding"]) > 120 else "")


def run(args):
    items, metas, ends = read_program(args.program)
    kernels, logs = [], []
    for path in args.ncu_log or []:
        text = ""
        if os.path.exists(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
        ks = parse_ncu_csv(text)
        errors, missing, reason = ncu_problems(text)
        logs.append({"file": os.path.basename(path), "kernels": len(ks), "errors": errors[:20],
                     "metrics_missing": missing, "reason": reason})
        kernels.extend(ks)
    segs, stray = segments(kernels)
    sass_static = None
    if args.sass and os.path.exists(args.sass):
        with open(args.sass, encoding="utf-8", errors="replace") as f:
            sass_static = parse_sass(f.read())
    evals = [evaluate_item(items[s], segs, sass_static) for s in sorted(items)]
    if args.ncu_status:
        status, reason = args.ncu_status.split(":", 1)[0], args.ncu_status
    elif kernels:
        status, reason = "ok", "; ".join(x["reason"] for x in logs if x["reason"])
    elif any("counters unavailable" in x["reason"] for x in logs):
        status = "counters unavailable"
        reason = next(x["reason"] for x in logs if "counters unavailable" in x["reason"])
    elif logs:
        status = "failed"
        reason = "; ".join(x["reason"] for x in logs if x["reason"]) or "no kernel rows"
    else:
        status, reason = "not run", "no ncu log given"
    doc = {"schema": SCHEMA,
           "program": {"meta": metas, "end": ends, "items": len(items)},
           "ncu": {"status": status, "reason": reason, "kernels": len(kernels),
                   "kernels_outside_segments": len(stray), "logs": logs},
           "items": evals,
           # without measurements only the check of the compiled code can be made
           "conclusions": conclude(evals) if kernels else
           [c for c in conclude(evals) if c["topic"] == "sass_static"]}
    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    os.replace(tmp, args.out)
    print("calibration: ncu %s%s; %d items, %d measured" % (
        status, (" (" + reason[:200] + ")") if reason else "", len(evals),
        sum(1 for e in evals if e.get("measured") is not None)))
    if evals:
        print(item_table(evals))
    for c in doc["conclusions"]:
        print("[%s] %s: %s" % (c["status"], c["topic"], c["finding"][:300]))
    add_rows(args.rows, args.prefix, doc)
    if not items:
        print("calibration: no FLOPCAL lines in the program output", file=sys.stderr)
        return 1
    if status == "ok" and any(c["topic"] == "exact_expectations" and c["status"] == "contradicted"
                              for c in doc["conclusions"]):
        return 1
    return 0


# ---- self-test ----------------------------------------------------------------------------

def _raw_csv(kernels, metrics, units):
    """ncu --page raw style CSV of (name, grid, {metric: value}) rows."""
    buf = io.StringIO()
    w = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n")
    base = ["ID", "Process ID", "Process Name", "Host Name", "Kernel Name", "Context", "Stream",
            "Block Size", "Grid Size", "Device", "CC"]
    w.writerow(base + metrics)
    w.writerow([""] * len(base) + [units.get(m, "") for m in metrics])
    for i, (name, grid, vals) in enumerate(kernels):
        w.writerow([str(i), "1", "flop_kernels", "127.0.0.1", name, "1", "7", "(128, 1, 1)",
                    "(%d, 1, 1)" % grid, "0", "9.0"] +
                   ["{:,}".format(int(vals[m])) if m in vals and vals[m] == int(vals[m])
                    else str(vals.get(m, "n/a")) for m in metrics])
    return buf.getvalue()


def _details_csv(kernels):
    buf = io.StringIO()
    w = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n")
    w.writerow(["ID", "Process ID", "Process Name", "Host Name", "Kernel Name", "Context",
                "Stream", "Block Size", "Grid Size", "Device", "CC", "Section Name",
                "Metric Name", "Metric Unit", "Metric Value"])
    for i, (name, grid, vals) in enumerate(kernels):
        for m, v in vals.items():
            unit, val = "", "{:,}".format(int(v))
            if m == TIME_METRIC:
                unit, val = "usecond", "%.2f" % (v / 1e3)
            elif v >= 1e6:
                unit, val = "Minst", "%.6f" % (v / 1e6)
            w.writerow([str(i), "1", "p", "h", name, "1", "7", "(128, 1, 1)",
                        "(%d, 1, 1)" % grid, "0", "9.0", "Command line profiler metrics", m,
                        unit, val])
    return buf.getvalue()


def self_test():
    failures = []

    def expect(cond, what):
        if not cond:
            failures.append(what)

    expect(parse_value("1,234,567") == 1234567, "thousands separators")
    expect(parse_value("2.5", "Minst") == 2.5e6, "unit prefix")
    expect(parse_value("3.0", "usecond") == 3000.0, "time unit")
    expect(parse_value("n/a") is None, "n/a")
    expect(demangle_base("_Z11fk_ffma_f32Pjiffi") == "fk_ffma_f32", "demangle")
    expect(facets("lanes=per_lane+mma=as_hfma") == {"lanes": "per_lane", "mma": "as_hfma"},
           "facets")

    H = sass("hfma")
    F = sass("ffma")
    leaf16 = "sm__ops_path_tensor_op_hmma_src_fp16_dst_fp32.sum"
    leaf_other = "sm__ops_path_tensor_src_fp8.sum"
    zeros = {sass(o): 0 for o in ("fadd", "fmul", "ffma", "dadd", "dmul", "dfma")}

    def item(seq, name, group, flop, wm, expect_, hyps, launches=1, leaf="", info=None,
             kernel="", family="", ragged=False):
        return {"seq": seq, "name": name, "group": group, "kernel": kernel, "flop": flop,
                "family": family, "ragged": ragged,
                "weight_metric": wm, "tensor_leaf": leaf, "launches": launches,
                "warmup_launches": launches, "expect": expect_,
                "hypotheses": [{"name": n, "means": "", "values": v} for n, v in hyps],
                "info": info or {}, "ran": True, "unsupported": False, "error": "", "ms": 1.0,
                "check": None}

    items = [
        item(0, "ffma_f32", "cuda_core", 200, F, dict(zeros, **{F: 100, "tensor_ops_total": 0}),
             [("pred=on_only", {F: 100}), ("pred=off_counted", {F: 104})],
             info={"sass_static": {"FFMA": 84}}, kernel="fk_ffma_f32"),
        item(1, "hfma_f16", "cuda_core", 20, H, dict(zeros, tensor_ops_total=0),
             [("lanes=per_instruction", {H: 10}), ("lanes=per_lane", {H: 20})]),
        item(2, "hfma2_f16x2", "cuda_core", 80, H, dict(zeros, tensor_ops_total=0),
             [("lanes=per_instruction+mma=as_hfma", {H: 20}),
              ("lanes=per_lane+mma=as_hfma", {H: 40}),
              ("lanes=per_instruction+mma=uncounted", {H: 10}),
              ("lanes=per_lane+mma=uncounted", {H: 20})]),
        item(3, "mma_f16_f32", "mma_sync", 4096, "tensor_ops_total", {},
             [("op=flop", {"tensor_ops_total": 4096}), ("op=mac", {"tensor_ops_total": 2048})],
             leaf=leaf16),
        item(4, "cublas_f16_4096", "cublas", 2000, "tensor_ops_total", {},
             [("op=flop", {"tensor_ops_total": 2000}), ("op=mac", {"tensor_ops_total": 1000})],
             launches=-1, leaf=leaf16, info={"api": "cublasGemmEx"}, family="cublas_f16"),
        item(5, "cublas_f16_ragged", "cublas", 1000, "tensor_ops_total", {},
             [("op=flop", {"tensor_ops_total": 1000}), ("op=mac", {"tensor_ops_total": 500})],
             launches=-1, leaf=leaf16, info={"api": "cublasGemmEx"}, family="cublas_f16",
             ragged=True),
        item(6, "never_ran", "cublas", 10, "tensor_ops_total", {}, [], launches=-1),
        # packed adds: half issued as HFMA2.MMA, so the weight is over hadd + hfma
        item(7, "hadd2_f16x2", "cuda_core", 20, sass("hadd") + "+" + H,
             dict(zeros, tensor_ops_total=0),
             [("lanes=per_instruction+mma=as_hfma", {sass("hadd"): 5, H: 5}),
              ("lanes=per_lane+mma=as_hfma", {sass("hadd"): 10, H: 10}),
              ("lanes=per_instruction+mma=uncounted", {sass("hadd"): 5, H: 0}),
              ("lanes=per_lane+mma=uncounted", {sass("hadd"): 10, H: 0})]),
    ]
    tmp = tempfile.mkdtemp(prefix="calibrate-selftest-")
    prog = os.path.join(tmp, "program.txt")
    with open(prog, "w") as f:
        f.write("FLOPCAL_META {\"schema\": \"flopmeter-flop-kernels/1\"}\n")
        f.write("some other line\n")
        for it in items:
            f.write("FLOPCAL " + json.dumps(it) + "\n")
        f.write("FLOPCAL_END {\"items\": 8, \"ran\": 8, \"failed\": 0}\n")
    metrics = [sass(o) for o in ("fadd", "fmul", "ffma", "dadd", "dmul", "dfma", "hadd", "hmul",
                                 "hfma")] + [leaf16, leaf_other, TIME_METRIC]

    def k(name, grid=1, **vals):
        v = {m: 0 for m in metrics}
        v[TIME_METRIC] = 1000.0
        v.update({m.replace("_X_", "."): x for m, x in vals.items()})
        return (name, grid, v)

    kernels = [
        k("setup_kernel(int)", 1),  # before any marker: ignored
        k("fk_mark_warmup(int, int *)", 1),
        k("fk_ffma_f32(unsigned int *, int, float, float, int)", **{F: 100}),
        k("fk_mark_measure(int, int *)", 1),
        k("fk_ffma_f32(unsigned int *, int, float, float, int)", **{F: 100}),
        k("fk_mark_measure(int, int *)", 2), k("fk_hfma_f16", **{H: 10}),
        # hfma2: per_instruction+mma_as_hfma (20) and per_lane+uncounted (20) both hold here;
        # hfma_f16 above settles lanes=per_instruction, so mma=as_hfma follows
        k("fk_mark_measure(int, int *)", 3), k("fk_hfma2_f16x2", **{H: 20}),
        k("fk_mark_measure(int, int *)", 4), k("fk_mma_f16_f32", **{leaf16: 4096}),
        k("fk_mark_warmup(int, int *)", 5), k("sm90_xmma_gemm_a", **{leaf16: 2000, F: 7}),
        k("fk_mark_measure(int, int *)", 5), k("sm90_xmma_gemm_a", **{leaf16: 2000, F: 7}),
        k("fk_mark_measure(int, int *)", 6), k("sm90_xmma_gemm_b", **{leaf16: 1100}),
        k("splitk_reduce", **{F: 3}),
        k("fk_mark_measure(int, int *)", 8), k("fk_hadd2_f16x2", **{sass("hadd"): 5, H: 5}),
    ]
    # two ncu runs: raw page, and details page with unit prefixes
    log1 = os.path.join(tmp, "ncu_a.csv")
    log2 = os.path.join(tmp, "ncu_b.csv")
    with open(log1, "w") as f:
        f.write("==PROF== Connected to process 1\n")
        f.write(_raw_csv(kernels[:5], metrics, {TIME_METRIC: "nsecond"}))
    with open(log2, "w") as f:
        f.write(_details_csv(kernels[5:]))
    sass_txt = os.path.join(tmp, "sass.txt")
    with open(sass_txt, "w") as f:
        f.write("\t\tFunction : _Z11fk_ffma_f32Pjiffi\n" +
                "".join("        /*%04x*/                   FFMA R6, R6, UR6, R5 ;\n" % (16 * i)
                        for i in range(80)) +
                "".join("        /*%04x*/               @P0 FFMA R6, R6, UR6, R5 ;\n" % (16 * i)
                        for i in range(80, 84)))
    out = os.path.join(tmp, "calibration.json")
    rows = os.path.join(tmp, "rows.jsonl")
    ns = argparse.Namespace(program=[prog], ncu_log=[log1, log2], ncu_status=None, sass=sass_txt,
                            out=out, rows=rows, prefix="calibration")
    quiet = io.StringIO()

    def run_quiet(a):
        with contextlib.redirect_stdout(quiet):
            return run(a)

    rc = run_quiet(ns)
    doc = json.load(open(out))
    ev = {e["name"]: e for e in doc["items"]}
    con = {c["topic"]: c for c in doc["conclusions"]}
    expect(rc == 0, "run exit 0 (got %r)" % rc)
    expect(doc["ncu"]["status"] == "ok", "ncu status ok")
    expect(doc["ncu"]["kernels_outside_segments"] == 1, "the kernel before the markers")
    expect(ev["ffma_f32"]["status"] == "ok", "ffma exact")
    expect(ev["ffma_f32"]["hypotheses_matching"] == ["pred=on_only"], "pred facet")
    expect(ev["ffma_f32"].get("warmup_repeats") is True, "warm-up repeats")
    expect(ev["ffma_f32"]["sass_static"]["match"], "static SASS")
    expect(abs(ev["ffma_f32"]["conventions"]["ncu_roofline"]["ratio_to_executed"] - 1) < 1e-9,
           "ncu convention ratio")
    expect(set(ev["hfma2_f16x2"]["hypotheses_matching"]) ==
           {"lanes=per_instruction+mma=as_hfma", "lanes=per_lane+mma=uncounted"},
           "hfma2 alone is ambiguous")
    expect(con["facet.lanes"]["status"] == "settled" and
           "per_instruction" in con["facet.lanes"]["finding"], "lanes settled")
    expect(con["facet.mma"]["status"] == "settled" and "as_hfma" in con["facet.mma"]["finding"],
           "mma settled across items")
    expect(con["facet.op"]["status"] == "settled" and "op=flop" in con["facet.op"]["finding"],
           "op settled (the ragged item matches neither, the others flop)")
    expect(ev["mma_f16_f32"]["tensor_leaf_carries_all"], "tensor leaf")
    expect(ev["cublas_f16_ragged"]["launches_measured"] == 2, "two kernels in a segment")
    expect(ev["cublas_f16_ragged"]["measured"][F] == 3, "details page values")
    expect(abs(con["ragged_padding"]["data"]["cublas_f16"]["excess_work"] - 0.1) < 1e-9,
           "ragged padding 10%")
    expect(ev["never_ran"]["status"] == "not measured", "item without a segment")
    expect(con["weight.hfma"]["status"] == "varies", "hfma weight varies (2 vs 4)")
    expect(con["weight.ffma"]["status"] == "uniform", "ffma weight uniform")
    expect(con["weight.hadd+hfma"]["status"] == "uniform" and
           ev["hadd2_f16x2"]["flop_per_count"] == 2.0, "a summed weight metric")
    expect(con["exact_expectations"]["status"] == "settled", "exact expectations")
    row_lines = open(rows).read().splitlines()
    expect(any('"calibration.ncu"' in r and '"pass"' in r for r in row_lines), "ncu row")

    # an exact count that fails
    with open(log1, "w") as f:
        f.write(_raw_csv([kernels[3], k("fk_ffma_f32", **{F: 99})], metrics, {}))
    ns.ncu_log = [log1]
    ns.rows = None
    expect(run_quiet(ns) == 1, "an exact mismatch fails")
    doc = json.load(open(out))
    expect(doc["conclusions"][0]["status"] == "contradicted", "mismatch reported")

    # ncu without counters: the expectations are still written
    with open(log1, "w") as f:
        f.write("==PROF== Connected to process 1\n==ERROR== ERR_NVGPUCTRPERM - The user does "
                "not have permission to access NVIDIA GPU Performance Counters\n")
    ns.ncu_log = [log1]
    ns.rows = rows = os.path.join(tmp, "rows2.jsonl")
    expect(run_quiet(ns) == 0, "no counters is not a failure of the comparison")
    doc = json.load(open(out))
    expect(doc["ncu"]["status"] == "counters unavailable", "counters unavailable")
    expect(len(doc["items"]) == 8 and [c["topic"] for c in doc["conclusions"]] == ["sass_static"],
           "items kept, only the SASS conclusion")
    expect(any('"calibration.ncu"' in r and '"skipped"' in r for r in open(rows)), "skipped row")
    with open(log1, "w") as f:
        f.write("==ERROR== Failed to find metric sm__ops_path_tensor_src_fp99.sum\n")
    run_quiet(ns)
    doc = json.load(open(out))
    expect(doc["ncu"]["logs"][0]["metrics_missing"] == ["sm__ops_path_tensor_src_fp99.sum"],
           "missing metric named")
    ns.ncu_log, ns.ncu_status = [], "not found: no ncu on this machine"
    run_quiet(ns)
    expect(json.load(open(out))["ncu"]["status"] == "not found", "ncu not found")

    # facets are decided per connected group: a contradiction in one (tensor op readings
    # that differ by precision) leaves the others settled
    def ev_(name, matches):
        return {"name": name, "group": "x", "measured": {}, "info": {},
                "hypotheses": [{"name": n, "match": m, "values": []} for n, m in matches]}
    con = {c["topic"]: c for c in conclude([
        ev_("a", [("op=flop", True), ("op=mac", False)]),
        ev_("b", [("op=flop", False), ("op=mac", True)]),
        ev_("c", [("lanes=per_instruction", True), ("lanes=per_lane", False)]),
        ev_("d", [("pred=on_only", True), ("pred=off_counted", True)])])}
    expect(con["facet.op"]["status"] == "contradicted", "op contradicted")
    expect(con["facet.lanes"]["status"] == "settled", "lanes unaffected")
    expect(con["facet.pred"]["status"] == "open", "pred open")

    failures.extend(_selftest_crosscheck(tmp, items))

    for f_ in failures:
        print("self-test FAIL: " + f_)
    if failures:
        print(quiet.getvalue())
        return 1
    print("self-test: all cases passed")
    return 0


# Stand-ins for flop_kernels and ncu: the program prints the items' FLOPCAL lines (of the
# groups --only names); ncu runs it and writes, for each item, the markers and one kernel
# whose counts are the item's exact expectations and its first hypothesis. FAKE_NCU_MODE
# "missing" makes ncu refuse one metric until it is left out, "perm" deny the counters.
_FAKE_PROGRAM = r"""#!/usr/bin/env python3
import json, sys
items = json.load(open(__file__ + ".json"))
only = sys.argv[sys.argv.index("--only") + 1].split(",") if "--only" in sys.argv else None
print("FLOPCAL_META {}")
for it in items:
    if only is None or it["group"] in only:
        print("FLOPCAL " + json.dumps(it))
print("FLOPCAL_END {}")
"""

_FAKE_NCU = r"""#!/usr/bin/env python3
import json, os, subprocess, sys
sys.path.insert(0, os.environ["FAKE_NCU_LIB"])
import calibrate
args = sys.argv[1:]
if args == ["--version"]:
    print("fake ncu 0")
    sys.exit(0)
with open(os.environ["FAKE_NCU_CALLS"], "a") as f:
    f.write(json.dumps(args) + "\n")
log, metrics, i = None, [], 0
while i < len(args) and args[i].startswith("--"):
    if args[i] == "--csv":
        i += 1
        continue
    if args[i] == "--log-file":
        log = args[i + 1]
    if args[i] == "--metrics":
        metrics = args[i + 1].split(",")
    i += 2
out = open(log, "w")
mode = os.environ.get("FAKE_NCU_MODE", "ok")
if mode == "perm":
    out.write("==ERROR== ERR_NVGPUCTRPERM - The user does not have permission\n")
    sys.exit(1)
if mode == "missing" and "sm__ops_path_tensor_src_fp64.sum" in metrics:
    out.write("==ERROR== Failed to find metric sm__ops_path_tensor_src_fp64.sum\n")
    sys.exit(1)
p = subprocess.run(args[i:], capture_output=True, text=True)
sys.stdout.write(p.stdout)
rows = []
for line in p.stdout.splitlines():
    if not line.startswith("FLOPCAL "):
        continue
    it = json.loads(line.split(" ", 1)[1])
    vals = {m: 0 for m in metrics}
    vals.update(it["expect"])
    if it["hypotheses"]:
        vals.update(it["hypotheses"][0]["values"])
    if "tensor_ops_total" in vals:
        vals[it["tensor_leaf"] or metrics[0]] = vals.pop("tensor_ops_total")
    vals = {m: v for m, v in vals.items() if m in metrics}
    for kind in ("warmup", "measure"):
        rows.append(("fk_mark_%s(int, int *)" % kind, it["seq"] + 1, {}))
        rows.append((it["kernel"] or "gemm", 1, vals))
out.write(calibrate._raw_csv(rows, metrics, {}))
"""


def _selftest_crosscheck(tmp, items):
    """ncu_crosscheck.sh with the stand-ins: the three runs, the retry without a metric
    ncu does not know, and counters that cannot be read. Failures, as text."""
    failures = []
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ncu_crosscheck.sh")
    prog = os.path.join(tmp, "fake_program")
    ncu = os.path.join(tmp, "fake_ncu")
    with open(prog + ".json", "w") as f:
        json.dump([it for it in items if it["name"] != "never_ran"], f)
    for path, text in ((prog, _FAKE_PROGRAM), (ncu, _FAKE_NCU)):
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o755)
    for mode, want_status, want_calls in (("ok", "ok", 4), ("missing", "ok", 8),
                                          ("perm", "counters unavailable", 1)):
        d = os.path.join(tmp, "cross-" + mode)
        calls = os.path.join(tmp, "calls-" + mode)
        env = dict(os.environ, FAKE_NCU_MODE=mode, FAKE_NCU_CALLS=calls,
                   FAKE_NCU_LIB=os.path.dirname(os.path.abspath(__file__)))
        p = subprocess.run(["bash", script, "--program", prog, "--dir", d, "--ncu", ncu,
                            "--timeout", "100"], env=env, capture_output=True, text=True,
                           timeout=120)
        what = "ncu_crosscheck.sh (%s)" % mode
        if p.returncode != 0:
            failures.append("%s exit %d: %s" % (what, p.returncode, p.stderr[-300:]))
            continue
        try:
            doc = json.load(open(os.path.join(d, "calibration.json")))
            n_calls = len(open(calls).read().splitlines())
        except (OSError, ValueError) as e:
            failures.append("%s: %s" % (what, e))
            continue
        if doc["ncu"]["status"] != want_status:
            failures.append("%s: ncu status %r" % (what, doc["ncu"]["status"]))
        if n_calls != want_calls:
            failures.append("%s: %d ncu calls, expected %d" % (what, n_calls, want_calls))
        refused = {m for x in doc["ncu"]["logs"] for m in x["metrics_missing"]}
        if (mode == "missing") != (refused == {"sm__ops_path_tensor_src_fp64.sum"}):
            failures.append("%s: refused metrics on record: %s" % (what, sorted(refused)))
        measured = [e["name"] for e in doc["items"] if e.get("measured") is not None]
        if mode != "perm" and len(measured) != len(items) - 1:
            failures.append("%s: measured %s" % (what, measured))
        if mode == "ok" and any(e["status"] not in ("ok",) for e in doc["items"]
                                if not e.get("ragged")):
            failures.append("%s: statuses %s" % (what, [(e["name"], e["status"])
                                                        for e in doc["items"]]))
    return failures


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="mode", required=True)
    r = sub.add_parser("run", help="compare ncu's counts with flop_kernels' expectations")
    r.add_argument("--program", action="append", required=True,
                   help="flop_kernels output (FLOPCAL lines); repeatable")
    r.add_argument("--ncu-log", action="append", help="ncu --csv output; repeatable")
    r.add_argument("--ncu-status", help="why ncu did not run (e.g. 'not found: ...')")
    r.add_argument("--sass", help="cuobjdump -sass output of flop_kernels")
    r.add_argument("--out", required=True, help="calibration.json to write")
    r.add_argument("--rows", help="results.py rows to append to")
    r.add_argument("--prefix", default="calibration")
    sub.add_parser("self-test", help="test this script on synthetic data, without a GPU")
    args = p.parse_args(argv)
    if args.mode == "self-test":
        return self_test()
    return run(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
