"""What a researcher browsing real campaigns ran into (the user audit of the dashboard), on
the JSON API: a killed campaign that still read "running", an ended campaign that did not
say why, a Pareto view that opened on the worst program of a problem without declared
objectives, and a lineage page that showed another campaign's program as its own."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from dash_client import Client
from dash_synthetic import _h, _stage

from dashboards.app import create_app
from db import open_storage
from db.storage import Storage

# binpack-like: score = -excess_pct; bins_used grows as the score falls; a few programs
# (worst fit) are 30 times worse than the rest; island 1 starts with one of them
SCORES = [-4.83, -146.4, -5.3, -4.6, -26.9, -4.5, -4.38, -146.4, -4.2, -4.16, -4.4]


def _program(storage: Storage, campaign_id: int, i: int, parent: int | None, **kw: Any) -> int:
    code = kw.pop("code", f"def priority(item, bins):\n    return -bins * {i}\n")
    p = storage.add_program(
        campaign_id,
        code=code,
        genome=None,
        code_hash=_h(f"{campaign_id}:{code}"),
        ast_hash=_h(f"{campaign_id}:a{code}"),
        generation=0 if parent is None else 1,
        island=i % 2,
        operator=kw.pop("operator", "initial" if parent is None else "ast_mutate"),
        edges=[(parent, "parent")] if parent is not None else [],
    )
    return p.id


def build(storage: Storage) -> dict[str, Any]:
    """The audit's campaigns, written through the Storage API."""
    ids: dict[str, Any] = {}
    # a finished binpack-like campaign with outliers and no declared objectives
    c = storage.create_campaign("outliers", "binpack.online", {"max_evals": len(SCORES)}, seed=0)
    storage.add_event(c.id, "started", {"config": {}})
    programs = []
    for i, score in enumerate(SCORES):
        pid = _program(storage, c.id, i, programs[0] if programs else None)
        metrics = {"excess_pct": -score, "bins_used": 1000 - 10 * score, "instances": 8.0}
        storage.record_evaluation(pid, [_stage(score, "ok", metrics, {})], worker="w", attempt=1)
        programs.append(pid)
    # an LLM edit, and a call whose reply was refused before evaluation
    call = {"model": "scripted", "prompt": "p", "response": "r", "prompt_tokens": 900,
            "completion_tokens": 30, "cost_usd": 0.0004, "latency_s": 0.01, "outcome": "ok"}  # fmt: skip
    llm = storage.add_program(
        c.id, code="def priority(item, bins):\n    return bins\n", genome=None,
        code_hash=_h("llm"), ast_hash=_h("llm-a"), generation=1, island=0, operator="llm_diff",
        edges=[(programs[0], "parent")], llm_call=call,
    )  # fmt: skip
    storage.record_evaluation(llm.id, [_stage(-4.7, "ok", {}, {})], worker="w", attempt=1)
    storage.add_llm_call(c.id, {**call, "outcome": "search_not_found", "operator": "llm_diff"})
    storage.set_campaign_status(c.id, "finished")
    storage.add_event(c.id, "finished", {"reason": "budget", "evaluated": len(SCORES) + 1})
    ids["outliers"] = {
        "campaign": c.id,
        "programs": programs,
        "best": programs[SCORES.index(-4.16)],
    }

    # a campaign whose initial program failed: one program, stored as failed
    c = storage.create_campaign("failed", "/tmp/failing.py", {"max_evals": 20}, seed=0)
    pid = _program(storage, c.id, 0, None, code="def f(x):\n    return x / 0\n")
    feedback = "ZeroDivisionError: float division by zero (line 2)\nTraceback (most recent call last):\n  ..."
    storage.record_evaluation(pid, [_stage(None, "error", {}, {}, feedback)], worker="w", attempt=1)
    storage.set_campaign_status(c.id, "failed")
    storage.add_event(c.id, "failed", {"reason": "initial_failed", "evaluated": 1})
    ids["failed"] = {"campaign": c.id, "program": pid}

    # a campaign whose controller was killed: stored as running, its lease expired
    c = storage.create_campaign("killed", "binpack.online", {"max_evals": 2000}, seed=0)
    assert storage.acquire_lease(c.id, "elsewhere:12345:1", 0.01) is None
    first = _program(storage, c.id, 0, None)
    storage.record_evaluation(first, [_stage(-4.8, "ok", {}, {})], worker="w", attempt=1)
    pending = _program(storage, c.id, 1, first)  # in flight when the controller was killed
    ids["killed"] = {"campaign": c.id, "program": first, "pending": pending}

    # a campaign being run: its controller holds the lease
    c = storage.create_campaign("live", "binpack.online", {"max_evals": 2000}, seed=0)
    assert storage.acquire_lease(c.id, "elsewhere:12346:1", 3600.0) is None
    first = _program(storage, c.id, 0, None)
    storage.record_evaluation(first, [_stage(-4.8, "ok", {}, {})], worker="w", attempt=1)
    ids["live"] = {"campaign": c.id, "program": first}
    time.sleep(0.05)  # the killed campaign's lease has expired
    return ids


@pytest.fixture(scope="module")
def audit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('audit') / 'audit.db'}"
    storage = open_storage(url)
    try:
        ids = build(storage)
    finally:
        storage.close()
    yield {"url": url, **ids}


@pytest.fixture
def api(audit: dict[str, Any]) -> Iterator[Client]:
    storage = open_storage(audit["url"])
    app = create_app(storage)
    yield Client(app)
    app.close()
    storage.close()


def test_a_killed_campaign_is_stale_not_running(api: Client, audit: dict[str, Any]) -> None:
    """kill -9 leaves a campaign stored as running: `evolve status` shows it as
    "interrupted?" (its lease expired), and so does the dashboard, everywhere it shows one."""
    rows = {r["name"]: r for r in api.get("/api/campaigns").json()["campaigns"]}
    assert rows["killed"]["status"] == "running" and rows["killed"]["stale"] is True
    assert rows["live"]["stale"] is False  # its controller holds the lease
    assert rows["outliers"]["stale"] is False and rows["failed"]["stale"] is False
    one = api.get("/api/campaigns/killed").json()
    assert one["stale"] is True
    updates = api.get("/api/campaigns/killed/updates?since=0").json()
    assert updates["status"] == "running" and updates["stale"] is True
    assert api.get("/api/campaigns/live/updates?since=0").json()["stale"] is False


def test_a_program_says_whether_its_campaign_runs(api: Client, audit: dict[str, Any]) -> None:
    """A program left pending by a killed controller waits for `evolve resume`: its page
    says so instead of waiting forever for an evaluation "yet" to come."""
    p = api.get(f"/api/programs/{audit['killed']['pending']}").json()
    assert p["status"] == "pending"
    assert p["campaign"] == {
        "id": audit["killed"]["campaign"],
        "name": "killed",
        "status": "running",
        "stale": True,
    }
    live = api.get(f"/api/programs/{audit['live']['program']}").json()["campaign"]
    assert (live["status"], live["stale"]) == ("running", False)
    failed = api.get(f"/api/programs/{audit['failed']['program']}").json()["campaign"]
    assert (failed["status"], failed["stale"]) == ("failed", False)


def test_an_ended_campaign_says_why(api: Client) -> None:
    rows = {r["name"]: r for r in api.get("/api/campaigns").json()["campaigns"]}
    assert rows["failed"]["reason"] == "initial_failed"
    assert rows["outliers"]["reason"] == "budget"
    assert rows["live"]["reason"] is None and rows["killed"]["reason"] is None
    assert api.get("/api/campaigns/failed").json()["reason"] == "initial_failed"


def test_pareto_view_of_undeclared_metrics_opens_on_the_best(
    api: Client, audit: dict[str, Any]
) -> None:
    """A campaign that declares no objectives (this synthetic binpack-like one; binpack
    itself declared none when this was found): the view opened on its first two metrics,
    both maximised, so its "front" was the worst program (most bins, most excess). Undeclared
    metrics now take the sense in which they agree with the score (both minimised here),
    and the answer says so."""
    p = api.get("/api/campaigns/outliers/pareto").json()
    assert (p["x"], p["y"]) == ("bins_used", "excess_pct")
    assert (p["x_dir"], p["y_dir"]) == ("min", "min")
    assert p["guessed"] == ["x", "y"]
    assert [pt[2] for pt in p["front"]] == [audit["outliers"]["best"]]
    # axes asked for: undeclared senses are "max" unless asked for, nothing guessed
    p = api.get("/api/campaigns/outliers/pareto?x=bins_used&y=instances").json()
    assert (p["x_dir"], p["y_dir"], p["guessed"]) == ("max", "max", [])
    p = api.get("/api/campaigns/outliers/pareto?x=bins_used&y=excess_pct&x_dir=min").json()
    assert (p["x_dir"], p["y_dir"]) == ("min", "max")


def test_pareto_sense_of_a_constant_metric_is_max(api: Client) -> None:
    """A constant metric (instances) neither agrees nor disagrees with the score."""
    from dashboards.index import CampaignIndex
    from dashboards.objectives import score_sense

    storage = api.app.storage
    record = storage.get_campaign("outliers")
    index = CampaignIndex(storage, record.id).sync(force=True)
    assert score_sense(index, "instances") == "max"
    assert score_sense(index, "excess_pct") == "min"
    assert score_sense(index, "no_such_metric") == "max"


def test_program_lineage_in_another_campaign_is_a_clear_404(
    api: Client, audit: dict[str, Any]
) -> None:
    """/campaigns/A/lineage?program=ID (an id typed into the search box, a pasted URL) for a
    program of campaign B showed B's program under A's name and filters."""
    pid = audit["failed"]["program"]
    mine = api.get(f"/api/programs/{pid}/lineage?campaign=failed")
    assert mine.status == 200 and mine.json()["focus"] == pid
    by_id = api.get(f"/api/programs/{pid}/lineage?campaign={audit['failed']['campaign']}")
    assert by_id.status == 200
    other = api.get(f"/api/programs/{pid}/lineage?campaign=outliers")
    assert other.status == 404
    message = other.json()["error"]
    assert "not in campaign 'outliers'" in message and "'failed'" in message
    assert f"/campaigns/{audit['failed']['campaign']}/lineage?program={pid}" in message
    assert api.get(f"/api/programs/{pid}/lineage?campaign=nope").status == 404
    assert api.get(f"/api/programs/{pid}/lineage").status == 200  # without it: as before
