"""The orders flow reads its target's refusals through its results stage: the results topic (the command
topics' partition count) is no input of the flow, whose inputs stay co-partitioned; the stage passes on only a
refused create of an order, keyed by the order; the flow gets it as read from the results topic."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

from order_events import Cdc, Change, Rec, crm_customer, crm_line, crm_order, erp_account
from order_harness import Harness, Sent

from reference.topics import CRM_CUSTOMERS, CRM_SALES_ORDER_LINES, CRM_SALES_ORDERS, ERP_ACCOUNTS
from streams.codecs.avro.single_object import SchemaStore
from streams.flows.engine.api import FlowSpec
from streams.flows.engine.local import LocalRun
from streams.flows.engine.repartition import layout, relay
from streams.flows.orders.refusals import RefusalKeys
from streams.sinks.topics import results_topic

NUMBER = "SO-000041"
RESULTS = results_topic("erp")


def result(schemas: SchemaStore, *, status: int, payload_type: str = "isthmus.canonical.SalesOrder",
           key: str = "k-1", command_id: str = "c-1", operation: str = "create") -> bytes:
    value = {"command_id": command_id, "idempotency_key": key, "target": "erp", "operation": operation,
             "entity_type": payload_type, "entity_key": NUMBER, "payload_type": payload_type, "status": status,
             "assigned_ids": {}, "response": json.dumps({"error": "account 11 is inactive", "field": "account_id"}),
             "applied_at": dt.datetime(2026, 3, 10, tzinfo=dt.UTC), "attempts": 1, "replayed": False,
             "correlation_id": NUMBER, "command_created_at": None}
    return schemas.encode("isthmus.canonical.CommandResult", value)


def test_the_results_topic_is_read_by_the_flows_stage_not_by_the_flow(harness: Harness) -> None:
    spec = harness.flow.spec()
    assert RESULTS not in spec.inputs and "isthmus-orders-results-by-key" in spec.inputs
    (stage,) = spec.feeders
    assert (stage.name, stage.inputs, stage.stores) == ("isthmus-orders-results-keying", (RESULTS,), ())
    assert [f.name for f in layout([spec], 1).flows] == ["isthmus-orders-results-keying", "isthmus-orders"]


def test_the_stage_passes_on_only_a_refused_create_of_an_order_keyed_by_the_order(schemas: SchemaStore) -> None:
    keys = RefusalKeys(schemas, "isthmus.canonical.SalesOrder")
    run = LocalRun(stage_of(keys))
    refused, applied, account, broken = (
        run.record(RESULTS, b"x", result(schemas, status=409)), run.record(RESULTS, b"x", result(schemas, status=201)),
        run.record(RESULTS, b"x", result(schemas, status=409, payload_type="isthmus.canonical.Account")),
        run.record(RESULTS, b"x", b"not avro"))
    assert keys.route(refused, {}) == [(NUMBER, refused)]
    assert keys.route(applied, {}) == [] and keys.route(account, {}) == []
    assert keys.route(broken, {}) == [(None, broken)]  # the flow dead-letters it with the reason


def test_the_stage_passes_on_a_refused_update_of_an_order_too_but_no_other_operation(schemas: SchemaStore) -> None:
    """An origin edit sent as an update (flows/orders.yaml ``update:``) that the target refuses holds the order."""
    keys = RefusalKeys(schemas, "isthmus.canonical.SalesOrder")
    run = LocalRun(stage_of(keys))
    update, cancel = (run.record(RESULTS, b"x", result(schemas, status=409, operation=operation))
                      for operation in ("update", "cancel"))
    assert keys.route(update, {}) == [(NUMBER, update)]
    assert keys.route(cancel, {}) == []


def stage_of(keys: RefusalKeys) -> FlowSpec:
    return relay("probe", RESULTS, keys, what="results")[0]


def refused_create(harness: Harness, cdc: Cdc) -> Sent:
    customer = cdc.crm_transaction([Change(CRM_CUSTOMERS, "c", after=crm_customer(1, "C-000001"))]).in_order
    account: Rec = cdc.erp(ERP_ACCOUNTS, "c", before=None, after={**erp_account(11, "C-000001"), "active": 0})
    order = cdc.crm_transaction([Change(CRM_SALES_ORDERS, "c", after=crm_order(21, NUMBER, 1)),
                                 Change(CRM_SALES_ORDER_LINES, "c", after=crm_line(31, 21, 1, "SKU-1"))]).in_order
    (create,) = harness.commands(harness.feed(customer, account, order))
    return create


def test_the_flow_holds_the_order_with_the_refusal_as_read_from_the_results_topic(
        harness: Harness, cdc: Cdc, schemas: SchemaStore) -> None:
    create = refused_create(harness, cdc)
    value = result(schemas, status=409, key=create.record["idempotency_key"], command_id=create.record["command_id"])
    run = harness.run
    for _ in range(7):
        run.record(RESULTS, None, None, partition=2)  # the refusal is the 8th record of partition 2
    incoming = run.record(RESULTS, NUMBER.encode(), value, partition=2)
    before = len(run.context.emitted)
    asyncio.run(run.feed([incoming]))
    (status,) = harness.commands(run.context.emitted[before:])
    assert status.payload["status"] == "on_hold"
    source = status.record["source"]
    assert (source["topic"], source["partition"], source["offset"]) == (RESULTS, 2, 7)
    assert run.context.dead_letters == []


def test_released_after_the_crms_on_hold_echo_it_goes_as_refused_with_its_first_key(
        harness: Harness, cdc: Cdc, schemas: SchemaStore) -> None:
    """The CRM's on_hold (the sink's write, back through CDC) changes the document's status but is no edit: the
    reactivation sends the create that was refused, with its key, not a new command."""
    create = refused_create(harness, cdc)
    harness.feed(Rec(RESULTS, NUMBER.encode(), result(
        schemas, status=409, key=create.record["idempotency_key"], command_id=create.record["command_id"])))
    echo = cdc.crm_transaction([Change(CRM_SALES_ORDERS, "u", before=crm_order(21, NUMBER, 1),
                                       after=crm_order(21, NUMBER, 1, status="on_hold"))]).in_order
    assert harness.commands(harness.feed(echo)) == []
    reactivated = {**erp_account(11, "C-000001"), "active": 1}
    (again,) = harness.commands(harness.feed(cdc.erp(ERP_ACCOUNTS, "u", before={**reactivated, "active": 0},
                                                     after=reactivated)))
    assert again.record["idempotency_key"] == create.record["idempotency_key"]
    assert again.payload == create.payload
