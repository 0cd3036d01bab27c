"""The reference CRM's and ERP's topics, for the tests, benchmarks, chaos suite and tools that drive the
reference pair by name. The product itself names no system or table: its flows take their topics from
``systems/`` and ``flows/``. These are computed from the declared systems (``systems/crm.yaml``,
``systems/erp.yaml``) on first use, so importing this module reads no file.
"""

from __future__ import annotations

import functools

from streams.flows.topics import canonical_topic
from streams.sinks.topics import command_topic, results_topic
from streams.systems import Systems, load_systems

#: Constant name -> (system, table); ``None`` for the system's transaction topic.
_CDC: dict[str, tuple[str, str | None]] = {
    "CRM_CUSTOMERS": ("crm", "customers"), "CRM_CONTACTS": ("crm", "contacts"),
    "CRM_ADDRESSES": ("crm", "addresses"), "CRM_PRODUCTS": ("crm", "products"),
    "CRM_SALES_ORDERS": ("crm", "sales_orders"), "CRM_SALES_ORDER_LINES": ("crm", "sales_order_lines"),
    "ERP_ACCOUNTS": ("erp", "accounts"), "ERP_STOCK": ("erp", "stock"), "ERP_PRODUCTS": ("erp", "products"),
    "ERP_SALES_ORDER_LINES": ("erp", "sales_order_lines"), "ERP_SALES_ORDERS": ("erp", "sales_orders"),
    "ERP_INVOICES": ("erp", "invoices"), "ERP_PAYMENTS": ("erp", "payments"),
    "CRM_TRANSACTION": ("crm", None), "ERP_TRANSACTION": ("erp", None),
}

#: The reconciled customer master the reference customers flow publishes (flows/customers.yaml).
CANONICAL_CUSTOMERS = canonical_topic("customers")
COMMANDS_CRM, COMMANDS_ERP = command_topic("crm"), command_topic("erp")
RESULTS_CRM, RESULTS_ERP = results_topic("crm"), results_topic("erp")


@functools.cache
def _systems() -> Systems:
    return load_systems()


def __getattr__(name: str) -> str:
    """A reference CDC topic constant, from the declared systems on first use."""
    if name not in _CDC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    system, table = _CDC[name]
    spec = _systems()[system]
    return spec.transaction_topic if table is None else spec.topic(table)


__all__ = ["CANONICAL_CUSTOMERS", "COMMANDS_CRM", "COMMANDS_ERP", "RESULTS_CRM", "RESULTS_ERP",
           *_CDC]
