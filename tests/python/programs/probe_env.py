"""Writes what it was started with (interpreter, arguments, the variables flopmeter run sets,
the launcher's rank variables) as JSON to $PROBE_OUT (a file, or a directory: one file per
rank), then exits with the status given as its first argument (default 0)."""
import json
import os
import sys

VARS = ("LD_PRELOAD", "CUDA_INJECTION64_PATH", "NVTX_INJECTION64_PATH", "FLOPMETER_OUTPUT_DIR",
        "FLOPMETER_RUN_ID", "FLOPMETER_MODE", "FLOPMETER_QUIET", "FLOPMETER_FLUSH_MS",
        "FLOPMETER_STRICT", "FLOPMETER_PROFILE", "FLOPMETER_PROFILE_BUDGET",
        "FLOPMETER_PROFILE_FIRST", "FLOPMETER_PROFILE_REPLAY_FIRST", "FLOPMETER_PROFILE_SKIP",
        "FLOPMETER_ARG_LEARN", "RANK", "LOCAL_RANK", "WORLD_SIZE", "TORCHELASTIC_RUN_ID")

seen = {"executable": sys.executable, "argv": sys.argv[1:],
        "env": {k: os.environ.get(k) for k in VARS}}
out = os.environ["PROBE_OUT"]
if os.path.isdir(out):
    out = os.path.join(out, "rank-%s.json" % os.environ.get("RANK", "x"))
with open(out, "w") as f:
    json.dump(seen, f)
sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
