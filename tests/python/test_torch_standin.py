"""flopmeter.torch against the PyTorch stand-in (torch_standin/, named as such: it keeps
only the contracts flopmeter relies on), so that the wrapping logic is tested where PyTorch
is not installed. Each test runs in a fresh python whose `import torch` finds the stand-in
(also where real PyTorch is installed, which test_torch.py then covers). The C API is the
test double recorder.Recorder, except in the last test, which uses the real library."""
import json
import textwrap

import pytest

from conftest import HERE, SHIM, STANDIN, clean_env, dump_trace, run_python, traces_under

PRELUDE = textwrap.dedent("""
    import json, sys, threading
    import flopmeter
    import torch
    import torch.utils.checkpoint as cp
    from flopmeter import _lib
    from recorder import Recorder
    assert torch.__version__.endswith("+standin"), torch.__file__
    rec = Recorder()
    _lib.install(rec)
    main_thread = threading.get_ident()
    result = {}

    def runs_of(tag):
        # each run of a checkpointed function: its tag, and the phase it ran in
        return result.setdefault("runs", []).append(
            (tag, getattr(flopmeter.current_phase(), "name", None),
             "main" if threading.get_ident() == main_thread else "autograd"))

    def layer(tag):
        def f(x):
            runs_of(tag)
            return x + 1
        return f

    def pushes():
        return [(c[2][0], c[2][1], "main" if c[1] == main_thread else "autograd")
                for c in rec.named("push")]
""")

EPILOGUE = "\nresult['pushes'] = pushes()\nprint(json.dumps(result))\n"


def run_with_standin(code, **env):
    pythonpath = ":".join([STANDIN, SHIM, HERE])
    out = run_python(["-c", PRELUDE + textwrap.dedent(code) + EPILOGUE],
                     clean_env(PYTHONPATH=pythonpath, **env))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


FORWARD_THEN_RECOMPUTE = [["a", None, "main"], ["a", "recomputation", "autograd"]]
RECOMPUTATION_PUSH = [["recomputation", 6, "autograd"]]


@pytest.mark.parametrize("reentrant", [True, False, None])
def test_tag_recomputation(reentrant):
    r = run_with_standin("""
        import types
        # kept out of module globals, which tag_recomputation() points at the tagged function
        keep = {"original": cp.checkpoint}
        # a library that imported the function by name before (transformers does)
        lib = types.ModuleType("a_library")
        exec("from torch.utils.checkpoint import checkpoint", vars(lib))
        sys.modules["a_library"] = lib
        flopmeter.torch.tag_recomputation()
        flopmeter.torch.tag_recomputation()  # twice: still one wrapper
        assert cp.checkpoint._flopmeter_original is keep["original"]
        assert lib.checkpoint is cp.checkpoint
        out = lib.checkpoint(layer("a"), 1, use_reentrant=%r)
        assert out == 2
        torch.standin_backward()
        flopmeter.torch.untag_recomputation()
        assert cp.checkpoint is keep["original"] and lib.checkpoint is keep["original"]
        cp.checkpoint(layer("after-untag"), 1, use_reentrant=%r)
        torch.standin_backward()
    """ % (reentrant, reentrant))
    assert r["runs"] == FORWARD_THEN_RECOMPUTE + [["after-untag", None, "main"],
                                                  ["after-untag", None, "autograd"]]
    assert r["pushes"] == RECOMPUTATION_PUSH


def test_tag_recomputation_covers_checkpoint_sequential_and_backward_twice():
    r = run_with_standin("""
        flopmeter.torch.tag_recomputation()
        out = cp.checkpoint_sequential([layer("s0"), layer("s1"), layer("s2")], 3, 0,
                                       use_reentrant=False)
        assert out == 3
        pending = list(torch._pending)
        torch.standin_backward()
        torch._pending[:] = pending  # a second backward pass over a kept graph
        torch.standin_backward()
    """)
    recomputed = [run for run in r["runs"] if run[2] == "autograd"]
    # the last segment is not checkpointed; the others are recomputed in each backward pass
    assert [run[0] for run in r["runs"] if run[2] == "main"] == ["s0", "s1", "s2"]
    assert recomputed == [["s1", "recomputation", "autograd"],
                          ["s0", "recomputation", "autograd"]] * 2
    assert r["pushes"] == RECOMPUTATION_PUSH * 4


def test_checkpoint_wrapper_replaces_nothing():
    r = run_with_standin("""
        keep = {"original": cp.checkpoint}
        assert flopmeter.torch.checkpoint(layer("a"), 1, use_reentrant=True) == 2
        assert cp.checkpoint is keep["original"]
        torch.standin_backward()
    """)
    assert r["runs"] == FORWARD_THEN_RECOMPUTE and r["pushes"] == RECOMPUTATION_PUSH


def test_context_fn():
    r = run_with_standin("""
        import contextlib
        cp.checkpoint(layer("a"), 1, use_reentrant=False,
                      context_fn=flopmeter.torch.recomputation_context)
        torch.standin_backward()
        # another context_fn (selective checkpointing's, say) kept, with the phase around it
        entered = result.setdefault("entered", [])

        @contextlib.contextmanager
        def note(what):
            entered.append((what, getattr(flopmeter.current_phase(), "name", None)))
            yield

        def theirs():
            return note("forward"), note("recompute")

        cp.checkpoint(layer("b"), 1, use_reentrant=False,
                      context_fn=flopmeter.torch.with_recomputation(theirs))
        torch.standin_backward()
    """)
    assert r["runs"] == FORWARD_THEN_RECOMPUTE + [["b", None, "main"],
                                                  ["b", "recomputation", "autograd"]]
    assert r["entered"] == [["forward", None], ["recompute", "recomputation"]]
    assert r["pushes"] == RECOMPUTATION_PUSH * 2


def test_count_with_flopcounter():
    r = run_with_standin("""
        def train_step(n):
            with flopmeter.phase("pretraining"):
                torch.standin_matmul(n, 64, 32)
                torch.standin_matmul(n, 32, 64)
            flopmeter.tokens(n)
        result["count"] = flopmeter.torch.count_with_flopcounter(train_step, 8)
        result["declared"] = [c[2] for c in rec.named("declare")]
        result["steps"] = [c[2] for c in rec.named("step")]
    """)
    assert r["count"] == 2 * (2 * 8 * 64 * 32)
    assert r["declared"] == [["estimate.flopcounter", float(r["count"]),
                              "FlopCounterMode, one step of train_step, torch 2.99.0+standin"]]
    assert r["steps"] == [[8.0]]


def test_without_torch(tmp_path):
    """`import flopmeter` never imports torch; flopmeter.torch's functions say what they
    need. (Where real PyTorch is installed this only checks the first part.)"""
    code = textwrap.dedent("""
        import json, sys
        import flopmeter
        with flopmeter.phase("eval"):
            pass
        result = {"torch_imported": "torch" in sys.modules}
        try:
            import torch  # noqa: F401
            result["torch_installed"] = True
        except ImportError:
            result["torch_installed"] = False
            for f in ("tag_recomputation", "count_with_flopcounter"):
                try:
                    getattr(flopmeter.torch, f)(*([print] if f.startswith("count") else []))
                except ImportError as e:
                    result[f] = str(e)
        print(json.dumps(result))
    """)
    out = run_python(["-W", "ignore", "-c", code], clean_env(), cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert r["torch_imported"] is False
    if not r["torch_installed"]:
        assert r["tag_recomputation"].startswith("flopmeter.torch needs PyTorch")
        assert r["count_with_flopcounter"].startswith("flopmeter.torch needs PyTorch")


def test_recomputation_and_flopcounter_in_a_real_trace(tmp_path, flopmeter_bin,
                                                       preloadable_lib, cuda_stub_dir):
    """With the real library preloaded: the recomputation phase, pushed on the backward
    pass's thread, and the FlopCounterMode count reach the trace, and the report."""
    code = textwrap.dedent("""
        import ctypes, json, threading
        import flopmeter, torch
        import torch.utils.checkpoint as cp
        flopmeter.torch.tag_recomputation()

        def block(x):
            torch.standin_matmul(4, 4, 4)
            return x

        def train_step():
            with flopmeter.phase("pretraining"):
                cp.checkpoint(block, 0, use_reentrant=False)
                cp.checkpoint(block, 0, use_reentrant=True)
                backward_thread = torch.standin_backward()
            flopmeter.tokens(128)
            return backward_thread

        count = flopmeter.torch.count_with_flopcounter(train_step)
        for _ in range(2):
            train_step()
        ctypes.CDLL("libcuda.so.1", mode=ctypes.RTLD_GLOBAL)
        ctypes.CDLL(None).cuInit(0)
        print(json.dumps({"count": count, "trace": flopmeter.trace_path()}))
    """)
    env = clean_env(PYTHONPATH=":".join([STANDIN, SHIM, HERE]), LD_PRELOAD=preloadable_lib,
                    LD_LIBRARY_PATH=cuda_stub_dir, FLOPMETER_OUTPUT_DIR=str(tmp_path / "t"))
    out = run_python(["-c", code], env, cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    # two checkpointed blocks, each run in the forward pass and recomputed: FlopCounterMode
    # sees the recomputation too
    assert r["count"] == 4 * (2 * 4 * 4 * 4)
    assert traces_under(str(tmp_path / "t")) == [r["trace"]]
    records, strings = dump_trace(flopmeter_bin, r["trace"])
    phases = {x["id"]: (strings[x["name"]], x["category"]) for x in records
              if x["record"] == "phase_def"}
    assert sorted(phases.values()) == [("pretraining", 1), ("recomputation", 6)]
    pushes = [(phases[e["phase"]][0], e["thread_id"]) for e in records
              if e["record"] == "phase_event" and e["action"] == 1]
    main = {t for name, t in pushes if name == "pretraining"}
    recomputation = [t for name, t in pushes if name == "recomputation"]
    assert len(main) == 1 and len(recomputation) == 2 * 3  # two checkpoints, three steps
    assert main.isdisjoint(recomputation)  # on the backward pass's threads
    decl = [(strings[x["key"]], x["value"], strings.get(x["text"])) for x in records
            if x["record"] == "declaration" and strings[x["key"]] == "estimate.flopcounter"]
    assert decl == [("estimate.flopcounter", r["count"],
                     "FlopCounterMode, one step of train_step, torch 2.99.0+standin")]
    import flopmeter
    report = flopmeter.load_report(r["trace"], command=flopmeter_bin)
    assert report["facts"]["estimate.flopcounter"]["value"] == r["count"] * 3
