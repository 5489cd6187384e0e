#!/usr/bin/env python3
"""Compares what libflopmeter.so wrote with what a test program knows it did.

    check_trace_counts.py known --flopmeter BIN (--traces DIR | --dumps JSON...) --stdout FILE
                          [--baseline-stdout FILE] [--rc N] [--baseline-rc N] [--args-off]
                          [--device-name NAME] [--per-kernel] [--prefix P] [--rows ROWS.jsonl]
                          [--summary-out FILE]
    check_trace_counts.py torch --flopmeter BIN (--traces DIR | --dumps JSON...) --stdout FILE
                          --baseline-stdout FILE [--rc N] [--baseline-rc N]
                          [--args0-traces DIR] [--args0-rc N] [--device-name NAME] [--prefix P]
                          [--rows ROWS.jsonl] [--summary-out FILE]
    check_trace_counts.py self-test --flopmeter BIN

`known`: the stdout of known_launches ends with "EXPECTED <json>", the launches and distinct
signatures it made per kernel name. The trace's launches per name are the sums of the
AGGREGATE records' launches per KERNEL_SIGNATURE, joined to the signature's name (a STRING
record). A name is matched to an expected kernel by its function name (parsed from a mangled
or a demangled name), or else by the expected name occurring in it. Also checked: the exit
status and the CHECKSUM lines equal those of the run without the hook, the traces verify,
a DEVICE record names the GPU, no DEGRADATION record.

`torch`: torch_train_loop.py's loss lines equal those of the run without the hook (bit for
bit: they are printed as hexadecimal floats), the trace verifies and has signatures,
launches and a DEVICE record, the phases pushed through the C API and through NVTX have
launches, a run with FLOPMETER_ARGS=0 counts the same launches, and one copy of libcupti
was loaded.

Traces are read with `flopmeter verify --json` and `flopmeter dump --json` (--traces: every
*.fmtrace below DIR), or from saved `flopmeter dump --json` documents (--dumps; the verify
check is then skipped). One result row per check goes to ROWS (results.py) and to stdout;
exit status 0 when every check passed, 1 when one failed, 2 on a usage error.

`self-test` runs the parsing and matching on traces written by `flopmeter synth`, and on
cases built here, without a GPU.
"""
import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import results  # noqa: E402  (next to this file)


# ---- kernel names ---------------------------------------------------------------------------

def _mangled_base(name):
    """The function's own identifier in an Itanium-mangled name, or None."""
    m = re.match(r"_Z(L?)", name)
    if not m:
        return None
    i = m.end()

    def ident(i):
        d = re.match(r"\d+", name[i:])
        if not d:
            return None, i
        n = int(d.group())
        start = i + len(d.group())
        if start + n > len(name):
            return None, i
        return name[start:start + n], start + n

    if name.startswith("N", i):
        i += 1
        while i < len(name) and name[i] in "rVKRO":  # cv- and ref-qualifiers of a method
            i += 1
        last = None
        while i < len(name) and name[i] not in "EI":
            if name.startswith("St", i):
                i += 2
                continue
            part, j = ident(i)
            if part is None:
                break
            last, i = part, j
        return last
    part, _ = ident(i)
    return part


def _demangled_base(name):
    """The function's own identifier in a demangled name: `void ns::f<T>(int)` gives f."""
    text = name.replace("(anonymous namespace)", "anonymous_namespace")
    depth, cut = 0, len(text)
    for i, c in enumerate(text):
        if c == "<":
            depth += 1
        elif c == ">" and depth > 0:
            depth -= 1
        elif c == "(" and depth == 0:
            cut = i
            break
    head = text[:cut]
    # drop template arguments at the outermost level: what remains is [ret ]scope::name
    out, depth = [], 0
    for c in head:
        if c == "<":
            depth += 1
        elif c == ">" and depth > 0:
            depth -= 1
        elif depth == 0:
            out.append(c)
    head = "".join(out).strip()
    if not head:
        return None
    return head.split()[-1].split("::")[-1] or None


def function_name(name):
    """The bare function name of a kernel name as the driver or CUPTI reports it."""
    return _mangled_base(name) or _demangled_base(name) or name


def match_kernel(name, expected_names):
    """The expected kernel a trace's kernel name stands for: (key, None), (None, None) for a
    kernel the program did not declare, or (None, [keys]) when several could match."""
    base = function_name(name)
    if base in expected_names:
        return base, None
    hits = sorted(k for k in expected_names if k in name)
    if len(hits) == 1:
        return hits[0], None
    if len(hits) > 1:
        return None, hits
    return None, None


# ---- traces ---------------------------------------------------------------------------------

class Trace:
    """What the checks need from one trace's `flopmeter dump --json` document."""

    def __init__(self, dump, path, verify=None):
        self.path = path
        self.verify = verify  # the trace's `flopmeter verify --json` entry, or None
        strings = {}
        self.signatures = {}   # id -> signature record, with "name_text"
        self.sig_launches = {}  # id -> launches
        self.phases = {}        # id -> (name, category)
        self.phase_launches = {}  # phase id -> launches
        self.devices = []
        self.degradations = []
        self.final = None
        self.run_meta = None
        for r in dump.get("records", []):
            kind = r.get("record")
            if kind == "string":
                strings[r["id"]] = r["text"]
            elif kind == "kernel_signature":
                s = dict(r)
                s["name_text"] = strings.get(r["name"], "")
                self.signatures[r["id"]] = s
            elif kind == "aggregate":
                self.sig_launches[r["signature"]] = (self.sig_launches.get(r["signature"], 0) +
                                                     r["launches"])
                self.phase_launches[r["phase"]] = (self.phase_launches.get(r["phase"], 0) +
                                                   r["launches"])
            elif kind == "phase_def":
                self.phases[r["id"]] = (strings.get(r["name"], ""), r.get("category"))
            elif kind == "device":
                self.devices.append(r)
            elif kind == "degradation":
                self.degradations.append(r.get("message", ""))
            elif kind == "final":
                self.final = r
            elif kind == "run_meta" and self.run_meta is None:
                self.run_meta = r
        self.end = dump.get("end", {})

    @property
    def launches(self):
        return sum(self.sig_launches.values())


def find_traces(directory):
    return sorted(glob.glob(os.path.join(directory, "**", "*.fmtrace"), recursive=True))


def find_flopmeter():
    """flopmeter from this checkout's newest build folder, else on PATH, else None."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    found = []
    for d in os.listdir(root):
        f = os.path.join(root, d, "postprocessor", "flopmeter")
        if d.startswith("build") and os.access(f, os.X_OK):
            found.append((os.path.getmtime(f), f))
    if found:
        return max(found)[1]
    return shutil.which("flopmeter")


def run_json(cmd):
    """Runs a flopmeter verb that prints JSON; (document or None, error text)."""
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, str(e)
    try:
        return json.loads(p.stdout), p.stderr.strip()
    except ValueError:
        return None, ("exit %d: %s" % (p.returncode, p.stderr.strip()))[:300]


def load_traces(flopmeter, traces_dir=None, dumps=None, cls=None):
    """cls (default Trace) objects made from each trace's dump and verification, and a list of
    problems reading them."""
    cls = cls or Trace
    out, problems = [], []
    if dumps:
        for path in dumps:
            with open(path, encoding="utf-8") as f:
                out.append(cls(json.load(f), path))
        return out, problems
    for path in find_traces(traces_dir or ""):
        dump, err = run_json([flopmeter, "dump", "--json", path])
        if dump is None:
            problems.append("%s: dump failed: %s" % (os.path.basename(path), err))
            continue
        ver, err = run_json([flopmeter, "verify", "--json", path])
        entry = ver[0] if isinstance(ver, list) and ver else {"intact": False, "error": err}
        out.append(cls(dump, path, entry))
    return out, problems


# ---- program output -------------------------------------------------------------------------

def read_text(path):
    if not path or not os.path.exists(path):
        return None
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def lines_with(text, prefixes):
    return [ln for ln in (text or "").splitlines() if ln.startswith(prefixes)]


def expected_of(stdout):
    """The EXPECTED document known_launches printed last, or None."""
    found = lines_with(stdout, ("EXPECTED ",))
    if not found:
        return None
    try:
        return json.loads(found[-1][len("EXPECTED "):])
    except ValueError:
        return None


# ---- checks ---------------------------------------------------------------------------------

class Checks:
    """Collects result rows: printed, appended to ROWS, and counted for the exit status."""

    def __init__(self, prefix, rows_path=None, quiet=False):
        self.prefix, self.rows_path, self.quiet = prefix, rows_path, quiet
        self.rows = []

    def add(self, name, ok, expected, measured, detail=None):
        status = ok if isinstance(ok, str) else ("pass" if ok else "fail")
        full = "%s.%s" % (self.prefix, name) if self.prefix else name
        row = {"check": full, "status": status, "expected": str(expected),
               "measured": str(measured)}
        if detail:
            row["detail"] = detail
        self.rows.append(row)
        if self.rows_path:
            results.add_row(self.rows_path, full, status, expected, measured, detail)
        if not self.quiet:
            print("%-7s %s: expected %s, measured %s%s" % (
                status.upper(), full, expected, measured, " (%s)" % detail if detail else ""))

    @property
    def failed(self):
        return any(r["status"] == "fail" for r in self.rows)


def write_checks_json(path, doc, c):
    """Writes doc with the rows of Checks c to path (nothing without a path), atomically;
    sets are written as sorted lists."""
    if not path:
        return
    doc = dict(doc, rows=c.rows)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1, default=sorted)
        f.write("\n")
    os.replace(tmp, path)


def check_exit(c, rc, baseline_rc):
    if rc is None:
        return
    exp = "0" if baseline_rc is None else "0, as without hook (%s)" % baseline_rc
    c.add("exit_code", rc == 0 and (baseline_rc is None or rc == baseline_rc), exp, rc)


def check_same_lines(c, name, what, stdout, baseline, prefixes):
    """The lines starting with prefixes are the same with and without the hook."""
    mine, theirs = lines_with(stdout, prefixes), lines_with(baseline, prefixes)
    if baseline is None:
        c.add(name, "skipped", "same %s as without hook" % what, "no baseline output")
        return
    if not theirs:
        c.add(name, False, "same %s as without hook" % what,
              "baseline printed none", "the run without the hook failed")
        return
    differ = [i for i, (a, b) in enumerate(zip(mine, theirs)) if a != b]
    ok = len(mine) == len(theirs) and not differ
    detail = None
    if not ok:
        detail = "first difference: %r vs %r" % (
            (mine[differ[0]], theirs[differ[0]]) if differ else
            ("%d lines" % len(mine), "%d lines" % len(theirs)))
    c.add(name, ok, "%d %s lines identical" % (len(theirs), what),
          "identical" if ok else "%d lines, %d differ" % (len(mine), len(differ)), detail)


def check_traces_present(c, traces, problems, exactly_one):
    exp = "1 trace" if exactly_one else ">= 1 trace"
    n = len(traces)
    c.add("traces", (n == 1 if exactly_one else n >= 1) and not problems, exp, n,
          "; ".join(problems) or None)
    return n > 0


def check_verify(c, traces):
    if any(t.verify is None for t in traces):
        c.add("verify", "skipped", "intact and complete", "read from saved dumps")
        return
    bad = ["%s: %s" % (os.path.basename(t.path), t.verify.get("error") or
                       ("incomplete" if t.verify.get("intact") else "damaged"))
           for t in traces if not (t.verify.get("intact") and t.verify.get("complete"))]
    exits = sorted({t.verify.get("exit_reason", "?") for t in traces})
    c.add("verify", not bad, "intact, complete, normal exit",
          "ok (%s)" % ",".join(exits) if not bad else "%d bad" % len(bad),
          "; ".join(bad) or None)


def check_device(c, traces, device_name):
    names = sorted({d.get("name", "") for t in traces for d in t.devices})
    if device_name:
        ok = device_name in names
        exp = device_name
    else:
        ok = bool(names)
        exp = "a DEVICE record"
    c.add("device_record", ok, exp, ", ".join(names) or "none")


def check_degradations(c, traces):
    msgs = [m for t in traces for m in t.degradations]
    c.add("degradations", not msgs, 0, len(msgs), "; ".join(msgs)[:400] or None)


def count_by_kernel(traces, expected_names):
    """Launches and signatures per expected kernel, unexpected names, ambiguous names."""
    launches = {k: 0 for k in expected_names}
    sigs = {k: 0 for k in expected_names}
    unexpected, ambiguous = {}, {}
    for t in traces:
        for sid, s in t.signatures.items():
            n = t.sig_launches.get(sid, 0)
            key, several = match_kernel(s["name_text"], expected_names)
            if key is not None:
                launches[key] += n
                sigs[key] += 1
            elif several:
                ambiguous[s["name_text"]] = several
            else:
                unexpected[s["name_text"]] = unexpected.get(s["name_text"], 0) + n
    return launches, sigs, unexpected, ambiguous


def run_known(args):
    c = Checks(args.prefix, args.rows, getattr(args, "quiet", False))
    stdout, baseline = read_text(args.stdout), read_text(args.baseline_stdout)
    check_exit(c, args.rc, args.baseline_rc)
    check_same_lines(c, "checksums", "CHECKSUM/EXPECTED", stdout, baseline, ("CHECKSUM ", "EXPECTED "))
    expected = expected_of(stdout) or expected_of(baseline)
    if expected is None:
        c.add("expected_counts", False, "an EXPECTED line", "none",
              "the program did not finish; nothing to compare")
        return c
    traces, problems = load_traces(args.flopmeter, args.traces, args.dumps)
    if not check_traces_present(c, traces, problems, exactly_one=True):
        return c
    check_verify(c, traces)
    check_device(c, traces, args.device_name)
    check_degradations(c, traces)
    want = expected["launches"]
    want_sigs = expected["signatures_args_off" if args.args_off else "signatures"]
    launches, sigs, unexpected, ambiguous = count_by_kernel(traces, set(want))
    if args.per_kernel:
        for k in sorted(want):
            c.add("launches.%s" % k, launches[k] == want[k], want[k], launches[k])
    else:
        wrong = ["%s %d!=%d" % (k, launches[k], want[k]) for k in sorted(want)
                 if launches[k] != want[k]]
        c.add("launches", not wrong, sum(want.values()), sum(launches.values()),
              ("measured!=expected: " + ", ".join(wrong)) if wrong else None)
    wrong = ["%s %d!=%d" % (k, sigs[k], want_sigs[k]) for k in sorted(want_sigs)
             if sigs[k] != want_sigs[k]]
    c.add("signatures", not wrong, sum(want_sigs.values()), sum(sigs.values()),
          ("measured!=expected: " + ", ".join(wrong)) if wrong else None)
    c.add("ambiguous_names", not ambiguous, 0, len(ambiguous),
          "; ".join("%s -> %s" % (k, v) for k, v in ambiguous.items())[:300] or None)
    # Kernels the program did not launch itself (none are expected; the runtime could add
    # some): kept as a fact, not judged.
    c.add("other_kernels", "info", 0, len(unexpected),
          ", ".join("%s x%d" % (k[:60], v) for k, v in sorted(unexpected.items()))[:300] or None)
    if args.summary_out:
        write_summary(args.summary_out, {
            "expected": expected, "args_off": args.args_off,
            "measured": {"launches": launches, "signatures": sigs},
            "other_kernels": unexpected, "ambiguous": ambiguous,
            "traces": [trace_facts(t) for t in traces]})
    return c


def trace_facts(t):
    return {"file": os.path.basename(t.path), "launches": t.launches,
            "signatures": len(t.signatures),
            "phases": {str(k): {"name": v[0], "category": v[1],
                                "launches": t.phase_launches.get(k, 0)}
                       for k, v in t.phases.items()},
            "outside_phases": t.phase_launches.get(0, 0),
            "devices": [d.get("name") for d in t.devices],
            "degradations": t.degradations,
            "verify": t.verify}


def write_summary(path, doc):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2, sort_keys=True)
        f.write("\n")


def phase_launches(traces, name):
    """(defined, launches) of the phase called name, over all traces."""
    defined, n = False, 0
    for t in traces:
        for pid, (pname, _cat) in t.phases.items():
            if pname == name:
                defined = True
                n += t.phase_launches.get(pid, 0)
    return defined, n


def run_torch(args):
    c = Checks(args.prefix, args.rows, getattr(args, "quiet", False))
    stdout, baseline = read_text(args.stdout), read_text(args.baseline_stdout)
    check_exit(c, args.rc, args.baseline_rc)
    check_same_lines(c, "loss_identical", "LOSS/EVAL", stdout, baseline, ("LOSS ", "EVAL "))
    traces, problems = load_traces(args.flopmeter, args.traces, args.dumps)
    if not check_traces_present(c, traces, problems, exactly_one=False):
        return c
    check_verify(c, traces)
    check_device(c, traces, args.device_name)
    check_degradations(c, traces)
    launches = sum(t.launches for t in traces)
    nsigs = sum(len(t.signatures) for t in traces)
    c.add("launches", launches > 0 and nsigs > 0, "> 0 launches, > 0 signatures",
          "%d launches, %d signatures" % (launches, nsigs))
    api = lines_with(stdout, ("PHASE_API ",))
    if api and api[-1].split()[1:2] == ["available"]:
        defined, n = phase_launches(traces, "pretraining")
        c.add("phase_c_api", defined and n > 0, "phase 'pretraining' with launches",
              "%d launches" % n if defined else "no such phase")
    else:
        c.add("phase_c_api", "skipped", "phase 'pretraining' with launches",
              "flopmeter_phase_push not found in the process")
    defined, n = phase_launches(traces, "evaluation")
    c.add("phase_nvtx", defined and n > 0, "phase 'evaluation' with launches",
          "%d launches" % n if defined else "no such phase")
    maps = lines_with(stdout, ("CUPTI_MAPS ",))
    if maps:
        parts = maps[-1].split(None, 2)
        copies = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else -1
        c.add("cupti_copies", 0 <= copies <= 1, "<= 1 libcupti", copies,
              parts[2] if len(parts) > 2 else None)
    else:
        c.add("cupti_copies", False, "<= 1 libcupti", "not printed")
    args0 = None
    if args.args0_traces:
        t0, p0 = load_traces(args.flopmeter, args.args0_traces)
        l0 = sum(t.launches for t in t0)
        s0 = sum(len(t.signatures) for t in t0)
        ok_run = args.args0_rc in (None, 0) and t0 and not p0
        c.add("args0_launches", bool(ok_run) and l0 == launches,
              "%d (as with FLOPMETER_ARGS=1)" % launches, l0,
              "; ".join(p0) or (None if ok_run else "run exit %s" % args.args0_rc))
        # Without argument bytes, launches can only fall into fewer signatures.
        c.add("args0_signatures", bool(ok_run) and 0 < s0 <= nsigs, "<= %d" % nsigs, s0)
        args0 = {"launches": l0, "signatures": s0, "traces": [trace_facts(t) for t in t0]}
    if args.summary_out:
        write_summary(args.summary_out, {"launches": launches, "signatures": nsigs,
                                         "traces": [trace_facts(t) for t in traces],
                                         "args0": args0})
    return c


# ---- self-test ------------------------------------------------------------------------------

def self_test(flopmeter):
    """Checks the parsing, matching and checks on synth traces and hand-made cases."""
    failures = []

    def expect(what, got, want):
        if got != want:
            failures.append("%s: got %r, want %r" % (what, got, want))

    names = {
        "_Z9fmk_plainPjij": "fmk_plain",
        "_Z8fmk_coopPjS_ij": "fmk_coop",
        "_ZN2at6native13reduce_kernelILi512ELi1EEEvT_": "reduce_kernel",
        "_ZN7cutlass7Kernel2I13GemmUniversalEEvNT_6ParamsE": "Kernel2",
        "_ZL10local_kernPf": "local_kern",
        "fmk_plain(unsigned int*, int, unsigned int)": "fmk_plain",
        "void fmk_threads(unsigned int*, int, unsigned int)": "fmk_threads",
        "void at::native::(anonymous namespace)::multi_tensor_apply_kernel<at::native::"
        "(anonymous namespace)::TensorListMetadata<4>, float>(T1, int)": "multi_tensor_apply_kernel",
        "void at::native::vectorized_elementwise_kernel<4, at::native::GeluCUDAKernelImpl("
        "at::TensorIteratorBase&, at::native::GeluType)::{lambda()#2}::operator()() const::"
        "{lambda()#1}::operator()() const::{lambda(float)#1}, at::detail::Array<char*, 2> >("
        "int, float, at::detail::Array<char*, 2>)": "vectorized_elementwise_kernel",
        "ncclDevKernel_AllReduce_Sum_bf16_RING_LL(ncclDevKernelArgsStorage<4096ul>)":
            "ncclDevKernel_AllReduce_Sum_bf16_RING_LL",
        "sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x256x64_cublas":
            "sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x256x64_cublas",
    }
    for mangled, want in names.items():
        expect("function_name(%s)" % mangled[:40], function_name(mangled), want)
    expect("match exact", match_kernel("_Z9fmk_plainPjij", {"fmk_plain", "fmk_plain_x"}),
           ("fmk_plain", None))
    expect("match substring", match_kernel("weird fmk_graph_a thing", {"fmk_graph_a"}),
           ("fmk_graph_a", None))
    expect("match ambiguous", match_kernel("x_fmk_a_fmk_b", {"fmk_a", "fmk_b"}),
           (None, ["fmk_a", "fmk_b"]))
    expect("match none", match_kernel("_Z5otherv", {"fmk_a"}), (None, None))

    with tempfile.TemporaryDirectory() as tmp:
        # A dump as the hook would write it for a small known_launches: mangled names from
        # the launch path, a demangled one, and the launches split over intervals.
        expected = {"launches": {"fmk_plain": 100, "fmk_sig_scalar": 15, "fmk_graph_a": 20},
                    "signatures": {"fmk_plain": 1, "fmk_sig_scalar": 3, "fmk_graph_a": 1},
                    "signatures_args_off": {"fmk_plain": 1, "fmk_sig_scalar": 1,
                                            "fmk_graph_a": 1}}
        recs = [{"record": "string", "id": 1, "text": "_Z9fmk_plainPjij"},
                {"record": "string", "id": 2,
                 "text": "fmk_sig_scalar(unsigned int*, int, unsigned int)"},
                {"record": "string", "id": 3, "text": "_Z11fmk_graph_aPjij"},
                {"record": "device", "name": "NVIDIA H100 80GB HBM3"}]
        sigs = [(1, 1, [60, 40]), (2, 2, [5]), (3, 2, [5]), (4, 2, [4, 1]), (5, 3, [20])]
        for sid, name, launches in sigs:
            recs.append({"record": "kernel_signature", "id": sid, "name": name})
            recs += [{"record": "aggregate", "signature": sid, "phase": 0, "launches": n}
                     for n in launches]
        fake = os.path.join(tmp, "fake.json")
        with open(fake, "w", encoding="utf-8") as f:
            json.dump({"records": recs}, f)
        out = os.path.join(tmp, "fake.stdout")
        with open(out, "w", encoding="utf-8") as f:
            f.write("CHECKSUM plain 01\nEXPECTED %s\n" % json.dumps(expected))
        fns = argparse.Namespace(
            flopmeter=flopmeter, traces=None, dumps=[fake], stdout=out, baseline_stdout=out,
            rc=0, baseline_rc=0, args_off=False, device_name="NVIDIA H100 80GB HBM3",
            per_kernel=True, prefix="fake", rows=None, summary_out=None, quiet=True)
        c = run_known(fns)
        expect("hook-like dump: failing checks",
               [r["check"] for r in c.rows if r["status"] == "fail"], [])
        c = run_known(argparse.Namespace(**dict(vars(fns), args_off=True)))
        expect("hook-like dump with FLOPMETER_ARGS=0 expectations: failing checks",
               [r["check"] for r in c.rows if r["status"] == "fail"], ["fake.signatures"])

        trace = os.path.join(tmp, "run", "synth.fmtrace")
        os.makedirs(os.path.dirname(trace))
        p = subprocess.run([flopmeter, "synth", "--out", trace, "--steps", "130", "--signatures",
                            "12", "--launches-per-step", "8", "--world-size", "1", "--quiet"],
                           capture_output=True, text=True)
        if p.returncode != 0:
            print("self-test: flopmeter synth failed: %s" % p.stderr.strip())
            return 1
        dump_path = os.path.join(tmp, "dump.json")
        with open(dump_path, "w", encoding="utf-8") as f:
            subprocess.run([flopmeter, "dump", "--json", trace], stdout=f, check=True)
        with open(dump_path, encoding="utf-8") as f:
            dump = json.load(f)
        t = Trace(dump, trace)
        expect("synth launches = FINAL launches_total", t.launches,
               t.final["launches_total"] if t.final else None)
        # The expectation an ideal program would print for this trace, from the records
        # themselves, independently of Trace: per function name, launches and signatures.
        strings = {r["id"]: r["text"] for r in dump["records"] if r["record"] == "string"}
        sig_name = {r["id"]: function_name(strings[r["name"]]) for r in dump["records"]
                    if r["record"] == "kernel_signature"}
        want, want_sigs = {}, {}
        for r in dump["records"]:
            if r["record"] == "aggregate":
                k = sig_name[r["signature"]]
                want[k] = want.get(k, 0) + r["launches"]
        for k in sig_name.values():
            want_sigs[k] = want_sigs.get(k, 0) + 1
        expected = {"launches": want, "signatures": want_sigs,
                    "signatures_args_off": want_sigs, "total_launches": sum(want.values())}
        stdout = os.path.join(tmp, "stdout")
        with open(stdout, "w", encoding="utf-8") as f:
            f.write("CHECKSUM a 0123\nEXPECTED %s\n" % json.dumps(expected))
        base = os.path.join(tmp, "baseline")
        with open(base, "w", encoding="utf-8") as f:
            f.write("CHECKSUM a 0123\nEXPECTED %s\n" % json.dumps(expected))
        ns = argparse.Namespace(
            flopmeter=flopmeter, traces=os.path.join(tmp, "run"), dumps=None, stdout=stdout,
            baseline_stdout=base, rc=0, baseline_rc=0, args_off=False, device_name=None,
            per_kernel=True, prefix="self", rows=None, summary_out=None, quiet=True)
        c = run_known(ns)
        # 130 synth steps include evaluation steps and the window without counters, whose
        # DEGRADATION record is the one failure
        bad = sorted(r["check"] for r in c.rows if r["status"] == "fail")
        expect("synth trace against its own counts: failing checks", bad, ["self.degradations"])
        expect("per-kernel rows", sum(1 for r in c.rows if ".launches." in r["check"]),
               len(want))
        # the same from the saved dump instead of the trace: verify is then skipped
        c = run_known(argparse.Namespace(**dict(vars(ns), traces=None, dumps=[dump_path])))
        expect("from --dumps: verify skipped",
               [r["status"] for r in c.rows if r["check"] == "self.verify"], ["skipped"])
        # a wrong expectation, a differing checksum, a non-zero exit: each caught
        k0 = sorted(want)[0]
        wrong = dict(expected, launches=dict(want, **{k0: want[k0] + 1}))
        with open(stdout, "w", encoding="utf-8") as f:
            f.write("CHECKSUM a 0124\nEXPECTED %s\n" % json.dumps(wrong))
        c = run_known(argparse.Namespace(**dict(vars(ns), rc=1)))
        bad = sorted(r["check"] for r in c.rows if r["status"] == "fail")
        expect("mismatches caught", bad, sorted(["self.exit_code", "self.checksums",
                                                 "self.degradations", "self.launches." + k0]))
        # torch mode on the synth trace: phases by name, the args0 comparison
        with open(stdout, "w", encoding="utf-8") as f:
            f.write("LOSS 0 0x1.0p+0\nEVAL 0x1.8p+0\nPHASE_API available\nCUPTI_MAPS 1 x\n")
        with open(base, "w", encoding="utf-8") as f:
            f.write("LOSS 0 0x1.0p+0\nEVAL 0x1.8p+0\nPHASE_API unavailable\nCUPTI_MAPS 0\n")
        tns = argparse.Namespace(
            flopmeter=flopmeter, traces=os.path.join(tmp, "run"), dumps=None, stdout=stdout,
            baseline_stdout=base, rc=0, baseline_rc=0, args0_traces=os.path.join(tmp, "run"),
            args0_rc=0, device_name="NVIDIA H100 80GB HBM3", prefix="torch", rows=None,
            summary_out=os.path.join(tmp, "summary.json"), quiet=True)
        c = run_torch(tns)
        bad = sorted(r["check"] for r in c.rows if r["status"] == "fail")
        expect("torch mode on synth: failing checks", bad, ["torch.degradations"])
        with open(os.path.join(tmp, "summary.json"), encoding="utf-8") as f:
            expect("summary written", json.load(f)["launches"], t.launches)
    if failures:
        for f in failures:
            print("self-test FAIL: " + f)
        return 1
    print("self-test: all cases passed")
    return 0


# ---- command line ---------------------------------------------------------------------------

def main(argv):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)

    def common(sp, torch_mode):
        sp.add_argument("--flopmeter", required=True, help="the flopmeter command")
        src = sp.add_mutually_exclusive_group(required=True)
        src.add_argument("--traces", help="directory holding the run's *.fmtrace files")
        src.add_argument("--dumps", nargs="+", help="saved `flopmeter dump --json` files")
        sp.add_argument("--stdout", required=True, help="the program's stdout under the hook")
        sp.add_argument("--baseline-stdout", required=torch_mode,
                        help="its stdout without the hook")
        sp.add_argument("--rc", type=int, help="exit status under the hook")
        sp.add_argument("--baseline-rc", type=int, help="exit status without the hook")
        sp.add_argument("--device-name", help="GPU name the DEVICE record must carry")
        sp.add_argument("--prefix", default="", help="prefix of the check names")
        sp.add_argument("--rows", help="append result rows here (results.py)")
        sp.add_argument("--summary-out", help="write the measured counts here as JSON")

    k = sub.add_parser("known", help="known_launches against its trace")
    common(k, False)
    k.add_argument("--args-off", action="store_true",
                   help="the run had FLOPMETER_ARGS=0: expect its signature counts")
    k.add_argument("--per-kernel", action="store_true", help="one result row per kernel")
    t = sub.add_parser("torch", help="torch_train_loop.py against its trace")
    common(t, True)
    t.add_argument("--args0-traces", help="traces of the FLOPMETER_ARGS=0 run")
    t.add_argument("--args0-rc", type=int, help="exit status of the FLOPMETER_ARGS=0 run")
    s = sub.add_parser("self-test", help="test this script without a GPU")
    s.add_argument("--flopmeter", required=True)
    args = p.parse_args(argv)
    if args.mode == "self-test":
        return self_test(args.flopmeter)
    # a missing trace directory is a result (the hook wrote nothing): find_traces finds none
    c = run_known(args) if args.mode == "known" else run_torch(args)
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
