"""Code-model compression (Compressor, Avatar): importing this package registers
``compression.arch`` (analytic architecture search) and ``compression.distill`` (the JAX
distillation pipeline; JAX is imported only when a distillation runs).

Modules: ``space`` (search space, formulas, oracle), ``ga`` (Compressor's GA), ``operators``
and ``ga_strategy`` (the same over the engine), ``pareto`` (Avatar's objectives and loop),
``arch`` and ``distill`` (the problems); the pipeline: ``corpus``, ``rewrites``, ``tasks``,
``bpe``, ``model``, ``train``, ``pipeline``, ``export`` (+ ``run_student.py``).
"""

from __future__ import annotations

from problems.compression.arch import ArchitectureSearch
from problems.compression.distill import Distillation, export_best

__all__ = ["ArchitectureSearch", "Distillation", "export_best"]
