"""One entity as the flow keeps it: the reconciled record with provenance, its child lists, the link, each
system's mirror and the creations in flight; stored as one JSON object per record key."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from streams.flows.customers.config import EntityConfig
from streams.flows.customers.exceptions import CorruptState
from streams.flows.customers.mirror import Mirror
from streams.flows.engine.values import from_store, to_store
from streams.mapping.reconcile import Stamp, stamps_to_avro


def _stamps_to_json(stamps: Mapping[str, Stamp]) -> dict[str, Any]:
    return {f: {"system": s.system, "commit_time": s.commit_time.isoformat()} for f, s in stamps.items()}


def _stamps_from_json(data: Mapping[str, Any]) -> dict[str, Stamp]:
    return {f: Stamp(system=str(v["system"]), commit_time=dt.datetime.fromisoformat(v["commit_time"]))
            for f, v in data.items()}


@dataclass
class CustomerState:
    """Working state of one entity while a change is folded in; ``to_json`` is what the store keeps.

    ``children``: per list field of the record (a child mapping's ``parent.field``), its child records by key;
    ``mirrors``: per system, what it holds (:class:`Mirror`); ``creating``: per system, the ``create`` command
    in flight (its idempotency key) until the entity shows up there."""

    customer_number: str
    config: EntityConfig = field(repr=False, compare=False)
    record: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Stamp] = field(default_factory=dict)
    children: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    xref: dict[str, Any] = field(default_factory=dict)
    xref_provenance: dict[str, Stamp] = field(default_factory=dict)
    mirrors: dict[str, Mirror] = field(default_factory=dict)
    creating: dict[str, str] = field(default_factory=dict)

    def mirror(self, system: str) -> Mirror:
        if system not in self.mirrors:
            role = self.config.written.get(system)
            self.mirrors[system] = Mirror(system=system, holds=role.holds if role else {})
        return self.mirrors[system]

    def value(self, name: str) -> Any:
        return self.record.get(name, self.config.defaults.get(name))

    @property
    def active(self) -> bool:
        """The record's ``active`` field (always active when the section names none)."""
        return self.config.active is None or bool(self.value(self.config.active))

    def linked(self, system: str) -> bool:
        """The entity exists in ``system`` as far as the link knows: the link has its id (Isthmus has seen the
        row), or a system that stores that id reports one."""
        role = self.config.written.get(system)
        if role is None or role.id is None:
            return False
        return self.xref.get(role.id) is not None or any(
            self.mirror(other).reported.get(role.id) is not None for other in self.config.observed_by(role.id))

    def canonical(self) -> dict[str, Any] | None:
        """The Avro record, or None while a field it requires has no value yet (no system named it)."""
        if any(self.record.get(name) is None for name in self.config.required):
            return None
        lists = {name: [items[k] for k in sorted(items, key=lambda k: int(k) if k.isdigit() else 0)]
                 for name, items in ((f, self.children.get(f, {})) for f in self.config.child_fields)}
        provenance = {self.config.provenance: stamps_to_avro(self.provenance)} if self.config.provenance else {}
        return {**self.record, self.config.key: self.customer_number, **lists, **provenance}

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.customer_number,
            "record": to_store(self.record),
            "provenance": _stamps_to_json(self.provenance),
            "children": to_store(self.children),
            "xref": to_store(self.xref),
            "xref_provenance": _stamps_to_json(self.xref_provenance),
            "mirrors": {name: mirror.to_json() for name, mirror in self.mirrors.items()},
            "creating": dict(self.creating),
        }

    @classmethod
    def from_json(cls, customer_number: str, data: Mapping[str, Any] | None, config: EntityConfig) -> CustomerState:
        state = cls(customer_number=customer_number, config=config)
        if data is None:
            return state
        try:
            state.record = dict(from_store(data["record"]))
            state.provenance = _stamps_from_json(data["provenance"])
            state.xref = dict(from_store(data["xref"]))
            state.xref_provenance = _stamps_from_json(data["xref_provenance"])
            if "mirrors" in data:
                state.children = {k: dict(v) for k, v in from_store(data["children"]).items()}
                mirrors = data["mirrors"]
                state.creating = dict(data["creating"])
            else:  # the layout before the section: child lists and mirrors at the top, one create target
                state.children = {f: dict(from_store(data[f])) for f in config.child_fields if f in data}
                mirrors = {name: data[name] for name in (config.origin, *config.written) if name in data}
                targets = [role.name for role in config.targets]
                state.creating = {targets[0]: data["creating"]} if data.get("creating") and targets else {}
            for name, mirror in mirrors.items():
                role = config.written.get(name)
                state.mirrors[name] = Mirror.from_json(name, mirror, role.holds if role else {})
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CorruptState(f"stored entity {customer_number} is not what the flow writes: {exc!r}; delete "
                               "the flow's state (its changelog topics) to rebuild it") from exc
        return state
