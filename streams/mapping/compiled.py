"""A mapping compiled once into plain callables, so mapping a record interprets nothing.

Each field binding becomes one function of the row: its value getter (a column, an expression, a constant or
the nested fields), its transforms' ``apply`` methods in a tuple, and a coercer to its Avro type chosen once
(the union resolved, named types looked up, a decimal's scale read). Each source becomes its bindings' functions,
its key fields' functions (for a delete) and its condition; each mapping, its sources by (system, table).

A plan is built when a mapping file is loaded (:func:`streams.mapping.loader.load_mapping`) and kept on the
:class:`~streams.mapping.spec.RecordMapping` for the named types it was built with, so :func:`plan_of` is a
lookup on every later record. Error messages say what they said when mappings were interpreted (file:line,
field, value); the location text is made once per binding, the message only when a value is refused.
"""

from __future__ import annotations

import datetime as dt
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from streams.mapping.decimals import from_text, not_a_number, quantize
from streams.mapping.exceptions import MappingError, MappingValueError, NotANumber
from streams.mapping.spec import FieldBinding, RecordMapping, SourceMapping
from streams.mapping.transforms import Context, StepInput

Row = Mapping[str, Any]
Coercer = Callable[[Any], Any]
#: A compiled binding: its value from the row (``given`` carries the row and the context to the transforms).
FieldFunction = Callable[[Row, StepInput], Any]

_INTEGRAL = {"int", "long"}


def _same(value: Any) -> Any:
    return value


#: Coercers that return a value of one exact type unchanged (and null too, when the field is nullable): the
#: row mapper (:func:`_row_mapper`) tests for these inline and calls the coercer only for other values.
_PASSES: weakref.WeakKeyDictionary[Coercer, tuple[type, bool]] = weakref.WeakKeyDictionary()


def coercer(avro_type: Any, named: Mapping[str, Any], where: str, column: str | None = None, *,
            key: bool = False) -> Coercer:
    """A function giving a value in the form fastavro writes for ``avro_type``, or raising a
    :class:`MappingValueError` naming ``where``: :func:`streams.mapping.engine.coerce`, decided once. ``column``:
    the one column the value comes from, named with a NaN a decimal field refuses. ``key``: the field is the
    record's key, whose null says so (a default there would make every key-less row one entity)."""
    return _coercer(avro_type, named, where, _null_key(where, column) if key else
                    f"{where}: null for a field that is not nullable; add a `default:` transform", column)


def _null_key(where: str, column: str | None) -> str:
    keep_out = f'`when: "{column} is not None"`' if column else "a `when:` that leaves out rows whose key is null"
    return (f"{where}: null in the record's key, so the row cannot be told from other rows without one and is not "
            f"used (a `default:` would make every such row one entity); fix: keep such rows out with the source's "
            f"{keep_out}, or make the column NOT NULL, then replay this dead letter if the row gets a key")


def _coercer(avro_type: Any, named: Mapping[str, Any], where: str, null: str | None,
             column: str | None = None) -> Coercer:
    """``null``: the error a null value gets (None: a null stays null)."""
    if isinstance(avro_type, list):
        branches = [b for b in avro_type if b != "null"]
        null = None if "null" in avro_type else f"{where}: null for a field that is not nullable"
        if len(branches) == 1:
            return _coercer(branches[0], named, where, null, column)
        return _present(null)
    if isinstance(avro_type, str) and avro_type in named:
        return _coercer(named[avro_type], named, where, null, column)
    if isinstance(avro_type, dict):
        logical = avro_type.get("logicalType")
        if logical == "decimal":
            return _decimal(int(avro_type.get("scale", 0)), where, null, column)
        if logical in ("timestamp-micros", "timestamp-millis"):
            return _timestamp(where, null)
        if logical in ("local-timestamp-micros", "local-timestamp-millis"):
            return _local_timestamp(where, null)
        if logical == "date":
            return _date(where, null)
        if logical in ("time-micros", "time-millis"):
            return _time_of_day(where, null)
        kind = avro_type.get("type")
        if kind == "enum":
            return _enum(tuple(avro_type["symbols"]), where, null)
        if isinstance(kind, str) and kind in ("record", "error", "array", "map"):
            return _present(null)
        if isinstance(kind, list) and null is not None:  # a union as a type's `type`: its null refused first
            return _refusing(null, _coercer(kind, named, where, null, column))
        return _coercer(kind, named, where, null, column)
    if avro_type == "boolean":
        return _boolean(where, null)
    if avro_type in _INTEGRAL:
        return _integral(where, null)
    if avro_type == "string":
        return _string(where, null)
    return _present(null)


# Each coercer below takes a null first (kept, or refused with ``null``), then checks and converts the value.

def _present(null: str | None) -> Coercer:
    if null is None:
        return _same

    def present(value: Any) -> Any:
        if value is None:
            raise MappingValueError(null)
        return value

    return present


def _refusing(null: str, inner: Coercer) -> Coercer:
    def refusing(value: Any) -> Any:
        if value is None:
            raise MappingValueError(null)
        return inner(value)

    return refusing


def _decimal(scale: int, where: str, null: str | None, column: str | None) -> Coercer:
    def text_refused(value: str) -> MappingValueError:
        """Why text does not fill a decimal field: NaN or an infinity (the connector's decimal.handling.mode:
        string), or text at all."""
        try:
            from_text(value)
        except NotANumber:
            return not_a_number(value, where=where, column=column)
        except MappingValueError:
            pass
        return MappingValueError(
            f"{where}: expected an exact number, got text {value!r}: a NUMERIC column arrives as text when its "
            "connector sets decimal.handling.mode: string; keep `precise` (connect-configs/README.md), or bind it "
            f"through the transform `decimal: {{scale: {scale}}}`")

    def decimal(value: Any) -> Any:
        if value is None:
            if null is None:
                return None
            raise MappingValueError(null)
        if isinstance(value, str):
            raise text_refused(value)
        if isinstance(value, bool) or not isinstance(value, (Decimal, int)):
            raise MappingValueError(f"{where}: expected an exact number, got {value!r}")
        try:
            return quantize(Decimal(value), scale)
        except NotANumber as exc:
            raise not_a_number(exc.value, where=where, column=column) from exc
        except MappingValueError as exc:
            raise MappingValueError(f"{where}: {exc}") from exc

    return decimal


def _timestamp(where: str, null: str | None) -> Coercer:
    utc = dt.UTC

    def timestamp(value: Any) -> Any:
        if value is None:
            if null is None:
                return None
            raise MappingValueError(null)
        if not isinstance(value, dt.datetime) or value.tzinfo is None:
            raise MappingValueError(f"{where}: expected a UTC timestamp, got {value!r}; a zone-less local "
                                    "time needs `local_to_utc`")
        return value.astimezone(utc)

    return timestamp


def _local_timestamp(where: str, null: str | None) -> Coercer:
    """A zone-less wall-clock time (a ``DATETIME`` column, or ``utc_to_local`` of a UTC time), as fastavro writes
    ``local-timestamp-micros``: a naive ``datetime``, or ISO 8601 text without an offset. A time with an offset is
    an instant, not a wall-clock time: which zone's wall clock it should show is the mapping's to say."""
    def local_timestamp(value: Any) -> Any:
        if value is None:
            if null is None:
                return None
            raise MappingValueError(null)
        time = value
        if isinstance(value, str):
            try:
                time = dt.datetime.fromisoformat(value)
            except ValueError:
                raise MappingValueError(f"{where}: {value!r} is not an ISO 8601 local time") from None
        if not isinstance(time, dt.datetime):
            raise MappingValueError(f"{where}: expected a zone-less local time, got {value!r}")
        if time.tzinfo is not None:
            raise MappingValueError(f"{where}: expected a zone-less local time, got {value!r}, which has an offset; "
                                    "`utc_to_local` gives the wall-clock time of a UTC time in a zone")
        return time

    return local_timestamp


def _date(where: str, null: str | None) -> Coercer:
    def date(value: Any) -> Any:
        if value is None:
            if null is None:
                return None
            raise MappingValueError(null)
        if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
            raise MappingValueError(f"{where}: expected a date, got {value!r}")
        return value

    return date


def _time_of_day(where: str, null: str | None) -> Coercer:
    """A time of day (a TIME column, decoded as a ``datetime.time``), as fastavro writes ``time-micros``."""
    def time_of_day(value: Any) -> Any:
        if value is None:
            if null is None:
                return None
            raise MappingValueError(null)
        if not isinstance(value, dt.time):
            raise MappingValueError(f"{where}: expected a time of day, got {value!r}")
        return value

    return time_of_day


def _enum(symbols: tuple[str, ...], where: str, null: str | None) -> Coercer:
    allowed = frozenset(symbols)

    def enum(value: Any) -> Any:
        if type(value) is str and value in allowed:
            return value
        if value is None:
            if null is None:
                return None
            raise MappingValueError(null)
        if value not in symbols:  # not text: compared as the schema's list of symbols compares it
            raise MappingValueError(f"{where}: {value!r} is not one of {', '.join(symbols)}; map it with a value map")
        return value

    return enum


def _boolean(where: str, null: str | None) -> Coercer:
    def boolean(value: Any) -> Any:
        if isinstance(value, bool):
            return value
        if value is None:
            if null is None:
                return None
            raise MappingValueError(null)
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise MappingValueError(f"{where}: expected true or false, got {value!r}")

    _PASSES[boolean] = (bool, null is None)
    return boolean


def _integral(where: str, null: str | None) -> Coercer:
    def integral(value: Any) -> Any:
        if type(value) is int:
            return value
        if value is None:
            if null is None:
                return None
            raise MappingValueError(null)
        if isinstance(value, bool) or not isinstance(value, (int, Decimal)) or value != int(value):
            raise MappingValueError(f"{where}: expected a whole number, got {value!r}")
        return int(value)

    _PASSES[integral] = (int, null is None)
    return integral


def _string(where: str, null: str | None) -> Coercer:
    def string(value: Any) -> Any:
        if isinstance(value, str):
            return value
        if value is None:
            if null is None:
                return None
            raise MappingValueError(null)
        raise MappingValueError(f"{where}: expected text, got {value!r}")

    _PASSES[string] = (str, null is None)
    return string


def where_of(mapping: RecordMapping, binding: FieldBinding) -> str:
    """Where a binding is, as its errors name it: ``<file>:<line> <field>``."""
    return f"{mapping.path.name}:{binding.line} {binding.field}"


def compile_binding(mapping: RecordMapping, binding: FieldBinding, named: Mapping[str, Any]) -> FieldFunction:
    """``binding`` as one function of the row: get, transform, coerce."""
    where = where_of(mapping, binding)
    coerce = coercer(binding.avro_type, named, where, binding.column, key=_is_key(mapping, binding))
    read = _reader(mapping, binding, named)
    applies = tuple(step.apply for step in binding.steps)
    if not applies:
        if binding.column is not None and binding.nested is None:
            column = binding.column
            if coerce is _same:
                return lambda row, given: row.get(column)
            return lambda row, given: coerce(row.get(column))
        return lambda row, given: coerce(read(row, given))

    def value(row: Row, given: StepInput) -> Any:
        raw = read(row, given)
        try:
            for apply in applies:
                raw = apply(raw, given)
        except NotANumber as exc:
            raise not_a_number(exc.value, where=where, column=binding.column) from exc
        except MappingValueError as exc:
            raise type(exc)(f"{where}: {exc}") from exc
        return coerce(raw)

    return value


def _reader(mapping: RecordMapping, binding: FieldBinding, named: Mapping[str, Any]) -> FieldFunction:
    """The raw value of ``binding``, before its transforms."""
    if binding.nested is not None:
        inner = tuple((name, compile_binding(mapping, nested, named)) for name, nested in binding.nested.items())
        null_unless = binding.null_unless

        def record(row: Row, given: StepInput) -> Any:
            for column in null_unless:
                if row.get(column) is None:
                    return None
            return {name: function(row, given) for name, function in inner}

        return record
    if binding.column is not None:
        column = binding.column
        return lambda row, given: row.get(column)
    if binding.expression is not None:
        evaluate = binding.expression.evaluate
        return lambda row, given: evaluate(row)
    constant = binding.constant
    return lambda row, given: constant


def _plain_column(mapping: RecordMapping, binding: FieldBinding,
                  named: Mapping[str, Any]) -> tuple[str, Coercer | None] | None:
    """A binding that only reads a column and coerces it (most fields): the column and its coercer (None: the
    value as it is); None for any other binding."""
    if binding.steps or binding.column is None or binding.nested is not None:
        return None
    coerce = coercer(binding.avro_type, named, where_of(mapping, binding), binding.column,
                     key=_is_key(mapping, binding))
    return binding.column, (None if coerce is _same else coerce)


def _is_key(mapping: RecordMapping, binding: FieldBinding) -> bool:
    """Whether ``binding`` fills a field of the record's key (a nested binding never does)."""
    return binding.field in mapping.key and binding.nested is None


def _row_mapper(fields: tuple[tuple[str, FieldFunction], ...],
                plain: Mapping[str, tuple[str, Coercer | None] | None]) -> Callable[[Row, Context], dict[str, Any]]:
    """One function that maps a row to every field, generated as one dict display: a plain column's value is read
    (and coerced) inline, any other binding's function is called; the same values, in the same order, and the same
    errors as calling each field's function in turn, without a call per plain field."""
    names: dict[str, Any] = {"StepInput": StepInput}
    items = []
    for n, (name, function) in enumerate(fields):
        read = plain.get(name)
        if read is None:
            names[f"f{n}"] = function
            items.append(f"{name!r}: f{n}(row, given)")
        elif read[1] is None:
            items.append(f"{name!r}: get({read[0]!r})")
        else:
            names[f"c{n}"] = read[1]
            passes = _PASSES.get(read[1])
            if passes is None:
                items.append(f"{name!r}: c{n}(get({read[0]!r}))")
            else:  # the coercer's own first test, inline
                names[f"t{n}"] = passes[0]
                got = f"(v := get({read[0]!r}))"
                test = f"{got} is None or type(v) is t{n}" if passes[1] else f"type({got}) is t{n}"
                items.append(f"{name!r}: (v if {test} else c{n}(v))")
    called = any(plain.get(name) is None for name, _ in fields)
    given = "    given = StepInput(row=row, context=context)\n" if called else ""
    source = (f"def map_row(row, context):\n{given}    get = row.get\n"
              f"    return {{{', '.join(items)}}}\n")
    exec(compile(source, "<mapping row mapper>", "exec"), names)  # the text is made above from names and reprs
    mapper: Callable[[Row, Context], dict[str, Any]] = names["map_row"]
    return mapper


@dataclass(frozen=True, eq=False)
class SourcePlan:
    """One source compiled: its bindings' functions, its key fields' (what a delete maps), its condition."""

    source: SourceMapping
    fields: tuple[tuple[str, FieldFunction], ...]
    keys: tuple[tuple[str, FieldFunction], ...]
    #: The fields a mapped row claims: every field but the key's, in binding order (a create's ``asserted``).
    claims: tuple[str, ...]
    #: Key fields the source does not bind (a delete of it cannot be mapped; said when one happens).
    missing_keys: tuple[str, ...]
    condition: Callable[[Row], Any] | None
    parent_key: FieldFunction | None
    #: The columns a row must hold to be mapped whole (every one the source reads, its ``group_by`` too), and to be
    #: placed (those of its key fields, parent key, condition and ``group_by``: all a delete reads). Empty for a
    #: source that reads a canonical record.
    needs: frozenset[str]
    needs_to_place: frozenset[str]

    def applies(self, row: Row | None) -> bool:
        return row is not None and (self.condition is None or bool(self.condition(row)))

    #: ``map_row``'s work as one generated function (:func:`_row_mapper`).
    mapper: Callable[[Row, Context], dict[str, Any]]

    #: The source's ``changed_at`` (:attr:`SourceMapping.changed_at`): when a row last changed, a UTC time or null.
    changed_at: FieldFunction | None = None

    def map_row(self, row: Row, context: Context) -> dict[str, Any]:
        """The fields the source binds; ``context`` already reads the source's system (:meth:`Context.reading`)."""
        return self.mapper(row, context)

    def lacking(self, row: Row, *, whole: bool = True) -> tuple[str, ...]:
        """The columns ``row`` lacks that mapping it (``whole``) or placing it needs, sorted; () when it holds
        them all. One comparison of the row's keys with a set made at compile time: cheap on every record."""
        needs = self.needs if whole else self.needs_to_place
        if row.keys() >= needs:
            return ()
        return tuple(sorted(needs.difference(row.keys())))

    def map_keys(self, row: Row, context: Context) -> dict[str, Any]:
        """The key fields alone, from a deleted row."""
        if self.missing_keys:
            raise MappingError(f"{self.source.name} does not bind the key {', '.join(self.missing_keys)}")
        given = StepInput(row=row, context=context)
        return {name: function(row, given) for name, function in self.keys}


def compile_source(mapping: RecordMapping, source: SourceMapping, named: Mapping[str, Any],
                   compiled: Mapping[int, FieldFunction] | None = None) -> SourcePlan:
    """``source`` of ``mapping`` compiled; ``compiled``: functions already made, by ``id`` of their binding."""
    def function(binding: FieldBinding) -> FieldFunction:
        done = compiled.get(id(binding)) if compiled is not None else None
        return done if done is not None else compile_binding(mapping, binding, named)

    fields = tuple((name, function(binding)) for name, binding in source.bindings.items())
    by_name = dict(fields)
    plain = {name: _plain_column(mapping, binding, named) for name, binding in source.bindings.items()}
    table = source.table is not None
    return SourcePlan(
        source=source, fields=fields, mapper=_row_mapper(fields, plain),
        keys=tuple((name, by_name[name]) for name in mapping.key if name in by_name),
        claims=tuple(name for name in by_name if name not in mapping.key),
        missing_keys=tuple(name for name in mapping.key if name not in by_name),
        condition=source.condition.evaluate if source.condition is not None else None,
        parent_key=function(source.parent_key) if source.parent_key is not None else None,
        needs=(source.columns_read | set(source.group_by)) if table else frozenset(),
        needs_to_place=(source.reads_to_place(mapping.key) | set(source.group_by)) if table else frozenset(),
        changed_at=compile_binding(mapping, source.changed_at, named) if source.changed_at is not None else None)


@dataclass(frozen=True, eq=False)
class MappingPlan:
    """A mapping compiled for one set of named Avro types: every source and binding, ready to call.

    It holds no reference to its mapping (the mapping holds it)."""

    named: Mapping[str, Any]
    #: By ``id`` of the compiled object, with the object itself (so an id is never taken for another's).
    sources: Mapping[int, tuple[SourceMapping, SourcePlan]]
    bindings: Mapping[int, tuple[FieldBinding, FieldFunction]]
    by_table: Mapping[tuple[str | None, str | None], tuple[SourcePlan, ...]]

    def source(self, mapping: RecordMapping, source: SourceMapping) -> SourcePlan:
        """The plan of ``source``; one of another mapping (made by a caller) is compiled for this call."""
        found = self.sources.get(id(source))
        if found is not None and found[0] is source:
            return found[1]
        return compile_source(mapping, source, self.named)

    def field(self, mapping: RecordMapping, binding: FieldBinding) -> FieldFunction:
        """The function of ``binding`` (a binding of none of the mapping's sources is compiled for this call)."""
        found = self.bindings.get(id(binding))
        if found is not None and found[0] is binding:
            return found[1]
        return compile_binding(mapping, binding, self.named)

    def sources_for(self, system: str, table: str) -> tuple[SourcePlan, ...]:
        return self.by_table.get((system, table), ())


def compile_mapping(mapping: RecordMapping, named: Mapping[str, Any]) -> MappingPlan:
    """Every source and binding of ``mapping`` compiled against the named types ``named``."""
    bindings: dict[int, tuple[FieldBinding, FieldFunction]] = {}
    for source in mapping.sources:
        for binding in (*source.bindings.values(), *([source.parent_key] if source.parent_key else [])):
            if id(binding) not in bindings:
                bindings[id(binding)] = (binding, compile_binding(mapping, binding, named))
    functions = {key: function for key, (_, function) in bindings.items()}
    sources = {id(s): (s, compile_source(mapping, s, named, functions)) for s in mapping.sources}
    by_table: dict[tuple[str | None, str | None], list[SourcePlan]] = {}
    for source, plan in sources.values():
        by_table.setdefault((source.system, source.table), []).append(plan)
    return MappingPlan(named=named, sources=sources, bindings=bindings,
                       by_table={where: tuple(plans) for where, plans in by_table.items()})


def plan_of(mapping: RecordMapping, named: Mapping[str, Any]) -> MappingPlan:
    """The plan of ``mapping`` for ``named``: compiled on first use (the loader compiles it at load), then kept
    on the mapping, one per set of named types (compared by identity: a set loaded again compiles again)."""
    plans = mapping.plans
    plan = plans.get(id(named))
    if plan is None or plan.named is not named:
        plan = plans[id(named)] = compile_mapping(mapping, named)
    return plan
