"""The join decodes each change once for the fold: :meth:`Transactions.decoded` hands the fold the event the join
decoded from the very record, and nothing for another record or value at that position."""

from __future__ import annotations

import dataclasses

import pytest
from customer_harness import Harness

from streams.codecs import decode
from streams.flows.engine.api import Incoming
from streams.flows.engine.stores import MemoryStore
from streams.flows.kept import KEPT as DECODED_KEPT

pytestmark = pytest.mark.unit

NUMBER = "C-420001"


def _setup(harness: Harness) -> tuple[Incoming, dict[str, MemoryStore]]:
    topic, key, value = harness.systems.crm_create(NUMBER, name="Acme")
    record = Incoming(topic=topic, partition=0, offset=7, key=key, value=value, timestamp_ms=0)
    stores = {name: MemoryStore(name) for name in harness.flow.spec().stores}
    return record, stores


def test_the_fold_gets_the_event_the_join_decoded_once(harness: Harness) -> None:
    record, stores = _setup(harness)
    transactions = harness.flow.transactions
    assert transactions.groups(record, "crm", stores) == []  # waits for its END
    event = transactions.decoded(record)
    assert event is not None and event == decode(record.value, record.key, topic=record.topic)
    assert transactions.decoded(record) is None  # taken out: the fold decodes a record it did not keep


def test_another_value_at_the_same_position_is_decoded_again(harness: Harness) -> None:
    record, stores = _setup(harness)
    transactions = harness.flow.transactions
    transactions.groups(record, "crm", stores)
    other = harness.systems.crm_edit(NUMBER, name="Acme 2")[2]
    assert transactions.decoded(dataclasses.replace(record, value=other)) is None


def test_the_events_kept_are_bounded(harness: Harness) -> None:
    record, stores = _setup(harness)
    transactions = harness.flow.transactions
    for offset in range(DECODED_KEPT + 1):
        transactions.groups(dataclasses.replace(record, offset=offset), "crm", stores)
    assert transactions.decoded(dataclasses.replace(record, offset=0)) is None  # the oldest was dropped
    assert transactions.decoded(dataclasses.replace(record, offset=DECODED_KEPT)) is not None
