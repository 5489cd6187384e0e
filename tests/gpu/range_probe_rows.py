#!/usr/bin/env python3
"""The result rows of range_profiler_probe, and its findings as one JSON document.

    range_probe_rows.py rows --stdout FILE --rc RC --rows ROWS.jsonl --json OUT.json
                             [--stderr FILE]
    range_probe_rows.py self-test

The probe (range_profiler_probe.cu) prints one "PROBE {json}" line per finding and a final
"PROBE_END {json}". `rows` appends to ROWS (results.py's format):

- range_probe.run: info when the probe ran to its end (exit 0, or 1 with its setup failure
  reported), fail when it crashed, was stopped (its watchdog, the step's time limit) or found
  no GPU;
- range_probe.FINDING: one info row per finding, with the finding's own expected and measured
  texts, the rest of it in the detail;
- range_probe.a.check: pass, fail or skipped, as the probe's verdict says (FFMA count of a
  per-launch measurement equal to the analytic count; skipped where the machine does not let
  the counters be read); fail when the probe printed no verdict.

and writes every finding, unchanged, to OUT.json (schema flopmeter-range-probe/1). Exit 0 when
the rows were written, whatever they say.
"""
import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import results  # noqa: E402  (next to this file)

SCHEMA = "flopmeter-range-probe/1"
PREFIX = "range_probe."
DETAIL_MAX = 4000


def parse(text):
    """(findings, end, unparsed lines) of the probe's stdout."""
    findings, end, unparsed = [], None, []
    for line in text.splitlines():
        for tag in ("PROBE ", "PROBE_END "):
            if line.startswith(tag):
                try:
                    obj = json.loads(line[len(tag):])
                    if not isinstance(obj, dict):
                        raise ValueError("not an object")
                except ValueError:
                    unparsed.append(line[:300])
                    break
                if tag == "PROBE ":
                    findings.append(obj)
                else:
                    end = obj
                break
    return findings, end, unparsed


def make_rows(findings, end, unparsed, rc, stderr_tail=""):
    """The rows (name, status, expected, measured, detail) for one run of the probe."""
    rows = []
    ran_to_end = end is not None and end.get("status") in ("ok", "errors", "setup_failed")
    if rc == 2 and not findings:
        run_status, measured = "fail", "exit 2: no GPU"
    elif ran_to_end and rc in (0, 1):
        run_status = "info"
        measured = "exit %d, %s, %s findings, %s s" % (
            rc, end.get("status"), end.get("findings", len(findings)), end.get("seconds", "?"))
    elif end is not None and end.get("status") == "watchdog":
        run_status = "fail"
        measured = "stopped by its watchdog in %s" % end.get("in", "?")
    elif end is not None and end.get("status") == "crashed":
        run_status = "fail"
        measured = "crashed (signal %s) in %s" % (end.get("signal", "?"), end.get("in", "?"))
    else:
        run_status = "fail"
        measured = "exit %s without its last line (crashed or stopped)" % rc
    detail = stderr_tail.strip()
    if unparsed:
        detail = ("%d unreadable PROBE lines; " % len(unparsed)) + detail
    rows.append((PREFIX + "run", run_status, "runs to its end", measured, detail))

    verdict_seen = False
    for f in findings:
        name = str(f.get("finding", "unnamed"))
        status = "info"
        if name == "a.check":
            verdict_seen = True
            status = f.get("verdict", "fail")
            if status not in ("pass", "fail", "skipped"):
                status = "fail"
        rest = {k: v for k, v in f.items() if k not in ("finding", "expected", "measured")}
        text = json.dumps(rest, separators=(",", ":"))
        if len(text) > DETAIL_MAX:
            text = text[: DETAIL_MAX - 1] + "~"
        rows.append((PREFIX + name, status, f.get("expected", ""), f.get("measured", ""), text))
    if not verdict_seen:
        rows.append((PREFIX + "a.check", "fail", "FFMA per launch as analytic",
                     "no verdict (the probe did not get that far)", ""))
    return rows


def document(findings, end, unparsed, rc):
    return {"schema": SCHEMA, "rc": rc, "findings": findings, "end": end,
            "unparsed_lines": unparsed}


def cmd_rows(args):
    try:
        with open(args.stdout, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        text = ""
    tail = ""
    if args.stderr:
        try:
            with open(args.stderr, encoding="utf-8", errors="replace") as f:
                tail = " ".join(f.read().splitlines()[-3:])[:300]
        except OSError:
            pass
    findings, end, unparsed = parse(text)
    for name, status, expected, measured, detail in make_rows(findings, end, unparsed, args.rc,
                                                              tail):
        results.add_row(args.rows, name, status, expected, measured, detail or None)
        print("%-7s %s: expected %s, measured %s" % (status.upper(), name, expected, measured))
    if args.json:
        tmp = args.json + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(document(findings, end, unparsed, args.rc), f, indent=2)
            f.write("\n")
        os.replace(tmp, args.json)
    return 0


# ---- self-test ---------------------------------------------------------------------------

def _probe(**kw):
    return "PROBE " + json.dumps(kw)


FULL_RUN = "\n".join([
    _probe(finding="setup", status="ok", expected="range profiler enabled",
           measured="NVIDIA H100 (GH100), passes: sass 1, hw 1, multi 3"),
    _probe(finding="a.1_sass", status="ok", expected="1 range, ffma 25900780",
           measured="1 range(s), ffma 25900780", values=[{"ffma": 25900780}]),
    "some other line the program printed",
    _probe(finding="a.check", status="ok", verdict="pass", expected="25900780 FFMA",
           measured="25900780, 25900780 (ranges 1, 1)"),
    _probe(finding="c.1_auto_kernel_1", status="error", expected="3 ranges",
           measured="cudaGraphLaunch: cudaErrorNotSupported",
           error={"call": "cudaGraphLaunch", "code": 801}),
    'PROBE {"finding": "broken", ',
    'PROBE_END {"status": "errors", "findings": 4, "findings_with_errors": 1, "seconds": 12.5}',
])

NO_COUNTERS = "\n".join([
    _probe(finding="setup", status="error", expected="range profiler enabled",
           measured="cuptiRangeProfilerEnable: CUPTI_ERROR_INSUFFICIENT_PRIVILEGES",
           counters_unavailable=True),
    _probe(finding="a.check", status="error", verdict="skipped", expected="25900780 FFMA",
           measured="not measured: cuptiRangeProfilerEnable: "
                    "CUPTI_ERROR_INSUFFICIENT_PRIVILEGES"),
    'PROBE_END {"status": "setup_failed", "findings": 2, "seconds": 1.2}',
])

CRASHED = _probe(finding="setup", status="ok", expected="x", measured="y")

WATCHDOG = "\n".join([
    _probe(finding="setup", status="ok", expected="x", measured="y"),
    _probe(finding="a.check", status="ok", verdict="fail", expected="25900780 FFMA",
           measured="25900781, 25900780"),
    'PROBE_END {"status": "watchdog", "signal": 14, "in": "d.3_race"}',
])

SEGFAULT = "\n".join([
    _probe(finding="setup", status="ok", expected="x", measured="y"),
    'PROBE_END {"status": "crashed", "signal": 11, "in": "c.2_auto_kernel_8"}',
])


def self_test():
    failures = []

    def check(what, cond):
        if not cond:
            failures.append(what)

    def rows_of(text, rc):
        f, e, u = parse(text)
        return {r[0]: r for r in make_rows(f, e, u, rc)}, f, e, u

    r, f, e, u = rows_of(FULL_RUN, 0)
    check("full: findings parsed", len(f) == 4 and e["status"] == "errors" and len(u) == 1)
    check("full: run is info", r["range_probe.run"][1] == "info")
    check("full: unreadable line said", "1 unreadable" in r["range_probe.run"][4])
    check("full: a.check pass", r["range_probe.a.check"][1] == "pass")
    check("full: finding rows info", r["range_probe.a.1_sass"][1] == "info" and
          r["range_probe.c.1_auto_kernel_1"][1] == "info")
    check("full: expected/measured copied",
          r["range_probe.a.1_sass"][2] == "1 range, ffma 25900780" and
          r["range_probe.c.1_auto_kernel_1"][3].startswith("cudaGraphLaunch"))
    check("full: detail is the rest",
          json.loads(r["range_probe.c.1_auto_kernel_1"][4])["error"]["code"] == 801)

    r, _, _, _ = rows_of(NO_COUNTERS, 1)
    check("no counters: run info", r["range_probe.run"][1] == "info")
    check("no counters: a.check skipped", r["range_probe.a.check"][1] == "skipped")

    r, _, _, _ = rows_of(CRASHED, 139)
    check("crashed: run fails", r["range_probe.run"][1] == "fail")
    check("crashed: a.check fails without a verdict", r["range_probe.a.check"][1] == "fail")

    r, _, _, _ = rows_of(WATCHDOG, 3)
    check("watchdog: run fails", r["range_probe.run"][1] == "fail" and
          "d.3_race" in r["range_probe.run"][3])
    check("watchdog: verdict kept", r["range_probe.a.check"][1] == "fail")

    r, _, _, _ = rows_of(SEGFAULT, 4)
    check("crash: run fails, names the finding", r["range_probe.run"][1] == "fail" and
          "signal 11" in r["range_probe.run"][3] and "c.2_auto" in r["range_probe.run"][3])

    r, _, _, _ = rows_of("", 2)
    check("no GPU: run fails", r["range_probe.run"][1] == "fail" and
          "no GPU" in r["range_probe.run"][3])
    check("no GPU: a.check fails", r["range_probe.a.check"][1] == "fail")

    long_text = _probe(finding="b.1_sass", status="ok", expected="e", measured="m",
                       blob="x" * 10000)
    r, _, _, _ = rows_of(long_text, 0)
    check("detail clipped", len(r["range_probe.b.1_sass"][4]) == DETAIL_MAX)

    # the command itself, through results.py's rows and the JSON document
    with tempfile.TemporaryDirectory() as d:
        out, rows, doc = (os.path.join(d, n) for n in ("stdout", "rows.jsonl", "probe.json"))
        with open(out, "w", encoding="utf-8") as fh:
            fh.write(FULL_RUN + "\n")
        ns = argparse.Namespace(stdout=out, stderr=None, rc=0, rows=rows, json=doc)
        cmd_rows(ns)
        written = results.read_rows(rows)
        check("command: rows written", len(written) == 5 and
              all(w["check"].startswith(PREFIX) for w in written))
        with open(doc, encoding="utf-8") as fh:
            j = json.load(fh)
        check("command: document", j["schema"] == SCHEMA and len(j["findings"]) == 4 and
              j["end"]["findings"] == 4)

    for what in failures:
        print("FAIL " + what)
    print("range_probe_rows self-test: %d failure(s)" % len(failures))
    return 1 if failures else 0


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="verb", required=True)
    r = sub.add_parser("rows", help="append the probe's rows and write its findings")
    r.add_argument("--stdout", required=True, help="the probe's stdout")
    r.add_argument("--stderr", help="the probe's stderr (its last lines go in the run row)")
    r.add_argument("--rc", required=True, type=int, help="the probe's exit status")
    r.add_argument("--rows", required=True)
    r.add_argument("--json", help="write every finding here")
    sub.add_parser("self-test", help="check the parsing and the rows on synthetic output")
    args = p.parse_args(argv)
    if args.verb == "self-test":
        return self_test()
    return cmd_rows(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
