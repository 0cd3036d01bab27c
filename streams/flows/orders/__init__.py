"""Order to cash: CRM sales orders become ERP orders, joined along their source transaction; ERP status,
invoices and payments flow back to the CRM; the customer-360 view is kept where these parts meet."""

from __future__ import annotations

from streams.flows.context import FlowContext
from streams.flows.engine.api import FlowSpec
from streams.flows.files import FlowFile, Section
from streams.flows.orders.flow import NAME, OrdersFlow
from streams.flows.orders.mapper import Mapper


def build(context: FlowContext, flow: FlowFile) -> FlowSpec:
    """The ``document`` block's builder (:data:`streams.flows.files.BLOCKS`)."""
    Section(flow).done()
    mapper = Mapper(context.mappings, context.schemas.schemas.named, context.systems)
    return OrdersFlow(schemas=context.schemas, mapper=mapper, name=flow.name).spec()


__all__ = ["NAME", "OrdersFlow", "build"]
