"""AutoNumerics population evaluation throughput: the JAX register machine
(problems/autonumerics/interp_switch.py) against DEAP's per-individual ``compile`` + NumPy.

Both sides evaluate the same 500 random DEAP trees (ramped half-and-half, depth 2-6, +, -,
*, protected /, ephemeral constants in U(-1, 1)) on the same points, in float64. DEAP's time
includes its compile of every individual; ours includes lowering (fold, register
allocation) every time, and the first call also the XLA compile of the bucket's executable
(later batches of the same bucket reuse it: the steady column). DEAP and JAX runs alternate
and each figure is the median of REPS runs, so the machine's load hits both alike.

``python -m bench.autonumerics_throughput`` writes bench/results/autonumerics_throughput.md;
with ``runs``, the table of a whole GP run's fitness (compiles included) to
bench/results/autonumerics_run_fitness.md.
Environment: AN_DEVICES (host devices to split the population over, default: all cores).
"""

from __future__ import annotations

import copy
import os
import random
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import jax
import numpy as np

from bench.common import RESULTS, machine
from bench.deap_genome import deap_genome

DEVICES = int(os.environ.get("AN_DEVICES", str(os.cpu_count() or 1)))
try:  # must precede the backend's start; harmless (and ignored) after it
    jax.config.update("jax_num_cpu_devices", DEVICES)
except RuntimeError:
    pass

from problems.autonumerics import interp_switch, lowering, native, scoring, switch_executables  # noqa: E402
from problems.autonumerics.problem import AutoNumerics  # noqa: E402

REPS = 5
POINTS = (1000, 10000)


def deap_population(n: int = 500, seed: int = 0) -> tuple[Any, list, list[dict], Any]:
    """(pset, trees, genomes, deap.gp): n random trees and the same functions as genomes
    (DEAP's protected division pdiv becomes plain div: they differ only where |b| <= 1e-12)."""
    from deap import gp

    def pdiv(a: Any, b: Any) -> Any:
        return np.divide(a, np.where(np.abs(b) > 1e-12, b, 1.0))

    pset = gp.PrimitiveSet("MAIN", 1)
    for fn in (np.add, np.subtract, np.multiply):
        pset.addPrimitive(fn, 2)
    pset.addPrimitive(pdiv, 2)
    pset.addEphemeralConstant("an_throughput_c", uniform_constant)
    random.seed(seed)
    trees = [gp.PrimitiveTree(gp.genHalfAndHalf(pset, 2, 6)) for _ in range(n)]
    names = {"add": "add", "subtract": "sub", "multiply": "mul", "pdiv": "div"}

    return pset, trees, [deap_genome(t, names) for t in trees], gp


def uniform_constant() -> float:
    """DEAP's ephemeral constant (a named function: DEAP pickles and re-registers it)."""
    return random.uniform(-1, 1)


def timed_result(fn: Any) -> tuple[float, Any]:
    """(seconds, result) of one call."""
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def _timed(fn: Any) -> float:
    return timed_result(fn)[0]


@contextmanager
def pure_xla(on: bool = True) -> Iterator[None]:
    """Run interp_switch on its pure-XLA loop (EVOFORGE_NATIVE=0) inside the block."""
    saved = os.environ.get(native.SWITCH_ENV)
    if on:
        os.environ[native.SWITCH_ENV] = "0"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(native.SWITCH_ENV, None)
        else:
            os.environ[native.SWITCH_ENV] = saved


def measure(n: int, population: tuple, devices: list, reps: int = REPS) -> dict[str, float]:
    """Seconds per population on n points: DEAP and ours end to end (first call and
    steady; the C machine, the default, and the pure-XLA one), then their parts (compile
    / NumPy, lowering / run, 1 device)."""
    pset, trees, genomes, gp = population
    x = np.linspace(0.01, 1, n)

    def deap() -> None:
        for tree in trees:
            gp.compile(tree, pset)(x)

    def ours(xla: bool = False) -> None:
        with pure_xla(xla):
            interp_switch.evaluate(genomes, x, devices=devices)

    first = _timed(ours)
    first_xla = _timed(lambda: ours(True))
    compiled = [gp.compile(tree, pset) for tree in trees]
    stream = lowering.encode(genomes, shards=len(devices))
    single = lowering.encode(genomes)

    def run(which: Any, on: list, xla: bool = False) -> None:
        with pure_xla(xla):
            interp_switch.run(which, x, on)

    run(single, devices[:1])
    run(single, devices[:1], True)
    parts = {
        "deap_s": deap,
        "steady_s": ours,
        "steady_xla_s": lambda: ours(True),
        "deap_compile_s": lambda: [gp.compile(tree, pset) for tree in trees],
        "deap_numpy_s": lambda: [f(x) for f in compiled],
        "lower_s": lambda: lowering.encode(genomes),
        "run_s": lambda: run(stream, devices),
        "run_1dev_s": lambda: run(single, devices[:1]),
        "run_xla_1dev_s": lambda: run(single, devices[:1], True),
    }
    while switch_executables.COMPILING:  # the other devices' executables, compiled in threads
        time.sleep(0.01)
    times: dict[str, list[float]] = {k: [] for k in parts}
    for rep in range(reps):  # alternate, in turn forwards and backwards, so that load
        order = list(parts.items())  # changes and cache state hit every part alike
        for key, fn in order[::-1] if rep % 2 else order:
            times[key].append(_timed(fn))
    medians = {k: statistics.median(v) for k, v in times.items()}
    return {"points": n, "first_s": first, "first_xla_s": first_xla, **medians}


def throughput(reps: int = REPS) -> tuple[list[str], list[dict[str, float]]]:
    """The markdown tables and their rows (seconds per population, points/s, ratios)."""
    population = deap_population()
    genomes = population[2]
    devices = jax.devices()
    with jax.enable_x64(True):
        rows = [measure(n, population, devices, reps) for n in POINTS]
    built = native.available()
    kernel = (
        "interp_switch's C machine (interp_native.c, an XLA FFI call; built here with cc)"
        if built
        else f"interp_switch's pure-XLA machine (the C machine did not build: {native.reason()})"
    )
    out = [
        f"## Population evaluation throughput ({len(genomes)} random DEAP trees, depth 2-6)",
        "",
        f"Machine: {machine()}, JAX {jax.__version__}, {len(devices)} host device(s), float64;"
        f" median of {reps} alternating runs; load average {os.getloadavg()[0]:.1f} at the end"
        " (a shared machine: ratios, taken in one run, are what to compare).",
        "",
        f"JAX columns: {kernel}. Last two columns: the same evaluate() on the pure-XLA"
        " machine (EVOFORGE_NATIVE=0), in the same run.",
        "",
        "| points | DEAP s | JAX first call s | JAX steady s | DEAP cand-points/s |"
        " JAX first cand-points/s | JAX steady cand-points/s | first vs DEAP |"
        " steady vs DEAP | pure XLA: first / steady s | pure XLA steady vs DEAP |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        work = len(genomes) * r["points"]
        out.append(
            f"| {r['points']:,} | {r['deap_s']:.4f} | {r['first_s']:.4f} | {r['steady_s']:.4f} |"
            f" {work / r['deap_s']:.3g} | {work / r['first_s']:.3g} | {work / r['steady_s']:.3g} |"
            f" {r['deap_s'] / r['first_s']:.2f}x | {r['deap_s'] / r['steady_s']:.2f}x |"
            f" {r['first_xla_s']:.4f} / {r['steady_xla_s']:.4f} |"
            f" {r['deap_s'] / r['steady_xla_s']:.2f}x |"
        )
    out += [
        "",
        "Where the time goes (medians of separate runs, so the parts need not add up exactly):",
        "",
        "| points | DEAP compile s | DEAP NumPy s | ours: lowering s | ours: run, sharded s |"
        " run, 1 device s | pure XLA run, 1 device s | NumPy ns per op-point |"
        " ns per instruction-point, 1 device: ours / pure XLA |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    pset, trees, _, gp = population
    ops = sum(isinstance(node, gp.Primitive) for tree in trees for node in tree)
    instrs = int(lowering.encode(genomes).counts.sum())
    for r in rows:
        per = r["run_1dev_s"] / (instrs * r["points"]) * 1e9
        per_xla = r["run_xla_1dev_s"] / (instrs * r["points"]) * 1e9
        numpy_per = r["deap_numpy_s"] / (ops * r["points"]) * 1e9
        out.append(
            f"| {r['points']:,} | {r['deap_compile_s']:.4f} | {r['deap_numpy_s']:.4f} |"
            f" {r['lower_s']:.4f} | {r['run_s']:.4f} | {r['run_1dev_s']:.4f} |"
            f" {r['run_xla_1dev_s']:.4f} | {numpy_per:.2f} | {per:.2f} / {per_xla:.2f} |"
        )
    out += [
        "",
        f"DEAP runs {ops} NumPy operations per population; the folded, register-allocated"
        f" stream has {instrs} instructions (constant-only subtrees computed once).",
        "",
        "JAX first call = lowering + compile of the bucket's executable + run; the steady"
        " column is what every later batch of the same bucket costs (lowering + run)."
        " Both are interp_switch.evaluate. The C machine gets the whole population in one"
        " call on one device (XLA runs a lone custom call in the calling thread, so pieces"
        " would only add calls), lowered in C (lowering_native.c). The pure-XLA loop"
        f" lowers the population in pieces of {interp_switch.PIECE} programs and runs each on"
        " one device while the next is lowered (the first call compiles one device's"
        " executable and the others' in the background).",
        "",
        "The pure-XLA machine runs one instruction at a time over whole rows of points"
        " (a fori_loop over a lax.switch): about 5 passes over memory per instruction, as"
        " XLA will not fuse a read of the register file into its in-place update, so per"
        " operation it is no faster than NumPy. The C machine runs the same instruction"
        " stream inside the XLA program as one FFI call, over tiles of 512 points that stay"
        " in cache while every instruction runs on them; its outputs are bit-identical to"
        " the pure-XLA machine's (tests/problems/test_autonumerics_native.py). Its executable"
        " is a single custom call, so its first call compiles in milliseconds. Both share"
        " the register file (an output row per program, x and scratch rows), donated to the"
        " executable and reused by the next call of the same bucket; returning the outputs"
        " costs a copy of the (programs, points) rows out of it.",
        "",
    ]
    return out, rows


def fitness_row(n: int, population: tuple, devices: list, reps: int = REPS) -> dict[str, Any]:
    """Seconds to score a population on n points, each side computing every program's max
    relative error against 2^x (what reals mode scores): DEAP compiles each tree, runs it
    in NumPy and reduces |y - ref| / |ref|, with its protected division (as the population
    is defined) and with plain np.divide (the same arithmetic as ours); ours is
    scoring.max_errors (lowering, the C machine, each error reduced in the kernel). Also
    how many programs' errors are bit-equal to each DEAP's."""
    pset, trees, genomes, gp = population
    plain = copy.copy(pset)  # the same trees, "pdiv" bound to np.divide
    plain.context = {**pset.context, "pdiv": np.divide}
    x = np.linspace(0.01, 1, n)
    ref = np.exp2(x)
    w = 1.0 / np.abs(ref)

    def deap(primitives: Any = pset) -> np.ndarray:
        errors = np.empty(len(trees))
        with np.errstate(all="ignore"):
            for i, tree in enumerate(trees):
                errors[i] = np.max(np.abs(gp.compile(tree, primitives)(x) - ref) * w)
        return errors

    def ours() -> np.ndarray:
        return scoring.max_errors(genomes, x, ref, w, devices=devices)

    first, b = timed_result(ours)
    equal = {}
    for key, errors in (("protected", deap()), ("plain", deap(plain))):
        equal[key] = int(((errors == b) | (np.isnan(errors) & np.isnan(b))).sum())
    parts = {"deap_s": deap, "deap_plain_s": lambda: deap(plain), "ours_s": ours}
    times: dict[str, list[float]] = {k: [] for k in parts}
    for rep in range(reps):
        order = list(parts.items())
        for key, fn in order[::-1] if rep % 2 else order:
            times[key].append(_timed(fn))
    row = {k: statistics.median(v) for k, v in times.items()}
    return {"points": n, "first_s": first, **row, "all": len(trees), "equal": equal}


def fitness(reps: int = REPS) -> list[str]:
    """The fitness table: DEAP's compile + NumPy + error against scoring.max_errors."""
    population = deap_population()
    devices = jax.devices()
    with jax.enable_x64(True):
        rows = [fitness_row(n, population, devices, reps) for n in POINTS]
    out = [
        f"## Population fitness ({rows[0]['all']} random DEAP trees, max relative error"
        " against 2^x)",
        "",
        "What a search needs from a population is each program's error, not its outputs."
        " Both sides compute each program's max |y - 2^x| / 2^x in float64: DEAP compiles"
        " each tree, runs it in NumPy and reduces the error in NumPy, with its protected"
        " division (the population's definition: 4 NumPy operations per division) and with"
        " plain np.divide (the same arithmetic as ours); ours is scoring.max_errors: the C"
        f" lowering, then the C machine ({native.isa() or 'not built'} loop) in one XLA"
        " call whose handler reduces each program's error as its output is computed, so no"
        f" (programs, points) array exists. Median of {reps} alternating runs; the first"
        " call includes the compile of the bucket's executable.",
        "",
        "| points | DEAP s | DEAP, plain division s | ours first call s | ours s |"
        " ours cand-points/s | ours vs DEAP | ours vs DEAP, plain division |"
        " errors bit-equal to DEAP / DEAP plain |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        work = r["all"] * r["points"]
        out.append(
            f"| {r['points']:,} | {r['deap_s']:.4f} | {r['deap_plain_s']:.4f} |"
            f" {r['first_s']:.4f} | {r['ours_s']:.4f} | {work / r['ours_s']:.3g} |"
            f" {r['deap_s'] / r['ours_s']:.2f}x | {r['deap_plain_s'] / r['ours_s']:.2f}x |"
            f" {r['equal']['protected']} / {r['equal']['plain']} of {r['all']} |"
        )
    out += [
        "",
        "Errors that differ from DEAP's come from its protected division (a divisor with"
        " |b| <= 1e-12 gives a / 1) and, with plain division, from subnormals: XLA's threads"
        " flush them to zero, NumPy keeps them.",
        "",
    ]
    return out


def generations_of(population: tuple, count: int, seed: int = 1) -> list[tuple[list, list]]:
    """``count`` successive generations of a GP run from ``population``: DEAP's varAnd
    (one-point crossover 0.5, uniform subtree mutation 0.2, heights capped at 12) on
    tournament winners by DEAP's own error, as eaSimple makes them; (trees, genomes) each."""
    from deap import base

    pset, trees, _, gp = population
    names = {"add": "add", "subtract": "sub", "multiply": "mul", "pdiv": "div"}
    toolbox = base.Toolbox()
    toolbox.register("mate", gp.cxOnePoint)
    toolbox.register("expr_mut", gp.genFull, min_=0, max_=2)
    toolbox.register("mutate", gp.mutUniform, expr=toolbox.expr_mut, pset=pset)
    for op in ("mate", "mutate"):
        toolbox.decorate(op, gp.staticLimit(key=lambda t: t.height, max_value=12))
    x = np.linspace(0.01, 1, 200)
    ref = np.exp2(x)
    random.seed(seed)
    out, current = [], [copy.deepcopy(t) for t in trees]
    for _ in range(count):
        with np.errstate(all="ignore"):
            errors = [float(np.max(np.abs(gp.compile(t, pset)(x) - ref) / ref)) for t in current]
        keys = [e if np.isfinite(e) else np.inf for e in errors]
        winners = [min(random.sample(range(len(current)), 3), key=keys.__getitem__)
                   for _ in current]  # fmt: skip
        current = [copy.deepcopy(current[i]) for i in winners]
        for i in range(1, len(current), 2):  # varAnd's variation, on trees without fitness
            if random.random() < 0.5:
                current[i - 1], current[i] = toolbox.mate(current[i - 1], current[i])
        for i, tree in enumerate(current):
            if random.random() < 0.2:
                (current[i],) = toolbox.mutate(tree)
        out.append((current, [deap_genome(t, names) for t in current]))
    return out


def run_row(n: int, population: tuple, runs: list[tuple[list, list]], devices: list,
            reps: int) -> dict[str, Any]:  # fmt: skip
    """Seconds for every generation's fitness, each side: DEAP as in fitness_row; ours
    scoring.max_errors from an empty executable cache, so every compile the run needs is
    in the time. Ratios are taken within each repetition."""
    pset, _, _, gp = population
    x = np.linspace(0.01, 1, n)
    ref = np.exp2(x)
    w = 1.0 / np.abs(ref)

    def deap() -> None:
        with np.errstate(all="ignore"):
            for trees, _ in runs:
                for tree in trees:
                    np.max(np.abs(gp.compile(tree, pset)(x) - ref) * w)

    def ours() -> None:
        scoring.clear_executables()
        for _, genomes in runs:
            scoring.max_errors(genomes, x, ref, w, devices=devices)

    plain = copy.copy(pset)  # untimed: ours must compute what DEAP computes (see fitness_row)
    plain.context = {**pset.context, "pdiv": np.divide}
    equal = total = 0
    with np.errstate(all="ignore"):
        for trees, genomes in runs:
            want = np.array([np.max(np.abs(gp.compile(t, plain)(x) - ref) * w) for t in trees])
            got = scoring.max_errors(genomes, x, ref, w, devices=devices)
            equal += int(((want == got) | (np.isnan(want) & np.isnan(got))).sum())
            total += len(trees)
    ratios, deap_s, ours_s = [], [], []
    for rep in range(reps):
        if rep % 2:
            o, d = _timed(ours), _timed(deap)
        else:
            d, o = _timed(deap), _timed(ours)
        deap_s.append(d), ours_s.append(o), ratios.append(d / o)
    return {"points": n, "deap_s": statistics.median(deap_s), "ours_s": statistics.median(ours_s),
            "ratio": statistics.median(ratios), "ratios": ratios,
            "compiles": scoring.executable_count(), "equal": equal, "total": total}  # fmt: skip


def run_fitness(count: int = 20, reps: int = 5) -> list[str]:
    """The table of a whole GP run's fitness evaluations, compiles included."""
    population = deap_population()
    runs = generations_of(population, count)
    devices = jax.devices()
    with jax.enable_x64(True):
        rows = [run_row(n, population, runs, devices, reps) for n in POINTS]
    sizes = [len(trees) for trees, _ in runs]
    nodes = statistics.mean(len(t) for trees, _ in runs for t in trees)
    out = [
        f"## A GP run's fitness, compiles included ({count} generations of {sizes[0]})",
        "",
        f"The generations an eaSimple-style run makes from the 500 random trees of"
        " autonumerics_throughput.md (tournament"
        f" of 3 on DEAP's error, varAnd: crossover 0.5, subtree mutation 0.2, height <= 12;"
        f" {nodes:.1f} nodes per tree on average). Each side scores every generation as in"
        " the fitness table; ours starts from an empty executable cache, so each bucket's"
        " compile, at its first use, is in the time (the 'compile time included' of the"
        f" target). Scoring uses one executable for every population whose padded shapes"
        " fit (scoring._capacity), so a run compiles once or twice. Median of"
        f" {reps} alternating repetitions; the ratio is the median of the ratios within"
        " each.",
        "",
        "| points | DEAP s | ours s (compiles included) | executables compiled | ours vs DEAP |"
        " ratios | errors bit-equal to DEAP, plain division |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r['points']:,} | {r['deap_s']:.3f} | {r['ours_s']:.3f} | {r['compiles']} |"
            f" {r['ratio']:.2f}x | {' / '.join(f'{v:.2f}' for v in r['ratios'])} |"
            f" {r['equal']:,} of {r['total']:,} |"
        )
    return out + [""]


def float32_scoring(batches: int = 12, size: int = 8, points: int = 10002) -> list[str]:
    """float32 mode's scoring of problem batches (mutated programs, as a campaign makes
    them): the register machine against compiling the rendered sources (compiled.py, what
    float32 mode does, so that a score is the exported function's)."""
    from problems.autonumerics import compiled
    from problems.autonumerics.mutate import random_program

    x = np.linspace(0, 1, points, dtype=np.float32)
    groups = [[random_program(7000 + size * b + k) for k in range(size)] for b in range(batches)]
    machine, xla, differ = [], [], 0
    with jax.enable_x64(True):
        interp_switch.evaluate(groups[0], x, f32=True)  # its compile is once per bucket
        for group in groups:
            seconds, a = timed_result(lambda g=group: interp_switch.evaluate(g, x, f32=True))
            machine.append(seconds)
            seconds, b = timed_result(lambda g=group: compiled.outputs(g, x))
            xla.append(seconds)
            differ += int((~((a == b) | (np.isnan(a) & np.isnan(b)))).any(axis=1).sum())
    m, c = statistics.median(machine), statistics.median(xla)
    problem = AutoNumerics(target="exp2", mode="float32")  # default tuning budget
    tune = statistics.median(
        _timed(lambda g=group: [problem.tune(p) for p in g]) for group in groups[:3]
    )
    return [
        f"## float32 scoring of a problem batch ({size} mutated programs, {points:,} points)",
        "",
        "| register machine s | compiled sources s | compiled vs machine | programs that differ |"
        " tuning the batch's constants s |",
        "|---|---|---|---|---|",
        f"| {m:.4f} | {c:.4f} | {c / m:.1f}x slower | {differ} of {batches * size} | {tune:.3f} |",
        "",
        "float32 mode scores with the compiled sources: XLA rewrites literal patterns and"
        " contracts a multiply into the add it feeds, so the register machine, which rounds"
        " every operation as written, gives another result on the programs counted here."
        " The compile is what that exactness costs, next to the tuning (tune.py, float32"
        " mode's defaults) that every batch also pays.",
        "",
    ]


def main() -> str:
    lines, _ = throughput()
    lines += fitness()
    lines += float32_scoring()
    text = "# AutoNumerics population throughput\n\n" + "\n".join(lines) + "\n"
    print(text, flush=True)
    (RESULTS / "autonumerics_throughput.md").write_text(text)
    return text


def main_runs() -> str:
    """``python -m bench.autonumerics_throughput runs``: the GP-run table alone, in its
    own results file (the other tables' results keep their six-run record)."""
    text = (f"# AutoNumerics: a GP run's fitness evaluations\n\nMachine: {machine()}, JAX"
            f" {jax.__version__}, C machine: {native.isa() or 'not built'}.\n\n"
            + "\n".join(run_fitness()) + "\n")  # fmt: skip
    print(text, flush=True)
    (RESULTS / "autonumerics_run_fitness.md").write_text(text)
    return text


if __name__ == "__main__":
    import sys

    main_runs() if sys.argv[1:] == ["runs"] else main()
