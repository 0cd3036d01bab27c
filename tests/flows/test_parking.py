"""Records waiting in a flow's store: one value each, released in order, older stored forms still read."""

from __future__ import annotations

import json

import pytest

from streams.flows.engine.api import Incoming
from streams.flows.engine.stores import MemoryStore
from streams.flows.parking import ParkingLot, record_from_state, record_to_state

pytestmark = pytest.mark.unit


def incoming(offset: int, value: bytes | None = b'{"after": {"id": 1}}') -> Incoming:
    return Incoming(topic="erp.erp.payments", partition=0, offset=offset, key=b'{"id": 1}', value=value,
                    timestamp_ms=1_700_000_000_000 + offset, headers=(("isthmus-origin", b"\x00\xff"),))


def test_a_record_survives_the_store_with_its_headers_and_binary_bytes() -> None:
    record = incoming(7, value=b"\x00\x01 not json")
    assert record_from_state(json.loads(json.dumps(record_to_state(record)))) == record


def test_the_older_text_form_without_headers_is_still_read() -> None:
    state = {"topic": "crm.crm.orders", "partition": 0, "offset": 3, "timestamp_ms": 5,
             "key": '{"id": 3}', "value": '{"op": "c"}'}
    assert record_from_state(state) == Incoming(topic="crm.crm.orders", partition=0, offset=3, key=b'{"id": 3}',
                                                value=b'{"op": "c"}', timestamp_ms=5)


def test_parked_records_are_released_in_order_and_leave_nothing_behind() -> None:
    store = MemoryStore("parked")
    lot = ParkingLot(store)
    for offset in range(5):
        lot.park("erp:11", incoming(offset))
    lot.park("erp:12", incoming(99))
    assert lot.is_waiting("erp:11") and not lot.is_waiting("erp:13")
    assert [r.offset for r in lot.release("erp:11")] == [0, 1, 2, 3, 4]
    assert lot.release("erp:11") == []
    assert not lot.is_waiting("erp:11")
    assert sorted(key for key, _ in store.items()) == ["erp:12", "erp:12#0"]


def test_each_waiting_record_is_a_value_of_its_own() -> None:
    store = MemoryStore("parked")
    lot = ParkingLot(store)
    for offset in range(3000):
        lot.park("erp:11", incoming(offset, value=b"x" * 500))
    assert len(store) == 3001
    assert max(len(json.dumps(value)) for _, value in store.items()) < 2048
    assert len(lot.release("erp:11")) == 3000
    assert len(store) == 0


def test_records_parked_as_one_list_by_an_older_version_come_out_first() -> None:
    store = MemoryStore("parked")
    store.put("crm:5", {"waiting_for": "crm:5", "records": [record_to_state(incoming(1))]})
    lot = ParkingLot(store)
    lot.park("crm:5", incoming(2))
    assert [r.offset for r in lot.release("crm:5")] == [1, 2]
    assert len(store) == 0
