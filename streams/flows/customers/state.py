"""One entity as the flow keeps it: the reconciled record with provenance, its child lists, the link, each
system's mirror and the creations in flight; stored per record key in the compact layout of
:mod:`~streams.flows.engine.packed` (:class:`StateCodec`), once per batch. Entities stored before it, as one
tagged JSON object (:meth:`CustomerState.to_json`), still read and are written back in the new layout."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from streams.flows.customers.config import EntityConfig
from streams.flows.customers.exceptions import CorruptState
from streams.flows.customers.matching import MatchingRows
from streams.flows.customers.mirror import Mirror
from streams.flows.engine.api import Incoming, StoreValueError, decode_json
from streams.flows.engine.packed import fingerprint, from_instant, instant, is_packed, pack, restore, unpack_tagged
from streams.flows.engine.values import from_store, to_store
from streams.mapping.reconcile import Stamp, stamps_to_avro

if TYPE_CHECKING:
    from streams.flows.customers.merged import MadeBeside

#: The field order of the packed layout (version 1 of :data:`~streams.flows.engine.packed.MAGIC`).
_LAYOUT = ("record", "provenance", "children", "xref", "xref_provenance", "mirrors", "creating", "published",
           "held_lineage", "rows", "matching", "no_origin")
#: Fields a packed state has at least: each optional field after them is written only when it, or a field after
#: it, has a value: ``held_lineage`` while there is one, ``rows`` and ``matching`` when there are some, ``no_origin``
#: while no origin has the entity (states written before they were recorded have none).
_REQUIRED = len(_LAYOUT) - 4


def _packed_stamps(stamps: Mapping[str, Stamp]) -> dict[str, tuple[str, int | dt.datetime]]:
    return {f: (s.system, instant(s.commit_time)) for f, s in stamps.items()}


def _unpacked_stamps(data: Mapping[str, Any], seen: dict[int, dt.datetime],
                     made: dict[tuple[str, int], Stamp]) -> dict[str, Stamp]:
    """Stamps as :func:`_packed_stamps` wrote them (or tagged, as the layout's first form did). ``made`` shares
    the stamps already made for the state: the fields one change set share one (a stamp is immutable), so a
    record of fifteen fields set by three changes makes three stamps, not fifteen."""
    stamps: dict[str, Stamp] = {}
    for name, (system, at) in data.items():
        if type(at) is not int:  # tagged
            stamps[name] = Stamp(system=system, commit_time=from_instant(at, seen))
            continue
        stamp = made.get((system, at))
        if stamp is None:
            stamp = made[(system, at)] = Stamp(system=system, commit_time=from_instant(at, seen))
        stamps[name] = stamp
    return stamps


def _packed_mirror(mirror: Mirror) -> tuple[Any, ...]:
    """A mirror in the packed layout: its fields in order, :attr:`Mirror.unsent` only when it has some, so a mirror
    without them is written as before they were kept (a version before this one refuses a state that has some);
    then :attr:`Mirror.carried`, likewise (a version before it ignores them), then :attr:`Mirror.withheld`."""
    fields = (mirror.present, mirror.reported, mirror.pending, mirror.uncleared)
    if mirror.withheld:
        return (*fields, sorted(mirror.unsent), mirror.carried, sorted(mirror.withheld))
    if mirror.carried:
        return (*fields, sorted(mirror.unsent), mirror.carried)
    return (*fields, sorted(mirror.unsent)) if mirror.unsent else fields


def _stamps_to_json(stamps: Mapping[str, Stamp]) -> dict[str, Any]:
    return {f: {"system": s.system, "commit_time": s.commit_time.isoformat()} for f, s in stamps.items()}


def _stamps_from_json(data: Mapping[str, Any]) -> dict[str, Stamp]:
    return {f: Stamp(system=str(v["system"]), commit_time=dt.datetime.fromisoformat(v["commit_time"]))
            for f, v in data.items()}


def _claimed_now(rows: dict[str, list[str]], config: EntityConfig) -> dict[str, list[str]]:
    """The recorded rows of a stored state whose names a source of ``config`` claims under now
    (:attr:`~streams.flows.customers.config.EntityConfig.row_claims`); others were recorded under a mapping changed
    since (a table several sources read now, its rows once recorded together; a source keyed through a look-up
    now) and stand for no source's rows: kept, a stale row would refuse a source's new row or outlive its end."""
    names = config.row_claims.values()
    if all(name in names for name in rows):
        return rows
    return {name: live for name, live in rows.items() if name in names}


@dataclass
class CustomerState:
    """Working state of one entity while a change is folded in; ``to_json`` is what the store keeps.

    ``children``: per list field of the record (a child mapping's ``parent.field``), its child records by key;
    ``mirrors``: per system, what it holds (:class:`Mirror`); ``creating``: per system, the ``create`` command
    in flight (its idempotency key) until the entity shows up there; for a write-only system, where it never
    shows up, the create sent (:mod:`~streams.flows.customers.unechoed`)."""

    customer_number: str
    config: EntityConfig = field(repr=False, compare=False)
    record: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Stamp] = field(default_factory=dict)
    children: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    xref: dict[str, Any] = field(default_factory=dict)
    xref_provenance: dict[str, Stamp] = field(default_factory=dict)
    mirrors: dict[str, Mirror] = field(default_factory=dict)
    creating: dict[str, str] = field(default_factory=dict)
    #: The fingerprint of the canonical record when the entity was last stored (None: there was none), so the
    #: end of a batch publishes it only if the batch changed it.
    published: str | None = field(default=None, compare=False)
    #: Not stored: the last record of the batch that changed the entity, and that change (its lineage is built
    #: from it when the canonical record is published).
    touched_by: Incoming | None = field(default=None, compare=False, repr=False)
    lineage: Any = field(default=None, compare=False, repr=False)
    #: Not stored: a part of a source transaction not yet ended changed the entity in this batch, so its canonical
    #: record waits for the transaction's end, where the entity is decided (:mod:`~streams.flows.customers.
    #: deferred`): the canonical topic never shows half of a source transaction, and a bulk load publishes each
    #: entity once instead of once per part that touched it.
    held: bool = field(default=False, compare=False, repr=False)
    #: The ``isthmus-lineage`` header text of the last change a held part folded in, kept with the state until its
    #: canonical record is published (by then that change's record is long gone).
    held_lineage: str | None = field(default=None, compare=False, repr=False)
    #: Not stored: the row the echo of a create of Isthmus's made beside the entity's row in this batch
    #: (:mod:`~streams.flows.customers.merged`), which the refusal of the two rows names.
    made_beside: MadeBeside | None = field(default=None, compare=False, repr=False)
    #: Not stored: the systems whose row of the entity (a row of the link's) a change folded since it was last decided
    #: deleted, as the decision finds them (:mod:`~streams.flows.customers.ignored`); replaced, never changed in place.
    deleted_now: frozenset[str] = field(default=frozenset(), compare=False, repr=False)
    #: Per record source keyed by its rows' own columns (by its name in ``EntityConfig.row_claims``: its table,
    #: ``system.table``, or ``system.table (source)`` where several such sources read one table), the rows
    #: (``keying.row_key``) that map to this entity now: one, or none; two live rows of one source are refused at
    #: the decision (:meth:`merged_rows`), never written as one.
    rows: dict[str, list[str]] = field(default_factory=dict)
    #: Per source whose key comes through a look-up, the rows that match the entity now with what they map, the
    #: one changed last (the one shown) last (:mod:`~streams.flows.customers.matching`).
    matching: MatchingRows = field(default_factory=dict)
    #: Not stored: what :meth:`unknown` holds changed with a change folded in this batch, not said yet
    #: (:mod:`~streams.flows.customers.withheld`).
    unknown_changed: bool = field(default=False, compare=False, repr=False)
    #: Only systems that are no origin hold the entity, found so by a decision (:mod:`~streams.flows.customers.
    #: no_origin`): ``waiting`` to be held, ``held``; None when it is not so.
    no_origin: str | None = None
    #: Not stored: the entity was last decided with nothing to send and no audit, and since then only child rows
    #: were folded into it (the flow's mark of that decision, :meth:`~streams.flows.customers.flow.CustomerFlow.
    #: _fold_and_decide`; None: not so). Where no system writes a child list, deciding it again sends nothing.
    settled: int | None = field(default=None, compare=False, repr=False)

    def mirror(self, system: str) -> Mirror:
        if system not in self.mirrors:
            role = self.config.written.get(system)
            self.mirrors[system] = Mirror(system=system, holds=role.holds if role else {})
        return self.mirrors[system]

    def claim(self, source: str, row: str, *, ends: bool) -> bool:
        """Row ``row`` of ``source`` maps to this entity now, or (``ends``) no longer does; whether the change
        speaks for the entity. A row that maps to it does (a second live row is refused when the entity is decided:
        :meth:`merged_rows`). An end does only when it leaves the entity without a live row of ``source`` (or when
        none is recorded: rows are recorded from their first change after rows were, the entity's row may predate
        that): the end of a row while another row of ``source`` is the entity's is no end of the entity, whether
        the ending row was never its own (a second row on the key, refused as ``MergedRows``: the user ended it as
        told) or gives the key up to that other row (within one source transaction). Applying its ``on_delete``
        would end the entity whose row lives. Lists are replaced, never changed in place (see :meth:`copy`)."""
        live = self.rows.get(source, ())
        if not ends:
            if row not in live:
                self.rows[source] = [*live, row]
            return True
        if not live:
            return True
        left = [r for r in live if r != row]
        if left:
            if len(left) < len(live):
                self.rows[source] = left
            return False
        del self.rows[source]
        return True

    def merged_rows(self) -> tuple[str, list[str]] | None:
        """A source two or more live rows of which map to this entity, and those rows; None when there is none."""
        for source, live in self.rows.items():
            if len(live) > 1:
                return source, live
        return None

    def value(self, name: str) -> Any:
        return self.record.get(name, self.config.defaults.get(name))

    @property
    def active(self) -> bool:
        """The record's ``active`` field (always active when the section names none)."""
        return self.config.active is None or bool(self.value(self.config.active))

    def linked(self, system: str) -> bool:
        """The entity exists in ``system`` as far as the link knows: the link has its id (Isthmus has seen the
        row), or a system that stores that id reports one; not once its row there is deleted (:meth:`deleted_in`):
        an id another system still holds (``observes`` sets it, never clears it) names a record that is gone."""
        role = self.config.written.get(system)
        if role is None or role.id is None or self.deleted_in(system):
            return False
        if self.xref.get(role.id) is not None:
            return True
        for other in self.config.observed_by(role.id):  # noqa: SIM110 - not any() of a generator: per decision
            if self.mirror(other).reported.get(role.id) is not None:
                return True
        return False

    def deleted_in(self, system: str) -> bool:
        """Was the entity's row in written ``system`` seen (the link's id for it came from there) and is it gone
        (deleted, or moved off the entity's key, in ``system``)?"""
        role = self.config.written.get(system)
        stamp = self.xref_provenance.get(role.id) if role is not None and role.id is not None else None
        mirror = self.mirrors.get(system)
        return stamp is not None and stamp.system == system and not (mirror is not None and mirror.present)

    @property
    def complete(self) -> bool:
        """Has every field the record requires a value (a system named it)? Else it has no canonical record."""
        record = self.record
        return not any(record.get(name) is None for name in self.config.required)

    def unknown(self) -> frozenset[str]:
        """The record fields a system's row holds a value of that its change did not send, the record holding none
        (:attr:`Mirror.withheld`): unknown, not null; the entity waits for them (:mod:`~streams.flows.customers.
        withheld`)."""
        mirrors = self.mirrors.values()
        for mirror in mirrors:  # a loop, not any() of a generator: asked on every decision, most hold none
            if mirror.withheld:
                break
        else:
            return frozenset()
        record = self.record
        return frozenset(n for m in mirrors for n in m.withheld if n not in record)

    def child_lists(self) -> dict[str, list[dict[str, Any]]]:
        """Each list field of the record its children fill, the children in the order of their keys."""
        return {name: [items[k] for k in sorted(items, key=lambda k: int(k) if k.isdigit() else 0)]
                for name, items in ((f, self.children.get(f, {})) for f in self.config.child_fields)}

    def with_children(self) -> dict[str, Any]:
        """The record with its key and child lists: the canonical record without its provenance, what payload
        mappings project and child lists are compared from."""
        return {**self.record, self.config.key: self.customer_number, **self.child_lists()}

    def canonical(self) -> dict[str, Any] | None:
        """The Avro record, or None while a field it requires has no value yet (no system named it), or while a
        field's value is unknown (:meth:`unknown`: it would read as null)."""
        if not self.complete or self.unknown():
            return None
        record = self.with_children()
        if self.config.provenance:
            record[self.config.provenance] = stamps_to_avro(self.provenance)
        return record

    def copy(self) -> CustomerState:
        """A copy that later changes to this state do not touch (values are replaced, never changed in place;
        the child lists and mirrors are changed in place, so they are copied)."""
        # Made at the first look at a changed entity in each scope (most records): its fields passed in their
        # order, not by name, and its dicts copied by their own copy(), take a third less (issue 17).
        # tests/flows/customers/test_customers_state_copy.py holds it to every field.
        return CustomerState(
            self.customer_number, self.config, self.record.copy(), self.provenance.copy(),
            {f: items.copy() for f, items in self.children.items()}, self.xref.copy(), self.xref_provenance.copy(),
            {name: mirror.copy() for name, mirror in self.mirrors.items()}, self.creating.copy(), self.published,
            self.touched_by, self.lineage, self.held, self.held_lineage, self.made_beside, self.deleted_now,
            self.rows.copy(), self.matching.copy(), self.unknown_changed, self.no_origin, self.settled)

    def packed(self) -> bytes:
        """The compact layout: the fields of ``_LAYOUT`` in order, values packed in C (no tagged-JSON walk)."""
        return pack([
            self.record,
            _packed_stamps(self.provenance),
            self.children,
            self.xref,
            _packed_stamps(self.xref_provenance),
            {name: _packed_mirror(m) for name, m in self.mirrors.items()},
            self.creating,
            self.published,
            *self._optional_fields(),
        ])

    def _optional_fields(self) -> tuple[Any, ...]:
        """The optional fields of the packed layout, up to the last one that has a value: a state without matching
        rows is written as before they were kept (a version before this one refuses a state that has some)."""
        if self.no_origin is not None:
            return self.held_lineage, self.rows, self.matching, self.no_origin
        if self.matching:
            return self.held_lineage, self.rows, self.matching
        if self.rows:
            return self.held_lineage, self.rows
        return () if self.held_lineage is None else (self.held_lineage,)

    @classmethod
    def unpacked(cls, customer_number: str, raw: bytes, config: EntityConfig) -> CustomerState:
        state = cls(customer_number=customer_number, config=config)
        try:
            values = unpack_tagged(raw)  # each part restored as its layout says: no walk of the stamps
            if type(values) is not list or not _REQUIRED <= len(values) <= len(_LAYOUT):
                raise ValueError(f"{len(values) if type(values) is list else type(values).__name__} fields")
            record, provenance, children, xref, xref_provenance, mirrors, creating, published = values[:_REQUIRED]
            state.held_lineage = values[_REQUIRED] if len(values) > _REQUIRED else None
            state.rows = _claimed_now(values[_REQUIRED + 1], config) if len(values) > _REQUIRED + 1 else {}
            if len(values) > _REQUIRED + 2:
                state.matching = {source: [(row, restore(kept)) for row, kept in rows]
                                  for source, rows in values[_REQUIRED + 2].items()}
            state.no_origin = values[_REQUIRED + 3] if len(values) > _REQUIRED + 3 else None
            seen: dict[int, dt.datetime] = {}
            made: dict[tuple[str, int], Stamp] = {}
            state.record = restore(record)
            state.provenance = _unpacked_stamps(provenance, seen, made)
            state.children = restore(children)
            state.xref = restore(xref)
            state.xref_provenance = _unpacked_stamps(xref_provenance, seen, made)
            for name, (present, reported, pending, uncleared, *later) in restore(mirrors).items():
                role = config.written.get(name)
                state.mirrors[name] = Mirror(system=name, holds=role.holds if role else {}, present=present,
                                             reported=reported, pending=pending, uncleared=uncleared,
                                             unsent=set(later[0]) if later else set(),
                                             carried=later[1] if len(later) > 1 else {},
                                             withheld=set(later[2]) if len(later) > 2 else set())
            state.creating = creating
            state.published = published
        except (TypeError, ValueError, AttributeError, StoreValueError) as exc:
            raise CorruptState(f"stored entity {customer_number} is not what the flow writes ({len(_LAYOUT)} "
                               f"fields: {', '.join(_LAYOUT)}): {exc!r}; delete the flow's state (its changelog "
                               "topics) to rebuild it") from exc
        return state

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


class StateCodec:
    """The ``entities`` store's values as :class:`CustomerState` objects (``Context.objects``): the packed
    layout, or the tagged JSON object written before it (upgraded when the entity is written next; its
    ``published`` fingerprint is taken from what it holds, so the upgrade publishes nothing by itself)."""

    def __init__(self, config: EntityConfig) -> None:
        self.config = config

    def decode(self, key: str, raw: bytes | None) -> CustomerState:
        if raw is None:
            return CustomerState(customer_number=key, config=self.config)
        if is_packed(raw):
            return CustomerState.unpacked(key, raw, self.config)
        try:
            data = decode_json(raw)
        except (ValueError, StoreValueError) as exc:  # neither layout
            raise CorruptState(f"stored entity {key} is neither packed nor a JSON object ({exc}); delete the "
                               "flow's state (its changelog topics) to rebuild it") from exc
        state = CustomerState.from_json(key, data, self.config)
        state.published = fingerprint(state.canonical())
        return state

    def encode(self, key: str, value: CustomerState) -> bytes:
        return value.packed()

    def copy(self, value: CustomerState) -> CustomerState:
        return value.copy()
