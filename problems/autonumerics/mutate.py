"""Graph mutations (AutoNumerics-Zero's), as problem operators for the controller.

insert: a random op spliced into a random edge u -> v (first input u, the others a random
earlier vertex or a new constant); grow: a *function-preserving* insertion on a random
edge u -> v, its new constants at the identity (see ``_grow``), so a Lamarckian child
starts exactly at its parent's error and the constant tuner can only improve it; remove:
a vertex's consumers re-pointed to one of its inputs; rewire: one input re-pointed to
another earlier vertex; constant: one constant scaled by U(1/(1+d), 1+d) or re-drawn;
swap: an op replaced by another of the same arity.
Every mutation is retried (accumulating) until the pruned graph changes; after 20 tries the
proposal is rejected as ``no_op``. Children inherit their parent's *tuned* constants
(Lamarckian), read from the parent's metrics c0, c1, ...
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

import numpy as np

from evaluators.contract import Candidate, ProposalRejected
from problems.autonumerics.graph import (
    ARITY,
    MAX_VERTICES,
    OPS,
    GenomeError,
    canonical,
    constants,
    depends_on_x,
    fold,
    identity,
    op_count,
    prune,
    validate,
    with_constants,
)

KINDS = ("insert", "grow", "remove", "rewire", "constant", "swap")
GROW_FORMS = ("term", "affine", "times", "divide")
MAX_TRIES = 20


class Rejected(Exception):
    """The mutation found nothing to change (the caller maps it to ProposalRejected)."""


def new_constant(rng: random.Random) -> float:
    """AutoNumerics' Scale8: sign * 10^U(-8, 0)."""
    return rng.choice((-1.0, 1.0)) * 10.0 ** rng.uniform(-8.0, 0.0)


def _insert(g: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    verts = [list(v) for v in g["v"]]
    consumers = [(i, j) for i, v in enumerate(verts) if v[0] in ARITY for j in range(1, len(v))]
    edges = consumers + [(-1, 0)]  # (-1, 0): the edge into the output
    vi, slot = rng.choice(edges)
    u = g["out"] if vi < 0 else verts[vi][slot]
    pos = len(verts) if vi < 0 else vi  # the new vertex goes just before its consumer
    op = rng.choice(OPS)
    new: list[list[Any]] = []
    args = [u]
    for _ in range(ARITY[op] - 1):
        if rng.random() < 0.5:
            new.append(["c", new_constant(rng)])
            args.append(pos + len(new) - 1)
        else:
            args.append(rng.randrange(pos))
    if rng.random() < 0.5 and len(args) > 1:
        args[0], args[1] = args[1], args[0]
    return _splice(g, vi, slot, [*new, [op, *args]], pos)


def _splice(
    g: dict[str, Any], vi: int, slot: int, block: list[list[Any]], pos: int
) -> dict[str, Any]:
    """Put ``block`` (vertex indices already absolute, starting at ``pos``) before vertex
    ``vi`` (or at the end when vi < 0) and route the edge (vi, slot) through its last vertex."""
    verts = [list(v) for v in g["v"]]
    shift = len(block)
    rest = []
    for v in verts[pos:]:
        if v[0] in ARITY:
            v = [v[0], *(a + shift if a >= pos else a for a in v[1:])]
        rest.append(v)
    last = pos + shift - 1
    if vi >= 0:
        rest[0][slot] = last
        out = g["out"] + shift if g["out"] >= pos else g["out"]
    else:
        out = last
    return {"v": verts[:pos] + block + rest, "out": out}


def _grow(g: dict[str, Any], rng: random.Random, form: str | None = None) -> dict[str, Any]:
    """Splice a function-preserving block into a random edge u -> v, w being a random
    earlier vertex that depends on x (x itself included):

    * term:   u + w * a           (fma(w, a, u), a = 0): a new term, e.g. a Horner degree
    * affine: u * a + b           (fma(u, a, b), a = 1, b = 0)
    * times:  u * (1 + w * a)     (fma then mul, a = 0): a new factor chain
    * divide: u / (1 + w * a)     (fma then div, a = 0): a new denominator chain

    The function is unchanged, the structure is not; with inherited (Lamarckian) constants
    the tuner then starts at the parent's optimum with more freedom. Later grows on the
    edges of a new chain lengthen it (a denominator polynomial, a factor that reuses an
    intermediate result).
    """
    verts = g["v"]
    consumers = [(i, j) for i, v in enumerate(verts) if v[0] in ARITY for j in range(1, len(v))]
    vi, slot = rng.choice(consumers + [(-1, 0)])
    u = g["out"] if vi < 0 else verts[vi][slot]
    pos = len(verts) if vi < 0 else vi
    dep = depends_on_x(g)
    w = rng.choice([i for i in range(pos) if dep[i]])
    form = form or rng.choice(GROW_FORMS)
    if form == "affine" and not dep[u]:
        form = "term"  # an affine map of a constant would fold away
    if form == "term":
        block = [["c", 0.0], ["fma", w, pos, u]]
    elif form == "affine":
        block = [["c", 1.0], ["c", 0.0], ["fma", u, pos, pos + 1]]
    else:
        op = "mul" if form == "times" else "div"
        block = [["c", 0.0], ["c", 1.0], ["fma", w, pos, pos + 1], [op, u, pos + 2]]
    return _splice(g, vi, slot, block, pos)


def _remove(g: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    ops = [i for i, v in enumerate(g["v"]) if v[0] in ARITY]
    if not ops:
        raise Rejected("nothing to remove")
    victim = rng.choice(ops)
    repl = rng.choice(g["v"][victim][1:])
    verts = []
    for v in g["v"]:
        if v[0] in ARITY:
            v = [v[0], *(repl if a == victim else a for a in v[1:])]
        verts.append(list(v))
    return prune({"v": verts, "out": repl if g["out"] == victim else g["out"]})


def _rewire(g: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    ops = [i for i, v in enumerate(g["v"]) if v[0] in ARITY]
    if not ops:
        raise Rejected("nothing to rewire")
    i = rng.choice(ops)
    verts = [list(v) for v in g["v"]]
    slot = rng.randrange(1, len(verts[i]))
    if rng.random() < 0.25:
        verts.insert(i, ["c", new_constant(rng)])
        verts = [
            [v[0], *(a + 1 if a >= i else a for a in v[1:])] if v[0] in ARITY else v for v in verts
        ]
        i += 1
        verts[i][slot] = i - 1
        return prune({"v": verts, "out": g["out"] + (g["out"] >= i - 1)})
    verts[i][slot] = rng.randrange(i)
    return prune({"v": verts, "out": g["out"]})


def _constant(g: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    idx = [i for i, v in enumerate(g["v"]) if v[0] == "c"]
    if not idx:
        raise Rejected("no constant")
    i = rng.choice(idx)
    verts = [list(v) for v in g["v"]]
    if rng.random() < 0.2:
        verts[i][1] = new_constant(rng)
    else:
        delta = 10.0 ** rng.uniform(-6.0, 0.0)
        verts[i][1] = verts[i][1] * math.exp(rng.uniform(-1.0, 1.0) * math.log1p(delta))
    return {"v": verts, "out": g["out"]}


def _swap(g: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    ops = [i for i, v in enumerate(g["v"]) if v[0] in ("add", "sub", "mul", "div")]
    if not ops:
        raise Rejected("no binary op")
    i = rng.choice(ops)
    verts = [list(v) for v in g["v"]]
    verts[i][0] = rng.choice([o for o in ("add", "sub", "mul", "div") if o != verts[i][0]])
    return {"v": verts, "out": g["out"]}


MUTATIONS = {
    "insert": _insert,
    "grow": _grow,
    "remove": _remove,
    "rewire": _rewire,
    "constant": _constant,
    "swap": _swap,
}


# AutoNumerics' weights (insert 1, remove 2, edge switch 3, id 3) re-draw constants at every
# evaluation, so its children are restarts; ours inherit tuned constants, and a
# function-preserving grow is the move that keeps that investment: it gets most weight.
WEIGHTS = {"grow": 4, "insert": 1, "remove": 2, "rewire": 2, "swap": 1, "constant": 1}


def choose_kind(g: dict[str, Any], rng: random.Random) -> str:
    """Size-dependent weights (|G| counts x and the output)."""
    size = len(g["v"]) + 1
    if size < 3:
        return rng.choice(("grow", "insert"))
    if size >= MAX_VERTICES:
        return rng.choice(("remove", "rewire", "swap"))
    return rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]


def mutate(
    genome: dict[str, Any], rng: random.Random, kind: str | None = None, max_ops: int = 10**9
) -> dict[str, Any]:
    """A child that differs from ``genome`` as a function (retry until it does)."""
    before = canonical(genome)
    g = genome
    for _ in range(MAX_TRIES):
        which = kind or choose_kind(g, rng)
        if which in ("insert", "grow") and op_count(g) >= max_ops:
            which = "remove"
        try:
            g = MUTATIONS[which](g, rng)
        except Rejected:
            if kind is not None:
                break
            continue
        g = prune(g)
        if canonical(g) != before and op_count(g) <= max_ops and len(g["v"]) <= MAX_VERTICES:
            return g
    raise Rejected("no_op")


def random_program(seed: int, steps: int = 14) -> dict[str, Any]:
    """The program ``steps`` mutations make of the empty one (a mutation that finds nothing
    to change is skipped): the random programs of tests and benchmarks."""
    rng = random.Random(seed)
    g = identity()
    for _ in range(steps):
        try:
            g = mutate(g, rng)
        except Rejected:
            continue
    return g


def inherited_genome(parent: Any, f32: bool) -> dict[str, Any]:
    """The parent's folded genome carrying the constants its evaluation tuned."""
    try:
        genome = validate(parent.genome)
    except GenomeError:
        return identity()
    folded = fold(genome, np.float32 if f32 else np.float64)
    n = len(constants(folded))
    tuned = [parent.metrics.get(f"c{i}") for i in range(n)]
    if n and all(isinstance(t, float) and math.isfinite(t) for t in tuned):
        return with_constants(folded, tuned)
    return folded


class GraphMutation:
    """Problem operator: one graph mutation (or the size-dependent mix when kind is None)."""

    arity = 1

    def __init__(self, kind: str | None = None) -> None:
        if kind is not None and kind not in MUTATIONS:
            raise ValueError(f"unknown mutation {kind!r}; known: {', '.join(MUTATIONS)}")
        self.kind = kind
        self.name = f"expr_{kind}" if kind else "expr_mutate"

    def propose(self, parents: Sequence[Any], ctx: Any, rng: random.Random) -> Candidate:
        problem = ctx.problem
        parent = inherited_genome(parents[0], problem.f32)
        try:
            child = mutate(parent, rng, self.kind, problem.max_ops)
        except Rejected as exc:
            raise ProposalRejected("no_op", str(exc)) from exc
        return problem.candidate(child)


def operator_factories() -> dict[str, Any]:
    out: dict[str, Any] = {"expr_mutate": lambda **kw: GraphMutation(None, **kw)}
    for kind in KINDS:
        out[f"expr_{kind}"] = lambda kind=kind, **kw: GraphMutation(kind, **kw)
    return out
