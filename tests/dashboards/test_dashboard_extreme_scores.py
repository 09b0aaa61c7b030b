"""Scores and metrics near the largest float (a scorer that returns 1e308, or -1e308 for a
bad program): their differences overflow to infinity. The compare API answered 400 ("Out of
range float values are not JSON compliant")."""

from __future__ import annotations

import math

import pytest
from dash_client import Client
from dash_synthetic import _stage
from test_dashboard_user_audit import _program

from dashboards.app import create_app
from db import open_storage
from db.storage import Storage

# per campaign, in evaluation order: one problem, so that compare measures both together
CAMPAIGNS = {
    "huge": [-1e308, 1e308, -1.5e308, 1.7e308, 1.2e308],
    "huge2": [1e308, -1e308, 1.6e308],
}


def build(storage: Storage) -> None:
    for name, scores in CAMPAIGNS.items():
        c = storage.create_campaign(name, "extreme.p", {"max_evals": len(scores)}, seed=0)
        first = None
        for i, score in enumerate(scores):
            pid = _program(storage, c.id, i, first)
            first = first or pid
            metrics = {"a": score, "b": -score}
            features = {"fx": score, "fy": -score}
            stage = _stage(score, "ok", metrics, features)
            storage.record_evaluation(pid, [stage], worker="w", attempt=1)
        storage.set_campaign_status(c.id, "finished")


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('extreme') / 'extreme.db'}"
    storage = open_storage(url)
    try:
        build(storage)
    finally:
        storage.close()
    return url


def test_compare_of_huge_scores(url: str) -> None:
    storage = open_storage(url)
    try:
        r = Client(create_app(storage, background=False)).get("/api/compare?c=huge&c=huge2")
        assert r.status == 200, r.body
        target = r.json()["targets"]["extreme.p"]
        assert (target["start"], target["best"]) == (-1e308, 1.7e308)
        assert all(math.isfinite(t) for t in target["targets"]), target
        assert target["targets"] == pytest.approx([1.43e308, 1.673e308])
        huge, huge2 = r.json()["campaigns"]
        assert huge["evals_to"] == [4, 4] and huge2["evals_to"] == [3, None]
    finally:
        storage.close()
