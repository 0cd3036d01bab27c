"""Apply commands to a PostgreSQL table that has no API: ``INSERT ... ON CONFLICT DO UPDATE``, with the
command's idempotency key recorded in the same transaction, so a repeated command is answered from the keys
table and never applied twice (the same contract the reference APIs keep with ``Idempotency-Key``)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.rows import dict_row

from streams.sinks.adapters.mapping import render_fields
from streams.sinks.config.model import GONE_OPERATIONS, SqlRoute, TargetConfig
from streams.sinks.exceptions import TargetConfigError
from streams.sinks.outcomes import Applied, Attempt, Failed, assigned_ids, no_route
from streams.sinks.records import SinkCommand

#: The keys table when the target file names none.
DEFAULT_KEYS_TABLE = "public.isthmus_sink_keys"

#: ``information_schema.columns.data_type`` of a binary column (PostgreSQL, MariaDB/MySQL): the payload holds
#: its bytes as base64 text (Kafka Connect's JSON form, and the flows'), written back as the bytes they stand for.
BINARY_TYPES = frozenset({"bytea", "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"})

_TRANSIENT = (psycopg.OperationalError, pg_errors.SerializationFailure, pg_errors.DeadlockDetected,
              pg_errors.LockNotAvailable, pg_errors.QueryCanceled)

Connection = psycopg.AsyncConnection[dict[str, Any]]


def _table(name: str) -> sql.Composed:
    return sql.SQL(".").join(sql.Identifier(part) for part in name.split("."))


class SqlAdapter:
    def __init__(self, config: TargetConfig, *, conninfo: str, pool_size: int, shown: str) -> None:
        if config.sql is None:
            raise TargetConfigError(f"{config.path}: a sql target needs its sql section")
        self.config = config
        self.keys_table = config.sql.keys_table or DEFAULT_KEYS_TABLE
        self._conninfo = conninfo
        self._shown = shown
        self._idle: asyncio.Queue[Connection] = asyncio.Queue()
        self._slots = asyncio.Semaphore(pool_size)
        #: Per route table, the binary columns the routes write (found at start).
        self._binary: dict[str, frozenset[str]] = {}

    def describe(self) -> str:
        return f"PostgreSQL {self._shown} (keys in {self.keys_table}, {len(self.config.routes)} routes from " \
               f"{self.config.path.name})"

    async def _connect(self) -> Connection:
        return await psycopg.AsyncConnection.connect(self._conninfo, row_factory=dict_row, connect_timeout=5)

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Connection]:
        async with self._slots:
            conn = self._idle.get_nowait() if not self._idle.empty() else await self._connect()
            healthy = False
            try:
                yield conn
                healthy = not conn.closed
            finally:
                if healthy:
                    self._idle.put_nowait(conn)
                else:
                    with suppress(Exception):
                        await conn.close()

    async def start(self) -> None:
        """Create the keys table if needed and check every route's table and columns exist."""
        async with self._connection() as conn:
            await conn.execute(sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (idem_key TEXT PRIMARY KEY, command_id TEXT NOT NULL, "
                "target_table TEXT NOT NULL, entity_key TEXT NOT NULL, status INTEGER NOT NULL, response JSONB, "
                "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())").format(_table(self.keys_table)))
            await conn.commit()
            problems = []
            for route in self.config.sql_routes():
                schema, _, table = route.table.rpartition(".")
                cur = await conn.execute(
                    "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s "
                    "AND table_schema = COALESCE(NULLIF(%s, ''), current_schema())", (table, schema))
                types = {row["column_name"]: row["data_type"] for row in await cur.fetchall()}
                problems += column_problems(route, set(types))
                self._binary[route.table] = binary_columns(types)
            await conn.rollback()
        if problems:
            raise TargetConfigError(f"{self.config.path}: the database does not match the routes:\n  "
                                    + "\n  ".join(problems))

    async def close(self) -> None:
        while not self._idle.empty():
            with suppress(Exception):
                await self._idle.get_nowait().close()

    async def attempt(self, command: SinkCommand) -> Attempt:
        prepared = prepare(self.config, command, self._binary)
        if isinstance(prepared, Failed):
            return prepared
        route, row = prepared
        try:
            async with self._connection() as conn:
                try:
                    return await self._apply(conn, command, route, row)
                except BaseException as exc:
                    with suppress(Exception):
                        await conn.rollback()
                    if stale_plan(exc):  # its prepared statements are stale: the connection is not used again
                        with suppress(Exception):
                            await conn.close()
                    raise
        except _TRANSIENT as exc:
            return Failed(kind="transient", error_type=type(exc).__name__,
                          reason=f"PostgreSQL {self._shown}: {str(exc).strip() or type(exc).__name__}")
        except psycopg.Error as exc:
            if stale_plan(exc):
                return Failed(kind="transient", error_type=type(exc).__name__,
                              reason=f"PostgreSQL {self._shown}: {route.table} changed (an ALTER TABLE) under a "
                                     f"statement a connection had prepared ({str(exc).strip()}); retried on a new "
                                     "connection")
            return Failed(kind="permanent", error_type=type(exc).__name__,
                          reason=f"PostgreSQL refused the write to {route.table}: {str(exc).strip()}; fix the "
                                 "data (or the table) and replay")

    async def _apply(self, conn: Connection, command: SinkCommand, route: SqlRoute,
                     row: Mapping[str, Any]) -> Attempt:
        keys = _table(self.keys_table)
        cur = await conn.execute(sql.SQL(
            "INSERT INTO {} (idem_key, command_id, target_table, entity_key, status) VALUES (%s, %s, %s, %s, 0) "
            "ON CONFLICT (idem_key) DO NOTHING").format(keys),
            (command.idempotency_key, command.command_id, route.table, command.entity_key))
        if cur.rowcount == 0:
            stored = await (await conn.execute(sql.SQL("SELECT status, response FROM {} WHERE idem_key = %s")
                                               .format(keys), (command.idempotency_key,))).fetchone()
            await conn.rollback()
            body = stored["response"] if stored else None
            return Applied(status=stored["status"] if stored else 200, body=body, replayed=True,
                           ids=assigned_ids(body, route.ids))
        if route.action == "upsert":
            status, body = await self._upsert(conn, route, row)
        elif route.action == "update":
            status, body = await self._update(conn, route, row)
        else:
            status, body = await self._delete(conn, route, row)
        if status == 404 or (status == 204 and route.operation in GONE_OPERATIONS):
            await conn.rollback()  # nothing written, and the key not kept: a replay looks again
            return no_row(route, row)
        await conn.execute(sql.SQL("UPDATE {} SET status = %s, response = %s::jsonb WHERE idem_key = %s")
                           .format(keys), (status, json.dumps(body, default=str), command.idempotency_key))
        await conn.commit()
        return Applied(status=status, body=body, ids=assigned_ids(body, route.ids))

    async def _upsert(self, conn: Connection, route: SqlRoute, row: Mapping[str, Any]) -> tuple[int, Any]:
        columns = list(row)
        updates = [c for c in columns if c not in route.key]
        conflict = (sql.SQL("DO UPDATE SET {}").format(sql.SQL(", ").join(
            sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(c), sql.Identifier(c)) for c in updates))
            if updates else sql.SQL("DO NOTHING"))
        query = sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) {} "
                        "RETURNING *, (xmax = 0) AS isthmus_inserted").format(
            _table(route.table), sql.SQL(", ").join(map(sql.Identifier, columns)),
            sql.SQL(", ").join(sql.Placeholder() * len(columns)),
            sql.SQL(", ").join(map(sql.Identifier, route.key)), conflict)
        found = await (await conn.execute(query, [row[c] for c in columns])).fetchone()
        if found is None:
            return 200, None
        inserted = bool(found.pop("isthmus_inserted"))
        return (201 if inserted else 200), jsonable(found)

    async def _update(self, conn: Connection, route: SqlRoute, row: Mapping[str, Any]) -> tuple[int, Any]:
        updates = [c for c in row if c not in route.key] or [route.key[0]]
        query = sql.SQL("UPDATE {} SET {} WHERE {} RETURNING *").format(
            _table(route.table), sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in updates),
            sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in route.key))
        found = await (await conn.execute(query, [row[c] for c in updates] + [row[k] for k in route.key])).fetchone()
        return (200, jsonable(found)) if found else (404, None)

    async def _delete(self, conn: Connection, route: SqlRoute, row: Mapping[str, Any]) -> tuple[int, Any]:
        where = sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in route.key)
        query = sql.SQL("DELETE FROM {} WHERE {} RETURNING *").format(_table(route.table), where)
        found = await (await conn.execute(query, [row[k] for k in route.key])).fetchone()
        return (200, jsonable(found)) if found else (204, None)


def column_problems(route: SqlRoute, columns: set[str]) -> list[str]:
    """What is wrong with a route's table, given the columns the database says it has (none: no such table)."""
    if not columns:
        return [f"line {route.line}: table {route.table} does not exist; create it first"]
    unknown = sorted(set(route.columns) - columns)
    if unknown:
        return [f"line {route.line}: {route.table} has no column {', '.join(unknown)}; "
                f"its columns: {', '.join(sorted(columns))}"]
    return []


def stale_plan(exc: BaseException) -> bool:
    """PostgreSQL refused a statement a connection had prepared because its table changed since (SQLSTATE 0A000,
    "cached plan must not change result type", after an ALTER TABLE of the target's table): not the data's fault;
    the same write on a new connection goes through."""
    return isinstance(exc, pg_errors.FeatureNotSupported) and "cached plan" in str(exc)


def binary_columns(types: Mapping[str, str]) -> frozenset[str]:
    """A table's binary columns, given each column's ``information_schema`` data type."""
    return frozenset(column for column, kind in types.items() if str(kind).lower() in BINARY_TYPES)


def prepare(config: TargetConfig, command: SinkCommand,
            binary: Mapping[str, frozenset[str]] | None = None) -> tuple[SqlRoute, dict[str, Any]] | Failed:
    """The command's route and row, or why it cannot be applied (no route, a key column without a value, a binary
    column's value that is not base64 text): the same for every SQL dialect. ``binary``: per table, its binary
    columns, whose base64 text becomes bytes (text sent as it is would be stored as the bytes of the text)."""
    route = config.route(command.payload_type, command.operation)
    if not isinstance(route, SqlRoute):
        return no_route(config.path.name, command.payload_type, command.operation,
                        "payload_type, operation, table, key, columns")
    row = render_fields(route.columns, command.payload, {}, keep_nulls=True)
    missing = [k for k in route.key if row.get(k) is None]
    if missing:
        return Failed(kind="permanent", error_type="MissingKey",
                      reason=f"{route.table}: the payload gives no value for key column "
                             f"{', '.join(missing)}; send it in the payload")
    for column in (binary or {}).get(route.table, ()):
        value = row.get(column)
        if not isinstance(value, str):
            continue
        try:
            row[column] = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return Failed(kind="permanent", error_type="NotBase64",
                          reason=f"{route.table}.{column} is a binary column and the payload's value for it "
                                 f"({value[:40]!r}) is not base64 text, the form bytes take in a payload; map a "
                                 "bytes field to it, or give the column a text type")
    return route, row


def no_row(route: SqlRoute, row: Mapping[str, Any]) -> Failed:
    """An ``update`` route's row is missing, or a deactivate's or cancel's ``delete`` found none: nothing was written
    (the key was not kept either). A deactivate or cancel takes it for gone (``streams.sinks.gone``)."""
    key = ", ".join(f"{k}={row[k]!r}" for k in route.key)
    missing = f"{route.table} has no row {key} to {route.action}"
    return Failed(kind="permanent", error_type="NoRow", not_found=missing,
                  reason=f"{missing}; the system creates it: replay the command once it exists"
                         f"{', or route the command with action: upsert' if route.action == 'update' else ''}")


def _answer_default(value: Any) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(value).decode("ascii")  # a binary column, as a payload holds it
    return str(value)


def jsonable(row: Mapping[str, Any]) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(json.dumps(dict(row), default=_answer_default))
    return loaded
