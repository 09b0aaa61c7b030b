"""The loop's hot write statements, compiled once per dialect and run on the DBAPI cursor.

A Core ``Connection.execute`` costs the controller about 80 µs of Python per statement
(execution context, events, result set-up): several times SQLite's own work for the small
inserts and updates of one evaluation (add_program, record_evaluation: 8 statements). A
``Prepared`` statement keeps SQLAlchemy's compiled SQL for the engine's dialect and its
bind processors (JSON, UTC timestamps, booleans: the same conversions Core applies), and
executes it on the transaction's own DBAPI connection, inside the transaction SQLAlchemy
began (SQLite's BEGIN IMMEDIATE, PostgreSQL's row locks: unchanged). DBAPI errors are
wrapped as SQLAlchemy wraps them (IntegrityError, OperationalError, ...), so callers handle
them as before. Not used: SQLAlchemy's statement events and echo (these statements are not
logged by ``echo=True``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Dialect, Table, exc, insert
from sqlalchemy.sql import ClauseElement

_REQUIRED = object()  # a bind with no value of its own: the caller must give it


class Prepared:
    """One statement compiled for ``dialect``; ``keys``: the columns an INSERT sets."""

    def __init__(
        self,
        stmt: ClauseElement,
        dialect: Dialect,
        keys: Sequence[str] | None = None,
        defaults: Mapping[str, Any] | None = None,
    ) -> None:
        """``defaults``: values (or callables making them) of binds a caller may leave
        out; a bind of the statement with a value of its own (a literal) needs none."""
        compiled = stmt.compile(dialect=dialect, column_keys=list(keys) if keys else None)
        self._dialect = dialect
        self.sql = compiled.string
        self.positional = bool(compiled.positional)
        by_name = {name: bind for bind, name in compiled.bind_names.items()}
        names = compiled.positiontup if self.positional else list(by_name)
        defaults = defaults or {}
        # (name, default or _REQUIRED, whether the default is a callable, processor)
        self._binds: list[tuple[str, Any, bool, Callable[[Any], Any] | None]] = []
        for name in names or ():
            bind = by_name[name]
            if name in defaults:
                default = defaults[name]
            else:
                default = _REQUIRED if bind.required else bind.effective_value
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            self._binds.append((name, default, callable(default), processor))

    def params(self, values: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        """The DBAPI parameters for ``values``, converted as Core converts them."""
        out = []
        for name, default, call, processor in self._binds:
            if name in values:
                value = values[name]
            elif default is _REQUIRED:
                raise exc.ArgumentError(f"a value is required for {name!r} in {self.sql!r}")
            else:
                value = default(None) if call else default
            out.append(value if processor is None else processor(value))
        if self.positional:
            return tuple(out)
        return {b[0]: v for b, v in zip(self._binds, out, strict=True)}

    def execute(self, conn: Connection, values: Mapping[str, Any]) -> Any:
        """Execute once; returns the DBAPI cursor (rowcount, fetchall)."""
        params = self.params(values)
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(self.sql, params)
        except self._dialect.loaded_dbapi.Error as error:
            raise self._wrap(error, params) from error
        return cursor

    def executemany(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        params = [self.params(row) for row in rows]
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(self.sql, params)
        except self._dialect.loaded_dbapi.Error as error:
            raise self._wrap(error, params) from error
        finally:
            cursor.close()

    def scalar(self, conn: Connection, values: Mapping[str, Any]) -> Any:
        """The first column of the first row (a RETURNING), None when no row."""
        cursor = self.execute(conn, values)
        try:
            rows = cursor.fetchall()  # all of them: SQLite finishes the statement
        finally:
            cursor.close()
        return rows[0][0] if rows else None

    def _wrap(self, error: Exception, params: Any) -> exc.DBAPIError:
        return exc.DBAPIError.instance(
            self.sql, params, error, self._dialect.loaded_dbapi.Error, dialect=self._dialect
        )


class PreparedInsert(Prepared):
    """An INSERT of every column but the primary key: columns left out of a row get their
    Python-side default (as Core gives them) or NULL. ``returning``: the id."""

    def __init__(self, table: Table, dialect: Dialect, *, returning: bool = False) -> None:
        columns = [c for c in table.c if not c.primary_key]
        defaults: dict[str, Any] = {}
        for column in columns:
            default = column.default
            if default is None:
                defaults[column.key] = None
            elif getattr(default, "is_scalar", False) or getattr(default, "is_callable", False):
                defaults[column.key] = default.arg  # type: ignore[attr-defined]
            else:
                raise ValueError(f"column {column.key}: unsupported default {default!r}")
        self._columns = frozenset(defaults)
        stmt = insert(table)
        if returning:
            stmt = stmt.returning(*(c for c in table.c if c.primary_key))
        super().__init__(stmt, dialect, keys=[c.key for c in columns], defaults=defaults)

    def params(self, values: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        if not self._columns.issuperset(values):
            unknown = sorted(set(values) - self._columns)
            raise exc.ArgumentError(f"unknown columns {unknown} in {self.sql!r}")
        return super().params(values)
