"""`evolve best --format/--export` and `evolve export`: a campaign's programs written out."""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import json
import os
import stat
import sys
from collections.abc import Iterator
from typing import Any

from db.records import ProgramRecord
from db.storage import Storage
from evolve.access import (
    UserError,
    campaign_db,
    campaign_problem,
    chosen_programs,
    find_campaign,
    program_row,
    user_errors,
)


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
    with campaign_db(db, create=False, campaign=campaign) as storage:
        record = find_campaign(storage, db, campaign)
        programs = chosen_programs(storage, record, k, program)
    with user_errors():
        problem = campaign_problem(record)
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
        with user_errors():
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
        with user_errors():
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


def export_jsonl(db: str | None, campaign: str, output: str | None, llm_calls: bool = False) -> int:
    """Write the campaign's programs and their evaluations (``llm_calls``: its LLM calls,
    each with its prompt, reply, tokens, cost and outcome) as JSON lines to ``output``
    (stdout when None); returns how many lines. A file is written whole or not at all:
    into a temporary file beside it, renamed over ``output`` at the end."""
    write = _write_llm_calls if llm_calls else _write_jsonl
    with campaign_db(db, create=False, campaign=campaign) as storage:
        record = find_campaign(storage, db, campaign)
        if not output:
            with user_errors():
                return write(storage, record.id, sys.stdout)
        if os.path.isdir(output):
            raise UserError(f"cannot write {output}: it is a directory")
        if _special(output):  # /dev/null, /dev/stdout, a named pipe: written into
            with _cannot_write(output), open(output, "w", encoding="utf-8") as stream:
                with user_errors():
                    return write(storage, record.id, stream)
        partial = os.path.join(
            os.path.dirname(output), f".{os.path.basename(output)}.{os.getpid()}.partial"
        )
        with _cannot_write(output):
            stream = open(partial, "x", encoding="utf-8")  # closed by the with below
        try:
            with _cannot_write(output), stream, user_errors():
                count = write(storage, record.id, stream)
            with _cannot_write(output):
                os.replace(partial, output)
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(partial)
            raise
        return count


def _special(path: str) -> bool:
    """Whether ``path`` is there and not a regular file: a device or a pipe, which the
    rename of a finished file would replace (as root, `-o /dev/null` once left /dev/null
    a regular file holding the export, for every program of the machine)."""
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


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
            row = program_row(program)
            row["evaluations"] = [
                {**dataclasses.asdict(e), "created_at": e.created_at.isoformat()}
                for e in storage.evaluations(program.id)
            ]
            stream.write(json.dumps(row, default=str) + "\n")
            count += 1
        offset += page
    return count


def _write_llm_calls(storage: Storage, campaign_id: int, stream: Any) -> int:
    calls = storage.llm_calls(campaign_id)
    for call in calls:
        row = {**dataclasses.asdict(call), "created_at": call.created_at.isoformat()}
        stream.write(json.dumps(row, default=str) + "\n")
    return len(calls)
