"""Reading Debezium change events back from Kafka in tests.

``end_positions`` marks where a topic ends before a test writes; ``read_events`` consumes from there
until a predicate over everything read so far holds, or the timeout passes, and returns what it read,
decoded: the ``payload`` of each JsonConverter key and value (``None`` for a tombstone). The test then
asserts on what came back, so a timeout shows up as a failed assertion about the events.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kafka import TopicPartition

from support.topics import Record, TopicReader, end_offsets


@dataclass(frozen=True, kw_only=True)
class Event:
    topic: str
    partition: int
    offset: int
    key: Any
    value: Any

    @property
    def op(self) -> str | None:
        return self.value.get("op") if isinstance(self.value, dict) else None


def end_positions(bootstrap: str, topic: str) -> dict[int, int]:
    """The next offset of each partition; empty when the topic does not exist yet (it starts at 0)."""
    return {tp.partition: offset for tp, offset in end_offsets(bootstrap, [topic]).items()}


def _payload(raw: bytes | None) -> Any:
    if raw is None:
        return None
    document = json.loads(raw)
    return document.get("payload") if isinstance(document, dict) and "schema" in document else document


def _event(record: Record) -> Event:
    return Event(topic=record.topic, partition=record.partition, offset=record.offset, key=_payload(record.key),
                 value=_payload(record.value))


def read_events(bootstrap: str, topic: str, since: dict[int, int], until: Callable[[list[Event]], bool], *,
                timeout: float = 60.0) -> list[Event]:
    """Events of ``topic`` from ``since`` (partition -> offset; missing partitions from 0), waiting up to
    ``timeout`` for the topic to exist and ``until`` to hold; returns what was read either way."""
    started = time.monotonic()
    start = {TopicPartition(topic, p): offset for p, offset in since.items()}
    with TopicReader(bootstrap, [topic], _event, start=start, appear_within=timeout) as reader:
        with suppress(AssertionError):  # a timeout shows up as the caller's failed assertion about the events
            reader.until(f"events of {topic}", until, timeout=max(timeout - (time.monotonic() - started), 0.0))
        return reader.seen


def decimal_of(encoded: str, scale: int) -> Decimal:
    """A Connect Decimal from JSON: base64 of the unscaled big-endian two's complement integer."""
    unscaled = int.from_bytes(base64.b64decode(encoded), "big", signed=True)
    return Decimal(unscaled).scaleb(-scale)
