"""What every command of the API needs: the one-line UserError, the database opened (or
refused when a read-only command names a SQLite file that does not exist), a campaign's
problem rebuilt with its options, and a program as a plain row."""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import os
from collections.abc import Iterator
from typing import Any

from db import open_storage
from db.engine import is_memory_sqlite, parse_url, redact
from db.outage import StoppedWaiting
from db.records import CampaignRecord, ProgramRecord
from db.storage import Storage, StorageError
from evaluators.registry import UnknownProblem, make_problem
from evolve.campaign import CampaignError
from evolve.config import DEFAULT_DB, ConfigError
from evolve.config_sources import resolve_db
from evolve.lease import LeaseError

MAX_K = 1_000_000  # the most programs `evolve best -k` lists


class UserError(Exception):
    """Something the user can fix; printed as one line."""


class Interrupted(UserError):
    """A run stopped by the user where it could not end as usual (its database away):
    printed as one line, exit status 130 as for any Ctrl-C."""


@contextlib.contextmanager
def user_errors(*, value_errors: bool = True) -> Iterator[None]:
    """Errors the user can fix, as a one-line UserError. ``value_errors``: a ValueError is
    one too (bad problem options and friends, while a campaign is built); around a running
    campaign it is not: there a ValueError is a bug, shown with its traceback."""
    try:
        yield
    except StoppedWaiting as exc:
        raise Interrupted(str(exc)) from exc
    except (
        ConfigError,
        CampaignError,
        LeaseError,
        StorageError,
        UnknownProblem,
        FileNotFoundError,
    ) as exc:
        raise UserError(str(exc)) from exc
    except ValueError as exc:
        if not value_errors:
            raise
        raise UserError(str(exc)) from exc


@contextlib.contextmanager
def campaign_db(
    url: str | None, *, create: bool = True, campaign: str | None = None
) -> Iterator[Storage]:
    """The campaign database, opened (and, with ``create``, created and migrated when it
    does not exist). Read-only commands pass ``create=False``: a mistyped --db is then
    "no database at PATH" (UserError, after "no campaign named C" when they look for
    ``campaign``) rather than a new empty database."""
    resolved = resolve_db(url)
    if not create:
        missing = missing_sqlite_file(resolved)
        if missing is not None:
            wanted = f"no campaign named {campaign!r}: " if campaign is not None else ""
            raise UserError(f"{wanted}no database at {missing}")
    with user_errors():
        storage = open_storage(resolved)
    try:
        yield storage
    finally:
        storage.close()


def chosen_programs(
    storage: Storage, record: CampaignRecord, k: int = 1, program: int | None = None
) -> list[ProgramRecord]:
    """`evolve best`'s programs: the ``k`` best, best first, or the evaluated ``program``
    of the campaign (such as another program of a Pareto front); UserError otherwise."""
    if k < 1:  # SQLite reads LIMIT -1 as no limit, and 0 as "no program yet"
        raise UserError("-k must be >= 1")
    if k > MAX_K:  # and a LIMIT past 64 bits is an OverflowError of the driver
        raise UserError(f"-k must be at most {MAX_K}, got {k}")
    if program is not None and k != 1:
        raise UserError("-k and --program do not go together (--program is one program)")
    if program is None:  # equal scores: the problem's other objectives (fewer operations)
        programs = storage.best_programs(record.id, k, storage.score_tiebreak(record.id))
        if not programs:
            raise UserError(f"campaign {record.name!r} has no correct evaluated program yet")
        return programs
    if not 0 < program < 2**63:  # ids are positive 64-bit integers: no query past them
        raise UserError(f"campaign {record.name!r} has no program {program}")
    found = storage.get_program(program)
    if found is None or found.campaign_id != record.id:
        raise UserError(f"campaign {record.name!r} has no program {program}")
    if found.score is None:
        raise UserError(f"program {program} of {record.name!r} has not been evaluated")
    return [found]


def find_campaign(storage: Storage, db: str | None, campaign: str) -> CampaignRecord:
    """The campaign named (or numbered) ``campaign``; UserError when there is none."""
    record = storage.get_campaign(campaign)
    if record is None:
        where = redact(resolve_db(db))
        hint = _campaign_hint(campaign, [r.name for r in storage.list_campaigns()])
        raise UserError(f"no campaign named {campaign!r} in {where}{hint}")
    return record


def _campaign_hint(wanted: str, names: list[str]) -> str:
    """What to type instead of ``wanted``: a default campaign name is the problem's name
    and the time (sqrt-20261201-093728), so `evolve best sqrt` gets that problem's newest
    campaigns, and a misspelt name the close ones; otherwise the command that lists them."""
    ours = [name for name in names if name.startswith(f"{wanted}-")]
    close = ours[-3:][::-1] or difflib.get_close_matches(wanted, names, n=3, cutoff=0.8)
    if not close:
        return " (see `evolve status`)"
    return f"; did you mean {' or '.join(repr(name) for name in close)}? (see `evolve status`)"


def missing_sqlite_file(url: str) -> str | None:
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


def default_db_absent(url: str | None) -> bool:
    """No --db and no $EVOLVE_DB, and ./evolve.db does not exist yet: a fresh directory."""
    return (
        not url and resolve_db(None) == DEFAULT_DB and missing_sqlite_file(DEFAULT_DB) is not None
    )


def program_row(program: ProgramRecord) -> dict[str, Any]:
    row = dataclasses.asdict(program)
    for key in ("created_at", "evaluated_at"):
        row[key] = row[key].isoformat() if row[key] else None
    return row


def campaign_problem(record: Any) -> Any:
    """The campaign's problem, built with the options it ran with."""
    return make_problem(record.problem, **dict(record.config.get("problem_options", {})))
