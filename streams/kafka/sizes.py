"""How large a record Isthmus's producers write: the one bound of the flows' worker and of the sinks.

Kafka bounds a record twice: the producer's ``max.request.size`` (aiokafka's ``max_request_size``, 1 MiB by
default), which aiokafka checks in ``send``, and the topic's ``max.message.bytes`` (the brokers'
``message.max.bytes`` when the topic sets none: 1048588 bytes by default), which the broker applies to each record
batch. A record over either fails the transaction it is in, and a stage that commits everything it did in one
transaction (the flows, the sinks) would fail on it for ever: each stage measures what it produces against its
setting (:data:`record_size`) where the record it comes from is still known, and writes something smaller instead.
Both settings are made by :func:`max_request_size_field`, so their bounds and default are written once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from aiokafka.errors import MessageSizeTooLargeError, RecordListTooLargeError
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from pydantic import Field

#: The bytes of one record a stage produces at most, by default: Kafka's and aiokafka's producer default
#: (``max.request.size``), which the brokers' default ``message.max.bytes`` (1048588: a record batch of one such
#: record) allows.
DEFAULT_MAX_REQUEST_SIZE = 1024 * 1024
MIN_MAX_REQUEST_SIZE = 64 * 1024
MAX_MAX_REQUEST_SIZE = 256 * 1024 * 1024

#: What Kafka fails a record (or record batch) too large with: aiokafka's own check in ``send`` (over
#: ``max_request_size``), or the broker's (over the topic's ``max.message.bytes``, or a log segment).
TOO_LARGE = (MessageSizeTooLargeError, RecordListTooLargeError)

#: ``record_size(key, value, headers)``: the bytes of a record batch holding only this record (uncompressed), as
#: aiokafka estimates it before it checks ``max_request_size`` in ``send``. Its C builder's own function, not wrapped:
#: the engine measures every record a flow emits.
record_size: Callable[[bytes | None, bytes | None, Iterable[tuple[str, bytes]]], int] = \
    DefaultRecordBatchBuilder.estimate_size_in_bytes


def max_request_size_field(produces: str, over: str, topics: str) -> Any:
    """The setting of a stage's ``max_request_size``: bounds and default written once. ``produces``: who writes
    (``the flows produce``); ``over``: what becomes of a record larger than it; ``topics``: the topics it writes."""
    return Field(
        DEFAULT_MAX_REQUEST_SIZE, ge=MIN_MAX_REQUEST_SIZE, le=MAX_MAX_REQUEST_SIZE,
        description=f"bytes of one record (and record batch) {produces} at most (the producer's max.request.size): "
        f"{over}; {topics} must allow as much: their max.message.bytes, or the brokers' message.max.bytes (1048588 "
        "unless set)")


def raise_topic_limit(topic: str, size: int) -> str:
    """The fix of a topic whose ``max.message.bytes`` is below a record of ``size`` bytes, as a command."""
    return (f"raise max.message.bytes of {topic} to at least {size} (kafka-configs.sh --alter --entity-type topics "
            f"--entity-name {topic} --add-config max.message.bytes={size})")
