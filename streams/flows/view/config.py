"""The ``view`` block's section (``flows/<name>.yaml``): a record joined from canonical records by a key::

    view:
      record: isthmus.canonical.Customer360    # the view's Avro record
      topic: isthmus.customer360               # where it is published, compacted, keyed by the view key
      key: customer_number                     # the view's key field
      mappings: [customer, invoice]            # the mapping files whose records feed it (missing: not started)
      parts:                                   # canonical topics (isthmus.canonical.<topic>) feeding it
        customer: {topic: customers, field: customer, required: true, time: updated_at}
        orders: {topic: orders, list: orders, key: order_number, newest_first: ordered_at}
        payments: {topic: payments, key: payment_id, drop: deleted}      # feeds totals only
      totals:                                  # sums over parts: view field -> parts' fields
        open_balance: {add: [invoices.amount], subtract: [payments.amount], also: [customer.open_balance]}
      latest: {last_order_at: orders.ordered_at}   # the latest value of a part's field
      updated: updated_at                      # the latest commit time of every part's records

A part is one record (``field:``) or a list (``list:``, one entry per ``key:``), found by the view key it
carries (``by:``, default the view's key). Its records' time is their ``time:`` field, else the commit time of
their lineage; ``stamp:`` writes that lineage time into a field. A record whose ``drop:`` field is true is
removed. A total is null until a record of its parts is seen (``null_unless: seen``) or while none is live
(``null_unless: live``, the default).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streams.flows import topics
from streams.flows.files import FlowFile, Section
from streams.mapping import RecordMapping

KEYS = ("record", "topic", "key", "mappings", "parts", "totals", "latest", "updated")
PART_KEYS = ("topic", "field", "list", "key", "by", "required", "time", "stamp", "newest_first", "drop")
TOTAL_KEYS = ("add", "subtract", "also", "null_unless")


@dataclass(frozen=True, kw_only=True)
class Part:
    name: str
    topic: str
    field: str | None
    list: str | None
    key: str | None
    by: str
    required: bool
    time: str | None
    stamp: str | None
    newest_first: str | None
    drop: str | None


@dataclass(frozen=True, kw_only=True)
class Total:
    field: str
    add: tuple[tuple[str, str], ...]
    subtract: tuple[tuple[str, str], ...]
    also: tuple[tuple[str, str], ...]
    null_unless: str


@dataclass(frozen=True, kw_only=True)
class ViewConfig:
    record: str
    topic: str
    key: str
    parts: tuple[Part, ...]
    totals: tuple[Total, ...]
    latest: tuple[tuple[str, str, str], ...]
    updated: str | None

    def part_of(self, topic: str) -> Part | None:
        return next((p for p in self.parts if p.topic == topic), None)

    @property
    def inputs(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.topic for p in self.parts))


def _fields(named: Mapping[str, Any], record: str) -> dict[str, Any]:
    schema = named.get(record)
    fields = schema.get("fields", []) if isinstance(schema, Mapping) else []
    return {str(f["name"]): f for f in fields}


def read_config(flow: FlowFile, named: Mapping[str, Any], mappings: Mapping[str, RecordMapping] | None = None,
                prefix: str = topics.CANONICAL_PREFIX) -> ViewConfig:
    """The section of ``flow``, checked; raises FlowFileError with every problem, FlowUnavailable when a mapping
    file named in ``mappings:`` (those whose records feed the view) is missing from ``mappings`` (when given).
    ``prefix``: of the canonical topics the parts name."""
    section = Section(flow)
    section.only(KEYS)
    for stem in section.texts("mappings"):
        if mappings is not None and stem not in mappings:
            section.lacks(stem, "mappings", mappings)
    record = section.text("record", fix="`record: <the view's Avro record, e.g. isthmus.canonical.Customer360>`")
    view_fields = _fields(named, record) if record else {}
    if record and not view_fields:
        section.add(section.line("record"), "record", f"no Avro record {record!r} in schemas/",
                    "name a record of schemas/ by its full name")
    topic = section.text("topic", fix="`topic: <the view's compacted topic>`")
    topic = topics.topic(topic) if topic else topic  # the file names it before the kafka section's topic prefix
    key = section.text("key", fix="`key: <the view's key field>`")

    def view_field(where: Section, name: str, line_key: str) -> None:
        if view_fields and name not in view_fields:
            where.add(where.line(line_key), line_key, f"{record} has no field {name!r}",
                      f"use one of {', '.join(view_fields)}")

    if key:
        view_field(section, key, "key")
    parts: list[Part] = []
    node = section.section("parts")
    if node is not None:
        for name, _ in node.node.items():
            inner = node.section(name)
            if inner is None:
                continue
            inner.only(PART_KEYS)
            field, listed = inner.text("field", default="") or None, inner.text("list", default="") or None
            if field is not None and listed is not None:
                inner.add(inner.node.line, "field", "a part fills one field or one list",
                          "write `field: <view field>` or `list: <view field>` (with `key:`), or neither for a part "
                          "that only feeds totals")
            for target, label in ((field, "field"), (listed, "list")):
                if target is not None:
                    view_field(inner, target, label)
            part_key = inner.text("key", default="") or None
            if (listed is not None or field is None) and part_key is None:
                inner.add(inner.node.line, "key", "missing", "`key: <the field that tells the list's entries apart>`")
            optional = {k: inner.text(k, default="") or None for k in ("time", "stamp", "newest_first", "drop")}
            parts.append(Part(name=name, topic=topics.canonical_topic(inner.text("topic"), prefix), field=field,
                              list=listed, key=part_key, by=inner.text("by", default=key),
                              required=inner.flag("required", default=False), **optional))
    names = {p.name for p in parts}

    def refs(where: Section, key_name: str) -> tuple[tuple[str, str], ...]:
        found = []
        for ref in where.texts(key_name):
            part, _, field = ref.partition(".")
            if not field or (key_name != "also" and part not in names):
                where.add(where.line(key_name), key_name, f"{ref!r} is not <part>.<field>",
                          f"name a part ({', '.join(sorted(names))}) and one of its fields")
            found.append((part, field))
        return tuple(found)

    totals: list[Total] = []
    node = section.section("totals", required=False)
    if node is not None:
        for name, _ in node.node.items():
            inner = node.section(name)
            if inner is None:
                continue
            inner.only(TOTAL_KEYS)
            view_field(node, name, name)
            totals.append(Total(field=name, add=refs(inner, "add"), subtract=refs(inner, "subtract"),
                                also=refs(inner, "also"),
                                null_unless=inner.choice("null_unless", ("live", "seen"), default="live")))
    latest: list[tuple[str, str, str]] = []
    node = section.section("latest", required=False)
    if node is not None:
        for name, value in node.node.items():
            view_field(node, name, name)
            part, _, field = str(value.value).partition(".")
            if part not in names or not field:
                node.add(value.line, name, f"{value.value!r} is not <part>.<field>",
                         f"name a part ({', '.join(sorted(names))}) and one of its fields")
            latest.append((name, part, field))
    updated = section.text("updated", default="") or None
    if updated:
        view_field(section, updated, "updated")
    section.done()
    return ViewConfig(record=record, topic=topic, key=key, parts=tuple(parts), totals=tuple(totals),
                      latest=tuple(latest), updated=updated)
