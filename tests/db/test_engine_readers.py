"""Readers of a SQLite file are not locked out by a writer stopped inside a transaction
(a controller suspended with Ctrl-Z): `evolve status` answered after the 30 s busy timeout
with "database is locked", because opening the database probed it under BEGIN IMMEDIATE."""

from __future__ import annotations

import subprocess
import sys
import time

from db import open_storage

HOLD = """
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN IMMEDIATE")
c.execute("UPDATE campaigns SET name = name")
print("held", flush=True)
time.sleep(120)
"""


def test_a_stopped_writer_does_not_lock_out_readers(tmp_path) -> None:
    path = tmp_path / "held.db"
    storage = open_storage(f"sqlite:///{path}")
    storage.create_campaign("c", "p", {}, 0)
    storage.close()
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE,
                              text=True)  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        reader = open_storage(f"sqlite:///{path}")
        try:
            assert [c.name for c in reader.list_campaigns()] == ["c"]
        finally:
            reader.close()
        assert time.monotonic() - started < 5
    finally:
        holder.kill()
        holder.wait()
