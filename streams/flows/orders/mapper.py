"""The mapping files the order-to-cash flow applies, bound to the flow's cross-reference."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streams.codecs.debezium.envelope import ChangeEvent
from streams.flows.exceptions import FlowUnavailable
from streams.mapping import (
    Context,
    Engine,
    Lookup,
    LookupMissing,
    MappedChange,
    RecordMapping,
    SourceMapping,
    map_change,
)
from streams.mapping.exceptions import MappingError
from streams.systems import Systems

#: The mapping files (mappings/<name>.yaml) this flow reads.
MAPPINGS = ("sales_order", "sales_order_line", "customer", "invoice")


def _source(mapping: RecordMapping, name: str) -> SourceMapping:
    for source in mapping.sources:
        if source.name == name:
            return source
    raise MappingError(f"{mapping.path.name} has no source {name!r}; the order-to-cash flow maps through it")


@dataclass(frozen=True)
class Mapper:
    mappings: Mapping[str, RecordMapping]
    named: Mapping[str, Any]
    #: The declared systems: the zone of each one's local times, and (for the flow) its topics.
    systems: Systems

    def __post_init__(self) -> None:
        missing = [m for m in MAPPINGS if m not in self.mappings]
        if missing:
            raise FlowUnavailable(f"the order-to-cash flow needs {', '.join(f'mappings/{m}.yaml' for m in missing)}")
        _source(self.mappings["sales_order"], "crm_sales_orders")
        _source(self.mappings["sales_order_line"], "crm_sales_order_lines")

    @functools.cached_property
    def _zones(self) -> Context:
        return Context.of(self.systems)

    def context(self, lookup: Lookup) -> Context:
        return dataclasses.replace(self._zones, lookup=lookup)

    def change(self, mapping: str, event: ChangeEvent, system: str, lookup: Lookup) -> tuple[MappedChange, ...]:
        return map_change(self.mappings[mapping], event, system, self.context(lookup), self.named)

    def row(self, mapping: str, source: str, row: Mapping[str, Any], lookup: Lookup) -> dict[str, Any]:
        """One source row through one source of a mapping (raises LookupMissing when a required link is absent)."""
        found = self.mappings[mapping]
        return Engine(found, self.named).map_row(_source(found, source), row, self.context(lookup))

    def validate(self, mapping: str, source: str, row: Mapping[str, Any], lookup: Lookup) -> None:
        """Map ``row`` only to refuse a bad one early; a link not known yet is no fault (it is looked up again
        when the row is used)."""
        with contextlib.suppress(LookupMissing):
            self.row(mapping, source, row, lookup)

    def policies(self, mapping: str) -> Mapping[str, Any]:
        return self.mappings[mapping].policies
