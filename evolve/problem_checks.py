"""What a campaign checks of its problem before it writes anything (evolve/start.py): the
first programs and the stages a plug-in returns, and the first programs' EVOLVE-BLOCK
markers. Each slip would otherwise surface inside the first evaluation, as a failed
campaign in the database, or as every proposal rejected."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Sequence
from typing import Any

from evaluators.contract import Candidate, Stage
from evolve.campaign import CampaignError
from evolve.operators.blocks import BlockError, split_block


def check_problem_output(name: str, problem: Any, candidates: Any) -> None:
    """A plug-in whose initial_programs() or stages() returns the wrong kind of thing (a
    string for a Candidate, one Stage for a list) would fail inside the first evaluation,
    stored as a failed campaign: say what is wrong, and store nothing."""
    if not isinstance(candidates, (list, tuple)) or not candidates:
        raise CampaignError(
            f"problem {name!r}: initial_programs() must return a non-empty list of "
            f"Candidate, got {_kind(candidates)}"
        )
    for candidate in candidates:
        if not isinstance(candidate, Candidate):
            raise CampaignError(
                f"problem {name!r}: initial_programs() must return Candidate objects "
                f"(Candidate(code) from evaluators), got {_kind(candidate)}"
            )
    check_blocks(candidates)
    if hasattr(problem, "evaluate_batch"):
        return  # the stages may be empty: the batch evaluates (problems/autonumerics)
    for candidate in candidates:  # the sandbox imports it: a SyntaxError fails the campaign
        _check_compiles(name, candidate.code)
    _check_stages(name, problem, "stages", required=True)
    if hasattr(problem, "held_out_stages"):  # run at the end: a slip there shows last
        _check_stages(name, problem, "held_out_stages", required=False)


def _check_compiles(name: str, code: str) -> None:
    try:
        compile(code, "<initial program>", "exec")
    except SyntaxError as exc:
        raise CampaignError(
            f"problem {name!r}: the initial program is not valid Python: SyntaxError: "
            f"{exc.msg} (line {exc.lineno} of the program)"
        ) from None


def _check_stages(name: str, problem: Any, method: str, required: bool) -> None:
    try:
        stages = getattr(problem, method)()
    except Exception as exc:
        raise CampaignError(f"problem {name!r}: {method}() failed: {exc!r}") from exc
    if not isinstance(stages, (list, tuple)) or (required and not stages):
        raise CampaignError(
            f"problem {name!r}: {method}() must return a"
            f"{' non-empty' if required else ''} list of Stage, got {_kind(stages)}"
        )
    for stage in stages:
        if not isinstance(stage, Stage):
            raise CampaignError(
                f"problem {name!r}: {method}() must return Stage objects, got {_kind(stage)}"
            )
        missing = missing_harness(stage.harness)
        if missing:
            raise CampaignError(f"problem {name!r}: stage {stage.name!r}: {missing}")


def missing_harness(spec: str) -> str:
    """What is wrong with a stage's "package.module:function" harness, as far as can be
    told without importing a module the problem has not imported itself (the sandbox
    imports it; importing here could be slow or have effects): a module that does not
    exist, or a function an imported module lacks. "" when nothing is seen wrong; file
    harnesses ("/path/file.py:function") are the sandbox's to load."""
    target, colon, func = spec.rpartition(":")
    if not colon or not target or not func:
        return (f"harness {spec!r} must be 'package.module:function' or "
                "'/path/file.py:function'")  # fmt: skip
    if target.endswith(".py") or os.sep in target:
        return ""
    try:
        found = importlib.util.find_spec(target)
    except (ImportError, ValueError):
        found = None
    if found is None:
        return f"harness {spec!r}: no module named {target!r}"
    module = sys.modules.get(target)
    if module is not None and not callable(getattr(module, func, None)):
        return f"harness {spec!r}: {target} has no function {func!r}"
    return ""


def _kind(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"


def check_blocks(candidates: Sequence[Any]) -> None:
    """Malformed EVOLVE-BLOCK markers would only show once the campaign runs, as every
    proposal rejected ("no_block"): say what is wrong before the campaign starts."""
    for candidate in candidates:
        try:
            split_block(candidate.code)
        except BlockError as exc:
            raise CampaignError(f"the initial program's EVOLVE-BLOCK markers: {exc}") from exc
