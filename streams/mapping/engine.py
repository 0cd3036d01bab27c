"""Apply a loaded mapping: a source row, or a decoded Debezium change, to canonical field values.

Values leave the engine already in their Avro form (exact decimals at the field's scale, aware UTC
timestamps, booleans, enum symbols), so the canonical record encodes without surprises.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from streams.codecs.debezium.envelope import ChangeEvent, Op
from streams.mapping.exceptions import MappingError, MappingValueError
from streams.mapping.spec import FieldBinding, RecordMapping, SourceMapping
from streams.mapping.transforms import Context, StepInput, quantize

_INTEGRAL = {"int", "long"}


def _where(mapping: RecordMapping | None, binding: FieldBinding) -> str:
    return f"{mapping.path.name if mapping else 'mapping'}:{binding.line} {binding.field}"


def coerce(value: Any, avro_type: Any, named: Mapping[str, Any], where: str) -> Any:
    """``value`` in the form fastavro writes for ``avro_type``, or a :class:`MappingValueError` naming ``where``."""
    if isinstance(avro_type, list):
        if value is None:
            if "null" in avro_type:
                return None
            raise MappingValueError(f"{where}: null for a field that is not nullable")
        branches = [b for b in avro_type if b != "null"]
        return coerce(value, branches[0], named, where) if len(branches) == 1 else value
    if isinstance(avro_type, str) and avro_type in named:
        return coerce(value, named[avro_type], named, where)
    if value is None:
        raise MappingValueError(f"{where}: null for a field that is not nullable; add a `default:` transform")
    if isinstance(avro_type, dict):
        logical = avro_type.get("logicalType")
        if logical == "decimal":
            if isinstance(value, bool) or not isinstance(value, (Decimal, int)):
                raise MappingValueError(f"{where}: expected an exact number, got {value!r}")
            try:
                return quantize(Decimal(value), int(avro_type.get("scale", 0)))
            except MappingValueError as exc:
                raise MappingValueError(f"{where}: {exc}") from exc
        if logical in ("timestamp-micros", "timestamp-millis"):
            if not isinstance(value, dt.datetime) or value.tzinfo is None:
                raise MappingValueError(f"{where}: expected a UTC timestamp, got {value!r}; a zone-less local "
                                        "time needs `local_to_utc`")
            return value.astimezone(dt.UTC)
        if logical == "date":
            if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
                raise MappingValueError(f"{where}: expected a date, got {value!r}")
            return value
        kind = avro_type.get("type")
        if kind == "enum":
            if value not in avro_type["symbols"]:
                raise MappingValueError(f"{where}: {value!r} is not one of {', '.join(avro_type['symbols'])}; "
                                        "map it with a value map")
            return value
        if isinstance(kind, str) and kind in ("record", "error", "array", "map"):
            return value
        return coerce(value, kind, named, where)
    if avro_type == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise MappingValueError(f"{where}: expected true or false, got {value!r}")
    if avro_type in _INTEGRAL:
        if isinstance(value, bool) or not isinstance(value, (int, Decimal)) or value != int(value):
            raise MappingValueError(f"{where}: expected a whole number, got {value!r}")
        return int(value)
    if avro_type == "string":
        if not isinstance(value, str):
            raise MappingValueError(f"{where}: expected text, got {value!r}")
        return value
    return value


@dataclass(frozen=True)
class Engine:
    """Applies the bindings of a mapping; ``named`` resolves Avro named types for coercion."""

    mapping: RecordMapping
    named: Mapping[str, Any]

    def value(self, binding: FieldBinding, row: Mapping[str, Any], context: Context) -> Any:
        where = _where(self.mapping, binding)
        if binding.nested is not None:
            if any(row.get(c) is None for c in binding.null_unless):
                raw: Any = None
            else:
                raw = {name: self.value(inner, row, context) for name, inner in binding.nested.items()}
        elif binding.column is not None:
            raw = row.get(binding.column)
        elif binding.expression is not None:
            raw = binding.expression.evaluate(row)
        else:
            raw = binding.constant
        given = StepInput(row=row, context=context)
        for step in binding.steps:
            try:
                raw = step.apply(raw, given)
            except MappingValueError as exc:
                raise type(exc)(f"{where}: {exc}") from exc
        return coerce(raw, binding.avro_type, self.named, where)

    def map_row(self, source: SourceMapping, row: Mapping[str, Any], context: Context) -> dict[str, Any]:
        """The target fields ``source`` binds, from one source row (its local times in its system's zone)."""
        context = context.reading(source.system)
        return {name: self.value(binding, row, context) for name, binding in source.bindings.items()}

    def applies(self, source: SourceMapping, row: Mapping[str, Any] | None) -> bool:
        return row is not None and (source.condition is None or bool(source.condition.evaluate(row)))


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


def map_change(mapping: RecordMapping, event: ChangeEvent, system: str, context: Context,
               named: Mapping[str, Any], *, table: str | None = None) -> tuple[MappedChange, ...]:
    """Map one Debezium change through every source of ``mapping`` that reads its table: ``table``, the table
    its topic carries as the system file names it (a flow knows it from the topic), else the table the event
    itself names.

    A source with a ``when`` condition sees an update that moves a row out of its condition as a delete,
    and one that moves a row in as a create. Truncates and tables the mapping does not read give nothing.
    """
    table = table or event.table
    if event.op is Op.TRUNCATE or table is None:
        return ()
    engine = Engine(mapping, named)
    results = []
    for source in mapping.sources_for(system, table):
        result = _map_source(engine, source, event, system, context)
        if result is not None:
            results.append(result)
    return tuple(results)


def map_source(engine: Engine, source: SourceMapping, event: ChangeEvent, system: str,
               context: Context) -> MappedChange | None:
    """Map one Debezium change through one ``source`` of ``engine``'s mapping, whatever table name the event
    carries: a flow that knows which source a topic feeds (from the systems' files) maps by that, with an
    engine compiled once. None when the row is outside the source's condition before and after."""
    return _map_source(engine, source, event, system, context)


def _map_source(engine: Engine, source: SourceMapping, event: ChangeEvent, system: str,
                context: Context) -> MappedChange | None:
    mapping = engine.mapping
    before_in = engine.applies(source, event.before)
    after_in = event.op is not Op.DELETE and engine.applies(source, event.after)
    if not before_in and not after_in:
        return None
    deleted = not after_in
    row = event.after if after_in else event.before
    assert row is not None
    if deleted:
        key_values = engine.map_row(_only(source, mapping.key), row, context)
        values = dict(key_values)
        if not source.deletes_target:
            values.update(source.on_delete or {})
        asserted = tuple(v for v in values if v not in mapping.key)
        base = None
    else:
        values = engine.map_row(source, row, context)
        base = _base(engine, source, event, context) if before_in else None
        if event.op is Op.UPDATE and base is not None:
            asserted = tuple(n for n in values if n not in mapping.key and (n not in base or base[n] != values[n]))
        else:
            asserted = tuple(n for n in values if n not in mapping.key)
    parent_key = engine.value(source.parent_key, row, context.reading(source.system)) if source.parent_key \
        else None
    return MappedChange(
        mapping=mapping, source=source, system=system, key=mapping.key_of(values), deleted=deleted,
        values=values, asserted=asserted, base=base, commit_time=event.commit_time, parent_key=parent_key,
        group_key=tuple(row.get(c) for c in source.group_by),
        member_key=(source.name, *(event.key.values() if event.key else (mapping.key_of(values),))))


def project(mapping: RecordMapping, record: Mapping[str, Any], context: Context,
            named: Mapping[str, Any]) -> dict[str, Any]:
    """A canonical record through a mapping whose source reads that record (e.g. Customer to the ERP
    Account payload)."""
    sources = [s for s in mapping.sources if s.record is not None]
    if len(sources) != 1:
        raise MappingError(f"{mapping.path.name} needs exactly one `record:` source to project a record")
    return Engine(mapping, named).map_row(sources[0], record, context)


def _only(source: SourceMapping, names: tuple[str, ...]) -> SourceMapping:
    missing = [n for n in names if n not in source.bindings]
    if missing:
        raise MappingError(f"{source.name} does not bind the key {', '.join(missing)}")
    return SourceMapping(name=source.name, line=source.line, system=source.system, table=source.table,
                         bindings={n: source.bindings[n] for n in names})


def _base(engine: Engine, source: SourceMapping, event: ChangeEvent,
          context: Context) -> Mapping[str, Any] | None:
    """The mapped before-image; None when there is none, or when it cannot be mapped (then the change
    asserts every field it binds)."""
    if event.before is None or event.op is not Op.UPDATE:
        return None
    try:
        return engine.map_row(source, event.before, context)
    except MappingValueError:
        return None
