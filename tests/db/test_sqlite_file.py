"""A SQLite file removed or replaced while a controller writes to it (db/sqlite_file.py):
the next lease renewal stops the run with one line, and what was stored is copied out of
the open file instead of vanishing with it."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from _dbtest_helpers import add, stage

from db import open_storage
from db.sql import SQLStorage
from db.storage import StorageError


def _campaign_with_an_evaluation(url: str) -> tuple[SQLStorage, int, int]:
    storage = SQLStorage(url)
    camp = storage.create_campaign("night", "p", {}, 1)
    assert storage.acquire_lease(camp.id, "me", 30) is None
    program = add(storage, camp.id, 1)
    assert storage.record_evaluation(program.id, [stage(score=2.5)], worker="w", attempt=1)
    return storage, camp.id, program.id


def _score(path: Path, program_id: int) -> float:
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return connection.execute(
            "SELECT score FROM programs WHERE id=?", (program_id,)
        ).fetchone()[0]
    finally:
        connection.close()


def test_a_removed_folder_stops_the_run_and_its_content_is_written_back(tmp_path: Path) -> None:
    folder = tmp_path / "results"
    folder.mkdir()
    path = folder / "evolve.db"
    storage, camp, program = _campaign_with_an_evaluation(f"sqlite:///{path}")
    try:
        assert storage.renew_lease(camp, "me", 30)  # the file is there: nothing to say
        shutil.rmtree(folder)
        # writes still succeed: into the removed file, which only this process can see
        late = add(storage, camp, 2)
        with pytest.raises(StorageError) as info:
            storage.renew_lease(camp, "me", 30)
    finally:
        storage.close()
    message = str(info.value)
    assert "\n" not in message
    assert f"the SQLite database {path} was removed or replaced" in message
    assert message.endswith(f"written back to {path}")
    assert _score(path, program) == 2.5
    assert path.stat().st_mode & 0o777 == 0o600
    copy = open_storage(f"sqlite:///{path}")
    try:
        record = copy.get_campaign("night")
        assert record is not None and copy.get_program(late.id) is not None
        assert copy.lease_holder(record.id).owner == "me"  # a resume takes a dead owner's over
    finally:
        copy.close()


def test_a_replaced_file_is_left_alone_and_the_content_goes_next_to_it(tmp_path: Path) -> None:
    path = tmp_path / "evolve.db"
    storage, camp, program = _campaign_with_an_evaluation(f"sqlite:///{path}")
    try:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        path.write_text("someone else's file")
        with pytest.raises(StorageError, match="another file is there now") as info:
            storage.renew_lease(camp, "me", 30)
    finally:
        storage.close()
    rescued = Path(f"{path}.rescued-{os.getpid()}")
    assert str(info.value).endswith(f"at {rescued} (resume from it with --db sqlite:///{rescued})")
    assert path.read_text() == "someone else's file"
    assert _score(rescued, program) == 2.5


def test_in_memory_databases_have_no_file_to_watch() -> None:
    storage = SQLStorage("sqlite://")
    try:
        camp = storage.create_campaign("c", "p", {}, 1)
        assert storage.acquire_lease(camp.id, "me", 30) is None
        assert storage.renew_lease(camp.id, "me", 30)
    finally:
        storage.close()
