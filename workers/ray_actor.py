"""The worker side of the Ray executor: one actor per evaluation slot.

Each actor is a long-lived Ray worker process holding what a local worker holds: a warm
``SandboxRunner`` (every candidate still runs in the sandbox, inside this process's
children) and a ``ProblemCache`` (problems are built here, by name, never shipped). Its
``evaluate`` is the local worker's loop body: ``evaluate_jobs`` on a batch, with jobs and
results crossing as JSON values (see ``workers.ray_codec``) and the lease token echoed so
the driver can fence stale replies.

This module does not import ray: the executor wraps the class with ``ray.remote``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from typing import Any

from workers.ray_codec import job_from_wire, result_to_wire

# Ray names a busy actor's process "ray::EvalActor.evaluate" (see /proc/PID/cmdline):
# the tests find a worker in the middle of an evaluation by that title.
ACTOR_CLASS_NAME = "EvalActor"


class EvalActor:
    def __init__(self, isolation: str, modules: Sequence[str]) -> None:
        """``modules``: everything the sandbox preloads (``sandbox_modules``)."""
        from evaluators.sandbox import SandboxRunner
        from workers.evaluate import ProblemCache

        self.runner = SandboxRunner(preload=modules, isolation=isolation)
        self.problems = ProblemCache()
        self.name = f"ray-{socket.gethostname()}-{os.getpid()}"

    def ready(self) -> dict[str, Any]:
        return {"isolation": self.runner.isolation, "worker": self.name, "pid": os.getpid()}

    def evaluate(self, lease: str, jobs: list[dict[str, Any]]) -> dict[str, Any]:
        from workers.evaluate import evaluate_jobs

        decoded = [job_from_wire(job) for job in jobs]
        results = evaluate_jobs(decoded, self.runner, self.problems, self.name)
        return {"lease": lease, "results": [result_to_wire(r) for r in results]}

    def shutdown(self) -> None:
        self.runner.close()
