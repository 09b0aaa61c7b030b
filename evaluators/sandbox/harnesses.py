"""How the sandbox finds a harness: "package.module:function" by import, or
"/abs/path/file.py:function" by path (kept in sys.modules, so that a file the zygote
preloaded is found there), and where a problem is told to preload a module its
candidates import.

Separate from child.py because three processes use it, not only the candidate: the zygote
preloads modules and harness files with ``load_module``, the supervisor loads a feed's
driver with ``load_harness`` (dialogue.py), and the candidate loads its harness as root
before its jail is set up.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types
from collections.abc import Callable
from typing import Any

PACKAGE_ADVICE = "add it to preload"  # a problem made as a package (see preload_advice)


def is_file_target(target: str) -> bool:
    return target.endswith(".py") or os.sep in target


def _file_module_name(target: str) -> str:
    return "evoforge_harness_" + "".join(c if c.isalnum() else "_" for c in target)


def load_module(target: str) -> types.ModuleType:
    """A module by dotted name, or a harness file by path (kept in sys.modules under a
    name derived from the path, so that a file the zygote preloaded is found there)."""
    if not is_file_target(target):
        return importlib.import_module(target)
    module_name = _file_module_name(target)
    module = sys.modules.get(module_name)
    if module is None:
        file_spec = importlib.util.spec_from_file_location(module_name, target)
        if file_spec is None or file_spec.loader is None:
            raise ImportError(f"cannot load harness file {target}")
        module = importlib.util.module_from_spec(file_spec)
        sys.modules[module_name] = module
        try:
            file_spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[module_name]
            raise
    return module


def load_harness(spec: str) -> Callable[..., Any]:
    """ "package.module:function" or "/abs/path/file.py:function" -> the function."""
    target, _, name = spec.rpartition(":")
    if not target or not name:
        raise ValueError(
            f"harness must be 'module:function' or '/path/file.py:function', got {spec!r}"
        )
    module = load_module(target)
    func = getattr(module, name, None)
    if not callable(func):
        raise AttributeError(f"harness {spec!r}: {name} is not a function of {target}")
    return func


def preload_advice(spec: str) -> str:
    """How to preload a module for this harness: a single-file problem (a harness file
    that defines its INITIAL_PROGRAM) says so in its PRELOAD, a package in ``preload``."""
    target = spec.rpartition(":")[0]
    module = sys.modules.get(_file_module_name(target)) if is_file_target(target) else None
    names = vars(module) if module is not None else {}
    if "INITIAL_PROGRAM" in names or "initial_program" in names:
        return "add it to PRELOAD in the problem file"
    return PACKAGE_ADVICE
