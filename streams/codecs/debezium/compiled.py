"""Connect schemas compiled once into converters of their JSON values (the fast path of :mod:`.values`).

:func:`compile_schema` walks a Connect schema once and returns a converter: a function of the JSON value
alone that returns what :func:`streams.codecs.debezium.values.decode_value` returns for it, with every type
check, logical type, scale and default resolved in advance. Per record, no schema is looked at and no
error-location string is built.

A converter is strict: it accepts only what the interpreting decoder accepts with the same result, and
raises :class:`~streams.codecs.exceptions.FieldDecodeError` *without* a location for anything else (a value
that does not fit, an unknown type, a JSON value of a subclass it does not expect). The caller then decodes
the record again with :mod:`.values`, which names the field and the record position in its error, or
accepts what the converter was too strict for: errors are rare, so their cost does not matter.
"""

from __future__ import annotations

import binascii
import datetime as dt
from collections.abc import Callable, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from streams.codecs.debezium.values import DECODERS, EPOCH, EPOCH_DATE, PASS_THROUGH, decode_value
from streams.codecs.exceptions import FieldDecodeError

Converter = Callable[[Any], Any]

#: The exact JSON value types of each Connect type; a subclass (or bool for a number) leaves the fast path.
_EXACT: dict[str, tuple[type, ...]] = {
    "int8": (int,), "int16": (int,), "int32": (int,), "int64": (int,),
    "float": (int, float), "double": (int, float), "float32": (int, float), "float64": (int, float),
    "boolean": (bool,), "string": (str,), "bytes": (str,),
    "array": (list,), "map": (dict, list), "struct": (dict,),
}
_DAY = dt.timedelta(days=1)
_MILLI = dt.timedelta(milliseconds=1)
_MICRO = dt.timedelta(microseconds=1)


class _Miss:
    """Raises the location-less error that sends a record back to the interpreting decoder."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __call__(self, value: Any) -> Any:
        raise FieldDecodeError(f"{self.reason} ({type(value).__name__})")


def _b64(value: str) -> bytes:
    """``base64.b64decode(validate=True)`` without its regular expression: strict mode refuses at least
    everything it refuses (and a little more, which the interpreting decoder then accepts)."""
    try:
        return binascii.a2b_base64(value, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise FieldDecodeError(f"invalid base64: {exc}") from exc


def _int_converter(convert: Callable[[int], Any]) -> Converter:
    def converter(value: Any) -> Any:
        if type(value) is not int:
            raise FieldDecodeError(f"expected a whole number, got {type(value).__name__}")
        try:  # free unless raised (Python 3.11's zero-cost exceptions): the hot path pays nothing
            return convert(value)
        except OverflowError:  # beyond year 9999 (PostgreSQL's infinity): the interpreting decoder names it
            raise FieldDecodeError("a date or time beyond the years 1 to 9999") from None
    return converter


def _decimal(scale_parameter: Any) -> Converter:
    try:
        scale = int(scale_parameter)
    except (TypeError, ValueError):
        return _Miss("a Decimal scale that is not a whole number")
    exponent = f"E{-scale}"

    def converter(value: Any) -> Decimal:
        if type(value) is not str:
            raise FieldDecodeError("expected base64 text for a Decimal")
        return Decimal(f"{int.from_bytes(_b64(value), 'big', signed=True)}{exponent}")
    return converter


def _variable_scale_decimal(value: Any) -> Decimal:
    scale = value.get("scale")
    raw = value.get("value")
    if type(scale) is not int or type(raw) is not str:
        raise FieldDecodeError("a VariableScaleDecimal is a struct {scale, value}")
    return Decimal(f"{int.from_bytes(_b64(raw), 'big', signed=True)}E{-scale}")


def _zoned_timestamp(value: Any) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise FieldDecodeError("a ZonedTimestamp without an offset")
    return parsed.astimezone(dt.UTC)


def _logical(name: str, schema: Mapping[str, Any]) -> Converter | None:
    """The converter of a non-null value of logical type ``name`` (its JSON type already checked)."""
    if name == "org.apache.kafka.connect.data.Decimal":
        params = schema.get("parameters") or {}
        return _decimal(params["scale"]) if "scale" in params else _Miss("a Decimal without a scale")
    if name == "io.debezium.data.VariableScaleDecimal":
        return _variable_scale_decimal
    if name in ("org.apache.kafka.connect.data.Date", "io.debezium.time.Date"):
        return _int_converter(lambda days: EPOCH_DATE + days * _DAY)
    if name in ("org.apache.kafka.connect.data.Time", "io.debezium.time.Time"):
        return _int_converter(lambda millis: (EPOCH + millis * _MILLI).time())
    if name == "io.debezium.time.MicroTime":
        return _int_converter(lambda micros: (EPOCH + micros * _MICRO).time())
    if name == "io.debezium.time.NanoTime":
        return _int_converter(lambda nanos: (EPOCH + (nanos // 1000) * _MICRO).time())
    if name == "io.debezium.time.ZonedTime":
        return dt.time.fromisoformat
    if name in ("org.apache.kafka.connect.data.Timestamp", "io.debezium.time.Timestamp"):
        return _int_converter(lambda millis: EPOCH + millis * _MILLI)
    if name == "io.debezium.time.MicroTimestamp":
        return _int_converter(lambda micros: EPOCH + micros * _MICRO)
    if name == "io.debezium.time.NanoTimestamp":
        return _int_converter(lambda nanos: EPOCH + (nanos // 1000) * _MICRO)
    if name == "io.debezium.time.ZonedTimestamp":
        return _zoned_timestamp
    return None


def _typed(kind: str, check: Converter | None, types: tuple[type, ...]) -> Converter:
    """``check`` applied to values whose exact JSON type is one of ``types``."""
    if check is None:
        if len(types) == 1:
            only = types[0]

            def plain(value: Any) -> Any:
                if type(value) is not only:
                    raise FieldDecodeError(f"a {kind} field holds another type")
                return value
            return plain

        def plain_number(value: Any) -> Any:
            if type(value) not in types:
                raise FieldDecodeError(f"a {kind} field holds another type")
            return value
        return plain_number
    convert = check

    def typed(value: Any) -> Any:
        if type(value) not in types:
            raise FieldDecodeError(f"a {kind} field holds another type")
        return convert(value)
    return typed


def _present(schema: Mapping[str, Any]) -> Converter:
    """The converter of a non-null value of ``schema``; a schema too odd to compile converts nothing (the
    interpreting decoder says what is wrong with it, or copes)."""
    try:
        return _compile_present(schema)
    except Exception:  # whatever it is, the interpreting decoder reports it with its field
        return _Miss("a schema this compiler cannot read")


def _compile_present(schema: Mapping[str, Any]) -> Converter:
    kind = str(schema.get("type"))
    name = schema.get("name")
    name = name if isinstance(name, str) else None
    if kind not in _EXACT:
        return _Miss(f"unknown Connect type {kind!r}")
    types = _EXACT[kind]
    if name is not None:
        logical = _logical(name, schema)
        if logical is None and name in DECODERS:
            decoder = DECODERS[name]
            logical = lambda value: decoder(value, schema, "")  # noqa: E731 - a decoder not specialised here
        if logical is not None:
            return _typed(kind, logical, types)
        if kind != "struct" and name not in PASS_THROUGH:
            return _Miss(f"unknown logical type {name!r}")
    if kind == "bytes":
        return _typed(kind, _b64, types)
    if kind == "struct":
        return _struct(schema)
    if kind == "array":
        items = compile_schema(schema.get("items") or {})
        return _typed(kind, lambda value: list(map(items, value)), types)
    if kind == "map":
        return _typed(kind, _map(schema), types)
    return _typed(kind, None, types)


def _null(schema: Mapping[str, Any]) -> tuple[bool, Any]:
    """Whether null is accepted in ``schema``'s field, and what it decodes to (None, or the default)."""
    if schema.get("optional", False):
        return True, None
    if "default" not in schema:
        return False, None
    try:
        return True, decode_value(schema["default"], {**schema, "default": None, "optional": True}, "default")
    except Exception:  # a default that does not decode: null goes to the interpreting decoder
        return False, None


def compile_schema(schema: Mapping[str, Any]) -> Converter:
    """The converter of ``schema``'s JSON values, null included; see the module's docstring."""
    if not isinstance(schema, Mapping):
        return _Miss("a schema that is not an object")
    present = _present(schema)
    nullable, null = _null(schema)
    if not nullable:
        def required(value: Any) -> Any:
            if value is None:
                raise FieldDecodeError("null in a required field")
            return present(value)
        return required

    def optional(value: Any) -> Any:
        return null if value is None else present(value)
    return optional


#: One field of a compiled struct: name, the exact types of a value kept as it is (None when it converts),
#: the converter, whether null is accepted, and null's value.
_Field = tuple[str, "tuple[type, ...] | None", Converter, bool, Any]


def _field(schema: Mapping[str, Any]) -> _Field:
    kind = str(schema.get("type"))
    name = schema.get("name")
    plain = kind in _EXACT and kind not in ("bytes", "struct", "array", "map") and (
        not isinstance(name, str) or (name in PASS_THROUGH and name not in DECODERS))
    nullable, null = _null(schema)
    return schema["field"], (_EXACT[kind] if plain else None), _present(schema), nullable, null


def _struct(schema: Mapping[str, Any]) -> Converter:
    """A struct's converter: one loop over its fields, plain values (most columns) checked inline."""
    fields = schema.get("fields")
    if not isinstance(fields, list) or not all(isinstance(f, Mapping) and "field" in f for f in fields):
        return _Miss("a struct schema without a list of named fields")
    plan = tuple(_field(f) for f in fields)
    known = frozenset(f["field"] for f in fields)

    def struct(value: Any) -> Mapping[str, Any]:
        if type(value) is not dict or not value.keys() <= known:
            raise FieldDecodeError("a struct value that is not an object of its schema's fields")
        out: dict[str, Any] = {}
        get = value.get
        for name, types, convert, nullable, null in plan:
            item = get(name)
            if item is None:
                if not nullable:
                    raise FieldDecodeError(f"null in required field {name}")
                out[name] = null
            elif types is None:
                out[name] = convert(item)
            elif type(item) in types:
                out[name] = item
            else:
                raise FieldDecodeError(f"field {name} holds another type")
        return MappingProxyType(out)
    return struct


def _map(schema: Mapping[str, Any]) -> Converter:
    keys, values = compile_schema(schema.get("keys") or {}), compile_schema(schema.get("values") or {})

    def converter(value: Any) -> Mapping[Any, Any]:
        decoded: dict[Any, Any] = {}
        if type(value) is dict:
            for key, item in value.items():
                decoded[keys(key)] = values(item)
            return MappingProxyType(decoded)
        for pair in value:
            if type(pair) is not list or len(pair) != 2:
                raise FieldDecodeError("a map given as a list holds [key, value] pairs")
            decoded[keys(pair[0])] = values(pair[1])
        return MappingProxyType(decoded)
    return converter


def compile_struct(schema: Mapping[str, Any]) -> Converter:
    """The converter of a struct value by ``schema`` read as a struct whatever its name, as
    :func:`~streams.codecs.debezium.values.decode_struct` reads it (an envelope's images, a record key)."""
    try:
        return _struct(schema)
    except Exception:  # see _present
        return _Miss("a schema this compiler cannot read")


class CompiledSchema:
    """One Connect schema, compiled: the converter of its values, as a struct, and of each of its fields."""

    __slots__ = ("fields", "schema", "struct", "value")

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.schema = schema
        self.value = compile_schema(schema)
        self.struct = compile_struct(schema)
        fields = schema.get("fields") if isinstance(schema, Mapping) else None
        #: A struct's field converters by field name (as the envelope decoder finds them), or None.
        self.fields: Mapping[str, Converter] | None = (
            {str(f.get("field")): compile_struct(f) for f in fields if isinstance(f, dict)}
            if schema.get("type") == "struct" and isinstance(fields, list) else None)
