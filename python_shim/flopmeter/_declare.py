"""Declarations: facts the program states, written into the trace as DECLARATION records
(docs/trace-format.md, "Declaration keys") for the report to read: the model, the tokens of
each step, the planned run, PyTorch's own FLOP count.

Values are checked here as the report checks them, so that a wrong one is an error at the
line that declares it. Without the library every function checks its arguments and returns
what it would have declared, and nothing is written (the package warns once)."""
from . import _lib
from ._facts import MODALITY_KEY, TEXT_MAX, check_key, check_modality, check_value
from ._model import model_facts


def _encode_text(text):
    if text is None:
        return None
    if not isinstance(text, str):
        raise TypeError("a declaration's text is a string, not %r" % (text,))
    raw = text.encode("utf-8")
    # the library keeps 255 bytes; cut at a character boundary rather than inside one
    return raw[:TEXT_MAX].decode("utf-8", "ignore").encode("utf-8")


def _write(native, key, value, text=None):
    if native is not None:
        native.declare(key.encode("utf-8"), float(value), _encode_text(text))


def declare(key, value, text=None):
    """States one fact, e.g. declare("prior.compute", 3.1e23) or
    declare("hardware.utilization", 0.4). key is one the report reads (flopmeter._facts)
    or user.NAME; value is checked as the report checks it. Returns the value declared."""
    key = check_key(key)
    if key == MODALITY_KEY:
        text = check_modality(text if text is not None else str(value))
        value = 1.0
    else:
        value = check_value(key, value)
    _write(_lib.native(), key, value, text)
    return value


def tokens(n):
    """One optimizer step on this rank that processed n tokens (data.tokens and data.steps).
    Call it once per step, on every rank; the library sums the steps between flushes."""
    value = check_value("data.tokens", n)
    native = _lib.native()
    if native is not None:
        native.step(value)
    return value


step = tokens


def plan(tokens=None, steps=None, gpus=None):
    """The planned whole run, for the report's projection: plan.tokens (tokens of the whole
    job, all ranks), plan.steps (optimizer steps), plan.gpus. Returns what was declared."""
    given = {"plan.tokens": tokens, "plan.steps": steps, "plan.gpus": gpus}
    values = {k: check_value(k, v) for k, v in given.items() if v is not None}
    if not values:
        raise TypeError("flopmeter.plan() needs tokens=, steps= or gpus=")
    native = _lib.native()
    for k, v in values.items():
        _write(native, k, v)
    return values


def declare_model(model=None, modality=None, **numbers):
    """Declares the model facts (model.*): from a PyTorch module (its parameters, and its
    .config when it has one), from a configuration object or dict (Hugging Face and GPT-2
    names), and from numbers given by name, which take precedence:

        flopmeter.declare_model(model)
        flopmeter.declare_model(model, sequence_length=4096)     # the context trained on
        flopmeter.declare_model(parameters=7e9, layers=32, hidden_size=4096, heads=32,
                                sequence_length=4096, vocabulary=32000)
        flopmeter.declare_model(moe, experts=8, experts_active=2)  # adds parameters_active

    Fact names: parameters, parameters_active, layers, hidden_size, heads, ffn_size,
    sequence_length, vocabulary, experts, experts_active; modality="text" (or "text+image",
    ...) declares model.modality. Returns the declarations as {key: value}."""
    facts = model_facts(model, **numbers)
    if not facts and modality is None:
        raise ValueError("flopmeter.declare_model: no model facts in %r and none given by "
                         "name" % (model,))
    declared = {}
    for fact, value in facts.items():
        key = "model." + fact
        declared[key] = check_value(key, value)
    if modality is not None:
        declared[MODALITY_KEY] = check_modality(modality)
    native = _lib.native()
    for key, value in declared.items():
        if key == MODALITY_KEY:
            _write(native, key, 1.0, value)
        else:
            _write(native, key, value)
    return declared
