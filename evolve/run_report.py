"""What `evolve run`, `resume` and `fork` print when a run ends: the campaign's summary
(describe_summary), from its baseline and best program with their held-out checks to where
its programs came from, what the LLM cost, and the commands that show the results.

Apart from evolve/report.py, whose tables (status, best, problems) and ways of writing a
value it uses: the summary of one run is its own, longer text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from db.engine import redact
from evolve.report import clip, db_flag, fmt_value, held_first_line

if TYPE_CHECKING:
    from evolve.campaign import CampaignSummary


def describe_summary(summary: CampaignSummary, db_url: str) -> str:
    if summary.reason == "already_finished":  # a resume that had nothing to do
        return summary.message
    noun = "evaluation" if summary.evaluated == 1 else "evaluations"
    lines = [f"campaign {summary.name}: {summary.evaluated} {noun} ({summary.reason})"]
    if summary.message:
        lines.append(summary.message)
    initial, best_program = summary.initial, summary.best
    if initial is not None:
        lines.append(
            f"  initial program (baseline): {_score(initial.score)}" + _held(summary, initial.id)
        )
    if summary.started_from:
        lines.append(_started_from_line(summary.started_from))
    if best_program is not None:
        lines.append(
            f"  best program {best_program.id}: {_score(best_program.score)}"
            + _held(summary, best_program.id)
            + f" (generation {best_program.generation}, {best_program.operator})"
        )
    lines += _front_lines(summary)
    grid = summary.grid
    if grid:
        islands = grid["per_island"]
        each = f"; per island {', '.join(map(str, islands))}" if len(islands) > 1 else ""
        lines.append(
            f"  MAP-Elites coverage: {grid['filled']} of {grid['cells']} cells hold a correct "
            f"program ({100 * grid['filled'] / grid['cells']:.0f}%{each})"
        )
        for axis, count in grid.get("unfeatured", {}).items():
            lines.append(
                f"  warning: {count} correct programs had no feature {axis!r} (a FEATURE_AXES"
                f" axis) in their result, so sat in its lowest cell: return it under"
                f' "features"'
            )
    failures = {k: v for k, v in summary.outcomes.items() if k != "ok"}
    if failures:
        lines.append(f"  failures by outcome: {failures}")
    if summary.children:
        made = ", ".join(
            f"{name} {count}" + _rejected(summary.rejected_by_operator.get(name))
            for name, count in summary.children.items()
        )
        lines.append(f"  programs made by operator: {made}")
    if summary.rejected:
        lines.append(f"  proposals rejected before evaluation: {summary.rejected}")
    if summary.llm:
        llm = summary.llm
        lines.append(
            f"  LLM: {llm['calls']} calls, ${llm['cost_usd']:.4f}, {llm['tokens']} tokens, "
            f"outcomes {llm['outcomes']}"
        )
        unpriced = llm.get("unpriced") or []
        if unpriced:
            lines.append(
                f"  {', '.join(unpriced)} {'has' if len(unpriced) == 1 else 'have'} no price:"
                " counted at $0 (give price_input and price_output in [[llm.models]],"
                " or llm.prices_file)"
            )
        for label, why in (llm.get("disabled_models") or {}).items():
            lines.append(f"  model {label} disabled: {why}")
    if summary.reason == "initial_failed":  # stored as failed: nothing to show or resume
        lines.append(
            f"  stored as failed in {redact(db_url)}: fix the failure above (the initial program, "
            "or the problem's evaluate or score) and run again (a --name of yours: pick another)"
        )
    else:
        db = db_flag(db_url)
        lines.append(
            f"  results: {redact(db_url)} · `evolve best {summary.name}{db}` · `evolve status {summary.name}{db}`"
        )
    if summary.reason == "interrupted":
        lines.append(
            f"  interrupted: continue with `evolve resume {summary.name}{db_flag(db_url)}`"
        )
    return "\n".join(lines)


def _rejected(counts: Mapping[str, int] | None) -> str:
    """ " (rejected: duplicate 57, no_op 3)", or "" when none were."""
    if not counts:
        return ""
    return " (rejected: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + ")"


def _score(value: Any) -> str:
    return "no score" if value is None else f"score {fmt_value(value)}"


def _front_lines(summary: CampaignSummary) -> list[str]:
    """The held-out check of the final front, for problems whose result is a front
    (held_out_front): one line per program but the initial one, its report's first line."""
    initial = summary.initial.id if summary.initial is not None else None
    front = [e for pid, e in summary.held_out.items() if pid != initial]
    front.sort(key=lambda e: -e["score"] if e.get("score") is not None else float("inf"))
    if len(front) < 2:
        return []
    lines = [f"  held-out check of the final front ({len(front)} programs):"]
    for e in front:
        first = clip(held_first_line(e), 150)
        lines.append(
            f"    program {e['program_id']}: held-out {fmt_value(e.get('score'))} · {first}"
        )
    return lines


def _started_from_line(info: dict[str, Any]) -> str:
    """Where the campaign started from (start_from) and how its programs score here: a
    program that scores lower or fails here scored on what the problem no longer rewards."""
    count = info["programs"]
    head = f"  started from campaign {info['campaign']}: {count} program{'s' * (count != 1)}"
    if info.get("best_there") is not None:
        head += f", best there {fmt_value(info['best_there'])}"
    if info.get("best_here") is not None:
        head += f", best of them here {fmt_value(info['best_here'])}"
    changed = [
        f"{info[key]} {word}"
        for key, word in (("lower_here", "score lower here"), ("failed_here", "fail here"))
        if info.get(key)
    ]
    return head + (f" ({', '.join(changed)})" if changed else "")


def _held(summary: CampaignSummary, program_id: int) -> str:
    entry = summary.held_out.get(program_id)
    if not entry:
        return ""
    if entry.get("score") is None:  # why, in its first line: else only `evolve best` says
        why = clip(held_first_line(entry), 150)
        return f", held-out {entry.get('outcome')}" + (f" ({why})" if why else "")
    return f", held-out {fmt_value(entry['score'])}"
