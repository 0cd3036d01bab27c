"""Net effect per source transaction (``transactions: net``): the changes of one source transaction are folded
together and decided once, joined along Debezium's transaction topic; a partitioned flow joins in its keying
stage and decides the same."""

from __future__ import annotations

import asyncio

import pytest
from customer_events import decode_commands
from customer_harness import SETTLED_AT, Harness
from support.systems import reference_systems
from support.tx_events import one_transaction

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers import CustomerFlow
from streams.flows.engine.api import Incoming
from streams.flows.engine.local import LocalRun
from streams.flows.engine.repartition import partitioned
from streams.kafka.deadletters import REPLAY_HEADER
from streams.mapping import RecordMapping

pytestmark = pytest.mark.unit

NUMBER = "C-410001"


def test_created_updated_and_deleted_in_one_transaction_commands_nothing(harness: Harness) -> None:
    systems = harness.systems
    created = systems.crm_create(NUMBER, name="Ghost")
    edited = systems.crm_edit(NUMBER, name="Ghost Ltd")
    deleted = systems.crm_delete(NUMBER)
    assert harness.feed_transaction(created, edited, deleted) == []
    assert harness.dead_letters == [] and harness.stored(NUMBER) is not None


def test_three_updates_in_one_transaction_make_one_update(harness: Harness) -> None:
    systems = harness.systems
    harness.feed(systems.crm_create(NUMBER, name="Acme"))
    harness.settle()
    sent = harness.feed_transaction(systems.crm_edit(NUMBER, name="Acme 2"), systems.crm_edit(NUMBER, email="a@b.test"),
                                    systems.crm_edit(NUMBER, name="Acme 3"))
    assert [(s.route, set(s.changed)) for s in sent] == [(("Account", "update"), {"name", "email"})]
    assert sent[0].payload["name"] == "Acme 3"
    harness.settle()
    assert systems.accounts[NUMBER]["name"] == "Acme 3" and harness.outbox == []


def test_changes_wait_for_the_end_of_their_transaction_in_whatever_order_they_arrive(harness: Harness) -> None:
    systems = harness.systems
    harness.feed(systems.crm_create(NUMBER, name="Acme"))
    harness.settle()
    *changes, end = one_transaction([systems.crm_edit(NUMBER, name="B"), systems.crm_edit(NUMBER, name="C")])
    assert harness._feed([end, changes[0]]) == []  # the END first, one change still missing
    (sent,) = harness._feed([changes[1]])
    assert sent.route == ("Account", "update") and sent.payload["name"] == "C"


def test_each_decides_after_every_change(mappings: dict[str, RecordMapping], schemas: SchemaStore) -> None:
    """``transactions: each`` (here the constructor's override) keeps deciding change by change."""
    harness = Harness(flow=CustomerFlow(mappings=mappings, schemas=schemas, systems=reference_systems(),
                                        clock=lambda: SETTLED_AT, transactions=False), schemas=schemas)
    systems = harness.systems
    harness.feed(systems.crm_create(NUMBER, name="Acme"))
    harness.settle()
    sent = harness._feed([systems.crm_edit(NUMBER, name="B"), systems.crm_edit(NUMBER, name="C")])
    assert [s.payload["name"] for s in sent] == ["B", "C"]


def test_a_partitioned_flow_decides_a_transaction_once_too(harness: Harness) -> None:
    systems = harness.systems
    records = [*one_transaction([systems.crm_create(NUMBER, name="Acme")]),
               *one_transaction([systems.crm_edit(NUMBER, name="B"), systems.crm_edit(NUMBER, email="b@c.test"),
                                 systems.crm_edit(NUMBER, name="C")])]
    laid = partitioned(harness.flow.spec(), 3)
    stage = LocalRun(laid.stage)
    asyncio.run(stage.feed([stage.record(t, k, v) for t, k, v in records]))
    assert {e.key for e in stage.context.emitted} == {NUMBER.encode()} and len(stage.context.emitted) == 4
    flow = LocalRun(laid.flow)
    asyncio.run(flow.feed([Incoming(topic=e.topic, partition=0, offset=i, key=e.key, value=e.value,
                                    timestamp_ms=0, headers=e.headers)
                           for i, e in enumerate(stage.context.emitted)]))
    sent = decode_commands(flow.context.emitted, harness.schemas)
    assert [(s.route, set(s.changed)) for s in sent] == [
        (("Account", "create"), set()), (("Account", "update"), {"name", "email"})]
    assert sent[1].payload["name"] == "C" and flow.context.dead_letters == []


def test_a_replayed_change_of_an_ended_transaction_stands_alone(harness: Harness) -> None:
    """``isthmus topics dlq replay --as-stored`` re-produces a change with its old transaction block; that
    transaction's END was handled long ago and will not come again, so the change is not held for it."""
    systems = harness.systems
    harness.feed(systems.crm_create(NUMBER, name="Acme"))
    harness.settle()
    *changes, end = one_transaction([systems.crm_edit(NUMBER, name="Acme Ltd")])
    (first,) = harness._feed([*changes, end])
    assert first.payload["name"] == "Acme Ltd"
    harness.settle()
    topic, key, value = one_transaction([systems.crm_edit(NUMBER, name="Acme Replayed")])[0]
    replayed = harness.run.record(topic, key, value, headers=((REPLAY_HEADER, b'{"dlq_topic": "isthmus.dlq"}'),))
    start = len(harness.emitted)
    asyncio.run(harness.run.feed([replayed]))
    (sent,) = decode_commands(harness.emitted[start:], harness.schemas)
    assert sent.route == ("Account", "update") and sent.payload["name"] == "Acme Replayed"
    assert harness.dead_letters == []
