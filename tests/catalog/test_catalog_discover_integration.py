"""Discovery against the live databases: the checked-in columns files of the reference pair are current (the
drift check: it fails when reference/*/schema.sql changes without re-discovering), a scratch table of each
engine is read with its types, nullability, allowed values, generated columns and primary key (on PostgreSQL a
partitioned one too, and its publication's publish_via_partition_root), and a read-only capture user (only
SELECT, plus the replication grants on MariaDB) on a namespace it does not own sees the same primary keys."""

from __future__ import annotations

import dataclasses
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from support.stack_offer import stack_runtime

from streams.catalog import Catalog, differences, path_for, read, write
from streams.catalog.live import Connection, connection_for, discover, publication_via_root
from streams.cli.main import main
from streams.config.secret import Secret
from streams.mapping.kinds import from_column
from streams.stack.progress import Progress
from streams.stack.running import RunningStack
from streams.stack.services.base import ServiceContext
from streams.stack.services.crm_db import CrmDatabase
from streams.stack.services.erp_db import REPLICATION_GRANTS, ErpDatabase
from streams.systems import SystemSpec, TopicNaming, load_systems

SCRATCH = "isthmus_catalog_scratch"  # the stack's user may create databases named isthmus_%
PUBLICATION = "isthmus_catalog_scratch"  # a publication of the scratch schema's partitioned table
READER = "isthmus_catalog_reader"  # a capture user with read grants only, created and dropped by its test


def live(stack: RunningStack, name: str, namespace: str | None = None, *,
         login: tuple[str, Secret] | None = None) -> tuple[SystemSpec, Connection, Catalog]:
    """Discover system ``name`` (in ``namespace``), as its connector's user or as ``login`` (user, password)."""
    systems = load_systems()
    spec = systems[name]
    if namespace is not None:
        spec = dataclasses.replace(spec, topics=TopicNaming(prefix=spec.topics.prefix, namespace=namespace))
    connection = connection_for(spec, variables=stack_runtime(stack.settings).connector_variables, env="local")
    if login is not None:
        connection = dataclasses.replace(connection, user=login[0], password=login[1])
    return spec, connection, discover(spec, connection)


def admin(stack: RunningStack) -> ServiceContext:
    """The local stack's services, whose superuser (PostgreSQL) and root (MariaDB) may create users."""
    if os.environ.get("ISTHMUS_STACK", "local") != "local":
        pytest.skip("creating a database user needs the local stack's superuser, reached through its socket")
    return ServiceContext(settings=stack.settings, secrets=stack.secrets, toolchain=None, progress=Progress())


@pytest.mark.parametrize("name", ["crm", "erp"])
def test_checked_in_columns_files_are_current(stack: RunningStack, name: str) -> None:
    _, _, found = live(stack, name)
    recorded = read(path_for(load_systems().directory, name))
    drift = differences(recorded, found)
    assert drift == [], (f"systems/{name}.columns.yaml is out of date; run `isthmus mappings discover {name}` "
                         "and commit it:\n  " + "\n  ".join(drift))


def test_check_names_each_difference_and_exits_1(stack: RunningStack, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    edited = tmp_path / "erp.columns.yaml"
    shutil.copy(path_for(load_systems().directory, "erp"), edited)
    edited.write_text(edited.read_text(encoding="utf-8").replace(
        "carrier: {type: VARCHAR, args: [40], nullable: false}", "carrier: {type: VARCHAR, args: [80]}"),
        encoding="utf-8")
    assert main(["mappings", "discover", "erp", "--check", "--output", str(edited)]) == 1
    out = capsys.readouterr().out
    assert ("column shipments.carrier: file says VARCHAR(80), the database has VARCHAR(40) NOT NULL" in out
            and "1 difference" in out and "isthmus mappings discover erp" in out)


@pytest.fixture
def postgres_scratch(stack: RunningStack) -> Iterator[str]:
    with stack.connect_crm(autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCRATCH} CASCADE")
        conn.execute(f"CREATE SCHEMA {SCRATCH}")
        conn.execute(f"CREATE TYPE {SCRATCH}.mood AS ENUM ('sad', 'ok', 'happy')")
        conn.execute(f"""CREATE TABLE {SCRATCH}.things (
            a       BIGINT NOT NULL,
            b       VARCHAR(30) NOT NULL,
            amount  NUMERIC(10, 4),
            at      TIMESTAMP,
            at_tz   TIMESTAMPTZ NOT NULL,
            mood    {SCRATCH}.mood,
            kind    TEXT CHECK (kind IN ('x', 'y''s')),
            flag    BOOLEAN NOT NULL,
            day     DATE,
            doc     JSONB,
            PRIMARY KEY (b, a))""")
        try:
            yield SCRATCH
        finally:
            conn.execute(f"DROP SCHEMA IF EXISTS {SCRATCH} CASCADE")


def test_postgres_scratch_table(stack: RunningStack, postgres_scratch: str) -> None:
    _, _, found = live(stack, "crm", postgres_scratch)
    assert list(found.tables) == ["things"] and found.namespace == postgres_scratch
    things = found.tables["things"]
    assert things.primary_key == ("b", "a")
    columns = things.columns
    assert list(columns) == ["a", "b", "amount", "at", "at_tz", "mood", "kind", "flag", "day", "doc"]
    assert [c.nullable for c in columns.values()] == [False, False, True, True, False, True, True, False, True, True]
    assert (columns["b"].sql_type, columns["b"].args) == ("CHARACTER VARYING", ("30",))
    assert (columns["amount"].sql_type, columns["amount"].args) == ("NUMERIC", ("10", "4"))
    assert (columns["mood"].sql_type, columns["mood"].allowed) == ("ENUM", ("sad", "ok", "happy"))
    assert columns["kind"].allowed == ("x", "y's")
    kinds = {name: from_column(column, found.engine) for name, column in columns.items()}
    assert {name: kind.base for name, kind in kinds.items()} == {
        "a": "int", "b": "string", "amount": "decimal", "at": "local_timestamp", "at_tz": "timestamp",
        "mood": "string", "kind": "string", "flag": "bool", "day": "date", "doc": "string"}
    assert kinds["amount"].scale == 4
    assert things.replica_identity == "default" and not found.full_row_images(things)
    with stack.connect_crm(autocommit=True) as conn:
        conn.execute(f"ALTER TABLE {postgres_scratch}.things REPLICA IDENTITY FULL")
    assert live(stack, "crm", postgres_scratch)[2].tables["things"].replica_identity == "full"


@pytest.fixture
def postgres_partitioned(stack: RunningStack) -> Iterator[str]:
    """The new user's ERP in small: a table PARTITIONED BY LIST (one partition FULL, one not), a STORED generated
    column, TIMESTAMPTZ(0), TEXT[] and a DOMAIN with a CHECK; and a publication of it made as Debezium makes one
    when publish.via.partition.root is not set."""
    with stack.connect_crm(autocommit=True) as conn:
        conn.execute(f"DROP PUBLICATION IF EXISTS {PUBLICATION}")
        conn.execute(f"DROP SCHEMA IF EXISTS {SCRATCH} CASCADE")
        conn.execute(f"CREATE SCHEMA {SCRATCH}")
        conn.execute(f"CREATE DOMAIN {SCRATCH}.zahlart AS VARCHAR(10) CHECK (VALUE IN ('bar', 'karte'))")
        conn.execute(f"""CREATE TABLE {SCRATCH}."Debitor" (
            id           BIGINT NOT NULL,
            land         TEXT NOT NULL,
            vorname      TEXT,
            nachname     TEXT,
            anzeige_name TEXT GENERATED ALWAYS AS (vorname || ' ' || nachname) STORED,
            angelegt     TIMESTAMPTZ(0) NOT NULL,
            geaendert    TIMESTAMPTZ,
            tags         TEXT[],
            zahlart      {SCRATCH}.zahlart,
            PRIMARY KEY (id, land)) PARTITION BY LIST (land)""")
        conn.execute(f"""CREATE TABLE {SCRATCH}.debitor_de PARTITION OF {SCRATCH}."Debitor" FOR VALUES IN ('DE')""")
        conn.execute(f"""CREATE TABLE {SCRATCH}.debitor_at PARTITION OF {SCRATCH}."Debitor" FOR VALUES IN ('AT')""")
        conn.execute(f"ALTER TABLE {SCRATCH}.debitor_de REPLICA IDENTITY FULL")
        conn.execute(f'CREATE PUBLICATION {PUBLICATION} FOR TABLE {SCRATCH}."Debitor"')
        try:
            yield SCRATCH
        finally:
            conn.execute(f"DROP PUBLICATION IF EXISTS {PUBLICATION}")
            conn.execute(f"DROP SCHEMA IF EXISTS {SCRATCH} CASCADE")


def test_postgres_partitioned_table_generated_column_and_types(stack: RunningStack, postgres_partitioned: str,
                                                               tmp_path: Path) -> None:
    _, connection, found = live(stack, "crm", postgres_partitioned)
    assert list(found.tables) == ["Debitor"]  # its partitions are no tables of their own
    debitor = found.tables["Debitor"]
    assert debitor.partitions == ("debitor_at", "debitor_de") and debitor.primary_key == ("id", "land")
    assert debitor.replica_identity == "default"  # debitor_at's: the parent's own FULL would reach no partition
    columns = debitor.columns
    assert [name for name, c in columns.items() if c.generated] == ["anzeige_name"]
    assert columns["anzeige_name"].generated == "stored"
    assert (columns["angelegt"].args, columns["geaendert"].args) == (("0",), ())
    assert (columns["tags"].sql_type, columns["tags"].args) == ("ARRAY", ("TEXT",))
    assert (columns["zahlart"].sql_type, columns["zahlart"].args, columns["zahlart"].allowed) == (
        "CHARACTER VARYING", ("10",), ("bar", "karte"))
    path = tmp_path / "crm.columns.yaml"
    write(path, found)
    assert differences(read(path), found) == []
    # the publication as Debezium creates it without publish.via.partition.root: the changes are the partitions'
    assert publication_via_root(connection, PUBLICATION) is False
    with stack.connect_crm(autocommit=True) as conn:
        conn.execute(f"ALTER PUBLICATION {PUBLICATION} SET (publish_via_partition_root = true)")
    assert publication_via_root(connection, PUBLICATION) is True
    assert publication_via_root(connection, "isthmus_no_such_publication") is None


@pytest.fixture
def mariadb_scratch(stack: RunningStack) -> Iterator[str]:
    conn = stack.connect_erp(autocommit=True)
    try:
        with conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {SCRATCH}")
            cursor.execute(f"CREATE DATABASE {SCRATCH}")
            cursor.execute(f"""CREATE TABLE {SCRATCH}.things (
                id      INT NOT NULL,
                code    CHAR(4) NOT NULL,
                flag    BOOLEAN NOT NULL,
                small   TINYINT,
                amount  DECIMAL(12, 3),
                at      DATETIME(3),
                stamp   TIMESTAMP NULL,
                status  ENUM('new', 'it''s') NOT NULL,
                kind    VARCHAR(10) CHECK (kind IN ('a', 'b')),
                note    TEXT,
                zahl    SET('bar', 'karte') NOT NULL,
                next_id INT AS (id + 1) VIRTUAL,
                doubled INT AS (id * 2) PERSISTENT,
                PRIMARY KEY (code, id))""")
            # the SQL sink's record of applied keys, as streams/sinks/adapters/mysql.py makes it: not the system's
            cursor.execute(f"CREATE TABLE {SCRATCH}.isthmus_sink_keys (idempotency_key VARCHAR(200) PRIMARY KEY)")
        yield SCRATCH
    finally:
        with conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {SCRATCH}")
        conn.close()


def test_mariadb_scratch_table(stack: RunningStack, mariadb_scratch: str) -> None:
    _, _, found = live(stack, "erp", mariadb_scratch)
    assert list(found.tables) == ["things"] and found.engine == "mariadb"  # isthmus_sink_keys left out
    things = found.tables["things"]
    assert things.primary_key == ("code", "id")
    columns = things.columns
    assert list(columns) == ["id", "code", "flag", "small", "amount", "at", "stamp", "status", "kind", "note", "zahl",
                             "next_id", "doubled"]
    assert [c.nullable for c in columns.values()] == [False, False, False, True, True, True, True, False, True, True,
                                                      False, True, True]
    assert (columns["flag"].sql_type, columns["flag"].args) == ("TINYINT", ("1",))
    assert (columns["amount"].sql_type, columns["amount"].args) == ("DECIMAL", ("12", "3"))
    assert (columns["at"].sql_type, columns["at"].args) == ("DATETIME", ("3",))
    assert columns["status"].allowed == ("new", "it's") and columns["kind"].allowed == ("a", "b")
    assert (columns["zahl"].sql_type, columns["zahl"].allowed) == ("SET", ("bar", "karte"))
    assert [(name, c.generated) for name, c in columns.items() if c.generated] == [
        ("next_id", "virtual"), ("doubled", "stored")]
    assert columns["id"].args == ()  # an INT's display width is not an argument of its type
    kinds = {name: from_column(column, found.engine) for name, column in columns.items()}
    assert {name: kind.base for name, kind in kinds.items()} == {
        "id": "int", "code": "string", "flag": "bool", "small": "int", "amount": "decimal",
        "at": "local_timestamp", "stamp": "timestamp", "status": "string", "kind": "string", "note": "string",
        "zahl": "string", "next_id": "int", "doubled": "int"}
    assert kinds["zahl"].members == ("bar", "karte") and kinds["zahl"].symbols is None
    assert kinds["amount"].scale == 3


#: Columns of the types Debezium sends in a form their name does not say, with the kind each is checked as.
POSTGRES_TYPES = {"term": ("INTERVAL", "int"), "addr": ("INET", "string"), "net": ("CIDR", "string"),
                  "mac": ("MACADDR", "string"), "doc": ("XML", "string"), "words": ("TSVECTOR", "string"),
                  "span": ("INT4RANGE", "string"), "price": ("MONEY", "decimal"), "flag": ("BIT", "bool"),
                  "bits": ("BIT", "bytes"), "more": ("BIT VARYING", "bytes"), "pt": ("POINT", "record"),
                  "at": ("TIME WITH TIME ZONE", "time"), "box": ("BOX", "any")}
MARIADB_TYPES = {"y": ("YEAR", "int"), "tags": ("SET", "string"), "raw": ("LONGBLOB", "bytes"),
                 "code": ("VARBINARY", "bytes"), "flag": ("BIT", "bool"), "bits": ("BIT", "bytes"),
                 "pt": ("POINT", "record"), "area": ("MULTIPOLYGON", "record")}


def test_the_catalogs_spell_the_types_as_the_kinds_know_them(stack: RunningStack) -> None:
    """Each engine's information_schema names these types as streams/mapping/kinds.py looks them up (a type it
    spelt otherwise would be ``any``, unchecked); BOX stays unknown (Debezium 3.6 has no mapping for it)."""
    with stack.connect_crm(autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCRATCH} CASCADE")
        conn.execute(f"CREATE SCHEMA {SCRATCH}")
        conn.execute(f"""CREATE TABLE {SCRATCH}.typed (id BIGINT PRIMARY KEY, term INTERVAL, addr INET, net CIDR,
            mac MACADDR, doc XML, words TSVECTOR, span INT4RANGE, price MONEY, flag BIT, bits BIT(3),
            more BIT VARYING(8), pt POINT, at TIME WITH TIME ZONE, box BOX)""")
        try:
            _, _, found = live(stack, "crm", SCRATCH)
        finally:
            conn.execute(f"DROP SCHEMA IF EXISTS {SCRATCH} CASCADE")
    columns = found.tables["typed"].columns
    assert {n: (c.sql_type, from_column(c, found.engine).base) for n, c in columns.items() if n != "id"} == \
        POSTGRES_TYPES
    erp = stack.connect_erp(autocommit=True)
    try:
        with erp.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {SCRATCH}")
            cursor.execute(f"CREATE DATABASE {SCRATCH}")
            cursor.execute(f"""CREATE TABLE {SCRATCH}.typed (id INT PRIMARY KEY, y YEAR, tags SET('a', 'b'),
                raw LONGBLOB, code VARBINARY(16), flag BIT(1), bits BIT(3), pt POINT, area MULTIPOLYGON)""")
        try:
            _, _, found = live(stack, "erp", SCRATCH)
        finally:
            with erp.cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS {SCRATCH}")
    finally:
        erp.close()
    columns = found.tables["typed"].columns
    assert {n: (c.sql_type, from_column(c, found.engine).base) for n, c in columns.items() if n != "id"} == \
        MARIADB_TYPES


@pytest.fixture
def postgres_read_only(stack: RunningStack) -> Iterator[tuple[str, Secret]]:
    """A schema owned by the stack's user, and a login that may only read its tables (no ownership, no grant
    but SELECT): information_schema.table_constraints shows it nothing."""
    password = secrets.token_hex(16)
    with (CrmDatabase(admin(stack)).superuser(stack.settings.crm_db_name) as root,
          stack.connect_crm(autocommit=True) as conn):
        _drop_pg_reader(root)  # left by an interrupted run
        root.execute(sql.SQL("CREATE ROLE {} LOGIN REPLICATION PASSWORD {}").format(
            sql.Identifier(READER), sql.Literal(password)))
        conn.execute(f"DROP SCHEMA IF EXISTS {SCRATCH} CASCADE")
        conn.execute(f"CREATE SCHEMA {SCRATCH}")
        conn.execute(f"""CREATE TABLE {SCRATCH}.kunden (
            name    TEXT NOT NULL,
            kd_nr   VARCHAR(20) PRIMARY KEY,
            kind    TEXT CHECK (kind IN ('a', 'b')))""")
        conn.execute(f"""CREATE TABLE {SCRATCH}.positionen (
            menge   INTEGER NOT NULL,
            pos     INTEGER NOT NULL,
            beleg   TEXT NOT NULL,
            PRIMARY KEY (beleg, pos))""")
        conn.execute(f"CREATE TABLE {SCRATCH}.protokoll (eintrag TEXT)")
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(SCRATCH), sql.Identifier(READER)))
        conn.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(
            sql.Identifier(SCRATCH), sql.Identifier(READER)))
        try:
            yield READER, Secret(password)
        finally:
            conn.execute(f"DROP SCHEMA IF EXISTS {SCRATCH} CASCADE")
            _drop_pg_reader(root)


def _drop_pg_reader(root: psycopg.Connection[Any]) -> None:
    if root.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (READER,)).fetchone() is not None:
        root.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(READER)))
        root.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(READER)))


def test_postgres_read_only_user_discovers_primary_keys(stack: RunningStack,
                                                        postgres_read_only: tuple[str, Secret]) -> None:
    _, connection, found = live(stack, "crm", SCRATCH, login=postgres_read_only)
    assert connection.user == READER
    assert {name: table.primary_key for name, table in found.tables.items()} == {
        "kunden": ("kd_nr",), "positionen": ("beleg", "pos"), "protokoll": ()}
    assert found.tables["kunden"].columns["kind"].allowed == ("a", "b")
    assert [c.nullable for c in found.tables["positionen"].columns.values()] == [False, False, False]


@pytest.fixture
def mariadb_read_only(stack: RunningStack) -> Iterator[tuple[str, Secret]]:
    """A database the stack's user created, and a login with only the connector's global grants (SELECT and
    replication): MariaDB's information_schema.table_constraints shows it nothing."""
    password = secrets.token_hex(16)
    hosts = ("127.0.0.1", "localhost", "::1")
    conn = stack.connect_erp(autocommit=True)
    try:
        with ErpDatabase(admin(stack)).root() as root, root.cursor() as grants, conn.cursor() as cursor:
            for host in hosts:
                grants.execute(f"DROP USER IF EXISTS '{READER}'@'{host}'")
                grants.execute(f"CREATE USER '{READER}'@'{host}' IDENTIFIED BY %s", (password,))
                grants.execute(f"GRANT {REPLICATION_GRANTS} ON *.* TO '{READER}'@'{host}'")
            cursor.execute(f"DROP DATABASE IF EXISTS {SCRATCH}")
            cursor.execute(f"CREATE DATABASE {SCRATCH}")
            cursor.execute(f"""CREATE TABLE {SCRATCH}.kunden (
                name    VARCHAR(80) NOT NULL,
                kd_nr   VARCHAR(20) NOT NULL PRIMARY KEY,
                kind    VARCHAR(10) CHECK (kind IN ('a', 'b')))""")
            cursor.execute(f"""CREATE TABLE {SCRATCH}.positionen (
                menge   INT NOT NULL,
                pos     INT NOT NULL,
                beleg   VARCHAR(20) NOT NULL,
                PRIMARY KEY (beleg, pos),
                UNIQUE KEY (pos))""")
            cursor.execute(f"CREATE TABLE {SCRATCH}.protokoll (eintrag TEXT, nr INT NOT NULL UNIQUE)")
            cursor.execute(f"""CREATE TABLE {SCRATCH}.adressen (
                id      INT NOT NULL PRIMARY KEY,
                kd_nr   VARCHAR(20) NOT NULL,
                CONSTRAINT fk_adr_kunde FOREIGN KEY (kd_nr) REFERENCES kunden (kd_nr) ON UPDATE CASCADE
                    ON DELETE CASCADE,
                CONSTRAINT fk_adr_protokoll FOREIGN KEY (id) REFERENCES protokoll (nr))""")
            try:
                yield READER, Secret(password)
            finally:
                cursor.execute(f"DROP DATABASE IF EXISTS {SCRATCH}")
                for host in hosts:
                    grants.execute(f"DROP USER IF EXISTS '{READER}'@'{host}'")
    finally:
        conn.close()


def test_mariadb_read_only_user_discovers_primary_keys(stack: RunningStack,
                                                       mariadb_read_only: tuple[str, Secret]) -> None:
    _, connection, found = live(stack, "erp", SCRATCH, login=mariadb_read_only)
    assert connection.user == READER
    # protokoll has no primary key: its NOT NULL UNIQUE column is not one, though column_key says PRI
    assert {name: table.primary_key for name, table in found.tables.items()} == {
        "adressen": ("id",), "kunden": ("kd_nr",), "positionen": ("beleg", "pos"), "protokoll": ()}
    assert found.tables["kunden"].columns["kind"].allowed == ("a", "b")
    # referential_constraints shows this user nothing: the rules come from SHOW CREATE TABLE
    assert [(k.name, k.table, k.columns, k.parent, k.on_update, k.on_delete) for k in found.foreign_keys] == [
        ("fk_adr_kunde", "adressen", ("kd_nr",), "kunden", "CASCADE", "CASCADE"),
        ("fk_adr_protokoll", "adressen", ("id",), "protokoll", "RESTRICT", "RESTRICT")]
    assert [k.name for k in found.unlogged_cascades()] == ["fk_adr_kunde"]
