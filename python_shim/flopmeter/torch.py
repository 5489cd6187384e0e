"""PyTorch helpers: activation-recomputation phases and PyTorch's own FLOP count.

torch is imported only inside these functions, so `import flopmeter` never loads it.

Recomputation. Activation checkpointing runs a checkpointed function once in the forward
pass and again in the backward pass, to recompute the activations it did not keep. The
second run is work the EU rules let a provider leave out; it is counted in the phase
"recomputation" (category recomputation) when it runs inside that phase, on the thread that
runs it (the backward pass runs on an autograd thread of its own). Three ways:

- tag_recomputation(): replaces torch.utils.checkpoint.checkpoint (in that module and in the
  modules that imported it by name), so that every checkpointed function's runs after its
  first are recomputation. Covers checkpoint() with use_reentrant=True and False, and
  checkpoint_sequential (it calls checkpoint);
- checkpoint(function, *args, **kwargs): the same for one call, replacing nothing;
- recomputation_context (or with_recomputation(context_fn)) as checkpoint's context_fn
  (PyTorch >= 2.1, use_reentrant=False only): the recomputation runs in the phase.

Which PyTorch versions and checkpointing APIs are covered, and how that is tested:
docs/python.md. torch.compile is not covered (the compiler decides what to recompute inside a
compiled graph, where Python code does not run).

FlopCounterMode. count_with_flopcounter(step_fn) runs one step under
torch.utils.flop_counter.FlopCounterMode (PyTorch >= 2.1) and declares its count as
estimate.flopcounter: the report multiplies it by the steps declared with flopmeter.tokens()
and shows it next to the measured work."""
import contextlib
import itertools
import sys
import types

from . import _declare
from ._categories import RECOMPUTATION
from ._phase import phase

RECOMPUTATION_PHASE = "recomputation"


def _torch():
    try:
        import torch
    except ImportError as e:
        raise ImportError("flopmeter.torch needs PyTorch (pip install torch): %s" % e)
    return torch


def recomputation_phase():
    """The phase recomputation runs in."""
    return phase(RECOMPUTATION_PHASE, category=RECOMPUTATION)


# ---- the first run is the forward pass, later runs are recomputation -----------------------

def _count_runs(function):
    """function, wrapped so that its second and later runs are inside the recomputation
    phase. One wrapper per checkpoint() call: checkpoint runs its function once in the
    forward pass, and again for each recomputation in the backward pass (reentrant or not,
    and for each backward pass when the graph is kept)."""
    runs = itertools.count()  # next() is atomic under the GIL

    def run(*args, **kwargs):
        if next(runs) == 0:
            return function(*args, **kwargs)
        with recomputation_phase():
            return function(*args, **kwargs)

    run.__wrapped__ = function
    return run


def checkpoint(function, *args, **kwargs):
    """torch.utils.checkpoint.checkpoint(function, *args, **kwargs), its recomputation in
    the recomputation phase. Every argument is passed on unchanged."""
    _torch()
    return _original_checkpoint()(_count_runs(function), *args, **kwargs)


def _original_checkpoint():
    import torch.utils.checkpoint as cp
    f = cp.checkpoint
    return getattr(f, "_flopmeter_original", f)


_rebound = []  # (module, attribute) tag_recomputation() pointed at the tagged function


def _modules():
    return [m for m in list(sys.modules.values()) if isinstance(m, types.ModuleType)]


def tag_recomputation():
    """Makes torch.utils.checkpoint.checkpoint put every recomputation in the recomputation
    phase, from now on. The function is replaced in torch.utils.checkpoint and wherever an
    imported module holds it under a name of its own (`from torch.utils.checkpoint import
    checkpoint`, as Hugging Face transformers and FSDP's checkpoint_wrapper do), so that
    checkpointing those set up afterwards is covered too; a functools.partial made before
    this call keeps the original (call this before gradient_checkpointing_enable() and
    before wrapping modules). Calling it again does nothing; untag_recomputation() undoes
    it."""
    _torch()
    import torch.utils.checkpoint as cp
    if getattr(cp.checkpoint, "_flopmeter_original", None) is not None:
        return
    original = cp.checkpoint

    def tagged_checkpoint(function, *args, **kwargs):
        return original(_count_runs(function), *args, **kwargs)

    tagged_checkpoint.__doc__ = original.__doc__
    tagged_checkpoint.__name__ = getattr(original, "__name__", "checkpoint")
    tagged_checkpoint.__qualname__ = getattr(original, "__qualname__", "checkpoint")
    tagged_checkpoint.__module__ = getattr(original, "__module__", cp.__name__)
    tagged_checkpoint._flopmeter_original = original
    for module in _modules():
        for name, value in list(vars(module).items()):
            if value is original:
                try:
                    setattr(module, name, tagged_checkpoint)
                except (AttributeError, TypeError):
                    continue  # a module that refuses: it keeps the original
                _rebound.append((module, name))


def untag_recomputation():
    """Puts the original torch.utils.checkpoint.checkpoint back, everywhere tag_recomputation
    put the tagged one."""
    _torch()
    import torch.utils.checkpoint as cp
    original = getattr(cp.checkpoint, "_flopmeter_original", None)
    if original is None:
        return
    tagged = cp.checkpoint
    for module, name in _rebound:
        if getattr(module, name, None) is tagged:
            setattr(module, name, original)
    del _rebound[:]


# ---- context_fn ------------------------------------------------------------------------------

def recomputation_context():
    """A context_fn for torch.utils.checkpoint.checkpoint(..., use_reentrant=False,
    context_fn=flopmeter.torch.recomputation_context) (PyTorch >= 2.1): nothing around the
    forward pass, the recomputation phase around the recomputation."""
    return contextlib.nullcontext(), recomputation_phase()


def with_recomputation(context_fn):
    """A context_fn that does what context_fn does, and also puts the recomputation in the
    recomputation phase: for checkpointing that already uses one (selective activation
    checkpointing's create_selective_checkpoint_contexts, for example)."""

    def both():
        forward, recompute = context_fn()
        return forward, _Both(recomputation_phase(), recompute)

    return both


class _Both:
    """Two context managers as one: the first entered first and left last."""

    def __init__(self, outer, inner):
        self._outer, self._inner = outer, inner
        self._stack = None

    def __enter__(self):
        stack = contextlib.ExitStack()
        stack.enter_context(self._outer)
        try:
            stack.enter_context(self._inner)
        except BaseException:
            stack.close()
            raise
        self._stack = stack
        return self

    def __exit__(self, *exc):
        stack, self._stack = self._stack, None
        return stack.__exit__(*exc)


# ---- FlopCounterMode --------------------------------------------------------------------------

def count_with_flopcounter(step_fn, *args, **kwargs):
    """Runs step_fn(*args, **kwargs) once under torch.utils.flop_counter.FlopCounterMode and
    declares the count as estimate.flopcounter (operations of one step, per rank). Returns
    the count.

    The step runs for real (it is one of the job's steps, and is measured like the others);
    call it in place of one ordinary step, after the warm-up, and call flopmeter.tokens() for
    it as for every step: the report multiplies the count by the steps declared."""
    torch = _torch()
    try:
        from torch.utils.flop_counter import FlopCounterMode
    except ImportError:
        raise ImportError("flopmeter.torch.count_with_flopcounter needs "
                          "torch.utils.flop_counter.FlopCounterMode (PyTorch >= 2.1; this is "
                          "%s)" % getattr(torch, "__version__", "an unknown version"))
    counter = FlopCounterMode(display=False)
    with counter:
        step_fn(*args, **kwargs)
    count = int(counter.get_total_flops())
    name = getattr(step_fn, "__qualname__", None) or getattr(step_fn, "__name__", "a step")
    _declare.declare("estimate.flopcounter", count,
                     "FlopCounterMode, one step of %s, torch %s" %
                     (name, getattr(torch, "__version__", "?")))
    return count
