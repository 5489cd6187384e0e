"""The C API of libflopmeter.so (include/flopmeter/flopmeter.h), reached through ctypes.

Where the functions come from, in this order:
1. the process itself: under `flopmeter run` (or LD_PRELOAD) the library is already loaded,
   and its functions are found among the process's global symbols (dlsym(RTLD_DEFAULT));
2. FLOPMETER_LIB, loaded here, but only while CUDA is not yet initialised in this process:
   the CUDA driver calls the library at cuInit, through CUDA_INJECTION64_PATH, which is set
   here for that reason (a preloaded library sets it in its constructor; a library loaded
   later does not). It is loaded RTLD_LOCAL: its exported cuInit must not take the place of
   the driver's for libraries loaded after it.
Otherwise every call is a no-op, and the first one warns, once per process.

native() is what the rest of the package calls; it returns None when there is no library."""
import ctypes
import os
import threading
import warnings

CUDA_ERROR_NOT_INITIALIZED = 3


class FlopmeterWarning(UserWarning):
    """The one warning the package gives when it has no library to talk to."""


class Native:
    """The library's functions with their C signatures. `origin` says how they were found."""

    def __init__(self, dll, origin, path=""):
        self.origin = origin
        self.path = path
        self.phase_push = self._bind(dll, "flopmeter_phase_push", [ctypes.c_char_p])
        self.phase_push_category = self._bind(dll, "flopmeter_phase_push_category",
                                              [ctypes.c_char_p, ctypes.c_int])
        self.phase_pop = self._bind(dll, "flopmeter_phase_pop", [])
        self.declare = self._bind(dll, "flopmeter_declare",
                                  [ctypes.c_char_p, ctypes.c_double, ctypes.c_char_p])
        self.step = self._bind(dll, "flopmeter_step", [ctypes.c_double])
        self.active = self._bind(dll, "flopmeter_active", [])
        self.trace_path = self._bind(dll, "flopmeter_trace_path", [], ctypes.c_char_p)

    @staticmethod
    def _bind(dll, name, argtypes, restype=ctypes.c_int):
        f = getattr(dll, name)  # AttributeError when the symbol is not there
        f.argtypes = argtypes
        f.restype = restype
        return f


_lock = threading.Lock()
_resolved = False
_native = None
_why_not = ""
_warned = False


def _from_process():
    try:
        return Native(ctypes.CDLL(None), "loaded in the process")
    except (OSError, AttributeError):
        return None


def _libcuda_mapped():
    try:
        with open("/proc/self/maps") as f:
            return any("/libcuda.so" in line for line in f)
    except OSError:
        return False


def _cuda_initialised():
    """Whether this process has initialised CUDA already: only then is loading too late. A
    driver that is mapped but answers cuDeviceGetCount with CUDA_ERROR_NOT_INITIALIZED has
    not seen cuInit yet."""
    if not _libcuda_mapped():
        return False
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
        count = ctypes.c_int(0)
        return cuda.cuDeviceGetCount(ctypes.byref(count)) != CUDA_ERROR_NOT_INITIALIZED
    except (OSError, AttributeError):
        return True


def _from_flopmeter_lib(path):
    """Loads FLOPMETER_LIB so that the driver will call it; (Native or None, why not)."""
    if os.environ.get("FLOPMETER_MODE") == "off":
        return None, "FLOPMETER_MODE=off"
    if _cuda_initialised():
        return None, ("FLOPMETER_LIB names the library, but CUDA was initialised in this process "
                      "before flopmeter was first called, too late to load it: run the program "
                      "under `python -m flopmeter run`, or call flopmeter before CUDA is used")
    path = os.path.abspath(path)  # the driver loads it from whatever directory it is in
    real = os.path.realpath(path)
    cur = os.environ.get("CUDA_INJECTION64_PATH")
    if cur and os.path.realpath(cur) != real:
        return None, ("CUDA_INJECTION64_PATH names another tool (%s); the CUDA driver loads "
                      "only one, so flopmeter cannot measure" % cur)
    try:
        native = Native(ctypes.CDLL(path, mode=ctypes.RTLD_LOCAL), "loaded from FLOPMETER_LIB",
                        path)
    except (OSError, AttributeError) as e:
        return None, "FLOPMETER_LIB=%s could not be loaded: %s" % (path, e)
    # Only now that it loaded: a path the driver cannot load would disturb CUDA's start.
    # os.environ also changes the C environment, which the driver reads at cuInit.
    os.environ["CUDA_INJECTION64_PATH"] = path
    cur = os.environ.get("NVTX_INJECTION64_PATH")
    if not cur:  # another NVTX tool keeps its slot: NVTX ranges then mark no phases
        os.environ["NVTX_INJECTION64_PATH"] = path
    return native, ""


def _resolve():
    global _resolved, _native, _why_not
    native = _from_process()
    why = ""
    if native is None:
        lib = os.environ.get("FLOPMETER_LIB")
        if lib:
            native, why = _from_flopmeter_lib(lib)
        else:
            why = ("libflopmeter.so is not loaded in this process: run the program under "
                   "`python -m flopmeter run` (or `flopmeter run`)")
    _native, _why_not, _resolved = native, why, True


def native(warn=True):
    """The library's functions, or None (warning once per process when warn is true)."""
    global _warned
    if not _resolved:
        with _lock:
            if not _resolved:
                _resolve()
    if _native is None and warn and not _warned:
        with _lock:
            if not _warned:
                _warned = True
                warnings.warn("flopmeter: %s; phases and declarations are ignored" % _why_not,
                              FlopmeterWarning, stacklevel=3)
    return _native


def why_not():
    """Why there is no library ('' when there is one)."""
    native(warn=False)
    return _why_not


def install(replacement):
    """Puts another implementation of the C API in place (a test double with the same
    methods), or forgets the current one (None), so that the next call looks again."""
    global _resolved, _native, _why_not, _warned
    with _lock:
        _native = replacement
        _resolved = replacement is not None
        _why_not = ""
        _warned = False
