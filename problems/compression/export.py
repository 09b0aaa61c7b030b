"""Export of a distilled student: weights (.npz), tokenizer (JSON), config (JSON) and a
standalone ``run_student.py`` that needs only numpy (no JAX) to classify code.

``load`` reads an export back (tokenizer, config, numpy weights); ``predict`` is the same
forward pass in numpy, so a test can check the export against the JAX model.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from problems.compression import model
from problems.compression.bpe import BPE

RUNNER = Path(__file__).with_name("run_student.py")


def export_student(student: Any, out_dir: str | Path, meta: dict[str, Any] | None = None) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    np.savez(out / "weights.npz", **model.flatten(student.params))
    (out / "tokenizer.json").write_text(student.bpe.to_json())
    config = {
        "genome": list(student.genome),
        "model": student.mcfg,
        "max_len": int((meta or {}).get("max_len", 96)),
        "labels": (meta or {}).get("labels", ["different", "clone"]),
        "metrics": {k: float(v) for k, v in student.metrics.items()},
        **{k: v for k, v in (meta or {}).items() if k not in ("max_len", "labels")},
    }
    (out / "config.json").write_text(json.dumps(config, indent=2))
    shutil.copyfile(RUNNER, out / "run_student.py")
    return out


def load(out_dir: str | Path) -> tuple[dict[str, Any], BPE, dict[str, np.ndarray]]:
    out = Path(out_dir)
    config = json.loads((out / "config.json").read_text())
    bpe = BPE.from_json((out / "tokenizer.json").read_text())
    with np.load(out / "weights.npz") as data:
        weights = {k: data[k] for k in data.files}
    return config, bpe, weights
