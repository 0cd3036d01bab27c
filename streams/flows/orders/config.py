"""The ``document:`` section of a flow file: which mapping files and fields play which role in the ``document``
block, checked once when the flow is built (file, line, field and fix for each problem).

A document is a header mapping file and a lines mapping file (``parent:`` the header's record). Its *origin*
is the system of the header source named by ``origin:``; the lines come from the lines file's source of the
same system, and both are joined along the origin's source transactions. The *target* is the system of the
header source named by ``target:``: the document is created there, and that source's changes flow back to the
origin. The *party* (the customer) is another mapping file with a source in each system; its target-side
values may say whether the target refuses documents (``blocked``), and its balance sources may sum what the
origin's party shows (``balance``): a target without either leaves them out. Every table, column and system
name comes from here, the mapping files and the system files; see flows/README.md (``## document``) for the keys.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streams.flows.commands import Sends
from streams.flows.files import FlowFile, Section
from streams.flows.lookups import short_name
from streams.mapping import RecordMapping, SourceMapping
from streams.mapping.spec import FieldBinding
from streams.mapping.transforms import LookupStep
from streams.systems import Systems

KEYS = ("header", "publish", "lines", "origin", "target", "status", "link", "write_back", "send", "updated", "cancel",
        "update", "party", "balance", "hold")
HOLD_KEYS = ("status", "release")
PARTY_KEYS = ("mapping", "field", "origin", "target", "account", "blocked", "held")
#: The party keys a flow file may leave out: a target that blocks no party, an origin with no status for it.
PARTY_OPTIONAL = ("blocked", "held")
BALANCE_KEYS = ("field", "sources", "column")
CANCEL_KEYS = ("status", "while")
UPDATE_KEYS = ("while",)


@dataclass(frozen=True)
class Reference:
    """How a row names a record it belongs to before the look-up that turns that into the record's key: the
    binding up to its look-up (``ref``), and the field of the looked-up record it matches (``by``)."""

    ref: FieldBinding
    by: str


def reference(binding: FieldBinding | None) -> Reference | None:
    """The part of ``binding`` before its first look-up, or None when it has none."""
    if binding is None:
        return None
    for index, step in enumerate(binding.steps):
        if isinstance(step, LookupStep):
            return Reference(dataclasses.replace(binding, steps=binding.steps[:index], avro_type=["null"]), step.by)
    return None


@dataclass(frozen=True, kw_only=True)
class Party:
    mapping: RecordMapping
    #: The header field naming the party (the party mapping's key).
    field: str
    origin: SourceMapping
    target: SourceMapping
    #: The field (of the header and of the party's target values) holding the target's account id.
    account: str
    #: The party's target field that makes the target refuse documents while true; "": none is blocked.
    blocked: str = ""
    #: The origin status of a document held because its party is blocked (and of a refused one, without a
    #: ``hold.status``); "": the origin keeps its own status, the Hold record says why.
    held: str = ""
    #: How the header names its party before the look-up; ``by`` is a field the party's origin source binds.
    ref: Reference


@dataclass(frozen=True, kw_only=True)
class Balance:
    field: str
    sources: tuple[SourceMapping, ...]
    #: The origin party column that reports the balance back (its echo is recognised by it).
    column: str


@dataclass(frozen=True, kw_only=True)
class Hold:
    """What a document refused by its target (a business answer recorded as a result) does: it is held, the
    origin shows ``status`` (default: the party's ``held``), and it is sent again when one of the ``release``
    fields of its party changes in the target, or when the origin changes the document."""

    status: str
    release: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class DocumentConfig:
    header: RecordMapping
    lines: RecordMapping
    origin: SourceMapping
    lines_source: SourceMapping
    target: SourceMapping
    status: str
    link: str
    #: Header fields the target decides -> the origin columns they are written back to.
    write_back: Mapping[str, str]
    send: tuple[str, ...]
    updated: str
    cancel_status: str
    cancel_while: tuple[str, ...]
    party: Party
    #: The party's balance kept in the origin; None: none is kept.
    balance: Balance | None
    #: How a line names its header before the look-up; ``by`` is a field the header's origin source binds.
    line_ref: Reference
    #: The canonical topic the reconciled documents go to (``isthmus.canonical.<publish>``); "" for none.
    publish: str = ""
    hold: Hold = Hold(status="", release=())
    #: The target statuses (as its CDC reports them) under which an origin edit of a linked document is sent as
    #: an ``update`` (``update: {while: [...]}``); empty: a created document is never updated.
    update_while: tuple[str, ...] = ()

    @property
    def origin_system(self) -> str:
        return str(self.origin.system)

    @property
    def target_system(self) -> str:
        return str(self.target.system)

    @functools.cached_property
    def not_content(self) -> frozenset[str]:
        """The header fields that are no part of the document's content as its origin owns it (what an ``update``
        compares): the ``write_back`` fields, the ``updated`` stamp and the fields the header mapping gives the
        target."""
        return frozenset({*self.write_back, self.updated, *self.header.fields_owned_by(self.target_system)})

    @functools.cached_property
    def content_columns(self) -> frozenset[str]:
        """The origin header columns the document's content reads (a change of another column, the origin's report
        of a written-back value among them, is no edit of it)."""
        return frozenset(column for field, binding in self.origin.bindings.items() if field not in self.not_content
                         for column in binding.reads)

    @property
    def balance_sources(self) -> tuple[SourceMapping, ...]:
        """The party sources that sum its balance; none when no balance is kept."""
        return () if self.balance is None else self.balance.sources

    @functools.cached_property
    def sends(self) -> tuple[Sends, ...]:
        """Every kind of command the flow can send: to the target, the header's ``create``, ``cancel`` and (with
        ``update:``) ``update`` (:mod:`~streams.flows.orders.order`, :mod:`~streams.flows.orders.edits`); to the
        origin, the header's ``update`` writing back what the target decided, and (with ``balance:``) the party's
        ``update`` of its balance (:mod:`~streams.flows.orders.balance`). The header's commands carry the document
        whole, with its lines (:attr:`carries`)."""
        header, target, origin, carries = self.header.target, self.target_system, self.origin_system, self.carries
        found = [Sends(target=target, payload_type=header, operation="create", at=("send",), carries=carries,
                       kept=header, why=f"a document of status {', '.join(self.send)}"),
                 Sends(target=target, payload_type=header, operation="cancel", at=("cancel",), carries=carries,
                       kept=header, why=f"a document cancelled in {origin}")]
        if self.update_while:
            found.append(Sends(target=target, payload_type=header, operation="update", at=("update",), kept=header,
                               why=f"a document edited in {origin}", carries=carries))
        found.append(Sends(target=origin, payload_type=header, operation="update", at=("write_back",), kept=header,
                           why=f"writing back {', '.join(self.write_back)}", carries=carries))
        if self.balance is not None:
            found.append(Sends(target=origin, payload_type=self.party.mapping.target, operation="update",
                               at=("balance",), why=f"the party's {self.balance.field}"))
        return tuple(found)

    @functools.cached_property
    def carries(self) -> frozenset[str]:
        """The fields a command of the header can hold (:func:`~streams.flows.orders.order.canonical`): what the
        header's sources fill, the ``write_back`` fields, the ``updated`` stamp and the lines (the lines file's
        ``parent.field``), always sent."""
        lines = () if self.lines.parent is None else (self.lines.parent.field,)
        return frozenset({*self.header.policies, *(name for s in self.header.sources for name in s.bindings),
                          *self.write_back, self.updated, *lines})

    @property
    def origin_status(self) -> str:
        """The origin column of the document's status."""
        return self.write_back[self.status]

    @classmethod
    def read(cls, flow: FlowFile, mappings: Mapping[str, RecordMapping], systems: Systems,
             named: Mapping[str, Any]) -> DocumentConfig:
        """The section of ``flow``, checked against the mapping files, the declared systems and the Avro named
        types (``named``: the header record's fields); raises
        FlowFileError with every problem, or FlowUnavailable when a mapping file it names is missing."""
        section = Section(flow)
        section.only(KEYS)
        header = section.mapping("header", mappings)
        lines = section.mapping("lines", mappings)
        party_section = section.section("party")
        balance_section = section.section("balance", required=False)
        cancel_section = section.section("cancel")
        hold_section = section.section("hold", required=False)
        update_section = section.section("update", required=False)
        party_mapping = party_section.mapping("mapping", mappings) if party_section else None
        texts = {key: section.text(key) for key in ("origin", "target", "status", "link", "updated")}
        publish = section.text("publish", default="")
        send = section.texts("send", fix="`send: [<origin status>, ...]`: the statuses of a document to create")
        if not send:
            section.add(section.line("send"), "send", "missing", "`send: [<origin status>, ...]`")
        write_back = _write_back(section)
        party_texts = {k: party_section.text(k, default="" if k in PARTY_OPTIONAL else None)
                       for k in PARTY_KEYS if k != "mapping"} if party_section else {}
        if party_section:
            party_section.only(PARTY_KEYS)
        cancel_status = cancel_section.text("status") if cancel_section else ""
        cancel_while = cancel_section.texts("while") if cancel_section else ()
        if cancel_section:
            cancel_section.only(CANCEL_KEYS)
        update_while = _update_while(update_section) if update_section else ()
        if update_section and cancel_status and cancel_status in update_while:
            update_section.add(update_section.line("while"), "while",
                               f"{cancel_status!r} is the cancel status: a cancelled document takes no edit",
                               f"take {cancel_status} out of `while`")
        hold_status = hold_section.text("status", default="") if hold_section else ""
        hold_release = hold_section.texts("release") if hold_section else ()
        if hold_section:
            hold_section.only(HOLD_KEYS)
        if header is None or lines is None or party_mapping is None or party_section is None:
            section.done()  # each missing part is a problem with its line and fix: nothing below can go on
        assert header is not None and lines is not None and party_mapping is not None
        assert party_section is not None
        origin = _source(section, "origin", header, texts["origin"], systems)
        target = _source(section, "target", header, texts["target"], systems)
        for key in ("status", "link"):
            if texts[key] and texts[key] not in write_back:
                section.add(section.line(key), key, f"{texts[key]!r} is not written back",
                            f"add `{texts[key]}: <origin column>` to write_back")
        for key in ("status", "link", "updated", *write_back):
            if key in ("status", "link", "updated"):
                name, where = texts[key], key
            else:
                name, where = key, "write_back"
            fields = _fields(header, named)
            if name and name not in fields:
                section.add(section.line(where), where, f"{name!r} is no field of {header.target}",
                            f"use one of {', '.join(sorted(fields))}")
        if lines.parent is None or short_name(lines.parent.record) != short_name(header.target):
            section.add(section.line("lines"), "lines", f"{lines.path.name} is not the lines of {header.path.name}",
                        f"give {lines.path.name} `parent: {{record: {short_name(header.target)}, field: ..., "
                        "key: ...}`")
        lines_source = None
        line_ref = None
        if origin is not None:
            found = [s for s in lines.sources if s.system == origin.system and s.table is not None]
            if len(found) != 1:
                section.add(section.line("lines"), "lines",
                            f"{lines.path.name} has {len(found)} table sources of {origin.system}, not one",
                            f"give {lines.path.name} one source of system {origin.system}")
            else:
                lines_source = found[0]
                line_ref = reference(lines_source.parent_key)
                if line_ref is None or line_ref.by not in origin.bindings:
                    section.add(section.line("lines"), "lines",
                                f"{lines.path.name} source {lines_source.name} does not name its header by a look-up "
                                f"of a field {origin.name} binds",
                                f"write its parent_key as `from: <column>` with `lookup: {{record: "
                                f"{short_name(header.target)}, by: <a field {origin.name} binds>, ...}}`")
        if origin is not None and target is not None and origin.system == target.system:
            section.add(section.line("target"), "target", f"{target.name} is of the origin's system {origin.system}",
                        "name the header source of the other system")
        party = _party(party_section, party_mapping, party_texts, origin, target, systems)
        balance = _balance(balance_section, party_mapping) if balance_section else None
        if hold_section and party is not None:
            for name in hold_release:
                if name not in party.target.bindings:
                    hold_section.add(hold_section.line("release"), "release",
                                     f"{party.target.name} does not bind {name!r}",
                                     f"name fields of {party.target.name}: {', '.join(sorted(party.target.bindings))}")
        section.done()
        assert origin is not None and target is not None and lines_source is not None and line_ref is not None
        assert party is not None
        return cls(header=header, lines=lines, origin=origin, lines_source=lines_source, target=target,
                   status=texts["status"], link=texts["link"], write_back=write_back, send=send,
                   updated=texts["updated"], cancel_status=cancel_status, cancel_while=cancel_while, party=party,
                   balance=balance, line_ref=line_ref, publish=publish,
                   hold=Hold(status=hold_status or party.held, release=hold_release), update_while=update_while)


def _fields(mapping: RecordMapping, named: Mapping[str, Any]) -> set[str]:
    """The fields of the mapping's target record (its Avro schema's, and what the mapping binds)."""
    schema = named.get(mapping.target)
    declared = [f["name"] for f in schema.get("fields", ())] if isinstance(schema, Mapping) else []
    return {*declared, *mapping.policies, *(f for s in mapping.sources for f in s.bindings)}


def _named(mapping: RecordMapping, name: str) -> SourceMapping | None:
    return next((s for s in mapping.sources if s.name == name), None)


def _balance(section: Section, party: RecordMapping) -> Balance:
    """The ``balance:`` section: the party sources that sum ``field``, and the origin party column reporting it."""
    section.only(BALANCE_KEYS)
    field, column = section.text("field"), section.text("column")
    names = section.texts("sources")
    sources = []
    for name in names:
        source = _named(party, name)
        if source is None or source.table is None:
            section.add(section.line("sources"), "sources", f"{party.path.name} has no table source {name!r}",
                        f"use sources of {party.path.name}")
        elif field not in source.bindings or source.bindings[field].aggregate is None:
            section.add(section.line("sources"), "sources", f"{name} does not sum {field!r}",
                        f"give {name} `{field}: {{sum: <expression>}}` and `group_by:`")
        else:
            sources.append(source)
    if not names:
        section.add(section.line("sources"), "sources", "missing",
                    "`sources: [<party sources that sum the balance>]`")
    return Balance(field=field, sources=tuple(sources), column=column)


def _update_while(section: Section) -> tuple[str, ...]:
    """The ``while:`` of ``update:``: the target statuses under which a created document's edits are sent."""
    section.only(UPDATE_KEYS)
    fix = ("`while: [<target status>, ...]`: the statuses under which the target still takes an edit of a "
           "document it has (e.g. `while: [reserved]`); or leave `update:` out to send no edits")
    statuses = section.texts("while", fix=fix)
    if not statuses and not any(p.field == f"{section.where}.while" for p in section.problems):
        node = section.get("while")
        section.add(section.line("while"), "while", "missing" if node is None else "names no status", fix)
    return statuses


def _write_back(section: Section) -> dict[str, str]:
    node = section.get("write_back")
    value = node.plain() if node is not None else None
    fix = "`write_back: {<header field>: <origin column>, ...}`: what the target decides, and where the origin keeps it"
    if not isinstance(value, dict) or not value or not all(isinstance(k, str) and isinstance(v, str)
                                                          for k, v in value.items()):
        section.add(section.line("write_back"), "write_back", "missing" if node is None else "must map fields to "
                    "columns", fix)
        return {}
    return dict(value)


def _source(section: Section, key: str, mapping: RecordMapping, name: str,
            systems: Systems) -> SourceMapping | None:
    if not name:
        return None
    source = _named(mapping, name)
    if source is None or source.table is None or source.system is None:
        tables = [s.name for s in mapping.sources if s.table is not None]
        section.add(section.line(key), key, f"{mapping.path.name} has no table source {name!r}",
                    f"use one of {', '.join(tables)}")
        return None
    if source.system not in systems:
        section.add(section.line(key), key, f"{name} reads system {source.system!r}, which is not declared",
                    f"declare it in systems/ (declared: {', '.join(systems)})")
        return None
    return source


def _party(section: Section, mapping: RecordMapping, texts: Mapping[str, str], origin: SourceMapping | None,
           target: SourceMapping | None, systems: Systems) -> Party | None:
    party_origin = _source(section, "origin", mapping, texts.get("origin", ""), systems)
    party_target = _source(section, "target", mapping, texts.get("target", ""), systems)
    if origin is None or target is None or party_origin is None or party_target is None:
        return None
    for source, side, system in ((party_origin, "origin", origin.system), (party_target, "target", target.system)):
        if source.system != system:
            section.add(section.line(side), side, f"{source.name} reads {source.system}, the document's {side} is "
                        f"{system}", f"name a source of {mapping.path.name} that reads {system}")
    field = texts.get("field", "")
    ref = reference(origin.bindings.get(field))
    if field and field not in mapping.key:
        section.add(section.line("field"), "field", f"{field!r} is not the key of {mapping.path.name}",
                    f"use the header field holding the party's key ({', '.join(mapping.key)})")
    if field and (ref is None or ref.by not in party_origin.bindings):
        section.add(section.line("field"), "field",
                    f"{origin.name} does not bind {field!r} by a look-up of a field {party_origin.name} binds",
                    f"bind it in {origin.name} as `from: <column>` with `lookup: {{by: <a field of "
                    f"{party_origin.name}>, field: {field}}}`")
    for key, source in (("account", party_target), ("blocked", party_target)):
        name = texts.get(key, "")
        if name and name not in source.bindings:
            section.add(section.line(key), key, f"{source.name} does not bind {name!r}",
                        f"use one of {', '.join(sorted(source.bindings))}")
    if texts.get("account") and texts["account"] not in origin.bindings:
        section.add(section.line("account"), "account", f"{origin.name} does not bind {texts['account']!r}",
                    "bind the target's account id in the header's origin source (a look-up)")
    if section.problems or ref is None:
        return None
    return Party(mapping=mapping, field=field, origin=party_origin, target=party_target, account=texts["account"],
                 blocked=texts["blocked"], held=texts["held"], ref=ref)
