"""The ERP's MariaDB: connections, applying schema.sql, number allocation and error translation."""

from __future__ import annotations

import re
import weakref
from pathlib import Path
from typing import Any

import pymysql
import pymysql.cursors

from reference.common.config import DatabaseConfig
from reference.common.errors import ApiError, statement_refused
from reference.common.exceptions import DatabaseUnreachable, SchemaError
from reference.common.idempotency import MariaDbKeys
from reference.common.pool import ConnectionPool

SCHEMA_FILE = Path(__file__).with_name("schema.sql")

Connection = Any  # pymysql ships no type information

_DUPLICATE = 1062
_FOREIGN_KEY = (1451, 1452)
_RETRYABLE = (1205, 1213)  # lock wait timeout, deadlock
#: The server cannot take the statement now, whatever it says: too many connections, shutting down, a connection
#: aborted, killed or timed out on the network, a statement timed out or interrupted. Client errors (2000-2999:
#: cannot connect, server gone, connection lost) are all of this kind.
_UNAVAILABLE = (1040, 1053, 1152, 1158, 1159, 1160, 1161, 1317, 1927, 1969, 3024)
_CLIENT = range(2000, 3000)


def statements(text: str) -> list[str]:
    """schema.sql as single statements: comment lines dropped, split at a ``;`` that ends a line."""
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in re.split(r";\s*$", body, flags=re.MULTILINE) if s.strip()]


def connect(db: DatabaseConfig, *, database: bool = True) -> Connection:
    try:
        return pymysql.connect(
            host=db.host, port=db.port, user=db.user, password=db.password.reveal(),
            database=db.name if database else None, connect_timeout=5, autocommit=False, charset="utf8mb4",
            cursorclass=pymysql.cursors.DictCursor,
            init_command="SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
        )
    except pymysql.err.OperationalError as exc:
        raise DatabaseUnreachable(
            f"cannot connect to the ERP database {db.name!r} at {db.host}:{db.port} as {db.user!r}: "
            f"{exc.args}; check REFERENCE_DB_HOST, REFERENCE_DB_PORT, REFERENCE_DB_USER, "
            "REFERENCE_DB_PASSWORD and REFERENCE_DB_NAME") from exc


def apply_schema(db: DatabaseConfig) -> None:
    """Create the database if it is missing, then whatever of schema.sql is missing (it is idempotent)."""
    text = schema_text()
    conn = connect(db, database=False)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS `{db.name}`")
            cur.execute(f"USE `{db.name}`")
        apply_schema_on(conn, text)
    except pymysql.err.MySQLError as exc:
        raise SchemaError(f"creating database {db.name!r} failed: {exc.args}") from exc
    finally:
        conn.close()


def schema_text() -> str:
    try:
        return SCHEMA_FILE.read_text(encoding="utf-8")
    except OSError as exc:
        raise SchemaError(f"cannot read {SCHEMA_FILE}: {exc}") from exc


def apply_schema_on(conn: Connection, text: str | None = None) -> None:
    """schema.sql on an open connection to the ERP database."""
    try:
        with conn.cursor() as cur:
            for statement in statements(schema_text() if text is None else text):
                cur.execute(statement)
        conn.commit()
    except pymysql.err.MySQLError as exc:
        raise SchemaError(f"applying {SCHEMA_FILE} failed: {exc.args}") from exc


def new_pool(db: DatabaseConfig, size: int = 16) -> ConnectionPool[Connection]:
    def connect_or_503() -> Connection:
        try:
            return connect(db)
        except DatabaseUnreachable as exc:
            raise ApiError(503, "the ERP database is unavailable", field="database", fix="retry shortly",
                           headers={"Retry-After": "1"}) from exc

    return ConnectionPool(connect=connect_or_503, reusable=lambda c: bool(c.open), close=lambda c: c.close(),
                          size=size)


_holding_locks: weakref.WeakSet[Any] = weakref.WeakSet()
#: The tables whose numbering lock a connection holds until its transaction ends (a batch numbers many rows).
_locked_tables: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


def allocate_id(conn: Connection, table: str, id_column: str) -> int:
    """The next id of ``table``, reserved until this transaction ends.

    Numbers such as ``ORD00000042`` are made from the id, so the row is inserted once, complete, rather
    than inserted and then renumbered (which CDC would see as two changes). A named lock serialises
    allocation; the dialect releases it when the transaction ends.
    """
    with conn.cursor() as cur:
        if conn not in _holding_locks or table not in _locked_tables.get(conn, ()):
            cur.execute("SELECT GET_LOCK(CONCAT(DATABASE(), '.', %s), 10) AS got", (table,))
            if (cur.fetchone() or {}).get("got") != 1:
                raise ApiError(503, f"timed out waiting to number a new {table} row", fix="retry shortly",
                               headers={"Retry-After": "1"})
            _holding_locks.add(conn)
            _locked_tables.setdefault(conn, set()).add(table)
        cur.execute(f"SELECT COALESCE(MAX(`{id_column}`), 0) + 1 AS next_id FROM `{table}`")
        return int(cur.fetchone()["next_id"])


def _key_field(message: str) -> str | None:
    match = re.search(r"for key '(?:[^.']*\.)?([^']+)'", message)
    return match.group(1) if match else None


class MariaDbDialect:
    keys = MariaDbKeys()

    def commit(self, conn: Connection) -> None:
        conn.commit()
        self._release(conn)

    def rollback(self, conn: Connection) -> None:
        if conn.open:
            conn.rollback()
            self._release(conn)

    def _release(self, conn: Connection) -> None:
        if conn in _holding_locks:
            with conn.cursor() as cur:
                cur.execute("DO RELEASE_ALL_LOCKS()")
            _holding_locks.discard(conn)
            _locked_tables.pop(conn, None)

    def translate(self, exc: Exception) -> ApiError | None:
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        message = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
        if isinstance(exc, pymysql.err.IntegrityError) and code == _DUPLICATE:
            field = _key_field(message)
            return ApiError(409, f"{field or 'a unique field'} is already taken: {message}", field=field,
                            fix=f"use another {field}, or update the existing record")
        if isinstance(exc, pymysql.err.IntegrityError) and code in _FOREIGN_KEY:
            return ApiError(409, message, fix="refer to records that exist, or remove those that refer to it")
        if isinstance(exc, pymysql.err.DataError | pymysql.err.IntegrityError):
            return ApiError(422, message, fix="correct the value (see /openapi.json)")
        if code in _RETRYABLE:
            return ApiError(503, "the write collided with a concurrent one", fix="retry it with the same key",
                            headers={"Retry-After": "1"})
        if (isinstance(exc, pymysql.err.InterfaceError) or code in _UNAVAILABLE or code in _CLIENT
                or (code is None and isinstance(exc, pymysql.err.OperationalError))):
            return ApiError(503, "the ERP database is unavailable", field="database", fix="retry shortly",
                            headers={"Retry-After": "1"})
        if isinstance(exc, pymysql.err.MySQLError):
            # pymysql raises OperationalError for most server errors, an unknown column (1054) too: the database
            # is there and refuses the statement, and saying "unavailable" would have it retried for ever.
            return statement_refused("ERP", message)
        return None
