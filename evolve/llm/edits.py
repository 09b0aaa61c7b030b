"""Strict application of an LLM reply to its parent: SEARCH/REPLACE diffs and rewrites.

Every failure is a class, never a silent skip:

=================  ==========================================================
no_block           no SEARCH/REPLACE block (diff) or no code (rewrite) in the reply
malformed_block    a SEARCH/REPLACE block lacks one of its three marker lines
search_not_found   a SEARCH text does not occur in the EVOLVE-BLOCK
ambiguous_match    a SEARCH text occurs more than once in the EVOLVE-BLOCK
outside_block      the edit touches text outside the EVOLVE-BLOCK (or its markers)
no_op              the child is identical to its parent
syntax_error       the child does not parse
too_long           the child exceeds llm.max_code_chars
truncated          the reply was cut off (finish_reason == "length")
bad_params         a parameter problem's child has PARAMS missing, or out of the declared
                   bounds (evaluators/parameters.py; checked by LLMOperator)
=================  ==========================================================
"""

from __future__ import annotations

import ast
import re

from evaluators.contract import EVOLVE_BLOCK_END, EVOLVE_BLOCK_START
from evolve.operators.blocks import BlockError, split_block

EDIT_FAILURES = (
    "no_block",
    "malformed_block",
    "search_not_found",
    "ambiguous_match",
    "outside_block",
    "no_op",
    "syntax_error",
    "too_long",
    "truncated",
    "bad_params",
)

_DIFF = re.compile(
    r"^[ \t]*<{5,}[ \t]*SEARCH[ \t]*\r?\n(.*?)^[ \t]*={5,}[ \t]*\r?\n(.*?)^[ \t]*>{5,}[ \t]*REPLACE[ \t]*$",
    re.DOTALL | re.MULTILINE,
)
_FENCE = re.compile(
    r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\r?\n(.*?)^[ \t]*```", re.DOTALL | re.MULTILINE
)

# The opening and closing marker lines of SEARCH/REPLACE blocks, counted to find a block
# that lacks one (a "=======" line alone is not counted: a markdown heading has one).
_MARKERS = (
    ("<<<<<<< SEARCH", re.compile(r"^[ \t]*<{5,}[ \t]*SEARCH[ \t]*$", re.MULTILINE)),
    (">>>>>>> REPLACE", re.compile(r"^[ \t]*>{5,}[ \t]*REPLACE[ \t]*$", re.MULTILINE)),
)

# The fence tags of Python code ("" is an untagged fence).
_PYTHON_TAGS = frozenset({"", "python", "python3", "py"})


class EditFailed(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _lf(text: str) -> str:
    """The reply with CRLF line endings made LF, as the programs have."""
    return text.replace("\r\n", "\n")


def parse_diff(text: str) -> list[tuple[str, str]]:
    """The (search, replace) pairs of a reply, in order (CRLF line endings read as LF)."""
    return [(m.group(1), m.group(2)) for m in _DIFF.finditer(_lf(text))]


def _has_marker(text: str) -> bool:
    return EVOLVE_BLOCK_START in text or EVOLVE_BLOCK_END in text


def _check_markers(reply: str, pairs: int) -> None:
    """A block that lacks a marker line is not silently skipped: a reply whose second
    block had no >>>>>>> REPLACE line was applied as its first block alone."""
    counts = [(name, len(pattern.findall(reply))) for name, pattern in _MARKERS]
    if all(count == pairs for _, count in counts):
        return
    found = ", ".join(f"{count} {name!r}" for name, count in counts)
    raise EditFailed(
        "malformed_block",
        f"{pairs} complete SEARCH/REPLACE block{'s' if pairs != 1 else ''} but marker lines "
        f"{found}: each block needs <<<<<<< SEARCH, ======= and >>>>>>> REPLACE lines, "
        "in that order",
    )


def apply_diff(parent: str, reply: str) -> str:
    """The child made by applying every block of ``reply`` to the parent's EVOLVE-BLOCK."""
    if not reply.strip():
        raise EditFailed("no_block", "the reply is empty")
    pairs = parse_diff(reply)
    _check_markers(_lf(reply), len(pairs))
    if not pairs:
        raise EditFailed(
            "no_block",
            "the reply has no <<<<<<< SEARCH / ======= / >>>>>>> REPLACE block",
        )
    try:
        blocks = split_block(parent)
    except BlockError as exc:
        raise EditFailed("outside_block", f"the parent's markers are malformed: {exc}") from None
    block = blocks.block
    for number, (search, replace) in enumerate(pairs, 1):
        if not search.strip():
            raise EditFailed(
                "search_not_found",
                f"block {number}: the SEARCH part is empty; copy the exact lines to replace",
            )
        if _has_marker(search) or _has_marker(replace):
            raise EditFailed("outside_block", f"block {number} touches an EVOLVE-BLOCK marker line")
        count = block.count(search)
        if count == 0:
            if search in blocks.prefix or search in blocks.suffix:
                raise EditFailed(
                    "outside_block",
                    f"block {number}: the SEARCH text is outside the EVOLVE-BLOCK, which is "
                    "the only part that may change",
                )
            first = search.strip().splitlines()[0][:120]
            raise EditFailed(
                "search_not_found",
                f"block {number}: the SEARCH text (starting {first!r}) does not occur "
                "exactly in the current program; copy it character for character",
            )
        if count > 1:
            raise EditFailed(
                "ambiguous_match",
                f"block {number}: the SEARCH text occurs {count} times; include more "
                "surrounding lines so that it is unique",
            )
        block = block.replace(search, replace, 1)
    return blocks.join(block)


def extract_rewrite(parent: str, reply: str) -> str:
    """The child of a full-rewrite reply: the last ```python (or untagged) fenced code
    block, else the last fenced block of any language; either a whole program (whose text
    outside the EVOLVE-BLOCK must equal the parent's) or just the new contents of the
    block."""
    if not reply.strip():
        raise EditFailed("no_block", "the reply is empty")
    fences = [(m.group(1).lower(), m.group(2)) for m in _FENCE.finditer(_lf(reply))]
    if not fences:
        raise EditFailed("no_block", "the reply has no ``` fenced code block")
    python = [code for tag, code in fences if tag in _PYTHON_TAGS]
    code = python[-1] if python else fences[-1][1]
    if not code.strip():
        raise EditFailed("no_block", "the fenced code block is empty")
    try:
        blocks = split_block(parent)
    except BlockError as exc:
        raise EditFailed("outside_block", f"the parent's markers are malformed: {exc}") from None
    if not blocks.marked:
        return code
    if _has_marker(code):
        try:
            child = split_block(code)
        except BlockError as exc:
            raise EditFailed(
                "outside_block", f"the markers in the reply are malformed: {exc}"
            ) from None
        if (
            child.prefix.strip() != blocks.prefix.strip()
            or child.suffix.strip() != blocks.suffix.strip()
        ):
            raise EditFailed(
                "outside_block",
                "the rewrite changes code outside the EVOLVE-BLOCK; only the block may change",
            )
        return blocks.join(child.block)
    body = code if code.endswith("\n") else code + "\n"
    return blocks.join(body)


def check_child(parent: str, child: str, max_chars: int) -> None:
    """Raise EditFailed for a child that must not be evaluated."""
    if child == parent:
        raise EditFailed("no_op", "the edit leaves the program unchanged")
    if len(child) > max_chars:
        raise EditFailed("too_long", f"the program has {len(child)} characters (limit {max_chars})")
    try:
        ast.parse(child)
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", None)
        where = f" on line {line}" if line else ""
        raise EditFailed("syntax_error", f"{type(exc).__name__}{where}: {exc}") from None


def apply_reply(
    parent: str, reply: str, edit_format: str, finish_reason: str, max_chars: int
) -> str:
    """The child of ``reply`` or EditFailed with its class."""
    if finish_reason == "length":
        raise EditFailed("truncated", "the reply was cut off at max_tokens (finish_reason=length)")
    child = apply_diff(parent, reply) if edit_format == "diff" else extract_rewrite(parent, reply)
    check_child(parent, child, max_chars)
    return child
