"""Values made storable on every backend, applied to everything written (db.models' column
types; db.convert for LLM call numbers). Reads are unchanged.

Text (every String/Text column, and every string inside a JSON column, keys included):

- a lone UTF-16 surrogate (U+D800..U+DFFF: a str that Python allows but UTF-8 cannot
  encode, e.g. ``chr(0xD800)`` in an exception message or a ``"\\ud83d"`` escape in an LLM
  reply) becomes U+FFFD; a high+low pair held as two code points becomes the one character
  it encodes (as a UTF-16 decoder reads it). SQLite's driver and psycopg both refuse them.
- NUL (U+0000) becomes U+FFFD. PostgreSQL refuses NUL in text (and ``\\u0000`` in JSONB);
  SQLite stores it: it is replaced on both so the backends store the same text. U+FFFD,
  not a visible escape such as ``\\x00``, so a text keeps its length (VARCHAR(n) columns).

Most text is plain ASCII without NUL: that costs two C-level scans and no copy.
Distinct JSON keys that become equal (``"\\ud800"`` and ``"\\ud801"``) keep the last value.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any

REPLACEMENT = "\ufffd"

# LLM call numbers (db.convert.llm_call_row). Token counts: INTEGER columns, whose largest
# value on PostgreSQL is 2**31 - 1 (SQLite's SUM over a campaign of them cannot overflow).
MAX_TOKENS = 2**31 - 1
# cost_usd and latency_s: finite, >= 0 and at most this, so that their SUM over a campaign
# stays finite (PostgreSQL raises on a float8 SUM that overflows).
MAX_AMOUNT = 1e15


def storable_text(value: str) -> str:
    """``value`` with lone surrogates and NUL replaced by U+FFFD (the value itself when it
    has none)."""
    if value.isascii():
        return value.replace("\x00", REPLACEMENT) if "\x00" in value else value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # UTF-16 with surrogatepass keeps every code point; decoding it joins the pairs
        # and turns each lone surrogate into U+FFFD.
        value = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return value.replace("\x00", REPLACEMENT) if "\x00" in value else value


def storable_json(value: Any) -> Any:
    """A JSON value with storable_text applied to its strings and keys; the value itself
    (no copy) when none changes. A changed mapping becomes a dict, a changed tuple a list."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, Mapping):
        items = [
            (storable_text(k) if isinstance(k, str) else k, storable_json(v))
            for k, v in value.items()
        ]
        same = all(
            nk is k and nv is v for (nk, nv), (k, v) in zip(items, value.items(), strict=True)
        )
        return value if same else dict(items)
    if isinstance(value, (list, tuple)):
        new = [storable_json(v) for v in value]
        return value if all(n is v for n, v in zip(new, value, strict=True)) else new
    return value


def token_count(value: Any) -> int:
    """A token count as stored: an integer in 0..MAX_TOKENS. None, a non-number (a bool, an
    unparsable string), NaN, an infinity or a negative count is 0; a fraction is truncated;
    a larger count is MAX_TOKENS."""
    number = _number(value)
    if number is None or number <= 0:
        return 0
    if isinstance(number, float):
        number = int(number) if number < MAX_TOKENS else MAX_TOKENS
    return min(int(number), MAX_TOKENS)


def amount(value: Any) -> float:
    """A cost or a latency as stored: a float in 0..MAX_AMOUNT. None, a non-number, NaN,
    an infinity or a negative value is 0.0; a larger one is MAX_AMOUNT."""
    number = _number(value)
    if number is None or number <= 0:
        return 0.0
    return float(min(number, MAX_AMOUNT))  # min first: an int may be too large to convert


def _number(value: Any) -> int | float | None:
    """An int, a finite float, or None (no number, NaN, an infinity)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                return None
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        try:
            number = float(value)
        except (OverflowError, ValueError):
            return None
        return number if math.isfinite(number) else None
    return None


def first_path(value: Any, bad: Callable[[Any], bool], path: str = "") -> str | None:
    """The key path ("problem_options.x", "runs[1].y"; "" for ``value`` itself) of the
    first leaf of nested mappings and sequences for which ``bad`` is true, else None: how
    a config check and a JSON check name the value they refuse."""
    if isinstance(value, Mapping):
        items = ((f"{path}.{key}" if path else str(key), item) for key, item in value.items())
    elif isinstance(value, (list, tuple)):
        items = ((f"{path}[{i}]", item) for i, item in enumerate(value))
    else:
        return path if bad(value) else None
    for where, item in items:
        found = first_path(item, bad, where)
        if found is not None:
            return found
    return None
