"""The multi-statement queries behind SQLStorage, as functions of an open Session or (for
the hot write paths) a Core Connection."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    Connection,
    Dialect,
    Table,
    bindparam,
    case,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from db import convert
from db.models import Campaign, Edge, Evaluation, LLMCall, Program, utcnow
from db.prepared import Prepared, PreparedInsert
from db.records import (
    EVALUATED,
    PARENT,
    PENDING,
    SECOND_PARENT,
    NewStageResult,
    ProgramRecord,
)
from db.storage import TOKEN_FIELDS, StorageError

PAGE = 1000  # ids per IN (...) list

# Core tables and the write statements of the two hot paths (add_program and
# record_evaluation), built once and prepared per dialect (HotStatements, db/prepared.py).
# Bind names start with "b_" so they never clash with columns.
PROGRAMS, CAMPAIGNS = Program.__table__, Campaign.__table__
EDGES, EVALUATIONS, LLM_CALLS = Edge.__table__, Evaluation.__table__, LLMCall.__table__
# The campaign row of the program "b_program".
_CAMPAIGN_OF_PROGRAM = update(CAMPAIGNS).where(
    CAMPAIGNS.c.id
    == select(PROGRAMS.c.campaign_id)
    .where(PROGRAMS.c.id == bindparam("b_program"))
    .scalar_subquery()
)
# Row-locks the campaign of the program until commit (PostgreSQL): eval_seq is dense and
# distinct. No row: there is no such program.
BUMP_EVAL_COUNTER = _CAMPAIGN_OF_PROGRAM.values(
    eval_counter=CAMPAIGNS.c.eval_counter + 1
).returning(CAMPAIGNS.c.eval_counter)
UNBUMP_EVAL_COUNTER = _CAMPAIGN_OF_PROGRAM.values(eval_counter=CAMPAIGNS.c.eval_counter - 1)
SUMMARY = ("outcome", "score", "correct", "metrics", "features", "feedback")
MARK_EVALUATED = (
    update(PROGRAMS)
    .where(PROGRAMS.c.id == bindparam("b_program"), PROGRAMS.c.status == PENDING)
    .values(
        status=EVALUATED,
        eval_seq=bindparam("b_eval_seq"),
        evaluated_at=bindparam("b_evaluated_at", type_=PROGRAMS.c.evaluated_at.type),
        **{k: bindparam(f"b_{k}", type_=PROGRAMS.c[k].type) for k in SUMMARY},
    )
)


class HotStatements:
    """The statements of add_program and record_evaluation, prepared for one dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self.program = PreparedInsert(PROGRAMS, dialect, returning=True)
        self.edge = PreparedInsert(EDGES, dialect)
        self.llm_call = PreparedInsert(LLM_CALLS, dialect)
        self.evaluation = PreparedInsert(EVALUATIONS, dialect)
        self.bump = Prepared(BUMP_EVAL_COUNTER, dialect)
        self.unbump = Prepared(UNBUMP_EVAL_COUNTER, dialect)
        self.mark = Prepared(MARK_EVALUATED, dialect)


# Light program summaries: every column but code and genome.
LIGHT_COLUMNS = tuple(c for c in PROGRAMS.c if c.name not in ("code", "genome"))


def parent_ids(s: Session | Connection, ids: list[int]) -> dict[int, list[int]]:
    """{program id: [parent ids]} (PARENT then SECOND_PARENT edges) for `ids`."""
    parents: dict[int, list[int]] = {i: [] for i in ids}
    order = case((EDGES.c.kind == PARENT, 0), else_=1)
    for i in range(0, len(ids), PAGE):
        query = (
            select(EDGES.c.child_id, EDGES.c.parent_id)
            .where(EDGES.c.child_id.in_(ids[i : i + PAGE]))
            .where(EDGES.c.kind.in_((PARENT, SECOND_PARENT)))
            .order_by(EDGES.c.child_id, order, EDGES.c.id)
        )
        for child, parent in s.execute(query):
            parents[child].append(parent)
    return parents


def with_parents(s: Session, rows: list[Program]) -> list[ProgramRecord]:
    """Records of `rows` with their parent_ids (PARENT then SECOND_PARENT edges)."""
    if not rows:
        return []
    parents = parent_ids(s, [r.id for r in rows])
    return [convert.program(r, tuple(parents[r.id])) for r in rows]


def light_with_parents(s: Session, rows: list[Any]) -> list[ProgramRecord]:
    """Records (code "", genome None) of LIGHT_COLUMNS rows, with their parent_ids."""
    if not rows:
        return []
    parents = parent_ids(s, [r.id for r in rows])
    return [convert.program(r, tuple(parents[r.id]), light=True) for r in rows]


def add_program(
    conn: Connection,
    hot: HotStatements,
    program: dict[str, Any],
    edges: Sequence[tuple[int, str]],
    calls: list[dict[str, Any]],
) -> int:
    """Insert the program, its edges and LLM calls; returns the program id. A program
    with an "id" is inserted with it (redone after a lost connection: db/outage.py)."""
    if "id" in program:
        insert_with_id(conn, PROGRAMS, program)
        program_id = program["id"]
    else:
        program_id = hot.program.scalar(conn, program)
    if edges:
        hot.edge.executemany(
            conn, [{"parent_id": p, "child_id": program_id, "kind": k} for p, k in edges]
        )
    if calls:
        campaign_id = program["campaign_id"]
        hot.llm_call.executemany(
            conn, [{**c, "campaign_id": campaign_id, "program_id": program_id} for c in calls]
        )
    return program_id


# Moves a table's id sequence to :id unless it is there already (never back).
_SEQUENCE_PAST = text(
    "SELECT setval(s.seq, :id) FROM (SELECT CAST(pg_get_serial_sequence(:t, 'id') AS regclass)"
    " AS seq) AS s WHERE coalesce(pg_sequence_last_value(s.seq), 0) < :id"
)


def insert_with_id(conn: Connection, table: Table, row: dict[str, Any]) -> None:
    """Insert ``row`` with the id it was handed before (a write redone after a lost
    connection: db/outage.py). On PostgreSQL the id sequence is then moved past it: nextval
    is not rolled back, but a server that restarted after a crash (a backend killed by the
    OOM killer restarts them all) or failed over to a standby forgets the values it handed
    out in transactions whose WAL it had not written, and would hand this id out again to
    the next insert, a duplicate key."""
    conn.execute(insert(table), row)
    if conn.dialect.name == "postgresql":
        conn.execute(_SEQUENCE_PAST, {"t": table.name, "id": row["id"]})


def stage_row(program_id: int, st: NewStageResult, worker: str, attempt: int) -> dict[str, Any]:
    """An evaluations row for one stage result, its values checked (finite JSON, no NaN)."""
    return {
        "program_id": program_id,
        "stage": st.stage,
        "outcome": st.outcome,
        "score": convert.score_value(st.score, f"stage {st.stage!r} score"),
        "correct": None if st.correct is None else bool(st.correct),
        "metrics": convert.json_mapping(st.metrics, f"stage {st.stage!r} metrics"),
        "features": convert.json_mapping(st.features, f"stage {st.stage!r} features"),
        "feedback": st.feedback or "",
        "duration_s": float(st.duration_s),
        "worker": worker,
        "attempt": int(attempt),
        "isolation": st.isolation,
        "artifacts": convert.text_mapping(st.artifacts, f"stage {st.stage!r} artifacts"),
    }


def record_evaluation(
    conn: Connection, hot: HotStatements, program_id: int, rows: list[dict[str, Any]]
) -> bool:
    """Take the next eval_seq, mark the program EVALUATED (fenced on PENDING) and insert the
    stage rows. When the fence fails (a late duplicate) it gives the eval_seq back and
    returns False, having changed nothing: the transaction may go on (Storage.transaction)."""
    last = rows[-1]
    now = utcnow()
    seq = hot.bump.scalar(conn, {"b_program": program_id})
    if seq is None:
        raise StorageError(f"no program with id {program_id}")
    params = {f"b_{k}": last[k] for k in SUMMARY}
    params.update(b_program=program_id, b_eval_seq=seq, b_evaluated_at=now)
    cursor = hot.mark.execute(conn, params)
    marked = cursor.rowcount == 1
    cursor.close()
    if not marked:
        # The campaign row is still locked by the bump: no other writer took a seq since.
        hot.unbump.execute(conn, {"b_program": program_id}).close()
        return False
    hot.evaluation.executemany(conn, [dict(row, created_at=now) for row in rows])
    return True


def llm_usage(s: Session, campaign_id: int) -> list[dict[str, Any]]:
    """Storage.llm_usage as one GROUP BY over llm_calls (prompts and responses never read)."""
    c, p = LLM_CALLS.c, PROGRAMS.c
    operator = func.coalesce(func.nullif(c.operator, ""), p.operator, "(none)")
    sums = [func.sum(c[f]) for f in ("cost_usd", "latency_s", *TOKEN_FIELDS)]
    query = (
        select(c.model, operator, c.outcome, func.count(), *sums)
        .select_from(LLM_CALLS.outerjoin(PROGRAMS, p.id == c.program_id))
        .where(c.campaign_id == campaign_id)
        .group_by(c.model, operator, c.outcome)
    )
    rows = []
    for model, op, outcome, n, cost, latency, *tokens in s.execute(query):
        row = {"model": model, "operator": op, "outcome": outcome, "calls": int(n)}
        row["cost_usd"], row["latency_s"] = float(cost or 0.0), float(latency or 0.0)
        row.update(zip(TOKEN_FIELDS, (int(t or 0) for t in tokens), strict=True))
        rows.append(row)
    return sorted(rows, key=lambda r: (r["model"], r["operator"], r["outcome"]))


def counts(s: Session, campaign_id: int) -> dict[str, int]:
    query = (
        select(Program.status, Program.outcome, Program.correct, func.count())
        .where(Program.campaign_id == campaign_id)
        .group_by(Program.status, Program.outcome, Program.correct)
    )
    out = {"programs": 0, PENDING: 0, EVALUATED: 0, "correct": 0}
    for status, outcome, correct, n in s.execute(query):
        out["programs"] += n
        out[status] = out.get(status, 0) + n
        if correct and status == EVALUATED:
            out["correct"] += n
        if outcome is not None:
            out[f"outcome:{outcome}"] = out.get(f"outcome:{outcome}", 0) + n
    return out
