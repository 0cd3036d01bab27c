"""A source transaction of more changes than the flow's ``transaction_limit`` is folded in parts of that many
(a bulk load committed at once is not held whole in memory); the parts are counted, and the transactions
committed after it still wait for its last part."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest
from customer_events import decode_commands
from customer_harness import SETTLED_AT, Harness
from support.systems import reference_systems
from test_entity_section import REFERENCE, _line, _load
from tx_events import one_transaction

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers import CustomerFlow
from streams.flows.customers.config import TRANSACTION_LIMIT
from streams.flows.engine.api import Incoming
from streams.flows.engine.local import LocalRun
from streams.flows.engine.repartition import partitioned
from streams.flows.exceptions import FlowFileError
from streams.flows.orders.txjoin import SPLIT
from streams.mapping import RecordMapping

pytestmark = pytest.mark.unit


def _limited(mappings: dict[str, RecordMapping], schemas: SchemaStore, limit: int) -> Harness:
    config = CustomerFlow(mappings=mappings, schemas=schemas, systems=reference_systems()).config
    assert config.transaction_limit == TRANSACTION_LIMIT  # the flow file leaves it out: the default
    flow = CustomerFlow(mappings=mappings, schemas=schemas, systems=reference_systems(), clock=lambda: SETTLED_AT,
                        config=dataclasses.replace(config, transaction_limit=limit))
    return Harness(flow=flow, schemas=schemas)


def _created(sent: list) -> list[str]:  # type: ignore[type-arg]
    return [s.key for s in sent if s.route == ("Account", "create")]


def _join(harness: Harness) -> dict[str, object]:
    return dict(harness.run.context.memory["tx-crm"].items())


def _held(harness: Harness) -> list[str]:
    return sorted(k for k in _join(harness) if k.startswith("ev:"))


def test_a_transaction_past_the_limit_is_folded_in_parts_of_that_many(mappings: dict[str, RecordMapping],
                                                                       schemas: SchemaStore) -> None:
    harness = _limited(mappings, schemas, 2)
    systems = harness.systems
    numbers = [f"C-4200{n:02d}" for n in range(5)]
    *changes, end = one_transaction([systems.crm_create(n, name=f"Bulk {n}") for n in numbers])
    assert harness._feed(changes[:1]) == [] and len(_held(harness)) == 1
    assert _created(harness._feed(changes[1:2])) == numbers[:2]  # the limit reached: released before the END
    assert _held(harness) == []
    assert _created(harness._feed(changes[2:4])) == numbers[2:4]
    assert harness._feed(changes[4:]) == [] and len(_held(harness)) == 1  # the last part waits for the END
    assert _created(harness._feed([end])) == numbers[4:]
    assert harness.run.context.counts[SPLIT] == 1  # once per transaction, not per part
    assert _join(harness) == {"queue": {"txs": []}}  # nothing left of it
    assert harness.dead_letters == []


def test_each_part_is_its_net_effect(mappings: dict[str, RecordMapping], schemas: SchemaStore) -> None:
    harness = _limited(mappings, schemas, 3)
    systems = harness.systems
    records = [systems.crm_create("C-420100", name="Acme"), systems.crm_edit("C-420100", name="Acme 2"),
               systems.crm_edit("C-420100", name="Acme 3"), systems.crm_edit("C-420100", name="Acme 4")]
    *changes, end = one_transaction(records)
    (created,) = harness._feed(changes[:3])
    assert created.route == ("Account", "create") and created.payload["name"] == "Acme 3"
    harness.settle()
    (updated,) = [s for s in harness._feed([changes[3], end]) if s.route[0] == "Account"]
    assert updated.route == ("Account", "update") and updated.payload["name"] == "Acme 4"


def test_a_later_transaction_waits_for_the_last_part_of_an_earlier_one(mappings: dict[str, RecordMapping],
                                                                         schemas: SchemaStore) -> None:
    harness = _limited(mappings, schemas, 2)
    systems = harness.systems
    *bulk, bulk_end = one_transaction([systems.crm_create(f"C-42020{n}", name="Bulk") for n in range(3)])
    *later, later_end = one_transaction([systems.crm_contact("C-420200", first_name="Ann")])
    # The bulk's END first (its changes on another table's topic than the later one's), then its first part.
    assert _created(harness._feed([bulk_end, *bulk[:2]])) == ["C-420200", "C-420201"]
    assert harness._feed([*later, later_end]) == []  # committed after the bulk: waits for its last part
    assert len(_join(harness)["queue"]["txs"]) == 2 and "Ann" not in str(harness.stored("C-420200"))
    assert _created(harness._feed(bulk[2:])) == ["C-420202"]
    assert _join(harness) == {"queue": {"txs": []}} and "Ann" in str(harness.stored("C-420200"))


def test_without_reaching_the_limit_a_transaction_is_held_whole(harness: Harness) -> None:
    systems = harness.systems
    *changes, end = one_transaction([systems.crm_create(f"C-42030{n}", name="Whole") for n in range(3)])
    assert harness._feed(changes) == []
    assert len(_created(harness._feed([end]))) == 3 and SPLIT not in harness.run.context.counts


@pytest.mark.parametrize("value", ["0", "many", "true"])
def test_a_limit_that_is_not_a_positive_whole_number_is_refused_with_line_and_fix(
        tmp_path: Path, mappings: dict[str, RecordMapping], schemas: SchemaStore, value: str) -> None:
    text = REFERENCE.replace("  origin: crm", f"  origin: crm\n  transaction_limit: {value}")
    with pytest.raises(FlowFileError) as raised:
        _load(tmp_path, text, mappings, schemas)
    (problem,) = [p for p in raised.value.problems if p.field == "entity.transaction_limit"]
    assert problem.line == _line(text, "transaction_limit:") and "at least 1" in problem.message
    assert f"transaction_limit: {TRANSACTION_LIMIT}" in problem.fix


def test_a_partitioned_flow_splits_in_its_keying_stage_and_decides_the_same(mappings: dict[str, RecordMapping],
                                                                              schemas: SchemaStore) -> None:
    harness = _limited(mappings, schemas, 2)
    systems = harness.systems
    numbers = [f"C-4204{n:02d}" for n in range(3)]
    *changes, end = one_transaction([systems.crm_create(n, name="Bulk") for n in numbers])
    laid = partitioned(harness.flow.spec(), 3)
    stage = LocalRun(laid.stage)
    asyncio.run(stage.feed([stage.record(t, k, v) for t, k, v in changes[:2]]))
    assert {e.key for e in stage.context.emitted} == {n.encode() for n in numbers[:2]}  # the first part, routed
    asyncio.run(stage.feed([stage.record(t, k, v) for t, k, v in [*changes[2:], end]]))
    assert stage.context.counts[SPLIT] == 1
    flow = LocalRun(laid.flow)
    asyncio.run(flow.feed([Incoming(topic=e.topic, partition=0, offset=i, key=e.key, value=e.value,
                                    timestamp_ms=0, headers=e.headers)
                           for i, e in enumerate(stage.context.emitted)]))
    sent = decode_commands(flow.context.emitted, harness.schemas)
    assert sorted(s.key for s in sent if s.route == ("Account", "create")) == numbers
    assert flow.context.dead_letters == []


def test_changes_held_past_a_lowered_limit_go_a_part_of_that_many_at_a_time(mappings: dict[str, RecordMapping],
                                                                             schemas: SchemaStore) -> None:
    """A join state holding more than the limit (written under a larger one, or none) is not released whole."""
    harness = _limited(mappings, schemas, 10)
    systems = harness.systems
    numbers = [f"C-4205{n:02d}" for n in range(6)]
    *changes, end = one_transaction([systems.crm_create(n, name="Bulk") for n in numbers])
    assert harness._feed(changes[:4]) == [] and len(_held(harness)) == 4
    harness.flow.transactions.limit = 2  # the worker started again with a lower limit over that state
    harness.flow.transactions._joins.clear()
    assert _created(harness._feed(changes[4:5])) == numbers[:2]  # 5 held: the first 2 go, 3 stay
    assert len(_held(harness)) == 3
    assert _created(harness._feed(changes[5:])) == numbers[2:4]
    assert _created(harness._feed([end])) == numbers[4:]
    assert _join(harness) == {"queue": {"txs": []}}
