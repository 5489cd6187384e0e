"""python -m flopmeter: the command line.

    python -m flopmeter run [options] -- script.py [args...]
    python -m flopmeter run [options] -- torchrun --nproc-per-node 8 train.py
    python -m flopmeter locate
    python -m flopmeter VERB ...          (report, verify, dump, ...: the flopmeter command's)

`run` is the C command's `flopmeter run` (docs/run.md): this process replaces itself with
it (exec), so that the options, the environment every rank gets, signal forwarding and the
exit status are exactly that command's, with nothing in between to lose a signal or change a
status. The only thing added is the interpreter: a command that is a .py file, or the word
python or python3, runs with the interpreter running this (sys.executable), so the job sees
the same virtual environment and the same flopmeter package."""
import os
import sys

from ._find import find_command, find_library

PROG = "python -m flopmeter"

USAGE = """usage: python -m flopmeter run [options] -- COMMAND [ARGUMENT...]
       python -m flopmeter locate
       python -m flopmeter VERB [ARGUMENT...]

run     runs COMMAND with libflopmeter.so preloaded into every process it starts, through
        the flopmeter command's `run` (its options: python -m flopmeter run --help;
        docs/run.md). COMMAND may be a script (train.py), python, or a launcher such as
        torchrun; a script, python and python3 run with this interpreter.
locate  says which flopmeter command and libflopmeter.so are found, and how.
VERB    any other verb of the flopmeter command (report, verify, dump, merge, ...), run as is.

The command is found through FLOPMETER_BIN, PATH, beside FLOPMETER_LIB, or this Python's
prefix; the library through FLOPMETER_LIB or beside the command. Guide: docs/python.md.
"""

# `flopmeter run` options that take a value (getopt_long: --opt VALUE or --opt=VALUE, and
# unambiguous abbreviations), and those that do not; needed only to find the "--" that ends
# the options, so that a "--" given as an option's value is not taken for it.
_VALUE_OPTIONS = ("output-dir", "run-id", "mode", "flush-ms", "interval-ms", "max-signatures",
                  "arg-variants", "profile", "profile-budget", "profile-first", "profile-skip",
                  "lib")
_FLAG_OPTIONS = ("fsync", "strict", "no-callstacks", "no-args", "profile-replay-first",
                 "no-arg-learn", "quiet", "help")


def _takes_value(token):
    if not token.startswith("--") or "=" in token or token == "--":
        return False
    name = token[2:]
    names = _VALUE_OPTIONS + _FLAG_OPTIONS
    if name in names:
        return name in _VALUE_OPTIONS
    matches = [n for n in names if n.startswith(name)]
    return len(matches) == 1 and matches[0] in _VALUE_OPTIONS


def split_run_args(args):
    """(options, command) of `run`'s arguments; command is None when no "--" ends them."""
    i = 0
    while i < len(args):
        if args[i] == "--":
            return args[:i], args[i + 1:]
        if not args[i].startswith("--"):
            return args, None  # an operand before "--": `flopmeter run` says what is wrong
        i += 2 if _takes_value(args[i]) else 1
    return args, None


def with_interpreter(command, executable=None):
    """The command to run, with this interpreter in front of a script and in place of the
    words python and python3."""
    exe = executable if executable is not None else sys.executable
    if not command or not exe:
        return list(command)
    first = command[0]
    if first in ("python", "python3"):
        return [exe] + list(command[1:])
    if first.endswith(".py"):
        return [exe] + list(command)
    return list(command)


def _error(message):
    sys.stderr.write("%s: %s\n" % (PROG, message))
    return 2


def _exec(command, argv):
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execv(command, [command] + argv)
    except OSError as e:
        return _error("cannot run %s: %s" % (command, e.strerror))


def _locate():
    cmd = find_command()
    lib = find_library(command=cmd.path)
    out = sys.stdout
    if cmd:
        out.write("flopmeter command: %s (%s)\n" % (cmd.path, cmd.how))
    else:
        out.write("flopmeter command: not found: %s\n" % cmd.problem)
    if lib:
        out.write("libflopmeter.so:   %s (%s)\n" % (lib.path, lib.how))
    else:
        out.write("libflopmeter.so:   not found: %s\n" % lib.problem)
    return 0 if cmd and lib else 2


def main(argv=None):
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        sys.stderr.write(USAGE)
        return 2
    verb, rest = args[0], args[1:]
    if verb in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        return 0
    if verb == "locate":
        return _locate()
    cmd = find_command()
    if not cmd:
        return _error(cmd.problem)
    if verb == "run":
        options, command = split_run_args(rest)
        if command is not None:
            rest = options + ["--"] + with_interpreter(command)
    return _exec(cmd.path, [verb] + rest)
