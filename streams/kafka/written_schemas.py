"""The schemas records were written with, recorded by their writers in one compacted topic of Isthmus's own.

A single-object record names its writer's schema by the CRC-64-AVRO fingerprint of Avro's Parsing Canonical
Form, which leaves out logical types, precision and scale. So the files alone cannot tell an in-place edit
(``decimal(10, 2)`` made ``decimal(14, 4)``) from the schema the records were written with, and a field added
without a history copy leaves every older record unreadable. Each writer therefore records the full schema it
writes with (logical types included), once per schema per process, in ``isthmus.schemas``
(:func:`schemas_topic`, with the topic prefix), keyed by the fingerprint and a digest of the full schema, so
compaction keeps each distinct one. The flows' engine writes it in the transaction of the first records written
with it (:meth:`~streams.codecs.avro.single_object.SchemaStore.unrecorded`).

:func:`attach` reads the topic into a store: a schema recorded under a fingerprint the files know, read otherwise,
is refused (a worker does not start), and a fingerprint no file knows is looked up here instead of failing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from streams.codecs.avro.single_object import SchemaStore, StoredSchema, WrittenSchema
from streams.config.kafka import KafkaAddress, client_kwargs
from streams.kafka import names
from streams.kafka.topics import TopicSpec

log = logging.getLogger(__name__)

#: The topic's name before the topic prefix; :func:`schemas_topic` is the topic itself.
SCHEMAS_TOPIC = "isthmus.schemas"
#: Seconds :func:`read_written` waits for the topic's end (an open transaction holds a read_committed reader back).
READ_TIMEOUT_S = 10.0


def schemas_topic() -> str:
    """The topic of written schemas, with the topic prefix (``isthmus.schemas`` without one)."""
    return names.topic(SCHEMAS_TOPIC)


def topic_spec() -> TopicSpec:
    """One partition (a few records a schema change), compacted: the latest record of each key is kept."""
    return TopicSpec(name=schemas_topic(), partitions=1, config=(("cleanup.policy", "compact"),))


def record_of(stored: StoredSchema, *, writer: str, now: datetime | None = None) -> tuple[bytes, bytes]:
    """The key and value recording that ``writer`` wrote with ``stored``: the key is the fingerprint and a digest
    of the full schema (two schemas of one fingerprint are two keys, both kept), the value JSON."""
    schema_json = json.dumps(stored.schema, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(schema_json.encode()).hexdigest()[:16]
    when = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    value = {"name": stored.name, "fingerprint": stored.fingerprint.hex(), "schema": stored.schema,
             "written_at": when, "writer": writer}
    return f"{stored.fingerprint.hex()}/{digest}".encode(), json.dumps(value, separators=(",", ":")).encode()


def out_records(stored: Iterable[StoredSchema], *, writer: str) -> list[tuple[str, int, bytes, bytes, list[Any]]]:
    """The records of ``stored`` for a producer: (topic, partition, key, value, headers)."""
    topic = schemas_topic()
    return [(topic, 0, *record_of(s, writer=writer), []) for s in stored]


def parse(value: bytes | None) -> WrittenSchema | None:
    """A recorded schema, or None for a tombstone or what no writer of this module wrote."""
    if not value:
        return None
    try:
        document = json.loads(value)
        return WrittenSchema(name=str(document["name"]), fingerprint=bytes.fromhex(document["fingerprint"]),
                             schema=document["schema"], written_at=str(document["written_at"]),
                             where=schemas_topic())
    except (ValueError, KeyError, TypeError):
        return None


def read_written(bootstrap: KafkaAddress, *, timeout_s: float = READ_TIMEOUT_S) -> list[WrittenSchema]:
    """Every recorded schema (the latest record of each key), oldest first; none when the topic does not exist."""
    topic = schemas_topic()
    consumer = KafkaConsumer(**client_kwargs(bootstrap), group_id=None, enable_auto_commit=False,
                             isolation_level="read_committed", allow_auto_create_topics=False,
                             client_id=names.client_id("isthmus-schemas"))
    found: dict[bytes, WrittenSchema | None] = {}
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not partitions:
            return []
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < end[tp] for tp in partitions):
            if time.monotonic() > deadline:
                log.warning("%s: not read to its end in %.0f s (a transaction still open?); going on with the "
                            "schemas read so far", topic, timeout_s)
                break
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    found.pop(record.key, None)  # the latest of a key, in the order written
                    found[record.key] = parse(record.value)
    finally:
        consumer.close()
    return [w for w in found.values() if w is not None]


class RecordedSchemas:
    """A store's :data:`~streams.codecs.avro.single_object.Lookup`: the recorded schemas of a fingerprint, from
    those read last, the topic read again when it has none (the store asks again only after a while)."""

    def __init__(self, bootstrap: KafkaAddress, written: Sequence[WrittenSchema]) -> None:
        self.bootstrap = bootstrap
        self.written = list(written)

    def __call__(self, fingerprint: bytes) -> tuple[WrittenSchema, ...]:
        found = tuple(w for w in self.written if w.fingerprint == fingerprint)
        if not found:
            try:
                self.written = read_written(self.bootstrap)
            except KafkaError as exc:  # the record stays unknown, as without the topic
                log.warning("%s cannot be read (%s): a fingerprint no file knows stays unknown", schemas_topic(), exc)
                return ()
            found = tuple(w for w in self.written if w.fingerprint == fingerprint)
        return found


def attach(store: SchemaStore, bootstrap: KafkaAddress, *, check: bool = True) -> list[WrittenSchema]:
    """Check ``store`` against the recorded schemas (a :class:`~streams.codecs.exceptions.SchemaLoadError` for a
    fingerprint known with another meaning), and let it look up those its files do not know; returns them.
    ``check=False`` (a command that only reads): the topic is read at the first fingerprint no file knows."""
    written = read_written(bootstrap) if check else []
    store.check_written(written)
    store.lookup = RecordedSchemas(bootstrap, written)
    return written
