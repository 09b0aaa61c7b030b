"""Run the arms of an operator bench: one campaign per (arm, seed), each in a process of its
own (a campaign's imports and its sandbox stay out of the others'), two at a time.

A bench module defines ``one(target, seed, evals, db) -> dict`` (a JSON-able summary of one
campaign); ``run_arms`` calls it for every arm and seed, arms alternating so that a change
of load on the shared machine falls on every arm alike.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def seed_range(text: str) -> list[int]:
    """``"1-5"`` -> [1, 2, 3, 4, 5]; ``"3"`` -> [3]."""
    low, _, high = text.partition("-")
    return list(range(int(low), int(high or low) + 1))


@dataclass(frozen=True)
class ArmsOptions:
    seeds: list[int]
    evals: int
    command: str  # the bench's command line with these options, for its table's notes


def arms_options(module: str, argv: list[str] | None, seeds: str, evals: int) -> ArmsOptions:
    """An operator bench's ``--seeds`` and ``--evals`` (defaults ``seeds``, ``evals``)."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}")
    parser.add_argument("--seeds", default=seeds, help="a range, e.g. 1-5")
    parser.add_argument("--evals", type=int, default=evals)
    options = parser.parse_args(argv or [])
    command = f"python -m {module} --seeds {options.seeds} --evals {options.evals}"
    return ArmsOptions(seed_range(options.seeds), options.evals, command)


def run_one(module: str, target: str, seed: int, evals: int, tmp: str, tag: str) -> dict:
    """``module.one(target, seed, evals, db)`` in a child process, with a database of its own
    in ``tmp``; its dict."""
    db = f"sqlite:///{tmp}/{tag}.db"
    args = json.dumps([target, seed, evals, db])
    code = f"import json, sys; from {module} import one; "
    code += "print(json.dumps(one(*json.loads(sys.argv[1]))))"
    out = subprocess.run(
        [sys.executable, "-c", code, args], cwd=ROOT, capture_output=True, text=True
    )
    if out.returncode != 0:
        raise RuntimeError(f"{tag}: {out.stderr.strip()[-2000:]}")
    print(f"{tag}: {out.stdout.strip()[-200:]}", file=sys.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_arms(
    module: str, targets: dict[str, str], seeds: list[int], evals: int, tmp: str
) -> dict[tuple[str, int], dict]:
    """Every arm (name -> problem target) on every seed: {(arm, seed): one()'s dict}."""
    jobs = [(arm, seed) for seed in seeds for arm in targets]  # alternating
    with ThreadPoolExecutor(2) as pool:
        futures = {
            (arm, seed): pool.submit(
                run_one, module, targets[arm], seed, evals, tmp, f"{arm}-{seed}"
            )
            for arm, seed in jobs
        }
        return {job: future.result() for job, future in futures.items()}
