"""The registered problems ``autonumerics.{exp2,exp,log2,erf}``.

Genomes (graph.py) are data, interpreted by this trusted code: ``evaluate_batch`` tunes
each program's constants (tune.py), then scores the whole batch on the validation points
in one compiled JAX call: the register machine of interp_switch.py in reals mode, and in
float32 mode the programs' rendered sources compiled by XLA together (compiled.py), since
XLA's rewrites and fma contraction make that differ from rounding every operation.
Options (``--set problem.KEY=VALUE``):

* ``mode``: ``reals`` (float64; error = max relative error, or with
  ``error="ulp_point"`` AutoNumerics' float32 ULPs at the target's fixed point, the
  default for log2 and erf whose value is 0 at an end of the domain) or
  ``float32`` (programs run in float32 as XLA compiles them; error = max float32 ULP error
  against the float64 reference on samples).
* ``max_ops`` (programs beyond it are not kept), ``train_points``, ``valid_points`` (the
  scoring samples; default 10,000 in reals mode, 100,000 in float32 mode),
  ``lm_iters``, ``es_gens``, ``es_pop``, ``batch_size``.
* The campaign's result is its Pareto front (``held_out_front``): when it ends, each
  program of the final front is checked once more, held out from the search. In float32
  mode over every float32 of the domain (held_out.py; ``verify_stride`` > 1 checks every
  k-th bit pattern instead, ``verify_below`` (8 ULP) skips programs whose search samples
  already show that much error); in reals mode on 100,001 points.

Score = -log10(error) (higher is better); features ``ops`` and ``log10_error`` are the two
NSGA-II objectives; metrics carry ``error``, ``ops`` and the tuned constants ``c0, c1...``
(children inherit them); feedback holds the tuned program's source, and so does the
artifact ``evaluated_code`` (the dashboard's Code card shows it: the stored code keeps the
constants the program started from).
"""

from __future__ import annotations

import inspect
import math
import zlib
from typing import Any, ClassVar

import numpy as np

from evaluators.contract import EVALUATED_CODE, HELD_OUT, Candidate, EvalResult, FeatureAxis, Stage
from evaluators.registry import register_problem
from problems.autonumerics import compiled, scoring
from problems.autonumerics.export import tuned_genome
from problems.autonumerics.graph import (
    GenomeError,
    constants,
    fold,
    identity,
    op_count,
    ops_phrase,
    validate,
    with_constants,
)
from problems.autonumerics.held_out import verify_program
from problems.autonumerics.mutate import operator_factories
from problems.autonumerics.problem_checks import check_options, check_reference, check_xla
from problems.autonumerics.render import render_python
from problems.autonumerics.targets import TARGETS, float32_ulp
from problems.autonumerics.tune import TuneConfig, es_float32, lm_lawson

WORST = 1e30  # error of a program that is not finite on the domain


def binade_samples(lo: float, hi: float, per_binade: int = 8) -> np.ndarray:
    """``per_binade`` float32s spread over each binade [2^e, 2^(e+1)) of [lo, hi] that the
    uniform samples skip, down to the subnormals. A domain with 0 in it (or as an end) holds
    ~10^9 float32s below 2^-10, where uniform samples fall on none: an intermediate that
    XLA's CPU flushes to 0 there (a subnormal product) goes unseen until the exhaustive
    check, whose ULPs are relative to a tiny result (tanh, sin, erf near 0)."""
    out = []
    for sign, a, b in ((1.0, max(lo, 0.0), hi), (-1.0, max(-hi, 0.0), -lo)):
        if b <= 0 or b <= a:
            continue
        top = math.frexp(b)[1]  # b < 2^top
        low = math.frexp(a)[1] if a > 0 else -149
        for e in range(low - 1, top):
            grid = np.ldexp(1.0 + np.arange(per_binade) / per_binade, e)
            out.append(sign * grid[(grid >= a) & (grid <= b)])
    if not out:
        return np.zeros(0)
    return np.concatenate(out).astype(np.float32).astype(np.float64)


class AutoNumerics:
    """Approximate ``target`` on its domain with few operations (AutoNumerics-Zero)."""

    default_strategy = "nsga2"
    default_operators: ClassVar[dict[str, float]] = {"expr_mutate": 1.0}
    objectives: ClassVar[tuple[tuple[str, str], ...]] = (("log10_error", "min"), ("ops", "min"))
    held_out_front = True  # the campaign's result is its front: each program is checked
    feature_axes: ClassVar[list[FeatureAxis]] = [
        FeatureAxis("ops", 0, 24, 24),
        FeatureAxis("log10_error", -16, 1, 17),
    ]

    def __init__(
        self,
        *,
        target: str = "exp2",
        mode: str = "reals",
        error: str = "",
        max_ops: int = 24,
        train_points: int = 1000,
        valid_points: int = 0,
        lm_iters: int = 120,
        es_gens: int = 60,
        es_pop: int = 32,
        batch_size: int = 8,
        verify_below: float = 8.0,
        verify_stride: int = 1,
    ) -> None:
        check_options(
            target, mode, error, verify_below, max_ops=max_ops, train_points=train_points,
            valid_points=valid_points, lm_iters=lm_iters, es_gens=es_gens, es_pop=es_pop,
            batch_size=batch_size, verify_stride=verify_stride,
        )  # fmt: skip
        self.target = TARGETS[target]
        if mode == "float32":  # the final check's reference and latency baseline: fail now
            check_xla(self.target)
        self.target_name = target
        self.name = f"autonumerics.{target}"
        self.mode = mode
        self.error = error or ("relative" if self.target.relative else "ulp_point")
        self.f32 = mode == "float32"
        self.max_ops = int(max_ops)
        self.batch_size = int(batch_size)
        self.verify_below, self.verify_stride = float(verify_below), int(verify_stride)
        self.tune_config = TuneConfig(lm_iters, es_gens if self.f32 else 0, es_pop)
        self.description = (
            f"Approximate {self.target.description} with +, -, *, /, fma and constants, "
            f"minimising the max error ({mode} mode) and the operation count."
        )
        lo, hi = self.target.lo, self.target.hi
        self.x_train = np.linspace(lo, hi, int(train_points))
        # float32 mode: 100,000 samples by default. With 10,000 the samples missed the worst
        # inputs of the best 6-op e^x programs a campaign found (1.03-1.09 ULP over every
        # float32 against 0.81 on the samples); with 100,000 its 4 best were all < 1 ULP
        # (bench/results/autonumerics_float32_campaign_exp.md). Points cost little next to
        # the per-batch compile.
        valid_points = int(valid_points) or (100_000 if self.f32 else 10_000)
        step = (hi - lo) / valid_points
        self.x_valid = np.concatenate([[lo], lo + step * (np.arange(valid_points) + 0.5), [hi]])
        if self.f32:  # every binade too: most float32s of a domain reaching 0 are tiny
            self.x_valid = np.concatenate([self.x_valid, binade_samples(lo, hi)])
        # computed once: every tune and every search batch scores on these
        self.train_points = self.scoring_points(self.x_train)
        self.valid_points = self.scoring_points(self.x_valid)
        for points in (self.train_points, self.valid_points):
            for array in points:
                array.setflags(write=False)  # shared by every batch
            check_reference(self.target, points[:2])

    # -- the Problem protocol -----------------------------------------------------------
    def initial_programs(self) -> list[Candidate]:
        return [self.candidate(identity())]

    def stages(self) -> list[Stage]:
        return []  # evaluated by evaluate_batch only: genomes are data, never run as code

    def operators(self) -> dict[str, Any]:
        return operator_factories()

    def export_source(self, genome: Any, metrics: dict[str, float], fmt: str,
                      full_range: bool = False, *, suffix: str = "",
                      standalone: bool = False) -> str:  # fmt: skip
        """Source (jax, c or python) of an evaluated program, tuned constants in;
        ``full_range``: the float32 2^x or e^x for every input built on it (export.py);
        ``suffix`` goes after the function's name. ``standalone`` (``evolve best --format``):
        the module to use, where a float32 program's python is NumPy float32 and its python
        and c say whether, rounded as written, they equal the scored function (XLA's compile)
        on float32 points of the domain. Otherwise python is the source as evaluated (the
        text float32 mode compiles), which ``evolve best`` shows."""
        from problems.autonumerics.export import export_full_range, export_program

        if full_range:
            return export_full_range(genome, metrics, fmt, self.target_name, self.f32,
                                     suffix=suffix, check=standalone)  # fmt: skip
        name, doc = f"approx{suffix}", self._doc(genome)
        if fmt == "python" and not standalone:
            return render_python(tuned_genome(genome, metrics, self.f32), name, self.f32, doc)
        check = (self.target.lo, self.target.hi) if standalone and self.f32 else None
        return export_program(genome, metrics, fmt, f32=self.f32, name=name, doc=doc, check=check)

    def candidate(self, genome: dict[str, Any]) -> Candidate:
        code = render_python(genome, f32=self.f32, doc=self._doc(genome))
        return Candidate(code=code, genome=genome)

    def _doc(self, genome: dict[str, Any]) -> str:
        """The docstring of a rendered program, stored or exported."""
        return f"{self.target.description}, {self.mode} mode, {op_count(genome)} operations"

    # -- evaluation ---------------------------------------------------------------------
    def scoring_points(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(inputs, reference, 1/scale) in the evaluation precision."""
        if self.f32:
            x = np.unique(x.astype(np.float32))
            ref = self.target.ref(x.astype(np.float64))
            return x, ref, 1.0 / float32_ulp(ref)
        ref = np.asarray(self.target.ref_long(x), np.float64)
        if self.error == "ulp_point":
            return x, ref, np.full_like(x, 1.0 / float(float32_ulp(self.target.ulp_point)))
        return x, ref, 1.0 / np.abs(ref)

    def tune(self, genome: dict[str, Any]) -> tuple[dict[str, Any], float]:
        """Tuned folded genome and its training error (deterministic for a genome)."""
        folded = fold(genome, np.float32 if self.f32 else np.float64)
        x, y, s = self.train_points  # float32 mode: y is the float64 reference at x
        c, err = lm_lawson(folded, constants(folded), x.astype(np.float64), y, s,
                           self.tune_config.lm_iters)  # fmt: skip
        if self.f32:
            seed = zlib.crc32(repr(folded).encode())
            c, err = es_float32(folded, c, (x, y, s), self.tune_config, np.random.default_rng(seed))
            c = c.astype(np.float64)
        return with_constants(folded, [float(v) for v in c]), err

    def evaluate_batch(self, candidates: list[Candidate], stage_set: str = "search") -> list[Any]:
        import jax

        tuned, results = [], []
        for cand in candidates:
            try:
                genome = validate(cand.genome)
            except GenomeError as exc:
                tuned.append(None)
                results.append(EvalResult(score=-30.0, correct=False, feedback=str(exc)))
                continue
            tuned.append(self.tune(genome))
            results.append(None)
        live = [i for i, t in enumerate(tuned) if t is not None]
        if not live:
            return results
        # float32's held-out check starts from the search samples' error (held_out.py)
        verify = self.f32 and stage_set == HELD_OUT
        if stage_set == "search" or verify:
            x, ref, inv_scale = self.valid_points
        else:
            x, ref, inv_scale = self.scoring_points(np.linspace(self.target.lo, self.target.hi,
                                                                100_001))  # fmt: skip
        programs = [tuned[i][0] for i in live]
        with jax.enable_x64(True):
            if self.f32:  # the programs as XLA compiles them (see compiled.py)
                errors = scoring.errors_of(compiled.outputs(programs, x), ref, inv_scale)
            else:  # no (programs, points) outputs: each error reduced as it is computed
                errors = scoring.max_errors(programs, x, ref, inv_scale)
        for row, i in enumerate(live):
            genome, train_err = tuned[i]
            err = float(errors[row])
            if verify:
                results[i] = verify_program(self, genome, train_err, err, len(x))
            else:
                results[i] = self.result_of(genome, err, train_err, len(x))
        return results

    @property
    def held_out_timeout_s(self) -> float:
        """float32: each front program's check enumerates every float32 of the domain
        (1.07e9 for 2^x, about 17 s on a CPU core; twice that for e^x)."""
        return 4 * 3600.0 if self.f32 else 600.0

    def result_of(self, genome: dict[str, Any], err: float, train_err: float, n: int,
                extra: dict[str, float] | None = None, note: str = "") -> EvalResult:  # fmt: skip
        """The result of a tuned program with max error ``err`` on ``n`` points (``extra``
        metrics and a ``note`` before the feedback's usual text, for the held-out check)."""
        ops = op_count(genome)
        tuned = constants(genome)
        finite = math.isfinite(err) and math.isfinite(train_err)
        finite = finite and all(math.isfinite(v) for v in tuned)
        err = min(err, WORST) if finite else WORST
        metrics = {"error": err, "train_error": min(train_err, WORST) if finite else WORST}
        metrics.update(ops=float(ops), points=float(n))
        if finite:  # a metric must be finite; children of an invalid program start untuned
            metrics.update({f"c{i}": v for i, v in enumerate(tuned)})
        metrics.update(extra or {})
        log_err = math.log10(max(err, 1e-300))
        source = self.candidate(genome).code
        unit = "ULP (float32)" if self.f32 or self.error == "ulp_point" else "relative"
        # Readers show the feedback's first line alone (`evolve best`, the run summary):
        # it is a whole sentence, and the program starts on a line of its own.
        return EvalResult(
            score=-log_err,
            metrics=metrics,
            features={"ops": float(ops), "log10_error": log_err},
            correct=finite and ops <= self.max_ops,
            feedback=f"{note}max error {err:.3e} {unit} with {ops_phrase(ops)}.\ntuned program:\n{source}",
            artifacts={EVALUATED_CODE: source},  # the program as scored, for the dashboard
        )


def _factory(target: str) -> Any:
    def make(**options: Any) -> AutoNumerics:
        return AutoNumerics(target=target, **options)

    make.__qualname__ = f"autonumerics_{target}"
    options = inspect.signature(AutoNumerics).parameters.values()
    make.__signature__ = inspect.Signature([p for p in options if p.name != "target"])  # type: ignore[attr-defined]
    return make


PROBLEMS = {name: register_problem(f"autonumerics.{name}")(_factory(name)) for name in TARGETS}
