"""The user audit's findings in the pages themselves (headless Chromium, as
test_dashboard_browser.py): the campaigns of test_dashboard_user_audit.build() served by a
live server on a free port."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from chromium import launched, needs_chromium
from dash_synthetic import _stage
from test_dashboard_user_audit import _program, build

from dashboards.app import create_app
from dashboards.server import make_http_server
from db import open_storage

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('audit_browser') / 'audit.db'}"
    storage = open_storage(url)
    ids = build(storage)
    app = create_app(storage)
    httpd = make_http_server(app, "127.0.0.1", 0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield {"base": f"http://127.0.0.1:{httpd.server_port}", "url": url, **ids}
    httpd.shutdown()
    httpd.server_close()
    app.close()
    storage.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launched() as b:
        yield b


@pytest.fixture
def page(browser: Any, site: dict[str, Any]) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    problems: list[str] = []
    pg.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    # a 404 answer is logged by the browser itself: the page's own message is what counts
    pg.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if m.type == "error" and "the server responded with a status of 404" not in m.text
            else None
        ),
    )
    pg.base = site["base"]
    yield pg
    assert not problems, problems
    context.close()


def wait_until(pg: Any, expression: str, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not pg.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {expression}")
        pg.wait_for_timeout(50)


def ticks(pg: Any, slot: str, axis: str) -> list[str]:
    """A chart's tick labels: y ticks are right-aligned, x ticks centred; the x axis title,
    right-aligned too, comes last."""
    anchor = "end" if axis == "y" else "middle"
    texts = pg.locator(f'#slot-{slot} svg text[text-anchor="{anchor}"]').all_text_contents()
    return texts[:-1] if axis == "y" else texts


def test_campaigns_page_shows_killed_and_why_ended(page: Any) -> None:
    page.goto(page.base + "/")
    page.wait_for_selector("a.campaign-link")
    rows = {
        r.locator("a.campaign-link").inner_text(): r.inner_text()
        for r in page.locator("tbody tr").all()
    }
    assert "interrupted?" in rows["killed"] and "running" not in rows["killed"]
    assert "running" in rows["live"] and "interrupted?" not in rows["live"]
    assert "its initial program failed" in rows["failed"]
    assert "budget" not in rows["outliers"]  # the usual end is not spelled out in the list
    badge = page.locator("tbody tr", has_text="killed").locator(".badge")
    assert "evolve resume killed" in badge.get_attribute("title")
    assert page.locator("#live").is_hidden()  # no campaign is live: not polled as live


def test_killed_campaign_page_says_so(page: Any) -> None:
    page.goto(page.base + "/campaigns/killed")
    page.wait_for_selector("main[data-ready]")
    assert page.inner_text("#summary h1 .badge") == "interrupted?"
    assert "evolve resume killed" in page.inner_text("#stale-note")
    assert page.locator("#end-reason").count() == 0


def test_failed_campaign_page(page: Any) -> None:
    """The campaign of one failed program: why it ended, no "yet" for what will not come,
    and a one-evaluation time axis that does not start at minus one second."""
    page.goto(page.base + "/campaigns/failed")
    page.wait_for_selector("main[data-ready]")
    assert page.inner_text("#end-reason") == "ended because\nits initial program failed"
    assert page.inner_text("#slot-best-eval") == "No correct evaluation."
    labels = ticks(page, "rate", "x")
    assert labels and not any(t.startswith("-") for t in labels), labels
    assert labels[0] == "0 s", labels  # not "0.0 ms"
    assert page.inner_text("#slot-rate p").endswith("over 1 evaluation")
    counts = ticks(page, "outcomes", "y")
    assert counts and all(re.fullmatch(r"\d+", t) for t in counts), counts  # whole counts
    assert page.locator("#stale-note").count() == 0


def test_best_score_chart_is_not_flattened_by_outliers(page: Any) -> None:
    """A few programs 30 times worse than the rest (binpack's worst fit) set the y axis of
    the best-score charts, so the progress of the best score was a flat line at the top."""
    page.goto(page.base + "/campaigns/outliers")
    page.wait_for_selector("main[data-ready]")
    wait_until(page, "document.querySelectorAll('#slot-islands svg').length === 1")
    for slot in ("best-eval", "islands"):
        ys = [float(t) for t in ticks(page, slot, "y")]
        assert ys and min(ys) > -10, (slot, ys)  # not down to -146
        assert re.search(r"below -\d", page.inner_text(f"#slot-{slot} .below-note"))
        xs = ticks(page, slot, "x")
        assert all(re.fullmatch(r"\d+", t) for t in xs), xs  # evaluations are whole numbers
    note = page.inner_text("#slot-best-eval .below-note")
    assert note.startswith("3 points below") and "-146.4" in note
    assert page.locator("#slot-best-eval circle.below").count() == 3
    assert "declares no objectives" in page.inner_text("#pareto-guessed")
    # the LLM card says how the calls ended, not only what they cost
    assert page.inner_text("#llm-outcomes") == "outcomes: ok 1 · search_not_found 1"


def test_program_page_of_an_initial_program(page: Any, site: dict[str, Any]) -> None:
    page.goto(f"{page.base}/programs/{site['failed']['program']}")
    page.wait_for_selector("main[data-ready]")
    assert page.inner_text("#no-llm") == "An initial program: no LLM call made it."
    cell = page.locator("#evaluations .stage-feedback")
    assert cell.inner_text().endswith(" …")  # one line of the traceback
    assert cell.get_attribute("title").endswith("...")  # the whole of it on hover
    page.goto(f"{page.base}/programs/{site['outliers']['best']}")
    page.wait_for_selector("main[data-ready]")
    assert page.inner_text("#no-llm") == "Made by ast_mutate: no LLM call."


def test_pending_program_of_a_killed_campaign(page: Any, site: dict[str, Any]) -> None:
    page.goto(f"{page.base}/programs/{site['killed']['pending']}")
    page.wait_for_selector("main[data-ready]")
    assert "`evolve resume killed` evaluates it" in page.inner_text("#not-evaluated")
    assert "No children." in page.inner_text("main") and "yet" not in page.inner_text("main")
    wait_until(page, "!document.querySelector('#live').hidden", timeout_s=8)  # first poll
    assert page.inner_text("#live") == "interrupted?"  # still polled, but not "live"


def test_lineage_of_a_program_of_another_campaign(page: Any, site: dict[str, Any]) -> None:
    pid = site["failed"]["program"]
    page.goto(f"{page.base}/campaigns/outliers/lineage?program={pid}")
    loaded = "(document.querySelector('#graph-status') || {textContent: ''}).textContent"
    wait_until(page, f"{loaded}.length > 0 && !{loaded}.includes('loading')")
    status = page.inner_text("#graph-status")
    assert "is not in campaign 'outliers' but in 'failed'" in status, status
    # the way there is a link, not a path to copy into the address bar
    href = page.locator("#graph-status a").get_attribute("href")
    assert href == f"/campaigns/{site['failed']['campaign']}/lineage?program={pid}"
    # a program "id" that is none: said so, not "no API route /api/programs/abc/lineage"
    page.goto(f"{page.base}/campaigns/outliers/lineage?program=abc")
    wait_until(page, f"{loaded}.length > 0 && !{loaded}.includes('loading')")
    status = page.inner_text("#graph-status")
    assert status == "Could not load: no program abc (a program id is a number)", status
    page.goto(f"{page.base}/campaigns/failed/lineage")
    wait_until(page, "!!window.evoforgeGraph")
    assert page.inner_text("#graph-count") == "1 program, 0 edges"


def test_lineage_counts_every_new_evaluation_since_it_was_drawn(
    page: Any, site: dict[str, Any]
) -> None:
    """The lineage page of a running campaign offers to refresh its graph: the number it
    gave was what the last poll found, not everything since the graph was drawn."""
    campaign, first = site["live"]["campaign"], site["live"]["program"]
    page.goto(f"{page.base}/campaigns/live/lineage")
    wait_until(page, "!!window.evoforgeGraph")
    writer = open_storage(site["url"])
    try:

        def add(n: int, start: int) -> None:
            for i in range(start, start + n):
                pid = _program(writer, campaign, i, first)
                writer.record_evaluation(pid, [_stage(-4.5, "ok", {}, {})], worker="w", attempt=1)

        add(2, 1)
        wait_until(page, "document.querySelector('#graph-status').textContent.includes('new')")
        assert page.inner_text("#graph-status").startswith("2 new evaluations")
        add(3, 3)
        wait_until(page, "document.querySelector('#graph-status').textContent.startsWith('5 ')")
        page.click("text=refresh the graph")
        wait_until(page, "!!window.evoforgeGraph && window.evoforgeGraph.nodes === 6")
        assert page.inner_text("#graph-status") == ""
        add(1, 6)
        wait_until(page, "document.querySelector('#graph-status').textContent.includes('new')")
        assert page.inner_text("#graph-status").startswith("1 new evaluation:")
    finally:
        writer.close()


def test_time_axis_ticks_are_whole_minutes(page: Any) -> None:
    """A campaign of eight minutes had its time axis ticked every 100 s, read as
    "100.0 s, 3.3 min, 5.0 min, 6.7 min": 3.3 min is no time anyone would pick."""
    page.goto(page.base + "/campaigns/outliers")
    page.wait_for_selector("main[data-ready]")
    labels = page.evaluate(
        """() => {
          const d = document.createElement("div");
          Charts.line(d, [{ name: "best", points: [[0, 1], [500, 2]], color: "#000", step: true }],
            { xFormat: EF.sinceStart, xTime: true, xMin: 0 });
          return [...d.querySelectorAll("text.xtick")].map((t) => t.textContent);
        }"""
    )
    assert labels == ["0 s", "2 min", "4 min", "6 min", "8 min"], labels
    rate = ticks(page, "rate", "x")  # the real chart: a time axis as well
    assert rate and rate[0] == "0 s" and not any(".0 " in t for t in rate), rate
