"""A new layout of a flow rebuilds its state from the history its previous layout acted on, without acting again.

A worker that runs a flow in N partitions (:mod:`~streams.flows.engine.repartition`) starts a keying stage
``<flow>-p<N>-keying`` and a keyed flow ``<flow>-p<N>`` of their own, which read the flow's inputs from the
beginning. The previous layout (the flow unpartitioned, group ``<flow>``, or in M partitions, ``<flow>-p<M>-keying``)
has already acted on most of that history: its commands were sent and applied, its dead letters written. Deciding
that history again does not give the same commands: the keying stage interleaves the inputs otherwise than the
flow that read them side by side, so a re-decided history carries old values under new idempotency keys (applied:
a target gets old values back) and the newest value under a key already used (answered from the target's
idempotency store, not applied). A trial found ~200 ERP accounts left holding older CRM values that way.

So before a layout starts, the worker takes its **marks** (:func:`take_marks`): per input topic partition, the
furthest offset the flow's other layouts committed (groups ``<flow>`` and ``<flow>-p<M>-keying``; an old keyed
flow's unhandled tail lowers them, see below). They are kept in ``<flow>-p<N>-history`` (one partition, kept
forever; a record each time they move) and merged with what it kept at every later start, so a restart keeps them
even if the other layouts' groups are deleted meanwhile, and a layout started again after another ran (3 -> 1 -> 3)
takes what that one acted on since. The keying stage marks each record it routes from below its partition's mark
with the header ``isthmus.history``; the keyed flow runs such a record through the handler as usual, so its state
is rebuilt, but drops what the handler sends for it (:func:`handle_as_history`):

- commands (``isthmus.commands.<system>``): the previous layout sent them; counted ``history_commands_dropped``;
- dead letters, and the notes a settled replay writes beside one (the dead-letter topic): the previous layout wrote
  them; counted ``history_dead_letters_dropped`` (a record the handler rejects or fails on counts one);
- settled conflicts (``isthmus.audit.conflicts``): the previous layout recorded the conflicts it settled; a
  re-decided history would record others, or the same twice; counted ``history_conflicts_dropped``.

**The history is read first.** What a record's handler sends may be another record's work: the transaction join
releases a source transaction when its last record arrives, or when a record of an earlier transaction it waited
behind does. So which output is history cannot be told by the record being handled alone: a history record (its
input read slower than another's) released a transaction made after the marks, and its commands were dropped with
the history's (a customer made then never reached the ERP). The engine therefore reads each task's inputs up to
their marks before any record after them (``FlowSpec.read_first``; the keying stage's inputs, or the flow's when
it goes back to 1 partition): an input that reaches its mark, or has none, waits for the others. Whatever the
handler releases while the history is read is the history's; what it releases after is acted on (a transaction
the history left incomplete was not acted on by the previous layout, which had not read its end either).

Everything else goes out: canonical records and the view (compacted topics, keyed by entity: the rebuilt state
publishes the same latest values, a re-publish is harmless), holds (the latest record of a key is its state). From
the mark on, records are acted on normally. A flow going back to 1 partition resumes from its own committed offsets
and runs the records below the marks of its partitioned layouts the same way, with no header (:func:`layout
<streams.flows.engine.repartition.layout>` wraps its handler; marks in ``<flow>-history``, made only once another
layout's group is found). The marks are logged at INFO when a layout starts below them (which groups, how far), and
the end of the history once per input partition.

What this does not cover:

- the previous layout's consumer groups deleted (or expired: ``offsets.retention.minutes``, 7 days without a
  commit by default): no marks, and the whole history is decided and sent again, with the risk above; the worker
  says so at WARNING when a new layout finds no previous group while its inputs hold records;
- a previous layout still running while the new one starts (a rolling deploy that changes N): what it acts on
  after the marks were taken is acted on again. Stop every worker, then start the new layout;
- a previous partitioned layout whose keyed flow had not handled everything its keying stage routed: the marks
  are lowered to the earliest source record it had left in ``<flow>-p<M>-by-key`` (its tail is read), so those
  records are acted on; records between that and the keying stage's offset that it had handled are acted on again;
- inputs of more than one partition in a partitioned layout: each task of the keying stage reads its own
  partitions' history first, but the tasks (on several workers) do not wait for one another, so a keyed partition
  may get one task's records after the marks before another's history;
- what the handler sends later for a history record it held (parked, a source transaction not complete): released
  by a record after the mark or by the flow's tick, it is sent; the previous layout may have sent it too.
"""

from __future__ import annotations

import inspect
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streams.config.kafka import KafkaAddress, client_kwargs, kafka_settings, producer_kwargs
from streams.flows.engine.api import Context, Incoming
from streams.flows.engine.staging import RecordContext
from streams.kafka import names
from streams.kafka.deadletters import dlq_topic
from streams.kafka.topics import TopicSpec, ensure_topics, partition_counts, start_admin

log = logging.getLogger(__name__)

#: On a record the keying stage routes from the history its flow's previous layout acted on (value ``1``).
HISTORY_HEADER = "isthmus.history"
HISTORY_RECORDS = "history_records"
HISTORY_COMMANDS_DROPPED = "history_commands_dropped"
HISTORY_DEAD_LETTERS_DROPPED = "history_dead_letters_dropped"
HISTORY_CONFLICTS_DROPPED = "history_conflicts_dropped"
#: The settled conflicts' topic (:data:`streams.flows.topics.AUDIT_CONFLICTS`), before the topic prefix.
_AUDIT_CONFLICTS = "isthmus.audit.conflicts"
_COMMAND_PREFIX = "isthmus.commands."
#: How long reading a history topic or a keyed flow's unhandled tail may take.
_READ_WAIT_S = 30.0


def history_topic(layout: str) -> str:
    """Where the layout ``<flow>-p<N>`` keeps its marks: ``<flow>-p<N>-history``."""
    return names.topic(f"{layout}-history")


def previous_groups(flow: str, partitions: int, groups: Iterable[str]) -> list[str]:
    """Of the consumer groups ``groups``, those of ``flow``'s other layouts than the one in ``partitions``:
    ``<flow>`` (unpartitioned) and ``<flow>-p<M>-keying`` (each under the group prefix)."""
    unpartitioned = names.group(flow)
    keying = re.compile(re.escape(names.group(flow)) + r"-p(\d+)-keying")
    found = []
    for group in groups:
        matched = keying.fullmatch(group)
        if (group == unpartitioned and partitions > 1) or (matched is not None and int(matched.group(1)) != partitions):
            found.append(group)
    return sorted(found)


Marks = dict[tuple[str, int], int]


def furthest(committed: Mapping[str, Mapping[tuple[str, int], int]], inputs: Iterable[str]) -> Marks:
    """Per partition of ``inputs``, the furthest offset any of the groups committed (``group -> (topic, partition)
    -> offset``)."""
    wanted = set(inputs)
    marks: Marks = {}
    for offsets in committed.values():
        for (topic, partition), offset in offsets.items():
            if topic in wanted and offset >= 0:
                marks[(topic, partition)] = max(offset, marks.get((topic, partition), 0))
    return marks


@dataclass
class HistoryMarks:
    """The marks of a layout ``<flow>-p<N>`` (empty: no history; everything is acted on), filled by
    :func:`take_marks` before its keying stage starts; the stage asks :meth:`below` of every record it routes."""

    flow: str
    layout: str
    marks: dict[tuple[str, int], int] = field(default_factory=dict)
    #: The previous layouts' groups the marks were taken from.
    groups: tuple[str, ...] = ()
    #: Input partitions this process routed a history record of, and those whose history it has seen end.
    _in_history: set[tuple[str, int]] = field(default_factory=set)
    _ended: set[tuple[str, int]] = field(default_factory=set)

    def below(self, record: Incoming) -> bool:
        """Whether ``record`` (as read from its input) is in the history; logs once where the history ends."""
        if not self.marks:
            return False
        where = (record.topic, record.partition)
        mark = self.marks.get(where)
        if mark is None:
            return False
        if record.offset < mark:
            self._in_history.add(where)
            return True
        if where in self._in_history and where not in self._ended:
            self._ended.add(where)
            log.info("%s: the history of %s/%d ends at offset %d (the previous layout acted on what came before): "
                     "its records are acted on from here", self.layout, record.topic, record.partition, mark)
        return False

    def read_first(self) -> dict[tuple[str, int], int]:
        """The marks, for the engine to read the history before anything after it (``FlowSpec.read_first``)."""
        return self.marks

    def as_json(self) -> bytes:
        marks = [[t, p, o] for (t, p), o in sorted(self.marks.items())]
        return json.dumps({"groups": list(self.groups), "marks": marks, "at_ms": int(time.time() * 1000)},
                          separators=(",", ":")).encode()

    def merge(self, raw: bytes) -> None:
        """Take in marks written by :meth:`as_json`: the further of the two per partition."""
        decided: dict[str, Any] = json.loads(raw)
        self.groups = tuple(sorted({*self.groups, *decided.get("groups", ())}))
        for t, p, o in decided.get("marks", ()):
            where = (str(t), int(p))
            self.marks[where] = max(int(o), self.marks.get(where, int(o)))


def dropped_as_history(topic: str) -> str | None:
    """The count a record emitted to ``topic`` for a history record is dropped under, or None: it goes out."""
    if topic.startswith(names.topic(_COMMAND_PREFIX)):
        return HISTORY_COMMANDS_DROPPED
    if topic == dlq_topic():
        return HISTORY_DEAD_LETTERS_DROPPED
    if topic == names.topic(_AUDIT_CONFLICTS):
        return HISTORY_CONFLICTS_DROPPED
    return None


def handle_as_history(handler: Callable[[Incoming, Context], Awaitable[None] | None], record: Incoming,
                      ctx: Context) -> Awaitable[None] | None:
    """Run ``handler`` on a history record so that the state it leaves is kept, but not its commands, dead letters
    or settled conflicts (see the module). A rejection or failure undoes the record's work, as the engine does,
    without a dead letter."""
    if not isinstance(ctx, RecordContext):  # the engine and LocalRun give one; anything else runs as it is
        return handler(record, ctx)
    ctx.count(HISTORY_RECORDS)
    mark = ctx._mark()
    try:
        result = handler(record, ctx)
    except Exception:
        _failed(ctx, mark)
        return None
    if result is not None and inspect.isawaitable(result):
        return _finish(ctx, mark, result)
    _drop(ctx, mark)
    return None


async def _finish(ctx: RecordContext, mark: tuple[int, int, int, int], pending: Awaitable[None]) -> None:
    try:
        await pending
    except Exception:
        _failed(ctx, mark)
        return
    _drop(ctx, mark)


def _failed(ctx: RecordContext, mark: tuple[int, int, int, int]) -> None:
    ctx._undo(mark)
    ctx.count(HISTORY_DEAD_LETTERS_DROPPED)


def _drop(ctx: RecordContext, mark: tuple[int, int, int, int]) -> None:
    emitted, letters = mark[0], mark[1]
    kept = []
    for out in ctx.emitted[emitted:]:
        dropped = dropped_as_history(out.topic)
        if dropped is None:
            kept.append(out)
        else:
            ctx.count(dropped)
    ctx.emitted[emitted:] = kept
    if len(ctx.dead_letters) > letters:
        ctx.count(HISTORY_DEAD_LETTERS_DROPPED, len(ctx.dead_letters) - letters)
        del ctx.dead_letters[letters:]


@dataclass(frozen=True, kw_only=True)
class History:
    """A layout's marks to take before it starts: the layout in ``partitions`` partitions (1: the flow as it is)
    reading ``inputs``."""

    marks: HistoryMarks
    partitions: int
    inputs: tuple[str, ...]

    @property
    def own_group(self) -> str:
        """The group that reads the inputs in this layout: the flow's, or its keying stage's."""
        return names.group(self.marks.layout if self.partitions == 1 else f"{self.marks.layout}-keying")


async def take_marks(bootstrap_servers: KafkaAddress, history: History) -> None:
    """Fill ``history.marks``: per input partition, the furthest offset the flow's other layouts committed, or
    what the layout's history topic kept from an earlier start if that is further (the groups may have been
    deleted since); kept there for the next start. A flow unpartitioned keeps no topic until it finds another
    layout's group."""
    marks, inputs = history.marks, history.inputs
    kafka = kafka_settings(bootstrap_servers)
    admin = AIOKafkaAdminClient(**client_kwargs(kafka), client_id=names.client_id("isthmus-admin"))
    await start_admin(admin, kafka)
    try:
        groups = [str(g[0]) for g in await admin.list_consumer_groups()]
        committed: dict[str, Marks] = {}
        for group in previous_groups(marks.flow, history.partitions, groups):
            offsets = await admin.list_consumer_group_offsets(group)
            committed[group] = {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()}
        own = {(tp.topic, tp.partition): meta.offset
               for tp, meta in (await admin.list_consumer_group_offsets(history.own_group)).items()}
    finally:
        await admin.close()
    taken = furthest(committed, inputs)
    marks.marks, marks.groups = taken, tuple(g for g, offsets in committed.items() if furthest({g: offsets}, inputs))
    if taken:
        await _lower_to_unhandled(bootstrap_servers, marks)
    topic = history_topic(marks.layout)
    if taken or history.partitions > 1 or await partition_counts(bootstrap_servers, [topic]):
        await ensure_topics(bootstrap_servers, [TopicSpec(name=topic, partitions=1,
                                                          config=(("retention.ms", "-1"),))])
        kept = HistoryMarks(flow=marks.flow, layout=marks.layout)
        for raw in await _records(bootstrap_servers, topic):
            kept.merge(raw)
        merged = dict(kept.marks)
        for where, offset in marks.marks.items():
            merged[where] = max(offset, merged.get(where, offset))
        marks.groups = tuple(sorted({*kept.groups, *marks.groups}))
        marks.marks = merged
        if merged != kept.marks:
            await _append(bootstrap_servers, topic, marks.as_json())
    ahead = {where: mark for where, mark in marks.marks.items() if mark > own.get(where, -1)}
    if ahead:  # marks the layout has read past already say nothing: it acted on what came after them itself
        log.info("%s: flow %s's other layout(s) %s acted on its inputs up to %s: this layout rebuilds its state from "
                 "that history without sending its commands, dead letters or conflicts again (kept in %s)",
                 marks.layout, marks.flow, ", ".join(marks.groups) or "(groups deleted since)", _shown(ahead), topic)
    elif (history.partitions > 1 and not marks.marks and not any(offset >= 0 for offset in own.values())
          and await _any_records(bootstrap_servers, inputs)):
        log.warning("%s: a new layout of flow %s, and no other layout's consumer group (%s, or %s-p<M>-keying) has "
                    "committed offsets on its inputs, which hold records: it decides their whole history and sends "
                    "its commands. On a first deployment that is what it should do; if another layout acted on them "
                    "and its groups were deleted, the targets may be sent old values under new idempotency keys "
                    "(README, \"Changing N\")", marks.layout, marks.flow, names.group(marks.flow),
                    names.group(marks.flow))


def _shown(marks: Mapping[tuple[str, int], int]) -> str:
    return ", ".join(f"{t}/{p}@{o}" for (t, p), o in sorted(marks.items()))


async def _records(bootstrap_servers: KafkaAddress, topic: str) -> list[bytes]:
    """The values of the one-partition ``topic``, in order."""
    consumer = AIOKafkaConsumer(**client_kwargs(bootstrap_servers), isolation_level="read_committed",
                                enable_auto_commit=False, fetch_max_wait_ms=20, auto_offset_reset="earliest")
    await consumer.start()
    values: list[bytes] = []
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        await consumer.seek_to_beginning(tp)
        deadline = time.monotonic() + _READ_WAIT_S
        while await consumer.position(tp) < end and time.monotonic() < deadline:
            values += [m.value for m in (await consumer.getmany(tp, timeout_ms=500)).get(tp, []) if m.value]
        return values
    finally:
        await consumer.stop()


async def _append(bootstrap_servers: KafkaAddress, topic: str, value: bytes) -> None:
    producer = AIOKafkaProducer(**producer_kwargs(bootstrap_servers), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, key=b"marks", value=value, partition=0)
    finally:
        await producer.stop()


async def _any_records(bootstrap_servers: KafkaAddress, inputs: Sequence[str]) -> bool:
    consumer = AIOKafkaConsumer(**client_kwargs(bootstrap_servers), isolation_level="read_committed",
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        counts = await partition_counts(bootstrap_servers, inputs)
        tps = [TopicPartition(t, p) for t, n in counts.items() for p in range(n)]
        if not tps:
            return False
        firsts = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        return any(ends[tp] > firsts[tp] for tp in tps)
    finally:
        await consumer.stop()


async def _lower_to_unhandled(bootstrap_servers: KafkaAddress, marks: HistoryMarks) -> None:
    """A previous partitioned layout ``<flow>-p<M>``'s keying stage commits what it routed, not what its keyed flow
    handled: lower each mark to the earliest source record its keyed flow had left in ``<flow>-p<M>-by-key``."""
    kafka = kafka_settings(bootstrap_servers)
    for group in marks.groups:
        matched = re.fullmatch(re.escape(names.group(marks.flow)) + r"-p(\d+)-keying", group)
        if matched is None:
            continue
        layout = f"{marks.flow}-p{matched.group(1)}"
        admin = AIOKafkaAdminClient(**client_kwargs(kafka), client_id=names.client_id("isthmus-admin"))
        await start_admin(admin, kafka)
        try:
            handled = await admin.list_consumer_group_offsets(names.group(layout))
        finally:
            await admin.close()
        by_key = names.topic(f"{layout}-by-key")
        left = await _unhandled_origins(bootstrap_servers, {tp: meta.offset for tp, meta in handled.items()
                                                            if tp.topic == by_key}, by_key)
        for where, offset in left.items():
            if where in marks.marks and offset < marks.marks[where]:
                log.info("%s: the keyed flow %s had not handled %s/%d from offset %d on: acted on again", marks.layout,
                         layout, where[0], where[1], offset)
                marks.marks[where] = offset


async def _unhandled_origins(bootstrap_servers: KafkaAddress, handled: Mapping[TopicPartition, int],
                             by_key: str) -> dict[tuple[str, int], int]:
    """Per source partition, the earliest origin of the records of ``by_key`` past ``handled`` (a keyed flow's
    committed offsets; a partition it never committed on counts from its beginning)."""
    from streams.flows.engine.repartition import ORIGIN_HEADER  # repartition imports this module

    consumer = AIOKafkaConsumer(**client_kwargs(bootstrap_servers), isolation_level="read_committed",
                                enable_auto_commit=False, fetch_max_wait_ms=20, auto_offset_reset="earliest")
    await consumer.start()
    earliest: dict[tuple[str, int], int] = {}
    try:
        count = (await partition_counts(bootstrap_servers, [by_key])).get(by_key, 0)
        tps = [TopicPartition(by_key, p) for p in range(count)]
        if not tps:
            return {}
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        deadline = time.monotonic() + _READ_WAIT_S
        for tp in tps:
            start = handled.get(tp, -1)
            if start is not None and start >= 0:
                consumer.seek(tp, start)
            else:
                await consumer.seek_to_beginning(tp)
            while await consumer.position(tp) < ends[tp] and time.monotonic() < deadline:
                for message in (await consumer.getmany(tp, timeout_ms=500, max_records=5000)).get(tp, []):
                    raw = dict(message.headers or ()).get(ORIGIN_HEADER)
                    if raw is None:
                        continue
                    origin = json.loads(raw)
                    where = (str(origin["topic"]), int(origin["partition"]))
                    earliest[where] = min(int(origin["offset"]), earliest.get(where, int(origin["offset"])))
        return earliest
    finally:
        await consumer.stop()
