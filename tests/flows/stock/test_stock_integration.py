"""Stock availability through the real connectors: ERP stock rows, read by Debezium, become the CRM product's
availability command (read_committed); the CRM's echo of it commands nothing, a CRM edit is corrected, and an ERP
transaction that moves several rows of a SKU commands its total after the transaction, once.

The flow runs in this process under a name of its own, from the current end of its inputs; the test writes
into the CRM what its sink would (a sink running on the shared stack may write the same)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pymysql
import pytest
from stock_config import stock_config
from support.flows import Out, RunningFlow, Watch
from support.systems import reference_systems

from reference.topics import COMMANDS_CRM
from streams.flows.context import FlowContext
from streams.flows.stock import StockFlow
from streams.stack.running import RunningStack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def watch(stack: RunningStack) -> Iterator[Watch]:
    context = FlowContext.load()
    systems = reference_systems(stack.settings.erp_time_zone)
    flow = StockFlow(schemas=context.schemas, config=stock_config(context.schemas, systems, context.mappings),
                     systems=systems, name=f"test-stock-{uuid.uuid4().hex[:8]}")
    with RunningFlow(flow.spec(), stack.settings.bootstrap_servers, context.schemas):
        watch = Watch(stack.settings.bootstrap_servers, (COMMANDS_CRM,), context.schemas)
        try:
            yield watch
        finally:
            watch.close()


def availability(watch: Watch, sku: str) -> list[Out]:
    return watch.of(sku, COMMANDS_CRM)


def test_stock_over_warehouses_reaches_the_crm_product_once_per_change_without_echoes(
        watch: Watch, crm: psycopg.Connection[dict[str, Any]], erp: pymysql.connections.Connection[Any]) -> None:
    run = random.randrange(10**7, 10**8)
    sku, warehouses = f"FTS-{run}", (f"W{run}A", f"W{run}B")
    crm.execute("INSERT INTO products (sku, name, list_price) VALUES (%s, 'Flow stock test', 9.90)", (sku,))
    with erp.cursor() as cur:
        cur.execute("INSERT INTO products (sku, description, unit_price) VALUES (%s, 'Flow stock test', 9.90)", (sku,))
        for code in warehouses:
            cur.execute("INSERT INTO warehouses (code, name) VALUES (%s, 'Flow stock test')", (code,))
        cur.execute("INSERT INTO stock (sku, warehouse_code, on_hand, reserved) VALUES (%s, %s, 10, 3)",
                    (sku, warehouses[0]))
    (first,) = watch.until("the first availability", lambda seen: availability(watch, sku))
    assert (first.value["target"], first.value["operation"]) == ("crm", "update")
    assert first.value["payload_type"] == "isthmus.canonical.ProductAvailability"
    assert first.payload["available_qty"] == "7.000" and first.value["changed_fields"] == ["available_qty"]

    with erp.cursor() as cur:
        cur.execute("INSERT INTO stock (sku, warehouse_code, on_hand, reserved) VALUES (%s, %s, 5.5, 0)",
                    (sku, warehouses[1]))
    (summed,) = watch.until("the summed availability", lambda seen: availability(watch, sku)[1:])
    assert summed.payload["available_qty"] == "12.500"
    assert summed.value["source"]["connector"] == "erp" and summed.value["source"]["table"] == "stock"

    # the CRM sink's writes come back (late and current), then a CRM user's edit: only the edit is answered
    crm.execute("UPDATE products SET available_qty = 7 WHERE sku = %s", (sku,))
    crm.execute("UPDATE products SET available_qty = 12.5 WHERE sku = %s", (sku,))
    crm.execute("UPDATE products SET available_qty = 99 WHERE sku = %s", (sku,))
    sent = watch.until("the correction", lambda seen: availability(watch, sku)[2:])
    assert [c.payload["available_qty"] for c in sent] == ["12.500"]
    assert sent[0].value["source"]["connector"] == "crm" and sent[0].value["source"]["table"] == "products"

    # one ERP transaction moves both warehouses: one command, with the total after it (none in between)
    erp.begin()
    with erp.cursor() as cur:
        cur.execute("UPDATE stock SET on_hand = 20 WHERE sku = %s AND warehouse_code = %s", (sku, warehouses[0]))
        cur.execute("UPDATE stock SET on_hand = 6 WHERE sku = %s AND warehouse_code = %s", (sku, warehouses[1]))
    erp.commit()
    moved = watch.until("the transaction's total", lambda seen: availability(watch, sku)[3:])
    assert [c.payload["available_qty"] for c in moved] == ["23.000"]
