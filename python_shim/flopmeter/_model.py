"""The model facts (model.* declaration keys) read from what a training script has at hand:
a PyTorch module, a model configuration (Hugging Face style, GPT-2 style, or a dict), or
numbers given by name. Nothing here imports torch: a module is recognised by its
named_parameters() method, a configuration by its attribute or key names.

Precedence, fact by fact: a number given by name, then the configuration, then what the
module's parameters show."""

# fact name (the part after "model.") -> the names configurations use for it, in order
CONFIG_NAMES = {
    "layers": ("num_hidden_layers", "n_layer", "num_layers", "n_layers"),
    "hidden_size": ("hidden_size", "n_embd", "d_model"),
    "heads": ("num_attention_heads", "n_head", "num_heads", "n_heads"),
    "ffn_size": ("intermediate_size", "n_inner", "ffn_dim", "d_ff"),
    "sequence_length": ("max_position_embeddings", "n_positions", "n_ctx", "max_seq_len",
                        "seq_length"),
    "vocabulary": ("vocab_size",),
    "experts": ("num_experts", "num_local_experts", "n_routed_experts", "moe_num_experts"),
    "experts_active": ("num_experts_per_tok", "moe_top_k"),
}

FACTS = ("parameters", "parameters_active", "layers", "hidden_size", "heads", "ffn_size",
         "sequence_length", "vocabulary", "experts", "experts_active")


def is_module(obj):
    """A torch.nn.Module, or anything that lists its parameters the same way."""
    return callable(getattr(obj, "named_parameters", None))


def _lookup(config, name):
    if isinstance(config, dict):
        return config.get(name)
    return getattr(config, name, None)


def _positive_int(value):
    """value as an int when it is a whole number above 0 (configurations hold None, 0 or
    lists for what a model does not have), else None."""
    if isinstance(value, bool):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    if f > 0 and f == int(f):
        return int(f)
    return None


def _has(config, name):
    return name in config if isinstance(config, dict) else hasattr(config, name)


def _from_one_config(config):
    facts = {}
    for fact in FACTS:
        # the fact's own name first (a dict of numbers: {"parameters": 7e9, "layers": 32}, or
        # {"model.layers": 32}), then the names configurations use
        names = ("model." + fact, fact) + CONFIG_NAMES.get(fact, ())
        for name in names:
            v = _positive_int(_lookup(config, name))
            if v is not None:
                facts[fact] = v
                break
    # GPT-2 style: n_inner None means four times n_embd
    if "ffn_size" not in facts and _has(config, "n_inner") and _lookup(config, "n_inner") is None:
        embd = _positive_int(_lookup(config, "n_embd"))
        if embd:
            facts["ffn_size"] = 4 * embd
    return facts


def facts_from_config(config):
    """The facts a configuration gives. A multimodal configuration's language model is read
    from its text_config for what the outer configuration does not say."""
    facts = {}
    inner = _lookup(config, "text_config")
    if inner is not None:
        facts.update(_from_one_config(inner))
    facts.update(_from_one_config(config))
    return facts


def _numel(p):
    # DeepSpeed ZeRO-3 leaves an empty tensor in place and keeps the real size in ds_numel
    n = getattr(p, "ds_numel", None)
    if n is None:
        n = p.numel()
    return int(n)


def _is_expert_parameter(name):
    # Mixture-of-experts implementations keep experts in a container called "experts"
    # (experts.3.w1.weight, or one stacked tensor experts.gate_up_proj); shared experts and
    # the router are outside it and always active.
    return "experts" in name.split(".")


def parameter_counts(module):
    """(all parameters, of which in expert containers)."""
    total = experts = 0
    for name, p in module.named_parameters():
        n = _numel(p)
        total += n
        if _is_expert_parameter(name):
            experts += n
    return total, experts


def model_facts(model=None, **given):
    """The model facts as a dict fact -> value (only those known). given: numbers by fact
    name (parameters=7e9, layers=32, ...); None leaves a fact to the model."""
    unknown = set(given) - set(FACTS)
    if unknown:
        raise TypeError("unknown model fact(s) %s; the facts are %s" %
                        (", ".join(sorted(unknown)), ", ".join(FACTS)))
    facts = {}
    module = None
    config = None
    if model is not None:
        if is_module(model):
            module = model
            config = getattr(model, "config", None)
            if config is None:  # DistributedDataParallel and similar wrappers
                config = getattr(getattr(model, "module", None), "config", None)
        else:
            config = model
    if config is not None:
        facts.update(facts_from_config(config))
    expert_params = 0
    if module is not None:
        total, expert_params = parameter_counts(module)
        if total > 0:
            facts["parameters"] = total
    for fact, value in given.items():
        if value is not None:
            facts[fact] = value
    # Active parameters of a mixture of experts: the non-expert ones, and top-k of E experts'
    # share of the expert ones. Only from a module (which shows which parameters are experts'),
    # and only when the number was not given.
    if ("parameters_active" not in facts and module is not None and expert_params > 0 and
            "experts" in facts and "experts_active" in facts and
            given.get("parameters") is None):
        e, k = float(facts["experts"]), float(facts["experts_active"])
        if 0 < k <= e:
            dense = facts["parameters"] - expert_params
            facts["parameters_active"] = int(round(dense + expert_params * k / e))
    return facts
