"""The axes and directions of the Pareto view.

A problem may declare its objectives (metric -> "min" or "max"), which the campaign records
in its "started" event; those are the view's defaults. A metric the problem did not declare
gets, in the view the page opens on (no axes asked for), the direction in which it agrees
with the score (higher is better): "min" when it falls as the score rises over the correct
programs (Spearman's rank correlation), else "max". So binpack's excess_pct and bins_used
are minimised by default, and the default front is made of good programs, not of the worst
ones. The answer says which directions were guessed ("guessed": ["x", "y"]).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from dashboards.index import CampaignIndex
from db.records import CampaignRecord
from db.storage import Storage

DIRECTIONS = ("max", "min")


def declared(storage: Storage, record: CampaignRecord) -> dict[str, str]:
    """metric -> "min"/"max" as the campaign's problem declared them at start (the
    "started" event's "objectives"; empty for a campaign started without them)."""
    return storage.declared_objectives(record.id)


def axis_value(node: Any, name: str) -> Any:
    """A metric, or else a feature, of a program (the Pareto view plots either)."""
    value = node.metrics.get(name)
    return node.features.get(name) if value is None else value


def score_sense(index: CampaignIndex, name: str) -> str:
    """The sense of `name`: "min" when it falls as the score rises over the correct
    programs (negative rank correlation), else "max" (also when unrelated or too few
    programs); cached per index version."""

    def build() -> str:
        pairs = [
            (float(v), float(n.score))
            for n in index.evaluated()
            if n.correct and n.score is not None and (v := axis_value(n, name)) is not None
        ]
        if len(pairs) < 3:
            return "max"
        a = np.asarray(pairs, dtype=float)
        if not np.isfinite(a).all():
            a = a[np.isfinite(a).all(axis=1)]
        # dense ranks (ties share one): a constant metric is unrelated, not random
        ranks = np.stack([np.unique(a[:, k], return_inverse=True)[1] for k in (0, 1)], axis=1)
        ranks = ranks.astype(float)
        if len(ranks) < 3 or ranks[:, 0].std() == 0 or ranks[:, 1].std() == 0:
            return "max"
        rho = float(np.corrcoef(ranks[:, 0], ranks[:, 1])[0, 1])
        return "min" if rho < 0 else "max"

    return index.cached(f"score_sense:{name}", build)


def directions(
    index: CampaignIndex,
    axes: tuple[str | None, str | None],
    given: tuple[str | None, str | None],
    sense: Mapping[str, str],
    *,
    guess: bool = True,
) -> tuple[str, str, list[str]]:
    """(x_dir, y_dir, guessed): each axis's direction as given in the query, else as the
    problem declared it, else guessed from the score (with `guess`; else "max"); `guessed`
    names the axes ("x", "y") whose direction was guessed."""
    out, guessed = [], []
    for key, name, chosen in zip(("x", "y"), axes, given, strict=True):
        if chosen:
            out.append(chosen)
        elif name is None or (not guess and name not in sense):
            out.append("max")
        elif name in sense:
            out.append(sense[name])
        else:
            out.append(score_sense(index, name))
            guessed.append(key)
    return out[0], out[1], guessed
