"""``packing.circles*``: n disjoint circles in the unit square, maximising the sum of radii.

Two forms of the same problem, one class each:

- ``CircleCentres`` (``packing.circles26``, ``packing.circles32``): a candidate is 2n centre
  coordinates in [0, 1] (a ``PARAMS`` dict, evolved by the vector GA); the trusted scorer
  gives them the best radii by linear programming. The form the genetic operators search.
- ``CircleCode`` (``packing.circles26_code``): a candidate is a Python program whose
  ``construct()`` returns centres and radii (OpenEvolve's and ShinkaEvolve's form, for LLM
  campaigns); it runs in the sandbox and its radii are verified, never trusted.

A deterministic geometry problem has no held-out set: there is no data to overfit, and the
score on any other "split" would be the same number. Neither form declares one.

Each variant is one line: ``register_circles("packing.circles40", 40)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from evaluators.contract import Candidate, FeatureAxis, Limits, Stage
from evaluators.parameters import Parameter, render_params
from evaluators.registry import register_problem
from problems.packing import layouts
from problems.packing.scoring import CentresScorer, ConstructScorer, passes

CENTRES = "centres"
CODE = "code"
FORMS = (CENTRES, CODE)

TASK = """\
Pack {n} disjoint circles into the unit square [0, 1] x [0, 1] so that the sum of their
radii is as large as possible. Every circle must lie inside the square (x - r >= 0,
x + r <= 1, the same for y), no two may overlap (r_i + r_j <= distance between centres),
and radii must be >= 0; each rule is checked to within 1e-9 and a packing that breaks one
scores 0. The score is the sum of the radii, recomputed by the evaluator."""

CENTRES_TASK = """
A candidate is the {n} centres only, as PARAMS = {{"x0": ..., "y0": ..., "x1": ...}}
(coordinates in [0, 1]); the evaluator gives them the largest radii they allow, by
solving the linear program max sum(r) s.t. r_i + r_j <= d_ij and r_i <= the distance to
the nearest side. Move the centres: circles of different sizes, rows that alternate their
counts and circles pressed against the sides and corners pack more than a square grid."""

CODE_TASK = """
A candidate is a Python program whose construct() returns (centers, radii): a ({n}, 2)
array of centres and a ({n},) array of radii (numpy arrays or lists of floats). It runs in
a sandbox with numpy and scipy.optimize (nothing else outside the standard library) and
{wall_s:g} seconds of wall time. Useful ideas: place the centres well (hexagonal rows of
alternating counts, larger circles in the middle, smaller ones in the corners and along
the sides), then compute the radii that fit them, e.g. by a linear program (maximise
sum(r) subject to r_i + r_j <= d_ij and r_i <= the distance to each side), or optimise
centres and radii together (scipy.optimize.minimize with SLSQP and the constraints as
inequalities); return radii a little below the constraints' limits rather than above."""

# the published sums for n = 26 (/work/shared/reference: peers.md, openevolve.md), all
# reached by LLM-guided systems; those notes give no figure for any other n
PUBLISHED_26 = (
    ("ShinkaEvolve", 2.63598),
    ("EoH", 2.63594),
    ("AlphaEvolve", 2.63586),
    ("OpenEvolve", 2.634292),
    ("DeepEvolve", 2.494),
)


def known(n: int) -> str:
    """The best published sum, where the reference notes have one: an LLM's sense of how
    far its program is from the best known (OpenEvolve's example scores sum / 2.635)."""
    if n != 26:
        return ""
    system, total = max(PUBLISHED_26, key=lambda row: row[1])
    return f"\nThe best published sum for {n} circles is {total} ({system}, LLM-guided)."


class _Circles:
    """What both forms share: n, the task, the limits, the MAP-Elites axes."""

    form: ClassVar[str] = ""
    feature_axes: ClassVar[list[FeatureAxis]] = [
        # how unequal the radii are (std / mean): the best packings mix sizes
        FeatureAxis("radius_spread", 0.0, 0.5, 10),
        # share of circles touching a side of the square
        FeatureAxis("wall_share", 0.0, 1.0, 10),
    ]

    def __init__(self, name: str, n: int, wall_s: float, memory_mb: int) -> None:
        if isinstance(n, bool) or not isinstance(n, int) or not 2 <= n <= 1000:
            raise ValueError(f"n must be a whole number in 2..1000, got {n!r}")
        self.name = name
        self.n = n
        self.limits = Limits(wall_s=wall_s, memory_mb=memory_mb)


class CircleCentres(_Circles):
    """The centres form: 2n parameters; radii by the LP in the trusted scorer."""

    form = CENTRES
    preload: ClassVar[tuple[str, ...]] = ("problems.packing.harness",)
    preload_numpy = False  # the harness hands out a dict: the sandbox needs no numpy
    # aging tournaments beat the islands' MAP-Elites grids here on every seed tried: best
    # of 3,000 evaluations 2.400 / 2.351 / 2.320 against 2.335 / 2.343 / 2.285 (seeds 1-3,
    # bench/results/circle_packing.md); one objective, little for the grid's diversity to do
    default_strategy = "regularized"

    def __init__(self, name: str, n: int, wall_s: float = 10.0, memory_mb: int = 512) -> None:
        super().__init__(name, n, wall_s, memory_mb)
        self.description = TASK.format(n=n) + known(n) + CENTRES_TASK.format(n=n)
        self.parameters = tuple(Parameter(key, 0.0, 1.0) for key in layouts.centre_names(n))
        self._stages = [
            Stage(
                "packing",
                "problems.packing.harness:centres",
                {},
                CentresScorer(n, self.parameters),
                self.limits,
                passes,
            )
        ]

    def initial_programs(self) -> list[Candidate]:
        values = layouts.grid_values(self.n)
        return [Candidate(code=render_params(values), genome=values)]

    def stages(self) -> list[Stage]:
        return list(self._stages)


class CircleCode(_Circles):
    """The code form: construct() in the sandbox; its radii verified strictly."""

    form = CODE
    # the sandbox imports nothing a candidate asks for that its zygote did not preload;
    # scipy.optimize (linprog, SLSQP: what an LLM reaches for here) costs each
    # candidate ~5 ms more (23 -> 28 ms an evaluation, the trusted LP included)
    preload: ClassVar[tuple[str, ...]] = ("problems.packing.harness", "scipy.optimize")

    def __init__(self, name: str, n: int, wall_s: float = 30.0, memory_mb: int = 1024) -> None:
        super().__init__(name, n, wall_s, memory_mb)
        self.description = TASK.format(n=n) + known(n) + CODE_TASK.format(n=n, wall_s=wall_s)
        self._stages = [
            Stage(
                "packing",
                "problems.packing.harness:construct",
                {"n": n},
                ConstructScorer(n),
                self.limits,
                passes,
            )
        ]

    def initial_programs(self) -> list[Candidate]:
        return [Candidate(code=layouts.construct_program(self.n))]

    def stages(self) -> list[Stage]:
        return list(self._stages)


def register_circles(name: str, n: int, form: str = CENTRES) -> Callable[..., Any]:
    """Register ``name`` as n circles in ``form``; its options are the limits only (n is
    the name's: ``packing.circles26`` with another n would be another problem)."""
    if form not in FORMS:
        raise ValueError(f"form must be one of {', '.join(FORMS)}, got {form!r}")
    cls = CircleCentres if form == CENTRES else CircleCode
    defaults = (10.0, 512) if form == CENTRES else (30.0, 1024)

    def factory(*, wall_s: float = defaults[0], memory_mb: int = defaults[1]) -> _Circles:
        return cls(name, n, wall_s=wall_s, memory_mb=memory_mb)

    factory.__qualname__ = factory.__name__ = f"{cls.__name__}_{n}"
    factory.__doc__ = f"{n} circles, {form} form ({cls.__doc__})"
    return register_problem(name)(factory)


register_circles("packing.circles26", 26)
register_circles("packing.circles32", 32)
register_circles("packing.circles26_code", 26, CODE)
