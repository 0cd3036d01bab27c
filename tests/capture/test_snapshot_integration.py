"""`isthmus connectors snapshot`: an incremental snapshot emits a read event for every row of the table, and the
command follows it through Debezium's notifications to its end: exit 0 with each table's row count, or exit 1
naming a table Debezium could not read (no primary key) and the fix."""

from __future__ import annotations

import contextlib
import io
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.events import Event, end_positions, read_events

from streams.capture.client import ConnectClient
from streams.cli.main import main
from streams.stack.running import RunningStack

from .conftest import delete_topics_of, drop_slot_when_released, run_cli


def crm_products(stack: RunningStack) -> set[Any]:
    with stack.connect_crm() as conn:
        return {row[0] for row in conn.execute("SELECT sku FROM crm.products")}


def erp_warehouses(stack: RunningStack) -> set[Any]:
    conn = stack.connect_erp()
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT code FROM warehouses")
            return {row[0] for row in cursor.fetchall()}
    finally:
        conn.close()


@pytest.fixture
def crm_rows(stack: RunningStack) -> Iterator[list[str]]:
    skus = [f"SNAP-{secrets.token_hex(4)}-{i}" for i in range(3)]
    with stack.connect_crm() as conn:
        for sku in skus:
            conn.execute("INSERT INTO crm.products (sku, name, list_price) VALUES (%s, %s, %s)",
                         (sku, "Snapshot test", Decimal("1.00")))
    yield skus
    with stack.connect_crm() as conn:
        conn.execute("DELETE FROM crm.products WHERE sku = ANY(%s)", (skus,))


@pytest.fixture
def erp_rows(stack: RunningStack) -> Iterator[list[str]]:
    codes = [f"S{secrets.token_hex(3)}{i}" for i in range(3)]
    conn = stack.connect_erp()
    try:
        with conn.cursor() as cursor:
            cursor.executemany("INSERT INTO warehouses (code, name) VALUES (%s, %s)",
                               [(code, "Snapshot test") for code in codes])
        conn.commit()
        yield codes
        with conn.cursor() as cursor:
            cursor.execute("DELETE FROM warehouses WHERE code IN %s", (codes,))
        conn.commit()
    finally:
        conn.close()


def read_keys(events: list[Event], field: str) -> set[Any]:
    return {e.key[field] for e in events if e.op == "r" and isinstance(e.key, dict)
            and e.value["source"]["snapshot"] == "incremental"}


@pytest.mark.parametrize("side", ["crm", "erp"])
def test_incremental_snapshot_reads_every_row(deployed: dict[str, Any], stack: RunningStack, side: str,
                                              request: pytest.FixtureRequest) -> None:
    if side == "crm":
        mine = request.getfixturevalue("crm_rows")
        connector, table, topic, field, rows_now = ("crm-source", "products", "crm.crm.products", "sku",
                                                    crm_products)
    else:
        mine = request.getfixturevalue("erp_rows")
        connector, table, topic, field, rows_now = ("erp-source", "warehouses", "erp.erp.warehouses", "code",
                                                    erp_warehouses)
    bootstrap = stack.settings.bootstrap_servers
    since = end_positions(bootstrap, topic)
    rows = rows_now(stack)
    assert set(mine) <= rows

    code, document = run_cli("connectors", "snapshot", connector, "--tables", table, "--timeout", "300")

    # the command returned once Debezium said the snapshot completed, with the table's count
    assert code == 0, document
    assert document["tables"] == [f"{side}.{table}"] and document["topics"] == [topic]
    assert document["notifications"] == f"{side}.notifications" and document["outcome"] == "completed"
    (scanned,) = document["scanned"]
    assert (scanned["table"], scanned["status"]) == (f"{side}.{table}", "SUCCEEDED"), document
    assert len(mine) <= scanned["rows"] <= len(rows | rows_now(stack)), document
    events = read_events(bootstrap, topic, since, lambda seen: rows <= read_keys(seen, field), timeout=120)
    missing = rows - read_keys(events, field)
    still_there = missing & rows_now(stack)  # a row another test deleted meanwhile is not owed an event
    assert not still_there, f"no read event for {sorted(still_there)}"
    assert set(mine) <= read_keys(events, field)


@dataclass(frozen=True, kw_only=True)
class OwnCapture:
    """A connector of the test's own on a schema of its own in the CRM database: ``items`` (a primary key, 5
    rows) and ``loose`` (neither a primary key nor a unique index, 3 rows, ``code`` unique in fact)."""

    name: str
    schema: str
    prefix: str
    slot: str
    root: Path


@pytest.fixture
def own_capture(stack: RunningStack, connect: ConnectClient, config_root: Path) -> Iterator[OwnCapture]:
    token = secrets.token_hex(4)
    made = OwnCapture(name=f"isthmus-snap-{token}", schema=f"isnap_{token}", prefix=f"isnap{token}",
                      slot=f"isnap_{token}", root=config_root)
    with stack.connect_crm(autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {made.schema}")
        conn.execute(f"CREATE TABLE {made.schema}.items (id INT PRIMARY KEY, name TEXT NOT NULL)")
        # no primary key and no unique index: Debezium keys a table by its first unique index when it has no primary
        # key, so only a table with neither is NO_PRIMARY_KEY
        conn.execute(f"CREATE TABLE {made.schema}.loose (code TEXT NOT NULL, note TEXT)")
        # whole before-images, as `connectors validate` asks of a keyless table (else its capture would make
        # PostgreSQL refuse its updates and deletes); it is still keyless to an incremental snapshot
        conn.execute(f"ALTER TABLE {made.schema}.loose REPLICA IDENTITY FULL")
        conn.execute(f"CREATE TABLE {made.schema}.debezium_signal (id VARCHAR(64) PRIMARY KEY, "
                     "type VARCHAR(32) NOT NULL, data VARCHAR(2048))")
        conn.execute(f"INSERT INTO {made.schema}.items SELECT n, 'item ' || n FROM generate_series(1, 5) n")
        conn.execute(f"INSERT INTO {made.schema}.loose SELECT 'L' || n, NULL FROM generate_series(1, 3) n")
    document = yaml.safe_load((config_root / "connectors" / "crm-source.yaml").read_text(encoding="utf-8"))
    document["name"] = made.name
    document["config"].update({
        "topic.prefix": made.prefix, "slot.name": made.slot, "publication.name": made.slot,
        "table.include.list": [f"{made.schema}.{t}" for t in ("items", "loose", "debezium_signal")],
        "signal.data.collection": f"{made.schema}.debezium_signal", "snapshot.mode": "no_data",
        "notification.sink.topic.name": f"{made.prefix}.notifications",
    })
    (config_root / "connectors" / f"{made.name}.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    yield made
    if connect.find_config(made.name) is not None:
        connect.delete(made.name)
    with stack.connect_crm(autocommit=True) as conn:
        conn.execute(f'DROP PUBLICATION IF EXISTS "{made.slot}"')
    drop_slot_when_released(stack, made.slot)
    with stack.connect_crm(autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {made.schema} CASCADE")
    delete_topics_of(stack, made.prefix)


def test_a_table_without_primary_key_fails_the_snapshot_naming_the_fix(own_capture: OwnCapture) -> None:
    configs = ("--configs", str(own_capture.root))
    code, document = run_cli("connectors", "deploy", own_capture.name, *configs)
    assert code == 0, document

    code, document = run_cli("connectors", "snapshot", own_capture.name, *configs, "--tables", "items,loose",
                             "--timeout", "300")

    assert code == 1, document
    schema = own_capture.schema
    assert document["outcome"] == "failed"
    assert document["scanned"] == [{"table": f"{schema}.items", "status": "SUCCEEDED", "rows": 5},
                                   {"table": f"{schema}.loose", "status": "NO_PRIMARY_KEY", "rows": 0}], document
    assert document["problem"] == f"{schema}.loose: NO_PRIMARY_KEY"
    assert (f"`isthmus connectors snapshot {own_capture.name} --tables {schema}.loose --surrogate-key <column>`"
            in document["fix"])

    # the fix it names: a unique column to read the chunks in its order
    code, document = run_cli("connectors", "snapshot", own_capture.name, *configs, "--tables", "loose",
                             "--surrogate-key", "code", "--timeout", "300")

    assert code == 0, document
    assert document["surrogate_key"] == "code"
    assert document["scanned"] == [{"table": f"{schema}.loose", "status": "SUCCEEDED", "rows": 3}], document


def test_a_signal_table_too_narrow_for_the_row_is_named_with_the_fix(own_capture: OwnCapture,
                                                                    stack: RunningStack) -> None:
    """Debezium documents the signal table's id as VARCHAR(42): the signal's id fits it; a narrower table is
    named with the error and the columns it needs, not a traceback, and nothing is asked of Debezium."""
    configs = ("--configs", str(own_capture.root))
    code, document = run_cli("connectors", "deploy", own_capture.name, *configs)
    assert code == 0, document
    signal = f"{own_capture.schema}.debezium_signal"
    with stack.connect_crm(autocommit=True) as conn:
        conn.execute(f"ALTER TABLE {signal} ALTER COLUMN id TYPE VARCHAR(16)")

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["connectors", "snapshot", own_capture.name, *configs, "--tables", "items", "--timeout", "60"])

    assert code == 2, (out.getvalue(), err.getvalue())
    said = err.getvalue()
    assert "the signal row (40-character id" in said and f"could not be written into {signal}" in said, said
    assert "StringDataRightTruncation" in said and "id VARCHAR(42) or wider" in said, said
    assert "Traceback" not in said, said
    with stack.connect_crm(autocommit=True) as conn:
        assert conn.execute(f"SELECT count(*) FROM {signal}").fetchone() == (0,)
        conn.execute(f"ALTER TABLE {signal} ALTER COLUMN id TYPE VARCHAR(42)")  # as Debezium's docs make it

    code, document = run_cli("connectors", "snapshot", own_capture.name, *configs, "--tables", "items",
                             "--timeout", "300")
    assert code == 0, document
    assert document["scanned"] == [{"table": f"{own_capture.schema}.items", "status": "SUCCEEDED", "rows": 5}]
