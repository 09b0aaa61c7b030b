"""bench.autonumerics_rounding_fit at a CI size: fitting a 5-op structure's constants for
J (exact error + first-order rounding bound) lowers J below its exact fits' J."""

from __future__ import annotations

import numpy as np

from bench.autonumerics_rounding_fit import Objective, minimise_j, starts
from bench.autonumerics_structures import formula

# t1 = c x + c; t2 = x t1 + c; t3 = x t2 + c; t4 = t3 t3 + c; t5 = x t4 + c
SQUARED = (("af", 0), ("pc", 1, 0), ("pc", 2, 0), ("pc", 3, 3), ("pc", 4, 0))


def test_minimising_j_lowers_j_below_the_exact_fits() -> None:
    assert formula(SQUARED).count("t3*t3") == 1
    obj = Objective()
    fits = starts(obj, SQUARED, np.random.default_rng(0), n_ls=6, keep=2, refine=1)
    j0, c0 = fits[0]
    assert np.isfinite(j0) and j0 > 1.0
    j, c = minimise_j(obj, SQUARED, c0, iters=8)
    total, exact, bound = obj.parts(SQUARED, c)
    assert j < j0 and abs(total - j) < 1e-9
    assert exact + bound >= j - 1e-9 and bound >= 0.5  # the last operation's rounding alone
