"""Fixtures: a database with a recorded campaign (the real engine on examples/sine.py) and
synthetic edge cases, an in-process WSGI client, a live server on a free port, and a
headless Chromium page on it that fails the test on any page error, console error, dialog
or request outside the dashboard."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chromium import launched
from dash_client import Client
from dash_synthetic import tuned_campaign, xss_campaign

from dashboards.app import create_app
from dashboards.server import make_http_server
from db import open_storage
from db.storage import Storage

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture(scope="session")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A SQLite database holding the "demo" campaign recorded by the real engine (40
    evaluations of examples/sine.py on 2 workers), the synthetic "xss" campaign, the
    synthetic "tuned" one (a parent scored with tuned constants; declared axes) and
    "again", started from demo's best three programs (start_from)."""
    from evolve import api

    path = tmp_path_factory.mktemp("dash") / "evolve.db"
    url = f"sqlite:///{path}"
    api.run(
        str(REPO / "examples" / "sine.py"),
        {"max_evals": 40, "db": url, "workers": 2, "name": "demo"},
    )
    api.run(
        str(REPO / "examples" / "sine.py"),
        {"max_evals": 6, "db": url, "workers": 1, "name": "again"}
        | {"start_from": "demo", "start_from_top": 3},
    )
    storage = open_storage(url)
    try:
        ids = xss_campaign(storage)
        tuned = tuned_campaign(storage)
        demo = storage.get_campaign("demo")
        assert demo is not None
        best = storage.best_programs(demo.id, 1)[0]
        again = storage.get_campaign("again")
        assert again is not None
        imported = [p.id for p in storage.programs(again.id) if p.operator == "imported"]
    finally:
        storage.close()
    return {"url": url, "demo": demo.id, "best": best.id, "xss": ids, "tuned": tuned,
            "imported": imported}  # fmt: skip


@pytest.fixture
def storage(recorded: dict[str, Any]) -> Iterator[Storage]:
    s = open_storage(recorded["url"])
    yield s
    s.close()


@pytest.fixture
def client(storage: Storage) -> Client:
    return Client(create_app(storage))


@pytest.fixture(scope="session")
def live_server(recorded: dict[str, Any]) -> Iterator[str]:
    """The dashboard on 127.0.0.1 and a free port, served from a thread."""
    storage = open_storage(recorded["url"])
    httpd = make_http_server(create_app(storage), "127.0.0.1", 0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()
    storage.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launched() as b:
        yield b


@pytest.fixture
def page(browser: Any, live_server: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    problems: list[str] = []
    dialogs: list[str] = []
    pg.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    pg.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    # Nothing may be fetched from anywhere but the dashboard itself.
    outside: list[str] = []
    pg.route(
        re.compile(r"^(?!" + re.escape(live_server) + ").*"),
        lambda route: (outside.append(route.request.url), route.abort()),
    )
    pg.problems, pg.dialogs, pg.outside, pg.base = problems, dialogs, outside, live_server
    yield pg
    assert not outside, f"requests outside the dashboard: {outside}"
    assert not problems, problems
    assert not dialogs, f"a dialog fired: {dialogs}"
    context.close()
