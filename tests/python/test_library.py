"""The package with and without the real libflopmeter.so, in fresh python processes.

Without the library every call is a no-op and one warning is given. With it preloaded, as
`flopmeter run` does, phases and declarations reach a real trace: the library opens its
trace when the program calls cuInit, here through the CUDA driver stub (it fails as on a
machine without a GPU, which the library records), and `flopmeter dump --json` shows the
records. The same through FLOPMETER_LIB, loaded by the package itself."""
import json
import os
import textwrap

from conftest import clean_env, dump_trace, run_python, traces_under

# Every function of the API, as a training script would call them.
USE_THE_API = textwrap.dedent("""
    import json, sys, threading, warnings
    warnings.simplefilter("always")  # count every warning the package gives
    import flopmeter

    @flopmeter.phase("evaluation")
    def evaluate():
        return "evaluated"

    results = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results["available"] = flopmeter.available()
        results["declared"] = flopmeter.declare_model(
            parameters=1.3e9, layers=24, hidden_size=2048, heads=16, ffn_size=8192,
            sequence_length=2048, vocabulary=50304, modality="text")
        results["plan"] = flopmeter.plan(tokens=26e9, steps=20000, gpus=64)
        flopmeter.declare("prior.compute", 3e21, "the checkpoint we start from")
        flopmeter.declare("estimate.flopcounter", 7.5e15, "one step, counted by hand")
        with flopmeter.phase("pretraining"):
            for _ in range(3):
                flopmeter.tokens(4096)
            results["eval"] = evaluate()
            with flopmeter.phase("critic", category="auxiliary_model"):
                pass

        def worker():
            with flopmeter.phase("sft-worker", category="sft"):
                flopmeter.declare("user.thread", 1)

        t = threading.Thread(target=worker)
        t.start(); t.join()
        for word in sys.argv[1:]:  # the words of the vocabulary, to compare categories
            with flopmeter.phase(word):
                pass
    results["warnings"] = [str(w.message) for w in caught
                           if issubclass(w.category, flopmeter.FlopmeterWarning)]
""")

CALL_CUINIT = textwrap.dedent("""
    import ctypes
    # the driver (the stub) in the global scope, then cuInit through the process's symbols,
    # as a program linked with -lcuda calls it: the preloaded library sees it fail
    ctypes.CDLL("libcuda.so.1", mode=ctypes.RTLD_GLOBAL)
    results["cuInit"] = ctypes.CDLL(None).cuInit(0)
""")

REPORT = textwrap.dedent("""
    results["active"] = flopmeter.active()
    results["trace_path"] = flopmeter.trace_path()
    print(json.dumps(results))
""")


def vocabulary():
    from flopmeter._categories import WORDS
    return sorted(WORDS)


def test_without_the_library_everything_is_a_no_op_with_one_warning(tmp_path):
    out = run_python(["-c", USE_THE_API + REPORT], clean_env(), cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert r["available"] is False and r["active"] is False and r["trace_path"] == ""
    assert r["eval"] == "evaluated"
    assert r["declared"]["model.parameters"] == 1300000000
    assert r["plan"] == {"plan.tokens": 26e9, "plan.steps": 20000, "plan.gpus": 64}
    assert len(r["warnings"]) == 1, r["warnings"]
    assert "not loaded" in r["warnings"][0] and "flopmeter run" in r["warnings"][0]
    assert not os.listdir(str(tmp_path))  # nothing written


def test_a_missing_flopmeter_lib_is_one_warning(tmp_path):
    env = clean_env(FLOPMETER_LIB=str(tmp_path / "nowhere" / "libflopmeter.so"))
    out = run_python(["-c", USE_THE_API + REPORT], env, cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert r["available"] is False
    assert len(r["warnings"]) == 1 and "could not be loaded" in r["warnings"][0]


def check_trace(flopmeter_bin, trace):
    """The declarations, phases and steps USE_THE_API made, in the trace."""
    records, strings = dump_trace(flopmeter_bin, trace)
    decls = {}
    for r in records:
        if r["record"] == "declaration":
            key = strings[r["key"]]
            decls.setdefault(key, []).append((r["value"], strings.get(r["text"])))
    assert decls["model.parameters"] == [(1.3e9, None)]
    for key, value in (("model.layers", 24), ("model.hidden_size", 2048), ("model.heads", 16),
                       ("model.ffn_size", 8192), ("model.sequence_length", 2048),
                       ("model.vocabulary", 50304), ("plan.tokens", 26e9),
                       ("plan.steps", 20000), ("plan.gpus", 64)):
        assert decls[key] == [(value, None)], key
    assert decls["model.modality"] == [(1, "text")]
    assert decls["prior.compute"] == [(3e21, "the checkpoint we start from")]
    assert decls["estimate.flopcounter"] == [(7.5e15, "one step, counted by hand")]
    # three steps of 4096 tokens, summed by the library
    assert sum(v for v, _ in decls["data.tokens"]) == 3 * 4096
    assert sum(v for v, _ in decls["data.steps"]) == 3
    # phases: names and the categories the library gave them, as the package says
    from flopmeter._categories import CATEGORIES, category_of_name
    names = {r["id"]: (strings[r["name"]], r["category"]) for r in records
             if r["record"] == "phase_def"}
    by_name = {n: c for n, c in names.values()}
    assert by_name["pretraining"] == CATEGORIES["pretraining"]
    assert by_name["evaluation"] == CATEGORIES["evaluation"]
    assert by_name["critic"] == CATEGORIES["auxiliary_model"]
    assert by_name["sft-worker"] == CATEGORIES["finetuning"]
    for word in vocabulary():
        assert by_name[word] == category_of_name(word), word
    # every push has its pop, on the thread that pushed it; "sft-worker" on a thread of
    # its own; the declaration made there belongs to it
    events = [r for r in records if r["record"] == "phase_event"]
    open_by_thread = {}
    threads_of = {}
    for e in events:
        stack = open_by_thread.setdefault(e["thread_id"], [])
        if e["action"] == 1:
            stack.append(e["phase"])
            threads_of.setdefault(names[e["phase"]][0], set()).add(e["thread_id"])
        else:
            assert stack and stack.pop() == e["phase"]
    assert all(not s for s in open_by_thread.values())
    assert len(threads_of["sft-worker"]) == 1
    assert threads_of["sft-worker"].isdisjoint(threads_of["pretraining"])
    sft_ids = [i for i, (n, _) in names.items() if n == "sft-worker"]
    thread_decl = [r for r in records if r["record"] == "declaration" and
                   strings[r["key"]] == "user.thread"]
    assert [r["phase"] for r in thread_decl] == sft_ids
    return records, strings


def test_preloaded_library_gets_phases_and_declarations_into_the_trace(
        tmp_path, flopmeter_bin, preloadable_lib, cuda_stub_dir):
    out_dir = tmp_path / "traces"
    env = clean_env(LD_PRELOAD=preloadable_lib, LD_LIBRARY_PATH=cuda_stub_dir,
                    FLOPMETER_OUTPUT_DIR=str(out_dir))
    out = run_python(["-c", USE_THE_API + CALL_CUINIT + REPORT] + vocabulary(), env,
                     cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert r["available"] is True and r["warnings"] == []
    assert r["cuInit"] == 34  # CUDA_ERROR_STUB_LIBRARY
    assert r["active"] is True
    traces = traces_under(str(out_dir))
    assert len(traces) == 1 and r["trace_path"] == traces[0]
    check_trace(flopmeter_bin, traces[0])

    # the report reads the declarations as facts
    import flopmeter
    report = flopmeter.load_report(traces[0], command=flopmeter_bin)
    facts = report["facts"]
    assert facts["model.parameters"]["value"] == 1.3e9
    assert facts["model.parameters"]["source"].startswith("declared in ")
    assert facts["plan.tokens"]["value"] == 26e9
    assert facts["data.tokens"]["value"] == 3 * 4096
    assert facts["prior.compute"]["value"] == 3e21
    assert facts["estimate.flopcounter"]["value"] == 7.5e15 * 3  # per step, times steps
    categories = {p["name"]: p["category"] for p in report["by_phase"]}
    assert categories["critic"] == "auxiliary_model"


LOAD_THEN_INJECT = textwrap.dedent("""
    import ctypes, os
    getenv = ctypes.CDLL(None).getenv
    getenv.restype = ctypes.c_char_p
    # what the CUDA driver will read at cuInit
    results["injection"] = (getenv(b"CUDA_INJECTION64_PATH") or b"").decode()
    results["nvtx"] = (getenv(b"NVTX_INJECTION64_PATH") or b"").decode()
    # A stand-in for the CUDA driver's part: at cuInit the driver loads the library named by
    # CUDA_INJECTION64_PATH and calls its InitializeInjection. No driver here does that.
    ctypes.CDLL(results["injection"]).InitializeInjection()
""")


def test_flopmeter_lib_is_loaded_by_the_package(tmp_path, flopmeter_bin, preloadable_lib):
    out_dir = tmp_path / "traces"
    env = clean_env(FLOPMETER_LIB=preloadable_lib, FLOPMETER_OUTPUT_DIR=str(out_dir))
    out = run_python(["-c", USE_THE_API + LOAD_THEN_INJECT + REPORT] + vocabulary(), env,
                     cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert r["available"] is True and r["warnings"] == []
    assert r["injection"] == preloadable_lib and r["nvtx"] == preloadable_lib
    traces = traces_under(str(out_dir))
    assert len(traces) == 1 and r["trace_path"] == traces[0]
    check_trace(flopmeter_bin, traces[0])


def test_flopmeter_lib_after_cuda_is_initialised_is_too_late(tmp_path, preloadable_lib,
                                                            cuda_stub_dir):
    """With the driver loaded and past cuInit (the stub answers every call with an error
    other than 'not initialised'), loading the library could measure nothing: the package
    says so once and stays a no-op."""
    load_driver_first = "import ctypes\nctypes.CDLL('libcuda.so.1')\n"
    env = clean_env(FLOPMETER_LIB=preloadable_lib, LD_LIBRARY_PATH=cuda_stub_dir,
                    FLOPMETER_OUTPUT_DIR=str(tmp_path / "traces"))
    out = run_python(["-c", load_driver_first + USE_THE_API + REPORT], env, cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert r["available"] is False
    assert len(r["warnings"]) == 1 and "too late" in r["warnings"][0]
    assert not (tmp_path / "traces").exists()


def test_flopmeter_mode_off_leaves_the_library_alone(tmp_path, preloadable_lib):
    env = clean_env(FLOPMETER_LIB=preloadable_lib, FLOPMETER_MODE="off")
    out = run_python(["-c", USE_THE_API + REPORT], env, cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert r["available"] is False and len(r["warnings"]) == 1
    assert "FLOPMETER_MODE=off" in r["warnings"][0]
