"""flopmeter.load_report: the JSON report (docs/report-schema.md) as Python objects.

A report is either a file written by `flopmeter report --json > report.json`, or made here
from traces by running that command. Either way the schema is checked first, as the schema
document asks of every consumer: a report of another major version is refused rather than
misread."""
import json
import os
import subprocess

from ._find import find_command

SCHEMA = "flopmeter-report/1"


class ReportError(Exception):
    """The report could not be read or made; the message says why in one line."""


def _check_schema(doc, source):
    schema = doc.get("schema") if isinstance(doc, dict) else None
    if schema != SCHEMA:
        raise ReportError("%s: not a flopmeter report of schema %s (schema %r)" %
                          (source, SCHEMA, schema))
    return doc


def _is_json_file(path):
    if not os.path.isfile(path):
        return False
    with open(path, "rb") as f:
        head = f.read(64).lstrip()
    return head.startswith(b"{")


def _run_report(paths, args, command):
    if command is None:
        found = find_command()
        if not found:
            raise ReportError(found.problem)
        command = found.path
    argv = [command, "report", "--json"] + list(args) + ["--"] + list(paths)
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ReportError(err[-1] if err else "flopmeter report exited with status %d" %
                          proc.returncode)
    return json.loads(proc.stdout.decode("utf-8"))


def load_report(path, *more, args=(), command=None):
    """The report as dicts, lists, strings and numbers (None where the JSON has null).

        report = flopmeter.load_report("report.json")            # a saved JSON report
        report = flopmeter.load_report("flopmeter-traces/RUN")    # traces: runs the report
        report["executed"]["flop"]["value"], report["facts"]["model.parameters"]["value"]

    path (and more): a JSON report, or traces and directories of traces, which are given to
    `flopmeter report --json` with the options in args (["--allow-incomplete"], ...).
    command: the flopmeter command to use, else the one the package finds."""
    paths = [os.fspath(p) for p in (path,) + more]
    if len(paths) == 1 and _is_json_file(paths[0]):
        if args:
            raise ReportError("%s: a saved report; args apply to traces only" % paths[0])
        try:
            with open(paths[0], "r", encoding="utf-8") as f:
                doc = json.load(f)
        except ValueError as e:
            raise ReportError("%s: not valid JSON (%s)" % (paths[0], e))
        return _check_schema(doc, paths[0])
    for p in paths:
        if not os.path.exists(p):
            raise ReportError("%s: no such file or directory" % p)
    return _check_schema(_run_report(paths, args, command), " ".join(paths))
