"""Every 5-operation program with a division, for 2^x on [0, 1] or e^x on [-ln2/2, ln2/2]
(float32 ULPs).

bench/autonumerics_structures.py enumerated every 5-op program over {add, sub, mul, fma}
(generalised fma forms pc a*b+C, pn a*b+c, sn C*a+c, af C*a+C') and fitted the families
that can matter; division was left out. Here the ops are those four plus two division forms
(a, b: x or earlier ops):

* dv a/b (a != b: a/a is the constant 1),
* dc C/a (a constant over a node).

Both operands constant folds away; a/C == a*(1/C) is an af (C*a + 0), so a division by a
constant is not a new structure (programs whose only division is by a constant are in the
structures study). Enumerated: every program of 5 such ops with at least one dv or dc, all
ops used, af(af(n)) and dc(dc(n)) dropped (an af(n) family with one op fewer), commutative
operands ordered; isomorphic DAGs merged (the structures study's key; dv's operands ordered).
A family's dimension is the Jacobian rank of the output at 48 Chebyshev points over its
constants (the best of 2 random constant sets free of poles, columns normalised); only
structures with >= 5 constants can reach dimension 5.

Fits are the structures study's (``Fitter.fit``: least-squares and lm_lawson starts, the ULP-
weighted minimax on 20,001 points) and the rounding-aware pieces the rounding-fit study's
(``g_terms``, ``minimise_j``, ``polish``, ``float32_stage``): bench/autonumerics_structures.py's
genome, forward, node values and adjoints know dv and dc (a program without a division
takes the same code as before). Poles: tune_programs.eval_values (under max_error and
lm_lawson) rejects a constant set whose denominator is not of one sign on the points, so a fit
whose denominator crosses zero in the domain scores inf; every reported fit is checked once more
(``pole_free``: each denominator one-signed on the 20,001 points).

Run ``python -m bench.autonumerics_structures_div`` (about an hour on 2 cores); writes
bench/results/autonumerics_structures_div.md (AN_STRUCT_TARGET=exp, read by the structures
module: e^x, written to autonumerics_structures_div_exp.md). AN_DIV_QUICK=1: a small subset,
no file.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from typing import Any

import numpy as np

import bench.autonumerics_rounding_fit as RF
from bench.autonumerics_structures import (
    DIVISIONS,
    N_CONST,
    TARGET,
    TITLE,
    Fitter,
    _choices,
    _key,
    formula,
    forward,
    n_constants,
    node_values,
)
from bench.common import RESULTS, machine

N_OPS = 5
N_CONST_DIV = {**N_CONST, "dv": 0, "dc": 1}
MIN_CONSTS = 5  # dimension <= number of constants; dimension 5 is the least screened
SEED = 2026
QUICK = os.environ.get("AN_DIV_QUICK") == "1"
BUDGET_S = 3600.0  # the fits' CPU budget (the enumeration and float32 stage besides)
EXACT_BAR = 0.5  # below this exact error a family goes to J and float32


# -- enumeration -------------------------------------------------------------------------------
def _choices_div(i: int, ops: list[tuple]) -> list[tuple]:
    """The structures study's op choices at node i plus dv a/b (a != b) and dc C/a (not of
    a dc node)."""
    out = _choices(i, ops)
    for a in range(i):
        out += [("dv", a, b) for b in range(i) if b != a]
        if a == 0 or ops[a - 1][0] != "dc":
            out.append(("dc", a))
    return out


def enumerate_div(n_ops: int = N_OPS, min_consts: int = MIN_CONSTS) -> dict[str, Any]:
    """Every n_ops-op program with at least one division and all ops used. Returns
    ``n_all`` (programs), ``n_unique`` (non-isomorphic, by a hash of the key), ``by_consts``
    and ``by_divs`` (Counters over all programs) and ``kept``: the non-isomorphic programs
    with >= min_consts constants (first of each class), in enumeration order."""
    by_consts: Counter = Counter()
    by_divs: Counter = Counter()
    seen: set[int] = set()
    kept: dict[tuple, tuple] = {}

    def rec(ops: list[tuple], used: list[bool], nc: int, nd: int) -> None:
        i = len(ops) + 1
        if i > n_ops:
            if nd and all(used[1:n_ops]):
                prog = tuple(ops)
                key = _key(prog)
                by_consts[nc] += 1
                by_divs[nd] += 1
                seen.add(hash(key))
                if nc >= min_consts:
                    kept.setdefault(key, prog)
            return
        left = n_ops - i
        for op in _choices_div(i, ops):
            d = nd + (op[0] in DIVISIONS)
            if left == 0 and not d:
                continue
            u = used + [False]
            for v in op[1:]:
                u[v] = True
            if sum(not v for v in u[1:]) > 1 + 2 * left:  # cannot all be used any more
                continue
            rec(ops + [op], u, nc + N_CONST[op[0]], d)

    rec([], [True], 0, 0)
    return {"n_all": sum(by_consts.values()), "n_unique": len(seen), "by_consts": by_consts,
            "by_divs": by_divs, "kept": list(kept.values())}  # fmt: skip


def denominators(prog: tuple) -> list[tuple[int, int]]:
    """(op index (node), node the op divides by) of every division."""
    return [(i, op[2] if op[0] == "dv" else op[1]) for i, op in enumerate(prog, start=1)
            if op[0] in DIVISIONS]  # fmt: skip


def pole_free(prog: tuple, th: np.ndarray, x: np.ndarray) -> bool:
    """Every denominator of one sign (never 0) on x, and every node finite."""
    v = node_values(prog, np.asarray(th, np.float64), x)
    if not all(np.all(np.isfinite(u)) for u in v[1:]):
        return False
    return all(np.all(v[d] > 0) or np.all(v[d] < 0) for _, d in denominators(prog))


def pole_at_zero(prog: tuple, rng: np.random.Generator) -> bool:
    """A denominator that is 0 (or not finite) at x = 0 for every constant set (x, x*x,
    c/x, ...: tested at 2 random sets): the program is inf or NaN at the float32 input 0
    of the domain (both domains hold 0) whatever its constants, so the family is never valid
    there."""
    x0 = np.zeros(1)
    for _ in range(2):
        v = node_values(prog, rng.normal(0.0, 1.0, n_constants(prog)), x0)
        if not any(not np.isfinite(v[d][0]) or v[d][0] == 0 for _, d in denominators(prog)):
            return False
    return True


def dimension_div(prog: tuple, rng: np.random.Generator, draws: int = 2, tries: int = 8) -> int:
    """Rank of d(values)/d(constants) at 48 points (tolerance 1e-9 of the largest singular
    value, as S.dimension), the best over ``draws`` random constant sets (normal(0, 1))
    whose values stay finite and below 1e4 (no pole near the points; the draw with the
    smallest values if ``tries`` draws give none)."""
    k = n_constants(prog)
    if k == 0:
        return 0
    accepted, fallback = [], (np.inf, None)
    for _ in range(tries):
        f = forward(prog, rng.normal(0.0, 1.0, k))
        if not np.all(np.isfinite(f)):
            continue
        top = float(np.max(np.abs(f[0])))
        if top < 1e4:
            accepted.append(f)
            if len(accepted) == draws:
                break
        elif top < fallback[0]:
            fallback = (top, f)
    if not accepted and fallback[1] is not None:
        accepted = [fallback[1]]
    best = 0
    for f in accepted:
        s = np.linalg.svd(f[1:], compute_uv=False)
        if s[0] > 0:
            best = max(best, int(np.sum(s > s[0] * 1e-9)))
    return best


# -- the study ---------------------------------------------------------------------------------
N_B5, N_B4, N_C = 800, 100, 20  # stage B: the best of dimension 5 / 4 by stage A; stage C
N_F32 = 3  # J: every family below EXACT_BAR, else (for context) the best N_F32 by exact error
N_SLP, N_ES = 20, 10  # of those, J minimised for the best N_SLP, float32 stage for N_ES
KNOWN_DIV = {  # the hand-picked rationals of bench/autonumerics_float32.py, in this form
    "[2/2] rational": (("af", 0), ("pc", 1, 0), ("af", 0), ("pc", 3, 0), ("dv", 2, 4)),
    "[3/1] rational": (("af", 0), ("pc", 1, 0), ("pc", 2, 0), ("af", 0), ("dv", 3, 4)),
    "[1/3] rational": (("af", 0), ("af", 0), ("pc", 2, 0), ("pc", 3, 0), ("dv", 1, 4)),
}


def _stage(fitter: Fitter, progs: list[tuple], rng: np.random.Generator, label: str,
           **kw: Any) -> tuple[dict[tuple, tuple[float, list[float]]], float]:  # fmt: skip
    """Fitter.fit(**kw) of every program; ({prog: (max ULP, constants)}, seconds)."""
    t0 = time.perf_counter()
    out = {}
    step = max(1, len(progs) // 10)
    for i, p in enumerate(progs):
        out[p] = fitter.fit(p, rng, **kw)
        if i % step == 0 or i == len(progs) - 1:
            best = min(e for e, _ in out.values())
            print(f"{label}: {i + 1}/{len(progs)} {time.perf_counter() - t0:.0f} s, best "
                  f"{best:.3f} ULP", flush=True)  # fmt: skip
    return out, time.perf_counter() - t0


def main() -> str:
    started = time.perf_counter()
    rng = np.random.default_rng(SEED)
    en = enumerate_div()
    kept = en["kept"]
    pz = [p for p in kept if pole_at_zero(p, rng)]
    pz_set = set(pz)
    dims = {p: dimension_div(p, rng) for p in kept if p not in pz_set}
    by_dim = Counter(dims.values())
    t_enum = time.perf_counter() - started
    print(f"{en['n_all']} programs, {en['n_unique']} non-isomorphic, {len(kept)} with >= "
          f"{MIN_CONSTS} constants, {len(pz)} of them pole at 0, dims {sorted(by_dim.items())}, "
          f"{t_enum:.0f} s", flush=True)  # fmt: skip
    fitter = Fitter()
    six = [p for p, d in dims.items() if d >= 6]
    five = [p for p, d in dims.items() if d == 5]
    four = [p for p, d in dims.items() if d == 4]
    nb5, nb4, nc = N_B5, N_B4, N_C
    if QUICK:
        five, four, nb5, nb4, nc = five[:200], four[:200], 20, 10, 3
    fits: dict[tuple, tuple[float, list[float]]] = {}
    a6, t_a6 = _stage(fitter, six, rng, "A dim >= 6", l2=32, lawson=12, keep=2, refine=200)
    a5, t_a5 = _stage(fitter, five, rng, "A dim 5", l2=6, lawson=0, keep=1, refine=40,
                      stride=20)  # fmt: skip
    a4, t_a4 = _stage(fitter, four, rng, "A dim 4", l2=2, lawson=0, keep=1, refine=20,
                      stride=40)  # fmt: skip
    fits.update(a6)
    fits.update(a5)
    fits.update(a4)
    b_progs = sorted(five, key=lambda p: a5[p][0])[:nb5]
    b_progs += sorted(four, key=lambda p: a4[p][0])[:nb4]
    b, t_b = _stage(fitter, b_progs, rng, "B", l2=32, lawson=12, keep=2, refine=200)
    for p, f in b.items():
        fits[p] = min(fits[p], f, key=lambda t: t[0])
    c_progs = sorted(fits, key=lambda p: fits[p][0])[:nc]
    c, t_c = _stage(fitter, c_progs, rng, "C", l2=64, lawson=32, keep=3, refine=400)
    for p, f in c.items():
        fits[p] = min(fits[p], f, key=lambda t: t[0])
    # every finite fit once more for poles: each denominator one-signed on the grid
    n_pole = 0
    for p, (e, cs) in fits.items():
        if np.isfinite(e) and not pole_free(p, np.asarray(cs), fitter.x):
            fits[p], n_pole = (np.inf, cs), n_pole + 1
    ranked = sorted(fits, key=lambda p: fits[p][0])
    known = {}
    for name, p in KNOWN_DIV.items():
        q = next((r for r in ranked if _key(r) == _key(p)), None)
        known[name] = (q, ranked.index(q) + 1 if q else None, fits[q][0] if q else None)
    # J (exact + first-order rounding bound) at the exact fits of the best 15
    obj = RF.Objective()
    j_exact = {p: obj.parts(p, np.asarray(fits[p][1])) for p in ranked[:15]}
    # J at the exact fit of every family below EXACT_BAR (else, for context, of the best
    # N_F32); J minimised (SLP) from it for the best N_SLP by that J, then the Nelder-Mead
    # polish and the float32 stage for the best N_ES by minimised J
    t0 = time.perf_counter()
    below = [p for p in ranked if fits[p][0] < EXACT_BAR]
    f32_progs = below if below else ranked[:N_F32]
    j_at_fit = sorted((obj.j(p, np.asarray(fits[p][1])), p) for p in f32_progs)
    slp = []
    for j0, p in j_at_fit[:N_SLP]:
        j, cj = RF.minimise_j(obj, p, np.asarray(fits[p][1]), 60)
        slp.append((j, p, cj))
        print(f"J {formula(p)}: exact fit {j0:.3f} -> SLP {j:.3f}", flush=True)
    slp.sort(key=lambda t: t[0])
    best_j = []
    for _, p, cj in slp[:N_ES]:
        best_j.append((*RF.polish(obj, p, cj, 1500), p))
    best_j = [(j, p, cj) for j, cj, p in best_j]
    f32 = RF.float32_stage(obj, best_j)
    t_f32 = time.perf_counter() - t0
    total = time.perf_counter() - started
    return report(locals())


def report(r: dict[str, Any]) -> str:
    en, fits, ranked, dims = r["en"], r["fits"], r["ranked"], r["dims"]
    out = [f"# AutoNumerics: every 5-operation program with a division, for {TITLE}", ""]
    out.append(f"Machine: {machine()}. Seed {SEED}. Total {r['total']:.0f} s (enumeration and "
               f"dimensions {r['t_enum']:.0f} s, fits {r['t_a6'] + r['t_a5'] + r['t_a4'] + r['t_b'] + r['t_c']:.0f} s, "
               f"J and float32 {r['t_f32']:.0f} s)"
               + (" (AN_DIV_QUICK=1: subset only)" if QUICK else "") + f". Target {TITLE}; "
               "5 ops over {add, sub, mul, div, fma}, at least one division; the bar: < 1 "
               "float32 ULP over every float32 input.")  # fmt: skip
    out += ["", "## Enumeration", ""]
    out.append(
        "- Ops: the structures study's generalised fma forms (pc a*b+C, pn a*b+c, sn C*a+c, af "
        "C*a+C') and dv a/b (a != b), dc C/a (a, b: x or an earlier op; a/C is the af C'*a + 0, "
        "so a division by a constant is no new structure). All ops used, at least one dv or "
        f"dc, af(af(n)) and dc(dc(n)) dropped: {en['n_all']:,} programs, {en['n_unique']:,} "
        "non-isomorphic (commutative operands ordered; isomorphic DAGs merged, the structures "
        "study's key).")  # fmt: skip
    out.append("- By number of free constants (all programs): " + ", ".join(
        f"{k}: {v:,}" for k, v in sorted(en["by_consts"].items())) + "; by number of "
        "divisions: " + ", ".join(f"{k}: {v:,}" for k, v in sorted(en["by_divs"].items()))
        + ".")  # fmt: skip
    out.append(
        f"- With >= {MIN_CONSTS} constants (only these can have dimension >= 5): "
        f"{len(r['kept']):,} non-isomorphic. {len(r['pz']):,} of them divide by a node that is 0 "
        "at x = 0 for every constant set (x, x*x, x*t, ...: inf or NaN at the float32 input "
        f"0, never valid on {RF.DOMAIN}); the other {len(dims):,} by family dimension (Jacobian "
        "rank at 48 Chebyshev points, the best of 2 random pole-free constant sets): "
        + ", ".join(f"dim {k}: {v:,}" for k, v in sorted(r["by_dim"].items()))
        + (". No family with a division has dimension 6 or more." if not r["six"] else "."))  # fmt: skip
    out += ["", "## Fits (exact arithmetic, ULP-weighted minimax)", ""]
    out.append(
        "Fitter.fit of bench/autonumerics_structures.py (random starts normal(0, 1) times 0.3, "
        "1 or 3 through least squares at 48 Chebyshev points and/or 40 lm_lawson steps on "
        "every 40th point, the best refined by lm_lawson; error: max over all 20,001 points; "
        "a constant set whose denominator is not one-signed on the points is rejected, and "
        f"every final fit was checked for poles once more ({r['n_pole']} rejected then).")  # fmt: skip
    if r["six"]:
        out.append(f"- Dimension >= 6: all {len(r['six']):,}, 32 + 12 starts, best 2 of each "
                   f"refined 200 steps ({r['t_a6']:.0f} s).")  # fmt: skip
    out.append(f"- Stage A: all {len(r['five']):,} of dimension 5 (6 least-squares starts, the "
               f"best refined by 40 lm_lawson steps on every 20th point; {r['t_a5']:.0f} s) and "
               f"all {len(r['four']):,} of dimension 4 (2 starts, 20 steps on every 40th point; "
               f"{r['t_a4']:.0f} s).")  # fmt: skip
    out.append(f"- Stage B: the best {r['nb5']:,} of dimension 5 and {r['nb4']:,} of dimension 4 "
               "by stage A again (32 least-squares + 12 lm_lawson starts, the best 2 of each "
               f"kind refined by 200 steps on every 4th point; {r['t_b']:.0f} s).")  # fmt: skip
    out.append(f"- Stage C: the best {r['nc']} overall again (64 + 32 starts, best 3 of each "
               f"refined 400 steps; {r['t_c']:.0f} s). Dimension <= 3 was not fitted.")  # fmt: skip
    for name, (q, rank, e) in r["known"].items():
        if q is not None:
            out.append(f"- Known: {name} `{formula(q)}` ranks {rank:,} of {len(ranked):,}, "
                       f"{e:.3f} ULP exact (bench/results/autonumerics_float32.md).")  # fmt: skip
    errs = np.array([fits[p][0] for p in ranked])
    out.append("- Fitted families by exact max error: " + ", ".join(
        f"< {b}: {int(np.sum(errs < b)):,}" for b in (0.5, 1, 2, 5, 10)) + f" (of {len(ranked):,}).")  # fmt: skip
    out += ["", "## Best 15 by exact-arithmetic error", "",
            "| # | structure | constants | dim | exact max ULP | bound | J = max(exact + bound) |",
            "|---|---|---|---|---|---|---|"]  # fmt: skip
    for i, p in enumerate(ranked[:15], start=1):
        j, _, bd = r["j_exact"][p]
        out.append(f"| {i} | `{formula(p)}` | {n_constants(p)} | {dims[p]} | "
                   f"{fits[p][0]:.3f} | {bd:.3f} | {j:.3f} |")  # fmt: skip
    out.append("")
    consts = [float(f"{v:.9g}") for v in fits[ranked[0]][1]]
    out.append(f"Best fit's constants (op order): `{consts}`.")
    out.append("")
    out.append("bound: the first-order rounding bound (bench/autonumerics_structures."
               "rounding_bound, a division rounded once like any op) at the exact-fit "
               "constants, its max over the grid; J: max over x of exact error + bound.")  # fmt: skip
    out += ["", "## float32", ""]
    if r["below"]:
        out.append(f"{len(r['below'])} families are below {EXACT_BAR} ULP exact. J (exact error "
                   "+ first-order rounding bound, bench.autonumerics_rounding_fit.Objective) at "
                   f"each one's exact fit: min {r['j_at_fit'][0][0]:.3f}, the best "
                   f"{min(N_SLP, len(r['j_at_fit']))} by it minimised")  # fmt: skip
    else:
        out.append(f"No family is below {EXACT_BAR} ULP exact. For context only, the best "
                   f"{len(r['f32_progs'])} by exact error: J minimised")  # fmt: skip
    out[-1] += (" from the exact fit (minimise_j, 60 SLP steps); the best "
                f"{len(r['f32'])} by that J polished (its Nelder-Mead, 1,500 evaluations) and "
                "through its float32_stage: constants to float32, the float32 ES "
                f"({RF.ES_GENS} gens x {RF.ES_POP}, 8,192 samples), the partial check (every "
                f"float32 |x| >= {RF.PARTIAL_FROM} and every 64th bit pattern below) and the full "
                f"check (every float32 in {RF.DOMAIN}) where the partial one is < 1 ULP.")  # fmt: skip
    if len(r["slp"]) > len(r["f32"]):
        out.append("")
        out.append("J after SLP, all minimised: " + ", ".join(
            f"{j:.3f}" for j, _, _ in r["slp"]) + ".")  # fmt: skip
    out += ["", "| structure | exact fit | J (final) | exact at J-opt | bound at J-opt | "
            "float32 at J-opt | ES (samples) | partial check | full check |",
            "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for w in r["f32"]:
        fs = f"{w['full']:.4f}" if w["full"] is not None else "not run (partial >= 1)"
        out.append(f"| `{formula(w['prog'])}` | {fits[w['prog']][0]:.3f} | {w['j']:.3f} | "
                   f"{w['exact']:.3f} | {w['bound']:.3f} | {w['at_j']:.3f} | {w['es']:.3f} | "
                   f"{w['partial']:.4f} | {fs} |")  # fmt: skip
    winners = [w for w in r["f32"] if w["full"] is not None and w["full"] < 1]
    out += ["", "## Conclusion", ""]
    if winners:
        w = min(winners, key=lambda w: w["full"])
        out.append(f"FOUND: `{formula(w['prog'])}` is {w['full']:.4f} ULP over every "
                   f"float32 in {RF.DOMAIN}, with 5 operations.")  # fmt: skip
    else:
        p0 = ranked[0]
        out.append(CONCLUSION.format(
            best=fits[p0][0], best_form=formula(p0), best_dim=dims[p0],
            n_below=len(r["below"]), bar=EXACT_BAR,
            best32=min(w["partial"] for w in r["f32"]), n_fit=len(ranked),
            best_j=min(w["j"] for w in r["f32"]), n_slp=len(r["slp"]), n_es=len(r["f32"]),
            n5=len(r["five"]), n4=len(r["four"]), nb5=r["nb5"], nb4=r["nb4"],
            top_dims=", ".join(f"dim {k}: {v:,}" for k, v in sorted(r["by_dim"].items())
                               if k >= 5)))  # fmt: skip
    text = "\n".join(out) + "\n"
    if not QUICK:
        RESULTS.mkdir(exist_ok=True)
        suffix = "" if TARGET == "exp2" else f"_{TARGET}"
        (RESULTS / f"autonumerics_structures_div{suffix}.md").write_text(text)
    return text


CONCLUSION = (
    "Not found. The best 5-op program with a division is {best:.3f} ULP in exact arithmetic "
    "(`{best_form}`, dimension {best_dim}); {n_below} families are below {bar} ULP exact. "
    "None is below 1 ULP in float32: the lowest J (exact error + first-order rounding "
    "bound) reached is {best_j:.3f} ULP, and the best float32 program tuned here is "
    "{best32:.4f} ULP on the partial check. As in the structures study, exact accuracy is "
    "not what fails: the roundings of the intermediate values, carried into the result, "
    "are.\n\n"
    "Dimension: a division costs an operation that adds at most one constant (dv none, dc "
    "one), and no 5-op family with a division reaches dimension 6 ({top_dims}).\n\n"
    "What this covers: every 5-op program over {{add, sub, mul, div, fma}} with at least one "
    "division by a non-constant is an instance of one of the enumerated structures (fma "
    "constants specialised to 0 or +-1; a division by a constant is a multiplication, "
    "already in the structures study). Every family of dimension 5 ({n5:,}) was fitted from "
    "6 least-squares starts and every one of dimension 4 ({n4:,}) from 2; the best {nb5:,} / "
    "{nb4:,} of them again from 44 starts, the best 20 from 96. The known rationals "
    "reproduce the float32 bench's exact errors (see Fits).\n\n"
    "What it does not cover: (1) dimension <= 3 was not fitted, and the families whose "
    "denominator vanishes at x = 0 are excluded (invalid at the input 0); (2) the fits are "
    "local (multi-start Levenberg-Marquardt with Lawson weights), and rational fits have "
    "narrow basins between poles: a family fitted from 2-6 starts only is screened, not "
    "settled; this is strong negative evidence, not a proof; (3) J was minimised for the "
    "best {n_slp} by J at their exact fits and the ES ran for the best {n_es} by minimised J "
    "only, each from one constant set; (4) the dimension is the Jacobian rank at random "
    "constant sets (tolerance 1e-9); (5) a/C rounds differently from a*(1/C) in float32 "
    "(same family, same first-order bound)."
)

if __name__ == "__main__":
    print(main())
