"""flopmeter for Python: mark phases and declare facts from a training script, and launch
it under libflopmeter.so.

    python -m flopmeter run -- train.py           # or: -- torchrun --nproc-per-node 8 train.py

    import flopmeter
    flopmeter.declare_model(model, sequence_length=2048)
    flopmeter.plan(tokens=300e9)
    for batch in loader:
        with flopmeter.phase("pretraining"):
            train_step(batch)
        flopmeter.tokens(batch_tokens)

The functions talk to libflopmeter.so (the C API of include/flopmeter/flopmeter.h) when it is
in the process, which `run` arranges. Without it they check their arguments and do nothing,
and the first call warns once. Guide: docs/python.md."""
from . import torch  # flopmeter.torch: imports PyTorch only when one of its functions runs
from ._categories import (AUXILIARY_MODEL, CUSTOM, EVALUATION, FINETUNING, PRETRAINING,
                          RECOMPUTATION, REINFORCEMENT_LEARNING, SYNTHETIC_DATA, UNSPECIFIED)
from ._declare import declare, declare_model, plan, step, tokens
from ._lib import FlopmeterWarning
from ._phase import current_phase, phase
from ._report import ReportError, load_report

__version__ = "0.1.0"

__all__ = [
    "torch", "phase", "current_phase", "declare", "declare_model", "tokens", "step", "plan",
    "available", "active", "trace_path", "load_report", "ReportError", "FlopmeterWarning",
    "UNSPECIFIED", "PRETRAINING", "FINETUNING", "REINFORCEMENT_LEARNING", "SYNTHETIC_DATA",
    "EVALUATION", "RECOMPUTATION", "AUXILIARY_MODEL", "CUSTOM",
]


def available():
    """True when libflopmeter.so's functions are reachable from this process."""
    from . import _lib
    return _lib.native(warn=False) is not None


def active():
    """True while the library is measuring this process (after CUDA was initialised)."""
    from . import _lib
    native = _lib.native(warn=False)
    return bool(native is not None and native.active())


def trace_path():
    """This process's trace file, or "" before it exists (or without the library)."""
    from . import _lib
    native = _lib.native(warn=False)
    if native is None:
        return ""
    raw = native.trace_path()
    return raw.decode("utf-8", "replace") if raw else ""
