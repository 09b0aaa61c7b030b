"""Seeds a candidate cannot know: a campaign's data secret, mixed into generated data's seeds.

A problem that generates its instances from seeds has a hole a feed cannot close: the
generator and its default seeds are importable (and documented), so a program can rebuild
the instances, find the one it is being dealt among them, and play with the future it was
not sent (an EPLB planner that did so scored 72.5 against 65 for the best honest one).

A problem closes it by taking the option ``data_secret: int | None = None`` and drawing
every generated seed through ``keyed_seed(seed, data_secret)``. A new campaign of such a
problem gets a fresh random secret (``new_secret``), recorded in its stored config, which
the candidate's sandbox cannot read; resumes, workers, replays and held-out runs rebuild
the same data from it. ``--set problem.data_secret=N`` fixes it, so that two campaigns (or a
bench) see the same data. Built directly, without a campaign, a problem keeps its public,
documented seeds (``data_secret=None``), as the benches and tests that pin its numbers do.

Only the keyed seed is secret: names and messages may still show the public one.
"""

from __future__ import annotations

import hashlib

DATA_SECRET = "data_secret"  # the problem option's name
SECRET_BITS = 63  # TOML's integers are signed 64-bit


def keyed_seed(seed: int, secret: int | None) -> int:
    """``seed`` itself when there is no secret; else a 63-bit seed that, without the
    secret, says nothing about ``seed`` (a keyed hash: BLAKE2b with the secret as key)."""
    if secret is None:
        return int(seed)
    if isinstance(secret, bool) or not isinstance(secret, int) or secret < 0:
        raise ValueError(f"data_secret must be an integer >= 0, got {secret!r}")
    if secret >= 1 << 128:
        raise ValueError("data_secret must be below 2**128")
    key = secret.to_bytes(16, "little")
    digest = hashlib.blake2b(str(int(seed)).encode(), digest_size=8, key=key).digest()
    return int.from_bytes(digest, "little") >> (64 - SECRET_BITS)


def keyed_seeds(secret: int | None, *seeds: int) -> list[int]:
    """``keyed_seed`` of each of ``seeds``, in order."""
    return [keyed_seed(seed, secret) for seed in seeds]


def new_secret() -> int:
    """A fresh secret for a new campaign, from the operating system's random source."""
    import secrets  # here: the sandbox's zygote imports this module and never draws one

    return secrets.randbits(SECRET_BITS)
