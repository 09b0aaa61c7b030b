"""Split a program into the text evolution may change and the text it must not.

A program marks its evolvable part with two comment lines::

    # EVOLVE-BLOCK-START
    ...evolvable code...
    # EVOLVE-BLOCK-END

``split_block`` returns the text before the block (up to and including the START line),
the block itself and the text after it (from the END line on); ``Blocks.join`` puts a new
block back between the untouched prefix and suffix, so operators change only the block and
the rest of the file stays byte-identical. A program without markers is one whole block.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from evaluators.contract import EVOLVE_BLOCK_END, EVOLVE_BLOCK_START


class BlockError(ValueError):
    """The EVOLVE-BLOCK markers do not delimit exactly one block."""


@dataclass(frozen=True)
class Blocks:
    prefix: str  # everything up to and including the START marker line
    block: str  # the evolvable text between the marker lines
    suffix: str  # the END marker line and everything after it
    marked: bool  # False when the program has no markers (the whole file is the block)

    def join(self, block: str | None = None) -> str:
        """The program with ``block`` (default: the original block) between prefix and suffix."""
        return self.prefix + (self.block if block is None else block) + self.suffix


def _marker(line: str) -> str | None:
    text = line.strip()
    if text.startswith(EVOLVE_BLOCK_START):
        return "start"
    if text.startswith(EVOLVE_BLOCK_END):
        return "end"
    return None


def split_block(code: str) -> Blocks:
    """Split ``code`` on its EVOLVE-BLOCK markers; raise BlockError if they are malformed."""
    lines = code.splitlines(keepends=True)
    start = end = None
    for number, line in enumerate(lines):
        kind = _marker(line)
        if kind == "start":
            if start is not None and end is None:
                raise BlockError(
                    f"nested {EVOLVE_BLOCK_START} on line {number + 1}: the block opened on "
                    f"line {start + 1} is not closed yet; close it with {EVOLVE_BLOCK_END}"
                )
            if end is not None:
                raise BlockError(
                    f"a second {EVOLVE_BLOCK_START} on line {number + 1}: genetic operators "
                    f"edit exactly one EVOLVE-BLOCK (the first is lines {start + 1}-{end + 1})"
                )
            start = number
        elif kind == "end":
            if start is None:
                raise BlockError(
                    f"{EVOLVE_BLOCK_END} on line {number + 1} has no {EVOLVE_BLOCK_START} before it"
                )
            if end is not None:
                raise BlockError(
                    f"a second {EVOLVE_BLOCK_END} on line {number + 1}: the block of lines "
                    f"{start + 1}-{end + 1} is already closed"
                )
            end = number
    if start is None:
        return Blocks(prefix="", block=code, suffix="", marked=False)
    if end is None:
        raise BlockError(
            f"{EVOLVE_BLOCK_START} on line {start + 1} is never closed: add a "
            f"{EVOLVE_BLOCK_END} line after the evolvable code"
        )
    prefix = "".join(lines[: start + 1])
    if not prefix.endswith(("\n", "\r")):  # not reachable when END follows, kept for safety
        prefix += "\n"
    return Blocks(
        prefix=prefix,
        block="".join(lines[start + 1 : end]),
        suffix="".join(lines[end:]),
        marked=True,
    )


def common_indent(block: str) -> str:
    """The leading whitespace shared by every non-blank line of ``block``."""
    dedented = textwrap.dedent(block)
    for original, stripped in zip(block.splitlines(), dedented.splitlines(), strict=True):
        if stripped.strip():
            return original[: len(original) - len(stripped)]
    return ""


def dedent_block(block: str) -> tuple[str, str]:
    """(indent, text): a block inside a class or function, made parseable on its own."""
    indent = common_indent(block)
    return indent, textwrap.dedent(block) if indent else block


def render_block(original: str, new_source: str) -> str:
    """Format unparsed ``new_source`` to replace ``original``: same indentation and the same
    blank lines around it, ending in a newline so the END marker stays on its own line."""
    indent = common_indent(original)
    body = textwrap.indent(new_source.strip("\n"), indent) if indent else new_source.strip("\n")
    stripped = original.strip("\n \t\r")
    lead = original[: original.find(stripped[0])] if stripped else ""
    lead = lead[: lead.rfind("\n") + 1]  # whole blank lines only, not the indent itself
    tail_blank = original[len(original.rstrip()) :]
    trailing = "\n" + "\n" * max(tail_blank.count("\n") - 1, 0)
    return lead + body + trailing
