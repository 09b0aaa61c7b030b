"""Parsing the JSON API's path ids and query parameters, in one place and one style.

A malformed parameter is a BadRequest (HTTP 400) whose message names the parameter, what it
must be and what was given: `min_score must be a number, got 'abc'`. An empty value is the
same as an absent one (the default). Integers below their minimum are refused; above their
maximum they are capped (a bound on the work a request can ask for, not on its validity).
A path id that no database row can have (not decimal, or outside SQLite's signed 64-bit
INTEGER) parses as None: the caller answers it as a missing object (404)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_DECIMAL = re.compile(r"[0-9]+")


class BadRequest(ValueError):
    pass


def record_id(text: str) -> int | None:
    """A path segment as a database id: None unless it is a decimal integer that fits a
    signed 64-bit INTEGER column (a larger one cannot exist, and SQLite refuses it)."""
    if not _DECIMAL.fullmatch(text) or len(text.lstrip("0")) > len(str(INT64_MAX)):
        return None  # (the length test first: int() refuses over 4300 digits)
    value = int(text)
    return value if value <= INT64_MAX else None


def integer(
    query: Mapping[str, str], key: str, default: int, lo: int, hi: int | None = None
) -> int:
    """query[key] as an integer >= lo (capped at hi); default when absent or empty."""
    value = optional_integer(query, key, lo)
    if value is None:
        return default
    return value if hi is None else min(value, hi)


def optional_integer(query: Mapping[str, str], key: str, lo: int | None = None) -> int | None:
    """query[key] as an integer (>= lo when given); None when absent or empty."""
    text = query.get(key, "")
    if text == "":
        return None
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"{key} must be an integer, got {text!r}") from None
    if lo is not None and value < lo:
        raise BadRequest(f"{key} must be an integer >= {lo}, got {text!r}")
    return value


def number(query: Mapping[str, str], key: str) -> float | None:
    """query[key] as a number (not NaN); None when absent or empty."""
    text = query.get(key, "")
    if text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if math.isnan(value):
        raise BadRequest(f"{key} must be a number, got {text!r}")
    return value


def choice(
    query: Mapping[str, str], key: str, choices: Iterable[str], default: str | None = None
) -> str | None:
    """query[key], which must be one of choices; default when absent or empty."""
    text = query.get(key, "")
    if text == "":
        return default
    allowed = list(choices)
    if text not in allowed:
        listed = ", ".join(allowed) if allowed else "(none in this campaign)"
        raise BadRequest(f"{key} must be one of: {listed}; got {text!r}")
    return text


class Query(dict[str, str]):
    """The query string: each key's last value, as a dict (what the parameters above
    read), and every value of a repeated key (`every`: the compare view's c=A&c=B)."""

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        self._pairs = list(pairs)
        super().__init__(self._pairs)

    def every(self, key: str) -> list[str]:
        return [v for k, v in self._pairs if k == key]

    def pairs(self) -> list[tuple[str, str]]:
        """Every (key, value) as given, repeated keys included."""
        return list(self._pairs)


def repeated(query: Mapping[str, str], key: str) -> list[str]:
    """Every non-empty value of key, in the order given (one at most from a plain dict)."""
    values = query.every(key) if isinstance(query, Query) else [query.get(key, "")]
    return [v for v in values if v != ""]
