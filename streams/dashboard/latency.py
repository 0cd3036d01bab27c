"""End-to-end latency, source commit -> target acknowledgement, joined from the sinks' topics; sink retries and
settled conflicts counted from the same tail.

A Command carries the commit time of the change that caused it (``source.commit_time``); its CommandResult
carries when the sink received the target's acknowledgement (``applied_at``). The dashboard tails both
topics of each target from the moment it starts, joins them by ``command_id`` and observes the difference
into a histogram per target. Nothing in the flows or sinks changes for it, and the figure is what a user
sees: a change committed in one system, acknowledged by the other. The same tail sums the retries of each
applied command (``attempts - 1``) per target, and counts every record of ``isthmus.audit.conflicts`` (read
from its beginning) by entity type, field and winner.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.codecs.avro.single_object import SchemaStore
from streams.codecs.exceptions import CodecError
from streams.config.kafka import KafkaAddress, client_kwargs
from streams.flows.topics import AUDIT_CONFLICTS
from streams.flows.topics import topic as own_topic
from streams.kafka import names
from streams.metrics.histogram import LabelledHistogram
from streams.sinks.records import COMMAND, COMMAND_RESULT
from streams.sinks.topics import command_topic, is_command_topic, results_topic, writable_systems

CONFLICT = "isthmus.canonical.ConflictRecord"

#: Commands remembered while their result is awaited; the oldest are forgotten beyond this.
REMEMBERED = 20_000


def _histogram() -> LabelledHistogram:
    return LabelledHistogram("isthmus_end_to_end_latency_seconds",
                             "Source commit to target acknowledgement of each applied command, per target system.",
                             "target")


@dataclass(kw_only=True)
class LatencyJoin:
    histogram: LabelledHistogram = field(default_factory=_histogram)
    _commits: OrderedDict[str, datetime] = field(default_factory=OrderedDict)
    _waiting: OrderedDict[str, tuple[str, datetime]] = field(default_factory=OrderedDict)
    retries: Counter[str] = field(default_factory=Counter)
    #: The systems that take commands (systems/): one latency and retry series each.
    targets: tuple[str, ...] = field(default_factory=writable_systems)
    #: Since when commands are counted: the tail reads from the topics' end at the dashboard's start, so ``applied``
    #: is what was applied since (a sink's metrics port plays no part).
    since: datetime = field(default_factory=lambda: datetime.now(UTC))

    def command(self, value: Mapping[str, Any]) -> None:
        command_id = str(value["command_id"])
        commit = value["source"]["commit_time"]
        waiting = self._waiting.pop(command_id, None)
        if waiting is not None:
            self._observe(waiting[0], commit, waiting[1])
            return
        self._commits[command_id] = commit
        _bound(self._commits)

    def result(self, value: Mapping[str, Any]) -> None:
        command_id = str(value["command_id"])
        target, applied = str(value["target"]), value["applied_at"]
        self.retries[target] += max(int(value.get("attempts", 1)) - 1, 0)
        commit = self._commits.pop(command_id, None)
        if commit is None:
            self._waiting[command_id] = (target, applied)
            _bound(self._waiting)
            return
        self._observe(target, commit, applied)

    def _observe(self, target: str, commit: datetime, applied: datetime) -> None:
        self.histogram.observe(target, max((applied - commit).total_seconds(), 0.0))

    def summary(self) -> list[dict[str, Any]]:
        return [{"target": system, "applied": self.histogram.count(system), "since": self.since.isoformat(),
                 "p50_s": self.histogram.quantile(system, 0.5), "p95_s": self.histogram.quantile(system, 0.95)}
                for system in self.targets]


def _bound(remembered: OrderedDict[str, Any]) -> None:
    while len(remembered) > REMEMBERED:
        remembered.popitem(last=False)


@dataclass(kw_only=True)
class LatencyTail:
    """Reads new Commands and CommandResults since the dashboard started into a :class:`LatencyJoin`."""

    bootstrap: KafkaAddress
    store: SchemaStore
    join: LatencyJoin = field(default_factory=LatencyJoin)
    conflicts: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    _consumer: AIOKafkaConsumer | None = None
    _assigned: frozenset[TopicPartition] = frozenset()

    async def poll(self) -> None:
        if self._consumer is None:
            self._consumer = AIOKafkaConsumer(**client_kwargs(self.bootstrap), group_id=None,
                                              enable_auto_commit=False, isolation_level="read_committed",
                                              client_id=names.client_id("isthmus-dashboard-latency"))
            await self._consumer.start()
        consumer = self._consumer
        await self._assign(consumer)
        if not self._assigned:
            return  # none of the topics exists yet (a fresh stack): nothing to read, and nothing to wait for
        for _ in range(50):
            batches = await consumer.getmany(timeout_ms=100, max_records=2000)
            if not batches:
                return
            records = [r for rs in batches.values() for r in rs if r.value is not None]
            for record in sorted(records, key=lambda r: not is_command_topic(r.topic)):
                self._take(record.topic, record.value)

    def _take(self, topic: str, value: bytes) -> None:
        try:
            if topic == own_topic(AUDIT_CONFLICTS):
                conflict = self.store.decode(value, CONFLICT).value
                self.conflicts[(str(conflict["entity_type"]).rpartition(".")[2], str(conflict["field"]),
                                str(conflict["winner"]))] += 1
            elif is_command_topic(topic):
                self.join.command(self.store.decode(value, COMMAND).value)
            else:
                self.join.result(self.store.decode(value, COMMAND_RESULT).value)
        except (CodecError, KeyError, TypeError):
            return

    async def _assign(self, consumer: AIOKafkaConsumer) -> None:
        await consumer._client.force_metadata_update()
        wanted: set[TopicPartition] = set()
        targets = self.join.targets
        conflicts = own_topic(AUDIT_CONFLICTS)
        for topic in [command_topic(s) for s in targets] + [results_topic(s) for s in targets] + [conflicts]:
            wanted |= {TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()}
        if wanted == self._assigned:
            return
        new = wanted - self._assigned
        positions = {tp: await consumer.position(tp) for tp in self._assigned & wanted}
        consumer.assign(list(wanted))
        for tp, offset in positions.items():
            consumer.seek(tp, offset)
        from_start = {tp for tp in new if tp.topic == conflicts}
        if from_start:
            await consumer.seek_to_beginning(*from_start)
        if new - from_start:
            await consumer.seek_to_end(*(new - from_start))
        self._assigned = frozenset(wanted)

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
