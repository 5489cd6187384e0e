#!/usr/bin/env python3
"""Writes the fuzzers' seed corpus from small synthesized traces.

corpus/bytes/    whole trace files (intact, signed, cut short) for fuzz_trace_bytes
corpus/payloads/ the same traces as fuzz_trace_payloads reads them: per chunk a type byte, a
                 16-bit record count and the decompressed payload, joined by ff fe
corpus/report_inputs/ a model spec, the shipped threshold profiles and peak tables, each
                 behind the byte that selects its parser in fuzz_report_inputs

Usage: make_corpus.py FLOPMETER_BINARY
"""
import os
import struct
import subprocess
import sys
import tempfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def chunks(data):
    pos = 64
    while pos + 64 <= len(data):
        ctype, = struct.unpack_from("<H", data, pos + 4)
        comp_len, records = struct.unpack_from("<II", data, pos + 20)
        yield ctype, records, zlib.decompress(data[pos + 64:pos + 64 + comp_len])
        pos += 64 + comp_len


SPEC = b"""# a model spec
[model]
parameters = 7e9
parameters_active = 7e9
layers = 32
hidden_size = 4096
heads = 32
ffn_size = 11008
sequence_length = 4096
vocabulary = 32000
modality = text+image
[data]
tokens = 2e12
steps = 500000
[plan]
tokens = 4e12
gpus = 1024
[original]
compute = 1e24
systemic = no
[prior]
compute = 1e22
[hardware]
gpu = NVIDIA H100 80GB HBM3
gpu_hours = 1e6
utilization = 0.4
peak_tflops = 989
"""


def report_inputs(root):
    out = os.path.join(HERE, "corpus", "report_inputs")
    os.makedirs(out, exist_ok=True)
    open(os.path.join(out, "spec"), "wb").write(b"\x00" + SPEC)
    for kind, selector in (("thresholds", b"\x01"), ("peaks", b"\x02")):
        folder = os.path.join(root, "data", kind)
        for name in sorted(os.listdir(folder)):
            data = open(os.path.join(folder, name), "rb").read()
            open(os.path.join(out, kind + "-" + name), "wb").write(selector + data)


def main():
    tool = sys.argv[1]
    report_inputs(os.path.dirname(os.path.dirname(HERE)))
    out_bytes = os.path.join(HERE, "corpus", "bytes")
    out_payloads = os.path.join(HERE, "corpus", "payloads")
    os.makedirs(out_bytes, exist_ok=True)
    os.makedirs(out_payloads, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        variants = {
            "tiny": ["--steps", "3", "--signatures", "6", "--launches-per-step", "12"],
            "phases": ["--steps", "12", "--signatures", "10", "--launches-per-step", "20",
                       "--interval-ms", "200"],
        }
        for name, args in variants.items():
            path = os.path.join(tmp, name + ".fmtrace")
            subprocess.run([tool, "synth", "--quiet", "--out", path] + args, check=True)
            if name == "tiny":
                subprocess.run([tool, "keygen", "--out", os.path.join(tmp, "k")], check=True,
                               stdout=subprocess.DEVNULL)
                subprocess.run([tool, "sign", "--key", os.path.join(tmp, "k.key"), path],
                               check=True, stdout=subprocess.DEVNULL)
            data = open(path, "rb").read()
            open(os.path.join(out_bytes, name), "wb").write(data)
            open(os.path.join(out_bytes, name + "-cut"), "wb").write(data[:len(data) * 2 // 3])
            # a type byte such that (byte % 3) + 1 gives the type back, the record count
            pieces = [struct.pack("<BH", (t - 1) % 3, n) + payload
                      for t, n, payload in chunks(data)]
            open(os.path.join(out_payloads, name), "wb").write(b"\xff\xfe".join(pieces))


if __name__ == "__main__":
    main()
