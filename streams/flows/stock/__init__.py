"""Derived values per key (block ``derived``): a sum over a system's rows, grouped by key, kept in another
system's record; the reference flow is stock availability (ERP on hand minus reserved per SKU over all
warehouses, to the CRM's products)."""

from __future__ import annotations

from streams.flows.context import FlowContext
from streams.flows.engine.api import FlowSpec
from streams.flows.files import FlowFile
from streams.flows.stock.config import DerivedConfig, read_config
from streams.flows.stock.flow import NAME, StockFlow


def build(context: FlowContext, flow: FlowFile) -> FlowSpec:
    """The ``derived`` block's builder (:data:`streams.flows.files.BLOCKS`)."""
    config = read_config(flow, context.mappings, context.systems, context.schemas.schemas.named)
    return StockFlow(schemas=context.schemas, config=config, systems=context.systems, name=flow.name,
                     description=flow.description).spec()


__all__ = ["NAME", "DerivedConfig", "StockFlow", "build", "read_config"]
