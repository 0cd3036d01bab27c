"""Incremental snapshots through Debezium's source signal channel: a row in the connector's signal table.

The connector reads the ``execute-snapshot`` row from its own change stream and re-reads the chosen tables
in chunks, emitting a read event (``op: r``) per row while streaming goes on: the batch re-sync of master
data. The row goes into the database the connector captures, written with the connection the connector itself uses
(its ``database.hostname``, ``database.port``, ``database.user`` and ``database.password``, provider references
resolved as ``isthmus mappings discover`` resolves them: streams/catalog/live.py), never the runtime settings' DSN
of the engine (``endpoints.databases``), which names one server per engine: a connector of a system on a server of
its own had its signal sent to the stack's server (refused, or into a namesake table there).
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pymysql

from streams.capture.exceptions import SnapshotRequestError
from streams.capture.filters import CaptureFilter
from streams.capture.options import MARIADB, POSTGRES
from streams.catalog import live
from streams.catalog.exceptions import CatalogError
from streams.systems import Engine

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, kw_only=True)
class SnapshotRequest:
    id: str
    connector: str
    signal_table: str
    data_collections: tuple[str, ...]
    #: The column Debezium orders the chunks by instead of the primary key (``surrogate-key``), if any.
    surrogate_key: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "connector": self.connector, "signal_table": self.signal_table,
                "tables": list(self.data_collections), "surrogate_key": self.surrogate_key}


def plan(name: str, config: Mapping[str, str], tables: Sequence[str],
         configs: Path = Path("connect-configs")) -> tuple[str, tuple[str, ...]]:
    """The signal table and the qualified tables to snapshot, checked against what the connector captures
    (``configs``: the connector configs folder the fixes name)."""
    signal_table = config.get("signal.data.collection", "").strip()
    if not signal_table or "." not in signal_table:
        raise SnapshotRequestError(
            f"{name} has no signal table (signal.data.collection), through which Debezium takes snapshot requests; "
            f"fix: create the table in the source database (CREATE TABLE <schema>.debezium_signal (id VARCHAR(64) "
            "PRIMARY KEY, type VARCHAR(32) NOT NULL, data VARCHAR(2048)), writable by the connector's user), set "
            f"signal.data.collection: <schema>.debezium_signal in {configs / 'connectors' / name}.yaml and deploy "
            "(connect-configs/README.md, \"Signal tables\")")
    if not tables:
        raise SnapshotRequestError("no tables given; fix: pass --tables t1,t2")
    namespace = signal_table.split(".")[0]
    qualified = tuple(dict.fromkeys(t if "." in t else f"{namespace}.{t}" for t in tables))
    engine = "postgresql" if config.get("connector.class") == POSTGRES else "mariadb"
    capture = CaptureFilter.of(config, engine)
    missing = [t for t in qualified if capture is not None and not capture.captures(*t.split(".", 1))]
    if missing:
        raise SnapshotRequestError(
            f"{name} does not capture {', '.join(missing)} (table.include.list: {capture.table_list if capture else ''}"
            f"); fix: choose captured tables, or add them to {configs / 'connectors' / name}.yaml and deploy")
    return signal_table, qualified


def request_incremental_snapshot(name: str, config: Mapping[str, str], tables: Sequence[str],
                                 configs: Path = Path("connect-configs"), *,
                                 surrogate_key: str | None = None) -> SnapshotRequest:
    """Write the ``execute-snapshot`` row, as the connector's own user on its own database (:func:`signal_connection`);
    Debezium's notifications of the snapshot carry its id.
    ``surrogate_key``: a column of every table to read the chunks in its order, for a table without a primary key
    (Debezium's ``surrogate-key``; it must be unique and never null, or rows are read twice or not at all)."""
    signal_table, qualified = plan(name, config, tables, configs)
    signal_id = f"isthmus-{uuid.uuid4().hex}"  # 40 characters: Debezium documents the id column as VARCHAR(42)
    payload: dict[str, Any] = {"data-collections": list(qualified), "type": "incremental"}
    if surrogate_key:
        payload["surrogate-key"] = surrogate_key
    data = json.dumps(payload)
    schema, table = signal_table.split(".", 1)
    if not (_IDENTIFIER.match(schema) and _IDENTIFIER.match(table)):
        raise SnapshotRequestError(f"{name}: signal.data.collection {signal_table!r} is not "
                                   "<schema>.<table>; fix: use plain identifiers (letters, digits, '_')")
    connector_class = config.get("connector.class")
    if connector_class not in (POSTGRES, MARIADB):
        raise SnapshotRequestError(f"{name} is a {connector_class}; incremental snapshots are sent to "
                                   f"{POSTGRES} and {MARIADB} connectors only")
    statement = (f'INSERT INTO "{schema}"."{table}" (id, type, data) VALUES (%s, %s, %s)' if connector_class == POSTGRES
                 else f"INSERT INTO `{schema}`.`{table}` (id, type, data) VALUES (%s, %s, %s)")
    row = (signal_id, "execute-snapshot", data)
    connection = signal_connection(name, config, configs)
    try:
        if connector_class == POSTGRES:
            with live.connect_postgresql(connection) as conn, _refused(name, signal_table, row):
                conn.execute(statement, row)
        else:
            mariadb = live.connect_mysql(connection)
            try:
                with _refused(name, signal_table, row), mariadb.cursor() as cursor:
                    cursor.execute(statement, row)
                    mariadb.commit()
            finally:
                mariadb.close()
    except (psycopg.OperationalError, pymysql.OperationalError) as exc:
        raise SnapshotRequestError(
            f"{name}: cannot write the snapshot signal into {signal_table}: the connector's database at {connection} "
            f"did not let us in: {live.first_line(exc)}; fix: start that database, or correct the connector's "
            f"database.hostname, database.port, database.user and database.password ({_file(name, configs)})") \
            from exc
    return SnapshotRequest(id=signal_id, connector=name, signal_table=signal_table,
                           data_collections=qualified, surrogate_key=surrogate_key or None)


def signal_connection(name: str, config: Mapping[str, str], configs: Path = Path("connect-configs")) -> live.Connection:
    """The connection connector ``name`` reaches its database with (``config`` as Connect holds it, or as rendered):
    the signal row is written there, as that user, into the database the connector captures."""
    engine = Engine.POSTGRESQL if config.get("connector.class") == POSTGRES else Engine.MARIADB
    try:
        return live.connection_of(config, engine=engine, path=_file(name, configs))
    except CatalogError as exc:
        raise SnapshotRequestError(f"{name}: cannot write the snapshot signal: {exc}") from exc


def _file(name: str, configs: Path) -> Path:
    return configs / "connectors" / f"{name}.yaml"


@contextlib.contextmanager
def _refused(name: str, signal_table: str, row: tuple[str, str, str]) -> Iterator[None]:
    """The database's refusal of the signal row, as what to do (a table made narrower than the row, or read-only)."""
    try:
        yield
    except (psycopg.Error, pymysql.MySQLError) as exc:
        signal_id, _, data = row
        raise SnapshotRequestError(
            f"{name}: the signal row ({len(signal_id)}-character id, {len(data)}-character data) could not be "
            f"written into {signal_table}: {type(exc).__name__}: {str(exc).strip()}; fix: the table needs the "
            "columns id VARCHAR(42) or wider, type VARCHAR(32) and data VARCHAR(2048) or TEXT, writable by the "
            "user this command connects as (connect-configs/README.md, \"Signal tables\")") from exc
