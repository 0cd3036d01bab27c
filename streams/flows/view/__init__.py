"""Views joined from canonical records (block ``view``): the customer-360 view is the reference one."""

from __future__ import annotations

from streams.flows.context import FlowContext
from streams.flows.engine.api import FlowSpec
from streams.flows.files import FlowFile
from streams.flows.view.config import ViewConfig, read_config
from streams.flows.view.flow import ViewFlow


def build(context: FlowContext, flow: FlowFile) -> FlowSpec:
    """The ``view`` block's builder (:data:`streams.flows.files.BLOCKS`)."""
    config = read_config(flow, context.schemas.schemas.named, context.mappings)
    return ViewFlow(schemas=context.schemas, config=config, name=flow.name, description=flow.description).spec()


__all__ = ["ViewConfig", "ViewFlow", "build", "read_config"]
