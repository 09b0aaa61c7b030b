"""The direct reads (dashboards/direct.py): the campaign summary, program and
neighbourhood endpoints answer without loading the campaign's index, with the same answers
the index gives; the index loads in the background and can be stopped."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dash_client import Client
from dash_synthetic import _h, _stage

from dashboards import aggregate, direct, indexes, lineage, program
from dashboards.app import create_app
from dashboards.index import CampaignIndex, Stopped
from db import open_storage
from db.storage import Storage

N = 240


def _tangled(storage: Storage) -> dict[str, Any]:
    """N programs whose parents are near each other (neighbourhoods overlap and truncate),
    every edge kind (migration edges added after the fact), a program with many children,
    failures and pending programs; metric names that change over the campaign."""
    rng = random.Random(5)
    c = storage.create_campaign("tangled", "synthetic.tangled", {"max_evals": N}, seed=5)
    ids: list[int] = []
    for i in range(N):
        edges: list[tuple[int, str]] = []
        if ids:
            window = ids[-25:]
            parent = ids[1] if i % 7 == 0 and len(ids) > 1 else rng.choice(window)
            edges.append((parent, "parent"))
            other = rng.choice(window)
            r = rng.random()
            if other != parent and r < 0.3:
                edges.append((other, "second_parent"))
            elif other != parent and r < 0.5:
                edges.append((other, "inspiration"))
        p = storage.add_program(
            c.id,
            code=f"def f(x):\n    return x + {i}\n",
            genome=None,
            code_hash=_h(f"t{i}"),
            ast_hash="",
            generation=i // 10,
            island=i % 3,
            operator="initial" if not ids else rng.choice(("mutate", "crossover", "llm_diff")),
            edges=edges,
        )
        if i % 11 == 5 and len(ids) > 30:
            storage.add_edges(p.id, [(rng.choice(ids[-30:-10]), "migration")])
        ids.append(p.id)
        if i % 13 == 12:
            continue  # left pending
        outcome = "ok" if rng.random() < 0.8 else "error"
        metrics = {"acc": rng.random(), ("early" if i < N // 2 else "late"): 1.0}
        score = rng.random() if outcome == "ok" else None
        storage.record_evaluation(
            p.id, [_stage(score, outcome, metrics, {"len": float(i)})], worker="w", attempt=1
        )
    return {"campaign": c.id, "ids": ids}


@pytest.fixture(scope="module")
def tangled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    path: Path = tmp_path_factory.mktemp("direct") / "tangled.db"
    storage = open_storage(f"sqlite:///{path}")
    info = _tangled(storage)
    yield {"storage": storage, **info}
    storage.close()


def _graph(storage: Storage, cid: int) -> direct.DirectGraph:
    return direct.DirectGraph(storage, cid, direct.AncestryCache(storage))


def test_neighbourhood_reads_the_same_subgraph_as_the_index(tangled: dict[str, Any]) -> None:
    storage, cid, ids = tangled["storage"], tangled["campaign"], tangled["ids"]
    index = CampaignIndex(storage, cid).sync()
    shapes = [(3, 1, 300), (50, 0, 2000), (6, 2, 25), (0, 3, 10), (2, 10, 7), (50, 10, 1)]
    filters = [lineage.Filters(), lineage.Filters(operator="mutate", min_score=0.3)]
    checked = truncated = 0
    for pid in ids[::9] + [ids[1], ids[-1]]:
        for depth, down, max_nodes in shapes:
            for f in filters:
                want = lineage.neighbourhood(index, pid, depth, down, max_nodes, f)
                got = lineage.neighbourhood(_graph(storage, cid), pid, depth, down, max_nodes, f)
                assert got == want, (pid, depth, down, max_nodes, f)
                checked += 1
                truncated += want["truncated"]
    assert checked > 300 and truncated > 50  # the truncation order is exercised too
    big = lineage.neighbourhood(_graph(storage, cid), ids[1], 0, 2, 2000)
    kinds = {e["kind"] for e in big["edges"]}
    assert len(big["nodes"]) > 40 and {"parent", "second_parent"} <= kinds
    best = index.best()
    assert best is not None
    around = lineage.neighbourhood(_graph(storage, cid), best.id, 50, 0, 2000)
    assert [n["id"] for n in around["nodes"] if n["best"]] == [best.id]
    assert sum(n["best_ancestry"] for n in around["nodes"]) > 10


def test_program_detail_reads_the_same_as_the_index(tangled: dict[str, Any]) -> None:
    storage, cid, ids = tangled["storage"], tangled["campaign"], tangled["ids"]
    index = CampaignIndex(storage, cid).sync()
    kinds = set()
    for pid in ids:
        record = storage.get_program(pid)
        assert record is not None
        want = program.detail(storage, index, record)
        got = program.detail(storage, _graph(storage, cid), record)
        # "stale" is the clock against the campaign's age, not the graph source: the two
        # calls may fall either side of the grace period on a slow machine
        want["campaign"].pop("stale"), got["campaign"].pop("stale")
        assert got == want, pid
        kinds |= {p["kind"] for p in got["parents"]}
    assert kinds == {"parent", "second_parent", "inspiration", "migration"}
    assert program.detail(storage, _graph(storage, cid), storage.get_program(ids[1]))["children"]


def test_program_page_tests_membership_without_reading_the_ancestry(
    tangled: dict[str, Any], monkeypatch: Any
) -> None:
    """Cold, one program's page asks Storage.in_ancestry (a walk that stops once it reaches
    the program), only for a program with children through ancestry edges; once the best
    program's whole ancestry is cached, it asks nothing."""
    storage, cid, ids = tangled["storage"], tangled["campaign"], tangled["ids"]
    index = CampaignIndex(storage, cid).sync()
    best, whole = index.best(), index.best_ancestry()
    assert best is not None
    asked: list[int] = []
    real = storage.in_ancestry

    def in_ancestry(program_id: int, ancestor_id: int, **kw: Any) -> bool:
        asked.append(ancestor_id)
        return real(program_id, ancestor_id, **kw)

    def no_walk(*a: Any, **kw: Any) -> Any:
        raise AssertionError("the whole ancestry was read")

    monkeypatch.setattr(storage, "in_ancestry", in_ancestry)
    monkeypatch.setattr(storage, "ancestry", no_walk)
    lineal = {p for p, _, k in _edge_triples(index) if k != "inspiration"}
    for pid in ids:
        graph = _graph(storage, cid)
        assert graph.best_ancestry_of([pid]) == ({pid} & whole), pid
    assert set(asked) == {p for p in ids if p in lineal and p != best.id}
    assert len(asked) < len(ids) and whole & set(asked) and set(asked) - whole
    monkeypatch.setattr(storage, "ancestry", type(storage).ancestry.__get__(storage))
    cache = direct.AncestryCache(storage)
    assert cache.peek(cid, best.id) is None
    assert cache.get(cid, best.id) == whole and cache.peek(cid, best.id) == whole
    asked.clear()
    graph = direct.DirectGraph(storage, cid, cache)
    for pid in ids:
        assert graph.best_ancestry_of([pid]) == ({pid} & whole)
    assert asked == []  # answered from the cached ancestry
    assert cache.peek(cid, ids[0]) is None  # another best program: not cached


def _edge_triples(index: CampaignIndex) -> list[tuple[int, int, str]]:
    return [(p, c, k) for c, ups in index.parents_of.items() for p, k in ups]


def test_ancestry_cache_follows_the_best_program(tangled: dict[str, Any]) -> None:
    storage, cid, ids = tangled["storage"], tangled["campaign"], tangled["ids"]
    cache = direct.AncestryCache(storage)
    index = CampaignIndex(storage, cid).sync()
    best = index.best()
    assert best is not None
    whole = index.best_ancestry()
    mid = sorted(whole)[len(whole) // 2]
    upper = cache.get(cid, best.id, mid)
    assert upper == {i for i in whole if i >= mid} and 0 < len(upper) < len(whole)
    assert cache.get(cid, best.id, mid + 5) is upper  # reused for a higher bound
    assert cache.get(cid, best.id, 0) == whole  # a lower one reads again
    assert cache.get(cid, best.id, mid) == whole  # and is kept
    assert cache.get(cid, ids[0]) == {ids[0]}  # another best: read again


def test_cold_requests_do_not_load_the_index(tangled: dict[str, Any]) -> None:
    storage, cid, ids = tangled["storage"], tangled["campaign"], tangled["ids"]
    app = create_app(storage, background=False)
    client = Client(app)
    summary = client.get(f"/api/campaigns/{cid}").json()
    assert client.get(f"/api/programs/{ids[100]}").status == 200
    assert client.get(f"/api/programs/{ids[100]}/lineage?depth=4&down=2").status == 200
    assert client.get(f"/api/programs/{ids[100]}/diff").status == 200
    assert client.get("/api/campaigns").status == 200
    assert app.indexes.peek(cid) is None  # nothing loaded the campaign's index
    # the same answers as the index's
    index = CampaignIndex(storage, cid).sync()
    best = index.best()
    assert best is not None and summary["best_program"] == best.id
    assert summary["best_score"] == best.score
    assert summary["cursor"] == index.evaluated()[-1].eval_seq == summary["evaluated"]
    assert summary["programs"] == N and summary["pending"] == N // 13
    assert summary["islands"] == index.values("island") == [0, 1, 2]
    assert summary["operators"] == index.values("operator")
    assert summary["outcome_classes"] == index.values("outcome") == ["error", "ok"]
    assert summary["metrics"] == index.keys("metrics") == ["acc", "early", "late"]
    assert summary["features"] == index.keys("features") == ["len"]
    assert sum(summary["outcomes"].values()) == summary["evaluated"]
    # an aggregate view loads it
    assert client.get(f"/api/campaigns/{cid}/series").status == 200
    assert app.indexes.peek(cid) is not None
    # then the summary comes from the index: the same answer
    assert client.get(f"/api/campaigns/{cid}").json() == summary
    listed = client.get("/api/campaigns").json()["campaigns"]
    fresh = Client(create_app(storage, background=False)).get("/api/campaigns").json()
    assert listed == fresh["campaigns"]


def test_metric_names_are_sampled_until_the_index_is_loaded(
    tangled: dict[str, Any], monkeypatch: Any
) -> None:
    storage, cid = tangled["storage"], tangled["campaign"]
    monkeypatch.setattr(direct, "KEY_SAMPLE", 5)
    app = create_app(storage, background=False)
    client = Client(app)
    assert client.get(f"/api/campaigns/{cid}").json()["metrics"] == ["acc", "late"]
    client.get(f"/api/campaigns/{cid}/grid")  # loads the index: every evaluation's names
    assert client.get(f"/api/campaigns/{cid}").json()["metrics"] == ["acc", "early", "late"]


def test_index_loads_in_the_background_after_a_request(tangled: dict[str, Any]) -> None:
    storage, cid, ids = tangled["storage"], tangled["campaign"], tangled["ids"]
    app = create_app(storage)
    try:
        client = Client(app)
        assert client.get(f"/api/programs/{ids[7]}").status == 200
        assert app.indexes.wait(cid, timeout=60)
        index = app.indexes.peek(cid)
        assert index is not None and len(index.nodes) == N
    finally:
        app.close()
    assert app.indexes._worker is None or not app.indexes._worker.is_alive()
    app.indexes.prefetch(cid + 1)  # closed: nothing starts
    assert app.indexes._worker is None or not app.indexes._worker.is_alive()


def test_background_load_yields_to_direct_requests(
    tangled: dict[str, Any], monkeypatch: Any
) -> None:
    storage, cid = tangled["storage"], tangled["campaign"]
    monkeypatch.setattr(indexes, "BACKGROUND_PAGE", 10)
    monkeypatch.setattr(indexes, "MAX_YIELD_S", 0.05)
    app = create_app(storage)
    try:
        with app.indexes.direct():  # a direct request in flight: 24 pages, 50 ms pause each
            app.indexes.prefetch(cid)
            time.sleep(0.3)
            assert app.indexes.peek(cid) is None
        assert app.indexes.wait(cid, timeout=60)
    finally:
        app.close()


def test_a_stopped_load_leaves_the_index_unloaded(tangled: dict[str, Any]) -> None:
    storage, cid = tangled["storage"], tangled["campaign"]
    index = CampaignIndex(storage, cid)
    pages = []

    def stop_after_two() -> None:
        pages.append(len(index.nodes))
        if len(pages) == 2:
            raise Stopped

    with pytest.raises(Stopped):
        index.sync(page=50, pause=stop_after_two)
    assert pages == [50, 100] and not index.ready and index.nodes == [] and index.pos == {}
    index.sync(force=True)
    assert index.ready and len(index.nodes) == N and index.cursor == N - N // 13


def test_prefetch_queue_puts_requested_campaigns_next(tangled: dict[str, Any]) -> None:
    storage, cid = tangled["storage"], tangled["campaign"]
    app = create_app(storage)
    first = app.indexes._get(cid)
    first._lock.acquire()  # the worker blocks on the first campaign
    try:
        app.indexes.prefetch(cid)
        for other in (101, 102):
            app.indexes.prefetch(other, urgent=False)  # as `evolve dashboard` queues them
        app.indexes.prefetch(103)  # a page asks about 103: next
        assert app.indexes._queue == [cid, 103, 101, 102]
        app.indexes.prefetch(102)
        app.indexes.prefetch(101, urgent=False)  # queued already: stays
        assert app.indexes._queue == [cid, 102, 103, 101]
    finally:
        first._lock.release()
    try:
        for campaign_id in (cid, 101, 102, 103):  # unknown campaigns load empty
            assert app.indexes.wait(campaign_id, timeout=60)
        assert app.indexes._queue == []
    finally:
        app.close()


def test_partial_series_while_the_index_loads(tangled: dict[str, Any], monkeypatch: Any) -> None:
    """partial=1 (the page): while the index loads, the best score over evaluations comes
    from one SQL query, equal to the index's; without it, or once loaded, the full view."""
    storage, cid = tangled["storage"], tangled["campaign"]
    index = CampaignIndex(storage, cid).sync()
    full = aggregate.series(index, aggregate.MAX_POINTS)
    assert len(full["best_by_eval"]) > 3
    app = create_app(storage)
    loads: list[int] = []
    monkeypatch.setattr(app.indexes, "prefetch", lambda c, urgent=True: loads.append(c))
    try:
        client = Client(app)
        for points in (aggregate.MAX_POINTS, 10):
            got = client.get(f"/api/campaigns/{cid}/series?partial=1&points={points}").json()
            want = aggregate.series(index, points)
            assert got == {
                "partial": True,
                "evaluations": want["evaluations"],
                "best_by_eval": want["best_by_eval"],
            }
        assert app.indexes.peek(cid) is None and loads == [cid, cid]  # loading it is asked
        assert direct.series(storage, cid, 2000)["best_by_eval"][-1][0] == full["evaluations"]
        whole = client.get(f"/api/campaigns/{cid}/series").json()  # waits for the index
        assert "partial" not in whole and whole == full
        assert client.get(f"/api/campaigns/{cid}/series?partial=1").json() == full  # loaded
    finally:
        app.close()
    empty = storage.create_campaign("no-evals-yet", "p", {}, 1).id
    assert direct.series(storage, empty, 100) == {
        "partial": True,
        "evaluations": 0,
        "best_by_eval": [],
    }
    assert aggregate.series(CampaignIndex(storage, empty).sync())["best_by_eval"] == []


def test_equal_scores_go_to_fewer_ops_in_the_index_and_the_direct_reads(tmp_path) -> None:
    """The dashboard's best is `evolve best`'s: of equal scores, the problem's other
    objectives (AutoNumerics: fewer operations) decide, then the lower id."""
    storage = open_storage(f"sqlite:///{tmp_path / 'ties.db'}")
    try:
        c = storage.create_campaign("ties", "synthetic.ties", {}, seed=1)
        storage.add_event(c.id, "started", {"objectives": [["error", "min"], ["ops", "min"]]})
        ids = []
        for i, ops in enumerate((14.0, 9.0, 12.0)):
            p = storage.add_program(c.id, code=f"# {i}", genome=None, code_hash=_h(f"e{i}"),
                                    ast_hash="", generation=0, island=0, operator="initial")  # fmt: skip
            storage.record_evaluation(p.id, [_stage(0.5, "ok", {"ops": ops, "error": 0.1}, {})],
                                      worker="w", attempt=1)  # fmt: skip
            ids.append(p.id)
        index = CampaignIndex(storage, c.id).sync()
        assert index.best().id == ids[1]
        assert _graph(storage, c.id).best().id == ids[1]
        record = storage.get_campaign("ties")
        assert direct.summary(storage, record)["best_program"] == ids[1]
    finally:
        storage.close()
