"""The one way tests read topics: ``TopicReader`` reads the committed records of some topics, from their
beginning, their end as of now, or given positions, and keeps what a decode hook makes of each record.

A test then waits for what it expects (``until``), reads to the end as of now (``to_end``), or until nothing
more arrives (``drain``, for the tests that must show a duplicate or a loop does not happen), and asserts on
``seen`` or its last-value-per-key view (``latest``). Every wait goes through ``support.waiting``.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Hashable, Iterable, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Generic, Literal, TypeVar

from aiokafka import AIOKafkaConsumer
from aiokafka import TopicPartition as AioTopicPartition
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.consumer.fetcher import ConsumerRecord

from support.waiting import eventually, log_tails, quiet

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)
R = TypeVar("R")

Start = Literal["beginning", "end"] | Mapping[TopicPartition, int]


@dataclass(frozen=True)
class Record:
    """A record as read: where it is, its key and value bytes (None for a tombstone), and its headers."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()

    @property
    def text_key(self) -> str | None:
        return self.key.decode() if self.key is not None else None


def _record(r: ConsumerRecord) -> Record:
    return Record(r.topic, r.partition, r.offset, r.key, r.value, tuple(r.headers or ()))


def raw(record: Record) -> Record:
    """The default decode hook: the record itself."""
    return record


def consumer(bootstrap: str, *, committed: bool = True, create_topics: bool = False) -> KafkaConsumer:
    """A consumer outside any group; ``create_topics`` allows its metadata requests to create topics (a reader
    made with it creates its missing topics first: see ``create_missing``)."""
    return KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                         isolation_level="read_committed" if committed else "read_uncommitted",
                         allow_auto_create_topics=create_topics)


def partitions(reader: KafkaConsumer, topic: str) -> list[TopicPartition]:
    """The partitions of ``topic``; empty while it does not exist."""
    reader.topics()  # refresh: a topic created since the consumer started is known only after
    return [TopicPartition(topic, p) for p in sorted(reader.partitions_for_topic(topic) or ())]


def probe_topics(bootstrap: str, name: str, partitions: int) -> tuple[str, str, str]:
    """A flow name of this run, ``<name>-<run>``, and its own input and output topics, ``<name>-in-<run>`` and
    ``<name>-out-<run>``, created with ``partitions`` each: what a test of a worker it starts reads and writes."""
    run = uuid.uuid4().hex[:8]
    flow, topic_in, topic_out = f"{name}-{run}", f"{name}-in-{run}", f"{name}-out-{run}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(topic_in, partitions, 1), NewTopic(topic_out, partitions, 1)])
    finally:
        admin.close()
    return flow, topic_in, topic_out


def create_missing(bootstrap: str, topics: Iterable[str]) -> None:
    """Make the broker create ``topics`` with its defaults, as a client writing to them would (a producer's
    metadata request for a topic auto-creates it; a consumer's does not)."""
    topics = list(topics)
    if not topics:
        return
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    try:
        for topic in topics:
            producer.partitions_for(topic)
    finally:
        producer.close()


def end_offsets(bootstrap: str, topics: Iterable[str]) -> dict[TopicPartition, int]:
    """The next offset of each partition of ``topics`` (a topic that does not exist yet has none)."""
    reader = consumer(bootstrap)
    try:
        tps = [tp for t in topics for tp in partitions(reader, t)]
        return dict(reader.end_offsets(tps)) if tps else {}
    finally:
        reader.close()


def topic_names(bootstrap: str) -> set[str]:
    """The names of the topics the cluster holds now."""
    reader = consumer(bootstrap)
    try:
        return set(reader.topics())
    finally:
        reader.close()


def log_bytes(bootstrap: str, topic: str) -> int:
    """The bytes ``topic``'s partitions take in the brokers' logs (DescribeLogDirs): its record batches as written,
    so compressed ones count compressed."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        answer = admin.describe_log_dirs([topic])
    finally:
        admin.close()
    return sum(p["partition_size"] for broker in answer for d in broker["log_dirs"] for t in d["topics"]
               if t["name"] == topic for p in t["partitions"])


@asynccontextmanager
async def engine_consumer(bootstrap: str, tps: Iterable[AioTopicPartition], *,
                          max_partition_fetch_bytes: int = 16 * 1024 * 1024) -> AsyncIterator[AIOKafkaConsumer]:
    """An aiokafka consumer as the flow engine reads with one (no group, no auto-commit), assigned ``tps`` from
    their beginning: for a test of what the engine does with the records it fetches."""
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                              max_partition_fetch_bytes=max_partition_fetch_bytes)
    await reader.start()
    try:
        reader.assign(list(tps))
        await reader.seek_to_beginning(*tps)
        yield reader
    finally:
        await reader.stop()


def partition_counts(bootstrap: str, topics: Iterable[str]) -> dict[str, int]:
    """How many partitions each of ``topics`` has (0 while it does not exist): metadata only, nothing read."""
    reader = consumer(bootstrap)
    try:
        return {t: len(partitions(reader, t)) for t in topics}
    finally:
        reader.close()


def record_at(bootstrap: str, topic: str, partition: int, offset: int, *, committed: bool = False,
              timeout: float = 10) -> Record:
    """The record at ``offset`` of one partition (read uncommitted unless told: a position a record names)."""
    reader = consumer(bootstrap, committed=committed)
    tp = TopicPartition(topic, partition)
    try:
        reader.assign([tp])
        reader.seek(tp, offset)

        def read() -> Record | None:
            records = reader.poll(timeout_ms=500, max_records=1).get(tp, [])
            return _record(records[0]) if records else None

        found = eventually(f"the record at {topic}[{partition}]@{offset}", read, timeout=timeout, every=0)
    finally:
        reader.close()
    assert found.offset == offset, f"{topic}[{partition}] has no record at {offset}: the next is at {found.offset}"
    return found


class TopicReader(Generic[T]):
    """Reads ``topics`` from ``start`` (missing partitions of a positions mapping from their beginning);
    ``decode`` makes each record an item of ``seen``, or None to leave it out. A missing topic is waited for
    (``appear_within``), or with ``create_topics`` created with the broker's defaults (the per-test topics a
    flow or connector writes to later). Use as a context manager."""

    def __init__(self, bootstrap: str, topics: Iterable[str], decode: Callable[[Record], T | None], *,
                 start: Start = "end", committed: bool = True, create_topics: bool = False,
                 appear_within: float = 60) -> None:
        self.topics = list(topics)
        self.decode = decode
        self.consumer = consumer(bootstrap, committed=committed, create_topics=create_topics)
        #: the decoded items, in the order read, and the record each came from
        self.seen: list[T] = []
        self.records: list[Record] = []
        if create_topics:
            create_missing(bootstrap, [t for t in self.topics if not partitions(self.consumer, t)])
        tps = eventually(f"topics {self.topics} exist", self._all_partitions, timeout=appear_within)
        self.consumer.assign(tps)
        if start == "beginning":
            self.consumer.seek_to_beginning(*tps)
        elif start == "end":
            self.consumer.seek_to_end(*tps)
        else:
            self.consumer.seek_to_beginning(*[tp for tp in tps if tp not in start])
            for tp in tps:
                if tp in start:
                    self.consumer.seek(tp, start[tp])
        for tp in tps:  # resolve the positions now: "end" is the end as of now, not as of the first poll
            self.consumer.position(tp)
        self.assigned = tps

    def _all_partitions(self) -> list[TopicPartition] | None:
        found = [partitions(self.consumer, t) for t in self.topics]
        return [tp for tps in found for tp in tps] if all(found) else None

    def __enter__(self) -> TopicReader[T]:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self.consumer.close()

    def poll(self, timeout_ms: int = 500) -> list[T]:
        """Read what arrived (waiting up to ``timeout_ms`` for it); returns the new items, also added to ``seen``."""
        new: list[T] = []
        for batch in self.consumer.poll(timeout_ms=timeout_ms).values():
            for r in batch:
                record = _record(r)
                item = self.decode(record)
                if item is not None:
                    new.append(item)
                    self.records.append(record)
        self.seen.extend(new)
        return new

    def until(self, what: str, check: Callable[[list[T]], R | None], timeout: float = 120,
              logs: Path | None = None) -> R:
        """Read until ``check(seen)`` is truthy and return that; fails naming ``what``, the last items seen and
        the tails of the process logs in the folder ``logs`` (the process that should have produced them)."""
        def probe() -> R | None:
            found = check(self.seen)
            if not found:
                self.poll()
            return found

        tails = log_tails(logs) if logs is not None else None

        def context() -> str:
            seen = f"seen ({len(self.seen)}), last: {self.seen[-5:]}"
            return f"{seen}\n{tails()}" if tails is not None else seen

        return eventually(f"not seen: {what}", probe, timeout=timeout, every=0, context=context)

    def to_end(self, timeout: float = 60) -> list[T]:
        """Read up to the end of every partition as of now (with ``committed``, its last stable offset: the
        records of a transaction still open are waited for, not skipped); returns ``seen``."""
        ends = self.consumer.end_offsets(self.assigned)

        def at_end() -> bool:
            if all(self.consumer.position(tp) >= ends[tp] for tp in self.assigned):
                return True
            self.poll()
            return False

        eventually(f"read {self.topics} to their ends {ends}", at_end, timeout=timeout, every=0)
        return self.seen

    def drain(self, *, settle: float = 2.0, timeout: float = 120,
              counting: Callable[[list[T]], object] | None = None) -> list[T]:
        """Read until nothing new arrives for ``settle`` seconds (nothing that changes ``counting(seen)``, when
        given: a test's own records on a shared topic); returns ``seen``."""
        def read() -> object:
            self.poll()
            return len(self.records) if counting is None else counting(self.seen)

        quiet(f"{self.topics} quiet for {settle:.0f} s", read, settle=settle, timeout=timeout, every=0)
        return self.seen

    def latest(self, key: Callable[[T], K]) -> dict[K, T]:
        """The last item seen per ``key(item)``: a compacted topic's view of what was read."""
        return {key(item): item for item in self.seen}


def read_committed(bootstrap: str, topic: str, *, at_least: int, timeout: float, drain: bool = True,
                   worker: subprocess.Popen[bytes] | None = None) -> list[bytes | None]:
    """Committed values of ``topic`` from its beginning until ``at_least`` are seen (or ``timeout`` passes, or
    ``worker`` exits: the caller's assertion on the values then names what is missing); then, with ``drain``,
    until two seconds pass with nothing new: a duplicate must be seen too."""
    with TopicReader(bootstrap, [topic], raw, start="beginning") as reader:
        def enough(seen: list[Record]) -> bool:
            return len(seen) >= at_least or (worker is not None and worker.poll() is not None)

        started = time.monotonic()
        with suppress(AssertionError):  # short: returned as read, for the caller's assertion
            reader.until(f"{at_least} records on {topic}", enough, timeout=timeout)
        if drain and len(reader.seen) >= at_least:
            reader.drain(settle=2.0, timeout=max(timeout - (time.monotonic() - started), 30.0))
        return [r.value for r in reader.seen]


def records_to_end(bootstrap: str, topics: Iterable[str], *, committed: bool = True) -> list[Record]:
    """Every record of ``topics`` from their beginning to their end as of now (their last stable offset when
    ``committed``: records of open transactions are waited for, not skipped)."""
    with TopicReader(bootstrap, topics, raw, start="beginning", committed=committed) as reader:
        return reader.to_end()


def values_to_end(bootstrap: str, topic: str, *, committed: bool = True) -> list[bytes | None]:
    """Every value of ``topic`` from its beginning to its end as of now (see ``records_to_end``)."""
    return [r.value for r in records_to_end(bootstrap, [topic], committed=committed)]
