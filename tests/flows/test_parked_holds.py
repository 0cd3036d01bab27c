"""Parked records made visible: their lot's ages, one hold when a wait lasts, one release, and the worker's gauges."""

from __future__ import annotations

import pytest

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.engine.api import FlowSpec, Incoming, Ticking, Waiting
from streams.flows.engine.processor import EngineSettings, FlowProcessor
from streams.flows.engine.staging import RecordContext
from streams.flows.engine.stores import MemoryStore
from streams.flows.parked import HOLD_SCHEMA, ParkedHolds
from streams.flows.parking import ParkingLot, waiting_count
from streams.flows.topics import HOLDS
from streams.worker.metrics import WorkerCollector

pytestmark = pytest.mark.unit

SCHEMAS = SchemaStore.from_directory()


def incoming(offset: int) -> Incoming:
    return Incoming(topic="crm.crm.contacts", partition=0, offset=offset, key=b'{"id": 1}', value=b"{}",
                    timestamp_ms=0)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_lot_knows_since_when_and_how_many_wait_for_each_key() -> None:
    store, clock = MemoryStore("parked"), Clock(1000.0)
    lot = ParkingLot(store, clock=clock)
    lot.park("crm_customer_id=7", incoming(3))
    clock.now = 1060.0
    lot.park("crm_customer_id=7", incoming(4))
    lot.park("crm_customer_id=8", incoming(5))
    waiting = dict(lot.waiting())
    assert set(waiting) == {"crm_customer_id=7", "crm_customer_id=8"}
    assert waiting["crm_customer_id=7"]["since"] == 1000.0  # the first record's park time, not the last one's
    assert waiting["crm_customer_id=7"]["first_at"] == "crm.crm.contacts/0@3"
    assert waiting_count(waiting["crm_customer_id=7"]) == 2 and waiting_count(waiting["crm_customer_id=8"]) == 1
    lot.release("crm_customer_id=7")
    assert [k for k, _ in lot.waiting()] == ["crm_customer_id=8"]


def holds_emitted(ctx: RecordContext) -> list[dict[str, object]]:
    return [dict(SCHEMAS.decode(e.value, HOLD_SCHEMA).value) for e in ctx.emitted if e.topic == HOLDS and e.value]


def test_a_long_wait_is_held_once_and_released_once() -> None:
    holds = ParkedHolds(flow="isthmus-customers", schemas=SCHEMAS, stores=("parked",))
    store = MemoryStore("parked")
    ctx = RecordContext(memory={"parked": store})
    ParkingLot(store, clock=Clock(1000.0)).park("crm_customer_id=7", incoming(3))
    assert holds.tick(ctx, Ticking(now_s=1100.0, hold_after_s=300.0)) == Waiting(records=1, oldest_since_s=1000.0)
    assert holds_emitted(ctx) == []  # a short wait is only counted
    holds.tick(ctx, Ticking(now_s=1300.0, hold_after_s=300.0))
    holds.tick(ctx, Ticking(now_s=1400.0, hold_after_s=300.0))  # a later tick does not hold it again
    (held,) = holds_emitted(ctx)
    assert held["state"] == "held" and held["cause"] == "waiting_for"
    assert held["waiting_for"] == "crm_customer_id=7" and held["parked"] == "crm.crm.contacts/0@3"
    assert ctx.emitted[0].key == b"isthmus-customers:crm_customer_id=7"
    assert [r.offset for r in holds.lot(ctx, "parked").release("crm_customer_id=7")] == [3]
    held_then_released = holds_emitted(ctx)
    assert [h["state"] for h in held_then_released] == ["held", "released"]
    assert held_then_released[1]["entity_key"] == held["entity_key"]
    assert holds.tick(ctx, Ticking(now_s=1500.0, hold_after_s=300.0)) == Waiting()


def test_a_short_wait_released_before_its_hold_says_nothing() -> None:
    holds = ParkedHolds(flow="isthmus-orders", schemas=SCHEMAS, stores=("parked",))
    ctx = RecordContext(memory={"parked": MemoryStore("parked")})
    holds.lot(ctx, "parked").park("Account|id=1", incoming(1))
    holds.tick(ctx, Ticking(now_s=0.0, hold_after_s=300.0))
    holds.lot(ctx, "parked").release("Account|id=1")
    assert ctx.emitted == []


def test_the_worker_gauges_sum_tasks_and_age_the_oldest() -> None:
    spec = FlowSpec(name="isthmus-canonical", inputs=("t",), handler=lambda r, c: None,
                    tick=lambda c, ticking: Waiting())
    processor = FlowProcessor(spec, EngineSettings(bootstrap_servers="127.0.0.1:1"), SCHEMAS)
    processor.waiting_by_task = {0: Waiting(records=2, oldest_since_s=900.0),
                                 1: Waiting(records=3, oldest_since_s=950.0), 2: Waiting()}
    collected = {m.name: m for m in WorkerCollector("w1", [processor], {}, clock=lambda: 1000.0).collect()}
    (records,) = collected["isthmus_flow_parked_records"].samples
    (oldest,) = collected["isthmus_flow_parked_oldest_seconds"].samples
    assert records.labels == {"worker": "w1", "flow": "isthmus-canonical"} and records.value == 5
    assert oldest.value == 100.0
    processor.waiting_by_task = {}
    collected = {m.name: m for m in WorkerCollector("w1", [processor], {}, clock=lambda: 1000.0).collect()}
    assert collected["isthmus_flow_parked_oldest_seconds"].samples[0].value == 0.0
