"""Online bin packing instances: seeded generators and FunSearch's evaluation sets.

A *dataset spec* is plain JSON that says how to build a list of instances, so the same
spec travels to the stage's feed driver and is rebuilt, bit for bit, by the scorer (both
trusted: the candidate never sees a spec)::

    {"name": "train", "parts": [
        {"family": "weibull", "seed": 2024, "count": 4, "n_items": 1000},
        {"family": "or", "seed": 2024, "count": 4, "n_items": 500},
        {"family": "or", "inline": [{"name": "u500_00", "capacity": 150, "items": [...]}]},
    ]}

Generated parts draw from ``numpy.random.Generator(PCG64(SeedSequence([seed, family, i])))``
(one stream per instance ``i``; with a ``"secret"``, from the campaign's keyed seed instead,
see ``evaluators.seeds``) and use only ``Generator.random()`` plus inverse CDFs, so
the same spec gives the same items on every machine. Inline parts carry their items (the
FunSearch sets, read from a data file by the trusted process, never inside the sandbox).

Families (the distributions of FunSearch's paper):

- ``weibull``: capacity 100, sizes Weibull(shape 3, scale 45) rounded to integers and
  clipped to [1, 100] (FunSearch's "Weibull 5k" family).
- ``or``: capacity 150, sizes uniform integers in [20, 100] (OR-Library ``binpack1-4``;
  OR3 has 500 items per instance).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evaluators.seeds import keyed_seed

WEIBULL = "weibull"
OR = "or"
FAMILIES = {WEIBULL: 1, OR: 2}  # the family's code is part of every instance's seed
CAPACITY = {WEIBULL: 100, OR: 150}
WEIBULL_SHAPE, WEIBULL_SCALE = 3.0, 45.0
OR_LOW, OR_HIGH = 20, 100

FUNSEARCH_FILE = "funsearch_or3_weibull5k.json"
FUNSEARCH_SETS = {"funsearch_or3": ("OR3", OR), "funsearch_weibull5k": ("Weibull 5k", WEIBULL)}


@dataclass(frozen=True)
class Instance:
    name: str
    family: str
    capacity: int
    items: np.ndarray  # int64, read-only

    @property
    def l1_bound(self) -> int:
        """L1 = ceil(sum(items) / capacity): no packing uses fewer bins."""
        return -(-int(self.items.sum()) // self.capacity)


def _rng(seed: int, family: str, index: int) -> np.random.Generator:
    return np.random.Generator(
        np.random.PCG64(np.random.SeedSequence([seed, FAMILIES[family], index]))
    )


def weibull_items(seed: int, index: int, n_items: int) -> np.ndarray:
    """Weibull(3, 45) by inverse CDF of uniform doubles, rounded, clipped to [1, 100]."""
    u = _rng(seed, WEIBULL, index).random(n_items)
    sizes = WEIBULL_SCALE * (-np.log1p(-u)) ** (1.0 / WEIBULL_SHAPE)
    return np.clip(np.rint(sizes), 1, CAPACITY[WEIBULL]).astype(np.int64)


def or_items(seed: int, index: int, n_items: int) -> np.ndarray:
    """Uniform integers in [20, 100], from uniform doubles (portable across numpy versions)."""
    u = _rng(seed, OR, index).random(n_items)
    span = OR_HIGH - OR_LOW + 1
    return (OR_LOW + np.minimum(np.floor(u * span), span - 1)).astype(np.int64)


_GENERATORS = {WEIBULL: weibull_items, OR: or_items}


def generated_part(
    family: str, seed: int, count: int, n_items: int, secret: int | None = None
) -> dict[str, Any]:
    """``secret``: the campaign's data secret (evaluators.seeds), mixed into ``seed``; the
    instances' names keep the public seed, since names reach feedback."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; known: {sorted(FAMILIES)}")
    part = {"family": family, "seed": int(seed), "count": int(count), "n_items": int(n_items)}
    if secret is not None:
        part["secret"] = int(secret)
    return part


def _frozen(items: Any) -> np.ndarray:
    arr = np.array(items, dtype=np.int64)
    arr.setflags(write=False)
    return arr


def _materialize_part(part: Mapping[str, Any]) -> list[Instance]:
    family = part["family"]
    if "inline" in part:
        return [
            Instance(str(inst["name"]), family, int(inst["capacity"]), _frozen(inst["items"]))
            for inst in part["inline"]
        ]
    seed, count, n_items = int(part["seed"]), int(part["count"]), int(part["n_items"])
    drawn_from = keyed_seed(seed, part.get("secret"))
    make = _GENERATORS[family]
    return [
        Instance(
            f"{family}{n_items}_s{seed}_{i}",
            family,
            CAPACITY[family],
            _frozen(make(drawn_from, i, n_items)),
        )
        for i in range(count)
    ]


def materialize(spec: Mapping[str, Any]) -> list[Instance]:
    """Build the instances a dataset spec describes (cached by the spec's canonical JSON)."""
    return list(_materialize_cached(json.dumps(spec, sort_keys=True)))


@functools.lru_cache(maxsize=32)
def _materialize_cached(key: str) -> tuple[Instance, ...]:
    spec = json.loads(key)
    out: list[Instance] = []
    for part in spec["parts"]:
        out.extend(_materialize_part(part))
    for inst in out:
        if inst.capacity < 1 or inst.items.size == 0:
            raise ValueError(f"instance {inst.name}: empty or zero capacity")
        if inst.items.min() < 1 or inst.items.max() > inst.capacity:
            raise ValueError(f"instance {inst.name}: item sizes must lie in [1, capacity]")
    return tuple(out)


# ---------------------------------------------------------------- FunSearch's sets


def funsearch_path(data_dir: str | Path | None) -> Path | None:
    """The FunSearch data file under ``data_dir``, or None when it is not there."""
    if data_dir is None:
        return None
    path = Path(data_dir) / FUNSEARCH_FILE
    return path if path.is_file() else None


@functools.lru_cache(maxsize=4)
def _read_funsearch(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def funsearch_spec(name: str, data_dir: str | Path) -> dict[str, Any]:
    """An inline spec for "funsearch_or3" or "funsearch_weibull5k" read from ``data_dir``."""
    if name not in FUNSEARCH_SETS:
        raise ValueError(f"unknown FunSearch set {name!r}; known: {sorted(FUNSEARCH_SETS)}")
    path = funsearch_path(data_dir)
    if path is None:
        raise FileNotFoundError(f"{FUNSEARCH_FILE} not found in {data_dir}")
    key, family = FUNSEARCH_SETS[name]
    block = _read_funsearch(str(path))[key]
    inline = [
        {
            "name": inst_name,
            "capacity": int(inst["capacity"]),
            "items": [int(x) for x in inst["items"]],
        }
        for inst_name, inst in sorted(block.items())
    ]
    return {"name": name, "parts": [{"family": family, "inline": inline}]}


def dataset_stats(instances: Sequence[Instance]) -> dict[str, float]:
    """Summary numbers used by tests and reports."""
    items = np.concatenate([inst.items for inst in instances])
    return {
        "instances": float(len(instances)),
        "items": float(items.size),
        "mean_size": float(items.mean()),
        "std_size": float(items.std()),
        "min_size": float(items.min()),
        "max_size": float(items.max()),
        "l1_total": float(sum(inst.l1_bound for inst in instances)),
    }


WEIBULL_MEAN = WEIBULL_SCALE * math.gamma(1.0 + 1.0 / WEIBULL_SHAPE)
