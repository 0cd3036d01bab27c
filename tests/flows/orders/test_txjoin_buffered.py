"""A join's buffered records kept in memory too (:class:`~streams.flows.orders.txjoin.Buffered`): taken back as
given while the store holds them as written, read from the store otherwise."""

from __future__ import annotations

import pytest

from streams.flows.engine.api import Incoming
from streams.flows.orders.txjoin import Buffered
from streams.flows.parking import record_from_state, record_to_state

pytestmark = pytest.mark.unit


def _record(offset: int, value: bytes = b'{"payload": 1}') -> Incoming:
    return Incoming(topic="crm.crm.customers", partition=0, offset=offset, key=b"k", value=value, timestamp_ms=5,
                    headers=(("h", b"v"),))


def test_a_record_stored_as_written_is_taken_back_as_given() -> None:
    buffered, record = Buffered(), _record(1)
    buffered.keep("ev:t:1", record_to_state(record), record)
    taken = buffered.take("ev:t:1", record_to_state(record))  # the store's copy: equal, not the same object
    assert taken is record
    assert buffered.take("ev:t:1", record_to_state(record)) == record  # decoded from the store once taken out


def test_a_record_stored_otherwise_is_read_from_the_store() -> None:
    buffered, record, other = Buffered(), _record(1), _record(1, b'{"payload": 2}')
    buffered.keep("ev:t:1", record_to_state(record), record)
    assert buffered.take("ev:t:1", record_to_state(other)) == other
    assert buffered.take("ev:t:2", None) is None


def test_at_most_limit_records_are_kept_and_none_without_a_limit() -> None:
    buffered = Buffered(limit=2)
    records = [_record(n) for n in range(3)]
    for n, record in enumerate(records):
        buffered.keep(f"ev:t:{n}", record_to_state(record), record)
    assert buffered.take("ev:t:0", record_to_state(records[0])) is not records[0]  # the oldest was dropped
    assert buffered.take("ev:t:2", record_to_state(records[2])) is records[2]
    unlimited = Buffered(limit=0)
    unlimited.keep("ev:t:0", record_to_state(records[0]), records[0])
    assert unlimited.take("ev:t:0", record_to_state(records[0])) == record_from_state(record_to_state(records[0]))
