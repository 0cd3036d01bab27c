"""A sink worker: consume one system's command topic and apply each command through the target's adapter.

Effectively once, in order per entity:
- records are scheduled per key (one command of an entity at a time, in offset order), many entities at
  once, with at most ``max_in_flight`` records fetched and not yet committed (fetching pauses at the bound);
- a command is complete when the target acknowledged it (its CommandResult is ready) or it was refused for
  good (its DeadLetter is ready); nothing else completes it;
- every ``commit_interval_ms`` the longest completed prefix of each partition is committed in one Kafka
  transaction together with its results and dead letters. So a worker killed at any moment re-applies only
  commands whose offsets were not committed, and the target answers those from its idempotency table.
- a transaction that fails (other than fenced) drops its producer, whose state after a fatal error
  (TRANSACTIONAL_ID_AUTHORIZATION_FAILED) allows no abort; a new one (its start fences the old and aborts its
  transaction) commits the same prefix again after a backoff, the WARNING naming what Kafka refused and to whom.
- while records wait and nothing was committed for :data:`~streams.sinks.presence.HEARTBEAT_S` (its target fails),
  the offsets in hand are committed again, and every commit carries the sink's note (breaker, progress, failure) in
  its offsets' metadata: how ``isthmus status`` tells a sink that runs from one that does not
  (streams/sinks/presence.py).

One worker per target: partitions are assigned manually and the transactional id is per target, so a second
worker (or a restart after SIGKILL) fences the first.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import time
from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError, ProducerFenced
from aiokafka.structs import OffsetAndMetadata

from streams.codecs.avro.single_object import SchemaStore
from streams.config.kafka import KafkaAddress, client_kwargs, producer_kwargs
from streams.errors import IsthmusError, exception_text
from streams.kafka import written_schemas
from streams.kafka.producers import abandon
from streams.kafka.refusals import refusal
from streams.kafka.sizes import TOO_LARGE, raise_topic_limit, record_size
from streams.kafka.topics import TopicSpec, ensure_topics
from streams.metrics.histogram import LabelledHistogram
from streams.sinks.adapters.base import Adapter
from streams.sinks.backoff import Backoff
from streams.sinks.bounded import MAX_REQUEST_SIZE_ENV, REFUSED_BOUND, bounded_letter, bounded_result
from streams.sinks.breaker import CircuitBreaker
from streams.sinks.config.model import TargetConfig
from streams.sinks.delivery import ALONE_ATTEMPTS_SETTING, ALONE_S_SETTING, Delivered, Deliverer, RetryPolicy
from streams.sinks.exceptions import KafkaUnavailable, WorkerFenced
from streams.sinks.folding import folds
from streams.sinks.gate import BREAKER, RETRY_AFTER, TargetGate
from streams.sinks.offsets import ContiguousOffsets
from streams.sinks.outcomes import Applied
from streams.sinks.presence import HEARTBEAT_S, SinkNote
from streams.sinks.records import (
    CommandUnusable,
    Original,
    SinkCommand,
    dead_letter_value,
    decode_command,
    output_headers,
    result_value,
)
from streams.sinks.retrying import Retry
from streams.sinks.scheduler import KeyedScheduler
from streams.sinks.settings import ResolvedSinkSettings, SinkSettings
from streams.sinks.throttle import throttle_of, throttle_text
from streams.sinks.topics import COMMAND_PARTITIONS, DLQ_PARTITIONS, command_topic, sink_stage
from streams.sinks.unmade import UnmadeCreates

log = logging.getLogger("isthmus.sink")

PARTITION_REFRESH_S = 30.0

#: The wait before a new producer retries a failed commit: 1 s, doubling up to 30 s (an ACL granted back is seen
#: within 30 s; a broker that refuses every try is not asked every 200 ms).
COMMIT_BACKOFF = Backoff(base=1.0, multiplier=2.0, maximum=30.0, jitter=0.0)
#: From this failed commit in a row on, each is said as an ERROR with what it holds up and the fix.
COMMIT_FAILURES_SAID_AS_ERROR = 3


@dataclass(frozen=True, kw_only=True)
class Output:
    """A record to write in the transaction that commits the command it came from (read at ``tp``, ``offset``);
    ``remake``: the same record made again within a smaller bound, for one Kafka refused as too large."""

    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]
    tp: TopicPartition | None = None
    offset: int = -1
    #: What it is, as logs name it: ``result`` or ``dead letter``.
    kind: str = "record"
    remake: Callable[[int], Output] | None = field(default=None, compare=False, repr=False)


@dataclass(kw_only=True)
class _Item:
    tp: TopicPartition
    offset: int
    original: Original
    command: SinkCommand | None = None
    unusable: CommandUnusable | None = None
    #: ``time.monotonic()`` when it was fetched: its wait in the sink's queue is measured from there.
    fetched_at: float = 0.0
    #: Its place in the order the worker fetched records: its calls wait for their turn at the target in this
    #: order (an older command's follow-up call before a newer one's first; streams/sinks/throttle.py).
    position: int = 0
    #: The earlier updates of its entity folded into it (streams/sinks/folding.py), which end as it ends.
    folded: list[_Item] = field(default_factory=list)
    #: What the target answered its command, once applied.
    applied: Applied | None = None


@dataclass(kw_only=True)
class SinkStats:
    applied: int = 0
    replayed: int = 0
    #: Answered with a business refusal the route declares (``refusals``): a result for the flow, not applied.
    refused: int = 0
    dead_lettered: int = 0
    #: Dead letters written in a committed transaction: only those are listed by ``isthmus topics dlq list``.
    dead_letters_committed: int = 0
    #: Transactions that failed (each retried with a new producer).
    commit_failures: int = 0
    committed: int = 0
    transactions: int = 0
    #: Transactions that only committed the offsets in hand again, while the target failed (see the module).
    heartbeats: int = 0
    #: Times the in-flight bound was reached while a retrying command held back its partition's commit (said).
    held_back: int = 0
    #: Updates folded into a later one of their entity and written with it (streams/sinks/folding.py).
    folded: int = 0
    max_uncommitted: int = 0
    started: float = field(default_factory=time.monotonic)

    def as_dict(self) -> dict[str, int]:
        return {"applied": self.applied, "replayed": self.replayed, "refused": self.refused,
                "dead_lettered": self.dead_lettered, "dead_letters_committed": self.dead_letters_committed,
                "commit_failures": self.commit_failures,
                "committed": self.committed, "transactions": self.transactions, "heartbeats": self.heartbeats,
                "held_back": self.held_back, "folded": self.folded, "max_uncommitted": self.max_uncommitted}


class SinkWorker:
    def __init__(self, *, config: TargetConfig, adapter: Adapter, settings: ResolvedSinkSettings,
                 bootstrap_servers: KafkaAddress, store: SchemaStore | None = None) -> None:
        self.config = config
        self.adapter = adapter
        self.resolved = settings
        self.options = settings.settings
        self.bootstrap_servers = bootstrap_servers
        self.store = store or SchemaStore.from_directory()
        self.system = settings.system
        self.stage = sink_stage(self.system)
        self.stats = SinkStats()
        self.unmade = UnmadeCreates()
        #: First try to last answer of each command the target answered (retries and waits included).
        self.delivery_seconds = LabelledHistogram(
            "isthmus_sink_delivery_seconds", "Time to deliver a command through the target's API, from the first "
            "try to the last answer (retries and Retry-After waits included).", "target")
        #: Where else a command's time goes in the sink: before it is fetched, queued, and the commit.
        self.record_wait_seconds = LabelledHistogram(
            "isthmus_sink_record_wait_seconds", "Per command: its Kafka timestamp (the flow produced it) to the sink "
            "fetching it (the flow's transaction, the broker, the sink's poll).", "target")
        self.queue_seconds = LabelledHistogram(
            "isthmus_sink_queue_seconds", "Per command: fetched to its first try (waiting behind its entity's "
            "earlier commands or for a free slot of ISTHMUS_SINK_CONCURRENCY).", "target")
        self.commit_seconds = LabelledHistogram(
            "isthmus_sink_commit_seconds", "Per Kafka transaction of the sink: results, dead letters and offsets, "
            "begin to committed (one every ISTHMUS_SINK_COMMIT_INTERVAL_MS at most).", "target")
        self.gate = TargetGate(CircuitBreaker(threshold=self.options.breaker_threshold,
                                              reset_s=self.options.breaker_reset_s), name=f"sink {self.system}")
        policy = RetryPolicy(
            backoff=Backoff(base=self.options.retry_base_s, multiplier=self.options.retry_multiplier,
                            maximum=self.options.retry_max_s, jitter=self.options.retry_jitter),
            retry_after_max_s=self.options.retry_after_max_s,
            transient_deadline_s=self.options.transient_deadline_s,
            alone_attempts=self.options.failing_alone_attempts, alone_s=self.options.failing_alone_s)
        self.deliverer = Deliverer(adapter=adapter, gate=self.gate, policy=policy, config=config)
        #: The pace of the adapter's calls (an HTTP-borne adapter's; None for sql): its rate and 429s.
        self.throttle = throttle_of(adapter)
        self.scheduler: KeyedScheduler[_Item] = KeyedScheduler(
            concurrency=self.options.concurrency, fold=_fold if self.options.fold_updates else None)
        self.offsets: ContiguousOffsets[TopicPartition, Output] = ContiguousOffsets()
        self._last_seen: dict[TopicPartition, int] = {}
        self._fetched = itertools.count()
        self._tasks: set[asyncio.Task[None]] = set()
        #: The records being delivered now, by partition and offset; and the commands said to hold back a commit.
        self._running: dict[tuple[TopicPartition, int], _Item] = {}
        self._said_holding: set[str] = set()
        self._stopping = False
        self._paused = False
        self._flush_lock = asyncio.Lock()
        self._fatal: BaseException | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        #: Failed transactions in a row (their producer dropped), and when the next producer may start.
        self._commit_failures = 0
        self._commit_retry_at = 0.0
        #: What the last failed commit said, until a commit succeeds (the summary line and /metrics name it).
        self.commit_error: str | None = None
        #: Results and dead letters written smaller than made, by (kind, what bounded them: ``setting`` or ``topic``).
        self.too_large: Counter[tuple[str, str]] = Counter()
        self.committed_offsets: dict[TopicPartition, int] = {}
        #: When the last transaction committed (monotonic), and when one last moved an offset (ms, wall clock).
        self._committed_at = time.monotonic()
        self._advanced_ms: int | None = None

    # lifecycle

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set (SIGTERM), then stop gracefully; raises on a fatal error."""
        r = self.resolved
        await ensure_topics(self.bootstrap_servers, [
            TopicSpec(name=r.command_topic, partitions=COMMAND_PARTITIONS),
            TopicSpec(name=r.results_topic, partitions=COMMAND_PARTITIONS),
            TopicSpec(name=r.dlq_topic, partitions=DLQ_PARTITIONS, config=(("retention.ms", "-1"),)),
            written_schemas.topic_spec(),
        ])
        await asyncio.to_thread(written_schemas.attach, self.store, self.bootstrap_servers)
        self._producer = self._new_producer()
        self._consumer = AIOKafkaConsumer(
            **client_kwargs(self.bootstrap_servers), client_id=r.client_id, group_id=r.group_id,
            enable_auto_commit=False, auto_offset_reset="earliest", isolation_level="read_committed")
        try:
            await self.adapter.start()
            await self._producer.start()
            await self._consumer.start()
            await self._assign()
            log.info("sink %s: %s; consuming %s as group %s, results to %s, dead letters to %s", self.system,
                     self.adapter.describe(), r.command_topic, r.group_id, r.results_topic, r.dlq_topic)
            for route in self.config.http_routes():
                if route.batch is not None:
                    log.info("sink %s: %s %s commands applied at the same time go out together through %s %s "
                             "(up to %d per call; see targets/README.md)", self.system, route.payload_type,
                             route.operation, route.batch.method, route.batch.path, route.batch.max_items)
            await self._loop(stop)
        finally:
            await self._shutdown()

    async def _loop(self, stop: asyncio.Event) -> None:
        assert self._consumer is not None
        flusher = asyncio.create_task(self._flush_every(), name="sink-flush")
        summary = asyncio.create_task(self._summary_every(), name="sink-summary")
        refreshed = time.monotonic()
        try:
            while not stop.is_set() and self._fatal is None:
                self._backpressure()
                room = max(1, self.options.max_in_flight - self.offsets.tracked)
                batches = await self._consumer.getmany(timeout_ms=200, max_records=room)
                for tp, records in batches.items():
                    for record in records:
                        self._accept(tp, record)
                self._dispatch()
                if time.monotonic() - refreshed > PARTITION_REFRESH_S:
                    refreshed = time.monotonic()
                    await self._assign()
        finally:
            flusher.cancel()
            summary.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
            with contextlib.suppress(asyncio.CancelledError):
                await summary
        if self._fatal is not None:
            raise self._fatal

    def _new_producer(self) -> AIOKafkaProducer:
        r = self.resolved
        return AIOKafkaProducer(**producer_kwargs(self.bootstrap_servers), client_id=r.client_id,
                                transactional_id=r.transactional_id, enable_idempotence=True, acks="all",
                                max_request_size=self.options.max_request_size)

    async def _shutdown(self) -> None:
        self._stopping = True
        # whatever waits (the breaker, a backoff, a Retry-After, its turn under the rate) stops now; calls already
        # out get the grace: SIGTERM never waits for an outage to end
        waiting = self.deliverer.stop() + (self.throttle.stop() if self.throttle is not None else 0)
        await asyncio.sleep(0)
        calling = {t for t in self._tasks if not t.done()}
        if (calling or waiting) and self._fatal is None:
            log.info("sink %s: stopping; %d command(s) waiting to retry or for their turn stopped at once, %d call(s) "
                     "in flight get %.0f s to finish (%s); what is not applied stays uncommitted and is sent again "
                     "after a restart, under the same idempotency keys", self.system, waiting, len(calling),
                     self.options.stop_grace_s, SinkSettings.env_name("stop_grace_s"))
            if calling:
                await asyncio.wait(calling, timeout=self.options.stop_grace_s)
        if self._fatal is None and self._producer is not None:
            with contextlib.suppress(Exception):
                await self._flush()
        abandoned = [t for t in self._tasks if not t.done()]
        if abandoned:
            await _cancelled(abandoned)
            log.info("sink %s: abandoned %d call(s) uncommitted; they are retried after a restart",
                     self.system, len(abandoned))
        for closing in (self._consumer, self._producer):
            if closing is not None:
                with contextlib.suppress(Exception):
                    await closing.stop()
        with contextlib.suppress(Exception):
            await self.adapter.close()
        log.info("sink %s: stopped; %s", self.system, self._summary_text())

    # fetching

    async def _assign(self) -> None:
        assert self._consumer is not None
        topic = self.resolved.command_topic
        partitions: set[int] | None = None
        for _ in range(50):
            partitions = self._consumer.partitions_for_topic(topic)
            if partitions:
                break
            await self._consumer._client.force_metadata_update()
            await asyncio.sleep(0.1)
        if not partitions:
            raise KafkaUnavailable(f"topic {topic} has no partitions visible to this worker; check that Kafka "
                                   f"at {self.bootstrap_servers} is up and the topic exists")
        wanted = {TopicPartition(topic, p) for p in partitions}
        if wanted != self._consumer.assignment():
            self._consumer.assign(sorted(wanted))
            self._paused = False

    def _backpressure(self) -> None:
        assert self._consumer is not None
        full = self.offsets.tracked >= self.options.max_in_flight
        if full and not self._paused:
            self._consumer.pause(*self._consumer.assignment())
            self._paused = True
        elif not full and self._paused:
            self._consumer.resume(*self._consumer.assignment())
            self._paused = False
        if full:
            self._say_held_back()

    def _say_held_back(self) -> None:
        """At the in-flight bound, only the commands in hand are tried: when a command retrying a transient failure
        holds back its partition's commit, nothing else is fetched until it ends, so say at WARNING which one and
        what to do, once per command, and count it (a new user's sink applied nothing for 17 minutes, silently,
        behind one command answered 503 with Retry-After again and again)."""
        holding: list[tuple[TopicPartition, int, Retry]] = []
        for tp, offset in self.offsets.first_pending().items():
            item = self._running.get((tp, offset))
            retry = self.deliverer.retrying.of(item.command) if item is not None and item.command else None
            if retry is not None:
                holding.append((tp, offset, retry))
        ids = {retry.command.command_id for _, _, retry in holding}
        new = ids - self._said_holding
        self._said_holding = ids
        if not new:
            return
        self.stats.held_back += 1
        policy = self.deliverer.policy
        deadline = ("ISTHMUS_SINK_TRANSIENT_DEADLINE_S (unset: never) to dead-letter a command that retries that "
                    "long" if policy.transient_deadline_s is None else
                    f"ISTHMUS_SINK_TRANSIENT_DEADLINE_S (now {policy.transient_deadline_s:g} s) lower")
        now = self.deliverer.clock()
        names = "; ".join(
            f"partition {tp.partition} waits for offset {offset}, {retry.command.payload_type.rpartition('.')[2]} "
            f"{retry.command.entity_key} ({retry.command.operation} {retry.command.command_id}), retrying for "
            f"{now - retry.since:.0f} s, {retry.attempts} attempts, "
            f"{'failing alone' if retry.last_alone else 'failing with the target'}: {_shortened(retry.reason)}"
            for tp, offset, retry in holding[:3])
        more = f" (and {len(holding) - 3} more)" if len(holding) > 3 else ""
        log.warning("sink %s: %d records fetched and not committed, the in-flight bound (%s): fetching is paused and "
                    "only the commands in hand are tried, as the commits wait for commands retrying a transient "
                    "failure: %s%s. Nothing behind them commits until they are applied or dead-lettered. Fix what "
                    "%s answers; or set %s, then replay the dead letter after the fix (isthmus topics dlq replay); "
                    "a command failing alone is dead-lettered after %s=%d failures and %s=%g s (said once per "
                    "command; counted in isthmus_sink_held_back_total)", self.system, self.offsets.tracked,
                    SinkSettings.env_name("max_in_flight"), names, more, self.system.upper(), deadline,
                    ALONE_ATTEMPTS_SETTING, policy.alone_attempts, ALONE_S_SETTING, policy.alone_s)

    def _accept(self, tp: TopicPartition, record: ConsumerRecord[bytes, bytes]) -> None:
        if record.offset <= self._last_seen.get(tp, -1):
            return
        self._last_seen[tp] = record.offset
        original = Original(topic=tp.topic, partition=tp.partition, offset=record.offset,
                            timestamp_ms=record.timestamp, key=record.key, value=record.value,
                            headers=tuple((k, bytes(v) if v is not None else None) for k, v in record.headers))
        fetched_at = time.monotonic()
        self.record_wait_seconds.observe(self.system, max(0.0, time.time() - record.timestamp / 1000))
        item = _Item(tp=tp, offset=record.offset, original=original, fetched_at=fetched_at,
                     position=next(self._fetched))
        try:
            item.command = decode_command(self.store, record.value)
        except CommandUnusable as exc:
            item.unusable = exc
        self.offsets.track(tp, record.offset)
        self.stats.max_uncommitted = max(self.stats.max_uncommitted, self.offsets.tracked)
        key: Hashable = record.key if record.key is not None else (tp, record.offset)
        self.scheduler.add((tp.partition, key), item)

    # applying

    def _dispatch(self) -> None:
        while not self._stopping and self._fatal is None:
            taken = self.scheduler.take()
            if taken is None:
                return
            key, item = taken
            task = asyncio.create_task(self._process(key, item), name=f"sink-{item.tp.partition}-{item.offset}")
            self._running[(item.tp, item.offset)] = item
            for earlier in item.folded:  # their commits wait for it: said as it when they hold one back
                self._running[(earlier.tp, earlier.offset)] = item
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _process(self, key: Hashable, item: _Item) -> None:
        try:
            outputs = await self._outputs(item)
        except asyncio.CancelledError:
            self._running.pop((item.tp, item.offset), None)
            raise
        except Exception as exc:  # a bug on one command must not stop every other entity: dead-letter it
            log.exception("sink %s: internal error on %s@%d", self.system, item.tp, item.offset)
            outputs = (self._dead_letter(item, attempts=1, error_type="SinkInternalError",
                                         reason=f"the {self.system} sink failed on this record: {exc!r}; this is "
                                                "a bug in the sink or its target file: report it, then replay"),)
        self._running.pop((item.tp, item.offset), None)
        for earlier in item.folded:
            self._running.pop((earlier.tp, earlier.offset), None)
            self.offsets.complete(earlier.tp, earlier.offset, (self._folded_output(earlier, item, outputs),))
        self.offsets.complete(item.tp, item.offset, outputs)
        self.scheduler.finish(key)
        self._dispatch()

    def _folded_output(self, earlier: _Item, item: _Item, outputs: tuple[Output, ...]) -> Output:
        """How an update folded into ``item`` ends: a result of ``item``'s status when it was applied, its response
        naming the command that carried its fields; else a dead letter naming that command and why it failed."""
        assert earlier.command is not None and item.command is not None
        self.stats.folded += 1
        applied = item.applied
        if applied is not None and not applied.refused and outputs and outputs[0].kind == "result":
            key = earlier.original.key if earlier.original.key is not None else earlier.command.entity_key.encode()
            carried = Applied(status=applied.status, body={"folded_into": item.command.command_id})
            return self._result_output(earlier, key, result_value(earlier.command, carried, attempts=0),
                                       self.options.max_request_size)
        why = next((o for o in outputs if o.kind == "dead letter"), None)
        return self._dead_letter(earlier, attempts=0, error_type="FoldedUpdateFailed", reason=(
            f"this update was folded into the later update {item.command.command_id} of {item.command.entity_key} "
            f"(offset {item.offset}), which carried its fields and was not applied"
            + (": see that command's dead letter" if why is not None else "")
            + "; a replay derives the entity's commands again from its current state"))

    async def _outputs(self, item: _Item) -> tuple[Output, ...]:
        if item.command is None:
            assert item.unusable is not None
            return (self._dead_letter(item, reason=item.unusable.reason, error_type=item.unusable.error_type,
                                      attempts=0),)
        command = item.command
        if command.target != self.system:
            return (self._dead_letter(item, attempts=0, error_type="WrongTarget",
                                      reason=f"command {command.command_id} is for {command.target} but arrived "
                                             f"on {item.tp.topic}, which the {self.system} sink consumes; the flow "
                                             f"must send it to {command_topic(command.target)}"),)
        began = time.monotonic()
        self.queue_seconds.observe(self.system, began - item.fetched_at)
        delivered = await self.deliverer.deliver(command, item.position)
        self.delivery_seconds.observe(self.system, time.monotonic() - began)
        if isinstance(delivered.outcome, Applied):
            item.applied = delivered.outcome
            if not delivered.outcome.refused:
                self.unmade.applied(command)
            return (self._result(item, command, delivered),)
        reason = self.unmade.dead_lettered(command, f"{item.tp.topic}[{item.tp.partition}]@{item.offset}",
                                           delivered.outcome.reason)
        return (self._dead_letter(item, reason=reason, error_type=delivered.outcome.error_type,
                                  attempts=delivered.attempts),)

    def _result(self, item: _Item, command: SinkCommand, delivered: Delivered) -> Output:
        applied = delivered.outcome
        assert isinstance(applied, Applied)
        if applied.refused:
            self.stats.refused += 1
        else:
            self.stats.applied += 1
        self.stats.replayed += applied.replayed
        log.debug("sink %s: %s %s %s %s %s -> %d%s%s in %d attempt(s)", self.system,
                  "refused" if applied.refused else "gone" if applied.gone else "applied", command.command_id,
                  command.operation, command.payload_type.rpartition(".")[2], command.entity_key, applied.status,
                  f" {dict(applied.ids)}" if applied.ids else "", " (replayed)" if applied.replayed else "",
                  delivered.attempts)
        key = item.original.key if item.original.key is not None else command.entity_key.encode()
        return self._result_output(item, key, result_value(command, applied, attempts=delivered.attempts),
                                   self.options.max_request_size)

    def _result_output(self, item: _Item, key: bytes, result: dict[str, Any], limit: int) -> Output:
        """The CommandResult record, within ``limit`` bytes (:mod:`~streams.sinks.bounded`)."""
        headers = output_headers(command_id=str(result["command_id"]))
        value, whole = bounded_result(self.store, result, key=key, headers=headers, limit=limit)
        if whole is not None:
            self._bounded(item, "result", whole, limit, "without the target's answer (its ids kept)")
        return Output(topic=self.resolved.results_topic, key=key, value=value, headers=headers, tp=item.tp,
                      offset=item.offset, kind="result",
                      remake=lambda bound: self._result_output(item, key, result, bound))

    def _dead_letter(self, item: _Item, *, reason: str, error_type: str, attempts: int) -> Output:
        self.stats.dead_lettered += 1
        command_id = item.command.command_id if item.command else None
        log.warning("sink %s: dead-lettered %s@%d%s: %s", self.system, item.tp, item.offset,
                    f" (command {command_id})" if command_id else "", reason)
        letter = dead_letter_value(item.original, reason=reason, error_type=error_type, stage=self.stage,
                                   attempts=max(attempts, 1), worker=self.resolved.worker_id)
        return self._letter_output(item, letter, self.options.max_request_size)

    def _letter_output(self, item: _Item, letter: dict[str, Any], limit: int) -> Output:
        """The DeadLetter record, within ``limit`` bytes (:mod:`~streams.sinks.bounded`)."""
        command_id = item.command.command_id if item.command else None
        headers = output_headers(command_id=command_id, stage=self.stage)
        value, whole = bounded_letter(self.store, letter, key=item.original.key, headers=headers, limit=limit,
                                      command=item.command.raw if item.command else None)
        if whole is not None:
            self._bounded(item, "dead letter", whole, limit, "without the command's value "
                          f"({len(item.original.value or b'')} bytes; its reason, its command's fields and an excerpt "
                          "kept), so `isthmus topics dlq replay` re-derives it")
        return Output(topic=self.resolved.dlq_topic, key=item.original.key, value=value, headers=headers,
                      tp=item.tp, offset=item.offset, kind="dead letter",
                      remake=lambda bound: self._letter_output(item, letter, bound))

    def _bounded(self, item: _Item, kind: str, whole: int, limit: int, how: str) -> None:
        """Say and count a result or dead letter written smaller than made: over the setting, or (``limit`` below
        it) refused by Kafka at that size."""
        by = "setting" if limit == self.options.max_request_size else "topic"
        self.too_large[(kind, by)] += 1
        if by == "setting":
            log.warning("sink %s: the %s of %s@%d is %d bytes, over the %d bytes the sink produces at most (%s): it is "
                        "written %s. Fix: raise %s to at least %d and the max.message.bytes of its topic with it "
                        "(counted in isthmus_sink_records_too_large_total)", self.system, kind, item.tp, item.offset,
                        whole, limit, MAX_REQUEST_SIZE_ENV, how, MAX_REQUEST_SIZE_ENV, whole)

    # committing

    async def _flush_every(self) -> None:
        interval = self.options.commit_interval_ms / 1000
        while True:
            await asyncio.sleep(interval)
            try:
                await self._flush()
            except asyncio.CancelledError:
                raise
            except BaseException as exc:
                self._fatal = exc
                return

    async def _flush(self) -> None:
        """Commit every completed prefix with its outputs in one transaction."""
        async with self._flush_lock:
            ready = self.offsets.ready()
            offsets = {tp: c.next_offset for tp, c in ready.items()} or self._heartbeat_offsets()
            if not offsets or not await self._producer_ready():
                return
            producer = self._producer
            assert producer is not None
            began = time.monotonic()
            sent: list[asyncio.Future[Any]] = []
            #: The outputs sent, in the order of ``sent`` (the written schemas' records follow them there), and
            #: those Kafka refused as too large: each is tied to its own record, made again smaller.
            outputs: list[Output] = []
            refused: list[tuple[Output, BaseException]] = []
            try:
                unrecorded = self.store.unrecorded()  # recorded with the first records written with it
                await producer.begin_transaction()
                for committable in ready.values():
                    for output in committable.outputs:
                        try:
                            sent.append(await producer.send(output.topic, output.value, key=output.key,
                                                            headers=output.headers))
                        except TOO_LARGE as exc:  # aiokafka's own check (each output was made within it)
                            refused.append((output, exc))
                            continue
                        outputs.append(output)
                for topic, partition, key, value, _ in written_schemas.out_records(
                        unrecorded, writer=self.resolved.worker_id):
                    sent.append(await producer.send(topic, value, key=key, partition=partition))
                # a record batch the broker refused fails here, where its record is still known
                answers = await asyncio.gather(*sent, return_exceptions=True)
                refused += [(output, answer) for output, answer in zip(outputs, answers, strict=False)
                            if isinstance(answer, TOO_LARGE)]
                failed = refused[0][1] if refused else next(
                    (answer for answer in answers if isinstance(answer, BaseException)), None)
                if failed is not None:
                    raise failed
                note = self.note(advanced=bool(ready)).encode()
                await producer.send_offsets_to_transaction(
                    {tp: OffsetAndMetadata(offset, note) for tp, offset in offsets.items()}, self.resolved.group_id)
                await producer.commit_transaction()
                self.store.recorded(stored.fingerprint for stored in unrecorded)
            except ProducerFenced as exc:
                raise WorkerFenced(f"another {self.system} sink worker took over (transactional id "
                                   f"{self.resolved.transactional_id}); this one stops without committing") from exc
            except Exception as exc:  # the producer may be past any abort (FATAL_ERROR): a new one retries
                abandon(producer, sent, exc)
                self._producer = None
                remade = self._remake_refused(refused)
                await self._commit_failed("commit failed", exc, remade=remade)
                with contextlib.suppress(Exception):
                    await producer.stop()
                return
            self._commit_failures, self.commit_error = 0, None
            self._committed_at = time.monotonic()
            if not ready:
                self.stats.heartbeats += 1
                return
            self._advanced_ms = int(time.time() * 1000)
            for tp, committable in ready.items():
                self.stats.committed += self.offsets.confirm(tp, committable.next_offset)
                self.committed_offsets[tp] = committable.next_offset
                self.stats.dead_letters_committed += sum(1 for output in committable.outputs
                                                         if output.topic == self.resolved.dlq_topic)
            self.stats.transactions += 1
            self.commit_seconds.observe(self.system, time.monotonic() - began)

    def _heartbeat_offsets(self) -> dict[TopicPartition, int]:
        """With records waiting and no commit for :data:`HEARTBEAT_S`: the offsets this worker holds committed, to
        commit again (the first record fetched of a partition it has not committed on is where its group stands)."""
        if not self.offsets.tracked or time.monotonic() - self._committed_at < HEARTBEAT_S:
            return {}
        return {**self.offsets.heads(), **self.committed_offsets}

    def note(self, *, advanced: bool) -> SinkNote:
        """The sink's state for its next commit's offsets (``advanced``: that commit moves them)."""
        now_ms = int(time.time() * 1000)
        oldest = self.deliverer.retrying.oldest()
        return SinkNote(breaker=str(self.gate.state), at_ms=now_ms,
                        advanced_ms=now_ms if advanced else self._advanced_ms,
                        failing=None if oldest is None else oldest.reason,
                        credentials_refused=self.deliverer.credentials.refusing)

    async def _producer_ready(self) -> bool:
        """A producer to commit with: the one in hand, else (after a failed transaction, once its backoff is over)
        a new one, started (its start fences the dropped one and aborts its transaction)."""
        if self._producer is not None:
            return True
        if time.monotonic() < self._commit_retry_at:
            return False
        producer = None
        try:
            producer = self._new_producer()
            await producer.start()
        except (KafkaError, IsthmusError) as exc:
            if producer is not None:
                with contextlib.suppress(Exception):
                    await producer.stop()
            await self._commit_failed("a new producer could not start", exc)
            return False
        self._producer = producer
        return True

    def _remake_refused(self, refused: list[tuple[Output, BaseException]]) -> int:
        """Make each output Kafka refused as too large again within :data:`REFUSED_BOUND`, in place of the one
        refused (its record's alone: the other records of the transaction go as they were), saying so at ERROR;
        returns how many were made smaller."""
        remade = 0
        for output, exc in refused:
            size = record_size(output.key, output.value, output.headers)
            smaller = output.remake(REFUSED_BOUND) if output.remake is not None and output.tp is not None else None
            if smaller is None or record_size(smaller.key, smaller.value, smaller.headers) >= size:
                log.error("sink %s: Kafka refused the %s of %s@%d for %s as too large (%d bytes: %s), and it cannot "
                          "be made smaller; nothing commits until it goes. Fix: %s", self.system, output.kind,
                          output.tp, output.offset, output.topic, size, exception_text(exc),
                          raise_topic_limit(output.topic, size))
                continue
            assert output.tp is not None
            self.offsets.replace(output.tp, output.offset, output, smaller)
            remade += 1
            log.error("sink %s: Kafka refused the %s of %s@%d for %s as too large (%d bytes, within the %d bytes of "
                      "%s: the topic takes less, its max.message.bytes or the brokers' message.max.bytes): it is "
                      "written smaller instead (%d bytes, as one over the setting is) and the commit retried with the "
                      "other records unchanged. Fix: %s, or lower %s to the topic's limit (counted in "
                      "isthmus_sink_records_too_large_total)", self.system, output.kind, output.tp, output.offset,
                      output.topic, size, self.options.max_request_size, MAX_REQUEST_SIZE_ENV,
                      record_size(smaller.key, smaller.value, smaller.headers), raise_topic_limit(output.topic, size),
                      MAX_REQUEST_SIZE_ENV)
        return remade

    async def _commit_failed(self, what: str, exc: Exception, *, remade: int = 0) -> None:
        """Say what failed (what Kafka refused and to whom, with the ACL to grant) and when it is tried again: a
        WARNING, an ERROR with what it holds up and the fix from the :data:`COMMIT_FAILURES_SAID_AS_ERROR`-th
        failure in a row (nothing commits meanwhile). ``remade``: records the failure was tied to, made smaller
        (the next commit is tried at once)."""
        self._commit_failures += 1
        self.stats.commit_failures += 1
        delay = 0.0 if remade else COMMIT_BACKOFF.delay(self._commit_failures)
        self._commit_retry_at = time.monotonic() + delay
        said = refusal(exc, self.bootstrap_servers)
        self.commit_error = said or f"{type(exc).__name__}: {exception_text(exc)}"
        if remade or self._commit_failures < COMMIT_FAILURES_SAID_AS_ERROR:
            log.warning("sink %s: %s (%s); its producer is replaced and the commit retried in %.1f s (attempt %d)",
                        self.system, what, self.commit_error, delay, self._commit_failures)
            return
        fix = ("see above" if said else
               f"raise {MAX_REQUEST_SIZE_ENV} and the topics' max.message.bytes to what the record needs"
               if isinstance(exc, TOO_LARGE) else
               "check that the brokers run and answer this sink (isthmus status; a transaction left hanging: "
               "isthmus topics hanging --abort)")
        log.error("sink %s: %s (%s); attempt %d in a row, nothing has committed for %.0f s: %d fetched command(s) wait "
                  "with their results, dead letters and offsets (fetching stops at %d), and a restart would apply "
                  "the uncommitted ones again. The commit is retried in %.1f s with a new producer. Fix: %s (counted "
                  "in isthmus_sink_commit_failures_total)", self.system, what, self.commit_error,
                  self._commit_failures, time.monotonic() - self._committed_at, self.offsets.tracked,
                  self.options.max_in_flight, delay, fix)

    # reporting

    @property
    def commits_failing(self) -> int:
        """Failed commits in a row now (0: the last one succeeded)."""
        return self._commit_failures

    async def _summary_every(self) -> None:
        while True:
            await asyncio.sleep(self.options.summary_interval_s)
            log.info("sink %s: %s", self.system, self._summary_text())

    def _summary_text(self) -> str:
        s = self.stats
        unlisted = s.dead_lettered - s.dead_letters_committed
        gone = sum(self.deliverer.gone.values())
        return (f"{s.applied} applied ({s.replayed} replayed{f', {gone} gone' if gone else ''}), {s.refused} refused, "
                f"{s.dead_lettered} dead-lettered{f' ({unlisted} not committed yet)' if unlisted > 0 else ''}, "
                f"{f'{s.folded} folded into later updates, ' if s.folded else ''}"
                f"{self.deliverer.retries} retries; {self.scheduler.active} in flight, "
                f"{self.scheduler.queued} waiting, "
                f"{self.offsets.tracked} uncommitted; breaker {self.gate.state}{self._held_text()}"
                f"{throttle_text(self.throttle)}"
                f"{'; credentials refused' if self.deliverer.credentials.refusing else ''}{self._retrying_text()}"
                f"{f'; commits failing: {self.commit_error}' if self.commit_error else ''}"
                f"{self._too_large_text()}; "
                f"{s.transactions} commits, up {time.monotonic() - s.started:.0f} s")

    def _too_large_text(self) -> str:
        """The results and dead letters written smaller than made (too large), for the summary line."""
        count = sum(self.too_large.values())
        return f"; {count} written smaller as too large for Kafka ({MAX_REQUEST_SIZE_ENV})" if count else ""

    def _retrying_text(self) -> str:
        """The commands retrying a transient failure, for the summary line, naming the oldest: what it is, how long
        and how often it failed, whether alone, and its last reason (they hold their partition's commits)."""
        retrying = self.deliverer.retrying
        oldest = retrying.oldest()
        if oldest is None:
            return ""
        command = oldest.command
        alone = f" ({retrying.failing_alone} failing alone)" if retrying.failing_alone else ""
        how = (f"failing alone ({self.system.upper()} applied {retrying.applied_since(oldest)} others since)"
               if oldest.last_alone else "failing with the target")
        return (f"; {retrying.count} retrying{alone}, the oldest {command.payload_type.rpartition('.')[2]} "
                f"{command.entity_key} ({command.operation} {command.command_id} to {command.target}) for "
                f"{self.deliverer.clock() - oldest.since:.0f} s, {oldest.attempts} attempts, {how}: "
                f"{_shortened(oldest.reason)}")

    def _held_text(self) -> str:
        """The commands the gate holds, for the summary line: `` (12 held by it)`` after the breaker's state."""
        by = self.gate.held
        held = [f"{by[BREAKER]} held by it"] if by[BREAKER] else []
        held += [f"{by[RETRY_AFTER]} held by Retry-After"] if by[RETRY_AFTER] else []
        return f" ({', '.join(held)})" if held else ""

    def snapshot(self) -> dict[str, Any]:
        retrying = self.deliverer.retrying
        oldest = retrying.oldest()
        return {**self.stats.as_dict(), "retries": self.deliverer.retries, "held": dict(self.gate.held),
                "retrying": retrying.count, "failing_alone": retrying.failing_alone,
                "oldest_retrying": None if oldest is None else {
                    "key": oldest.command.entity_key, "command_id": oldest.command.command_id,
                    "target": oldest.command.target, "attempts": oldest.attempts, "alone": oldest.last_alone,
                    "seconds": round(self.deliverer.clock() - oldest.since, 1), "reason": oldest.reason},
                "in_flight": self.scheduler.active, "waiting": self.scheduler.queued,
                "uncommitted": self.offsets.tracked, "breaker": str(self.gate.state), "commit_error": self.commit_error,
                "credentials": "refused" if self.deliverer.credentials.refusing else "accepted",
                "ids_not_found": self.deliverer.ids_not_found,
                "created_by_changes": self.deliverer.created_by_changes,
                "jobs_timed_out": self.deliverer.jobs_timed_out,
                "gone": sum(self.deliverer.gone.values()),
                "rate_limit": self.throttle.rate if self.throttle else None,
                "throttled": {str(k): n for k, n in self.throttle.answers.items()} if self.throttle else {},
                "at": datetime.now(UTC).isoformat()}


async def _cancelled(tasks: list[asyncio.Task[None]], *, rounds: int = 10) -> None:
    """Cancel ``tasks`` and wait for them to end, cancelling again those that go on: a library that swallows one
    cancellation (Python 3.11's ``asyncio.wait_for`` as its future completes) must not keep the sink from stopping."""
    pending = set(tasks)
    for _ in range(rounds):
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=1.0)
        if not pending:
            return
    log.warning("sink: %d task(s) still running after %d cancellations; stopping without them", len(pending), rounds)


def _shortened(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else f"{text[:limit - 1]}…"


def _fold(earlier: _Item, later: _Item) -> _Item | None:
    """``later`` taking over ``earlier`` (an update of its entity it may fold: streams/sinks/folding.py), or None."""
    if earlier.command is None or later.command is None:
        return None
    command = folds(earlier.command, later.command, earlier.original.headers, later.original.headers)
    if command is None:
        return None
    return dataclasses.replace(later, command=command, folded=[*later.folded, *earlier.folded, earlier])
