"""Running flows exactly once on Kafka: read_committed in, transactions out.

For each flow, one consumer (group = the flow's name) reads its inputs. Partition ``p`` of every input
is task ``p``; each task has its own transactional producer (``transactional.id = <flow>-<p>``) and its
own store partitions. A batch of a task is processed record by record; what the handler emits, the
store changes (to compacted changelog topics, partition ``p``), dead letters and the input offsets are
then committed in one transaction, in the background while the next batch is handled. One transaction per
task is in flight: the batches handled meanwhile are gathered into the next one, which begins once it has
committed (``EngineSettings.transaction_max_records``; see ``_process``). Starting a task's producer fences any
zombie with the same transactional id and aborts its open transaction; the task's stores are then rebuilt from their
changelogs with read_committed, so state and output always agree with the committed input offsets.
Stores on disk (``rocks``, ``EngineSettings.state``) keep what had committed with a checkpoint of their
changelog offset, so a task that starts again reads only the changelog written since.

A task starts outside the consumer's rebalance callback: the callback only pauses the task's input
partitions and schedules its start (producer, restore, then the input positions read again from the
committed offsets, which the fencing has settled); the partitions resume once the task is ready. A large
restore therefore never holds up the group's rebalance, the consumer's other partitions, or other flows.
The group uses the range assignor, which gives partition ``p`` of every input to the same worker. A flow is ready
(``FlowProcessor.readiness``, the worker's /ready) once it holds the group's current assignment and each of its tasks
has started; a rebalance (the revocation callback, called with nothing as the first join begins too) takes that back.

A batch is shared out evenly over the input partitions that have records at hand (``fetching.take_fairly``): as
aiokafka hands them out, one compressed fetch (tens of thousands of records) would be drained before any other
input got a turn, and a bulk load's contacts would run that far ahead of their customers.

A batch's output goes out a record batch per topic-partition (``batches.send_batched``), emitted records
partitioned by key as the default partitioner would.

A handler that rejects a record (raises ``Rejected``), or fails on it, rolls back that record's store changes,
output and counts, and the record goes to the dead-letter topic with the reason; processing goes on
(:mod:`~streams.flows.engine.staging`, which ``LocalRun`` runs too). So does a record whose output is larger than
the worker produces (``EngineSettings.max_request_size``, :mod:`~streams.flows.engine.sizes`). A Kafka error inside
a transaction aborts it and restarts the flow from its last commit (new consumer, producers and restored state);
one that cannot pass on a retry (the broker refuses a record as too large) also marks the flow failing
(``FlowProcessor.failing``, shown by /health) until the task it stopped commits again. So does any other failure of
the flow's clients (an error of aiokafka that is no ``KafkaError``, such as ``IllegalOperation`` after a transaction
failed; TLS files that do not load; a bug): the flow restarts from its last commit, never the worker, whose other
flows go on. A producer whose transaction failed is never used again (its queued record batches are dropped, not
sent); the restart builds new ones. A flow that keeps restarting without a commit for ``failing_after_s`` is failing
on /health with its last error (``Restarts``), which names the principal and the ACL to grant when Kafka refused
it one (:mod:`streams.kafka.refusals`).

A flow with a ``tick`` (``FlowSpec.tick``) has it called every ``tick_interval_s`` for each ready task, between
batches: what it emits and writes commits in a transaction of its own (a parked record announced as held once
it has waited ``hold_after_s``), and what it says the task holds back (``Waiting``) is kept for /metrics. A tick
that says it is ``busy`` (more of its work left) has the next round tick again, without waiting the interval.
The tick is told which inputs the task has read to their end (``Ticking.read_to_end``): the end offsets (with
read_committed, each partition's last stable offset) of the ready tasks' inputs are fetched first, and an input
is read to its end when the task has handled everything before that offset. What a task has handled is where
the consumer stood in each input when its batch was fetched (``_Task.handled``), set once the batch is handled.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import IllegalOperation, KafkaError, MessageSizeTooLargeError, RecordListTooLargeError

from streams.codecs.avro.single_object import SchemaStore
from streams.config.kafka import KafkaAddress, client_kwargs, producer_kwargs
from streams.errors import IsthmusError, exception_text
from streams.flows.engine.addressing import stages_of
from streams.flows.engine.api import FlowSpec, Incoming, Ticking, Waiting
from streams.flows.engine.batches import NO_HEADERS, KeyPartitioner, OutRecord, send_batched
from streams.flows.engine.fetching import take_fairly
from streams.flows.engine.letter_log import LetterLog
from streams.flows.engine.read_first import ReadFirst
from streams.flows.engine.readiness import PROGRESS_EVERY_S, StoreReplay, TaskStart, join_wait, waiting_for
from streams.flows.engine.sizes import DEFAULT_MAX_REQUEST_SIZE, RefusedAsTooLarge, record_size
from streams.flows.engine.staging import DeadLettered, RecordContext, start_record
from streams.flows.engine.stores import StateSettings, TaskStore
from streams.flows.engine.timing import FlowTimings
from streams.kafka import names, written_schemas
from streams.kafka.deadletters import (
    DEAD_LETTER_TYPE,
    STAGE_HEADER,
    Original,
    dead_letter_value,
    dlq_topic,
    without_value,
)
from streams.kafka.producers import abandon
from streams.kafka.refusals import refusal
from streams.kafka.topics import TopicSpec, ensure_topics, partition_counts

log = logging.getLogger(__name__)


#: How long a flow waits for Kafka to describe an input it has just created.
_DESCRIBE_WAIT_S = 30.0


class FlowTopologyError(IsthmusError):
    """A flow's topics do not fit together (inputs not co-partitioned, a changelog of another size)."""


class TaskStartFailed(KafkaError):  # type: ignore[misc]
    """A task's producer or state could not start; the flow restarts from its last commit."""


#: What a record batch the broker refused as too large fails with: larger than the topic's ``max.message.bytes``,
#: or than a log segment.
_TOO_LARGE = (MessageSizeTooLargeError, RecordListTooLargeError)


#: Records per batch (one transaction) at most. A commit costs a few round trips (offsets into the transaction,
#: end transaction, markers) whatever the batch holds: 500 spent half the exactly-once engine's time committing
#: in the stream-stage benchmark; a full batch of 2,000 small records takes ~70 ms to handle.
DEFAULT_BATCH_MAX_RECORDS = 2000

#: Records one transaction of a task gathers at most. While a task's transaction is in flight the batches fetched
#: meanwhile are handled into the next one instead of each waiting to commit alone: a transaction costs the same
#: few round trips (add partitions, add offsets, offset commit, end transaction) whatever it holds, and with one
#: per fetched batch those round trips, not the handler, bounded a task's rate whenever a commit took longer than
#: handling a batch (stream-stage benchmark on a loaded machine: 115 ms per commit, 54 ms of handling per 2,000
#: records). Gathering adds no wait: a transaction starts as soon as the one before it has committed (or it has no
#: room for another whole batch), so it holds what arrived while the last one completed. The bound keeps the
#: output held in memory and a transaction (and the changelog tail a store on disk replays) in size.
DEFAULT_TRANSACTION_MAX_RECORDS = 10_000

#: Records a batch's handler runs over between two turns of the event loop. The handler never waits, so without
#: a turn the previous batch's transaction (one in flight per task) would only advance once the whole batch was
#: handled: its round trips (add partitions, add offsets, offset commit, end transaction) and the next batch's
#: handling ran one after the other instead of overlapping. A turn costs ~20 µs: nothing, per 128 records.
_YIELD_EVERY = 128
#: Seconds a batch's handling may hold the event loop before it yields (a turn for the group's heartbeats), however
#: few records that took; and the least time between two warnings of a handling that held it past half the session
#: timeout (see ``_said_held``).
_TURN_S = 0.25
_HELD_SAID_EVERY_S = 60.0

#: Bytes one fetch may bring of a partition (Kafka's ``max.partition.fetch.bytes``, as stored: compressed if the
#: topic is). aiokafka's default (1 MiB) held ~150 Debezium records with their inline Connect schema (~6 KB each)
#: uncompressed: batches never filled, and a task's rate was capped at ~150 records per commit (the latency bench
#: under load: 151 records per batch, 1.9 s per transaction). 16 MiB came next; but the connectors compress (lz4),
#: a CDC record takes ~210 bytes stored, and a 16 MiB fetch held ~80,000 of them per partition, its response
#: decoded whole: 48 MiB of the customer worker's live memory in a bulk load (three CRM partitions). 4 MiB holds
#: ~20,000 compressed records or ~700 uncompressed ones (a transaction gathers several fetches: see
#: ``DEFAULT_TRANSACTION_MAX_RECORDS``); the customer worker's peak in a 100,000-customer initial sync: 426 ->
#: 384 MiB, no slower (a pair of runs; BENCHMARKS.md, "Session of 2026-12-06, second").
#: ``ISTHMUS_WORKER_PARTITION_FETCH_BYTES`` sets it.
DEFAULT_MAX_PARTITION_FETCH_BYTES = 4 * 1024 * 1024


#: How long the group waits for a silent worker before its partitions move, and so how long a worker restarted after
#: a kill -9 or a crash waits to join its group, once per member that stopped without leaving it (a user's restart
#: after two kills waited 33 s at 30 s: each dead member's session in turn). 10 s is aiokafka's default, the timeout
#: the engine's and the customer worker's SIGKILL and fleet tests have always run with. 30 s once kept a large
#: restore, which blocked the event loop and its heartbeats then, from dropping the worker; a restore now runs
#: outside the rebalance callback and yields to the loop. A session that expires wrongly costs a rebalance, not
#: exactly-once: the task's next owner fences the old producer (``transactional.id`` per task) before it reads.
#: ``ISTHMUS_WORKER_SESSION_TIMEOUT_MS`` sets it.
DEFAULT_SESSION_TIMEOUT_MS = 10_000


#: Bytes of one record batch the engine produces (aiokafka's ``max_batch_size``, default 16 KiB). aiokafka sends
#: one produce request per broker at a time, with one record batch per partition: a transaction's 2,000 small
#: records (~200 KB per topic) took ~20 produce round trips one after the other, the largest share of its commit.
#: Half the broker's default limit on a record batch (``message.max.bytes``, 1 MiB) leaves room for a lower one;
#: a ``max_request_size`` below it bounds the batches too (a batch of small records stays within a topic whose
#: ``max.message.bytes`` is that low). A record larger than a batch goes out in a batch of its own.
RECORD_BATCH_BYTES = 512 * 1024


#: How long a flow restarts from its last commit, with no commit since, before /health lists it under ``failing``:
#: a Kafka that restarts or a rebalance passes within it; an ACL that refuses the flow does not.
DEFAULT_FAILING_AFTER_S = 30.0

#: Failures of a flow's run the engine expects and explains in one line (anything else is logged with its trace).
_EXPLAINED = (KafkaError, IllegalOperation, IsthmusError)


@dataclass
class Restarts:
    """A flow's restarts since it last committed (or was ready without failing for ``failing_after_s``)."""

    #: When the first of them failed, and the last (``time.monotonic``).
    since: float
    at: float
    count: int = 0
    #: What the last failure said (an authorization error names the principal and the ACL to grant).
    error: str = ""


@dataclass(frozen=True, kw_only=True)
class EngineSettings:
    bootstrap_servers: KafkaAddress
    #: Records one fetch hands the handler at most.
    batch_max_records: int = DEFAULT_BATCH_MAX_RECORDS
    #: Records one transaction gathers at most, over the batches fetched while the task's last one completes
    #: (below twice ``batch_max_records``: a transaction per fetched batch).
    transaction_max_records: int = DEFAULT_TRANSACTION_MAX_RECORDS
    max_partition_fetch_bytes: int = DEFAULT_MAX_PARTITION_FETCH_BYTES
    #: Bytes of one record (and of one record batch) the flows produce at most: a record a handler emits over it
    #: dead-letters its input record (:mod:`~streams.flows.engine.sizes`). The topics must allow as much (their
    #: ``max.message.bytes``).
    max_request_size: int = DEFAULT_MAX_REQUEST_SIZE
    poll_timeout_ms: int = 200
    transaction_timeout_ms: int = 60000
    restart_delay_s: float = 2.0
    #: How long a flow may keep restarting without a commit before /health reports it failing (``Restarts``).
    failing_after_s: float = DEFAULT_FAILING_AFTER_S
    #: How long the group waits for a silent worker before its partitions move (``DEFAULT_SESSION_TIMEOUT_MS``).
    session_timeout_ms: int = DEFAULT_SESSION_TIMEOUT_MS
    #: How long the group waits for its live members to rejoin in a rebalance (a revocation first commits the batch
    #: in flight): kept at 30 s, apart from the session timeout (aiokafka ties them by default).
    rebalance_timeout_ms: int = 30000
    worker_id: str = "isthmus-worker"
    #: How often a flow's ``tick`` looks at each task, and how long a parked record waits before it is held.
    tick_interval_s: float = 5.0
    hold_after_s: float = 300.0
    state: StateSettings = field(default_factory=StateSettings)


@dataclass
class _Restored:
    """A task's stores (each knows how far its changelog has been read into it); opened when the task starts."""

    stores: dict[str, TaskStore] = field(default_factory=dict)


@dataclass
class _Gathered:
    """What a task has handled since its last transaction began, for its next one: the output and counts in
    ``ctx`` (the stores' changes stay in the stores until taken), the input offsets after it, its records."""

    ctx: RecordContext
    offsets: dict[TopicPartition, int] = field(default_factory=dict)
    records: int = 0


@dataclass
class _Task:
    """Partition ``partition`` of the flow on this worker: ready once its producer has fenced any zombie, its
    stores are restored and its inputs are back at their committed offsets."""

    partition: int
    restored: _Restored
    inputs: tuple[TopicPartition, ...] = ()
    producer: AIOKafkaProducer | None = None
    ready: bool = False
    starting: asyncio.Task[None] | None = None
    #: The transaction of the task's last batch, while it completes.
    committing: asyncio.Task[None] | None = None
    #: The batches handled while that transaction is in flight, for the next one (see ``_process``).
    gathered: _Gathered | None = None
    #: Per input partition, the offset the task has handled everything before (transaction markers included):
    #: the committed offset it was rewound to at its start, then where each fetched batch left the consumer.
    handled: dict[TopicPartition, int] = field(default_factory=dict)
    #: The inputs it reads up to given offsets before any record after them (``FlowSpec.read_first``); None: none.
    first: ReadFirst | None = None
    #: Where that moved inputs back to in the batch being handled (read again later): for ``handled``.
    rewound: dict[TopicPartition, int] = field(default_factory=dict)

    @property
    def stores(self) -> dict[str, TaskStore]:
        return self.restored.stores


class FlowProcessor:
    def __init__(self, spec: FlowSpec, settings: EngineSettings, schemas: SchemaStore) -> None:
        self.spec = spec
        self.settings = settings
        self.schemas = schemas
        self.tasks: dict[int, _Task] = {}
        #: State of revoked tasks, committed up to the revocation, kept in case the partition comes back.
        self._kept: dict[int, _Restored] = {}
        self._lock = asyncio.Lock()
        self._consumer: AIOKafkaConsumer | None = None
        self.processed = 0
        #: What the flow's handler counted (``Context.count``), over committed batches.
        self.events: Counter[str] = Counter()
        self.emitted = 0
        self.processing_seconds = 0.0
        #: What the flow's records wait for versus the work on them (``timing.FlowTimings``), committed or not.
        self.timings = FlowTimings()
        self.dead_lettered = 0
        #: The log lines of committed dead letters (a dead letter is never only a counter).
        self.letter_log = LetterLog(spec.name)
        self.transactions = 0
        self.last_commit_at: float | None = None
        #: Changelog records read into the stores at task starts (all of them with in-memory stores; only those
        #: written since the checkpoint with stores on disk).
        self.replayed = 0
        #: Ready: joined (the group's current assignment in hand) and every task assigned started (``readiness``).
        self.ready = False
        #: The consumer holds the assignment of the group's current generation (False during a rebalance).
        self.joined = False
        #: Since when (``time.monotonic``) the consumer has been joining its group; None: not joining.
        self._joining_since: float | None = None
        #: Logs the join's wait once it has taken ``PROGRESS_EVERY_S`` (aiokafka's ``getmany`` waits while it joins).
        self._join_watch: asyncio.TimerHandle | None = None
        #: The starts of the tasks not ready yet: their step and their stores' replay, for /ready.
        self.starts: dict[int, TaskStart] = {}
        #: Set when a task cannot start (``_start``); the loop raises it to restart the flow.
        self.failure: BaseException | None = None
        #: Why the flow cannot go on (a record Kafka refuses, which no retry gets past), until the task it stopped
        #: commits a batch again; /health reports it.
        self.failing: RefusedAsTooLarge | None = None
        #: The flow's restarts since its last commit (None: it has committed, or never failed).
        self.restarts: Restarts | None = None
        #: Since when (``time.monotonic``) the flow has been ready this time.
        self._ready_since: float | None = None
        self._partitioner = KeyPartitioner()
        #: What each task holds back, as its flow's last tick said.
        self.waiting_by_task: dict[int, Waiting] = {}
        #: When the flow was last ticked (``time.monotonic``); minus infinity: the next round ticks. Not 0.0: the
        #: monotonic clock counts from the machine's start, which may be less than ``tick_interval_s`` ago.
        self._ticked_at = -math.inf
        #: When a handling that held the event loop too long was last said (``_said_held``).
        self._held_said_at = -math.inf

    @property
    def waiting(self) -> Waiting:
        """What this worker's tasks of the flow hold back (as of their last tick)."""
        return sum(self.waiting_by_task.values(), Waiting())

    @property
    def group(self) -> str:
        """The flow's consumer group: its name under the group prefix."""
        return names.group(self.spec.name)

    @property
    def stage(self) -> str:
        return f"flow.{self.spec.name}"

    @functools.cached_property
    def stages(self) -> frozenset[str]:
        """The dead-letter stages whose replays the flow uses (:mod:`~streams.flows.engine.addressing`)."""
        return stages_of(self.spec)

    async def ensure_topics(self) -> None:
        await ensure_topics(self.settings.bootstrap_servers,
                            [TopicSpec(name=t, partitions=1) for t in self.spec.inputs])
        partitions = await self._input_partitions()
        specs = [TopicSpec(name=dlq_topic(), partitions=1, config=(("retention.ms", "-1"),)),
                 written_schemas.topic_spec()]
        specs += [TopicSpec(name=self.spec.changelog_topic(s), partitions=partitions,
                            config=(("cleanup.policy", "compact"),)) for s in self.spec.stores]
        specs += [TopicSpec(name=t, partitions=1,
                            config=(("cleanup.policy", "compact"),) if t in self.spec.compacted else ())
                  for t in self.spec.outputs]
        await ensure_topics(self.settings.bootstrap_servers, specs)
        changelogs = await partition_counts(self.settings.bootstrap_servers,
                                            [self.spec.changelog_topic(s) for s in self.spec.stores])
        other = {topic: n for topic, n in changelogs.items() if n != partitions}
        if other:
            # Task p restores from partition p of each changelog: a smaller one would leave tasks waiting forever.
            raise FlowTopologyError(
                f"flow {self.spec.name}: its inputs have {partitions} partition(s) but "
                f"{', '.join(f'{t} has {n}' for t, n in sorted(other.items()))}; the changelog was made for "
                "another layout: delete it (with the flow's consumer group, so the flow rebuilds its state from its "
                "inputs) or give the inputs that many partitions")

    async def _input_partitions(self) -> int:
        """How many tasks the flow has: the inputs' partition count (they must agree). A topic created a moment
        ago may not be described with its partitions yet: it is asked again rather than taken for one partition
        (its changelogs would be made with one)."""
        deadline = time.monotonic() + _DESCRIBE_WAIT_S
        counts = await partition_counts(self.settings.bootstrap_servers, self.spec.inputs)
        while set(self.spec.inputs) - set(counts) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            counts = await partition_counts(self.settings.bootstrap_servers, self.spec.inputs)
        missing = sorted(set(self.spec.inputs) - set(counts))
        if missing:
            raise FlowTopologyError(f"flow {self.spec.name}: Kafka does not describe its input(s) {', '.join(missing)} "
                                    f"{_DESCRIBE_WAIT_S:.0f} s after they were created; check the broker's log")
        if len(set(counts.values())) > 1:
            raise FlowTopologyError(f"flow {self.spec.name}: its inputs are not co-partitioned ({counts}); give "
                                    "them the same partition count")
        return max([1, *counts.values()])

    async def run(self, stop: asyncio.Event) -> None:
        """Process until ``stop`` is set; a Kafka failure restarts the flow from its last commit."""
        await self.ensure_topics()
        try:
            while not stop.is_set():
                try:
                    await self._run_once(stop)
                except RefusedAsTooLarge as exc:  # the same record fails again after the restart: not transient
                    self.failing = exc
                    log.error("%s", exc)
                    await asyncio.sleep(self.settings.restart_delay_s)
                except Exception as exc:  # whatever stopped this flow must not stop the others
                    self._restarting(exc)
                    await asyncio.sleep(self.settings.restart_delay_s)
        finally:
            self.letter_log.flush()

    def _restarting(self, exc: Exception) -> None:
        """Count the failure in the flow's restarts and say it: one line for what the engine expects (an
        authorization error naming the principal and the ACL), the trace for anything else."""
        now = time.monotonic()
        restarts = self.restarts = self.restarts or Restarts(since=now, at=now)
        restarts.count += 1
        restarts.at = now
        said = exception_text(exc)
        restarts.error = refusal(exc, self.settings.bootstrap_servers) or (
            said if isinstance(exc, IsthmusError) or type(exc).__name__ in said else f"{type(exc).__name__}: {said}")
        log.log(logging.WARNING if isinstance(exc, _EXPLAINED) else logging.ERROR,
                "%s: %s; restarting from the last commit in %.0fs", self.spec.name, restarts.error,
                self.settings.restart_delay_s, exc_info=None if isinstance(exc, _EXPLAINED) else exc)

    async def _dispatch(self, consumer: Any, batch: Mapping[TopicPartition, list[Any]], fetched: float) -> None:
        """Hand each partition's fetched records to its task (under the lock)."""
        by_task: dict[int, list[Any]] = defaultdict(list)
        for tp, records in batch.items():
            by_task[tp.partition].append((tp, records))
        for partition, parts in by_task.items():
            task = self.tasks.get(partition)
            if task is None:
                assignment = consumer.assignment()
                if any(tp in assignment for tp, _ in parts):
                    raise TaskStartFailed(
                        f"{self.spec.name}: records of partition {partition} arrived without its task: they were "
                        "fetched before a rebalance stopped the task, and the group gave the partition back (another "
                        "worker joined or left, or this one was silent longer than its session timeout, "
                        f"{self.settings.session_timeout_ms} ms, as a worker starved of CPU or busy with a long "
                        "batch is; ISTHMUS_WORKER_SESSION_TIMEOUT_MS raises it). Nothing is lost: the flow reads "
                        "them again from its last commit")
                self._taken_back(partition, sum(len(records) for _, records in parts))
                continue
            if not task.ready:
                # Fetched just before the pause took effect: read them again once the task is ready.
                for tp, records in parts:
                    consumer.seek(tp, records[0].offset)
                continue
            if task.first is not None:
                parts = self._read_first(consumer, task, task.first, parts)
                if not parts:
                    continue
            await self._process(task, parts, fetched)

    def _read_first(self, consumer: Any, task: _Task, first: ReadFirst,
                    parts: Sequence[tuple[TopicPartition, list[Any]]]) -> list[tuple[TopicPartition, list[Any]]]:
        """Of a batch, what ``task`` handles while it reads its inputs up to their offsets first: the records
        after an input's offset are read again once every input has reached its own (the input paused)."""
        now = []
        for tp, records in parts:
            handled, again = first.split(tp, records)
            if again is not None:
                consumer.seek(tp, again)
                consumer.pause(tp)
                task.rewound[tp] = again
            if handled:
                now.append((tp, handled))
        return now

    async def _still_reading_first(self, consumer: Any, task: _Task, first: ReadFirst,
                                   positions: Mapping[TopicPartition, int]) -> None:
        """Where the task stands in the history it reads first; a WARNING for an input that ends before its mark
        (nothing it holds can take it there: a topic deleted and made again since the marks were taken)."""
        log.info("%s task %d: still reading its inputs up to where the flow's other layout acted before anything "
                 "after: %s", self.spec.name, task.partition,
                 ", ".join(f"{tp.topic}/{tp.partition} at {positions.get(tp, '?')} of {offset}"
                           for tp, offset in first.ahead.items()))
        try:
            ends = await consumer.end_offsets(list(first.ahead))
        except KafkaError:
            return
        for tp, offset in first.ahead.items():
            if ends.get(tp, offset) < offset:
                log.warning("%s task %d: %s/%d ends at offset %d, before offset %d, up to which the flow's other "
                            "layout acted (the history marks): the task reads no record after the history until "
                            "the input gets there. Was the topic deleted and made again? Then the marks are stale: "
                            "stop the workers, delete the flow's history topic (README, \"Changing N\") and start "
                            "them again", self.spec.name, task.partition, tp.topic, tp.partition, ends[tp], offset)

    async def _first_read(self, consumer: Any) -> None:
        """Each task reading its inputs up to their offsets first: an input whose position got there (its last
        records below it handed out, or transaction markers passed) is held; once all are, the held ones go on."""
        for task in list(self.tasks.values()):
            first = task.first
            if first is None or not task.ready:
                continue
            positions = {}
            for tp, offset in list(first.ahead.items()):
                positions[tp] = at = await consumer.position(tp)
                if at >= offset:
                    consumer.pause(tp)
                    first.reached(tp)
            if not first.done and first.due(PROGRESS_EVERY_S):
                await self._still_reading_first(consumer, task, first, positions)
            if first.done:
                task.first = None
                consumer.resume(*first.held)
                log.info("%s task %d: read its inputs up to where the flow's other layout acted (the history, "
                         "acted on without sending again); every input is read on from here", self.spec.name,
                         task.partition)

    def _said_held(self, record: Incoming, held_s: float) -> None:
        """The handling of records up to ``record`` held the event loop ``held_s`` without a turn, over half the
        session timeout: the group's heartbeats waited as long, so it may take the worker's partitions (a new user's
        worker lost its group ten times in five minutes behind a bulk job; only aiokafka's "Heartbeat session
        expired" said anything). Said at WARNING, at most once a minute."""
        now = time.monotonic()
        if now - self._held_said_at < _HELD_SAID_EVERY_S:
            return
        self._held_said_at = now
        log.warning("%s: handling the records up to %s held the worker's event loop %.1f s without a pause, over half "
                    "its session timeout (%d ms): the group's heartbeats waited as long, so it may take this worker's "
                    "partitions (a rebalance, the tasks restored again). A large source transaction or a slow record "
                    "takes that long; if it recurs, raise ISTHMUS_WORKER_SESSION_TIMEOUT_MS (e.g. 60000)",
                    self.spec.name, record.position, held_s, self.settings.session_timeout_ms)

    def _taken_back(self, partition: int, count: int) -> None:
        """Records of a partition fetched before a rebalance took it from this worker: left to its next owner,
        which reads them again from the last commit (nothing of them was processed or committed here). Before,
        the flow restarted from its last commit for it: a worker starved of CPU lost its session again and again
        (20 times in 33 minutes under a load average of 25) and restored its state each time."""
        log.warning("%s: %d record(s) of partition %d were fetched before the group took the partition from this "
                    "worker (a rebalance: another worker joined or left, or this one was silent longer than its "
                    "session timeout, %d ms, as a worker starved of CPU is; ISTHMUS_WORKER_SESSION_TIMEOUT_MS raises "
                    "it): left to the partition's next owner, which reads them again from the last commit",
                    self.spec.name, count, partition, self.settings.session_timeout_ms)

    def _forget_restarts(self) -> None:
        """Ready since the last restart for ``failing_after_s``, with no failure: the restarts are over (a flow
        with nothing to commit shows it no other way)."""
        since = self._ready_since
        if (self.restarts is not None and self.ready and since is not None and since >= self.restarts.at
                and time.monotonic() - since >= self.settings.failing_after_s):
            self.restarts = None

    def failing_reason(self) -> str | None:
        """Why the flow cannot go on, for /health and ``isthmus_flow_failing``: a record Kafka refuses, or restarts
        with no commit for ``failing_after_s`` (then how long, how many, and the last error); None: it goes on."""
        if self.failing is not None:
            return str(self.failing)
        restarts, now = self.restarts, time.monotonic()
        if restarts is None or now - restarts.since < self.settings.failing_after_s:
            return None
        return (f"restarting from its last commit for {now - restarts.since:.0f} s ({restarts.count} restart(s), no "
                f"commit since); the last error: {restarts.error}")

    async def _run_once(self, stop: asyncio.Event) -> None:
        consumer = AIOKafkaConsumer(
            **client_kwargs(self.settings.bootstrap_servers), group_id=self.group,
            client_id=names.client_id(f"{self.settings.worker_id}-{self.spec.name}"), isolation_level="read_committed",
            enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=self.settings.batch_max_records,
            max_partition_fetch_bytes=self.settings.max_partition_fetch_bytes,
            session_timeout_ms=self.settings.session_timeout_ms, heartbeat_interval_ms=3000,
            rebalance_timeout_ms=self.settings.rebalance_timeout_ms,
            partition_assignment_strategy=(RangePartitionAssignor,))
        self._consumer = consumer
        consumer.subscribe(list(self.spec.inputs), listener=_Rebalance(self))
        self._joining()
        log.info("%s: joining consumer group %s (inputs %s)", self.spec.name, self.group, ", ".join(self.spec.inputs))
        await consumer.start()
        try:
            while not stop.is_set():
                gathering = any(task.gathered is not None for task in self.tasks.values())
                # What is gathered commits once nothing more is at hand: only batches already fetched join it.
                batch = await take_fairly(consumer, timeout_ms=0 if gathering else self.settings.poll_timeout_ms,
                                          max_records=self.settings.batch_max_records)
                fetched = time.perf_counter()
                self._forget_restarts()
                if self.failure is not None:
                    failure, self.failure = self.failure, None
                    raise TaskStartFailed(f"{self.spec.name}: a task could not start: {failure}") from failure
                self._raise_failed_commit()
                reached = await self._reached()
                await self._tick()
                if not batch:
                    self._handled(reached)
                    if any(task.first is not None for task in self.tasks.values()):
                        async with self._lock:
                            await self._first_read(consumer)
                    if gathering:
                        async with self._lock:
                            for gathered in list(self.tasks.values()):
                                await self._commit_gathered(gathered)
                    continue
                async with self._lock:
                    await self._dispatch(consumer, batch, fetched)
                    await self._commit_unblocked()
                    self._handled(reached)
                    await self._first_read(consumer)
        finally:
            self.ready = self.joined = False
            self._joined()
            async with self._lock:
                await self._close_tasks(list(self.tasks))
            await consumer.stop()
            self._consumer = None

    async def _process(self, task: _Task, parts: Sequence[tuple[TopicPartition, list[Any]]],
                       fetched: float | None = None) -> None:
        """Run the handler over a batch, then commit it in the background: the next batch of the task is
        processed while this one's transaction completes, and committed only after it (see ``_settle``). While
        the task's transaction is in flight, the batch is gathered with the others handled meanwhile into the
        next transaction (up to ``transaction_max_records``), which starts once that one has committed.
        ``fetched`` (``time.perf_counter``) is when the batch came back from the consumer."""
        gathered = task.gathered
        if gathered is None:
            gathered = task.gathered = _Gathered(ctx=RecordContext(memory=task.stores, stage=self.stage,
                                                                         stages=self.stages,
                                                                         max_record_bytes=self.settings.max_request_size))
        ctx = gathered.ctx
        handler = self.spec.handler
        offsets = gathered.offsets
        records_in = 0
        timings = self.timings
        timings.record_waits([m.timestamp for _, records in parts for m in records], time.time())
        began = time.perf_counter()
        cpu_began = time.thread_time()
        if fetched is not None:
            timings.batch_queue.observe(began - fetched)
        turned = began
        try:
            for tp, records in parts:
                for at, message in enumerate(records, 1):
                    headers = message.headers  # aiokafka's is already a tuple of pairs: not copied again
                    record = Incoming(topic=message.topic, partition=message.partition, offset=message.offset,
                                      key=message.key, value=message.value, timestamp_ms=message.timestamp,
                                      headers=headers if headers.__class__ is tuple else
                                      tuple((k, v) for k, v in (headers or ())))
                    pending = start_record(handler, record, ctx)
                    if pending is not None:
                        await pending
                    ctx.handled()  # nothing of it can be undone any more: the journal lets go of it
                    now = time.perf_counter()
                    if not at % _YIELD_EVERY or now - turned >= _TURN_S:
                        if now - turned >= self.settings.session_timeout_ms / 2000:
                            self._said_held(record, now - turned)
                        await asyncio.sleep(0)  # the transaction in flight goes on (see _YIELD_EVERY)
                        turned = time.perf_counter()
                records_in += len(records)
                offsets[tp] = records[-1].offset + 1
            ctx.flush()  # objects kept decoded for the batch are written into their stores, once per changed key
        except BaseException:  # a batch handled in part: what was gathered with it never commits
            task.gathered = None
            raise
        gathered.records += records_in
        worked = time.perf_counter()
        self.processing_seconds += worked - began
        timings.handler.observe(worked - began)
        timings.handler_cpu.observe(time.thread_time() - cpu_began)
        committing = task.committing
        if (committing is not None and not committing.done()
                and gathered.records + self.settings.batch_max_records <= self.settings.transaction_max_records):
            return  # the next batch fetched joins this transaction (it has room for a whole one)
        await self._commit_gathered(task)

    async def _commit_unblocked(self) -> None:
        """Start the transaction of every task that has gathered batches and none in flight any more: one whose
        partition had nothing in the last fetch would otherwise wait for a fetch with nothing at all."""
        for task in list(self.tasks.values()):
            if task.gathered is not None and (task.committing is None or task.committing.done()):
                await self._commit_gathered(task)

    async def _commit_gathered(self, task: _Task) -> None:
        """Start the transaction of what the task has gathered, once its transaction in flight has committed."""
        gathered, task.gathered = task.gathered, None
        if gathered is None:
            return
        ctx = gathered.ctx
        self.dead_lettered += len(ctx.dead_letters)
        outgoing = self._outgoing(task, ctx)  # takes the stores' changes: the next batch starts clean
        ready = time.perf_counter()
        await self._in_flight(task)
        self.timings.commit_wait.observe(time.perf_counter() - ready)
        task.committing = asyncio.create_task(self._settle(task, ctx, outgoing, gathered.offsets, gathered.records),
                                              name=f"{self.spec.name}-{task.partition}-commit")

    async def _reached(self) -> list[tuple[_Task, dict[TopicPartition, int]]]:
        """Where the consumer stands in each ready task's inputs right after a fetch, for a flow with a tick: the
        offset after the last record ``getmany`` handed out, or after the transaction markers that followed it.
        aiokafka moves a partition's position only as ``getmany`` hands its records out, never for what it
        prefetched, so once the fetched batch is handled these are what each task has handled (``_handled``)."""
        consumer = self._consumer
        if self.spec.tick is None or consumer is None:
            return []
        return [(task, {tp: await consumer.position(tp) for tp in task.inputs})
                for task in list(self.tasks.values()) if task.ready]

    def _handled(self, reached: list[tuple[_Task, dict[TopicPartition, int]]]) -> None:
        """The fetched batch is handled: each task that was ready when it was fetched has handled up to there."""
        for task, positions in reached:
            if self.tasks.get(task.partition) is task:
                task.handled.update(positions)
                task.handled.update(task.rewound)
                task.rewound.clear()

    async def _ends(self, tasks: Sequence[_Task]) -> dict[TopicPartition, int]:
        """The end offsets of ``tasks``' inputs (the last stable offsets: the consumer reads committed); none when
        Kafka does not answer (then nothing counts as read to its end, and the next tick asks again)."""
        consumer = self._consumer
        tps = [tp for task in tasks for tp in task.inputs]
        if consumer is None or not tps:
            return {}
        try:
            ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
        except KafkaError as exc:
            log.warning("%s: the end offsets of its inputs are unknown (%s); this tick counts none read to its end",
                        self.spec.name, exc)
            return {}
        return ends

    async def _tick(self) -> None:
        """The flow's tick for each ready task, every ``tick_interval_s``; its output commits like a batch's (after
        the task's transaction in flight), without input offsets. The end offsets are fetched before any tick:
        every record a task had handled by then was read before them (:class:`~streams.flows.engine.api.Ticking`)."""
        tick = self.spec.tick
        if tick is None or time.monotonic() - self._ticked_at < self.settings.tick_interval_s:
            return
        self._ticked_at = time.monotonic()
        async with self._lock:
            ready = [t for t in self.tasks.values() if t.ready]
            ends = await self._ends(ready)
            for task in ready:
                await self._commit_gathered(task)  # the tick's context takes the stores over: the batches first
                ctx = RecordContext(memory=task.stores, stage=self.stage,
                                    max_record_bytes=self.settings.max_request_size)
                ticking = Ticking(now_s=time.time(), hold_after_s=self.settings.hold_after_s,
                                  read_to_end=read_to_end(task.inputs, task.handled, ends))
                try:
                    with ctx.isolated():  # a failing tick leaves nothing behind; the flow goes on
                        waiting = self.waiting_by_task[task.partition] = tick(ctx, ticking)
                    if waiting.busy:
                        self._ticked_at = -math.inf  # more to do: the next round ticks again
                except Exception:
                    log.exception("%s task %d: its tick failed", self.spec.name, task.partition)
                ctx.flush()
                outgoing = self._outgoing(task, ctx)
                if not outgoing:
                    # Taking the stores' changes (none) opened a batch each store must see settled, after the
                    # one in flight, or a store on disk pairs the next commit with the wrong batch's changes.
                    await self._settled(task)
                    for store in task.stores.values():
                        store.committed(None)
                    continue
                await self._settled(task)
                task.committing = asyncio.create_task(self._settle(task, ctx, outgoing, {}, 0),
                                                      name=f"{self.spec.name}-{task.partition}-tick")

    async def _settled(self, task: _Task) -> None:
        """Commit what the task has gathered and wait until everything it handled has committed; a failure
        propagates (see ``_in_flight``)."""
        await self._commit_gathered(task)
        await self._in_flight(task)

    async def _in_flight(self, task: _Task) -> None:
        """Wait for the task's transaction in flight; its failure propagates (the flow restarts from its last
        commit and rebuilds its stores, so the changes of the batches after it are never kept either)."""
        committing, task.committing = task.committing, None
        if committing is not None:
            await committing

    def _raise_failed_commit(self) -> None:
        for task in self.tasks.values():
            committing = task.committing
            if committing is not None and committing.done() and committing.exception() is not None:
                task.committing = None
                task.gathered = None  # built on the failed transaction's changes: never committed
                raise committing.exception()  # type: ignore[misc]

    async def _settle(self, task: _Task, ctx: RecordContext, outgoing: list[OutRecord],
                      offsets: dict[TopicPartition, int], records_in: int) -> None:
        began = time.perf_counter()
        ends = await self._commit(task, outgoing, offsets)
        self.timings.commit.observe(time.perf_counter() - began)
        for name, store in task.stores.items():  # on disk only now: an aborted batch never reaches it
            store.committed(ends.get(self.spec.changelog_topic(name)))
        self.transactions += 1
        self.last_commit_at = time.time()
        self.restarts = None
        if records_in and self.failing is not None and self.failing.task == task.partition:
            log.info("%s task %d: a batch committed again; the flow is no longer failing", self.spec.name,
                     task.partition)
            self.failing = None
        self.processed += records_in
        self.emitted += len(ctx.emitted) + len(ctx.dead_letters)
        self.events.update(ctx.counts)
        self.letter_log.committed(ctx.dead_letters)

    def _outgoing(self, task: _Task, ctx: RecordContext) -> list[OutRecord]:
        """The batch's records to produce: what the handler emitted (partitioned by key), its dead letters, then
        every store's changes (the task's partition of its changelog; a store value is already its changelog
        bytes). Built with comprehensions, not a generator: this runs for every record a batch writes."""
        outgoing: list[OutRecord] = [*ctx.emitted]  # already laid out as records to produce
        dead_letters = dlq_topic()
        outgoing += [(dead_letters, None, letter.record.key, self._letter(letter),
                      [(STAGE_HEADER, letter.stage.encode())]) for letter in ctx.dead_letters]
        partition = task.partition
        for name, store in task.stores.items():
            topic = self.spec.changelog_topic(name)
            outgoing += [(topic, partition, key.encode(), raw, NO_HEADERS)
                         for key, raw in store.take_changes().items()]
        return outgoing

    def _letter(self, letter: DeadLettered) -> bytes:
        """The dead letter's record value; one too large for ``max_request_size`` (it keeps the input record, as
        large as the output it was refused for) leaves the input's value out."""
        record = letter.record
        original = Original(topic=record.topic, partition=record.partition, offset=record.offset,
                            timestamp_ms=record.timestamp_ms, key=record.key, value=record.value,
                            headers=record.headers)
        value = dead_letter_value(original, reason=letter.reason, error_type=letter.error_type, stage=letter.stage,
                                  attempts=1, worker=self.settings.worker_id)
        encoded = self.schemas.encode(DEAD_LETTER_TYPE, value)
        limit = self.settings.max_request_size
        if record_size(record.key, encoded, [(STAGE_HEADER, letter.stage.encode())]) <= limit:
            return encoded
        return self.schemas.encode(DEAD_LETTER_TYPE, without_value(value, limit))

    async def _commit(self, task: _Task, outgoing: list[OutRecord],
                      offsets: dict[TopicPartition, int]) -> dict[str, int]:
        """One transaction: the batch's output, its store changes and its input offsets. Returns, per changelog
        the batch wrote to, the offset after its last record there."""
        producer = task.producer
        assert producer is not None, "a ready task has its producer"
        unrecorded = self.schemas.unrecorded()  # a schema first written with: recorded with its first records
        if unrecorded:
            outgoing = [*outgoing, *written_schemas.out_records(unrecorded, writer=self.settings.worker_id)]
        last: dict[tuple[str, int], tuple[asyncio.Future[Any], int]] = {}
        sent_to: list[tuple[str, int]] = []
        sent: list[asyncio.Future[Any]] = []
        try:
            await producer.begin_transaction()
            await send_batched(producer, outgoing, self._partitioner, last=last, sent_to=sent_to, futures=sent)
            if offsets:  # a tick's transaction consumed nothing
                await producer.send_offsets_to_transaction(offsets, self.group)
            try:
                await asyncio.gather(*sent)  # a record batch the broker refused fails the batch before it commits
            except _TOO_LARGE as exc:
                raise self._refused(task, outgoing, sent, sent_to) from exc
            await producer.commit_transaction()
        except Exception as exc:
            abandon(producer, sent, exc)  # never used again: the flow restarts with new producers
            raise
        if unrecorded:
            self.schemas.recorded(stored.fingerprint for stored in unrecorded)
        return {topic: future.result().offset + records for (topic, partition), (future, records) in last.items()
                if partition == task.partition and topic.endswith("-changelog")}

    def _refused(self, task: _Task, outgoing: Sequence[OutRecord], sent: Sequence[asyncio.Future[Any]],
                 sent_to: Sequence[tuple[str, int]]) -> RefusedAsTooLarge:
        """What a record batch the broker refused as too large was: its topic-partition and the largest record the
        transaction wrote to that topic (what no longer knows which input record produced it)."""
        refused = [where for future, where in zip(sent, sent_to, strict=True)
                   if future.done() and not future.cancelled() and isinstance(future.exception(), _TOO_LARGE)]
        topic, partition = refused[0] if refused else ("?", -1)
        size = max((record_size(key, value, headers) for to, _, key, value, headers in outgoing if to == topic),
                   default=0)
        return RefusedAsTooLarge(flow=self.spec.name, task=task.partition, topic=topic, partition=partition,
                                 size=size, limit=self.settings.max_request_size,
                                 retry_s=self.settings.restart_delay_s)

    async def assign(self, partitions: set[int]) -> None:
        """Called in the rebalance callback: pause each new partition's inputs and start its task in the
        background (see ``_start``), so the callback returns at once."""
        consumer = self._consumer
        assignment = consumer.assignment() if consumer is not None else set()
        if not self.joined:
            since = self._joining_since
            log.info("%s: joined consumer group %s%s: %s", self.spec.name, self.group,
                     "" if since is None else f" in {time.monotonic() - since:.1f}s",
                     f"task(s) {', '.join(map(str, sorted(partitions)))}" if partitions else
                     "no task (the group's other members have them all)")
        self.joined = True
        self._joined()
        for partition in sorted(partitions - set(self.tasks)):
            inputs = tuple(sorted((tp for tp in assignment if tp.partition == partition),
                                  key=lambda tp: tp.topic))
            if consumer is not None and inputs:
                consumer.pause(*inputs)
            kept = self._kept.pop(partition, None)
            task = _Task(partition=partition, inputs=inputs, restored=kept or _Restored())
            self.tasks[partition] = task
            task.starting = asyncio.create_task(self._start(task), name=f"{self.spec.name}-{partition}-start")
        self._update_ready()

    async def _start(self, task: _Task) -> None:
        """Start a task: its producer (``init_transactions`` fences a zombie and aborts its open transaction),
        its stores restored, then its inputs positioned at their committed offsets, read now that no zombie
        can commit any more, and resumed."""
        start = self.starts[task.partition] = TaskStart(self.spec.name, task.partition)
        try:
            producer = self._producer_for(task.partition)
            try:
                await producer.start()
            except BaseException:
                await _stop_quietly(producer)
                raise
            task.producer = producer
            start.next("stores")
            if not task.restored.stores:  # opening a store on disk reads its files: not on the event loop
                task.restored.stores = await asyncio.to_thread(self.settings.state.open, self.spec, task.partition)
            await self._restore(task.partition, task.restored)
            start.next("inputs")
            task.handled = await self._rewind_to_committed(task.inputs)
            read_first = self.spec.read_first
            task.first = ReadFirst.at_start(read_first(), task.handled) if read_first is not None else None
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the loop raises it: the flow restarts from its last commit
            log.warning("%s task %d could not start: %s", self.spec.name, task.partition, exc)
            self.failure = exc
            return
        start.done(task.handled)
        if self.starts.get(task.partition) is start:
            del self.starts[task.partition]
        task.ready = True
        first = task.first
        if first is not None:
            log.info("%s task %d: reads %s first, where the flow's other layout acted (the history), and no record "
                     "after that%s until then", self.spec.name, task.partition, first.shown(),
                     f" ({', '.join(f'{tp.topic}/{tp.partition}' for tp in sorted(first.held))} held)"
                     if first.held else "")
        if self._consumer is not None and task.inputs:
            self._consumer.resume(*(tp for tp in task.inputs if first is None or tp not in first.held))
        self._update_ready()

    def _producer_for(self, partition: int) -> AIOKafkaProducer:
        # retry_backoff_ms: the broker answers a batch of the next transaction that arrives while the last one's
        # commit markers are still being written with NOT_ENOUGH_REPLICAS (how Kafka 4 tells produce requests of
        # aiokafka's version about CONCURRENT_TRANSACTIONS); the default 100 ms wait stalls the task each time.
        return AIOKafkaProducer(
            **producer_kwargs(self.settings.bootstrap_servers),
            transactional_id=names.transactional_id(f"{self.spec.name}-{partition}"),
            client_id=names.client_id(f"{self.settings.worker_id}-{self.spec.name}-{partition}"),
            enable_idempotence=True, acks="all", transaction_timeout_ms=self.settings.transaction_timeout_ms,
            retry_backoff_ms=20, max_request_size=self.settings.max_request_size,
            max_batch_size=min(RECORD_BATCH_BYTES, self.settings.max_request_size))

    async def _rewind_to_committed(self, inputs: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        """Position ``inputs`` (paused) at their committed offsets, or their beginning; returns those offsets."""
        consumer = self._consumer
        if consumer is None:
            return {}
        at: dict[TopicPartition, int] = {}
        for tp in inputs:
            committed = await consumer.committed(tp)
            if committed is None:
                await consumer.seek_to_beginning(tp)
                at[tp] = await consumer.position(tp)
            else:
                consumer.seek(tp, committed)
                at[tp] = committed
        return at

    def _update_ready(self) -> None:
        """Ready: joined, and every task assigned started (none assigned: a standby, ready once joined)."""
        ready = self.joined and all(task.ready for task in self.tasks.values())
        if ready and not self.ready:
            self._ready_since = time.monotonic()
        self.ready = ready

    def _joining(self) -> None:
        """The consumer (re)joins its group: the assignment it had is gone until the group gives the next one."""
        self.joined = False
        if self._joining_since is None:
            self._joining_since = time.monotonic()
            self._join_watch = asyncio.get_running_loop().call_later(PROGRESS_EVERY_S, self._log_join_wait)

    def _joined(self) -> None:
        """The join has ended (an assignment, or the consumer stopped)."""
        self._joining_since = None
        if self._join_watch is not None:
            self._join_watch.cancel()
            self._join_watch = None

    def _log_join_wait(self) -> None:
        """A join that has taken ``PROGRESS_EVERY_S``: what it waits for."""
        self._join_watch = None
        if self._joining_since is not None:
            log.info("%s: %s", self.spec.name, join_wait(self.group, time.monotonic() - self._joining_since,
                                                         self.settings.session_timeout_ms))

    def readiness(self) -> dict[str, Any]:
        """The flow's part of /ready: ready or not, its state (``starting``, ``joining``, ``restoring`` while an
        assigned task starts, ``consuming``), its tasks and records processed; when not ready what it waits for,
        and while tasks start each one's step and its stores' replay (changelog offsets read, of how many)."""
        starting = {p: s for p, s in self.starts.items() if p in self.tasks and not self.tasks[p].ready}
        if self.ready:
            state = "consuming"
        elif self.joined:
            state = "restoring"
        else:
            state = "starting" if self._joining_since is None else "joining"
        answer: dict[str, Any] = {"ready": self.ready, "state": state, "tasks": sorted(self.tasks),
                                  "processed": self.processed}
        if not self.ready:
            since = self._joining_since
            answer["waiting_for"] = waiting_for(
                state, group=self.group, joining_s=0.0 if since is None else time.monotonic() - since,
                session_timeout_ms=self.settings.session_timeout_ms, starts=starting)
            if self.restarts is not None:
                answer["restarts"] = self.restarts.count
                answer["last_error"] = self.restarts.error
        if starting:
            answer["restoring"] = {str(p): s.as_json() for p, s in sorted(starting.items())}
        return answer

    async def _restore(self, partition: int, restored: _Restored) -> None:
        """Bring the task's stores up to the end of their changelogs, from where each was last read: its
        checkpoint on disk, or where a partition that comes back after a rebalance stopped (its own writes since
        included: replaying a put is harmless). The position is kept after every fetched batch (on disk with
        the values), so a restore cut short goes on from there next time. A position outside the changelog (a
        changelog deleted and made again, records deleted) is replayed from the beginning."""
        if not restored.stores:
            return
        # fetch_max_wait_ms: a fetch that finds nothing new (a store replayed to its end) waits that long on the broker,
        # and the connection's next request (the next store's) waits behind it; the default 500 ms cost every store
        # of a restart half a second to a second with nothing to replay.
        consumer = AIOKafkaConsumer(**client_kwargs(self.settings.bootstrap_servers),
                                    isolation_level="read_committed", enable_auto_commit=False, fetch_max_wait_ms=20)
        await consumer.start()
        try:
            tps = {name: TopicPartition(self.spec.changelog_topic(name), partition) for name in restored.stores}
            firsts = await consumer.beginning_offsets(list(tps.values()))  # every store's at once, before any fetch
            ends = await consumer.end_offsets(list(tps.values()))
            for name, store in restored.stores.items():
                tp = tps[name]
                start = store.position
                if start is not None and not firsts[tp] <= start <= ends[tp]:
                    log.warning("%s task %d: store %s is at offset %d, outside its changelog %s (%d..%d); replayed "
                                "from the beginning", self.spec.name, partition, name, start, tp.topic, firsts[tp],
                                ends[tp])
                    store.reset()
            progress = self.starts.get(partition) or TaskStart(self.spec.name, partition)
            progress.replaying({name: StoreReplay(
                topic=tps[name].topic, partition=partition, end=ends[tps[name]],
                first=firsts[tps[name]] if store.position is None else store.position,
                source=self._replay_source(store.position)) for name, store in restored.stores.items()})
            for name, store in restored.stores.items():
                began = time.monotonic()
                tp = tps[name]
                first, end = firsts[tp], ends[tp]
                start = store.position
                applied = 0
                position = end
                if (first if start is None else start) < end:
                    consumer.assign([tp])
                    if start is None:
                        await consumer.seek_to_beginning(tp)
                    else:
                        consumer.seek(tp, start)
                    while await consumer.position(tp) < end:
                        batch = (await consumer.getmany(tp, timeout_ms=500, max_records=5000)).get(tp, [])
                        at = await consumer.position(tp)
                        store.restore_batch([(m.key.decode(), m.value) for m in batch], at)
                        applied += len(batch)
                        progress.read(name, at, len(batch))
                    position = await consumer.position(tp)
                if store.position != position:
                    store.restore_batch([], position)
                progress.read(name, position)
                self.replayed += applied
                log.info("%s task %d: store %s: %d changelog records replayed from %s in %.1fs (%d keys)",
                         self.spec.name, partition, name, applied,
                         "the beginning" if start is None else f"offset {start}", time.monotonic() - began,
                         len(store))
        finally:
            await consumer.stop()

    def _replay_source(self, position: int | None) -> str:
        """Where a store's replay starts, as the log says it."""
        if position is None:
            return "the beginning"
        if self.settings.state.kind == "memory":
            return f"offset {position} (its state kept in memory since the partition was revoked)"
        return f"the local checkpoint at offset {position}"

    async def revoke(self, partitions: set[int]) -> None:
        """Close the tasks but keep their committed state: if a partition comes back, only the changelog
        written since is read."""
        self._joining()  # called as a rebalance begins, before the consumer rejoins
        self._update_ready()
        await self._close_tasks(sorted(partitions & set(self.tasks)), keep_state=True)
        if self.failing is not None and self.failing.task in partitions:
            self.failing = None  # the task it stopped is another worker's now
        self._update_ready()

    async def _close_tasks(self, partitions: Sequence[int], keep_state: bool = False) -> None:
        for partition in partitions:
            task = self.tasks.pop(partition)
            self.waiting_by_task.pop(partition, None)
            self.starts.pop(partition, None)
            if task.starting is not None and not task.starting.done():
                task.starting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task.starting
            keep = keep_state
            try:
                await self._settled(task)
            except Exception as exc:  # its state holds changes that did not commit: not kept
                log.warning("%s task %d: its last transaction failed: %s", self.spec.name, partition, exc)
                keep = False
            if keep and self.settings.state.kind == "memory":
                self._kept[partition] = task.restored
            else:  # on disk, what committed is kept with its checkpoint; the rest never committed
                for store in task.restored.stores.values():
                    store.close()
            if task.producer is not None:
                await _stop_quietly(task.producer)


def read_to_end(inputs: Sequence[TopicPartition], handled: dict[TopicPartition, int],
                ends: dict[TopicPartition, int]) -> frozenset[str]:
    """The topics of ``inputs`` whose partition a task has handled up to its end offset in ``ends``."""
    return frozenset(tp.topic for tp in inputs if tp in ends and tp in handled and handled[tp] >= ends[tp])


async def _stop_quietly(producer: AIOKafkaProducer) -> None:
    try:
        await producer.stop()
    except Exception as exc:  # a producer that failed may fail its stop too; it is dropped anyway
        log.warning("closing a task's producer: %s", exception_text(exc))


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, processor: FlowProcessor) -> None:
        self.processor = processor

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        async with self.processor._lock:
            await self.processor.revoke({tp.partition for tp in revoked})

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        async with self.processor._lock:
            try:
                await self.processor.assign({tp.partition for tp in assigned})
            except Exception as exc:  # aiokafka only logs a listener's exception: hand it to the loop
                self.processor.failure = exc


async def run_flows(specs: Sequence[FlowSpec], settings: EngineSettings, schemas: SchemaStore,
                    stop: asyncio.Event) -> list[FlowProcessor]:
    """Run every flow until ``stop`` is set."""
    processors = [FlowProcessor(spec, settings, schemas) for spec in specs]
    await asyncio.gather(*(p.run(stop) for p in processors))
    return processors
