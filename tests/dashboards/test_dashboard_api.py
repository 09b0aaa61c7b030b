"""The JSON API in-process against SQLite storage holding a campaign recorded by the engine."""

from __future__ import annotations

from typing import Any

import pytest

from dashboards.app import CSP, create_app
from dashboards.program import diff, highlight
from db.storage import Storage


def test_campaigns_list(client: Any, recorded: dict[str, Any]) -> None:
    rows = {r["name"]: r for r in client.get("/api/campaigns").json()["campaigns"]}
    demo = rows["demo"]
    assert demo["status"] == "finished" and demo["evaluated"] == 40 and demo["budget"] == 40
    assert demo["best_program"] == recorded["best"] and demo["best_score"] is not None
    assert demo["problem"].endswith("sine.py") and demo["created_at"] and demo["finished_at"]
    assert demo["spend_usd"] == 0 and rows["xss"]["spend_usd"] == pytest.approx(0.002)


def test_campaign_by_id_and_name(client: Any, recorded: dict[str, Any]) -> None:
    by_id = client.get(f"/api/campaigns/{recorded['demo']}").json()
    by_name = client.get("/api/campaigns/demo").json()
    assert by_id["id"] == by_name["id"] == recorded["demo"]
    assert by_id["metrics"] == ["mse"] and by_id["features"] == []
    assert "ast_mutate" in by_id["operators"] and by_id["islands"] == [0, 1, 2, 3]
    assert by_id["cursor"] == 40


def test_series_are_monotone_and_bounded(client: Any) -> None:
    s = client.get("/api/campaigns/demo/series").json()
    best = [y for _, y in s["best_by_eval"]]
    assert best == sorted(best) and len(best) <= 2000
    assert s["best_by_eval"][-1][0] == 40
    assert set(s["per_island"]) == {"0", "1", "2", "3"}
    assert sum(sum(v) for v in s["outcomes"].values()) == 40
    assert s["mean_rate"] > 0 and len(s["rate"]) == len(s["buckets"])
    small = client.get("/api/campaigns/demo/series?points=10").json()
    assert len(small["scores"]) <= 10


def test_grid_and_pareto(client: Any, recorded: dict[str, Any]) -> None:
    assert client.get("/api/campaigns/demo/grid").json()["cells"] == []  # sine has no features
    assert client.get("/api/campaigns/demo/pareto").json()["front"] == []  # one metric
    g = client.get("/api/campaigns/xss/grid?bins=4").json()
    assert g["x"]["name"] == "depth" and g["y"]["name"] == "length"
    assert sum(c["count"] for c in g["cells"]) == 2
    p = client.get("/api/campaigns/xss/pareto?x=mse&y=size&x_dir=min&y_dir=min").json()
    assert (p["x"], p["y"], p["x_dir"], p["y_dir"]) == ("mse", "size", "min", "min")
    assert len(p["front"]) == 2  # (1.0, 3) and (0.5, 6) do not dominate each other
    p = client.get("/api/campaigns/xss/pareto?x=mse&y=size&x_dir=min&y_dir=max").json()
    assert [pt[2] for pt in p["front"]] == [
        recorded["xss"]["child"]
    ]  # lower mse and larger size: dominates


def test_llm_spend(client: Any) -> None:
    empty = client.get("/api/campaigns/demo/llm").json()
    assert empty["total"]["calls"] == 0 and empty["by_model"] == {}
    spend = client.get("/api/campaigns/xss/llm").json()
    assert spend["by_model"]["test-model"]["prompt_tokens"] == 120
    assert spend["by_operator"]["llm_diff"]["calls"] == 1


def test_programs_pagination_sort_filter(client: Any) -> None:
    page1 = client.get("/api/campaigns/demo/programs?limit=15&sort=id&order=asc").json()
    page3 = client.get("/api/campaigns/demo/programs?limit=15&offset=30&sort=id").json()
    assert page1["total"] == 40 and len(page1["programs"]) == 15 and len(page3["programs"]) == 10
    assert [p["id"] for p in page1["programs"]] == sorted(p["id"] for p in page1["programs"])
    by_score = client.get("/api/campaigns/demo/programs?sort=score&limit=500").json()["programs"]
    scores = [p["score"] for p in by_score if p["score"] is not None]
    assert scores == sorted(scores, reverse=True)
    missing = [p["score"] is None for p in by_score]
    assert missing == sorted(missing)  # failed evaluations (no score) sort last
    errors = client.get("/api/campaigns/demo/programs?outcome=error").json()
    assert errors["total"] == sum(1 for p in by_score if p["outcome"] == "error")
    island = client.get("/api/campaigns/demo/programs?island=2&limit=500").json()["programs"]
    assert island and {p["island"] for p in island} == {2}
    assert client.get("/api/campaigns/demo/programs?sort=code").status == 400
    assert client.get("/api/campaigns/demo/programs?limit=x").status == 400


def test_updates_cursor(client: Any) -> None:
    u = client.get("/api/campaigns/demo/updates?since=35").json()
    assert u["cursor"] == 40 and u["new"] == 5
    assert [p["eval_seq"] for p in u["programs"]] == [40, 39, 38, 37, 36]
    assert client.get("/api/campaigns/demo/updates?since=40").json()["new"] == 0


def test_live_updates_follow_new_writes(tmp_path: Any) -> None:
    """The index picks up programs written after the app started (a running campaign)."""
    import time

    from dash_client import Client
    from dash_synthetic import _h, _stage

    from db import open_storage

    s = open_storage(f"sqlite:///{tmp_path / 'live.db'}")
    c = s.create_campaign("live", "p", {}, seed=0)
    client = Client(create_app(s))
    assert client.get("/api/campaigns/live/updates").json()["cursor"] == 0
    p = s.add_program(
        c.id,
        code="x=1\n",
        genome=None,
        code_hash=_h("1"),
        ast_hash="",
        generation=0,
        island=0,
        operator="initial",
    )
    time.sleep(0.6)
    assert client.get("/api/campaigns/live/updates").json()["counts"]["pending"] == 1
    s.record_evaluation(p.id, [_stage(1.0, "ok", {}, {})], worker="w", attempt=1)
    time.sleep(0.6)
    u = client.get("/api/campaigns/live/updates?since=0").json()
    assert u["cursor"] == 1 and u["programs"][0]["id"] == p.id
    assert client.get("/api/campaigns/live").json()["best_program"] == p.id
    s.close()


def test_program_detail(client: Any, recorded: dict[str, Any]) -> None:
    best = recorded["best"]
    p = client.get(f"/api/programs/{best}").json()
    assert p["is_best"] and p["in_best_ancestry"] and p["campaign"]["name"] == "demo"
    assert "".join(text for _, text in p["tokens"]) == p["code"]
    assert ["kw", "def"] in p["tokens"]
    assert p["evaluations"] and {"stage", "outcome", "duration_s", "worker", "isolation"} <= set(
        p["evaluations"][0]
    )
    assert p["parents"] and all(q["kind"] in ("parent", "second_parent") for q in p["parents"])
    parent = client.get(f"/api/programs/{p['parents'][0]['id']}").json()
    assert best in [c["id"] for c in parent["children"]]
    assert p["llm_calls"] == []
    assert p["held_out"] is None  # examples/sine.py has no held-out stages


def test_program_detail_carries_its_held_out_check(client: Any, recorded: dict[str, Any]) -> None:
    child = client.get(f"/api/programs/{recorded['xss']['child']}").json()
    assert child["held_out"]["score"] == -0.6 and child["held_out"]["detail"].startswith(
        "held out: "
    )
    assert client.get(f"/api/programs/{recorded['xss']['parent']}").json()["held_out"] is None


def test_diff_endpoint(client: Any, recorded: dict[str, Any]) -> None:
    x = recorded["xss"]
    d = client.get(f"/api/programs/{x['child']}/diff").json()["diffs"]
    assert len(d) == 1 and d[0]["parent"] == x["parent"] and d[0]["kind"] == "parent"
    assert ["add", '    s = "<script>alert(1)</script>"'] in d[0]["lines"]
    assert d[0]["added"] >= 1 and d[0]["removed"] >= 0
    one = client.get(f"/api/programs/{x['child']}/diff?parent={x['parent']}").json()["diffs"]
    assert one == d
    assert client.get(f"/api/programs/{x['child']}/diff?parent=999999").status == 404
    assert client.get(f"/api/programs/{x['parent']}/diff").json()["diffs"] == []


def test_lineage_subgraphs(client: Any, recorded: dict[str, Any]) -> None:
    best = recorded["best"]
    g = client.get(f"/api/programs/{best}/lineage?depth=50&down=0").json()
    ids = {n["id"] for n in g["nodes"]}
    assert g["focus"] == best and 1 in ids  # every ancestor back to the initial program
    assert all(n["best_ancestry"] for n in g["nodes"])
    assert all(e["source"] in ids and e["target"] in ids for e in g["edges"])
    assert {e["kind"] for e in g["edges"]} <= {
        "parent",
        "second_parent",
        "inspiration",
        "migration",
    }
    # the 2-worker demo campaign is not deterministic: cut its neighbourhood one node short
    whole = client.get(f"/api/programs/{best}/lineage?depth=50&max_nodes=500").json()
    assert not whole["truncated"] and len(whole["nodes"]) >= 2
    cut = len(whole["nodes"]) - 1
    small = client.get(f"/api/programs/{best}/lineage?depth=50&max_nodes={cut}").json()
    assert len(small["nodes"]) == cut and small["truncated"]
    root = client.get("/api/programs/1/lineage?depth=0&down=1").json()
    assert len(root["nodes"]) > 1 and all(n["distance"] >= 0 for n in root["nodes"])
    over = client.get("/api/campaigns/demo/lineage?max_nodes=10").json()
    assert len(over["nodes"]) == 10 and best in {n["id"] for n in over["nodes"]}
    f = client.get("/api/campaigns/demo/lineage?operator=ast_crossover").json()
    assert any(n["match"] for n in f["nodes"])
    assert all(n["operator"] == "ast_crossover" or n["best_ancestry"] for n in f["nodes"])
    assert client.get("/api/campaigns/demo/lineage?min_score=abc").status == 400


@pytest.mark.parametrize(
    "path",
    [
        "/api/campaigns/nope",
        "/api/campaigns/999",
        "/api/programs/999999",
        "/api/programs/999999/diff",
        "/api/programs/999999/lineage",
        "/api/nothing",
        "/nothing",
        "/static/nothing.js",
        "/static/../app.py",
        "/static/%2e%2e/app.py",
        "/static/..%2fapp.py",
        "/static//etc/passwd",
        "/static/vendor/../../app.py",
    ],
)
def test_not_found_and_no_traversal(client: Any, path: str) -> None:
    r = client.get(path)
    assert r.status == 404
    assert b"import" not in r.body


def test_pages_and_headers(client: Any) -> None:
    for path in ("/", "/campaigns/1", "/campaigns/demo/lineage", "/programs/3"):
        r = client.get(path)
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/html")
        assert r.headers["Content-Security-Policy"] == CSP
        assert b"<script>" not in r.body  # no inline script: every script has a src
    assert "'unsafe-inline'" not in CSP and "script-src 'self'" in CSP
    js = client.get("/static/vendor/cytoscape.min.js")
    assert js.status == 200 and js.headers["Content-Type"].startswith("text/javascript")
    api = client.get("/api/campaigns")
    assert api.headers["X-Content-Type-Options"] == "nosniff"
    assert api.headers["Cache-Control"] == "no-store"
    assert client.get("/api/campaigns", method="POST").status == 405
    assert client.get("/favicon.ico").status == 200


def test_token_required_everywhere(storage: Storage) -> None:
    from dash_client import Client

    client = Client(create_app(storage, token="s3cret"))
    for path in ("/", "/api/campaigns", "/static/common.js", "/programs/1"):
        assert client.get(path).status == 401
    assert client.get("/api/campaigns?token=wrong").status == 401
    assert client.get("/api/campaigns", {"Authorization": "Bearer s3cret"}).status == 200
    assert client.get("/api/campaigns", {"X-Evolve-Token": "s3cret"}).status == 200
    assert client.get("/api/campaigns", {"Authorization": "Bearer nope"}).status == 401
    first = client.get("/campaigns/1?token=s3cret&x=1")
    assert first.status == 303 and first.headers["Location"] == "/campaigns/1?x=1"
    cookie = first.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    jar = cookie.split(";")[0]
    assert client.get("/api/campaigns", {"Cookie": jar}).status == 200
    assert client.get("/api/campaigns", {"Cookie": "evolve_token=nope"}).status == 401


def test_host_header_checked_without_token(storage: Storage) -> None:
    from dash_client import Client

    app = create_app(storage, allowed_hosts={"127.0.0.1", "localhost"})
    assert Client(app, host="127.0.0.1:8080").get("/api/campaigns").status == 200
    assert Client(app, host="localhost").get("/api/campaigns").status == 200
    assert Client(app, host="evil.example:8080").get("/api/campaigns").status == 403


def test_highlight_round_trips_anything() -> None:
    for code in [
        "def f(x):\n    return 'a' # c\n",
        "x = (1,\n",
        "\tbad indent\n  x",
        "",
        'f"{x}"\n',
    ]:
        assert "".join(t for _, t in highlight(code)) == code
    assert diff("a\nb\n", "a\nc\n")["lines"] == [
        ["hunk", "@@ -1,2 +1,2 @@"],
        ["ctx", "a"],
        ["del", "b"],
        ["add", "c"],
    ]
    assert diff("x" * 150_000, "y" * 150_000)["too_large"]


def test_pareto_defaults_to_the_problems_objectives(tmp_path) -> None:
    """A multi-objective problem declares its objectives (AutoNumerics: log10_error and ops,
    both minimised); the campaign's "started" event keeps them, and the Pareto view opens
    on them in their senses instead of on the first two metric names (c0, c1: constants)."""
    from dash_client import Client
    from dash_synthetic import _h, _stage

    from db import open_storage

    storage = open_storage(f"sqlite:///{tmp_path / 'moo.db'}")
    c = storage.create_campaign("moo", "synthetic.moo", {"max_evals": 3}, seed=0)
    storage.add_event(c.id, "started", {"config": {}, "objectives": [["log10_error", "min"], ["ops", "min"]]})  # fmt: skip
    ids = []
    for i, (err, ops) in enumerate([(-3.0, 2.0), (-6.0, 5.0), (-5.0, 6.0)]):
        p = storage.add_program(c.id, code=f"x = {i}\n", genome=None, code_hash=_h(str(i)),
                                ast_hash=_h(f"a{i}"), generation=0, island=0, operator="initial")  # fmt: skip
        metrics = {"c0": float(i), "c1": -float(i), "log10_error": err, "ops": ops}
        storage.record_evaluation(p.id, [_stage(-err, "ok", metrics, {})], worker="w", attempt=1)
        ids.append(p.id)
    client = Client(create_app(storage))
    p = client.get("/api/campaigns/moo/pareto").json()
    assert (p["x"], p["y"], p["x_dir"], p["y_dir"]) == ("log10_error", "ops", "min", "min")
    assert sorted(pt[2] for pt in p["front"]) == ids[:2]  # (-5, 6) is dominated by (-6, 5)
    # asked for: as before
    p = client.get("/api/campaigns/moo/pareto?x=c0&y=c1&x_dir=max").json()
    assert (p["x"], p["y"], p["x_dir"], p["y_dir"]) == ("c0", "c1", "max", "max")
    storage.close()
