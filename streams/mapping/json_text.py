"""JSON text read back into the values of an Avro field (the ``parse_json`` transform).

A target that keeps a list of records in a JSON or TEXT column (Debezium delivers a JSON column as text,
``io.debezium.data.Json``) holds what Isthmus sent it: the command payload as JSON, decimals as text and times
as ISO 8601 (:func:`streams.flows.commands.payload_json`). Mapped back, the text must become the value the
record holds, or the echo of a write would never be recognised: each part of the parsed JSON is shaped by the
field's Avro type (a record's fields by name with the schema's defaults for those left out and the keys the
record lacks dropped, a timestamp from ISO text or epoch units, a zone-less local one from text without an
offset, a date from ISO text or days, a decimal from text or a number at the field's scale). A value that cannot
fit raises :class:`MappingValueError` naming its path.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from streams.mapping.decimals import from_text, quantize
from streams.mapping.exceptions import MappingValueError

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_EPOCH_DAY = dt.date(1970, 1, 1)
#: Microseconds per unit of an integer timestamp, by logical type.
_TIMESTAMP_UNITS = {"timestamp-micros": 1, "timestamp-millis": 1000}
_LOCAL_UNITS = {"local-timestamp-micros": 1, "local-timestamp-millis": 1000}


def parse_json_text(text: Any, avro_type: Any, named: Mapping[str, Any], where: str) -> Any:
    """``text`` (JSON, or a value already parsed) as a value of ``avro_type``; ``where`` names it in errors."""
    if text is None:
        return None
    if isinstance(text, (bytes, bytearray)):
        text = text.decode()
    if isinstance(text, str):
        try:
            text = json.loads(text, parse_float=Decimal)
        except ValueError as exc:
            raise MappingValueError(f"{where}: parse_json: not JSON ({exc}): {text[:80]!r}") from exc
    return shaped(text, avro_type, named, where)


def shaped(value: Any, avro_type: Any, named: Mapping[str, Any], where: str) -> Any:
    """A parsed JSON ``value`` as a value of ``avro_type`` (see the module's description); ``avro_type`` None:
    the value as JSON gives it."""
    if avro_type is None:
        return value
    if isinstance(avro_type, list):
        if value is None:
            if "null" in avro_type:
                return None
            raise MappingValueError(f"{where}: null where the field is not nullable")
        branches = [b for b in avro_type if b != "null"]
        if len(branches) == 1:
            return shaped(value, branches[0], named, where)
        return value  # a union of several types: the value as JSON gives it
    if isinstance(avro_type, str) and avro_type in named:
        return shaped(value, named[avro_type], named, where)
    if value is None:
        raise MappingValueError(f"{where}: null where the field is not nullable")
    if isinstance(avro_type, Mapping):
        return _shaped_complex(value, avro_type, named, where)
    return _shaped_primitive(value, str(avro_type), where)


def _shaped_complex(value: Any, schema: Mapping[str, Any], named: Mapping[str, Any], where: str) -> Any:
    logical = schema.get("logicalType")
    if logical in _TIMESTAMP_UNITS:
        return _timestamp(value, _TIMESTAMP_UNITS[str(logical)], where)
    if logical in _LOCAL_UNITS:
        return _local_timestamp(value, _LOCAL_UNITS[str(logical)], where)
    if logical == "date":
        return _date(value, where)
    if logical == "decimal":
        return _decimal(value, int(schema.get("scale", 0)), where)
    kind = schema.get("type")
    if kind in ("record", "error"):
        if not isinstance(value, Mapping):
            raise MappingValueError(f"{where}: expected a JSON object for {schema.get('name')}, got {value!r}")
        return {f["name"]: (shaped(value[f["name"]], f["type"], named, f"{where}.{f['name']}")
                            if f["name"] in value else f.get("default"))
                for f in schema.get("fields", ())}
    if kind == "array":
        if not isinstance(value, list):
            raise MappingValueError(f"{where}: expected a JSON array, got {value!r}")
        return [shaped(item, schema["items"], named, f"{where}[{index}]") for index, item in enumerate(value)]
    if kind == "map":
        if not isinstance(value, Mapping):
            raise MappingValueError(f"{where}: expected a JSON object, got {value!r}")
        return {str(k): shaped(v, schema["values"], named, f"{where}.{k}") for k, v in value.items()}
    if kind == "enum":
        if value not in schema.get("symbols", ()):
            raise MappingValueError(f"{where}: {value!r} is not one of {', '.join(schema.get('symbols', ()))}")
        return value
    return shaped(value, kind, named, where)


def _shaped_primitive(value: Any, avro_type: str, where: str) -> Any:
    if avro_type in ("int", "long"):
        if isinstance(value, bool) or not isinstance(value, (int, Decimal)) or value != int(value):
            raise MappingValueError(f"{where}: expected a whole number, got {value!r}")
        return int(value)
    if avro_type in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, (int, Decimal, float)):
            raise MappingValueError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if avro_type == "boolean":
        if not isinstance(value, bool):
            raise MappingValueError(f"{where}: expected true or false, got {value!r}")
        return value
    if avro_type == "string":
        if isinstance(value, (Mapping, list)):  # a JSON document kept as text in the record
            return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
        return value if isinstance(value, str) else str(value)
    if avro_type == "bytes":
        if not isinstance(value, str):
            raise MappingValueError(f"{where}: expected text for bytes, got {value!r}")
        return value.encode()
    return value


def _timestamp(value: Any, unit: int, where: str) -> dt.datetime:
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError as exc:
            raise MappingValueError(f"{where}: {value!r} is not an ISO 8601 time") from exc
        # a time written without an offset is taken as UTC, as Isthmus writes times (payload_json)
        return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)
    if isinstance(value, int) and not isinstance(value, bool):
        return _EPOCH + dt.timedelta(microseconds=value * unit)
    raise MappingValueError(f"{where}: expected an ISO 8601 time or epoch {'ms' if unit > 1 else 'µs'}, got {value!r}")


def _local_timestamp(value: Any, unit: int, where: str) -> dt.datetime:
    """A zone-less wall-clock time: ISO text without an offset (as :func:`~streams.flows.commands.payload_json`
    writes one), or epoch units counted as if UTC (as Avro's ``local-timestamp-*``)."""
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError as exc:
            raise MappingValueError(f"{where}: {value!r} is not an ISO 8601 time") from exc
        if parsed.tzinfo is None:
            return parsed
    elif isinstance(value, int) and not isinstance(value, bool):
        return _EPOCH.replace(tzinfo=None) + dt.timedelta(microseconds=value * unit)
    raise MappingValueError(f"{where}: expected an ISO 8601 time without an offset or epoch "
                            f"{'ms' if unit > 1 else 'µs'} for a zone-less local time, got {value!r}")


def _date(value: Any, where: str) -> dt.date:
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError as exc:
            raise MappingValueError(f"{where}: {value!r} is not an ISO 8601 date") from exc
    if isinstance(value, int) and not isinstance(value, bool):
        return _EPOCH_DAY + dt.timedelta(days=value)
    raise MappingValueError(f"{where}: expected an ISO 8601 date or days since 1970, got {value!r}")


def _decimal(value: Any, scale: int, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise MappingValueError(f"{where}: expected a decimal as text or a number, got {value!r}")
    try:
        return quantize(from_text(value) if isinstance(value, str) else Decimal(value), scale)
    except MappingValueError as exc:
        raise type(exc)(f"{where}: {exc}") from exc
