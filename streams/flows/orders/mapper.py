"""The mapping files of a ``document`` flow, bound to its roles (:class:`DocumentConfig`), its systems' zones and
the flow's look-ups. Engines and one-source mappings are made once, when the flow is built."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from streams.codecs.debezium.envelope import ChangeEvent
from streams.flows.orders.config import DocumentConfig, Reference
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
from streams.systems import Systems


@dataclass(frozen=True)
class Mapper:
    config: DocumentConfig
    #: Every mapping file, by stem: the look-ups find the file of each record they name among them.
    mappings: Mapping[str, RecordMapping]
    named: Mapping[str, Any]
    #: The declared systems: the zone of each one's local times, and (for the flow) its topics.
    systems: Systems
    _alone: dict[tuple[str, str], RecordMapping] = field(default_factory=dict, init=False, repr=False)
    #: The look-up last asked for and its context: a flow asks per change, with one look-up per record in hand.
    _last: list[tuple[Lookup, Context]] = field(default_factory=list, init=False, repr=False, compare=False)

    @functools.cached_property
    def _zones(self) -> Context:
        return Context.of(self.systems)

    def context(self, lookup: Lookup | None) -> Context:
        """The systems' zones with ``lookup``; made once per look-up (the one last asked for is kept, and so are
        the contexts reading each system that :meth:`Context.reading` makes from it)."""
        if lookup is None:
            return self._zones
        last = self._last
        if last and last[0][0] is lookup:
            return last[0][1]
        made = dataclasses.replace(self._zones, lookup=lookup)
        last[:] = [(lookup, made)]
        return made

    def engine(self, mapping: RecordMapping) -> Engine:
        return Engine(mapping, self.named)

    def topic(self, source: SourceMapping) -> str:
        """The change-event topic of a table source, as its system's file names it."""
        assert source.system is not None and source.table is not None
        return self.systems[str(source.system)].topic(source.table)

    def change(self, mapping: RecordMapping, source: SourceMapping, event: ChangeEvent,
               lookup: Lookup | None) -> tuple[MappedChange, ...]:
        """``event`` through ``source`` alone (the flow routes by topic, not by the table inside the event)."""
        alone = self._alone.get((str(mapping.path), source.name))
        if alone is None:
            alone = self._alone.setdefault((str(mapping.path), source.name),
                                           dataclasses.replace(mapping, sources=(source,)))
        return map_change(alone, event, str(source.system), self.context(lookup), self.named, table=source.table)

    def row(self, mapping: RecordMapping, source: SourceMapping, row: Mapping[str, Any],
            lookup: Lookup | None) -> dict[str, Any]:
        """One source row through one source (raises LookupMissing when a required look-up finds nothing)."""
        return self.engine(mapping).map_row(source, row, self.context(lookup))

    def validate(self, mapping: RecordMapping, source: SourceMapping, row: Mapping[str, Any],
                 lookup: Lookup | None) -> None:
        """Map ``row`` only to refuse a bad one early; a link not known yet is no fault (it is looked up again
        when the row is used)."""
        with contextlib.suppress(LookupMissing):
            self.row(mapping, source, row, lookup)

    def ref(self, mapping: RecordMapping, source: SourceMapping, reference: Reference,
            row: Mapping[str, Any]) -> Any:
        """What ``row`` names the record it belongs to by, before the look-up (e.g. the origin's customer id)."""
        return self.engine(mapping).value(reference.ref, row, self.context(None).reading(source.system))
