"""One program in full: code split into highlighted tokens, diffs against its parents
(difflib, on the server), every evaluation stage, the LLM call that made it, its lineage.

Tokens and diff lines are plain strings in JSON; the page inserts them with textContent, so
a candidate's code or feedback is never parsed as HTML."""

from __future__ import annotations

import builtins
import dataclasses
import difflib
import io
import keyword
import tokenize
from typing import Any

from dashboards import run_state
from dashboards.lineage import GraphSource
from dashboards.node import ts
from db.records import EvaluationRecord, ProgramRecord
from db.storage import Storage

MAX_DIFF_CHARS = 200_000  # longer code is diffed as "too large" instead of stalling a thread
# The artifact of an evaluation that holds the program as scored, where the evaluator scored
# something other than the code as proposed (AutoNumerics tunes the constants first):
# evaluators.contract.EVALUATED_CODE, named again here since dashboards import db only.
EVALUATED_CODE = "evaluated_code"
# The event and operator of programs a campaign took from another (evolve/start_from.py).
IMPORTED = "imported"
_BUILTINS = frozenset(dir(builtins))


def highlight(code: str) -> list[list[str]]:
    """[css class, text] segments whose texts concatenate to `code` exactly.

    Classes: kw, bi (builtin), str, num, com, op, fn (a name after def/class), "" (plain).
    Code that does not tokenize is highlighted up to the error and plain after it."""
    lines = code.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    out: list[list[str]] = []
    done = 0
    previous = ""

    def push(cls: str, end: int) -> None:
        nonlocal done
        if end > done:
            out.append([cls, code[done:end]])
            done = end

    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type in (tokenize.ENDMARKER, tokenize.DEDENT, tokenize.INDENT):
                continue
            (sr, sc), (er, ec) = tok.start, tok.end
            if sr - 1 >= len(lines):
                break
            begin, end = starts[sr - 1] + sc, starts[min(er - 1, len(lines) - 1)] + ec
            push("", begin)
            cls = _token_class(tok, previous)
            push(cls, end)
            if tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT):
                previous = tok.string
    except (tokenize.TokenError, SyntaxError, IndexError):
        pass
    push("", len(code))
    return _merge(out)


def _token_class(tok: tokenize.TokenInfo, previous: str) -> str:
    if tok.type == tokenize.NAME:
        if previous in ("def", "class"):
            return "fn"
        if keyword.iskeyword(tok.string) or keyword.issoftkeyword(tok.string):
            return "kw"
        return "bi" if tok.string in _BUILTINS else ""
    if tok.type == tokenize.STRING or tok.type in _FSTRING_TYPES:
        return "str"
    return {tokenize.NUMBER: "num", tokenize.COMMENT: "com", tokenize.OP: "op"}.get(tok.type, "")


_FSTRING_TYPES = {
    getattr(tokenize, name)
    for name in ("FSTRING_START", "FSTRING_MIDDLE", "FSTRING_END")
    if hasattr(tokenize, name)
}


def _merge(segments: list[list[str]]) -> list[list[str]]:
    merged: list[list[str]] = []
    for cls, text in segments:
        if merged and merged[-1][0] == cls:
            merged[-1][1] += text
        else:
            merged.append([cls, text])
    return merged


def diff(parent_code: str, child_code: str, context: int = 3) -> dict[str, Any]:
    """A unified diff as [kind, text] lines: kind is "hunk", "add", "del" or "ctx"."""
    if len(parent_code) + len(child_code) > MAX_DIFF_CHARS:
        return {"lines": [], "too_large": True, "added": 0, "removed": 0}
    a, b = parent_code.splitlines(), child_code.splitlines()
    lines: list[list[str]] = []
    added = removed = 0
    for line in difflib.unified_diff(a, b, lineterm="", n=context):
        if line.startswith(("---", "+++")):
            continue
        if line.startswith("@@"):
            lines.append(["hunk", line])
        elif line.startswith("+"):
            lines.append(["add", line[1:]])
            added += 1
        elif line.startswith("-"):
            lines.append(["del", line[1:]])
            removed += 1
        else:
            lines.append(["ctx", line[1:]])
    return {"lines": lines, "too_large": False, "added": added, "removed": removed}


def _jsonable(record: Any) -> dict[str, Any]:
    row = dataclasses.asdict(record)
    for key, value in row.items():
        if hasattr(value, "isoformat"):
            row[key] = value.isoformat()
    return row


def detail(storage: Storage, source: GraphSource, program: ProgramRecord) -> dict[str, Any]:
    """Everything the program page shows; `source` is the campaign's lineage (the index, or
    direct.DirectGraph: the program's edges, its neighbours' summaries, the best program)."""
    records = storage.evaluations(program.id)
    evaluations = [_jsonable(e) for e in records]
    scored = evaluated_code(program, records)
    prefetch = getattr(source, "prefetch", None)
    if prefetch is not None:
        prefetch([program.id])
    linked = source.parents([program.id])[program.id]
    if not linked:  # not in the index yet: fall back to the record's own parent ids
        linked = [
            (pid, "parent" if i == 0 else "second_parent")
            for i, pid in enumerate(program.parent_ids)
        ]
    below = source.children([program.id])[program.id]
    briefs = source.nodes_of([pid for pid, _ in linked] + [cid for cid, _ in below])
    parents = [{"id": pid, "kind": kind, **_brief(briefs, pid)} for pid, kind in linked]
    children = [{"id": cid, "kind": kind, **_brief(briefs, cid)} for cid, kind in below]
    calls = storage.llm_calls(program.campaign_id, program_id=program.id)
    held = [e.payload for e in storage.events(program.campaign_id, "held_out")]
    held_out = next((h for h in held if h.get("program_id") == program.id), None)
    campaign = storage.get_campaign(program.campaign_id)
    best = source.best()
    return {
        "id": program.id,
        "campaign": {
            "id": program.campaign_id,
            "name": campaign.name if campaign else None,
            "status": campaign.status if campaign else None,
            # stored as running, but no controller runs it: a pending program waits for a resume
            "stale": campaign is not None and run_state.stale(storage, campaign),
        },
        "code": program.code,  # as proposed: what diffs, hashes and prompts use
        "tokens": highlight(program.code),
        # as scored, where the evaluation recorded a different program (else None); the
        # Code card shows it first
        "evaluated_code": scored,
        "evaluated_tokens": None if scored is None else highlight(scored),
        "generation": program.generation,
        "island": program.island,
        "operator": program.operator,
        "status": program.status,
        "outcome": program.outcome,
        "score": program.score,
        "correct": program.correct,
        "metrics": dict(program.metrics),
        "features": dict(program.features),
        "feedback": program.feedback,
        "held_out": held_out,  # its held-out check when the campaign ended, if it had one
        "eval_seq": program.eval_seq,
        "created_at": ts(program.created_at),
        "evaluated_at": ts(program.evaluated_at),
        "code_hash": program.code_hash,
        "is_best": best is not None and best.id == program.id,
        "in_best_ancestry": program.id in source.best_ancestry_of([program.id]),
        "evaluations": evaluations,
        "parents": parents,
        "children": children,
        "llm_calls": [_jsonable(c) for c in calls],
        "imported_from": imported_from(storage, program),
    }


def imported_from(storage: Storage, program: ProgramRecord) -> dict[str, Any] | None:
    """Where an imported program came from: {"campaign", "program_id", "score"} (its score
    there); None for every other program."""
    if program.operator != IMPORTED:
        return None
    for event in storage.events(program.campaign_id, IMPORTED):
        for row in event.payload.get("programs", []):
            if isinstance(row, (list, tuple)) and len(row) == 3 and row[0] == program.id:
                origin = storage.get_campaign(str(event.payload.get("campaign", "")))
                return {
                    "campaign": event.payload.get("campaign"),
                    "campaign_id": origin.id if origin is not None else None,
                    "program_id": row[1],
                    "score": row[2],
                }
    return None


def evaluated_code(program: ProgramRecord, evaluations: list[EvaluationRecord]) -> str | None:
    """The program as scored: the last EVALUATED_CODE artifact of its evaluation stages,
    None when there is none (most problems; campaigns recorded before it was stored) or
    when it is the stored code itself."""
    for record in reversed(evaluations):
        code = record.artifacts.get(EVALUATED_CODE)
        if code is not None:
            return None if code == program.code else code
    return None


def _brief(nodes: dict[int, Any], pid: int) -> dict[str, Any]:
    n = nodes.get(pid)
    if n is None:
        return {}
    return {"score": n.score, "operator": n.operator, "outcome": n.outcome, "island": n.island}


def diffs(storage: Storage, program: ProgramRecord, parent_ids: list[tuple[int, str]]) -> list:
    """The child's code as proposed against each parent. "against" says which version of
    the parent: "scored" (its EVALUATED_CODE) or "proposed" (its stored code).

    A parent scored as another program (AutoNumerics tunes its constants) hands its
    children the tuned constants, so against its stored code a child would show every
    tuned constant as changed besides its mutation. But an operator that edits the stored
    code (an LLM edit, an AST mutation) starts from the stored one, and which version a
    child started from is not recorded: the diff shown is the smaller of the two (the
    version it started from), ties to the parent as scored. "parent_scored" says whether
    the parent has a version as scored at all."""
    out = []
    for pid, kind in parent_ids:
        parent = storage.get_program(pid)
        if parent is None:
            continue
        shown = diff(parent.code, program.code)
        against = "proposed"
        scored = evaluated_code(parent, storage.evaluations(pid))
        if scored is not None:
            other = diff(scored, program.code)
            smaller = shown["too_large"] or _changed(other) <= _changed(shown)
            if not other["too_large"] and smaller:
                shown, against = other, "scored"
        out.append(
            {"parent": pid, "kind": kind, "against": against, "parent_scored": scored is not None}
            | shown
        )
    return out


def _changed(d: dict[str, Any]) -> int:
    return d["added"] + d["removed"]
