"""The customer <-> account flow (``isthmus-customers``): a CRM customer becomes an ERP account, both
systems are kept to the reconciled customer by field ownership, conflicts are audited and the customer
master is published to ``isthmus.canonical.customers``."""

from streams.flows.context import FlowContext
from streams.flows.customers.flow import FLOW_NAME, STAGE, CustomerFlow
from streams.flows.engine.api import FlowSpec
from streams.flows.files import FlowFile, Section


def build_customer_flow(context: FlowContext, flow: FlowFile) -> FlowSpec:
    """The ``entity`` block's builder: the flow of ``flow`` over the worker's mappings, schemas and systems."""
    Section(flow).done()
    return CustomerFlow(mappings=context.mappings, schemas=context.schemas, systems=context.systems).spec()


__all__ = ["FLOW_NAME", "STAGE", "CustomerFlow", "build_customer_flow"]
