"""The in-process API against a test double of the C API (recorder.Recorder): what each
function asks of the library, per thread, and which values it refuses."""
import threading
import types

import pytest

import flopmeter
from flopmeter import _lib
from recorder import Recorder


@pytest.fixture(autouse=True)
def rec():
    r = Recorder()
    _lib.install(r)
    yield r
    _lib.install(None)


# ---- phases ----------------------------------------------------------------------------------

def test_phase_as_context_manager(rec):
    with flopmeter.phase("pretrain") as p:
        assert flopmeter.current_phase() is p
    assert flopmeter.current_phase() is None
    assert [c[0] for c in rec.calls] == ["push", "pop"]
    assert rec.calls[0][2] == ("pretrain", None)  # the library derives the category
    assert p.category_name == "pretraining"


@pytest.mark.parametrize("name,category", [
    ("pretraining", "pretraining"), ("Pre-Training", "pretraining"),
    ("fine-tuning", "finetuning"), ("sft", "finetuning"),
    ("rlhf", "reinforcement_learning"), ("RL", "reinforcement_learning"),
    ("synthetic-data-generation", "synthetic_data"),
    ("eval", "evaluation"), ("evaluation", "evaluation"),
    ("recompute", "recomputation"),
    ("reward_model", "auxiliary_model"), ("auxiliary model", "auxiliary_model"),
    ("data-mixing-ablation", "custom"),
])
def test_phase_categories_of_names(rec, name, category):
    assert flopmeter.phase(name).category_name == category


def test_phase_with_explicit_category(rec):
    with flopmeter.phase("critic-v2", category="auxiliary_model"):
        with flopmeter.phase("judge", category=flopmeter.EVALUATION):
            pass
    pushes = rec.named("push")
    assert pushes[0][2] == ("critic-v2", 7)
    assert pushes[1][2] == ("judge", 5)
    assert flopmeter.phase("x", category="reward-model").category == flopmeter.AUXILIARY_MODEL


@pytest.mark.parametrize("bad", ["training-ish", 9, -1])
def test_phase_refuses_unknown_categories(bad):
    with pytest.raises(ValueError):
        flopmeter.phase("x", category=bad)


@pytest.mark.parametrize("bad", [None, b"bytes", 3])
def test_phase_name_must_be_a_string(bad):
    with pytest.raises(TypeError):
        flopmeter.phase(bad)
    with pytest.raises(ValueError):
        flopmeter.phase("")


def test_phase_as_decorator_keeps_result_and_exceptions(rec):
    @flopmeter.phase("evaluation")
    def evaluate(x, scale=1):
        """Docstring kept."""
        assert flopmeter.current_phase().name == "evaluation"
        if x < 0:
            raise KeyError(x)
        return x * scale

    assert evaluate(3, scale=2) == 6
    with pytest.raises(KeyError):
        evaluate(-1)
    assert evaluate.__doc__ == "Docstring kept." and evaluate.__name__ == "evaluate"
    assert [c[0] for c in rec.calls] == ["push", "pop", "push", "pop"]
    assert flopmeter.current_phase() is None


def test_phase_refuses_generators_and_coroutines():
    def gen():
        yield 1

    async def coro():
        return 1

    for f in (gen, coro):
        with pytest.raises(TypeError, match="generator or coroutine"):
            flopmeter.phase("x")(f)


def test_phases_nest(rec):
    with flopmeter.phase("pretraining"):
        with flopmeter.phase("eval"):
            with flopmeter.phase("eval"):  # the same name again is a push of its own
                assert flopmeter.current_phase().name == "eval"
        assert flopmeter.current_phase().name == "pretraining"
    assert [c[0] for c in rec.calls] == ["push"] * 3 + ["pop"] * 3


def test_phases_are_per_thread(rec):
    """A phase belongs to the thread that entered it: each push and its pop come from that
    thread, and another thread's current phase is its own."""
    seen = {}
    inside = threading.Barrier(3)
    shared = flopmeter.phase("synthetic_data")  # one object used by several threads

    def worker(name):
        with flopmeter.phase(name):
            with shared:
                inside.wait(timeout=10)  # all threads inside their phases at once
                seen[name] = flopmeter.current_phase().name
                inside.wait(timeout=10)
            seen[name + ".after"] = flopmeter.current_phase().name

    threads = [threading.Thread(target=worker, args=(n,)) for n in ("a", "b", "c")]
    with flopmeter.phase("main"):
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert flopmeter.current_phase().name == "main"
    assert seen == {"a": "synthetic_data", "b": "synthetic_data", "c": "synthetic_data",
                    "a.after": "a", "b.after": "b", "c.after": "c"}
    by_thread = {}
    for name, ident, args in rec.calls:
        by_thread.setdefault(ident, []).append((name,) + (args[:1] if args else ()))
    assert len(by_thread) == 4
    for calls in by_thread.values():
        if calls[0] == ("push", "main"):
            assert calls == [("push", "main"), ("pop",)]
        else:
            assert [c[0] for c in calls] == ["push", "push", "pop", "pop"]
            assert calls[1] == ("push", "synthetic_data")


# ---- declarations ----------------------------------------------------------------------------

def test_declare_known_keys_and_user_keys(rec):
    assert flopmeter.declare("prior.compute", 3.1e23) == 3.1e23
    flopmeter.declare("hardware.utilization", 0.4)
    flopmeter.declare("original.compute", 1e24, "the base model's report")
    flopmeter.declare("user.run_note", 1, "warm restart")
    flopmeter.declare("model.modality", "text+image")
    calls = [c[2] for c in rec.named("declare")]
    assert calls == [("prior.compute", 3.1e23, None), ("hardware.utilization", 0.4, None),
                     ("original.compute", 1e24, "the base model's report"),
                     ("user.run_note", 1.0, "warm restart"),
                     ("model.modality", 1.0, "text+image")]


@pytest.mark.parametrize("key,value,error", [
    ("model.params", 7e9, ValueError),            # not a key the report reads
    ("plan.token", 1e9, ValueError),
    ("user.", 1, ValueError),
    ("model.layers", 32.5, ValueError),           # whole numbers
    ("model.layers", 0, ValueError),
    ("plan.tokens", 0, ValueError),               # above 0
    ("data.tokens", -1, ValueError),              # 0 or more
    ("hardware.utilization", 1.5, ValueError),    # a fraction
    ("prior.compute", float("nan"), ValueError),
    ("prior.compute", float("inf"), ValueError),
    ("prior.compute", "lots", TypeError),
    ("model.modality", "smell", ValueError),
    (7, 1, TypeError),
])
def test_declare_refuses_what_the_report_would(rec, key, value, error):
    with pytest.raises(error):
        flopmeter.declare(key, value)
    assert not rec.named("declare")


def test_declare_text_is_cut_to_what_the_library_keeps(rec):
    flopmeter.declare("user.long", 1, "é" * 200)  # 400 bytes
    text = rec.named("declare")[0][2][2]
    assert len(text.encode("utf-8")) <= 255 and set(text) == {"é"}


def test_tokens_is_one_step(rec):
    for n in (4096, 4096, 2048):
        flopmeter.tokens(n)
    flopmeter.step(1)
    assert [c[2][0] for c in rec.named("step")] == [4096.0, 4096.0, 2048.0, 1.0]
    with pytest.raises(ValueError):
        flopmeter.tokens(-5)
    with pytest.raises(ValueError):
        flopmeter.tokens(float("nan"))


def test_plan(rec):
    assert flopmeter.plan(tokens=2e12, steps=500000, gpus=1024) == {
        "plan.tokens": 2e12, "plan.steps": 500000, "plan.gpus": 1024}
    assert rec.declarations() == {"plan.tokens": 2e12, "plan.steps": 500000.0,
                                  "plan.gpus": 1024.0}
    with pytest.raises(TypeError):
        flopmeter.plan()
    with pytest.raises(ValueError):
        flopmeter.plan(steps=10.5)


# ---- declare_model ---------------------------------------------------------------------------

class FakeParam:
    """What declare_model reads of a parameter: numel(), and DeepSpeed's ds_numel."""

    def __init__(self, n, ds_numel=None):
        self._n = n
        if ds_numel is not None:
            self.ds_numel = ds_numel

    def numel(self):
        return self._n


class FakeModule:
    """What declare_model reads of a torch.nn.Module: named_parameters() (which PyTorch
    already gives without duplicates, tied weights once) and an optional .config."""

    def __init__(self, params, config=None):
        self._params = params
        if config is not None:
            self.config = config

    def named_parameters(self):
        return iter(self._params.items())


def hf_llama_config(**kw):
    c = dict(num_hidden_layers=32, hidden_size=4096, num_attention_heads=32,
             intermediate_size=11008, max_position_embeddings=4096, vocab_size=32000,
             num_key_value_heads=32, rms_norm_eps=1e-6)
    c.update(kw)
    return types.SimpleNamespace(**c)


def test_declare_model_from_a_hugging_face_config(rec):
    declared = flopmeter.declare_model(hf_llama_config())
    assert declared == {"model.layers": 32, "model.hidden_size": 4096, "model.heads": 32,
                        "model.ffn_size": 11008, "model.sequence_length": 4096,
                        "model.vocabulary": 32000}
    assert rec.declarations() == {k: float(v) for k, v in declared.items()}


def test_declare_model_from_a_gpt2_config():
    gpt2 = types.SimpleNamespace(n_layer=12, n_embd=768, n_head=12, n_positions=1024,
                                 n_ctx=1024, n_inner=None, vocab_size=50257)
    assert flopmeter.declare_model(gpt2, sequence_length=512) == {
        "model.layers": 12, "model.hidden_size": 768, "model.heads": 12,
        "model.ffn_size": 3072,  # n_inner None: four times n_embd
        "model.sequence_length": 512,  # the context trained on, given by name, wins
        "model.vocabulary": 50257}


def test_declare_model_from_numbers_and_dicts(rec):
    by_name = flopmeter.declare_model(parameters=7e9, layers=32, hidden_size=4096, heads=32,
                                      sequence_length=4096, vocabulary=32000, modality="text")
    assert by_name["model.parameters"] == 7000000000
    assert by_name["model.modality"] == "text"
    assert flopmeter.declare_model({"parameters": 1.3e9, "model.layers": 24}) == {
        "model.parameters": 1300000000, "model.layers": 24}
    assert flopmeter.declare_model({"n_layer": 6, "d_model": 512, "d_ff": 2048}) == {
        "model.layers": 6, "model.hidden_size": 512, "model.ffn_size": 2048}
    modality = [c[2] for c in rec.named("declare") if c[2][0] == "model.modality"]
    assert modality == [("model.modality", 1.0, "text")]


def test_declare_model_reads_a_multimodal_text_config():
    outer = types.SimpleNamespace(text_config=hf_llama_config(num_hidden_layers=40),
                                  vision_config=types.SimpleNamespace(num_hidden_layers=24))
    assert flopmeter.declare_model(outer)["model.layers"] == 40


def test_declare_model_from_a_module():
    config = hf_llama_config(num_hidden_layers=2, hidden_size=8, num_attention_heads=2,
                             intermediate_size=16, vocab_size=10, max_position_embeddings=32)
    module = FakeModule({"embed.weight": FakeParam(80), "layers.0.w": FakeParam(64),
                         "layers.1.w": FakeParam(64)}, config)
    declared = flopmeter.declare_model(module)
    assert declared["model.parameters"] == 208 and declared["model.layers"] == 2
    assert "model.parameters_active" not in declared  # dense: nothing to say
    # parameters given by name win over the count
    assert flopmeter.declare_model(module, parameters=1000)["model.parameters"] == 1000
    # a wrapper (DistributedDataParallel) without config, around a module with one
    wrapper = FakeModule(module._params)
    wrapper.module = module
    assert flopmeter.declare_model(wrapper)["model.layers"] == 2
    # DeepSpeed ZeRO-3: the real sizes are in ds_numel
    zero3 = FakeModule({"a": FakeParam(0, ds_numel=500), "b": FakeParam(0, ds_numel=24)})
    assert flopmeter.declare_model(zero3) == {"model.parameters": 524}


def test_declare_model_active_parameters_of_a_mixture_of_experts():
    params = {"embed.weight": FakeParam(1000), "layers.0.attn.w": FakeParam(400),
              "layers.0.moe.gate.weight": FakeParam(8),            # the router: always
              "layers.0.moe.shared_experts.w": FakeParam(200),     # shared: always
              "layers.0.moe.experts.0.w1.weight": FakeParam(300),
              "layers.0.moe.experts.1.w1.weight": FakeParam(300),
              "layers.0.moe.experts.2.w1.weight": FakeParam(300),
              "layers.0.moe.experts.3.w1.weight": FakeParam(300)}
    mixtral_like = types.SimpleNamespace(num_local_experts=4, num_experts_per_tok=1)
    declared = flopmeter.declare_model(FakeModule(params, mixtral_like))
    assert declared["model.parameters"] == 2808
    assert declared["model.experts"] == 4 and declared["model.experts_active"] == 1
    assert declared["model.parameters_active"] == 1608 + 300  # dense + 1 of 4 experts
    # stacked experts (one tensor for all), top-k stated by the user
    stacked = {"embed.weight": FakeParam(100), "layers.0.mlp.experts.gate_up_proj":
               FakeParam(800)}
    declared = flopmeter.declare_model(FakeModule(stacked), experts=8, experts_active=2)
    assert declared["model.parameters_active"] == 100 + 200
    # stated explicitly: used as given
    assert flopmeter.declare_model(FakeModule(stacked), experts=8, experts_active=2,
                                   parameters_active=123)["model.parameters_active"] == 123


def test_declare_model_refusals():
    with pytest.raises(ValueError, match="no model facts"):
        flopmeter.declare_model(types.SimpleNamespace(unrelated=1))
    with pytest.raises(TypeError, match="unknown model fact"):
        flopmeter.declare_model(params=7e9)
    with pytest.raises(ValueError):
        flopmeter.declare_model(layers=12.5)
    with pytest.raises(ValueError):
        flopmeter.declare_model(layers=4, modality="smell")


# ---- state -----------------------------------------------------------------------------------

def test_state_queries_with_the_double(rec):
    assert flopmeter.available() is True
    assert flopmeter.active() is False
    assert flopmeter.trace_path() == ""
