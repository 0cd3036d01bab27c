"""One canonical record to warehouse changes: upserts (a deleted one marks its row), a rejection or nothing.

Lineage: ``source_system``, ``source_table``, ``source_key`` and ``source_commit_time`` name the source change
the canonical record was made from (its ``isthmus-lineage`` header), ``source_topic``, ``source_partition``
and ``source_offset`` the canonical record the row was loaded from, ``cdc_topic``, ``cdc_partition`` and
``cdc_offset`` the Debezium record behind it, and ``mapping_version`` the canonical mapping that shaped it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from streams.codecs.avro.single_object import SchemaStore
from streams.codecs.exceptions import CodecError
from streams.flows.canonical.lineage import Lineage, LineageError, json_value
from streams.warehouse.exceptions import RowRejected
from streams.warehouse.tables import Rules, TableSpec


@dataclass(frozen=True, kw_only=True)
class Position:
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, kw_only=True)
class Change:
    """A row to upsert (``deleted`` marks a row the source removed or deactivated), with its lineage columns."""

    spec: TableSpec
    values: dict[str, Any]
    deleted: bool
    lineage: dict[str, Any]

    @property
    def key(self) -> tuple[Any, ...]:
        return tuple(self.values[k] for k in self.spec.key)


@dataclass(frozen=True, kw_only=True)
class Rejection:
    position: Position
    table: str
    source_key: str | None
    reason: str


Outcome = tuple[Change, ...] | Rejection | None

#: Columns every loaded table has that the loader fills itself (lineage, the rest of the record, the delete
#: mark) or the database does (``loaded_at``): ``warehouse/tables.yaml`` cannot map them.
LOADER_COLUMNS = frozenset({
    "source_system", "source_table", "source_key", "source_commit_time", "source_topic", "source_partition",
    "source_offset", "cdc_topic", "cdc_partition", "cdc_offset", "mapping_version", "attributes", "deleted",
    "loaded_at"})


def lineage_columns(position: Position, lineage: Lineage) -> dict[str, Any]:
    return {
        "source_system": lineage.system, "source_table": lineage.table, "source_key": lineage.key,
        "source_commit_time": lineage.commit_time, "source_topic": position.topic,
        "source_partition": position.partition, "source_offset": position.offset, "cdc_topic": lineage.topic,
        "cdc_partition": lineage.partition, "cdc_offset": lineage.offset, "mapping_version": lineage.mapping_version,
    }


def to_changes(position: Position, specs: tuple[TableSpec, ...], value: bytes | None,
               headers: Iterable[tuple[str, bytes]], schemas: SchemaStore, rules: Rules) -> Outcome:
    """What one canonical record means for the warehouse (None: nothing to load)."""
    if value is None or not specs:
        return None  # a tombstone: canonical deletes are records with ``deleted`` set, never tombstones
    expected = specs[0].schema
    where = f"{position.topic}[{position.partition}]@{position.offset}"
    try:
        lineage = Lineage.from_headers(headers)
    except LineageError as exc:
        return Rejection(position=position, table=specs[0].target, source_key=None, reason=f"{where}: {exc}")
    try:
        record = schemas.decode(value)
    except CodecError as exc:
        return Rejection(position=position, table=specs[0].target, source_key=lineage.key,
                         reason=f"undecodable: {exc}")
    if record.schema != expected:
        return Rejection(position=position, table=specs[0].target, source_key=lineage.key,
                         reason=f"{where} is a {record.schema}; {position.topic} carries {expected}")
    columns = lineage_columns(position, lineage)
    changes: list[Change] = []
    for spec in specs:
        try:
            if not spec.applies(record.value):
                continue
            values = spec.build(record.value, rules)
            deleted = spec.deleted(record.value)
        except RowRejected as exc:
            return Rejection(position=position, table=spec.target, source_key=lineage.key,
                             reason=f"{lineage.system}.{lineage.table} {lineage.key} -> {spec.target}: {exc}")
        extra = {k: v for k, v in record.value.items() if k not in spec.consumed}
        values["attributes"] = json.dumps(json_value(extra), sort_keys=True)
        changes.append(Change(spec=spec, values=values, deleted=deleted, lineage=columns))
    return tuple(changes) or None
