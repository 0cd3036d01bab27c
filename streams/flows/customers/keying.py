"""The entity flow's key: the record key (the reference: the customer number). Every store look-up of the flow
stays within it: the entity (``entities``), the index entries of that entity (``index``), the remembered
rows that go with it (``rows``) and the changes parked for it (``parked``) all belong to the entity the record
maps to.

The router finds the key the way the flow does, through the mapping files:

- a row of a link source carries the key itself (the binding of the record key in that source: the CRM's
  ``customer_number``, the ERP's ``crm_customer_number``); it also names the ids look-ups go by, which the
  router keeps (``numbers``: ``<id field>=<id>`` -> key);
- any other row (a child's ``parent_key``, a record source keyed through a look-up) is placed by its key
  binding, evaluated with the router's own look-up in ``numbers``. Rows of tables the flow remembers
  (:attr:`~streams.flows.customers.config.Reads.remember`) are remembered here too (``rows``: the columns
  the key needs), so a delete whose before-image carries only the primary key follows its row (one of a row
  never seen follows its own before-image where the table's images are whole);
- ``held``: changes whose look-up is not known yet, per what they wait for, passed on in their order right
  after the link row that makes it known.

A row that states no key (an ERP account the CRM does not know, which the flow ignores; a key-only delete of a
row never seen) is routed by its own table and primary key. Tombstones are dropped: the flow ignores them.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from streams.codecs import ChangeEvent, Op, decode
from streams.codecs.debezium.envelope import Record
from streams.codecs.exceptions import CodecError
from streams.flows.customers.config import EntityConfig
from streams.flows.customers.txnet import Group, Transactions, marked
from streams.flows.engine.api import Context as FlowContext
from streams.flows.engine.api import Incoming, Store, Ticking
from streams.flows.engine.values import to_store
from streams.flows.lookups import short_name
from streams.flows.parking import ParkingLot
from streams.mapping import Context, LookupMissing, MappingError
from streams.mapping.engine import Engine
from streams.mapping.spec import FieldBinding, SourceMapping

NUMBERS, ROWS, HELD = "numbers", "rows", "held"
Routed = list[tuple[str | None, Incoming]]


@dataclasses.dataclass(frozen=True)
class _Placer:
    """One source reading a table, and the binding that gives the entity's key from its row."""

    engine: Engine
    source: SourceMapping
    binding: FieldBinding


class _NumbersLookup:
    """The mapping engine's look-up of the link, by an indexed id, in the router's ``numbers``; ``asked`` is the
    last waiting key asked (where a change that misses it waits). A look-up by the record key itself is answered
    with that key (``own``), though ``numbers`` lacks it (the link's rows were routed before a mapping looked them
    up so): the row goes to its entity's flow, which knows whether it has the entity (and parks it, held visibly,
    when not)."""

    def __init__(self, store: Store, config: EntityConfig) -> None:
        self._store = store
        self._record = short_name(config.link.target)
        self._config = config
        self.asked: str | None = None
        self.own = False

    def __call__(self, record: str, by: str, key: Any) -> Mapping[str, Any] | None:
        if short_name(record) != self._record or by not in self._config.indexed:
            return None
        self.asked = f"{by}={key}"
        entry = self._store.get(self.asked)
        if entry is None and by == self._config.key:
            self.own = True
            return {by: key}
        return None if entry is None else {by: key, self._config.key: entry["key"]}


def row_key(table: str, event: ChangeEvent) -> str:
    """``<table>:<primary key>`` of the event's row (the key's one value, or its columns as JSON)."""
    key = dict(event.key or {})
    if not key:
        row = event.after if event.after is not None else event.before
        return f"{table}:{json.dumps(to_store(dict(row or {})), sort_keys=True)}"
    if len(key) == 1:
        return f"{table}:{next(iter(key.values()))}"
    return f"{table}:{json.dumps(to_store(key), sort_keys=True)}"


class CustomerKeys:
    """Routes the entity flow's inputs by record key (:class:`~streams.flows.engine.repartition.KeyRouter`; in its
    keying stage a :class:`~streams.flows.engine.repartition.BatchRouter`)."""

    def __init__(self, config: EntityConfig, tables: Mapping[str, tuple[str, str]], context: Context,
                 named: Mapping[str, Any], transactions: Transactions | None = None,
                 dead_letters: str | None = None) -> None:
        """``transactions``: the flow's transaction joins; the router joins, the keyed flow gets each group's
        records marked (:mod:`~streams.flows.customers.txnet`). ``dead_letters``: the dead-letter topic the flow
        reads; its records are keyed like the commands that failed, by the entity key."""
        self.transactions = transactions
        self.dead_letters = dead_letters
        self.stores: tuple[str, ...] = (NUMBERS, ROWS, HELD, *(transactions.stores if transactions else ()))
        self.config = config
        self.tables = dict(tables)
        self.context = context
        self.links: dict[tuple[str, str], list[_Placer]] = {}
        self.placers: dict[tuple[str, str], list[_Placer]] = {}
        self.columns: dict[tuple[str, str], tuple[str, ...]] = {}
        link = Engine(config.link, named)
        for where, reads in config.reads.items():
            if reads.link:
                self.links[where] = [_Placer(link, s, s.bindings[config.key]) for s in config.link.sources_for(*where)
                                     if config.key in s.bindings]
                continue
            placers = [_Placer(Engine(child, named), s, s.parent_key) for child in reads.children
                       for s in child.sources_for(*where) if s.parent_key is not None]
            if reads.record:
                record = Engine(config.record, named)
                placers += [_Placer(record, s, s.bindings[config.key]) for s in config.record.sources_for(*where)
                            if config.key in s.bindings and not s.group_by]
            self.placers[where] = placers
            self.columns[where] = tuple(sorted({c for p in placers for c in (
                *p.binding.reads, *(p.source.condition.names if p.source.condition else ()))}))

    def route(self, record: Incoming, stores: Mapping[str, Store]) -> Routed:
        """``record``'s routes, the transaction joins read and written in ``stores`` on every call."""
        return self._routes(record, stores, None)

    def route_in(self, record: Incoming, ctx: FlowContext) -> Routed:
        """``record``'s routes in the keying stage's batch (:class:`~streams.flows.engine.repartition.BatchRouter`):
        the transaction joins keep their state as the batch's objects, written once per changed key when the batch
        ends, so a transaction that completes within the batch leaves nothing in their stores."""
        return self._routes(record, ctx.stores, ctx)

    def _routes(self, record: Incoming, stores: Mapping[str, Store], ctx: FlowContext | None) -> Routed:
        if record.topic == self.dead_letters:
            return [(record.key.decode(errors="replace"), record)] if record.key and record.value else []
        if self.transactions is None or not self.transactions.net:
            return self._route(record, stores)
        where = self.tables.get(record.topic)
        count = ctx.count if ctx is not None else None  # abandoned transactions, as the one-partition flow counts
        return self._marked(self.transactions.groups(record, where[0] if where else None, stores, count, ctx=ctx),
                            stores)

    def tick(self, ctx: FlowContext, ticking: Ticking) -> Routed:
        """The groups of the transactions the keying stage's joins abandon now, their tables read to their end
        (:meth:`~streams.flows.customers.txnet.Transactions.abandon_read_to_end`), routed like any group."""
        if self.transactions is None or not self.transactions.net:
            return []
        return self._marked(self.transactions.abandon_read_to_end(ticking.read_to_end, ctx.stores, ctx.count,
                                                                   ctx=ctx), ctx.stores)

    def _marked(self, groups: list[Group], stores: Mapping[str, Store]) -> Routed:
        """The routes of ``groups``, each group's records marked as one (:func:`~streams.flows.customers.txnet.
        marked`)."""
        return marked(groups, lambda record: self._route(record, stores))

    def _route(self, record: Incoming, stores: Mapping[str, Store]) -> Routed:
        if record.value is None:
            return []
        where = self.tables.get(record.topic)
        # The change event the transaction join decoded from this record, else decoded here (issue 17: the stage
        # decoded every change twice, a third of its time).
        event: Record | None = self.transactions.decoded(record) if self.transactions is not None else None
        if event is None:
            try:
                event = decode(record.value, record.key, topic=record.topic, where=record.position)
            except CodecError:
                return [(None, record)]  # the flow dead-letters it with the reason
        if where is None or not isinstance(event, ChangeEvent):
            return [(None, record)]  # the flow dead-letters it (or ignores a transaction record)
        if event.op is Op.TRUNCATE:
            return [(None, record)]  # it names no row: whichever partition gets it says so (streams/flows/truncates.py)
        own = row_key(where[1], event)
        if where in self.links:
            return self._link(record, event, where, own, stores)
        return self._placed(record, event, where, own, stores)

    def _link(self, record: Incoming, event: ChangeEvent, where: tuple[str, str], own: str,
              stores: Mapping[str, Store]) -> Routed:
        row = (event.after if event.after is not None else event.before) or {}
        reading = self.context.reading(where[0])
        for placer in self.links[where]:
            if not placer.engine.applies(placer.source, row):
                continue
            try:
                key = placer.engine.value(placer.binding, row, reading)
            except MappingError:
                continue
            if key is None:
                continue
            routed: Routed = [(str(key), record)]
            for by in self.config.indexed:
                binding = placer.source.bindings.get(by)
                if binding is None:
                    continue
                try:
                    value = placer.engine.value(binding, row, reading)
                except MappingError:
                    continue
                if value is None:
                    continue
                if stores[NUMBERS].get(f"{by}={value}") != {"key": key}:
                    stores[NUMBERS].put(f"{by}={value}", {"key": key})
                routed += [(str(key), held) for held in ParkingLot(stores[HELD]).release(f"{by}={value}")]
            return routed
        return [(own, record)]

    def _placed(self, record: Incoming, event: ChangeEvent, where: tuple[str, str], own: str,
                stores: Mapping[str, Store]) -> Routed:
        deleted = event.after is None
        reads = self.config.reads[where]
        remember = reads.remember
        remembered = stores[ROWS].get(own) if remember else None
        if deleted:
            if remember and remembered is None and not reads.whole_images:
                return [(own, record)]  # a key-only delete of a row never seen: the flow has nothing of it
            row = remembered if remembered is not None else (event.before or {})
            if remembered is not None:
                stores[ROWS].put(own, None)
        else:
            row = event.after or {}
            if remember:
                slim = {c: row.get(c) for c in self.columns[where]}
                if remembered != slim:
                    stores[ROWS].put(own, slim)
        lookup = _NumbersLookup(stores[NUMBERS], self.config)
        reading = dataclasses.replace(self.context, lookup=lookup).reading(where[0])
        for placer in self.placers[where]:
            if not placer.engine.applies(placer.source, row):
                continue
            try:
                key = placer.engine.value(placer.binding, row, reading)
            except LookupMissing:
                if lookup.asked is None:
                    return [(None, record)]
                ParkingLot(stores[HELD]).park(lookup.asked, record)
                return []
            except MappingError:
                return [(None, record)]  # the flow dead-letters it with the reason
            held = ParkingLot(stores[HELD])
            if lookup.asked is not None and held.is_waiting(lookup.asked):
                if lookup.own:  # held before a look-up by the key was answered so: they go first, in their order
                    return [(str(key), one) for one in (*held.release(lookup.asked), record)]
                held.park(lookup.asked, record)  # behind the earlier changes of its entity
                return []
            return [(str(key), record)] if key is not None else [(own, record)]
        return [(own, record)]
