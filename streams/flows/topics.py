"""Every topic name the flows read or write, spelled once.

CDC topics follow Debezium's naming as each system's file declares it (``systems/<name>.yaml`` ``topics:``):
``<prefix>.<namespace>.<table>`` for a table, ``<prefix>.transaction`` for transaction metadata. A flow takes
its input topics from the :class:`~streams.systems.Systems` it is built with (``FlowContext.systems``).
Command and dead-letter topics belong to the sinks (:mod:`streams.sinks.topics`) and are re-exported here so
a flow imports all its names from one module.

The reference pair's topics by name (``CRM_CUSTOMERS``, ...) live in :mod:`reference.topics`, for the tests,
benchmarks and tools that drive the reference apps: the product names no system or table.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from streams.kafka import names
from streams.sinks.topics import DLQ_TOPIC, command_topic, dlq_topic

if TYPE_CHECKING:
    from streams.systems import Systems


def _declared(systems: Systems | None) -> Systems:
    return systems if systems is not None else _reference()


@functools.cache
def _reference() -> Systems:
    from streams.systems import load_systems

    return load_systems()


def cdc_topic(system: str, table: str, systems: Systems | None = None) -> str:
    """The change-event topic of ``table`` in ``system`` (e.g. ``crm.crm.customers``); ``systems``: the
    declared systems (default: ``systems/``, or ``ISTHMUS_SYSTEMS_DIR``). An undeclared system raises
    :class:`~streams.systems.UnknownSystem` naming the declared ones."""
    return _declared(systems)[system].topic(table)


def transaction_topic(system: str, systems: Systems | None = None) -> str:
    """Debezium's BEGIN/END transaction metadata topic of ``system`` (e.g. ``crm.transaction``)."""
    return _declared(systems)[system].transaction_topic


#: Prefix of the canonical topics (``<prefix>.<name>``); a test may run flows and the loader under its own.
CANONICAL_PREFIX = "isthmus.canonical"

# The names below are Isthmus's own topics before the kafka section's topic prefix: a module reaching Kafka with
# one takes ``topic(NAME)`` (``streams.kafka.names.topic``), so the prefix is applied where the name is used.


def canonical_topic(name: str, prefix: str = CANONICAL_PREFIX) -> str:
    """The canonical topic ``name`` (e.g. ``isthmus.canonical.invoices``), with the topic prefix."""
    return names.topic(f"{prefix}.{name}")


#: The reconciled sales orders (the CRM's content with the ERP's id, number and status, and the lines): compacted,
#: keyed by order number, Avro ``SalesOrder``; published by the orders flow for the customer-360 view.
RECONCILED_ORDERS = f"{CANONICAL_PREFIX}.reconciled-orders"
#: Documents held, with their cause, and released: Avro ``Hold``, keyed by the document's key (the latest record
#: of a key is its state). Written by the document flows, and by every flow for records parked too long
#: (:mod:`streams.flows.parked`) and truncated tables (:mod:`streams.flows.truncates`); ``isthmus topics trace``
#: and the dashboard show it.
HOLDS = "isthmus.holds"
#: Every settled field conflict: Avro ``ConflictRecord``, keyed by the entity key.
AUDIT_CONFLICTS = "isthmus.audit.conflicts"
#: One customer as both systems know it (customer, account, orders, invoices): compacted, keyed by customer
#: number, Avro ``Customer360``.
CUSTOMER_360 = "isthmus.customer360"



def topic(name: str) -> str:
    """One of the names above (``HOLDS``, ...) as the topic Isthmus uses, with the topic prefix."""
    return names.topic(name)


__all__ = [
    "AUDIT_CONFLICTS", "CANONICAL_PREFIX", "CUSTOMER_360", "DLQ_TOPIC", "HOLDS", "RECONCILED_ORDERS",
    "canonical_topic", "cdc_topic", "command_topic", "dlq_topic", "topic", "transaction_topic",
]
