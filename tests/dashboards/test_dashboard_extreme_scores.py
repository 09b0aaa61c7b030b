"""Scores and metrics near the largest float (a scorer that returns 1e308, or -1e308 for a
bad program): their differences overflow to infinity. The compare API answered 400 ("Out of
range float values are not JSON compliant") and every chart of such a campaign was drawn
at NaN coordinates (empty, a console error per point)."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator

import pytest
from chromium import launched, needs_chromium
from dash_client import Client
from dash_synthetic import _stage
from test_dashboard_user_audit import _program

from dashboards.app import create_app
from dashboards.server import make_http_server
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


@pytest.fixture(scope="module")
def base(url: str) -> Iterator[str]:
    storage = open_storage(url)
    app = create_app(storage)
    httpd = make_http_server(app, "127.0.0.1", 0)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()
    app.close()
    storage.close()


@needs_chromium
def test_charts_of_huge_scores(base: str) -> None:
    with launched() as browser:
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        problems: list[str] = []
        pg.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        pg.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        pg.goto(base + "/campaigns/huge")
        pg.wait_for_selector("main[data-ready]")
        pg.wait_for_selector("#slot-pareto svg")
        pg.wait_for_selector("#slot-rate svg")
        for slot in ("best-eval", "best-time", "islands", "pareto"):
            svg = pg.inner_html(f"#slot-{slot} svg")
            assert "NaN" not in svg and "Infinity" not in svg, slot
            assert pg.locator(f"#slot-{slot} svg circle").count() >= 1, slot
            ticks = pg.locator(f"#slot-{slot} svg text.ytick").all_text_contents()
            assert len(ticks) >= 2 and not any("NaN" in t or "Infinity" in t for t in ticks)
            clipped = pg.eval_on_selector_all(
                f"#slot-{slot} svg text.ytick",
                "els => els.filter(e => e.getBoundingClientRect().left"
                " < e.ownerSVGElement.getBoundingClientRect().left).map(e => e.textContent)",
            )
            assert not clipped, (slot, clipped)  # "-1.00e+308" was cut to ".00e+308"
        # an x tick at the right edge (a metric's largest value, 1e+308) read "1e+30"
        cut = pg.evaluate(
            """() => {
              const d = document.createElement("div");
              d.style.width = "420px";
              document.body.appendChild(d);
              Charts.line(d, [{ name: "m", points: [[0, 1], [1e308, 2]], color: "#000" }], {});
              const right = d.querySelector("svg").getBoundingClientRect().right;
              const out = [...d.querySelectorAll("text.xtick")]
                .filter((t) => t.getBoundingClientRect().right > right + 0.5).map((t) => t.textContent);
              d.remove();
              return out;
            }"""
        )
        assert not cut, cut
        colours = pg.eval_on_selector_all(
            "#slot-grid .heat div:not(.emptycell)", "els => els.map(e => e.style.backgroundColor)"
        )
        assert len(colours) == 5 and all(colours), colours
        # the grid's bin edges: (max - min) / bins and its multiples overflowed to Infinity
        for axis, (lo, hi) in {
            "x": ("-1.5e+308", "1.7e+308"),
            "y": ("-1.7e+308", "1.5e+308"),
        }.items():
            edges = pg.locator(f"#slot-grid .heat-{axis}ticks .heat-tick").all_text_contents()
            assert edges[0] == lo and edges[-1] == hi, edges
            assert all(math.isfinite(float(e)) for e in edges), edges
        assert "Infinity" not in pg.inner_html("#slot-grid") and "NaN" not in pg.inner_html(
            "#slot-grid"
        )
        # the lineage colour key: the scores at its ends, its labels apart
        pg.goto(base + "/campaigns/huge/lineage")
        pg.wait_for_selector("#colour-key svg")
        boxes = pg.eval_on_selector_all(
            "#colour-key svg text",
            "els => els.map((e) => { const r = e.getBoundingClientRect();"
            " return [e.textContent, r.left, r.right]; })",
        )
        assert [b[0] for b in boxes] == [
            "lowest -1.500e+308", "median 1.000e+308", "highest 1.700e+308"
        ]  # fmt: skip
        assert all(a[2] < b[1] for a, b in zip(boxes, boxes[1:], strict=False)), boxes
        pg.goto(base + "/compare?c=huge&c=huge2")
        pg.wait_for_selector("#slot-cmp-eval svg")
        assert "NaN" not in pg.inner_html("#slot-cmp-eval svg")
        assert "Out of range" not in pg.inner_text("main")
        assert not problems, problems[:5]
