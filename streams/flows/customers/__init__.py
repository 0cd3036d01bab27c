"""The entity block (``block: entity``): one entity kept in sync between systems by field ownership, with its
identity link, child collections, echo suppression and delete policy, configured by a flow file's ``entity:``
section (:mod:`~streams.flows.customers.config`). The reference instance is the customer master
(flows/customers.yaml): a CRM customer becomes an ERP account and the customer is published."""

from streams.flows.context import FlowContext
from streams.flows.customers.config import EntityConfig, entity_config
from streams.flows.customers.flow import FLOW_NAME, STAGE, CustomerFlow
from streams.flows.engine.api import FlowSpec
from streams.flows.files import FlowFile


def build_customer_flow(context: FlowContext, flow: FlowFile) -> FlowSpec:
    """The ``entity`` block's builder: the flow of ``flow`` over the worker's mappings, schemas and systems."""
    config = entity_config(flow, context.mappings, context.schemas.schemas.named, context.systems)
    return CustomerFlow(mappings=context.mappings, schemas=context.schemas, systems=context.systems,
                        config=config).spec()


__all__ = ["FLOW_NAME", "STAGE", "CustomerFlow", "EntityConfig", "build_customer_flow", "entity_config"]
