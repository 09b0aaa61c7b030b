"""The "started" event keeps what readers that cannot load the problem need: the problem's
declared objectives (the dashboard's Pareto view opens on them) and its MAP-Elites axes
(the heatmap opens on the grid the search used)."""

from __future__ import annotations

from pathlib import Path

from dash_client import Client

from dashboards.app import create_app
from db import open_storage
from evolve import api

REPO = Path(__file__).resolve().parents[2]


def test_objectives_reach_the_dashboards_pareto_view(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'an.db'}"
    api.run("autonumerics.exp2", {"db": url, "name": "an", "max_evals": 12, "workers": 1,
                                  "held_out": False})  # fmt: skip
    storage = open_storage(url)
    try:
        [started] = storage.events(storage.get_campaign("an").id, "started")
        assert [list(o) for o in started.payload["objectives"]] == [
            ["log10_error", "min"],
            ["ops", "min"],
        ]
        client = Client(create_app(storage))
        p = client.get("/api/campaigns/an/pareto").json()
        assert (p["x"], p["y"], p["x_dir"], p["y_dir"]) == ("log10_error", "ops", "min", "min")
        assert p["front"]
        # its axes too (declared for MAP-Elites; an NSGA-II campaign's heatmap shows them)
        assert [a["name"] for a in started.payload["feature_axes"]] == ["ops", "log10_error"]
        g = client.get("/api/campaigns/an/grid").json()
        assert (g["x"]["name"], g["x"]["bins"], g["y"]["name"], g["y"]["bins"]) == (
            "ops",
            24,
            "log10_error",
            17,
        )
        assert g["coverage"]["cells"] == 24 * 17 and g["coverage"]["filled"] >= 1
    finally:
        storage.close()


# examples/sine.py with two behaviour features: a count (the points where f is below 0.5,
# 0..4 of 5 points, declared integer in 10 bins: 5 cells) and f's mean over those points
GRID_PROBLEM = """
from evaluators import FeatureAxis

FEATURE_AXES = [FeatureAxis("low_points", 0, 4, 10, integer=True), FeatureAxis("mean", 0.0, 2.0, 4)]
PROBE = [0.0, 0.2, 0.5, 1.0, 1.5]


def evaluate(program):
    return {"outputs": [float(program.f(x)) for x in POINTS],
            "probe": [float(program.f(x)) for x in PROBE]}


def score(result):
    outputs, probe = result["outputs"], result["probe"]
    mse = sum((y - math.sin(x)) ** 2 for x, y in zip(POINTS, outputs)) / len(POINTS)
    low = min(4, sum(1 for y in probe if y < 0.5))
    return {"score": -mse, "metrics": {"mse": mse},
            "features": {"low_points": float(low), "mean": sum(probe) / len(probe)}}
"""


def test_the_heatmap_is_the_grid_the_islands_search_used(tmp_path: Path) -> None:
    """An islands campaign over an integer axis: the "started" event records the axes with
    the cells the search counted, and the dashboard's default grid puts every correct
    program in the cell the strategy put it in (over all islands: their grids' union), as
    the run's summary counts them."""
    from evaluators.contract import FeatureAxis
    from evolve.config import StrategyConfig
    from evolve.strategy import IslandsMapElites

    sine = (REPO / "examples" / "sine.py").read_text()
    head, _, _ = sine.partition("\ndef evaluate(")
    problem = tmp_path / "grid_sine.py"
    problem.write_text(head + GRID_PROBLEM)
    url = f"sqlite:///{tmp_path / 'grid.db'}"
    summary = api.run(
        str(problem), {"db": url, "name": "grid", "max_evals": 30, "workers": 1, "seed": 2}
    )
    storage = open_storage(url)
    try:
        campaign = storage.get_campaign("grid")
        [started] = storage.events(campaign.id, "started")
        recorded = [dict(a) for a in started.payload["feature_axes"]]
        assert recorded == [
            {
                "name": "low_points",
                "low": 0.0,
                "high": 4.0,
                "bins": 10,
                "integer": True,
                "cells": 5,
            },
            {"name": "mean", "low": 0.0, "high": 2.0, "bins": 4, "integer": False, "cells": 4},
        ]
        g = Client(create_app(storage)).get("/api/campaigns/grid/grid").json()
        strategy = IslandsMapElites(
            StrategyConfig(islands=1, migration_interval=10**6),
            [FeatureAxis("low_points", 0, 4, 10, integer=True), FeatureAxis("mean", 0.0, 2.0, 4)],
        )
        programs = storage.programs(campaign.id)
        for program in programs:
            strategy.tell(program)
        searched = set(strategy.islands[0].grid)
    finally:
        storage.close()
    assert (g["x"]["bins"], g["y"]["bins"]) == (5, 4)
    filled = {(c["i"], c["j"]) for c in g["cells"] if c["best"] is not None}
    assert filled == searched and len(searched) >= 2
    assert g["coverage"] == {"filled": len(searched), "cells": strategy.cell_count()}
    # the end-of-run summary counts the same cells (its islands' grids together)
    assert (summary.grid["filled"], summary.grid["cells"]) == (len(searched), 20)
