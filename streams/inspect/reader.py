"""Reading topics from a chosen position with kafka-python's consumer: no group, nothing committed.

Only committed transactions are read (``read_committed``), as every Isthmus reader does. Without
``--follow`` reading stops at the end offsets taken when it started.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from streams.config.kafka import KafkaAddress, client_kwargs
from streams.inspect.decoding import RawRecord
from streams.inspect.exceptions import BadSeek, UnknownTopic
from streams.kafka import names

POLL_MS = 500


#: ``(topic, partition) -> offset``: a position in each partition, as :func:`end_offsets` takes them.
Positions = Mapping[tuple[str, int], int]


@dataclass(frozen=True, kw_only=True)
class StartAt:
    """Where to start: the end (default), the beginning, an offset, the first record at or after a time, or
    ``at`` each partition's position taken earlier (a partition not in it, created since, from its beginning)."""

    beginning: bool = False
    offset: int | None = None
    time_ms: int | None = None
    partitions: tuple[int, ...] = ()
    last: int | None = None
    at: Positions | None = None


def consumer(bootstrap: KafkaAddress) -> KafkaConsumer:
    return KafkaConsumer(**client_kwargs(bootstrap), group_id=None, enable_auto_commit=False,
                         isolation_level="read_committed", allow_auto_create_topics=False,
                         client_id=names.client_id("isthmus-topics"))


def partitions_of(client: KafkaConsumer, topics: Sequence[str], only: Iterable[int] = ()) -> list[TopicPartition]:
    wanted = set(only)
    found: list[TopicPartition] = []
    known = client.topics()
    for topic in topics:
        if topic not in known:
            raise UnknownTopic(f"no topic {topic!r} in the cluster; `isthmus topics list --all` shows them")
        numbers = sorted(client.partitions_for_topic(topic) or ())
        missing = wanted - set(numbers)
        if missing:
            raise BadSeek(f"--partition {', '.join(map(str, sorted(missing)))}: {topic} has partitions "
                          f"{', '.join(map(str, numbers))}")
        found += [TopicPartition(topic, n) for n in numbers if not wanted or n in wanted]
    return found


def start_positions(client: KafkaConsumer, partitions: list[TopicPartition], start: StartAt) -> dict[
        TopicPartition, int]:
    begin = client.beginning_offsets(partitions)
    end = client.end_offsets(partitions)
    if start.at is not None:
        return {tp: min(max(start.at.get((tp.topic, tp.partition), begin[tp]), begin[tp]), end[tp])
                for tp in partitions}
    if start.offset is not None:
        return {tp: min(max(start.offset, begin[tp]), end[tp]) for tp in partitions}
    if start.time_ms is not None:
        found = client.offsets_for_times({tp: start.time_ms for tp in partitions})
        return {tp: (found[tp].offset if found.get(tp) is not None else end[tp]) for tp in partitions}
    if start.beginning:
        return dict(begin)
    if start.last is not None:
        return {tp: max(begin[tp], end[tp] - start.last) for tp in partitions}
    return dict(end)


#: Per topic, ``(records read, records between its start positions and its ends)``: once before the first poll,
#: then after each batch.
OnProgress = Callable[[Mapping[str, tuple[int, int]]], None]


def end_offsets(bootstrap: KafkaAddress, topics: Sequence[str]) -> dict[tuple[str, int], int]:
    """Each partition's end now, committed records only (``read_committed``: the last stable offset): what is
    written after this call is at or past it. A topic that does not exist yet has no partitions here."""
    client = consumer(bootstrap)
    try:
        partitions = partitions_of(client, [t for t in topics if t in client.topics()])
        return {(tp.topic, tp.partition): offset for tp, offset in client.end_offsets(partitions).items()}
    finally:
        client.close()


def _span(client: KafkaConsumer, topics: Sequence[str], start: StartAt) -> tuple[
        list[TopicPartition], dict[TopicPartition, int], dict[TopicPartition, int]]:
    """The partitions of ``topics`` a read from ``start`` reads, where it begins in each, and each one's end now."""
    partitions = partitions_of(client, topics, start.partitions)
    return partitions, start_positions(client, partitions, start), client.end_offsets(partitions)


def spans(bootstrap: KafkaAddress, topics: Sequence[str], start: StartAt) -> tuple[Positions, Positions]:
    """Where a read of ``topics`` from ``start`` begins in each partition, and each partition's end now: a reader
    of several reads (:func:`read` with ``StartAt(at=...)`` and ``until``) knows every total before the first."""
    client = consumer(bootstrap)
    try:
        _, positions, ends = _span(client, topics, start)
    finally:
        client.close()
    return ({(tp.topic, tp.partition): offset for tp, offset in positions.items()},
            {(tp.topic, tp.partition): offset for tp, offset in ends.items()})


def read(bootstrap: KafkaAddress, topics: Sequence[str], start: StartAt, *, follow: bool = False,
         idle_polls: int = 4, on_progress: OnProgress | None = None,
         stop: Callable[[], bool] | None = None, until: Positions | None = None) -> Iterator[RawRecord]:
    """Records from ``start`` to the ends taken now, or ``until`` positions taken earlier (a partition not in them:
    its end now), or forever with ``follow``, partition by partition in offset order, interleaved as the broker
    returns them. ``stop``: asked before every poll (at least every half second, after the records of the last
    one), ends the reading when it answers True."""
    client = consumer(bootstrap)
    try:
        partitions, positions, ends = _span(client, topics, start)
        if until is not None:
            ends = {tp: until.get((tp.topic, tp.partition), end) for tp, end in ends.items()}
        progress = {topic: [0, 0] for topic in dict.fromkeys(tp.topic for tp in partitions)}
        for tp in partitions:
            progress[tp.topic][1] += max(0, ends[tp] - positions[tp])
        if on_progress is not None:
            on_progress({topic: (done, total) for topic, (done, total) in progress.items()})
        client.assign(partitions)
        for tp, offset in positions.items():
            client.seek(tp, offset)
        idle = 0
        while True:
            if not follow and all(client.position(tp) >= ends[tp] for tp in partitions):
                return
            if stop is not None and stop():
                return
            batch = client.poll(timeout_ms=POLL_MS)
            if not batch:
                idle += 1
                if not follow and idle >= idle_polls:
                    return
                continue
            idle = 0
            for tp, messages in batch.items():
                for message in messages:
                    if not follow and message.offset >= ends[tp]:
                        continue
                    progress[tp.topic][0] += 1
                    yield _raw(message)
            if on_progress is not None:
                on_progress({topic: (done if follow else min(done, total), total)
                             for topic, (done, total) in progress.items()})
    finally:
        client.close()


#: ``(topic, partition, offset)`` of one record.
Address = tuple[str, int, int]


def read_at(bootstrap: KafkaAddress, addresses: Iterable[Address], *, timeout_s: float = 5.0) -> list[RawRecord]:
    """The records at ``addresses``: a seek and one fetch each, however long their topics. An address whose
    record is gone (retention, compaction, an aborted transaction, a deleted topic) is skipped."""
    wanted: dict[TopicPartition, list[int]] = {}
    for topic, partition, offset in sorted(set(addresses)):
        wanted.setdefault(TopicPartition(topic, partition), []).append(offset)
    if not wanted:
        return []
    client = consumer(bootstrap)
    found: list[RawRecord] = []
    try:
        for tp in _existing(client, wanted):
            client.assign([tp])
            for offset in wanted[tp]:
                client.seek(tp, offset)
                deadline = time.monotonic() + timeout_s
                while time.monotonic() < deadline:
                    messages = client.poll(timeout_ms=POLL_MS, max_records=1).get(tp, [])
                    if messages:
                        message = messages[0]
                        if message.offset == offset:
                            found.append(_raw(message))
                        break
    finally:
        client.close()
    return found


#: ``(topic, partition) -> (begin, end)``: a span of offsets in each partition, ``end`` excluded.
Spans = Mapping[tuple[str, int], tuple[int, int]]


def read_spans(bootstrap: KafkaAddress, spans: Spans, *, timeout_s: float = 10.0) -> list[RawRecord]:
    """The committed records of each partition in its span, in offset order per partition: no transaction marker
    and nothing aborted (``read_committed``), however many offsets those take. A seek and a fetch or two per
    partition, so spans of a few dozen offsets cost about what one record does. A partition that does not exist is
    skipped; a span past the last stable offset (an open transaction) ends there."""
    wanted = {TopicPartition(topic, partition): span for (topic, partition), span in spans.items()
              if span[1] > span[0]}
    if not wanted:
        return []
    client = consumer(bootstrap)
    found: list[RawRecord] = []
    try:
        wanted = {tp: wanted[tp] for tp in _existing(client, wanted)}
        if not wanted:
            return []
        stable = client.end_offsets(list(wanted))
        ends = {tp: min(end, stable[tp]) for tp, (_, end) in wanted.items()}
        client.assign(list(wanted))
        for tp, (begin, _) in wanted.items():
            client.seek(tp, begin)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            left = [tp for tp in wanted if client.position(tp) < ends[tp]]
            if not left:
                break
            client.pause(*(tp for tp in wanted if tp not in left))
            for tp, messages in client.poll(timeout_ms=POLL_MS).items():
                found += [_raw(m) for m in messages if m.offset < ends[tp]]
    finally:
        client.close()
    return sorted(found, key=lambda r: (r.topic, r.partition, r.offset))


def _existing(client: KafkaConsumer, partitions: Iterable[TopicPartition]) -> list[TopicPartition]:
    """Those of ``partitions`` the cluster has (their topic deleted, or fewer partitions now: not)."""
    known = client.topics()
    return [tp for tp in partitions
            if tp.topic in known and tp.partition in (client.partitions_for_topic(tp.topic) or ())]


def _raw(message: Any) -> RawRecord:
    return RawRecord(topic=message.topic, partition=message.partition, offset=message.offset,
                     timestamp_ms=message.timestamp, key=message.key, value=message.value,
                     headers=tuple((k, v) for k, v in (message.headers or ())))


__all__ = ["Address", "OnProgress", "Positions", "Spans", "StartAt", "consumer", "end_offsets", "partitions_of",
           "read", "read_at", "read_spans", "spans", "start_positions"]
