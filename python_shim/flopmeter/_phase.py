"""Phases: flopmeter.phase("pretraining") as a context manager and as a decorator.

A phase marks which part of a job a GPU kernel belongs to (pre-training, fine-tuning, RL,
synthetic-data generation, evaluation, activation recomputation, an auxiliary model, or a
custom name). The library keeps one stack of phases per OS thread, and a kernel belongs to
the innermost phase of the thread that launched it; Python threads are OS threads, so a
phase entered in one thread says nothing about another. This module keeps a mirror of each
thread's stack only to answer current_phase(); the library's stack is the one that counts."""
import functools
import inspect
import threading

from . import _lib
from ._categories import category_code, category_name, category_of_name

_local = threading.local()


def _stack():
    s = getattr(_local, "stack", None)
    if s is None:
        s = _local.stack = []
    return s


class phase:
    """A named phase of the job.

        with flopmeter.phase("pretraining"):
            loss = train_step(batch)

        @flopmeter.phase("evaluation")
        def evaluate(model): ...

    The name's category comes from the library's vocabulary (docs/hook.md, "Phases":
    "pretrain", "sft", "rlhf", "eval", "reward_model", ...); any other name is a custom
    phase, unless category= names one (a word such as "auxiliary_model", or a code 0-8 of
    enum fm_phase_category). Phases nest, per thread. Without the library, entering one
    does nothing (and the package warns once)."""

    __slots__ = ("name", "category", "_encoded")

    def __init__(self, name, category=None):
        if not isinstance(name, str):
            raise TypeError("a phase name is a string, not %r" % (name,))
        if not name:
            raise ValueError("a phase needs a name")
        self.name = name
        self.category = None if category is None else category_code(category)
        self._encoded = name.encode("utf-8")

    @property
    def category_name(self):
        """The category the trace will give this phase."""
        code = category_of_name(self.name) if self.category is None else self.category
        return category_name(code)

    def __enter__(self):
        native = _lib.native()
        if native is not None:
            if self.category is None:
                native.phase_push(self._encoded)
            else:
                native.phase_push_category(self._encoded, self.category)
        _stack().append(self)
        return self

    def __exit__(self, exc_type, exc, tb):
        stack = _stack()
        if stack:
            stack.pop()
        native = _lib.native(warn=False)
        if native is not None:
            native.phase_pop()
        return False  # exceptions go on

    def __call__(self, func):
        # Code that yields or awaits lets other code run on the same thread while the phase
        # is open, and that code's kernels would be counted in it: refused rather than wrong.
        if (inspect.isgeneratorfunction(func) or inspect.iscoroutinefunction(func) or
                inspect.isasyncgenfunction(func)):
            raise TypeError("flopmeter.phase cannot decorate %s: a generator or coroutine "
                            "suspends inside the phase while other code runs on its thread; "
                            "use `with flopmeter.phase(...)` around code that does not "
                            "yield" % getattr(func, "__qualname__", func))
        if not callable(func):
            raise TypeError("flopmeter.phase(...) decorates a function, not %r" % (func,))

        @functools.wraps(func)
        def in_phase(*args, **kwargs):
            with self:
                return func(*args, **kwargs)

        return in_phase

    def __repr__(self):
        return "flopmeter.phase(%r, category=%r)" % (self.name, self.category_name)


def current_phase():
    """The innermost phase this thread entered through this package, or None."""
    stack = _stack()
    return stack[-1] if stack else None
