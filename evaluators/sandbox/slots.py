"""A pool of unprivileged uids, one per running job, shared by every runner on the machine.

RLIMIT_NPROC is counted per uid and ``kill(-1)`` reaches every process of a uid, so two
jobs must never share one. A uid is held through an exclusive ``flock`` on a lock file:
threads and processes (several workers on one machine) exclude each other, and a crashed
holder releases it automatically.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from evaluators.sandbox.uid_locks import lock_dir, try_lock

DEFAULT_UID_COUNT = 128
UID_BASE_ENV = "EVOFORGE_SANDBOX_UID_BASE"


def _uid_base() -> int:
    """61000, or EVOFORGE_SANDBOX_UID_BASE: the test suite moves its jobs to their own range,
    so that a campaign running on the same machine is not taken for a leaked candidate."""
    raw = os.environ.get(UID_BASE_ENV, "61000")
    try:
        base = int(raw)
    except ValueError:
        base = -1
    if not 1000 <= base <= 2**31 - 2 - DEFAULT_UID_COUNT:
        raise ValueError(f"{UID_BASE_ENV}={raw!r}: expected a uid from 1000 (no system account)")
    return base


DEFAULT_UID_BASE = _uid_base()


@dataclass(frozen=True)
class Slot:
    uid: int
    fd: int


class UidSlots:
    def __init__(self, base: int = DEFAULT_UID_BASE, count: int = DEFAULT_UID_COUNT) -> None:
        self.base = base
        self.count = count
        self._dir = lock_dir()
        self._mutex = threading.Lock()

    def acquire(self) -> Slot | None:
        """The lowest free uid (so that a runner keeps reusing the same few), or None."""
        with self._mutex:
            for uid in range(self.base, self.base + self.count):
                fd = try_lock(self._dir, f"{uid}.lock")
                if fd is not None:
                    return Slot(uid, fd)
        return None

    def release(self, slot: Slot) -> None:
        os.close(slot.fd)  # drops the flock
