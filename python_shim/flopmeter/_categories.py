"""Phase categories: the codes of enum fm_phase_category (include/flopmeter/trace_format.h)
and the words the library reads as each (docs/hook.md, "Phases").

The library derives a category from a phase's name by itself; this table exists so that a
Python caller can name a category explicitly (phase("my-rm", category="auxiliary_model"))
and get one clear error for a word the library would not know. A test checks that the
library derives the same category from every word listed here."""

UNSPECIFIED = 0
PRETRAINING = 1
FINETUNING = 2
REINFORCEMENT_LEARNING = 3
SYNTHETIC_DATA = 4
EVALUATION = 5
RECOMPUTATION = 6
AUXILIARY_MODEL = 7
CUSTOM = 8

# canonical name -> code, in code order (the names the report prints)
CATEGORIES = {
    "unspecified": UNSPECIFIED,
    "pretraining": PRETRAINING,
    "finetuning": FINETUNING,
    "reinforcement_learning": REINFORCEMENT_LEARNING,
    "synthetic_data": SYNTHETIC_DATA,
    "evaluation": EVALUATION,
    "recomputation": RECOMPUTATION,
    "auxiliary_model": AUXILIARY_MODEL,
    "custom": CUSTOM,
}

# every word a phase name may be to get a category other than custom
WORDS = {
    "pretraining": PRETRAINING, "pre_training": PRETRAINING, "pretrain": PRETRAINING,
    "finetuning": FINETUNING, "fine_tuning": FINETUNING, "finetune": FINETUNING,
    "sft": FINETUNING,
    "reinforcement_learning": REINFORCEMENT_LEARNING, "rl": REINFORCEMENT_LEARNING,
    "rlhf": REINFORCEMENT_LEARNING,
    "synthetic_data": SYNTHETIC_DATA, "synthetic_data_generation": SYNTHETIC_DATA,
    "evaluation": EVALUATION, "eval": EVALUATION,
    "recomputation": RECOMPUTATION, "activation_recomputation": RECOMPUTATION,
    "recompute": RECOMPUTATION,
    "auxiliary_model": AUXILIARY_MODEL, "auxiliary": AUXILIARY_MODEL,
    "reward_model": AUXILIARY_MODEL,
}


def normalise(word):
    """As the library compares names: lower case, '-' and ' ' read as '_'."""
    return word.lower().replace("-", "_").replace(" ", "_")


def category_of_name(name):
    """The category the library gives a phase called name."""
    return WORDS.get(normalise(name), CUSTOM)


def category_code(category):
    """A category given as a code (0 to 8) or a word, as its code; ValueError otherwise."""
    if isinstance(category, bool):
        raise TypeError("a phase category is a word or a code, not %r" % (category,))
    if isinstance(category, int):
        if UNSPECIFIED <= category <= CUSTOM:
            return category
        raise ValueError("phase category code %d is not one of 0 to 8" % category)
    if isinstance(category, str):
        word = normalise(category)
        if word in CATEGORIES:
            return CATEGORIES[word]
        if word in WORDS:
            return WORDS[word]
        raise ValueError("unknown phase category %r; one of: %s" %
                         (category, ", ".join(CATEGORIES)))
    raise TypeError("a phase category is a word or a code, not %r" % (category,))


def category_name(code):
    for name, c in CATEGORIES.items():
        if c == code:
            return name
    return "custom"
