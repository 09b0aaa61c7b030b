"""Prompts: the problem, the parent (code, score, metrics, feedback), inspirations from the
island, the island's recent history and the edit format's instructions.

Templates use ``string.Template`` placeholders ($description, $code, $score, $metrics,
$feedback, $inspirations, $history, $insights, $format, $error, $reply; the meta request's
own: $evaluated, $top, $improvements, $failures, $previous, $max_chars). A problem
overrides any of them with a ``prompt_templates`` mapping, a campaign with
``[llm.templates]``; a value may be the text itself or ``@path/to/file.txt``. A mutation
template without $insights never shows meta recommendations (evolve/llm/meta.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from string import Template

from db.records import ProgramRecord

SYSTEM = """\
You are an expert programmer improving a program in an evolutionary search. Each program
you write is run and scored automatically; higher scores are better. Change only the code
between the lines `# EVOLVE-BLOCK-START` and `# EVOLVE-BLOCK-END`: edits anywhere else are
rejected. Keep the function signatures the rest of the program relies on."""

DIFF_FORMAT = """\
Reply with one or more edits in exactly this form (several blocks are applied in order):

<<<<<<< SEARCH
lines copied exactly, character for character, from the current program's EVOLVE-BLOCK
=======
the lines that replace them
>>>>>>> REPLACE

Each SEARCH text must occur exactly once in the EVOLVE-BLOCK. Explain your idea in one or
two sentences before the edits."""

REWRITE_FORMAT = """\
Reply with the complete new contents of the EVOLVE-BLOCK (without the marker lines) in a
single ```python fenced code block. Explain your idea in one or two sentences before it."""

USER = """\
# Task
$description

# Current program (score $score)
```python
$code
```

## Its metrics
$metrics

## Feedback from its evaluation
$feedback
$inspirations$history$insights
# Your job
Propose one improvement to the current program that should raise its score.

$format
"""

REPAIR = """\
Your previous reply could not be used: $error

Answer again, fixing exactly that problem.

$format
"""

META_SYSTEM = """\
You review the progress of an evolutionary search over programs: each program is run and
scored automatically, higher scores are better, and a model proposes each new program as
an edit of an earlier one. Your notes are added to every later prompt of that model."""

META = """\
# Task of the search
$description

The search has evaluated $evaluated programs. Here are its best programs, its most recent
improvements (a child against its parent, as a diff, with the change of score) and its
most recent failures.
$top$improvements$failures$previous
# Your job
Write insights for the next edits: what has raised the score, what has failed and why,
and what to try next. Be concrete and brief: bullet points, at most $max_chars
characters in all, no code blocks.
"""

DEFAULTS = {
    "system": SYSTEM,
    "diff": USER,
    "rewrite": USER,
    "repair": REPAIR,
    "meta_system": META_SYSTEM,
    "meta": META,
}
INSIGHTS_START = "<insights>"
INSIGHTS_END = "</insights>"


def insights_section(insights: str) -> str:
    """The $insights of a mutation prompt: "" without insights (the prompt is then the
    same as before meta recommendations existed, so older recordings still replay)."""
    if not insights:
        return ""
    return (
        "\n# Insights from a review of this search so far\n"
        f"{INSIGHTS_START}\n{insights.strip()}\n{INSIGHTS_END}\n"
    )


def resolve_templates(*layers: Mapping[str, str] | None) -> dict[str, str]:
    """DEFAULTS overridden by each layer in turn (problem, then campaign)."""
    out = dict(DEFAULTS)
    for layer in layers:
        for key, value in (layer or {}).items():
            if key not in DEFAULTS:
                raise ValueError(f"unknown prompt template {key!r} (known: {sorted(DEFAULTS)})")
            text = str(value)
            if text.startswith("@"):
                try:
                    text = Path(text[1:]).read_text("utf-8")
                except OSError as exc:
                    raise ValueError(
                        f"prompt template {key!r}: cannot read {text[1:]}: {exc}"
                    ) from None
            out[key] = text
    return out


def _score(program: ProgramRecord) -> str:
    if program.score is None:
        return f"none: {program.outcome or 'not evaluated'}"
    return f"{program.score:.6g}" + ("" if program.correct else " (incorrect)")


def _metrics(program: ProgramRecord) -> str:
    if not program.metrics:
        return "(none)"
    return json.dumps(dict(program.metrics), sort_keys=True, default=str)[:1500]


def _others(title: str, programs: Sequence[ProgramRecord], show_code: bool) -> str:
    # Programs are numbered by position, never by database id: a prompt depends only on
    # the search's state, so a replay (new ids) sends the same prompts.
    if not programs:
        return ""
    parts = [f"\n# {title}\n"]
    for n, p in enumerate(programs, 1):
        parts.append(f"## {n}. score {_score(p)} ({p.operator})")
        if show_code:
            parts.append(f"```python\n{p.code.rstrip()}\n```")
    return "\n".join(parts) + "\n"


def build_messages(
    templates: Mapping[str, str],
    edit_format: str,
    description: str,
    parent: ProgramRecord,
    inspirations: Sequence[ProgramRecord],
    history: Sequence[ProgramRecord],
    feedback_chars: int,
    insights: str = "",
) -> list[dict[str, str]]:
    fmt = DIFF_FORMAT if edit_format == "diff" else REWRITE_FORMAT
    values = {
        "description": (description or "Improve the program.").strip(),
        "code": parent.code.rstrip(),
        "score": _score(parent),
        "metrics": _metrics(parent),
        "feedback": (parent.feedback or "(none)").strip()[:feedback_chars],
        "inspirations": _others("Other programs of this population", inspirations, True),
        "history": _others("Recent attempts on this island", history, False),
        "insights": insights_section(insights),
        "format": fmt,
    }
    user = Template(templates[edit_format]).safe_substitute(values)
    return [
        {"role": "system", "content": Template(templates["system"]).safe_substitute(values)},
        {"role": "user", "content": user},
    ]


CHARS_PER_TOKEN = 4  # token estimates: a request not answered yet, a reply without usage


def tokens_of(text: str) -> int:
    """The estimated token count of ``text`` (characters / CHARS_PER_TOKEN)."""
    return len(text) // CHARS_PER_TOKEN


def prompt_tokens_of(messages: Sequence[dict[str, str]]) -> int:
    return tokens_of("".join(str(m.get("content", "")) for m in messages))


REPLY_CHARS = 6000  # of a failed reply shown again in the repair re-prompt


def clip_reply(reply: str) -> str:
    """A failed reply as the repair re-prompt shows it: at most REPLY_CHARS characters,
    with a marker saying how much was cut (a huge reply is not sent, and paid for, twice)."""
    if len(reply) <= REPLY_CHARS:
        return reply
    cut = len(reply) - REPLY_CHARS
    return f"{reply[:REPLY_CHARS]}\n[... {cut} more characters of this reply cut ...]"


def repair_messages(
    templates: Mapping[str, str],
    messages: Sequence[dict[str, str]],
    reply: str,
    error: str,
    edit_format: str,
) -> list[dict[str, str]]:
    fmt = DIFF_FORMAT if edit_format == "diff" else REWRITE_FORMAT
    shown = clip_reply(reply)
    text = Template(templates["repair"]).safe_substitute(
        {"error": error, "reply": shown, "format": fmt}
    )
    return [*messages, {"role": "assistant", "content": shown}, {"role": "user", "content": text}]


def render(messages: Sequence[dict[str, str]]) -> str:
    """The text stored in llm_calls.prompt (and the key replay looks replies up by)."""
    return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in messages)
