"""Finding the `flopmeter` command and libflopmeter.so on disk.

The package ships neither: both come from building or installing the C project. The
command is looked for where a user has put it (FLOPMETER_BIN, PATH), then next to the
library named by FLOPMETER_LIB, then in this interpreter's prefix (a virtual environment the
project was installed into). The library is looked for as `flopmeter run` itself looks for it
(docs/run.md, "What it does"), so that `python -m flopmeter locate` names the file `run` will
preload."""
import os
import shutil
import sys

COMMAND = "flopmeter"
LIBRARY = "libflopmeter.so"

# Beside the command: an installed tree's library directories, then the build tree
# (build/postprocessor/flopmeter and build/cupti_hook/libflopmeter.so).
_LIB_BESIDE_COMMAND = ("../lib", "../lib64", "../lib/x86_64-linux-gnu", "../cupti_hook")
# Beside the library: the way back to the command from each of those.
_COMMAND_BESIDE_LIB = ("../bin", "../../bin", "../postprocessor")


class Found:
    """A path, or None with the reason it was not found; `how` says where it came from."""

    def __init__(self, path=None, how="", problem=""):
        self.path = path
        self.how = how
        self.problem = problem

    def __bool__(self):
        return self.path is not None

    def __repr__(self):
        return "Found(%r, %r, %r)" % (self.path, self.how, self.problem)


def _executable(path):
    return os.path.isfile(path) and os.access(path, os.X_OK)


def _readable(path):
    return os.path.isfile(path) and os.access(path, os.R_OK)


def find_command(environ=None):
    """The `flopmeter` command: FLOPMETER_BIN, else PATH, else beside FLOPMETER_LIB, else
    this interpreter's prefix. A FLOPMETER_BIN that names no executable is an error rather
    than a reason to look elsewhere: the user said which one to use."""
    env = os.environ if environ is None else environ
    named = env.get("FLOPMETER_BIN")
    if named:
        if _executable(named):
            return Found(os.path.abspath(named), "FLOPMETER_BIN")
        return Found(problem="FLOPMETER_BIN=%s is not an executable file" % named)
    on_path = shutil.which(COMMAND, path=env.get("PATH", os.defpath))
    if on_path:
        return Found(os.path.abspath(on_path), "PATH")
    lib = env.get("FLOPMETER_LIB")
    if lib:
        base = os.path.dirname(os.path.abspath(lib))
        for rel in _COMMAND_BESIDE_LIB:
            cand = os.path.normpath(os.path.join(base, rel, COMMAND))
            if _executable(cand):
                return Found(cand, "beside FLOPMETER_LIB")
    for prefix in dict.fromkeys((sys.prefix, sys.exec_prefix)):
        cand = os.path.join(prefix, "bin", COMMAND)
        if _executable(cand):
            return Found(cand, "this Python's prefix")
    return Found(problem="the flopmeter command was not found: put its directory on PATH, "
                         "or name it with FLOPMETER_BIN=/path/to/flopmeter (in a build tree: "
                         "build/postprocessor/flopmeter)")


def find_library(environ=None, command=None):
    """libflopmeter.so: FLOPMETER_LIB, else beside the command (as `flopmeter run` does)."""
    env = os.environ if environ is None else environ
    named = env.get("FLOPMETER_LIB")
    if named:
        if _readable(named):
            return Found(os.path.abspath(named), "FLOPMETER_LIB")
        return Found(problem="FLOPMETER_LIB=%s is not a readable file" % named)
    if command is None:
        command = find_command(env).path
    if command:
        base = os.path.dirname(os.path.realpath(command))
        for rel in _LIB_BESIDE_COMMAND:
            cand = os.path.normpath(os.path.join(base, rel, LIBRARY))
            if _readable(cand):
                return Found(cand, "beside the flopmeter command")
    return Found(problem="libflopmeter.so was not found: name it with "
                         "FLOPMETER_LIB=/path/to/libflopmeter.so (in a build tree: "
                         "build/cupti_hook/libflopmeter.so; it is built where the CUDA "
                         "toolkit with CUPTI is installed)")
