"""Reading a system's live catalog with the connection its Debezium connector uses.

The connector file is rendered as ``isthmus connectors`` renders it (``{{placeholders}}`` from the overlay of
``--env`` and the runtime settings' ``capture.variables``); Kafka Connect's config provider references are then
resolved here, as Connect would: ``${file:<path>:<key>}`` from that properties file, ``${env:VARIABLE}`` from
the environment. The password is held as a :class:`~streams.config.secret.Secret` and never printed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import psycopg
import pymysql

from streams.capture import configs
from streams.capture.exceptions import ConfigError
from streams.catalog import mysql, postgres
from streams.catalog.exceptions import CatalogError
from streams.catalog.model import BinlogServer, Catalog, ForeignKey, TableIdentity, ZeroDateColumn
from streams.config import references
from streams.config.secret import Secret
from streams.systems import Engine, SystemSpec


@dataclass(frozen=True, kw_only=True)
class Connection:
    """Where a system's database is and how to log in; ``database`` is PostgreSQL's database (MariaDB/MySQL:
    none, the namespace is the database)."""

    engine: Engine
    host: str
    port: int
    user: str
    password: Secret
    database: str | None

    def __str__(self) -> str:
        where = f"/{self.database}" if self.database else ""
        return f"{self.engine.value}://{self.user}@{self.host}:{self.port}{where}"


def connection_for(system: SystemSpec, *, variables: Mapping[str, str], env: str = "local",
                   environ: Mapping[str, str] | None = None, configs_root: Path | None = None) -> Connection:
    """The connection of ``system``'s connector config under overlay ``env``, its placeholders from
    ``variables`` (``capture.variables``)."""
    engine, _ = _captured(system)
    rendered = _rendered(system, variables=variables, env=env, configs_root=configs_root)
    return connection_of(rendered.config, engine=engine, path=rendered.path, environ=environ)


def _rendered(system: SystemSpec, *, variables: Mapping[str, str], env: str,
              configs_root: Path | None) -> configs.LocalConnector:
    """``system``'s connector config rendered under overlay ``env``."""
    _, connector = _captured(system)
    root = configs_root or system.path.resolve().parent.parent / "connect-configs"
    try:
        config_set = configs.load(root, env=env)
        config_set.select([connector])
    except ConfigError as exc:
        raise CatalogError(f"system {system.name}: {exc}") from exc
    rendered = config_set.render(connector, variables)
    if rendered.problems:
        raise CatalogError(f"connector {connector} does not render: "
                           + "; ".join(str(p) for p in rendered.problems))
    return rendered


@dataclass(frozen=True, kw_only=True)
class Slot:
    """A PostgreSQL connector's replication slot as the server reports it (``pg_replication_slots``): whether a
    connector reads it now, how much WAL it keeps from being removed (``restart_lsn`` to the server's current
    position), ``wal_status`` (``reserved``, ``extended``, ``unreserved``, ``lost``) and the server's
    ``max_slot_wal_keep_size`` (``-1``: no bound, the slot may fill the disk). ``exists`` False: no such slot
    (the connector makes it when its task starts)."""

    system: str
    connector: str
    name: str
    exists: bool
    active: bool = False
    retained_bytes: int | None = None
    wal_status: str | None = None
    keep_size: str | None = None


SLOT_QUERY = ("SELECT active, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint, wal_status, "
              "current_setting('max_slot_wal_keep_size') FROM pg_replication_slots WHERE slot_name = %s")


def replication_slot(system: SystemSpec, *, variables: Mapping[str, str], env: str = "local",
                     environ: Mapping[str, str] | None = None, configs_root: Path | None = None) -> Slot | None:
    """The replication slot of ``system``'s connector (its ``slot.name``, Debezium's default ``debezium``), read
    with the connector's own connection; None for a system not on PostgreSQL (MariaDB/MySQL keep no slot)."""
    engine, connector = _captured(system)
    if engine is not Engine.POSTGRESQL:
        return None
    rendered = _rendered(system, variables=variables, env=env, configs_root=configs_root)
    connection = connection_of(rendered.config, engine=engine, path=rendered.path, environ=environ)
    name = str(rendered.config.get("slot.name") or "debezium")
    try:
        with connect_postgresql(connection) as pg:
            row = pg.execute(SLOT_QUERY, (name,)).fetchone()
    except psycopg.Error as exc:
        raise CatalogError(f"cannot read replication slot {name} of {system.name} at {connection}: "
                           f"{first_line(exc)}; fix: start the database, or check the connector {connector}'s "
                           "connection") from exc
    if row is None:
        return Slot(system=system.name, connector=connector, name=name, exists=False)
    active, retained, wal_status, keep = row
    return Slot(system=system.name, connector=connector, name=name, exists=True, active=bool(active),
                retained_bytes=None if retained is None else int(retained), wal_status=wal_status,
                keep_size=None if keep is None else str(keep))


def connection_of(config: Mapping[str, str], *, engine: Engine, path: Path,
                  environ: Mapping[str, str] | None = None) -> Connection:
    """The connection a rendered connector ``config`` (of the file at ``path``) reaches its ``engine`` database
    with, its provider references resolved (:func:`resolve`)."""
    environ = os.environ if environ is None else environ

    def option(key: str, default: str | None = None) -> str:
        value = config.get(key, default)
        if value is None:
            raise CatalogError(f"{path}: {key} is not set; fix: the connector needs it to reach the "
                               "database, and so does discovery")
        return resolve(value, key=key, environ=environ)

    port = option("database.port", "5432" if engine is Engine.POSTGRESQL else "3306")
    if not port.isdigit():
        raise CatalogError(f"{path}: database.port {port!r} is not a port number")
    return Connection(engine=engine, host=option("database.hostname"), port=int(port),
                      user=option("database.user"), password=Secret(option("database.password", "")),
                      database=option("database.dbname") if engine is Engine.POSTGRESQL else None)


def _captured(system: SystemSpec) -> tuple[Engine, str]:
    """The engine and connector of ``system``; a write-only system (``capture: none``) has no catalog to read."""
    if system.engine is None or system.connector is None:
        raise CatalogError(f"system {system.name} is written only (capture: none in {system.path}): it has no "
                           "database Isthmus reads, so there is no catalog to discover")
    return system.engine, system.connector


def resolve(value: str, *, key: str, environ: Mapping[str, str]) -> str:
    """``value`` with every ``${file:...}`` and ``${env:...}`` reference replaced; the error names the key and
    the reference, never a resolved value."""
    return references.resolve(value, key=key, environ=environ, error=CatalogError,
                              where=" in the overlay for discovery")


#: Tables Isthmus itself makes in a system's database: the SQL sinks' record of the idempotency keys applied
#: (``keys_table`` of a target file; this is its default name). No mapping reads them, and discovering them made
#: ``discover --check`` report them as drift.
OWN_TABLES = frozenset({"isthmus_sink_keys"})


def discover(system: SystemSpec, connection: Connection) -> Catalog:
    """The tables of ``system``'s namespace, read from its live catalog, but for Isthmus's own
    (:data:`OWN_TABLES`)."""
    engine, connector = _captured(system)
    namespace = system.namespace
    foreign_keys: tuple[ForeignKey, ...] = ()
    zero_dates: tuple[ZeroDateColumn, ...] = ()
    try:
        if connection.engine is Engine.POSTGRESQL:
            with connect_postgresql(connection) as pg:
                tables = postgres.discover(pg, namespace)
        else:
            my = connect_mysql(connection)
            try:
                tables = mysql.discover(my, namespace, connection.engine.value)
                foreign_keys = mysql.foreign_keys(my, namespace)
                zero_dates = mysql.zero_date_columns(my, namespace)
            finally:
                my.close()
    except (psycopg.Error, pymysql.MySQLError) as exc:
        raise CatalogError(f"cannot read the catalog of {system.name} at {connection}: {first_line(exc)}; fix: "
                           f"start the database, or check the connector {connector}'s connection") from exc
    kept = {name: table for name, table in sorted(tables.items()) if name not in OWN_TABLES}
    return Catalog(system=system.name, engine=engine.value, namespace=namespace,
                   tables=MappingProxyType(kept), foreign_keys=foreign_keys,
                   zero_dates=tuple(z for z in zero_dates if z.table in kept))


def publication_via_root(connection: Connection, publication: str) -> bool | None:
    """Whether the PostgreSQL publication ``publication`` publishes a partitioned table's changes as the table's
    own (``pg_publication.pubviaroot``); None when it does not exist (yet: the connector creates it)."""
    found = publication_of(connection, publication)
    return None if found is None else found.via_root


def table_identities(connection: Connection) -> list[TableIdentity]:
    """Every table of the database (PostgreSQL) or server (MariaDB/MySQL) the connection reaches, with what
    identifies its changed rows (:class:`TableIdentity`), read as the connector's user."""
    try:
        if connection.engine is Engine.POSTGRESQL:
            with connect_postgresql(connection) as pg:
                return postgres.table_identities(pg)
        my = connect_mysql(connection)
        try:
            return mysql.table_identities(my)
        finally:
            my.close()
    except (psycopg.Error, pymysql.MySQLError) as exc:
        raise CatalogError(f"cannot read the tables at {connection}: {first_line(exc)}; fix: start the database, or "
                           "check the connector's connection") from exc


def publication_of(connection: Connection, name: str) -> postgres.Publication | None:
    """The PostgreSQL publication ``name``; None when it does not exist (yet: the connector creates it)."""
    try:
        with connect_postgresql(connection) as pg:
            return postgres.publication(pg, name)
    except psycopg.Error as exc:
        raise CatalogError(f"cannot read publication {name} at {connection}: {first_line(exc)}; fix: start the "
                           "database, or check the connector's connection") from exc


def binlog_server(connection: Connection) -> BinlogServer:
    """The global binlog settings of ``connection``'s MariaDB/MySQL server and its user's grants."""
    try:
        my = connect_mysql(connection)
        try:
            with my.cursor() as cursor:
                cursor.execute("SELECT @@GLOBAL.log_bin, @@GLOBAL.binlog_format, @@GLOBAL.binlog_row_image")
                row = cursor.fetchone() or (0, "", "")
                cursor.execute("SHOW GRANTS")
                grants = tuple(str(found[0]) for found in cursor.fetchall())
        finally:
            my.close()
    except pymysql.MySQLError as exc:
        raise CatalogError(f"cannot read the binlog settings at {connection}: {first_line(exc)}; fix: start the "
                           "database, or check the connector's connection") from exc
    return BinlogServer(log_bin=str(row[0]) in ("1", "ON"), binlog_format=str(row[1]).upper(),
                        binlog_row_image=str(row[2]).upper(), grants=grants)


def connect_mysql(connection: Connection) -> pymysql.connections.Connection[Any]:
    """A connection to ``connection``'s MariaDB/MySQL server (no database chosen: the namespace is the database)."""
    return pymysql.connect(host=connection.host, port=connection.port, user=connection.user,
                           password=connection.password.reveal(), connect_timeout=10)


def connect_postgresql(connection: Connection) -> psycopg.Connection[Any]:
    """A connection to ``connection``'s PostgreSQL database."""
    return psycopg.connect(host=connection.host, port=connection.port, user=connection.user,
                           password=connection.password.reveal(), dbname=connection.database, connect_timeout=10)


def first_line(exc: Exception) -> str:
    """The first line of a database error's message (psycopg's and pymysql's run on with details)."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
