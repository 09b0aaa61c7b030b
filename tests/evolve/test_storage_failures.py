"""A campaign whose database fails under it: its folder removed mid-run, a full disk. The
run stops with one line that says how to go on, and nothing committed is lost."""

from __future__ import annotations

import functools
import shutil
import sqlite3
from pathlib import Path

import pytest
from cli_helpers import SINE

from db.engine import connection_error, parse_url
from evolve import api, controller
from evolve.executors import default_executor
from evolve.lease import CampaignLease


def _evaluated(path: Path) -> list[tuple[int, float]]:
    connection = sqlite3.connect(path)
    try:
        rows = connection.execute(
            "SELECT eval_seq, score FROM programs WHERE eval_seq IS NOT NULL ORDER BY eval_seq"
        )
        return list(rows)
    finally:
        connection.close()


def test_a_removed_folder_stops_the_run_its_content_is_written_back_and_resumed(
    tmp_path: Path, monkeypatch
) -> None:
    # renewed every 0.1 s instead of 10 s: the removal is seen at once
    monkeypatch.setattr(controller, "CampaignLease", functools.partial(CampaignLease, ttl_s=0.3))
    folder = tmp_path / "results"
    folder.mkdir()
    path = folder / "night.db"
    url = f"sqlite:///{path}"
    before: list[tuple[int, float]] = []

    def factory(config, problem):
        executor = default_executor(config, problem)
        completed, seen = executor.completed, []

        def removing(timeout: float):
            results = completed(timeout)
            seen.extend(results)
            if len(seen) >= 3 and folder.exists():
                before.extend(_evaluated(path))
                shutil.rmtree(folder)  # a cleaner of old folders, a slip of rm -r
            return results

        executor.completed = removing
        return executor

    config = {"max_evals": 12, "db": url, "workers": 1, "seed": 2, "name": "night"}
    with pytest.raises(api.UserError) as info:
        api.run(SINE, config, executor_factory=factory)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"the SQLite database {path} was removed or replaced")
    assert f"written back to {path}" in message
    assert message.endswith(
        f"campaign night stopped: `evolve resume night --db {url}` continues it"
    )
    kept = _evaluated(path)
    assert before and kept[: len(before)] == before  # and those after the removal too
    summary = api.resume("night", db=url)
    assert (summary.reason, summary.evaluated) == ("budget", 12)
    final = _evaluated(path)
    assert [seq for seq, _ in final] == list(range(1, 13)) and final[: len(kept)] == kept


def test_a_failed_write_names_its_cause_not_how_to_open_a_database() -> None:
    url = parse_url("sqlite:////data/night.db")
    full = connection_error(url, sqlite3.OperationalError("database or disk is full"))
    assert str(full) == (
        "cannot write to SQLite database sqlite:////data/night.db: database or disk is full; "
        "free space on its disk"
    )
    read_only = connection_error(url, sqlite3.OperationalError("disk I/O error"))
    assert "cannot write to" in str(read_only) and "are writable" in str(read_only)
    missing = connection_error(url, sqlite3.OperationalError("unable to open database file"))
    assert str(missing).startswith("cannot open SQLite database")
