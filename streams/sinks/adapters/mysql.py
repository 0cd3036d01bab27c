"""Apply commands to a MariaDB or MySQL table that has no API: ``INSERT ... ON DUPLICATE KEY UPDATE``, with the
command's idempotency key recorded in the same transaction: the contract of :mod:`streams.sinks.adapters.sql`
(PostgreSQL), a repeated command answered from the keys table and never applied twice.

PyMySQL is blocking, so each command's whole transaction runs in a worker thread on a connection of its own;
at most ``pool_size`` run at once. The statements are built by the pure functions below (unit-tested).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any, TypeAlias

import pymysql
from pymysql.cursors import DictCursor

from streams.sinks.adapters.sql import Prepared, jsonable, no_row, prepare, route_tables, table_facts
from streams.sinks.adapters.sql_access import GRANT, LOGIN, access_refused, not_started
from streams.sinks.adapters.sql_children import MARIADB, ChildRows, child_writes, existing_statement
from streams.sinks.adapters.sql_keys import TextColumn, key_held_as_other, lines_held_as_other
from streams.sinks.adapters.sql_lookups import MARIADB_INDEXES, fill, lookup_statement, lookup_tables, unindexed
from streams.sinks.adapters.sql_pool import IDLE_CHECK_S, ConnectionPool, Pooled, lost_reason
from streams.sinks.config.model import GONE_OPERATIONS, TargetConfig
from streams.sinks.exceptions import ConnectionLost, TargetConfigError
from streams.sinks.outcomes import Applied, Attempt, Failed, assigned_ids
from streams.sinks.records import SinkCommand

#: The keys table when the target file names none: in the connection's database.
DEFAULT_KEYS_TABLE = "isthmus_sink_keys"
#: Server errors worth a retry: lock wait timeout, deadlock, too many connections, server gone or shutting
#: down, connection killed. Any other server error is the data's or the table's (permanent), unless it is one of
#: ``ACCESS_ERRNOS``.
TRANSIENT_ERRNOS = frozenset({1040, 1053, 1205, 1213, 1927, 2002, 2003, 2006, 2013})
#: Server errors that refuse the account, not the data (:mod:`.sql_access`): its login (access denied with the
#: password, or without one; a host not allowed; a password expired or to be changed; an account locked, MySQL's
#: 3118 and MariaDB's 4151), or a privilege its grants lack (on a database, a table, a column, a routine, or one
#: such as SUPER).
ACCESS_ERRNOS = {**dict.fromkeys((1045, 1130, 1698, 1820, 1862, 3118, 4151), LOGIN),
                 **dict.fromkeys((1044, 1142, 1143, 1227, 1370), GRANT)}

#: A server that takes no writes: ``read_only`` (or MySQL's ``super_read_only``) refuses the statement with 1290,
#: InnoDB's read-only mode with 1836. Not the data's fault: a replica, or a primary demoted in a failover.
READ_ONLY = "{engine} takes no writes (read-only: a replica, or a primary demoted in a failover?)"

#: Errors of the connection itself, after which every connection to the server is suspect, and what each means
#: (``{engine}``: MariaDB or MySQL). PyMySQL reports a socket that failed as 2013 (reading) or 2006 (writing). A
#: read-only server is one too: the connections may reach the old primary, and new ones the new one.
CONNECTION_ERRNOS = {
    1290: READ_ONLY,
    1836: READ_ONLY,
    1053: "{engine} is shutting down",
    1927: "the connection was killed on the server ({engine} restarting?)",
    2002: "could not connect ({engine} down or restarting?)",
    2003: "could not connect ({engine} down or restarting?)",
    2006: "the connection was closed by the server ({engine} restarted?)",
    2013: "the connection was lost ({engine} restarted, or a network reset?)",
    2055: "the connection was lost ({engine} restarted, or a network reset?)",
    4031: "the connection was closed by the server (idle longer than its wait_timeout)",
}

#: Run on each connection the adapter opens: its session refuses a value the column cannot hold (too long, out of
#: range, a character the column's charset lacks, text into a number) with an error, which dead-letters the command
#: naming the column. A legacy server often runs with ``sql_mode=''``, under which MariaDB and MySQL store such a
#: value altered (truncated, clipped, ``?`` for the character) and only warn. The server's other modes are kept.
STRICT_SESSION = ("SET SESSION sql_mode = CONCAT_WS(',', NULLIF(@@SESSION.sql_mode, ''), 'STRICT_ALL_TABLES')")

Connection: TypeAlias = "pymysql.connections.Connection[Any]"

log = logging.getLogger("isthmus.sink")


def connection_lost(exc: BaseException, engine: str = "MariaDB") -> str | None:
    """What happened, when ``exc`` is a failure of the connection itself (``CONNECTION_ERRNOS``, from PyMySQL's
    ``OperationalError``), or of the server taking no writes; None for a failure of the statement (a lock wait, a
    deadlock, a constraint, too many connections), after which the other connections are as good as before."""
    if not isinstance(exc, pymysql.err.OperationalError) or not exc.args:
        return None
    what = CONNECTION_ERRNOS.get(exc.args[0])
    return what.format(engine=engine) if what else None


def quote(name: str) -> str:
    """A possibly database-qualified name as backquoted identifiers: ``db.t`` -> ```db`.`t```."""
    return ".".join("`" + part.replace("`", "``") + "`" for part in name.split("."))


def keys_table_ddl(keys_table: str) -> str:
    return (f"CREATE TABLE IF NOT EXISTS {quote(keys_table)} (idem_key VARCHAR(255) NOT NULL PRIMARY KEY, "
            "command_id VARCHAR(255) NOT NULL, target_table VARCHAR(255) NOT NULL, entity_key VARCHAR(512) NOT NULL, "
            "status INT NOT NULL, response LONGTEXT NULL, "
            "applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) CHARACTER SET utf8mb4")


def claim_statement(keys_table: str) -> str:
    """Record the key unless it is there: 1 row affected when claimed, 0 when it was (the no-op update of a
    duplicate changes nothing, and PyMySQL does not ask for found rows)."""
    return (f"INSERT INTO {quote(keys_table)} (idem_key, command_id, target_table, entity_key, status) "
            "VALUES (%s, %s, %s, %s, 0) ON DUPLICATE KEY UPDATE idem_key = idem_key")


def stored_statement(keys_table: str) -> str:
    return f"SELECT status, response FROM {quote(keys_table)} WHERE idem_key = %s"


def answer_statement(keys_table: str) -> str:
    return f"UPDATE {quote(keys_table)} SET status = %s, response = %s WHERE idem_key = %s"


def upsert_statement(table: str, columns: Sequence[str], key: Sequence[str]) -> str:
    """Insert the row, or update its non-key columns when the key exists (affected rows: 1 inserted, 2
    updated, 0 unchanged). A row of key columns only updates nothing: ``k = k`` keeps the statement valid (and
    leaves a row the key's collation takes for the command's under its own text, to be refused)."""
    updates = [f"{quote(c)} = VALUES({quote(c)})" for c in columns if c not in key] or [_unchanged(key)]
    return (f"INSERT INTO {quote(table)} ({', '.join(map(quote, columns))}) "
            f"VALUES ({', '.join(['%s'] * len(columns))}) ON DUPLICATE KEY UPDATE {', '.join(updates)}")


def update_statement(table: str, columns: Sequence[str], key: Sequence[str]) -> str:
    """Set ``columns`` of an existing row (an ``update`` route; none: ``k = k``, a no-op); the caller reads the row
    back to know it exists."""
    sets = [f"{quote(c)} = %s" for c in columns] or [_unchanged(key)]
    return f"UPDATE {quote(table)} SET {', '.join(sets)} WHERE {' AND '.join(f'{quote(k)} = %s' for k in key)}"


def _unchanged(key: Sequence[str]) -> str:
    return f"{quote(key[0])} = {quote(key[0])}"


def select_statement(table: str, key: Sequence[str]) -> str:
    return f"SELECT * FROM {quote(table)} WHERE {' AND '.join(f'{quote(k)} = %s' for k in key)}"


def delete_statement(table: str, key: Sequence[str]) -> str:
    return f"DELETE FROM {quote(table)} WHERE {' AND '.join(f'{quote(k)} = %s' for k in key)}"


#: The column types whose literals MariaDB reads without an offset: an ISO text with one is refused in a strict
#: session (``1292 Incorrect datetime value``) and cut to its wall time in a lenient one.
ZONELESS_TIMES = frozenset({"datetime", "timestamp"})


def time_columns(rows: Iterable[Mapping[str, Any]]) -> frozenset[str]:
    """The columns of a table, from its ``columns_statement`` rows, that take a time as ``YYYY-MM-DD hh:mm:ss``."""
    return frozenset(row["name"] for row in rows if str(row["type"]).lower() in ZONELESS_TIMES)


def wall_time(value: Any) -> Any:
    """A payload's instant (ISO text with an offset, as an Avro timestamp field is sent) as its UTC wall time, the
    form MariaDB takes (targets/README.md: a timestamp goes in as its UTC wall time); any other value as it is (a
    local time, which has no offset; text that is no time, which the server judges)."""
    if not isinstance(value, str) or len(value) < 19 or value[10] not in "T ":
        return value
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    if parsed.tzinfo is None:
        return value
    return parsed.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")


def wall_times(prepared: Prepared, times: Mapping[str, frozenset[str]]) -> Prepared:
    """``prepared`` with the instants bound for each table's :func:`time_columns` as their UTC wall times."""
    def converted(table: str, row: dict[str, Any]) -> dict[str, Any]:
        columns = times.get(table, frozenset()).intersection(row)
        return {**row, **{column: wall_time(row[column]) for column in columns}} if columns else row

    children = tuple(dataclasses.replace(child, rows=tuple(converted(child.spec.table, r) for r in child.rows))
                     for child in prepared.children)
    return prepared._replace(row=converted(prepared.route.table, prepared.row), children=children)


def columns_statement() -> str:
    return ("SELECT column_name AS name, data_type AS type, numeric_scale AS scale, column_type AS udt, "
            "collation_name AS collation FROM information_schema.columns "
            "WHERE table_name = %s AND table_schema = COALESCE(NULLIF(%s, ''), DATABASE())")


class MySqlAdapter:
    def __init__(self, config: TargetConfig, *, connect: Mapping[str, Any] | Callable[[], Mapping[str, Any]],
                 pool_size: int, shown: str, engine: str = "mariadb", idle_check_s: float = IDLE_CHECK_S) -> None:
        """``connect``: PyMySQL's connection arguments (host, port, user, password, database), or what gives them
        for each new connection (a password read again from its secrets file); ``idle_check_s``: an idle connection
        unused for longer is pinged before use (:mod:`.sql_pool`)."""
        if config.sql is None:
            raise TargetConfigError(f"{config.path}: a sql target needs its sql section")
        self.config = config
        self.keys_table = config.sql.keys_table or DEFAULT_KEYS_TABLE
        self._connect_args = connect if callable(connect) else (lambda: connect)
        self._user = self._connect_args().get("user")
        self._shown = shown
        self._engine = "MySQL" if engine == "mysql" else "MariaDB"
        self._pool: ConnectionPool[Connection] = ConnectionPool(idle_check_s=idle_check_s)
        self._slots = asyncio.Semaphore(pool_size)
        #: Per route table (and child table), its binary columns and its decimal columns' places (found at start).
        self._binary: dict[str, frozenset[str]] = {}
        self._scales: dict[str, dict[str, int]] = {}
        #: Per route table (and child table), its text columns: a key's text is compared as the row holds it.
        self._texts: dict[str, dict[str, TextColumn]] = {}
        #: Per route table (and child table), its DATETIME and TIMESTAMP columns: an instant goes in as UTC wall time.
        self._times: dict[str, frozenset[str]] = {}

    def describe(self) -> str:
        return f"{self._engine} {self._shown} (keys in {self.keys_table}, {len(self.config.routes)} routes from " \
               f"{self.config.path.name})"

    def _open(self) -> Connection:
        return pymysql.connect(**self._connect_args(), autocommit=False, cursorclass=DictCursor, connect_timeout=5,
                               init_command=STRICT_SESSION)

    async def log_in(self) -> bool:
        """Connect once (``isthmus sink --check``): a refused login or an unreachable server raises, as at start."""
        def ping() -> None:
            with self._started() as conn:
                conn.ping(reconnect=False)
        await asyncio.to_thread(ping)
        return True

    @contextmanager
    def _started(self) -> Iterator[Connection]:
        """A connection for ``start`` or ``log_in``, the failure to get one raised as the worker's to stop on."""
        try:
            with self._connection() as conn:
                yield conn
        except ConnectionLost as exc:
            raise not_started(self.config.path, exc.__cause__ or exc, None, engine=self._engine, shown=self._shown,
                              user=self._user) from exc
        except pymysql.MySQLError as exc:
            errno = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
            if errno not in ACCESS_ERRNOS:
                raise
            raise not_started(self.config.path, exc, ACCESS_ERRNOS[errno], engine=self._engine, shown=self._shown,
                              user=self._user) from exc

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        """A pooled connection, in a worker thread: one that failed is closed rather than reused, and a
        connection-level failure drops them all and raises ``ConnectionLost`` saying what happened
        (:mod:`streams.sinks.adapters.sql_pool`)."""
        pooled: Pooled[Connection] | None = None
        kept = False
        try:
            pooled = self._checked_out()
            yield pooled.conn
            kept = bool(pooled.conn.open) and self._pool.give_back(pooled)
        except pymysql.MySQLError as exc:
            what = connection_lost(exc, self._engine)
            if what is None:
                raise
            raise ConnectionLost(lost_reason(what, exc, self._drop_all())) from exc
        finally:
            if pooled is not None and not kept:
                self._pool.discard(pooled)
                with suppress(Exception):
                    pooled.conn.close()

    def _checked_out(self) -> Pooled[Connection]:
        """The idle connection used last (pinged first if it waited long: PyMySQL's own check), else a new one."""
        while (taken := self._pool.take()) is not None:
            pooled, check = taken
            if not check:
                return pooled
            try:
                pooled.conn.ping(reconnect=False)
                return pooled
            except pymysql.MySQLError as exc:
                what = connection_lost(exc, self._engine)
                if what is not None:
                    log.warning("sink %s: %s %s: an idle connection's check found %s", self.config.system,
                                self._engine, self._shown, lost_reason(what, exc, self._drop_all()))
                self._pool.discard(pooled)
                with suppress(Exception):
                    pooled.conn.close()
        return self._pool.add(self._open())

    def _drop_all(self) -> int:
        """Close every idle connection (those in use are closed when given back); how many the pool held."""
        idle, held = self._pool.drop_all()
        for conn in idle:
            with suppress(Exception):
                conn.close()
        return held

    async def start(self) -> None:
        """Create the keys table if needed and check every route's table and columns exist (its child tables' and
        lookups' too), learning their binary, decimal and text columns; warn of a lookup no index serves. A
        refused login or an unreachable server stops the worker here, saying which (:func:`.sql_access.not_started`)."""
        tables, leading = await asyncio.to_thread(self._start)
        for warning in unindexed(self.config, leading):
            log.warning("sink %s: %s", self.config.system, warning)
        facts = table_facts(self.config, tables)
        self._binary, self._scales, self._texts = facts.binary, facts.scales, facts.texts
        self._times = {table: time_columns(rows) for table, rows in tables.items()}
        if facts.problems:
            raise TargetConfigError(f"{self.config.path}: the database does not match the routes:\n  "
                                    + "\n  ".join(facts.problems))

    def _start(self) -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[str]]]:
        """Per table its columns' rows; per lookup table the first column of each of its indexes."""
        tables, leading = {}, {}
        with self._started() as conn, conn.cursor() as cursor:
            cursor.execute(keys_table_ddl(self.keys_table))
            for name in route_tables(self.config):
                database, _, table = name.rpartition(".")
                cursor.execute(columns_statement(), (table, database))
                tables[name] = list(cursor.fetchall())
            for name in lookup_tables(self.config):
                database, _, table = name.rpartition(".")
                cursor.execute(MARIADB_INDEXES, (table, database))
                leading[name] = [row["name"] for row in cursor.fetchall()]
            conn.rollback()
        return tables, leading

    async def close(self) -> None:
        await asyncio.to_thread(self._drop_all)

    async def attempt(self, command: SinkCommand) -> Attempt:
        prepared = prepare(self.config, command, self._binary, self._scales)
        if isinstance(prepared, Failed):
            return prepared
        prepared = wall_times(prepared, self._times)
        route = prepared.route
        try:
            async with self._slots:
                return await asyncio.to_thread(self._attempt, command, prepared)
        except ConnectionLost as exc:
            return Failed(kind="transient", error_type=type(exc.__cause__).__name__,
                          reason=f"{self._engine} {self._shown}: {exc}")
        except (pymysql.err.InterfaceError, OSError) as exc:
            return Failed(kind="transient", error_type=type(exc).__name__,
                          reason=f"{self._engine} {self._shown}: {str(exc).strip() or type(exc).__name__}")
        except pymysql.MySQLError as exc:
            errno = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
            if errno in ACCESS_ERRNOS:
                return access_refused(ACCESS_ERRNOS[errno], exc, engine=self._engine, shown=self._shown,
                                      user=self._user)
            if errno in TRANSIENT_ERRNOS:
                return Failed(kind="transient", error_type=type(exc).__name__,
                              reason=f"{self._engine} {self._shown}: {exc}")
            return Failed(kind="permanent", error_type=type(exc).__name__,
                          reason=f"{self._engine} refused the write to {route.table}: {exc}; fix the data (or the "
                                 "table) and replay")

    def _attempt(self, command: SinkCommand, prepared: Prepared) -> Attempt:
        with self._connection() as conn:
            try:
                return self._apply(conn, command, prepared)
            except BaseException:
                with suppress(Exception):
                    conn.rollback()
                raise

    def _apply(self, conn: Connection, command: SinkCommand, prepared: Prepared) -> Attempt:
        route, row = prepared.route, prepared.row
        with conn.cursor() as cursor:
            claimed = cursor.execute(claim_statement(self.keys_table), (
                command.idempotency_key, command.command_id, route.table, command.entity_key))
            if claimed == 0:
                cursor.execute(stored_statement(self.keys_table), (command.idempotency_key,))
                stored = cursor.fetchone()
                conn.rollback()
                body = json.loads(stored["response"]) if stored and stored["response"] else None
                return Applied(status=stored["status"] if stored else 200, body=body, replayed=True,
                               ids=assigned_ids(body, route.ids))
            for pending in prepared.lookups:
                cursor.execute(lookup_statement(pending.lookup, MARIADB), list(pending.values.values()))
                unfilled = fill(row, pending, list(cursor.fetchall()), self._texts.get(pending.lookup.table, {}),
                                self.config)
                if unfilled is not None:
                    conn.rollback()  # nothing written, and the key not kept: the retry looks again
                    return unfilled
            key = [row[k] for k in route.key]
            if route.action == "upsert":
                columns = list(row)
                affected = cursor.execute(upsert_statement(route.table, columns, route.key), [row[c] for c in columns])
                cursor.execute(select_statement(route.table, route.key), key)
                found = cursor.fetchone()
                status, body = (201 if affected == 1 else 200), (jsonable(found) if found else None)
            elif route.action == "update":
                updates = [c for c in row if c not in route.key]
                cursor.execute(update_statement(route.table, updates, route.key), [row[c] for c in updates] + key)
                cursor.execute(select_statement(route.table, route.key), key)
                found = cursor.fetchone()
                if found is None:
                    conn.rollback()
                    return no_row(route, row)
                status, body = 200, jsonable(found)
            else:
                cursor.execute(select_statement(route.table, route.key), key)
                found = cursor.fetchone()
                if found is None and route.operation in GONE_OPERATIONS:
                    conn.rollback()  # nothing to delete, nothing written: the deactivate finds its row gone
                    return no_row(route, row)
                cursor.execute(delete_statement(route.table, route.key), key)
                status, body = (200, jsonable(found)) if found else (204, None)
            failed = (key_held_as_other(self.config.system, route, row, body, self._texts.get(route.table, {}))
                      or self._children(cursor, prepared.children, body))
            if failed is not None:
                conn.rollback()
                return failed
            cursor.execute(answer_statement(self.keys_table),
                           (status, json.dumps(body, default=str), command.idempotency_key))
        conn.commit()
        return Applied(status=status, body=body, ids=assigned_ids(body, route.ids))

    def _children(self, cursor: Any, children: Iterable[ChildRows], parent: Any) -> Failed | None:
        """Make the parent's child rows its lists (:mod:`streams.sinks.adapters.sql_children`)."""
        for child in children:
            values = child.parent_values(parent)
            if isinstance(values, Failed):
                return values
            cursor.execute(existing_statement(child.spec, MARIADB), list(values.values()))
            existing = list(cursor.fetchall())
            for statement, params in child_writes(child, values, existing, MARIADB,
                                                  self.config.limits.lines_per_call):
                cursor.execute(statement, params)
            cursor.execute(existing_statement(child.spec, MARIADB), list(values.values()))
            other = lines_held_as_other(self.config.system, child.spec, child.under(values), list(cursor.fetchall()),
                                        self._texts.get(child.spec.table, {}))
            if other is not None:
                return other
        return None
