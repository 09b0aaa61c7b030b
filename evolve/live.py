"""Progress while a campaign runs: a rich live view on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Progress:
    campaign: str
    budget: int
    done: int = 0
    in_flight: int = 0  # evaluations
    llm_in_flight: int = 0  # LLM requests
    llm_calls: int = 0
    llm_failures: dict[str, int] = field(default_factory=dict)  # LLM calls by failed outcome
    models_disabled: list[str] = field(default_factory=list)  # their breaker is open
    started: float = field(default_factory=time.monotonic)
    done_at_start: int = 0
    best: float | None = None
    best_per_island: list[float | None] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    isolation: str = ""
    phase: str = ""  # after the search, e.g. "held-out check: 3/9 programs"

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return (self.done - self.done_at_start) / elapsed if elapsed > 0 else 0.0


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value + 0.0:.4g}"  # -0.0 + 0.0 is 0.0: "0", not "-0"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))


def summary_line(p: Progress) -> str:
    """One plain progress line. Evaluation failures, then (when there are any) proposals
    rejected before evaluation and the LLM's requests in flight and failed calls, so that
    an endpoint failing every request shows up while it happens."""
    failures = _counts({k: v for k, v in p.outcomes.items() if k != "ok"}) or "none"
    islands = " ".join(_fmt(b) for b in p.best_per_island)
    n = p.llm_in_flight
    llm = f" + {n} LLM request{'' if n == 1 else 's'}" if n or p.llm_calls else ""
    line = (
        f"[{p.campaign}] {p.done}/{p.budget} evaluated, {p.in_flight}{llm} in flight, "
        f"{p.rate:.1f} eval/s, best {_fmt(p.best)} | islands {islands} | failures: {failures}"
    )
    if p.rejected:
        line += f" | rejected: {_counts(p.rejected)}"
    if p.llm_calls:
        failed = sum(p.llm_failures.values())
        line += f" | LLM: {p.llm_calls} calls, {failed} failed" + (
            f" ({_counts(p.llm_failures)})" if failed else ""
        )
    if p.models_disabled:  # while it happens, not only in the final summary
        line += f" | models disabled: {', '.join(p.models_disabled)}"
    return line + (f" | {p.phase}" if p.phase else "")


class PlainView:
    """One line every few seconds: for logs, pipes and CI."""

    def __init__(self, every_s: float = 5.0, stream: Any = None) -> None:
        self.every_s = every_s
        self.stream = stream or sys.stdout
        self._last = 0.0

    def update(self, progress: Progress, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last >= self.every_s:
            self._last = now
            print(summary_line(progress), file=self.stream, flush=True)

    def close(self, progress: Progress) -> None:
        self.update(progress, force=True)


class RichView:
    def __init__(self) -> None:
        from rich.console import Console
        from rich.live import Live

        self._live = Live(console=Console(), refresh_per_second=4, transient=False)
        self._live.start()

    def _render(self, p: Progress) -> Any:
        from rich.table import Table

        table = Table(title=f"evoforge · {p.campaign}", caption=p.phase or None, expand=False)
        table.add_column("evaluated")
        table.add_column("in flight")
        table.add_column("eval/s")
        table.add_column("best")
        table.add_column("best per island")
        table.add_column("failures by outcome")
        failures = "\n".join(f"{k}: {v}" for k, v in sorted(p.outcomes.items()) if k != "ok")
        rejected = sum(p.rejected.values())
        llm_failed = sum(p.llm_failures.values())
        table.add_row(
            f"{p.done}/{p.budget}",
            str(p.in_flight) + (f"\n+{p.llm_in_flight} LLM" if p.llm_in_flight else ""),
            f"{p.rate:.1f}",
            _fmt(p.best),
            "\n".join(f"{i}: {_fmt(b)}" for i, b in enumerate(p.best_per_island)),
            (failures or "none")
            + (f"\nproposals rejected: {rejected}" if rejected else "")
            + (f"\nLLM calls failed: {llm_failed}" if llm_failed else "")
            + (f"\nmodels disabled: {', '.join(p.models_disabled)}" if p.models_disabled else ""),
        )
        return table

    def update(self, progress: Progress, force: bool = False) -> None:
        self._live.update(self._render(progress))

    def close(self, progress: Progress) -> None:
        self._live.update(self._render(progress))
        self._live.stop()


class QuietView:
    def update(self, progress: Progress, force: bool = False) -> None:
        pass

    def close(self, progress: Progress) -> None:
        pass


def make_view(quiet: bool = False) -> Any:
    if quiet:
        return QuietView()
    return RichView() if sys.stdout.isatty() else PlainView()
