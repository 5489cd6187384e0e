#!/usr/bin/env python3
"""Cross-checks the C `flopmeter` tool against the independent reader fmtrace_reader.py.

    python3 compare_with_dump.py --flopmeter PATH/TO/flopmeter [--workdir DIR] [unittest args]

1. Traces written by `flopmeter synth` (small ones with different options, one of them
   signed twice with `flopmeter sign`) and the shipped example are read by
   `flopmeter dump --json` and by the independent reader; every record and every field must
   agree exactly (same keys in the same order, integers equal, floats equal bit for bit).
2. Damaged copies of a trace (truncated, bytes flipped, chunks swapped, dropped or
   duplicated, garbage appended) must be rejected by both `flopmeter verify` and the
   reader, and both must deliver the same intact records before the damage.
3. Traces built here byte by byte, from the specification, probe what synth never writes:
   extreme values, newer minor versions, unknown enumeration values, every precision class
   byte, and content the specification forbids. Each case states what the specification
   says; both implementations must agree with it.

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

ARGS = None  # the parsed command line, set in main()

# Cases (by name) where the C tool disagrees with the specification: name -> reason. The
# check must fail for them; when one passes, the test says so, and the entry goes.
EXPECTED_FAILURES = {}


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


def file_header(major=1, minor=0, header_size=64, flags=0, reserved=bytes(16),
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
def base(minor=0, **header):
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


def with_base(*steps, final=None, minor=0, **header):
    """A case: the base trace, then steps, then the final chunk (with overrides)."""
    def make():
        b = base(minor=minor, **header)
        for s in steps:
            s(b)
        b.final(**(final or {}))
        return b.build()
    return make


def builder_case(fn, minor=0):
    """A case: the base trace, then fn(builder), which writes the final chunk itself."""
    def make():
        b = base(minor=minor)
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


U64MAX = MASK64
BASE_FINAL_CLASSES = classes((1, 0.1 + 0.2, 0.2 + 0.1), (0x14, 3.0, 1e300))
MERGED = 1 << 32
VALID_CLASSES = sorted(fmtrace_reader.PRECISION_CLASSES)
# Class bytes no 1.0 writer writes, a sample of each way to be unknown: a CUDA-core class
# that does not exist (tf32, fp8), fp32 on tensor cores, sparse fp64, sparsity without
# tensor cores, formats 10-15, the high bits.
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
    "informational flags": with_base(flags=MERGED | (1 << 63)),
    # "a trace with the merged flag holds one [RUN_META] per merged input, the first of
    # them first".
    "merged trace with a run_meta per input": with_base(
        add(1, **run_meta(host="second input")), flags=MERGED),
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

# A minor version above 1.0 may add record kinds, fields and enumeration values; a 1.0
# reader skips, ignores or shows them (JSON: as their numbers). Both must accept, and agree.
NEWER_MINOR = {
    "unknown record kind": with_base(raw_record(99, b"\x01\x02\x03"), minor=1),
    "record kind 2^32 - 1": with_base(raw_record((1 << 32) - 1, b"\x00"), minor=1),
    "appended fields": with_base(raw_record(3, enc_body(3, string_record(6, "x")) + b"\x05\x06"),
                                 minor=1),
    "records = raw_len / 2": with_base(empty_unknown_records(10), minor=1),
    "minor 65535": with_base(minor=65535),
    "unknown precision classes in an aggregate": with_base(
        add(8, **agg(classes=classes(*[(c, 1.0, 0.0) for c in UNKNOWN_CLASSES]))), minor=1),
    "unknown precision classes in a metric group": with_base(
        add(6, **metric_group(2, *UNKNOWN_CLASSES)), minor=1),
    "unknown phase category": with_base(add(9, id=2, name=3, category=9), minor=1),
    "unknown phase action": with_base(add(10, time_ns=1, thread_id=1, phase=1, action=3),
                                      minor=1),
    "unknown degradation kind": with_base(
        add(12, time_ns=1, kind=10, api_result=0, launches_affected=0, message=""), minor=1),
    "unknown exit reason": with_base(final=dict(exit_reason=4), minor=1),
    # Nothing to check it with (Ed25519 fixes the key and signature sizes, this one does
    # not exist in 1.0); verify counts it as present but not valid.
    "signature of unknown algorithm": builder_case(lambda b: b.final().signature(
        algorithm=2, public_key=b"", signature=b"x"), minor=1),
    "appended fields in the final record": with_base(final=dict(appended=b"\x01"), minor=1),
}


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
    "header_size 128 (minor 1)": with_base(header_size=128, minor=1),
    "required flag": with_base(flags=1),
    "required flag (minor 1)": with_base(flags=1 << 31, minor=1),
    "reserved byte": with_base(reserved=b"\x01" + bytes(15)),
    "no chunks at all": lambda: file_header(),
    # chunk header (the base trace's second chunk, seq 1, is the one lied about)
    "codec 2": builder_case(lambda b: b.cut(codec=2).final()),
    "chunk type 4": builder_case(lambda b: b.cut(ctype=4).final()),
    # Minor versions add record kinds and fields, not chunk types or codecs.
    "codec 2 (minor 1)": builder_case(lambda b: b.cut(codec=2).final(), minor=1),
    "chunk type 4 (minor 1)": builder_case(lambda b: b.cut(ctype=4).final(), minor=1),
    "seq repeated": builder_case(lambda b: b.cut(seq=0).final()),
    "seq skips one": builder_case(lambda b: b.cut(seq=2).final()),
    "zero records": builder_case(lambda b: b.cut(nrecords=0).final()),
    "records > raw_len / 2": with_base(empty_unknown_records(10, nrecords=11), minor=1),
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
    "record kind 0 (minor 1)": with_base(raw_record(0, b""), minor=1),
    "record kind 2^32 (minor 1)": with_base(raw_record(1 << 32, b""), minor=1),
    "record kind 2^64 - 1 (minor 1)": with_base(raw_record(U64MAX, b""), minor=1),
    # Skipping unknown kinds and ignoring appended bytes is for newer-minor files only.
    "unknown record kind in a 1.0 file": with_base(raw_record(99, b"")),
    "varint 10th byte 2": with_base(raw_record(12, b"\xff" * 9 + b"\x02" + bytes(4))),
    "varint of 11 bytes": with_base(raw_record(12, b"\x80" * 10 + b"\x00" + bytes(4))),
    "body too short": with_base(raw_record(3, b"\x06")),
    # Newer minor versions only append fields; they never drop one.
    "body too short (minor 1)": with_base(raw_record(3, b"\x06"), minor=1),
    "bytes after the fields (minor 0)": with_base(
        raw_record(3, enc_body(3, string_record(6, "x")) + b"\x00")),
    "bytes after the final record's fields (minor 0)": with_base(final=dict(appended=b"\x01")),
    "str longer than its body": with_base(raw_record(3, b"\x06\x05ab")),
    "final in a records chunk": builder_case(lambda b: b.final(ctype=1)),
    "final chunk with two records": builder_case(lambda b: b.final(
        extra_records=[enc_record(3, enc_body(3, string_record(6, "x")))])),
    "final chunk with an unknown record too (minor 1)": builder_case(lambda b: b.final(
        extra_records=[enc_record(99, b"")]), minor=1),
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
    "run_meta not first (minor 1)": no_run_meta_first(minor=1),
    "run_meta twice": with_base(lambda b: b.add_raw(b.chunks[0][1][0])),
    "unknown record kind before run_meta (minor 1)": lambda: (
        Builder(minor=1).add_raw(enc_record(99, b"")).add(1, **run_meta()).final().build()),
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
    "metric group without metrics (minor 1)": with_base(add(6, id=2, chip="", metrics=[]),
                                                        minor=1),
    # Enumeration values 1.0 does not define, in a 1.0 file (every precision class byte is
    # tried in CraftedTraces.test_precision_class_bytes).
    "unknown phase category in a 1.0 file": with_base(add(9, id=2, name=3, category=9)),
    "unknown phase action in a 1.0 file": with_base(
        add(10, time_ns=1, thread_id=1, phase=1, action=3)),
    "phase action 0 in a 1.0 file": with_base(
        add(10, time_ns=1, thread_id=1, phase=1, action=0)),
    "unknown degradation kind in a 1.0 file": with_base(
        add(12, time_ns=1, kind=10, api_result=0, launches_affected=0, message="")),
    "unknown exit reason in a 1.0 file": with_base(final=dict(exit_reason=4)),
    "signature of unknown algorithm 2 in a 1.0 file": builder_case(
        lambda b: b.final().signature(algorithm=2)),
    # "0xFF never appears in class lists", not even in a newer minor version.
    "precision class 0xFF in an aggregate": with_base(
        add(8, **agg(classes=classes((0xFF, 1.0, 0.0))))),
    "precision class 0xFF in an aggregate (minor 1)": with_base(
        add(8, **agg(classes=classes((0xFF, 1.0, 0.0)))), minor=1),
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
}


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
    b = Builder()
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
            with open(trace("small"), "rb") as f, open(path, "wb") as g:
                g.write(f.read())
            key = os.path.join(ARGS.workdir, "testkey")
            for ext in (".key", ".pub"):
                if os.path.exists(key + ext):
                    os.remove(key + ext)
            rc, out, err = flopmeter("keygen", "--out", key)
            assert rc == 0, "keygen failed: " + err
            for signer in ("first", "second"):
                rc, out, err = flopmeter("sign", "--key", key + ".key", "--signer", signer,
                                         path)
                assert rc == 0, "sign failed: " + err
        else:
            rc, out, err = flopmeter("synth", "--out", path, "--quiet", *SYNTH[name])
            assert rc == 0, "synth failed: " + err
        _traces[name] = path
    return _traces[name]


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
        for path in [trace(name) for name in SYNTH] + [trace("signed")]:
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
        path = write("major-2", with_base(major=2)())
        rc, out, err = flopmeter("verify", path)
        error = reader(path)[1]
        for who, text in (("flopmeter verify", out + err), ("the reader", error)):
            self.assertRegex(text, r"2\.0\b.*\b1\.(0|x)\b", who)

    def test_precision_class_bytes(self):
        # Every byte as the class of a metric and of an aggregate figure: in a 1.0 file
        # only the 22 classes of 1.0 (and 0xFF, in metric groups only) are intact. Only
        # the verdicts are compared; the dumps of the accepted ones are compared in
        # "every valid precision class".
        paths = {}
        for c in range(256):
            paths[c, "metric group"] = write("class-metric-%02x" % c, with_base(
                add(6, **metric_group(2, c)))())
            paths[c, "aggregate"] = write("class-aggregate-%02x" % c, with_base(
                add(8, **agg(classes=classes((c, 1.0, 0.0)))))())
        c_verify_all(paths.values())
        for (c, where), path in paths.items():
            valid = (c in fmtrace_reader.PRECISION_CLASSES
                     or (c == 0xFF and where == "metric group"))
            with self.subTest(precision_class="0x%02x" % c, where=where):
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
