"""bench.autonumerics_structures_div: the enumeration with divisions, the division-aware
forward / reverse derivatives and a known rational's fit."""

import numpy as np
from numpy.polynomial import Polynomial

from bench.autonumerics_structures import adjoints, forward, genome, n_constants, node_values
from bench.autonumerics_structures_div import KNOWN_DIV, enumerate_div, pole_at_zero, pole_free
from problems.autonumerics.graph import fold, op_count
from problems.autonumerics.targets import TARGETS, float32_ulp
from problems.autonumerics.tune import lm_lawson
from problems.autonumerics.tune_programs import eval_dual, max_error

# t1 = a x + b, t2 = C/t1, t3 = t1 x + c, t4 = t3 x + t2, t5 = t4/t1: both division kinds
MIXED = (("af", 0), ("dc", 1), ("pc", 1, 0), ("pn", 3, 0, 2), ("dv", 4, 1))
TH = np.array([0.7, 1.3, 0.4, -0.9])


def test_two_op_count_by_hand() -> None:
    """2 ops, op 2 using op 1, at least one division. Op 1 (only x to use): pc x*x+C,
    pn x*x+x, af, dc C/x. Op 2 using node 1: pc 2, pn 5, sn 2, af 1 (not after af), dv 2
    (x/t1, t1/x), dc 1 (not after dc). Op 1 dc: 10 + 2 (dc(dc) dropped); op 1 pc or pn:
    op 2 a division, 3; op 1 af: 3. 12 + 9 = 21, two of them with 2 divisions."""
    en = enumerate_div(2, min_consts=0)
    assert en["n_all"] == 21
    assert dict(en["by_divs"]) == {1: 19, 2: 2}
    assert len(en["kept"]) == en["n_unique"] == 21  # 2 ops: no two are isomorphic
    assert all(op_count(genome(p)) == 2 for p in en["kept"])


def test_forward_derivatives_match_finite_differences() -> None:
    x = np.linspace(0.0, 1.0, 7)
    f = forward(MIXED, TH, x)
    assert n_constants(MIXED) == TH.size == f.shape[0] - 1
    assert np.allclose(f[0], node_values(MIXED, TH, x)[-1], rtol=1e-14)
    for k in range(TH.size):
        h = 1e-6
        up, dn = TH.copy(), TH.copy()
        up[k] += h
        dn[k] -= h
        fd = (forward(MIXED, up, x)[0] - forward(MIXED, dn, x)[0]) / (2 * h)
        assert np.allclose(f[1 + k], fd, rtol=1e-6, atol=1e-8)


def test_adjoints_match_finite_differences_in_x() -> None:
    """d out / d x (the adjoint of node 0) through both divisions."""
    x = np.linspace(0.05, 1.0, 9)
    _, adj = adjoints(MIXED, TH, x)
    h = 1e-6
    fd = (node_values(MIXED, TH, x + h)[-1] - node_values(MIXED, TH, x - h)[-1]) / (2 * h)
    assert np.allclose(adj[0], fd, rtol=1e-6)


def test_the_division_path_agrees_with_the_fma_one() -> None:
    """A program with a division takes tune's forward mode on its genome: on a program
    without one it agrees with the structures study's own forward mode."""
    prog = (("af", 0), ("pc", 1, 0), ("sn", 2, 1), ("pn", 3, 3, 0), ("pc", 4, 0))
    th = np.array([0.3, -1.1, 0.8, 0.5, 0.2, 1.7])
    x = np.linspace(0.0, 1.0, 11)
    assert np.allclose(eval_dual(fold(genome(prog)), th, x), forward(prog, th, x), rtol=1e-14)


def test_poles() -> None:
    rng = np.random.default_rng(0)
    assert pole_at_zero((("dc", 0), ("af", 1)), rng)  # C/x
    assert pole_at_zero((("pc", 0, 0), ("dv", 1, 0)), rng)  # (x*x + C)/x
    assert not pole_at_zero((("pc", 0, 0), ("dv", 0, 1)), rng)  # x/(x*x + C)
    assert not pole_at_zero(MIXED, rng)
    x = np.linspace(0.0, 1.0, 101)
    assert pole_free(MIXED, TH, x)
    assert not pole_free(MIXED, np.array([-2.0, 1.0, 0.4, -0.9]), x)  # 1 - 2x: 0 at 1/2


def test_two_two_rational_reproduces_its_known_error() -> None:
    """The [2/2] rational from its Pade constants to the ULP minimax: ~5.18 ULP exact
    (bench/results/autonumerics_float32.md: 5.178)."""
    prog = KNOWN_DIV["[2/2] rational"]
    ln2 = np.log(2.0)
    u = Polynomial([-ln2 / 2, ln2])  # (x - 1/2) ln 2
    num = (1 + u / 2 + u**2 / 12) * np.sqrt(2.0)
    den = 1 - u / 2 + u**2 / 12
    c0 = np.r_[num.coef[::-1], den.coef[::-1]]  # t2 = (c0 x + c1) x + c2, t4 likewise
    t = TARGETS["exp2"]
    x = np.linspace(0.0, 1.0, 20001)
    ref = np.asarray(t.ref_long(x), np.float64)
    scale = 1 / float32_ulp(ref)
    folded = fold(genome(prog))
    start = max_error(folded, c0, x, ref, scale)
    c, _ = lm_lawson(folded, c0, x[::4], ref[::4], scale[::4], 200)
    err = max_error(folded, c, x, ref, scale)
    assert err < start
    assert 5.1 < err < 5.3
    assert pole_free(prog, c, x)
