"""A SQLite database on a read-only filesystem (a snapshot, a read-only NFS or container
mount) can still be read: SQLite alone cannot open a WAL database there, since it needs to
create the -shm file. Writes say the database is read-only; a -wal file holding commits,
which an immutable open would silently skip, is refused with the way out.

These tests mount a real read-only bind mount, so they need root and CAP_SYS_ADMIN."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import db
from db.storage import StorageError
from tests.db._dbtest_helpers import add, stage


@pytest.fixture
def read_only_view(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """(writable folder, the same folder mounted read-only)."""
    if os.geteuid() != 0:
        pytest.skip("mounting needs root")
    src, view = tmp_path / "src", tmp_path / "ro"
    src.mkdir()
    view.mkdir()
    mount = subprocess.run(["mount", "--bind", str(src), str(view)], capture_output=True)
    if mount.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {mount.stderr.decode().strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(view)], check=True)
        yield src, view
    finally:
        subprocess.run(["umount", str(view)], check=True)


def _campaign_with_one_scored_program(url: str) -> int:
    storage = db.open_storage(url)
    try:
        campaign = storage.create_campaign("snap", "p", {}, 1)
        program = add(storage, campaign.id, 7)
        storage.record_evaluation(program.id, [stage(score=2.5)], worker="w", attempt=1)
        return program.id
    finally:
        storage.close()


def test_a_database_on_a_read_only_mount_is_read_and_refuses_writes(read_only_view) -> None:
    src, view = read_only_view
    program_id = _campaign_with_one_scored_program(f"sqlite:///{src / 'c.db'}")
    assert not (src / "c.db-wal").exists()  # closed cleanly: everything is in the file

    storage = db.open_storage(f"sqlite:///{view / 'c.db'}")
    try:
        campaign = storage.get_campaign("snap")
        assert campaign is not None
        best = storage.best_programs(campaign.id)
        assert [p.id for p in best] == [program_id] and best[0].score == 2.5
        with pytest.raises(StorageError, match="cannot write to SQLite database .*readonly"):
            storage.create_campaign("other", "p", {}, 2)
    finally:
        storage.close()
    assert sorted(p.name for p in view.iterdir()) == ["c.db"]


def test_commits_left_in_a_wal_file_are_refused_not_skipped(read_only_view) -> None:
    src, view = read_only_view
    _campaign_with_one_scored_program(f"sqlite:///{src / 'c.db'}")
    writer = sqlite3.connect(src / "c.db")  # a writer still running when the snapshot was taken
    try:
        writer.execute("PRAGMA wal_autocheckpoint=0")
        writer.execute("UPDATE campaigns SET name = 'renamed'")
        writer.commit()
        assert (src / "c.db-wal").stat().st_size > 0
        with pytest.raises(StorageError) as info:
            db.open_storage(f"sqlite:///{view / 'c.db'}")
        message = str(info.value)
        assert "read-only filesystem" in message and "c.db-wal" in message
        assert "copy the database with its -wal file" in message and "\n" not in message
    finally:
        writer.close()
