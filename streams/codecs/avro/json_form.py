"""What Avro's encoder refuses of a record and its JSON form would carry: a check compiled once per schema.

A command's payload travels as JSON text (:func:`streams.flows.commands.payload_json`), not as Avro, so nothing on
its way refused a value its payload record's schema cannot hold: ``123456789012.35`` in a ``decimal(12,2)`` field
was written as it is, and a lenient target stored it. :func:`compile_check` turns a fastavro-parsed record schema
into a check of what depends on the value (the kinds are the mappings' check at load: mappings/README.md, Checks
at load):

- a decimal is a ``Decimal`` with at most ``scale`` decimals as written (rounding is the mapping's job, and a
  value it did not round is refused, as the canonical record's encoder refuses it) and at most ``precision -
  scale`` digits before the point (:func:`~streams.codecs.avro.writer.decimal_misfit`);
- an ``int`` or a ``long`` is an integer within 32 or 64 bits (JSON takes any integer);
- an enum's value is one of its symbols; a ``fixed`` value has its size;
- null only where the schema allows it: a field, an array's item or a map's value of a union with ``null``.

A field the value leaves out is not checked: a payload may carry some of its record's fields only (a command for
an entity whose record is not complete carries its key). Only the fields with something to check are visited,
so a record of nullable text fields gets no check at all (``None``). A union of several types besides null lets
a value through when one of them does.

A value that does not fit raises :class:`~streams.codecs.avro.writer.FieldValueError` as the compiled writer does
(the field's path, its value unless the field is marked ``pii``, why), so that it is worded as an encode error is
(:meth:`streams.codecs.avro.single_object.SchemaStore.check_json`).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from streams.codecs.avro.writer import (
    INT_MAX,
    INT_MIN,
    LONG_MAX,
    LONG_MIN,
    WRITE_ERRORS,
    DecimalMisfit,
    decimal_misfit,
    field_error,
)

#: Raises one of ``WRITE_ERRORS`` (a :class:`FieldValueError` within a record) for a value that does not fit.
Check = Callable[[Any], None]

_ABSENT = object()
_NOT_NULL = "null, and the field is not nullable"


def _integer(low: int, high: int, kind: str) -> Check:
    def check(value: Any) -> None:
        if not isinstance(value, int):
            raise TypeError(f"{type(value).__name__} is not an integer")
        if not low <= value <= high:
            raise OverflowError(f"{value} does not fit an Avro {kind}")
    return check


def _decimal(precision: int, scale: int) -> Check:
    whole_digits = precision - scale
    quantum = Decimal(1).scaleb(-scale)

    def check(value: Any) -> None:
        # the common case, a value the mapping rounded to the field's scale, in two C calls where the digits
        # as a tuple (as_tuple) cost five times both: exactly the scale's decimals, and the first digit no
        # further left than the field allows (adjusted(): the first digit's power of ten)
        if type(value) is Decimal and value.same_quantum(quantum) and value.adjusted() < whole_digits:
            return
        if not isinstance(value, Decimal):
            raise TypeError(f"{type(value).__name__} is not a decimal")
        why = decimal_misfit(value, precision, scale)
        if why is not None:
            raise DecimalMisfit(why)
    return check


def _enum(name: str, symbols: list[str]) -> Check:
    known = frozenset(symbols)

    def check(value: Any) -> None:
        if not isinstance(value, str) or value not in known:
            raise ValueError(f"{value!r} is not a symbol of {name} ({', '.join(symbols)})")
    return check


def _fixed(name: str, size: int) -> Check:
    def check(value: Any) -> None:
        if not isinstance(value, (bytes, bytearray)):
            raise TypeError(f"{type(value).__name__} is not bytes")
        if len(value) != size:
            raise ValueError(f"{len(value)} bytes, {name} holds exactly {size}")
    return check


def _nullable(schema: Any) -> bool:
    return schema == "null" or (isinstance(schema, list) and "null" in schema)


class _Compiler:
    def __init__(self, named: Mapping[str, Any]) -> None:
        self.named = named
        #: A record's check by name (None: it has nothing to check), set before its fields are compiled, since a
        #: record may refer to itself.
        self.compiled: dict[str, Check | None] = {}

    def node(self, schema: Any) -> Check | None:
        """The check of a value of ``schema`` that is not null (the caller checks null against the schema)."""
        if isinstance(schema, str):
            if schema == "int":
                return _integer(INT_MIN, INT_MAX, "int")
            if schema == "long":
                return _integer(LONG_MIN, LONG_MAX, "long")
            if schema in self.compiled:
                return self.compiled[schema]
            if schema in self.named:
                return self.node(self.named[schema])
            return None  # boolean, float, double, bytes, string: JSON carries what Avro would
        if isinstance(schema, list):
            return self.union(schema)
        if not isinstance(schema, dict):
            return None
        kind = schema["type"]
        logical = schema.get("logicalType")
        if logical == "decimal" and kind in ("bytes", "fixed"):
            return _decimal(int(schema["precision"]), int(schema.get("scale", 0)))
        if kind in ("record", "error"):
            return self.record(schema)
        if kind == "enum":
            return _enum(schema["name"], list(schema["symbols"]))
        if kind == "fixed":
            return _fixed(schema["name"], int(schema["size"]))
        if kind == "array":
            return self.each(schema["items"], enumerate, "an array")
        if kind == "map":
            return self.each(schema["values"], lambda value: value.items(), "a map")
        if logical is None and isinstance(kind, str):
            return self.node(kind)
        return None  # times and dates: JSON writes any of them as text

    def union(self, branches: list[Any]) -> Check | None:
        checks = [self.node(branch) for branch in branches if branch != "null"]
        if not checks or any(check is None for check in checks):
            return None  # a branch that checks nothing takes any value
        alternatives = [check for check in checks if check is not None]
        if len(alternatives) == 1:
            return alternatives[0]

        def check(value: Any) -> None:
            first: Exception | None = None
            for alternative in alternatives:
                try:
                    alternative(value)
                    return
                except WRITE_ERRORS as exc:
                    first = first or exc
            assert first is not None
            raise first
        return check

    def each(self, inner: Any, items: Callable[[Any], Iterable[tuple[Any, Any]]], what: str) -> Check | None:
        """The check of an array's items or a map's values: each checked, and none null unless nullable."""
        check = self.node(inner)
        nullable = _nullable(inner)
        if check is None and nullable:
            return None
        is_array = what == "an array"

        def each(value: Any) -> None:
            if isinstance(value, (str, bytes, Mapping)) if is_array else not isinstance(value, Mapping):
                raise TypeError(f"{type(value).__name__} is not {what}")
            for key, item in items(value):
                try:
                    if item is None:
                        if not nullable:
                            raise ValueError(_NOT_NULL)
                    elif check is not None:
                        check(item)
                except WRITE_ERRORS as exc:
                    raise field_error(f"[{key}]", exc, item, True) from exc
        return each

    def record(self, schema: dict[str, Any]) -> Check | None:
        name = schema["name"]
        #: (field, check, shown) of the fields with a check; (field, shown) of those that are not nullable, and
        #: what takes their values out of a record at once (None: every field is nullable).
        checked: list[tuple[str, Check, bool]] = []
        not_null: list[tuple[str, bool]] = []
        values_of: Callable[[Mapping[str, Any]], tuple[Any, ...]] | None = None

        def check(value: Any) -> None:
            if type(value) is not dict and not isinstance(value, Mapping):
                raise TypeError(f"{type(value).__name__} is not a record")
            if values_of is not None:
                try:
                    nulls = None in values_of(value)  # in C, the fields that are not nullable at once
                except KeyError:  # a field left out, which is not checked
                    nulls = True
                if nulls:
                    _no_nulls(value, not_null)
            get = value.get
            for field, field_check, shown in checked:
                item = get(field)
                if item is not None:  # a null is nullable here, or was refused above
                    try:
                        field_check(item)
                    except WRITE_ERRORS as exc:
                        raise field_error(field, exc, item, shown) from exc

        self.compiled[name] = check  # before the fields: a field of the record's own type checks it
        for field in schema["fields"]:
            field_type = field["type"]
            field_check = self.node(field_type)
            shown = not field.get("pii", False)
            if field_check is not None:
                checked.append((field["name"], field_check, shown))
            if not _nullable(field_type):
                not_null.append((field["name"], shown))
        if not_null:
            values_of = _values_of(tuple(field for field, _ in not_null))
        if not checked and not not_null:
            self.compiled[name] = None
            return None
        return check


def _values_of(fields: tuple[str, ...]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """The values of ``fields`` in a record as a tuple (``KeyError`` when one is left out)."""
    if len(fields) == 1:
        (only,) = fields
        return lambda value: (value[only],)
    return operator.itemgetter(*fields)


def _no_nulls(value: Mapping[str, Any], not_null: list[tuple[str, bool]]) -> None:
    """Refuse the first of the ``not_null`` fields that ``value`` holds a null in (one it leaves out is not
    checked)."""
    for field, shown in not_null:
        if field in value and value[field] is None:
            raise field_error(field, ValueError(_NOT_NULL), None, shown)


def compile_check(parsed: Mapping[str, Any]) -> Check | None:
    """The check of a fastavro-parsed record schema (:func:`fastavro.parse_schema`), or ``None`` where nothing in
    it depends on the value."""
    return _Compiler(parsed.get("__named_schemas", {})).node(dict(parsed))
