"""Dashboard API latency on a 100,000-program campaign in SQLite (issue 8's scale target).

Builds a synthetic campaign in a SQLite file with plain SQLAlchemy Core bulk inserts (the
schema is created by open_storage; programs, lineage edges with crossover, inspiration and
migration, one or two evaluation stages per program, metrics, features, LLM calls), then
measures, in one run and in-process through the WSGI app (as tests/dashboards do):

  - `SELECT count(*) FROM programs` on the same database: the baseline;
  - the campaigns list, campaign (/api/campaigns/<c>), lineage-neighbourhood
    (/api/programs/<id>/lineage) and program (/api/programs/<id>) endpoints, answered from
    the database directly;
  - the series and grid views, answered from the campaign's in-memory index;
  - the compare view (/api/compare) of 4 campaigns of 20,000 evaluations, in a second file;

cold (first request on a freshly created app and Storage; for the aggregate views that
includes loading the index), during the background index load that a first request starts,
and warm (repeated requests on one app once loaded, over random programs), as median and
p95. Prints a markdown table and writes it to bench/results/dashboard.md.

    .venv/bin/python -m bench.bench_dashboard [--programs 100000] [--warm 40] [--cold 3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import write_table  # noqa: E402
from dashboards.app import create_app  # noqa: E402
from db import open_storage  # noqa: E402
from db.models import Campaign, Edge, Evaluation, LLMCall, Program  # noqa: E402

TARGET_MS = 300.0
OUTCOMES = ("ok",) * 7 + ("error", "timeout", "oom")
OPERATORS = ("ast_mutate", "ast_crossover", "llm_diff", "llm_rewrite")
ISLANDS = 4
CHUNK = 10_000


def build_campaign(path: Path, n: int, seed: int = 1, name: str = "bench") -> dict[str, Any]:
    """A finished n-program campaign written with Core executemany, one transaction (after
    the campaigns already in the file, if any)."""
    storage = open_storage(f"sqlite:///{path}")  # creates the schema
    config = {"max_evals": n, "seed": seed}
    campaign = storage.create_campaign(name, "synthetic.dashboard", config, seed)
    engine = storage._engine  # the same engine settings (WAL, foreign keys, BEGIN IMMEDIATE)
    with sqlite3.connect(path) as db:
        offset = db.execute("SELECT coalesce(max(id), 0) FROM programs").fetchone()[0]
    rng = random.Random(seed)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    programs: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    evals: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    counts = {"edges": 0, "evaluations": 0, "llm_calls": 0}

    def flush(conn: Any, final: bool = False) -> None:
        for table, rows in (
            (Program.__table__, programs),
            (Edge.__table__, edges),
            (Evaluation.__table__, evals),
            (LLMCall.__table__, calls),
        ):
            if rows and (final or len(programs) >= CHUNK):
                conn.execute(table.insert(), rows)
                rows.clear()

    start = time.perf_counter()
    with engine.begin() as conn:
        for i in range(n):
            pid = offset + i + 1  # ids are offset+1..offset+n in insertion order
            island = i % ISLANDS
            operator = "initial" if i == 0 else rng.choice(OPERATORS)
            if i:
                lo = max(offset + 1, pid - 2000)
                parent = rng.randrange(lo, pid)
                edges.append({"parent_id": parent, "child_id": pid, "kind": "parent"})
                r = rng.random()
                other = rng.randrange(lo, pid)
                if other != parent:
                    if operator == "ast_crossover":
                        edges.append({"parent_id": other, "child_id": pid, "kind": "second_parent"})
                    elif r < 0.10:
                        edges.append({"parent_id": other, "child_id": pid, "kind": "inspiration"})
                    elif r < 0.12:
                        edges.append({"parent_id": other, "child_id": pid, "kind": "migration"})
            outcome = rng.choice(OUTCOMES)
            quality = i / n + rng.gauss(0, 0.1)
            metrics = {"accuracy": quality, "cost": rng.random() * 10, "size": float(i % 97)}
            features = {"length": rng.random() * 100, "complexity": rng.random() * 10}
            ok = outcome == "ok"
            score = quality if ok else None
            created = t0 + timedelta(seconds=i * 0.05)
            evaluated = created + timedelta(seconds=0.5 + rng.random())
            code = (
                f"# EVOLVE-BLOCK-START\ndef f(x):\n    y = x * {i} + {rng.random():.6f}\n"
                + "".join(f"    y = y + {k} * x ** {k % 5}\n" for k in range(20))
                + "    return y\n# EVOLVE-BLOCK-END\n"
            )
            programs.append(
                {
                    "id": pid,
                    "campaign_id": campaign.id,
                    "code": code,
                    "genome": None,
                    "code_hash": hashlib.sha256(code.encode()).hexdigest(),
                    "ast_hash": f"a{i}",
                    "generation": min(i // 50, 2000),
                    "island": island,
                    "operator": operator,
                    "status": "evaluated",
                    "outcome": outcome,
                    "score": score,
                    "correct": ok,
                    "metrics": metrics,
                    "features": features,
                    "feedback": "" if ok else f"{outcome} at line 3",
                    "eval_seq": i + 1,
                    "created_at": created,
                    "evaluated_at": evaluated,
                }
            )
            stage = {
                "program_id": pid,
                "duration_s": 0.01,
                "worker": f"w{i % 8}",
                "attempt": 1,
                "isolation": "bwrap+uid",
                "created_at": evaluated,
                "feedback": "",
            }
            evals.append(
                stage
                | {"stage": "compile", "outcome": "ok", "score": None, "correct": None}
                | {"metrics": {}, "features": {}}
            )
            evals.append(
                stage
                | {"stage": "evaluate", "outcome": outcome, "score": score, "correct": ok}
                | {"metrics": metrics, "features": features}
            )
            if operator.startswith("llm_"):
                calls.append(
                    {
                        "campaign_id": campaign.id,
                        "program_id": pid,
                        "model": rng.choice(("model-a", "model-b")),
                        "prompt": f"improve program {pid - 1}\n" + code,
                        "response": code,
                        "prompt_tokens": 900 + i % 300,
                        "completion_tokens": 200 + i % 100,
                        "cost_usd": 0.001,
                        "latency_s": 1.0 + rng.random(),
                        "outcome": "ok",
                        "created_at": created,
                        "operator": operator,
                        "attempt": 1,
                    }
                )
                counts["llm_calls"] += 1
            flush(conn)
        flush(conn, final=True)
        conn.execute(
            Campaign.__table__.update()
            .where(Campaign.__table__.c.id == campaign.id)
            .values(eval_counter=n, status="finished", finished_at=t0 + timedelta(hours=2))
        )
    build_s = time.perf_counter() - start
    storage.close()
    with sqlite3.connect(path) as db:
        counts["edges"] = db.execute("SELECT count(*) FROM edges").fetchone()[0]
        counts["evaluations"] = db.execute("SELECT count(*) FROM evaluations").fetchone()[0]
    return {"campaign": campaign.id, "build_s": build_s, **counts}


class _Client:
    """The WSGI app called in-process (as tests/dashboards/dash_client.py does)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def get(self, url: str) -> bytes:
        path, _, query = url.partition("?")
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "HTTP_HOST": "127.0.0.1:8080",
            "wsgi.url_scheme": "http",
        }
        seen: dict[str, str] = {}

        def start_response(status: str, headers: list[tuple[str, str]]) -> None:
            seen["status"] = status

        body = b"".join(self.app(environ, start_response))
        if not seen["status"].startswith("200"):
            raise RuntimeError(f"{url}: {seen['status']} {body[:200]!r}")
        return body


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000.0


def _stats(ms: list[float]) -> tuple[float, float]:
    ordered = sorted(ms)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


def measure(
    path: Path, cid: int, n: int, warm: int, cold: int, during: int, agg_cold: int, seed: int = 2
) -> tuple[list[dict], dict[str, float]]:
    rng = random.Random(seed)
    url = f"sqlite:///{path}"

    def baseline_cold() -> float:
        db = sqlite3.connect(path)
        try:
            return _timed(lambda: db.execute("SELECT count(*) FROM programs").fetchone())
        finally:
            db.close()

    db = sqlite3.connect(path)
    count = db.execute("SELECT count(*) FROM programs").fetchone()[0]
    assert count == n, (count, n)
    rows: list[dict[str, Any]] = [
        {
            "name": "baseline `SELECT count(*) FROM programs`",
            "cold": [baseline_cold() for _ in range(cold)],
            "warm": [
                _timed(lambda: db.execute("SELECT count(*) FROM programs").fetchone())
                for _ in range(warm)
            ],
        }
    ]
    db.close()

    def program_ids(k: int) -> list[int]:
        return [rng.randrange(n // 10, n) + 1 for _ in range(k)]  # ids are 1..n

    direct: list[tuple[str, Callable[[int], str]]] = [
        ("campaigns list `/api/campaigns`", lambda _pid: "/api/campaigns"),
        ("campaign `/api/campaigns/<c>`", lambda _pid: f"/api/campaigns/{cid}"),
        (
            "lineage neighbourhood `/api/programs/<id>/lineage`",
            lambda p: f"/api/programs/{p}/lineage",
        ),
        ("program `/api/programs/<id>`", lambda p: f"/api/programs/{p}"),
    ]
    aggregate: list[tuple[str, Callable[[int], str]]] = [
        (
            "series `/api/campaigns/<c>/series?partial=1` (cold: SQL; warm: index)",
            lambda _pid: f"/api/campaigns/{cid}/series?partial=1",
        ),
        ("grid `/api/campaigns/<c>/grid` (index)", lambda _pid: f"/api/campaigns/{cid}/grid"),
    ]
    # warm only: a grid the cache does not hold (a new bins value each request)
    uncached = iter(range(1, 10**6))
    uncached_grid = (
        "grid, uncached (a new `bins` each request; index)",
        lambda _pid: f"/api/campaigns/{cid}/grid?bins={next(uncached) % 49 + 2}&x=complexity",
    )
    info: dict[str, float] = {}
    # cold: a fresh Storage and app per request; the app starts loading the index in the
    # background after answering, so `during` requests a user might make next (one every
    # 100 ms) are timed while that load runs; the app is closed (load stopped) after.
    for name, make in direct:
        cold_ms: list[float] = []
        during_ms: list[float] = []
        for k, pid in enumerate(program_ids(cold)):
            fresh = open_storage(url)
            app = create_app(fresh)
            try:
                client = _Client(app)
                cold_ms.append(_timed(lambda c=client, u=make(pid): c.get(u)))
                if k == 0:
                    for p in program_ids(during):
                        time.sleep(0.1)
                        during_ms.append(_timed(lambda c=client, u=make(p): c.get(u)))
                    assert app.indexes.peek(cid) is None, "the index loaded too fast to time"
            finally:
                app.close()
                fresh.close()
        rows.append({"name": name, "cold": cold_ms, "during": during_ms})
    for name, make in aggregate:
        cold_ms = []
        for _ in range(agg_cold):
            fresh = open_storage(url)
            app = create_app(fresh)
            try:
                cold_ms.append(_timed(lambda c=_Client(app), u=make(0): c.get(u)))
            finally:
                app.close()
                fresh.close()
        rows.append({"name": name, "cold": cold_ms})
    # warm: one app; its first request starts the background load, timed until loaded
    storage = open_storage(url)
    app = create_app(storage)
    try:
        client = _Client(app)
        start = time.perf_counter()
        first = json.loads(client.get(f"/api/campaigns/{cid}"))
        assert first["programs"] == n and first["evaluated"] == n, first
        assert app.indexes.wait(cid, timeout=600), "background index load did not finish"
        info["background_load_s"] = time.perf_counter() - start
        for row, (_, make) in zip(rows[1:], direct + aggregate, strict=True):
            row["warm"] = [_timed(lambda c=client, u=make(p): c.get(u)) for p in program_ids(warm)]
        name, make = uncached_grid
        rows.append(
            {
                "name": name,
                "cold": [],
                "warm": [
                    _timed(lambda c=client, u=make(0): c.get(u)) for _ in range(min(warm, 48))
                ],
            }
        )
    finally:
        app.close()
        storage.close()
    return rows, info


def _all_ready(app: Any, cids: list[int]) -> bool:
    return all(app.indexes.ready(c) for c in cids)


def measure_compare(path: Path, cids: list[int], warm: int, cold: int) -> dict[str, Any]:
    """/api/compare of the campaigns: cold (a fresh app and Storage: one window query per
    campaign), during their background index loads, and warm (from their indexes)."""
    url = f"sqlite:///{path}"
    request = "/api/compare?" + "&".join(f"c={c}" for c in cids)
    row: dict[str, Any] = {
        "name": f"compare `/api/compare`, {len(cids)} campaigns (cold: SQL; warm: index)",
        "cold": [],
        "during": [],
    }
    for k in range(cold):
        fresh = open_storage(url)
        app = create_app(fresh)
        try:
            client = _Client(app)
            row["cold"].append(_timed(lambda c=client: c.get(request)))
            while k == 0 and len(row["during"]) < 10 and not _all_ready(app, cids):
                time.sleep(0.1)
                row["during"].append(_timed(lambda c=client: c.get(request)))
        finally:
            app.close()
            fresh.close()
    storage = open_storage(url)
    app = create_app(storage)
    try:
        client = _Client(app)
        body = json.loads(client.get(request))
        row["points"] = max(len(c["best_by_eval"]) for c in body["campaigns"])
        for cid in cids:
            assert app.indexes.wait(cid, timeout=600), "background index load did not finish"
        row["warm"] = [_timed(lambda c=client: c.get(request)) for _ in range(warm)]
    finally:
        app.close()
        storage.close()
    return row


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--programs", type=int, default=100_000)
    ap.add_argument("--warm", type=int, default=40, help="warm requests per endpoint")
    ap.add_argument("--cold", type=int, default=3, help="fresh apps per direct endpoint")
    ap.add_argument("--during", type=int, default=10, help="requests during the index load")
    ap.add_argument("--agg-cold", type=int, default=2, help="fresh apps per aggregate view")
    ap.add_argument("--compare", type=int, default=4, help="campaigns the compare view compares")
    ap.add_argument("--compare-evals", type=int, default=20_000, help="evaluations of each")
    args = ap.parse_args(argv if argv is not None else [])
    n = args.programs
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="evoforge-bench-dash-") as tmp:
        path = Path(tmp) / "dashboard.db"
        info = build_campaign(path, n)
        size_mb = path.stat().st_size / 2**20
        rows, load = measure(
            path, info["campaign"], n, args.warm, args.cold, args.during, args.agg_cold
        )
        arms = Path(tmp) / "compare.db"
        cids = [
            build_campaign(arms, args.compare_evals, seed=k, name=f"arm{k}")["campaign"]
            for k in range(1, args.compare + 1)
        ]
        rows.append(measure_compare(arms, cids, args.warm, args.cold))
    load_after = os.getloadavg()[0]
    table = []
    for row in rows:
        cmed, cp95 = _stats(row["cold"]) if row["cold"] else (None, None)
        wmed, wp95 = _stats(row["warm"])
        during = f"{_stats(row['during'])[0]:.1f}" if row.get("during") else "-"
        baseline = row["name"].startswith("baseline")
        verdict = "-" if baseline else ("yes" if wp95 < TARGET_MS else "no")
        cold_verdict = "-" if baseline or cmed is None else ("yes" if cmed < TARGET_MS else "no")
        table.append(
            [
                row["name"],
                "-" if cmed is None else f"{cmed:.1f}",
                "-" if cp95 is None else f"{cp95:.1f}",
                during,
                f"{wmed:.1f}",
                f"{wp95:.1f}",
                f"{cold_verdict} / {verdict}",
            ]
        )
    notes = [
        f"Synthetic campaign: {n:,} programs (all evaluated, 4 islands, {info['edges']:,} "
        f"lineage edges incl. crossover, inspiration and migration, {info['evaluations']:,} "
        f"evaluation stages, {info['llm_calls']:,} LLM calls with prompt and response, "
        f"metrics and features), SQLite file of {size_mb:.0f} MiB.",
        f"Built with SQLAlchemy Core executemany in one transaction in {info['build_s']:.1f} s "
        f"({n / info['build_s']:,.0f} programs/s).",
        "Requests go through the WSGI app in-process (tests/dashboards' way): routing, the "
        "Storage reads, JSON encoding; no HTTP socket.",
        "The campaigns list, campaign, neighbourhood and program endpoints read the database "
        "directly (a few indexed queries: dashboards/direct.py); the series and grid views "
        "need the campaign's in-memory index (every program, without code or genome), except "
        "the page's series request (`partial=1`), answered while the index loads with the "
        "best score over evaluations from one window query (Storage.best_score_steps).",
        f"cold: the first request on a freshly created app and Storage ({args.cold} per direct "
        f"endpoint, {args.agg_cold} per aggregate view; random programs). For the grid that "
        "is the whole index load in the foreground; the series answer (partial=1) is the "
        "SQL one. After answering, the app loads the index in a background thread.",
        f"during index load: {args.during} more requests, one every 100 ms, on the app of the "
        "first cold request while its background load runs (it pauses between pages while a "
        "direct request is answered, but shares the interpreter).",
        f"background index load: {load['background_load_s']:.1f} s from the first request "
        "until the aggregate views are warm (an aggregate view requested earlier waits for it).",
        f"warm: {args.warm} requests per endpoint on one app once its index is loaded, random "
        "programs (ids in the last 90%); the series and grid answers are cached per index "
        "version (and axes and bins for the grid); the uncached-grid row asks for a new bins "
        f"value each time ({min(args.warm, 48)} requests), so the grid is computed (numpy) "
        "from the index's cached feature columns on each.",
        f"1-minute load average {load_before:.1f} before and {load_after:.1f} after the run "
        f"on {os.cpu_count()} cores (other work on the machine inflates every number).",
        f"compare: {args.compare} campaigns of {args.compare_evals:,} evaluations each (built "
        "as above, another seed each) in a second SQLite file, all compared in one request. "
        "cold: one window query per campaign for its best-score lines "
        "(Storage.best_score_times) and the direct reads of the campaigns list; during: "
        "while their indexes load in the background; warm: from their indexes. Lossless "
        f"lines (every rise of the best score plus the last evaluation): at most "
        f"{rows[-1]['points']} points per line.",
        "baseline: `SELECT count(*) FROM programs` through sqlite3 on the same file; cold is "
        "the first query on a new connection.",
        f"target: under {TARGET_MS:.0f} ms per request; the last column reads "
        "cold median / warm p95 under target.",
    ]
    return write_table(
        "dashboard",
        f"Dashboard API latency, {n:,}-program campaign in SQLite",
        [
            "request",
            "cold median ms",
            "cold p95 ms",
            "during index load median ms",
            "warm median ms",
            "warm p95 ms",
            "< 300 ms",
        ],
        table,
        notes,
    )


if __name__ == "__main__":
    print(main(sys.argv[1:]))
