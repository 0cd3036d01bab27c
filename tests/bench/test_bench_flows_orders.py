"""The flow benchmark measures the orders flow on the customers mix (the CRM customer and ERP account changes it
reads for its parties and balances; the contacts and addresses are not its inputs) and on the orders mix (an
order and its lines in one CRM transaction, to the ERP and its status back), every record taken (no dead
letter)."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from bench.debezium import ORDER_CHANGES, Debezium, customer_sync, end_of, order_changes
from bench.flows import FLOW_MIXES, build, feed
from streams.flows.context import FlowContext

pytestmark = pytest.mark.unit


def test_the_orders_flow_is_measured_on_the_customer_and_account_changes_it_reads() -> None:
    assert FLOW_MIXES["isthmus-orders"] == ("customers", "orders")
    spec = build(["isthmus-orders"], FlowContext.load(env={}))[0]
    result = asyncio.run(feed(spec, customer_sync(Debezium(), 3), mix="customers", keys=3))
    assert result.dead_letters == 0
    assert {k: c.records for k, c in result.kinds.items()} == {
        "crm customer create": 3, "erp account echo": 3, "crm customer link-back": 3}
    assert not result.emitted, "no order, no balance: nothing to command or publish"
    assert result.cpu_s > 0


def test_an_order_and_its_lines_come_in_one_transaction_closed_by_one_end() -> None:
    changes = list(order_changes(Debezium(), 1))
    assert [c.kind for c in changes] == [kind for kind, n in ORDER_CHANGES for _ in range(n)]
    header, first, second = changes[2:5]
    blocks = [orjson.loads(c.value)["payload"]["transaction"] for c in (header, first, second)]
    assert {b["id"] for b in blocks} == {blocks[0]["id"]}
    assert [(b["total_order"], b["data_collection_order"]) for b in blocks] == [(1, 1), (2, 1), (3, 2)]
    assert end_of(header) is None and end_of(first) is None
    end = end_of(second)
    assert end is not None and end.topic == "crm.transaction"
    assert orjson.loads(end.value)["payload"]["data_collections"] == [
        {"data_collection": "crm.sales_orders", "event_count": 1},
        {"data_collection": "crm.sales_order_lines", "event_count": 2}]


def test_the_orders_mix_is_an_order_to_cash_the_flow_completes() -> None:
    """Per order: the ERP create, the CRM write-back of the ERP's status and id, the reconciled record published
    on the create and again on the ERP's echo."""
    spec = build(["isthmus-orders"], FlowContext.load(env={}))[0]
    result = asyncio.run(feed(spec, order_changes(Debezium(), 3), mix="orders", keys=3))
    assert result.dead_letters == 0
    assert {k: c.records for k, c in result.kinds.items()} == {k: 3 * n for k, n in ORDER_CHANGES}
    assert result.emitted == {"isthmus.commands.erp": 3, "isthmus.commands.crm": 3,
                              "isthmus.canonical.reconciled-orders": 6}
