"""The GPU check's two PyTorch programs (tests/gpu/python_gpt_example.py with a tiny model,
tests/gpu/torch_train_loop.py in fp32) run on the CPU: the scripts themselves (options,
checkpointing tagged as recomputation, step times, what they print, deterministic losses)
must work before a GPU's scarce minutes are spent on them. Skipped where PyTorch is not
installed."""
import json
import os
import subprocess
import sys

import pytest

from conftest import clean_env, run_python

pytest.importorskip("torch", reason="PyTorch is not installed here")

HERE = os.path.dirname(os.path.abspath(__file__))
GPU_CHECKS = os.path.join(HERE, "..", "gpu")
EXAMPLE = os.path.join(GPU_CHECKS, "python_gpt_example.py")
LOOP = os.path.join(GPU_CHECKS, "torch_train_loop.py")
sys.path.insert(0, GPU_CHECKS)
import check_gpt_runs  # noqa: E402  (the GPU check's judge, next to the example)
TINY = ["--device", "cpu", "--layers", "2", "--hidden", "32", "--heads", "2", "--context",
        "16", "--vocab", "64", "--batch", "4", "--flopcounter-step", "-1"]


def run_example(*args):
    env = dict(os.environ, PYTHONPATH=os.path.join(HERE, "..", "..", "python_shim"))
    env.pop("LD_PRELOAD", None)
    p = subprocess.run([sys.executable, EXAMPLE] + TINY + list(args), capture_output=True,
                       text=True, env=env, timeout=300)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    assert lines, "no JSON: exit %d, %s" % (p.returncode, p.stderr[-800:])
    return p, json.loads(lines[-1])


@pytest.mark.parametrize("checkpoint", ["none", "tag"])
def test_example_trains_and_reports(checkpoint):
    p, out = run_example("--steps", "12", "--eval-every", "6", "--checkpoint", checkpoint,
                         "--progress")
    assert p.returncode == 0, p.stderr[-800:]
    assert out["ok"] and out["steps"] == 12 and len(out["step_seconds"]) == 12
    assert out["tokens"] == 12 * 4 * 16
    assert len(out["evaluations"]) == 2
    assert out["losses"][1] < out["losses"][0]
    assert out["declared"]["model.layers"] == 2 and out["declared"]["model.hidden_size"] == 32
    # the parameter count check_gpt_runs.py's expectations (and docs/python.md) rest on is
    # the one declare_model reads from the real module
    assert out["declared"]["model.parameters"] == check_gpt_runs.parameters(out["options"])
    # without the library the API is a no-op: the program says so and runs all the same
    assert out["available"] is False
    # --progress: the loop's start and each step, for a run stopped from outside
    steps = [ln.split() for ln in p.stderr.splitlines() if ln.startswith("FLOPMETER_EXAMPLE_")]
    assert steps[0][0] == "FLOPMETER_EXAMPLE_LOOP"
    assert [int(s[1]) for s in steps[1:]] == list(range(12))


def test_max_seconds_stops_after_the_step_that_passes_it():
    p, out = run_example("--steps", "100000", "--max-seconds", "0.5", "--eval-every", "0")
    assert p.returncode == 0, p.stderr[-800:]
    assert 1 <= out["steps"] < 100000
    assert sum(out["step_seconds"]) >= 0.4  # the loop's time, less what falls between steps
    assert out["tokens"] == out["steps"] * 4 * 16


def test_example_under_the_launcher(flopmeter_bin, preloadable_lib, tmp_path):
    """As the GPU check starts it: `python -m flopmeter run ... -- python3 example`. On the
    CPU nothing initialises CUDA, so no trace is written; the library is in the process (the
    package sees it), and the program trains and prints as without it."""
    env = clean_env(FLOPMETER_BIN=flopmeter_bin)
    p = run_python(["-m", "flopmeter", "run", "--lib", preloadable_lib, "--output-dir",
                    str(tmp_path), "--run-id", "cpu", "--profile", "sampled", "--",
                    sys.executable, EXAMPLE] + TINY + ["--steps", "3", "--eval-every", "0"],
                   env, timeout=300)
    assert p.returncode == 0, p.stderr[-800:]
    out = json.loads([ln for ln in p.stdout.splitlines() if ln.startswith("{")][-1])
    assert out["available"] is True and out["steps"] == 3
    assert "no trace written" in p.stderr


def test_training_loop_is_deterministic():
    """The launch-count check compares every loss bit with and without the hook: the loop
    must give the same bits twice without it (fp32 here: Debian's PyTorch 1.13 has no CPU
    bf16 layer norm under autocast)."""
    runs = []
    for _ in range(2):
        p = subprocess.run([sys.executable, LOOP, "--device", "cpu", "--steps", "3",
                            "--no-bf16", "--hidden", "64", "--batch", "8"],
                           capture_output=True, text=True, env=clean_env(), timeout=300)
        assert p.returncode == 0, p.stderr[-800:]
        runs.append([ln for ln in p.stdout.splitlines() if ln.startswith(("LOSS ", "EVAL "))])
        assert any(ln.startswith("LOOP_SECONDS ") for ln in p.stdout.splitlines())
        assert "PHASE_API unavailable" in p.stdout
    assert len(runs[0]) == 4 and runs[0] == runs[1]
