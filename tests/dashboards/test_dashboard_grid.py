"""The MAP-Elites grid (dashboards/heatmap.grid): vectorised with numpy, it gives the
answer of the plain per-program loop it replaced, and is cached per index version; on the
axes a campaign's problem declared, it has the cells the search used."""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import numpy as np
import pytest

from dashboards import axes, heatmap
from dashboards.index import CampaignIndex, Node
from evaluators.contract import FeatureAxis
from evolve.strategy import axis_cells, axis_index, recorded_axes


def _node(i: int, rng: random.Random, features: dict[str, float]) -> Node:
    correct = rng.random() < 0.7
    score = rng.choice((0.25, 0.5, 0.75, rng.random())) if rng.random() < 0.9 else None
    return Node(
        id=1000 + i,
        generation=0,
        island=0,
        operator="mutate",
        status="evaluated" if i % 17 else "pending",
        outcome="ok",
        score=score,
        correct=correct,
        eval_seq=None if i % 17 == 0 else (i * 7919) % 2003 + 1,  # not in id order
        created_at=0.0,
        evaluated_at=None,
        metrics={},
        features=features,
        parents=(),
    )


def _index(n: int, seed: int = 3) -> CampaignIndex:
    rng = random.Random(seed)
    index = CampaignIndex(storage=None, campaign_id=1)  # type: ignore[arg-type]
    for i in range(n):
        features: dict[str, float] = {}
        if rng.random() < 0.9:
            features["length"] = rng.choice((1.0, 2.0, 5.0, rng.uniform(0, 100)))
        if rng.random() < 0.8:
            features["depth"] = rng.randrange(0, 12)  # ints, as a problem may report them
        if i % 50 == 0:
            features["rare"] = 3.0  # one value only: a degenerate axis
        index.nodes.append(_node(i, rng, features))
    return index


def _reference(index: CampaignIndex, x: str | None, y: str | None, bins: int) -> dict[str, Any]:
    """The grid as computed before numpy: one pass over the evaluated programs."""
    features = index.keys("features")
    bins = max(1, min(int(bins), 50))
    if not features:
        return {"features": [], "x": None, "y": None, "cells": []}
    x = x if x in features else features[0]
    y = y if y in features else (features[1] if len(features) > 1 else None)
    if y == x:
        y = None
    nodes = [n for n in index.evaluated() if x in n.features and (y is None or y in n.features)]
    if not nodes:
        return {"features": features, "x": x, "y": y, "cells": []}

    def axis(name: str | None) -> dict[str, Any]:
        if name is None:
            return {"name": None, "min": 0.0, "max": 1.0, "bins": 1}
        # the range of the scored programs (failed ones beyond it fall in the edge bins)
        scored = [n for n in nodes if n.correct and n.score is not None] or nodes
        vals = [float(n.features[name]) for n in scored]
        lo, hi = min(vals), max(vals)
        return {"name": name, "min": lo, "max": hi if hi > lo else lo + 1.0, "bins": bins}

    ax, ay = axis(x), axis(y)

    def cell(a: dict[str, Any], node: Node) -> int:
        if a["name"] is None:
            return 0
        f = (float(node.features[a["name"]]) - a["min"]) / (a["max"] - a["min"])
        return min(a["bins"] - 1, max(0, int(f * a["bins"])))

    cells: dict[tuple[int, int], dict[str, Any]] = {}
    for n in nodes:
        key = (cell(ax, n), cell(ay, n))
        c = cells.setdefault(key, {"i": key[0], "j": key[1], "count": 0, "best": None, "id": None})
        c["count"] += 1
        s = n.score if n.correct and n.score is not None else None
        if s is not None and (c["best"] is None or s > c["best"]):
            c["best"], c["id"] = s, n.id
    return {"features": features, "x": ax, "y": ay, "cells": list(cells.values())}


@pytest.mark.parametrize("bins", [1, 3, 10, 50])
@pytest.mark.parametrize(
    "axes",
    [
        (None, None),
        ("length", "depth"),
        ("depth", "length"),
        ("rare", "length"),
        ("length", "length"),
        ("length", "nope"),
        ("rare", "depth"),
    ],
)
def test_grid_equals_the_per_program_loop(axes: tuple[str | None, str | None], bins: int) -> None:
    index = _index(600)
    got = heatmap.grid(index, axes[0], axes[1], bins)
    want = _reference(index, axes[0], axes[1], bins)
    assert got == want
    assert sum(c["count"] for c in got["cells"]) > 0


def test_grid_elites_and_ties() -> None:
    index = _index(600)
    g = heatmap.grid(index, "length", "depth", 4)
    done = index.evaluated()
    for c in g["cells"]:
        if c["id"] is None:
            continue
        elite = next(n for n in done if n.id == c["id"])
        assert elite.correct and elite.score == c["best"]
    tied = [c for c in g["cells"] if c["best"] in (0.25, 0.5, 0.75)]
    assert tied  # the elite among equal scores is exercised


def test_grid_without_features_or_programs() -> None:
    empty = CampaignIndex(storage=None, campaign_id=1)  # type: ignore[arg-type]
    assert heatmap.grid(empty, None, None) == {"features": [], "x": None, "y": None, "cells": []}
    index = _index(60)
    for n in index.nodes:  # "rare" alone: no program has both axes
        n.features = {"rare": 1.0} if n.id % 2 else {"other": 2.0}
    got = heatmap.grid(index, "rare", "other", 5)
    assert got == _reference(index, "rare", "other", 5)
    assert got["cells"] == [] and got["x"] == "rare"


def test_grid_is_cached_per_version_and_axes() -> None:
    index = _index(300)
    first = heatmap.grid(index, "depth", "length", 10)
    assert heatmap.grid(index, "depth", "length", 10) is first
    assert heatmap.grid(index, None, None, 10) is first  # the same axes once resolved
    assert heatmap.grid(index, "depth", "length", 5) is not first
    assert heatmap.grid(index, "length", "depth", 10) != first
    index.nodes[1].features = {"length": 1e6, "depth": 1}
    index._cache.clear()  # what sync() does when the campaign changed (a new version)
    again = heatmap.grid(index, "depth", "length", 10)
    assert again is not first and again == _reference(index, "depth", "length", 10)
    assert again["y"]["max"] == 1e6


def test_a_failed_programs_sentinel_feature_does_not_set_the_range() -> None:
    """AutoNumerics gives a failed program an error of 1e30 (log10_error 30): the axis spans
    the scored programs, and the failed one is counted in the last bin."""
    rng = random.Random(0)
    index = CampaignIndex(storage=None, campaign_id=1)  # type: ignore[arg-type]
    for i, err in enumerate([-6.0, -4.0, -2.0, 30.0]):
        node = _node(i + 1, rng, {"log10_error": err})
        index.nodes.append(
            dataclasses.replace(node, correct=err < 30, score=-err if err < 30 else None,
                                eval_seq=i + 1, status="evaluated")
        )  # fmt: skip
    g = heatmap.grid(index, "log10_error", None, bins=4)
    assert (g["x"]["min"], g["x"]["max"]) == (-6.0, -2.0)
    assert sorted((c["i"], c["count"], c["best"]) for c in g["cells"]) == [
        (0, 1, 6.0),
        (2, 1, 4.0),
        (3, 2, 2.0),
    ]


# -- the axes a problem declared (recorded in the campaign's "started" event) --------------
AXES = [
    FeatureAxis("calls", 0, 5, 10, integer=True),  # 6 values in 10 bins: a cell each
    FeatureAxis("wide", 0, 40, 10, integer=True),  # more values than bins: 10 bins
    FeatureAxis("tight", 0, 9, 10, integer=True),  # as many values as bins
    FeatureAxis("odd", -2.5, 3.5, 10, integer=True),  # whole values -2..3
    FeatureAxis("share", 0.0, 1.0, 4),
    FeatureAxis("log10_error", -16, 1, 17),
    FeatureAxis("flat", 2.0, 2.0, 3),  # no span
]


@pytest.mark.parametrize("axis", AXES, ids=lambda a: a.name)
def test_a_declared_axis_has_the_searchs_cells(axis: FeatureAxis) -> None:
    """dashboards/axes.py bins a column as evolve/strategy.py bins one value at a time."""
    [shown] = axes.parse(recorded_axes([axis])).values()
    assert shown.cells == axis_cells(axis)
    rng = random.Random(1)
    values = [rng.uniform(axis.low - 3, axis.high + 3) for _ in range(500)]
    values += [v + d for v in range(-5, 45) for d in (-0.5, -1e-9, 0.0, 0.49, 0.5)]
    got = shown.index(np.array(values, dtype=np.float64)).tolist()
    assert got == [axis_index(axis, v) for v in values]


def test_a_recorded_axis_that_is_not_whole_is_left_out() -> None:
    good = recorded_axes([FeatureAxis("calls", 0, 5, 10, integer=True)])[0]
    entries = [good, {"name": "x"}, "junk", {**good, "name": "y", "cells": 10**6}]
    assert list(axes.parse(entries)) == ["calls"]
    assert axes.parse(None) == {} and axes.parse({"calls": good}) == {}


def test_the_grid_opens_on_the_declared_axes_and_cells(
    client: Any, recorded: dict[str, Any]
) -> None:
    """The "tuned" campaign's problem declared an integer count 0..5 (10 bins) and a share
    in 4 cells: the heatmap is that 6 x 4 grid, a cell per count, with its coverage (the
    cells holding a correct program, not the failed one's); asked for bins, or for a
    campaign recorded without axes, it bins the observed range as before."""
    t = recorded["tuned"]
    g = client.get(f"/api/campaigns/{t['campaign']}/grid").json()
    assert (g["x"]["name"], g["x"]["bins"], g["x"]["origin"]) == ("calls", 6, 0)
    assert (g["y"]["name"], g["y"]["bins"], g["y"]["min"], g["y"]["max"]) == ("share", 4, 0, 1)
    assert g["x"]["declared"] and g["bins"] is None and g["declared"] == ["calls", "share"]
    cells = {c["id"]: (c["i"], c["j"]) for c in g["cells"]}
    assert cells[t["parent"]] == (0, 0) and cells[t["child"]] == (3, 2)
    assert cells[t["edited"]] == (5, 3) and (2, 1) in cells.values()  # calls = i
    assert g["coverage"] == {"filled": 3, "cells": 24}
    swapped = client.get(f"/api/campaigns/{t['campaign']}/grid?x=share&y=calls").json()
    assert (swapped["x"]["bins"], swapped["y"]["bins"], swapped["coverage"]["cells"]) == (4, 6, 24)
    asked = client.get(f"/api/campaigns/{t['campaign']}/grid?bins=10").json()
    assert asked["x"]["bins"] == asked["y"]["bins"] == 10 and asked["bins"] == 10
    assert "coverage" not in asked and not asked["x"].get("declared")
    old = client.get("/api/campaigns/xss/grid").json()
    assert old["x"]["bins"] == 10 and "coverage" not in old and old["declared"] == []


def test_one_declared_axis_is_a_one_dimensional_grid() -> None:
    """A problem that declared one axis: its grid is that axis alone, whatever other
    features its programs report (another one is a y the page may choose)."""
    index = _index(300)
    declared = axes.parse(recorded_axes([FeatureAxis("depth", 0, 11, 20, integer=True)]))
    g = heatmap.grid(index, None, None, None, declared)
    assert g["x"]["name"] == "depth" and g["y"]["name"] is None and g["x"]["bins"] == 12
    done = [n for n in index.evaluated() if "depth" in n.features]
    elites = {int(n.features["depth"]) for n in done if n.correct and n.score is not None}
    assert g["coverage"] == {"filled": len(elites), "cells": 12}
    chosen = heatmap.grid(index, "depth", "length", None, declared)
    assert chosen["y"]["name"] == "length" and chosen["y"]["bins"] == heatmap.DEFAULT_BINS
    assert "coverage" not in chosen  # a grid beside an undeclared feature is not the search's
