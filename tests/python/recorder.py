"""A test double of libflopmeter.so's C API (flopmeter._lib.Native): records every call
with the thread it came from, so that tests can see what the package asks of the library
without loading it. Installed with flopmeter._lib.install(Recorder())."""
import threading


class Recorder:
    def __init__(self):
        self.calls = []  # (function, thread ident, arguments)
        self._lock = threading.Lock()
        self.origin = "test double"
        self.path = ""

    def _add(self, name, *args):
        with self._lock:
            self.calls.append((name, threading.get_ident(), args))
        return 0

    def phase_push(self, name):
        return self._add("push", name.decode("utf-8"), None)

    def phase_push_category(self, name, category):
        return self._add("push", name.decode("utf-8"), category)

    def phase_pop(self):
        return self._add("pop")

    def declare(self, key, value, text):
        return self._add("declare", key.decode("utf-8"), value,
                         None if text is None else text.decode("utf-8"))

    def step(self, tokens):
        return self._add("step", tokens)

    def active(self):
        return 0

    def trace_path(self):
        return b""

    def named(self, name):
        return [c for c in self.calls if c[0] == name]

    def declarations(self):
        return {c[2][0]: c[2][1] for c in self.named("declare")}
