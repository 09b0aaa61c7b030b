r"""AutoNumerics on an accelerator: the one prepared script for a lent GPU (issue 5).

Runs on JAX's default backend (meant for a GPU; on a CPU it is a smoke test) and measures:

1. Population evaluation throughput, as bench/autonumerics_throughput.py defines it (the
   same 500 random DEAP trees, float64, lowering and compile included): DEAP's
   per-individual ``compile`` + NumPy on the host CPU against both JAX evaluators on the
   device, at 1,000 and 10,000 points, first call and steady:
   - ``switch``: interp_switch.evaluate, one instruction stream, ``lax.switch`` per
     instruction (the CPU evaluator: on a GPU each instruction is a loop iteration with
     its own kernels, so expect it to be slow there);
   - ``slots``: interp.run, every program one lane of a slot-aligned loop (a few dozen
     iterations, each over all programs x points: the shape a GPU wants).
   Each JAX result is compared with graph.evaluate_numpy on the same genomes (a fast
   wrong answer is no answer).
2. Exhaustive float32 verification on the device: the minimax degree-6 fma 2^x program and
   XLA's exp2 over every float32 in [0, 1] (1.07e9 values), time and max ULP; the CPU
   figures are in bench/results/autonumerics_float32.md (0.9842 ULP for the polynomial:
   the same program must give the same error on any device that contracts fma alike).

Writes bench/results/autonumerics_gpu.md, and $OUT/autonumerics_gpu.md when OUT is set.
AN_GPU_QUICK=1 shrinks it (100 trees, 500 and 1,000 points, every 4096th float32);
tests/problems/test_autonumerics_gpu_script.py runs its parts on the CPU.

On the device machine (JAX with CUDA, Python 3.12, no DEAP, nothing to fetch): run
``make gpu-wheels`` here (DEAP's wheel into .whl/, which git ignores), then one ``run``
call with carry [".whl"] and the command

    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl \
      && PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1 python3 -m bench.autonumerics_gpu

(about 2-4 minutes on an H200 by estimate; the table comes back as $OUT/autonumerics_gpu.md).
"""

from __future__ import annotations

import os
import statistics
from typing import Any

import jax
import numpy as np

from bench.autonumerics_throughput import deap_population, timed_result
from bench.common import RESULTS, machine
from problems.autonumerics import baselines, interp, interp_switch
from problems.autonumerics.graph import evaluate_numpy
from problems.autonumerics.targets import TARGETS
from problems.autonumerics.verify import exhaustive, jax_function

QUICK = os.environ.get("AN_GPU_QUICK") == "1"
TREES = 100 if QUICK else 500
POINTS = (500, 1000) if QUICK else (1000, 10000)
REPS = 3 if QUICK else 5
STRIDE = 4096 if QUICK else 1  # float32 bit patterns: every one, or a sample


def _slots(genomes: list[dict[str, Any]], x: np.ndarray) -> np.ndarray:
    enc = interp.encode(genomes)
    return interp.evaluate(enc, x)


def _agreement(out: np.ndarray, expected: np.ndarray) -> tuple[float, int]:
    """(max relative difference where both are finite, points where only one is finite)
    against the NumPy reference of the same genomes (DEAP's protected division differs
    from it where a tree divides by an exact 0, e.g. x - x)."""
    both = np.isfinite(out) & np.isfinite(expected)
    diff = np.abs(out[both] - expected[both]) / (1 + np.abs(expected[both]))
    return float(diff.max(initial=0.0)), int((np.isfinite(out) != np.isfinite(expected)).sum())


EVALUATORS = {
    "switch": lambda genomes, x: interp_switch.evaluate(genomes, x),
    "slots": _slots,
}


def throughput_rows(trees: int = TREES, reps: int = REPS) -> list[dict[str, Any]]:
    pset, deap_trees, genomes, gp = deap_population(trees)
    rows = []
    for n in POINTS:
        x = np.linspace(0.01, 1, n)
        with np.errstate(all="ignore"):
            expected = np.stack([evaluate_numpy(g, x) for g in genomes])
        deap = [timed_result(lambda x=x: [gp.compile(t, pset)(x) for t in deap_trees])[0] for _ in range(reps)]  # fmt: skip
        row: dict[str, Any] = {"points": n, "deap_s": statistics.median(deap)}
        with jax.enable_x64(True):
            for name, fn in EVALUATORS.items():
                row[f"{name}_first_s"], out = timed_result(lambda fn=fn, x=x: fn(genomes, x))
                row[f"{name}_max_diff"], row[f"{name}_odd"] = _agreement(out, expected)
                steady = [timed_result(lambda fn=fn, x=x: fn(genomes, x))[0] for _ in range(reps)]
                row[f"{name}_s"] = statistics.median(steady)
        rows.append(row)
    return rows


def verification_rows(stride: int = STRIDE) -> list[dict[str, Any]]:
    t = TARGETS["exp2"]
    programs = [
        (
            "minimax deg 6 fma (float32 coeffs), 6 ops",
            jax_function(baselines.minimax(t, 6, True, True)),
        ),  # fmt: skip
        ("XLA jnp.exp2", t.xla_fn()),
    ]
    rows = []
    for name, fn in programs:
        exhaustive(fn, "exp2", 0.5, t.hi, stride=stride)  # compiles the same kernel, untimed
        rows.append({"program": name, **exhaustive(fn, "exp2", t.lo, t.hi, stride=stride)})
    return rows


def report(rows: list[dict[str, Any]], checks: list[dict[str, Any]], trees: int) -> str:
    device = jax.devices()[0]
    lines = [
        "# AutoNumerics on an accelerator",
        "",
        f"Device: {device.platform} ({getattr(device, 'device_kind', '?')}), JAX {jax.__version__};"
        f" host: {machine()}. DEAP runs on the host CPU, one process.",
        "",
        f"## Population evaluation throughput ({trees} random DEAP trees, float64, medians)",
        "",
        "| points | DEAP s | evaluator | first call s | steady s | first vs DEAP |"
        " steady vs DEAP | max rel. diff vs NumPy | points finite in one only |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        for name in EVALUATORS:
            first, steady = r[f"{name}_first_s"], r[f"{name}_s"]
            lines.append(
                f"| {r['points']:,} | {r['deap_s']:.4f} | {name} | {first:.4f} | {steady:.4f} |"
                f" {r['deap_s'] / first:.2f}x | {r['deap_s'] / steady:.2f}x |"
                f" {r[f'{name}_max_diff']:.1e} | {r[f'{name}_odd']} |"
            )
    lines += [
        "",
        "## Exhaustive float32 verification, 2^x on [0, 1]",
        "",
        "| program | max ULP | worst x | values | seconds | values/s |",
        "|---|---|---|---|---|---|",
    ]
    for c in checks:
        lines.append(
            f"| {c['program']} | {c['max_ulp']:.4f} | {c['worst_x']:.9g} | {c['count']:.3g} |"
            f" {c['seconds']:.2f} | {c['count'] / c['seconds']:.3g} |"
        )
    lines.append("")
    return "\n".join(lines)


def main() -> str:
    rows, checks = throughput_rows(), verification_rows()
    text = report(rows, checks, TREES)
    print(text, flush=True)
    if not QUICK:
        (RESULTS / "autonumerics_gpu.md").write_text(text)
    if os.environ.get("OUT"):
        with open(os.path.join(os.environ["OUT"], "autonumerics_gpu.md"), "w") as f:
            f.write(text)
    return text


if __name__ == "__main__":
    main()
