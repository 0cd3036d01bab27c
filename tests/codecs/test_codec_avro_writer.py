"""The compiled Avro writer writes the very bytes fastavro writes, for every schema in ``schemas/``.

Records are generated from each schema (seeded): nulls and values in every ``["null", X]`` union, fields left
out so their defaults apply, decimals at and below the schema's scale and negative, aware and naive-free UTC
times before and after the epoch, dates, non-ASCII and long strings (multi-byte lengths), large and negative
longs, empty and filled arrays and maps. Values that do not fit are refused by both.
"""

from __future__ import annotations

import datetime as dt
import io
import random
from decimal import Decimal
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from support.avro_values import AvroValues

from streams.codecs.avro.schemas import load_schemas
from streams.codecs.avro.single_object import SchemaStore
from streams.codecs.avro.writer import FieldValueError, compile_writer, write
from streams.codecs.exceptions import SchemaMismatch

SCHEMAS = load_schemas()
STORE = SchemaStore(SCHEMAS)
NAMES = sorted(SCHEMAS.names())


def _fastavro(parsed: dict[str, Any], value: Any) -> bytes:
    body = io.BytesIO()
    schemaless_writer(body, parsed, value)
    return body.getvalue()


@pytest.mark.parametrize("name", NAMES)
def test_same_bytes_as_fastavro_for_every_schema(name: str) -> None:
    parsed = SCHEMAS.parsed(name)
    writer = compile_writer(parsed)
    assert writer is not None, f"{name} is not compiled: its records would keep going through fastavro"
    values = AvroValues(parsed.get("__named_schemas", {}), random.Random(name))
    written = 0
    for _ in range(200):
        value = values.of(dict(parsed))
        try:
            expected = _fastavro(parsed, value)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
            # fastavro refuses it (a bytes field left out whose JSON default is text): so must the writer
            with pytest.raises((ValueError, TypeError, KeyError, AttributeError, OverflowError)):
                write(writer, value)
            continue
        assert write(writer, value) == expected, value
        written += 1
    assert written >= 100


def test_schema_store_encodes_through_the_compiled_writer_byte_for_byte() -> None:
    value = {"customer_number": "C-000123", "name": "张伟", "credit_limit": Decimal("-12.5"),
             "updated_at": dt.datetime(2024, 3, 10, 6, 30, 0, 123456, tzinfo=dt.UTC),
             "billing_address": {"line1": "1 Road", "city": "上海", "country": "CN"},
             "provenance": {"name": {"system": "crm", "commit_time": dt.datetime(1969, 12, 31, tzinfo=dt.UTC)}}}
    stored = STORE.current("Customer")
    assert STORE.encode("Customer", value) == b"\xc3\x01" + stored.fingerprint + _fastavro(stored.parsed, value)


@pytest.mark.parametrize(("field", "value"), [
    ("name", None),  # a string that is not nullable
    ("name", 7),
    ("email", 7),  # the union's string branch takes only a str
    ("email", b"bytes"),
    ("crm_customer_id", "7"),
    ("crm_customer_id", 1.5),
    ("crm_customer_id", 2 ** 63),
    ("credit_limit", Decimal("1.005")),  # more places than the scale
    ("credit_limit", Decimal("1" * 15)),  # more digits than the precision
    ("credit_limit", 1.5),
    ("updated_at", "2024-03-10T06:30:00Z"),
    ("contacts", [{"first_name": "only"}]),  # last_name has no default
    ("billing_address", {"kind": "postal", "line1": "1", "city": "x", "country": "CN"}),
])
def test_a_value_that_does_not_fit_is_refused_by_both(field: str, value: Any) -> None:
    record = {"customer_number": "C-000123", "name": "N", field: value}
    parsed = STORE.current("Customer").parsed
    with pytest.raises((ValueError, TypeError, KeyError, AttributeError, OverflowError)):
        _fastavro(parsed, record)
    with pytest.raises(SchemaMismatch, match=r"does not fit isthmus\.canonical\.Customer"):
        STORE.encode("Customer", record)


def test_a_union_other_than_null_and_one_type_is_left_to_fastavro() -> None:
    assert compile_writer({"type": "record", "name": "U", "fields": [
        {"name": "u", "type": ["string", "long"]}]}) is None
    assert compile_writer({"type": "record", "name": "U", "fields": [
        {"name": "u", "type": {"type": "fixed", "name": "F", "size": 2}}]}) is None


def test_times_and_map_keys_written_again_are_the_same_bytes_as_fastavro() -> None:
    """The writer remembers the bytes of times and map keys it wrote (a provenance map repeats both): a time seen
    again, the same instant at another offset, a naive time, and every value after the memory filled and was
    cleared are still written as fastavro writes them."""
    parsed = STORE.current("Customer").parsed
    writer = compile_writer(parsed)
    assert writer is not None
    start = dt.datetime(2026, 3, 10, 6, 0, 4, 194000, tzinfo=dt.UTC)
    plus_two = dt.timezone(dt.timedelta(hours=2))
    times = [start, start.astimezone(plus_two), start.replace(tzinfo=None), start, start - dt.timedelta(days=20000)]
    times += [start + dt.timedelta(microseconds=n) for n in range(2 * 4096 + 3)] + times
    fields = ["name", "email", "phone", "credit_limit", "naïve 名"]
    for n, time in enumerate(times):
        value = {"customer_number": f"C-{n}", "name": "N", "updated_at": time,
                 "provenance": {field: {"system": "crm", "commit_time": times[n - i]}
                                for i, field in enumerate(fields[: 1 + n % len(fields)])}}
        assert write(writer, value) == _fastavro(parsed, value), value


def test_a_decimal_too_large_names_the_field_the_value_the_precision_and_the_fix() -> None:
    """fastavro says only "The decimal precision is bigger than allowed by schema"; the store says which field, which
    value, the field's precision and scale, and how to make it fit."""
    record = {"customer_number": "C-0010000001021", "name": "N", "credit_limit": Decimal("1234567890123.4567")}
    with pytest.raises(SchemaMismatch) as caught:
        STORE.encode("Customer", record)
    message = str(caught.value)
    assert message.startswith("the value does not fit isthmus.canonical.Customer: field credit_limit = "
                              "1234567890123.4567: 1234567890123.4567 has 17 digits (13 before the point, 4 after), "
                              "the field is a decimal of precision 14 and scale 2: at most 14 digits, 12 before the "
                              "point; fix: round or limit the value in the mapping that fills credit_limit")
    assert "or widen the field's precision and scale in isthmus.canonical.Customer's schema" in message
    with pytest.raises(SchemaMismatch, match=r"field credit_limit = 1\.005: 1\.005 has 3 decimals, the field is a "
                                             r"decimal of precision 14 and scale 2: at most 2 decimals; fix: round"):
        STORE.encode("Customer", {**record, "credit_limit": Decimal("1.005")})


def test_a_nested_field_is_named_by_its_path_and_personal_data_is_not_shown() -> None:
    record = {"customer_number": "C-1", "name": "N",
              "billing_address": {"line1": "1 Road", "city": 7, "country": "CN"}}
    with pytest.raises(SchemaMismatch, match=r"field billing_address\.city = 7: int is not a string; fix: check"):
        STORE.encode("Customer", record)
    with pytest.raises(SchemaMismatch, match=r"field contacts\[0\]\.last_name = None: no value and no default"):
        STORE.encode("Customer", {**record, "billing_address": None, "contacts": [{"first_name": "only"}]})
    with pytest.raises(SchemaMismatch, match=r"field email = \(personal data, not shown\): int is not a string"):
        STORE.encode("Customer", {"customer_number": "C-1", "name": "N", "email": 7})


def test_a_local_time_is_written_as_fastavro_writes_it_and_one_with_an_offset_is_refused() -> None:
    """A ``local-timestamp-*`` field holds a wall-clock time (a DATETIME column's, or ``utc_to_local``'s): written
    as fastavro writes it and read back as the same naive time. A time with an offset is refused: fastavro would
    write its wall-clock time at that offset, so the same instant at two offsets would be two times, and the
    remembered bytes of the first would be written for the second."""
    parsed = parse_schema({"type": "record", "name": "Kunde", "namespace": "test", "fields": [
        {"name": "geaend", "type": ["null", {"type": "long", "logicalType": "local-timestamp-micros"}]},
        {"name": "angelegt", "type": {"type": "long", "logicalType": "local-timestamp-millis"}}]})
    writer = compile_writer(parsed)
    assert writer is not None
    repeated = dt.datetime(2026, 10, 25, 2, 30, 0, 123456)  # the repeated hour's wall-clock time: one value
    for value in ({"geaend": repeated, "angelegt": repeated}, {"geaend": None, "angelegt": dt.datetime(1969, 7, 20)}):
        data = write(writer, value)
        assert data == _fastavro(parsed, value)
        assert schemaless_reader(io.BytesIO(data), parsed, parsed)["geaend"] == value["geaend"]
    instant = dt.datetime(2026, 10, 25, 1, 30, tzinfo=dt.UTC)
    for time in (instant, instant.astimezone(dt.timezone(dt.timedelta(hours=1)))):
        with pytest.raises(FieldValueError, match="has an offset; a local-timestamp field holds a zone-less") as raised:
            write(writer, {"geaend": time, "angelegt": repeated})
        assert raised.value.field == "geaend"
