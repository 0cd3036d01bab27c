"""Stock availability (``isthmus-stock``): ERP on-hand minus reserved per SKU, over all warehouses, to the CRM.

``mappings/product_availability.yaml`` sums ``on_hand - reserved`` of every ``erp.stock`` row of a SKU
(:func:`streams.mapping.aggregate.fold` keeps each warehouse's contribution, so an update replaces it and
a delete removes it). The CRM gets a ``ProductAvailability update`` when that total differs from what its
product shows (or will show once our pending writes land): the latest value wins, and the CRM's report of
a value we wrote (its ``products`` CDC) is an echo that commands nothing. A SKU the CRM has no product for
is kept until the product appears. Stores: ``skus``, per SKU, the warehouses' contributions, the total,
the change that last moved it, and the CRM mirror of ``available_qty``.
"""

from __future__ import annotations

import json
from typing import Any

from streams.codecs.avro.single_object import SchemaStore
from streams.codecs.debezium.envelope import ChangeEvent, Op, Tombstone, decode
from streams.errors import IsthmusError
from streams.flows.commands import Cause, Command, emit_command
from streams.flows.engine.api import Context, FlowSpec, Incoming, JsonValue
from streams.flows.engine.values import from_store, to_store
from streams.flows.orders.mirror import Mirror
from streams.flows.stock.exceptions import StockFlowError, UnexpectedRecord
from streams.flows.stock.keying import SkuKeys
from streams.mapping import Context as MappingContext
from streams.mapping import RecordMapping, fold, map_change
from streams.systems import Systems

NAME = "isthmus-stock"
#: The systems the flow reads stock from and writes availability to, by their names in systems/.
CRM, ERP = "crm", "erp"
PRODUCT_AVAILABILITY = "isthmus.canonical.ProductAvailability"
FIELD = "available_qty"


class StockFlow:
    def __init__(self, *, schemas: SchemaStore, mapping: RecordMapping, systems: Systems,
                 name: str = NAME) -> None:
        """``systems``: the declared systems, for their zones and the input topics (ERP stock, CRM products)."""
        if not mapping.sources_for(ERP, "stock"):
            raise StockFlowError(f"{mapping.path.name} has no source reading the ERP's stock table; the stock flow "
                                 "sums availability through it")
        self.schemas = schemas
        self.mapping = mapping
        self.systems = systems
        self.context = MappingContext.of(systems)
        self.stock_topic = systems[ERP].topic("stock")
        self.inputs = (self.stock_topic, systems[CRM].topic("products"))
        self.name = name

    @property
    def stage(self) -> str:
        return f"flow.{self.name}"

    def spec(self) -> FlowSpec:
        return FlowSpec(name=self.name, inputs=self.inputs, handler=self.handle, stores=("skus",), key_by=SkuKeys(),
                        description="ERP on-hand minus reserved per SKU to the CRM's product availability")

    def handle(self, record: Incoming, ctx: Context) -> None:
        try:
            event = decode(record.value, record.key, topic=record.topic, where=record.position)
            if isinstance(event, Tombstone):
                return
            if not isinstance(event, ChangeEvent):
                raise UnexpectedRecord(f"{type(event).__name__} on the table topic {record.topic}; "
                                       "only row changes are expected there")
            if event.op is Op.TRUNCATE:
                return
            if record.topic == self.stock_topic:
                self.stock(ctx, record, event)
            else:
                self.product(ctx, record, event)
        except IsthmusError as exc:
            ctx.dead_letter(record, reason=f"{type(exc).__name__}: {exc}", stage=self.stage)

    def stock(self, ctx: Context, record: Incoming, event: ChangeEvent) -> None:
        cause = Cause.of(event, ERP, record)
        for change in map_change(self.mapping, event, ERP, self.context, self.schemas.schemas.named):
            sku = str(change.group_key[0])
            entry = dict(ctx.stores["skus"].get(sku) or {})
            members = {tuple(json.loads(k)): from_store(v) for k, v in (entry.get("members") or {}).items()}
            total = fold(members, change)
            entry.update(members={json.dumps(list(k)): to_store(dict(v)) for k, v in total.members.items()},
                         total=to_store(total.totals[FIELD]), as_of=to_store(change.commit_time))
            self.decide(ctx, sku, entry, cause)

    def product(self, ctx: Context, record: Incoming, event: ChangeEvent) -> None:
        row = event.row
        assert row is not None
        sku = str(row["sku"])
        entry = dict(ctx.stores["skus"].get(sku) or {})
        mirror = Mirror(entry.get("crm"))
        if event.op is Op.DELETE:
            mirror.forget()
            entry["crm"] = None
            ctx.stores["skus"].put(sku, entry)
            return
        if mirror.observe({FIELD: row.get(FIELD)}):
            ctx.count("echoes_suppressed")
        entry["crm"] = mirror.to_state()
        self.decide(ctx, sku, entry, Cause.of(event, CRM, record))

    def decide(self, ctx: Context, sku: str, entry: JsonValue, cause: Cause) -> None:
        """Command the CRM when its product does not show (and will not get) the current total."""
        total = from_store(entry.get("total"))
        if total is not None and entry.get("crm") is not None:
            mirror = Mirror(entry["crm"])
            if mirror.due({FIELD: total}):
                payload: dict[str, Any] = {"sku": sku, FIELD: total, "as_of": from_store(entry.get("as_of"))}
                emit_command(ctx, self.schemas, systems=self.systems, command=Command(
                    target=CRM, operation="update", entity_type=PRODUCT_AVAILABILITY, entity_key=sku,
                    payload_type=PRODUCT_AVAILABILITY, payload=payload, cause=cause, changed_fields=(FIELD,)))
                mirror.commanded({FIELD: total})
                entry["crm"] = mirror.to_state()
        if ctx.stores["skus"].get(sku) != entry:
            ctx.stores["skus"].put(sku, entry)
