"""flopmeter.torch and declare_model against real PyTorch, on the CPU. Skipped where PyTorch
is not installed (test_torch_standin.py covers the same logic there with a stand-in)."""
import pytest

torch = pytest.importorskip(
    "torch", reason="PyTorch is not installed here; these tests run where it is "
                    "(test_torch_standin.py covers flopmeter.torch without it)")

import flopmeter  # noqa: E402
from flopmeter import _lib  # noqa: E402
from recorder import Recorder  # noqa: E402


def version():
    return tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:2])


@pytest.fixture(autouse=True)
def rec():
    r = Recorder()
    _lib.install(r)
    yield r
    _lib.install(None)
    flopmeter.torch.untag_recomputation()


def test_declare_model_counts_parameters_once():
    model = torch.nn.Sequential(torch.nn.Embedding(100, 16), torch.nn.Linear(16, 100))
    model[1].weight = model[0].weight  # tied: one parameter, counted once
    declared = flopmeter.declare_model(model)
    assert declared == {"model.parameters": 100 * 16 + 100}


def checkpointed_runs(call, reentrant):
    lin = torch.nn.Linear(8, 8)
    runs = []

    def block(t):
        runs.append(getattr(flopmeter.current_phase(), "name", None))
        return torch.relu(lin(t))

    x = torch.randn(4, 8, requires_grad=True)
    y = call(block, x, use_reentrant=reentrant)
    y.sum().backward()
    return runs


@pytest.mark.parametrize("reentrant", [True, False])
def test_tag_recomputation(rec, reentrant):
    flopmeter.torch.tag_recomputation()
    runs = checkpointed_runs(lambda *a, **k: torch.utils.checkpoint.checkpoint(*a, **k),
                             reentrant)
    assert runs == [None, "recomputation"]
    assert [c[2] for c in rec.named("push")] == [("recomputation", 6)]
    flopmeter.torch.untag_recomputation()
    runs = checkpointed_runs(lambda *a, **k: torch.utils.checkpoint.checkpoint(*a, **k),
                             reentrant)
    assert runs == [None, None]


@pytest.mark.parametrize("reentrant", [True, False])
def test_checkpoint_wrapper(rec, reentrant):
    assert checkpointed_runs(flopmeter.torch.checkpoint, reentrant) == [None, "recomputation"]


@pytest.mark.skipif(version() < (2, 1), reason="checkpoint's context_fn came in PyTorch 2.1")
def test_context_fn(rec):
    def call(f, x, use_reentrant):
        return torch.utils.checkpoint.checkpoint(
            f, x, use_reentrant=False, context_fn=flopmeter.torch.recomputation_context)
    assert checkpointed_runs(call, False) == [None, "recomputation"]


@pytest.mark.skipif(version() < (2, 1), reason="FlopCounterMode came in PyTorch 2.1")
def test_count_with_flopcounter(rec):
    lin = torch.nn.Linear(16, 32, bias=False)
    x = torch.randn(8, 16)

    def step():
        with torch.no_grad():
            lin(x)

    count = flopmeter.torch.count_with_flopcounter(step)
    assert count == 2 * 8 * 16 * 32
    (key, value, text), = [c[2] for c in rec.named("declare")]
    assert key == "estimate.flopcounter" and value == count
    assert "torch " + torch.__version__ in text


def test_tag_recomputation_reaches_checkpoint_sequential(rec):
    """checkpoint_sequential calls checkpoint for every segment but the last: once tagged,
    the recomputation of the first segment runs in the phase, the last segment never."""
    flopmeter.torch.tag_recomputation()
    phases = []

    class Probe(torch.nn.Module):
        def forward(self, t):
            phases.append(getattr(flopmeter.current_phase(), "name", None))
            return torch.relu(t)

    model = torch.nn.Sequential(torch.nn.Linear(8, 8), Probe(), torch.nn.Linear(8, 8), Probe())
    x = torch.randn(4, 8, requires_grad=True)
    # PyTorch 2 asks for use_reentrant to be named; 1.13 takes no such argument
    kwargs = {"use_reentrant": True} if version() >= (2, 0) else {}
    torch.utils.checkpoint.checkpoint_sequential(model, 2, x, **kwargs).sum().backward()
    assert phases == [None, None, "recomputation"]
    assert [c[2] for c in rec.named("push")] == [("recomputation", 6)]
