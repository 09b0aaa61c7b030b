"""Local executor: a pool of worker processes, each driving its own sandbox runner.

Workers are started with "spawn" (never fork: the controller holds database connections
and threads). The executor assigns each job to one worker itself, so when a worker
process dies mid-job it knows which job to re-queue. A worker is sent its next batch
while it still evaluates the current one (``PIPELINE_DEPTH``): it then starts the next
at once instead of idling until the controller's loop comes round to hand it one.

A worker that gives no answer within its batch's backstop (the stages' wall limits plus
slack, as the Ray executor's: the sandbox enforces each limit itself, so only a hung
trusted scorer or a wedged worker gets there) is killed and replaced, and its batch ends as
``timeout``: without it, one such worker stalled the campaign for good.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import signal
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from evaluators.contract import SANDBOX_FAILURE, TIMEOUT, StageOutcome
from workers.jobs import Job, JobResult, WorkerDeaths
from workers.local_worker import worker_main
from workers.ray_cluster import Backstop

MAX_START_FAILURES = 3  # workers in a row that die before they are ready
PIPELINE_DEPTH = 2  # batches sent to one worker ahead of its results


# Where a container's CPU limit is written (cgroup v2; v1's quota and period files).
CGROUP_CPU_MAX = "/sys/fs/cgroup/cpu.max"
CGROUP_V1_QUOTA = ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us")


def _cgroup_cpu_limit() -> float | None:
    """CPUs' worth of time a cgroup quota allows this process, None without a quota.
    A container given 2 CPUs of a 64-core host still sees 64 in its affinity mask."""
    try:
        with open(CGROUP_CPU_MAX) as f:
            quota, period = f.read().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota, period = (int(Path(path).read_text()) for path in CGROUP_V1_QUOTA)
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


def usable_cpus() -> int:
    """CPUs this process may keep busy: its affinity mask, lowered to a cgroup quota."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    limit = _cgroup_cpu_limit()
    if limit is not None:
        cpus = min(cpus, max(1, math.ceil(limit)))
    return cpus


def cpu_share(workers: int) -> int:
    """The CPUs each of ``workers`` processes may keep busy: this process's CPUs divided
    among them (at least 1)."""
    return max(1, usable_cpus() // max(1, workers))


@dataclass
class _Slot:
    process: Any
    conn: Connection
    # Sent and not answered, oldest first: the worker evaluates the first, the rest wait
    # in its pipe. The worker answers batches in the order it got them.
    batches: deque[list[Job]] = field(default_factory=deque)
    ready: bool = False
    deadline: float = float("inf")  # of the batch being evaluated (the first)


class LocalExecutor:
    def __init__(
        self,
        workers: int = 2,
        isolation: str = "auto",
        preload: tuple[str, ...] = (),
        batch_size: int = 1,
        preload_numpy: bool = True,
        problem: Any = None,
        backstop_s: float | None = None,
    ) -> None:
        """``preload``: modules the sandbox imports once, warm (a problem's harness), after
        the defaults (numpy unless ``preload_numpy`` is False; see ``sandbox_modules``).
        ``batch_size``: jobs handed to a worker at once (problems with evaluate_batch).
        ``problem``: sets the backstop of each batch from its stages' wall limits;
        ``backstop_s`` overrides it (tests); with neither, a batch may take forever."""
        from evaluators.sandbox import sandbox_modules

        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.batch_size = max(1, int(batch_size))
        self.capacity = workers * self.batch_size
        self.isolation = isolation
        self.modules = sandbox_modules(preload, numpy=preload_numpy)
        self.isolation_level = ""
        self._ctx = mp.get_context("spawn")
        self._queue: deque[Job] = deque()
        self._start_failures = 0
        self._deaths = WorkerDeaths()
        self._early: list[JobResult] = []  # results collected by wait_ready
        self._backstop = Backstop(problem, backstop_s)
        self._threads = cpu_share(workers)
        self._slots = [self._start() for _ in range(workers)]

    def _start(self) -> _Slot:
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(
            target=worker_main,
            args=(child, self.isolation, self.modules, self._threads),
            daemon=True,
        )
        process.start()
        child.close()
        return _Slot(process, parent)

    def submit(self, jobs: Sequence[Job]) -> None:
        self._queue.extend(jobs)
        self._dispatch()

    @property
    def in_flight(self) -> int:
        busy = sum(len(batch) for slot in self._slots for batch in slot.batches)
        return len(self._queue) + busy

    def _dispatch(self) -> None:
        # Idle workers first, then one batch ahead for each busy one. Fewer jobs than
        # full batches for the idle workers are shared out evenly (a campaign's last jobs,
        # its held-out checks: one worker must not run them all while another waits).
        for depth in range(PIPELINE_DEPTH):
            waiting = [s for s in self._slots if s.ready and len(s.batches) == depth]
            share = -(-len(self._queue) // max(1, len(waiting)))
            for slot in waiting:
                if not self._queue:
                    return
                count = min(self.batch_size, share, len(self._queue))
                batch = [self._queue.popleft() for _ in range(count)]
                try:
                    slot.conn.send(batch)
                except OSError:  # the worker died since it was last heard from (its score
                    # killed it, the OOM killer): the batch goes back, and completed() sees
                    # the death and respawns it. Raised, BrokenPipeError ended the run.
                    self._queue.extendleft(reversed(batch))
                    continue
                slot.batches.append(batch)
                if len(slot.batches) == 1:  # the worker starts on it now
                    slot.deadline = time.monotonic() + self._backstop(batch)

    def wait_ready(self, timeout: float) -> bool:
        """Wait until every worker has started its sandbox (True), or up to ``timeout``
        s, or until a worker dies during start-up (False)."""
        deadline = time.monotonic() + timeout
        while not all(slot.ready for slot in self._slots):
            left = deadline - time.monotonic()
            if left <= 0 or self._start_failures:
                return False
            self._early.extend(self.completed(min(left, 1.0)))
        return True

    def completed(self, timeout: float) -> list[JobResult]:
        results, self._early = self._early, []
        if results:
            timeout = 0.0
        waitables: list[Any] = [slot.conn for slot in self._slots]
        waitables += [slot.process.sentinel for slot in self._slots]
        first_deadline = min(slot.deadline for slot in self._slots)
        timeout = max(0.0, min(timeout, first_deadline - time.monotonic()))
        ready = set(wait(waitables, timeout))
        for index, slot in enumerate(self._slots):
            if slot.conn in ready:
                try:
                    kind, payload = slot.conn.recv()
                except (EOFError, OSError):
                    results.extend(self._replace_dead(index))
                    continue
                if kind == "ready":
                    slot.ready = True
                    self._start_failures = 0
                    self.isolation_level = payload
                else:
                    slot.batches.popleft()
                    results.extend(payload)
                    # the worker went on to its next batch, if it had one
                    next_batch = slot.batches[0] if slot.batches else None
                    slot.deadline = (
                        time.monotonic() + self._backstop(next_batch)
                        if next_batch
                        else float("inf")
                    )
            elif slot.process.sentinel in ready:
                results.extend(self._replace_dead(index))
        results.extend(self._expire())
        self._dispatch()
        return results

    def _expire(self) -> list[JobResult]:
        """Kill each worker past its batch's backstop and start another; the batch ends as
        ``timeout`` (not retried: it would hang again), the batches behind it go back."""
        results = []
        now = time.monotonic()
        for index, slot in enumerate(self._slots):
            if not slot.batches or now < slot.deadline:
                continue
            current = slot.batches.popleft()
            waited = self._backstop(current)
            slot.process.kill()
            slot.process.join(timeout=5)
            for batch in reversed(slot.batches):
                self._queue.extendleft(reversed(batch))
            self._slots[index] = self._start()
            detail = (
                f"no answer within the executor's backstop of {waited:.0f} s (stage wall "
                "limits + slack: a hung scorer or a wedged worker); the worker was killed"
            )
            worker = f"local-{slot.process.pid}"
            for job in current:
                stage = StageOutcome("worker", TIMEOUT, None, detail, waited, "")
                results.append(JobResult(job, worker, (stage,)))
        return results

    def _replace_dead(self, index: int) -> list[JobResult]:
        """A worker died (killed, crashed): respawn it and re-queue its jobs, boundedly."""
        slot = self._slots[index]
        slot.process.join(timeout=1)
        failed_results = []
        if not slot.ready:
            # Died before it could take a job (a broken install, an import error...): after a
            # few in a row, fail what is queued with the reason instead of respawning forever.
            self._start_failures += 1
            if self._start_failures >= MAX_START_FAILURES:
                detail = (
                    f"local worker process exited during start-up "
                    f"(exit code {slot.process.exitcode}) {self._start_failures} times"
                )
                while self._queue:
                    failed_results.append(JobResult(self._queue.popleft(), "local", (), detail))
        self._slots[index] = self._start()
        # Only the first batch was being evaluated; those behind it go back as they were.
        current = slot.batches.popleft() if slot.batches else []
        for batch in reversed(slot.batches):
            self._queue.extendleft(reversed(batch))
        again, given_up = self._deaths.record(current)
        self._queue.extendleft(reversed(again))
        for job, deaths in given_up:
            detail = (
                f"worker process died {deaths} times on this candidate (last: "
                f"{_how_it_ended(slot.process.exitcode)}); outside the sandbox a worker "
                "runs only the problem's trusted side (score() or its scorer): look there "
                "for os._exit, a crash in an extension module, or the OOM killer"
            )
            failed = StageOutcome("worker", SANDBOX_FAILURE, None, detail, 0.0, "")
            failed_results.append(JobResult(job, f"local-{slot.process.pid}", (failed,)))
        return failed_results

    def close(self) -> None:
        for slot in self._slots:
            try:
                slot.conn.send(None)
            except OSError:
                pass
        for slot in self._slots:
            slot.process.join(timeout=5)
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join(timeout=5)

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _how_it_ended(exitcode: int | None) -> str:
    """A dead worker process's exit status in words: "exit code 5", "killed by SIGKILL"."""
    if exitcode is None:
        return "with no exit status"
    if exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit code {exitcode}"
