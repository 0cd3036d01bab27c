"""Running a flow in N partitions: a keying stage re-keys its inputs by the flow's key into one internal topic.

The CDC topics have one partition and are keyed by each table's primary key, so a flow on them has one task:
one worker runs it and the others stand by. A flow that declares ``FlowSpec.key_by`` (a :class:`KeyRouter`)
can instead run as two flows on the same engine, both exactly once:

- the keying stage ``<flow>-p<N>-keying`` reads the flow's inputs and emits every record, unchanged, to
  ``<flow>-p<N>-by-key`` (N partitions) keyed by the entity the flow's state hangs on (the customer number,
  the SKU). Where the record came from (topic, partition, offset, timestamp, key) travels in headers;
- the keyed flow ``<flow>-p<N>`` reads that topic with N tasks, and its handler gets each record as it
  was read from its source topic, so the flow's code, its dead letters and its lineage are unchanged.

Per-key order holds: one source partition is read in order by one task of the stage, and one key always
lands in the same partition. Every name carries N, so a deployment that changes N (1 -> 3 included)
starts a fresh stage and flow that rebuild their state by reading the inputs from the beginning. That
history is decided again, and not as the previous layout decided it: the stage interleaves the inputs
otherwise than one flow reading them side by side, so the commands re-decided would carry old values under
new idempotency keys (a trial: ~200 ERP accounts set back to older CRM values, silently). So the stage marks
the records the previous layout had already acted on (``isthmus.history``, below the furthest offsets its
consumer groups committed) and the keyed flow rebuilds its state from them without sending their commands,
dead letters or conflicts again (:mod:`~streams.flows.engine.history`, which says what it does not cover);
a flow going back to 1 does the same with what the partitioned layout acted on. See README, "A worker fleet".
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

from streams.config.kafka import KafkaAddress
from streams.errors import IsthmusError
from streams.flows.engine.addressing import stages_of
from streams.flows.engine.api import Context, FlowSpec, Incoming, Store, Ticking, Waiting
from streams.flows.engine.history import HISTORY_HEADER, History, HistoryMarks, handle_as_history, take_marks
from streams.kafka import names
from streams.kafka.topics import TopicSpec, ensure_topics, partition_counts

#: Where a re-keyed record was read: JSON ``{"topic", "partition", "offset", "timestamp_ms"}``.
ORIGIN_HEADER = "isthmus.origin"
#: The record's key in its source topic (absent when it had none).
ORIGIN_KEY_HEADER = "isthmus.origin.key"
MAX_PARTITIONS = 64
#: How long a worker waits for a topic it just created to describe with its partitions.
METADATA_WAIT_S = 30.0


class RepartitionError(IsthmusError):
    """A flow cannot run partitioned: a bad partition count, or an internal topic of another size."""


class KeyRouter(Protocol):
    """How a flow's input records map to the flow's key.

    ``stores`` are the router's own state stores (e.g. CRM customer id -> customer number), kept like any
    flow's. ``route`` returns the records to pass on now, each with its key: usually ``[(key, record)]``;
    ``[]`` holds or drops it (a router that holds a record until its key is known passes it on, in its
    order, with a later record). A ``None`` key sends a record the router cannot read to any partition,
    where the flow dead-letters it with its reason.
    """

    stores: tuple[str, ...]

    def route(self, record: Incoming, stores: Mapping[str, Store]) -> list[tuple[str | None, Incoming]]: ...


@runtime_checkable
class BatchRouter(KeyRouter, Protocol):
    """A router that keeps state as the batch's objects (``Context.objects``): its keying stage routes each record
    with the batch's context, whose object views the engine writes into the stores once per changed key when the
    batch ends, before the changelog takes the stores' changes (``RecordContext.flush``), as for any flow. So what
    the stores hold at each commit, and what a restart restores, is what :meth:`KeyRouter.route` would have left."""

    def route_in(self, record: Incoming, ctx: Context) -> list[tuple[str | None, Incoming]]: ...


@runtime_checkable
class TickingRouter(KeyRouter, Protocol):
    """A router that also passes records on when its keying stage ticks (``FlowSpec.tick``): records it held
    that time or what the stage has read to its end lets go (a transaction join's abandoned transactions)."""

    def tick(self, ctx: Context, ticking: Ticking) -> list[tuple[str | None, Incoming]]: ...


@dataclass(frozen=True, kw_only=True)
class Partitioned:
    """A flow laid out in ``partitions`` partitions: the keying stage, the internal topic, the keyed flow."""

    stage: FlowSpec
    topic: TopicSpec
    flow: FlowSpec
    #: Where the history the flow's previous layout acted on ends, per input partition (:mod:`.history`): filled
    #: by :func:`prepare` before the stage starts.
    history: HistoryMarks


_ENVELOPE = (ORIGIN_HEADER, ORIGIN_KEY_HEADER, HISTORY_HEADER)


def origin_headers(record: Incoming, *, history: bool = False) -> dict[str, bytes]:
    """The headers of ``record`` re-keyed: its own, where it was read, and ``isthmus.history`` when it is in the
    history its flow's previous layout acted on (:mod:`.history`)."""
    headers = {k: v for k, v in record.headers if k not in _ENVELOPE}
    headers[ORIGIN_HEADER] = json.dumps({"topic": record.topic, "partition": record.partition,
                                         "offset": record.offset, "timestamp_ms": record.timestamp_ms},
                                        separators=(",", ":")).encode()
    if record.key is not None:
        headers[ORIGIN_KEY_HEADER] = record.key
    if history:
        headers[HISTORY_HEADER] = b"1"
    return headers


def origin_of(record: Incoming) -> Incoming:
    """The record as it was read from its source topic, from what the keying stage put in its headers."""
    headers = dict(record.headers)
    raw = headers.get(ORIGIN_HEADER)
    if raw is None:
        raise RepartitionError(f"{record.position} has no {ORIGIN_HEADER} header: only the keying stage should "
                               "write to this topic")
    origin: dict[str, Any] = json.loads(raw)
    return Incoming(topic=origin["topic"], partition=origin["partition"], offset=origin["offset"],
                    key=headers.get(ORIGIN_KEY_HEADER), value=record.value, timestamp_ms=origin["timestamp_ms"],
                    headers=tuple((k, v) for k, v in record.headers if k not in _ENVELOPE))


def in_history(record: Incoming) -> bool:
    """Whether the keying stage marked ``record`` as history its flow's previous layout acted on."""
    return any(k == HISTORY_HEADER for k, _ in record.headers)


def partitioned(spec: FlowSpec, partitions: int) -> Partitioned:
    """``spec`` as a keying stage and a keyed flow on ``partitions`` partitions (``spec.key_by`` required)."""
    router = spec.key_by
    if router is None:
        raise RepartitionError(f"flow {spec.name} declares no key (FlowSpec.key_by), so it cannot be partitioned")
    if not 2 <= partitions <= MAX_PARTITIONS:
        raise RepartitionError(f"flow {spec.name}: {partitions} partitions; a partitioned flow has 2 to "
                               f"{MAX_PARTITIONS} (1 runs it on its inputs as they are)")
    name = f"{spec.name}-p{partitions}"
    topic = TopicSpec(name=names.topic(f"{name}-by-key"), partitions=partitions)

    handler = spec.handler

    def keyed(record: Incoming, ctx: Context) -> Any:
        if record.headers and in_history(record):  # state rebuilt, commands not sent again (.history)
            return handle_as_history(handler, origin_of(record), ctx)
        return handler(origin_of(record), ctx)

    history = HistoryMarks(flow=spec.name, layout=name)
    answers = tuple(sorted(stages_of(spec)))  # both take the replays of the flow's dead letters, as it would
    stage = keying_stage(f"{name}-keying", spec.inputs, router, topic.name, answers_for=answers, history=history,
                         description=f"re-keys the inputs of {spec.name} by its key into {topic.name}")
    flow = replace(spec, name=name, inputs=(topic.name,), handler=keyed, key_by=None, feeders=(),
                   answers_for=answers)
    return Partitioned(stage=stage, topic=topic, flow=flow, history=history)


def keying_stage(name: str, inputs: tuple[str, ...], router: KeyRouter, into: str, *, description: str,
                 outputs: tuple[str, ...] = (), answers_for: tuple[str, ...] = (),
                 history: HistoryMarks | None = None) -> FlowSpec:
    """A flow ``name`` that emits each record of ``inputs`` the router passes on to ``into``, keyed by the
    router's key, with where it was read in its headers (:func:`origin_of` gives the record back). It passes on
    the replays addressed to ``answers_for`` (the stages of the flow it feeds; FlowSpec.answers_for) or to itself,
    their headers kept. ``history``: a record from below its marks is marked as history (:mod:`.history`)."""

    in_batch = router.route_in if isinstance(router, BatchRouter) else None
    below = history.below if history is not None else None

    def keying(record: Incoming, ctx: Context) -> None:
        routes = in_batch(record, ctx) if in_batch is not None else router.route(record, ctx.stores)
        for key, routed in routes:
            ctx.emit(into, key=key, value=routed.value,
                     headers=origin_headers(routed, history=below is not None and below(routed)))

    def ticked(ctx: Context, ticking: Ticking) -> Waiting:
        assert isinstance(router, TickingRouter)
        for key, routed in router.tick(ctx, ticking):
            ctx.emit(into, key=key, value=routed.value,
                     headers=origin_headers(routed, history=below is not None and below(routed)))
        return Waiting()

    return FlowSpec(name=name, inputs=inputs, handler=keying, stores=router.stores, outputs=outputs,
                    description=description, tick=ticked if isinstance(router, TickingRouter) else None,
                    answers_for=answers_for, read_first=history.read_first if history is not None else None)


def relay(flow: str, source: str, router: KeyRouter, *, what: str) -> tuple[FlowSpec, str]:
    """A feeder of flow ``flow`` (:attr:`FlowSpec.feeders`) that re-keys ``source``, a topic of another partition
    count than the flow's inputs (a sink's results: 3 partitions by command key), into ``<flow>-<what>-by-key``,
    which has the one partition of the CDC topics the flow reads; returns the stage and that topic.

    The flow reads the topic in place of ``source`` and gets each record back as it was read with
    :func:`origin_of`, so its inputs stay co-partitioned and its lineage and dead letters name ``source``. Per-key
    order holds: one partition of ``source`` is read in order by one task of the stage, and every record lands in
    the one partition of the topic. The stage keeps no state, so ``source`` may have any partition count."""
    into = names.topic(f"{flow}-{what}-by-key")
    stage = keying_stage(f"{flow}-{what}-keying", (source,), router, into, outputs=(into,),
                         answers_for=(f"flow.{flow}",),
                         description=f"re-keys {source} into {into}, the one-partition input of {flow}")
    return stage, into


@dataclass(frozen=True, kw_only=True)
class Layout:
    """What a worker runs for a partition count: the flows, the internal topics to create first, and the
    keying stages that keep state (their inputs must have one partition: see :func:`prepare`)."""

    flows: list[FlowSpec]
    #: The keyed flows' input topics and their changelogs, N partitions each: made here rather than by each flow
    #: at its start, where a just-created input may not yet describe with its partitions (and a changelog
    #: made then would get one).
    topics: list[TopicSpec]
    stateful_stages: list[FlowSpec]
    #: The marks of the flows that declare their key, which :func:`prepare` takes (:mod:`.history`).
    histories: list[History] = field(default_factory=list)


def layout(specs: Sequence[FlowSpec], partitions: int) -> Layout:
    """With 1 partition, ``specs`` as they are (a flow that declares its key runs what its partitioned layouts
    acted on as history: :func:`with_history`); with more, every flow that declares its key as a keying stage
    and a keyed flow (the others as they are), and the internal topics. Each flow's feeders run before it. The
    flows that declare their key have their history marks taken by :func:`prepare`."""
    if partitions == 1:
        histories = [History(marks=HistoryMarks(flow=spec.name, layout=spec.name), partitions=1, inputs=spec.inputs)
                     for spec in specs if spec.key_by is not None]
        marked = {h.marks.flow: with_history(spec, h.marks) for spec, h in
                  zip([s for s in specs if s.key_by is not None], histories, strict=True)}
        return Layout(flows=[f for spec in specs for f in (*spec.feeders, marked.get(spec.name, spec))], topics=[],
                      stateful_stages=[], histories=histories)
    flows: list[FlowSpec] = []
    topics: list[TopicSpec] = []
    stateful: list[FlowSpec] = []
    histories = []
    for spec in specs:
        flows += spec.feeders
        if spec.key_by is None:
            flows.append(spec)
            continue
        laid = partitioned(spec, partitions)
        histories.append(History(marks=laid.history, partitions=partitions, inputs=laid.stage.inputs))
        flows += [laid.stage, laid.flow]
        topics.append(laid.topic)
        topics += [TopicSpec(name=laid.flow.changelog_topic(store), partitions=partitions,
                             config=(("cleanup.policy", "compact"),)) for store in laid.flow.stores]
        if laid.stage.stores:
            stateful.append(laid.stage)
    return Layout(flows=flows, topics=topics, stateful_stages=stateful, histories=histories)


def with_history(spec: FlowSpec, marks: HistoryMarks) -> FlowSpec:
    """``spec`` unpartitioned, running the records below ``marks`` (the history another layout of it acted on) as
    history (:mod:`.history`): a layout that goes back to 1 resumes from its own committed offsets."""
    handler = spec.handler

    def marked(record: Incoming, ctx: Context) -> Any:
        if marks.below(record):
            return handle_as_history(handler, record, ctx)
        return handler(record, ctx)

    return replace(spec, handler=marked, read_first=marks.read_first)


async def prepare(bootstrap_servers: KafkaAddress, laid: Layout) -> None:
    """Create the internal topics with their partition count before any flow starts (a flow would create
    a missing input with one partition), and refuse one that exists with another count. A keying stage that
    keeps state (the customers': CRM id -> customer number) must see a customer and its contacts in one task,
    which one-partition inputs guarantee and primary-key partitioned ones do not: it is refused on those. Then
    take each keyed flow's history marks (:mod:`.history`)."""
    if laid.topics:
        await _prepare_topics(bootstrap_servers, laid)
    for history in laid.histories:  # where the history the flow's other layouts acted on ends
        await take_marks(bootstrap_servers, history)


async def _prepare_topics(bootstrap_servers: KafkaAddress, laid: Layout) -> None:
    await ensure_topics(bootstrap_servers, laid.topics)
    made = [t.name for t in laid.topics]
    deadline = time.monotonic() + METADATA_WAIT_S
    counts = await partition_counts(bootstrap_servers, made)
    while len(counts) < len(made) and time.monotonic() < deadline:  # just created: metadata still spreading
        await asyncio.sleep(0.2)
        counts = await partition_counts(bootstrap_servers, made)
    for topic in laid.topics:
        if topic.name not in counts:
            raise RepartitionError(f"internal topic {topic.name} was created but Kafka does not describe it after "
                                   f"{METADATA_WAIT_S:.0f}s; check the broker and start the worker again")
        if counts[topic.name] != topic.partitions:
            raise RepartitionError(
                f"internal topic {topic.name} has {counts[topic.name]} partitions, not {topic.partitions}; it was "
                "made for another layout: delete it and the consumer groups of the flow's keying stage and keyed "
                "flow (both rebuild from the inputs), then start the worker again")
    for stage in laid.stateful_stages:
        inputs = await partition_counts(bootstrap_servers, stage.inputs)
        wide = {topic: n for topic, n in inputs.items() if n > 1}
        if wide:
            raise RepartitionError(
                f"{stage.name} keeps state across its inputs ({', '.join(stage.stores)}), so they must have one "
                f"partition each, but {', '.join(f'{t} has {n}' for t, n in sorted(wide.items()))}; recreate "
                "them with one partition (connect-configs topic.creation.default.partitions: 1)")
