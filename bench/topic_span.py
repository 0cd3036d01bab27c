"""When each topic of the pipeline received its records during a run: a stage's output, timed by the broker.

Every stage of the initial sync writes to a topic (Debezium the CDC topics, a flow its command and canonical
topics, a sink its results topic). The first and last record a topic received after the run began, and how
many, say when each stage started and finished its share and at what rate, without reading the records: the
offsets at the run's start (by time) and at its end, and the timestamps of the first and last records. Counts
are offsets, so they include the transaction markers of exactly-once producers (one per transaction and
partition): an upper bound on records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from kafka import KafkaConsumer, TopicPartition


@dataclass(frozen=True, kw_only=True)
class Span:
    topic: str
    #: Offsets the topic gained since the run began (records and transaction markers).
    offsets: int
    #: Seconds after the run began of its first and last record; None when it received none.
    first_s: float | None
    last_s: float | None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _timestamp_at(consumer: KafkaConsumer, tp: TopicPartition, offset: int) -> int | None:
    """The timestamp (ms) of the first record at or after ``offset`` (a marker is skipped), None if none."""
    consumer.assign([tp])
    consumer.seek(tp, offset)
    for records in consumer.poll(timeout_ms=5000, max_records=1).values():
        for record in records:
            return int(record.timestamp)
    return None


def spans(bootstrap: str, topics: Sequence[str], since_ms: int) -> list[Span]:
    """Each topic's records since ``since_ms`` (epoch ms, the run's start)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_uncommitted", group_id=None,
                             enable_auto_commit=False, max_partition_fetch_bytes=64 * 1024)
    out = []
    try:
        for topic in topics:
            tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
            if not tps:
                out.append(Span(topic=topic, offsets=0, first_s=None, last_s=None))
                continue
            ends = consumer.end_offsets(tps)
            starts = consumer.offsets_for_times(dict.fromkeys(tps, since_ms))
            gained, firsts, lasts = 0, [], []
            for tp in tps:
                found = starts.get(tp)
                start = found.offset if found is not None else ends[tp]
                gained += ends[tp] - start
                if ends[tp] > start:
                    firsts.append(_timestamp_at(consumer, tp, start))
                    lasts.append(_last_timestamp(consumer, tp, start, ends[tp]))
            first = min((t for t in firsts if t is not None), default=None)
            last = max((t for t in lasts if t is not None), default=None)
            out.append(Span(topic=topic, offsets=gained,
                            first_s=None if first is None else round((first - since_ms) / 1000, 1),
                            last_s=None if last is None else round((last - since_ms) / 1000, 1)))
    finally:
        consumer.close()
    return out


def _last_timestamp(consumer: KafkaConsumer, tp: TopicPartition, start: int, end: int) -> int | None:
    """The timestamp of the last record before ``end``: the last offsets may be transaction markers, so the
    few before them are tried, newest first."""
    for back in (1, 2, 3, 5, 10, 50):
        offset = max(start, end - back)
        found = _timestamp_at(consumer, tp, offset)
        if found is not None:
            return found
        if offset == start:
            break
    return None


#: Kafka Connect's internal topics (``<prefix>.offsets`` and so on): they move with heartbeats, not with work.
_INTERNAL = (".offsets", ".configs", ".status")


class Written:
    """How many offsets the pipeline's topics hold, summed over every partition of every topic but the broker's,
    Debezium's heartbeats and Kafka Connect's own (``__*``, ``*.offsets|configs|status``). It grows while any
    stage writes (Debezium streaming a bulk load, a flow folding it into its stores' changelogs, a sink's
    results), so a run whose counts of outcomes stand still while it grows is working, not stalled."""

    def __init__(self, bootstrap: str) -> None:
        self._consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)

    def total(self) -> int:
        topics = [t for t in self._consumer.topics() if not t.startswith("__") and not t.endswith(_INTERNAL)]
        tps = [TopicPartition(t, p) for t in topics for p in self._consumer.partitions_for_topic(t) or ()]
        return sum(self._consumer.end_offsets(tps).values()) if tps else 0

    def close(self) -> None:
        self._consumer.close()


def describe(found: Sequence[Span]) -> str:
    """One line: each topic's offsets and the seconds of its first and last record."""
    return "; ".join(f"{s.topic}: {s.offsets:,} offsets, {s.first_s}s → {s.last_s}s" if s.offsets else
                     f"{s.topic}: none" for s in found)
