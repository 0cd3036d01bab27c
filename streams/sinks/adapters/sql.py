"""Apply commands to a PostgreSQL table that has no API: ``INSERT ... ON CONFLICT DO UPDATE``, with the
command's idempotency key recorded in the same transaction, so a repeated command is answered from the keys
table and never applied twice (the same contract the reference APIs keep with ``Idempotency-Key``)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.rows import dict_row

from streams.sinks.adapters.mapping import changed_with_lookups, render_fields
from streams.sinks.adapters.sql_access import GRANT, LOGIN, access_refused, not_started
from streams.sinks.adapters.sql_children import (
    POSTGRESQL,
    ChildRows,
    child_problems,
    child_rows,
    child_writes,
    existing_statement,
)
from streams.sinks.adapters.sql_keys import TextColumn, key_held_as_other, lines_held_as_other, text_columns
from streams.sinks.adapters.sql_lookups import (
    POSTGRESQL_INDEXES,
    PendingLookup,
    fill,
    lookup_problems,
    lookup_statement,
    lookup_tables,
    missing_key,
    pending_lookups,
    unindexed,
)
from streams.sinks.adapters.sql_pool import IDLE_CHECK_S, ConnectionPool, Pooled, lost_reason
from streams.sinks.config.model import GONE_OPERATIONS, SqlRoute, TargetConfig
from streams.sinks.exceptions import ConnectionLost, TargetConfigError
from streams.sinks.outcomes import Applied, Attempt, Failed, assigned_ids, no_route
from streams.sinks.records import SinkCommand

#: The keys table when the target file names none.
DEFAULT_KEYS_TABLE = "public.isthmus_sink_keys"

#: ``information_schema.columns.data_type`` of an exact decimal column (PostgreSQL, MariaDB/MySQL).
DECIMAL_TYPES = frozenset({"numeric", "decimal"})
#: ``information_schema.columns.data_type`` of a binary column (PostgreSQL, MariaDB/MySQL): the payload holds
#: its bytes as base64 text (Kafka Connect's JSON form, and the flows'), written back as the bytes they stand for.
BINARY_TYPES = frozenset({"bytea", "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"})

_TRANSIENT = (psycopg.OperationalError, pg_errors.SerializationFailure, pg_errors.DeadlockDetected,
              pg_errors.LockNotAvailable, pg_errors.QueryCanceled)

Connection = psycopg.AsyncConnection[dict[str, Any]]

log = logging.getLogger("isthmus.sink")

#: SQLSTATEs with which the server closes a connection, and what each means for the message. A failure of the
#: connection itself (psycopg's own ``OperationalError`` without a SQLSTATE: the server gone, a network reset, a
#: refused connect) and class 08 (connection exception) are connection-level too; see ``connection_lost``.
CLOSED_BY_SERVER = {
    "57P01": "the connection was closed by the server (PostgreSQL restarted?)",  # also pg_terminate_backend
    "57P02": "the connection was closed by the server (PostgreSQL restarted after a crash?)",
    "57P03": "PostgreSQL is starting up or shutting down",
    "57P04": "the connection was closed by the server (its database was dropped)",
    "57P05": "the connection was closed by the server (idle_session_timeout)",
}

#: A server in recovery (a hot standby) refuses every write with SQLSTATE 25006: not the data's fault, but a replica
#: or a primary demoted in a failover, reached by connections that a new connection may take to the new primary.
READ_ONLY = "PostgreSQL takes no writes (a standby: a replica, or a primary demoted in a failover?)"

#: The server's words (libpq's text of a refused connect) that refuse the login itself.
REFUSED_LOGIN = ("password authentication failed", "no pg_hba.conf entry", "role \"")

#: The columns of one table, as ``start`` reads them for its checks (``%s``: table name, schema or "" for the
#: connection's current one).
COLUMNS_QUERY = ("SELECT column_name AS name, data_type AS type, numeric_scale AS scale, udt_name AS udt, "
                 "collation_name AS collation FROM information_schema.columns WHERE table_name = %s "
                 "AND table_schema = COALESCE(NULLIF(%s, ''), current_schema())")


class Prepared(NamedTuple):
    """A command as its route writes it: the route's row and, per ``children`` entry, the rows of its list; the
    lookups that fill columns of the row, run in the write's transaction."""

    route: SqlRoute
    row: dict[str, Any]
    children: tuple[ChildRows, ...] = ()
    lookups: tuple[PendingLookup, ...] = ()


def _table(name: str) -> sql.Composed:
    return sql.SQL(".").join(sql.Identifier(part) for part in name.split("."))


class SqlAdapter:
    def __init__(self, config: TargetConfig, *, conninfo: str | Callable[[], str], pool_size: int, shown: str,
                 idle_check_s: float = IDLE_CHECK_S) -> None:
        """``conninfo``: the libpq string, or what gives it for each new connection (a password read again from its
        secrets file); ``idle_check_s``: an idle connection unused for longer is checked before use
        (:mod:`.sql_pool`)."""
        if config.sql is None:
            raise TargetConfigError(f"{config.path}: a sql target needs its sql section")
        self.config = config
        self.keys_table = config.sql.keys_table or DEFAULT_KEYS_TABLE
        self._conninfo = conninfo if callable(conninfo) else (lambda: conninfo)
        self._user = psycopg.conninfo.conninfo_to_dict(self._conninfo()).get("user")
        self._shown = shown
        self._pool: ConnectionPool[Connection] = ConnectionPool(idle_check_s=idle_check_s)
        self._slots = asyncio.Semaphore(pool_size)
        #: Per route table (and child table), its binary columns and its decimal columns' places (found at start).
        self._binary: dict[str, frozenset[str]] = {}
        self._scales: dict[str, dict[str, int]] = {}
        #: Per route table (and child table), its text columns: a key's text is compared as the row holds it.
        self._texts: dict[str, dict[str, TextColumn]] = {}

    def describe(self) -> str:
        return f"PostgreSQL {self._shown} (keys in {self.keys_table}, {len(self.config.routes)} routes from " \
               f"{self.config.path.name})"

    async def _connect(self) -> Connection:
        return await psycopg.AsyncConnection.connect(self._conninfo(), row_factory=dict_row, connect_timeout=5)

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Connection]:
        """A pooled connection: one that failed is closed rather than reused, and a connection-level failure drops
        them all and raises ``ConnectionLost`` saying what happened (:mod:`streams.sinks.adapters.sql_pool`)."""
        async with self._slots:
            pooled: Pooled[Connection] | None = None
            kept = False
            try:
                pooled = await self._checked_out()
                yield pooled.conn
                kept = not pooled.conn.closed and self._pool.give_back(pooled)
            except psycopg.Error as exc:
                what = connection_lost(exc)
                if what is None:
                    raise
                raise ConnectionLost(lost_reason(what, exc, await self._drop_all())) from exc
            finally:
                if pooled is not None and not kept:
                    self._pool.discard(pooled)
                    with suppress(Exception):
                        await pooled.conn.close()

    async def _checked_out(self) -> Pooled[Connection]:
        """The idle connection used last (checked first if it waited long: an empty query outside a transaction, as
        psycopg_pool checks), else a new one."""
        while (taken := self._pool.take()) is not None:
            pooled, check = taken
            if not check:
                return pooled
            try:
                await pooled.conn.set_autocommit(True)
                await pooled.conn.execute("")
                await pooled.conn.set_autocommit(False)
                return pooled
            except psycopg.Error as exc:
                what = connection_lost(exc)
                if what is not None:
                    log.warning("sink %s: PostgreSQL %s: an idle connection's check found %s", self.config.system,
                                self._shown, lost_reason(what, exc, await self._drop_all()))
                self._pool.discard(pooled)
                with suppress(Exception):
                    await pooled.conn.close()
        return self._pool.add(await self._connect())

    async def _drop_all(self) -> int:
        """Close every idle connection (those in use are closed when given back); how many the pool held."""
        idle, held = self._pool.drop_all()
        for conn in idle:
            with suppress(Exception):
                await conn.close()
        return held

    async def start(self) -> None:
        """Create the keys table if needed and check every route's table and columns exist (its child tables' and
        lookups' too), learning their binary, decimal and text columns; warn of a lookup no index serves. A
        refused login or an unreachable server stops the worker here, saying which (:func:`.sql_access.not_started`)."""
        async with self._started() as conn:
            await conn.execute(sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (idem_key TEXT PRIMARY KEY, command_id TEXT NOT NULL, "
                "target_table TEXT NOT NULL, entity_key TEXT NOT NULL, status INTEGER NOT NULL, response JSONB, "
                "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())").format(_table(self.keys_table)))
            await conn.commit()
            tables: dict[str, list[dict[str, Any]]] = {}
            for name in route_tables(self.config):
                schema, _, table = name.rpartition(".")
                tables[name] = await (await conn.execute(COLUMNS_QUERY, (table, schema))).fetchall()
            leading: dict[str, list[str]] = {}
            for name in lookup_tables(self.config):
                schema, _, table = name.rpartition(".")
                leading[name] = [r["name"] for r in await (await conn.execute(POSTGRESQL_INDEXES,
                                                                               (table, schema))).fetchall()]
            await conn.rollback()
        for warning in unindexed(self.config, leading):
            log.warning("sink %s: %s", self.config.system, warning)
        facts = table_facts(self.config, tables)
        self._binary, self._scales, self._texts = facts.binary, facts.scales, facts.texts
        if facts.problems:
            raise TargetConfigError(f"{self.config.path}: the database does not match the routes:\n  "
                                    + "\n  ".join(facts.problems))

    async def log_in(self) -> bool:
        """Connect once (``isthmus sink --check``): a refused login or an unreachable server raises, as at start."""
        async with self._started() as conn:
            await conn.execute("SELECT 1")
            await conn.rollback()
        return True

    @asynccontextmanager
    async def _started(self) -> AsyncIterator[Connection]:
        """A connection for ``start`` or ``log_in``, the failure to get one raised as the worker's to stop on."""
        try:
            async with self._connection() as conn:
                yield conn
        except ConnectionLost as exc:
            raise not_started(self.config.path, exc.__cause__ or exc, None, engine="PostgreSQL", shown=self._shown,
                              user=self._user) from exc
        except psycopg.OperationalError as exc:
            if (access := access_status(exc)) is None:
                raise
            raise not_started(self.config.path, exc, access, engine="PostgreSQL", shown=self._shown,
                              user=self._user) from exc

    async def close(self) -> None:
        await self._drop_all()

    async def attempt(self, command: SinkCommand) -> Attempt:
        prepared = prepare(self.config, command, self._binary, self._scales)
        if isinstance(prepared, Failed):
            return prepared
        route = prepared.route
        try:
            async with self._connection() as conn:
                try:
                    return await self._apply(conn, command, prepared)
                except BaseException as exc:
                    with suppress(Exception):
                        await conn.rollback()
                    if stale_plan(exc):  # its prepared statements are stale: the connection is not used again
                        with suppress(Exception):
                            await conn.close()
                    raise
        except ConnectionLost as exc:
            return Failed(kind="transient", error_type=type(exc.__cause__).__name__,
                          reason=f"PostgreSQL {self._shown}: {exc}")
        except psycopg.Error as exc:
            return self._failed(route, exc)

    def _failed(self, route: SqlRoute, exc: psycopg.Error) -> Failed:
        """A failed write: the account refused (:mod:`.sql_access`), a failure worth a retry, or the data's."""
        access = access_status(exc)
        if access is not None:
            return access_refused(access, exc, engine="PostgreSQL", shown=self._shown, user=self._user)
        if isinstance(exc, _TRANSIENT):
            return Failed(kind="transient", error_type=type(exc).__name__,
                          reason=f"PostgreSQL {self._shown}: {str(exc).strip() or type(exc).__name__}")
        if stale_plan(exc):
            return Failed(kind="transient", error_type=type(exc).__name__,
                          reason=f"PostgreSQL {self._shown}: {route.table} changed (an ALTER TABLE) under a "
                                 f"statement a connection had prepared ({str(exc).strip()}); retried on a new "
                                 "connection")
        return Failed(kind="permanent", error_type=type(exc).__name__,
                      reason=f"PostgreSQL refused the write to {route.table}: {str(exc).strip()}; fix the "
                             "data (or the table) and replay")

    async def _apply(self, conn: Connection, command: SinkCommand, prepared: Prepared) -> Attempt:
        route, row = prepared.route, prepared.row
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
        for pending in prepared.lookups:
            rows = await (await conn.execute(lookup_statement(pending.lookup, POSTGRESQL).encode(),
                                             list(pending.values.values()))).fetchall()
            unfilled = fill(row, pending, rows, self._texts.get(pending.lookup.table, {}), self.config)
            if unfilled is not None:
                await conn.rollback()  # nothing written, and the key not kept: the retry looks again
                return unfilled
        if route.action == "upsert":
            status, body = await self._upsert(conn, route, row)
        elif route.action == "update":
            status, body = await self._update(conn, route, row)
        else:
            status, body = await self._delete(conn, route, row)
        if status == 404 or (status == 204 and route.operation in GONE_OPERATIONS):
            await conn.rollback()  # nothing written, and the key not kept: a replay looks again
            return no_row(route, row)
        if body is None and route.action == "upsert":  # key columns only, the row there: DO NOTHING returns none
            found = await (await conn.execute(sql.SQL("SELECT * FROM {} WHERE {}").format(
                _table(route.table), sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(k))
                                                           for k in route.key)),
                [row[k] for k in route.key])).fetchone()
            body = jsonable(found) if found else None
        other = key_held_as_other(self.config.system, route, row, body, self._texts.get(route.table, {}))
        if other is not None:
            await conn.rollback()
            return other
        if prepared.children:
            failed = await self._children(conn, prepared.children, body)
            if failed is not None:
                await conn.rollback()
                return failed
        await conn.execute(sql.SQL("UPDATE {} SET status = %s, response = %s::jsonb WHERE idem_key = %s")
                           .format(keys), (status, json.dumps(body, default=str), command.idempotency_key))
        await conn.commit()
        return Applied(status=status, body=body, ids=assigned_ids(body, route.ids))

    async def _children(self, conn: Connection, children: Iterable[ChildRows], parent: Any) -> Failed | None:
        """Make the parent's child rows its lists (:mod:`streams.sinks.adapters.sql_children`)."""
        for child in children:
            values = child.parent_values(parent)
            if isinstance(values, Failed):
                return values
            existing = await (await conn.execute(existing_statement(child.spec, POSTGRESQL),
                                                 list(values.values()))).fetchall()
            for statement, params in child_writes(child, values, existing, POSTGRESQL,
                                                  self.config.limits.lines_per_call):
                await conn.execute(statement.encode(), params)
            held = await (await conn.execute(existing_statement(child.spec, POSTGRESQL),
                                             list(values.values()))).fetchall()
            other = lines_held_as_other(self.config.system, child.spec, child.under(values), held,
                                        self._texts.get(child.spec.table, {}))
            if other is not None:
                return other
        return None

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
        updates = [c for c in row if c not in route.key]
        # key columns only: a no-op (setting the key to the command's text would rename a row held as another)
        sets = [sql.SQL("{} = %s").format(sql.Identifier(c)) for c in updates] or [
            sql.SQL("{} = {}").format(sql.Identifier(route.key[0]), sql.Identifier(route.key[0]))]
        query = sql.SQL("UPDATE {} SET {} WHERE {} RETURNING *").format(
            _table(route.table), sql.SQL(", ").join(sets),
            sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in route.key))
        found = await (await conn.execute(query, [row[c] for c in updates] + [row[k] for k in route.key])).fetchone()
        return (200, jsonable(found)) if found else (404, None)

    async def _delete(self, conn: Connection, route: SqlRoute, row: Mapping[str, Any]) -> tuple[int, Any]:
        where = sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in route.key)
        query = sql.SQL("DELETE FROM {} WHERE {} RETURNING *").format(_table(route.table), where)
        found = await (await conn.execute(query, [row[k] for k in route.key])).fetchone()
        return (200, jsonable(found)) if found else (204, None)


def route_tables(config: TargetConfig) -> tuple[str, ...]:
    """Every table the routes write, their child tables too, and the tables their lookups read, each once."""
    return tuple(dict.fromkeys((*(t for r in config.sql_routes() for t in (r.table, *(c.table for c in r.children))),
                                *lookup_tables(config))))


class TableFacts(NamedTuple):
    """What ``start`` learnt of the tables: per table its binary columns, its decimal columns' places and its text
    columns, and what does not match the routes."""

    binary: dict[str, frozenset[str]]
    scales: dict[str, dict[str, int]]
    problems: list[str]
    texts: dict[str, dict[str, TextColumn]]


def table_facts(config: TargetConfig, tables: Mapping[str, Sequence[Mapping[str, Any]]]) -> TableFacts:
    """The facts of the tables from their ``information_schema.columns`` rows (``name``, ``type``, ``scale``,
    ``udt`` and ``collation`` where read)."""
    columns = {table: {row["name"] for row in rows} for table, rows in tables.items()}
    problems: list[str] = []
    for route in config.sql_routes():
        problems += column_problems(route, columns.get(route.table, set()))
        for child in route.children:
            problems += child_problems(child, columns.get(child.table, set()), columns.get(route.table, set()))
    problems += lookup_problems(config, columns)
    return TableFacts(binary={t: binary_columns({r["name"]: r["type"] for r in rows}) for t, rows in tables.items()},
                      scales={t: decimal_scales(rows) for t, rows in tables.items()}, problems=problems,
                      texts={t: text_columns(rows) for t, rows in tables.items()})


def column_problems(route: SqlRoute, columns: set[str]) -> list[str]:
    """What is wrong with a route's table, given the columns the database says it has (none: no such table)."""
    if not columns:
        return [f"line {route.line}: table {route.table} does not exist; create it first"]
    unknown = sorted(set(route.columns) - columns)
    if unknown:
        return [f"line {route.line}: {route.table} has no column {', '.join(unknown)}; "
                f"its columns: {', '.join(sorted(columns))}"]
    return []


def connection_lost(exc: BaseException) -> str | None:
    """What happened, when ``exc`` is a failure of the connection itself, after which every connection to the
    server is suspect: the server closed it (``CLOSED_BY_SERVER``), a connection exception (SQLSTATE class 08), or
    psycopg's own ``OperationalError`` without a SQLSTATE (the server gone, a network reset, a refused connect), or
    a server in recovery refusing writes (``READ_ONLY``). None for a failure of the statement (a lock, a
    constraint, a cancelled query, too many connections, a refused password), after which the other connections
    are as good as before."""
    if isinstance(exc, pg_errors.ReadOnlySqlTransaction):
        return READ_ONLY
    if (not isinstance(exc, psycopg.OperationalError) or isinstance(exc, pg_errors.PipelineAborted)
            or access_status(exc) is not None):
        return None
    state = exc.sqlstate
    if state in CLOSED_BY_SERVER:
        return CLOSED_BY_SERVER[state]
    if state is None or state.startswith("08"):
        return "the connection to the server failed or was lost (PostgreSQL down or restarting, or a network reset?)"
    return None


def access_status(exc: BaseException) -> int | None:
    """``LOGIN`` when the server refused the account's login, ``GRANT`` a privilege (SQLSTATE 42501), else None
    (:mod:`.sql_access`). A refused login at connect has no SQLSTATE (libpq reports the server's FATAL as text), so
    it is told by the server's words: a failed password check, or no pg_hba.conf entry for this host and user;
    class 28 where a SQLSTATE is given."""
    if isinstance(exc, pg_errors.InsufficientPrivilege):
        return GRANT
    if not isinstance(exc, psycopg.OperationalError):
        return None
    if (exc.sqlstate or "").startswith("28") or any(words in str(exc) for words in REFUSED_LOGIN):
        return LOGIN
    return None


def stale_plan(exc: BaseException) -> bool:
    """PostgreSQL refused a statement a connection had prepared because its table changed since (SQLSTATE 0A000,
    "cached plan must not change result type", after an ALTER TABLE of the target's table): not the data's fault;
    the same write on a new connection goes through."""
    return isinstance(exc, pg_errors.FeatureNotSupported) and "cached plan" in str(exc)


def binary_columns(types: Mapping[str, str]) -> frozenset[str]:
    """A table's binary columns, given each column's ``information_schema`` data type."""
    return frozenset(column for column, kind in types.items() if str(kind).lower() in BINARY_TYPES)


def decimal_scales(rows: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """A table's exact decimal columns (``NUMERIC(p,s)``, ``DECIMAL(p,s)``) and the places each holds, from its
    ``information_schema.columns`` rows (``name``, ``type``, ``scale``); an unconstrained ``NUMERIC`` holds any."""
    return {row["name"]: int(row["scale"]) for row in rows
            if str(row["type"]).lower() in DECIMAL_TYPES and row["scale"] is not None}


def places(value: Any) -> int:
    """The decimal places a payload's number or numeric text carries, trailing zeros not counted (0 for what is
    not a number: the database judges it)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        return 0
    try:
        exponent = Decimal(str(value)).normalize().as_tuple().exponent
    except InvalidOperation:
        return 0
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def column_values(table: str, row: dict[str, Any], binary: Iterable[str], scales: Mapping[str, int],
                  where: str = "") -> dict[str, Any] | Failed:
    """``row`` as the table takes it: a binary column's base64 text as bytes (text sent as it is would be stored
    as the bytes of the text), or why not; a decimal with more places than its column holds is refused, since
    MariaDB would round it with only a Note (PostgreSQL rounds it silently). ``where``: the line, for reasons."""
    for column in binary:
        value = row.get(column)
        if not isinstance(value, str):
            continue
        try:
            row[column] = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return Failed(kind="permanent", error_type="NotBase64",
                          reason=f"{table}.{column} is a binary column and the payload's value for it{where} "
                                 f"({value[:40]!r}) is not base64 text, the form bytes take in a payload; map a "
                                 "bytes field to it, or give the column a text type")
    for column, scale in scales.items():
        value = row.get(column)
        if column in row and places(value) > scale:
            return Failed(kind="permanent", error_type="DecimalTooWide",
                          reason=f"{table}.{column} holds {scale} decimal place{'s' if scale != 1 else ''} and the "
                                 f"payload's value for it{where} is {value}, which it would round: nothing was "
                                 f"written; widen the column (a scale of {places(value)}) or round the value in its "
                                 "source or mapping, then replay the dead letter")
    return row


def prepare(config: TargetConfig, command: SinkCommand, binary: Mapping[str, frozenset[str]] | None = None,
            scales: Mapping[str, Mapping[str, int]] | None = None) -> Prepared | Failed:
    """The command's route, row, child rows and lookups, or why it cannot be applied (no route, a key column without a
    value nor a lookup to fill it, a binary column's value that is not base64 text, a decimal wider than its
    column): the same for every SQL dialect. ``binary``: per table, its binary columns; ``scales``: per table, its
    decimal columns' places."""
    route = config.route(command.payload_type, command.operation)
    if not isinstance(route, SqlRoute):
        return no_route(config.path.name, command.payload_type, command.operation,
                        "payload_type, operation, table, key, columns")
    row = render_fields(route.columns, command.payload, {}, keep_nulls=True)
    changed = _only_changed(route, command)
    if changed is not None:  # the columns of the fields the update changed (a lookup's too), and the key
        sent = render_fields(route.columns, command.payload, {}, keep_nulls=True,
                             include=changed_with_lookups(route.lookups, changed))
        row = {column: value for column, value in row.items() if column in sent or column in route.key}
    lookups = pending_lookups(route, command.payload, row)  # a key column's too: the row found by its business key
    missing = missing_key(config, route, row, lookups)
    if missing is not None:
        return missing
    binary, scales = binary or {}, scales or {}
    checked = column_values(route.table, row, binary.get(route.table, ()), scales.get(route.table, {}))
    if isinstance(checked, Failed):
        return checked
    lists = route if changed is None else dataclasses.replace(
        route, children=tuple(c for c in route.children if c.source.split(".", 1)[0] in changed))
    children = child_rows(lists, command.payload, lambda table, child, where: column_values(
        table, child, binary.get(table, ()), scales.get(table, {}), where))
    if isinstance(children, Failed):
        return children
    return Prepared(route, checked, children, lookups)


def _only_changed(route: SqlRoute, command: SinkCommand) -> frozenset[str] | None:
    """The payload fields an update of an ``only_changed`` route writes (its ``changed_fields``), or None: every
    column. A create, and an update that names none, write every column: the row has nothing to keep."""
    if not route.only_changed or command.operation != "update" or not command.changed_fields:
        return None
    return frozenset(command.changed_fields)


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
