"""What a flow sees: the record in hand, its state stores, and the ways to produce output."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from streams.errors import IsthmusError
from streams.flows.engine.sizes import NOTHING_WRITTEN, too_large
from streams.kafka import names

if TYPE_CHECKING:
    from streams.flows.commands import Sends
    from streams.flows.engine.objects import ObjectCodec, ObjectView, OnFlush, T
    from streams.flows.engine.repartition import KeyRouter

JsonValue = dict[str, Any]


@dataclass(frozen=True, kw_only=True, init=False)
class Incoming:
    """One input record, as read (read_committed) from Kafka."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int
    headers: tuple[tuple[str, bytes], ...] = ()

    def __init__(self, *, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None,
                 timestamp_ms: int, headers: tuple[tuple[str, bytes], ...] = ()) -> None:
        # The frozen dataclass's own __init__ sets each field through object.__setattr__: three times the cost of
        # filling the instance's dict, for an object the engine makes for every record it reads.
        fields = self.__dict__
        fields["topic"] = topic
        fields["partition"] = partition
        fields["offset"] = offset
        fields["key"] = key
        fields["value"] = value
        fields["timestamp_ms"] = timestamp_ms
        fields["headers"] = headers

    @property
    def position(self) -> str:
        return f"{self.topic}/{self.partition}@{self.offset}"


class Store(Protocol):
    """A flow's key-value state for one task (partition). Values are JSON objects; ``None`` deletes.

    Every ``put`` is written to the store's compacted changelog topic in the same transaction as the
    batch's output, and the store is rebuilt from that changelog when a task starts.
    """

    name: str

    def get(self, key: str) -> JsonValue | None: ...

    def put(self, key: str, value: JsonValue | None) -> None: ...

    def items(self) -> Iterator[tuple[str, JsonValue]]: ...

    def __len__(self) -> int: ...


class Context(Protocol):
    """What a handler may do with the record in hand; all of it commits or aborts together."""

    @property
    def stores(self) -> Mapping[str, Store]: ...

    def emit(self, topic: str, *, key: bytes | str | None, value: bytes | None,
             headers: Mapping[str, bytes] | None = None) -> None:
        """Produce one record (partitioned by key) in the current transaction."""

    def isolated(self, *records: Incoming) -> AbstractContextManager[None]:
        """A part of the handler's work that stands on its own, done for ``records`` (a parked record the one in
        hand released, one source transaction of several). A :class:`Rejected` raised inside undoes what was done
        inside and dead-letters ``records`` (or those the rejection names); the handler goes on after the block.
        Any other exception undoes the block too and goes on up. The engine runs every input record in one."""

    def count(self, event: str, n: int = 1) -> None:
        """Count a flow event for the worker's metrics (e.g. ``echoes_suppressed``, ``conflicts``); counted only
        when the record's batch commits."""

    def objects(self, store: str, codec: ObjectCodec[T], *, on_flush: OnFlush | None = None) -> ObjectView[T]:
        """``store`` as objects decoded once per batch and encoded once per changed key when the batch ends
        (:mod:`~streams.flows.engine.objects`), undone with the scope like any store write."""


Handler = Callable[[Incoming, Context], Awaitable[None] | None]


@dataclass(frozen=True, kw_only=True)
class Waiting:
    """What a task holds back (records parked for a look-up not known yet): how many, and since when the oldest
    waits (epoch seconds; None when none waits). A worker shows it in /metrics."""

    records: int = 0
    oldest_since_s: float | None = None
    #: The flow has more of the work its tick does (decisions a source transaction left for its end): the
    #: engine ticks it again as soon as this tick's output has committed, not after ``tick_interval_s``.
    busy: bool = False

    def __add__(self, other: Waiting) -> Waiting:
        since = [s for s in (self.oldest_since_s, other.oldest_since_s) if s is not None]
        return Waiting(records=self.records + other.records, oldest_since_s=min(since) if since else None,
                       busy=self.busy or other.busy)


@dataclass(frozen=True, kw_only=True)
class Ticking:
    """What a flow's tick is told about one task: the wall-clock time (epoch seconds), how long a parked record
    may wait before it is announced as held (``EngineSettings.hold_after_s``), and which of the flow's input
    topics the task has *read to its end*: every record of its partition of the topic up to the partition's
    last stable offset, fetched at this tick, is handled. A record the tick finds handled before (a source
    transaction's END) was read before that offset was fetched, so whatever its writer committed no later than
    it has been handled too (:mod:`~streams.flows.orders.txjoin`)."""

    now_s: float
    hold_after_s: float
    read_to_end: frozenset[str] = frozenset()


#: A flow's periodic look at one task's state (see :class:`Ticking`). What it emits and writes commits in a
#: transaction of its own (no input offsets); it returns what the task holds back.
Tick = Callable[[Context, Ticking], Waiting]


class Rejected(IsthmusError):
    """A record the flow cannot use. Raised by a handler: the engine undoes everything the handler did for the
    record (output, state, counts) and sends it to the dead-letter topic with ``reason``; processing goes on.

    ``stage``: the dead letter's stage (default: ``flow.<flow name>``). ``records``: the records rejected, when
    they are not the one in hand (or the one of the enclosing ``Context.isolated`` block).
    """

    def __init__(self, reason: str, *, stage: str | None = None, records: Sequence[Incoming] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.stage = stage
        self.records = tuple(records)


class OutputTooLarge(Rejected):
    """A record the handler emitted is larger than the worker produces (``EngineSettings.max_request_size``,
    :mod:`~streams.flows.engine.sizes`): raised by ``Context.emit``, it rejects the record in hand (or the records
    of the enclosing ``Context.isolated`` block) as any rejection does, and its dead letter names the output topic,
    the record's size, the limit and the fix. A flow that emits for records the engine does not know of (when a
    batch ends, ``ObjectView``'s ``on_flush``) names them, and what it kept of their work (``outcome``):
    :meth:`naming`."""

    def __init__(self, *, topic: str, size: int, limit: int, stage: str | None = None,
                 records: Sequence[Incoming] = (), outcome: str = NOTHING_WRITTEN) -> None:
        super().__init__(too_large(topic, size, limit, outcome), stage=stage, records=records)
        self.topic = topic
        self.size = size
        self.limit = limit

    def naming(self, records: Sequence[Incoming], *, stage: str | None = None,
               outcome: str = NOTHING_WRITTEN) -> OutputTooLarge:
        """The same refusal, of ``records`` (the ones whose work produced the record), ``outcome`` what was kept."""
        return OutputTooLarge(topic=self.topic, size=self.size, limit=self.limit, stage=stage or self.stage,
                              records=records, outcome=outcome)


@dataclass(frozen=True, kw_only=True)
class FlowSpec:
    """A flow: ``name`` is its consumer group and the prefix of its transactional ids and changelogs (each
    under the kafka section's group or topic prefix: :mod:`streams.kafka.names`).

    Input topics must be co-partitioned (same partition count, keyed alike): partition ``p`` of every
    input forms task ``p``, which owns partition ``p`` of every store.
    """

    name: str
    inputs: tuple[str, ...]
    handler: Handler
    stores: tuple[str, ...] = ()
    #: Emitted topics the engine creates (compacted when listed in ``compacted``) before it starts.
    outputs: tuple[str, ...] = ()
    compacted: tuple[str, ...] = ()
    description: str = ""
    settings: Mapping[str, Any] = field(default_factory=dict)
    #: The flow's key (the entity its state hangs on), so a worker can run it in N partitions
    #: (:mod:`streams.flows.engine.repartition`); None: it runs on its inputs' own partitions only.
    key_by: KeyRouter | None = None
    #: Flows that feed this one's inputs and run wherever it runs: a keying stage that re-keys a topic of
    #: another partition count into one of this flow's inputs (:func:`streams.flows.engine.repartition.relay`),
    #: so the inputs stay co-partitioned.
    feeders: tuple[FlowSpec, ...] = ()
    #: Dead-letter stages, besides its own ``flow.<name>`` (and its feeders'), whose replays the flow uses: a
    #: replay addressed to another stage is skipped (:mod:`streams.flows.engine.addressing`). A partitioned flow's
    #: keying stage and keyed flow answer for the flow's.
    answers_for: tuple[str, ...] = ()
    #: Called every ``EngineSettings.tick_interval_s`` for each ready task (see :data:`Tick`); None: never.
    tick: Tick | None = None
    #: What its configuration allows but likely does not mean (``file:line: field: message; fix: ...``): logged
    #: when the flow is built, printed by ``isthmus mappings validate``.
    warnings: tuple[str, ...] = ()
    #: Every kind of command (target, payload type, operation) the flow can send, for the check of the target
    #: files' routes at load (``isthmus mappings validate``); a flow that declares none (a plugin's) is not checked.
    sends: tuple[Sends, ...] = ()
    #: Per input partition ``(topic, partition)``, the offset before which its records are read first: a task
    #: gets no record at or after these, nor any of an input without one, until it has read every input up to
    #: its offset (a new layout's history, :mod:`streams.flows.engine.history`). Asked when a task starts (the
    #: offsets are taken after the flow is built); None, or nothing ahead of where a task starts: read as they come.
    read_first: Callable[[], Mapping[tuple[str, int], int]] | None = None

    def changelog_topic(self, store: str) -> str:
        return names.topic(f"{self.name}-{store}-changelog")


class StoreValueError(IsthmusError):
    """A value that cannot be kept in, or read back from, a flow's state store."""


#: Sorted keys (the same object always encodes to the same bytes); non-string keys become strings as
#: ``json.dumps`` made them; datetimes and dataclasses are refused as ``json.dumps`` refused them (a flow tags
#: them with ``values.to_store`` first, so they read back as what was written).
_ENCODE_OPTIONS = (orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
                   | orjson.OPT_PASSTHROUGH_DATACLASS)


def encode_json(value: JsonValue | None) -> bytes | None:
    """A store value as the bytes the store keeps and its changelog carries (``None`` is a delete)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise StoreValueError(f"a store value must be a JSON object (a dict), got {type(value).__name__}; wrap it "
                              "in a dict")
    try:
        encoded = orjson.dumps(value, option=_ENCODE_OPTIONS)
    except TypeError as exc:  # orjson.JSONEncodeError: a type JSON cannot hold, or an integer beyond 64 bits
        raise StoreValueError(f"a store value cannot be encoded as JSON ({exc}); convert it with "
                              "streams.flows.engine.values.to_store, and keep integers beyond 64 bits as "
                              "strings or decimals") from exc
    # orjson's bytes keep the whole buffer it wrote into (about 4 KiB however small the value): a store holding
    # a million of them peaked at 4 GiB. A copy is exactly as long as the value.
    return memoryview(encoded).tobytes()


def decode_json(raw: bytes | None) -> JsonValue | None:
    if raw is None:
        return None
    value = orjson.loads(raw)
    if not isinstance(value, dict):
        raise StoreValueError(f"a store value must be a JSON object, got {type(value).__name__}")
    return value
