"""The MAP-Elites heatmap of the campaign page: per cell of two behaviour features, the best
score, the number of programs and the elite; vectorised with numpy over feature columns
cached per index version. By default it is the grid the search used, over the axes the
problem declared (dashboards/axes.py)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from dashboards import axes
from dashboards.axes import Axis
from dashboards.index import CampaignIndex
from db.records import CampaignRecord
from db.storage import Storage


def feature_column(index: CampaignIndex, name: str) -> tuple[Any, Any]:
    """One feature over the evaluated programs (eval_seq order), cached per index version:
    (values, present) arrays; a program without the feature has present False."""

    def build() -> tuple[Any, Any]:
        raw = [n.features.get(name) for n in index.evaluated()]
        values = np.array(raw, dtype=np.float64)  # None (absent) becomes NaN
        present = ~np.isnan(values)
        if raw.count(None) != len(raw) - int(present.sum()):  # a NaN value is present too
            present = np.array([v is not None for v in raw], dtype=bool)
        values[~present] = 0.0
        return values, present

    return index.cached(f"feature:{name}", build)


def scored_column(index: CampaignIndex) -> tuple[Any, Any]:
    """(ids, scores) of the evaluated programs (eval_seq order), cached per index version;
    scores NaN where not scored (not correct, or no score)."""

    def build() -> tuple[Any, Any]:
        done = index.evaluated()
        ids = np.array([n.id for n in done], dtype=np.int64)
        scores = [n.score if n.correct and n.score is not None else None for n in done]
        return ids, np.array(scores, dtype=np.float64)

    return index.cached("scored", build)


DEFAULT_BINS = 10  # the bins of an undeclared axis when the page asks for none


def view(
    storage: Storage,
    record: CampaignRecord,
    index: CampaignIndex,
    x: str | None,
    y: str | None,
    bins: int | None,
) -> dict[str, Any]:
    """The grid the page asked for (see grid), on the problem's MAP-Elites axes recorded
    when the campaign started, with what the page's bins selector needs: the bins asked
    for (None: as declared) and the declared axes there are to go back to."""
    declared = index.cached("feature_axes", lambda: axes.declared(storage, record))
    shown = grid(index, x, y, bins, declared)
    asked = None if bins is None else max(1, min(bins, 50))
    features = index.keys("features")
    return {**shown, "bins": asked, "declared": [n for n in declared if n in features]}


def grid(
    index: CampaignIndex,
    x: str | None,
    y: str | None,
    bins: int | None = None,
    declared: Mapping[str, Axis] | None = None,
) -> dict[str, Any]:
    """The MAP-Elites grid over two features (one if there is only one): per cell the best
    score, the number of programs and the elite's id (the first evaluated of the best
    score). Cells in the order of their first program; cached per index version.

    ``declared``: the axes the campaign's problem declared (dashboards/axes.py). Unless
    asked for others, the grid is the search's: its first two declared axes (one when it
    declared one), each in its declared range and cells, with the coverage (cells holding
    a correct program / cells of the grid). ``bins`` asked for, or an undeclared feature,
    bins the observed range instead, as for a campaign recorded without axes."""
    declared = declared or {}
    features = index.keys("features")
    if bins is not None:
        bins = max(1, min(int(bins), 50))
    if not features:
        return {"features": [], "x": None, "y": None, "cells": []}
    ours = [name for name in declared if name in features]
    if x not in features:
        x = ours[0] if ours else features[0]
    if y not in features:  # beside a declared axis, the next declared one (or none)
        others = [name for name in ours if name != x]
        if x in ours:
            y = others[0] if others else None
        else:
            y = features[1] if len(features) > 1 else None
    if y == x:
        y = None
    axes = {} if bins is not None else {n: declared[n] for n in (x, y) if n in declared}
    if not axes:
        bins = bins or DEFAULT_BINS
    key = f"grid:{x}:{y}:{bins}"
    return index.cached(key, lambda: _grid(index, features, x, y, bins or DEFAULT_BINS, axes))


def _grid(
    index: CampaignIndex,
    features: list[str],
    x: str,
    y: str | None,
    bins: int,
    declared: Mapping[str, Axis],
) -> dict[str, Any]:
    xs, keep = feature_column(index, x)
    if y is not None:
        ys, y_present = feature_column(index, y)
        keep = keep & y_present
    ids, scores = scored_column(index)
    if not keep.any():
        return {"features": features, "x": x, "y": y, "cells": []}
    ids, scores = ids[keep], scores[keep]

    scored_rows = ~np.isnan(scores)

    def axis(name: str | None, vals: Any) -> tuple[dict[str, Any], Any]:
        if name is None:
            return {"name": None, "min": 0.0, "max": 1.0, "bins": 1}, np.zeros(len(ids), np.int64)
        if name in declared:  # the search's cells
            return declared[name].shown(), declared[name].index(vals)
        # The range of the scored programs: a failed program's sentinel feature (an
        # AutoNumerics error of 1e30) would squeeze them all into a bin or two; failed
        # ones beyond it are counted in the edge bins.
        ranged = vals[scored_rows] if scored_rows.any() else vals
        lo, hi = float(ranged.min()), float(ranged.max())
        a = {"name": name, "min": lo, "max": hi if hi > lo else lo + 1.0, "bins": bins}
        span = a["max"] - a["min"]
        if math.isfinite(span):
            f = (vals - a["min"]) / span
        else:  # features near the largest float (-1e308, 1e308): halves do not overflow
            f = (vals / 2 - a["min"] / 2) / (a["max"] / 2 - a["min"] / 2)
        return a, np.clip((f * bins).astype(np.int64), 0, bins - 1)

    ax, i = axis(x, xs[keep])
    ay, j = axis(y, ys[keep] if y is not None else None)
    key = i * ay["bins"] + j
    cells_of, first, counts = np.unique(key, return_index=True, return_counts=True)
    # the elite per cell: highest score, then first evaluated (stable sort on -score)
    scored = np.flatnonzero(~np.isnan(scores))
    order = scored[np.lexsort((scored, -scores[scored], key[scored]))]
    heads = order[np.r_[True, key[order][1:] != key[order][:-1]]] if len(order) else order
    elite = dict(zip(key[heads].tolist(), heads.tolist(), strict=True))
    cells = []
    for c in np.argsort(first, kind="stable").tolist():
        k = int(cells_of[c])
        e = elite.get(k)
        cells.append(
            {
                "i": k // ay["bins"],
                "j": k % ay["bins"],
                "count": int(counts[c]),
                "best": None if e is None else float(scores[e]),
                "id": None if e is None else int(ids[e]),
            }
        )
    out = {"features": features, "x": ax, "y": ay, "cells": cells}
    if all(a["name"] is None or a.get("declared") for a in (ax, ay)):
        # as the search counts it (IslandsMapElites.coverage): cells holding a correct
        # program, here over all islands together
        out["coverage"] = {"filled": len(elite), "cells": ax["bins"] * ay["bins"]}
    return out
