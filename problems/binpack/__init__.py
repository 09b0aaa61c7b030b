"""``binpack.online``: FunSearch-style online bin packing.

Importing this package registers the problem (entry point group ``evoforge.problems``).

Modules: ``instances`` (seeded generators, FunSearch's sets), ``feed`` (the trusted driver
that deals the items, outside the candidate's process), ``harness`` (the skeleton, runs in
the sandbox), ``scoring`` (the trusted scorer), ``programs`` (best/first fit),
``problem`` (the registered class), ``local`` (in-process evaluation of TRUSTED code only).
"""

from __future__ import annotations

from problems.binpack.problem import OnlineBinPacking

__all__ = ["OnlineBinPacking"]
