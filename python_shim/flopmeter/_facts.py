"""The declaration keys the report reads, and the values it accepts for each.

This mirrors the fact table of `flopmeter report` (docs/report.md, "Facts", and
docs/trace-format.md, "Declaration keys"). A value the report would refuse is refused here,
when it is declared, with the same words, rather than when the report is made. Keys outside
the list are refused too (a misspelt key would otherwise be kept in the trace and silently
ignored by the report), except keys starting with `user.`, which are the user's own."""
import math

WHOLE = "a whole number above 0"
POSITIVE = "above 0"
NONNEGATIVE = "0 or more"
FRACTION = "above 0 and at most 1"

CHECKS = {
    "model.parameters": WHOLE,
    "model.parameters_active": WHOLE,
    "model.layers": WHOLE,
    "model.hidden_size": WHOLE,
    "model.heads": WHOLE,
    "model.ffn_size": WHOLE,
    "model.sequence_length": WHOLE,
    "model.vocabulary": WHOLE,
    "model.experts": WHOLE,
    "model.experts_active": WHOLE,
    "data.tokens": NONNEGATIVE,
    "data.steps": NONNEGATIVE,
    "plan.tokens": POSITIVE,
    "plan.steps": WHOLE,
    "plan.gpus": WHOLE,
    "original.compute": POSITIVE,
    "prior.compute": POSITIVE,
    "hardware.utilization": FRACTION,
    "hardware.peak_tflops": POSITIVE,
    "hardware.gpu_hours": POSITIVE,
    "estimate.flopcounter": NONNEGATIVE,
}

# declared with the value 1 and the modalities as text
MODALITY_KEY = "model.modality"
MODALITIES = ("text", "audio", "image", "video", "biology")

# what the library keeps of a key and a text (longer ones are cut there)
KEY_MAX = 95
TEXT_MAX = 255


def _number(key, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(value)  # numpy scalars, torch 0-d tensors, Decimal, Fraction
        except (TypeError, ValueError):
            raise TypeError("%s: %r is not a number" % (key, value))
    value = float(value)
    if not math.isfinite(value):
        raise ValueError("%s: %r is not a finite number" % (key, value))
    return value


def check_value(key, value):
    """value as a number (an int for the whole-number facts), or ValueError in the report's
    terms."""
    v = _number(key, value)
    check = CHECKS.get(key)
    ok = {
        WHOLE: lambda: v > 0 and v == math.floor(v),
        POSITIVE: lambda: v > 0,
        NONNEGATIVE: lambda: v >= 0,
        FRACTION: lambda: 0 < v <= 1,
        None: lambda: True,
    }[check]()
    if not ok:
        raise ValueError("%s: %r must be %s" % (key, value, check))
    return int(v) if check == WHOLE else v


def check_modality(text):
    words = [w for w in text.replace("+", " ").replace(",", " ").split() if w]
    bad = [w for w in words if w not in MODALITIES]
    if not words or bad:
        raise ValueError("model.modality: %r is not a list of %s (joined by '+')" %
                         (text, ", ".join(MODALITIES)))
    return "+".join(words)


def check_key(key):
    if not isinstance(key, str):
        raise TypeError("a declaration key is a string, not %r" % (key,))
    if key in CHECKS or key == MODALITY_KEY:
        return key
    if key.startswith("user.") and len(key) > len("user."):
        if len(key.encode("utf-8")) > KEY_MAX:
            raise ValueError("%s: a key is at most %d bytes" % (key, KEY_MAX))
        return key
    raise ValueError("%r is not a declaration key the report reads (%s, %s; or user.NAME "
                     "for your own)" % (key, ", ".join(CHECKS), MODALITY_KEY))
