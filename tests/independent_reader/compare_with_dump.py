#!/usr/bin/env python3
"""Cross-checks the C `flopmeter` tool against the independent reader fmtrace_reader.py.

    python3 compare_with_dump.py --flopmeter PATH/TO/flopmeter [--workdir DIR] [unittest args]

1. Traces written by `flopmeter synth` (small ones with different options, one of them
   signed twice with `flopmeter sign`) and the shipped example are read by
   `flopmeter dump --json` and by the independent reader; every record and every field must
   agree exactly (same keys in the same order, integers equal, floats equal bit for bit).
2. Merged traces written by `flopmeter merge` (format 1.1, flag `merged`) from the rank
   traces of `flopmeter synth --all-ranks`: of a directory, with a signed input, with a
   truncated input and with a forged signature (both --allow-incomplete), and signed
   themselves. Besides 1., every INPUT record must describe its input as the reader reads
   the input, and each input's records in the merged trace must be the input's, up to the
   renumbering of ids.
3. Damaged copies of a trace and of a merged trace (truncated, bytes flipped, chunks
   swapped, dropped or duplicated, garbage appended) must be rejected by both
   `flopmeter verify` and the reader, and both must deliver the same intact records before
   the damage.
4. Traces built here byte by byte, from the specification, probe what synth and merge
   never write: extreme values, files of version 1.0 (read with 1.0's rules), 1.1 (the
   reader's own) and 1.2 (a newer minor version), unknown record kinds and enumeration
   values, every precision class byte, merged traces and their INPUT records, and content
   the specification forbids. Each case states what the specification says; both
   implementations must agree with it.

A case where the C tool is known to disagree with the specification is listed in
EXPECTED_FAILURES (with the reason); it must keep failing until it is fixed, and is then
reported so that the entry gets removed.

Exits non-zero when anything differs. Traces are written to DIR (created if needed, files
in it overwritten and kept), or to a temporary directory removed afterwards.
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
READER = os.path.join(HERE, "fmtrace_reader.py")
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree
import fmtrace_reader  # noqa: E402  (the field tables drive the trace builder below)

# The format versions the cases are written in: the one the reader implements (and the
# tool writes), the one before it (read with its own rules), and a newer minor version.
CURRENT = fmtrace_reader.READER_MINOR  # 1.1
OLDER = CURRENT - 1                    # 1.0
NEWER = CURRENT + 1                    # 1.2

ARGS = None  # the parsed command line, set in main()

# Cases (by name) where the C tool disagrees with the specification: name -> reason. The
# check must fail for them; when one passes, the test says so, and the entry goes. Each
# reproduces with the case's file (run with --workdir DIR, then `flopmeter verify
# DIR/invalid-<case name, other characters as _>.fmtrace`, which says "intact").
EXPECTED_FAILURES = {}  # none at present


# ---------------------------------------------------------------------------------------
# Running the two implementations. Each file is written once under a name of its own, so
# every result is cached by path: nothing is read twice.

def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def flopmeter(*args):
    return run([ARGS.flopmeter] + list(args))


FLOAT_FIELDS = {"weight", "measured", "extrapolated", "value", "values"}


def json_object(pairs):
    """A JSON object as a dict. Refuses repeated keys, which a dict would silently
    collapse. Numbers in f64 fields become floats: C may write an integral double without
    a fraction, and float() of an integer literal is correctly rounded, so this is still
    the exact value. Everywhere else an integer must stay an integer."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("repeated keys in a JSON object: %s" % [k for k, _ in pairs])
    for k in FLOAT_FIELDS.intersection(obj):
        v = obj[k]
        if type(v) is int:
            obj[k] = float(v)
        elif type(v) is list:
            obj[k] = [float(x) if type(x) is int else x for x in v]
    return obj


def json_int(text):
    # C writes the double -0.0 as "-0", which int() would turn into 0.
    return -0.0 if text == "-0" else int(text)


def parse_json(text):
    return json.loads(text, object_pairs_hook=json_object, parse_int=json_int)


_dumps = {}


def c_dump(path):
    """(exit status, document or None, stderr) of `flopmeter dump --json`."""
    if path not in _dumps:
        rc, out, err = flopmeter("dump", "--json", path)
        _dumps[path] = rc, parse_json(out) if out.strip() else None, err
    return _dumps[path]


_verdicts = {}


def c_verify_all(paths):
    """Runs `flopmeter verify --json` over many files at once (one process instead of
    hundreds); each file's result is kept for c_verify."""
    todo = [p for p in dict.fromkeys(paths) if p not in _verdicts]
    for i in range(0, len(todo), 256):
        part = todo[i:i + 256]
        rc, out, err = flopmeter("verify", "--json", *part)
        results = json.loads(out)
        assert [r["file"] for r in results] == part, "verify --json lists other files"
        # The exit status covers all files: 0 exactly when every one is intact.
        assert (rc == 0) == all(r["intact"] for r in results), (rc, err)
        for p, r in zip(part, results):
            _verdicts[p] = r


def c_verify(path):
    """(intact, what verify said) -- intact is verify's exit status 0 for this file."""
    c_verify_all([path])
    r = _verdicts[path]
    return r["intact"] and r["complete"], json.dumps(r, indent=1)


_reads = {}


def reader(path):
    """(document or None, error or None) of the independent reader, run in-process (the
    command line is checked separately, in test_reader_command_line)."""
    if path not in _reads:
        _reads[path] = fmtrace_reader.read_trace(path)
    return _reads[path]


def canonical(doc):
    """One string per document: equal exactly when keys, key order, types and values are
    equal, floats bit for bit (repr() is exact, and keeps -0.0 apart from 0.0)."""
    return json.dumps(doc, allow_nan=False)


def differences(a, b, path=""):
    """Where the C document a and the reader's document b differ, as strings."""
    if type(a) is not type(b):
        return ["%s: C %r, reader %r" % (path, a, b)]
    if isinstance(a, dict):
        if list(a) != list(b):
            return ["%s: C fields %s, reader fields %s" % (path, list(a), list(b))]
        return [d for k in a for d in differences(a[k], b[k], "%s.%s" % (path, k))]
    if isinstance(a, list):
        if len(a) != len(b):
            return ["%s: C has %d entries, reader %d" % (path, len(a), len(b))]
        return [d for i, (x, y) in enumerate(zip(a, b))
                for d in differences(x, y, "%s[%d]" % (path, i))]
    if isinstance(a, float) and struct.pack("<d", a) != struct.pack("<d", b):
        return ["%s: C %r, reader %r (float)" % (path, a, b)]
    return [] if a == b else ["%s: C %r, reader %r" % (path, a, b)]


def first_differences(a, b, limit=10):
    """"" when the documents are the same, else the first differences."""
    if canonical(a) == canonical(b):
        return ""
    d = differences(a, b) or ["(documents differ in a way differences() misses)"]
    return "\n".join(d[:limit] + (["... %d more" % (len(d) - limit)] if len(d) > limit else []))


# ---------------------------------------------------------------------------------------
# Building traces byte by byte, from the specification

MASK64 = (1 << 64) - 1
MERGED = fmtrace_reader.FLAG_MERGED


def enc_u(n, pad_to=0):
    """LEB128; pad_to > 0 writes a longer than necessary encoding of that many bytes."""
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n or len(out) + 1 < pad_to:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def enc_s(n):
    return enc_u(((n << 1) ^ (n >> 63)) & MASK64)


def enc_str(v):
    b = v.encode("utf-8") if isinstance(v, str) else v
    return enc_u(len(b)) + b


def enc_field(v, ftype):
    if ftype in ("u", "ref"):
        return enc_u(v)
    if ftype == "s":
        return enc_s(v)
    if ftype == "f64":
        return struct.pack("<d", v)
    if ftype == "u8":
        return bytes([v])
    if ftype == "h64":
        return struct.pack("<Q", v)
    if ftype in ("str", "raw"):
        return enc_str(v)
    kind = ftype[0]
    if kind == "bytes":
        assert len(v) == ftype[1]
        return v
    if kind == "u3":
        return b"".join(enc_u(x) for x in v)
    if kind == "f64list":
        return enc_u(len(v)) + b"".join(struct.pack("<d", x) for x in v)
    if kind == "list":
        return enc_u(len(v)) + b"".join(
            b"".join(enc_field(e[name], ft) for name, ft in ftype[2]) for e in v)
    raise AssertionError(ftype)


def enc_body(kind, fields):
    return b"".join(enc_field(fields[name], ft) for name, ft in fmtrace_reader.KINDS[kind][1])


def enc_record(kind, body):
    return enc_u(kind) + enc_u(len(body)) + body


def file_header(major=1, minor=CURRENT, header_size=64, flags=0, reserved=bytes(16),
                magic=fmtrace_reader.FILE_MAGIC):
    return (magic + struct.pack("<HHIQ", major, minor, header_size, flags)
            + bytes(range(16)) + struct.pack("<Q", 1767225600000000000) + reserved)


def chunk(ctype, seq, prev_hash, raw, nrecords, codec=1, raw_len=None, comp=None,
          comp_len=None, payload_crc=None, magic=b"FMCK"):
    """One chunk; the keyword arguments let a case lie about any header field."""
    comp = zlib.compress(raw) if comp is None else comp
    head = magic + struct.pack(
        "<HHIIIII", ctype, codec, seq,
        zlib.crc32(comp) if payload_crc is None else payload_crc,
        len(raw) if raw_len is None else raw_len,
        len(comp) if comp_len is None else comp_len, nrecords) + prev_hash
    return head + struct.pack("<I", zlib.crc32(head)) + comp


class Builder:
    """Writes a trace the way the specification describes a writer: records are grouped
    into chunks, chained by SHA-256, and closed by a final chunk whose FINAL record is
    computed from the records. Cases break it on purpose through the hooks."""

    def __init__(self, **header):
        self.header = file_header(**header)
        self.chunks = []          # (ctype, [encoded records], chunk overrides)
        self.pending = []
        self.launches = 0
        self.sums = {}

    # The kind is positional-only: DEGRADATION has a field called "kind".
    def add(self, rkind, /, **fields):
        if rkind == 8:
            self.launches += fields["launches"]
            for c in fields["classes"]:
                s = self.sums.setdefault(c["class"], [0.0, 0.0])
                s[0] += c["measured"]
                s[1] += c["extrapolated"]
        return self.add_raw(enc_record(rkind, enc_body(rkind, fields)))

    def add_raw(self, record):
        self.pending.append(record)
        return self

    def cut(self, ctype=1, **overrides):
        if self.pending:
            self.chunks.append((ctype, self.pending, overrides))
        self.pending = []
        return self

    def final(self, ctype=2, extra_records=(), appended=b"", **fields):
        """Appends the final chunk; `fields` override the computed FINAL figures, and
        chain_head=None means "the correct one", filled in by build(); `appended` follows
        the FINAL record's fields in its body."""
        self.cut()
        nrec = sum(len(r) for _, r, _ in self.chunks)
        f = dict(end_unix_ns=1767225700000000000, exit_reason=1, chunk_count=len(self.chunks),
                 record_count=nrec, records_dropped=0, launches_total=self.launches,
                 classes=[dict(zip(("class", "measured", "extrapolated"), (c, m, e)))
                          for c, (m, e) in sorted(self.sums.items())],
                 chain_head=None, appended=appended)
        f.update(fields)
        self.chunks.append((ctype, [("final", f)] + list(extra_records), {}))
        return self

    def signature(self, algorithm=1, public_key=bytes(32), signature=bytes(64),
                  signed_head=None, ctype=3):
        self.chunks.append((ctype, [("signature", dict(
            algorithm=algorithm, public_key=public_key, signed_head=signed_head,
            time_ns=1, signer="test", signature=signature, appended=b""))], {}))
        return self

    def build(self):
        self.cut()
        out = bytearray(self.header)
        prev = hashlib.sha256(self.header).digest()
        for seq, (ctype, records, ov) in enumerate(self.chunks):
            raw = bytearray()
            for r in records:
                if isinstance(r, tuple):  # FINAL/SIGNATURE: they need this chunk's prev_hash
                    name, f = r
                    f = dict(f)
                    appended = f.pop("appended")
                    key = "chain_head" if name == "final" else "signed_head"
                    if f[key] is None:
                        f[key] = prev
                    kind = 13 if name == "final" else 14
                    r = enc_record(kind, enc_body(kind, f) + appended)
                raw += r
            ov = dict(ov)
            seq = ov.pop("seq", seq)
            nrec = ov.pop("nrecords", len(records))
            if "raw" in ov:
                raw = ov.pop("raw")(bytes(raw))
            c = chunk(ctype, seq, ov.pop("prev_hash", prev), bytes(raw), nrec, **ov)
            out += c
            prev = hashlib.sha256(c).digest()
        return bytes(out)


def run_meta(config=(), **kw):
    f = dict(tool_version="", run_id="", host="", pid=0, rank=0, local_rank=0,
             world_size=0, start_unix_ns=0, cuda_driver_version=0, cuda_runtime_version=0,
             cupti_version=0, command="", config=list(config))
    f.update(kw)
    return f


# A small trace that uses every record kind. The cases below start from it.
def base(minor=CURRENT, **header):
    b = Builder(minor=minor, **header)
    b.add(1, **run_meta([{"key": "k", "value": "v"}], tool_version="test", run_id="r",
                        host="h", pid=1, rank=-1, local_rank=-1, start_unix_ns=5,
                        command="cmd"))
    b.add(2, device=0, name="gpu", uuid=bytes(range(16)), chip="GH100", cc_major=9,
          cc_minor=0, sm_count=132, memory_bytes=80 << 30, pci_bus_id="0:1")
    for i, text in enumerate(["kernel", "metric", "phase", "module", "model.layers"], 1):
        b.add(3, id=i, text=text)
    b.add(4, id=1, frames=[{"module": 4, "symbol": 0, "offset": 16}])
    b.add(5, id=1, name=1, device=0, grid=[1, 2, 3], block=[4, 5, 6], shared_mem_dynamic=0,
          arg_hash=0x0123456789ABCDEF, callsite=1, first_seen_ns=10)
    b.add(6, id=1, chip="GH100", metrics=[{"name": 2, "class": 0x14, "weight": 2.0},
                                          {"name": 2, "class": 0xFF, "weight": 0.0}])
    b.add(9, id=1, name=3, category=1)
    b.add(10, time_ns=10, thread_id=7, phase=1, action=1)
    b.add(7, signature=1, launch_ordinal=0, group=1, time_ns=10, duration_ns=3, passes=1,
          values=[1.5, 0.1])
    b.cut()
    b.add(8, interval_start_ns=0, interval_end_ns=10, signature=1, phase=1, launches=3,
          launches_measured=1, launches_extrapolated=1, busy_ns=9,
          classes=[{"class": 0x01, "measured": 0.1, "extrapolated": 0.2},
                   {"class": 0x14, "measured": 3.0, "extrapolated": 1e300}])
    b.add(8, interval_start_ns=10, interval_end_ns=10, signature=1, phase=0, launches=2,
          launches_measured=0, launches_extrapolated=0, busy_ns=0,
          classes=[{"class": 0x01, "measured": 0.2, "extrapolated": 0.1}])
    b.add(11, time_ns=11, key=5, value=12.0, text=0, phase=1)
    b.add(12, time_ns=12, kind=4, api_result=-3, launches_affected=0, message="busy")
    b.add(10, time_ns=13, thread_id=7, phase=1, action=2)
    return b


def agg(sig=1, phase=0, launches=1, measured=0, extrapolated=0, classes=()):
    return dict(interval_start_ns=0, interval_end_ns=1, signature=sig, phase=phase,
                launches=launches, launches_measured=measured,
                launches_extrapolated=extrapolated, busy_ns=0, classes=list(classes))


def add(rkind, /, **fields):
    """A case step: appends one record to the base trace."""
    return lambda b: b.add(rkind, **fields)


def with_base(*steps, final=None, minor=CURRENT, **header):
    """A case: the base trace, then steps, then the final chunk (with overrides)."""
    def make():
        b = base(minor=minor, **header)
        for s in steps:
            s(b)
        b.final(**(final or {}))
        return b.build()
    return make


def builder_case(fn, minor=CURRENT, **header):
    """A case: the base trace, then fn(builder), which writes the final chunk itself."""
    def make():
        b = base(minor=minor, **header)
        fn(b)
        return b.build()
    return make


def raw_record(kind, body):
    return lambda b: b.add_raw(enc_record(kind, body))


def patch_body(kind, fields, old, new):
    """A record whose encoded body has `old` replaced by `new` (for longer than necessary
    varints and other encodings the builder never produces)."""
    body = enc_body(kind, fields)
    assert body.count(old) == 1, (body, old)
    return raw_record(kind, body.replace(old, new))


def string_record(i, t):
    return dict(id=i, text=t)


def sample(group=1, values=(1.0, 1.0), **kw):
    f = dict(signature=1, launch_ordinal=0, group=group, time_ns=0, duration_ns=0, passes=1,
             values=list(values))
    f.update(kw)
    return f


def kernel(**kw):
    f = dict(id=2, name=1, device=0, grid=[1, 1, 1], block=[1, 1, 1], shared_mem_dynamic=0,
             arg_hash=0, callsite=0, first_seen_ns=0)
    f.update(kw)
    return f


def classes(*triples):
    return [{"class": c, "measured": m, "extrapolated": e} for c, m, e in triples]


def metric_group(id_=2, *metric_classes):
    return dict(id=id_, chip="", metrics=[{"name": 2, "class": c, "weight": 1.0}
                                          for c in metric_classes])


def empty_unknown_records(n, **overrides):
    """A chunk of n records of an unknown kind with empty bodies: 2 bytes each, so that
    it holds exactly raw_len / 2 records, the most the specification allows."""
    def step(b):
        b.cut()
        for _ in range(n):
            b.add_raw(enc_record(99, b""))
        b.cut(**overrides)
    return step


def input_record(index, rank=-1, **kw):
    """The fields of an INPUT record (the base trace's RUN_META has rank -1)."""
    f = dict(index=index, path="rank-%d.fmtrace" % index, trace_id=bytes([index + 1] * 16),
             chain_head=bytes([index + 0xA0] * 32), chunks=3, records=20, complete=1,
             signatures=0, signatures_valid=0, rank=rank, end_unix_ns=1767225700000000000,
             exit_reason=1, records_dropped=0)
    f.update(kw)
    return f


def close(index, appended=b"", **kw):
    """A case step: the INPUT record that ends input `index`; `appended` follows its
    fields."""
    return raw_record(15, enc_body(15, input_record(index, **kw)) + appended)


def cut(b):
    """A case step: ends the current chunk."""
    b.cut()


def second_input(rank=1):
    """Case steps: a second input after the base trace's -- its RUN_META and records that
    define ids of their own and use the first input's strings ("strings are shared")."""
    return [add(1, **run_meta(host="second input", rank=rank, local_rank=rank)),
            add(3, **string_record(6, "kernel of the second input")),
            add(5, **kernel(id=2, name=6)),
            add(9, id=2, name=3, category=2),
            add(11, time_ns=20, key=5, value=4.0, text=0, phase=2),
            add(8, **agg(sig=2, phase=2, launches=4, classes=classes((0x14, 1.0, 2.0))))]


def merged(first=None, second=None, rank=1, first_steps=(), flags=MERGED, minor=CURRENT,
           final=None):
    """A case: a merged trace of two inputs, the base trace and second_input(); `first`
    and `second` override fields of their INPUT records, `first_steps` come before the
    first one."""
    return with_base(*first_steps, close(**dict(dict(index=0), **(first or {}))),
                     *second_input(rank),
                     close(**dict(dict(index=1, rank=rank), **(second or {}))),
                     flags=flags, minor=minor, final=final)


U64MAX = MASK64
BASE_FINAL_CLASSES = classes((1, 0.1 + 0.2, 0.2 + 0.1), (0x14, 3.0, 1e300))
VALID_CLASSES = sorted(fmtrace_reader.PRECISION_CLASSES)
# Class bytes no 1.0 or 1.1 writer writes, a sample of each way to be unknown: a CUDA-core
# class that does not exist (tf32, fp8), fp32 on tensor cores, sparse fp64, sparsity
# without tensor cores, formats 10-15, the high bits.
UNKNOWN_CLASSES = (0x02, 0x05, 0x0F, 0x11, 0x20, 0x30, 0x31, 0x3A, 0x40, 0x80, 0xFE)

# Traces the specification says are intact: both must accept, and the dumps must agree.
VALID = {
    "base": with_base(),
    "several chunks": with_base(lambda b: b.cut(), add(3, **string_record(6, "x")),
                                lambda b: b.cut()),
    "extreme integers": with_base(
        add(12, time_ns=U64MAX, kind=0, api_result=-(1 << 63), launches_affected=U64MAX,
            message=""),
        add(12, time_ns=0, kind=0, api_result=(1 << 63) - 1, launches_affected=0,
            message=""),
        add(3, **string_record(U64MAX, "largest id"))),
    "extreme floats": with_base(*[
        add(11, time_ns=1, key=5, value=v, text=0, phase=0)
        for v in (-1.7976931348623157e308, 5e-324, -0.0, 0.1 + 0.2, 1.2345678912e-12,
                  2.0 ** 53 + 2, 1e22, 1e23)]),
    "-0.0 figures": with_base(
        add(7, **sample(values=[-0.0, 0.0])),
        add(6, id=2, chip="", metrics=[{"name": 2, "class": 1, "weight": -0.0}]),
        add(8, **agg(classes=classes((0, -0.0, -0.0))))),
    "empty lists": with_base(add(8, **agg()), add(4, id=2, frames=[])),
    "empty config, no aggregates, empty final classes":
        lambda: Builder().add(1, **run_meta()).final().build(),
    # "or 0" marks exactly these: frame module and symbol, KERNEL_SIGNATURE.callsite,
    # DECLARATION.text and .phase, AGGREGATE.phase.
    "optional references 0": with_base(
        add(5, **kernel(callsite=0)), add(4, id=2, frames=[{"module": 0, "symbol": 0,
                                                            "offset": 0}]),
        add(11, time_ns=0, key=5, value=1.0, text=0, phase=0), add(8, **agg(phase=0))),
    # "device ordinals are not ids".
    "kernel on a device without DEVICE record": with_base(add(5, **kernel(device=7))),
    "every valid precision class": with_base(
        add(6, **metric_group(2, *VALID_CLASSES, 0xFF)),
        add(8, **agg(classes=classes(*[(c, 1.0, 2.0) for c in VALID_CLASSES])))),
    # "FINAL lists every class that appears in any AGGREGATE (also when its sums are
    # zero)": the builder's FINAL lists class 3 with +0.0 sums.
    "final lists a class with zero sums": with_base(
        add(8, **agg(classes=classes((3, 0.0, 0.0))))),
    # "writers write the shortest form, readers accept longer ones": in fields and in the
    # record envelope (kind and length).
    "longer than necessary varints": with_base(
        patch_body(3, string_record(6, "x"), b"\x06\x01x", b"\x86\x80\x00\x01x"),
        raw_record(3, enc_u(7, pad_to=10) + enc_str("y")),
        lambda b: b.add_raw(enc_u(3, pad_to=2) + enc_u(3, pad_to=10) + b"\x08\x01z"),
        raw_record(3, enc_u(9) + enc_u(1, pad_to=3) + b"w"),  # a str length
        raw_record(4, enc_u(2) + enc_u(0, pad_to=2))),  # a list count
    "strings that are not UTF-8": with_base(
        add(3, id=6, text=b"a\xffb\xc3(\xe2\x82"), add(3, id=7, text=b"\xf0\x9f\x98 \xed\xa0\x80"),
        add(3, id=8, text="\u00e9\U0001F600\x00\n\"\\\ufffe")),
    # Informational flags a reader does not know are ignored (merged, the one defined, is
    # covered by the merged cases below).
    "unknown informational flags": with_base(flags=(1 << 33) | (1 << 63)),
    # 1.0's rules for a 1.0 file: "a trace with the merged flag holds one [RUN_META] per
    # merged input, the first of them first" -- and nothing else marks the inputs.
    "merged 1.0 trace with a run_meta per input": with_base(
        add(1, **run_meta(host="second input")), flags=MERGED, minor=OLDER),
    "merged 1.0 trace with every informational flag": with_base(
        add(1, **run_meta(host="second input")), flags=0xFFFFFFFF << 32, minor=OLDER),
    "a 1.0 file": with_base(minor=OLDER),
    # 1.1: "each input's records start with its RUN_META record and end with one INPUT
    # record"; strings are shared between the inputs.
    "merged: two inputs, each closed by its input record": merged(),
    "merged: one input": with_base(close(0), flags=MERGED),
    "merged: input records first in their chunks": with_base(
        cut, close(0), cut, *second_input(), cut, close(1, rank=1), flags=MERGED),
    "merged: every informational flag": merged(flags=0xFFFFFFFF << 32),
    "merged: an input that was incomplete, with signatures none valid": with_base(
        close(0, complete=0, chunks=0, records=0, signatures=2, signatures_valid=0,
              end_unix_ns=0, exit_reason=0, records_dropped=7), flags=MERGED),
    "merged: input records with extreme values": merged(
        first=dict(path=b"\xff/\x00x", chunks=U64MAX, records=U64MAX, signatures=U64MAX,
                   signatures_valid=U64MAX, end_unix_ns=U64MAX, exit_reason=3,
                   records_dropped=U64MAX),
        rank=-1, second=dict(path="", chunks=0, records=0, exit_reason=2)),
    "merged: input of the largest rank": merged(rank=(1 << 63) - 1),
    "limits reached": with_base(
        add(4, id=2, frames=[{"module": 4, "symbol": 4, "offset": 1}] * 512),
        add(6, id=2, chip="", metrics=[{"name": 2, "class": 1, "weight": 1.0}] * 1024),
        add(7, **sample(group=2, values=[1.0] * 1024))),
    "config of 4096 entries": lambda: Builder().add(1, **run_meta(
        [{"key": "k", "value": "v"}] * 4096)).final().build(),
    # kind, length (4 bytes) and a body of exactly 4 MiB: four zero fields, then a message
    # whose own length takes 4 bytes.
    "record of exactly 4 MiB": with_base(raw_record(12, bytes(4) + enc_str(
        b"x" * (4 * 1024 * 1024 - 8)))),
    # "launches_total is the exact sum": 2^64 - 1 is the largest that fits.
    "launches adding up to 2^64 - 1": with_base(
        add(8, **agg(launches=1 << 63)), add(8, **agg(launches=(1 << 63) - 6))),
}

# What a minor version above the reader's may add: record kinds, fields appended to a
# body, enumeration values. In a file of a newer minor version a reader skips, ignores or
# shows them (JSON: as their numbers), so both must accept it and agree (NEWER_MINOR); "in
# a file of its own or an older minor version all of these are damage" (INVALID, once in a
# 1.0 and once in a 1.1 file). Each entry makes the case for a minor version.
UNKNOWNS = {
    "unknown record kind": lambda m: with_base(raw_record(99, b"\x01\x02\x03"), minor=m),
    # The first kind after INPUT, the last one 1.1 defines.
    "record kind 16": lambda m: with_base(raw_record(16, b"\x01"), minor=m),
    "record kind 2^32 - 1": lambda m: with_base(raw_record((1 << 32) - 1, b"\x00"), minor=m),
    "appended fields": lambda m: with_base(
        raw_record(3, enc_body(3, string_record(6, "x")) + b"\x05\x06"), minor=m),
    "records = raw_len / 2": lambda m: with_base(empty_unknown_records(10), minor=m),
    "unknown precision classes in an aggregate": lambda m: with_base(
        add(8, **agg(classes=classes(*[(c, 1.0, 0.0) for c in UNKNOWN_CLASSES]))), minor=m),
    "unknown precision classes in a metric group": lambda m: with_base(
        add(6, **metric_group(2, *UNKNOWN_CLASSES)), minor=m),
    "unknown phase category": lambda m: with_base(add(9, id=2, name=3, category=9), minor=m),
    "unknown phase action": lambda m: with_base(
        add(10, time_ns=1, thread_id=1, phase=1, action=3), minor=m),
    "phase action 0": lambda m: with_base(
        add(10, time_ns=1, thread_id=1, phase=1, action=0), minor=m),
    "unknown degradation kind": lambda m: with_base(
        add(12, time_ns=1, kind=10, api_result=0, launches_affected=0, message=""), minor=m),
    "unknown exit reason": lambda m: with_base(final=dict(exit_reason=4), minor=m),
    # Nothing to check it with (Ed25519 fixes the key and signature sizes, this one does
    # not exist in 1.1); verify counts it as present but not valid.
    "signature of unknown algorithm 2": lambda m: builder_case(lambda b: b.final().signature(
        algorithm=2, public_key=b"", signature=b"x"), minor=m),
    "appended fields in the final record": lambda m: with_base(
        final=dict(appended=b"\x01"), minor=m),
}
# The same for what 1.1 defines in merged traces (in a 1.0 file INPUT itself is damage).
INPUT_UNKNOWNS = {
    "appended fields in an input record": lambda m: merged(
        first=dict(appended=b"\x07\x08"), minor=m),
    "unknown exit reason in an input record": lambda m: merged(
        second=dict(exit_reason=4), minor=m),
}

NEWER_MINOR = {name: make(NEWER) for name, make in {**UNKNOWNS, **INPUT_UNKNOWNS}.items()}
NEWER_MINOR.update({
    "minor 65535": with_base(minor=65535),
    # A 1.2 reader may know kind 16; a 1.1 reader reads 1.2 files with 1.1's rules, which
    # know INPUT.
    "merged: two inputs (minor 2)": merged(minor=NEWER),
    "merged: record kind 16 inside an input (minor 2)": merged(
        first_steps=[raw_record(16, b"")], minor=NEWER),
    # Skipped records do not count for the order of RUN_META and INPUT records (the
    # specification does not say whether they belong to an input; skipping them here is
    # this reader's reading).
    "merged: record kind 16 between an input record and the next run_meta (minor 2)":
        with_base(close(0), raw_record(16, b""), *second_input(), close(1, rank=1),
                  flags=MERGED, minor=NEWER),
    "merged: record kind 16 after the last input record (minor 2)": with_base(
        close(0), raw_record(16, b""), flags=MERGED, minor=NEWER),
})


def no_run_meta_first(**header):
    return lambda: (Builder(**header).add(3, **string_record(1, "x")).add(1, **run_meta())
                    .final().build())


# Traces the specification says are damaged or inconsistent: both must reject.
INVALID = {
    # file header
    "major 2": with_base(major=2),
    "major 0": with_base(major=0),
    "header_size 128": with_base(header_size=128),
    # "64 in every version 1.x file".
    "header_size 128 (minor 2)": with_base(header_size=128, minor=NEWER),
    "required flag": with_base(flags=1),
    "required flag (minor 2)": with_base(flags=1 << 31, minor=NEWER),
    "reserved byte": with_base(reserved=b"\x01" + bytes(15)),
    "no chunks at all": lambda: file_header(),
    # chunk header (the base trace's second chunk, seq 1, is the one lied about)
    "codec 2": builder_case(lambda b: b.cut(codec=2).final()),
    "chunk type 4": builder_case(lambda b: b.cut(ctype=4).final()),
    # Minor versions add record kinds and fields, not chunk types or codecs.
    "codec 2 (minor 2)": builder_case(lambda b: b.cut(codec=2).final(), minor=NEWER),
    "chunk type 4 (minor 2)": builder_case(lambda b: b.cut(ctype=4).final(), minor=NEWER),
    "seq repeated": builder_case(lambda b: b.cut(seq=0).final()),
    "seq skips one": builder_case(lambda b: b.cut(seq=2).final()),
    "zero records": builder_case(lambda b: b.cut(nrecords=0).final()),
    "records > raw_len / 2": with_base(empty_unknown_records(10, nrecords=11), minor=NEWER),
    "raw_len over 16 MiB": builder_case(lambda b: b.cut(raw_len=16 * 1024 * 1024 + 1).final()),
    "raw_len one short": builder_case(lambda b: b.cut(
        raw_len=len(b"".join(b.pending)) - 1).final()),
    "raw_len one long": builder_case(lambda b: b.cut(
        raw_len=len(b"".join(b.pending)) + 1).final()),
    "zlib stream with trailing bytes": builder_case(lambda b: b.cut(
        comp=zlib.compress(b"".join(b.pending)) + b"\x00").final()),
    "zlib stream cut short": builder_case(lambda b: b.cut(
        comp=zlib.compress(b"".join(b.pending))[:-4]).final()),
    "raw deflate without zlib wrapper": builder_case(lambda b: b.cut(
        comp=zlib.compress(b"".join(b.pending), wbits=-15)).final()),
    "gzip wrapper": builder_case(lambda b: b.cut(
        comp=zlib.compress(b"".join(b.pending), wbits=31)).final()),
    "payload_crc wrong": builder_case(lambda b: b.cut(payload_crc=0x12345678).final()),
    "prev_hash wrong": builder_case(lambda b: b.cut(prev_hash=bytes(32)).final()),
    # record envelopes and chunk types
    "fewer records than counted": builder_case(lambda b: b.cut(
        nrecords=len(b.pending) + 1).final()),
    "bytes after the last record": builder_case(lambda b: b.cut(
        raw=lambda r: r + b"\x03").final()),
    "record runs past the payload": builder_case(lambda b: b.cut(
        raw=lambda r: r + b"\x03\x05ab", nrecords=len(b.pending) + 1).final()),
    "record length over 4 MiB": with_base(raw_record(12, bytes(4) + enc_str(
        b"x" * (4 * 1024 * 1024 - 7)))),
    # "kind (varint, 1 to 2^32-1)": in any version.
    "record kind 0": with_base(raw_record(0, b"")),
    "record kind 0 (minor 2)": with_base(raw_record(0, b""), minor=NEWER),
    "record kind 2^32 (minor 2)": with_base(raw_record(1 << 32, b""), minor=NEWER),
    "record kind 2^64 - 1 (minor 2)": with_base(raw_record(U64MAX, b""), minor=NEWER),
    "varint 10th byte 2": with_base(raw_record(12, b"\xff" * 9 + b"\x02" + bytes(4))),
    "varint of 11 bytes": with_base(raw_record(12, b"\x80" * 10 + b"\x00" + bytes(4))),
    "body too short": with_base(raw_record(3, b"\x06")),
    # Newer minor versions only append fields; they never drop one.
    "body too short (minor 2)": with_base(raw_record(3, b"\x06"), minor=NEWER),
    "str longer than its body": with_base(raw_record(3, b"\x06\x05ab")),
    "final in a records chunk": builder_case(lambda b: b.final(ctype=1)),
    "final chunk with two records": builder_case(lambda b: b.final(
        extra_records=[enc_record(3, enc_body(3, string_record(6, "x")))])),
    "final chunk with an unknown record too (minor 2)": builder_case(lambda b: b.final(
        extra_records=[enc_record(99, b"")]), minor=NEWER),
    "records after the final chunk": builder_case(lambda b: b.final().add(
        3, **string_record(6, "x")).cut()),
    "two final chunks": builder_case(lambda b: b.final().final()),
    "signature before the final chunk": builder_case(lambda b: b.cut().signature().final()),
    "signature in a records chunk": builder_case(lambda b: b.final().signature(ctype=1)),
    "signature with wrong signed_head": builder_case(
        lambda b: b.final().signature(signed_head=bytes(32))),
    "Ed25519 key of 31 bytes": builder_case(lambda b: b.final().signature(
        public_key=bytes(31))),
    "Ed25519 signature of 65 bytes": builder_case(lambda b: b.final().signature(
        signature=bytes(65))),
    # RUN_META: "the first record of every trace"; "exactly one" unless merged.
    "no run_meta": lambda: Builder().add(3, **string_record(1, "x")).final().build(),
    "run_meta not first": no_run_meta_first(),
    "run_meta not first (merged)": no_run_meta_first(flags=MERGED),
    "run_meta not first (minor 2)": no_run_meta_first(minor=NEWER),
    "run_meta twice": with_base(lambda b: b.add_raw(b.chunks[0][1][0])),
    "unknown record kind before run_meta (minor 2)": lambda: (
        Builder(minor=NEWER).add_raw(enc_record(99, b"")).add(1, **run_meta()).final().build()),
    # the final record
    "final chunk_count": with_base(final=dict(chunk_count=1)),
    "final record_count": with_base(final=dict(record_count=3)),
    "final launches_total": with_base(final=dict(launches_total=6)),
    "final chain_head": with_base(final=dict(chain_head=bytes(32))),
    "final class sum off in the last bit": with_base(final=dict(
        classes=classes((1, 0.3, 0.2 + 0.1), (0x14, 3.0, 1e300)))),
    "final class missing": with_base(final=dict(classes=BASE_FINAL_CLASSES[1:])),
    "final extra class of zeros": with_base(final=dict(
        classes=classes((0, 0.0, 0.0)) + BASE_FINAL_CLASSES)),
    "final omits a class whose sums are zero": with_base(
        add(8, **agg(classes=classes((0, 0.0, 0.0)))), final=dict(classes=BASE_FINAL_CLASSES)),
    "final -0.0 where the sum is +0.0": with_base(
        add(8, **agg(classes=classes((0, 0.0, 0.0)))),
        final=dict(classes=classes((0, -0.0, 0.0)) + BASE_FINAL_CLASSES)),
    "final classes not ascending": with_base(final=dict(classes=BASE_FINAL_CLASSES[::-1])),
    # "a trace whose launch counts add up to 2^64 or more is damaged", whatever FINAL says.
    "launches adding up to 2^64, final holds 0": with_base(
        add(8, **agg(launches=1 << 63)), add(8, **agg(launches=(1 << 63) - 5)),
        final=dict(launches_total=0)),
    "launches adding up to 2^65, final holds 2^64 - 1": with_base(
        *[add(8, **agg(launches=U64MAX)) for _ in range(2)], final=dict(launches_total=U64MAX)),
    # The sums "formed in record order by IEEE 754 double addition" can overflow. The
    # specification only states "finite" for AGGREGATE figures, yet a FINAL holding
    # infinity has no JSON form; both readers refuse it (reported as an open point).
    "class sums overflow to infinity": with_base(
        add(8, **agg(classes=classes((0, 1.7e308, 0.0)))),
        add(8, **agg(classes=classes((0, 1.7e308, 0.0))))),
    # ids and references ("or 0" only where a field says so; everything else defined
    # earlier)
    "string id 0": with_base(add(3, **string_record(0, "x"))),
    "string id twice": with_base(add(3, **string_record(1, "x"))),
    "callsite id 0": with_base(add(4, id=0, frames=[])),
    "callsite id twice": with_base(add(4, id=1, frames=[])),
    "kernel signature id 0": with_base(add(5, **kernel(id=0))),
    "metric group id 0": with_base(add(6, **metric_group(0, 1))),
    "metric group id twice": with_base(add(6, **metric_group(1, 1))),
    "phase id 0": with_base(add(9, id=0, name=3, category=0)),
    "phase id twice": with_base(add(9, id=1, name=3, category=0)),
    "undefined string": with_base(add(9, id=2, name=99, category=0)),
    "string defined after its use": with_base(add(9, id=2, name=6, category=0),
                                              add(3, **string_record(6, "x"))),
    "kernel name 0": with_base(add(5, **kernel(name=0))),
    "phase name 0": with_base(add(9, id=2, name=0, category=0)),
    "metric name 0": with_base(add(6, id=2, chip="", metrics=[
        {"name": 0, "class": 1, "weight": 1.0}])),
    "declaration key 0": with_base(add(11, time_ns=0, key=0, value=1.0, text=0, phase=0)),
    "undefined callsite": with_base(add(5, **kernel(callsite=5))),
    "undefined frame module": with_base(add(4, id=2, frames=[
        {"module": 77, "symbol": 0, "offset": 0}])),
    "undefined frame symbol": with_base(add(4, id=2, frames=[
        {"module": 0, "symbol": 77, "offset": 0}])),
    "kernel signature id twice": with_base(add(5, **kernel(id=1))),
    "sample of an undefined signature": with_base(add(7, **sample(signature=9))),
    "sample of signature 0": with_base(add(7, **sample(signature=0))),
    "sample of an undefined group": with_base(add(7, **sample(group=9))),
    "sample of group 0": with_base(add(7, **sample(group=0))),
    "metric group defined after its sample": with_base(add(7, **sample(group=2)),
                                                       add(6, **metric_group(2, 1, 1))),
    "sample with too few values": with_base(add(7, **sample(values=[1.0]))),
    "sample with too many values": with_base(add(7, **sample(values=[1.0] * 3))),
    "aggregate of an undefined signature": with_base(add(8, **agg(sig=9))),
    "aggregate of signature 0": with_base(add(8, **agg(sig=0))),
    "aggregate in an undefined phase": with_base(add(8, **agg(phase=9))),
    "phase event of an undefined phase": with_base(add(10, time_ns=0, thread_id=0, phase=9,
                                                       action=1)),
    "phase event of phase 0": with_base(add(10, time_ns=0, thread_id=0, phase=0, action=1)),
    "declaration in an undefined phase": with_base(add(11, time_ns=0, key=5, value=1.0,
                                                       text=0, phase=9)),
    "declaration text undefined": with_base(add(11, time_ns=0, key=5, value=1.0, text=99,
                                                phase=0)),
    # value constraints
    "passes 0": with_base(add(7, **sample(passes=0))),
    "negative counter value": with_base(add(7, **sample(values=[1.0, -1.0]))),
    "infinite counter value": with_base(add(7, **sample(values=[float("inf"), 1.0]))),
    "NaN weight": with_base(add(6, id=2, chip="", metrics=[
        {"name": 2, "class": 1, "weight": float("nan")}])),
    "negative weight": with_base(add(6, id=2, chip="", metrics=[
        {"name": 2, "class": 1, "weight": -2.0}])),
    "NaN declaration value": with_base(add(11, time_ns=0, key=5, value=float("nan"), text=0,
                                           phase=0)),
    "interval ends before it starts": with_base(add(8, **dict(agg(), interval_start_ns=2))),
    "measured + extrapolated > launches": with_base(add(8, **agg(launches=2, measured=2,
                                                                 extrapolated=1))),
    "measured + extrapolated > launches only beyond 2^64": with_base(add(8, **agg(
        launches=5, measured=U64MAX, extrapolated=6))),
    "aggregate classes repeated": with_base(add(8, **agg(classes=classes(
        (1, 1.0, 0.0), (1, 1.0, 0.0))))),
    "negative aggregate figure": with_base(add(8, **agg(classes=classes((1, -1.0, 0.0))))),
    "infinite aggregate figure": with_base(add(8, **agg(classes=classes(
        (1, 0.0, float("inf")))))),
    # METRIC_GROUP metrics: "at least one" -- a field rule, so in any version.
    "metric group without metrics": with_base(add(6, id=2, chip="", metrics=[])),
    "metric group without metrics (minor 2)": with_base(add(6, id=2, chip="", metrics=[]),
                                                        minor=NEWER),
    # "0xFF never appears in class lists", not even in a newer minor version.
    "precision class 0xFF in an aggregate": with_base(
        add(8, **agg(classes=classes((0xFF, 1.0, 0.0))))),
    "precision class 0xFF in an aggregate (minor 2)": with_base(
        add(8, **agg(classes=classes((0xFF, 1.0, 0.0)))), minor=NEWER),
    # limits
    "config of 4097 entries": lambda: Builder().add(1, **run_meta(
        [{"key": "k", "value": "v"}] * 4097)).final().build(),
    "513 frames": with_base(add(4, id=2, frames=[{"module": 4, "symbol": 0, "offset": 0}]
                                * 513)),
    "1025 metrics": with_base(add(6, id=2, chip="", metrics=[
        {"name": 2, "class": 1, "weight": 1.0}] * 1025)),
    "1025 values": with_base(add(6, id=2, chip="", metrics=[
        {"name": 2, "class": 1, "weight": 1.0}] * 1024),
        add(7, **sample(group=2, values=[1.0] * 1025))),

    # Merged traces (1.1). "An INPUT record in a trace without the merged flag is
    # damage"; in a 1.0 file kind 15 is unknown, hence damage, flag or not.
    "input record without the merged flag": with_base(close(0)),
    "input record without the merged flag (minor 2)": with_base(close(0), minor=NEWER),
    "input record in a 1.0 file": with_base(close(0), flags=MERGED, minor=OLDER),
    "input record in a 1.0 file without the merged flag": with_base(close(0), minor=OLDER),
    "input records in a merged 1.0 file": merged(minor=OLDER),
    # "each input's records start with its RUN_META record and end with one INPUT record":
    # several RUN_META need the INPUT records between them since 1.1.
    "merged: a run_meta per input, no input records": with_base(
        *second_input(), flags=MERGED),
    "merged: a run_meta per input, no input records (minor 2)": with_base(
        *second_input(), flags=MERGED, minor=NEWER),
    "merged: one input without its input record": with_base(flags=MERGED),
    "merged: the last input without its input record": with_base(
        close(0), *second_input(), flags=MERGED),
    "merged: the first input without its input record": with_base(
        *second_input(), close(0, rank=1), flags=MERGED),
    "merged: input record twice": with_base(close(0), close(1), flags=MERGED),
    "merged: a record between an input record and the next run_meta": with_base(
        close(0), add(3, **string_record(7, "x")), *second_input(), close(1, rank=1),
        flags=MERGED),
    "merged: a record after the last input record": with_base(
        close(0), add(3, **string_record(7, "x")), flags=MERGED),
    # The final chunk holds exactly one record, the FINAL.
    "merged: input record in the final chunk": builder_case(lambda b: b.final(
        extra_records=[enc_record(15, enc_body(15, input_record(0)))]), flags=MERGED),
    # INPUT fields: "0-based position of the input in the merge"; "1 when ..., else 0";
    # "signatures_valid: of which valid"; "rank: the input's rank (from its RUN_META)".
    "merged: input index starts at 1": merged(first=dict(index=1), second=dict(index=2)),
    "merged: input index repeated": merged(second=dict(index=0)),
    "merged: input index skips one": merged(second=dict(index=2)),
    "merged: input complete 2": merged(second=dict(complete=2)),
    "merged: more valid signatures than signatures": merged(
        first=dict(signatures=1, signatures_valid=2)),
    "merged: input rank differs from its run_meta": merged(second=dict(rank=0)),
    "merged: input rank given for a run_meta of unknown rank": merged(first=dict(rank=0)),
    # "rank: global rank, -1 when unknown" (RUN_META), "the input's rank (from its
    # RUN_META), -1 when unknown" (INPUT): no rank is below -1.
    "run_meta rank -2": with_base(add(1, **run_meta(rank=-2)), flags=MERGED, minor=OLDER),
    "run_meta rank -2^63": with_base(add(1, **run_meta(rank=-(1 << 63))), flags=MERGED,
                                     minor=OLDER),
    "run_meta local_rank -2": with_base(add(1, **run_meta(local_rank=-2)), flags=MERGED,
                                        minor=OLDER),
    "first run_meta rank -2": lambda: Builder().add(1, **run_meta(rank=-2)).final().build(),
    "merged: input rank -2": merged(second=dict(rank=-2)),
    "merged: input record body too short": with_base(
        raw_record(15, enc_body(15, input_record(0))[:-1]), flags=MERGED),
    "merged: input record body too short (minor 2)": with_base(
        raw_record(15, enc_body(15, input_record(0))[:-1]), flags=MERGED, minor=NEWER),
}
# Each addition of a newer minor version, in a file of the reader's own minor version and
# in one of the version before.
INVALID.update({"%s in a 1.%d file" % (name, m): make(m)
                for name, make in UNKNOWNS.items() for m in (OLDER, CURRENT)})
INVALID.update({"%s in a 1.%d file" % (name, CURRENT): make(CURRENT)
                for name, make in INPUT_UNKNOWNS.items()})


# ---------------------------------------------------------------------------------------
# Damaging real traces

def chunk_spans(data):
    """(start, end) of every chunk of an intact trace."""
    spans, pos = [], 64
    while pos < len(data):
        comp_len = struct.unpack_from("<I", data, pos + 20)[0]
        spans.append((pos, pos + 64 + comp_len))
        pos += 64 + comp_len
    return spans


def flip(data, offset, mask=0xFF):
    b = bytearray(data)
    b[offset] ^= mask
    return bytes(b)


def split_records(raw):
    """The encoded records of a decompressed payload."""
    out, pos = [], 0
    while pos < len(raw):
        start = pos
        kind, pos = fmtrace_reader.read_varint(raw, pos)
        length, pos = fmtrace_reader.read_varint(raw, pos)
        pos += length
        out.append((kind, raw[start:pos]))
    return out


def reframe(path, pieces):
    """The records of an intact trace, exactly as its writer encoded them, re-cut into
    `pieces` record chunks and a final chunk. The damage cases need a trace of several
    chunks; synth cuts chunks at 256 KiB, which takes thousands of records, while the
    damages need only the framing."""
    with open(path, "rb") as f:
        data = f.read()
    records = [r for s, e in chunk_spans(data)
               for r in split_records(zlib.decompress(data[s + 64:e]))]
    body = [r for k, r in records if k not in (13, 14)]
    doc, error = fmtrace_reader.read_trace(path)
    assert error is None, error
    final = next(r for r in doc["records"] if r["record"] == "final")
    # The same version and flags: a merged trace stays one.
    b = Builder(minor=doc["header"]["minor"], flags=doc["header"]["flags"])
    step = -(-len(body) // pieces)
    for i in range(0, len(body), step):
        for r in body[i:i + step]:
            b.add_raw(r)
        b.cut()
    b.final(**{k: final[k] for k in ("end_unix_ns", "exit_reason", "records_dropped",
                                      "launches_total", "classes")})
    return b.build()


def damages(data):
    """Damaged variants of an intact trace of at least three chunks: name -> bytes."""
    spans = chunk_spans(data)
    assert len(spans) >= 3, "the damage tests need a trace of at least 3 chunks"
    c = [data[s:e] for s, e in spans]
    (s0, e0), (s1, e1), (sl, el) = spans[0], spans[1], spans[-1]
    d = {}
    for off in (0, 1, 8, 63, 64, 65, 100, 127, 128, s0 + 64 + (e0 - s0 - 64) // 2, e0 - 1,
                e0, e0 + 10, sl + 64, el - 1):
        d["truncated at %d" % off] = data[:off]
    for off, what in ((0, "magic"), (8, "major"), (10, "minor"), (12, "header_size"),
                      (16, "required flags"), (23, "informational flags"), (30, "trace_id"),
                      (44, "created"), (50, "reserved")):
        d["file header %s flipped" % what] = flip(data, off, 0x01)
    for off, what in ((0, "magic"), (4, "type"), (6, "codec"), (8, "seq"),
                      (12, "payload_crc"), (16, "raw_len"),
                      (20, "comp_len"), (24, "records"), (40, "prev_hash"), (61, "crc")):
        d["chunk 1 header %s flipped" % what] = flip(data, s1 + off, 0x01)
        d["final chunk header %s flipped" % what] = flip(data, sl + off, 0x01)
    for name, off in (("chunk 0 payload first byte", s0 + 64),
                      ("chunk 0 payload middle", s0 + 64 + (e0 - s0 - 64) // 2),
                      ("chunk 1 payload adler", e1 - 1),
                      ("final chunk payload middle", sl + 64 + (el - sl - 64) // 2),
                      ("final chunk payload adler", el - 2)):
        d[name + " flipped"] = flip(data, off, 0x01)
    # A zlib header with another compression level (and the FCHECK bits that make it
    # valid again) inflates to the same bytes: in the last chunk only payload_crc shows it.
    cmf, flg = data[sl + 64], data[sl + 65]
    level = (((flg >> 6) + 1) % 4) << 6 | (flg & 0x20)
    level |= (31 - (cmf * 256 + level) % 31) % 31
    d["final chunk zlib level bits changed"] = data[:sl + 65] + bytes([level]) + data[sl + 66:]
    head = data[:64]
    d["chunks 0 and 1 swapped"] = head + c[1] + c[0] + b"".join(c[2:])
    d["chunk 0 dropped"] = head + b"".join(c[1:])
    d["chunk 1 dropped"] = head + c[0] + b"".join(c[2:])
    d["chunk 1 duplicated"] = head + c[0] + c[1] + b"".join(c[1:])
    d["final chunk dropped"] = head + b"".join(c[:-1])
    d["final chunk twice"] = data + c[-1]
    d["one zero byte appended"] = data + b"\x00"
    d["64 garbage bytes appended"] = data + bytes(range(64))
    d["garbage appended"] = data + b"FMCK" + bytes(200)
    return d


# ---------------------------------------------------------------------------------------
# The tests

# Small synthesized traces: each option of synth that changes what is written, with as
# few steps and kernels as still show it. The default sizes are covered by the shipped
# example (200 steps, 300 signatures, 10 chunks).
SYNTH = {
    # Evaluation, recomputation and the window without counters (DEGRADATION, which synth
    # writes only after enough steps: hence few kernels but 200 steps).
    "full": ["--seed", "1", "--steps", "200", "--signatures", "5", "--launches-per-step",
             "10"],
    "plain-rank3": ["--seed", "3", "--steps", "8", "--signatures", "30",
                    "--launches-per-step", "60", "--no-eval", "--no-recomputation",
                    "--no-busy", "--rank", "3", "--world-size", "4"],
    "small": ["--seed", "2", "--steps", "10", "--signatures", "50", "--launches-per-step",
              "100"],
}

_traces = {}


def trace(name):
    """Path of a synthesized trace, written once per run."""
    if name not in _traces:
        path = os.path.join(ARGS.workdir, name + ".fmtrace")
        if os.path.exists(path):
            os.remove(path)  # synth and keygen refuse to overwrite
        if name == "signed":
            signed_copy(trace("small"), path, "first", "second")
        else:
            rc, out, err = flopmeter("synth", "--out", path, "--quiet", *SYNTH[name])
            assert rc == 0, "synth failed: " + err
        _traces[name] = path
    return _traces[name]


_key = []


def signing_key():
    """The private key file of a key pair made once per run."""
    if not _key:
        key = os.path.join(ARGS.workdir, "testkey")
        for ext in (".key", ".pub"):
            if os.path.exists(key + ext):
                os.remove(key + ext)
        rc, out, err = flopmeter("keygen", "--out", key)
        assert rc == 0, "keygen failed: " + err
        _key.append(key + ".key")
    return _key[0]


def signed_copy(source, path, *signers):
    """Copies source to path and signs the copy once per signer."""
    with open(source, "rb") as f, open(path, "wb") as g:
        g.write(f.read())
    for signer in signers:
        rc, out, err = flopmeter("sign", "--key", signing_key(), "--signer", signer, path)
        assert rc == 0, "sign failed: " + err


def write(name, data):
    safe = "".join(ch if ch.isalnum() or ch in "-." else "_" for ch in name)
    path = os.path.join(ARGS.workdir, safe + ".fmtrace")
    with open(path, "wb") as f:
        f.write(data)
    return path


def read(path):
    with open(path, "rb") as f:
        return f.read()


TRUNCATION_COUNTS = re.compile(r"(\d+) complete chunks \((\d+) records\)")


class Checks(unittest.TestCase):
    """The two verdicts every case ends in."""

    def case(self, name, check, *args):
        """check(*args) as a subtest; cases in EXPECTED_FAILURES must fail."""
        with self.subTest(case=name):
            reason = EXPECTED_FAILURES.get(name)
            if reason is None:
                check(*args)
                return
            try:
                check(*args)
            except AssertionError as e:
                sys.stderr.write("\nexpected failure %r (%s): %s\n"
                                 % (name, reason, str(e).splitlines()[0]))
            else:
                self.fail("%r passes now: remove it from EXPECTED_FAILURES" % name)

    def check_accepted(self, path):
        """Intact: both read it, and agree on every field."""
        doc, error = reader(path)
        self.assertIsNone(error, "the reader refused it")
        intact, said = c_verify(path)
        self.assertTrue(intact, "flopmeter verify refused it:\n" + said)
        rc, cdoc, err = c_dump(path)
        self.assertEqual(rc, 0, "flopmeter dump: " + err)
        self.assertEqual(first_differences(cdoc, doc), "")
        return doc

    def check_rejected(self, path):
        """Damaged or inconsistent: both reject it, and deliver the same records first."""
        doc, error = reader(path)
        self.assertIsNotNone(error, "the reader accepted it")
        intact, said = c_verify(path)
        self.assertFalse(intact, "flopmeter verify accepted it:\n" + said)
        rc, cdoc, err = c_dump(path)
        if cdoc is None or doc is None:
            # An unusable file header: neither prints a document.
            self.assertIsNone(cdoc, "flopmeter dump printed a document, the reader none")
            self.assertIsNone(doc, "the reader printed a document, flopmeter dump none")
            self.assertEqual(rc, 2, "flopmeter dump status")
            return
        # dump stops at damage (exit 2); it lists a trace that just ends, or one whose
        # records only contradict each other (verify's business), in full (exit 0).
        self.assertEqual(rc, 2 if "error" in cdoc["end"] else 0, "flopmeter dump status")
        self.assertEqual(first_differences(cdoc["header"], doc["header"]), "")
        # "reported as truncated, with the number of complete chunks and records before
        # the cut": both messages must give them, and they must be the numbers delivered.
        truncated = doc["end"].get("error", "").startswith("truncated")
        for who, d in (("flopmeter dump", cdoc), ("the reader", doc)):
            message = d["end"].get("error", "")
            m = TRUNCATION_COUNTS.search(message)
            if m:
                self.assertEqual((int(m.group(1)), int(m.group(2))),
                                 (d["end"]["chunks"], d["end"]["records"]),
                                 "%s: counts in the message differ from the document's: %s"
                                 % (who, message))
            else:
                self.assertFalse(truncated, "%s reports a truncation without its counts: %r"
                                 % (who, message))
        if "error" in cdoc["end"] or "error" not in doc["end"]:
            # Both stop at the same chunk.
            self.assertEqual(first_differences(cdoc["records"], doc["records"]), "")
            pick = lambda d: dict(d["end"], error="error" in d["end"])  # noqa: E731
            self.assertEqual(first_differences(pick(cdoc), pick(doc)), "")
        else:
            # The reader checks everything as it reads, and stops at the chunk where the
            # records stop adding up; what it delivered must be what dump lists first.
            n = len(doc["records"])
            self.assertLess(n, len(cdoc["records"]))
            self.assertEqual(first_differences(cdoc["records"][:n], doc["records"]), "")


class CompareSynthesized(Checks):
    """Intact traces: both read them, and agree on every field."""

    def check_same(self, path):
        doc = self.check_accepted(path)
        # The exit status, not just verify --json's verdict.
        rc, out, err = flopmeter("verify", path)
        self.assertEqual(rc, 0, "flopmeter verify: " + out + err)
        return doc

    def test_synthesized(self):
        for name in SYNTH:
            with self.subTest(trace=name):
                doc = self.check_same(trace(name))
                self.assertGreater(len(doc["records"]), 100)

    def test_shipped_example(self):
        path = os.path.join(HERE, "..", "..", "examples", "example.fmtrace")
        if not os.path.exists(path):
            self.skipTest("no examples/example.fmtrace")
        self.check_same(path)

    def test_signed(self):
        doc = self.check_same(trace("signed"))
        sigs = [r for r in doc["records"] if r["record"] == "signature"]
        self.assertEqual([s["signer"] for s in sigs], ["first", "second"])

    def test_every_kind_compared(self):
        # Guards the comparison itself: every kind must occur in some trace compared with
        # the C dump.
        kinds = set()
        for path in ([trace(name) for name in SYNTH] + [trace("signed")]
                     + [merged_trace("merged")[0]]):
            kinds |= {r["record"] for r in reader(path)[0]["records"]}
        self.assertEqual(kinds, {n for n, _ in fmtrace_reader.KINDS.values()})

    def test_reader_command_line(self):
        # Everything else calls the reader in-process; this checks what its command prints.
        def cli(path):
            rc, out, err = run([sys.executable, READER, path])
            return rc, parse_json(out) if out else None, err

        path = trace("plain-rank3")
        rc, doc, err = cli(path)
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(first_differences(c_dump(path)[1], doc), "")

        data = read(path)
        path = write("cli-truncated", data[:-10])
        rc, doc, err = cli(path)
        self.assertEqual(rc, 2)
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertIn("error", doc["end"])
        self.assertEqual(first_differences(c_dump(path)[1]["records"], doc["records"]), "")

        path = write("cli-incomplete", data[:chunk_spans(data)[-1][0]])
        rc, doc, err = cli(path)
        self.assertEqual(rc, 2, "a trace its writer never closed is not intact")
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertEqual(first_differences(c_dump(path)[1], doc), "")

        path = write("cli-not-a-trace", b"not a trace")
        rc, doc, err = cli(path)
        self.assertEqual((rc, doc, len(err.splitlines())), (2, None, 1), err)
        self.assertEqual(c_dump(path)[:2], (2, None))


# ---------------------------------------------------------------------------------------
# Merged traces written by `flopmeter merge`

# The ranks of one synthesized job, the same options for every rank: thousands of records
# and three chunks per rank.
RANKS = ["--world-size", "3", "--steps", "12"]
# A smaller job, for the cases that need no more than a few hundred records per rank
# (signatures, damage): the reader takes about a second per 15 000 records.
SMALL_RANKS = ["--world-size", "2", "--steps", "4", "--signatures", "20",
               "--launches-per-step", "40"]


def rank_traces(name, options):
    """(directory, its traces) of `flopmeter synth --all-ranks`, written once per run."""
    key = ("ranks", name)
    if key not in _traces:
        d = os.path.join(ARGS.workdir, name)
        shutil.rmtree(d, ignore_errors=True)  # synth refuses to overwrite
        rc, out, err = flopmeter("synth", "--all-ranks", "--out", d, "--quiet", *options)
        assert rc == 0, "synth --all-ranks failed: " + err
        _traces[key] = d, sorted(os.path.join(d, n) for n in os.listdir(d))
    return _traces[key]


def merge(name, *args):
    """`flopmeter merge [options] OUT args...`: (exit status, OUT or None when it was not
    written, stderr), once per run."""
    key = ("merge", name)
    if key not in _traces:
        path = os.path.join(ARGS.workdir, name + ".fmtrace")
        if os.path.exists(path):
            os.remove(path)  # merge refuses to overwrite
        options = [a for a in args if a.startswith("--")]
        inputs = [a for a in args if not a.startswith("--")]
        rc, out, err = flopmeter("merge", *options, path, *inputs)
        _traces[key] = rc, path if os.path.exists(path) else None, err
    return _traces[key]


def merged_trace(name):
    """Path of a merged trace and the paths of its inputs as given to the merge, in the
    order given (a directory stands for its traces)."""
    d, ranks = rank_traces("ranks", RANKS)
    small_dir, small = rank_traces("small-ranks", SMALL_RANKS)
    if name == "merged":
        args, inputs = [d], ranks
    elif name == "merged-small":
        args, inputs = [small_dir], small
    elif name == "merged-signed-input":
        # Input 0 signed twice (the signatures count in its INPUT record).
        signed = os.path.join(ARGS.workdir, "rank0-signed.fmtrace")
        if ("signed-rank0",) not in _traces:
            signed_copy(small[0], signed, "rank 0 first", "rank 0 second")
            _traces["signed-rank0",] = signed
        args = inputs = [signed] + small[1:]
    elif name == "merged-truncated-input":
        # Input 1 cut short inside its second chunk: complete chunks before the cut are
        # merged, the input is recorded as incomplete.
        data = read(ranks[1])
        spans = chunk_spans(data)
        assert len(spans) >= 3, "rank 1 needs a chunk after the first and the final chunk"
        truncated = write("rank1-truncated", data[:(spans[1][0] + spans[1][1]) // 2])
        args = ["--allow-incomplete", ranks[0], truncated, ranks[2]]
        inputs = [ranks[0], truncated, ranks[2]]
    elif name == "merged-forged-signature":
        # Input 0 with two signatures, the second one rewritten: complete, but not valid.
        data = read(merged_trace("merged-signed-input")[1][0])
        s, e = chunk_spans(data)[-1]
        raw = bytearray(zlib.decompress(data[s + 64:e]))
        raw[-1] ^= 0x01  # the signature is the record's last field
        seq = struct.unpack_from("<I", data, s + 8)[0]
        forged = write("rank0-forged", data[:s] + chunk(3, seq, data[s + 28:s + 60],
                                                          bytes(raw), 1))
        args = ["--allow-incomplete", forged, small[1]]
        inputs = [forged, small[1]]
    else:
        raise AssertionError(name)
    rc, path, err = merge(name, *args)
    assert rc == 0 and path, "flopmeter merge %s: %s" % (name, err)
    return path, inputs


# Merges of a directory (the others list their inputs).
DIRECTORY_MERGES = ("merged", "merged-small")

# Which ids each record refers to, beyond strings: field -> the kind that defines the id.
ID_REFERENCES = {
    "kernel_signature": {"callsite": "callsite"},
    "counter_sample": {"signature": "kernel_signature", "group": "metric_group"},
    "aggregate": {"signature": "kernel_signature", "phase": "phase_def"},
    "phase_event": {"phase": "phase_def"},
    "declaration": {"phase": "phase_def"},
}
ID_KINDS = ("callsite", "kernel_signature", "metric_group", "phase_def")


def renumbering_undone(records, strings):
    """Records as they compare across "Ids are renumbered for the merged file (strings are
    shared, other ids are new per input)": without STRING records (a merged trace writes
    each text once), FINAL and SIGNATURE records (not copied) and chunk numbers; string
    references replaced by the texts, every other id by its ordinal among the ids of its
    kind in `records`. A reference to an id these records do not define shows as a
    string saying so. `strings` (id -> text) is updated: a merged trace's inputs share
    it."""
    ordinals = {k: {} for k in ID_KINDS}
    out = []

    def text(i):
        return None if i == 0 else strings.get(i, "<string %d undefined>" % i)

    for r in records:
        name = r["record"]
        if name == "string":
            strings[r["id"]] = r["text"]
            continue
        if name in ("final", "signature"):
            continue
        r = {k: v for k, v in r.items() if k != "chunk"}
        for field, ftype in fmtrace_reader.KINDS[r["record_kind"]][1]:
            if ftype == "ref":
                r[field] = text(r[field])
            elif isinstance(ftype, tuple) and ftype[0] == "list":
                refs = [n for n, t in ftype[2] if t == "ref"]
                if refs:
                    r[field] = [dict(e, **{n: text(e[n]) for n in refs}) for e in r[field]]
        for field, kind in ID_REFERENCES.get(name, {}).items():
            if r[field]:
                r[field] = ordinals[kind].get(r[field], "<%s %d not of this input>"
                                              % (kind, r[field]))
        if name in ID_KINDS:
            table = ordinals[name]
            table[r["id"]] = r["id"] = len(table) + 1
        out.append(r)
    return out


class CompareMerged(Checks):
    """Merged traces: both read them and agree; every INPUT record describes its input as
    the reader reads it, and each input's records in the merged trace are the input's."""

    def check_merged(self, name):
        path, inputs = merged_trace(name)
        inputs = list(inputs)
        doc = self.check_accepted(path)
        rc, out, err = flopmeter("verify", path)
        self.assertEqual(rc, 0, "flopmeter verify: " + out + err)
        self.assertEqual((doc["header"]["minor"], doc["header"]["flags"] & MERGED),
                         (CURRENT, MERGED), "the tool writes merged traces of its version")
        # The inputs, from each RUN_META to the INPUT record that ends it.
        segments, current = [], None
        for r in doc["records"]:
            if r["record"] == "run_meta":
                current = []
            if r["record"] == "input":
                segments.append((r, current))
                current = None
            elif current is not None:
                current.append(r)
        self.assertEqual(len(segments), len(inputs))
        if name in DIRECTORY_MERGES:
            # The traces of a directory, in an order the specification leaves open; each
            # one's path is the directory's joined with its name.
            paths = [rec["path"] for rec, _ in segments]
            self.assertEqual(sorted(paths), sorted(inputs))
            inputs = paths
        c_verify_all(inputs)
        strings = {}
        for index, (given, (rec, records)) in enumerate(zip(inputs, segments)):
            with self.subTest(merged=name, input=index):
                self.check_input(index, given, rec, records, strings)
        return doc, inputs

    def check_input(self, index, given, rec, records, strings):
        idoc, ierror = reader(given)
        irecords = idoc["records"]
        final = next((r for r in irecords if r["record"] == "final"), {})
        # The reader cannot check Ed25519: whether the signatures are valid, and so whether
        # a signed input passed every check, comes from flopmeter verify.
        verdict = _verdicts[given]
        expected = {
            "index": index,
            "path": given,
            "trace_id": idoc["header"]["trace_id"],
            "chain_head": idoc["end"]["chain_head"],
            "chunks": idoc["end"]["chunks"],
            "records": idoc["end"]["records"],
            "complete": int(ierror is None and verdict["intact"] and verdict["complete"]),
            "signatures": sum(r["record"] == "signature" for r in irecords),
            "signatures_valid": verdict["signatures_valid"],
            "rank": irecords[0]["rank"],
            "end_unix_ns": final.get("end_unix_ns", 0),
            "exit_reason": final.get("exit_reason", 0),
            "records_dropped": final.get("records_dropped", 0),
        }
        self.assertEqual({k: rec[k] for k in expected}, expected, "input record")
        mine = renumbering_undone(records, strings)
        theirs = renumbering_undone(irecords, {})
        self.assertEqual(len(mine), len(theirs), "records of the input in the merged trace")
        for i, (a, b) in enumerate(zip(mine, theirs)):
            self.assertEqual(a, b, "record %d of the input (strings left out)" % i)

    def test_merged_ranks(self):
        # `flopmeter merge OUT DIR`: a directory stands for its traces.
        doc, inputs = self.check_merged("merged")
        self.assertEqual(sorted(r["rank"] for r in doc["records"] if r["record"] == "input"),
                         [0, 1, 2])

    def test_merged_signed_input(self):
        doc, inputs = self.check_merged("merged-signed-input")
        first = next(r for r in doc["records"] if r["record"] == "input")
        self.assertEqual((first["signatures"], first["signatures_valid"], first["complete"]),
                         (2, 2, 1))

    def test_merged_truncated_input(self):
        ranks = rank_traces("ranks", RANKS)[1]
        truncated = merged_trace("merged-truncated-input")[1][1]
        # Without --allow-incomplete the merge refuses, and writes nothing.
        rc, path, err = merge("refused-truncated-input", ranks[0], truncated)
        self.assertEqual((rc, path), (2, None), err)
        doc, inputs = self.check_merged("merged-truncated-input")
        second = [r for r in doc["records"] if r["record"] == "input"][1]
        self.assertEqual((second["complete"], second["exit_reason"]), (0, 0))
        self.assertGreater(second["records"], 0)

    def test_merged_forged_signature(self):
        forged = merged_trace("merged-forged-signature")[1][0]
        rc, path, err = merge("refused-forged-signature", forged)
        self.assertEqual((rc, path), (2, None), err)
        doc, inputs = self.check_merged("merged-forged-signature")
        first = next(r for r in doc["records"] if r["record"] == "input")
        self.assertEqual((first["signatures"], first["signatures_valid"], first["complete"]),
                         (2, 1, 0))

    def test_signed_merged_trace(self):
        # `flopmeter merge --help`: the merged trace "is itself verifiable and signable".
        path = os.path.join(ARGS.workdir, "merged-signed.fmtrace")
        signed_copy(merged_trace("merged-small")[0], path, "merged")
        doc = self.check_accepted(path)
        self.assertEqual(doc["records"][-1]["record"], "signature")

    def test_damaged_merged(self):
        # A merged trace re-cut into three record chunks (its INPUT records inside them),
        # then damaged as in RejectDamage.
        self.check_merged("merged-small")
        data = reframe(merged_trace("merged-small")[0], 3)
        self.check_accepted(write("merged-reframed", data))
        paths = {name: write("damaged-merged-" + name, d) for name, d in damages(data).items()}
        c_verify_all(paths.values())
        for name, p in paths.items():
            self.case("merged: " + name, self.check_rejected, p)


class RejectDamage(Checks):
    """Damaged copies: both reject, and both deliver the same intact records first."""

    def check_all(self, cases):
        paths = {name: write("damaged-" + name, data) for name, data in cases.items()}
        c_verify_all(paths.values())
        for name, path in paths.items():
            self.case(name, self.check_rejected, path)
        return paths

    def test_damaged_copies(self):
        # Three record chunks and the final chunk; the records are synth's.
        data = reframe(trace("plain-rank3"), 3)
        self.check_accepted(write("reframed", data))
        self.check_all(damages(data))

    def test_damaged_signed(self):
        # The writer's own framing, with signature chunks after the final chunk.
        data = read(trace("signed"))
        spans = chunk_spans(data)
        final = spans[-3]  # the two signature chunks follow it
        paths = self.check_all({
            "signed: final payload flipped": flip(data, final[0] + 64 + 5, 0x01),
            "signed: first signature chunk dropped": data[:spans[-2][0]] + data[spans[-1][0]:],
            "signed: signatures swapped": data[:spans[-2][0]] + data[spans[-1][0]:]
            + data[spans[-2][0]:spans[-2][1]],
            "signed: truncated in the last signature": data[:-3],
            "signed: truncated in the final chunk": data[:final[1] - 3],
        })
        # Truncation reports count every record delivered, the FINAL and SIGNATURE
        # records of complete chunks included (the message's counts are checked against
        # these in check_rejected).
        total = len(reader(trace("signed"))[0]["records"])
        for name, chunks, records in (
                ("signed: truncated in the last signature", len(spans) - 1, total - 1),
                ("signed: truncated in the final chunk", len(spans) - 3, total - 3)):
            for who, doc in (("flopmeter dump", c_dump(paths[name])[1]),
                             ("the reader", reader(paths[name])[0])):
                with self.subTest(case=name, who=who):
                    end = doc["end"]
                    self.assertEqual((end["chunks"], end["records"]), (chunks, records))

    def test_chain_head_without_chunks(self):
        # "The chain head of a trace is the SHA-256 of its last chunk (of the file header
        # while there is no chunk)"; such a file is incomplete, not damaged.
        header = file_header()
        path = write("header-only", header)
        rc, cdoc, err = c_dump(path)
        doc, error = reader(path)
        expected = {"complete": False, "chunks": 0, "records": 0,
                    "chain_head": hashlib.sha256(header).hexdigest()}
        self.assertEqual((rc, cdoc["end"]), (0, expected))
        self.assertEqual(doc["end"], expected)
        self.assertIsNotNone(error)

    def test_forged_signature_rejected_by_c(self):
        # A rewritten signature with a consistent chunk around it: only an Ed25519 check
        # catches it, which the reader does not have -- so only the C tool must reject it.
        data = read(trace("signed"))
        s, e = chunk_spans(data)[-1]
        raw = bytearray(zlib.decompress(data[s + 64:e]))
        raw[-1] ^= 0x01  # the signature is the record's last field
        seq = struct.unpack_from("<I", data, s + 8)[0]
        forged = data[:s] + chunk(3, seq, data[s + 28:s + 60], bytes(raw), 1)
        path = write("forged-signature", forged)
        intact, said = c_verify(path)
        self.assertFalse(intact, "flopmeter verify accepted a forged signature:\n" + said)
        doc, error = reader(path)
        self.assertIsNone(error, "the reader should find nothing wrong but the signature")


class CraftedTraces(Checks):
    """Traces built from the specification alone."""

    def check_table(self, prefix, table, check):
        paths = {name: write(prefix + name, make()) for name, make in table.items()}
        c_verify_all(paths.values())
        for name, path in paths.items():
            self.case(name, check, path)

    def test_valid(self):
        self.check_table("valid-", VALID, self.check_accepted)

    def test_newer_minor(self):
        self.check_table("minor-", NEWER_MINOR, self.check_accepted)

    def test_invalid(self):
        self.check_table("invalid-", INVALID, self.check_rejected)

    def test_launch_overflow_without_final_chunk(self):
        # "a trace whose launch counts add up to 2^64 or more is damaged" -- also when its
        # writer never closed it, so `verify --allow-incomplete` must not accept it. The
        # reader has no such option; its end record tells damage from a trace that just
        # ends.
        def incomplete(launches):
            b = Builder().add(1, **run_meta()).add(3, **string_record(1, "k"))
            b.add(5, **kernel(id=1, name=1))
            for n in launches:
                b.add(8, **agg(launches=n))
            return write("incomplete-launches-%d" % sum(launches), b.build())

        def allow_incomplete(path):
            rc, out, err = flopmeter("verify", "--allow-incomplete", path)
            return rc, out + err

        path = incomplete([1 << 63, (1 << 63) - 1])
        rc, said = allow_incomplete(path)
        self.assertEqual(rc, 0, "a trace that just ends, with 2^64 - 1 launches:\n" + said)
        self.assertNotIn("error", reader(path)[0]["end"])

        def overflow(path):
            self.assertIn("error", reader(path)[0]["end"], "the reader did not call it damaged")
            rc, said = allow_incomplete(path)
            self.assertEqual(rc, 2, "flopmeter verify --allow-incomplete accepted it:\n" + said)

        self.case("launches adding up to 2^64 without final chunk", overflow,
                  incomplete([1 << 63, 1 << 63]))

    def test_major_version_named(self):
        # "A reader refuses a file whose major version differs from its own, naming both
        # versions."
        path = write("major-2", with_base(major=2, minor=0)())
        rc, out, err = flopmeter("verify", path)
        error = reader(path)[1]
        for who, text in (("flopmeter verify", out + err), ("the reader", error)):
            self.assertRegex(text, r"2\.0\b.*\b1\.(%d|x)\b" % CURRENT, who)

    def test_precision_class_bytes(self):
        # Every byte as the class of a metric and of an aggregate figure: in a 1.1 or 1.0
        # file only the 22 classes of 1.0 (1.1 added none; and 0xFF, in metric groups
        # only) are intact. Only the verdicts are compared; the dumps of the accepted ones
        # are compared in "every valid precision class".
        paths = {}
        for minor in (OLDER, CURRENT):
            for c in range(256):
                paths[c, "metric group", minor] = write(
                    "class-metric-%02x-1.%d" % (c, minor),
                    with_base(add(6, **metric_group(2, c)), minor=minor)())
                paths[c, "aggregate", minor] = write(
                    "class-aggregate-%02x-1.%d" % (c, minor),
                    with_base(add(8, **agg(classes=classes((c, 1.0, 0.0)))), minor=minor)())
        c_verify_all(paths.values())
        for (c, where, minor), path in paths.items():
            valid = (c in fmtrace_reader.PRECISION_CLASSES
                     or (c == 0xFF and where == "metric group"))
            with self.subTest(precision_class="0x%02x" % c, where=where,
                              version="1.%d" % minor):
                error = reader(path)[1]
                intact, said = c_verify(path)
                self.assertEqual(error is None, valid, "the reader: %s" % error)
                self.assertEqual(intact, valid, "flopmeter verify:\n" + said)


def main():
    global ARGS
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--flopmeter", required=True, help="the flopmeter binary")
    p.add_argument("--workdir", help="where traces are written and kept (default: a "
                   "temporary directory, removed afterwards)")
    ARGS, rest = p.parse_known_args()
    ARGS.flopmeter = os.path.abspath(ARGS.flopmeter)
    # Whatever argparse did not take (-v, test names) goes to unittest.
    argv = [sys.argv[0]] + rest
    if ARGS.workdir:
        os.makedirs(ARGS.workdir, exist_ok=True)
        unittest.main(argv=argv)
    with tempfile.TemporaryDirectory(prefix="fmtrace-compare-") as tmp:
        ARGS.workdir = tmp
        result = unittest.main(argv=argv, exit=False).result
    sys.exit(0 if result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
