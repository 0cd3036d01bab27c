"""The flow benchmark measures the orders flow on the customers mix: the CRM customer and ERP account changes it
reads for its parties and balances, every one of them taken (no dead letter), the contacts and addresses not
fed (they are not its inputs)."""

from __future__ import annotations

import asyncio

import pytest

from bench.debezium import Debezium, customer_sync
from bench.flows import FLOW_MIXES, build, feed
from streams.flows.context import FlowContext

pytestmark = pytest.mark.unit


def test_the_orders_flow_is_measured_on_the_customer_and_account_changes_it_reads() -> None:
    assert FLOW_MIXES["isthmus-orders"] == ("customers",)
    spec = build(["isthmus-orders"], FlowContext.load(env={}))[0]
    result = asyncio.run(feed(spec, customer_sync(Debezium(), 3), mix="customers", keys=3))
    assert result.dead_letters == 0
    assert {k: c.records for k, c in result.kinds.items()} == {
        "crm customer create": 3, "erp account echo": 3, "crm customer link-back": 3}
    assert not result.emitted, "no order, no balance: nothing to command or publish"
    assert result.cpu_s > 0
