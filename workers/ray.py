"""Ray executor: the local pool's interface, with its workers spread over a Ray cluster.

One Ray actor per evaluation slot (``workers.ray_actor.EvalActor``), each a long-lived
worker process holding a warm sandbox runner and a problem cache, exactly like a local
worker. The executor keeps its own queue and hands a batch (up to the problem's
``batch_size`` jobs: one call to ``evaluate_batch`` when the problem has it) to one idle,
ready actor at a time, so it always knows which jobs a dead or hung worker held.

Fault tolerance (see docs/ray.md):

* Every dispatch carries a lease token. A reply is accepted only for the live lease of
  its slot, and at most one result per job (stage set, id) is ever handed to the
  controller, whose ``record_evaluation`` fence is the second line of defence.
* A worker or node dying mid-evaluation (ActorDiedError, node death, Ray's memory
  monitor): the actor is replaced and its jobs re-queued with ``attempt + 1``, at most
  ``MAX_WORKER_DEATHS_PER_JOB`` times per job; then the job ends as ``sandbox_failure``
  (``oom`` when Ray's memory monitor did the killing), never retried forever.
* A reply that does not come within the backstop (the sum of the stages' wall limits plus
  slack, per job, plus a margin) ends the job as ``timeout``: the actor is killed (Ray's
  equivalent of ``ray.cancel(force=True)`` for actor tasks) and replaced.
* Actors run with ``max_restarts=0, max_task_retries=0``: Ray never re-runs an evaluation
  behind our back, so the attempt number in the database is the real one.

The replies, deaths, backstop expiries and the at-most-once delivery of results are the
RayReplies mixin of workers/ray_replies.py.
"""

from __future__ import annotations

import itertools
import logging
import time
import uuid
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from evaluators.cascade import problem_preload
from evaluators.contract import ERROR
from evaluators.sandbox.runner import sandbox_modules
from workers.jobs import MAX_WORKER_DEATHS_PER_JOB, Job, JobResult, WorkerDeaths
from workers.ray_actor import EvalActor
from workers.ray_cluster import (
    BACKSTOP_MARGIN_S,
    Backstop,
    check_feasible,
    connect,
    import_ray,
    slot_resources,
)
from workers.ray_codec import job_to_wire
from workers.ray_replies import RayReplies

log = logging.getLogger(__name__)

SHUTDOWN_WAIT_S = 5.0


@dataclass(eq=False)  # slots are compared by identity
class Slot:
    actor: Any
    ready_ref: Any = None  # actor.ready(): the sandbox is up
    ready: bool = False
    worker: str = ""
    pid: int = 0
    lease: str = ""  # the live lease, "" when idle
    jobs: list[Job] = field(default_factory=list)
    ref: Any = None
    deadline: float = 0.0


class RayExecutor(RayReplies):
    def __init__(
        self,
        config: Any,
        problem: Any,
        *,
        backstop_s: float | None = None,
        backstop_margin_s: float = BACKSTOP_MARGIN_S,
        max_deaths_per_job: int = MAX_WORKER_DEATHS_PER_JOB,
    ) -> None:
        """``config``: a CampaignConfig (workers, isolation, ray_address). ``backstop_s``
        overrides the computed per-dispatch backstop (tests)."""
        ray = import_ray()
        self._ray = ray
        self._owns_ray = connect(ray, getattr(config, "ray_address", "") or "")
        try:
            workers = int(config.workers)
            if workers < 1:
                raise ValueError("workers must be at least 1")
            self.batch_size = max(1, int(getattr(problem, "batch_size", 1)))
            self.capacity = workers * self.batch_size
            self.isolation = getattr(config, "isolation", "auto")
            self.modules = sandbox_modules(
                problem_preload(problem), numpy=getattr(problem, "preload_numpy", True)
            )
            self.resources, self.notes = slot_resources(problem, ray.cluster_resources())
            check_feasible(self.resources, ray.nodes())
        except Exception:
            self._shutdown_ray()
            raise
        for note in self.notes:
            log.warning("ray executor: %s", note)
        self.isolation_level = ""
        self.stats: Counter[str] = Counter()
        self._backstop = Backstop(problem, backstop_s, backstop_margin_s)
        # SPREAD: slots land on as many nodes as possible, so one node's death costs few.
        self._actor_class = ray.remote(EvalActor).options(
            max_restarts=0, max_task_retries=0, scheduling_strategy="SPREAD", **self.resources
        )
        self._epoch = uuid.uuid4().hex[:12]  # leases of another executor never match
        self._lease_ids = itertools.count(1)
        self._queue: deque[Job] = deque()
        self._deaths = WorkerDeaths(max_deaths_per_job)
        self._delivered: set[tuple[str, int]] = set()
        self._refs: dict[Any, tuple[Slot, str]] = {}  # ref -> (slot, "ready" | "eval")
        self._start_failures = 0
        self._early: list[JobResult] = []  # failed before dispatch, returned by completed()
        self._closed = False
        self._slots = [self._start() for _ in range(workers)]

    # -- slots --------------------------------------------------------------------------
    def _start(self) -> Slot:
        slot = Slot(self._actor_class.remote(self.isolation, self.modules))
        slot.ready_ref = slot.actor.ready.remote()
        self._refs[slot.ready_ref] = (slot, "ready")
        return slot

    def _replace(self, slot: Slot) -> None:
        """Kill the slot's actor (whatever it is doing) and start a fresh one in its place."""
        for ref in (slot.ready_ref, slot.ref):
            self._refs.pop(ref, None)
        try:
            self._ray.kill(slot.actor, no_restart=True)
        except Exception:  # already dead
            pass
        fresh = self._start()
        self._slots[self._slots.index(slot)] = fresh

    # -- the Executor interface ---------------------------------------------------------
    def submit(self, jobs: Sequence[Job]) -> None:
        for job in jobs:
            self._delivered.discard((job.stage_set, job.job_id))  # a deliberate resubmission
        self._queue.extend(jobs)
        self._dispatch()

    @property
    def worker_pids(self) -> list[int]:
        """Process ids of the ready Ray workers (for operators and tests)."""
        return [slot.pid for slot in self._slots if slot.ready]

    @property
    def in_flight(self) -> int:
        return len(self._queue) + sum(len(slot.jobs) for slot in self._slots)

    def completed(self, timeout: float) -> list[JobResult]:
        results, self._early = self._early, []
        self._expire(results)
        if results:
            timeout = 0.0
        refs = list(self._refs)
        if refs:
            wait_s = max(0.0, min(timeout, self._next_deadline() - time.monotonic()))
            ready, _ = self._ray.wait(refs, num_returns=1, timeout=wait_s)
            if ready:
                ready, _ = self._ray.wait(refs, num_returns=len(refs), timeout=0)
            for ref in ready:
                if ref in self._refs:
                    slot, kind = self._refs.pop(ref)
                    if kind == "ready":
                        self._on_ready(slot, ref, results)
                    else:
                        self._on_reply(slot, ref, results)
            self._expire(results)
        elif timeout > 0:
            time.sleep(timeout)
        self._dispatch()
        return results

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        idle = [s for s in self._slots if s.ready and not s.lease]
        try:  # close the idle workers' sandboxes cleanly; busy ones are simply killed
            goodbyes = [s.actor.shutdown.remote() for s in idle]
            if goodbyes:
                self._ray.wait(goodbyes, num_returns=len(goodbyes), timeout=SHUTDOWN_WAIT_S)
        except Exception:  # Ray already gone
            pass
        for slot in self._slots:
            try:
                self._ray.kill(slot.actor, no_restart=True)
            except Exception:
                pass
        self._refs.clear()
        self._shutdown_ray()

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- dispatch -----------------------------------------------------------------------
    def _dispatch(self) -> None:
        # Fewer jobs than full batches for the idle actors are shared out evenly (as the
        # local executor does: a campaign's held-out checks must not queue on one actor).
        idle = sum(1 for slot in self._slots if slot.ready and not slot.lease)
        share = -(-len(self._queue) // max(1, idle))
        for slot in list(self._slots):
            while self._queue and slot.ready and not slot.lease:
                jobs, wire = [], []
                while self._queue and len(jobs) < min(self.batch_size, share):
                    job = self._queue.popleft()
                    try:
                        wire.append(job_to_wire(job))
                    except (TypeError, ValueError) as exc:  # a genome that is not JSON
                        self._fail(job, ERROR, f"job cannot be sent to Ray: {exc}", self._early)
                        continue
                    jobs.append(job)
                if not jobs:
                    continue
                slot.lease = f"{self._epoch}-{next(self._lease_ids)}"
                slot.jobs = jobs
                slot.deadline = time.monotonic() + self._backstop(jobs)
                slot.ref = slot.actor.evaluate.remote(slot.lease, wire)
                self._refs[slot.ref] = (slot, "eval")
                self.stats["dispatches"] += 1
                self.stats["jobs_dispatched"] += len(jobs)

    def _next_deadline(self) -> float:
        deadlines = [slot.deadline for slot in self._slots if slot.lease]
        return min(deadlines, default=float("inf"))

    def _shutdown_ray(self) -> None:
        if self._owns_ray:
            self._owns_ray = False
            try:
                self._ray.shutdown()
            except Exception:
                pass
