"""What each operator did for a campaign, from its programs and its LLM spend: how many
programs it made, how many were correct, how many beat their parent, how many raised the
campaign's best, and what its LLM calls cost per program that beat its parent.

The question it answers is the one a budget turns on: which operator (an LLM edit, an AST
mutation, a crossover) buys improvements, and at what price. Pure: Storage.operator_stats
feeds it light records and Storage.llm_usage rows."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from db.records import EVALUATED, ProgramRecord

_LARGEST = sys.float_info.max

# Programs no operator made: they set the baseline, and are credited to no operator.
SEEDS = ("initial", "imported")


class Made(NamedTuple):
    """What the stats read of a program (from a record, or from the dashboard's index)."""

    id: int
    operator: str
    status: str
    correct: bool | None
    score: float | None
    eval_seq: int | None
    parent: int | None  # the first parent
    model: str | None = None  # the model whose call made it (an LLM operator's program)

    @classmethod
    def of(cls, p: ProgramRecord, model: str | None = None) -> Made:
        parent = p.parent_ids[0] if p.parent_ids else None
        return cls(p.id, p.operator, p.status, p.correct, p.score, p.eval_seq, parent, model)


def operator_stats(
    programs: Sequence[Made], usage: Iterable[Mapping[str, Any]] = ()
) -> list[dict[str, Any]]:
    """One row per operator that made a program or spent on the LLM (per operator and
    model for an LLM operator: "llm_diff · gpt-4.1-mini"), most programs first: made, evaluated, correct, beat_parent (a correct program scoring above its first
    parent, itself correct), new_bests (evaluations that raised the campaign's best, in
    evaluation order), best_rise (how much of the best's rise over the initial programs
    those made), llm_calls, cost_usd, and
    cost_per_beat (cost_usd / beat_parent; None for an operator without LLM calls or
    where nothing beat its parent)."""
    score = {p.id: p.score for p in programs if p.correct and p.score is not None}
    rows: dict[str, dict[str, Any]] = {}

    def row(operator: str, model: str | None) -> dict[str, Any]:
        name = f"{operator} · {model}" if model else operator
        return rows.setdefault(
            name,
            {"operator": name, "made": 0, "evaluated": 0, "correct": 0, "beat_parent": 0,
             "new_bests": 0, "best_rise": 0.0, "llm_calls": 0, "cost_usd": 0.0},
        )  # fmt: skip

    for p in programs:
        if p.operator in SEEDS:
            continue
        r = row(p.operator, p.model)
        r["made"] += 1
        if p.status != EVALUATED:
            continue
        r["evaluated"] += 1
        if p.id not in score:
            continue
        r["correct"] += 1
        parent = score.get(p.parent) if p.parent is not None else None
        if parent is not None and score[p.id] > parent:
            r["beat_parent"] += 1
    best = None
    for p in sorted((p for p in programs if p.id in score), key=lambda p: p.eval_seq or 0):
        if best is None or score[p.id] > best:
            if best is not None and p.operator not in SEEDS:
                r = row(p.operator, p.model)
                r["new_bests"] += 1
                # finite scores, but their difference may not be: at most the largest float
                r["best_rise"] = min(r["best_rise"] + (score[p.id] - best), _LARGEST)
            best = score[p.id]
    for u in usage:
        if u["operator"] in SEEDS:
            continue
        r = row(str(u["operator"]), str(u["model"]))
        r["llm_calls"] += int(u["calls"])
        r["cost_usd"] += float(u["cost_usd"])
    for r in rows.values():
        paid = r["llm_calls"] and r["beat_parent"]
        r["cost_per_beat"] = r["cost_usd"] / r["beat_parent"] if paid else None
    return sorted(rows.values(), key=lambda r: (-r["made"], r["operator"]))
