"""A PostgreSQL schema's tables from ``information_schema``, with ``pg_catalog`` for what it leaves out: the
labels of enum types, the values of ``CHECK (col IN (...))`` constraints and of a domain's ``CHECK (VALUE IN
(...))``, primary keys, generated columns (``pg_attribute.attgenerated``) and partitions.

Primary keys come from ``pg_constraint``, which every user may read: ``information_schema.table_constraints``
shows only tables the user owns or holds a privilege other than SELECT on, so a read-only capture user would
see none there.

``information_schema.tables`` calls a partitioned table (``pg_class.relkind`` 'p') and each of its partitions
(``relispartition``) a BASE TABLE alike. A partition is left out (its rows are its parent's, and with
``publish.via.partition.root`` so are its changes); its parent lists it (:attr:`Table.partitions`)."""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import psycopg

from streams.catalog.checks import postgres_in_list
from streams.catalog.exceptions import CatalogError
from streams.catalog.model import Column, Table, TableIdentity

# A domain column's data_type and udt_* are its base type's; an ARRAY's element type is in element_types.
_COLUMNS = """
SELECT c.table_name, c.column_name, c.data_type, c.udt_schema, c.udt_name, c.is_nullable,
       c.character_maximum_length, c.numeric_precision, c.numeric_scale, c.datetime_precision,
       c.domain_schema, c.domain_name, a.attgenerated, e.data_type, e.udt_name
FROM information_schema.columns c
JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
JOIN pg_namespace n ON n.nspname = c.table_schema
JOIN pg_class cl ON cl.relnamespace = n.oid AND cl.relname = c.table_name
JOIN pg_attribute a ON a.attrelid = cl.oid AND a.attname = c.column_name
LEFT JOIN information_schema.element_types e
  ON e.object_catalog = c.table_catalog AND e.object_schema = c.table_schema AND e.object_name = c.table_name
 AND e.object_type = 'TABLE' AND e.collection_type_identifier = c.dtd_identifier
WHERE c.table_schema = %s AND t.table_type = 'BASE TABLE' AND NOT cl.relispartition
ORDER BY c.table_name, c.ordinal_position
"""

# Every partition of each partitioned table of the schema, at every level (pg_partition_tree, PostgreSQL 12+),
# with the replica identity the changes of its rows are logged with.
_PARTITIONS = """
SELECT root.relname, pn.nspname, part.relname, part.relkind, part.relreplident
FROM pg_class root JOIN pg_namespace n ON n.oid = root.relnamespace
CROSS JOIN LATERAL pg_partition_tree(root.oid) tree
JOIN pg_class part ON part.oid = tree.relid JOIN pg_namespace pn ON pn.oid = part.relnamespace
WHERE n.nspname = %s AND root.relkind = 'p' AND NOT root.relispartition AND tree.level > 0
ORDER BY root.relname, pn.nspname, part.relname
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
# readable by every user like pg_constraint; and which tables are partitioned (relkind 'p').
_REPLICA_IDENTITIES = """
SELECT cl.relname, cl.relreplident, cl.relkind
FROM pg_class cl JOIN pg_namespace n ON n.oid = cl.relnamespace
WHERE n.nspname = %s AND cl.relkind IN ('r', 'p') AND NOT cl.relispartition
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

# A domain's checks, wherever the domain lives (a column of this schema may use one of another).
_DOMAIN_CHECKS = """
SELECT n.nspname, t.typname, pg_get_constraintdef(co.oid)
FROM pg_constraint co JOIN pg_type t ON t.oid = co.contypid JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE co.contype = 'c'
ORDER BY n.nspname, t.typname, co.conname
"""

_WITH_LENGTH = {"CHARACTER VARYING", "CHARACTER", "BIT", "BIT VARYING"}
#: The types whose ``datetime_precision`` is their fractional digits; recorded only when not PostgreSQL's default
#: (6, also reported for a type declared without one), so a columns file names only a precision that was declared.
_WITH_FRACTION = {"TIMESTAMP WITH TIME ZONE", "TIMESTAMP WITHOUT TIME ZONE", "TIME WITH TIME ZONE",
                  "TIME WITHOUT TIME ZONE"}
_DEFAULT_FRACTION = 6
_GENERATED = {"s": "stored", "v": "virtual"}


def discover(connection: psycopg.Connection[Any], schema: str) -> dict[str, Table]:
    """Every base table of ``schema`` but partitions, by name; raises :class:`CatalogError` when the schema does not
    exist."""
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
        cursor.execute(_DOMAIN_CHECKS)
        domains: dict[tuple[str, str], tuple[str, ...]] = {}
        for namespace, name, definition in cursor.fetchall():
            found = postgres_in_list(definition)
            if found is not None:  # a value the domain allows passes all its checks
                domains[(namespace, name)] = _both(domains.get((namespace, name)), found[1]) or ()
        cursor.execute(_PRIMARY_KEYS, (schema,))
        keys: dict[str, list[str]] = {}
        for table, column in cursor.fetchall():
            keys.setdefault(table, []).append(column)
        cursor.execute(_REPLICA_IDENTITIES, (schema,))
        identities: dict[str, str | None] = {}
        partitions: dict[str, list[str]] = {}
        for table, code, kind in cursor.fetchall():
            identities[table] = _IDENTITY_NAMES.get(str(code))
            if kind == "p":  # partitioned, with or without partitions yet
                partitions[table] = []
        cursor.execute(_PARTITIONS, (schema,))
        leaves: dict[str, list[str | None]] = {}
        for root, namespace, partition, kind, code in cursor.fetchall():
            partitions.setdefault(root, []).append(partition if namespace == schema else f"{namespace}.{partition}")
            if kind == "r":  # a leaf holds rows; a partition partitioned again holds none
                leaves.setdefault(root, []).append(_IDENTITY_NAMES.get(str(code)))
        cursor.execute(_COLUMNS, (schema,))
        columns: dict[str, dict[str, Column]] = {}
        for row in cursor.fetchall():
            column = _column(row, enums, checked, domains)
            columns.setdefault(row[0], {})[column.name] = column
    return {name: Table(name=name, columns=MappingProxyType(found), primary_key=tuple(keys.get(name, ())),
                        replica_identity=_identity(identities.get(name), leaves.get(name, [])),
                        partitions=tuple(partitions[name]) if name in partitions else None)
            for name, found in columns.items()}


def _identity(own: str | None, leaves: list[str | None]) -> str | None:
    """The replica identity a table's changes carry: its own, or a partitioned table's partitions' (each change is
    logged with its partition's): ``full`` when every one is FULL, else the first that is not."""
    if not leaves:
        return own
    return next((identity for identity in leaves if identity != "full"), "full")


def _both(first: tuple[str, ...] | None, second: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """The values two IN lists both allow (in the first's order); either one alone when the other is None."""
    if first is None or second is None:
        return first if second is None else second
    return tuple(value for value in first if value in second)


def _column(row: tuple[Any, ...], enums: dict[tuple[str, str], list[str]],
            checked: dict[tuple[str, str], tuple[str, ...]], domains: dict[tuple[str, str], tuple[str, ...]]) -> Column:
    (table, name, data_type, udt_schema, udt_name, is_nullable, length, precision, scale, fraction, domain_schema,
     domain_name, generated, element_type, element_udt) = row
    sql_type = str(data_type).upper()
    allowed = _both(domains.get((domain_schema, domain_name)), checked.get((table, name)))
    args: tuple[str, ...] = ()
    if sql_type == "USER-DEFINED" and (udt_schema, udt_name) in enums:
        sql_type, allowed = "ENUM", tuple(enums[(udt_schema, udt_name)])
    elif sql_type == "USER-DEFINED":
        sql_type = str(udt_name).upper()
    elif sql_type in _WITH_LENGTH and length is not None:
        args = (str(length),)
    elif sql_type == "NUMERIC" and precision is not None:
        args = (str(precision), str(scale or 0))
    elif sql_type in _WITH_FRACTION and fraction is not None and fraction != _DEFAULT_FRACTION:
        args = (str(fraction),)
    elif sql_type == "ARRAY" and element_type is not None:
        element = str(element_type).upper()
        args = (str(element_udt).upper() if element == "USER-DEFINED" else element,)
    return Column(name=name, sql_type=sql_type, args=args, nullable=is_nullable == "YES", allowed=allowed,
                  generated=_GENERATED.get(str(generated or "")))




# Every table of the database that holds rows (a plain table or a partition that is not partitioned again), outside
# PostgreSQL's own schemas: its replica identity, whether it has a primary key, whether the index REPLICA IDENTITY
# USING INDEX named still exists, a partition's root table, its INTERVAL columns (a domain over one too), and its
# NUMERIC columns (a domain over one too) that no CHECK of the table or the domain keeps 'NaN' out of, each with whether
# it is NOT NULL. What PostgreSQL checks before an UPDATE or DELETE of a published table (CheckCmdReplicaIdentity) is
# the leaf's own.
_IDENTITIES = """
SELECT n.nspname, c.relname, c.relreplident,
       EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary),
       EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisreplident),
       (SELECT rn.nspname || '.' || r.relname FROM pg_class r JOIN pg_namespace rn ON rn.oid = r.relnamespace
         WHERE c.relispartition AND r.oid = pg_partition_root(c.oid)),
       ARRAY(SELECT a.attname::text FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
              WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                AND 'interval'::regtype IN (t.oid, t.typbasetype) ORDER BY a.attnum),
       ARRAY(SELECT a.attname::text || CASE WHEN a.attnotnull OR t.typnotnull THEN ' NOT NULL' ELSE '' END
               FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
              WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                AND 'numeric'::regtype IN (t.oid, t.typbasetype)
                AND NOT EXISTS (SELECT 1 FROM pg_constraint k
                                 WHERE k.contype = 'c' AND pg_get_constraintdef(k.oid) LIKE '%''NaN''%'
                                   AND ((k.conrelid = c.oid AND a.attnum = ANY (k.conkey)) OR k.contypid = t.oid))
              ORDER BY a.attnum)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'
ORDER BY n.nspname, c.relname
"""


#: How :data:`_IDENTITIES` marks a NUMERIC column that takes no null.
NOT_NULL = " NOT NULL"


def table_identities(connection: psycopg.Connection[Any]) -> list[TableIdentity]:
    """The identity of every table of the database that holds rows (:data:`_IDENTITIES`), by schema and name."""
    with connection.cursor() as cursor:
        cursor.execute(_IDENTITIES)
        return [TableIdentity(namespace=schema, name=name, replica_identity=_IDENTITY_NAMES.get(str(code)),
                              primary_key=bool(keyed), identity_index=bool(indexed), root=root,
                              intervals=tuple(intervals or ()),
                              numerics=tuple(n.removesuffix(NOT_NULL) for n in numerics or ()),
                              required_numerics=tuple(n.removesuffix(NOT_NULL) for n in numerics or ()
                                                      if n.endswith(NOT_NULL)))
                for schema, name, code, keyed, indexed, root, intervals, numerics in cursor.fetchall()]


@dataclass(frozen=True, kw_only=True)
class Publication:
    """A publication as ``pg_publication`` and ``pg_publication_tables`` describe it (readable by every user): FOR ALL
    TABLES or its tables (``schema.table``; a partitioned table's as the table, or as its partitions), and whether it
    publishes updates or deletes."""

    all_tables: bool
    updates_or_deletes: bool
    tables: frozenset[str]
    #: ``pg_publication.pubviaroot``: a partitioned table's changes published as the table's own.
    via_root: bool = False


def publication(connection: psycopg.Connection[Any], name: str) -> Publication | None:
    """The publication ``name`` (readable by every user); None when there is no such publication."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT puballtables, pubupdate OR pubdelete, pubviaroot FROM pg_publication WHERE pubname = %s",
                       (name,))
        row = cursor.fetchone()
        if row is None:
            return None
        cursor.execute("SELECT schemaname || '.' || tablename FROM pg_publication_tables WHERE pubname = %s", (name,))
        tables = frozenset(str(table) for (table,) in cursor.fetchall())
    return Publication(all_tables=bool(row[0]), updates_or_deletes=bool(row[1]), tables=tables, via_root=bool(row[2]))
