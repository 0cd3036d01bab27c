"""A MariaDB or MySQL database's tables from ``information_schema``: ``column_type`` keeps what ``data_type``
drops (an ENUM's values, a SET's members, ``tinyint(1)`` for a BOOLEAN, a DECIMAL's precision and scale, a
DATETIME's fractional digits, ``unsigned``), ``extra`` says a column is generated (``VIRTUAL GENERATED``, ``STORED
GENERATED``; MariaDB's PERSISTENT is STORED), ``check_constraints`` gives ``CHECK (col IN (...))`` lists, and
``statistics``
the primary keys: MariaDB's ``table_constraints`` shows nothing to a user with only the connector's global SELECT and
replication grants, and ``columns.column_key`` is not in key order (and says ``PRI`` of a unique NOT NULL
index when a table has no primary key).

Foreign keys: ``key_column_usage`` shows their columns to that user, but ``referential_constraints`` (their ON
UPDATE/ON DELETE rules) shows it nothing on MariaDB 10.11, so a rule it does not show is read from the table's
``SHOW CREATE TABLE``, which needs only SELECT."""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Any

import pymysql

from streams.catalog.checks import enum_values, mysql_in_list
from streams.catalog.exceptions import CatalogError
from streams.catalog.model import Column, ForeignKey, Table, TableIdentity, ZeroDateColumn

_COLUMNS = """
SELECT c.table_name, c.column_name, c.data_type, c.column_type, c.is_nullable, c.extra
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

# Each foreign key's columns, in key order, with the columns of the parent they reference.
_FOREIGN_KEY_COLUMNS = """
SELECT table_name, constraint_name, column_name, referenced_table_name, referenced_column_name
FROM information_schema.key_column_usage
WHERE table_schema = %s AND referenced_table_name IS NOT NULL
ORDER BY table_name, constraint_name, ordinal_position
"""

_FOREIGN_KEY_RULES = """
SELECT table_name, constraint_name, update_rule, delete_rule
FROM information_schema.referential_constraints
WHERE constraint_schema = %s
"""

#: A foreign key's clause in ``SHOW CREATE TABLE``: the engine leaves out a rule that is RESTRICT.
_CONSTRAINT = re.compile(
    r"CONSTRAINT\s+`(?P<name>(?:[^`]|``)+)`\s+FOREIGN KEY\s*\([^)]*\)\s*REFERENCES\s+[^(]+\([^)]*\)"
    r"(?P<rules>(?:\s+ON\s+(?:UPDATE|DELETE)\s+(?:CASCADE|SET\s+NULL|SET\s+DEFAULT|RESTRICT|NO\s+ACTION))*)",
    re.IGNORECASE)
_RULE = re.compile(r"ON\s+(?P<event>UPDATE|DELETE)\s+(?P<rule>CASCADE|SET\s+NULL|SET\s+DEFAULT|RESTRICT|NO\s+ACTION)",
                   re.IGNORECASE)

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
        for table, name, data_type, column_type, is_nullable, extra in cursor.fetchall():
            columns.setdefault(table, {})[name] = _column(name, str(data_type), str(column_type),
                                                          is_nullable == "YES", checked.get((table, name)),
                                                          extra=str(extra or ""))
    return {name: Table(name=name, columns=MappingProxyType(found), primary_key=tuple(keys.get(name, ())))
            for name, found in columns.items()}


def _column(name: str, data_type: str, column_type: str, nullable: bool, allowed: tuple[str, ...] | None, *,
            extra: str = "") -> Column:
    sql_type = data_type.upper()
    args: tuple[str, ...] = ()
    if sql_type in ("ENUM", "SET"):  # a SET's value is a comma-joined combination of these (mapping.kinds)
        allowed = enum_values(column_type)
    elif sql_type in _KEEP_ARGS and (match := _ARGS.match(column_type)):
        args = tuple(a.strip() for a in match["args"].split(","))
    # ZEROFILL implies UNSIGNED, and column_type says both ("int(5) unsigned zerofill")
    unsigned = " unsigned" in column_type.lower()
    return Column(name=name, sql_type=sql_type, args=args, nullable=nullable, allowed=allowed, unsigned=unsigned,
                  generated=_generated(extra))


def _generated(extra: str) -> str | None:
    """How ``information_schema.columns.extra`` says a column is generated: ``VIRTUAL GENERATED``, ``STORED
    GENERATED`` (MariaDB's ``PERSISTENT`` too); None for a column that is not."""
    words = extra.upper().split()
    if "GENERATED" not in words:
        return None
    return "virtual" if "VIRTUAL" in words else "stored"


#: The NOT NULL date and time columns of a database, with their defaults as information_schema quotes them.
_NOT_NULL_DATES = ("SELECT table_name, column_name, data_type, column_default FROM information_schema.columns "
                   "WHERE table_schema = %s AND is_nullable = 'NO' AND data_type IN ('date', 'datetime', 'timestamp') "
                   "ORDER BY table_name, ordinal_position")
#: The modes under which an invalid date is refused rather than stored as a zero date.
_STRICT_MODES = frozenset({"STRICT_TRANS_TABLES", "STRICT_ALL_TABLES"})


def zero_date_columns(connection: pymysql.connections.Connection[Any], database: str) -> tuple[ZeroDateColumn, ...]:
    """The NOT NULL date columns of ``database`` that can hold a zero date (:func:`zero_date_column`), under the
    server's global ``sql_mode`` (what the applications' sessions start with)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT @@GLOBAL.sql_mode")
        row = cursor.fetchone()
        sql_mode = str(row[0] if row else "")
        cursor.execute(_NOT_NULL_DATES, (database,))
        columns = cursor.fetchall()
    return tuple(found for table, column, data_type, default in columns
                 if (found := zero_date_column(str(table), str(column), str(data_type),
                                               None if default is None else str(default), sql_mode)) is not None)


def zero_date_column(table: str, column: str, data_type: str, default: str | None,
                     sql_mode: str) -> ZeroDateColumn | None:
    """The NOT NULL date column ``table.column`` as a :class:`ZeroDateColumn` when it can hold a zero date: its
    ``default`` is one (``'0000-00-00'``, ``'0000-00-00 00:00:00'``, quoted or not), or ``sql_mode`` has no strict
    mode; None when neither."""
    zero_default = default is not None and default.strip("'").startswith("0000-00-00")
    lax_mode = not _STRICT_MODES & {mode.strip().upper() for mode in sql_mode.split(",")}
    if not (zero_default or lax_mode):
        return None
    return ZeroDateColumn(table=table, column=column, sql_type=data_type.upper(), zero_default=zero_default,
                          lax_mode=lax_mode)


def foreign_keys(connection: pymysql.connections.Connection[Any], database: str) -> tuple[ForeignKey, ...]:
    """The foreign keys of the tables of ``database``, by table and name."""
    with connection.cursor() as cursor:
        cursor.execute(_FOREIGN_KEY_COLUMNS, (database,))
        parts: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
        for table, name, column, parent, parent_column in cursor.fetchall():
            parts.setdefault((str(table), str(name)), []).append((str(column), str(parent), str(parent_column)))
        if not parts:
            return ()
        cursor.execute(_FOREIGN_KEY_RULES, (database,))
        rules = {(str(table), str(name)): (str(update), str(delete))
                 for table, name, update, delete in cursor.fetchall()}
        for table in sorted({table for table, name in parts if (table, name) not in rules}):
            cursor.execute(f"SHOW CREATE TABLE `{database.replace('`', '``')}`.`{table.replace('`', '``')}`")
            row = cursor.fetchone()
            rules.update({(table, name): found for name, found in create_table_rules(str(row[1])).items()}
                         if row else {})
    return tuple(ForeignKey(name=name, table=table, columns=tuple(c for c, _, _ in found), parent=found[0][1],
                            parent_columns=tuple(p for _, _, p in found),
                            on_update=rules.get((table, name), ("RESTRICT", "RESTRICT"))[0],
                            on_delete=rules.get((table, name), ("RESTRICT", "RESTRICT"))[1])
                 for (table, name), found in sorted(parts.items()))


def create_table_rules(statement: str) -> dict[str, tuple[str, str]]:
    """Each foreign key's (update rule, delete rule) in a ``SHOW CREATE TABLE`` statement, by constraint name."""
    found: dict[str, tuple[str, str]] = {}
    for match in _CONSTRAINT.finditer(statement):
        given = {event.upper(): " ".join(rule.upper().split()) for event, rule in _RULE.findall(match["rules"])}
        found[match["name"].replace("``", "`")] = (given.get("UPDATE", "RESTRICT"), given.get("DELETE", "RESTRICT"))
    return found


# Every base table of the server outside its own databases, and whether it has a primary key.
_KEYED = """
SELECT t.table_schema, t.table_name,
       EXISTS (SELECT 1 FROM information_schema.statistics s WHERE s.table_schema = t.table_schema
               AND s.table_name = t.table_name AND s.index_name = 'PRIMARY')
FROM information_schema.tables t
WHERE t.table_type = 'BASE TABLE' AND t.table_schema NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')
ORDER BY t.table_schema, t.table_name
"""


def table_identities(connection: pymysql.connections.Connection[Any]) -> list[TableIdentity]:
    """Whether each table of the server (outside its own databases) has a primary key."""
    with connection.cursor() as cursor:
        cursor.execute(_KEYED)
        return [TableIdentity(namespace=str(schema), name=str(name), primary_key=bool(keyed))
                for schema, name, keyed in cursor.fetchall()]
