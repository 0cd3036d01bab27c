"""The canonical documents flow (``isthmus-canonical``): every committed change of an order-to-cash table
becomes one canonical record (Avro, single-object encoding) on its canonical topic, keyed by its canonical
id, carrying its lineage.

What it publishes is listed in :data:`~streams.flows.canonical.documents.DOCUMENTS`; each table goes through
its mapping file (ERP local times to UTC, ERP statuses to canonical ones), a delete through the mapping's
``on_delete`` applied to the before-image. The cross-reference the mappings look up (CRM customer id and ERP
account id to customer number, ERP order id to CRM order number) is kept in the ``links`` store from the CRM
customers, ERP accounts and ERP orders. A change whose required link is not known yet waits in ``parked``
and is published when the link arrives. A change that cannot be mapped (an ERP time the clocks skipped, a
malformed event) goes to the dead-letter topic with the reason. Output, store changes and input offsets
commit in one Kafka transaction (the engine's), so each change is published exactly once.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Mapping
from typing import Any

from streams.codecs.avro.single_object import SchemaStore
from streams.codecs.debezium.envelope import ChangeEvent, Op, decode
from streams.errors import IsthmusError
from streams.flows import topics
from streams.flows.canonical.documents import DOCUMENTS, Document
from streams.flows.canonical.lineage import Lineage, mapping_version
from streams.flows.engine.api import Context, FlowSpec, Incoming
from streams.flows.parking import ParkingLot
from streams.mapping import Context as MappingContext
from streams.mapping import Engine, LookupMissing, RecordMapping, SourceMapping
from streams.mapping.exceptions import MappingError
from streams.systems import Systems

NAME = "isthmus-canonical"
LINKS, PARKED = "links", "parked"
#: The systems whose rows state the cross-reference, by their names in systems/.
CRM, ERP = "crm", "erp"


class CanonicalFlowError(IsthmusError):
    """The canonical documents flow cannot be built, or a change cannot become a canonical record."""


class _Links:
    """The mappings' cross-reference look-up over the ``links`` store; remembers the link it missed."""

    def __init__(self, ctx: Context) -> None:
        self.store = ctx.stores[LINKS]
        self.missed: str | None = None

    def __call__(self, record: str, by: str, key: Any) -> Mapping[str, Any] | None:
        prefix = {"crm_customer_id": "crm", "erp_account_id": "account", "erp_order_id": "order"}.get(by)
        if prefix is None:
            return None
        found = self.store.get(f"{prefix}:{key}")
        if found is None:
            self.missed = f"{prefix}:{key}"
        return found


def _source(mapping: RecordMapping, name: str) -> SourceMapping:
    for source in mapping.sources:
        if source.name == name:
            return source
    raise CanonicalFlowError(f"{mapping.path.name} has no source {name!r}; {NAME} publishes through it")


class CanonicalFlow:
    def __init__(self, *, schemas: SchemaStore, mappings: Mapping[str, RecordMapping], systems: Systems,
                 name: str = NAME, prefix: str = topics.CANONICAL_PREFIX) -> None:
        """``systems``: the declared systems (their zones and topics). ``prefix``: of the canonical topics
        (``<prefix>.invoices``, ...); a test publishes under its own."""
        missing = sorted({d.mapping for d in DOCUMENTS} - set(mappings))
        if missing:
            raise CanonicalFlowError(f"{NAME} needs mappings/{', mappings/'.join(m + '.yaml' for m in missing)}")
        self.schemas = schemas
        self.name = name
        self.prefix = prefix
        self.context = MappingContext.of(systems)
        self.documents = {d.cdc_topic(systems): d for d in DOCUMENTS}
        self.sources = {topic: (mappings[d.mapping], _source(mappings[d.mapping], d.source))
                        for topic, d in self.documents.items()}
        self.versions = {topic: mapping_version(mappings[d.mapping].path) for topic, d in self.documents.items()}
        #: Inputs stating the cross-reference the document mappings look up (CRM customers, ERP accounts and
        #: orders; the last is also a document).
        self.customers_topic = systems[CRM].topic("customers")
        self.accounts_topic = systems[ERP].topic("accounts")
        self.erp_orders_topic = systems[ERP].topic("sales_orders")

    @property
    def stage(self) -> str:
        return f"flow.{self.name}"

    def topic(self, document: Document) -> str:
        return topics.canonical_topic(document.name, self.prefix)

    def spec(self) -> FlowSpec:
        outputs = tuple(self.topic(d) for d in DOCUMENTS)
        return FlowSpec(name=self.name, inputs=(self.customers_topic, self.accounts_topic, *self.documents),
                        handler=self.handle, stores=(LINKS, PARKED), outputs=outputs, compacted=outputs,
                        description="order-to-cash rows (CRM orders; ERP orders, lines, invoices, payments, "
                                    "products, stock) as canonical records with their lineage")

    def handle(self, record: Incoming, ctx: Context) -> None:
        queue = deque([record])
        while queue:
            queue.extend(self._one(queue.popleft(), ctx))

    def _one(self, record: Incoming, ctx: Context) -> list[Incoming]:
        """Publish one change; returns the parked changes a new link released."""
        if record.value is None:
            return []  # the tombstone after a delete: the delete itself was published
        try:
            event = decode(record.value, record.key, topic=record.topic, where=record.position)
            if not isinstance(event, ChangeEvent):
                raise CanonicalFlowError(f"{type(event).__name__} on the table topic {record.topic}; only row "
                                         "changes are expected there")
            if event.op is Op.TRUNCATE:
                return []
            released = self._link(ctx, record.topic, event)
            document = self.documents.get(record.topic)
            if document is not None:
                self._publish(ctx, record, event, document)
            return released
        except _Park as park:
            ParkingLot(ctx.stores[PARKED]).park(park.link, record)
            return []
        except IsthmusError as exc:
            ctx.dead_letter(record, reason=f"{type(exc).__name__}: {exc}", stage=self.stage)
            return []

    def _link(self, ctx: Context, topic: str, event: ChangeEvent) -> list[Incoming]:
        """Keep the cross-reference this change states; returns the changes that waited for it."""
        row = event.after if event.op is not Op.DELETE else None
        links: dict[str, dict[str, Any] | None] = {}
        if topic == self.customers_topic and row is not None and row.get("customer_number") is not None:
            links[f"crm:{row['id']}"] = {"customer_number": row["customer_number"],
                                         "erp_account_id": row.get("erp_account_id")}
        elif topic == self.accounts_topic and row is not None and row.get("crm_customer_number") is not None:
            links[f"account:{row['account_id']}"] = {"customer_number": row["crm_customer_number"]}
        elif topic == self.erp_orders_topic and row is not None and row.get("crm_order_number") is not None:
            links[f"order:{row['order_id']}"] = {"order_number": row["crm_order_number"]}
        released: list[Incoming] = []
        for key, value in links.items():
            if ctx.stores[LINKS].get(key) == value:
                continue
            ctx.stores[LINKS].put(key, value)
            released += ParkingLot(ctx.stores[PARKED]).release(key)
        return released

    def _publish(self, ctx: Context, record: Incoming, event: ChangeEvent, document: Document) -> None:
        mapping, source = self.sources[record.topic]
        engine = Engine(mapping, self.schemas.schemas.named)
        links = _Links(ctx)
        context = dataclasses.replace(self.context, lookup=links)
        deleted = event.op is Op.DELETE
        row = event.before if deleted else event.after
        if row is None:
            raise CanonicalFlowError(f"{record.position}: a {event.op.value} of {event.table} without its row "
                                     "image; the table needs full row images (REPLICA IDENTITY FULL / "
                                     "binlog_row_image=FULL)")
        try:
            values = engine.map_row(source, row, context)
        except LookupMissing as exc:
            if links.missed is None:
                raise CanonicalFlowError(f"{record.position}: {exc}") from exc
            raise _Park(links.missed) from exc
        except MappingError as exc:
            raise CanonicalFlowError(f"{record.position}: {document.system}.{event.table} "
                                     f"(op {event.op.value}) cannot be mapped by {mapping.path.name}: {exc}") from exc
        if deleted:
            values.update(source.on_delete or {})
        key = mapping.key_of(values)
        key_text = "/".join(str(k) for k in key) if isinstance(key, tuple) else str(key)
        lineage = Lineage.of(event, document.system, record, self.versions[record.topic])
        ctx.emit(self.topic(document), key=key_text, value=self.schemas.encode(document.schema, values),
                 headers=lineage.headers())


class _Park(Exception):
    """The change needs a link not known yet; it waits under ``link``."""

    def __init__(self, link: str) -> None:
        super().__init__(link)
        self.link = link
