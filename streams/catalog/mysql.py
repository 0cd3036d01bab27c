"""A MariaDB or MySQL database's tables from ``information_schema``: ``column_type`` keeps what ``data_type``
drops (an ENUM's values, ``tinyint(1)`` for a BOOLEAN, a DECIMAL's precision and scale, a DATETIME's
fractional digits), ``check_constraints`` gives ``CHECK (col IN (...))`` lists, and ``statistics`` the primary
keys: MariaDB's ``table_constraints`` shows nothing to a user with only the connector's global SELECT and
replication grants, and ``columns.column_key`` is not in key order (and says ``PRI`` of a unique NOT NULL
index when a table has no primary key)."""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Any

import pymysql

from streams.catalog.checks import enum_values, mysql_in_list
from streams.catalog.exceptions import CatalogError
from streams.catalog.model import Column, Table

_COLUMNS = """
SELECT c.table_name, c.column_name, c.data_type, c.column_type, c.is_nullable
FROM information_schema.columns c
JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
WHERE c.table_schema = %s AND t.table_type = 'BASE TABLE'
ORDER BY c.table_name, c.ordinal_position
"""

_PRIMARY_KEYS = """
SELECT table_name, column_name
FROM information_schema.statistics
WHERE table_schema = %s AND index_name = 'PRIMARY'
ORDER BY table_name, seq_in_index
"""

# MariaDB names the table in check_constraints; MySQL only through table_constraints.
_CHECKS = {
    "mariadb": "SELECT table_name, check_clause FROM information_schema.check_constraints "
               "WHERE constraint_schema = %s ORDER BY table_name, constraint_name",
    "mysql": "SELECT tc.table_name, cc.check_clause FROM information_schema.check_constraints cc "
             "JOIN information_schema.table_constraints tc ON tc.constraint_schema = cc.constraint_schema "
             "AND tc.constraint_name = cc.constraint_name AND tc.constraint_type = 'CHECK' "
             "WHERE cc.constraint_schema = %s ORDER BY tc.table_name, cc.constraint_name",
}

#: Integer display widths (``int(11)``) are noise, except ``tinyint(1)``: the engine's BOOLEAN.
_KEEP_ARGS = {"TINYINT", "DECIMAL", "NUMERIC", "CHAR", "VARCHAR", "BINARY", "VARBINARY", "BIT", "DATETIME",
              "TIMESTAMP", "TIME", "FLOAT", "DOUBLE"}
_ARGS = re.compile(r"^\w+\((?P<args>[^)]*)\)")


def discover(connection: pymysql.connections.Connection[Any], database: str, engine: str) -> dict[str, Table]:
    """Every base table of ``database``, by name; raises :class:`CatalogError` when it does not exist."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", (database,))
        if cursor.fetchone() is None:
            raise CatalogError(f"the server has no database {database!r} (or the user may not see it); fix: set "
                               "topics.namespace in the system file to the database its tables live in")
        cursor.execute(_CHECKS["mysql" if engine == "mysql" else "mariadb"], (database,))
        checked: dict[tuple[str, str], tuple[str, ...]] = {}
        for table, clause in cursor.fetchall():
            found = mysql_in_list(str(clause))
            if found is not None:
                checked[(table, found[0])] = found[1]
        cursor.execute(_PRIMARY_KEYS, (database,))
        keys: dict[str, list[str]] = {}
        for table, column in cursor.fetchall():
            keys.setdefault(table, []).append(column)
        cursor.execute(_COLUMNS, (database,))
        columns: dict[str, dict[str, Column]] = {}
        for table, name, data_type, column_type, is_nullable in cursor.fetchall():
            columns.setdefault(table, {})[name] = _column(name, str(data_type), str(column_type),
                                                          is_nullable == "YES", checked.get((table, name)))
    return {name: Table(name=name, columns=MappingProxyType(found), primary_key=tuple(keys.get(name, ())))
            for name, found in columns.items()}


def _column(name: str, data_type: str, column_type: str, nullable: bool, allowed: tuple[str, ...] | None) -> Column:
    sql_type = data_type.upper()
    args: tuple[str, ...] = ()
    if sql_type == "ENUM":  # a SET holds combinations of its values, so it allows no fixed list
        allowed = enum_values(column_type)
    elif sql_type in _KEEP_ARGS and (match := _ARGS.match(column_type)):
        args = tuple(a.strip() for a in match["args"].split(","))
    return Column(name=name, sql_type=sql_type, args=args, nullable=nullable, allowed=allowed)
