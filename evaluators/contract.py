"""The evaluator contract: what a problem declares and what an evaluation returns.

Everything here is plain data so that it crosses process (and Ray) boundaries as
validated values, never as code.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, NamedTuple, Protocol, runtime_checkable

# Outcome classes of one sandboxed run. Only SANDBOX_FAILURE is retried: every other
# outcome is the candidate's own doing.
OK = "ok"
INVALID_RESULT = "invalid_result"
ERROR = "error"
TIMEOUT = "timeout"
OOM = "oom"
KILLED = "killed"
SANDBOX_FAILURE = "sandbox_failure"
OUTCOMES = (OK, INVALID_RESULT, ERROR, TIMEOUT, OOM, KILLED, SANDBOX_FAILURE)

# Stage sets: which stages a job runs (and what evaluate_batch(candidates, stage_set) gets)
SEARCH = "search"  # the problem's stages(): what selection sees
HELD_OUT = "held_out"  # held_out_stages(): reported, never selected on
REFERENCE = "reference"  # reference_stages(): published data sets, when present
STAGE_SETS = (SEARCH, HELD_OUT, REFERENCE)

# The artifact key (EvalResult.artifacts) of the program as scored, when the evaluation
# scored something other than the code as proposed (AutoNumerics tunes the constants
# first). It is stored with the evaluation; the dashboard's Code card shows it, and the
# stored code as proposed beside it. dashboards/program.py names it too (it imports db only).
EVALUATED_CODE = "evaluated_code"
ARTIFACT_CHARS = 100_000  # the most of a result's artifacts kept, all of them together

EVOLVE_BLOCK_START = "# EVOLVE-BLOCK-START"
EVOLVE_BLOCK_END = "# EVOLVE-BLOCK-END"


class InvalidResult(ValueError):
    """A value that does not meet the contract (NaN, a bool as a number, wrong type...)."""


class ScorerError(Exception):
    """A problem's trusted scorer failed; its message is the whole reason, where and what
    (a single-file problem's ``score()`` raises it with its file and line). Recorded as
    the candidate's ``error``, like any scorer exception, but without a generic prefix."""


class ProposalRejected(Exception):
    """An operator could not make a usable child; the reason is a short class name
    (e.g. "syntax_error", "no_op", "no_block") and is counted, never evaluated. Here,
    not in evolve, so that problems can bring operators of their own."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Candidate:
    """A program proposed for evaluation. ``genome`` is optional JSON (trees, vectors)."""

    code: str
    genome: Any = None


@dataclass(frozen=True)
class EvalResult:
    score: float  # the primary objective, higher is better
    metrics: Mapping[str, float] = field(default_factory=dict)  # all finite
    features: Mapping[str, float] = field(default_factory=dict)  # behaviour descriptors
    correct: bool = True  # passed the problem's validity checks
    feedback: str = ""  # text for the next prompt (errors, worst scenarios)
    artifacts: Mapping[str, str] = field(default_factory=dict)  # named texts: EVALUATED_CODE

    def __post_init__(self) -> None:
        object.__setattr__(self, "score", finite_number(self.score, "score"))
        object.__setattr__(self, "metrics", _finite_map(self.metrics, "metrics"))
        object.__setattr__(self, "features", _finite_map(self.features, "features"))
        if not isinstance(self.correct, bool):
            raise InvalidResult(f"correct must be a bool, got {type(self.correct).__name__}")
        if not isinstance(self.feedback, str):
            raise InvalidResult("feedback must be a string")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in self.artifacts.items()):
            raise InvalidResult("artifacts must map strings to strings")
        # kept bounded where the result is made, so that no path (a local worker's pipe,
        # Ray's object store, the database) carries more
        object.__setattr__(self, "artifacts", kept_artifacts(self.artifacts))


def kept_artifacts(artifacts: Mapping[str, str]) -> dict[str, str]:
    """The artifacts, in their order while they fit in ARTIFACT_CHARS. A longer one is left
    out, never cut: a cut program shown as the one scored would mislead more than the code
    as proposed does."""
    kept, size = {}, 0
    for key, text in artifacts.items():
        if size + len(key) + len(text) <= ARTIFACT_CHARS:
            kept[key] = text
            size += len(key) + len(text)
    return kept


def finite_number(value: Any, what: str = "value") -> float:
    """Strict number check: bools, strings, NaN and infinities are rejected; NumPy's
    scalars (np.float32, np.int64: what a score() computed with NumPy returns) are numbers."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidResult(f"{what} must be a number, got {type(value).__name__}")
    try:
        out = float(value)
    except OverflowError as exc:  # a 5000-digit int
        raise InvalidResult(f"{what} is too large") from exc
    if not math.isfinite(out):
        raise InvalidResult(f"{what} must be finite, got {out}")
    return out


def _finite_map(values: Mapping[str, Any], what: str) -> dict[str, float]:
    if not isinstance(values, Mapping):
        raise InvalidResult(f"{what} must be a mapping")
    out = {}
    for key, value in values.items():
        if not isinstance(key, str):
            raise InvalidResult(f"{what} keys must be strings")
        out[key] = finite_number(value, f"{what}[{key!r}]")
    return out


RESULT_KEYS = ("score", "metrics", "features", "correct", "feedback", "artifacts")


def result_from_value(value: Any) -> EvalResult:
    """Default scorer: a number is the score; a dict carries EvalResult's fields."""
    if isinstance(value, Mapping):
        extra = set(value) - set(RESULT_KEYS)
        missing = "" if "score" in value else "; 'score' is required and missing"
        if extra:
            extra_keys = sorted(map(str, extra))
            raise InvalidResult(
                f"unexpected result keys: {extra_keys} (allowed: {', '.join(RESULT_KEYS)})"
                + missing
            )
        if missing:
            raise InvalidResult(
                f"result has no 'score' (required; allowed keys: {', '.join(RESULT_KEYS)})"
            )
        return EvalResult(
            score=value["score"],
            metrics=value.get("metrics", {}),
            features=value.get("features", {}),
            correct=value.get("correct", True),
            feedback=value.get("feedback", ""),
            artifacts=value.get("artifacts", {}),
        )
    return EvalResult(score=finite_number(value, "score"))


# The most each limit may be: a week of time; sizes the kernel's rlimits hold (bytes in
# 63 bits); the kernel's own ceilings for open files (nr_open) and processes (pid_max).
LIMIT_MAX = {"wall_s": 604_800, "cpu_s": 604_800, "memory_mb": 1 << 40, "file_mb": 1 << 40,
             "open_files": 1 << 20, "processes": 1 << 22, "output_kb": 1 << 30,
             "result_kb": 1 << 30, "scratch_mb": 1 << 40}  # fmt: skip


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed run."""

    wall_s: float = 10.0
    cpu_s: float | None = None  # default: wall_s + 1
    # address space, each process; with a cgroup (sandbox/cgroups.py), memory_mb +
    # scratch_mb is also the job's whole memory: every process, tmpfs, shm and memfd
    memory_mb: int = 2048
    file_mb: int = 64
    open_files: int = 256
    processes: int = 64
    output_kb: int = 64  # stdout/stderr kept, each
    result_kb: int = 1024  # the JSON result line
    # the job folder (TMPDIR), in total: a tmpfs where the kernel allows a private mount
    # namespace (sandbox/mounts.py), so its pages count as memory while the job runs
    scratch_mb: int = 256

    def __post_init__(self) -> None:
        """Every limit must be > 0 and at most LIMIT_MAX's: the sandbox hands them to
        setrlimit, where a negative memory_mb wraps around to no limit at all, a wall_s of
        0 fails every program (and so blames the initial program for what is an option's
        typo), and an infinite or 10^30 one failed each run as a sandbox failure."""
        for spec in fields(self):
            value = getattr(self, spec.name)
            if value is None and spec.name == "cpu_s":  # cpu_s: None means wall_s + 1
                continue
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not number or not value > 0:  # `not > 0` also refuses NaN
                raise ValueError(f"{spec.name} must be > 0, got {value!r}")
            if not value <= LIMIT_MAX[spec.name]:
                raise ValueError(
                    f"{spec.name} must be at most {LIMIT_MAX[spec.name]:,}, got {value!r}"
                )

    @property
    def cpu_seconds(self) -> float:
        return self.cpu_s if self.cpu_s is not None else self.wall_s + 1.0


@dataclass(frozen=True)
class SandboxResult:
    """What the sandbox runner returns: a classified outcome and, if ok, validated JSON."""

    outcome: str
    value: Any = None  # validated JSON value from the harness (only when outcome == ok)
    detail: str = ""  # readable reason for any outcome but ok
    stdout: str = ""
    stderr: str = ""
    duration_s: float = 0.0
    isolation: str = ""  # e.g. "bwrap+uid+pidns+cgroup", "uid+rlimits", "rlimits"


class Reply(NamedTuple):  # a tuple: built once per message of a feed, so kept cheap
    """A candidate's answer to one message of a feed, and the seconds it took, measured
    outside the candidate's process (from the first byte of the message sent to the answer
    read)."""

    value: Any
    seconds: float


@dataclass(frozen=True)
class Feed:
    """Input the candidate may only see one message at a time (an online problem).

    Whatever a harness holds, the candidate holds too: it shares the harness's process and
    can read its frames and objects, so an online policy handed the whole instance can plan
    offline. With a feed, ``driver`` ("package.module:function", trusted) runs OUTSIDE the
    candidate's process as a generator ``driver(**params)``: it yields each message, gets
    back a ``Reply``, raises ``InvalidResult`` for a reply that breaks the rules, and returns
    the JSON value the stage's ``score`` gets (its own record of what happened; the
    harness's return value is not used). The stage's harness then returns a function
    ``step(message) -> reply`` that the sandbox calls once per message. ``params`` never
    reach the candidate's process.
    """

    driver: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Stage:
    """One step of a cascade.

    ``harness`` names a function ("package.module:function" or "/path/file.py:function")
    that runs *inside the sandbox* as ``harness(candidate_module, **params)`` and returns
    JSON. ``score`` runs in the trusted worker on that validated JSON and builds the
    EvalResult; it must recompute anything a candidate could forge. ``passes`` decides
    whether the cascade goes on to the next stage. ``feed``: see ``Feed``, for input the
    candidate must not see all at once. ``private_paths``: files and folders its candidate
    must not read, such as data files only the trusted side uses (the sandbox shows / read
    only, but whole): each appears empty to the candidate where the sandbox gives it a
    mount namespace of its own (root, isolation bwrap or uid: sandbox/mounts.py).
    """

    name: str
    harness: str
    params: Mapping[str, Any] = field(default_factory=dict)
    score: Callable[[Any], EvalResult] = result_from_value
    limits: Limits = field(default_factory=Limits)
    passes: Callable[[EvalResult], bool] = lambda result: result.correct
    feed: Feed | None = None
    private_paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class FeatureAxis:
    """A MAP-Elites axis: feature name, range and number of cells.

    ``integer=True`` declares a feature that takes whole values only (a count): the axis
    then has at most one cell per whole value in [low, high], so a count 0..5 gets 6 cells,
    not 10 of which 4 could never be filled (evolve/strategy.py: axis_cells)."""

    name: str
    low: float
    high: float
    bins: int = 10
    integer: bool = False

    def __post_init__(self) -> None:
        """A wrong axis fails where it is declared: 0 bins divided by zero in the
        summary after the whole campaign had run, and a NaN bound stopped it midway."""
        where = f"FeatureAxis {self.name!r}"
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"a FeatureAxis needs a name (a non-empty string), got {self.name!r}")
        for bound in (self.low, self.high):
            if (
                isinstance(bound, bool)
                or not isinstance(bound, numbers.Real)
                or not math.isfinite(bound)
            ):
                raise ValueError(f"{where}: low and high must be finite numbers, got {bound!r}")
        if not self.low <= self.high:  # equal: one cell (a feature that never varies)
            raise ValueError(f"{where}: low must not exceed high, got [{self.low}, {self.high}]")
        if (
            isinstance(self.bins, bool)
            or not isinstance(self.bins, numbers.Integral)
            or not 1 <= self.bins <= 10_000
        ):
            raise ValueError(
                f"{where}: bins must be a whole number in 1..10,000, got {self.bins!r}"
            )


@runtime_checkable
class Problem(Protocol):
    name: str  # "family.name"
    description: str

    def initial_programs(self) -> list[Candidate]: ...

    def stages(self) -> list[Stage]: ...


@dataclass(frozen=True)
class StageOutcome:
    """One stage's record for the database."""

    stage: str
    outcome: str
    result: EvalResult | None
    detail: str
    duration_s: float
    isolation: str


@dataclass(frozen=True)
class CascadeOutcome:
    """The whole cascade of one candidate: the final result is the last stage run."""

    stages: Sequence[StageOutcome]

    @property
    def final(self) -> StageOutcome:
        return self.stages[-1]

    @property
    def outcome(self) -> str:
        return self.final.outcome

    @property
    def result(self) -> EvalResult | None:
        return self.final.result
