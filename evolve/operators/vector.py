"""GA operators on a parameter vector: for problems that tune numbers, not code.

The space is the problem's ``parameters`` (a tuple of ``evaluators.Parameter``); a child is
``Candidate(code=problem.render_params(values), genome=values)`` (the default rendering is
``evaluators.render_params``; a problem may render its own program, as long as it keeps the
``PARAMS = {...}`` literal). A parent's values come from its genome, or, when it has none or
one that no longer fits the space (an LLM edited it), from the PARAMS in its code; a parent
whose PARAMS are missing or out of bounds is rejected ("bad_params"), never guessed at.

Moves are made in each parameter's search space (the log of a log parameter), with steps
a fraction of its range, so one ``sigma`` fits every parameter. Values are snapped to what
a parameter can take (bounds, whole numbers, 6 significant digits). A child equal to its
parent(s) is retried up to ``max_tries`` times, then rejected ("no_op"), as the AST
operators do. Every draw comes from the rng passed in: a one-worker campaign stays
deterministic for its seed.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from db.records import ProgramRecord
from evaluators.contract import Candidate
from evaluators.parameters import Parameter, check_params, check_space, read_params, render_params
from evolve.operators.base import Context, ProposalRejected, check_tries

Values = dict[str, int | float]


def parameter_space(problem: Any) -> tuple[Parameter, ...]:
    """The problem's ``parameters``, checked; ValueError naming the fix."""
    space = getattr(problem, "parameters", None)
    if space is None:
        name = getattr(problem, "name", None) or "the problem"
        instead = (
            "it evolves a formula: use tree_mutate and tree_crossover"
            if getattr(problem, "expression", None) is not None
            else "use ast_mutate and ast_crossover to evolve code"
        )
        raise ValueError(
            f"{name} declares no parameters: vector_mutate and vector_crossover tune a "
            f"problem's `parameters` (PARAMETERS in a single-file problem); {instead}"
        )
    return check_space(space, "the problem's parameters")


def values_of(parent: ProgramRecord, space: Sequence[Parameter]) -> Values:
    """A parent's values: its genome when that fits the space, else its code's PARAMS."""
    genome = getattr(parent, "genome", None)
    if genome is not None:
        try:
            return check_params(genome, space, "genome")
        except ValueError:
            pass  # the code is what was evaluated: read it
    try:
        return read_params(parent.code, space)
    except ValueError as exc:
        raise ProposalRejected("bad_params", f"parent {parent.id}: {exc}") from None


def child(problem: Any, values: Values) -> Candidate:
    render = getattr(problem, "render_params", None) or render_params
    return Candidate(code=render(values), genome=dict(values))


class _VectorOperator:
    name = ""
    arity = 1

    def check_problem(self, problem: Any) -> None:
        """Called when a campaign builds its operators: a problem without parameters is one
        line then, not a rejected proposal per evaluation."""
        parameter_space(problem)


class VectorMutation(_VectorOperator):
    """Gaussian mutation: each parameter moves with probability ``rate`` (default 1/n, at
    least one moves), by a normal step of ``sigma`` times its range (in log space for a log
    parameter), clipped to the bounds; an integer that the step leaves in place moves by
    one in its direction."""

    name = "vector_mutate"
    arity = 1

    def __init__(
        self, *, sigma: float = 0.1, rate: float | None = None, max_tries: int = 10
    ) -> None:
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not 0 < sigma <= 10:
            raise ValueError(f"vector_mutate: sigma must be in (0, 10] (a fraction of each range), got {sigma!r}")  # fmt: skip
        if rate is not None and (isinstance(rate, bool) or not 0 < rate <= 1):
            raise ValueError(f"vector_mutate: rate must be in (0, 1] or unset (1/n), got {rate!r}")  # fmt: skip
        self.sigma = float(sigma)
        self.rate = rate
        self.max_tries = check_tries(max_tries)

    def propose(
        self, parents: Sequence[ProgramRecord], ctx: Context, rng: random.Random
    ) -> Candidate:
        if len(parents) < 1:
            raise ValueError("vector_mutate needs one parent")
        space = parameter_space(ctx.problem)
        return child(ctx.problem, self.mutate(values_of(parents[0], space), space, rng))

    def mutate(self, values: Values, space: Sequence[Parameter], rng: random.Random) -> Values:
        """A mutant of ``values`` that differs from it, or ProposalRejected("no_op")."""
        rate = self.rate if self.rate is not None else 1.0 / len(space)
        for _ in range(self.max_tries):
            moved = [i for i in range(len(space)) if rng.random() < rate]
            if not moved:
                moved = [rng.randrange(len(space))]
            out = dict(values)
            for i in moved:
                p = space[i]
                out[p.name] = self._move(p, values[p.name], rng.gauss(0.0, self.sigma * p.span))
            if out != values:
                return out
        raise ProposalRejected("no_op", f"{self.max_tries} mutations left every value unchanged")

    @staticmethod
    def _move(p: Parameter, old: int | float, step: float) -> int | float:
        """``old`` moved by ``step`` in p's search space; at a bound, a step out of the
        range goes back in (clipped, it would change nothing), and an integer that the step
        leaves in place moves by one."""
        for direction in (1.0, -1.0):
            new = p.snap(p.from_unit(p.to_unit(old) + direction * step))
            if new == old and p.integer:
                new = p.snap(old + (direction if step > 0 else -direction))
            if new != old:
                return new
        return old  # a step too small to show in 6 digits: the try is a no-op


class VectorCrossover(_VectorOperator):
    """Crossover of two parents' values. ``method = "sbx"`` (default): simulated binary
    crossover (Deb's, bounded, as DEAP's cxSimulatedBinaryBounded) of each differing
    parameter with probability 1/2, spread by ``eta`` (larger: children nearer their
    parents); ``"uniform"``: each value from either parent."""

    name = "vector_crossover"
    arity = 2
    METHODS = ("sbx", "uniform")

    def __init__(self, *, method: str = "sbx", eta: float = 15.0, max_tries: int = 10) -> None:
        if method not in self.METHODS:
            raise ValueError(f"vector_crossover: method must be one of {', '.join(self.METHODS)}, got {method!r}")  # fmt: skip
        if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not 0 <= eta <= 1000:
            raise ValueError(f"vector_crossover: eta must be in [0, 1000], got {eta!r}")
        self.method = method
        self.eta = float(eta)
        self.max_tries = check_tries(max_tries)

    def propose(
        self, parents: Sequence[ProgramRecord], ctx: Context, rng: random.Random
    ) -> Candidate:
        if len(parents) < 2:
            raise ValueError("vector_crossover needs two parents")
        space = parameter_space(ctx.problem)
        a, b = values_of(parents[0], space), values_of(parents[1], space)
        return child(ctx.problem, self.cross(a, b, space, rng))

    def cross(self, a: Values, b: Values, space: Sequence[Parameter], rng: random.Random) -> Values:
        """A child of ``a`` and ``b`` equal to neither, or ProposalRejected("no_op")."""
        if a == b:
            raise ProposalRejected("no_op", "the parents have the same values")
        for _ in range(self.max_tries):
            out = dict(a)
            for p in space:
                x, y = a[p.name], b[p.name]
                if self.method == "uniform":
                    out[p.name] = x if rng.random() < 0.5 else y
                elif x != y and rng.random() < 0.5:
                    out[p.name] = p.snap(p.from_unit(self._sbx(p, x, y, rng)))
            if out != a and out != b:
                return out
        raise ProposalRejected("no_op", f"{self.max_tries} crossovers gave back a parent")

    def _sbx(self, p: Parameter, x: float, y: float, rng: random.Random) -> float:
        """One of the two SBX children of x and y (in p's search space)."""
        lo, hi = p.to_unit(p.low), p.to_unit(p.high)
        x1, x2 = sorted((p.to_unit(x), p.to_unit(y)))
        u = rng.random()
        power = 1.0 / (self.eta + 1.0)
        children = []
        for beta in (1.0 + 2.0 * (x1 - lo) / (x2 - x1), 1.0 + 2.0 * (hi - x2) / (x2 - x1)):
            alpha = 2.0 - beta ** -(self.eta + 1.0)
            if u <= 1.0 / alpha:
                beta_q = (u * alpha) ** power
            else:
                beta_q = (1.0 / (2.0 - u * alpha)) ** power
            children.append(beta_q)
        c1 = 0.5 * (x1 + x2 - children[0] * (x2 - x1))
        c2 = 0.5 * (x1 + x2 + children[1] * (x2 - x1))
        return min(max(c1 if rng.random() < 0.5 else c2, lo), hi)
