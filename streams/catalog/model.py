"""A system's tables as its database's catalog describes them: immutable values, shared by discovery, the
columns file and the mapping loader.

The type vocabulary is the one :mod:`streams.mapping.kinds` reads: the SQL type name in upper case as the
engine spells it (``TEXT``, ``CHARACTER VARYING``, ``NUMERIC``, ``TIMESTAMP WITH TIME ZONE``, ``DATETIME``,
``TINYINT``, ``ENUM``), its arguments as text (precision and scale, a length, a fractional-second precision,
a TINYINT's display width, a PostgreSQL time's fractional digits other than the default 6, an ARRAY's element
type), whether it may hold NULL, the values an ENUM type, a ``CHECK (col IN (...))`` or a PostgreSQL DOMAIN's
``CHECK (VALUE IN (...))`` allows (a MariaDB/MySQL SET's members: its value is a comma-joined combination of them),
whether a MariaDB/MySQL number is ``UNSIGNED`` (recorded apart from the type name, so the name stays one the kinds
know), and whether the column is generated (``GENERATED ALWAYS AS (...)``). PostgreSQL's zone-less ``TIMESTAMP
WITHOUT TIME ZONE`` is always spelled out, so a bare ``TIMESTAMP`` is MariaDB/MySQL's (stored in UTC).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

#: How a generated column (``GENERATED ALWAYS AS (...)``) is kept: computed on write and stored, or computed on read.
#: PostgreSQL's logical decoding (pgoutput, before PostgreSQL 18) sends neither in a change; MariaDB's row-based
#: binlog (``binlog_row_image=FULL``) logs both with every row.
GENERATED = ("stored", "virtual")


@dataclass(frozen=True, kw_only=True)
class Column:
    """One column: SQL type name (upper case), its arguments, whether it may hold NULL, the values an ENUM
    type, a ``CHECK (col IN (...))`` or a DOMAIN's check allows (a SET's members), whether it is ``UNSIGNED``
    (MariaDB/MySQL), how it is generated (:data:`GENERATED`; None for a column written like any other), and the
    line of the columns file that declares it."""

    name: str
    sql_type: str
    args: tuple[str, ...] = ()
    nullable: bool = True
    allowed: tuple[str, ...] | None = None
    unsigned: bool = False
    generated: str | None = None
    line: int = 0

    def same_as(self, other: Column) -> bool:
        """Equal in everything the catalog says (the line is where a file put it, not what it is)."""
        return (self.name, self.sql_type, self.args, self.nullable, self.allowed, self.unsigned, self.generated) == (
            other.name, other.sql_type, other.args, other.nullable, other.allowed, other.unsigned, other.generated)

    @property
    def type_text(self) -> str:
        """The type as SQL would write it, e.g. ``NUMERIC(14,2)``, ``INT UNSIGNED``."""
        return (self.sql_type + (f"({','.join(self.args)})" if self.args else "")
                + (" UNSIGNED" if self.unsigned else ""))


#: PostgreSQL's replica identities (``ALTER TABLE … REPLICA IDENTITY``): what an update or delete carries of the old
#: row. ``full``: every column; the others: the key's columns at most, and no unchanged TOASTed value.
REPLICA_IDENTITIES = ("default", "full", "index", "nothing")


@dataclass(frozen=True, kw_only=True)
class Table:
    """One table: its columns in catalog order, the columns of its primary key (empty if it has none) and, on
    PostgreSQL, its replica identity (:data:`REPLICA_IDENTITIES`; None where the engine has none, or a columns file
    from before it was recorded) and, for a partitioned table (``PARTITION BY``), its partitions.

    A partition is no table of its own here: its rows are its parent's, and with the connector's
    ``publish.via.partition.root: true`` so are its changes (on the parent's topic). ``partitions`` names them (at
    every level below the parent, by name; one in another schema as ``schema.name``), so a connector that captures
    one is told; None for a table that is not partitioned, or a columns file from before partitions were recorded.
    A partitioned table's ``replica_identity`` is its partitions': PostgreSQL logs each change with its partition's
    identity, so it is ``full`` only when every partition is FULL."""

    name: str
    columns: Mapping[str, Column]
    primary_key: tuple[str, ...] = ()
    replica_identity: str | None = None
    partitions: tuple[str, ...] | None = None
    line: int = 0

    @property
    def partitioned(self) -> bool:
        return self.partitions is not None


@dataclass(frozen=True, kw_only=True)
class TableIdentity:
    """What identifies a table's changed rows, as ``isthmus connectors validate`` judges a capture by: whether it has a
    primary key and, on PostgreSQL, its replica identity (:data:`REPLICA_IDENTITIES`; None on MariaDB/MySQL, or from a
    columns file written before identities were recorded), whether the index ``REPLICA IDENTITY USING INDEX`` names
    still exists, the partitioned table a partition belongs to (``schema.table``; its rows and changes are that
    table's), its ``INTERVAL`` columns, and (read live from PostgreSQL only: a columns file does not record checks)
    its ``NUMERIC`` columns that no CHECK keeps ``'NaN'`` out of, and which of them are NOT NULL.

    PostgreSQL refuses every UPDATE and DELETE of a table without a usable identity once a publication publishes its
    updates and deletes (:attr:`unidentified`): the source application's own statements fail."""

    namespace: str
    name: str
    primary_key: bool
    replica_identity: str | None = None
    identity_index: bool = True
    root: str | None = None
    intervals: tuple[str, ...] = ()
    numerics: tuple[str, ...] = ()
    required_numerics: tuple[str, ...] = ()

    @property
    def qualified(self) -> str:
        return f"{self.namespace}.{self.name}"

    @property
    def unidentified(self) -> str | None:
        """How a PostgreSQL table lacks a replica identity (``REPLICA IDENTITY DEFAULT`` without a primary key,
        ``NOTHING``, or ``USING INDEX`` of an index since dropped, which PostgreSQL takes as NOTHING), said as "it
        has ..."; None when its updates and deletes can be published."""
        if self.replica_identity == "nothing":
            return "REPLICA IDENTITY NOTHING"
        if self.replica_identity == "default" and not self.primary_key:
            return "no primary key and REPLICA IDENTITY DEFAULT (which is the primary key)"
        if self.replica_identity == "index" and not self.identity_index:
            return "REPLICA IDENTITY USING INDEX of an index that was dropped (PostgreSQL then takes it as NOTHING)"
        return None

    @property
    def caveat(self) -> str | None:
        """What capturing the table as it is does, for ``isthmus mappings discover``'s line of it; None when nothing.
        """
        if self.unidentified is not None:
            return (f"{self.unidentified}: once a publication publishes its updates and deletes (the connector's does "
                    "when it captures it) PostgreSQL refuses every UPDATE and DELETE of it; fix: ALTER TABLE "
                    f"{self.qualified} REPLICA IDENTITY FULL, or a primary key (`isthmus connectors validate` refuses "
                    "to capture it as it is)")
        if not self.primary_key and self.root is None:
            return ("Debezium sends its changes without a key; fix: set message.key.columns for it in the connector's "
                    "file (`isthmus connectors validate` warns of it)")
        return None


def identities(catalog: Catalog) -> list[TableIdentity]:
    """The identities of a catalog's tables as its columns file records them (a partitioned table as one, with its
    partitions' identity and its own primary key, which each partition inherits)."""
    return [TableIdentity(namespace=catalog.namespace, name=table.name, primary_key=bool(table.primary_key),
                          replica_identity=table.replica_identity,
                          intervals=tuple(c.name for c in table.columns.values() if c.sql_type == "INTERVAL"))
            for table in catalog.tables.values()]


#: What a foreign key does to the child's rows when its parent row's key changes or the row is deleted, other than
#: refusing (RESTRICT, NO ACTION): the engine changes the child rows itself.
CHANGING_RULES = ("CASCADE", "SET NULL", "SET DEFAULT")


@dataclass(frozen=True, kw_only=True)
class ForeignKey:
    """A foreign key of ``table`` (its ``columns``) to ``parent`` (its ``parent_columns``), and its rules: what the
    engine does to the child rows on an update of the parent's key and on a delete of the parent row (``CASCADE``,
    ``SET NULL``, ``SET DEFAULT``, ``RESTRICT`` or ``NO ACTION``)."""

    name: str
    table: str
    columns: tuple[str, ...]
    parent: str
    parent_columns: tuple[str, ...]
    on_update: str = "RESTRICT"
    on_delete: str = "RESTRICT"

    @property
    def changing_rules(self) -> tuple[str, ...]:
        """The rules by which the engine changes the child rows itself, e.g. ``("ON UPDATE CASCADE",)``."""
        return tuple(f"ON {event} {rule}" for event, rule in (("UPDATE", self.on_update), ("DELETE", self.on_delete))
                     if rule in CHANGING_RULES)


@dataclass(frozen=True, kw_only=True)
class BinlogServer:
    """What a MariaDB/MySQL server says of its binlog, globally, and the grants of the user that asked (``SHOW
    GRANTS``, one statement each): what a binlog connector needs to start and read."""

    log_bin: bool
    binlog_format: str
    binlog_row_image: str
    grants: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ZeroDateColumn:
    """A NOT NULL ``DATE``, ``DATETIME`` or ``TIMESTAMP`` column of a MariaDB/MySQL ``table`` that can hold a zero date
    (``0000-00-00``): its default is one (``zero_default``), or the server's ``sql_mode`` has no strict mode, so an
    invalid date is stored as a zero date with a warning only (``lax_mode``). Debezium sends such a value of a NOT
    NULL column as the epoch (``1970-01-01T00:00:00``), which is a real date to every reader."""

    table: str
    column: str
    sql_type: str
    zero_default: bool = False
    lax_mode: bool = False


@dataclass(frozen=True, kw_only=True)
class Catalog:
    """The tables of one system's namespace (PostgreSQL schema, or MariaDB/MySQL database), by name.

    ``path`` is the columns file it was read from (None when discovered live). ``foreign_keys`` are the live
    catalog's (MariaDB/MySQL only): discovery warns of those whose engine changes child rows itself, which
    MariaDB/MySQL write to no binlog; the columns file does not record them (mapping files are checked against
    types, not constraints), so a catalog read from a file has none."""

    system: str
    engine: str
    namespace: str
    tables: Mapping[str, Table] = field(default_factory=lambda: MappingProxyType({}))
    path: Path | None = None
    foreign_keys: tuple[ForeignKey, ...] = ()
    #: The live catalog's NOT NULL date columns that can hold a zero date (MariaDB/MySQL only; not recorded either).
    zero_dates: tuple[ZeroDateColumn, ...] = ()

    def unlogged_cascades(self) -> tuple[ForeignKey, ...]:
        """The foreign keys whose changes to child rows never reach the binlog, so never Kafka: MariaDB/MySQL
        (InnoDB) carry out ON UPDATE/ON DELETE CASCADE and SET NULL inside the engine and log only the statement's
        own rows. PostgreSQL runs them as triggers whose changes are in its WAL, so Debezium sees them."""
        if self.engine == "postgresql":
            return ()
        return tuple(key for key in self.foreign_keys if key.changing_rules)

    def full_row_images(self, table: Table) -> bool:
        """Whether ``table``'s updates and deletes carry the whole old row, and every unchanged value, as far as the
        catalog says. MariaDB/MySQL's row images are the server's ``binlog_row_image`` (full on the stack). On
        PostgreSQL only a recorded ``full`` identity says so: a columns file written before identities were
        recorded is taken as the server's default (key-only images), which costs remembered rows, never a change."""
        return self.engine != "postgresql" or table.replica_identity == "full"

    @property
    def column_count(self) -> int:
        return sum(len(t.columns) for t in self.tables.values())


def differences(recorded: Catalog, live: Catalog) -> list[str]:
    """What changed from ``recorded`` (a columns file) to ``live`` (the database), one line each; empty when
    they agree."""
    found: list[str] = []
    for attribute in ("engine", "namespace"):
        if getattr(recorded, attribute) != getattr(live, attribute):
            found.append(f"{attribute}: file says {getattr(recorded, attribute)!r}, "
                         f"the database is {getattr(live, attribute)!r}")
    parents = {partition: table.name for table in live.tables.values() for partition in table.partitions or ()}
    for name in sorted(set(recorded.tables) - set(live.tables)):
        if name in parents:
            found.append(f"table {name}: in the file, and a partition of {parents[name]} in the database (recorded "
                         "under its parent, whose rows and changes are its partitions')")
        else:
            found.append(f"table {name}: in the file, no longer in the database")
    for name in sorted(set(live.tables) - set(recorded.tables)):
        found.append(f"table {name}: new in the database ({len(live.tables[name].columns)} columns)")
    for name in sorted(set(recorded.tables) & set(live.tables)):
        found += _table_differences(recorded.tables[name], live.tables[name])
    return found


def _table_differences(old: Table, new: Table) -> list[str]:
    found: list[str] = []
    for name in old.columns.keys() - new.columns.keys():
        found.append(f"column {old.name}.{name}: in the file, no longer in the database")
    for name in new.columns.keys() - old.columns.keys():
        found.append(f"column {old.name}.{name}: new in the database ({_describe(new.columns[name])})")
    for name in old.columns.keys() & new.columns.keys():
        before, after = old.columns[name], new.columns[name]
        if not before.same_as(after):
            found.append(f"column {old.name}.{name}: file says {_describe(before)}, the database has "
                         f"{_describe(after)}")
    common_old = [c for c in old.columns if c in new.columns]
    common_new = [c for c in new.columns if c in old.columns]
    if common_old != common_new:
        found.append(f"table {old.name}: column order changed to {', '.join(common_new)}")
    if old.primary_key != new.primary_key:
        found.append(f"table {old.name}: primary key was ({', '.join(old.primary_key)}), now "
                     f"({', '.join(new.primary_key)})")
    if old.partitions != new.partitions:
        found.append(f"table {old.name}: {_partitions(old.partitions)} in the file, {_partitions(new.partitions)} in "
                     "the database")
    if old.replica_identity != new.replica_identity:
        found.append(f"table {old.name}: replica identity was {old.replica_identity or 'not recorded'}, now "
                     f"{new.replica_identity or 'none'}")
    return sorted(found)


def _partitions(partitions: tuple[str, ...] | None) -> str:
    if partitions is None:
        return "not partitioned"
    return f"partitioned ({', '.join(partitions) or 'no partitions'})"


def _describe(column: Column) -> str:
    text = column.type_text + ("" if column.nullable else " NOT NULL")
    if column.allowed is not None:
        text += " of " + ", ".join(column.allowed)
    if column.generated is not None:
        text += f" GENERATED ({column.generated.upper()})"
    return text
