"""Derived values per key (block ``derived``; the reference flow is ``isthmus-stock``): a sum over a system's rows,
grouped by key, kept equal in another system's record.

The section of the flow file (:mod:`streams.flows.stock.config`) names the mapping whose table sources group rows
(``group_by``) and sum a field (``sum:``), e.g. ERP ``on_hand - reserved`` per SKU over warehouses:
:mod:`streams.flows.sums` keeps each row's contribution, so an update replaces it and a delete removes it. The
target system gets a command (``<record> <operation>``) when that total differs from what its table shows (or will
show once our pending writes land): the latest value wins, and the target's report of a value we wrote (its CDC of
that table) is an echo that commands nothing. A key the target has no row for is kept until the row appears. Store
``groups``: per group key, the totals, the commit time of the change that last moved them, and the mirror of the
target's value; store ``members``: each row's contribution.
"""

from __future__ import annotations

from typing import Any

from streams.codecs.avro.single_object import SchemaStore
from streams.codecs.debezium.envelope import ChangeEvent, Op, Tombstone, decode
from streams.errors import IsthmusError
from streams.flows.commands import Cause, Command, emit_command
from streams.flows.engine.api import Context, FlowSpec, Incoming, JsonValue, Rejected
from streams.flows.engine.values import from_store, to_store
from streams.flows.orders.mirror import Mirror
from streams.flows.stock.config import DerivedConfig, SumSource
from streams.flows.stock.exceptions import UnexpectedRecord
from streams.flows.stock.keying import GroupKeys, key_text
from streams.flows.sums import MEMBERS, add
from streams.flows.truncates import Truncates
from streams.mapping import Context as MappingContext
from streams.mapping import map_source
from streams.systems import Systems

NAME = "isthmus-stock"
GROUPS = "groups"


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

    @property
    def stage(self) -> str:
        return f"flow.{self.name}"

    def spec(self) -> FlowSpec:
        return FlowSpec(name=self.name, inputs=self.config.inputs, handler=self.handle, stores=(GROUPS, MEMBERS),
                        outputs=(self.truncates.topic,), key_by=GroupKeys(self.config.key_columns()),
                        description=self.description, sends=self.config.sends)

    def handle(self, record: Incoming, ctx: Context) -> None:
        try:
            event = decode(record.value, record.key, topic=record.topic, where=record.position)
            if isinstance(event, Tombstone):
                return
            if not isinstance(event, ChangeEvent):
                raise UnexpectedRecord(f"{type(event).__name__} on the table topic {record.topic}; "
                                       "only row changes are expected there")
            if event.op is Op.TRUNCATE:
                self.truncates.seen(ctx, record, event)  # said, counted and held; no total changes
                return
            summed = self.config.sum_source(record.topic)
            if summed is not None:
                self.contribution(ctx, record, event, summed)
            else:
                self.target(ctx, record, event)
        except IsthmusError as exc:
            raise Rejected(f"{type(exc).__name__}: {exc}", stage=self.stage) from exc

    def contribution(self, ctx: Context, record: Incoming, event: ChangeEvent, summed: SumSource) -> None:
        config = self.config
        cause = Cause.of(event, summed.system, record)
        change = map_source(summed.engine, summed.source, event, summed.system, self.context)
        if change is None:
            return
        key = key_text(change.group_key)
        entry = dict(ctx.stores[GROUPS].get(key) or {})
        totals = add(ctx.stores[MEMBERS], key, entry, change)
        entry.update(group=to_store(list(change.group_key)), total=to_store(totals[config.field]),
                     as_of=to_store(change.commit_time))
        self.decide(ctx, key, entry, cause)

    def target(self, ctx: Context, record: Incoming, event: ChangeEvent) -> None:
        config = self.config
        row = event.row
        assert row is not None
        group = [row.get(c) for c in config.target_key]
        key = key_text(group)
        entry = dict(ctx.stores[GROUPS].get(key) or {})
        mirror = Mirror(entry.get("target"))
        if event.op is Op.DELETE:
            mirror.forget()
            entry["target"] = None
            ctx.stores[GROUPS].put(key, entry)
            return
        if mirror.observe({config.field: row.get(config.target_column)}):
            ctx.count("echoes_suppressed")
        entry.update(target=mirror.to_state(), group=to_store(group))
        self.decide(ctx, key, entry, Cause.of(event, config.target_system, record))

    def decide(self, ctx: Context, key: str, entry: JsonValue, cause: Cause) -> None:
        """Command the target when its row does not show (and will not get) the current total."""
        config = self.config
        total = from_store(entry.get("total"))
        if total is not None and entry.get("target") is not None:
            mirror = Mirror(entry["target"])
            if mirror.due({config.field: total}):
                payload: dict[str, Any] = dict(zip(config.key_fields, from_store(entry["group"]), strict=True))
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
