"""The compare view (/compare, /api/compare?c=A&c=B...): 2 to 8 campaigns side by side.

For each campaign: its progress row as the campaigns list has it (direct.summary); its
best score over evaluations and over the time since its first program, as lossless step
lines (every rise plus the last evaluation: a few hundred points for a 100,000-evaluation
campaign, never one per evaluation), from its index when that is loaded
(aggregate.best_lines) and else from one window query (direct.best_lines), so a first
request never waits for an index; how fast it got good; and the settings that differ.

Speed to good, precisely. Among the compared campaigns of one problem, S is the lowest of
their first best scores (each one's first correct evaluation) and B the highest best
score. The target at level p (0.9, 0.99) is T = S + p * (B - S): p of the best
improvement seen. A campaign's "evaluations to p" is the number of evaluations (the
eval_seq) after which its best score first reached T; None when it never did (or has no
correct evaluation). Every campaign of the problem is measured against the same T, so the
numbers compare; campaigns of another problem get their own S and B.

Objectives. A problem's options can change what its score measures (compression.arch's
mode=multi scores another objective than its default): campaigns of one problem whose
problem options differ are measured, and drawn, apart, as if of two problems. Each row's
"objective" names its group: the problem, with the options that differ when some do.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dashboards import aggregate, direct
from dashboards.index import CampaignIndex
from dashboards.params import BadRequest
from db.records import CampaignRecord
from db.storage import Storage

MIN_CAMPAIGNS, MAX_CAMPAIGNS = 2, 8
LEVELS = (0.9, 0.99)
# Not settings: each campaign's own name and database, its problem (a column of its own),
# and the secret drawn for each campaign's held-out data (it always differs, and is not for
# display).
NOT_SETTINGS = frozenset({"name", "db", "problem", "problem_options.data_secret"})


def resolve(keys: Sequence[str], lookup: Callable[[str], CampaignRecord]) -> list[CampaignRecord]:
    """The campaigns named by keys (ids or names; lookup raises for an unknown one)."""
    if not MIN_CAMPAIGNS <= len(keys) <= MAX_CAMPAIGNS:
        raise BadRequest(
            f"compare needs {MIN_CAMPAIGNS} to {MAX_CAMPAIGNS} campaigns "
            f"(c=NAME_OR_ID, once per campaign), got {len(keys)}"
        )
    records: list[CampaignRecord] = []
    for key in keys:
        record = lookup(key)
        if any(r.id == record.id for r in records):
            raise BadRequest(f"campaign {record.name!r} is given twice")
        records.append(record)
    return records


def view(
    storage: Storage,
    records: Sequence[CampaignRecord],
    peek: Callable[[int], CampaignIndex | None],
) -> dict[str, Any]:
    rows = []
    for record in records:
        index = peek(record.id)  # only a loaded index: never waits for a load
        lines = (
            aggregate.best_lines(index)
            if index is not None
            else direct.best_lines(storage, record.id)
        )
        row = direct.summary(storage, record, index)
        rows.append({**row, **lines})
    settings = [
        {**flatten(storage.current_config(r)), "seed": r.seed} for r in records
    ]  # current_config: with the budgets resumes raised
    for row, label in zip(rows, objectives(records, settings), strict=True):
        row["objective"] = label
    targets = speed_to_good(rows)
    return {
        "campaigns": rows,
        "same_problem": len({r.problem for r in records}) == 1,
        "levels": list(LEVELS),
        "targets": targets,
        "differs": differing(settings),
    }


def objectives(
    records: Sequence[CampaignRecord], settings: Sequence[Mapping[str, Any]]
) -> list[str]:
    """Each campaign's objective (see the module's docstring): its problem, and where the
    compared campaigns of that problem differ in their problem options, those options
    ("compression.arch · mode="multi""; "mode not set" where one keeps the default)."""
    options = [
        {k: v for k, v in s.items() if k.startswith("problem_options.") and k not in NOT_SETTINGS}
        for s in settings
    ]
    labels = []
    for record, mine in zip(records, options, strict=True):
        peers = [o for r, o in zip(records, options, strict=True) if r.problem == record.problem]
        differ = differing(peers)
        said = []
        for key in differ:
            name, value = key.removeprefix("problem_options."), mine.get(key)
            said.append(f"{name} not set" if value is None else f"{name}={json.dumps(value)}")
        labels.append(" · ".join([record.problem, *said]))
    return labels


def speed_to_good(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Adds "evals_to" (one per LEVELS) to each row (with its "problem" or "objective",
    and lossless "best_by_eval"); returns each objective's S, B and targets (see the
    module's docstring), keyed by the objective: the problem's name unless its options
    differ."""
    targets: dict[str, Any] = {}
    group = [r.get("objective", r["problem"]) for r in rows]
    for objective in dict.fromkeys(group):
        lines = [r["best_by_eval"] for r, g in zip(rows, group, strict=True) if g == objective]
        lines = [line for line in lines if line]
        if not lines:
            targets[objective] = None
            continue
        start, best = min(line[0][1] for line in lines), max(line[-1][1] for line in lines)
        targets[objective] = {
            "start": start,
            "best": best,
            "targets": [target(start, best, p) for p in LEVELS],
        }
    for row, objective in zip(rows, group, strict=True):
        aim = targets[objective]
        steps = row["best_by_eval"]
        row["evals_to"] = (
            [first_reaching(steps, t) for t in aim["targets"]] if aim else [None] * len(LEVELS)
        )
    return targets


def target(start: float, best: float, p: float) -> float:
    """S + p * (B - S); B - S overflows to infinity for scores near the largest float
    (-1e308 and 1e308), where the same point is (1 - p) * S + p * B, which cannot."""
    t = start + p * (best - start)
    return t if math.isfinite(t) else (1 - p) * start + p * best


def first_reaching(steps: Sequence[Sequence[float]], target: float) -> int | None:
    """The x of the first point of a best-score step line at or above target."""
    return next((int(x) for x, y in steps if y >= target), None)


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested settings as dotted keys (operators.llm_diff, llm.model); an empty mapping
    adds no key (absent and empty both mean the default)."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def differing(settings: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """The keys whose values are not the same in every campaign, with each campaign's
    value in order (None where a campaign does not set it), sorted by key."""
    keys = sorted({k for s in settings for k in s} - NOT_SETTINGS)
    out = {}
    for key in keys:
        values = [s.get(key) for s in settings]
        if any(v != values[0] for v in values[1:]):
            out[key] = values
    return out
