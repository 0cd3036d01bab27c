"""`isthmus connectors snapshot`: an incremental snapshot emits a read event for every row of the table."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from support.events import Event, end_positions, read_events

from streams.stack.running import RunningStack

from .conftest import run_cli


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

    code, document = run_cli("connectors", "snapshot", connector, "--tables", table)

    assert code == 0, document
    assert document["tables"] == [f"{side}.{table}"] and document["topics"] == [topic]
    events = read_events(bootstrap, topic, since, lambda seen: rows <= read_keys(seen, field), timeout=120)
    missing = rows - read_keys(events, field)
    still_there = missing & rows_now(stack)  # a row another test deleted meanwhile is not owed an event
    assert not still_there, f"no read event for {sorted(still_there)}"
    assert set(mine) <= read_keys(events, field)
