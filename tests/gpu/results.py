#!/usr/bin/env python3
"""The result rows of the GPU checks, and the JSON and table made from them.

    results.py add --rows ROWS.jsonl --name NAME --status pass|fail|skipped|info
                   --expected TEXT --measured TEXT [--detail TEXT] [--seconds S]
    results.py finish --rows ROWS.jsonl --env ENV.tsv --out gpu_checks.json

run_gpu_checks.sh and check_trace_counts.py append one JSON line per check to ROWS, so a run
cut short still leaves every row written so far. `finish` adds the environment (ENV: one
"key<TAB>value" line each), writes the JSON document, prints the table, and exits 1 when
any check failed, else 0. `info` rows are facts worth keeping (timings, unexpected kernel
names) that pass or fail nothing.
"""
import argparse
import json
import os
import sys

STATUSES = ("pass", "fail", "skipped", "info")
SCHEMA = "flopmeter-gpu-checks/1"


def add_row(rows_path, name, status, expected, measured, detail=None, seconds=None):
    """Appends one check result; status is one of STATUSES."""
    if status not in STATUSES:
        raise ValueError("status %r is not one of %s" % (status, ", ".join(STATUSES)))
    row = {"check": name, "status": status, "expected": str(expected), "measured": str(measured)}
    if detail:
        row["detail"] = detail
    if seconds is not None:
        row["seconds"] = seconds
    with open(rows_path, "a", encoding="utf-8") as f:
        f.write(json.dumps(row, sort_keys=False) + "\n")


def read_rows(rows_path):
    rows = []
    if not os.path.exists(rows_path):
        return rows
    with open(rows_path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rows.append(json.loads(line))
            except ValueError:
                # a row torn by a killed writer: kept visible as a failure, not dropped
                rows.append({"check": "results.row%d" % n, "status": "fail",
                             "expected": "a JSON row", "measured": line[:80]})
    return rows


def read_env(env_path):
    env = {}
    if env_path and os.path.exists(env_path):
        with open(env_path, encoding="utf-8") as f:
            for line in f:
                key, _, value = line.rstrip("\n").partition("\t")
                if key:
                    env[key] = value
    return env


def clip(text, width):
    text = str(text)
    return text if len(text) <= width else text[: width - 1] + "~"


def table(rows):
    """The summary table as text: check, expected, measured, result."""
    head = ("check", "expected", "measured", "result")
    cells = [(clip(r["check"], 44), clip(r["expected"], 34), clip(r["measured"], 34),
              r["status"].upper() if r["status"] != "info" else "info") for r in rows]
    widths = [max([len(head[i])] + [len(c[i]) for c in cells]) for i in range(4)]
    lines = ["  ".join(h.ljust(widths[i]) for i, h in enumerate(head)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c[i].ljust(widths[i]) for i in range(4)).rstrip() for c in cells]
    return "\n".join(lines)


def finish(rows_path, env_path, out_path):
    rows = read_rows(rows_path)
    summary = {s: sum(1 for r in rows if r["status"] == s) for s in STATUSES}
    doc = {"schema": SCHEMA, "environment": read_env(env_path), "summary": summary,
           "checks": rows}
    tmp = out_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    os.replace(tmp, out_path)
    print(table(rows))
    print("\n%d passed, %d failed, %d skipped, %d info; results in %s" % (
        summary["pass"], summary["fail"], summary["skipped"], summary["info"], out_path))
    return 1 if summary["fail"] else 0


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="verb", required=True)
    a = sub.add_parser("add", help="append one result row")
    a.add_argument("--rows", required=True)
    a.add_argument("--name", required=True)
    a.add_argument("--status", required=True, choices=STATUSES)
    a.add_argument("--expected", default="")
    a.add_argument("--measured", default="")
    a.add_argument("--detail", default="")
    a.add_argument("--seconds", type=float)
    f = sub.add_parser("finish", help="write the JSON document and print the table")
    f.add_argument("--rows", required=True)
    f.add_argument("--env")
    f.add_argument("--out", required=True)
    args = p.parse_args(argv)
    if args.verb == "add":
        add_row(args.rows, args.name, args.status, args.expected, args.measured,
                args.detail or None, args.seconds)
        return 0
    return finish(args.rows, args.env, args.out)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
