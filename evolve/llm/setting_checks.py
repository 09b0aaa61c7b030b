"""The checks behind every [llm] setting's one-line error: value kinds, how a wrong value
reads in the message, unknown keys of a table, an endpoint URL, a model's table. Shared by
evolve/llm/config.py, meta_config.py and novelty_config.py."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def is_str(value: Any) -> bool:
    return isinstance(value, str)


def shape_of(value: Any) -> str:
    """How a value of the wrong type reads in an error message."""
    if isinstance(value, Mapping):
        keys = ", ".join(sorted(map(str, value))) or "none"
        return f"a table with keys {keys}"
    if isinstance(value, str):
        return f"a string {quoted(value)}"
    if isinstance(value, (list, tuple)):
        return f"an array {quoted(value)}"
    return f"{type(value).__name__} {quoted(value)}"


def quoted(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def refuse_unknown(data: Mapping[str, Any], cls: Any, where: str) -> None:
    """One line naming the keys of ``data`` that are not fields of the dataclass ``cls``
    (a table of the campaign file read into it), and the known ones."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(map(str, set(data) - known))
    if unknown:
        raise ValueError(
            f"unknown {where} keys: {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )


def settings_table(data: Any, cls: Any, where: str) -> dict[str, Any]:
    """``data``, the table [``where``] of a campaign file, as a dict of ``cls``'s fields:
    one line when it is not a table or holds a key ``cls`` does not have."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{where} must be a table ([{where}]), got {shape_of(data)}")
    refuse_unknown(data, cls, where)
    return dict(data)


def check_setting(
    key: str, value: Any, kind: Any, expected: str, in_range: Any = lambda v: True
) -> None:
    """``key must be EXPECTED, got VALUE`` unless the value has the kind and the range."""
    if not (kind(value) and in_range(value)):
        raise ValueError(f"{key} must be {expected}, got {quoted(value)}")


def check_base_url(url: str) -> str:
    """Why ``url`` cannot be an endpoint's base_url ("" when it can)."""
    if not isinstance(url, str):
        return f"must be a string, got {quoted(url)}"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number
    except ValueError as exc:
        return f"is not a URL ({exc}): {quoted(url)}"
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        return f"must be an http:// or https:// URL with a host, got {quoted(url)}"
    return ""


def validate_model(m: Any, index: int, table: str = "") -> None:
    where = table or f"llm.models[{index}]"
    check_setting(
        f"{where}.model", m.model, lambda v: isinstance(v, str) and v, "a non-empty string"
    )
    check_setting(f"{where}.name", m.name, is_str, "a string")
    where = f"{table}:" if table else f"llm model {m.label!r}:"

    def check(key: str, kind: Any, expected: str, in_range: Any = lambda v: True) -> None:
        value = getattr(m, key)
        if not (kind(value) and in_range(value)):
            raise ValueError(f"{where} {key} must be {expected}, got {quoted(value)}")

    if m.base_url:
        problem = check_base_url(m.base_url)
        if problem:
            raise ValueError(f"{where} base_url {problem}")
    # Never echo api_key_env: a key pasted there by mistake must not reach the logs.
    if not (isinstance(m.api_key_env, str) and ENV_NAME.fullmatch(m.api_key_env or "X")):
        raise ValueError(
            f"{where} api_key_env must be the NAME of an environment variable "
            "(letters, digits and _), never the key itself"
        )
    check("weight", is_num, "a number >= 0", lambda v: v >= 0)
    check("temperature", is_num, "a number in [0, 2]", lambda v: 0 <= v <= 2)
    check("top_p", is_num, "a number in (0, 1]", lambda v: 0 < v <= 1)
    check("max_tokens", is_int, "an integer >= 1", lambda v: v >= 1)
    check("max_in_flight", is_int, "an integer >= 1", lambda v: v >= 1)
    # Bounded: a request is given up after its tries (evolve/llm/pipeline.py), and a dead
    # endpoint must be noticed within a campaign, not after a million retries.
    check("timeout_s", is_num, "a number of seconds in (0, 86400]", lambda v: 0 < v <= 86400)
    check("max_retries", is_int, "an integer in 0..20", lambda v: 0 <= v <= 20)
    check("transport", lambda v: v in ("auto", "httpx"), "auto or httpx")
    for key in ("price_input", "price_output", "price_cached_input"):
        check(key, is_num, "a number of dollars per 1M tokens")
