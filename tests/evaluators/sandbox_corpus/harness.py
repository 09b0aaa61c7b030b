"""A trusted harness for the sandbox tests: calls candidate.solve(**params)."""

from __future__ import annotations

from typing import Any


def call(candidate: Any, **params: Any) -> Any:
    return candidate.solve(**params)


def score(candidate: Any, n: int = 10) -> dict[str, Any]:
    values = [candidate.solve(i) for i in range(n)]
    return {"score": float(sum(values)), "metrics": {"n": n}}
