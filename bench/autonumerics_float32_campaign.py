"""A float32-mode campaign from f(x) = x, its front checked over every float32 (issue 5).

The float32 table (autonumerics_float32.py) tunes minimax polynomials; this asks whether
the search finds a faithful program by itself: a float32-mode campaign on 2^x over [0, 1]
(or e^x over [-ln2/2, ln2/2]: AN_TARGET=exp) with at most MAX_OPS operations starts from
the empty program (no polynomial given), and the best program of each operation count on
its front is checked exhaustively (every float32 of the domain, verify.exhaustive) with the
constants its evaluation tuned, as ``evolve best --format jax`` exports it.

``python -m bench.autonumerics_float32_campaign`` (AN_MINUTES, default 25; AN_SEED, 1;
AN_VALID_POINTS, the search's sample size, default the problem's 10,000)
writes bench/results/autonumerics_float32_campaign.md (``..._exp.md`` for e^x).
``--db URL --name NAME`` checks an existing campaign instead of running one.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from typing import Any

from bench.common import RESULTS, machine
from db.records import EVALUATED
from db.sql import SQLStorage
from problems.autonumerics.export import tuned_genome
from problems.autonumerics.render import render_python
from problems.autonumerics.targets import TARGETS
from problems.autonumerics.verify import exhaustive, jax_function, latency

MAX_OPS = 6
CHECK_FROM = 4  # fewer operations are thousands of ULPs off: no need to enumerate them
TOP = 4  # programs of MAX_OPS operations checked, best first on the search samples
TARGET = os.environ.get("AN_TARGET", "exp2")
VALID = int(os.environ.get("AN_VALID_POINTS", "0"))  # 0: the problem's default
# the float32 table's figures for the same target (autonumerics_float32.md)
REFERENCE = {
    "exp2": "minimax degree 6 fma 0.9842 ULP, degree 6 tuned in float32 0.8923 ULP,"
    " XLA's exp2 1.0707 ULP",
    "exp": "minimax degree 6 fma 0.8957 ULP (|x| >= 2^-12 and every 64th value below),"
    " degree 6 tuned in float32 0.7673 ULP, XLA's exp 0.8378 ULP (same partial check)",
}


def run_campaign(db: str, minutes: float, seed: int) -> str:
    from evolve import api

    summary = api.run(
        f"autonumerics.{TARGET}",
        # held_out off: this bench checks the front itself (and the TOP best of MAX_OPS)
        {
            "db": db,
            "time_limit_s": minutes * 60,
            "max_evals": 10**9,
            "seed": seed,
            "held_out": False,
        },
        ["problem.mode=float32", f"problem.max_ops={MAX_OPS}"]
        + ([f"problem.valid_points={VALID}"] if VALID else []),
    )
    return summary.name


def front(db: str, name: str, stride: int = 1) -> tuple[list[dict[str, Any]], int, str]:
    """The best (lowest sample error) evaluated program of each operation count, and for
    MAX_OPS the TOP best (the samples can miss a program's worst input, so the best on the
    samples need not be the best over every float32), and the number of evaluated
    programs, and the campaign's problem options. stride > 1 checks every stride-th
    float32 (tests)."""
    with SQLStorage(db) as storage:
        record = storage.get_campaign(name)
        if record is None:
            raise SystemExit(f"no campaign {name!r} in {db}")
        options = ", ".join(f"{k}={v}" for k, v in record.config["problem_options"].items())
        by_ops: dict[int, list[Any]] = {}
        evaluated = 0
        for p in storage.programs(record.id, status=EVALUATED):
            evaluated += 1
            if "error" in p.metrics and p.metrics.get("ops", 99) <= MAX_OPS:
                by_ops.setdefault(int(p.metrics["ops"]), []).append(p)
    t = TARGETS[TARGET]
    rows = []
    for ops in sorted(by_ops):
        ranked = sorted(by_ops[ops], key=lambda p: p.metrics["error"])
        for rank, p in enumerate(ranked[: TOP if ops == MAX_OPS else 1], start=1):
            row: dict[str, Any] = {"ops": ops, "rank": rank, "id": p.id, "sample": p.metrics["error"]}  # fmt: skip
            row["genome"] = tuned_genome(p.genome, p.metrics, True)
            if ops >= CHECK_FROM:
                fn = jax_function(row["genome"])
                row.update(exhaustive(fn, TARGET, t.lo, t.hi, stride), ns=latency(fn, t.lo, t.hi))
            rows.append(row)
    return rows, evaluated, options


def report(rows: list[dict[str, Any]], evaluated: int, name: str, minutes: str, options: str) -> str:  # fmt: skip
    t = TARGETS[TARGET]
    xla_ns = latency(t.xla_fn(), t.lo, t.hi)
    lines = [
        "# AutoNumerics float32 campaign from f(x) = x",
        "",
        f"Machine: {machine()}. Campaign `{name}`: {t.description}, float32 mode, at most"
        f" {MAX_OPS} operations ({options}), {minutes}, {evaluated:,} evaluated programs,"
        " starting from f(x) = x (no polynomial given). The best program of each operation"
        f" count on the search samples ({TOP} best for {MAX_OPS} operations: the samples can"
        " miss a program's worst input), then checked over every float32 of the domain.",
        "",
        "| ops | rank on samples | program | error on samples (ULP) | every float32 (ULP) |"
        " < 1 ULP | values |"
        f" check s | ns/elem | vs XLA {t.xla} |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        full = f"{r['max_ulp']:.4f}" if "max_ulp" in r else "not checked"
        ok = ("yes" if r["max_ulp"] < 1 else "no") if "max_ulp" in r else "-"
        count = f"{r['count']:.3g}" if "count" in r else "-"
        secs = f"{r['seconds']:.0f}" if "seconds" in r else "-"
        speed = f"{r['ns']:.3f} | {xla_ns / r['ns']:.2f}x" if "ns" in r else "- | -"
        lines.append(f"| {r['ops']} | {r['rank']} | {r['id']} | {r['sample']:.4f} | {full} | {ok} | {count} | {secs} | {speed} |")  # fmt: skip
    lines += [
        "",
        f"Latency: jitted, 100 chained calls on 10,000 points, best of 50 (verify.latency);"
        f" XLA's float32 {t.xla} {xla_ns:.3f} ns/elem in the same run.",
    ]
    fewer = [r for r in rows if r["ops"] == MAX_OPS - 1]
    most = [r for r in rows if r["ops"] == MAX_OPS and "max_ulp" in r]
    shown = fewer + ([min(most, key=lambda r: r["max_ulp"])] if most else [])
    for r in shown:
        lines += [
            "",
            f"The {r['ops']}-operation program {r['id']}"
            f" ({'best over every float32' if r['ops'] == MAX_OPS else 'best on the samples'}),"
            " as exported:",
            "",
            "```python",
            render_python(r["genome"], f32=True, doc=f"{t.description}, float32, {r['ops']} ops"),
            "```",
        ]
    lines += [
        "",
        f"Reference points (autonumerics_float32.md): {REFERENCE[TARGET]}.",
        "",
    ]
    return "\n".join(lines)


def main() -> str:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db")
    parser.add_argument("--name")
    parser.add_argument("--minutes", default="")
    args = parser.parse_args()
    minutes = float(os.environ.get("AN_MINUTES", "25"))
    if args.db and args.name:
        db, name = args.db, args.name
    else:
        db = f"sqlite:///{tempfile.mkdtemp()}/float32_campaign.db"
        name = run_campaign(db, minutes, int(os.environ.get("AN_SEED", "1")))
    rows, evaluated, options = front(db, name)
    text = report(rows, evaluated, name, args.minutes or f"{minutes:g} minutes", options)
    print(text, flush=True)
    suffix = "" if TARGET == "exp2" else f"_{TARGET}"
    (RESULTS / f"autonumerics_float32_campaign{suffix}.md").write_text(text)
    return text


if __name__ == "__main__":
    main()
