"""The supervisor's answer as the runner reads it: to end of file within the job's
deadline, parsed strictly into a response of a known outcome, and a sandbox_failure
response for whatever is not one.

Separate from runner.py, which sends the job and owns the zygote, its locks and its
restarts: this is only the reading of what comes back, with no state of its own.
"""

from __future__ import annotations

import socket
import time
from typing import Any

from evaluators.contract import OUTCOMES, SANDBOX_FAILURE
from evaluators.sandbox.protocol import MAX_JSON_DEPTH, BadResult, one_line, strict_loads

CHUNK = 1 << 16


def read_until_eof(sock: socket.socket, deadline: float) -> bytes:
    parts = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        sock.settimeout(left)
        chunk = sock.recv(CHUNK)
        if not chunk:
            return b"".join(parts)
        parts.append(chunk)


def failure(detail: str) -> dict[str, Any]:
    return {"outcome": SANDBOX_FAILURE, "detail": one_line(detail)}


def parse_response(raw: bytes) -> dict[str, Any]:
    if not raw:
        return failure("the supervisor died without answering")
    try:
        response = strict_loads(raw, max_depth=MAX_JSON_DEPTH + 1)
    except BadResult as exc:
        return failure(f"unreadable answer from the supervisor: {exc}")
    if not isinstance(response, dict) or response.get("outcome") not in OUTCOMES:
        return failure("malformed answer from the supervisor")
    for key in ("detail", "stdout", "stderr"):
        if not isinstance(response.get(key, ""), str):
            return failure("malformed answer from the supervisor")
    return response
