"""keyed_seed: the campaign's data secret mixed into a generated data set's seed."""

from __future__ import annotations

import pytest

from evaluators.seeds import SECRET_BITS, keyed_seed, new_secret


def test_no_secret_keeps_the_public_seed():
    assert keyed_seed(2024, None) == 2024


def test_a_secret_gives_a_stable_seed_of_its_own():
    seeds = {keyed_seed(seed, secret) for seed in (7, 2024, 9001) for secret in (0, 1, 2**62)}
    assert len(seeds) == 9  # every (seed, secret) pair its own stream
    assert keyed_seed(2024, 5) == keyed_seed(2024, 5)
    assert all(0 <= seed < 2**SECRET_BITS for seed in seeds)
    assert 2024 not in seeds and keyed_seed(2024, 0) != 2024  # 0 is a secret too


def test_new_secrets_differ():
    drawn = {new_secret() for _ in range(8)}
    assert len(drawn) == 8 and all(0 <= s < 2**SECRET_BITS for s in drawn)


@pytest.mark.parametrize("bad", [-1, True, "7", 1.5, 2**128])
def test_a_bad_secret_is_refused(bad):
    with pytest.raises(ValueError, match="data_secret must be"):
        keyed_seed(1, bad)
