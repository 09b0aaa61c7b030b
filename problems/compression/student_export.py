"""Where ``compression.distill`` keeps the students its full distillations train, and how
``evolve best --export`` writes one out (weights, tokenizer, config, run_student.py).

``StudentExport`` is a mixin of ``Distillation`` (distill.py): it reads the problem's
``cache_dir``, ``key`` (its options' hash), ``config``, ``target_mb`` and ``pipeline``.
Separate from distill.py, which evaluates architectures (the cascade): this is only the
files a chosen student leaves on disk.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evaluators.contract import Candidate
from problems.compression.space import genome_of


class StudentExport:
    """The cache directory of a student, saving one there, and exporting one (from the
    cache, else distilled again)."""

    cache_dir: Path | None
    key: str
    config: Any
    target_mb: float
    pipeline: Any

    def student_dir(self, genome: Sequence[int]) -> Path | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / self.key / "-".join(str(x) for x in genome)

    def export_artifact(self, genome: Sequence[int], out_dir: str | Path) -> Path:
        """Write the student of ``genome`` (weights, tokenizer, config, run_student.py):
        copied from ``cache_dir`` when its full distillation saved it there, else
        distilled again (deterministic for the same options)."""
        import shutil

        genome = genome_of(Candidate(code="", genome=list(genome)))
        cached = self.student_dir(genome)
        if cached is not None and (cached / "weights.npz").exists():
            shutil.copytree(cached, out_dir, dirs_exist_ok=True)
            return Path(out_dir)
        from problems.compression.export import export_student

        # Distilling takes about a minute on 2 cores: say so rather than look hung.
        where = f"nothing saved under {cached}" if cached else "no problem.cache_dir set"
        print(f"compression.distill: student {'-'.join(map(str, genome))} not cached "
              f"({where}): distilling it again (deterministic, about a minute)...",
              file=sys.stderr, flush=True)  # fmt: skip
        return export_student(self.pipeline.distill(genome), out_dir, self._meta())

    def _meta(self) -> dict[str, Any]:
        return {
            "max_len": self.config.max_len,
            "task": self.config.task,
            "target_mb": self.target_mb,
            "labels": ["different", "clone"] if self.config.task == "clone" else [],
        }

    def save(self, student: Any) -> Path:
        from problems.compression.export import export_student

        return export_student(student, self.student_dir(student.genome), self._meta())
