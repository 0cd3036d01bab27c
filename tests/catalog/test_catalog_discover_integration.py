"""Discovery against the live databases: the checked-in columns files of the reference pair are current (the
drift check: it fails when reference/*/schema.sql changes without re-discovering), and a scratch table of each
engine is read with its types, nullability, allowed values and primary key."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.stack_offer import stack_runtime

from streams.catalog import Catalog, differences, path_for, read
from streams.catalog.live import Connection, connection_for, discover
from streams.cli.main import main
from streams.mapping.kinds import from_column
from streams.stack.running import RunningStack
from streams.systems import SystemSpec, TopicNaming, load_systems

SCRATCH = "isthmus_catalog_scratch"  # the stack's user may create databases named isthmus_%


def live(stack: RunningStack, name: str, namespace: str | None = None) -> tuple[SystemSpec, Connection, Catalog]:
    systems = load_systems()
    spec = systems[name]
    if namespace is not None:
        spec = dataclasses.replace(spec, topics=TopicNaming(prefix=spec.topics.prefix, namespace=namespace))
    connection = connection_for(spec, variables=stack_runtime(stack.settings).capture.variables, env="local")
    return spec, connection, discover(spec, connection)


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
    kinds = {name: from_column(column) for name, column in columns.items()}
    assert {name: kind.base for name, kind in kinds.items()} == {
        "a": "int", "b": "string", "amount": "decimal", "at": "local_timestamp", "at_tz": "timestamp",
        "mood": "string", "kind": "string", "flag": "bool", "day": "date", "doc": "any"}
    assert kinds["amount"].scale == 4


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
                PRIMARY KEY (code, id))""")
        yield SCRATCH
    finally:
        with conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {SCRATCH}")
        conn.close()


def test_mariadb_scratch_table(stack: RunningStack, mariadb_scratch: str) -> None:
    _, _, found = live(stack, "erp", mariadb_scratch)
    assert list(found.tables) == ["things"] and found.engine == "mariadb"
    things = found.tables["things"]
    assert things.primary_key == ("code", "id")
    columns = things.columns
    assert list(columns) == ["id", "code", "flag", "small", "amount", "at", "stamp", "status", "kind", "note"]
    assert [c.nullable for c in columns.values()] == [False, False, False, True, True, True, True, False, True, True]
    assert (columns["flag"].sql_type, columns["flag"].args) == ("TINYINT", ("1",))
    assert (columns["amount"].sql_type, columns["amount"].args) == ("DECIMAL", ("12", "3"))
    assert (columns["at"].sql_type, columns["at"].args) == ("DATETIME", ("3",))
    assert columns["status"].allowed == ("new", "it's") and columns["kind"].allowed == ("a", "b")
    assert columns["id"].args == ()  # an INT's display width is not an argument of its type
    kinds = {name: from_column(column) for name, column in columns.items()}
    assert {name: kind.base for name, kind in kinds.items()} == {
        "id": "int", "code": "string", "flag": "bool", "small": "int", "amount": "decimal",
        "at": "local_timestamp", "stamp": "timestamp", "status": "string", "kind": "string", "note": "string"}
    assert kinds["amount"].scale == 3
