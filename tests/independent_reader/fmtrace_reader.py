#!/usr/bin/env python3
"""Independent reader of the flopmeter trace format 1.1.

Written only from docs/trace-format.md, without looking at the C implementation, so that
the two can check each other: wherever they disagree, either the C code or the
specification is wrong (or the specification is ambiguous).

Usage: python3 fmtrace_reader.py TRACE

Prints one JSON document shaped exactly like `flopmeter dump --json`: "file", "header",
"records" (each {"chunk", "record", "record_kind", fields...}) and "end" ({"complete",
"chunks", "records", "chain_head"}, plus "error" when the file is damaged or truncated).
The records of every chunk that passed all checks before a problem are listed, as the
specification asks of a reader that meets a truncated file. Like `flopmeter dump`, it
prints no document at all when the file header is unusable.

Unlike `flopmeter dump`, which lists a trace whose records are inconsistent with each
other, this reader verifies as it reads (like `flopmeter verify`): it stops at the first
chunk with any problem. Every problem is one line on stderr; the exit status is 0 for an
intact, complete trace and 2 otherwise (damaged, truncated, or never closed by its writer).

Versions: a 1.0 file is read with 1.0's rules (kind 15, INPUT, is then an unknown kind,
hence damage; a merged 1.0 trace has one RUN_META per input and nothing else marks the
inputs); a 1.1 file with 1.1's; a file of minor version 2 or higher with 1.1's, skipping the
record kinds, appended fields and enumeration values 1.1 does not define.

Standard library only. Ed25519 signatures are not verified (the standard library has no
Ed25519); only their structure and the head they claim to sign are checked.
"""

import codecs
import hashlib
import json
import math
import struct
import sys
import zlib

# The format version this reader implements. Files of a higher minor version are read,
# skipping what 1.1 does not define; files of another major version are refused.
READER_MAJOR = 1
READER_MINOR = 1

FILE_MAGIC = b"\x89FLOP\r\n\x1a"
CHUNK_MAGIC = b"FMCK"
HEADER_SIZE = 64
CHUNK_HEADER_SIZE = 64
FLAG_MERGED = 1 << 32

CHUNK_RECORDS, CHUNK_FINAL, CHUNK_SIGNATURE = 1, 2, 3
CODEC_ZLIB = 1

MAX_RAW_LEN = 16 * 1024 * 1024
# zlib's compressBound(n) = n + (n >> 12) + (n >> 14) + (n >> 25) + 13. Spelled out here
# because Python's zlib module does not expose compressBound.
MAX_COMP_LEN = MAX_RAW_LEN + (MAX_RAW_LEN >> 12) + (MAX_RAW_LEN >> 14) + (MAX_RAW_LEN >> 25) + 13
MAX_RECORD_LEN = 4 * 1024 * 1024
MAX_KIND = (1 << 32) - 1
U64_LIMIT = 1 << 64

MAX_CONFIG = 4096
MAX_FRAMES = 512
MAX_METRICS = 1024
MAX_VALUES = 1024
MAX_CLASSES = 256

# Enumerations of version 1.0 (1.1 added none). In a file of this minor version (or an
# older one) any other value is damage; in a newer-minor file it is shown (as its number)
# and accepted.
PHASE_CATEGORIES = frozenset(range(0, 9))
PHASE_ACTIONS = frozenset((1, 2))
DEGRADATION_KINDS = frozenset(range(0, 10))
EXIT_REASONS = frozenset(range(0, 4))
ED25519 = 1
SIGNATURE_ALGORITHMS = frozenset((ED25519,))
# Precision classes: format in bits 0-3, tensor cores in bit 4, 2:4 sparsity in bit 5.
# CUDA cores: fp64 fp32 fp16 bf16 int8; tensor cores: all but fp32; sparse: all tensor
# formats but fp64. 22 in all.
PRECISION_CLASSES = frozenset(
    [0, 1, 3, 4, 8]
    + [0x10 | f for f in (0, 2, 3, 4, 5, 6, 7, 8, 9)]
    + [0x30 | f for f in (2, 3, 4, 5, 6, 7, 8, 9)])
NO_OPERATIONS = 0xFF  # METRIC_GROUP only; never in a class list

KIND_RUN_META, KIND_FINAL, KIND_SIGNATURE, KIND_INPUT = 1, 13, 14, 15

# Record kinds. The field lists below are the specification's tables, in body order.
# Field types:
#   u, s, f64, u8, h64, str  -- as in the spec's encoding table
#   ref                      -- u, the id of an earlier STRING
#   raw                      -- str-encoded, but binary content (shown as hex)
#   ("bytes", n)             -- exactly n bytes (shown as hex)
#   ("u3",)                  -- three u (grid and block dimensions)
#   ("list", limit, fields)  -- u count, then count tuples of fields
#   ("f64list", limit)       -- u count, then count f64
# The compare script encodes test traces from these same tables.
CLASSES_LIST = ("list", MAX_CLASSES, [("class", "u8"), ("measured", "f64"),
                                      ("extrapolated", "f64")])

KINDS = {
    1: ("run_meta", [
        ("tool_version", "str"), ("run_id", "str"), ("host", "str"), ("pid", "u"),
        ("rank", "s"), ("local_rank", "s"), ("world_size", "u"), ("start_unix_ns", "u"),
        ("cuda_driver_version", "u"), ("cuda_runtime_version", "u"), ("cupti_version", "u"),
        ("command", "str"),
        ("config", ("list", MAX_CONFIG, [("key", "str"), ("value", "str")])),
    ]),
    2: ("device", [
        ("device", "u"), ("name", "str"), ("uuid", ("bytes", 16)), ("chip", "str"),
        ("cc_major", "u"), ("cc_minor", "u"), ("sm_count", "u"), ("memory_bytes", "u"),
        ("pci_bus_id", "str"),
    ]),
    3: ("string", [("id", "u"), ("text", "str")]),
    4: ("callsite", [
        ("id", "u"),
        ("frames", ("list", MAX_FRAMES, [("module", "ref"), ("symbol", "ref"),
                                         ("offset", "u")])),
    ]),
    5: ("kernel_signature", [
        ("id", "u"), ("name", "ref"), ("device", "u"), ("grid", ("u3",)), ("block", ("u3",)),
        ("shared_mem_dynamic", "u"), ("arg_hash", "h64"), ("callsite", "u"),
        ("first_seen_ns", "u"),
    ]),
    6: ("metric_group", [
        ("id", "u"), ("chip", "str"),
        ("metrics", ("list", MAX_METRICS, [("name", "ref"), ("class", "u8"),
                                           ("weight", "f64")])),
    ]),
    7: ("counter_sample", [
        ("signature", "u"), ("launch_ordinal", "u"), ("group", "u"), ("time_ns", "u"),
        ("duration_ns", "u"), ("passes", "u"), ("values", ("f64list", MAX_VALUES)),
    ]),
    8: ("aggregate", [
        ("interval_start_ns", "u"), ("interval_end_ns", "u"), ("signature", "u"),
        ("phase", "u"), ("launches", "u"), ("launches_measured", "u"),
        ("launches_extrapolated", "u"), ("busy_ns", "u"), ("classes", CLASSES_LIST),
    ]),
    9: ("phase_def", [("id", "u"), ("name", "ref"), ("category", "u")]),
    10: ("phase_event", [("time_ns", "u"), ("thread_id", "u"), ("phase", "u"),
                         ("action", "u")]),
    11: ("declaration", [("time_ns", "u"), ("key", "ref"), ("value", "f64"), ("text", "ref"),
                         ("phase", "u")]),
    12: ("degradation", [("time_ns", "u"), ("kind", "u"), ("api_result", "s"),
                         ("launches_affected", "u"), ("message", "str")]),
    13: ("final", [
        ("end_unix_ns", "u"), ("exit_reason", "u"), ("chunk_count", "u"),
        ("record_count", "u"), ("records_dropped", "u"), ("launches_total", "u"),
        ("classes", CLASSES_LIST), ("chain_head", ("bytes", 32)),
    ]),
    14: ("signature", [
        ("algorithm", "u"), ("public_key", "raw"), ("signed_head", ("bytes", 32)),
        ("time_ns", "u"), ("signer", "str"), ("signature", "raw"),
    ]),
    15: ("input", [
        ("index", "u"), ("path", "str"), ("trace_id", ("bytes", 16)),
        ("chain_head", ("bytes", 32)), ("chunks", "u"), ("records", "u"), ("complete", "u"),
        ("signatures", "u"), ("signatures_valid", "u"), ("rank", "s"), ("end_unix_ns", "u"),
        ("exit_reason", "u"), ("records_dropped", "u"),
    ]),
}

# The minor version that added a kind: in a file of an older minor version the kind is
# unknown (so damage there, as every unknown kind in a file not newer than this reader).
KIND_SINCE = {KIND_INPUT: 1}


def _replace_one_byte(err):
    # One U+FFFD per invalid byte, as `flopmeter dump` writes them; Python's own "replace"
    # would write one for a whole truncated multi-byte sequence.
    return "\ufffd", err.start + 1


codecs.register_error("fmtrace-per-byte", _replace_one_byte)


class TraceError(Exception):
    """The file is not an intact, complete trace; the message says why."""


class BodyError(Exception):
    """A problem inside one record body; the caller adds where it is."""


# -- field decoders ---------------------------------------------------------------------
# Each takes (body, pos) and returns (value, new pos). Bodies are decoded field by field
# from bytes objects; running off the end shows as IndexError or struct.error, which the
# record loop turns into "body too short" -- cheaper than checking before every read.

def read_varint(data, pos):
    """Unsigned LEB128: at most 10 bytes, and the 10th may only be 0 or 1 -- exactly what
    keeps the value within 64 bits. Longer than necessary encodings are valid."""
    b = data[pos]
    if b < 0x80:
        return b, pos + 1
    value = b & 0x7F
    for i in range(1, 10):
        b = data[pos + i]
        if i == 9 and b > 1:
            raise BodyError("varint's 10th byte is 0x%02x (only 0 or 1 allowed)" % b)
        value |= (b & 0x7F) << (7 * i)
        if b < 0x80:
            return value, pos + i + 1
    raise AssertionError("unreachable: the 10th byte is at most 1, so has no continuation")


def _take(data, pos, n):
    end = pos + n
    if end > len(data):
        raise IndexError  # reported as a short body
    return data[pos:end], end


def _s(data, pos):
    n, pos = read_varint(data, pos)
    # Inverse of (n << 1) ^ (n >> 63): the low bit carries the sign.
    return (n >> 1) ^ -(n & 1), pos


_F64 = struct.Struct("<d")
_H64 = struct.Struct("<Q")


def _f64(data, pos):
    return _F64.unpack_from(data, pos)[0], pos + 8


def _u8(data, pos):
    return data[pos], pos + 1


def _h64(data, pos):
    # Shown most significant byte first, as a 64-bit hash value is usually written.
    return "%016x" % _H64.unpack_from(data, pos)[0], pos + 8


def _raw(data, pos):
    n, pos = read_varint(data, pos)
    return _take(data, pos, n)


def _str(data, pos):
    # UTF-8 is expected but not enforced by the format.
    b, pos = _raw(data, pos)
    return b.decode("utf-8", errors="fmtrace-per-byte"), pos


def _u3(data, pos):
    x, pos = read_varint(data, pos)
    y, pos = read_varint(data, pos)
    z, pos = read_varint(data, pos)
    return [x, y, z], pos


def _compile(ftype, name):
    """The decoder function of one field type."""
    simple = {"u": read_varint, "ref": read_varint, "s": _s, "f64": _f64, "u8": _u8,
              "h64": _h64, "str": _str, "raw": _raw}
    if isinstance(ftype, str):
        return simple[ftype]
    kind = ftype[0]
    if kind == "u3":
        return _u3
    if kind == "bytes":
        n = ftype[1]

        def fixed(data, pos):
            b, pos = _take(data, pos, n)
            return b.hex(), pos
        return fixed
    limit = ftype[1]

    def count(data, pos):
        c, pos = read_varint(data, pos)
        if c > limit:
            raise BodyError("%s has %d entries, the limit is %d" % (name, c, limit))
        return c, pos
    if kind == "f64list":
        def f64list(data, pos):
            c, pos = count(data, pos)
            return list(struct.unpack_from("<%dd" % c, data, pos)), pos + 8 * c
        return f64list
    if kind == "list":
        elements = [(fname, _compile(ft, fname)) for fname, ft in ftype[2]]

        def tuples(data, pos):
            c, pos = count(data, pos)
            out = []
            for _ in range(c):
                e = {}
                for fname, dec in elements:
                    e[fname], pos = dec(data, pos)
                out.append(e)
            return out, pos
        return tuples
    raise AssertionError("unknown field type %r" % (ftype,))


DECODERS = {kind: (name, [(fname, _compile(ft, fname)) for fname, ft in fields])
            for kind, (name, fields) in KINDS.items()}


def nonneg(v):
    """The rule for counts of operations and counter values: finite and >= 0 (-0.0
    included, as IEEE 754 has it)."""
    return math.isfinite(v) and v >= 0


def f64_bits(v):
    return _F64.pack(v)


class Reader:
    """Reads one trace from a binary file object, chunk by chunk (bounded memory apart
    from the id tables and the records it returns)."""

    def __init__(self, f):
        self.f = f
        self.offset = 0          # byte offset of the next unread byte
        self.header = None       # decoded file header, once read
        self.minor = None
        self.strict = True       # the file's minor version <= ours: no unknowns allowed
        self.merged = False
        self.decoders = DECODERS  # the kinds this file's version defines, set from its header
        # Inputs of a merged trace of version 1.1 or newer: each is opened by its RUN_META
        # and closed by its INPUT record.
        self.inputs_marked = False  # merged, and of a version that has INPUT records
        self.inputs = 0             # INPUT records so far
        self.input_open = False     # a RUN_META whose INPUT record has not come yet
        self.input_rank = None      # the rank in that RUN_META
        self.records = []        # records of chunks that passed every check
        self.chunks = 0          # complete, intact chunks
        self.record_count = 0    # records in those chunks
        self.prev_hash = None    # what the next chunk's prev_hash must be
        self.final_seen = False
        self.incomplete = False  # ended cleanly between chunks without a final chunk
        # Ids defined so far, per kind ("unique per kind within a trace").
        self.strings = set()
        self.callsites = set()
        self.kernel_signatures = set()
        self.metric_groups = {}  # id -> number of metrics, to check sample value counts
        self.phases = set()
        # Running AGGREGATE sums for the FINAL check, added in record order.
        self.launches_total = 0
        self.class_sums = {}     # class -> [measured, extrapolated]

    # -- file level -------------------------------------------------------------------

    def read_exact(self, n):
        data = self.f.read(n)
        self.offset += len(data)
        return data

    def run(self):
        self.read_file_header()
        while True:
            start = self.offset
            head = self.read_exact(CHUNK_HEADER_SIZE)
            if not head:
                break
            if len(head) < CHUNK_HEADER_SIZE:
                self.truncated(start, "inside the header of chunk %d" % self.chunks)
            self.read_chunk(head, start)
        if not self.final_seen:
            self.incomplete = True
            raise TraceError("incomplete: the file ends after %d chunks (%d records) without "
                             "a final chunk; the writer never closed the trace"
                             % (self.chunks, self.record_count))

    def truncated(self, start, where):
        raise TraceError("truncated: the file ends %s (byte offset %d); %d complete chunks "
                         "(%d records) recovered"
                         % (where, start, self.chunks, self.record_count))

    def read_file_header(self):
        h = self.read_exact(HEADER_SIZE)
        if len(h) < HEADER_SIZE:
            raise TraceError("not a trace: only %d bytes, a file header has %d"
                             % (len(h), HEADER_SIZE))
        if h[0:8] != FILE_MAGIC:
            raise TraceError("not a trace: bad file magic %s" % h[0:8].hex())
        major, minor, header_size, flags = struct.unpack_from("<HHIQ", h, 8)
        if major != READER_MAJOR:
            raise TraceError("unsupported major version: the file is version %d.%d, this "
                             "reader reads version %d.%d"
                             % (major, minor, READER_MAJOR, READER_MINOR))
        if header_size != HEADER_SIZE:
            # "64 in every version 1.x file": not even a newer minor version changes it.
            raise TraceError("file header: header_size is %d, must be %d"
                             % (header_size, HEADER_SIZE))
        required = flags & 0xFFFFFFFF
        if required:
            # No required flag exists in 1.0, so any set bit is one this reader cannot honour.
            raise TraceError("file header: unknown required flags 0x%08x" % required)
        if any(h[48:64]):
            raise TraceError("file header: reserved bytes are not zero")
        self.minor = minor
        self.strict = minor <= READER_MINOR
        self.merged = bool(flags & FLAG_MERGED)
        self.decoders = {k: v for k, v in DECODERS.items() if minor >= KIND_SINCE.get(k, 0)}
        self.inputs_marked = self.merged and minor >= KIND_SINCE[KIND_INPUT]
        self.header = {
            "major": major,
            "minor": minor,
            "flags": flags,
            "trace_id": h[24:40].hex(),
            "created_unix_ns": struct.unpack_from("<Q", h, 40)[0],
        }
        # The chain head while there is no chunk yet.
        self.prev_hash = hashlib.sha256(h).digest()

    # -- chunk level ------------------------------------------------------------------

    def read_chunk(self, head, start):
        seq_expected = self.chunks
        where = "chunk %d at byte offset %d" % (seq_expected, start)
        if head[0:4] != CHUNK_MAGIC:
            raise TraceError("%s: bad chunk magic %s" % (where, head[0:4].hex()))
        (ctype, codec, seq, payload_crc, raw_len, comp_len,
         nrecords) = struct.unpack_from("<HHIIIII", head, 4)
        prev_hash = head[28:60]
        crc = struct.unpack_from("<I", head, 60)[0]
        if zlib.crc32(head[0:60]) != crc:
            raise TraceError("%s: chunk header CRC mismatch" % where)
        if ctype not in (CHUNK_RECORDS, CHUNK_FINAL, CHUNK_SIGNATURE):
            raise TraceError("%s: unknown chunk type %d" % (where, ctype))
        if codec != CODEC_ZLIB:
            raise TraceError("%s: unknown codec %d" % (where, codec))
        if seq != seq_expected:
            raise TraceError("%s: seq is %d, expected %d (chunks removed, inserted or "
                             "reordered)" % (where, seq, seq_expected))
        if raw_len > MAX_RAW_LEN:
            raise TraceError("%s: raw_len %d exceeds %d" % (where, raw_len, MAX_RAW_LEN))
        if comp_len > MAX_COMP_LEN:
            raise TraceError("%s: comp_len %d exceeds %d" % (where, comp_len, MAX_COMP_LEN))
        if nrecords < 1 or nrecords > raw_len // 2:
            raise TraceError("%s: record count %d outside 1..raw_len/2 (%d)"
                             % (where, nrecords, raw_len // 2))
        if prev_hash != self.prev_hash:
            raise TraceError("%s: prev_hash does not match the SHA-256 of the %s (hash chain "
                             "broken)" % (where, "file header" if seq == 0 else "previous chunk"))
        if self.final_seen and ctype != CHUNK_SIGNATURE:
            raise TraceError("%s: only signature chunks may follow the final chunk" % where)
        if ctype == CHUNK_SIGNATURE and not self.final_seen:
            raise TraceError("%s: signature chunk before the final chunk" % where)
        if ctype in (CHUNK_FINAL, CHUNK_SIGNATURE) and nrecords != 1:
            raise TraceError("%s: a %s chunk holds exactly one record, this one claims %d"
                             % (where, "final" if ctype == CHUNK_FINAL else "signature",
                                nrecords))

        payload = self.read_exact(comp_len)
        if len(payload) < comp_len:
            self.truncated(start, "inside chunk %d (its payload has %d of %d bytes)"
                           % (seq_expected, len(payload), comp_len))
        # Catches what inflating cannot: changed bits that leave the decompressed data
        # intact, in the last chunk, which no later prev_hash covers.
        if zlib.crc32(payload) != payload_crc:
            raise TraceError("%s: payload CRC mismatch" % where)
        raw = self.inflate(payload, raw_len, where)

        records = self.decode_records(raw, nrecords, ctype, seq, prev_hash, where)

        # Only now, with the whole chunk intact, are its records delivered.
        self.records.extend(records)
        self.chunks += 1
        self.record_count += nrecords
        self.prev_hash = hashlib.sha256(head + payload).digest()
        if ctype == CHUNK_FINAL:
            self.final_seen = True

    @staticmethod
    def inflate(payload, raw_len, where):
        d = zlib.decompressobj()
        try:
            # One byte more than allowed, so that an over-long stream shows without
            # inflating it all.
            raw = d.decompress(payload, raw_len + 1)
        except zlib.error as e:
            raise TraceError("%s: zlib stream damaged: %s" % (where, e))
        if len(raw) > raw_len:
            raise TraceError("%s: payload inflates to more than raw_len %d bytes"
                             % (where, raw_len))
        if not d.eof:
            raise TraceError("%s: zlib stream does not end within the payload" % where)
        if d.unused_data:
            raise TraceError("%s: %d bytes after the end of the zlib stream"
                             % (where, len(d.unused_data)))
        if len(raw) != raw_len:
            raise TraceError("%s: payload inflates to %d bytes, raw_len says %d"
                             % (where, len(raw), raw_len))
        return raw

    # -- record level -----------------------------------------------------------------

    def decode_records(self, raw, nrecords, ctype, seq, prev_hash, where):
        out = []
        pos = 0
        checks = self.CHECKS
        for i in range(nrecords):
            index = self.record_count + i  # 0-based index of the record in the trace
            start, kind = pos, None
            try:
                if pos >= len(raw):
                    raise BodyError("payload ends after %d of %d records" % (i, nrecords))
                try:
                    kind, pos = read_varint(raw, pos)
                    length, pos = read_varint(raw, pos)
                except IndexError:
                    raise BodyError("record header runs past the end of the payload")
                if kind < 1 or kind > MAX_KIND:
                    # Not even a newer minor version may use these.
                    raise BodyError("record kind outside 1..2^32-1")
                if length > MAX_RECORD_LEN:
                    raise BodyError("record length %d exceeds %d" % (length, MAX_RECORD_LEN))
                if length > len(raw) - pos:
                    raise BodyError("record body (%d bytes) runs past the end of the payload"
                                    % length)
                body = raw[pos:pos + length]
                if (kind == KIND_FINAL) != (ctype == CHUNK_FINAL):
                    raise BodyError("a final record must be, and be the only record, in a "
                                    "final chunk")
                if (kind == KIND_SIGNATURE) != (ctype == CHUNK_SIGNATURE):
                    raise BodyError("a signature record must be, and be the only record, in "
                                    "a signature chunk")
                # Exactly one RUN_META, as the first record; a merged trace holds one per
                # input, the first of them first.
                if index == 0 and kind != KIND_RUN_META:
                    raise BodyError("the first record of a trace must be run_meta")
                if index > 0 and kind == KIND_RUN_META and not self.merged:
                    raise BodyError("a second run_meta in a trace without the merged flag")
                decoders = self.decoders
                # Since 1.1 a merged trace is its inputs one after the other, each from its
                # RUN_META to its INPUT record: nothing lies between one input's INPUT record
                # and the next input's RUN_META (or the FINAL record). Kinds this reader
                # does not know (newer-minor files only) are skipped, also here.
                if (self.inputs_marked and not self.input_open and kind in decoders
                        and kind not in (KIND_RUN_META, KIND_INPUT, KIND_FINAL,
                                         KIND_SIGNATURE)):
                    raise BodyError("a record after the input record of input %d, before "
                                    "the run_meta of the next input" % (self.inputs - 1))

                if kind in decoders:
                    name, fields = decoders[kind]
                    rec = {"chunk": seq, "record": name, "record_kind": kind}
                    p = 0
                    try:
                        for fname, dec in fields:
                            rec[fname], p = dec(body, p)
                    except (IndexError, struct.error):
                        raise BodyError("body too short for its fields (%d bytes)" % length)
                    if p != length and self.strict:
                        # Appended fields exist only in newer minor versions.
                        raise BodyError("%d bytes after the last field" % (length - p))
                    checks[kind](self, rec, index, seq, prev_hash)
                elif not self.strict:
                    # A kind added by a newer minor version: skipped, but counted.
                    rec = {"chunk": seq, "record": "unknown", "record_kind": kind,
                           "body": body.hex()}
                else:
                    raise BodyError("unknown record kind %d in a version %d.%d file"
                                    % (kind, READER_MAJOR, self.minor))
            except BodyError as e:
                # The message is built only here: most records have no problem.
                raise TraceError("%s: record %d%s at payload offset %d: %s"
                                 % (where, index, "" if kind is None else " (kind %d)" % kind,
                                    start, e))
            out.append(rec)
            pos += length
        if pos != len(raw):
            raise TraceError("%s: %d bytes after the last of the %d records"
                             % (where, len(raw) - pos, nrecords))
        return out

    # -- per-kind content checks -------------------------------------------------------
    # Each also records the ids its kind defines. "or 0" in the specification marks the
    # only references that may be 0; every other reference names something defined
    # earlier.

    def ref(self, v, what, zero_ok=False):
        if v == 0 and zero_ok:
            return
        if v not in self.strings:
            raise BodyError("%s refers to string %d, not defined earlier" % (what, v))

    @staticmethod
    def need(v, table, what, zero_ok=False):
        if v == 0 and zero_ok:
            return
        if v not in table:
            raise BodyError("%s %d is not defined earlier" % (what, v))

    @staticmethod
    def define(rec, table, value=None):
        i = rec["id"]
        if i < 1:
            raise BodyError("id must be >= 1")
        if i in table:
            raise BodyError("id %d defined twice" % i)
        if isinstance(table, dict):
            table[i] = value
        else:
            table.add(i)

    def enum(self, v, known, what):
        if self.strict and v not in known:
            raise BodyError("unknown %s %d in a version %d.%d file"
                            % (what, v, READER_MAJOR, self.minor))

    def precision_class(self, c, what, in_list):
        if c == NO_OPERATIONS:
            if in_list:
                raise BodyError("%s: class 0xff (no operations) in a class list" % what)
            return
        self.enum(c, PRECISION_CLASSES, what + " precision class")

    def check_classes(self, classes, what):
        """Class lists (AGGREGATE, FINAL): strictly ascending known classes, figures finite
        and >= 0."""
        prev = -1
        for c in classes:
            k = c["class"]
            if k <= prev:
                raise BodyError("%s: class 0x%02x does not follow 0x%02x in strictly "
                                "ascending order" % (what, k, prev))
            prev = k
            self.precision_class(k, what, True)
            if not (nonneg(c["measured"]) and nonneg(c["extrapolated"])):
                raise BodyError("%s: figures of class 0x%02x must be finite and >= 0"
                                % (what, k))

    @staticmethod
    def rank(v, what):
        # "rank, -1 when unknown": a rank is >= 0, and -1 the one value below.
        if v < -1:
            raise BodyError("%s %d: a rank is >= 0, or -1 when unknown" % (what, v))

    def check_run_meta(self, rec, index, seq, prev_hash):
        self.rank(rec["rank"], "rank")
        self.rank(rec["local_rank"], "local_rank")
        if self.inputs_marked:
            if self.input_open:
                raise BodyError("run_meta of input %d before the input record that ends "
                                "input %d" % (self.inputs + 1, self.inputs))
            self.input_open = True
            self.input_rank = rec["rank"]

    def check_device(self, rec, index, seq, prev_hash):
        pass  # device ordinals are not ids

    def check_string(self, rec, index, seq, prev_hash):
        self.define(rec, self.strings)

    def check_callsite(self, rec, index, seq, prev_hash):
        for fr in rec["frames"]:
            self.ref(fr["module"], "callsite frame module", zero_ok=True)
            self.ref(fr["symbol"], "callsite frame symbol", zero_ok=True)
        self.define(rec, self.callsites)

    def check_kernel_signature(self, rec, index, seq, prev_hash):
        self.ref(rec["name"], "kernel signature name")
        self.need(rec["callsite"], self.callsites, "callsite", zero_ok=True)
        self.define(rec, self.kernel_signatures)

    def check_metric_group(self, rec, index, seq, prev_hash):
        if not rec["metrics"]:
            raise BodyError("a metric group needs at least one metric")
        for m in rec["metrics"]:
            self.ref(m["name"], "metric name")
            self.precision_class(m["class"], "metric", False)
            if not nonneg(m["weight"]):
                raise BodyError("metric weight %r must be finite and >= 0" % m["weight"])
        self.define(rec, self.metric_groups, len(rec["metrics"]))

    def check_counter_sample(self, rec, index, seq, prev_hash):
        self.need(rec["signature"], self.kernel_signatures, "kernel signature")
        self.need(rec["group"], self.metric_groups, "metric group")
        if rec["passes"] < 1:
            raise BodyError("passes must be >= 1")
        metrics = self.metric_groups[rec["group"]]
        if len(rec["values"]) != metrics:
            raise BodyError("%d values for metric group %d of %d metrics"
                            % (len(rec["values"]), rec["group"], metrics))
        if not all(map(nonneg, rec["values"])):
            raise BodyError("counter values must be finite and >= 0")

    def check_aggregate(self, rec, index, seq, prev_hash):
        if rec["interval_start_ns"] > rec["interval_end_ns"]:
            raise BodyError("interval starts after it ends")
        self.need(rec["signature"], self.kernel_signatures, "kernel signature")
        self.need(rec["phase"], self.phases, "phase", zero_ok=True)
        # Python integers do not wrap: this is the exact sum, as the rule means it.
        if rec["launches_measured"] + rec["launches_extrapolated"] > rec["launches"]:
            raise BodyError("measured + extrapolated launches exceed launches")
        self.check_classes(rec["classes"], "aggregate classes")
        self.launches_total += rec["launches"]
        if self.launches_total >= U64_LIMIT:
            raise BodyError("the launches of all aggregates add up to 2^64 or more")
        sums = self.class_sums
        for c in rec["classes"]:
            # Python floats are IEEE 754 doubles, so these sums are the writer's.
            s = sums.get(c["class"])
            if s is None:
                s = sums[c["class"]] = [0.0, 0.0]
            s[0] += c["measured"]
            s[1] += c["extrapolated"]

    def check_phase_def(self, rec, index, seq, prev_hash):
        self.ref(rec["name"], "phase name")
        self.enum(rec["category"], PHASE_CATEGORIES, "phase category")
        self.define(rec, self.phases)

    def check_phase_event(self, rec, index, seq, prev_hash):
        self.need(rec["phase"], self.phases, "phase")
        self.enum(rec["action"], PHASE_ACTIONS, "phase action")

    def check_declaration(self, rec, index, seq, prev_hash):
        self.ref(rec["key"], "declaration key")
        if not math.isfinite(rec["value"]):
            raise BodyError("declaration value is not finite")
        self.ref(rec["text"], "declaration text", zero_ok=True)
        self.need(rec["phase"], self.phases, "phase", zero_ok=True)

    def check_degradation(self, rec, index, seq, prev_hash):
        self.enum(rec["kind"], DEGRADATION_KINDS, "degradation kind")

    def check_final(self, rec, index, seq, prev_hash):
        self.enum(rec["exit_reason"], EXIT_REASONS, "exit reason")
        if rec["chunk_count"] != seq:
            raise BodyError("chunk_count %d, but the final chunk's seq is %d"
                            % (rec["chunk_count"], seq))
        if rec["record_count"] != index:
            raise BodyError("record_count %d, but %d records precede it"
                            % (rec["record_count"], index))
        if rec["launches_total"] != self.launches_total:
            raise BodyError("launches_total %d, but the aggregates sum to %d"
                            % (rec["launches_total"], self.launches_total))
        # Finite too, although the specification states it only for AGGREGATE figures:
        # sums that overflowed to infinity have no JSON form (flopmeter rejects them too).
        self.check_classes(rec["classes"], "final classes")
        # Every class of any AGGREGATE, also with zero sums; the bit patterns must match,
        # so -0.0 is not +0.0.
        expected = [(c, f64_bits(m), f64_bits(e))
                    for c, (m, e) in sorted(self.class_sums.items())]
        got = [(c["class"], f64_bits(c["measured"]), f64_bits(c["extrapolated"]))
               for c in rec["classes"]]
        if got != expected:
            raise BodyError("class totals %r do not match the aggregates' sums %r"
                            % ([(c["class"], c["measured"], c["extrapolated"])
                                for c in rec["classes"]],
                               sorted(self.class_sums.items())))
        if bytes.fromhex(rec["chain_head"]) != prev_hash:
            raise BodyError("chain_head is not the final chunk's prev_hash")
        if self.input_open:
            raise BodyError("input %d of the merged trace does not end with an input record"
                            % self.inputs)

    def check_signature(self, rec, index, seq, prev_hash):
        self.enum(rec["algorithm"], SIGNATURE_ALGORITHMS, "signature algorithm")
        if bytes.fromhex(rec["signed_head"]) != prev_hash:
            raise BodyError("signed_head is not its chunk's prev_hash")
        if rec["algorithm"] == ED25519:
            if len(rec["public_key"]) != 32:
                raise BodyError("Ed25519 public key has %d bytes, not 32"
                                % len(rec["public_key"]))
            if len(rec["signature"]) != 64:
                raise BodyError("Ed25519 signature has %d bytes, not 64"
                                % len(rec["signature"]))
        rec["public_key"] = rec["public_key"].hex()
        rec["signature"] = rec["signature"].hex()

    def check_input(self, rec, index, seq, prev_hash):
        # Only reached in files of version 1.1 or newer: in a 1.0 file kind 15 is unknown.
        if not self.merged:
            raise BodyError("an input record in a trace without the merged flag")
        if not self.input_open:
            raise BodyError("an input record without a run_meta opening its input")
        if rec["index"] != self.inputs:
            raise BodyError("input index %d, but %d input records precede it"
                            % (rec["index"], self.inputs))
        if rec["complete"] not in (0, 1):
            raise BodyError("input complete is %d, must be 0 or 1" % rec["complete"])
        if rec["signatures_valid"] > rec["signatures"]:
            raise BodyError("%d valid signatures of %d" % (rec["signatures_valid"],
                                                           rec["signatures"]))
        self.rank(rec["rank"], "input rank")
        if rec["rank"] != self.input_rank:
            raise BodyError("input rank %d, but the input's run_meta says %d"
                            % (rec["rank"], self.input_rank))
        self.enum(rec["exit_reason"], EXIT_REASONS, "input exit reason")
        self.inputs += 1
        self.input_open = False



# The check of each kind, called as an unbound function from Reader.decode_records.
Reader.CHECKS = {kind: getattr(Reader, "check_" + name) for kind, (name, _) in KINDS.items()}


def read_trace(path):
    """Returns (document or None when the file header is unusable, error message or None).
    The document is what main() prints."""
    reader = None
    error = None
    try:
        with open(path, "rb") as f:
            reader = Reader(f)
            reader.run()
    except OSError as e:
        error = "cannot read: %s" % e
    except TraceError as e:
        error = str(e)
    if reader is None or reader.header is None:
        return None, error
    end = {
        "complete": reader.final_seen and error is None,
        "chunks": reader.chunks,
        "records": reader.record_count,
        # The SHA-256 of the last intact chunk (of the file header when there is none).
        "chain_head": reader.prev_hash.hex(),
    }
    if error and not reader.incomplete:
        # A trace that just ends between chunks is not damaged: what it has is intact.
        end["error"] = error
    doc = {"file": path, "header": reader.header, "records": reader.records, "end": end}
    return doc, error


def to_json(doc):
    """The document with one record per line: readable, and far fewer writes than one
    json.dump of the whole document."""
    def enc(v):
        return json.dumps(v, allow_nan=False, ensure_ascii=False)
    lines = []
    for key, value in doc.items():
        if key == "records" and value:
            lines.append(' "records": [\n%s\n ]' % ",\n".join("  " + enc(r) for r in value))
        else:
            lines.append(" %s: %s" % (enc(key), enc(value)))
    return "{\n" + ",\n".join(lines) + "\n}\n"


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: %s TRACE\n" % argv[0])
        return 2
    doc, error = read_trace(argv[1])
    if doc is not None:
        sys.stdout.buffer.write(to_json(doc).encode("utf-8"))
    if error:
        sys.stderr.write("%s: %s\n" % (argv[1], error))
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
