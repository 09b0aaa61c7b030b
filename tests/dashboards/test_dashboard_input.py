"""Malformed input to the dashboard: an out-of-range --port, ids too large for SQLite and
bad query parameters each give one clear line (a CLI error, a 404 or a 400), never a
traceback or a raw Python exception text."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from dashboards import params
from dashboards.app import create_app
from dashboards.server import DashboardError, make_http_server, serve
from evolve import cli

STATIC = Path(__file__).resolve().parents[2] / "dashboards" / "static"
HUGE = "99999999999999999999999"


# -- item 6: --port out of range -------------------------------------------------------
@pytest.mark.parametrize("port", [70000, 65536, -1])
def test_port_out_of_range_is_one_line(recorded: dict[str, Any], storage: Any, port: int) -> None:
    message = f"--port must be 0..65535, got {port}"
    with pytest.raises(DashboardError) as err:
        make_http_server(create_app(storage), port=port)
    assert str(err.value) == message
    with pytest.raises(DashboardError) as err:
        serve(recorded["url"], port=port)
    assert str(err.value) == message


@pytest.mark.parametrize("port", ["70000", "-1"])
def test_cli_port_out_of_range(recorded: dict[str, Any], capsys: Any, port: str) -> None:
    rc = cli.main(["dashboard", "--db", recorded["url"], "--port", port])
    captured = capsys.readouterr()
    assert rc == 2 and captured.out == ""
    assert captured.err == f"evolve: error: --port must be 0..65535, got {port}\n"


# -- item 7: ids too large for SQLite --------------------------------------------------
@pytest.mark.parametrize(
    ("path", "error"),
    [
        (f"/api/programs/{HUGE}", f"no program {HUGE}"),
        (f"/api/programs/{HUGE}/diff", f"no program {HUGE}"),
        (f"/api/programs/{HUGE}/lineage", f"no program {HUGE}"),
        ("/api/programs/9223372036854775808", "no program 9223372036854775808"),
        ("/api/programs/9223372036854775807", "no program 9223372036854775807"),
        ("/api/programs/" + "9" * 5000, "no program " + "9" * 5000),
        (f"/api/campaigns/{HUGE}", f"no campaign '{HUGE}'"),
        (f"/api/campaigns/{HUGE}/series", f"no campaign '{HUGE}'"),
        (f"/api/campaigns/{HUGE}/grid", f"no campaign '{HUGE}'"),
        ("/api/campaigns/9223372036854775808/programs", "no campaign '9223372036854775808'"),
    ],
)
def test_huge_ids_are_not_found(client: Any, path: str, error: str) -> None:
    r = client.get(path)
    assert r.status == 404 and r.json() == {"error": error, "status": 404}


def test_record_id() -> None:
    assert params.record_id("42") == 42 and params.record_id("007") == 7
    assert params.record_id(str(params.INT64_MAX)) == params.INT64_MAX
    for text in (str(params.INT64_MAX + 1), HUGE, "9" * 5000, "", "-1", "1.5", "abc", "١٢"):
        assert params.record_id(text) is None, text
    assert params.record_id("0" * 30 + "5") == 5


def test_numeric_ids_still_found(client: Any, recorded: dict[str, Any]) -> None:
    assert client.get(f"/api/campaigns/{recorded['demo']}").json()["name"] == "demo"
    assert client.get(f"/api/programs/{recorded['best']}").status == 200


# -- item 12: query parameters ---------------------------------------------------------
BAD = [
    ("/api/campaigns/demo/lineage?max_nodes=abc", "max_nodes must be an integer, got 'abc'"),
    ("/api/campaigns/demo/lineage?max_nodes=0", "max_nodes must be an integer >= 1, got '0'"),
    ("/api/campaigns/demo/lineage?min_score=abc", "min_score must be a number, got 'abc'"),
    ("/api/campaigns/demo/programs?min_score=abc", "min_score must be a number, got 'abc'"),
    ("/api/campaigns/demo/programs?max_score=nan", "max_score must be a number, got 'nan'"),
    ("/api/campaigns/demo/programs?island=abc", "island must be an integer, got 'abc'"),
    ("/api/campaigns/demo/programs?island=-1", "island must be an integer >= 0, got '-1'"),
    ("/api/campaigns/demo/programs?limit=0", "limit must be an integer >= 1, got '0'"),
    ("/api/campaigns/demo/programs?limit=-1", "limit must be an integer >= 1, got '-1'"),
    ("/api/campaigns/demo/programs?limit=x", "limit must be an integer, got 'x'"),
    ("/api/campaigns/demo/programs?offset=-10", "offset must be an integer >= 0, got '-10'"),
    (
        "/api/campaigns/demo/programs?order=sideways",
        "order must be one of: asc, desc; got 'sideways'",
    ),
    (
        "/api/campaigns/demo/programs?sort=code",
        "sort must be one of: eval_seq, generation, id, island, score; got 'code'",
    ),
    ("/api/campaigns/demo/series?points=-1", "points must be an integer >= 10, got '-1'"),
    ("/api/campaigns/demo/series?points=0", "points must be an integer >= 10, got '0'"),
    ("/api/campaigns/demo/updates?since=-1", "since must be an integer >= 0, got '-1'"),
    ("/api/campaigns/xss/grid?bins=0", "bins must be an integer >= 1, got '0'"),
    ("/api/campaigns/xss/grid?bins=-5", "bins must be an integer >= 1, got '-5'"),
    ("/api/campaigns/xss/grid?bins=2.5", "bins must be an integer, got '2.5'"),
    ("/api/campaigns/xss/grid?x=width", "x must be one of: depth, length; got 'width'"),
    ("/api/campaigns/xss/grid?y=width", "y must be one of: depth, length; got 'width'"),
    ("/api/campaigns/xss/pareto?x_dir=up", "x_dir must be one of: max, min; got 'up'"),
    ("/api/campaigns/xss/pareto?y_dir=down", "y_dir must be one of: max, min; got 'down'"),
    (
        "/api/campaigns/xss/pareto?x=speed",
        "x must be one of: mse, size, depth, length; got 'speed'",
    ),
    (
        "/api/campaigns/xss/pareto?x=mse&y=speed",
        "y must be one of: mse, size, depth, length; got 'speed'",
    ),
    (
        "/api/campaigns/demo/grid?x=depth",
        "x must be one of: (none in this campaign); got 'depth'",
    ),
    ("/api/programs/1/lineage?depth=-1", "depth must be an integer >= 0, got '-1'"),
    ("/api/programs/1/lineage?down=abc", "down must be an integer, got 'abc'"),
    ("/api/programs/1/lineage?max_nodes=-3", "max_nodes must be an integer >= 1, got '-3'"),
    ("/api/programs/1/lineage?island=x", "island must be an integer, got 'x'"),
    ("/api/programs/2/diff?parent=abc", "parent must be an integer, got 'abc'"),
]


@pytest.mark.parametrize(("path", "error"), BAD)
def test_bad_query_parameters(client: Any, path: str, error: str) -> None:
    r = client.get(path)
    assert (r.status, r.json()) == (400, {"error": error, "status": 400})


def test_valid_parameters_unchanged(client: Any, recorded: dict[str, Any]) -> None:
    """Values above a cap are still capped, empty values are the defaults, and the valid
    choices give what they gave."""
    g = client.get("/api/campaigns/xss/grid?bins=500&x=length&y=depth").json()
    assert (g["x"]["name"], g["y"]["name"], g["x"]["bins"]) == ("length", "depth", 50)
    default = client.get("/api/campaigns/xss/grid").json()
    assert client.get("/api/campaigns/xss/grid?x=&y=&bins=").json() == default
    p = client.get("/api/campaigns/xss/pareto?x=size&y=mse&x_dir=min&y_dir=max").json()
    assert (p["x"], p["y"], p["x_dir"], p["y_dir"]) == ("size", "mse", "min", "max")
    assert client.get("/api/campaigns/xss/pareto?x_dir=&y_dir=").json()["x_dir"] == "max"
    page = client.get("/api/campaigns/demo/programs?limit=100000&sort=id&order=desc").json()
    assert page["limit"] == 500 and len(page["programs"]) == 40
    assert [r["id"] for r in page["programs"]] == sorted(
        (r["id"] for r in page["programs"]), reverse=True
    )
    assert client.get("/api/campaigns/demo/programs?island=1&min_score=-1e9").status == 200
    assert client.get("/api/campaigns/demo/programs?max_score=inf").json()["total"] > 0
    over = client.get("/api/campaigns/demo/lineage?max_nodes=100000").json()
    assert len(over["nodes"]) == 40  # capped at 2000: the whole campaign
    best = recorded["best"]
    deep = client.get(f"/api/programs/{best}/lineage?depth=500&down=0").json()
    assert deep == client.get(f"/api/programs/{best}/lineage?depth=50&down=0").json()
    assert client.get("/api/campaigns/demo/series?points=100000").status == 200


def test_parent_filter_of_a_diff(client: Any, recorded: dict[str, Any]) -> None:
    x = recorded["xss"]
    assert client.get(f"/api/programs/{x['child']}/diff?parent=999999").status == 404
    assert client.get(f"/api/programs/{x['child']}/diff?parent={HUGE}").status == 404
    one = client.get(f"/api/programs/{x['child']}/diff?parent={x['parent']}").json()["diffs"]
    assert [d["parent"] for d in one] == [x["parent"]]


# -- pages of missing objects ----------------------------------------------------------
@pytest.mark.parametrize(
    ("page", "api"),
    [
        ("/campaigns/nosuch", "/api/campaigns/nosuch"),
        ("/campaigns/nosuch/lineage", "/api/campaigns/nosuch"),
        ("/programs/999999", "/api/programs/999999"),
        (f"/programs/{HUGE}", f"/api/programs/{HUGE}"),
    ],
)
def test_missing_object_pages(client: Any, page: str, api: str) -> None:
    """The pages are static shells (200) that load their object from the API, which
    answers 404 with a message; the shared error display then shows "Not found"."""
    r = client.get(page)
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/html")
    assert client.get(api).status == 404


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node")
def test_show_error_says_not_found() -> None:
    """EF.showError (common.js) under node with a minimal DOM: a 404 shows "Not found",
    the API's message and a link back; another error shows "Could not load: ..."."""
    script = r"""
    class Node {}
    class El extends Node {
      constructor(tag) { super(); this.tag = tag; this.children = []; this.attrs = {}; this.textContent = ""; }
      appendChild(c) { this.children.push(c); return c; }
      removeChild(c) { this.children.splice(this.children.indexOf(c), 1); }
      get firstChild() { return this.children[0] || null; }
      setAttribute(k, v) { this.attrs[k] = v; }
      addEventListener() {}
      set className(v) { this.attrs.class = v; }
    }
    globalThis.Node = Node;
    globalThis.document = { title: "", createElement: (t) => new El(t),
      createTextNode: (t) => { const e = new El("#text"); e.textContent = t; return e; } };
    const fs = require("fs");
    eval(fs.readFileSync(process.argv[1], "utf8") + "; globalThis.EF = EF;");
    const text = (e) => e.textContent + e.children.map(text).join("");
    const main = new El("main");
    const err = new Error("no campaign 'nosuch'"); err.status = 404;
    EF.showError(main, err);
    console.log(JSON.stringify([document.title, main.children.map(text), main.children[2].children[0].attrs.href]));
    const other = new Error("boom"); other.status = 503;
    EF.showError(main, other);
    console.log(JSON.stringify(main.children.map(text)));
    """
    out = subprocess.run(
        ["node", "-e", script, str(STATIC / "common.js")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.splitlines()
    assert out[0] == (
        '["evoforge · not found",["Not found","no campaign \'nosuch\'","← all campaigns"],"/"]'
    )
    assert out[1] == '["Could not load: boom"]'
