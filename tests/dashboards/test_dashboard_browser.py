"""Every page of a real campaign in headless Chromium (Debian's package, driven by
Playwright; no browser download). Screenshots go to test-artifacts/."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from chromium import needs_chromium

pytestmark = needs_chromium


def wait_until(pg: Any, expression: str, timeout_s: float = 15.0) -> None:
    """Poll a JS expression from outside the page: wait_for_function evaluates strings in the
    page, which the dashboard's CSP (no 'unsafe-eval') rightly refuses."""
    deadline = time.monotonic() + timeout_s
    while not pg.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {expression}")
        pg.wait_for_timeout(50)


def shot(pg: Any, artifacts: Path, name: str) -> None:
    pg.screenshot(path=str(artifacts / f"dashboard_{name}.png"), full_page=True)


def test_campaigns_page(page: Any, artifacts: Path) -> None:
    page.goto(page.base + "/")
    page.wait_for_selector("a.campaign-link")
    names = page.locator("a.campaign-link").all_inner_texts()
    assert "demo" in names and "xss" in names
    shot(page, artifacts, "campaigns")
    page.click("text=demo")
    page.wait_for_selector("#slot-best-eval svg")
    assert re.search(r"/campaigns/\d+$", page.url)


def test_campaign_page(page: Any, artifacts: Path, recorded: dict[str, Any]) -> None:
    page.goto(f"{page.base}/campaigns/{recorded['demo']}")
    page.wait_for_selector("main[data-ready]")
    for slot in ("best-eval", "best-time", "islands", "outcomes", "rate"):
        assert page.locator(f"#slot-{slot} svg").count() == 1, slot
    assert "has behaviour features, so there is no" in page.inner_text("#slot-grid")
    assert "Pareto front needs at least two" in page.inner_text("#slot-pareto")
    assert "No LLM calls" in page.inner_text("#slot-llm")
    assert page.inner_text("#page-info").endswith("of 40")
    page.click("#next-page")
    wait_until(page, "document.querySelector('#page-info').textContent.startsWith('26')")
    shot(page, artifacts, "campaign")


def test_campaign_with_features_and_objectives(page: Any, artifacts: Path) -> None:
    page.goto(page.base + "/campaigns/xss")
    page.wait_for_selector("main[data-ready]")
    assert page.locator("#slot-grid .heat div").count() == 100  # 10 x 10 cells
    assert page.locator("#slot-pareto svg circle").count() == 2
    assert "test-model" in page.inner_text("#slot-llm")
    shot(page, artifacts, "campaign_xss")


def test_lineage_click_through_to_program_and_diff(
    page: Any, artifacts: Path, recorded: dict[str, Any]
) -> None:
    page.goto(f"{page.base}/campaigns/{recorded['demo']}/lineage")
    wait_until(page, "!!window.evoforgeGraph")
    overview = page.evaluate("window.evoforgeGraph")
    assert overview["nodes"] == 40 and overview["focus"] == recorded["best"]
    shot(page, artifacts, "lineage_overview")
    # search for the best program: its neighbourhood loads as a subgraph
    page.fill("#search", str(recorded["best"]))
    page.click("#search-go")
    wait_until(
        page, f"!!window.evoforgeGraph && window.evoforgeGraph.program === '{recorded['best']}'"
    )
    assert "Program #" + str(recorded["best"]) in page.inner_text("#side")
    shot(page, artifacts, "lineage_neighbourhood")
    # tap a node through Cytoscape's API (the canvas has no DOM nodes), then follow the link
    page.evaluate("document.getElementById('open-program').click()")
    page.wait_for_selector("main[data-ready]")
    assert page.url.endswith(f"/programs/{recorded['best']}")
    assert "def" in page.inner_text("#code")
    assert page.locator("#code span.kw").count() > 0  # highlighted
    assert page.locator("#diffs .diff .add, #diffs .diff .del").count() > 0
    shot(page, artifacts, "program")
    page.click("text=open parent")
    page.wait_for_selector("main[data-ready]")
    assert "/programs/" in page.url and not page.url.endswith(f"/programs/{recorded['best']}")


def test_lineage_colour_key(page: Any, client: Any, recorded: dict[str, Any]) -> None:
    """Nodes are coloured by score (their rank among the shown ones), and the page did not
    say which colour was which score: a key over the graph gives the ramp, with the lowest,
    median and highest score shown; by island or outcome, the colour of each."""
    nodes = client.get(f"/api/campaigns/{recorded['demo']}/lineage").json()["nodes"]
    scores = sorted({n["score"] for n in nodes if n["correct"] and n["score"] is not None})
    page.goto(f"{page.base}/campaigns/{recorded['demo']}/lineage")
    wait_until(page, "!!window.evoforgeGraph")
    key = page.locator("#colour-key")
    assert f"by rank among the {len(scores)} scores shown" in key.inner_text()
    expect = page.evaluate(
        "(s) => [EF.num(s[0]), EF.num(s[Math.floor((s.length - 1) / 2)]), EF.num(s[s.length - 1])]",
        scores,
    )
    labels = key.locator("svg text").all_text_contents()
    assert labels == ["lowest " + expect[0], "median " + expect[1], "highest " + expect[2]]
    # the key's gradient runs through the very colours the nodes get (EF.ramp, 0 to 1)
    stops = key.locator("stop").evaluate_all("els => els.map((e) => e.getAttribute('stop-color'))")
    assert stops[0] == page.evaluate("EF.ramp(0)") and stops[-1] == page.evaluate("EF.ramp(1)")
    page.select_option("select[name=color]", "island")
    wait_until(page, "document.querySelector('#colour-key').textContent.includes('island 0')")
    assert page.locator("#colour-key svg").count() == 0
    page.select_option("select[name=color]", "outcome")
    wait_until(page, "document.querySelector('#colour-key').textContent.includes('outcome')")
    assert "ok" in page.inner_text("#colour-key")


def test_script_in_program_renders_as_text(
    page: Any, artifacts: Path, recorded: dict[str, Any]
) -> None:
    page.goto(f"{page.base}/programs/{recorded['xss']['child']}")
    page.wait_for_selector("main[data-ready]")
    code = page.inner_text("#code")
    assert "<script>alert(1)</script>" in code and "onerror=alert(1)>" in code
    assert "<script>alert(1)</script>" in page.inner_text("#feedback")
    assert "<script>alert(1)</script>" in page.inner_text("#diffs")
    assert "<script>alert(1)</script>" in page.inner_text(".llm-prompt")
    assert "held out: " in page.inner_text("#held-out")  # the check's text, as text too
    assert "<script>alert(1)</script>" in page.inner_text("#held-out")
    assert page.locator("main img").count() == 0  # the <img onerror> never became an element
    assert page.locator("main script").count() == 0
    assert page.evaluate("document.querySelectorAll('script:not([src])').length") == 0
    page.wait_for_timeout(300)
    shot(page, artifacts, "program_xss")
    # page fixture asserts: no dialog (alert) fired, no console error, nothing fetched outside


def test_code_card_shows_the_program_as_scored(page: Any, recorded: dict[str, Any]) -> None:
    """The xss child's evaluation recorded the program it scored (an EVALUATED_CODE
    artifact): the Code card shows that one first, the code as proposed a tab away."""
    page.goto(f"{page.base}/programs/{recorded['xss']['child']}")
    page.wait_for_selector("main[data-ready]")
    assert "return 2.0 * x" in page.inner_text("#code")  # as scored
    assert "<script>alert(1)</script>" in page.inner_text("#code")  # as text
    assert page.locator("#code-tab-scored.on").count() == 1
    assert not page.is_visible("#code-proposed")
    page.click("#code-tab-proposed")
    assert page.is_visible("#code-proposed") and not page.is_visible("#code")
    proposed = page.inner_text("#code-proposed")
    assert "return x" in proposed and "2.0" not in proposed
    assert page.locator("main img").count() == 0
    # a program whose evaluation scored its code as it is has one view, no tabs
    page.goto(f"{page.base}/programs/{recorded['xss']['parent']}")
    page.wait_for_selector("main[data-ready]")
    assert page.is_visible("#code") and page.locator("#code-tab-scored").count() == 0


def test_diff_against_a_parent_as_scored(page: Any, recorded: dict[str, Any]) -> None:
    """The "tuned" parent was scored with tuned constants: its child started from them,
    and its diff tab and note say that the diff is against the parent as scored."""
    t = recorded["tuned"]
    page.goto(f"{page.base}/programs/{t['child']}")
    page.wait_for_selector("main[data-ready]")
    tab = page.inner_text(f"#diff-tab-{t['parent']}")
    assert tab == f"parent #{t['parent']} as scored (+1 −0)"
    assert "Against the parent as scored" in page.inner_text("#diffs .diff-against")
    assert page.locator("#diffs .diff .del").count() == 0
    page.goto(f"{page.base}/programs/{t['edited']}")  # an LLM edit of the stored code
    page.wait_for_selector("main[data-ready]")
    assert page.inner_text(f"#diff-tab-{t['parent']}") == f"parent #{t['parent']} (+1 −1)"
    assert "Against the parent as proposed" in page.inner_text("#diffs .diff-against")


def test_heatmap_opens_on_the_declared_grid(page: Any, artifacts: Path) -> None:
    """The "tuned" campaign recorded its problem's axes: a count 0..5 (6 cells, one per
    value) by a share in 4 cells, with the coverage; bins chosen on the page win."""
    page.goto(page.base + "/campaigns/tuned")
    page.wait_for_selector("#grid-coverage")
    assert page.locator("#slot-grid .heat div").count() == 24
    assert page.inner_text("#grid-coverage").startswith("coverage: 3 of 24 cells")
    assert page.locator("#slot-grid .heat div[title^='calls = 3, share']").count() == 1
    shot(page, artifacts, "campaign_declared_grid")
    page.select_option("#slot-grid select[aria-label=bins]", "10")
    wait_until(page, "document.querySelectorAll('#slot-grid .heat div').length === 100")
    assert page.locator("#grid-coverage").count() == 0
    page.select_option("#slot-grid select[aria-label=bins]", "as declared")
    wait_until(page, "!!document.getElementById('grid-coverage')")
    assert page.locator("#slot-grid .heat div").count() == 24


def grid_ticks(pg: Any, axis: str) -> list[str]:
    return pg.locator(f"#slot-grid .heat-{axis}ticks .heat-tick").all_text_contents()


def test_heatmap_axes_are_named_and_ticked(page: Any, artifacts: Path) -> None:
    """The grid's cells had no ticks and its axes no names: which column held calls = 3, or
    which row a share of a half, was only in each cell's tooltip. Each axis now has its
    feature's name and ticks: an axis of a cell per value its values, under each cell;
    another its bin edges, from its low to its high end."""
    page.goto(page.base + "/campaigns/tuned")
    page.wait_for_selector("#grid-coverage")
    assert page.inner_text("#slot-grid .heat-xname") == "calls"
    assert page.inner_text("#slot-grid .heat-yname") == "share"
    assert grid_ticks(page, "x") == ["0", "1", "2", "3", "4", "5"]  # a cell per value
    assert grid_ticks(page, "y") == ["0", "0.25", "0.5", "0.75", "1"]  # 4 cells' edges
    # each value's label is under its own column, each edge's beside the line between rows
    cols = page.eval_on_selector_all(
        "#slot-grid .heat-xticks .heat-tick",
        "els => els.map((e) => { const r = e.getBoundingClientRect(); return (r.left + r.right) / 2; })",
    )
    cells = page.eval_on_selector_all(
        "#slot-grid .heat > div",
        "els => els.slice(0, 6).map((e) => { const r = e.getBoundingClientRect(); return [r.left, r.right]; })",
    )
    assert all(lo < x < hi for x, (lo, hi) in zip(cols, cells, strict=True)), (cols, cells)
    failed = page.locator("#slot-grid .heat div[title^='calls = 2']").get_attribute("title")
    assert failed == "calls = 2, share 0.250 … 0.500: no correct program, 1 program", failed
    shot(page, artifacts, "campaign_grid_axes")
    # binned on the page: edges from the observed low to high, thinned to fit
    page.select_option("#slot-grid select[aria-label=bins]", "40")
    wait_until(page, "document.querySelectorAll('#slot-grid .heat div').length === 1600")
    xs = grid_ticks(page, "x")
    assert xs[0] == "0" and xs[-1] == "5" and 3 <= len(xs) <= 12, xs
    assert [float(x) for x in xs] == sorted(float(x) for x in xs)
    ys = grid_ticks(page, "y")
    assert ys[0] == "0.1" and ys[-1] == "0.95" and len(ys) < 41, ys
    assert page.locator("#slot-grid .heat-key svg text").count() == 3  # the colour key
