"""The compare view: its API (/api/compare) over in-memory storage, on hand-built campaigns
whose best-score lines and speed to good are worked out by hand here, and the page in
headless Chromium, opened from the campaigns page's checkboxes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chromium import needs_chromium
from dash_client import Client

from dashboards import aggregate
from dashboards.app import create_app
from db import NewStageResult, open_storage
from db.storage import Storage

BASE = {"max_evals": 6, "strategy": {"kind": "islands", "islands": 4}}
# per campaign: problem, seed, settings, scores in evaluation order (None: an error)
CAMPAIGNS: dict[str, tuple[str, int, dict[str, Any], list[float | None]]] = {
    "alpha": (
        "toy.p",
        1,
        {"operators": {"ast_mutate": 0.85, "ast_crossover": 0.15}, "llm": {"model": ""}},
        [1.0, 0.5, 3.0, None, 10.2, 4.0],
    ),
    "beta": (
        "toy.p",
        2,
        {"operators": {"ast_mutate": 0.5, "llm_diff": 0.5}, "llm": {"model": "m1"}},
        [2.0, 6.0, 10.0, 10.5, 11.0, 3.0],
    ),
    "gamma": ("other.q", 1, {}, [100.0, 200.0]),
}


def build(storage: Storage) -> dict[str, int]:
    ids = {}
    for name, (problem, seed, extra, scores) in CAMPAIGNS.items():
        config = {
            **BASE,
            **extra,
            "seed": seed,
            "name": name,  # never settings that "differ": name, db, problem, data secret
            "problem": problem,
            "db": f"sqlite:///{name}.db",
            "problem_options": {"data_secret": f"secret-{name}"},
        }
        c = storage.create_campaign(name, problem, config, seed)
        ids[name] = c.id
        for i, score in enumerate(scores):
            call = {"model": "m1", "prompt": "p", "cost_usd": 0.25} if name == "beta" else None
            p = storage.add_program(
                c.id,
                code=f"{name} {i}",
                genome=None,
                code_hash=f"{name}c{i}",
                ast_hash=f"{name}a{i}",
                generation=i,
                island=0,
                operator="initial" if i == 0 else "ast_mutate",
                llm_call=call if i == 1 else None,
            )
            ok = score is not None
            stage = NewStageResult(
                stage="evaluate",
                outcome="ok" if ok else "error",
                score=score,
                correct=ok,
                metrics={},
                features={},
                feedback="",
                duration_s=0.01,
                isolation="rlimits",
            )
            storage.record_evaluation(p.id, [stage], worker="w", attempt=1)
    storage.add_event(ids["alpha"], "finished", {"reason": "stalled"})
    storage.set_campaign_status(ids["alpha"], "finished")
    return ids


@pytest.fixture
def mem() -> Iterator[tuple[Storage, dict[str, int]]]:
    storage = open_storage("sqlite://")
    ids = build(storage)
    yield storage, ids
    storage.close()


def test_lines_and_speed_to_good(mem: tuple[Storage, dict[str, int]]) -> None:
    storage, ids = mem
    client = Client(create_app(storage, background=False))
    r = client.get(f"/api/compare?c=alpha&c={ids['beta']}")
    assert r.status == 200, r.body
    data = r.json()
    alpha, beta = data["campaigns"]
    assert (alpha["name"], beta["name"]) == ("alpha", "beta") and data["same_problem"]
    # running maximum of the correct scores: each rise, and the last evaluation
    assert alpha["best_by_eval"] == [[1, 1.0], [3, 3.0], [5, 10.2], [6, 10.2]]
    assert beta["best_by_eval"] == [[1, 2.0], [2, 6.0], [3, 10.0], [4, 10.5], [5, 11.0], [6, 11.0]]
    # S = 1.0 (alpha's first best), B = 11.0 (beta's best): 90% is 10.0, 99% is 10.9
    target = data["targets"]["toy.p"]
    assert (target["start"], target["best"]) == (1.0, 11.0)
    assert target["targets"] == pytest.approx([10.0, 10.9])
    assert data["levels"] == [0.9, 0.99]
    assert alpha["evals_to"] == [5, None]  # 10.2 at its 5th evaluation; never 10.9
    assert beta["evals_to"] == [3, 5]  # 10.0 at its 3rd (the bound counts), 11.0 at its 5th
    # the time line: the same rises, at seconds since the first program, ending at the last
    for row in (alpha, beta):
        times = [x for x, _ in row["best_by_time"]]
        assert [y for _, y in row["best_by_time"]] == [y for _, y in row["best_by_eval"]]
        assert times == sorted(times) and times[0] >= 0
    # the progress row, as the campaigns list has it
    assert (alpha["status"], alpha["reason"], beta["reason"]) == ("finished", "stalled", None)
    assert alpha["evaluated"] == 6 and alpha["budget"] == 6 and alpha["best_score"] == 10.2
    assert beta["llm_calls"] == 1 and beta["spend_usd"] == pytest.approx(0.25)
    assert alpha["llm_calls"] == 0


def test_index_and_direct_answers_agree(mem: tuple[Storage, dict[str, int]]) -> None:
    storage, ids = mem
    app = create_app(storage, background=False)
    client = Client(app)
    cold = client.get("/api/compare?c=alpha&c=beta").json()  # no index: one window query each
    for cid in (ids["alpha"], ids["beta"]):
        index = app.indexes(cid)  # loaded: answered from the index
        assert (
            aggregate.series(index)["best_by_eval"] == aggregate.best_lines(index)["best_by_eval"]
        )
    warm = client.get("/api/compare?c=alpha&c=beta").json()
    assert warm == cold


def test_differing_settings(mem: tuple[Storage, dict[str, int]]) -> None:
    storage, _ = mem
    client = Client(create_app(storage, background=False))
    differs = client.get("/api/compare?c=alpha&c=beta").json()["differs"]
    # not the name, database or data secret (always different), nor the shared settings
    assert differs == {
        "llm.model": ["", "m1"],
        "operators.ast_crossover": [0.15, None],
        "operators.ast_mutate": [0.85, 0.5],
        "operators.llm_diff": [None, 0.5],
        "seed": [1, 2],
    }


def test_different_problems(mem: tuple[Storage, dict[str, int]]) -> None:
    storage, _ = mem
    client = Client(create_app(storage, background=False))
    data = client.get("/api/compare?c=alpha&c=gamma").json()
    assert not data["same_problem"]
    assert "problem" not in data["differs"] and "seed" not in data["differs"]  # both seed 1
    alpha, gamma = data["campaigns"]
    # each problem is measured against its own start and best
    assert data["targets"]["other.q"]["targets"] == pytest.approx([190.0, 199.0])
    assert gamma["evals_to"] == [2, 2]
    # alone on its problem: S = 1.0 and B = 10.2 are its own, 10.2 reaches both targets
    assert data["targets"]["toy.p"]["targets"] == pytest.approx([9.28, 10.108])
    assert alpha["evals_to"] == [5, 5]


def test_problem_options_that_differ_are_another_objective(
    mem: tuple[Storage, dict[str, int]],
) -> None:
    """compression.arch's mode=multi scores another objective than its default: campaigns
    of one problem whose options differ are measured and drawn apart; the data secret,
    which always differs, does not split them."""
    storage, _ = mem
    config = {**BASE, "problem_options": {"mode": "multi", "data_secret": "s"}}
    c = storage.create_campaign("delta", "toy.p", config, 1)
    p = storage.add_program(
        c.id, code="d", genome=None, code_hash="dc", ast_hash="da", generation=0, island=0,
        operator="initial",
    )  # fmt: skip
    stage = NewStageResult(
        stage="evaluate", outcome="ok", score=5000.0, correct=True, metrics={}, features={},
        feedback="", duration_s=0.01, isolation="rlimits",
    )  # fmt: skip
    storage.record_evaluation(p.id, [stage], worker="w", attempt=1)
    client = Client(create_app(storage, background=False))
    data = client.get("/api/compare?c=alpha&c=beta&c=delta").json()
    objectives = [r["objective"] for r in data["campaigns"]]
    assert objectives == ["toy.p · mode not set", "toy.p · mode not set", 'toy.p · mode="multi"']
    assert data["same_problem"]
    assert set(data["targets"]) == set(objectives)
    assert data["targets"]["toy.p · mode not set"]["best"] == 11.0  # not delta's 5000
    # the same options (the data secret aside): one objective, named by the problem alone
    same = client.get("/api/compare?c=alpha&c=beta").json()
    assert [r["objective"] for r in same["campaigns"]] == ["toy.p", "toy.p"]
    assert list(same["targets"]) == ["toy.p"]


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("c=alpha&c=nope", 404, "no campaign 'nope'"),
        ("c=alpha", 400, "compare needs 2 to 8 campaigns"),
        ("", 400, "got 0"),
        ("c=alpha&c=alpha", 400, "given twice"),
        ("c=" + "&c=".join(str(i) for i in range(1, 10)), 400, "got 9"),
    ],
)
def test_errors_are_json(
    mem: tuple[Storage, dict[str, int]], query: str, status: int, message: str
) -> None:
    storage, _ = mem
    for i in range(6):  # nine campaigns exist: 9 is refused for its count
        storage.create_campaign(f"extra{i}", "toy.p", {}, 0)
    r = Client(create_app(storage, background=False)).get("/api/compare?" + query)
    assert r.status == status and r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert body["status"] == status and message in body["error"], body


def test_page_and_token(mem: tuple[Storage, dict[str, int]]) -> None:
    storage, _ = mem
    client = Client(create_app(storage, token="t0k", background=False))
    # the token is swapped for a cookie, and every c= kept
    r = client.get("/compare?c=alpha&c=beta&token=t0k")
    assert r.status == 303 and r.headers["Location"] == "/compare?c=alpha&c=beta"
    assert client.get("/api/compare?c=alpha&c=beta").status == 401
    auth = {"Authorization": "Bearer t0k"}
    page = client.get("/compare?c=alpha&c=beta", headers=auth)
    assert page.status == 200 and b"/static/compare.js" in page.body
    assert client.get("/api/compare?c=alpha&c=beta", headers=auth).status == 200


@needs_chromium
def test_browser_compare_from_the_campaigns_page(page: Any, artifacts: Path) -> None:
    page.goto(page.base + "/")
    page.wait_for_selector("input.compare-tick")
    assert page.is_disabled("#compare")
    page.check("input[aria-label='compare demo']")
    assert page.is_disabled("#compare")  # one is not a comparison
    page.check("input[aria-label='compare xss']")
    assert page.is_enabled("#compare")
    page.click("#compare")
    page.wait_for_selector("main[data-ready]")
    assert re.search(r"/compare\?c=\d+&c=\d+$", page.url)
    for slot in ("#slot-cmp-eval", "#slot-cmp-time"):  # one line per campaign, named
        assert page.locator(f"{slot} svg path[stroke]").count() == 2
        assert page.locator(f"{slot} .legend > span").all_inner_texts() == ["demo", "xss"]
    names = page.locator("#compare-table tbody tr a.campaign-link").all_inner_texts()
    assert names == ["demo", "xss"]
    assert "different scales" in page.inner_text("#scale-warning")  # sine.py vs synthetic
    assert "S + p × (B − S)" in page.inner_text("#speed-help")
    page.screenshot(path=str(artifacts / "dashboard_compare.png"), full_page=True)
    # fewer than two, or an unknown one: a message on the page
    page.goto(page.base + "/compare?c=demo")
    page.wait_for_selector("#nothing-to-compare")
    assert "compare needs 2 to 8 campaigns" in page.inner_text("main")
    page.goto(page.base + "/compare?c=demo&c=nope")
    page.wait_for_selector("#not-found")
    assert "no campaign 'nope'" in page.inner_text("main")
    # the browser logs each of those two answers (400, 404) as a failed resource load
    assert all("status of 40" in p for p in page.problems), page.problems
    page.problems.clear()


@needs_chromium
def test_browser_each_problem_on_its_own_axes(page: Any, artifacts: Path) -> None:
    """demo and again solve examples/sine.py, xss a synthetic problem on another scale: on
    one shared y axis one problem's curves were flattened by the other's. Each problem now
    has a panel of its own, with its own y ticks; campaigns of one problem share a panel."""
    page.goto(page.base + "/compare?c=demo&c=xss&c=again")
    page.wait_for_selector("main[data-ready]")
    for slot in ("#slot-cmp-eval", "#slot-cmp-time"):
        panels = page.locator(f"{slot} .panel")
        assert panels.count() == 2 and page.locator(f"{slot} svg").count() == 2
        names = [p.locator(".legend > span").all_inner_texts() for p in panels.all()]
        assert names == [["demo", "again"], ["xss"]], names
        assert [p.locator("h3").inner_text() for p in panels.all()][1] == "synthetic.xss"
        assert [p.locator("svg path[stroke]").count() for p in panels.all()] == [2, 1]
        # the xss panel's y axis spans its own scores (-1 to -0.5), not sine's as well
        ys = [float(t) for t in panels.nth(1).locator("svg text.ytick").all_text_contents()]
        assert ys and min(ys) >= -1.1 and max(ys) <= -0.4, ys
    # a campaign keeps its table colour in its panel
    table = page.eval_on_selector_all(
        "#compare-table .swatch", "els => els.map((e) => e.style.backgroundColor)"
    )
    legend = page.eval_on_selector_all(
        "#slot-cmp-eval .legend .swatch", "els => els.map((e) => e.style.backgroundColor)"
    )
    assert legend == [table[0], table[2], table[1]]  # demo, again | xss
    assert "own y axis" in page.inner_text("#scale-warning")
    page.screenshot(path=str(artifacts / "dashboard_compare_panels.png"), full_page=True)
