"""The trusted scorer: runs in the worker, on the sandbox's JSON, and trusts none of it.

It rebuilds the stage's instances from the stage's own dataset spec (never from anything
the candidate returned), checks the assignment (one integer bin per item, no bin over
capacity), counts the bins and replays the packing to measure behaviour.

    excess(instance) = (bins used - L1) / L1,   L1 = ceil(sum(items) / capacity)
    score            = -100 * mean over families of (mean excess over that family's instances)

so higher is better and the score is a percentage (best fit on train is about -4). Families
are weighted equally, so a test set of 5 Weibull and 20 OR instances counts both alike.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from evaluators.contract import EvalResult
from problems.binpack.instances import Instance, materialize

INVALID_SCORE = -1.0e6  # any valid packing scores above -200 (one item per bin)


def invalid(stage: str, reason: str) -> EvalResult:
    return EvalResult(
        score=INVALID_SCORE, correct=False, feedback=f"{stage}: invalid packing: {reason}"
    )


class _Reject(Exception):
    pass


def _labels(raw: Any, inst: Instance) -> np.ndarray:
    n = inst.items.size
    if not isinstance(raw, list):
        raise _Reject(
            f"instance {inst.name}: expected a list of bin indices, got {type(raw).__name__}"
        )
    if len(raw) != n:
        raise _Reject(f"instance {inst.name}: {len(raw)} bin indices for {n} items")
    for k, x in enumerate(raw):
        if type(x) is not int:  # bools, floats, strings, None: all rejected
            shown = repr(x)[:40]
            raise _Reject(
                f"instance {inst.name}: item {k} has bin {shown} ({type(x).__name__}), not an int"
            )
        if not 0 <= x < n:
            raise _Reject(
                f"instance {inst.name}: item {k} has bin {x}; bin indices lie in [0, {n})"
            )
    return np.array(raw, dtype=np.int64)


def replay(inst: Instance, labels: np.ndarray) -> tuple[int, int]:
    """(placements agreeing with best fit, new bins opened although an open bin fit)."""
    cap = inst.capacity
    remaining: dict[int, int] = {}
    open_sorted: list[int] = []  # remaining capacities of the open bins, sorted
    agree = held_back = 0
    for item, label in zip(inst.items.tolist(), labels.tolist()):
        pos = bisect.bisect_left(open_sorted, item)
        tightest = open_sorted[pos] if pos < len(open_sorted) else cap
        chosen = remaining.get(label)
        if chosen is None:
            agree += tightest == cap
            held_back += pos < len(open_sorted)
            remaining[label] = cap - item
            bisect.insort(open_sorted, cap - item)
        else:
            agree += chosen == tightest
            del open_sorted[bisect.bisect_left(open_sorted, chosen)]
            remaining[label] = chosen - item
            bisect.insort(open_sorted, chosen - item)
    return agree, held_back


@dataclass(frozen=True)
class Scorer:
    """``Stage.score`` for one dataset spec (picklable: a plain dataclass)."""

    stage: str
    dataset: Mapping[str, Any]

    def instances(self) -> list[Instance]:
        return materialize(self.dataset)

    def __call__(self, value: Any) -> EvalResult:
        instances = self.instances()
        if not isinstance(value, Mapping) or not isinstance(value.get("assignments"), list):
            return invalid(
                self.stage, "the harness result must be {'assignments': [[bin, ...], ...]}"
            )
        assignments = value["assignments"]
        if len(assignments) != len(instances):
            return invalid(
                self.stage, f"{len(assignments)} assignments for {len(instances)} instances"
            )
        rows = []
        try:
            for inst, raw in zip(instances, assignments):
                labels = _labels(raw, inst)
                loads = np.bincount(labels, weights=inst.items, minlength=inst.items.size)
                worst = int(np.argmax(loads))
                if loads[worst] > inst.capacity:
                    load = int(loads[worst])
                    raise _Reject(
                        f"instance {inst.name}: bin {worst} holds {load} > capacity {inst.capacity}"
                    )
                bins = int(np.count_nonzero(loads))
                agree, held_back = replay(inst, labels)
                rows.append((inst, bins, agree, held_back))
        except _Reject as exc:
            return invalid(self.stage, str(exc))
        return self._result(rows)

    def _result(self, rows: list[tuple[Instance, int, int, int]]) -> EvalResult:
        by_family: dict[str, list[float]] = {}
        excess = []
        for inst, bins, _, _ in rows:
            e = (bins - inst.l1_bound) / inst.l1_bound
            excess.append(e)
            by_family.setdefault(inst.family, []).append(e)
        family_pct = {f: 100.0 * float(np.mean(v)) for f, v in sorted(by_family.items())}
        mean_pct = float(np.mean(list(family_pct.values())))
        n_items = sum(inst.items.size for inst, *_ in rows)
        bins_used = sum(b for _, b, _, _ in rows)
        capacity_used = sum(b * inst.capacity for inst, b, _, _ in rows)
        agreement = sum(a for *_, a, _ in rows) / n_items
        new_bin_rate = sum(h for *_, h in rows) / n_items
        metrics = {f"{f}_excess_pct": v for f, v in family_pct.items()}
        metrics.update(
            excess_pct=mean_pct,
            worst_excess_pct=100.0 * max(excess),
            bins_used=float(bins_used),
            l1_bound=float(sum(inst.l1_bound for inst, *_ in rows)),
            mean_fill=float(sum(int(inst.items.sum()) for inst, *_ in rows) / capacity_used),
            instances=float(len(rows)),
        )
        features = {"best_fit_agreement": agreement, "new_bin_rate": new_bin_rate}
        k = int(np.argmax(excess))
        worst_inst, worst_bins = rows[k][0], rows[k][1]
        parts = ", ".join(f"{f} {v:.2f}%" for f, v in family_pct.items())
        feedback = (
            f"{self.stage}: {mean_pct:.2f}% more bins than the L1 bound ({parts}); worst instance "
            f"{worst_inst.name}: {worst_bins} bins vs L1 {worst_inst.l1_bound} "
            f"(+{100 * excess[k]:.2f}%); "
            f"{agreement:.1%} of placements agree with best fit, "
            f"{new_bin_rate:.1%} of items open a new bin although an open bin fits."
        )
        return EvalResult(
            score=-mean_pct, metrics=metrics, features=features, correct=True, feedback=feedback
        )


def passes(result: EvalResult) -> bool:
    return result.correct
