"""A PostgreSQL schema's tables from ``information_schema``, with ``pg_catalog`` for what it leaves out: the
labels of enum types, the values of ``CHECK (col IN (...))`` constraints, and primary keys.

Primary keys come from ``pg_constraint``, which every user may read: ``information_schema.table_constraints``
shows only tables the user owns or holds a privilege other than SELECT on, so a read-only capture user would
see none there."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import psycopg

from streams.catalog.checks import postgres_in_list
from streams.catalog.exceptions import CatalogError
from streams.catalog.model import Column, Table

_COLUMNS = """
SELECT c.table_name, c.column_name, c.data_type, c.udt_schema, c.udt_name, c.is_nullable,
       c.character_maximum_length, c.numeric_precision, c.numeric_scale
FROM information_schema.columns c
JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
WHERE c.table_schema = %s AND t.table_type = 'BASE TABLE'
ORDER BY c.table_name, c.ordinal_position
"""

# Each table's primary key columns in key order (conkey's), which may differ from the columns' order.
_PRIMARY_KEYS = """
SELECT cl.relname, a.attname
FROM pg_constraint co JOIN pg_class cl ON cl.oid = co.conrelid JOIN pg_namespace n ON n.oid = cl.relnamespace
CROSS JOIN LATERAL unnest(co.conkey) WITH ORDINALITY AS k(attnum, position)
JOIN pg_attribute a ON a.attrelid = co.conrelid AND a.attnum = k.attnum
WHERE co.contype = 'p' AND n.nspname = %s
ORDER BY cl.relname, k.position
"""

# What each table's updates and deletes carry of the old row (Debezium's before-image): pg_class.relreplident,
# readable by every user like pg_constraint.
_REPLICA_IDENTITIES = """
SELECT cl.relname, cl.relreplident
FROM pg_class cl JOIN pg_namespace n ON n.oid = cl.relnamespace
WHERE n.nspname = %s AND cl.relkind IN ('r', 'p')
"""
_IDENTITY_NAMES = {"d": "default", "f": "full", "i": "index", "n": "nothing"}

_ENUMS = """
SELECT n.nspname, t.typname, e.enumlabel
FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid JOIN pg_namespace n ON n.oid = t.typnamespace
ORDER BY n.nspname, t.typname, e.enumsortorder
"""

# Checks on one column; information_schema.check_constraints does not say which column a check is on.
_CHECKS = """
SELECT cl.relname, pg_get_constraintdef(co.oid)
FROM pg_constraint co JOIN pg_class cl ON cl.oid = co.conrelid JOIN pg_namespace n ON n.oid = cl.relnamespace
WHERE co.contype = 'c' AND n.nspname = %s AND cardinality(co.conkey) = 1
ORDER BY cl.relname, co.conname
"""

_WITH_LENGTH = {"CHARACTER VARYING", "CHARACTER", "BIT", "BIT VARYING"}


def discover(connection: psycopg.Connection[Any], schema: str) -> dict[str, Table]:
    """Every base table of ``schema``, by name; raises :class:`CatalogError` when the schema does not exist."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,))
        if cursor.fetchone() is None:
            raise CatalogError(f"database {connection.info.dbname!r} has no schema {schema!r}; fix: set "
                               "topics.namespace in the system file to the schema its tables live in")
        cursor.execute(_ENUMS)
        enums: dict[tuple[str, str], list[str]] = {}
        for namespace, name, label in cursor.fetchall():
            enums.setdefault((namespace, name), []).append(label)
        cursor.execute(_CHECKS, (schema,))
        checked: dict[tuple[str, str], tuple[str, ...]] = {}
        for table, definition in cursor.fetchall():
            found = postgres_in_list(definition)
            if found is not None:
                checked[(table, found[0])] = found[1]
        cursor.execute(_PRIMARY_KEYS, (schema,))
        keys: dict[str, list[str]] = {}
        for table, column in cursor.fetchall():
            keys.setdefault(table, []).append(column)
        cursor.execute(_REPLICA_IDENTITIES, (schema,))
        identities = {table: _IDENTITY_NAMES.get(str(code)) for table, code in cursor.fetchall()}
        cursor.execute(_COLUMNS, (schema,))
        columns: dict[str, dict[str, Column]] = {}
        for row in cursor.fetchall():
            column = _column(row, enums, checked)
            columns.setdefault(row[0], {})[column.name] = column
    return {name: Table(name=name, columns=MappingProxyType(found), primary_key=tuple(keys.get(name, ())),
                        replica_identity=identities.get(name)) for name, found in columns.items()}


def _column(row: tuple[Any, ...], enums: dict[tuple[str, str], list[str]],
            checked: dict[tuple[str, str], tuple[str, ...]]) -> Column:
    table, name, data_type, udt_schema, udt_name, is_nullable, length, precision, scale = row
    sql_type, allowed = str(data_type).upper(), checked.get((table, name))
    args: tuple[str, ...] = ()
    if sql_type == "USER-DEFINED" and (udt_schema, udt_name) in enums:
        sql_type, allowed = "ENUM", tuple(enums[(udt_schema, udt_name)])
    elif sql_type == "USER-DEFINED":
        sql_type = str(udt_name).upper()
    elif sql_type in _WITH_LENGTH and length is not None:
        args = (str(length),)
    elif sql_type == "NUMERIC" and precision is not None:
        args = (str(precision), str(scale or 0))
    return Column(name=name, sql_type=sql_type, args=args, nullable=is_nullable == "YES", allowed=allowed)
