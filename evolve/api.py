"""The Python API that the CLI is a thin layer over."""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from db import open_storage
from db.records import ProgramRecord
from db.storage import Storage, StorageError
from evaluators.registry import UnknownProblem, broken_plugins, make_problem, problem_names
from evolve.config import CampaignConfig, ConfigError, build_config, resolve_db
from evolve.controller import CampaignError, CampaignSummary, Controller
from evolve.lease import LeaseError
from evolve.live import make_view

__all__ = [
    "UserError",
    "run",
    "resume",
    "problems",
    "status",
    "best",
    "export_best",
    "export_jsonl",
    "upgrade_db",
    "replay",
    "fork",
    "resolve_db",
    "describe_summary",
]


class UserError(Exception):
    """Something the user can fix; printed as one line."""


@contextlib.contextmanager
def _user_errors() -> Iterator[None]:
    try:
        yield
    except (
        ConfigError,
        CampaignError,
        LeaseError,
        StorageError,
        UnknownProblem,
        FileNotFoundError,
    ) as exc:
        raise UserError(str(exc)) from exc
    except ValueError as exc:  # bad problem options and friends
        raise UserError(str(exc)) from exc


@contextlib.contextmanager
def _storage(url: str | None) -> Iterator[Storage]:
    with _user_errors():
        storage = open_storage(resolve_db(url))
    try:
        yield storage
    finally:
        storage.close()


def run(
    target: str,
    overrides: Mapping[str, Any] | None = None,
    assignments: Sequence[str] = (),
    *,
    quiet: bool = True,
    executor_factory: Any = None,
) -> CampaignSummary:
    with _user_errors():
        config = build_config(target, overrides or {}, assignments)
    with _storage(config.db or None) as storage, _user_errors():
        if config.name and storage.get_campaign(config.name) is not None:
            raise UserError(
                f"a campaign named {config.name!r} exists; "
                f"continue it with `evolve resume {config.name}` or pick another --name"
            )
        kwargs = {"executor_factory": executor_factory} if executor_factory else {}
        controller = Controller(storage, config, view=make_view(quiet), **kwargs)
        return controller.run()


def resume(
    campaign: str,
    *,
    db: str | None = None,
    max_evals: int | None = None,
    workers: int | None = None,
    quiet: bool = True,
    executor_factory: Any = None,
) -> CampaignSummary:
    with _storage(db) as storage, _user_errors():
        record = storage.get_campaign(campaign)
        if record is None:
            raise UserError(
                f"no campaign named {campaign!r} in {resolve_db(db)} (see `evolve status`)"
            )
        data = dict(record.config)
        if max_evals is not None:
            data["max_evals"] = max_evals
        if workers is not None:
            data["workers"] = workers
        config = CampaignConfig.from_dict(data)
        kwargs = {"executor_factory": executor_factory} if executor_factory else {}
        controller = Controller(
            storage, config, resume=record.name, view=make_view(quiet), **kwargs
        )
        return controller.run()


def replay(
    campaign: str,
    *,
    db: str | None = None,
    name: str = "",
    quiet: bool = True,
    executor_factory: Any = None,
) -> Any:
    """Re-run a campaign from its recorded LLM replies; returns a ReplayReport."""
    from evolve import replay as replay_mod

    with _storage(db) as storage, _user_errors():
        return replay_mod.replay(
            storage, campaign, name=name, executor_factory=executor_factory, view=make_view(quiet)
        )


def fork(
    campaign: str,
    at: int,
    *,
    db: str | None = None,
    name: str = "",
    max_evals: int | None = None,
    assignments: Sequence[str] = (),
    quiet: bool = True,
    executor_factory: Any = None,
    llm_backend: Any = None,
) -> CampaignSummary:
    """Copy a campaign's first ``at`` evaluations into a new campaign and continue it."""
    from evolve import replay as replay_mod

    with _storage(db) as storage, _user_errors():
        return replay_mod.fork(
            storage,
            campaign,
            at,
            name=name,
            max_evals=max_evals,
            assignments=assignments,
            executor_factory=executor_factory,
            view=make_view(quiet),
            llm_backend=llm_backend,
        )


def describe_replay(report: Any) -> str:
    lines = [f"replay {report.replay} of {report.source}: {report.programs} programs"]
    lines += [f"  warning: {w}" for w in report.warnings]
    if report.identical:
        lines.append("  identical lineage, codes and scores")
    else:
        lines.append("  DIVERGED:")
        lines += [f"    {d}" for d in report.differences]
    if report.misses:
        lines.append(f"  {report.misses} requests had no recorded reply")
    return "\n".join(lines)


def problems() -> list[dict[str, str]]:
    rows = []
    for name in problem_names():
        try:
            description = (make_problem(name).description or "").strip().splitlines()[0]
        except Exception as exc:  # a problem that fails to build is listed with its error
            description = f"(cannot build: {exc})"
        rows.append({"name": name, "description": description})
    for name, error in broken_plugins().items():
        rows.append({"name": f"{name} (broken)", "description": error})
    return rows


def _program_row(program: ProgramRecord) -> dict[str, Any]:
    row = dataclasses.asdict(program)
    for key in ("created_at", "evaluated_at"):
        row[key] = row[key].isoformat() if row[key] else None
    return row


def status(db: str | None, campaign: str | None = None) -> list[dict[str, Any]]:
    with _storage(db) as storage:
        records = storage.list_campaigns()
        if campaign is not None:
            records = [r for r in records if r.name == campaign or str(r.id) == campaign]
            if not records:
                raise UserError(f"no campaign named {campaign!r} in {resolve_db(db)}")
        rows = []
        for record in records:
            counts = storage.counts(record.id)
            best = storage.best_programs(record.id, 1)
            rows.append(
                {
                    "name": record.name,
                    "problem": record.problem,
                    "status": record.status,
                    "evaluated": counts.get("evaluated", 0),
                    "pending": counts.get("pending", 0),
                    "budget": record.config.get("max_evals"),
                    "best_score": best[0].score if best else None,
                    "best_program": best[0].id if best else None,
                    "outcomes": {
                        k.split(":", 1)[1]: v for k, v in counts.items() if k.startswith("outcome:")
                    },
                    "created_at": record.created_at.isoformat(),
                    "finished_at": record.finished_at.isoformat() if record.finished_at else None,
                }
            )
        return rows


def best(db: str | None, campaign: str, k: int = 1) -> list[dict[str, Any]]:
    with _storage(db) as storage:
        record = storage.get_campaign(campaign)
        if record is None:
            raise UserError(f"no campaign named {campaign!r} in {resolve_db(db)}")
        programs = storage.best_programs(record.id, k)
        if not programs:
            raise UserError(f"campaign {campaign!r} has no correct evaluated program yet")
        held = {
            e.payload.get("program_id"): e.payload for e in storage.events(record.id, "held_out")
        }
        render = _evaluated_source(record)
        rows = []
        for program in programs:
            row = _program_row(program)
            row["held_out"] = held.get(program.id)
            if render is not None:
                row["evaluated_code"] = render(program.genome, dict(program.metrics), "python")
            rows.append(row)
        return rows


def _campaign_problem(record: Any) -> Any:
    """The campaign's problem, built with the options it ran with."""
    return make_problem(record.problem, **dict(record.config.get("problem_options", {})))


def _evaluated_source(record: Any) -> Any:
    """A problem whose evaluation changes the program (AutoNumerics tunes its constants)
    renders the program as scored with ``export_source``; None for every other problem,
    or when the problem cannot be built here (the stored code is shown then)."""
    try:
        problem = _campaign_problem(record)
    except Exception:
        return None
    return getattr(problem, "export_source", None)


def export_best(
    db: str | None, campaign: str, *, fmt: str | None = None, out_dir: str | None = None,
    full_range: bool = False,
) -> str:  # fmt: skip
    """The best program as a standalone function in ``fmt`` (a problem's ``export_source``;
    ``full_range``: the whole-domain function built on it, where the problem has one), or
    its artefact written to ``out_dir`` (a problem's ``export_artifact``)."""
    with _storage(db) as storage:
        record = storage.get_campaign(campaign)
        if record is None:
            raise UserError(f"no campaign named {campaign!r} in {resolve_db(db)}")
        programs = storage.best_programs(record.id, 1)
        if not programs:
            raise UserError(f"campaign {campaign!r} has no correct evaluated program yet")
    program = programs[0]
    with _user_errors():
        problem = _campaign_problem(record)
    method = "export_source" if fmt else "export_artifact"
    exporter = getattr(problem, method, None)
    if exporter is None:
        what = f"--format {fmt}" if fmt else "--export"
        raise UserError(
            f"problem {record.problem!r} does not support {what}; `evolve best` prints its code"
        )
    if full_range and "full_range" not in inspect.signature(exporter).parameters:
        raise UserError(f"problem {record.problem!r} has no --full-range export")
    with _user_errors():
        if fmt:
            extra = {"full_range": True} if full_range else {}
            return str(exporter(program.genome, dict(program.metrics), fmt, **extra))
        return f"wrote {exporter(program.genome, out_dir)}"


def export_jsonl(db: str | None, campaign: str, output: str | None) -> int:
    with _storage(db) as storage:
        record = storage.get_campaign(campaign)
        if record is None:
            raise UserError(f"no campaign named {campaign!r} in {resolve_db(db)}")
        stream = open(output, "w", encoding="utf-8") if output else sys.stdout
        count = 0
        try:
            offset, page = 0, 500
            while True:
                batch = storage.programs(record.id, limit=page, offset=offset)
                if not batch:
                    break
                for program in batch:
                    row = _program_row(program)
                    row["evaluations"] = [
                        {**dataclasses.asdict(e), "created_at": e.created_at.isoformat()}
                        for e in storage.evaluations(program.id)
                    ]
                    stream.write(json.dumps(row, default=str) + "\n")
                    count += 1
                offset += page
        finally:
            if output:
                stream.close()
        return count


def dashboard(db: str | None, host: str, port: int, token: str | None) -> int:
    """Serve the lineage dashboard until interrupted."""
    try:
        from dashboards.server import serve
    except ImportError as exc:
        raise UserError(f"the dashboard is not available: {exc}") from exc
    with _user_errors():
        return serve(resolve_db(db), host=host, port=port, token=token)


def upgrade_db(db: str | None) -> str:
    from db.schema import upgrade

    with _user_errors():
        return upgrade(resolve_db(db))


def _fmt(value: Any) -> str:
    return "-" if value is None else (f"{value:.4f}" if isinstance(value, float) else str(value))


def format_status(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no campaigns yet: start one with `evolve run binpack.online`"
    lines = [f"{'name':32} {'problem':22} {'status':11} {'evaluated':>11} {'best':>10}"]
    for r in rows:
        done = f"{r['evaluated']}/{r['budget']}"
        lines.append(
            f"{r['name']:32} {r['problem'][-22:]:22} {r['status']:11} {done:>11} "
            f"{_fmt(r['best_score']):>10}"
        )
    return "\n".join(lines)


def format_best(rows: list[dict[str, Any]]) -> str:
    out = []
    for r in rows:
        held = r.get("held_out")
        held_text = f", held-out {_fmt(held.get('score'))}" if held else ""
        out.append(
            f"# program {r['id']} · score {_fmt(r['score'])}{held_text} · "
            f"generation {r['generation']} · island {r['island']} · {r['operator']}"
        )
        first = _first_line(held)
        if first:
            out.append(f"# held-out check: {first}")
        if r.get("evaluated_code"):
            out.append("# as evaluated: constants tuned by the evaluation (the stored code")
            out.append("# holds the ones it started from)")
            out.append(r["evaluated_code"].rstrip())
        else:
            out.append(r["code"].rstrip())
        out.append("")
    return "\n".join(out)


def describe_summary(summary: CampaignSummary, db_url: str) -> str:
    lines = [f"campaign {summary.name}: {summary.evaluated} evaluations ({summary.reason})"]
    if summary.message:
        lines.append(summary.message)
    initial, best_program = summary.initial, summary.best
    if initial is not None:
        lines.append(
            f"  initial program (baseline): score {_fmt(initial.score)}"
            + _held(summary, initial.id)
        )
    if best_program is not None:
        lines.append(
            f"  best program {best_program.id}: score {_fmt(best_program.score)}"
            + _held(summary, best_program.id)
            + f" (generation {best_program.generation}, {best_program.operator})"
        )
    lines += _front_lines(summary)
    failures = {k: v for k, v in summary.outcomes.items() if k != "ok"}
    if failures:
        lines.append(f"  failures by outcome: {failures}")
    if summary.rejected:
        lines.append(f"  proposals rejected before evaluation: {summary.rejected}")
    if summary.llm:
        llm = summary.llm
        lines.append(
            f"  LLM: {llm['calls']} calls, ${llm['cost_usd']:.4f}, {llm['tokens']} tokens, "
            f"outcomes {llm['outcomes']}"
        )
        if llm.get("disabled_models"):
            lines.append(f"  models disabled: {llm['disabled_models']}")
    lines.append(f"  results: {db_url} · `evolve best {summary.name}` · `evolve status`")
    return "\n".join(lines)


def _front_lines(summary: CampaignSummary) -> list[str]:
    """The held-out check of the final front, for problems whose result is a front
    (held_out_front): one line per program but the initial one, its report's first line."""
    initial = summary.initial.id if summary.initial is not None else None
    front = [e for pid, e in summary.held_out.items() if pid != initial]
    front.sort(key=lambda e: -e["score"] if e.get("score") is not None else float("inf"))
    if len(front) < 2:
        return []
    lines = [f"  held-out check of the final front ({len(front)} programs):"]
    for e in front:
        first = _first_line(e)
        lines.append(
            f"    program {e['program_id']}: held-out {_fmt(e.get('score'))} · {first[:150]}"
        )
    return lines


def _first_line(held: Mapping[str, Any] | None) -> str:
    """The first line of a held-out entry's report (the problem's summary of the check)."""
    return ((held or {}).get("detail") or "").split("\n", 1)[0]


def _held(summary: CampaignSummary, program_id: int) -> str:
    entry = summary.held_out.get(program_id)
    if not entry:
        return ""
    if entry.get("score") is None:
        return f", held-out {entry.get('outcome')}"
    return f", held-out {_fmt(entry['score'])}"
