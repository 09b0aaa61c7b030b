"""Ray plumbing of the executor: connecting, what one evaluation slot asks for, and the
executor's backstop timeout. Kept apart from the scheduling loop in ``workers.ray``."""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Mapping
from typing import Any

from evaluators.resources import resources_error
from workers.evaluate import stages_for
from workers.jobs import HELD_OUT

log = logging.getLogger(__name__)

# Per stage, beyond its wall limit: the sandbox runner's own backstop (BACKSTOP_S) plus the
# trusted scorer. A whole dispatch (a batch) also gets BACKSTOP_MARGIN_S once.
STAGE_SLACK_S = 5.0
BACKSTOP_MARGIN_S = 30.0
UNKNOWN_STAGES_BACKSTOP_S = 600.0
MEMORY_KILL_MARKERS = ("running low on memory", "memory monitor", "OutOfMemoryError")


def import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:  # the controller turns this into one readable line
        raise ImportError(f"the Ray executor needs ray (pip install 'ray>=2.9'): {exc}") from exc
    return ray


def connect(ray: Any, address: str) -> bool:
    """Connect the driver; True when this call did it (then the executor shuts Ray down).

    ``address`` "" means Ray's own lookup: RAY_ADDRESS, then a cluster started on this
    machine with ``ray start``, else a fresh local instance."""
    if ray.is_initialized():
        return False
    unreachable = _unreachable(address)
    if unreachable:
        raise ValueError(
            f"cannot reach the Ray cluster at {address!r} ({unreachable}); start its head "
            "with `ray start --head --port PORT` and pass --ray-address HOST:PORT"
        )
    try:
        # Workers' output stays in their log files: the campaign's terminal view owns stdout.
        ray.init(address=address or None, log_to_driver=False)
    except Exception as exc:
        where = f"at {address!r}" if address else "(Ray's lookup: RAY_ADDRESS or a local cluster)"
        raise ValueError(
            f"cannot connect to the Ray cluster {where}: {exc}; start one with "
            "`ray start --head` and pass --ray-address HOST:6379, or omit it for a local instance"
        ) from exc
    return True


def _unreachable(address: str, timeout: float = 5.0) -> str:
    """Why a plain HOST:PORT address cannot be reached ("" when it can, or when the address
    is another form: "auto", "local", "ray://..."). Ray itself would retry for minutes."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or "://" in address:
        return ""
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return ""
    except OSError as exc:
        return exc.strerror or type(exc).__name__


def slot_resources(problem: Any, cluster: Mapping[str, float]) -> tuple[dict[str, Any], list[str]]:
    """Ray options of one evaluation slot from the problem's optional ``resources()``
    (``{"num_cpus": 1, "num_gpus": 0.25, "memory": bytes, "resources": {...}}``).

    A GPU fraction is asked for only when the cluster has GPUs; otherwise the slot runs on
    CPU (JAX then falls back to its CPU backend) and a note says so."""
    declared = getattr(problem, "resources", None)
    wanted = dict(declared() or {}) if callable(declared) else {}
    error = resources_error(wanted)  # a single-file RESOURCES was checked at load already
    if error:
        raise ValueError(f"problem resources(): {error}")
    notes: list[str] = []
    options: dict[str, Any] = {"num_cpus": float(wanted.get("num_cpus", 1))}
    gpus = float(wanted.get("num_gpus", 0) or 0)
    if gpus > 0 and cluster.get("GPU", 0) > 0:
        options["num_gpus"] = gpus
    elif gpus > 0:
        notes.append(f"the problem asks for {gpus:g} GPU per evaluation; the cluster has none: CPU")
    if wanted.get("memory"):
        options["memory"] = int(wanted["memory"])
    if wanted.get("resources"):
        options["resources"] = {str(k): float(v) for k, v in dict(wanted["resources"]).items()}
    return options, notes


def check_feasible(options: Mapping[str, Any], nodes: list[dict[str, Any]]) -> None:
    """Refuse up front, in one line, a slot that no live node can host (it would wait
    forever); an autoscaling cluster can set ``resources`` the autoscaler knows."""
    need = {"CPU": options.get("num_cpus", 1), "GPU": options.get("num_gpus", 0)}
    need["memory"] = options.get("memory", 0)
    need.update(options.get("resources", {}))
    alive = [n.get("Resources", {}) for n in nodes if n.get("Alive")]
    if any(all(have.get(k, 0) >= v for k, v in need.items() if v) for have in alive):
        return
    largest = max(alive, key=lambda r: r.get("CPU", 0), default={})
    raise ValueError(
        f"no node of the Ray cluster can run one evaluation: it needs "
        f"{ {k: v for k, v in need.items() if v} }, the largest node has "
        f"{ {k: largest.get(k, 0) for k in need} }; add a bigger node or lower resources()"
    )


def stage_budget_s(problem: Any, stage_set: str) -> float:
    """Seconds one job of ``stage_set`` may take: the sum of its stages' wall limits plus
    slack per stage (the sandbox enforces each limit itself; this is only the backstop for a
    hung scorer or a wedged worker)."""
    try:
        stages = stages_for(problem, stage_set)
        budget = sum(float(s.limits.wall_s) + STAGE_SLACK_S for s in stages) or (
            UNKNOWN_STAGES_BACKSTOP_S
        )
    except Exception:
        budget = UNKNOWN_STAGES_BACKSTOP_S
    if stage_set == HELD_OUT:  # the controller waits this long for it (a full distillation)
        budget = max(budget, float(getattr(problem, "held_out_timeout_s", 0) or 0))
    # A problem whose evaluations train models says how long one may take: its first
    # batch on a cold worker trains a teacher for minutes first (compression.distill).
    return max(budget, float(getattr(problem, "eval_timeout_s", 0) or 0))


class Backstop:
    """Seconds a worker may take to answer a batch of jobs: their stage budgets
    (``stage_budget_s``, cached per stage set) plus ``margin_s`` once; ``fixed_s`` instead
    when given (tests); no problem to size it from: no backstop (inf). Both executors kill
    a worker past it."""

    def __init__(self, problem: Any, fixed_s: float | None = None,
                 margin_s: float = BACKSTOP_MARGIN_S) -> None:  # fmt: skip
        self.problem, self.fixed_s, self.margin_s = problem, fixed_s, float(margin_s)
        self._budgets: dict[str, float] = {}  # stage set -> seconds one job may take

    def __call__(self, jobs: Any) -> float:
        if self.fixed_s is not None:
            return self.fixed_s
        if self.problem is None:
            return float("inf")
        total = 0.0
        for job in jobs:
            if job.stage_set not in self._budgets:
                self._budgets[job.stage_set] = stage_budget_s(self.problem, job.stage_set)
            total += self._budgets[job.stage_set]
        return total + self.margin_s


def is_memory_kill(exc: BaseException) -> bool:
    """Did Ray's memory monitor (or an OOM eviction) end this worker?"""
    if type(exc).__name__ == "OutOfMemoryError":
        return True
    text = str(exc)
    return any(marker in text for marker in MEMORY_KILL_MARKERS)


CAUSE_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt): \S")


def describe_error(exc: BaseException) -> str:
    """One readable line: the innermost "SomeError: message" of a Ray traceback, if any."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    causes = [line for line in lines if CAUSE_LINE.match(line)]
    if causes:
        return causes[-1][:500]
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:500]
