"""The lineage reads of SQLStorage, as a mixin: programs by id, the edges of some programs,
an ancestry and whether one program descends from another. The dashboard answers its cold
requests on large campaigns with them: each a few indexed queries (recursive ones for the
ancestry), never a read of the whole campaign. The Storage docstrings (db/storage.py)
define what each returns; db/reads.py holds the other reads."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

from sqlalchemy import Integer, bindparam, func, literal, select, text
from sqlalchemy.orm import Session

from db import queries
from db.models import Program
from db.outage import outage_safe
from db.records import EdgeRecord, ProgramRecord
from db.storage import ANCESTRY_KINDS

# Any edge from a newer program to an older one (add_edges could write one)?
_BACKWARDS = (
    select(queries.EDGES.c.id).where(queries.EDGES.c.parent_id > queries.EDGES.c.child_id).limit(1)
)
_LAST_EDGE = select(func.max(queries.EDGES.c.id))
# in_ancestry on SQLite: the ancestry walk from :start, lowest id first, stopped at :target
# (below :lower nothing is walked when that is not NULL).
_DIVE = text(
    f"""
    WITH RECURSIVE ancestry(id) AS (
        SELECT id FROM {queries.PROGRAMS.name} WHERE id = :start
        UNION
        SELECT e.parent_id FROM ancestry JOIN {queries.EDGES.name} AS e ON e.child_id = ancestry.id
        WHERE e.kind IN :kinds AND (:lower IS NULL OR e.parent_id >= :lower)
        ORDER BY 1
    )
    SELECT 1 FROM ancestry WHERE id = :target LIMIT 1
    """
).bindparams(bindparam("kinds", expanding=True))


class SQLLineageReads:
    """SQLStorage's lineage reads; they need the host's `_session(write=False)`."""

    _session: Callable[..., AbstractContextManager[Session]]
    _backward_seen: tuple[bool, int]  # see _backward_edges

    def _backward_edges(self, s: Session) -> bool:
        """Whether an edge goes from a newer program to an older one (add_edges could
        write one; then an ancestry walk cannot stop below an id). On SQLite, where writes
        are serialised so edge ids commit in order, edges are append-only: the answer for
        the edges up to an id is remembered, and only newer edges are scanned next time."""
        if s.get_bind().dialect.name != "sqlite":
            return s.scalar(_BACKWARDS) is not None
        found, checked = getattr(self, "_backward_seen", (False, 0))
        if found:
            return True
        last = s.scalar(_LAST_EDGE) or 0
        if last <= checked:
            return False
        e = queries.EDGES.c
        newer = _BACKWARDS.where(e.id > checked, e.id <= last)
        found = s.scalar(newer) is not None
        self._backward_seen = (found, last)
        return found

    @outage_safe
    def programs_by_id(
        self, program_ids: Sequence[int], *, with_code: bool = False
    ) -> list[ProgramRecord]:
        ids = sorted({int(i) for i in program_ids})
        out: list[ProgramRecord] = []
        with self._session(write=False) as s:
            for i in range(0, len(ids), queries.PAGE):
                chunk = ids[i : i + queries.PAGE]
                if with_code:
                    rows = s.scalars(select(Program).where(Program.id.in_(chunk)))
                    out += queries.with_parents(s, list(rows))
                else:
                    light = select(*queries.LIGHT_COLUMNS).where(queries.PROGRAMS.c.id.in_(chunk))
                    out += queries.light_with_parents(s, list(s.execute(light)))
        return sorted(out, key=lambda p: p.id)

    @outage_safe
    def edges_of(
        self, program_ids: Sequence[int], *, parents: bool = True, children: bool = True
    ) -> list[EdgeRecord]:
        ids = sorted({int(i) for i in program_ids})
        e = queries.EDGES.c
        found: dict[int, EdgeRecord] = {}
        columns = [c for c, wanted in ((e.child_id, parents), (e.parent_id, children)) if wanted]
        with self._session(write=False) as s:
            for column in columns:  # one query per direction: each uses its own index
                for i in range(0, len(ids), queries.PAGE):
                    query = select(e.id, e.parent_id, e.child_id, e.kind).where(
                        column.in_(ids[i : i + queries.PAGE])
                    )
                    for eid, p, c, k in s.execute(query):
                        found[eid] = EdgeRecord(p, c, k)
        return [found[k] for k in sorted(found)]

    @outage_safe
    def ancestry(
        self,
        program_id: int,
        *,
        kinds: Sequence[str] = ANCESTRY_KINDS,
        min_id: int | None = None,
    ) -> set[int]:
        e, p = queries.EDGES.c, queries.PROGRAMS.c
        start = select(p.id.label("id")).where(p.id == literal(int(program_id), Integer))
        anc = start.cte("ancestry", recursive=True)
        step = select(e.parent_id).join(anc, e.child_id == anc.c.id)
        step = step.where(e.kind.in_(tuple(kinds)))
        with self._session(write=False) as s:
            # The walk stops below min_id only if no edge goes from a newer program to an
            # older one (add_edges could write one): then no path climbs back above it.
            if min_id is not None and not self._backward_edges(s):
                step = step.where(e.parent_id >= int(min_id))
            anc = anc.union(step)  # UNION: each id once, so the walk ends
            ids = set(s.scalars(select(anc.c.id)))
        return ids if min_id is None else {i for i in ids if i >= min_id}

    @outage_safe
    def in_ancestry(
        self, program_id: int, ancestor_id: int, *, kinds: Sequence[str] = ANCESTRY_KINDS
    ) -> bool:
        e = queries.EDGES.c
        with self._session(write=False) as s:
            lower = None if self._backward_edges(s) else int(ancestor_id)
            if s.get_bind().dialect.name == "sqlite":
                # ORDER BY makes the walk's queue a priority queue, lowest id first: it dives
                # toward the ancestor, and stops (LIMIT 1) as soon as it reaches it.
                query = _DIVE.bindparams(
                    start=int(program_id),
                    target=int(ancestor_id),
                    lower=lower,
                    kinds=list(kinds),
                )
                return s.scalar(query) is not None
            # PostgreSQL evaluates a WITH query only as far as the outer query fetches
            p = queries.PROGRAMS.c
            start = select(p.id.label("id")).where(p.id == literal(int(program_id), Integer))
            anc = start.cte("ancestry", recursive=True)
            step = select(e.parent_id).join(anc, e.child_id == anc.c.id)
            step = step.where(e.kind.in_(tuple(kinds)))
            if lower is not None:
                step = step.where(e.parent_id >= lower)
            anc = anc.union(step)
            found = select(anc.c.id).where(anc.c.id == int(ancestor_id)).limit(1)
            return s.scalar(found) is not None
