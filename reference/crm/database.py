"""The CRM's PostgreSQL: connections in the app's schema, applying schema.sql, and its error translation."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import dict_row

from reference.common.config import DatabaseConfig
from reference.common.errors import ApiError, statement_refused
from reference.common.exceptions import DatabaseUnreachable, SchemaError
from reference.common.idempotency import PostgresKeys
from reference.common.pool import ConnectionPool

SCHEMA_FILE = Path(__file__).with_name("schema.sql")
_SCHEMA_LINES = re.compile(r"^(CREATE SCHEMA IF NOT EXISTS|SET search_path TO) crm;$", re.MULTILINE)
_SCHEMA_LOCK = 0x15_7C_C0DE  # pg_advisory_lock id: two apps starting together apply the schema one at a time

Connection = psycopg.Connection[dict[str, Any]]


def schema_sql(schema: str) -> str:
    """schema.sql for ``schema``: the file names its schema in exactly two statements, which are rewritten."""
    try:
        text = SCHEMA_FILE.read_text(encoding="utf-8")
    except OSError as exc:
        raise SchemaError(f"cannot read {SCHEMA_FILE}: {exc}") from exc
    rewritten, count = _SCHEMA_LINES.subn(lambda m: f"{m.group(1)} {schema};", text)
    if count != 2:
        raise SchemaError(f"{SCHEMA_FILE} must contain `CREATE SCHEMA IF NOT EXISTS crm;` and "
                          "`SET search_path TO crm;` on lines of their own; restore them")
    return rewritten


def connect(db: DatabaseConfig, schema: str) -> Connection:
    try:
        return psycopg.connect(
            host=db.host, port=db.port, user=db.user, password=db.password.reveal(), dbname=db.name,
            connect_timeout=5, options=f"-c search_path={schema} -c TimeZone=UTC", row_factory=dict_row,
        )
    except psycopg.OperationalError as exc:
        raise DatabaseUnreachable(
            f"cannot connect to the CRM database {db.name!r} at {db.host}:{db.port} as {db.user!r}: "
            f"{str(exc).strip()}; check REFERENCE_DB_HOST, REFERENCE_DB_PORT, REFERENCE_DB_USER, "
            "REFERENCE_DB_PASSWORD and REFERENCE_DB_NAME") from exc


def apply_schema(db: DatabaseConfig, schema: str) -> None:
    """Create whatever of schema.sql is missing; every statement in it is idempotent."""
    with connect(db, schema) as conn:
        apply_schema_on(conn, schema)


def apply_schema_on(conn: psycopg.Connection[Any], schema: str) -> None:
    """schema.sql for ``schema`` on an open connection, committed; it leaves search_path at ``schema``."""
    sql = schema_sql(schema)
    try:
        conn.execute("SELECT pg_advisory_lock(%s)", (_SCHEMA_LOCK,))
        try:
            conn.execute(sql.encode())
            conn.commit()
        finally:
            conn.rollback()
            conn.execute("SELECT pg_advisory_unlock(%s)", (_SCHEMA_LOCK,))
            conn.commit()
    except psycopg.Error as exc:
        raise SchemaError(f"applying {SCHEMA_FILE} to schema {schema!r} failed: "
                          f"{str(exc).strip()}") from exc


def new_pool(db: DatabaseConfig, schema: str, size: int = 16) -> ConnectionPool[Connection]:
    def connect_or_503() -> Connection:
        try:
            return connect(db, schema)
        except DatabaseUnreachable as exc:
            raise ApiError(503, "the CRM database is unavailable", field="database", fix="retry shortly",
                           headers={"Retry-After": "1"}) from exc

    def reusable(conn: Connection) -> bool:
        return not conn.closed and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE

    return ConnectionPool(connect=connect_or_503, reusable=reusable, close=lambda c: c.close(), size=size)


def _column_of(diag: Any, table_hint: str | None = None) -> str | None:
    """The column a constraint is about: ``customers_customer_number_key`` -> ``customer_number``."""
    if diag.column_name:
        return str(diag.column_name)
    name = diag.constraint_name or ""
    table = diag.table_name or table_hint or ""
    name = re.sub(r"_(key|fkey|check|pkey)$", "", name)
    if table and name.startswith(table + "_"):
        name = name[len(table) + 1:]
    return name or None


def _refused_value(exc: psycopg.Error) -> ApiError:
    """A value PostgreSQL (or psycopg, before sending it) refuses: its message and column when the server gave
    them; a refusal psycopg makes itself (a NUL in text) has no details, only its own message."""
    field = _column_of(exc.diag)
    error = exc.diag.message_primary or str(exc).strip() or type(exc).__name__
    if field:
        return ApiError(422, error, field=field, fix=f"correct {field}")
    if "NUL" in error:
        return ApiError(422, f"{error}: a text value of the request contains a NUL character (\\u0000)",
                        fix="remove the NUL character from the request's text values")
    return ApiError(422, f"{error} (the database did not say which field)",
                    fix="correct the value the message names (see /openapi.json for each field's form)")


class PostgresDialect:
    keys = PostgresKeys()

    def commit(self, conn: Connection) -> None:
        conn.commit()

    def rollback(self, conn: Connection) -> None:
        if not conn.closed:
            conn.rollback()

    def translate(self, exc: Exception) -> ApiError | None:
        if isinstance(exc, pg_errors.UniqueViolation):
            field = _column_of(exc.diag)
            detail = exc.diag.message_detail or str(exc)
            return ApiError(409, f"{field or 'a unique field'} is already taken: {detail}", field=field,
                            fix=f"use another {field}, or update the existing record")
        if isinstance(exc, pg_errors.ForeignKeyViolation):
            field = _column_of(exc.diag)
            return ApiError(409, f"{exc.diag.message_primary}: {exc.diag.message_detail or ''}".strip(": "),
                            field=field, fix="refer to records that exist, or remove those that refer to it")
        if isinstance(exc, pg_errors.CheckViolation | pg_errors.NotNullViolation | pg_errors.DataError):
            return _refused_value(exc)
        if isinstance(exc, pg_errors.SerializationFailure | pg_errors.DeadlockDetected
                      | pg_errors.LockNotAvailable):
            return ApiError(503, "the write collided with a concurrent one", fix="retry it with the same key",
                            headers={"Retry-After": "1"})
        if isinstance(exc, psycopg.OperationalError):
            return ApiError(503, "the CRM database is unavailable", field="database", fix="retry shortly",
                            headers={"Retry-After": "1"})
        if isinstance(exc, psycopg.ProgrammingError):  # an undefined column or table: the schema changed
            return statement_refused("CRM", exc.diag.message_primary or str(exc))
        return None
