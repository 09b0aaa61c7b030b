"""The controller's cost of one genetic proposal, as a ratio to reading the parent.

Where evaluations are cheap the controller is the bottleneck, and most of its time per
evaluation is the operator's edit. Baseline, measured in the same run: ``ast.parse`` plus
``compile`` of the parent, the least any operator that checks its child pays. Measured:
``ast_mutate`` and ``ast_crossover`` on parents drawn as a campaign draws them, from an
elite of 64 programs (a seeded chain of mutants of each starting program), rejections
included (a rejected proposal costs its tries too).
"""

from __future__ import annotations

import ast
import random
import time
from pathlib import Path

from bench.common import median, write_table
from evaluators.contract import ProposalRejected
from evolve.operators.ast_mutation import AstMutation
from evolve.operators.crossover import AstCrossover

HERE = Path(__file__).resolve().parent
CALLS = 300  # per repetition
REPEATS = 5


def starting_programs() -> dict[str, str]:
    from evaluators.registry import make_problem

    trivial: dict = {}
    exec((HERE / "trivial_problem.py").read_text(), trivial)  # noqa: S102 (our own file)
    binpack = make_problem("binpack.online").initial_programs()[0].code
    return {"trivial (5 lines)": trivial["INITIAL_PROGRAM"], "binpack.online": binpack}


def elite(code: str, size: int = 64, seed: int = 0) -> list[str]:
    """``size`` distinct programs, each a mutant of one before it."""
    rng, mutate, programs = random.Random(seed), AstMutation(), [code]
    while len(programs) < size:
        try:
            child = mutate.mutate(rng.choice(programs), rng).code
        except ProposalRejected:
            continue
        if child not in programs:
            programs.append(child)
    return programs


def per_call_ms(call, parents: list[str]) -> float:
    """Median over REPEATS of the mean time of CALLS calls, in ms."""
    times = []
    for repeat in range(REPEATS):
        rng = random.Random(repeat)
        started = time.perf_counter()
        for _ in range(CALLS):
            try:
                call(parents, rng)
            except ProposalRejected:
                pass
        times.append((time.perf_counter() - started) / CALLS * 1e3)
    return median(times)


def read_parent(parents: list[str], rng: random.Random) -> None:
    code = rng.choice(parents)
    compile(ast.parse(code), "<parent>", "exec")


def main() -> str:
    mutate, cross = AstMutation(), AstCrossover()
    arms = {
        "ast.parse + compile of the parent (baseline)": read_parent,
        "ast_mutate": lambda ps, rng: mutate.mutate(rng.choice(ps), rng),
        "ast_crossover": lambda ps, rng: cross.cross(rng.choice(ps), rng.choice(ps), rng),
    }
    rows = []
    for label, code in starting_programs().items():
        parents = elite(code)
        lines = sum(len(p.splitlines()) for p in parents) / len(parents)
        times = {name: per_call_ms(call, parents) for name, call in arms.items()}
        base = times["ast.parse + compile of the parent (baseline)"]
        for name, ms in times.items():
            rows.append([f"{label}, {lines:.0f} lines", name, f"{ms:.3f}", f"{ms / base:.1f}"])
    return write_table(
        "operators",
        "Genetic operators: controller time per proposal",
        ["parents", "what", "ms per call", "ratio to baseline"],
        rows,
        [
            f"Median over {REPEATS} repetitions of the mean of {CALLS} calls; parents drawn "
            "uniformly from an elite of 64 programs (a seeded chain of mutants).",
            "Baseline: ast.parse + compile of one parent, the floor for an operator that "
            "checks its child.",
            "A proposal that is rejected (no_op, unbound_name, syntax_error after its tries) "
            "is timed too.",
        ],
    )


if __name__ == "__main__":
    print(main())
