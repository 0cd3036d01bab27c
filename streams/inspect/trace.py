"""Follow one entity (a customer number ``C-000123`` or an order number ``SO-000001``) through every topic.

A record belongs to the entity when its key or any string in its decoded value names it (the ERP account
code ``AC-…`` names a customer too). A change to a row that names it (a CRM customer, an ERP account, an
order) also makes rows that refer to that row's id belong: a customer's addresses and contacts, an
account's invoices and payments, an order's lines and shipments. Topics are read roots first, so those ids
are known before the rows that refer to them are read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from streams.codecs.avro.single_object import SchemaStore
from streams.flows import topics as flow_topics
from streams.inspect.decoding import Decoded, decode_record
from streams.inspect.reader import StartAt, read
from streams.sinks.topics import command_topic, results_topic
from streams.systems import Systems, load_systems

#: Tables whose rows can name an entity, and the column other tables refer to them by.
PRIMARY_KEYS: Mapping[tuple[str, str], str] = {
    ("crm", "customers"): "id", ("crm", "sales_orders"): "id",
    ("erp", "accounts"): "account_id", ("erp", "sales_orders"): "order_id",
}
#: Foreign-key columns, per system, and the table they refer to.
REFERENCES: Mapping[tuple[str, str], str] = {
    ("crm", "customer_id"): "customers", ("crm", "order_id"): "sales_orders",
    ("erp", "account_id"): "accounts", ("erp", "order_id"): "sales_orders",
}

#: Tables whose rows name an entity (read first), and tables whose rows refer to them.
ROOT_TABLES: tuple[tuple[str, str], ...] = tuple(PRIMARY_KEYS)
DEPENDENT_TABLES: tuple[tuple[str, str], ...] = (
    ("crm", "addresses"), ("crm", "contacts"), ("crm", "sales_order_lines"), ("erp", "sales_order_lines"),
    ("erp", "invoices"), ("erp", "payments"), ("erp", "shipments"))


def root_topics(systems: Systems) -> tuple[str, ...]:
    """The CDC topics of the tables whose rows name an entity, as the systems' files name them."""
    return tuple(systems[system].topic(table) for system, table in ROOT_TABLES if system in systems)


def default_topics(systems: Systems) -> tuple[str, ...]:
    """Every Isthmus topic a trace reads by default: roots first, then the rest."""
    dependent = tuple(systems[system].topic(table) for system, table in DEPENDENT_TABLES if system in systems)
    sinks = tuple(t for name in systems.writable for t in (command_topic(name), results_topic(name)))
    return (*root_topics(systems), *dependent, flow_topics.CANONICAL_CUSTOMERS, flow_topics.AUDIT_CONFLICTS,
            *sinks, flow_topics.DLQ_TOPIC, flow_topics.CUSTOMER_360)


def names_for(entity: str) -> tuple[str, ...]:
    """The spellings of one entity: a customer number is also its ERP account code (``AC-`` prefix)."""
    entity = entity.strip()
    if re.fullmatch(r"C-\d+", entity):
        return (entity, "AC-" + entity[2:])
    return (entity,)


@dataclass
class EntityMatcher:
    """Decides whether a decoded record belongs to the entity; remembers ids of the rows that name it."""

    names: tuple[str, ...]
    ids: dict[tuple[str, str], set[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        spelled = "|".join(re.escape(n) for n in self.names)
        self.pattern = re.compile(rf"(?<![\w-])(?:{spelled})(?![\w-])")

    def names_entity(self, value: Any) -> bool:
        if isinstance(value, str):
            return self.pattern.search(value) is not None
        if isinstance(value, Mapping):
            return any(self.names_entity(v) for v in value.values())
        if isinstance(value, (list, tuple)):
            return any(self.names_entity(v) for v in value)
        return False

    def matches(self, record: Decoded) -> bool:
        if self.names_entity(record.key) or self.names_entity(record.value):
            if record.kind == "debezium":
                self._remember(record)
            return True
        if record.kind == "debezium" and isinstance(record.value, Mapping):
            return any(self._refers(record.system or "", row) for row in (record.value.get("before"),
                                                                            record.value.get("after")))
        return False

    def _remember(self, record: Decoded) -> None:
        column = PRIMARY_KEYS.get((record.system or "", record.table or ""))
        if column is None:
            return
        for row in (record.value.get("before"), record.value.get("after")):
            if isinstance(row, Mapping) and row.get(column) is not None:
                self.ids.setdefault((record.system or "", record.table or ""), set()).add(str(row[column]))

    def _refers(self, system: str, row: Any) -> bool:
        if not isinstance(row, Mapping):
            return False
        for (ref_system, column), table in REFERENCES.items():
            if ref_system == system and row.get(column) is not None and \
                    str(row[column]) in self.ids.get((system, table), set()):
                return True
        return False


def trace(bootstrap: str, entity: str, store: SchemaStore, *, topics: Sequence[str] | None = None,
          since_ms: int | None = None, existing: Iterable[str] | None = None,
          systems: Systems | None = None) -> list[Decoded]:
    """Every record of ``entity`` in ``topics`` (default: every Isthmus topic that exists, and every canonical
    topic the mapping files publish on), by record time; ``systems``: the declared systems (default:
    systems/), which name the CDC topics."""
    systems = systems if systems is not None else load_systems()
    roots_of = root_topics(systems)
    chosen = list(topics or default_topics(systems))
    if existing is not None:
        present = set(existing)
        chosen = [t for t in chosen if t in present]
        if not topics:
            canonical = f"{flow_topics.CANONICAL_PREFIX}."
            chosen += sorted(t for t in present if t.startswith(canonical) and t not in chosen)
    matcher = EntityMatcher(names=names_for(entity))
    start = StartAt(time_ms=since_ms) if since_ms is not None else StartAt(beginning=True)
    found: list[Decoded] = []
    roots = [t for t in chosen if t in roots_of]
    others = [t for t in chosen if t not in roots_of]
    for group in (roots, others):
        if not group:
            continue
        for raw in read(bootstrap, group, start):
            record = decode_record(raw, store, systems)
            if matcher.matches(record):
                found.append(record)
    found.sort(key=lambda r: (r.raw.timestamp_ms or 0, r.raw.topic, r.raw.partition, r.raw.offset))
    return found


__all__ = ["EntityMatcher", "default_topics", "names_for", "trace"]
