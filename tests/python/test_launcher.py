"""python -m flopmeter: the launcher, delegating to the built `flopmeter run`.

What a command started through it sees (interpreter, arguments, the environment of every
rank of a torchrun-style launcher), its exit status, signals, and the errors when the
command or the library cannot be found. The commands here never initialise CUDA, so no
trace is written and no GPU is needed."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import HERE, clean_env, run_python
from flopmeter._launcher import split_run_args, with_interpreter

PROGRAMS = os.path.join(HERE, "programs")
PROBE = os.path.join(PROGRAMS, "probe_env.py")
FAKE_TORCHRUN = os.path.join(PROGRAMS, "fake_torchrun.py")
WAIT = os.path.join(PROGRAMS, "wait_for_signal.py")


@pytest.fixture
def env(flopmeter_bin, run_lib, tmp_path):
    """The launcher's environment: the command named by FLOPMETER_BIN, the library to
    preload by FLOPMETER_LIB (as `flopmeter run` reads it), a probe output."""
    return clean_env(FLOPMETER_BIN=flopmeter_bin, FLOPMETER_LIB=run_lib,
                     PROBE_OUT=str(tmp_path / "probe.json"))


def launch(args, env, cwd, timeout=60):
    return run_python(["-m", "flopmeter"] + args, env, timeout=timeout, cwd=str(cwd))


def probe(tmp_path):
    with open(str(tmp_path / "probe.json")) as f:
        return json.load(f)


def same_file(a, b):
    return os.path.realpath(a) == os.path.realpath(b)


# ---- argument handling, without running anything ---------------------------------------------

@pytest.mark.parametrize("args,options,command", [
    (["--", "train.py", "--lr", "1"], [], ["train.py", "--lr", "1"]),
    (["--quiet", "--output-dir", "o", "--", "x"], ["--quiet", "--output-dir", "o"], ["x"]),
    (["--run-id", "--", "--", "x"], ["--run-id", "--"], ["x"]),  # "--" as a value
    (["--run-id=a", "--", "x", "--", "y"], ["--run-id=a"], ["x", "--", "y"]),
    (["--out", "--", "--", "x"], ["--out", "--"], ["x"]),  # getopt's abbreviation
    (["--qu", "--", "x"], ["--qu"], ["x"]),
    (["--profile", "exact", "--profile-budget", "0.1", "--", "x"],
     ["--profile", "exact", "--profile-budget", "0.1"], ["x"]),
    (["--profile-skip", "--", "--", "x"], ["--profile-skip", "--"], ["x"]),  # a value
    (["--profile-skip", "", "--", "x"], ["--profile-skip", ""], ["x"]),  # skip nothing
    (["--profile-first", "3", "--profile-replay-first", "--no-arg-learn", "--", "x"],
     ["--profile-first", "3", "--profile-replay-first", "--no-arg-learn"], ["x"]),
    (["--profile-s", "--", "--", "x"], ["--profile-s", "--"], ["x"]),  # --profile-skip
    (["--profile-r", "--", "x"], ["--profile-r"], ["x"]),  # --profile-replay-first
    (["--no-arg", "--", "x"], ["--no-arg"], ["x"]),  # ambiguous: run refuses it
    (["--help"], ["--help"], None),
    (["train.py"], ["train.py"], None),  # no "--": left to `flopmeter run` to refuse
])
def test_split_run_args(args, options, command):
    assert split_run_args(args) == (options, command)


def test_with_interpreter():
    exe = "/venv/bin/python"
    assert with_interpreter(["train.py", "-x"], exe) == [exe, "train.py", "-x"]
    assert with_interpreter(["python", "t.py"], exe) == [exe, "t.py"]
    assert with_interpreter(["python3", "-m", "m"], exe) == [exe, "-m", "m"]
    assert with_interpreter(["torchrun", "t.py"], exe) == ["torchrun", "t.py"]
    assert with_interpreter(["/usr/bin/python3.8", "t.py"], exe) == ["/usr/bin/python3.8",
                                                                       "t.py"]
    assert with_interpreter([], exe) == []


# ---- running ---------------------------------------------------------------------------------

def test_script_runs_with_this_interpreter_preloaded_and_its_status(env, tmp_path, run_lib):
    r = launch(["run", "--output-dir", "out", "--run-id", "exp-1", "--quiet", "--flush-ms",
                "250", "--", PROBE, "7", "two words"], env, tmp_path)
    assert r.returncode == 7, r.stderr
    assert r.stdout == "" and r.stderr == ""  # --quiet: nothing from run
    seen = probe(tmp_path)
    assert same_file(seen["executable"], sys.executable)
    assert seen["argv"] == ["7", "two words"]
    e = seen["env"]
    assert same_file(e["LD_PRELOAD"].split(":")[0], run_lib)
    assert e["FLOPMETER_OUTPUT_DIR"] == str(tmp_path / "out")  # made absolute
    assert e["FLOPMETER_RUN_ID"] == "exp-1"
    assert e["FLOPMETER_QUIET"] == "1" and e["FLOPMETER_FLUSH_MS"] == "250"


def test_profile_options_reach_the_command(env, tmp_path):
    r = launch(["run", "--quiet", "--profile", "exact", "--profile-budget", "1e-3",
                "--profile-first", "5", "--profile-replay-first", "--profile-skip",
                "nccl,wait_kernel", "--no-arg-learn", "--", PROBE], env, tmp_path)
    assert r.returncode == 0, r.stderr
    e = probe(tmp_path)["env"]
    assert e["FLOPMETER_PROFILE"] == "exact"
    assert e["FLOPMETER_PROFILE_BUDGET"] == "1e-3"
    assert e["FLOPMETER_PROFILE_FIRST"] == "5"
    assert e["FLOPMETER_PROFILE_REPLAY_FIRST"] == "1"
    assert e["FLOPMETER_PROFILE_SKIP"] == "nccl,wait_kernel"
    assert e["FLOPMETER_ARG_LEARN"] == "0"
    assert e["FLOPMETER_MODE"] is None  # the counters' mode is not the library's


def test_empty_profile_skip_is_a_value(env, tmp_path):
    """--profile-skip '' measures every kernel; the "--" after it still ends the options."""
    r = launch(["run", "--quiet", "--profile-skip", "", "--", PROBE], env, tmp_path)
    assert r.returncode == 0, r.stderr
    assert probe(tmp_path)["env"]["FLOPMETER_PROFILE_SKIP"] == ""


@pytest.mark.parametrize("args,named", [
    (["--profile", "fast"], "--profile"),
    (["--profile-budget", "0"], "--profile-budget"),
    (["--profile-budget", "1.5"], "--profile-budget"),
    (["--profile-budget", "nan"], "--profile-budget"),
    (["--profile-first", "0"], "--profile-first"),
    (["--profile-skip", "nccl,"], "--profile-skip"),
])
def test_bad_profile_values_are_refused_by_run(env, tmp_path, args, named):
    r = launch(["run"] + args + ["--", PROBE], env, tmp_path)
    assert r.returncode == 2
    assert r.stderr.startswith("flopmeter run: " + named + ": "), r.stderr
    assert r.stderr.count("\n") == 1, r.stderr
    assert not (tmp_path / "probe.json").exists()  # the command did not run


def test_python_word_runs_this_interpreter(env, tmp_path):
    r = launch(["run", "--quiet", "--", "python3", PROBE], env, tmp_path)
    assert r.returncode == 0, r.stderr
    assert same_file(probe(tmp_path)["executable"], sys.executable)


def test_torchrun_style_launcher_every_rank_measured(env, tmp_path, run_lib):
    """`python -m flopmeter run -- torchrun --nproc-per-node N train.py`: every rank gets the
    library and the same run directory; the launcher's failing rank is the exit status."""
    ranks = tmp_path / "ranks"
    ranks.mkdir()
    env["PROBE_OUT"] = str(ranks)
    env["RANK_STATUS_2"] = "3"
    r = launch(["run", "--output-dir", "out", "--", FAKE_TORCHRUN, "--nproc-per-node", "4",
                PROBE], env, tmp_path)
    assert r.returncode == 3, r.stderr
    seen = {}
    for name in sorted(os.listdir(str(ranks))):
        with open(str(ranks / name)) as f:
            seen[name] = json.load(f)["env"]
    assert sorted(seen) == ["rank-%d.json" % i for i in range(4)]
    run_ids = {e["FLOPMETER_RUN_ID"] for e in seen.values()}
    assert len(run_ids) == 1 and run_ids.pop()  # one run directory, made by run
    for i, e in enumerate(seen[k] for k in sorted(seen)):
        assert e["RANK"] == str(i) and e["WORLD_SIZE"] == "4"
        assert same_file(e["LD_PRELOAD"].split(":")[0], run_lib)
        assert e["FLOPMETER_OUTPUT_DIR"] == str(tmp_path / "out")
    # run's summary: where the traces would be, and that none was written (no CUDA here)
    assert "flopmeter run:" in r.stderr


def test_run_options_are_checked_by_run(env, tmp_path):
    r = launch(["run", "--flush-ms", "5", "--", PROBE], env, tmp_path)
    assert r.returncode == 2
    assert r.stderr.startswith("flopmeter run: ") and "--flush-ms" in r.stderr
    assert not (tmp_path / "probe.json").exists()  # the command did not run
    r = launch(["run", PROBE], env, tmp_path)
    assert r.returncode == 2 and "'--'" in r.stderr


def test_command_not_found_is_run_s_127(env, tmp_path):
    r = launch(["run", "--quiet", "--", "no-such-command-anywhere"], env, tmp_path)
    assert r.returncode == 127, r.stderr


def wait_for(path, proc, timeout=30):
    deadline = time.time() + timeout
    while not os.path.exists(path):
        if proc.poll() is not None or time.time() > deadline:
            out, err = proc.communicate()
            pytest.fail("the program did not get ready: %r %r" % (out, err))
        time.sleep(0.02)


@pytest.mark.parametrize("sig,handle,status", [
    (signal.SIGTERM, True, 40 + signal.SIGTERM),
    (signal.SIGINT, True, 40 + signal.SIGINT),   # kill -INT to the launcher alone
    (signal.SIGUSR1, True, 40 + signal.SIGUSR1),
    (signal.SIGTERM, False, 128 + signal.SIGTERM),  # died of it: as a shell reports it
])
def test_signals_reach_the_command(env, tmp_path, sig, handle, status):
    ready = str(tmp_path / "ready")
    args = [sys.executable, "-m", "flopmeter", "run", "--quiet", "--", WAIT] + \
        (["handle"] if handle else []) + [ready]
    proc = subprocess.Popen(args, env=env, cwd=str(tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True)
    try:
        wait_for(ready, proc)
        proc.send_signal(sig)  # to the launcher: by now it is `flopmeter run` itself
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == status, err


# ---- finding the command and the library ------------------------------------------------------

def test_missing_command_is_said_clearly(tmp_path):
    r = launch(["run", "--", PROBE], clean_env(FLOPMETER_BIN=str(tmp_path / "nope")), tmp_path)
    assert r.returncode == 2
    assert r.stderr == "python -m flopmeter: FLOPMETER_BIN=%s is not an executable file\n" % (
        tmp_path / "nope")
    for prefix in (sys.prefix, sys.exec_prefix):
        if os.path.exists(os.path.join(prefix, "bin", "flopmeter")):
            pytest.skip("a flopmeter command is installed in this Python's prefix")
    r = launch(["report", "x"], clean_env(PATH=str(tmp_path)), tmp_path)
    assert r.returncode == 2
    assert "the flopmeter command was not found" in r.stderr and "FLOPMETER_BIN" in r.stderr


def test_library_not_found_is_run_s_error(flopmeter_bin, tmp_path):
    env = clean_env(FLOPMETER_BIN=flopmeter_bin, FLOPMETER_LIB=str(tmp_path / "no.so"))
    r = launch(["run", "--", PROBE], env, tmp_path)
    assert r.returncode == 2 and "FLOPMETER_LIB" in r.stderr


def test_locate(flopmeter_bin, hook_lib, tmp_path):
    r = launch(["locate"], clean_env(FLOPMETER_BIN=flopmeter_bin), tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "flopmeter command: %s (FLOPMETER_BIN)" % os.path.abspath(flopmeter_bin)
    # the build tree: build/cupti_hook/ beside build/postprocessor/, as `run` finds it
    if same_file(os.path.dirname(flopmeter_bin) + "/../cupti_hook/libflopmeter.so", hook_lib):
        assert lines[1].startswith("libflopmeter.so:   ")
        assert same_file(lines[1].split()[1], hook_lib)
        assert lines[1].endswith("(beside the flopmeter command)")
    # the command found beside FLOPMETER_LIB, with nothing on PATH
    r = launch(["locate"], clean_env(FLOPMETER_LIB=hook_lib, PATH=str(tmp_path)), tmp_path)
    if same_file(os.path.dirname(hook_lib) + "/../postprocessor/flopmeter", flopmeter_bin):
        assert r.returncode == 0, r.stdout
        assert "(beside FLOPMETER_LIB)" in r.stdout
    r = launch(["locate"], clean_env(FLOPMETER_BIN=str(tmp_path / "x")), tmp_path)
    assert r.returncode == 2 and "not found" in r.stdout


def test_other_verbs_are_the_command_s(env, tmp_path):
    trace = str(tmp_path / "s.fmtrace")
    r = launch(["synth", "--out", trace, "--steps", "3", "--quiet"], env, tmp_path)
    assert r.returncode == 0, r.stderr
    r = launch(["verify", trace], env, tmp_path)
    assert r.returncode == 0, r.stderr
    r = launch(["verify", str(tmp_path / "missing.fmtrace")], env, tmp_path)
    assert r.returncode == 2


def test_usage(tmp_path):
    r = launch([], clean_env(), tmp_path)
    assert r.returncode == 2 and r.stderr.startswith("usage: python -m flopmeter run")
    r = launch(["--help"], clean_env(), tmp_path)
    assert r.returncode == 0 and "locate" in r.stdout
