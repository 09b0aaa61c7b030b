"""Circle packing: n disjoint circles in the unit square, maximising the sum of radii (the
benchmark AlphaEvolve, ShinkaEvolve, OpenEvolve and EoH report for n = 26).

Importing this package registers ``packing.circles26``, ``packing.circles32`` (centres
evolved by the vector GA, radii by a linear program) and ``packing.circles26_code`` (a
``construct()`` program, for LLM campaigns). docs/packing.md has the numbers.

Modules: ``geometry`` (the strict validity check, the radii LP, features), ``layouts``
(the starting grid, both forms' initial programs), ``harness`` (runs in the sandbox),
``scoring`` (the trusted scorers), ``problem`` (the registered classes).
"""

from __future__ import annotations

from problems.packing.problem import CircleCentres, CircleCode, register_circles

__all__ = ["CircleCentres", "CircleCode", "register_circles"]
