#!/usr/bin/env python3
"""Validates `flopmeter export --perfetto` against the Chrome trace event format.

    python3 check_perfetto.py --flopmeter PATH/TO/flopmeter [--workdir DIR]

Synthesizes a 4-rank job with the built command, then checks the timeline exported
  1. from the four rank traces,
  2. from the same traces with --no-kernels,
  3. from the trace `flopmeter merge` makes of them.

Each timeline must be the JSON object form of the format ("traceEvents" list), and every
event must be well formed for its phase:
  - ph known; name a string (optional only on E, where the format lets the B name stand);
    pid and tid integers; ts a finite number (not on M);
  - X: dur >= 0; i/I: scope s one of g, p, t;
  - B/E: matched per (pid, tid) as a stack, in time order (file order among equal times),
    names matching, none left open;
  - b/e (async): matched by (cat, id, pid), names matching, e not before its b, none left
    open, no id reused while open;
  - C: args a non-empty object of finite numbers (an empty one is tolerated only before the
    counter has any series, where it shows nothing);
  - M: process_name / thread_name with a string args.name; one process_name per process.
Timestamps in file order need not be non-decreasing (the format does not ask for it).

Against the report (`flopmeter report --json` of the same traces): one process per rank,
the pids being the ranks; and per rank, the FLOP/s counter integrated the way a viewer
draws it (each series holds its value until its next sample, and must end at 0) equals
the rank's executed floating-point operations (traces[].flop) within 1e-6 relative.
--no-kernels must remove exactly the measured-kernel b/e events and nothing else. The
merged trace must give the same events as its inputs.

When Perfetto's trace_processor_shell is available (on PATH, or named by the environment
variable FLOPMETER_TRACE_PROCESSOR), each timeline is also loaded with it; otherwise that
step is reported as not run. (The `perfetto` Python package ships no binary: it downloads
trace_processor_shell on first use, which a machine without internet access cannot do.)

Exits 0 when everything holds, 1 otherwise. Files are written to DIR (created if needed and
kept), or to a temporary directory removed afterwards.
"""

import argparse
import collections
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

KNOWN_PHASES = set("BEXIiCbneSTpFstfPONDMRcv()")  # every phase the format defines
METADATA_NAMES = {"process_name", "thread_name", "process_sort_index", "thread_sort_index",
                  "process_labels"}
KERNEL_CAT = "measured kernel"
REL_TOL = 1e-6

ERRORS = []


def fail(msg):
    ERRORS.append(msg)
    print("FAIL: " + msg)


def run(cmd, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    if r.returncode != 0:
        raise SystemExit("command failed (%d): %s\n%s" % (r.returncode, " ".join(cmd), r.stderr))
    return r.stdout


def reject_constant(name):
    raise ValueError("not JSON: %s" % name)


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f, parse_constant=reject_constant)


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def is_num(v):
    return (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v))


def validate(doc, label):
    """Checks the format; returns the events, or None where their fields are unusable."""
    errors_before = len(ERRORS)

    def bad(i, e, msg):
        fail("%s: event %d (%s): %s" % (label, i, json.dumps(e)[:200], msg))

    if not isinstance(doc, dict) or not isinstance(doc.get("traceEvents"), list):
        fail("%s: not a JSON object with a traceEvents list" % label)
        return None
    if "displayTimeUnit" in doc and doc["displayTimeUnit"] not in ("ms", "ns"):
        fail("%s: displayTimeUnit %r is neither ms nor ns" % (label, doc["displayTimeUnit"]))
    events = doc["traceEvents"]
    if not events:
        fail("%s: no events" % label)

    # per-phase field checks
    for i, e in enumerate(events):
        if not isinstance(e, dict):
            bad(i, e, "not an object")
            continue
        ph = e.get("ph")
        if not isinstance(ph, str) or ph not in KNOWN_PHASES:
            bad(i, e, "unknown ph %r" % (ph,))
            continue
        if "name" in e or ph != "E":
            if not isinstance(e.get("name"), str):
                bad(i, e, "name missing or not a string")
        if not is_int(e.get("pid")):
            bad(i, e, "pid missing or not an integer")
        if "tid" in e or ph != "M":
            if not is_int(e.get("tid")):
                bad(i, e, "tid missing or not an integer")
        if ph != "M" and not is_num(e.get("ts")):
            bad(i, e, "ts missing or not a finite number")
        if "args" in e and not isinstance(e["args"], dict):
            bad(i, e, "args is not an object")
        if "cat" in e and not isinstance(e["cat"], str):
            bad(i, e, "cat is not a string")
        if ph == "X" and not (is_num(e.get("dur")) and e["dur"] >= 0):
            bad(i, e, "X without a dur >= 0")
        if ph in "iI" and "s" in e and e["s"] not in ("g", "p", "t"):
            bad(i, e, "instant scope %r" % (e["s"],))
        if ph == "M":
            if e.get("name") not in METADATA_NAMES:
                bad(i, e, "unknown metadata name")
            elif e["name"] in ("process_name", "thread_name") and not isinstance(
                    e.get("args", {}).get("name"), str):
                bad(i, e, "%s without a string args.name" % e["name"])
        if ph in "bne" and "id" not in e and "id2" not in e:
            bad(i, e, "async event without an id")
    if len(ERRORS) > errors_before:
        return None

    # B/E: a stack per thread, in time order (stable: file order among equal times)
    by_thread = collections.defaultdict(list)
    for i, e in enumerate(events):
        if e["ph"] in "BE":
            by_thread[(e["pid"], e["tid"])].append((e["ts"], i, e))
    for key, evs in by_thread.items():
        evs.sort(key=lambda t: (t[0], t[1]))
        stack = []
        for ts, i, e in evs:
            if e["ph"] == "B":
                stack.append((ts, i, e))
            elif not stack:
                bad(i, e, "E without an open B on pid %d tid %d" % key)
            else:
                _, bi, b = stack.pop()
                if "name" in e and e["name"] != b["name"]:
                    bad(i, e, "E named %r closes B %d named %r" % (e["name"], bi, b["name"]))
        for ts, i, e in stack:
            bad(i, e, "B never closed")

    # b/e: async pairs by (cat, id, pid)
    open_async = {}
    for i, e in enumerate(events):
        if e["ph"] not in "be":
            continue
        key = (e.get("cat"), json.dumps(e.get("id", e.get("id2")), sort_keys=True), e["pid"])
        if e["ph"] == "b":
            if key in open_async:
                bad(i, e, "async id reused while event %d is open" % open_async[key][0])
            open_async[key] = (i, e)
        else:
            if key not in open_async:
                bad(i, e, "e without an open b of the same (cat, id, pid)")
                continue
            bi, b = open_async.pop(key)
            if e["name"] != b["name"]:
                bad(i, e, "e named %r closes b %d named %r" % (e["name"], bi, b["name"]))
            if e["ts"] < b["ts"]:
                bad(i, e, "e at %r before its b at %r" % (e["ts"], b["ts"]))
    for bi, b in open_async.values():
        bad(bi, b, "b never closed")

    # C: numeric args; an empty args object only before the counter has a series
    series_seen = collections.defaultdict(set)
    counters = sorted(((e["pid"], e["name"], e["ts"], i, e) for i, e in enumerate(events)
                       if e["ph"] == "C"), key=lambda t: (t[0], t[1], t[2], t[3]))
    for pid, name, ts, i, e in counters:
        args = e.get("args")
        if not isinstance(args, dict):
            bad(i, e, "counter without args")
            continue
        if not args and series_seen[(pid, name)]:
            bad(i, e, "counter event without values after series %s: the viewers keep the "
                "previous values" % sorted(series_seen[(pid, name)]))
        for k, v in args.items():
            if not is_num(v):
                bad(i, e, "counter value %r=%r is not a finite number" % (k, v))
        series_seen[(pid, name)].update(args)

    # metadata: one process_name per process, one thread_name per thread
    names = collections.Counter((e["pid"], e.get("tid")) if e["name"] == "thread_name"
                                else (e["pid"],) for e in events
                                if e["ph"] == "M" and e["name"] in ("process_name",
                                                                    "thread_name"))
    for key, n in names.items():
        if n > 1:
            fail("%s: %d names for %s %s" % (label, n, "thread" if len(key) == 2 else
                                             "process", key))
    return events  # the fields hold: the checks against the report can run


def integrate_flops(events):
    """FLOP/s integrated per pid as a viewer draws it; returns {pid: (flop, unended)}."""
    samples = collections.defaultdict(list)  # (pid, series) -> [(ts, index, value)]
    for i, e in enumerate(events):
        if e["ph"] == "C" and e["name"] == "FLOP/s":
            for k, v in e["args"].items():
                samples[(e["pid"], k)].append((e["ts"], i, v))
    out = {}
    for (pid, series), s in samples.items():
        s.sort()
        total = sum(v * (s[j + 1][0] - ts) / 1e6 for j, (ts, _, v) in enumerate(s[:-1]))
        flop, unended = out.get(pid, (0.0, []))
        if s[-1][2] != 0:
            unended = unended + [series]
        out[pid] = (flop + total, unended)
    return out


def check_against_report(events, report, label):
    ranks = {t["rank"]: t["flop"] for t in report["traces"]}
    if len(ranks) != len(report["traces"]):
        fail("%s: the report lists a rank twice" % label)
    procs = {e["pid"] for e in events if e["ph"] == "M" and e["name"] == "process_name"}
    if procs != set(ranks):
        fail("%s: processes %s, ranks %s: not one process per rank" %
             (label, sorted(procs), sorted(ranks)))
    stray = {e["pid"] for e in events} - procs
    if stray:
        fail("%s: events of processes without a name: %s" % (label, sorted(stray)))
    flops = integrate_flops(events)
    for rank, want in sorted(ranks.items()):
        got, unended = flops.get(rank, (0.0, []))
        if unended:
            fail("%s: rank %d: FLOP/s series %s do not end at 0" % (label, rank, unended))
        rel = abs(got - want) / want if want else abs(got)
        if not rel <= REL_TOL:
            fail("%s: rank %d: FLOP/s integrates to %.17g, the report says %.17g (relative "
                 "difference %.3g)" % (label, rank, got, want, rel))
        else:
            print("ok: %s: rank %d: FLOP/s integrates to the report's %.6g FLOP (relative "
                  "difference %.1g)" % (label, rank, want, rel))


def without_ids(events):
    """The events with the trace-local signature ids of measured kernels left out."""
    out = []
    for e in events:
        if e.get("cat") == KERNEL_CAT and "signature" in e.get("args", {}):
            e = dict(e, args={k: v for k, v in e["args"].items() if k != "signature"})
        out.append(e)
    return out


def trace_processor():
    tp = os.environ.get("FLOPMETER_TRACE_PROCESSOR") or shutil.which("trace_processor_shell")
    return tp if tp and os.access(tp, os.X_OK) else None


def load_in_trace_processor(tp, path, workdir, label):
    query = os.path.join(workdir, "tp-query.sql")
    with open(query, "w") as f:
        f.write("select count(*) as n from process where pid is not null;\n"
                "select count(*) as n from counter;\n")
    r = subprocess.run([tp, "--query-file", query, path], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=300)
    if r.returncode != 0:
        fail("%s: trace_processor_shell could not load it:\n%s" % (label, r.stderr[-2000:]))
    else:
        print("ok: %s: loaded by trace_processor_shell:\n%s" % (label, r.stdout.strip()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--flopmeter", required=True, help="the built flopmeter command")
    ap.add_argument("--workdir", help="keep the files here (default: a temporary directory)")
    args = ap.parse_args()
    fm = os.path.abspath(args.flopmeter)
    if args.workdir:
        os.makedirs(args.workdir, exist_ok=True)
        work = os.path.abspath(args.workdir)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="flopmeter-perfetto-")
        work = tmp.name
    job = os.path.join(work, "job")
    if os.path.isdir(job):
        shutil.rmtree(job)
    for name in ("merged.fmtrace",):
        if os.path.exists(os.path.join(work, name)):
            os.remove(os.path.join(work, name))
    run([fm, "synth", "--quiet", "--all-ranks", "--world-size", "4", "--steps", "80",
         "--signatures", "50", "--launches-per-step", "120", "--out", job])
    merged = os.path.join(work, "merged.fmtrace")
    run([fm, "merge", merged, job])
    report = json.loads(run([fm, "report", "--json", job]))
    report_merged = json.loads(run([fm, "report", "--json", merged]))

    def export(out, *extra):
        run([fm, "export", "--perfetto", os.path.join(work, out)] + list(extra))
        return os.path.join(work, out)

    full = export("job.json", job)
    lean = export("job-no-kernels.json", "--no-kernels", job)
    mjson = export("merged.json", merged)

    ev_full = validate(load_json(full), "ranks")
    ev_lean = validate(load_json(lean), "ranks --no-kernels")
    ev_merged = validate(load_json(mjson), "merged")

    if ev_full is not None:
        check_against_report(ev_full, report, "ranks")
        kernels = [e for e in ev_full if e["ph"] in "be"]
        if not kernels or any(e.get("cat") != KERNEL_CAT for e in kernels):
            fail("ranks: expected measured-kernel b/e events (and only those as async)")
        print("ok: ranks: %d events, %d of them measured-kernel b/e" %
              (len(ev_full), len(kernels)))
    if ev_lean is not None:
        check_against_report(ev_lean, report, "ranks --no-kernels")
        if any(e["ph"] in "ben" or e.get("cat") == KERNEL_CAT for e in ev_lean):
            fail("--no-kernels: measured-kernel events remain")
        if ev_full is not None:
            # the same events but the kernels (and the GPU tracks that only hold them)
            rest = [e for e in ev_full if e["ph"] not in "be" and not (
                e["ph"] == "M" and e["name"] == "thread_name" and
                e["args"]["name"].endswith("measured kernels"))]
            if rest != ev_lean:
                fail("--no-kernels removed more than the measured kernels")
            else:
                print("ok: --no-kernels: %d events, the kernels' b/e gone, the rest "
                      "unchanged" % len(ev_lean))
    if ev_merged is not None:
        check_against_report(ev_merged, report_merged, "merged")
        if ev_full is not None:
            # the same events; only the signature ids in the kernels' args are renumbered
            diff = [i for i, (x, y) in enumerate(zip(without_ids(ev_full),
                                                     without_ids(ev_merged))) if x != y]
            if len(ev_full) != len(ev_merged) or diff:
                at = diff[0] if diff else min(len(ev_full), len(ev_merged))
                fail("merged: its timeline differs from its inputs' (%d against %d events; "
                     "first difference at event %d: %s against %s)" %
                     (len(ev_merged), len(ev_full), at,
                      json.dumps(ev_merged[at] if at < len(ev_merged) else None)[:300],
                      json.dumps(ev_full[at] if at < len(ev_full) else None)[:300]))
            else:
                print("ok: merged: the same %d events as its inputs" % len(ev_merged))

    tp = trace_processor()
    if tp:
        for path, label in ((full, "ranks"), (lean, "ranks --no-kernels"), (mjson, "merged")):
            load_in_trace_processor(tp, path, work, label)
    else:
        print("NOT RUN: Perfetto's trace_processor_shell is not available (set "
              "FLOPMETER_TRACE_PROCESSOR to its path to load the timelines with it)")

    if ERRORS:
        print("%d check(s) failed; files in %s" % (len(ERRORS), work))
        return 1
    print("PASSED: the Perfetto timelines are valid trace-event JSON and agree with the report")
    return 0


if __name__ == "__main__":
    sys.exit(main())
