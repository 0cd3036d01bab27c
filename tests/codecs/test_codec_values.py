"""Field values decoded by their Connect schema: exact decimals, every temporal type, nulls, unknown types."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable
from decimal import Decimal

import pytest

from streams.codecs.debezium.values import decode_value
from streams.codecs.exceptions import FieldDecodeError, UnknownLogicalType

DECIMAL = "org.apache.kafka.connect.data.Decimal"


def _decimal_schema(scale: int) -> dict[str, object]:
    return {"type": "bytes", "name": DECIMAL, "parameters": {"scale": str(scale)}, "optional": True}


@pytest.mark.parametrize(
    "text,scale",
    [
        ("1234.50", 2),
        ("-0.05", 2),
        ("-1234567890123.45", 2),
        ("0.000", 3),
        ("99999999999999999999999999.999999", 6),
        ("-128", 0),
        ("127", 0),
    ],
)
def test_decimal_is_exact(decimal_b64: Callable[[Decimal, int], str], text: str, scale: int) -> None:
    value = decode_value(decimal_b64(Decimal(text), scale), _decimal_schema(scale))
    assert value == Decimal(text)
    assert value.as_tuple().exponent == -scale


def test_decimal_with_a_negative_scale_multiplies() -> None:
    encoded = base64.b64encode((-12345).to_bytes(2, "big", signed=True)).decode()
    value = decode_value(encoded, _decimal_schema(-3))
    assert value == Decimal("-12345000") and value.as_tuple().exponent == 3


def test_decimal_two_complement_edges() -> None:
    assert decode_value(base64.b64encode(b"\xff").decode(), _decimal_schema(2)) == Decimal("-0.01")
    assert decode_value(base64.b64encode(b"\x00\x80").decode(), _decimal_schema(0)) == Decimal(128)


def test_variable_scale_decimal() -> None:
    schema = {
        "type": "struct",
        "name": "io.debezium.data.VariableScaleDecimal",
        "fields": [{"field": "scale", "type": "int32"}, {"field": "value", "type": "bytes"}],
    }
    raw = {"scale": 4, "value": base64.b64encode((-31415).to_bytes(2, "big", signed=True)).decode()}
    assert decode_value(raw, schema) == Decimal("-3.1415")


def test_decimal_without_scale_or_with_bad_base64_is_refused() -> None:
    with pytest.raises(FieldDecodeError, match="without a scale"):
        decode_value("AA==", {"type": "bytes", "name": DECIMAL, "parameters": {}}, "orders.total")
    with pytest.raises(FieldDecodeError, match="invalid base64") as caught:
        decode_value("not base64!", _decimal_schema(2), "orders.total")
    assert caught.value.where == "orders.total"


@pytest.mark.parametrize(
    "name,kind,raw,expected",
    [
        ("io.debezium.time.Date", "int32", 19823, dt.date(2024, 4, 10)),
        ("org.apache.kafka.connect.data.Date", "int32", -1, dt.date(1969, 12, 31)),
        ("io.debezium.time.Time", "int32", 3_723_004, dt.time(1, 2, 3, 4000)),
        ("org.apache.kafka.connect.data.Time", "int32", 1000, dt.time(0, 0, 1)),
        ("io.debezium.time.MicroTime", "int64", 3_723_000_005, dt.time(1, 2, 3, 5)),
        ("io.debezium.time.NanoTime", "int64", 3_723_000_005_000, dt.time(1, 2, 3, 5)),
        ("io.debezium.time.Timestamp", "int64", 1710081000123, dt.datetime(2024, 3, 10, 14, 30, 0, 123000)),
        ("org.apache.kafka.connect.data.Timestamp", "int64", 0, dt.datetime(1970, 1, 1)),
        (
            "io.debezium.time.MicroTimestamp",
            "int64",
            1710081000123456,
            dt.datetime(2024, 3, 10, 14, 30, 0, 123456),
        ),
        (
            "io.debezium.time.NanoTimestamp",
            "int64",
            1710081000123456789,
            dt.datetime(2024, 3, 10, 14, 30, 0, 123456),
        ),
        (
            "io.debezium.time.ZonedTimestamp",
            "string",
            "2024-03-10T06:30:00.5+08:00",
            dt.datetime(2024, 3, 9, 22, 30, 0, 500000, tzinfo=dt.UTC),
        ),
        ("io.debezium.time.ZonedTime", "string", "10:15:30Z", dt.time(10, 15, 30, tzinfo=dt.UTC)),
    ],
)
def test_temporal_types(name: str, kind: str, raw: object, expected: object) -> None:
    assert decode_value(raw, {"type": kind, "name": name}) == expected


def test_zone_less_timestamps_decode_naive_and_zoned_ones_aware() -> None:
    naive = decode_value(0, {"type": "int64", "name": "io.debezium.time.MicroTimestamp"})
    aware = decode_value(
        "1970-01-01T00:00:00Z", {"type": "string", "name": "io.debezium.time.ZonedTimestamp"}
    )
    assert naive.tzinfo is None and aware.tzinfo is dt.UTC


def test_zoned_timestamp_without_offset_is_refused() -> None:
    with pytest.raises(FieldDecodeError, match="no offset"):
        decode_value("2024-03-10T06:30:00", {"type": "string", "name": "io.debezium.time.ZonedTimestamp"})


def test_null_in_optional_field_is_none_and_in_required_field_is_an_error() -> None:
    assert decode_value(None, {"type": "string", "optional": True}) is None
    assert decode_value(None, _decimal_schema(2)) is None
    with pytest.raises(FieldDecodeError, match="required") as caught:
        decode_value(None, {"type": "string", "optional": False}, "customers.name")
    assert "customers.name" in str(caught.value)


def test_null_in_required_field_with_default_takes_the_default() -> None:
    assert decode_value(None, {"type": "int32", "optional": False, "default": 1}) == 1


def test_pass_through_semantic_types_keep_their_json_value() -> None:
    enum = {"type": "string", "name": "io.debezium.data.Enum", "parameters": {"allowed": "open,paid"}}
    assert decode_value("paid", enum) == "paid"
    assert decode_value('{"a": 1}', {"type": "string", "name": "io.debezium.data.Json"}) == '{"a": 1}'


def test_unknown_logical_type_is_a_clear_error() -> None:
    with pytest.raises(UnknownLogicalType) as caught:
        decode_value(5, {"type": "int64", "name": "com.example.Furlongs"}, "stock.distance")
    message = str(caught.value)
    assert "com.example.Furlongs" in message and "stock.distance" in message
    assert "time.precision.mode" in message and "io.debezium.time.MicroTimestamp" in message


def test_struct_names_are_record_names_not_logical_types() -> None:
    schema = {"type": "struct", "name": "server.db.table.Value", "fields": [{"field": "a", "type": "int32"}]}
    assert decode_value({"a": 1}, schema) == {"a": 1}


@pytest.mark.parametrize(
    "raw,schema",
    [
        ("12", {"type": "int64"}),
        (True, {"type": "int32"}),
        (1, {"type": "boolean"}),
        ({"a": 1, "b": 2}, {"type": "struct", "fields": [{"field": "a", "type": "int32"}]}),
        (5, {"type": "uuid"}),
    ],
)
def test_values_that_do_not_fit_their_schema_are_refused(raw: object, schema: dict[str, object]) -> None:
    with pytest.raises(FieldDecodeError):
        decode_value(raw, schema, "t.c")


def test_arrays_and_maps() -> None:
    # a list, as the flows' stores give it back: a tuple there never equalled the stored list, so an array column
    # was commanded and audited as a conflict on every change (a TEXT[] of tags)
    assert decode_value([1, 2], {"type": "array", "items": {"type": "int32"}}) == [1, 2]
    assert type(decode_value([1, 2], {"type": "array", "items": {"type": "int32"}})) is list
    schema = {"type": "map", "keys": {"type": "string"}, "values": {"type": "int64"}}
    assert decode_value({"a": 1}, schema) == {"a": 1}
    assert decode_value([["a", 1]], schema) == {"a": 1}


@pytest.mark.parametrize("connect_type", ["float", "double", "float32", "float64"])
def test_floating_point_columns_decode_by_the_names_jsonconverter_writes(connect_type: str) -> None:
    # JsonConverter spells Connect's FLOAT32/FLOAT64 "float"/"double" in a record's schema (a MariaDB DOUBLE, a
    # PostgreSQL REAL): unknown to the decoder, every change of such a table was dead-lettered
    assert decode_value(2.5, {"type": connect_type}, "t.c") == 2.5
    assert decode_value(3, {"type": connect_type, "optional": True}, "t.c") == 3


@pytest.mark.parametrize("special", ["NaN", "Infinity", "-Infinity"])
def test_a_floating_point_value_that_is_not_a_number_is_refused_naming_the_column(special: str) -> None:
    with pytest.raises(FieldDecodeError) as caught:
        decode_value(special, {"type": "double"}, "after.weight")
    assert "after.weight" in str(caught.value) and special in str(caught.value)
    assert "not a number" in str(caught.value) and "fix:" in str(caught.value)
