"""The C register machine (interp_native.c), lowering (lowering_native.c) and the tuner's
evaluators (tune_native.c), built on first use.

``available()`` compiles the sources with the system C compiler (``$CC``, else the first
of ``cc``, ``gcc`` and ``clang`` found) against the FFI header jaxlib ships, once per
machine: the library is cached under ``$XDG_CACHE_HOME/evoforge`` (default
``~/.cache/evoforge``), named by a hash of the source, the header and the flags, and
written atomically, so concurrent workers may race harmlessly. It registers the handlers
(outputs, and max errors: scoring.py) with JAX for the CPU platform. Without a compiler,
or when the build fails, it answers False (``reason()`` says why) and interp_switch runs
its pure-XLA loop instead: same results, slower. ``EVOFORGE_NATIVE=0`` forces that path.
A call splits its tiles of points over one thread per CPU the process may use
(``EVOFORGE_NATIVE_THREADS=k`` caps that, else ``OMP_NUM_THREADS``; the local executor sets
it to each worker's share of the CPUs), and its loop is the AVX-512, AVX2 or baseline
x86-64 build the CPU can run (``EVOFORGE_NATIVE_ISA=avx2|baseline`` caps that); every
combination gives the same bits.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

import jax

TARGET = "evoforge_an_interp_f64"
SCORE_TARGET = "evoforge_an_score_f64"  # each program's max error, no outputs kept
SWITCH_ENV = "EVOFORGE_NATIVE"  # "0": the pure-XLA loop, whether or not the C machine builds
SOURCES = tuple(
    Path(__file__).with_name(n) for n in ("interp_native.c", "lowering_native.c", "tune_native.c")
)
# No fast-math and no contraction: every operation rounds once, as the XLA machine's do.
FLAGS = ("-O3", "-fPIC", "-shared", "-pthread", "-fno-fast-math", "-ffp-contract=off")

_lock = threading.Lock()
_state: dict[str, Any] = {}  # "ok", "reason", "lib", "functions" (ctypes), "isa"


def available() -> bool:
    """Whether the native machine can run here (builds and registers it on first call)."""
    if switched_off():
        return False
    with _lock:
        if "ok" not in _state:
            try:
                _state["lib"] = _load()
                _state["ok"], _state["reason"] = True, ""
            except Exception as exc:  # any failure to build or register: the XLA loop runs
                _state["ok"], _state["reason"] = False, f"{type(exc).__name__}: {exc}"
        return bool(_state["ok"])


def reason() -> str:
    """Why ``available()`` answered False ("" when it did not, or was not asked)."""
    if switched_off():
        return f"{SWITCH_ENV}=0"
    return str(_state.get("reason", ""))


def switched_off() -> bool:
    return os.environ.get(SWITCH_ENV, "1") == "0"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "evoforge"


def function(name: str) -> Any:
    """The library's plain C function ``name`` (a ctypes function: "evoforge_an_lower" of
    lowering_native.c, "evoforge_an_eval_dual" or "evoforge_an_ulp_rows_f32" of
    tune_native.c), or None where the library does not build or EVOFORGE_NATIVE=0."""
    if not available():
        return None
    return _state["functions"][name]


def isa() -> str:
    """The instruction set the C machine's loop was compiled for and runs with here
    ("avx512", "avx2" or "baseline"; EVOFORGE_NATIVE_ISA caps it), "" when not built."""
    if not available():
        return ""
    return _state["isa"]


def _load() -> ctypes.CDLL:
    library = _build()
    lib = ctypes.CDLL(str(library))
    for name in (TARGET, SCORE_TARGET):
        jax.ffi.register_ffi_target(name, jax.ffi.pycapsule(getattr(lib, name)), platform="cpu")
    p, n, i = ctypes.c_void_p, ctypes.c_long, ctypes.c_int  # pointer, length, flag
    signatures = {
        "evoforge_an_lower": [p, p, p, p, p, n, i, p, p, p, p, p],
        "evoforge_an_eval_dual": [p, p, n, n, p, n, p, n, i, p, p],
        "evoforge_an_ulp_rows_f32": [p, p, n, n, p, n, n, p, n, p, p, p],
    }
    _state["functions"] = {}
    for name, argtypes in signatures.items():
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = argtypes, ctypes.c_long
        _state["functions"][name] = fn
    lib.evoforge_an_isa.restype = ctypes.c_char_p
    _state["isa"] = lib.evoforge_an_isa().decode()
    return lib


def _build() -> Path:
    include = Path(jax.ffi.include_dir())
    header = include / "xla" / "ffi" / "api" / "c_api.h"
    names = [os.environ["CC"]] if os.environ.get("CC") else ["cc", "gcc", "clang"]
    compiler = next((name for name in names if shutil.which(name)), None)
    if compiler is None:
        raise RuntimeError(f"no C compiler ({' or '.join(map(repr, names))} not found)")
    digest = hashlib.sha256()
    for part in (*(s.read_bytes() for s in SOURCES), header.read_bytes(), " ".join(FLAGS).encode()):
        digest.update(part)
    target = cache_dir() / f"interp_native-{digest.hexdigest()[:16]}.so"
    if target.exists():
        try:  # in use: the newest for _prune, whatever was built after it
            os.utime(target)
        except OSError:
            pass
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    try:
        command = [compiler, *FLAGS, f"-I{include}", "-o", partial, *map(str, SOURCES), "-lm"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{compiler} failed: {' '.join(done.stderr.split())[:300]}")
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    _prune(target)
    return target


KEEP_BUILDS = 6  # other checkouts' libraries share the cache: keep a few, not every one


def _prune(built: Path) -> None:
    """Remove all but the KEEP_BUILDS newest libraries: each edit of a C source or each
    JAX upgrade builds a new one, and none was ever removed. A process still running an
    old one keeps its mapping (unlinking an open file frees it only when closed)."""
    try:
        builds = sorted(built.parent.glob("interp_native-*.so"),
                        key=lambda p: p.stat().st_mtime, reverse=True)  # fmt: skip
        for old in builds[KEEP_BUILDS:]:
            if old != built:
                old.unlink(missing_ok=True)
    except OSError:  # another process pruned first, or a read-only cache: nothing lost
        pass
