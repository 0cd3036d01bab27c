"""The ``derived`` block's section (``flows/<name>.yaml``): which mapping sums the value, which field it is, and
the target whose CDC shows it::

    derived:
      mapping: product_availability    # a mapping file whose table sources `group_by` and `sum:` a field
      field: available_qty             # the summed field (default: the mapping's only `sum:` binding)
      stamp: as_of                     # optional: a record field set to the commit time that moved the value
      target:
        system: crm                    # a writable system (systems/<name>.yaml): the command's target
        table: products                # the table whose CDC shows the value: echo and presence
        key: sku                       # its column(s) holding the group key, in the mapping's key order
        column: available_qty          # its column holding the value
        operation: update              # the command's operation (default: update)
    transactions: net                  # net (default): a source transaction's changes summed, then decided once
    transaction_limit: 2000            # the most changes of one transaction held (default 2000): see below

With ``transactions: net`` the summed tables' changes are joined along their system's transaction topic, as the
entity block joins them (:mod:`streams.flows.customers.txnet`): the flow folds a transaction's changes into their
keys' totals and commands each key once, with the total after the transaction; a transaction past
``transaction_limit`` is folded in parts of that many and its keys decided at its end.

Everything is checked at once with file, line, field and fix; names are resolved here, once, so the flow
handles a record without reading configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streams.flows.commands import Sends
from streams.flows.customers.config import TRANSACTION_LIMIT, TRANSACTIONS
from streams.flows.files import FlowFile, Section
from streams.mapping import Engine, RecordMapping, SourceMapping
from streams.systems import Systems

KEYS = ("mapping", "field", "stamp", "target", "transactions", "transaction_limit")
TARGET_KEYS = ("system", "table", "key", "column", "operation")


@dataclass(frozen=True, kw_only=True)
class SumSource:
    """One table source of the sum: the topic its system captures it on, and its compiled engine."""

    topic: str
    system: str
    source: SourceMapping
    engine: Engine


@dataclass(frozen=True, kw_only=True)
class DerivedConfig:
    """A derived value per group key, resolved: what sums it, and the target that shows it."""

    mapping: RecordMapping
    field: str
    sums: tuple[SumSource, ...]
    #: The target record's fields that carry the group key (the mapping's key), in group_by order.
    key_fields: tuple[str, ...]
    stamp: str | None
    target_system: str
    target_topic: str
    target_key: tuple[str, ...]
    target_column: str
    operation: str
    #: ``net``: the changes of one source transaction are summed, then decided once per key; ``each``: one by one.
    transactions: str = "net"
    #: With ``net``, the most changes of one transaction held to sum together (a larger one goes in parts).
    transaction_limit: int = TRANSACTION_LIMIT

    @property
    def record(self) -> str:
        return self.mapping.target

    @property
    def sends(self) -> tuple[Sends, ...]:
        """The one kind of command the flow sends: the record's ``operation`` to the target, when a total moves."""
        return (Sends(target=self.target_system, payload_type=self.record, operation=self.operation,
                      at=("target", "operation"), why=f"a new total of {self.field}", kept=self.record),)

    @property
    def inputs(self) -> tuple[str, ...]:
        return (*dict.fromkeys(s.topic for s in self.sums), self.target_topic)

    @property
    def summed_tables(self) -> dict[str, tuple[str, str]]:
        """The summed tables' topics, by the system and table each carries (what the transaction joins read)."""
        return {s.topic: (s.system, str(s.source.table)) for s in self.sums}

    def sum_source(self, topic: str) -> SumSource | None:
        return next((s for s in self.sums if s.topic == topic), None)

    def key_columns(self) -> dict[str, tuple[str, ...]]:
        """Per input topic, the columns whose values make the group key (what the fleet routes by)."""
        found = {s.topic: s.source.group_by for s in self.sums}
        found[self.target_topic] = self.target_key
        return found


def _fields_of(named: Mapping[str, Any], record: str) -> tuple[str, ...]:
    schema = named.get(record)
    fields = schema.get("fields", []) if isinstance(schema, Mapping) else []
    return tuple(str(f["name"]) for f in fields)


def _symbols(named: Mapping[str, Any], enum: str) -> tuple[str, ...]:
    schema = named.get(enum)
    return tuple(schema.get("symbols", ())) if isinstance(schema, Mapping) else ()


def read_config(flow: FlowFile, mappings: Mapping[str, RecordMapping], systems: Systems,
                named: Mapping[str, Any]) -> DerivedConfig:
    """The section of ``flow``, checked; raises FlowFileError with every problem, FlowUnavailable when the
    mapping file is missing."""
    section = Section(flow)
    section.only(KEYS)
    mapping = section.mapping("mapping", mappings)
    field_name = section.text("field", default="")
    stamp = section.text("stamp", default="") or None
    transactions = section.choice("transactions", TRANSACTIONS, default="net")
    transaction_limit = section.whole("transaction_limit", default=TRANSACTION_LIMIT)
    target = section.section("target")
    system = table = column = operation = ""
    key: tuple[str, ...] = ()
    if target is not None:
        target.only(TARGET_KEYS)
        system = target.text("system", fix="`system: <a writable system of systems/>`")
        table = target.text("table", fix="`table: <the table whose CDC shows the value>`")
        key = target.texts("key")
        if not key:
            target.add(target.line("key"), "key", "missing",
                       "`key: <column>` (or a list, in the mapping's key order): the target's group key column(s)")
        column = target.text("column", fix="`column: <the target's column showing the value>`")
        operations = _symbols(named, "isthmus.canonical.CommandOperation")
        operation = target.choice("operation", operations, default="update") if operations else \
            target.text("operation", default="update")
        if system and system not in systems:
            target.add(target.line("system"), "system", f"unknown system {system!r}",
                       f"use one of {', '.join(systems)} (systems/<name>.yaml)")
        elif system and not systems[system].writable:
            target.add(target.line("system"), "system", f"{system!r} is read-only: it takes no commands",
                       f"target a writable system, or set `writable: true` in systems/{system}.yaml")
        elif system and not systems[system].captured:
            target.add(target.line("system"), "system", f"{system!r} is written only (capture: none): no change "
                       "event shows the value it holds", "target a system a connector captures")
    sums: list[SumSource] = []
    if mapping is not None:
        field_name = _check_mapping(section, mapping, field_name, key, named)
        if stamp is not None and stamp not in _fields_of(named, mapping.target):
            section.add(section.line("stamp"), "stamp", f"{mapping.target} has no field {stamp!r}",
                        f"use one of {', '.join(_fields_of(named, mapping.target))}, or leave `stamp:` out")
        engine = Engine(mapping, named)
        for source in mapping.sources:
            if source.group_by and source.table is not None and source.system in systems:
                sums.append(SumSource(topic=systems[str(source.system)].topic(source.table),
                                      system=str(source.system), source=source, engine=engine))
    section.done()
    assert mapping is not None
    return DerivedConfig(mapping=mapping, field=field_name, sums=tuple(sums), key_fields=mapping.key, stamp=stamp,
                         target_system=system, target_topic=systems[system].topic(table), target_key=key,
                         target_column=column, operation=operation, transactions=transactions,
                         transaction_limit=transaction_limit)


def _check_mapping(section: Section, mapping: RecordMapping, field_name: str, key: tuple[str, ...],
                   named: Mapping[str, Any]) -> str:
    """The summed field (the one named, or the only one), with problems for a mapping that cannot be summed."""
    summing = [s for s in mapping.sources if s.group_by and s.table is not None]
    where = section.line("mapping")
    if not summing:
        section.add(where, "mapping", f"{mapping.path.name} has no table source with `group_by`",
                    "name a mapping file whose source groups rows (`group_by: [...]`) and sums a field (`sum:`)")
        return field_name
    for source in summing:
        if len(source.group_by) != len(mapping.key):
            section.add(where, "mapping", f"{mapping.path.name} source {source.name} groups by "
                        f"{', '.join(source.group_by)} but the record's key is {', '.join(mapping.key)}",
                        "group by as many columns as the record's key has fields, in its order")
    if key and len(key) != len(mapping.key):
        section.add(section.line("target"), "target.key", f"{len(key)} column(s) for the key "
                    f"{', '.join(mapping.key)} of {mapping.target}", "name one target column per key field")
    summed = sorted({f for s in summing for f, b in s.bindings.items() if b.aggregate is not None})
    if not field_name:
        if len(summed) != 1:
            section.add(where, "field", f"{mapping.path.name} sums {', '.join(summed) or 'no field'}",
                        "name the derived field: `field: <a summed field>`")
            return field_name
        field_name = summed[0]
    elif field_name not in summed:
        section.add(section.line("field"), "field", f"{mapping.path.name} does not sum {field_name!r}",
                    f"use one of {', '.join(summed) or '(none: add a `sum:` binding)'}")
        return field_name
    fields = _fields_of(named, mapping.target)
    if field_name and fields and field_name not in fields:
        section.add(section.line("field"), "field", f"{mapping.target} has no field {field_name!r}",
                    f"use one of {', '.join(fields)}")
    return field_name
