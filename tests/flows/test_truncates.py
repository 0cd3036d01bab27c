"""A truncated source table is never dropped silently: each reference flow that reads the truncate event (Debezium's
op ``t``, sent when the connector's ``skipped.operations`` leaves truncates in) logs a WARNING naming itself, the
table and where it read it, counts ``truncates`` and holds it on ``isthmus.holds`` (cause ``truncated``); it changes
nothing else: no command, no canonical record, no dead letter. The events are the captured fixtures made truncates,
as Debezium writes them (no key, no images), alone and inside their source transaction."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from typing import Any

import pytest
from support.envelopes import captured_change

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.context import FlowContext
from streams.flows.customers.keying import CustomerKeys
from streams.flows.engine.api import FlowSpec
from streams.flows.engine.local import LocalRun
from streams.flows.engine.staging import RecordContext
from streams.flows.parked import HOLD_SCHEMA
from streams.flows.registry import build_flows
from streams.flows.topics import HOLDS
from streams.flows.truncates import COUNTED, TRUNCATED

pytestmark = pytest.mark.unit

ENV = {"ISTHMUS_ERP_TIME_ZONE": "Asia/Shanghai"}


@pytest.fixture(scope="module")
def flows() -> dict[str, FlowSpec]:
    built = build_flows(FlowContext.load(env=ENV), env=ENV)
    return {spec.name: spec for spec in built.flows}


@pytest.fixture(scope="module")
def schemas() -> SchemaStore:
    return SchemaStore.from_directory()


def truncate_of(name: str, *, in_transaction: bool = False) -> tuple[str, bytes]:
    """The captured change ``name`` as the truncate of its table: its topic and value (the key is null)."""
    data = copy.deepcopy(captured_change(name))
    payload = data["value"]["payload"]
    payload.update(op="t", before=None, after=None)
    if not in_transaction:
        payload["transaction"] = None
    return data["topic"].removeprefix("fixture_"), json.dumps(data["value"]).encode()


def end_of(transaction_id: str, collection: str) -> tuple[str, bytes, bytes]:
    """A PostgreSQL END of ``transaction_id`` that counts one event of ``collection``: topic, key, value."""
    data = copy.deepcopy(captured_change("crm_transaction_end_1"))
    data["value"]["payload"].update(id=transaction_id, event_count=1,
                                    data_collections=[{"data_collection": collection, "event_count": 1}])
    data["key"]["payload"]["id"] = transaction_id
    return (data["topic"].removeprefix("fixture_"), json.dumps(data["key"]).encode(),
            json.dumps(data["value"]).encode())


def holds(ctx: RecordContext, schemas: SchemaStore) -> list[tuple[bytes | None, dict[str, Any]]]:
    return [(e.key, dict(schemas.decode(e.value, HOLD_SCHEMA).value)) for e in ctx.emitted
            if e.topic == HOLDS and e.value is not None]


@pytest.mark.parametrize(("flow", "fixture", "origin"), [
    ("isthmus-customers", "crm_customers_u_1", "crm"),
    ("isthmus-orders", "crm_sales_orders_c_1", "crm"),
    ("isthmus-stock", "erp_stock_u_1", "erp"),
    ("isthmus-canonical", "erp_invoices_c_1", "erp"),
])
def test_a_flow_that_reads_a_truncate_says_so_counts_it_and_holds_it(
        flows: dict[str, FlowSpec], schemas: SchemaStore, caplog: pytest.LogCaptureFixture,
        flow: str, fixture: str, origin: str) -> None:
    spec = flows[flow]
    topic, value = truncate_of(fixture)
    assert topic in spec.inputs and HOLDS in spec.outputs
    run = LocalRun(spec)
    with caplog.at_level(logging.WARNING, logger="streams.flows.truncates"):
        ctx = asyncio.run(run.feed([run.record(topic, None, value)]))

    assert ctx.dead_letters == []
    ((key, hold),) = holds(ctx, schemas)
    assert [e.topic for e in ctx.emitted] == [HOLDS], "nothing but the hold: no command, no canonical record"
    assert key == f"{flow}:truncate:{topic}".encode() and hold["entity_key"] == key.decode()
    assert (hold["state"], hold["cause"], hold["flow"], hold["origin"]) == ("held", TRUNCATED, flow, origin)
    assert hold["parked"] == f"{topic}/0@0"
    table = f"{origin}.{topic.rpartition('.')[2]}"
    assert f"table {table} was truncated" in hold["message"] and 'README.md, "TRUNCATE"' in hold["message"]
    assert ctx.counts[COUNTED] == 1
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.startswith(f"{flow}: {topic}/0@0: table {table} was truncated")
    assert "nothing was deleted or deactivated" in warning and "DELETE" in warning


def test_a_truncate_in_a_source_transaction_is_said_when_the_transaction_ends(
        flows: dict[str, FlowSpec], schemas: SchemaStore) -> None:
    """Debezium counts a truncate in its transaction's END: the entity flow's join waits for it like any change,
    and the transaction is complete, not abandoned."""
    run = LocalRun(flows["isthmus-customers"])
    topic, value = truncate_of("crm_customers_u_1", in_transaction=True)  # transaction 817
    end_topic, end_key, end_value = end_of("817:27479792", "crm.customers")
    ctx = asyncio.run(run.feed([run.record(topic, None, value)]))
    assert holds(ctx, schemas) == []  # waits for its END
    ctx = asyncio.run(run.feed([run.record(end_topic, end_key, end_value)]))
    assert ctx.dead_letters == []
    ((_, hold),) = holds(ctx, schemas)
    assert hold["cause"] == TRUNCATED and ctx.counts[COUNTED] == 1
    assert "transactions_abandoned" not in ctx.counts


def test_the_document_flow_joins_a_truncate_and_maps_nothing_of_it(
        flows: dict[str, FlowSpec], schemas: SchemaStore) -> None:
    """The orders flow maps a transaction whole before using it; a truncate in it has no row to map, and the
    transaction still goes through (it failed on the missing row before)."""
    run = LocalRun(flows["isthmus-orders"])
    topic, value = truncate_of("crm_sales_orders_c_1", in_transaction=True)
    transaction = captured_change("crm_sales_orders_c_1")["value"]["payload"]["transaction"]["id"]
    end_topic, end_key, end_value = end_of(f"{transaction.partition(':')[0]}:99999999", "crm.sales_orders")
    ctx = asyncio.run(run.feed([run.record(topic, None, value), run.record(end_topic, end_key, end_value)]))
    assert ctx.dead_letters == []
    ((_, hold),) = holds(ctx, schemas)
    assert hold["cause"] == TRUNCATED and ctx.counts[COUNTED] == 1


def test_the_keying_stage_of_a_fleet_passes_a_truncate_to_the_keyed_flow(flows: dict[str, FlowSpec]) -> None:
    """A truncate names no row, so no key: the customers' keying stage sends it on (to any partition) for the keyed
    flow to say, rather than parking it for a customer that never comes."""
    spec = flows["isthmus-customers"]
    assert isinstance(spec.key_by, CustomerKeys)
    topic, value = truncate_of("crm_contacts_c_1")
    run = LocalRun(spec)
    record = run.record(topic, None, value)
    routed = spec.key_by.route(record, run.context.stores)
    assert [(key, sent.topic, sent.value) for key, sent in routed] == [(None, topic, value)]
