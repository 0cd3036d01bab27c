"""Net effect per source transaction: which input records the entity flow folds together and decides once.

With ``transactions: net`` (the default), the changes of one source transaction are joined along Debezium's
transaction metadata (:class:`~streams.flows.orders.txjoin.TransactionJoin`, one per system the flow reads,
each on its own store ``tx-<system>``) and released as one *group* once the transaction's END and every change
it counts for the flow's tables have arrived. The flow folds a group's changes in their order and decides
afterwards, once: a customer inserted, updated and deleted in one transaction commands nothing, three
updates of one row in one transaction make one ``update``. A change without a transaction block (a snapshot
read, a connector without ``provide.transaction.metadata``) is a group of its own, as is every change with
``transactions: each``. A transaction abandoned by the join (a later transaction's change arrived first, or
the flow's tick found the tables it misses read to their end: :meth:`Transactions.abandon_read_to_end`, so
the missing ones will never come; or its changes came after the flow had passed its END, as a table added to a
running capture or renamed delivers them) is released with what it has: for master data, what arrived is still the
best knowledge of the rows. A transaction of more changes than the flow's ``transaction_limit`` is released in
parts of that many (a bulk load in one transaction would otherwise be held whole in memory; counted as
``transactions_split``), each a :class:`Part`: the flow folds each part as it comes and decides at the last one,
so the systems it writes still get the transaction's net effect, once.

A partitioned flow (``ISTHMUS_FLOW_PARTITIONS``) joins in its keying stage, which sees every record: each
group's records are passed on per entity key, the ``isthmus.tx`` header telling the keyed flow the group and
how many records of it its key gets (JSON ``{"tx", "key", "i", "n"}``); the keyed flow keeps them in
``txparts`` until the last arrives (:meth:`Transactions.parts`). A transaction released in parts is marked part by
part: the keyed flow decides each part as it comes, so the empty last part of one of exactly ``transaction_limit``
changes (or a multiple) has nothing to route.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from streams.codecs import ChangeEvent, decode
from streams.codecs.debezium.envelope import TransactionEvent, TransactionStatus
from streams.codecs.exceptions import CodecError
from streams.flows.engine.api import Context, Incoming, Store
from streams.flows.kept import KeptEvents
from streams.flows.orders.txjoin import ABANDONED, SPLIT, Buffered, JoinCodec, Joined, TransactionJoin
from streams.flows.parking import record_from_state, record_to_state
from streams.kafka.deadletters import is_replay
from streams.systems import Systems

#: Header of a record the keying stage passed on as part of a group: ``{"tx", "key", "i", "n"}``.
TX_HEADER = "isthmus.tx"
#: The keyed flow's store of group parts waiting for the rest of their group.
PARTS = "txparts"

Group = tuple[Incoming, ...]


class Part(tuple[Incoming, ...]):
    """A group that is one part of a source transaction released in parts (it passed the flow's
    ``transaction_limit``): ``tx`` names the transaction, ``last`` says whether it is the part that ended it (its
    END and every change arrived, or it was abandoned). The last part may hold no change at all: it still ends
    the transaction. Used as any group is (a tuple of records)."""

    tx: str
    last: bool

    def __new__(cls, records: Iterable[Incoming], *, tx: str, last: bool) -> Part:
        part = super().__new__(cls, records)
        part.tx = tx
        part.last = last
        return part


def join_store(system: str) -> str:
    return f"tx-{system}"


class Transactions:
    """The transaction topics of the systems an entity flow reads, and the joins over them."""

    def __init__(self, *, net: bool, systems: Systems, tables: Mapping[str, tuple[str, str]],
                 limit: int | None = None) -> None:
        """``tables``: the flow's input topics, by the system and table each carries; ``limit``: the most changes
        of one transaction held, a larger one released in parts, decided at its end (the flow's ``transaction_limit``;
        None: whole)."""
        self.net = net
        self.limit = limit
        read = sorted({system for system, _ in tables.values()})
        #: Transaction topic -> system.
        self.topics = {systems[s].transaction_topic: s for s in read} if net else {}
        self.collections = {s: frozenset(f"{systems[s].namespace}.{t}" for system, t in tables.values()
                                         if system == s) for s in read}
        #: System -> the topic of each of its collections.
        self._topics_of = {s: {f"{systems[s].namespace}.{t}": topic for topic, (system, t) in tables.items()
                               if system == s} for s in read}
        #: Change events decoded by the join, kept for the fold (:meth:`decoded`).
        self._decoded = KeptEvents()
        #: Each system's join store as objects, its records buffered in memory too, kept between joins.
        self._codecs = {s: JoinCodec(Buffered()) for s in read}
        #: Each system's join store.
        self._stores = {s: join_store(s) for s in read}
        #: The join over each system's batch view, made again when a batch (or a task) brings another view.
        self._joins: dict[str, TransactionJoin] = {}
        #: The wall clock (epoch seconds) of a tick that found a transaction topic read to its end.
        self.clock: Callable[[], float] = time.time

    @property
    def stores(self) -> tuple[str, ...]:
        return tuple(join_store(s) for s in self.topics.values())

    def _join(self, system: str, stores: Mapping[str, Store], ctx: Context | None) -> TransactionJoin:
        if ctx is None:
            return TransactionJoin.on_store(stores[join_store(system)], self.collections[system],
                                            codec=self._codecs[system], limit=self.limit)
        objects = ctx.objects(self._stores[system], self._codecs[system])
        join = self._joins.get(system)
        if join is None or join.objects is not objects:
            join = self._joins[system] = TransactionJoin(objects, self.collections[system], limit=self.limit)
        return join

    def groups(self, record: Incoming, system: str | None, stores: Mapping[str, Store],
               count: Callable[[str, int], None] | None = None, *, ctx: Context | None = None) -> list[Group]:
        """The groups ``record`` completes: itself alone, nothing yet (it waits for its transaction), or the
        transactions it completes, in commit order. ``system``: the system whose table the record carries;
        ``count``: told how many transactions the join abandoned (``Context.count``); ``ctx``: the batch's context,
        whose view of the join's store keeps the join's state decoded for the batch and writes it once when the
        batch ends (without one, ``stores`` are read and written on every call: a router called outside a batch)."""
        if record.topic in self.topics:
            try:
                event = decode(record.value, record.key, topic=record.topic, where=record.position)
            except CodecError:
                return []  # not ours to judge: Debezium writes the transaction topic, no change is lost here
            if isinstance(event, TransactionEvent) and event.status is TransactionStatus.END:
                return _released(self._join(self.topics[record.topic], stores, ctx).end(event), count)
            return []
        if not self.net or system is None or record.value is None:
            return [(record,)]
        try:
            event = decode(record.value, record.key, topic=record.topic, where=record.position)
        except CodecError:
            return [(record,)]  # the flow dead-letters it with the reason
        join = self._join(system, stores, ctx)
        if isinstance(event, ChangeEvent):
            self._decoded.keep(record, event)
        if not isinstance(event, ChangeEvent) or not join.joins(event) or is_replay(record.headers):
            # a replayed dead letter's transaction ended long ago (its END will not come again): it stands alone
            return [(record,)]
        return _released(join.add(record, event), count)

    def decoded(self, record: Incoming) -> ChangeEvent | None:
        """The change event :meth:`groups` decoded from ``record`` (the same topic, partition, offset and value
        bytes), taken out; None when it has not, or no longer has, that event. Decoding is a pure function of
        the value and topic, so the event is the one decoding ``record`` again would give: the fold reuses it
        instead of decoding every change twice (a sixth of the customer flow's handler, issue 17)."""
        return self._decoded.take(record)

    def event(self, record: Incoming) -> ChangeEvent | None:
        """The change event :meth:`groups` decoded from ``record``, left kept for the fold (:meth:`decoded`); None
        when it decoded none (not net, no value, or a value that is no change event: the fold says why, decoding it
        again would only fail again)."""
        return self._decoded.peek(record)

    def abandon_read_to_end(self, read_to_end: Collection[str], stores: Mapping[str, Store],
                            count: Callable[[str, int], None] | None = None, *,
                            ctx: Context | None = None) -> list[Group]:
        """The groups a tick releases: each join's transactions that miss changes only of tables whose topics are
        in ``read_to_end`` (:meth:`~streams.flows.orders.txjoin.TransactionJoin.abandon_read_to_end`), and the
        complete ones behind them, in commit order per system; ``count``: told how many were abandoned; ``ctx``:
        as for :meth:`groups`."""
        groups: list[Group] = []
        for ends, system in self.topics.items():
            read = {name for name, topic in self._topics_of[system].items() if topic in read_to_end}
            join = self._join(system, stores, ctx)
            at = self.clock() if ends in read_to_end else None
            groups += _released(join.abandon_read_to_end(read, ends_read_at=at), count)
        return groups

    @staticmethod
    def parts(record: Incoming, stores: Mapping[str, Store]) -> list[Group] | None:
        """For the keyed flow of a partitioned one: the group a record marked by the keying stage completes
        (``[]`` while it waits for the rest); None for a record without the mark."""
        if not record.headers:
            return None
        raw = dict(record.headers).get(TX_HEADER)
        if raw is None:
            return None
        mark: dict[str, Any] = json.loads(raw)
        n, i = int(mark["n"]), int(mark["i"])
        if n <= 1:
            return [(record,)]
        prefix = f"{mark['tx']}|{mark['key']}|"
        store = stores[PARTS]
        if i < n - 1:
            store.put(f"{prefix}{i}", record_to_state(record))
            return []
        group = []
        for index in range(n - 1):
            held = store.get(f"{prefix}{index}")
            if held is not None:
                group.append(record_from_state(held))
                store.put(f"{prefix}{index}", None)
        return [(*group, record)]


def _released(joined: list[Joined], count: Callable[[str, int], None] | None) -> list[Group]:
    if not joined:
        return []  # a change that waits for its transaction's END: most of them
    abandoned = split = 0
    groups: list[Group] = []
    for j in joined:  # one loop, not two sums of generators and a comprehension: a transaction released per END
        if j.missing:
            abandoned += 1
        if j.split:
            split += 1
        if j.parted:
            if j.records or not j.more:
                groups.append(Part(j.records, tx=j.tx_key, last=not j.more))
        elif j.records:
            groups.append(j.records)
    if abandoned and count is not None:
        count(ABANDONED, abandoned)
    if split and count is not None:
        count(SPLIT, split)
    return groups


def marked(groups: Iterable[Group], route: Callable[[Incoming], list[tuple[str | None, Incoming]]]
           ) -> list[tuple[str | None, Incoming]]:
    """A keying stage's routes of ``groups`` (what :meth:`Transactions.groups` released), each record routed by
    ``route`` and each group's records marked as one (:func:`mark`). The empty last part of a transaction released
    in parts (one of exactly ``transaction_limit`` changes, or a multiple) routes nothing: the keyed flows decide
    each part as it comes (its mark names the part, not the transaction), so its END leaves them nothing to do."""
    routed: list[tuple[str | None, Incoming]] = []
    for group in groups:
        if group:
            routed += mark([one for record in group for one in route(record)], f"{group[0].topic}@{group[0].offset}",
                           group)
    return routed


def mark(routed: list[tuple[str | None, Incoming]], tx: str, group: Group) -> list[tuple[str | None, Incoming]]:
    """The keying stage's routes of one group, each record marked with its place among its key's records of the
    group. A record the router cannot place (key None) is a group of one, and so is a held record the group
    released (no member of it: a change of an earlier transaction)."""
    members = {(r.topic, r.partition, r.offset) for r in group}

    def single(key: str | None, record: Incoming) -> bool:
        return key is None or (record.topic, record.partition, record.offset) not in members

    counts: dict[str | None, int] = {}
    for key, record in routed:
        if not single(key, record):
            counts[key] = counts.get(key, 0) + 1
    seen: dict[str | None, int] = {}
    marked = []
    for key, record in routed:
        if single(key, record):
            place = {"tx": "", "key": key, "i": 0, "n": 1}
        else:
            place = {"tx": tx, "key": key, "i": seen.get(key, 0), "n": counts[key]}
            seen[key] = seen.get(key, 0) + 1
        header = json.dumps(place, separators=(",", ":")).encode()
        headers = (*((k, v) for k, v in record.headers if k != TX_HEADER), (TX_HEADER, header))
        marked.append((key, Incoming(topic=record.topic, partition=record.partition, offset=record.offset,
                                     key=record.key, value=record.value, timestamp_ms=record.timestamp_ms,
                                     headers=headers)))
    return marked
