"""Stage-then-commit per record: the one implementation of a flow's failure semantics, used by the engine and
by ``LocalRun`` alike, so a flow's unit tests run what production runs.

A handler's work for a record (store writes, emitted records, counts, dead letters) is kept only if the handler
returns: a :class:`~streams.flows.engine.api.Rejected` it raises, or any other exception, undoes all of it and
sends the record to the dead-letter topic with the reason (for an unexpected exception: its type, its message and
the file and line it was raised at, :func:`raised_at`, as the dead letter keeps no traceback). A handler may open
a nested scope (``Context.isolated``) for a part of its work that stands on its own (a parked record this one
released, one source transaction of several): a rejection inside undoes and dead-letters only that part. A record
emitted larger than the worker produces is such a rejection, raised by ``emit`` (``OutputTooLarge``,
:mod:`~streams.flows.engine.sizes`): the record it is for is known here, and no longer once the batch commits.

A replayed record addressed to a stage that is not the flow's never reaches its handler
(:mod:`~streams.flows.engine.addressing`): it is counted and skipped here.
"""

from __future__ import annotations

import inspect
import logging
import traceback
from collections import Counter
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from streams.flows.engine.addressing import SKIPPED, addressed_elsewhere
from streams.flows.engine.api import Handler, Incoming, OutputTooLarge, Rejected, Store
from streams.flows.engine.batches import NO_HEADERS
from streams.flows.engine.journal import Journal
from streams.flows.engine.objects import ObjectCodec, ObjectView, OnFlush, ReplacedView, T, replaced_whole
from streams.flows.engine.sizes import DEFAULT_MAX_REQUEST_SIZE, record_size
from streams.flows.engine.stores import TaskStore

log = logging.getLogger(__name__)

#: The directory holding the ``streams`` package: a frame in it is named by its path from there.
_SOURCE_ROOT = Path(__file__).resolve().parents[3]


class Emitted(NamedTuple):
    """A record the handler emitted, laid out as the engine's producer takes it
    (:data:`~streams.flows.engine.batches.OutRecord`), so a batch's output is produced as it stands, not copied
    into another shape record by record: topic, partition (None: by key), key, value, headers (a list, as
    aiokafka's record-batch builder takes them)."""

    topic: str
    partition: int | None
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


@dataclass(frozen=True, kw_only=True)
class DeadLettered:
    """An input record the flow could not use, and why; the engine writes it to the dead-letter topic."""

    record: Incoming
    reason: str
    stage: str
    #: ``Rejected`` for a flow's rejection (``OutputTooLarge`` for the engine's), else the type of the exception
    #: the handler raised.
    error_type: str = "Rejected"


#: A scope's start: emitted, dead letters and counts so far, and the journal's mark (every store write and object
#: view change since is undone with it, a view opened later whole).
_Mark = tuple[int, int, int, int]


@dataclass
class RecordContext:
    """The ``Context`` a handler gets: output, counts and dead letters collected in order, store writes
    undoable back to any scope's start. ``stage`` is what a rejection that names none is dead-lettered under;
    ``stages``: the dead-letter stages whose replays the flow uses (:func:`~streams.flows.engine.addressing.stages_of`;
    None: every replay); ``max_record_bytes``: the largest record ``emit`` takes (``EngineSettings.max_request_size``;
    :mod:`~streams.flows.engine.sizes`).

    The context's stores (and the object views over them) share one undo journal
    (:mod:`~streams.flows.engine.journal`), given to them when the context is made: a scope's savepoint is four
    lengths, however many stores the flow has."""

    memory: Mapping[str, TaskStore]
    stage: str = "flow"
    stages: frozenset[str] | None = None
    max_record_bytes: int = DEFAULT_MAX_REQUEST_SIZE
    emitted: list[Emitted] = field(default_factory=list)
    dead_letters: list[DeadLettered] = field(default_factory=list)
    _counted: list[tuple[str, int]] = field(default_factory=list)
    _views: dict[str, ObjectView[Any]] = field(default_factory=dict)
    journal: Journal = field(default_factory=Journal)

    def __post_init__(self) -> None:
        for store in self.memory.values():
            store.journal = self.journal

    @property
    def stores(self) -> Mapping[str, Store]:
        return self.memory

    @property
    def counts(self) -> Counter[str]:
        """What the handler counted, over the records that were kept."""
        counts: Counter[str] = Counter()
        for event, n in self._counted:
            counts[event] += n
        return counts

    def emit(self, topic: str, *, key: bytes | str | None, value: bytes | None,
             headers: Mapping[str, bytes] | None = None) -> None:
        """Keep the record for the batch's transaction; one larger than ``max_record_bytes`` is refused here, where
        the record it is for is known (:class:`~streams.flows.engine.api.OutputTooLarge`), not by the broker at
        commit, where it no longer is."""
        raw_key = key.encode() if isinstance(key, str) else key
        listed = list(headers.items()) if headers else NO_HEADERS
        size = record_size(raw_key, value, listed)
        if size > self.max_record_bytes:
            raise OutputTooLarge(topic=topic, size=size, limit=self.max_record_bytes)
        self.emitted.append(Emitted(topic, None, raw_key, value, listed))

    def count(self, event: str, n: int = 1) -> None:
        self._counted.append((event, n))

    def objects(self, store: str, codec: ObjectCodec[T], *, on_flush: OnFlush | None = None) -> ObjectView[T]:
        """The batch's view of ``store`` as decoded objects (:mod:`~streams.flows.engine.objects`): the same
        view for every record until :meth:`flush`."""
        view = self._views.get(store)
        if view is None:
            kind = ReplacedView if replaced_whole(codec) else ObjectView
            view = self._views[store] = kind(self.memory[store], codec, on_flush)
        return view

    def flush(self) -> None:
        """The batch ends: every object view writes its changed keys into its store, once each (after its
        ``on_flush``, which may emit). A :class:`Rejected` an ``on_flush`` raises dead-letters the records it
        names; the key's state stands (its records' other output was kept)."""
        views, self._views = self._views, {}
        for view in views.values():
            view.flush(self)

    def handled(self) -> None:
        """A record handled from the top (no scope open around it: the engine's loop over a batch, ``LocalRun``), kept
        or undone: no scope spans two records, so nothing before now can be undone any more. The journal lets go of
        its entries now, not when the batch ends: the copies an object view saved at a scope's first ``get`` (an
        entity's, every change) and the store writes' entries are freed with the record, instead of living through
        the batch and being walked by the collector's young and middle generations (issue 17)."""
        self.journal.entries.clear()

    def reject_at_flush(self, rejection: Rejected) -> None:
        if not rejection.records:  # no record in hand when a batch ends: the flow must name them
            log.error("%s: at the end of a batch: %s; it names no input record, so none was dead-lettered",
                      rejection.stage or self.stage, rejection.reason)
        for record in rejection.records:
            self.dead_letters.append(DeadLettered(record=record, reason=rejection.reason,
                                                  stage=rejection.stage or self.stage,
                                                  error_type=type(rejection).__name__))

    def isolated(self, *records: Incoming) -> _Scope:
        """A scope whose work a rejection undoes alone: a :class:`Rejected` raised inside undoes what was done
        in it and dead-letters the records it names (else ``records``); any other exception undoes it and goes
        on. A plain class, not a generator: a record opens three of these (the engine's, the flow's per record
        and per change), so their cost counts."""
        return _Scope(self, records)

    def _mark(self) -> _Mark:
        journal = self.journal  # Journal.mark, in line: four of these a record
        journal.epoch += 1
        return len(self.emitted), len(self.dead_letters), len(self._counted), len(journal.entries)

    def _undo(self, mark: _Mark) -> None:
        emitted, dead_letters, counted, journal = mark
        del self.emitted[emitted:]
        del self.dead_letters[dead_letters:]
        del self._counted[counted:]
        self.journal.rollback_to(journal)


class _Scope:
    """:meth:`RecordContext.isolated`'s context manager."""

    __slots__ = ("ctx", "mark", "records")

    def __init__(self, ctx: RecordContext, records: tuple[Incoming, ...], mark: _Mark | None = None) -> None:
        self.ctx = ctx
        self.records = records
        if mark is not None:  # entered already
            self.mark = mark

    def __enter__(self) -> None:
        self.mark = self.ctx._mark()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: Any) -> bool:
        if error is None:
            return False
        ctx = self.ctx
        ctx._undo(self.mark)
        if not isinstance(error, Rejected):
            return False
        rejected = error.records or self.records
        if not rejected:
            return False  # a rejection of nothing in hand: the enclosing scope's record is the one rejected
        for record in rejected:
            ctx.dead_letters.append(DeadLettered(record=record, reason=error.reason,
                                                 stage=error.stage or ctx.stage, error_type=type(error).__name__))
        return True


def start_record(handler: Handler, record: Incoming, ctx: RecordContext) -> Awaitable[None] | None:
    """:func:`handle_record` without a coroutine of its own, for the engine's loop over a batch: a handler that
    returns nothing to await (every built-in flow's) runs here, whole, and None is returned; for one that returns
    an awaitable, the coroutine that finishes it (and its scope) is. A coroutine and a scope object per record were
    part of the engine's own cost per record (BENCHMARKS.md, section "Session of 2026-12-05, eighth").
    A replay addressed to another stage than the flow's is counted (:data:`~streams.flows.engine.addressing.SKIPPED`)
    and not handled."""
    if record.headers and ctx.stages is not None:
        addressee = addressed_elsewhere(record.headers, ctx.stages)
        if addressee is not None:
            log.debug("%s: skipped, a replay of a dead letter of %s, not of %s", record.position, addressee,
                      ctx.stage)
            ctx.count(SKIPPED)
            return None
    mark = ctx._mark()  # the scope's savepoint; the scope itself is made only when needed
    try:
        result = handler(record, ctx)
    except BaseException as exc:
        _failed(_Scope(ctx, (record,), mark), record, exc)
        return None
    if result is not None and inspect.isawaitable(result):
        return _finish(_Scope(ctx, (record,), mark), record, result)
    return None


async def handle_record(handler: Handler, record: Incoming, ctx: RecordContext) -> None:
    """Run ``handler`` for ``record``: what it did is kept if it returns; if it raises, all of it is undone and
    the record dead-lettered (a ``Rejected`` with its reason; a bug or unforeseen input with the exception's type
    and message, so one bad record never stops the flow)."""
    pending = start_record(handler, record, ctx)
    if pending is not None:
        await pending


async def _finish(scope: _Scope, record: Incoming, pending: Awaitable[Any]) -> None:
    try:
        await pending
    except BaseException as exc:
        _failed(scope, record, exc)


def _failed(scope: _Scope, record: Incoming, exc: BaseException) -> None:
    """The record's scope ends with ``exc``: everything in it is undone. A rejection is dead-lettered as it says;
    any other exception with its type, its message and where it was raised (a bug or bad input must not stop the
    flow); what is not an ``Exception`` (a cancellation) goes on up."""
    if scope.__exit__(type(exc), exc, exc.__traceback__):
        return
    if not isinstance(exc, Exception):
        raise exc
    ctx = scope.ctx
    ctx.dead_letters.append(DeadLettered(record=record, reason=f"{type(exc).__name__}: {exc}{raised_at(exc)}",
                                         stage=ctx.stage, error_type=type(exc).__name__))


def raised_at(exc: BaseException) -> str:
    """Where ``exc`` was raised, for a dead letter's reason (which keeps no traceback): `` (raised at <file>:<line>
    in <function>)``, the file named from the directory holding ``streams`` when it is in it (a plugin's by its
    full path); empty for an exception never raised."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    frame = frames[-1]
    path = Path(frame.filename)
    try:
        shown = str(path.resolve().relative_to(_SOURCE_ROOT))
    except ValueError:
        shown = frame.filename
    return f" (raised at {shown}:{frame.lineno} in {frame.name})"
