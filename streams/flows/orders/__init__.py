"""The ``document`` block: a header-and-lines document from its origin system becomes a document in the target
system, joined along its source transaction; the target's status and the party's balance flow back; documents
of a blocked party are held. The roles come from the flow file's ``document:`` section (the reference:
flows/orders.yaml, CRM orders to ERP orders); the customer-360 view is kept where these parts meet."""

from __future__ import annotations

from streams.codecs.avro.single_object import SchemaStore
from streams.flows import topics
from streams.flows.context import FlowContext
from streams.flows.engine.api import FlowSpec
from streams.flows.files import FlowFile
from streams.flows.orders.config import DocumentConfig
from streams.flows.orders.flow import NAME, VIEW_INVOICES, OrdersFlow
from streams.flows.orders.mapper import Mapper
from streams.mapping import RecordMapping
from streams.systems import Systems


def document_flow(flow: FlowFile, *, schemas: SchemaStore, mappings: dict[str, RecordMapping], systems: Systems,
                  name: str | None = None, view: bool = True) -> OrdersFlow:
    """The flow of ``flow``'s ``document:`` section over ``mappings`` and ``systems`` (``name``: another flow
    name, e.g. a test's own consumer group; ``view``: keep the customer-360 view, which still knows only the
    reference pair and moves to a block of its own); raises FlowFileError or FlowUnavailable."""
    config = DocumentConfig.read(flow, mappings, systems, schemas.schemas.named)
    mapper = Mapper(config, mappings, schemas.schemas.named, systems)
    return OrdersFlow(schemas=schemas, mapper=mapper, name=name or flow.name,
                      view_invoices=mappings.get(VIEW_INVOICES) if view else None,
                      view_topic=topics.CUSTOMER_360 if view else None)


def build(context: FlowContext, flow: FlowFile) -> FlowSpec:
    """The ``document`` block's builder (:data:`streams.flows.files.BLOCKS`)."""
    return document_flow(flow, schemas=context.schemas, mappings=context.mappings, systems=context.systems).spec()


__all__ = ["NAME", "DocumentConfig", "OrdersFlow", "build", "document_flow"]
