"""`pip install ./python_shim` gives a working package. Built offline (--no-build-isolation,
--no-index) from a copy of python_shim/, so that neither the network nor the source tree is
touched; skipped where pip or setuptools is missing for this interpreter."""
import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import SHIM, clean_env, run_python


def test_pip_install(tmp_path):
    for module in ("pip", "setuptools"):
        if importlib.util.find_spec(module) is None:
            pytest.skip("no %s for %s: the install is not tested" % (module, sys.executable))
    # Offline, the build uses this interpreter's setuptools: [project] in pyproject.toml
    # needs 61 or newer, and before 70.1 building a wheel needs the wheel package. (With
    # network access pip fetches a recent setuptools itself.)
    found = importlib.metadata.version("setuptools")  # not imported: it patches distutils
    version = tuple(int(p) for p in found.split(".")[:2] if p.isdigit())
    if version < (61, 0):
        pytest.skip("setuptools %s of %s is older than 61" % (found, sys.executable))
    if version < (70, 1) and importlib.util.find_spec("wheel") is None:
        pytest.skip("setuptools %s of %s needs the wheel package to build offline" %
                    (found, sys.executable))
    src = str(tmp_path / "python_shim")
    shutil.copytree(SHIM, src, ignore=shutil.ignore_patterns("__pycache__", "build",
                                                             "*.egg-info"))
    target = str(tmp_path / "site")
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                          "--no-index", "--no-build-isolation", "--target", target, src],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True, timeout=300,
                         env=clean_env(PIP_DISABLE_PIP_VERSION_CHECK="1",
                                       PIP_ROOT_USER_ACTION="ignore", PYTHONPATH=None))
    assert pip.returncode == 0, pip.stdout + pip.stderr
    code = ("import json, flopmeter, flopmeter.torch\n"
            "print(json.dumps([flopmeter.__file__, flopmeter.__version__]))\n")
    out = run_python(["-c", code], clean_env(PYTHONPATH=target), cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    path, version = json.loads(out.stdout)
    assert path.startswith(target + os.sep) and version == "0.1.0"
    usage = run_python(["-m", "flopmeter", "--help"], clean_env(PYTHONPATH=target),
                       cwd=str(tmp_path))
    assert usage.returncode == 0 and usage.stdout.startswith("usage: python -m flopmeter")
