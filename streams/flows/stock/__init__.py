"""Stock availability: ERP on-hand minus reserved per SKU over all warehouses, to the CRM's products."""

from __future__ import annotations

from streams.flows.context import FlowContext
from streams.flows.engine.api import FlowSpec
from streams.flows.exceptions import FlowUnavailable
from streams.flows.files import FlowFile, Section
from streams.flows.stock.flow import NAME, StockFlow


def build(context: FlowContext, flow: FlowFile) -> FlowSpec:
    """The ``derived`` block's builder (:data:`streams.flows.files.BLOCKS`)."""
    Section(flow).done()
    mapping = context.mappings.get("product_availability")
    if mapping is None:
        raise FlowUnavailable(f"{flow.name} needs mappings/product_availability.yaml")
    return StockFlow(schemas=context.schemas, mapping=mapping, systems=context.systems, name=flow.name).spec()


__all__ = ["NAME", "StockFlow", "build"]
