"""What the CLI prints: the status, best and problems tables (the run summary is
evolve/run_report.py's). Plain functions of the rows and summaries that api.py returns, so
scripts can use those directly (``--json``) and tests can check the text without a
database."""

from __future__ import annotations

import os
import re
import shutil
import sys
import unicodedata
from collections.abc import Mapping
from typing import Any

from db.engine import redact
from db.records import ProgramRecord
from evolve.config import DEFAULT_DB

FEEDBACK_CHARS = 500  # the most of a failure's feedback a summary shows (its end)


def describe_replay(report: Any, warned: bool = False) -> str:
    """The replay's summary; ``warned``: its warnings were printed as it started (not
    --quiet), so they are not repeated here."""
    lines = [f"replay {report.replay} of {report.source}: {report.programs} programs"]
    lines += [] if warned else [f"  warning: {w}" for w in report.warnings]
    if report.identical:
        lines.append("  identical lineage, codes and scores")
    else:
        lines.append("  DIVERGED:")
        lines += [f"    {d}" for d in report.differences]
    if report.misses:
        lines.append(f"  {report.misses} requests had no recorded reply")
    return "\n".join(lines)


# A sentence ends at . ! or ? followed by a capital: "e.g. x" and "s.task" do not end one.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def first_sentence(text: str) -> str:
    """The first sentence of the first paragraph, its lines joined (the whole paragraph
    when it has no sentence end)."""
    paragraph = re.split(r"\n\s*\n", text.strip(), maxsplit=1)[0]
    return _SENTENCE_END.split(" ".join(paragraph.split()), maxsplit=1)[0]


def format_problems(rows: list[dict[str, str]], width: int | None = None) -> str:
    """The problems table, one line each, cut with an ellipsis at ``width`` (default: the
    terminal's width; not cut when the output is not a terminal, e.g. piped to grep)."""
    if width is None and sys.stdout.isatty():
        width = shutil.get_terminal_size().columns
    lines = [f"{row['name']:28} {row['description']}" for row in rows]
    return "\n".join(clip(line, max(width, 40)) if width else line for line in lines)


def clip(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, its end replaced by an ellipsis when cut."""
    return text if len(text) <= width else text[: width - 1] + "…"


def _clip_left(text: str, width: int) -> str:
    """``text`` cut to its last ``width`` characters, led by an ellipsis when cut (a path
    keeps its most telling end)."""
    return text if len(text) <= width else "…" + text[len(text) - width + 1 :]


def fmt_value(value: Any) -> str:
    if value is None:
        return "-"
    if not isinstance(value, float):
        return str(value)
    if abs(value) >= 1e15:  # 4 decimals of 1.7e308 are 309 digits
        return f"{value:.6g}"
    text = f"{value:.4f}"
    if float(text) == 0:
        # -0.0 prints as 0.0000, not -0.0000; a score too small for 4 decimals (an error
        # of 4.4e-16, a best of -7.3e-07 short of a target of 0) as itself, not as zero
        return f"{value:.3g}" if value != 0 else "0.0000"
    return text


STALE = "interrupted?"  # format_status's word for a running campaign without a controller


def format_status(rows: list[dict[str, Any]], db_url: str = DEFAULT_DB) -> str:
    """The status table: campaign names in full (the column widens; `evolve resume NAME`
    needs them whole), problems cut from the left with an ellipsis, and a line of advice
    for every stale campaign (see status()), with the --db it needs."""
    if not rows:
        return (f"no campaigns yet in {redact(db_url)}: start one with "
                "`evolve run binpack.online`")  # fmt: skip
    shown = [STALE if r.get("stale") else _state(r) for r in rows]
    names = [visible(r["name"]) for r in rows]
    name_w = max(32, *(len(name) for name in names))
    status_w = max(11, *(len(s) for s in shown))
    llm = any(r.get("llm_calls") for r in rows)  # a column only where an LLM was used
    lines = [
        f"{'name':{name_w}} {'problem':22} {'status':{status_w}} {'evaluated':>11} {'best':>10}"
        + (f" {'LLM calls':>9} {'LLM $':>9}" if llm else "")
    ]
    for r, name, state in zip(rows, names, shown, strict=True):
        done = f"{r['evaluated']}/{r['budget']}"
        lines.append(
            f"{name:{name_w}} {_clip_left(visible(r['problem']), 22):22} {state:{status_w}} "
            f"{done:>11} {fmt_value(r['best_score']):>10}"
            + (f" {r.get('llm_calls', 0):>9} {r.get('llm_cost_usd', 0.0):>9.4f}" if llm else "")
        )
    lines += [
        f"{name}: stored as running, but no controller runs it (killed?); "
        f"continue it with `evolve resume {name}{db_flag(db_url)}`"
        for r, name in zip(rows, names, strict=True)
        if r.get("stale")
    ]
    for r in rows:
        if r.get("operators"):
            lines += ["", *format_operators(r["operators"])]
    return "\n".join(lines)


def format_operators(stats: list[dict[str, Any]]) -> list[str]:
    """What each operator did (Storage.operator_stats): the share of its programs that were
    correct and that beat their parent, the new bests it found and how much of the best's
    rise they make, and, for LLM operators, the spend per program that beat its parent."""
    llm = any(s["llm_calls"] for s in stats)
    width = max(18, *(len(visible(s["operator"])) for s in stats))
    lines = [
        f"{'operator':{width}} {'made':>7} {'correct':>8} {'beat parent':>12} {'new bests':>10}"
        f" {'best rise':>10}" + (f" {'LLM $':>9} {'$ per beat':>10}" if llm else "")
    ]
    for s in stats:
        evaluated = s["evaluated"]
        # nothing evaluated (a meta row, an operator whose proposals all failed): no rate
        correct = f"{100 * s['correct'] / evaluated:>7.0f}%" if evaluated else f"{'-':>8}"
        beat = f"{100 * s['beat_parent'] / evaluated:>11.1f}%" if evaluated else f"{'-':>12}"
        line = (
            f"{visible(s['operator']):{width}} {s['made']:>7} {correct} {beat} "
            f"{s['new_bests']:>10} {fmt_value(s['best_rise']):>10}"
        )
        if llm:
            per = s["cost_per_beat"]
            line += f" {s['cost_usd']:>9.4f} {'-' if per is None else f'{per:.4f}':>10}"
        lines.append(line)
    return lines


def visible(text: str) -> str:
    """``text`` with its control and invisible characters (Unicode category C: ESC, a
    newline, a right-to-left override) written as escapes (\\x1b), so that a name stored
    before evolve/config_checks.py check_name refused them cannot drive the terminal."""
    if text.isprintable():
        return text
    return "".join(repr(c)[1:-1] if unicodedata.category(c).startswith("C") else c for c in text)


# Stop reasons that the status alone says: a campaign that ran its budget or time is
# "finished"; any other reason is shown with it ("finished (stalled)").
PLAIN_REASONS = ("budget", "time_limit", "interrupted", "initial_failed")


def _state(row: dict[str, Any]) -> str:
    reason = row.get("reason")
    return row["status"] if reason in (None, *PLAIN_REASONS) else f"{row['status']} ({reason})"


def format_best(rows: list[dict[str, Any]]) -> str:
    out = []
    for r in rows:
        held = r.get("held_out")
        held_text = f", held-out {fmt_value(held.get('score'))}" if held else ""
        out.append(
            f"# program {r['id']} · score {fmt_value(r['score'])}{held_text} · "
            f"generation {r['generation']} · island {r['island']} · {r['operator']}"
        )
        first = held_first_line(held)
        if first:
            out.append(f"# held-out check: {first}")
        if r.get("evaluated_code"):
            out.append("# as evaluated: constants tuned by the evaluation (the stored code")
            out.append("# holds the ones it started from)")
            out.append(r["evaluated_code"].rstrip())
        else:
            out.append(r["code"].rstrip())
        out.append("")
    return "\n".join(out)


def db_flag(db_url: str) -> str:
    """The --db a suggested command needs: none for the database it would find anyway.
    Its password is masked (***): the summary ends up in job logs and terminals (compared
    masked too, so that an already masked URL, Storage.url, gives the same answer)."""
    shown = redact(db_url)
    if shown in (redact(u) for u in (DEFAULT_DB, os.environ.get("EVOLVE_DB")) if u):
        return ""
    return f" --db {shown}"


def held_first_line(held: Mapping[str, Any] | None) -> str:
    """The first line of a held-out entry's report (the problem's summary of the check)."""
    return ((held or {}).get("detail") or "").split("\n", 1)[0]


# -- a failed start ---------------------------------------------------------------------------
def initial_failure(initial: ProgramRecord | None) -> str:
    if initial is not None and initial.score is not None and initial.correct is False:
        return (
            f"the initial program was scored {initial.score} but marked correct=False: "
            "the initial program must be correct"
        )
    feedback = headline_and_tail(initial.feedback if initial else "", FEEDBACK_CHARS)
    lines = feedback.splitlines()
    if len(lines) > 1:  # a traceback: an indented block under the message
        return "the initial program failed its evaluation:\n" + "\n".join(f"    {x}" for x in lines)
    return f"the initial program failed its evaluation: {feedback}".rstrip()


def headline_and_tail(text: str, limit: int) -> str:
    """A failure's first line (what failed, where: the one line that says it), then as
    much of the end of the rest as ``limit`` leaves: a traceback ends where it raised."""
    head, _, rest = text.strip().partition("\n")
    if not rest.strip():
        return head
    return f"{head}\n{tail_lines(rest, max(0, limit - len(head)))}"


def tail_lines(text: str, limit: int) -> str:
    """The end of ``text`` in whole lines, at most ``limit`` characters (its last line
    whole, however long): a traceback ends with the exception line."""
    lines = text.strip().splitlines()
    kept: list[str] = []
    size = 0
    for line in reversed(lines):
        if kept and size + len(line) + 1 > limit:
            break
        kept.append(line)
        size += len(line) + 1
    shown = "\n".join(reversed(kept))
    return shown if len(kept) == len(lines) else "…\n" + shown
