"""Writer subprocess for the crash and concurrency tests.

usage: python _dbtest_writer.py URL CAMPAIGN COUNT   (COUNT 0: until killed)
Imports, then waits for a line on stdin (so a test can pre-start it), prints "ready", then "P <id>" after each committed add_program and "E <id>" after each
committed record_evaluation, flushing every line: a printed id is an acknowledged commit.
"""

from __future__ import annotations

import os
import sys

from db.records import PARENT, NewStageResult
from db.sql import SQLStorage
from db.storage import StorageError


def main() -> None:
    url, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sys.stdin.readline()
    storage = SQLStorage(url)
    try:
        camp = storage.create_campaign(name, "toy", {"writer": True}, 1).id
    except StorageError:  # the other writer created it first
        found = storage.get_campaign(name)
        assert found is not None
        camp = found.id
    print("ready", flush=True)
    last: int | None = None
    i = 0
    while count == 0 or i < count:
        i += 1
        p = storage.add_program(
            camp,
            code=f"def f(x): return x * {i}\n" + "# padding\n" * 20,
            genome={"i": i, "w": [i / 7, i / 3]},
            code_hash=f"c-{os.getpid()}-{i}",
            ast_hash=f"a-{os.getpid()}-{i}",
            generation=i // 10,
            island=i % 4,
            operator="llm_diff" if i % 2 else "mutate",
            edges=[(last, PARENT)] if last is not None else [],
            llm_call={"model": "fake", "prompt": "p" * 200, "response": "r" * 200}
            if i % 2
            else None,
        )
        print(f"P {p.id}", flush=True)
        stages = [
            NewStageResult("quick", "ok", None, None, {}, {}, "", 0.001, "none"),
            NewStageResult("full", "ok", i / 7, True, {"m": i / 3}, {"f": 1.0}, "fb", 0.01, "none"),
        ]
        if storage.record_evaluation(p.id, stages, worker="w", attempt=1):
            print(f"E {p.id}", flush=True)
        if i % 25 == 0:
            storage.add_event(camp, "checkpoint", {"i": i})
        last = p.id
    storage.close()


if __name__ == "__main__":
    main()
