"""Shared fixtures of the Python package's tests.

CTest (tests/python/CMakeLists.txt) names what was built through environment variables:
FLOPMETER_TEST_BIN (the flopmeter command), FLOPMETER_TEST_LIB (libflopmeter.so, absent
where the hook is not built), FLOPMETER_TEST_RUN_LIB (what `flopmeter run` preloads in the
launcher tests: the library, or in a sanitized build an uninstrumented stand-in),
FLOPMETER_TEST_CUDA_STUB (the CUDA driver stub) and FLOPMETER_TEST_SANITIZED. A variable
that is set must name an existing file: a wrong one fails the tests instead of skipping
them. Run by hand, the tests look in build/ of the source tree."""
import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SHIM = os.path.join(REPO, "python_shim")
STANDIN = os.path.join(HERE, "torch_standin")

# the package under test, from the source tree; the recorder from this directory
for p in (HERE, SHIM):
    if p not in sys.path:
        sys.path.insert(0, p)


def _built(var, default_rel):
    value = os.environ.get(var)
    if value:
        if not os.path.isfile(value):
            pytest.fail("%s=%s does not exist" % (var, value))
        return value
    default = os.path.join(REPO, "build", default_rel)
    return default if os.path.isfile(default) else None


def sanitized():
    return os.environ.get("FLOPMETER_TEST_SANITIZED") == "1"


@pytest.fixture(scope="session")
def flopmeter_bin():
    path = _built("FLOPMETER_TEST_BIN", "postprocessor/flopmeter")
    if not path:
        pytest.skip("no flopmeter command built (FLOPMETER_TEST_BIN, or build/postprocessor/)")
    return path


@pytest.fixture(scope="session")
def hook_lib():
    path = _built("FLOPMETER_TEST_LIB", "cupti_hook/libflopmeter.so")
    if not path:
        pytest.skip("no libflopmeter.so built (it needs the CUDA toolkit with CUPTI)")
    return path


@pytest.fixture(scope="session")
def preloadable_lib(hook_lib):
    """The library, for tests that load it into this python."""
    if sanitized():
        pytest.skip("the library is built with AddressSanitizer, which an interpreter without "
                    "it cannot load")
    return hook_lib


@pytest.fixture(scope="session")
def run_lib(hook_lib):
    """What `flopmeter run` preloads in the launcher tests."""
    return os.environ.get("FLOPMETER_TEST_RUN_LIB") or hook_lib


@pytest.fixture
def cuda_stub_dir(tmp_path):
    """A directory holding libcuda.so.1 -> the CUDA driver stub, for LD_LIBRARY_PATH: cuInit
    fails there as on a machine without a GPU, and the preloaded library records that."""
    stub = os.environ.get("FLOPMETER_TEST_CUDA_STUB")
    if stub and not os.path.isfile(stub):
        pytest.fail("FLOPMETER_TEST_CUDA_STUB=%s does not exist" % stub)
    if not stub:
        # run by hand: the toolkit's usual home
        cuda = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH") or "/usr/local/cuda"
        cand = os.path.join(cuda, "lib64", "stubs", "libcuda.so")
        stub = cand if os.path.isfile(cand) else None
    if not stub:
        pytest.skip("no CUDA driver stub (lib64/stubs/libcuda.so of the CUDA toolkit)")
    d = tmp_path / "driver"
    d.mkdir()
    os.symlink(stub, str(d / "libcuda.so.1"))
    return str(d)


_INHERITED_OUT = ("LD_PRELOAD", "CUDA_INJECTION64_PATH", "NVTX_INJECTION64_PATH",
                  "TORCHELASTIC_RUN_ID", "SLURM_JOB_ID", "SLURM_STEP_ID", "SLURM_PROCID",
                  "PBS_JOBID", "LSB_JOBID", "RANK", "LOCAL_RANK", "WORLD_SIZE", "PYTHONPATH")


def clean_env(**extra):
    """This environment without anything that would steer the library or the launcher, and
    with the package and the test helpers importable."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("FLOPMETER_") and k not in _INHERITED_OUT}
    env["PYTHONPATH"] = os.pathsep.join([SHIM, HERE])
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # keep the source tree free of __pycache__
    for k, v in extra.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def run_python(args, env, timeout=60, cwd=None):
    """sys.executable with args; the completed process, output as text."""
    return subprocess.run([sys.executable] + list(args), env=env, cwd=cwd,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=timeout)


def dump_trace(flopmeter, trace):
    """(records, strings) of `flopmeter dump --json TRACE`: the records as dicts, the
    interned strings by id."""
    out = subprocess.run([flopmeter, "dump", "--json", trace], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    assert out.returncode == 0, out.stderr
    records = json.loads(out.stdout)["records"]
    strings = {r["id"]: r["text"] for r in records if r["record"] == "string"}
    return records, strings


def traces_under(directory):
    found = []
    for root, _dirs, files in os.walk(directory):
        found += [os.path.join(root, f) for f in files if f.endswith(".fmtrace")]
    return sorted(found)
