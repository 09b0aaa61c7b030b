"""problems/packing/geometry.py: the strict validity check (one test per rule broken), the
radii LP on layouts whose answer is known by hand, and the repair of a solver's slack."""

from __future__ import annotations

import math

import numpy as np
import pytest

from problems.packing.geometry import (
    TOLERANCE,
    InvalidPacking,
    check_packing,
    features,
    lp_radii,
    make_feasible,
)

QUARTERS = [[0.25, 0.25], [0.75, 0.25], [0.25, 0.75], [0.75, 0.75]]


def test_four_circles_at_the_quarter_points_score_exactly_one() -> None:
    packing = check_packing(QUARTERS, [0.25] * 4, 4)
    assert packing.sum_radii == 1.0  # exact: touching circles and sides pass the check


def test_the_lp_gives_quarter_radii_to_the_quarter_points() -> None:
    radii = lp_radii(QUARTERS)
    assert np.allclose(radii, 0.25, atol=1e-9)
    assert check_packing(QUARTERS, radii, 4).sum_radii == pytest.approx(1.0, abs=1e-8)


def test_the_lp_shares_a_gap_unequally_when_a_wall_allows_it() -> None:
    # two centres 0.4 apart on the midline: the left one 0.1 from its side, the right 0.5
    # from its; r0 <= 0.1, r0 + r1 <= 0.4, r1 <= 0.4 (0.5 - wall is farther): sum 0.4
    centres = [[0.1, 0.5], [0.5, 0.5]]
    radii = lp_radii(centres)
    assert radii.sum() == pytest.approx(0.4, abs=1e-9)
    assert radii[0] <= 0.1 + TOLERANCE
    check_packing(centres, radii, 2)


def test_coincident_centres_get_no_room() -> None:
    radii = lp_radii([[0.5, 0.5], [0.5, 0.5], [0.2, 0.2]])
    assert radii[0] + radii[1] <= TOLERANCE
    assert radii[2] == pytest.approx(0.2, abs=1e-9)


TWO = [[0.2, 0.5], [0.6, 0.5]]


@pytest.mark.parametrize(
    ("centres", "radii", "n", "message"),
    [
        # a circle poking out of the right side by 1e-6, clear of the other
        (
            [[0.2, 0.5], [0.9, 0.5]],
            [0.1, 0.1 + 1e-6],
            2,
            "circle 1 .* pokes out of the right side by 1e-06",
        ),  # fmt: skip
        # two circles overlapping by 1e-6 (both inside the square)
        (TWO, [0.2, 0.2 + 1e-6], 2, "circles 0 and 1 overlap by 1e-06"),
        (TWO, [0.1, float("nan")], 2, r"radii\[1\] is nan: every number must be finite"),
        ([[0.5, math.inf], [0.2, 0.2]], [0.1, 0.1], 2, r"centers\[0, 1\] is inf"),
        (QUARTERS[:3], [0.25] * 3, 4, "expected 4 centres, got 3"),
        (QUARTERS, [0.25] * 5, 4, "expected 4 radii, got 5"),
        (QUARTERS, [0.25] * 4, 5, "expected 5 centres, got 4"),
        (np.zeros((4, 3)), [0.0] * 4, 4, r"centers must have shape \(4, 2\), got \(4, 3\)"),
        (np.array(QUARTERS), np.full(3, 0.1), 4, r"radii must have shape \(4,\), got \(3,\)"),
        (QUARTERS, [0.25, -0.01, 0.25, 0.25], 4, "circle 1 has a negative radius -0.01$"),
        (QUARTERS, [0.25, True, 0.25, 0.25], 4, "radii must hold numbers, got bool"),
        (QUARTERS, [0.25, "0.1", 0.25, 0.25], 4, "radii must hold numbers, got str"),
        ("abcd", [0.25] * 4, 4, "centers must be a list, got str"),
    ],
)
def test_every_rule_broken_is_refused_by_name(centres, radii, n: int, message: str) -> None:
    with pytest.raises(InvalidPacking, match=message):
        check_packing(centres, radii, n)


def test_breaks_within_the_tolerance_pass_and_just_beyond_it_fail() -> None:
    check_packing([[0.2, 0.5], [0.6, 0.5]], [0.2, 0.2 + 0.9e-9], 2)
    with pytest.raises(InvalidPacking, match="overlap"):
        check_packing([[0.2, 0.5], [0.6, 0.5]], [0.2, 0.2 + 2e-9], 2)
    with pytest.raises(InvalidPacking, match="left side"):
        check_packing([[0.1, 0.5], [0.6, 0.5]], [0.1 + 2e-9, 0.1], 2)


def test_make_feasible_shrinks_only_what_breaks_a_rule() -> None:
    centres = np.array([[0.2, 0.5], [0.6, 0.5], [0.9, 0.9]])
    radii = make_feasible(centres, np.array([0.25, 0.25, 0.05]))
    # 0 is held to 0.2 by its side, then the pair (0.45 on a gap of 0.4) loses 0.025 each
    assert radii[0] == pytest.approx(0.175) and radii[1] == pytest.approx(0.225)
    assert radii[2] == 0.05  # broke nothing: untouched
    check_packing(centres, radii, 3, tolerance=1e-15)


def test_lp_radii_on_random_centres_always_pass_the_check() -> None:
    rng = np.random.default_rng(5)
    for _ in range(20):
        centres = rng.random((26, 2))
        radii = lp_radii(centres)
        assert check_packing(centres, radii, 26).sum_radii == pytest.approx(radii.sum())


def test_features_describe_sizes_and_sides() -> None:
    equal = features(check_packing(QUARTERS, [0.25] * 4, 4))
    assert equal == {"radius_spread": 0.0, "wall_share": 1.0}
    mixed = features(check_packing([[0.5, 0.5], [0.1, 0.1]], [0.2, 0.05], 2))
    assert mixed["wall_share"] == 0.0 and mixed["radius_spread"] == pytest.approx(0.6)
