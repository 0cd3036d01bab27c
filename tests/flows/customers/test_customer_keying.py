"""The customer flow in N partitions: its keying stage routes every record by customer number (contacts and
addresses through the CRM customer id they name, held until that customer is routed), and the flow run per
partition on what the stage emitted commands exactly what the one-partition flow commands."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict

from aiokafka.partitioner import DefaultPartitioner
from customer_events import Sent, decode_commands
from customer_harness import Harness
from support.tx_events import with_ends

from streams.flows.engine.api import Incoming
from streams.flows.engine.local import LocalRun
from streams.flows.engine.repartition import partitioned

PARTITIONS = 3
NUMBERS = [f"C-40000{i}" for i in range(6)]


def _scenario(harness: Harness) -> None:
    """Customers, contacts and addresses before and after their customer, edits on both sides, deletes
    whose before-image holds only the key, an ERP account the CRM does not know; every command applied."""
    systems = harness.systems
    for number in NUMBERS:
        customer = systems.crm_create(number, name=f"Firm {number}")
        harness.feed(systems.crm_address(number, "billing", line1=f"{number} Road"))  # before its customer
        harness.feed(customer)
        harness.feed(systems.crm_contact(number, first_name="Li", last_name=number))
    harness.settle()
    for number in NUMBERS[::2]:
        harness.feed(systems.crm_edit(number, email=f"{number.lower()}@firm.test"))
        harness.feed(systems.erp_edit(number, credit_limit="900.00"))
        harness.feed(systems.crm_address(number, "shipping", line1="9 Dock Street"))
    harness.settle()
    contact_id = next(iter(systems.contacts))
    harness.feed(systems.crm_contact_delete(contact_id))
    harness.feed(systems.crm_address_delete(NUMBERS[1], "billing"))
    harness.feed(systems.crm_delete(NUMBERS[3]))
    harness.settle()


def _partitioned_commands(harness: Harness, marks: dict[tuple[str, int], int] | None = None,
                          ) -> tuple[list[Sent], Counter[int], dict[str, set[int]]]:
    """Replay what the harness fed through the keying stage, then each partition through its own flow; ``marks``:
    where the history a previous layout acted on ends (streams/flows/engine/history.py)."""
    laid = partitioned(harness.flow.spec(), PARTITIONS)
    laid.history.marks = dict(marks or {})
    stage = LocalRun(laid.stage)
    asyncio.run(stage.feed([stage.record(t, k, v) for t, k, v in harness.fed]))
    by_partition: dict[int, list[Incoming]] = defaultdict(list)
    partitioner = DefaultPartitioner()
    for offset, out in enumerate(stage.context.emitted):
        assert out.topic == laid.topic.name and out.key is not None
        p = partitioner(out.key, list(range(PARTITIONS)), list(range(PARTITIONS)))
        by_partition[p].append(Incoming(topic=out.topic, partition=p, offset=offset, key=out.key, value=out.value,
                                        timestamp_ms=0, headers=out.headers))
    sent: list[Sent] = []
    keys: dict[str, set[int]] = defaultdict(set)
    for p, records in by_partition.items():
        flow = LocalRun(laid.flow)
        asyncio.run(flow.feed(records))
        assert flow.context.dead_letters == []
        for command in decode_commands(flow.context.emitted, harness.schemas):
            sent.append(command)
            keys[command.key].add(p)
    assert stage.context.dead_letters == [] and len(stage.context.memory["held"]) == 0
    return sent, Counter({p: len(r) for p, r in by_partition.items()}), keys


def test_partitioned_flow_commands_exactly_what_the_one_partition_flow_does(harness: Harness) -> None:
    _scenario(harness)
    assert harness.dead_letters == []
    sent, per_partition, partitions_of_key = _partitioned_commands(harness)
    assert Counter(s.record["idempotency_key"] for s in sent) == Counter(
        s.record["idempotency_key"] for s in harness.sent)
    assert len(per_partition) > 1, "the customers all landed in one partition"
    assert all(len(ps) == 1 for ps in partitions_of_key.values()), "one customer's commands from two partitions"


def test_contact_and_address_wait_in_the_stage_until_their_customer_is_routed(harness: Harness) -> None:
    systems = harness.systems
    customer = systems.crm_create(NUMBERS[0], name="Acme")
    early = [systems.crm_contact(NUMBERS[0], first_name="Early", last_name="Bird"),
             systems.crm_address(NUMBERS[0], "billing")]
    laid = partitioned(harness.flow.spec(), PARTITIONS)
    stage = LocalRun(laid.stage)
    asyncio.run(stage.feed([stage.record(t, k, v) for t, k, v in with_ends(early)]))
    assert stage.context.emitted == [] and len(stage.context.memory["held"]) == 3  # both, and their index
    asyncio.run(stage.feed([stage.record(*r) for r in with_ends([customer])]))
    emitted = stage.context.emitted
    assert [e.key for e in emitted] == [NUMBERS[0].encode()] * 3
    assert [dict(e.headers)["isthmus.origin"].decode().split('"')[3] for e in emitted] == [
        customer[0], early[0][0], early[1][0]]
    assert len(stage.context.memory["held"]) == 0


def test_key_only_delete_follows_the_row_to_its_customer(harness: Harness) -> None:
    systems = harness.systems
    records = [systems.crm_create(NUMBERS[1], name="Acme"), systems.crm_contact(NUMBERS[1], first_name="Li")]
    (contact_id,) = systems.contacts
    records.append(systems.crm_contact_delete(contact_id))
    stage = LocalRun(partitioned(harness.flow.spec(), PARTITIONS).stage)
    asyncio.run(stage.feed([stage.record(t, k, v) for t, k, v in with_ends(records)]))
    assert [e.key for e in stage.context.emitted] == [NUMBERS[1].encode()] * 3
    assert len(stage.context.memory["rows"]) == 0


def test_a_new_layout_commands_only_what_follows_the_history_the_one_partition_flow_acted_on(
        harness: Harness) -> None:
    """1 -> 3 with the one-partition flow's committed offsets as the marks: the history rebuilds the state of the
    three partitions and sends nothing (the trial's old e-mails under new keys); the edits after it command
    exactly what the one-partition flow commands for them, from the state rebuilt."""
    _scenario(harness)
    acted_on = Counter(topic for topic, _, _ in harness.fed)
    before = len(harness.sent)
    systems = harness.systems
    for number in NUMBERS[:3]:
        harness.feed(systems.crm_edit(number, email=f"later-{number.lower()}@firm.test"))
    harness.feed(systems.erp_edit(NUMBERS[4], credit_limit="1200.00"))
    harness.settle()
    after = harness.sent[before:]
    assert after, "the edits after the history command nothing at all"
    sent, _, _ = _partitioned_commands(harness, marks={(topic, 0): n for topic, n in acted_on.items()})
    assert sorted((s.record["idempotency_key"], s.key) for s in sent) == sorted(
        (s.record["idempotency_key"], s.key) for s in after)
