"""The Python API that the CLI is a thin layer over."""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from db import open_storage
from db.engine import is_memory_sqlite, parse_url
from db.records import CampaignRecord, ProgramRecord
from db.storage import Storage, StorageError
from evaluators.registry import UnknownProblem, broken_plugins, make_problem, problem_names
from evolve import start
from evolve.config import DEFAULT_DB, CampaignConfig, ConfigError, build_config, resolve_db
from evolve.controller import CampaignError, CampaignSummary, Controller
from evolve.lease import LeaseError, owner_is_dead
from evolve.live import make_view
from evolve.report import first_sentence

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
def _storage(
    url: str | None, *, create: bool = True, campaign: str | None = None
) -> Iterator[Storage]:
    """The campaign database, opened (and, with ``create``, created and migrated when it
    does not exist). Read-only commands pass ``create=False``: a mistyped --db is then
    "no database at PATH" (UserError, after "no campaign named C" when they look for
    ``campaign``) rather than a new empty database."""
    resolved = resolve_db(url)
    if not create:
        missing = _missing_sqlite_file(resolved)
        if missing is not None:
            wanted = f"no campaign named {campaign!r}: " if campaign is not None else ""
            raise UserError(f"{wanted}no database at {missing}")
    with _user_errors():
        storage = open_storage(resolved)
    try:
        yield storage
    finally:
        storage.close()


def _missing_sqlite_file(url: str) -> str | None:
    """The path of a SQLite file database that does not exist; None for any other URL
    (PostgreSQL, in-memory, SQLite URI filenames, or a URL that does not parse, which
    open_storage reports)."""
    try:
        parsed = parse_url(url)
    except StorageError:
        return None
    if parsed.get_backend_name() != "sqlite" or is_memory_sqlite(parsed):
        return None
    if parsed.query.get("uri") or (parsed.database or "").startswith("file:"):
        return None
    path = str(parsed.database)
    return None if os.path.exists(path) else path


def _default_db_absent(url: str | None) -> bool:
    """No --db and no $EVOLVE_DB, and ./evolve.db does not exist yet: a fresh directory."""
    return (
        not url and resolve_db(None) == DEFAULT_DB and _missing_sqlite_file(DEFAULT_DB) is not None
    )


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
        existing = storage.get_campaign(config.name) if config.name else None
        if existing is not None:
            raise UserError(start.name_taken(storage, existing))
        kwargs = {"executor_factory": executor_factory} if executor_factory else {}
        controller = Controller(storage, config, view=make_view(quiet), **kwargs)
        return controller.run()


def resume(
    campaign: str,
    *,
    db: str | None = None,
    max_evals: int | None = None,
    time_limit_s: float | None = None,
    workers: int | None = None,
    allow_changed_problem: bool = False,
    quiet: bool = True,
    executor_factory: Any = None,
) -> CampaignSummary:
    """Continue a campaign. ``max_evals`` and ``time_limit_s`` set its budgets (the time
    limit is the campaign's total running time) and are kept for later resumes;
    ``workers`` is this run's. A finished campaign whose budgets are not raised gives an
    "already_finished" summary with nothing started or written."""
    with _storage(db) as storage, _user_errors():
        record = storage.get_campaign(campaign)
        if record is None:
            raise UserError(
                f"no campaign named {campaign!r} in {resolve_db(db)} (see `evolve status`)"
            )
        data = start.campaign_config(storage, record)
        flags = {"max_evals": max_evals, "time_limit_s": time_limit_s, "workers": workers}
        data.update({k: v for k, v in flags.items() if v is not None})
        config = CampaignConfig.from_dict(data)
        finished = start.check_resume(storage, record, config, max_evals)
        if finished is not None:
            return finished
        kwargs = {"executor_factory": executor_factory} if executor_factory else {}
        controller = Controller(
            storage,
            config,
            resume=record.name,
            view=make_view(quiet),
            allow_changed_problem=allow_changed_problem,
            **kwargs,
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


def problems() -> list[dict[str, str]]:
    """Every registered problem with the first sentence of its description (whole, on one
    line: descriptions are hard-wrapped); format_problems fits them to the terminal."""
    rows = []
    for name in problem_names():
        try:
            description = first_sentence(make_problem(name).description or "")
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
    """One row per campaign. ``status`` is the stored status, unchanged; the boolean
    ``stale`` is True for a campaign stored as "running" whose controller is gone (its
    lease is free, expired, or held by a dead process of this host: the cases in which
    `evolve resume` takes it over, evolve/lease.py). A separate field rather than another
    status string, so that scripts matching "running" keep working; format_status shows
    such a campaign as "interrupted?" with the hint `evolve resume NAME`. A missing
    database is an error, except the default ./evolve.db in a fresh directory: no
    campaigns then (and no file created)."""
    if _default_db_absent(db):
        if campaign is not None:
            raise UserError(f"no campaign named {campaign!r} in {resolve_db(db)}")
        return []
    with _storage(db, create=False, campaign=campaign) as storage:
        records = storage.list_campaigns()
        if campaign is not None:
            records = [r for r in records if r.name == campaign or str(r.id) == campaign]
            if not records:
                raise UserError(f"no campaign named {campaign!r} in {resolve_db(db)}")
        return [_status_row(storage, record) for record in records]


def _status_row(storage: Storage, record: CampaignRecord) -> dict[str, Any]:
    counts = storage.counts(record.id)
    best = storage.best_programs(record.id, 1)
    return {
        "name": record.name,
        "problem": record.problem,
        "status": record.status,
        "stale": record.status == "running" and _controller_gone(storage, record.id),
        "evaluated": counts.get("evaluated", 0),
        "pending": counts.get("pending", 0),
        "budget": start.campaign_config(storage, record).get("max_evals"),  # as raised
        "best_score": best[0].score if best else None,
        "best_program": best[0].id if best else None,
        "outcomes": {k.split(":", 1)[1]: v for k, v in counts.items() if k.startswith("outcome:")},
        "created_at": record.created_at.isoformat(),
        "finished_at": record.finished_at.isoformat() if record.finished_at else None,
    }


def _controller_gone(storage: Storage, campaign_id: int) -> bool:
    """Whether no live controller holds the campaign's lease: the conditions under which
    CampaignLease.acquire would take it over (free, expired, or a dead owner on this
    host). A campaign just created is "running" a moment before its lease is taken."""
    with _user_errors():
        holder = storage.lease_holder(campaign_id)
    if holder is None or holder.until < datetime.now(UTC):
        return True
    return owner_is_dead(holder.owner)


def best(db: str | None, campaign: str, k: int = 1) -> list[dict[str, Any]]:
    if k < 1:  # SQLite reads LIMIT -1 as no limit, and 0 as "no program yet"
        raise UserError("-k must be >= 1")
    with _storage(db, create=False, campaign=campaign) as storage:
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
    full_range: bool = False, k: int = 1, program: int | None = None,
) -> str:  # fmt: skip
    """The best program as a standalone function in ``fmt`` (a problem's ``export_source``;
    ``full_range``: the whole-domain function built on it, where the problem has one), or
    its artefact written to ``out_dir`` (a problem's ``export_artifact``).

    ``k``: the k best programs, best first (as ``evolve best -k``); ``program``: that
    program of the campaign instead (an id that ``evolve best -k N`` or the run summary
    lists, such as another program of a Pareto front). With ``fmt``, ``out_dir`` gets one
    file per program (``program_ID.c``, ``program_ID.py``, ``program_ID_jax.py``;
    ``_full`` before the suffix with ``full_range``) instead of the text; several programs
    get their id after their function's name (``approx_ID``), so printed together they
    are one module."""
    if k < 1:  # SQLite reads LIMIT -1 as no limit
        raise UserError("-k must be >= 1")
    if program is not None and k != 1:
        raise UserError("-k and --program do not go together (--program exports one program)")
    with _storage(db, create=False, campaign=campaign) as storage:
        record = storage.get_campaign(campaign)
        if record is None:
            raise UserError(f"no campaign named {campaign!r} in {resolve_db(db)}")
        if program is None:
            programs = storage.best_programs(record.id, k)
            if not programs:
                raise UserError(f"campaign {campaign!r} has no correct evaluated program yet")
        else:
            found = storage.get_program(program)
            if found is None or found.campaign_id != record.id:
                raise UserError(f"campaign {campaign!r} has no program {program}")
            if found.score is None:
                raise UserError(f"program {program} of {campaign!r} has not been evaluated")
            programs = [found]
    with _user_errors():
        problem = _campaign_problem(record)
    method = "export_source" if fmt else "export_artifact"
    exporter = getattr(problem, method, None)
    if exporter is None:
        what = f"--format {fmt}" if fmt else "--export"
        raise UserError(
            f"problem {record.problem!r} does not support {what}; `evolve best` prints its code"
        )
    if not fmt:
        if k != 1:
            raise UserError("-k goes with --format: --export alone writes one program's artefact")
        with _user_errors():
            return f"wrote {exporter(programs[0].genome, out_dir)}"
    accepts = inspect.signature(exporter).parameters
    if full_range and "full_range" not in accepts:
        raise UserError(f"problem {record.problem!r} has no --full-range export")
    several = len(programs) > 1
    if several and full_range and not out_dir:
        raise UserError("-k N with --full-range writes one file per program: add --export DIR")
    if several and "suffix" not in accepts:
        raise UserError(f"problem {record.problem!r} exports one program at a time: drop -k")
    sources = []
    for p in programs:
        extra: dict[str, Any] = {"full_range": True} if full_range else {}
        if "standalone" in accepts:
            extra["standalone"] = True
        if several:
            extra["suffix"] = f"_{p.id}"
        with _user_errors():
            sources.append(str(exporter(p.genome, dict(p.metrics), fmt, **extra)))
    if out_dir:
        return _write_exports(out_dir, fmt, full_range, programs, sources)
    if not several:
        return sources[0]
    open_, close = ("/* ", " */") if fmt == "c" else ("# ", "")
    return "\n".join(
        f"{open_}program {p.id}: score {p.score:.6g}{close}\n{source}"
        for p, source in zip(programs, sources)
    )


def _write_exports(out_dir: str, fmt: str, full_range: bool, programs: list[ProgramRecord],
                   sources: list[str]) -> str:  # fmt: skip
    """``evolve best --format F --export DIR``: each program's source to a file in DIR."""
    ending = {"c": ".c", "python": ".py", "jax": "_jax.py"}.get(fmt, f".{fmt}")
    wrote = []
    with _cannot_write(out_dir):
        os.makedirs(out_dir, exist_ok=True)
    for p, source in zip(programs, sources):
        path = os.path.join(out_dir, f"program_{p.id}{'_full' if full_range else ''}{ending}")
        with _cannot_write(path), open(path, "w", encoding="utf-8") as stream:
            stream.write(source)
        wrote.append(f"wrote {path}")
    return "\n".join(wrote)


def export_jsonl(db: str | None, campaign: str, output: str | None) -> int:
    """Write the campaign's programs and their evaluations as JSON lines to ``output``
    (stdout when None); returns how many programs. A file is written whole or not at all:
    into a temporary file beside it, renamed over ``output`` at the end."""
    with _storage(db, create=False, campaign=campaign) as storage:
        record = storage.get_campaign(campaign)
        if record is None:
            raise UserError(f"no campaign named {campaign!r} in {resolve_db(db)}")
        if not output:
            with _user_errors():
                return _write_jsonl(storage, record.id, sys.stdout)
        if os.path.isdir(output):
            raise UserError(f"cannot write {output}: it is a directory")
        partial = os.path.join(
            os.path.dirname(output), f".{os.path.basename(output)}.{os.getpid()}.partial"
        )
        with _cannot_write(output):
            stream = open(partial, "x", encoding="utf-8")  # closed by the with below
        try:
            with _cannot_write(output), stream, _user_errors():
                count = _write_jsonl(storage, record.id, stream)
            with _cannot_write(output):
                os.replace(partial, output)
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(partial)
            raise
        return count


@contextlib.contextmanager
def _cannot_write(path: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _write_jsonl(storage: Storage, campaign_id: int, stream: Any) -> int:
    count, offset, page = 0, 0, 500
    while batch := storage.programs(campaign_id, limit=page, offset=offset):
        for program in batch:
            row = _program_row(program)
            row["evaluations"] = [
                {**dataclasses.asdict(e), "created_at": e.created_at.isoformat()}
                for e in storage.evaluations(program.id)
            ]
            stream.write(json.dumps(row, default=str) + "\n")
            count += 1
        offset += page
    return count


def dashboard(db: str | None, host: str, port: int, token: str | None) -> int:
    """Serve the lineage dashboard until interrupted."""
    try:
        from dashboards.server import serve
    except ImportError as exc:
        raise UserError(f"the dashboard is not available: {exc}") from exc
    # A mistyped --db must not become a new empty database; the default one may be
    # created, so that the dashboard can be opened before the first campaign starts.
    missing = _missing_sqlite_file(resolve_db(db)) if db else None
    if missing is not None:
        raise UserError(f"no database at {missing}")
    with _user_errors():
        return serve(resolve_db(db), host=host, port=port, token=token)


def upgrade_db(db: str | None) -> str:
    from db.schema import upgrade

    with _user_errors():
        return upgrade(resolve_db(db))
