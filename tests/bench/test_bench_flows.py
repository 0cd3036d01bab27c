"""The flow benchmark's generated records are real Debezium records that the flows take without a dead letter,
and its figures become rows with the issue's target on the customer flow's sync mix alone."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from bench.debezium import (
    CUSTOMER_SYNC,
    STOCK_CHANGES,
    Debezium,
    customer_sync,
    customer_sync_in_transactions,
    end_of,
    stock_changes,
)
from bench.flows import FLOW_MIXES, MIXES, build, feed, rows
from streams.codecs import ChangeEvent, Op, decode
from streams.flows.context import FlowContext

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def context() -> FlowContext:
    return FlowContext.load(env={})


def test_generated_records_decode_as_the_connectors_changes() -> None:
    changes = list(customer_sync(Debezium(), 2)) + list(stock_changes(Debezium(), 1))
    assert Counter(c.kind for c in changes[:7]) == dict(CUSTOMER_SYNC)
    assert Counter(c.kind for c in changes[14:]) == dict(STOCK_CHANGES)
    assert all(b"fixture_" not in c.key + c.value for c in changes), "schema names follow the record's topic"
    events = [decode(c.value, c.key, topic=c.topic) for c in changes]
    assert all(isinstance(e, ChangeEvent) for e in events)
    first, echo, linked = events[0], events[5], events[6]
    assert isinstance(first, ChangeEvent) and isinstance(echo, ChangeEvent) and isinstance(linked, ChangeEvent)
    assert (first.table, first.op, first.after["customer_number"]) == ("customers", Op.CREATE, "C-0000001")
    assert (echo.table, echo.after["crm_customer_number"], echo.after["account_id"]) == ("accounts", "C-0000001", 1)
    assert (linked.op, linked.before["erp_account_id"], linked.after["erp_account_id"]) == (Op.UPDATE, None, 1)
    assert str(linked.after["credit_limit"]) == "1500.00"
    second = events[7]
    assert isinstance(second, ChangeEvent) and second.after["customer_number"] == "C-0000002"


def test_the_customer_sync_mix_is_a_sync_the_flow_completes(context: FlowContext) -> None:
    """Per customer: the account create, its billing address update, the link back; one canonical record (the
    bench feeds one batch, and the flow publishes a key once per batch); every echo recognised (no conflict, no
    dead letter)."""
    spec = build(["isthmus-customers"], context)[0]
    result = asyncio.run(feed(spec, customer_sync(Debezium(), 3), mix="customers", keys=3))
    assert result.dead_letters == 0
    assert {k: c.records for k, c in result.kinds.items()} == {k: 3 * n for k, n in CUSTOMER_SYNC}
    assert result.emitted == {"isthmus.commands.erp": 6, "isthmus.commands.crm": 3, "isthmus.canonical.customers": 3}
    assert result.cpu_s > 0


def test_the_customer_sync_in_transactions_makes_one_account_create_per_customer(context: FlowContext) -> None:
    """Each customer's insert, contacts and addresses in one CRM transaction (as the CRM's API writes them): the
    flow decides once, after the END, so the ERP gets one create carrying the billing address and no update."""
    spec = build(["isthmus-customers"], context)[0]
    changes = list(customer_sync_in_transactions(Debezium(), 3))
    ends = [end_of(c) for c in changes]
    assert sum(e is not None and b'"event_count":5' in e.value for e in ends) == 3  # one END of 5 changes each
    result = asyncio.run(feed(spec, changes, mix="customers-tx", keys=3))
    assert result.dead_letters == 0
    assert {k: c.records for k, c in result.kinds.items()} == {k: 3 * n for k, n in CUSTOMER_SYNC}
    assert result.emitted == {"isthmus.commands.erp": 3, "isthmus.commands.crm": 3, "isthmus.canonical.customers": 3}


def test_every_measured_flow_takes_its_mixes_without_a_dead_letter(context: FlowContext) -> None:
    for spec in build(FLOW_MIXES, context):
        for mix in FLOW_MIXES[spec.name]:
            result = asyncio.run(feed(spec, MIXES[mix](Debezium(), 2), mix=mix, keys=2))
            assert result.records and not result.dead_letters, (spec.name, mix)


def test_rows_put_the_target_on_the_customer_sync_mix_only() -> None:
    def run(flow: str, mix: str, per_s: float) -> dict[str, object]:
        return {"flow": flow, "mix": mix, "keys": 10_000, "records": 70_000, "us_per_record": 1e6 / per_s,
                "records_per_cpu_s": per_s, "kinds": {"crm customer create": {"us_per_record": 450.0}}}

    result: dict[str, object] = {
        "runs": [run("isthmus-customers", "customers", 2_200), run("isthmus-canonical", "customers", 25_000)],
        "decode": {"crm customer create": {"records": 10, "us_per_record": 61.0}},
        "target_records_per_cpu_s": 20_000}
    made = rows(result, machine="m", measured="today")
    assert [r.figure for r in made][:2] == [
        "isthmus-customers, customers mix, 10,000 keys: CPU per source record (70,000)",
        "isthmus-customers, customers mix, 10,000 keys: per record kind, µs"]
    assert (made[0].value, made[0].target, made[0].met) == (
        "455 µs (2,200 records/CPU-s)", "≥ 20,000 records/CPU-s", "**no**")
    assert made[1].value == "crm customer create 450"
    assert (made[2].target, made[2].met) == ("", ""), "the issue's target is the customer flow's"
    assert made[-1].value == "crm customer create 61"
