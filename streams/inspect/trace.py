"""Follow one entity (a customer number ``C-000123`` or an order number ``SO-000001``) through every topic.

A record belongs to the entity when its key or any string in its decoded value names it, in any spelling the
mapping files give its key (the ERP account code ``AC-…`` that ``account.yaml`` makes of a customer number
names the customer too). A change to a row that names it also makes rows that refer to that row's id belong:
which rows those are comes from the mapping files, not from table names here. A binding that reads column
``c`` of table ``T`` through ``lookup: {record: R, by: F}`` says that ``T.c`` refers to ``R``'s ``F``; a source
of ``R``'s own mapping that binds ``F`` straight from column ``p`` of table ``T0`` says that ``T0`` rows are
``R``s whose ``F`` is ``p``. A source's bindings of its mapping's key say which columns of its table hold the
key of a record (``customer_number: kd_nr``): a row whose key columns, through the binding's transforms, give one
of the entity's spellings belongs to it, whatever else it holds. Every table a mapping reads is traced; those that
refer to no other row (the roots) are read first, so their ids are known before the rows that refer to them.

A trace reads only from ``since_ms`` on (the CLI's default window is a day: offsets by time, so older
records cost nothing), and decodes only the records that can belong: those whose raw key or value holds one of
the entity's spellings (Avro and JSON keep strings as their UTF-8 bytes), the records whose bytes hold an id
already found in a column that refers to it, or the primary key of a row found to name the entity
(``"customer_id":7``: decoding every contact once one id was known, every customer once one row was, made a trace
of 97,000 CDC records take 50 s), and every row of a table whose key a transform makes (``add_prefix``, an
expression) or a column Debezium writes in another form than its text (a DECIMAL as base64, a date as a day
count): its bytes need not spell the key. Decoding, not reading, was what made a whole-topic trace slow. Every
partition's end is taken once, when the trace starts: both reads stop there. A canonical record found in the window
names, in its lineage header, the CDC record it was made from: when that one is older than the window it is
fetched by a seek of its own (at most :data:`MAX_SOURCES`), so the timeline still starts at the source.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from streams.codecs.avro.single_object import SchemaStore
from streams.config.kafka import KafkaAddress
from streams.flows import topics as flow_topics
from streams.flows.canonical.lineage import Lineage, LineageError
from streams.flows.exceptions import FlowFileError
from streams.flows.files import load_flow_files
from streams.inspect.decoding import Decoded, RawRecord, decode_record
from streams.inspect.reader import Address, OnProgress, StartAt, read, read_at, spans
from streams.mapping import Context, RecordMapping, load_mappings
from streams.mapping.exceptions import MappingError
from streams.mapping.kinds import Kind
from streams.mapping.spec import FieldBinding
from streams.mapping.transforms import CastStep, LookupStep, RequiredStep, Step, StepInput, TextStep
from streams.sinks.topics import command_topic, results_topic
from streams.systems import Systems, load_systems

#: ``(record, field)``: a record's field other rows refer to it by (``("CustomerAccountXref",
#: "crm_customer_id")``).
Target = tuple[str, str]


#: Source records fetched by their lineage, at most, per trace: each costs a seek and a fetch.
MAX_SOURCES = 200


def _short(record: str) -> str:
    return record.rpartition(".")[2]


def _bindings(binding: FieldBinding) -> Iterator[FieldBinding]:
    yield binding
    for inner in (binding.nested or {}).values():
        yield from _bindings(inner)


def _through(steps: Sequence[Step], value: Any, row: Mapping[str, Any]) -> Any:
    """``value`` through a binding's ``steps`` as the mapping engine applies them, without the flows' state (a
    look-up refuses), or None when a step refuses it."""
    given = StepInput(row=row, context=Context())
    try:
        for step in steps:
            value = step.apply(value, given)
    except (MappingError, ValueError, TypeError):
        return None
    return value


def key_of_row(binding: FieldBinding, row: Mapping[str, Any]) -> Any:
    """What a binding of a record's key makes of one source row: its column or expression through its steps;
    None when it makes nothing (a constant or nested fields name no row, a step refuses the value)."""
    if binding.column is not None:
        value = row.get(binding.column)
    elif binding.expression is not None:
        try:
            value = binding.expression.evaluate(row)
        except MappingError:
            return None
    else:
        return None
    return _through(binding.steps, value, row)


#: The kinds of column a Debezium record does not hold as text: a DECIMAL (and a ``BIGINT UNSIGNED``, which
#: ``bigint.unsigned.handling.mode: precise`` sends as one) as base64, dates and times as counts, bytes as base64.
_WRITTEN_OTHERWISE = frozenset({"decimal", "float", "timestamp", "local_timestamp", "date", "time", "bytes"})


def _spelled_column(kind: Kind | None) -> bool:
    """Whether a column of ``kind`` (None: not known) is in a record's bytes as its text, as a decoded row holds
    it: a text, or an integer a signed long holds (a larger one, a ``BIGINT UNSIGNED``, may come as a Decimal)."""
    if kind is None:
        return True
    return kind.base not in _WRITTEN_OTHERWISE and not (kind.base == "int" and (kind.bits or 0) > 64)


def _spelled_id(kind: Kind | None) -> bool:
    """Whether a column of ``kind`` that holds a row's key or an id is in a record's bytes as the text a decoded row
    gives it (``str()``): as :func:`_spelled_column`, but not a boolean (JSON ``true``, ``str()`` ``True``)."""
    return _spelled_column(kind) and (kind is None or kind.base != "bool")


def _spells_key(binding: FieldBinding) -> bool:
    """Whether a row whose ``binding`` makes a key holds that key's text in its bytes: a column read as it is, or
    only refused when null, trimmed or turned into text (a prefix, a case change, a map or an expression can make
    a key its bytes do not hold)."""
    return binding.column is not None and all(
        isinstance(s, RequiredStep) or (isinstance(s, TextStep) and s.name in ("trim", "null_if_empty"))
        or (isinstance(s, CastStep) and s.base == "string") for s in binding.steps)


@dataclass(frozen=True)
class TraceModel:
    """What the mapping files say about rows and ids: ``roots[(system, table)]`` lists the columns whose values
    are ids others refer to (and as which ``Target``); ``references[(system, table)]`` lists the columns that
    refer to one; ``keys[(system, table)]`` holds, for every table a mapping reads, the bindings that make a
    record's whole key (or its parent's) from a row without a look-up; ``spellings`` turn a key into the other
    spellings mappings derive from it; ``row_keys[(system, table)]`` are a table's primary key columns, by which a
    later change of a row that named the entity belongs too (a key-only delete holds nothing else);
    ``unspelled_columns``: the tables whose key a column makes that their records do not hold as its text (a DECIMAL
    key column: base64); ``unspelled_ids``: the tables with a primary key column or a column that refers to another
    row that their records do not hold as its text, whose every record is decoded once the trace knows a row or an
    id of theirs."""

    roots: Mapping[tuple[str, str], tuple[tuple[str, Target], ...]]
    references: Mapping[tuple[str, str], tuple[tuple[str, Target], ...]]
    spellings: tuple[tuple[FieldBinding, ...], ...] = ()
    keys: Mapping[tuple[str, str], tuple[FieldBinding, ...]] = field(default_factory=dict)
    row_keys: Mapping[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    unspelled_columns: frozenset[tuple[str, str]] = frozenset()
    unspelled_ids: frozenset[tuple[str, str]] = frozenset()

    @classmethod
    def of(cls, mappings: Mapping[str, RecordMapping]) -> TraceModel:
        references: dict[tuple[str, str], set[tuple[str, Target]]] = {}
        wanted: set[Target] = set()
        spellings: list[tuple[FieldBinding, ...]] = []
        keys: dict[tuple[str, str], list[FieldBinding]] = {}
        row_keys: dict[tuple[str, str], tuple[str, ...]] = {}
        unspelled: set[tuple[str, str]] = set()
        unspelled_ids: set[tuple[str, str]] = set()
        for mapping in mappings.values():
            for source in mapping.sources:
                if source.system and source.table and source.row_key:
                    row_keys[(source.system, source.table)] = source.row_key
                    if not all(_spelled_id(source.kinds.get(c)) for c in source.row_key):
                        unspelled_ids.add((source.system, source.table))
                if source.system and source.table:
                    table_keys = keys.setdefault((source.system, source.table), [])
                    # the record's own key when one value is the whole of it (a line number is not, nor any
                    # part of a composite key), else the parent's key the row is filed under
                    whole = len(mapping.key) == 1 and mapping.parent is None
                    named = [source.bindings.get(mapping.key[0]) if whole else None, source.parent_key]
                    for binding in named:
                        if binding is None or any(isinstance(s, LookupStep) for s in binding.steps):
                            continue  # a key found by a look-up is another row's: ``references`` follow it
                        same = replace(binding, field="", line=0)  # one column for every record keyed by it
                        if binding.column and not _spelled_column(source.kinds.get(binding.column)):
                            unspelled.add((source.system, source.table))
                        if same not in table_keys:
                            table_keys.append(same)
                bindings = [*source.bindings.values(), *([source.parent_key] if source.parent_key else [])]
                for binding in (b for top in bindings for b in _bindings(top)):
                    lookups = [s for s in binding.steps if isinstance(s, LookupStep)]
                    if binding.column and lookups and source.table and source.system:
                        target = (_short(lookups[0].record), lookups[0].by)
                        references.setdefault((source.system, source.table), set()).add((binding.column, target))
                        wanted.add(target)
                        if not _spelled_id(source.kinds.get(binding.column)):
                            unspelled_ids.add((source.system, source.table))
                if source.record is not None:  # a projection of a canonical record: its key's other spellings
                    for name in mapping.key:
                        keyed = source.bindings.get(name)
                        if keyed is not None and keyed.column and keyed.steps and \
                                not any(isinstance(s, LookupStep) for s in keyed.steps):
                            spellings.append((keyed,))
        roots: dict[tuple[str, str], set[tuple[str, Target]]] = {}
        for mapping in mappings.values():
            for source in mapping.sources:
                for name, binding in source.bindings.items():
                    target = (_short(mapping.target), name)
                    # a column as it is, or cast (`transform: [int]` on a BIGINT UNSIGNED id): str() the same
                    if (target in wanted and binding.column and all(isinstance(s, CastStep) for s in binding.steps)
                            and source.table and source.system):
                        roots.setdefault((source.system, source.table), set()).add((binding.column, target))
        return cls(roots={k: tuple(sorted(v)) for k, v in roots.items()},
                   references={k: tuple(sorted(v)) for k, v in references.items()}, spellings=tuple(spellings),
                   keys={k: tuple(v) for k, v in keys.items()}, row_keys=row_keys,
                   unspelled_columns=frozenset(unspelled), unspelled_ids=frozenset(unspelled_ids))

    def names_for(self, entity: str) -> tuple[str, ...]:
        """The spellings of one entity: itself, and what each mapping that derives a key from it makes of it
        (a customer number ``C-000123`` is also the account code ``AC-000123``)."""
        entity = entity.strip()
        names = [entity]
        for (binding,) in self.spellings:
            value = _through(binding.steps, entity, {})
            if isinstance(value, str) and value and value not in names:
                names.append(value)
        return tuple(names)

    def _root_tables(self) -> set[tuple[str, str]]:
        return set(self.roots) | {table for table in self.keys if table not in self.references}

    def root_topics(self, systems: Systems) -> tuple[str, ...]:
        """The CDC topics of the tables whose rows name an entity by their own columns (every table a mapping
        reads but those that refer to other rows by id, which are read after them), as the systems' files name
        them."""
        return tuple(systems[s].topic(t) for s, t in sorted(self._root_tables()) if s in systems)

    def unspelled_topics(self, systems: Systems) -> tuple[str, ...]:
        """The CDC topics of the tables whose key a transform makes (``add_prefix``, ``map``, an expression), or a
        column their records do not hold as text (a DECIMAL): a row there can make the entity's key without its
        bytes holding it, so every one is decoded."""
        return tuple(systems[s].topic(t) for (s, t), bindings in sorted(self.keys.items()) if s in systems
                     and ((s, t) in self.unspelled_columns or not all(_spells_key(b) for b in bindings)))

    def default_topics(self, systems: Systems) -> tuple[str, ...]:
        """Every Isthmus topic a trace reads by default: the CDC topics of every table a mapping reads, roots
        first, then the rows that refer to them; the flows' and sinks' topics (:func:`trace` adds every canonical
        topic that exists)."""
        roots = self._root_tables()
        dependent = tuple(systems[s].topic(t) for s, t in sorted(set(self.references) | set(self.keys))
                          if s in systems and (s, t) not in roots)
        sinks = tuple(t for name in systems.writable for t in (command_topic(name), results_topic(name)))
        own = (flow_topics.AUDIT_CONFLICTS, *sinks, flow_topics.HOLDS, flow_topics.DLQ_TOPIC, flow_topics.CUSTOMER_360)
        return (*self.root_topics(systems), *dependent,
                *(name if name in sinks else flow_topics.topic(name) for name in own))


def _plain(value: str) -> bool:
    """Whether JSON writes ``value`` as it is, escaping nothing (no quote, backslash, control or non-ASCII
    character), so that a record's bytes hold it."""
    return value.isascii() and value.isprintable() and '"' not in value and "\\" not in value


@dataclass
class EntityMatcher:
    """Decides whether a decoded record belongs to the entity; remembers ids of the rows that name it."""

    names: tuple[str, ...]
    model: TraceModel = field(default_factory=lambda: TraceModel(roots={}, references={}))
    ids: dict[Target, set[str]] = field(default_factory=dict)
    #: The primary keys (as text) of the rows found to name the entity, by ``(system, table)``.
    rows: dict[tuple[str, str], set[tuple[str, ...]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        spelled = "|".join(re.escape(n) for n in self.names)
        self.pattern = re.compile(rf"(?<![\w-])(?:{spelled})(?![\w-])")
        self._needles = tuple(n.encode() for n in self.names if n)
        self._spellings = frozenset(self.names)
        self._id_patterns: dict[tuple[str, str], re.Pattern[bytes] | bool] = {}

    def names_entity(self, value: Any) -> bool:
        if isinstance(value, str):
            return self.pattern.search(value) is not None
        if isinstance(value, Mapping):
            return any(self.names_entity(v) for v in value.values())
        if isinstance(value, (list, tuple)):
            return any(self.names_entity(v) for v in value)
        return False

    def matches(self, record: Decoded) -> bool:
        if record.kind != "debezium" or not isinstance(record.value, Mapping):
            return self.names_entity(record.key) or self.names_entity(record.value)
        rows = (record.value.get("before"), record.value.get("after"))
        if self.names_entity(record.key) or self.names_entity(record.value) or \
                any(self._keyed(record, row) for row in (*rows, record.key)) or \
                any(self._known_row(record, row) for row in (*rows, record.key)):
            self._remember(record)
            return True
        return any(self._refers(record, row) for row in rows)

    def may_name(self, raw: RawRecord) -> bool:
        """Whether ``raw``'s bytes hold one of the entity's spellings: a record that does not cannot name it
        once decoded, so it is not decoded at all."""
        key, value = raw.key or b"", raw.value or b""
        return any(needle in key or needle in value for needle in self._needles)

    def may_hold_known_ids(self, raw: RawRecord, table: tuple[str, str]) -> bool:
        """Whether ``raw``, a record of ``table``, can be a later change of a row found to name the entity (a
        delete's key-only image holds nothing else) or a row that refers to an id found so far (a contact holds only
        its customer's id): whether its key or value bytes hold one of those columns with one of those values, as
        JSON writes them (``"customer_id":7``, ``"id": "K-1"``). A record that does not is neither, so it is not
        decoded; when the bytes cannot tell (a key column or an id Debezium writes in another form, an id JSON would
        escape) every record of ``table`` is decoded once a row or an id of its is known."""
        if table not in self._id_patterns:
            self._id_patterns[table] = self._id_pattern(table)
        pattern = self._id_patterns[table]
        if isinstance(pattern, bool):
            return pattern
        return any(pattern.search(data) is not None for data in (raw.key, raw.value) if data)

    def _id_pattern(self, table: tuple[str, str]) -> re.Pattern[bytes] | bool:
        """The pattern of :meth:`may_hold_known_ids` for ``table``'s records: False when nothing of theirs is
        known, True when their bytes cannot tell (every record is decoded)."""
        wanted: dict[str, set[str]] = {}
        for column, target in self.model.references.get(table, ()):
            wanted.setdefault(column, set()).update(self.ids.get(target, ()))
        for key in self.rows.get(table, ()):
            for column, value in zip(self.model.row_keys.get(table, ()), key, strict=True):
                wanted.setdefault(column, set()).add(value)
        wanted = {column: values for column, values in wanted.items() if values}
        if not wanted:
            return False
        if table in self.model.unspelled_ids or not all(_plain(v) for values in wanted.values() for v in values):
            return True
        return re.compile(b"|".join(
            rb'"%s"\s*:\s*"?(?:%s)(?![\w.-])' % (re.escape(column.encode()),
                                                 b"|".join(re.escape(v.encode()) for v in sorted(values)))
            for column, values in sorted(wanted.items())))

    def _remember(self, record: Decoded) -> None:
        self._id_patterns.clear()  # the rows and ids found change: made again when next asked
        table = (record.system or "", record.table or "")
        for column, target in self.model.roots.get(table, ()):
            for row in (record.value.get("before"), record.value.get("after")):
                if isinstance(row, Mapping) and row.get(column) is not None:
                    self.ids.setdefault(target, set()).add(str(row[column]))
        for row in (record.value.get("before"), record.value.get("after")):
            key = self._row_key(table, row)
            if key is not None:
                self.rows.setdefault(table, set()).add(key)

    def _row_key(self, table: tuple[str, str], row: Any) -> tuple[str, ...] | None:
        columns = self.model.row_keys.get(table)
        if not columns or not isinstance(row, Mapping) or any(row.get(c) is None for c in columns):
            return None
        return tuple(str(row[c]) for c in columns)

    def _known_row(self, record: Decoded, row: Any) -> bool:
        table = (record.system or "", record.table or "")
        return table in self.rows and self._row_key(table, row) in self.rows[table]

    def _keyed(self, record: Decoded, row: Any) -> bool:
        """Whether ``row`` (a row of the record's table, or its key) makes the entity's key, as a mapping of its
        table makes a record's key of it (the key columns need not be text, nor hold the key as it is spelled)."""
        if not isinstance(row, Mapping):
            return False
        for binding in self.model.keys.get((record.system or "", record.table or ""), ()):
            value = key_of_row(binding, row)
            if value is not None and not isinstance(value, (bool, Mapping, list)) and str(value) in self._spellings:
                return True
        return False

    def _refers(self, record: Decoded, row: Any) -> bool:
        if not isinstance(row, Mapping):
            return False
        return any(row.get(column) is not None and str(row[column]) in self.ids.get(target, set())
                   for column, target in self.model.references.get((record.system or "", record.table or ""), ()))


def lineage_sources(found: Iterable[Decoded], topics: Iterable[str]) -> list[Address]:
    """The CDC records ``found``'s lineage headers name, in ``topics``, that are not among ``found`` (read
    before the window began), by offset, at most :data:`MAX_SOURCES`."""
    chosen = set(topics)
    have = {(r.raw.topic, r.raw.partition, r.raw.offset) for r in found}
    wanted: set[Address] = set()
    for record in found:
        try:
            lineage = Lineage.from_headers((k, v) for k, v in record.raw.headers if v is not None)
        except LineageError:
            continue
        address = (lineage.topic, lineage.partition, lineage.offset)
        if lineage.topic in chosen and address not in have:
            wanted.add(address)
    return sorted(wanted, key=lambda a: (a[2], a[0], a[1]))[:MAX_SOURCES]


def published_topics() -> tuple[str, ...]:
    """The topics the flow files publish reconciled records on (a block's ``publish:``, e.g. an entity flow's
    ``wawi.canonical.customers``), with the topic prefix; none when the flow files do not load (a trace still runs
    on the rest)."""
    try:
        files = load_flow_files()
    except FlowFileError:
        return ()
    found = (flow.section.plain().get("publish") if isinstance(flow.section.plain(), dict) else None
             for flow in files)
    return tuple(sorted({flow_topics.topic(name) for name in found if isinstance(name, str) and name}))


def trace(bootstrap: KafkaAddress, entity: str, store: SchemaStore, *, topics: Sequence[str] | None = None,
          since_ms: int | None = None, existing: Iterable[str] | None = None,
          systems: Systems | None = None, mappings: Mapping[str, RecordMapping] | None = None,
          on_progress: OnProgress | None = None) -> list[Decoded]:
    """Every record of ``entity`` in ``topics`` (default: every Isthmus topic that exists, every canonical topic
    the mapping files publish on, and every topic a flow file publishes on) from ``since_ms`` on (default: from
    the beginning), by record time;
    ``systems`` (default: systems/) name the CDC topics, ``mappings`` (default: mappings/) say which rows refer
    to which; ``on_progress`` hears how far the trace has read each topic (every topic's total from the start: the
    ends are taken once, when the trace starts)."""
    systems = systems if systems is not None else load_systems()
    model = TraceModel.of(mappings if mappings is not None else load_mappings(systems=systems))
    roots_of = model.root_topics(systems)
    unspelled = set(model.unspelled_topics(systems))
    chosen = list(topics or model.default_topics(systems))
    if existing is not None:
        present = set(existing)
        chosen = [t for t in chosen if t in present]
        if not topics:
            canonical = flow_topics.topic(f"{flow_topics.CANONICAL_PREFIX}.")
            chosen += sorted(t for t in present if t.startswith(canonical) and t not in chosen)
            chosen += [t for t in published_topics() if t in present and t not in chosen]
    matcher = EntityMatcher(names=model.names_for(entity), model=model)
    # every partition's end taken once, now: both reads stop there, and every topic's total is known from the start
    begins, ends = spans(bootstrap, chosen, StartAt(time_ms=since_ms) if since_ms is not None
                         else StartAt(beginning=True)) if chosen else ({}, {})
    progress = {topic: (0, 0) for topic in chosen}
    for (topic, partition), end in ends.items():
        progress[topic] = (0, progress[topic][1] + max(0, end - begins[(topic, partition)]))

    def hear(read_so_far: Mapping[str, tuple[int, int]]) -> None:
        progress.update(read_so_far)
        if on_progress is not None:
            on_progress(progress)

    found: list[Decoded] = []
    roots = [t for t in chosen if t in roots_of]
    others = [t for t in chosen if t not in roots_of]
    tables = {systems[s].topic(t): (s, t) for s, t in {*model.references, *model.row_keys} if s in systems}
    for group in (roots, others):
        if not group:
            continue
        for raw in read(bootstrap, group, StartAt(at=begins), until=ends, on_progress=hear):
            table = tables.get(raw.topic)
            if raw.topic not in unspelled and not matcher.may_name(raw) and \
                    not (table is not None and matcher.may_hold_known_ids(raw, table)):
                continue
            record = decode_record(raw, store, systems)
            if matcher.matches(record):
                found.append(record)
    if since_ms is not None:
        found += [decode_record(raw, store, systems) for raw in read_at(bootstrap, lineage_sources(found, chosen))]
    found.sort(key=lambda r: (r.raw.timestamp_ms or 0, r.raw.topic, r.raw.partition, r.raw.offset))
    return found


__all__ = ["EntityMatcher", "TraceModel", "key_of_row", "trace"]
