"""JSON text read back into the values of an Avro field (the ``parse_json`` transform).

A target that keeps a list of records in a JSON or TEXT column (Debezium delivers a JSON column as text,
``io.debezium.data.Json``) holds what Isthmus sent it: the command payload as JSON, decimals as text and times
as ISO 8601 (:func:`streams.flows.commands.payload_json`). Mapped back, the text must become the value the
record holds, or the echo of a write would never be recognised: each part of the parsed JSON is shaped by the
field's Avro type (a record's fields by name with the schema's defaults for those left out and the keys the
record lacks dropped, a timestamp from ISO text or epoch units, a zone-less local one from text without an
offset, a date from ISO text or days, a decimal from text or a number at the field's scale). A value that cannot
fit raises :class:`MappingValueError` naming its path.

``parse_json: {path: given_name}`` reads one value inside the document instead (a name kept as JSON,
``{"_scheme": "given_family", "given_name": "Anna", ...}``, into a flat field): the path is compiled at load
(:func:`json_path`), and the value there is shaped as a whole document is (:func:`value_at`).
"""

from __future__ import annotations

import datetime as dt
import json
import re
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
    return shaped(_parsed(text, f"{where}: parse_json"), avro_type, named, where)


def _parsed(text: Any, where: str) -> Any:
    if isinstance(text, (bytes, bytearray)):
        text = text.decode()
    if isinstance(text, str):
        try:
            return json.loads(text, parse_float=Decimal)
        except ValueError as exc:
            raise MappingValueError(f"{where}: not JSON ({exc}): {text[:80]!r}") from exc
    return text


#: One step of a path: a key (``given_name``) or a list index (``[0]``); a key holds no dot or bracket.
_PATH_STEP = re.compile(r"\.?([^.\[\]]+)|\[(\d+)\]")


def json_path(text: str) -> tuple[str | int, ...]:
    """A path into a JSON document, ``settings.locale`` or ``items[0].sku`` (keys by dots, list indexes in brackets),
    as its keys and indexes; ``ValueError`` says what in ``text`` is not such a path."""
    steps: list[str | int] = []
    at = 0
    while at < len(text):
        found = _PATH_STEP.match(text, at)
        if found is None or (found.group(1) is not None and (text[at] == ".") == (at == 0)):
            raise ValueError(f"{text!r} is no path at {text[at:]!r}: keys are joined by dots and list indexes are "
                             "written [0] (items[0].sku)")
        steps.append(found.group(1) if found.group(1) is not None else int(found.group(2)))
        at = found.end()
    if not steps:
        raise ValueError("the path is empty")
    return tuple(steps)


def value_at(text: Any, path: tuple[str | int, ...], avro_type: Any, named: Mapping[str, Any]) -> Any:
    """The value at ``path`` (:func:`json_path`) in the JSON ``text``, shaped as :func:`shaped` shapes it; None where
    the document (or a value on the way) is null or leaves the key or the index out. A value on the way that is not
    the object (or list) the path reads into is refused, naming how far the path got. A key of digits indexes a list
    too (``items.0.sku``). Errors name the path; the mapping adds the field."""
    if text is None:
        return None
    where = f"parse_json path {_path_text(path)}"
    current = _parsed(text, where)
    for depth, step in enumerate(path):
        if current is None:
            return None
        if isinstance(step, str) and step.isdigit() and isinstance(current, list):
            step = int(step)  # items.0.sku
        if isinstance(step, int) and isinstance(current, list):
            current = current[step] if step < len(current) else None
        elif isinstance(step, str) and isinstance(current, Mapping):
            current = current.get(step)
        else:
            raise MappingValueError(f"{where}: {_path_text(path[:depth]) or 'the document'} is {_json_kind(current)}, "
                                    f"not {'a list' if isinstance(step, int) else 'an object'}: "
                                    f"{json.dumps(current, default=str)[:80]}")
    return None if current is None else shaped(current, avro_type, named, where)


def _path_text(path: tuple[str | int, ...]) -> str:
    return "".join(f"[{s}]" if isinstance(s, int) else f".{s}" if i else s for i, s in enumerate(path))


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float, Decimal)):
        return "a number"
    if isinstance(value, str):
        return "text"
    return "a list" if isinstance(value, list) else "an object"


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
