"""binpack.online through the real sandbox: a program cannot pack offline.

With the whole instance in its own process, a program read the future items from the
skeleton's frame (or replaced the skeleton) and packed offline, 4x better than best fit.
The items now come one at a time from a driver outside the candidate's process."""

from __future__ import annotations

import os

import pytest

from evaluators.cascade import problem_preload, run_cascade
from evaluators.contract import ERROR, INVALID_RESULT, OK
from evaluators.registry import make_problem
from evaluators.sandbox import SandboxRunner, sandbox_modules
from problems.binpack.programs import BEST_FIT

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox tests run as root")

# Looks for the instance (future items included) in every frame above priority() and in
# every object of its process; packs best-fit-decreasing offline when it finds one.
SNOOP = """
import gc
import sys
import numpy as np

def _instance():
    frame = sys._getframe(2)
    while frame is not None:
        for value in frame.f_locals.values():
            if hasattr(value, "items") and hasattr(value, "capacity"):
                return value
        frame = frame.f_back
    for obj in gc.get_objects():
        if type(obj).__name__ == "Instance":
            return obj
    return None

def priority(item, bins):
    if _instance() is None:
        raise LookupError("no instance in reach")
    return -(bins - item)
"""

# Replaces the skeleton's packing functions (the old harness's) with an offline packer.
PATCH = """
import sys
import numpy as np

def priority(item, bins):
    return -(bins - item)

def _offline(priority_fn, inst):
    return [0] * inst.items.size

harness = sys.modules["problems.binpack.harness"]
harness.pack_fresh_one = harness.pack_funsearch = _offline
"""

# Writes a result line of its own (all items in one bin each: the old skeleton's format)
# and leaves before answering a single item.
FORGE = """
import os
os.write(3, b'{"ok": {"assignments": []}}\\n')
os._exit(0)
"""

# Rebuilds the quick stage's instance from the package's generator and public seed (7, 50
# items) and compares the first items it is dealt; raises when they match, since from there
# it could pack with every item still to come.
REGENERATE = """
from problems.binpack.instances import weibull_items

SEEN = []
AHEAD = weibull_items(7, 0, 50).tolist()

def priority(item, bins):
    SEEN.append(int(item))
    if len(SEEN) == 10 and SEEN == AHEAD[:10]:
        raise LookupError("regenerated the instance")
    return -(bins - item)
"""


@pytest.fixture(scope="module")
def problem_and_runner():
    problem = make_problem("binpack.online")
    with SandboxRunner(preload=sandbox_modules(problem_preload(problem))) as box:
        yield problem, box


def test_no_program_finds_the_instance_or_gets_around_the_driver(problem_and_runner):
    problem, box = problem_and_runner
    stages = problem.stages()
    honest = run_cascade(box, BEST_FIT, stages).final
    assert honest.outcome == OK and honest.stage == "train", honest.detail

    snoop = run_cascade(box, SNOOP, stages).final
    assert snoop.outcome == ERROR and "LookupError: no instance in reach" in snoop.detail

    patched = run_cascade(box, PATCH, stages).final  # the patch changes nothing: best fit
    assert patched.outcome == OK and patched.result.score == honest.result.score

    forged = run_cascade(box, FORGE, stages).final
    assert forged.outcome == INVALID_RESULT
    assert forged.detail.startswith("the program stopped after 0 replies")


def test_with_a_secret_a_program_cannot_regenerate_its_instances(problem_and_runner):
    problem, box = problem_and_runner  # public seeds: the generator gives the future away
    public = run_cascade(box, REGENERATE, problem.stages()).final
    assert public.outcome == ERROR and "LookupError: regenerated the instance" in public.detail
    keyed = make_problem("binpack.online", data_secret=12345)
    final = run_cascade(box, REGENERATE, keyed.stages()).final
    assert final.outcome == OK and final.stage == "train", final.detail


def test_the_data_folder_is_hidden_from_candidates(problem_and_runner):
    """FunSearch's sets are read by the worker: a program that read the file could find its
    instance there and pack knowing the items to come."""
    import shutil
    import tempfile

    _, box = problem_and_runner
    data = tempfile.mkdtemp(prefix="evoforge-binpack-data-", dir="/tmp")
    try:
        os.chmod(data, 0o755)
        with open(os.path.join(data, "weibull_5k.json"), "w") as handle:
            handle.write("{}")
        os.chmod(os.path.join(data, "weibull_5k.json"), 0o644)
        problem = make_problem("binpack.online", data_dir=data)
        stages = problem.stages()
        assert all(stage.private_paths == (data,) for stage in stages)
        looks = BEST_FIT.replace(
            "def priority(",
            f"import os\nassert not os.listdir({data!r}), 'saw the data'\ndef priority(",
        )
        final = run_cascade(box, looks, stages).final
        assert final.outcome == OK and final.stage == "train", final.detail
    finally:
        shutil.rmtree(data, ignore_errors=True)
