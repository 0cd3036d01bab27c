"""Look-ups across tables, kept in a flow's state: the generic side of ``lookup:`` in mapping files.

A binding ``lookup: {record: R, by: F, field: G}`` asks for the ``R`` whose field ``F`` equals a value. ``R`` is
whatever mapping file targets it (``customer_account_xref.yaml`` for ``CustomerAccountXref``): every change of
one of that file's table sources is mapped (only the fields look-ups need, and the key), folded into ``R``'s
record under its key (several sources, several systems, one record), and the record is indexed by each ``F``
a look-up uses. Which topics feed it comes from the sources' systems (``systems/``), not from table names in
code.

State, in one store of the flow (keys are text):

- ``<R>|=<key>``: the record's fields as the sources last set them, and under :data:`ROWS` how many source rows
  it is filed under: a record is known while a row states it, even when every field a look-up needs of it is
  null (a party looked up by its own key, whose account in the other system is not made yet), and forgotten
  once no row states it and those fields are null (a record an older changelog holds has no count: its fields
  alone decide);
- ``<R>|<F>=<value>``: the key of the record whose ``F`` is ``value``;
- ``<R>|<source>@<row key>``: which record a source row last went to, so that an update moving the row to
  another record, or a delete whose event carries only the row's key, takes its fields off the old one.

A change that needs a look-up not known yet waits (the flow parks it) under :meth:`LookupTables.waiting_key`;
:meth:`LookupTables.observe` returns the keys a change made known, so the flow releases what waited.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from streams.codecs.debezium.envelope import ChangeEvent, Op
from streams.flows.engine.api import Store
from streams.flows.engine.values import from_store, to_store
from streams.flows.exceptions import FlowUnavailable
from streams.mapping import Context, RecordMapping, SourceMapping
from streams.mapping.compiled import FieldFunction, SourcePlan
from streams.mapping.engine import Engine
from streams.mapping.exceptions import MappingValueError
from streams.mapping.looked_up import lookup_steps
from streams.mapping.transforms import StepInput
from streams.systems import Systems

#: The text of a key or looked-up value in the store's keys: ``json.dumps(value, sort_keys=True)`` exactly (the
#: keys old changelogs hold), with its encoder made once instead of per call.
_key_text = json.JSONEncoder(sort_keys=True).encode
#: Where a record's state counts the source rows filed under it (no field's name: Avro names have no ``|``).
ROWS = "|rows"


def short_name(record: str) -> str:
    """``isthmus.canonical.CustomerAccountXref`` -> ``CustomerAccountXref`` (look-ups may use either)."""
    return record.rpartition(".")[2]


def lookups_of(sources: Iterable[SourceMapping]) -> set[tuple[str, str, str]]:
    """Every ``(record, by, field)`` the bindings (and parent keys) of ``sources`` look up."""
    found: set[tuple[str, str, str]] = set()
    for source in sources:
        bindings = [*source.bindings.values(), *([source.parent_key] if source.parent_key else [])]
        for binding in bindings:
            found |= {(short_name(s.record), s.by, s.field) for s in lookup_steps(binding)}
    return found


@dataclass(frozen=True)
class _Feed:
    """One table source of a looked-up record's mapping, and the fields of it the look-ups need."""

    mapping: RecordMapping
    source: SourceMapping
    record: str
    fields: tuple[str, ...]
    #: The source's compiled plan and the functions of ``fields`` (of the record's engine), found once.
    plan: SourcePlan
    reads: tuple[tuple[str, FieldFunction], ...]


@dataclass
class _Needs:
    by: set[str] = field(default_factory=set)
    fields: set[str] = field(default_factory=set)


class LookupTables:
    """The records ``needs`` look up, fed by their mapping files' table sources, in the store ``store``."""

    def __init__(self, needs: Iterable[tuple[str, str, str]], *, mappings: Mapping[str, RecordMapping],
                 systems: Systems, named: Mapping[str, Any], flow: str) -> None:
        by_record: dict[str, _Needs] = {}
        for record, by, looked_up in needs:
            entry = by_record.setdefault(record, _Needs())
            entry.by.add(by)
            entry.fields.add(looked_up)
        targets = {short_name(m.target): m for m in mappings.values() if m.parent is None}
        self.indexed: dict[str, tuple[str, ...]] = {}
        self.feeds: dict[str, list[_Feed]] = {}
        self.engines: dict[str, Engine] = {}
        for record, entry in sorted(by_record.items()):
            mapping = targets.get(record)
            if mapping is None:
                raise FlowUnavailable(
                    f"{flow} looks up {record} (by {', '.join(sorted(entry.by))}), but no mapping file targets it; "
                    f"add one with `target: {record}` and sources that bind {', '.join(sorted(entry.by))}")
            self.indexed[record] = tuple(sorted(entry.by))
            engine = self.engines[record] = Engine(mapping, named)
            wanted = set(mapping.key) | entry.by | entry.fields
            for source in mapping.sources:
                if source.table is None or source.system is None:
                    continue
                topic = systems[str(source.system)].topic(source.table)
                fields = tuple(sorted(f for f in source.bindings if f in wanted))
                reads = tuple((f, engine.plan.field(mapping, source.bindings[f])) for f in fields)
                self.feeds.setdefault(topic, []).append(
                    _Feed(mapping, source, record, fields, engine.plan.source(mapping, source), reads))
        self._context: LookupContext | None = None

    def context(self, store: Store) -> LookupContext:
        """The look-ups over ``store`` for one record, its last look-up cleared: the same object while the store is,
        so that what a flow makes from it once (a mapping context carrying it) is made once, not per record."""
        made = self._context
        if made is None or made.store is not store:
            made = self._context = LookupContext(self, store)
        made.last = None
        return made

    @property
    def topics(self) -> tuple[str, ...]:
        """The change-event topics that feed the look-ups."""
        return tuple(self.feeds)

    @staticmethod
    def waiting_key(record: str, by: str, value: Any) -> str:
        """Where a change that needs ``record`` by ``by`` = ``value`` waits."""
        return f"{short_name(record)}|{by}={_key_text(to_store(value))}"

    def find(self, store: Store, record: str, by: str, value: Any) -> Mapping[str, Any] | None:
        """The record ``record`` whose ``by`` is ``value``, with its key fields, or None."""
        record = short_name(record)
        if by not in self.indexed.get(record, ()):
            return None
        entry = store.get(self.waiting_key(record, by, value))
        if entry is None:
            return None
        found = store.get(f"{record}|={entry['key']}")
        if found is None:
            return None
        values: dict[str, Any] = from_store(found)
        values.pop(ROWS, None)
        return values

    def observe(self, store: Store, topic: str, event: ChangeEvent, context: Context) -> list[str]:
        """Fold a change of a feeding table into the records it feeds; returns the waiting keys it made known."""
        released: list[str] = []
        for feed in self.feeds.get(topic, ()):
            released += self._fold(store, feed, event, context)
        return released

    def _fold(self, store: Store, feed: _Feed, event: ChangeEvent, context: Context) -> list[str]:
        row_key = f"{feed.record}|{feed.source.name}@{_key_text(to_store(event.key))}"
        remembered = store.get(row_key)
        previous = None if remembered is None else remembered["key"]
        row = None if event.op is Op.DELETE else event.after
        values: dict[str, Any] | None = None
        if row is not None and feed.plan.applies(row):
            given = StepInput(row=row, context=context.reading(feed.source.system))
            try:
                values = {f: read(row, given) for f, read in feed.reads}
            except MappingValueError:
                values = None  # this row states no link (yet): it adds nothing to look up
        key = None if values is None else feed.mapping.key_of(values)
        if key is None or (isinstance(key, tuple) and None in key):
            values, key = None, None
        key_text = None if key is None else _key_text(to_store(key))
        released: list[str] = []
        if previous is not None and previous != key_text:
            released += self._put(store, feed, str(previous), self._removed(feed), rows=-1)
        if key_text is not None and values is not None:
            released += self._put(store, feed, key_text, values, rows=int(previous != key_text))
        if previous != key_text:
            store.put(row_key, None if key_text is None else {"key": key_text})
        return released

    @staticmethod
    def _removed(feed: _Feed) -> dict[str, Any]:
        """What a row leaving a record takes with it: its fields, or what the source's ``on_delete`` sets."""
        values: dict[str, Any] = {f: None for f in feed.fields if f not in feed.mapping.key}
        values.update({f: v for f, v in (feed.source.on_delete or {}).items() if f in values})
        return values

    def _put(self, store: Store, feed: _Feed, key_text: str, values: Mapping[str, Any], *, rows: int) -> list[str]:
        """Set ``values`` on the record; ``rows``: the row filed under it (1), taken off it (-1), or neither (0)."""
        record_key = f"{feed.record}|={key_text}"
        old = from_store(store.get(record_key)) or {}
        new = {**old, **values, ROWS: max(0, int(old.get(ROWS) or 0) + rows)}
        if not new[ROWS] and all(new.get(f) is None for f in new if f != ROWS and f not in feed.mapping.key):
            new_state: dict[str, Any] | None = None
        else:
            new_state = new
        if new_state == (old or None):
            return []
        store.put(record_key, None if new_state is None else to_store(new_state))
        released = []
        for by in self.indexed[feed.record]:
            before, after = old.get(by), (new_state or {}).get(by)
            if before is not None and before != after:
                index = self.waiting_key(feed.record, by, before)
                if store.get(index) == {"key": key_text}:
                    store.put(index, None)
            if after is not None:
                index = self.waiting_key(feed.record, by, after)
                if store.get(index) != {"key": key_text}:
                    store.put(index, {"key": key_text})
                released.append(index)
        return released


class LookupContext:
    """The mapping engine's ``Context.lookup`` over :class:`LookupTables`. ``last`` is the waiting key of the
    last look-up asked: when a required one fails (no record, or a record without the field yet), the
    mapping raises right after asking, so that is where the change waits."""

    def __init__(self, tables: LookupTables, store: Store) -> None:
        self.tables = tables
        self.store = store
        self.last: str | None = None

    def __call__(self, record: str, by: str, key: Any) -> Mapping[str, Any] | None:
        self.last = self.tables.waiting_key(record, by, key)
        return self.tables.find(self.store, record, by, key)
