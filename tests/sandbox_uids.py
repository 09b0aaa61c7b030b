"""A sandbox uid range of its own for each test run on the machine (tests/conftest.py).

The leak checks (sandbox_corpus/support.py) count every live process of the run's job
uids, and the uid slots (evaluators/sandbox/slots.py) are shared machine-wide: with one
range for every test run, a uid this run just released was handed to a run beside it at
once, whose candidate this run's check then reported as its own survivor. Each run
therefore holds a range of its own, by an exclusive ``flock`` kept for the life of the
test process (a crashed run releases it), in the slots' lock directory.

Imports no ``slots``, which reads the range's base when first imported; the lock folder
comes from ``uid_locks``, which reads nothing.
"""

from __future__ import annotations

import os

from evaluators.sandbox.uid_locks import lock_dir, try_lock

FIRST_BASE = 62000  # a campaign beside the tests uses 61000 and up (slots.py)
STRIDE = 256  # each range: 128 job uids and the probe uid (slots.DEFAULT_UID_COUNT + 1)
RANGES = 32

_held: dict[int, int] = {}  # base -> fd of its lock, open for the life of the process


def _lock_dir() -> str | None:
    try:
        return lock_dir()
    except OSError:
        return None


def reserve() -> int:
    """The base of the first range no other test run holds, held from now on; FIRST_BASE
    where no lock can be taken (not root: no sandbox uid is used then)."""
    folder = _lock_dir()
    if folder is None:
        return FIRST_BASE
    for index in range(RANGES):
        base = FIRST_BASE + index * STRIDE
        fd = try_lock(folder, f"test-range-{base}.lock")
        if fd is not None:
            _held[base] = fd
            return base
    raise RuntimeError(f"all {RANGES} sandbox uid ranges of the tests are held by other runs")


def release(base: int) -> None:
    os.close(_held.pop(base))


def held(base: int) -> bool:
    return base in _held
