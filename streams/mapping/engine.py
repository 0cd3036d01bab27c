"""Apply a loaded mapping: a source row, or a decoded Debezium change, to canonical field values.

Values leave the engine already in their Avro form (exact decimals at the field's scale, aware UTC
timestamps, booleans, enum symbols), so the canonical record encodes without surprises.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from streams.codecs.debezium.envelope import ChangeEvent, Op
from streams.codecs.debezium.unavailable import PLACEHOLDER, is_unavailable, unavailable_columns
from streams.mapping.compiled import MappingPlan, SourcePlan, coercer, plan_of
from streams.mapping.exceptions import ColumnsMissing, LookupMissing, MappingError, MappingValueError
from streams.mapping.spec import CHANGED_AT, FieldBinding, RecordMapping, SourceMapping
from streams.mapping.transforms import Context, StepInput

log = logging.getLogger(__name__)


def coerce(value: Any, avro_type: Any, named: Mapping[str, Any], where: str) -> Any:
    """``value`` in the form fastavro writes for ``avro_type``, or a :class:`MappingValueError` naming ``where``.

    One value at a time; a mapping's bindings have their coercers made once (:mod:`streams.mapping.compiled`)."""
    return coercer(avro_type, named, where)(value)


@dataclass(frozen=True)
class Engine:
    """Applies the bindings of a mapping; ``named`` resolves Avro named types for coercion. Cheap to make: the
    mapping's compiled plan (:func:`streams.mapping.compiled.plan_of`) is made once per mapping and kept."""

    mapping: RecordMapping
    named: Mapping[str, Any]
    plan: MappingPlan = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "plan", plan_of(self.mapping, self.named))

    def value(self, binding: FieldBinding, row: Mapping[str, Any], context: Context) -> Any:
        return self.plan.field(self.mapping, binding)(row, StepInput(row=row, context=context))

    def map_row(self, source: SourceMapping, row: Mapping[str, Any], context: Context) -> dict[str, Any]:
        """The target fields ``source`` binds, from one source row (its local times in its system's zone). A row
        with a value Debezium did not have (:mod:`~streams.codecs.debezium.unavailable`) is refused: a whole
        record cannot be made from it."""
        plan = self.plan.source(self.mapping, source)
        _require(self.mapping, plan, row)
        missing = unavailable_columns(row)
        if missing and source.columns_read.intersection(missing):
            raise MappingValueError(_unavailable(source, tuple(c for c in missing if c in source.columns_read),
                                                 "a whole record needs every column it reads"))
        return plan.map_row(row, context.reading(source.system))

    def require(self, source: SourceMapping, row: Mapping[str, Any]) -> None:
        """Refuse ``row`` (:class:`ColumnsMissing`) when it lacks a column ``source`` reads; call it before
        :meth:`applies`, whose condition would read a missing column as null."""
        _require(self.mapping, self.plan.source(self.mapping, source), row)

    def applies(self, source: SourceMapping, row: Mapping[str, Any] | None) -> bool:
        return self.plan.source(self.mapping, source).applies(row)


@dataclass(frozen=True, kw_only=True)
class MappedChange:
    """A source change in canonical terms, ready to reconcile.

    ``values`` holds every field the source binds; ``asserted`` the ones this change claims (all of them
    for a create, snapshot read or delete; for an update only those whose mapped value changed);
    ``base`` the mapped before-image, when the event had one (what the source system saw before it wrote).
    """

    mapping: RecordMapping
    source: SourceMapping
    system: str
    key: Any
    deleted: bool
    values: Mapping[str, Any]
    asserted: tuple[str, ...]
    base: Mapping[str, Any] | None
    commit_time: dt.datetime
    parent_key: Any = None
    group_key: tuple[Any, ...] = ()
    member_key: tuple[Any, ...] = field(default_factory=tuple)
    #: The key the row had before this change gave it ``key`` (a customer renumbered): the record under the old
    #: key ended with the same change; None for any other change.
    renumbered_from: Any = None
    #: The fields left out because the change did not carry the value of a column they read (Debezium's
    #: placeholder, with no before-image to fill it: :func:`_map_partial`): unknown, not unchanged, where the record
    #: holds no value of them yet.
    withheld: tuple[str, ...] = ()
    #: The parent key an update's before-image gave the row, when the update moved it to another parent (a
    #: contact moved to the supplier it is merged into): the child leaves that parent's list; None otherwise.
    moved_from: Any = None


def map_change(mapping: RecordMapping, event: ChangeEvent, system: str, context: Context,
               named: Mapping[str, Any], *, table: str | None = None, whole: bool = False) -> tuple[MappedChange, ...]:
    """Map one Debezium change through every source of ``mapping`` that reads its table: ``table``, the table
    its topic carries as the system file names it (a flow knows it from the topic), else the table the event
    itself names.

    A source with a ``when`` condition sees an update that moves a row out of its condition as a delete,
    and one that moves a row in as a create. Truncates and tables the mapping does not read give nothing.
    ``whole``: an update claims every field it binds, with no before-image, as a create does (the row's previous
    change never reached the record: :mod:`streams.flows.customers.missed`).
    """
    table = table or event.table
    if event.op is Op.TRUNCATE or table is None:
        return ()
    plan = plan_of(mapping, named)
    results: list[MappedChange] = []
    for compiled in plan.sources_for(system, table):
        result = _map_source(mapping, compiled, event, system, context)
        if result is None:
            continue
        if result.base is not None and not result.deleted:
            ended = _key_changed(mapping, compiled, event, result, context)
            if ended is not None:
                results.append(ended)
                result = dataclasses.replace(result, asserted=tuple(n for n in compiled.claims if n in result.values),
                                             base=None, renumbered_from=ended.key, moved_from=None)
        if whole and result.base is not None and not result.deleted:
            result = dataclasses.replace(result, asserted=tuple(n for n in compiled.claims if n in result.values),
                                         base=None)
        results.append(result)
    return tuple(results)


def map_source(engine: Engine, source: SourceMapping, event: ChangeEvent, system: str,
               context: Context) -> MappedChange | None:
    """Map one Debezium change through one ``source`` of ``engine``'s mapping, whatever table name the event
    carries: a flow that knows which source a topic feeds (from the systems' files) maps by that, with an
    engine compiled once. None when the row is outside the source's condition before and after."""
    return _map_source(engine.mapping, engine.plan.source(engine.mapping, source), event, system, context)


def _key_changed(mapping: RecordMapping, plan: SourcePlan, event: ChangeEvent, change: MappedChange,
                 context: Context) -> MappedChange | None:
    """An update that changed the row's key in ``mapping`` (a customer renumbered): the end of the record under its
    old key, mapped as a delete of the before-image is (the source's ``on_delete``); None when the key stayed.
    The record under the new key is then made whole by the caller (every field claimed, as a create's), so it is
    complete even though only its key changed. Debezium itself reports a changed primary key this way: a delete
    and a create."""
    assert change.base is not None and event.before is not None
    old = mapping.key_of(change.base)
    if old == change.key or old is None or old == "" or (isinstance(old, tuple) and None in old):
        return None
    reading = context.reading(plan.source.system)
    values = plan.map_keys(event.before, reading)
    if not plan.source.deletes_target:
        values.update(plan.source.on_delete or {})
    before = event.before
    return MappedChange(
        mapping=mapping, source=plan.source, system=change.system, key=old, deleted=True, values=values,
        asserted=tuple(v for v in values if v not in mapping.key), base=None, commit_time=event.commit_time,
        parent_key=(plan.parent_key(before, StepInput(row=before, context=reading)) if plan.parent_key else None),
        group_key=tuple(before.get(c) for c in plan.source.group_by) if plan.source.group_by else (),
        member_key=(plan.source.name, *(event.key.values() if event.key else (old,))))


def _unavailable(source: SourceMapping, columns: tuple[str, ...], why: str) -> str:
    return (f"{source.name}: the change does not carry the value of {', '.join(columns)} (Debezium's placeholder "
            f"{PLACEHOLDER!r}: PostgreSQL leaves an unchanged TOASTed value out of an update or delete unless the "
            f"table has REPLICA IDENTITY FULL); {why}: run ALTER TABLE {source.table} REPLICA IDENTITY FULL")


def _require(mapping: RecordMapping, plan: SourcePlan, row: Mapping[str, Any], *, whole: bool = True) -> None:
    """Refuse a row that lacks a column the source reads: read as null, it would map to a wrong value (a phone
    wiped, a condition false) with no trace. A row a Debezium event carries holds every column of the table's
    schema (null ones too), so a missing one means the table changed under the mapping (a column renamed or
    dropped); a column the mapping does not read may come and go."""
    lacking = plan.lacking(row, whole=whole)
    if lacking:
        source = plan.source
        system = source.system or "?"
        raise ColumnsMissing(
            f"{system}.{source.table}: the change has no column {', '.join(lacking)}, which {mapping.path.name} "
            f"(source {source.name}) reads: the table's schema changed under the mapping (a column renamed or "
            f"dropped); run `isthmus mappings discover {system}` and `isthmus mappings validate`, update the "
            "mapping to the table's columns, restart the flows, then replay the dead letters "
            "(`isthmus topics dlq replay`)")


def _map_source(mapping: RecordMapping, plan: SourcePlan, event: ChangeEvent, system: str,
                context: Context, skip: frozenset[str] = frozenset()) -> MappedChange | None:
    """``skip``: fields not mapped at all (they read a value the change does not carry: :func:`_map_partial`)."""
    source = plan.source
    # One check of the row the change maps (its after-image; a delete's before-image, of which only what places
    # the record is read): an update's before-image is of the same table schema.
    if event.op is Op.DELETE:
        if event.before is not None:
            _require(mapping, plan, event.before, whole=False)
    elif event.after is not None:
        _require(mapping, plan, event.after)
    if event.op is Op.UPDATE:
        missing = unavailable_columns(event.after)
        if missing:
            return _map_partial(mapping, plan, event, system, context, missing)
    before_in = plan.applies(event.before)
    after_in = event.op is not Op.DELETE and plan.applies(event.after)
    if not before_in and not after_in:
        return None
    deleted = not after_in
    row = event.after if after_in else event.before
    assert row is not None
    reading = context.reading(source.system)
    if deleted:
        values = plan.map_keys(row, reading)
        if not source.deletes_target:
            values.update(source.on_delete or {})
        asserted = tuple(v for v in values if v not in mapping.key)
        base = None
    else:
        values = _map_row(plan, row, reading, skip)
        base = _base(plan, event, reading, skip) if before_in else None
        if event.op is Op.UPDATE and base is not None:
            asserted = tuple(n for n in values if n not in mapping.key and (n not in base or base[n] != values[n]))
        else:
            asserted = tuple(n for n in plan.claims if n not in skip) if skip else plan.claims
    parent_key = plan.parent_key(row, StepInput(row=row, context=reading)) if plan.parent_key else None
    moved_from = _moved_from(plan, event, reading, parent_key) if before_in and not deleted else None
    commit_time = event.commit_time
    if event.op is Op.READ and plan.changed_at is not None:
        commit_time = _changed_at(mapping, plan, event, row, reading)
    # Every field set at once, in their order (the frozen dataclass's __init__ sets them one object.__setattr__ at
    # a time: a change or two mapped per record, issue 17); the values are __init__'s, its defaults included.
    made = object.__new__(MappedChange)
    made.__dict__.update(
        mapping=mapping, source=source, system=system, key=mapping.key_of(values), deleted=deleted,
        values=values, asserted=asserted, base=base, commit_time=commit_time, parent_key=parent_key,
        group_key=tuple(row.get(c) for c in source.group_by) if source.group_by else (),
        member_key=(source.name, *(event.key.values() if event.key else (mapping.key_of(values),))),
        renumbered_from=None, withheld=(), moved_from=moved_from)
    return made


def _moved_from(plan: SourcePlan, event: ChangeEvent, reading: Context, parent_key: Any) -> Any:
    """The parent key of an update's before-image, when the update changed the columns the parent key reads and
    so moved the row to another parent; None for any other change, or when the old parent is not found (its
    look-up has no entry: the row was never in a list there)."""
    source, before, after = plan.source, event.before, event.after
    if (plan.parent_key is None or source.parent_key is None or before is None or after is None
            or all(before.get(column) == after.get(column) for column in source.parent_key.reads)):
        return None
    try:
        old = plan.parent_key(before, StepInput(row=before, context=reading))
    except LookupMissing:
        return None
    return None if old is None or old == parent_key else old


#: The sources (mapping file, source name) whose ``changed_at`` a snapshot read could not take, said once each.
_UNTIMED: set[tuple[str, str]] = set()

#: How much later than its read time a row's ``changed_at`` may be without a word: the read's second (a clock a
#: little ahead of the connector's, a time rounded up to its whole second).
_READ_SLACK = dt.timedelta(seconds=1)


def _changed_at(mapping: RecordMapping, plan: SourcePlan, event: ChangeEvent, row: Mapping[str, Any],
                context: Context) -> dt.datetime:
    """The commit time of a snapshot read of ``row``: when the row last changed, as its source's ``changed_at``
    says, not when the snapshot read it (Debezium's time of an ``op: r``). A null, one that cannot be read, or one
    after the read time (by more than :data:`_READ_SLACK`) is none a row read then can have had: the read time is
    taken, and said once per source at WARNING."""
    read = event.commit_time
    binding = plan.source.changed_at
    assert plan.changed_at is not None and binding is not None
    try:
        value: dt.datetime | None = plan.changed_at(row, StepInput(row=row, context=context))
    except MappingValueError as exc:
        return _untimed(mapping, plan.source, binding.line, read, f"cannot be read ({exc})",
                        "make the column hold a time, or read it through a transform that gives one")
    if value is None:
        return _untimed(mapping, plan.source, binding.line, read, "is null",
                        "give every row a change time (a trigger, `ON UPDATE CURRENT_TIMESTAMP`, or the row's "
                        "creation time for rows never changed); such rows are decided by when they were read")
    if value > read + _READ_SLACK:
        return _untimed(mapping, plan.source, binding.line, read, f"is {value.isoformat()}, after the read time",
                        "a zone-less local time needs `transform: [local_to_utc]` (the system's `time_zone`), and "
                        "the column must hold its zone's time; else the database's clock is ahead")
    return min(value, read)


def _untimed(mapping: RecordMapping, source: SourceMapping, line: int, read: dt.datetime, why: str,
             fix: str) -> dt.datetime:
    """The read time, for a row whose ``changed_at`` gives none; said once per source."""
    said = (str(mapping.path), source.name)
    if said not in _UNTIMED:
        _UNTIMED.add(said)
        log.warning("%s:%d: sources.%s.%s of a row %s.%s read by a snapshot %s: its read time %s is taken as when it "
                    "changed, so each latest_commit_wins field it differs in is decided by when it was read; fix: "
                    "%s; said once per source", mapping.path.name, line, source.name, CHANGED_AT, source.system,
                    source.table, why, read.isoformat(), fix)
    return read


def _map_partial(mapping: RecordMapping, plan: SourcePlan, event: ChangeEvent, system: str, context: Context,
                 missing: tuple[str, ...]) -> MappedChange | None:
    """An update whose after-image lacks the values of ``missing`` (:mod:`~streams.codecs.debezium.unavailable`):
    what they were before fills them when the event has it (a full before-image, or the row a flow remembered);
    else the fields that read them are left out of the change (neither values nor asserted; named in
    ``withheld``), since the update did not change them and the record keeps what it holds; where it holds none,
    they are unknown (a flow creates the entity nowhere while they are). A change whose key, parent key or
    condition reads one cannot be placed: refused, naming the fix."""
    source = plan.source
    before = event.before or {}
    after = dict(event.after or {})
    unknown: list[str] = []
    for column in missing:
        value = before.get(column, PLACEHOLDER)
        if is_unavailable(value):
            unknown.append(column)
            after[column] = None
        else:
            after[column] = value
    filled = dataclasses.replace(event, after=after)
    if not unknown:
        return _map_source(mapping, plan, filled, system, context)
    gone = frozenset(unknown)
    needed = {name for name in mapping.key if name in source.bindings and source.bindings[name].reads & gone}
    if source.parent_key is not None and source.parent_key.reads & gone:
        needed.add("its parent key")
    if source.condition is not None and source.condition.names & gone:
        needed.add("its `when` condition")
    if needed:
        raise MappingValueError(_unavailable(source, tuple(unknown), f"{', '.join(sorted(needed))} reads it"))
    # not mapped at all: a value of null (or of the placeholder's text) would be refused, or taken, as a value
    left_out = frozenset(name for name, binding in source.bindings.items() if binding.reads & gone)
    change = _map_source(mapping, plan, filled, system, context, skip=left_out)
    if change is None:
        return None
    return dataclasses.replace(change, withheld=tuple(n for n in source.bindings if n in left_out))


def project(mapping: RecordMapping, record: Mapping[str, Any], context: Context,
            named: Mapping[str, Any]) -> dict[str, Any]:
    """A canonical record through a mapping whose source reads that record (e.g. Customer to the ERP
    Account payload)."""
    sources = [s for s in mapping.sources if s.record is not None]
    if len(sources) != 1:
        raise MappingError(f"{mapping.path.name} needs exactly one `record:` source to project a record")
    return plan_of(mapping, named).source(mapping, sources[0]).map_row(record, context.reading(sources[0].system))


def _map_row(plan: SourcePlan, row: Mapping[str, Any], context: Context, skip: frozenset[str]) -> dict[str, Any]:
    """The fields ``plan``'s source binds from ``row``, but those of ``skip``."""
    if not skip:
        return plan.map_row(row, context)
    given = StepInput(row=row, context=context)
    return {name: function(row, given) for name, function in plan.fields if name not in skip}


def _base(plan: SourcePlan, event: ChangeEvent, context: Context,
          skip: frozenset[str] = frozenset()) -> Mapping[str, Any] | None:
    """The mapped before-image (without the fields of ``skip``); None when there is none, or when it cannot be
    mapped (then the change asserts every field it binds)."""
    if event.before is None or event.op is not Op.UPDATE:
        return None
    try:
        return _map_row(plan, event.before, context, skip)
    except MappingValueError:
        return None
