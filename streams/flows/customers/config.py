"""The ``entity:`` section of a flow file: which mapping file plays which role in an entity flow, which system is
the origin, which fields mean what, and what Isthmus writes into each system. Read once when the flow is built
(:func:`entity_config`); the flow, its state and its router only use the resulting :class:`EntityConfig`.

Everything else is derived from the mapping files and the Avro schemas: the input tables (every table source of
the record, link and child mappings, aggregates aside), the record's key, its schema defaults and required
fields, the look-up fields to index, and which rows the flow must remember (see :attr:`Reads.remember`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streams.codecs.avro.schemas import SchemaSet
from streams.codecs.local_time import Ambiguous
from streams.config_files.located_yaml import Node
from streams.config_files.problem import Problem
from streams.flows.commands import Sends
from streams.flows.customers.deferred import DECISIONS_PER_BATCH
from streams.flows.customers.mirror import HeldList, KeptForm
from streams.flows.customers.read_times import read_times
from streams.flows.files import FLOWS_DIR, FlowFile, Section, load_flow_files
from streams.flows.lookups import lookups_of, short_name
from streams.mapping.kinds import Kind, avro_digits, fits, from_avro
from streams.mapping.loader import compile_steps
from streams.mapping.looked_up import lookup_steps
from streams.mapping.spec import FieldBinding, Policy, RecordMapping, SourceMapping
from streams.mapping.transforms import (
    CharStep,
    Context,
    DefaultStep,
    Environment,
    LocalToUtcStep,
    LookupStep,
    RequiredStep,
    RoundStep,
    Step,
    StepInput,
    TruncateStep,
    UtcToLocalStep,
)
from streams.systems import Systems

KEYS = ("record", "publish", "link", "children", "origin", "active", "on_inactive", "updated_at", "linked_at",
        "systems", "transactions", "transaction_limit", "on_recreate", "deletes")
SYSTEM_KEYS = ("id", "writes", "observes", "payload", "on_inactive", "cannot_clear", "keeps")
#: What the written systems get when the record turns inactive (a `delete` operation needs a CommandOperation
#: symbol in schemas/command.avsc and sinks that honour it first).
ON_INACTIVE = ("deactivate", "ignore")
#: How the changes of one source transaction apply: ``net`` folds them together and decides once (their net
#: effect), ``each`` decides after every change (see :mod:`~streams.flows.customers.txnet`).
TRANSACTIONS = ("net", "each")
#: The most changes of one source transaction a ``net`` flow holds to fold together; a larger one (a bulk load
#: committed at once) is folded in parts of that many, so that a worker's memory does not grow with it. As many as
#: the deferred decisions per batch (the engine's batch of records): a part's records, read back with their
#: Connect schema, and the entities it folds stay in memory until its batch commits (10,000 before: the customer
#: worker peaked at 496 MiB in a 100,000-customer sync, 461 MiB with 2,000; BENCHMARKS.md).
TRANSACTION_LIMIT = DECISIONS_PER_BATCH
#: What a counterpart gets when its entity, ended by a delete, is born again under the same key in an origin:
#: ``reactivate`` (its ``active`` back to true through an ``update``).
ON_RECREATE = ("reactivate",)
#: What a delete does in a flow without ``active``, stated knowingly: ``ignore`` (it ends nothing; the flow no longer
#: warns of it at load, and says each system's first such delete at info level: :mod:`~streams.flows.customers.
#: ignored`).
DELETES = ("ignore",)
#: The Avro type of a record's provenance map (``field -> FieldStamp``).
FIELD_STAMP = "FieldStamp"


@dataclass(frozen=True, kw_only=True)
class SystemRole:
    """What the flow writes into one writable system: the fields it holds (for a nested record, the sub-fields
    it keeps, else None), the link-row columns that report fields no mapping binds, the link field with the
    entity's id there, the payload mapping of its commands (None: the record itself), the fields of other
    systems' ids it stores (derived from ``observes``: they are sent as an ``update`` of the link), what it
    gets when the record turns inactive (None: the section's ``on_inactive``), and the written fields its target
    cannot clear (a null in the record is then not sent; the difference goes to the conflict audit)."""

    name: str
    writes: Mapping[str, tuple[str, ...] | None]
    observes: Mapping[str, str] = field(default_factory=dict)
    id: str | None = None
    payload: RecordMapping | None = None
    link_back: tuple[str, ...] = ()
    on_inactive: str | None = None
    cannot_clear: frozenset[str] = frozenset()
    #: False for a write-only system (``capture: none``): none of its changes arrive, so no echo settles what
    #: the flow commanded there; it is taken as what the system holds (:mod:`~streams.flows.customers.unechoed`).
    captured: bool = True
    #: The child lists of ``writes`` (a record's list field its children fill), each as the system holds it:
    #: compared by child key, whatever the order (:class:`~streams.flows.customers.mirror.HeldList`).
    lists: Mapping[str, HeldList] = field(default_factory=dict)
    #: The fields of ``writes`` the system does not store as sent, each with the form it keeps: those it normalises
    #: (``keeps``), and a time it holds zone-less (its local round trip, derived from its source: :func:`_kept_forms`).
    keeps: Mapping[str, KeptForm] = field(default_factory=dict)

    # The derived values below are cached (the role is frozen): the entity flow reads them for every record.

    @functools.cached_property
    def holds(self) -> Mapping[str, tuple[str, ...] | HeldList | KeptForm | None]:
        """Every field Isthmus writes into the system: the link-back ids, then ``writes`` (a child list as the
        system holds it, a field it normalises in the form it keeps)."""
        return {**{f: None for f in self.link_back}, **self.writes, **self.lists, **self.keeps}

    @functools.cached_property
    def record_writes(self) -> tuple[str, ...]:
        """The fields of ``writes`` sent as an ``update`` of the record (the link-back ids go with the link)."""
        return tuple(n for n in self.writes if n not in self.link_back)


@dataclass(frozen=True, kw_only=True)
class Reads:
    """Which mappings read one input table, and whether the flow remembers its rows: a row that names its
    entity only through a look-up (``customer_id`` -> the customer), or through columns beyond its primary key
    in a table whose before-images hold only that key (PostgreSQL's replica identity other than FULL, as its
    columns file records it), cannot be placed from such a before-image, so its last image stands in for it
    (and fills the unchanged TOASTed values an update leaves out). ``whole_images``: the table's updates and
    deletes carry the whole old row (MariaDB; PostgreSQL with REPLICA IDENTITY FULL, as its columns file records
    it), so a row the flow does not remember is placed by the change's own before-image."""

    system: str
    table: str
    record: bool = False
    link: bool = False
    children: tuple[RecordMapping, ...] = ()
    remember: bool = False
    whole_images: bool = False


@dataclass(frozen=True, kw_only=True)
class EntityConfig:
    """An entity flow's roles, read from its flow file (see flows/README.md, ``## entity``)."""

    name: str
    description: str
    record: RecordMapping
    link: RecordMapping
    children: tuple[RecordMapping, ...]
    publish: str
    #: The systems where entities are born, in the section's order (``origin: crm`` or ``origin: [crm, erp]``).
    origins: tuple[str, ...]
    active: str | None
    on_inactive: str
    updated_at: str | None
    linked_at: str | None
    #: ``net``: the changes of one source transaction are decided together; ``each``: one by one.
    transactions: str
    #: With ``net``, the most changes of one transaction folded together (:data:`TRANSACTION_LIMIT`).
    transaction_limit: int = TRANSACTION_LIMIT
    #: What a counterpart gets when a deleted entity is made again in an origin (:data:`ON_RECREATE`).
    on_recreate: str
    #: ``ignore``: the section states that a delete ends nothing (it has no ``active``); None: not stated.
    deletes: str | None = None
    #: The writable systems the flow writes into, in the section's order.
    written: Mapping[str, SystemRole]
    #: Per system listed (writable or not), the link-row columns that report record fields.
    observes: Mapping[str, Mapping[str, str]]
    #: The record's key field, its schema defaults, the fields it cannot be published without, its
    #: provenance field; the link record's fields.
    key: str
    defaults: Mapping[str, Any]
    required: tuple[str, ...]
    provenance: str | None
    record_fields: frozenset[str]
    link_fields: tuple[str, ...]
    #: The link's fields that look-ups of the flow's sources use: the index of entities by id.
    indexed: tuple[str, ...]
    reads: Mapping[tuple[str, str], Reads]
    #: Each system's commit-time resolution (:attr:`streams.systems.Systems.clocks`), for latest-commit-wins.
    clocks: Mapping[str, dt.timedelta] = field(default_factory=dict)
    #: The record's fields the schema marks as personal data (``"pii": true``): their values are not logged.
    personal: frozenset[str] = frozenset()
    #: The record's fields whose Avro type takes a null: a system's ``update`` may clear them.
    nullable: frozenset[str] = frozenset()
    #: What the section allows but likely does not mean (each ``file:line: field: message; fix: ...``): logged
    #: when the flow is built, printed by ``isthmus mappings validate``.
    warnings: tuple[str, ...] = ()

    # The derived values below are cached (the config is frozen): the entity flow reads them for every record.

    def observed_by(self, name: str) -> tuple[str, ...]:
        """The systems whose link rows report field ``name``."""
        return self._observers.get(name, ())

    @functools.cached_property
    def _observers(self) -> Mapping[str, tuple[str, ...]]:
        names = {name for columns in self.observes.values() for name in columns}
        return {name: tuple(system for system, columns in self.observes.items() if name in columns)
                for name in names}

    @functools.cached_property
    def child_fields(self) -> tuple[str, ...]:
        return tuple(c.parent.field for c in self.children if c.parent is not None)

    def fields_of(self, system: str, table: str | None) -> frozenset[str]:
        """The record fields the sources of ``system``'s ``table`` map."""
        return self._fields_of.get((system, table), frozenset())

    @functools.cached_property
    def row_fields(self) -> Mapping[str, frozenset[str]]:
        """Per system, the record fields the sources of its link rows' tables map: what a row of it the flow has
        seen (its mirror ``present``) reported, unless the row was read before the field was mapped."""
        found: dict[str, frozenset[str]] = {}
        for source in self.link.sources:
            if source.system is not None and source.table is not None:
                found[source.system] = found.get(source.system, frozenset()) | self.fields_of(source.system,
                                                                                             source.table)
        return found

    @functools.cached_property
    def _fields_of(self) -> Mapping[tuple[str, str | None], frozenset[str]]:
        found: dict[tuple[str, str | None], frozenset[str]] = {}
        for source in self.record.sources:
            if source.system is not None and source.table is not None and not source.group_by:
                where = (source.system, source.table)
                found[where] = found.get(where, frozenset()) | frozenset(source.bindings)
        return found

    @property
    def origin(self) -> str:
        """The first origin (with one origin, the origin)."""
        return self.origins[0]

    def creates_in(self, name: str) -> bool:
        """Does written system ``name`` get ``create``? When an origin other than itself exists: with one origin
        every other written system, with several every written system (an entity born in one origin is
        created in the others)."""
        return name in self._created

    @functools.cached_property
    def _created(self) -> frozenset[str]:
        return frozenset(name for name in self.written if any(origin != name for origin in self.origins))

    @functools.cached_property
    def sends(self) -> tuple[Sends, ...]:
        """Every kind of command :func:`~streams.flows.customers.sync.decide` (and a re-derivation) can send to each
        written system: ``create`` where it :meth:`creates_in`, the link's ``update`` carrying another system's id
        back (its ``link_back``), the payload's ``update`` of the fields its ``writes`` lists, and its
        ``on_inactive`` when those include ``active``. Each with the fields its payload can carry
        (:meth:`carried_by`; the link's: the link record's)."""
        found: list[Sends] = []
        for name, role in self.written.items():
            at, payload, carries = ("systems", name), (role.payload or self.record).target, self.carried_by(role)
            sends = functools.partial(Sends, target=name, kept=self.record.target)
            if self.creates_in(name):
                found.append(sends(payload_type=payload, operation="create", at=at, carries=carries,
                                   why=f"an entity born in {' or '.join(o for o in self.origins if o != name)}"))
            if role.link_back:
                found.append(sends(payload_type=self.link.target, operation="update",
                                   at=(*at, "observes"), why=f"the link back of {', '.join(role.link_back)}",
                                   carries=frozenset(self.link_fields)))
            unlinked = self.id_fields_of(role) if self.creates_in(name) else frozenset()
            if role.record_writes:
                found.append(sends(payload_type=payload, operation="update", at=(*at, "writes"),
                                   why=f"a change of {', '.join(role.record_writes)}", carries=carries,
                                   unlinked=unlinked, clears=self.cleared_in(role)))
            ending = role.on_inactive or self.on_inactive
            if self.active is not None and self.active in role.record_writes and ending != "ignore":
                found.append(sends(payload_type=payload, operation=ending,
                                   at=(*at, "on_inactive" if role.on_inactive else "writes"),
                                   why=f"an entity whose {self.active} turns false", carries=carries,
                                   unlinked=unlinked))
        return tuple(found)

    def id_fields_of(self, role: SystemRole) -> frozenset[str]:
        """The payload fields of commands to ``role``'s system that carry its own id of the record (its ``id``,
        through its payload mapping when it has one): null until that system's row of the entity is seen."""
        if role.id is None:
            return frozenset()
        if role.payload is None:
            return frozenset({role.id})
        return frozenset(name for source in role.payload.sources if source.record is not None
                         for name, binding in source.bindings.items()
                         if binding.column == role.id and binding.expression is None and not binding.steps)

    def cleared_in(self, role: SystemRole) -> frozenset[str]:
        """The payload fields an ``update`` to ``role``'s system can name changed while they hold null: the
        nullable fields of its ``writes`` that its ``cannot_clear`` leaves to be cleared (a child list is a list,
        never null), through its payload mapping when it has one (a binding that reads only such fields, with no
        ``default`` or ``required`` step, into a nullable payload field)."""
        fields = (frozenset(role.record_writes) & self.nullable) - role.cannot_clear - frozenset(role.lists)
        if role.payload is None:
            return fields
        return frozenset(name for source in role.payload.sources if source.record is not None
                         for name, binding in source.bindings.items()
                         if binding.reads and binding.reads <= fields and _nullable(binding.avro_type)
                         and not any(isinstance(step, DefaultStep | RequiredStep) for step in binding.steps))

    def carried_by(self, role: SystemRole) -> frozenset[str]:
        """The fields the payload of a command to ``role``'s system can hold
        (:func:`~streams.flows.customers.sync.command_payload`): those its payload mapping fills, else the
        record's, without the child lists its ``writes`` leaves out (they are built only for a system that
        writes them)."""
        if role.payload is not None:
            return frozenset(name for source in role.payload.sources if source.record is not None
                             for name in source.bindings)
        return self.record_fields - {name for name in self.child_fields if name not in role.lists}

    @functools.cached_property
    def write_only(self) -> tuple[str, ...]:
        """The written systems that are not captured (``capture: none``): no echo comes back from them."""
        return tuple(name for name, role in self.written.items() if not role.captured)

    @functools.cached_property
    def targets(self) -> tuple[SystemRole, ...]:
        """Written systems that get ``create`` once the entity exists in an origin other than themselves."""
        return tuple(r for name, r in self.written.items() if self.creates_in(name))

    @functools.cached_property
    def order(self) -> tuple[SystemRole, ...]:
        """The written systems in the order one change's commands go out: those that are no origin first, then
        the origins in the section's order."""
        first = tuple(r for name, r in self.written.items() if name not in self.origins)
        return (*first, *(self.written[o] for o in self.origins if o in self.written))

    @functools.cached_property
    def reports_active(self) -> frozenset[str]:
        """The written systems that report the record's ``active`` field (a source of theirs in the record maps it,
        or their link rows observe it): the end sent to one comes back, as the field false or as its row gone, so
        nothing more is sent there while it is in flight (:func:`~streams.flows.customers.sync.decide`)."""
        active = self.active
        if active is None:
            return frozenset()
        return frozenset(name for name, role in self.written.items() if role.captured and (
            active in role.observes or any(active in s.bindings for s in self.record.sources
                                           if s.system == name and s.table is not None and not s.group_by)))

    @functools.cached_property
    def row_claims(self) -> Mapping[str, str]:
        """Per record source whose rows make the key of their own columns (no look-up), the name an entity's state
        records its rows under (:meth:`~streams.flows.customers.state.CustomerState.claim`): one such row is one
        record, so two live rows of the source on one key are refused (``MergedRows``), while an address found
        through its customer's id is one of several rows of its entity. The name is the source's table,
        ``system.table`` (as states always named it), or, where several such sources read one table (one ``when``
        each: a vendor's orders and invoices e-mail rows), ``system.table (source)``: each source has its own rows,
        so a row of each is no second row."""
        keyed = [s for s in self.record.sources if self.key in s.bindings and not keyed_by_lookup(s, (self.key,))]
        tables = Counter((s.system, s.table) for s in keyed)
        return {s.name: f"{s.system}.{s.table}" + (f" ({s.name})" if tables[(s.system, s.table)] > 1 else "")
                for s in keyed}

    @functools.cached_property
    def stamped_ids(self) -> tuple[str, ...]:
        """The ids whose first value stamps ``linked_at``: those of the systems that get ``create``."""
        return tuple(r.id for r in self.targets if r.id is not None)


def _fields(named: Mapping[str, Any], record: str) -> list[Mapping[str, Any]]:
    schema = named.get(record)
    return list(schema.get("fields", ())) if isinstance(schema, Mapping) else []


def _nullable(avro_type: Any) -> bool:
    return avro_type == "null" or (isinstance(avro_type, list) and "null" in avro_type)


def _text(avro_type: Any) -> bool:
    """Whether a field of ``avro_type`` always holds text (an entity's key: the flow keys its state by it)."""
    return avro_type == "string" or (isinstance(avro_type, Mapping) and avro_type.get("type") == "string")


def _type_name(avro_type: Any) -> str:
    """``avro_type`` as a schema writes it, short (``long``, ``["null", "string"]``)."""
    if isinstance(avro_type, Mapping):
        logical = avro_type.get("logicalType")
        return f"{avro_type.get('type')} ({logical})" if logical else str(avro_type.get("type"))
    if isinstance(avro_type, list):
        return "[" + ", ".join(f'"{_type_name(t)}"' for t in avro_type) + "]"
    return str(avro_type)


def keyed_by_lookup(source: SourceMapping, key: tuple[str, ...]) -> bool:
    """Whether ``source`` finds the record of key fields ``key`` (or its parent) through a look-up, rather than
    making the key of the row's own columns."""
    bindings = [source.parent_key] if source.parent_key is not None else [source.bindings.get(k) for k in key]
    return any(isinstance(s, LookupStep) for b in bindings if b is not None for s in b.steps)


def _reads(record: RecordMapping, link: RecordMapping,
           children: tuple[RecordMapping, ...]) -> dict[tuple[str, str], Reads]:
    found: dict[tuple[str, str], Reads] = {}

    def add(mapping: RecordMapping, role: str) -> None:
        for source in mapping.sources:
            if source.table is None or source.system is None or source.group_by:
                continue  # canonical records and aggregates are other blocks' inputs
            where = (source.system, source.table)
            reads = found.get(where) or Reads(system=source.system, table=source.table)
            remember = (reads.remember or keyed_by_lookup(source, mapping.key)
                        or not source.placed_by_row_key(mapping.key))
            if role == "child" and mapping in reads.children:
                continue
            whole = not source.key_only_before and (reads.whole_images or where not in found)
            changed: dict[str, Any] = {"remember": remember, "whole_images": whole}
            if role == "record":
                changed["record"] = True
            elif role == "link":
                changed["link"] = True
            else:
                changed["children"] = (*reads.children, mapping)
            found[where] = dataclasses.replace(reads, **changed)

    add(record, "record")
    add(link, "link")
    for child in children:
        add(child, "child")
    return found


def _lookups_for(source: SourceMapping, record: str) -> list[tuple[str, str, str]]:
    """``(binding, by, field)`` of each look-up of ``record`` that ``source`` makes: a field's binding, or its
    parent key (named ``parent_key``)."""
    bindings = [*source.bindings.items(), *([("parent_key", source.parent_key)] if source.parent_key else [])]
    return [(name, step.by, step.field) for name, binding in bindings for step in lookup_steps(binding)
            if short_name(step.record) == record]


def entity_config(flow: FlowFile, mappings: Mapping[str, RecordMapping], named: Mapping[str, Any],
                  systems: Systems) -> EntityConfig:
    """The checked section of ``flow``; raises FlowFileError with every problem (file, line, field, fix), or
    FlowUnavailable when a mapping file it names is missing."""
    section = Section(flow)
    section.only(KEYS)
    record = section.mapping("record", mappings)
    link = section.mapping("link", mappings)
    child_stems = section.texts("children", fix="`children: [<mapping file stem>, ...]` (files with `parent:`)")
    children: list[RecordMapping] = []
    # The listed children by their record: a file whose parent is one of them is a grandchild.
    child_records = {short_name(m.target): name for name in child_stems if (m := mappings.get(name)) is not None}
    for stem in child_stems:
        child = mappings.get(stem)
        if child is None:
            section.lacks(stem, "children", mappings)
        elif record is None:
            continue  # the record's mapping file is missing: the flow is unavailable, nothing to check against
        elif (child.parent is not None and short_name(child.parent.record) != short_name(record.target)
              and short_name(child.parent.record) in child_records):
            parent = short_name(child.parent.record)
            section.add(section.line("children"), "children",
                        f"mappings/{stem}.yaml is a child of {parent} (mappings/{child_records[parent]}.yaml), "
                        f"itself a child of {short_name(record.target)}: an entity keeps one level of child "
                        "lists, a list inside a child's items (grandchildren) is not built",
                        f"keep {short_name(child.target)} as a list of the record itself: `parent: {{record: "
                        f"{short_name(record.target)}, field: <a list field of it>, key: <its key>}}`, with "
                        f"a `parent_key` that names the record and an item field that names the "
                        f"{parent} it belongs to (e.g. its line number)")
        elif child.parent is None or short_name(child.parent.record) != short_name(record.target):
            section.add(section.line("children"), "children",
                        f"mappings/{stem}.yaml is not a child of the record (its `parent:` must name "
                        f"{short_name(record.target)})",
                        "list only mapping files whose `parent: {record: <the record>, field: <list field>}` "
                        "names the entity's record")
        else:
            children.append(child)
    publish = section.text("publish", fix="`publish: <topic of the reconciled record>`")
    origins = _origins(section, systems)
    on_inactive = section.choice("on_inactive", ON_INACTIVE, default="deactivate")
    transactions = section.choice("transactions", TRANSACTIONS, default="net")
    transaction_limit = section.whole("transaction_limit", default=TRANSACTION_LIMIT)
    on_recreate = section.choice("on_recreate", ON_RECREATE, default="reactivate")
    deletes = section.choice("deletes", DELETES, default="") or None
    record_fields = {str(f["name"]): f for f in _fields(named, record.target)} if record else {}
    link_fields = [str(f["name"]) for f in _fields(named, link.target)] if link else []

    def record_field(key: str) -> str | None:
        value = section.text(key, default="")
        if value and record is not None and value not in record_fields:
            section.add(section.line(key), key, f"{value!r} is not a field of {record.target}",
                        f"name one of {', '.join(record_fields)}, or leave `{key}` out")
            return None
        return value or None

    active = record_field("active")
    if active and deletes:
        section.add(section.line("deletes"), "deletes", f"`deletes: {deletes}` says a delete ends nothing, but the "
                    f"section names `active: {active}`, which a delete ends the entity through",
                    "leave `deletes` out (with `active`, each source's `on_delete` says what its delete does)")
    updated_at = record_field("updated_at")
    linked_at = section.text("linked_at", default="") or None
    if linked_at and link is not None and linked_at not in link_fields:
        section.add(section.line("linked_at"), "linked_at", f"{linked_at!r} is not a field of {link.target}",
                    f"name one of {', '.join(link_fields)}, or leave `linked_at` out")
        linked_at = None
    lists = {child.parent.field: child for child in children if child.parent is not None}
    roles = _systems(section, mappings, systems, record, set(record_fields) if record else None,
                     set(link_fields) if link else None, active, _held_lists(lists, named),
                     _Kinds(named=named, fields={name: f["type"] for name, f in record_fields.items()}))
    ids = {role.id: name for name, role in roles.items() if role.id is not None}
    roles = {name: SystemRole(**{**role.__dict__, "link_back": tuple(
        f for f in role.observes if f in ids and ids[f] != name)}) for name, role in roles.items()}
    for name, role in roles.items():
        born_elsewhere = any(o != name for o in origins)
        if (born_elsewhere and role.id is None and link is not None and name in systems and systems[name].writable
                and systems[name].captured):  # a write-only system's id never reaches the link
            section.add(section.line("systems"), f"systems.{name}.id", "missing",
                        f"add `id: <link field with the entity's id in {name}>`: {name} gets `create` "
                        f"until the link has it (one of {', '.join(link_fields)})")
    for name, role in roles.items():
        unowned = sorted(f for f in role.cannot_clear if record is not None and f not in record.policies)
        if unowned:
            section.add(section.line("systems"), f"systems.{name}.cannot_clear",
                        f"{', '.join(unowned)} has no owner and policy in {record.name if record else 'the record'}"
                        ".yaml", "list only fields the record's mapping gives an owner and a policy")
    indexed: list[str] = []
    if record is not None and link is not None:
        if len(record.key) != 1:
            section.add(section.line("record"), "record", f"{record.name}.yaml has a composite key "
                        f"({', '.join(record.key)})", "an entity's record is keyed by one field")
        elif record.key[0] in record_fields and not _text(record_fields[record.key[0]]["type"]):
            key = record.key[0]
            section.add(section.line("record"), "record",
                        f"{record.name}.yaml keys its entities by {key}, which {short_name(record.target)} declares "
                        f"as {_type_name(record_fields[key]['type'])}: an entity flow keeps its entities by text, so "
                        "every change would be dead-lettered (`the change maps to ... it must be non-empty text`)",
                        f"declare {key} as \"string\" in the schema, and bind it as text in each source of the "
                        f"record, its link and its children (a number column: `{key}: {{compute: \"str(<column>)\"}}`)")
        reads = _reads(record, link, tuple(children))
        read = [(m, s) for m in (record, link, *children) for s in m.sources
                if (s.system, s.table) in reads and not s.group_by]
        sources = [s for _, s in read]
        the_link = short_name(link.target)
        for looked_up, by, _ in sorted(lookups_of(sources)):
            if looked_up == the_link:
                if by not in indexed:
                    indexed.append(by)
                continue
            where = sorted({f"mappings/{m.name}.yaml:{s.line} (source {s.name}, {field})"
                            for m, s in read for field, step_by, _ in _lookups_for(s, looked_up) if step_by == by})
            section.add(section.line("link"), "link",
                        f"{', '.join(where) or 'a source of the flow'} looks up {looked_up} by {by}, not the "
                        f"link {the_link}: an entity flow joins no other record into its entities (nor sends "
                        f"them again when a {looked_up} changes)",
                        f"an entity flow looks up only its link (`lookup: {{record: {the_link}, by: <a field of "
                        f"it>}}`): bind the value from a column of the source's own table, or send its id ({by}) "
                        "and let the target resolve it")
    section.done()
    assert record is not None and link is not None  # done() raised otherwise
    written = {name: role for name, role in roles.items() if systems[name].writable}
    defaults = {name: f["default"] for name, f in record_fields.items()
                if f.get("default") is not None and not isinstance(f["default"], (list, dict))}
    provenance = next((name for name, f in record_fields.items() if isinstance(f["type"], Mapping)
                       and f["type"].get("type") == "map"
                       and short_name(str(f["type"].get("values"))) == FIELD_STAMP), None)
    key = record.key[0]
    required = tuple(name for name, f in record_fields.items()
                     if name != key and "default" not in f and not _nullable(f["type"]))
    warnings = _unended(section, record, written, active, on_inactive) + _char_columns(section, record, written)
    if active is None and deletes is None:
        warnings += _ignored_deletes(section, record, link, origins, written, record_fields)
    warnings += read_times(section, record, origins)
    return EntityConfig(
        name=flow.name, description=flow.description, record=record, link=link, children=tuple(children),
        publish=publish, origins=origins,
        active=active, on_inactive=on_inactive, transactions=transactions,
        transaction_limit=transaction_limit, on_recreate=on_recreate, deletes=deletes,
        updated_at=updated_at, linked_at=linked_at, written=written,
        observes={name: role.observes for name, role in roles.items() if role.observes},
        key=key, defaults=defaults, required=required, provenance=provenance, record_fields=frozenset(record_fields),
        link_fields=tuple(link_fields), indexed=tuple(indexed), reads=_reads(record, link, tuple(children)),
        clocks=systems.clocks, warnings=warnings,
        personal=frozenset(name for name, f in record_fields.items() if f.get("pii")),
        nullable=frozenset(name for name, f in record_fields.items() if _nullable(f["type"])))


def _enders(record: RecordMapping, active: str) -> dict[str, str]:
    """The systems that can end an entity, each with how: a source of it maps ``active`` or sets it false on a
    delete, and the field's policy lets it win (its owner, or any system under ``latest_commit_wins``; a field
    with no policy: any)."""
    policy = record.policies.get(active)
    enders: dict[str, str] = {}
    for source in record.sources:
        system = source.system
        if system is None or system in enders or (policy is not None and policy.policy is not
                                                   Policy.LATEST_COMMIT_WINS and policy.owner != system):
            continue
        if active in source.bindings:
            enders[system] = f"a source of it maps {active} ({source.name})"
        elif source.on_delete is not None and source.on_delete.get(active) is False:
            enders[system] = f"a delete there sets {active} false ({source.name}.on_delete)"
    return enders


def _unended(section: Section, record: RecordMapping, written: Mapping[str, SystemRole], active: str | None,
             on_inactive: str) -> tuple[str, ...]:
    """A warning for each written system that is to get ``on_inactive`` when the entity ends, but never will: the
    command is sent only when ``active`` is among the fields the system's ``writes`` lists, and it is not there,
    while another system can end the entity (a delete there would silently do nothing in this one)."""
    if active is None:
        return ()
    enders = _enders(record, active)
    where = f"mappings/{record.path.name}"
    warnings = []
    for name, role in written.items():
        others = {system: how for system, how in enders.items() if system != name}
        if (role.on_inactive or on_inactive) == "ignore" or active in role.writes or not others:
            continue
        source = next((s.name for s in _reporting_sources(record, name)), None)
        how = "; ".join(f"{system}: {text}" for system, text in sorted(others.items()))
        mapped = (f"map it back from {name} (`{active}: {{from: <column>}}`, or from a status, e.g. `{active}: "
                  f"{{compute: \"status != 'storniert'\"}}`, under sources.{source}.fields of {where}), add it to "
                  f"systems.{name}.writes" if source is not None else
                  f"add it to systems.{name}.writes")
        warnings.append(str(Problem(
            file=section.flow.path, line=section.line("systems"), field=f"{section.where}.systems.{name}",
            message=(f"{name} is to get `{role.on_inactive or on_inactive}` when the entity ends, but never will: "
                     f"it is sent only to a system whose writes list {active}, and {name}'s do not, while the "
                     f"entity can end elsewhere ({how}), so that end silently does nothing in {name}"),
            fix=(f"to send it, {mapped} and give {name}'s target a route for the `{role.on_inactive or on_inactive}` "
                 f"command; or, if {name} is to keep such entities, set `systems.{name}.on_inactive: ignore` "
                 "knowingly"))))
    return tuple(warnings)


def _ignored_deletes(section: Section, record: RecordMapping, link: RecordMapping, origins: tuple[str, ...],
                     written: Mapping[str, SystemRole], record_fields: Mapping[str, Any]) -> tuple[str, ...]:
    """Without ``active`` nothing ends an entity: a warning, when the entity lives in more than one system, of what a
    delete of its row in each system that has one (a table source of the link) does instead: nothing in the others,
    which keep their rows; and, where an origin other than that system still has it, ``create`` again there."""
    deleting = list(dict.fromkeys(s.system for s in link.sources if s.system is not None and s.table is not None))
    elsewhere = list(dict.fromkeys((*deleting, *written)))
    told = []
    for system in deleting:
        others = [other for other in elsewhere if other != system]
        if not others:
            continue
        told.append(f"a delete in {system} leaves {_and(others)} as {'they are' if len(others) > 1 else 'it is'}")
        if system in written and any(origin != system for origin in origins):
            told[-1] += (f", and {system} gets `create` again while {_and([o for o in origins if o != system], 'or')} "
                         "still has the entity: the row deleted there comes back")
    if not told:
        return ()
    flags = [name for name, f in record_fields.items() if f["type"] in ("boolean", ["null", "boolean"])]
    flag = "active" if "active" in flags else "<field>"
    named = f"`active: {flag}`, " + (f"{record.target}'s boolean field" if flag in flags else
                                     f"a boolean field of {record.target}: {', '.join(flags)}" if flags else
                                     f"a boolean field to add to {record.target}, `\"default\": true`")
    return (str(Problem(
        file=section.flow.path, line=section.line("active"), field=f"{section.where}.active",
        message=(f"the section names no `active`, so a delete ends no entity: {'; '.join(told)} (flows/README.md, "
                 "\"What ends an entity\")"),
        fix=(f"to make a delete end the entity, name the field that says it lives ({named}), have each system whose "
             f"delete is to end it set it false (`on_delete: {{set: {{{flag}: false}}}}` in its source of mappings/"
             f"{record.path.name}; the field's policy must let that system win it), and list {flag} in the writes of "
             "the systems that are to hear of the end (mapped back from their source): they get their `on_inactive` "
             "(`deactivate` by default, a route for it in their target); or, if a delete is to end nothing, say so "
             "with `deletes: ignore` in the section"))),)


def _and(names: list[str], word: str = "and") -> str:
    return ", ".join(names[:-1]) + f" {word} {names[-1]}" if len(names) > 1 else names[0]


def _origins(section: Section, systems: Systems) -> tuple[str, ...]:
    """``origin: <system>`` or ``origin: [<system>, ...]``: each a declared system, named once."""
    fix = "`origin: <system where entities are born>`, or `origin: [<system>, <system>]` for several"
    node = section.get("origin")
    if node is None or node.value in (None, "", []):
        section.add(section.line("origin"), "origin", "missing", fix)
        return ()
    origins = section.texts("origin", fix=fix)
    line = section.line("origin")
    for name in origins:
        if name not in systems:
            section.add(line, "origin", f"unknown system {name!r}",
                        f"origin: one of {', '.join(systems)} (systems/<name>.yaml)")
        elif not systems[name].captured:
            section.add(line, "origin", f"{name} is written only (capture: none): no entity is seen being born "
                        "there", f"origin: a captured system ({', '.join(systems.captured) or 'none declared'})")
    twice = sorted({name for name in origins if origins.count(name) > 1})
    if twice:
        section.add(line, "origin", f"{', '.join(twice)} named more than once", "name each origin once")
    return origins


def _held_lists(lists: Mapping[str, RecordMapping], named: Mapping[str, Any]) -> dict[str, _ChildList]:
    """Per child list field of the record, its child mapping and the item record's fields with their defaults."""
    return {name: _ChildList(child=child, fields=tuple((str(f["name"]), f.get("default"))
                                                       for f in _fields(named, child.target)))
            for name, child in lists.items()}


@dataclass(frozen=True, kw_only=True)
class _ChildList:
    """A list field of the record that a child mapping fills, as the checks of ``systems:`` need it."""

    child: RecordMapping
    fields: tuple[tuple[str, Any], ...]

    def held(self, parts: tuple[str, ...] | None) -> HeldList:
        """The list as a system holds it that keeps ``parts`` of each item (None: all), the key always."""
        kept = (*self.child.key, *(parts or ()))
        return HeldList(key=self.child.key, fields=tuple(
            (name, default) for name, default in self.fields if parts is None or name in kept))


def _systems(section: Section, mappings: Mapping[str, RecordMapping], systems: Systems, record: RecordMapping | None,
             record_fields: set[str] | None, link_fields: set[str] | None,
             active: str | None = None, lists: Mapping[str, _ChildList] | None = None,
             kinds: _Kinds | None = None) -> dict[str, SystemRole]:
    """The ``systems:`` of the section; ``record``/``record_fields``/``link_fields`` None: that mapping file is
    missing (the flow is unavailable), its fields are not checked. ``lists``: the record's child list fields;
    ``kinds``: the record's field types (None: the record's mapping is missing, ``keeps`` is not read)."""
    lists = lists or {}
    node = section.section("systems")
    if node is None:
        return {}
    roles: dict[str, SystemRole] = {}
    for name, _ in node.node.items():
        if name not in systems:
            node.add(node.line(name), name, f"unknown system {name!r}",
                     f"name systems of systems/: {', '.join(systems)}")
            continue
        inner = node.section(name)
        if inner is None:
            continue
        inner.only(SYSTEM_KEYS)
        role_id = inner.text("id", default="") or None
        if role_id and link_fields is not None and role_id not in link_fields:
            inner.add(inner.line("id"), "id", f"{role_id!r} is not a field of the link record",
                      f"id: one of {', '.join(sorted(link_fields))}")
        payload = inner.mapping("payload", mappings, required=False)
        on_inactive = inner.choice("on_inactive", ON_INACTIVE, default="") or None
        writes, lines = _writes(inner, inner.get("writes"), record_fields)
        observes: dict[str, str] = {}
        observed = inner.get("observes")
        if observed is not None and not systems[name].captured:
            inner.add(observed.line, "observes", f"{name} is written only (capture: none): no row of it arrives",
                      "remove observes: it names columns of the system's rows, which Isthmus never reads")
        elif observed is not None:
            if not observed.is_mapping:
                inner.add(observed.line, "observes", "must be a mapping",
                          "observes: {<record field>: <column of the link row>}")
            else:
                for field_name, column in observed.items():
                    if (record_fields is not None and field_name not in record_fields) or not isinstance(
                            column.value, str):
                        inner.add(column.line, f"observes.{field_name}",
                                  f"{field_name!r} is not a field of the record, or its column is not text",
                                  "observes: {<record field>: <column of the link row>}")
                    else:
                        observes[field_name] = column.value
        if record is not None and systems[name].writable:
            _unseen_writes(inner, name, record, writes, lines, observes, lists)
            _unwritten_wins(inner, name, record, writes, active)
            _unwritten_lists(inner, name, payload, writes, lists)
            _uncarried_writes(inner, name, payload, lines)
        roles[name] = SystemRole(name=name, writes=writes, observes=observes, id=role_id, payload=payload,
                                 on_inactive=on_inactive, cannot_clear=_cannot_clear(inner, writes),
                                 captured=systems[name].captured,
                                 lists={f: lists[f].held(parts) for f, parts in writes.items() if f in lists},
                                 keeps=_kept_forms(inner, name, systems[name].time_zone, writes, record, kinds)
                                 if kinds is not None else {})
    return roles


@dataclass(frozen=True, kw_only=True)
class _Kinds:
    """The record's field types, as ``keeps`` checks its transforms against them."""

    named: Mapping[str, Any]
    fields: Mapping[str, Any]

    def of(self, name: str) -> Kind:
        return from_avro(self.fields[name], dict(self.named))

    def digits(self, name: str) -> int | None:
        """The digits of a second's fraction the field holds, if it is a time (:func:`avro_digits`)."""
        return avro_digits(self.fields[name], dict(self.named)) if name in self.fields else None

    @functools.cached_property
    def environment(self) -> Environment:
        """What compiling a transform step may consult: the record's named types (a flow file declares no value
        maps or plugins of its own; an installed plugin is found by its entry point)."""
        return Environment(schemas=SchemaSet(directory=Path(), files={}, named=self.named))


#: The transforms that say where a value comes from, not the form a system keeps it in: ``keeps`` refuses them.
_NOT_FORMS = {"lookup": "reads another record", "parse_json": "reads JSON text", "required": "refuses a null"}


def _kept_forms(section: Section, system: str, time_zone: str, writes: Mapping[str, tuple[str, ...] | None],
                record: RecordMapping | None, kinds: _Kinds) -> dict[str, KeptForm]:
    """The form ``system`` keeps each field of ``writes`` in that it does not store as sent: the declared one
    (:func:`_keeps`), else how its columns store it (:func:`_stored_forms`: a time's fraction, a CHAR's spaces); then
    the local round trip of a time it holds zone-less (:func:`_local_round_trips`); each run in the system's
    context, as its source would (its ``time_zone`` for a step given no ``zone:``)."""
    declared = _keeps(section, writes, kinds)
    bound = _plain_bindings(system, writes, record)
    stored = _stored_forms(bound, kinds)
    trips = _local_round_trips(bound, time_zone)
    given = StepInput(row={}, context=Context(time_zones={system: time_zone}, system=system))
    return {name: KeptForm(steps=(*declared.get(name, stored.get(name, ())), *trips.get(name, ())), given=given)
            for name in {**declared, **stored, **trips}}


def _plain_bindings(system: str, writes: Mapping[str, tuple[str, ...] | None],
                    record: RecordMapping | None) -> dict[str, list[tuple[SourceMapping, FieldBinding]]]:
    """The plain fields of ``writes``, each with every binding of it in a source of ``system`` (and that source)."""
    found: dict[str, list[tuple[SourceMapping, FieldBinding]]] = {}
    for source in record.sources if record is not None else ():
        if source.system != system:
            continue
        for name, binding in source.bindings.items():
            if name in writes and writes[name] is None:
                found.setdefault(name, []).append((source, binding))
    return found


def _stored_forms(bound: Mapping[str, list[tuple[SourceMapping, FieldBinding]]],
                  kinds: _Kinds) -> dict[str, tuple[Step, ...]]:
    """How the system's columns store the fields its sources read from them (``SourceMapping.stores``, from its
    columns file), where every source of the system reads the field from a column of one rule:
    - a time column keeping fewer digits of a second's fraction than the record's field holds (``DATETIME`` keeps
      whole seconds, a ``timestamp-micros`` field six digits): MariaDB cuts the rest off, MySQL and PostgreSQL
      round it; its source's own steps (``local_to_utc``) run after;
    - a ``CHAR`` column read straight (no step): trailing spaces dropped on MariaDB/MySQL, padded to its length on
      PostgreSQL: the echo of '12345 ' written to a MariaDB ``CHAR(5)`` is '12345'."""
    forms: dict[str, tuple[Step, ...]] = {}
    for name, bindings in bound.items():
        time = _common_store(bindings, straight=False)
        held = kinds.digits(name)
        if isinstance(time, (TruncateStep, RoundStep)) and held is not None and time.digits < held:
            forms[name] = (time,)
        elif isinstance(char := _common_store(bindings, straight=True), CharStep):
            forms[name] = (char,)
    return forms


def _common_store(bindings: list[tuple[SourceMapping, FieldBinding]], *, straight: bool) -> Step | None:
    """The step every binding's column stores a value through (the same for all), read with no expression (and,
    ``straight``, no step of the source's either); None when a binding reads otherwise, or the columns differ."""
    stored = [source.stores.get(binding.column) if binding.column is not None and binding.expression is None
              and not (straight and binding.steps) else None for source, binding in bindings]
    return stored[0] if all(step == stored[0] for step in stored) else None


def _char_columns(section: Section, record: RecordMapping, written: Mapping[str, SystemRole]) -> tuple[str, ...]:
    """A warning for each written field a system keeps in a ``CHAR`` column (its form derived, :func:`_stored_forms`;
    a declared ``keeps`` says it is known): the echo settles, but the two systems hold different texts for good."""
    warnings = []
    for system, role in written.items():
        bound = _plain_bindings(system, role.writes, record)
        for name, form in role.keeps.items():
            char = next((step for step in form.steps if isinstance(step, CharStep)), None)
            if char is None:
                continue
            source, binding = bound[name][0]
            column = f"{source.table}.{binding.column}"
            loss = ("which drops trailing spaces: a value sent with them is kept without" if char.length is None
                    else f"which pads a shorter text with spaces to {char.length}: a value sent without them is "
                    "kept with them")
            warnings.append(str(Problem(
                file=section.flow.path, line=section.line("systems"), field=f"{section.where}.systems.{system}",
                message=f"{system} keeps {name} in CHAR column {column}, {loss}",
                fix=f"use VARCHAR or trim the value in the payload mapping; declare systems.{system}.keeps.{name} "
                    "if the difference is meant")))
    return tuple(warnings)


def _local_round_trips(bound: Mapping[str, list[tuple[SourceMapping, FieldBinding]]],
                       time_zone: str) -> dict[str, tuple[Step, ...]]:
    """The fields that every source of the system (in ``time_zone``) reads ending with ``local_to_utc`` (a
    zone-less local time, in a zone other than UTC), each with its round trip: the column holds a wall-clock time,
    so what the system reports of an instant Isthmus sent is that instant through ``utc_to_local`` and back through
    the source's own ``local_to_utc``. An instant of a repeated hour's other pass comes back as the one the
    source's policy picks (an hour off), never as sent; every other instant comes back as it was. Not where a
    sibling column decides a repeated time (the system keeps the offset) or the step refuses one."""
    trips: dict[str, tuple[Step, ...]] = {}
    for name, bindings in bound.items():
        last, *others = [binding.steps[-1] if binding.steps else None for _, binding in bindings]
        if (isinstance(last, LocalToUtcStep) and all(other == last for other in others)
                and last.policy.decided_by is None and last.ambiguous is not Ambiguous.RAISE
                and (last.zone or time_zone) not in _NO_DST):
            trips[name] = (UtcToLocalStep(zone=last.zone), last)
    return trips


#: Zones whose wall-clock time is UTC's: a time held zone-less there comes back as sent.
_NO_DST = ("UTC", "Etc/UTC")


def _keeps(section: Section, writes: Mapping[str, tuple[str, ...] | None],
           kinds: _Kinds) -> dict[str, tuple[Step, ...]]:
    """``keeps: {<field of writes>: [<transform>, ...]}``: the form the system keeps each such field in, since it
    normalises what it is sent (trims and lowercases an e-mail, rounds an amount to cents), as the chain of mapping
    transforms that turns a value sent into the value it stores, compiled here once. Each must be a plain field of
    ``writes`` whose kind the chain takes, and the chain's result must still fill the field."""
    node = section.get("keeps")
    if node is None:
        return {}
    fix = ("keeps: {<field of writes>: [<transform>, ...]}, e.g. `keeps: {email: [trim, lower], amount: [{decimal: "
           "{scale: 2, rounding: half_even}}]}`")
    if not node.is_mapping:
        section.add(node.line, "keeps", "must be a mapping", fix)
        return {}
    forms: dict[str, tuple[Step, ...]] = {}
    for name, chain in node.items():
        where = f"keeps.{name}"
        if name not in writes or name not in kinds.fields:
            section.add(chain.line, where, f"{name!r} is not written into this system",
                        f"name fields of its `writes` ({', '.join(writes) or 'none'}), or add {name} there")
            continue
        kind = kinds.of(name)
        if writes[name] is not None or kind.base in ("record", "array", "map"):
            section.add(chain.line, where, f"{name} is {kind}: keeps says how a system stores a plain value",
                        f"take {name} out of keeps (a record's sub-fields a system keeps are listed in writes)")
            continue
        steps, out, ok = compile_steps(chain, where, kind, kinds.environment, section.add)
        if not ok:
            continue
        unfit = next((step.name for step in steps if step.name in _NOT_FORMS), None)
        problem = fits(out, kind)
        if unfit is not None or not steps:
            section.add(chain.line, where, f"{unfit} {_NOT_FORMS[unfit]}, it is no form a system keeps a value in"
                        if unfit is not None else "lists no transform", fix)
        elif problem is not None:
            section.add(chain.line, where, f"the transforms end with a {out}: {problem[0]}",
                        f"end the chain with a value of {name}'s kind ({kind}), or take {name} out of keeps")
        else:
            forms[name] = steps
    return forms


def _cannot_clear(section: Section, writes: Mapping[str, tuple[str, ...] | None]) -> frozenset[str]:
    """``cannot_clear: [<field>, ...]``: written fields the system's target cannot set to null (its API refuses
    a null, or its column is NOT NULL); each must be one of ``writes``."""
    fix = "cannot_clear: [<field of this system's writes whose null its API refuses>, ...]"
    names = section.texts("cannot_clear", fix=fix)
    for name in names:
        if name not in writes:
            section.add(section.line("cannot_clear"), "cannot_clear",
                        f"{name!r} is not written into this system",
                        f"name fields of its `writes` ({', '.join(writes) or 'none'}), or add {name} there")
    return frozenset(n for n in names if n in writes)


def _unseen_writes(section: Section, name: str, record: RecordMapping,
                   writes: Mapping[str, tuple[str, ...] | None], lines: Mapping[str, int],
                   observes: Mapping[str, str], lists: Mapping[str, _ChildList] | None = None) -> None:
    """Refuse each field of ``writes`` (``lines``: its line there) that system ``name`` never reports: none of
    its sources of the record maps it and it ``observes`` no column for it. Isthmus could not see what the system
    holds for it: an edit made there would go unnoticed, and no echo would ever settle a command of it (see
    :mod:`~streams.flows.customers.mirror`). A system with no source of the record is a write-only target: it
    reports nothing, and nothing is refused. The link's sources do not count: a link row says where the entity
    is, the flow takes no field value of it for what the system holds. A child list (``lists``) is seen when the
    system's source maps it back, typically from the JSON column that keeps it (``parse_json``): the entity flow
    writes a list only whole, into such a column; lines kept as rows of a child table are a ``document`` flow's."""
    sources = _reporting_sources(record, name)
    if not sources:
        return
    seen = {bound for source in sources for bound in source.bindings} | set(observes)
    where = f"mappings/{record.path.name}"
    lists = lists or {}
    for field_name, line in lines.items():
        if field_name in seen:
            continue
        if field_name in lists:
            section.add(line, "writes", (
                f"lists {field_name}, the list of {lists[field_name].child.name} children, but no source of {name} "
                f"in {where} maps it back, so Isthmus cannot see what {name} holds for it (an edit there goes "
                "unnoticed, no echo confirms a write of it)"),
                "an entity flow writes a child list into a system it reads only into a column that keeps the whole "
                f"list: map it back in a source of {name} from that column (a JSON or TEXT column: `{field_name}: "
                f"{{from: <column>, transform: [parse_json]}}` under sources.{sources[0].name}.fields of {where}); "
                f"if {name} keeps the {lists[field_name].child.name} rows in a child table of its own, the record "
                f"and its lines are a document: sync them into {name} with a `document` flow instead "
                "(flows/README.md, \"## document\"); or take it out of writes (and stop reading it in the payload "
                "mapping)")
            continue
        parts = writes.get(field_name)
        example = f"{{fields: {{{parts[0]}: <column>, ...}}}}" if parts else "{from: <column>}"
        section.add(line, "writes", (
            f"lists {field_name}, but no source of {name} in {where} maps it, so Isthmus cannot see what {name} "
            f"holds for it (an edit there goes unnoticed, no echo confirms a write of it)"),
            f"map it in a source of {name} (e.g. `{field_name}: {example}` under sources.{sources[0].name}.fields "
            f"of {where}), or take it out of writes (and out of cannot_clear)")


def _unwritten_lists(section: Section, name: str, payload: RecordMapping | None,
                     writes: Mapping[str, tuple[str, ...] | None], lists: Mapping[str, _ChildList]) -> None:
    """Refuse a payload mapping that reads a child list ``writes`` leaves out: system ``name`` would get the list
    with its ``create`` and never again, for a child's change is no change of a field it is written."""
    if payload is None:
        return
    read = {column for source in payload.sources if source.record is not None
            for binding in source.bindings.values() for column in binding.reads}
    for field_name in sorted(read & set(lists) - set(writes)):
        section.add(section.line("payload"), "payload", (
            f"mappings/{payload.path.name} reads {field_name}, the list of {lists[field_name].child.name} children, "
            f"but writes leaves it out: {name} would get the list when it is created and never a later change of "
            "a child"), f"add {field_name} to writes (and, where {name} is captured, map it back: "
            f"`{field_name}: {{from: <JSON column>, transform: [parse_json]}}` in its source of the record), or stop "
            f"reading it in mappings/{payload.path.name}")


def _uncarried_writes(section: Section, name: str, payload: RecordMapping | None, lines: Mapping[str, int]) -> None:
    """Refuse each field of ``writes`` (``lines``: its line there) that system ``name``'s payload mapping does not
    read: its commands would name the field changed and carry no value of it, and the flow would count it sent (a
    new user's ERP never got ~760 discounts, with no dead letter). Without a payload mapping the record itself is
    sent, which carries every field."""
    if payload is None:
        return
    sources = [source for source in payload.sources if source.record is not None]
    read = {column.split(".", 1)[0] for source in sources for binding in source.bindings.values()
            for column in binding.reads}
    where = f"mappings/{payload.path.name}"
    under = f" under sources.{sources[0].name}.fields" if sources else ""
    for field_name, line in lines.items():
        if field_name in read:
            continue
        section.add(line, "writes", (
            f"lists {field_name}, but {name}'s payload mapping {where} does not read it: its commands would name "
            f"{field_name} changed and carry no value of it, so {name} would never get it while Isthmus counts it "
            "sent"), f"bind it in {where} (`<payload field>: {field_name}`{under}, and map that payload field to a "
            f"column or body field in {name}'s target), or take it out of writes (and out of cannot_clear and keeps)")


def _reporting_sources(record: RecordMapping, system: str) -> list[SourceMapping]:
    """The sources of ``system`` in ``record`` that report what it holds for the entity: its table sources,
    group sums (a balance) aside."""
    return [s for s in record.sources if s.system == system and s.table is not None and not s.group_by]


def _unwritten_wins(section: Section, name: str, record: RecordMapping,
                    writes: Mapping[str, tuple[str, ...] | None], active: str | None) -> None:
    """Refuse each field system ``name`` reports (a source of it maps it) that another system can win (the
    field's owner, or any system under ``latest_commit_wins``) while ``name``'s ``writes`` leaves it out: the
    record would hold the other system's value and ``name`` its own, for good, and nothing would say so. The
    record's ``active`` field is not one: when it turns false, the systems get their ``on_inactive``."""
    reported = {bound for source in _reporting_sources(record, name) for bound in source.bindings}
    # every source of each other system: one may map what another does not
    others = {system: {bound for source in _reporting_sources(record, system) for bound in source.bindings}
              for system in {s.system for s in record.sources if s.system and s.system != name}}
    where = f"mappings/{record.path.name}"
    for field_name in sorted(reported):
        policy = record.policies.get(field_name)
        if field_name in writes or field_name in record.key or field_name == active or policy is None:
            continue
        winners = sorted(system for system, bound in others.items() if field_name in bound and (
            policy.policy is Policy.LATEST_COMMIT_WINS or policy.owner == system))
        if not winners:
            continue
        section.add(section.line("writes"), "writes", (
            f"leaves out {field_name}, which {name} reports (a source of {name} in {where} maps it) and "
            f"{' and '.join(winners)} can win ({policy.policy.value}, owner {policy.owner}): the record would hold "
            f"{winners[0]}'s value and {name} its own, and nothing would write it into {name} or say so"),
            f"add {field_name} to writes (and a route of {name}'s target that sets it), or stop mapping it from "
            f"{name}, or give it to {name} (`{field_name}: {{owner: {name}, policy: owner_wins}}` in {where})")


def _writes(section: Section, node: Node | None,
            record_fields: set[str] | None) -> tuple[dict[str, tuple[str, ...] | None], dict[str, int]]:
    """The written fields (a nested record's with the sub-fields the system keeps) and the line of each."""
    fix = "writes: [<record field>, {<nested record field>: [<sub-field the system keeps>, ...]}, ...]"
    if node is None:
        return {}, {}
    if not node.is_sequence:
        section.add(node.line, "writes", "must be a list", fix)
        return {}, {}
    found: dict[str, tuple[str, ...] | None] = {}
    lines: dict[str, int] = {}
    for item in node.value:
        plain = item.plain()
        name: Any = plain
        parts: tuple[str, ...] | None = None
        if isinstance(plain, dict) and len(plain) == 1:
            name, inner = next(iter(plain.items()))
            if isinstance(inner, list) and inner and all(isinstance(p, str) for p in inner):
                parts = tuple(inner)
            else:
                name = None
        if not isinstance(name, str):
            section.add(item.line, "writes", f"{plain!r} is not a field or {{field: [sub-fields]}}", fix)
            continue
        if record_fields is not None and name not in record_fields:
            section.add(item.line, "writes", f"{name!r} is not a field of the record",
                        f"name one of {', '.join(sorted(record_fields))}")
            continue
        found[name] = parts
        lines[name] = item.line
    return found, lines


def reference_config(mappings: Mapping[str, RecordMapping], named: Mapping[str, Any], systems: Systems,
                     name: str) -> EntityConfig:
    """The entity flow ``name`` of the project's flows/ (the reference pair's configuration)."""
    for flow in load_flow_files(FLOWS_DIR):
        if flow.name == name and flow.block == "entity":
            return entity_config(flow, mappings, named, systems)
    raise LookupError(f"no entity flow named {name!r} in {FLOWS_DIR}")
