"""``Incoming`` fills its fields by hand (the engine makes one per record): it must stay the frozen dataclass it
was, every field set, equal and hashed by value. ``Emitted`` is laid out as the producer takes a record, so a
batch's output is produced as it stands."""

from __future__ import annotations

import dataclasses

import pytest

from streams.flows.engine.api import Incoming
from streams.flows.engine.staging import Emitted, RecordContext


def test_incoming_sets_every_field_and_stays_frozen() -> None:
    record = Incoming(topic="t", partition=1, offset=2, key=b"k", value=b"v", timestamp_ms=3, headers=(("h", b"1"),))
    assert {f.name: getattr(record, f.name) for f in dataclasses.fields(Incoming)} == vars(record)
    assert vars(record) == {"topic": "t", "partition": 1, "offset": 2, "key": b"k", "value": b"v",
                            "timestamp_ms": 3, "headers": (("h", b"1"),)}
    assert Incoming(topic="t", partition=0, offset=0, key=None, value=None, timestamp_ms=0).headers == ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.offset = 5  # type: ignore[misc]
    again = dataclasses.replace(record, offset=2)
    assert again == record and hash(again) == hash(record) and again is not record
    assert dataclasses.replace(record, offset=9) != record
    with pytest.raises(TypeError):
        Incoming("t", 1, 2, b"k", b"v", 3)  # type: ignore[misc]  # keyword-only, as before


def test_emitted_is_the_record_the_producer_takes() -> None:
    ctx = RecordContext(memory={})
    ctx.emit("out", key="é", value=b"v", headers={"h": b"1"})
    ctx.emit("out", key=None, value=None)
    first, second = ctx.emitted
    assert first == Emitted(topic="out", partition=None, key="é".encode(), value=b"v", headers=[("h", b"1")])
    assert (first.topic, first.partition, first.key, first.value, first.headers) == tuple(first)
    assert second == ("out", None, None, None, []) and second.headers == []
    with pytest.raises(AttributeError):
        first.value = b"w"  # type: ignore[misc]
    topic, partition, key, value, headers = first  # batches.OutRecord: what send_batched unpacks
    assert (topic, partition, key, value, headers) == ("out", None, "é".encode(), b"v", [("h", b"1")])
