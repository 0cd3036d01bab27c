"""Field values of Kafka Connect's JsonConverter output, decoded with their Connect schema.

Decimals become exact ``decimal.Decimal``; dates and times become ``datetime`` values. Time stamps of columns
without a zone (MariaDB DATETIME, PostgreSQL TIMESTAMP) arrive as epoch counts "as if UTC" and decode to
*naive* datetimes holding the wall-clock value: place them in their zone with
:func:`streams.codecs.local_time.local_to_utc`. Zoned values (TIMESTAMPTZ, MariaDB TIMESTAMP) decode to
aware UTC datetimes.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Callable, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from streams.codecs.exceptions import FieldDecodeError, UnknownLogicalType

EPOCH = dt.datetime(1970, 1, 1)
EPOCH_DATE = dt.date(1970, 1, 1)

Decoder = Callable[[Any, Mapping[str, Any], str], Any]

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "int8": (int,), "int16": (int,), "int32": (int,), "int64": (int,),
    # Connect's FLOAT32 and FLOAT64, as JsonConverter spells them in a record's schema ("float", "double") and as
    # the Connect API names them
    "float": (int, float), "double": (int, float), "float32": (int, float), "float64": (int, float),
    "boolean": (bool,), "string": (str,), "bytes": (str,),
    "array": (list,), "map": (dict, list), "struct": (dict,),
}
#: What JsonConverter writes for a FLOAT/DOUBLE value JSON has no number for (Jackson's non-numeric numbers).
_NOT_A_NUMBER = frozenset({"NaN", "Infinity", "-Infinity"})


def _bytes(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise FieldDecodeError(f"expected base64 text for bytes, got {type(value).__name__}", where=where)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise FieldDecodeError(f"invalid base64 {value!r}: {exc}", where=where) from exc


def unscaled_decimal(raw: bytes, scale: int) -> Decimal:
    """A Connect Decimal: big-endian two's-complement unscaled integer times 10**-scale (scale may be < 0).

    Built from text: ``Decimal.scaleb`` would round to the context's 28 digits; NUMERIC holds more.
    """
    return Decimal(f"{int.from_bytes(raw, 'big', signed=True)}E{-scale}")


def _decimal(value: Any, schema: Mapping[str, Any], where: str) -> Decimal:
    params = schema.get("parameters") or {}
    if "scale" not in params:
        raise FieldDecodeError("a Connect Decimal without a scale parameter", where=where)
    try:
        scale = int(params["scale"])
    except (TypeError, ValueError) as exc:
        raise FieldDecodeError(f"Decimal scale {params['scale']!r} is not a whole number",
                               where=where) from exc
    return unscaled_decimal(_bytes(value, where), scale)


def _variable_scale_decimal(value: Any, schema: Mapping[str, Any], where: str) -> Decimal:
    if not isinstance(value, dict) or not isinstance(value.get("scale"), int):
        raise FieldDecodeError("a VariableScaleDecimal is a struct {scale, value}", where=where)
    return unscaled_decimal(_bytes(value.get("value"), where), value["scale"])


def beyond_dates(logical_type: str, value: Any, where: str) -> FieldDecodeError:
    """The error of a date or time count that no Python date holds (years 1 to 9999): how PostgreSQL's
    ``'infinity'`` and ``'-infinity'`` arrive, which have no date."""
    unit = logical_type.rpartition(".")[2]
    return FieldDecodeError(
        f"{unit} value {value!r} is beyond the dates a record can hold (years 1 to 9999); PostgreSQL sends its "
        "'infinity' and '-infinity' so, and they have no date. Fix: set the row's value to a real date (9999-12-31 "
        "where it means 'never') or NULL and the change that does so goes through, or leave the column out of the "
        "capture (the connector's column.exclude.list)", where=where)


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldDecodeError(f"expected a whole number, got {value!r}", where=where)
    return value


def _days(value: Any, schema: Mapping[str, Any], where: str) -> dt.date:
    return EPOCH_DATE + dt.timedelta(days=_int(value, where))


def _millis_of_day(value: Any, schema: Mapping[str, Any], where: str) -> dt.time:
    return (EPOCH + dt.timedelta(milliseconds=_int(value, where))).time()


def _micros_of_day(value: Any, schema: Mapping[str, Any], where: str) -> dt.time:
    return (EPOCH + dt.timedelta(microseconds=_int(value, where))).time()


def _nanos_of_day(value: Any, schema: Mapping[str, Any], where: str) -> dt.time:
    return (EPOCH + dt.timedelta(microseconds=_int(value, where) // 1000)).time()


def _millis(value: Any, schema: Mapping[str, Any], where: str) -> dt.datetime:
    return EPOCH + dt.timedelta(milliseconds=_int(value, where))


def _micros(value: Any, schema: Mapping[str, Any], where: str) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=_int(value, where))


def _nanos(value: Any, schema: Mapping[str, Any], where: str) -> dt.datetime:
    """Python keeps microseconds; the captured databases have no finer precision, so nothing real is lost."""
    return EPOCH + dt.timedelta(microseconds=_int(value, where) // 1000)


def _zoned_timestamp(value: Any, schema: Mapping[str, Any], where: str) -> dt.datetime:
    if not isinstance(value, str):
        raise FieldDecodeError(f"a ZonedTimestamp is ISO 8601 text, got {value!r}", where=where)
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise FieldDecodeError(f"invalid ZonedTimestamp {value!r}: {exc}", where=where) from exc
    if parsed.tzinfo is None:
        raise FieldDecodeError(f"ZonedTimestamp {value!r} has no offset", where=where)
    return parsed.astimezone(dt.UTC)


def _zoned_time(value: Any, schema: Mapping[str, Any], where: str) -> dt.time:
    if not isinstance(value, str):
        raise FieldDecodeError(f"a ZonedTime is ISO 8601 text, got {value!r}", where=where)
    try:
        return dt.time.fromisoformat(value)
    except ValueError as exc:
        raise FieldDecodeError(f"invalid ZonedTime {value!r}: {exc}", where=where) from exc


#: Logical (semantic) types that change how a value is represented, by Connect schema name.
DECODERS: Mapping[str, Decoder] = MappingProxyType({
    "org.apache.kafka.connect.data.Decimal": _decimal,
    "io.debezium.data.VariableScaleDecimal": _variable_scale_decimal,
    "org.apache.kafka.connect.data.Date": _days,
    "io.debezium.time.Date": _days,
    "org.apache.kafka.connect.data.Time": _millis_of_day,
    "io.debezium.time.Time": _millis_of_day,
    "io.debezium.time.MicroTime": _micros_of_day,
    "io.debezium.time.NanoTime": _nanos_of_day,
    "io.debezium.time.ZonedTime": _zoned_time,
    "org.apache.kafka.connect.data.Timestamp": _millis,
    "io.debezium.time.Timestamp": _millis,
    "io.debezium.time.MicroTimestamp": _micros,
    "io.debezium.time.NanoTimestamp": _nanos,
    "io.debezium.time.ZonedTimestamp": _zoned_timestamp,
})

#: Semantic types whose JSON value is already the natural Python value (text, numbers, raw structs).
PASS_THROUGH: frozenset[str] = frozenset({
    "io.debezium.data.Enum", "io.debezium.data.EnumSet", "io.debezium.data.Json", "io.debezium.data.Uuid",
    "io.debezium.data.Xml", "io.debezium.data.Ltree", "io.debezium.data.Tsvector", "io.debezium.data.Bits",
    "io.debezium.time.Year",
    "io.debezium.time.MicroDuration", "io.debezium.time.Interval", "io.debezium.data.geometry.Geometry",
    "io.debezium.data.geometry.Geography", "io.debezium.data.geometry.Point",
})


def decode_value(value: Any, schema: Mapping[str, Any], where: str = "value") -> Any:
    """Decode one JSON value by its Connect schema; ``where`` names the field in errors."""
    if value is None:
        if schema.get("optional", False):
            return None
        if "default" in schema:
            return decode_value(schema["default"], {**schema, "default": None, "optional": True}, where)
        raise FieldDecodeError("null in a field its Connect schema marks required", where=where)
    kind = str(schema.get("type"))
    name = schema.get("name")
    name = name if isinstance(name, str) else None
    if kind not in _JSON_TYPES:
        raise FieldDecodeError(f"unknown Connect type {kind!r}", where=where)
    if not isinstance(value, _JSON_TYPES[kind]) or (kind != "boolean" and isinstance(value, bool)):
        if value in _NOT_A_NUMBER and kind in ("float", "double", "float32", "float64"):
            raise FieldDecodeError(
                f"{value}: a floating-point column holds a value that is not a number, which no JSON payload or "
                "mapping can carry; fix: replace it at the source (e.g. UPDATE ... SET col = NULL WHERE col = "
                "'NaN'), or keep it out with a CHECK constraint, then replay this dead letter", where=where)
        raise FieldDecodeError(f"a {kind} field holds {type(value).__name__} {value!r}", where=where)
    if name is not None and name in DECODERS:
        try:
            return DECODERS[name](value, schema, where)
        except OverflowError as exc:  # a day or time count beyond year 9999: PostgreSQL's infinity
            raise beyond_dates(name, value, where) from exc
    if name is not None and kind != "struct" and name not in PASS_THROUGH:
        raise UnknownLogicalType(
            f"Connect logical type {name!r} ({kind}) is not one this decoder knows; known: "
            f"{', '.join(sorted((*DECODERS, *PASS_THROUGH)))}. Set the connector to emit a known one "
            "(decimal.handling.mode=precise, time.precision.mode=adaptive or connect) or add a decoder to "
            "streams/codecs/debezium/values.py", where=where)
    if kind == "bytes":
        return _bytes(value, where)
    if isinstance(value, dict) and kind == "struct":
        return decode_struct(value, schema, where)
    if isinstance(value, list) and kind == "array":
        items = schema.get("items") or {}
        return [decode_value(v, items, f"{where}[{i}]") for i, v in enumerate(value)]
    if kind == "map":
        return _decode_map(value, schema, where)
    return value


def decode_struct(value: Mapping[str, Any], schema: Mapping[str, Any], where: str) -> Mapping[str, Any]:
    fields = schema.get("fields")
    if not isinstance(fields, list):
        raise FieldDecodeError("a struct schema without a fields list", where=where)
    known = {f.get("field") for f in fields}
    extra = sorted(set(value) - known)
    if extra:
        raise FieldDecodeError(f"fields {', '.join(extra)} are not in the struct's schema", where=where)
    return MappingProxyType({
        f["field"]: decode_value(value.get(f["field"]), f, f"{where}.{f['field']}") for f in fields
    })


def _decode_map(value: Any, schema: Mapping[str, Any], where: str) -> Mapping[Any, Any]:
    keys, values = schema.get("keys") or {}, schema.get("values") or {}
    pairs = value.items() if isinstance(value, dict) else value
    decoded: dict[Any, Any] = {}
    for pair in pairs:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise FieldDecodeError("a map given as a list holds [key, value] pairs", where=where)
        key = decode_value(pair[0], keys, f"{where}{{key}}")
        decoded[key] = decode_value(pair[1], values, f"{where}[{key!r}]")
    return MappingProxyType(decoded)
