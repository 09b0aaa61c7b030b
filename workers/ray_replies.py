"""What the Ray executor does with what comes back, as a mixin of RayExecutor: an actor
ready (or one that could not start), a reply accepted only for its slot's live lease, a
worker's death (its jobs re-queued, boundedly) and a backstop's expiry (the worker killed,
the job a ``timeout``), and every result delivered at most once per job. Separate from
workers/ray.py, which keeps the slots, the Executor interface and the dispatch; the
fault-tolerance rules are in its docstring and docs/ray.md."""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from evaluators.contract import ERROR, OOM, SANDBOX_FAILURE, TIMEOUT, InvalidResult, StageOutcome
from workers.jobs import Job, JobResult, WorkerDeaths
from workers.ray_cluster import Backstop, describe_error, is_memory_kill
from workers.ray_codec import result_from_wire

if TYPE_CHECKING:
    from workers.ray import Slot

log = logging.getLogger("workers.ray")  # the executor's logger, as before the split

MAX_START_FAILURES = 3  # actors in a row that cannot start: fail the queue readably


class RayReplies:
    """RayExecutor's handling of replies and results (a mixin: RayExecutor sets these)."""

    _ray: Any
    stats: Counter[str]
    isolation_level: str
    _backstop: Backstop
    _queue: deque[Job]
    _deaths: WorkerDeaths
    _delivered: set[tuple[str, int]]
    _refs: dict[Any, tuple[Slot, str]]
    _start_failures: int
    _slots: list[Slot]
    _replace: Callable[[Slot], None]  # kill a slot's actor and start a fresh one

    # -- replies ------------------------------------------------------------------------
    def _on_ready(self, slot: Slot, ref: Any, results: list[JobResult]) -> None:
        try:
            info = self._ray.get(ref)
        except Exception as exc:  # __init__ failed (no sandbox) or the actor died starting
            self._start_failures += 1
            self.stats["start_failures"] += 1
            log.warning("ray executor: a worker could not start: %s", describe_error(exc))
            self._replace(slot)
            if self._start_failures >= MAX_START_FAILURES:
                message = f"Ray workers cannot start: {describe_error(exc)}"
                while self._queue:
                    job = self._queue.popleft()
                    self._deliver(JobResult(job, "ray", (), error=message), results)
            return
        self._start_failures = 0
        slot.ready = True
        slot.worker = str(info.get("worker", ""))
        slot.pid = int(info.get("pid", 0))
        self.isolation_level = str(info.get("isolation", ""))

    def _on_reply(self, slot: Slot, ref: Any, results: list[JobResult]) -> None:
        lease, jobs = slot.lease, slot.jobs
        try:
            reply = self._ray.get(ref)
        except self._ray.exceptions.RayTaskError as exc:  # our worker code raised; it lives
            self._release(slot)
            for job in jobs:
                self._fail(job, ERROR, f"the Ray worker failed: {describe_error(exc)}", results)
            return
        except self._ray.exceptions.RayError as exc:  # the worker process or node died
            self._died(slot, exc, results)
            return
        if not isinstance(reply, dict) or reply.get("lease") != lease or not lease:
            # Fenced: not the slot's live lease (cannot happen while each slot has one call
            # in flight; if it ever did, the slot's backstop would end its real call).
            self.stats["stale_replies"] += 1
            return
        self._release(slot)
        answers = reply.get("results")
        if not isinstance(answers, list) or len(answers) != len(jobs):
            for job in jobs:
                self._fail(job, ERROR, "the Ray worker's reply does not match its jobs", results)
            return
        for job, answer in zip(jobs, answers):
            try:
                result = result_from_wire(job, answer)
            except (InvalidResult, KeyError, TypeError, ValueError) as exc:
                self._fail(job, ERROR, f"invalid reply from the Ray worker: {exc}", results)
                continue
            self._deliver(result, results)

    def _release(self, slot: Slot) -> None:
        self._refs.pop(slot.ref, None)
        slot.lease, slot.jobs, slot.ref, slot.deadline = "", [], None, 0.0

    def _died(self, slot: Slot, exc: BaseException, results: list[JobResult]) -> None:
        """The worker died mid-evaluation: re-queue its jobs (attempt + 1), boundedly."""
        memory = is_memory_kill(exc)
        self.stats["worker_deaths"] += 1
        jobs, worker = slot.jobs, slot.worker
        self._release(slot)
        self._replace(slot)
        again, given_up = self._deaths.record(jobs)
        self._queue.extendleft(reversed(again))
        self.stats["requeued"] += len(again)
        for job, deaths in given_up:
            why = "Ray's memory monitor killed it" if memory else describe_error(exc)
            detail = f"the Ray worker died {deaths} times evaluating this candidate (last: {why})"
            self._fail(job, OOM if memory else SANDBOX_FAILURE, detail, results, worker)

    def _expire(self, results: list[JobResult]) -> None:
        """Hung past the backstop: kill the worker, the job ends as ``timeout``."""
        now = time.monotonic()
        for slot in list(self._slots):
            if not slot.lease or now < slot.deadline:
                continue
            self.stats["backstop_kills"] += 1
            jobs, worker = slot.jobs, slot.worker
            waited = self._backstop(jobs)
            self._release(slot)
            self._replace(slot)
            for job in jobs:
                detail = (
                    f"no reply within the executor's backstop of {waited:.0f} s "
                    "(stage wall limits + slack); the Ray worker was killed"
                )
                self._fail(job, TIMEOUT, detail, results, worker)

    # -- results ------------------------------------------------------------------------
    def _fail(
        self, job: Job, outcome: str, detail: str, results: list[JobResult], worker: str = "ray"
    ) -> None:
        stage = StageOutcome("worker", outcome, None, detail, 0.0, "")
        self._deliver(JobResult(job, worker or "ray", (stage,)), results)

    def _deliver(self, result: JobResult, results: list[JobResult]) -> None:
        """At most one result per job reaches the controller."""
        key = (result.job.stage_set, result.job.job_id)
        if key in self._delivered:
            self.stats["duplicates_dropped"] += 1
            return
        self._delivered.add(key)
        results.append(result)
