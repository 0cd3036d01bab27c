"""Joining the row changes of one source transaction along Debezium's transaction metadata.

Debezium writes each table's changes to its own topic and, with ``provide.transaction.metadata``, a BEGIN
and an END per transaction to ``<prefix>.transaction``; END counts the events per table (``data
collection``), and every change carries its transaction id and its place in it (``total_order``). A flow
reading several of those topics sees them interleaved in any order, so a transaction is *complete* when
its END has arrived and every change it counts for the joined tables has too. Complete transactions are
released in commit order (the order of their ENDs), each with its changes in ``total_order``: a reader
never sees half of a transaction, and never a later transaction before an earlier one.

Each topic holds its changes in commit order, so when a change of a later transaction arrives on a table's
topic, an earlier transaction still waiting for changes of that table can never get them (they were not
captured, or the topic no longer holds them). Such a transaction is *abandoned*: released with the
changes it has, so the caller can dead-letter them, and it no longer holds back the transactions after it.

The same holds for an END that arrives after such a change: the join remembers, per table, the floor of the
latest change it got (:mod:`~streams.codecs.debezium.commits`: every transaction committed at or below it
committed before that change), and an END whose transaction committed at or below the floor of a table it
still misses changes of is abandoned at once. That is what a flow sees when it starts reading a transaction
topic from its beginning while its table topics resume where they were (a flow first run with the join, or a
consumer group that never read the transaction topic): the ENDs of transactions whose changes it used long ago
arrive after newer changes, and must not hold those back.

Neither helps when a table has no later change (a table seldom written, a user's SMT that filters records,
a retention that dropped them): the END would wait for good, and every transaction after it. So the flow's
tick (:class:`~streams.flows.engine.api.Ticking`) tells the join which tables it has *read to their end*
since an END was handled: Debezium's connector task writes a transaction's changes no later than its END (with
Connect's exactly-once sources, in the same or an earlier producer transaction), so every change of that
transaction on such a table has been handled, now or before the flow's consumer group read that topic.
:meth:`TransactionJoin.abandon_read_to_end` abandons the queued transactions still missing changes of those
tables only, in commit order; each is counted (``ABANDONED``), never left waiting silently, and logged: the first
:data:`ABANDONED_LINES` of a minute one by one, the rest summed up in one line a minute (:class:`AbandonedLog`), since
a flow first started on a transaction topic with a long history abandons every old transaction in it.

A change can also come without its END: the flow began to read its table's topic while running (a table added to
the capture, or renamed, its new topic read from its start) after it had read past the ENDs of the transactions
captured there before; or the transaction had been abandoned before its change came. Such a transaction is
*unended*; the join lists each table's unended transactions (:data:`UNENDED`) in the order their changes came,
and abandons them, with what they hold, as soon as their END is known to be behind it: the END of a transaction
committed after them (or at them) was handled (the latest END's commit mark, :data:`ENDED`, against their change's
floor), or a transaction listed or changing the table after them has ENDed (the topic's commit order). A change is
never left waiting for an END that will not come: the entity flow applies such a transaction as it is, the
document flow dead-letters it; without marks nor a later change of the table, the tick abandons it once the
transaction topic and the table have been read to their end for :data:`UNENDED_WAIT_S` without its END. Before,
those changes waited for good, silently: a trial lost 84 changes of a table renamed on a running deployment.

A join with a ``limit`` holds at most that many changes of one transaction: when a transaction passes it, the
changes it holds are released at once, in ``total_order``, as a *part* of it (logged, counted as ``SPLIT`` once
per transaction), and it goes on holding its next changes the same way; its last part is released as any
complete transaction is, in commit order. That bounds the memory a bulk load committed as one transaction takes
(a ``COPY`` of 100,000 rows held whole took a worker to 1.8 GiB), at the cost of the guarantees above for that
transaction only: its parts are seen one after the other, the first ones before the transactions committed
before it, and a change Debezium delivers twice across parts is not recognised as the same. Each part says it is
one (``Joined.parted``) and whether more follow (``Joined.more``), so a caller can wait for the last one before
it acts on the whole (the entity flow decides there: :mod:`~streams.flows.customers.deferred`). Without a limit
(the document join: an order is never sent half-written) a transaction is held whole.

The join keeps its state as objects (:class:`JoinObjects`): a flow hands it the batch's view of its store
(``Context.objects`` with a :class:`JoinCodec`), so that the open transactions and the queue are decoded once
per batch, replaced by new values (never changed in place, so an undo needs no copy), written once per changed
key when the batch ends, and undone with the scopes like any store write; a transaction that completes within
the batch leaves nothing in the store, nor its changelog. A buffered change is stored as its payload text, its
Connect schema (~4 KB of a ~5 KB customer change) as a fingerprint whose text its transaction's state keeps once
(:func:`held_state`): a part of 10,000 changes wrote ~70 MB to the changelog, base64 and all, before.
The keying stage of a partitioned flow joins the same way, with its batch's context
(:class:`~streams.flows.engine.repartition.BatchRouter`). A caller without a batch (a router's ``route`` called
alone) uses :meth:`TransactionJoin.on_store`, which reads and writes the store on every call. Both keep the same
values under the same keys, so a changelog restores either.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from streams.codecs.debezium.commits import CommitMark, change_floor, committed_before, end_mark
from streams.codecs.debezium.envelope import ChangeEvent, Op, TransactionEvent, transaction_key
from streams.codecs.debezium.schema_cache import HEAD, SEPARATOR, schema_end
from streams.flows.engine.api import Incoming, JsonValue, Store, encode_json
from streams.flows.parking import record_from_state, record_to_state

#: The ENDed transactions not yet released, in commit order: ``{"txs": [tx_key, ...], "clear": {table: tx_key}}``.
#: ``clear`` (left out when empty) names, per joined table, the last queued transaction of a prefix of the queue
#: in which no transaction misses a change of that table: a change of the table need not look at them again
#: (:meth:`TransactionJoin._abandon_before`). A queued transaction that has every change of a table keeps them
#: (its END fixed what it expects, and what it holds or passed on only grows), so the prefix stays clear.
QUEUE = "queue"
#: The prefix of each joined table's *unended* transactions: those holding changes of it whose END the join has
#: not handled, in the order their changes arrived (the table's commit order), each with the commit floor of its
#: first change (:func:`~streams.codecs.debezium.commits.change_floor`): ``{"txs": [[tx_key, stream, at], ...]}``,
#: stream and at null when unknown. Usually the one or two transactions whose END is on its way.
UNENDED = "unended:"
#: The commit mark of the latest END the join handled, per stream of commits: ``{stream: at}``.
ENDED = "ended"
#: How long the transaction topic and a table are read to their end with no END, nor change, of an unended
#: transaction of the table before the tick abandons it (:meth:`TransactionJoin.abandon_read_to_end`).
UNENDED_WAIT_S = 300.0
#: What an abandoned transaction misses (``Joined.missing``) when its END, not a change, is what never comes.
NO_END = "END"
#: The count ``Context.count`` keeps of transactions released incomplete.
ABANDONED = "transactions_abandoned"
#: The count ``Context.count`` keeps of transactions released in parts, having passed the join's ``limit``.
SPLIT = "transactions_split"

#: Named for what it does, not for its package: every flow that joins transactions (entity flows too) logs here.
log = logging.getLogger("streams.flows.txjoin")

#: Abandoned transactions logged one by one a minute (per process); the rest are counted and summed up.
ABANDONED_LINES = 10
ABANDONED_WINDOW_S = 60.0


class AbandonedLog:
    """The lines about abandoned transactions: the first :data:`ABANDONED_LINES` of each :data:`ABANDONED_WINDOW_S`
    one by one, the rest counted by cause and summed up in one line once their window has passed (at the next
    abandonment, or the next tick of a flow that joins: every few seconds). A flow first started on a transaction
    topic read from its beginning abandons every old transaction there, one line each: 1,080 at once on a small
    deployment, millions on a large one. ``ABANDONED`` counts every one either way."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._window_started = -float("inf")
        self._logged = 0
        self._unlogged: dict[str, int] = {}
        self._latest = ""
        self.total = 0

    def abandoned(self, tx_key: str, cause: str, line: str, *args: object) -> None:
        """One transaction abandoned: ``line`` (with ``args``) logged, or counted under ``cause``."""
        self.due()
        self.total += 1
        if self._clock() - self._window_started >= ABANDONED_WINDOW_S:
            self._window_started, self._logged = self._clock(), 0
        if self._logged < ABANDONED_LINES:
            self._logged += 1
            log.info(line, *args)
            return
        self._unlogged[cause] = self._unlogged.get(cause, 0) + 1
        self._latest = tx_key

    def due(self) -> None:
        """Sum up the transactions not logged one by one, once their window has passed."""
        if not self._unlogged or self._clock() - self._window_started < ABANDONED_WINDOW_S:
            return
        causes = "; ".join(f"{n} {cause}" for cause, n in sorted(self._unlogged.items(), key=lambda c: -c[1]))
        log.info("%d more source transactions abandoned, not logged one by one: %s; the latest %s (%d since the "
                 "worker started, counted as %s in the flow's metrics)", sum(self._unlogged.values()), causes,
                 self._latest, self.total, ABANDONED)
        self._unlogged = {}


#: This process's :class:`AbandonedLog` (every join's: the joins are made anew for each batch).
ABANDONED_LOG = AbandonedLog()


#: The schema texts split off last, newest first: (their bytes, fingerprint, text). A change's schema text is
#: found among them by comparing bytes, not hashed and decoded again (~4 KB a change).
_recent_schemas: list[tuple[bytes, str, str]] = []
_RECENT_SCHEMAS = 16


def _schema_of(value: bytes) -> tuple[int, str, str] | None:
    """Where the schema text of ``value`` ends (:func:`~streams.codecs.debezium.schema_cache.schema_end`), its
    fingerprint and the text; None for a value not as JsonConverter writes it."""
    start = len(HEAD)
    if value.startswith(HEAD) and value.endswith(b"}"):
        # A recent schema's text followed by the separator: where schema_end() would find the separator first
        # (a schema text holds none, and no end of one followed by a separator can begin another), found
        # without searching a change's ~4 KB for it
        for raw, fingerprint, text in _recent_schemas:
            stop = start + len(raw)
            if value.startswith(raw, start) and value.startswith(SEPARATOR, stop):
                return stop, fingerprint, text
    end = schema_end(value)
    if end is None:
        return None
    for raw, fingerprint, text in _recent_schemas:
        if len(raw) == end - start and value.startswith(raw, start):
            return end, fingerprint, text
    raw = value[start:end]
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        return None
    fingerprint = hashlib.blake2b(raw, digest_size=12).hexdigest()
    _recent_schemas.insert(0, (raw, fingerprint, text))
    del _recent_schemas[_RECENT_SCHEMAS:]
    return end, fingerprint, text


def schema_split(value: bytes | None) -> tuple[str, str, str] | None:
    """A change's value as JsonConverter writes it, ``{"schema":<schema>,"payload":<payload>}``: the fingerprint
    of its schema text, that text and the payload text (None for any other value, or one not in UTF-8). The
    value is those bytes again, exactly (:func:`joined_value`), wherever inside it is split."""
    if value is None:
        return None
    schema = _schema_of(value)
    if schema is None:
        return None
    end, fingerprint, text = schema
    try:
        return fingerprint, text, value[end + len(SEPARATOR):-1].decode()
    except UnicodeDecodeError:
        return None


def joined_value(schema: str, payload: str) -> bytes:
    """The value :func:`schema_split` split."""
    return b"".join((HEAD, schema.encode(), SEPARATOR, payload.encode(), b"}"))


def held_state(record: Incoming) -> JsonValue:
    """A buffered change as the join's store keeps it: :func:`~streams.flows.parking.record_to_state`, but a value
    with its Connect schema inline (~4 KB of a ~5 KB customer change) as its payload text and the schema's
    fingerprint; the transaction's state keeps each schema text once (``schemas``)."""
    split = schema_split(record.value)
    if split is None:
        return record_to_state(record)
    fingerprint, _, payload = split
    return {**record_to_state(dataclasses.replace(record, value=None)), "schema": fingerprint, "payload": payload}


def held_record(state: Mapping[str, Any], schemas: Mapping[str, str]) -> Incoming:
    """The change :func:`held_state` stored, its schema text from its transaction's ``schemas``."""
    if "payload" not in state:
        return record_from_state(state)
    schema = schemas.get(state["schema"])
    if schema is None:
        raise ValueError(f"the held change at {state['topic']}-{state['partition']}@{state['offset']} names schema "
                         f"{state['schema']}, which its transaction's state does not hold: the join's store is "
                         "damaged; delete the flow's state and let it rebuild from its changelog")
    held = record_from_state(state)
    return dataclasses.replace(held, value=joined_value(schema, state["payload"]))


#: Records a :class:`Buffered` keeps in memory, at most (the oldest is dropped first): ~13 MB at worst with
#: customer changes of ~5 KB (the record and its stored form).
BUFFERED_KEPT = 1_024


class Buffered:
    """The records a join buffers, kept as given besides their stored form: a transaction released by the process
    that buffered its changes takes them back without decoding that form (a change's value in base64, a few KB),
    which was 3 % of the customer flow's handler (issue 17). Only a cache: a record it does not hold, or whose
    stored form is no longer the one written (a changelog restored, a batch undone and the key written again),
    is read from the store as before."""

    __slots__ = ("_kept", "limit")

    def __init__(self, limit: int = BUFFERED_KEPT) -> None:
        self.limit = limit
        self._kept: dict[str, tuple[JsonValue, Incoming]] = {}

    def keep(self, key: str, state: JsonValue, record: Incoming) -> None:
        """``record``, buffered under ``key`` as ``state`` (:func:`~streams.flows.parking.record_to_state`)."""
        if self.limit <= 0:
            return
        kept = self._kept
        kept.pop(key, None)
        if len(kept) >= self.limit:
            del kept[next(iter(kept))]
        kept[key] = (state, record)

    def take(self, key: str, state: JsonValue | None) -> Incoming | Mapping[str, Any] | None:
        """The record the store holds under ``key`` as ``state`` (None: none), the one kept when it was stored so;
        a state of :func:`held_state` that needs its transaction's schemas is handed back as it is."""
        kept = self._kept.pop(key, None)
        if state is None:
            return None
        if kept is not None and kept[0] == state:
            return kept[1]
        return state if "payload" in state else record_from_state(state)


@dataclass(frozen=True, kw_only=True)
class Joined:
    """A complete transaction (``missing`` empty) or an abandoned one, with its buffered changes in order."""

    tx_key: str
    records: tuple[Incoming, ...]
    missing: tuple[str, ...] = ()
    #: Why an abandoned transaction's missing changes will never come.
    why: str = ""
    #: The first part of a transaction that passed the join's ``limit`` (released before it is complete).
    split: bool = False
    #: One of the parts of a transaction that passed the join's ``limit``: the last one (its END and every change
    #: arrived, or it was abandoned) unless ``more``.
    parted: bool = False
    #: A part released before the transaction completed: more of it follows.
    more: bool = False

    @property
    def complete(self) -> bool:
        return not self.missing

    @property
    def lacking(self) -> str:
        """What an abandoned transaction misses, in words."""
        tables = [m for m in self.missing if m != NO_END]
        return "; ".join([*([f"its changes of {', '.join(tables)}"] if tables else []),
                          *(["its END"] if NO_END in self.missing else [])])


def collection(event: ChangeEvent) -> str:
    """The name END counts the event under: ``<schema>.<table>`` (PostgreSQL), ``<database>.<table>`` (MariaDB)."""
    return f"{event.source.schema or event.source.db}.{event.table}"


def undecoded_change(value: bytes | None) -> tuple[str, str] | None:
    """The transaction key and :func:`collection` of a change read from its raw JSON (``{"schema", "payload"}``
    or the payload alone), for a change whose fields cannot be decoded; None when even those are not there."""
    try:
        document = orjson.loads(value) if value is not None else None
    except orjson.JSONDecodeError:
        return None
    payload = document.get("payload", document) if isinstance(document, dict) else None
    if not isinstance(payload, dict):
        return None
    block, source = payload.get("transaction"), payload.get("source")
    if not isinstance(block, dict) or not isinstance(source, dict) or not block.get("id") or not source.get("table"):
        return None
    return transaction_key(str(block["id"])), f"{source.get('schema') or source.get('db')}.{source['table']}"


#: Where to see and replay what the flow dead-lettered, in the reasons of the transactions that miss it.
DEAD_LETTERS_HINT = "`isthmus topics dlq list`, then `isthmus topics dlq replay OFFSET`"


class JoinObjects(Protocol):
    """A join's state as objects: ``tx:`` , ``queue`` and ``floor:`` values as JSON objects, ``ev:`` values as the
    buffered :class:`~streams.flows.engine.api.Incoming` records (or their :func:`held_state`, which the join
    completes with its transaction's schemas); None: none. The join never changes a value it
    got: it ``put`` s a new one (so an undo needs no copy of it). An :class:`~streams.flows.engine.objects.ObjectView`
    with a :class:`JoinCodec` is one."""

    def get(self, key: str) -> Any: ...

    def put(self, key: str, value: Any) -> None: ...


#: The prefix of a buffered change's key.
EVENT = "ev:"


class Ordinals:
    """The ordinals a transaction holds of one table: the first ``n`` of a list that later states may share.

    A state is never changed once put (an undo puts an older one back), so each change added makes a new state.
    Copying the list into it made adding quadratic in the changes held (a part of 10,000 copied 50 million
    ordinals), and the batch's undo journal kept every copy alive until the batch ended. ``plus`` appends to the
    shared list in place when this state is its longest (the usual case), and copies its own prefix only when a
    state undone had appended beyond it. Stored as the plain JSON list it always was (:meth:`JoinCodec.state_of`).
    """

    __slots__ = ("_items", "n")

    def __init__(self, items: list[int], n: int) -> None:
        self._items = items
        self.n = n

    @classmethod
    def of(cls, held: Iterable[int]) -> Ordinals:
        """``held`` (a stored list, or an :class:`Ordinals`) as an :class:`Ordinals`."""
        if isinstance(held, Ordinals):
            return held
        items = list(held)
        return cls(items, len(items))

    def plus(self, ordinal: int) -> Ordinals:
        items = self._items
        if len(items) != self.n:  # another state (undone since) went on from this one: go on from a copy
            items = items[:self.n]
        items.append(ordinal)
        return Ordinals(items, self.n + 1)

    def __len__(self) -> int:
        return self.n

    def __contains__(self, ordinal: object) -> bool:
        return ordinal in self._items[:self.n]

    def __iter__(self) -> Iterator[int]:
        items = self._items
        return iter(items) if len(items) == self.n else iter(items[:self.n])

    def __eq__(self, other: object) -> bool:
        return list(self) == list(other) if isinstance(other, Ordinals | list | tuple) else NotImplemented

    def __repr__(self) -> str:
        return f"Ordinals({list(self)!r})"


def _plain_have(state: Any) -> Any:
    """A ``tx:`` state as JSON: its :class:`Ordinals` as lists (the state itself when it has none)."""
    have = state.get("have") if isinstance(state, dict) else None
    if not have or not any(isinstance(held, Ordinals) for held in have.values()):
        return state
    return {**state, "have": {name: list(held) for name, held in have.items()}}


class JoinCodec:
    """The join's store as :class:`JoinObjects` (an :class:`~streams.flows.engine.objects.ObjectCodec`): the
    stored values are the JSON objects they always were, a buffered change as
    :func:`~streams.flows.parking.record_to_state`; ``buffered`` keeps the records written, so that the batch
    that releases them takes them back without decoding their stored form."""

    __slots__ = ("buffered",)

    #: The join never changes a value it got, it puts a new one (:class:`JoinObjects`): a batch's view saves none
    #: at a ``get`` (:class:`~streams.flows.engine.objects.ReplacedView`).
    replaced_whole = True

    def __init__(self, buffered: Buffered | None = None) -> None:
        self.buffered = Buffered(limit=0) if buffered is None else buffered

    def value_of(self, key: str, state: JsonValue | None) -> Any:
        """The join's object of a stored JSON value (None: none): a buffered change's record, else the value."""
        return self.buffered.take(key, state) if key.startswith(EVENT) else state

    def state_of(self, key: str, value: Any) -> JsonValue | None:
        """The stored JSON value of one of the join's objects (a buffered record kept besides it)."""
        if isinstance(value, Incoming):
            state = held_state(value)
            self.buffered.keep(key, state, value)
            return state
        stored: JsonValue | None = _plain_have(value) if key.startswith("tx:") else value
        return stored

    def decode(self, key: str, raw: bytes | None) -> Any:
        return self.value_of(key, None if raw is None else orjson.loads(raw))

    def encode(self, key: str, value: Any) -> bytes | None:
        return encode_json(self.state_of(key, value))

    def copy(self, value: Any) -> Any:
        """``value`` itself: the join never changes a value it got (:class:`JoinObjects`)."""
        return value


class StoreObjects:
    """:class:`JoinObjects` read from and written to ``store`` on every call (no batch to keep them for), in the
    same stored form as :class:`JoinCodec` gives a batch's view."""

    __slots__ = ("codec", "store")

    def __init__(self, store: Store, codec: JoinCodec) -> None:
        self.store = store
        self.codec = codec

    def get(self, key: str) -> Any:
        return self.codec.value_of(key, self.store.get(key))

    def put(self, key: str, value: Any) -> None:
        self.store.put(key, self.codec.state_of(key, value))


class TransactionJoin:
    """The join over one store: ``tx:<key>`` per open transaction, ``ev:<key>:<total_order>`` per buffered
    change, ``queue``, the ENDed transactions not yet released, in commit order, and ``floor:<collection>``,
    the commit floor of the latest change of each joined table."""

    def __init__(self, objects: JoinObjects, collections: Iterable[str], *, limit: int | None = None) -> None:
        """``objects``: the join's store as objects, the batch's view of it (``ctx.objects(store, JoinCodec())``)
        or :class:`StoreObjects` (:meth:`on_store`). ``limit``: the most changes of one transaction held; a
        transaction that passes it is released in parts of that many (None: held whole)."""
        if limit is not None and limit < 1:
            raise ValueError(f"a transaction join's limit is at least 1 change, got {limit}")
        self.objects = objects
        self.collections = frozenset(collections)
        self.limit = limit

    @functools.cached_property
    def _unended_keys(self) -> tuple[tuple[str, str], ...]:
        """Each joined table and the key of its unended transactions, in name order (every END reads them)."""
        return tuple((name, f"{UNENDED}{name}") for name in sorted(self.collections))

    @classmethod
    def on_store(cls, store: Store, collections: Iterable[str], *, codec: JoinCodec | None = None,
                 limit: int | None = None) -> TransactionJoin:
        """A join that reads and writes ``store`` on every call. ``codec``: the stored form, whose ``buffered``
        records a caller keeps between joins over the same store (a join is made per record); ``limit``: as for
        the constructor."""
        return cls(StoreObjects(store, JoinCodec() if codec is None else codec), collections, limit=limit)

    def joins(self, event: ChangeEvent) -> bool:
        """Whether ``event`` waits for its transaction (a snapshot read has none and stands alone)."""
        return event.transaction is not None and collection(event) in self.collections

    def add(self, record: Incoming, event: ChangeEvent) -> list[Joined]:
        """Buffer one change of a joined table; returns the transactions this releases."""
        assert event.transaction is not None
        tx_key, name = event.transaction.tx_key, collection(event)
        ordinal = event.transaction.total_order
        objects = self.objects
        at_tx = f"tx:{tx_key}"
        state = objects.get(at_tx) or {"expected": None, "have": {}}  # _tx, in line: every change
        ended = state.get("expected") is not None
        floor = change_floor(event)
        have: dict[str, Collection[int]] = state.get("have") or {}
        part: list[Joined] = []
        held = f"ev:{tx_key}:{ordinal}"
        # Not a change delivered twice: a look-up of its key (none while the transaction holds nothing), not a scan
        if not have or objects.get(held) is None:
            objects.put(held, record)
            state = {**state, "have": {**have, name: Ordinals.of(have.get(name, ())).plus(ordinal)}}
            value = record.value
            schema = _schema_of(value) if value is not None else None
            schemas: dict[str, str] = state.get("schemas") or {}
            if schema is not None and schema[1] not in schemas:
                state["schemas"] = {**schemas, schema[1]: schema[2]}
            if event.op is Op.TRUNCATE:  # said if its END never comes (:meth:`_lost`)
                state["truncated"] = sorted({*(state.get("truncated") or ()), name})
            objects.put(at_tx, state)
            if (self.limit is not None and sum(map(len, state["have"].values())) >= self.limit
                    and (ended or not self._ended_after(floor))):
                part.append(self._part(tx_key, state))
        if floor is not None:
            objects.put(f"floor:{name}", {"stream": floor.stream, "at": floor.at})
        # Its END not handled: to come, or handled before this flow read the change (:meth:`_unended`)
        gone = self._unended(name, tx_key, floor) if not ended else self._unended(name)
        queued = self._queued()
        if not queued:
            return gone + part  # nothing ENDed waits: nothing to abandon or release
        return gone + self._abandon_before(queued, tx_key, name, floor) + part + self._release()

    def dead_lettered(self, record: Incoming, reason: str) -> bool:
        """Note that this flow dead-lettered ``record``, a change of a joined table it could not decode, with
        ``reason``: its transaction, abandoned without it, says so (:meth:`_take`) instead of guessing why the
        change never came. False when the record names no transaction of a joined table (nothing noted)."""
        found = undecoded_change(record.value)
        if found is None or found[1] not in self.collections:
            return False
        tx_key, name = found
        state = self._tx(tx_key)
        dead: dict[str, str] = state.get("dead") or {}
        where = reason if record.position in reason else f"{record.position}: {reason}"
        self.objects.put(f"tx:{tx_key}", {**state, "dead": {**dead, name: where}})
        return True

    def _part(self, tx_key: str, state: JsonValue) -> Joined:
        """Release the first ``limit`` changes ``tx_key`` holds (in ``total_order``), having reached the limit,
        counting them (``passed``, per table) towards what its END expects; it goes on holding the rest. A state
        holding more than ``limit`` (written under a larger limit, or none) is so released a part per change."""
        assert self.limit is not None
        have: dict[str, Collection[int]] = state.get("have") or {}
        ordinals = sorted(o for held in have.values() for o in held)[:self.limit]
        cut = ordinals[-1]
        passed: dict[str, int] = dict(state.get("passed") or {})
        left: dict[str, list[int]] = {}
        for name, held in have.items():
            rest = [o for o in held if o > cut]
            passed[name] = passed.get(name, 0) + len(held) - len(rest)
            if rest:
                left[name] = rest
        records = self._records(tx_key, ordinals, state.get("schemas") or {})
        self.objects.put(f"tx:{tx_key}", {"expected": state.get("expected"), "have": left, "passed": passed,
                                          **({"schemas": state["schemas"]} if state.get("schemas") else {}),
                                          **({"dead": state["dead"]} if state.get("dead") else {})})
        first = "passed" not in state
        if first:
            log.info("source transaction %s reached %d changes before its end (the flow's transaction limit): it is "
                     "no longer held whole but passed on in parts of at most that many: the entity flow folds each "
                     "part as it comes and decides the transaction's entities once, at its end (a worker fleet, "
                     "ISTHMUS_FLOW_PARTITIONS: each part as it comes)", tx_key, self.limit)
        return Joined(tx_key=tx_key, records=records, split=first, parted=True, more=True)

    def end(self, event: TransactionEvent) -> list[Joined]:
        """An END: the transaction joins the queue if it changed a joined table."""
        counts = {c: n for c, n in event.data_collections.items() if c in self.collections}
        mark = end_mark(event)
        # the transactions whose changes came without their END, passed by this one (:meth:`_unended`)
        tx_key = event.tx_key
        gone = self._ended(tx_key, counts, mark)
        if not counts:
            return gone
        state = self._tx(tx_key)
        if state.get("expected") is None:
            state = {**state, "expected": counts, **({"end": [mark.stream, mark.at]} if mark is not None else {})}
            missing = self._missing(state)
            passed = self._passed(mark, missing) if missing else []
            if passed:
                ABANDONED_LOG.abandoned(tx_key, "whose tables had delivered later transactions' changes",
                                        "source transaction %s is abandoned: %s already delivered changes of "
                                        "transactions committed after it", tx_key, ", ".join(passed))
                return [*gone, self._take(tx_key, state, missing,
                                          why="its tables had delivered later transactions' changes before its END")]
            queued = self._queued()
            if not missing and not queued:
                # Complete, and no earlier transaction waits: released at once, as the queue would release it
                # (leaving it as it would: empty).
                if queued is None:
                    self.objects.put(QUEUE, {"txs": []})
                return [*gone, self._take(tx_key, state, ())]
            self.objects.put(f"tx:{tx_key}", state)
            self._put_queue([*(queued or ()), tx_key])
        return gone + self._release()

    def abandon_read_to_end(self, read_to_end: Collection[str], *, ends_read_at: float | None = None
                            ) -> list[Joined]:
        """Release the queued transactions, in commit order, that miss changes only of tables in ``read_to_end``
        (the joined tables whose topics the tick found read to their end, every END queued having been handled
        before): those changes were handled long ago or will never come. Each is abandoned (with what it has,
        perhaps nothing), and the complete ones behind it go on; the first one still missing changes of another
        table stops the release, so that nothing overtakes a transaction that may still complete.

        ``ends_read_at``: the tick found the transaction topic read to its end too, at that time (epoch seconds).
        The unended transactions of the tables read to their end (:meth:`_unended`) that ticks have so found for
        :data:`UNENDED_WAIT_S`, no change of theirs coming meanwhile, are abandoned first: their END, written with
        their changes or right after them, is not coming (a table whose commits say nothing of their order, and
        no later change of it that would tell)."""
        ABANDONED_LOG.due()
        unended = self._unended_read(read_to_end, ends_read_at) if ends_read_at is not None else []
        queue = list(self._queued() or ())
        released: list[Joined] = []
        while queue:
            state = self._tx(queue[0])
            missing = self._missing(state)
            if missing and not set(missing) <= set(read_to_end):
                break
            tx_key = queue.pop(0)
            if missing:
                ABANDONED_LOG.abandoned(tx_key, f"whose changes of {', '.join(missing)} the flow had read past",
                                        "source transaction %s is abandoned: its changes of %s are not among what "
                                        "the flow has read to the end of their topics (dead-lettered, handled "
                                        "before, filtered out, or expired)", tx_key, ", ".join(missing))
            released.append(self._take(tx_key, state, missing, why=(
                "its topics were read to their end after its END without them: dead-lettered by this flow (see "
                f"{DEAD_LETTERS_HINT}), handled before this flow's history, filtered out, or expired"
                if missing else "")))
        if released:
            self._put_queue(queue, removed={joined.tx_key for joined in released})
        return unended + released

    def _unended_read(self, read_to_end: Collection[str], now_s: float) -> list[Joined]:
        """A tick found the transaction topic and ``read_to_end`` read to their end at ``now_s``: the unended
        transactions of those tables so found :data:`UNENDED_WAIT_S` before are abandoned, the others marked with
        the time they were first so found (a fourth element, gone when a change of theirs comes)."""
        gone: list[str] = []
        for name in sorted(self.collections.intersection(read_to_end)):
            listed = self._listed(name)
            if not listed:
                continue
            gone += [entry[0] for entry in listed if len(entry) > 3 and now_s - entry[3] >= UNENDED_WAIT_S]
            if any(len(entry) <= 3 for entry in listed):
                self._list(name, [entry if len(entry) > 3 else [*entry, now_s] for entry in listed])
        return self._lost(gone, why=f"its END had not come in {UNENDED_WAIT_S:.0f} s in which the flow read the "
                                    "transaction topic and its tables to their end")

    def _ended_after(self, floor: CommitMark | None) -> bool:
        """Whether the join has handled the END of a transaction committed after the one whose change has
        ``floor``, or at it: that transaction's END is behind the flow, handled (its changes had not come) or
        read before the flow joined the table (its change captured on a topic the flow began to read since)."""
        if floor is None:
            return False
        at = (self.objects.get(ENDED) or {}).get(floor.stream)
        # committed_before(CommitMark(floor.stream, at), floor), in line: the same stream, so the marks alone
        return at is not None and int(at) > floor.at

    def _unended(self, name: str, tx_key: str | None = None, floor: CommitMark | None = None) -> list[Joined]:
        """A change of ``name`` arrived: of ``tx_key`` (its first at ``floor``), whose END the join has not
        handled, listed among the table's unended transactions; or (``tx_key`` None) of a transaction whose END
        it has. Returns the unended transactions that can never complete, abandoned: those listed before an ENDed
        transaction's change (the table's topic holds its changes in commit order, so they committed before it
        and their ENDs came before its END), and ``tx_key`` itself, with those before it, when the join handled
        the END of a transaction committed after it or at it (:meth:`_ended_after`). Nothing else says so: their
        changes waited for good, and a flow that began to read a table's topic while running (a table added to
        the capture, or renamed) lost the changes captured before it read there, whose ENDs it had passed."""
        listed = self._listed(name)
        if tx_key is None:
            return self._lost([entry[0] for entry in listed], why="a transaction committed after it had ENDed "
                              "before")
        at = None
        for i in range(len(listed) - 1, -1, -1):  # a loop, not next() of a generator: every change
            if listed[i][0] == tx_key:
                at = i
                break
        if at is not None and len(listed[at]) > 3:  # still coming: a tick's look at it (_unended_read) starts anew
            listed = [*listed[:at], listed[at][:3], *listed[at + 1:]]
            self._list(name, listed)
        if floor is not None and self._ended_after(floor):
            upto = len(listed) if at is None else at + 1
            return self._lost([*(entry[0] for entry in listed[:upto]), tx_key],
                              why="the END of a transaction committed after it, or its own, had been handled")
        if at is None:
            self._list(name, [*listed, [tx_key, *((floor.stream, floor.at) if floor is not None else (None, None))]])
        return []

    def _ended(self, tx_key: str, counts: Mapping[str, int], mark: CommitMark | None) -> list[Joined]:
        """An END handled (of ``tx_key``, at ``mark``): it leaves the unended transactions of the joined tables,
        and those it passes are abandoned (:meth:`_unended`): listed before it (its changes came after theirs), or
        whose first change's floor is below its mark (they committed at or before it)."""
        objects = self.objects
        if mark is not None:
            ended = objects.get(ENDED) or {}
            if ended.get(mark.stream, -1) < mark.at:
                objects.put(ENDED, {**ended, mark.stream: mark.at})
        gone: list[str] = []
        for name, key in self._unended_keys:
            value = objects.get(key)  # _listed, in line: an END reads every table's
            listed = value["txs"] if value else None
            if not listed:
                continue
            if len(listed) == 1 and listed[0][0] == tx_key:  # the usual one: only this transaction, now ended
                objects.put(key, None)  # _list(name, []), in line
                continue
            own = -1
            if name in counts:
                for i, entry in enumerate(listed):  # a loop, not next() of a generator: every END
                    if entry[0] == tx_key:
                        own = i
                        break
            kept = []
            for i, entry in enumerate(listed):
                if entry[0] == tx_key:
                    continue
                if i < own or (mark is not None and entry[1] == mark.stream and entry[2] is not None
                               and not committed_before(mark, CommitMark(entry[1], int(entry[2])))):
                    gone.append(entry[0])
                else:
                    kept.append(entry)
            if len(kept) != len(listed):
                self._list(name, kept)
        return self._lost(gone, why="a transaction committed after it has ENDed") if gone else []

    def _listed(self, name: str) -> list[list[Any]]:
        """The unended transactions of ``name`` (:data:`UNENDED`; not to be changed: a new list is put)."""
        listed = self.objects.get(f"{UNENDED}{name}")
        return listed["txs"] if listed else []

    def _list(self, name: str, entries: list[list[Any]]) -> None:
        self.objects.put(f"{UNENDED}{name}", {"txs": entries} if entries else None)

    def _lost(self, tx_keys: list[str], *, why: str) -> list[Joined]:
        """Abandon the unended transactions ``tx_keys`` (in that order, each once), whose END the flow has passed:
        released with the changes they hold, out of every table's list."""
        if not tx_keys:
            return []
        keys = list(dict.fromkeys(tx_keys))
        gone = set(keys)
        for name in sorted(self.collections):
            listed = self._listed(name)
            if any(entry[0] in gone for entry in listed):
                self._list(name, [entry for entry in listed if entry[0] not in gone])
        released = []
        for tx_key in keys:
            state = self._tx(tx_key)
            tables = sorted(name for name, held in (state.get("have") or {}).items() if held)
            truncated = state.get("truncated")
            cause = (f"a TRUNCATE of {', '.join(truncated)}, which MariaDB and MySQL commit as a statement of its "
                     "own, with no END in Debezium's transaction metadata" if truncated else
                     "a table the flow began to read while running, added to the capture or renamed, delivers "
                     "changes whose ENDs the flow had passed")
            ABANDONED_LOG.abandoned(tx_key, "whose changes came without their END",
                                    "source transaction %s is abandoned: its changes of %s came without their END "
                                    "(%s: %s); they are passed on without it", tx_key, ", ".join(tables) or "no table",
                                    why, cause)
            released.append(self._take(tx_key, state, (*self._missing(state), NO_END), why=(
                f"its changes came without their END ({why}); a table the flow began to read while running (added "
                "to the capture, or renamed) delivers the changes captured before, whose ENDs the flow had passed")))
        return released

    def _passed(self, end: CommitMark | None, missing: tuple[str, ...]) -> list[str]:
        """The tables ``missing`` names whose latest change is of a transaction committed after ``end``."""
        passed = []
        for name in missing:
            floor = self.objects.get(f"floor:{name}")
            if floor is not None and committed_before(end, CommitMark(str(floor["stream"]), int(floor["at"]))):
                passed.append(name)
        return passed

    def _tx(self, tx_key: str) -> Any:
        """The transaction's state (not to be changed: a new one is put)."""
        return self.objects.get(f"tx:{tx_key}") or {"expected": None, "have": {}}

    def _clear(self) -> dict[str, str]:
        """Per joined table, the last queued transaction of the queue's prefix that misses no change of it (see
        :data:`QUEUE`); not to be changed."""
        queue = self.objects.get(QUEUE)
        clear: dict[str, str] = (queue.get("clear") or {}) if queue is not None else {}
        return clear

    def _put_queue(self, txs: list[str], *, removed: Collection[str] = (),
                   clear: Mapping[str, str | None] | None = None) -> None:
        """Put the queue ``txs``, keeping each table's clear prefix (updated by ``clear``; None drops a table's)
        unless its last transaction is among ``removed`` (then the next change of the table looks at the whole
        queue once more)."""
        kept = {**self._clear(), **(clear or {})}
        marks = {name: tx for name, tx in kept.items() if tx is not None and tx not in removed} if txs else {}
        self.objects.put(QUEUE, {"txs": txs, "clear": marks} if marks else {"txs": txs})

    def _queued(self) -> list[str] | None:
        """The ENDed transactions not yet released, in commit order; None when the store has no queue yet (not to
        be changed: a new queue is put)."""
        queue = self.objects.get(QUEUE)
        if queue is None:
            return None
        txs: list[str] = queue.get("txs") or []
        return txs

    @staticmethod
    def _missing(state: JsonValue) -> tuple[str, ...]:
        expected: dict[str, int] = state.get("expected") or {}
        have: dict[str, Collection[int]] = state.get("have") or {}
        passed: dict[str, int] = state.get("passed") or {}
        if len(expected) == 1:  # the common one-table transaction: nothing to sort
            (name, n), = expected.items()
            return (name,) if len(have.get(name, ())) + passed.get(name, 0) < n else ()
        return tuple(sorted(c for c, n in expected.items() if len(have.get(c, ())) + passed.get(c, 0) < n))

    def _abandon_before(self, queued: list[str], tx_key: str, name: str, floor: CommitMark | None) -> list[Joined]:
        """Abandon the queued transactions before ``tx_key`` that still miss changes of ``name``, whose change of
        ``tx_key`` (at ``floor``) has arrived: a transaction not queued is taken for a later one (its END is still
        to come), unless the marks say it committed before (its END handled before the flow read its change).

        Only the part of the queue after ``name``'s clear prefix (:data:`QUEUE`) is looked at, and the prefix grows
        by what this call finds complete in ``name``: every change used to walk the whole queue, so a queue of
        thousands of ENDs (the small transactions committed after a large one, waiting for it) made each change
        cost thousands of look-ups, the worker ~100 times slower and its event loop silent past its session."""
        upto = queued.index(tx_key) if tx_key in queued else len(queued)
        mark = self._clear().get(name)
        start = queued.index(mark) + 1 if mark is not None and mark in queued else 0
        if start > upto:
            return []
        last = queued[start - 1] if start else None
        whole = True  # every transaction looked at so far misses no change of name (or is abandoned)
        abandoned = []
        for other in queued[start:upto]:
            state = self._tx(other)
            missing = self._missing(state)
            if name not in missing:
                if whole:
                    last = other
                continue
            end = state.get("end")
            if (floor is not None and end is not None and end[0] == floor.stream
                    and not committed_before(CommitMark(end[0], int(end[1])), floor)):
                whole = False
                continue  # committed after the change's transaction: its own changes of name are still to come
            ABANDONED_LOG.abandoned(other, f"whose {name} delivered a later transaction's change first",
                                    "source transaction %s is abandoned: %s delivered a change of a later "
                                    "transaction before its own", other, name)
            abandoned.append(self._take(other, state, missing, why="a later transaction's change arrived first"))
        gone = {j.tx_key for j in abandoned}
        if gone or last != mark:
            self._put_queue([t for t in queued if t not in gone] if gone else queued, removed=gone,
                            clear={name: last})
        return abandoned

    def _release(self) -> list[Joined]:
        queued = self._queued()
        if not queued:
            return []
        released = []
        at = 0
        while at < len(queued):
            state = self._tx(queued[at])
            if self._missing(state):
                break
            released.append(self._take(queued[at], state, ()))
            at += 1
        if released:
            self._put_queue(queued[at:], removed=queued[:at])
        return released

    def _take(self, tx_key: str, state: JsonValue, missing: tuple[str, ...], *, why: str = "") -> Joined:
        have = state.get("have") or {}
        # the usual one-table transaction without a comprehension
        ordinals = list(*have.values()) if len(have) == 1 else [o for held in have.values() for o in held]
        ordinals.sort()
        records = self._records(tx_key, ordinals, state.get("schemas") or {})
        self.objects.put(f"tx:{tx_key}", None)
        dead: dict[str, str] = state.get("dead") or {}
        known = [f"its change of {name} was dead-lettered by this flow ({dead[name]})" for name in missing
                 if name in dead] if missing and dead else []
        if known:  # the cause is known: no guessing why the change never came
            why = (f"{'; '.join(known)}; fix that row at its source (or the mapping that refused it), then replay "
                   f"this transaction's dead letters: {DEAD_LETTERS_HINT}")
        # Every field set at once, in their order (the frozen dataclass's __init__ sets them one object.__setattr__
        # at a time: a transaction released per change, issue 17); the values are __init__'s.
        made = object.__new__(Joined)
        made.__dict__.update(tx_key=tx_key, records=records, missing=missing, why=why, split=False,
                             parted="passed" in state, more=False)
        return made

    def _records(self, tx_key: str, ordinals: list[int], schemas: Mapping[str, str]) -> tuple[Incoming, ...]:
        """The buffered changes of ``tx_key`` at ``ordinals`` (in that order), taken out of the store; ``schemas``:
        the transaction's schema texts by fingerprint (:func:`held_state`)."""
        objects = self.objects
        records = []
        for ordinal in ordinals:
            key = f"ev:{tx_key}:{ordinal}"
            record = objects.get(key)
            if record is not None:
                records.append(record if isinstance(record, Incoming) else held_record(record, schemas))
            objects.put(key, None)
        return tuple(records)
