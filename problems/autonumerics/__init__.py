"""AutoNumerics: evolve float32 and real-number approximations of transcendental functions.

Importing this package registers ``autonumerics.exp2``, ``.exp``, ``.log2`` and ``.erf``
(entry point group ``evoforge.problems``). Modules: ``graph`` (the DAG genome), ``render``
(Python/JAX and C source), ``mutate`` (graph mutations as problem operators), ``targets``
(functions, domains, references; add a target there), ``tune`` (constant optimisation),
``interp`` (the JAX population evaluator), ``problem`` (the registered problems),
``baselines`` (Taylor, minimax, Pade, XLA), ``verify`` (exhaustive float32 checks and
latency), ``export`` (standalone and full-range functions), ``pareto`` and ``png``.
"""

from __future__ import annotations

from problems.autonumerics.problem import PROBLEMS, AutoNumerics

__all__ = ["PROBLEMS", "AutoNumerics"]
