"""Stock availability: ERP on-hand minus reserved per SKU over all warehouses, to the CRM's products."""

from __future__ import annotations

from streams.flows.context import FlowContext
from streams.flows.engine.api import FlowSpec
from streams.flows.exceptions import FlowUnavailable
from streams.flows.stock.flow import NAME, StockFlow


def build(context: FlowContext) -> FlowSpec:
    """The ``isthmus-stock`` flow (registered in :data:`streams.flows.registry.BUILTIN`)."""
    mapping = context.mappings.get("product_availability")
    if mapping is None:
        raise FlowUnavailable("the stock flow needs mappings/product_availability.yaml")
    return StockFlow(schemas=context.schemas, mapping=mapping, systems=context.systems).spec()


__all__ = ["NAME", "StockFlow", "build"]
