"""Order to cash: CRM sales orders become ERP orders, joined along their source transaction; ERP status,
invoices and payments flow back to the CRM; the customer-360 view is kept where these parts meet."""

from __future__ import annotations

from streams.flows.context import FlowContext
from streams.flows.engine.api import FlowSpec
from streams.flows.orders.flow import NAME, OrdersFlow
from streams.flows.orders.mapper import Mapper


def build(context: FlowContext) -> FlowSpec:
    """The ``isthmus-orders`` flow (registered in :data:`streams.flows.registry.BUILTIN`)."""
    mapper = Mapper(context.mappings, context.schemas.schemas.named, context.systems)
    return OrdersFlow(schemas=context.schemas, mapper=mapper).spec()


__all__ = ["NAME", "OrdersFlow", "build"]
