"""Read-only JSON values for frozen records.

A record's mappings (config, metrics, features, payload) come back as FrozenDict: a dict
subclass that refuses mutation, so `json.dumps`, `dataclasses.asdict`, pickling and copying
still work, while `record.metrics["x"] = 1` raises TypeError. Lists inside become tuples.
"""

from __future__ import annotations

from typing import Any, NoReturn


class FrozenDict(dict):
    __slots__ = ()

    def _readonly(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("records are read-only: FrozenDict cannot be modified")

    __setitem__ = __delitem__ = _readonly  # type: ignore[assignment]
    clear = pop = popitem = setdefault = update = _readonly  # type: ignore[assignment]
    __ior__ = _readonly  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenDict, (dict(self),))

    def __copy__(self) -> FrozenDict:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> FrozenDict:
        return self

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))

    def __repr__(self) -> str:
        return f"FrozenDict({dict.__repr__(self)})"


def freeze(value: Any) -> Any:
    """Deep-freeze a JSON value: dicts become FrozenDict, lists become tuples."""
    if isinstance(value, dict):
        return FrozenDict((k, freeze(v)) for k, v in value.items())
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value
