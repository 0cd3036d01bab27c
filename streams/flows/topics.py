"""Every topic name the flows read or write, spelled once.

CDC topics follow Debezium's naming, ``<topic.prefix>.<schema-or-database>.<table>`` (connect-configs/):
the CRM connector's prefix is ``crm`` and its schema ``crm``, the ERP connector's prefix ``erp`` and its
database ``erp``. Command and dead-letter topics belong to the sinks (:mod:`streams.sinks.topics`) and are
re-exported here so a flow imports all its names from one module.
"""

from __future__ import annotations

from streams.sinks.topics import COMMAND_TOPICS, DLQ_TOPIC, command_topic

#: Debezium topic prefix and source schema (PostgreSQL) or database (MariaDB) of each system.
CDC_NAMESPACES: dict[str, tuple[str, str]] = {"crm": ("crm", "crm"), "erp": ("erp", "erp")}


def cdc_topic(system: str, table: str) -> str:
    """The change-event topic of ``table`` in ``system`` (e.g. ``crm.crm.customers``)."""
    try:
        prefix, namespace = CDC_NAMESPACES[system]
    except KeyError:
        raise ValueError(f"unknown system {system!r}; known: {', '.join(CDC_NAMESPACES)}") from None
    return f"{prefix}.{namespace}.{table}"


def transaction_topic(system: str) -> str:
    """Debezium's BEGIN/END transaction metadata topic of ``system`` (e.g. ``crm.transaction``)."""
    return f"{CDC_NAMESPACES[system][0]}.transaction"


CRM_CUSTOMERS = cdc_topic("crm", "customers")
CRM_CONTACTS = cdc_topic("crm", "contacts")
CRM_ADDRESSES = cdc_topic("crm", "addresses")
ERP_ACCOUNTS = cdc_topic("erp", "accounts")
CRM_PRODUCTS = cdc_topic("crm", "products")
CRM_SALES_ORDERS = cdc_topic("crm", "sales_orders")
CRM_SALES_ORDER_LINES = cdc_topic("crm", "sales_order_lines")
ERP_STOCK = cdc_topic("erp", "stock")
ERP_PRODUCTS = cdc_topic("erp", "products")
ERP_SALES_ORDER_LINES = cdc_topic("erp", "sales_order_lines")
ERP_SALES_ORDERS = cdc_topic("erp", "sales_orders")
ERP_INVOICES = cdc_topic("erp", "invoices")
ERP_PAYMENTS = cdc_topic("erp", "payments")
CRM_TRANSACTION = transaction_topic("crm")
ERP_TRANSACTION = transaction_topic("erp")

#: Prefix of the canonical topics (``<prefix>.<name>``); a test may run flows and the loader under its own.
CANONICAL_PREFIX = "isthmus.canonical"


def canonical_topic(name: str, prefix: str = CANONICAL_PREFIX) -> str:
    """The canonical topic ``name`` (e.g. ``isthmus.canonical.invoices``)."""
    return f"{prefix}.{name}"


#: The reconciled customer master: compacted, keyed by customer number, Avro ``Customer``.
CANONICAL_CUSTOMERS = canonical_topic("customers")
#: Every settled field conflict: Avro ``ConflictRecord``, keyed by the entity key.
AUDIT_CONFLICTS = "isthmus.audit.conflicts"
#: One customer as both systems know it (customer, account, orders, invoices): compacted, keyed by customer
#: number, Avro ``Customer360``.
CUSTOMER_360 = "isthmus.customer360"

COMMANDS_CRM = command_topic("crm")
COMMANDS_ERP = command_topic("erp")

__all__ = [
    "AUDIT_CONFLICTS", "CANONICAL_CUSTOMERS", "CANONICAL_PREFIX", "CDC_NAMESPACES", "COMMANDS_CRM", "COMMANDS_ERP",
    "COMMAND_TOPICS",
    "CRM_ADDRESSES", "CRM_CONTACTS", "CRM_CUSTOMERS", "CRM_PRODUCTS", "CRM_SALES_ORDERS", "CRM_SALES_ORDER_LINES",
    "CRM_TRANSACTION", "CUSTOMER_360", "DLQ_TOPIC", "ERP_ACCOUNTS", "ERP_INVOICES", "ERP_PAYMENTS",
    "ERP_PRODUCTS", "ERP_SALES_ORDERS", "ERP_SALES_ORDER_LINES", "ERP_STOCK", "ERP_TRANSACTION", "canonical_topic",
    "cdc_topic", "command_topic", "transaction_topic",
]
