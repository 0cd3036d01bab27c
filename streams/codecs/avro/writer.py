"""An Avro binary writer compiled once per schema: the same bytes as fastavro's ``schemaless_writer``, faster.

fastavro chooses a union's branch per value by validating the value against every branch, recursively; for the
canonical customer (nullable strings, decimals, times, an address record in a union, a map of records) that
validation is most of its ~70 µs per record. Every union in ``schemas/`` is ``["null", X]``, so the branch is
known from the value alone: ``None`` is the null branch, anything else is ``X``, written (and refused) by
``X``'s own writer. :func:`compile_writer` turns a fastavro-parsed schema into nested closures that do just
that; a schema with a construct it does not compile (another kind of union, ``fixed``) gets ``None``, and its
records keep going through fastavro.

What a value must be is fastavro's rule, so the bytes are the same (``tests/codecs/test_avro_writer.py``
compares them over every schema in ``schemas/``): a record field missing from the value takes its default;
logical types are converted by fastavro's own functions (``LOGICAL_WRITERS``: decimals, times, dates), except
that a ``local-timestamp-*`` field refuses a time with an offset, which fastavro writes as its wall-clock time; a
boolean is the value's truth. Inside a ``["null", X]`` union a value of the wrong type is refused as fastavro's
union check refuses it (``int``/``long`` within range, ``string`` a ``str``, ``boolean`` a ``bool``). A value
that does not fit raises ``ValueError``, ``TypeError``, ``KeyError``, ``AttributeError`` or ``OverflowError``;
one inside a record raises :class:`FieldValueError` (a ``ValueError``), which names the field's path and its value
(not the value of a field marked ``pii``); the caller turns them into its own error. A decimal that does not fit
its field's precision or scale says by how many digits, where fastavro says only that it does not.
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from fastavro._logical_writers import LOGICAL_WRITERS

Writer = Callable[[bytearray, Any], None]

INT_MIN, INT_MAX = -(1 << 31), (1 << 31) - 1
LONG_MIN, LONG_MAX = -(1 << 63), (1 << 63) - 1
_pack_float = struct.Struct("<f").pack
_pack_double = struct.Struct("<d").pack


class NotCompiled(Exception):
    """The schema holds a construct this writer does not compile; fastavro writes it."""


#: What a writer raises for a value that does not fit its schema.
WRITE_ERRORS = (ValueError, TypeError, KeyError, AttributeError, OverflowError)


class DecimalMisfit(ValueError):
    """A decimal with more digits or decimals than its field's precision or scale."""


class FieldValueError(ValueError):
    """A value that does not fit its field: ``path`` (outermost field first; a map's key and an array's index in
    brackets), the value (None where the field holds personal data: ``shown`` is False), why, and whether it is a
    decimal too large for its field (``decimal``)."""

    def __init__(self, reason: str, *, value: Any, shown: bool, path: list[str], decimal: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.value, self.shown, self.path, self.decimal = reason, value, shown, path, decimal

    @property
    def field(self) -> str:
        """The path as text, e.g. ``addresses[billing].street``."""
        return "".join(part if part.startswith("[") or not n else f".{part}" for n, part in enumerate(self.path))

    @property
    def value_text(self) -> str:
        if not self.shown:
            return "(personal data, not shown)"
        text = str(self.value) if isinstance(self.value, Decimal) else repr(self.value)
        return text if len(text) <= 80 else text[:77] + "..."


def field_error(part: str, exc: BaseException, value: Any, shown: bool) -> FieldValueError:
    """``exc``, raised writing ``value`` at ``part`` of a record, map or array, as a :class:`FieldValueError` whose
    path starts there. A null is shown in a field of personal data too: it tells nothing of anyone, and the fix
    (make the field nullable) depends on it. Another value of such a field is not shown, nor where the reason
    begins with it (``12345678901 does not fit an Avro int``)."""
    if isinstance(exc, FieldValueError):
        exc.path.insert(0, part)
        return exc
    shown = shown or value is None
    reason = str(exc) if not isinstance(exc, KeyError) else f"no key {exc}"
    if not shown:
        for text in (f"{value} ", f"{value!r} "):
            if reason.startswith(text):
                reason = "the value " + reason[len(text):]
                break
    return FieldValueError(reason, value=value if shown else None, shown=shown, path=[part],
                           decimal=isinstance(exc, DecimalMisfit))


def decimal_misfit(value: Decimal, precision: int, scale: int) -> str | None:
    """Why ``value`` does not fit an Avro decimal of ``precision`` and ``scale``, or None when it does: at most
    ``scale`` decimals as written, and at most ``precision - scale`` digits before the point (the Avro
    specification's rule: at that scale, at most ``precision`` digits). fastavro refuses more than ``precision``
    digits as written, which this rule refuses too, so every value it refuses has a reason here; it lets a whole
    number through that this rule does not (``1234567890123`` into a ``decimal(14,2)``)."""
    _, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):
        return f"{value} is not a number a decimal field can hold"
    decimals = max(0, -exponent)
    whole = max(0, len(digits) + exponent) if any(digits) else 0
    field = f"the field is a decimal of precision {precision} and scale {scale}"
    if len(digits) > precision or whole > precision - scale:
        return (f"{value} has {len(digits)} digits ({whole} before the point, {decimals} after), {field}: at most "
                f"{precision} digits, {precision - scale} before the point")
    if decimals > scale:
        return f"{value} has {decimals} decimals, {field}: at most {scale} decimals"
    return None


def _long_value(out: bytearray, n: int) -> None:
    """Zig-zag varint of a 64-bit integer, as Avro's ``long`` and ``int``."""
    if 0 <= n < 64:  # the common case: one byte
        out.append(n << 1)
        return
    if not LONG_MIN <= n <= LONG_MAX:
        raise OverflowError(f"{n} does not fit an Avro long")
    n = (n << 1) ^ (n >> 63)
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _write_long(out: bytearray, value: Any) -> None:
    _long_value(out, value.__index__())


def _write_int(out: bytearray, value: Any) -> None:
    n = value.__index__()
    if not INT_MIN <= n <= INT_MAX:
        raise OverflowError(f"{n} does not fit an Avro int")
    _long_value(out, n)


def _write_null(out: bytearray, value: Any) -> None:
    if value is not None:
        raise ValueError(f"{value!r} is not null")


def _write_boolean(out: bytearray, value: Any) -> None:
    out.append(1 if value else 0)


def _write_float(out: bytearray, value: Any) -> None:
    out += _pack_float(value)


def _write_double(out: bytearray, value: Any) -> None:
    out += _pack_double(value)


def _write_bytes(out: bytearray, value: Any) -> None:
    if not isinstance(value, (bytes, bytearray)):
        raise TypeError(f"{type(value).__name__} is not bytes")
    _long_value(out, len(value))
    out += value


def _write_string(out: bytearray, value: Any) -> None:
    try:
        data = value.encode()  # a str; anything else has no encode() or gives bytes fastavro's union refuses
    except AttributeError:
        raise TypeError(f"{type(value).__name__} is not a string") from None
    if not isinstance(value, str):
        raise TypeError(f"{type(value).__name__} is not a string")
    size = len(data)
    if size < 64:
        out.append(size << 1)
    else:
        _long_value(out, size)
    out += data


_PRIMITIVES: dict[str, Writer] = {
    "null": _write_null, "boolean": _write_boolean, "int": _write_int, "long": _write_long,
    "float": _write_float, "double": _write_double, "bytes": _write_bytes, "string": _write_string,
}


def _strict_boolean(out: bytearray, value: Any) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{type(value).__name__} is not a boolean")
    out.append(1 if value else 0)


def _strict_number(base: Writer) -> Writer:
    def write(out: bytearray, value: Any) -> None:
        if not isinstance(value, (int, float)):
            raise TypeError(f"{type(value).__name__} is not a number")
        base(out, float(value))
    return write


def _strict_int(out: bytearray, value: Any) -> None:
    if not isinstance(value, int):
        raise TypeError(f"{type(value).__name__} is not an integer")
    _write_int(out, value)


def _strict_long(out: bytearray, value: Any) -> None:
    if not isinstance(value, int):
        raise TypeError(f"{type(value).__name__} is not an integer")
    _long_value(out, value)


#: A union branch's writer where fastavro's union check is stricter than its plain writer.
_STRICT: dict[str, Writer] = {
    "boolean": _strict_boolean, "int": _strict_int, "long": _strict_long,
    "float": _strict_number(_write_float), "double": _strict_number(_write_double),
}


#: How many encoded values (times, map keys) one writer keeps.
KEPT = 4096


def _wall_clock(write_time: Writer) -> Writer:
    """``write_time`` for a ``local-timestamp-*`` field, refusing a time with an offset: fastavro would write the
    wall-clock time at that offset, so two values of the same instant would be two times (and which zone's clock
    the field shows is the mapping's to say, with ``utc_to_local``)."""
    def write(out: bytearray, value: Any) -> None:
        if isinstance(value, dt.datetime) and value.tzinfo is not None:
            raise ValueError(f"{value.isoformat()} has an offset; a local-timestamp field holds a zone-less "
                             "wall-clock time")
        write_time(out, value)
    return write


def _remembered_times(write_time: Writer) -> Writer:
    """``write_time`` with the bytes of the times it wrote remembered: a record's times are mostly a few (a
    customer's provenance holds the same commit time in a dozen fields), and a time is a conversion and an
    eight-byte varint built in Python, where a remembered one is a dict look-up. Only ``datetime`` values are
    remembered (hashable, and two equal ones are the same instant, so the same bytes)."""
    kept: dict[dt.datetime, bytes] = {}

    def write(out: bytearray, value: Any) -> None:
        if type(value) is not dt.datetime:
            write_time(out, value)
            return
        data = kept.get(value)
        if data is None:
            encoded = bytearray()
            write_time(encoded, value)
            if len(kept) >= KEPT:
                kept.clear()
            data = kept[value] = bytes(encoded)
        out += data
    return write


class _Compiler:
    def __init__(self, named: Mapping[str, Any]) -> None:
        self.named = named
        self.compiled: dict[str, Writer] = {}

    def node(self, schema: Any, *, in_union: bool = False) -> Writer:
        if isinstance(schema, str):
            if schema in _PRIMITIVES:
                return _STRICT.get(schema, _PRIMITIVES[schema]) if in_union else _PRIMITIVES[schema]
            return self.named_type(schema)
        if isinstance(schema, list):
            return self.union(schema)
        if not isinstance(schema, dict):
            raise NotCompiled(f"schema node {schema!r}")
        kind = schema["type"]
        logical = schema.get("logicalType")
        if logical is not None and f"{kind}-{logical}" in LOGICAL_WRITERS:
            return self.logical(schema, kind, logical)
        if kind == "record" or kind == "error":
            return self.record(schema)
        if kind == "enum":
            return self.enum(schema)
        if kind == "array":
            return self.array(schema)
        if kind == "map":
            return self.map(schema)
        if isinstance(kind, str) and kind in _PRIMITIVES:
            return self.node(kind, in_union=in_union)
        raise NotCompiled(f"schema type {kind!r}")

    def named_type(self, name: str) -> Writer:
        if name in self.compiled:
            return self.compiled[name]
        if name not in self.named:
            raise NotCompiled(f"unknown named type {name}")
        return self.node(self.named[name])

    def union(self, branches: list[Any]) -> Writer:
        if len(branches) != 2 or branches[0] != "null" or branches[1] == "null":
            raise NotCompiled(f"union {branches!r}: only [\"null\", X] is compiled")
        other = self.node(branches[1], in_union=True)

        def write(out: bytearray, value: Any) -> None:
            if value is None:
                out.append(0)
            else:
                out.append(2)  # branch 1, zig-zag
                other(out, value)
        return write

    def logical(self, schema: dict[str, Any], kind: str, logical: str) -> Writer:
        prepare = LOGICAL_WRITERS[f"{kind}-{logical}"]
        base = self.node(kind, in_union=True)
        if logical == "decimal" and kind == "bytes":
            precision, scale = int(schema["precision"]), int(schema.get("scale", 0))

            def decimal(out: bytearray, value: Any) -> None:
                if not isinstance(value, (Decimal, bytes, bytearray)):
                    raise TypeError(f"{type(value).__name__} is not a decimal")
                try:
                    data = prepare(value, schema)
                except ValueError:
                    why = decimal_misfit(value, precision, scale) if isinstance(value, Decimal) else None
                    raise DecimalMisfit(why or f"does not fit the decimal field (precision {precision}, scale "
                                        f"{scale})") from None
                base(out, data)
            return decimal

        if kind == "long" and logical.startswith("local-"):
            return _remembered_times(_wall_clock(lambda out, value: base(out, prepare(value, schema))))
        if kind == "long" and "timestamp" in logical:
            return _remembered_times(lambda out, value: base(out, prepare(value, schema)))

        def write(out: bytearray, value: Any) -> None:
            base(out, prepare(value, schema))
        return write

    def record(self, schema: dict[str, Any]) -> Writer:
        fields: list[tuple[str, Any, bool, Writer, bool]] = []

        def write(out: bytearray, value: Any) -> None:
            get = value.get
            for name, default, required, field_writer, shown in fields:
                item = get(name, default)
                if required and item is None and name not in value:
                    raise FieldValueError("no value and no default", value=None, shown=True, path=[name])
                try:
                    field_writer(out, item)
                except WRITE_ERRORS as exc:
                    raise field_error(name, exc, item, shown) from exc

        self.compiled[schema["name"]] = write  # before the fields: a record may refer to itself
        for field in schema["fields"]:
            field_type = field["type"]
            if field_type in ("float", "double"):
                raise NotCompiled("float and double fields are converted by float() first")
            required = "default" not in field and "null" not in field_type
            fields.append((field["name"], field.get("default"), required, self.node(field_type),
                           not field.get("pii", False)))
        return write

    def enum(self, schema: dict[str, Any]) -> Writer:
        index = {symbol: n for n, symbol in enumerate(schema["symbols"])}
        name = schema["name"]

        def write(out: bytearray, value: Any) -> None:
            try:
                _long_value(out, index[value])
            except (KeyError, TypeError):
                raise ValueError(f"{value!r} is not a symbol of {name}") from None
        self.compiled[name] = write
        return write

    def array(self, schema: dict[str, Any]) -> Writer:
        items = self.node(schema["items"])

        def write(out: bytearray, value: Any) -> None:
            if isinstance(value, (str, bytes, Mapping)):
                raise TypeError(f"{type(value).__name__} is not an array")
            if len(value):
                _long_value(out, len(value))
                for n, item in enumerate(value):
                    try:
                        items(out, item)
                    except WRITE_ERRORS as exc:
                        raise field_error(f"[{n}]", exc, item, True) from exc
            out.append(0)
        return write

    def map(self, schema: dict[str, Any]) -> Writer:
        values = self.node(schema["values"])
        keys: dict[str, bytes] = {}  # a map's keys are mostly a few names (a provenance map's: field names)

        def write(out: bytearray, value: Any) -> None:
            if len(value):
                _long_value(out, len(value))
                for key, item in value.items():
                    data = keys.get(key) if type(key) is str else None
                    if data is None:
                        encoded = bytearray()
                        _write_string(encoded, key)
                        data = bytes(encoded)
                        if type(key) is str:
                            if len(keys) >= KEPT:
                                keys.clear()
                            keys[key] = data
                    out += data
                    try:
                        values(out, item)
                    except WRITE_ERRORS as exc:
                        raise field_error(f"[{key}]", exc, item, True) from exc
            out.append(0)
        return write


def compile_writer(parsed: Mapping[str, Any]) -> Writer | None:
    """The writer of a fastavro-parsed schema (:func:`fastavro.parse_schema`), or ``None`` where the schema holds
    a construct not compiled here (fastavro writes those)."""
    named = parsed.get("__named_schemas", {}) if isinstance(parsed, Mapping) else {}
    try:
        return _Compiler(named).node(dict(parsed) if isinstance(parsed, Mapping) else parsed)
    except NotCompiled:
        return None


def write(writer: Writer, value: Any) -> bytes:
    """The Avro binary body of ``value``."""
    out = bytearray()
    writer(out, value)
    return bytes(out)
