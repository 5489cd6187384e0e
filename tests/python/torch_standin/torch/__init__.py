"""A stand-in for the few parts of PyTorch that flopmeter.torch uses, for the tests on
machines without PyTorch. It is not PyTorch: it only keeps the contracts flopmeter relies on,
as PyTorch 2.x documents them:

- torch.utils.checkpoint.checkpoint(function, *args, use_reentrant=..., context_fn=...)
  runs function once now, and again when the backward pass needs the activations:
  reentrant, under no_grad and then enable_grad; not reentrant, inside context_fn()'s two
  context managers (forward, recompute). checkpoint_sequential calls checkpoint through the
  module's global name for every segment but the last;
- the backward pass runs on a thread of its own (autograd's device thread);
- torch.utils.flop_counter.FlopCounterMode(display=False) counts the operations run inside
  it; get_total_flops() returns the count.

standin_matmul(m, n, k) stands for a matrix product (2mnk operations); standin_backward()
for loss.backward(): it runs the pending recomputations on a new thread and waits."""
import threading

__version__ = "2.99.0+standin"

_pending = []
_grad_enabled = [True]


def standin_matmul(m, n, k):
    from .utils import flop_counter
    flop_counter._count(2 * m * n * k)
    return (m, n)


def standin_backward():
    """Runs the recomputations checkpoint() left for the backward pass, on another thread,
    as autograd does; returns the thread's ident."""
    jobs, _pending[:] = list(_pending), []
    seen = {}

    def backward():
        seen["thread"] = threading.get_ident()
        for job in reversed(jobs):
            job()

    t = threading.Thread(target=backward, name="standin-autograd")
    t.start()
    t.join()
    return seen["thread"]


def is_grad_enabled():
    return _grad_enabled[0]


class _GradMode:
    def __init__(self, enabled):
        self.enabled = enabled

    def __enter__(self):
        self.prev = _grad_enabled[0]
        _grad_enabled[0] = self.enabled

    def __exit__(self, *exc):
        _grad_enabled[0] = self.prev


def no_grad():
    return _GradMode(False)


def enable_grad():
    return _GradMode(True)
