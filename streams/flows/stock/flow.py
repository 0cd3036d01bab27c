"""Derived values per key (block ``derived``; the reference flow is ``isthmus-stock``): a sum over a system's rows,
grouped by key, kept equal in another system's record.

The section of the flow file (:mod:`streams.flows.stock.config`) names the mapping whose table sources group rows
(``group_by``) and sum a field (``sum:``), e.g. ERP ``on_hand - reserved`` per SKU over warehouses:
:mod:`streams.flows.sums` keeps each row's contribution, so an update replaces it and a delete removes it. The
target system gets a command (``<record> <operation>``) when that total differs from what its table shows (or will
show once our pending writes land): the latest value wins, and the target's report of a value we wrote (its CDC of
that table) is an echo that commands nothing. A key the target has no row for is kept until the row appears. Store
``groups``: per group key, the totals, the commit time of the change that last moved them, the key's fields as
the mapping gives them (the payload's key, never the raw ``group_by`` values: ``str(subscriber_id)`` stays text)
and the mirror of the target's value; store ``members``: each row's contribution.

The changes of one source transaction (``transactions: net``, the default) are joined along Debezium's transaction
metadata with the entity block's machinery (:mod:`~streams.flows.customers.txnet`): they are folded into their
keys' totals in their order, then each key is decided once, so 2,000 events of 100 keys in one transaction make
at most 100 commands, each with the total after the transaction. A change that cannot be mapped is dead-lettered
alone; a key whose command cannot be made is dead-lettered with the changes folded into it, and the other keys go
on. A transaction past the flow's ``transaction_limit`` comes in parts (:class:`~streams.flows.customers.txnet.
Part`): each part is folded as it comes and its keys are held (``held`` in their entry: not commanded, not even
for their target's CDC) until the last part, where they are decided (:mod:`~streams.flows.customers.deferred`, a
bounded number per batch, the rest at the next ticks).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from streams.codecs.avro.single_object import SchemaStore
from streams.codecs.debezium.envelope import ChangeEvent, Op, Tombstone, decode
from streams.errors import IsthmusError
from streams.flows.commands import Cause, Command, emit_command
from streams.flows.customers.deferred import (
    DECIDED_COUNT,
    DECISIONS_PER_BATCH,
    DEFERRED,
    DEFERRED_COUNT,
    Deferred,
    cause_record,
)
from streams.flows.customers.txnet import PARTS, Group, Part, Transactions
from streams.flows.engine.api import Context, FlowSpec, Incoming, JsonValue, Rejected, Ticking, Waiting
from streams.flows.engine.values import from_store, to_store
from streams.flows.orders.mirror import Mirror
from streams.flows.stock.config import DerivedConfig
from streams.flows.stock.exceptions import UnexpectedRecord
from streams.flows.stock.keying import GroupKeys, key_text
from streams.flows.sums import MEMBERS, add
from streams.flows.truncates import Truncates
from streams.mapping import Context as MappingContext
from streams.mapping import MappedChange, map_source
from streams.systems import Systems

NAME = "isthmus-stock"
GROUPS = "groups"


@dataclass(frozen=True, slots=True)
class _Summed:
    """One change of a summed table, mapped: the group key it moves and the cause of a command it leads to."""

    record: Incoming
    key: str
    change: MappedChange
    cause: Cause


class StockFlow:
    def __init__(self, *, schemas: SchemaStore, config: DerivedConfig, systems: Systems, name: str = NAME,
                 description: str = "") -> None:
        """``systems``: the declared systems, for their zones and for the commands' target."""
        self.schemas = schemas
        self.config = config
        self.systems = systems
        self.context = MappingContext.of(systems)
        self.name = name
        self.description = description or f"{config.mapping.path.name} summed per key to {config.target_system}"
        self.truncates = Truncates(flow=name, schemas=schemas, systems=systems)
        self.transactions = Transactions(net=config.transactions == "net", systems=systems,
                                         tables=config.summed_tables, limit=config.transaction_limit)

    @property
    def stage(self) -> str:
        return f"flow.{self.name}"

    def spec(self) -> FlowSpec:
        config = self.config
        return FlowSpec(name=self.name, inputs=(*config.inputs, *self.transactions.topics), handler=self.handle,
                        stores=(GROUPS, MEMBERS, *self.transactions.stores, PARTS, DEFERRED),
                        outputs=(self.truncates.topic,), tick=self.tick,
                        key_by=GroupKeys(config.key_columns(), self.transactions, config.summed_tables),
                        description=self.description, sends=config.sends)

    def handle(self, record: Incoming, ctx: Context) -> None:
        groups = Transactions.parts(record, ctx.stores)
        if groups is None:
            summed = self.config.sum_source(record.topic)
            groups = self.transactions.groups(record, summed.system if summed is not None else None, ctx.stores,
                                              ctx.count, ctx=ctx)
        for group in groups:
            self._group(group, ctx)

    def tick(self, ctx: Context, ticking: Ticking) -> Waiting:
        """Sum what arrived of the source transactions whose missing changes will never come (their tables read to
        their end), and the complete ones behind them; then decide the next keys ended transactions left."""
        for group in self.transactions.abandon_read_to_end(ticking.read_to_end, ctx.stores, ctx.count, ctx=ctx):
            self._group(group, ctx)
        return Waiting(busy=self._decide_deferred(ctx))

    def _group(self, records: Group, ctx: Context) -> None:
        """Fold the changes of one group (a source transaction, a part of one, or one change) into their keys'
        totals in order, then decide each key once, with the cause of its last change; a change that cannot be
        read is dead-lettered alone, a key that cannot be decided with the changes folded into it."""
        by_key: dict[str, list[_Summed]] = {}
        for record in records:
            summed: _Summed | None = None
            with ctx.isolated(record):
                summed = self._read(record, ctx)
            if summed is not None:
                by_key.setdefault(summed.key, []).append(summed)
        part = records if isinstance(records, Part) else None
        holding = part is not None and (not part.last or len(by_key) > DECISIONS_PER_BATCH)
        held: dict[str, Cause] = {}
        for key, changes in by_key.items():
            with ctx.isolated(*(c.record for c in changes)):
                try:
                    entry = self._fold(ctx, key, changes)
                    if holding:
                        entry["held"] = True
                        ctx.stores[GROUPS].put(key, entry)
                        held[key] = changes[-1].cause
                    else:
                        self.decide(ctx, key, entry, changes[-1].cause)
                except IsthmusError as exc:
                    raise Rejected(_reason(key, changes, exc), stage=self.stage) from exc
        if part is not None:
            deferred = Deferred(ctx.stores[DEFERRED])
            if held:
                deferred.defer(part.tx, held)
                ctx.count(DEFERRED_COUNT, len(held))
            if part.last and deferred.end(part.tx):
                self._decide_deferred(ctx)

    def _read(self, record: Incoming, ctx: Context) -> _Summed | None:
        """A change of a summed table, mapped (None: none to fold); the target's changes and truncates are dealt
        with here."""
        try:
            if record.value is None:
                return None  # a tombstone: its delete did the work
            event = self.transactions.decoded(record) or decode(record.value, record.key, topic=record.topic,
                                                                where=record.position)
            if isinstance(event, Tombstone):
                return None
            if not isinstance(event, ChangeEvent):
                raise UnexpectedRecord(f"{type(event).__name__} on the table topic {record.topic}; "
                                       "only row changes are expected there")
            if event.op is Op.TRUNCATE:
                self.truncates.seen(ctx, record, event)  # said, counted and held; no total changes
                return None
            summed = self.config.sum_source(record.topic)
            if summed is None:
                self.target(ctx, record, event)
                return None
            change = map_source(summed.engine, summed.source, event, summed.system, self.context)
        except IsthmusError as exc:
            raise Rejected(f"{type(exc).__name__}: {exc}", stage=self.stage) from exc
        if change is None:
            return None
        return _Summed(record=record, key=key_text(change.group_key), change=change,
                       cause=Cause.of(event, summed.system, record))

    def _fold(self, ctx: Context, key: str, changes: list[_Summed]) -> dict[str, Any]:
        """The key's entry with ``changes`` added to its totals (the caller writes it)."""
        config = self.config
        entry = dict(ctx.stores[GROUPS].get(key) or {})
        for summed in changes:
            totals = add(ctx.stores[MEMBERS], key, entry, summed.change)
        last = changes[-1].change
        entry.pop("group", None)  # the raw group_by values, kept before the mapped key was (see _payload)
        entry.update(total=to_store(totals[config.field]), as_of=to_store(last.commit_time),
                     key=to_store({f: last.values.get(f) for f in config.key_fields}))
        return entry

    def target(self, ctx: Context, record: Incoming, event: ChangeEvent) -> None:
        config = self.config
        row = event.row
        assert row is not None
        key = key_text([row.get(c) for c in config.target_key])
        entry = dict(ctx.stores[GROUPS].get(key) or {})
        mirror = Mirror(entry.get("target"))
        if event.op is Op.DELETE:
            mirror.forget()
            entry["target"] = None
            ctx.stores[GROUPS].put(key, entry)
            return
        if mirror.observe({config.field: row.get(config.target_column)}):
            ctx.count("echoes_suppressed")
        entry["target"] = mirror.to_state()
        self.decide(ctx, key, entry, Cause.of(event, config.target_system, record))

    def decide(self, ctx: Context, key: str, entry: JsonValue, cause: Cause) -> None:
        """Command the target when its row does not show (and will not get) the current total; a key held for the
        end of its source transaction is not decided yet."""
        config = self.config
        total = from_store(entry.get("total"))
        if total is not None and entry.get("target") is not None and not entry.get("held"):
            mirror = Mirror(entry["target"])
            if mirror.due({config.field: total}):
                payload = self._payload(entry)
                payload[config.field] = total
                if config.stamp is not None:
                    payload[config.stamp] = from_store(entry.get("as_of"))
                emit_command(ctx, self.schemas, systems=self.systems, command=Command(
                    target=config.target_system, operation=config.operation, entity_type=config.record,
                    entity_key=key, payload_type=config.record, payload=payload, cause=cause,
                    changed_fields=(config.field,)))
                mirror.commanded({config.field: total})
                entry["target"] = mirror.to_state()
        if ctx.stores[GROUPS].get(key) != entry:
            ctx.stores[GROUPS].put(key, entry)

    def _payload(self, entry: JsonValue) -> dict[str, Any]:
        """The payload's key fields as the mapping gives them (``key``); an entry written before the flow kept
        them has the raw ``group_by`` values (``group``) until its next change."""
        mapped = entry.get("key")
        if mapped is not None:
            return dict(from_store(mapped))
        return dict(zip(self.config.key_fields, from_store(entry["group"]), strict=True))

    def _decide_deferred(self, ctx: Context) -> bool:
        """Decide the next keys ended source transactions left (:mod:`~streams.flows.customers.deferred`), at most
        the flow's transaction limit of them, each on its own: one that cannot be decided is dead-lettered alone,
        as its last change, its total kept (commanded with its next change). True when more are left."""
        deferred = Deferred(ctx.stores[DEFERRED])
        taken = deferred.take(min(self.config.transaction_limit, DECISIONS_PER_BATCH))
        groups = ctx.stores[GROUPS]
        for key, cause in taken:
            entry = dict(groups.get(key) or {})
            if entry.pop("held", None) is None:
                continue  # decided already: a key several parts held
            groups.put(key, entry)  # no longer held, even if its decision fails
            with ctx.isolated(cause_record(key, cause)):
                try:
                    self.decide(ctx, key, entry, cause)
                except IsthmusError as exc:
                    raise Rejected(stage=self.stage, reason=(
                        f"{key}: cannot command the total the changes of source transaction {cause.transaction_id} "
                        f"left (its last change of this key: {cause.event_id}): {type(exc).__name__}: {exc}; the "
                        "total is kept, and commanded with the key's next change")) from exc
        ctx.count(DECIDED_COUNT, len(taken))
        return deferred.pending()


def _reason(key: str, changes: list[_Summed], exc: IsthmusError) -> str:
    """The dead-letter reason of the changes folded into a key that cannot be decided."""
    if len(changes) == 1:
        return f"{type(exc).__name__}: {exc}"
    return (f"{type(exc).__name__}: {exc} (the total of {key} over {len(changes)} changes of source transaction "
            f"{changes[-1].cause.transaction_id}, dead-lettered together; the other keys go on)")
