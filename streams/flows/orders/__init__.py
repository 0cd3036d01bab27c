"""The ``document`` block: a header-and-lines document from its origin system becomes a document in the target
system, joined along its source transaction; the target's status and the party's balance flow back; documents
of a blocked party are held. The roles come from the flow file's ``document:`` section (the reference:
flows/orders.yaml, CRM orders to ERP orders); each document's reconciled record is published (``publish:``)."""

from __future__ import annotations

from streams.codecs.avro.single_object import SchemaStore
from streams.flows import topics
from streams.flows.context import FlowContext
from streams.flows.engine.api import FlowSpec
from streams.flows.files import FlowFile
from streams.flows.orders.config import DocumentConfig
from streams.flows.orders.flow import NAME, OrdersFlow
from streams.flows.orders.mapper import Mapper
from streams.mapping import RecordMapping
from streams.systems import Systems


def document_flow(flow: FlowFile, *, schemas: SchemaStore, mappings: dict[str, RecordMapping], systems: Systems,
                  name: str | None = None, prefix: str = topics.CANONICAL_PREFIX,
                  results_topic: str | None = None) -> OrdersFlow:
    """The flow of ``flow``'s ``document:`` section over ``mappings`` and ``systems`` (``name``: another flow
    name, e.g. a test's own consumer group; ``prefix``: of the canonical topic it publishes the reconciled
    documents on; ``results_topic``: its target sink's results, default ``isthmus.results.<target>``); raises
    FlowFileError or FlowUnavailable."""
    config = DocumentConfig.read(flow, mappings, systems, schemas.schemas.named)
    mapper = Mapper(config, mappings, schemas.schemas.named, systems)
    return OrdersFlow(schemas=schemas, mapper=mapper, name=name or flow.name,
                      orders_topic=topics.canonical_topic(config.publish, prefix) if config.publish else None,
                      results_topic=results_topic)


def build(context: FlowContext, flow: FlowFile) -> FlowSpec:
    """The ``document`` block's builder (:data:`streams.flows.files.BLOCKS`)."""
    return document_flow(flow, schemas=context.schemas, mappings=context.mappings, systems=context.systems).spec()


__all__ = ["NAME", "DocumentConfig", "OrdersFlow", "build", "document_flow"]
