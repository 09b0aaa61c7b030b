"""Meta recommendations: every ``llm.meta.every`` evaluations a model reads what the search
has learnt (its best programs, its recent improvements as diffs, its recent failures) and
writes short insights, which are then added to every mutation prompt (the $insights
section of evolve/llm/prompts.py) until the next good reply replaces them.

``SearchNotes`` follows the evaluations (in evaluation order, live or replayed on a
resume) and keeps what the meta prompt shows; ``meta_messages`` writes that prompt (from
the search's state alone: no database id, time or latency, so that a replay sends the
same prompt); ``MetaOperator.execute`` runs the request on a proposal thread, as
``LLMOperator.execute`` does. The controller's side (when to ask, what is in force, the
resume) is evolve/llm_meta.py.
"""

from __future__ import annotations

import difflib
from collections import OrderedDict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from string import Template
from typing import Any

from db.records import ProgramRecord
from evolve.llm.calls import call_row
from evolve.llm.meta_config import MetaConfig
from evolve.llm.operator import LLMOutcome, LLMRequest
from evolve.llm.prices import PriceTable
from evolve.llm.prompts import _score

META = "meta"  # the operator name of meta requests in llm_calls
EMPTY = "empty"  # the outcome of a meta reply with no text
FEEDBACK_CHARS = 200  # of a failure's first line of feedback
KEPT_PARENTS = 4096  # programs whose code SearchNotes keeps for diffs (see __init__)


@dataclass(frozen=True)
class Improvement:
    child: ProgramRecord
    parent_code: str
    parent_score: float


class SearchNotes:
    """What the meta prompt shows, kept up to date as programs are evaluated."""

    def __init__(self, config: MetaConfig) -> None:
        self.config = config
        self.evaluated = 0
        self._order: dict[int, int] = {}  # program -> its evaluation number
        # correct programs' code and score: a later child's parent, for its diff; the
        # latest KEPT_PARENTS used or made (a night's campaign holds 100,000s of programs;
        # a child of an older one gets no diff: the same in a live run and its resume)
        self._scored: OrderedDict[int, tuple[str, float]] = OrderedDict()
        self._top: list[ProgramRecord] = []
        self._improvements: deque[Improvement] = deque(maxlen=max(1, config.improvements))
        self._failures: deque[ProgramRecord] = deque(maxlen=max(1, config.failures))

    @property
    def best(self) -> ProgramRecord | None:
        return self._top[0] if self._top else None

    def add(self, program: ProgramRecord) -> None:
        self.evaluated += 1
        self._order[program.id] = self.evaluated
        if not program.correct or program.score is None:
            self._failures.append(program)
            return
        self._scored[program.id] = (program.code, program.score)
        parent_id = program.parent_ids[0] if program.parent_ids else None
        parent = self._scored.get(parent_id) if parent_id is not None else None
        if parent is not None:
            self._scored.move_to_end(parent_id)  # a parent is likely to be one again
        while len(self._scored) > KEPT_PARENTS:
            self._scored.popitem(last=False)
        if parent is not None and program.score > parent[1]:
            self._improvements.append(Improvement(program, parent[0], parent[1]))
        # best first; at equal scores the earlier evaluation (no id: a replay's differ)
        self._top.append(program)
        self._top.sort(key=lambda p: (-(p.score or 0.0), self._order[p.id]))
        del self._top[self.config.top_programs :]

    def sections(self) -> dict[str, str]:
        cfg = self.config
        top = [
            f"## {n}. score {_score(p)} ({p.operator})\n```python\n"
            f"{_clip(p.code.rstrip(), cfg.code_chars)}\n```"
            for n, p in enumerate(self._top, 1)
        ]
        improvements = [
            f"## {n}. {i.parent_score:.6g} -> {i.child.score:.6g} ({i.child.operator})\n"
            f"```diff\n{_clip(_diff(i.parent_code, i.child.code), cfg.code_chars)}\n```"
            for n, i in enumerate(list(self._improvements)[-cfg.improvements :], 1)
        ] if cfg.improvements else []  # fmt: skip
        failures = [
            f"- {_failure_class(p)} ({p.operator}): {_first_line(p.feedback) or '(no feedback)'}"
            for p in (list(self._failures)[-cfg.failures :] if cfg.failures else [])
        ]
        return {
            "top": _section("Best programs so far", top),
            "improvements": _section("Recent improvements", improvements),
            "failures": _section("Recent failed evaluations", failures),
        }


def _section(title: str, parts: Sequence[str]) -> str:
    return f"\n# {title}\n" + "\n".join(parts) + "\n" if parts else ""


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n[... {len(text) - limit} more characters cut ...]"


def _diff(before: str, after: str) -> str:
    lines = difflib.unified_diff(
        before.splitlines(), after.splitlines(), "parent", "child", n=1, lineterm=""
    )
    return "\n".join(lines)


def _failure_class(program: ProgramRecord) -> str:
    outcome = program.outcome or "unknown"
    return "incorrect" if outcome == "ok" else outcome


def _first_line(text: str) -> str:
    line = next((ln.strip() for ln in (text or "").splitlines() if ln.strip()), "")
    return line[:FEEDBACK_CHARS]


def clip_insights(text: str, limit: int) -> str:
    """The insights kept of a reply: stripped, at most ``limit`` characters, cut at a line
    end where one is in the second half."""
    text = (text or "").strip()
    if len(text) <= limit:
        return text
    cut = text[:limit]
    end = cut.rfind("\n")
    return (cut[:end] if end >= limit // 2 else cut).rstrip()


def meta_messages(
    templates: Mapping[str, str], description: str, notes: SearchNotes, previous: str
) -> list[dict[str, str]]:
    """The meta request's messages, from the search's state (the same in a replay)."""
    values = {
        "description": (description or "Improve the program.").strip(),
        "evaluated": str(notes.evaluated),
        "previous": (
            f"\n# Your previous insights (revise them)\n{previous.strip()}\n" if previous else ""
        ),
        "max_chars": str(notes.config.max_chars),
        **notes.sections(),
    }
    return [
        {"role": "system", "content": Template(templates["meta_system"]).safe_substitute(values)},
        {"role": "user", "content": Template(templates["meta"]).safe_substitute(values)},
    ]


class MetaOperator:
    """Runs a meta request on a proposal thread (the pipeline's ``operator.execute``)."""

    def __init__(self, prices: PriceTable) -> None:
        self.prices = prices

    def execute(self, request: LLMRequest, backend: Any) -> LLMOutcome:
        completion = backend.complete(request.model, request.messages)
        # parent_id: the best program when it was asked
        call, note = call_row(request, request.messages, completion, self.prices, META, 1)
        failure, detail = completion.error, completion.detail or note
        if not failure and not completion.text.strip():
            failure, detail = EMPTY, "the meta reply has no text"
        call.update(outcome=failure or "ok", detail=detail[:2000])
        return LLMOutcome(request, completion, call, None, failure, detail)
