"""Values a system's change did not send, of an entity the flow holds no value of: unknown, never null.

PostgreSQL leaves an unchanged TOASTed value (text, bytea, jsonb or an array over ~2 KB) out of an update unless the
table has ``REPLICA IDENTITY FULL``, and Debezium sends its placeholder there
(:mod:`~streams.codecs.debezium.unavailable`). Where the change has a before-image (a full one, or the row the flow
remembers) the value is filled from it; where the record already holds the field, the update did not change it and
the record keeps its value. Neither is there when the flow never read the row whole: its earlier change was
dead-lettered (a snapshot read whose command was too large), the row was last written in full before the flow ran, or
its insert predates the capture and no snapshot read it. The mapping engine then leaves the field out of the change
and names it in :attr:`~streams.mapping.engine.MappedChange.withheld`.

Such a field is *unknown* (flows/README.md, "Null is a value"), and the system holds a value of it that no one has
seen. A ``create`` carries every field of the record (a payload is a whole Avro record: a field it lacks goes as
the schema's default, null), so the system created would store null over a value that exists. So the entity waits:
:func:`fold` marks the field in the system's mirror (:attr:`~streams.flows.customers.mirror.Mirror.withheld`) while
the record holds no value of it; :func:`~streams.flows.customers.sync.decide` creates the entity nowhere and names
the field in no ``update`` while it is unknown, and the entity has no canonical record
(:meth:`~streams.flows.customers.state.CustomerState.canonical`), as while a required field has no value. The wait
is visible: :class:`WithheldHolds` writes a ``Hold`` (cause ``unavailable``, keyed ``<flow>:unavailable:<key>``) and
logs it at WARNING, naming the columns and the fix: read the row again, ``isthmus connectors snapshot <connector>
--tables <table>``. A change of that system that carries the value (the snapshot's read, an update that changes the
column, or an insert) gives the record its value; the hold is then released and the entity goes on, created with
every value it has.

The other way, creating the entity without the field and marking it unknown in the created system, cannot be said
to every target: a command's payload is a whole record, and a target's route writes what it carries.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from streams.codecs.avro.single_object import SchemaStore
from streams.codecs.debezium.unavailable import PLACEHOLDER
from streams.flows.customers.config import EntityConfig
from streams.flows.customers.exceptions import WithheldValue
from streams.flows.customers.mirror import Mirror
from streams.flows.customers.state import CustomerState
from streams.flows.engine.api import Context
from streams.flows.engine.objects import ObjectView
from streams.flows.parked import HOLD_SCHEMA
from streams.mapping import MappedChange
from streams.systems import Systems

log = logging.getLogger(__name__)

#: The Hold's cause for an entity that waits for a value its source did not send.
UNAVAILABLE = "unavailable"


def hold_key(flow: str, key: str) -> str:
    """The Hold's key: one per flow and entity."""
    return f"{flow}:{UNAVAILABLE}:{key}"


def fold(state: CustomerState, change: MappedChange, mirror: Mirror) -> None:
    """After ``change`` of ``mirror``'s system was folded into ``state``: mark the fields it did not carry that the
    record holds no value of, and forget those it holds a value of now (from any system). When what is unknown
    changes, ``state.unknown_changed`` says so, for :class:`WithheldHolds`."""
    before = frozenset(n for each in state.mirrors.values() for n in each.withheld)  # what was unknown: pruned
    record = state.record
    if change.withheld:
        mirror.withheld.update(n for n in change.withheld if n not in record)
    for each in state.mirrors.values():
        if each.withheld:
            each.withheld.difference_update(record.keys())
    if state.unknown() != before:
        state.unknown_changed = True


def whole_item(change: MappedChange, item: Mapping[str, Any] | None) -> dict[str, Any]:
    """The child item ``change`` (of a child mapping) makes, the values it left out taken from ``item``, the one the
    list holds. A list item is a whole record, as a document's line is (mappings/README.md, "Values a change does
    not carry"): one whose left-out value the flow never had is refused (:class:`WithheldValue`), and the list
    keeps what it held, rather than sent with that field as null."""
    item = item or {}
    unknown = [n for n in change.withheld if n not in item]
    if unknown:
        source = change.source
        columns = sorted({c for n in unknown for c in source.bindings[n].reads})
        raise WithheldValue(
            f"{change.system}'s {source.table} change of {change.mapping.target.rpartition('.')[2]} {change.key} left "
            f"out {', '.join(columns)} (for {', '.join(unknown)}; Debezium's placeholder {PLACEHOLDER!r}: PostgreSQL "
            "leaves an unchanged TOASTed value out of an update unless the table has REPLICA IDENTITY FULL), and the "
            "flow never read the row whole: an item of a list is a whole record, so it is not changed with the value "
            f"as null. Fix: read the row again, `isthmus connectors snapshot <{change.system}'s connector> --tables "
            f"{source.table}` (its read gives the item every value), and give the table REPLICA IDENTITY FULL so "
            "that updates carry every value")
    return {**{n: item[n] for n in change.withheld}, **change.values}


@dataclass(frozen=True, kw_only=True)
class WithheldHolds:
    """Says, once each time it changes, what of an entity is unknown: a ``Hold`` on ``topic`` and a WARNING."""

    flow: str
    config: EntityConfig
    systems: Systems
    schemas: SchemaStore
    topic: str

    def folded(self, ctx: Context, entities: ObjectView[CustomerState], keys: Iterable[str],
               at: dt.datetime) -> None:
        """Hold, or release, each entity of ``keys`` whose unknown fields a change folded now changed."""
        for key in keys:
            state = entities.get(key)
            if not state.unknown_changed:
                continue
            state.unknown_changed = False
            unknown = state.unknown()
            message = self._held(state, unknown) if unknown else (
                f"{self.config.key} {key}: every value its source had left out is known now; it goes on")
            if unknown:
                log.warning("%s: %s", self.flow, message)
            value: dict[str, Any] = {
                "entity_key": hold_key(self.flow, key), "entity_type": self.config.record.target,
                "state": "held" if unknown else "released", "cause": UNAVAILABLE, "message": message,
                "field": ", ".join(sorted(unknown)) if unknown else None, "status": None, "flow": self.flow,
                "origin": ", ".join(sorted(m.system for m in state.mirrors.values() if m.withheld)),
                "target": ", ".join(self._waiting(state)), "origin_status": None, "command_id": None,
                "at": at.astimezone(dt.UTC), "waiting_for": None, "parked": None}
            ctx.emit(self.topic, key=hold_key(self.flow, key), value=self.schemas.encode(HOLD_SCHEMA, value))

    def _waiting(self, state: CustomerState) -> list[str]:
        """The systems the entity would be created in now, but for what is unknown."""
        config = state.config
        return [role.name for role in config.order if config.creates_in(role.name)
                and not state.linked(role.name) and role.name not in state.creating]

    def _held(self, state: CustomerState, unknown: frozenset[str]) -> str:
        config = self.config
        parts, fixes = [], []
        for mirror in state.mirrors.values():
            fields = sorted(n for n in mirror.withheld if n in unknown)
            if not fields:
                continue
            for source in config.record.sources:
                if source.system != mirror.system or source.table is None:
                    continue
                read = [n for n in fields if n in source.bindings]
                if not read:
                    continue
                columns = sorted({c for n in read for c in source.bindings[n].reads})
                spec = self.systems.get(mirror.system)
                connector = spec.connector if spec is not None and spec.connector else f"<{mirror.system}'s connector>"
                parts.append(f"{mirror.system}'s {source.table} change left out {', '.join(columns)} (for "
                             f"{', '.join(read)})")
                fixes.append(f"`isthmus connectors snapshot {connector} --tables {source.table}`")
        waiting = self._waiting(state)
        where = (f"it is created in none of {', '.join(waiting)}" if waiting else "no update names it")
        return (f"{config.key} {state.customer_number}: {'; '.join(parts)}, sending Debezium's placeholder "
                f"{PLACEHOLDER!r} (PostgreSQL leaves an unchanged TOASTed value out of an update unless the table has "
                "REPLICA IDENTITY FULL), and the flow holds no value of it (it never read the row whole: its earlier "
                "change was dead-lettered, or the row was last written in full before the flow read it). The value "
                f"is unknown, not null: {where}, and its canonical record is not published, until a change of the "
                f"row carries it. Fix: read the row again, {' and '.join(dict.fromkeys(fixes))}; to keep it from "
                "happening, give the table REPLICA IDENTITY FULL")
