"""Wire formats of the sandbox, and the strict parsing of what a candidate reports.

Three channels exist, all JSON, none ever unpickled or evaluated:

* runner -> supervisor: one request object (code, harness, params, limits, uid);
* candidate -> supervisor: ONE line on fd 3, ``{"ok": value}`` or
  ``{"error": "...", "kind": "error"|"oom"|"invalid_result"}`` -- untrusted;
* supervisor -> runner: one response object (outcome, value, detail, outputs...).
"""

from __future__ import annotations

import json
from typing import Any

from evaluators.contract import ERROR, INVALID_RESULT, OOM

MAX_JSON_DEPTH = 100  # deeper values are refused (they are no score, only a parser attack)
DETAIL_CHARS = 400
# Kinds a candidate may claim for its own failure. It can never claim "ok" without a
# value that passes the checks below, nor "sandbox_failure" (that one would be retried).
CHILD_KINDS = (ERROR, OOM, INVALID_RESULT)


class BadResult(ValueError):
    """The candidate's result line does not meet the protocol."""


def _reject_constant(name: str) -> Any:
    raise BadResult(f"result contains {name}, which is not valid JSON")


# built once: json.loads with options builds a decoder per call (a feed's every reply)
_strict_decode = json.JSONDecoder(parse_constant=_reject_constant).decode


def strict_loads(text: str | bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` that refuses NaN/Infinity and values nested deeper than the cap."""
    try:
        value = _strict_decode(text.decode("utf-8") if isinstance(text, bytes) else text)
    except BadResult:
        raise
    except RecursionError as exc:
        raise BadResult("result is nested too deeply") from exc
    except (ValueError, UnicodeDecodeError) as exc:  # includes int-digit limits
        raise BadResult(f"result is not valid JSON ({_one_line(str(exc), 120)})") from exc
    if _depth_exceeds(value, max_depth):
        raise BadResult(f"result is nested deeper than {max_depth} levels")
    return value


def _depth_exceeds(value: Any, limit: int) -> bool:
    if not isinstance(value, (list, dict)):
        return False
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        # only containers are stacked: a result is mostly long lists of numbers
        stack.extend((c, depth + 1) for c in children if isinstance(c, (list, dict)))
    return False


def parse_result_line(data: bytes) -> tuple[str, Any, str]:
    """Validate the candidate's fd-3 bytes -> (kind, value, message).

    kind is "ok" (value set) or one of CHILD_KINDS (message set). Raises BadResult.
    """
    if not data:
        raise BadResult("no result line")
    if not data.endswith(b"\n") or data.count(b"\n") != 1:
        raise BadResult("the result channel must carry exactly one line")
    message = strict_loads(data)
    if not isinstance(message, dict):
        raise BadResult("the result line is not a JSON object")
    if set(message) == {"ok"}:
        return "ok", message["ok"], ""
    if set(message) == {"error", "kind"}:
        kind, text = message["kind"], message["error"]
        if kind in CHILD_KINDS and isinstance(text, str):
            return kind, None, _one_line(text)
    raise BadResult("the result line has an unexpected shape")


def _one_line(text: str, limit: int = DETAIL_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


one_line = _one_line


# one encoder, built once: json.dumps with options builds a new one per call (~3 us, a
# feed's every message pays it)
_encode = json.JSONEncoder(allow_nan=False, separators=(",", ":")).encode


def dumps(obj: Any) -> bytes:
    """Compact JSON; never NaN (ValueError instead)."""
    return _encode(obj).encode()


def limits_to_dict(limits: Any) -> dict[str, float]:
    return {
        "wall_s": float(limits.wall_s),
        "cpu_s": float(limits.cpu_seconds),
        "memory_mb": int(limits.memory_mb),
        "file_mb": int(limits.file_mb),
        "open_files": int(limits.open_files),
        "processes": int(limits.processes),
        "output_kb": int(limits.output_kb),
        "result_kb": int(limits.result_kb),
        "scratch_mb": int(limits.scratch_mb),
    }
