"""Stand-in for torch.utils.checkpoint (see torch/__init__.py of the stand-in)."""
import contextlib

import torch


def noop_context_fn():
    return contextlib.nullcontext(), contextlib.nullcontext()


def checkpoint(function, *args, use_reentrant=None, context_fn=noop_context_fn, **kwargs):
    if use_reentrant is None:
        use_reentrant = True  # the default before PyTorch asked for it explicitly
    if use_reentrant:
        if context_fn is not noop_context_fn:
            raise ValueError("context_fn is only supported when use_reentrant=False")
        with torch.no_grad():
            out = function(*args)

        def recompute():
            with torch.enable_grad():
                function(*args)
    else:
        forward_ctx, recompute_ctx = context_fn()
        with forward_ctx:
            out = function(*args, **kwargs)

        def recompute():
            with recompute_ctx, torch.enable_grad():
                function(*args, **kwargs)

    torch._pending.append(recompute)
    return out


def checkpoint_sequential(functions, segments, input, use_reentrant=None, **kwargs):
    def run_segment(start, end):
        def forward(x):
            for f in functions[start:end + 1]:
                x = f(x)
            return x
        return forward

    size = len(functions) // segments
    end = -1
    for start in range(0, size * (segments - 1), size):
        end = start + size - 1
        input = checkpoint(run_segment(start, end), input, use_reentrant=use_reentrant,
                           **kwargs)
    return run_segment(end + 1, len(functions) - 1)(input)
