"""The "started" event keeps what readers that cannot load the problem need: the problem's
declared objectives (the dashboard's Pareto view opens on them)."""

from __future__ import annotations

from dash_client import Client

from dashboards.app import create_app
from db import open_storage
from evolve import api


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
        p = Client(create_app(storage)).get("/api/campaigns/an/pareto").json()
        assert (p["x"], p["y"], p["x_dir"], p["y_dir"]) == ("log10_error", "ops", "min", "min")
        assert p["front"]
    finally:
        storage.close()
