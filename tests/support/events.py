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
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kafka import KafkaConsumer, TopicPartition


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


def _consumer(bootstrap: str) -> KafkaConsumer:
    return KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                         isolation_level="read_committed", allow_auto_create_topics=False,
                         consumer_timeout_ms=500)


def _partitions(consumer: KafkaConsumer, topic: str) -> list[TopicPartition]:
    consumer.topics()
    found = consumer.partitions_for_topic(topic) or set()
    return [TopicPartition(topic, p) for p in sorted(found)]


def end_positions(bootstrap: str, topic: str) -> dict[int, int]:
    """The next offset of each partition; empty when the topic does not exist yet (it starts at 0)."""
    consumer = _consumer(bootstrap)
    try:
        partitions = _partitions(consumer, topic)
        if not partitions:
            return {}
        return {tp.partition: offset for tp, offset in consumer.end_offsets(partitions).items()}
    finally:
        consumer.close()


def _payload(raw: bytes | None) -> Any:
    if raw is None:
        return None
    document = json.loads(raw)
    return document.get("payload") if isinstance(document, dict) and "schema" in document else document


def read_events(bootstrap: str, topic: str, since: dict[int, int], until: Callable[[list[Event]], bool], *,
                timeout: float = 60.0) -> list[Event]:
    """Events of ``topic`` from ``since`` (partition -> offset; missing partitions from 0)."""
    consumer = _consumer(bootstrap)
    events: list[Event] = []
    deadline = time.monotonic() + timeout
    try:
        partitions: list[TopicPartition] = []
        while not partitions and time.monotonic() < deadline:
            partitions = _partitions(consumer, topic)
            if not partitions:
                time.sleep(0.5)
        if not partitions:
            return events
        consumer.assign(partitions)
        for tp in partitions:
            consumer.seek(tp, since.get(tp.partition, 0))
        while time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    events.append(Event(topic=record.topic, partition=record.partition, offset=record.offset,
                                        key=_payload(record.key), value=_payload(record.value)))
            if until(events):
                break
        return events
    finally:
        consumer.close()


def decimal_of(encoded: str, scale: int) -> Decimal:
    """A Connect Decimal from JSON: base64 of the unscaled big-endian two's complement integer."""
    unscaled = int.from_bytes(base64.b64decode(encoded), "big", signed=True)
    return Decimal(unscaled).scaleb(-scale)
